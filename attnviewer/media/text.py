"""Sentences in: read, checked and split into the words a translator reads."""
from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import MediaError, printable
from ..files import open_regular, regular_file

# Words (letters, digits, apostrophes and inner hyphens), or a single other non-space character:
# "The dog's toy, too." -> the dog's toy , too .
MAX_FILE_BYTES = 10 * 1024 * 1024  # a text file to translate: read no further than this

_TOKEN = re.compile(r"[\w'’]+(?:-[\w'’]+)*|[^\w\s]", re.UNICODE)


def tokenize(text: str) -> list[str]:
    """Lower-cased words and punctuation marks, in order."""
    return _TOKEN.findall(text.lower())


# control characters but tab and newline (escape codes, NUL): no sentence holds them, and no result
# file may (export/result_schema.py refuses them in a translation's source)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def source_words(text: str, max_words: int | None = None, where: str = "text", split=tokenize) -> list[str]:
    """The words of one sentence to translate (split by `split`, the model's tokenizer); MediaError
    for empty or over-long text, or text holding control characters."""
    control = _CONTROL.search(text)
    if control:
        raise MediaError(f"{where}: holds a control character ({control.group()!r}); only plain text is translated")
    words = split(text)
    if not words:
        raise MediaError(f"{where}: empty text, nothing to translate")
    if max_words is not None and len(words) > max_words:
        raise MediaError(f"{where}: {len(words)} words; this model reads at most {max_words}")
    return words


def check_argument(text: str, where: str = "sentence") -> str:
    """A sentence typed on the command line: MediaError if it holds bytes that are not UTF-8 (Python
    keeps them as surrogates, which no result file can store)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise MediaError(f"{where}: not valid UTF-8 text (it holds bytes of another encoding)") from None
    return text


def read_sentences(path: str | Path, limit: int = MAX_FILE_BYTES) -> list[str]:
    """The non-empty lines of a UTF-8 text file, one sentence each; MediaError for a file past
    `limit` bytes (read no further: /dev/zero or a huge file never fills the memory)."""
    return [line for _, line in numbered_lines(path, limit) if line]


def numbered_lines(path: str | Path, limit: int = MAX_FILE_BYTES) -> list[tuple[int, str]]:
    """(line number from 1, stripped text) of every line up to the last non-empty one, blank
    lines included (translate --file names outputs and resumes by line number); checked as
    read_sentences says."""
    path = Path(path)
    if path.is_dir():
        raise MediaError(f"{printable(path)}: is a folder, not a text file")
    if not os.path.lexists(path):
        raise MediaError(f"{printable(path)}: no such file")
    regular_file(path, MediaError)  # a FIFO or a device would block or never end
    try:
        with open_regular(path) as f:
            raw = f.read(limit + 1)
    except OSError as e:
        raise MediaError(f"{printable(path)}: cannot open ({e.strerror})") from None
    if len(raw) > limit:
        raise MediaError(f"{path}: too large for a text to translate (over {limit // (1024 * 1024)} MB)")
    if b"\0" in raw[:4096]:
        raise MediaError(f"{path}: not a text file (it holds binary data)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise MediaError(f"{path}: not UTF-8 text") from None
    lines = [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1)]
    while lines and not lines[-1][1]:
        lines.pop()
    if not lines:
        raise MediaError(f"{path}: empty file, nothing to translate")
    return lines
