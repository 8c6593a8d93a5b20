"""The Ray engine: a Ray Data dataset of the input paths, split into blocks; ``map_batches`` runs
``FileAnalyser`` on a fixed pool of actors (each loads the classifier and detector once, runs one
OpenCV thread on its one booked CPU, and reads its own files, paths or URIs); ``write_parquet``
writes each finished block into the output folder as it comes.

Without an address a Ray is started on this machine for the run; with one, the run joins that
cluster. This repository (code and models, not tests or benchmarks) is shipped to the workers as
the job's working directory; the input files must be readable at the same path on every node
(shared storage), like the output folder.
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...config import REPO_ROOT
from .local import BATCH_FILES

#: What of the repository the workers do not need (the job's working directory is uploaded).
SHIP_EXCLUDES = [".git", ".venv", "**/__pycache__", "tests", "bench", "**/*.keras", "**/checkpoint*", "*.md"]
#: Seconds to wait for a cluster's address to answer before giving up.
CONNECT_TIMEOUT_S = 5.0
#: CPU shares booked with Ray's scheduler: one CPU per actor (the work, its files' reads included),
#: none for the write tasks (file I/O). Booking a share for I/O tasks starved them beside a pool as big as the cluster:
#: with 1 CPU per actor Ray Data backpressured the reads forever, with 0.8 per actor and 0.05 per
#: read/write task they waited 40-60 s each to be scheduled (2 actors on 2 CPUs, machine loaded).
ACTOR_CPUS = 1.0
IO_TASK_CPUS = 0.0
#: Blocks (units of work an actor takes at a time) per actor, at most; at least BATCH_FILES files each.
#: (12 a worker measured 1.54x for 2 workers against 1, 4 a worker 1.66x: within the noise.)
BLOCKS_PER_ACTOR = 4
#: Actors per write task allowed to run at once (``io_concurrency``).
IO_TASKS_PER_ACTORS = 4
#: Worker processes a Ray started for the run keeps alive beyond one per CPU. Ray kills an idle
#: worker after 1 s once a node has as many as CPUs, and the actors are that many: every write task
#: then started a new Python worker (2-3 CPU seconds each, once per block), which took a fifth of
#: the time of 2 actors on 2 CPUs (1.48x the speed of 1 actor; 2.0x with the spare workers kept).
#: A cluster joined with --ray-address keeps its own setting: `RAY_num_workers_soft_limit` on `ray start`.
SPARE_WORKERS = 2


def io_concurrency(workers: int) -> int:
    """Write tasks running at once: one per IO_TASKS_PER_ACTORS actors. A 0-CPU task is never held
    back by the scheduler, so Ray Data ran one per block at once, each in a new worker process: on
    2 CPUs those start-ups (about 2 CPU seconds each) took the time the second actor should have
    had, and 2 actors ran no faster than 1. Writing a block takes milliseconds."""
    return max(1, workers // IO_TASKS_PER_ACTORS)


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
            spare = {"num_workers_soft_limit": (os.cpu_count() or 1) + SPARE_WORKERS}
            ray.init(runtime_env=env, include_dashboard=False, log_to_driver=False, configure_logging=False,
                     _system_config=spare)
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
    from .analyser import FileAnalyser
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = progress
    blocks = max(1, min(len(paths) // BATCH_FILES, workers * BLOCKS_PER_ACTOR))
    # Each actor reads its own files: a separate read stage ran in other worker processes, whose
    # start-ups and object-store copies took CPU from the actors (2 actors on 2 CPUs).
    ds = ray.data.from_items([{"path": p} for p in paths], override_num_blocks=blocks)
    kwargs = {"detector_threads": int(ACTOR_CPUS), **analyser_kwargs}
    ds = ds.map_batches(FileAnalyser, fn_constructor_kwargs=kwargs, batch_size=BATCH_FILES, batch_format="pyarrow",
                        compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=ACTOR_CPUS)
    ds.write_parquet(str(out), ray_remote_args={"num_cpus": IO_TASK_CPUS}, concurrency=io_concurrency(workers))


def stop() -> None:
    import ray
    ray.shutdown()
