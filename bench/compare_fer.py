"""Our engine against the `fer` library (PyPI `fer==25.10.3`, mini-Xception + Haar) in one run.

    python bench/compare_fer.py [--limit-per-class N] [--runs 100] [--video-seconds 5] [--detect-per-class 10]
                                [--sizes 64 96 128 192] [--val] [--json]
    python bench/compare_fer.py --scene ../shared/data/videos/CLIP.mp4 --skip accuracy classifier detection
                                [--detector blazeface]

Measures both systems on the same inputs and prints each figure with the ratio ours / theirs:

- accuracy on FER2013 test/ (PrivateTest, 3,589 crops; ``--val`` adds val/), every crop fed to
  each classifier directly, no detection; fer's default quantized TFLite model is the headline, its
  original Keras file is reported too; classes are matched by name (fer orders them differently);
- ms per 640x480 frame holding one real face (detect + classify), the two systems alternating run
  by run so that machine drift hits both alike; medians after warm-up; then fer with its Keras file
  (``use_tflite=False``) alone;
- ms per frame of a panning clip of that frame: our live video path (bench/latency.py's) against
  fer's full detect + classify on every frame, clip by clip alternating;
- ms per face for the classifier alone at batch 1 (a uint8 crop at the model's input size in,
  probabilities out), alternating in blocks;
- detection rate of each whole pipeline on FER2013 test faces pasted into 640x480 frames at several
  sizes (found = a returned box with IoU >= 0.3, as in bench/detection_rate.py).

`fer` is imported as ``fer``, like our engine, so it lives in its own virtual environment
(bench/out/fer-venv, made on the first run and reused) and runs there as a JSON-lines server
(bench/fer_peer.py). That venv holds only what `from fer.fer import FER` needs on the Haar path: fer
is installed without its declared dependencies (tensorflow, opencv-contrib-python, facenet-pytorch
with torch, moviepy, pandas, matplotlib, ...), with tensorflow-cpu and opencv-python-headless pinned
to our venv's versions: both systems run the same OpenCV Haar code, and fer's TFLite file runs in
TensorFlow's (deprecated) tf.lite interpreter as fer does it. It still weighs about 1.7 GB.

The last line printed is JSON with every figure (``--json`` prints only that).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(1, str(BENCH))

import numpy as np  # noqa: E402

from detection_rate import sample_faces  # noqa: E402  (bench/detection_rate.py)
from fer.train.compose import background, compose, iou, paste_face  # noqa: E402
from fer.config import CLASSES, fer2013_root  # noqa: E402
from fer.train.data import list_images, load_gray, load_image_set  # noqa: E402
from fer.faces.detection import Box  # noqa: E402
from fer.faces.detectors import DEFAULT_DETECTOR, DETECTORS  # noqa: E402
from fer.train.evaluation import report  # noqa: E402
from fer.classify.model import Classifier, load_classifier  # noqa: E402
from fer.pipeline import FramePipeline  # noqa: E402
from latency import (build_detector, command_line, live_path_ms, panning_frames, read_frames,  # noqa: E402
                     record, timed)  # (bench/latency.py)

FER_VERSION = "25.10.3"
OUT = BENCH / "out"
PEER_VENV = OUT / "fer-venv"
PEER_SCRIPT = BENCH / "fer_peer.py"


def _our_version(dist: str, fallback: str) -> str:
    """``dist==<version in our venv>``, so both systems run the same build; ``fallback`` if absent."""
    try:
        return f"{dist}=={metadata.version(dist)}"
    except metadata.PackageNotFoundError:
        return fallback


def peer_requirements() -> list[str]:
    """What `from fer.fer import FER` imports on the Haar + TFLite path, and nothing else.

    setuptools < 82 still ships pkg_resources (fer finds its model files with it); OpenCV must stay
    below 5, which dropped the Haar cascades; tensorflow-cpu is the CPU-only build of the
    `tensorflow` that fer declares."""
    return [_our_version("tensorflow-cpu", "tensorflow-cpu>=2.16"),
            _our_version("opencv-python-headless", "opencv-python-headless>=4.10,<5"),
            "setuptools<82", "requests", "pillow"]


def ensure_peer_venv(venv: Path = PEER_VENV, quiet: bool = False) -> Path:
    """The peer venv's python, creating or updating the venv when its recorded requirements differ."""
    python = venv / "bin" / "python"
    reqs = peer_requirements()
    stamp = venv / "bench-requirements.txt"
    wanted = "\n".join([f"fer=={FER_VERSION} --no-deps", *reqs]) + "\n"
    if python.is_file() and stamp.is_file() and stamp.read_text() == wanted:
        return python
    log = (lambda *a: None) if quiet else (lambda *a: print(*a, file=sys.stderr, flush=True))
    if not python.is_file():
        log(f"creating {venv} (once; a few minutes: TensorFlow is a large download)")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    log(f"installing fer=={FER_VERSION} (no deps) + {' '.join(reqs)}")
    for cmd in (pip + ["--no-deps", f"fer=={FER_VERSION}"], pip + reqs):
        # pip's output is mostly its complaint that fer's declared dependencies are missing (on
        # purpose): show it only when the install fails.
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"installing the fer venv failed: {' '.join(cmd)}\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    stamp.write_text(wanted)
    return python


class Peer:
    """fer in its own venv (bench/fer_peer.py), one JSON line per request; its stderr goes to a log."""

    def __init__(self, python: Path, log: Path = OUT / "fer-peer.log") -> None:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env["TF_CPP_MIN_LOG_LEVEL"] = "2"
        self.log = log
        self._log_file = open(log, "w")
        # A script's own folder (bench/) heads sys.path, not the repo root, and PYTHONPATH is dropped:
        # our `fer` package can't shadow theirs.
        self.proc = subprocess.Popen([str(python), str(PEER_SCRIPT)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self._log_file, text=True, cwd=OUT, env=env)

    def ask(self, cmd: str, **kw) -> dict:
        """Send one request, return its answer; raise with the peer's log when it failed or died."""
        self.proc.stdin.write(json.dumps({"cmd": cmd, **kw}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the fer peer died; its log ({self.log}) ends:\n{self.log.read_text()[-3000:]}")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"fer peer, {cmd}: {answer['error']}")
        return answer

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log_file.close()

    def __enter__(self) -> "Peer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _metrics(truth: list[str], predicted: list[str]) -> dict:
    """Accuracy, macro F1 and per-class recall from label names (each system's own class order is
    already mapped to names, so nothing depends on it)."""
    index = {c: i for i, c in enumerate(CLASSES)}
    r = report(np.array([index[t] for t in truth]), np.array([index[p] for p in predicted]), list(CLASSES))
    return {"accuracy": round(r.accuracy, 4), "macro_f1": round(r.macro_f1, 4),
            "recall": {c: round(v["recall"], 3) for c, v in r.per_class.items()}}


def accuracy(clf: Classifier, peer: Peer, split: str, limit_per_class: int | None) -> dict:
    """Both classifiers on the split's crops as stored (48x48 gray), no detection, no flip."""
    data = load_image_set(fer2013_root() / split, clf.input_size, classes=list(CLASSES))
    keep = np.arange(len(data.labels))
    if limit_per_class:
        keep = np.concatenate([np.flatnonzero(data.labels == k)[:limit_per_class] for k in range(len(CLASSES))])
    crops = np.ascontiguousarray(data.images[keep])
    truth = [CLASSES[k] for k in data.labels[keep]]
    ours = [clf.classes[k] for k in np.argmax(clf.predict(crops), axis=1)]
    path = OUT / f"compare-{split}-crops.npy"
    np.save(path, crops)
    theirs = peer.ask("classify", npy=str(path), model="tflite")["labels"]
    theirs_keras = peer.ask("classify", npy=str(path), model="keras")["labels"]
    return {"split": split, "n": len(truth), "ours": _metrics(truth, ours), "fer": _metrics(truth, theirs),
            "fer_keras": _metrics(truth, theirs_keras)}


def first_face(size: int = 48) -> np.ndarray:
    """The face bench/make_frame.py uses: the first FER2013 test 'happy' crop."""
    return load_gray(list_images(fer2013_root() / "test" / "happy")[0], size)


def latency_frame(face_px: int = 160) -> np.ndarray:
    """The frame bench/make_frame.py writes by default: ``first_face()`` at ``face_px`` in 640x480."""
    return compose([first_face()], 640, 480, face_px=face_px)[0]


def _summary(ms: list[float]) -> dict:
    return {"median_ms": round(statistics.median(ms), 3), "p90_ms": round(float(np.percentile(ms, 90)), 3),
            "runs": len(ms)}


def frame_latency(pipe: FramePipeline, peer: Peer, frames: list[np.ndarray], runs: int, warmup: int) -> dict:
    """Detect + classify on one frame (or, for a real scene's clip, on its frames in turn), the two
    systems alternating run by run (who goes first alternates too), so a slow stretch of the machine
    hits both. Then fer alone with its Keras file (``use_tflite=False``, one Keras call per frame:
    fer's path before it shipped the TFLite file), in its own block: TensorFlow's threads keep
    spinning after a Keras call and would slow whatever ran next."""
    paths = []
    for k, frame in enumerate(frames):
        paths.append(OUT / f"compare-frame-{k}.npy")
        np.save(paths[-1], frame)
    per = max(1, warmup // len(frames))
    ours_faces, fer_faces = [], []
    for frame, path in zip(frames, paths):  # the warm-up, which also counts each frame's faces
        timed(lambda: pipe.analyse(frame), 0, per - 1)
        ours_faces.append(len(pipe.analyse(frame).faces))
        fer_faces.append(peer.ask("frame", npy=str(path), runs=0, warmup=per)["faces"])
    ours, theirs = [], []
    for i in range(runs):
        k = i % len(frames)
        for who in ((0, 1) if i % 2 == 0 else (1, 0)):
            if who == 0:
                ours += timed(lambda: pipe.analyse(frames[k]), 1, 0)
            else:
                theirs += peer.ask("frame", npy=str(paths[k]), runs=1)["ms"]
    keras = [peer.ask("frame", npy=str(paths[i % len(frames)]), runs=1, warmup=warmup if i == 0 else 0,
                      model="keras") for i in range(max(10, runs // 2))]
    mean_faces = lambda counts: round(statistics.fmean(counts), 2)  # noqa: E731
    return {"size": [int(frames[0].shape[1]), int(frames[0].shape[0])], "frames": len(frames),
            "ours": {**_summary(ours), "faces": mean_faces(ours_faces)},
            "fer": {**_summary(theirs), "faces": mean_faces(fer_faces)},
            "fer_keras": {**_summary([m for r in keras for m in r["ms"]]), "faces": keras[0]["faces"]}}


def video_latency(pipe: FramePipeline, peer: Peer, clip: list[np.ndarray], rounds: int = 2) -> dict:
    """A clip (a real scene's, or bench/latency.py's panning frames): our live path (a rescan of one
    view every 0.125 s, search near followed faces in between, tracking, drawing; paced at 30 fps, so
    caches go cold as they do live) against fer's ``detect_emotions`` on every frame (fer has no video
    mode; its frames run back to back, warm). Clip by clip, alternating who goes first."""
    path = OUT / "compare-clip.npy"
    np.save(path, np.stack(clip))
    ours, theirs, scans = [], [], 0
    for r in range(rounds):
        for who in ((0, 1) if r % 2 == 0 else (1, 0)):
            if who == 0:
                ms, what = live_path_ms(clip, pipe)
                ours += ms
                scans += what["full_scans"]
            else:
                theirs += peer.ask("detect", npy=str(path))["ms"]
    mean = lambda v: round(statistics.fmean(v), 3)  # noqa: E731
    return {"frames": len(clip), "rounds": rounds,
            "ours": {**_summary(ours), "mean_ms": mean(ours), "full_scan_share": round(scans / len(ours), 3)},
            "fer": {**_summary(theirs), "mean_ms": mean(theirs)}}


def classifier_latency(clf: Classifier, peer: Peer, crop: np.ndarray, runs: int, block: int = 50) -> dict:
    """One uint8 crop through each classifier at batch 1 (fer: its [-1, 1] scaling and TFLite call;
    ours: LiteRT, scaling inside the model), in alternating blocks of ``block`` calls."""
    path = OUT / "compare-crop.npy"
    np.save(path, crop)
    one = crop[None]
    timed(lambda: clf.predict(one), 0, 50)
    peer.ask("classifier", npy=str(path), runs=0, warmup=50)
    ours, theirs = [], []
    for i in range(max(1, runs // block)):
        for who in ((0, 1) if i % 2 == 0 else (1, 0)):
            if who == 0:
                ours += timed(lambda: clf.predict(one), block, 0)
            else:
                theirs += peer.ask("classifier", npy=str(path), runs=block)["ms"]
    return {"ours": _summary(ours), "fer": _summary(theirs)}


def detection(pipe: FramePipeline, peer: Peer, per_class: int, sizes: list[int]) -> dict:
    """Each whole pipeline on FER2013 test faces (bench/detection_rate.py's sample and placement)
    pasted into 640x480 frames; found = a returned box with IoU >= 0.3 with the pasted square."""
    faces = sample_faces(per_class)
    rng = np.random.default_rng(11)
    path = OUT / "compare-detect-frames.npy"
    frames = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(len(faces) * len(sizes), 480, 640, 3))
    truth: list[tuple[Box, int]] = []
    for i, crop in enumerate(faces):
        for s in sizes:
            x, y = int(rng.integers(0, 640 - s)), int(rng.integers(0, 480 - s))
            frames[len(truth)] = background(640, 480, seed=i)
            paste_face(frames[len(truth)], crop, Box(x, y, s, s))
            truth.append((Box(x, y, s, s), s))
    frames.flush()
    theirs = peer.ask("detect", npy=str(path))
    ours_boxes, ours_ms = [], []
    for f in frames:
        t = time.perf_counter()
        found = pipe.analyse(f).faces
        ours_ms.append((time.perf_counter() - t) * 1e3)
        ours_boxes.append([face.box for face in found])
    del frames
    path.unlink()  # a few hundred MB at the default sizes
    out = {"faces": len(faces), "frames": len(truth)}
    for name, boxes, ms in (("ours", ours_boxes, ours_ms),
                            ("fer", [[Box(*b) for b in bs] for bs in theirs["boxes"]], theirs["ms"])):
        found = {s: 0 for s in sizes}
        false = 0
        for (box, s), got in zip(truth, boxes):
            hits = [b for b in got if iou(b, box) >= 0.3]
            found[s] += bool(hits)
            false += len(got) - len(hits)
        out[name] = {"rate": {str(s): round(found[s] / len(faces), 3) for s in sizes},
                     "overall": round(sum(found.values()) / len(truth), 3), "false_boxes": false,
                     "median_ms": round(statistics.median(ms), 3)}
    return out


def _ratio(ours: float, theirs: float) -> float | None:
    return round(ours / theirs, 3) if theirs else None


def table(result: dict) -> list[str]:
    """The human-readable rows: figure, ours, fer, ours / fer."""
    rows: list[tuple[str, str, str, float | None]] = []
    pct = lambda v: f"{100 * v:.1f} %"  # noqa: E731
    for acc in result["accuracy"]:
        name = f"{acc['split']} accuracy (n={acc['n']})"
        rows.append((name, pct(acc["ours"]["accuracy"]), pct(acc["fer"]["accuracy"]),
                     _ratio(acc["ours"]["accuracy"], acc["fer"]["accuracy"])))
        rows.append(("  same, fer's Keras file", "", pct(acc["fer_keras"]["accuracy"]),
                     _ratio(acc["ours"]["accuracy"], acc["fer_keras"]["accuracy"])))
        rows.append((f"{acc['split']} macro F1", f"{acc['ours']['macro_f1']:.3f}", f"{acc['fer']['macro_f1']:.3f}",
                     _ratio(acc["ours"]["macro_f1"], acc["fer"]["macro_f1"])))
    if "frame" in result:
        fr = result["frame"]
        o, t = fr["ours"], fr["fer"]
        what = f"{fr['frames']} real-scene frames" if fr.get("frames", 1) > 1 else "frame"
        rows.append((f"{what} {fr['size'][0]}x{fr['size'][1]}, detect + classify, median ms",
                     f"{o['median_ms']:.2f}", f"{t['median_ms']:.2f}", _ratio(o["median_ms"], t["median_ms"])))
        rows.append(("  p90 ms", f"{o['p90_ms']:.2f}", f"{t['p90_ms']:.2f}", _ratio(o["p90_ms"], t["p90_ms"])))
        rows.append(("  faces found in it (mean a frame)", str(o["faces"]), str(t["faces"]), None))
        k = fr["fer_keras"]
        rows.append(("  same, fer with its Keras file, median ms", "", f"{k['median_ms']:.2f}",
                     _ratio(o["median_ms"], k["median_ms"])))
    if "video" in result:
        v = result["video"]
        o, t = v["ours"], v["fer"]
        rows.append((f"video, {v['frames']} {v.get('kind', 'panning')} frames x {v['rounds']}: median ms", f"{o['median_ms']:.2f}",
                     f"{t['median_ms']:.2f}", _ratio(o["median_ms"], t["median_ms"])))
        rows.append(("  mean ms (ours: live path, full scans included)", f"{o['mean_ms']:.2f}", f"{t['mean_ms']:.2f}",
                     _ratio(o["mean_ms"], t["mean_ms"])))
    if "classifier" in result:
        o, t = result["classifier"]["ours"], result["classifier"]["fer"]
        rows.append(("classifier alone, batch 1, ms/face", f"{o['median_ms']:.3f}", f"{t['median_ms']:.3f}",
                     _ratio(o["median_ms"], t["median_ms"])))
    if "detection" in result:
        d = result["detection"]
        o, t = d["ours"], d["fer"]
        for s in o["rate"]:
            rows.append((f"detection rate, {s} px faces (n={d['faces']})", pct(o["rate"][s]), pct(t["rate"][s]),
                         _ratio(o["rate"][s], t["rate"][s])))
        rows.append(("detection rate, all sizes", pct(o["overall"]), pct(t["overall"]),
                     _ratio(o["overall"], t["overall"])))
        rows.append((f"false boxes in {d['frames']} frames", str(o["false_boxes"]), str(t["false_boxes"]), None))
        rows.append(("  median ms per frame there", f"{o['median_ms']:.2f}", f"{t['median_ms']:.2f}",
                     _ratio(o["median_ms"], t["median_ms"])))
    w = max(len(r[0]) for r in rows)
    out = [f"{'':{w}}  {'ours':>9}  {'fer ' + result['peer']['fer']:>11}  {'ours/fer':>8}"]
    out += [f"{a:{w}}  {b:>9}  {c:>11}  {'' if r is None else f'{r:.3f}':>8}" for a, b, c, r in rows]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--limit-per-class", type=int, help="accuracy on the first N crops of each class only")
    p.add_argument("--val", action="store_true", help="also the accuracy on val/")
    p.add_argument("--runs", type=int, default=100, help="timed frames per system (after warm-up)")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--clf-runs", type=int, default=500, help="timed classifier calls per system")
    p.add_argument("--face-px", type=int, default=160, help="face size in the timed frame")
    p.add_argument("--detect-per-class", type=int, default=10, help="faces per class for the detection rate")
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 96, 128, 192], help="pasted face sizes (px)")
    p.add_argument("--video-seconds", type=float, default=5.0, help="length of the panning clip (at 30 fps)")
    p.add_argument("--skip", nargs="*", default=[],
                   choices=["accuracy", "frame", "video", "classifier", "detection"])
    p.add_argument("--threads", type=int, default=2, help="our LiteRT threads (fer keeps its default)")
    p.add_argument("--scene", help="a real scene (an image, or a clip whose frames are used in turn) for the "
                                   "frame and video rows, instead of a FER2013 face pasted on a canvas")
    p.add_argument("--width", type=int, default=640, help="--scene's frames resized to this width")
    p.add_argument("--detector", default=DEFAULT_DETECTOR,
                   help=f"our detector ({', '.join(DETECTORS)}; default: the product's, {DEFAULT_DETECTOR})")
    p.add_argument("--venv", type=Path, default=PEER_VENV, help="where fer's own venv is made and reused")
    p.add_argument("--model", help="our model (a folder of models/; default: the default model)")
    p.add_argument("--json", action="store_true", help="print only the JSON line")
    p.add_argument("--record", action="store_true",
                   help="also write the figures and ratios into our model's metadata.json")
    args = p.parse_args(argv)
    say = (lambda *a: None) if args.json else (lambda *a: print(*a, file=sys.stderr, flush=True))

    splits = ["test"] + (["val"] if args.val else [])
    missing = [fer2013_root() / s for s in splits if not (fer2013_root() / s).is_dir()]
    if missing:
        print(f"FER2013 not found: {', '.join(map(str, missing))} is missing. Put the data set at "
              f"../shared/data/fer2013 or set FER_DATA_DIR to the folder that holds fer2013/.", file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    python = ensure_peer_venv(args.venv, quiet=args.json)
    clf = load_classifier(args.model, num_threads=args.threads)
    pipe = FramePipeline(clf, build_detector(args.detector))
    scene = read_frames(args.scene, args.width) if args.scene else [latency_frame(args.face_px)]
    with Peer(python) as peer:
        say("starting fer in its venv (imports TensorFlow) ...")
        hello = peer.ask("hello")
        if hello["fer"] != FER_VERSION:
            sys.exit(f"the fer venv imports fer {hello['fer']} from {hello['fer_path']}, not {FER_VERSION}")
        result: dict = {"peer": hello,
                        "ours": {"model": clf.info.name, "litert_threads": args.threads,
                                 "detector": vars(pipe.detector.settings)}, "accuracy": []}
        if "accuracy" not in args.skip:
            for split in splits:
                say(f"accuracy on {split}/ ...")
                result["accuracy"].append(accuracy(clf, peer, split, args.limit_per_class))
        if "frame" not in args.skip:
            say(f"frame latency, {args.runs} alternating runs each ...")
            result["frame"] = frame_latency(pipe, peer, scene, args.runs, args.warmup)
        if "video" not in args.skip:
            say(f"video: a {args.video_seconds:.0f} s clip, our live path vs fer on every frame ...")
            n = int(args.video_seconds * 30)  # a clip's frames in order, looped, as bench/latency.py does
            clip = [scene[i % len(scene)] for i in range(n)] if len(scene) > 1 else panning_frames(scene[0], n)
            result["video"] = video_latency(pipe, peer, clip)
            result["video"]["kind"] = "real-scene" if len(scene) > 1 else "panning"
        if "classifier" not in args.skip:
            say(f"classifier latency, {args.clf_runs} calls each ...")
            result["classifier"] = classifier_latency(clf, peer, first_face(clf.input_size), args.clf_runs)
        if "detection" not in args.skip:
            say(f"detection rate, {args.detect_per_class} faces per class x {len(args.sizes)} sizes ...")
            result["detection"] = detection(pipe, peer, args.detect_per_class, args.sizes)
    ratios = {}
    for acc in result["accuracy"]:
        ratios[f"{acc['split']}_accuracy"] = _ratio(acc["ours"]["accuracy"], acc["fer"]["accuracy"])
    for key in ("frame", "classifier"):
        if key in result:
            ratios[f"{key}_ms"] = _ratio(result[key]["ours"]["median_ms"], result[key]["fer"]["median_ms"])
    if "frame" in result:
        ratios["frame_ms_vs_fer_keras"] = _ratio(result["frame"]["ours"]["median_ms"],
                                                 result["frame"]["fer_keras"]["median_ms"])
    if "video" in result:
        v = result["video"]
        ratios["video_median_ms"] = _ratio(v["ours"]["median_ms"], v["fer"]["median_ms"])
        ratios["video_mean_ms"] = _ratio(v["ours"]["mean_ms"], v["fer"]["mean_ms"])
    if "detection" in result:
        ratios["detection_rate"] = _ratio(result["detection"]["ours"]["overall"], result["detection"]["fer"]["overall"])
    result["ratios_ours_over_fer"] = ratios
    result["settings"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    if not args.json:
        print("\n".join(table(result)))
    if args.record:
        figures = {k: v for k, v in result.items() if k != "settings"}
        figures["peer"] = {k: v for k, v in figures["peer"].items() if k != "fer_path"}
        say(f"recorded in {record(clf.info.path, 'compare_fer', figures, command_line(__file__, argv))}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
