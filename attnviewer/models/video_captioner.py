"""A video captioner with temporal attention: S2VT's encoder-decoder, arranged so that the
decoder has to look at the right moment.

Every sampled frame goes through a small CNN (appearance, f_t); its change from the previous
frame (d_t = f_t - f_{t-1}) sits beside it, a 1-d convolution over time mixes neighbouring steps,
and a learned embedding of each step's position is added: the memory the decoder attends over,
one vector per step. The decoder is an LSTM like Show-Attend-Tell's, attending with its previous
state before it reads the previous word, so a step's attention is the one that emitted its word.

Two choices measured on this project's machines (shared/notes/video-calibration.md): the decoder
starts from a fixed learned state, not from a summary of the clip (from a summary it captions
without looking and the attention sinks to the first and last steps); and the memory carries
frame-to-frame change (from appearance alone, a change of state is readable from the first and
last frames, so the attention never needs the event).

Both can be switched back for contrast: `summary_start` starts the decoder from the clip's summary
(tanh of a linear map of the memory's mean, as Show-Attend-Tell starts h and c) and
`change_features=False` convolves appearance alone: together, the plain S2VT design (video-s2vt).

For real videos, `appearance="efficientnet-lite0"` replaces the small CNN with the image
captioner's frozen ImageNet encoder, its regions averaged into one 112-d vector per frame and
projected to feature_dim: that pooled vector depends only on the frame, so training on a corpus
computes it once (training/video_corpus.py) and gives it to init_state and forward in place of
the frames.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
from torch import Tensor, nn

from .attention import Attention
from .encoders import ImageEncoder
from .forcing import forced
from .words import SPECIALS, encode_words, set_vocabulary, word_log_probs  # noqa: F401  (SPECIALS re-exported)


@dataclass
class VideoConfig:
    vocab_size: int
    frame_size: int = 48  # frames are resized to a square of this side
    steps: int = 12  # frames sampled from a clip
    feature_dim: int = 128
    hidden_dim: int = 192
    embed_dim: int = 48
    score: str = "additive"
    dropout: float = 0.2
    max_len: int = 16
    summary_start: bool = False  # h, c start from tanh(Linear(mean of the memory)), not a learned state
    change_features: bool = True  # the memory reads [f, f_t - f_{t-1}]; False: appearance f alone
    appearance: str = "cnn"  # cnn: FrameEncoder, trained; efficientnet-lite0: frozen, pooled, projected

    @classmethod
    def from_dict(cls, d: dict) -> "VideoConfig":
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(sorted(unknown))}")
        config = cls(**d)
        if config.appearance not in APPEARANCES:
            raise ValueError(f"unknown appearance {config.appearance!r}; choose one of {', '.join(APPEARANCES)}")
        return config

    def to_dict(self) -> dict:
        return asdict(self)


class FrameEncoder(nn.Module):
    """(N, 3, S, S) frames in 0..255 -> (N, feature_dim): three strided convolutions, then a
    linear layer over the whole map, so where a shape is stays in the feature."""

    def __init__(self, size: int, dim: int):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(3, 32, 5, stride=2, padding=2), nn.ReLU(),
            nn.Conv2d(32, 48, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(48, 64, 3, stride=2, padding=1), nn.ReLU(),
        )
        side = -(-size // 8)
        self.fc = nn.Linear(64 * side * side, dim)

    def forward(self, frames: Tensor) -> Tensor:
        x = self.conv(frames / 127.5 - 1.0)
        return torch.relu(self.fc(x.flatten(1)))


class PooledImageFeatures(nn.Module):
    """(N, 3, S, S) frames in 0..255 -> (N, dim): the frozen image encoder's regions, averaged
    (`pooled`, what a corpus caches), then a trained projection (`project`)."""

    def __init__(self, dim: int):
        super().__init__()
        self.encoder = ImageEncoder("efficientnet-lite0")
        self.encoder.requires_grad_(False)
        self.fc = nn.Linear(self.encoder.channels, dim)

    def train(self, mode: bool = True):
        super().train(mode)
        self.encoder.eval()  # frozen: its batch norm statistics stay ImageNet's
        return self

    @torch.no_grad()
    def pooled(self, frames: Tensor) -> Tensor:
        regions, _ = self.encoder(frames)
        return regions.mean(1)

    def project(self, pooled: Tensor) -> Tensor:
        return torch.relu(self.fc(pooled.to(self.fc.weight.dtype)))

    def forward(self, frames: Tensor) -> Tensor:
        return self.project(self.pooled(frames))


APPEARANCES = {"cnn": FrameEncoder, "efficientnet-lite0": PooledImageFeatures}


class VideoCaptioner(nn.Module):
    kind = "video"
    per_input_state = ("keys", "values")  # the same for every hypothesis of one clip

    def __init__(self, config: VideoConfig, vocab: list[str]):
        super().__init__()
        if len(vocab) != config.vocab_size:
            raise ValueError(f"vocab has {len(vocab)} words but the config says {config.vocab_size}")
        self.config = config
        set_vocabulary(self, vocab)
        h, f = config.hidden_dim, config.feature_dim
        if config.appearance == "cnn":
            self.frames = FrameEncoder(config.frame_size, f)
        else:
            self.frames = PooledImageFeatures(f)
        self.temporal = nn.Conv1d((2 if config.change_features else 1) * f, h, kernel_size=3, padding=1)
        self.time = nn.Embedding(config.steps, h)
        self.attention = Attention(h, h, config.score, h, config.steps)
        if config.summary_start:  # only the layers a config uses, so older files load unchanged
            self.init_h, self.init_c = nn.Linear(h, h), nn.Linear(h, h)
        else:
            self.start_h = nn.Parameter(torch.zeros(h))
            self.start_c = nn.Parameter(torch.zeros(h))
        self.embedding = nn.Embedding(config.vocab_size, config.embed_dim)
        self.lstm = nn.LSTMCell(config.embed_dim + h, h)
        self.dropout = nn.Dropout(config.dropout)
        self.fc = nn.Linear(2 * h, config.vocab_size)

    @property
    def attention_shape(self) -> tuple[int]:
        return (self.config.steps,)

    def memory(self, frames: Tensor) -> Tensor:
        """frames (B, T, 3, S, S) in 0..255 -> (B, T, H), one vector per step. With the
        efficientnet-lite0 appearance, the frames' cached pooled features (B, T, C) serve too."""
        b, t = frames.shape[:2]
        if t != self.config.steps:
            raise ValueError(f"the model reads {self.config.steps} frames a clip, got {t}")
        if frames.dim() == 3:
            f = self.frames.project(frames)
        else:
            f = self.frames(frames.flatten(0, 1)).view(b, t, -1)
        if self.config.change_features:
            change = torch.cat([torch.zeros_like(f[:, :1]), f[:, 1:] - f[:, :-1]], dim=1)
            f = torch.cat([f, change], dim=2)
        x = self.temporal(f.transpose(1, 2)).transpose(1, 2)
        return torch.relu(x) + self.time.weight[None, :t]

    def init_state(self, frames: Tensor) -> dict[str, Tensor]:
        memory = self.memory(frames)
        b = memory.shape[0]
        if self.config.summary_start:
            summary = memory.mean(1)
            h, c = torch.tanh(self.init_h(summary)), torch.tanh(self.init_c(summary))
        else:
            h, c = self.start_h.expand(b, -1).contiguous(), self.start_c.expand(b, -1).contiguous()
        return {"h": h, "c": c, "keys": self.attention.prepare(memory), "values": memory}

    def step(
        self, state: dict[str, Tensor], prev_tokens: Tensor, sample_attention: bool | None = None,
        parents: Tensor | None = None, owner: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """One word: (log_probs (B, V), attention (B, T), new state). As in the image captioner,
        a beam's children of one parent share its attention: `parents` fans rows out after it."""
        logits, weights, new = self._step(state, prev_tokens, parents, owner)
        return word_log_probs(self, logits), weights, new

    def _step(self, state, prev_tokens, parents=None, owner=None):
        h, c = state["h"], state["c"]
        att = self.attention(h, state["keys"], state["values"], owner=owner)
        weights, context = att.weights, att.context
        if parents is not None:  # from here on, one row per word
            h, c, weights, context = (x.index_select(0, parents) for x in (h, c, weights, context))
        h, c = self.lstm(torch.cat([self.embedding(prev_tokens), context], dim=1), (h, c))
        logits = self.fc(self.dropout(torch.cat([h, context], dim=1)))
        return logits, weights, dict(state, h=h, c=c)

    def forward(self, frames: Tensor, captions: Tensor, sampling: float = 0.0) -> tuple[Tensor, Tensor]:
        """Teacher forcing (scheduled sampling with probability `sampling`, see forcing.py): logits
        (B, L-1, V) and attention (B, L-1, T) for captions (B, L)."""
        return forced(self, self.init_state(frames), captions, sampling)

    def encode_text(self, text: str) -> list[int]:
        return encode_words(self, text)
