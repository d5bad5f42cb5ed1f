"""The declared schema of a saved result (JSON, and the NPZ of its exact arrays), checked before
anything is drawn. No torch, no Qt: results are opened by the CLI, the window and folder resume.

Every value a result file brings is untrusted until it has passed here. The limits are stated in
one place (below); sizes are checked before anything is parsed or allocated: the JSON's size and
nesting before `json.loads`, each NPZ member's shape and dtype from its .npy header (and its
uncompressed size from the zip directory) before it is read. Each refusal is a MediaError of one
line naming the file and the first field that is wrong, e.g.
`r.json: hypotheses[0].words[3].prob must be between 0 and 1, got 7.0`.
"""
from __future__ import annotations

import json
import math
import re
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)

from ..errors import MediaError, first_line, shown_name
from ..validation import describe, json_depth, shown_value

# ---- every limit, in one place ------------------------------------------------------------------
SCHEMAS = ("attnviewer-result-1", "attnviewer-result-2", "attnviewer-result-3", "attnviewer-result-4",
           "attnviewer-result-5")
KINDS = ("caption", "video", "translate")
JSON_MAX_BYTES = 64 * 1024**2  # the JSON file, or the NPZ's copy of it
JSON_MAX_DEPTH = 32  # nesting of objects and lists (a result needs 9)
HYPOTHESES = (1, 100)  # hypotheses in one result
WORDS = (1, 1000)  # words in one hypothesis
TOKEN_CHARS = (1, 100)  # characters in one word (output, alternative or source word)
ALTERNATIVES_MAX = 1000  # alternatives recorded per word
TEXT_MAX_CHARS = 100_000  # the source (a path or a sentence), the model's name, the note
SETTINGS_MAX = 64  # keys in the decoding settings
ATTENTION_DIMS = {"caption": 2, "video": 1, "translate": 1}  # (H, W) grid; frames; source words
ATTENTION_CELLS_MAX = 1_000_000  # product of attention_shape (one word's attention)
ATTENTION_RANGE = (0.0, 1.0)  # attention weights (a little rounding slack is allowed above 1)
IMAGE_SIDE = (1, 100_000)  # image_size: (height, width) in pixels
SOURCE_WORDS_MAX = ATTENTION_CELLS_MAX
ARRAYS_MAX_BYTES = 512 * 1024**2  # all arrays of one result: declared in the NPZ, or implied by the JSON
NPZ_MEMBERS_MAX = 2 * HYPOTHESES[1] + 2  # attention_0..N, heads_0..N, rollout and result
LAYERS_MAX = 1000  # transformers: decoder layers in heads_shape
HEADS_MAX = 1000  # transformers: heads per layer
TOKENS_MAX = ATTENTION_CELLS_MAX  # transformers: the encoder's tokens (places.token_place, heads_shape[2])
LABEL_CHARS = 100  # characters of one token's label (places.labels; padding's is empty)
NPY_HEADER_MAX = 10_000  # bytes of one .npy header
# --------------------------------------------------------------------------------------------------

_SLACK = 1e-3  # float rounding above 1 in an attention weight
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # escape codes must never reach the terminal
_CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # a sentence may hold tabs and newlines
_PERCENT = re.compile(r"(?:[A-Za-z0-9_.~/-]|%[0-9A-Fa-f]{2})*")  # urllib.parse.quote_from_bytes(safe="/")
_MEMBER = re.compile(r"(result|rollout|(attention|heads)_(0|[1-9][0-9]{0,2}))\.npy")


class ResultError(ValueError):
    """One problem of a result, at `where` (a field like hypotheses[0].words[3].prob)."""

    def __init__(self, where: str, message: str):
        super().__init__(f"{where} {message}" if where else message)


# ---- field types ----------------------------------------------------------------------------------

def _no_controls(pattern):
    def check(s: str) -> str:
        if pattern.search(s):
            raise ValueError("must not hold control characters")
        return s
    return check


def _num(x: float) -> str:
    return f"{x:,}" if isinstance(x, int) else f"{x:g}"


def _between(low: float, high: float, slack: float = 0.0):
    def check(v: float) -> float:
        if not (low <= v <= high + slack):
            raise ValueError(f"must be between {_num(low)} and {_num(high)}")
        return v
    return check


def _at_least(low: float):
    def check(v: float) -> float:
        if not v >= low:
            raise ValueError(f"must be at least {_num(low)}")
        return v
    return check


def _not_nan(v: float) -> float:
    if math.isnan(v):
        raise ValueError("must be a number, not NaN")
    return v


def _pair(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v  # JSON has no tuples


Token = Annotated[str, Field(min_length=TOKEN_CHARS[0], max_length=TOKEN_CHARS[1]), AfterValidator(_no_controls(_CONTROL))]
Name = Annotated[str, Field(max_length=TEXT_MAX_CHARS), AfterValidator(_no_controls(_CONTROL))]
Text = Annotated[str, Field(max_length=TEXT_MAX_CHARS), AfterValidator(_no_controls(_CONTROL_BUT_LINES))]
PathName = Annotated[str, Field(max_length=TEXT_MAX_CHARS), AfterValidator(_no_controls(re.compile("\x00")))]
Prob = Annotated[float, Field(allow_inf_nan=True), AfterValidator(_between(0, 1))]
Score = Annotated[float, Field(allow_inf_nan=True), AfterValidator(_not_nan)]  # log probabilities may be -inf
Side = Annotated[int, AfterValidator(_between(*IMAGE_SIDE))]
Time = Annotated[float, AfterValidator(_at_least(0))]
Alternative = Annotated[tuple[Token, Prob], BeforeValidator(_pair)]
Dimension = Annotated[int, AfterValidator(_between(1, ATTENTION_CELLS_MAX))]


class _Record(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", allow_inf_nan=False, frozen=True)


class Settings(_Record):
    """The decoding settings (DecodeSettings.to_dict plus the device, and `reversed` for a clip)."""
    model_config = ConfigDict(strict=True, extra="allow", allow_inf_nan=False, frozen=True)

    method: Literal["greedy", "beam", "sample"] = "beam"
    beam: Annotated[int, AfterValidator(_between(1, 1000))] = 3
    temperature: Annotated[float, AfterValidator(_between(0, 1000))] = 1.0
    top_k: Annotated[int, AfterValidator(_between(0, 10_000_000))] = 0
    max_len: Annotated[int, AfterValidator(_between(1, 100000))] | None = None
    length_penalty: Annotated[float, AfterValidator(_between(-1000, 1000))] | None = 1.0  # None: the model's own
    alternatives: Annotated[int, AfterValidator(_between(0, ALTERNATIVES_MAX))] = 5
    seed: Annotated[int, AfterValidator(_between(-2 ** 63, 2 ** 64 - 1))] | None = None
    sample_attention: bool = False
    min_len: Annotated[int, AfterValidator(_between(0, 10_000))] = 0  # (older files: none)
    no_repeat_ngram: Annotated[int, AfterValidator(_between(0, 100))] = 0
    device: Annotated[str, Field(max_length=100), AfterValidator(_no_controls(_CONTROL))] = "cpu"
    reversed: bool = False


class Word(_Record):
    token: Token
    token_id: Annotated[int, AfterValidator(_between(-1, 10**9))] = -1  # schema 1 has none
    prob: Prob
    alternatives: list[Alternative] = Field(max_length=ALTERNATIVES_MAX)
    attention: list  # a grid of attention_shape: checked with the shape below
    location: Annotated[int, AfterValidator(_at_least(0))] | None = None  # hard attention: the sampled cell
    sink: Prob | None = None  # transformers: the share of the attention on tokens that are no place
    entropy: Annotated[float, AfterValidator(_at_least(0))] | None = None  # of the output distribution (nats)
    attention_entropy: Annotated[float, AfterValidator(_at_least(0))] | None = None  # of the map (older: none)


Label = Annotated[str, Field(max_length=LABEL_CHARS), AfterValidator(_no_controls(_CONTROL))]
Place = Annotated[int, AfterValidator(_between(-1, TOKENS_MAX))]  # -1: a token that is no place


class PlacesRecord(_Record):
    """lens.Places.to_dict(): where each encoder token lies among the attention's places."""
    token_place: list[Place] = Field(min_length=1, max_length=TOKENS_MAX)
    shape: list[Dimension] = Field(min_length=1, max_length=3)
    labels: list[Label] = Field(default_factory=list, max_length=TOKENS_MAX)
    detail: list[Dimension] | None = Field(None, min_length=2, max_length=4)  # video: (frames, rows, cols)
    token_detail: list[Place] | None = Field(None, max_length=TOKENS_MAX)


class LensRecord(_Record):
    """lens.Lens.to_dict(): which layer (a number, mean or rollout) and how the heads combine."""
    layer: Annotated[int, AfterValidator(_between(-LAYERS_MAX, LAYERS_MAX))] | Literal["mean", "rollout"] = -1
    heads: Annotated[int, AfterValidator(_between(0, HEADS_MAX))] | Literal["mean", "max"] = "mean"


class HypothesisRecord(_Record):
    log_prob: Score
    score: Score
    ended: bool | None = None  # False: cut at the maximum length (older results: not said)
    joined: Text | None = None  # schema 5, subword models: the text as the tokenizer joins the pieces
    # schema 5, subword models: the index of the piece each word begins at (0 first, rising, below the
    # words' count): which pieces the figures and the window merge into one word (target_words.py)
    word_starts: list[Annotated[int, AfterValidator(_between(0, WORDS[1]))]] | None = Field(
        None, min_length=1, max_length=WORDS[1])
    words: list[Word] = Field(min_length=WORDS[0], max_length=WORDS[1])


class ResultRecord(_Record):
    schema_: Literal[SCHEMAS] = Field(alias="schema")  # type: ignore[valid-type]
    source: PathName  # a file's path (any character a name may hold: printed escaped) or a sentence (see check_record)
    source_bytes: Annotated[str, Field(max_length=3 * TEXT_MAX_CHARS)] | None = None  # a non-UTF-8 path, percent-encoded
    model: Name
    settings: Settings | None = None
    seconds: Time | None = None
    kind: Literal[KINDS] | None = None  # type: ignore[valid-type]  # schemas 1 and 2: a caption
    image_size: Annotated[tuple[Side, Side], BeforeValidator(_pair)] | None = None
    source_tokens: list[Token] | None = Field(None, max_length=SOURCE_WORDS_MAX)
    frame_times: list[Time] | None = Field(None, max_length=ATTENTION_CELLS_MAX)
    note: Text | None = None
    attention_shape: list[Dimension] | None = Field(None, max_length=3)
    hypotheses: list[HypothesisRecord] = Field(max_length=HYPOTHESES[1])
    arrays: PathName | None = None  # the NPZ beside the JSON, relative to the JSON's folder (printed escaped)
    arrays_bytes: Annotated[str, Field(max_length=3 * TEXT_MAX_CHARS)] | None = None  # a non-UTF-8 one, percent-encoded
    # transformers (schema 4): how the encoder's tokens map to places, the lens the attention was
    # drawn with, and the shape of each word's raw attention [layers, heads, tokens] (in the NPZ)
    places: PlacesRecord | None = None
    lens: LensRecord | None = None
    heads_shape: list[Dimension] | None = Field(None, min_length=3, max_length=3)

    @property
    def kind_name(self) -> str:
        return self.kind or "caption"

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.attention_shape or ())

    def raw_settings(self) -> dict:
        return self.settings.model_dump(exclude_unset=True) if self.settings is not None else {}


# ---- the JSON -------------------------------------------------------------------------------------

def read_json_text(path: Path) -> str:
    """A result's JSON as text, read with the size limit (never more than the limit is read)."""
    try:
        with open(path, "rb") as f:
            raw = f.read(JSON_MAX_BYTES + 1)
    except OSError as e:
        raise MediaError(f"{path}: cannot open ({e.strerror})") from None
    if len(raw) > JSON_MAX_BYTES:
        raise MediaError(f"{path}: not an attnviewer result (larger than {JSON_MAX_BYTES // 1024**2} MB)")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MediaError(f"{path}: not an attnviewer result (not a text file)") from None


def json_data(text: str, path: Path | str) -> dict:
    """A result's JSON text as plain data, parsed within the size and nesting limits, with a known
    schema name; not yet checked against the schema (check_data does that)."""
    if len(text) > JSON_MAX_BYTES:
        raise MediaError(f"{path}: not an attnviewer result (larger than {JSON_MAX_BYTES // 1024**2} MB)")
    depth = json_depth(text)
    if depth > JSON_MAX_DEPTH:
        raise MediaError(f"{path}: not an attnviewer result (nested {depth:,} levels deep; "
                         f"a result nests at most {JSON_MAX_DEPTH})")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise MediaError(f"{path}: not an attnviewer result (broken JSON at line {e.lineno})") from None
    except (ValueError, RecursionError) as e:  # a number of more than 4300 digits
        raise MediaError(f"{path}: not an attnviewer result (broken JSON: {str(e).splitlines()[0][:80]})") from None
    if not isinstance(data, dict) or data.get("schema") not in SCHEMAS:
        schema = data.get("schema") if isinstance(data, dict) else None
        raise MediaError(f"{path}: not an attnviewer result (schema {shown_value(schema)})")
    return data


def check_data(data: dict, path: Path | str) -> ResultRecord:
    """The result record of json_data's plain data, checked against the schema and for consistency."""
    if isinstance(data.get("hypotheses"), list) and not data["hypotheses"]:
        raise MediaError(f"{path}: the result holds no caption")
    try:
        record = ResultRecord.model_validate(data)
    except ValidationError as e:
        raise MediaError(f"{path}: {describe(e)}") from None
    try:
        check_record(record)
    except ResultError as e:
        raise MediaError(f"{path}: {e}") from None
    return record


def check_record(r: ResultRecord) -> None:
    """What one field says about another: the attention's shape against the words, the source
    words and the frame times, a path's exact bytes against its printable name; ResultError at
    the first that disagrees."""
    kind, shape = r.kind_name, r.shape
    if kind == "translate" and _CONTROL_BUT_LINES.search(r.source):
        raise ResultError("source", "must not hold control characters")  # a sentence, unlike a path
    for key in ("source", "arrays"):
        path_bytes(r, key)
    extra = set((r.settings.model_extra or {}) if r.settings else {})
    if r.settings is not None:
        if len(r.settings.model_fields_set | extra) > SETTINGS_MAX:
            raise ResultError("settings", f"must hold at most {SETTINGS_MAX} keys")
        for key, value in (r.settings.model_extra or {}).items():
            if not (value is None or isinstance(value, (bool, int, str)) and len(str(value)) <= 1000
                    or isinstance(value, float) and math.isfinite(value)):
                raise ResultError(f"settings.{key}", f"must be a number, a short string, true/false or null, got {shown_value(value)}")
            if isinstance(value, str) and _CONTROL.search(value) or _CONTROL.search(key) or len(key) > 100:
                raise ResultError("settings", f"key {shown_value(key)} must be a short name without control characters")
    if r.attention_shape is None:
        raise ResultError("attention_shape", "is missing")
    dims = ATTENTION_DIMS[kind]
    if len(shape) != dims:
        raise ResultError("attention_shape", f"must hold {dims} sizes for a {kind} result, got {list(shape)}")
    cells = math.prod(shape)
    if cells > ATTENTION_CELLS_MAX:
        raise ResultError("attention_shape", f"must hold at most {ATTENTION_CELLS_MAX:,} cells, got {list(shape)}")
    total = sum(len(h.words) for h in r.hypotheses) * cells * 4
    if total > ARRAYS_MAX_BYTES:
        raise ResultError("attention_shape", f"implies {_size(total)} of attention; a result is limited to "
                                             f"{_size(ARRAYS_MAX_BYTES)}")
    for field, noun, needed in (("source_tokens", "source words", "translate"), ("frame_times", "frame times", "video")):
        values = getattr(r, field)
        if values is None:
            if kind == needed:
                raise ResultError(field, f"is missing (a {kind} result names the attention's {noun})")
            continue
        if len(values) != shape[-1]:
            raise ResultError(field, f"holds {len(values)} {noun} but the attention spans {shape[-1]} "
                                     f"(attention_shape {list(shape)})")
    check_transformer(r)
    times = r.frame_times or []
    for i in range(1, len(times)):
        if times[i] < times[i - 1]:
            raise ResultError(f"frame_times[{i}]", f"must not be earlier than the time before it, "
                                                   f"got {times[i]!r} after {times[i - 1]!r}")
    for i, h in enumerate(r.hypotheses):
        check_word_starts(h.word_starts, len(h.words), f"hypotheses[{i}].word_starts")
        located = h.words[0].location is not None
        sunk = h.words[0].sink is not None
        if any((w.sink is not None) != sunk for w in h.words):
            raise ResultError(f"hypotheses[{i}].words", "must give a sink for every word or for none")
        for j, w in enumerate(h.words):
            where = f"hypotheses[{i}].words[{j}]"
            check_grid(w.attention, shape, f"{where}.attention")
            if (w.location is not None) != located:
                raise ResultError(f"{where}.location", "must be given for every word or for none")
            if w.location is not None and w.location >= cells:
                raise ResultError(f"{where}.location", f"must be below {cells} (the attention's cells), got {w.location}")


def check_word_starts(starts: list[int] | None, words: int, where: str) -> None:
    """The pieces each word begins at: the first piece first, then rising, each a piece of the words."""
    if starts is None:
        return
    if starts[0] != 0:
        raise ResultError(f"{where}[0]", f"must be 0 (the first piece begins a word), got {starts[0]}")
    for k in range(1, len(starts)):
        if starts[k] <= starts[k - 1]:
            raise ResultError(f"{where}[{k}]", f"must be above the one before it, got {starts[k]} after {starts[k - 1]}")
    if starts[-1] >= words:
        raise ResultError(f"{where}[{len(starts) - 1}]", f"must be below {words} (the pieces), got {starts[-1]}")


def check_transformer(r: ResultRecord) -> None:
    """A transformer's places, lens and heads_shape: all three or none, each agreeing with the
    attention's shape and with one another (ResultError at the first that does not)."""
    given = {k: getattr(r, k) is not None for k in ("places", "lens", "heads_shape")}
    if not any(given.values()):
        return
    missing = [k for k, v in given.items() if not v]
    if missing:
        raise ResultError(missing[0], "is missing (a transformer's result gives places, lens and heads_shape together)")
    p, (layers, heads, tokens) = r.places, r.heads_shape
    if layers > LAYERS_MAX or heads > HEADS_MAX:
        raise ResultError("heads_shape", f"must hold at most {LAYERS_MAX} layers of {HEADS_MAX} heads, got {r.heads_shape}")
    if tuple(p.shape) != r.shape:
        raise ResultError("places.shape", f"must be the attention's shape {list(r.shape)}, got {list(p.shape)}")
    if len(p.token_place) != tokens:
        raise ResultError("places.token_place", f"holds {len(p.token_place)} tokens but heads_shape "
                                                f"{r.heads_shape} has {tokens}")
    cells = math.prod(p.shape)
    bad = next((i for i, v in enumerate(p.token_place) if v >= cells), None)
    if bad is not None:
        raise ResultError(f"places.token_place[{bad}]", f"must be below {cells} (the places), got {p.token_place[bad]}")
    if p.labels and len(p.labels) != tokens:
        raise ResultError("places.labels", f"holds {len(p.labels)} labels for {tokens} tokens")
    if (p.detail is None) != (p.token_detail is None):
        raise ResultError("places.detail", "and places.token_detail come together")
    if p.detail is not None:
        if p.detail[0] != p.shape[0] or len(p.shape) != 1:
            raise ResultError("places.detail", f"must start with the {p.shape[0]} frames, got {list(p.detail)}")
        if len(p.token_detail) != tokens:
            raise ResultError("places.token_detail", f"holds {len(p.token_detail)} tokens but heads_shape has {tokens}")
        cells = math.prod(p.detail)
        if cells > ATTENTION_CELLS_MAX:
            raise ResultError("places.detail", f"must hold at most {ATTENTION_CELLS_MAX:,} cells, got {list(p.detail)}")
        bad = next((i for i, v in enumerate(p.token_detail) if v >= cells), None)
        if bad is not None:
            raise ResultError(f"places.token_detail[{bad}]", f"must be below {cells}, got {p.token_detail[bad]}")
    from ..lens import Lens

    try:
        Lens(r.lens.layer, r.lens.heads).check(layers, heads)
    except ValueError as e:
        raise ResultError("lens", f"does not fit heads_shape {r.heads_shape}: {e}") from None
    total = sum(len(h.words) for h in r.hypotheses) * layers * heads * tokens * 2 + tokens * tokens * 4
    if total > ARRAYS_MAX_BYTES:
        raise ResultError("heads_shape", f"implies {_size(total)} of layers and heads; a result is limited to "
                                         f"{_size(ARRAYS_MAX_BYTES)}")


def path_bytes(r: ResultRecord, key: str) -> bytes | None:
    """The exact bytes of a path that is not valid UTF-8 (KEY_bytes, percent-encoded, beside KEY:
    "source" or "arrays"), checked: a path's bytes (no NUL), and the same name as the printable KEY."""
    encoded, shown = getattr(r, f"{key}_bytes"), getattr(r, key)
    if encoded is None:
        return None
    from urllib.parse import unquote_to_bytes

    where = f"{key}_bytes"
    if not _PERCENT.fullmatch(encoded):
        raise ResultError(where, f"must be a percent-encoded path, got {shown_value(encoded)}")
    raw = unquote_to_bytes(encoded)
    if not raw or b"\0" in raw:
        raise ResultError(where, "must be a path's bytes (not empty, no NUL byte)")
    if shown is None or shown_name(raw) != shown:
        raise ResultError(where, f"must be the bytes of {key} {shown_value(shown)}, got another name")
    return raw


def check_grid(values: list, shape: tuple[int, ...], where: str) -> np.ndarray:
    """One word's attention from the JSON: numbers in a grid of `shape`, each between 0 and 1."""
    try:
        grid = np.array(values, dtype=object)
    except ValueError:
        grid = None
    if grid is None or grid.shape != shape:
        got = "a ragged list" if grid is None or grid.dtype != object or grid.ndim < len(shape) else list(grid.shape)
        raise ResultError(where, f"must be a grid of shape {list(shape)}, got {got}")
    flat = grid.ravel()
    kinds = set(map(type, flat))
    if not kinds <= {int, float}:
        bad = next(v for v in flat if type(v) not in (int, float))
        raise ResultError(where, f"must hold numbers only, got {shown_value(bad)}")
    try:
        numbers = flat.astype(np.float64)
    except OverflowError:
        raise ResultError(where, "must hold numbers between 0 and 1, got a huge number") from None
    check_weights(numbers, where)
    return numbers


def check_weights(a: np.ndarray, where: str) -> None:
    if a.size and not (np.isfinite(a).all() and a.min() >= ATTENTION_RANGE[0] and a.max() <= ATTENTION_RANGE[1] + _SLACK):
        bad = a[~(np.isfinite(a) & (a >= ATTENTION_RANGE[0]) & (a <= ATTENTION_RANGE[1] + _SLACK))][0]
        raise ResultError(where, f"must hold weights between 0 and 1, got {float(bad)!r}")


def _size(n: int) -> str:
    for unit, scale in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


# ---- the NPZ --------------------------------------------------------------------------------------

class NpzArrays:
    """An NPZ of a result, its members checked from the zip directory and the .npy headers
    before any is read. Use as a context manager; `record` is the NPZ's own result record."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.headers: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
        try:
            self.zip = zipfile.ZipFile(self.path)
        except _READ_ERRORS + (zipfile.LargeZipFile,) as e:
            raise MediaError(f"{self.path}: cannot read the arrays (not a complete NPZ: {_first(e)})") from None
        try:
            self._check_members()
        except BaseException:
            self.zip.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.zip.close()

    def _fail(self, message: str):
        raise MediaError(f"{self.path}: {message}")

    def _check_members(self) -> None:
        infos = self.zip.infolist()
        if len(infos) > NPZ_MEMBERS_MAX:
            self._fail(f"holds {len(infos):,} arrays; a result's NPZ holds at most {NPZ_MEMBERS_MAX}")
        names = [i.filename for i in infos]
        if len(set(names)) != len(names):
            self._fail("holds two arrays of the same name")
        declared = stored = 0
        for info in infos:
            if not _MEMBER.fullmatch(info.filename):
                self._fail(f"unexpected array {shown_value(info.filename)} (a result's NPZ holds result and attention_0, attention_1, ...)")
            name = info.filename[:-4]
            stored += info.file_size
            if info.file_size > ARRAYS_MAX_BYTES + NPY_HEADER_MAX or stored > ARRAYS_MAX_BYTES + len(infos) * NPY_HEADER_MAX:
                self._fail(f"{name} unpacks to {_size(info.file_size)}; a result's arrays are limited to "
                           f"{_size(ARRAYS_MAX_BYTES)}")
            shape, dtype = self._header(info, name)
            if name == "result":
                if dtype.kind != "U" or shape != ():
                    self._fail(f"result must be a text record, got {dtype.str} of shape {list(shape)}")
            elif dtype.kind != "f" or dtype.itemsize not in (2, 4, 8) or not shape or min(shape) < 0:
                self._fail(f"{name} must be a float array, got {dtype.str} of shape {list(shape)}")
            nbytes = math.prod(shape) * dtype.itemsize
            declared += nbytes
            if declared > ARRAYS_MAX_BYTES:
                self._fail(f"{name} declares {_size(nbytes)} ({dtype.str} of shape {list(shape)}); a result's "
                           f"arrays are limited to {_size(ARRAYS_MAX_BYTES)}")
            if info.file_size < nbytes:
                self._fail(f"{name} is truncated (declares {_size(nbytes)}, holds {_size(info.file_size)})")
            self.headers[name] = (shape, dtype)

    def _header(self, info: zipfile.ZipInfo, name: str) -> tuple[tuple[int, ...], np.dtype]:
        fmt = np.lib.format
        try:
            with self.zip.open(info) as f:
                version = fmt.read_magic(f)
                if version == (1, 0):
                    shape, _, dtype = fmt.read_array_header_1_0(f, max_header_size=NPY_HEADER_MAX)
                elif version == (2, 0):
                    shape, _, dtype = fmt.read_array_header_2_0(f, max_header_size=NPY_HEADER_MAX)
                else:
                    self._fail(f"{name} is in .npy format {version[0]}.{version[1]}; results are written as 1.0 or 2.0")
        except MediaError:
            raise
        except _READ_ERRORS as e:
            self._fail(f"cannot read the header of {name} ({_first(e)})")
        if dtype.hasobject:
            self._fail(f"{name} holds Python objects, not numbers")
        return tuple(int(n) for n in shape), dtype

    def _read(self, name: str) -> np.ndarray:
        try:
            with self.zip.open(name + ".npy") as f:
                a = np.lib.format.read_array(f, allow_pickle=False, max_header_size=NPY_HEADER_MAX)
                if f.read(1):  # reading to the end also checks the member's CRC
                    self._fail(f"{name} holds data past its array")
                return a
        except MediaError:
            raise
        except _READ_ERRORS as e:
            self._fail(f"cannot read {name} (damaged or truncated: {_first(e)})")

    def data(self) -> dict:
        """The NPZ's own copy of the result's JSON, as json_data gives it (not yet checked)."""
        if "result" not in self.headers:
            self._fail("not an attnviewer result (no result record in it)")
        dtype = self.headers["result"][1]
        if dtype.itemsize > 4 * JSON_MAX_BYTES:
            self._fail(f"not an attnviewer result (its result record is larger than {JSON_MAX_BYTES // 1024**2} MB)")
        return json_data(str(self._read("result")), self.path)

    def attention(self, record: ResultRecord) -> dict[int, np.ndarray]:
        """Each hypothesis's exact attention, float32, of the shape the record implies. Names the
        array that disagrees with the record."""
        for name in self.headers:
            if name.startswith(("attention_", "heads_")) and int(name.split("_")[1]) >= len(record.hypotheses):
                self._fail(f"{name} has no hypothesis (the result holds {len(record.hypotheses)})")
        return self._per_word("attention", record, record.shape, "attention_shape")  # (else the JSON's 6 decimals)

    def _per_word(self, prefix: str, record: ResultRecord, shape, shape_name: str) -> dict[int, np.ndarray]:
        """The arrays PREFIX_i the NPZ holds, each (words of hypothesis i, *shape), weights checked."""
        out = {}
        for i, h in enumerate(record.hypotheses):
            name = f"{prefix}_{i}"
            if name not in self.headers:
                continue
            want = (len(h.words), *shape)
            if self.headers[name][0] != want:
                self._fail(f"{name} must have shape {list(want)} (hypotheses[{i}]: {len(h.words)} words of "
                           f"{shape_name} {list(shape)}), got {list(self.headers[name][0])}")
            a = self._read(name)
            try:
                check_weights(a.ravel(), name)
            except ResultError as e:
                self._fail(str(e))
            out[i] = np.asarray(a, dtype=np.float32)
        return out

    def heads(self, record: ResultRecord) -> dict[int, np.ndarray]:
        """A transformer's raw attention of each hypothesis (words, layers, heads, tokens), as float32,
        checked against the record's heads_shape; {} for a result without them."""
        names = [n for n in self.headers if n.startswith("heads_")]
        if names and record.heads_shape is None:
            self._fail(f"{names[0]} has no heads_shape in the result record (not a transformer's result)")
        if not names:
            return {}
        out = self._per_word("heads", record, record.heads_shape, "heads_shape")
        if out and len(out) != len(record.hypotheses):
            self._fail(f"holds the heads of {len(out)} of the {len(record.hypotheses)} hypotheses")
        return out

    def rollout(self, record: ResultRecord) -> np.ndarray | None:
        """The encoder's rollout (tokens x tokens), checked; None if the NPZ holds none."""
        if "rollout" not in self.headers:
            return None
        if record.heads_shape is None:
            self._fail("rollout has no heads_shape in the result record (not a transformer's result)")
        n = record.heads_shape[2]
        if self.headers["rollout"][0] != (n, n):
            self._fail(f"rollout must have shape {[n, n]} (the encoder's tokens), got {list(self.headers['rollout'][0])}")
        a = self._read("rollout")
        try:
            check_weights(a.ravel(), "rollout")
        except ResultError as e:
            self._fail(str(e))
        return np.asarray(a, dtype=np.float32)


_READ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError,
                RuntimeError, SyntaxError, TypeError, KeyError, MemoryError, OverflowError, struct.error)


def _first(e: BaseException) -> str:
    return first_line(e)[:120]
