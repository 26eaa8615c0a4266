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
