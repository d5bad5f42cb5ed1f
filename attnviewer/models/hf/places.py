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


def image_places(n_tokens: int, height: int, width: int, side: int | None = None) -> Places:
    """The patch grid of an image's tokens: up to two specials first, then patches row by row.
    `side`: the pixels one token covers (the encoder's patch), when known: the grid is then the
    picture's size over it, not a guess from the token count (a 4x6 grid and a CLS, or 5x5?)."""
    guesses = [(height // side, width // side)] if side and height % side == 0 == width % side else []
    for specials in (0, 1, 2):
        grid = guesses[0] if guesses else grid_for(n_tokens - specials, height, width)
        if grid is not None and grid[0] * grid[1] == n_tokens - specials:
            place = np.concatenate([-np.ones(specials, dtype=np.int64), np.arange(n_tokens - specials)])
            labels = list(SPECIAL_LABELS[:specials]) + [f"patch {r},{c}" for r in range(grid[0]) for c in range(grid[1])]
            return Places(place, grid, labels)
    raise CheckpointError(f"the image encoder gives {n_tokens} tokens, which are no patch grid of a "
                          f"{width}x{height} input with 0-2 special tokens")


def video_places(n_tokens: int, frames: int, height: int, width: int, tubelet: int,
                 model_type: str) -> tuple[Places, np.ndarray | None]:
    """A video's tokens -> the frames the kind shows (places) and where in each frame (detail), as
    transformers' encoders order them (read in their source, 5.x):
    TimeSformer: CLS, then patch-major: token 1 + p * frames + f is patch p of frame f (its time
    embedding leaves them so). VideoMAE: no CLS; its 3-D convolution gives tubelets time-major:
    token t * patches + p is patch p of frames t * tubelet .. (t + 1) * tubelet - 1.
    A tubelet covers several frames alike, so its weight is shared equally among them: the Places
    are over one token per (frame, patch), and the second value says which encoder token each of
    them copies (None when each is an encoder token: the stepper spreads the attention with it)."""
    specials = 1 if model_type == "timesformer" else 0
    span = max(1, tubelet) if model_type == "videomae" else 1
    groups = max(1, frames // span)
    per_group, rest = divmod(n_tokens - specials, groups)
    grid = grid_for(per_group, height, width) if not rest and groups * span == frames else None
    if grid is None:
        raise CheckpointError(f"the video encoder gives {n_tokens} tokens, which are no grid of {groups} "
                              f"time steps over a {width}x{height} frame")
    n_patches = grid[0] * grid[1]
    if model_type == "timesformer":
        patch_of, frame_of = np.divmod(np.arange(n_tokens - specials), frames)
        copies = None
    else:  # one token per (frame, patch), frame-major, each copying its tubelet's token
        frame_of, patch_of = np.divmod(np.arange(frames * n_patches), n_patches)
        copies = (frame_of // span) * n_patches + patch_of if span > 1 else None
    pad = -np.ones(specials, dtype=np.int64)
    place = np.concatenate([pad, frame_of]).astype(np.int64)
    detail = np.concatenate([pad, frame_of * n_patches + patch_of]).astype(np.int64)
    labels = list(SPECIAL_LABELS[:specials]) + [f"frame {f}, patch {p}" for f, p in zip(frame_of, patch_of)]
    return Places(place, (frames,), labels, detail=(frames, *grid), token_detail=detail), copies


def word_groups(tokenizer, text: str) -> tuple[list[str], list[int], list[int], list[str]]:
    """(words, piece ids with the tokenizer's specials, each piece's word or -1, each piece as read)."""
    try:
        enc = tokenizer(text, add_special_tokens=True, return_offsets_mapping=True)
    except (NotImplementedError, TypeError, ValueError):  # slow tokenizers have no offsets
        enc = tokenizer(text, add_special_tokens=True)
    ids = list(enc["input_ids"])
    pieces = [str(p) for p in tokenizer.convert_ids_to_tokens(ids)]
    # the unknown token stands for a word of the sentence (one the vocabulary lacks): not a special
    unk = getattr(tokenizer, "unk_token_id", None)
    special = set(getattr(tokenizer, "all_special_ids", []) or []) - {unk}
    unknown = str(getattr(tokenizer, "unk_token", None) or "\0")
    groups = _from_word_ids(enc, ids, special)
    if groups is None or not _spells(groups, pieces, text, unknown) or not _cuts_at_spaces(groups, enc, text):
        groups = _from_markers(pieces, ids, special)
    words, place = [], []
    for g in groups:
        if g is None:
            place.append(-1)
            continue
        if g >= len(words):
            words.append("")
        place.append(g)
    offsets = _offsets(enc, len(pieces), text)
    for k, (piece, g) in enumerate(zip(pieces, groups)):
        if g is not None:  # an unknown word is spelled as the sentence has it, not as "<unk>"
            words[g] += text[offsets[k][0]:offsets[k][1]].strip() if piece == unknown and offsets else _bare(piece)
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


def _offsets(enc, n: int, text: str) -> list | None:
    offsets = enc.get("offset_mapping") if hasattr(enc, "get") else None
    if offsets is None or len(offsets) != n or any(not 0 <= a <= b <= len(text) for a, b in offsets):
        return None
    return offsets


def _spells(groups, pieces, text: str, unknown: str) -> bool:
    """word_ids can be wrong (transformers issue 31437): its words must spell the text in order
    (an unknown piece stands for at least one letter of it)."""
    runs = [""]  # the spelled text between unknown pieces
    for p, g in zip(pieces, groups):
        if g is not None:
            if p == unknown:
                runs.append("")
            else:
                runs[-1] += _bare(p).replace("▁", "").replace(" ", "")
    rest, at = text.replace(" ", ""), 0
    for i, run in enumerate(runs):
        found = rest.find(run, at)
        if found < 0:
            return False
        at = found + len(run) + (1 if i < len(runs) - 1 else 0)
    return True


def _cuts_at_spaces(groups, enc, text: str) -> bool:
    """word_ids can be wrong (transformers issue 31437): by the pieces' offsets in the text, a word
    must not cut a run of letters and digits in two, nor hold a space between two of its pieces."""
    offsets = enc.get("offset_mapping") if hasattr(enc, "get") else None
    if offsets is None or len(offsets) != len(groups):
        return True  # nothing to check with
    prev = None  # (group, end offset) of the last piece that is a word's
    for g, (start, end) in zip(groups, offsets):
        if g is None:
            continue
        if prev is not None:
            between = text[prev[1]:start]
            joined = not between and 0 < start < len(text) and text[start - 1].isalnum() and text[start].isalnum()
            spaced = any(ch.isspace() for ch in between + text[start:end][:1])  # (▁ pieces' offsets hold the space)
            if (g != prev[0] and joined) or (g == prev[0] and spaced):
                return False
        prev = (g, end)
    return True


def _from_markers(pieces: list[str], ids: list[int], special) -> list[int | None]:
    """Word groups from the pieces' markers."""
    out, word = [], -1
    word_piece_style = any(p.startswith(CONTINUES) for p in pieces)
    # a word-level vocabulary marks nothing: each piece is a word
    word_level = not word_piece_style and not any(p.startswith(STARTS) for p, i in zip(pieces, ids) if i not in special)
    for p, i in zip(pieces, ids):
        if i in special:
            out.append(None)
            continue
        starts = word_level or (p.startswith(STARTS) if not word_piece_style else not p.startswith(CONTINUES))
        if starts or word < 0:
            word += 1
        out.append(word)
    return out
