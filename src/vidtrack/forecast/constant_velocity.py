"""The constant-velocity forecaster: the baseline every learned forecaster must beat."""

from __future__ import annotations

from collections import deque

import numpy as np


def fit_velocity(frames: np.ndarray, boxes: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares line through each track's recent boxes, vectorised over tracks of different lengths.

    Args:
        frames: (N, T) frame indices; boxes: (N, T, 4); valid: (N, T) which entries are observations.

    Returns:
        (N, 4) fitted boxes at each track's last observed frame and (N, 4) velocities in pixels per frame
        (zero for a track with a single observation).
    """
    w = valid.astype(np.float64)
    count = np.maximum(w.sum(axis=1), 1)
    t_mean = (w * frames).sum(axis=1) / count  # (N,)
    b_mean = (w[..., None] * boxes).sum(axis=1) / count[:, None]  # (N, 4)
    dt = np.where(valid, frames - t_mean[:, None], 0.0)  # (N, T)
    var = (dt**2).sum(axis=1)
    cov = (dt[..., None] * np.where(valid[..., None], boxes - b_mean[:, None], 0.0)).sum(axis=1)
    velocity = np.divide(cov, var[:, None], out=np.zeros_like(cov), where=var[:, None] > 0)
    last = np.where(valid, frames, -np.inf).max(axis=1)
    return b_mean + velocity * (last - t_mean)[:, None], velocity


class ConstantVelocityForecaster:
    """Extrapolates a straight line fitted to each track's boxes over the last `window` frames.

    >>> cv = ConstantVelocityForecaster(horizon=3, window=5)
    >>> for f in range(3):
    ...     future = cv.step(f, np.array([7]), np.array([[10.0 * f, 0, 10.0 * f + 5, 5]]), np.zeros((1, 512)))
    >>> future[0, :, 0].tolist()
    [30.0, 40.0, 50.0]
    """

    kind = "constant_velocity"

    def __init__(self, horizon: int, window: int) -> None:
        self.horizon = horizon
        self.window = max(window, 2)
        self._history: dict[int, deque[tuple[int, np.ndarray]]] = {}

    def step(self, frame: int, track_ids: np.ndarray, xyxy: np.ndarray, features: np.ndarray) -> np.ndarray:
        n = len(track_ids)
        if n == 0:
            return np.zeros((0, self.horizon, 4), dtype=np.float32)
        frames = np.zeros((n, self.window))
        boxes = np.zeros((n, self.window, 4))
        valid = np.zeros((n, self.window), dtype=bool)
        for i, (track_id, box) in enumerate(zip(track_ids.tolist(), xyxy)):
            history = self._history.setdefault(track_id, deque(maxlen=self.window))
            history.append((frame, box))
            while history[0][0] <= frame - self.window:  # observations older than the window
                history.popleft()
            k = len(history)
            frames[i, :k] = [f for f, _ in history]
            boxes[i, :k] = [b for _, b in history]
            valid[i, :k] = True
        anchor, velocity = fit_velocity(frames, boxes, valid)
        steps = np.arange(1, self.horizon + 1)[None, :, None]
        return (anchor[:, None] + velocity[:, None] * steps).astype(np.float32)

    def step_with_std(self, frame: int, track_ids: np.ndarray, xyxy: np.ndarray, features: np.ndarray
                      ) -> tuple[np.ndarray, None]:
        """`step`; a straight line has no model of its errors, so no standard deviations."""
        return self.step(frame, track_ids, xyxy, features), None

    def forget(self, track_ids: list[int]) -> None:
        for track_id in track_ids:
            self._history.pop(track_id, None)
