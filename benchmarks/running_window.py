"""How responsive the window stays when a 10-minute clip is opened in a running app: the sample
image opened first and its words written (torch imported, the image's panes shown), then the clip
opened as a user would (File → Open), read, shown and captioned. ui_latency.py measures inputs
opened at start-up; here the model is loaded already, so the clip's read, its pane's first showing
and its first words come within 0.2-0.4 s of each other, beside the player's first open.

    python benchmarks/running_window.py [--runs 3] [--clip-frames 15000] [--then video|text]
                                        [--against TREE]

Every run is a fresh process (QT_QPA_PLATFORM=offscreen, its settings in a temporary file); the
GUI thread's gaps are the intervals between ticks of a 5 ms timer, from the clip's opening to its
caption painted, each with the GUI thread's CPU time in it. `--against TREE` runs the same
measurement on another checkout's code (alternated with this one's) and prints now / before.
The longest gaps of each run are printed with the window's timed parts inside them.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
TICK_MS = 5
SAMPLE_IMAGE = REPO / "resources" / "samples" / "shapes-1.png"
SENTENCE = "the old teacher will paint some small red boats near the river"
TIMED = ("open_input", "_next_pane_step", "_commit", "redraw_in_turns", "_draw_pictures_due", "_show_read",
         "_show_put", "redraw", "on_status", "on_progress", "on_loading")


def child(args) -> None:
    """One run: this process imports the app from --tree, opens the sample image, then the input."""
    sys.path.insert(0, str(Path(args.tree).resolve()))
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from attnviewer.engine.process import start_early

    start_early(None)
    from PySide6.QtCore import QEvent, QEventLoop, QSettings, Qt, QTimer

    from attnviewer.app import make_application

    app = make_application([])  # noqa: F841  (held: the application lives as long as the window)
    from attnviewer.settings import DecodeSettings
    from attnviewer.ui.main_window import MainWindow

    intervals: list[tuple[str, float, float]] = []

    def timed(name: str) -> None:
        original = getattr(MainWindow, name, None)
        if original is None:  # a part the other checkout does not have
            return

        def wrapper(*a, **k):
            start = time.monotonic()
            try:
                return original(*a, **k)
            finally:
                intervals.append((name, start, time.monotonic()))

        setattr(MainWindow, name, wrapper)

    for name in TIMED:
        timed(name)
    window_event = MainWindow.event
    painted = {QEvent.Type.UpdateRequest: "repaint", QEvent.Type.LayoutRequest: "layout"}

    def event(self, ev):
        label = painted.get(ev.type())
        if label is None:
            return window_event(self, ev)
        start = time.monotonic()
        try:
            return window_event(self, ev)
        finally:
            intervals.append((label, start, time.monotonic()))

    MainWindow.event = event
    with tempfile.TemporaryDirectory() as tmp:
        w = MainWindow(settings=QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat))
        w.resize(1280, 800)
        w.show()
        w.sides["main"].controls.set_settings(DecodeSettings("beam", beam=5))
        side = w.sides["main"]

        def done(medium: str) -> bool:
            return (side.jobs.pending is None and side.state.result is not None and w.medium == medium
                    and not getattr(w, "drawing", False))

        def wait(until, seconds: float) -> None:
            loop, limit = QEventLoop(), time.monotonic() + seconds

            def check():
                loop.quit() if until() or time.monotonic() > limit else QTimer.singleShot(10, check)

            QTimer.singleShot(10, check)
            loop.exec()

        w.open_file(str(SAMPLE_IMAGE))
        wait(lambda: done("image"), 120)
        settled = time.monotonic() + 3.0  # the engine's look-ups for the export dialog come 2 s after a caption
        wait(lambda: time.monotonic() > settled, 5)
        intervals.clear()
        ticks: list[tuple[float, float]] = []
        tick = QTimer(interval=TICK_MS, timerType=Qt.TimerType.PreciseTimer)
        tick.timeout.connect(lambda: ticks.append((time.monotonic(), time.thread_time())))
        tick.start()
        start = time.monotonic()
        ticks.append((start, time.thread_time()))
        medium = "video" if args.then == "video" else "text"
        w.open_file(args.source) if args.then == "video" else w.translate(args.source)
        wait(lambda: done(medium), 120)
        end = time.monotonic()
        tick.stop()
        words = side.state.result.best.listed if side.state.result else ""
        w.close()
    gaps = [((b[0] - a[0]) * 1e3, (b[1] - a[1]) * 1e3, a[0], b[0]) for a, b in zip(ticks, ticks[1:])]
    top = sorted(gaps, reverse=True)[:3]
    Path(args.out).write_text(json.dumps({
        "seconds": end - start, "words": words, "gaps": [(g, c) for g, c, _, _ in gaps],
        "top": [{"gap": g, "cpu": c, "at": a - start,
                 "parts": [(n, (s - a) * 1e3, (e - a) * 1e3) for n, s, e in sorted(intervals, key=lambda x: x[1])
                           if s < b and e > a]} for g, c, a, b in top]}))


def one_run(tree: Path, then: str, source: str) -> dict:
    from ui_latency import child_env

    with tempfile.TemporaryDirectory(prefix="attnviewer-running-") as tmp:
        out = Path(tmp) / "run.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--tree", str(tree), "--then", then,
               "--source", source, "--out", str(out)]
        proc = subprocess.run(cmd, env=child_env(), cwd=tree,
                              capture_output=True, text=True, timeout=300)
        if proc.returncode != 0 or not out.exists():
            raise SystemExit(f"a run failed ({tree}):\n" + (proc.stdout + proc.stderr)[-2000:])
        return json.loads(out.read_text())


def summary(run: dict) -> dict:
    gaps = run["gaps"]
    return {"longest": max(g for g, _ in gaps), "most cpu": max(c for _, c in gaps),
            "over 16": sum(g > 16 for g, _ in gaps), "seconds": run["seconds"]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--then", choices=("video", "text"), default="video", help="what is opened in the running window")
    p.add_argument("--clip-frames", type=int, default=15000, help="the generated clip's frames, at 25 fps")
    p.add_argument("--against", type=Path, help="another checkout, measured alike, alternated with this one")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--tree", default=str(REPO), help=argparse.SUPPRESS)
    p.add_argument("--source", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(args)
        return 0
    sys.path.insert(0, str(HERE))
    from ui_latency import compile_bytecode, make_long_clip

    trees = {"now": REPO} | ({"before": args.against.resolve()} if args.against else {})
    for tree in trees.values():
        compile_bytecode(tree)
    with tempfile.TemporaryDirectory(prefix="attnviewer-running-clip-") as tmp:
        if args.then == "video":
            source = str(Path(tmp) / "long.mp4")
            caption = make_long_clip(Path(source), args.clip_frames)
            what = f"a generated {args.clip_frames / 25 / 60:g}-minute clip ('{caption}')"
        else:
            source, what = SENTENCE, f"the sentence '{SENTENCE}'"
        print(f"the sample image opened and captioned first, then {what} opened in the running window; "
              f"{args.runs} runs of each checkout, alternated")
        results: dict[str, list[dict]] = {name: [] for name in trees}
        for i in range(args.runs):
            for name, tree in trees.items():
                run = one_run(tree, args.then, source)
                results[name].append(run)
                s = summary(run)
                print(f"run {i + 1}/{args.runs} {name:6}: longest gap {s['longest']:5.1f} ms, most GUI CPU in one gap "
                      f"{s['most cpu']:5.1f} ms, gaps over 16 ms: {s['over 16']}, done in {s['seconds']:.2f} s "
                      f"[load {os.getloadavg()[0]:.2f}]")
    words = {r["words"] for rs in results.values() for r in rs}
    print(f"\nthe same words in every run: {'yes' if len(words) == 1 else 'no: ' + ' | '.join(sorted(words))}")
    rows = [("longest GUI gap", "longest", "ms"), ("most GUI-thread CPU within one gap", "most cpu", "ms"),
            ("gaps over 16 ms", "over 16", ""), ("opened -> caption painted", "seconds", "s")]
    header = f"{'metric (median of runs)':38} | " + " | ".join(f"{n:>8}" for n in trees)
    print(header + (" | now / before" if args.against else ""))
    print("-" * len(header) + ("-|-------------" if args.against else ""))
    for label, key, unit in rows:
        med = {n: statistics.median(summary(r)[key] for r in rs) for n, rs in results.items()}
        cells = " | ".join(f"{med[n]:>6.{2 if unit == 's' else 1}f}{unit:>2}" for n in trees)
        ratio = f" | {med['now'] / med['before']:12.2f}" if args.against and med["before"] else ""
        print(f"{label:38} | {cells}{ratio}")
    print("\nthe longest gaps of this checkout's runs, with the window's timed parts in them (ms from the gap's start):")
    for r in results["now"]:
        for t in r["top"][:2]:
            parts = ", ".join(f"{n} {s:.1f}-{e:.1f}" for n, s, e in t["parts"])
            print(f"  {t['gap']:5.1f} ms (GUI CPU {t['cpu']:4.1f}) at {t['at']:.3f} s: {parts or 'no timed part'}")
    return 0 if len(words) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
