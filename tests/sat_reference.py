"""The Show-Attend-Tell tutorial's side, written for the tests from its description: modules with
its structure and attribute names (pickled as the tutorial's `models.*` and torchvision's
`torchvision.models.resnet.Bottleneck`), saving them as its training script does, and its beam
search (caption.py's caption_image_beam_search) as an independent reference.

Neither the tutorial nor torchvision is installed here: `tutorial_modules()` registers stand-in
modules in sys.modules only while a checkpoint is being pickled, so that pickle records the names
a real checkpoint has.
"""
from __future__ import annotations

import contextlib
import json
import sys
import types
import warnings

import torch
import torch.nn.functional as F
from torch import nn

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


class Bottleneck(nn.Module):
    def __init__(self, cin, mid, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, mid * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(mid * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != mid * 4:
            self.downsample = nn.Sequential(nn.Conv2d(cin, mid * 4, 1, stride, bias=False), nn.BatchNorm2d(mid * 4))
        self.stride = stride

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


def resnet101_children() -> list[nn.Module]:
    """torchvision's resnet101 children without avgpool and fc: conv1, bn1, relu, maxpool, layer1..4."""
    out, cin = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)], 64
    for mid, n, stride in ((64, 3, 1), (128, 4, 2), (256, 23, 2), (512, 3, 2)):
        out.append(nn.Sequential(Bottleneck(cin, mid, stride), *[Bottleneck(mid * 4, mid) for _ in range(n - 1)]))
        cin = mid * 4
    return out


class Encoder(nn.Module):
    def __init__(self, encoded_image_size=14):
        super().__init__()
        self.enc_image_size = encoded_image_size
        self.resnet = nn.Sequential(*resnet101_children())
        self.adaptive_pool = nn.AdaptiveAvgPool2d((encoded_image_size, encoded_image_size))

    def forward(self, images):  # normalised images -> (B, 14, 14, 2048)
        return self.adaptive_pool(self.resnet(images)).permute(0, 2, 3, 1)


class Attention(nn.Module):
    def __init__(self, encoder_dim, decoder_dim, attention_dim):
        super().__init__()
        self.encoder_att = nn.Linear(encoder_dim, attention_dim)
        self.decoder_att = nn.Linear(decoder_dim, attention_dim)
        self.full_att = nn.Linear(attention_dim, 1)
        self.relu = nn.ReLU()
        self.softmax = nn.Softmax(dim=1)

    def forward(self, encoder_out, h):
        e = self.full_att(self.relu(self.encoder_att(encoder_out) + self.decoder_att(h).unsqueeze(1))).squeeze(2)
        alpha = self.softmax(e)
        return (encoder_out * alpha.unsqueeze(2)).sum(dim=1), alpha


class DecoderWithAttention(nn.Module):
    def __init__(self, attention_dim, embed_dim, decoder_dim, vocab_size, encoder_dim=2048, dropout=0.5):
        super().__init__()
        self.encoder_dim, self.attention_dim, self.embed_dim = encoder_dim, attention_dim, embed_dim
        self.decoder_dim, self.vocab_size = decoder_dim, vocab_size
        self.attention = Attention(encoder_dim, decoder_dim, attention_dim)
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.dropout = nn.Dropout(p=dropout)
        self.decode_step = nn.LSTMCell(embed_dim + encoder_dim, decoder_dim, bias=True)
        self.init_h = nn.Linear(encoder_dim, decoder_dim)
        self.init_c = nn.Linear(encoder_dim, decoder_dim)
        self.f_beta = nn.Linear(decoder_dim, encoder_dim)
        self.sigmoid = nn.Sigmoid()
        self.fc = nn.Linear(decoder_dim, vocab_size)

    def init_hidden_state(self, encoder_out):
        mean = encoder_out.mean(dim=1)
        return self.init_h(mean), self.init_c(mean)


for _cls, _module in ((Encoder, "models"), (Attention, "models"), (DecoderWithAttention, "models"),
                      (Bottleneck, "torchvision.models.resnet")):
    _cls.__module__ = _module


@contextlib.contextmanager
def tutorial_modules():
    """`models` and `torchvision.models.resnet` in sys.modules while pickling, then gone."""
    fakes = {
        "models": dict(Encoder=Encoder, Attention=Attention, DecoderWithAttention=DecoderWithAttention),
        "torchvision": {}, "torchvision.models": {}, "torchvision.models.resnet": dict(Bottleneck=Bottleneck),
    }
    saved = {name: sys.modules.get(name) for name in fakes}
    for name, attrs in fakes.items():
        module = types.ModuleType(name)
        module.__dict__.update(attrs)
        sys.modules[name] = module
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = old


def word_map(n_words: int) -> dict[str, int]:
    """A WORDMAP as the tutorial builds it: <pad> 0, words 1..n, then <unk>, <start>, <end>."""
    wm = {f"w{i}": i for i in range(1, n_words + 1)}
    wm.update({"<unk>": n_words + 1, "<start>": n_words + 2, "<end>": n_words + 3, "<pad>": 0})
    return wm


def make_decoder(vocab_size: int, seed: int, end_id: int, attention_dim=16, embed_dim=12, decoder_dim=24,
                 logit_scale=8.0, end_step=0.25) -> DecoderWithAttention:
    """A random decoder with clear choices (a sharpened output layer: no near ties between
    hypotheses) that ends its sentences after a few words: hidden unit 0 counts the steps (its
    gates open, its cell adds about `end_step` a step, from a start that depends on the image),
    and <end> grows likelier with it."""
    torch.manual_seed(seed)
    dec = DecoderWithAttention(attention_dim, embed_dim, decoder_dim, vocab_size)
    h = decoder_dim
    with torch.no_grad():
        dec.fc.weight.mul_(logit_scale)
        dec.fc.bias.mul_(logit_scale)
        for p in dec.attention.parameters():  # attention that is not uniform over the 196 regions
            p.mul_(4.0)
        dec.embedding.weight.normal_(0.0, 2.0)  # each word moves the state: varied sentences
        lstm = dec.decode_step
        for gate in range(4):  # unit 0 ignores its inputs ...
            lstm.weight_ih[gate * h].zero_()
            lstm.weight_hh[gate * h].zero_()
            lstm.bias_hh[gate * h] = 0.0
        for gate, bias in enumerate((10.0, 10.0, end_step, 10.0)):  # ... and adds tanh(end_step) a step
            lstm.bias_ih[gate * h] = bias
        dec.init_c.weight[0].normal_(0.0, 0.5 / (dec.encoder_dim ** 0.5 * 1.5))  # its start depends on the image
        dec.init_c.bias[0] = -0.5
        dec.fc.weight[end_id, 0] = 40.0
        dec.fc.bias[end_id] = -28.0
    return dec.eval()


def make_encoder(seed: int) -> Encoder:
    """A random ResNet-101 encoder whose BatchNorm statistics are those of random images (set by
    one pass in training mode), so that its features still depend on the image 33 blocks deep."""
    torch.manual_seed(seed)
    enc = Encoder()
    norms = [m for m in enc.modules() if isinstance(m, nn.BatchNorm2d)]
    with torch.no_grad():
        for m in norms:
            m.weight.uniform_(0.5, 1.5)
            m.bias.uniform_(-0.2, 0.2)
            m.momentum = 1.0  # the statistics of this one batch
        enc.train()
        enc((torch.rand(8, 3, 64, 64) - MEAN) / STD)
        for m in norms:
            m.momentum = 0.1
    return enc.eval()


def save_tutorial_checkpoint(path, encoder, decoder, zip_format=True, epoch=7, bleu4=0.2531):
    """torch.save of the dict the tutorial's train.py saves (its decoder optimizer has taken a step,
    so it holds state keyed by the parameters; no encoder optimizer, as without fine-tuning)."""
    opt = torch.optim.Adam(decoder.parameters(), lr=0.0)  # lr 0: a step leaves the weights as they are
    sum((p ** 2).sum() for p in decoder.parameters()).backward()
    opt.step()
    opt.param_groups[0]["lr"] = 4e-4
    decoder.zero_grad()
    state = {"epoch": epoch, "epochs_since_improvement": 0, "bleu-4": bleu4, "encoder": encoder,
             "decoder": decoder, "encoder_optimizer": None, "decoder_optimizer": opt}
    with tutorial_modules(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy format warns that it finds no source for the classes
        torch.save(state, path, _use_new_zipfile_serialization=zip_format)


def write_word_map(path, wm: dict) -> None:
    with open(path, "w") as f:
        json.dump(wm, f)


# -- the tutorial's decoding -------------------------------------------------------------------------


def tutorial_encode(encoder: Encoder, pixels: torch.Tensor) -> torch.Tensor:
    """pixels (1, 3, S, S) in 0..255 -> (1, 196, 2048), as caption.py: /255, ImageNet mean/std."""
    return encoder((pixels / 255.0 - MEAN) / STD).reshape(1, -1, 2048)


@torch.no_grad()
def tutorial_beam(decoder: DecoderWithAttention, encoder_out: torch.Tensor, start: int, end: int, beam: int):
    """caption_image_beam_search after the encoder, as its description says: the k hypotheses of
    one image batched; scores are sums of log-probabilities; after each step the best `s` of the
    s x V extensions are kept (at step 1 only the first row counts), those ending in <end> are set
    aside and s shrinks by their number; stop when s is 0 or after step 51; the best set-aside
    sequence by score wins. Returns (word ids without <start>, alphas (T, N), score), or None when
    no sequence ended (the tutorial would fail). Word rows use // (caption.py's `/` gives floats
    on newer torch)."""
    s, vocab_size = beam, decoder.vocab_size
    n = encoder_out.shape[1]
    enc = encoder_out.expand(s, n, encoder_out.shape[2])
    device = encoder_out.device
    prev = torch.full((s,), start, dtype=torch.long, device=device)
    seqs = prev[:, None]
    alphas = torch.ones(s, 1, n, device=device)
    top = torch.zeros(s, 1, device=device)
    done = []
    h, c = decoder.init_hidden_state(enc)
    step = 1
    while True:
        emb = decoder.embedding(prev)
        awe, alpha = decoder.attention(enc, h)
        awe = decoder.sigmoid(decoder.f_beta(h)) * awe
        h, c = decoder.decode_step(torch.cat([emb, awe], dim=1), (h, c))
        scores = top + F.log_softmax(decoder.fc(h), dim=1)
        flat = scores[0] if step == 1 else scores.view(-1)
        top_s, top_i = flat.topk(s)
        rows, words = top_i // vocab_size, top_i % vocab_size
        seqs = torch.cat([seqs[rows], words[:, None]], dim=1)
        alphas = torch.cat([alphas[rows], alpha[rows][:, None]], dim=1)
        going = [i for i, w in enumerate(words.tolist()) if w != end]
        ended = [i for i in range(len(words)) if i not in going]
        done += [(seqs[i, 1:].tolist(), alphas[i, 1:], float(top_s[i])) for i in ended]
        s -= len(ended)
        if s == 0:
            break
        seqs, alphas = seqs[going], alphas[going]
        keep = rows[going]
        h, c, enc = h[keep], c[keep], enc[keep]
        top, prev = top_s[going][:, None], words[going]
        if step > 50:
            break
        step += 1
    if not done:
        return None
    best = max(range(len(done)), key=lambda i: done[i][2])  # the first of equal scores, as list.index(max)
    return done[best]
