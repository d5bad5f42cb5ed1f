"""Images: a captioner's attention is an H x W grid over the picture."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..media.images import IMAGE_SUFFIXES
from ..types import Result, whatif_note
from .base import (ANIMATION, ANIMATION_STYLE, COMPARISON_LABEL, FIGURE, PAGE, RESULT, TEXT_STYLE, Kind, Output,
                   WriteOptions, animation_frame)

PREVIEW_MAX_SIDE = 900  # pixels of a preview's long side
IMAGE_STYLE = TEXT_STYLE | {"smoothing"}


class ImageKind(Kind):
    def read(self, source: str, config: dict, **options):
        from ..media.images import load_image

        return load_image(source)

    def inputs(self, model, medias: list, device):
        import numpy as np
        import torch

        from ..media.images import model_input

        size = model.config.image_size
        resize = getattr(model.config, "resize", "opencv")
        pixels = torch.from_numpy(np.stack([model_input(m.rgb, size, resize) for m in medias]))
        return pixels.permute(0, 3, 1, 2).float().to(device)

    def result(self, media, model_name, settings, hyps, seconds) -> Result:
        return Result(str(Path(media.path).resolve()), model_name, settings, hyps, seconds,
                      tuple(media.rgb.shape[:2]), kind=self.name)

    def reopen(self, result, result_path=None):
        import sys

        from ..errors import printable
        from ..export.data import find_source
        from ..media.images import load_image

        image = load_image(find_source(result, result_path, self.noun))
        if result.image_size and tuple(image.rgb.shape[:2]) != tuple(result.image_size):
            print(f"attnviewer: note: {printable(image.path)} is now {image.rgb.shape[1]}x{image.rgb.shape[0]} pixels; the "
                  f"result was made from a {result.image_size[1]}x{result.image_size[0]} image", file=sys.stderr)
        return image

    def write(self, output, media, result, path, style, opts: WriteOptions) -> list[Path]:
        from ..export import figures

        hyp = result.hypotheses[opts.hypothesis]
        if output == "figure":
            figures.caption_figure(media.rgb, hyp, path, style, title=opts.title)
        elif output == "word":
            figures.word_figure(media.rgb, hyp, opts.word or 0, path, style, title=opts.word_title,
                                note=whatif_note(result))
        elif output == "overlay":
            figures.write_overlay(media.rgb, hyp.attention[opts.word or 0], path, style)
        elif output == "animation":
            from ..export.animation import write_animation

            write_animation(media.rgb, hyp, path, style, seconds=opts.seconds, size=opts.frame_size,
                            on_frame=opts.progress, note=whatif_note(result))
        elif output == "comparison":
            from ..export.comparison import comparison_figure

            entries, title = self.comparison(media, result, opts)
            comparison_figure("image", media.rgb, entries, path, style, title=title)
        else:
            return super().write(output, media, result, path, style, opts)
        return [Path(path)]

    def preview(self, output, media, result, style, opts: WriteOptions):
        import numpy as np

        from ..export import figures

        hyp = result.hypotheses[opts.hypothesis]
        image = np.asarray(media.rgb)
        index = opts.word or 0
        if output == "overlay":
            return figures.overlay_image(figures._display_copy(image, PREVIEW_MAX_SIDE), hyp.attention[index], style)
        if output == "animation":
            from ..export.animation import animation_frames

            return animation_frame(animation_frames(image, hyp, style, min(opts.frame_size, 480), whatif_note(result)),
                                   hyp, opts)
        if output == "comparison":
            from ..export.comparison import comparison_figure

            entries, title = self.comparison(media, result, opts)
            cols = max((1 + len(r.hypotheses[i].tokens) for r, i, _ in entries if 0 <= i < len(r.hypotheses)),
                       default=1)
            aspect = image.shape[0] / image.shape[1]
            width = 0.1 + cols * style.panel_inches + (cols - 1) * 0.08
            height = 0.1 + len(entries) * (style.font_size * 3.3 / 72 + style.panel_inches * aspect)
            small = replace(style, dpi=int(max(20, min(style.dpi, PREVIEW_MAX_SIDE / max(width, height)))))
            return comparison_figure("image", image, entries, None, small, title=title)
        panels = 1 + len(hyp.tokens) if output == "figure" else 1
        cols = max(1, min(style.columns, panels))
        rows = -(-panels // cols)
        aspect = image.shape[0] / image.shape[1]
        width = 0.1 + cols * style.panel_inches + (cols - 1) * 0.08
        height = 0.1 + rows * (style.font_size * 1.55 / 72 + style.panel_inches * aspect)
        small = replace(style, dpi=int(max(20, min(style.dpi, PREVIEW_MAX_SIDE / max(width, height)))))
        if output == "figure":
            return figures.caption_figure(image, hyp, None, small, opts.title)
        return figures.word_figure(image, hyp, index, None, small)


IMAGE = ImageKind(
    name="caption", medium="image", noun="image", uses="captions images", command="attnviewer caption",
    default_model="caption-shapes", suffixes=IMAGE_SUFFIXES,
    outputs={o.id: o for o in (
        Output("figure", "All words (the classic grid)", FIGURE, IMAGE_STYLE | {"columns"}),
        Output("word", "Current word", FIGURE, IMAGE_STYLE),
        Output("overlay", "Overlay alone, at the image's full resolution (PNG)", (".png",),
               frozenset({"cmap", "opacity", "smoothing", "scale"})),
        Output("animation", "Animation, word by word (GIF or MP4)", ANIMATION, ANIMATION_STYLE | {"smoothing"}),
        Output("comparison", COMPARISON_LABEL, FIGURE, IMAGE_STYLE),
        RESULT,
        PAGE,
    )},
)
