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


def _varied(model, std: float = 1.0, seed: int = 0, only: tuple[str, ...] = ()) -> None:
    """Random weights with default init write one repeated token: larger ones vary the words.
    `only`: vary just the weights whose names hold one of these (else all but the embeddings)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            chosen = any(part in name for part in only) if only else "embed" not in name.lower() and "wpe" not in name
            if p.dim() >= 2 and chosen:
                p.copy_(torch.randn(p.shape, generator=g) * std / max(1.0, p.shape[-1] ** 0.25))


def _vary_translator(model, seed: int, std: float = 0.3, parts: tuple[str, ...] = ()) -> None:
    """A translator that writes varied words depending on the source: its encoder and the decoder's
    cross-attention varied, the rest left small so the decoder's positions carry through, and an
    output layer of its own (tied to the embeddings it would copy the word it reads)."""
    import torch

    _varied(model, std=std, seed=seed, only=parts)
    head = model.get_output_embeddings().weight
    with torch.no_grad():
        head.copy_(torch.randn(head.shape, generator=torch.Generator().manual_seed(seed + 1)))


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


def _save(model, tokenizer, folder: Path) -> None:
    """What save_pretrained writes, without its progress bars in the test output."""
    from transformers.utils import logging

    logging.disable_progress_bar()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


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
    from transformers import BeitConfig, BeitModel, DeiTConfig, DeiTModel, SwinConfig, SwinModel, ViTConfig, ViTModel

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
    _with_gpt2(enc, folder, seed)
    _preprocessor(folder, size)
    return folder


def marian(folder: Path, seed: int = 0, decoder_layers: int = 2, decoder_heads: int = 4) -> Path:
    """A Marian-shaped translator (encoder-decoder with its own tokenizer adding </s>); the decoder
    may have other layer and head counts than the encoder's 2 x 4."""
    import torch
    from transformers import MarianConfig, MarianMTModel

    torch.manual_seed(seed)
    tokenizer = with_eos(word_tokenizer(pieces=True))
    model = MarianMTModel(MarianConfig(
        vocab_size=len(tokenizer), d_model=32, encoder_layers=2, decoder_layers=decoder_layers,
        encoder_attention_heads=4, decoder_attention_heads=decoder_heads, encoder_ffn_dim=37, decoder_ffn_dim=37, max_position_embeddings=64,
        pad_token_id=0, eos_token_id=2, decoder_start_token_id=0, forced_eos_token_id=None, tie_word_embeddings=False))
    _set_ids(model, 0, 2, 0)
    model.generation_config.bad_words_ids = None
    _vary_translator(model, seed, parts=("encoder_attn",))
    _save(model, tokenizer, folder)
    return folder


def _with_gpt2(encoder, folder: Path, seed: int) -> None:
    """The encoder with a GPT-2 decoder cross-attending to it, saved with a word tokenizer."""
    from transformers import VisionEncoderDecoderModel

    tokenizer = word_tokenizer()
    model = VisionEncoderDecoderModel(encoder=encoder, decoder=_gpt2(len(tokenizer)))
    _set_ids(model, 1, 2, 0)
    _vary_encoder_decoder(model, seed)
    _save(model, tokenizer, folder)


def _vary_encoder_decoder(model, seed: int) -> None:
    """Varied words that depend on the input: large weights in both halves, and GPT-2's learned
    positions apart (with their default init the decoder repeats one word)."""
    import torch

    _varied(model.encoder, seed=seed + 1)
    _varied(model.decoder, seed=seed)
    with torch.no_grad():
        wpe = model.decoder.transformer.wpe.weight
        wpe.copy_(torch.randn(wpe.shape, generator=torch.Generator().manual_seed(seed + 2)))


def _video_preprocessor(folder: Path, size: int, frames: int) -> None:
    (folder / "preprocessor_config.json").write_text(json.dumps({
        "do_normalize": True, "do_rescale": True, "do_resize": True, "image_mean": [0.45, 0.45, 0.45],
        "image_std": [0.225, 0.225, 0.225], "rescale_factor": 1 / 255, "resample": 2, "num_frames": frames,
        "size": {"shortest_edge": size}, "crop_size": {"height": size, "width": size},
        "image_processor_type": "VideoMAEImageProcessor"}))


def _gpt2(vocab_size: int):
    from transformers import GPT2Config, GPT2LMHeadModel

    return GPT2LMHeadModel(GPT2Config(vocab_size=vocab_size, n_embd=32, n_layer=2, n_head=4, n_positions=64,
                                      add_cross_attention=True, bos_token_id=1, eos_token_id=2, pad_token_id=0))


def video_gpt2(folder: Path, encoder: str = "timesformer", size: int = 16, frames: int = 4, seed: int = 0) -> Path:
    """A TimeSformer (CLS, then patch-major tokens) or VideoMAE (tubelets of 2 frames, no CLS) encoder
    with a GPT-2 decoder cross-attending to it."""
    import torch
    from transformers import TimesformerConfig, TimesformerModel, VideoMAEConfig, VideoMAEModel

    torch.manual_seed(seed)
    common = dict(image_size=size, patch_size=8, num_channels=3, num_frames=frames, hidden_size=32,
                  num_hidden_layers=2, num_attention_heads=4, intermediate_size=37)
    if encoder == "timesformer":
        enc = TimesformerModel(TimesformerConfig(**common))
    elif encoder == "videomae":
        enc = VideoMAEModel(VideoMAEConfig(tubelet_size=2, use_mean_pooling=False, **common))
    else:
        raise ValueError(encoder)
    _with_gpt2(enc, folder, seed)
    _video_preprocessor(folder, size, frames)
    return folder


def bert_tokenizer():
    """BLIP's kind of tokenizer: BERT WordPiece (## pieces), [DEC] starting a caption, [SEP] ending it."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]"))}
    for w in WORDS + ["##s", "##er", "##ing", "hous", "gard", "##en", "##e"]:
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=50))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]", bos_token="[DEC]")


def blip(folder: Path, size: int = 32, seed: int = 0) -> Path:
    """BLIP captioning: a ViT-like vision model and a BERT text decoder cross-attending to it."""
    import torch
    from transformers import BlipConfig, BlipForConditionalGeneration

    torch.manual_seed(seed)
    tokenizer = bert_tokenizer()
    ids = tokenizer.convert_tokens_to_ids
    text = dict(vocab_size=len(tokenizer), hidden_size=32, encoder_hidden_size=32, intermediate_size=37,
                num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=64, bos_token_id=ids("[DEC]"),
                eos_token_id=ids("[SEP]"), pad_token_id=ids("[PAD]"), sep_token_id=ids("[SEP]"))
    vision = dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4, image_size=size,
                  patch_size=8, initializer_range=0.02)
    model = BlipForConditionalGeneration(BlipConfig(text_config=text, vision_config=vision, projection_dim=32,
                                                    image_text_hidden_size=32))
    _varied(model.vision_model, seed=seed + 1)
    _varied(model.text_decoder, seed=seed)
    # learned positions apart, as GPT-2's (with their default init the decoder repeats one word)
    _varied(model.text_decoder, std=3.0, seed=seed + 2, only=("position_embeddings",))
    _save(model, tokenizer, folder)
    _preprocessor(folder, size)
    return folder


SP_PIECES = ["▁hous", "e", "▁gard", "en", "s", "er", "ing"]


def sentencepiece_tokenizer():
    """A SentencePiece-style tokenizer (T5's): Unigram pieces, ▁ marking a word's start, </s> added."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "</s>", "<unk>"]
    pieces = [(t, 0.0) for t in specials] + [("▁" + w, -1.0) for w in WORDS] + [(p, -2.0) for p in SP_PIECES]
    pieces += [("▁", -3.0)] + [(c, -5.0) for c in "abcdefghijklmnopqrstuvwxyz"]
    seen, vocab = set(), []
    for p, s in pieces:
        if p not in seen:
            seen.add(p)
            vocab.append((p, s))
    tok = Tokenizer(models.Unigram(vocab, unk_id=2))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>",
                                                       special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")


def byte_bpe_tokenizer():
    """BART's kind of tokenizer: byte-level BPE (Ġ marking a word's start), <s> ... </s> around a sentence."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=340, special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    corpus = [" ".join(WORDS[i:i + 5]) for i in range(0, len(WORDS), 2)] * 3 + ["houses gardens"]
    tok.train_from_iterator(corpus, trainer)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
                                                       special_tokens=[("<s>", 0), ("</s>", 2)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", pad_token="<pad>", eos_token="</s>",
                                   unk_token="<unk>")


def t5(folder: Path, seed: int = 0) -> Path:
    """A T5 translator: relative positions (no position limit), decoding starts with <pad>."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(seed)
    tokenizer = sentencepiece_tokenizer()
    model = T5ForConditionalGeneration(T5Config(
        vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=37, num_layers=2, num_decoder_layers=2, num_heads=4,
        relative_attention_num_buckets=8, relative_attention_max_distance=16, pad_token_id=0, eos_token_id=1,
        decoder_start_token_id=0, tie_word_embeddings=False))
    _set_ids(model, 0, 1, 0)
    # No positions but the relative bias of self-attention: large weights everywhere, a large bias,
    # small word embeddings, so the position in the sentence steers the words.
    _varied(model, std=1.0, seed=seed, only=("block", "lm_head"))
    _varied(model, std=3.0, seed=seed + 1, only=("relative_attention_bias",))
    _varied(model, std=0.1, seed=seed + 2, only=("shared",))
    _save(model, tokenizer, folder)
    return folder


def bart(folder: Path, seed: int = 0) -> Path:
    """A BART translator: starts with </s>, then the forced <s> (forced_bos_token_id), as BART's configs say."""
    import torch
    from transformers import BartConfig, BartForConditionalGeneration

    torch.manual_seed(seed)
    tokenizer = byte_bpe_tokenizer()
    model = BartForConditionalGeneration(BartConfig(
        vocab_size=len(tokenizer), d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
        decoder_attention_heads=4, encoder_ffn_dim=37, decoder_ffn_dim=37, max_position_embeddings=64,
        bos_token_id=0, pad_token_id=1, eos_token_id=2, decoder_start_token_id=2, forced_bos_token_id=0,
        forced_eos_token_id=None, tie_word_embeddings=False))
    _set_ids(model, 2, 2, 1)
    model.generation_config.forced_bos_token_id = 0
    model.generation_config.bos_token_id = 0
    _vary_translator(model, seed, parts=("encoder_attn", "embed_positions"))
    _save(model, tokenizer, folder)
    return folder
