"""The training loop every task on real data shares: `fit(task, settings, log)`.

A task (one per kind of data: image captions, video captions, sentence pairs) holds the model and
the data; the loop owns everything else:
- data order: epoch e visits the examples in a permutation drawn from (seed, e) alone, so it is the
  same on every rank and after a resume; a global batch of B examples is split rank r -> slice
  r::world. A last partial batch smaller than the number of ranks is dropped (every rank must
  take part in each step). A task that gives its examples' lengths gets batches of similar
  lengths (less padding), still in a random order (epoch_order);
- Adam with a linear warm-up then a cosine decay to a tenth of the rate (over --epochs; --max-steps
  stops early without changing the schedule), gradient-norm clipping, mixed precision on CUDA only
  (AMP_DEVICES: float16 autocast + GradScaler; a step it skips for inf/NaN gradients leaves the
  rate schedule where it was), scheduled sampling ramped linearly from 0 to its top value over the
  schedule;
- validation (on rank 0) every val_every steps or once per epoch; the figure --select names (the
  task's default: CIDEr-D for captions, BLEU for translation) picks the best model, a tie going to
  the lower validation loss; early stopping after `patience` validations without a better one;
  the best model written with save_checkpoint (atomic) by rank 0 only, its training record
  holding every validation's figures unrounded. A stop that --resume may continue (--max-steps,
  --minutes) scores the last steps but selects and counts nothing, and an interrupted epoch's
  validation waits for the resume: a stopped and resumed run decides as one that never stopped;
- a log of every step's loss and rate and every validation's figures (run_log.py: a CSV beside
  the checkpoint, TensorBoard with --tensorboard, a figure with --plot); progress on stderr;
- the training state, OUT.state/state.pt (see state_path): model, optimizer, scheduler, GradScaler,
  epoch and step within it, best score, patience counter and every rank's RNG states, written
  atomically every save_every steps and when training ends or is stopped. `resume` continues
  exactly: N steps in one go and k steps, a stop and a resume to N give bitwise the same weights;
- Ctrl-C or SIGTERM stop at the end of the current step on every rank, save the state and return
  (summary["stopped"] == "interrupted"); a second Ctrl-C stops at once.

Under torchrun (see distributed.py) the caller has joined the process group and named this rank's
device in the settings (cli/train_corpus.fit_task does both, before it builds the task, which may
wait at a barrier while features are extracted). The model is wrapped in DistributedDataParallel;
each rank's loss, a mean over its slice, is weighted by its share of the global batch, so the
averaged gradient is the gradient of the mean over the whole batch: what one process gets.
Dropout masks are drawn per example from (seed, step, example) (example_dropout.py), so with
dropout on, 1, 2 or N processes still give the same model up to float rounding; scheduled
sampling and hard attention draw from each rank's own generator, and differ with the rank count.
"""
from __future__ import annotations

import math
import random
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Protocol, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import SettingsError, first_line
from ..files import atomic_path, special_kind
from ..torchrun import world_from_env
from . import example_dropout
from .features import module_digest
from .progress import Progress
from .resume_state import STATE_VERSION, check_fits, check_plain, damaged, write_state
from .run_log import RunLog, curves_path, log_path, summary_writer
# Mixed precision (float16 autocast + GradScaler) is used on these device types only (on most CPUs
# float16 is slower than float32, not faster). The loop's AMP code itself names no device: the
# tests widen this set to run it on the CPU.
AMP_DEVICES = {"cuda"}


@dataclass
class LoopSettings:
    out: str  # .safetensors of the best model; the training state goes to out + ".state/state.pt"
    epochs: int = 20
    batch_size: int = 64  # the GLOBAL batch (split evenly over ranks under torchrun)
    lr: float = 4e-4
    seed: int = 0
    device: str = "cpu"
    clip: float = 5.0  # gradient norm clipping (0 = off)
    amp: bool = True  # mixed precision, used only on CUDA
    val_every: int = 0  # steps between validations (0 = once per epoch)
    patience: int = 5  # validations without a better selected figure before stopping early (0 = never)
    save_every: int = 500  # steps between training-state checkpoints
    resume: bool = False  # continue exactly from the saved state
    scheduled_sampling: float = 0.0  # top probability of feeding the model's own word
    max_steps: int | None = None
    minutes: float | None = None
    select: str | None = None  # the validation figure that picks the best model (None: the task's default)
    tensorboard: str | None = None  # a folder for TensorBoard event files
    plot: bool = False  # write the loss and validation curves (OUT.curves.png) at the end

    def validate(self) -> "LoopSettings":
        """SettingsError naming the option, for values that cannot train."""
        for name, low in (("epochs", 1), ("batch_size", 1), ("val_every", 0), ("patience", 0), ("save_every", 1)):
            if getattr(self, name) < low:
                raise SettingsError(f"--{name.replace('_', '-')} must be at least {low}, got {getattr(self, name)}")
        if self.max_steps is not None and self.max_steps < 1:
            raise SettingsError(f"--max-steps must be at least 1, got {self.max_steps}")
        if not (self.lr >= 0 and math.isfinite(self.lr)):
            raise SettingsError(f"--lr must be zero or positive, got {self.lr}")
        if not (self.clip >= 0 and math.isfinite(self.clip)):
            raise SettingsError(f"--clip must be zero (off) or positive, got {self.clip}")
        if not 0 <= self.scheduled_sampling <= 1:
            raise SettingsError(f"--scheduled-sampling must be a probability from 0 to 1, got {self.scheduled_sampling}")
        if self.minutes is not None and not self.minutes > 0:
            raise SettingsError(f"--minutes must be positive, got {self.minutes}")
        if not str(self.out).endswith(".safetensors"):
            raise SettingsError(f"{self.out}: the checkpoint is written as .safetensors; name it so")
        if self.tensorboard:
            summary_writer(None, None, check_only=True)
        return self


class Task(Protocol):
    """One kind of data. Optional: parameter_groups(lr) -> optimizer groups (e.g. a lower rate
    for a fine-tuned encoder); without it every trainable parameter gets lr. lengths() -> each
    example's length (e.g. in words): batches are then made of similar lengths (epoch_order)."""

    model: nn.Module

    def size(self) -> int: ...
    def batch(self, indices: Sequence[int], device) -> dict[str, Tensor]: ...
    def loss(self, model, batch: dict, sampling: float) -> Tensor: ...
    def validate(self, model) -> dict[str, float]: ...
    def record(self) -> dict: ...


def state_path(out: str | Path) -> Path:
    return Path(str(out) + ".state") / "state.pt"


def epoch_order(n: int, seed: int, epoch: int, batch: int = 1, lengths: Sequence[int] | None = None,
                window: int = 50) -> Tensor:
    """The permutation of the examples for one epoch: a function of (seed, epoch) alone (and of
    the batch size and lengths), so the same on every rank and after a resume. With lengths, each
    run of `window` batches of the drawn order is sorted by length (stably), then the full batches
    are shuffled: a batch holds similar lengths and pads little, the batches still come in a
    random order. A last partial batch stays last (the loop may drop it)."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    # int32 where it fits: the same permutation as int64 (a test holds them equal) in half the
    # memory, which on a corpus of millions is most of what training holds per example
    order = torch.randperm(n, generator=gen, dtype=torch.int32 if n < 2 ** 31 else torch.int64)
    if lengths is None or n == 0:
        return order
    key = torch.as_tensor(lengths)
    order = torch.cat([part[key[part].sort(stable=True).indices] for part in order.split(batch * window)])
    full = n // batch
    batches = order[: full * batch].view(full, batch)[torch.randperm(full, generator=gen)]
    return torch.cat([batches.flatten(), order[full * batch :]])


def steps_per_epoch(n: int, batch: int, world: int) -> int:
    full, rest = divmod(n, batch)
    return full + (1 if rest >= world else 0)


def schedule(total: int) -> Callable[[int], float]:
    """Linear warm-up over 5% of the steps (at most 1000), then cosine decay to 0.1."""
    warm = max(1, min(1000, total // 20))

    def factor(i: int) -> float:
        if i < warm:
            return (i + 1) / warm
        done = min(1.0, (i - warm) / max(1, total - warm))
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * done))

    return factor


class _Objective(nn.Module):
    """The task's loss as a module, so DistributedDataParallel sees the whole forward pass while
    the task gets the plain model (and may call any of its methods)."""

    def __init__(self, task: Task):
        super().__init__()
        self.model = task.model
        self._task = task

    def forward(self, batch: dict, sampling: float) -> Tensor:
        return self._task.loss(self.model, batch, sampling)


class _Stop:
    """Ctrl-C and SIGTERM set a flag the loop reads between steps; a second Ctrl-C stops at once."""

    def __init__(self):
        self.requested = False
        self.signum: int | None = None
        self.previous = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self.previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: signals keep their handlers
                pass
        return self

    def _handle(self, signum, frame):
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested, self.signum = True, signum

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        return False


@dataclass
class _Position:
    epoch: int = 0  # the epoch being trained (0-based)
    step_in_epoch: int = 0  # batches of it already done
    step: int = 0  # optimizer steps in all
    best: float | None = None  # best validation figure (the selected one)
    best_step: int = 0
    bad_checks: int = 0  # validations since the best one
    validated: int = -1  # the step of the last validation
    best_loss: float | None = None  # the best validation's loss: a tie of the figure goes to the lower loss
    select: str | None = None  # the figure that selects


def _rng_states() -> dict:
    np_state = np.random.get_state()
    states = {"torch": torch.get_rng_state(), "python": random.getstate(),
              "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]]}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state()
    return states


def _set_rng_states(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    random.setstate(_tuples(states["python"]))
    kind, keys, *rest = states["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), *rest))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state(states["cuda"])


def _tuples(x):
    return tuple(_tuples(v) for v in x) if isinstance(x, (list, tuple)) else x


def _gather_rngs(world) -> list:
    """Every rank's RNG states, in rank order (collective: every rank calls it)."""
    mine = _rng_states()
    if not world.distributed:
        return [mine]
    import torch.distributed as dist

    out = [None] * world.size
    dist.all_gather_object(out, mine)
    return out


def fit(task: Task, settings: LoopSettings, log: Callable[[str], None] = print) -> dict:
    """Train task.model; returns a summary: steps, epochs, select (the figure that selects),
    best (its best value), best_step, stopped ("done", "early", "max_steps", "minutes" or
    "interrupted"; then also the signal), validations (every one's figures), seconds,
    examples_per_second (of this run's training steps, reading their batches included,
    validation and saving not)."""
    s = settings.validate()
    world = world_from_env()
    select = selection(task, s.select)
    with _Stop() as stop:
        return _fit(task, s, world, torch.device(s.device), stop, log if world.main else (lambda line: None), select)


def selection(task: Task, asked: str | None) -> str:
    """The task's figure named by --select (case, '-' and '_' aside), or its default; else
    SettingsError naming the choices."""
    figures = list(getattr(task, "figures", ("bleu4",)))
    if asked is None:
        return getattr(task, "select", figures[0])
    key = "".join(ch for ch in asked.lower() if ch.isalnum())
    for name in figures:
        if "".join(ch for ch in name.lower() if ch.isalnum()) == key:
            return name
    raise SettingsError(f"--select {asked!r}: this model is validated by {', '.join(figures)}; choose one of them")


def _fit(task: Task, s: LoopSettings, world, device: torch.device, stop: _Stop, log, select: str) -> dict:
    with example_dropout.use(task.model):  # masks by example and step: the same on any number of ranks
        return _train(task, s, world, device, stop, log, select)


def _train(task: Task, s: LoopSettings, world, device: torch.device, stop: _Stop, log, select: str) -> dict:
    t_start = time.monotonic()
    n = task.size()
    if n < world.size:
        raise SettingsError(f"{n} training examples cannot be shared among {world.size} ranks")
    spe = steps_per_epoch(n, s.batch_size, world.size)
    total = s.epochs * spe
    torch.manual_seed(s.seed + world.rank)  # sampling (per rank); the weights are the task's, dropout per example
    model = task.model.to(device)
    trainable = [p for p in model.parameters() if p.requires_grad]
    groups = task.parameter_groups(s.lr) if hasattr(task, "parameter_groups") else [{"params": trainable}]
    optimizer = torch.optim.Adam(groups, lr=s.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule(total))
    use_amp = s.amp and device.type in AMP_DEVICES
    scaler = torch.amp.GradScaler(device.type, enabled=use_amp)
    pos, history = _Position(select=select), []
    if s.resume:
        pos, history = _load_state(s, n, world, model, optimizer, scheduler, scaler, log, select)
    elif state_path(s.out).exists():
        log(f"starting afresh: the training state in {state_path(s.out).parent} will be replaced (--resume continues it)")
    objective = _Objective(task)
    net: nn.Module = objective
    if world.distributed:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(objective, device_ids=[device.index] if device.type == "cuda" else None)
    log(f"training {sum(p.numel() for p in trainable) / 1e6:.2f} M parameters on {n} examples, "
        f"{spe} steps an epoch, {s.epochs} epochs, batch {s.batch_size}"
        + (f" over {world.size} ranks" if world.distributed else "") + f", on {device}"
        + (", mixed precision" if use_amp else "") + f"; the best model by validation {select}")
    seen, t_steps = 0, 0.0  # examples and seconds of the training steps alone
    stopped = "early" if s.patience and pos.bad_checks >= s.patience else None  # a resumed run that had stopped
    last = min(total, s.max_steps) if s.max_steps is not None else total  # the bar's honest end
    runlog = RunLog(s.out, pos.step, s.resume, s.tensorboard, enabled=world.main)
    progress = Progress(last, min(pos.step, last), enabled=world.main, log=log, what="step")
    check = lambda counted=True: _validate(task, model, world, pos, s, progress.print, history, runlog,  # noqa: E731
                                           counted)
    try:
        model.train()
        while pos.epoch < s.epochs and stopped is None:
            order = epoch_order(n, s.seed, pos.epoch, s.batch_size,
                                task.lengths() if hasattr(task, "lengths") else None)
            while pos.step_in_epoch < spe and stopped is None:
                b = pos.step_in_epoch
                t_step = time.monotonic()
                whole = order[b * s.batch_size : (b + 1) * s.batch_size]
                mine = whole[world.rank :: world.size].tolist()
                batch = task.batch(mine, device)
                sampling = s.scheduled_sampling * min(1.0, pos.step / max(1, total))
                rate_now = optimizer.param_groups[0]["lr"]
                with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp), \
                        example_dropout.examples(s.seed, pos.step, mine):
                    loss = net(batch, sampling)
                share = len(mine) * world.size / len(whole)  # ranks' means -> the global batch's mean
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss * share).backward()
                if s.clip:
                    scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
                    torch.nn.utils.clip_grad_norm_(trainable, s.clip)
                scale = scaler.get_scale()
                scaler.step(optimizer)  # skipped when a gradient is inf/NaN; the scale then halves
                scaler.update()
                if scaler.get_scale() >= scale:  # a skipped step leaves the rate where it was
                    scheduler.step()
                value = float(loss.detach())  # waits for the GPU: the step's time is all in t_steps
                pos.step += 1
                pos.step_in_epoch += 1
                seen += len(whole)
                t_steps += time.monotonic() - t_step
                rate = seen / max(t_steps, 1e-9)
                runlog.step(pos.step, pos.epoch + 1, value, rate_now)  # rank 0's share of the batch
                progress.advance(1, f"epoch {pos.epoch + 1}  loss {value:.4f}  {rate:,.0f} ex/s")
                if s.val_every and pos.step % s.val_every == 0:
                    check()
                if pos.step % s.save_every == 0:
                    _save_state(s, n, world, pos, model, optimizer, scheduler, scaler, history)
                stopped = _agree_stop(world, stop, pos, s, t_start, device)
            if pos.step_in_epoch >= spe:
                if stopped == "interrupted":  # the epoch's end (and its validation) waits for --resume
                    break
                if not s.val_every and pos.validated != pos.step:
                    check()  # the epoch's validation, as a run that never stopped makes it
                pos.epoch, pos.step_in_epoch = pos.epoch + 1, 0
                if stopped is None:
                    stopped = _agree_stop(world, stop, pos, s, t_start, device)
        stopped = stopped or "done"
        progress.close()
        if pos.validated != pos.step and stopped != "interrupted":
            # the last steps are scored too; a stop that --resume may continue (--max-steps,
            # --minutes) selects nothing and counts nothing, so the resumed run decides as one
            # that never stopped (it writes a model only where none was written yet)
            check(counted=stopped == "done")
        _save_state(s, n, world, pos, model, optimizer, scheduler, scaler, history)
        if world.main and (pos.best is not None or any(not v["counted"] for v in history)):
            _record_history(s.out, history)  # (this run's model, not one an --overwrite left there)
    except BaseException:
        # a run that fails with no model written and no state to resume from leaves no log either
        runlog.close(discard=not Path(s.out).exists() and not state_path(s.out).exists())
        raise
    finally:
        progress.close()
        runlog.close()
    agree = _check_ranks_agree(world, model)
    seconds = time.monotonic() - t_start
    summary = {"steps": pos.step, "epochs": pos.epoch, "select": select, "best": pos.best, "best_step": pos.best_step,
               "stopped": stopped, "validations": history, "seconds": round(seconds, 1),
               "examples_per_second": round(seen / max(t_steps, 1e-9), 1)}
    if agree:
        summary["ranks_agree"] = agree
        log(f"ranks agree: {agree}")
    if stopped == "interrupted":  # another rank may have been the one signalled
        summary["signal"] = int(stop.signum or signal.SIGTERM)
    reasons = {"done": "finished", "early": f"stopped early: no better {select} in {s.patience} validations",
               "max_steps": f"stopped at --max-steps {s.max_steps}", "minutes": f"stopped after {s.minutes:g} minutes"
               if s.minutes else "", "interrupted": "interrupted; --resume continues from here"}
    best = "no validation yet" if pos.best is None else f"best {select} {pos.best:.6g} at step {pos.best_step} in {s.out}"
    log(f"{reasons[stopped]} after {pos.step} steps ({seconds:.0f} s); {best}; state in {state_path(s.out).parent}; "
        f"log in {log_path(s.out)}")
    if s.plot and world.main and log_path(s.out).exists():
        from .curves import plot_curves

        log(f"curves in {plot_curves(log_path(s.out), curves_path(s.out), select, pos.best_step)}")
    return summary


def _agree_stop(world, stop: _Stop, pos: _Position, s: LoopSettings, t_start: float, device) -> str | None:
    """Why training stops now, the same on every rank (one small all-reduce per step; on the
    rank's device, as NCCL needs)."""
    flags = torch.tensor([
        float(stop.requested),
        float(world.main and s.minutes is not None and time.monotonic() - t_start > 60 * s.minutes),
        float(world.main and s.patience > 0 and pos.bad_checks >= s.patience),
    ], device=device)
    if world.distributed:
        import torch.distributed as dist

        dist.all_reduce(flags, op=dist.ReduceOp.MAX)
    flags = flags.tolist()
    if flags[0]:
        return "interrupted"
    if flags[2]:
        return "early"
    if s.max_steps is not None and pos.step >= s.max_steps:
        return "max_steps"
    if flags[1]:
        return "minutes"
    return None


def _finite(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _validate(task: Task, model: nn.Module, world, pos: _Position, s: LoopSettings, log, history: list,
              runlog: RunLog, counted: bool = True) -> None:
    """Rank 0 scores the model; a better selected figure (a tie: a lower validation loss) is
    saved as the best model. Every validation goes into `history` and the run's log; one not
    `counted` (at a stop that --resume continues) moves neither the best nor the patience. The
    other ranks go on to the next collective and wait there."""
    pos.validated = pos.step
    if not world.main:
        return
    from ..models.checkpoint import save_checkpoint

    model.eval()
    try:
        figures = {k: _finite(v) for k, v in task.validate(model).items()}
    finally:
        model.train()
    history.append({"step": pos.step, "epoch": pos.epoch + 1, "counted": counted, "figures": figures})
    runlog.validation(pos.step, pos.epoch + 1, figures, "val" if counted else "val at stop")
    score, loss = figures.get(pos.select), figures.get("loss")
    better = score is not None and (pos.best is None or score > pos.best or (
        score == pos.best and loss is not None and (pos.best_loss is None or loss < pos.best_loss)))
    if counted and better:
        pos.best, pos.best_step, pos.best_loss, pos.bad_checks = score, pos.step, loss, 0
    elif counted:
        pos.bad_checks += 1
    write = better if counted else pos.best is None  # at a stop: only when nothing was written yet
    if write:
        save_checkpoint(model, s.out, _record(task, s, pos, figures, history))
    shown = ", ".join(f"{k} {'nan' if v is None else format(v, '.6g')}" for k, v in figures.items())
    if not counted:
        said = f"; at the stop: counts for nothing{f', saved {s.out}' if write else ''}"
    elif better:
        said = f"; best {pos.select}, saved {s.out}"
    else:
        said = f"; no better {pos.select} for {pos.bad_checks} (patience {s.patience})"
    log(f"step {pos.step}: validation {shown}{said}")


def _record(task: Task, s: LoopSettings, pos: _Position, figures: dict, history: list) -> dict:
    """The checkpoint's training record: the task's, the step, the figures (unrounded) that
    selected it and every validation so far."""
    return dict(task.record(), step=pos.step, epoch=pos.epoch + 1, select=pos.select, validation=figures,
                validations=history,
                loop={k: v for k, v in asdict(s).items() if k not in ("out", "device", "resume", "tensorboard")})


def _record_history(out: str, history: list) -> None:
    """The best model's record, rewritten at the end with every validation of the run (those
    after the best too); its tensors are copied as they are."""
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    if not Path(out).is_file():
        return
    with safe_open(out, "pt") as f:
        meta = dict(f.metadata() or {})
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    record = json.loads(meta.get("training", "{}"))
    record["validations"] = history
    meta["training"] = json.dumps(record)
    with atomic_path(out) as tmp:
        save_file(tensors, tmp, metadata=meta)


def _fingerprint(s: LoopSettings, n: int) -> dict:
    return {"examples": n, "batch_size": s.batch_size, "seed": s.seed}


def _save_state(s, n, world, pos, model, optimizer, scheduler, scaler, history: list) -> None:
    rngs = _gather_rngs(world)  # every rank takes part
    if not world.main:
        return
    state = {"version": STATE_VERSION, "fingerprint": _fingerprint(s, n), "position": asdict(pos),
             "world": world.size, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(), "rng": rngs, "history": history}
    write_state(state_path(s.out), state)  # whole or not at all; a full disk is one line


def _load_state(s, n, world, model, optimizer, scheduler, scaler, log, select: str) -> tuple[_Position, list]:
    """The saved state, checked whole (resume_state.py) before any of it is used, then loaded:
    the position and every validation so far."""
    path = state_path(s.out)
    if not path.exists():
        raise SettingsError(f"{path}: no training state to resume from (train without --resume first)")
    try:
        kind = special_kind(path)  # a FIFO would block torch.load
    except OSError as e:
        raise damaged(path, f"it cannot be read ({e.strerror})") from None
    if kind:
        raise damaged(path, f"it is {kind}, not a regular file")
    try:  # mmap: storages are read from the file as needed, so one declaring more than it holds fails here
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as e:
        raise damaged(path, f"it cannot be read ({first_line(e)[:200]})") from None
    if isinstance(state, dict) and type(state.get("version")) is int and state["version"] > STATE_VERSION:
        raise SettingsError(f"{path}: a training state of a newer version of attnviewer")
    checked = check_plain(path, state)
    was, now = checked.fingerprint.model_dump(), _fingerprint(s, n)
    for key in now:
        if was[key] != now[key]:
            raise SettingsError(f"{path}: cannot resume exactly: the state was made with {key} {was[key]}, "
                                f"this run has {now[key]}")
    if checked.position.select not in (None, select):
        raise SettingsError(f"{path}: cannot resume exactly: the state selected by {checked.position.select}, "
                            f"this run by {select} (give --select {checked.position.select})")
    check_fits(path, checked, model, optimizer, scheduler)
    try:
        model.load_state_dict(checked.model)
        optimizer.load_state_dict(checked.optimizer)
        scheduler.load_state_dict(checked.scheduler)
        if scaler.is_enabled() and checked.scaler:
            scaler.load_state_dict(state["scaler"])
    except (RuntimeError, ValueError, KeyError, TypeError) as e:
        raise damaged(path, f"it does not fit this model ({first_line(e)[:200]})") from None
    if scaler.is_enabled() != bool(checked.scaler):  # e.g. saved on a GPU, resumed on a CPU
        was, now = ("with", "without") if checked.scaler else ("without", "with")
        log(f"{path}: the state was saved {was} mixed precision and this run is {now} it: training goes on, "
            "but not exactly as the saved run would have")
    rngs = state["rng"]
    _set_rng_states(rngs[world.rank] if len(rngs) == world.size else rngs[0])
    pos = _Position(**dict(checked.position.model_dump(), select=select))
    log(f"resuming at epoch {pos.epoch + 1}, step {pos.step} (best {select} so far "
        f"{'none' if pos.best is None else f'{pos.best:.6g}'})")
    return pos, [v.model_dump() for v in checked.history]


def _check_ranks_agree(world, model: nn.Module) -> str | None:
    """After training, every rank must hold the same weights: a digest of each is compared, and a
    difference (a bug, or a rank that trained on other data) is an error, not a silent model."""
    if not world.distributed:
        return None
    import torch.distributed as dist

    mine = module_digest(model)
    digests = [None] * world.size
    dist.all_gather_object(digests, mine)
    if len(set(digests)) != 1:
        raise SettingsError(f"the ranks ended with different weights ({', '.join(d[:10] for d in digests)})")
    return f"{world.size} ranks, weights sha1 {mine}"

