"""Reading images for display and for the model, with a clear error for every bad file.

Handles JPEG, PNG, BMP, TIFF and WebP; grayscale, palette, RGBA (composited on white), 16-bit
(scaled to 8-bit) and EXIF-rotated photos. Huge images are reduced while decoding where the
format allows it (JPEG draft mode) and downscaled right after, so memory stays bounded.

Every file is untrusted: whatever the decoder raises (a text or colour-profile chunk that
decompresses past Pillow's limit, a broken header, a codec error) becomes one MediaError line, and
the decoder's Python warnings (damaged EXIF data, ...) are caught here and kept as one-line notes on
the LoadedImage (`notes`) instead of reaching stderr.

Memory is bounded whatever the file says. An image of more than MAX_PIXELS (width times height,
so a 16-pixel-wide strip of any length counts the same as a square) is refused from its header.
Below that, nothing is held at full size longer than it must be: a JPEG is decoded at a reduced
scale (draft mode, up to 1/8 per side); a large PNG, the usual form of a decompression bomb, is
decoded in strips, each reduced before the next is read (strips.py: under 100 MB for any image
up to a million pixels wide; a strip is at least one row, so the widest rows the limit allows,
9 M pixels, take about 400 MB); other formats (and interlaced or 16-bit RGB PNGs) are decoded whole, then
converted and reduced a band at a time, so they peak at about 4 bytes a pixel (600 MB at the limit).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..errors import MediaError, first_line, warning_line
from . import strips as _strips

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
MIN_SIDE = 16  # smaller than this there is nothing to attend to
MAX_DISPLAY_SIDE = 2048  # the copy kept for display and figures
# Refused from the header, before decoding: 150 M pixels lets a 12,000 x 12,000 photo (144 M) open,
# and bounds what a format decoded whole can take (Pillow holds RGB as 4 bytes a pixel: 600 MB).
MAX_PIXELS = 150_000_000
STRIPS_FROM = 8_000_000  # a PNG of more pixels than this is decoded in strips (strips.py)
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v")  # named in the "not an image" message


@dataclass
class LoadedImage:
    path: str
    rgb: np.ndarray  # (H, W, 3) uint8, EXIF-upright, at most MAX_DISPLAY_SIDE on its long side
    original_size: tuple[int, int]  # (width, height) of the file, upright
    notes: list[str] = field(default_factory=list)  # one line each: what the decoder warned about


def _looks_like_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def check_file(path: Path) -> None:
    """The problems a path can have before anything is decoded."""
    if not path.exists():
        raise MediaError(f"{path}: no such file")
    if path.is_dir():
        raise MediaError(f"{path}: is a folder, not an image")
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: file is empty (0 bytes)")


def load_image(path: str | Path, max_side: int = MAX_DISPLAY_SIDE) -> LoadedImage:
    path = Path(path)
    check_file(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        image = _decode(path, max_side)
    image.notes = _notes(path, caught)
    return image


def _notes(path: Path, caught) -> list[str]:
    """The decoder's warnings as our own one-line notes (each said once; the warning's own text
    made one escaped line of at most 300 characters by warning_line)."""
    notes: list[str] = []
    for w in caught:
        text = warning_line(w.message, w.category)
        low = text.lower()
        if "exif" in low:
            note = f"{path}: note: the EXIF data is damaged; it was ignored ({text})"
        elif "decompression" in low or "bomb" in low:
            note = f"{path}: note: a very large image ({text})"
        else:
            note = f"{path}: note: {text}"
        if note not in notes:
            notes.append(note)
    return notes


def _decode(path: Path, max_side: int) -> LoadedImage:
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = None  # we check the size ourselves, with a clearer message
    try:
        img = Image.open(path)
    except UnidentifiedImageError:
        with open(path, "rb") as f:
            head = f.read(512)
        if path.suffix.lower() in VIDEO_SUFFIXES:
            raise MediaError(f"{path}: is a video, not an image; caption it with `attnviewer video {path.name}`")
        what = "the file holds text" if _looks_like_text(head) else "unknown or unsupported format"
        raise MediaError(f"{path}: not an image ({what})") from None
    except OSError as e:
        raise MediaError(f"{path}: cannot open ({e})") from None
    except MemoryError:
        raise MediaError(f"{path}: cannot open (not enough memory to read its header)") from None
    except Exception as e:  # any decoder error, e.g. ValueError "Decompressed Data Too Large" of a text chunk
        raise MediaError(f"{path}: cannot open ({first_line(e)})") from None
    with img:
        try:
            w, h = img.size
        except Exception as e:
            raise MediaError(f"{path}: cannot open ({first_line(e)})") from None
        if w * h > MAX_PIXELS:
            raise MediaError(f"{path}: image is too large to open ({w}x{h} pixels; at most {MAX_PIXELS:,} are read)")
        if min(w, h) < MIN_SIDE:
            raise MediaError(f"{path}: image is only {w}x{h} pixels; at least {MIN_SIDE}x{MIN_SIDE} is needed")
        try:
            # before getexif(), which makes Pillow decode a PNG whole
            strips = _strips.decode_png(path, max_side, _to_rgb8) if img.format == "PNG" and w * h > STRIPS_FROM else None
            if strips is not None:
                rgb, orig = strips
            else:
                try:
                    orientation = img.getexif().get(0x0112, 1)
                except Exception as e:  # damaged EXIF: drawn as stored
                    warnings.warn(f"EXIF data could not be read ({first_line(e)})")
                    orientation = 1
                if img.format == "JPEG" and max(w, h) > max_side:
                    img.draft("RGB", (max_side, max_side))  # decode at a reduced scale
                img.load()
                rgb = _reduced_rgb(img, max_side)
                if orientation != 1:
                    rgb = np.asarray(_strips.upright(Image.fromarray(rgb), orientation))
                orig = (h, w) if orientation in (5, 6, 7, 8) else (w, h)  # EXIF orientations that swap sides
        except MemoryError:
            raise MediaError(f"{path}: image is too large to open ({w}x{h} pixels)") from None
        except Exception as e:  # OSError, SyntaxError, ValueError, struct.error, zlib.error ... of any decoder
            raise MediaError(f"{path}: truncated or corrupt image data ({first_line(e)})") from None
    if max(rgb.shape[:2]) > max_side:
        scale = max_side / max(rgb.shape[:2])
        size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return LoadedImage(str(path), np.ascontiguousarray(rgb), orig)


def _reduced_rgb(img, max_side: int) -> np.ndarray:
    """A decoded image as RGB, reduced by a whole factor (box average) to at least max_side on its
    long side without a full-size copy (converting a huge image whole would cost as much again)."""
    w, h = img.size
    factor = max(w, h) // max_side
    if factor < 2:
        return _to_rgb8(img)
    if img.mode in ("L", "LA", "RGB", "RGBA", "I", "F"):  # Pillow reduces these itself, then converts
        return _to_rgb8(img.reduce(factor))
    return _strips.reduce_bands(img, factor, _to_rgb8)  # palette, 1-bit, 16-bit, CMYK ...


def _to_rgb8(img) -> np.ndarray:
    """Any PIL mode -> (H, W, 3) uint8 RGB."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img)  # integers: no float copy of a large 16-bit scan
        deep = mode.startswith("I;16") or int(arr.max()) > 255
        gray = (np.clip(arr, 0, 65535) // 257 if deep else np.clip(arr, 0, 255)).astype(np.uint8)  # 65535 -> 255
        return np.repeat(gray[..., None], 3, axis=2)
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        gray = ((arr - lo) / (hi - lo or 1.0) * 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        from PIL import Image

        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))
    return np.asarray(img.convert("RGB"))


def model_input(rgb: np.ndarray, size: int, resize: str = "opencv") -> np.ndarray:
    """Resize to the model's square input (the whole image, squashed, as Show-Attend-Tell does).
    "opencv": area averaging down, bilinear up (what the project's models were trained with);
    "pil-bilinear": Pillow's bilinear filter, as the Show-Attend-Tell tutorial's preprocessing
    (scipy's imresize) does, so an imported tutorial model sees the pixels it was trained on."""
    if resize == "pil-bilinear":
        from PIL import Image

        return np.asarray(Image.fromarray(rgb).resize((size, size), Image.BILINEAR))
    interp = cv2.INTER_AREA if max(rgb.shape[:2]) > size else cv2.INTER_LINEAR
    return cv2.resize(rgb, (size, size), interpolation=interp)
