"""Beam search on an imported Show-Attend-Tell tutorial model: our batched search over many images
against the tutorial's way (caption.py: one image at a time, its k hypotheses batched).

    python benchmarks/sat_beam.py [--images 64] [--vocab 10000] [--dim 512] [--repeats 1] [--device cpu|cuda]

The model is tutorial-sized by default (ResNet-101 regions: 14x14 of 2048; decoder, attention and
embedding 512 wide; 10,000 words), with random weights: the tutorial's modules
(tests/sat_reference.py) converted by the importer's own key mapping (models/sat_tutorial.py).
Regions are made once beforehand (random non-negative features, as after ResNet's last ReLU and
the pooling), so only decoding is timed. Our search runs with the tutorial's scoring (length
penalty 0, shrink_beam); both must give the same caption and score for every image, else the
benchmark says MISMATCH and exits 1. Only ratios are meant to be compared across machines.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout, uninstalled; the tutorial's side lives in tests/

from attnviewer.decoding.search import DecodeSettings, decode, run  # noqa: E402
from attnviewer.models.checkpoint import build_model  # noqa: E402
from attnviewer.models.sat_tutorial import our_state, tutorial_config  # noqa: E402
from tests.sat_reference import Encoder, make_decoder, tutorial_beam, word_map  # noqa: E402

BEAMS = (3, 5)
SEED = 0


def best_of(repeats: int, fn):
    times = []
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times), out


def imported_model(n_words: int, dim: int, device, end_step: float = 0.25):
    """The tutorial's modules (random weights) and the Captioner the importer makes of them.
    `end_step`: how fast <end> grows likelier (smaller: longer captions; see make_decoder)."""
    words = word_map(n_words - 4)
    vocab = sorted(words, key=words.get)
    decoder = make_decoder(len(vocab), SEED, words["<end>"], attention_dim=dim, embed_dim=dim, decoder_dim=dim,
                           end_step=end_step)
    torch.manual_seed(SEED)
    encoder = Encoder()  # only its weights are used (the regions are made beforehand)
    state = our_state(encoder.state_dict(), decoder.state_dict())
    model = build_model(Path("tutorial"), "caption", tutorial_config(len(vocab), dim, dim, dim).to_dict(), vocab, state)
    return decoder.to(device), model.to(device).eval(), words


def tutorial_regions(images: int, device) -> torch.Tensor:
    """(images, 196, 2048) random non-negative regions, as after ResNet-101's last ReLU and the pooling."""
    gen = torch.Generator().manual_seed(SEED + 1)
    return torch.randn(images, 196, 2048, generator=gen).relu_().to(device)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--images", type=int, default=64)
    p.add_argument("--vocab", type=int, default=10_000, help="words, with the four special tokens")
    p.add_argument("--dim", type=int, default=512, help="decoder, attention and embedding width")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    args = p.parse_args(argv)
    device = torch.device(args.device)
    decoder, model, words = imported_model(args.vocab, args.dim, device)
    start, end = words["<start>"], words["<end>"]
    where = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {torch.get_num_threads()} thread(s)"
    print(f"imported tutorial-sized model: {args.vocab} words, decoder/attention/embedding {args.dim}, "
          f"14x14 regions of 2048; torch {torch.__version__} on {where}")
    regions = tutorial_regions(args.images, device)

    print(f"\nbeam search on {args.images} images (regions made beforehand), best of {args.repeats}")
    print(f"{'k':>3} | {'tutorial s':>10} | {'batched s':>9} | {'speed-up':>8} | {'words':>5}")
    with torch.inference_mode():
        # Untimed first runs: the first large batches pay one-time set-up (memory, kernels), 2-3x a step.
        warm = DecodeSettings("beam", beam=BEAMS[-1], length_penalty=0.0, shrink_beam=True)
        run(decode(model, model.init_state_from_regions(regions), warm, stream=False))
        tutorial_beam(decoder, regions[:1], start, end, BEAMS[-1])
        for k in BEAMS:
            settings = DecodeSettings("beam", beam=k, length_penalty=0.0, shrink_beam=True)
            t_ours, ours = best_of(args.repeats, lambda: run(decode(
                model, model.init_state_from_regions(regions), settings, stream=False)))
            t_ref, ref = best_of(args.repeats, lambda: [
                tutorial_beam(decoder, regions[i:i + 1], start, end, k) for i in range(args.images)])
            for i, (hyps, theirs) in enumerate(zip(ours, ref)):
                if theirs is None or hyps[0].token_ids != theirs[0][:-1] or abs(hyps[0].log_prob - theirs[2]) > 1e-3:
                    print(f"MISMATCH at beam {k}, image {i}: ours {hyps[0].token_ids} ({hyps[0].log_prob:.5f}), "
                          f"the tutorial's {theirs and theirs[0]} ({theirs and theirs[2]})")
                    return 1
            words = sum(len(h[0].tokens) for h in ours) / len(ours)
            print(f"{k:>3} | {t_ref:>10.3f} | {t_ours:>9.3f} | {t_ref / t_ours:>7.1f}x | {words:>5.1f}")
    print(f"outputs identical for k in {BEAMS}: the best caption of every image, its score within 1e-3")
    return 0


if __name__ == "__main__":
    sys.exit(main())
