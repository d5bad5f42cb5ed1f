"""How well a video plays at its own rate: the decoder-thread player against decoding on the GUI thread.

    python benchmarks/player.py [--seconds 10] [--fps 25] [--size 480x360] [--runs 1] [--quick]

A clip is generated (moving gradient and shapes, H.264), then played to its end in a shown
PlayerWidget (QT_QPA_PLATFORM=offscreen unless set), by two designs with the same wall-clock pacing
(a frame is due at play start + its time; a frame whose successor is already due is dropped):

  (a) player   the app's FramePlayer: frames decoded and scaled on the decoder thread, queued; a
               single-shot QTimer on the GUI thread shows each one when due.
  (b) naive    the same pacing, but the QTimer tick decodes (and converts) the due frame itself,
               on the GUI thread.
  (ref) idle   nothing plays: the tick gaps the machine gives anyway (its load, the timer).

Reported per design: frames shown, frames dropped (% of the frames after the first), the longest
and the 99th-percentile gap between ticks of a separate 5 ms QTimer on the GUI thread (how long the
window could not react), and how long playback took. Runs alternate idle, a, b, idle, a, b ...;
with --runs > 1 the gaps are medians and shown/dropped are those of the median run.
Timings depend on the machine and its load: compare the rows of one invocation, not numbers across
machines. Target for (a): at most 2% dropped. --quick: a 1 s 240x180 clip, one run (a few seconds).
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout, uninstalled

import numpy as np  # noqa: E402

TICK_MS = 5
TARGET_DROPPED = 0.02


def make_clip(path: Path, seconds: float, fps: float, size: tuple[int, int]) -> Path:
    """A moving gradient with moving discs over a fine pattern: not trivial to decode."""
    from attnviewer.media.frames import write_clip

    w, h = size
    n = int(round(seconds * fps))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    texture = (12 + 12 * np.sin(xx / 3.0) * np.cos(yy / 4.0)).astype(np.uint8)  # fine detail, smooth
    frames = np.empty((n, h, w, 3), np.uint8)
    for i in range(n):
        t = i / fps
        f = frames[i]
        f[..., 0] = ((xx + 40 * t) * 255 / w) % 256
        f[..., 1] = ((yy + 25 * t) * 255 / h) % 256
        f[..., 2] = texture + 100
        for k in range(4):
            cx = (0.5 + 0.4 * math.sin(t * (1 + k) + k)) * w
            cy = (0.5 + 0.4 * math.cos(t * (1.3 + k) + 2 * k)) * h
            r = (0.06 + 0.02 * k) * min(w, h)
            f[(xx - cx) ** 2 + (yy - cy) ** 2 < r * r] = (255 - 60 * k, 60 * k, 40 + 50 * k)
    return write_clip(frames, path, fps=fps)


class Probe:
    """A 5 ms QTimer on the GUI thread; records when it ticks."""

    def __init__(self):
        from PySide6.QtCore import Qt, QTimer

        self.ticks: list[float] = []
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)

    def _tick(self):
        self.ticks.append(time.monotonic())

    def start(self):
        self.ticks = [time.monotonic()]
        self.timer.start()

    def stop(self) -> tuple[float, float]:
        """(longest, 99th percentile) gap between ticks, ms."""
        self.timer.stop()
        self.ticks.append(time.monotonic())
        gaps = np.diff(self.ticks) * 1000
        return float(gaps.max()), float(np.percentile(gaps, 99))


def wait(signal, until, timeout: float) -> None:
    """Run the event loop until `until()` holds, checked whenever `signal` fires (no polling)."""
    from PySide6.QtCore import QEventLoop, QTimer

    if until():
        return
    loop = QEventLoop()
    signal.connect(lambda *a: loop.quit() if until() else None)
    QTimer.singleShot(int(timeout * 1000), loop.quit)
    loop.exec()
    if not until():
        raise SystemExit("timed out")


def _Finished():
    from PySide6.QtCore import QObject, Signal

    class Finished(QObject):
        done = Signal()

    return Finished()


class NaivePlayer:
    """Design (b): the GUI thread's QTimer tick decodes the due frame itself (same pacing and the
    same drawing as the widget's own path)."""

    def __init__(self, widget, path: Path, max_side: int):
        from PySide6.QtCore import Qt, QTimer

        from attnviewer.engine.player import _Reader

        self.widget = widget
        self.reader = _Reader(path, max_side)
        self.info = self.reader.info
        self.index = 0
        self.shown = self.dropped = 0
        self.done = False
        self.finished = _Finished()
        self.timer = QTimer()
        self.timer.setSingleShot(True)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self._tick)
        self._display(self.reader.rgb(self.reader.frame_at(0)), 0)

    def _display(self, rgb, index):
        w = self.widget
        w.view.set_image(rgb)
        w.slider.blockSignals(True)
        w.slider.setValue(index)
        w.slider.blockSignals(False)
        w._update_time(float(self.info.times[index]))

    def play(self):
        self.t0 = time.monotonic()
        self.timer.start(0)

    def _tick(self):
        times, n = self.info.times, self.info.frame_count
        media = time.monotonic() - self.t0
        shown = None
        while self.index + 1 < n and times[self.index + 1] <= media:
            self.index += 1
            frame = self.reader.frame_at(self.index)  # decoding, here on the GUI thread
            if self.index + 1 < n and times[self.index + 1] <= time.monotonic() - self.t0:
                self.dropped += 1  # its successor is due already
                continue
            shown = self.reader.rgb(frame)
        if shown is not None:
            self._display(shown, self.index)
            self.shown += 1
        if self.index + 1 >= n:
            end = times[-1] + 1 / self.info.fps
            if time.monotonic() - self.t0 >= end:
                self.done = True
                self.reader.close()
                self.finished.done.emit()
                return
            due = end
        else:
            due = times[self.index + 1]
        self.timer.start(max(0, math.ceil((due - (time.monotonic() - self.t0)) * 1000)))


def run_player(app, widget, path: Path, timeout: float) -> dict:
    widget.open(path)
    wait(widget.player.frame, lambda: widget.player.index == 0, timeout)
    p = widget.player
    p.reset_counts()
    ended = []
    p.ended.connect(lambda: ended.append(time.monotonic()))
    probe = Probe()
    probe.start()
    t0 = time.monotonic()
    widget.play()
    wait(p.ended, lambda: bool(ended), timeout)
    gap, p99 = probe.stop()
    result = dict(shown=p.shown, dropped=p.dropped, gap=gap, p99=p99, took=ended[0] - t0)
    widget.shutdown()
    return result


def run_naive(app, widget, path: Path, timeout: float, max_side: int) -> dict:
    widget.shutdown()
    naive = NaivePlayer(widget, path, max_side)
    widget.slider.setRange(0, naive.info.frame_count - 1)
    app.processEvents()
    probe = Probe()
    probe.start()
    t0 = time.monotonic()
    naive.play()
    wait(naive.finished.done, lambda: naive.done, timeout)
    took = time.monotonic() - t0
    gap, p99 = probe.stop()
    return dict(shown=naive.shown, dropped=naive.dropped, gap=gap, p99=p99, took=took)


def run_idle(app, widget, seconds: float) -> dict:
    """The reference: nothing plays for as long, the widget shown with a frame on screen."""
    from PySide6.QtCore import QEventLoop, QTimer

    probe = Probe()
    loop = QEventLoop()
    probe.start()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()
    gap, p99 = probe.stop()
    return dict(shown=0, dropped=0, gap=gap, p99=p99, took=seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--fps", type=float, default=25.0)
    parser.add_argument("--size", default="480x360", help="WxH of the generated clip")
    parser.add_argument("--max-side", type=int, default=None, help="player's long side (default: its own)")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="1 s at 240x180, one run")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.size, args.runs = 1.0, "240x180", 1
    size = tuple(int(v) for v in args.size.lower().split("x"))

    from PySide6.QtCore import qInstallMessageHandler
    from PySide6.QtWidgets import QApplication

    previous = qInstallMessageHandler(None)

    def quiet(mode, context, message):  # the offscreen platform's one known complaint
        if "propagateSizeHints" not in message and previous is not None:
            previous(mode, context, message)
        elif "propagateSizeHints" not in message:
            print(message, file=sys.stderr)

    qInstallMessageHandler(quiet)

    from attnviewer.engine.player import MAX_SIDE
    from attnviewer.ui.player_widget import PlayerWidget

    max_side = args.max_side or MAX_SIDE
    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory(prefix="attnviewer-player-bench-") as tmp:
        t = time.monotonic()
        path = make_clip(Path(tmp) / "clip.mp4", args.seconds, args.fps, size)
        made = time.monotonic() - t
        widget = PlayerWidget(max_side=max_side)
        widget.resize(800, 600)
        widget.show()
        app.processEvents()
        timeout = args.seconds * 3 + 30
        results: dict[str, list[dict]] = {"idle": [], "a": [], "b": []}
        for _ in range(args.runs):
            results["idle"].append(run_idle(app, widget, args.seconds))
            results["a"].append(run_player(app, widget, path, timeout))
            results["b"].append(run_naive(app, widget, path, timeout, max_side))
        widget.close()

    n = int(round(args.seconds * args.fps))
    print(f"player benchmark: {args.seconds:g} s clip, {args.fps:g} fps, {size[0]}x{size[1]}, {n} frames "
          f"(made in {made:.1f} s); shown at most {max_side} px; {args.runs} run(s) each"
          f"{', medians' if args.runs > 1 else ''}")
    print(f"Python {platform.python_version()}, {os.cpu_count()} CPUs, QT_QPA_PLATFORM="
          f"{os.environ.get('QT_QPA_PLATFORM')}")
    med = {}
    for k, v in results.items():  # shown and dropped of one run (the median by dropped frames)
        middle = sorted(v, key=lambda r: r["dropped"])[(len(v) - 1) // 2]
        med[k] = dict(shown=middle["shown"], dropped=middle["dropped"],
                      **{m: statistics.median(r[m] for r in v) for m in ("gap", "p99", "took")})
    header = (f"{'design':<36}{'shown':>6}{'dropped':>15}{'longest tick gap':>18}{'p99 tick gap':>14}"
              f"{'play time':>11}")
    print(header)
    print("-" * len(header))
    names = {"idle": "(ref) idle: nothing playing", "a": "(a) FramePlayer: decoder thread",
             "b": "(b) naive: decode in the GUI tick"}
    for k in ("idle", "a", "b"):
        m = med[k]
        if k == "idle":
            print(f"{names[k]:<36}{'-':>6}{'-':>15}{m['gap']:>15.1f} ms{m['p99']:>11.1f} ms{m['took']:>9.2f} s")
            continue
        total = m["shown"] + m["dropped"]
        pct = 100 * m["dropped"] / total if total else 0.0
        print(f"{names[k]:<36}{m['shown']:>6.0f}{m['dropped']:>7.0f} ({pct:4.1f}%){m['gap']:>15.1f} ms"
              f"{m['p99']:>11.1f} ms{m['took']:>9.2f} s")
    a, b = med["a"], med["b"]
    print(f"ratio (b)/(a): longest gap x{b['gap'] / a['gap']:.1f}, p99 gap x{b['p99'] / a['p99']:.1f}, dropped "
          f"{b['dropped']:.0f} vs {a['dropped']:.0f}")
    total_a = a["shown"] + a["dropped"]
    ok = total_a > 0 and a["dropped"] / total_a <= TARGET_DROPPED
    print(f"target for (a): <= {100 * TARGET_DROPPED:.0f}% dropped: {'met' if ok else 'NOT met'}")
    print(f"all frames accounted for: {'yes' if total_a == n - 1 else f'no ({total_a} of {n - 1})'}")


if __name__ == "__main__":
    main()
