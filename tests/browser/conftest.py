"""Fixtures for real-browser tests: a loopback-only network, Debian's Chromium, fake camera footage.

Every test here runs a real ``streamlit run app.py`` and a real headless Chromium, so they are
slow (tens of seconds each) but need nothing outside this machine: the whole pytest process moves
into a network namespace that has only ``lo`` before the first browser test starts.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

import fake_camera
import support


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: starts a real Streamlit server and headless Chromium")


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session", autouse=True)
def loopback_netns():
    """Move the test process into a network namespace with only ``lo`` (needs root).

    ``FER_BROWSER_HOST_NETWORK=1`` runs on the host network instead (for a non-root developer)."""
    if support.in_loopback_only_netns():
        return
    try:
        support.enter_loopback_netns()
    except (OSError, FileNotFoundError) as e:
        if os.environ.get("FER_BROWSER_HOST_NETWORK") == "1":
            return
        pytest.skip(f"browser tests need a loopback-only network namespace (run as root): {e}")


@pytest.fixture(scope="session")
def chromium_ok():
    if not support.chromium_available():
        pytest.skip(f"{support.CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium)")


@dataclass(frozen=True)
class FakeMedia:
    """Footage of clear happy faces, as the fake camera (y4m) and as an uploadable file (mp4)."""
    faces: list[fake_camera.PickedFace]
    camera_y4m: Path
    upload_mp4: Path


@pytest.fixture(scope="session")
def fake_media(tmp_path_factory, fer_root, classifier) -> FakeMedia:
    """Built at test time (a few seconds): the happy test images the model under test reads as most
    clearly happy and Haar finds, upscaled on a gray 640x480 canvas."""
    from fer.faces.detection import FaceDetector
    picked = fake_camera.pick_faces(classifier, FaceDetector(), "happy", n=1, root=fer_root)
    out = tmp_path_factory.mktemp("fake_media")
    video = fake_camera.frames([picked[0].image], seconds=5.0)
    return FakeMedia(picked, fake_camera.write_y4m(out / "camera.y4m", video),
                     fake_camera.write_mp4(out / "upload.mp4", video))
