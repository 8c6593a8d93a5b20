"""uvicorn, started for the API: the settings handed to every worker through the environment, and a
deadline on each request's head.

uvicorn closes a keep-alive connection left idle after a response, but a connection that opens and
then sends its request line and headers slowly, or never finishes them, is kept forever: enough of
them exhaust the process's sockets (slowloris). ``HeadDeadlineProtocol`` closes a connection whose
request head is not complete ``head_timeout_s`` after its first byte (or after it opened). Bodies
have their own limits (``fer.api.body``), WebSocket streams theirs (``fer.api.stream``).
"""
from __future__ import annotations

import asyncio
import os
import sys
from functools import lru_cache

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from .settings import SETTINGS_ENV, ApiSettings, api_token

#: uvicorn's import string for the app factory each worker calls.
APP_FACTORY = "fer.api.app:app_from_env"


@lru_cache(maxsize=1)
def _head_timeout_s() -> float:
    return ApiSettings.from_env().head_timeout_s


class HeadDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request head takes over ``head_timeout_s``."""

    _head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._watch_head()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_watching()
        super().connection_lost(exc)

    def _watch_head(self) -> None:
        """Waiting for a request head (h11's IDLE): start the clock if it isn't running; else stop it."""
        if self.conn.their_state is h11.IDLE:
            if self._head_deadline is None and not self.transport.is_closing():
                self._head_deadline = self.loop.call_later(_head_timeout_s(), self._head_timed_out)
        else:
            self._stop_watching()

    def _stop_watching(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_timed_out(self) -> None:
        self._head_deadline = None
        upgraded = self.transport.get_protocol() is not self
        if self.conn.their_state is h11.IDLE and not upgraded and not self.transport.is_closing():
            self.transport.close()


def host_warning(settings: ApiSettings) -> str | None:
    """What to tell the user who serves beyond this machine."""
    if settings.loopback:
        return None
    guard = "requests must carry FER_API_TOKEN" if api_token() else "no token is set (FER_API_TOKEN)"
    return (f"warning: serving on {settings.host}: anyone who can reach this machine on port {settings.port} can "
            f"send images; {guard}. Put TLS in front of it (e.g. nginx) before leaving a trusted network.")


def serve(settings: ApiSettings, workers: int = 1, log_level: str = "info") -> None:
    """Run the API until interrupted (each of ``workers`` processes loads the model once)."""
    import uvicorn
    warning = host_warning(settings)
    if warning:
        print(warning, file=sys.stderr)
    os.environ[SETTINGS_ENV] = settings.to_env()
    uvicorn.run(APP_FACTORY, factory=True, host=settings.host, port=settings.port, workers=workers,
                http=HeadDeadlineProtocol, ws_max_size=settings.max_body_bytes, log_level=log_level,
                server_header=False)
