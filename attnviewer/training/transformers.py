"""Small transformers trained from scratch on the generated data, saved as ordinary transformers
folders (`save_pretrained`: config.json, model.safetensors, generation_config.json, tokenizer.json,
preprocessor_config.json) that transformers itself loads and `attnviewer caption|translate --model
FOLDER` opens:

- a captioner for the generated scenes: a VisionEncoderDecoderModel, a ViT encoder (patch grid
  with learned positions) and a GPT-2 decoder cross-attending to it;
- a translator for the generated language pair: a MarianMTModel (one vocabulary, shared
  embeddings, </s> after the source as Marian's tokenizer adds it, decoding starts with <pad>).

Tokenizers are built in code: a `tokenizers` WordLevel model over the data's words (split at
spaces only, so suffix tokens such as `=o` stay one token), wrapped in PreTrainedTokenizerFast.
One token is one word: a word's attention is its token's. Words a model file may not hold (the
LSTM readers' rule, data/corpus.model_can_hold: control characters, over 100 characters) are left
out and counted, and a vocabulary left with no word is refused before training.

Training is teacher forcing with the shared loop's pieces (training/loop.py: the batch order of
each epoch drawn from (seed, epoch) alone, warm-up then cosine decay, Ctrl-C stops at the end of
the step and saves; progress.Progress); held-out data is scored by the app's own decoding (the
models/hf Stepper, greedy) after each epoch and the best check is kept (exact match, then the
lower held-out loss); the folder is written beside --out and renamed onto it (atomic: a reader
never sees half a folder; a full disk is one line, the previous folder left as it was).

transformers is imported only inside the functions here (through models/hf/loading, which forces
offline mode), never when this module is imported: models/hf stays the one place the app imports
it from, and the CLI's start-up does not pay for it.
"""
from __future__ import annotations

import copy
import json
import math
import os
import re
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import DataError, OutputError, SettingsError

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)  # ids 0-3 in every tokenizer built here
VALIDATION_SEED_OFFSET = 10_000  # as the LSTM trainers: held-out data never seen in training
CAPTION_POSITIONS = 32  # GPT-2's positions: the longest scene caption is 11 words
CAPTION_MAX_NEW = 24
TRANSLATE_POSITIONS = 64  # Marian's positions: sources have at most 19 words, targets about 40 tokens
TRANSLATE_MAX_NEW = 60


# -- settings -----------------------------------------------------------------------------------


@dataclass
class TransformerSettings:
    """What both trainers share. `out` is a folder."""

    out: str
    train_size: int = 20_000
    val_size: int = 500
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    seed: int = 0  # of the generated data, and of the weights unless init_seed is given
    init_seed: int | None = None
    device: str = "cpu"
    minutes: float | None = None
    max_steps: int | None = None
    hidden: int = 128  # d_model of encoder and decoder
    encoder_layers: int = 3
    decoder_layers: int = 3
    heads: int = 4
    ffn: int = 256
    dropout: float = 0.0  # the generated data is plentiful; dropout only slowed learning here
    warmup: int = 200  # steps of linear warm-up (at most 5% of the schedule)
    clip: float = 1.0
    weight_decay: float = 0.01
    threads: int | None = None  # torch's CPU threads (None: leave as is; 1 was 10x faster than 2 on a
    # shared 2-core machine: small matrices, many ops, threads waiting for each other)
    overwrite: bool = False

    def validate(self) -> "TransformerSettings":
        for name, low in (("train_size", 1), ("val_size", 1), ("epochs", 1), ("batch_size", 1), ("hidden", 8),
                          ("encoder_layers", 1), ("decoder_layers", 1), ("heads", 1), ("ffn", 1)):
            if getattr(self, name) < low:
                raise SettingsError(f"--{name.replace('_', '-')} must be at least {low}, got {getattr(self, name)}")
        if self.hidden % self.heads:
            raise SettingsError(f"--hidden {self.hidden} must be a multiple of --heads {self.heads}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise SettingsError(f"--lr must be a positive number, got {self.lr}")
        if not 0 <= self.dropout < 1:
            raise SettingsError(f"--dropout must be from 0 to below 1, got {self.dropout}")
        if self.minutes is not None and not self.minutes > 0:
            raise SettingsError(f"--minutes must be positive, got {self.minutes}")
        if self.max_steps is not None and self.max_steps < 1:
            raise SettingsError(f"--max-steps must be at least 1, got {self.max_steps}")
        if str(self.out).endswith(".safetensors"):
            raise SettingsError(f"{self.out}: a transformer is saved as a folder (save_pretrained); name a folder")
        return self


@dataclass
class CaptionTransformerSettings(TransformerSettings):
    train_size: int = 20_000
    epochs: int = 8
    batch_size: int = 32
    lr: float = 7e-4
    image_size: int = 96
    patch_size: int = 16

    def validate(self) -> "CaptionTransformerSettings":
        super().validate()
        if self.image_size < 16 or self.patch_size < 2 or self.image_size % self.patch_size:
            raise SettingsError(f"--image-size {self.image_size} must be at least 16 and a multiple of "
                                f"--patch-size {self.patch_size}")
        return self


@dataclass
class TranslateTransformerSettings(TransformerSettings):
    train_size: int = 40_000
    epochs: int = 4
    lr: float = 1e-3


# -- tokenizers ---------------------------------------------------------------------------------


def fit_words(words, what: str, log: Callable[[str], None]) -> list[str]:
    """The words a model file may hold, in order (the LSTM readers' rule: no control character,
    at most 100 characters); the others left out (read as <unk>) and counted in one line.
    DataError when none is left: such a model could only write <unk>."""
    from ..data.corpus import Problems, model_can_hold

    kept, problems = [], Problems()
    for w in words:
        if model_can_hold(w):
            kept.append(w)
        else:
            problems.add("unfit word", w)
    for line in problems.lines():  # escaped and cut by Problems: no escape code reaches the terminal
        log(f"  skipped: {line}")
    if not kept:
        raise DataError(f"no {what} word is fit for a model file (control characters, or over 100 characters), "
                        "so a model could only write <unk>")
    return kept


def word_tokenizer(words: list[str], end_after: bool = False):
    """A fast tokenizer whose tokens are the given words (ids after SPECIALS, in order), split at
    spaces only; with end_after, </s> follows every sentence (Marian's tokenizer does that)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    from ..models.hf.loading import transformers_module

    tf = transformers_module()
    vocab = {t: i for i, t in enumerate(SPECIALS)}
    for w in words:
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    if end_after:
        tok.post_processor = processors.TemplateProcessing(
            single=f"$A {EOS}", pair=f"$A {EOS} $B {EOS}", special_tokens=[(EOS, vocab[EOS])])
    return tf.PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=PAD, bos_token=BOS, eos_token=EOS,
                                      unk_token=UNK, model_max_length=512)


def _ids(tokenizer, texts: list[str]) -> list[list[int]]:
    return [list(x) for x in tokenizer(texts, add_special_tokens=True)["input_ids"]]


def _padded(rows: list[list[int]], pad: int) -> torch.Tensor:
    out = torch.full((len(rows), max(len(r) for r in rows)), pad, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    return out


def _set_ids(model, start: int, end: int, pad: int, max_new: int, banned: list[int] | None = None) -> None:
    """The ids transformers' generate() and attnviewer's Stepper read, on the config and the
    generation config alike."""
    for cfg in (model.config, model.generation_config):
        cfg.decoder_start_token_id = start
        cfg.eos_token_id = end
        cfg.pad_token_id = pad
    gen = model.generation_config
    gen.bos_token_id = start
    gen.max_new_tokens = max_new
    gen.max_length = None
    gen.num_beams = 1
    gen.bad_words_ids = [[b] for b in banned] if banned else None


# -- models -------------------------------------------------------------------------------------


def new_captioner(s: CaptionTransformerSettings, vocab_size: int):
    """A VisionEncoderDecoderModel: ViT over s.image_size px in s.patch_size patches, GPT-2 with
    cross-attention; random weights (seeded by the caller)."""
    from ..models.hf.loading import transformers_module

    tf = transformers_module()
    enc = tf.ViTModel(tf.ViTConfig(
        image_size=s.image_size, patch_size=s.patch_size, num_channels=3, hidden_size=s.hidden,
        num_hidden_layers=s.encoder_layers, num_attention_heads=s.heads, intermediate_size=s.ffn,
        hidden_dropout_prob=s.dropout, attention_probs_dropout_prob=0.0), add_pooling_layer=False)
    dec = tf.GPT2LMHeadModel(tf.GPT2Config(
        vocab_size=vocab_size, n_embd=s.hidden, n_layer=s.decoder_layers, n_head=s.heads, n_inner=s.ffn,
        n_positions=CAPTION_POSITIONS, add_cross_attention=True, resid_pdrop=s.dropout, embd_pdrop=s.dropout,
        attn_pdrop=0.0, bos_token_id=1, eos_token_id=2, pad_token_id=0))
    model = tf.VisionEncoderDecoderModel(encoder=enc, decoder=dec)
    _set_ids(model, start=1, end=2, pad=0, max_new=CAPTION_MAX_NEW)
    _eager(model)
    return model


def new_translator(s: TranslateTransformerSettings, vocab_size: int):
    """A MarianMTModel with one vocabulary shared by source and target."""
    from ..models.hf.loading import transformers_module

    tf = transformers_module()
    model = tf.MarianMTModel(tf.MarianConfig(
        vocab_size=vocab_size, decoder_vocab_size=vocab_size, d_model=s.hidden, encoder_layers=s.encoder_layers,
        decoder_layers=s.decoder_layers, encoder_attention_heads=s.heads, decoder_attention_heads=s.heads,
        encoder_ffn_dim=s.ffn, decoder_ffn_dim=s.ffn, max_position_embeddings=TRANSLATE_POSITIONS,
        dropout=s.dropout, attention_dropout=0.0, activation_dropout=0.0, share_encoder_decoder_embeddings=True,
        # embeddings times sqrt(d_model), as the original Transformer: Marian's default (off) leaves words'
        # embeddings (std 0.02) 35x smaller than the sinusoidal positions, and the loss stalled at 2.4 nats
        scale_embedding=True,
        pad_token_id=0, eos_token_id=2, decoder_start_token_id=0, forced_eos_token_id=2))
    _set_ids(model, start=0, end=2, pad=0, max_new=TRANSLATE_MAX_NEW, banned=[0])  # Marian never writes <pad>
    _eager(model)
    return model


def _eager(model) -> None:
    """Eager attention, the kind that returns weights (what the app shows); saved in the config."""
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation("eager")


def _preprocessor(size: int) -> dict:
    """What ViTImageProcessor reads (the app's Stepper reads the same): 0..255 -> [-1, 1]."""
    return {"do_normalize": True, "do_rescale": True, "do_resize": True, "image_mean": [0.5, 0.5, 0.5],
            "image_std": [0.5, 0.5, 0.5], "rescale_factor": 1 / 255, "resample": 2,
            "size": {"height": size, "width": size}, "image_processor_type": "ViTImageProcessor"}


def _pixels(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, S, S) uint8 -> the encoder's input, as _preprocessor says (and the Stepper does)."""
    return (images.float() / 255.0 - 0.5) / 0.5


# -- saving -------------------------------------------------------------------------------------


def check_out(out: str | Path, overwrite: bool) -> Path:
    """The folder to write: refused now (one line) if something is there without --overwrite, or
    if what is there is no model folder (never replace a folder of other things)."""
    from ..model_folders import is_model_folder

    path = Path(out)
    if path.exists() or path.is_symlink():
        if not overwrite:
            raise OutputError(f"{path}: already exists; add --overwrite to replace it")
        if path.is_symlink() or not path.is_dir() or (any(path.iterdir()) and not is_model_folder(path)):
            raise OutputError(f"{path}: is not a model folder; not replaced")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        above = next((p for p in parent.parents if p.exists()), None)  # a file where a folder belongs?
        if parent.exists() or (above is not None and not above.is_dir()):
            blocker = parent if parent.exists() else above
            raise OutputError(f"{path}: {blocker} is a file, not a folder")
        raise OutputError(f"{path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):  # found now, not after the training
        raise OutputError(f"{path}: cannot write, no permission to write in {parent}")
    return path


def save_folder(model, tokenizer, out: Path, record: dict, preprocessor: dict | None = None) -> None:
    """save_pretrained (safetensors) + tokenizer + preprocessor_config.json + training.json into a
    new folder beside `out`, then renamed onto it (the old folder, if any, goes after). A write
    that fails (a full disk) leaves no part behind and the old folder as it was: OutputError."""
    from ..files import write_problem

    out = Path(out)
    parent = out.parent if str(out.parent) else Path(".")
    try:
        _write_folder(model, tokenizer, out, parent, record, preprocessor)
    except Exception as e:
        failed = _os_error(e)
        if failed is None:
            raise
        raise OutputError(write_problem(out, failed)) from None


_OS_ERROR = re.compile(r"\(os error (\d+)\)")  # how safetensors and tokenizers (Rust) name a system error


def _os_error(e: Exception) -> OSError | None:
    """The system error behind a failed write: an OSError, or safetensors' and tokenizers' own
    exceptions, whose text ends in "(os error 28)"; None for anything else."""
    if isinstance(e, OSError):
        return e
    code = _OS_ERROR.search(str(e))
    return OSError(int(code.group(1)), os.strerror(int(code.group(1)))) if code else None


def _write_folder(model, tokenizer, out: Path, parent: Path, record: dict, preprocessor: dict | None) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".part", dir=parent))
    old = None
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        if preprocessor is not None:
            (tmp / "preprocessor_config.json").write_text(json.dumps(preprocessor, indent=2) + "\n")
        (tmp / "training.json").write_text(json.dumps(record, indent=2, default=float) + "\n")
        umask_mode = (tmp / "training.json").stat().st_mode & 0o777  # as Python wrote it, under the umask
        for f in tmp.iterdir():  # safetensors writes its file 0600 whatever the umask: others could not read it
            f.chmod(umask_mode)
        tmp.chmod(0o755)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=parent))
            old.rmdir()
            out.rename(old)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and old.exists() and not out.exists():
            old.rename(out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# -- the app's decoding of an in-memory model -----------------------------------------------------


def stepper(model, tokenizer, kind: str, image_size: int | None = None, patch: int | None = None):
    """The models/hf Stepper around a model being trained: what the app will decode it with."""
    from ..models.hf.stepper import HFConfig, Stepper

    config = HFConfig()
    if kind == "caption":
        config.image_size = config.frame_size = int(image_size)
        config.max_len = CAPTION_MAX_NEW
        family, start, end, banned = "vision-encoder-decoder", 1, 2, []
    else:
        config.max_len = TRANSLATE_MAX_NEW
        config.max_source_len = TRANSLATE_POSITIONS
        family, start, end, banned = "seq2seq", 0, 2, [0]
    return Stepper(model, family, kind, tokenizer, config, start, end, banned, None, patch)


# -- the loop -----------------------------------------------------------------------------------


@dataclass
class _Data:
    """What a trainer gives the loop."""

    n: int
    batch: Callable  # indices -> dict of tensors (model inputs and "labels")
    lengths: list[int] | None
    check: Callable  # () -> dict of held-out scores with "exact" and "loss"


def _loss(model, batch: dict) -> torch.Tensor:
    labels = batch["labels"]
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    logits = model(**inputs, return_dict=True).logits
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1), ignore_index=-100)


def fit(model, data: _Data, s: TransformerSettings, save: Callable[[dict], None],
        log: Callable[[str], None] = print) -> dict:
    """Teacher forcing with AdamW, warm-up and cosine decay, gradient clipping; the held-out check
    after every epoch (and when stopped); the best check's weights saved. Returns a summary."""
    from .loop import _Stop, epoch_order
    from .progress import Progress

    device = torch.device(s.device)
    init_seed = s.seed if s.init_seed is None else s.init_seed
    torch.manual_seed(init_seed)  # dropout (the weights were drawn by the caller with the same seed)
    model.to(device).train()
    spe = math.ceil(data.n / s.batch_size)
    total = spe * s.epochs
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "embed" not in n and "wpe" not in n]
    rest = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "embed" not in n and "wpe" not in n)]
    optimiser = torch.optim.AdamW([{"params": decay, "weight_decay": s.weight_decay},
                                   {"params": rest, "weight_decay": 0.0}], lr=s.lr, betas=(0.9, 0.98))
    warm = max(1, min(s.warmup, total // 20))

    def factor(i: int) -> float:  # the shared loop's shape (loop.schedule) with a shorter warm-up
        if i < warm:
            return (i + 1) / warm
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, (i - warm) / max(1, total - warm))))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, factor)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"training {n_params / 1e6:.2f} M parameters on {data.n} examples, {spe} steps an epoch, "
        f"{s.epochs} epochs, batch {s.batch_size}, on {device}")
    t0 = time.monotonic()
    step, epoch, best, history, stopped, losses = 0, 0, None, [], None, []
    progress = Progress(total, 0, log=log, what="step")

    def check(where: str):
        nonlocal best
        model.eval()
        with torch.inference_mode():
            scores = data.check()
        model.train()
        scores = dict(scores, step=step, epoch=round(step / spe, 2), minutes=round((time.monotonic() - t0) / 60, 1))
        history.append(scores)
        key = (scores["exact"], -scores["loss"])
        better = best is None or key > best[0]
        if better:
            best = (key, scores, copy.deepcopy(model.state_dict()))
        shown = "  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in scores.items())
        progress.print(f"{where}: {shown}" + ("  (best so far)" if better else ""))

    with _Stop() as stop:
        try:
            while epoch < s.epochs and stopped is None:
                order = epoch_order(data.n, init_seed, epoch, s.batch_size, data.lengths)
                for b in range(spe):
                    idx = order[b * s.batch_size : (b + 1) * s.batch_size].tolist()
                    batch = {k: v.to(device) for k, v in data.batch(idx).items()}
                    loss = _loss(model, batch)
                    optimiser.zero_grad(set_to_none=True)
                    loss.backward()
                    if s.clip:
                        torch.nn.utils.clip_grad_norm_(model.parameters(), s.clip)
                    optimiser.step()
                    scheduler.step()
                    step += 1
                    losses.append(round(float(loss.detach()), 4))
                    progress.advance(1, f"epoch {epoch + 1}  loss {losses[-1]:.4f}")
                    if stop.requested:
                        stopped = "interrupted"
                    elif s.max_steps is not None and step >= s.max_steps:
                        stopped = "max_steps"
                    elif s.minutes is not None and time.monotonic() - t0 > 60 * s.minutes:
                        stopped = "minutes"
                    if stopped:
                        break
                epoch += 1
                check(f"epoch {epoch}" if stopped is None else f"stopped ({stopped}) at step {step}")
        finally:
            progress.close()
    stopped = stopped or "done"
    _, kept, weights = best
    model.load_state_dict(weights)
    model.eval()
    summary = {"steps": step, "epochs_run": epoch, "stopped": stopped, "seconds": round(time.monotonic() - t0, 1),
               "kept": kept, "history": history, "parameters": n_params, "losses": losses}
    save(summary)
    log(f"{stopped} after {step} steps ({summary['seconds']:.0f} s); kept the check of step {kept['step']}: "
        + ", ".join(f"{k} {v:.4f}" for k, v in kept.items() if isinstance(v, float)) + f"; wrote {s.out}")
    return summary


def _record(s: TransformerSettings, what: str, data_version: int, summary: dict) -> dict:
    settings = {k: v for k, v in asdict(s).items() if k not in ("out", "device", "threads", "overwrite")}
    return {"trained_by": "attnviewer train " + what + " --arch transformer", "settings": settings,
            "data_version": data_version, **summary}


def _threads(s: TransformerSettings) -> None:
    if s.threads:
        torch.set_num_threads(s.threads)


# -- the captioner ------------------------------------------------------------------------------


def train_caption_transformer(s: CaptionTransformerSettings, log: Callable[[str], None] = print) -> dict:
    """Train the ViT + GPT-2 captioner on generated scenes; write the folder s.out."""
    from ..data.synthetic import DATA_VERSION, generate_scenes

    s.validate()
    out = check_out(s.out, s.overwrite)
    _threads(s)
    init_seed = s.seed if s.init_seed is None else s.init_seed
    log(f"generating {s.train_size} training and {s.val_size} held-out scenes at {s.image_size} px (seed {s.seed})")
    t0 = time.monotonic()
    train = generate_scenes(s.train_size, s.seed, s.image_size)
    val = generate_scenes(s.val_size, s.seed + VALIDATION_SEED_OFFSET, s.image_size)
    log(f"  {time.monotonic() - t0:.0f} s")
    seen = sorted({w for sc in train for w in sc.caption.split()})
    words = fit_words(seen, "caption", log)
    tokenizer = word_tokenizer(words)
    images = torch.from_numpy(np.stack([sc.image for sc in train])).permute(0, 3, 1, 2).contiguous()
    val_images = torch.from_numpy(np.stack([sc.image for sc in val])).permute(0, 3, 1, 2).contiguous()
    unknown_ok = len(words) < len(seen)  # the words left out are read as <unk>
    captions = [[1, *ids, 2] for ids in _caption_ids(tokenizer, [sc.caption for sc in train], unknown_ok)]
    val_captions = [[1, *ids, 2] for ids in _caption_ids(tokenizer, [sc.caption for sc in val], unknown_ok)]
    torch.manual_seed(init_seed)
    model = new_captioner(s, len(tokenizer))

    def batch(idx, imgs=images, caps=captions) -> dict:
        seq = _padded([caps[i] for i in idx], 0)
        labels = seq[:, 1:].clone()
        labels[labels == 0] = -100
        return {"pixel_values": _pixels(imgs[idx]), "decoder_input_ids": seq[:, :-1], "labels": labels}

    def check() -> dict:
        from ..evaluation.image import pointing
        from ..evaluation.transformer import caption_heads, lensed

        losses = [float(_loss(model, {k: v.to(s.device) for k, v in batch(list(range(i, min(i + 250, len(val)))),
                                                                             val_images, val_captions).items()}))
                  for i in range(0, len(val), 250)]
        step_model = stepper(model, tokenizer, "caption", s.image_size, s.patch_size)
        decoded = caption_heads(step_model, val_images, batch=250)
        hyps = [lensed(h, p) for h, p in decoded]
        tally = pointing(val, hyps)
        exact = float(np.mean([h.text == sc.caption for h, sc in zip(hyps, val)]))
        return {"loss": float(np.mean(losses)), "exact": exact, "cell": tally.rate("cell"),
                "pixel": tally.rate("pixel")}

    def save(summary: dict) -> None:
        save_folder(model, tokenizer, out, _record(s, "caption", DATA_VERSION, summary), _preprocessor(s.image_size))

    data = _Data(len(train), batch, [len(c) for c in captions], check)
    return fit(model, data, s, save, log)


def _caption_ids(tokenizer, captions: list[str], unknown_ok: bool = False) -> list[list[int]]:
    rows = [list(x) for x in tokenizer(captions, add_special_tokens=False)["input_ids"]]
    if not unknown_ok and any(3 in r for r in rows):
        raise SettingsError("a caption has a word outside the tokenizer's vocabulary")
    return rows


# -- the translator -----------------------------------------------------------------------------


def train_translate_transformer(s: TranslateTransformerSettings, log: Callable[[str], None] = print) -> dict:
    """Train the Marian-style translator on the generated language pair; write the folder s.out."""
    from ..data.pairs import DATA_VERSION, generate_pairs, vocabularies
    from .text import held_out_pairs

    s.validate()
    out = check_out(s.out, s.overwrite)
    _threads(s)
    init_seed = s.seed if s.init_seed is None else s.init_seed
    train = generate_pairs(s.train_size, s.seed)
    val = held_out_pairs(s.val_size, s.seed, {p.source_text for p in train})
    source_words, target_words = vocabularies()
    source_words, target_words = fit_words(source_words, "source", log), fit_words(target_words, "target", log)
    tokenizer = word_tokenizer(sorted(set(source_words) | set(target_words)), end_after=True)
    sources = _ids(tokenizer, [p.source_text for p in train])
    targets = _ids(tokenizer, [p.target_text for p in train])
    val_sources = _ids(tokenizer, [p.source_text for p in val])
    val_targets = _ids(tokenizer, [p.target_text for p in val])
    longest = max(len(r) for r in sources + targets)
    if longest > TRANSLATE_POSITIONS:
        raise SettingsError(f"a sentence of {longest} tokens is longer than the model's {TRANSLATE_POSITIONS} positions")
    log(f"{len(train)} training pairs, {len(val)} held out; vocabulary {len(tokenizer)} words")
    torch.manual_seed(init_seed)
    model = new_translator(s, len(tokenizer))

    def batch(idx, src=sources, tgt=targets) -> dict:
        ids = _padded([src[i] for i in idx], 0)
        labels = _padded([tgt[i] for i in idx], -100)
        dec = torch.cat([torch.zeros(len(idx), 1, dtype=torch.long), labels[:, :-1].clamp(min=0)], dim=1)
        return {"input_ids": ids, "attention_mask": (ids != 0).long(), "decoder_input_ids": dec, "labels": labels}

    def check() -> dict:
        from ..evaluation.metrics import bleu
        from ..evaluation.transformer import forced_word_attention, translate_heads
        from ..evaluation.text import alignment_error

        losses = [float(_loss(model, {k: v.to(s.device) for k, v in batch(list(range(i, min(i + 250, len(val)))),
                                                                             val_sources, val_targets).items()}))
                  for i in range(0, len(val), 250)]
        step_model = stepper(model, tokenizer, "translate")
        hyps = [h for h, _ in translate_heads(step_model, [p.source_text for p in val])]
        attention = forced_word_attention(step_model, val)
        aer, _ = alignment_error(val, attention)
        return {"loss": float(np.mean(losses)),
                "exact": float(np.mean([h.text == p.target_text for h, p in zip(hyps, val)])),
                "BLEU": bleu([p.target_text for p in val], [h.text for h in hyps]), "AER": aer}

    def save(summary: dict) -> None:
        save_folder(model, tokenizer, out, _record(s, "translate", DATA_VERSION, summary))

    data = _Data(len(train), batch, [len(r) for r in sources], check)
    return fit(model, data, s, save, log)
