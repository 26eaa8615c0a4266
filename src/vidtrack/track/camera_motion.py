"""Camera-motion compensation: how the whole image moved between two frames, so that tracks can move with it.

A panning, zooming or shaking camera moves every box in the image; a motion model that does not know this expects
each object where it would be had the camera stood still, and loses it. `CameraMotion` estimates the camera's motion
from the background as a 2x3 affine warp; the tracker applies it to every track before predicting (BoT-SORT's GMC).
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

log = logging.getLogger("vidtrack")


class CameraMotion:
    """Estimates the warp that maps the previous frame's pixels onto the current frame's, from the background.

    Method (the sparse optical flow of BoT-SORT's GMC): corners (`cv2.goodFeaturesToTrack`) on a grey copy of the
    previous frame scaled to at most `max_side` pixels, away from that frame's detections (objects move on their
    own); pyramidal Lucas-Kanade flow (`cv2.calcOpticalFlowPyrLK`) follows them into the current frame; a RANSAC fit
    of a partial affine (`cv2.estimateAffinePartial2D`: translation, rotation, uniform scale) to the pairs, with its
    translation scaled back to full resolution.

    It never raises on a frame: the first frame, a blank or uniform one, too few corners or too few pairs that agree,
    a failed fit or a change of frame size give the identity for that frame, logged once per reason (then at debug
    level).

    Example:
        >>> camera = CameraMotion()
        >>> warp = camera.estimate(image, detections.xyxy)   # (2, 3): x' = warp[:, :2] @ x + warp[:, 2]
    """

    def __init__(self, *, max_side: int = 480, max_corners: int = 400, min_points: int = 10) -> None:
        self.max_side = max_side
        self.max_corners = max_corners
        self.min_points = min_points
        self._grey: np.ndarray | None = None  # the previous frame, scaled
        self._corners: np.ndarray | None = None  # (K, 1, 2) its background corners, scaled
        self._logged: set[str] = set()

    def estimate(self, image: np.ndarray, boxes: np.ndarray | None = None) -> np.ndarray:
        """The (2, 3) affine from the previous frame given to `estimate` to `image` (BGR or grey); `boxes`: (N, 4)
        x1 y1 x2 y2 of the objects in `image`, kept out of the corners that the next frame is compared on."""
        scale = min(1.0, self.max_side / max(image.shape[:2]))
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else grey
        previous, corners = self._grey, self._corners
        self._grey, self._corners = grey, self._background_corners(grey, boxes, scale)
        if previous is None:
            return np.eye(2, 3)
        if previous.shape != grey.shape:
            return self._identity("the frame size changed")
        if corners is None or len(corners) < self.min_points:
            return self._identity("too few corners in the previous frame (blank or uniform?)")
        moved, found, _ = cv2.calcOpticalFlowPyrLK(previous, grey, corners, None)
        found = found.ravel().astype(bool)
        if found.sum() < self.min_points:
            return self._identity("too few corners followed into the frame")
        warp, inliers = cv2.estimateAffinePartial2D(corners[found], moved[found], method=cv2.RANSAC)
        if warp is None or not np.isfinite(warp).all() or inliers.sum() < self.min_points:
            return self._identity("no camera motion that enough corners agree on")
        warp[:, 2] /= scale
        return warp

    def _background_corners(self, grey: np.ndarray, boxes: np.ndarray | None, scale: float) -> np.ndarray | None:
        mask = np.full(grey.shape, 255, dtype=np.uint8)
        if boxes is not None:
            for x1, y1, x2, y2 in np.round(np.asarray(boxes, dtype=np.float64).reshape(-1, 4) * scale).astype(int):
                mask[max(y1, 0):max(y2, 0), max(x1, 0):max(x2, 0)] = 0
        return cv2.goodFeaturesToTrack(grey, self.max_corners, qualityLevel=0.01, minDistance=3, mask=mask)

    def _identity(self, reason: str) -> np.ndarray:
        level = logging.DEBUG if reason in self._logged else logging.INFO
        log.log(level, "camera motion: %s; no compensation for this frame%s", reason,
                "" if reason in self._logged else " (logged once, then at debug level)")
        self._logged.add(reason)
        return np.eye(2, 3)


def warp_boxes(xyxy: np.ndarray, warp: np.ndarray) -> np.ndarray:
    """(N, 4) boxes moved by a partial affine `warp`: centres warped, width and height scaled (boxes stay upright)."""
    xyxy = np.asarray(xyxy, dtype=np.float64)
    centre = (xyxy[:, :2] + xyxy[:, 2:]) / 2 @ warp[:, :2].T + warp[:, 2]
    half = (xyxy[:, 2:] - xyxy[:, :2]) / 2 * np.hypot(warp[0, 0], warp[1, 0])  # the warp's uniform scale
    return np.concatenate([centre - half, centre + half], axis=1)
