"""A transformer's result saved and reopened: its every layer and head (NPZ), how its tokens map to
places, its lens and its words' sinks come back equal; results of other models and older files
open as before; hostile files are refused in one line."""
from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

pytest.importorskip("transformers")

from attnviewer.cli import main  # noqa: E402
from attnviewer.errors import MediaError  # noqa: E402
from attnviewer.export.data import load_result  # noqa: E402
from attnviewer.kinds import lens_label, titled  # noqa: E402
from attnviewer.lens import Lens  # noqa: E402

from .hf_models import marian, vit_gpt2  # noqa: E402


@pytest.fixture(scope="module")
def saved(tmp_path_factory, samples):
    """A caption and a translation of tiny random transformers, saved as JSON + NPZ (beam 2)."""
    root = tmp_path_factory.mktemp("hf_results")
    vit, mt = vit_gpt2(root / "vit"), marian(root / "marian")
    cap, tr = root / "cap.json", root / "tr.json"
    assert main(["caption", str(samples[0]), "--model", str(vit), "--beam", "2", "--max-len", "4",
                 "--lens", "1:max", "--json", str(cap)]) == 0
    assert main(["translate", "the cat sees a dog", "--model", str(mt), "--beam", "2", "--max-len", "4",
                 "--json", str(tr)]) == 0
    return {"caption": cap, "translate": tr, "vit": vit, "marian": mt}


def _decoded(kind, folder, source, lens):
    """The Result straight from the decoder (not saved), as the CLI made it."""
    from attnviewer import pipeline
    from attnviewer.kinds import IMAGE, TEXT
    from attnviewer.settings import DecodeSettings

    k = IMAGE if kind == "caption" else TEXT
    settings = DecodeSettings("beam", beam=2)
    settings.max_len = 4
    model = pipeline.load_model(k, str(folder))
    media = pipeline.read(k, str(source), str(folder))
    return pipeline.run_all(k, model, [media], settings.validate(), lens=lens)[0]


@pytest.mark.parametrize("kind", ["caption", "translate"])
def test_a_saved_result_reopens_equal(saved, samples, kind):
    source = samples[0] if kind == "caption" else "the cat sees a dog"
    lens = Lens.parse("1:max") if kind == "caption" else Lens()
    made = _decoded(kind, saved["vit" if kind == "caption" else "marian"], source, lens)
    for path in (saved[kind], saved[kind].with_suffix(".npz")):
        back = load_result(path)
        assert back.lens == made.lens == lens.to_dict()
        assert list(back.places.token_place) == list(made.places.token_place)
        assert back.places.shape == made.places.shape and back.places.labels == made.places.labels
        assert back.places.detail == made.places.detail
        np.testing.assert_allclose(back.places.rollout, made.places.rollout, atol=1e-6)
        assert len(back.hypotheses) == len(made.hypotheses)
        for b, m in zip(back.hypotheses, made.hypotheses):
            assert b.tokens == m.tokens
            assert b.heads.shape == m.heads.shape and b.heads.dtype == np.float32
            np.testing.assert_allclose(b.heads, m.heads, atol=1e-3)  # float16 in the NPZ
            np.testing.assert_allclose(b.sinks, m.sinks, atol=1e-6)
            np.testing.assert_array_equal(b.attention, m.attention)  # the exact float32 maps
        # the window (and export) redraws another lens from what came back, as from the decoder
        for other in (Lens(), Lens("rollout"), Lens(0, 1)):
            again, _ = back.places.maps(back.best.heads, other)
            want, _ = made.places.maps(made.best.heads, other)
            np.testing.assert_allclose(again, want, atol=2e-3)


def test_the_lens_is_in_the_title_and_the_record(saved):
    cap, tr = load_result(saved["caption"]), load_result(saved["translate"])
    assert lens_label(cap) == "layer 1 of 2, max of heads"
    assert ", layer 1 of 2, max of heads" in titled(cap) and titled(cap).startswith("vit, beam 2")
    assert ", layer 2 of 2, mean of heads" in titled(tr)
    data = json.loads(saved["caption"].read_text())
    assert data["schema"] == "attnviewer-result-5"
    assert data["lens"] == {"layer": 0, "heads": "max"} and data["heads_shape"][:2] == [2, 4]
    assert all(0 <= w["sink"] <= 1 for w in data["hypotheses"][0]["words"])
    with np.load(saved["caption"].with_suffix(".npz")) as npz:
        assert npz["heads_0"].dtype == np.float16 and npz["rollout"].dtype == np.float32


def test_the_json_alone_keeps_places_and_lens_but_no_heads(saved, tmp_path):
    alone = tmp_path / "alone.json"
    data = json.loads(saved["translate"].read_text())
    data.pop("arrays")
    alone.write_text(json.dumps(data))
    r = load_result(alone)
    assert r.places is not None and r.lens == {"layer": -1, "heads": "mean"} and r.best.heads is None
    assert r.best.sinks is not None
    assert lens_label(r) == "layer 2 of 2, mean of heads"  # the layer count is in its record


def test_results_of_other_models_and_older_files_open(saved, tmp_path, tiny_checkpoint, samples):
    old = tmp_path / "old.json"
    data = json.loads(saved["caption"].read_text())
    for key in ("places", "lens", "heads_shape", "arrays"):
        data.pop(key)
    for h in data["hypotheses"]:
        h.pop("ended")
        for w in h["words"]:
            w.pop("sink")
    data["schema"] = "attnviewer-result-3"
    old.write_text(json.dumps(data))
    r = load_result(old)
    assert r.places is None and r.lens is None and r.best.heads is None and r.best.sinks is None
    assert lens_label(r) is None and titled(r) == r.title
    lstm = tmp_path / "lstm.json"
    assert main(["caption", str(samples[0]), "--model", str(tiny_checkpoint), "--greedy", "--json", str(lstm)]) == 0
    r = load_result(lstm)
    assert r.places is None and "places" not in json.loads(lstm.read_text())
    with np.load(lstm.with_suffix(".npz")) as npz:
        assert sorted(npz.files) == ["attention_0", "result"]


# ---- hostile files ------------------------------------------------------------------------------

def _members(npz_path) -> dict:
    with np.load(npz_path) as npz:
        return {k: npz[k] for k in npz.files}


def _write_npz(path, members: dict) -> None:
    with open(path, "wb") as f:
        np.savez(f, **members)


def _refused(path, *words):
    with pytest.raises(MediaError) as e:
        load_result(path)
    message = str(e.value)
    assert "\n" not in message and all(w in message for w in words), message
    return message


def _record(members) -> dict:
    return json.loads(str(members["result"]))


@pytest.mark.parametrize("change, words", [
    (lambda m: m.update(heads_0=m["heads_0"][:, :1]), ("heads_0 must have shape",)),
    (lambda m: m.update(heads_0=np.where(np.arange(m["heads_0"].size).reshape(m["heads_0"].shape) == 3, np.nan,
                                         m["heads_0"]).astype(np.float16)), ("heads_0", "nan")),
    (lambda m: m.update(heads_0=m["heads_0"] * 3), ("heads_0", "between 0 and 1")),
    (lambda m: m.update(rollout=m["rollout"][:2]), ("rollout must have shape",)),
    (lambda m: m.update(rollout=np.full_like(m["rollout"], np.inf)), ("rollout", "inf")),
    (lambda m: m.update(heads_7=m["heads_0"]), ("heads_7 has no hypothesis",)),
    (lambda m: m.pop("heads_1"), ("heads of 1 of the 2 hypotheses",)),
])
def test_hostile_arrays_are_refused_in_one_line(saved, tmp_path, change, words):
    members = _members(saved["caption"].with_suffix(".npz"))
    change(members)
    bad = tmp_path / "bad.npz"
    _write_npz(bad, members)
    _refused(bad, "bad.npz", *words)


def _edit_record(record: dict, how: str) -> None:
    if how == "shape":
        record["places"]["shape"] = [2, 2]
    elif how == "place":
        record["places"]["token_place"][3] = 10_000
    elif how == "tokens":
        record["places"]["token_place"].append(0)
    elif how == "labels":
        record["places"]["labels"] = ["x"]
    elif how == "label":
        record["places"]["labels"][0] = "\x1b[31m"
    elif how == "lens":
        record["lens"] = {"layer": 5, "heads": "mean"}
    elif how == "lens-name":
        record["lens"] = {"layer": "sideways", "heads": "mean"}
    elif how == "huge":
        record["heads_shape"] = [1001, 4, record["heads_shape"][2]]
    elif how == "no-lens":
        record.pop("lens")
    elif how == "sink":
        record["hypotheses"][0]["words"][1]["sink"] = 7.0
    elif how == "some-sinks":
        record["hypotheses"][0]["words"][1].pop("sink")


@pytest.mark.parametrize("how, words", [
    ("shape", ("places.shape",)), ("place", ("places.token_place[3]",)), ("tokens", ("places.token_place",)),
    ("labels", ("places.labels",)), ("label", ("places.labels",)), ("lens", ("lens", "layer")),
    ("lens-name", ("lens",)), ("huge", ("heads_shape", "at most 1000 layers")), ("no-lens", ("lens is missing",)),
    ("sink", ("sink",)), ("some-sinks", ("sink for every word",)),
])
def test_hostile_records_are_refused_in_one_line(saved, tmp_path, how, words):
    record = json.loads(saved["caption"].read_text())
    record.pop("arrays")
    _edit_record(record, how)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(record))
    _refused(bad, "bad.json", *words)


def test_heads_of_a_result_that_declares_none_are_refused(saved, tmp_path):
    members = _members(saved["caption"].with_suffix(".npz"))
    record = _record(members)
    for key in ("places", "lens", "heads_shape"):
        record.pop(key)
    members["result"] = np.array(json.dumps(record))
    bad = tmp_path / "bad.npz"
    _write_npz(bad, members)
    _refused(bad, "no heads_shape")


def test_oversized_heads_are_refused_before_they_are_read(saved, tmp_path):
    """An NPZ member declaring 2 GB of heads: refused from its header, nothing allocated."""
    members = _members(saved["caption"].with_suffix(".npz"))
    bad = tmp_path / "big.npz"
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f2", "fortran_order": False,
                                                  "shape": (4, 1000, 1000, 1000)})
    with zipfile.ZipFile(bad, "w") as z:
        for name, a in members.items():
            if name == "heads_1":
                continue
            buf = io.BytesIO()
            np.lib.format.write_array(buf, a)
            z.writestr(f"{name}.npy", buf.getvalue())
        z.writestr("heads_1.npy", header.getvalue() + b"\0" * 64)
    _refused(bad, "big.npz", "heads_1")


def test_the_cli_says_what_is_wrong_in_one_line(saved, tmp_path, capsys):
    members = _members(saved["caption"].with_suffix(".npz"))
    members["heads_0"] = members["heads_0"][:, :, :1]
    bad = tmp_path / "bad.npz"
    _write_npz(bad, members)
    assert main(["export", str(bad), "--figure", str(tmp_path / "f.png")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "heads_0 must have shape" in err and "Traceback" not in err
