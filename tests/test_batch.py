"""``python -m fer batch``: the local engine gives predict's results and the video path's, skips on a
rerun what the output holds; the Ray engine on a real two-node cluster (loopback, started here)
gives exactly the same table; a cluster address with nothing behind it fails in seconds."""
from __future__ import annotations

import csv
import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fer.offline.batch.output import part_files, read_results
from fer.config import CLASSES
from fer.stream.tracking import DEFAULT_CONFIRM_HITS

from fer_samples import stratified_sample
from video_clips import one_face_clip

HERE = Path(__file__).parent
SORT = [("path", "ascending"), ("frame", "ascending"), ("face_id", "ascending")]


def run_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fer", *args], capture_output=True, text=True, timeout=timeout)


def report_of(r: subprocess.CompletedProcess) -> dict:
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, fer_root):
    """Real faces: 14 FER2013 test photos in two folders, a one-face clip, a broken video, a text file."""
    root = tmp_path_factory.mktemp("inputs")
    (root / "photos" / "more").mkdir(parents=True)
    for i, (p, _) in enumerate(stratified_sample(fer_root / "test", 2, seed=5)):
        shutil.copy(p, root / "photos" / ("more" if i % 2 else "") / p.name)
    one_face_clip(fer_root, root / "clip.mp4", seconds=2.0)
    (root / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 but nothing after")
    (root / "readme.txt").write_text("not an input")
    return root


@pytest.fixture(scope="module")
def local_out(inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "results"
    r = run_cli("batch", str(inputs), "--out", str(out), "--no-progress")
    assert r.returncode == 0, r.stderr
    return out, r


def test_local_batch_holds_predicts_faces_and_the_video_paths_rows(inputs, local_out):
    out, r = local_out
    rep = report_of(r)
    assert (rep["engine"], rep["workers"], rep["files"]) == ("local", 1, 16)
    assert "skipped 1 file(s) that are not images or videos" in r.stderr
    t = read_results(out)
    rows = t.to_pylist()
    assert {x["path"] for x in rows} == {str(p) for p in inputs.rglob("*") if p.suffix in (".jpg", ".mp4")}
    photos = sorted(str(p) for p in (inputs / "photos").rglob("*.jpg"))
    pred = {x["path"]: x["faces"] for x in json.loads(run_cli("predict", *photos, "--json").stdout)}
    for path in photos:
        mine = sorted((x for x in rows if x["path"] == path and x["face_id"] is not None), key=lambda x: x["face_id"])
        assert [[x[k] for k in "xywh"] for x in mine] == [f["box"] for f in pred[path]]
        assert [x["label"] for x in mine] == [f["label"] for f in pred[path]]
        for x, f in zip(mine, pred[path]):
            assert all(abs(x[c] - v) < 1e-6 for c, v in f["probabilities"].items())
    video = [x for x in rows if x["path"] == str(inputs / "clip.mp4")]
    # A row per frame: the face's from the frame that confirms its track (fer.stream.tracking), an empty
    # one (face_id None) before.
    assert [x["frame"] for x in video] == list(range(60))
    assert [x["face_id"] for x in video] == [None] * (DEFAULT_CONFIRM_HITS - 1) + [1] * (61 - DEFAULT_CONFIRM_HITS)
    (broken,) = [x for x in rows if x["path"] == str(inputs / "broken.mp4")]
    assert "not a playable video" in broken["error"] and broken["face_id"] is None


def test_a_rerun_skips_the_files_already_in_the_output(inputs, local_out):
    out, _ = local_out
    before = read_results(out).num_rows
    r = run_cli("batch", str(inputs), "--out", str(out), "--no-progress")
    assert r.returncode == 0, r.stderr
    rep = report_of(r)
    assert (rep["files"], rep["skipped_done"], rep["rows"]) == (0, 16, 0)
    assert read_results(out).num_rows == before


def test_ray_on_a_two_node_loopback_cluster_gives_the_local_engines_results(inputs, local_out, tmp_path):
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("needs unshare and ip (util-linux, iproute2) for a loopback-only network namespace")
    out = tmp_path / "ray_results"
    cmd = ["unshare", "--net", sys.executable, str(HERE / "ray_cluster.py"), "--",
           sys.executable, "-m", "fer", "batch", str(inputs), "--out", str(out), "--engine", "ray",
           "--ray-address", "{address}", "--workers", "2", "--no-progress"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if r.returncode != 0 and "unshare failed" in r.stderr:
        pytest.skip(f"no network namespace here (needs root): {r.stderr.strip()[-200:]}")
    assert r.returncode == 0, r.stderr[-4000:]
    rep = report_of(r)
    assert (rep["engine"], rep["workers"], rep["nodes"], rep["files"]) == ("ray", 2, 2, 16)
    assert rep["address"].startswith("127.0.0.1:")
    ray_t = read_results(out).sort_by(SORT)
    local_t = read_results(local_out[0]).sort_by(SORT)
    assert ray_t.schema.equals(local_t.schema)
    assert ray_t.to_pylist() == local_t.to_pylist()


def test_a_ray_address_with_nothing_behind_it_fails_clearly_and_quickly(inputs, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free: nothing listens once closed
    t0 = time.monotonic()
    r = run_cli("batch", str(inputs / "photos"), "--out", str(tmp_path / "o"), "--engine", "ray",
                "--ray-address", f"127.0.0.1:{port}", timeout=120)
    assert r.returncode == 2
    assert f"no Ray cluster answers at 127.0.0.1:{port} (connection refused)" in r.stderr
    assert "Traceback" not in r.stderr
    assert time.monotonic() - t0 < 60


def test_local_batch_with_blazeface_gives_predicts_and_videos_results(inputs, two_face_clip, tmp_path):
    """The detector choice reaches FileAnalyser: photos equal ``predict --detector blazeface``, the real
    two-person clip equals ``video --detector blazeface`` (the single-process paths)."""
    src = tmp_path / "in"
    shutil.copytree(inputs / "photos", src / "photos")
    shutil.copy(two_face_clip, src / two_face_clip.name)
    out = tmp_path / "results"
    r = run_cli("batch", str(src), "--out", str(out), "--detector", "blazeface", "--no-progress")
    assert r.returncode == 0, r.stderr
    rows = read_results(out).sort_by(SORT).to_pylist()
    photos = sorted(str(p) for p in (src / "photos").rglob("*.jpg"))
    pred = {x["path"]: x["faces"] for x in
            json.loads(run_cli("predict", *photos, "--json", "--detector", "blazeface").stdout)}
    for path in photos:
        mine = [x for x in rows if x["path"] == path and x["face_id"] is not None]
        assert [[x[k] for k in "xywh"] for x in mine] == [f["box"] for f in pred[path]]
        assert [x["label"] for x in mine] == [f["label"] for f in pred[path]]
        for x, f in zip(mine, pred[path]):
            assert all(abs(x[c] - v) < 1e-6 for c, v in f["probabilities"].items())
    clip = str(src / two_face_clip.name)
    csv_out = tmp_path / "video.csv"
    v = run_cli("video", clip, "--csv", str(csv_out), "--detector", "blazeface", "--no-progress")
    assert v.returncode == 0, v.stderr
    with open(csv_out, newline="") as fh:
        want = list(csv.DictReader(fh))
    got = [x for x in rows if x["path"] == clip and x["face_id"] is not None]
    # Two faces in each of 56 frames from the frame that confirms their tracks (fer.stream.tracking).
    assert len(got) == len(want) == 2 * (57 - DEFAULT_CONFIRM_HITS)
    want.sort(key=lambda x: (int(x["frame"]), int(x["face_id"])))
    for g, w in zip(got, want):
        assert (g["frame"], g["face_id"], g["label"]) == (int(w["frame"]), int(w["face_id"]), w["label"])
        assert [g[k] for k in "xywh"] == [int(w[k]) for k in "xywh"]
        # The CSV keeps 4 decimals; int8 outputs are multiples of 1/256, so a half-way case rounds by 5e-5.
        assert all(abs(g[c] - float(w[c])) <= 5e-5 + 1e-9 for c in CLASSES)


# --- Interruption: Ctrl-C and a kill lose nothing already written, and a rerun does the rest once.

INTERRUPT_PHOTOS = 120  # per class (disgust has fewer): 775 real FER2013 test photos, several seconds of work
INTERRUPT_PART = 32    # files per part, so parts are whole long before the run would end


@pytest.fixture(scope="module")
def many_photos(tmp_path_factory, fer_root) -> Path:
    root = tmp_path_factory.mktemp("many")
    for p, c in stratified_sample(fer_root / "test", INTERRUPT_PHOTOS, seed=11):
        shutil.copy(p, root / f"{c}-{p.name}")
    return root


def uninterrupted_results(src: Path, out: Path, *options: str):
    """``src`` in one uninterrupted local run: what an interrupted run plus its rerun must equal."""
    r = run_cli("batch", str(src), "--out", str(out), "--no-progress", *options)
    assert r.returncode == 0, r.stderr
    return read_results(out).sort_by(SORT)


@pytest.fixture(scope="module")
def many_reference(many_photos, tmp_path_factory):
    return uninterrupted_results(many_photos, tmp_path_factory.mktemp("ref") / "results")


def start_batch_and_wait_for_a_part(cmd: list[str], out: Path) -> subprocess.Popen:
    """Start ``cmd`` (a ``batch`` writing into ``out``) and return once its first whole part file is in place."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not (out.is_dir() and part_files(out)):
        if proc.poll() is not None:
            _, err = proc.communicate()
            if "unshare failed" in err:
                pytest.skip(f"no network namespace here (needs root): {err.strip()[-200:]}")
            pytest.fail(f"batch ended before its first part was written: {err[-3000:]}")
        assert time.monotonic() < deadline, "no part file within 300 s"
        time.sleep(0.01)
    return proc


def start_and_signal_after_first_part(src: Path, out: Path, sig: int) -> subprocess.CompletedProcess:
    """Start ``batch`` on ``src``; once its first part file is in place, send ``sig``."""
    cmd = [sys.executable, "-m", "fer", "batch", str(src), "--out", str(out), "--part-files",
           str(INTERRUPT_PART), "--no-progress"]
    proc = start_batch_and_wait_for_a_part(cmd, out)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)


def parts_by_path(out: Path) -> dict[str, list[str]]:
    """Each input path -> the whole part files holding its rows (checks each part reads whole)."""
    import pyarrow.parquet as pq
    from fer.offline.batch.rows import result_schema
    holders: dict[str, list[str]] = {}
    for part in part_files(out):
        t = pq.read_table(part)  # raises on a torn or footerless file
        assert t.schema.equals(result_schema(CLASSES)), part
        for path in set(t.column("path").to_pylist()):
            holders.setdefault(path, []).append(part.name)
    return holders


def assert_rerun_completes_each_file_once(src: Path, out: Path, saved: int, reference,
                                          *options: str) -> subprocess.CompletedProcess:
    r = run_cli("batch", str(src), "--out", str(out), "--part-files", str(INTERRUPT_PART), "--no-progress", *options)
    assert r.returncode == 0, r.stderr
    rep = report_of(r)
    total = sum(1 for _ in src.iterdir())
    assert (rep["skipped_done"], rep["files"]) == (saved, total - saved)
    holders = parts_by_path(out)
    assert set(holders) == {str(p) for p in src.iterdir()}
    assert all(len(h) == 1 for h in holders.values()), [p for p, h in holders.items() if len(h) > 1]
    assert read_results(out).sort_by(SORT).to_pylist() == reference.to_pylist()
    return r


def test_ctrl_c_saves_every_batch_done_and_a_rerun_does_the_rest_once(many_photos, many_reference, tmp_path):
    out = tmp_path / "results"
    r = start_and_signal_after_first_part(many_photos, out, signal.SIGINT)
    assert r.returncode == 130, r.stderr
    assert "Traceback" not in r.stderr
    rep = report_of(r)
    total = sum(1 for _ in many_photos.iterdir())
    assert rep["interrupted"] and 0 < rep["files"] < total
    assert f"interrupted: {rep['files']} file(s) ({rep['rows']} rows) saved in {out}" in r.stderr
    assert rep["remaining"] == total - rep["files"]
    assert not list(out.glob("_writing-*")), "the open part is closed and renamed on Ctrl-C"
    holders = parts_by_path(out)
    assert len(holders) == rep["files"] and read_results(out).num_rows == rep["rows"]
    assert_rerun_completes_each_file_once(many_photos, out, rep["files"], many_reference)


def test_a_killed_batch_leaves_only_whole_parts_and_a_rerun_does_the_rest_once(many_photos, many_reference,
                                                                               tmp_path):
    out = tmp_path / "results"
    r = start_and_signal_after_first_part(many_photos, out, signal.SIGKILL)
    assert r.returncode == -signal.SIGKILL
    saved = len(parts_by_path(out))  # every plain-named part reads whole
    assert saved >= INTERRUPT_PART
    read_results(out)  # the open part, under its _writing- name, is not mixed in
    left = [p.name[len("_writing-"):] for p in out.glob("_writing-*")]
    r = assert_rerun_completes_each_file_once(many_photos, out, saved, many_reference)
    assert not list(out.glob("_writing-*"))
    for name in left:  # killed mid-part: set aside (or, if it was already whole, renamed into place)
        assert f"set aside unfinished part {name}" in r.stderr or (out / name).is_file()


def test_file_uris_are_listed_and_read_through_pyarrow_and_give_the_paths_results(inputs, local_out, tmp_path):
    """The object-storage route (pyarrow.fs) exercised on file:// URIs: a folder URI gives the same
    rows as the folder's path, named by URI; a rerun skips them; a URI naming nothing, or one
    pyarrow can't use, gets an error row."""
    from urllib.parse import unquote
    out = tmp_path / "results"
    missing, bad = (inputs / "gone.jpg").as_uri(), "file://somehost/x.jpg"
    r = run_cli("batch", inputs.as_uri() + "/", missing, bad, "--out", str(out), "--no-progress")
    assert r.returncode == 0, r.stderr
    assert report_of(r)["files"] == 18 and "skipped 1 file(s) that are not images or videos" in r.stderr
    rows = read_results(out).to_pylist()
    errors = {x["path"]: x["error"] for x in rows if x["path"] in (missing, bad)}
    assert errors == {missing: f"{missing}: no such file",
                      bad: f"{bad}: not a usable URI (unsupported hostname in non-Windows local URI: '{bad}')"}
    assert all(x["path"].startswith("file:///") for x in rows if x["path"] != bad)
    as_path = lambda uri: unquote(uri.removeprefix("file://"))  # noqa: E731
    got = [dict(x, path=as_path(x["path"]), error=x["error"] and x["error"].replace(x["path"], as_path(x["path"])))
           for x in rows if x["path"] not in errors]
    key = lambda x: (x["path"], x["frame"] or 0, x["face_id"] or 0)  # noqa: E731
    assert sorted(got, key=key) == sorted(read_results(local_out[0]).to_pylist(), key=key)
    again = run_cli("batch", inputs.as_uri(), "--out", str(out), "--no-progress")
    assert (report_of(again)["files"], report_of(again)["skipped_done"]) == (0, 16)


def test_a_uri_has_one_spelling_so_duplicates_and_reruns_match(tmp_path):
    from fer.offline.batch.sources import canonical, expand_uri, read_uri
    assert canonical("FILE:///data/a b/c%20d.jpg") == "file:///data/a%20b/c%20d.jpg"
    assert canonical("s3://bucket/pre fix/x.jpg?region=eu-west-1") == "s3://bucket/pre%20fix/x.jpg?region=eu-west-1"
    (tmp_path / "a b").mkdir()
    (tmp_path / "a b" / "x y.jpg").write_bytes(b"bytes")
    (listed,) = expand_uri(tmp_path.as_uri(), (".jpg",))
    assert listed == canonical((tmp_path / "a b" / "x y.jpg").as_uri()) and "%20" in listed
    assert read_uri(listed) == b"bytes"


def test_a_read_error_reaches_the_row_when_the_batch_is_arrow_as_ray_hands_it(tmp_path):
    # Ray's map_batches(batch_format="pyarrow") passes a pa.Table, on which `"col" in table` is False.
    import pyarrow as pa
    from fer.offline.batch.analyser import FileAnalyser, read_batch
    missing = (tmp_path / "gone.jpg").as_uri()
    (row,) = FileAnalyser()(pa.table(read_batch([missing]))).to_pylist()
    assert row["error"] == f"{missing}: no such file" and row["face_id"] is None
    # The Ray engine hands the actors paths alone: they read the files themselves.
    (row,) = FileAnalyser()(pa.table({"path": [missing]})).to_pylist()
    assert row["error"] == f"{missing}: no such file" and row["face_id"] is None


def test_glob_patterns_in_uris_match_like_local_globs(inputs):
    """``*`` within a folder, ``**`` at any depth, ``[...]``, a pattern matching nothing passed on."""
    import glob
    from urllib.parse import unquote
    from fer.offline.batch.sources import expand_uri
    as_path = lambda uri: unquote(uri.removeprefix("file://"))  # noqa: E731
    base = inputs.as_uri()
    for pattern in ("photos/*.jpg", "photos/**/*.jpg", "**/*.mp4", "photos/[m]*/*.jpg", "*"):
        want = sorted(p for p in glob.glob(str(inputs / pattern), recursive=True) if Path(p).is_file()
                      and p.endswith((".jpg", ".mp4")))
        got = [as_path(u) for u in expand_uri(f"{base}/{pattern}", (".jpg", ".mp4"))]
        assert got == want and got, pattern
    assert list(expand_uri(f"{base}/nothing/*.jpg", (".jpg",))) == [f"{base}/nothing/*.jpg"]
    assert list(expand_uri(f"{base}/*.png", (".png",))) == [f"{base}/*.png"]
    # ... spelt as given, a query kept at the end (not put between the folder and the pattern)
    assert list(expand_uri(f"{base}/nothing/*.png?x=1", (".png",))) == [f"{base}/nothing/*.png?x=1"]


# --- Interruption of the Ray engine: Ctrl-C keeps what Ray's writer finished; a killed actor is replaced.

RAY_FRAMES = 64  # 640x480 photos of one real face: 4 blocks of 16 for one actor, a second or more each
#: The Ray runs that are interrupted use Haar: at 60-100 ms a photo a block takes long enough for
#: the test to find the actor and stop or kill it mid-run (BlazeFace's whole run can end first).
RAY_SLOW = ("--detector", "haar")


def in_loopback_namespace(cmd: list[str]) -> list[str]:
    """``cmd`` in a fresh network namespace with only lo up, so the Ray it starts binds 127.0.0.1."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("needs unshare and ip (util-linux, iproute2) for a loopback-only network namespace")
    return ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *cmd]


@pytest.fixture(scope="module")
def ray_frames(tmp_path_factory, fer_root) -> Path:
    import cv2
    from fer.train.compose import compose
    from fer.train.data import load_gray
    root = tmp_path_factory.mktemp("frames")
    for i, (p, _) in enumerate(stratified_sample(fer_root / "test", RAY_FRAMES // 7 + 1, seed=17)[:RAY_FRAMES]):
        frame, _ = compose([load_gray(p, 48)], 640, 480, face_px=160, seed=i)
        cv2.imwrite(str(root / f"frame_{i:03d}.jpg"), frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return root


@pytest.fixture(scope="module")
def ray_frames_reference(ray_frames, tmp_path_factory):
    return uninterrupted_results(ray_frames, tmp_path_factory.mktemp("frames_ref") / "results", *RAY_SLOW)


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Ray's raylet and its workers, for a driver that started Ray)."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat[stat.rfind(")") + 2:].split()[1]), []).append(int(d.name))
    found, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            found.append(c)
            todo.append(c)
    return found


def start_ray_batch_and_wait_for_a_part(src: Path, out: Path) -> subprocess.Popen:
    return start_batch_and_wait_for_a_part(in_loopback_namespace(
        [sys.executable, "-m", "fer", "batch", str(src), "--out", str(out), "--engine", "ray", "--workers", "1",
         "--no-progress", *RAY_SLOW]), out)


def test_ctrl_c_of_a_ray_run_keeps_the_parts_written_and_a_rerun_does_the_rest_once(
        ray_frames, ray_frames_reference, tmp_path):
    out = tmp_path / "results"
    proc = start_ray_batch_and_wait_for_a_part(ray_frames, out)
    proc.send_signal(signal.SIGINT)  # unshare execs sh, which execs Python: this is the driver
    stdout, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 130, stderr[-3000:]
    assert "Traceback" not in stderr
    rep = json.loads(stdout.strip().splitlines()[-1])
    assert rep["engine"] == "ray" and rep["interrupted"]
    assert 0 < rep["files"] < RAY_FRAMES and rep["remaining"] == RAY_FRAMES - rep["files"]
    assert f"interrupted: {rep['files']} file(s) ({rep['rows']} rows) saved in {out}" in stderr
    holders = parts_by_path(out)
    assert len(holders) == rep["files"] and read_results(out).num_rows == rep["rows"]
    assert not descendants(proc.pid), "Ray's processes outlived the interrupted run"
    assert_rerun_completes_each_file_once(ray_frames, out, rep["files"], ray_frames_reference, *RAY_SLOW)


def test_a_killed_ray_actor_is_replaced_and_the_run_gives_every_file_once(ray_frames, ray_frames_reference, tmp_path):
    out = tmp_path / "results"
    proc = start_ray_batch_and_wait_for_a_part(ray_frames, out)
    actors = [p for p in descendants(proc.pid) if b"MapWorker" in Path(f"/proc/{p}/cmdline").read_bytes()]
    assert len(actors) == 1, actors
    import os
    os.kill(actors[0], signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr[-3000:]
    rep = json.loads(stdout.strip().splitlines()[-1])
    assert (rep["files"], rep["interrupted"], rep["remaining"]) == (RAY_FRAMES, False, 0)
    holders = parts_by_path(out)
    assert set(holders) == {str(p) for p in ray_frames.iterdir()}
    assert all(len(h) == 1 for h in holders.values()), [p for p, h in holders.items() if len(h) > 1]
    assert read_results(out).sort_by(SORT).to_pylist() == ray_frames_reference.to_pylist()
