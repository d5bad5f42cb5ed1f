"""A caption written word by word: one frame per word, the image with that word's attention over
it and the caption so far above, the current word highlighted. GIF (Pillow) or MP4 (PyAV, with
an H.264 or MPEG-4 encoder when the installed FFmpeg has one).

Frames are drawn with Pillow in the figure's font (the TrueType file matplotlib resolves for the
style's family); every frame has the same size, even on both sides (yuv420p video needs it).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from ..errors import OutputError, SettingsError
from ..types import Hypothesis
from .figures import FigureStyle, atomic_path, font_file, overlay_image

ANIMATION_FORMATS = (".gif", ".mp4")
MP4_ENCODERS = ("libx264", "h264", "libopenh264", "mpeg4")  # tried in this order
VIDEO_FPS = 10  # each word's frame is repeated for its seconds: every player seeks and loops it

TEXT = (25, 25, 25)
DONE_TEXT = (90, 90, 90)
HIGHLIGHT = (255, 226, 110)
PROB_TEXT = (120, 120, 120)
NOTE_TEXT = (190, 40, 30)  # the what-if note: not the model's own reading


def _fonts(style: FigureStyle, px: int):
    from PIL import ImageFont

    try:
        regular = ImageFont.truetype(font_file(style.font_family), px)
        try:
            bold = ImageFont.truetype(font_file(style.font_family, bold=True), px)
        except Exception:
            bold = regular
        small = ImageFont.truetype(font_file(style.font_family), max(8, round(px * 0.72)))
    except OSError:  # no TrueType support in this Pillow: its own font
        regular = bold = ImageFont.load_default(px)
        small = ImageFont.load_default(max(8, round(px * 0.72)))
    return regular, bold, small


def _layout(words: list[str], current: int | None, probs: list[float], fonts, width: float, show_prob: bool):
    """Lines of (x, text, font, colour, highlighted) for the caption up to word `current`
    (None: all the words, none highlighted)."""
    regular, bold, small = fonts
    space = regular.getlength(" ")
    lines, line, x = [], [], 0.0
    for i in range(len(words) if current is None else current + 1):
        pieces = [(words[i], bold if i == current else regular, TEXT if i == current else DONE_TEXT, i == current)]
        if i == current and show_prob:
            pieces.append((f" {probs[i]:.2f}", small, PROB_TEXT, False))
        w = sum(f.getlength(t) for t, f, _, _ in pieces)
        if line and x + space + w > width:
            lines.append(line)
            line, x = [], 0.0
        if line:
            x += space
        for t, f, colour, hi in pieces:
            line.append((x, t, f, colour, hi))
            x += f.getlength(t)
    lines.append(line)
    return lines


def text_setup(style: FigureStyle, size: int):
    """(px, fonts, margin, line height) of the text of an animation `size` px on its long side."""
    px = max(10, round(style.font_size / 11 * 0.05 * max(size, 240)))
    return px, _fonts(style, px), round(px * 0.6), round(px * 1.45)


def caption_layouts(hyp: Hypothesis, fonts, width: float, style: FigureStyle, note: str | None = None) -> list:
    """The caption so far at each word (the word highlighted); one "(no words)" line if empty.
    note: a line above every frame's caption (what a what-if or reversed run changed: types.whatif_note)."""
    if not hyp.tokens:
        layouts = [[[(0.0, "(no words)", fonts[0], PROB_TEXT, False)]]]
    else:
        layouts = [_layout(hyp.tokens, i, hyp.probs, fonts, width, style.show_prob) for i in range(len(hyp.tokens))]
    if not note:
        return layouts
    small = fonts[2]
    head = [[(x, t, f, NOTE_TEXT, False) for x, t, f, _, _ in line]
            for line in _layout(note.split(" "), None, [], (small, small, small), width, False)]
    return [head + lay for lay in layouts]


def frame_size(image_shape: tuple[int, ...], size: int) -> tuple[int, int]:
    """(height, width) of the picture part of a frame: long side `size`, both sides even."""
    h, w = image_shape[:2]
    s = size / max(h, w)
    return max(2, round(h * s / 2) * 2), max(2, round(w * s / 2) * 2)


def animation_frames(image: np.ndarray, hyp: Hypothesis, style: FigureStyle | None = None,
                     size: int = 512, note: str | None = None) -> Iterator[np.ndarray]:
    """(H, W, 3) uint8 frames, one per word (one plain frame for an empty caption)."""
    from PIL import Image, ImageDraw

    style = (style or FigureStyle()).validate()
    ph, pw = frame_size(image.shape, size)
    big = max(ph, pw) > max(image.shape[:2])
    picture = cv2.resize(np.ascontiguousarray(image[..., :3]), (pw, ph),
                         interpolation=cv2.INTER_CUBIC if big else cv2.INTER_AREA)
    px, fonts, margin, line_h = text_setup(style, size)
    layouts = caption_layouts(hyp, fonts, pw - 2 * margin, style, note)
    band = 2 * margin + max(len(lay) for lay in layouts) * line_h - round(px * 0.3)
    height = band + ph
    height += height % 2
    if not hyp.tokens:
        pictures = [picture]
    else:
        pictures = (overlay_image(picture, hyp.attention[i], style) for i in range(len(hyp.tokens)))
    for lay, pic in zip(layouts, pictures):
        frame = Image.new("RGB", (pw, height), (255, 255, 255))
        frame.paste(Image.fromarray(pic), (0, height - ph))
        draw_lines(ImageDraw.Draw(frame), lay, margin, margin, px, line_h)
        yield np.asarray(frame)


def draw_lines(draw, lines, left: float, top: float, px: int, line_h: int, fills=None) -> None:
    """Draw _layout's lines from (left, top): highlighted pieces on a yellow box, or on the colour
    fills[k] gives the k-th piece (None: no box)."""
    k = 0
    for row, line in enumerate(lines):
        base = top + row * line_h + px  # baseline
        for x, text, font, colour, hi in line:
            fill = HIGHLIGHT if hi else (fills[k] if fills is not None else None)
            if fill is not None:
                l, t, r, b = draw.textbbox((left + x, base), text, font=font, anchor="ls")
                pad = round(px * 0.14)
                draw.rounded_rectangle((l - pad, base - px * 0.95, r + pad, base + px * 0.3), radius=pad, fill=fill)
            draw.text((left + x, base), text, font=font, fill=colour, anchor="ls")
            k += 1


@lru_cache(maxsize=1)
def mp4_encoder() -> str | None:
    """The first encoder of MP4_ENCODERS that really encodes here (None if PyAV or all are missing)."""
    import io

    try:
        import av
    except ImportError:
        return None
    for name in MP4_ENCODERS:
        try:
            av.codec.Codec(name, "w")
            with av.open(io.BytesIO(), mode="w", format="mp4") as box:
                stream = box.add_stream(name, rate=VIDEO_FPS)
                stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
                frame = av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24")
                for packet in stream.encode(frame):
                    box.mux(packet)
                for packet in stream.encode():
                    box.mux(packet)
            return name
        except Exception:  # unknown here, or present but unusable (a GPU encoder without a GPU)
            continue
    return None


def write_animation(image: np.ndarray, hyp: Hypothesis, out: str | Path, style: FigureStyle | None = None,
                    seconds: float = 1.0, size: int = 512, on_frame=None, note: str | None = None) -> Path:
    """The caption word by word as a GIF or an MP4, `seconds` per word, frames `size` px on the long side.

    on_frame(done, total) is called after each frame is drawn; raising from it stops the export
    and leaves no file behind (the app reports progress and cancels with it).
    """
    return write_frames(lambda: animation_frames(image, hyp, style, size, note), len(hyp.tokens), out, seconds, size,
                        on_frame)


def write_frames(make_frames, count: int, out: str | Path, seconds: float = 1.0, size: int = 512,
                 on_frame=None) -> Path:
    """Frames (from make_frames(), `count` of them) written as a GIF or MP4, `seconds` each;
    the format, timing and encoder are checked before any frame is drawn."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in ANIMATION_FORMATS:
        raise OutputError(f"{out}: unsupported animation format; use one of {', '.join(ANIMATION_FORMATS)}")
    check_timing(seconds, size)
    if suffix == ".mp4":
        codec = check_mp4(out)
    frames = make_frames()
    if on_frame is not None:
        frames = _reporting(frames, max(1, count), on_frame)
    with atomic_path(out) as tmp:
        if suffix == ".gif":
            _write_gif(frames, tmp, seconds)
        else:
            _write_mp4(frames, tmp, seconds, codec, out)
    return out


def _reporting(frames, total: int, on_frame):
    on_frame(0, total)
    for i, frame in enumerate(frames):
        yield frame
        on_frame(i + 1, total)


def check_timing(seconds: float, size: int) -> None:
    """SettingsError for a frame time or frame size that makes no animation."""
    if not 0.05 <= seconds <= 60:
        raise SettingsError(f"each word must show for 0.05 to 60 seconds, got {seconds:g}")
    if not 32 <= size <= 4096:
        raise SettingsError(f"the animation's long side must be 32 to 4096 pixels, got {size}")


def check_mp4(out: str | Path) -> str:
    """The encoder an MP4 will use; OutputError saying what is missing otherwise."""
    try:
        import av  # noqa: F401
    except ImportError:
        raise OutputError(f"{out}: writing MP4 needs PyAV (pip install av); write a .gif instead") from None
    codec = mp4_encoder()
    if codec is None:
        raise OutputError(f"{out}: this FFmpeg build has no H.264 or MPEG-4 encoder; write a .gif instead")
    return codec


GIF_PALETTE_SAMPLE = 1 << 20  # pixels of all the frames the shared palette is built from


def gif_palette(frames: list[np.ndarray]):
    """One adaptive palette (a "P" image) for a whole animation, built from an even sample of the
    pixels of all its frames: the same colour is the same index in every frame."""
    from PIL import Image

    total = sum(f.shape[0] * f.shape[1] for f in frames)
    step = max(1, int(np.ceil(np.sqrt(total / GIF_PALETTE_SAMPLE))))
    sample = np.concatenate([f[::step, ::step].reshape(-1, 3) for f in frames])
    width = 1024
    rows = -(-len(sample) // width)
    sample = np.concatenate([sample, np.repeat(sample[-1:], rows * width - len(sample), axis=0)])
    return Image.fromarray(np.ascontiguousarray(sample.reshape(rows, width, 3))).quantize(
        256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)


def _write_gif(frames, tmp: str, seconds: float) -> None:
    """One palette for all the frames and no dithering: flat areas stay flat (no speckle) and a
    colour does not flicker from frame to frame."""
    from PIL import Image

    arrays = [np.ascontiguousarray(f[..., :3]) for f in frames]
    palette = gif_palette(arrays)
    images = [Image.fromarray(f).quantize(palette=palette, dither=Image.Dither.NONE) for f in arrays]
    images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], palette=palette.getpalette(),
                   duration=round(seconds * 1000), loop=0, optimize=False, disposal=1)  # the palette once, global


def _write_mp4(frames, tmp: str, seconds: float, codec: str, out: Path) -> None:
    from fractions import Fraction

    import av

    repeat = max(1, round(seconds * VIDEO_FPS))
    try:
        with av.open(tmp, mode="w", format="mp4", options={"movflags": "faststart"}) as box:
            stream, pts = None, 0
            for arr in frames:
                if stream is None:
                    stream = box.add_stream(codec, rate=VIDEO_FPS)
                    stream.height, stream.width = arr.shape[:2]
                    stream.pix_fmt = "yuv420p"
                    stream.time_base = Fraction(1, VIDEO_FPS)
                    if codec in ("libx264", "h264"):
                        stream.options = {"crf": "18"}
                    else:
                        stream.bit_rate = 4_000_000
                for _ in range(repeat):
                    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24")
                    frame.pts, frame.time_base = pts, Fraction(1, VIDEO_FPS)
                    pts += 1
                    for packet in stream.encode(frame):
                        box.mux(packet)
            for packet in stream.encode():
                box.mux(packet)
    except OSError:
        raise  # atomic_path turns it into one readable line (full disk, no permission)
    except av.error.FFmpegError as e:  # pragma: no cover - an encoder failing mid-way
        raise OutputError(f"{out}: the video encoder failed ({e})") from None
