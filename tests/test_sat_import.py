"""Show-Attend-Tell tutorial checkpoints: `attnviewer import sat-tutorial` reads them (both torch
formats) without running anything in the pickle, and the imported model captions exactly as the
tutorial's own decoding does with the same weights (tests/sat_reference.py), greedy and beam."""
from __future__ import annotations

import os
import pickle
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from attnviewer import catalog, pipeline
from attnviewer.cli import main
from attnviewer.decoding.search import decode, run
from attnviewer.export.data import load_result
from attnviewer.kinds import get
from attnviewer.models import registry
from attnviewer.resources import sample_dir
from attnviewer.settings import DecodeSettings

from .sat_reference import (make_decoder, make_encoder, save_tutorial_checkpoint, tutorial_beam, tutorial_encode,
                            tutorial_modules, word_map, write_word_map)

WORDS = word_map(20)  # 24 with <pad>, <unk>, <start>, <end>
START, END = WORDS["<start>"], WORDS["<end>"]


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory):
    """The tutorial's modules with random weights, saved in both torch formats, and its word map."""
    folder = tmp_path_factory.mktemp("sat")
    t = SimpleNamespace(folder=folder, encoder=make_encoder(0), decoder=make_decoder(len(WORDS), 1, END),
                        zip=folder / "BEST_checkpoint_zip.pth.tar", legacy=folder / "BEST_checkpoint_legacy.pth.tar",
                        wordmap=folder / "WORDMAP_test.json")
    save_tutorial_checkpoint(t.zip, t.encoder, t.decoder, zip_format=True)
    save_tutorial_checkpoint(t.legacy, t.encoder, t.decoder, zip_format=False)
    write_word_map(t.wordmap, WORDS)
    return t


@pytest.fixture(scope="module")
def imported(tutorial):
    out = tutorial.folder / "sat.safetensors"
    assert main(["import", "sat-tutorial", str(tutorial.zip), str(tutorial.wordmap), "--out", str(out)]) == 0
    return SimpleNamespace(path=out, model=registry.load(str(out), device="cpu"))


def import_cli(ckpt, wordmap, out, *extra) -> int:
    return main(["import", "sat-tutorial", str(ckpt), str(wordmap), "--out", str(out), *extra])


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


# -- the import itself -----------------------------------------------------------------------------


def test_import_prints_what_it_made_and_keeps_the_tutorial_record(imported, capsys):
    model = imported.model
    assert model.kind == "caption" and model.config.grid == (14, 14) and model.config.encoder == "resnet101"
    assert model.vocab[START] == "<start>" and len(model.vocab) == 24
    assert model.training_record["epoch"] == 7 and model.training_record["bleu-4"] == pytest.approx(0.2531)
    assert model.domain["checked"] is False and model.domain["domain"] == "unknown"


def test_legacy_format_gives_the_same_model_and_out_is_replaced_only_with_overwrite(tutorial, imported, capsys):
    out = tutorial.folder / "legacy.safetensors"
    out.write_bytes(b"a file the user had")
    assert import_cli(tutorial.legacy, tutorial.wordmap, out) == 2
    assert "already exists; add --overwrite" in one_error_line(capsys)
    assert out.read_bytes() == b"a file the user had"

    assert import_cli(tutorial.legacy, tutorial.wordmap, out, "--overwrite") == 0
    line = capsys.readouterr().out
    assert "24 words, attention 14x14 over resnet101 features of 256 px images" in line
    ours, theirs = load_file(str(out)), load_file(str(imported.path))
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert not [p for p in tutorial.folder.iterdir() if p.name.startswith(".")]  # no temporaries left


def test_encoder_features_match_the_tutorial_encoder(tutorial, imported):
    """The same 2048-d regions on a 14x14 grid (up to float rounding through 101 layers)."""
    torch.manual_seed(3)
    pixels = torch.rand(2, 3, 64, 64) * 255
    with torch.no_grad():
        ours = imported.model.regions(pixels)
        theirs = torch.cat([tutorial_encode(tutorial.encoder, pixels[i:i + 1]) for i in range(2)])
    assert ours.shape == theirs.shape == (2, 196, 2048)
    assert (ours - theirs).abs().max() <= 1e-3 * theirs.abs().max()
    assert (theirs[0] - theirs[1]).abs().max() > 0.1  # features that depend on the image


# -- decoding equals the tutorial's --------------------------------------------------------------


@pytest.fixture(scope="module")
def regions(imported):
    """The imported encoder's regions of six random images: both decoders read the same numbers."""
    torch.manual_seed(11)
    with torch.no_grad():
        return imported.model.regions(torch.rand(6, 3, 64, 64) * 255)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_captions_and_attention_equal_the_tutorials_decoding(tutorial, imported, regions, k):
    """k = 1 is our greedy decoding (the tutorial decodes greedily with beam size 1); k = 3, 5 our
    beam search as the tutorial scores it: sums of log probabilities, no length normalisation, an
    ended hypothesis narrows the beam."""
    model = imported.model
    settings = DecodeSettings("greedy") if k == 1 else DecodeSettings("beam", beam=k, length_penalty=0.0,
                                                                         shrink_beam=True)
    with torch.no_grad():
        ours = run(decode(model, model.init_state_from_regions(regions), settings, stream=False))
    lengths = set()
    for i in range(len(regions)):
        words, alphas, score = tutorial_beam(tutorial.decoder, regions[i:i + 1], START, END, k)
        best = ours[i][0]
        assert words[-1] == END and best.token_ids == words[:-1], f"image {i}"
        assert best.log_prob == pytest.approx(score, abs=1e-4)
        np.testing.assert_allclose(best.attention, alphas[:-1].numpy().reshape(-1, 14, 14), atol=1e-5)
        lengths.add(len(words))
    assert len(lengths) > 1  # the random decoder writes sentences of several lengths


def test_beam_search_finds_captions_greedy_does_not(imported, regions):
    """Not a vacuous comparison: on these images the tutorial-scored beam changes some captions."""
    model = imported.model
    state = model.init_state_from_regions(regions)
    with torch.no_grad():
        greedy = run(decode(model, state, DecodeSettings("greedy"), stream=False))
        beam = run(decode(model, state, DecodeSettings("beam", beam=5, length_penalty=0.0, shrink_beam=True),
                          stream=False))
    assert any(g[0].tokens != b[0].tokens for g, b in zip(greedy, beam))
    assert all(b[0].log_prob >= g[0].log_prob - 1e-4 for g, b in zip(greedy, beam))


def test_imported_model_opens_like_any_other(imported, tmp_path, capsys):
    """Through the catalog, the pipeline (as the window uses it) and the caption command: 14x14
    attention per word, the tutorial's beam scoring from the command line, and no out-of-domain
    note (its training data is unknown)."""
    assert catalog.kind_of(str(imported.path)) == "caption"
    kind = get("caption")
    image = sample_dir() / "shapes-1.png"
    settings = DecodeSettings("beam", beam=3, length_penalty=0.0, shrink_beam=True)
    media = pipeline.read(kind, str(image), str(imported.path))
    # (imported.model was loaded as pipeline.load_model loads it: registry.load of the file)
    [result] = pipeline.run_all(kind, imported.model, [media], settings)
    hyp = result.hypotheses[0]
    assert hyp.tokens and hyp.attention.shape == (len(hyp.tokens), 14, 14)
    np.testing.assert_allclose(hyp.attention.sum(axis=(1, 2)), 1.0, atol=1e-5)
    assert result.note is None

    out = tmp_path / "result.json"
    assert main(["caption", str(image), "--model", str(imported.path), "--beam", "3", "--length-penalty", "0",
                 "--shrink-beam", "--device", "cpu", "--json", str(out)]) == 0
    assert "note:" not in capsys.readouterr().err
    saved = load_result(out)
    assert saved.hypotheses[0].tokens == hyp.tokens
    assert saved.settings["shrink_beam"] is True and saved.settings["length_penalty"] == 0.0


def test_images_reach_the_imported_model_resized_as_the_tutorial_does(imported, tmp_path):
    """The tutorial resizes the photo to 256x256 with PIL's bilinear filter (scipy's imresize):
    an imported model gets those very pixels, not the project's own OpenCV resize."""
    from PIL import Image

    rng = np.random.default_rng(0)
    photo = tmp_path / "photo.png"
    Image.fromarray(rng.integers(0, 256, (300, 451, 3), dtype=np.uint8)).save(photo)
    kind = get("caption")
    media = pipeline.read(kind, str(photo), str(imported.path))
    pixels = kind.inputs(imported.model, [media], "cpu")[0].permute(1, 2, 0).numpy()
    tutorial = np.asarray(Image.open(photo).convert("RGB").resize((256, 256), Image.BILINEAR), dtype=np.float32)
    assert imported.model.config.resize == "pil-bilinear"
    np.testing.assert_array_equal(pixels, tutorial)


# -- refused: one line, nothing run, nothing written ---------------------------------------------


class WritesAFile:
    """What a hostile checkpoint holds: unpickling it runs a shell command (or opens a file)."""

    def __init__(self, how, marker):
        self.how, self.marker = how, marker

    def __reduce__(self):
        if self.how == "system":
            return os.system, (f"touch {self.marker}",)
        if self.how == "exec":
            return exec, (f"open({str(self.marker)!r}, 'w').close()",)
        return open, (str(self.marker), "w")


@pytest.mark.parametrize("how", ["system", "exec", "open"])
@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_a_malicious_pickle_is_refused_without_running(tmp_path, capsys, how, zip_format):
    marker, out = tmp_path / "pwned", tmp_path / "out.safetensors"
    ckpt = tmp_path / "BEST_checkpoint_evil.pth.tar"
    torch.save({"epoch": 1, "encoder": WritesAFile(how, marker), "decoder": None}, ckpt,
               _use_new_zipfile_serialization=zip_format)
    write_word_map(tmp_path / "wm.json", WORDS)
    assert import_cli(ckpt, tmp_path / "wm.json", out) == 2
    err = one_error_line(capsys)
    named = {"system": "posix.system", "exec": "builtins.exec", "open": "io.open"}[how]
    assert f"refused: the pickle asks for {named}, which a checkpoint has no need of" in err
    assert "nothing was run" in err
    assert not marker.exists() and not out.exists()
    if how == "system":  # the file really is hostile: an ordinary load runs it
        torch.load(ckpt, weights_only=False)
        assert marker.exists()


def test_a_pickle_of_an_unknown_class_is_refused(tutorial, tmp_path, capsys):
    ckpt = tmp_path / "gru.pth.tar"
    with tutorial_modules():
        torch.save({"encoder": tutorial.encoder, "decoder": nn.GRUCell(4, 4)}, ckpt)
    assert import_cli(ckpt, tutorial.wordmap, tmp_path / "out.safetensors") == 2
    assert "refused: the pickle asks for torch.nn.modules.rnn.GRUCell" in one_error_line(capsys)
    assert not (tmp_path / "out.safetensors").exists()


def test_a_plain_pickle_of_another_program_is_refused(tutorial, tmp_path, capsys):
    ckpt = tmp_path / "other.pkl"
    ckpt.write_bytes(pickle.dumps({"encoder": [1.5, "x"]}, protocol=2))
    assert import_cli(ckpt, tutorial.wordmap, tmp_path / "out.safetensors") == 2
    assert "not a torch checkpoint" in one_error_line(capsys)


@pytest.mark.parametrize("which", ["zip", "legacy"])
def test_a_truncated_checkpoint_is_one_line(tutorial, tmp_path, capsys, which):
    data = getattr(tutorial, which).read_bytes()
    ckpt = tmp_path / "cut.pth.tar"
    ckpt.write_bytes(data[: len(data) * 2 // 3])
    assert import_cli(ckpt, tutorial.wordmap, tmp_path / "out.safetensors") == 2
    assert "truncated" in one_error_line(capsys)
    assert not (tmp_path / "out.safetensors").exists()


@pytest.mark.parametrize("content, message", [
    (word_map(19), "the decoder writes 24 words but the word map has 23"),
    ("not json {", "word map is not JSON"),
    ({w: i for w, i in WORDS.items() if w != "<start>"} | {"w21": WORDS["<start>"]},
     "word map lacks the special token <start>"),
    (dict(WORDS, w5=3), "indices are not 0..23, each once"),
    (dict(WORDS, **{"red\x1b[2J": len(WORDS)}), r"word map [24] must not contain control characters, got 'red\x1b[2J'"),
    (dict(WORDS, **{"w" * 101: len(WORDS)}), "word map [24] must be at most 100 characters, got 101"),
])
def test_a_wrong_word_map_is_one_line(tutorial, tmp_path, capsys, content, message):
    wm = tmp_path / "WORDMAP.json"
    if isinstance(content, str):
        wm.write_text(content)
    else:
        write_word_map(wm, content)
    assert import_cli(tutorial.zip, wm, tmp_path / "out.safetensors") == 2
    assert message in one_error_line(capsys)
    assert not (tmp_path / "out.safetensors").exists()


def test_out_must_be_safetensors(tutorial, tmp_path, capsys):
    assert import_cli(tutorial.zip, tutorial.wordmap, tmp_path / "model.pth") == 2
    assert "written as .safetensors" in one_error_line(capsys)


def test_a_module_tree_that_contains_itself_is_refused(tmp_path):
    """Pickles can hold cycles; the placeholder walk refuses one instead of looping forever."""
    from attnviewer.errors import CheckpointError
    from attnviewer.models.safe_pickle import Checkpoint

    loop = nn.Sequential(nn.Linear(2, 2))
    loop._modules["again"] = loop
    torch.save({"m": loop}, tmp_path / "loop.pth")
    ckpt = Checkpoint(tmp_path / "loop.pth")
    with pytest.raises(CheckpointError, match="appears twice in the module tree"):
        ckpt.state_dict(ckpt.root["m"])


def test_a_checkpoint_pickled_as_torch_0_4_did_is_read(tmp_path, monkeypatch):
    """The tutorial was written for torch 0.4, whose modules pickled a `_backend` (a call of a torch
    function) and whose parameters pickled as Parameter(tensor, requires_grad): both are read (as
    nothing and as the tensor), without calling anything of torch's."""
    from attnviewer.models.safe_pickle import Checkpoint

    class Backend:
        def __reduce__(self):
            from torch.nn.backends.thnn import _get_thnn_function_backend
            return _get_thnn_function_backend, ()

    layer = nn.Linear(3, 2)
    layer._backend = Backend()
    monkeypatch.setattr(nn.Parameter, "__reduce_ex__", lambda self, proto: (nn.Parameter, (self.data, False)))
    torch.save({"m": layer}, tmp_path / "old.pth", _use_new_zipfile_serialization=False)
    monkeypatch.undo()
    ckpt = Checkpoint(tmp_path / "old.pth")
    assert ckpt.root["m"].state["_backend"] is None
    state = ckpt.state_dict(ckpt.root["m"])
    assert torch.equal(state["weight"], layer.weight.data) and torch.equal(state["bias"], layer.bias.data)


def test_a_tensor_that_reaches_past_its_storage_is_refused(tmp_path):
    """A legacy-format file written by hand: its tensor claims 5 numbers of a 2-number storage.
    Refused before any bytes are read, rather than reading beyond them."""
    import collections
    import io
    import struct

    from attnviewer.errors import CheckpointError
    from attnviewer.models.safe_pickle import LEGACY_MAGIC, LEGACY_PROTOCOL, Checkpoint

    class Storage:
        pass

    class Tensor:
        def __reduce__(self):
            return torch._utils._rebuild_tensor_v2, (Storage(), 0, (5,), (1,), False, collections.OrderedDict())

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", torch.FloatStorage, "0", "cpu", 2, None) if isinstance(obj, Storage) else None

    f = io.BytesIO()
    for head in (LEGACY_MAGIC, LEGACY_PROTOCOL, {"protocol_version": LEGACY_PROTOCOL, "little_endian": True}):
        pickle.dump(head, f, protocol=2)
    Pickler(f, protocol=2).dump({"t": Tensor()})
    pickle.dump(["0"], f, protocol=2)
    f.write(struct.pack("<q", 2) + struct.pack("<2f", 1.0, 2.0))
    (tmp_path / "bad.pth").write_bytes(f.getvalue())
    with pytest.raises(CheckpointError, match=r"a tensor of size \[5\] reaches past its storage of 2 elements"):
        Checkpoint(tmp_path / "bad.pth")


def test_a_model_outside_the_limits_of_a_model_file_is_one_line(tmp_path, capsys):
    """An attention wider than any model file may hold (4096): refused before anything is built."""
    from .sat_reference import DecoderWithAttention, Encoder

    encoder = Encoder.__new__(Encoder)  # only what the importer reads of the encoder before refusing
    nn.Module.__init__(encoder)
    encoder.adaptive_pool = nn.AdaptiveAvgPool2d((14, 14))
    decoder = DecoderWithAttention(4097, 8, 8, len(WORDS))
    with tutorial_modules():
        torch.save({"encoder": encoder, "decoder": decoder}, tmp_path / "wide.pth.tar")
    write_word_map(tmp_path / "wm.json", WORDS)
    assert import_cli(tmp_path / "wide.pth.tar", tmp_path / "wm.json", tmp_path / "out.safetensors") == 2
    assert "outside attnviewer's limits: attn_dim must be at most 4096, got 4097" in one_error_line(capsys)
    assert not (tmp_path / "out.safetensors").exists()


def test_damaged_weights_are_refused_naming_the_tensor(tutorial, tmp_path, capsys):
    """The check every model file's weights pass (models/checkpoint.py) holds for imports too."""
    import copy

    decoder = copy.deepcopy(tutorial.decoder)
    with torch.no_grad():
        decoder.fc.weight[3, 1] = float("nan")
    save_tutorial_checkpoint(tmp_path / "nan.pth.tar", tutorial.encoder, decoder)
    assert import_cli(tmp_path / "nan.pth.tar", tutorial.wordmap, tmp_path / "out.safetensors") == 2
    assert "tensor fc.weight holds NaN values; the weights are damaged" in one_error_line(capsys)
    assert not (tmp_path / "out.safetensors").exists()
