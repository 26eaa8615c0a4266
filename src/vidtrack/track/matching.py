"""Cost matrices and optimal assignment, as pure functions."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) intersection over union of boxes x1 y1 x2 y2.

    >>> box_iou(np.array([[0, 0, 2, 2.0]]), np.array([[1, 0, 3, 2.0]]))
    array([[0.33333333]])
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(bottom_right - top_left, 0, None).prod(axis=2)
    area_a = (a[:, 2:] - a[:, :2]).prod(axis=1)
    area_b = (b[:, 2:] - b[:, :2]).prod(axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def iou_cost(tracks_xyxy: np.ndarray, dets_xyxy: np.ndarray, det_scores: np.ndarray | None = None) -> np.ndarray:
    """1 - IoU; with `det_scores`, the IoU is first weighted by each detection's score (ByteTrack's `fuse_score`)."""
    iou = box_iou(tracks_xyxy, dets_xyxy)
    if det_scores is not None:
        iou = iou * det_scores[None, :]
    return 1.0 - iou


def linear_assignment(cost: np.ndarray, thresh: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Minimum-cost matching that keeps only pairs with cost <= `thresh`.

    Returns (matches (K, 2) of row, column indices; unmatched rows; unmatched columns).

    >>> m, ur, uc = linear_assignment(np.array([[0.1, 0.9], [0.8, 0.95]]), thresh=0.5)
    >>> m.tolist(), ur.tolist(), uc.tolist()
    ([[0, 0]], [1], [1])
    """
    n_rows, n_cols = cost.shape
    if cost.size == 0:
        return np.zeros((0, 2), dtype=np.int64), np.arange(n_rows), np.arange(n_cols)
    # Pairs above the threshold are made prohibitively expensive so that they are never preferred to a valid pair.
    gated = np.where(cost <= thresh, cost, thresh + 1e5)
    rows, cols = linear_sum_assignment(gated)
    keep = cost[rows, cols] <= thresh
    matches = np.stack([rows[keep], cols[keep]], axis=1).astype(np.int64)
    unmatched_rows = np.setdiff1d(np.arange(n_rows), matches[:, 0])
    unmatched_cols = np.setdiff1d(np.arange(n_cols), matches[:, 1])
    return matches, unmatched_rows, unmatched_cols
