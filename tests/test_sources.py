"""Frame sources on the real shared data, on generated bad files, and on fake captures for webcams and streams."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import cv2
import numpy as np
import pytest

from vidtrack.errors import ConfigError, InputError
from vidtrack.io import sources
from vidtrack.io.sources import (
    CaptureSource,
    Frame,
    FrameSource,
    ImageFolderSource,
    SourceInfo,
    ThreadedReader,
    VideoSource,
    open_source,
)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
VIDEO = DATA / "videos" / "car-detection.mp4"
IMAGES = DATA / "MOT17" / "train" / "MOT17-02-FRCNN" / "img1"
needs_data = pytest.mark.skipif(not VIDEO.is_file() or not IMAGES.is_dir(), reason=f"shared data not found at {DATA}")


def _image(width: int = 64, height: int = 48, value: int = 0) -> np.ndarray:
    rng = np.random.default_rng(value)
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def _warnings(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "vidtrack" and r.levelno == logging.WARNING and text in r.getMessage()
    ]


def _input_error(excinfo: pytest.ExceptionInfo[InputError], *parts: str) -> None:
    message = str(excinfo.value)
    assert "\n" not in message
    for part in parts:
        assert part in message


# Good input: the real data


@needs_data
def test_video_info_and_first_frames() -> None:
    with open_source(VIDEO) as source:
        assert isinstance(source, VideoSource)
        assert source.info == SourceInfo(str(VIDEO), "video", 12.5, (768, 432), 377)
        frames = list(islice(source, 20))
    assert [f.index for f in frames] == list(range(20))
    assert all(f.image.shape == (432, 768, 3) and f.image.dtype == np.uint8 for f in frames)
    direct = cv2.VideoCapture(str(VIDEO))
    for frame in frames[:2]:  # the frame decoded at open time is yielded once, not lost or read twice
        assert np.array_equal(frame.image, direct.read()[1])
    direct.release()


@needs_data
def test_image_folder() -> None:
    with open_source(str(IMAGES)) as source:
        assert isinstance(source, ImageFolderSource)
        assert source.info == SourceInfo(str(IMAGES), "images", 30.0, (1920, 1080), 4)
        frames = list(source)
    assert [f.index for f in frames] == [0, 1, 2, 3]
    assert all(f.image.shape == (1080, 1920, 3) and f.image.dtype == np.uint8 for f in frames)
    assert open_source(IMAGES, fps=14).info.fps == 14


@needs_data
def test_source_iterates_once() -> None:
    source = open_source(VIDEO)
    next(iter(source))
    with pytest.raises(RuntimeError, match="only once"):
        iter(source)
    source.close()
    source.close()  # idempotent


def test_natural_order(tmp_path: Path) -> None:
    for n in (10, 2, 1):
        cv2.imwrite(str(tmp_path / f"frame_{n}.png"), _image(value=n))
    with open_source(tmp_path) as source:
        frames = list(source)
    assert [f.index for f in frames] == [0, 1, 2]
    assert np.array_equal(frames[2].image, _image(value=10))


# ThreadedReader


@needs_data
def test_threaded_reader_yields_same_frames() -> None:
    with open_source(IMAGES) as source:
        direct = list(source)
    with ThreadedReader(open_source(IMAGES), queue_size=2) as reader:
        assert reader.info.size == (1920, 1080)
        threaded = list(reader)
    assert [f.index for f in threaded] == [f.index for f in direct]
    assert all(np.array_equal(a.image, b.image) for a, b in zip(threaded, direct, strict=True))


class _FailingSource(FrameSource):
    def __init__(self) -> None:
        super().__init__(SourceInfo("fake", "video", 30.0, (64, 48), None), Frame(0, _image()))
        self.closed = False

    def _frames(self, first: Frame) -> Iterator[Frame]:
        yield first
        yield Frame(1, _image())
        raise InputError("fake: broken at frame 2; replace the file")

    def _release(self) -> None:
        self.closed = True


def test_threaded_reader_propagates_error_after_earlier_frames() -> None:
    source = _FailingSource()
    reader = ThreadedReader(source)
    seen = []
    with pytest.raises(InputError, match="broken at frame 2"):
        for frame in reader:
            seen.append(frame.index)
    assert seen == [0, 1]
    assert not reader._thread.is_alive()
    assert source.closed


def _wait_full(reader: ThreadedReader) -> None:
    deadline = time.monotonic() + 5
    while not reader._queue.full() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert reader._queue.full()


@needs_data
def test_threaded_reader_close_early_with_full_queue() -> None:
    source = open_source(VIDEO)
    reader = ThreadedReader(source, queue_size=2)
    frames = iter(reader)
    assert next(frames).index == 0
    _wait_full(reader)
    started = time.monotonic()
    reader.close()
    assert time.monotonic() - started < 2
    assert not reader._thread.is_alive()
    assert source._closed
    reader.close()  # idempotent


@needs_data
def test_threaded_reader_stops_when_loop_breaks() -> None:
    reader = ThreadedReader(open_source(VIDEO), queue_size=1)
    for frame in reader:
        if frame.index == 3:
            _wait_full(reader)
            break  # the dropped generator closes the reader
    assert not reader._thread.is_alive()


# Bad input: files and folders


def test_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.mp4"
    with pytest.raises(InputError) as excinfo:
        open_source(missing)
    _input_error(excinfo, str(missing), "no such file or folder")


@pytest.mark.parametrize("content", [b"", b"this is not a video\n" * 100], ids=["empty", "text"])
def test_unreadable_video(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(content)
    with pytest.raises(InputError) as excinfo:
        open_source(path)
    _input_error(excinfo, str(path), "not a readable video")


def test_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(InputError) as excinfo:
        open_source(tmp_path)
    _input_error(excinfo, str(tmp_path), "no images", ".jpg", ".png", ".webp")


def test_corrupt_images_are_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    good = cv2.imencode(".jpg", _image())[1].tobytes()
    (tmp_path / "0.jpg").write_bytes(good)
    (tmp_path / "1.jpg").write_bytes(b"garbage")
    (tmp_path / "2.jpg").write_bytes(good[: len(good) // 2])  # OpenCV decodes it partly; the missing end marker tells
    (tmp_path / "3.jpg").write_bytes(good)
    with caplog.at_level(logging.WARNING, logger="vidtrack"), open_source(tmp_path) as source:
        frames = list(source)
    assert [f.index for f in frames] == [0, 3]
    assert source.info.frame_count == 4
    for name in ("1.jpg", "2.jpg"):
        assert len(_warnings(caplog, str(tmp_path / name))) == 1


def test_first_images_corrupt(tmp_path: Path) -> None:
    (tmp_path / "0.png").write_bytes(b"garbage")
    cv2.imwrite(str(tmp_path / "1.png"), _image(width=32, height=16))
    with open_source(tmp_path) as source:
        assert source.info.size == (32, 16)
        assert [f.index for f in source] == [1]


def test_all_images_corrupt(tmp_path: Path) -> None:
    for name in ("a.jpg", "b.png"):
        (tmp_path / name).write_bytes(b"garbage")
    with pytest.raises(InputError) as excinfo:
        open_source(tmp_path)
    _input_error(excinfo, str(tmp_path), "none of its 2 images")


def test_mixed_sizes_are_resized(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    for n, (w, h) in enumerate([(64, 48), (32, 24), (100, 50), (64, 48)]):
        cv2.imwrite(str(tmp_path / f"{n}.png"), _image(w, h, n))
    with caplog.at_level(logging.WARNING, logger="vidtrack"), open_source(tmp_path) as source:
        frames = list(source)
    assert [f.image.shape for f in frames] == [(48, 64, 3)] * 4
    assert len(_warnings(caplog, "resizing")) == 1


def _write_avi(path: Path, n: int) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    assert writer.isOpened()
    for i in range(n):
        writer.write(_image(value=i))
    writer.release()


def test_truncated_video_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # An AVI keeps its frame count in the header, so cutting off its tail leaves a readable but short file
    # (a truncated .mp4 loses its index at the end and fails to open instead, see test_unreadable_video).
    complete, truncated = tmp_path / "complete.avi", tmp_path / "truncated.avi"
    _write_avi(complete, 30)
    truncated.write_bytes(complete.read_bytes()[: complete.stat().st_size // 2])
    with caplog.at_level(logging.WARNING, logger="vidtrack"):
        with open_source(complete) as source:
            assert len(list(source)) == 30
        assert not _warnings(caplog, "ended early")
        with open_source(truncated) as source:
            assert source.info.frame_count == 30
            n = len(list(source))
    assert 1 < n < 28
    assert _warnings(caplog, "ended early") == [
        f"{truncated}: video ended early at frame {n} of 30 (truncated or corrupt)"
    ]


# Webcams and streams: real OpenCV for what fails fast offline, fake captures for the rest


@pytest.mark.parametrize("spec", [99, "99"])
def test_unopenable_webcam(spec: int | str) -> None:
    with pytest.raises(InputError) as excinfo:
        open_source(spec)
    _input_error(excinfo, "camera 99", "could not be opened")


@pytest.mark.parametrize("url", ["rtsp://127.0.0.1:9/none", "http://127.0.0.1:9/none.mp4"])
def test_unopenable_stream(url: str) -> None:
    started = time.monotonic()
    with pytest.raises(InputError) as excinfo:
        open_source(url)  # connection refused on the discard port: fails at once
    _input_error(excinfo, url, "could not open the stream")
    assert time.monotonic() - started < 5


class _FakeCapture:
    """Plays a list of images; None is a failed read. Not opened when the list is None."""

    def __init__(self, images: list[np.ndarray | None] | None, count: float = 0.0, fps: float = 25.0) -> None:
        self.images, self.count, self.fps, self.released = images, count, fps, False

    def isOpened(self) -> bool:  # noqa: N802 (the OpenCV name)
        return self.images is not None and not self.released

    def read(self) -> tuple[bool, np.ndarray | None]:
        image = self.images.pop(0) if self.images else None
        return image is not None, image

    def get(self, prop: int) -> float:
        return {cv2.CAP_PROP_FPS: self.fps, cv2.CAP_PROP_FRAME_COUNT: self.count}.get(prop, 0.0)

    def release(self) -> None:
        self.released = True


def _opener(*captures: _FakeCapture):
    opened = []

    def opener(target: str | int) -> _FakeCapture:
        opened.append(target)
        return captures[len(opened) - 1]

    opener.opened = opened
    return opener


@pytest.fixture
def no_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources, "REOPEN_PAUSE_S", 0.0)


def test_stream_reopens_then_fails(no_pause: None, caplog: pytest.LogCaptureFixture) -> None:
    url = "rtsp://camera.local/live"
    opener = _opener(
        _FakeCapture([_image(value=0), _image(value=1), _image(value=2), None]),
        _FakeCapture([_image(value=3), _image(32, 24, 4), None]),  # reconnects once, with another frame size
        *[_FakeCapture(None) for _ in range(sources.REOPEN_ATTEMPTS)],
    )
    source = CaptureSource(url, opener=opener)
    assert source.info == SourceInfo(url, "stream", 25.0, (64, 48), None)
    indices = []
    with caplog.at_level(logging.WARNING, logger="vidtrack"), pytest.raises(InputError) as excinfo:
        for frame in source:
            assert frame.image.shape == (48, 64, 3)
            indices.append(frame.index)
    assert indices == [0, 1, 2, 3, 4]
    assert len(opener.opened) == 2 + sources.REOPEN_ATTEMPTS
    _input_error(excinfo, url, "stream stopped after 5 frames")
    assert len(_warnings(caplog, "resizing")) == 1
    assert len(_warnings(caplog, "reopening")) == 2


def test_webcam_through_threaded_reader(no_pause: None) -> None:
    opener = _opener(_FakeCapture([_image(), _image(), None], count=-1, fps=float("nan")), *[_FakeCapture(None)] * 3)
    with ThreadedReader(CaptureSource(0, opener=opener)) as reader:
        assert reader.info == SourceInfo("0", "webcam", 30.0, (64, 48), None)
        seen = []
        with pytest.raises(InputError, match="0: stream stopped after 2 frames"):
            for frame in reader:
                seen.append(frame.index)
    assert seen == [0, 1]


def test_finite_stream_ends_without_reopening() -> None:
    opener = _opener(_FakeCapture([_image(), _image(), _image(), None], count=3))
    with CaptureSource("https://example.com/clip.mp4", opener=opener) as source:
        assert source.info.frame_count == 3
        assert [f.index for f in source] == [0, 1, 2]
    assert len(opener.opened) == 1


def test_unopenable_webcam_fake() -> None:
    capture = _FakeCapture([None])
    with pytest.raises(InputError) as excinfo:
        CaptureSource(2, opener=_opener(capture))
    _input_error(excinfo, "camera 2", "could not be opened")
    assert capture.released


# The frame rate: the seqinfo.ini beside a source, --fps, and the container


def _video(path: Path, frames: int, fps: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (64, 48))
    for i in range(frames):
        writer.write(_image(value=i))
    writer.release()
    return path


def _seqinfo(folder: Path, fps: float, length: int) -> None:
    (folder / "seqinfo.ini").write_text(f"[Sequence]\nname=s\nframeRate={fps}\nseqLength={length}\nimWidth=64\n"
                                        "imHeight=48\n")


def test_seqinfo_beside_the_video_gives_the_recorded_rate(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    video = _video(tmp_path / "seq" / "video" / "clip.avi", 6, 10)  # PETS09's layout: seq/video/clip.avi
    _seqinfo(tmp_path / "seq", 7, 6)
    with caplog.at_level(logging.WARNING, logger="vidtrack"):
        assert open_source(video).info.fps == 7
    assert _warnings(caplog, "the container says 10 fps, seqinfo.ini says it was recorded at 7")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="vidtrack"):
        assert open_source(video, fps=12).info.fps == 12  # --fps wins, with a word
    assert _warnings(caplog, "using the given 12 fps; seqinfo.ini says it was recorded at 7")


def test_image_folder_takes_its_sequence_rate(tmp_path: Path) -> None:
    (tmp_path / "img1").mkdir()
    for i in range(3):
        cv2.imwrite(str(tmp_path / "img1" / f"{i + 1:06d}.jpg"), _image(value=i))
    _seqinfo(tmp_path, 14, 3)
    assert open_source(tmp_path / "img1").info.fps == 14


def test_seqinfo_of_another_length_is_ignored(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    video = _video(tmp_path / "clip.avi", 6, 10)
    _seqinfo(tmp_path, 7, 600)
    with caplog.at_level(logging.WARNING, logger="vidtrack"):
        assert open_source(video).info.fps == 10
    assert _warnings(caplog, "which describes 600 frames, not 6")


def test_malformed_seqinfo_is_ignored(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    video = _video(tmp_path / "clip.avi", 6, 10)
    (tmp_path / "seqinfo.ini").write_text("[Sequence]\nframeRate=fast\n")
    with caplog.at_level(logging.WARNING, logger="vidtrack"):
        assert open_source(video).info.fps == 10
    assert _warnings(caplog, "ignoring")


@pytest.mark.parametrize("fps", [0, -7, float("nan"), float("inf")])
def test_invalid_fps(tmp_path: Path, fps: float) -> None:
    with pytest.raises(ConfigError, match="fps must be a positive number"):
        open_source(_video(tmp_path / "clip.avi", 2, 10), fps=fps)


def _mot_frames(n: int) -> list[np.ndarray]:
    return [cv2.imread(str(IMAGES / f"{i:06d}.jpg")) for i in range(1, n + 1)]


def test_frames_in_memory() -> None:
    frames = _mot_frames(3)
    with open_source(frames, fps=25.0) as source:
        assert source.info == SourceInfo("frames", "memory", 25.0, (1920, 1080), 3)
        got = list(source)
    assert [f.index for f in got] == [0, 1, 2]
    assert all(f.image is image for f, image in zip(got, frames))
    generated = open_source(iter(frames), fps=25.0)  # any iterable, length unknown
    assert generated.info.frame_count is None and len(list(generated)) == 3
    single = open_source(frames[0])
    assert single.info.fps == sources.DEFAULT_FPS and [f.index for f in single] == [0]


def test_frames_in_memory_need_fps() -> None:
    with pytest.raises(ValueError, match="fps: frames in memory need their frame rate"):
        open_source(iter(_mot_frames(1)))


@pytest.mark.parametrize("bad", [
    np.zeros((4, 6, 3), dtype=np.float32),  # not uint8
    np.zeros((4, 6), dtype=np.uint8),  # grey
    np.zeros((4, 6, 4), dtype=np.uint8),  # BGRA
])
def test_bad_frame_in_memory_names_the_frame(bad: np.ndarray) -> None:
    good = np.zeros((4, 6, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"source: frame 0 must be an \(H, W, 3\) uint8 BGR image"):
        open_source([bad, good], fps=10.0)
    with pytest.raises(ValueError, match=r"source: frame 1 must be an \(H, W, 3\) uint8 BGR image"):
        list(open_source([good, bad], fps=10.0))


def test_no_frames_or_not_frames() -> None:
    with pytest.raises(ValueError, match="source: no frames given"):
        open_source([], fps=10.0)
    with pytest.raises(ValueError, match="source: expected a path"):
        open_source(3.5, fps=10.0)
