"""Track and forecast, without a detector: the pipeline's last two stages, for users who run their own detector."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from vidtrack.config import Config
from vidtrack.detect.colour import colour_features
from vidtrack.errors import ConfigError
from vidtrack.forecast import default_checkpoint
from vidtrack.forecast.base import Forecaster, valid_boxes
from vidtrack.forecast.constant_velocity import ConstantVelocityForecaster
from vidtrack.forecast.kalman import KalmanForecaster
from vidtrack.forecast.lstm import LSTMForecaster, load_checkpoint
from vidtrack.io.sources import check_fps
from vidtrack.structures import Detections, Tracks
from vidtrack.track.lstm_motion import LSTMMotion
from vidtrack.track.tracker import Tracker


class ForecastingTracker:
    """Links each frame's detections into tracks and forecasts every track's boxes, as `config`'s `tracker` and
    `forecast` sections say. `fps` and `image_size` (width, height) are the video's: time-based settings and the
    forecaster depend on them.

    Example:
        >>> tracker = ForecastingTracker(fps=30.0, image_size=(1920, 1080))   # or ForecastingTracker(load_config(...))
        >>> tracks = tracker.update(from_ultralytics(model(frame)[0]), image=frame)  # once per frame, in order
        >>> tracks.track_id, tracks.forecast   # (N,), (N, H, 4) boxes for the next H frames
        >>> tracker.update(None)   # a frame skipped or not decoded: tracks move on through it
    """

    def __init__(self, config: Config | None = None, *, fps: float, image_size: tuple[int, int]) -> None:
        check_fps(fps)
        if len(image_size) != 2 or not all(isinstance(n, (int, np.integer)) and n > 0 for n in image_size):
            raise ConfigError(f"image_size must be the frames' (width, height) in pixels, got {image_size}")
        config = config or Config()
        self.config = config
        # The tracker's LSTM is the forecaster's unless the tracker names its own.
        track_cfg = replace(config.tracker, motion_checkpoint=config.tracker.motion_checkpoint or
                            config.forecast.checkpoint)
        self.tracker = Tracker(track_cfg, fps=fps, image_size=(int(image_size[0]), int(image_size[1])))
        self.forecaster = self._forecaster(fps, default_checkpoint(track_cfg.motion_checkpoint))

    def _forecaster(self, fps: float, tracker_checkpoint: Path) -> Forecaster:
        cfg = self.config.forecast
        horizon = max(1, int(cfg.horizon_s * fps + 1e-6))  # whole frames within horizon_s
        checkpoint = default_checkpoint(cfg.checkpoint)
        if isinstance(self.tracker.motion, LSTMMotion) and cfg.model == "lstm" and checkpoint == tracker_checkpoint:
            return self.tracker.motion.as_forecaster(horizon)  # the tracker's forecasts: the LSTM runs once
        if cfg.model == "lstm":
            return LSTMForecaster(load_checkpoint(checkpoint), horizon=horizon, fps=fps, runtime=cfg.runtime)
        if cfg.model == "kalman":
            return KalmanForecaster(horizon)
        return ConstantVelocityForecaster(horizon, window=round(cfg.velocity_window_s * fps))

    def update(self, detections: Detections | None, *, image: np.ndarray | None = None) -> Tracks:
        """Advance one frame: the confirmed tracks seen in it, with their `forecast`. `image` (BGR) serves
        `tracker.camera_motion` and, for detections without features, the colour appearance (`detector.appearance:
        colour`, the default), as in the pipeline; without it they are associated on motion alone."""
        tracker, forecaster = self.tracker, self.forecaster
        colour = self.config.detector.appearance == "colour"
        if colour and detections is not None and detections.features is None and image is not None:
            features = colour_features(image, detections.xyxy, detections.score)
            detections = Detections(detections.xyxy, detections.score, detections.class_id, features)
        tracks = tracker.update(detections, image=image)
        forecaster.forget(tracker.removed_ids)
        # An LSTM reads the tracker's filtered boxes (see Tracker.smoothed_boxes) and forecasts from them.
        boxes = tracker.smoothed_boxes(tracks.track_id) if forecaster.kind == "lstm" else tracks.xyxy
        future, std = forecaster.step_with_std(tracker.frame, tracks.track_id, boxes,
                                               tracker.last_features(tracks.track_id))
        return tracks.with_forecast(valid_boxes(future), forecaster.kind, std)
