"""The command line: python -m fer predict|video|batch|serve|evaluate|train|export."""
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


def _command_line() -> str:
    """This invocation as a command to record in a model's metadata, absolute paths made relative to
    the repository (a recorded command must not name the machine it ran on)."""
    from ..report import relative_command
    return relative_command("python -m fer " + shlex.join(sys.argv[1:]))


def _pairs(items: list[str] | None, option: str) -> dict[str, float]:
    """["rafdb=1.09", ...] -> {"rafdb": 1.09}; a malformed item is a usage error."""
    out = {}
    for item in items or []:
        key, sep, value = item.rpartition("=")
        try:
            out[key] = float(value)
        except ValueError:
            sep = ""
        if not sep or not key:
            raise SystemExit(f"{option} expects NAME=NUMBER, got {item!r}")
    return out


def _teachers(items: list[str] | None) -> dict[str, str]:
    """["fer2013=default", ...] -> {"fer2013": "default"}; a malformed item is a usage error."""
    out = {}
    for item in items or []:
        key, sep, model = item.partition("=")
        if not sep or not key or not model:
            raise SystemExit(f"--teacher expects SOURCE=MODEL, got {item!r}")
        out[key] = model
    return out


def _train(args: argparse.Namespace) -> int:
    import json
    if args.verbose:  # training itself lowers TensorFlow's C++ logging to warnings unless told otherwise
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0")
    from ..train.training import TrainConfig, train
    cfg = TrainConfig(data=args.data, val=args.val, test=args.test or [], out=args.out, image_size=args.image_size,
                      epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr,
                      resume=args.resume, limit_per_class=args.limit_per_class, seed=args.seed,
                      patience=args.patience, augment=args.augment, init_from=args.init_from,
                      warmup_epochs=args.warmup_epochs, label_smoothing=args.label_smoothing,
                      hold_out=_pairs(args.hold_out, "--hold-out"), framing=_pairs(args.framing, "--framing"),
                      balance=args.balance, source_weight=_pairs(args.source_weight, "--source-weight"),
                      targets=args.targets, clean=args.clean, votes=args.votes,
                      teachers=_teachers(args.teacher), distill=args.distill,
                      command=_command_line())
    meta = train(cfg)
    print(json.dumps({"out": args.out, "val": {k: v["accuracy"] for k, v in meta["metrics"]["val"].items()},
                      "test": {k: v["accuracy"] for k, v in meta["metrics"].get("test", {}).items()}}))
    return 0


def _predict(args: argparse.Namespace) -> int:
    import json

    from .commands import detector_settings
    from ..faces.detectors import make_detector
    from ..imageio import ImageError
    from ..classify.model import load_classifier
    from ..pipeline import FramePipeline
    from ..offline.still import analyse_still, error_entry
    clf = load_classifier(args.model)
    pipe = FramePipeline(clf, make_detector(detector_settings(args)), flip=args.flip, classes=args.classes)
    from ..offline.inputs import Skipped, expand_inputs
    results, skipped, n, failed = [], Skipped(), 0, 0
    for path in expand_inputs(args.images, skipped=skipped):
        # The still page's own analysis, so its JSON download equals this output.
        try:
            r = analyse_still(_read_bytes(path), path, pipe, whole=args.no_detect).to_dict()
        except ImageError as e:
            r = error_entry(path, e.reason(path))
        n, failed = n + 1, failed + ("error" in r)
        if args.jsonl:  # streamed: nothing kept, one line per image as soon as it is done
            print(json.dumps(r), flush=True)
        else:
            results.append(r)
    if skipped.count:
        print(skipped.message("images"), file=sys.stderr)
    if args.jsonl:
        return 1 if n and failed == n else 0
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for r in results:
            if "error" in r:
                print(f"{r['path']}: ERROR {r['error']}")
                continue
            hint = "" if r["faces"] or args.no_detect else " (already a cropped face? add --no-detect)"
            print(f"{r['path']}: {len(r['faces'])} face(s){hint}")
            for f in r["faces"]:
                probs = "  ".join(f"{c[:3]} {p:4.0%}" for c, p in f["probabilities"].items())
                print(f"  Face {f['face']}: box={tuple(f['box'])} {f['label']:>8} {f['score']:4.0%} | {probs}")
    return 1 if results and all("error" in r for r in results) else 0


def _read_bytes(path: str) -> bytes:
    from pathlib import Path

    from ..imageio import ImageError
    p = Path(path)
    if not p.is_file():
        raise ImageError(f"{p}: no such file" if not p.exists() else f"{p}: not a file")
    return p.read_bytes()


def _evaluate(args: argparse.Namespace) -> int:
    import json
    import time

    from ..classes import class_view, fold_labels
    from ..train.data import load_image_set, model_crop_reader
    from ..train.evaluation import confusion_image, per_root_reports, report
    from ..classify.model import load_classifier
    clf = load_classifier(args.model)
    t0 = time.perf_counter()
    view = class_view(args.classes, clf.classes)
    s = load_image_set(args.data, clf.input_size, classes=clf.classes, reader=model_crop_reader(clf))
    left_out: dict[str, int] = {}
    if args.truth == "ferplus":
        from pathlib import Path

        from ..train.ferplus import VotesError, default_votes_path, load_votes, majority_labels
        votes_file = Path(args.votes) if args.votes else default_votes_path(Path(args.data[0]).resolve().parent)
        try:
            votes = load_votes(votes_file, clf.classes)
        except VotesError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        majority, left_out = majority_labels(s.paths, votes)
        has = majority >= 0
        if not has.any():
            print(f"error: no image of {', '.join(s.roots)} has a FER+ majority among the model's classes",
                  file=sys.stderr)
            return 2
        s = s.subset(has)
        s.labels = majority[has]
    keep, labels = fold_labels(s.labels, view)
    if not keep.any():
        print(f"error: no image of the {view.name}-class view's classes ({', '.join(view.classes)}) in "
              f"{', '.join(s.roots)}", file=sys.stderr)
        return 2
    probs = view.fold(clf.predict(s.images[keep], flip=args.flip))
    pred = probs.argmax(1)
    r = report(labels, pred, list(view.classes)).to_dict()
    r["wall_seconds"] = round(time.perf_counter() - t0, 2)
    r["model"] = clf.info.name
    r["flip"] = args.flip
    r["truth"] = args.truth
    if args.truth == "ferplus":
        r["left_out"] = {"total": int(sum(left_out.values())), **left_out}
    r["skipped_classes"] = s.unknown_classes
    r["unreadable_files"] = s.unreadable
    r["class_view"] = view.name
    r["folded_out"] = {c: int((s.labels == i).sum()) for i, c in enumerate(clf.classes) if c not in view.classes}
    if len(s.roots) > 1:
        roots_kept = s.root_index[keep]
        r["per_root_accuracy"] = {root: float((pred == labels)[roots_kept == i].mean())
                                  for i, root in enumerate(s.roots) if (roots_kept == i).any()}
        r["per_root"] = per_root_reports(labels, pred, roots_kept, s.roots, list(view.classes))
    if args.record:
        _record_evaluation(clf.info.path, args, r)
    if args.confusion_png:
        import cv2
        cv2.imwrite(args.confusion_png, confusion_image(r["confusion"], r["classes"]))
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    print(f"model {r['model']} on {', '.join(s.roots)} ({args.truth} labels): n={r['n']}  "
          f"accuracy {r['accuracy']:.2%}  macro F1 {r['macro_f1']:.3f}  ({r['wall_seconds']} s)")
    if args.truth == "ferplus":
        print("left out (no FER+ majority among the model's classes): "
              + ", ".join(f"{k} {v}" for k, v in r["left_out"].items()))
    for root, pr in r.get("per_root", {}).items():
        print(f"  {root}: n={pr['n']} accuracy {pr['accuracy']:.2%} macro F1 {pr['macro_f1']:.3f}")
    print(f"{'class':>10} {'precision':>9} {'recall':>7} {'f1':>6} {'n':>6}")
    for c, m in r["per_class"].items():
        print(f"{c:>10} {m['precision']:9.3f} {m['recall']:7.3f} {m['f1']:6.3f} {m['support']:6d}")
    print("confusion (rows true, columns predicted):")
    print(" " * 10 + "".join(f"{c[:6]:>7}" for c in r["classes"]))
    for c, row in zip(r["classes"], r["confusion"]):
        print(f"{c:>10}" + "".join(f"{v:7d}" for v in row))
    for k, n in s.unknown_classes.items():
        print(f"skipped: class folder {k} ({n} images) is not one of the model's classes {clf.classes}")
    for c, n in r["folded_out"].items():
        print(f"left out: {n} {c} images (the {view.name}-class view folds {c} out)")
    return 0


def _record_evaluation(model_dir, args: argparse.Namespace, r: dict) -> None:
    """Keep an evaluation's figures in the model's metadata under ``evaluations``, keyed by what
    was measured, with the command that measured it (paths as given, relative to the repository)."""
    import json
    import os
    import time
    from pathlib import Path

    from ..config import REPO_ROOT
    meta_file = Path(model_dir) / "metadata.json"
    meta = json.loads(meta_file.read_text())

    def rel(p: str) -> str:
        return os.path.relpath(Path(p).resolve(), REPO_ROOT)

    key = f"{'+'.join(rel(d) for d in args.data)} | truth={args.truth} | {'flip' if args.flip else 'single pass'}"
    if r.get("class_view", "seven") != "seven":
        key += f" | {r['class_view']} classes"
    keep = {k: r[k] for k in ("accuracy", "macro_f1", "n", "truth", "flip", "left_out", "per_root") if k in r}
    keep["recall"] = {c: v["recall"] for c, v in r["per_class"].items()}
    keep["classes"], keep["confusion"] = r["classes"], r["confusion"]  # the model report's matrix per data set
    keep["command"] = _command_line()
    keep["date"] = time.strftime("%Y-%m-%d")
    meta.setdefault("evaluations", {})[key] = keep
    meta_file.write_text(json.dumps(meta, indent=2))


def _export(args: argparse.Namespace) -> int:
    import json
    from ..train.shipping import ship
    meta = ship(args.model_dir, args.calibration, args.val, args.test)
    print(json.dumps({"model": args.model_dir, "litert_accuracy": _litert_accuracy(meta)}))
    return 0


def _add_classes_option(parser: argparse.ArgumentParser) -> None:
    from ..classes import FIVE_CLASS_NOTE, SEVEN, VIEW_NAMES
    parser.add_argument("--classes", choices=VIEW_NAMES, default=SEVEN,
                        help="seven expressions (default) or " + FIVE_CLASS_NOTE.replace("%", "%%"))


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
    t.add_argument("--hold-out", action="append", metavar="ROOT=FRACTION",
                   help="move a stable FRACTION of a --data root into validation (for sets with no val split)")
    t.add_argument("--framing", action="append", metavar="SOURCE=SCALE",
                   help="show SCALE times each image of SOURCE (a root or its data set name, e.g. rafdb): "
                        ">1 adds a replicated border, <1 crops the centre; brings sources to one face framing")
    t.add_argument("--balance", choices=["class", "source-class"], default="class",
                   help="class: inverse-sqrt class weights over the pooled data; source-class: per (source, class)")
    t.add_argument("--source-weight", action="append", metavar="SOURCE=FACTOR",
                   help="with --balance source-class: multiply SOURCE's share of the loss (a root or its data set "
                        "name, e.g. fer2013=2)")
    t.add_argument("--targets", default="folder", metavar="folder|ferplus|mix:ALPHA",
                   help="targets of FER2013 images: folder labels, FER+ vote distributions, or a mix (ALPHA on the votes)")
    t.add_argument("--clean", choices=["none", "drop", "downweight"], default="none",
                   help="images whose FER+ votes contradict their folder label: keep, drop, or weight 0.3")
    t.add_argument("--votes", help="FER+ votes CSV (default: ferplus_votes.csv beside a FER2013 root)")
    t.add_argument("--teacher", action="append", metavar="SOURCE=MODEL",
                   help="distil: a trained model (name in models/ or folder) whose probabilities become part of "
                        "SOURCE's targets (a root or its data set name, e.g. rafdb=multisource)")
    t.add_argument("--distill", type=float, default=0.5, metavar="BETA",
                   help="with --teacher: the teacher's share of the targets (default 0.5)")
    t.set_defaults(func=_train)

    from ..config import STILL_FLIP
    from .commands import _add_detector_options
    pr = sub.add_parser("predict", help="find and classify the faces in images")
    pr.add_argument("images", nargs="+", help="image files, folders (searched recursively for image files) or "
                    "glob patterns (quoted; ** recurses)")
    pr.add_argument("--json", action="store_true", help="print one JSON list, an entry per image")
    pr.add_argument("--jsonl", action="store_true", help="stream one JSON line per image as it is done (JSON Lines)")
    pr.add_argument("--no-detect", action="store_true", help="classify each whole image as one face crop")
    pr.add_argument("--model", help="a model name in models/ or a model folder (default: the shipped model)")
    pr.add_argument("--flip", action=argparse.BooleanOptionalAction, default=STILL_FLIP,
                    help="average each face with its mirror image (--no-flip: one pass, half the work)")
    _add_detector_options(pr)
    _add_classes_option(pr)
    pr.set_defaults(func=_predict)

    from .commands import add_batch_command, add_video_command
    add_video_command(sub)
    add_batch_command(sub)
    from .serve import add_serve_command
    from .commands import _positive_int
    add_serve_command(sub, _add_detector_options, _positive_int)

    ev = sub.add_parser("evaluate", help="score a model on a folder-per-class data set of face crops")
    ev.add_argument("data", nargs="+", help="folder-per-class root(s)")
    ev.add_argument("--model", help="a model name in models/ or a model folder (default: the shipped model)")
    ev.add_argument("--json", action="store_true", help="print the report as JSON")
    ev.add_argument("--flip", action=argparse.BooleanOptionalAction, default=STILL_FLIP,
                    help="average each face with its mirror image, as predict does by default")
    ev.add_argument("--confusion-png", help="also save the confusion matrix as this image")
    ev.add_argument("--truth", choices=["folder", "ferplus"], default="folder",
                    help="folder: the class folders' labels; ferplus: the FER+ ten-annotator majority (FER2013 "
                         "files; ties and majorities outside the model's classes are left out and counted)")
    ev.add_argument("--votes", help="FER+ votes CSV for --truth ferplus (default: ferplus_votes.csv beside the "
                                    "data root's parent, as in ../shared/data/fer2013)")
    ev.add_argument("--record", action="store_true", help="also keep the figures in the model's metadata.json")
    _add_classes_option(ev)
    ev.set_defaults(func=_evaluate)

    ex = sub.add_parser("export", help="write a model folder's LiteRT file and measure it")
    ex.add_argument("model_dir", help="the trained model's folder (holds model.keras)")
    _add_ship_options(ex)
    ex.set_defaults(func=_export)

    bl = sub.add_parser("blend", help="average a fine-tuned model with the model it was tuned from (WiSE-FT), "
                        "then export and measure it")
    bl.add_argument("base", help="the model the fine-tune started from (name in models/ or folder)")
    bl.add_argument("tuned", help="the fine-tuned model")
    bl.add_argument("--alpha", type=float, required=True,
                    help="weight of the fine-tuned model, 0..1 (choose it on validation data)")
    bl.add_argument("--out", required=True, help="output folder, e.g. models/blend")
    _add_ship_options(bl)
    bl.set_defaults(func=_blend)
    return p


def _add_ship_options(parser: argparse.ArgumentParser) -> None:
    """What ``fer.train.shipping.ship`` needs to write and measure a LiteRT file (export and blend)."""
    parser.add_argument("--calibration", action="append", required=True, help="training root(s) for int8 calibration")
    parser.add_argument("--val", action="append", required=True, help="validation root(s) to measure the LiteRT file on")
    parser.add_argument("--test", action="append", help="test root(s) to measure it on")


def _litert_accuracy(meta: dict) -> dict[str, float]:
    """The LiteRT accuracies ``ship`` recorded, per split."""
    return {k: v["plain"]["accuracy"] for k, v in meta["metrics"].items() if k.startswith("litert_")}


def _blend(args: argparse.Namespace) -> int:
    import json
    from ..train.blend import BlendError, blend_models
    from ..train.shipping import ship
    try:
        blend_models(args.base, args.tuned, args.alpha, args.out, command=_command_line(), test_roots=args.test)
    except BlendError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    meta = ship(args.out, args.calibration, args.val, args.test)
    print(json.dumps({"model": args.out, "alpha": args.alpha, "litert_accuracy": _litert_accuracy(meta)}))
    return 0


def main(argv: list[str] | None = None) -> int:
    from ..train.data import ImageSetError
    from ..classify.model import ModelError
    from ..native_log import quiet_native_noise, verbose_requested
    args = build_parser().parse_args(argv)
    quiet = not (getattr(args, "verbose", False) or verbose_requested())
    try:
        with quiet_native_noise() if quiet else nullcontext():
            return args.func(args)
    except (ModelError, ImageSetError, FileNotFoundError, FileExistsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before a command's own handling (e.g. while the model loads)
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`predict --jsonl ... | head`): stop quietly, as a killed-by-SIGPIPE
        # program would, with stdout pointed at nothing so the exit-time flush can't fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + 13


if __name__ == "__main__":
    sys.exit(main())
