"""What the what-if probes do to each kind of input: blank out some of its places (a deletion), say
what was blanked, and give gradient attribution a continuous input whose gradient sums into the
places of a word's map. One entry per medium (image, video, text), looked up through the kind, so
masking.py and attribution.py never branch on the kind themselves.

A place is what a word's map covers: a cell of the image's grid, a sampled frame, a source word.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np

from ..errors import SettingsError


def cell_edges(n: int, size: int) -> np.ndarray:
    """Pixel edges of n cells over size pixels (as evaluation/image.py's pointing game cuts them)."""
    return np.round(np.arange(n + 1) * size / n).astype(int)


# -- images: cells of the attention grid over the whole picture -------------------------------


def _mask_image(media, model, where: np.ndarray, fill: str):
    rgb = np.asarray(media.rgb)
    h, w = rgb.shape[:2]
    rows, cols = cell_edges(where.shape[0], h), cell_edges(where.shape[1], w)
    pixels = np.zeros((h, w), bool)
    for i, j in np.argwhere(where):
        pixels[rows[i]:rows[i + 1], cols[j]:cols[j + 1]] = True
    out = rgb.copy()
    if fill == "blur":  # a blur as wide as a cell: the region's colours stay, its shapes go
        import cv2

        sigma = max(h / where.shape[0], w / where.shape[1])
        out[pixels] = cv2.GaussianBlur(rgb, (0, 0), sigmaX=sigma)[pixels]
    else:
        out[pixels] = np.round(rgb.reshape(-1, 3).mean(0)).astype(np.uint8)
    return replace(media, rgb=out)


def _image_region(media, where: np.ndarray) -> str:
    return f"{where.mean():.0%} of the image"


def _image_places(attr, shape: tuple) -> np.ndarray:
    """(B, 3, S, S) attribution of the model's pixels -> (B, rows, cols) sums per grid cell."""
    a = np.asarray(attr.detach().double().cpu().numpy()).sum(1)
    rows, cols = cell_edges(shape[0], a.shape[1]), cell_edges(shape[1], a.shape[2])
    return np.add.reduceat(np.add.reduceat(a, rows[:-1], axis=1), cols[:-1], axis=2)


# -- videos: the sampled frames ---------------------------------------------------------------


def _mask_frames(media, model, where: np.ndarray, fill: str):
    frames = np.asarray(media.frames).copy()
    if fill == "blur":
        import cv2

        for t in np.flatnonzero(where):
            frames[t] = cv2.GaussianBlur(frames[t], (0, 0), sigmaX=max(frames.shape[1:3]) / 8)
    else:  # the clip's mean colour: the frame is there, with nothing in it
        frames[where] = np.round(np.asarray(media.frames).reshape(-1, 3).mean(0)).astype(np.uint8)
    return replace(media, frames=frames)


def _frames_region(media, where: np.ndarray) -> str:
    picked = np.flatnonzero(where)
    times = getattr(media, "times", None)
    at = ", ".join(f"{times[t]:.2f}s" if times is not None and t < len(times) else str(t + 1) for t in picked)
    return f"{len(picked)} of {where.size} frames: {at}"


def _frame_places(attr, shape: tuple) -> np.ndarray:
    """(B, T, 3, S, S) attribution of the frames -> (B, T) sums per frame."""
    a = attr.detach().double().cpu().numpy()
    return a.reshape(a.shape[0], a.shape[1], -1).sum(2)


# -- sentences: the source words --------------------------------------------------------------


def _mask_words(media, model, where: np.ndarray, fill: str):
    from ..kinds import Sentence

    tokenizer = getattr(model, "tokenizer", None)
    unk = getattr(tokenizer, "unk_token", None) if tokenizer is not None else "<unk>"
    words = []
    for i, word in enumerate(media.words):
        if i < len(where) and where[i]:
            if fill == "drop" or unk is None:  # (a byte-level tokenizer has no unknown token: the word goes)
                continue
            word = unk
        words.append(word)
    if not words:
        words = [unk or "."]
    text = " ".join(words)
    if hasattr(model, "sentence_words"):  # a transformer reads the text in its own pieces
        return Sentence(text, model.sentence_words(text))
    return Sentence(text, words, model.unknown_words(words))


def _words_region(media, where: np.ndarray) -> str:
    picked = [media.words[i] for i in np.flatnonzero(where) if i < len(media.words)]
    return ("source word " if len(picked) == 1 else "source words ") + ", ".join(repr(w) for w in picked)


@dataclass
class GradientInput:
    """What gradient attribution differentiates: x (1, ...) and the decoding state of a batch of
    such inputs; places(attr, shape) sums an attribution shaped like x into a word's map's places."""

    x: Any
    state_of: Callable[[Any], dict]
    places: Callable[[Any, tuple], np.ndarray]
    what: str  # "pixels", "frames", "source embeddings"
    baseline: Callable[[Any], Any] = lambda x: x * 0  # the blank input integrated gradients start from


def _repeat(inputs, n: int):
    """A model input (a tensor, or a tuple of tensors and lists) as a batch of n copies of its first item."""
    import torch

    if isinstance(inputs, torch.Tensor):
        return inputs[:1].expand(n, *inputs.shape[1:]).contiguous()
    return tuple(_repeat(x, n) if isinstance(x, torch.Tensor) else list(x[:1]) * n for x in inputs)


def _pixels_input(kind, model, media, device, places, what) -> GradientInput:
    x = kind.inputs(model, [media], device)

    return GradientInput(x, model.init_state, places, what, _mean_colour)


def _mean_colour(x):
    """Pixels (B, [T,] 3, S, S) -> each (frame's) mean colour everywhere: the masks' blank, and a
    baseline the path from which stays among ordinary images (black pixels are far out for a
    network that normalises them, and its integral then needs many more steps)."""
    return x.mean(dim=(-2, -1), keepdim=True).expand_as(x).clone()


def _hooked_input(kind, model, media, device, layer, reshape) -> tuple:
    """(x, state_of, model inputs): x the output of `layer` while the model encodes the input,
    (1, ...) as reshape(output, 1) gives it; state_of(xs) runs the encoder with the layer's
    output replaced by a batch xs (a forward hook, removed before the decoder runs: a transformer
    may share the layer with its decoder)."""
    import torch

    inputs = kind.inputs(model, [media], device)
    seen = []
    handle = layer.register_forward_hook(lambda module, args, out: seen.append(out.detach()))
    try:
        with torch.no_grad():
            model.init_state(inputs)
    finally:
        handle.remove()
    x = reshape(seen[0], 1)

    def state_of(xs):
        handle = layer.register_forward_hook(lambda module, args, out: xs.reshape(out.shape))
        try:
            return model.init_state(_repeat(inputs, len(xs)))
        finally:
            handle.remove()

    return x, state_of, inputs


def _frames_input(kind, model, media, device) -> GradientInput:
    """Our video captioners: each frame's features (what the memory reads); a transformer: its pixels."""
    appearance = getattr(model, "frames", None)
    if appearance is None:
        return _pixels_input(kind, model, media, device, _frame_places, "frame pixels")
    x, state_of, _ = _hooked_input(kind, model, media, device, appearance, lambda out, b: out.reshape(b, -1, out.shape[-1]))
    return GradientInput(x, state_of, lambda attr, shape: attr.detach().double().cpu().numpy().sum(-1), "frame features")


def _embedding_input(kind, model, media, device) -> GradientInput:
    """The source embeddings (the embedding layer's output, per source token)."""
    if hasattr(model, "source_embedding"):  # our translator
        layer = model.source_embedding
    else:  # a transformers encoder-decoder
        layer = model.hf.get_encoder().get_input_embeddings()
    x, state_of, inputs = _hooked_input(kind, model, media, device, layer, lambda out, b: out)

    n_words = len(media.words)
    token_place = _token_words(model, inputs, x.shape[1], n_words)

    def places(attr, shape):
        a = attr.detach().double().cpu().numpy().sum(-1)  # (B, tokens)
        out = np.zeros((a.shape[0], shape[0]))
        for tok, word in enumerate(token_place):
            if 0 <= word < shape[0]:
                out[:, word] += a[:, tok]
        return out

    return GradientInput(x, state_of, places, "source embeddings")


def _token_words(model, inputs, n_tokens: int, n_words: int) -> list[int]:
    """The source word of each position the embedding layer sees (-1: none, e.g. </s>)."""
    if len(inputs) == 3:  # a transformer: its pieces -> words
        return [int(p) for p in inputs[2][0].token_place[:n_tokens]]
    order = list(range(n_tokens))
    if getattr(model.config, "reverse_source", False):  # it reads the sentence backwards
        order = list(range(n_words))[::-1] + list(range(n_words, n_tokens))
    return [w if w < n_words else -1 for w in order]


@dataclass(frozen=True)
class Edits:
    fills: tuple[str, ...]  # the first is the default
    mass: float  # mask the fewest places that hold this share of the weight (0: the top place alone)
    mask: Callable
    region: Callable  # (media, where) -> what was masked, in words
    gradient_input: Callable  # (kind, model, media, device) -> GradientInput


EDITS = {
    "image": Edits(("mean", "blur"), 0.5, _mask_image, _image_region,
                   lambda k, m, media, d: _pixels_input(k, m, media, d, _image_places, "pixels")),
    "video": Edits(("mean", "blur"), 0.5, _mask_frames, _frames_region,
                   _frames_input),
    "text": Edits(("unk", "drop"), 0.0, _mask_words, _words_region, _embedding_input),
}


def edits(kind) -> Edits:
    return EDITS[kind.medium]


def check_fill(kind, fill: str | None) -> str:
    """The fill to mask with (the kind's default for None); SettingsError of one line for another kind's."""
    e = edits(kind)
    if fill is None:
        return e.fills[0]
    if fill not in e.fills:
        raise SettingsError(f"--mask-fill {fill}: {kind.a_noun} is masked with {' or '.join(e.fills)}")
    return fill
