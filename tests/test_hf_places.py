"""Where a transformer's encoder tokens lie: patches of an image's grid, (frame, patch) of a video,
words of a sentence. Checked with tokens whose position is known: an encoder whose attention
passes nothing between tokens keeps each token where its pixels are, so changing one patch of the
input changes exactly the token(s) the Places put there."""
from __future__ import annotations

import pytest

pytest.importorskip("transformers")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from attnviewer.lens import Lens  # noqa: E402
from attnviewer.models import registry  # noqa: E402
from attnviewer.models.hf.places import image_places, video_places, word_groups  # noqa: E402

from . import hf_models  # noqa: E402

ISOLATING = ("attention.output.dense", "temporal_dense", "attention.o_proj", "self_attn.projection")  # what attention writes back

VISION = {  # name: (builder, kind, cell side in pixels of the encoder's last grid)
    "vit": (lambda p: hf_models.vit_gpt2(p, "vit"), "caption", 8),
    "deit": (lambda p: hf_models.vit_gpt2(p, "deit"), "caption", 8),
    "beit": (lambda p: hf_models.vit_gpt2(p, "beit"), "caption", 8),
    "swin": (lambda p: hf_models.vit_gpt2(p, "swin"), "caption", 8),  # 4-pixel patches merged 2x2 once
    "blip": (hf_models.blip, "caption", 8),
    "timesformer": (lambda p: hf_models.video_gpt2(p, "timesformer"), "video", 8),
    "videomae": (lambda p: hf_models.video_gpt2(p, "videomae"), "video", 8),
}


@pytest.fixture(scope="module")
def isolated(tmp_path_factory):
    """name -> a Stepper whose encoder's attention writes nothing back (each token keeps to itself)."""
    cache = {}

    def get(name: str):
        if name not in cache:
            build, kind, _ = VISION[name]
            model = registry.load(str(build(tmp_path_factory.mktemp("places") / name)), "cpu", kind=kind)
            encoder = model.hf.vision_model if model.family == "blip" else model.hf.encoder
            with torch.no_grad():
                for pname, p in encoder.named_parameters():
                    if any(part in pname for part in ISOLATING):
                        p.zero_()
            cache[name] = model
        return cache[name]

    return get


def _changed_tokens(model, pixels: torch.Tensor, changed: torch.Tensor):
    """(the encoder tokens that changed, the Places of the input)."""
    with torch.inference_mode():
        a = model.encode(pixels)[0][0]
        b, _, places = model.encode(changed)
    return torch.nonzero((a - b[0]).abs().amax(dim=-1) > 1e-5).flatten().tolist(), places[0]


@pytest.mark.parametrize("name", ["vit", "deit", "beit", "swin", "blip"])
@pytest.mark.parametrize("cell", [(0, 0), (1, 3), (3, 2)])
def test_a_changed_patch_is_the_token_placed_there(isolated, name, cell):
    model = isolated(name)
    side = VISION[name][2]
    size = model.config.image_size
    pixels = torch.full((1, 3, size, size), 100.0)
    changed = pixels.clone()
    r, c = cell
    changed[..., r * side:(r + 1) * side, c * side:(c + 1) * side] = 250.0
    tokens, places = _changed_tokens(model, pixels, changed)
    assert len(tokens) == 1, tokens
    assert places.shape == (size // side, size // side)
    assert int(places.token_place[tokens[0]]) == r * places.shape[1] + c
    specials = {"deit": 2, "swin": 0}.get(name, 1)
    assert list(places.token_place[:specials]) == [-1] * specials


@pytest.mark.parametrize("name", ["timesformer", "videomae"])
@pytest.mark.parametrize("frame,cell", [(0, (0, 0)), (1, (1, 0)), (3, (0, 1)), (2, (1, 1))])
def test_a_changed_patch_of_a_frame_is_the_token_placed_there(isolated, name, frame, cell):
    """TimeSformer: the (frame, patch) token itself. VideoMAE: its tubelet's token, whose weight the
    places share equally between the tubelet's two frames."""
    model = isolated(name)
    side, size, frames = VISION[name][2], model.config.frame_size, model.config.steps
    clip = torch.full((1, frames, 3, size, size), 100.0)
    changed = clip.clone()
    r, c = cell
    changed[0, frame, :, r * side:(r + 1) * side, c * side:(c + 1) * side] = 250.0
    tokens, places = _changed_tokens(model, clip, changed)
    grid = places.detail[1:]
    assert places.shape == (frames,) and grid == (size // side, size // side)
    patch = r * grid[1] + c
    assert len(tokens) == 1, tokens
    if name == "timesformer":
        assert places.token_place[0] == -1  # CLS
        assert places.token_place[tokens[0]] == frame
        assert places.token_detail[tokens[0]] == frame * grid[0] * grid[1] + patch
        return
    # VideoMAE: the places are one per (frame, patch), each naming the encoder token it copies
    copies = model._copies.numpy()
    copying = np.flatnonzero(copies == tokens[0])
    tubelet = frame // model.tubelet * model.tubelet
    assert sorted(places.token_place[copying].tolist()) == [tubelet, tubelet + 1]
    assert set(places.token_detail[copying] % (grid[0] * grid[1])) == {patch}
    # all of the tubelet's weight lands on its frames, half each, at that patch
    weights = np.zeros(len(copies), dtype=np.float32)
    weights[copying] = 1.0 / model.tubelet
    maps, sink = places.place(weights)
    assert maps[tubelet] == pytest.approx(0.5) and maps[tubelet + 1] == pytest.approx(0.5) and sink == 0
    detail = places.details(weights)
    assert detail[tubelet, r, c] == pytest.approx(0.5)


def test_videomae_attention_is_spread_over_the_tubelet_frames(isolated):
    """A step's attention comes per (frame, patch): each tubelet's weight halved over its frames."""
    model = isolated("videomae")
    size, frames = model.config.frame_size, model.config.steps
    clip = torch.rand(1, frames, 3, size, size, generator=torch.Generator().manual_seed(0)) * 255
    with torch.inference_mode():
        state = model.init_state(clip)
        _, att, _ = model.step(state, torch.tensor([model.start_id]))
    n_tokens = state["encoder"].shape[1]
    assert n_tokens == frames // model.tubelet * 4 and att.shape[-1] == frames * 4
    assert float(att.sum(dim=-1).sub(1).abs().max()) < 1e-5  # still a distribution
    copies = model._copies
    assert torch.allclose(att[..., copies == 0].sum(-1) * 0 + att[..., copies == 0][..., 0] * model.tubelet,
                          att[..., copies == 0].sum(-1))


def test_rollout_only_where_the_encoder_attends_over_all_its_tokens(isolated):
    """Swin attends within windows and TimeSformer within a frame or a patch's time line: no rollout
    lens for them (None, not a wrong matrix); ViT's and VideoMAE's (spread like their tokens) exist."""
    for name, expected in (("swin", False), ("timesformer", False), ("vit", True), ("videomae", True)):
        model = isolated(name)
        size = model.config.image_size if model.kind == "caption" else model.config.frame_size
        shape = (1, 3, size, size) if model.kind == "caption" else (1, model.config.steps, 3, size, size)
        with torch.inference_mode():
            model.init_state(torch.rand(shape) * 255)
        rolled = model.input_places[0].rollout
        assert (rolled is not None) == expected, name
        if expected:
            n = len(model.input_places[0].token_place)
            assert rolled.shape == (n, n)
            np.testing.assert_allclose(rolled.sum(axis=1), 1.0, atol=1e-4)


# -- the mapping itself, with weights put on known tokens ---------------------------------------------


@pytest.mark.parametrize("specials", [0, 1, 2])
def test_all_weight_on_one_patch_peaks_in_its_cell(specials):
    places = image_places(specials + 4 * 6, 32, 48, 8)  # a 4 x 6 grid of a wider picture (25 tokens: 5 x 5?)
    assert places.shape == (4, 6)
    for token, cell in ((specials, (0, 0)), (specials + 6 * 2 + 5, (2, 5)), (specials + 23, (3, 5))):
        heads = np.zeros((2, 3, specials + 24), dtype=np.float32)
        heads[..., token] = 1.0
        maps, sink = places.maps(heads, Lens(-1, "mean"))
        assert np.unravel_index(maps.argmax(), maps.shape) == cell and maps.max() == pytest.approx(1.0)
        assert sink == pytest.approx(0.0)


def test_the_specials_mass_is_the_sink_and_the_map_renormalised():
    places = image_places(2 + 16, 32, 32)  # DeiT: CLS and distillation tokens first
    weights = np.zeros(18, dtype=np.float32)
    weights[0], weights[1], weights[2 + 5], weights[2 + 10] = 0.3, 0.2, 0.4, 0.1
    maps, sink = places.place(weights)
    assert sink == pytest.approx(0.5)
    assert maps[1, 1] == pytest.approx(0.8) and maps[2, 2] == pytest.approx(0.2) and maps.sum() == pytest.approx(1.0)


def test_token_counts_that_are_no_grid_are_refused():
    from attnviewer.errors import CheckpointError

    with pytest.raises(CheckpointError, match="no patch grid"):
        image_places(3 + 16, 32, 32)  # three specials
    with pytest.raises(CheckpointError, match="no patch grid"):
        image_places(1 + 16, 32, 32, 4)  # 8 x 8 patches of 4 pixels
    with pytest.raises(CheckpointError, match="no grid"):
        video_places(1 + 4 * 4 + 1, 4, 16, 16, 1, "timesformer")


def test_timesformer_tokens_are_patch_major():
    """As its time embedding leaves them: all frames of patch 0, then of patch 1, ..."""
    places, copies = video_places(1 + 3 * 4, 3, 16, 16, 1, "timesformer")
    assert copies is None
    assert places.token_place.tolist() == [-1, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2]
    assert places.token_detail.tolist() == [-1, 0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]


def test_videomae_tubelets_are_time_major_and_shared_by_their_frames():
    places, copies = video_places(2 * 4, 4, 16, 16, 2, "videomae")  # 2 tubelets of 2 frames, 2x2 patches
    assert places.token_place.tolist() == [0] * 4 + [1] * 4 + [2] * 4 + [3] * 4
    assert copies.tolist() == [0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 6, 7, 4, 5, 6, 7]
    single, none = video_places(4 * 4, 4, 16, 16, 1, "videomae")
    assert none is None and single.token_place.tolist() == [0] * 4 + [1] * 4 + [2] * 4 + [3] * 4


# -- sentences: subword pieces merged into words ---------------------------------------------------


@pytest.fixture(scope="module")
def tokenizers():
    return {"wordpiece": hf_models.with_eos(hf_models.word_tokenizer(pieces=True)),
            "bert": hf_models.bert_tokenizer(),
            "sentencepiece": hf_models.sentencepiece_tokenizer(),
            "byte-bpe": hf_models.byte_bpe_tokenizer()}


TEXT = "the red houses and gardens"
WORDS = ["the", "red", "houses", "and", "gardens"]


@pytest.mark.parametrize("style", ["wordpiece", "bert", "sentencepiece", "byte-bpe"])
def test_pieces_merge_into_the_words(tokenizers, style):
    tok = tokenizers[style]
    words, ids, place, pieces = word_groups(tok, TEXT)
    assert words == WORDS
    assert len(ids) == len(place) == len(pieces) > len(WORDS)  # some words are several pieces
    specials = set(tok.all_special_ids)
    assert [p for p, i in zip(place, ids) if i in specials] == [-1] * sum(i in specials for i in ids)
    assert sorted(set(place) - {-1}) == list(range(len(WORDS)))
    assert place == sorted(place, key=lambda p: (p < 0, p)) or all(p < 0 for p in place[:1])  # in order
    # "houses" is two pieces: both go to word 2, and their weights add up there
    two = [k for k, p in enumerate(place) if p == 2]
    assert len(two) == 2
    from attnviewer.lens import Places

    places = Places(np.asarray(place), (len(words),), pieces)
    weights = np.zeros(len(ids), dtype=np.float32)
    weights[two] = 0.3
    weights[[k for k, i in enumerate(ids) if i in specials]] = 0.4 / max(1, sum(i in specials for i in ids))
    maps, sink = places.place(weights)
    assert maps[2] == pytest.approx(1.0) and sink == pytest.approx(0.4)


class _Encoding(dict):
    def __init__(self, enc, word_ids):
        super().__init__(enc)
        self._word_ids = word_ids

    def word_ids(self):
        if self._word_ids == "raise":
            raise ValueError("word_ids() is not available when using non-fast tokenizers")
        return self._word_ids


class _Tokenizer:
    """A tokenizer whose word_ids are missing or wrong (transformers issue 31437)."""

    def __init__(self, tok, word_ids):
        self.tok, self.word_ids = tok, word_ids
        self.all_special_ids = tok.all_special_ids

    def __call__(self, text, **options):
        enc = self.tok(text, **options)
        wrong = self.word_ids(len(enc["input_ids"])) if callable(self.word_ids) else self.word_ids
        return _Encoding(enc, wrong)

    def convert_ids_to_tokens(self, ids):
        return self.tok.convert_ids_to_tokens(ids)


@pytest.mark.parametrize("style", ["wordpiece", "bert", "sentencepiece", "byte-bpe"])
@pytest.mark.parametrize("word_ids", ["raise", None, "short", "one word each", "all one word"])
def test_without_right_word_ids_the_markers_merge_the_pieces(tokenizers, style, word_ids):
    wrong = {"raise": "raise", None: None, "short": lambda n: [0] * (n - 1),
             "one word each": lambda n: list(range(n)), "all one word": lambda n: [0] * n}[word_ids]
    expected = word_groups(tokenizers[style], TEXT)
    assert word_groups(_Tokenizer(tokenizers[style], wrong), TEXT) == expected
