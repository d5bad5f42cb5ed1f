"""Sentences: a translator's attention is a vector over the source words (an alignment)."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from ..types import Result, whatif_note
from .base import (ANIMATION, ANIMATION_STYLE, COMPARISON_LABEL, FIGURE, PAGE, RESULT, TEXT_STYLE, Kind, Output,
                   WriteOptions, animation_frame)

PREVIEW_DPI = 60


@dataclass
class Sentence:
    """A sentence to translate: the text as typed and the words the model reads."""

    text: str
    words: list[str]
    unknown: list[str] = field(default_factory=list)  # words the model does not know (read as <unk>)

    @property
    def path(self) -> str:  # what names the input in messages and titles
        return self.text


def short(text: str, n: int = 40) -> str:
    return repr(text if len(text) <= n else text[: n - 1] + "…")


class TextKind(Kind):
    def accepts(self, source: str) -> bool:
        return False  # a sentence is typed; files of sentences are read by the translate command

    def read(self, source: str, config: dict, **options) -> Sentence:
        from ..media.text import source_words, tokenize

        split = tokenize
        if config.get("tokenizer") == "corpus":  # trained on a corpus: split as its pairs were read
            from ..data.corpus import tokenize as corpus_tokenize

            def split(text: str) -> list[str]:
                return corpus_tokenize(text, keep_punctuation=True)
        return Sentence(source, source_words(source, config.get("max_source_len"), where=short(source), split=split))

    def fit(self, media: Sentence, model) -> Sentence:
        """The words the model reads: punctuation it never saw is dropped rather than read as <unk>."""
        from ..errors import MediaError

        if hasattr(model, "sentence_words"):  # a transformer reads the text in its own pieces: its words
            return Sentence(media.text, model.sentence_words(media.text))
        kept = [w for w in media.words if w in model.source_index or any(ch.isalnum() for ch in w)]
        if not kept:
            raise MediaError(f"{short(media.text)}: only punctuation, nothing to translate")
        if len(kept) > model.config.max_source_len:
            raise MediaError(f"{short(media.text)}: {len(kept)} words; this model reads at most "
                             f"{model.config.max_source_len}")
        return Sentence(media.text, kept, model.unknown_words(kept))

    def inputs(self, model, medias, device):
        if hasattr(model, "sentence_words"):
            return model.source_batch([m.text for m in medias], device)
        return model.source_batch([m.words for m in medias], device)

    def result(self, media, model_name, settings, hyps, seconds) -> Result:
        n = len(media.words)
        for h in hyps:  # a batch pads shorter sentences: their attention ends at their own length
            h.attention = h.attention[:, :n]
        return Result(media.text, model_name, settings, hyps, seconds, kind=self.name, source_tokens=list(media.words))

    def shown(self, media) -> str:
        return " ".join(media.words)

    def summary(self, result):
        words = result.source_tokens
        return "  aligned: " + "  ".join(f"{t}<-{words[int(a.argmax())]}"
                                         for t, a in zip(result.best.tokens, result.best.attention))

    def reopen(self, result, result_path=None) -> Sentence:
        from ..errors import OutputError

        if not result.source_tokens:
            raise OutputError(f"{result_path}: the translation's source words are missing; cannot label the matrix")
        return Sentence(result.source, list(result.source_tokens))

    def same_input(self, media, other) -> bool:
        """The same sentence as typed (models may keep different words of it: punctuation)."""
        return media.text.lower().split() == other.text.lower().split()

    def write(self, output, media, result, path, style, opts: WriteOptions) -> list[Path]:
        hyp = result.hypotheses[opts.hypothesis]
        if output == "figure":
            from ..export.alignment_figure import alignment_figure

            alignment_figure(hyp, result.source_tokens, path, style, title=opts.title, values=opts.values,
                             specials=opts.specials)
        elif output == "animation":
            from ..export.translation_animation import write_translation_animation

            write_translation_animation(result.source_tokens, hyp, path, style, seconds=opts.seconds,
                                        size=opts.frame_size, on_frame=opts.progress, note=whatif_note(result))
        elif output == "comparison":
            from ..export.comparison import comparison_figure

            entries, title = self.comparison(media, result, opts)
            comparison_figure("text", media, entries, path, style, title=title, values=opts.values)
        else:
            return super().write(output, media, result, path, style, opts)
        return [Path(path)]

    def preview(self, output, media, result, style, opts: WriteOptions):
        hyp = result.hypotheses[opts.hypothesis]
        if output == "figure":
            from ..export.alignment_figure import alignment_figure

            return alignment_figure(hyp, result.source_tokens, None, replace(style, dpi=min(style.dpi, PREVIEW_DPI)),
                                    title=opts.title, values=opts.values, specials=opts.specials)
        if output == "animation":
            from ..export.translation_animation import translation_frames

            frames = translation_frames(result.source_tokens, hyp, style, min(opts.frame_size, 480),
                                        whatif_note(result))
            return animation_frame(frames, hyp, opts)
        if output == "comparison":
            from ..export.comparison import comparison_figure

            entries, title = self.comparison(media, result, opts)
            return comparison_figure("text", media, entries, None, replace(style, dpi=min(style.dpi, PREVIEW_DPI)),
                                     title=title, values=opts.values)
        raise NotImplementedError(output)


MATRIX_STYLE = (TEXT_STYLE - {"opacity"}) | {"values"}  # a matrix's cells are opaque: no overlay to fade

TEXT = TextKind(
    name="translate", medium="text", noun="sentence", uses="translates sentences", command="attnviewer translate",
    default_model="translate-sov",
    outputs={o.id: o for o in (
        Output("figure", "Alignment matrix", FIGURE, MATRIX_STYLE),
        Output("animation", "Animation, word by word (GIF or MP4)", ANIMATION, ANIMATION_STYLE),
        Output("comparison", COMPARISON_LABEL, FIGURE, MATRIX_STYLE),
        RESULT,
        PAGE,
    )},
)
