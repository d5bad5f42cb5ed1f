"""Videos: a video captioner's attention is a vector over the frames it sampled (temporal attention)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..types import Result, whatif_note
from .base import (ANIMATION, ANIMATION_STYLE, COMPARISON_LABEL, FIGURE, PAGE, RESULT, TEXT_STYLE, Kind, Output,
                   WriteOptions, animation_frame)

VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".gif")
DEFAULT_STEPS = 12
PREVIEW_DPI = 60


class VideoKind(Kind):
    def read(self, source: str, config: dict, reverse: bool = False, progress=None, **options):
        """The `steps` frames the model will see, streamed (only those frames are kept); reversed:
        the same frames played backwards, so direction words should flip."""
        from ..media.frames import read_clip, reversed_clip

        clip = read_clip(source, int(config.get("steps") or DEFAULT_STEPS), progress=progress)
        return reversed_clip(clip) if reverse else clip

    def fit(self, media, model):
        from ..media.frames import read_clip, reversed_clip

        if len(media.frames) != model.config.steps:  # a pickle checkpoint has no header to read it from
            clip = read_clip(media.path, model.config.steps)
            return reversed_clip(clip) if media.reversed else clip
        return media

    def inputs(self, model, medias, device):
        import numpy as np
        import torch

        from ..media.frames import model_frames

        size = model.config.frame_size
        frames = np.stack([model_frames(m.frames, size) for m in medias])  # (B, T, S, S, 3) uint8
        return torch.from_numpy(frames).permute(0, 1, 4, 2, 3).float().to(device)  # as the model trains on

    def result(self, media, model_name, settings, hyps, seconds) -> Result:
        if media.reversed:
            settings = dict(settings, reversed=True)
        return Result(str(Path(media.path).resolve()), model_name, settings, hyps, seconds, media.size,
                      kind=self.name, frame_times=list(media.times))

    def summary(self, result):
        times = result.frame_times
        where = " (times of the clip played backwards)" if result.settings.get("reversed") else ""
        return "  looked at: " + "  ".join(f"{t}@{times[int(a.argmax())]:.2f}s"
                                           for t, a in zip(result.best.tokens, result.best.attention)) + where

    def reopen(self, result, result_path=None):
        import sys

        from ..errors import OutputError, printable
        from ..export.data import find_source
        from ..media.frames import read_clip, reversed_clip

        if not result.frame_times:
            raise OutputError(f"{result_path}: the result has no frame times; cannot draw its frames")
        clip = read_clip(find_source(result, result_path, self.noun), len(result.frame_times))
        if result.settings.get("reversed"):
            clip = reversed_clip(clip)
        if any(abs(a - b) > 1e-3 for a, b in zip(clip.times, result.frame_times)):
            print(f"attnviewer: note: {printable(clip.path)} has changed since the result was made (other frame times)",
                  file=sys.stderr)
        return clip

    def write(self, output, media, result, path, style, opts: WriteOptions) -> list[Path]:
        from ..export.temporal_figures import frame_strip_figure, top_frames_figure

        hyp = result.hypotheses[opts.hypothesis]
        if output == "figure":
            frame_strip_figure(media.frames, result.frame_times, hyp, path, style, title=opts.title,
                               details=frame_details(result, hyp))
        elif output == "top_frames":
            top_frames_figure(media.frames, result.frame_times, hyp, path, style, k=opts.top_k, title=opts.title,
                              details=frame_details(result, hyp))
        elif output == "animation":
            from ..export.video_animation import write_video_animation

            write_video_animation(media.frames, hyp, path, style, seconds=opts.seconds, size=opts.frame_size,
                                  on_frame=opts.progress, details=frame_details(result, hyp), note=whatif_note(result))
        elif output == "comparison":
            from ..export.comparison import comparison_figure

            entries, title = self.comparison(media, result, opts)
            comparison_figure("video", media, entries, path, style, title=title)
        else:
            return super().write(output, media, result, path, style, opts)
        return [Path(path)]

    def preview(self, output, media, result, style, opts: WriteOptions):
        from ..export.temporal_figures import frame_strip_figure, top_frames_figure

        hyp = result.hypotheses[opts.hypothesis]
        small = replace(style, dpi=min(style.dpi, PREVIEW_DPI))
        if output == "figure":
            return frame_strip_figure(media.frames, result.frame_times, hyp, None, small, title=opts.title,
                                      details=frame_details(result, hyp))
        if output == "top_frames":
            return top_frames_figure(media.frames, result.frame_times, hyp, None, small, k=opts.top_k,
                                     title=opts.title, details=frame_details(result, hyp))
        if output == "animation":
            from ..export.video_animation import video_frames

            return animation_frame(video_frames(media.frames, hyp, style, min(opts.frame_size, 480),
                                                frame_details(result, hyp), whatif_note(result)), hyp, opts)
        if output == "comparison":
            from ..export.comparison import comparison_figure

            entries, title = self.comparison(media, result, opts)
            return comparison_figure("video", media, entries, None, small, title=title)
        raise NotImplementedError(output)


def frame_details(result: Result, hyp):
    """A transformer's where-in-each-frame maps, (words, frames, rows, cols), through the lens its
    result was drawn with; None for models without heads or encoders without a patch grid."""
    from ..export.temporal_figures import where_in_frames

    return where_in_frames(result, hyp)


VIDEO = VideoKind(
    name="video", medium="video", noun="video", uses="captions videos", command="attnviewer video",
    default_model="video-shapes", suffixes=VIDEO_SUFFIXES,
    outputs={o.id: o for o in (
        Output("figure", "Frame strip with each word's attention over time", FIGURE, TEXT_STYLE),
        Output("top_frames", "Each word's most attended frames", FIGURE, TEXT_STYLE | {"top_k"}),
        Output("animation", "Animation, word by word (GIF or MP4)", ANIMATION, ANIMATION_STYLE),
        Output("comparison", COMPARISON_LABEL, FIGURE, TEXT_STYLE),
        RESULT,
        PAGE,
    )},
)
