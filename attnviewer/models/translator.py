"""Sequence to sequence with attention (Luong et al. 2015): a bidirectional GRU reads the source,
an LSTM writes the target, attending over the source words at every step.

    h_t = LSTM([E y_{t-1}; h~_{t-1}], h_{t-1})      (input feeding: the last attentional state)
    a_t = align(h_t, source)                        (global: all words; local-p: a window)
    h~_t = tanh(W_c [c_t; h_t])                     p(y_t) = softmax(W_s h~_t)

The step attends with the state after reading the previous word, so a step's attention is the
one that emitted its word. Local-p attention predicts a source position p_t = S sigmoid(v^T
tanh(W_p h_t)) and weights the window [p_t - D, p_t + D] with a Gaussian of sigma D/2; the
weights are renormalised to sum to 1 so they read like global ones.
With `reverse_source` the encoder reads the source backwards (Sutskever et al.), but its outputs
are put back in source order, so attention positions always mean source words as written.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .attention import Attention, context_by_owner
from .forcing import forced
from .words import PAD, SPECIALS, UNK, encode_words, padded, set_vocabulary, word_log_probs

TARGET_SPECIALS = SPECIALS
SOURCE_SPECIALS = (PAD, UNK)
ENCODERS = ("bigru", "gru")
ATTENTIONS = ("global", "local")
TOKENIZERS = ("words", "corpus")  # media/text.py's (the bundled models), data/corpus.py's (train --data)


@dataclass
class TranslatorConfig:
    source_vocab_size: int
    target_vocab_size: int
    embed_dim: int = 64
    hidden_dim: int = 128
    encoder: str = "bigru"  # bigru | gru (one direction)
    score: str = "additive"
    attention: str = "global"  # global | local (Luong's local-p)
    window: int = 3  # D of local attention: the window is 2D + 1 words
    reverse_source: bool = False
    input_feeding: bool = True
    dropout: float = 0.1
    max_len: int = 40  # longest translation, in words
    max_source_len: int = 60  # longest source; location-based scores need a fixed size
    tokenizer: str = "words"  # how a sentence is split into the words it reads: as its training pairs were

    @classmethod
    def from_dict(cls, d: dict) -> "TranslatorConfig":
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(sorted(unknown))}")
        config = cls(**d)
        if config.encoder not in ENCODERS:
            raise ValueError(f"unknown encoder {config.encoder!r}")
        if config.attention not in ATTENTIONS:
            raise ValueError(f"unknown attention {config.attention!r}")
        if config.tokenizer not in TOKENIZERS:
            raise ValueError(f"unknown tokenizer {config.tokenizer!r}")
        if config.window < 1:  # p_t lies within half a word of some position: D >= 1 keeps one in the window
            raise ValueError(f"the local window must be at least 1 word, got {config.window}")
        return config

    def to_dict(self) -> dict:
        return asdict(self)


class Translator(nn.Module):
    kind = "translate"
    per_input_state = ("keys", "values", "mask", "lengths")  # the same for every hypothesis of a sentence
    input_attributes = ("_source_len",)  # set by init_state; a kept encoding puts it back (pipeline.Encoded)

    def __init__(self, config: TranslatorConfig, vocab: dict[str, list[str]]):
        super().__init__()
        source, target = vocab["source"], vocab["target"]
        if (len(source), len(target)) != (config.source_vocab_size, config.target_vocab_size):
            raise ValueError(f"vocabularies of {len(source)} and {len(target)} words, but the config says "
                             f"{config.source_vocab_size} and {config.target_vocab_size}")
        self.config, self.source_vocab = config, source
        self.source_index = {w: i for i, w in enumerate(source)}
        set_vocabulary(self, target)
        h, e = config.hidden_dim, config.embed_dim
        bidirectional = config.encoder == "bigru"
        self.source_embedding = nn.Embedding(len(source), e, padding_idx=self.source_index[PAD])
        self.encoder = nn.GRU(e, h, batch_first=True, bidirectional=bidirectional)
        # One size for memory and state, so every score function (dot too) compares them directly.
        self.bridge = nn.Linear(2 * h if bidirectional else h, h)
        self.init_h, self.init_c = nn.Linear(h, h), nn.Linear(h, h)
        self.attention = Attention(h, h, config.score, h, config.max_source_len)
        self.position = nn.Sequential(nn.Linear(h, h), nn.Tanh(), nn.Linear(h, 1)) if config.attention == "local" else None
        self.embedding = nn.Embedding(len(target), e)
        self.lstm = nn.LSTMCell(e + (h if config.input_feeding else 0), h)
        self.combine = nn.Linear(2 * h, h)
        self.dropout = nn.Dropout(config.dropout)
        self.fc = nn.Linear(h, len(target))
        self._source_len = 1

    @property
    def vocab_record(self) -> dict[str, list[str]]:
        """What the checkpoint stores as the vocabulary: both sides."""
        return {"source": self.source_vocab, "target": self.vocab}

    # -- text ----------------------------------------------------------------------------------

    def encode_source(self, words: list[str]) -> list[int]:
        unk = self.source_index[UNK]
        return [self.source_index.get(w, unk) for w in words]

    def unknown_words(self, words: list[str]) -> list[str]:
        return [w for w in words if w not in self.source_index]

    def encode_text(self, text: str) -> list[int]:
        """A target sentence as ids with <start> and <end> (training)."""
        return encode_words(self, text)

    def source_batch(self, sentences: list[list[str]], device=None) -> tuple[Tensor, Tensor]:
        """Padded source ids (B, S) and lengths (B,) of tokenised sentences."""
        lengths = torch.tensor([len(s) for s in sentences])
        ids = padded([self.encode_source(s) for s in sentences], self.source_index[PAD])
        return ids.to(device), lengths.to(device)

    # -- the interface every decoding function uses --------------------------------------------

    @property
    def attention_shape(self) -> tuple[int]:
        """(S,): the source length of the batch last given to init_state (hypotheses of shorter
        sentences in a batch carry zeros on the padding)."""
        return (self._source_len,)

    def init_state(self, source: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
        """source: (ids (B, S), lengths (B,)) as source_batch makes them."""
        ids, lengths = source
        memory = self.encode(ids, lengths)
        mask = torch.arange(ids.shape[1], device=ids.device)[None] < lengths[:, None]
        mean = (memory * mask[..., None]).sum(1) / lengths[:, None].to(memory.dtype)
        self._source_len = ids.shape[1]
        h = torch.tanh(self.init_h(mean))
        return {
            "h": h, "c": torch.tanh(self.init_c(mean)), "feed": torch.zeros_like(h),
            "keys": self.attention.prepare(memory), "values": memory, "mask": mask,
            "lengths": lengths.to(memory.dtype),
        }

    def encode(self, ids: Tensor, lengths: Tensor) -> Tensor:
        """Memory (B, S, H), one vector per source word in source order (padding: zeros)."""
        if self.config.reverse_source:
            ids = ids.gather(1, _reversal(lengths, ids.shape[1]))
        packed = pack_padded_sequence(self.source_embedding(ids), lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.encoder(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=ids.shape[1])
        if self.config.reverse_source:
            out = out.gather(1, _reversal(lengths, ids.shape[1])[..., None].expand_as(out))
        return torch.tanh(self.bridge(out))

    def step(
        self, state: dict[str, Tensor], prev_tokens: Tensor, sample_attention: bool | None = None,
        parents: Tensor | None = None, owner: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """One word: (log_probs (B, V), attention (B, S), new state).

        Beam search's `parents` name the state row each word continues (`owner`: each state row's
        sentence, where they are not equal groups); every child reads its own word before
        attending, so nothing is shared: the rows are gathered first. A sentence whose beam
        narrowed has fewer words than another: then each word's sentence is passed on.
        """
        words_owner = owner  # (parents None: each word continues its own row)
        if parents is not None:
            words_owner = _words_owner(state["keys"].shape[0], state["h"].shape[0], parents, owner)
            state = {n: v if n in self.per_input_state else v.index_select(0, parents) for n, v in state.items()}
        logits, weights, new = self._step(state, prev_tokens, words_owner)
        return word_log_probs(self, logits), weights, new

    def _step(self, state: dict[str, Tensor], prev_tokens: Tensor, owner: Tensor | None = None):
        embedded = self.embedding(prev_tokens)
        x = torch.cat([embedded, state["feed"]], dim=1) if self.config.input_feeding else embedded
        h, c = self.lstm(self.dropout(x), (state["h"], state["c"]))
        weights = self._align(h, state if owner is None else dict(state, owner=owner))
        values = state["values"]
        if owner is None:
            context = (weights.view(values.shape[0], -1, values.shape[1]) @ values).reshape(h.shape[0], -1)
        else:
            context = context_by_owner(weights, values, owner)
        attentional = torch.tanh(self.combine(torch.cat([context, h], dim=1)))
        new = dict(state, h=h, c=c, feed=attentional)
        return self.fc(self.dropout(attentional)), weights, new

    def _align(self, h: Tensor, state: dict[str, Tensor]) -> Tensor:
        """Attention weights (rows, S) of the query rows: equal groups of rows per sentence, or
        each row's sentence in state["owner"]."""
        owner = state.get("owner")
        e = self.attention.scores(h, state["keys"], owner)
        if owner is None:
            g = h.shape[0] // state["keys"].shape[0]
            mask, lengths = state["mask"].repeat_interleave(g, dim=0), state["lengths"].repeat_interleave(g)
        else:
            mask, lengths = state["mask"].index_select(0, owner), state["lengths"].index_select(0, owner)
        if self.position is None:
            return torch.softmax(e.masked_fill(~mask, float("-inf")), dim=-1)
        p = (lengths - 1) * torch.sigmoid(self.position(h)).squeeze(1)  # the predicted source position
        where = torch.arange(e.shape[1], device=e.device, dtype=e.dtype)[None]
        distance = where - p[:, None]
        window = mask & (distance.abs() <= self.config.window)
        weights = torch.softmax(e.masked_fill(~window, float("-inf")), dim=-1)
        sigma = self.config.window / 2
        weights = weights * torch.exp(-(distance**2) / (2 * sigma**2))
        return weights / weights.sum(1, keepdim=True).clamp_min(1e-12)

    # -- training ------------------------------------------------------------------------------

    def forward(self, source: tuple[Tensor, Tensor], targets: Tensor, sampling: float = 0.0) -> tuple[Tensor, Tensor]:
        """Teacher forcing (scheduled sampling with probability `sampling`, see forcing.py).
        targets (B, T) start with <start>; predicts targets[:, 1:].
        Returns logits (B, T-1, V) and attention (B, T-1, S)."""
        return forced(self, self.init_state(source), targets, sampling)


def _words_owner(inputs: int, state_rows: int, parents: Tensor, owner: Tensor | None) -> Tensor | None:
    """Each word row's sentence, or None where every sentence has as many words (equal groups)."""
    if owner is None:
        owner = torch.arange(state_rows, device=parents.device) // (state_rows // inputs)
    words = owner.index_select(0, parents)
    counts = torch.bincount(words, minlength=inputs)
    return None if bool((counts == counts[0]).all()) else words


def _reversal(lengths: Tensor, size: int) -> Tensor:
    """(B, size) indices that reverse each row's first lengths[b] entries and keep the padding."""
    i = torch.arange(size, device=lengths.device)[None]
    n = lengths[:, None].to(i.dtype)
    return torch.where(i < n, n - 1 - i, i)
