"""Gradient attribution beside attention: which parts of the input the word's log probability is
sensitive to (saliency: |gradient|) or owes its value to (integrated gradients from a blank
input), summed into the places of the word's map so the two can be drawn alike and compared.

The input differentiated is an image's pixels (0..255; integrated gradients start from the image's
mean colour, the masks' blank), our video captioners' frame features (from zeros; a transformer's
frame pixels, from each frame's mean colour), a sentence's source embeddings (from zeros);
the words before the step are forced, as the model wrote them. captum computes the attributions
(the optional extra `whatif`); integrated gradients satisfy completeness: the attributions sum to
f(input) - f(baseline), up to captum's convergence delta, which is reported.

    a = attribute(kind, model, media, result, step, "ig")   # plain data: the engine can call it
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import SettingsError
from .edits import edits
from .masking import prefix_log_probs

METHODS = ("saliency", "ig")
METHOD_NAMES = {"saliency": "saliency", "ig": "integrated gradients"}  # as figures and lines name them


@dataclass
class Attribution:
    step: int
    word: str
    method: str  # saliency or ig
    what: str  # what was differentiated: pixels, frame features, source embeddings
    sums: np.ndarray  # the attributions summed per place (the map's shape; signed for ig)
    map: np.ndarray  # drawn like attention: each place's share of the positive evidence (sums to 1)
    attention: np.ndarray  # the word's attention map, for comparison
    value: float  # the word's log probability
    baseline_value: float | None = None  # ig: at the baseline input
    total: float | None = None  # ig: the attributions' sum over the whole input
    delta: float | None = None  # ig: captum's convergence delta, total - (value - baseline_value)

    @property
    def spearman(self) -> float:
        return spearman(self.map.ravel(), np.asarray(self.attention).ravel())

    @property
    def same_peak(self) -> bool:
        return int(np.argmax(self.map)) == int(np.argmax(self.attention))

    def lines(self, printable=str, number: int | None = None) -> list[str]:
        n = self.step + 1 if number is None else number
        name = METHOD_NAMES[self.method]
        out = [f"word {n} {printable(self.word)!r} (p {np.exp(self.value):.2f}): {name} of its log probability w.r.t. the "
               f"{self.what}: Spearman {self.spearman:+.2f} with its attention; peaks "
               + ("at the same place" if self.same_peak else
                  f"apart (attribution at {_place(self.map)}, attention at {_place(self.attention)})")]
        if self.delta is not None:
            out.append(f"  completeness: attributions sum to {self.total:.4f}; f(input) - f(baseline) = "
                       f"{self.value - self.baseline_value:.4f} (delta {self.delta:+.2e})")
        return out


def _place(a: np.ndarray) -> str:
    index = np.unravel_index(int(np.argmax(a)), np.shape(a))
    return "(" + ", ".join(str(i + 1) for i in index) + ")" if len(index) > 1 else str(index[0] + 1)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation (ties get their mean rank); nan where either is constant."""
    ra, rb = _ranks(np.asarray(a, float)), _ranks(np.asarray(b, float))
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def _ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(len(x))
    for v in np.unique(x[np.r_[np.diff(np.sort(x)) == 0, False] | np.r_[False, np.diff(np.sort(x)) == 0]]):
        ranks[x == v] = ranks[x == v].mean()
    return ranks


def _shares(sums: np.ndarray) -> np.ndarray:
    """Each place's share of the positive evidence (all of |sums| where none is positive)."""
    pos = np.clip(sums, 0, None)
    if pos.sum() <= 0:
        pos = np.abs(sums)
    return pos / pos.sum() if pos.sum() > 0 else np.full(sums.shape, 1.0 / sums.size)


def _captum():
    try:
        import captum.attr as attr
    except ImportError:
        raise SettingsError("gradient attribution needs captum: pip install 'attnviewer[whatif]'") from None
    return attr


def attribute(kind, model, media, result, step: int, method: str = "ig", hypothesis: int = 0,
              n_steps: int = 32, batch: int = 16) -> Attribution:
    """Attribute word `step` (from 0) of hypothesis `hypothesis` of `result` to the input's places.
    ig: `n_steps` points on the path from the baseline, `batch` of them per model call."""
    import torch

    if method not in METHODS:
        raise SettingsError(f"--attribution {method}: choose {' or '.join(METHODS)}")
    if not 0 <= hypothesis < len(result.hypotheses):
        raise SettingsError(f"hypothesis {hypothesis + 1}: the result has {len(result.hypotheses)}")
    hyp = result.hypotheses[hypothesis]
    if not 0 <= step < len(hyp.tokens):
        raise SettingsError(f"word {step + 1}: the output has {len(hyp.tokens)} words")
    attr = _captum()
    media = kind.fit(media, model)
    device = next(model.parameters()).device
    attention = np.asarray(hyp.attention[step])
    prefix, word = list(hyp.token_ids[:step]), int(hyp.token_ids[step])
    with torch.inference_mode(False), torch.enable_grad():
        given = edits(kind).gradient_input(kind, model, media, device)
        x = given.x.detach().clone().float().requires_grad_()

        def log_prob(xs):
            return prefix_log_probs(model, given.state_of(xs), [prefix] * len(xs))[:, word]

        with torch.no_grad():
            value = float(log_prob(x)[0])
        if method == "saliency":
            grads = attr.Saliency(log_prob).attribute(x, abs=True)
            sums = given.places(grads, attention.shape)[0]
            return Attribution(step, hyp.tokens[step], method, given.what, sums, _shares(sums), attention, value)
        baseline = given.baseline(x)
        found, delta = attr.IntegratedGradients(log_prob).attribute(
            x, baselines=baseline, n_steps=n_steps, internal_batch_size=batch, return_convergence_delta=True)
        with torch.no_grad():
            at_baseline = float(log_prob(baseline)[0])
    sums = given.places(found, attention.shape)[0]
    return Attribution(step, hyp.tokens[step], method, given.what, sums, _shares(sums), attention, value,
                       at_baseline, float(found.detach().double().sum()), float(delta.detach().reshape(-1)[0]))


def attribution_figure(kind, media, result, found: Attribution, path, style, hypothesis: int = 0) -> list:
    """The word's attention and its attribution drawn alike, one above the other (the kind's
    comparison figure: an image's overlays, a video's curves over its frames, a sentence's rows)."""
    from dataclasses import replace

    from ..kinds import WriteOptions

    hyp = result.hypotheses[hypothesis]
    t = found.step

    def one(weights) -> object:
        word = replace(hyp, tokens=[hyp.tokens[t]], token_ids=[hyp.token_ids[t]], probs=[hyp.probs[t]],
                       alternatives=[hyp.alternatives[t]], attention=np.asarray(weights, np.float32)[None],
                       locations=None, heads=None, sinks=None, starts=None, written=None, joined=None,
                       entropies=None)
        return replace(result, hypotheses=[word], places=None, lens=None, heads_shape=None, written=None)

    name = METHOD_NAMES[found.method]
    others = [(one(found.map), 0, f"{name} (w.r.t. the {found.what}; Spearman {found.spearman:+.2f})", media)]
    opts = WriteOptions(title=f"word {t + 1} {found.word!r}: attention and {name}", others=others)
    return kind.write("comparison", media, one(found.attention), path, style, opts)
