"""Run a command against a real two-node Ray cluster on loopback, then take the cluster down.

    unshare --net python tests/ray_cluster.py [--cpus-per-node N] -- COMMAND ...

Inside a fresh network namespace with only ``lo`` (``unshare --net``; this script brings ``lo``
up), so Ray can only pick 127.0.0.1 and no packet leaves the machine. A head (``ray start --head``)
and a second node (``ray start --address``) each run as a ``--block`` process of this script, in a
temp dir of their own; the command gets ``RAY_ADDRESS`` in its environment (and ``{address}`` in its
arguments replaced). Both nodes are stopped by their pids (SIGTERM: ``ray start --block`` then stops
everything it started), never by ``ray stop``, which would end every Ray on the machine. Exit code:
the command's; the first line printed is ``cluster-up-seconds: S``.
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))
UP_LINE = "block forever"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(args: list[str], log: Path, env: dict, timeout_s: float, tries: int = 3) -> subprocess.Popen:
    """``ray start ARGS --block``, up when it says so. Tried again when it exits early: on a starved
    machine Ray's own agents miss its fixed start-up deadlines (the raylet aborts waiting for the
    dashboard agent's ports), which is no fault of the code under test."""
    for attempt in range(tries):
        try:
            return _start_once(args, log, env, timeout_s)
        except RuntimeError as e:
            if attempt == tries - 1:
                raise
            print(f"retrying ray start: {str(e).splitlines()[0]}", file=sys.stderr, flush=True)
    raise AssertionError("unreachable")


def _start_once(args: list[str], log: Path, env: dict, timeout_s: float) -> subprocess.Popen:
    fh = open(log, "w")
    p = subprocess.Popen([RAY, "start", *args, "--block"], stdout=fh, stderr=subprocess.STDOUT, env=env,
                         start_new_session=True)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if UP_LINE in log.read_text():
            return p
        if p.poll() is not None:
            _kill_group(p)  # what it had started before failing
            raise RuntimeError(f"ray start {' '.join(args)} exited {p.returncode}:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)
    _stop(p)
    raise RuntimeError(f"ray start {' '.join(args)} not up after {timeout_s:.0f} s:\n{log.read_text()[-3000:]}")


def _kill_group(p: subprocess.Popen) -> None:
    """SIGKILL the process group of a ``ray start`` this script started (its own session)."""
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _stop(p: subprocess.Popen) -> None:
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            _kill_group(p)
            p.wait()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cpus-per-node", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=180.0)
    ap.add_argument("command", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    env = dict(os.environ, RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")
    port = _free_port()
    address = f"127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="rayt", dir="/tmp") as tmp:
        t0 = time.monotonic()
        common = ["--node-ip-address", "127.0.0.1", "--num-cpus", str(a.cpus_per_node), "--disable-usage-stats"]
        nodes = [_start(["--head", "--port", str(port), "--temp-dir", tmp, "--include-dashboard=false", *common],
                        Path(tmp) / "head.log", env, a.timeout)]
        try:
            nodes.append(_start(["--address", address, *common], Path(tmp) / "node2.log", env, a.timeout))
            print(f"cluster-up-seconds: {time.monotonic() - t0:.1f}", flush=True)
            run = subprocess.run([c.replace("{address}", address) for c in cmd], env=dict(env, RAY_ADDRESS=address))
            return run.returncode
        finally:
            for p in reversed(nodes):
                _stop(p)


if __name__ == "__main__":
    sys.exit(main())
