"""Scoring a translator on the generated language pair (`attnviewer eval translate`, and the
held-out checks of training on it, training/text.py): BLEU and exact match of its translations,
AER of its attention along the reference translations (text.py), and per word type how often the
attention peak is on a gold link. translate_report is the eval command's entry: it loads and
scores the models, the command prints.
"""
from __future__ import annotations

import numpy as np
import torch

from ..data.pairs import Pair, generate_pairs
from ..models.translator import Translator
from ..models.words import padded
from .metrics import bleu
from .text import alignment_error, right_by_role

VALIDATION_SEED_OFFSET = 10_000  # held-out sentences use seed + this, minus any source seen in training


def held_out_pairs(n: int, seed: int, seen: set[str] | None = None) -> list[Pair]:
    """n pairs from the held-out stream of a seed whose sources are not among `seen`."""
    out, start = [], 0
    while len(out) < n:
        batch = generate_pairs(start + 2 * n, seed + VALIDATION_SEED_OFFSET)[start:]
        out += [p for p in batch if seen is None or p.source_text not in seen]
        start += 2 * n
    return out[:n]



def forced_attention(model: Translator, pairs: list[Pair], batch: int = 200) -> list[np.ndarray]:
    """Each pair's attention (target words, source words) along its reference translation."""
    device = next(model.parameters()).device
    out = []
    with torch.inference_mode():
        for i in range(0, len(pairs), batch):
            chunk = pairs[i : i + batch]
            source = model.source_batch([p.source for p in chunk], device)
            targets = padded([model.encode_text(p.target_text) for p in chunk], model.pad_id).to(device)
            _, att = model(source, targets)
            out += [a[: len(p.target), : len(p.source)].cpu().numpy() for a, p in zip(att, chunk)]
    return out


def translate_pairs(model: Translator, sources: list[list[str]], settings=None, batch: int = 100) -> list:
    """The best hypothesis for each tokenised source sentence (greedy unless settings say)."""
    from ..decoding.search import DecodeSettings, decode, run

    settings = settings or DecodeSettings("greedy")
    device = next(model.parameters()).device
    out = []
    with torch.inference_mode():
        for i in range(0, len(sources), batch):
            chunk = sources[i : i + batch]
            state = model.init_state(model.source_batch(chunk, device))
            for hyps, s in zip(run(decode(model, state, settings, stream=False)), chunk):
                best = hyps[0]
                best.attention = best.attention[:, : len(s)]  # the batch's padding is not a word
                out.append(best)
    return out


def score_translator(model: Translator, pairs: list[Pair], settings=None, by_role: bool = False) -> dict:
    """BLEU and exact match of its translations; AER of its attention along the references (and,
    with by_role, how often each kind of word's attention peak is on a gold link)."""
    hyps = translate_pairs(model, [p.source for p in pairs], settings)
    attention = forced_attention(model, pairs)
    aer, diagonal = alignment_error(pairs, attention)
    scores = {
        "BLEU": bleu([p.target_text for p in pairs], [h.text for h in hyps]),
        "exact match": float(np.mean([h.text == p.target_text for h, p in zip(hyps, pairs)])),
        "AER": aer, "diagonal AER": diagonal,
    }
    if by_role:
        scores["right by word type"] = right_by_role(pairs, attention)
    return scores


def translate_report(names: list[str], n: int, seed: int, settings, device) -> dict:
    """Each named model's row on n held-out pairs of the seed: an LSTM translator's scores, or a
    row per lens of a transformer's cross-attention (one decoding)."""
    from ..models import registry
    from .transformer import is_transformer, translate_lenses

    pairs = held_out_pairs(n, seed)
    report = {}
    for name in names:
        model = registry.load(name, device, kind="translate")
        if is_transformer(model):  # one decoding, a row for each lens (layer, mean of layers, rollout)
            scored = translate_lenses(model, pairs, settings)
            for label, aer in scored["lenses"].items():
                report[f"{name} [{label}]"] = {
                    "BLEU": scored["BLEU"], "exact match": scored["exact match"], "AER": aer,
                    "diagonal AER": scored["diagonal AER"], "right by word type": scored["by word type"][label],
                    "lens": label}
            continue
        c = model.config
        report[name] = dict(score_translator(model, pairs, settings, by_role=True), score=c.score,
                            attention=c.attention, encoder=c.encoder, reversed=c.reverse_source)
    return report
