"""Sentences in: read, checked and split into the words a translator reads."""
from __future__ import annotations

import re
from pathlib import Path

from ..errors import MediaError

# Words (letters, digits, apostrophes and inner hyphens), or a single other non-space character:
# "The dog's toy, too." -> the dog's toy , too .
_TOKEN = re.compile(r"[\w'’]+(?:-[\w'’]+)*|[^\w\s]", re.UNICODE)


def tokenize(text: str) -> list[str]:
    """Lower-cased words and punctuation marks, in order."""
    return _TOKEN.findall(text.lower())


def source_words(text: str, max_words: int | None = None, where: str = "text") -> list[str]:
    """The words of one sentence to translate; MediaError for empty or over-long text."""
    words = tokenize(text)
    if not words:
        raise MediaError(f"{where}: empty text, nothing to translate")
    if max_words is not None and len(words) > max_words:
        raise MediaError(f"{where}: {len(words)} words; this model reads at most {max_words}")
    return words


def read_sentences(path: str | Path) -> list[str]:
    """The non-empty lines of a UTF-8 text file, one sentence each."""
    path = Path(path)
    if path.is_dir():
        raise MediaError(f"{path}: is a folder, not a text file")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise MediaError(f"{path}: no such file") from None
    except OSError as e:
        raise MediaError(f"{path}: cannot open ({e.strerror})") from None
    if b"\0" in raw[:4096]:
        raise MediaError(f"{path}: not a text file (it holds binary data)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise MediaError(f"{path}: not UTF-8 text") from None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise MediaError(f"{path}: empty file, nothing to translate")
    return lines
