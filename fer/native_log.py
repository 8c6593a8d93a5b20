"""Keep native libraries' start-up chatter off the terminal without losing anything else they print.

LiteRT's C++ core prints "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." on every run, and
TensorFlow prints CUDA probes and CPU-feature notes before its own log level applies
(TF_CPP_MIN_LOG_LEVEL can't reach them: they come before absl's logging starts). They go straight
to file descriptor 2, so the CLI routes fd 2 through a pipe and drops just those lines; everything
else (warnings, errors, tracebacks) passes through as it is written. The dashboard's server does the
same for its whole life (``install_noise_filter``), which also drops Streamlit's "Did not auto
detect external IP" note (it looks the address up on the internet, which this product never has).
``--verbose`` or ``FER_VERBOSE=1`` turns the filter off.
"""
from __future__ import annotations

import os
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: Lines known to be informational noise, printed on every start, nothing a user can act on.
NOISE = re.compile(
    rb"Created TensorFlow Lite XNNPACK delegate for CPU"
    rb"|All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb"|cudart_stub\.cc:\d+\] Could not find cuda drivers"
    rb"|cuda_platform\.cc:\d+\] failed call to cuInit"
    rb"|cuda_executor\.cc:\d+\]|cuda_dnn\.cc:\d+\]|cuda_blas\.cc:\d+\]|cuda_fft\.cc:\d+\]"
    rb"|cpu_feature_guard\.cc:\d+\]"
    rb"|^To enable the following instructions: .*rebuild TensorFlow with the appropriate compiler flags"
    rb"|oneDNN custom operations are on"
    rb"|Did not auto detect external IP"
    rb"|^Please go to https://docs\.streamlit\.io/\S+ for debugging hints")


def verbose_requested() -> bool:
    return os.environ.get("FER_VERBOSE") == "1"


_installed = False
_install_lock = threading.Lock()


def _start_filter(pattern: re.Pattern[bytes]) -> tuple[int, threading.Thread]:
    """Point fd 2 at a pipe whose reader drops the lines matching ``pattern``; returns the real stderr's
    fd (a duplicate) and the reading thread."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    sys.stderr.flush()
    real = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    pump = threading.Thread(target=_pump, args=(read_end, real, pattern), name="stderr-filter", daemon=True)
    pump.start()
    return real, pump


def install_noise_filter(pattern: re.Pattern[bytes] = NOISE) -> bool:
    """Filter fd 2 for the rest of this process (a long-running server), unless ``verbose_requested()``.
    Once per process however often it is called (app.py runs on every rerun); True when installed."""
    global _installed
    if verbose_requested():
        return False
    with _install_lock:
        if not _installed:
            _start_filter(pattern)
            _installed = True
    return True


@contextmanager
def quiet_native_noise(pattern: re.Pattern[bytes] = NOISE) -> Iterator[None]:
    """Run the block with fd 2 filtered line by line: lines matching ``pattern`` are dropped, the rest
    reach the real stderr at once. Also lowers TensorFlow's own C++ log level to warnings."""
    real, pump = _start_filter(pattern)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(real, 2)  # closes the pipe's last write end: the pump sees EOF and drains
        pump.join(timeout=5)
        os.close(real)


def _pump(read_end: int, real: int, pattern: re.Pattern[bytes]) -> None:
    pending = b""
    with os.fdopen(read_end, "rb", buffering=0) as pipe:
        while chunk := pipe.read(65536):
            pending += chunk
            # \r too: progress bars redraw a line without ending it
            *lines, pending = re.split(rb"(?<=[\n\r])", pending)
            out = b"".join(line for line in lines if not pattern.search(line))
            if out:
                os.write(real, out)
    if pending and not pattern.search(pending):
        os.write(real, pending)
