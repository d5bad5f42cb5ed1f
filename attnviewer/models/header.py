"""The declared schema of a checkpoint's safetensors header, one per model kind, checked before
anything is built or allocated. No torch here: the header is JSON, read by catalog.read_header.

Every value a model file brings (its config, vocabulary, training and domain records, the table
of its tensors) is untrusted until it has passed `validate_header`, which raises CheckpointError
with one line naming the first field that is wrong.
"""
from __future__ import annotations

import json
import math
import reprlib
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, Json, ValidationError,
                      model_validator)
from pydantic_core import PydanticCustomError

from ..catalog import ATTN_ACTIVATIONS, SCORES, read_header
from ..errors import CheckpointError, first_line
from ..validation import describe, json_depth

# ---- every limit, in one place ------------------------------------------------------------------
FORMAT = "attnviewer-1"
HEADER_MAX_BYTES = 20_000_000  # the whole JSON header of the safetensors file
CONFIG_MAX_CHARS = 100_000  # each metadata record, as a JSON string
VOCAB_MAX_CHARS = 16_000_000
TRAINING_MAX_CHARS = 4_000_000
DOMAIN_MAX_CHARS = 1_000_000
JSON_MAX_DEPTH = 64  # nesting of each metadata record (the training and domain records nest deepest)
WEIGHTS_MAX_BYTES = 2 * 1024**3  # all tensors together, as stored or as the config implies them
TENSORS_MAX = 10_000  # tensors in one file
TENSOR_NAME_MAX = 300  # characters in a tensor's name
TENSOR_RANK_MAX = 8

DIM = (1, 4096)  # hidden, embedding, attention and feature sizes
VOCAB_SIZE = (4, 1_000_000)  # words in a vocabulary (at least the special tokens)
WORD_CHARS = (1, 100)  # characters in one vocabulary word
IMAGE_SIZE = (32, 1024)  # side of the square a captioner resizes images to
FRAME_SIZE = (8, 512)  # side of the square a video captioner resizes frames to
STEPS = (1, 256)  # frames a video captioner samples from a clip
MAX_LEN = (1, 512)  # longest output, in words
MAX_SOURCE_LEN = (1, 1024)  # longest sentence a translator reads, in words
WINDOW = (1, 512)  # D of a translator's local attention
DROPOUT = (0.0, 1.0)
DS_LAMBDA = (0.0, 1000.0)  # weight of the doubly stochastic penalty a captioner was trained with

# What the models are built from (kept here so that checking a header never imports torch;
# tests/test_hostile_headers.py checks these against the models' own lists).
IMAGE_ENCODERS = ("efficientnet-lite0", "small-cnn", "resnet101")
RESIZES = ("opencv", "pil-bilinear")  # how an image becomes a captioner's square input (media.images.model_input)
POOLED_GRID = (0, 64)  # a captioner's adaptive pooling of the encoder's map (0: none)
VIDEO_APPEARANCES = ("cnn", "efficientnet-lite0")
TEXT_ENCODERS = ("bigru", "gru")
TEXT_ATTENTIONS = ("global", "local")
TEXT_TOKENIZERS = ("words", "corpus")
SPECIALS = ("<pad>", "<start>", "<end>", "<unk>")  # every output vocabulary has these
SOURCE_SPECIALS = ("<pad>", "<unk>")  # a translator's source vocabulary has these
# dtypes of weights (safetensors names); BatchNorm's step counter is the one integer tensor
WEIGHT_DTYPES = ("F32", "F16", "BF16")
COUNTER_DTYPES = {"num_batches_tracked": ("I64",)}
DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
               "BOOL": 1, "U16": 2, "U32": 4, "U64": 8, "C64": 8, "C128": 16, "F8_E4M3": 1, "F8_E5M2": 1}
# --------------------------------------------------------------------------------------------------


def _range(bounds, kind=int):
    low, high = bounds
    return Annotated[kind, Field(ge=low, le=high)]


Dim = _range(DIM)
Dropout = _range(DROPOUT, float)
Score = Literal[SCORES]  # type: ignore[valid-type]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, frozen=True)


class CaptionConfig(_Strict):
    vocab_size: _range(VOCAB_SIZE)
    encoder: Literal[IMAGE_ENCODERS] = "efficientnet-lite0"  # type: ignore[valid-type]
    image_size: _range(IMAGE_SIZE) = 160
    coords: bool = True
    embed_dim: Dim = 64
    hidden_dim: Dim = 256
    attn_dim: Dim = 256
    score: Score = "additive"
    hard: bool = False
    gate: bool = True
    dropout: Dropout = 0.3
    max_len: _range(MAX_LEN) = 20
    ds_lambda: _range(DS_LAMBDA, float) = 0.0
    deep_output: bool = False
    pooled_grid: _range(POOLED_GRID) = 0
    attn_activation: Literal[ATTN_ACTIVATIONS] = "tanh"  # type: ignore[valid-type]
    vector_gate: bool = False
    init_tanh: bool = True
    all_words: bool = False
    resize: Literal[RESIZES] = "opencv"  # type: ignore[valid-type]


class TranslateConfig(_Strict):
    source_vocab_size: _range(VOCAB_SIZE)
    target_vocab_size: _range(VOCAB_SIZE)
    embed_dim: Dim = 64
    hidden_dim: Dim = 128
    encoder: Literal[TEXT_ENCODERS] = "bigru"  # type: ignore[valid-type]
    score: Score = "additive"
    attention: Literal[TEXT_ATTENTIONS] = "global"  # type: ignore[valid-type]
    window: _range(WINDOW) = 3
    reverse_source: bool = False
    input_feeding: bool = True
    dropout: Dropout = 0.1
    max_len: _range(MAX_LEN) = 40
    max_source_len: _range(MAX_SOURCE_LEN) = 60
    tokenizer: Literal[TEXT_TOKENIZERS] = "words"  # type: ignore[valid-type]


class VideoConfig(_Strict):
    vocab_size: _range(VOCAB_SIZE)
    frame_size: _range(FRAME_SIZE) = 48
    steps: _range(STEPS) = 12
    feature_dim: Dim = 128
    hidden_dim: Dim = 192
    embed_dim: Dim = 48
    score: Score = "additive"
    dropout: Dropout = 0.2
    max_len: _range(MAX_LEN) = 16
    summary_start: bool = False
    change_features: bool = True
    appearance: Literal[VIDEO_APPEARANCES] = "cnn"  # type: ignore[valid-type]


def _word(w: Any) -> Any:
    if isinstance(w, str) and any(ord(c) < 32 or 127 <= ord(c) < 160 for c in w):
        raise PydanticCustomError("control_characters", "must not contain control characters, got {word}",
                                  {"word": _short(w)})
    return w


Word = Annotated[str, Field(min_length=WORD_CHARS[0], max_length=WORD_CHARS[1])]
WordList = Annotated[list[Annotated[Word, BeforeValidator(_word)]],
                     Field(min_length=VOCAB_SIZE[0], max_length=VOCAB_SIZE[1])]


def _vocabulary(specials: tuple[str, ...]):
    """The type of a vocabulary: words a model can show, each once, these special tokens among them."""

    def check(words: list[str]) -> list[str]:
        seen: set[str] = set()
        for w in words:
            if w in seen:
                raise PydanticCustomError("duplicate_word", "has the word {word} twice", {"word": _short(w)})
            seen.add(w)
        missing = [s for s in specials if s not in seen]
        if missing:
            raise PydanticCustomError("missing_special", "lacks the special token {token}", {"token": missing[0]})
        return words

    return Annotated[WordList, AfterValidator(check)]


Vocabulary = _vocabulary(SPECIALS)  # what a model writes (a captioner's words, a translator's target)


class TranslateVocab(_Strict):
    source: _vocabulary(SOURCE_SPECIALS)
    target: Vocabulary


def _json_text(limit: int):
    """A metadata record: a JSON string of at most `limit` characters, nested at most JSON_MAX_DEPTH
    levels (both checked before parsing)."""

    def check(v: Any) -> Any:
        if isinstance(v, str) and len(v) > limit:
            raise PydanticCustomError("record_too_long", "is {n} characters, more than the limit of {limit}",
                                      {"n": len(v), "limit": limit})
        if isinstance(v, str) and json_depth(v) > JSON_MAX_DEPTH:
            raise PydanticCustomError("too_deep", "is nested more than {limit} levels deep", {"limit": JSON_MAX_DEPTH})
        return v

    return BeforeValidator(check)


class _Header(_Strict):
    model_config = ConfigDict(strict=True, extra="ignore", allow_inf_nan=False, frozen=True)
    format: Literal[FORMAT]  # type: ignore[valid-type]
    training: Annotated[Json[dict[str, Any]], _json_text(TRAINING_MAX_CHARS)] = {}
    domain: Optional[Annotated[Json[dict[str, Any]], _json_text(DOMAIN_MAX_CHARS)]] = None
    def vocab_record(self) -> Union[list[str], dict[str, list[str]]]:
        v = self.vocab  # type: ignore[attr-defined]
        return v.model_dump() if isinstance(v, BaseModel) else list(v)

    def config_dict(self) -> dict:
        return self.config.model_dump()  # type: ignore[attr-defined]


class CaptionHeader(_Header):
    kind: Literal["caption"] = "caption"
    config: Annotated[Json[CaptionConfig], _json_text(CONFIG_MAX_CHARS)]
    vocab: Annotated[Json[Vocabulary], _json_text(VOCAB_MAX_CHARS)]

    @model_validator(mode="after")
    def _sizes(self):
        if len(self.vocab) != self.config.vocab_size:
            raise PydanticCustomError("vocab_size", "vocab has {n} words, but config.vocab_size is {size}",
                                      {"n": len(self.vocab), "size": self.config.vocab_size})
        return self


class VideoHeader(CaptionHeader):
    kind: Literal["video"] = "video"  # type: ignore[assignment]
    config: Annotated[Json[VideoConfig], _json_text(CONFIG_MAX_CHARS)]  # type: ignore[assignment]


class TranslateHeader(_Header):
    kind: Literal["translate"] = "translate"
    config: Annotated[Json[TranslateConfig], _json_text(CONFIG_MAX_CHARS)]
    vocab: Annotated[Json[TranslateVocab], _json_text(VOCAB_MAX_CHARS)]

    @model_validator(mode="after")
    def _sizes(self):
        sizes = len(self.vocab.source), len(self.vocab.target)
        if sizes != (self.config.source_vocab_size, self.config.target_vocab_size):
            raise PydanticCustomError(
                "vocab_size", "vocab has {n} source and {m} target words, but the config says {a} and {b}",
                {"n": sizes[0], "m": sizes[1], "a": self.config.source_vocab_size, "b": self.config.target_vocab_size})
        return self


HEADERS: dict[str, type[_Header]] = {"caption": CaptionHeader, "translate": TranslateHeader, "video": VideoHeader}


class Tensor(_Strict):
    dtype: str
    shape: Annotated[list[Annotated[int, Field(ge=0)]], Field(max_length=TENSOR_RANK_MAX)]
    data_offsets: Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=2, max_length=2)]

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * DTYPE_BYTES.get(self.dtype, 8)


class Header(BaseModel):
    """What validate_header returns: the validated metadata, and the tensor table by name."""
    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)
    kind: str
    meta: _Header
    tensors: dict[str, Tensor]

    @property
    def config(self) -> dict:
        return self.meta.config_dict()

    @property
    def vocab(self):
        return self.meta.vocab_record()

    @property
    def training(self) -> dict:
        return dict(self.meta.training)

    @property
    def domain(self) -> dict | None:
        return None if self.meta.domain is None else dict(self.meta.domain)


# ---- one line per problem -------------------------------------------------------------------------

_repr = reprlib.Repr()
_repr.maxstring, _repr.maxother, _repr.maxlist, _repr.maxdict, _repr.maxlevel = 40, 40, 4, 4, 2

def _short(value: Any) -> str:
    return _repr.repr(value)


def _fail(path: Path, message: str):
    raise CheckpointError(f"{path}: {message}")


def validate_record(path: str | Path, kind: Any, config: Any, vocab: Any) -> tuple[str, dict, Any]:
    """(kind, config, vocab) of a model held otherwise than in a header (a trusted pickle), checked
    against the same schema as a header's, or CheckpointError (one line)."""
    path = Path(path)
    try:
        meta = {"format": FORMAT, "kind": kind, "config": json.dumps(config), "vocab": json.dumps(vocab)}
    except (TypeError, ValueError, RecursionError) as e:  # not JSON data
        _fail(path, f"bad config: {first_line(e)}")
    kind, record = _validated(path, meta)
    return kind, record.config_dict(), record.vocab_record()


def validate_header(path: str | Path) -> Header:
    """The checkpoint's header validated against its kind's schema, or CheckpointError (one line)."""
    path = Path(path)
    try:
        header, data_bytes = read_header(path, HEADER_MAX_BYTES)
    except ValueError as e:
        _fail(path, f"cannot read model file ({' '.join(str(e).split())[:200]})")
    except OSError as e:
        _fail(path, f"cannot read model file ({e.strerror or type(e).__name__})")
    meta = header.pop("__metadata__", None)
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        _fail(path, f"not an attnviewer model (no '{FORMAT}' metadata)")
    kind, record = _validated(path, meta)
    return Header(kind=kind, meta=record, tensors=_tensor_table(path, header, data_bytes))


def _validated(path: Path, meta: dict) -> tuple[str, _Header]:
    """A model's metadata (its records as JSON strings) against its kind's schema."""
    kind = meta.get("kind", "caption")
    if not isinstance(kind, str) or kind not in HEADERS:
        _fail(path, f"unknown model kind {_short(kind)}; known: {', '.join(HEADERS)}")
    try:
        return kind, HEADERS[kind].model_validate(meta)
    except ValidationError as e:
        _fail(path, f"bad config: {describe(e)}")


def _tensor_table(path: Path, header: dict, data_bytes: int) -> dict[str, Tensor]:
    """Each tensor's dtype (one a model uses), shape and place in the file, and their total size."""
    if len(header) > TENSORS_MAX:
        _fail(path, f"has {len(header)} tensors, more than the limit of {TENSORS_MAX}")
    tensors, total = {}, 0
    for name, entry in header.items():
        label = _short(name) if len(name) <= TENSOR_NAME_MAX else f"{_short(name)} (a name of {len(name)} characters)"
        if len(name) > TENSOR_NAME_MAX or any(ord(c) < 32 for c in name):
            _fail(path, f"tensor name {label} is not a model's")
        try:
            t = Tensor.model_validate(entry)
        except ValidationError as e:
            _fail(path, f"tensor {name}: {describe(e)}")
        allowed = COUNTER_DTYPES.get(name.rsplit(".", 1)[-1], WEIGHT_DTYPES)
        if t.dtype not in allowed:
            _fail(path, f"tensor {name} has dtype {_short(t.dtype)}; its weights must be {' or '.join(allowed)}")
        total += t.nbytes
        if total > WEIGHTS_MAX_BYTES:
            _fail(path, f"tensors need more than {WEIGHTS_MAX_BYTES / 1024**3:g} GB, the limit for a model file "
                        f"(at tensor {name}, {list(t.shape)})")
        start, end = t.data_offsets
        if end - start != t.nbytes or end > data_bytes:
            _fail(path, f"tensor {name} does not fit its place in the file "
                        f"({t.nbytes} bytes declared, bytes {start}..{end} of {data_bytes})")
        tensors[name] = t
    return tensors
