"""Tiny transformers models with random weights and tokenizers built in code, saved as folders the
way save_pretrained writes them (no hub: nothing is downloaded)."""
from __future__ import annotations

import json
import os
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

WORDS = ["a", "red", "blue", "green", "circle", "square", "triangle", "star", "and", "the", "on", "left", "right",
         "of", "small", "big", "house", "cat", "dog", "sees", "is", "in", "garden", "der", "die", "das", "und"]


def _varied(model, std: float = 1.0, seed: int = 0) -> None:
    """Random weights with default init write one repeated token: larger ones vary the words."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2 and "embed" not in name.lower() and "wpe" not in name:
                p.copy_(torch.randn(p.shape, generator=g) * std / max(1.0, p.shape[-1] ** 0.25))


def word_tokenizer(specials=("<pad>", "<s>", "</s>", "<unk>"), pieces: bool = False):
    """A fast tokenizer over WORDS (WordLevel, or WordPiece with ## pieces), as PreTrainedTokenizerFast."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(specials)}
    for w in WORDS:
        vocab.setdefault(w, len(vocab))
    if pieces:
        for p in ("##s", "##er", "##ing", "hous", "gard", "##en", "##e"):
            vocab.setdefault(p, len(vocab))
        tok = Tokenizer(models.WordPiece(vocab, unk_token="<unk>", max_input_chars_per_word=50))
    else:
        tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>",
                                   unk_token="<unk>")


def with_eos(tokenizer):
    """The tokenizer adds </s> after a sentence, as Marian's does."""
    from tokenizers import processors

    eos = tokenizer.convert_tokens_to_ids("</s>")
    tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", eos)])
    return tokenizer


def _set_ids(model, start: int, end: int, pad: int) -> None:
    for cfg in (model.config, model.generation_config):
        cfg.decoder_start_token_id = start
        cfg.eos_token_id = end
        cfg.pad_token_id = pad
    model.generation_config.bos_token_id = start


def _preprocessor(folder: Path, size: int) -> None:
    (folder / "preprocessor_config.json").write_text(json.dumps({
        "do_normalize": True, "do_rescale": True, "do_resize": True, "image_mean": [0.5, 0.5, 0.5],
        "image_std": [0.5, 0.5, 0.5], "rescale_factor": 1 / 255, "resample": 2,
        "size": {"height": size, "width": size}, "image_processor_type": "ViTImageProcessor"}))


def vit_gpt2(folder: Path, encoder: str = "vit", size: int = 32, seed: int = 0) -> Path:
    """A ViT (or DeiT, BEiT, Swin) encoder with a GPT-2 decoder cross-attending to it."""
    import torch
    from transformers import (BeitConfig, BeitModel, DeiTConfig, DeiTModel, GPT2Config, GPT2LMHeadModel, SwinConfig,
                              SwinModel, ViTConfig, ViTModel, VisionEncoderDecoderModel)

    torch.manual_seed(seed)
    common = dict(image_size=size, patch_size=8, num_channels=3)
    if encoder == "vit":
        enc = ViTModel(ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                                 **common), add_pooling_layer=False)
    elif encoder == "deit":
        enc = DeiTModel(DeiTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                                   **common), add_pooling_layer=False)
    elif encoder == "beit":
        enc = BeitModel(BeitConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                                   use_mask_token=False, **common), add_pooling_layer=False)
    elif encoder == "swin":
        enc = SwinModel(SwinConfig(image_size=size, patch_size=4, embed_dim=16, depths=[1, 1], num_heads=[2, 2],
                                   window_size=4), add_pooling_layer=False)
    else:
        raise ValueError(encoder)
    tokenizer = word_tokenizer()
    dec = GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=2, n_head=4, n_positions=64,
                                     add_cross_attention=True, bos_token_id=1, eos_token_id=2, pad_token_id=0))
    model = VisionEncoderDecoderModel(encoder=enc, decoder=dec)
    _set_ids(model, 1, 2, 0)
    _varied(model.decoder, seed=seed)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    _preprocessor(folder, size)
    return folder


def marian(folder: Path, seed: int = 0) -> Path:
    """A Marian-shaped translator (encoder-decoder with its own tokenizer adding </s>)."""
    import torch
    from transformers import MarianConfig, MarianMTModel

    torch.manual_seed(seed)
    tokenizer = with_eos(word_tokenizer(pieces=True))
    model = MarianMTModel(MarianConfig(
        vocab_size=len(tokenizer), d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
        decoder_attention_heads=4, encoder_ffn_dim=37, decoder_ffn_dim=37, max_position_embeddings=64,
        pad_token_id=0, eos_token_id=2, decoder_start_token_id=0, forced_eos_token_id=None))
    _set_ids(model, 0, 2, 0)
    model.generation_config.bad_words_ids = None
    _varied(model, seed=seed)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
