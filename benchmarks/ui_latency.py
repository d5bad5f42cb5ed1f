"""How responsive the window stays: the engine thread against running the model on the GUI thread.

    python benchmarks/ui_latency.py [--model NAME|PATH] [--runs N] [--image PNG] [--profile]

Every run is a fresh Python process (benchmarks/_ui_probe.py) with QT_QPA_PLATFORM=offscreen and
its settings in a temporary ini file, so the user's settings are never touched. Two designs,
alternating, --runs times each; medians are reported:

  engine    the app as it is: the window is shown, the job goes to the engine thread, which
            imports torch, loads the model and streams a beam-5 caption (max 20 words) of
            resources/samples/shapes-1.png as signals; the window coalesces redraws.
  baseline  the naive design: the GUI thread imports torch, loads the model and runs the
            streaming decoder itself, drawing every word through the window's state and redraw()
            and processing events between words.

Measured ("from start" = from the parent's time.time() just before it spawns the child, so the
interpreter's own start-up counts; the child ties its perf_counter to that clock on its first
line, before any import):
  window shown       the window's first paint has finished (a posted event queued below the
                     repaint priority runs after it);
  first word         the first redraw() that shows a word has been painted;
  gaps               between ticks of a 5 ms QTimer on the GUI thread, (a) from the job's start
                     until the model is loaded (image read, torch import, weights read) and
                     (b) from then until the final caption is painted (encoder, beam search,
                     drawing); a gap that spans both phases counts in each for its part there.
The baseline's GUI thread ticks only between words, so its load phase is one long gap (and its
window is first painted only after the first word). Timings depend on the machine and on other
load; compare the two columns of one invocation, not numbers across machines.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROBE = Path(__file__).resolve().with_name("_ui_probe.py")
sys.path.insert(0, str(REPO))  # run from a checkout, uninstalled

from attnviewer import catalog  # noqa: E402  (no torch, no Qt)
from attnviewer.resources import sample_dir  # noqa: E402

DEFAULT_MODEL = "caption-shapes"
MODES = ("engine", "baseline")
TARGET_STREAM_GAP_MS, AIM_STREAM_GAP_MS = 50.0, 16.0
TARGET_SHOWN_S = 1.5
TRAIN_HINT = ("python -m attnviewer train caption --out /tmp/bench.safetensors "
              "--train-size 256 --epochs 1")


def pick_model(name: str | None) -> str:
    if name:
        path = Path(name).expanduser()
        return str(path.resolve()) if path.exists() else name
    if DEFAULT_MODEL in catalog.bundled():
        return DEFAULT_MODEL
    sys.exit(f"the bundled model {DEFAULT_MODEL!r} is not installed yet: pass --model PATH with a "
             f"checkpoint (a small one takes ~30 s: {TRAIN_HINT})")


def run_child(mode: str, model: str, image: str, timeout: float, profile: str | None = None) -> dict:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    with tempfile.TemporaryDirectory(prefix="attnviewer-ui-latency-") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, str(PROBE), "--mode", mode, "--model", model, "--image", image,
               "--out", str(out), "--timeout", str(timeout)]
        if profile:
            cmd += ["--profile", profile]
        t0 = time.time()
        cmd += ["--t0", repr(t0)]
        try:  # the child also stops itself (faulthandler) before this limit
            proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout + 30)
        except subprocess.TimeoutExpired:  # run() has killed it
            return {"mode": mode, "errors": [f"killed after {timeout + 30:.0f} s"], "marks": {}}
        if proc.returncode != 0 or not out.exists():
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            return {"mode": mode, "errors": [f"exit status {proc.returncode}:\n{tail}"], "marks": {}}
        return json.loads(out.read_text())


# -- turning one run's records into figures ------------------------------------------------------


def gaps_in(ticks: list[float], start: float, end: float) -> list[tuple[float, float]]:
    """The gaps between consecutive ticks, clipped to [start, end]: a stall that began while the
    model loaded counts in the streaming phase only for the part of it after the model was loaded."""
    return [(max(a, start), min(b, end)) for a, b in zip(ticks, ticks[1:]) if a < end and b > start]


def figures(run: dict) -> dict:
    m, ticks = run["marks"], run["ticks"]
    f = {"window shown": m.get("window_shown")}
    if "first_word_painted" in m:  # a word is on screen only once the window itself is
        f["first word"] = max(m["first_word_painted"], m.get("window_shown", 0.0))
    if "stream_painted" in m:  # the final caption painted, not only drawn
        m = dict(m, stream_end=m["stream_painted"])
    for phase, (a, b) in {"load": ("work_start", "load_end"), "stream": ("load_end", "stream_end")}.items():
        if a in m and b in m:
            gaps = gaps_in(ticks, m[a], m[b])
            lengths = [(e - s) * 1000 for s, e in gaps]
            f[f"{phase} max gap"] = max(lengths, default=None)
            f[f"{phase} median gap"] = statistics.median(lengths) if lengths else None
            f[f"{phase} gaps"] = gaps
            f[f"{phase} seconds"] = m[b] - m[a]
    return f


ROWS = [  # (label, key, unit)
    ("window shown, from process start", "window shown", "s"),
    ("first word on screen, from process start", "first word", "s"),
    ("model load: longest GUI gap", "load max gap", "ms"),
    ("model load: median GUI gap", "load median gap", "ms"),
    ("streaming: longest GUI gap", "stream max gap", "ms"),
    ("streaming: median GUI gap", "stream median gap", "ms"),
    ("model load phase (job start -> model loaded)", "load seconds", "s"),
    ("streaming phase (model loaded -> caption painted)", "stream seconds", "s"),
]


def median_of(runs: list[dict], key: str):
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def fmt(value, unit: str) -> str:
    if value is None:
        return "—"
    return f"{value:.3f} s" if unit == "s" else f"{value:.1f} ms"


def print_table(figs: dict[str, list[dict]]) -> dict[str, dict]:
    med = {mode: {key: median_of(figs[mode], key) for _, key, _ in ROWS} for mode in MODES}
    header = ("metric (median of runs)", "engine", "GUI-thread baseline", "ratio")
    rows = []
    for label, key, unit in ROWS:
        e, b = med["engine"][key], med["baseline"][key]
        ratio = f"{e / b:.2f}" if e is not None and b else "—"
        rows.append((label, fmt(e, unit), fmt(b, unit), ratio))
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(4)]
    line = " | ".join(h.ljust(w) for h, w in zip(header, widths))
    print(line)
    print("-|-".join("-" * w for w in widths))
    for r in rows:
        print(" | ".join([r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])]))
    print("ratio = engine / baseline: below 1, the engine design is faster or smoother.")
    return med


def print_targets(med: dict[str, dict]) -> None:
    gap, shown = med["engine"]["stream max gap"], med["engine"]["window shown"]
    print("\ntargets (engine design):")
    if gap is None:
        print("  longest GUI gap while streaming < 50 ms: not measured")
    else:
        verdict = "met" if gap < TARGET_STREAM_GAP_MS else "NOT met"
        aim = "met" if gap < AIM_STREAM_GAP_MS else "not met"
        print(f"  longest GUI gap while streaming < {TARGET_STREAM_GAP_MS:.0f} ms: {gap:.1f} ms -> {verdict}"
              f" (aim {AIM_STREAM_GAP_MS:.0f} ms: {aim})")
    if shown is None:
        print("  window shown < 1.5 s: not measured")
    else:
        verdict = "met" if shown < TARGET_SHOWN_S else "NOT met"
        print(f"  window shown < {TARGET_SHOWN_S} s from process start: {shown:.3f} s -> {verdict}")


# -- where the GUI thread's time goes --------------------------------------------------------------


def overlaps(intervals, start: float, end: float) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for label, a, b in intervals:
        o = min(b, end) - max(a, start)
        if o > 0:
            out[label] += o * 1000
    return out


def print_worst_gaps(runs: list[dict], figs: list[dict], phase: str, n: int = 3) -> None:
    """The longest gaps of a phase, each with the timed work that overlapped it."""
    worst = []
    for run, f in zip(runs, figs):
        for a, b in f.get(f"{phase} gaps", []):
            worst.append(((b - a) * 1000, a, b, run))
    worst.sort(key=lambda w: -w[0])
    for length, a, b, run in worst[:n]:
        parts = sorted(overlaps(run["intervals"], a, b).items(), key=lambda kv: -kv[1])
        what = ", ".join(f"{label} {ms:.0f}" for label, ms in parts if ms >= 1) or "no timed GUI work"
        print(f"    {length:6.0f} ms at {a:6.3f} s: {what}")


def print_costs(runs: list[dict]) -> None:
    """Per-call cost of each timed part of the redraw path, streaming phase, all runs together."""
    per: dict[str, list[float]] = defaultdict(list)
    for run in runs:
        m = run["marks"]
        if "load_end" not in m or "stream_end" not in m:
            continue
        for label, a, b in run["intervals"]:
            if m["load_end"] <= a <= m["stream_end"] + 0.2 and not label.startswith("gc"):
                per[label].append((b - a) * 1000)
    n = max(1, len(runs))
    print(f"    {'part':52} {'calls/run':>9} {'median':>8} {'max':>8} {'total/run':>10}")
    for label, v in sorted(per.items(), key=lambda kv: -sum(kv[1])):
        print(f"    {label:52} {len(v) / n:9.1f} {statistics.median(v):6.1f}ms {max(v):6.1f}ms "
              f"{sum(v) / n:8.1f}ms")


def print_gc(runs: list[dict]) -> None:
    stats: dict[str, list[float]] = defaultdict(list)
    for run in runs:
        m = run["marks"]
        for label, a, b in run["intervals"]:
            if label.startswith("gc") and m.get("work_start", 0) <= a <= m.get("stream_end", a):
                stats[label].append((b - a) * 1000)
    n = max(1, len(runs))
    for label, v in sorted(stats.items()):
        print(f"    {label:28} {len(v) / n:5.1f}/run  max {max(v):6.1f} ms  total {sum(v) / n:7.1f} ms/run")


def print_diagnostics(results: dict[str, list[dict]], figs: dict[str, list[dict]]) -> None:
    print("\nwhere the GUI thread's time goes (timed inside the child; labels nest, so a redraw's"
          "\nparts are also counted in 'MainWindow.redraw (all)'; a gap's untimed rest is Qt's own"
          "\nwork or waiting for the GIL held by the other thread):")
    for mode in MODES:
        runs = results[mode]
        if not runs:
            continue
        steps = statistics.median(len(r["steps"]) for r in runs)
        redraws = statistics.median(len(r["redraws"]) for r in runs)
        print(f"\n  {mode}: {steps:.0f} words, {redraws:.0f} redraws per caption")
        for phase in ("load", "stream"):
            print(f"  {mode}, longest gaps while {'the model loads' if phase == 'load' else 'streaming'} (ms):")
            print_worst_gaps(runs, figs[mode], phase)
        print(f"  {mode}, redraw path and repaints while streaming:")
        print_costs(runs)
        print(f"  {mode}, garbage collections from job start to last word:")
        print_gc(runs)
        if mode == "baseline":
            m = [r["marks"] for r in runs]
            imp = statistics.median(x["torch_imported"] - x["image_loaded"] for x in m)
            load = statistics.median(x["load_end"] - x["torch_imported"] for x in m)
            print(f"  baseline, on the GUI thread: import torch {imp:.2f} s, read weights {load:.2f} s")


def print_profile(path: str, limit: int = 25) -> None:
    import pstats

    print("\ncProfile of the GUI thread, engine design, job start to last word (by own time):")
    pstats.Stats(path).sort_stats("tottime").print_stats(limit)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", help=f"bundled model name or checkpoint file (default: {DEFAULT_MODEL})")
    p.add_argument("--runs", type=int, default=3, help="runs of each design (default 3)")
    p.add_argument("--image", default=str(sample_dir() / "shapes-1.png"))
    p.add_argument("--timeout", type=float, default=240.0, help="seconds before a child is stopped")
    p.add_argument("--profile", action="store_true", help="one more engine run under cProfile (GUI thread)")
    p.add_argument("--json", metavar="OUT", help="also write every run's raw records")
    args = p.parse_args(argv)
    if args.runs < 1:
        p.error("--runs must be at least 1")
    if args.timeout < 30:
        p.error("--timeout must be at least 30 seconds")
    model = pick_model(args.model)

    def version(name):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "?"

    print(f"model {model}; image {Path(args.image).name}; beam 5, max 20 words; {args.runs} runs of each design")
    pyside = version("PySide6_Essentials") if version("PySide6_Essentials") != "?" else version("PySide6")
    print(f"Python {platform.python_version()}, PySide6 {pyside}, pyqtgraph "
          f"{version('pyqtgraph')}, torch {version('torch')}; {os.cpu_count()} CPUs, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, QT_QPA_PLATFORM=offscreen")
    print("times from start: from the parent's time.time() just before spawning each child process\n")

    results: dict[str, list[dict]] = {m: [] for m in MODES}
    failures = []
    for i in range(args.runs):
        for mode in MODES:  # alternate, so that load from other jobs spreads over both
            run = run_child(mode, model, args.image, args.timeout)
            ok = not run["errors"] and "stream_end" in run["marks"]
            status = "ok" if ok else "FAILED: " + "; ".join(run["errors"])
            if ok and run.get("clean_shutdown") is not True:
                status = "ok, but the engine thread was still running after window.close()"
            print(f"run {i + 1}/{args.runs} {mode:8}: {status}", flush=True)
            (results[mode] if ok else failures).append(run)

    figs = {mode: [figures(r) for r in results[mode]] for mode in MODES}
    print()
    if not results["engine"] and not results["baseline"]:
        print("no run finished")
        return 1
    caption = next((r["marks"].get("caption") for m in MODES for r in results[m]), "")
    print(f"caption: {caption!r}\n")
    med = print_table(figs)
    print_targets(med)
    clean = sum(r.get("clean_shutdown") is True for m in MODES for r in results[m])
    print(f"\nengine thread stopped by window.close(): {clean} of {sum(len(v) for v in results.values())} runs")
    print_diagnostics(results, figs)
    if args.profile:
        with tempfile.TemporaryDirectory() as tmp:
            stats = str(Path(tmp) / "gui.prof")
            run = run_child("engine", model, args.image, args.timeout, profile=stats)
            if Path(stats).exists():
                print_profile(stats)
            else:
                print("\nprofiled run failed:", "; ".join(run["errors"]))
    if args.json:
        Path(args.json).write_text(json.dumps(results))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
