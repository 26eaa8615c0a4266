"""`annotated.mp4` as a fragmented MP4, so that what was written stays playable however the run ends.

A plain MP4 is unplayable until its index (the `moov` box) is written at the end, which a killed process or a power
cut never does. Here the index comes first, empty, and the frames follow in self-contained fragments (`moof` and
`mdat` boxes), one per second of video (each starts at a keyframe): after a SIGKILL the file plays up to the last
whole fragment. When the disk fills, the file is cut back to its last whole fragment and the error is one line.
Encoded with PyAV (FFmpeg's MPEG-4 part 2 encoder, OpenCV's `mp4v`); OpenCV's VideoWriter cannot fragment.

>>> with FragmentedVideo("annotated.mp4", fps=25.0, size=(1280, 720)) as video:  # doctest: +SKIP
...     video.write(image)  # (720, 1280, 3) uint8 BGR
"""

from __future__ import annotations

import os
import struct
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from vidtrack.io import files
from vidtrack.io.files import output_error

FRAGMENT_S = 1.0  # a keyframe and a new fragment every second: at most this much video is lost to a kill
MUXER_OPTIONS = {"movflags": "frag_keyframe+empty_moov+default_base_moof", "flush_packets": "1"}


class _Sink:
    """The file FFmpeg writes into, through PyAV: unbuffered, and after a failed write (a full disk) it keeps the
    error, drops every later write and leaves the file at its last whole fragment."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        if self.error is None and self.fd is not None:
            try:
                files.write_all(self.fd, data)
            except OSError as e:
                self.error = e
                os.ftruncate(self.fd, whole_fragments_end(self.path))
        return len(data)  # FFmpeg carries on into the void; the caller reports `error`

    def close(self) -> None:
        if self.fd is not None:
            fd, self.fd = self.fd, None
            os.close(fd)


class FragmentedVideo:
    """Writes BGR frames of one size to a fragmented MP4 at `fps`; a context manager.

    Opening raises the OSError of the file (with its name); `write` and `close` raise an `OutputError` when the disk
    is full, after which the file holds the fragments written whole (or is removed if it holds none).
    """

    def __init__(self, path: str | os.PathLike, *, fps: float, size: tuple[int, int]) -> None:
        import av

        self.path, self.size = Path(path), size
        self._sink = _Sink(self.path)
        self._frames, self._reported = 0, False
        try:
            self._container = av.open(self._sink, "w", format="mp4", options=MUXER_OPTIONS)
            rate = Fraction(fps).limit_denominator(1001)
            self._stream = self._container.add_stream("mpeg4", rate=rate)
            self._stream.width, self._stream.height = size
            self._stream.pix_fmt = "yuv420p"
            codec = self._stream.codec_context
            codec.gop_size = max(1, round(fps * FRAGMENT_S))
            codec.bit_rate = int(min(fps * size[0] * size[1], 2**30))  # OpenCV's choice for mp4v
        except BaseException:
            self._sink.close()
            raise
        self._check()

    def write(self, image: np.ndarray) -> None:
        """Encode one (H, W, 3) uint8 BGR frame of the video's size."""
        import av

        if self.size[0] % 2 == 0 and self.size[1] % 2 == 0:  # OpenCV's conversion: 0.4 ms, FFmpeg's 1.3 (768x576)
            frame = av.VideoFrame.from_ndarray(cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420), format="yuv420p")
        else:  # I420 needs even sides
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
        frame.pts = self._frames
        self._frames += 1
        self._container.mux(self._stream.encode(frame))
        self._check()

    def close(self) -> None:
        """Write the last fragment and close the file (once, however many times close is called); a file left
        without a single frame (the run ended before its first) is removed."""
        if self._sink.fd is None:
            return
        try:
            if self._sink.error is None:
                self._container.mux(self._stream.encode(None))
            self._container.close()
        finally:
            self._sink.close()
        self._check()
        if not whole_fragments_end(self.path):
            self.path.unlink(missing_ok=True)

    def _check(self) -> None:
        if self._sink.error is None or self._reported:
            return
        self._reported = True
        kept = whole_fragments_end(self.path) if self.path.is_file() else 0
        if not kept:
            self.path.unlink(missing_ok=True)
            raise output_error(self.path, self._sink.error, holds="no whole second of video and was removed")
        raise output_error(self.path, self._sink.error, holds="every whole second of video written before it")

    def __enter__(self) -> FragmentedVideo:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def whole_fragments_end(path: str | os.PathLike) -> int:
    """The byte length of the playable start of a fragmented MP4: up to the end of its last complete `mdat` box (a
    fragment's frames), or 0 where no fragment is complete."""
    end = playable = 0
    with open(path, "rb") as f:
        total = os.fstat(f.fileno()).st_size
        while end + 8 <= total:
            f.seek(end)
            size, kind = struct.unpack(">I4s", f.read(8))
            if size == 1 and end + 16 <= total:  # a 64-bit size follows
                size = struct.unpack(">Q", f.read(8))[0]
            if size < 8 or end + size > total:  # size 0 (to the end) is an unfinished box too
                break
            end += size
            if kind == b"mdat":
                playable = end
    return playable
