"""The video reader (packets listed first, then only the wanted frames decoded, jumping to
keyframes) against decoding the whole video first, on the same file in the same run: peak
memory and time.

    python benchmarks/video_reader.py [--frames N] [--side PX]

Writes a temporary MP4 of N frames (generated clips one after another), then reads 12 frames
spread over it both ways, each in a fresh process, reporting how far the reading raised that
process's peak resident memory (Linux: /proc/self/clear_refs, VmHWM); the frames kept must be
the same (asserted).
"""
from __future__ import annotations

import argparse
import sys
import subprocess
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled

from attnviewer.data.clip_events import generate_clip  # noqa: E402
from attnviewer.media.frames import _display, read_clip, sample_indices, write_clip  # noqa: E402

STEPS = 12


def whole_video(path: Path) -> np.ndarray:
    """The baseline: every frame decoded into memory, then 12 picked."""
    import av

    with av.open(str(path)) as box:
        frames = [f.to_ndarray(format="rgb24") for f in box.decode(box.streams.video[0])]
    picked = [_display(frames[i]) for i in sample_indices(len(frames), STEPS)]
    return np.stack(picked)


READERS = {"whole": whole_video, "stream": lambda p: read_clip(p, STEPS).frames}


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field)) / 1024  # kB


def child(reader: str, path: Path) -> int:
    """Run one reader in this fresh process (modules already imported): save its frames beside the
    video, print its seconds and how far it raised the process's peak resident memory, in MB."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # Linux: reset the peak (VmHWM) to the current resident size
    before = _status_mb("VmRSS:")
    start = time.perf_counter()
    np.save(path.with_name(f"{reader}.npy"), READERS[reader](path))
    print(f"{time.perf_counter() - start} {_status_mb('VmHWM:') - before}")
    return 0


def measure(reader: str, path: Path) -> tuple[float, float]:
    out = subprocess.run([sys.executable, __file__, "--child", reader, str(path)], capture_output=True,
                         text=True, check=True).stdout.split()
    return float(out[0]), float(out[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1200)
    parser.add_argument("--side", type=int, default=240, help="side of the square video in pixels")
    parser.add_argument("--child", nargs=2, metavar=("READER", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child[0], Path(args.child[1]))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "long.mp4"
        clips = [generate_clip(7, i).frames for i in range(-(-args.frames // 24))]
        frames = np.concatenate(clips)[: args.frames]
        frames = np.stack([cv2.resize(f, (args.side, args.side), interpolation=cv2.INTER_NEAREST) for f in frames])
        write_clip(frames, path, fps=24)
        del clips, frames
        size_mb = path.stat().st_size / 1e6
        t_whole, m_whole = measure("whole", path)
        t_stream, m_stream = measure("stream", path)
        same = np.array_equal(np.load(path.with_name("whole.npy")), np.load(path.with_name("stream.npy")))
    assert same, "the two readers kept different frames"
    print(f"{args.frames} frames of {args.side}x{args.side} ({size_mb:.1f} MB MP4), {STEPS} frames kept; "
          "peak memory: how far reading raised the process's peak resident size")
    print(f"{'reader':>22} | {'peak memory MB':>14} | {'seconds':>7}")
    print(f"{'decode all, then pick':>22} | {m_whole:>14.1f} | {t_whole:>7.2f}")
    print(f"{'the reader (the app)':>22} | {m_stream:>14.1f} | {t_stream:>7.2f}")
    print(f"memory: {m_whole / max(m_stream, 0.1):.0f}x less; time: {t_whole / t_stream:.2f}x faster; "
          "same frames kept")
    return 0


if __name__ == "__main__":
    sys.exit(main())
