"""Memory over a long session of the desktop window: many inputs opened one after another.

    python benchmarks/session_memory.py [--inputs N] [--every K] [--designs app,freezefull,nofreeze]

Each design runs the real window (QT_QPA_PLATFORM=offscreen, its settings in a temporary ini file)
in a fresh process, with the app's own engine and garbage collector (app.make_application), and
opens N inputs (default 120) one after another, each once the previous one's last word is
painted: the bundled samples' images (caption-shapes) and sample sentences (translate-sov), in
turn, so that the window also switches between its image and sentence panes each time. Every K
inputs (default 10) it prints the process's resident size (VmRSS), gc.get_freeze_count() (objects
kept out of every collection), the objects the collector tracks, and the longest collection the
GUI thread ran in those K inputs, and how many of them were full collections.

  app        the app as it is (app.collect_on_gui_thread): what start-up and each quiet import
             made is frozen (gc.freeze: kept out of every collection), nothing else.
  freezefull the collector before: each full collection's survivors frozen too (gc.collect
             wrapped in the child), so whatever was alive then and became cyclic garbage later
             was never freed.
  nofreeze   the same with gc.freeze made a no-op: nothing is ever kept out of a collection, so
             whatever becomes cyclic garbage is freed (each full collection scans everything).

At the end of each run: what one full collection costs the GUI thread then (it scans what is not
frozen), and how much of what is frozen was garbage (gc.unfreeze(), then a full collection: the
objects it frees were unreachable but never freed). Compare the designs' columns
of one invocation; the machine's load changes times, not object counts.
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout, uninstalled

DESIGNS = {"app": "the app as it is", "freezefull": "survivors of each full collection frozen",
           "nofreeze": "gc.freeze a no-op"}
IMAGE_MODEL, TEXT_MODEL = "caption-shapes", "translate-sov"
IDLE_MS = 150  # after a last word: the window and its collector get a turn before the next input


def rss_mb() -> float:
    """The process's resident size now (Linux /proc; else its peak)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(args) -> None:
    """One design: the window opens args.inputs inputs in turn; one JSON line per checkpoint."""
    import gc
    import threading

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    gui = threading.get_ident()
    if args.design == "nofreeze":
        gc.freeze = lambda: None  # every module that calls gc.freeze() looks it up on the module
    elif args.design == "freezefull":  # the GUI's collector as it was: a full collection's survivors kept out
        collect = gc.collect

        def collect_then_freeze(generation=2):
            found = collect(generation)
            if generation == 2 and threading.get_ident() == gui:
                gc.freeze()
            return found

        gc.collect = collect_then_freeze
    from PySide6.QtCore import QObject, QSettings, QTimer, Slot

    tmp = tempfile.TemporaryDirectory(prefix="attnviewer-session-")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
        QSettings.setPath(QSettings.Format.IniFormat, scope, tmp.name)
    from attnviewer.app import make_application
    from attnviewer.resources import sample_dir
    from attnviewer.settings import DecodeSettings
    from attnviewer.ui.main_window import MainWindow

    app = make_application([sys.argv[0]])
    longest = {"ms": 0.0, "full": 0}
    started: dict[int, float] = {}

    def on_gc(phase, info):
        if threading.get_ident() != gui:
            return
        if phase == "start":
            started[gui] = time.perf_counter()
        elif gui in started:
            longest["ms"] = max(longest["ms"], (time.perf_counter() - started.pop(gui)) * 1000)
            longest["full"] += info.get("generation") == 2

    gc.callbacks.append(on_gc)
    images = sorted(str(p) for p in sample_dir().glob("*.png"))
    sentences = [s.strip() for s in (sample_dir() / "sentences.txt").read_text(encoding="utf-8").splitlines()
                 if s.strip()]
    window = MainWindow(settings=QSettings(str(Path(tmp.name) / "settings.ini"), QSettings.Format.IniFormat))
    window.sides["main"].controls.set_settings(DecodeSettings("beam", beam=5, max_len=20))
    window.show()
    state = {"opened": 0, "job": None, "t0": time.perf_counter(), "failed": []}

    def report() -> None:
        print(json.dumps({"inputs": state["opened"], "rss": rss_mb(), "frozen": gc.get_freeze_count(),
                          "tracked": len(gc.get_objects()), "longest_gc_ms": longest["ms"],
                          "full": longest["full"], "seconds": time.perf_counter() - state["t0"]}), flush=True)
        longest["ms"], longest["full"] = 0.0, 0

    def open_next() -> None:
        i = state["opened"]
        if i and i % args.every == 0:
            report()
        if i >= args.inputs:
            finish()
            return
        if i % 2 == 0:  # each kind's default model (IMAGE_MODEL, TEXT_MODEL): the window picks it
            window.open_file(images[(i // 2) % len(images)])
        else:
            window.translate(sentences[(i // 2) % len(sentences)])
        state["opened"] += 1

    class Driver(QObject):  # its slots run on the GUI thread (the engine's signals are queued to it)
        @Slot(int, str, object)
        def on_finished(self, job, slot, result) -> None:
            if slot == "main":
                QTimer.singleShot(IDLE_MS, open_next)

        @Slot(int, str, str)
        def on_failed(self, job, slot, message) -> None:
            state["failed"].append(message)
            QTimer.singleShot(IDLE_MS, open_next)

    def finish() -> None:
        t, c = time.perf_counter(), time.thread_time()
        gc.collect()  # what a full collection of the GUI thread costs now (what is not frozen)
        full_ms, full_cpu_ms = (time.perf_counter() - t) * 1000, (time.thread_time() - c) * 1000
        gc.unfreeze()
        freed = gc.collect()  # what was frozen and unreachable: never freed while frozen
        print(json.dumps({"end": True, "garbage_in_frozen": freed, "rss_after": rss_mb(),
                          "full_ms": full_ms, "full_cpu_ms": full_cpu_ms,
                          "failed": state["failed"][:3], "failures": len(state["failed"])}), flush=True)
        window.close()
        app.quit()

    driver = Driver()
    window.engine.finished.connect(driver.on_finished)
    window.engine.failed.connect(driver.on_failed)
    QTimer.singleShot(500, open_next)
    app.exec()
    tmp.cleanup()


def run_design(design: str, args) -> tuple[list[dict], dict]:
    cmd = [sys.executable, __file__, "--child", design, "--inputs", str(args.inputs), "--every", str(args.every)]
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=args.timeout)
    rows, end = [], {}
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            (end.update(record) if record.get("end") else rows.append(record))
    if proc.returncode != 0 or not end:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise SystemExit(f"{design}: the run failed (exit status {proc.returncode}):\n{tail}")
    return rows, end


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--inputs", type=int, default=120, help="inputs opened one after another (default 120)")
    p.add_argument("--every", type=int, default=10, help="a row every K inputs (default 10)")
    p.add_argument("--designs", default=",".join(DESIGNS), help=f"among {', '.join(DESIGNS)}")
    p.add_argument("--timeout", type=float, default=1200.0, help="seconds before a run is stopped")
    p.add_argument("--child", choices=DESIGNS, dest="design", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.design:
        child(args)
        return 0
    designs = [d.strip() for d in args.designs.split(",") if d.strip()]
    if not designs or any(d not in DESIGNS for d in designs):
        p.error(f"--designs: choose among {', '.join(DESIGNS)}")
    if args.inputs < 1 or args.every < 1:
        p.error("--inputs and --every must be at least 1")
    a, b, c = os.getloadavg()
    print(f"{args.inputs} inputs (images with {IMAGE_MODEL}, sentences with {TEXT_MODEL}, in turn), "
          f"beam 5; load average {a:.2f} {b:.2f} {c:.2f} ({os.cpu_count()} CPUs)")
    results = {d: run_design(d, args) for d in designs}
    print("per design: resident MB, objects frozen, objects tracked (not frozen), full collections and "
          "the longest collection (ms) of the GUI thread in those inputs")
    header = "inputs | " + " | ".join(f"{d:>39}" for d in designs)
    print(header)
    print("-" * len(header))
    for i, _ in enumerate(results[designs[0]][0]):
        cells = []
        for d in designs:
            rows = results[d][0]
            r = rows[i] if i < len(rows) else None
            cells.append("—" if r is None else
                         f"{r['rss']:7.1f} {r['frozen']:8d} {r['tracked']:8d} {r['full']:4d} {r['longest_gc_ms']:7.1f}")
        print(f"{results[designs[0]][0][i]['inputs']:6d} | " + " | ".join(cells))
    for d in designs:
        rows, end = results[d]
        first, last = rows[0], rows[-1]
        print(f"{d} ({DESIGNS[d]}): RSS {first['rss']:.1f} -> {last['rss']:.1f} MB "
              f"({last['rss'] - first['rss']:+.1f}) from input {first['inputs']} to {last['inputs']}; frozen "
              f"{first['frozen']} -> {last['frozen']}; unreachable among the frozen at the end: "
              f"{end['garbage_in_frozen']} objects (resident {end['rss_after']:.1f} MB once freed); full "
              f"collections {sum(r['full'] for r in rows)}; one full collection at the end took "
              f"{end['full_ms']:.1f} ms ({end['full_cpu_ms']:.1f} ms GUI CPU); {last['seconds']:.0f} s; "
              f"failures {end['failures']}"
              + (f" ({end['failed']})" if end["failed"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
