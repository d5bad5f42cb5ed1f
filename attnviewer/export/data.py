"""Results as JSON: tokens, probabilities, alternatives, settings and every attention array."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..types import Hypothesis, Result
from .figures import atomic_path

SCHEMA = "attnviewer-result-1"


def hypothesis_dict(h: Hypothesis) -> dict:
    return {
        "text": h.text,
        "tokens": h.tokens,
        "log_prob": round(h.log_prob, 6),
        "score": round(h.score, 6),
        "words": [
            {
                "token": t,
                "prob": round(p, 6),
                "alternatives": [[w, round(q, 6)] for w, q in alts],
                "attention": np.round(att.astype(np.float64), 6).tolist(),
            }
            for t, p, alts, att in zip(h.tokens, h.probs, h.alternatives, h.attention)
        ],
    }


def result_dict(r: Result) -> dict:
    return {
        "schema": SCHEMA,
        "source": r.source,
        "model": r.model,
        "settings": r.settings,
        "seconds": round(r.seconds, 4),
        "image_size": list(r.image_size) if r.image_size else None,
        "attention_shape": list(r.best.attention.shape[1:]),
        "hypotheses": [hypothesis_dict(h) for h in r.hypotheses],
    }


def write_json(data, out: str | Path) -> Path:
    out = Path(out)
    with atomic_path(out) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
            f.write("\n")
    return out
