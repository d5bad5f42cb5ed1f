"""The entries of `attnviewer train`: one function per command, the only part of training/ that
cli/ imports (an import-linter contract in pyproject.toml holds it).

cli/train.py, train_corpus.py and train_video_translate.py parse the options and fill in the
defaults that depend on other options; they call one function here with plain values (the fields
of the task's settings, the device asked for) and print. These build and validate the settings,
refuse what cannot run (torchrun where one process trains), pick the device and train.
`check_out(out)` is the command's own refusal of an --out it may not write (it exists without
--overwrite, its folder is missing or not writable): called once the settings are valid and
before any work. `log` says a line.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

Log = Callable[[str], None]
CheckOut = Callable[[str], None]


# --- on generated data: one process, the model written once at the end ---

def caption(values: dict, device: str, check_out: CheckOut, log: Log) -> None:
    """`train caption` on generated scenes (training/image.py)."""
    from .image import TrainSettings, train_captioner

    _generated(TrainSettings, train_captioner, values, device, check_out, log)


def video(values: dict, device: str, check_out: CheckOut, log: Log) -> None:
    """`train video` on generated clips (training/video.py)."""
    from .video import VideoTrainSettings, train_video_captioner

    _generated(VideoTrainSettings, train_video_captioner, values, device, check_out, log)


def translate(values: dict, device: str, check_out: CheckOut, log: Log) -> None:
    """`train translate` on the generated language pair (training/text.py)."""
    from .text import TranslateTrainSettings, train_translator

    _generated(TranslateTrainSettings, train_translator, values, device, check_out, log)


def _generated(settings_class, trainer, values: dict, device: str, check_out: CheckOut, log: Log) -> None:
    _alone("training on generated data runs in one process; under torchrun give --data")
    settings = settings_class(**values, device=_device(device)).validate()
    check_out(settings.out)
    trainer(settings, log=log)


# --- `--arch transformer`: a transformers folder trained from scratch on generated data ---

def caption_transformer(values: dict, device: str, log: Log) -> None:
    """A small ViT + GPT-2 captioner (training/transformers.py); it checks --out itself."""
    from .transformers import CaptionTransformerSettings, train_caption_transformer

    _alone("--arch transformer trains in one process; run it without torchrun")
    train_caption_transformer(CaptionTransformerSettings(**values, device=_device(device)).validate(), log)


def translate_transformer(values: dict, device: str, log: Log) -> None:
    """A small Marian translator (training/transformers.py); it checks --out itself."""
    from .transformers import TranslateTransformerSettings, train_translate_transformer

    _alone("--arch transformer trains in one process; run it without torchrun")
    train_translate_transformer(TranslateTransformerSettings(**values, device=_device(device)).validate(), log)


# --- with --data: a real corpus through the shared loop, alone or as one rank under torchrun ---
# `corpus`: the task's settings' fields; `loop`: LoopSettings' fields but the device. Each returns
# the loop's summary (its "stopped" is "interrupted", with the signal, after Ctrl-C or SIGTERM).

def caption_corpus(corpus: dict, loop: dict, device: str, check_out: CheckOut, log: Log) -> dict:
    """`train caption --data` (training/image_corpus.py)."""
    from .image_corpus import CaptionCorpusSettings, ImageCaptionTask

    settings = CaptionCorpusSettings(**corpus).validate()
    return _fit(ImageCaptionTask, lambda say, dev: ImageCaptionTask(settings, dev, say), loop, device, check_out, log)


def video_corpus(corpus: dict, loop: dict, device: str, check_out: CheckOut, log: Log) -> dict:
    """`train video --data` (training/video_corpus.py)."""
    from .video_corpus import VideoCorpusSettings, VideoCorpusTask

    settings = VideoCorpusSettings(**corpus).validate()
    return _fit(VideoCorpusTask, lambda say, dev: VideoCorpusTask(settings, say, dev), loop, device, check_out, log)


def translate_corpus(corpus: dict, loop: dict, device: str, check_out: CheckOut, log: Log) -> dict:
    """`train translate --data` (training/text_corpus.py); the training pairs' ids are kept on
    the model's disk while it trains."""
    from .text_corpus import TranslateCorpusSettings, TranslationCorpusTask

    settings = TranslateCorpusSettings(**corpus).validate()
    ids_dir = Path(loop["out"]).absolute().parent
    return _fit(TranslationCorpusTask, lambda say, dev: TranslationCorpusTask(settings, say, ids_dir),
                loop, device, check_out, log)


def _fit(task_class, make_task, loop: dict, device: str, check_out: CheckOut, log: Log) -> dict:
    """Train the task make_task(log, device) builds through the loop. The process group and the
    rank's device are set up here, the one place, before the task is built (its features may be
    extracted by one rank while the others wait at a barrier); only rank 0 logs."""
    from ..torchrun import rank_device, world_from_env
    from . import distributed
    from .loop import LoopSettings, fit, selection

    world = world_from_env()
    device = rank_device(world, _device(device))
    settings = LoopSettings(**loop, device=device).validate()
    selection(task_class, settings.select)  # a wrong --select is told before features are made
    check_out(settings.out)
    log = log if world.main else (lambda m: None)
    distributed.start(world, device)
    task = None
    try:
        task = make_task(log, device)
        return fit(task, settings, log)
    except RuntimeError as e:  # torch's refused allocations (CPU and CUDA): the one memory message
        if any(s in str(e) for s in ("not enough memory", "DefaultCPUAllocator", "out of memory")):
            raise MemoryError from None
        raise
    finally:
        if hasattr(task, "close"):  # what a task keeps on the disk while it trains (translate's ids)
            task.close()
        distributed.finish(world)


def _device(asked: str) -> str:
    """--device (auto, cpu, cuda) as the device this process uses."""
    from ..models.registry import pick_device

    return str(pick_device(asked))


def _alone(refusal: str) -> None:
    """SettingsError(refusal) under torchrun: N processes writing the same file would be waste."""
    from ..errors import SettingsError
    from ..torchrun import RANK_KEYS, world_from_env

    if world_from_env(needs=RANK_KEYS).distributed:
        raise SettingsError(refusal)
