"""Is an input close to what a model was trained on? Every bundled model knows only its generated
domain; when an input is far from it, the caption is a guess and the user should be told.

The judgement rests on what the checkpoint records about its training data (its "domain" record,
JSON in the safetensors metadata, written by scripts/stamp-domain.py), never on file names. A
checkpoint without a record gets no note.

How far an image or a video is: the Mahalanobis distance of one pooled feature of the model's own
encoder from that feature's distribution over generated training-like inputs, divided by
sqrt(dimensions) so that a typical input lies near 1. The threshold is the 99.5th percentile of
the distances of other generated inputs (held out from the fit), times a margin of 1.2 (re-encoded
PNGs and MP4s of the generator's pictures drift a little). The features (chosen by measuring, see
the README):
- captioner: the encoder regions of the decoder state, mean-pooled over the grid (coordinate
  channels dropped);
- video captioner: the frame encoder's last convolution, mean-pooled over positions and frames.
  (The temporal memory of the decoder state was measured too: it hardly moves for photos, blank
  or noise frames, since it is trained to keep only what the captions need.)
The record keeps the mean and the whitening matrix (the Cholesky factor of the shrunk inverse
covariance, upper triangle, int8 per row with a float scale): a few KB.

A sentence: the share of its words the translator does not know (none in generated sentences),
and its length against the longest generated sentence.
"""
from __future__ import annotations

import base64
import threading
from contextlib import contextmanager

import numpy as np

VERSION = 1
FIT_SEED = 31337  # the generated inputs the distribution is fitted on (training: 0, 10000; eval: 12345)
HELD_OUT_SEED = 31338  # those that set the threshold
FIT_SIZE = 400
HELD_OUT_SIZE = 400
SHRINKAGE = 0.01  # of the covariance towards its mean variance: 112 dimensions from 400 inputs
PERCENTILE = 99.5
MARGIN = 1.2
UNKNOWN_SHARE = 1 / 3  # a sentence with at least this share of unknown words is out of the domain
LENGTH_MARGIN = 1.5  # ... and one longer than this many times the longest generated sentence

DOMAINS = {  # what the user reads: "... looks unlike the <domain> <model> was trained on"
    "caption": "generated scenes of coloured shapes",
    "video": "generated clips of moving shapes",
    "translate": "generated English-like language",
}
FEATURES = {
    "caption": "encoder regions mean-pooled over the grid, coordinate channels dropped",
    "video": "frame encoder's last convolution mean-pooled over positions and frames",
}
TRANSFORMER_FEATURE = "the encoder's output tokens, mean-pooled"
OUTPUT = {"caption": "caption", "video": "caption", "translate": "translation"}
MAX_NOTE = 199


# -- the record -------------------------------------------------------------------------------------


def record(kind_name: str, model, fit_size: int = FIT_SIZE, held_out_size: int = HELD_OUT_SIZE,
           log=lambda line: None) -> dict:
    """The domain record of a model: what its training data looks like to it, as JSON-ready data.
    Computed from inputs generated the way its training data was (fixed seeds, not training's)."""
    if kind_name == "translate":
        return _text_record(model, held_out_size)
    if kind_name not in FEATURES:
        raise ValueError(f"no domain record for models of kind {kind_name!r}")
    device = next(model.parameters()).device
    fit = _features(kind_name, model, _generated(kind_name, model, FIT_SEED, fit_size), device)
    log(f"{fit.shape[0]} generated inputs fitted ({fit.shape[1]} dimensions)")
    whitening = _fit(fit)
    held = _features(kind_name, model, _generated(kind_name, model, HELD_OUT_SEED, held_out_size), device)
    d = distances(whitening, held)
    p = float(np.percentile(d, PERCENTILE))
    rec = {
        "version": VERSION, "kind": kind_name, "domain": DOMAINS[kind_name],
        "data": _data_phrase(kind_name, model),
        "feature": TRANSFORMER_FEATURE if _is_transformer(model) else FEATURES[kind_name],
        "measure": "mahalanobis / sqrt(dimensions)", "threshold": _r(p * MARGIN), "margin": MARGIN,
        "fit": {"n": int(fit.shape[0]), "seed": FIT_SEED, "shrinkage": SHRINKAGE},
        "held_out": {"n": len(d), "seed": HELD_OUT_SEED, "median": _r(np.median(d)),
                     "p99": _r(np.percentile(d, 99)), "p99.5": _r(p), "max": _r(d.max())},
        **whitening,
    }
    log(f"held-out distances: median {np.median(d):.2f}, 99.5th percentile {p:.2f}, max {d.max():.2f}; "
        f"threshold {rec['threshold']:.2f}")
    return rec


def unchecked(kind_name: str, origin: str) -> dict:
    """The record of a model whose training data is unknown (an imported checkpoint): it says so,
    and no input is ever compared with it, so no note is given."""
    return {"version": VERSION, "kind": kind_name, "checked": False, "domain": "unknown",
            "data": f"not recorded ({origin})"}


def _text_record(model, n: int) -> dict:
    from .data.pairs import generate_pairs

    pairs = generate_pairs(max(n, 1000), HELD_OUT_SEED)
    shares = [len(model.unknown_words(p.source)) / len(p.source) for p in pairs]
    longest = max(len(p.source) for p in pairs)
    return {
        "version": VERSION, "kind": "translate", "domain": DOMAINS["translate"],
        "data": "attnviewer.data.pairs.generate_pairs, source side",
        "vocabulary": f"the generated language's source words ({_source_size(model)} in the model)",
        "measure": "share of unknown words; length in words",
        "threshold": _r(UNKNOWN_SHARE), "longest": int(np.ceil(longest * LENGTH_MARGIN)),
        "held_out": {"n": len(pairs), "seed": HELD_OUT_SEED, "max_unknown_share": _r(max(shares)),
                     "longest": longest},
    }


def _source_size(model) -> int:
    vocab = getattr(model, "source_vocab", None)
    return len(vocab) if vocab is not None else len(model.tokenizer)


def _data_phrase(kind_name: str, model) -> str:
    if kind_name == "caption":
        return f"attnviewer.data.synthetic.generate_scene at {model.config.image_size} px"
    return "attnviewer.data.clip_events.generate_clip, every 2nd frame, half of them reversed"


def _generated(kind_name: str, model, seed: int, n: int) -> list:
    """n generated inputs as the kind's `inputs` takes them (objects with .rgb or .frames)."""
    from types import SimpleNamespace

    if kind_name == "caption":
        from .data.synthetic import generate_scene

        return [SimpleNamespace(rgb=generate_scene(seed, i, model.config.image_size).image) for i in range(n)]
    from .data.clip_events import STRIDE, generate_clip

    rng = np.random.default_rng(seed)  # as in training: either direction, either frame offset
    out = []
    for i in range(n):
        clip = generate_clip(seed, i)
        if rng.random() < 0.5:
            clip = clip.reversed()
        out.append(SimpleNamespace(frames=clip.steps(int(rng.integers(STRIDE)))))
    return out


def _features(kind_name: str, model, medias: list, device, batch: int = 50) -> np.ndarray:
    """The pooled feature (n, d) of each input, as the note measures it."""
    import torch

    from .kinds import get

    kind = get(kind_name)
    out = []
    with torch.inference_mode():
        for start in range(0, len(medias), batch):
            x = kind.inputs(model, medias[start:start + batch], device)
            if kind_name == "caption" or _is_transformer(model):
                out.append(_region_feature(model, model.init_state(x)))
            else:
                out.append(_frame_feature(model, x))
    return np.concatenate(out)


def _is_transformer(model) -> bool:
    return hasattr(model, "hf")  # a models/hf Stepper: its state holds the encoder's tokens


def _region_feature(model, state) -> np.ndarray:
    if "encoder" in state:  # a transformer: its encoder's output tokens (patches, frames' tubelets), pooled
        return state["encoder"].mean(1).detach().float().cpu().numpy().astype(np.float64)
    values = state["values"]
    if getattr(model.config, "coords", False):
        values = values[..., :-2]
    return values.mean(1).detach().float().cpu().numpy().astype(np.float64)


def _frame_feature(model, frames) -> np.ndarray:
    """(B, T, 3, S, S) frames -> (B, C): the frame encoder's convolution output, pooled. Read with a
    hook so that the encoder's own input scaling applies."""
    seen = []
    hook = model.frames.conv.register_forward_hook(lambda module, args, out: seen.append(out))
    try:
        model.frames(frames.flatten(0, 1))
    finally:
        hook.remove()
    pooled = seen[0].mean((2, 3)).view(frames.shape[0], frames.shape[1], -1).mean(1)
    return pooled.detach().float().cpu().numpy().astype(np.float64)


# -- the distance ------------------------------------------------------------------------------------


def _fit(x: np.ndarray) -> dict:
    """Mean and quantised whitening matrix of features x (n, d)."""
    mean = x.mean(0)
    cov = np.cov(x, rowvar=False)
    d = cov.shape[0]
    cov = (1 - SHRINKAGE) * cov + SHRINKAGE * np.trace(cov) / d * np.eye(d)
    upper = np.linalg.cholesky(np.linalg.inv(cov)).T  # |upper @ v|^2 = v' cov^-1 v
    rows = [upper[i, i:] for i in range(d)]
    scale = np.array([max(np.abs(r).max(), 1e-30) / 127 for r in rows])
    packed = np.concatenate([np.round(r / s) for r, s in zip(rows, scale)]).astype(np.int8)
    return {"dim": d, "mean": _b64(mean.astype(np.float32)), "whiten": _b64(packed),
            "whiten_scale": _b64(scale.astype(np.float32))}


def _whitening(rec: dict) -> tuple[np.ndarray, np.ndarray]:
    d = int(rec["dim"])
    mean = np.frombuffer(base64.b64decode(rec["mean"]), np.float32).astype(np.float64)
    packed = np.frombuffer(base64.b64decode(rec["whiten"]), np.int8).astype(np.float64)
    scale = np.frombuffer(base64.b64decode(rec["whiten_scale"]), np.float32).astype(np.float64)
    if mean.shape != (d,) or scale.shape != (d,) or packed.shape != (d * (d + 1) // 2,) \
            or not (np.isfinite(mean).all() and np.isfinite(scale).all()):
        raise ValueError("damaged domain record")  # (NaN or inf would only give numpy warnings and no answer)
    upper = np.zeros((d, d))
    at = 0
    for i in range(d):
        upper[i, i:] = packed[at:at + d - i] * scale[i]
        at += d - i
    return mean, upper


def distances(rec: dict, x: np.ndarray) -> np.ndarray:
    """How far each row of features x (n, d) lies from the recorded distribution (typical: ~1)."""
    mean, upper = _whitening(rec)
    z = (np.atleast_2d(x) - mean) @ upper.T
    return np.sqrt((z ** 2).sum(1) / len(mean))


def generated_distances(kind_name: str, model, seed: int, n: int, rec: dict | None = None) -> np.ndarray:
    """The distances of n generated (in-domain) inputs of a seed: what a threshold is checked on."""
    rec = rec or model.domain
    device = next(model.parameters()).device
    return distances(rec, _features(kind_name, model, _generated(kind_name, model, seed, n), device))


def measure(kind_name: str, model, media, state) -> float:
    """The distance of one input (image or video) from the model's recorded domain."""
    if kind_name == "caption" or _is_transformer(model):
        x = _region_feature(model, state)
    else:
        x = _features(kind_name, model, [media], next(model.parameters()).device)
    return float(distances(model.domain, x)[0])


# -- the note ----------------------------------------------------------------------------------------


_listeners = threading.local()


@contextmanager
def told(listener):
    """While inside, each note judged on this thread is also handed to `listener` (None: the
    input is in the domain) the moment it is judged, right after the encoder ran: the window
    shows it before the first word rather than when the caption ends."""
    outer = getattr(_listeners, "listener", None)
    _listeners.listener = listener
    try:
        yield
    finally:
        _listeners.listener = outer


def note(kind, model, media, state) -> str | None:
    """One line for the user when `media` lies outside the model's training domain, else None.
    `state` is what model.init_state gave for this input (a batch of one)."""
    line = _judge(kind, model, media, state)
    listener = getattr(_listeners, "listener", None)
    if listener is not None:
        listener(line)
    return line


def _judge(kind, model, media, state) -> str | None:
    rec = getattr(model, "domain", None)
    if not isinstance(rec, dict) or rec.get("version") != VERSION or rec.get("kind") != kind.name:
        return None
    if rec.get("checked") is False:  # an imported model: its training data is unknown (see unchecked)
        return None
    try:
        if kind.name == "translate":
            why = sentence_reason(rec, model, media)
        else:
            limit = float(rec["threshold"])
            if not np.isfinite(limit):
                return None
            dist = measure(kind.name, model, media, state)
            digits = 1 if f"{dist:.1f}" != f"{limit:.1f}" else 2
            why = f"distance {dist:.{digits}f}, typical up to {limit:.{digits}f}" if dist > limit else None
    except (KeyError, ValueError, TypeError, AttributeError):
        return None  # a damaged or foreign record says nothing, rather than stopping the caption
    if why is None:
        return None
    return _line(kind.noun, str(rec.get("domain") or "data"), str(getattr(model, "name", "") or "the model"),
                 why, OUTPUT.get(kind.name, "output"))


def sentence_reason(rec: dict, model, sentence) -> str | None:
    words = list(sentence.words)
    if not words:
        return None
    unknown = model.unknown_words(words)
    if len(unknown) / len(words) >= float(rec["threshold"]) - 1e-9:
        return f"{len(unknown)} of {len(words)} words unknown"
    if len(words) > int(rec["longest"]):
        return f"{len(words)} words, generated ones have at most {rec['held_out']['longest']}"
    return None


def _line(noun: str, domain: str, name: str, why: str, output: str) -> str:
    def build(name):
        return f"this {noun} looks unlike the {domain} {name} was trained on ({why}): the {output} is a guess"

    line = build(name)
    if len(line) > MAX_NOTE:  # a long checkpoint path: its file name is enough
        from pathlib import Path

        line = build(Path(name).stem or "the model")
    return line if len(line) <= MAX_NOTE else line[:MAX_NOTE - 1] + "…"


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode("ascii")


def _r(x) -> float:
    return round(float(x), 4)
