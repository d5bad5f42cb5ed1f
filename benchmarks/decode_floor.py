"""Beam search against its floor: the matrix products a step cannot avoid, timed alone.

    python benchmarks/decode_floor.py [--inputs 8] [--repeats 3] [--kinds image,video,text,sat]
                                      [--sat-vocab 10000] [--sat-dim 512] [--save F | --check F]

For each bundled model kind (image captioner, video captioner, translator: their default beam
search) and an imported Show-Attend-Tell tutorial-sized decoder (196 regions x 2048, 512 wide,
10,000 words, 51 steps, random weights; the tutorial's scoring: length penalty 0, shrinking beam;
built by benchmarks/sat_beam.py), decode only (inputs encoded beforehand), k = 1, 3, 5, 10:

- the search: decoding/search.py's beam search, final hypotheses only, and streaming (a Step per
  word and input, as the window and the CLI use it);
- the floor: the same number of steps, each doing only the step's unavoidable matrix products at
  the model's sizes, for the rows actually live at that step (recorded from the search through its
  `tree` hook, so they do not depend on what the search computes): the LSTM gates (input and state
  in one product), the output layer (and the translator's attentional layer), the attention
  context over the inputs' positions (one row per distinct parent where the children share its
  attention, as the captioners' do).

Every output is checked before any timing counts: for the bundled models against
benchmarks/decode.py's per-hypothesis reference (words, score, per word the attention map,
probability and top words), for the tutorial-sized model against the tutorial's own beam search
(tests/sat_reference.py: caption and score); and for every model, the best hypothesis' word
probabilities and entropies against its words forced through the model one input at a time. A
difference prints MISMATCH and exits 1. `--save F` writes every hypothesis' words and scores (as
exact floats), `--check F` requires the same words and the same scores to float32's rounding (the
same inputs before and after a change).
Only ratios are meant to be compared across machines. `--clock cpu` times each run by the
thread's CPU time instead of the wall clock: on a shared machine, the time the scheduler gives
other work stays out of both sides of every ratio (1 torch thread: all the work is on this thread).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout, uninstalled

from attnviewer.data.clip_events import generate_clips  # noqa: E402
from attnviewer.data.pairs import generate_pairs  # noqa: E402
from attnviewer.data.synthetic import generate_scenes  # noqa: E402
from attnviewer.decoding.search import DecodeSettings, decode, run  # noqa: E402
from attnviewer.models import registry  # noqa: E402
from attnviewer.training.image import scene_pixels  # noqa: E402
from attnviewer.training.video import clip_tensor  # noqa: E402
from benchmarks.decode import first_difference, reference_beam  # noqa: E402
from attnviewer.models.attention import CACHE_BLOCK_BYTES  # noqa: E402
from benchmarks.sat_beam import imported_model, tutorial_regions  # noqa: E402
from tests.sat_reference import tutorial_beam  # noqa: E402

BEAMS = (1, 3, 5, 10)
GOAL = 1.2  # the search within this many times its floor
SEED = 7
KINDS = ("image", "video", "text", "sat")
SAT_END_STEP = 0.035  # how fast its <end> grows likelier: captions of 39-45 words, all ended before step 51


@dataclass
class Case:
    kind: str
    label: str
    model: torch.nn.Module
    state: dict
    settings: Callable[[int], DecodeSettings]
    check: Callable[[int, list], str | None]  # k, the search's hypotheses -> a difference or None


def bundled_case(kind: str, n: int) -> Case:
    name = {"image": "caption-shapes", "video": "video-shapes", "text": "translate-sov"}[kind]
    model = registry.load(name, device="cpu", kind={"image": "caption", "video": "video", "text": "translate"}[kind])
    model.eval()
    with torch.inference_mode():
        if kind == "image":
            state = model.init_state(scene_pixels(generate_scenes(n, seed=SEED, size=model.config.image_size)))
        elif kind == "video":
            state = model.init_state(clip_tensor(np.stack([c.steps() for c in generate_clips(n, seed=SEED)])))
        else:
            state = model.init_state(model.source_batch([p.source for p in generate_pairs(n, seed=SEED)]))
    settings = lambda k: DecodeSettings("beam", beam=k)  # noqa: E731  (the app's default beam search)

    def check(k, hyps):
        s = settings(k)
        ref = reference_beam(model, state, k, model.config.max_len, 1.0, s.alternatives)
        return first_difference(hyps, ref, model.vocab)
    return Case(kind, name, model, state, settings, check)


def sat_case(n: int, vocab: int, dim: int) -> Case:
    decoder, model, words = imported_model(vocab, dim, torch.device("cpu"), SAT_END_STEP)
    regions = tutorial_regions(n, torch.device("cpu"))
    with torch.inference_mode():
        state = model.init_state_from_regions(regions)
    settings = lambda k: DecodeSettings("beam", beam=k, length_penalty=0.0, shrink_beam=True)  # noqa: E731

    def check(k, hyps):
        for i, ours in enumerate(hyps):
            theirs = tutorial_beam(decoder, regions[i:i + 1], words["<start>"], words["<end>"], k)
            if theirs is None or ours[0].token_ids != theirs[0][:-1] or abs(ours[0].log_prob - theirs[2]) > 1e-3:
                return (f"image {i}: ours {ours[0].token_ids} ({ours[0].log_prob:.5f}), "
                        f"the tutorial's {theirs and theirs[0]} ({theirs and theirs[2]})")
        return None
    return Case("sat", f"tutorial-sized SAT ({vocab} words, {dim} wide)", model, state, settings, check)


def forced_difference(model, state, hyps) -> str | None:
    """The best hypothesis of each input, its words forced through the model one input at a time:
    each word's probability and each step's entropy (computed here the plain way) as the search's."""
    for b, ours in enumerate(hyps):
        best = ours[0]
        st = {n: v[b:b + 1] for n, v in state.items()}
        prev = torch.tensor([model.start_id])
        for t, word in enumerate(best.token_ids):
            log_probs, _, st = model.step(st, prev)
            ent = float(torch.special.entr(log_probs.exp()).sum())
            if abs(ent - best.entropies[t]) > 1e-4 or abs(float(log_probs[0, word].exp()) - best.probs[t]) > 1e-5:
                return (f"input {b}, word {t}: entropy {best.entropies[t]:.6f} and probability {best.probs[t]:.6f}, "
                        f"forced: {ent:.6f} and {float(log_probs[0, word].exp()):.6f}")
            prev = torch.tensor([word])
    return None


class LiveRows:
    """A `tree` hook that records, per step, the rows the search needs: the live hypotheses (the
    words read) and their distinct parents (the states attended), from the search's own choices;
    and per step, each open input's attending rows (`groups`: parents, or words for a model that
    attends after reading its word)."""

    def __init__(self, inputs: int, per_word: bool = False):
        self.rows = [(inputs, inputs)]  # step 0: one row per input
        self.groups = [[1] * inputs]
        self.after: dict[int, tuple[int, int]] = {}
        self.which = 0 if per_word else 1

    def expand(self, t, items, k, top_s, beam_i, tok_i, live, ending, keep, alive=None) -> None:
        if t > 0:
            self.rows.append(tuple(sum(self.after[b][i] for b in items) for i in (0, 1)))
            self.groups.append([self.after[b][self.which] for b in items])
        for r, b in enumerate(items):
            going = np.isfinite(top_s[r, keep[r]]) & (alive[r] if alive is not None else True)
            self.after[b] = (int(going.sum()), len(np.unique(beam_i[r, keep[r][going]])))

    def cut(self, item, slots) -> None:
        pass


class Recorded:
    """The model, its steps' arguments recorded as a search calls them (to replay them alone)."""

    def __init__(self, model):
        self.model, self.calls = model, []

    def __getattr__(self, name):
        return getattr(self.model, name)

    def step(self, state, prev, **kwargs):
        self.calls.append((state, prev, kwargs))
        return self.model.step(state, prev, **kwargs)

    def replay(self) -> None:
        for state, prev, kwargs in self.calls:
            self.model.step(state, prev, **kwargs)


def products(model, state, context: bool = True) -> list[tuple[int, torch.Tensor, torch.Tensor | None]]:
    """(which rows: 0 the words, 1 the parents; weight (out, in); bias) of a step's products
    (`context` False: without the attention context's)."""
    lstm = model.lstm
    gates = (0, torch.cat([lstm.weight_ih, lstm.weight_hh], 1), lstm.bias_ih + lstm.bias_hh)
    values = state["values"][0]  # (positions, width): one input's memory
    out = [gates, (attending_rows(model), values.T, None)] if context else [gates]
    out.append((0, model.fc.weight, model.fc.bias))
    for name in ("combine", "out_h", "out_z"):  # the translator's attentional layer; SAT's deep output
        layer = getattr(model, name, None)
        if layer is not None:
            out.append((0, layer.weight, layer.bias))
    return out


def floor_steps(model, state, rows: list[tuple[int, int]], groups: list[list[int]] | None = None
                ) -> Callable[[], None]:
    """The products alone, step by step at the recorded rows, with memory allocated beforehand.
    With `groups` (LiveRows.groups), the floor with the attention's own work: the score's
    products and additive work (score_work) and the context read from each open input's own
    memory (one batched product, each input's rows padded to the most any has at that step)."""
    most = max(max(r) for r in rows)
    work = []
    for which, weight, bias in (products(model, state) if groups is None else
                                products(model, state, context=False) + score_products(model)):
        x = torch.rand(most, weight.shape[1])
        y = torch.empty(most, weight.shape[0])
        work.append((which, x, weight.T, bias, y))
    score = score_work(model, state, most) if groups is not None else None
    context = own_context(state, groups) if groups is not None else None

    def steps():
        for t, r in enumerate(rows):
            for which, x, wt, bias, y in work:
                n = r[which]
                if bias is None:
                    torch.mm(x[:n], wt, out=y[:n])
                else:
                    torch.addmm(bias, x[:n], wt, out=y[:n])
            if score is not None:
                score(r)
            if context is not None:
                context(t)
    return steps


def own_context(state, groups: list[list[int]]) -> Callable[[int], None]:
    """Step t's context: each open input's attending rows against its own memory (the search
    reads every input's values; the floor above reads one input's)."""
    values = state["values"]
    inputs, positions, width = values.shape
    most = max(max(g) for g in groups)
    weights, out = torch.rand(inputs, most, positions), torch.empty(inputs, most, width)

    def context(t):
        m, g = len(groups[t]), max(groups[t])
        torch.bmm(weights[:m, :g], values[:m], out=out[:m, :g])
    return context


def attending_rows(model) -> int:
    """Which rows attend: 1, one per parent (the captioners attend before reading the word);
    0, one per word (the translator attends after)."""
    return 0 if getattr(model, "attends_after_reading", False) or model.kind == "translate" else 1


def score_products(model) -> list[tuple[int, torch.Tensor, torch.Tensor | None]]:
    """The products of the attention score at the attending rows: the query projection, the gate."""
    att, which, out = model.attention, attending_rows(model), []
    query = getattr(att, "query_proj", None)
    if query is not None:
        out.append((which, query.weight, query.bias))
    gate = getattr(model, "gate", None)
    if gate is not None:
        out.append((which, gate.f_beta.weight, gate.f_beta.bias))
    return out


def score_work(model, state, most: int) -> Callable[[tuple[int, int]], None] | None:
    """Additive attention's add, activation and dot with v over one input's positions for each
    attending row, a cache-sized block of rows at a time (None for other scores: their work is a
    product like the context's)."""
    att = model.attention
    if att.score_name != "additive":
        return None
    keys, v, which = state["keys"][0].contiguous(), att.v.weight[0].contiguous(), attending_rows(model)
    positions, width = keys.shape
    block = max(1, CACHE_BLOCK_BYTES // (keys.numel() * keys.element_size()))
    q = torch.rand(most, width)
    buffer, e = torch.empty(block, positions, width), torch.empty(most * positions)
    squash = torch.Tensor.relu_ if att.activation == "relu" else torch.Tensor.tanh_

    def score(r):
        n = r[which]
        for i in range(0, n, block):
            m = min(block, n - i)
            out = torch.add(keys, q[i:i + m, None], out=buffer[:m])
            torch.mv(squash(out).view(-1, width), v, out=e[i * positions:(i + m) * positions])
    return score


CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}


def alternated(repeats: int, fns: list[Callable], clock: Callable[[], float] = time.perf_counter
               ) -> tuple[list[float], list]:
    """The best time of `repeats` runs of each, run in turn so that a busy moment of the machine
    slows them alike, and each one's last result."""
    best, outputs = [float("inf")] * len(fns), [None] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            start = clock()
            outputs[i] = fn()
            best[i] = min(best[i], clock() - start)
    return best, outputs


def outputs(hyps) -> list:
    return [[[h.token_ids, h.score] for h in per_input] for per_input in hyps]


def same_outputs(saved, now) -> bool:
    """The same words in every hypothesis, and the same scores to float32's rounding (a product
    over one or two rows takes another kernel than over more, so a beam that computes fewer rows
    can differ in the last bit)."""
    return saved is not None and len(saved) == len(now) and all(
        len(a) == len(b) and all(x[0] == y[0] and abs(x[1] - y[1]) <= 1e-6 * max(1.0, abs(x[1])) for x, y in zip(a, b))
        for a, b in zip(saved, now))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--inputs", type=int, default=8, help="images, clips or sentences decoded together")
    p.add_argument("--repeats", type=int, default=5, help="timings keep the best of this many, run in turn")
    p.add_argument("--kinds", default=",".join(KINDS), help=f"some of {', '.join(KINDS)}")
    p.add_argument("--sat-vocab", type=int, default=10_000, help="the tutorial-sized model's words")
    p.add_argument("--sat-dim", type=int, default=512, help="its decoder, attention and embedding width")
    p.add_argument("--beams", default=",".join(map(str, BEAMS)))
    saving = p.add_mutually_exclusive_group()
    saving.add_argument("--save", type=Path, help="write every hypothesis' words and scores here")
    saving.add_argument("--check", type=Path, help="require the words saved here, and their scores to float32 rounding")
    p.add_argument("--clock", choices=tuple(CLOCKS), default="wall",
                   help="wall: elapsed time; cpu: this thread's CPU time (steadier on a shared machine, 1 thread)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (1: steadier on a shared machine; the ratio compares like with like)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    kinds = args.kinds.split(",")
    if set(kinds) - set(KINDS):
        p.error(f"--kinds: choose among {', '.join(KINDS)}")
    beams = [int(k) for k in args.beams.split(",")]
    print(f"torch {torch.__version__} on CPU, {torch.get_num_threads()} thread(s); {args.inputs} inputs, "
          f"decode only, best of {args.repeats}, {args.clock} clock")
    saved = json.loads(args.check.read_text()) if args.check else None
    record = {}
    table = []
    for kind in kinds:
        case = sat_case(args.inputs, args.sat_vocab, args.sat_dim) if kind == "sat" else bundled_case(kind, args.inputs)
        print(f"\n{kind}: {case.label}")
        for k in beams:
            settings = case.settings(k)
            with torch.inference_mode():
                # An untimed first run: the rows, the model's steps as the search asks them, the warm-up.
                live = LiveRows(args.inputs, attending_rows(case.model) == 0)
                recorded = Recorded(case.model)
                hyps = run(decode(recorded, case.state, settings, stream=False, tree=live))
                (t_floor, t_scored, t_model, t_search, t_stream), (*_, hyps, streamed) = alternated(args.repeats, [
                    floor_steps(case.model, case.state, live.rows),
                    floor_steps(case.model, case.state, live.rows, live.groups), recorded.replay,
                    lambda: run(decode(case.model, case.state, settings, stream=False)),
                    lambda: run(decode(case.model, case.state, settings))], CLOCKS[args.clock])
                diff = (case.check(k, hyps) or forced_difference(case.model, case.state, hyps)
                        or (None if outputs(streamed) == outputs(hyps) else "streaming gave other outputs"))
            key = f"{kind} {k}"
            record[key] = outputs(hyps)
            if diff is None and saved is not None and not same_outputs(saved.get(key), record[key]):
                diff = f"the words or scores differ from {args.check}'s"
            if diff:
                print(f"MISMATCH at {kind}, beam {k}: {diff}")
                return 1
            words = sum(len(h[0].tokens) for h in hyps) / len(hyps)
            ms = 1000 / args.inputs
            table.append((kind, k, len(live.rows), sum(r[0] for r in live.rows), t_floor * ms, t_scored * ms,
                          t_model * ms, t_search * ms, t_stream * ms, words))
            print(f"  k={k}: floor {t_floor * ms:.2f} ms, with the attention {t_scored * ms:.2f} ms, "
                  f"the model's steps {t_model * ms:.2f} ms, search "
                  f"{t_search * ms:.2f} ms, streaming {t_stream * ms:.2f} ms per input", flush=True)
    if args.save:
        args.save.write_text(json.dumps(record))
    print("\nms per input, decode only: the floor (the products alone), the floor with the attention's own work "
          "(+att), the model's steps alone (as the search called them), the search, streaming; rows: the "
          "words computed in all")
    print(f"{'kind':>5} | {'k':>2} | {'steps':>5} | {'rows':>5} | {'floor':>7} | {'+att':>7} | {'model':>7} | "
          f"{'search':>7} | {'stream':>7} | {'search/floor':>12} | {'search/+att':>11} | {'search/model':>12} | "
          f"{'stream/floor':>12} | {'words':>5}")
    met = met_scored = 0
    for kind, k, steps, rows, floor, scored, model, search, stream, words in table:
        met += search / floor <= GOAL
        met_scored += search / scored <= GOAL
        print(f"{kind:>5} | {k:>2} | {steps:>5} | {rows:>5} | {floor:>7.2f} | {scored:>7.2f} | {model:>7.2f} | "
              f"{search:>7.2f} | {stream:>7.2f} | {search / floor:>11.2f}x | {search / scored:>10.2f}x | "
              f"{search / model:>11.2f}x | {stream / floor:>11.2f}x | {words:>5.1f}")
    print(f"\noutputs identical for {', '.join(kinds)} at k in {tuple(beams)}: words and scores as the reference "
          f"searches'{' and as ' + str(args.check) + ' (scores to 1e-6)' if saved is not None else ''}; "
          f"probabilities and entropies as the words forced")
    print(f"goal (search within {GOAL}x of its floor): met in {met} of {len(table)}; of the floor with the attention: "
          f"{met_scored} of {len(table)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
