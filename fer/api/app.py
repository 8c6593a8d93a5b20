"""The Starlette application: routes, the optional bearer token, CORS when configured, JSON errors.

``create_app`` loads the model and builds the default pipeline before the first request, so every
worker process pays the start-up once and a request never waits for it. ``app_from_env`` is the
factory uvicorn imports in each worker (settings from ``FER_API_SETTINGS``).
"""
from __future__ import annotations

import hmac
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from ..classify.model import load_classifier, server_threads
from .errors import EXCEPTION_HANDLERS, error_response
from .openapi import openapi_schema
from .options import Options, Pipelines
from .routes import ApiState, health, models, predict, predict_batch
from .settings import ApiSettings, api_token
from .stream import POLICY_CLOSE, stream

#: Paths answered without the token: a balancer's health probe carries no secret.
OPEN_PATHS = ("/v1/health",)


class BearerToken:
    """ASGI middleware: every HTTP request and WebSocket handshake (except ``OPEN_PATHS``) must carry
    ``Authorization: Bearer <token>``; 401 otherwise (a WebSocket is refused before it opens)."""

    def __init__(self, app, token: str) -> None:
        self.app = app
        self._token = token.encode()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in OPEN_PATHS or self._authorised(scope):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": POLICY_CLOSE, "reason": "missing or wrong bearer token"})
            return
        response = error_response(401, "missing or wrong bearer token (send Authorization: Bearer <FER_API_TOKEN>)",
                                  headers={"WWW-Authenticate": "Bearer"})
        await response(scope, receive, send)

    def _authorised(self, scope) -> bool:
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, given = value.partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), self._token)
        return False


def create_app(settings: ApiSettings | None = None, token: str | None = None) -> Starlette:
    """The API for ``settings`` (default: loopback, the default model and detector); ``token``: the
    bearer token requests must carry (None: ``FER_API_TOKEN``, if set)."""
    settings = settings or ApiSettings()
    token = token if token is not None else api_token()
    pipelines = Pipelines(load_classifier(settings.model, server_threads()), settings.detector_settings())
    pipelines.get(Options())  # the default pipeline's detector loads now, not on the first request
    executor = ThreadPoolExecutor(max_workers=settings.threads, thread_name_prefix="fer-api")

    @asynccontextmanager
    async def lifespan(app):
        yield
        executor.shutdown(wait=False, cancel_futures=True)

    async def schema(request) -> JSONResponse:
        return JSONResponse(openapi_schema())

    middleware = []
    if settings.cors_origins:
        middleware.append(Middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                                     allow_methods=["GET", "POST"], allow_headers=["Authorization", "Content-Type"]))
    if token:
        middleware.append(Middleware(BearerToken, token=token))
    app = Starlette(routes=[
        Route("/v1/predict", predict, methods=["POST"]),
        Route("/v1/predict/batch", predict_batch, methods=["POST"]),
        Route("/v1/health", health, methods=["GET"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/v1/openapi.json", schema, methods=["GET"]),
        WebSocketRoute("/v1/stream", stream),
    ], middleware=middleware, exception_handlers=EXCEPTION_HANDLERS, lifespan=lifespan)
    app.state.api = ApiState(settings, pipelines, executor)
    return app


def app_from_env() -> Starlette:
    """uvicorn's factory in each worker process."""
    return create_app(ApiSettings.from_env())
