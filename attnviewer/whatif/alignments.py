"""Word alignments read from a translator's attention, in Pharaoh format (what AER tools and
fast_align read and write: `i-j` pairs, source word i to target word j, counted from 0), and the
alignment error rate against a gold file (the tally of evaluation/text.py)."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import DataError, MediaError
from ..evaluation.text import AlignmentTally, argmax_links

MAX_GOLD_BYTES = 10 * 1024 * 1024
_LINK = re.compile(r"^(\d+)([-?p])(\d+)$")


def attention_links(attention) -> set[tuple[int, int]]:
    """(source, target) links: each target word to the source word its step attended most."""
    att = np.asarray(attention)
    if att.size == 0:
        return set()
    return {(s, t) for t, s in argmax_links(att.reshape(len(att), -1))}


def pharaoh(links) -> str:
    """One line of `i-j` pairs, in order of the target word, then the source word."""
    return " ".join(f"{s}-{t}" for s, t in sorted(links, key=lambda link: (link[1], link[0])))


def parse_pharaoh(line: str, where: str) -> tuple[set, set]:
    """(sure, possible) links of a gold line: `i-j` sure, `i?j` or `ipj` possible (the sure ones
    are possible too). DataError naming the bad pair."""
    sure, possible = set(), set()
    for pair in line.split():
        m = _LINK.match(pair)
        if m is None:
            raise DataError(f"{where}: {pair[:40]!r} is no alignment pair (i-j sure, i?j possible)")
        link = (int(m.group(1)), int(m.group(3)))
        (sure if m.group(2) == "-" else possible).add(link)
    return sure, possible | sure


def read_pharaoh(path: str | Path) -> list[tuple[set, set]]:
    """Each line of a gold file (an empty line: a sentence without links)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_GOLD_BYTES + 1)
    except FileNotFoundError:
        raise MediaError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise MediaError(f"{path}: is a folder, not an alignment file") from None
    except OSError as e:
        raise MediaError(f"{path}: cannot open ({e.strerror})") from None
    if len(raw) > MAX_GOLD_BYTES:
        raise MediaError(f"{path}: too large for an alignment file (over {MAX_GOLD_BYTES // 2**20} MB)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise MediaError(f"{path}: not UTF-8 text") from None
    lines = text.splitlines()
    return [parse_pharaoh(line, f"{path} line {i}") for i, line in enumerate(lines, 1)]


def check_range(links: set, n_source: int, n_target: int, where: str) -> None:
    """DataError for a gold link past the sentence's words (a file for other sentences)."""
    for s, t in sorted(links):
        if s >= n_source or t >= n_target:
            raise DataError(f"{where}: link {s}-{t} is past the sentence ({n_source} source words, "
                            f"{n_target} target words)")


def alignment_error(found: list[set], gold: list[tuple[set, set]]) -> float:
    """AER over a corpus: 1 - (|A&S| + |A&P|) / (|A| + |S|), summed over its sentences."""
    tally = AlignmentTally()
    for links, (sure, possible) in zip(found, gold):
        tally.a += len(links)
        tally.s += len(sure)
        tally.a_and_s += len(links & sure)
        tally.a_and_p += len(links & possible)
    return tally.aer
