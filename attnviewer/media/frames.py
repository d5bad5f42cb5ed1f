"""Video in: a streaming reader that keeps only the frames a model will see, and clips out.

The reader lists the video's packets first (no decoding: their count, timestamps and keyframes;
a `PacketIndex`, which the clip keeps so that the window's player need not list them again),
then decodes the `steps` frames spread evenly over the whole video (the middle frame of each of
`steps` equal parts), jumping ahead to a keyframe whenever one lies before the next wanted frame:
memory holds those frames, never the video, and a long video is mostly skipped, not decoded. Damaged, truncated or mislabelled files raise MediaError with one readable line.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..errors import MediaError, first_line, printable
from ..files import atomic_path, file_stamp
from .images import VIDEO_SUFFIXES

MAX_FRAME_PIXELS = 8192 * 4320  # an 8K frame; a frame's size is what decoding allocates
DISPLAY_SIDE = 256  # long side of the frames kept for display and figures


@dataclass(frozen=True, eq=False)
class PacketIndex:
    """Every frame of one video file, listed without decoding: plain, read-only data that any
    thread may share (the engine lists a clip once; the player seeks and scrubs by the same list).

    `stamp` identifies the file as it was listed (device, inode, size, modification time): a file
    changed since must be listed again (`describes`)."""

    path: str
    stamp: tuple[int, int, int, int] | None  # None: the file could not be stat-ed; never matches
    fps: float
    size: tuple[int, int]  # (height, width) of the stream's frames (0 if the header says none)
    times: np.ndarray = field(repr=False)  # seconds of every frame, display order
    pts: np.ndarray = field(repr=False)  # int64 timestamps in display order; empty: none to seek by
    keys: np.ndarray = field(repr=False)  # display indexes of the keyframes, ascending (at least [0])

    @property
    def frame_count(self) -> int:
        return len(self.times)

    @property
    def seekable(self) -> bool:
        return len(self.pts) == len(self.times)

    def position(self, pts) -> int | None:
        """The display index of the frame with this timestamp, or None."""
        if pts is None or not self.seekable:
            return None
        i = int(np.searchsorted(self.pts, pts))
        return i if i < len(self.pts) and self.pts[i] == pts else None

    def keyframe_before(self, index: int) -> int:
        """The last keyframe at or before frame `index` (the first keyframe for frames before it)."""
        return int(self.keys[max(0, int(np.searchsorted(self.keys, index, side="right")) - 1)])

    def describes(self, path: str | Path) -> bool:
        """Whether `path` is still the very file that was listed (same file, size and time)."""
        stamp = file_stamp(path)
        return stamp is not None and stamp == self.stamp


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def index_packets(path: str | Path, check=lambda: None) -> PacketIndex:
    """List a video's packets (no decoding) into a PacketIndex; check() as for list_packets.
    MediaError for anything that is not a readable video."""
    path = Path(path)
    stamp = file_stamp(path)  # before opening: a file replaced meanwhile no longer matches (None: _open says why)
    with _open(path) as box:
        stream = box.streams.video[0]
        tb = stream.time_base
        fps = float(stream.average_rate or stream.guessed_rate or 0) or 25.0
        size = (stream.codec_context.height, stream.codec_context.width)
        packets = list_packets(path, box, check)
    if tb is not None and all(pts is not None for pts, _ in packets):
        pts = np.fromiter((p for p, _ in packets), np.int64, len(packets))
        order = np.argsort(pts, kind="stable")  # file order -> display order
        pts = pts[order]
        keys = np.flatnonzero(np.fromiter((k for _, k in packets), bool, len(packets))[order])
        times = pts * tb.numerator / tb.denominator  # exact as float(pts * tb) while pts * num < 2**53
    else:  # no timestamps to seek by: frames are counted from the start
        pts, keys = np.empty(0, np.int64), np.empty(0, np.int64)
        times = np.arange(len(packets)) / fps
    if not len(keys):
        keys = np.zeros(1, np.int64)
    return PacketIndex(str(path), stamp, fps, size, _frozen(np.asarray(times, np.float64)), _frozen(pts),
                       _frozen(keys.astype(np.int64)))


@dataclass
class LoadedClip:
    path: str
    frames: np.ndarray  # (steps, H, W, 3) uint8 RGB, long side at most DISPLAY_SIDE
    times: list[float]  # seconds of each kept frame from the start
    frame_count: int  # frames in the whole video
    fps: float
    size: tuple[int, int]  # (height, width) of the video
    reversed: bool = False  # the frames played backwards (times then count from the reversed start)
    packets: PacketIndex | None = field(default=None, repr=False)  # the file's frames, as listed to read it

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
                      clip.size, reversed=not clip.reversed, packets=clip.packets)


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
        if path.suffix.lower() in VIDEO_SUFFIXES:  # (the window opens a file by its suffix)
            raise MediaError(f"{path}: is a still image, not a video, though its name ends in {path.suffix}: "
                             "give it an image's suffix (.png, .jpg) to caption it as an image")
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
    index = index_packets(path, lambda: report(0, steps))
    check_geometry(path, *index.size)  # before any frame is decoded: a GIF may declare 65535x65535
    count = index.frame_count
    if count < steps:
        raise MediaError(f"{path}: {count} frames; the model needs at least {steps}")
    wanted = sample_indices(count, steps)
    fps = index.fps
    with _open(path) as box:
        stream = box.streams.video[0]
        try:
            if index.seekable:
                kept = _seeking(box, stream, index, wanted, report)
            else:  # no timestamps to seek by: decode from the start
                kept = _sequential(box, stream, wanted, report)
        except av.error.FFmpegError as e:
            raise MediaError(f"{path}: damaged video, decoding failed ({_reason(e)})") from None
    if len(kept) < steps:
        raise MediaError(f"{path}: truncated video: {count} frames announced, only {len(kept)} of the "
                         f"{steps} wanted could be decoded")
    frames = [_display(f.to_ndarray(format="rgb24")) for f in kept]
    times = [float(f.time) if f.time is not None else i / fps for f, i in zip(kept, wanted)]
    return LoadedClip(str(path), np.stack(frames), times, count, fps, index.size, packets=index)


def check_geometry(path, height: int, width: int) -> None:
    """MediaError when a video's frames are larger than MAX_FRAME_PIXELS: a file's declared frame
    size is what decoding allocates, for each of the frames kept."""
    if height * width > MAX_FRAME_PIXELS:
        raise MediaError(f"{printable(path)}: frames of {width}x{height} pixels are too large to read "
                         f"(at most {MAX_FRAME_PIXELS:,} pixels a frame)")


def _sequential(box, stream, wanted: list[int], report=lambda done, total: None) -> list:
    """The wanted frames (by index in display order), decoding every frame from the start."""
    kept = []
    for i, frame in enumerate(box.decode(stream)):
        check_geometry(box.name, frame.height, frame.width)
        if i == wanted[len(kept)]:
            kept.append(frame)
            report(len(kept), len(wanted))
            if len(kept) == len(wanted):
                break
    return kept


def _seeking(box, stream, index: PacketIndex, wanted: list[int], report=lambda done, total: None) -> list:
    """The wanted frames, jumping to the last keyframe before a wanted frame whenever that lies
    ahead of where decoding is (a long video is mostly skipped, a short one decoded straight)."""
    kept, frames, at = [], None, None
    for i in wanted:
        k = index.keyframe_before(i)
        target, key = int(index.pts[i]), int(index.pts[k if k <= i else 0])  # none before it: the start
        if frames is None or at is None or key > at:
            box.seek(key, stream=stream, backward=True, any_frame=False)
            frames = box.decode(stream)
        for frame in frames:
            check_geometry(box.name, frame.height, frame.width)
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
