"""Model folders saved by Hugging Face transformers (`save_pretrained`): which ones attnviewer can
open, of which kind, and whether they are safe to load, read from `config.json` and the
safetensors headers alone (no torch, no transformers: the window lists them with this).

A folder is refused, in one line and before anything is imported or run, when its weights are
pickles only (`.bin`, `.pt`, `.ckpt`: loading them can run code), when its config asks for code
of its own (`auto_map`), when a file is not what it says, or when its weights would not fit in
memory (parameter count x dtype from the headers against the memory available).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from .headers import read_header
from .errors import CheckpointError, printable

CONFIG_MAX_BYTES = 4_000_000  # a config.json is a few KB; a larger one is no config
INDEX_MAX_BYTES = 50_000_000  # a sharded checkpoint's index (one line per tensor)
TOKENIZER_MAX_BYTES = 200_000_000  # tokenizer.json of large vocabularies is tens of MB
HEADER_MAX_BYTES = 100_000_000
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
        return path.is_dir() and (path / "config.json").exists()
    except (OSError, ValueError):
        return False


def _read_json(path: Path, limit: int, what: str) -> dict:
    """A JSON object from a regular file of at most `limit` bytes, or CheckpointError in one line."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise CheckpointError(f"{printable(path)}: cannot read its {what} ({e.strerror or type(e).__name__})") from None
    import stat

    if not stat.S_ISREG(st.st_mode):
        raise CheckpointError(f"{printable(path)}: its {what} is not a regular file")
    if st.st_size > limit:
        raise CheckpointError(f"{printable(path)}: its {what} is {st.st_size:,} bytes, more than the limit of {limit:,}")
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read())
    except OSError as e:
        raise CheckpointError(f"{printable(path)}: cannot read its {what} ({e.strerror or type(e).__name__})") from None
    except RecursionError:
        raise CheckpointError(f"{printable(path)}: its {what} is nested too deeply") from None
    except ValueError as e:
        raise CheckpointError(f"{printable(path)}: its {what} is not valid JSON ({' '.join(str(e).split())[:80]})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{printable(path)}: its {what} is not a JSON object")
    return data


def _asks_for_code(config) -> bool:
    """Whether a config (at any depth) names code of its own to import: auto_map, custom classes."""
    if isinstance(config, dict):
        return "auto_map" in config or any(_asks_for_code(v) for v in config.values())
    if isinstance(config, list):
        return any(_asks_for_code(v) for v in config)
    return False


def _str(config: dict, key: str) -> str:
    value = config.get(key)
    return value if isinstance(value, str) else ""


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
        if not decoder.get("add_cross_attention", False) and not decoder.get("is_decoder", False):
            raise CheckpointError(f"a VisionEncoderDecoder whose {_str(decoder, 'model_type') or 'decoder'} decoder "
                                  "has no cross-attention: nothing to show; supported: " + SUPPORTED)
        if enc_type in IMAGE_ENCODERS:
            return "caption", "vision-encoder-decoder", arch or "VisionEncoderDecoderModel"
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


def _count(files: list[Path]) -> tuple[int, int]:
    """(parameters, bytes) declared by the safetensors headers, each checked against its file."""
    import stat

    parameters = size = 0
    for path in files:
        try:
            st = os.stat(path)
        except OSError as e:
            raise CheckpointError(f"{printable(path)}: cannot read it ({e.strerror or type(e).__name__})") from None
        if not stat.S_ISREG(st.st_mode):
            raise CheckpointError(f"{printable(path)}: is not a regular file")
        try:
            header, data_bytes = read_header(path, HEADER_MAX_BYTES)
        except (OSError, ValueError) as e:
            raise CheckpointError(f"{printable(path)}: not a safetensors file ({' '.join(str(e).split())[:100]})") from None
        for name, info in header.items():
            if name == "__metadata__":
                continue
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
            parameters += n
            size += n * DTYPE_BYTES[dtype]
    return parameters, size


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


def check_tokenizer(folder: Path) -> None:
    """tokenizer.json, where present, must be a JSON object (transformers would parse anything)."""
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "preprocessor_config.json",
                 "generation_config.json"):
        path = folder / name
        if os.path.lexists(path):
            _read_json(path, TOKENIZER_MAX_BYTES, name)


def inspect(path: str | Path, memory: int | None = None) -> FolderModel:
    """The folder's model, checked (see the module's docstring); CheckpointError in one line."""
    folder = Path(path)
    if not folder.is_dir():
        raise CheckpointError(f"{printable(folder)}: not a model folder")
    config_path = folder / "config.json"
    if not config_path.exists():
        raise CheckpointError(f"{printable(folder)}: not a model folder (no config.json)")
    config = _read_json(config_path, CONFIG_MAX_BYTES, "config (config.json)")
    if _asks_for_code(config):
        raise CheckpointError(f"{printable(folder)}: its config asks to run code of its own (auto_map); refused: "
                              "attnviewer loads only the architectures transformers itself defines")
    kind, family, arch = family_of(config)
    check_tokenizer(folder)
    files = _weight_files(folder)
    parameters, size = _count(files)
    if parameters == 0:
        raise CheckpointError(f"{printable(folder)}: its weight files hold no tensors")
    need = int(parameters * 4 * MEMORY_MARGIN)  # loaded as float32
    free = available_memory() if memory is None else memory
    if free is not None and need > free:
        raise CheckpointError(f"{printable(folder)}: {parameters / 1e6:,.0f} M parameters need about "
                              f"{need / 2**30:.1f} GiB of memory; {free / 2**30:.1f} GiB is available")
    return FolderModel(folder, kind, family, arch, config, files, parameters, size)


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
