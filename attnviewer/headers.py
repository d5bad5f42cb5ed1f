"""Reading safetensors headers without torch: what a model file is and what it declares, before
a byte of its weights is read (the model box lists models with this; loading checks more)."""
from __future__ import annotations

import json
import os
import struct
from pathlib import Path


def sniff(path: Path) -> str:
    """'safetensors', 'pickle' (a torch zip or a raw pickle) or 'unknown', from the first bytes."""
    with open(path, "rb") as f:
        return _sniffed(f)


def _sniffed(f) -> str:
    """sniff() of a file opened in binary mode, left at its start again."""
    head = f.read(16)
    f.seek(0)
    # safetensors first: its header length (8 bytes, little-endian) may well start with 0x80
    if len(head) >= 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < os.fstat(f.fileno()).st_size:
        return "safetensors"
    if head[:4] == b"PK\x03\x04" or head[:1] == b"\x80":
        return "pickle"
    return "unknown"


def read_header(path: str | Path, limit: int = 100_000_000) -> tuple[dict, int]:
    """The safetensors header (tensor name -> {dtype, shape, data_offsets}, and "__metadata__"),
    read without torch, and how many bytes of tensor data follow it. ValueError if the file is
    not one: a header longer than `limit` or than the file, not JSON, not an object."""
    with open(path, "rb") as f:
        return _header_in(f, limit)


def _header_in(f, limit: int) -> tuple[dict, int]:
    """read_header() of a file opened in binary mode, at its start."""
    head = f.read(8)
    if len(head) < 8:
        raise ValueError("file too short for a safetensors header")
    (size,) = struct.unpack("<Q", head)
    total = os.fstat(f.fileno()).st_size
    if size > limit:
        raise ValueError(f"safetensors header of {size} bytes, more than the limit of {limit}")
    if size > total - 8:
        raise ValueError("implausible safetensors header (longer than the file)")
    raw = f.read(size)
    try:
        header = json.loads(raw)
    except RecursionError:
        raise ValueError("safetensors header nested too deeply") from None
    except ValueError as e:  # also bytes that are not UTF-8
        raise ValueError(f"safetensors header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise ValueError("safetensors header is not a JSON object")
    if not isinstance(header.get("__metadata__", {}), (dict, type(None))):
        raise ValueError("safetensors metadata is not a JSON object")
    return header, total - 8 - size


def read_metadata(path: str | Path) -> dict:
    """The safetensors header's metadata, read without torch (the window lists models with it)."""
    return read_header(path)[0].get("__metadata__") or {}


def safetensors_metadata(path: str | Path, limit: int = 100_000_000) -> dict | None:
    """The header's metadata of a safetensors file (the file opened once, to sniff and to read);
    None if the file is no safetensors file (a pickle, say). OSError or ValueError as read_header."""
    with open(path, "rb") as f:
        if _sniffed(f) != "safetensors":
            return None
        return _header_in(f, limit)[0].get("__metadata__") or {}
