"""The Ray engine: Ray Data reads the files, ``map_batches`` runs ``FileAnalyser`` on a fixed pool of
actors (each loads the classifier and detector once), and ``write_parquet`` writes each finished
block into the output folder as it comes.

Without an address a Ray is started on this machine for the run; with one, the run joins that
cluster. This repository (code and models, not tests or benchmarks) is shipped to the workers as
the job's working directory; the input files must be readable at the same path on every node
(shared storage), like the output folder.
"""
from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import REPO_ROOT
from .local import BATCH_FILES

#: What of the repository the workers do not need (the job's working directory is uploaded).
SHIP_EXCLUDES = [".git", ".venv", "**/__pycache__", "tests", "bench", "**/*.keras", "**/checkpoint*", "*.md"]
#: Seconds to wait for a cluster's address to answer before giving up.
CONNECT_TIMEOUT_S = 5.0
#: CPU shares booked with Ray's scheduler: one CPU per actor (the work), none for the read and write
#: tasks (file I/O). Booking a share for them starved them beside a pool as big as the cluster:
#: with 1 CPU per actor Ray Data backpressured the reads forever, with 0.8 per actor and 0.05 per
#: read/write task they waited 40-60 s each to be scheduled (2 actors on 2 CPUs, machine loaded).
ACTOR_CPUS = 1.0
IO_TASK_CPUS = 0.0


class RayEngineError(RuntimeError):
    """Ray is missing, or the cluster can't be reached; the message says which."""


@dataclass(frozen=True)
class RayRun:
    workers: int
    address: str            # the cluster's address ("local" for one started for this run)
    nodes: int
    startup_s: float        # ray.init until the cluster answered


def _check_reachable(address: str) -> None:
    """Fail in seconds, not after Ray's own minute of retries, when nothing listens at ``address``."""
    if address == "auto":
        return
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise RayEngineError(f"--ray-address {address!r} is not HOST:PORT (e.g. 10.0.0.5:6379) or 'auto'")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as e:
        reason = "connection refused" if isinstance(e, ConnectionRefusedError) else (
            "timed out" if isinstance(e, socket.timeout) else (e.strerror or type(e).__name__).lower())
        raise RayEngineError(f"no Ray cluster answers at {address} ({reason}); start one with "
                             f"`ray start --head` there, or leave out --ray-address to run Ray on this machine") from None


def start(address: str | None, workers: int | None) -> RayRun:
    """Connect to (or start) Ray with this repository as the job's working directory."""
    import time
    try:
        import ray
    except ImportError:
        raise RayEngineError("the ray engine needs Ray: pip install -r requirements-ray.txt") from None
    if address:
        _check_reachable(address)
    t0 = time.perf_counter()
    env = {"working_dir": str(REPO_ROOT), "excludes": SHIP_EXCLUDES}
    try:
        if address:
            ray.init(address=address, runtime_env=env, log_to_driver=False, configure_logging=False)
        else:
            ray.init(runtime_env=env, include_dashboard=False, log_to_driver=False, configure_logging=False)
    except Exception as e:  # noqa: BLE001  (Ray raises bare Exception when its own node fails to start)
        where = f"join the Ray cluster at {address}" if address else "start Ray on this machine"
        raise RayEngineError(f"could not {where}: {e}") from None
    startup = time.perf_counter() - t0
    cpus = int(ray.cluster_resources().get("CPU", 1))
    nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
    return RayRun(workers or max(1, cpus), address or "local", nodes, startup)


def run_ray(paths: list[str], out: Path, workers: int, analyser_kwargs: dict[str, Any], progress: bool = True) -> None:
    """Read ``paths``, analyse them on ``workers`` actors, write Parquet files into ``out``."""
    import ray.data
    from .analyser import FileAnalyser, read_table
    from .sources import is_uri
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = progress
    blocks = max(1, min(len(paths) // BATCH_FILES, workers * 4))
    if any(is_uri(p) for p in paths):
        # Ray's reader wants one file system for all paths and names the rows without their scheme;
        # the local engine's reader keeps each URI as given (and the rerun's skip list matching).
        ds = ray.data.from_items([{"path": p} for p in paths], override_num_blocks=blocks)
        ds = ds.map_batches(read_table, batch_size=BATCH_FILES, batch_format="pyarrow", num_cpus=IO_TASK_CPUS)
    else:
        ds = ray.data.read_binary_files(paths, include_paths=True, num_cpus=IO_TASK_CPUS, override_num_blocks=blocks)
    ds = ds.map_batches(FileAnalyser, fn_constructor_kwargs=analyser_kwargs, batch_size=BATCH_FILES,
                        batch_format="pyarrow", compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=ACTOR_CPUS)
    ds.write_parquet(str(out), ray_remote_args={"num_cpus": IO_TASK_CPUS})


def stop() -> None:
    import ray
    ray.shutdown()
