"""Video in: a streaming reader that keeps only the frames a model will see, and clips out.

The reader lists the video's packets first (no decoding: their count, timestamps and keyframes),
then decodes the `steps` frames spread evenly over the whole video (the middle frame of each of
`steps` equal parts), jumping ahead to a keyframe whenever one lies before the next wanted frame:
memory holds those frames, never the video, and a long video is mostly skipped, not decoded. Damaged, truncated or mislabelled files raise MediaError with one readable line.
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
    reversed: bool = False  # the frames played backwards (times then count from the reversed start)

    def file_time(self, t: float) -> float:
        """Where in the file the frame shown at time t (of this clip) lies."""
        return self.last_time - t if self.reversed else t

    @property
    def last_time(self) -> float:
        return (self.frame_count - 1) / self.fps


def reversed_clip(clip: LoadedClip) -> LoadedClip:
    """The same sampled frames played backwards: frame i of the file is frame N-1-i of the
    reversed video, so its time becomes (N-1)/fps - t and the order flips."""
    times = [round(clip.last_time - t, 6) for t in reversed(clip.times)]
    return LoadedClip(clip.path, np.ascontiguousarray(clip.frames[::-1]), times, clip.frame_count, clip.fps,
                      clip.size, reversed=not clip.reversed)


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


def list_packets(path: Path, box, check=lambda: None) -> list[tuple]:
    """(pts, is_keyframe) of every packet of the video stream, in file order, without decoding;
    check() is called every few hundred packets (it may raise to stop). MediaError for a damaged,
    truncated or empty video."""
    import av

    stream = box.streams.video[0]
    announced = stream.frames  # from the header (0 if the container does not say)
    packets = []
    try:
        for p in box.demux(stream):
            if p.size:
                packets.append((p.pts, p.is_keyframe))
                if len(packets) % 256 == 0:
                    check()
    except av.error.FFmpegError as e:
        raise MediaError(f"{path}: damaged video ({_reason(e)})") from None
    if announced and len(packets) < announced:
        raise MediaError(f"{path}: truncated video: {announced} frames announced, {len(packets)} present")
    if not packets:
        raise MediaError(f"{path}: the video has no frames")
    return packets


def read_clip(path: str | Path, steps: int, progress=None) -> LoadedClip:
    """progress(done, total), if given, is called while listing and after each kept frame; it may
    raise to stop reading (the engine cancels a long read that way)."""
    import av

    path = Path(path)
    report = progress or (lambda done, total: None)
    with _open(path) as box:
        packets = list_packets(path, box, lambda: report(0, steps))
    count = len(packets)
    if count < steps:
        raise MediaError(f"{path}: {count} frames; the model needs at least {steps}")
    wanted = sample_indices(count, steps)
    with _open(path) as box:
        stream = box.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 0) or 25.0
        size = (stream.codec_context.height, stream.codec_context.width)
        try:
            if all(pts is not None for pts, _ in packets):
                kept = _seeking(box, stream, packets, wanted, report)
            else:  # no timestamps to seek by: decode from the start
                kept = _sequential(box, stream, wanted, report)
        except av.error.FFmpegError as e:
            raise MediaError(f"{path}: damaged video, decoding failed ({_reason(e)})") from None
    if len(kept) < steps:
        raise MediaError(f"{path}: truncated video: {count} frames announced, only {len(kept)} of the "
                         f"{steps} wanted could be decoded")
    frames = [_display(f.to_ndarray(format="rgb24")) for f in kept]
    times = [float(f.time) if f.time is not None else i / fps for f, i in zip(kept, wanted)]
    return LoadedClip(str(path), np.stack(frames), times, count, fps, size)


def _sequential(box, stream, wanted: list[int], report=lambda done, total: None) -> list:
    """The wanted frames (by index in display order), decoding every frame from the start."""
    kept = []
    for i, frame in enumerate(box.decode(stream)):
        if i == wanted[len(kept)]:
            kept.append(frame)
            report(len(kept), len(wanted))
            if len(kept) == len(wanted):
                break
    return kept


def _seeking(box, stream, packets: list[tuple[int, bool]], wanted: list[int],
             report=lambda done, total: None) -> list:
    """The wanted frames, jumping to the last keyframe before a wanted frame whenever that lies
    ahead of where decoding is (a long video is mostly skipped, a short one decoded straight)."""
    order = sorted(pts for pts, _ in packets)  # display order
    keys = sorted(pts for pts, key in packets if key)
    kept, frames, at = [], None, None
    for target in (order[i] for i in wanted):
        key = max((k for k in keys if k <= target), default=None)
        if frames is None or (key is not None and key > at):
            box.seek(key if key is not None else order[0], stream=stream, backward=True, any_frame=False)
            frames = box.decode(stream)
        for frame in frames:
            at = frame.pts
            if frame.pts is not None and frame.pts >= target:
                kept.append(frame)
                report(len(kept), len(wanted))
                break
        else:
            break  # the video ended early
    return kept


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
