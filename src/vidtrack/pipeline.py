"""The orchestrator: frames stream through detect → track → forecast, one result per frame, as they are decoded."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import cv2
import numpy as np

from vidtrack.config import Config, load_config
from vidtrack.forecast import default_checkpoint
from vidtrack.forecast.base import Forecaster, valid_boxes
from vidtrack.forecast.constant_velocity import ConstantVelocityForecaster
from vidtrack.forecast.kalman import KalmanForecaster
from vidtrack.forecast.lstm import LSTMForecaster, load_checkpoint
from vidtrack.io.motchallenge import read_detections, read_seqinfo
from vidtrack.io.sources import Frame, SourceInfo, ThreadedReader, check_fps, open_source
from vidtrack.structures import Detections, Tracks
from vidtrack.track.lstm_motion import LSTMMotion
from vidtrack.track.tracker import Tracker


def _batched(items: Iterable, n: int) -> Iterator[list]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, n)):
        yield batch


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
                                      appearance=d.appearance)
        return self._detector

    def run(
        self, source: str | int | os.PathLike, *, max_frames: int | None = None, fps: float | None = None
    ) -> Iterator[FrameResult]:
        """Stream a video file, image folder, webcam index or rtsp/http URL through the three stages.

        The frame rate, on which every time-based setting depends, is `fps` when given, else the ``seqinfo.ini`` beside
        the source when there is one, else the container's (see `open_source`).
        """
        # The source opens first, so that a bad one fails before the model loads; decoding starts while it loads.
        with ThreadedReader(open_source(source, fps=fps), queue_size=self.config.output.queue_size) as reader:
            detector = self.detector
            self.info = reader.info
            frames: Iterable[Frame] = itertools.islice(reader, max_frames) if max_frames else reader
            tracker, forecaster = self._stages()
            previous = -1
            for batch in _batched(frames, self.config.detector.batch):
                for frame, detections in zip(batch, detector([f.image for f in batch])):
                    for _ in range(frame.index - previous - 1):  # frames the source skipped: predict through them
                        tracker.update(None)
                        forecaster.forget(tracker.removed_ids)
                    previous = frame.index
                    yield self._step(frame.index, frame.image, detections, tracker, forecaster)

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
        tracker, forecaster = self._stages()
        folder = seq.image_folder
        for number in range(1, min(seq.length, max_frames or seq.length) + 1):
            image = None
            if folder is not None and (file := folder / f"{number:06d}{seq.im_ext}").is_file():
                image = cv2.imread(str(file))
            dets = per_frame.get(number) or Detections.empty()
            yield self._step(number - 1, image, dets, tracker, forecaster)

    def _stages(self) -> tuple[Tracker, Forecaster]:
        info, cfg = self.info, self.config.forecast
        # The tracker's LSTM is the forecaster's unless the tracker names its own.
        track_cfg = replace(self.config.tracker,
                            motion_checkpoint=self.config.tracker.motion_checkpoint or cfg.checkpoint)
        tracker = Tracker(track_cfg, fps=info.fps, image_size=info.size)
        horizon = max(1, int(cfg.horizon_s * info.fps + 1e-6))  # whole frames within horizon_s
        checkpoint = default_checkpoint(cfg.checkpoint)
        same_model = checkpoint == default_checkpoint(track_cfg.motion_checkpoint)
        if isinstance(tracker.motion, LSTMMotion) and cfg.model == "lstm" and same_model:
            return tracker, tracker.motion.as_forecaster(horizon)  # the tracker's forecasts: the LSTM runs once
        if cfg.model == "lstm":
            forecaster = LSTMForecaster(load_checkpoint(checkpoint), horizon=horizon, fps=info.fps)
        elif cfg.model == "kalman":
            forecaster = KalmanForecaster(horizon)
        else:
            forecaster = ConstantVelocityForecaster(horizon, window=round(cfg.velocity_window_s * info.fps))
        return tracker, forecaster

    def _step(
        self, index: int, image: np.ndarray | None, detections: Detections, tracker: Tracker, forecaster: Forecaster
    ) -> FrameResult:
        tracks = tracker.update(detections, image=image)
        forecaster.forget(tracker.removed_ids)
        # An LSTM reads the tracker's filtered boxes (see Tracker.smoothed_boxes) and forecasts from them.
        boxes = tracker.smoothed_boxes(tracks.track_id) if forecaster.kind == "lstm" else tracks.xyxy
        future = valid_boxes(forecaster.step(index, tracks.track_id, boxes, tracker.last_features(tracks.track_id)))
        tracks = tracks.with_forecast(future, forecaster.kind)
        return FrameResult(index, index / self.info.fps, image, detections, tracks)
