"""Step scores: how sure the model was of each word (its probability, the entropy of its output
distribution) and how spread its attention was (the entropy of the map). Plain numpy."""
from __future__ import annotations

from ..types import Hypothesis, map_entropy  # noqa: F401  (map_entropy: re-exported for the probes)


def score_lines(hyp: Hypothesis, printable=str) -> list[str]:
    """The table the CLI prints under a caption: one line per word."""
    out_h = hyp.entropies or [float("nan")] * len(hyp.tokens)
    lines = [f"  {'step':>4}  {'word':<16} {'prob':>6}  {'H(words)':>8}  {'H(attention)':>12}"]
    for i, (tok, p, h, ha) in enumerate(zip(hyp.tokens, hyp.probs, out_h, hyp.attention_entropies), 1):
        lines.append(f"  {i:>4}  {printable(tok):<16} {p:6.3f}  {h:8.3f}  {ha:12.3f}")
    return lines
