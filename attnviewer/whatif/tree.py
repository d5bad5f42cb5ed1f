"""The beam tree: every candidate a beam search weighed, with its score, its parent, and what
became of it (went on, finished, cut at the maximum length, or pruned), recorded through the
search's `tree` hook (decoding/search.py calls it once per step only when a tree is asked for:
the normal path pays one `if`), and drawn as an SVG.

A node is one candidate word after a live hypothesis: the top 2k of each step per input, as the
search ranks them (the rest of the vocabulary never came close). Its score is the hypothesis'
summed log probability; a finished node's `final` is the length-normalised score the search
ranks finished hypotheses by.
"""
from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import numpy as np

KEPT, FINISHED, CUT, PRUNED = "kept", "finished", "cut", "pruned"


def escape(text: str) -> str:
    """&, < and > for the SVG's text (html's escape: xml.sax's imports urllib, 60 ms of the
    window's start-up)."""
    return html.escape(text, quote=False)


@dataclass
class Node:
    id: int
    item: int  # which input of the batch
    step: int  # from 0
    word: str
    word_id: int
    score: float  # summed log probability of the hypothesis up to and with this word
    parent: int  # node id; -1: the start
    state: str = PRUNED
    final: float | None = None  # finished and cut nodes: the score the search ranks them by


class BeamTree:
    """The recorder the search calls (expand, cut); then nodes, paths and the drawing."""

    def __init__(self, vocab: list[str], length_penalty: float = 1.0):
        self.vocab, self.length_penalty = vocab, length_penalty
        self.nodes: list[Node] = []
        self.slots: dict[int, list[int | None]] = {}  # input -> the node each beam slot continues
        self.first_item = 0  # set by pipeline.run_all for each batch of inputs

    def __getstate__(self):
        """Sent to the window without the vocabulary: each node has its word already, and a
        50,000-word vocabulary was 0.43 MB to unpickle on the GUI thread (7 ms) with every search."""
        return {**self.__dict__, "vocab": None}

    @classmethod
    def for_model(cls, model, settings) -> "BeamTree":
        """A recorder ranking finished nodes as the search will: the settings' length penalty, or
        (unset) the model's own."""
        penalty = getattr(settings, "length_penalty", None)
        return cls(model.vocab, penalty if penalty is not None else getattr(model, "length_penalty", 1.0))

    # -- the search's hook --------------------------------------------------------------------

    def expand(self, t, items, k, top_s, beam_i, tok_i, live, ending, keep, alive=None) -> None:
        """Step t's candidates (numpy arrays by open input row r and candidate c): their summed
        scores, beam slots and words; which count and which end; the candidate each slot keeps
        (`alive`: which kept slots are real, for the shrinking search)."""
        for r, b in enumerate(items):
            item = b + self.first_item
            before = self.slots.get(item)
            ids = {}
            for c in range(top_s.shape[1]):
                if not np.isfinite(top_s[r, c]):
                    continue
                parent = before[beam_i[r, c]] if before is not None else -1
                if parent is None:
                    continue
                node = Node(len(self.nodes), item, t, self.vocab[tok_i[r, c]], int(tok_i[r, c]), float(top_s[r, c]),
                            parent)
                if ending[r, c]:
                    node.state, node.final = FINISHED, self._final(node.score, t, True)
                ids[c] = node.id
                self.nodes.append(node)
            slots: list[int | None] = []
            for j, c in enumerate(keep[r]):
                node_id = ids.get(int(c))
                if node_id is None or (alive is not None and not alive[r, j]) or self.nodes[node_id].state == FINISHED:
                    slots.append(None)
                    continue
                self.nodes[node_id].state = KEPT
                slots.append(node_id)
            self.slots[item] = slots

    def cut(self, item: int, slots: list[int]) -> None:
        """These live slots of an input end at the maximum length (kept as unended hypotheses)."""
        for j in slots:
            node_id = self.slots.get(item + self.first_item, [None] * (j + 1))[j]
            if node_id is not None:
                node = self.nodes[node_id]
                node.state, node.final = CUT, self._final(node.score, node.step, False)

    def _final(self, score: float, step: int, ended: bool) -> float:
        words = step + (0 if ended else 1)  # an ending node's word is the end itself
        return score / max(1, words + ended) ** self.length_penalty

    # -- reading it ---------------------------------------------------------------------------

    def of(self, item: int = 0) -> list[Node]:
        return [n for n in self.nodes if n.item == item]

    def path(self, node: Node) -> list[Node]:
        out = []
        while node is not None:
            out.append(node)
            node = self.nodes[node.parent] if node.parent >= 0 else None
        return out[::-1]

    def words(self, node: Node) -> list[str]:
        """The hypothesis' words (an ending node's end word left out, as a Hypothesis does)."""
        nodes = self.path(node)
        return [n.word for n in (nodes[:-1] if node.state == FINISHED else nodes)]

    def finished(self, item: int = 0) -> list[Node]:
        """The finished and cut nodes, best first: the hypotheses the search could return."""
        done = [n for n in self.of(item) if n.state in (FINISHED, CUT)]
        return sorted(done, key=lambda n: n.final, reverse=True)

    def leaves(self, item: int = 0) -> list[Node]:
        parents = {n.parent for n in self.of(item)}
        return [n for n in self.of(item) if n.id not in parents]


# -- drawing ---------------------------------------------------------------------------------

COLUMN, ROW, BOX_W, BOX_H = 120, 24, 104, 18
STYLE = {KEPT: ("#ffffff", "#333333", "#000000"), FINISHED: ("#d9f2d9", "#1a7f1a", "#000000"),
         CUT: ("#fff0d0", "#b36b00", "#000000"), PRUNED: ("#f2f2f2", "#bbbbbb", "#999999")}
START = ("#e8eefc", "#1f5fbf", "#000000")  # the start's fill, stroke and ink
BEST_INK = "#1f5fbf"


def node_label(n: Node) -> str:
    """What a node's box says: its word and its score (a finished node's: the one it is ranked by)."""
    score = n.final if n.final is not None else n.score
    return f"{n.word}  {round(score, 2) + 0.0:.2f}"[:22]  # (+ 0.0: a score that rounds to 0 is not "-0.00")


def node_tip(n: Node) -> str:
    return f"step {n.step + 1}: {n.word} ({n.state}; log prob {n.score:.3f}" + (
        f", ranked by {n.final:.3f})" if n.final is not None else ")")


def edge_style(n: Node, on_best: bool) -> tuple[str, float]:
    """The colour and width of the edge into a node: the best path thick, pruned candidates faint."""
    if on_best:
        return BEST_INK, 2.5
    return ("#cccccc" if n.state == PRUNED else "#777777"), 1


def rows_of(tree: BeamTree, item: int = 0) -> tuple[dict[int, float], float, int]:
    """Where each node of an input's tree is drawn: (node id -> row, the start's row, rows in all).
    Each leaf gets a row of its own (children best first), a parent the middle of its children's;
    a node's column is its step."""
    children: dict[int, list[Node]] = {}
    for n in tree.of(item):
        children.setdefault(n.parent, []).append(n)
    y: dict[int, float] = {}
    row = [0]

    def place(parent: int) -> float:
        ys = []
        for child in sorted(children.get(parent, []), key=lambda n: -n.score):
            ys.append(place(child.id))
            y[child.id] = ys[-1]
        if not ys:
            row[0] += 1
            return row[0] - 1
        return (ys[0] + ys[-1]) / 2

    root_y = place(-1)
    return y, root_y, row[0]


def best_path(tree: BeamTree, item: int, best: list[str] | None) -> set[int]:
    """The node ids of the finished hypothesis whose words are `best` (empty: none)."""
    if best is not None:
        for n in tree.finished(item):
            if tree.words(n) == best:
                return {p.id for p in tree.path(n)}
    return set()


def svg(tree: BeamTree, item: int = 0, best: list[str] | None = None, title: str = "") -> str:
    """The tree of one input as an SVG: a column per step, the start on the left; nodes labelled
    with their word and score; finished green (with the ranking score), cut at the maximum length
    orange, pruned grey; `best`'s path drawn thick."""
    nodes = tree.of(item)
    y, root_y, rows = rows_of(tree, item)
    best_ids = best_path(tree, item, best)
    steps = max((n.step for n in nodes), default=0) + 2
    width, height = 20 + steps * COLUMN, 40 + max(rows, 1) * ROW

    def at(node_id: int) -> tuple[float, float]:
        if node_id < 0:
            return 10, 30 + root_y * ROW
        n = tree.nodes[node_id]
        return 10 + (n.step + 1) * COLUMN, 30 + y[node_id] * ROW

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
           f'<text x="10" y="16" font-size="12">{escape(title)}</text>']
    for n in nodes:  # edges first, under the boxes
        (x0, y0), (x1, y1) = at(n.parent), at(n.id)
        colour, width = edge_style(n, n.id in best_ids)
        out.append(f'<path d="M{x0 + BOX_W:.1f},{y0:.1f} C{x1 - 8:.1f},{y0:.1f} {x0 + BOX_W + 8:.1f},{y1:.1f} '
                   f'{x1:.1f},{y1:.1f}" fill="none" stroke="{colour}" stroke-width="{width}"/>')
    x, y0 = at(-1)
    out.append(f'<g class="node start"><rect x="{x}" y="{y0 - BOX_H / 2:.1f}" width="{BOX_W}" height="{BOX_H}" rx="4" '
               f'fill="{START[0]}" stroke="{START[1]}"/><text x="{x + 5}" y="{y0 + 4:.1f}">&lt;start&gt;</text></g>')
    for n in nodes:
        x, yy = at(n.id)
        fill, stroke, ink = STYLE[n.state]
        dash = ' stroke-dasharray="3,2"' if n.state == CUT else ""
        out.append(f'<g class="node {n.state}" data-step="{n.step + 1}"><title>{escape(node_tip(n))}</title>'
                   f'<rect x="{x}" y="{yy - BOX_H / 2:.1f}" width="{BOX_W}" height="{BOX_H}" rx="4" fill="{fill}" '
                   f'stroke="{stroke}" stroke-width="{2 if n.state in (FINISHED, CUT) else 1}"{dash}/>'
                   f'<text x="{x + 5}" y="{yy + 4:.1f}" fill="{ink}">{escape(node_label(n))}</text></g>')
    out.append("</svg>")
    return "\n".join(out)


def write_svg(tree: BeamTree, path: str | Path, item: int = 0, best: list[str] | None = None, title: str = "") -> None:
    Path(path).write_text(svg(tree, item, best, title), encoding="utf-8")
