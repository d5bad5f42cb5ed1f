"""The translate command and the translator's train and eval commands (cli.py parses them)."""
from __future__ import annotations

import argparse
import sys

DEFAULT_MODEL = "translate-sov"


def sentence_outputs(out: str | None, count: int, suffixes: tuple[str, ...], what: str) -> list:
    """One output per sentence: OUT itself for one sentence, OUT-1, OUT-2, ... for several."""
    from .caption import output_paths

    paths = output_paths(out, ["-"], suffixes, what)
    if out is None or count == 1:
        return paths * count
    return [paths[0].with_name(f"{paths[0].stem}-{i}{paths[0].suffix}") for i in range(1, count + 1)]


def translate(args: argparse.Namespace) -> int:
    import time

    import torch

    from .caption import check_animation, check_outputs, decode_settings, figure_style, print_caption
    from ..export.animation import ANIMATION_FORMATS
    from ..decoding.search import decode, run
    from ..errors import MediaError, OutputError
    from ..export.figures import FIGURE_FORMATS
    from ..media.text import read_sentences, source_words
    from .. import catalog
    from ..models import registry
    from ..types import Result, model_label

    settings = decode_settings(args)  # cheap checks first: nothing loads for a bad setting
    style = figure_style(args)
    texts = list(args.sentences) + (read_sentences(args.file) if args.file else [])
    if not texts:
        raise MediaError("nothing to translate: give a sentence, or --file FILE with one sentence a line")
    figures = sentence_outputs(args.figure, len(texts), FIGURE_FORMATS, "figure")
    jsons = sentence_outputs(args.json, len(texts), (".json",), "JSON")
    npzs = [None if j is None else j.with_suffix(".npz") for j in jsons]
    if args.npz:
        npzs = sentence_outputs(args.npz, len(texts), (".npz",), "NPZ")
    animations = sentence_outputs(args.animation, len(texts), ANIMATION_FORMATS, "animation")
    check_outputs([*figures, *jsons, *npzs, *animations], args.overwrite)
    check_animation(args.animation)
    if args.figure is None and args.values:
        raise OutputError("--values prints the weights in the figure's cells; add --figure OUT")
    name = catalog.variant_with_score(args.model, args.score) if args.score else args.model
    longest = catalog.config_of(name).get("max_source_len")  # from the file's header: text is checked first
    tokenised = [source_words(t, longest, where=_short(t)) for t in texts]
    model = registry.load(name, args.device, args.trust_pickle, kind="translate")
    device = next(model.parameters()).device
    sentences = [_readable(model, words, t) for words, t in zip(tokenised, texts)]
    unknown = sorted({w for s in sentences for w in model.unknown_words(s)})
    if unknown:
        print(f"attnviewer: note: words this model does not know (read as <unk>): {', '.join(unknown)}",
              file=sys.stderr)
    title = args.title or f"{model_label(name)}, {settings.describe()}"
    for text, words, fig, js, npz, anim in zip(texts, sentences, figures, jsons, npzs, animations):
        t0 = time.perf_counter()
        with torch.inference_mode():
            hyps = run(decode(model, model.init_state(model.source_batch([words], device)), settings, stream=False))[0]
        result = Result(text, name, dict(settings.to_dict(), device=str(device)), hyps, time.perf_counter() - t0,
                        kind="translate", source_tokens=words)
        print_caption(result, settings.method, shown=" ".join(words))
        print("  aligned: " + "  ".join(f"{t}<-{words[int(a.argmax())]}" for t, a in zip(result.best.tokens,
                                                                                         result.best.attention)))
        write_translation(result, style, json=js, npz=npz, figure=fig, animation=anim, title=title,
                          values=args.values, seconds=args.frame_seconds, frame_size=args.frame_size)
    return 0


def write_translation(result, style, *, json=None, npz=None, figure=None, animation=None, title=None,
                      values=False, seconds: float = 1.0, frame_size: int = 512, hypothesis: int = 0,
                      log=print) -> list:
    """The requested files of one translation, each written atomically."""
    from ..export.alignment_figure import alignment_figure
    from ..export.data import write_result

    written = []
    if json is not None or npz is not None:
        paths = write_result(result, json, npz)
        log("  wrote " + " and ".join(str(p) for p in paths))
        written += paths
    if figure is not None:
        alignment_figure(result.hypotheses[hypothesis], result.source_tokens, figure, style, title=title, values=values)
        log(f"  wrote {figure}")
        written.append(figure)
    if animation is not None:
        from ..export.translation_animation import write_translation_animation

        write_translation_animation(result.source_tokens, result.hypotheses[hypothesis], animation, style,
                                    seconds=seconds, size=frame_size)
        log(f"  wrote {animation}")
        written.append(animation)
    return written


def _readable(model, words: list[str], text: str) -> list[str]:
    """The words the model reads: punctuation it never saw is dropped rather than read as <unk>."""
    from ..errors import MediaError

    kept = [w for w in words if w in model.source_index or any(ch.isalnum() for ch in w)]
    if not kept:
        raise MediaError(f"{_short(text)}: only punctuation, nothing to translate")
    if len(kept) > model.config.max_source_len:
        raise MediaError(f"{_short(text)}: {len(kept)} words; this model reads at most {model.config.max_source_len}")
    return kept


def _short(text: str, n: int = 40) -> str:
    return repr(text if len(text) <= n else text[: n - 1] + "…")


def train(args: argparse.Namespace) -> int:
    from .caption import check_writable
    from ..models.registry import pick_device
    from ..training.text import TranslateTrainSettings, train_translator

    settings = TranslateTrainSettings(
        out=args.out, train_size=args.train_size, val_size=args.val_size, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, score=args.score, attention=args.attention,
        encoder=args.encoder, reverse_source=args.reverse_source, seed=args.seed, init_seed=args.init_seed,
        device=str(pick_device(args.device)), minutes=args.minutes,
    ).validate()
    check_writable(settings.out)
    train_translator(settings, log=lambda m: print(m, flush=True))
    return 0


def evaluate(args: argparse.Namespace) -> int:
    from .caption import evaluation
    from ..export.data import write_json
    from ..models import registry
    from ..training.text import held_out_pairs, score_translator

    names, settings = evaluation(args, "translate")
    pairs = held_out_pairs(args.n, args.seed)
    print(f"{len(pairs)} held-out sentence pairs (seed {args.seed}), decoding: {settings.describe()}", flush=True)
    report = {}
    for name in names:
        model = registry.load(name, args.device, kind="translate")
        c = model.config
        report[name] = dict(score_translator(model, pairs, settings, by_role=True), score=c.score,
                            attention=c.attention, encoder=c.encoder, reversed=c.reverse_source)
    cols = ("BLEU", "exact match", "AER", "diagonal AER")
    width = max(len(n) for n in report) + 2
    print("model".ljust(width) + "".join(c.rjust(14) for c in cols) + "  attention")
    for name, row in report.items():
        cells = [f"{row['BLEU']:.2f}", f"{row['exact match']:.1%}", f"{row['AER']:.3f}", f"{row['diagonal AER']:.3f}"]
        how = f"{row['attention']} {row['score']}, {row['encoder']}" + (", reversed source" if row["reversed"] else "")
        print(name.ljust(width) + "".join(x.rjust(14) for x in cells) + "  " + how)
    roles = list(next(iter(report.values()))["right by word type"])
    print("\nattention peak on a gold link, by target word type:")
    print("model".ljust(width) + "".join(r.rjust(14) for r in roles))
    for name, row in report.items():
        print(name.ljust(width) + "".join(f"{row['right by word type'][r]:.1%}".rjust(14) for r in roles))
    if args.json:
        write_json(report, args.json)
    return 0


def add_parsers(sub) -> None:
    """translate, train translate and eval translate, on the subcommands of cli.py's parser."""
    from . import add_decoding, add_device, add_style

    tr = sub.add_parser("translate", help="translate sentences and show each word's attention over the source")
    tr.add_argument("sentences", nargs="*", metavar="SENTENCE", help="sentences to translate (quote each)")
    tr.add_argument("--file", help="a text file with one sentence a line")
    add_decoding(tr, DEFAULT_MODEL)
    tr.add_argument("--json", metavar="OUT", help="write the result (and its exact arrays beside it, as .npz)")
    tr.add_argument("--npz", metavar="OUT", help="write the exact attention arrays here (.npz)")
    tr.add_argument("--figure", metavar="OUT", help="write the alignment matrix (.png, .svg or .pdf)")
    tr.add_argument("--values", action="store_true", help="print each weight in the matrix's cells")
    tr.add_argument("--animation", metavar="OUT",
                    help="write the translation word by word, the source coloured by attention (.gif or .mp4)")
    tr.add_argument("--overwrite", action="store_true", help="replace output files that exist")
    add_style(tr, images=False)
    add_device(tr)


def add_train_parser(train_sub) -> None:
    from . import add_training

    tt = train_sub.add_parser("translate", help="train the translator on the generated language pair")
    add_training(tt, 100_000, 500, 5, 64, 2e-3, "pairs")
    tt.add_argument("--attention", default="global", choices=("global", "local"), help="Luong's global or local-p")
    tt.add_argument("--encoder", default="bigru", choices=("bigru", "gru"))
    tt.add_argument("--reverse-source", action="store_true", help="the encoder reads the source backwards")


def add_eval_parser(eval_sub) -> None:
    from . import add_device

    et = eval_sub.add_parser("translate", help="BLEU and alignment error rate on generated held-out pairs")
    et.add_argument("--model", action="append", help="model name or file (repeat to compare; default: all bundled)")
    et.add_argument("--n", type=int, default=1000, help="held-out sentence pairs")
    et.add_argument("--seed", type=int, default=12345, help="seed of the held-out pairs")
    et.add_argument("--beam", type=int, default=1, help="beam width (1: greedy)")
    et.add_argument("--json", metavar="OUT", help="also write the figures as JSON")
    add_device(et)

