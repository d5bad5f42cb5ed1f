"""The lens: how a transformer's cross-attention, every layer and head of it, becomes the one map a
word shows. Plain numpy: the window redraws a new lens from stored attention without torch and
without decoding again.

A transformer's step gives `[layers, heads, tokens]` over the encoder's tokens. The lens picks a
layer (one, the mean of all, or rollout: the cross-attention carried back through the encoder's own
self-attention, Abnar & Zuidema 2020, combined as inseq does after Ferrando et al. 2022), combines
the heads (mean, max, or one head), and `Places` maps the tokens to what the kind shows: an
image's patch grid, a video's frames, a sentence's words. Tokens that are no place (CLS,
distillation tokens, </s>, language tags) are left out and their share is reported as the
"sink"; the map is renormalised over the places.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

HEADS = ("mean", "max")  # or a head's index
LAYERS = ("mean", "rollout")  # or a layer's index (negative from the last)


@dataclass(frozen=True)
class Lens:
    layer: int | str = -1  # the last layer, as inseq's default view
    heads: int | str = "mean"

    def check(self, layers: int, heads: int) -> "Lens":
        """ValueError with one line if the lens names a layer or head the model lacks."""
        if isinstance(self.layer, str) and self.layer not in LAYERS:
            raise ValueError(f"unknown layer {self.layer!r}; choose a number, {' or '.join(LAYERS)}")
        # (messages count from 1, as --lens and the window do)
        if isinstance(self.layer, int) and not -layers <= self.layer < layers:
            shown = self.layer + 1 if self.layer >= 0 else self.layer
            raise ValueError(f"layer {shown} does not exist; the decoder has {layers} (1-{layers})")
        if isinstance(self.heads, str) and self.heads not in HEADS:
            raise ValueError(f"unknown heads {self.heads!r}; choose a number, {' or '.join(HEADS)}")
        if isinstance(self.heads, int) and not 0 <= self.heads < heads:
            raise ValueError(f"head {self.heads + 1} does not exist; each layer has {heads} (1-{heads})")
        return self

    def describe(self, layers: int | None = None) -> str:
        """'layer 6 of 6, mean of heads': as figures and the window label it."""
        if self.layer == "mean":
            where = "mean of layers"
        elif self.layer == "rollout":
            where = "rollout"
        else:
            n = self.layer % layers if layers and self.layer < 0 else self.layer
            where = f"layer {n + 1}" + (f" of {layers}" if layers else "")
        how = f"{self.heads} of heads" if isinstance(self.heads, str) else f"head {self.heads + 1}"
        return f"{where}, {how}"

    def to_dict(self) -> dict:
        return {"layer": self.layer, "heads": self.heads}

    @classmethod
    def parse(cls, text: str) -> "Lens":
        """'last', '3', 'mean', 'rollout', optionally ':mean', ':max', ':H' (layers from 1, heads from 1)."""
        layer_text, _, heads_text = text.strip().lower().partition(":")

        def number(t: str, what: str) -> int:
            try:
                n = int(t)
            except ValueError:
                raise ValueError(f"{what} {t!r} is not a number") from None
            if n < 1:
                raise ValueError(f"{what} {n}: {what}s count from 1")
            return n - 1

        layer = -1 if layer_text in ("", "last") else layer_text if layer_text in LAYERS else number(layer_text, "layer")
        heads = "mean" if heads_text in ("", "mean") else heads_text if heads_text in HEADS else number(heads_text, "head")
        return cls(layer, heads)

    @classmethod
    def from_dict(cls, d: dict | None) -> "Lens":
        d = d or {}
        layer, heads = d.get("layer", -1), d.get("heads", "mean")
        if not isinstance(layer, (int, str)) or isinstance(layer, bool):
            raise ValueError("a lens's layer is a number or a name")
        if not isinstance(heads, (int, str)) or isinstance(heads, bool):
            raise ValueError("a lens's heads are a number or a name")
        return cls(layer, heads)


DEFAULT = Lens()


@dataclass
class Places:
    """How the encoder's tokens map to the places a kind shows.

    token_place[i] is the place of token i (-1: a special token, no place); the places are
    shaped `shape` (an image's (rows, cols), a video's (frames,), a sentence's (words,)).
    `detail`, for video, is (frames, rows, cols): where in each frame (token_detail gives each
    token's flat index in it). `rollout` is the encoder's rolled-out self-attention (tokens x
    tokens) of the input, for the rollout lens. `labels` names each token as the model reads it
    (the raw subwords of a sentence)."""

    token_place: np.ndarray
    shape: tuple[int, ...]
    labels: list[str] = field(default_factory=list)
    rollout: np.ndarray | None = None
    detail: tuple[int, ...] | None = None
    token_detail: np.ndarray | None = None

    @property
    def n_places(self) -> int:
        return int(np.prod(self.shape))

    def tokens(self, heads: np.ndarray, lens: Lens = DEFAULT) -> np.ndarray:
        """[..., layers, heads, tokens] -> [..., tokens]: one weight per token, through the lens."""
        heads = np.asarray(heads, dtype=np.float32)
        n_layers, n_heads = heads.shape[-3], heads.shape[-2]
        lens.check(n_layers, n_heads)
        if isinstance(lens.heads, int):
            per_layer = heads[..., lens.heads, :]
        elif lens.heads == "max":
            per_layer = heads.max(axis=-2)
        else:
            per_layer = heads.mean(axis=-2)
        if lens.layer == "mean":
            out = per_layer.mean(axis=-2)
        elif lens.layer == "rollout":
            out = per_layer[..., -1, :]
            if self.rollout is not None:
                out = out @ self.rollout
        else:
            out = per_layer[..., lens.layer, :]
        if lens.heads == "max" or lens.layer == "mean":
            out = out / np.maximum(out.sum(axis=-1, keepdims=True), 1e-12)
        return out

    def maps(self, heads: np.ndarray, lens: Lens = DEFAULT) -> tuple[np.ndarray, np.ndarray]:
        """([..., *shape] the maps, renormalised over the places; [...] the specials' share)."""
        weights = self.tokens(heads, lens)
        return self.place(weights)

    def place(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """[..., tokens] -> ([..., *shape] summed per place and renormalised, [...] the specials' share)."""
        weights = np.asarray(weights, dtype=np.float32)
        lead = weights.shape[:-1]
        flat = weights.reshape(-1, weights.shape[-1])
        keep = self.token_place >= 0
        out = np.zeros((flat.shape[0], self.n_places), dtype=np.float32)
        np.add.at(out.T, self.token_place[keep], flat[:, keep].T)
        total = flat.sum(axis=1)
        sink = 1.0 - out.sum(axis=1) / np.maximum(total, 1e-12)
        out /= np.maximum(out.sum(axis=1, keepdims=True), 1e-12)
        return out.reshape(*lead, *self.shape), np.clip(sink, 0.0, 1.0).reshape(lead)

    def details(self, weights: np.ndarray) -> np.ndarray | None:
        """[..., tokens] -> [..., *detail]: video's where-in-each-frame maps, each frame's summing to
        its share of the attention (None for kinds without detail)."""
        if self.detail is None or self.token_detail is None:
            return None
        weights = np.asarray(weights, dtype=np.float32)
        lead = weights.shape[:-1]
        flat = weights.reshape(-1, weights.shape[-1])
        keep = self.token_detail >= 0
        out = np.zeros((flat.shape[0], int(np.prod(self.detail))), dtype=np.float32)
        np.add.at(out.T, self.token_detail[keep], flat[:, keep].T)
        out /= np.maximum(out.sum(axis=1, keepdims=True), 1e-12)
        return out.reshape(*lead, *self.detail)

    def to_dict(self) -> dict:
        """The JSON-ready record (arrays as lists) a saved result keeps."""
        d = {"token_place": self.token_place.tolist(), "shape": list(self.shape), "labels": list(self.labels)}
        if self.detail is not None:
            d["detail"] = list(self.detail)
            d["token_detail"] = self.token_detail.tolist()
        return d

    @classmethod
    def from_dict(cls, d: dict, rollout: np.ndarray | None = None) -> "Places":
        detail = d.get("detail")
        return cls(np.asarray(d["token_place"], dtype=np.int64), tuple(int(x) for x in d["shape"]),
                   [str(x) for x in d.get("labels", [])], rollout,
                   tuple(int(x) for x in detail) if detail else None,
                   np.asarray(d["token_detail"], dtype=np.int64) if detail else None)


def rollout(self_attention: np.ndarray) -> np.ndarray:
    """The encoder's attention rollout (Abnar & Zuidema 2020): per layer the head-mean attention
    plus the identity (the residual stream), rows renormalised, multiplied through the layers.
    self_attention: [layers, heads, tokens, tokens] -> [tokens, tokens]."""
    att = np.asarray(self_attention, dtype=np.float64).mean(axis=1)
    n = att.shape[-1]
    out = np.eye(n)
    for layer in att:
        a = layer + np.eye(n)
        a /= a.sum(axis=-1, keepdims=True)
        out = a @ out
    return out.astype(np.float32)
