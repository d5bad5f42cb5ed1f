"""Reading images for display and for the model, with a clear error for every bad file.

Handles JPEG, PNG, BMP, TIFF and WebP; grayscale, palette, RGBA (composited on white), 16-bit
(scaled to 8-bit) and EXIF-rotated photos. Huge images are reduced while decoding where the
format allows it (JPEG draft mode) and downscaled right after, so memory stays bounded.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import MediaError, first_line

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
MIN_SIDE = 16  # smaller than this there is nothing to attend to
MAX_DISPLAY_SIDE = 2048  # the copy kept for display and figures
MAX_PIXELS = 300_000_000  # refuse decompression bombs before decoding
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v")  # named in the "not an image" message


@dataclass
class LoadedImage:
    path: str
    rgb: np.ndarray  # (H, W, 3) uint8, EXIF-upright, at most MAX_DISPLAY_SIDE on its long side
    original_size: tuple[int, int]  # (width, height) of the file, upright


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
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    check_file(path)
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
    with img:
        w, h = img.size
        if w * h > MAX_PIXELS:
            raise MediaError(f"{path}: image is too large to open ({w}x{h} pixels)")
        if min(w, h) < MIN_SIDE:
            raise MediaError(f"{path}: image is only {w}x{h} pixels; at least {MIN_SIDE}x{MIN_SIDE} is needed")
        try:
            turned = img.getexif().get(0x0112, 1) in (5, 6, 7, 8)  # EXIF orientations that swap sides
            if img.format == "JPEG" and max(w, h) > max_side:
                img.draft("RGB", (max_side, max_side))  # decode at a reduced scale
            img.load()
            img = ImageOps.exif_transpose(img)
            rgb = _to_rgb8(img)
        except (OSError, SyntaxError, ValueError) as e:
            raise MediaError(f"{path}: truncated or corrupt image data ({first_line(e)})") from None
    orig = (h, w) if turned else (w, h)
    if max(rgb.shape[:2]) > max_side:
        scale = max_side / max(rgb.shape[:2])
        size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return LoadedImage(str(path), np.ascontiguousarray(rgb), orig)


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


def model_input(rgb: np.ndarray, size: int) -> np.ndarray:
    """Resize to the model's square input (the whole image, squashed, as Show-Attend-Tell does)."""
    interp = cv2.INTER_AREA if max(rgb.shape[:2]) > size else cv2.INTER_LINEAR
    return cv2.resize(rgb, (size, size), interpolation=interp)
