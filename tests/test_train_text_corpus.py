"""`attnviewer train translate --data PAIRS`: a translator trained on tab-separated sentence pairs
through the shared loop writes an ordinary translate model that `attnviewer translate` runs;
malformed lines and over-long pairs are counted, not fatal; validation scores BLEU-4 with
sacrebleu; scheduled sampling feeds the model its own words; --resume continues exactly."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from attnviewer import cli
from attnviewer.catalog import read_metadata
from attnviewer.data.corpus import read_pairs, tokenize
from attnviewer.data.pairs import generate_pairs
from attnviewer.models.checkpoint import load_checkpoint
from attnviewer.training.loop import LoopSettings, epoch_order, fit, state_path, steps_per_epoch
from attnviewer.evaluation.translator import translate_pairs
from attnviewer.training.text_corpus import TranslateCorpusSettings, TranslationCorpusTask

from .corpora import SEED, pair_texts, pairs_tsv

SMALL = ["--hidden-dim", "32", "--min-count", "1", "--batch-size", "8", "--epochs", "1"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny(data, **extra) -> TranslateCorpusSettings:
    return TranslateCorpusSettings(str(data), **dict(dict(min_count=1, hidden_dim=24, embed_dim=16), **extra))


def test_a_corpus_trains_a_model_that_translate_runs(tmp_path, capsys):
    folder = pairs_tsv(tmp_path, n_pairs=16, layout="folder")
    with open(folder / "train.tsv", "a", encoding="utf-8") as f:
        f.write("a line without any tab\n")
    out = tmp_path / "m.safetensors"
    code = cli.main(["train", "translate", "--data", str(folder), "--out", str(out), *SMALL, "--max-steps", "2"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "skipped: 1 malformed line" in printed and "validation BLEU " in printed
    meta = read_metadata(out)
    assert meta["kind"] == "translate"
    record = json.loads(meta["training"])
    assert record["task"] == "translate" and record["pairs"]["train"] == 16 and record["pairs"]["val"] == 3
    assert any("malformed line" in line for line in record["skipped"])
    source, _ = pair_texts(1)[0]
    sentence = source + " zyzzyva"  # a word no training pair holds
    assert cli.main(["translate", sentence, "--model", str(out), "--greedy"]) == 0
    shown = capsys.readouterr()
    words = tokenize(sentence, keep_punctuation=True)  # what the corpus reader gives, "." included
    assert shown.out.startswith(" ".join(words) + ":")
    assert "zyzzyva" in shown.err  # named as unknown, read as <unk>
    assert set(words) - set(load_checkpoint(out).source_vocab) == {"zyzzyva"}


def test_over_long_pairs_are_dropped_and_counted(tmp_path):
    data = pairs_tsv(tmp_path, n_pairs=30)
    lines = []
    task = TranslationCorpusTask(tiny(data, max_source_len=8), log=lines.append)
    kept = len(task.sources) + len(task.val)  # the training pairs are kept as ids alone
    assert kept and max(task.sources.lengths) <= 8 and all(len(item.source.split()) <= 8 for item in task.val)
    corpus = read_pairs(data)
    dropped = sum(n for kind, n in task.problems.counts.items() if kind.startswith("over-long"))
    assert dropped == len(corpus.splits["train"]) + len(corpus.splits.get("val", [])) - kept > 0
    assert any("over-long training pairs" in line for line in lines)
    assert task.model.config.max_source_len == 8


def test_validation_scores_the_greedy_translations_against_the_references(tmp_path):
    task = TranslationCorpusTask(tiny(pairs_tsv(tmp_path, n_pairs=24)), log=lambda line: None)
    model = task.model.eval()
    with torch.no_grad():
        model.fc.bias[model.end_id] = -1e4  # it never ends: every translation has max_len words
    hyps = translate_pairs(model, [item.source.split() for item in task.val])
    own = [replace(item, references=(tuple(h.tokens),)) for item, h in zip(task.val, hyps) if len(h.tokens) >= 4]
    assert len(own) == len(task.val) > 0
    task.val = own  # references equal to what the model writes: a perfect score
    assert task.validate(model)["BLEU"] == pytest.approx(100.0)
    task.val = [replace(item, references=(("nothing", "like", "it", "at", "all"),)) for item in own]
    scores = task.validate(model)
    assert scores["BLEU"] == pytest.approx(0.0) and scores["loss"] > 0


def test_scheduled_sampling_feeds_the_model_its_own_words(tmp_path):
    task = TranslationCorpusTask(tiny(pairs_tsv(tmp_path, n_pairs=12)), log=lambda line: None)
    model = task.model.eval()
    batch = task.batch(range(4), "cpu")
    sources = [[model.source_vocab[int(i)] for i in task.sources[k]] for k in range(4)]  # min count 1: no <unk>
    with torch.inference_mode():
        own, _ = model((batch["source"], batch["lengths"]), batch["targets"], sampling=1.0)
        forced, _ = model((batch["source"], batch["lengths"]), batch["targets"], sampling=0.0)
        greedy = translate_pairs(model, sources)
    for row, hyp, target in zip(own.argmax(-1), greedy, task.targets):
        # fed its own words wherever the reference has a word, it writes its greedy translation
        k = min(len(target), len(row))  # <start>, the reference's words, <end>
        assert [model.vocab[int(i)] for i in row[:k]] == (hyp.tokens + ["<end>"] * k)[:k]
    assert not torch.equal(own, forced)


def test_resume_continues_exactly(tmp_path):
    data = pairs_tsv(tmp_path, n_pairs=16)

    def run(out, **loop):
        task = TranslationCorpusTask(tiny(data, max_target_len=16, val_size=2), log=lambda line: None)
        base = dict(out=str(out), epochs=2, batch_size=8, lr=3e-3, save_every=1, patience=0)
        fit(task, LoopSettings(**dict(base, **loop)), log=lambda line: None)
        return torch.load(state_path(out), weights_only=True)["model"]

    straight = run(tmp_path / "a.safetensors")
    run(tmp_path / "b.safetensors", max_steps=1)
    resumed = run(tmp_path / "b.safetensors", resume=True)
    assert straight.keys() == resumed.keys()
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)


def mixed_lengths_tsv(tmp, n: int) -> Path:
    """n pairs, each 1 to 4 generated pairs joined by "and": sources of about 5 to 60 words, as in a
    real corpus, where random batches pad every sentence to the longest of its batch."""
    pairs = generate_pairs(4 * n, SEED)
    rows = []
    for i in range(n):
        parts = pairs[4 * i : 4 * i + 1 + i % 4]
        rows.append("\t".join(" and ".join(" ".join(getattr(p, side)) for p in parts) for side in ("source", "target")))
    path = Path(tmp) / "mixed.tsv"
    path.write_text("".join(row + "\n" for row in rows), encoding="utf-8")
    return path


class Recorded(TranslationCorpusTask):
    """The task, noting the source lengths of every batch the loop asks for."""

    asked: list

    def batch(self, indices, device):
        self.asked.append([len(self.sources[i]) for i in indices])
        return super().batch(indices, device)


def spread(batches) -> float:
    """The mean difference between the longest and the shortest source of a batch."""
    return sum(max(b) - min(b) for b in batches) / len(batches)


def test_batches_hold_sources_of_similar_lengths_in_a_random_order(tmp_path):
    task = Recorded(tiny(mixed_lengths_tsv(tmp_path, 48), max_source_len=80, max_target_len=80, val_size=1),
                    log=lambda line: None)
    task.asked = []
    lengths, size = task.lengths(), 4
    assert min(lengths) <= 10 and max(lengths) >= 40
    fit(task, LoopSettings(out=str(tmp_path / "m.safetensors"), epochs=2, batch_size=size, lr=0.0, patience=0),
        log=lambda line: None)
    steps = steps_per_epoch(len(lengths), size, 1)
    epochs = task.asked[:steps], task.asked[steps:]
    for e, batches in enumerate(epochs):
        assert sorted(x for b in batches for x in b) == sorted(lengths)  # every example once
        ungrouped = epoch_order(len(lengths), 0, e).tolist()
        random = [[lengths[i] for i in ungrouped[k : k + size]] for k in range(0, len(lengths), size)]
        assert spread(batches) * 4 < spread(random)  # far less padding than random batches
        means = [sum(b) / len(b) for b in batches[:-1]]  # the last, partial batch stays last
        assert means != sorted(means) and means != sorted(means, reverse=True)  # not shortest first
    assert epochs[0] != epochs[1]  # each epoch its own order


def test_an_epoch_of_nothing_is_an_empty_order():
    assert epoch_order(0, 0, 0, batch=4, lengths=[]).tolist() == []


def test_resume_continues_exactly_with_batches_grouped_by_length(tmp_path):
    data = mixed_lengths_tsv(tmp_path, 24)

    def run(out, **loop):
        task = TranslationCorpusTask(tiny(data, max_source_len=80, max_target_len=80, val_size=2),
                                     log=lambda line: None)
        base = dict(out=str(out), epochs=2, batch_size=4, lr=3e-3, save_every=1, patience=0, scheduled_sampling=0.5)
        fit(task, LoopSettings(**dict(base, **loop)), log=lambda line: None)
        return torch.load(state_path(out), weights_only=True)["model"]

    straight = run(tmp_path / "a.safetensors")
    run(tmp_path / "b.safetensors", max_steps=7)  # in the second epoch (5 steps an epoch)
    resumed = run(tmp_path / "b.safetensors", resume=True)
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)


def test_a_missing_corpus_is_one_line(tmp_path, capsys):
    code = cli.main(["train", "translate", "--data", str(tmp_path / "none.tsv"), "--out", str(tmp_path / "m.safetensors")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "none.tsv" in err
    assert not (tmp_path / "m.safetensors").exists()


def test_a_corpus_of_one_pair_has_nothing_to_validate_on(tmp_path, capsys):
    one = tmp_path / "one.tsv"
    one.write_text("a small dog\tun petit chien\n", encoding="utf-8")
    code = cli.main(["train", "translate", "--data", str(one), "--out", str(tmp_path / "m.safetensors")])
    err = capsys.readouterr().err
    assert code == 2 and err.strip().splitlines() == [
        f"attnviewer: error: {one}: nothing to validate on; give a val split or at least 2 training items"]
    assert not (tmp_path / "m.safetensors").exists()


def test_the_translate_command_splits_a_sentence_as_the_corpus_was_split(tmp_path):
    from attnviewer import pipeline
    from attnviewer.kinds.text import TEXT
    from attnviewer.models import header, translator
    from attnviewer.models.checkpoint import save_checkpoint

    rows = ["It costs 3.5 dollars.\tEs kostas 3.5 dolarojn.", "The U.S. flag--red.\tLa flago de U.S.--ruĝa."] * 3
    for split in ("train", "val"):  # every pair in training (without split files, a hash picks them)
        (tmp_path / f"{split}.tsv").write_text("".join(f"{row}\n" for row in rows), encoding="utf-8")
    task = TranslationCorpusTask(tiny(tmp_path), log=lambda line: None)
    path = tmp_path / "m.safetensors"
    save_checkpoint(task.model, path, task.record())
    model = load_checkpoint(path)
    for sentence, words in (("It costs 3.5 dollars.", ["it", "costs", "3.5", "dollars", "."]),
                            ("The U.S. flag--red.", ["the", "u.s", ".", "flag--red", "."])):
        media = TEXT.fit(pipeline.read(TEXT, sentence, str(path)), model)
        assert media.words == words and media.unknown == []
    assert pipeline.read(TEXT, "It costs 3.5 dollars.", "translate-sov").words[2:5] == ["3", ".", "5"]  # bundled: as before
    assert header.TEXT_TOKENIZERS == translator.TOKENIZERS


@pytest.mark.parametrize("options", [dict(attention="local"), dict(score="location"), dict(score="general"),
                                     dict(encoder="gru", reverse_source=True)])
def test_every_translator_design_trains_and_validates(tmp_path, options):
    task = TranslationCorpusTask(tiny(pairs_tsv(tmp_path, n_pairs=12), max_source_len=20, **options),
                                 log=lambda line: None)
    model = task.model.train()
    loss = task.loss(model, task.batch(range(4), "cpu"), sampling=0.5)
    loss.backward()
    assert torch.isfinite(loss) and model.fc.weight.grad.abs().sum() > 0
    scores = task.validate(model.eval())
    assert 0 <= scores["BLEU"] <= 100 and 0 <= scores["chrF"] <= 100 and scores["loss"] > 0


def test_the_epoch_order_is_held_in_int32_and_is_the_int64_permutation():
    """A corpus of millions holds its epoch's order in half the memory, in the very same order."""
    lengths = np.random.default_rng(1).integers(1, 50, 5000).astype(np.int32)
    for seed, epoch in ((0, 0), (7, 3)):
        order = epoch_order(len(lengths), seed, epoch, batch=16, lengths=lengths)
        assert order.dtype == torch.int32
        gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)  # the order as int64 tensors give it
        wide = torch.randperm(len(lengths), generator=gen)
        key = torch.as_tensor(lengths)
        wide = torch.cat([part[key[part].sort(stable=True).indices] for part in wide.split(16 * 50)])
        full = len(lengths) // 16
        wide = torch.cat([wide[: full * 16].view(full, 16)[torch.randperm(full, generator=gen)].flatten(),
                          wide[full * 16 :]])
        assert order.tolist() == wide.tolist()
