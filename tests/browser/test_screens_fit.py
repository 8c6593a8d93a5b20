"""A screenshot pass over every page in a real Chromium at 1400x900 and 1920x1080, each page showing
real content (a live session's summary, a three-face photo with heat maps, FER2013 in the explorer,
the shipped model's report): nothing may be cut. Cut means a metric value or label clipped, any text
ending in an ellipsis because it did not fit, a picker's chosen value clipped (the sidebar's model and
detector pickers), a table that needs a sideways scroll, or the main area itself scrolling sideways.

The screenshots are written to a temporary folder (its path is printed) for a person to look at.
"""
from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

import live_driver as drive
from support import launch_chromium, open_page_from_navigation, streamlit_server

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import expect, sync_playwright  # noqa: E402

VIEWPORTS = ({"width": 1400, "height": 900}, {"width": 1920, "height": 1080})

#: Everything that counts as cut, as one list of short descriptions (empty: nothing cut).
CUT_JS = """() => {
  const main = document.querySelector('[data-testid="stMain"]');
  const side = document.querySelector('[data-testid="stSidebar"]');
  const cut = [];
  const name = e => (e.getAttribute('data-testid') || e.tagName.toLowerCase()) + ' "' +
                    (e.innerText || e.textContent || '').trim().slice(0, 50) + '"';
  const visible = e => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden';
  document.querySelectorAll('[data-testid="stMetricValue"], [data-testid="stMetricLabel"]').forEach(m => {
    if (!visible(m)) return;
    for (const el of [m, ...m.querySelectorAll('*')]) {
      if (el.scrollWidth > el.clientWidth + 1) { cut.push('metric clipped: ' + name(m)); break; }
    }
  });
  for (const root of [main, side]) {
    if (!root) continue;
    root.querySelectorAll('*').forEach(el => {
      // Text only: the file uploader's hidden <input> carries the style with nothing to show.
      if (!visible(el) || el.tagName === 'INPUT' || !(el.innerText || '').trim()) return;
      if (getComputedStyle(el).textOverflow !== 'ellipsis') return;
      if (el.scrollWidth > el.clientWidth + 1) cut.push('text cut with an ellipsis: ' + name(el));
    });
  }
  // A picker's chosen value, clipped at the picker's width: it is shown in the picker's <input>.
  document.querySelectorAll('[data-testid="stSelectbox"]').forEach(sel => {
    if (!visible(sel)) return;
    sel.querySelectorAll('input').forEach(inp => {
      if (inp.scrollWidth > inp.clientWidth + 1) cut.push('picker value clipped: ' + inp.value.slice(0, 60));
    });
  });
  if (main && main.scrollWidth > main.clientWidth + 1) cut.push('the main area scrolls sideways');
  document.querySelectorAll('[data-testid="stMain"] [data-testid="stDataFrame"]').forEach(df => {
    df.querySelectorAll('.dvn-scroller').forEach(s => {
      if (s.scrollWidth > s.clientWidth + 1) {
        const head = [...df.querySelectorAll('[role="columnheader"]')].map(h => h.innerText.trim()).join(',');
        cut.push('table needs a sideways scroll: ' + head.slice(0, 80));
      }
    });
  });
  return cut;
}"""


def settle(page, seconds: float = 1.5) -> None:
    """Wait until Streamlit has stopped running the script, every placeholder (skeleton) has been
    replaced by its element, and the layout stopped moving."""
    deadline = time.monotonic() + 120
    busy = '[data-testid="stStatusWidget"], [data-testid="stSkeleton"], [data-stale="true"]'
    while time.monotonic() < deadline:
        if page.locator(busy).count() == 0:
            break
        page.wait_for_timeout(250)
    page.wait_for_timeout(int(seconds * 1000))


def check_both_sizes(page, shots, name: str) -> list[str]:
    """Screenshot the page at each viewport and collect what is cut at each."""
    problems = []
    for vp in VIEWPORTS:
        page.set_viewport_size(vp)
        settle(page)
        page.screenshot(path=str(shots / f"{name}-{vp['width']}x{vp['height']}.png"), full_page=True)
        problems += [f"{name} at {vp['width']}x{vp['height']}: {c}" for c in page.evaluate(CUT_JS)]
    return problems


def group_photo(path, root) -> None:
    """Three real FER2013 faces of different sizes on a 1000x700 canvas, as a photo: the first three
    consecutive happy test faces the default detector finds all of there (chosen by the detector only)."""
    from fer.faces.detectors import DetectorSettings, make_detector
    detector = make_detector(DetectorSettings())
    files = sorted((root / "test" / "happy").iterdir())[:120]
    for start in range(0, len(files) - 2):
        canvas = np.full((700, 1000), 125, np.uint8)
        for (x, y, side), f in zip([(80, 60, 200), (560, 80, 260), (330, 400, 230)], files[start:start + 3]):
            face = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)
            canvas[y:y + side, x:x + side] = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
        bgr = cv2.cvtColor(canvas, cv2.COLOR_GRAY2BGR)
        if len(detector.detect(canvas if detector.takes == "gray" else bgr)) == 3:
            cv2.imwrite(str(path), bgr, [cv2.IMWRITE_JPEG_QUALITY, 92])
            return
    pytest.fail("the default detector never found all three pasted faces")


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    out = tmp_path_factory.mktemp("screens")
    print(f"screenshots in {out}")
    return out


def test_nothing_is_cut_on_any_page_at_either_screen_size(fake_media, fer_root, shots, tmp_path, chromium_ok):
    photo = tmp_path / "group.jpg"
    group_photo(photo, fer_root)
    problems: list[str] = []
    with streamlit_server("app.py", timeout=120) as url, sync_playwright() as pw:
        browser = launch_chromium(pw, fake_media.camera_y4m)
        try:
            # Live: a short session, stopped, so the panel and the session summary are on screen.
            page = drive.new_page(browser)
            page.set_viewport_size(VIEWPORTS[0])
            frame, _ = drive.open_live_page(page, url)
            drive.press(frame, "Start")
            drive.wait_processed(page, 30)
            page.wait_for_timeout(1500)
            drive.press(frame, "Stop")
            expect(page.get_by_text("Session summary")).to_be_visible(timeout=60_000)
            problems += check_both_sizes(page, shots, "live")
            page.context.close()

            page = open_page_from_navigation(browser, url, "Still images", VIEWPORTS[0])
            expect(page.get_by_text("Upload one or more images to start.")).to_be_visible(timeout=120_000)
            page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(photo))
            expect(page.get_by_text("Face 3:")).to_be_visible(timeout=120_000)
            expect(page.locator('[data-testid="stImage"]', has_text="Occlusion")).to_have_count(3, timeout=120_000)
            problems += check_both_sizes(page, shots, "still")
            page.close()

            page = open_page_from_navigation(browser, url, "Data set explorer", VIEWPORTS[0])
            expect(page.locator('[data-testid="stMetricLabel"]', has_text="Images")).to_be_visible(timeout=120_000)
            problems += check_both_sizes(page, shots, "explorer")
            page.close()

            page = open_page_from_navigation(browser, url, "Model report", VIEWPORTS[0])
            expect(page.get_by_text("Model card", exact=True)).to_be_visible(timeout=120_000)
            problems += check_both_sizes(page, shots, "report")
            page.close()
        finally:
            browser.close()
        log = url.log()
        assert "Traceback" not in log, log[-3000:]
    assert not problems, "\n".join(problems)
