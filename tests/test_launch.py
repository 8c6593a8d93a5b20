"""deploy/launch.py, the dashboard's start command: what it loads before the server answers (the
browser tests start every server through it, tests/browser/support.py)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from fer.config import REPO_ROOT

PROBE = """
import json, runpy, sys
launch = runpy.run_path("deploy/launch.py")
launch["preload"]()
import fer.classify.model
print(json.dumps({"tensorflow": "tensorflow" in sys.modules, "keras": "keras" in sys.modules,
                  "aiortc": "aiortc" in sys.modules, "streamlit_webrtc": "streamlit_webrtc" in sys.modules,
                  "cached": [k[0] for k in fer.classify.model._cache]}))
"""


def _probe(env: dict | None = None) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO_ROOT, capture_output=True, text=True,
                         timeout=120, env={**os.environ, **(env or {})})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_launcher_loads_the_default_model_and_the_libraries_but_never_tensorflow():
    r = _probe()
    assert r["aiortc"] and not r["tensorflow"] and not r["keras"], r
    assert not r["streamlit_webrtc"], "it creates Streamlit components at import: must wait for the server"
    assert any(path.endswith("multisource_blend") for path in r["cached"]), r


def test_the_launcher_starts_without_a_usable_model(tmp_path):
    """No model: the server still starts, and the page says what is wrong (tests/browser)."""
    r = _probe({"FER_MODELS_DIR": str(tmp_path)})
    assert r["cached"] == [] and not r["tensorflow"], r


def _start_and_read(*extra: str) -> tuple[str, str]:
    """Start the dashboard as a user does (no address option: Streamlit then looks up the machine's
    external address) and return its (stdout, stderr) once it has printed where it listens."""
    import signal
    import socket
    import time
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "deploy/launch.py", "--server.port", str(port), *extra], cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={k: v for k, v in os.environ.items() if k != "FER_VERBOSE"})
    out = ""
    try:
        deadline = time.monotonic() + 120
        while "Local URL" not in out and time.monotonic() < deadline and proc.poll() is None:
            out += proc.stdout.readline()
        assert "Local URL" in out, out
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        rest, err = proc.communicate(timeout=60)
    return out + rest, err


def test_the_server_starts_quietly_and_verbose_shows_the_native_notes():
    out, err = _start_and_read()
    assert "XNNPACK delegate" not in err and "Did not auto detect external IP" not in err, err
    assert "Traceback" not in err
    out, err = _start_and_read("--verbose")
    assert "Created TensorFlow Lite XNNPACK delegate" in err, err  # what the quiet start filtered
