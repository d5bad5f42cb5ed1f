"""What-if latency (issue 22): the time from a forced word or an attention edit to the re-decoded
output, against decoding the whole output again from scratch, on the bundled models (CPU unless
--device cuda). Each what-if run re-decodes from the start with the words before the edit forced
(the encoder and those steps run again; no state is cached between runs).

    python benchmarks/whatif.py [--repeat N] [--device cpu|cuda]
"""
from __future__ import annotations

import argparse
import statistics
import time

from attnviewer import pipeline
from attnviewer.kinds import IMAGE, TEXT, VIDEO
from attnviewer.settings import DecodeSettings
from attnviewer.whatif.forcing import force
from attnviewer.whatif.intervention import intervene, one_place

CASES = [(IMAGE, "caption-shapes", "resources/samples/shapes-1.png"),
         (VIDEO, "video-shapes", "resources/samples/clip-1.mp4"),
         (TEXT, "translate-sov", "the old teacher will paint some small red boats near the river")]


def timed(fn, repeat: int) -> float:
    fn()  # warm
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    settings = DecodeSettings("beam", beam=3)
    print(f"{'model':<16} {'words':>5} {'decode (ms)':>12} {'force (ms)':>11} {'words':>5} {'attend (ms)':>12} {'words':>5}")
    for kind, name, source in CASES:
        model = pipeline.load_model(kind, name, args.device)
        media = kind.fit(pipeline.read(kind, source, name), model)
        best = pipeline.run_all(kind, model, [media], settings)[0].best
        t, ids = len(best.tokens) // 2, best.token_ids
        other = best.alternatives[t][1][0]
        plain = timed(lambda: pipeline.run_all(kind, model, [media], settings), args.repeat)
        forced = timed(lambda: force(kind, model, media, settings, {t: model.vocab.index(other)}, prefix=ids),
                       args.repeat)
        attend = timed(lambda: intervene(kind, model, media, settings, t, one_place(model, 0), prefix=ids), args.repeat)
        n_forced = len(force(kind, model, media, settings, {t: model.vocab.index(other)}, prefix=ids).best.tokens)
        n_attend = len(intervene(kind, model, media, settings, t, one_place(model, 0), prefix=ids).best.tokens)
        print(f"{name:<16} {len(ids):>5} {1000 * plain:>12.1f} {1000 * forced:>11.1f} {n_forced:>5} "
              f"{1000 * attend:>12.1f} {n_attend:>5}")


if __name__ == "__main__":
    main()
