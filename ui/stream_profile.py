"""Where a live stream's server CPU goes: per-stage CPU time of every frame, and the process total.

Each stage (``decode``, ``convert``, ``pipeline``, ``encode``) is timed with ``time.thread_time()``
around the call that does it, on the thread that runs it: that is CPU actually spent, not wall time,
so a machine busy with other work does not inflate it. (Our codecs run single-threaded, see
ui/codecs.py, so the calling thread's clock sees all of their work.) The process's whole CPU time
comes from ``os.times()``; what the stages don't account for (RTP, SRTP and ICE on the event loop,
the page's script runs and redraws, garbage collection) is the rest.

``FER_STREAM_PROFILE=/path/file.json`` makes the server write a snapshot there every second, for
bench/live_capacity.py to diff; without it the counters are kept (a few microseconds a frame) but
never written.
"""
from __future__ import annotations

import json
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

STAGES = ("decode", "convert", "pipeline", "encode")
ENV = "FER_STREAM_PROFILE"


@dataclass(frozen=True)
class Snapshot:
    """Cumulative counters since the server started."""
    wall_s: float                   # time.monotonic() when taken
    process_cpu_s: float            # user + system CPU of the whole server process
    calls: dict[str, int]           # per stage
    cpu_s: dict[str, float]         # per stage
    processed: int                  # frames the pipeline finished (all streams)
    codecs: dict[str, int]          # encoder/decoder instances created, by name (e.g. "encode:h264")


class StreamProfile:
    """Thread-safe per-stage CPU counters for every stream of this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls = dict.fromkeys(STAGES, 0)
        self._cpu = dict.fromkeys(STAGES, 0.0)
        self._processed = 0
        self._codecs: dict[str, int] = {}

    def add(self, stage: str, cpu_s: float) -> None:
        with self._lock:
            self._calls[stage] += 1
            self._cpu[stage] += cpu_s

    @contextmanager
    def stage(self, name: str):
        """Time the body's CPU on this thread as stage ``name``."""
        t0 = time.thread_time()
        try:
            yield
        finally:
            self.add(name, time.thread_time() - t0)

    def frame_processed(self) -> None:
        with self._lock:
            self._processed += 1

    def codec_created(self, name: str) -> None:
        with self._lock:
            self._codecs[name] = self._codecs.get(name, 0) + 1

    def snapshot(self) -> Snapshot:
        t = os.times()
        with self._lock:
            return Snapshot(time.monotonic(), t.user + t.system, dict(self._calls), dict(self._cpu),
                            self._processed, dict(self._codecs))


PROFILE = StreamProfile()

_writer_started = False
_writer_lock = threading.Lock()


def start_writer_from_env(every_s: float = 1.0) -> Path | None:
    """If ``FER_STREAM_PROFILE`` names a file, write ``PROFILE``'s snapshot there every ``every_s``
    (atomically: a reader never sees half a file). Once per process; returns the path or None."""
    global _writer_started
    raw = os.environ.get(ENV)
    if not raw:
        return None
    path = Path(raw)
    with _writer_lock:
        if _writer_started:
            return path
        _writer_started = True

    def run() -> None:
        tmp = path.with_suffix(path.suffix + ".tmp")
        while True:
            tmp.write_text(json.dumps(asdict(PROFILE.snapshot())))
            os.replace(tmp, path)
            time.sleep(every_s)

    threading.Thread(target=run, name="fer-stream-profile", daemon=True).start()
    return path


def read_snapshot(path: Path) -> Snapshot:
    return Snapshot(**json.loads(Path(path).read_text()))


@dataclass(frozen=True)
class CpuSplit:
    """Server CPU per processed frame (ms) between two snapshots, by stage."""
    frames: int
    seconds: float
    total_ms: float
    decode_ms: float
    convert_ms: float
    pipeline_ms: float
    encode_ms: float
    rest_ms: float
    cores: float          # process CPU seconds per wall second
    decoded_fps: float    # frames decoded per second (all streams)
    encoded_fps: float    # frames encoded per second (all streams)


def split(a: Snapshot, b: Snapshot) -> CpuSplit:
    """The CPU spent between snapshots ``a`` and ``b``, per frame the pipeline processed."""
    frames = max(1, b.processed - a.processed)
    secs = max(1e-9, b.wall_s - a.wall_s)
    per = {s: (b.cpu_s[s] - a.cpu_s[s]) * 1e3 / frames for s in STAGES}
    total = (b.process_cpu_s - a.process_cpu_s) * 1e3 / frames
    return CpuSplit(b.processed - a.processed, round(secs, 1), round(total, 1),
                    *(round(per[s], 1) for s in STAGES), round(total - sum(per.values()), 1),
                    round((b.process_cpu_s - a.process_cpu_s) / secs, 2),
                    round((b.calls["decode"] - a.calls["decode"]) / secs, 1),
                    round((b.calls["encode"] - a.calls["encode"]) / secs, 1))
