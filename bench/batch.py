"""Offline throughput: ``fer video`` against real time, ``fer batch`` against one-at-a-time
``predict``, and Ray with 2 workers against 1, all measured in this run.

    python bench/batch.py [--video-seconds 20] [--repeats 3] [--photos 600] [--ray-photos 240]
                          [--no-ray] [--json OUT.json]
    python bench/batch.py --only-memory --memory-images 10000 --memory-video-seconds 120

* Video: a 30 fps 640x480 clip of one real FER2013 face moving over a real room (fer/train/clips.py),
  through ``run_videos`` in this process (decode + live path + CSV), plain and ``--annotated``;
  x real time = clip seconds / wall seconds (median and range of the repeats), plus the same per
  CPU second of this process (what an idle core would give; the machine is shared).
* Photos: FER2013 test images. ``predict`` once per file (a process per file, as a shell loop runs it), against ``batch
  --engine local`` on the folder (both the CLI, model load included), photos/s.
* Ray: 640x480 frames with a real face each, ``batch --engine ray --workers 1`` and ``2`` on a Ray
  started for the run, inside a loopback-only network namespace. Each worker count runs a small and
  a large input; throughput = extra photos / extra seconds (start-up cancels out), start-up cost =
  Ray's init + what the small run took beyond its photos.
* RSS of this process at the start and end (and its peak) of each video run and of an in-process
  local batch; ``--memory-images``/``--memory-video-seconds``: the same across a big folder (FER2013
  train/, read in place) and a long clip.
The last line printed is JSON with every figure.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import cv2  # noqa: E402

from fer.train.clips import real_background, write_face_clip  # noqa: E402
from fer.train.compose import compose  # noqa: E402
from fer.config import fer2013_root  # noqa: E402
from fer.train.data import load_gray  # noqa: E402

from fer_samples import stratified_sample  # noqa: E402

PY = sys.executable


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class PeakRss:
    """Samples this process's RSS every 0.2 s in a thread; ``peak`` after ``stop``."""

    def __init__(self) -> None:
        self.start, self.peak, self._stop = rss_mb(), rss_mb(), threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.peak = max(self.peak, rss_mb())

    def stop(self) -> dict:
        self._stop.set()
        self._t.join()
        return {"rss_start_mb": round(self.start, 1), "rss_end_mb": round(rss_mb(), 1),
                "rss_peak_mb": round(max(self.peak, rss_mb()), 1)}


def spread(xs: list[float]) -> dict:
    return {"median": round(statistics.median(xs), 2), "min": round(min(xs), 2), "max": round(max(xs), 2)}


def bench_video(tmp: Path, seconds: float, repeats: int) -> dict:
    from fer.faces.detection import FaceDetector
    from fer.classify.model import load_classifier
    from fer.pipeline import FramePipeline
    from fer.offline.video_run import run_videos
    happy = [p for p, c in stratified_sample(fer2013_root() / "test", 2, seed=1) if c == "happy"][0]
    clip = tmp / "one_face.mp4"
    write_face_clip(clip, load_gray(happy, 48), real_background(640, 480), seconds, fps=30)
    pipe = FramePipeline(load_classifier(None), FaceDetector())
    out = {"clip_seconds": seconds, "clip": "30 fps 640x480, one FER2013 face over a real room"}
    for name, ann in (("plain", None), ("annotated", tmp / "annotated.mp4")):
        wall, cpu, mem = [], [], None
        for i in range(repeats):
            rss = PeakRss()
            c0, t0 = time.process_time(), time.perf_counter()
            (o,) = run_videos([str(clip)], pipe, tmp / "out.csv", annotated=ann, progress=False)
            wall.append(seconds / (time.perf_counter() - t0))
            cpu.append(seconds / (time.process_time() - c0))
            mem = rss.stop()
            assert o.error is None and o.frames == round(seconds * 30), o
        out[name] = {"x_real_time": spread(wall), "x_real_time_per_cpu_second": spread(cpu), **mem}
        print(f"video {name:9}: {out[name]['x_real_time']['median']:.2f}x real time "
              f"(range {min(wall):.2f}-{max(wall):.2f}, {repeats} runs); per CPU second "
              f"{statistics.median(cpu):.2f}x; RSS {mem['rss_start_mb']:.0f} -> {mem['rss_end_mb']:.0f} MB "
              f"(peak {mem['rss_peak_mb']:.0f})", flush=True)
    return out


def cli(*args: str, env: dict | None = None) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    r = subprocess.run(list(args), capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{r.stderr[-3000:]}")
    return dt, r


def bench_photos(tmp: Path, n: int) -> dict:
    folder = tmp / "photos"
    folder.mkdir()
    sample = stratified_sample(fer2013_root() / "test", max(1, n // 7 + 1), seed=11)[:n]
    for p, _ in sample:
        shutil.copy(p, folder / p.name)
    one = [cli(PY, "-m", "fer", "predict", str(p))[0] for p, _ in sample[:5]]
    per_file = statistics.median(one)
    dt, r = cli(PY, "-m", "fer", "batch", str(folder), "--out", str(tmp / "photos_out"), "--no-progress")
    rate = len(sample) / dt
    # in-process: the analyser's own rate and this process's RSS across the folder
    from fer.offline.batch.analyser import FileAnalyser
    from fer.offline.batch.local import run_local
    rss = PeakRss()
    t0 = time.perf_counter()
    out2 = tmp / "photos_inproc"
    out2.mkdir()
    run_local(sorted(str(p) for p in folder.iterdir()), out2, FileAnalyser())
    inproc = len(sample) / (time.perf_counter() - t0)
    mem = rss.stop()
    res = {"photos": len(sample), "predict_one_file_per_process_s": round(per_file, 2),
           "predict_photos_per_s": round(1 / per_file, 2), "batch_local_cli_photos_per_s": round(rate, 1),
           "batch_local_ratio": round(rate * per_file, 1), "batch_local_in_process_photos_per_s": round(inproc, 1),
           **{f"in_process_{k}": v for k, v in mem.items()}}
    print(f"photos: predict one file a process {1 / per_file:.2f} photos/s ({per_file:.1f} s each); "
          f"batch --engine local {rate:.1f} photos/s on {len(sample)} (x{res['batch_local_ratio']}); "
          f"in-process {inproc:.1f}/s, RSS {mem['rss_start_mb']:.0f} -> {mem['rss_end_mb']:.0f} MB", flush=True)
    return res


def loopback(cmd: list[str]) -> list[str]:
    """``cmd`` in a fresh network namespace with only lo up: Ray can only pick 127.0.0.1."""
    return ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *cmd]


def bench_ray(tmp: Path, n_large: int, n_small: int = 16) -> dict:
    faces = [load_gray(p, 48) for p, _ in stratified_sample(fer2013_root() / "test", n_large // 7 + 1, seed=13)]
    big = tmp / "frames"
    big.mkdir()
    for i, f in enumerate(faces[:n_large]):
        frame, _ = compose([f], 640, 480, face_px=160, seed=i)
        cv2.imwrite(str(big / f"frame_{i:05d}.jpg"), frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
    n_large = min(n_large, len(faces))  # FER2013 test has too few disgust faces for big runs
    small = tmp / "frames_small"
    small.mkdir()
    for p in sorted(big.iterdir())[:n_small]:
        shutil.copy(p, small / p.name)
    res = {"photos_large": n_large, "photos_small": n_small, "photo": "640x480 JPEG, one FER2013 face"}
    for workers in (1, 2):
        times, starts = {}, []
        for name, folder, n in (("small", small, n_small), ("large", big, n_large)):
            out = tmp / f"ray_{workers}_{name}"
            dt, r = cli(*loopback([PY, "-m", "fer", "batch", str(folder), "--out", str(out), "--engine", "ray",
                                   "--workers", str(workers), "--no-progress"]))
            rep = json.loads(r.stdout.strip().splitlines()[-1])
            assert rep["workers"] == workers and rep["files"] == n, rep
            times[name] = dt
            starts.append(rep["startup_s"])
        rate = (n_large - n_small) / (times["large"] - times["small"])
        res[f"ray_{workers}w"] = {"photos_per_s": round(rate, 2), "wall_small_s": round(times["small"], 1),
                                  "wall_large_s": round(times["large"], 1), "ray_init_s": starts}
        print(f"ray {workers} worker(s): {rate:.2f} photos/s (small run {times['small']:.0f} s, large "
              f"{times['large']:.0f} s; ray.init {starts[0]:.0f}/{starts[1]:.0f} s)", flush=True)
    times = {}
    for name, folder in (("small", small), ("large", big)):
        times[name], _ = cli(PY, "-m", "fer", "batch", str(folder), "--out", str(tmp / f"local_{name}"), "--no-progress")
    local = (n_large - n_small) / (times["large"] - times["small"])
    res["local"] = {"photos_per_s": round(local, 2), "wall_small_s": round(times["small"], 1),
                    "wall_large_s": round(times["large"], 1)}
    print(f"local engine on the same photos: {local:.2f} photos/s (small run {times['small']:.0f} s, "
          f"large {times['large']:.0f} s)", flush=True)
    res["ray_2w_over_1w"] = round(res["ray_2w"]["photos_per_s"] / res["ray_1w"]["photos_per_s"], 2)
    one = res["ray_1w"]
    res["ray_startup_s"] = round(one["wall_small_s"] - n_small / one["photos_per_s"], 1)
    print(f"ray 2 workers / 1 worker: {res['ray_2w_over_1w']:.2f}x; start-up (init + actors + first "
          f"batch) about {res['ray_startup_s']:.0f} s", flush=True)
    return res


def bench_memory(tmp: Path, images: int, video_seconds: float) -> dict:
    """RSS across ``images`` real files (FER2013 train/, read in place) through the local engine in
    this process, and across a long one-face clip through ``run_videos``."""
    res = {}
    if images:
        res["photos"] = _memory_photos(tmp, images)
    if video_seconds:
        res["video"] = _memory_video(tmp, video_seconds)
    return res


def _memory_photos(tmp: Path, images: int) -> dict:
    import itertools
    from fer.offline.batch.analyser import FileAnalyser
    from fer.offline.batch.local import run_local
    from fer.offline.batch.output import count_rows
    from fer.offline.inputs import expand_inputs
    paths = list(itertools.islice(expand_inputs([str(fer2013_root() / "train")]), images))
    out = tmp / "memory_out"
    out.mkdir()
    analyser = FileAnalyser()
    rss = PeakRss()
    t0 = time.perf_counter()
    run_local(paths, out, analyser)
    photos = {"images": len(paths), "seconds": round(time.perf_counter() - t0, 1), "rows": count_rows(out),
              **rss.stop()}
    print(f"memory, {len(paths)} images through batch local: RSS {photos['rss_start_mb']:.0f} -> "
          f"{photos['rss_end_mb']:.0f} MB (peak {photos['rss_peak_mb']:.0f}) in {photos['seconds']:.0f} s", flush=True)
    return photos


def _memory_video(tmp: Path, video_seconds: float) -> dict:
    from fer.faces.detection import FaceDetector
    from fer.classify.model import load_classifier
    from fer.pipeline import FramePipeline
    from fer.offline.video_run import run_videos
    happy = [p for p, c in stratified_sample(fer2013_root() / "test", 2, seed=1) if c == "happy"][0]
    clip = tmp / "long.mp4"
    write_face_clip(clip, load_gray(happy, 48), real_background(640, 480), video_seconds, fps=30)
    pipe = FramePipeline(load_classifier(None), FaceDetector())
    rss = PeakRss()
    t0 = time.perf_counter()
    (o,) = run_videos([str(clip)], pipe, tmp / "long.csv", progress=False)
    video = {"clip_seconds": video_seconds, "frames": o.frames, "rows": o.rows,
             "seconds": round(time.perf_counter() - t0, 1), **rss.stop()}
    print(f"memory, {video_seconds:.0f} s clip ({o.frames} frames) through video: RSS {video['rss_start_mb']:.0f} -> "
          f"{video['rss_end_mb']:.0f} MB (peak {video['rss_peak_mb']:.0f})", flush=True)
    return video


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video-seconds", type=float, default=20.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--photos", type=int, default=600)
    ap.add_argument("--ray-photos", type=int, default=240)
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--only-ray", action="store_true", help="only the Ray runs (and the local engine beside them)")
    ap.add_argument("--only-memory", action="store_true", help="only the memory runs below")
    ap.add_argument("--memory-images", type=int, default=0, help="RSS across this many FER2013 train images (0: skip)")
    ap.add_argument("--memory-video-seconds", type=float, default=0.0, help="RSS across a clip this long (0: skip)")
    ap.add_argument("--json", help="also write the figures here")
    a = ap.parse_args(argv)
    load = os.getloadavg()
    print(f"load average at start {load[0]:.1f} on {os.cpu_count()} cores (shared machine)", flush=True)
    figs: dict = {"load_average_start": round(load[0], 1)}
    with tempfile.TemporaryDirectory(prefix="fer_bench_batch") as d:
        tmp = Path(d)
        if not a.only_memory:
            if not a.only_ray:
                figs["video"] = bench_video(tmp, a.video_seconds, a.repeats)
                figs["photos"] = bench_photos(tmp, a.photos)
            if not a.no_ray:
                figs["ray"] = bench_ray(tmp, a.ray_photos)
        if a.memory_images or a.memory_video_seconds:
            figs["memory"] = bench_memory(tmp, a.memory_images, a.memory_video_seconds)
    figs["load_average_end"] = round(os.getloadavg()[0], 1)
    line = json.dumps(figs)
    if a.json:
        Path(a.json).write_text(line + "\n")
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
