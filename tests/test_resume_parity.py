"""Resume parity: a training run SIGKILLed in the middle of an epoch and continued with ``--resume``
ends where an uninterrupted run of the same command ends.

Both runs go through the real CLI (``python -m fer train``) on a small real FER2013 subset. Run A is
never interrupted. Run B is watched through its Keras progress bar (the child gets a pseudo-terminal,
so Keras prints every batch as ``m/steps``) and SIGKILLed half-way through an epoch that follows at
least one finished, checkpointed epoch; then ``--resume`` finishes it. The runs fine-tune the shipped
model (``--init-from``, like the real second-stage runs) so that the figures being compared are well
above chance and move from epoch to epoch: equal figures at chance would prove nothing.

What must hold, and why it catches a broken resume:

- B's ``history.csv`` lists every epoch exactly once, the rows written before the kill are kept
  byte for byte, and the killed epoch is run again from its start by the resumed process
  (its first progress header is that epoch's);
- the kill really landed mid-epoch: batches of the killed epoch were reported, the epoch never
  reached its last batch, and the checkpoint still held the previous epoch;
- the learning rate logged at the end of every epoch equals A's: the schedule is a function of
  the optimizer's step counter, so a resume that lost the optimizer state (or the epoch counter)
  shows up as a different learning rate;
- every epoch's val accuracy is within noise of A's, and so is the train accuracy of the epochs
  before the kill (B runs A's seeded code, though not bit for bit: the parallel augmentation map
  draws from one stateful generator, so batches get their random numbers in a thread-dependent
  order) and of the killed epoch, which the resumed process re-runs from the checkpoint of the
  epoch before, as A ran it. A resume that replays epoch 0's random stream (same shuffle order,
  augmentations and dropout masks, which ``fer.train.training`` avoids by seeding a resumed process
  by its start epoch) fits batches it has already seen: its train accuracy jumps by ~0.2 (0.75 ->
  0.95). The later epochs' train figures are not compared: after the resume A and B draw
  different streams and drift apart as two seeds do;
- the resumed epoch's training loss continues A's curve rather than restarting it (lost weights);
- B's final val accuracy (``metadata.json``, best epoch on val) and its last epoch's val accuracy
  match A's.

"Within noise" for an accuracy is ``NOISE_SIGMAS`` standard errors of the difference of two binomial
proportions on the n images it is measured on, sqrt(2 p (1 - p) / n): about 0.10 for val (n = 416)
and 0.10 for an epoch's train accuracy (n = 344) at p ~ 0.6-0.7. After the kill A and B draw
different random streams, so B is a second sample of the same recipe, not a replay of A. The bound is
conservative: four uninterrupted runs with --seed 1337, 1338, 1339 and 2024 ended at best val
accuracies of 0.620-0.651 (SD 0.013, ~0.018 for a difference; the binomial standard error of a
difference is 0.034).
"""
from __future__ import annotations

import csv
import json
import math
import os
import pty
import re
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from fer_samples import stratified_sample

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "models" / "default" / "model.keras"

TRAIN_PER_CLASS = 50          # 7 x 50 = 350 train images
VAL_PER_CLASS = 60            # 7 x 60, fewer for disgust (56 in val/): 416 val images
BATCH = 8                     # 350 // 8 = 43 steps per epoch: a "middle" of ~20 batches
EPOCHS = 4
KILL_EPOCH = 2                # 0-based: killed in the third epoch, after two checkpoints
STEPS = (7 * TRAIN_PER_CLASS) // BATCH
NOISE_SIGMAS = 3.0
#: Generous: the suite may share the CPU with a real training run (quiet machine: ~75 s for the test).
TIMEOUT = 1800

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
EPOCH_HEADER = re.compile(r"Epoch (\d+)/%d" % EPOCHS)
BATCH_COUNT = re.compile(r"(?<![\d/])(\d+)/%d(?![\d/])" % STEPS)


@pytest.fixture(scope="module")
def parity_data(fer_root, tmp_path_factory) -> dict[str, Path]:
    """A fixed stratified real subset copied to a temp folder-per-class tree (small roots rather than
    ``--limit-per-class`` on the full set: export loads the whole ``--data``/``--val`` roots again)."""
    if not SHIPPED.is_file():
        pytest.skip(f"the shipped model {SHIPPED} is missing")
    base = tmp_path_factory.mktemp("parity")
    for split, n in (("train", TRAIN_PER_CLASS), ("val", VAL_PER_CLASS)):
        for path, c in stratified_sample(fer_root / split, n, seed=3):
            (base / split / c).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, base / split / c / path.name)
    return {s: base / s for s in ("train", "val")}


def _cmd(data: dict[str, Path], out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "fer", "train", "--data", str(data["train"]), "--val", str(data["val"]),
            "--out", str(out), "--epochs", str(EPOCHS), "--batch-size", str(BATCH), "--augment", "light",
            "--init-from", str(SHIPPED), "--lr", "5e-4", "--patience", str(EPOCHS), *extra]


class Run:
    """A training subprocess on a pseudo-terminal (so Keras reports every batch), read by a thread."""

    def __init__(self, cmd: list[str], started: list[Run]):
        master, slave = pty.openpty()
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "COLUMNS": "200"}
        self.started = time.time()
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
                                     env=env, start_new_session=True)
        os.close(slave)
        self._master = master
        self._chunks: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        started.append(self)

    def _read(self):
        while True:
            try:
                chunk = os.read(self._master, 65536)
            except OSError:  # EIO once the child side is closed
                break
            if not chunk:
                break
            self._chunks.append(chunk)
        os.close(self._master)

    @property
    def text(self) -> str:
        return ANSI.sub("", b"".join(self._chunks).decode("utf-8", "replace"))

    def progress(self) -> tuple[int | None, int]:
        """(1-based epoch of the last progress header, highest batch count reported after it)."""
        text = self.text
        headers = list(EPOCH_HEADER.finditer(text))
        if not headers:
            return None, 0
        tail = text[headers[-1].end():]
        return int(headers[-1].group(1)), max((int(m.group(1)) for m in BATCH_COUNT.finditer(tail)), default=0)

    def kill(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self._reader.join(30)

    def wait(self, timeout: float) -> int:
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"training still running after {timeout:.0f}s:\n{self.text[-3000:]}")
        self._reader.join(30)
        self.seconds = time.time() - self.started
        return rc


def _rows(out: Path) -> list[dict]:
    path = out / "history.csv"
    if not path.exists():
        return []
    with path.open() as f:
        return list(csv.DictReader(f))


def _backup_epoch(out: Path) -> int | None:
    meta = out / "checkpoints" / "backup" / "training_metadata.json"
    try:
        return json.loads(meta.read_text())["epoch"]
    except (OSError, ValueError, KeyError):
        return None


def _noise(p1: float, p2: float, n: int) -> float:
    """NOISE_SIGMAS standard errors of the difference of two accuracies measured on n images each."""
    p = (p1 + p2) / 2
    return NOISE_SIGMAS * math.sqrt(2 * p * (1 - p) / n)


def _cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _val_accuracy(out: Path) -> tuple[float, int]:
    val = json.loads((out / "metadata.json").read_text())["metrics"]["val"]["plain"]
    return float(val["accuracy"]), int(val["n"])


@pytest.fixture
def runs():
    """The training processes a test starts; any still running at its end are killed."""
    started: list[Run] = []
    yield started
    for run in started:
        run.kill()


def test_a_run_killed_mid_epoch_resumes_and_matches_an_uninterrupted_run(parity_data, runs, tmp_path):
    out_a, out_b = tmp_path / "a", tmp_path / "b"

    # A: uninterrupted.
    cpu0 = _cpu_seconds()
    run_a = Run(_cmd(parity_data, out_a), runs)
    assert run_a.wait(TIMEOUT) == 0, run_a.text[-3000:]
    cpu_a = _cpu_seconds() - cpu0

    # B: SIGKILL half-way through epoch KILL_EPOCH, once epochs 0..KILL_EPOCH-1 are checkpointed.
    cpu_b0 = _cpu_seconds()
    run_b = Run(_cmd(parity_data, out_b), runs)
    deadline = time.time() + TIMEOUT
    seen = (None, 0)
    while run_b.proc.poll() is None and time.time() < deadline:
        seen = run_b.progress()
        if (seen[0] == KILL_EPOCH + 1 and seen[1] >= STEPS // 2
                and len(_rows(out_b)) == KILL_EPOCH and _backup_epoch(out_b) == KILL_EPOCH):
            break
        time.sleep(0.05)
    assert run_b.proc.poll() is None, "training ended before it could be killed:\n" + run_b.text[-3000:]
    assert time.time() < deadline, f"no mid-epoch point reached in {TIMEOUT}s (last progress {seen}):\n" \
                                   + run_b.text[-3000:]
    run_b.kill()
    killed_seconds = time.time() - run_b.started
    epoch_at_kill, batches_at_kill = run_b.progress()
    history_at_kill = (out_b / "history.csv").read_bytes()

    # The kill landed inside epoch KILL_EPOCH: some of its batches ran, not all, nothing after it.
    assert epoch_at_kill == KILL_EPOCH + 1
    assert STEPS // 2 <= batches_at_kill < STEPS, (batches_at_kill, STEPS)
    assert [int(r["epoch"]) for r in _rows(out_b)] == list(range(KILL_EPOCH))
    assert _backup_epoch(out_b) == KILL_EPOCH
    assert not (out_b / "metadata.json").exists()

    resumed = Run(_cmd(parity_data, out_b, "--resume"), runs)
    assert resumed.wait(TIMEOUT) == 0, resumed.text[-3000:]
    headers = [int(m.group(1)) for m in EPOCH_HEADER.finditer(resumed.text)]
    assert headers == list(range(KILL_EPOCH + 1, EPOCHS + 1)), \
        f"the resumed run ran epochs {headers}, expected the killed epoch {KILL_EPOCH + 1} onwards"

    # Every epoch exactly once; the rows finished before the kill kept as they were.
    rows_a, rows_b = _rows(out_a), _rows(out_b)
    assert [int(r["epoch"]) for r in rows_a] == list(range(EPOCHS))
    assert [int(r["epoch"]) for r in rows_b] == list(range(EPOCHS)), "lost or repeated epochs"
    assert (out_b / "history.csv").read_bytes().startswith(history_at_kill)
    meta_b = json.loads((out_b / "metadata.json").read_text())
    assert meta_b["epochs_run"] == EPOCHS
    assert len(meta_b["commands"]) == 2 and "--resume" in meta_b["commands"][1]

    # The schedule position: the lr at the end of each epoch is a function of the optimizer step.
    lr_a = [float(r["lr"]) for r in rows_a]
    lr_b = [float(r["lr"]) for r in rows_b]
    assert len(set(lr_a)) == EPOCHS, f"the schedule should move every epoch: {lr_a}"
    assert lr_b == pytest.approx(lr_a, rel=1e-6), f"learning rates A {lr_a} vs B {lr_b}"

    def fig(rows, key):
        return [float(r[key]) for r in rows]

    loss_a, loss_b = fig(rows_a, "loss"), fig(rows_b, "loss")
    train_a, train_b = fig(rows_a, "accuracy"), fig(rows_b, "accuracy")
    val_a, val_b = fig(rows_a, "val_accuracy"), fig(rows_b, "val_accuracy")
    best_a, n_val = _val_accuracy(out_a)
    best_b, n_val_b = _val_accuracy(out_b)
    n_train = STEPS * BATCH
    summary = {"A_seconds": round(run_a.seconds), "B_killed_after_seconds": round(killed_seconds),
               "B_resume_seconds": round(resumed.seconds), "cpu_seconds_A": round(cpu_a),
               "cpu_seconds_B": round(_cpu_seconds() - cpu_b0),
               "killed_at": f"epoch {epoch_at_kill}/{EPOCHS} batch {batches_at_kill}/{STEPS}",
               "n_train": n_train, "n_val": n_val, "best_val_acc": [best_a, best_b],
               "val_bound": round(_noise(best_a, best_b, n_val), 4), "val_acc": [val_a, val_b],
               "train_acc": [train_a, train_b], "loss": [loss_a, loss_b],
               "val_loss": [fig(rows_a, "val_loss"), fig(rows_b, "val_loss")], "lr": [lr_a, lr_b]}
    print("resume parity:", json.dumps(summary))

    # Every epoch validates like A's. The epochs before the kill (same seeded code) and the killed epoch,
    # re-run from the state A had at its start, also train like A's: fresh batches, where a replay of
    # batches already fit lifts the train accuracy. Later epochs' train figures drift apart as those
    # of any two random streams do, so they are not compared.
    for e in range(EPOCHS):
        when = "before the kill" if e < KILL_EPOCH else "after the resume"
        if e <= KILL_EPOCH:
            assert abs(train_b[e] - train_a[e]) <= _noise(train_a[e], train_b[e], n_train), \
                f"epoch {e} ({when}): train accuracy {train_b[e]:.3f} vs {train_a[e]:.3f} uninterrupted; {summary}"
        assert abs(val_b[e] - val_a[e]) <= _noise(val_a[e], val_b[e], n_val), \
            f"epoch {e} ({when}): val accuracy {val_b[e]:.3f} vs {val_a[e]:.3f} uninterrupted; {summary}"

    # The killed epoch, re-run, continues A's curve: closer to A's loss there than to a fresh start.
    assert abs(loss_b[KILL_EPOCH] - loss_a[KILL_EPOCH]) < abs(loss_b[KILL_EPOCH] - loss_a[0]), (loss_a, loss_b)

    # Final figures within noise.
    assert n_val == n_val_b
    assert abs(best_a - best_b) <= _noise(best_a, best_b, n_val), summary
    assert abs(val_a[-1] - val_b[-1]) <= _noise(val_a[-1], val_b[-1], n_val), summary
