"""A figure's title longer than its first panel (a transformer's lens, a what-if mark) is drawn
above the whole figure at the style's font size, wrapped onto more lines where even that is too
narrow, instead of shrunk into the first panel."""
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from attnviewer.cli import main
from attnviewer.export.figures import FigureStyle, caption_figure
from attnviewer.types import Hypothesis

SVG = "{http://www.w3.org/2000/svg}"
TITLE = "caption-shapes-vit, beam 3, layer 2 of 3, max of heads"


def sized_texts(path) -> list[tuple[str, float]]:
    """(text, font size) of every text of an SVG figure."""
    out = []
    for t in ET.parse(path).getroot().iter(f"{SVG}text"):
        size = re.search(r"font-size:\s*([\d.]+)px", t.get("style", ""))
        out.append(("".join(t.itertext()).strip(), float(size.group(1)) if size else 0.0))
    return out


def test_a_long_lens_title_is_drawn_whole_at_full_size(tmp_path, capsys):
    pytest.importorskip("transformers")
    result, figure = tmp_path / "vit.json", tmp_path / "layer2.svg"
    assert main(["caption", "resources/samples/shapes-1.png", "--model", "caption-shapes-vit", "--json",
                 str(result)]) == 0
    assert main(["export", str(result), "--lens", "2:max", "--figure", str(figure), "--font-size", "11"]) == 0
    texts = sized_texts(figure)
    assert (TITLE, 11.0) in texts and ("input", 11.0) in texts
    assert all(size == 11.0 for _, size in texts)  # nothing shrunk


def test_a_title_wider_than_the_figure_is_wrapped_not_shrunk(tmp_path):
    hyp = Hypothesis(tokens=["a", "cat"], token_ids=[1, 2], log_prob=-0.1, score=-0.1, probs=[0.9, 0.8],
                     alternatives=[[], []], attention=np.full((2, 4, 4), 1 / 16, dtype=np.float32))
    out = tmp_path / "one.svg"
    caption_figure(np.zeros((32, 32, 3), np.uint8), hyp, out, FigureStyle(columns=1, font_size=12), title=TITLE)
    lines = [(t, s) for t, s in sized_texts(out) if t not in ("input", "a (0.90)", "cat (0.80)")]
    assert len(lines) >= 2 and all(s == 12.0 for _, s in lines)
    assert " ".join(t for t, _ in lines) == TITLE
