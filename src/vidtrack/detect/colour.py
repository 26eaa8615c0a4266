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


def colour_histograms(image: np.ndarray, xyxy: np.ndarray) -> np.ndarray:
    """(N, 256) float32 unit vectors for the boxes `xyxy` (N, 4, pixels) of a BGR image."""
    out = np.zeros((len(xyxy), DIM), dtype=np.float32)
    height, width = image.shape[:2]
    for row, (x1, y1, x2, y2) in enumerate(np.asarray(xyxy, dtype=np.float64)):
        w, h = x2 - x1, y2 - y1
        left, right = int(np.clip(x1 + MARGIN * w, 0, width - 1)), int(np.clip(x2 - MARGIN * w, 1, width))
        parts = []
        for top, bottom in PARTS:
            y_top, y_bottom = int(np.clip(y1 + top * h, 0, height - 1)), int(np.clip(y1 + bottom * h, 1, height))
            patch = image[y_top:max(y_bottom, y_top + 1), left:max(right, left + 1)]
            hsv = cv2.cvtColor(patch, cv2.COLOR_BGR2HSV)
            hist = cv2.calcHist([hsv], [0, 1, 2], None, list(BINS), [0, 180, 0, 256, 0, 256]).ravel()
            parts.append(np.sqrt(hist / max(float(hist.sum()), 1.0)))
        out[row] = np.concatenate(parts) / np.sqrt(len(PARTS))
    return out


def colour_features(image: np.ndarray, xyxy: np.ndarray, score: np.ndarray) -> np.ndarray:
    """(N, 512) feature vectors of boxes in a BGR image: their geometry and their colour appearance."""
    features = geometry_features(xyxy, score, (image.shape[1], image.shape[0]))
    features[:, :DIM] = colour_histograms(image, xyxy)
    features[:, HAS_APPEARANCE] = 1.0
    return features
