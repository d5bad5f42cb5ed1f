"""Results as files, and back: JSON for people and other programs, NPZ for the exact arrays.

The JSON holds everything (tokens, token ids, probabilities, alternatives, settings, the model,
the image's path and size) with the attention rounded to 6 decimals for reading. Beside it, an
NPZ holds every hypothesis's attention as the float32 array the model produced, plus a copy of
the JSON, so either file alone reopens the result. `load_result` prefers the exact arrays.

Scalars (probabilities, scores) are written with Python's shortest round-trip repr, so they read
back as the same floats.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..errors import MediaError, OutputError, name_bytes, shown_name
from ..types import Hypothesis, Result
from .figures import atomic_path
from .result_schema import SCHEMAS as _READABLE
from .result_schema import NpzArrays, ResultRecord, check_data, json_data, path_bytes, read_json_text

SCHEMA = "attnviewer-result-5"  # 3: kind, source_tokens (translation), frame_times (video); 4: transformers'
# places, lens, heads_shape and each word's sink (the raw heads and the rollout in the NPZ); 5: a subword
# model's word_starts (which pieces make a word) and its text as the tokenizer joins them, read back
assert SCHEMA in _READABLE  # what load_result reads (result_schema.py declares them)


def hypothesis_dict(h: Hypothesis) -> dict:
    words = [
        {
            "token": t,
            "token_id": int(tid),
            "prob": float(p),
            "alternatives": [[w, float(q)] for w, q in alts],
            "attention": np.round(att.astype(np.float64), 6).tolist(),
        }
        for t, tid, p, alts, att in zip(h.tokens, h.token_ids, h.probs, h.alternatives, h.attention)
    ]
    for word, loc in zip(words, h.locations or []):
        word["location"] = loc  # hard attention: the sampled region (flat index)
    for word, sink in zip(words, h.sinks or []):
        word["sink"] = min(max(round(float(sink), 6), 0.0), 1.0)  # transformers: the share on no place
    for word, ent, att_ent in zip(words, h.entropies or [], h.attention_entropies):  # step scores (whatif/scores.py)
        word["entropy"], word["attention_entropy"] = round(float(ent), 6), round(float(att_ent), 6)
    out = {
        "text": h.text,
        "tokens": h.tokens,
        "log_prob": float(h.log_prob),
        "score": float(h.score),
        "ended": bool(h.ended),  # False: cut at the maximum length
        "words": words,
    }
    if h.starts is not None and len(h.starts) == len(h.tokens) and h.tokens:  # a subword model's pieces
        out["word_starts"] = [i for i, g in enumerate(h.starts) if g or i == 0]
        if h.joined is not None:
            out["joined"] = _joined(h.joined)
    return out


def _joined(text: str) -> str:
    """A tokenizer's text as the schema keeps it: control characters (but tabs and line ends) escaped."""
    from .result_schema import _CONTROL_BUT_LINES, TEXT_MAX_CHARS

    return _CONTROL_BUT_LINES.sub(lambda m: repr(m.group())[1:-1], text)[:TEXT_MAX_CHARS]


def source_fields(source: str, key: str = "source") -> dict:
    """A path's JSON fields. A path that is not valid UTF-8 (legal on Linux; Python holds its
    bytes as surrogates, which no UTF-8 file can store) is kept twice: KEY a printable name (the
    odd bytes as \\xNN) and KEY_bytes the exact bytes, percent-encoded, so that
    `os.fsdecode(urllib.parse.unquote_to_bytes(...))` gives the path back. Used for "source" (the
    input) and "arrays" (the NPZ beside the JSON)."""
    try:
        source.encode("utf-8")
        return {key: source}
    except UnicodeEncodeError:
        from urllib.parse import quote_from_bytes

        raw = name_bytes(source)
        return {key: shown_name(raw), f"{key}_bytes": quote_from_bytes(raw, safe="/")}


def result_dict(r: Result) -> dict:
    return {
        "schema": SCHEMA,
        **source_fields(r.source),
        "model": r.model,
        "settings": r.settings,
        "seconds": round(float(r.seconds), 6),
        "kind": r.kind,
        "image_size": list(r.image_size) if r.image_size else None,
        "source_tokens": r.source_tokens,
        "frame_times": r.frame_times,
        "note": r.note,
        "attention_shape": list(r.best.attention.shape[1:]) if r.hypotheses else None,
        "hypotheses": [hypothesis_dict(h) for h in r.hypotheses],
        **transformer_fields(r),
    }


def heads_of(r: Result) -> list[np.ndarray] | None:
    """Each hypothesis's raw attention (words, layers, heads, tokens) of a transformer's result with
    places; None where any is missing (a result reopened from its JSON alone) or the shapes differ."""
    if r.places is None or not r.hypotheses or any(h.heads is None for h in r.hypotheses):
        return None
    heads = [np.asarray(h.heads) for h in r.hypotheses]
    inner = {a.shape[1:] for a in heads if a.ndim == 4}
    if len(inner) != 1 or any(a.ndim != 4 for a in heads):
        return None
    return heads


def _label(text: str) -> str:
    """A token's label as the schema keeps it: control characters escaped, at most 100 characters."""
    from .result_schema import _CONTROL, LABEL_CHARS

    text = _CONTROL.sub(lambda m: repr(m.group())[1:-1], str(text))
    return text[:LABEL_CHARS]


def transformer_fields(r: Result) -> dict:
    """places, lens and heads_shape of a transformer's result (nothing for other models)."""
    from ..lens import Lens

    from ..types import heads_layout

    shape = heads_layout(r)
    if r.places is None or shape is None:
        return {}
    places = r.places.to_dict()
    places["labels"] = [_label(t) for t in places.get("labels", [])]
    return {"places": places, "lens": Lens.from_dict(r.lens).to_dict(), "heads_shape": list(shape)}


def write_json(data, out: str | Path) -> Path:
    out = Path(out)
    try:
        text = json.dumps(data, indent=1, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:  # a name's odd bytes somewhere no *_bytes field holds: escaped, never a crash
        text = json.dumps(data, indent=1, ensure_ascii=True).encode("ascii")
    with atomic_path(out) as tmp:
        with open(tmp, "wb") as f:
            f.write(text + b"\n")
    return out


def npz_path_for(json_path: str | Path) -> Path:
    """Where the arrays of a JSON result go by default: beside it, same name, .npz."""
    return Path(json_path).with_suffix(".npz")


def write_npz(result: Result, out: str | Path, data: dict | None = None) -> Path:
    """The exact float32 attention of every hypothesis (attention_0, attention_1, ...) and the
    result's JSON text (key 'result'), compressed."""
    out = Path(out)
    if out.suffix.lower() != ".npz":
        raise OutputError(f"{out}: the arrays are written as NPZ; name the file .npz")
    data = data if data is not None else result_dict(result)
    arrays = {f"attention_{i}": np.asarray(h.attention, dtype=np.float32) for i, h in enumerate(result.hypotheses)}
    if "heads_shape" in data:  # a transformer's every layer and head (float16 halves them), and its rollout
        for i, heads in enumerate(heads_of(result) or []):
            arrays[f"heads_{i}"] = np.clip(np.asarray(heads, dtype=np.float32), 0.0, 1.0).astype(np.float16)
        if result.places.rollout is not None:
            arrays["rollout"] = np.asarray(result.places.rollout, dtype=np.float32)
    arrays["result"] = np.array(json.dumps(data, ensure_ascii=False))
    with atomic_path(out) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
    return out


def write_result(result: Result, json_out: str | Path | None = None, npz_out: str | Path | None = None,
                 arrays: str | Path | None = None, npz_name: str | Path | None = None,
                 fields: dict | None = None) -> list[Path]:
    """The JSON and/or the NPZ of a result. The JSON names its NPZ (relative to the JSON's folder):
    npz_out, or `arrays` where the NPZ exists already. npz_name: where the NPZ will end up when
    npz_out is a temporary name (the outputs written as a set): the JSON names that file. fields:
    more of the record, in both files (folder captioning's `input`: what the result was made from).
    A result merged into words for display is saved as the model wrote it (its pieces: `written`)."""
    result = result.written if result.written is not None else result
    data = dict(result_dict(result), **(fields or {}))
    written = []
    if npz_out is not None:
        written.append(write_npz(result, npz_out, data))
    if json_out is not None:
        ref = npz_name if npz_name is not None and npz_out is not None else (npz_out if npz_out is not None else arrays)
        if ref is not None:
            data = dict(data, **source_fields(_relative(Path(ref), Path(json_out).parent), "arrays"))
        written.insert(0, write_json(data, json_out))
    return written


def _relative(target: Path, folder: Path) -> str:
    try:
        return os.path.relpath(target.resolve(), folder.resolve())
    except ValueError:  # another drive on Windows
        return str(target.resolve())


def result_data(path: str | Path) -> dict:
    """A result file's record as plain data (the JSON's, or the NPZ's copy of it), read within the
    size and nesting limits but not yet checked against the schema: enough to tell what the result
    was made from. MediaError of one line if it cannot be read; load_result(path, data) checks it."""
    path = Path(path)
    if not path.exists():
        raise MediaError(f"{path}: no such file")
    if path.is_dir():
        raise MediaError(f"{path}: is a folder, not a result file")
    if path.suffix.lower() == ".npz":
        with NpzArrays(path) as npz:
            return npz.data()
    return json_data(read_json_text(path), path)


def load_result(path: str | Path, data: dict | None = None) -> Result:
    """Reopen a result saved by write_result (or write_json of result_dict): its JSON or its NPZ.

    With the NPZ at hand the attention arrays are the exact float32 arrays that were saved;
    from a JSON alone they are the 6-decimal values written there. Everything is checked against
    the declared schema (result_schema.py: types, ranges, sizes, and that the attention agrees
    with the words, source words and frame times) before any of it is used. MediaError of one
    line naming the file and the field if the file is missing, not a result, or damaged.
    data: the file's result_data, read already (it is checked here, not read again).
    """
    path = Path(path)
    record = check_data(result_data(path) if data is None else data, path)
    arrays, heads, rollout = {}, {}, None
    npz_path = path if path.suffix.lower() == ".npz" else None
    if npz_path is None and record.arrays:
        named = path_bytes(record, "arrays")
        npz_path = path.parent / (os.fsdecode(named) if named is not None else record.arrays)
    if npz_path is not None and (npz_path == path or npz_path.is_file()):  # gone: the JSON alone holds the
        with NpzArrays(npz_path) as npz:                                    # result, to 6 decimals
            arrays, heads, rollout = npz.attention(record), npz.heads(record), npz.rollout(record)
    return _result_from(record, arrays, heads, rollout)


def _result_from(r: ResultRecord, arrays: dict[int, np.ndarray], heads: dict[int, np.ndarray] | None = None,
                 rollout: np.ndarray | None = None) -> Result:
    hyps = []
    for i, h in enumerate(r.hypotheses):
        words = h.words
        att = arrays.get(i)
        if att is None:
            att = np.array([w.attention for w in words], dtype=np.float32).reshape(len(words), *r.shape)
        hyps.append(Hypothesis(
            tokens=[w.token for w in words],
            token_ids=[w.token_id for w in words],
            log_prob=h.log_prob,
            score=h.score,
            probs=[w.prob for w in words],
            alternatives=[list(w.alternatives) for w in words],
            attention=att,
            locations=[w.location for w in words] if words[0].location is not None else None,
            heads=(heads or {}).get(i),
            sinks=[w.sink for w in words] if words[0].sink is not None else None,
            ended=h.ended is not False,  # (older results did not say: taken as ended)
            starts=_starts(h.word_starts, len(words)),
            joined=h.joined,  # as the tokenizer wrote the pieces out (schema 5)
            entropies=[w.entropy for w in words] if words[0].entropy is not None else None,
        ))
    raw = path_bytes(r, "source")
    result = Result(
        source=os.fsdecode(raw) if raw is not None else r.source,  # the exact path again, to find the file
        model=r.model,
        settings=r.raw_settings(),
        hypotheses=hyps,
        seconds=r.seconds or 0.0,
        image_size=r.image_size,
        kind=r.kind_name,
        source_tokens=list(r.source_tokens) if r.source_tokens else None,
        frame_times=list(r.frame_times) if r.frame_times else None,
        note=r.note or None,
        places=_places(r, rollout),
        lens=r.lens.model_dump() if r.lens is not None else None,
    )
    if r.heads_shape is not None:  # kept where the heads are not (a JSON reopened without its NPZ)
        result.heads_shape = list(r.heads_shape)
    return result


def _starts(word_starts: list[int] | None, pieces: int) -> list[bool] | None:
    """Hypothesis.starts (per piece: does it begin a word) from a file's word_starts (checked)."""
    if word_starts is None:
        return None
    starts = [False] * pieces
    for i in word_starts:
        starts[i] = True
    return starts


def _places(r: ResultRecord, rollout: np.ndarray | None):
    """A transformer's lens.Places of a checked record (None for other results)."""
    if r.places is None:
        return None
    from ..lens import Places

    return Places.from_dict(r.places.model_dump(), rollout)


def find_source(result: Result, result_path: str | Path | None = None, what: str = "input") -> Path:
    """The image or video a result was made from: its recorded path, else a file of that name beside the
    result file (a result folder moved together with its images). MediaError if it is gone."""
    src = Path(result.source)
    if src.is_file():
        return src
    if result_path is not None:
        beside = Path(result_path).parent / src.name
        if beside.is_file():
            return beside
    raise MediaError(f"{src}: the {what} of this result is gone (no such file); "
                     "put it back or next to the result file")
