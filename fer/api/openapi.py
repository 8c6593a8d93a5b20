"""The API's OpenAPI 3.1 description (GET /v1/openapi.json), written out: five endpoints do not need a
framework to generate it, and written here it says what each answer means."""
from __future__ import annotations

from ..classes import VIEW_NAMES
from ..faces.detectors import DETECTORS

_ERROR = {"type": "object", "required": ["error", "status"],
          "properties": {"error": {"type": "string", "description": "one line saying why"},
                         "status": {"type": "integer"}}}
_FACE = {"type": "object", "required": ["box", "label", "score", "probabilities"], "properties": {
    "box": {"type": "array", "items": {"type": "integer"}, "minItems": 4, "maxItems": 4,
            "description": "x, y, width, height in the image's pixels"},
    "label": {"type": "string", "description": "the most probable expression"},
    "score": {"type": "number", "description": "the label's probability"},
    "probabilities": {"type": "object", "additionalProperties": {"type": "number"},
                      "description": "every class of the view, summing to 1"},
    "track_id": {"type": "integer", "description": "stream only: the same person keeps the same id"}}}
_ENTRY = {"type": "object", "required": ["path", "faces"], "description": "an entry of `python -m fer predict --json`",
          "properties": {"path": {"type": "string", "description": "the name the client gave the image"},
                         "faces": {"type": "array", "items": {"$ref": "#/components/schemas/Face"}},
                         "error": {"type": "string", "description": "batch only: why this image could not be read"}}}


def _query(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


_STILL_QUERY = [
    _query("detector", {"type": "string", "enum": list(DETECTORS)}, "face detector (default: the server's)"),
    _query("classes", {"type": "string", "enum": list(VIEW_NAMES), "default": VIEW_NAMES[0]},
           "seven expressions, or five (disgust and fear left out, the rest renormalised)"),
    _query("flip", {"type": "boolean", "default": True}, "average each face with its mirror image"),
    _query("detect", {"type": "boolean", "default": True}, "false: the whole image is one face crop"),
]


def _errors(*codes: int) -> dict:
    what = {400: "not a usable image, broken multipart or a bad option", 401: "missing or wrong bearer token",
            408: "the body stalled or took too long", 413: "the body is over the size limit",
            415: "the Content-Type is not an image"}
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    return {str(c): {"description": what[c], "content": error} for c in codes}


def _multipart(many: bool) -> dict:
    files = {"type": "array", "items": {"type": "string", "format": "binary"}} if many \
        else {"type": "string", "format": "binary"}
    return {"schema": {"type": "object", "properties": {"image": files}}}


def openapi_schema() -> dict:
    raw = {"schema": {"type": "string", "format": "binary"}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "fer: facial expressions for programs", "version": "1",
                 "description": "Send images or a camera's frames, get faces with their expressions back. "
                                "See docs/api.md."},
        "components": {
            "schemas": {"Error": _ERROR, "Face": _FACE, "Entry": _ENTRY},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "only when the server was started with FER_API_TOKEN"}},
        },
        "security": [{}, {"bearer": []}],
        "paths": {
            "/v1/predict": {"post": {
                "summary": "the faces of one image",
                "parameters": _STILL_QUERY + [_query("name", {"type": "string", "default": "image"},
                                                     "raw body only: the label echoed as the entry's path")],
                "requestBody": {"required": True, "content": {
                    "image/jpeg": raw, "image/png": raw, "image/webp": raw, "multipart/form-data": _multipart(False)}},
                "responses": {"200": {"description": "the image's entry", "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Entry"}}}},
                    **_errors(400, 401, 408, 413, 415)}}},
            "/v1/predict/batch": {"post": {
                "summary": "the faces of several images, one file field each",
                "parameters": _STILL_QUERY,
                "requestBody": {"required": True, "content": {"multipart/form-data": _multipart(True)}},
                "responses": {"200": {"description": "one entry per file, in order; an unreadable one has `error`",
                                      "content": {"application/json": {"schema": {
                                          "type": "array", "items": {"$ref": "#/components/schemas/Entry"}}}}},
                              **_errors(400, 401, 408, 413, 415)}}},
            "/v1/stream": {"get": {
                "summary": "WebSocket: binary JPEG/PNG frames in, one JSON answer per frame analysed out "
                           "({frame, time_s, faces with track_id, dropped, fps, latency_ms}); a newer frame "
                           "replaces one still waiting",
                "parameters": _STILL_QUERY[:2] + [
                    _query("flip", {"type": "boolean", "default": False}, "average each face with its mirror image"),
                    _query("half_life", {"type": "number", "default": 0.15},
                           "smoothing half-life in seconds (0: off)")],
                "responses": {"101": {"description": "switching to the WebSocket protocol"}}}},
            "/v1/health": {"get": {"summary": "the server is up and its model loaded (no token needed)",
                                   "security": [{}],
                                   "responses": {"200": {"description": "status, model, detector, classes"}}}},
            "/v1/models": {"get": {"summary": "the served model and the others installed: classes, figures, licences",
                                   "responses": {"200": {"description": "{served, models: [...]}"}}}},
            "/v1/openapi.json": {"get": {"summary": "this description",
                                         "responses": {"200": {"description": "OpenAPI 3.1"}}}},
        },
    }
