"""Model folders saved by Hugging Face transformers (`save_pretrained`): which ones attnviewer can
open, of which kind, and whether they are safe to load, read from `config.json` and the
safetensors headers alone (no torch, no transformers: the window lists them with this).

A folder is refused, in one line and before anything is imported or run, when its weights are
pickles only (`.bin`, `.pt`, `.ckpt`: loading them can run code), when its config asks for code
of its own (`auto_map`), when a file is not what it says, or when its weights would not fit in
memory (parameter count x dtype from the headers against the memory available).
"""
from __future__ import annotations

import copy
import functools
import json
import os
import re
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path

from .headers import read_header
from .errors import CheckpointError, printable

CONFIG_MAX_BYTES = 4_000_000  # a config.json is a few KB; a larger one is no config
INDEX_MAX_BYTES = 50_000_000  # a sharded checkpoint's index (one line per tensor)
TOKENIZER_MAX_BYTES = 200_000_000  # tokenizer.json of large vocabularies is tens of MB
HEADER_MAX_BYTES = 100_000_000
JSON_MAX_DEPTH = 64  # a config nests a few levels, a tokenizer.json about ten; deeper is no such file
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
               "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1, "U16": 2, "U32": 4, "U64": 8}
MEMORY_MARGIN = 1.5  # weights in float32, activations and the tokenizer beside them

# What each family's config says, and which kind of model it makes.
IMAGE_ENCODERS = ("vit", "deit", "beit", "swin")
VIDEO_ENCODERS = ("timesformer", "videomae")
SEQ2SEQ_TYPES = ("marian", "bart", "mbart", "t5", "mt5", "m2m_100", "pegasus", "blenderbot", "blenderbot-small",
                 "fsmt", "prophetnet", "led", "longt5", "umt5", "nllb-moe", "plbart", "bigbird_pegasus")
SUPPORTED = ("VisionEncoderDecoder (ViT, DeiT, BEiT or Swin encoder; TimeSformer or VideoMAE for video) "
             "with a cross-attending decoder, BLIP captioning, and encoder-decoder translators "
             "(Marian, BART/mBART, T5 and other AutoModelForSeq2SeqLM models)")


@dataclass
class FolderModel:
    """A transformers model folder as read from disk, checked, before anything is loaded."""

    path: Path
    kind: str  # caption, video, translate
    family: str  # vision-encoder-decoder, blip, seq2seq
    architecture: str  # as config.json names it, e.g. VisionEncoderDecoderModel
    config: dict
    weights: list[Path] = field(default_factory=list)
    parameters: int = 0
    bytes: int = 0  # of the weights as stored

    @property
    def label(self) -> str:
        return f"{self.path.name} ({self.architecture}, {self.parameters / 1e6:.1f} M parameters)"


def is_model_folder(path: str | Path) -> bool:
    """A folder holding a config.json: what save_pretrained writes (checked further by inspect)."""
    try:
        path = Path(path)
        return path.is_dir() and os.path.lexists(path / "config.json")  # a broken link too: inspect says so
    except (OSError, ValueError):
        return False


def _regular(path: Path, what: str = "") -> os.stat_result:
    """The stat of a regular file (a link followed), else CheckpointError naming `what` ("its config")."""
    try:
        st = os.stat(path)
    except OSError as e:
        where = f"cannot read {what or 'it'}"
        raise CheckpointError(f"{printable(path)}: {where} ({e.strerror or type(e).__name__})") from None
    if not stat.S_ISREG(st.st_mode):
        raise CheckpointError(f"{printable(path)}: {what + ' ' if what else ''}is not a regular file")
    return st


def _read_json(path: Path, limit: int, what: str) -> dict:
    """A JSON object from a regular file of at most `limit` bytes, or CheckpointError in one line."""
    st = _regular(path, f"its {what}")
    if st.st_size > limit:
        raise CheckpointError(f"{printable(path)}: its {what} is {st.st_size:,} bytes, more than the limit of {limit:,}")
    try:
        with _opened_regular(path) as f:
            data = json.loads(f.read(limit + 1))
    except OSError as e:
        raise CheckpointError(f"{printable(path)}: cannot read its {what} ({e.strerror or type(e).__name__})") from None
    except RecursionError:
        raise CheckpointError(f"{printable(path)}: its {what} is nested too deeply") from None
    except ValueError as e:
        raise CheckpointError(f"{printable(path)}: its {what} is not valid JSON ({' '.join(str(e).split())[:80]})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{printable(path)}: its {what} is not a JSON object")
    if _depth(data) > JSON_MAX_DEPTH:
        raise CheckpointError(f"{printable(path)}: its {what} is nested too deeply (more than {JSON_MAX_DEPTH} levels)")
    return data


def _opened_regular(path: Path):
    """The file, opened without waiting (a FIFO put in its place since it was checked would block
    an ordinary open) and refused unless it is still a regular file."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(0, "not a regular file (replaced while being read)")
    return os.fdopen(fd, "rb")


def _depth(data) -> int:
    """How deeply lists and objects nest in parsed JSON, found without recursion."""
    deepest, todo = 0, [(data, 1)]
    while todo:
        value, level = todo.pop()
        if isinstance(value, (dict, list)):
            deepest = max(deepest, level)
            todo.extend((v, level + 1) for v in (value.values() if isinstance(value, dict) else value))
    return deepest


def _asks_for_code(config) -> bool:
    """Whether a config (at any depth) names code of its own to import (auto_map). Walked without
    recursion: JSON nested nearly as deep as the parser allows is no error of ours."""
    todo = [config]
    while todo:
        value = todo.pop()
        if isinstance(value, dict):
            if "auto_map" in value:
                return True
            todo.extend(value.values())
        elif isinstance(value, list):
            todo.extend(value)
    return False


def _str(config: dict, key: str) -> str:
    value = config.get(key)
    return value if isinstance(value, str) else ""


CROSS_ATTENDING_DECODERS = ("trocr",)  # decoders with cross-attention whenever is_decoder is set


def _cross_attends(decoder: dict) -> bool:
    """Whether a VisionEncoderDecoder's decoder config makes layers that attend to the encoder:
    add_cross_attention (GPT-2, BERT, RoBERTa...), or is_decoder for those that always do."""
    if decoder.get("add_cross_attention") is True:
        return True
    return _str(decoder, "model_type") in CROSS_ATTENDING_DECODERS and decoder.get("is_decoder") is True


def family_of(config: dict) -> tuple[str, str, str]:
    """(kind, family, architecture) of a config, or CheckpointError naming the architecture and
    the supported list."""
    arch_list = config.get("architectures")
    arch = arch_list[0] if isinstance(arch_list, list) and arch_list and isinstance(arch_list[0], str) else ""
    model_type = _str(config, "model_type")
    named = arch or model_type or "an unnamed architecture"
    if model_type == "vision-encoder-decoder":
        encoder = config.get("encoder") if isinstance(config.get("encoder"), dict) else {}
        decoder = config.get("decoder") if isinstance(config.get("decoder"), dict) else {}
        enc_type = _str(encoder, "model_type")
        if not _cross_attends(decoder):
            raise CheckpointError(f"a VisionEncoderDecoder whose {_str(decoder, 'model_type') or 'decoder'} decoder "
                                  "has no cross-attention: nothing to show; supported: " + SUPPORTED)
        if enc_type in IMAGE_ENCODERS:
            return "caption", "vision-encoder-decoder", arch or "VisionEncoderDecoderModel"
        if enc_type == "timesformer" and encoder.get("attention_type") == "space_only":
            # each frame encoded apart: its decoder would see one frame's tokens per input row
            raise CheckpointError("a TimeSformer with space-only attention encodes each frame apart; supported: "
                                  "its divided space-time attention (the default)")
        if enc_type in VIDEO_ENCODERS:
            return "video", "vision-encoder-decoder", arch or "VisionEncoderDecoderModel"
        raise CheckpointError(f"a VisionEncoderDecoder with a {enc_type or 'unnamed'} encoder is not supported; "
                              "supported: " + SUPPORTED)
    if model_type == "blip" and arch in ("BlipForConditionalGeneration", ""):
        return "caption", "blip", "BlipForConditionalGeneration"
    if model_type in SEQ2SEQ_TYPES or (config.get("is_encoder_decoder") is True and
                                       (arch.endswith("ForConditionalGeneration") or arch.endswith("MTModel"))):
        return "translate", "seq2seq", named
    raise CheckpointError(f"{named} is not a model attnviewer can show; supported: {SUPPORTED}")


def _weight_files(folder: Path) -> list[Path]:
    """The safetensors files that hold the weights (one file, or the shards an index names)."""
    single = folder / "model.safetensors"
    index = folder / "model.safetensors.index.json"
    if index.exists():
        data = _read_json(index, INDEX_MAX_BYTES, "weight index (model.safetensors.index.json)")
        weight_map = data.get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map:
            raise CheckpointError(f"{printable(index)}: its weight index has no weight_map")
        shards = sorted({v for v in weight_map.values() if isinstance(v, str)})
        if len(shards) != len(set(weight_map.values())):
            raise CheckpointError(f"{printable(index)}: its weight map names a shard that is not a file name")
        files = []
        for name in shards:
            if "/" in name or "\\" in name or name.startswith(".") or not name.endswith(".safetensors"):
                raise CheckpointError(f"{printable(index)}: names a shard {printable(name)!r} outside the folder "
                                      "or not a safetensors file")
            files.append(folder / name)
        return files
    if single.exists():
        return [single]
    found = sorted(p for p in folder.iterdir() if p.suffix == ".safetensors")
    if found:
        return found
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
    if pickles:
        raise CheckpointError(f"{printable(folder)}: its weights are pickles only ({', '.join(pickles[:3])}), which "
                              "can run code when loaded; refused. Save it again with "
                              "save_pretrained(..., safe_serialization=True) to get model.safetensors")
    raise CheckpointError(f"{printable(folder)}: holds no weights (no model.safetensors)")


def _count(files: list[Path]) -> tuple[int, int, set[str]]:
    """(parameters, bytes, tensor names) declared by the safetensors headers, each checked against
    its file."""
    parameters = size = 0
    names: set[str] = set()
    for path in files:
        for name, n, nbytes in _tensors(path):
            parameters, size = parameters + n, size + nbytes
            names.add(name)
    return parameters, size, names


def _tensors(path: Path) -> list[tuple[str, int, int]]:
    """(name, elements, bytes) of each tensor a safetensors file's header declares, checked."""
    _regular(path)
    try:
        header, data_bytes = read_header(path, HEADER_MAX_BYTES)
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{printable(path)}: not a safetensors file ({' '.join(str(e).split())[:100]})") from None
    return [_tensor(path, name, info, data_bytes) for name, info in header.items() if name != "__metadata__"]


def _tensor(path: Path, name: str, info, data_bytes: int) -> tuple[str, int, int]:
    try:
        dtype, shape, (start, end) = info["dtype"], info["shape"], info["data_offsets"]
        n = 1
        for d in shape:
            if not isinstance(d, int) or d < 0:
                raise ValueError
            n *= d
        if dtype not in DTYPE_BYTES or not (isinstance(start, int) and isinstance(end, int)):
            raise ValueError
    except (KeyError, TypeError, ValueError):
        raise CheckpointError(f"{printable(path)}: its header describes tensor {printable(name)[:60]!r} "
                              "wrongly") from None
    if end - start != n * DTYPE_BYTES[dtype] or end > data_bytes or start < 0:
        raise CheckpointError(f"{printable(path)}: tensor {printable(name)[:60]!r} declares "
                              f"{n * DTYPE_BYTES[dtype]:,} bytes that the file does not hold "
                              f"(its data is {data_bytes:,} bytes)")
    return name, n, n * DTYPE_BYTES[dtype]


# ---- what the config would make transformers build beyond the weights ------------------------
# Layers the weights lack are made up (random: minutes and memory for a config saying 100,000),
# position tables that are not saved (Marian's sinusoids) are computed from the config's size.
LAYER_KEYS = ("num_hidden_layers", "n_layer", "num_layers", "encoder_layers", "decoder_layers", "num_decoder_layers")
LAYER_NAME = re.compile(r"(?:^|\.)(?:layers|layer|h|block|blocks)\.(\d+)\.")
POSITION_KEYS = ("max_position_embeddings", "n_positions", "n_ctx", "max_target_positions", "max_source_positions")
WIDTH_KEYS = ("d_model", "hidden_size", "n_embd")
POSITIONS_MAX = 1 << 20  # long-document models have 16k; a million is no real model


def _numbers(config, keys: tuple[str, ...]):
    """(key, value, the object holding it) of every integer under one of `keys`, at any depth."""
    todo = [config]
    while todo:
        value = todo.pop()
        if isinstance(value, dict):
            todo.extend(value.values())
            yield from ((k, v, value) for k, v in value.items()
                        if k in keys and isinstance(v, int) and not isinstance(v, bool))
        elif isinstance(value, list):
            todo.extend(value)


def _check_layers(folder: Path, config: dict, names: set[str]) -> None:
    """No (sub)config declares more layers than the weights hold (layers.N, layer.N, h.N, block.N)."""
    held = 1 + max((int(m.group(1)) for name in names for m in LAYER_NAME.finditer(name)), default=-1)
    for key, value, _ in _numbers(config, LAYER_KEYS):
        if value > held:
            raise CheckpointError(f"{printable(folder)}: config.json declares {value:,} layers ({key}) but the "
                                  f"weights hold at most {held:,}: the config does not describe these weights")


def _position_tables(folder: Path, config: dict) -> int:
    """Elements of the position tables the config asks for (computed, where not saved);
    CheckpointError for an absurd number of positions."""
    total = 0
    for key, value, holder in _numbers(config, POSITION_KEYS):
        if value > POSITIONS_MAX:
            raise CheckpointError(f"{printable(folder)}: config.json declares {value:,} positions ({key}), more "
                                  f"than any model of these families ({POSITIONS_MAX:,})")
        widths = [holder.get(k) for k in WIDTH_KEYS]
        width = max([w for w in widths if isinstance(w, int) and not isinstance(w, bool)], default=0)
        total += max(value, 0) * min(max(width, 0), 1 << 16)
    return total


def available_memory() -> int | None:
    """Bytes of memory available now (Linux's MemAvailable); None where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


# The JSON files beside the weights that transformers reads (each must be a JSON object, asking
# for no code of its own), and the files of which at least one makes a tokenizer.
JSON_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "vocab.json",
              "preprocessor_config.json", "processor_config.json", "video_preprocessor_config.json",
              "generation_config.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "vocab.txt", "spiece.model", "source.spm",
                   "sentencepiece.bpe.model", "tokenizer.model")


def check_files(folder: Path) -> None:
    """Every file in the folder (links followed: the Hugging Face cache links snapshots to blobs)
    is a regular file or a folder: a FIFO or a device would block or never end when read, so it
    is refused here, by its type, before anything opens it. A broken link is left to the files
    that need it."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as e:
        raise CheckpointError(f"{printable(folder)}: cannot list it ({e.strerror or type(e).__name__})") from None
    for entry in entries:
        try:
            mode = entry.stat().st_mode
        except OSError:
            continue
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise CheckpointError(f"{printable(folder / entry.name)}: is not a regular file (a FIFO, socket or "
                                  "device); refused before reading it")


def check_tokenizer(folder: Path) -> None:
    """The tokenizer's and processor's JSON files, where present, are JSON objects that ask for no
    code of their own (transformers would parse anything), and there is a tokenizer at all."""
    for name in JSON_FILES:
        path = folder / name
        if os.path.lexists(path) and _asks_for_code(_read_json(path, TOKENIZER_MAX_BYTES, name)):
            raise CheckpointError(f"{printable(path)}: asks to run code of its own (auto_map); refused: "
                                  "attnviewer loads only the tokenizers transformers itself defines")
    if not any(os.path.lexists(folder / name) for name in TOKENIZER_FILES):
        raise CheckpointError(f"{printable(folder)}: has no tokenizer files (tokenizer.json); save the tokenizer "
                              "beside the model with tokenizer.save_pretrained(folder)")


def folder_stamp(folder: str | Path) -> tuple:
    """What a folder holds now: each entry's (name, type, size, modification time, inode, device),
    links followed (the Hugging Face cache links snapshot files to blobs). Equal stamps: the same
    files, unchanged; a file rewritten or replaced in place changes it. The folder's own mtime
    would not: rewriting a file in place leaves its directory as it was."""
    folder = Path(folder)
    try:
        own = os.stat(folder)
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except (OSError, ValueError):
        return ()
    stamps = [("", own.st_dev, own.st_ino)]
    for entry in entries:
        try:
            st = entry.stat()
        except OSError:  # a broken link: the link itself
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                stamps.append((entry.name,))
                continue
        stamps.append((entry.name, stat.S_IFMT(st.st_mode), st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev))
    return tuple(stamps)


def inspect(path: str | Path, memory: int | None = None) -> FolderModel:
    """The folder's model, checked (see the module's docstring); CheckpointError in one line.
    The checks of the files are made once per folder_stamp (the model box, the pipeline and the
    loader all ask: tokenizer.json alone is tens of MB for large vocabularies); the memory check
    is made every time (memory comes and goes)."""
    folder = Path(path)
    if not folder.is_dir():
        raise CheckpointError(f"{printable(folder)}: not a model folder")
    info, need = _inspected(folder, folder_stamp(folder))
    _check_memory(folder, need, memory)
    return replace(info, config=copy.deepcopy(info.config), weights=list(info.weights))


@functools.lru_cache(maxsize=64)
def _inspected(folder: Path, stamp: tuple) -> tuple[FolderModel, int]:
    """The folder's checked model and the parameters its memory check counts (cached by the
    stamp of its files; a CheckpointError is not cached: the next call checks again)."""
    config_path = folder / "config.json"
    if not os.path.lexists(config_path):
        raise CheckpointError(f"{printable(folder)}: not a model folder (no config.json)")
    check_files(folder)
    config = _read_json(config_path, CONFIG_MAX_BYTES, "config (config.json)")
    if _asks_for_code(config):
        raise CheckpointError(f"{printable(folder)}: its config asks to run code of its own (auto_map); refused: "
                              "attnviewer loads only the architectures transformers itself defines")
    try:
        kind, family, arch = family_of(config)
    except CheckpointError as e:
        raise CheckpointError(f"{printable(folder)}: {e}") from None
    check_tokenizer(folder)
    files = _weight_files(folder)
    parameters, size, names = _count(files)
    if parameters == 0:
        raise CheckpointError(f"{printable(folder)}: its weight files hold no tensors")
    _check_layers(folder, config, names)
    return FolderModel(folder, kind, family, arch, config, files, parameters, size), \
        parameters + 2 * _position_tables(folder, config)


def _check_memory(folder: Path, parameters: int, memory: int | None) -> None:
    """CheckpointError if the weights (and the position tables of encoder and decoder), loaded as
    float32, would not fit in `memory` bytes (by default the memory available now)."""
    need = int(parameters * 4 * MEMORY_MARGIN)
    free = available_memory() if memory is None else memory
    if free is not None and need > free:
        raise CheckpointError(f"{printable(folder)}: {parameters / 1e6:,.0f} M parameters need about "
                              f"{need / 2**30:.1f} GiB of memory; {free / 2**30:.1f} GiB is available")


def folder_kind(path: str | Path) -> str:
    """What a model folder does (caption, video, translate), for the model box; CheckpointError."""
    return inspect(path).kind


# ---- the Hugging Face cache: models the user already has --------------------------------------


def hub_cache() -> Path:
    """Where transformers keeps downloaded models: $HF_HUB_CACHE, $HF_HOME/hub, or ~/.cache/huggingface/hub."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or "~/.cache", "huggingface")
    return Path(home).expanduser() / "hub"


def cached_folders(cache: Path | None = None, limit: int = 200) -> list[Path]:
    """The snapshot folders of models in the cache (`models--org--name/snapshots/<rev>`), newest
    revision of each model first, the supported ones only; nothing is downloaded or imported."""
    cache = hub_cache() if cache is None else cache
    found = []
    try:
        repos = sorted(p for p in cache.iterdir() if p.name.startswith("models--"))
    except OSError:
        return found
    for repo in repos[:limit]:
        try:
            snaps = sorted((repo / "snapshots").iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
        except OSError:
            continue
        for snap in snaps[:1]:
            try:
                inspect(snap)
            except CheckpointError:
                continue
            found.append(snap)
    return found


def cache_label(path: Path) -> str:
    """'Helsinki-NLP/opus-mt-en-de' for a cache snapshot; the folder's name otherwise."""
    parts = path.parts
    for i, part in enumerate(parts):
        if part.startswith("models--") and i + 2 < len(parts) and parts[i + 1] == "snapshots":
            return part[len("models--"):].replace("--", "/")
    return path.name


def folder_config(path: str | Path) -> dict:
    """What a kind reads before the model loads (a video encoder's frame count), from a checked
    folder; CheckpointError as inspect."""
    info = inspect(path)
    encoder = info.config.get("encoder")
    frames = encoder.get("num_frames") if isinstance(encoder, dict) else None
    return {"steps": frames} if isinstance(frames, int) and 1 <= frames <= 256 else {}
