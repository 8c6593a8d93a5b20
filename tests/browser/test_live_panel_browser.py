"""The live panel with four real faces in view, in a 1400 px wide Chromium: the faces are listed
in track-id order on every refresh, and the per-face table fits the panel (no sideways scrolling,
nothing past the panel's edge)."""
from __future__ import annotations

import re

import pytest

import fake_camera
import live_driver as drive
import support

TABLE_JS = """() => {
  const df = document.querySelector('[data-testid="stMain"] [data-testid="stDataFrame"]');
  if (!df) return null;
  const col = df.closest('[data-testid="stColumn"]');
  const scroller = df.querySelector('.dvn-scroller');
  const r = df.getBoundingClientRect(), c = col.getBoundingClientRect();
  return {right: r.right, colRight: c.right, width: r.width, colWidth: c.width,
          scrollWidth: scroller ? scroller.scrollWidth : 0, clientWidth: scroller ? scroller.clientWidth : 0};
}"""


@pytest.fixture(scope="module")
def four_face_camera(tmp_path_factory, fer_root, classifier):
    from fer.faces.detection import FaceDetector
    picked = fake_camera.pick_faces(classifier, FaceDetector(), "happy", n=4, root=fer_root)
    video = fake_camera.frames([p.image for p in picked], seconds=5.0)
    return fake_camera.write_y4m(tmp_path_factory.mktemp("four") / "camera.y4m", video)


def test_four_faces_are_listed_by_track_id_and_their_table_fits_at_1400_px(chromium_ok, four_face_camera,
                                                                            tmp_path_factory):
    from playwright.sync_api import sync_playwright
    log = tmp_path_factory.mktemp("server") / "streamlit.log"
    orders, tables = [], []
    with sync_playwright() as p:
        browser = support.launch_chromium(p, four_face_camera)
        try:
            with support.streamlit_server(log_path=log) as url:
                page = drive.new_page(browser)  # 1400 x 1000
                try:
                    frame, _ = drive.open_live_page(page, url)
                    drive.press(frame, "Start")
                    drive.wait_processed(page, 20)
                    for _ in range(16):
                        text = page.locator('[data-testid="stMain"]').inner_text()
                        ids = [int(i) for i in re.findall(r"Face #(\d+):", text)]
                        if len(ids) >= 2:
                            orders.append(ids)
                            tables.append(page.evaluate(TABLE_JS))
                        page.wait_for_timeout(500)
                    drive.press(frame, "Stop")
                except Exception as e:
                    shot = log.with_suffix(".png")
                    page.screenshot(path=str(shot), full_page=True)
                    raise RuntimeError(f"{e}\n(screenshot: {shot})\n" + "\n".join(url.log().splitlines()[-40:])) from e
                finally:
                    page.context.close()
        finally:
            browser.close()
    assert len(orders) >= 6, f"the panel seldom showed several faces: {orders}"
    assert any(len(ids) == 4 for ids in orders), orders
    assert all(ids == sorted(ids) for ids in orders), f"faces not in track-id order: {orders}"
    tables = [t for t in tables if t]
    assert tables, "no per-face table was drawn"
    print("table vs panel:", tables[-1])
    for t in tables:
        assert t["right"] <= t["colRight"] + 1, t
        assert t["scrollWidth"] <= t["clientWidth"] + 1, f"the table scrolls sideways: {t}"
