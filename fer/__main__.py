"""The command line: python -m fer predict|evaluate|train|export."""
from __future__ import annotations

import argparse
import os
import shlex
import sys
from contextlib import nullcontext

EXIT_CODES = """exit codes:
  0  done (predict: at least one image could be read)
  1  predict: none of the images could be read
  2  bad arguments, or a model, data folder or output folder that can't be used"""


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Every option's help ends with its default, except where there is none to show (None, off)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or action.default is False:
            return action.help or ""
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        kwargs.setdefault("epilog", EXIT_CODES)
        super().__init__(*args, **kwargs)


def _train(args: argparse.Namespace) -> int:
    import json
    if args.verbose:  # training itself lowers TensorFlow's C++ logging to warnings unless told otherwise
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0")
    from .training import TrainConfig, train
    cfg = TrainConfig(data=args.data, val=args.val, test=args.test or [], out=args.out, image_size=args.image_size,
                      epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr,
                      resume=args.resume, limit_per_class=args.limit_per_class, seed=args.seed,
                      patience=args.patience, augment=args.augment, init_from=args.init_from,
                      warmup_epochs=args.warmup_epochs, label_smoothing=args.label_smoothing,
                      command="python -m fer " + " ".join(shlex.quote(a) for a in sys.argv[1:]))
    meta = train(cfg)
    print(json.dumps({"out": args.out, "val": {k: v["accuracy"] for k, v in meta["metrics"]["val"].items()},
                      "test": {k: v["accuracy"] for k, v in meta["metrics"].get("test", {}).items()}}))
    return 0


def _predict(args: argparse.Namespace) -> int:
    import json

    from .detection import DetectorSettings, FaceDetector
    from .imageio import ImageError, read_image
    from .model import load_classifier
    from .pipeline import FramePipeline
    clf = load_classifier(args.model)
    settings = DetectorSettings(scale_factor=args.scale_factor, min_neighbors=args.min_neighbors,
                                min_size=args.min_size)
    pipe = FramePipeline(clf, FaceDetector(settings), flip=args.flip)
    results = []
    for path in args.images:
        try:
            frame = read_image(path)
            res = pipe.analyse_whole(frame) if args.no_detect else pipe.analyse(frame)
            results.append({"path": path, "faces": [f.to_dict() for f in res.faces]})
        except ImageError as e:
            results.append({"path": path, "faces": [], "error": e.reason(path)})
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for r in results:
            if "error" in r:
                print(f"{r['path']}: ERROR {r['error']}")
                continue
            hint = "" if r["faces"] or args.no_detect else " (already a cropped face? add --no-detect)"
            print(f"{r['path']}: {len(r['faces'])} face(s){hint}")
            for i, f in enumerate(r["faces"]):
                probs = "  ".join(f"{c[:3]} {p:4.0%}" for c, p in f["probabilities"].items())
                print(f"  [{i}] box={tuple(f['box'])} {f['label']:>8} {f['score']:4.0%} | {probs}")
    return 1 if results and all("error" in r for r in results) else 0


def _evaluate(args: argparse.Namespace) -> int:
    import json
    import time

    from .data import load_image_set
    from .evaluation import confusion_image, report
    from .model import load_classifier
    clf = load_classifier(args.model)
    t0 = time.perf_counter()
    s = load_image_set(args.data, clf.input_size, classes=clf.classes)
    probs = clf.predict(s.images, flip=args.flip)
    r = report(s.labels, probs.argmax(1), clf.classes).to_dict()
    r["wall_seconds"] = round(time.perf_counter() - t0, 2)
    r["model"] = clf.info.name
    r["flip"] = args.flip
    r["skipped_classes"] = s.unknown_classes
    r["unreadable_files"] = s.unreadable
    if len(s.roots) > 1:
        r["per_root_accuracy"] = s.per_root_accuracy(probs.argmax(1))
    if args.confusion_png:
        import cv2
        cv2.imwrite(args.confusion_png, confusion_image(r["confusion"], r["classes"]))
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    print(f"model {r['model']} on {', '.join(s.roots)}: n={r['n']}  accuracy {r['accuracy']:.2%}  "
          f"macro F1 {r['macro_f1']:.3f}  ({r['wall_seconds']} s)")
    print(f"{'class':>10} {'precision':>9} {'recall':>7} {'f1':>6} {'n':>6}")
    for c, m in r["per_class"].items():
        print(f"{c:>10} {m['precision']:9.3f} {m['recall']:7.3f} {m['f1']:6.3f} {m['support']:6d}")
    print("confusion (rows true, columns predicted):")
    print(" " * 10 + "".join(f"{c[:6]:>7}" for c in r["classes"]))
    for c, row in zip(r["classes"], r["confusion"]):
        print(f"{c:>10}" + "".join(f"{v:7d}" for v in row))
    for k, n in s.unknown_classes.items():
        print(f"skipped: class folder {k} ({n} images) is not one of the model's classes {clf.classes}")
    return 0


def _export(args: argparse.Namespace) -> int:
    import json
    from .shipping import ship
    meta = ship(args.model_dir, args.calibration, args.val, args.test)
    figs = {k: v["plain"]["accuracy"] for k, v in meta["metrics"].items() if k.startswith("litert_")}
    print(json.dumps({"model": args.model_dir, "litert_accuracy": figs}))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m fer", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    t = sub.add_parser("train", help="train a model on folder-per-class data")
    t.add_argument("--data", action="append", required=True, help="a folder-per-class root (repeat to mix roots)")
    t.add_argument("--val", action="append", required=True, help="validation root(s): selection and early stopping")
    t.add_argument("--test", action="append", help="test root(s): evaluated once at the end, never used to select")
    t.add_argument("--out", required=True, help="output folder, e.g. models/my_model")
    t.add_argument("--image-size", type=int, default=48, help="side of the square gray input, in pixels")
    t.add_argument("--epochs", type=int, default=40, help="epochs to train (with --resume: the new total)")
    t.add_argument("--batch-size", type=int, default=128, help="images per training step")
    t.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (cosine schedule)")
    t.add_argument("--patience", type=int, default=12, help="early stopping patience in epochs (on val accuracy)")
    t.add_argument("--seed", type=int, default=1337, help="random seed (shuffling, augmentation, subsets)")
    t.add_argument("--limit-per-class", type=int, help="use at most this many images per class (smoke runs)")
    t.add_argument("--resume", action="store_true", help="continue a killed run from its last checkpoint")
    t.add_argument("--augment", choices=["strong", "medium", "light"], default="strong",
                   help="augmentation strength (light for fine-tuning)")
    t.add_argument("--init-from", help="start from this trained .keras model (fine-tuning)")
    t.add_argument("--warmup-epochs", type=int, default=1, help="epochs of linear learning-rate warm-up")
    t.add_argument("--label-smoothing", type=float, default=0.1, help="label smoothing of the cross-entropy loss")
    t.add_argument("--verbose", action="store_true", help="show TensorFlow's start-up messages (hidden by default)")
    t.set_defaults(func=_train)

    from .config import STILL_FLIP
    from .detection import DetectorSettings
    detector_defaults = DetectorSettings()
    pr = sub.add_parser("predict", help="find and classify the faces in images")
    pr.add_argument("images", nargs="+", help="image files (jpg, png, webp, bmp, tiff, gif)")
    pr.add_argument("--json", action="store_true", help="print one JSON list, an entry per image")
    pr.add_argument("--no-detect", action="store_true", help="classify each whole image as one face crop")
    pr.add_argument("--model", help="a model name in models/ or a model folder (default: the shipped model)")
    pr.add_argument("--flip", action=argparse.BooleanOptionalAction, default=STILL_FLIP,
                    help="average each face with its mirror image (--no-flip: one pass, half the work)")
    pr.add_argument("--scale-factor", type=float, default=detector_defaults.scale_factor,
                    help="face detector's scale step: smaller finds more faces, slower")
    pr.add_argument("--min-neighbors", type=int, default=detector_defaults.min_neighbors,
                    help="face detector's confirmations per face: higher, fewer false faces")
    pr.add_argument("--min-size", type=int, default=detector_defaults.min_size, help="smallest face side in pixels")
    pr.set_defaults(func=_predict)

    ev = sub.add_parser("evaluate", help="score a model on a folder-per-class data set of face crops")
    ev.add_argument("data", nargs="+", help="folder-per-class root(s)")
    ev.add_argument("--model", help="a model name in models/ or a model folder (default: the shipped model)")
    ev.add_argument("--json", action="store_true", help="print the report as JSON")
    ev.add_argument("--flip", action=argparse.BooleanOptionalAction, default=STILL_FLIP,
                    help="average each face with its mirror image, as predict does by default")
    ev.add_argument("--confusion-png", help="also save the confusion matrix as this image")
    ev.set_defaults(func=_evaluate)

    ex = sub.add_parser("export", help="write a model folder's LiteRT file and measure it")
    ex.add_argument("model_dir", help="the trained model's folder (holds model.keras)")
    ex.add_argument("--calibration", action="append", required=True, help="training root(s) for int8 calibration")
    ex.add_argument("--val", action="append", required=True, help="validation root(s) to measure the LiteRT file on")
    ex.add_argument("--test", action="append", help="test root(s) to measure it on")
    ex.set_defaults(func=_export)
    return p


def main(argv: list[str] | None = None) -> int:
    from .data import ImageSetError
    from .model import ModelError
    from .native_log import quiet_native_noise, verbose_requested
    args = build_parser().parse_args(argv)
    quiet = not (getattr(args, "verbose", False) or verbose_requested())
    try:
        with quiet_native_noise() if quiet else nullcontext():
            return args.func(args)
    except (ModelError, ImageSetError, FileNotFoundError, FileExistsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
