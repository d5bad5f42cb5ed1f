"""A transformers encoder-decoder driven one word at a time by attnviewer's own decoding.

The encoder runs once per input; each step feeds the decoder the previous word with its
key/value cache (reordered by the beam's parents like any other state) and eager attention, so
every layer's and head's cross-attention exists: a step returns it as [layers, heads, tokens]
over the encoder's tokens, and lens.Places (built here, from the input) maps the tokens to the
kind's places. The interface is the one decoding/search.py drives for every model:

    init_state(inputs) -> state;  step(state, prev) -> (log_probs (B, V), attention (B, L, H, N), state)

Three families differ only in how they encode and which module decodes: VisionEncoderDecoder and
AutoModelForSeq2SeqLM models decode through their top-level forward with `encoder_outputs`; BLIP's
text decoder is decoder-only and takes the image as `encoder_hidden_states` (its own generate()
returns no cross-attention: ours has it).
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from ...lens import Places, rollout


@dataclass
class HFConfig:
    """What the rest of the app reads from a model's config (image_size for the image kind, steps
    and frame_size for the video kind, max_len for decoding, max_source_len for sentences)."""

    max_len: int = 30
    image_size: int = 224
    resize: str = "pil-bilinear"  # transformers' image processors resize with Pillow, bilinear
    mean: tuple = (0.5, 0.5, 0.5)
    std: tuple = (0.5, 0.5, 0.5)
    rescale: float = 1 / 255
    normalize: bool = True
    steps: int = 8  # video: frames the encoder reads
    frame_size: int = 224
    max_source_len: int = 512
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


class CacheRows:
    """A transformers key/value cache in a decoding state: beam search reorders and repeats the
    rows of every state entry, and this does that to the cache's tensors (in place: the search
    drops the old state)."""

    def __init__(self, cache):
        self.cache = cache

    @property
    def unstarted(self) -> bool:
        """No word read yet: decoding makes a new cache rather than growing this one, so an
        encoding whose state holds it can be decoded from again (a what-if edit)."""
        return self.cache is None

    def index_select(self, dim: int, index: Tensor) -> "CacheRows":
        if self.cache is not None:
            self.cache.reorder_cache(index)
        return self

    def repeat_interleave(self, repeats: int, dim: int = 0) -> "CacheRows":
        if self.cache is not None:
            self.cache.batch_repeat_interleave(repeats)
        return self


def _cache_keyword(module: nn.Module) -> str:
    """transformers 5.x renamed past_key_values to cache (the old name warns until it goes)."""
    params = inspect.signature(module.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def _returned_cache(out):
    cache = out.get("cache") if hasattr(out, "get") else None
    return cache if cache is not None else out.get("past_key_values")


class Stepper(nn.Module):
    """The app's model interface around a transformers model (see the module's docstring)."""

    attends_after_reading = True  # a step's attention depends on the word it reads (the query)
    scores_per_search = True  # beam search passes beam=True: the rules then apply as generate()'s beam search does
    per_input_state = ()
    input_attributes = ("input_places", "attention_shape", "_copies")  # set by encoding an input (pipeline.Encoded)

    def __init__(self, hf: nn.Module, family: str, kind: str, tokenizer, config: HFConfig,
                 start_id: int, end_id: int, banned: list[int] | None = None, forced_first: int | None = None,
                 patch: int | None = None, tubelet: int = 1, rules=None, length_penalty: float = 1.0,
                 early_stopping: bool | str = True):
        super().__init__()
        self.hf, self.family, self.kind, self.tokenizer, self.config = hf, family, kind, tokenizer, config
        self.start_id, self.end_id = int(start_id), int(end_id)
        self.banned = sorted(set(banned or []))
        self.forced_first = forced_first
        self.rules = rules  # rules.GenerationRules of the folder's generation_config, or None
        self.length_penalty, self.early_stopping = float(length_penalty), early_stopping  # beam, as generate()'s
        self.patch, self.tubelet = patch, tubelet
        self._copies: Tensor | None = None  # VideoMAE: the encoder token each (frame, patch) copies
        decoder = hf.text_decoder if family == "blip" else hf
        self._decoder = decoder
        self._cache_kw = _cache_keyword(decoder)
        pieces = raw_pieces(tokenizer, self.vocab_size())  # (50,000 for GPT-2: listed once)
        self.vocab = readable_vocab(tokenizer, self.vocab_size(), pieces)
        self.word_starts = word_starts(tokenizer, self.vocab_size(), pieces)  # per id: does the piece begin a word
        self.input_places: list[Places] = []
        self.attention_shape: tuple[int, ...] = ()
        self.name = ""
        self.training_record, self.domain = {}, None

    def vocab_size(self) -> int:
        if self.family == "blip":
            return self.hf.config.text_config.vocab_size
        cfg = self.hf.config.decoder if self.family == "vision-encoder-decoder" else self.hf.config
        return int(getattr(cfg, "vocab_size", None) or len(self.tokenizer))

    # -- encoding -----------------------------------------------------------------------------

    def _pixels(self, pixels: Tensor) -> Tensor:
        """0..255 pixels as the kind gives them -> what the vision encoder was trained on."""
        c = self.config
        x = pixels.float() * c.rescale
        if c.normalize:
            shape = (1,) * (x.dim() - 3) + (3, 1, 1)
            x = (x - torch.tensor(c.mean, device=x.device).view(shape)) / torch.tensor(c.std, device=x.device).view(shape)
        return x.to(next(self.hf.parameters()).dtype)

    def encode(self, inputs) -> tuple[Tensor, Tensor | None, list[Places]]:
        """(encoder states (B, N, D), encoder mask (B, N) or None, the Places of each input)."""
        if self.kind == "translate":
            ids, mask, places = inputs
            out = self.hf.get_encoder()(input_ids=ids, attention_mask=mask, output_attentions=True, return_dict=True)
            for i, p in enumerate(places):
                n = int(mask[i].sum())
                p.rollout = _rollout(out.attentions, i, n, ids.shape[1], len(ids))
            return out.last_hidden_state, mask, places
        pixels = self._pixels(inputs)
        encoder = self.hf.vision_model if self.family == "blip" else self.hf.encoder
        out = encoder(pixel_values=pixels, output_attentions=True, return_dict=True)
        states = out.last_hidden_state
        places = [self._vision_places(states.shape[1], out.attentions, i, pixels.shape) for i in range(len(pixels))]
        return states, None, places

    def _vision_places(self, n_tokens: int, attentions, i: int, shape) -> Places:
        from .places import image_places, video_places

        self._copies = None
        rolled = _rollout(attentions, i, n_tokens, n_tokens, shape[0])
        if self.kind == "video":
            p, copies = video_places(n_tokens, shape[1], shape[-2], shape[-1], self.tubelet,
                                     self.hf.config.encoder.model_type)
            if copies is not None:  # VideoMAE's tubelets: a copy of each per frame, sharing its weight
                self._copies = torch.as_tensor(copies, device=self.hf.device)
                rolled = None if rolled is None else rolled[np.ix_(copies, copies)] / self.tubelet
        else:
            p = image_places(n_tokens, shape[-2], shape[-1], self.patch)
        p.rollout = rolled
        return p

    # -- the decoding interface ---------------------------------------------------------------

    def init_state(self, inputs) -> dict:
        states, mask, places = self.encode(inputs)
        self.input_places = places
        self.attention_shape = (self.n_layers, self.n_heads, len(places[0].token_place))
        state = {"encoder": states, "cache": CacheRows(None)}
        if mask is not None:
            state["mask"] = mask
        if self.rules:  # the ids each row has read so far (reordered with the rows, like the cache)
            state["ids"] = torch.zeros((len(states), 0), dtype=torch.long, device=states.device)
            if self.rules.encoder_ngram and self.kind == "translate":
                state["source"] = inputs[0].to(states.device)
        return state

    @property
    def longest(self) -> int:
        """The most words the decoder has positions for (after its start token)."""
        cfg = self._decoder_config()
        n = getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None)
        if not isinstance(n, int) or n <= 1 or getattr(cfg, "model_type", "") in ("t5", "mt5", "umt5", "longt5"):
            return 10**6  # relative positions: no limit of their own
        return n - 1

    @property
    def n_layers(self) -> int:
        # the decoder's own counts first: a seq2seq config's num_hidden_layers is its encoder's
        return _count(self._decoder_config(), "decoder_layers", "num_decoder_layers", "num_hidden_layers",
                      "num_layers")

    @property
    def n_heads(self) -> int:
        return _count(self._decoder_config(), "decoder_attention_heads", "num_attention_heads", "num_heads")

    def _decoder_config(self):
        if self.family == "blip":
            return self.hf.config.text_config
        if self.family == "vision-encoder-decoder":
            return self.hf.config.decoder
        return self.hf.config

    def step(self, state: dict, prev_tokens: Tensor, parents: Tensor | None = None, owner: Tensor | None = None,
             sample_attention=None, beam: bool = False) -> tuple[Tensor, Tensor, dict]:
        if parents is not None:  # (a search that shares parents' rows; ours are always per word)
            state = {n: v.index_select(0, parents) for n, v in state.items()}
        cache = state["cache"].cache
        kwargs = {self._cache_kw: cache, "use_cache": True, "output_attentions": True, "return_dict": True}
        ids = prev_tokens[:, None]
        if self.family == "blip":
            out = self._decoder(input_ids=ids, encoder_hidden_states=state["encoder"], **kwargs)
        else:
            from transformers.modeling_outputs import BaseModelOutput

            extra = {"attention_mask": state["mask"]} if "mask" in state else {}
            out = self.hf(encoder_outputs=BaseModelOutput(last_hidden_state=state["encoder"]),
                          decoder_input_ids=ids, **extra, **kwargs)
        logits = out.logits[:, -1, :].float()
        if self.banned:
            logits[:, self.banned] = float("-inf")
        if cache is None and self.forced_first is not None:  # mBART's target language tag
            forced = torch.full_like(logits, float("-inf"))
            forced[:, self.forced_first] = 0.0
            logits = forced
        attention = torch.stack([a[:, :, -1, :] for a in out.cross_attentions], dim=1).float()  # (B, L, H, N)
        if self._copies is not None:  # a tubelet's weight, shared equally among its frames
            attention = attention[..., self._copies] / self.tubelet
        new = dict(state, cache=CacheRows(_returned_cache(out)))
        if "ids" not in state:
            return torch.log_softmax(logits, dim=-1), attention, new
        # generate() applies the rules to the logits in greedy search and sampling, to the log
        # probabilities in beam search (not renormalised: a beam's score sums these)
        new["ids"] = ids = torch.cat([state["ids"], prev_tokens[:, None]], dim=1)
        source = state.get("source")
        if beam:
            return self.rules(ids, torch.log_softmax(logits, dim=-1), source), attention, new
        return torch.log_softmax(self.rules(ids, logits, source), dim=-1), attention, new

    # -- sentences ----------------------------------------------------------------------------

    def sentence_words(self, text: str) -> list[str]:
        """The words of a sentence as the model's pieces group them (what the tiles show)."""
        from .places import word_groups

        return word_groups(self.tokenizer, text)[0]

    def source_batch(self, texts: list[str], device=None):
        """(ids (B, S), mask (B, S), the Places of each sentence: pieces -> words)."""
        from .places import word_groups

        rows, places = [], []
        for text in texts:
            words, ids, token_place, labels = word_groups(self.tokenizer, text)
            if len(ids) > self.config.max_source_len:
                from ...errors import MediaError

                raise MediaError(f"{text[:40]!r}: {len(ids)} pieces; this model reads at most {self.config.max_source_len}")
            rows.append(ids)
            places.append(Places(np.asarray(token_place), (len(words),), labels))
        width = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, :len(r)] = torch.tensor(r)
            mask[i, :len(r)] = 1
            places[i].token_place = np.concatenate([places[i].token_place, -np.ones(width - len(r), dtype=np.int64)])
            places[i].labels += [""] * (width - len(r))
        return ids.to(device), mask.to(device), places

    def joined(self, ids: list[int]) -> str:
        """The words as the tokenizer writes the pieces out ("skate" "board" -> "skateboard")."""
        return " ".join(self.tokenizer.decode(list(ids), skip_special_tokens=True).split())

    def unknown_words(self, words: list[str]) -> list[str]:
        """Words the tokenizer can only write as its unknown token (a word-level vocabulary's
        out-of-vocabulary words; byte-level pieces spell every word)."""
        unk = self.tokenizer.unk_token_id
        if unk is None:
            return []
        return [w for w in words if unk in self.tokenizer(w, add_special_tokens=False)["input_ids"]]

    def encode_text(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def swap_attention(self, step: int, weights):
        """A context in which decoding step `step` attends as `weights` (over the places) says, in
        every cross-attention layer and head (whatif's attention intervention; intervention.py)."""
        from .intervention import swapped

        return swapped(self, step, weights)


def _count(cfg, *names: str) -> int:
    """The first of these config fields that is set."""
    for name in names:
        value = getattr(cfg, name, None)
        if isinstance(value, int) and value > 0:
            return value
    raise ValueError(f"the decoder's config names none of {', '.join(names)}")


def _rollout(attentions, i: int, n: int, width: int, batch: int) -> np.ndarray | None:
    """The encoder's rollout for input i (its first n of `width` tokens), padded back to width;
    None where the encoder's attention is not over all its tokens of each input at once (Swin's
    windows, TimeSformer's divided space-time attention: their batch is inputs x windows or frames)."""
    if not attentions or any(a is None or a.shape[0] != batch or a.shape[-2:] != (width, width) for a in attentions):
        return None
    stacked = torch.stack([a[i, :, :n, :n] for a in attentions]).detach().float().cpu().numpy()  # (attribution runs with gradients)
    out = np.zeros((width, width), dtype=np.float32)
    out[:n, :n] = rollout(stacked)
    return out


def raw_pieces(tokenizer, size: int) -> list[str]:
    """Each id's piece as the tokenizer names it (ids past the tokenizer left out)."""
    return ["" if t is None else str(t) for t in tokenizer.convert_ids_to_tokens(list(range(min(size, len(tokenizer)))))]


def word_starts(tokenizer, size: int, pieces: list[str] | None = None) -> list[bool]:
    """Whether each id's piece begins a word: with WordPiece all but ## continuations; with
    SentencePiece (▁) or byte-BPE (Ġ) marks only the marked pieces; special and added tokens always;
    a tokenizer with no marks at all writes whole words."""
    if tokenizer is None:
        return [True] * size
    tokens = raw_pieces(tokenizer, size) if pieces is None else pieces
    own = set(getattr(tokenizer, "all_special_ids", None) or [])
    own |= set(getattr(tokenizer, "added_tokens_decoder", None) or {})
    wordpiece = any(t.startswith("##") and len(t) > 2 for t in tokens)
    marked = not wordpiece and any(t.startswith(("▁", "Ġ")) for t in tokens)
    starts = [i in own or not t or (t.startswith(("▁", "Ġ")) if marked else not (wordpiece and t.startswith("##")))
              for i, t in enumerate(tokens)]
    return starts + [True] * (size - len(starts))


def readable_vocab(tokenizer, size: int, pieces: list[str] | None = None) -> list[str]:
    """Each id's token as a user reads it: SentencePiece's ▁ and byte-BPE's Ġ (word starts) dropped,
    a WordPiece continuation's ## kept (it says the piece continues a word)."""
    if tokenizer is None:
        return [str(i) for i in range(size)]
    words = []
    for t in raw_pieces(tokenizer, size) if pieces is None else pieces:
        if t.startswith(("▁", "Ġ")) and len(t) > 1:
            t = t[1:]
        words.append(t)
    words += [f"<{i}>" for i in range(len(words), size)]  # ids past the tokenizer (padded embeddings)
    return words
