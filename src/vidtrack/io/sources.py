"""Frame sources: one iterator of BGR frames for video files, image folders, webcams, network streams and frames
already in memory.

`open_source` picks the source from what the user gave and decodes the first frame at once, so that bad input fails
before any model is loaded and `info.size` is known up front. `ThreadedReader` decodes ahead in a background thread
so that decoding overlaps with inference.

>>> with ThreadedReader(open_source("clip.mp4")) as reader:  # doctest: +SKIP
...     for frame in reader:
...         detect(frame.image)
"""

from __future__ import annotations

import logging
import math
import os
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import cv2
import numpy as np

from vidtrack.errors import ConfigError, InputError
from vidtrack.io.motchallenge import read_seqinfo

log = logging.getLogger("vidtrack")

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
STREAM_SCHEMES = ("rtsp://", "rtmp://", "http://", "https://")
DEFAULT_FPS = 30.0
FRAME_COUNT_TOLERANCE = 2  # CAP_PROP_FRAME_COUNT is estimated from the duration for some containers
REOPEN_ATTEMPTS = 3
REOPEN_PAUSE_S = 0.5
JOIN_TIMEOUT_S = 5.0  # a thread stuck in a network read is left to close the source itself when the read returns

Opener = Callable[[Any], Any]  # cv2.VideoCapture, or a fake with isOpened/read/get/release in tests


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """What the rest of the pipeline needs to know about a source before the first frame arrives.

    Attributes:
        name: what the user gave: a path, a URL or a webcam index as a string.
        kind: "video", "images", "webcam" or "stream" ("detections" for precomputed detections).
        fps: frames per second, from the container or camera, or the `fps` given for image folders.
        size: (width, height) of the first frame; every frame yielded has this size.
        frame_count: number of frame indices in the source, or None for live webcams and streams.
    """

    name: str
    kind: str
    fps: float
    size: tuple[int, int]
    frame_count: int | None


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame.

    Attributes:
        index: 0-based position in the source; a skipped corrupt frame still consumes its index.
        image: (H, W, 3) uint8 BGR.
    """

    index: int
    image: np.ndarray


class FrameSource:
    """Base class: a single-pass iterator of `Frame`s that owns an OpenCV handle, hence `close()` and `with`."""

    info: SourceInfo

    def __init__(self, info: SourceInfo, first: Frame) -> None:
        self.info = info
        self._first: Frame | None = first  # decoded at open time; None once iteration started or closed
        self._closed = False
        self._warned_resize = False

    def __iter__(self) -> Iterator[Frame]:
        if self._first is None:
            raise RuntimeError(f"{self.info.name}: a frame source can be iterated only once and not after close()")
        first, self._first = self._first, None
        return self._frames(first)

    def _frames(self, first: Frame) -> Iterator[Frame]:
        raise NotImplementedError

    def close(self) -> None:
        self._closed = True
        self._first = None
        self._release()

    def _release(self) -> None:
        """Free what the subclass holds; called by every close(), so it must be idempotent."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _conform(self, image: np.ndarray, index: int) -> np.ndarray:
        """Resize a frame to the first frame's size, since downstream stages assume one size per source."""
        width, height = self.info.size
        if image.shape[:2] == (height, width):
            return image
        if not self._warned_resize:
            self._warned_resize = True
            got, want = f"{image.shape[1]}x{image.shape[0]}", f"{width}x{height}"
            log.warning(
                "%s: frame %d is %s, not %s like the first; resizing such frames", self.info.name, index, got, want
            )
        return cv2.resize(image, (width, height))


class _CaptureBase(FrameSource):
    """A cv2.VideoCapture with its first frame read at open time."""

    def __init__(self, name: str, kind: str, target: str | int, opener: Opener, fps: float | None, error: str) -> None:
        self._target, self._opener = target, opener
        with quiet_opencv():
            self._cap = opener(target)
            first = self._read()
        if first is None:
            self._cap.release()
            raise InputError(error)
        count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT)) if kind != "webcam" else 0
        info = SourceInfo(
            name=name,
            kind=kind,
            fps=fps or _reported_fps(self._cap.get(cv2.CAP_PROP_FPS), name),
            size=(first.shape[1], first.shape[0]),
            frame_count=count if count > 0 else None,
        )
        super().__init__(info, Frame(0, first))

    def _read(self) -> np.ndarray | None:
        if not self._cap.isOpened():
            return None
        ok, image = self._cap.read()
        return image if ok and image is not None and image.size else None

    def _next_image(self, index: int) -> np.ndarray | None:
        """The image for `index`, or None at the end of the source."""
        return self._read()

    def _frames(self, first: Frame) -> Iterator[Frame]:
        yield first
        index = 1
        while not self._closed and (image := self._next_image(index)) is not None:
            yield Frame(index, self._conform(image, index))
            index += 1
        total = self.info.frame_count
        if not self._closed and total is not None and index < total - FRAME_COUNT_TOLERANCE:
            log.warning("%s: video ended early at frame %d of %d (truncated or corrupt)", self.info.name, index, total)

    def _release(self) -> None:
        self._cap.release()


class VideoSource(_CaptureBase):
    """A video file; a file that ends before its announced frame count is read up to where it ends, with a warning."""

    def __init__(self, path: str | os.PathLike, *, fps: float | None = None, opener: Opener = cv2.VideoCapture) -> None:
        name = os.fsdecode(path)
        error = (
            f"{name}: not a readable video (OpenCV cannot open it or decode its first frame); "
            "check that it is a complete video file in a format FFmpeg supports"
        )
        super().__init__(name, "video", name, opener, fps, error)


class CaptureSource(_CaptureBase):
    """A webcam (int index) or network stream (URL); reopened after a failed read since live connections drop.

    A URL whose container announces a frame count (e.g. an .mp4 over https) is a finite file: it ends like a video
    instead of being reopened, which would restart it from the beginning.
    """

    def __init__(self, spec: str | int, *, fps: float | None = None, opener: Opener = cv2.VideoCapture) -> None:
        kind = "webcam" if isinstance(spec, int) else "stream"
        if kind == "webcam":
            error = (
                f"camera {spec}: the camera could not be opened or gave no frame; "
                "check that it is connected and not used by another program, or try another index"
            )
        else:
            error = f"{spec}: could not open the stream or read a frame from it; check the URL, network and credentials"
        super().__init__(str(spec), kind, spec, opener, fps, error)

    def _next_image(self, index: int) -> np.ndarray | None:
        image = self._read()
        if image is not None or self.info.frame_count is not None:
            return image
        log.warning(
            "%s: reading failed after %d frames; reopening (up to %d tries)", self.info.name, index, REOPEN_ATTEMPTS
        )
        for _ in range(REOPEN_ATTEMPTS):
            time.sleep(REOPEN_PAUSE_S)
            self._cap.release()
            with quiet_opencv():
                self._cap = self._opener(self._target)
                image = self._read()
            if image is not None:
                return image
        raise InputError(
            f"{self.info.name}: stream stopped after {index} frames ({REOPEN_ATTEMPTS} reopen attempts failed); "
            "check the camera or network connection and run again"
        )


class ImageFolderSource(FrameSource):
    """A folder of frames sorted by name (numbers in names compare as numbers); undecodable images are skipped."""

    def __init__(self, folder: str | os.PathLike, *, fps: float = DEFAULT_FPS) -> None:
        name = os.fsdecode(folder)
        if not Path(folder).is_dir():
            raise InputError(f"{name}: no such folder; check the path")
        files = [p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()]
        if not files:
            raise InputError(
                f"{name}: no images in this folder; put the frames in it as {' '.join(IMAGE_EXTENSIONS)} files"
            )
        self._files = sorted(files, key=_natural_key)
        first = next(((i, im) for i, p in enumerate(self._files) if (im := _imread(p)) is not None), None)
        if first is None:
            raise InputError(
                f"{name}: none of its {len(files)} images could be decoded; check that they are not corrupt"
            )
        index, image = first
        info = SourceInfo(name, "images", fps, (image.shape[1], image.shape[0]), len(files))
        super().__init__(info, Frame(index, image))

    def _frames(self, first: Frame) -> Iterator[Frame]:
        yield first
        for index in range(first.index + 1, len(self._files)):
            if self._closed:
                return
            if (image := _imread(self._files[index])) is not None:
                yield Frame(index, self._conform(image, index))


class ArraySource(FrameSource):
    """Frames already in memory: an (H, W, 3) uint8 BGR image, or a sequence or iterable of them (frames at `fps`)."""

    def __init__(self, frames: np.ndarray | Iterable[np.ndarray], *, fps: float) -> None:
        if isinstance(frames, np.ndarray) and frames.ndim == 3:
            frames = [frames]
        self._iterator = iter(frames)
        first = next(self._iterator, None)
        if first is None:
            raise ValueError("source: no frames given")
        first = _checked_image(first, 0)
        count = len(frames) if hasattr(frames, "__len__") else None
        super().__init__(SourceInfo("frames", "memory", fps, (first.shape[1], first.shape[0]), count), Frame(0, first))

    def _frames(self, first: Frame) -> Iterator[Frame]:
        yield first
        for index, image in enumerate(self._iterator, start=1):
            if self._closed:
                return
            yield Frame(index, self._conform(_checked_image(image, index), index))


@contextmanager
def quiet_opencv() -> Iterator[None]:
    """Silence OpenCV's own log lines while a source opens (a missing webcam prints eight, from each backend it
    tries): the `InputError` that follows says in one line what went wrong. FFmpeg's lines are silenced by the
    OPENCV_FFMPEG_LOGLEVEL variable instead, which the `vidtrack` command sets."""
    log_level = cv2.utils.logging
    before = log_level.getLogLevel()
    log_level.setLogLevel(log_level.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        log_level.setLogLevel(before)


def _checked_image(image: object, index: int) -> np.ndarray:
    if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3):
        got = f"{image.shape} {image.dtype}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"source: frame {index} must be an (H, W, 3) uint8 BGR image, got {got}")
    return image


def check_fps(fps: float | None) -> None:
    """A frame rate given by the user must be a positive, finite number (None: take the source's)."""
    if fps is not None and not (math.isfinite(fps) and fps > 0):
        raise ConfigError(f"fps must be a positive number of frames per second, got {fps}")


def open_source(
    spec: str | int | os.PathLike | np.ndarray | Iterable[np.ndarray], *, fps: float | None = None
) -> FrameSource:
    """Open what the user gave as a frame source, decoding its first frame so that bad input fails here.

    An int or a string of digits is a webcam index; an rtsp://, rtmp://, http:// or https:// URL is a network stream;
    an existing folder is an image folder (sorted by name; .jpg .jpeg .png .bmp .tif .tiff .webp); an existing file
    is a video; a numpy image, or a list or other iterable of them, is frames in memory. `fps` overrides the frame rate
    the source reports; image folders and a single image default to 30; frames in memory need it.
    """
    check_fps(fps)
    if isinstance(spec, np.ndarray) and spec.ndim == 3:
        return ArraySource(spec, fps=fps or DEFAULT_FPS)
    if not isinstance(spec, (str, bytes, int, os.PathLike)):
        if not isinstance(spec, Iterable):
            raise ValueError(f"source: expected a path, URL, webcam index, image or frames, got {type(spec).__name__}")
        if fps is None:
            raise ValueError("fps: frames in memory need their frame rate, e.g. fps=30")
        return ArraySource(spec, fps=fps)
    if isinstance(spec, int) or (isinstance(spec, str) and spec.isascii() and spec.isdigit()):
        return CaptureSource(int(spec), fps=fps)
    text = os.fsdecode(spec)
    if text.lower().startswith(STREAM_SCHEMES):
        return CaptureSource(text, fps=fps)
    path = Path(text).expanduser()
    if path.is_dir():
        source: FrameSource = ImageFolderSource(path, fps=fps or DEFAULT_FPS)
    elif path.is_file():
        source = VideoSource(path, fps=fps)
    else:
        raise InputError(f"{text}: no such file or folder; check the path")
    recorded = _recorded_fps(path, source.info)
    if recorded is not None and recorded != source.info.fps:
        if fps is not None:
            log.warning("%s: using the given %g fps; seqinfo.ini says it was recorded at %g", text, fps, recorded)
        else:
            if source.info.kind == "video":
                log.warning("%s: the container says %g fps, seqinfo.ini says it was recorded at %g; using %g (--fps "
                            "overrides)", text, source.info.fps, recorded, recorded)
            source.info = replace(source.info, fps=recorded)
    return source


def _recorded_fps(path: Path, info: SourceInfo) -> float | None:
    """The frameRate of the MOTChallenge ``seqinfo.ini`` that describes this video or image folder, if there is one.

    It is looked for beside the source and one folder up (``seq/img1/``, ``seq/video/clip.avi``), and used only when
    its seqLength matches the source's frame count; containers often carry a wrong rate (PETS09's AVI says 10 fps, the
    sequence was recorded at 7), and every time-based setting depends on it.
    """
    folder = path if path.is_dir() else path.parent
    for candidate in (folder / "seqinfo.ini", folder.parent / "seqinfo.ini"):
        if not candidate.is_file():
            continue
        try:
            seq = read_seqinfo(candidate)
        except InputError as e:
            log.warning("ignoring %s", e)
            return None
        if info.frame_count is not None and abs(seq.length - info.frame_count) > FRAME_COUNT_TOLERANCE:
            log.warning("%s: ignoring %s, which describes %d frames, not %d", info.name, candidate, seq.length,
                        info.frame_count)
            return None
        return seq.fps
    return None


_END = object()


@dataclass(frozen=True, slots=True)
class _Failure:
    error: BaseException


class ThreadedReader:
    """Decodes ahead in a daemon thread into a bounded queue, so that decoding overlaps with inference.

    Iterating yields the source's frames in order; an exception raised while decoding is re-raised in the consumer
    after the frames before it. close() (also on `with` exit, and when iteration stops early) stops the thread, even
    when the queue is full, and closes the source.
    """

    def __init__(self, source: FrameSource, queue_size: int = 8) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size must be at least 1, got {queue_size}")
        self._source = source
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._iterated = False
        self._thread = threading.Thread(target=self._work, name=f"vidtrack-reader:{source.info.name}", daemon=True)
        self._thread.start()

    @property
    def info(self) -> SourceInfo:
        return self._source.info

    def _work(self) -> None:
        try:
            for frame in self._source:
                if not self._put(frame):
                    return
            self._put(_END)
        except BaseException as error:
            self._put(_Failure(error))
        finally:
            self._source.close()  # here, not in close(): the capture must not be released while this thread reads it

    def _put(self, item: object) -> bool:
        """Put unless stopped; polls so that a full queue cannot block close()."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                pass
        return False

    def __iter__(self) -> Iterator[Frame]:
        if self._iterated or self._stop.is_set():
            raise RuntimeError(f"{self.info.name}: a reader can be iterated only once and not after close()")
        self._iterated = True
        return self._frames()

    def _frames(self) -> Iterator[Frame]:
        try:
            while (item := self._queue.get()) is not _END:
                if isinstance(item, _Failure):
                    raise item.error
                yield item
        finally:
            self.close()

    def close(self) -> None:
        self._stop.set()
        self._drain()
        if self._thread is not threading.current_thread():
            self._thread.join(JOIN_TIMEOUT_S)
        self._drain()
        if not self._thread.is_alive():
            self._source.close()

    def _drain(self) -> None:
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _reported_fps(fps: float, name: str) -> float:
    """OpenCV reports 0 or NaN when it does not know, and some RTSP servers announce a bogus timebase as fps."""
    if math.isfinite(fps) and 0 < fps <= 1000:
        return fps
    log.warning("%s: no valid frame rate reported (%s); assuming %g fps, pass fps to override", name, fps, DEFAULT_FPS)
    return DEFAULT_FPS


def _natural_key(path: Path) -> list[str | int]:
    """Sort frame_2 before frame_10; zero-padded names sort as plain names do."""
    return [int(part) if part.isdecimal() else part for part in re.split(r"(\d+)", path.name)]


def _imread(path: Path) -> np.ndarray | None:
    """Decode an image, or warn and return None: a JPEG without its end marker is truncated even if OpenCV decodes it.

    Reads the bytes itself because cv2.imread cannot open non-ASCII paths on Windows.
    """
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as error:
        log.warning("%s: cannot read this image (%s); skipping it", path, error.strerror or error)
        return None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    truncated = path.suffix.lower() in (".jpg", ".jpeg") and not bytes(data[-64:]).rstrip(b"\0").endswith(b"\xff\xd9")
    if image is None or truncated:
        problem = "truncated, no JPEG end marker" if image is not None else "corrupt or not an image"
        log.warning("%s: cannot decode this image (%s); skipping it", path, problem)
        return None
    return image
