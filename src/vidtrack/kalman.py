"""The constant-velocity Kalman filter on boxes that the tracker and the forecasters share.

It sits below both `track/` and `forecast/`: every track carries its state (`vidtrack.track.tracker`), the Kalman
forecaster rolls it forward (`vidtrack.forecast.kalman`), and the LSTM forecaster predicts a correction to that
rollout (`vidtrack.forecast.lstm`). State: centre x, centre y, aspect ratio (width / height), height, and their
velocities per frame.
"""

from __future__ import annotations

import numpy as np


def xyxy_to_xyah(xyxy: np.ndarray) -> np.ndarray:
    w = xyxy[:, 2] - xyxy[:, 0]
    h = np.maximum(xyxy[:, 3] - xyxy[:, 1], 1e-6)
    return np.stack([xyxy[:, 0] + w / 2, xyxy[:, 1] + h / 2, w / h, h], axis=1)


def xyah_to_xyxy(xyah: np.ndarray) -> np.ndarray:
    w = xyah[:, 2] * xyah[:, 3]
    return np.stack([xyah[:, 0] - w / 2, xyah[:, 1] - xyah[:, 3] / 2, xyah[:, 0] + w / 2, xyah[:, 1] + xyah[:, 3] / 2],
                    axis=1)


class KalmanFilterXYAH:
    """Constant-velocity Kalman filter on (centre x, centre y, aspect ratio, height) and their velocities.

    The noise scales with the box height, as in SORT, DeepSORT and ByteTrack, so one setting fits near and far
    objects.
    """

    def __init__(self, std_weight_position: float = 1.0 / 20, std_weight_velocity: float = 1.0 / 160) -> None:
        self.std_position = std_weight_position
        self.std_velocity = std_weight_velocity
        self.transition = np.eye(8)
        self.transition[:4, 4:] = np.eye(4)  # x' = x + v (one frame)
        self.observation = np.eye(4, 8)

    def _noise(self, height: np.ndarray, position: float, velocity: float, aspect: float, aspect_v: float):
        h = height[:, None]
        ones = np.ones_like(h)
        std = np.concatenate([position * h, position * h, aspect * ones, position * h,
                              velocity * h, velocity * h, aspect_v * ones, velocity * h], axis=1)
        return std**2  # (N, 8) variances

    def initiate(self, xyxy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        xyah = xyxy_to_xyah(np.asarray(xyxy, dtype=np.float64))
        mean = np.concatenate([xyah, np.zeros_like(xyah)], axis=1)
        variance = self._noise(xyah[:, 3], 2 * self.std_position, 10 * self.std_velocity, 1e-2, 1e-5)
        return mean, variance[:, :, None] * np.eye(8)

    def predict(self, mean: np.ndarray, covariance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        process = self._noise(mean[:, 3], self.std_position, self.std_velocity, 1e-2, 1e-5)
        mean = mean @ self.transition.T
        covariance = self.transition @ covariance @ self.transition.T + process[:, :, None] * np.eye(8)
        return mean, covariance

    def update(self, mean: np.ndarray, covariance: np.ndarray, xyxy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        measurement = xyxy_to_xyah(np.asarray(xyxy, dtype=np.float64))
        noise = self._noise(mean[:, 3], self.std_position, 0, 1e-1, 0)[:, :4]
        projected_cov = covariance[:, :4, :4] + noise[:, :, None] * np.eye(4)  # H P H^T + R
        cross = covariance[:, :, :4]  # P H^T, (N, 8, 4)
        gain = np.linalg.solve(projected_cov, cross.transpose(0, 2, 1)).transpose(0, 2, 1)  # (N, 8, 4)
        innovation = measurement - mean[:, :4]
        mean = mean + np.einsum("nij,nj->ni", gain, innovation)
        covariance = covariance - gain @ projected_cov @ gain.transpose(0, 2, 1)
        return mean, covariance

    def warp(self, mean: np.ndarray, covariance: np.ndarray, warp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Move states with the camera: `warp` is a (2, 3) partial affine (rotation, uniform scale, translation) from
        the previous frame to this one. Centres and their velocities are rotated and scaled, centres translated,
        heights and their velocities scaled, aspects kept (BoT-SORT's `multi_gmc` for this layout); P → T P Tᵀ."""
        transform = np.eye(8)
        transform[:2, :2] = transform[4:6, 4:6] = warp[:, :2]
        transform[3, 3] = transform[7, 7] = np.hypot(warp[0, 0], warp[1, 0])
        mean = mean @ transform.T
        mean[:, :2] += warp[:, 2]
        return mean, transform @ covariance @ transform.T

    def to_xyxy(self, mean: np.ndarray) -> np.ndarray:
        return xyah_to_xyxy(mean[:, :4])

    def velocity(self, mean: np.ndarray) -> np.ndarray:
        # d(width)/dt = a' h + a h' for width = a h.
        width_rate = mean[:, 6] * mean[:, 3] + mean[:, 2] * mean[:, 7]
        return np.stack([mean[:, 4], mean[:, 5], width_rate, mean[:, 7]], axis=1)


def corner_std(mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """(N, 4) standard deviations of x1 y1 x2 y2 from an (x, y, a, h) state, to first order (x1 = x - a h / 2, ...)."""
    a, h = mean[:, 2], mean[:, 3]
    var_x = cov[:, 0, 0] + 0.25 * (h**2 * cov[:, 2, 2] + a**2 * cov[:, 3, 3])
    var_y = cov[:, 1, 1] + 0.25 * cov[:, 3, 3]
    return np.sqrt(np.stack([var_x, var_y, var_x, var_y], axis=1))
