"""The grounding of a transformer's cross-attention, per lens: the pointing game (image) and AER
(translation) of evaluation/image.py and text.py, scored once for each layer, the mean of the
layers and the rollout (heads averaged), from one decoding.

A transformer (the models/hf Stepper) gives each step's attention as [layers, heads, tokens]; the
input's lens.Places maps tokens to the kind's places (patch grid, source words). Decoding keeps the
raw heads, so every lens is drawn from the same words without decoding again. Nothing here imports
transformers: the Stepper does.
"""
from __future__ import annotations

import copy

import numpy as np
import torch

from ..lens import DEFAULT, Lens, Places
from ..types import Hypothesis


def is_transformer(model) -> bool:
    """A models/hf Stepper (it maps tokens to places through a lens) rather than a bundled model."""
    return hasattr(model, "input_places") and hasattr(model, "n_layers")


def lenses(model) -> list[Lens]:
    """Each decoder layer, the mean of the layers, the rollout; heads averaged (the app's default
    view is the last layer's)."""
    return [Lens(i, "mean") for i in range(model.n_layers)] + [Lens("mean", "mean"), Lens("rollout", "mean")]


def lensed(hyp: Hypothesis, places: Places, lens: Lens = DEFAULT) -> Hypothesis:
    """A copy of the hypothesis with its maps drawn through the lens from its raw heads (kept), as
    the pipeline draws them."""
    hyp = copy.copy(hyp)
    raw = hyp.heads if hyp.heads is not None else hyp.attention
    hyp.heads = raw
    if len(raw) == 0:
        hyp.attention, hyp.sinks = np.zeros((0, *places.shape), dtype=np.float32), []
        return hyp
    hyp.attention, sinks = places.maps(raw, lens)
    hyp.sinks = [float(x) for x in sinks]
    return hyp


def _decoded(model, state, settings) -> list[Hypothesis]:
    from ..decoding.search import decode, run

    return [hyps[0] for hyps in run(decode(model, state, settings, stream=False))]


def caption_heads(model, images: torch.Tensor, settings=None, batch: int = 50) -> list[tuple[Hypothesis, Places]]:
    """The best caption of each image ((N, 3, S, S) pixels 0..255) with its raw heads, and the
    image's Places."""
    from ..settings import DecodeSettings

    settings = settings or DecodeSettings("greedy")
    device = next(model.parameters()).device
    out = []
    with torch.inference_mode():
        for i in range(0, len(images), batch):
            state = model.init_state(images[i : i + batch].to(device).float())
            places = list(model.input_places)
            out += list(zip(_decoded(model, state, settings), places))
    return out


def translate_heads(model, texts: list[str], settings=None, batch: int = 100) -> list[tuple[Hypothesis, Places]]:
    """The best translation of each sentence with its raw heads, and the sentence's Places."""
    from ..settings import DecodeSettings

    settings = settings or DecodeSettings("greedy")
    device = next(model.parameters()).device
    out = []
    with torch.inference_mode():
        for i in range(0, len(texts), batch):
            state = model.init_state(model.source_batch(texts[i : i + batch], device))
            places = list(model.input_places)
            out += list(zip(_decoded(model, state, settings), places))
    return out


def forced_heads(model, pairs, batch: int = 100) -> list[tuple[np.ndarray, Places]]:
    """Each pair's cross-attention along its reference translation, [target words, layers, heads,
    tokens], and the source's Places (with the encoder's rollout). Row j is the step that emits
    target word j (its input is word j - 1); the step emitting </s> is left out. The reference
    must be one token a word (the tokenizers attnviewer trains are)."""
    device = next(model.parameters()).device
    start = model.start_id
    out = []
    with torch.inference_mode():
        for i in range(0, len(pairs), batch):
            chunk = pairs[i : i + batch]
            ids, mask, places = model.source_batch([p.source_text for p in chunk], device)
            states, mask, places = model.encode((ids, mask, places))
            targets = [model.encode_text(p.target_text) for p in chunk]
            for p, t in zip(chunk, targets):
                if len(t) != len(p.target):
                    raise ValueError(f"{p.target_text[:40]!r}: the model's tokenizer splits it into {len(t)} tokens "
                                     f"for {len(p.target)} words; forced attention needs one token a word")
            width = max(len(t) for t in targets)
            dec = torch.full((len(chunk), width + 1), start, dtype=torch.long)
            for k, t in enumerate(targets):
                dec[k, 1 : len(t) + 1] = torch.tensor(t)
            res = model.hf(encoder_outputs=(states,), attention_mask=mask, decoder_input_ids=dec.to(device),
                           output_attentions=True, return_dict=True)
            heads = torch.stack(res.cross_attentions, dim=2).float().cpu().numpy()  # (B, H, L, T, S) -> below
            heads = heads.transpose(0, 3, 2, 1, 4)  # (B, T, L, H, S)
            out += [(heads[k, : len(t)], pl) for k, (t, pl) in enumerate(zip(targets, places))]
    return out


def forced_word_attention(model, pairs, lens: Lens = DEFAULT, heads=None) -> list[np.ndarray]:
    """(target words, source words) attention of each pair along its reference, through the lens."""
    heads = forced_heads(model, pairs) if heads is None else heads
    return [places.maps(h, lens)[0] for h, places in heads]


def caption_lenses(model, scenes, settings=None) -> dict:
    """Exact match and caption scores of the model's captions, and the pointing game of its
    attention through every lens: {"captions": {...}, "lenses": {label: tally}, "hypotheses": [...]}"""
    from .image import pointing
    from .metrics import caption_scores

    pixels = torch.from_numpy(np.stack([s.image for s in scenes])).permute(0, 3, 1, 2)
    decoded = caption_heads(model, pixels, settings)
    hyps = [h for h, _ in decoded]
    scores = caption_scores([s.caption for s in scenes], [h.text for h in hyps])
    tallies = {}
    for lens in lenses(model):
        tallies[lens.describe(model.n_layers)] = pointing(scenes, [lensed(h, p, lens) for h, p in decoded])
    return {"captions": scores, "lenses": tallies, "hypotheses": hyps}


def translate_lenses(model, pairs, settings=None) -> dict:
    """BLEU and exact match of the model's translations, and AER of its attention along the
    references through every lens: {"BLEU", "exact match", "diagonal AER", "lenses": {label: AER},
    "by word type": {label: {role: rate}}}."""
    from .metrics import bleu
    from .text import alignment_error, right_by_role

    hyps = [h for h, _ in translate_heads(model, [p.source_text for p in pairs], settings)]
    heads = forced_heads(model, pairs)
    out = {"BLEU": bleu([p.target_text for p in pairs], [h.text for h in hyps]),
           "exact match": float(np.mean([h.text == p.target_text for h, p in zip(hyps, pairs)])), "lenses": {},
           "by word type": {}}
    for lens in lenses(model):
        attention = forced_word_attention(model, pairs, lens, heads)
        aer, diagonal = alignment_error(pairs, attention)
        label = lens.describe(model.n_layers)
        out["lenses"][label] = aer
        out["by word type"][label] = right_by_role(pairs, attention)
        out["diagonal AER"] = diagonal
    return out
