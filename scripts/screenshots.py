"""The README's screenshots, made from the real app: starts the dashboard (``deploy/launch.py``) on a
free loopback port, drives Debian's headless Chromium with Playwright through three pages, and writes
PNGs (palette-compressed, each under 300 KB) into ``docs/img/``.

    python scripts/screenshots.py            # docs/img/still.png, explorer.png, model_report.png
    python scripts/screenshots.py --out /tmp/shots

- still: a real photo uploaded to the still-image page, a frame of
  ``videos/face-demographics-walking-and-pause.mp4`` from the shared data (three people in a real
  room; CC-BY-4.0, Intel Corporation), the frame where the default detector finds the most faces;
- explorer: the data set explorer on FER2013 (``../shared/data`` or ``FER_DATA_DIR``), after running
  the model over its test split, at the confusion matrix;
- model report: the default model's page (needs no data).

Needs ``/usr/bin/chromium`` (never ``playwright install``) and the shared data. Nothing leaves
127.0.0.1: no STUN/TURN credentials are passed to the server.
"""
from __future__ import annotations

import argparse
import io
import os
import re
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "deploy"))

from serve import stop, wait_healthy  # noqa: E402  (deploy/serve.py: the replicas' start-up check and stop)

CHROMIUM = "/usr/bin/chromium"
VIDEO = "face-demographics-walking-and-pause.mp4"
VIEWPORT = {"width": 1280, "height": 980}
MAX_BYTES = 300_000
STEP_TIMEOUT_MS = 180_000  # a busy 2-core machine: the first heat map loads the model, the explorer reads 3,589 images


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def real_photo(path: Path, people: int = 3) -> None:
    """Writes the latest frame of the clip (the people are nearest) in which the default detector
    finds each of its ``people`` and nothing else, upscaled 2x to 960x540, as a JPEG."""
    import cv2

    from fer.config import data_root
    from fer.faces.detectors import DetectorSettings, make_detector
    source = data_root() / "videos" / VIDEO
    if not source.is_file():
        raise SystemExit(f"no {source}: the still page's photo is a frame of the shared data's {VIDEO} "
                         "(set FER_DATA_DIR to the folder holding videos/)")
    detector = make_detector(DetectorSettings())
    cap = cv2.VideoCapture(str(source))
    best = None
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        big = cv2.resize(frame, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
        if len(detector.detect(cv2.cvtColor(big, cv2.COLOR_BGR2GRAY))) == people:
            best = big
    cap.release()
    if best is None:
        raise SystemExit(f"no frame of {source} in which the detector finds exactly {people} faces")
    cv2.imwrite(str(path), best, [cv2.IMWRITE_JPEG_QUALITY, 92])


def start_app(port: int, log: Path) -> subprocess.Popen:
    """The product as the README starts it, headless on 127.0.0.1:port, in its own process group."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TWILIO_", "CLOUDFLARE_TURN_")) and k != "HF_TOKEN"}
    env["PYTHONUNBUFFERED"] = "1"
    cmd = [sys.executable, str(REPO / "deploy" / "launch.py"), "--server.headless=true", f"--server.port={port}",
           "--server.address=127.0.0.1", "--browser.gatherUsageStats=false", "--server.fileWatcherType=none"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_healthy(port, proc, timeout=180)
    except (RuntimeError, TimeoutError) as e:
        stop_app(proc)
        raise SystemExit(f"{e}; its log: {log}") from None
    return proc


def stop_app(proc: subprocess.Popen) -> None:
    stop(proc, grace=15)


def save_small(png: bytes, path: Path) -> int:
    """Writes a screenshot as a 256-colour PNG, shrunk by steps of 0.85 until it fits in MAX_BYTES
    (the README's pictures stay light in the repository). Returns the bytes written."""
    from PIL import Image
    img = Image.open(io.BytesIO(png)).convert("RGB")
    scale = 1.0
    while True:
        size = (round(img.width * scale), round(img.height * scale))
        small = img if scale == 1.0 else img.resize(size, Image.LANCZOS)
        buf = io.BytesIO()
        small.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
            buf, "PNG", optimize=True)
        if buf.tell() <= MAX_BYTES or scale < 0.4:
            path.write_bytes(buf.getvalue())
            return buf.tell()
        scale *= 0.85


def open_page(browser, url: str, title: str):
    """A new tab entering through app.py, as a user does, then the sidebar's link to ``title``."""
    from playwright.sync_api import expect
    page = browser.new_page(viewport=VIEWPORT, device_scale_factor=1)
    page.set_default_timeout(STEP_TIMEOUT_MS)
    page.goto(url, wait_until="domcontentloaded")
    nav = page.locator('[data-testid="stSidebarNav"]')
    expect(nav.get_by_text(title)).to_be_visible()
    nav.get_by_text(title).click()
    return page


def settle(page) -> None:
    """Wait for Streamlit to finish its run (no 'Running...' status) and for every image to load."""
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')")
    page.wait_for_function("() => [...document.images].every(i => i.complete && i.naturalWidth > 0)")
    page.wait_for_timeout(1500)  # Plotly's transitions


def scroll_to_heading(page, text: str) -> None:
    """Scroll the page so the section heading holding ``text`` is at the top of the picture."""
    page.locator("h1, h2, h3", has_text=text).first.evaluate("h => h.scrollIntoView()")
    page.wait_for_timeout(500)


def shoot_still(browser, url: str, photo: Path):
    from playwright.sync_api import expect
    page = open_page(browser, url, "Still images")
    expect(page.get_by_text("Upload one or more images to start.")).to_be_visible()
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(photo))
    expect(page.get_by_text(re.compile(r"^\d+ faces? found$"))).to_be_visible()  # not the detector caption
    expect(page.locator('[data-testid="stPlotlyChart"]').first).to_be_visible()
    settle(page)
    scroll_to_heading(page, photo.name)
    return page


def shoot_explorer(browser, url: str):
    import re

    from playwright.sync_api import expect
    page = open_page(browser, url, "Data set explorer")
    expect(page.get_by_text("Where the model disagrees")).to_be_visible()
    page.get_by_role("button", name=re.compile(r"^Run .* over ")).click()
    matrix = page.locator('[data-testid="stPlotlyChart"]').filter(has_text="Confusion matrix")
    expect(matrix.locator("g.trace.scatter path.point").first).to_be_attached()
    settle(page)
    scroll_to_heading(page, "Where the model disagrees")
    return page


def shoot_report(browser, url: str):
    from playwright.sync_api import expect
    page = open_page(browser, url, "Model report")
    expect(page.get_by_text("Training history")).to_be_visible()
    expect(page.locator('[data-testid="stPlotlyChart"]').first).to_be_visible()
    settle(page)
    scroll_to_heading(page, "Model card")
    return page


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "img", help="folder for the PNGs")
    args = ap.parse_args(argv)
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        raise SystemExit(f"{CHROMIUM} not found: apt-get install chromium")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=STEP_TIMEOUT_MS)
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="fer-screenshots-"))
    photo = work / "three_people.jpg"
    real_photo(photo)
    port = free_port()
    proc = start_app(port, work / "app.log")
    url = f"http://127.0.0.1:{port}"
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         args=["--no-sandbox", "--disable-gpu", "--no-first-run",
                                               "--disable-background-networking", "--disable-sync",
                                               "--disable-component-update"])
            try:
                for name, shoot in (("still", lambda: shoot_still(browser, url, photo)),
                                    ("explorer", lambda: shoot_explorer(browser, url)),
                                    ("model_report", lambda: shoot_report(browser, url))):
                    page = shoot()
                    n = save_small(page.screenshot(), args.out / f"{name}.png")
                    print(f"{args.out / f'{name}.png'}: {n / 1000:.0f} KB", flush=True)
                    page.close()
            finally:
                browser.close()
    finally:
        stop_app(proc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
