"""`train translate --data` reads its training pairs as they stream past and keeps them on the
disk as word ids (training/pair_arrays.py), so a corpus larger than memory trains. What it trains
on must be exactly what reading the whole corpus into memory gave: the same pairs, ids,
vocabularies, validation pairs, counted problems and messages, for every layout and every kind of
bad line; the ids live beside --out only while the run lasts, and a full disk is one line."""
from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import pytest

from attnviewer import cli
from attnviewer.errors import AttnViewerError
from attnviewer.models.translator import SOURCE_SPECIALS
from attnviewer.training import pair_arrays
from attnviewer.training.pair_arrays import in_memory_pairs, read_training_pairs
from attnviewer.training.text_corpus import TranslateCorpusSettings

pytestmark = pytest.mark.usefixtures("one_torch_thread")

WORDS = ["the", "dog", "cat", "sees", "a", "big", "house", "<unk>", "<start>", "über", "naïve", "x\x1by",
         "w" * 120, "(blue)", "don't", "well-known", "!", "?", "réalité", "ﬁne"]


def lines(rng, n: int, bad: bool = True) -> list[str]:
    """n TSV lines of random sentences; with `bad`, some malformed, empty, over-long or not UTF-8."""
    out = []
    for i in range(n):
        src = " ".join(rng.choice(WORDS, rng.integers(1, 9)))
        tgt = " ".join("o" + w for w in rng.choice(WORDS, rng.integers(1, 9)))
        kind = rng.integers(12) if bad else 0
        if kind == 1:
            out.append(f"{src}\t{tgt}\textra")  # three columns
        elif kind == 2:
            out.append(f"{src}\t")  # an empty target
        elif kind == 3:
            out.append(f"{src} {' '.join(['long'] * 12)}\t{tgt}")  # over-long source
        elif kind == 4:
            out.append(f"{src}\t{tgt} {' '.join(['olong'] * 14)}")  # over-long target
        elif kind == 5 and i % 2:
            out.append(f"{out[-1] if out else src + chr(9) + tgt}")  # a repeated pair
        else:
            out.append(f"{src}\t{tgt}")
    return out


def write(path: Path, rows: list[str], latin1_at: int | None = None) -> None:
    data = "".join(r + "\n" for r in rows).encode("utf-8")
    if latin1_at is not None:
        data += "caf\u00e9\tcaf\u00e9\n".encode("latin-1")
    path.write_bytes(data)


def corpus(tmp: Path, layout: str, seed: int, n: int) -> Path:
    rng = np.random.default_rng(seed)
    if layout == "file":
        write(tmp / "pairs.tsv", lines(rng, n), latin1_at=1)
        return tmp / "pairs.tsv"
    folder = tmp / "pairs"
    folder.mkdir()
    write(folder / "train.tsv", lines(rng, n), latin1_at=1)
    write(folder / "test.tsv", lines(rng, 7))
    if layout == "folder":
        write(folder / "dev.tsv", lines(rng, 9))
    return folder  # "no-val": every 20th training pair is held out (the last, under 20)


def both(settings: TranslateCorpusSettings, tmp_path: Path):
    """(what the stream gave, what memory gave, their log lines), or both errors."""
    said_disk, said_memory = [], []
    try:
        disk = read_training_pairs(settings, tmp_path, said_disk.append, SOURCE_SPECIALS)
    except AttnViewerError as e:
        with pytest.raises(type(e)) as memory_error:
            in_memory_pairs(settings, said_memory.append, SOURCE_SPECIALS)
        assert str(memory_error.value) == str(e) and said_disk == said_memory
        assert not list(tmp_path.glob(".*.ids-*"))  # nothing left
        return None
    return disk, in_memory_pairs(settings, said_memory.append, SOURCE_SPECIALS), said_disk, said_memory


@pytest.mark.parametrize("layout,n", [("file", 300), ("folder", 120), ("no-val", 90), ("no-val", 13), ("file", 1),
                                      ("no-val", 1)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_pairs_on_disk_are_what_the_corpus_read_into_memory_gave(tmp_path, layout, seed, n):
    data = corpus(tmp_path, layout, seed, n)
    for options in (dict(min_count=1), dict(min_count=2, max_source_len=7, max_target_len=6, val_size=3)):
        settings = TranslateCorpusSettings(str(data), **options)
        got = both(settings, tmp_path)
        if got is None:
            continue
        disk, (sources, targets, val, problems, source, target), said_disk, said_memory = got
        try:
            assert said_disk == said_memory
            assert disk.source_vocab.words == source.words and disk.target_vocab.words == target.words
            assert disk.problems.lines() == problems.lines()
            assert [(v.id, v.source, v.references) for v in disk.val] == [(v.id, v.source, v.references) for v in val]
            assert len(disk.sources) == len(sources) > 0
            assert [a.tolist() for a in disk.sources] == [a.tolist() for a in sources]
            assert [a.tolist() for a in disk.targets] == [a.tolist() for a in targets]
            assert disk.sources.lengths.tolist() == sources.lengths.tolist()
            assert np.concatenate(list(disk.targets.flat_chunks())).tolist() == targets.ids.tolist()
        finally:
            disk.close()
        assert not disk.folder.exists()


SMALL = ["--hidden-dim", "16", "--min-count", "1", "--batch-size", "4", "--epochs", "1", "--max-target-len", "16"]


def test_the_ids_lie_beside_out_while_the_run_lasts_and_go_with_it(tmp_path, capsys, monkeypatch):
    from attnviewer.training.text_corpus import TranslationCorpusTask

    data = corpus(tmp_path, "folder", 3, 40)
    out = tmp_path / "models" / "m.safetensors"
    out.parent.mkdir()
    seen = []
    real = TranslationCorpusTask.batch

    def batch(self, indices, device):
        seen.extend(p.name for p in out.parent.glob(".pairs.ids-*/*"))
        return real(self, indices, device)

    monkeypatch.setattr(TranslationCorpusTask, "batch", batch)
    assert cli.main(["train", "translate", "--data", str(data), "--out", str(out), *SMALL, "--max-steps", "2"]) == 0
    assert {"source.ids", "target.ids", "source.lengths"} <= set(seen)
    assert sorted(p.name for p in out.parent.iterdir()) == ["m.log.csv", "m.safetensors", "m.safetensors.state"]


def test_a_full_disk_while_writing_the_ids_is_one_line_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    data = corpus(tmp_path, "folder", 4, 40)
    out = tmp_path / "models" / "m.safetensors"
    out.parent.mkdir()

    def flush(self):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pair_arrays.IdWriter, "flush", flush)
    code = cli.main(["train", "translate", "--data", str(data), "--out", str(out), *SMALL])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert "cannot write the training pairs' word ids, the disk is full" in err[0]
    assert list(out.parent.iterdir()) == []


def test_sigterm_while_the_corpus_is_read_leaves_no_ids(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    rng = np.random.default_rng(5)
    write(tmp_path / "pairs.tsv", lines(rng, 60_000, bad=False))
    out = tmp_path / "models" / "m.safetensors"
    out.parent.mkdir()
    run = subprocess.Popen([sys.executable, "-m", "attnviewer", "train", "translate", "--data",
                            str(tmp_path / "pairs.tsv"), "--out", str(out), *SMALL],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not list(out.parent.glob(".pairs.tsv.ids-*/source.ids")) and time.monotonic() < deadline:
            assert run.poll() is None, run.communicate()
            time.sleep(0.02)
        os.kill(run.pid, signal.SIGTERM)
        said, _ = run.communicate(timeout=120)
    finally:
        run.kill()
    assert run.returncode == 128 + signal.SIGTERM
    assert "training pairs" not in said  # stopped while reading
    assert list(out.parent.iterdir()) == []
