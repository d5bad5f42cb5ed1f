"""Show, Attend and Tell: an LSTM decoder attending over a grid of image regions.

Each step attends with the previous hidden state, gates the context (beta), feeds
[embedding of the previous word; context] to the LSTM and predicts the next word from the new
hidden state (with the deep output layer: from the previous word, the new state and the
context together), so the attention of a step is the attention that emitted that step's word.
Regions carry two coordinate channels: a left-to-right caption needs to know where things are.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
from torch import Tensor, nn

from .attention import Attention, Gate
from .encoders import BACKBONES, ImageEncoder, coordinate_grid
from .forcing import forced

from .words import SPECIALS, encode_words, set_vocabulary, word_log_probs  # noqa: F401  (SPECIALS re-exported)


@dataclass
class CaptionerConfig:
    vocab_size: int
    encoder: str = "efficientnet-lite0"
    image_size: int = 160  # images are resized to a square of this side
    coords: bool = True  # append (x, y) of each cell to its region vector
    embed_dim: int = 64
    hidden_dim: int = 256
    attn_dim: int = 256
    score: str = "additive"
    hard: bool = False  # stochastic hard attention (trained with REINFORCE)
    gate: bool = True
    dropout: float = 0.3
    max_len: int = 20
    ds_lambda: float = 0.0  # weight of the doubly stochastic penalty it was trained with
    deep_output: bool = False  # SAT's deep output: the word is read from [y_prev, h, context]
    # What the Show-Attend-Tell tutorial's models differ in (models/sat_tutorial.py imports them):
    pooled_grid: int = 0  # pool the encoder's map adaptively to this many cells a side (0: keep it)
    attn_activation: str = "tanh"  # of the additive score; the tutorial's is relu
    vector_gate: bool = False  # the gate has one value per region channel, not one scalar
    init_tanh: bool = True  # h0, c0 = tanh(linear(mean region)); the tutorial's have no tanh
    all_words: bool = False  # the softmax also covers <pad> and <start> (ours rules them out)
    resize: str = "opencv"  # how an image becomes the model's square (media.images.RESIZES); the tutorial's: PIL bilinear

    @classmethod
    def from_dict(cls, d: dict) -> "CaptionerConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(sorted(unknown))}")
        return cls(**d)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def grid(self) -> tuple[int, int]:
        if self.pooled_grid:
            return self.pooled_grid, self.pooled_grid
        side = -(-self.image_size // BACKBONES[self.encoder].stride)  # "same" padding
        return side, side


class Captioner(nn.Module):
    kind = "caption"
    per_input_state = ("keys", "values")  # the same for every hypothesis of one image

    def __init__(self, config: CaptionerConfig, vocab: list[str]):
        super().__init__()
        if len(vocab) != config.vocab_size:
            raise ValueError(f"vocab has {len(vocab)} words but the config says {config.vocab_size}")
        self.config = config
        set_vocabulary(self, vocab)
        if config.all_words:
            self.never = self.never[:0]
        self.encoder = ImageEncoder(config.encoder, config.pooled_grid)
        region_dim = self.encoder.channels + (2 if config.coords else 0)
        n_regions = config.grid[0] * config.grid[1]
        h = config.hidden_dim
        # Dot-style scores compare the decoder state with the regions directly, so the regions are
        # first projected to the state's size (the keys); the context still mixes raw regions.
        dot_style = config.score in ("dot", "scaled_dot")
        self.key_proj = nn.Linear(region_dim, h) if dot_style else None
        key_dim = h if dot_style else region_dim
        self.attention = Attention(h, key_dim, config.score, config.attn_dim, n_regions, config.hard,
                                   config.attn_activation)
        self.gate = Gate(h, region_dim if config.vector_gate else 1) if config.gate else None
        self.embedding = nn.Embedding(config.vocab_size, config.embed_dim)
        self.init_h = nn.Linear(region_dim, h)
        self.init_c = nn.Linear(region_dim, h)
        self.lstm = nn.LSTMCell(config.embed_dim + region_dim, h)
        self.dropout = nn.Dropout(config.dropout)
        if config.deep_output:  # L_o(E y_{t-1} + L_h h_t + L_z z_t), as in Show, Attend and Tell
            self.out_h = nn.Linear(h, config.embed_dim)
            self.out_z = nn.Linear(region_dim, config.embed_dim, bias=False)
            self.fc = nn.Linear(config.embed_dim, config.vocab_size)
        else:
            self.fc = nn.Linear(h, config.vocab_size)

    # -- the interface every decoding function uses --------------------------------------------

    @property
    def attention_shape(self) -> tuple[int, int]:
        return self.config.grid

    def regions(self, pixels: Tensor) -> Tensor:
        """pixels (B, 3, S, S) in 0..255 -> regions (B, N, C) from the encoder, without coordinates."""
        feats, _ = self.encoder(pixels)
        return feats

    def init_state(self, pixels: Tensor) -> dict[str, Tensor]:
        return self.init_state_from_regions(self.regions(pixels))

    def init_state_from_regions(self, regions: Tensor) -> dict[str, Tensor]:
        """Every tensor of the state has the batch first, so beam search can reorder it."""
        if self.config.coords:
            coords = coordinate_grid(*self.config.grid, device=regions.device).to(regions.dtype)
            regions = torch.cat([regions, coords.expand(regions.shape[0], -1, -1)], dim=2)
        mean = regions.mean(dim=1)
        squash = torch.tanh if self.config.init_tanh else (lambda x: x)
        return {
            "h": squash(self.init_h(mean)),
            "c": squash(self.init_c(mean)),
            "values": regions,
            "keys": self.attention.prepare(self.key_proj(regions) if self.key_proj else regions),
        }

    def step(
        self, state: dict[str, Tensor], prev_tokens: Tensor, sample_attention: bool | None = None,
        parents: Tensor | None = None, owner: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """One word: (log_probs (B, V), attention (B, N), new state).

        With `parents` (B,), the state holds fewer rows than there are words to write: row r
        continues state row parents[r], and owner gives each state row's input (the row of its
        keys). The hypotheses a beam grew from one parent share that parent's attention, since a
        step attends before it reads its previous word, so each parent attends only once.
        With hard attention and sampling on, the state's "location" holds the sampled region and
        "log_prob" its log probability.
        """
        logits, weights, new = self._step(state, prev_tokens, sample_attention, parents, owner)
        return word_log_probs(self, logits), weights, new

    def _step(self, state, prev_tokens, sample_attention=None, parents=None, owner=None):
        h, c = state["h"], state["c"]
        att = self.attention(h, state["keys"], state["values"], sample=sample_attention, owner=owner)
        context = self.gate(h, att.context) if self.gate is not None else att.context
        if parents is not None:  # from here on, one row per word
            h, c, context = (x.index_select(0, parents) for x in (h, c, context))
            att = att._replace(**{name: None if x is None else x.index_select(0, parents)
                                  for name, x in zip(att._fields, att) if name != "context"})
        embedded = self.embedding(prev_tokens)
        h, c = self.lstm(torch.cat([embedded, context], dim=1), (h, c))
        new = dict(state, h=h, c=c)
        if att.sample is not None:
            new["location"], new["log_prob"] = att.sample, att.log_prob
        if self.config.deep_output:
            # The context enters the word's logits directly, so the region a step attends to is
            # the evidence for the word it emits.
            return self.fc(self.dropout(embedded + self.out_h(h) + self.out_z(context))), att.weights, new
        return self.fc(self.dropout(h)), att.weights, new

    # -- training ------------------------------------------------------------------------------

    def forward(self, regions: Tensor, captions: Tensor,
                sampling: float = 0.0) -> tuple[Tensor, Tensor, Tensor | None]:
        """Teacher forcing (scheduled sampling with probability `sampling`, see forcing.py).
        captions (B, T) start with <start>; predicts captions[:, 1:].

        Returns logits (B, T-1, V), attention (B, T-1, N) and, for hard attention, the log
        probabilities (B, T-1) of the sampled locations for a REINFORCE term.
        """
        states = []
        logits, weights = forced(self, self.init_state_from_regions(regions), captions, sampling, states)
        lp = torch.stack([s["log_prob"] for s in states], 1) if "log_prob" in states[0] else None
        return logits, weights, lp

    # -- text ----------------------------------------------------------------------------------

    def encode_text(self, text: str) -> list[int]:
        return encode_words(self, text)
