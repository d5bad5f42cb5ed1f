"""How responsive the window stays, for images, videos and sentences: the engine (in its own
process) against running everything on the GUI thread.

    python benchmarks/ui_latency.py [--kinds image,video,text] [--runs N] [--quick] [--warm]
                                    [--model NAME|PATH] [--image PNG] [--video FILE] [--clip-frames N]
                                    [--video-model NAME] [--text-model NAME] [--sentence TEXT]
                                    [--profile] [--sample] [--no-play] [--unshared] [--against TREE]

Every run is a fresh Python process (benchmarks/_ui_probe.py) with QT_QPA_PLATFORM=offscreen and
its settings in a temporary ini file, so the user's settings are never touched. Two designs,
alternating, --runs times each; medians are reported:

  engine    the app as it is: garbage is collected by the GUI thread's timer only; the window is
            shown and opens the input (open_file, or translate for a sentence); the job goes to the
            engine's process (started before the window, as the app does), which reads the input,
            imports torch, loads the model and streams a
            beam-5 decode as signals; the window coalesces redraws.
  baseline  the naive design: the GUI thread reads the input, imports torch, loads the model and
            runs the one decode path itself (attnviewer.pipeline: read, load_model, run),
            drawing every word through the window's slots and redraw() and processing events
            between words.

The kinds (--kinds, default all three):
  image     caption-shapes on resources/samples/shapes-1.png, max 20 words.
  video     video-shapes on a 10-minute clip (15000 frames at 25 fps, 64x64, H.264) generated once
            per invocation in a temporary folder: a generated clip of moving shapes stretched in
            time, each frame blended into the next. Reading it lists every packet and decodes
            the 12 frames the model samples; the window's video pane also opens it in its player.
  playback  (with video) in each engine run, once the caption is painted: a 10 s, 25 fps, 480x360
            clip played to its end in the window's own player (its video media pane), against
            the naive player of benchmarks/player.py (each frame decoded in the GUI thread's
            tick) in the same widget, after an idle reference of as long; player.py's own
            functions, imported. Frames dropped, the longest and 99th-percentile gaps of a 5 ms
            timer; target for the window's player: at most 2% dropped.
  text      translate-sov on "the old teacher will paint some small red boats near the river".

Measured per kind ("from start" = from the parent's time.time() just before it spawns the child,
so the interpreter's own start-up counts; the child ties its perf_counter to that clock on its
first line, before any import):
  window shown       the window's first paint has finished (a posted event queued below the
                     repaint priority runs after it);
  first word         the first redraw() that shows a word has been painted;
  input painted      (engine) from the input read (media_ready) to the window's paint of it done;
  player ready       (video) from the clip read to the window's player showing its first frame:
                     the player has the clip's packet list then (its own, or the engine's);
  peak memory        the process's peak resident size (getrusage) when the last word is painted:
                     the kind open, its model loaded; a goal per kind (MEMORY_GOAL_MB);
  gaps               between ticks of a 5 ms QTimer on the GUI thread, per phase: reading the
                     input (job start -> input read), the model load (-> model loaded), the
                     streaming (-> final words painted) and the whole job; "model load" in the
                     image table runs from the job's start (image read, torch import, weights);
                     a gap that spans two phases counts in each for its part there.
  GUI CPU in gaps   the GUI thread's own CPU time (time.thread_time) within the phase's longest gap
                     and the most within any one of its gaps: on a machine shared with other
                     work a gap's wall time grows while the GUI thread waits for a core; its CPU
                     does not. (A gap's CPU minus the work timed in it is Qt's own.)
The baseline's GUI thread ticks only between words, so its read and load phases are one long gap
(and its window is first painted only after the first word). At the end, one table of every
kind and `all kinds measured: yes` when each of its rows got a value in both designs.
Where the GUI thread's time goes (engine design): each timed part's wall time and the GUI thread's
own CPU time (time.thread_time, which other threads and processes cannot inflate: on a loaded
machine compare these), the CPU per redraw and the largest single piece of GUI work in the job;
and, from one more engine run not counted in the tables, each widget's paint within a window
repaint (noting those takes an application-wide event filter, and PySide makes a Python object for
each receiver and event it shows the filter: 10-15 ms of the first turns, so the gaps come from
runs without it). --sample: a helper thread in the child notes every
thread's Python line each millisecond, so the longest gaps say what the engine and player threads
were doing meanwhile (it takes GIL turns itself: use it to explain gaps, not to measure them).
--profile: one more engine run of each kind with the GUI thread under cProfile.
--no-play: skip the playback part of the video runs.
--unshared: (video) a third design, alternating with the other two: the engine design as it was
before the packet index was shared: the window's player opened without the index the engine
listed while reading the clip, so it lists the clip's 15,000 packets again on its own thread;
its column and the ratio shared / unshared say what the change did.
--against TREE: (every kind) a third design, alternating with the others: the engine design of
another checkout of the app (e.g. `git worktree add /tmp/before COMMIT`), run with its own code
under this checkout's probe (both measured alike); its column and the ratio now / before say what the changes between
them did.
--quick: a 30 s clip, a 1 s 240x180 playback clip, one run of each (well under a minute).
The app's modules are compiled to bytecode first (compileall, into their __pycache__ folders),
as an installed wheel has them, whatever PYTHONDONTWRITEBYTECODE says.
Timings depend on the machine and on other load (the load average is printed): compare the
columns of one invocation, not numbers across machines.
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
UNSHARED = "unshared"  # --unshared: the engine design before the index was shared (player lists itself)
AGAINST = "before"  # --against TREE: the engine design of another checkout
MODE_NAMES = {"engine": "engine", "baseline": "GUI-thread baseline", UNSHARED: "engine, index not shared",
              AGAINST: "engine of --against"}
# the extra designs: the flag passed to the probe, the ratio's name and what a ratio below 1 says
EXTRAS = {UNSHARED: ("shared / unshared", "engine / engine with the player listing the packets itself: "
                                          "below 1, sharing the index helped."),
          AGAINST: ("now / before", "engine / the engine of the --against checkout: below 1, this "
                                   "checkout's is faster or smoother.")}
KINDS = ("image", "video", "text")
KIND_NAME = {"image": "caption", "video": "video", "text": "translate"}  # the engine's job kinds
DEFAULT_MODELS = {"image": DEFAULT_MODEL, "video": "video-shapes", "text": "translate-sov"}
DEFAULT_SENTENCE = "the old teacher will paint some small red boats near the river"
IMAGE_MAX_LEN = 20  # video and text: the model's own limit
CLIP_FRAMES, QUICK_CLIP_FRAMES, CLIP_FPS, CLIP_SIDE = 15000, 750, 25.0, 64  # 10 minutes; quick: 30 s
PLAY_SECONDS, PLAY_SIZE, QUICK_PLAY_SECONDS, QUICK_PLAY_SIZE = 10.0, (480, 360), 1.0, (240, 180)
TARGET_STREAM_GAP_MS, AIM_STREAM_GAP_MS = 50.0, 16.0
TARGET_SHOWN_S = 1.5
TARGET_FIRST_WORD_S = 1.5  # issue 24: the first word on screen, from process start
# Peak resident size of the app with each kind open (the engine design, at the last word). Set from
# the first measurement (704, 722, 680 MB): torch's import alone is ~506 MB resident and the empty
# window ~145 MB, so 750 MB leaves the model, the input and the panes about 100 MB; decoding the
# 10-minute clip whole (15,000 frames of 64x64: 184 MB) or keeping every word's maps as images
# would break it.
MEMORY_GOAL_MB = {"image": 750, "video": 750, "text": 750}
TARGET_DROPPED = 0.02
TRAIN_HINT = ("python -m attnviewer train caption --out /tmp/bench.safetensors "
              "--train-size 256 --epochs 1")


def pick_model(name: str | None, kind: str = "image") -> str | None:
    """The model for a kind: a checkpoint file, a bundled name, or None (said why) if missing."""
    if name:
        path = Path(name).expanduser()
        return str(path.resolve()) if path.exists() else name
    default = DEFAULT_MODELS[kind]
    if default in catalog.bundled():
        return default
    hint = f" (a small one takes ~30 s: {TRAIN_HINT})" if kind == "image" else ""
    print(f"{kind}: the bundled model {default!r} is not installed yet: pass a checkpoint file "
          f"instead{hint}; the {kind} rows stay empty", flush=True)
    return None


def compile_bytecode(tree: Path = REPO) -> None:
    """The app's modules compiled to bytecode (in their __pycache__ folders) before any child
    runs, as an installed wheel has them: where PYTHONDONTWRITEBYTECODE is set, every child
    compiled each module it imported, on the GUI thread too (importing the video pane's modules
    took 17-22 ms of its CPU against 3-7 ms)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "attnviewer")], env=env,
                   capture_output=True, check=False)


def child_env() -> dict:
    """The children's environment: offscreen, and the app's own design whatever the caller's
    environment says (the test suite runs its windows with ATTNVIEWER_ENGINE=thread, and with it
    the benchmark measured, and sometimes failed on, a design the app does not ship)."""
    return dict(os.environ, QT_QPA_PLATFORM="offscreen", ATTNVIEWER_ENGINE="process")


def load() -> str:
    a, b, c = os.getloadavg()
    return f"load average {a:.2f} {b:.2f} {c:.2f} ({os.cpu_count()} CPUs)"


def run_child(mode: str, model: str, image: str, timeout: float, profile: str | None = None,
              kind: str = "image", max_len: int = IMAGE_MAX_LEN, play: str | None = None, warm: bool = False,
              sample: bool = False, against: str | None = None, paints: bool = False) -> dict:
    """One probe run; `image` is the input: an image or video file, or the sentence. The design
    AGAINST runs the code of the `against` checkout, under this checkout's probe. `paints`: each
    widget's paint timed too (a cost of its own: for the breakdown, not the gaps)."""
    env = child_env()
    tree = Path(against) if mode == AGAINST else REPO
    with tempfile.TemporaryDirectory(prefix="attnviewer-ui-latency-") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, str(PROBE), "--tree", str(tree), "--mode", "engine" if mode in EXTRAS else mode,
               "--kind", KIND_NAME[kind], "--model", model,
               "--source", image, "--max-len", str(max_len or 0), "--out", str(out), "--timeout", str(timeout)]
        if profile:
            cmd += ["--profile", profile]
        if play:
            cmd += ["--play", play]
        if warm:
            cmd += ["--warm"]
        if sample:
            cmd += ["--sample"]
        if paints:
            cmd += ["--paints"]
        if mode == UNSHARED:
            cmd += ["--" + mode]
        t0 = time.time()
        cmd += ["--t0", repr(t0)]
        try:  # the child also stops itself (faulthandler) before this limit
            proc = subprocess.run(cmd, env=env, cwd=tree, capture_output=True, text=True, timeout=timeout + 30)
        except subprocess.TimeoutExpired:  # run() has killed it
            return {"mode": mode, "errors": [f"killed after {timeout + 30:.0f} s"], "marks": {}}
        if proc.returncode != 0 or not out.exists():
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            return {"mode": mode, "errors": [f"exit status {proc.returncode}:\n{tail}"], "marks": {}}
        return dict(json.loads(out.read_text()), mode=mode)


# -- turning one run's records into figures ------------------------------------------------------


def gaps_in(ticks: list[float], start: float, end: float) -> list[tuple[float, float]]:
    """The gaps between consecutive ticks, clipped to [start, end]: a stall that began while the
    model loaded counts in the streaming phase only for the part of it after the model was loaded."""
    return [(max(a, start), min(b, end)) for a, b in zip(ticks, ticks[1:]) if a < end and b > start]


PHASES = {  # name: (start mark, end mark)
    "read": ("work_start", "media_read"),  # the input read (and, in the engine design, received)
    "model": ("media_read", "load_end"),  # torch imported, the weights read
    "load": ("work_start", "load_end"),  # both: the image table's "model load"
    "stream": ("load_end", "stream_end"),  # the words, until the last is painted
    "job": ("work_start", "stream_end"),  # everything
    "shown": ("window_shown", "stream_end"),  # everything once the window is on screen (its first paint done)
}


def gap_cpu(ticks: list[float], tick_cpu: list[float], start: float, end: float) -> list[tuple[float, float]]:
    """(wall ms, GUI-thread CPU ms) of each gap that overlaps [start, end], whole (CPU is known
    only at the ticks)."""
    return [((b - a) * 1000, (cb - ca) * 1000) for a, b, ca, cb in zip(ticks, ticks[1:], tick_cpu, tick_cpu[1:])
            if a < end and b > start]


def figures(run: dict) -> dict:
    m, ticks = run["marks"], run["ticks"]
    tick_cpu = run.get("tick_cpu") or []
    f = {"window shown": m.get("window_shown")}
    mem = run.get("memory") or {}
    f["peak memory"] = mem.get("peak at last word")  # resident, MB: the kind open, its words on screen
    if "first_word_painted" in m:  # a word is on screen only once the window itself is
        f["first word"] = max(m["first_word_painted"], m.get("window_shown", 0.0))
    if "stream_painted" in m:  # the final caption painted, not only drawn
        m = dict(m, stream_end=m["stream_painted"])
    if "media_painted" in m and "media_read" in m:
        f["input painted"] = (m["media_painted"] - m["media_read"]) * 1000
    if "player_ready" in m and "media_read" in m:
        f["player seconds"] = m["player_ready"] - m["media_read"]
    for phase, (a, b) in PHASES.items():
        if a in m and b in m:
            gaps = gaps_in(ticks, m[a], m[b])
            lengths = [(e - s) * 1000 for s, e in gaps]
            f[f"{phase} max gap"] = max(lengths, default=None)
            f[f"{phase} median gap"] = statistics.median(lengths) if lengths else None
            f[f"{phase} gaps"] = gaps
            f[f"{phase} seconds"] = m[b] - m[a]
            if len(tick_cpu) == len(ticks):
                spent = gap_cpu(ticks, tick_cpu, m[a], m[b])
                f[f"{phase} longest gap cpu"] = max(spent, default=(None, None))[1]
                f[f"{phase} max gap cpu"] = max((c for _, c in spent), default=None)
    return f


ROWS = [  # the image table (label, key, unit)
    ("window shown, from process start", "window shown", "s"),
    ("first word on screen, from process start", "first word", "s"),
    ("input painted (image read -> its paint done)", "input painted", "ms"),
    ("model load: longest GUI gap", "load max gap", "ms"),
    ("whole job, once the window is on screen (its first paint done): longest GUI gap", "shown max gap", "ms"),
    ("model load: median GUI gap", "load median gap", "ms"),
    ("streaming: longest GUI gap", "stream max gap", "ms"),
    ("streaming: median GUI gap", "stream median gap", "ms"),
    ("streaming: most GUI-thread CPU within one gap", "stream max gap cpu", "ms"),
    ("model load phase (job start -> model loaded)", "load seconds", "s"),
    ("streaming phase (model loaded -> caption painted)", "stream seconds", "s"),
    ("peak resident memory (process, at the last word)", "peak memory", "MB"),
]


def kind_rows(noun: str, doing: str) -> list[tuple[str, str, str]]:
    """The table of a video or a sentence."""
    return [
        ("window shown, from process start", "window shown", "s"),
        ("first word on screen, from process start", "first word", "s"),
        (f"whole job (read, load, {doing}): longest GUI gap", "job max gap", "ms"),
        ("the same, once the window is on screen (its first paint done)", "shown max gap", "ms"),
        ("whole job: median GUI gap", "job median gap", "ms"),
        ("whole job: GUI-thread CPU within the longest gap", "job longest gap cpu", "ms"),
        ("whole job: most GUI-thread CPU within one gap", "job max gap cpu", "ms"),
        (f"input painted ({noun} read -> its paint done)", "input painted", "ms"),
        (f"reading the {noun}: longest GUI gap", "read max gap", "ms"),
        ("model load: longest GUI gap", "model max gap", "ms"),
        (f"{doing}: longest GUI gap", "stream max gap", "ms"),
        (f"{doing}: median GUI gap", "stream median gap", "ms"),
        (f"reading phase (job start -> {noun} read)", "read seconds", "s"),
        (f"model load phase ({noun} read -> model loaded)", "model seconds", "s"),
        (f"{doing} phase (model loaded -> last word painted)", "stream seconds", "s"),
        ("whole job (job start -> last word painted)", "job seconds", "s"),
        ("peak resident memory (process, at the last word)", "peak memory", "MB"),
    ]


KIND_ROWS = {"image": ROWS, "text": kind_rows("sentence", "translating"),
             "video": kind_rows("clip", "captioning") + [
                 ("player ready (clip read -> the player's first frame, its scrub bar usable)", "player seconds", "s")]}


def median_of(runs: list[dict], key: str):
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def fmt(value, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "MB":
        return f"{value:.0f} MB"
    return f"{value:.3f} s" if unit == "s" else f"{value:.1f} ms"


def ratio(e, b) -> str:
    return f"{e / b:.2f}" if e is not None and b else "—"


def print_rows(header: tuple, rows: list[tuple]) -> None:
    """A table: the first column left-aligned, the others right-aligned."""
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("-|-".join("-" * w for w in widths))
    for r in rows:
        print(" | ".join([r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])]))


def print_table(figs: dict[str, list[dict]], table: list[tuple[str, str, str]] = ROWS) -> dict[str, dict]:
    med = {mode: {key: median_of(figs[mode], key) for _, key, _ in table} for mode in figs}
    extras = [m for m in EXTRAS if m in figs]
    header = ("metric (median of runs)", "engine", "GUI-thread baseline", "ratio")
    for m in extras:
        header += (MODE_NAMES[m], EXTRAS[m][0])
    rows = []
    for label, key, unit in table:
        e, b = med["engine"][key], med["baseline"][key]
        row = (label, fmt(e, unit), fmt(b, unit), ratio(e, b))
        for m in extras:
            row += (fmt(med[m][key], unit), ratio(e, med[m][key]))
        rows.append(row)
    print_rows(header, rows)
    print("ratio = engine / baseline: below 1, the engine design is faster or smoother.")
    for m in extras:
        print(f"{EXTRAS[m][0]} = {EXTRAS[m][1]}")
    return med


def print_listings(runs: dict[str, list[dict]]) -> None:
    """Who listed the clip's packets in each design (per run, job start to last word: thread, wall
    ms), from the probe's timing of media.frames.list_packets; the shared design lists once, on
    the engine thread. (The playback clip's own listings come after the caption, not counted.)"""
    print("\npacket listings of the clip per run, job start to last word (thread: wall ms):")
    for mode, rs in runs.items():
        per = [[(label[len("list packets ("):-1], (b - a) * 1000) for label, a, b in r["intervals"]
                if label.startswith("list packets (") and r["marks"]["work_start"] <= a <= r["marks"]["stream_end"]]
               for r in rs]
        if per:
            text = "; ".join(", ".join(f"{who}: {ms:.0f}" for who, ms in one) or "none" for one in per)
            print(f"  {MODE_NAMES[mode]:26} {text}")


def gap_verdict(gap) -> str:
    if gap is None:
        return "not measured"
    verdict = "met" if gap < TARGET_STREAM_GAP_MS else "NOT met"
    aim = "met" if gap < AIM_STREAM_GAP_MS else "not met"
    return f"{gap:.1f} ms -> {verdict} (aim {AIM_STREAM_GAP_MS:.0f} ms: {aim})"


def print_targets(med: dict[str, dict], kind: str = "image") -> None:
    key, what = {"image": ("stream max gap", "while streaming"),
                 "video": ("job max gap", "while the clip is read and captioned"),
                 "text": ("job max gap", "while the sentence is read and translated")}[kind]
    gap, shown = med["engine"][key], med["engine"]["window shown"]
    print("\ntargets (engine design):")
    note = " (the image's and video's target, applied here too)" if kind == "text" else ""
    print(f"  longest GUI gap {what} < {TARGET_STREAM_GAP_MS:.0f} ms{note}: {gap_verdict(gap)}")
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


def cpu_in(run: dict, start: float, end: float) -> dict[str, float]:
    """GUI-thread CPU (ms) of each timed part that started within [start, end]."""
    out: dict[str, float] = defaultdict(float)
    for label, a, c in run.get("cpu", []):
        if start <= a <= end:
            out[label] += c * 1000
    return out


def print_worst_gaps(runs: list[dict], figs: list[dict], phase: str, n: int = 3) -> None:
    """The longest gaps of a phase, each with the timed work that overlapped it (wall ms), the
    GUI thread's CPU in it and, with --sample, where the other threads were meanwhile."""
    worst = []
    for run, f in zip(runs, figs):
        for a, b in f.get(f"{phase} gaps", []):
            worst.append(((b - a) * 1000, a, b, run))
    worst.sort(key=lambda w: -w[0])
    for length, a, b, run in worst[:n]:
        parts = sorted(overlaps(run["intervals"], a, b).items(), key=lambda kv: -kv[1])
        what = ", ".join(f"{label} {ms:.0f}" for label, ms in parts if ms >= 1) or "no timed GUI work"
        print(f"    {length:6.0f} ms at {a:6.3f} s: {what}")
        cpu = sorted(cpu_in(run, a, b).items(), key=lambda kv: -kv[1])
        if cpu:
            print("           GUI CPU: " + (", ".join(f"{label} {ms:.1f}" for label, ms in cpu[:4] if ms >= 0.5) or "< 0.5 ms"))
        seen: dict[str, int] = defaultdict(int)
        for t, row in run.get("samples", []):
            if a <= t <= b:
                for thread, where in row.items():
                    if thread != "gui":
                        seen[f"{thread}: {where}"] += 1
        for where, count in sorted(seen.items(), key=lambda kv: -kv[1])[:3]:
            print(f"           sampled {count:3d}x  {where}")


def print_costs(runs: list[dict], start: str = "load_end", only: str = "") -> None:
    """Per-call cost of each timed part of the redraw path from mark `start` to the last word, all
    runs together: wall time and the GUI thread's CPU time (thread_time: what the GUI thread itself
    did, whatever the other threads and processes took from it meanwhile); `only`: the parts whose
    label starts so."""
    per: dict[str, list[float]] = defaultdict(list)
    cpu: dict[str, list[float]] = defaultdict(list)
    for run in runs:
        m = run["marks"]
        if start not in m or "stream_end" not in m:
            continue
        for label, a, b in run["intervals"]:
            if m[start] <= a <= m["stream_end"] + 0.2 and not label.startswith("gc"):
                per[label].append((b - a) * 1000)
        for label, a, c in run.get("cpu", []):
            if m[start] <= a <= m["stream_end"] + 0.2:
                cpu[label].append(c * 1000)
    n = max(1, len(runs))
    print(f"    {'part':56} {'calls/run':>9} {'wall med':>8} {'wall max':>8} {'CPU med':>8} {'CPU max':>8} "
          f"{'CPU/run':>8}")
    for label in sorted(set(per) | set(cpu), key=lambda k: -sum(cpu.get(k) or per[k])):
        if not label.startswith(only):
            continue
        v, c = per.get(label, []), cpu.get(label, [])
        calls = len(v) or len(c)
        wall = f"{statistics.median(v):6.1f}ms {max(v):6.1f}ms" if v else f"{'':8} {'':8}"
        cpu_text = (f"{statistics.median(c):6.2f}ms {max(c):6.2f}ms {sum(c) / n:6.1f}ms" if c else "")
        print(f"    {label:56} {calls / n:9.1f} {wall} {cpu_text}")


def cpu_figures(runs: list[dict]) -> dict[str, float | None]:
    """From job start to last word: the GUI thread's CPU per redraw (median, max) and the largest
    single piece of timed GUI work (a repaint, a slot, a pane built)."""
    redraws, pieces = [], []
    for run in runs:
        m = run["marks"]
        if "work_start" not in m or "stream_end" not in m:
            continue
        for label, a, c in run.get("cpu", []):
            if m["work_start"] <= a <= m["stream_end"] + 0.2 and not label.startswith("paint "):
                pieces.append(c * 1000)  # "paint X" parts are inside a repaint, counted there
                if label.startswith("MainWindow.redraw"):  # (a streamed redraw: each of its two turns)
                    redraws.append(c * 1000)
    return {"redraw median": statistics.median(redraws) if redraws else None,
            "redraw max": max(redraws, default=None), "largest piece": max(pieces, default=None)}


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
          "\nparts are also counted in 'MainWindow.redraw ...' (a streamed redraw: its lists in one turn,"
          "\nits pictures a turn later); a gap's untimed rest is Qt's own"
          "\nwork or waiting for the GIL held by the other thread):")
    for mode in results:
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
        if mode != "baseline":
            print(f"  {mode}, every timed part from job start to last word (the read and load phases too):")
            print_costs(runs, "work_start")
            c = cpu_figures(runs)
            if c["redraw median"] is not None:
                print(f"  {mode}, GUI-thread CPU per redraw turn: median {c['redraw median']:.2f} ms, max "
                      f"{c['redraw max']:.2f} ms; largest single piece of GUI work in the job: "
                      f"{c['largest piece']:.2f} ms")
        print(f"  {mode}, garbage collections from job start to last word:")
        print_gc(runs)
        if mode == "baseline":
            m = [r["marks"] for r in runs]
            read = statistics.median(x["media_read"] - x["work_start"] for x in m)
            imp = statistics.median(x["torch_imported"] - x["media_read"] for x in m)
            load = statistics.median(x["load_end"] - x["torch_imported"] for x in m)
            print(f"  baseline, on the GUI thread: read the input {read:.2f} s, import torch {imp:.2f} s, "
                  f"read weights {load:.2f} s")


def print_profile(path: str, limit: int = 25) -> None:
    import pstats

    print("\ncProfile of the GUI thread, engine design, job start to last word (by own time):")
    pstats.Stats(path).sort_stats("tottime").print_stats(limit)


def profile_kind(kind: str, model: str, source: str, args) -> None:
    """One more engine run of a kind with the GUI thread under cProfile."""
    with tempfile.TemporaryDirectory() as ptmp:
        stats = str(Path(ptmp) / "gui.prof")
        run = run_child("engine", model, source, args.timeout, profile=stats, kind=kind,
                        max_len=IMAGE_MAX_LEN if kind == "image" else 0, warm=args.warm)
        if Path(stats).exists():
            print(f"\n({kind})", end="")
            print_profile(stats)
        else:
            print(f"\n{kind}: profiled run failed:", "; ".join(run["errors"]))


# -- the inputs: a long clip, a clip to play -------------------------------------------------------


def make_long_clip(path: Path, frames: int, fps: float = CLIP_FPS, side: int = CLIP_SIDE) -> str:
    """A generated clip of shapes (the kind video-shapes was trained on), stretched to `frames`
    frames: each of its 24 frames blended into the next, so every frame differs a little. Returns
    its reference caption."""
    import cv2
    import numpy as np

    from attnviewer.data.clip_events import generate_clip
    from attnviewer.media.frames import write_clip

    clip = generate_clip(7, 3)
    src = np.stack([cv2.resize(f, (side, side), interpolation=cv2.INTER_LINEAR) for f in clip.frames])
    src = src.astype(np.float32)
    pos = np.clip((np.arange(frames) + 0.5) * len(src) / frames - 0.5, 0, len(src) - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, len(src) - 1)
    w = (pos - lo)[:, None, None, None].astype(np.float32)
    out = np.empty((frames, side, side, 3), np.uint8)
    for a in range(0, frames, 1000):
        b = min(frames, a + 1000)
        out[a:b] = np.rint(src[lo[a:b]] * (1 - w[a:b]) + src[hi[a:b]] * w[a:b]).astype(np.uint8)
    write_clip(out, path, fps=fps)
    return clip.caption


def make_play_clip(path: Path, seconds: float, size: tuple[int, int]) -> Path:
    """benchmarks/player.py's own clip (a moving gradient, discs and a fine pattern), 25 fps."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import player as player_bench

    return player_bench.make_clip(path, seconds, 25.0, size)


# -- one kind: engine and baseline runs, its table ---------------------------------------------------


def measure_kind(kind: str, model: str, source: str, args, play: str | None = None) -> dict:
    """Runs, table, targets and diagnostics of one kind; returns its runs and medians."""
    modes = MODES + ((UNSHARED,) if kind == "video" and args.unshared else ()) + ((AGAINST,) if args.against else ())
    runs: dict[str, list[dict]] = {m: [] for m in modes}
    failures = []
    max_len = IMAGE_MAX_LEN if kind == "image" else 0
    play_time = 0.0 if not play else 3 * (args.play_seconds + 10)
    for i in range(args.runs):
        for mode in modes:  # alternate, so that load from other jobs spreads over all
            run = run_child(mode, model, source, args.timeout + (play_time if mode == "engine" else 0),
                            kind=kind, max_len=max_len, play=play if mode == "engine" else None, warm=args.warm,
                            sample=args.sample, against=args.against)
            ok = not run["errors"] and "stream_end" in run["marks"]
            status = "ok" if ok else "FAILED: " + "; ".join(run["errors"])
            if ok and run.get("clean_shutdown") is not True:
                status = "ok, but the engine was still running after window.close()"
            print(f"run {i + 1}/{args.runs} {kind} {mode:8}: {status}  [{load()}]", flush=True)
            (runs[mode] if ok else failures).append(run)
    figs = {mode: [figures(r) for r in runs[mode]] for mode in modes}
    out = {"runs": runs, "failures": failures, "figs": figs, "med": None}
    print()
    if not runs["engine"] and not runs["baseline"]:
        print(f"{kind}: no run finished")
        return out
    caption = next((r["marks"].get("caption") for m in modes for r in runs[m]), "")
    print(f"{'translation' if kind == 'text' else 'caption'}: {caption!r}")
    words = {r["marks"].get("caption") for m in modes for r in runs[m]}
    same = len(words) == 1
    print(f"the same words in every run of every design: {'yes' if same else 'NO: ' + repr(sorted(words))}\n")
    if not same:
        failures.append({"errors": [f"different words: {sorted(words)!r}"]})
    out["med"] = med = print_table(figs, KIND_ROWS[kind])
    print_targets(med, kind)
    if kind == "video":
        print_listings(runs)
    clean = sum(r.get("clean_shutdown") is True for m in modes for r in runs[m])
    print(f"\nengine stopped by window.close(): {clean} of {sum(len(v) for v in runs.values())} runs")
    if not args.quick:
        print_diagnostics(runs, figs)
        painted = run_child("engine", model, source, args.timeout, kind=kind, max_len=max_len, warm=args.warm,
                            paints=True)
        if painted["errors"] or "stream_end" not in painted["marks"]:
            print(f"\n  engine, each widget's paint: the run failed: {'; '.join(painted['errors'])}")
        else:
            print("\n  engine, each widget's paint, from one more run with them timed (not in the tables):")
            print_costs([painted], "work_start", only="paint ")
    return out


# -- playback -----------------------------------------------------------------------------------------


PLAY_DESIGNS = {"idle": "(ref) idle: nothing playing", "player": "window's player: decoder thread",
                "naive": "naive: decode in the GUI tick (player.py)"}


def playback_medians(runs: list[dict]) -> dict | None:
    """Per design: shown and dropped of the median run (by dropped frames), median gaps and time."""
    plays = [r["playback"] for r in runs if all(d in r.get("playback", {}) for d in PLAY_DESIGNS)]
    if not plays:
        return None
    med = {"frames": plays[0]["frames"], "fps": plays[0]["fps"], "runs": len(plays),
           "visible": all(p.get("visible") for p in plays)}
    for d in PLAY_DESIGNS:
        v = [p[d] for p in plays]
        middle = sorted(v, key=lambda r: r["dropped"])[(len(v) - 1) // 2]
        total = middle["shown"] + middle["dropped"]
        med[d] = dict(shown=middle["shown"], dropped=middle["dropped"],
                      pct=100 * middle["dropped"] / total if total else 0.0,
                      **{m: statistics.median(r[m] for r in v) for m in ("gap", "p99", "took")})
    return med


def print_playback(runs: list[dict], seconds: float, size: tuple[int, int]) -> dict | None:
    med = playback_medians(runs)
    print(f"\n== video playback: a {seconds:g} s, 25 fps, {size[0]}x{size[1]} clip played to its end in the "
          "window's player (its video media pane), after the caption ==")
    if med is None:
        print("no playback finished")
        return None
    waited = statistics.median(r["playback"].get("warm_up_waited", 0.0) for r in runs if "playback" in r)
    print(f"{med['frames']} frames at {med['fps']:g} fps; {med['runs']} run(s) of each design"
          f"{', medians' if med['runs'] > 1 else ''}; player shown: {'yes' if med['visible'] else 'NO'}; "
          f"started {waited:.1f} s after the caption (once the engine's export warm-up was over)")
    header = ("design", "shown", "dropped", "longest GUI gap", "p99 GUI gap", "play time")
    rows = []
    for d, name in PLAY_DESIGNS.items():
        m = med[d]
        shown = "-" if d == "idle" else f"{m['shown']:.0f}"
        dropped = "-" if d == "idle" else f"{m['dropped']:.0f} ({m['pct']:.1f}%)"
        rows.append((name, shown, dropped, f"{m['gap']:.1f} ms", f"{m['p99']:.1f} ms", f"{m['took']:.2f} s"))
    print_rows(header, rows)
    a, b = med["player"], med["naive"]
    print(f"ratio window's player / naive: longest gap {ratio(a['gap'], b['gap'])}, p99 gap "
          f"{ratio(a['p99'], b['p99'])}, dropped {a['dropped']:.0f} vs {b['dropped']:.0f}")
    ok = a["pct"] <= 100 * TARGET_DROPPED
    print(f"target for the window's player: <= {100 * TARGET_DROPPED:.0f}% dropped: {a['pct']:.1f}% -> "
          f"{'met' if ok else 'NOT met'}")
    n = med["frames"]
    total = a["shown"] + a["dropped"]
    print(f"frames accounted for (shown + dropped = frames after the first): "
          f"{'yes' if total == n - 1 else f'no ({total} of {n - 1})'}")
    return med


# -- every kind in one table --------------------------------------------------------------------------


def summary_rows(done: dict, play: dict | None, asked: list[str], played: bool = True) -> list[tuple]:
    """(label, engine, baseline, unit, target text) for each kind asked for."""
    rows = []

    def med(kind, mode, key):
        m = done.get(kind, {}).get("med")
        return None if m is None else m[mode][key]

    def pair(kind, key):
        return med(kind, "engine", key), med(kind, "baseline", key)

    def first(kind):
        e = med(kind, "engine", "first word")
        return f"<= {TARGET_FIRST_WORD_S:g} s: " + ("not measured" if e is None else
                                                  "met" if e <= TARGET_FIRST_WORD_S else "NOT met")

    def memory(kind, label):
        e = med(kind, "engine", "peak memory")
        goal = MEMORY_GOAL_MB[kind]
        verdict = "not measured" if e is None else "met" if e <= goal else "NOT met"
        return (f"{label}: peak resident memory", *pair(kind, "peak memory"), "MB", f"<= {goal} MB: {verdict}")

    if "image" in asked:
        rows.append(("image: first word on screen, from process start", *pair("image", "first word"), "s",
                     first("image")))
        e, b = pair("image", "stream max gap")
        rows.append(("image: streaming, longest GUI gap", e, b, "ms", "< 50 ms (aim 16): " + short_verdict(e)))
        rows.append(("image: streaming, most GUI-thread CPU within one gap", *pair("image", "stream max gap cpu"),
                     "ms", "(the GUI's own work: load cannot stretch it)"))
        rows.append(memory("image", "image"))
    if "video" in asked:
        clip = done.get("video", {}).get("clip", "clip")
        rows.append((f"video ({clip}): first word on screen, from process start",
                     *pair("video", "first word"), "s", first("video")))
        e, b = pair("video", "job max gap")
        rows.append((f"video ({clip}): read + caption, longest GUI gap", e, b, "ms",
                     "< 50 ms (aim 16): " + short_verdict(e)))
        rows.append((f"video ({clip}): read + caption, most GUI-thread CPU within one gap",
                     *pair("video", "job max gap cpu"), "ms", ""))
        rows.append(memory("video", f"video ({clip})"))
        a = None if play is None else play["player"]
        n = None if play is None else play["naive"]
        rows += [] if not played else [("video playback: frames dropped (player vs naive)", a and a["pct"], n and n["pct"], "%",
                     "" if a is None else f"<= 2%: {'met' if a['pct'] <= 100 * TARGET_DROPPED else 'NOT met'}"),
                                         ("video playback: longest GUI gap (player vs naive)", a and a["gap"],
                                          n and n["gap"], "ms", "")]
    if "text" in asked:
        rows.append(("text: first word on screen, from process start", *pair("text", "first word"), "s",
                     first("text")))
        e, b = pair("text", "job max gap")
        rows.append(("text: read + translate, longest GUI gap", e, b, "ms", "< 50 ms (aim 16): " + short_verdict(e)))
        rows.append(("text: read + translate, most GUI-thread CPU within one gap", *pair("text", "job max gap cpu"),
                     "ms", ""))
        rows.append(memory("text", "text"))
    return rows


def short_verdict(gap) -> str:
    if gap is None:
        return "not measured"
    return ("met" if gap < TARGET_STREAM_GAP_MS else "NOT met") + (", aim met" if gap < AIM_STREAM_GAP_MS else "")


def fmt_summary(value, unit: str) -> str:
    if value is None:
        return "—"
    return f"{value:.1f}%" if unit == "%" else fmt(value, unit)


def print_summary(done: dict, play: dict | None, asked: list[str], played: bool = True) -> bool:
    rows = summary_rows(done, play, asked, played)
    print("\n== every kind: the engine design against the GUI-thread baseline (medians) ==")
    if "video" in asked:
        print("(playback rows: the window's player against decoding in the GUI thread's tick)")
    header = ("kind: metric", "engine", "GUI-thread baseline", "ratio", "target (engine)")
    print_rows(header, [(label, fmt_summary(e, u), fmt_summary(b, u), ratio(e, b), t) for label, e, b, u, t in rows])
    print("ratio = engine / baseline: below 1, the engine design is faster or smoother.")
    print(f"measured under {load()}")
    filled = all(e is not None and b is not None for _, e, b, _, _ in rows)
    missing = [k for k in KINDS if k not in asked]
    if filled and not missing:
        print("all kinds measured: yes")
    else:
        why = [f"not asked for: {', '.join(missing)}"] if missing else []
        why += [label for label, e, b, _, _ in rows if e is None or b is None]
        print(f"all kinds measured: no ({'; '.join(why)})")
    return filled


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    p.add_argument("--kinds", default="image,video,text", help="which kinds, comma-separated (default: all)")
    p.add_argument("--warm", action="store_true",
                   help="torch is imported before the input opens (an input opened in a running app): the "
                        "engine's one-time import, 0.25-0.45 s holding the GIL, is then outside the measured work")
    p.add_argument("--quick", action="store_true",
                   help=f"{QUICK_CLIP_FRAMES / CLIP_FPS:g} s clip, {QUICK_PLAY_SECONDS:g} s playback, 1 run")
    p.add_argument("--model", help=f"image: bundled model name or checkpoint file (default: {DEFAULT_MODEL})")
    p.add_argument("--video-model", help=f"video: model (default: {DEFAULT_MODELS['video']})")
    p.add_argument("--text-model", help=f"text: model (default: {DEFAULT_MODELS['text']})")
    p.add_argument("--runs", type=int, default=3, help="runs of each design (default 3)")
    p.add_argument("--image", default=str(sample_dir() / "shapes-1.png"))
    p.add_argument("--video", help="video: this file instead of the generated long clip")
    p.add_argument("--clip-frames", type=int, default=CLIP_FRAMES,
                   help=f"frames of the generated clip, at {CLIP_FPS:g} fps (default {CLIP_FRAMES}: 10 min)")
    p.add_argument("--play-seconds", type=float, default=PLAY_SECONDS, help="length of the clip played")
    p.add_argument("--sentence", default=DEFAULT_SENTENCE)
    p.add_argument("--timeout", type=float, default=240.0, help="seconds before a child is stopped")
    p.add_argument("--profile", action="store_true",
                   help="one more engine run of each kind under cProfile (GUI thread, job start to last word)")
    p.add_argument("--sample", action="store_true",
                   help="the child notes every thread's Python line each millisecond; the longest gaps then say "
                        "where the other threads were (the sampling itself takes GIL turns: slower runs)")
    p.add_argument("--no-play", action="store_true", help="video: skip the playback part (faster)")
    p.add_argument("--unshared", action="store_true",
                   help="video: also the engine design with the player listing the clip's packets itself (the "
                        "index the engine listed not shared), alternating with the others: before/after sharing")
    p.add_argument("--against", metavar="TREE",
                   help="also the engine design of another checkout of the app (its own probe and code), "
                        "alternating with the others: before/after")
    p.add_argument("--json", metavar="OUT", help="also write every run's raw records")
    args = p.parse_args(argv)
    asked = [k.strip() for k in args.kinds.split(",") if k.strip()]
    unknown = [k for k in asked if k not in KINDS]
    if unknown or not asked:
        p.error(f"--kinds: choose among {', '.join(KINDS)} (got {args.kinds!r})")
    asked = [k for k in KINDS if k in asked]
    play_size = PLAY_SIZE
    if args.quick:
        args.runs, play_size = 1, QUICK_PLAY_SIZE
        if args.clip_frames == CLIP_FRAMES:
            args.clip_frames = QUICK_CLIP_FRAMES
        if args.play_seconds == PLAY_SECONDS:
            args.play_seconds = QUICK_PLAY_SECONDS
    if args.runs < 1:
        p.error("--runs must be at least 1")
    if args.timeout < 30:
        p.error("--timeout must be at least 30 seconds")
    given = {"image": args.model, "video": args.video_model, "text": args.text_model}
    models = {k: pick_model(given[k], k) if k in asked else None for k in KINDS}

    def version(name):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "?"

    pyside = version("PySide6_Essentials") if version("PySide6_Essentials") != "?" else version("PySide6")
    print(f"kinds: {', '.join(asked)}; {args.runs} runs of each design{' (--quick)' if args.quick else ''}"
          f"{'; torch imported before the input opens (--warm)' if args.warm else ''}")
    print(f"Python {platform.python_version()}, PySide6 {pyside}, torch {version('torch')}; "
          f"{os.cpu_count()} CPUs, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, QT_QPA_PLATFORM=offscreen")
    print(f"at the start: {load()}")
    print("times from start: from the parent's time.time() just before spawning each child process\n")

    compile_bytecode()
    if args.against:
        compile_bytecode(Path(args.against))
    done: dict[str, dict] = {}
    play_med = None
    with tempfile.TemporaryDirectory(prefix="attnviewer-ui-latency-inputs-") as tmp:
        if "image" in asked and models["image"]:
            print(f"== image: model {models['image']}; image {Path(args.image).name}; beam 5, max {IMAGE_MAX_LEN} "
                  f"words; {args.runs} runs of each design ==")
            done["image"] = measure_kind("image", models["image"], args.image, args)
            if args.profile and done["image"]["med"] is not None:
                profile_kind("image", models["image"], args.image, args)
        if "video" in asked and models["video"]:
            t = time.monotonic()
            if args.video:
                clip, made = str(Path(args.video).resolve()), f"given: {args.video}"
            else:
                clip = str(Path(tmp) / "long-clip.mp4")
                truth = make_long_clip(Path(clip), args.clip_frames)
                made = (f"{args.clip_frames} frames at {CLIP_FPS:g} fps ({args.clip_frames / CLIP_FPS / 60:.1f} min), "
                        f"{CLIP_SIDE}x{CLIP_SIDE}, made in {time.monotonic() - t:.1f} s; shows {truth!r}")
            t = time.monotonic()
            play = None if args.no_play else make_play_clip(Path(tmp) / "play.mp4", args.play_seconds, play_size)
            print(f"\n== video: model {models['video']}; clip {made}; beam 5; {args.runs} runs of each design ==")
            if play is not None:
                print(f"(clip to play: {args.play_seconds:g} s, 25 fps, {play_size[0]}x{play_size[1]}, made in "
                      f"{time.monotonic() - t:.1f} s; played in each engine run once its caption is painted)")
            done["video"] = measure_kind("video", models["video"], clip, args, play=play and str(play))
            if args.profile and done["video"]["med"] is not None:
                profile_kind("video", models["video"], clip, args)
            done["video"]["clip"] = "given clip" if args.video else f"{args.clip_frames / CLIP_FPS / 60:g} min clip"
            if play is not None:
                play_med = print_playback(done["video"]["runs"]["engine"], args.play_seconds, play_size)
        if "text" in asked and models["text"]:
            print(f"\n== text: model {models['text']}; sentence {args.sentence!r}; beam 5; "
                  f"{args.runs} runs of each design ==")
            done["text"] = measure_kind("text", models["text"], args.sentence, args)
            if args.profile and done["text"]["med"] is not None:
                profile_kind("text", models["text"], args.sentence, args)
    failed = any(d["failures"] for d in done.values())
    filled = print_summary(done, play_med, asked, played=not args.no_play)
    if args.json:
        Path(args.json).write_text(json.dumps({k: {"runs": d["runs"], "failures": d["failures"]}
                                               for k, d in done.items()}))
    return 1 if failed or not filled else 0


if __name__ == "__main__":
    sys.exit(main())
