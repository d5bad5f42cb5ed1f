"""What the declared schemas of untrusted files (saved results: export/result_schema.py; model
headers: models/header.py) share: pydantic's first error as one line a user can read, a value as
such a line shows it, and how deeply a JSON text nests, found before it is parsed.

No pydantic import: `describe` reads a ValidationError through its `errors()` alone.
"""
from __future__ import annotations

import re
from typing import Any

import numpy as np

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKETS = np.zeros(256, np.int8)  # a byte's step in depth: [ and { open, ] and } close
_BRACKETS[[ord("["), ord("{")]], _BRACKETS[[ord("]"), ord("}")]] = 1, -1
# parts of pydantic's error location that name its own validators, not a field of the file
_VALIDATOR_PARTS = ("function-", "json-", "list[", "dict[", "constrained-")
_EXPECTED = {"int_type": "a whole number", "int_from_float": "a whole number", "int_parsing": "a whole number",
             "float_type": "a number", "bool_type": "true or false", "string_type": "a string",
             "list_type": "a list", "tuple_type": "a list", "dict_type": "an object", "model_type": "an object",
             "model_attributes_type": "an object", "json_type": "a JSON string",
             "finite_number": "a finite number"}


def shown_value(value: Any) -> str:
    """A value from a file as a message shows it: JSON's words, short strings and numbers as they
    are, long ones and containers by their size."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        if len(value) > 40:
            return f"{value[:30]!r}... ({len(value):,} characters)"
        return repr(value)
    if isinstance(value, (int, float)):
        text = repr(value)
        return text if len(text) <= 40 else f"a number of {len(text):,} digits"
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value):,} item{'' if len(value) == 1 else 's'}"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _where(loc: tuple) -> str:
    """A field's place as the file spells it: config.hidden_dim, hypotheses[0].words[3].prob."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not str(part).startswith(_VALIDATOR_PARTS):
            out += ("." if out else "") + ("schema" if part == "schema_" else str(part))
    return out


def describe(e) -> str:
    """The first problem of a pydantic ValidationError on one line: where, what is wrong, and what
    the file held there (our own validators' messages say that themselves)."""
    errors = e.errors(include_url=False)
    err = errors[0]
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    got = f", got {shown_value(value)}"
    if kind == "missing":
        text = "is missing"
    elif kind == "extra_forbidden":
        text = "is not a known key"
    elif kind in _EXPECTED:
        text = f"must be {_EXPECTED[kind]}{got}"
    elif kind in ("less_than_equal", "less_than"):
        text = f"must be at most {ctx.get('le', ctx.get('lt'))}{got}"
    elif kind in ("greater_than_equal", "greater_than"):
        text = f"must be at least {ctx.get('ge', ctx.get('gt'))}{got}"
    elif kind == "literal_error":
        text = f"must be {ctx.get('expected')}{got}"
    elif kind == "string_too_long":
        text = f"must be at most {ctx.get('max_length')} characters, got {len(value)}"
    elif kind == "string_too_short":
        text = "must not be empty"
    elif kind in ("too_long", "too_short"):
        text = f"must hold {'at most' if kind == 'too_long' else 'at least'} " \
               f"{ctx.get('max_length', ctx.get('min_length'))} items, got {ctx.get('actual_length')}"
    elif kind == "json_invalid":
        text = f"is not valid JSON ({ctx.get('error', 'unreadable')})"
    elif kind == "value_error":
        text = f"{ctx.get('error') or err['msg']}{got}"
    else:
        text = err["msg"][:1].lower() + err["msg"][1:]
    more = len(errors) - 1
    more = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return " ".join(f"{_where(err['loc'])} {text}{more}".split())  # one line, whatever a message held


def json_depth(text: str, chunk: int = 1 << 20) -> int:
    """How deeply a JSON text's objects and lists nest, by a cheap scan (strings removed, brackets
    counted), without parsing it: JSON nested 100,000 levels must not reach a parser."""
    bare = _STRING.sub("", text).encode("utf-8", "replace")
    codes = np.frombuffer(bare, np.uint8)
    depth = peak = 0
    for start in range(0, len(codes), chunk):
        step = _BRACKETS[codes[start:start + chunk]]
        step = step[step != 0]  # the brackets alone: far fewer than the characters to sum
        if not step.size:
            continue
        run = np.cumsum(step, dtype=np.int64) + depth
        peak, depth = max(peak, int(run.max())), int(run[-1])
    return peak
