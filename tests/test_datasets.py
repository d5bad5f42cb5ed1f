"""The real-dataset readers (attnviewer/data/corpus.py): every format read from files written here
(tests/corpora.py), splits, counted problems with examples, the vocabulary, one-line DataErrors."""
from __future__ import annotations

import json
import os
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from attnviewer.data.corpus import (
    SPECIALS, Corpus, Item, Problems, Vocabulary, hashed_split, read_corpus, read_image_captions, read_pairs,
    read_video_captions, tokenize,
)
from attnviewer.errors import AttnViewerError, DataError
from tests.corpora import (
    CLIP_SPLITS, KARPATHY_SPLITS, MSRVTT_SPLITS, caption_tokens, captions_csv, clip_captions, clip_id, karpathy_json,
    pair_texts, pair_tokens, pairs_tsv, scene_captions, video_corpus,
)


def ids(corpus: Corpus, split: str) -> list[str]:
    return [item.id for item in corpus.splits.get(split, [])]


def one_line(e: pytest.ExceptionInfo) -> str:
    text = str(e.value)
    assert "\n" not in text and isinstance(e.value, AttnViewerError)
    return text


# --- tokenisation ---------------------------------------------------------------------------------

def test_tokenize_lowercases_and_splits_punctuation_off_the_words():
    text = 'A man\'s "well-known" dog, don\'t you think?! (Yes…) ＡＢＣ =o'
    assert tokenize(text) == ["a", "man's", "well-known", "dog", "don't", "you", "think", "yes", "abc", "=o"]
    assert tokenize(text, keep_punctuation=True) == [
        "a", "man's", '"', "well-known", '"', "dog", ",", "don't", "you", "think", "?", "!", "(", "yes", ".", ".",
        ".", ")", "abc", "=o"]
    assert tokenize(" \t\n") == [] and tokenize("... !") == []


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_tokens_are_never_empty_nor_hold_spaces_and_captions_are_translations_less_punctuation(text):
    kept = tokenize(text, keep_punctuation=True)
    assert all(t and t == t.strip() and len(t.split()) == 1 for t in kept)
    assert tokenize(text) == [t for t in kept if not all(unicodedata.category(c).startswith("P") for c in t)]


# --- image captions -------------------------------------------------------------------------------

def test_karpathy_coco_splits_paths_and_captions(tmp_path):
    path, root = karpathy_json(tmp_path, n_images=6)
    corpus = read_image_captions(path, root)
    assert corpus.task == "caption" and corpus.problems.total() == 0
    # restval counts as train, as in the literature
    wanted = {s: [f"COCO_{'train' if k == 'train' else 'val'}2014_{i:012d}.jpg"
                  for i, k in enumerate(KARPATHY_SPLITS) if {"restval": "train"}.get(k, k) == s]
              for s in ("train", "val", "test")}
    assert {s: ids(corpus, s) for s in corpus.splits} == wanted
    item = corpus.splits["train"][1]  # the restval image, in val2014/
    assert item.source == str(root / "val2014" / item.id) and Path(item.source).is_absolute()
    assert item.references == tuple(tuple(caption_tokens(r)) for r in scene_captions(1))


def test_karpathy_flickr_tokens_lowercased_and_raw_when_tokens_are_absent(tmp_path):
    path, root = karpathy_json(tmp_path, n_images=3, splits=("train",), dataset="flickr8k")
    data = json.loads(path.read_text())
    del data["images"][0]["sentences"][0]["tokens"]  # only "raw": tokenised here
    data["images"][1]["sentences"][0]["tokens"] = ["A", "Red", "Circle"]
    path.write_text(json.dumps(data))
    corpus = read_image_captions(path, root)
    first, second, _ = corpus.splits["train"]
    assert first.id == data["images"][0]["filename"] and first.source == str(root / first.id)  # no filepath
    assert first.references[0] == tuple(caption_tokens(scene_captions(0)[0]))
    assert second.references[0] == ("a", "red", "circle")


def test_karpathy_problems_counted_with_examples(tmp_path):
    path, root = karpathy_json(tmp_path, n_images=6, missing=2, empty=1)
    data = json.loads(path.read_text())
    data["images"] += ["not an entry", dict(data["images"][0]), {"filename": 3, "sentences": []},
                       {"filename": "x.jpg", "split": "sometimes", "sentences": []},
                       {"filename": "y.jpg", "sentences": []}]
    path.write_text(json.dumps(data))
    corpus = read_image_captions(path, root)
    assert corpus.problems.lines() == [
        "1 empty caption (COCO_train2014_000000000000.jpg caption 2)",
        "2 bad JSON entries (e.g. images[6], images[8])",
        "1 duplicate image (COCO_train2014_000000000000.jpg)",
        "1 unknown split (images[9]: sometimes)",
        "1 uncaptioned image (y.jpg)",
        "2 missing images (e.g. val2014/COCO_val2014_000000000004.jpg, train2014/COCO_train2014_000000000005.jpg)",
    ]
    assert corpus.problems.total() == 8
    # the image with one empty caption keeps the other; the missing ones are gone
    assert corpus.splits["train"][0].references == (tuple(caption_tokens(scene_captions(0)[0])),)
    assert ids(corpus, "test") == [] and "test" not in corpus.splits and len(ids(corpus, "train")) == 3


def test_json_bytes_that_are_not_utf8_cost_their_entry_only(tmp_path):
    path, root = karpathy_json(tmp_path, n_images=3, splits=("train",))
    path.write_bytes(path.read_bytes().replace(b'"raw": "A picture of', b'"raw": "A pictur\xe9 of', 1))
    corpus = read_image_captions(path, root)
    assert corpus.problems.lines() == ["1 non-UTF-8 entry (images[0])"] and len(corpus.splits["train"]) == 2
    annotations, clips = video_corpus(tmp_path / "v", "msrvtt", n_clips=2)
    annotations.write_bytes(annotations.read_bytes().replace(b'"caption": "In this video', b'"caption": "\xff', 1))
    corpus = read_video_captions(annotations, clips)
    assert corpus.problems.lines() == ["1 non-UTF-8 entry (sentences[1])"]
    assert len(corpus.splits["train"][0].references) == 1


def test_captions_csv_with_a_split_column(tmp_path):
    path, root = captions_csv(tmp_path, n_images=6, split_column=True)
    corpus = read_image_captions(path, root)
    assert corpus.problems.total() == 0
    assert {s: ids(corpus, s) for s in corpus.splits} == {
        "train": ["scene-0.png", "scene-3.png"], "val": ["scene-1.png", "scene-4.png"],
        "test": ["scene-2.png", "scene-5.png"]}
    item = corpus.splits["val"][0]  # two rows of the CSV, two captions (one quoted: it has a comma)
    assert item.references == tuple(tuple(caption_tokens(r)) for r in scene_captions(1))
    assert item.source == str(root / "scene-1.png")


def test_captions_csv_without_a_split_column_is_split_by_a_hash_of_the_name(tmp_path):
    path, root = captions_csv(tmp_path, n_images=8)
    corpus = read_image_captions(path, root)
    for split, items in corpus.splits.items():
        assert all(hashed_split(item.id) == split for item in items)
    assert sum(map(len, corpus.splits.values())) == 8
    # stable across runs and machines, 90 / 5 / 5 over many names
    assert [hashed_split(f"{i}.jpg") for i in range(4)] == [hashed_split(f"{i}.jpg") for i in range(4)]
    shares = [hashed_split(f"COCO_{i}.jpg") for i in range(4000)]
    assert 0.87 < shares.count("train") / 4000 < 0.93 and 0.03 < shares.count("test") / 4000 < 0.07


def test_captions_csv_problems_counted_with_examples(tmp_path):
    path, root = captions_csv(tmp_path, n_images=6, split_column=True, missing=1)
    with open(path, "ab") as f:  # lines 14 on
        f.write(b"scene-0.png,A red circle.\n")  # two columns of three: malformed
        f.write(b"scene-1.png,\"A caf\xe9 with a square.\",train\n")  # Latin-1: not UTF-8
        f.write(b"scene-2.png,\" ... \",test\n")  # only punctuation: an empty caption
        f.write(b"scene-3.png,A star.,val\n")  # scene-3 is a train image
        f.write(b"scene-4.png,A star.,holdout\n")
        f.write(b"\n,,\n")  # blank lines pass
        f.write(b"scene-2.png,\"A green\nsquare.\",test\n")  # a quoted caption over two lines
    corpus = read_image_captions(path, root)
    assert corpus.problems.lines() == [
        "1 malformed line (line 14)", "1 non-UTF-8 line (line 15)", "1 empty caption (line 16)",
        "1 conflicting split (line 17: scene-3.png)", "1 unknown split (line 18: holdout)",
        "1 missing image (scene-5.png)"]
    test = corpus.splits["test"]
    assert [item.id for item in test] == ["scene-2.png"] and test[0].references[-1] == ("a", "green", "square")


def test_csv_images_in_subfolders_and_the_default_root(tmp_path):
    image = tmp_path / "sub" / "a b.jpg"
    image.parent.mkdir()
    Image.new("RGB", (8, 8)).save(image)
    (tmp_path / "c.csv").write_text('Split, Image ,Caption\ntrain,"sub/a b.jpg",A black square.\n', encoding="utf-8")
    corpus = read_corpus("caption", tmp_path / "c.csv")  # columns in any order, names in any case
    item = corpus.splits["train"][0]
    assert item == Item("sub/a b.jpg", str(image), (("a", "black", "square"),))


# --- video captions -------------------------------------------------------------------------------

@pytest.mark.parametrize("layout", ["msvd", "msvd-original"])
def test_msvd_layouts(tmp_path, layout):
    annotations, clips = video_corpus(tmp_path, layout, n_clips=3, missing=1)
    corpus = read_video_captions(annotations, clips)
    assert corpus.task == "video"
    assert corpus.problems.lines() == [f"1 missing clip ({clip_id(layout, 2)})"]
    items = {item.id: item for split in corpus.splits.values() for item in split}
    assert sorted(items) == [clip_id(layout, 0), clip_id(layout, 1)]
    for i in range(2):  # MSVD's own CSV: only the English rows, not the German and French ones
        item = items[clip_id(layout, i)]
        assert item.source == str(clips / f"{item.id}.mp4")
        assert item.references == tuple(tuple(caption_tokens(c)) for c in clip_captions(i))
        assert item in corpus.splits[hashed_split(item.id)]


def test_msrvtt_layout_splits_and_clips_in_subfolders(tmp_path):
    annotations, clips = video_corpus(tmp_path, "msrvtt", n_clips=4, empty=1)
    (clips / "TestVideo").mkdir()  # MSR-VTT ships its clips in two folders
    os.replace(clips / "video3.mp4", clips / "TestVideo" / "video3.mp4")
    data = json.loads(annotations.read_text())
    data["videos"].append(dict(data["videos"][0]))
    data["sentences"] += [{"video_id": "video99", "caption": "a cat"}, {"caption": "no id"}]
    data["videos"].append({"video_id": "video4", "split": "train"})
    annotations.write_text(json.dumps(data))
    corpus = read_video_captions(annotations, clips)
    wanted = {"train": ["video0", "video1"], "val": ["video2"], "test": ["video3"]}
    assert {s: ids(corpus, s) for s in corpus.splits} == wanted
    assert wanted == {CLIP_SPLITS[name]: [f"video{i}" for i, n in enumerate(MSRVTT_SPLITS) if n == name]
                      for name in MSRVTT_SPLITS}
    assert corpus.splits["test"][0].source == str(clips / "TestVideo" / "video3.mp4")
    assert corpus.splits["train"][0].references == (tuple(caption_tokens(clip_captions(0)[0])),)
    assert corpus.problems.lines() == [
        "1 duplicate video (video0)", "1 empty caption (sentences[1])", "1 orphan caption (sentences[8]: video99)",
        "1 bad JSON entry (sentences[9])", "1 uncaptioned video (video4)"]


def test_items_open_with_the_apps_own_readers(tmp_path):
    """The files tests/corpora.py writes are real: the app decodes the image and the clip an item names."""
    import numpy as np

    from attnviewer.data.clip_events import generate_clip
    from attnviewer.data.synthetic import generate_scene
    from attnviewer.media.frames import read_clip
    from attnviewer.media.images import load_image
    from tests.corpora import SEED

    path, root = karpathy_json(tmp_path, n_images=1, splits=("train",))
    image = load_image(read_image_captions(path, root).splits["train"][0].source)
    def distance(a, b):
        return np.abs(a.astype(int) - b).mean()

    drawn, other = generate_scene(SEED, 0, size=64).image, generate_scene(SEED, 1, size=64).image
    assert image.rgb.shape == drawn.shape and distance(image.rgb, drawn) < distance(image.rgb, other) / 3  # JPEG: lossy
    annotations, clips = video_corpus(tmp_path / "v", "msrvtt", n_clips=1)
    clip = read_clip(read_video_captions(annotations, clips).splits["train"][0].source, steps=12)
    assert clip.frame_count == 24 and clip.frames.shape[:3] == (12, 48, 48)
    drawn, other = generate_clip(SEED, 0).frames, generate_clip(SEED, 1).frames
    assert distance(clip.frames[0], drawn[0]) < distance(clip.frames[0], other[0]) / 3  # H.264: lossy


# --- sentence pairs -------------------------------------------------------------------------------

def test_pairs_in_one_file(tmp_path):
    path = pairs_tsv(tmp_path, n_pairs=12)
    corpus = read_pairs(path)
    assert corpus.task == "translate" and corpus.problems.total() == 0
    texts = pair_texts(12)
    items = {item.id: item for split in corpus.splits.values() for item in split}
    for n, (source, target) in enumerate(texts, start=1):
        item = items[f"line {n}"]  # punctuation kept, as a translator writes it
        assert item.source == " ".join(pair_tokens(source)) and item.references == (tuple(pair_tokens(target)),)
        assert item in corpus.splits[hashed_split(item.source)]


@pytest.mark.parametrize("dev", ["val", "valid", "dev"])
def test_pairs_in_a_folder_of_splits(tmp_path, dev):
    folder = pairs_tsv(tmp_path, n_pairs=5, layout="folder", dev_name=dev)
    corpus = read_corpus("translate", folder)
    assert {s: ids(corpus, s) for s in corpus.splits} == {
        "train": [f"train.tsv line {n}" for n in range(1, 6)], "val": [f"{dev}.tsv line {n}" for n in (1, 2, 3)],
        "test": ["test.tsv line 1", "test.tsv line 2", "test.tsv line 3"]}
    assert corpus.splits["test"][0].references == (tuple(pair_tokens(pair_texts(11)[8][1])),)


def test_pair_problems_counted_with_examples(tmp_path):
    path = pairs_tsv(tmp_path, n_pairs=4, empty=1)
    with open(path, "ab") as f:  # lines 5 on
        f.write(b"one column only\n")
        f.write(b"a\tb\tc\n")
        f.write(b"\xff\xfe bytes\tok\n")
        f.write(b'"An open quote.\t"Une citation.\n')  # quotes are text in a TSV
    corpus = read_pairs(path)
    assert corpus.problems.lines() == [
        "1 empty sentence (line 1)", "2 malformed lines (e.g. line 5, line 6)", "1 non-UTF-8 line (line 7)"]
    quoted = next(item for items in corpus.splits.values() for item in items if item.id == "line 8")
    assert quoted.source == '" an open quote .' and quoted.references == (('"', "une", "citation", "."),)


# --- vocabulary -----------------------------------------------------------------------------------

def test_vocabulary_min_count_order_and_size():
    sentences = [["b", "a", "c"], ["a", "c", "d"], ["c", "a", "b", "e"], ["c", "<unk>"]]
    # counts: c 4, a 3, b 2, d 1, e 1
    assert Vocabulary.build(sentences, min_count=2).words == [*SPECIALS, "c", "a", "b"]
    assert Vocabulary.build(sentences, min_count=1).words == [*SPECIALS, "c", "a", "b", "d", "e"]
    assert Vocabulary.build(sentences, min_count=1, max_size=6).words == [*SPECIALS, "c", "a"]
    vocab = Vocabulary.build(sentences, min_count=2)
    assert vocab.encode(["a", "zebra", "c"]) == [1, 5, 3, 4, 2]  # <start> a <unk> c <end>
    assert vocab.coverage([["a", "zebra"], ["c", "b", "d", "c"]]) == pytest.approx(4 / 6)
    with pytest.raises(AttnViewerError):
        Vocabulary.build(sentences, min_count=0)
    with pytest.raises(AttnViewerError):
        Vocabulary.build(sentences, max_size=3)


def test_vocabulary_specials_and_suffixes_match_the_models_and_the_video_kind():
    from attnviewer.data.readers import VIDEO_SUFFIXES
    from attnviewer.kinds.video import VIDEO_SUFFIXES as OPENED
    from attnviewer.models.words import SPECIALS as MODEL_SPECIALS

    assert SPECIALS == MODEL_SPECIALS and VIDEO_SUFFIXES == OPENED


def test_vocabulary_from_a_corpus_train_split(tmp_path):
    path, root = karpathy_json(tmp_path, n_images=6)
    corpus = read_image_captions(path, root)
    # four train images (restval included), each with one "a picture of ..." caption
    words = Vocabulary.build(corpus.sentences("train"), min_count=4).words
    assert words[4] == "a" and words.index("of") + 1 == words.index("picture")  # a tie: alphabetical
    vocab = Vocabulary.build(corpus.sentences("train"), min_count=5)
    assert "a" in vocab.index and "picture" not in vocab.index
    assert Vocabulary.build(corpus.sentences("train"), min_count=1).coverage(corpus.sentences("train")) == 1.0


def test_problems_lines_count_and_show_the_first_examples():
    problems = Problems()
    for n in range(5):
        problems.add("bad JSON entry", f"images[{n}]")
    problems.add("missing image", "\x1b[31mred.jpg")  # a name from the file: no escape code reaches the terminal
    problems.add("caption longer than 50 words, cut", "a b c ...")
    problems.add("caption longer than 50 words, cut", "d e f ...")
    assert problems.total() == 8
    assert problems.lines() == ["5 bad JSON entries (e.g. images[0], images[1], images[2])",
                                "1 missing image (\\x1b[31mred.jpg)",
                                "2 captions longer than 50 words, cut (e.g. a b c ..., d e f ...)"]


# --- what cannot be read: one line --------------------------------------------------------------------

def test_wrong_file_types_are_one_line_data_errors(tmp_path):
    png = tmp_path / "scene.png"
    Image.new("RGB", (8, 8)).save(png)
    notes = tmp_path / "notes.txt"
    notes.write_text("just some notes\nwithout columns\n")
    (tmp_path / "bad.json").write_text('{"images": [1, 2')
    (tmp_path / "other.json").write_text('{"annotations": []}')
    (tmp_path / "folder").mkdir()
    cases = [
        (lambda: read_image_captions(png), "scene.png: a binary file, not a Karpathy split JSON or an image,caption CSV"),
        (lambda: read_image_captions(notes), "notes.txt: not a Karpathy split JSON or an image,caption CSV (its first line"),
        (lambda: read_image_captions(tmp_path / "bad.json"), "bad.json: not valid JSON (line 1, column 17"),
        (lambda: read_image_captions(tmp_path / "other.json"), 'other.json: no "images" list'),
        (lambda: read_image_captions(tmp_path / "none.json"), "none.json: no such file"),
        (lambda: read_video_captions(notes, tmp_path), "notes.txt: not MSR-VTT's JSON or an MSVD CSV"),
        (lambda: read_video_captions(tmp_path / "other.json", tmp_path), "other.json: no \"sentences\" list"),
        (lambda: read_pairs(notes), "notes.txt: not tab-separated sentence pairs"),
        (lambda: read_pairs(tmp_path / "bad.json"), "bad.json: not tab-separated sentence pairs"),
        (lambda: read_pairs(tmp_path / "folder"), "folder: no train.tsv in the folder"),
        (lambda: read_corpus("speech", notes), "unknown task 'speech': one of caption, video, translate"),
    ]
    for read, message in cases:
        with pytest.raises(DataError) as e:
            read()
        assert message in one_line(e)


def test_annotations_over_two_gigabytes_are_refused(tmp_path):
    big = tmp_path / "dataset_coco.json"
    with open(big, "wb") as f:
        f.truncate(2 * 1024 ** 3 + 1)  # sparse: no disk used
    with pytest.raises(DataError) as e:
        read_image_captions(big)
    assert "over the 2 GiB limit" in one_line(e)


def test_empty_corpus_is_a_one_line_data_error_and_a_test_only_file_reads(tmp_path):
    path, root = karpathy_json(tmp_path, n_images=3, missing=3)
    with pytest.raises(DataError) as e:
        read_image_captions(path, root)
    assert one_line(e).endswith("dataset_coco.json: no usable item (3 missing images (e.g. "
                                "train2014/COCO_train2014_000000000000.jpg, val2014/COCO_val2014_000000000001.jpg, "
                                "train2014/COCO_train2014_000000000002.jpg))")
    path, root = captions_csv(tmp_path, n_images=4, split_column=True, splits=("val", "test"))
    corpus = read_image_captions(path, root)  # nothing to train on, but a split to evaluate
    assert set(corpus.splits) == {"val", "test"} and sum(map(len, corpus.splits.values())) == 4
    with pytest.raises(DataError) as e:
        read_image_captions(path, tmp_path / "nowhere")
    assert one_line(e).endswith("nowhere: no such folder of images")
    (tmp_path / "empty.tsv").write_bytes(b"")
    with pytest.raises(DataError) as e:
        read_pairs(tmp_path / "empty.tsv")
    assert one_line(e).endswith("empty.tsv: empty, not tab-separated sentence pairs")


# --- garbage never raises anything but DataError --------------------------------------------------

GOOD_PAIR = b"A red house.\tUna kasa roj =a.\n"
lines = st.lists(st.one_of(st.binary(max_size=30), st.text(max_size=30).map(lambda s: s.encode("utf-8", "surrogatepass")),
                           st.sampled_from([GOOD_PAIR, b"x.png,A cat.,train", b'y.png,"A dog, running.",', b"\t", b"a\tb", b'"', b'"\t"', b",", b'a,"b', b"\x00", b"\r", b"\xef\xbb\xbf"])),
                 max_size=12)


def _check(corpus: Corpus) -> None:
    for items in corpus.splits.values():
        for item in items:
            assert item.references and all(ref and all(ref) for ref in item.references)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["filename", "filepath", "split", "sentences", "tokens", "raw", "video_id", "caption"])
        | st.text(max_size=4), inner, max_size=4),
    max_leaves=12)


def test_garbage_json_entries_raise_nothing_but_data_error(tmp_path):
    karpathy, root = karpathy_json(tmp_path, n_images=2, splits=("train",))
    msrvtt, clips = video_corpus(tmp_path / "v", "msrvtt", n_clips=1)
    good = {karpathy: json.loads(karpathy.read_text()), msrvtt: json.loads(msrvtt.read_text())}

    @settings(max_examples=80, deadline=None)
    @given(garbage=st.lists(json_values, max_size=3), key=st.sampled_from(["images", "videos", "sentences"]),
           field=st.sampled_from(["filename", "filepath", "split", "sentences", "video_id", "caption"]),
           value=json_values, video=st.booleans())
    def check(garbage, key, field, value, video):
        path = msrvtt if video else karpathy
        data = json.loads(json.dumps(good[path]))
        data.setdefault(key, []).extend(garbage)
        entry = (data["sentences"] if video else data["images"])[0]
        entry[field] = value
        path.write_text(json.dumps(data))
        try:
            corpus = read_video_captions(path, clips) if video else read_image_captions(path, root)
        except DataError as e:
            assert "\n" not in str(e)
            return
        _check(corpus)

    check()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=lines, first=st.booleans())
def test_garbage_pairs_raise_nothing_but_data_error(tmp_path, garbage, first):
    path = tmp_path / "garbage.tsv"
    body = b"\n".join(garbage)
    path.write_bytes(GOOD_PAIR * 3 + body if first else body + b"\n" + GOOD_PAIR * 3)
    try:
        corpus = read_pairs(path)
    except DataError as e:
        assert "\n" not in str(e)
        return
    _check(corpus)
    assert corpus.problems.total() <= len(body.splitlines()) + 1  # (a garbage line may hold line breaks)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=lines, header=st.booleans())
def test_garbage_caption_csv_raises_nothing_but_data_error(tmp_path, garbage, header):
    path = tmp_path / "garbage.csv"
    path.write_bytes((b"image,caption,split\n" if header else b"") + b"\n".join(garbage))
    try:
        corpus = read_image_captions(path, check_files=False)
    except DataError as e:
        assert "\n" not in str(e)
        return
    _check(corpus)
