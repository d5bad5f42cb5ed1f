"""The out-of-domain note: every bundled model records what its generated training data looks like
to it (domain.py, scripts/stamp-domain.py); an input far from that is told so beside the caption,
an input from the generator is not."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from PIL import Image

from attnviewer import domain
from attnviewer.catalog import bundled, read_metadata
from attnviewer.cli import main
from attnviewer.data.clip_events import generate_clip
from attnviewer.data.synthetic import generate_scene
from attnviewer.export.data import load_result, write_result
from attnviewer.kinds import IMAGE
from attnviewer.media.frames import write_clip
from attnviewer.models.checkpoint import load_checkpoint, save_checkpoint
from attnviewer.resources import resource_dir, sample_dir
from attnviewer.types import Hypothesis, Result

from .helpers import tiny_captioner

MODELS = resource_dir() / "models"


def run_cli(capsys, *args) -> str:
    code = main([*map(str, args), "--device", "cpu"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def notes(out: str) -> list[str]:
    return [line.strip().removeprefix("note: ") for line in out.splitlines() if line.strip().startswith("note: ")]


def landscape(seed: int = 0, size: int = 256) -> np.ndarray:
    """A photo-like picture: a sky gradient over hills of textured green, grain everywhere; no
    shapes on a plain background."""
    rng = np.random.default_rng(seed)
    yy = np.mgrid[0:size, 0:size][0] / size
    noise = np.zeros((size, size), np.float32)
    for octave in range(1, 7):  # fractal noise: detail at every scale, as in nature
        grid = rng.normal(0, 1, (2 ** octave + 1,) * 2).astype(np.float32)
        noise += cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC) / octave
    sky = np.stack([120 + 80 * yy, 160 + 60 * yy, 230 - 30 * yy], -1) + 10 * noise[..., None]
    ground = np.stack([70 + 40 * noise, 110 + 50 * noise, 40 + 25 * noise], -1)
    image = np.where((yy > 0.55 + 0.04 * noise[:1])[..., None], ground, sky) + rng.normal(0, 8, (size, size, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def panning(picture: np.ndarray, frames: int = 24, side: int = 192) -> np.ndarray:
    """A camera panning across a picture: frames (T, side, side, 3)."""
    h, w = picture.shape[:2]
    crop = min(h, w) * 2 // 3
    out = []
    for t in range(frames):
        x, y = (w - crop) * t // (frames - 1), (h - crop) * t // (2 * (frames - 1))
        out.append(cv2.resize(picture[y:y + crop, x:x + crop], (side, side), interpolation=cv2.INTER_AREA))
    return np.stack(out)


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    path = tmp_path_factory.mktemp("photo") / "landscape.png"
    Image.fromarray(landscape()).save(path)
    return path


# -- the bundled models, through the commands ---------------------------------------------------------


def test_every_bundled_model_records_its_domain():
    from attnviewer.model_folders import folder_kind
    from attnviewer.models.registry import DOMAIN_FILE

    for name, path in bundled().items():
        if path.is_dir():  # a bundled transformer folder: its record is a file beside its config
            text, kind = (path / DOMAIN_FILE).read_text(), folder_kind(path)
        else:
            meta = read_metadata(path)
            assert "domain" in meta, f"{name} has no domain record: run scripts/stamp-domain.py"
            text, kind = meta["domain"], meta["kind"]
        rec = json.loads(text)
        assert rec["version"] == domain.VERSION and rec["kind"] == kind and rec["domain"]
        assert len(text) < 14_000, f"{name}: the domain record should stay small"


def test_generated_scenes_and_the_sample_image_get_no_note(tmp_path, capsys):
    scene = tmp_path / "scene.png"
    Image.fromarray(generate_scene(4040, 3).image).save(scene)
    out = run_cli(capsys, "caption", scene, sample_dir() / "shapes-1.png")
    assert out.count(": a ") >= 2 and notes(out) == []


def test_a_photo_like_image_is_told_it_is_out_of_the_domain(capsys, photo):
    out = run_cli(capsys, "caption", photo)
    [line] = notes(out)
    assert "unlike" in line and "generated scenes of coloured shapes caption-shapes" in line
    assert "typical up to" in line and line.endswith("the caption is a guess") and len(line) < 200
    distance, limit = (float(x) for x in line.split("(distance ")[1].split(")")[0].split(", typical up to "))
    assert distance > 1.3 * limit  # not a near miss


def test_the_sample_clip_gets_no_note_a_panning_photo_does(tmp_path, capsys):
    out = run_cli(capsys, "video", sample_dir() / "clip-1.mp4")
    assert notes(out) == []
    generated = write_clip(generate_clip(4040, 1).frames, tmp_path / "generated.mp4", scale=4)
    assert notes(run_cli(capsys, "video", generated)) == []
    pan = write_clip(panning(landscape(1, 400)), tmp_path / "pan.mp4")
    [line] = notes(run_cli(capsys, "video", pan))
    assert "unlike the generated clips of moving shapes video-shapes" in line and "the caption is a guess" in line


def test_a_sentence_of_unknown_words_is_told_translations_of_known_ones_are_not(capsys):
    out = run_cli(capsys, "translate", "the old teacher will paint some small red boats near the river")
    assert notes(out) == []
    [line] = notes(run_cli(capsys, "translate", "quantum chromodynamics explains hadron confinement nicely"))
    assert "unlike the generated English-like language translate-sov" in line and "6 of 6 words unknown" in line
    assert line.endswith("the translation is a guess")
    # one unknown word among eight is not far from the domain
    assert notes(run_cli(capsys, "translate", "the old teacher will paint some zebras")) == []


def test_the_note_is_kept_in_the_saved_result(tmp_path, capsys, photo):
    out = run_cli(capsys, "caption", photo, "--json", tmp_path / "r.json")
    [line] = notes(out)
    assert load_result(tmp_path / "r.json").note == line
    # and write_result / load_result round-trip it (no note stays no note)
    hyp = Hypothesis(["a"], [4], -0.69, -0.69, [0.5], [[("a", 0.5)]], np.full((1, 2, 2), 0.25, np.float32))
    for remark in (line, None):
        result = Result("x.png", "caption-shapes", {"method": "greedy"}, [hyp], 0.1, (8, 8), note=remark)
        write_result(result, tmp_path / "n.json", tmp_path / "n.npz")
        assert load_result(tmp_path / "n.json").note == remark


def test_a_checkpoint_without_a_domain_record_gives_no_note(tmp_path, capsys, photo):
    model = load_checkpoint(MODELS / "caption-shapes.safetensors")
    assert model.domain is not None and model.domain["kind"] == "caption"
    bare = tmp_path / "bare.safetensors"
    save_checkpoint(model, bare, model.training_record)  # no domain given: none written
    assert "domain" not in read_metadata(bare) and load_checkpoint(bare).domain is None
    assert notes(run_cli(capsys, "caption", photo, "--model", bare)) == []


# -- the record itself ---------------------------------------------------------------------------------


def test_a_record_is_small_saved_with_the_model_and_separates_its_domain(tmp_path):
    model = tiny_captioner(seed=3)
    model.name = "tiny"
    rec = domain.record("caption", model, fit_size=120, held_out_size=120)
    assert rec["kind"] == "caption" and rec["domain"] == "generated scenes of coloured shapes"
    assert rec["held_out"]["p99.5"] <= rec["held_out"]["max"] and rec["threshold"] > rec["held_out"]["p99.5"]
    assert rec == domain.record("caption", model, fit_size=120, held_out_size=120)  # fixed seeds
    path = tmp_path / "tiny.safetensors"
    save_checkpoint(model, path, {}, domain=rec)
    loaded = load_checkpoint(path)
    assert loaded.domain == rec and len(read_metadata(path)["domain"]) < 12_000
    loaded.name = "tiny"

    def remark(rgb):
        pixels = IMAGE.inputs(loaded, [type("Media", (), {"rgb": rgb})], "cpu")
        return domain.note(IMAGE, loaded, None, loaded.init_state(pixels))

    far = [remark(landscape(s, 128)) for s in range(3)]
    assert all(r and r.startswith("this image looks unlike the generated scenes of coloured shapes tiny") for r in far)
    near = [remark(generate_scene(4041, i, 64).image) for i in range(20)]
    assert near.count(None) >= 19


def test_a_foreign_or_damaged_record_says_nothing():
    model = tiny_captioner(seed=3)
    model.name = "tiny"
    rec = domain.record("caption", model, fit_size=60, held_out_size=60)
    pixels = IMAGE.inputs(model, [type("Media", (), {"rgb": landscape(0, 128)})], "cpu")
    state = model.init_state(pixels)
    for bad in (None, dict(rec, version=99), dict(rec, kind="video"), dict(rec, whiten="AAAA"), {"kind": "caption"}):
        model.domain = bad
        assert domain.note(IMAGE, model, None, state) is None


def test_a_long_model_path_still_makes_a_short_line():
    line = domain._line("image", "generated scenes of coloured shapes", "/very/" * 40 + "model.safetensors",
                        "distance 9.9, typical up to 2.2", "caption")
    assert len(line) < 200 and "model was trained on" in line and "\n" not in line


def test_a_video_record_reads_the_frame_encoder_of_any_video_captioner():
    from types import SimpleNamespace

    from attnviewer.kinds import VIDEO
    from attnviewer.models.video_captioner import VideoCaptioner, VideoConfig

    from .helpers import tiny_video_captioner

    plain = tiny_video_captioner(seed=2)  # and the S2VT design, which reads appearance alone
    s2vt = VideoCaptioner(VideoConfig(**dict(plain.config.to_dict(), summary_start=True, change_features=False)),
                          plain.vocab).eval()
    for model in (plain, s2vt):
        model.name = "tiny-video"
        model.domain = domain.record("video", model, fit_size=150, held_out_size=150)
        assert model.domain["dim"] == 64 and model.domain["kind"] == "video"

        def remark(frames):
            media = SimpleNamespace(frames=frames)
            return domain.note(VIDEO, model, media, model.init_state(VIDEO.inputs(model, [media], "cpu")))

        assert remark(panning(landscape(2, 300), 12, 96)).startswith("this video looks unlike the generated clips")
        assert [remark(generate_clip(4042, i).frames[::2]) for i in range(10)].count(None) >= 9
