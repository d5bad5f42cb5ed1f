"""The engine's model loads (engine/worker.py): a transformers folder's load reports its tensors to the
waiting job, a superseded job's load goes on for the next job that needs the same model, and a load
nobody needs any more (another model asked for, or the user's Stop) stops at its next tensor."""
from __future__ import annotations

import threading
import time

import pytest

pytest.importorskip("transformers")

import transformers.core_model_loading as loading  # noqa: E402

from attnviewer.engine.worker import Cancelled, Job, Worker  # noqa: E402
from attnviewer.settings import DecodeSettings  # noqa: E402


class SlowLoad:
    """A load that walks 40 'tensors' through transformers' own loop wrapper, as from_pretrained does."""

    def __init__(self, gate: threading.Event | None = None):
        self.started = 0
        self.read = 0
        self.gate = gate

    def __call__(self):
        self.started += 1
        for _ in loading.tqdm(dict.fromkeys(range(40)).items(), desc="Loading weights"):
            if self.gate is not None:
                self.gate.wait(5)
            time.sleep(0.01)
            self.read += 1
        return object()


def job(n: int) -> Job:
    return Job(n, "translate", "a b", "m", DecodeSettings("greedy"))


@pytest.fixture
def worker(qapp):
    return Worker()


def test_a_folder_load_tells_the_waiting_job_how_far_it_is(worker, qtbot):
    seen = []
    worker.load_progress.connect(lambda j, slot, done, total: seen.append((j, done, total)))
    load = SlowLoad()
    model = worker._load(job(1), ("k",), load, counted=True)
    qtbot.waitUntil(lambda: len(seen) == 40)
    assert model is not None and [d for _, d, _ in seen] == list(range(1, 41))
    assert {(j, t) for j, _, t in seen} == {(1, 40)}


def test_a_superseded_jobs_load_goes_on_for_the_next_job_of_the_same_model(worker):
    load, first = SlowLoad(), job(1)
    threading.Timer(0.05, first.cancel.set).start()
    with pytest.raises(Cancelled):
        worker._load(first, ("k",), load, counted=True)
    model = worker._load(job(2), ("k",), load, counted=True)
    assert model is not None and load.started == 1 and load.read == 40


def test_a_load_nobody_needs_stops_when_another_model_is_asked_for(worker):
    gate = threading.Event()
    big, first = SlowLoad(gate), job(1)
    first.cancel.set()
    with pytest.raises(Cancelled):
        worker._load(first, ("big",), big, counted=True)
    small = SlowLoad()
    gate.set()
    assert worker._load(job(2), ("small",), small, counted=True) is not None
    time.sleep(0.2)
    assert big.read < 40, "the load of a model nobody waits for went on to its end"
    # asked for again later, it loads anew
    assert worker._load(job(3), ("big",), big, counted=True) is not None and big.started == 2


def test_the_users_stop_stops_the_load(worker):
    load, first = SlowLoad(), job(1)

    def stop():
        first.stopped = True
        first.cancel.set()

    threading.Timer(0.05, stop).start()
    with pytest.raises(Cancelled):
        worker._load(first, ("k",), load, counted=True)
    time.sleep(0.2)
    assert load.read < 40
