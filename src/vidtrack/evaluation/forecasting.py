"""Forecast error metrics, as pure functions over (N, H, 4) boxes at H times ahead.

They follow the PIE protocol (Rasouli et al., "PIE: A Large-Scale Dataset and Models for Pedestrian Intention
Estimation and Trajectory Prediction", ICCV 2019): observe 0.5 s, predict up to 1.5 s; MSE of the box coordinates
(x1 y1 x2 y2, px²) averaged over the steps of the first 0.5, 1.0 and 1.5 s; C_MSE, the MSE of box centres over all
steps, and CF_MSE, the MSE of the centre at the final step. ADE and FDE are the mean centre distances (px) over all
steps and at the final step, FIoU the IoU of the final box. Truth may be NaN where it is unknown: such steps are left
out, and windows with an unknown final box are left out of the final-step metrics.
"""

from __future__ import annotations

import numpy as np


def paired_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N,) IoU of each box in `a` with the box in the same row of `b`."""
    inter = np.clip(np.minimum(a[:, 2:], b[:, 2:]) - np.maximum(a[:, :2], b[:, :2]), 0, None).prod(axis=1)
    union = (a[:, 2:] - a[:, :2]).prod(axis=1) + (b[:, 2:] - b[:, :2]).prod(axis=1) - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _centre(boxes: np.ndarray) -> np.ndarray:
    return (boxes[..., :2] + boxes[..., 2:]) / 2


def forecast_metrics(pred: np.ndarray, future: np.ndarray, times: np.ndarray, std: np.ndarray | None = None) -> dict:
    """PIE metrics, ADE/FDE/FIoU and, with `std`, the share of true coordinates within 1 and 2 standard deviations
    (0.683 and 0.954 for calibrated Gaussians).

    >>> truth = np.zeros((1, 2, 4)); truth[..., 2:] = 10
    >>> forecast_metrics(truth + 2, truth, np.array([0.5, 1.5]))["fde"]  # every coordinate 2 px off
    2.8284271247461903
    """
    known = np.isfinite(future).all(axis=2)  # (N, H)
    squared = ((pred - future) ** 2).mean(axis=2)  # (N, H) box MSE per step
    centre_sq = ((_centre(pred) - _centre(future)) ** 2).sum(axis=2)  # (N, H) squared centre distance
    final = known[:, -1]
    nan = float("nan")
    metrics = {f"mse_{limit}": float(squared[:, times <= limit + 1e-9][known[:, times <= limit + 1e-9]].mean())
               for limit in (0.5, 1.0, 1.5)}
    metrics |= {
        # PIE averages the squared error over the two centre coordinates, hence the halves
        "c_mse": float(centre_sq[known].mean() / 2) if known.any() else nan,
        "cf_mse": float(centre_sq[final, -1].mean() / 2) if final.any() else nan,
        "ade": float(np.sqrt(centre_sq[known]).mean()) if known.any() else nan,
        "fde": float(np.sqrt(centre_sq[final, -1]).mean()) if final.any() else nan,
        "fiou": float(paired_iou(pred[final, -1], future[final, -1]).mean()) if final.any() else nan,
        "n_windows": len(pred),
    }
    if std is not None:
        z = np.abs(pred - future)[known] / np.maximum(std[known], 1e-9)  # (K, 4)
        metrics["calibration_1sigma"] = float((z <= 1).mean())
        metrics["calibration_2sigma"] = float((z <= 2).mean())
    return metrics


def error_by_horizon(pred: np.ndarray, future: np.ndarray, times: np.ndarray) -> np.ndarray:
    """(H,) mean centre distance in px at each time ahead, over windows where the truth is known (NaN where none)."""
    distance = np.linalg.norm(_centre(pred) - _centre(future), axis=2)  # (N, H)
    known = np.isfinite(distance)
    count = known.sum(axis=0)
    return np.where(count > 0, np.where(known, distance, 0).sum(axis=0) / np.maximum(count, 1), np.nan)
