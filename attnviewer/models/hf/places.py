"""Where each encoder token of a transformer lies in what the user gave: a patch of the image's
grid, a (frame, patch) of a video, a word of a sentence (its subword pieces merged).

Vision encoders put 0-2 special tokens (CLS, DeiT's distillation token) before the patches; the
grid follows from the pixels' shape and the token count (Swin's decoder sees the last stage's
grid). Sentences: the fast tokenizer's word_ids, checked against the text, else the pieces'
markers (SentencePiece's ▁, byte-BPE's Ġ start a word; WordPiece's ## continues one).
"""
from __future__ import annotations

import math

import numpy as np

from ...errors import CheckpointError
from ...lens import Places

SPECIAL_LABELS = ("[CLS]", "[DIST]")
STARTS = ("▁", "Ġ")  # a piece that starts a word (SentencePiece, GPT-2's byte BPE)
CONTINUES = "##"  # a WordPiece piece that continues the word before it


def grid_for(n: int, height: int, width: int) -> tuple[int, int] | None:
    """(rows, cols) of n patches over a height x width picture, keeping its aspect; None if none."""
    if n <= 0:
        return None
    rows = max(1, round(math.sqrt(n * height / width)))
    for r in (rows, rows - 1, rows + 1):
        if r > 0 and n % r == 0 and abs(n // r / r - width / height) <= 0.5 * width / height:
            return r, n // r
    return None


def image_places(n_tokens: int, height: int, width: int) -> Places:
    """The patch grid of an image's tokens: up to two specials first, then patches row by row."""
    for specials in (0, 1, 2):
        grid = grid_for(n_tokens - specials, height, width)
        if grid is not None:
            place = np.concatenate([-np.ones(specials, dtype=np.int64), np.arange(n_tokens - specials)])
            labels = list(SPECIAL_LABELS[:specials]) + [f"patch {r},{c}" for r in range(grid[0]) for c in range(grid[1])]
            return Places(place, grid, labels)
    raise CheckpointError(f"the image encoder gives {n_tokens} tokens, which are no patch grid of a "
                          f"{width}x{height} input with 0-2 special tokens")


def video_places(n_tokens: int, frames: int, height: int, width: int, patch: int | None, tubelet: int,
                 model_type: str) -> Places:
    """A video's tokens -> the frames the kind shows (places) and where in each frame (detail).
    TimeSformer: one CLS, then for each patch position its frames (the order its time embedding
    leaves them in). VideoMAE: tubelets (tubelet_size frames each) x patches, time first, no CLS;
    a tubelet's weight goes to its first frame."""
    specials = 1 if model_type == "timesformer" else 0
    groups = frames if model_type == "timesformer" else max(1, frames // max(1, tubelet))
    per_group, rest = divmod(n_tokens - specials, groups)
    grid = grid_for(per_group, height, width) if not rest else None
    if grid is None:
        raise CheckpointError(f"the video encoder gives {n_tokens} tokens, which are no grid of {groups} "
                              f"time steps over a {width}x{height} frame")
    n_patches = grid[0] * grid[1]
    idx = np.arange(n_tokens - specials)
    if model_type == "timesformer":
        patch_of, time_of = np.divmod(idx, groups)
        frame_of = time_of
    else:
        time_of, patch_of = np.divmod(idx, n_patches)
        frame_of = time_of * max(1, tubelet)
    pad = -np.ones(specials, dtype=np.int64)
    place = np.concatenate([pad, frame_of]).astype(np.int64)
    detail = np.concatenate([pad, frame_of * n_patches + patch_of]).astype(np.int64)
    labels = list(SPECIAL_LABELS[:specials]) + [f"frame {f}, patch {p}" for f, p in zip(frame_of, patch_of)]
    return Places(place, (frames,), labels, detail=(frames, *grid), token_detail=detail)


def word_groups(tokenizer, text: str) -> tuple[list[str], list[int], list[int], list[str]]:
    """(words, piece ids with the tokenizer's specials, each piece's word or -1, each piece as read)."""
    enc = tokenizer(text, add_special_tokens=True)
    ids = list(enc["input_ids"])
    pieces = [str(p) for p in tokenizer.convert_ids_to_tokens(ids)]
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    groups = _from_word_ids(enc, ids, special)
    if groups is None or not _spells(groups, pieces, text):
        groups = _from_markers(pieces, ids, special)
    words, place = [], []
    for g in groups:
        if g is None:
            place.append(-1)
            continue
        if g >= len(words):
            words.append("")
        place.append(g)
    for piece, g in zip(pieces, groups):
        if g is not None:
            words[g] += _bare(piece)
    if not words:
        from ...errors import MediaError

        raise MediaError(f"{text[:40]!r}: the model's tokenizer reads no words in it")
    return words, ids, place, pieces


def _bare(piece: str) -> str:
    if piece.startswith(CONTINUES):
        return piece[2:]
    return piece[1:] if piece.startswith(STARTS) and len(piece) > 1 else piece


def _from_word_ids(enc, ids, special) -> list[int | None] | None:
    try:
        word_ids = enc.word_ids()
    except (AttributeError, ValueError, TypeError):
        return None
    if word_ids is None or len(word_ids) != len(ids):
        return None
    out, seen = [], {}
    for w, i in zip(word_ids, ids):
        if w is None or i in special:
            out.append(None)
        else:
            out.append(seen.setdefault(w, len(seen)))
    return out


def _spells(groups, pieces, text: str) -> bool:
    """word_ids can be wrong (transformers issue 31437): its words must spell the text in order."""
    spelled = "".join(_bare(p) for p, g in zip(pieces, groups) if g is not None).replace("▁", "")
    return spelled.replace(" ", "") in text.replace(" ", "") or not spelled


def _from_markers(pieces: list[str], ids: list[int], special) -> list[int | None]:
    """Word groups from the pieces' markers."""
    out, word = [], -1
    word_piece_style = any(p.startswith(CONTINUES) for p in pieces)
    for p, i in zip(pieces, ids):
        if i in special:
            out.append(None)
            continue
        starts = p.startswith(STARTS) if not word_piece_style else not p.startswith(CONTINUES)
        if starts or word < 0:
            word += 1
        out.append(word)
    return out
