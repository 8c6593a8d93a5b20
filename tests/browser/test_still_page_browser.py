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
from fer.faces.detection import DetectorSettings, FaceDetector
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


def test_uploads_survive_a_page_switch_and_small_photos_keep_their_size(tmp_path, fer_root, chromium_ok):
    photo = tmp_path / "face_photo.jpg"
    _face_photo(photo)
    # A small photo with no face in it (the default detector finds a face in nearly every tight crop):
    # the composing canvas, with nothing pasted.
    from fer.faces.detectors import make_detector
    from fer.train.compose import compose
    crop = compose([], 192, 192)[0]
    assert make_detector().detect(crop) == [], "the faceless photo has a face"
    small = tmp_path / "small_crop.png"
    cv2.imwrite(str(small), crop)
    with streamlit_server("app.py", timeout=120) as url, sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = open_page_from_navigation(browser, url, "Still images", {"width": 1400, "height": 1000})
            page.get_by_text("Show heat maps").click()  # keep TensorFlow out of this test
            page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files([str(photo), str(small)])
            expect(page.get_by_text("Face 1:")).to_be_visible(timeout=FIRST_RESULT_TIMEOUT_MS)
            expect(page.get_by_text("No face found in small_crop.png")).to_be_visible(timeout=60_000)

            # a 192 px crop is shown at 192 px, not stretched to the page width; its message stays in view
            shown = page.locator('[data-testid="stImage"]', has_text="small_crop.png").locator("img")
            width = shown.evaluate("img => img.getBoundingClientRect().width")
            assert width <= 200, f"a 192 px image was shown {width:.0f} px wide"
            shown.scroll_into_view_if_needed()
            expect(page.get_by_text("No face found in small_crop.png")).to_be_in_viewport()

            nav = page.locator('[data-testid="stSidebarNav"]')
            nav.get_by_text("Model report").click()
            expect(page.get_by_role("heading", name="Model report")).to_be_visible(timeout=60_000)
            nav.get_by_text("Still images").click()
            expect(page.get_by_text("Still here from before you switched pages")).to_be_visible(timeout=60_000)
            expect(page.get_by_text("Face 1:")).to_be_visible(timeout=FIRST_RESULT_TIMEOUT_MS)
            expect(page.get_by_text("No face found in small_crop.png")).to_be_visible(timeout=FIRST_RESULT_TIMEOUT_MS)

            page.get_by_role("button", name="Forget them").click()
            expect(page.get_by_text("Upload one or more images to start.")).to_be_visible(timeout=60_000)
            assert page.locator('[data-testid="stException"]').count() == 0
        finally:
            browser.close()
        log = url.log()
        assert "Traceback" not in log, log[-3000:]
