"""Forecasting each track's future boxes at run time: the trained LSTM (`lstm`), the constant-velocity and Kalman
forecasters, and the features they compute from past boxes (`features`), which training shares.

Only what runs inside `vidtrack track` lives here; training and evaluation are in `vidtrack.training` and
`vidtrack.evaluation`, which this package never imports.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from vidtrack.errors import WeightsError
from vidtrack.forecast.base import valid_boxes

PRESETS_FOLDER = Path(__file__).parent / "presets"
PRESETS = ("pedestrians-fixed-camera", "pedestrians-dashcam")  # shipped forecasters, each with a MODEL_CARD.md
DEFAULT_PRESET = PRESETS[0]


def default_checkpoint(checkpoint: str | os.PathLike | None = None) -> Path:
    """The forecaster folder that `checkpoint` names: a folder, the name of a shipped preset, or None for the default
    preset (`pedestrians-fixed-camera`, trained on MOT17; `pedestrians-dashcam` is trained on JAAD)."""
    if checkpoint is not None and Path(checkpoint).exists():
        return Path(checkpoint)
    name = str(checkpoint or DEFAULT_PRESET)
    if name not in PRESETS:
        raise WeightsError(f"{checkpoint}: no such forecaster folder, nor a preset ({', '.join(PRESETS)})")
    folder = PRESETS_FOLDER / name
    if not (folder / "model.safetensors").is_file():
        raise WeightsError(f"{folder}: the packaged forecaster is missing; reinstall vidtrack or pass "
                           "a checkpoint folder")
    return folder


class Forecaster:
    """Forecast future boxes from past boxes with a trained LSTM.

    Example:
        >>> fc = Forecaster.load()  # the default preset; or "pedestrians-dashcam", or a folder "runs/forecaster/best"
        >>> future, std = fc.predict(history, fps=30.0, image_size=(1920, 1080), horizon_s=1.5)
        >>> # history (N, T, 4) past x1 y1 x2 y2 in pixels, NaN where a frame is missing, oldest first (last = now),
        >>> # in an image of image_size (width, height): the model reads where the boxes are in the image;
        >>> # future and std (N, H, 4) for the next H = floor(horizon_s * fps) frames.
    """

    def __init__(self, model) -> None:
        self.model = model.eval()

    @classmethod
    def load(cls, checkpoint: str | os.PathLike | None = None) -> Forecaster:
        from vidtrack.forecast.lstm import load_checkpoint

        return cls(load_checkpoint(default_checkpoint(checkpoint)))

    @torch.no_grad()
    def predict(
        self, history: np.ndarray, *, fps: float, image_size: tuple[int, int], horizon_s: float = 1.5
    ) -> tuple[np.ndarray, np.ndarray]:
        from vidtrack.forecast.features import OBSERVE_S, window_features

        history = np.asarray(history, dtype=np.float64)
        if history.ndim != 3 or history.shape[2] != 4:
            raise ValueError(f"history must have shape (N, T, 4), got {history.shape}")
        if not np.isfinite(history[:, -1]).all():
            raise ValueError("the last box of every history (now) must be finite")
        config = self.model.config
        model_times = np.arange(0, config.horizon + 1) / config.fps
        times = np.arange(1, int(horizon_s * fps + 1e-6) + 1) / fps
        if times[-1] > model_times[-1] + 1e-9:
            raise ValueError(f"horizon_s={horizon_s} exceeds the model's {model_times[-1]:.2f} s")
        history = history[:, -(round(OBSERVE_S * fps) + 1):]  # the 0.5 s the model learned from, as at run time
        n = len(history)
        rates = np.full(n, float(fps))
        features, seen = window_features(history, rates, np.tile(image_size, (n, 1)))
        order = np.argsort(~seen, axis=1, kind="stable")
        features = torch.from_numpy(np.take_along_axis(features, order[..., None], axis=1))
        offsets, log_std, _ = self.model(features)
        last = torch.from_numpy(seen.sum(axis=1) - 1)
        rows = torch.arange(n)
        mean = np.concatenate([np.zeros((n, 1, 4)), offsets[rows, last].double().numpy()], axis=1)
        spread = log_std[rows, last].exp().double().numpy()
        spread = np.concatenate([spread[:, :1], spread], axis=1)
        def interp(values: np.ndarray) -> np.ndarray:  # (N, H_model + 1, 4) at model_times → (N, H, 4) at times
            return np.stack([np.stack([np.interp(times, model_times, v[:, k]) for k in range(4)], axis=1)
                             for v in values])

        now = history[:, -1]
        height = (now[:, 3] - now[:, 1])[:, None, None]
        return valid_boxes(now[:, None] + interp(mean) * height), interp(spread) * height
