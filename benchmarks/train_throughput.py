"""Training throughput of the image captioner on a real-format corpus: decoder training from the
precomputed memory-mapped features (training/features.py) against reading and encoding the images
at every step (what training without a feature file does each epoch).

    python benchmarks/train_throughput.py [--images N] [--size PX] [--steps S] [--repeats R] [--batch B]
        [--hidden H] [--device cpu|cuda]

A corpus of N generated scenes (JPEGs of --size px, two captions each, Karpathy-split JSON) is
written to a temporary folder. Both runs train the same decoder with the same frozen
EfficientNet-Lite0 through the same loop (training/loop.py), on the same data order; only where the
regions come from differs. Throughput is the loop's examples per second over its training steps
(validation excluded), the best of a few alternated runs of --steps steps; the features' one-time
extraction is reported beside it. Only the ratio is comparable across machines. On CPUs the
decoder's backward pass dominates a step at the default size, so the ratio grows as the decoder
shrinks (--hidden) and on GPUs, where the decoder is cheap and decoding JPEGs is not.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled

from attnviewer.data.synthetic import generate_scene  # noqa: E402
from attnviewer.training.image_corpus import CaptionCorpusSettings, ImageCaptionTask  # noqa: E402
from attnviewer.training.loop import LoopSettings, fit  # noqa: E402

SEED = 3


def write_corpus(folder: Path, n: int, size: int) -> Path:
    """dataset_bench.json (Karpathy's layout; every 10th image in val) and n JPEGs beside it."""
    images = []
    for i in range(n):
        scene = generate_scene(SEED, i, size)
        name = f"scene-{i:05d}.jpg"
        Image.fromarray(scene.image).save(folder / name, quality=90)
        words = scene.caption.split()
        images.append({"filename": name, "split": "val" if i % 10 == 9 else "train",
                       "sentences": [{"tokens": words}, {"tokens": ["a", "picture", "of"] + words}]})
    path = folder / "dataset_bench.json"
    path.write_text(json.dumps({"images": images}))
    return path


class EncodeEveryStep(ImageCaptionTask):
    """The same task, but every batch reads its images and runs the frozen encoder on them."""

    def batch(self, indices, device):
        chosen = [self.examples[int(i)] for i in indices]
        rows, pixels = self._read_images(self.train, [i for i, _ in chosen])
        self.model.encoder.eval()  # frozen: ImageNet's batch statistics, as the feature file has them
        with torch.inference_mode():
            regions = self.model.regions(torch.from_numpy(pixels).permute(0, 3, 1, 2).float().to(device))
        # a normal tensor (autograd may not save inference tensors), rounded as the feature file's
        return {"regions": regions.half().float(), "captions": self.caption_batch(chosen, device)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=300)
    p.add_argument("--size", type=int, default=224, help="image side in pixels (also the model's input size)")
    p.add_argument("--steps", type=int, default=8, help="training steps timed per run (default 8)")
    p.add_argument("--repeats", type=int, default=2, help="runs of each pipeline, alternated (default 2)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--hidden", type=int, default=512, help="decoder size (default 512, train caption --data's)")
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        data = write_corpus(tmp, args.images, args.size)
        print(f"wrote {args.images} images of {args.size} px in {time.perf_counter() - t0:.1f} s ({tmp})")
        settings = dict(data=str(data), min_count=1, image_size=args.size, features_dir=str(tmp / "features"),
                        val_size=16, hidden_dim=args.hidden)
        quiet = lambda line: None  # noqa: E731
        t0 = time.perf_counter()
        cached = ImageCaptionTask(CaptionCorpusSettings(**settings), args.device, quiet)
        extraction = time.perf_counter() - t0
        loop = dict(epochs=1, batch_size=args.batch, device=args.device, patience=0, val_every=10**9,
                    save_every=10**9, max_steps=args.steps)
        pipelines = {"features from the memmap": (cached, extraction),
                     "images read and encoded every step":
                         (EncodeEveryStep(CaptionCorpusSettings(**settings), args.device, quiet), 0.0)}
        rates: dict[str, list[float]] = {name: [] for name in pipelines}
        for r in range(args.repeats):  # alternated, the best of each kept: the least disturbed by other work
            for name, (task, _) in pipelines.items():
                out = tmp / f"{len(rates[name])}-{r}.safetensors"
                rates[name].append(fit(task, LoopSettings(out=str(out), **loop), log=quiet)["examples_per_second"])
    best = {name: max(r) for name, r in rates.items()}
    base = best["images read and encoded every step"]
    print(f"\n{args.images} images ({len(cached.examples)} captions), {args.size} px, decoder {args.hidden}, "
          f"batch {args.batch}, {args.steps} steps, best of {args.repeats}, {args.device}, "
          f"{torch.get_num_threads()} threads")
    print("| pipeline | one-time extraction (s) | examples/s | ratio |\n|---|---|---|---|")
    for name, (_, once) in pipelines.items():
        print(f"| {name} | {once:.1f} | {best[name]:,.1f} | {best[name] / base:.2f}x |")
    ratio = best["features from the memmap"] / base
    print(f"\nfeatures train {ratio:.2f}x as fast as reading and encoding the images at every step")
    return 0 if np.isfinite(ratio) else 1


if __name__ == "__main__":
    sys.exit(main())
