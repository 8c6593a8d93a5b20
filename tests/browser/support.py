"""Helpers for real-browser tests: a free port, a `streamlit run` server in its own process group,
Debian's headless Chromium with a fake camera, and a loopback-only network namespace.

Why these exact pieces: see ../shared/WEBRTC_TESTING.md (Chromium gathers no ICE candidates without
``--allow-loopback-in-peer-connection``; aioice never offers 127.0.0.1 unless FER_ICE_LOOPBACK=1).
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CLONE_NEWNET = 0x40000000


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_env(env: dict | None) -> dict:
    # Without these streamlit-webrtc would try to fetch TURN credentials from the network.
    e = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "CLOUDFLARE_TURN_")) and k != "HF_TOKEN"}
    e["FER_ICE_LOOPBACK"] = "1"
    e["PYTHONUNBUFFERED"] = "1"
    e.update(env or {})
    return e


def _wait_until_up(url: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode} before answering")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(0.2)
    raise TimeoutError(f"streamlit did not answer at {url} within {timeout:.0f} s")


def kill_process_group(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM the process's whole group, then SIGKILL what is left after ``grace`` seconds."""
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        pgid = proc.pid
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        if not process_group_alive(pgid):
            break
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def process_group_members(pgid: int) -> list[int]:
    """Pids of the live (non-zombie) processes in group ``pgid``."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def process_group_alive(pgid: int) -> bool:
    """True while any live process of group ``pgid`` exists (killpg(0) also counts zombies)."""
    return bool(process_group_members(pgid))


def aftermath(server: "StreamlitServer") -> tuple[str, bool, list[int]]:
    """What a stopped server left: its whole log, whether any process of its group still lives, and
    the pids of any process still started with its port."""
    port = server.rsplit(":", 1)[1]
    return server.log(), process_group_alive(server.pgid), processes_with_arg(f"--server.port={port}")


class StreamlitServer(str):
    """The base URL (a ``str``) plus the process, its log file and its process group id."""
    proc: subprocess.Popen
    log_path: Path
    pgid: int

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def serve_command(app: str, root: Path) -> list[str]:
    """How the product is started: ``deploy/launch.py`` (the README's command: ``streamlit run
    app.py`` with the heavy libraries loaded first) where ``root`` has it, else ``streamlit run``
    (an older copy of the code, another app)."""
    launcher = Path(root) / "deploy" / "launch.py"
    if app == "app.py" and launcher.is_file():
        return [sys.executable, str(launcher)]
    return [sys.executable, "-m", "streamlit", "run", app]


@contextlib.contextmanager
def streamlit_server(app: str = "app.py", env: dict | None = None, port: int | None = None,
                     timeout: float = 120.0, log_path: Path | None = None,
                     cwd: Path | None = None, repo_watcher_config: bool = False) -> Iterator[StreamlitServer]:
    """Run ``streamlit run app`` (headless, own process group, FER_ICE_LOOPBACK=1) from the repo root
    (or ``cwd``, e.g. an older copy of the code); yield its base URL once it answers; kill the whole
    process group on exit. File watching is off unless ``repo_watcher_config`` leaves it to
    .streamlit/config.toml (to test that file)."""
    port = port or free_port()
    if log_path is None:
        import tempfile
        log_path = Path(tempfile.mkstemp(prefix="streamlit-", suffix=".log")[1])
    cmd = [*serve_command(app, cwd or REPO_ROOT), "--server.headless=true",
           f"--server.port={port}", "--server.address=127.0.0.1", "--browser.gatherUsageStats=false"]
    if not repo_watcher_config:
        cmd += ["--server.fileWatcherType=none", "--server.runOnSave=false"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=cwd or REPO_ROOT, env=_server_env(env), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    url = StreamlitServer(f"http://127.0.0.1:{port}")
    url.proc, url.log_path, url.pgid = proc, log_path, proc.pid
    try:
        _wait_until_up(url, proc, timeout)
        yield url
    finally:
        kill_process_group(proc)


def chromium_args(fake_video: Path | None = None) -> list[str]:
    """Flags for headless Chromium with a fake camera that works on loopback (WEBRTC_TESTING.md)."""
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            "--allow-loopback-in-peer-connection"]
    if fake_video is not None:
        args.append(f"--use-file-for-fake-video-capture={Path(fake_video).resolve()}")
    return args


def chromium_available() -> bool:
    return Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)


def launch_chromium(playwright, fake_video: Path | None = None, extra_args: list[str] | None = None):
    """Debian's Chromium (never a Playwright-downloaded one), headless, with the fake camera flags."""
    if not chromium_available():
        raise RuntimeError(f"{CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium)")
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                      args=chromium_args(fake_video) + list(extra_args or []))


def enter_loopback_netns() -> None:
    """Move this process (and everything it starts later) into a fresh network namespace with only
    ``lo`` up, so no packet can leave 127.0.0.1. Needs root (CAP_SYS_ADMIN); raises OSError otherwise."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare(CLONE_NEWNET) failed: {os.strerror(err)}")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)


def in_loopback_only_netns() -> bool:
    """True when the only network interface is ``lo`` (we are inside such a namespace)."""
    # /proc/self/net follows this process's namespace (/sys/class/net follows sysfs's mount).
    lines = Path("/proc/self/net/dev").read_text().splitlines()[2:]
    return [ln.split(":", 1)[0].strip() for ln in lines] == ["lo"]


def processes_with_arg(arg: str) -> list[int]:
    """Pids of live (non-zombie) processes whose command line contains ``arg`` (to prove a server is gone)."""
    found = []
    for d in Path("/proc").glob("[0-9]*"):
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (d / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if arg in cmd and state != "Z" and int(d.name) != os.getpid():
            found.append(int(d.name))
    return found


def open_page_from_navigation(browser, url: str, title: str, viewport: dict | None = None):
    """A new tab that enters through app.py, as a user does, then clicks ``title`` in the sidebar
    navigation. (A first request straight to a page's URL on a fresh server would run that page
    without app.py: Streamlit's legacy pages/-folder mode stays on until app.py has run once.)"""
    from playwright.sync_api import expect
    page = browser.new_page(viewport=viewport or {"width": 1400, "height": 1100})
    page.set_default_timeout(120_000)  # a starved 2-core machine took minutes per step
    page.goto(url, wait_until="domcontentloaded")
    nav = page.locator('[data-testid="stSidebarNav"]')
    expect(nav.get_by_text(title)).to_be_visible(timeout=120_000)
    nav.get_by_text(title).click()
    return page


def group_rss_mb(pgid: int) -> float:
    """Resident memory of every live process in group ``pgid`` (e.g. a server's), in MB."""
    total_kb = 0
    for pid in process_group_members(pgid):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        total_kb += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return total_kb / 1024


def group_cpu_s(pgid: int) -> float:
    """User + system CPU seconds used so far by the live processes of group ``pgid``."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in process_group_members(pgid):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / ticks


def group_file_mappings(pgid: int, suffix: str) -> int:
    """How many memory mappings of files whose path ends with ``suffix`` the processes of group
    ``pgid`` hold. A LiteRT interpreter built from a path mmaps its model file once, so the count of
    ``model.tflite`` mappings is the count of interpreters alive in the server."""
    count = 0
    for pid in process_group_members(pgid):
        try:
            lines = Path(f"/proc/{pid}/maps").read_text().splitlines()
        except OSError:
            continue
        count += sum(1 for line in lines if line.rstrip().endswith(suffix))
    return count
