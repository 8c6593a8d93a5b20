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
