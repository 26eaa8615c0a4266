"""What a forecaster computes from a track's past boxes, at run time and in training alike.

A window is one track's past boxes, (N, T, 4) x1 y1 x2 y2 in pixels at the clip's frame rate, oldest first and
right-aligned (`past[:, -1]` is now), NaN where the object was not observed. From it come the (N, T, 512) feature
vectors the tracker would have stored (`window_features`), and the Kalman filter's forecast (`kalman_forecast`, the
baseline every learned forecast is measured against). `Forecaster.predict` runs these on the histories it is given;
training (`vidtrack.training`) runs the same functions on the windows it cuts from labelled clips, so that the model
sees in training what it sees at run time.
"""

from __future__ import annotations

import numpy as np

from vidtrack.detect.features import APPEARANCE, HAS_APPEARANCE, geometry_features, set_motion
from vidtrack.forecast.kalman import KalmanForecaster
from vidtrack.kalman import KalmanFilterXYAH
from vidtrack.structures import FEATURE_DIM

OBSERVE_S = 0.5  # seconds of history a forecast reads (PIE protocol: observe 0.5 s, predict up to 1.5 s)


def filter_windows(past: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run the tracker's Kalman filter over each window, frame by frame, as the tracker would.

    Returns per-frame states (N, T, 8) after each update (NaN before the first observation), and the final state and
    covariance (N, 8), (N, 8, 8) at now.
    """
    kalman = KalmanFilterXYAH()
    n, t_len = past.shape[:2]
    seen = np.isfinite(past).all(axis=2)
    mean, cov = np.zeros((n, 8)), np.tile(np.eye(8), (n, 1, 1))
    started = np.zeros(n, dtype=bool)
    states = np.full((n, t_len, 8), np.nan)
    for t in range(t_len):
        if started.any():
            mean[started], cov[started] = kalman.predict(mean[started], cov[started])
        update = seen[:, t] & started
        if update.any():
            mean[update], cov[update] = kalman.update(mean[update], cov[update], past[update, t])
        start = seen[:, t] & ~started
        if start.any():
            mean[start], cov[start] = kalman.initiate(past[start, t])
            started |= start
        states[seen[:, t], t] = mean[seen[:, t]]
    return states, mean, cov


def window_features(
    past: np.ndarray, fps: np.ndarray, image_size: np.ndarray,
    appearance: np.ndarray | None = None, vectors: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The (N, T, 512) feature vectors the tracker would have stored for each observed past box, and the (N, T) mask
    of observed frames. Motion is each box's move since the previous observed one (`set_motion`). Appearance comes
    from `vectors` (M, 448) at the (N, T) rows `appearance` (`Windows.appearance`), with `HAS_APPEARANCE` 1, on
    observed steps with a row >= 0; elsewhere it is zero with `HAS_APPEARANCE` 0."""
    n, t_len = past.shape[:2]
    seen = np.isfinite(past).all(axis=2)
    frames = np.arange(t_len)[None].repeat(n, axis=0).astype(float)
    first = np.where(seen, frames, np.inf).min(axis=1)  # (N,)
    previous = np.full((n, t_len), np.nan)  # frame of the observation before each one
    last_seen = np.full(n, np.nan)
    for t in range(t_len):
        previous[:, t] = last_seen
        last_seen = np.where(seen[:, t], t, last_seen)
    features = np.zeros((n, t_len, FEATURE_DIM), dtype=np.float32)
    rows, cols = np.nonzero(seen)
    window_fps = fps[rows]
    sizes = image_size[rows]
    # Geometry per image size: group rows by size (a handful of distinct clips per batch).
    for size in np.unique(sizes, axis=0):
        at = (sizes == size).all(axis=1)
        r, c = rows[at], cols[at]
        f = geometry_features(past[r, c], np.ones(len(r)), (int(size[0]), int(size[1])))
        gap = np.nan_to_num(c - previous[r, c], nan=0.0)
        before = past[r, np.nan_to_num(previous[r, c], nan=0).astype(int)]
        set_motion(f, past[r, c], before, gap / window_fps[at], (c - first[r]) / window_fps[at],
                   (int(size[0]), int(size[1])))
        features[r, c] = f
    if appearance is not None and vectors is not None:
        r, c = np.nonzero(seen & (appearance >= 0))
        features[r, c, APPEARANCE] = vectors[appearance[r, c]]
        features[r, c, HAS_APPEARANCE] = 1.0
    return features, seen


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
