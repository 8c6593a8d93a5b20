"""The ``serve`` command: its options, and the few lines that start ``fer.api.server``."""
from __future__ import annotations

import argparse
from dataclasses import asdict

from ..api.settings import ApiSettings


def add_serve_command(sub, add_detector_options, positive_int) -> None:
    """``python -m fer serve``; the detector options are the CLI's own (one definition for every command)."""
    d = ApiSettings()
    se = sub.add_parser("serve", help="an HTTP API for programs: images and camera streams in, faces out (docs/api.md)")
    se.add_argument("--host", default=d.host, help="address to listen on (beyond 127.0.0.1: a warning, and set "
                    "FER_API_TOKEN)")
    se.add_argument("--port", type=int, default=d.port, help="port to listen on")
    se.add_argument("--model", help="a model name in models/ or a model folder (default: the shipped model)")
    se.add_argument("--workers", type=positive_int, default=1, help="server processes, each loading the model once")
    se.add_argument("--threads", type=positive_int, default=d.threads, help="analyses run at once in each process")
    se.add_argument("--max-body-mb", type=float, default=d.max_body_mb, help="largest request body (413 above it)")
    se.add_argument("--max-files", type=positive_int, default=d.max_files, help="images in one batch request")
    se.add_argument("--stall-timeout", type=float, default=d.body_idle_s, metavar="SECONDS",
                    help="a request's head must be complete within this, and its body may pause no longer (408); "
                    "a body may take 60 s in all")
    se.add_argument("--stream-idle", type=float, default=d.ws_idle_s, metavar="SECONDS",
                    help="a WebSocket stream that sends no frame for this long is closed")
    se.add_argument("--cors-origin", action="append", metavar="ORIGIN",
                    help="a browser origin allowed to call the API, e.g. https://app.example (repeat; none: CORS off)")
    add_detector_options(se)
    se.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"],
                    help="uvicorn's log level (info: one line per request)")
    se.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    from ..classify.model import resolve_model, server_threads
    from .commands import detector_settings
    resolve_model(args.model)  # a model that can't be found fails here, with the CLI's message, not in a worker
    server_threads()  # and so does a bad FER_LITERT_THREADS
    settings = ApiSettings(host=args.host, port=args.port, model=args.model, detector=asdict(detector_settings(args)),
                           max_body_mb=args.max_body_mb, max_files=args.max_files, threads=args.threads,
                           body_idle_s=args.stall_timeout, head_timeout_s=args.stall_timeout,
                           ws_idle_s=args.stream_idle,
                           cors_origins=tuple(args.cors_origin or ()))
    from ..api.server import serve
    serve(settings, workers=args.workers, log_level=args.log_level)
    return 0
