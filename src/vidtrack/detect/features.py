"""The 512-value feature vector of a detection: what the object looks like and how it moves.

Layout (indices are half-open):

==========  =====  ===================================================================================
slice       size   content
==========  =====  ===================================================================================
0:448       448    appearance, a unit vector, by `detector.appearance`: "colour" (the default), clothing-colour
                   histograms of the box's upper and lower parts in 0:256 (`vidtrack.detect.colour`), the
                   rest zero; or "neck", the detector's neck feature maps P3, P4, P5 averaged inside the box
                   with RoIAlign (64 + 128 + 256 channels; wider models are averaged down to that many
                   channel groups; PyTorch models only). Zero where there is none ("none", or precomputed
                   detections): then `HAS_APPEARANCE` is 0.
448:456     8      geometry: centre x / W, centre y / H, width / W, height / H, log(width / height),
                   sqrt(area / (W H)), detection score, `HAS_APPEARANCE` flag.
456:464     8      motion, filled by the tracker: how far x1, y1, x2, y2 moved since the previous
                   observation, in box heights per second (scale-free: near and far people alike), log of
                   box height / image height, seconds since the previous observation, seconds tracked,
                   and 1 once the track has a previous observation.
464:512     48     position encoding: sin and cos of centre x, centre y, width, height (each / image
                   size) at 6 frequencies (2^0 ... 2^5 times pi).
==========  =====  ===================================================================================
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.ops import roi_align

from vidtrack.structures import FEATURE_DIM

LEVEL_CHANNELS = (64, 128, 256)
APPEARANCE = slice(0, 448)
GEOMETRY = slice(448, 456)
HAS_APPEARANCE = 455
MOTION = slice(456, 464)
AGE = MOTION.start + 6  # seconds since the track started
UNMOVED_ON_FIRST = (*range(MOTION.start, MOTION.start + 4), MOTION.start + 5, MOTION.start + 7)  # 0 on a first box
POSITION = slice(464, 512)
N_FREQUENCIES = 6
assert POSITION.stop == FEATURE_DIM and sum(LEVEL_CHANNELS) == APPEARANCE.stop


def pool_appearance(maps: list[torch.Tensor], boxes: list[torch.Tensor], image_height: int) -> torch.Tensor:
    """Average each feature map inside each box and return (sum N_i, 448) L2-normalised vectors.

    Args:
        maps: one (B, C, h, w) map per pyramid level, finest first, as fed to the detection head.
        boxes: B tensors (N_i, 4) of x1 y1 x2 y2 in the coordinates of the network input.
        image_height: height of the network input, from which each level's stride follows.
    """
    pooled = []
    for level, budget in zip(maps, LEVEL_CHANNELS):
        scale = level.shape[-2] / image_height
        values = roi_align(level.float(), [b.float() for b in boxes], 1, scale, sampling_ratio=4, aligned=True)
        values = values.flatten(1)  # (N, C)
        if values.shape[1] != budget:  # wider model: average groups of channels; narrower: pad
            values = F.adaptive_avg_pool1d(values[:, None], budget)[:, 0] if values.shape[1] > budget else \
                F.pad(values, (0, budget - values.shape[1]))
        pooled.append(values)
    return F.normalize(torch.cat(pooled, dim=1), dim=1)


def geometry_features(xyxy: np.ndarray, score: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """(N, 512) vectors with the geometry and position parts filled and the appearance and motion parts zero."""
    width, height = image_size
    xyxy = xyxy.astype(np.float32)
    w = np.maximum(xyxy[:, 2] - xyxy[:, 0], 1e-3)
    h = np.maximum(xyxy[:, 3] - xyxy[:, 1], 1e-3)
    rel = np.stack([(xyxy[:, 0] + xyxy[:, 2]) / 2 / width, (xyxy[:, 1] + xyxy[:, 3]) / 2 / height,
                    w / width, h / height], axis=1)  # (N, 4)
    out = np.zeros((len(xyxy), FEATURE_DIM), dtype=np.float32)
    out[:, GEOMETRY.start:GEOMETRY.start + 4] = rel
    out[:, GEOMETRY.start + 4] = np.log(w / h)
    out[:, GEOMETRY.start + 5] = np.sqrt(rel[:, 2] * rel[:, 3])
    out[:, GEOMETRY.start + 6] = score
    angles = rel[:, :, None] * (np.pi * 2.0 ** np.arange(N_FREQUENCIES))  # (N, 4, F)
    out[:, POSITION] = np.concatenate([np.sin(angles), np.cos(angles)], axis=2).reshape(len(xyxy), 8 * N_FREQUENCIES)
    return out


def set_motion(
    features: np.ndarray, xyxy: np.ndarray, previous: np.ndarray, dt_s: np.ndarray, age_s: np.ndarray,
    image_size: tuple[int, int],
) -> None:
    """Write the tracker's motion part into `features` in place.

    Args:
        xyxy: (N, 4) this observation's boxes in pixels.
        previous: (N, 4) each track's previous observed box (ignored where `dt_s` is 0).
        dt_s: (N,) seconds since the previous observation of each track (0 for a new track).
        age_s: (N,) seconds since each track started.
    """
    xyxy = np.asarray(xyxy, dtype=np.float64)
    height = np.maximum(xyxy[:, 3] - xyxy[:, 1], 1e-3)
    moved = dt_s > 0
    shift = xyxy - np.where(moved[:, None], previous, xyxy)  # 0 for a first box, whatever `previous` holds
    features[:, MOTION.start:MOTION.start + 4] = shift / np.where(moved, dt_s, 1.0)[:, None] / height[:, None]
    features[:, MOTION.start + 4] = np.log(height / image_size[1])
    features[:, MOTION.start + 5] = dt_s
    features[:, AGE] = age_s
    features[:, MOTION.start + 7] = moved.astype(np.float32)
