"""Hostile saved results: every damaged or crafted JSON/NPZ given to `attnviewer export` is refused
with exit status 2 and one line on stderr, no traceback, no output file, quickly and in little memory.

Real results of each kind are made once with the CLI; hypothesis mutates them class by class
(issue 13, section 2). The number of generated cases per class is counted in COUNTS (and written
to $ATTNVIEWER_HOSTILE_COUNTS when set).
"""
from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from attnviewer.cli import main
from attnviewer.errors import MediaError
from attnviewer.export import result_schema as rs
from attnviewer.export.data import load_result
from attnviewer.resources import sample_dir
from attnviewer.validation import json_depth

KINDS = ("caption", "translate", "video")
CASES = settings(max_examples=60, deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                        HealthCheck.data_too_large, HealthCheck.large_base_example])
COUNTS: Counter = Counter()
CASE_SECONDS = 10.0  # each refusal, generously (they take milliseconds)


# ---- real results, made once with the CLI ---------------------------------------------------------

@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """{kind: (json dict, npz bytes)} of results written by `attnviewer caption|translate|video --json`."""
    folder = tmp_path_factory.mktemp("real")
    samples = sample_dir()
    commands = {
        "caption": ["caption", str(samples / "shapes-1.png")],
        "translate": ["translate", "the dog sees a cat"],
        "video": ["video", str(samples / "clip-1.mp4")],
    }
    out = {}
    for kind, args in commands.items():
        js = folder / f"{kind}.json"
        run = subprocess.run([sys.executable, "-m", "attnviewer", *args, "--json", str(js), "--device", "cpu"],
                             capture_output=True, text=True, timeout=300, check=False)
        assert run.returncode == 0, run.stderr
        out[kind] = (json.loads(js.read_text()), js.with_suffix(".npz").read_bytes())
        assert load_result(js).kind == kind
    yield out
    target = os.environ.get("ATTNVIEWER_HOSTILE_COUNTS")
    if target:
        Path(target).write_text(json.dumps(dict(sorted(COUNTS.items())), indent=1))


def export(result: Path, out: Path) -> tuple[int, str, str]:
    """`attnviewer export RESULT --figure OUT` in this process: exit status, stdout, stderr."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(["export", str(result), "--figure", str(out)])
    return code, stdout.getvalue(), stderr.getvalue()


def refused(cls: str, kind: str, files: dict[str, bytes | str], open_name: str = "R.json") -> str:
    """Write the files into a fresh folder, export `open_name` and check the refusal. The line."""
    COUNTS[cls] += 1
    COUNTS[f"{cls}/{kind}"] += 1
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        for name, content in files.items():
            (d / name).write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
        start = time.monotonic()
        code, out, err = export(d / open_name, d / "out.png")
        elapsed = time.monotonic() - start
        assert code == 2, (code, out, err[-2000:])
        assert "Traceback" not in err
        lines = err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("attnviewer: error: "), err[-2000:]
        assert len(lines[0]) < 400, lines[0][:400]
        assert not any(c < " " and c != "\t" or "\x7f" <= c <= "\x9f" for c in lines[0]), repr(lines[0])
        assert not (d / "out.png").exists() and {p.name for p in d.iterdir()} == set(files)
        assert elapsed < CASE_SECONDS, (elapsed, lines[0])
        with pytest.raises(MediaError):  # the window and folder resume go through load_result
            load_result(d / open_name)
        return lines[0]


def as_json(doc, with_npz: bytes | None = None) -> dict[str, bytes | str]:
    """R.json (and R.npz beside it, which the JSON names) of a result document."""
    doc = dict(doc)
    files: dict[str, bytes | str] = {}
    if with_npz is not None:
        doc["arrays"] = "R.npz"
        files["R.npz"] = with_npz
    else:
        doc.pop("arrays", None)
    files["R.json"] = json.dumps(doc, ensure_ascii=False, allow_nan=True)
    return files


def words_of(doc):
    return [(i, j) for i, h in enumerate(doc["hypotheses"]) for j in range(len(h["words"]))]


kinds = pytest.mark.parametrize("kind", KINDS)


def test_the_real_results_load_and_export(real, tmp_path):
    for kind, (doc, npz) in real.items():
        for name, files in (("R.json", as_json(doc, npz)), ("R.json", as_json(doc)), ("R.npz", {"R.npz": npz})):
            d = tmp_path / f"{kind}-{name}-{len(files)}"
            d.mkdir()
            for n, c in files.items():
                (d / n).write_bytes(c if isinstance(c, bytes) else c.encode())
            code, _, err = export(d / name, d / "out.png")
            assert code == 0 and (d / "out.png").is_file(), err


# ---- the JSON -------------------------------------------------------------------------------------

BAD_NUMBERS = st.sampled_from([-1, 0, -10**6, 10**12, 10**400, float("inf"), float("-inf"), float("nan"), 1e308,
                               -0.5, 2.5, "12", "x", None, True, [], [3], {}, 1.5])


@kinds
@CASES
@given(data=st.data())
def test_negative_or_mismatched_shapes(real, kind, data):
    """attention_shape and the words' attention grids that disagree, or say nonsense."""
    doc, npz = copy.deepcopy(real[kind][0]), real[kind][1]
    shape = doc["attention_shape"]
    how = data.draw(st.sampled_from(["shape", "dims", "grid", "ragged", "values", "npz-shape", "npz-dtype", "npz-extra"]))
    if how == "shape":
        k = data.draw(st.integers(0, len(shape) - 1))
        shape[k] = data.draw(st.one_of(st.integers(-10**9, 0), st.integers(1, 10**9).filter(lambda n: n != shape[k]),
                                       BAD_NUMBERS.filter(lambda v: v != shape[k] or type(v) is not int)))
    elif how == "dims":
        doc["attention_shape"] = data.draw(st.lists(st.integers(1, 50), max_size=5).filter(lambda s: len(s) != len(shape)))
    elif how in ("grid", "ragged", "values"):
        i, j = data.draw(st.sampled_from(words_of(doc)))
        word = doc["hypotheses"][i]["words"][j]
        if how == "grid":
            word["attention"] = data.draw(st.one_of(st.just([]), st.just(word["attention"][:-1]),
                                                    st.just(word["attention"] + word["attention"][:1]),
                                                    st.just([word["attention"]]), BAD_NUMBERS))
        elif how == "ragged":
            row = word["attention"]
            row[-1] = [row[-1]] if not isinstance(row[-1], list) else row[-1][:-1]
        else:
            flat = word["attention"] if len(shape) == 1 else word["attention"][0]
            flat[data.draw(st.integers(0, len(flat) - 1))] = data.draw(st.sampled_from(
                [-0.1, 1.5, float("inf"), float("nan"), "0.5", None, True, [0.1], 10**400]))
    else:
        refused("shapes", kind, as_json(doc, hostile_npz(data, doc, npz, how)))
        return
    line = refused("shapes", kind, as_json(doc, npz if data.draw(st.booleans()) else None))
    assert "attention" in line or "broken JSON" in line


def hostile_npz(data, doc, npz: bytes, how: str) -> bytes:
    """The real NPZ with attention_0 replaced: another shape, another dtype, or an extra member."""
    words = len(doc["hypotheses"][0]["words"])
    shape = tuple(doc["attention_shape"])
    if how == "npz-shape":
        bad = data.draw(st.lists(st.integers(0, 30), min_size=0, max_size=4).map(tuple)
                        .filter(lambda s: s != (words, *shape)))
        member = np.zeros(bad, np.float32)
    elif how == "npz-dtype":
        member = np.zeros((words, *shape), data.draw(st.sampled_from([np.int64, np.complex64, np.bool_, np.uint8, "U3"])))
    else:
        return rezip(npz, {"extra.npy": npy_bytes(np.zeros(3, np.float32))})
    return rezip(npz, {"attention_0.npy": npy_bytes(member)})


def npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return buf.getvalue()


def rezip(npz: bytes, replace: dict[str, bytes], compress: int = zipfile.ZIP_DEFLATED) -> bytes:
    """The NPZ with some members replaced or added."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(npz)) as src, zipfile.ZipFile(out, "w", compress) as dst:
        for name in src.namelist():
            if name not in replace:
                dst.writestr(name, src.read(name))
        for name, content in replace.items():
            dst.writestr(name, content)
    return out.getvalue()


@pytest.mark.parametrize("kind", ("caption", "video"))
@CASES
@given(data=st.data())
@example(data=None)
def test_hostile_image_size(real, kind, data):
    doc = copy.deepcopy(real[kind][0])
    if data is None:
        doc["image_size"] = [float("inf"), 160]
    else:
        value = data.draw(st.one_of(BAD_NUMBERS, st.integers(100_001, 10**30), st.floats(allow_nan=True)))
        k = data.draw(st.sampled_from([0, 1, None]))
        if k is None:  # (null is allowed there: no size recorded)
            doc["image_size"] = [1, 2, 3] if isinstance(value, list) or value is None else value
        else:
            doc["image_size"][k] = value
    line = refused("image_size", kind, as_json(doc))
    assert "image_size" in line or "broken JSON" in line


@kinds
@CASES
@given(depth=st.integers(rs.JSON_MAX_DEPTH + 1, 100_000), brace=st.booleans(), data=st.data())
@example(depth=100_000, brace=False, data=None)
def test_deep_nesting(real, kind, depth, brace, data):
    """JSON nested up to 100,000 levels in any field: refused by a scan, never a RecursionError."""
    doc = copy.deepcopy(real[kind][0])
    fields = ["note", "settings", "image_size", "source_tokens", "hypotheses", "attention_shape", "frame_times",
              "word", "alternative"]
    field = "note" if data is None else data.draw(st.sampled_from(fields))
    marker = "\u2603DEEP\u2603"
    if field == "word":
        doc["hypotheses"][0]["words"][0]["attention"] = marker
    elif field == "alternative":
        doc["hypotheses"][-1]["words"][-1]["alternatives"] = [marker]
    else:
        doc[field] = marker
    deep = ('{"a":' * depth + "1" + "}" * depth) if brace else ("[" * depth + "]" * depth)
    text = json.dumps(doc, ensure_ascii=False).replace(json.dumps(marker, ensure_ascii=False), deep)
    line = refused("deep_nesting", kind, {"R.json": text})
    assert "nested" in line


@kinds
@CASES
@given(value=st.one_of(st.lists(st.text(max_size=5), max_size=4), st.integers(), st.floats(), st.booleans(),
                       st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)))
@example(value=["R.npz"])
@example(value=7)
def test_arrays_not_a_file_name(real, kind, value):
    doc = copy.deepcopy(real[kind][0])
    doc["arrays"] = value
    files = {"R.json": json.dumps(doc, allow_nan=True), "R.npz": real[kind][1]}
    line = refused("arrays_field", kind, files)
    assert "arrays" in line


@kinds
@CASES
@given(data=st.data())
def test_source_words_or_frame_times_shorter_or_longer_than_the_attention(real, kind, data):
    doc = copy.deepcopy(real[kind][0])
    field = {"caption": "frame_times", "translate": "source_tokens", "video": "frame_times"}[kind]
    span = doc["attention_shape"][-1]
    if kind == "caption":  # a caption has no frame times; given, they must still agree with the attention
        doc[field] = [0.1 * i for i in range(span)]
    n = data.draw(st.integers(0, span * 3).filter(lambda n: n != span))
    values = doc[field]
    doc[field] = (values * (n // len(values) + 1))[:n] if n else []
    if field == "frame_times":
        doc[field] = sorted(doc[field])
    if n == 0 and kind != "caption" and data.draw(st.booleans()):
        doc[field] = None  # missing altogether
    line = refused("short_source_or_times", kind, as_json(doc, real[kind][1] if data.draw(st.booleans()) else None))
    assert field in line and "\n" not in line


@pytest.mark.parametrize("kind", ("video",))
@CASES
@given(data=st.data())
def test_frame_times_out_of_order_negative_or_infinite(real, kind, data):
    doc = copy.deepcopy(real[kind][0])
    times = doc["frame_times"]
    k = data.draw(st.integers(0, len(times) - 1))
    times[k] = data.draw(st.sampled_from([-1.0, float("inf"), float("nan"), "0.5", None, 99.0 if k < len(times) - 1
                                          else -3.0]))
    line = refused("frame_times", kind, as_json(doc))
    assert "frame_times" in line


def token_fields(doc, kind):
    out = [("word", i, j) for i, j in words_of(doc)] + [("alt", i, j) for i, j in words_of(doc)]
    if kind == "translate":
        out += [("source", k, None) for k in range(len(doc["source_tokens"]))]
    return out


def put_token(doc, where, token):
    what, i, j = where
    if what == "word":
        doc["hypotheses"][i]["words"][j]["token"] = token
    elif what == "alt":
        doc["hypotheses"][i]["words"][j]["alternatives"][0][0] = token
    else:
        doc["source_tokens"][i] = token


@kinds
@settings(CASES, max_examples=20)
@given(data=st.data(), length=st.sampled_from([101, 1000, 100_000, 5_000_000]) | st.integers(101, 20_000))
@example(data=None, length=5_000_000)
def test_huge_tokens(real, kind, data, length):
    """A 5 MB word (output, alternative or source word) is refused, never handed to the figure writer."""
    doc = copy.deepcopy(real[kind][0])
    where = ("word", 0, 0) if data is None else data.draw(st.sampled_from(token_fields(doc, kind)))
    put_token(doc, where, "w" * length)
    line = refused("huge_token", kind, as_json(doc))
    assert "characters" in line


CONTROL = st.sampled_from([chr(c) for c in (*range(32), *range(0x7f, 0xa0))])


@kinds
@CASES
@given(data=st.data(), control=CONTROL, text=st.text(max_size=8))
def test_control_characters_in_tokens_and_names(real, kind, data, control, text):
    """Escape codes in a word, an alternative, a source word, the model's name or the note never reach the terminal."""
    doc = copy.deepcopy(real[kind][0])
    options = token_fields(doc, kind) + [("model", None, None), ("note", None, None)]
    where = data.draw(st.sampled_from(options))
    pos = data.draw(st.integers(0, len(text)))
    token = (text[:pos] + control + text[pos:])[:100]
    if where[0] in ("model", "note"):
        if where[0] == "note" and control in "\t\n":
            control = "\x1b"
            token = text + "\x1b[31m"
        doc[where[0]] = token
    else:
        put_token(doc, where, token)
    line = refused("control_characters", kind, as_json(doc))
    assert "control characters" in line


@kinds
@CASES
@given(data=st.data())
def test_probabilities_and_alternatives(real, kind, data):
    doc = copy.deepcopy(real[kind][0])
    i, j = data.draw(st.sampled_from(words_of(doc)))
    word = doc["hypotheses"][i]["words"][j]
    how = data.draw(st.sampled_from(["prob", "alt-prob", "alt-shape", "alternatives"]))
    bad = data.draw(st.one_of(st.floats().filter(lambda x: not 0 <= x <= 1), st.sampled_from(["0.5", None, [], True])))
    if how == "prob":
        word["prob"] = bad
    elif how == "alt-prob":
        word["alternatives"][0][1] = bad
    elif how == "alt-shape":
        word["alternatives"][0] = data.draw(st.sampled_from([[], ["a"], ["a", 0.5, 1], [0.5, "a"], "a", 0.5]))
    else:
        word["alternatives"] = data.draw(st.sampled_from([{}, "a b", 3, None, [[["a", 0.5]]]]))
    line = refused("probabilities", kind, as_json(doc))
    assert f"hypotheses[{i}].words[{j}]" in line


FIELDS = ["schema", "source", "model", "settings", "seconds", "kind", "note", "hypotheses", "attention_shape"]


@kinds
@settings(CASES, max_examples=40)
@given(data=st.data(), value=st.one_of(st.integers(), st.floats(), st.text(max_size=5), st.booleans(), st.none(),
                                       st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3),
                                                                                            st.floats(), max_size=2)))
def test_any_field_of_the_wrong_type(real, kind, data, value):
    """Any top-level field or hypothesis field replaced by a value of another type: refused, or
    (where the value is acceptable there) exported; never a traceback."""
    doc = copy.deepcopy(real[kind][0])
    field = data.draw(st.sampled_from(FIELDS + ["log_prob", "score", "words", "token_id", "location",
                                                "settings.beam", "settings.temperature", "settings.method",
                                                "settings.other"]))
    if field in ("log_prob", "score", "words"):
        doc["hypotheses"][0][field] = value
    elif field in ("token_id", "location"):
        doc["hypotheses"][0]["words"][0][field] = value
    elif field.startswith("settings."):
        doc["settings"][field.split(".")[1]] = value
    else:
        doc[field] = value
    COUNTS["any_field"] += 1
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        (d / "R.json").write_text(json.dumps(doc, allow_nan=True))
        code, _, err = export(d / "R.json", d / "out.png")
        assert "Traceback" not in err
        if code == 0:
            COUNTS["any_field/accepted"] += 1
            assert (d / "out.png").is_file()
        else:
            assert code == 2 and len(err.splitlines()) == 1 and not (d / "out.png").exists(), err


# ---- the NPZ --------------------------------------------------------------------------------------

def npy_header(shape: tuple, descr: str = "<f4", version: int = 1) -> bytes:
    """A .npy header written by hand: it may declare any shape, whatever data follows."""
    text = f"{{'descr': {descr!r}, 'fortran_order': False, 'shape': {tuple(shape)!r}, }}"
    size_bytes = 2 if version == 1 else 4
    pad = -(len(text) + 1 + 10 + (size_bytes - 2)) % 64
    text = text + " " * pad + "\n"
    fmt = "<H" if version == 1 else "<I"
    return b"\x93NUMPY" + bytes([version, 0]) + struct.pack(fmt, len(text)) + text.encode("latin1")


HUGE_SHAPES = st.lists(st.integers(1, 10**7), min_size=1, max_size=4).map(tuple).filter(
    lambda s: int(np.prod(s, dtype=object)) * 4 > rs.ARRAYS_MAX_BYTES)


@kinds
@CASES
@given(shape=HUGE_SHAPES, member=st.sampled_from(["attention_0", "attention_1", "result"]),
       descr=st.sampled_from(["<f4", "<f8", "<f2", "<U1000"]), version=st.sampled_from([1, 2]),
       open_npz=st.booleans())
@example(shape=(1000, 1_000_000, 990), member="attention_0", descr="<f4", version=1, open_npz=False)  # 3.6 TiB
def test_an_npz_declaring_a_huge_array(real, kind, shape, member, descr, version, open_npz):
    doc, npz = real[kind]
    if member == "result":
        descr, shape = f"<U{rs.ARRAYS_MAX_BYTES // 4 + 1}", ()
    fake = npy_header(shape, descr, version) + b"\0" * 64
    bad = rezip(npz, {f"{member}.npy": fake})
    line = refused("npz_huge_declared", kind, {"R.npz": bad} if open_npz else as_json(doc, bad),
                   "R.npz" if open_npz else "R.json")
    assert "R.npz" in line


@kinds
@CASES
@given(cut=st.floats(0, 1, exclude_max=True), open_npz=st.booleans())
def test_a_truncated_npz(real, kind, cut, open_npz):
    doc, npz = real[kind]
    bad = npz[:int(len(npz) * cut)]
    line = refused("npz_truncated", kind, {"R.npz": bad} if open_npz else as_json(doc, bad),
                   "R.npz" if open_npz else "R.json")
    assert "R.npz" in line


def patch_file_size(npz: bytes, member: str, size: int) -> bytes:
    """The NPZ with `member`'s uncompressed size in the zip directory (and its local header) set
    to `size`: a zip bomb as the directory declares it."""
    data = bytearray(npz)
    with zipfile.ZipFile(io.BytesIO(npz)) as z:
        info = z.getinfo(member)
        struct.pack_into("<I", data, info.header_offset + 22, size)  # local file header
    name = member.encode()
    pos = 0
    while True:  # the central directory entry of the member
        pos = data.index(b"PK\x01\x02", pos)
        n = struct.unpack_from("<H", data, pos + 28)[0]
        if bytes(data[pos + 46:pos + 46 + n]) == name:
            struct.pack_into("<I", data, pos + 24, size)
            return bytes(data)
        pos += 4


@kinds
@CASES
@given(size=st.integers(rs.ARRAYS_MAX_BYTES + 2 * rs.NPY_HEADER_MAX, 0xFFFFFFFE),
       member=st.sampled_from(["attention_0.npy", "result.npy"]), open_npz=st.booleans())
def test_an_npz_zip_bomb(real, kind, size, member, open_npz):
    doc, npz = real[kind]
    bad = patch_file_size(npz, member, size)
    line = refused("npz_zip_bomb", kind, {"R.npz": bad} if open_npz else as_json(doc, bad),
                   "R.npz" if open_npz else "R.json")
    assert "unpacks to" in line


@pytest.fixture(scope="module")
def real_bomb(real, tmp_path_factory):
    """An NPZ whose attention_0 truly unpacks to 600 MB of zeros (a few hundred KB packed), and its JSON."""
    doc, npz = real["caption"]
    folder = tmp_path_factory.mktemp("bomb")
    n = 600 * 1024**2 // 4
    with zipfile.ZipFile(folder / "R.npz", "w", zipfile.ZIP_DEFLATED) as z:
        with zipfile.ZipFile(io.BytesIO(npz)) as src:
            z.writestr("result.npy", src.read("result.npy"))
        with z.open("attention_0.npy", "w", force_zip64=True) as f:
            f.write(npy_header((n,)))
            zeros = bytes(16 * 1024**2)
            for _ in range(n * 4 // len(zeros)):
                f.write(zeros)
    (folder / "R.json").write_text(json.dumps(dict(doc, arrays="R.npz")))
    return folder


def test_a_real_zip_bomb_is_refused_from_the_directory(real_bomb):
    for name in ("R.json", "R.npz"):
        COUNTS["npz_real_bomb"] += 1
        code, _, err = export(real_bomb / name, real_bomb / "out.png")
        assert code == 2 and len(err.splitlines()) == 1 and "unpacks to" in err, err
        assert not (real_bomb / "out.png").exists()


# ---- in a process of its own: quickly and in little memory -----------------------------------------

PROBE = ("import sys\n"
         "from attnviewer.cli import main\n"
         "code = main(sys.argv[1:])\n"
         "peak = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')]\n"  # since exec
         "print('MAXRSS', peak[0] if peak else 0)\n"
         "sys.exit(code)\n")


def test_a_sample_of_each_class_in_a_process_of_its_own(real, real_bomb, tmp_path):
    """The worst of each class through the real command line: exit 2, one line, no traceback, no
    output, in seconds and under 300 MB of resident memory."""
    doc, npz = real["caption"]
    tdoc = real["translate"][0]
    vdoc = real["video"][0]
    cases = {
        "deep": {"R.json": json.dumps(dict(doc, note="X")).replace('"X"', "[" * 100_000 + "]" * 100_000)},
        "tib": as_json(doc, rezip(npz, {"attention_0.npy": npy_header((1000, 1_000_000, 990)) + bytes(64)})),
        "bomb": {"R.json": (real_bomb / "R.json").read_text(), "R.npz": (real_bomb / "R.npz").read_bytes()},
        "patched-bomb": as_json(doc, patch_file_size(npz, "attention_0.npy", 6 * 1024**3 // 2)),
        "truncated": as_json(doc, npz[: len(npz) // 2]),
        "token": as_json(copy.deepcopy(doc)),
        "short-source": as_json(dict(tdoc, source_tokens=tdoc["source_tokens"][:-1])),
        "short-times": as_json(dict(vdoc, frame_times=vdoc["frame_times"][:-1])),
        "infinite-size": as_json(dict(doc, image_size=[float("inf"), 160])),
        "arrays-list": as_json(dict(doc, arrays=[1, 2])),
    }
    big = copy.deepcopy(doc)
    big["hypotheses"][0]["words"][0]["token"] = "w" * 5_000_000
    cases["token"] = as_json(big)
    cases["arrays-list"]["R.json"] = json.dumps(dict(doc, arrays=[1, 2]))
    for name, files in cases.items():
        d = tmp_path / name
        d.mkdir()
        for n, c in files.items():
            (d / n).write_bytes(c if isinstance(c, bytes) else c.encode())
        start = time.monotonic()
        run = subprocess.run([sys.executable, "-c", PROBE, "export", str(d / "R.json"), "--figure", str(d / "out.png")],
                             capture_output=True, text=True, timeout=120, check=False)
        elapsed = time.monotonic() - start
        rss_mb = int(run.stdout.split("MAXRSS")[-1]) / 1024
        COUNTS["subprocess_sample"] += 1
        assert run.returncode == 2, (name, run.stderr[-2000:])
        assert len(run.stderr.splitlines()) == 1 and "Traceback" not in run.stderr, (name, run.stderr[-2000:])
        assert not (d / "out.png").exists(), name
        assert elapsed < 60 and rss_mb < 300, (name, elapsed, rss_mb)


def test_the_limits_are_stated_once_and_agree_with_what_we_write(real):
    """What the writers produce stays well inside the declared limits."""
    assert rs.SCHEMAS[-1] == json.loads(json.dumps(real["caption"][0]))["schema"]
    for kind, (doc, _) in real.items():
        rec = rs.check_data(rs.json_data(json.dumps(doc), f"{kind}.json"), f"{kind}.json")
        assert len(rec.shape) == rs.ATTENTION_DIMS[kind]
        assert json_depth(json.dumps(doc)) < rs.JSON_MAX_DEPTH
