"""Run N replicas of the app behind nginx, with session affinity: one command for the whole site.

    python deploy/serve.py --replicas 2 --port 8500

Each replica is a `streamlit run app.py` (through deploy/launch.py) on 127.0.0.1 (ports
``--first-port`` and up), loading its model once; nginx (Debian's, ``apt-get install nginx``)
listens on ``--host:--port`` and sends each browser to one replica for its whole visit
(deploy/nginx.conf.template). The video itself does not pass through nginx: each replica's WebRTC media goes straight between it and the browser, so a real
deployment needs STUN/TURN (``FER_ICE_SERVERS``, see docs/deployment.md).

Prints one ``replica N pid P port Q`` line per replica and ``nginx pid P port Q``, writes the same as
JSON to ``--state`` if given, and stops everything it started on SIGINT/SIGTERM. A replica that
exits is reported and left down (the others keep serving; nginx moves its viewers on reload).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = Path(__file__).with_name("nginx.conf.template")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


@dataclass
class Started:
    name: str
    pid: int
    port: int


def render_config(prefix: Path, listen: str, ports: list[int], max_body: str = "60m") -> str:
    servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=30s;" for p in ports)
    return (TEMPLATE.read_text().replace("@@PREFIX@@", str(prefix)).replace("@@LISTEN@@", listen)
            .replace("@@SERVERS@@", servers).replace("@@MAX_BODY@@", max_body))


def start_replica(i: int, port: int, log_dir: Path, extra_env: dict) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1", FER_REPLICA_ADDR=f"127.0.0.1:{port}", **extra_env)
    cmd = [sys.executable, str(REPO / "deploy" / "launch.py"), "--server.headless=true",
           f"--server.port={port}", "--server.address=127.0.0.1", "--browser.gatherUsageStats=false",
           "--server.fileWatcherType=none", "--server.runOnSave=false"]
    log = open(log_dir / f"replica{i}.log", "wb")  # noqa: SIM115 - stays open for the child
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)


def wait_healthy(port: int, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the replica on port {port} exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    raise TimeoutError(f"the replica on port {port} did not answer within {timeout:.0f} s")


def stop(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM the child's process group, SIGKILL it after ``grace`` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--replicas", type=int, default=2)
    ap.add_argument("--host", default="0.0.0.0", help="address nginx listens on")
    ap.add_argument("--port", type=int, default=8500, help="port nginx listens on")
    ap.add_argument("--first-port", type=int, default=8601, help="port of replica 1; the others follow")
    ap.add_argument("--run-dir", type=Path, help="nginx config, pid and logs (default: a temporary folder)")
    ap.add_argument("--state", type=Path, help="write the started pids and ports here (JSON)")
    ap.add_argument("--startup-timeout", type=float, default=180.0)
    args = ap.parse_args()
    if args.replicas < 1:
        ap.error("--replicas must be at least 1")
    if not Path(NGINX).exists():
        sys.exit(f"nginx not found ({NGINX}): apt-get install -y nginx")
    run_dir = args.run_dir or Path(tempfile.mkdtemp(prefix="fer-deploy-"))
    run_dir.mkdir(parents=True, exist_ok=True)
    for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (run_dir / sub).mkdir(exist_ok=True)
        os.chmod(run_dir / sub, 0o777)  # nginx's workers drop root to nobody
    ports = [args.first_port + i for i in range(args.replicas)]
    conf = run_dir / "nginx.conf"
    conf.write_text(render_config(run_dir, f"{args.host}:{args.port}", ports))

    children: list[tuple[Started, subprocess.Popen]] = []

    def shutdown(*_):
        for _, proc in reversed(children):
            stop(proc)
        sys.exit(0)

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    try:
        procs = [start_replica(i + 1, port, run_dir, {}) for i, port in enumerate(ports)]
        for i, (port, proc) in enumerate(zip(ports, procs)):
            children.append((Started(f"replica {i + 1}", proc.pid, port), proc))
        for port, proc in zip(ports, procs):
            wait_healthy(port, proc, args.startup_timeout)
        subprocess.run([NGINX, "-t", "-q", "-c", str(conf), "-p", str(run_dir)], check=True)
        nginx = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(run_dir), "-g", "daemon off;"],
                                 start_new_session=True, stdin=subprocess.DEVNULL)
        children.append((Started("nginx", nginx.pid, args.port), nginx))
        for started, _ in children:
            print(f"{started.name} pid {started.pid} port {started.port}", flush=True)
        if args.state:
            args.state.write_text(json.dumps([asdict(s) for s, _ in children]))
        print(f"serving on http://{args.host}:{args.port} (logs in {run_dir})", flush=True)
        reported = set()
        while True:
            for started, proc in children:
                if proc.poll() is not None and started.name not in reported:
                    reported.add(started.name)
                    print(f"{started.name} exited with code {proc.returncode}", flush=True)
                    if started.name == "nginx":
                        shutdown()
            time.sleep(1)
    except BaseException:
        for _, proc in reversed(children):
            stop(proc)
        raise


if __name__ == "__main__":
    main()
