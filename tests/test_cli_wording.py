"""What the CLI and the README say about the files it reads agrees with what the readers accept."""
import re
from pathlib import Path

import pytest

from attnviewer.cli import main
from attnviewer.kinds.video import VIDEO_SUFFIXES

README = Path(__file__).resolve().parents[1] / "README.md"


def _named(text: str) -> set[str]:
    return {"." + w.lower() for w in re.findall(r"\b[A-Z][A-Za-z0-9]{2,4}\b", text)}


def test_readme_lists_every_video_format_the_reader_opens():
    line = next(line for line in README.read_text().splitlines() if line.startswith("* **Videos** ("))
    assert _named(line.split("(", 1)[1].split(")", 1)[0]) == set(VIDEO_SUFFIXES)


def test_video_help_lists_every_video_format_the_reader_opens(capsys):
    with pytest.raises(SystemExit):
        main(["video", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    listed = re.search(r"a video file \(([^)]*)\)", text).group(1)
    assert _named(listed) == set(VIDEO_SUFFIXES)
