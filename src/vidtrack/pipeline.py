"""The orchestrator: frames stream through detect → track → forecast, one result per frame, as they are decoded."""

from __future__ import annotations

import itertools
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import cv2
import numpy as np

from vidtrack.config import Config, load_config
from vidtrack.forecasting_tracker import ForecastingTracker
from vidtrack.io.motchallenge import read_detections, read_seqinfo
from vidtrack.io.sources import Frame, SourceInfo, ThreadedReader, check_fps, open_source
from vidtrack.structures import Detections, Tracks

T = TypeVar("T")
R = TypeVar("R")


def _batched(items: Iterable, n: int) -> Iterator[list]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, n)):
        yield batch


def _in_flight(function: Callable[[T], R], items: Iterable[T], depth: int) -> Iterator[tuple[T, R]]:
    """(item, function(item)) in order, computed in `depth` worker threads that run ahead of the caller (0: in the
    caller's thread): while the caller handles one result, the next `depth` items are being computed (the detector
    releases the GIL). The first item is computed in the caller's thread, before any other: it loads and compiles
    what the model needs (OpenVINO can deadlock when two threads make its first int8 requests at once)."""
    items = iter(items)
    if depth == 0:  # in the caller's thread, one after the other
        yield from ((item, function(item)) for item in items)
        return
    first = next(items, None)
    if first is None:
        return
    yield first, function(first)
    with ThreadPoolExecutor(depth, thread_name_prefix="vidtrack-detect") as pool:
        pending: deque[tuple[T, Future]] = deque()
        try:
            for item in items:
                pending.append((item, pool.submit(function, item)))
                if len(pending) > depth:
                    item, future = pending.popleft()
                    yield item, future.result()
            while pending:
                item, future = pending.popleft()
                yield item, future.result()
        finally:
            for _, future in pending:
                future.cancel()


@dataclass(frozen=True, slots=True)
class FrameResult:
    """Everything the pipeline knows about one frame.

    Attributes:
        index: 0-based position of the frame in the source (MOTChallenge files count from index + 1).
        time_s: index / fps.
        image: the decoded BGR frame, or None when tracking precomputed detections without images.
        detections: this frame's detections, with features.
        tracks: the confirmed tracks seen in this frame, with `forecast` boxes for the next frames.
    """

    index: int
    time_s: float
    image: np.ndarray | None
    detections: Detections
    tracks: Tracks


class Pipeline:
    """Detect, track and forecast.

    Example:
        >>> pipe = Pipeline.from_config("configs/default.yaml", device="cpu")
        >>> for result in pipe.run("clip.mp4"):
        ...     result.tracks.track_id, result.tracks.forecast   # (N,), (N, H, 4)
    """

    def __init__(self, config: Config | None = None) -> None:
        self.config = config or Config()
        self._detector = None
        self.info: SourceInfo | None = None  # of the source being run, once it is open

    @classmethod
    def from_config(cls, path: str | os.PathLike | None = None, *, device: str | None = None, **overrides: Any):
        """Load a YAML config; `overrides` use dotted keys written with `__`, e.g. `tracker__track_buffer_s=2`."""
        dotted = {k.replace("__", "."): v for k, v in overrides.items()}
        dotted["detector.device"] = device
        return cls(load_config(path, dotted))

    @property
    def detector(self):
        """The YOLO detector, loaded on first use (tracking precomputed detections needs none)."""
        if self._detector is None:
            from vidtrack.detect.detector import Detector

            d = self.config.detector
            self._detector = Detector(d.model, classes=d.classes, conf=d.conf, iou=d.iou, imgsz=d.imgsz,
                                      device=d.device, half=d.half, max_det=d.max_det,
                                      appearance=d.appearance, trust_weights=d.trust_weights,
                                      backend=d.backend, inflight=d.inflight)
        return self._detector

    def run(
        self, source: str | int | os.PathLike | np.ndarray | Iterable[np.ndarray], *, max_frames: int | None = None,
        fps: float | None = None, vid_stride: int = 1,
    ) -> Iterator[FrameResult]:
        """Stream a video file, image folder, webcam index, rtsp/http URL, or BGR frames in memory (one image, a list
        or any iterable: `fps` is then required) through the three stages.

        The frame rate, on which every time-based setting depends, is `fps` when given, else the ``seqinfo.ini`` beside
        the source when there is one, else the container's (see `open_source`). `vid_stride` n processes every n-th
        frame; the tracker predicts through the others. `max_frames` counts the frames processed.

        >>> results = list(Pipeline().run(frames, fps=25, vid_stride=2))   # frames 0, 2, 4, ... of a list
        """
        if not (isinstance(vid_stride, int) and vid_stride >= 1):
            raise ValueError(f"vid_stride must be a whole number of frames, 1 or more, got {vid_stride}")
        # The source opens first, so that a bad one fails before the model loads; decoding starts while it loads.
        with ThreadedReader(open_source(source, fps=fps), queue_size=self.config.output.queue_size) as reader:
            detector = self.detector
            self.info = reader.info
            frames: Iterable[Frame] = (frame for frame in reader if frame.index % vid_stride == 0)
            frames = itertools.islice(frames, max_frames) if max_frames else frames
            tracker = self._tracker()
            previous = -1
            batches = _batched(frames, self.config.detector.batch)
            for batch, found in _in_flight(lambda b: detector([f.image for f in b]), batches, detector.inflight):
                for frame, detections in zip(batch, found):
                    for _ in range(frame.index - previous - 1):  # skipped by the source or vid_stride: predict through
                        tracker.update(None)
                    previous = frame.index
                    yield self._result(frame.index, frame.image, detections, tracker)

    def run_detections(
        self, detections: str | os.PathLike, seqinfo: str | os.PathLike, *, max_frames: int | None = None,
        fps: float | None = None,
    ) -> Iterator[FrameResult]:
        """Track precomputed MOTChallenge detections (features hold geometry only); images are attached where the
        sequence's image folder has them. `fps` overrides the seqinfo's frame rate."""
        check_fps(fps)
        seq = read_seqinfo(seqinfo)
        per_frame = read_detections(detections, seq_length=seq.length)
        self.info = SourceInfo(seq.name, "detections", fps or seq.fps, (seq.width, seq.height), seq.length)
        tracker = self._tracker()
        folder = seq.image_folder
        for number in range(1, min(seq.length, max_frames or seq.length) + 1):
            image = None
            if folder is not None and (file := folder / f"{number:06d}{seq.im_ext}").is_file():
                image = cv2.imread(str(file))
            dets = per_frame.get(number) or Detections.empty()
            yield self._result(number - 1, image, dets, tracker)

    def run_many(self, sources: str | os.PathLike | Iterable[str | os.PathLike], out: str | os.PathLike,
                 **options: Any) -> Iterator:
        """Track many clips (a folder, glob, manifest or list of sources), each into its own folder under `out`, in
        parallel with `workers=N` or on Ray with `ray="local"` or an address; yields each clip's `ClipResult` as it
        finishes, skips the clips complete from an earlier run and writes `summary.csv` (see `vidtrack.parallel`).

        >>> for clip in pipe.run_many("videos/*.mp4", "runs/fleet", workers=2):
        ...     print(clip.name, clip.status, clip.frames, clip.error)
        """
        from vidtrack.parallel import run_many

        return run_many(self.config, sources, out, pipeline=self, **options)

    def _tracker(self) -> ForecastingTracker:
        return ForecastingTracker(self.config, fps=self.info.fps, image_size=self.info.size)

    def _result(self, index: int, image: np.ndarray | None, detections: Detections, tracker: ForecastingTracker
                ) -> FrameResult:
        return FrameResult(index, index / self.info.fps, image, detections, tracker.update(detections, image=image))
