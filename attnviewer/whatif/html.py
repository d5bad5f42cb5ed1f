"""One self-contained interactive page of a result (issue 22): the input (an image or the sampled
frames as base64 PNG, or the source words as text), the words with their probabilities and step
scores, each word's attention map as data, and the hypotheses. Plain JavaScript draws the map of
the chosen word over the input; stepping through the words (buttons, arrow keys, a click on a
word) changes it. No server, no file beside it: it opens from a disk or a mail in any browser.

Everything from outside (file names, words, sentences) goes in as JSON and is shown as text,
never as markup."""
from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

from ..types import Result, marked, titled

FRAME_SIDE = 160  # the long side of each video frame on the page
IMAGE_SIDE = 768  # and of an image


def _png(rgb: np.ndarray, side: int) -> str:
    im = Image.fromarray(np.asarray(rgb, dtype=np.uint8))
    im.thumbnail((side, side))
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _input(media, result: Result) -> dict:
    """What the page shows the maps over: by what the input holds (an image's pixels, a clip's
    frames, a sentence's words)."""
    if getattr(media, "rgb", None) is not None:
        return {"type": "image", "image": _png(media.rgb, IMAGE_SIDE)}
    if getattr(media, "frames", None) is not None:
        times = result.frame_times or list(getattr(media, "times", []))
        return {"type": "frames", "frames": [_png(f, FRAME_SIDE) for f in media.frames],
                "times": [round(float(t), 3) for t in times]}
    return {"type": "words", "words": list(result.source_tokens or getattr(media, "words", []))}


def _hypothesis(h) -> dict:
    entropies = h.entropies or [None] * len(h.tokens)
    return {
        "text": h.shown, "score": round(float(h.score), 4), "ended": bool(h.ended),
        "words": [{"token": t, "prob": round(float(p), 4),
                   "entropy": None if e is None else round(float(e), 4), "attention_entropy": round(float(a), 4),
                   "alternatives": [[w, round(float(q), 4)] for w, q in alts],
                   "map": np.round(np.asarray(m, dtype=np.float64), 5).tolist()}
                  for t, p, e, a, alts, m in zip(h.tokens, h.probs, entropies, h.attention_entropies,
                                                 h.alternatives, h.attention)],
    }


def page(media, result: Result, title: str | None = None) -> str:
    source = f"{result.source} played backwards" if (result.settings or {}).get("reversed") else result.source
    data = {"title": marked(title or titled(result), result), "source": source, "input": _input(media, result),
            "hypotheses": [_hypothesis(h) for h in result.hypotheses]}
    blob = json.dumps(data, ensure_ascii=True).replace("</", "<\\/")  # no end of the script inside
    return _TEMPLATE.replace("__DATA__", blob)


def write_page(media, result: Result, path: str | Path, title: str | None = None) -> None:
    Path(path).write_text(page(media, result, title), encoding="utf-8")


_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>attnviewer</title>
<style>
body { font-family: sans-serif; margin: 16px; color: #222; }
h1 { font-size: 16px; font-weight: normal; margin: 0 0 4px; }
#source { color: #666; font-size: 12px; margin-bottom: 10px; }
#view { position: relative; display: inline-block; }
#words button, #hyps li { cursor: pointer; }
#words button { margin: 2px; padding: 3px 6px; border: 1px solid #bbb; background: #fff; border-radius: 4px; }
#words button.current { background: #1f5fbf; color: #fff; border-color: #1f5fbf; }
#words small { color: #888; margin-left: 2px; }
#words button.current small { color: #dde; }
#info { font-size: 13px; margin: 6px 0; min-height: 2.6em; }
#frames { display: flex; gap: 4px; flex-wrap: wrap; }
#frames figure { margin: 0; text-align: center; font-size: 11px; }
#frames img { display: block; border: 3px solid transparent; }
#frames .bar { height: 6px; background: #d62728; margin-top: 2px; }
#sentence span { display: inline-block; padding: 3px 5px; margin: 2px; border-radius: 3px; }
#hyps { font-size: 13px; padding-left: 20px; }
#hyps li.current { font-weight: bold; }
.controls { margin: 8px 0; }
</style></head>
<body>
<h1 id="title"></h1><div id="source"></div>
<div id="view"></div>
<div class="controls"><button id="prev" title="previous word (left arrow)">&#9664;</button>
<button id="next" title="next word (right arrow)">&#9654;</button></div>
<div id="words"></div>
<div id="info"></div>
<ol id="hyps"></ol>
<script type="application/json" id="data">__DATA__</script>
<script>
"use strict";
const data = JSON.parse(document.getElementById("data").textContent);
const state = { hyp: 0, word: 0 };
const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls; return e; };
document.getElementById("title").textContent = data.title;
document.getElementById("source").textContent = data.source;
const view = document.getElementById("view");
let canvas = null, picture = null;

function jet(v) {  // weight 0..1 -> [r, g, b]
  const c = (x) => Math.max(0, Math.min(1, 1.5 - Math.abs(4 * v - x)));
  return [255 * c(3), 255 * c(2), 255 * c(1)];
}

function setup() {
  const input = data.input;
  if (input.type === "image") {
    canvas = el("canvas"); canvas.id = "map"; view.appendChild(canvas);
    picture = new Image();
    picture.onload = () => { canvas.width = picture.width; canvas.height = picture.height;
      canvas.style.width = Math.max(picture.width, 384) + "px"; show(); };
    picture.src = input.image;
  } else if (input.type === "frames") {
    const strip = el("div"); strip.id = "frames";
    input.frames.forEach((src, i) => {
      const fig = el("figure"); const img = el("img"); img.src = src; img.alt = "frame " + (i + 1);
      fig.appendChild(img); fig.appendChild(el("div", "", "bar"));
      fig.appendChild(el("figcaption", input.times[i] !== undefined ? input.times[i].toFixed(2) + " s" : ""));
      strip.appendChild(fig);
    });
    view.appendChild(strip);
  } else {
    const sentence = el("div"); sentence.id = "sentence";
    input.words.forEach((w) => sentence.appendChild(el("span", w)));
    view.appendChild(sentence);
  }
}

function flat(map) { return Array.isArray(map[0]) ? map.flat(Infinity) : map; }

function drawMap(map) {
  const input = data.input, values = flat(map), peak = Math.max(...values, 1e-12);
  if (input.type === "image") {
    if (!picture || !picture.complete || !canvas.width) return;
    const rows = map.length, cols = Array.isArray(map[0]) ? map[0].length : 1;
    const small = document.createElement("canvas"); small.width = cols; small.height = rows;
    const sctx = small.getContext("2d"), img = sctx.createImageData(cols, rows);
    values.forEach((v, i) => { const w = v / peak, [r, g, b] = jet(w);
      img.data.set([r, g, b, Math.round(200 * Math.sqrt(w))], 4 * i); });
    sctx.putImageData(img, 0, 0);
    const ctx = canvas.getContext("2d");
    ctx.drawImage(picture, 0, 0);
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(small, 0, 0, canvas.width, canvas.height);
  } else if (input.type === "frames") {
    document.querySelectorAll("#frames figure").forEach((fig, i) => {
      const w = (values[i] || 0) / peak;
      fig.querySelector(".bar").style.width = Math.round(100 * w) + "%";
      fig.querySelector("img").style.borderColor = "rgba(214,39,40," + w.toFixed(3) + ")";
      fig.dataset.weight = (values[i] || 0).toFixed(4);
    });
  } else {
    document.querySelectorAll("#sentence span").forEach((span, i) => {
      const w = (values[i] || 0) / peak;
      span.style.background = "rgba(214,39,40," + (0.85 * w).toFixed(3) + ")";
      span.dataset.weight = (values[i] || 0).toFixed(4);
    });
  }
}

function show() {
  const hyp = data.hypotheses[state.hyp];
  if (!hyp || !hyp.words.length) { document.getElementById("info").textContent = "(no words)"; return; }
  state.word = Math.max(0, Math.min(state.word, hyp.words.length - 1));
  const word = hyp.words[state.word];
  document.querySelectorAll("#words button").forEach((b, i) => b.classList.toggle("current", i === state.word));
  document.querySelectorAll("#hyps li").forEach((li, i) => li.classList.toggle("current", i === state.hyp));
  const fmt = (x) => (x === null || x === undefined ? "-" : x.toFixed(3));
  document.getElementById("info").textContent = "word " + (state.word + 1) + " of " + hyp.words.length + ": " +
    word.token + "  p=" + fmt(word.prob) + "  H(words)=" + fmt(word.entropy) + "  H(attention)=" +
    fmt(word.attention_entropy) + "  alternatives: " + word.alternatives.map((a) => a[0] + " " + a[1].toFixed(2)).join(", ");
  document.body.dataset.word = String(state.word + 1);
  drawMap(word.map);
}

function words() {
  const box = document.getElementById("words"); box.textContent = "";
  data.hypotheses[state.hyp].words.forEach((w, i) => {
    const b = el("button", w.token); b.appendChild(el("small", w.prob.toFixed(2)));
    b.addEventListener("click", () => { state.word = i; show(); });
    box.appendChild(b);
  });
}

data.hypotheses.forEach((h, i) => {
  const li = el("li", h.text + "  (" + h.score.toFixed(3) + (h.ended ? "" : ", cut") + ")");
  li.addEventListener("click", () => { state.hyp = i; state.word = 0; words(); show(); });
  document.getElementById("hyps").appendChild(li);
});
const step = (d) => { state.word += d; show(); };
document.getElementById("prev").addEventListener("click", () => step(-1));
document.getElementById("next").addEventListener("click", () => step(1));
document.addEventListener("keydown", (e) => { if (e.key === "ArrowLeft") step(-1); if (e.key === "ArrowRight") step(1); });
setup(); words(); show();
</script>
</body></html>
"""
