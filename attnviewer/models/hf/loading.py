"""Loading a transformers model folder safely, offline, as a Stepper.

The folder is checked first without importing anything (model_folders.inspect: safetensors only,
no remote code, sizes and memory); then transformers loads it with local files only, safetensors
only, no remote code, eager attention (the only kind that returns weights), offline mode forced.
"""
from __future__ import annotations

import os
import threading
import warnings
from pathlib import Path

from ...errors import CheckpointError, first_line, printable
from ...model_folders import FolderModel, inspect
from .load_progress import LoadCancelled
from .rules import rules_of
from .stepper import HFConfig, Stepper

INSTALL = "pip install 'attnviewer[transformers]'"
CAPTION_MAX_LEN = 30
TRANSLATE_MAX_LEN = 100


def offline() -> None:
    """Nothing is ever downloaded: set before transformers is imported (it reads them then)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def transformers_module():
    """transformers, imported offline; CheckpointError naming the extra to install if missing."""
    offline()
    try:
        import transformers
    except ImportError:
        raise CheckpointError(f"opening a transformers model folder needs the transformers package: {INSTALL}") from None
    transformers.logging.set_verbosity_error()  # its notes would reach the user as warnings
    transformers.utils.logging.disable_progress_bar()  # its bars would clutter the CLI's output
    return transformers


# from_pretrained is not safe on two threads at once (measured: a second load beside another lost
# its tied output layer, "weights lack decoder.lm_head.weight"), nor is catch_warnings: folders
# load one after another (a load that was stopped ends at its next tensor, so the wait is short)
ONE_AT_A_TIME = threading.Lock()


def load_folder(path: str | Path, device) -> Stepper:
    """The folder's model on `device`, ready for decoding; CheckpointError in one line."""
    info = inspect(path)
    tf = transformers_module()
    import torch

    common = dict(local_files_only=True, use_safetensors=True, dtype=torch.float32)
    classes = {"vision-encoder-decoder": tf.VisionEncoderDecoderModel, "blip": tf.BlipForConditionalGeneration,
               "seq2seq": tf.AutoModelForSeq2SeqLM}
    model_class = classes[info.family]
    extra = {"trust_remote_code": False} if info.family == "seq2seq" else {}
    try:
        with ONE_AT_A_TIME, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _check_size(tf, model_class, info, extra)
            hf, loaded = model_class.from_pretrained(str(info.path), attn_implementation="eager",
                                                     output_loading_info=True, **common, **extra)
            tokenizer = _tokenizer(tf, info)
    except (CheckpointError, LoadCancelled):
        raise
    except (Exception, SystemExit) as e:  # transformers raises many types for a damaged folder
        if "ignore_mismatched_sizes" in str(e):  # its report of which tensors went before, unseen
            raise CheckpointError(f"{printable(info.path)}: its config.json does not match its weights (tensor "
                                  "sizes differ: hidden size, vocabulary size...)") from None
        raise CheckpointError(f"{printable(info.path)}: transformers cannot load it ({first_line(e)[:200]})") from None
    # transformers makes up random weights for tensors the file lacks: a model that would guess is refused
    missing = [k for k in loaded.get("missing_keys", []) if ".pooler." not in k and not k.startswith("pooler.")]
    if missing:
        raise CheckpointError(f"{printable(info.path)}: its weights lack {len(missing)} tensors the config asks for "
                              f"(e.g. {printable(missing[0])[:80]}); refused")
    hf.eval()
    stepper = _stepper(hf, info, tokenizer)
    return stepper.to(device).eval()


def _check_size(tf, model_class, info: FolderModel, extra: dict) -> None:
    """The model the config describes, built on the meta device (shapes, no memory), must not be
    larger than the weights the files hold: a config claiming more would be filled at random."""
    import torch

    try:
        config = tf.AutoConfig.from_pretrained(str(info.path), local_files_only=True, **extra)
        with torch.device("meta"):
            model = model_class._from_config(config) if hasattr(model_class, "_from_config") else \
                model_class.from_config(config)
    except Exception:  # loading then says what is wrong, in its own words
        return
    declared = sum(p.numel() for p in model.parameters())
    if declared > 1.05 * info.parameters + 1_000_000:
        raise CheckpointError(f"{printable(info.path)}: its config.json describes {declared / 1e6:,.1f} M parameters "
                              f"but its weights hold {info.parameters / 1e6:,.1f} M; refused")


def _tokenizer(tf, info: FolderModel):
    names = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "vocab.txt", "spiece.model", "source.spm",
             "sentencepiece.bpe.model")
    if not any((info.path / n).exists() for n in names):
        raise CheckpointError(f"{printable(info.path)}: has no tokenizer files (tokenizer.json); save the "
                              "tokenizer beside the model with tokenizer.save_pretrained(folder)")
    return tf.AutoTokenizer.from_pretrained(str(info.path), local_files_only=True, trust_remote_code=False)


def _given(*values):
    """The first value that is set (0 is a token id like any other); of a list, its first."""
    for value in values:
        if isinstance(value, (list, tuple)):
            value = value[0] if value else None
        if value is not None:
            return int(value)
    return None


def _stepper(hf, info: FolderModel, tokenizer) -> Stepper:
    gen = getattr(hf, "generation_config", None)
    cfg = hf.config
    forced = getattr(gen, "forced_bos_token_id", None) if gen is not None else None
    if info.family == "blip":
        text = cfg.text_config
        start, end = text.bos_token_id, text.sep_token_id
    else:
        dec = cfg.decoder if info.family == "vision-encoder-decoder" else cfg
        start = _given(getattr(cfg, "decoder_start_token_id", None), getattr(gen, "decoder_start_token_id", None),
                       getattr(dec, "decoder_start_token_id", None), getattr(dec, "bos_token_id", None))
        end = _given(getattr(gen, "eos_token_id", None), getattr(cfg, "eos_token_id", None),
                     getattr(dec, "eos_token_id", None))
    if start is None or end is None:
        raise CheckpointError(f"{printable(info.path)}: its config names no decoder start or end token "
                              "(decoder_start_token_id, eos_token_id)")
    config = _preprocessing(info)
    config.max_len = _max_len(gen, info.kind)
    patch, tubelet = None, 1
    enc = cfg.vision_config if info.family == "blip" else cfg.encoder if info.family == "vision-encoder-decoder" else None
    if enc is not None:
        patch = _token_side(enc)
        tubelet = int(getattr(enc, "tubelet_size", 1) or 1)
        if info.kind == "video":
            config.steps = int(getattr(enc, "num_frames", config.steps) or config.steps)
    if info.kind == "translate":
        config.max_source_len = int(getattr(cfg, "max_position_embeddings", 0) or 512)
    eos = getattr(gen, "eos_token_id", None) if gen is not None else None
    rules = rules_of(gen, end if eos is None else eos, printable(info.path))
    penalty, early = _beam_rules(gen, info)
    return Stepper(hf, info.family, info.kind, tokenizer, config, start, end, [], forced, patch, tubelet, rules=rules,
                   length_penalty=penalty, early_stopping=early)


def _beam_rules(gen, info: FolderModel) -> tuple[float, bool | str]:
    """(length_penalty, early_stopping) of the folder's generation_config: how its beam search
    ranks and when it stops (transformers' defaults: 1.0 and False)."""
    penalty = getattr(gen, "length_penalty", None)
    early = getattr(gen, "early_stopping", None)
    penalty, early = 1.0 if penalty is None else penalty, False if early is None else early  # (5.x: None unset)
    if isinstance(penalty, bool) or not isinstance(penalty, (int, float)) or not abs(penalty) <= 1000:
        raise CheckpointError(f"{printable(info.path)}: its generation_config.json has length_penalty "
                              f"{printable(repr(penalty))[:40]}; a number from -1000 to 1000 is needed")
    if early not in (True, False, "never"):
        raise CheckpointError(f"{printable(info.path)}: its generation_config.json has early_stopping "
                              f"{printable(repr(early))[:40]}; true, false or \"never\" is needed")
    return float(penalty), early if early == "never" else bool(early)


def _token_side(enc) -> int | None:
    """Pixels per side of what one output token of the vision encoder covers: its patch, or for
    Swin the patch merged 2x2 after every stage but the first (the decoder sees the last grid)."""
    patch = getattr(enc, "patch_size", None)
    patch = patch[0] if isinstance(patch, (list, tuple)) else patch
    if not isinstance(patch, int) or patch <= 0:
        return None
    depths = getattr(enc, "depths", None) if getattr(enc, "model_type", "") == "swin" else None
    return patch * 2 ** (len(depths) - 1) if depths else patch


def _max_len(gen, kind: str) -> int:
    """The longest output: the folder's generation_config where it says so, else ours."""
    default = TRANSLATE_MAX_LEN if kind == "translate" else CAPTION_MAX_LEN
    if gen is None:
        return default
    new = getattr(gen, "max_new_tokens", None)
    if isinstance(new, int) and new > 0:
        return min(new, 512)
    total = getattr(gen, "max_length", None)
    if isinstance(total, int) and 1 < total != 20:  # 20: transformers' default, not the folder's choice
        return min(total - 1, 512)
    return default


def _preprocessing(info: FolderModel) -> HFConfig:
    """How pixels become the encoder's input: preprocessor_config.json, else the encoder's config."""
    import json

    config = HFConfig()
    enc = info.config.get("encoder") or info.config.get("vision_config") or {}
    size = enc.get("image_size") if isinstance(enc, dict) else None
    prep_path = info.path / "preprocessor_config.json"
    if info.kind == "video" and (info.path / "video_preprocessor_config.json").exists():
        prep_path = info.path / "video_preprocessor_config.json"  # what video processors save (5.x)
    prep = {}
    if prep_path.exists():
        try:
            prep = json.loads(prep_path.read_text(encoding="utf-8"))  # checked as JSON by inspect
        except (OSError, ValueError):
            prep = {}
    psize = prep.get("size") or prep.get("crop_size")
    if isinstance(psize, dict):
        psize = psize.get("height") or psize.get("shortest_edge") or psize.get("width")
    if isinstance(psize, int) and psize > 0:
        size = psize
    if isinstance(size, (list, tuple)):
        size = size[0]
    if not isinstance(size, int) or not 8 <= size <= 4096:
        size = 224
    config.image_size = config.frame_size = size
    for key, attr in (("image_mean", "mean"), ("image_std", "std")):
        value = prep.get(key)
        if isinstance(value, list) and len(value) == 3 and all(isinstance(v, (int, float)) for v in value):
            setattr(config, attr, tuple(float(v) for v in value))
    if isinstance(prep.get("rescale_factor"), (int, float)):
        config.rescale = float(prep["rescale_factor"])
    if prep.get("do_rescale") is False:
        config.rescale = 1.0
    if prep.get("do_normalize") is False:
        config.normalize = False
    return config
