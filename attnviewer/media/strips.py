"""Large images decoded and reduced in strips, so that memory stays bounded.

Pillow decodes a PNG whole: a 16 x 9,000,000 PNG (about a megabyte, legal) holds 144 M pixels,
576 MB as Pillow stores them, before anything can be reduced. Here the compressed stream is
inflated a strip of rows at a time (about STRIP_PIXELS pixels) and each strip is box-reduced by
the image's factor before the next is read, so memory is a few strips plus the reduced picture,
whatever the image's size or shape.

PNG rows are filtered against the row above them. Each strip is unfiltered by Pillow itself:
its rows are given to Pillow as a small PNG of the same bytes per pixel whose first row is the
last unfiltered row of the strip before (stored with filter 0), so the filters see what they
would have seen; the unfiltered bytes then go, as filter-0 rows of a PNG of the file's own type
(its palette and transparency copied), through the usual conversion to 8-bit RGB (images.py).

Interlaced PNGs, and 16-bit RGB(A) (6 or 8 bytes per pixel, which no 8-bit PNG type matches),
are not done here: `decode_png` returns None and they are decoded whole, within the pixel limit.
An image decoded whole is still converted to RGB a band at a time (`reduce_bands`), so that no
full-size copy is made. Both reduce with one `Reducer`: a box average of factor x factor pixels.
"""
from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np

STRIP_PIXELS = 2_000_000  # pixels of one strip; a strip costs about 25 bytes a pixel while it is worked on
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # colour type -> samples per pixel
_SAME_BPP = {1: 0, 2: 4, 3: 2, 4: 6}  # bytes per pixel -> 8-bit colour type with as many (grey, GA, RGB, RGBA)
_READ = 1 << 20  # compressed bytes read at a time
_CHUNK_MAX = 1 << 20  # a palette, transparency or EXIF chunk larger than this is not ours to read
_ORIENTATION = 0x0112


class PngError(ValueError):
    """The PNG's data is damaged (said in one line by the caller, as any decoder error)."""


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png(width: int, height: int, depth: int, colour: int, extra: bytes, *rows: bytes) -> bytes:
    """A whole PNG around rows already filtered (each with its filter byte), stored, not compressed;
    built with one copy of the rows (a single row of a wide image may be tens of MB)."""
    head = _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0))
    z = zlib.compressobj(0)
    data = [z.compress(r) for r in rows] + [z.flush()]
    crc = b"IDAT"
    crc = zlib.crc32(crc)
    for part in data:
        crc = zlib.crc32(part, crc)
    size = sum(len(part) for part in data)
    return b"".join([b"\x89PNG\r\n\x1a\n", head, extra, struct.pack(">I", size), b"IDAT", *data,
                     struct.pack(">I", crc & 0xFFFFFFFF), _chunk(b"IEND", b"")])


class _Stream:
    """The chunks of a PNG file read in order: the small ones kept, the image data inflated a
    bounded amount at a time (`rows(n)`), every chunk's CRC checked."""

    def __init__(self, f):
        self.f = f
        if f.read(8) != b"\x89PNG\r\n\x1a\n":
            raise PngError("not a PNG signature")
        kind, data = self._next()
        if kind != b"IHDR" or len(data) != 13:
            raise PngError("the PNG does not start with its header")
        self.width, self.height, self.depth, self.colour, _, _, self.interlace = struct.unpack(">IIBBBBB", data)
        self.kept: dict[bytes, bytes] = {}
        self.inflater = zlib.decompressobj()
        self.pending = bytearray()
        self.idat_left = 0  # bytes of the current IDAT chunk not read yet
        self.crc = 0
        self.ended = False
        self.done = 0  # rows handed out
        while True:  # up to the first image data
            length, kind = self._head()
            if kind == b"IDAT":
                self._start_idat(length, kind)
                break
            self._keep(kind, self._body(length, kind))

    def _head(self) -> tuple[int, bytes]:
        head = self.f.read(8)
        if len(head) < 8:
            raise PngError("the file is truncated")
        length, kind = struct.unpack(">I4s", head)
        if length > 0x7FFFFFFF:
            raise PngError(f"a chunk declares {length} bytes")
        return length, kind

    def _next(self) -> tuple[bytes, bytes]:
        length, kind = self._head()
        return kind, self._body(length, kind)

    def _body(self, length: int, kind: bytes) -> bytes:
        if length > _CHUNK_MAX and kind in (b"PLTE", b"tRNS", b"eXIf", b"IHDR"):
            raise PngError(f"its {kind.decode('latin-1')} chunk is {length} bytes")
        if length > _CHUNK_MAX:  # a chunk we do not use: skipped unread
            self.f.seek(length + 4, io.SEEK_CUR)
            return b""
        data = self.f.read(length)
        crc = self.f.read(4)
        if len(data) < length or len(crc) < 4:
            raise PngError("the file is truncated")
        if struct.unpack(">I", crc)[0] != zlib.crc32(kind + data) & 0xFFFFFFFF:
            raise PngError(f"broken {kind.decode('latin-1')} chunk (CRC mismatch)")
        return data

    def _keep(self, kind: bytes, data: bytes) -> None:
        if kind in (b"PLTE", b"tRNS", b"eXIf"):
            self.kept[kind] = data

    def _start_idat(self, length: int, kind: bytes) -> None:
        self.idat_left = length
        self.crc = zlib.crc32(kind)

    def _compressed(self) -> bytes:
        """The next piece of the image data (b"" at its end); chunks after it are kept (EXIF)."""
        while self.idat_left == 0:
            if self.ended:
                return b""
            crc = self.f.read(4)
            if len(crc) < 4 or struct.unpack(">I", crc)[0] != self.crc & 0xFFFFFFFF:
                raise PngError("broken IDAT chunk (CRC mismatch)" if len(crc) == 4 else "the file is truncated")
            length, kind = self._head()
            if kind == b"IDAT":
                self._start_idat(length, kind)
                continue
            self.ended = True
            while kind != b"IEND":
                self._keep(kind, self._body(length, kind))
                length, kind = self._head()
            return b""
        piece = self.f.read(min(self.idat_left, _READ))
        if not piece:
            raise PngError("the file is truncated")
        self.idat_left -= len(piece)
        self.crc = zlib.crc32(piece, self.crc)
        return piece

    def rows(self, n: int, stride: int) -> bytes:
        """The next n filtered rows (stride bytes each, filter byte first); PngError if the data ends."""
        need = n * stride
        while len(self.pending) < need:
            tail = self.inflater.unconsumed_tail
            piece = tail if tail else self._compressed()
            if not piece:
                raise PngError(f"truncated image data (it ends after {self.row_count(stride)} of {self.height} rows)")
            try:
                self.pending += self.inflater.decompress(piece, max(need - len(self.pending), 1 << 16))
            except zlib.error as e:
                raise PngError(f"broken image data ({e})") from None
        out = bytes(self.pending[:need])
        del self.pending[:need]
        self.done += n
        return out

    def row_count(self, stride: int) -> int:
        return self.done + len(self.pending) // stride

    def finish(self) -> None:
        """Read to the end (chunks after the image data: EXIF may be there)."""
        while not self.ended:
            self._compressed()


def _orientation(exif: bytes | None) -> int:
    if not exif:
        return 1
    from PIL import Image

    try:
        ex = Image.Exif()
        ex.load(exif)
        value = ex.get(_ORIENTATION, 1)
        return value if value in range(1, 9) else 1
    except Exception:  # damaged EXIF: drawn as stored
        return 1


def decode_png(path: Path, max_side: int, to_rgb8) -> tuple[np.ndarray, tuple[int, int]] | None:
    """The PNG at `path` as (H, W, 3) uint8 RGB, EXIF-upright, its long side reduced to between
    max_side and 2 x max_side (box average), and its upright (width, height); None if this PNG is
    not one for strips (interlaced, 16-bit RGB or RGBA). `to_rgb8` turns a Pillow image of any
    mode into RGB (images.py's own conversion, so strips and whole images look the same).
    PngError (or a Pillow error) for damaged data."""
    from PIL import Image

    with open(path, "rb") as f:
        png = _Stream(f)
        w, h, depth, colour = png.width, png.height, png.depth, png.colour
        if png.interlace or colour not in _CHANNELS:
            return None
        bits = _CHANNELS[colour] * depth
        bpp = max(1, bits // 8)
        if bpp not in _SAME_BPP:
            return None
        rowbytes = (w * bits + 7) // 8
        stride = rowbytes + 1
        factor = max(1, max(w, h) // max_side)
        extra = b"".join(_chunk(k, png.kept[k]) for k in (b"PLTE", b"tRNS") if k in png.kept)
        same = (_SAME_BPP[bpp], rowbytes // bpp)  # 8-bit type and width with the file's bytes per pixel
        per_strip = max(1, STRIP_PIXELS // max(w, 1))
        prev = None  # the last unfiltered row of the strip before
        reducer = Reducer(w, factor)
        for start in range(0, h, per_strip):
            n = min(per_strip, h - start)
            rows = (b"\x00", prev, png.rows(n, stride)) if prev is not None else (png.rows(n, stride),)
            with Image.open(io.BytesIO(_png(same[1], n + (prev is not None), 8, same[0], b"", *rows))) as im:
                del rows
                raw = np.asarray(im).reshape(n + (prev is not None), rowbytes)[-n:]
            prev = raw[-1].tobytes()
            if depth == 8 and colour in (0, 2):  # grey or RGB bytes as they are
                rgb = np.repeat(raw[..., None], 3, axis=2) if colour == 0 else raw.reshape(n, w, 3)
            else:  # any other type through Pillow's own conversion: its rows, each with filter 0
                plain = np.concatenate([np.zeros((n, 1), np.uint8), raw], axis=1).tobytes()
                with Image.open(io.BytesIO(_png(w, n, depth, colour, extra, plain))) as im:
                    rgb = to_rgb8(im)
            reducer.add(rgb)
        try:
            png.finish()
        except PngError:  # damaged after the pixels, which are all there: only a late EXIF is lost
            pass
        orientation = _orientation(png.kept.get(b"eXIf"))
    picture = reducer.picture()
    if orientation != 1:
        picture = np.asarray(upright(Image.fromarray(picture), orientation))
    size = (h, w) if orientation in (5, 6, 7, 8) else (w, h)
    return np.ascontiguousarray(picture), size


def upright(image, orientation: int):
    """A Pillow image turned as its EXIF orientation (1 to 8) says."""
    from PIL import Image

    method = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
              5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
              8: Image.Transpose.ROTATE_90}.get(orientation)
    return image.transpose(method) if method is not None else image


class Reducer:
    """Rows of RGB pixels in, a picture reduced by `factor` out: each of its pixels the mean of a
    factor x factor box (the last boxes of a row or column smaller). Rows come a strip at a time;
    only the rows of one unfinished box row are kept between strips."""

    def __init__(self, width: int, factor: int):
        self.factor = factor
        self.carry = np.zeros((0, -(-width // factor), 3), np.uint16)  # rows reduced across, not yet down
        self.rows: list[np.ndarray] = []

    def add(self, rgb: np.ndarray) -> None:
        from PIL import Image

        across = np.asarray(Image.fromarray(rgb).reduce((self.factor, 1))) if self.factor > 1 else rgb
        self.carry = np.concatenate([self.carry, across])
        whole = len(self.carry) // self.factor * self.factor
        if whole:
            self.rows.append(_mean_rows(self.carry[:whole], self.factor))
            self.carry = self.carry[whole:]

    def picture(self) -> np.ndarray:
        if len(self.carry):
            self.rows.append(_mean_rows(self.carry, len(self.carry)))
            self.carry = self.carry[:0]
        return np.concatenate(self.rows) if len(self.rows) > 1 else self.rows[0]


def reduce_bands(image, factor: int, to_rgb8) -> np.ndarray:
    """A decoded Pillow image of any mode, converted to RGB a band of rows at a time and reduced
    by `factor`: no full-size copy of it is made."""
    w, h = image.size
    reducer = Reducer(w, factor)
    band = max(factor, STRIP_PIXELS // max(w, 1) // factor * factor)
    for top in range(0, h, band):
        with image.crop((0, top, w, min(h, top + band))) as part:
            reducer.add(to_rgb8(part))
    return reducer.picture()


def _mean_rows(rows: np.ndarray, k: int) -> np.ndarray:
    """Each k consecutive rows averaged into one (rounded), as uint8."""
    grouped = rows.reshape(len(rows) // k, k, *rows.shape[1:]).sum(axis=1, dtype=np.uint32)
    return ((grouped + k // 2) // k).astype(np.uint8)
