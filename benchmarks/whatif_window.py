"""What-if latency in the window (issue 22): the time from a forced word, an attention edit or a
click on a beam tree node to the re-decoded words on screen, against decoding the whole caption
again from scratch (the same input re-run), on the bundled models, in one run each. The window
is real (offscreen), the engine thread is real; times are from the request to the redraw that
shows the answer. Forced and edited decodings start from the input's kept encoding.

    python benchmarks/whatif_window.py [--repeat N] [--quick]

Prints a table of medians with each what-if's time as a ratio of the whole decode; asserts that
forcing the word the model chose gives back its words (the what-if path decodes what it should).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
# run as a script, its folder comes first on the path, and benchmarks/transformers.py would
# shadow the transformers package
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]

CASES = [("caption-shapes", str(ROOT / "resources/samples/shapes-1.png"), None),
         ("video-shapes", str(ROOT / "resources/samples/clip-1.mp4"), None),
         ("translate-sov", None, "the old teacher will paint some small red boats near the river"),
         ("caption-shapes-vit", str(ROOT / "resources/samples/shapes-1.png"), None)]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--quick", action="store_true", help="one repeat, the first model (a smoke test)")
    args = p.parse_args(argv)
    repeat, cases = (1, CASES[:1]) if args.quick else (args.repeat, CASES)

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from attnviewer.settings import DecodeSettings
    from attnviewer.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    import tempfile

    folder = tempfile.mkdtemp()
    w = MainWindow(settings=QSettings(str(Path(folder) / "s.ini"), QSettings.Format.IniFormat))
    w.resize(1280, 900)
    w.show()
    side = w.sides["main"]
    st = side.state

    def wait(done, timeout=120.0) -> float:
        t0 = time.perf_counter()
        while not done():
            app.processEvents()
            if time.perf_counter() - t0 > timeout:
                raise SystemExit("timed out")
            time.sleep(0.0005)
        return time.perf_counter()

    def finished() -> bool:
        return side.jobs.pending is None and st.result is not None and st.job == w.engine.latest_job("main")

    print(f"{'model':<20} {'words':>5} {'whole (ms)':>10} {'forced (ms)':>11} {'ratio':>6} "
          f"{'edited (ms)':>11} {'ratio':>6}")
    for model, path, sentence in cases:
        w.open_file(path) if path else w.translate(sentence)  # (with the kind's model), then this model
        wait(finished)
        side.controls.set_model(model)
        side.controls.set_settings(DecodeSettings("beam", beam=3, max_len=30))
        w.last_error = ""
        w.rerun(side)
        wait(lambda: finished() or w.last_error)
        if w.last_error:
            raise SystemExit(f"{model}: {w.last_error}")
        assert st.result.model == model
        words = [s.token for s in st.words]
        t = len(words) // 2
        whole, forced, edited = [], [], []
        for _ in range(repeat + 1):  # the first of each: warming
            t0 = time.perf_counter()
            w.rerun(side)
            whole.append(wait(finished) - t0)
            w.go_to(t)
            t0 = time.perf_counter()
            w.whatif.force(st.current.token, False)  # the word it chose, typed: its own words again
            forced.append(wait(lambda: len(st.branches) == 1 or w.last_error) - t0)
            assert not w.last_error, w.last_error
            assert [s.token for s in st.words] == words, (model, [s.token for s in st.words], words)
            st.remove_branch(len(st.hypotheses))
            w.go_to(t)
            w.whatif.pane._edit_for = None
            w.whatif.show()
            t0 = time.perf_counter()
            w.last_error = ""
            w.whatif.redecode(w.whatif.pane.editor.map.copy())
            end = wait(lambda: len(st.branches) == 1 or w.last_error)
            if w.last_error:  # a transformer's attention cannot be swapped (yet): one line, no branch
                edited.append(float("nan"))
            else:
                edited.append(end - t0)
                st.remove_branch(len(st.hypotheses))
            w.whatif.show(False)
        a, b, c = (1000 * statistics.median(x[1:]) for x in (whole, forced, edited))
        edit = "  (LSTM attention only)" if c != c else ""
        print(f"{model:<20} {len(words):>5} {a:>10.1f} {b:>11.1f} {b / a:>6.2f} {c:>11.1f} {c / a:>6.2f}{edit}")
    w.close()
    w.deleteLater()
    return 0


if __name__ == "__main__":
    sys.exit(main())
