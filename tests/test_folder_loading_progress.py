"""Loading a transformer folder reports how many of its tensors are read, and stops when the caller
cancels it: nothing half-loaded comes back, and the next load of the same folder works."""
from __future__ import annotations

import pytest

pytest.importorskip("transformers")

import torch  # noqa: E402

from attnviewer.models.hf.load_progress import LoadCancelled, reporting  # noqa: E402
from attnviewer.models.hf.loading import load_folder  # noqa: E402

from .hf_models import marian  # noqa: E402


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return marian(tmp_path_factory.mktemp("marian") / "m")


def test_progress_counts_every_tensor_to_the_end(folder):
    seen = []
    with reporting(lambda done, total: seen.append((done, total))):
        model = load_folder(folder, torch.device("cpu"))
    assert model is not None and len(seen) > 10
    totals = {t for _, t in seen}
    assert len(totals) == 1 and seen[-1][0] == seen[-1][1], "the count ends at its total"
    assert [d for d, _ in seen] == list(range(1, len(seen) + 1))


def test_a_cancelled_load_stops_part_way_and_the_next_one_works(folder):
    seen = []
    with pytest.raises(LoadCancelled):
        with reporting(lambda done, total: seen.append(done), cancelled=lambda: len(seen) >= 3):
            load_folder(folder, torch.device("cpu"))
    assert seen == [1, 2, 3], "no tensor is read after the cancel"
    assert load_folder(folder, torch.device("cpu")).vocab, "a later load is not affected"


def test_loads_outside_the_block_report_nothing(folder):
    seen = []
    with reporting(lambda done, total: seen.append(done)):
        pass
    load_folder(folder, torch.device("cpu"))
    assert seen == []


def test_two_loads_at_once_both_come_back_whole(tmp_path):
    """from_pretrained on two threads at once lost a tied tensor: folders load one at a time."""
    import threading

    from .hf_models import vit_gpt2

    folder = vit_gpt2(tmp_path / "v")

    got, errors = [], []

    def load():
        try:
            got.append(load_folder(folder, torch.device("cpu")))
        except Exception as e:  # noqa: BLE001 (the test reports any)
            errors.append(e)

    threads = [threading.Thread(target=load) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and len(got) == 3
