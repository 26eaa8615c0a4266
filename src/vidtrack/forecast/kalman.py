"""The Kalman forecaster: the tracker's motion model rolled forward, a baseline and the base of the LSTM's forecast."""

from __future__ import annotations

import numpy as np

from vidtrack.kalman import KalmanFilterXYAH, corner_std


class KalmanForecaster:
    """Keeps one Kalman filter per track (predicted through missed frames, updated on observed ones) and predicts
    `horizon` frames ahead.

    >>> kf = KalmanForecaster(horizon=2)
    >>> future = kf.step(0, np.array([1]), np.array([[0.0, 0, 10, 20]]), np.zeros((1, 512)))
    >>> future.shape
    (1, 2, 4)
    """

    kind = "kalman"

    def __init__(self, horizon: int) -> None:
        self.horizon = horizon
        self.filter = KalmanFilterXYAH()
        self._state: dict[int, tuple[np.ndarray, np.ndarray, int]] = {}  # id → mean, covariance, last frame
        self._powers = np.zeros((0, 8, 8))  # transition^1 ... transition^k, computed once

    def observe(self, frame: int, track_ids: np.ndarray, xyxy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Advance each track's filter to `frame` and correct it with the observed box; returns (N, 8) means and
        (N, 8, 8) covariances."""
        n = len(track_ids)
        mean, cov = np.zeros((n, 8)), np.zeros((n, 8, 8))
        gaps = np.zeros(n, dtype=int)
        for i, track_id in enumerate(track_ids.tolist()):
            if track_id in self._state:
                mean[i], cov[i], last = self._state[track_id]
                gaps[i] = frame - last
        new = gaps == 0
        if new.any():
            mean[new], cov[new] = self.filter.initiate(xyxy[new])
        for gap in range(1, gaps.max(initial=0) + 1):  # predict through missed frames
            moving = gaps >= gap
            mean[moving], cov[moving] = self.filter.predict(mean[moving], cov[moving])
        old = ~new
        if old.any():
            mean[old], cov[old] = self.filter.update(mean[old], cov[old], xyxy[old])
        for i, track_id in enumerate(track_ids.tolist()):
            self._state[track_id] = (mean[i], cov[i], frame)
        return mean, cov

    def rollout(self, mean: np.ndarray, cov: np.ndarray, steps: int, with_std: bool = False):
        """(N, steps, 4) boxes predicted 1 ... `steps` frames ahead; with `with_std`, frames 0 ... `steps` and the
        (N, steps + 1, 4) standard deviations of x1 y1 x2 y2 too."""
        if not with_std:  # the mean alone needs no covariance: one product with the powers of the transition
            if len(self._powers) < steps:
                self._powers = np.stack([np.linalg.matrix_power(self.filter.transition, k)
                                         for k in range(1, steps + 1)])
            means = (mean @ self._powers[:steps].reshape(-1, 8).T).reshape(len(mean), steps, 8)
            return self.filter.to_xyxy(means.reshape(-1, 8)).reshape(len(mean), steps, 4)
        boxes, stds = [self.filter.to_xyxy(mean)], [corner_std(mean, cov)] if with_std else []
        for _ in range(steps):
            mean, cov = self.filter.predict(mean, cov)
            boxes.append(self.filter.to_xyxy(mean))
            if with_std:
                stds.append(corner_std(mean, cov))
        if with_std:
            return np.stack(boxes, axis=1), np.stack(stds, axis=1)
        return np.stack(boxes[1:], axis=1)

    def step(self, frame: int, track_ids: np.ndarray, xyxy: np.ndarray, features: np.ndarray) -> np.ndarray:
        if len(track_ids) == 0:
            return np.zeros((0, self.horizon, 4), dtype=np.float32)
        mean, cov = self.observe(frame, track_ids, np.asarray(xyxy, dtype=np.float64))
        return self.rollout(mean, cov, self.horizon).astype(np.float32)

    def step_with_std(self, frame: int, track_ids: np.ndarray, xyxy: np.ndarray, features: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
        """`step`, and the standard deviations of x1 y1 x2 y2 that the filter's covariance gives at each step."""
        if len(track_ids) == 0:
            empty = np.zeros((0, self.horizon, 4), dtype=np.float32)
            return empty, empty
        mean, cov = self.observe(frame, track_ids, np.asarray(xyxy, dtype=np.float64))
        boxes, std = self.rollout(mean, cov, self.horizon, with_std=True)
        return boxes[:, 1:].astype(np.float32), std[:, 1:].astype(np.float32)

    def forget(self, track_ids: list[int]) -> None:
        for track_id in track_ids:
            self._state.pop(track_id, None)
