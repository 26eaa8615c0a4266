"""The baselines a learned forecaster must beat, on windows (see `vidtrack.forecast.data`)."""

from __future__ import annotations

import numpy as np

from vidtrack.forecast.constant_velocity import fit_velocity
from vidtrack.forecast.data import OBSERVE_S, filter_windows
from vidtrack.forecast.kalman import KalmanForecaster


def constant_velocity_forecast(past: np.ndarray, fps: np.ndarray, times: np.ndarray,
                               window_s: float = OBSERVE_S) -> np.ndarray:
    """(N, H, 4): a straight line fitted to the boxes of the last `window_s` seconds, extrapolated `times` ahead."""
    n, t_len = past.shape[:2]
    frames = np.broadcast_to(np.arange(t_len) - (t_len - 1.0), (n, t_len))  # 0 is now
    valid = np.isfinite(past).all(axis=2) & (-frames <= window_s * fps[:, None] + 1e-9)
    anchor, velocity = fit_velocity(frames, np.nan_to_num(past), valid)
    return anchor[:, None] + velocity[:, None] * (times[None, :, None] * fps[:, None, None])


def kalman_forecast(past: np.ndarray, fps: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, H, 4) boxes and standard deviations: the tracker's Kalman filter run over each window and rolled forward,
    interpolated between frames; exactly what `KalmanForecaster` does at run time."""
    fps, times = np.asarray(fps, dtype=float), np.asarray(times, dtype=float)
    _, mean, cov = filter_windows(past)
    rollout = KalmanForecaster(0)
    boxes, stds = np.empty((len(past), len(times), 4)), np.empty((len(past), len(times), 4))
    for rate in np.unique(fps):
        rows = fps == rate
        ahead = times * rate  # fractional frames
        b, s = rollout.rollout(mean[rows], cov[rows], int(np.ceil(ahead.max())), with_std=True)
        low = np.floor(ahead).astype(int)
        frac = (ahead - low)[None, :, None]
        high = np.minimum(low + 1, b.shape[1] - 1)
        boxes[rows] = b[:, low] * (1 - frac) + b[:, high] * frac
        stds[rows] = s[:, low] * (1 - frac) + s[:, high] * frac
    return boxes, stds
