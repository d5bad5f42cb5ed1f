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


def test_ui_latency_benchmark_quick_measures_every_kind():
    """Images, a video (reading a clip, captioning it, playing one in the window's player) and a
    sentence, each against its GUI-thread baseline: every row of the summary gets a value. The
    timings themselves are printed, never asserted."""
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "ui_latency.py"), "--quick"],
                         capture_output=True, text=True, timeout=240)
    failed = "\n".join(line for line in run.stdout.splitlines() if "FAILED" in line)  # why a run gave no figures
    assert run.returncode == 0, failed + "\n" + run.stdout[-4000:] + run.stderr[-4000:]
    assert "all kinds measured: yes" in run.stdout, failed + "\n" + run.stdout[-4000:]


def test_running_window_benchmark_measures_a_clip_opened_after_an_image():
    """The clip opened in a window that shows the sample image's words: one run writes the same
    caption and gives every row of the table a value."""
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "running_window.py"), "--runs", "1",
                          "--clip-frames", "250"], capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert "the same words in every run: yes" in run.stdout
    assert "longest GUI gap" in run.stdout and "opened -> caption painted" in run.stdout


def test_player_benchmark_quick_accounts_for_every_frame():
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "player.py"), "--quick"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "all frames accounted for: yes" in run.stdout, run.stdout


def test_sat_beam_benchmark_finds_our_search_equal_to_the_tutorials():
    """Tiny sizes: the imported tutorial model's batched beam search gives the tutorial's captions."""
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "sat_beam.py"), "--images", "3", "--vocab", "60",
                          "--dim", "32"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "outputs identical for k in (3, 5)" in run.stdout
    assert "MISMATCH" not in run.stdout


def test_translate_batches_benchmark_finds_grouped_batches_pad_less():
    """Tiny sizes: batches grouped by source length pad less of the sources and targets than random ones."""
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "translate_batches.py"), "--pairs", "100",
                          "--steps", "2", "--repeats", "1", "--hidden", "16", "--batch", "8"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "they pad less: yes" in run.stdout


def test_corpus_memory_benchmark_finds_the_ids_on_disk_equal_to_the_corpus_read_into_memory():
    """Two small corpora: the training ids streamed to the disk are those of the corpus read into
    memory, at each size, and the table has a row for each (the memory and seconds are printed,
    never asserted)."""
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "corpus_memory.py"), "--sizes", "300,3000",
                          "--vocab", "2000", "--words", "8"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "same training ids on disk as in memory: yes (compared at 300, 3,000 pairs)" in run.stdout, run.stdout
    rows = [line for line in run.stdout.splitlines() if line.startswith("| ") and line.endswith(" | yes |")]
    assert [row.split("|")[1].strip() for row in rows] == ["300", "3,000"], run.stdout


def test_transformers_benchmark_finds_our_streaming_decode_equal_to_generate():
    """Tiny sizes: our step-by-step decode of a transformers captioner writes generate()'s words,
    greedy and beam 3; the speeds and memory are printed, never asserted."""
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "transformers.py"), "--sizes", "tiny",
                          "--repeats", "1", "--words", "8", "--quick"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    assert "words identical to generate(): yes" in run.stdout
    assert "| tiny | beam 3 |" in run.stdout


def test_decode_floor_benchmark_finds_the_search_equal_to_its_references():
    """Tiny sizes: for every kind and k = 1, 3, 5, 10, the beam search gives the references' words
    and scores (the per-hypothesis search, the tutorial's, the words forced), and the table has a
    row for each; the timings and ratios are printed, never asserted."""
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "decode_floor.py"), "--inputs", "2", "--repeats",
                          "1", "--sat-vocab", "60", "--sat-dim", "32"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "outputs identical for image, video, text, sat at k in (1, 3, 5, 10)" in run.stdout
    assert "MISMATCH" not in run.stdout
    for kind in ("image", "video", "text", "sat"):
        assert sum(line.split("|")[0].strip() == kind for line in run.stdout.splitlines()) == 4, run.stdout


def test_the_window_benchmarks_run_the_app_engine_in_its_own_process(monkeypatch):
    """The suite runs its windows with the engine on a thread (ATTNVIEWER_ENGINE=thread); the
    benchmarks' children, started from it, must still run the app's own design."""
    monkeypatch.setenv("ATTNVIEWER_ENGINE", "thread")
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import ui_latency

    env = ui_latency.child_env()
    assert env["ATTNVIEWER_ENGINE"] == "process" and env["QT_QPA_PLATFORM"] == "offscreen"
