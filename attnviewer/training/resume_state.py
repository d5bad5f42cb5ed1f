"""The declared schema of a training state (OUT.state/state.pt, what `--resume` continues from),
checked whole before any of it is used: a state is a file on disk, and a damaged or tampered one
must end in one line, never in a Python exception, an endless run or a model its loader refuses.

Two stages, both before anything is loaded:
- `check_plain`: the state's own records (version, fingerprint, position, world, scaler, every
  rank's RNG states) against a pydantic schema, with the same formatter of problems as the model
  headers (validation.describe);
- `check_fits`: the tensors against what this run built (the model's state dict, the optimizer's
  groups, the scheduler's record): the same keys, shapes and dtypes, every float finite.

Every problem raises TrainingStateError: "PATH: the resume state is damaged: WHERE WHAT; start
again without --resume or point --out elsewhere".
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Iterator, Literal, Optional

import torch
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from ..errors import TrainingStateError, printable
from ..validation import describe, shown_value

# ---- every limit, in one place ------------------------------------------------------------------
STATE_VERSION = 1
COUNT_MAX = 2**53  # steps, epochs, examples: far beyond any run, and exact as a float
SEED = (-(2**63), 2**64 - 1)
BLEU = (0.0, 100.0)  # a best validation score (sacrebleu's 0..100, ours 0..1)
WORLD = (1, 65_536)  # ranks
MT_WORDS = 624  # the Mersenne Twister's state: 624 32-bit words and a position
CUDA_RNG_BYTES = (1, 256)  # a GPU generator's state (Philox: seed and offset)
NAME_MAX = 64  # a validation figure's name
HISTORY_MAX = 1_000_000  # validations a state records
# --------------------------------------------------------------------------------------------------

HOW = "start again without --resume or point --out elsewhere"


def damaged(path: Path, problem: str) -> TrainingStateError:
    return TrainingStateError(f"{printable(path)}: the resume state is damaged: {problem}; {HOW}")


Count = Annotated[int, Field(ge=0, le=COUNT_MAX)]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, frozen=True,
                              arbitrary_types_allowed=True)


class Fingerprint(_Strict):
    examples: Count
    batch_size: Annotated[int, Field(ge=1, le=COUNT_MAX)]
    seed: Annotated[int, Field(ge=SEED[0], le=SEED[1])]


class Position(_Strict):
    epoch: Count
    step_in_epoch: Count
    step: Count
    best: Optional[Annotated[float, Field(ge=BLEU[0], le=BLEU[1])]]
    best_step: Count
    bad_checks: Count
    validated: Annotated[int, Field(ge=-1, le=COUNT_MAX)]
    best_loss: Optional[float] = None  # the best validation's loss: it breaks ties of the selected figure
    select: Optional[Annotated[str, Field(max_length=NAME_MAX)]] = None  # the figure that selects (older states: none)


class Validation(_Strict):
    """One validation's figures, as the training record keeps them (non-finite figures as null)."""
    step: Count
    epoch: Count
    counted: bool  # False: the validation at a stop (--max-steps, --minutes), which selects nothing
    figures: dict[Annotated[str, Field(max_length=NAME_MAX)], Optional[float]]


class Scaler(_Strict):
    """torch.amp.GradScaler's record (an empty one when mixed precision was off)."""
    scale: Annotated[float, Field(gt=0)]
    growth_factor: Annotated[float, Field(gt=0)]
    backoff_factor: Annotated[float, Field(gt=0)]
    growth_interval: Annotated[int, Field(ge=1, le=COUNT_MAX)]
    growth_tracker: Annotated[int, Field(ge=0, le=COUNT_MAX, alias="_growth_tracker")]


def _bad(kind: str, text: str, value: Any) -> PydanticCustomError:
    return PydanticCustomError(kind, text + ", got {got}", {"got": _shown(value)})


def _shown(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a {str(value.dtype).removeprefix('torch.')} tensor of shape {tuple(value.shape)}"
    return shown_value(value)


def _byte_tensor(length: tuple[int, int], what: str):
    def check(t: Any) -> Any:
        if not (isinstance(t, torch.Tensor) and t.dtype == torch.uint8 and t.dim() == 1
                and length[0] <= t.numel() <= length[1]):
            raise _bad("rng_state", f"must be {what}", t)
        return t

    return check


def _words(values: Any, n: int) -> bool:
    return (isinstance(values, (list, tuple)) and len(values) == n
            and all(type(v) is int and 0 <= v < 2**32 for v in values))


def _python_rng(v: Any) -> Any:
    """random.getstate(): (3, 624 words and a position, None or the next Gaussian)."""
    ok = (isinstance(v, (tuple, list)) and len(v) == 3 and v[0] == 3 and type(v[0]) is int
          and _words(v[1], MT_WORDS + 1) and 0 <= v[1][-1] <= MT_WORDS
          and (v[2] is None or (type(v[2]) is float and math.isfinite(v[2]))))
    if not ok:
        raise _bad("rng_state", "must be Python's Mersenne Twister state", v)
    return v


def _numpy_rng(v: Any) -> Any:
    """numpy's legacy state as saved: ['MT19937', 624 words, position, has_gauss, cached_gaussian]."""
    ok = (isinstance(v, (list, tuple)) and len(v) == 5 and v[0] == "MT19937" and _words(v[1], MT_WORDS)
          and type(v[2]) is int and 0 <= v[2] <= MT_WORDS and type(v[3]) is int and v[3] in (0, 1)
          and type(v[4]) in (float, int) and math.isfinite(v[4]))
    if not ok:
        raise _bad("rng_state", "must be numpy's MT19937 state", v)
    return v


_TORCH_RNG_BYTES = torch.get_rng_state().numel()


class Rng(_Strict):
    torch: Annotated[Any, AfterValidator(_byte_tensor((_TORCH_RNG_BYTES, _TORCH_RNG_BYTES),
                                                      f"torch's CPU generator state ({_TORCH_RNG_BYTES} bytes)"))]
    python: Annotated[Any, AfterValidator(_python_rng)]
    numpy: Annotated[Any, AfterValidator(_numpy_rng)]
    cuda: Annotated[Any, AfterValidator(_byte_tensor(CUDA_RNG_BYTES, "a GPU generator state"))] = None


def _dict_of_tensors(v: Any) -> Any:
    if not isinstance(v, dict):
        raise _bad("dict_type", "must be a table of tensors", v)
    return v


class State(_Strict):
    version: Literal[STATE_VERSION]  # type: ignore[valid-type]
    fingerprint: Fingerprint
    position: Position
    world: Annotated[int, Field(ge=WORLD[0], le=WORLD[1])]
    model: Annotated[Any, AfterValidator(_dict_of_tensors)]
    optimizer: dict
    scheduler: dict
    scaler: Optional[Scaler]
    rng: Annotated[list[Rng], Field(min_length=1, max_length=WORLD[1])]
    history: Annotated[list[Validation], Field(max_length=HISTORY_MAX)] = []  # every validation so far


def check_plain(path: Path, state: Any) -> State:
    """The state's records against the schema (tensors still unchecked), or TrainingStateError."""
    if not isinstance(state, dict):
        raise damaged(path, f"it holds {_shown(state)}, not a training state")
    if isinstance(state.get("scaler"), dict) and not state["scaler"]:
        state = dict(state, scaler=None)  # mixed precision was off
    try:
        checked = State.model_validate(state)
    except ValidationError as e:
        raise damaged(path, describe(e)) from None
    if len(checked.rng) != checked.world:
        raise damaged(path, f"rng holds {len(checked.rng)} ranks' states, world says {checked.world}")
    return checked


# ---- the tensors, against what this run built ---------------------------------------------------

def check_fits(path: Path, state: State, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
               scheduler) -> None:
    """The model, optimizer and scheduler records have the keys, shapes, dtypes and kinds of
    values of the ones this run built, every float finite; else TrainingStateError (the first)."""
    for problem in _problems(state, model, optimizer, scheduler):
        raise damaged(path, problem)


def _problems(state: State, model, optimizer, scheduler) -> Iterator[str]:
    yield from _same_tensors("model", state.model, model.state_dict())
    yield from _optimizer(state.optimizer, optimizer)
    yield from _same_kind("scheduler", state.scheduler, scheduler.state_dict())
    for key in ("last_epoch", "_step_count"):
        value = state.scheduler.get(key)
        if type(value) is int and not 0 <= value <= COUNT_MAX:
            yield f"scheduler.{key} must be from 0 to {COUNT_MAX}, got {value}"


def _keys(where: str, got: dict, want) -> Iterator[str]:
    for key in want:
        if key not in got:
            yield f"{where}.{key} is missing"
    for key in got:
        if key not in want:
            yield f"{where}.{printable(_shown(key) if not isinstance(key, str) else key)} is not a known key"


def _same_tensors(where: str, got: dict, want: dict) -> Iterator[str]:
    yield from _keys(where, got, want)
    for key, ref in want.items():
        yield from _tensor(f"{where}.{key}", got[key], tuple(ref.shape), ref.dtype)


def _tensor(where: str, t: Any, shape: tuple, dtype: torch.dtype | None, low: float | None = None) -> Iterator[str]:
    """A tensor of this shape (and dtype, when given; else any float), finite, at least `low`."""
    want = f"a {str(dtype).removeprefix('torch.') if dtype else 'float'} tensor of shape {shape}"
    if not isinstance(t, torch.Tensor) or tuple(t.shape) != shape or (t.dtype != dtype if dtype else not t.is_floating_point()):
        yield f"{where} must be {want}, got {_shown(t)}"
        return
    if t.is_floating_point() and not bool(torch.isfinite(t).all()):
        yield f"{where} holds NaN or infinite values"
    elif low is not None and t.numel() and float(t.min()) < low:
        yield f"{where} must not be below {low:g}, got {float(t.min()):g}"


_STEP_DTYPE = torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32  # Adam's step count


def _optimizer(got: dict, optimizer: torch.optim.Optimizer) -> Iterator[str]:
    fresh = optimizer.state_dict()
    yield from _keys("optimizer", got, fresh)
    yield from _same_kind("optimizer.param_groups", got["param_groups"], fresh["param_groups"])
    params = dict(enumerate(p for g in optimizer.param_groups for p in g["params"]))
    moments: dict[str, float | None] = {"exp_avg": None, "exp_avg_sq": 0.0}  # Adam's; its second moment is a square
    if any(g.get("amsgrad") for g in optimizer.param_groups):
        moments["max_exp_avg_sq"] = 0.0
    if not isinstance(got["state"], dict):
        yield f"optimizer.state must be an object, got {_shown(got['state'])}"
        return
    for index, entry in got["state"].items():
        where = f"optimizer.state[{printable(_shown(index))}]"
        if type(index) is not int or index not in params:
            yield f"{where} is not a parameter of this model"
            continue
        if not isinstance(entry, dict):
            yield f"{where} must be an object, got {_shown(entry)}"
            continue
        yield from _keys(where, entry, ["step", *moments])
        yield from _tensor(f"{where}.step", entry["step"], (), _STEP_DTYPE, low=0.0)
        for key, low in moments.items():  # of the parameter's shape and dtype, as Adam keeps them
            yield from _tensor(f"{where}.{key}", entry[key], tuple(params[index].shape), params[index].dtype, low=low)


def _same_kind(where: str, got: Any, want: Any) -> Iterator[str]:
    """`got` shaped as `want`: the same keys and lengths, numbers as numbers (finite), strings,
    booleans and nulls as such. Lists of plain values (a group's parameter indices) equal."""
    if isinstance(want, dict):
        if not isinstance(got, dict):
            yield f"{where} must be an object, got {_shown(got)}"
            return
        yield from _keys(where, got, want)
        for key in want:
            yield from _same_kind(f"{where}.{key}", got[key], want[key])
    elif isinstance(want, (list, tuple)):
        if not isinstance(got, (list, tuple)) or len(got) != len(want):
            yield f"{where} must be a list of {len(want)} items, got {_shown(got)}"
            return
        if where.endswith(".params") and list(got) != list(want):
            yield f"{where} must list this model's parameters {list(want)[:3]}..., got others"
            return
        for i, (g, w) in enumerate(zip(got, want)):
            yield from _same_kind(f"{where}[{i}]", g, w)
    elif isinstance(want, bool) or want is None or isinstance(want, str):
        if type(got) is not type(want):
            yield f"{where} must be {_shown(want) if want is None else type(want).__name__}, got {_shown(got)}"
    elif isinstance(want, (int, float)):
        if type(got) not in (int, float) or (isinstance(want, int) and type(got) is not int):
            yield f"{where} must be a number, got {_shown(got)}"
        elif not math.isfinite(got) or abs(got) > COUNT_MAX:
            yield f"{where} must be a finite number, got {_shown(got)}"
    elif isinstance(want, torch.Tensor):
        yield from _tensor(where, got, tuple(want.shape), want.dtype)


# ---- writing: whole or not at all ---------------------------------------------------------------

def write_state(path: Path, state: dict) -> None:
    """Write a training state atomically: into a temporary file beside `path`, flushed to the disk,
    then renamed onto it. torch.save is handed a file, not a name: given a name, its zip writer
    reports a full disk as a bare RuntimeError ("unexpected pos ..."); given a file, the file's
    OSError is kept behind that RuntimeError and raised here as what it is. Any failure leaves
    no partial file and the previous state as it was: OutputError, one line ("PATH: cannot write,
    the disk is full"), so a later --resume never sees half a state."""
    import os

    from ..errors import OutputError
    from ..files import atomic_path, write_problem

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(write_problem(path, e)) from None
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            try:
                torch.save(state, f)
            except RuntimeError as e:  # the zip writer's closing error hides the file's own
                raise next((c for c in _causes(e) if isinstance(c, OSError)), e) from None
            f.flush()
            os.fsync(f.fileno())  # the bytes on the disk before the rename makes them the state


def _causes(e: BaseException) -> Iterator[BaseException]:
    """The exceptions `e` was raised while handling (or from), nearest first."""
    seen = {id(e)}
    while (e := e.__cause__ or e.__context__) is not None and id(e) not in seen:
        seen.add(id(e))
        yield e
