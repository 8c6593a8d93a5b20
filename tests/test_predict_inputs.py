"""``predict`` on folders and glob patterns, streaming JSON Lines: image files only, recursively,
the left-out files counted, and the same results as naming the files one by one."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import cv2

from fer.train.compose import compose
from fer.train.data import load_gray

from fer_samples import stratified_sample


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fer", *args], capture_output=True, text=True, timeout=300)


def make_folder(root, fer_root):
    sample = stratified_sample(fer_root / "test", 1, seed=3)
    (root / "sub" / "deeper").mkdir(parents=True)
    shutil.copy(sample[0][0], root / "a.jpg")
    shutil.copy(sample[1][0], root / "sub" / "b.JPG")
    happy = [p for p, c in stratified_sample(fer_root / "test", 2, seed=1) if c == "happy"][0]  # as in test_cli
    frame, _ = compose([load_gray(happy, 48)], 640, 480, face_px=160)
    cv2.imwrite(str(root / "sub" / "deeper" / "frame.png"), frame)
    (root / "notes.txt").write_text("not an image")
    (root / "sub" / "data.csv").write_text("a,b\n")
    return sorted(str(p) for p in root.rglob("*") if p.suffix.lower() in (".jpg", ".png"))


def test_predict_on_a_folder_streams_one_json_line_per_image_and_counts_the_rest(tmp_path, fer_root):
    images = make_folder(tmp_path, fer_root)
    r = run_cli("predict", str(tmp_path), "--jsonl")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert sorted(x["path"] for x in lines) == images
    assert all("error" not in x for x in lines)
    (framed,) = [x for x in lines if x["path"].endswith("frame.png")]
    assert len(framed["faces"]) == 1
    assert "skipped 2 file(s) that are not images" in r.stderr
    # the same as naming each file
    one_by_one = json.loads(run_cli("predict", *images, "--json").stdout)
    assert sorted(lines, key=lambda x: x["path"]) == sorted(one_by_one, key=lambda x: x["path"])


def test_predict_expands_a_recursive_glob_and_reports_a_pattern_matching_nothing(tmp_path, fer_root):
    images = make_folder(tmp_path, fer_root)
    r = run_cli("predict", str(tmp_path / "**" / "*.png"), str(tmp_path / "*.gif"), "--jsonl")
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert [x["path"] for x in lines] == [p for p in images if p.endswith(".png")] + [str(tmp_path / "*.gif")]
    assert "no such file" in lines[-1]["error"]
    assert r.returncode == 0  # one input of two failed


def test_a_non_image_named_on_the_command_line_is_an_error_entry_not_a_crash(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    r = run_cli("predict", str(bad), "--jsonl")
    assert r.returncode == 1
    (line,) = [json.loads(x) for x in r.stdout.splitlines()]
    assert "not an image file" in line["error"] and "Traceback" not in r.stderr


def test_a_reader_that_stops_early_ends_predict_quietly(tmp_path, fer_root):
    """`predict --jsonl FOLDER | head -1`: the first line arrives whole, then no traceback. The
    output (a few hundred lines) is larger than a pipe holds, so predict can't finish before the close."""
    for p, c in stratified_sample(fer_root / "test", 60, seed=8):
        shutil.copy(p, tmp_path / f"{c}_{p.name}")
    proc = subprocess.Popen([sys.executable, "-m", "fer", "predict", str(tmp_path), "--jsonl", "--no-detect"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = proc.stdout.readline()
    proc.stdout.close()  # the reader goes away with hundreds of images still to print
    err = proc.stderr.read()
    assert proc.wait(timeout=300) == 141, err
    assert json.loads(first)["faces"] and "Traceback" not in err and "BrokenPipe" not in err
