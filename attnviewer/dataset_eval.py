"""Scoring models on a real dataset's split (`attnviewer eval caption|video|translate --data`).

The split is read by data/corpus.py (what its reader skipped is reported), decoded greedily and,
with a beam, also with the beam, in batches through pipeline.run_all (each input read once for
both), and scored by evaluation/metrics.py: BLEU-1..4, METEOR, ROUGE-L and CIDEr-D for captions,
sacreBLEU's BLEU and chrF for translations. An input that cannot be read (a missing or corrupt image
or clip, a sentence too long for the model) is counted and left out of the scores; it never stops
the run. With word boxes or masks, the pointing game runs too (evaluation/grounding.py).

It sits above the pipeline (it decodes) and below the commands: cli/evaluate_data.py parses and
prints, this module reads, decodes and scores, and says what it does through `say` and `progress`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

BATCH = 16  # inputs read and decoded at a time: a real split is never held in memory whole


def evaluate(task: str, data: Path, root: Path | None, split: str, n: int | None, names: list[str], runs: list,
             device: str, grounding: Path | None = None, say: Callable[[str], None] = print,
             warn: Callable[[str], None] = print, progress=None) -> dict:
    """The report of `names` on the split: per model, its scores per decoding (runs: [(label,
    DecodeSettings)]), what was left out, and the grounding where asked. `say`: a line of what is
    being done (stdout); `warn`: a line about the data (stderr); `progress(total, label)`: an object
    with advance(n) and close() (a progress bar), or None."""
    from . import kinds

    kind = kinds.get(task)
    corpus, items = split_items(task, data, root, split, n)
    grounds = None
    if grounding is not None:
        from .evaluation.grounding import read_grounds

        grounds = read_grounds(grounding)
    which = f"{len(items)} items (all splits)" if split == "all" else f"{len(items)} {split} items"
    say(f"{data}: {which} of {corpus.summary()}; decoding: {' and '.join(label for label, _ in runs)}")
    for line in corpus.problems.lines():
        warn(f"skipped while reading the dataset: {line}")
    report = {"data": str(data), "split": split, "items": len(items),
              "skipped while reading": corpus.problems.lines(), "models": {}}
    for name in names:
        report["models"][name] = score_model(kind, name, items, runs, grounds, data, split, device, say, warn,
                                              progress)
    return report


def split_items(task: str, data: Path, root: Path | None, split: str, n: int | None = None):
    """(corpus, the items to score) of the data's split ("all": every split), at most n of them."""
    from .data.corpus import read_corpus
    from .errors import DataError

    corpus = read_corpus(task, Path(data), Path(root) if root else None)
    if split == "all":
        items = [it for part in corpus.splits.values() for it in part]
    elif corpus.splits.get(split):
        items = corpus.splits[split]
    else:
        have = ", ".join(f"{s} ({len(v)})" for s, v in corpus.splits.items())
        raise DataError(f"{data}: no {split} split to evaluate; it has {have} (choose one with --split)")
    return corpus, items[:n] if n else items


def score_model(kind, name: str, items: list, runs: list, grounds, data: Path, split: str, device: str,
                say: Callable[[str], None] = print, warn: Callable[[str], None] = print, progress=None) -> dict:
    """One model's row of the report (see evaluate)."""
    from .data.corpus import Problems
    from .errors import MediaError
    from .pipeline import load_model, model_config, run_all

    model = load_model(kind, name, device)
    config = model_config(name)
    unread = Problems()
    scored, captions = [], {label: [] for label, _ in runs}
    texts = {label: [] for label, _ in runs}  # translations as written out (a transformer's detokenised text)
    tallies = {label: _grounding_tally() for label, _ in runs} if grounds else {}
    far = 0  # inputs the model's domain record finds unlike its training data
    bar = progress(len(items), f"{name}: decoding") if progress is not None else None
    try:
        for start in range(0, len(items), BATCH):
            batch, medias = [], []
            for item in items[start:start + BATCH]:
                try:
                    medias.append(kind.fit(kind.read(item.source, config), model))
                    batch.append(item)
                except MediaError as e:
                    why = str(e).removeprefix(item.source).lstrip(": ")  # the example names the item already
                    unread.add(f"unreadable {kind.noun}" if kind.name != "translate" else "unusable sentence",
                               f"{Path(item.id).name if kind.name != 'translate' else item.id}: {why}")
            if batch:
                for label, settings in runs:
                    results = run_all(kind, model, medias, settings, batch=len(batch))
                    captions[label] += [r.best.tokens for r in results]
                    texts[label] += [r.best.text for r in results]
                    if label == "greedy":
                        far += sum(r.note is not None for r in results)
                    if grounds:
                        for item, media, result in zip(batch, medias, results):
                            tallies[label].add(grounds, item.source, tuple(media.rgb.shape[:2]), result.best)
                scored += batch
            if bar is not None:
                bar.advance(min(BATCH, len(items) - start))
    finally:
        if bar is not None:
            bar.close()
    for line in unread.lines():
        warn(f"{name}: left out: {line}")
    row = {"scored": len(scored), "left out": unread.lines(), "unlike the training data": far}
    if far:
        warn(f"note: {far} of {len(scored)} inputs look unlike the data {name} was trained on")
    if not scored:
        from .errors import DataError

        raise DataError(f"{data}: none of the {len(items)} {split} items could be read for {name}")
    refs = [it.references for it in scored]
    if kind.name == "translate":
        from .evaluation.metrics import standard_translation_metrics, translation_metrics

        written = reference_texts(Path(data), scored)
        row["scores"] = {}
        for label, cs in captions.items():
            standard, row["sacrebleu signatures"] = standard_translation_metrics(written, texts[label])
            on_tokens = translation_metrics(refs, [" ".join(c) for c in cs])["BLEU"]
            row["scores"][label] = dict(standard, **{"BLEU (corpus tokens)": on_tokens})
    else:
        from .evaluation.metrics import caption_metrics

        say(f"{name}: scoring {len(scored)} captions per decoding")
        done = caption_metrics(refs, captions)
        row["scores"], row["notes"], row["computed by"] = done.scores, done.notes, done.computed_by()
    if grounds:
        row["grounding"] = {label: t.report() for label, t in tallies.items()}
    return row


def reference_texts(data: Path, items: list) -> list[list[str]]:
    """The target sentences of these pairs as the file writes them (case, punctuation): what
    sacreBLEU's standard figure compares with. The reader keeps only their lower-cased words, so
    the lines it named the items after are read again, by the reader's own row reader."""
    import csv

    from .data.corpus import Problems
    from .data.readers import _rows

    wanted: dict[Path, set[str]] = {}
    for item in items:  # "line 7", or "test.tsv line 7" in a folder of splits
        name, _, _ = item.id.rpartition(" line ")
        wanted.setdefault(data / name if name else data, set()).add(item.id)
    text: dict[str, str] = {}
    for path, ids in wanted.items():
        label = f"{path.name} line" if path != data else "line"
        for where, row in _rows(path, Problems(), "\t", csv.QUOTE_NONE, label):
            if where in ids:
                text[where] = row[1]
    gone = [item.id for item in items if item.id not in text]
    if gone:
        from .errors import DataError

        raise DataError(f"{data}: changed while it was evaluated ({gone[0]} is no longer a sentence pair)")
    return [[text[item.id]] for item in items]


def _grounding_tally():
    from .evaluation.grounding import GroundingTally

    return GroundingTally()
