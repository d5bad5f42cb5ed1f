"""The decode benchmark's own check: its per-hypothesis reference and the batched search agree on
every output (words, scores, attention maps, probabilities, top words). Timings are printed, never
asserted."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_decode_benchmark_finds_the_batched_search_equal_to_its_reference():
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "decode.py"), "--images", "2", "--repeats", "1"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "outputs identical for k in (1, 3, 5, 10)" in run.stdout
    assert "MISMATCH" not in run.stdout


def test_video_reader_benchmark_finds_both_readers_keep_the_same_frames():
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "video_reader.py"), "--frames", "96",
                          "--side", "64"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "same frames kept" in run.stdout
