"""`train caption --data` / `train video --data` refuse a --min-count that leaves no word before
they encode a single image or clip: feature extraction takes hours on a real corpus, the answer
is known from the captions alone."""
from __future__ import annotations

import pytest

from attnviewer import cli
from attnviewer.training import features, image_corpus

from . import corpora

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def no_extraction(monkeypatch):
    def extract(*args, **kwargs):
        raise AssertionError("features were extracted before the vocabulary was checked")

    monkeypatch.setattr(features, "extract", extract)
    monkeypatch.setattr(image_corpus, "extract", extract)


def refused(argv, tmp_path, capsys) -> str:
    out = tmp_path / "m.safetensors"
    code = cli.main([*argv, "--out", str(out), "--features-dir", str(tmp_path / "features"), "--min-count", "1000",
                     "--hidden-dim", "16", "--epochs", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert not out.exists() and not (tmp_path / "features").exists()
    return err[0]


def test_an_image_corpus_with_no_word_left_is_refused_before_any_image_is_encoded(tmp_path, capsys, no_extraction):
    data, root = corpora.karpathy_json(tmp_path, n_images=6, splits=("train", "train", "val"))
    line = refused(["train", "caption", "--data", str(data), "--images", str(root), "--image-size", "64"],
                   tmp_path, capsys)
    assert "no word is seen at least 1000 times" in line and "--min-count" in line


def test_a_video_corpus_with_no_word_left_is_refused_before_any_clip_is_encoded(tmp_path, capsys, no_extraction):
    data, root = corpora.video_corpus(tmp_path, layout="msvd", n_clips=4)
    line = refused(["train", "video", "--data", str(data), "--clips", str(root), "--frame-size", "64"],
                   tmp_path, capsys)
    assert "no word is seen at least 1000 times" in line and "--min-count" in line
