"""The figures equal the reference tools': captions against pycocoevalcap's own classes run as
COCOEvalCap runs them (PTBTokenizer on the references and on the captions, then each scorer's
compute_score), to 1e-6, on tricky captions (parentheses, empty, punctuation only, non-ASCII,
over-long) and on generated ones; translation BLEU against sacrebleu itself.

The PTB tokenizer and METEOR are Java programs: those tests skip, saying why, where Java is absent.
"""
import random

import pytest

from attnviewer.evaluation import metrics
from attnviewer.evaluation.metrics import caption_metrics, caption_scores, java_problem

JAVA = java_problem()
needs_java = pytest.mark.skipif(JAVA is not None, reason=f"the PTB tokenizer and METEOR need Java: {JAVA}")

# Each item: (references, candidate). The cases where attnviewer and COCOEvalCap once differed
# (parentheses, empty captions) and those that are easy to get wrong.
TRICKY = [
    (["a dog (brown) runs on the grass", "a brown dog running"], "a dog (blue) runs"),
    (["a man rides a bike", "someone on a bicycle"], ""),
    (["a café with two chairs", "two chairs outside a cafe"], "a café with chairs"),
    (["...", "a red car"], "!!!"),
    (["a cat sleeps", "the cat is asleep on a sofa"], "a cat " * 60),
    (["a bird [on] a {branch}", "a small bird on a branch"], "a bird -- on a branch ; really"),
    (["people walk down a street", "a crowded street"], "people walk (on) a street"),
    (["Ein Hund läuft über die Straße", "犬が走る"], "ein hund, läuft: über die straße!"),
    (["a boy's ball", "a boy plays football"], "a boy ` s `` ball ''"),
]


def generated_cases(seed: int, n: int = 12) -> list:
    """Random captions from words, punctuation, brackets, non-ASCII words and empty ones."""
    rng = random.Random(seed)
    words = ["a", "dog", "cat", "the", "runs", "on", "grass", "(red)", "[big]", "{x}", "café", "naïve", "日本",
             ",", ".", "!", "?", "...", "--", "'s", "``", "''", "-", ";", ":", "é", "Über", "A", "DOG"]

    def caption() -> str:
        k = rng.choice([0, 1, 3, 8, 15, 120]) if rng.random() < 0.3 else rng.randint(2, 12)
        return " ".join(rng.choice(words) for _ in range(k))
    return [([caption() for _ in range(rng.randint(1, 5))], caption()) for _ in range(n)]


def coco_eval_cap(cases: list, meteor=None) -> dict[str, float]:
    """pycocoevalcap's figures, computed as COCOEvalCap.evaluate computes them."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    gts = {i: [{"caption": r} for r in refs] for i, (refs, _) in enumerate(cases)}
    res = {i: [{"caption": c}] for i, (_, c) in enumerate(cases)}
    tokenizer = PTBTokenizer()
    gts, res = tokenizer.tokenize(gts), tokenizer.tokenize(res)
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    out = {f"BLEU-{n}": b for n, b in enumerate(bleu, 1)}
    if meteor is not None:
        out["METEOR"] = meteor.compute_score(gts, res)[0]
    out["ROUGE-L"] = Rouge().compute_score(gts, res)[0]
    out["CIDEr-D"] = Cider().compute_score(gts, res)[0]
    return out


@pytest.fixture(scope="module")
def meteor():
    """pycocoevalcap's own Meteor for the reference side: the one process metrics.py keeps (it is
    the same class, and stateless between calls; a second Java start would cost ~15 s)."""
    if JAVA is not None:
        yield None
        return
    metrics._meteor_scores({0: ["a cat"]}, {"start": {0: ["a cat"]}})  # started once here
    yield metrics._meteor
    metrics.close_meteor()


def attnviewer_scores(cases: list) -> metrics.CaptionScores:
    return caption_metrics([refs for refs, _ in cases], {"greedy": [c for _, c in cases]})


def assert_same(ours: dict, theirs: dict) -> None:
    assert set(ours) == set(theirs)
    for name, value in theirs.items():
        assert ours[name] == pytest.approx(float(value), abs=1e-6), name


@needs_java
def test_tricky_captions_score_as_coco_eval_cap(meteor):
    done = attnviewer_scores(TRICKY)
    assert done.notes == []
    assert_same(done.scores["greedy"], coco_eval_cap(TRICKY, meteor))


@needs_java
def test_generated_captions_score_as_coco_eval_cap(meteor):
    cases = generated_cases(1, n=36)  # (one Java run for 36 random items, not three for 12 each)
    assert_same(attnviewer_scores(cases).scores["greedy"], coco_eval_cap(cases, meteor))


@needs_java
def test_each_decoding_scores_as_coco_eval_cap_alone(meteor):
    """Several decodings in one call: each equals COCOEvalCap run on its captions alone."""
    cases = generated_cases(7, n=8)
    other = [(refs, c.upper()[::-1]) for refs, c in cases]
    done = caption_metrics([refs for refs, _ in cases], {"greedy": [c for _, c in cases],
                                                          "beam 3": [c for _, c in other]})
    assert_same(done.scores["greedy"], coco_eval_cap(cases, meteor))
    assert_same(done.scores["beam 3"], coco_eval_cap(other, meteor))


@needs_java
def test_a_carriage_return_shifts_captions_as_in_coco_eval_cap_and_says_so(meteor):
    """pycocoevalcap's tokenizer splits a caption at \\r: the figures still equal its own, and a
    note says the captions after it were scored against other items' references."""
    cases = TRICKY[:3] + [(["a red\rcar"], "a red car")] + TRICKY[3:]
    done = attnviewer_scores(cases)
    assert any("line break" in n for n in done.notes)
    assert_same(done.scores["greedy"], coco_eval_cap(cases, meteor))


def test_empty_generated_captions_score_empty_as_pycocoevalcap_does():
    """The generated scenes' quick check scores "" itself (once the word "<empty>")."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider

    refs = ["a red circle left of a blue square", "a green triangle", "a small red square"]
    cands = ["a red circle left of a square", "", "a small red square"]
    got = caption_scores(refs, cands)
    bleu, _ = Bleu(4).compute_score({i: [r] for i, r in enumerate(refs)}, {i: [c] for i, c in enumerate(cands)},
                                    verbose=0)
    cider, _ = Cider().compute_score({i: [r] for i, r in enumerate(refs)}, {i: [c] for i, c in enumerate(cands)})
    assert got["BLEU-1"] == pytest.approx(bleu[0], abs=1e-9) and got["BLEU-4"] == pytest.approx(bleu[3], abs=1e-9)
    assert got["CIDEr"] == pytest.approx(cider, abs=1e-9)


# -- translations ----------------------------------------------------------------------------------

def test_standard_translation_bleu_is_sacrebleus_default_with_its_signature():
    """True case and punctuation as written, references of different counts: sacrebleu's own figures."""
    import sacrebleu

    refs = [["The cat sat on the mat.", "A cat was sitting on the mat."], ["He said: \"No!\""],
            ["It costs 3,50 € (roughly)."]]
    hyps = ["the cat sat on the mat .", "He said \"no\"!", "It costs 3,50 € roughly."]
    scores, signatures = metrics.standard_translation_metrics(refs, hyps)
    streams = [[r[0] for r in refs], [r[1] if len(r) > 1 else None for r in refs]]
    assert scores["BLEU"] == pytest.approx(sacrebleu.corpus_bleu(hyps, streams).score, abs=1e-9)
    assert scores["chrF"] == pytest.approx(sacrebleu.corpus_chrf(hyps, streams).score, abs=1e-9)
    assert "tok:13a" in signatures["BLEU"] and "case:mixed" in signatures["BLEU"]
    assert f"version:{sacrebleu.__version__}" in signatures["BLEU"]
    # the words figure differs: lower case, the dataset's tokens
    words = metrics.translation_metrics([[r.lower() for r in rs] for rs in refs], [h.lower() for h in hyps])
    assert abs(words["BLEU"] - scores["BLEU"]) > 1


def test_figures_print_four_significant_digits():
    assert metrics.figure(1.2e-07) == "1.200e-07" and metrics.figure(0.5) == "0.5000"
    assert metrics.figure(65.4321) == "65.43" and metrics.figure(1.6648410) == "1.665"


def test_eval_translate_data_reports_sacrebleu_on_the_files_text_beside_the_corpus_tokens(tmp_path, capsys,
                                                                                         monkeypatch):
    """The file's targets are written with a capital and a full stop: the standard BLEU compares the
    model's output with that text (sacrebleu's defaults, signature printed), the corpus-tokens BLEU
    with the lower-cased words."""
    import json

    import sacrebleu

    from attnviewer.cli import main

    from .corpora import pair_texts

    rows = pair_texts(6)  # "The ... ." as written text
    path = tmp_path / "pairs.tsv"
    path.write_text("".join(f"{s}\t{t}\n" for s, t in rows), encoding="utf-8")
    seen = []
    real = metrics.standard_translation_metrics

    def spy(references, hypotheses):
        seen.append((references, hypotheses))
        return real(references, hypotheses)
    monkeypatch.setattr(metrics, "standard_translation_metrics", spy)
    out = tmp_path / "t.json"
    assert main(["eval", "translate", "--data", str(path), "--model", "translate-sov", "--split", "all",
                 "--json", str(out), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    references, hypotheses = seen[0]
    # as the file writes them (in the order of the splits)
    assert sorted(references) == sorted([t] for _, t in rows) and rows[0][1][0].isupper()
    expected = sacrebleu.corpus_bleu(hypotheses, [[r[0] for r in references]])
    row = json.loads(out.read_text())["models"]["translate-sov"]
    scores = row["scores"]["greedy"]
    assert scores["BLEU"] == pytest.approx(expected.score, abs=1e-9)
    assert scores["BLEU (corpus tokens)"] > scores["BLEU"]  # the capitals and full stops cost only there
    lines = printed.splitlines()
    header = next(line for line in lines if line.startswith("model, decoding"))
    assert header.split()[2:] == ["BLEU", "chrF", "BLEU", "(corpus", "tokens)"]
    cells = next(line for line in lines if line.startswith("translate-sov  greedy")).split()[2:]
    assert cells[0] == metrics.figure(scores["BLEU"]) and cells[2] == metrics.figure(scores["BLEU (corpus tokens)"])
    reference = sacrebleu.metrics.BLEU()
    reference.corpus_score(hypotheses, [[r[0] for r in references]])
    signature = reference.get_signature()
    assert f"BLEU: sacrebleu {sacrebleu.__version__}, signature {signature}" in printed
    assert row["sacrebleu signatures"]["BLEU"] == str(signature)
