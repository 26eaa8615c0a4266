"""What every forecaster offers the pipeline: per-track state kept between frames, batched over live tracks."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Forecaster(Protocol):
    """Predicts each track's boxes for the next `horizon` frames.

    `kind` labels the output ("constant_velocity", "lstm") so that no one mistakes one method for another.
    """

    kind: str
    horizon: int

    def step(self, frame: int, track_ids: np.ndarray, xyxy: np.ndarray, features: np.ndarray) -> np.ndarray:
        """Take this frame's observations of N tracks, (N,) ids, (N, 4) boxes and (N, 512) features; return
        their (N, horizon, 4) forecast boxes for frames `frame + 1 ... frame + horizon`."""

    def forget(self, track_ids: list[int]) -> None:
        """Drop the state of tracks that ended."""
