"""The explorer's confusion matrix in a real browser: clicking a cell must choose that true/predicted
pair. (Plotly heat maps send no selection events through st.plotly_chart, streamlit#8760, so the
chart carries invisible markers; only a real browser shows the click really arrives.)"""
from __future__ import annotations

import re
import shutil

import pytest

from fer.train.audit import ROOTS_ENV
from fer.config import CLASSES
from support import launch_chromium, open_page_from_navigation, streamlit_server

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import expect, sync_playwright  # noqa: E402


def test_clicking_a_confusion_cell_shows_that_pairs_images(tmp_path, fer_root, chromium_ok):
    root = tmp_path / "small"
    for c in CLASSES:  # a small labelled split of real faces: the model run takes a second
        (root / "test" / c).mkdir(parents=True)
        for f in sorted((fer_root / "test" / c).iterdir())[:12]:
            shutil.copy(f, root / "test" / c / f.name)
    env = {ROOTS_ENV: str(root), "FER_DATA_DIR": str(tmp_path / "no_fer_here")}
    with streamlit_server("app.py", env=env, timeout=120) as url, sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = open_page_from_navigation(browser, url, "Data set explorer")
            expect(page.get_by_text("Where the model disagrees")).to_be_visible(timeout=120_000)
            page.get_by_role("button", name=re.compile(r"^Run .* over test")).click()
            chart = page.locator('[data-testid="stPlotlyChart"]').filter(has_text="Confusion matrix")
            points = chart.locator("g.trace.scatter path.point")
            expect(points).to_have_count(len(CLASSES) ** 2, timeout=120_000)
            true_cls, pred_cls = "surprise", "happy"
            i, j = CLASSES.index(true_cls), CLASSES.index(pred_cls)
            points.nth(i * len(CLASSES) + j).click(force=True)
            # While Streamlit reruns, the faded previous copy of a widget can stand beside the new one,
            # so look for the chooser that holds the clicked value rather than "the" chooser.
            def chooser(label: str, value: str):
                return page.locator(f'input[role="combobox"][aria-label="{label}"][value="{value}"]').first

            expect(chooser("True class", true_cls)).to_be_visible(timeout=120_000)
            expect(chooser("Predicted as", pred_cls)).to_be_visible(timeout=120_000)
            outcome = page.get_by_text(re.compile(rf"labelled {true_cls}, predicted {pred_cls}|"
                                                  rf"No {true_cls} image was predicted as {pred_cls}"))
            expect(outcome.first).to_be_visible(timeout=120_000)
            assert page.locator('[data-testid="stException"]').count() == 0
        finally:
            browser.close()
        log = url.log()
        assert "Traceback" not in log, log[-3000:]


#: For each thumbnail caption: its text and the character offsets where its rendered lines start.
_LINE_STARTS_JS = """els => els.map(el => {
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  let text = "", starts = [], lastTop = null, node;
  while ((node = walker.nextNode())) {
    for (let i = 0; i < node.data.length; i++) {
      const r = document.createRange(); r.setStart(node, i); r.setEnd(node, i + 1);
      const rect = r.getClientRects()[0];
      if (rect && rect.width > 0) {
        if (lastTop === null || rect.top > lastTop + 2) starts.push(text.length + i);
        lastTop = rect.top;
      }
    }
    text += node.data;
  }
  return {text, starts};
})"""


def test_thumbnail_names_wrap_at_their_joints_not_mid_word(fer_root, chromium_ok):
    with streamlit_server("app.py", timeout=120) as url, sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = open_page_from_navigation(browser, url, "Data set explorer", {"width": 1400, "height": 1000})
            expect(page.get_by_text("Browse")).to_be_visible(timeout=120_000)
            captions = page.locator('[data-testid="stImageCaption"]')
            expect(captions.first).to_be_visible(timeout=120_000)
            lines = captions.evaluate_all(_LINE_STARTS_JS)
            assert len(lines) >= 8, lines
            wrapped = 0
            for c in lines:
                assert c["starts"] and c["starts"][0] == 0, c
                for i in c["starts"][1:]:
                    wrapped += 1
                    assert c["text"][i - 1] in "\u200b_-.", f"{c['text']!r} breaks mid-word at {i}"
            assert wrapped, "no name wrapped at all: the test would not notice a mid-word break"
        finally:
            browser.close()
