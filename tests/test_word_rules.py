"""--min-len and --no-repeat-ngram, for every model (here the bundled translator, a real model
that loops on a long sentence and ends a short one early): the words obey them in greedy and beam
decoding, saved results keep them, and a bad value is one line."""
from __future__ import annotations

import pytest

from attnviewer.cli import main
from attnviewer.export.data import load_result

LONG = "the small cat sees the big dog in the garden and the red house"  # greedy: "la kasa roj =a" again and again
SHORT = "the cat sees the dog"  # five words, and the end


def _words(capsys, tmp_path, sentence: str, *args) -> list[list[str]]:
    """The words of every hypothesis the translate command saved."""
    out = tmp_path / "r.json"
    code = main(["translate", sentence, "--json", str(out), "--overwrite", *map(str, args)])
    _, err = capsys.readouterr()
    assert code == 0, err
    return [h.tokens for h in load_result(out).hypotheses]


def _repeats(words: list[str], n: int) -> bool:
    grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    return len(grams) != len(set(grams))


@pytest.mark.parametrize("search, n", [(["--greedy"], 3), (["--beam", "3"], 2)])
def test_no_repeat_ngram_stops_a_loop(capsys, tmp_path, search, n):
    plain = _words(capsys, tmp_path, LONG, *search)
    assert _repeats(plain[0], n)  # greedy loops on "la kasa roj =a"; beam's best says "lo jardin" twice
    ruled = _words(capsys, tmp_path, LONG, *search, "--no-repeat-ngram", n)
    assert all(not _repeats(words, n) for words in ruled)
    assert ruled[0][:8] == plain[0][:8]  # up to the first repeat, the same words


@pytest.mark.parametrize("search", [["--greedy"], ["--beam", "3"]])
def test_min_len_holds_back_the_end(capsys, tmp_path, search):
    plain = _words(capsys, tmp_path, SHORT, *search)
    assert len(plain[0]) < 9
    ruled = _words(capsys, tmp_path, SHORT, *search, "--min-len", 9)
    assert all(len(words) >= 9 for words in ruled)
    if search == ["--greedy"]:  # the same words until the end would have come
        assert ruled[0][:len(plain[0])] == plain[0]


def test_saved_results_keep_the_rules(capsys, tmp_path):
    out = tmp_path / "r.json"
    assert main(["translate", SHORT, "--greedy", "--min-len", "7", "--no-repeat-ngram", "2", "--json", str(out)]) == 0
    capsys.readouterr()
    settings = load_result(out).settings
    assert settings["min_len"] == 7 and settings["no_repeat_ngram"] == 2


@pytest.mark.parametrize("flag, value", [("--min-len", "-1"), ("--no-repeat-ngram", "-2"), ("--no-repeat-ngram", "500")])
def test_a_bad_value_is_one_line(capsys, flag, value):
    assert main(["translate", SHORT, flag, value]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and ("length" in err or "n-gram" in err), err
