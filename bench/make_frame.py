"""Write a 640x480 (or other) frame with N real FER2013 test faces pasted in, for bench/latency.py.

    python bench/make_frame.py out.png [--faces 1] [--face-px 160] [--size 640 480]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2  # noqa: E402

from fer.train.compose import compose  # noqa: E402
from fer.config import fer2013_root  # noqa: E402
from fer.train.data import list_images, load_gray  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out")
    p.add_argument("--faces", type=int, default=1)
    p.add_argument("--face-px", type=int, default=160)
    p.add_argument("--size", type=int, nargs=2, default=[640, 480], metavar=("W", "H"))
    args = p.parse_args(argv)
    folder = fer2013_root() / "test" / "happy"
    if not folder.is_dir():
        sys.exit(f"FER2013 not found at {folder.parent.parent} (set FER_DATA_DIR)")
    crops = [load_gray(f, 48) for f in list_images(folder)[:args.faces]]
    frame, boxes = compose(crops, *args.size, face_px=args.face_px)
    cv2.imwrite(args.out, frame)
    print(f"wrote {args.out}: {args.size[0]}x{args.size[1]}, faces at {[tuple(b) for b in boxes]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
