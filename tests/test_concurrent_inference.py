"""One model per process, shared by every thread, and thread-safe inference.

Streamlit runs each browser session (and streamlit-webrtc each video track) in threads of one
process; they all share ``load_classifier()``'s instance. These tests pin that the model is loaded
exactly once even when many threads ask for it at the same moment, and that threads classifying
different real FER2013 faces at the same time get exactly (bit for bit) what sequential calls give.
"""
from __future__ import annotations

import os
import random
import threading
import time

import cv2
import numpy as np
import pytest

import fer.classify.model
from fer.train.data import load_gray
from fer.faces.detection import FaceDetector
from fer.classify.model import MAX_BATCH, Classifier, load_classifier, resolve_model
from fer.pipeline import FramePipeline

from fer_samples import stratified_sample

THREADS = 8
MODEL = os.environ.get("FER_TEST_MODEL") or "multisource_blend"  # as the classifier fixture


@pytest.fixture(scope="module")
def faces(fer_root, classifier) -> np.ndarray:
    """70 real test faces (10 per class), as the classifier takes them: (N, s, s) uint8."""
    s = classifier.input_size
    return np.stack([load_gray(p, s) for p, _ in stratified_sample(fer_root / "test", per_class=10, seed=3)])


def _run_together(fn, n: int) -> list:
    """Call ``fn(i)`` from ``n`` threads released at the same instant; results in order of i."""
    barrier = threading.Barrier(n)
    out: list = [None] * n
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            barrier.wait()
            out[i] = fn(i)
        except BaseException as e:  # noqa: BLE001  (re-raised in the main thread)
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    if errors:
        raise errors[0]
    return out


def test_the_model_is_loaded_once_even_when_threads_race_for_it(monkeypatch):
    """A cold cache, 8 threads asking at the same instant (the constructor made slow to widen the race
    window): one Classifier is built and every thread gets it."""
    monkeypatch.setattr(fer.classify.model, "_cache", {})
    built = []
    real_init = Classifier.__init__

    def slow_init(self, *a, **kw):
        built.append(threading.get_ident())
        time.sleep(0.3)
        real_init(self, *a, **kw)

    monkeypatch.setattr(Classifier, "__init__", slow_init)
    got = _run_together(lambda i: load_classifier(MODEL), THREADS)
    assert len(built) == 1, f"the model was loaded {len(built)} times"
    assert all(c is got[0] for c in got)
    # later calls, under any spelling of the same model, get the same instance
    info = resolve_model(MODEL)
    assert load_classifier(MODEL) is got[0]
    assert load_classifier(info.path) is got[0] and load_classifier(str(info.path.resolve())) is got[0]
    if MODEL is None:
        assert load_classifier(info.name) is got[0]
    assert len(built) == 1


def test_the_shared_classifier_is_the_process_wide_instance(classifier):
    assert load_classifier(MODEL) is classifier
    assert _run_together(lambda i: load_classifier(MODEL), 4) == [classifier] * 4


def _jobs(n_faces: int, seed: int) -> list[tuple[tuple[int, ...], bool]]:
    """Batches of different faces and sizes (1 face, a few, exactly MAX_BATCH, more than MAX_BATCH
    so it is split in chunks), some with flip averaging."""
    rng = random.Random(seed)
    sizes = [1, 1, 2, 3, 5, 7, MAX_BATCH, MAX_BATCH + 1, 2 * MAX_BATCH + 3]
    jobs = []
    for k in range(48):
        size = sizes[k % len(sizes)]
        jobs.append((tuple(rng.sample(range(n_faces), size)), k % 4 == 3))
    return jobs


def test_concurrent_classification_equals_sequential_exactly(classifier, faces):
    jobs = _jobs(len(faces), seed=1)
    reference = [classifier.predict(faces[list(idx)], flip=flip) for idx, flip in jobs]
    # Every thread gets its own interleaving of all jobs, twice over: 8 x 96 calls in flight.
    orders = [random.Random(t).sample(range(len(jobs)), len(jobs)) * 2 for t in range(THREADS)]

    def worker(t: int) -> list[tuple[int, np.ndarray]]:
        return [(j, classifier.predict(faces[list(jobs[j][0])], flip=jobs[j][1])) for j in orders[t]]

    results = _run_together(worker, THREADS)
    mismatches = [(t, j) for t, res in enumerate(results) for j, p in res if not np.array_equal(p, reference[j])]
    assert not mismatches, f"{len(mismatches)} of {THREADS * len(orders[0])} concurrent results differ from " \
                           f"sequential ones, e.g. thread/job {mismatches[:5]}"
    # and the answers are real ones: each job's rows are the faces' own single-face predictions' labels
    single = classifier.predict(faces)
    for (idx, flip), ref in zip(jobs, reference):
        if not flip:
            assert np.array_equal(ref.argmax(1), single[list(idx)].argmax(1))


def test_concurrent_pipelines_on_real_frames_equal_sequential(classifier, faces):
    """The pages' and the live streams' path: one FramePipeline shared by threads (each with its own
    copy of the Haar cascade), each with its own frames of real faces: full scans and the video path's
    search near known faces."""
    pipe = FramePipeline(classifier, FaceDetector())
    frames = []
    for i in range(12):
        canvas = np.full((240, 320), 110, np.uint8)
        big = cv2.resize(faces[(i * 5) % len(faces)], (140, 140), interpolation=cv2.INTER_CUBIC)
        y, x = 40 + (i % 3) * 20, 30 + (i % 4) * 40
        canvas[y:y + 140, x:x + 140] = big
        frames.append(cv2.cvtColor(canvas, cv2.COLOR_GRAY2BGR))

    def summary(frame):
        r = pipe.analyse(frame)
        near = pipe.analyse(frame, near=[f.box for f in r.faces])
        return [(tuple(f.box), f.label, f.probabilities) for f in r.faces + near.faces]

    reference = [summary(f) for f in frames]
    assert sum(len(r) for r in reference) >= 6, "the detector should find most pasted faces"
    results = _run_together(lambda t: [summary(frames[(t + k) % len(frames)]) for k in range(len(frames))], THREADS)
    for t, res in enumerate(results):
        for k, got in enumerate(res):
            assert got == reference[(t + k) % len(frames)], (t, k)
