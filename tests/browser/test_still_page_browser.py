"""The still-image page in a real browser: `streamlit run app.py`, headless Debian Chromium, a real
face photo uploaded through the file input. Passes only if the Plotly chart actually draws its
seven bars and the heat map image actually loads (not just that the elements exist)."""
from __future__ import annotations

import re
import time

import cv2
import numpy as np
import pytest

from fer.config import fer2013_root
from fer.detection import DetectorSettings, FaceDetector
from support import launch_chromium, open_page_from_navigation, streamlit_server

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import expect, sync_playwright  # noqa: E402

FIRST_RESULT_TIMEOUT_MS = 120_000  # the first heat map loads TensorFlow in the server (~6-10 s idle)


def _face_photo(path) -> None:
    """A FER2013 test face the default detector finds, upscaled onto a 800x600 canvas, as a jpg."""
    det = FaceDetector(DetectorSettings())
    for f in sorted((fer2013_root() / "test" / "happy").iterdir())[:300]:
        face = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)
        canvas = np.full((600, 800), 120, np.uint8)
        canvas[170:430, 270:530] = cv2.resize(face, (260, 260), interpolation=cv2.INTER_CUBIC)
        if len(det.detect(canvas)) == 1:
            cv2.imwrite(str(path), cv2.cvtColor(canvas, cv2.COLOR_GRAY2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
            return
    raise RuntimeError("no detectable happy face among the first 300 test images")


def test_an_uploaded_face_photo_draws_the_probability_chart_and_the_heat_map(tmp_path, fer_root, chromium_ok):
    photo = tmp_path / "face_photo.jpg"
    _face_photo(photo)
    with streamlit_server("app.py", timeout=120) as url, sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = open_page_from_navigation(browser, url, "Still images", {"width": 1400, "height": 1000})
            expect(page.get_by_text("Upload one or more images to start.")).to_be_visible(timeout=120_000)
            expect(page.locator('[data-testid="stSidebar"]').get_by_text("Face detector")).to_be_visible()
            t0 = time.monotonic()
            page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(photo))

            chart = page.locator('[data-testid="stPlotlyChart"]').first
            expect(chart).to_be_visible(timeout=FIRST_RESULT_TIMEOUT_MS)
            bars = chart.locator("g.trace.bars g.point")
            expect(bars).to_have_count(7, timeout=120_000)
            heights = bars.evaluate_all("els => els.map(e => e.getBoundingClientRect().height)")
            assert all(h > 0 for h in heights), heights

            heat = page.locator('[data-testid="stImage"]', has_text=re.compile("Occlusion|HiResCAM|Grad-CAM|SmoothGrad")).first
            expect(heat).to_be_visible(timeout=FIRST_RESULT_TIMEOUT_MS)
            img = heat.locator("img")
            page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=img.element_handle(),
                                   timeout=120_000)
            size = img.evaluate("img => [img.naturalWidth, img.naturalHeight]")
            assert size == [192, 192], size
            elapsed = time.monotonic() - t0

            expect(page.get_by_text("Face 1:")).to_be_visible()
            assert page.locator('[data-testid="stException"]').count() == 0
            print(f"upload -> chart and heat map: {elapsed:.1f} s")
        finally:
            browser.close()
        log = url.log()
        assert "Traceback" not in log and "Segmentation fault" not in log, log[-3000:]
