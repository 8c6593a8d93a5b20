"""The HTTP endpoints: one image, a batch of images, health, models. Each image's analysis is the CLI's
own (``fer.offline.still.analyse_still``), so an entry here equals an entry of ``python -m fer predict --json``."""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import JSONResponse

from ..classify.model import list_models
from ..imageio import ImageError
from ..offline.still import analyse_still, error_entry
from ..pipeline import FramePipeline
from .body import Upload, read_body, read_uploads
from .errors import ApiError
from .memory import HeapTrim
from .options import RAW_QUERY, STILL_QUERY, Options, Pipelines, parse_options
from .settings import ApiSettings

#: Raw bodies taken as one image (the formats ``fer.imageio`` decodes; the bytes decide, not the label).
IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp", "image/bmp", "image/tiff", "image/gif")
MULTIPART = "multipart/form-data"


@dataclass
class ApiState:
    """What every request of one server process shares: its settings, the pipelines, and the threads
    the analyses run in (``settings.threads`` of them, so the event loop never waits on a frame)."""
    settings: ApiSettings
    pipelines: Pipelines
    executor: ThreadPoolExecutor
    trim: HeapTrim = field(default_factory=HeapTrim)

    async def run(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def pipeline(self, options: Options) -> FramePipeline:
        """The options' pipeline; built in a worker thread the first time (loading a detector takes
        tens of milliseconds the event loop must not wait)."""
        return await self.run(self.pipelines.get, options)


def api_state(request) -> ApiState:
    return request.app.state.api


def media_type(request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def analyse_upload(upload: Upload, pipeline: FramePipeline, detect: bool, trim: HeapTrim | None = None) -> dict:
    """One image as a ``predict --json`` entry; an unusable image gives the CLI's error entry. ``trim``
    hears of a large image or a failed one (``fer.api.memory``)."""
    try:
        result = analyse_still(upload.data, upload.name, pipeline, whole=not detect)
    except ImageError as e:
        if trim:
            trim.after(None)
        return error_entry(upload.name, e.reason(upload.name))
    if trim:
        trim.after(result.original_size[0] * result.original_size[1])
    return result.to_dict()


def analyse_uploads(uploads: list[Upload], pipeline: FramePipeline, detect: bool,
                    trim: HeapTrim | None = None) -> list[dict]:
    return [analyse_upload(u, pipeline, detect, trim) for u in uploads]


async def _uploads(request: Request, st: ApiState) -> list[Upload]:
    s = st.settings
    return await read_uploads(request, s.max_body_bytes, s.body_idle_s, s.body_total_s, s.max_files)


async def predict(request: Request) -> JSONResponse:
    """POST /v1/predict: one image, as the raw body (``Content-Type: image/jpeg``, ...) or the one file
    of a multipart form -> ``{"path", "faces": [...]}``; an image that can't be read -> 400."""
    st = api_state(request)
    kind = media_type(request)
    if kind == MULTIPART:
        options = parse_options(request.query_params, STILL_QUERY)
        uploads = await _uploads(request, st)
        if not uploads:
            raise ApiError(400, "the multipart body holds no file (send the image as a file field: "
                                "curl -F image=@face.jpg)")
        if len(uploads) > 1:
            raise ApiError(400, f"the multipart body holds {len(uploads)} files; send one, or use /v1/predict/batch")
        upload = uploads[0]
    elif kind in IMAGE_TYPES:
        options = parse_options(request.query_params, RAW_QUERY)
        s = st.settings
        upload = Upload(options.name, await read_body(request, s.max_body_bytes, s.body_idle_s, s.body_total_s))
    else:
        raise ApiError(415, f"Content-Type {kind or '(none)'} is not an image: send the image as the body with "
                            f"Content-Type {', '.join(IMAGE_TYPES[:3])} (or bmp, tiff, gif), or as a file of a "
                            f"{MULTIPART} body")
    entry = await st.run(analyse_upload, upload, await st.pipeline(options), options.detect, st.trim)
    if "error" in entry:
        raise ApiError(400, f"{upload.name}: {entry['error']}")
    return JSONResponse(entry)


async def predict_batch(request: Request) -> JSONResponse:
    """POST /v1/predict/batch: the files of one multipart form -> a list of entries, in order; an image
    that can't be read gets ``predict --json``'s error entry and the others are still answered."""
    st = api_state(request)
    if media_type(request) != MULTIPART:
        raise ApiError(415, f"a batch is a {MULTIPART} body with one file field per image "
                            f"(curl -F image=@a.jpg -F image=@b.jpg), not {media_type(request) or '(no Content-Type)'}")
    options = parse_options(request.query_params, STILL_QUERY)
    uploads = await _uploads(request, st)
    if not uploads:
        raise ApiError(400, "the multipart body holds no file")
    return JSONResponse(await st.run(analyse_uploads, uploads, await st.pipeline(options), options.detect, st.trim))


async def health(request: Request) -> JSONResponse:
    """GET /v1/health: the server is up and its model loaded (open even when a token is set, for balancers)."""
    st = api_state(request)
    return JSONResponse({"status": "ok", "model": st.pipelines.classifier.info.name,
                         "detector": st.pipelines.detector.name, "classes": st.pipelines.classifier.classes})


def _model_entry(info, served: str) -> dict:
    return {"name": info.name, "served": info.name == served, "classes": info.classes, "input_size": info.input_size,
            "test_accuracy": info.test_accuracy(), "figures": info.headline_figures(), "licence": info.licence}


async def models(request: Request) -> JSONResponse:
    """GET /v1/models: the served model and the others this server has, with their classes, recorded
    figures and licences (names only: no request picks a file)."""
    served = api_state(request).pipelines.classifier.info
    infos = list_models()
    if all(i.name != served.name for i in infos):
        infos.insert(0, served)
    return JSONResponse({"served": served.name, "models": [_model_entry(i, served.name) for i in infos]})


