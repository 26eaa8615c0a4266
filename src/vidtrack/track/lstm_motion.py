"""The learned motion model: each track is looked for where the LSTM forecaster expected it when last seen.

While a track is seen, that is the forecast one frame ahead; when it is lost behind an occluder, the forecast made at
its last observation runs on, up to the forecaster's horizon (1.5 s for the shipped one), with the uncertainty the
model learned for each time ahead. Past the horizon the Kalman filter takes over.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from vidtrack.errors import WeightsError
from vidtrack.forecast.lstm import LSTMForecaster, load_checkpoint
from vidtrack.track.camera_motion import warp_boxes
from vidtrack.track.motion import KalmanMotion

if TYPE_CHECKING:
    from vidtrack.track.tracker import Track


class LSTMMotion:
    """A `MotionModel` over an `LSTMForecaster`, which it steps once per frame for the observed tracks.

    The pipeline reads the same forecasts through `as_forecaster` instead of running the LSTM a second time.
    """

    def __init__(self, forecaster: LSTMForecaster) -> None:
        self.forecaster = forecaster
        self.kalman = KalmanMotion()
        self._made: dict[int, tuple[int, np.ndarray, np.ndarray]] = {}  # id → frame, (H, 4) boxes, (H, 4) std

    @classmethod
    def load(cls, checkpoint: str | os.PathLike | None, *, fps: float) -> LSTMMotion:
        """From a forecaster checkpoint folder or preset name (None: the default preset), forecasting as far ahead as
        it was trained."""
        from vidtrack.forecast import default_checkpoint

        model = load_checkpoint(default_checkpoint(checkpoint))
        horizon = int(model.config.horizon / model.config.fps * fps + 1e-6)
        return cls(LSTMForecaster(model, horizon=horizon, fps=fps))

    def expect(self, tracks: Sequence[Track], frame: int) -> tuple[np.ndarray, np.ndarray]:
        boxes, std = self.kalman.expect(tracks, frame)
        for i, track in enumerate(tracks):
            made = self._made.get(track.track_id)
            if made is not None and 1 <= frame - made[0] <= len(made[1]):
                boxes[i], std[i] = made[1][frame - made[0] - 1], made[2][frame - made[0] - 1]
        return boxes, std

    def observe(self, tracks: Sequence[Track], frame: int, features: np.ndarray) -> None:
        ids = np.array([t.track_id for t in tracks])
        boxes, std = self.forecaster.step_with_std(frame, ids, np.stack([t.smoothed for t in tracks]), features)
        for track_id, b, s in zip(ids.tolist(), boxes, std):
            self._made[track_id] = (frame, b, s)

    def forget(self, track_ids: Sequence[int]) -> None:
        self.forecaster.forget(list(track_ids))
        for track_id in track_ids:
            self._made.pop(track_id, None)

    def follow_camera(self, warp: np.ndarray) -> None:
        """Move the forecasts made in earlier frames with the camera, into this frame's coordinates."""
        scale = np.hypot(warp[0, 0], warp[1, 0])
        for track_id, (frame, boxes, std) in self._made.items():
            self._made[track_id] = (frame, warp_boxes(boxes, warp).astype(np.float32), std * np.float32(scale))

    def forecasts(self, track_ids: np.ndarray, frame: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        """(N, horizon, 4) forecasts made in `frame` for tracks observed in it, and their standard deviations."""
        out = np.empty((2, len(track_ids), horizon, 4), dtype=np.float32)
        for i, track_id in enumerate(np.asarray(track_ids).tolist()):
            made_frame, boxes, std = self._made[track_id]
            if made_frame != frame:
                raise ValueError(f"track {track_id} was not observed in frame {frame}")
            out[0, i], out[1, i] = boxes[:horizon], std[:horizon]
        return out[0], out[1]

    def as_forecaster(self, horizon: int) -> SharedForecasts:
        """A `Forecaster` that hands out this model's forecasts for the tracks observed in a frame."""
        if horizon > self.forecaster.horizon:
            raise WeightsError(f"the forecaster predicts {self.forecaster.horizon} frames ahead, fewer than the "
                               f"{horizon} asked for; lower forecast.horizon_s")
        return SharedForecasts(self, horizon)


class SharedForecasts:
    """The forecasts `LSTMMotion` made while tracking, as the pipeline's forecaster (the tracker forgets tracks)."""

    kind = "lstm"

    def __init__(self, motion: LSTMMotion, horizon: int) -> None:
        self.motion, self.horizon = motion, horizon

    def step(self, frame: int, track_ids: np.ndarray, xyxy: np.ndarray, features: np.ndarray) -> np.ndarray:
        return self.motion.forecasts(track_ids, frame, self.horizon)[0]

    def step_with_std(self, frame: int, track_ids: np.ndarray, xyxy: np.ndarray, features: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
        return self.motion.forecasts(track_ids, frame, self.horizon)

    def forget(self, track_ids: list[int]) -> None:
        pass
