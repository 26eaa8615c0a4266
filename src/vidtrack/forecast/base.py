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

    def step_with_std(
        self, frame: int, track_ids: np.ndarray, xyxy: np.ndarray, features: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """`step`, and the (N, horizon, 4) standard deviations of the forecast coordinates in pixels, or None from a
        forecaster that has no model of its errors (constant velocity)."""

    def forget(self, track_ids: list[int]) -> None:
        """Drop the state of tracks that ended."""


MIN_SIZE = 1.0  # pixels: the smallest width or height of a forecast box


def valid_boxes(boxes: np.ndarray) -> np.ndarray:
    """Forecast boxes (..., 4) made valid: a box whose predicted corners crossed (x2 < x1 or y2 < y1: each corner is
    predicted on its own) keeps its centre and gets a width or height of `MIN_SIZE`.

    >>> valid_boxes(np.array([[169.5, 483.9, 142.2, 523.5]])).round(2).tolist()
    [[155.35, 483.9, 156.35, 523.5]]
    """
    centre = (boxes[..., :2] + boxes[..., 2:]) / 2
    half = np.maximum(boxes[..., 2:] - boxes[..., :2], MIN_SIZE) / 2
    return np.concatenate([centre - half, centre + half], axis=-1).astype(boxes.dtype, copy=False)
