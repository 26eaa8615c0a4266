"""A colour appearance descriptor: what someone wears, from the pixels inside the box, with no model to train.

Each box gives two HSV histograms (8 hue x 4 saturation x 4 value bins), of its upper part (10-50 % of the height:
the torso) and its lower part (50-90 %: the legs), inside the central 60 % of the width (less background). The
histograms are normalised, square-rooted and concatenated into a unit vector, so that the tracker's halved cosine
distance between two vectors is (1 - mean Bhattacharyya coefficient of the two parts) / 2.

On PETS09-S2L1, it tells one person over 3 s from another far better than the detector's pooled feature maps: ROC AUC
0.99 against 0.84 on the second half of the video (README, "Appearance").
"""

from __future__ import annotations

import cv2
import numpy as np

from vidtrack.detect.features import HAS_APPEARANCE, geometry_features

BINS = (8, 4, 4)  # hue, saturation, value
PARTS = ((0.1, 0.5), (0.5, 0.9))  # (top, bottom) of each part, as fractions of the box height
MARGIN = 0.2  # share of the width left out on each side
DIM = len(PARTS) * int(np.prod(BINS))  # 256
# The histogram bin of each 8-bit hue (0-179), saturation and value, as offsets into the flattened (8, 4, 4) bins.
HUE_BIN = np.arange(256) * BINS[0] // 180 * BINS[1] * BINS[2]
SATURATION_BIN = np.arange(256) * BINS[1] // 256 * BINS[2]
VALUE_BIN = np.arange(256) * BINS[2] // 256
SAMPLES = 32  # at most this many pixels are read along each side of a part: a stride over larger boxes


def colour_histograms(image: np.ndarray, xyxy: np.ndarray) -> np.ndarray:
    """(N, 256) float32 unit vectors for the boxes `xyxy` (N, 4, pixels) of a BGR image.

    The pixels of all boxes are gathered with one index and counted at once. A part wider or taller than `SAMPLES`
    pixels is read at a stride (every k-th pixel along that side), so that a 400 px tall person costs what an 80 px
    one does: on MOT17-02's detections (62-377 px tall) the strided histograms are within cosine 0.99 of the whole
    parts' (tested), and on PETS09-S2L1 the ROC AUCs are those of whole parts to within 0.001 (README,
    "Appearance"). 50 people in a 1080p frame take 1.0 ms, against 4.6 ms with a conversion and a histogram per part.
    """
    n = len(xyxy)
    if n == 0:
        return np.zeros((0, DIM), dtype=np.float32)
    height, width = image.shape[:2]
    x1, y1, x2, y2 = np.asarray(xyxy, dtype=np.float64).T
    w, h = x2 - x1, y2 - y1
    # One entry per part, part-major (every box's first part, then every box's second): its corner, strides and the
    # number of sample rows and columns.
    top_of, bottom_of = np.array(PARTS).T[:, :, None]  # (parts, 1) fractions of the box height
    top = np.clip(y1 + top_of * h, 0, height - 1).astype(np.int64).ravel()
    bottom = np.maximum(np.clip(y1 + bottom_of * h, 1, height).astype(np.int64).ravel(), top + 1)
    left = np.tile(np.clip(x1 + MARGIN * w, 0, width - 1).astype(np.int64), len(PARTS))
    right = np.maximum(np.tile(np.clip(x2 - MARGIN * w, 1, width).astype(np.int64), len(PARTS)), left + 1)
    step_x, step_y = -(-(right - left) // SAMPLES), -(-(bottom - top) // SAMPLES)  # ceil
    columns, rows = -(-(right - left) // step_x), -(-(bottom - top) // step_y)
    # Flat pixel indices, built a row of samples at a time: (rows,) row starts, then (pixels,) steps along the rows.
    row_part = np.repeat(np.arange(len(rows)), rows)
    row_start = (top[row_part] + _counting(rows) * step_y[row_part]) * width + left[row_part]
    per_row = columns[row_part]
    index = np.repeat(row_start, per_row) + _counting(per_row) * np.repeat(step_x[row_part], per_row)
    part = np.repeat(row_part, per_row)
    pixels = np.take(image.reshape(-1, 3), index, axis=0)
    hue, saturation, value = cv2.cvtColor(pixels[None], cv2.COLOR_BGR2HSV)[0].T
    bins = np.take(HUE_BIN, hue) + np.take(SATURATION_BIN, saturation) + np.take(VALUE_BIN, value)
    part_bins = DIM // len(PARTS)
    hist = np.bincount(part * part_bins + bins, minlength=len(rows) * part_bins).reshape(len(PARTS), n, part_bins)
    hist = np.sqrt(hist / np.maximum(hist.sum(axis=2, keepdims=True), 1.0))
    return (hist.transpose(1, 0, 2).reshape(n, DIM) / np.sqrt(len(PARTS))).astype(np.float32)


def _counting(counts: np.ndarray) -> np.ndarray:
    """0, 1, ..., count - 1 for each of `counts`, one after the other: [2, 3] → [0, 1, 0, 1, 2]."""
    return np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)


def colour_features(image: np.ndarray, xyxy: np.ndarray, score: np.ndarray) -> np.ndarray:
    """(N, 512) feature vectors of boxes in a BGR image: their geometry and their colour appearance."""
    features = geometry_features(xyxy, score, (image.shape[1], image.shape[0]))
    features[:, :DIM] = colour_histograms(image, xyxy)
    features[:, HAS_APPEARANCE] = 1.0
    return features
