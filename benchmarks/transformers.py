"""Our step-by-step streaming decode of a transformers captioner against its own
`generate(output_attentions=True)`, greedy and beam 3: words per second and peak memory, the same
words asserted.

    python benchmarks/transformers.py [--sizes tiny,base] [--words 20] [--repeats 3]

tiny: a 2-layer ViT + GPT-2 of width 32 (what the tests build); base: ViT-base (12 layers, 768
wide, 224 px, 197 tokens) + GPT-2 small (12 layers, 768 wide, 50257 words) with random weights.
Ours streams: each word leaves with its [layers, heads, tokens] attention, drawn through the lens
into a patch map, as the window receives it; generate() hands everything over at the end. Each
measurement runs in a fresh process (peak resident memory is the process's high-water mark during
the decode, reset after the model is built). Only ratios are compared; the goal is ours no slower.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# This file is named like the package it measures: keep its folder off the path, or
# `import transformers` would import this file.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
os.environ["HF_HUB_OFFLINE"] = "1"


def build(size: str, folder: Path) -> None:
    """A random ViT + GPT-2 VisionEncoderDecoder folder of the given size."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, ViTConfig, ViTModel, VisionEncoderDecoderModel

    import hf_models

    if size == "tiny":
        hf_models.vit_gpt2(folder)
        return
    torch.manual_seed(0)
    enc = ViTModel(ViTConfig(image_size=224, patch_size=16), add_pooling_layer=False)
    tokenizer = hf_models.word_tokenizer()
    dec = GPT2LMHeadModel(GPT2Config(vocab_size=50257, n_positions=1024, add_cross_attention=True,
                                     bos_token_id=1, eos_token_id=2, pad_token_id=0))
    model = VisionEncoderDecoderModel(encoder=enc, decoder=dec)
    hf_models._set_ids(model, 1, 2, 0)
    with torch.no_grad():  # words that vary (default init repeats one) and never the end word: the
        for name, p in model.decoder.named_parameters():  # final norm's first feature is always 1,
            if p.dim() >= 2:  # and the end word's logit is -100 times it
                p.mul_(4.0)
        ln_f, head = model.decoder.transformer.ln_f, model.decoder.lm_head.weight
        ln_f.weight[0], ln_f.bias[0] = 0.0, 1.0
        head[2] = 0.0
        head[2, 0] = -100.0
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    hf_models._preprocessor(folder, 224)


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM, the peak resident size


def _peak_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def measure(folder: str, how: str, beam: int, words: int, repeats: int) -> dict:
    """One measurement, in this (fresh) process: the best time of `repeats` runs and the peak memory."""
    import numpy as np
    import torch

    from attnviewer.decoding.search import decode
    from attnviewer.lens import DEFAULT
    from attnviewer.models.registry import load
    from attnviewer.settings import DecodeSettings

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    model = load(folder, "cpu", kind="caption")
    size = model.config.image_size
    pixels = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (1, 3, size, size))).float()
    settings = DecodeSettings(method="greedy" if beam == 1 else "beam", beam=max(beam, 1), max_len=words)

    def ours():
        with torch.inference_mode():
            state = model.init_state(pixels)
            places = model.input_places[0]
            gen = decode(model, state, settings, stream=True)
            while True:
                try:
                    step = next(gen)
                    places.maps(step.attention, DEFAULT)  # the map the window draws
                except StopIteration as stop:
                    hyp = stop.value[0][0]
                    places.maps(hyp.attention, DEFAULT)
                    return list(hyp.token_ids)

    def theirs():
        with torch.inference_mode():
            out = model.hf.generate(pixel_values=model._pixels(pixels), max_new_tokens=words, min_new_tokens=0,
                                    do_sample=False, num_beams=beam, early_stopping=True, length_penalty=1.0,
                                    output_attentions=True, output_scores=True, return_dict_in_generate=True)
            seq = out.sequences[0, 1:].tolist()
            return seq[:-1] if seq and seq[-1] == model.end_id else seq

    fn = ours if how == "ours" else theirs
    fn()  # warm up
    _reset_peak()
    best, tokens = float("inf"), []
    for _ in range(repeats):
        start = time.perf_counter()
        tokens = fn()
        best = min(best, time.perf_counter() - start)
    return {"seconds": best, "peak_mb": _peak_mb(), "tokens": tokens}


def child(args) -> dict:
    """measure() in a fresh process, its result as JSON on the last line of its output."""
    code = ("import importlib.util, json; "
            f"spec = importlib.util.spec_from_file_location('transformers_bench', {str(Path(__file__).resolve())!r}); "
            "bench = importlib.util.module_from_spec(spec); spec.loader.exec_module(bench); "
            f"print(json.dumps(bench.measure(*{args!r})))")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"measurement {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="tiny,base")
    parser.add_argument("--words", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true",
                        help="the tests' check: measured in this process (peak memory then means little)")
    a = parser.parse_args()
    run = (lambda args: measure(*args)) if a.quick else child
    rows, same = [], True
    with tempfile.TemporaryDirectory() as tmp:
        for size in a.sizes.split(","):
            folder = Path(tmp) / size
            build(size, folder)
            for beam in (1, 3):
                ours = run((str(folder), "ours", beam, a.words, a.repeats))
                theirs = run((str(folder), "generate", beam, a.words, a.repeats))
                match = ours["tokens"] == theirs["tokens"]
                same &= match
                n = max(1, len(ours["tokens"]))
                rows.append((size, "greedy" if beam == 1 else f"beam {beam}", n, n / ours["seconds"],
                             n / theirs["seconds"], theirs["seconds"] / ours["seconds"], ours["peak_mb"],
                             theirs["peak_mb"], "same" if match else "MISMATCH"))
    print("| model | decoding | words | ours words/s | generate() words/s | ours / generate() speed | "
          "ours peak MB | generate() peak MB | words |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.1f} | {r[4]:.1f} | {r[5]:.2f}x | {r[6]:.0f} | {r[7]:.0f} | {r[8]} |")
    print(f"words identical to generate(): {'yes' if same else 'no'}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
