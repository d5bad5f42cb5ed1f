"""Batched beam search against a straightforward per-hypothesis loop, plus greedy throughput.

    python benchmarks/decode.py [--model NAME|PATH] [--images N] [--repeats R]

Both beam searches decode the same encoded images and must give the same outputs: the words, the
score, and each word's attention map, probability and top words (what the app shows). Only ratios
are reported, since absolute times depend on the machine.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled

from attnviewer.data.synthetic import COLOURS, SHAPES, generate_scenes  # noqa: E402
from attnviewer.errors import CheckpointError  # noqa: E402
from attnviewer.decoding.search import DecodeSettings, decode, run  # noqa: E402
from attnviewer import catalog  # noqa: E402
from attnviewer.models import registry  # noqa: E402
from attnviewer.models.captioner import SPECIALS, Captioner, CaptionerConfig  # noqa: E402
from attnviewer.training.image import scene_pixels  # noqa: E402

BEAMS = (1, 3, 5, 10)
TARGET_K, TARGET_SPEEDUP = 5, 5.0
SEED = 0


def load_model(name: str, default: str):
    """The named model; for the default name only, a seeded random model when it is not bundled."""
    if name in catalog.bundled() or name != default:
        return registry.load(name, device="cpu"), f"model {name!r}"
    torch.manual_seed(SEED)
    vocab = list(SPECIALS) + ["a", ",", "and"] + list(COLOURS) + list(SHAPES)
    model = Captioner(CaptionerConfig(vocab_size=len(vocab), max_len=20), vocab).eval()
    return model, f"randomly initialised Captioner (seed {SEED}, {len(vocab)} words; {name!r} is not bundled)"


def best_of(repeats: int, fn):
    """The fastest of `repeats` runs (the least disturbed by other work) and the last result."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def batched_beam(model, state, settings, stream=False):
    return run(decode(model, state, settings, stream=stream))


def reference_beam(model, state, k, max_len, length_penalty, n_alt):
    """Beam search one image and one hypothesis at a time, under the rules of search.beam_search.

    It returns what the batched search returns: per image up to k hypotheses, best first, each
    with its words, log probability, score, and per word the probability, the top n_alt words
    and the attention map. Scores stay float32 tensors' values so candidates rank exactly as in
    the batched search.
    """
    results = []
    n_images = next(iter(state.values())).shape[0]
    for b in range(n_images):
        # (log_prob, hypothesis, state)
        live = [(0.0, RefHypothesis(), {name: v[b : b + 1] for name, v in state.items()})]
        finished = []
        for _ in range(max_len):
            candidates = []  # (log_prob, parent, next word, its log_prob, the parent step's outputs, state)
            for log_prob, path, st in live:
                prev = torch.tensor([path.ids[-1] if path.ids else model.start_id])
                log_probs, att, new_st = model.step(st, prev)
                alt_p, alt_i = log_probs[0].topk(min(n_alt, log_probs.shape[1]))
                top = [(model.vocab[i], p) for i, p in zip(alt_i.tolist(), alt_p.exp().tolist())]
                seen = (att[0].numpy(), top)
                word_lps = log_probs[0].tolist()
                for word, lp in enumerate((log_probs[0] + log_prob).tolist()):
                    candidates.append((lp, path, word, word_lps[word], seen, new_st))
            # Best first (exact float ties, where the order could differ from topk, are unlikely).
            candidates.sort(key=lambda c: -c[0])
            candidates = [c for c in candidates[: 2 * k] if c[0] > float("-inf")]
            # An <end> finishes a hypothesis only if it ranks within the best k of this step ...
            finished += [(path, lp, 1) for lp, path, word, *_ in candidates[:k] if word == model.end_id]
            # ... and the best k that do not end go on (2k candidates hold at least k of them).
            live = [(lp, path.then(word, math.exp(word_lp), seen), st)
                    for lp, path, word, word_lp, seen, st in candidates if word != model.end_id][:k]
            if len(finished) >= k:
                break
        else:  # max_len reached: the live beams become (unended) hypotheses
            finished += [(path, lp, 0) for lp, path, _ in live]
        # the length counts <end> where the hypothesis has one
        scored = [(path, lp, lp / (len(path.ids) + end) ** length_penalty) for path, lp, end in finished]
        results.append(sorted(scored, key=lambda h: h[2], reverse=True)[:k])
    return results


class RefHypothesis:
    """One hypothesis of the reference: its words and, per word, probability, top words, attention."""

    def __init__(self, ids=(), probs=(), alts=(), atts=()):
        self.ids, self.probs, self.alts, self.atts = list(ids), list(probs), list(alts), list(atts)

    def then(self, word, prob, seen):
        att, alts = seen
        return RefHypothesis(self.ids + [word], self.probs + [prob], self.alts + [alts], self.atts + [att])


def first_difference(batched, reference, vocab):
    """A description of the first image whose best hypotheses differ, or None."""
    for i, (hyps, ref) in enumerate(zip(batched, reference)):
        best, (path, _, ref_score) = hyps[0], ref[0]
        if best.token_ids != path.ids or abs(best.score - ref_score) > 1e-4:
            return (f"image {i}: batched {' '.join(best.tokens)!r} score {best.score:.6f}, "
                    f"reference {' '.join(vocab[t] for t in path.ids)!r} score {ref_score:.6f}")
        atts = np.array(path.atts).reshape(best.attention.shape)
        if not (np.allclose(best.attention, atts, atol=1e-5) and np.allclose(best.probs, path.probs, atol=1e-5)):
            return f"image {i}: the same words, but other attention maps or word probabilities"
        if [[w for w, _ in a] for a in best.alternatives] != [[w for w, _ in a] for a in path.alts]:
            return f"image {i}: the same words, but other top words at some step"
    return None


def greedy(model, state):
    return run(decode(model, state, DecodeSettings("greedy"), stream=True))


def main() -> int:
    default = "caption-shapes"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=default, help="bundled model name or checkpoint path")
    parser.add_argument("--images", type=int, default=8, help="images for the beam comparison")
    parser.add_argument("--repeats", type=int, default=3, help="timings keep the best of this many")
    args = parser.parse_args()

    try:
        model, described = load_model(args.model, default)
    except CheckpointError as e:
        parser.error(str(e))
    print(f"model: {described}")
    print(f"torch {torch.__version__} on CPU, {torch.get_num_threads()} thread(s)")
    max_len = model.config.max_len
    pixels = scene_pixels(generate_scenes(args.images, seed=SEED))

    with torch.inference_mode():
        # Encode once: the comparison is about decoding, so encoder time is left out of it.
        state = model.init_state(pixels)
        print(f"\nbeam search on {args.images} images, max_len {max_len}, best of {args.repeats} "
              f"(encoder excluded: images encoded once beforehand)")
        # "batched" returns the final hypotheses only, as the reference does; "streaming" also
        # yields a Step per word and input, as the window and the CLI's live output use it.
        # "words": mean length of the best captions; a model that ends early does fewer steps.
        print(f"{'k':>3} | {'batched s':>10} | {'streaming s':>11} | {'reference s':>11} | "
              f"{'speed-up':>9} | {'streaming':>9} | {'words':>5}")
        speedups = {}
        for k in BEAMS:
            beam = DecodeSettings("beam", beam=k, length_penalty=1.0)  # the same settings drive both searches
            t_batched, batched = best_of(args.repeats, lambda: batched_beam(model, state, beam))
            t_stream, streamed = best_of(args.repeats, lambda: batched_beam(model, state, beam, stream=True))
            t_ref, reference = best_of(
                args.repeats, lambda: reference_beam(model, state, k, max_len, beam.length_penalty, beam.alternatives))
            diff = first_difference(batched, reference, model.vocab) or first_difference(
                streamed, reference, model.vocab)
            if diff:
                print(f"MISMATCH at beam {k}: {diff}")
                return 1
            speedups[k] = t_ref / t_batched
            words = sum(len(hyps[0].tokens) for hyps in batched) / len(batched)
            print(f"{k:>3} | {t_batched:>10.4f} | {t_stream:>11.4f} | {t_ref:>11.4f} | {speedups[k]:>8.1f}x | "
                  f"{t_ref / t_stream:>8.1f}x | {words:>5.1f}")
        print(f"outputs identical for k in {BEAMS}: best caption per image, its score (within 1e-4), and per word "
              f"the attention map and probability (within 1e-5) and the top words")

        # Greedy throughput: one batch of 32 against the same 32 images one at a time.
        n = 32
        pixels32 = scene_pixels(generate_scenes(n, seed=SEED + 1))
        state32 = model.init_state(pixels32)
        singles = [{name: v[i : i + 1] for name, v in state32.items()} for i in range(n)]
        t_dec, captions = best_of(args.repeats, lambda: greedy(model, state32))
        t_dec1, _ = best_of(args.repeats, lambda: [greedy(model, s) for s in singles])
        t_all, _ = best_of(args.repeats, lambda: greedy(model, model.init_state(pixels32)))
        t_all1, _ = best_of(args.repeats, lambda: [greedy(model, model.init_state(p)) for p in pixels32.split(1)])
        words = sum(len(hyps[0].tokens) for hyps in captions) / n
        print(f"\ngreedy, {n} images ({words:.1f} words a caption), best of {args.repeats}: "
              f"images/s as a batch of {n} vs one at a time")
        print(f"{'':>18} | {'batch img/s':>11} | {'single img/s':>12} | {'ratio':>6}")
        for label, t_b, t_1 in (("decoding only", t_dec, t_dec1), ("encoder+decoding", t_all, t_all1)):
            print(f"{label:>18} | {n / t_b:>11.1f} | {n / t_1:>12.1f} | {t_1 / t_b:>5.1f}x")

    met = speedups[TARGET_K] >= TARGET_SPEEDUP
    print(f"\ntarget (batched beam search >= {TARGET_SPEEDUP:g}x faster than the reference at k = {TARGET_K} "
          f"on CPU): {'MET' if met else 'NOT MET'} ({speedups[TARGET_K]:.1f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
