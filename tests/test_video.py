"""The video captioner: generated clips with event times, the streaming reader, temporal
pointing, the model's decoding interface and checkpoints, the bundled model, and the video /
export commands with their figures."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch
from PIL import Image

from attnviewer.cli import main
from attnviewer.data.clip_events import FRAMES, REVERSE, STRIDE, generate_clip, generate_clips
from attnviewer.decoding.search import DecodeSettings, decode, run
from attnviewer.errors import CheckpointError, MediaError
from attnviewer.export.data import load_result
from attnviewer.media.frames import model_frames, read_clip, sample_indices, write_clip
from attnviewer.models import registry
from attnviewer.models.checkpoint import load_checkpoint, save_checkpoint
from attnviewer.resources import sample_dir
from attnviewer.evaluation.video import events_right, forward_verbs_given, temporal_pointing
from attnviewer.types import Hypothesis
from attnviewer.evaluation.video_captioner import clip_tensor

from .helpers import tiny_video_captioner

SVG = "{http://www.w3.org/2000/svg}"
CLIP = sample_dir() / "clip-1.mp4"


# -- generated clips -------------------------------------------------------------------------------


def test_clips_are_reproducible_with_events_in_time_order():
    clips = generate_clips(200, seed=3)
    assert np.array_equal(clips[7].frames, generate_clip(3, 7).frames)
    assert {len(c.events) for c in clips} == {1, 2}
    for c in clips:
        assert c.frames.shape == (FRAMES, 48, 48, 3)
        assert all(0 <= e.start < e.end < FRAMES for e in c.events)
        assert all(a.end < b.start for a, b in zip(c.events, c.events[1:]))
        assert all(c.event_steps()) and all(max(s) < FRAMES // STRIDE for s in c.event_steps())
        changed = np.abs(np.diff(c.frames.astype(int), axis=0)).sum(axis=(1, 2, 3))
        for e in c.events:  # the picture changes during the event, not long before the first one
            assert changed[e.start : e.end].max() > 0


def test_a_reversed_clip_shows_the_reverse_events_in_the_reverse_order():
    clip = next(c for c in generate_clips(50, seed=1) if len(c.events) == 2)
    back = clip.reversed()
    assert np.array_equal(back.frames, clip.frames[::-1])
    assert [e.verb for e in back.events] == [REVERSE[e.verb] for e in clip.events[::-1]]
    assert back.reversed().caption == clip.caption
    assert back.events[0].start == FRAMES - 1 - clip.events[1].end


# -- temporal pointing -----------------------------------------------------------------------------


def _hyp(tokens: list[str], peaks: list[int], steps: int = 12) -> Hypothesis:
    att = np.full((len(tokens), steps), 0.01, dtype=np.float32)
    att[np.arange(len(tokens)), peaks] = 1.0
    att /= att.sum(1, keepdims=True)
    n = len(tokens)
    return Hypothesis(tokens, [0] * n, 0.0, 0.0, [1.0] * n, [[]] * n, att)


def test_pointing_scores_each_event_word_against_its_event_steps():
    clip = next(c for c in generate_clips(50, seed=2) if len(c.events) == 1)
    words = clip.caption.split()
    inside, outside = min(clip.event_steps()[0]), (max(clip.event_steps()[0]) + 3) % 12
    right = temporal_pointing([clip], [_hyp(words, [inside] * len(words))])
    wrong = temporal_pointing([clip], [_hyp(words, [outside] * len(words))])
    assert right.rate("verb") == right.rate("object") == 1.0
    assert wrong.rate("verb") == 0.0
    assert right.rate("verb", " uniform") == pytest.approx(len(clip.event_steps()[0]) / 12)
    assert events_right([clip], [clip.caption]) == 1.0
    assert forward_verbs_given([clip.reversed()], [clip.caption]) == 1.0


# -- the reader ------------------------------------------------------------------------------------


def test_the_reader_keeps_evenly_spread_frames_with_their_times(tmp_path):
    clip = generate_clip(5, 0)
    path = write_clip(clip.frames, tmp_path / "c.mp4", fps=12, scale=2)
    loaded = read_clip(path, 12)
    assert loaded.frame_count == FRAMES and loaded.size == (96, 96) and loaded.fps == 12
    assert loaded.frames.shape == (12, 96, 96, 3)
    assert np.all(np.diff(loaded.times) > 0)
    assert loaded.times[0] == pytest.approx(sample_indices(FRAMES, 12)[0] / 12)
    # the kept frames are the clip's frames (up to compression)
    wanted = clip.frames[sample_indices(FRAMES, 12)]
    assert np.abs(model_frames(loaded.frames, 48).astype(int) - wanted).mean() < 4


def test_every_bad_video_gives_one_clear_line(tmp_path):
    good = write_clip(generate_clip(5, 1).frames, tmp_path / "good.mp4", scale=2).read_bytes()
    (tmp_path / "trunc.mp4").write_bytes(good[: len(good) * 2 // 3])
    (tmp_path / "text.mp4").write_text("not a video at all")
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "folder.mp4").mkdir()
    short = write_clip(generate_clip(5, 1).frames[:5], tmp_path / "short.mp4")
    cases = {
        tmp_path / "missing.mp4": "no such file", tmp_path / "folder.mp4": "is a folder",
        tmp_path / "empty.mp4": "empty file", tmp_path / "text.mp4": "cannot read it as a video",
        tmp_path / "trunc.mp4": "truncated", short: "the model needs at least 12",
        sample_dir() / "shapes-1.png": "still image",
    }
    for path, message in cases.items():
        with pytest.raises(MediaError, match=message) as e:
            read_clip(path, 12)
        assert "\n" not in str(e.value) and str(path.name) in str(e.value)


# -- the model -------------------------------------------------------------------------------------


def _frames(clips):
    return clip_tensor(np.stack([c.steps() for c in clips]))


@pytest.mark.parametrize("score", ["additive", "dot", "general", "location"])
def test_greedy_and_beam_give_one_weight_per_step_summing_to_one(score):
    model = tiny_video_captioner(score=score)
    frames = _frames(generate_clips(3, seed=4))
    with torch.inference_mode():
        for settings in (DecodeSettings("greedy"), DecodeSettings("beam", beam=3)):
            for hyps in run(decode(model, model.init_state(frames), settings, stream=False)):
                assert hyps[0].attention.shape == (len(hyps[0].tokens), 12)
                assert np.allclose(hyps[0].attention.sum(1), 1, atol=1e-5)


def test_beam_of_one_is_greedy_and_a_checkpoint_round_trips(tmp_path):
    model = tiny_video_captioner(seed=3)
    frames = _frames(generate_clips(2, seed=6))
    path = tmp_path / "v.safetensors"
    save_checkpoint(model, path)
    loaded = load_checkpoint(path)
    with torch.inference_mode():
        greedy = run(decode(model, model.init_state(frames), DecodeSettings("greedy"), stream=False))
        beam = run(decode(loaded, loaded.init_state(frames), DecodeSettings("beam", beam=1), stream=False))
    for g, b in zip(greedy, beam):
        assert g[0].tokens == b[0].tokens and np.allclose(g[0].attention, b[0].attention, atol=1e-5)
    with pytest.raises(CheckpointError, match="captions videos"):
        registry.load(str(path), "cpu", kind="translate")
    model.config.hidden_dim = 32
    save_checkpoint(model, tmp_path / "bad.safetensors")
    with pytest.raises(CheckpointError, match="do not match"):
        load_checkpoint(tmp_path / "bad.safetensors")


# -- the bundled model -------------------------------------------------------------------------------


def test_bundled_video_captioner_names_events_and_looks_at_them():
    from attnviewer.evaluation.video_captioner import score_video_captioner

    model = registry.load("video-shapes", "cpu", kind="video")
    scores = score_video_captioner(model, generate_clips(120, seed=777))
    assert scores["events right"] > 0.9 and scores["reversed: events right"] > 0.9
    assert scores["verb pointing"] > scores["uniform"] + 0.45
    assert scores["verb pointing, event named right"] > 0.9 > 0.5 > scores["uniform"]
    assert scores["reversed: forward verb given"] < 0.05


# -- the commands and figures ------------------------------------------------------------------------


def _svg(path):
    return ET.parse(path).getroot()


def test_video_command_writes_a_result_that_reopens_and_figures_with_a_panel_per_frame(tmp_path, capsys):
    out = tmp_path / "v.json"
    rc = main(["video", str(CLIP), "--json", str(out), "--figure", str(tmp_path / "strip.svg"),
               "--top-frames", str(tmp_path / "top.svg"), "--device", "cpu"])
    assert rc == 0
    assert "looked at:" in capsys.readouterr().out
    result = load_result(out)
    assert result.kind == "video" and len(result.frame_times) == 12
    assert "moves right" in result.text  # the sample's yellow triangle moves right
    assert np.array_equal(load_result(tmp_path / "v.npz").best.attention, result.best.attention)
    strip = _svg(tmp_path / "strip.svg")
    assert len(list(strip.iter(f"{SVG}image"))) == 12  # the frames; the curves are vector paths
    texts = ["".join(t.itertext()) for t in strip.iter(f"{SVG}text")]
    assert all(any(t.startswith(w + " (") for t in texts) for w in result.best.tokens)
    # each word's peak marker sits over the frame its attention peaks on
    frames = sorted((float(i.get("x")), float(i.get("width"))) for i in strip.iter(f"{SVG}image"))
    markers = [float(u.get("x")) for u in strip.iter(f"{SVG}use") if "stroke" in (u.get("style") or "")]
    assert len(markers) == len(result.best.tokens)
    for x, att in zip(markers, result.best.attention):
        left, width = frames[int(att.argmax())]
        assert left <= x <= left + width
    top = _svg(tmp_path / "top.svg")
    assert len(list(top.iter(f"{SVG}image"))) == 3 * len(result.best.tokens)

    # the word "right" looked mostly at the frames of the movement
    clip = read_clip(CLIP, 12)
    j = result.best.tokens.index("right")
    moving = np.abs(np.diff(model_frames(clip.frames, 48).astype(int), axis=0)).sum(axis=(1, 2, 3))
    peak = int(result.best.attention[j].argmax())
    assert moving[max(0, peak - 1) : peak + 1].max() > 0

    for suffix in ("png", "pdf"):
        assert main(["export", str(out), "--figure", str(tmp_path / f"again.{suffix}"),
                     "--top-frames", str(tmp_path / f"top-again.{suffix}")]) == 0
    assert (tmp_path / "again.pdf").read_bytes().startswith(b"%PDF")
    with Image.open(tmp_path / "again.png") as png:
        assert png.size[0] > 600


@pytest.mark.parametrize("argv,message", [
    (["video", "{image}"], "still image"),
    (["video", "{clip}", "--model", "caption-shapes"], "captions images"),
    (["caption", "{image}", "--model", "video-shapes"], "captions videos"),
    (["video", "{missing}"], "no such file"),
    (["caption", "{clip}"], "is a video, not an image"),
    (["video", "{still}"], "give it an image's suffix (.png, .jpg) to caption it as an image"),  # a PNG named .mp4
])
def test_bad_video_input_gives_one_line(argv, message, capsys, tmp_path):
    (tmp_path / "still.mp4").write_bytes((sample_dir() / "shapes-1.png").read_bytes())
    argv = [a.format(image=sample_dir() / "shapes-1.png", clip=CLIP, missing=tmp_path / "none.mp4",
                     still=tmp_path / "still.mp4") for a in argv]
    assert main(argv + ["--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_video_animation_has_one_frame_per_word_showing_its_most_attended_frame(tmp_path, capsys):
    from attnviewer.export.video_animation import video_frames

    out = tmp_path / "v.json"
    assert main(["video", str(CLIP), "--json", str(out), "--animation", str(tmp_path / "v.gif"),
                 "--device", "cpu"]) == 0
    result = load_result(out)
    with Image.open(tmp_path / "v.gif") as gif:
        assert gif.n_frames == len(result.best.tokens)
    assert main(["export", str(out), "--animation", str(tmp_path / "again.gif")]) == 0
    # frames of one flat colour each: the picture of word j is mostly the colour of its best frame
    flat = np.zeros((12, 24, 32, 3), np.uint8)
    flat[:, :, :, 0] = np.arange(12)[:, None, None] * 20
    flat[:, :, :, 2] = 200
    for j, picture in enumerate(video_frames(flat, result.best, size=480)):
        colours, counts = np.unique(picture.reshape(-1, 3), axis=0, return_counts=True)
        shown = colours[np.argmax(np.where(colours.sum(1) < 700, counts, 0))]  # most common, not white
        assert shown[0] == 20 * int(result.best.attention[j].argmax())
    capsys.readouterr()
    assert main(["export", str(out), "--overlay", str(tmp_path / "o.png"), "--word", "1"]) == 2
    assert "--overlay cannot be drawn" in capsys.readouterr().err


def test_train_and_eval_video_commands(tmp_path, capsys):
    out = tmp_path / "v.safetensors"
    assert main(["train", "video", "--out", str(out), "--train-size", "64", "--val-size", "8", "--epochs", "1",
                 "--score", "dot", "--device", "cpu"]) == 0
    model = load_checkpoint(out)
    assert model.kind == "video" and model.config.score == "dot"
    assert "verb pointing" in model.training_record["kept"]
    capsys.readouterr()
    assert main(["eval", "video", "--model", str(out), "--n", "10", "--device", "cpu"]) == 0
    assert "verb pointing, event named right" in capsys.readouterr().out
    assert main(["train", "video", "--out", str(tmp_path / "x.pt")]) == 2
    assert "name it so" in capsys.readouterr().err


def test_a_wide_video_is_read_whole_and_drawn_at_its_own_aspect(tmp_path):
    from attnviewer.export.animation import mp4_encoder

    clip = generate_clip(9, 3)
    wide = np.concatenate([clip.frames, clip.frames[:, :, :24]], axis=2)  # 48 x 72 pixels
    path = write_clip(wide, tmp_path / "wide.mp4", scale=2)
    out = tmp_path / "w.json"
    outputs = ["--figure", str(tmp_path / "s.png"), "--top-frames", str(tmp_path / "t.png")]
    if mp4_encoder() is not None:
        outputs += ["--animation", str(tmp_path / "a.mp4")]
    assert main(["video", str(path), "--json", str(out), *outputs, "--device", "cpu"]) == 0
    assert load_result(out).image_size == (96, 144)
    assert read_clip(path, 12).frames.shape[1:3] == (96, 144)
    if mp4_encoder() is not None:
        import av

        with av.open(str(tmp_path / "a.mp4")) as box:
            stream = box.streams.video[0]
            assert stream.codec_context.width % 2 == 0 and stream.frames > 0


def test_jumping_to_keyframes_keeps_the_same_frames_as_decoding_everything(tmp_path):
    import av

    from attnviewer.media.frames import _seeking, _sequential, index_packets

    frames = np.concatenate([generate_clip(8, i).frames for i in range(12)])  # 288 frames
    path = write_clip(frames, tmp_path / "long.mp4")
    wanted = sample_indices(len(frames), 12)
    packets = index_packets(path)
    with av.open(str(path)) as box:
        jumped = [f.to_ndarray(format="rgb24") for f in _seeking(box, box.streams.video[0], packets, wanted)]
    with av.open(str(path)) as box:
        straight = [f.to_ndarray(format="rgb24") for f in _sequential(box, box.streams.video[0], wanted)]
    assert len(jumped) == len(straight) == 12
    assert all(np.array_equal(a, b) for a, b in zip(jumped, straight))
    assert np.abs(np.stack(straight).astype(int) - frames[wanted]).mean() < 4


def test_export_of_a_video_result_whose_clip_is_gone_says_so(tmp_path, capsys):
    import shutil

    clip = tmp_path / "clip.mp4"
    shutil.copy(CLIP, clip)
    assert main(["video", str(clip), "--json", str(tmp_path / "out" / "v.json"), "--device", "cpu"]) == 2
    (tmp_path / "out").mkdir()
    assert main(["video", str(clip), "--json", str(tmp_path / "out" / "v.json"), "--device", "cpu"]) == 0
    clip.unlink()
    capsys.readouterr()
    assert main(["export", str(tmp_path / "out" / "v.json"), "--figure", str(tmp_path / "s.png")]) == 2
    assert "the video of this result is gone" in capsys.readouterr().err


def test_a_bad_video_or_setting_is_refused_before_the_model_loads(tmp_path, capsys, monkeypatch):
    def no_loading(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(registry, "load", no_loading)
    (tmp_path / "bad.mp4").write_text("not a video")
    assert main(["video", str(tmp_path / "bad.mp4"), "--device", "cpu"]) == 2
    assert "cannot read it as a video" in capsys.readouterr().err
    assert main(["video", str(CLIP), "--top-frames", str(tmp_path / "t.png"), "--top-k-frames", "13"]) == 2
    assert "--top-k-frames must be 1 to 12" in capsys.readouterr().err
