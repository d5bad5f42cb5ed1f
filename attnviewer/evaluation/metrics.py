"""Text metrics, in one place: captions through pycocoevalcap, translations through sacrebleu.

Captions: BLEU-1..4, METEOR, ROUGE-L and CIDEr-D, as the COCO caption evaluation computes them.
pycocoevalcap's `Cider` class *is* CIDEr-D (the variant COCO reports under the name "CIDEr"): it
clips each candidate n-gram's tf-idf weight at the reference's, multiplies each n-gram similarity
by a Gaussian length penalty (sigma 6), does no stemming, averages n = 1..4 and scales by 10. Its
idf comes from the references of the evaluated set itself, so a score depends on the whole set
(a set of one image scores 0: every n-gram is in "all" of its documents).

METEOR and the PTB tokenizer are Java programs. With Java present the figures are COCOEvalCap's
own: the references, then each decoding's captions, go through one run each of the Stanford PTB
tokenizer pycocoevalcap ships, invoked as its wrapper invokes it (a file of one caption a line, "\n"
inside a caption made a space, lower case), and its output is split and filtered by the wrapper's
own punctuation list (upper case, so the "-lrb-" "-rrb-" of parentheses stay, as they do in COCO's
figures); then pycocoevalcap's scorers score the tokenised captions as they are (an empty caption
is scored empty). The one difference: the file goes to a private temporary folder, not into the
package's own (often read-only) folder. tests/test_metric_parity.py holds this to COCOEvalCap to
1e-6. Without Java, METEOR is reported as unavailable in one line and the rest use the datasets'
own tokenisation (data/corpus.py's tokenize: lower case, punctuation dropped), which is close to,
but not, COCO's. One METEOR process serves a whole run (its start loads a paraphrase table for
seconds); close_meteor() and the end of the program end it. SPICE is not computed (its first run
downloads Stanford models).

Translations: corpus-level BLEU and chrF through sacrebleu. On a real corpus (`eval translate
--data`) the figures papers quote: sacrebleu's defaults (BLEU's 13a tokeniser, case kept) on the
file's own target text and the model's detokenised output, each with sacrebleu's signature
(standard_translation_metrics); beside them "BLEU (corpus tokens)": BLEU on the dataset's
lower-cased words with sacrebleu's tokeniser off (translation_metrics, what validation during
training computes). On the generated language the words are the text (its suffixes such as "=o"
are words of their own), so BLEU there is always on the words.
"""
from __future__ import annotations

import atexit
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

CAPTION_METRICS = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr-D")
TRANSLATION_METRICS = ("BLEU", "chrF", "BLEU (corpus tokens)")  # eval translate --data's columns


def tool_version(package: str) -> str:
    """'pycocoevalcap 1.2': the installed version, for the tables that print its figures."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{package} {version(package)}"
    except PackageNotFoundError:
        return f"{package} (version unknown)"


def figure(value: float) -> str:
    """A metric as printed: 4 significant digits, so a change shows (BLEU-4 near its floor: 1.004e-05)."""
    return f"{value:#.4g}"


def java_problem() -> str | None:
    """None when a working `java` is on PATH, else why not (one line)."""
    java = shutil.which("java")
    if java is None:
        return "no Java on PATH"
    try:
        done = subprocess.run([java, "-version"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"java does not run ({type(e).__name__})"
    return None if done.returncode == 0 else f"java -version exited with status {done.returncode}"


@dataclass
class CaptionScores:
    """The metrics of each decoding (name -> metric -> value; METEOR absent without Java) and
    notes for the user (one line each: what was not computed and why)."""

    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    coco: bool = False  # tokenised by the PTB tokenizer: the figures are COCOEvalCap's

    def computed_by(self) -> str:
        """The tool, its version and how: the line printed under a table of these figures."""
        how = ("as COCOEvalCap scores them (PTB tokenizer" + (", METEOR 1.5)" if self.coco_meteor else ")")
               if self.coco else "on the captions' own words (no PTB tokenizer without Java: not COCO's figures)")
        return f"{tool_version('pycocoevalcap')}, {how}; CIDEr-D is the variant COCO reports as CIDEr"

    @property
    def coco_meteor(self) -> bool:
        return any("METEOR" in row for row in self.scores.values())


def caption_metrics(references: Sequence[Sequence[str]], candidates: dict[str, Sequence[str]],
                    java: bool | None = None) -> CaptionScores:
    """Score several decodings (e.g. {"greedy": [...], "beam 3": [...]}) of the same items.
    references[i]: the reference captions of item i (at least one); candidates[d][i]: decoding d's
    caption of item i. One Java start for the tokenizer and one METEOR process serve them all.
    java: None detects it; False scores without it (as when it is absent)."""
    out = CaptionScores()
    problem = java_problem() if java is None else (None if java else "Java not used")
    refs, cands = _tokenised(references, candidates, problem is None, out.notes)
    out.coco = problem is None and not any(n.startswith("PTB tokenizer failed") for n in out.notes)
    for name, c in cands.items():
        out.scores[name] = _java_free_scores(refs, c)
    if problem is not None:
        out.notes.append(f"METEOR: unavailable ({problem}); the other metrics are reported")
        return out
    try:
        meteor = _meteor_scores(refs, cands)
    except (OSError, ValueError, subprocess.SubprocessError) as e:
        out.notes.append(f"METEOR: failed ({type(e).__name__}: {e}); the other metrics are reported")
        return out
    for name, value in meteor.items():
        out.scores[name]["METEOR"] = value
    for row in out.scores.values():  # the table's order
        row.update({k: row.pop(k) for k in CAPTION_METRICS if k in row})
    return out


def _tokenised(references, candidates, java: bool, notes: list[str]):
    """({item: [reference strings]}, {decoding: {item: [candidate string]}}), tokenised for scoring."""
    refs = {i: [" ".join(r) if not isinstance(r, str) else r for r in rs] for i, rs in enumerate(references)}
    cands = {d: {i: [" ".join(c) if not isinstance(c, str) else c] for i, c in enumerate(cs)}
             for d, cs in candidates.items()}
    for d, cs in cands.items():
        if len(cs) != len(refs):
            raise ValueError(f"{d}: {len(cs)} captions for {len(refs)} items")
    if java:
        try:  # as COCOEvalCap: the references in one run, each decoding's captions in another
            return _ptb(refs, notes), {d: _ptb(cs, notes) for d, cs in cands.items()}
        except (OSError, subprocess.SubprocessError) as e:
            notes.append(f"PTB tokenizer failed ({type(e).__name__}); captions tokenised without it")
    from ..data.corpus import tokenize

    def split(s: str) -> str:
        return " ".join(tokenize(s))  # as the caption readers tokenise: lower case, punctuation dropped
    return ({i: [split(r) for r in rs] for i, rs in refs.items()},
            {d: {i: [split(c[0])] for i, c in cs.items()} for d, cs in cands.items()})


def _ptb(captions: dict, notes: list[str]) -> dict:
    """pycocoevalcap's PTBTokenizer.tokenize on {key: [caption, ...]}, step for step, but with its
    file in a temporary folder of ours and the tokenizer's progress line kept off our stderr."""
    import tempfile
    from pathlib import Path

    import pycocoevalcap.tokenizer.ptbtokenizer as ptb

    from ..errors import DataError

    keys = [k for k, v in captions.items() for _ in v]
    text = "\n".join(c.replace("\n", " ") for v in captions.values() for c in v)
    try:
        data = text.encode()
    except UnicodeEncodeError as e:  # a lone surrogate, e.g. from undecodable bytes
        raise DataError(f"a caption is not valid Unicode ({e.reason} at {e.start}): it cannot be scored") from None
    jar = Path(ptb.__file__).with_name(ptb.STANFORD_CORENLP_3_4_1_JAR)
    with tempfile.TemporaryDirectory(prefix="attnviewer-ptb-") as folder:
        (Path(folder) / "captions").write_bytes(data)
        done = subprocess.run(["java", "-cp", str(jar), "edu.stanford.nlp.process.PTBTokenizer", "-preserveLines",
                               "-lowerCase", "captions"], cwd=folder, capture_output=True, timeout=600, check=True)
    lines = done.stdout.decode().split("\n")
    if len(lines) != len(keys):  # (the output ends with a line break where the input does)
        notes.append("a caption holds a line break other than \\n (\\r, U+2028, ...): the PTB tokenizer splits it, "
                     "so the captions after it are scored against other items' references, as COCOEvalCap does")
    out: dict = {}
    for k, line in zip(keys, lines):
        out.setdefault(k, []).append(" ".join(w for w in line.rstrip().split(" ") if w not in ptb.PUNCTUATIONS))
    missing = [k for k in captions if k not in out]
    if missing:  # COCOEvalCap would stop on an assertion here
        raise DataError(f"the PTB tokenizer gave {len(lines)} lines for {len(keys)} captions: "
                         "a caption holds a line break it reads differently")
    return out


def _java_free_scores(refs: dict, cands: dict) -> dict[str, float]:
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    bleu, _ = Bleu(4).compute_score(refs, cands, verbose=0)
    rouge, _ = Rouge().compute_score(refs, cands)
    cider, _ = Cider().compute_score(refs, cands)
    scores = {f"BLEU-{n}": float(b) for n, b in enumerate(bleu, 1)}
    return dict(scores, **{"ROUGE-L": float(rouge), "CIDEr-D": float(cider)})


_meteor = None  # the METEOR process, started on first use and kept for the rest of the run


def _meteor_scores(refs: dict, cands: dict) -> dict[str, float]:
    """METEOR of each decoding. Its Java start takes seconds (it loads a paraphrase table), so
    one process serves the whole run, every model and decoding: close_meteor() ends it, and does
    so at exit; a failure ends it at once."""
    global _meteor
    if _meteor is None or _meteor.meteor_p.poll() is not None:
        from pycocoevalcap.meteor.meteor import Meteor

        _meteor = Meteor()
    try:
        return {d: float(_meteor.compute_score(refs, cs)[0]) for d, cs in cands.items()}
    except BaseException:
        close_meteor()
        raise


def close_meteor() -> None:
    """End the METEOR process, if one runs: closing its input ends its -stdio loop (pycocoevalcap
    leaves this to the garbage collector, which may never run it)."""
    global _meteor
    meteor, _meteor = _meteor, None
    if meteor is None:
        return
    proc = meteor.meteor_p
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        try:
            stream.close()
        except OSError:
            pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    # (pycocoevalcap's __del__ then finds the process ended: closing and killing it again is harmless.)


atexit.register(close_meteor)


def caption_scores(references: list[str], candidates: list[str]) -> dict[str, float]:
    """Exact match, BLEU-1, BLEU-4 and CIDEr-D of pre-tokenised lower-case captions, one reference
    each, without Java (the generated scenes' quick check)."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider

    refs = {i: [r] for i, r in enumerate(references)}
    cands = {i: [c] for i, c in enumerate(candidates)}  # an empty caption scored empty, as pycocoevalcap does
    bleu, _ = Bleu(4).compute_score(refs, cands, verbose=0)
    cider, _ = Cider().compute_score(refs, cands)
    exact = float(np.mean([r == c for r, c in zip(references, candidates)]))
    return {"exact match": exact, "BLEU-1": bleu[0], "BLEU-4": bleu[3], "CIDEr": float(cider)}


def bleu(references: list[str], hypotheses: list[str]) -> float:
    """Corpus BLEU (0-100) of space-separated words, one reference each (sacrebleu's tokeniser off)."""
    import sacrebleu

    return float(sacrebleu.corpus_bleu(hypotheses, [references], tokenize="none", force=True).score)


def _streams(references: Sequence[Sequence[str]], hypotheses: Sequence[str]) -> list[list[str | None]]:
    """sacrebleu's reference streams: stream k holds each sentence's k-th reference (None where a
    sentence has fewer than the most, as sacrebleu allows)."""
    refs = [[" ".join(r) if not isinstance(r, str) else r for r in rs] for rs in references]
    if len(refs) != len(hypotheses):
        raise ValueError(f"{len(hypotheses)} translations for {len(refs)} sentences")
    most = max((len(r) for r in refs), default=1)
    return [[rs[k] if k < len(rs) else None for rs in refs] for k in range(most)]


def standard_translation_metrics(references: Sequence[Sequence[str]], hypotheses: Sequence[str]
                                 ) -> tuple[dict[str, float], dict[str, str]]:
    """({"BLEU", "chrF"}, {"BLEU": signature, "chrF": signature}): sacrebleu's defaults (BLEU's
    13a tokeniser, case kept, exponential smoothing) on text as written: references[i] the
    reference texts of sentence i, hypotheses the translations as the model writes them out (a
    word-level model's words joined by spaces: 13a splits punctuation off words as our readers
    did, so "said ." and "said." score alike, and sacrebleu's warning about tokenised periods,
    which force silences without touching the signature, does not apply)."""
    from sacrebleu.metrics import BLEU, CHRF

    streams, hyps = _streams(references, hypotheses), list(hypotheses)
    scores, signatures = {}, {}
    for name, metric in (("BLEU", BLEU(force=True)), ("chrF", CHRF())):
        scores[name] = float(metric.corpus_score(hyps, streams).score)
        signatures[name] = str(metric.get_signature())
    return scores, signatures


def translation_metrics(references: Sequence[Sequence[str]], hypotheses: Sequence[str]) -> dict[str, float]:
    """Corpus BLEU and chrF (0-100) of space-separated words, sacrebleu's tokeniser off (on a real
    corpus: "BLEU (corpus tokens)"); references[i]: the reference translations of sentence i (at
    least one; items with fewer than the most are padded as sacrebleu allows)."""
    import sacrebleu

    streams, hyps = _streams(references, hypotheses), list(hypotheses)
    return {"BLEU": float(sacrebleu.corpus_bleu(hyps, streams, tokenize="none", force=True).score),
            "chrF": float(sacrebleu.corpus_chrf(hyps, streams).score)}
