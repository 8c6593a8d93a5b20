"""How the server is configured: no file watching (it filled the log with inotify overflows), only
viewer tools in Streamlit's toolbar, and HTTPS with one documented command (cameras need a secure
context off localhost)."""
from __future__ import annotations

import os
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import support

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import expect, sync_playwright  # noqa: E402


def _inotify_watches(pid: int) -> int:
    """Inotify watches held by the process: one 'inotify wd:' line per watched directory."""
    n = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            if os.readlink(fd) == "anon_inode:inotify":
                n += sum(line.startswith("inotify wd:") for line in Path(f"/proc/{pid}/fdinfo/{fd.name}").read_text().splitlines())
        except OSError:
            continue
    return n


def test_the_server_watches_no_files_and_shows_only_viewer_tools(chromium_ok):
    with support.streamlit_server("app.py", repo_watcher_config=True) as url, sync_playwright() as pw:
        browser = support.launch_chromium(pw)
        try:
            page = support.open_page_from_navigation(browser, url, "Model report")
            expect(page.get_by_role("heading", name="Model report")).to_be_visible(timeout=120_000)
            page.wait_for_timeout(2000)  # a session's source watcher starts with its first script run
            watches = _inotify_watches(url.proc.pid)
            # Streamlit's developer tools (Deploy; Rerun, Clear cache in the menu) are not offered
            assert page.get_by_role("button", name="Deploy").count() == 0
            page.locator('[data-testid="stMainMenu"]').click()
            menu = page.locator('[data-testid="stMainMenuPopover"]')
            expect(menu).to_be_visible()
            assert menu.get_by_text("Clear cache").count() == 0 and menu.get_by_text("Rerun").count() == 0, \
                menu.inner_text()
        finally:
            browser.close()
    assert watches == 0, f"the server holds {watches} inotify watches on the checkout"
    assert "Inotify" not in url.log()


def _get(url: str, context: ssl.SSLContext | None = None) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5, context=context) as r:
        return r.status, r.read().decode()


def test_serve_https_makes_a_certificate_and_serves_the_app_over_https(tmp_path, chromium_ok):
    port = support.free_port()
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    log = tmp_path / "server.log"
    cmd = [sys.executable, str(support.REPO_ROOT / "scripts" / "serve_https.py"), "--cert", str(cert),
           "--key", str(key), "--", f"--server.port={port}", "--server.address=127.0.0.1",
           "--server.headless=true", "--browser.gatherUsageStats=false"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=support.REPO_ROOT, env=support._server_env(None), stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        trust = ssl.create_default_context(cafile=str(cert)) if _wait_for(cert, proc) else None
        deadline = time.monotonic() + 120
        while True:
            try:
                status, body = _get(f"https://127.0.0.1:{port}/_stcore/health", trust)
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("no HTTPS answer:\n" + log.read_text(errors="replace")[-3000:])
                time.sleep(0.3)
        assert (status, body) == (200, "ok")
        assert oct(key.stat().st_mode & 0o777) == "0o600"
        with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
            _get(f"http://127.0.0.1:{port}/_stcore/health")  # plain HTTP is not served
        with sync_playwright() as pw:
            browser = support.launch_chromium(pw, extra_args=["--ignore-certificate-errors"])
            try:
                page = browser.new_page()
                page.goto(f"https://127.0.0.1:{port}/", wait_until="domcontentloaded", timeout=120_000)
                expect(page.get_by_role("heading", name="Live expressions")).to_be_visible(timeout=120_000)
                secure = page.evaluate("() => [window.isSecureContext, !!(navigator.mediaDevices && "
                                       "navigator.mediaDevices.getUserMedia)]")
                assert secure == [True, True]
            finally:
                browser.close()
    finally:
        support.kill_process_group(proc)


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    time.sleep(0.2)  # written in one call; give it a moment to be complete
    return True
