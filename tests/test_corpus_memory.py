"""A corpus held compactly for training: every reader gives one string object per distinct word
(interned), the corpus tasks keep their examples' ids in flat int32 arrays with offsets, and the
translation task lets its training pairs' words go once encoded, while what it trains on stays
exactly what the words gave."""
from __future__ import annotations

import gc
from collections import defaultdict

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from attnviewer.data.corpus import Item, read_corpus, read_pairs
from attnviewer.models.words import padded
from attnviewer.training.corpus_splits import IdArrays, ReferenceIds
from attnviewer.training.text_corpus import TranslateCorpusSettings, TranslationCorpusTask

from . import corpora


def one_object_per_word(sentences) -> bool:
    seen = defaultdict(set)
    for words in sentences:
        for w in words:
            seen[w].add(id(w))
    return bool(seen) and all(len(ids) == 1 for ids in seen.values())


def test_every_reader_gives_one_string_per_distinct_word(tmp_path):
    pairs = read_pairs(corpora.pairs_tsv(tmp_path, n_pairs=30))
    karpathy = read_corpus("caption", *corpora.karpathy_json(tmp_path / "k", n_images=4))  # tokens given
    csv = read_corpus("caption", *corpora.captions_csv(tmp_path / "c", n_images=4))  # tokenized
    for corpus in (pairs, karpathy, csv):
        sentences = [r for items in corpus.splits.values() for item in items for r in item.references]
        assert len(sentences) > 1 and one_object_per_word(sentences)


sequences = st.lists(st.lists(st.integers(-2 ** 31, 2 ** 31 - 1), max_size=6), max_size=8)


@settings(max_examples=60, deadline=None)
@given(sequences)
def test_id_arrays_give_back_every_sequence(seqs):
    arrays = IdArrays(seqs)
    assert len(arrays) == len(seqs) and [a.tolist() for a in arrays] == seqs
    assert arrays.lengths.tolist() == [len(s) for s in seqs]
    assert arrays.ids.dtype == np.int32 and arrays.ids.nbytes == 4 * sum(map(len, seqs))


@settings(max_examples=60, deadline=None)
@given(st.lists(sequences, max_size=5))
def test_reference_ids_give_each_items_references(items):
    refs = ReferenceIds(items)
    assert len(refs) == len(items)
    assert [[a.tolist() for a in item] for item in refs] == items
    examples = [(i, r) for i, item in enumerate(items) for r in range(len(item))][::-1]
    assert [refs[i, r].tolist() for i, r in examples] == [items[i][r] for i, r in examples]
    assert refs.lengths(examples).tolist() == [len(items[i][r]) for i, r in examples]


def test_padding_arrays_gives_what_padding_lists_gave():
    seqs = [[5, 6, 7], [], [9]]
    from_arrays = padded([np.array(s, dtype=np.int32) for s in seqs], 0)
    assert from_arrays.dtype == torch.long and torch.equal(from_arrays, torch.tensor([[5, 6, 7], [0, 0, 0], [9, 0, 0]]))


def test_the_translation_task_trains_on_the_words_ids_and_keeps_no_training_words(tmp_path):
    folder = corpora.pairs_tsv(tmp_path, n_pairs=20, layout="folder")
    gc.collect()
    live = sum(type(o) is Item for o in gc.get_objects())
    task = TranslationCorpusTask(TranslateCorpusSettings(str(folder), min_count=2, hidden_dim=8, embed_dim=8),
                                 log=lambda line: None)
    gc.collect()
    assert sum(type(o) is Item for o in gc.get_objects()) - live == len(task.val) == 3  # the validation pairs alone
    assert all(isinstance(w, str) for item in task.val for r in item.references for w in r)  # BLEU scores words

    train = read_pairs(folder).splits["train"]  # the words the task read, read again
    assert task.size() == len(train) == 20
    words = sum(len(item.source.split()) for item in train)
    assert task.sources.ids_path.stat().st_size == 4 * words  # int32 ids on the disk
    assert task.sources.nbytes == 4 * len(train)  # in memory: each source's length alone
    model = task.model
    for chosen in ([0, 1, 2, 3], [19, 4, 11], list(range(20))):
        batch = task.batch(chosen, "cpu")
        ids, lengths = model.source_batch([train[i].source.split() for i in chosen])  # as the task did before
        targets = padded([model.encode_text(" ".join(train[i].references[0])) for i in chosen], model.pad_id)
        for got, want in ((batch["source"], ids), (batch["lengths"], lengths), (batch["targets"], targets)):
            assert got.dtype == want.dtype and torch.equal(got, want)
    assert task.lengths().tolist() == [len(item.source.split()) for item in train]
