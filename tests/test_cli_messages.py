"""What the command line says: each path once, a hint for cropped faces, documented exit codes, every
option explained with its default, and no native start-up noise unless asked for."""
from __future__ import annotations

import argparse
import subprocess
import sys

import cv2
import numpy as np

from fer.cli.main import build_parser


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os
    return subprocess.run([sys.executable, "-m", "fer", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})})


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def test_every_option_has_help_that_shows_its_default():
    for name, sub in _subparsers(build_parser()).items():
        text = sub.format_help()
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help and action.help.strip(), f"{name} {action.dest}: no help text"
            has_default = action.default not in (None, False, argparse.SUPPRESS)
            if has_default and action.option_strings:
                shown = f"(default: {action.default})"
                assert shown in " ".join(text.split()), f"{name} {action.option_strings[0]}: default not shown"
        assert "``" not in text, f"{name} --help shows raw markup"


def test_help_documents_the_exit_codes():
    out = run_cli("--help")
    assert out.returncode == 0 and "``" not in out.stdout
    for code in ("0 ", "1 ", "2 "):
        assert f"  {code}" in out.stdout.split("exit codes:")[1], out.stdout
    assert "exit codes:" in _subparsers(build_parser())["predict"].format_help()


def test_an_unreadable_file_is_named_once_and_a_faceless_image_hints_no_detect(tmp_path):
    missing = tmp_path / "x.jpg"
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((120, 120, 3), 128, np.uint8))
    out = run_cli("predict", str(missing), str(blank))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == f"{missing}: ERROR no such file", lines
    assert lines[1].startswith(f"{blank}: 0 face(s)") and "--no-detect" in lines[1], lines
    only_missing = run_cli("predict", str(missing))
    assert only_missing.returncode == 1


def test_predict_prints_no_xnnpack_line_unless_verbose(tmp_path):
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((120, 120, 3), 128, np.uint8))
    quiet = run_cli("predict", str(blank))
    loud = run_cli("predict", str(blank), env={"FER_VERBOSE": "1"})
    assert quiet.returncode == loud.returncode == 0
    assert "XNNPACK" in loud.stderr, "LiteRT no longer prints the line: the filter can go"
    assert "XNNPACK" not in quiet.stderr and quiet.stderr.strip() == "", quiet.stderr


def test_train_hides_tensorflow_start_up_noise_but_not_its_errors(tmp_path):
    """A run that stops at once (its data folder is missing) after TensorFlow has started."""
    out = run_cli("train", "--data", str(tmp_path / "nowhere"), "--val", str(tmp_path / "nowhere"),
                  "--out", str(tmp_path / "model"))
    assert out.returncode == 2, out.stderr
    assert "error:" in out.stderr and "nowhere" in out.stderr
    noise = ("absl::InitializeLog", "cudart_stub", "cuInit", "cpu_feature_guard", "XNNPACK")
    assert not [n for n in noise if n in out.stderr], out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("error:"), out.stderr


def test_the_noise_filter_passes_every_other_line_through():
    code = ("import os, sys\n"
            "from fer.native_log import quiet_native_noise\n"
            "with quiet_native_noise():\n"
            "    os.write(2, b'INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\n')\n"
            "    os.write(2, b'W0000 00:00:1 cudart_stub.cc:31] Could not find cuda drivers on your machine.\\n')\n"
            "    os.write(2, b'real warning: disk almost full\\n')\n"
            "    print('python-level error line', file=sys.stderr)\n"
            "    os.write(2, b'progress 50%\\rprogress 100%\\r')\n"
            "print('after', file=sys.stderr)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stderr == (b"real warning: disk almost full\npython-level error line\n"
                          b"progress 50%\rprogress 100%\rafter\n"), out.stderr
