"""`attnviewer eval caption|video|translate --data ANNOTATIONS`: score models on a real dataset's split.

The split is read by data/corpus.py (what its reader skipped is reported, one line per kind),
decoded greedily and, with --beam K > 1, also with a beam of K, in batches through
pipeline.run_all (each input read once for both), and scored by evaluation/metrics.py: BLEU-1..4,
METEOR, ROUGE-L and CIDEr-D for captions, BLEU and chrF for translations. An input that cannot be
read (a missing or corrupt image or clip, a sentence too long for the model) is counted, reported
in one line, and left out of the scores; it never stops the run. `eval caption --grounding FILE`
also runs the pointing game on the words the annotations give boxes or masks for
(evaluation/grounding.py).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

BATCH = 16  # inputs read and decoded at a time: a real split is never held in memory whole


def add_data_options(p: argparse.ArgumentParser, task: str) -> None:
    g = p.add_argument_group("a real dataset (instead of generated data)")
    what = {"caption": "Karpathy split JSON or image,caption CSV", "video": "MSVD CSV or MSR-VTT JSON",
            "translate": "tab-separated pairs: a file, or a folder of train/val/test TSVs"}[task]
    g.add_argument("--data", metavar="ANNOTATIONS", help=f"evaluate on this dataset ({what})")
    if task == "caption":
        g.add_argument("--images", metavar="ROOT", help="the images' folder (default: the annotations' folder)")
        g.add_argument("--grounding", metavar="FILE",
                       help="COCO instances JSON or word boxes {image: [{word, box}]}: pointing on real data")
    elif task == "video":
        g.add_argument("--clips", metavar="ROOT", help="the clips' folder (default: the annotations' folder)")
    g.add_argument("--split", default="test", choices=("train", "val", "test", "all"),
                   help="the split to score (default test)")


def split_items(args: argparse.Namespace):
    """(corpus, the items to score) of --data and --split, at most --n of them."""
    from ..data.corpus import read_corpus
    from ..errors import DataError

    root = getattr(args, "images", None) or getattr(args, "clips", None)
    corpus = read_corpus(args.task, Path(args.data), Path(root) if root else None)
    if args.split == "all":
        items = [it for split in corpus.splits.values() for it in split]
    elif corpus.splits.get(args.split):
        items = corpus.splits[args.split]
    else:
        have = ", ".join(f"{s} ({len(v)})" for s, v in corpus.splits.items())
        raise DataError(f"{args.data}: no {args.split} split to evaluate; it has {have} (choose one with --split)")
    return corpus, items[:args.n] if args.n else items


def evaluate_data(args: argparse.Namespace) -> dict:
    from .. import kinds
    from .evaluate import evaluation

    from ..settings import DecodeSettings

    kind = kinds.get(args.task)
    names, settings = evaluation(args, args.task)  # checked --beam: greedy, or a beam of it
    runs = [("greedy", DecodeSettings("greedy").validate())]  # always, and the beam beside it
    if settings.method == "beam":
        runs.append((settings.describe(), settings))
    corpus, items = split_items(args)
    grounds = None
    if getattr(args, "grounding", None):
        from ..evaluation.grounding import read_grounds

        grounds = read_grounds(Path(args.grounding))
    which = f"{len(items)} items (all splits)" if args.split == "all" else f"{len(items)} {args.split} items"
    print(f"{args.data}: {which} of {corpus.summary()}; decoding: "
          f"{' and '.join(label for label, _ in runs)}", flush=True)
    for line in corpus.problems.lines():
        print(f"attnviewer: skipped while reading the dataset: {line}", file=sys.stderr)
    report = {"data": str(args.data), "split": args.split, "items": len(items),
              "skipped while reading": corpus.problems.lines(), "models": {}}
    for name in names:
        report["models"][name] = score_model(args, kind, name, items, runs, grounds)
    notes = {note: None for row in report["models"].values() for note in row.get("notes", ())}
    for note in notes:  # (the same for every model: said once)
        print(f"attnviewer: {note}", file=sys.stderr)
    print_tables(report, runs, kind.name)
    return report


def score_model(args, kind, name: str, items: list, runs: list, grounds) -> dict:
    from ..data.corpus import Problems
    from ..errors import MediaError
    from ..pipeline import load_model, model_config, run_all
    from .folder import Progress

    model = load_model(kind, name, args.device)
    config = model_config(name)
    unread = Problems()
    scored, captions = [], {label: [] for label, _ in runs}
    texts = {label: [] for label, _ in runs}  # translations as written out (a transformer's detokenised text)
    tallies = {label: _grounding_tally() for label, _ in runs} if grounds else {}
    far = 0  # inputs the model's domain record finds unlike its training data
    progress = Progress(len(items), label=f"{name}: decoding")
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
            progress.advance(min(BATCH, len(items) - start))
    finally:
        progress.close()
    for line in unread.lines():
        print(f"attnviewer: {name}: left out: {line}", file=sys.stderr)
    row = {"scored": len(scored), "left out": unread.lines(), "unlike the training data": far}
    if far:
        print(f"attnviewer: note: {far} of {len(scored)} inputs look unlike the data {name} was trained on",
              file=sys.stderr)
    if not scored:
        from ..errors import DataError

        raise DataError(f"{args.data}: none of the {len(items)} {args.split} items could be read for {name}")
    refs = [it.references for it in scored]
    if kind.name == "translate":
        from ..evaluation.metrics import standard_translation_metrics, translation_metrics

        written = reference_texts(Path(args.data), scored)
        row["scores"] = {}
        for label, cs in captions.items():
            standard, row["sacrebleu signatures"] = standard_translation_metrics(written, texts[label])
            on_tokens = translation_metrics(refs, [" ".join(c) for c in cs])["BLEU"]
            row["scores"][label] = dict(standard, **{"BLEU (corpus tokens)": on_tokens})
    else:
        from ..evaluation.metrics import caption_metrics

        print(f"{name}: scoring {len(scored)} captions per decoding", flush=True)
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

    from ..data.corpus import Problems
    from ..data.readers import _rows

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
        from ..errors import DataError

        raise DataError(f"{data}: changed while it was evaluated ({gone[0]} is no longer a sentence pair)")
    return [[text[item.id]] for item in items]


def _grounding_tally():
    from ..evaluation.grounding import GroundingTally

    return GroundingTally()


def print_tables(report: dict, runs: list, task: str) -> None:
    """The metrics, a row per model and decoding; then grounding, if it was asked for."""
    from ..evaluation.metrics import CAPTION_METRICS, TRANSLATION_METRICS, figure

    cols = TRANSLATION_METRICS if task == "translate" else CAPTION_METRICS
    width = max(len(f"{n}  {label}") for n in report["models"] for label, _ in runs) + 2
    sizes = [max(10, len(c) + 2) for c in cols]
    print("\nmodel, decoding".ljust(width + 1) + "".join(c.rjust(k) for c, k in zip(cols, sizes)))
    for name, row in report["models"].items():
        for label, _ in runs:
            scores = row["scores"][label]
            cells = ["-" if c not in scores else figure(scores[c]) for c in cols]
            print(f"{name}  {label}".ljust(width) + "".join(x.rjust(k) for x, k in zip(cells, sizes)))
    for line in tool_lines(report, task):
        print(line)
    grounded = {n: r["grounding"] for n, r in report["models"].items() if "grounding" in r}
    if not grounded:
        return
    tests = ("cell", "pixel")
    print("\npointing on the annotated words".ljust(width + 1) + "words".rjust(8)
          + "".join(t.rjust(10) for t in tests) + "  uniform (cell / pixel)  centre (cell / pixel)")
    for name, by_run in grounded.items():
        for label, g in by_run.items():
            base = [_rate(g[f"pointing {b} {t}"]) for b in ("uniform", "centre") for t in tests]
            print(f"{name}  {label}".ljust(width) + f"{g['words']:8d}"
                  + "".join(_rate(g[f"pointing {t}"]).rjust(10) for t in tests)
                  + f"  {base[0]:>9} / {base[1]:<9}  {base[2]:>7} / {base[3]}")
        g = next(iter(by_run.values()))
        print(f"{name}: {g['images']} images with annotations, {g['images without annotations']} without; "
              f"{g['words naming nothing annotated']} words naming nothing annotated in their image (not scored)")


def tool_lines(report: dict, task: str) -> list[str]:
    """What computed the table's figures: the tool, its version and, for sacreBLEU, its signatures."""
    from ..evaluation.metrics import tool_version

    if task == "translate":
        signatures = next(iter(report["models"].values()))["sacrebleu signatures"]
        version = tool_version("sacrebleu")
        return [f"BLEU: {version}, signature {signatures['BLEU']} (the file's target text, as written)",
                f"chrF: {version}, signature {signatures['chrF']}",
                f"BLEU (corpus tokens): {version}, tokenize none, on the dataset's lower-cased words"]
    return list({row["computed by"]: None for row in report["models"].values()})


def _rate(value: float) -> str:
    return "-" if value != value else f"{value:.1%}"  # NaN: no word was scored
