"""A what-if or reversed run never passes for the model's own reading: every figure's title, the
interactive page and each animation frame say what was changed (forced word, attention set by
hand, a given sentence, the clip played backwards), also when the result is exported later."""
import json
import re
import xml.etree.ElementTree as ET

import numpy as np
from PIL import Image

from attnviewer.cli import main
from attnviewer.export.animation import NOTE_TEXT, animation_frames
from attnviewer.export.data import load_result
from attnviewer.export.figures import FigureStyle
from attnviewer.kinds import IMAGE, WriteOptions, titled
from attnviewer.media.images import load_image
from attnviewer.settings import DecodeSettings
from attnviewer.whatif.forcing import force, forced_ids

from .test_whatif_forcing import loaded

SVG = "{http://www.w3.org/2000/svg}"
SAMPLES = "resources/samples/"


def svg_texts(path) -> list[str]:
    return ["".join(t.itertext()).strip() for t in ET.parse(path).getroot().iter(f"{SVG}text")]


def page_data(path) -> dict:
    text = path.read_text(encoding="utf-8")
    return json.loads(re.search(r'id="data">(.*?)</script>', text, re.S).group(1).replace("<\\/", "</"))


def note_pixels(frame: np.ndarray, rows: int) -> int:
    """Pixels of the note's red in the frame's top `rows` (the caption is grey, its word yellow)."""
    top = frame[:rows].astype(int)
    r, g, b = top[..., 0], top[..., 1], top[..., 2]
    return int(((r > 140) & (g < 110) & (b < 100)).sum())


def first_frame(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def test_a_forced_word_is_in_the_title_of_the_figure_the_page_and_the_animation(tmp_path, capsys):
    out = {name: tmp_path / name for name in ("f.svg", "f.html", "f.gif", "plain.gif")}
    assert main(["caption", SAMPLES + "shapes-1.png", "--force", "3=triangle", "--figure", str(out["f.svg"]),
                 "--html", str(out["f.html"]), "--animation", str(out["f.gif"])]) == 0
    assert "caption-shapes, beam 3, word 3 forced to \u201ctriangle\u201d" in svg_texts(out["f.svg"])
    assert page_data(out["f.html"])["title"] == "caption-shapes, beam 3, word 3 forced to \u201ctriangle\u201d"
    assert main(["caption", SAMPLES + "shapes-1.png", "--animation", str(out["plain.gif"])]) == 0
    assert note_pixels(first_frame(out["f.gif"]), 40) > 30 and note_pixels(first_frame(out["plain.gif"]), 40) == 0


def test_attention_set_by_hand_is_in_the_title(tmp_path, capsys):
    figure = tmp_path / "a.svg"
    assert main(["caption", SAMPLES + "shapes-1.png", "--attend", "3=2,5", "--figure", str(figure)]) == 0
    assert "caption-shapes, beam 3, attention at word 3 set by hand" in svg_texts(figure)


def test_a_reversed_clip_says_so_when_exported_from_its_result(tmp_path, capsys):
    result = tmp_path / "v.json"
    assert main(["video", SAMPLES + "clip-1.mp4", "--reverse", "--json", str(result)]) == 0
    figure, page = tmp_path / "v.svg", tmp_path / "v.html"
    assert main(["export", str(result), "--figure", str(figure), "--html", str(page)]) == 0
    assert "video-shapes, beam 3, clip played backwards" in svg_texts(figure)
    data = page_data(page)
    assert data["title"] == "video-shapes, beam 3, clip played backwards"
    assert data["source"].endswith("clip-1.mp4 played backwards")


def test_a_forced_branch_written_as_the_window_does_carries_the_mark(tmp_path):
    """The window exports a what-if branch as its own Result, titled by titled(), through the kind:
    a forced Result, saved and reopened, is titled with what was forced."""
    kind, model, media = loaded("lstm-image")
    result = force(kind, model, media, DecodeSettings("greedy"), forced_ids(model, {3: "square"}))
    saved = tmp_path / "r.json"
    IMAGE.write("result", media, result, saved, None, WriteOptions())
    again = load_result(saved)
    figure = tmp_path / "r.svg"
    IMAGE.write("figure", load_image(SAMPLES + "shapes-1.png"), again, figure, FigureStyle(dpi=40),
                WriteOptions(title=titled(again)))
    assert any(t.endswith("word 3 forced to \u201csquare\u201d") for t in svg_texts(figure))


def test_the_note_is_a_line_above_every_frame(tmp_path):
    kind, model, media = loaded("lstm-image")
    result = force(kind, model, media, DecodeSettings("greedy"), forced_ids(model, {3: "square"}))
    image = load_image(SAMPLES + "shapes-1.png").rgb
    plain = list(animation_frames(image, result.best, size=240))
    noted = list(animation_frames(image, result.best, size=240, note="word 3 forced to \u201csquare\u201d"))
    assert len(noted) == len(plain) and all(n.shape[0] > p.shape[0] for n, p in zip(noted, plain))
    assert all(note_pixels(n, 20) > 10 for n in noted) and not any(note_pixels(p, 20) for p in plain)
    assert NOTE_TEXT[0] > 150


def test_the_single_word_figure_of_a_forced_word_says_it_was_forced(tmp_path, capsys):
    forced, plain = tmp_path / "w.svg", tmp_path / "plain.svg"
    assert main(["caption", SAMPLES + "shapes-1.png", "--force", "2=triangle", "--word", "2",
                 "--figure", str(forced)]) == 0
    assert main(["caption", SAMPLES + "shapes-1.png", "--word", "2", "--figure", str(plain)]) == 0
    assert any("word 2 forced to “triangle”" in t for t in svg_texts(forced))
    assert not any("forced" in t for t in svg_texts(plain))
