"""Video in: a streaming reader that keeps only the frames a model will see, and clips out.

The reader counts the video's frames from its packets (no decoding), then decodes once from the
start and keeps `steps` frames spread evenly over the whole video (the middle frame of each of
`steps` equal parts), each reduced for display as it arrives: memory holds those frames, never
the video. Damaged, truncated or mislabelled files raise MediaError with one readable line.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import MediaError, first_line
from ..files import atomic_path

DISPLAY_SIDE = 256  # long side of the frames kept for display and figures


@dataclass
class LoadedClip:
    path: str
    frames: np.ndarray  # (steps, H, W, 3) uint8 RGB, long side at most DISPLAY_SIDE
    times: list[float]  # seconds of each kept frame from the start
    frame_count: int  # frames in the whole video
    fps: float
    size: tuple[int, int]  # (height, width) of the video


def sample_indices(frame_count: int, steps: int) -> list[int]:
    """The middle frame of each of `steps` equal parts of the video."""
    return [min(frame_count - 1, int((k + 0.5) * frame_count / steps)) for k in range(steps)]


def _open(path: Path):
    import av

    if not path.exists():
        raise MediaError(f"{path}: no such file")
    if path.is_dir():
        raise MediaError(f"{path}: is a folder, not a video")
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: empty file")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as e:
        raise MediaError(f"{path}: cannot read it as a video: damaged, truncated or not a video ({_reason(e)})") from None
    if container.format.name.endswith("_pipe") or container.format.name == "image2":
        container.close()
        raise MediaError(f"{path}: is a still image, not a video; caption it with `attnviewer caption`")
    if not container.streams.video:
        container.close()
        raise MediaError(f"{path}: has no video stream")
    return container


def _reason(e: Exception) -> str:
    return getattr(e, "strerror", None) or first_line(e)


def read_clip(path: str | Path, steps: int) -> LoadedClip:
    import av

    path = Path(path)
    with _open(path) as box:
        stream = box.streams.video[0]
        announced = stream.frames  # from the header (0 if the container does not say)
        try:
            count = sum(1 for packet in box.demux(stream) if packet.size)
        except av.error.FFmpegError as e:
            raise MediaError(f"{path}: damaged video ({_reason(e)})") from None
    if announced and count < announced:
        raise MediaError(f"{path}: truncated video: {announced} frames announced, {count} present")
    if count == 0:
        raise MediaError(f"{path}: the video has no frames")
    if count < steps:
        raise MediaError(f"{path}: {count} frames; the model needs at least {steps}")
    wanted = sample_indices(count, steps)
    frames, times = [], []
    with _open(path) as box:
        stream = box.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 0) or 25.0
        size = (stream.codec_context.height, stream.codec_context.width)
        try:
            for i, frame in enumerate(box.decode(stream)):
                while len(frames) < steps and wanted[len(frames)] == i:  # a short video may repeat one
                    frames.append(_display(frame.to_ndarray(format="rgb24")))
                    times.append(float(frame.time) if frame.time is not None else i / fps)
                if len(frames) == steps:
                    break
        except av.error.FFmpegError as e:
            raise MediaError(f"{path}: damaged video, decoding stopped at frame {i} ({_reason(e)})") from None
    if len(frames) < steps:
        raise MediaError(f"{path}: truncated video: {count} frames announced, only {i + 1} could be decoded")
    return LoadedClip(str(path), np.stack(frames), times, count, fps, size)


def _display(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    s = DISPLAY_SIDE / max(h, w)
    if s >= 1:
        return np.ascontiguousarray(rgb)
    return cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


def model_frames(frames: np.ndarray, size: int) -> np.ndarray:
    """(T, H, W, 3) frames -> (T, size, size, 3): the whole frame, squeezed to the model's square."""
    return np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in frames])


def write_clip(frames: np.ndarray, path: str | Path, fps: float = 12.0, scale: int = 1) -> Path:
    """Frames (T, H, W, 3) uint8 as an MP4 (H.264 where available), each pixel scale x scale."""
    from fractions import Fraction

    import av

    from ..export.animation import check_mp4

    path = Path(path)
    codec = check_mp4(path)
    if scale > 1:
        frames = np.repeat(np.repeat(frames, scale, axis=1), scale, axis=2)
    with atomic_path(path) as tmp:
        with av.open(tmp, mode="w", format="mp4", options={"movflags": "faststart"}) as box:
            stream = box.add_stream(codec, rate=Fraction(fps).limit_denominator(1000))
            stream.height, stream.width = frames.shape[1:3]
            stream.pix_fmt = "yuv420p"
            if codec in ("libx264", "h264"):
                stream.options = {"crf": "12"}
            for rgb in frames:
                for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")):
                    box.mux(packet)
            for packet in stream.encode():
                box.mux(packet)
    return path
