"""How our frame time grows with frame size and with the number of faces in it.

    python bench/scaling.py [--runs 100] [--sizes 320x240 640x480 960x540 1280x720] [--faces 0 1 2 4 8]
                            [--face-px 160] [--out-json bench/out/scaling.json] [--out-html bench/out/scaling.html]

Each cell is one frame of real FER2013 test faces ('happy' faces the detector finds alone, on
bench/make_frame.py's grid, ``--face-px`` square, smaller when the grid cell is too small) timed
through the whole pipeline as bench/latency.py times it (detect + classify + draw), median of
``--runs`` after warm-up; the detect and classify steps are reported from the same runs. The faces
the detector found are recorded beside each cell: a missed face costs no classification. Writes a
JSON file and a Plotly chart (Plotly's script from its CDN, to keep the file small); the last line
printed is the JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(1, str(BENCH))

import numpy as np  # noqa: E402

from fer.train.compose import compose  # noqa: E402
from fer.config import fer2013_root  # noqa: E402
from fer.train.data import list_images, load_gray  # noqa: E402
from fer.faces.detection import DetectorSettings, FaceDetector  # noqa: E402
from fer.classify.model import load_classifier  # noqa: E402
from fer.pipeline import FramePipeline, draw_faces  # noqa: E402
from latency import timed  # noqa: E402  (bench/latency.py)


def frame_size(text: str) -> tuple[int, int]:
    """'640x480' -> (640, 480), for argparse."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from None
    return w, h


def face_px_for(n: int, width: int, height: int, wanted: int) -> int:
    """``wanted``, or 80 % of compose()'s grid cell when ``n`` faces of ``wanted`` px don't fit."""
    cols = max(1, int(np.ceil(np.sqrt(n))))
    rows = max(1, int(np.ceil(n / cols)))
    return min(wanted, int(0.8 * min(width // cols, height // rows)))


def detectable_faces(pipe: FramePipeline, n: int, sizes: tuple[int, ...] = (64, 160)) -> list[np.ndarray]:
    """The first ``n`` FER2013 test 'happy' crops that the detector finds alone in a frame at each of
    ``sizes`` px, so that a cell's face count is the count the pipeline really handles (FER2013's
    tight crops defeat Haar on about a third of the faces; bench/detection_rate.py measures that)."""
    out: list[np.ndarray] = []
    for path in list_images(fer2013_root() / "test" / "happy"):
        if len(out) == n:
            break
        crop = load_gray(path, 48)
        if all(len(pipe.analyse(compose([crop], 640, 480, face_px=s)[0]).faces) == 1 for s in sizes):
            out.append(crop)
    return out


def measure_cell(pipe: FramePipeline, crops: list[np.ndarray], width: int, height: int, face_px: int,
                 runs: int) -> dict:
    """One frame size and face count: whole-frame, detect and classify medians over ``runs``."""
    frame, _ = compose(crops, width, height, face_px=face_px)
    steps: list[dict[str, float]] = []

    def whole_frame() -> None:
        f = frame.copy()
        result = pipe.analyse(f)
        draw_faces(f, result.faces)
        steps.append(result.timings_ms)

    ms = timed(whole_frame, runs)
    steps = steps[-runs:]  # the warm-up calls appended too
    return {"width": width, "height": height, "faces": len(crops), "face_px": face_px if crops else None,
            "found": len(pipe.analyse(frame).faces),
            "median_ms": round(statistics.median(ms), 3), "p90_ms": round(float(np.percentile(ms, 90)), 3),
            "detect_ms": round(statistics.median(s["detect"] for s in steps), 3),
            "classify_ms": round(statistics.median(s["classify"] for s in steps), 3)}


def chart(cells: list[dict], path: Path, title: str) -> None:
    """Two panels: ms against face count (a line per frame size) and against megapixels (a line per
    face count)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("by number of faces", "by frame size"))
    sizes = sorted({(c["width"], c["height"]) for c in cells}, key=lambda s: s[0] * s[1])
    counts = sorted({c["faces"] for c in cells})
    for w, h in sizes:
        row = [c for c in cells if (c["width"], c["height"]) == (w, h)]
        fig.add_trace(go.Scatter(x=[c["faces"] for c in row], y=[c["median_ms"] for c in row], mode="lines+markers",
                                 name=f"{w}x{h}", legendgroup="size", legendgrouptitle_text="frame",
                                 customdata=[[c["found"], c["detect_ms"]] for c in row],
                                 hovertemplate="%{x} faces (%{customdata[0]} found): %{y:.1f} ms, "
                                               "detect %{customdata[1]:.1f} ms"), row=1, col=1)
    for n in counts:
        row = sorted((c for c in cells if c["faces"] == n), key=lambda c: c["width"] * c["height"])
        fig.add_trace(go.Scatter(x=[c["width"] * c["height"] / 1e6 for c in row], y=[c["median_ms"] for c in row],
                                 mode="lines+markers", name=f"{n} faces", legendgroup="faces",
                                 legendgrouptitle_text="faces", text=[f"{c['width']}x{c['height']}" for c in row],
                                 hovertemplate="%{text}: %{y:.1f} ms"), row=1, col=2)
    fig.update_xaxes(title_text="faces in the frame", row=1, col=1)
    fig.update_xaxes(title_text="megapixels", row=1, col=2)
    fig.update_yaxes(title_text="median ms per frame (detect + classify + draw)", rangemode="tozero")
    fig.update_layout(title=title, template="plotly_white", legend={"groupclick": "toggleitem"})
    fig.write_html(path, include_plotlyjs="cdn")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=100, help="timed frames per cell (after 10 of warm-up)")
    p.add_argument("--sizes", type=frame_size, nargs="+",
                   default=[(320, 240), (640, 480), (960, 540), (1280, 720)], metavar="WxH")
    p.add_argument("--faces", type=int, nargs="+", default=[0, 1, 2, 4, 8])
    p.add_argument("--face-px", type=int, default=160, help="face size, shrunk where the grid cell is smaller")
    p.add_argument("--model")
    p.add_argument("--threads", type=int, default=2, help="LiteRT threads")
    p.add_argument("--out-json", type=Path, default=BENCH / "out" / "scaling.json")
    p.add_argument("--out-html", type=Path, default=BENCH / "out" / "scaling.html")
    p.add_argument("--json", action="store_true", help="print only the JSON line")
    args = p.parse_args(argv)

    folder = fer2013_root() / "test" / "happy"
    if not folder.is_dir():
        print(f"FER2013 not found at {folder} (put it at ../shared/data/fer2013 or set FER_DATA_DIR to the "
              f"folder that holds fer2013/)", file=sys.stderr)
        return 2
    clf = load_classifier(args.model, num_threads=args.threads)
    pipe = FramePipeline(clf, FaceDetector(DetectorSettings()))
    crops = detectable_faces(pipe, max(args.faces))
    cells = []
    for w, h in args.sizes:
        for n in args.faces:
            cell = measure_cell(pipe, crops[:n], w, h, face_px_for(n, w, h, args.face_px), args.runs)
            cells.append(cell)
            if not args.json:
                print(f"{w}x{h}, {n} faces ({cell['found']} found): {cell['median_ms']:.2f} ms "
                      f"(detect {cell['detect_ms']:.2f}, classify {cell['classify_ms']:.2f})",
                      file=sys.stderr, flush=True)
    result = {"cells": cells, "runs": args.runs, "model": clf.info.name, "litert_threads": args.threads,
              "detector": vars(DetectorSettings()), "cpus": os.cpu_count()}
    args.out_json.parent.mkdir(parents=True, exist_ok=True)
    args.out_html.parent.mkdir(parents=True, exist_ok=True)
    args.out_json.write_text(json.dumps(result, indent=1) + "\n")
    chart(cells, args.out_html, f"Frame time by size and faces (model {clf.info.name}, median of {args.runs} runs)")
    if not args.json:
        head = f"{'frame':>10}" + "".join(f"{f'{n} faces':>16}" for n in args.faces)
        print(f"median ms per frame, detect + classify + draw (faces found / placed); {args.runs} runs per cell")
        print(head)
        for w, h in args.sizes:
            row = [c for c in cells if (c["width"], c["height"]) == (w, h)]
            print(f"{f'{w}x{h}':>10}" + "".join(f"{c['median_ms']:>10.2f} ({c['found']}/{c['faces']})" for c in row))
        print(f"wrote {args.out_json} and {args.out_html}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
