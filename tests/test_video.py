"""``python -m fer video`` on a clip built from a real face: a row per analysed frame with the live
CSV's columns, one stable track, an annotated copy with every frame, clear errors for broken files."""
from __future__ import annotations

import csv
import shutil
import signal
import subprocess
import sys
import time

import av
import pytest

from fer.train.compose import Box, iou
from fer.config import REPO_ROOT
from fer.stream.session_log import SessionLog, csv_columns
from fer.stream.tracking import DEFAULT_CONFIRM_HITS
from fer.offline.video_run import clock

from video_clips import FPS, one_face_clip

sys.path.insert(0, str(REPO_ROOT / "bench"))
from clips import MATCH_IOU  # noqa: E402  (a box on a face: bench/clips.py)


#: The first analysed frame a face has a row in: the one that confirms its track.
CONFIRMED_AT = DEFAULT_CONFIRM_HITS - 1


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fer", *args, "--no-progress"], capture_output=True, text=True,
                          timeout=600)


def read_rows(path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def clip(tmp_path_factory, fer_root):
    path = tmp_path_factory.mktemp("clip") / "one_face.mp4"
    return path, one_face_clip(fer_root, path)


def test_video_gives_a_row_per_frame_one_stable_track_and_a_full_annotated_copy(clip, tmp_path):
    path, truth = clip
    out, ann = tmp_path / "out.csv", tmp_path / "annotated.mp4"
    r = run_cli("video", str(path), "--csv", str(out), "--annotated", str(ann))
    assert r.returncode == 0, r.stderr
    with open(out) as fh:
        header = next(csv.reader(fh))
    assert header == ["source", "frame", "pts_s", "time", *csv_columns(SessionLog().classes), "error"]
    rows = read_rows(out)
    # One face, every frame from the one that confirms its track (the tracker shows a face once it
    # has been detected in DEFAULT_CONFIRM_HITS frames in a row).
    assert [int(x["frame"]) for x in rows] == list(range(CONFIRMED_AT, len(truth)))
    assert {x["face_id"] for x in rows} == {"1"}
    assert all(abs(float(x["pts_s"]) - int(x["frame"]) / FPS) < 1e-3 for x in rows)
    assert rows[0]["time"] == "00:00:00.067" and rows[29]["time"] == "00:00:01.033"
    assert all(x["time"] == clock(float(x["pts_s"])) for x in rows)
    # The truth is the pasted crop, whose face (brows to chin) BlazeFace boxes: 0.4-0.6 of its IoU.
    hits = [iou(Box(*(int(x[k]) for k in "xywh")), truth[int(x["frame"])]) for x in rows]
    assert sum(h >= MATCH_IOU for h in hits) >= 0.95 * len(rows), sorted(hits)[:5]
    assert all(x["error"] == "" and x["label"] for x in rows)
    assert f"track   1:     {len(truth) - CONFIRMED_AT} frames" in r.stdout
    with av.open(str(ann)) as c:
        s = c.streams.video[0]
        assert s.codec_context.name == "h264" and (s.codec_context.width, s.codec_context.height) == (640, 480)
        assert sum(1 for _ in c.decode(s)) == len(truth)


def test_the_time_column_reads_as_a_video_players_clock():
    assert [clock(t) for t in (0, 0.0334, 59.9996, 61.5, 3600 + 62.25, 100 * 3600, -0.5, -0.0001)] == [
        "00:00:00.000", "00:00:00.033", "00:01:00.000", "00:01:01.500", "01:01:02.250", "100:00:00.000",
        "-00:00:00.500", "00:00:00.000"]


def test_every_third_frame_is_analysed_with_the_same_track(clip, tmp_path):
    path, truth = clip
    out = tmp_path / "out.csv"
    r = run_cli("video", str(path), "--csv", str(out), "--every", "3", "--half-life", "0")
    assert r.returncode == 0, r.stderr
    rows = read_rows(out)
    assert [int(x["frame"]) for x in rows] == list(range(3 * CONFIRMED_AT, len(truth), 3))
    assert {x["face_id"] for x in rows} == {"1"}


def test_a_broken_video_gets_an_error_row_and_the_next_file_still_runs(clip, tmp_path):
    path, truth = clip
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    out = tmp_path / "out.csv"
    r = run_cli("video", str(text), str(cut), str(path), "--csv", str(out))
    assert r.returncode == 1
    rows = read_rows(out)
    errors = {x["source"]: x["error"] for x in rows if x["error"]}
    assert set(errors) == {str(text), str(cut)}
    assert "not a playable video" in errors[str(text)]
    assert all(x["time"] == "" for x in rows if x["error"])
    assert sum(x["source"] == str(path) for x in rows) == len(truth) - CONFIRMED_AT
    for msg in errors.values():
        assert "Errno" not in msg and not any(ch.isdigit() for ch in msg.split(":", 1)[1].split("frame")[0])
    assert "Traceback" not in r.stderr and f"error: {text}" in r.stderr
    assert "FAILED" in r.stdout and f"track   1:     {len(truth) - CONFIRMED_AT} frames" in r.stdout


def test_the_default_detector_on_a_real_two_person_clip_finds_both_faces_in_every_frame(two_face_clip, tmp_path):
    """No --detector: BlazeFace (the shared clip's README: it finds 2.00 faces a frame there, Haar
    0.12 frame by frame), both faces in every frame once their tracks are confirmed."""
    out = tmp_path / "out.csv"
    r = run_cli("video", str(two_face_clip), "--csv", str(out))
    assert r.returncode == 0, r.stderr
    rows = read_rows(out)
    per_frame = [sum(int(x["frame"]) == i for x in rows) for i in range(56)]
    assert per_frame == [0] * CONFIRMED_AT + [2] * (56 - CONFIRMED_AT)
    assert {x["face_id"] for x in rows} == {"1", "2"}
    assert all(x["error"] == "" and x["label"] for x in rows)


def test_an_unknown_detector_is_refused_with_the_registrys_names(two_face_clip, tmp_path):
    r = run_cli("video", str(two_face_clip), "--csv", str(tmp_path / "o.csv"), "--detector", "yolo")
    assert r.returncode == 2
    assert "blazeface-full" in r.stderr and "Traceback" not in r.stderr


def test_ctrl_c_leaves_a_csv_of_whole_rows_ending_with_an_interrupted_row(two_face_clip, tmp_path):
    # Sixteen copies of the real clip, so the interrupt lands while one of them is being analysed even
    # on a loaded machine (BlazeFace analyses a copy in well under a second).
    clips = []
    for i in range(16):
        clips.append(tmp_path / f"take{i}.mp4")
        shutil.copy(two_face_clip, clips[-1])
    out = tmp_path / "out.csv"
    proc = subprocess.Popen([sys.executable, "-m", "fer", "video", *map(str, clips), "--csv", str(out),
                             "--detector", "blazeface", "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not (out.is_file() and str(clips[1]) in out.read_text()):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and f"interrupted: {out} holds whole rows" in stderr
    text = out.read_text()
    assert text.endswith("\n")
    lines = list(csv.reader(text.splitlines()))
    assert all(len(x) == len(lines[0]) for x in lines)  # no half line
    rows = read_rows(out)
    done = {x["source"] for x in rows if "interrupted" in x["error"]}
    assert len(done) == 1 and rows[-1]["error"].startswith(f"{done.pop()}: interrupted after ")
    # The finished file: 2 faces x 56 frames, less the frames that confirm each track.
    assert sum(x["source"] == str(clips[0]) for x in rows) == 2 * (56 - CONFIRMED_AT)
    assert "FAILED" in stdout  # the summary still printed, the cut-off file marked


def cut_at_frame(src, out, keep: int) -> None:
    """Copy ``src`` up to the end of its ``keep``-th packet: the file ends cleanly at a frame boundary,
    as a recording cut off mid-write does, and decodes ``keep`` frames without any decoder error."""
    with av.open(str(src)) as c:
        packets = [p for p in c.demux(c.streams.video[0]) if p.size]
        end = max(p.pos + p.size for p in packets[:keep])
    out.write_bytes(src.read_bytes()[:end])


def still_room_clip(out, frames: int = 12) -> None:
    """A real room with no face in it (fer.clips' background), as H.264."""
    from fer.train.clips import real_background
    room = real_background(320, 240)
    with av.open(str(out), mode="w") as c:
        s = c.add_stream("libx264", rate=12)
        s.width, s.height, s.pix_fmt = 320, 240, "yuv420p"
        for i in range(frames):
            vf = av.VideoFrame.from_ndarray(room, format="bgr24")
            vf.pts = i
            c.mux(s.encode(vf))
        c.mux(s.encode(None))


def test_every_input_is_accounted_for_in_a_status_file_and_on_the_terminal(two_face_clip, fer_root, tmp_path):
    cut = tmp_path / "cut.mp4"
    cut_at_frame(two_face_clip, cut, 21)
    with av.open(str(cut)) as c:  # the premise: it decodes 21 of 56 frames with no error at all
        assert c.streams.video[0].frames == 56 and sum(1 for _ in c.decode(video=0)) == 21
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(next((fer_root / "test" / "happy").iterdir()).read_bytes())
    empty, room, intact = tmp_path / "empty.mp4", tmp_path / "room.mp4", tmp_path / "intact.mp4"
    empty.write_bytes(b"")
    still_room_clip(room)
    shutil.copy(two_face_clip, intact)
    out = tmp_path / "out.csv"
    inputs = [cut, photo, empty, room, intact]
    r = run_cli("video", *map(str, inputs), "--csv", str(out), "--detector", "blazeface")
    assert r.returncode == 1 and "Traceback" not in r.stderr

    status = {x["source"]: x for x in read_rows(tmp_path / "out.files.csv")}
    assert list(status) == list(map(str, inputs))
    assert status[str(cut)]["status"] == "stopped early"
    assert (status[str(cut)]["frames_announced"], status[str(cut)]["frames_decoded"]) == ("56", "21")
    assert "stopped early at 00:00:01.750" in status[str(cut)]["error"]  # frame 21 at 12 fps
    assert status[str(photo)]["status"] == "failed"
    assert "still image" in status[str(photo)]["error"] and "fer predict" in status[str(photo)]["error"]
    assert status[str(empty)]["status"] == "failed"
    assert status[str(room)]["status"] == "no face found"
    assert (status[str(room)]["frames_analysed"], status[str(room)]["faces"]) == ("12", "0")
    assert status[str(intact)]["status"] == "ok"
    assert (status[str(intact)]["frames_decoded"], status[str(intact)]["faces"]) == ("56", "2")

    rows = read_rows(out)
    errors = {x["source"]: x["error"] for x in rows if x["error"]}
    assert set(errors) == {str(cut), str(photo), str(empty)}  # the cut file's lost frames are on record
    # Two faces in each of the 21 frames from the one that confirms their tracks.
    assert sum(x["source"] == str(cut) and not x["error"] for x in rows) == 2 * (21 - CONFIRMED_AT)
    assert f"error: {cut}: decoding stopped early" in r.stderr
    assert f"use `python -m fer predict {photo}`" in r.stderr
    assert f"warning: {room}: no face found in 12 analysed frame(s)" in r.stderr
    assert "5 file(s): 1 ok, 1 no face found, 1 stopped early, 2 failed" in r.stderr
    assert str(tmp_path / "out.files.csv") in r.stderr


def test_annotated_copies_of_several_inputs_are_announced_and_may_go_to_a_folder(tmp_path):
    from fer.offline.video_run import annotated_paths
    a, b = tmp_path / "x" / "take.mp4", tmp_path / "y" / "take.mp4"
    assert annotated_paths(tmp_path / "out.mp4", [str(a)]) == [tmp_path / "out.mp4"]
    assert annotated_paths(tmp_path / "out.mp4", [str(a), str(b)]) == [tmp_path / "out.take.mp4",
                                                                        tmp_path / "out.take-2.mp4"]
    folder = tmp_path / "copies"
    assert annotated_paths(f"{folder}/", [str(a), str(b)]) == [folder / "take.mp4", folder / "take-2.mp4"]
    r = run_cli("video", str(a), str(b), "--csv", str(tmp_path / "o.csv"), "--annotated", str(tmp_path / "out.mp4"))
    assert "annotated copies: one per input, as out.take.mp4, ..., out.take-2.mp4" in r.stderr
