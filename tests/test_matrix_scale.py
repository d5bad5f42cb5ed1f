"""The alignment matrix's colour options: --scale max draws each row (one word's map) to its own
peak, as the window's tiles draw each word, and says so on the colour bar; --opacity, which has no
overlay to fade there, is said to be ignored instead of silently changing nothing."""
import base64
import io
import xml.etree.ElementTree as ET

import matplotlib
import numpy as np
import pytest
from PIL import Image

from attnviewer.cli import main
from attnviewer.export.alignment_figure import alignment_matrix
from attnviewer.export.data import load_result
from attnviewer.kinds import TEXT

SVG, XLINK = "{http://www.w3.org/2000/svg}", "{http://www.w3.org/1999/xlink}"


@pytest.fixture(scope="module")
def translation(tmp_path_factory):
    path = tmp_path_factory.mktemp("matrix") / "t.json"
    assert main(["translate", "the red cat sees a dog", "--json", str(path)]) == 0
    return path


def drawn_cells(svg_path, rows: int, cols: int) -> np.ndarray:
    """The colour at the centre of each cell of the matrix's picture in the SVG (the largest image; the
    other is the colour bar's)."""
    images = [i for i in ET.parse(svg_path).getroot().iter(f"{SVG}image")]
    href = max(images, key=lambda i: float(i.get("width")) * float(i.get("height")))
    href = href.get(f"{XLINK}href") or href.get("href")
    picture = np.asarray(Image.open(io.BytesIO(base64.b64decode(href.split(",", 1)[1]))).convert("RGB"))
    picture = picture[::-1]  # matplotlib stores it bottom row first (the <image> is flipped back)
    h, w = picture.shape[:2]
    return np.array([[picture[int((j + 0.5) * h / rows), int((i + 0.5) * w / cols)] for i in range(cols)]
                     for j in range(rows)], dtype=float)


def texts(svg_path) -> list[str]:
    return [" ".join("".join(t.itertext()).split()) for t in ET.parse(svg_path).getroot().iter(f"{SVG}text")]


def test_scale_max_draws_each_row_to_its_own_peak(translation, tmp_path, capsys):
    result = load_result(translation)
    m = alignment_matrix(result.best, result.source_tokens)
    assert m.max(axis=1).min() < 0.8  # a row that peaks well below the matrix's peak
    out = tmp_path / "m.svg"
    assert main(["export", str(translation), "--figure", str(out)]) == 0
    cells = drawn_cells(out, *m.shape)
    top = np.array(matplotlib.colormaps["jet"](1.0)[:3]) * 255
    for j, row in enumerate(m):
        assert np.abs(cells[j, int(row.argmax())] - top).max() < 12, (j, row.max(), cells[j, int(row.argmax())])
    assert "attention, each row to its own peak" in texts(out)
    fixed = tmp_path / "f.svg"
    assert main(["export", str(translation), "--figure", str(fixed), "--scale", "fixed"]) == 0
    assert "attention weight" in texts(fixed) and "attention, each row to its own peak" not in texts(fixed)
    low = int(m.max(axis=1).argmin())
    assert np.abs(drawn_cells(fixed, *m.shape)[low, int(m[low].argmax())] - top).max() > 40  # on the 0-1 scale


def test_opacity_for_the_matrix_is_said_to_be_ignored(translation, tmp_path, capsys):
    out = tmp_path / "o.png"
    assert main(["export", str(translation), "--figure", str(out), "--opacity", "0.1"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("attnviewer: note: --opacity 0.1 does not change the alignment matrix")
    assert main(["export", str(translation), "--figure", str(tmp_path / "d.png")]) == 0
    assert capsys.readouterr().err == ""
    assert "opacity" not in TEXT.outputs["figure"].uses  # the Export dialog greys it out for the matrix
    assert "opacity" in TEXT.outputs["animation"].uses  # the animation's word backgrounds fade with it
    with pytest.raises(SystemExit):
        main(["translate", "--help"])
    assert "alignment matrix has no overlay and ignores it" in " ".join(capsys.readouterr().out.split())
