"""Show-Attend-Tell tutorial checkpoints as ordinary caption models.

The widely used PyTorch tutorial (sgrvinod's "a-PyTorch-Tutorial-to-Image-Captioning") saves
`BEST_checkpoint_<name>.pth.tar`: a pickled dict holding its `models.Encoder` (torchvision's
ResNet-101 without avgpool and fc, then adaptive pooling to 14x14) and
`models.DecoderWithAttention`, plus optimizers, and a `WORDMAP_<name>.json` (word -> index).
The pickle is read with models/safe_pickle.py (nothing in it runs) and its weights become a
Captioner with the tutorial's options (CaptionerConfig): relu in the additive score, a gate per
encoder channel, h0 and c0 without tanh, a softmax over every word, 256 px images normalised with
ImageNet's mean and std (inside the resnet101 encoder), no coordinate channels.

Parameter names, tutorial -> ours:
    encoder.resnet.*                 -> encoder.backbone.resnet.*
    attention.encoder_att.weight     -> attention.key_proj.weight
    attention.decoder_att.weight     -> attention.query_proj.weight
    attention.encoder_att.bias + attention.decoder_att.bias -> attention.query_proj.bias
        (relu(W_e x + b_e + W_d h + b_d): one bias does for both)
    attention.full_att.weight        -> attention.v.weight
    attention.full_att.bias          -> (dropped: the same for every region, the softmax ignores it)
    decode_step.*                    -> lstm.*
    f_beta.*                         -> gate.f_beta.*
    embedding.*, init_h.*, init_c.*, fc.* keep their names.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from pydantic import TypeAdapter, ValidationError

from ..errors import CheckpointError, first_line
from ..files import open_regular, regular_file
from ..validation import describe
from .captioner import Captioner, CaptionerConfig
from .checkpoint import build_model
from .header import POOLED_GRID, Vocabulary
from .header import CaptionConfig as CaptionSchema
from .safe_pickle import Checkpoint, LazyTensor, Placeholder, lazy_state_dict

IMAGE_SIZE = 256  # caption.py resizes every image to 256 x 256
MAX_LEN = 51  # its beam search stops after step 51 ("if step > 50"): 50 words and <end>
ENCODER_DIM = 2048
WORDMAP_MAX_BYTES = 64 * 1024**2
RECORD_KEYS = ("epoch", "epochs_since_improvement", "bleu-4")  # kept in the training record
_VOCABULARY = TypeAdapter(Vocabulary)

RENAMES = {  # decoder prefix -> ours; the attention's biases are merged apart
    "attention.encoder_att.weight": "attention.key_proj.weight",
    "attention.decoder_att.weight": "attention.query_proj.weight",
    "attention.full_att.weight": "attention.v.weight",
    "decode_step.": "lstm.",
    "f_beta.": "gate.f_beta.",
    "embedding.": "embedding.", "init_h.": "init_h.", "init_c.": "init_c.", "fc.": "fc.",
}


@dataclass
class Imported:
    model: Captioner
    training: dict  # what the tutorial's checkpoint says of its training (epoch, BLEU-4)


def read_word_map(path: str | Path) -> list[str]:
    """WORDMAP_*.json (word -> index) as our vocabulary list (index -> word), held to the rules of
    a model file's vocabulary (header.Vocabulary), or the file written would not load."""
    path = Path(path)
    regular_file(path, CheckpointError, "the word map")  # /dev/zero or a FIFO never ends
    try:
        with open_regular(path) as f:
            raw = f.read(WORDMAP_MAX_BYTES + 1)  # the limit holds even for a file growing as it is read
        if len(raw) > WORDMAP_MAX_BYTES:
            raise CheckpointError(f"{path}: word map larger than {WORDMAP_MAX_BYTES // 1024**2} MB")
        word_map = json.loads(raw.decode("utf-8"))
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read word map ({e.strerror or type(e).__name__})") from None
    except (ValueError, RecursionError) as e:  # not UTF-8, not JSON
        raise CheckpointError(f"{path}: word map is not JSON ({first_line(e)})") from None
    if not isinstance(word_map, dict):
        raise CheckpointError(f"{path}: word map is not a JSON object of word -> index")
    vocab: list[str | None] = [None] * len(word_map)
    for word, index in word_map.items():
        if type(index) is not int or not 0 <= index < len(word_map) or vocab[index] is not None:
            raise CheckpointError(f"{path}: word map's indices are not 0..{len(word_map) - 1}, each once "
                                  f"(at {word[:40]!r}: {str(index)[:20]})")
        vocab[index] = word
    try:
        return _VOCABULARY.validate_python(vocab)
    except ValidationError as e:
        raise CheckpointError(f"{path}: word map {describe(e)}") from None


def _module(root, key: str, name: str, path: Path) -> Placeholder:
    node = root.get(key) if isinstance(root, dict) else None
    if not isinstance(node, Placeholder) or node.qualname != f"models.{name}":
        raise CheckpointError(f"{path}: not a Show-Attend-Tell tutorial checkpoint (no models.{name} "
                              f"under '{key}')")
    return node


def _shape(tensors: dict[str, LazyTensor], name: str, path: Path, rank: int) -> tuple:
    t = tensors.get(name)
    if t is None or len(t.size) != rank:
        raise CheckpointError(f"{path}: the decoder has no {rank}-d {name}; not the tutorial's DecoderWithAttention")
    return t.size


def _pooled_grid(encoder: Placeholder, path: Path) -> int:
    pool = (encoder.state.get("_modules") or {}).get("adaptive_pool")
    size = pool.state.get("output_size") if isinstance(pool, Placeholder) else None
    if isinstance(size, (tuple, list)) and len(size) == 2 and size[0] == size[1]:
        size = size[0]
    if type(size) is not int or not 1 <= size <= POOLED_GRID[1]:
        raise CheckpointError(f"{path}: the encoder's adaptive pooling is not to a square grid of at most "
                              f"{POOLED_GRID[1]} cells a side")
    return size


def _dropout(decoder: Placeholder) -> float:
    module = (decoder.state.get("_modules") or {}).get("dropout")
    p = module.state.get("p") if isinstance(module, Placeholder) else None
    return float(p) if isinstance(p, float) and 0.0 <= p <= 1.0 else 0.5


def config_of(encoder: Placeholder, decoder: Placeholder, tensors: dict[str, LazyTensor], n_words: int,
              path: Path) -> CaptionerConfig:
    """Our config for the tutorial's modules, from the shapes of the decoder's weights (`tensors`)."""
    vocab_size, hidden = _shape(tensors, "fc.weight", path, 2)
    attn_dim, encoder_dim = _shape(tensors, "attention.encoder_att.weight", path, 2)
    embed_dim = _shape(tensors, "embedding.weight", path, 2)[1]
    if encoder_dim != ENCODER_DIM:
        raise CheckpointError(f"{path}: the decoder reads {encoder_dim}-d regions; ResNet-101 gives {ENCODER_DIM}")
    if vocab_size != n_words:
        raise CheckpointError(f"{path}: the decoder writes {vocab_size} words but the word map has {n_words}; "
                              "is it the WORDMAP of this checkpoint?")
    return tutorial_config(vocab_size, embed_dim, hidden, attn_dim, _pooled_grid(encoder, path), _dropout(decoder))


def tutorial_config(vocab_size: int, embed_dim: int, decoder_dim: int, attention_dim: int, grid: int = 14,
                    dropout: float = 0.5) -> CaptionerConfig:
    """Our config of a tutorial model of these sizes (the tutorial's defaults: 512, 512, 512, 14)."""
    return CaptionerConfig(
        vocab_size=vocab_size, encoder="resnet101", image_size=IMAGE_SIZE, coords=False, embed_dim=embed_dim,
        hidden_dim=decoder_dim, attn_dim=attention_dim, score="additive", gate=True, dropout=dropout,
        max_len=MAX_LEN, pooled_grid=grid, attn_activation="relu", vector_gate=True, init_tanh=False,
        all_words=True, resize="pil-bilinear",
    )


def our_state(encoder: dict[str, torch.Tensor], decoder: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The tutorial's weights under our names (see the table above); names we do not know are kept
    as they are, so that building the model names the first one that does not fit."""
    state = {}
    for name, t in encoder.items():
        state["encoder.backbone." + name if name.startswith("resnet.") else "encoder." + name] = t
    biases = [decoder.get(f"attention.{n}.bias") for n in ("encoder_att", "decoder_att")]
    for name, t in decoder.items():
        if name in ("attention.encoder_att.bias", "attention.decoder_att.bias", "attention.full_att.bias"):
            continue
        ours = next((new + name[len(old):] for old, new in RENAMES.items() if name.startswith(old)), name)
        state[ours] = t
    if all(b is not None for b in biases):
        state["attention.query_proj.bias"] = biases[0] + biases[1]
    for name in [n for n in state if n.endswith(".running_mean")]:  # saved by torch < 0.4.1: no step counter
        state.setdefault(name.replace(".running_mean", ".num_batches_tracked"), torch.tensor(0))
    return state


def _record(root: dict, path: Path) -> dict:
    record = {"imported": "sat-tutorial", "source": Path(path).name}
    for key in RECORD_KEYS:
        value = root.get(key)
        if type(value) in (int, float) and math.isfinite(value):
            record[key] = value
    return record


def import_tutorial(checkpoint: str | Path, word_map: str | Path) -> Imported:
    """Read a tutorial checkpoint and its word map (nothing in them runs) into a Captioner."""
    path = Path(checkpoint)
    regular_file(path, CheckpointError, "the checkpoint")  # a FIFO would block the reads below
    vocab = read_word_map(word_map)
    ckpt = Checkpoint(path)
    root = ckpt.root
    encoder, decoder = _module(root, "encoder", "Encoder", path), _module(root, "decoder", "DecoderWithAttention", path)
    decoder_weights = lazy_state_dict(decoder)  # their shapes make the config; read once it passes
    config = config_of(encoder, decoder, decoder_weights, len(vocab), path)
    try:  # the limits every model file is held to (or the file written would not load)
        CaptionSchema.model_validate(config.to_dict())
    except ValidationError as e:
        raise CheckpointError(f"{path}: the model is outside attnviewer's limits: {describe(e)}") from None
    decoder_state = {name: ckpt.tensor(lazy) for name, lazy in decoder_weights.items()}
    model = build_model(path, "caption", config.to_dict(), vocab, our_state(ckpt.state_dict(encoder), decoder_state))
    return Imported(model.eval(), _record(root, path))
