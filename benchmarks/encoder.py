"""The image encoder's memory layout and batch size: channels-last (what the app uses) against
PyTorch's default layout, same weights, same images, measured in the same run.

    python benchmarks/encoder.py [--images N] [--repeats R]

Prints milliseconds per image and the ratio default / channels-last for batches of 1 to 32;
the outputs of both layouts must agree (asserted).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled

from attnviewer.data.synthetic import generate_scenes  # noqa: E402
from attnviewer.models.encoders import ImageEncoder  # noqa: E402
from attnviewer.training.image import scene_pixels  # noqa: E402

BATCHES = (1, 4, 8, 16, 32)


def per_image_ms(encoder, pixels, batch, repeats, layout):
    """The fastest of `repeats` passes over all images in batches of `batch`, per image."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for chunk in pixels.split(batch):
            encoder.backbone(chunk.contiguous(memory_format=layout))
        best = min(best, time.perf_counter() - start)
    return best / len(pixels) * 1e3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    pixels = scene_pixels(generate_scenes(args.images, seed=1))
    layouts = {}
    for name, layout in (("default", torch.contiguous_format), ("channels-last", torch.channels_last)):
        enc = ImageEncoder("efficientnet-lite0").eval()
        enc.backbone.load_pretrained()
        layouts[name] = (enc.to(memory_format=layout), layout)
    print(f"EfficientNet-Lite0 to stride 16 at 160 px, {args.images} images, torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s), best of {args.repeats}")
    with torch.inference_mode():
        a, b = (enc.backbone(pixels[:4].contiguous(memory_format=lay)) for enc, lay in layouts.values())
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
        print(f"{'batch':>5} | {'default ms/img':>14} | {'channels-last ms/img':>20} | {'speed-up':>8}")
        for batch in BATCHES:
            ms = {name: per_image_ms(enc, pixels, batch, args.repeats, lay) for name, (enc, lay) in layouts.items()}
            print(f"{batch:>5} | {ms['default']:>14.1f} | {ms['channels-last']:>20.1f} | "
                  f"{ms['default'] / ms['channels-last']:>7.2f}x")
    print("outputs of both layouts agree (within 1e-4)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
