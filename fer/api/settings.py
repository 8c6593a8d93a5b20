"""What one API server is started with: one frozen value, passed to every worker process through the
environment (uvicorn starts workers by importing an app factory, so the settings can't be an argument)."""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field

from ..faces.detectors import DEFAULT_DETECTOR, DetectorSettings

#: The environment variable that carries the settings to each worker process.
SETTINGS_ENV = "FER_API_SETTINGS"
#: The optional bearer token every request must carry (never on the command line: ``ps`` shows that).
TOKEN_ENV = "FER_API_TOKEN"

#: Hosts that only this machine reaches.
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True)
class ApiSettings:
    """``model``: a model name in models/ or a folder (None: the registry's default model).
    ``detector``: the detector's name and sensitivity (``fer.faces.detectors.DetectorSettings`` as a dict;
    None: the registry's default). ``max_body_mb``: the largest request body (413 above it, before the
    body is read). ``max_files``: images in one batch request. ``body_idle_s``: a request body that
    sends nothing for this long is answered 408; ``body_total_s``: nor may it take longer than this
    in all. ``head_timeout_s``: a connection must finish a request's head (line and headers) within
    this. ``ws_idle_s``: a stream that sends no frame for this long is closed. ``threads``: analyses
    run at once (each in its own thread; more only queue for the same cores). ``cors_origins``:
    browser origins allowed to call the API (none: CORS off)."""
    host: str = "127.0.0.1"
    port: int = 8000
    model: str | None = None
    detector: dict | None = None
    max_body_mb: float = 10.0
    max_files: int = 32
    body_idle_s: float = 10.0
    body_total_s: float = 60.0
    head_timeout_s: float = 10.0
    ws_idle_s: float = 30.0
    threads: int = field(default_factory=lambda: max(1, min(4, os.cpu_count() or 1)))
    cors_origins: tuple[str, ...] = ()

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 2**20)

    def detector_settings(self) -> DetectorSettings:
        """The detector requests get unless they name one (the registry's default when none was set)."""
        if not self.detector:
            return DetectorSettings(name=DEFAULT_DETECTOR)
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in self.detector.items()}
        return DetectorSettings(**values)

    @property
    def loopback(self) -> bool:
        return self.host in LOOPBACK_HOSTS

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> "ApiSettings":
        raw = os.environ.get(SETTINGS_ENV)
        if not raw:
            return cls()
        values = json.loads(raw)
        values["cors_origins"] = tuple(values.get("cors_origins", ()))
        return cls(**values)


def api_token() -> str | None:
    """The bearer token requests must carry, or None when the server is open (``FER_API_TOKEN``)."""
    return os.environ.get(TOKEN_ENV) or None
