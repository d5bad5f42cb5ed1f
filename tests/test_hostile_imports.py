"""Memory bombs in `import sat-tutorial` checkpoints (issue 21): a tensor that is a stride-0 view
declaring far more elements than its storage, and a storage compressed in the zip so that it would
inflate, are refused in one line from their declared sizes, before anything is allocated."""
from __future__ import annotations

import zipfile

import pytest
import torch

from attnviewer.errors import CheckpointError
from attnviewer.models.safe_pickle import Checkpoint


def test_a_stride_0_tensor_larger_than_its_storage_is_refused_unread(tmp_path):
    path = tmp_path / "bomb.pth.tar"
    torch.save({"weight": torch.zeros(1).expand(200_000, 200_000)}, path)  # 160 GB if it were read
    with pytest.raises(CheckpointError, match="holds more elements than its storage"):
        Checkpoint(path)


def test_a_compressed_storage_that_would_inflate_is_refused(tmp_path):
    plain = tmp_path / "plain.pth.tar"
    torch.save({"weight": torch.zeros(4_000_000)}, plain)  # 16 MB of zeros: deflates to a few KB
    bomb = tmp_path / "bomb.pth.tar"
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(bomb, "w") as out:
        for info in src.infolist():
            data = src.read(info)
            kind = zipfile.ZIP_DEFLATED if "/data/" in info.filename else zipfile.ZIP_STORED
            out.writestr(info.filename, data, compress_type=kind)
    assert bomb.stat().st_size < 1_000_000
    ckpt = Checkpoint(bomb)
    with pytest.raises(CheckpointError, match="does not hold"):
        ckpt.tensor(ckpt.root["weight"])
    ckpt = Checkpoint(plain)  # the same tensor stored as torch stores it still reads
    assert ckpt.tensor(ckpt.root["weight"]).shape == (4_000_000,)


def test_a_gif_declaring_huge_frames_is_refused_before_decoding(tmp_path):
    """A 'video' GIF whose logical screen says 16000x16000 (256 M pixels a frame, 12 GB as kept RGB frames) while its data
    is a few bytes: `attnviewer video` and the video dataset reader (both read_clip) refuse it from
    the declared geometry, in one line."""
    import contextlib
    import io
    import struct

    import numpy as np
    from PIL import Image

    from attnviewer.cli import main
    from attnviewer.errors import MediaError
    from attnviewer.media.frames import read_clip

    path = tmp_path / "bomb.gif"
    frames = [Image.fromarray(np.full((8, 8, 3), 15 * i, np.uint8)) for i in range(16)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=80, loop=0)
    raw = bytearray(path.read_bytes())
    raw[6:10] = struct.pack("<HH", 16000, 16000)  # the logical screen's width and height
    path.write_bytes(bytes(raw))
    with pytest.raises(MediaError, match="too large to read"):
        read_clip(path, 8)
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        code = main(["video", str(path), "--json", str(tmp_path / "r.json")])
    assert code == 2 and len(stderr.getvalue().strip().splitlines()) == 1 and "too large" in stderr.getvalue()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.gif"]
