"""Small shared helpers for the tests: tiny randomly initialised models with fixed seeds."""
from __future__ import annotations

import pytest
import torch

from attnviewer.models.captioner import SPECIALS, Captioner, CaptionerConfig

WORDS = ("a", "red", "green", "blue", "circle", "square", "star", "and", ",")
VOCAB = list(SPECIALS) + list(WORDS)


def tiny_captioner(
    seed: int = 0,
    score: str = "additive",
    image_size: int = 64,
    hidden: int = 32,
    max_len: int = 7,
    vocab: list[str] | None = None,
    end_bias: float = 0.0,
    logit_scale: float = 3.0,
    hard: bool = False,
) -> Captioner:
    """A tiny Captioner with random weights (small-cnn encoder), in eval mode.

    logit_scale sharpens the output layer so that the random model prefers some words clearly
    (no near ties between hypotheses); end_bias makes <end> more or less likely.
    """
    vocab = list(vocab or VOCAB)
    torch.manual_seed(seed)
    config = CaptionerConfig(
        vocab_size=len(vocab), encoder="small-cnn", image_size=image_size, embed_dim=16,
        hidden_dim=hidden, attn_dim=hidden, score=score, hard=hard, dropout=0.0, max_len=max_len,
    )
    model = Captioner(config, vocab)
    with torch.no_grad():
        model.fc.weight.mul_(logit_scale)
        model.fc.bias.mul_(logit_scale)
        model.fc.bias[model.end_id] += end_bias
    return model.eval()


def random_regions(model: Captioner, batch: int, seed: int = 1, scale: float = 3.0) -> torch.Tensor:
    """Random encoder output (B, N, C) of the right size for the model's grid.

    The scale makes the random model's captions depend visibly on its input.
    """
    gen = torch.Generator().manual_seed(seed)
    gh, gw = model.attention_shape
    return scale * torch.randn(batch, gh * gw, model.encoder.channels, generator=gen)


GUI_TIMEOUT = 30_000  # ms: waits on the window end on a condition, this is only the limit


def wait_finished(qtbot, w, slot="main"):
    """Until the newest job of a side has finished and is what the side shows, drawn whole."""
    side = w.sides[slot]
    qtbot.waitUntil(lambda: side.jobs.pending is None and side.state.result is not None
                    and side.state.job == w.engine.latest_job(slot) and not w.drawing, timeout=GUI_TIMEOUT)


def caption_done(qtbot, w, path):
    """Open an image in the window and wait until its caption is finished and on screen."""
    w.open_file(str(path))
    wait_finished(qtbot, w)
    qtbot.waitUntil(lambda: w.shown is not None and w.shown.path == str(path), timeout=GUI_TIMEOUT)
    return w.sides["main"].state


def tiny_translator(seed: int = 0, score: str = "additive", attention: str = "global", reverse: bool = False,
                    encoder: str = "bigru", max_len: int = 8):
    """A small Translator with random weights over the generated pair's vocabularies, in eval mode."""
    from attnviewer.data.pairs import vocabularies
    from attnviewer.models.translator import SOURCE_SPECIALS, TARGET_SPECIALS, Translator, TranslatorConfig

    source, target = vocabularies()
    vocab = {"source": list(SOURCE_SPECIALS) + source, "target": list(TARGET_SPECIALS) + target}
    torch.manual_seed(seed)
    config = TranslatorConfig(
        source_vocab_size=len(vocab["source"]), target_vocab_size=len(vocab["target"]), embed_dim=16,
        hidden_dim=24, encoder=encoder, score=score, attention=attention, reverse_source=reverse,
        dropout=0.0, max_len=max_len,
    )
    model = Translator(config, vocab)
    with torch.no_grad():
        model.fc.weight.mul_(3.0)
    return model.eval()


def tiny_video_captioner(seed: int = 0, score: str = "additive", max_len: int = 8):
    """A small VideoCaptioner with random weights over the generated clips' words, in eval mode."""
    from attnviewer.data.clip_events import clip_vocabulary
    from attnviewer.models.video_captioner import SPECIALS as VIDEO_SPECIALS
    from attnviewer.models.video_captioner import VideoCaptioner, VideoConfig

    vocab = list(VIDEO_SPECIALS) + clip_vocabulary()
    torch.manual_seed(seed)
    config = VideoConfig(vocab_size=len(vocab), feature_dim=16, hidden_dim=24, embed_dim=8, score=score,
                         dropout=0.0, max_len=max_len)
    model = VideoCaptioner(config, vocab)
    with torch.no_grad():
        model.fc.weight.mul_(3.0)
    return model.eval()


def mount_tmpfs(folder, size: str) -> str | None:
    """None if a tmpfs of `size` is now mounted at `folder` (created here), else why not (for a skip)."""
    import os
    import shutil
    import subprocess

    if shutil.which("mount") is None:
        return "no mount command"
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        return "not root: cannot mount a tmpfs"
    folder.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                       capture_output=True, text=True)
    return None if r.returncode == 0 else f"mount -t tmpfs failed: {r.stderr.strip() or r.returncode}"


def damaged_package(folder, package: str, reason: str) -> str:
    """`folder`, made to hold a `package` whose import fails with ImportError(reason), as a damaged
    installation's does, once the folder is first on the module path."""
    (folder / package).mkdir()
    (folder / package / "__init__.py").write_text(f"raise ImportError({reason!r})\n")
    return str(folder)


@pytest.fixture
def one_torch_thread():
    """Tiny models on shared cores: one thread each avoids oversubscription."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def drained(gen) -> tuple[list, object]:
    """(everything a generator yielded, what it returned): a decoding's streamed steps and result."""
    out = []
    while True:
        try:
            out.append(next(gen))
        except StopIteration as stop:
            return out, stop.value
