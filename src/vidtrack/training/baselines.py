"""The baselines a learned forecaster must beat, on windows (see `vidtrack.training.windows`)."""

from __future__ import annotations

import numpy as np

from vidtrack.forecast.constant_velocity import fit_velocity
from vidtrack.forecast.features import OBSERVE_S


def constant_velocity_forecast(past: np.ndarray, fps: np.ndarray, times: np.ndarray,
                               window_s: float = OBSERVE_S) -> np.ndarray:
    """(N, H, 4): a straight line fitted to the boxes of the last `window_s` seconds, extrapolated `times` ahead."""
    n, t_len = past.shape[:2]
    frames = np.broadcast_to(np.arange(t_len) - (t_len - 1.0), (n, t_len))  # 0 is now
    valid = np.isfinite(past).all(axis=2) & (-frames <= window_s * fps[:, None] + 1e-9)
    anchor, velocity = fit_velocity(frames, np.nan_to_num(past), valid)
    return anchor[:, None] + velocity[:, None] * (times[None, :, None] * fps[:, None, None])


def linear_kalman_forecast(past: np.ndarray, steps: int, *, q: float = 1.0, r: float = 4.0,
                           velocity_var: float = 1e4) -> np.ndarray:
    """(N, steps, 4): the reference filter of the JAAD benchmark, a constant-velocity Kalman filter per box
    coordinate, run over the observed boxes of each window and rolled forward `steps` frames.

    Each coordinate on its own: state (position, velocity per frame), transition [[1, 1], [0, 1]], process noise
    q·[[1/3, 1/2], [1/2, 1]] px², measurement noise r px². It starts at the first observed box with velocity 0 and
    covariance diag(r, velocity_var), and is updated with every later box in order (NaN rows are skipped). With the
    defaults it reproduces the benchmark's "Linear" row to within a few percent; q = 1.78, r = 316 (tuned on the JAAD
    train split) make it the strongest linear baseline.

    >>> past = np.arange(15.0)[None, :, None].repeat(4, axis=2)  # every coordinate moves 1 px per frame
    >>> float(linear_kalman_forecast(past, 2)[0, -1, 0].round(3))
    16.0
    """
    n, t_len = past.shape[:2]
    seen = np.isfinite(past).all(axis=2)
    first = np.argmax(seen, axis=1)
    position = past[np.arange(n), first].copy()  # (N, 4)
    velocity = np.zeros((n, 4))
    p00, p01, p11 = np.full((n, 4), r), np.zeros((n, 4)), np.full((n, 4), velocity_var)
    for t in range(t_len):
        update = (seen[:, t] & (t > first))[:, None]
        # predict one frame: x' = F x, P' = F P F^T + Q
        moved = np.where(t > first, 1.0, 0.0)[:, None]  # the filter starts at `first`
        position = position + velocity * moved
        p00, p01, p11 = (p00 + (2 * p01 + p11 + q / 3) * moved, p01 + (p11 + q / 2) * moved, p11 + q * moved)
        # correct with the observed box where there is one
        gain0, gain1 = p00 / (p00 + r), p01 / (p00 + r)
        innovation = np.where(update, np.nan_to_num(past[:, t]) - position, 0.0)
        position, velocity = position + gain0 * innovation, velocity + gain1 * innovation
        p00, p01, p11 = (np.where(update, (1 - gain0) * p00, p00), np.where(update, (1 - gain0) * p01, p01),
                         np.where(update, p11 - gain1 * p01, p11))
    return position[:, None] + velocity[:, None] * np.arange(1, steps + 1)[None, :, None]
