"""Step scores: how sure the model was of each word (its probability, the entropy of its output
distribution) and how spread its attention was (the entropy of the map). Plain numpy."""
from __future__ import annotations

import numpy as np

from ..types import Hypothesis


def map_entropy(weights) -> float:
    """Entropy in nats of an attention map, taken as a distribution (renormalised; 0 for an empty map)."""
    w = np.asarray(weights, dtype=np.float64).ravel()
    w = np.clip(np.nan_to_num(w), 0.0, None)
    total = w.sum()
    if total <= 0:
        return 0.0
    p = w[w > 0] / total
    return float(-(p * np.log(p)).sum())


def score_lines(hyp: Hypothesis, printable=str) -> list[str]:
    """The table the CLI prints under a caption: one line per word."""
    out_h = hyp.entropies or [float("nan")] * len(hyp.tokens)
    lines = [f"  {'step':>4}  {'word':<16} {'prob':>6}  {'H(words)':>8}  {'H(attention)':>12}"]
    for i, (tok, p, h, ha) in enumerate(zip(hyp.tokens, hyp.probs, out_h, hyp.attention_entropies), 1):
        lines.append(f"  {i:>4}  {printable(tok):<16} {p:6.3f}  {h:8.3f}  {ha:12.3f}")
    return lines
