"""Motion models: where the tracker expects each track in the current frame, and how sure it is.

Every track carries a Kalman filter state (`vidtrack.kalman.KalmanFilterXYAH`), which the tracker predicts and
corrects itself: it gives the filtered boxes whose moves fill the feature vectors' motion part, and a prediction for
any track. A motion model turns the tracks into expected boxes with standard deviations, which association compares
with the detections:

- `KalmanMotion`: the Kalman filter's own prediction (ByteTrack, BoT-SORT, OC-SORT all use one).
- `LSTMMotion` (`vidtrack.track.lstm_motion`): the learned forecaster's, made when the track was last seen, so that a
  track lost behind an occluder is looked for where the forecaster expects it to reappear.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np

from vidtrack.kalman import corner_std, xyah_to_xyxy

if TYPE_CHECKING:
    from vidtrack.track.tracker import Track


MOTION_MODELS = ("kalman", "lstm")  # the names `tracker.motion` takes


class MotionModel(Protocol):
    """Vectorised over the N tracks of one call; the tracker calls `expect` once per association pass."""

    def expect(self, tracks: Sequence[Track], frame: int) -> tuple[np.ndarray, np.ndarray]:
        """(N, 4) boxes x1 y1 x2 y2 where `tracks` should be in `frame`, and (N, 4) standard deviations."""

    def observe(self, tracks: Sequence[Track], frame: int, features: np.ndarray) -> None:
        """Learn from `frame`: `tracks` were just corrected with their detections, whose (N, 512) features these are."""

    def forget(self, track_ids: Sequence[int]) -> None:
        """Drop the state of tracks that ended."""

    def follow_camera(self, warp: np.ndarray) -> None:
        """Move what the model holds in image coordinates by the camera's (2, 3) warp from the previous frame (the
        tracker moves the tracks' Kalman states itself)."""


class KalmanMotion:
    """The Kalman filter's prediction, which the tracker has already made for the current frame."""

    def expect(self, tracks: Sequence[Track], frame: int) -> tuple[np.ndarray, np.ndarray]:
        mean, cov = np.stack([t.mean for t in tracks]), np.stack([t.covariance for t in tracks])
        return xyah_to_xyxy(mean[:, :4]), corner_std(mean, cov)

    def observe(self, tracks: Sequence[Track], frame: int, features: np.ndarray) -> None:
        pass

    def forget(self, track_ids: Sequence[int]) -> None:
        pass

    def follow_camera(self, warp: np.ndarray) -> None:
        pass
