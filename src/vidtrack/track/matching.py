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
    """Minimum-cost matching in which leaving a row and a column unmatched costs `thresh`, so that only pairs with
    cost <= `thresh` are kept (the `cost_limit` of lapjv, which ByteTrack and Ultralytics use). Unlike dropping the
    expensive pairs of a full assignment, it never takes a poor pair to free a good one for another row.

    Returns (matches (K, 2) of row, column indices; unmatched rows; unmatched columns).

    >>> m, ur, uc = linear_assignment(np.array([[0.1, 0.9], [0.8, 0.95]]), thresh=0.5)
    >>> m.tolist(), ur.tolist(), uc.tolist()
    ([[0, 0]], [1], [1])
    """
    n_rows, n_cols = cost.shape
    if cost.size == 0:
        return np.zeros((0, 2), dtype=np.int64), np.arange(n_rows), np.arange(n_cols)
    # Each pair is worth what it saves against leaving both sides unmatched; a pair that saves nothing is skipped.
    saving = np.minimum(np.nan_to_num(cost - thresh, nan=0.0, posinf=0.0), 0.0)
    rows, cols = linear_sum_assignment(saving)
    keep = cost[rows, cols] <= thresh
    matches = np.stack([rows[keep], cols[keep]], axis=1).astype(np.int64)
    free_rows, free_cols = np.ones(n_rows, dtype=bool), np.ones(n_cols, dtype=bool)
    free_rows[matches[:, 0]] = free_cols[matches[:, 1]] = False
    return matches, np.flatnonzero(free_rows), np.flatnonzero(free_cols)


def appearance_cost(track_appearance: np.ndarray, det_appearance: np.ndarray) -> np.ndarray:
    """(N, M) cosine distance halved into [0, 1] (0: same direction), as BoT-SORT does, between rows of unit-norm
    vectors."""
    return np.clip((1.0 - track_appearance @ det_appearance.T) / 2.0, 0.0, 1.0)


def mahalanobis_sq(expected: np.ndarray, std: np.ndarray, dets_xyxy: np.ndarray) -> np.ndarray:
    """(N, M) squared distance of each detection's corners from each expected box, in the expected standard
    deviations (N, 4); chi-square distributed with 4 degrees of freedom where the expectation is right."""
    z = (dets_xyxy[None, :, :] - expected[:, None, :]) / np.maximum(std[:, None, :], 1e-6)
    return (z**2).sum(axis=2)
