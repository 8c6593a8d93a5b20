"""What a user sees when things go wrong on the live page: a message, never a stack trace."""
from __future__ import annotations

import json
import shutil

import pytest

import live_driver as drive
import support

EXCEPTION = '[data-testid="stException"]'


def _main_text(page) -> str:
    return page.locator('[data-testid="stMain"]').inner_text()


@pytest.fixture(scope="module")
def playwright_obj():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        yield p


def test_refused_camera_shows_why_and_what_to_do(chromium_ok, classifier, playwright_obj, tmp_path):
    # No --use-fake-ui-for-media-stream: the permission prompt is denied, as if the user said no.
    args = [a for a in support.chromium_args(None) if a != "--use-fake-ui-for-media-stream"]
    browser = playwright_obj.chromium.launch(executable_path=support.CHROMIUM, headless=True,
                                             args=args + ["--deny-permission-prompts"])
    try:
        with support.streamlit_server(log_path=tmp_path / "server.log") as url:
            page = drive.new_page(browser)
            frame, _ = drive.open_live_page(page, url)
            drive.press(frame, "Start")
            frame.get_by_text("Permission denied").wait_for(timeout=30_000)
            assert "allow the camera" in _main_text(page)
            assert page.locator(EXCEPTION).count() == 0
    finally:
        browser.close()
    assert "Traceback" not in (tmp_path / "server.log").read_text()


def _broken_models_dir(tmp_path, classifier):
    """A models folder whose default model has valid metadata but a corrupt LiteRT file."""
    from fer.config import DEFAULT_MODEL_NAME
    d = tmp_path / "models" / DEFAULT_MODEL_NAME
    d.mkdir(parents=True)
    (d / "metadata.json").write_text(json.dumps(classifier.info.metadata))
    (d / "model.tflite").write_bytes(b"not a flatbuffer" * 64)
    return d.parent


@pytest.mark.parametrize("case", ["corrupt model", "no model"])
def test_a_model_that_cannot_load_is_a_message_and_start_still_shows(case, chromium_ok, classifier, playwright_obj,
                                                                    tmp_path):
    if case == "corrupt model":
        models, expected = _broken_models_dir(tmp_path, classifier), "The model could not be loaded"
    else:
        models, expected = tmp_path / "empty_models", "No model to run"
        models.mkdir()
    browser = support.launch_chromium(playwright_obj)
    try:
        with support.streamlit_server(env={"FER_MODELS_DIR": str(models)}, log_path=tmp_path / "server.log") as url:
            page = drive.new_page(browser)
            drive.open_live_page(page, url)  # START is on the page even though no model will run
            page.get_by_text(expected).first.wait_for(timeout=60_000)
            assert page.locator(EXCEPTION).count() == 0
    finally:
        browser.close()
    assert "Traceback" not in (tmp_path / "server.log").read_text()
    shutil.rmtree(models, ignore_errors=True)
