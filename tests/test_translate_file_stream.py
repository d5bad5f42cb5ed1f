"""translate --file streams (issue 21, class 7): the model's header is validated once, not once a
sentence; each sentence is printed and written as soon as its batch is decoded; --json outputs are
whole or absent after Ctrl-C, and a rerun translates only what is left; a bad line is skipped with
a warning, never the end of the run."""
from __future__ import annotations

import json

from attnviewer.cli import main, whatif
from attnviewer.data.pairs import generate_pairs
from attnviewer.export import data
from attnviewer.export.data import load_result
from attnviewer.models import header


def _sentences(n: int) -> list[str]:
    return [" ".join(p.source) for p in generate_pairs(n, seed=2)]


def _file(tmp_path, lines: list[str], name: str = "in.txt"):
    path = tmp_path / name
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _count_decoded(monkeypatch) -> list[int]:
    """The size of each batch the model decodes."""
    sizes, real = [], whatif.decode

    def counted(args, kind, model, medias, settings, lens):
        sizes.append(len(medias))
        return real(args, kind, model, medias, settings, lens)

    monkeypatch.setattr(whatif, "decode", counted)
    return sizes


def test_the_model_header_is_validated_once_whatever_the_number_of_sentences(tmp_path, monkeypatch, capsys):
    calls, real = [], header.validate_header

    def counted(path, *a, **k):
        calls.append(path)
        return real(path, *a, **k)

    monkeypatch.setattr(header, "validate_header", counted)
    assert main(["translate", "--file", str(_file(tmp_path, _sentences(1), "one.txt")), "--device", "cpu"]) == 0
    one = len(calls)
    calls.clear()
    assert main(["translate", "--file", str(_file(tmp_path, _sentences(40))), "--device", "cpu"]) == 0
    assert 1 <= len(calls) == one  # the same for 40 sentences as for one (it was once a sentence)
    assert capsys.readouterr().out.count("aligned:") == 41


def test_each_sentence_is_printed_and_written_before_the_last_batch_is_decoded(tmp_path, monkeypatch, capsys):
    lines = _sentences(10)
    seen = []  # (sentences decoded so far, what stdout held then)
    real = whatif.decode

    def watched(args, kind, model, medias, settings, lens):
        seen.append(capsys.readouterr().out)
        return real(args, kind, model, medias, settings, lens)

    monkeypatch.setattr(whatif, "decode", watched)
    out = tmp_path / "t.json"
    assert main(["translate", "--file", str(_file(tmp_path, lines)), "--json", str(out), "--batch-size", "4",
                 "--device", "cpu"]) == 0
    assert len(seen) == 3  # batches of 4, 4 and 2
    before_last = "".join(seen)
    assert before_last.count("aligned:") == 8 and f"{lines[7]}:" in before_last and lines[8] not in before_last
    assert f"wrote {tmp_path / 't-8.json'}" in before_last
    assert load_result(tmp_path / "t-10.json").source == lines[9]


def test_an_interrupted_run_leaves_whole_items_and_a_rerun_translates_only_the_rest(tmp_path, monkeypatch, capsys):
    lines = _sentences(9)
    path = _file(tmp_path, lines)
    out = tmp_path / "t.json"
    argv = ["translate", "--file", str(path), "--json", str(out), "--figure", str(tmp_path / "t.svg"),
            "--batch-size", "2", "--device", "cpu"]
    written, real = [], data.write_result

    def ctrl_c_in_the_fifth(result, json_out=None, npz_out=None, **k):
        paths = real(result, json_out, npz_out, **k)  # the fifth one's files are half a set here
        written.append(result.source)
        if len(written) == 5:
            raise KeyboardInterrupt
        return paths

    monkeypatch.setattr(data, "write_result", ctrl_c_in_the_fifth)
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert "interrupted: 4 translated, 0 skipped, 0 already done; run the same command again" in err
    names = sorted(p.name for p in tmp_path.iterdir() if p.name != "in.txt")
    assert names == sorted(f"t-{i}.{s}" for i in range(1, 5) for s in ("json", "npz", "svg"))  # no temporary
    for i in range(1, 5):
        assert load_result(tmp_path / f"t-{i}.json").source == lines[i - 1]
    stamps = {i: (tmp_path / f"t-{i}.json").stat().st_mtime_ns for i in range(1, 5)}

    monkeypatch.setattr(data, "write_result", real)
    sizes = _count_decoded(monkeypatch)
    assert main(argv) == 0
    assert sum(sizes) == 5  # lines 5 to 9 only
    printed = capsys.readouterr()
    assert "5 translated, 0 skipped, 4 already done" in printed.err and lines[0] not in printed.out
    assert {i: (tmp_path / f"t-{i}.json").stat().st_mtime_ns for i in range(1, 5)} == stamps
    for i in range(1, 10):
        record = json.loads((tmp_path / f"t-{i}.json").read_text())
        assert record["source"] == lines[i - 1] and record["input"]["line"] == i
        assert (tmp_path / f"t-{i}.svg").stat().st_size > 0

    # a line edited since: its old result is not taken as its translation, nor replaced
    path.write_text("".join(line + "\n" for line in lines[:2] + ["a cat sees the dog"] + lines[3:]), encoding="utf-8")
    sizes.clear()
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert sum(sizes) == 0 and "t-3.json: was made from another text at this line" in err
    assert load_result(tmp_path / "t-3.json").source == lines[2]


def test_bad_lines_are_skipped_with_a_warning_and_counted(tmp_path, capsys):
    good = _sentences(3)
    lines = [good[0], "", " ".join(["dog"] * 70), good[1], "... !", good[2], ""]
    out = tmp_path / "t.json"
    assert main(["translate", "--file", str(_file(tmp_path, lines)), "--json", str(out), "--device", "cpu"]) == 0
    printed = capsys.readouterr()
    warnings = [line for line in printed.err.splitlines() if "warning" in line]
    assert len(warnings) == 3
    assert "line 2: empty line; skipped" in warnings[0] and "line 3:" in warnings[1] and "at most 60" in warnings[1]
    assert "line 5:" in warnings[2] and "only punctuation" in warnings[2]
    assert "3 translated, 3 skipped, 0 already done" in printed.err
    assert sorted(p.name for p in tmp_path.glob("t-*.json")) == ["t-1.json", "t-4.json", "t-6.json"]
    assert load_result(tmp_path / "t-4.json").source == good[1]
