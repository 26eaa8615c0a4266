"""What the forecaster learns from: batches of windows, the target offsets from the current box, and the loss."""

from __future__ import annotations

import numpy as np
import torch

from vidtrack.forecast.features import window_features
from vidtrack.forecast.lstm import TrajectoryLSTM
from vidtrack.training.windows import Augmentation, Windows, augment


class WindowBatches(torch.utils.data.Dataset):
    """Indexes windows; `collate` builds a whole batch at once (augmentation, features and targets are vectorised)."""

    def __init__(self, windows: Windows, augmentation: Augmentation | None = None, seed: int = 0) -> None:
        self.windows = windows
        self.augmentation = augmentation
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> int:
        return index

    def collate(self, indices: list[int]) -> dict[str, torch.Tensor]:
        windows = self.windows[np.asarray(indices)]
        if self.augmentation is not None:
            windows = augment(windows, self.rng, self.augmentation)
        return make_batch(windows)


def make_batch(windows: Windows) -> dict[str, torch.Tensor]:
    """Tensors for the model and the loss.

    features (B, T, 512) observed steps first (the LSTM only steps on observed frames, as at run time), with
    appearance where the windows have it; last (B,) index of the last observed step; now (B, 4) the current box;
    height (B,) its height; scale (B,) its height over the image height; target (B, H, 4) offsets
    (future - now) / height, zero where unknown; known (B, H, 4) where the future is known.
    """
    features, seen = window_features(windows.past, windows.fps, windows.image_size, windows.appearance, windows.vectors)
    order = np.argsort(~seen, axis=1, kind="stable")  # observed steps first, in time order
    features = np.take_along_axis(features, order[..., None], axis=1)
    now = windows.past[:, -1]
    height = now[:, 3] - now[:, 1]
    offsets = (windows.future - now[:, None]) / height[:, None, None]
    known = np.isfinite(offsets)
    return {
        "features": torch.from_numpy(features),
        "last": torch.from_numpy(seen.sum(axis=1) - 1),
        "now": torch.from_numpy(now),
        "height": torch.from_numpy(height),
        "scale": torch.from_numpy((height / windows.image_size[:, 1]).astype(np.float32)),
        "target": torch.from_numpy(np.where(known, offsets, 0.0).astype(np.float32)),
        "known": torch.from_numpy(known),
    }


def predict(model: TrajectoryLSTM, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, H, 4) offset means and log standard deviations at each window's last observed step."""
    offsets, log_std, _ = model(batch["features"])
    rows = torch.arange(len(offsets), device=offsets.device)
    return offsets[rows, batch["last"]], log_std[rows, batch["last"]]


PIXEL_WEIGHT = 10.0  # squared error in tenths of the image height, to weigh against the NLL


def forecast_loss(model: TrajectoryLSTM, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The squared error of the boxes in image heights (as the benchmarks measure it, in pixels: a near person's
    error counts more than a far one's), plus the Gaussian negative log-likelihood of the offsets under the predicted
    spread, which learns the spread alone (the mean is detached there), over known coordinates."""
    mean, log_std = predict(model, batch)
    known = batch["known"].float()
    error = (batch["target"] - mean) * (batch["scale"] * PIXEL_WEIGHT)[:, None, None]
    nll = 0.5 * ((batch["target"] - mean.detach()) / log_std.exp()) ** 2 + log_std
    return ((error ** 2 + nll) * known).sum() / known.sum().clamp(min=1)


@torch.no_grad()
def forecast_windows(model: TrajectoryLSTM, windows: Windows, batch_size: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """(N, H, 4) forecast boxes and their standard deviations in pixels, for windows without augmentation."""
    model.eval()
    device = next(model.parameters()).device
    boxes, stds = [], []
    for start in range(0, len(windows), batch_size):
        batch = make_batch(windows[start:start + batch_size])
        mean, log_std = predict(model, {k: v.to(device) for k, v in batch.items()})
        height = batch["height"].numpy()[:, None, None]
        boxes.append(batch["now"].numpy()[:, None] + mean.cpu().double().numpy() * height)
        stds.append(log_std.exp().cpu().double().numpy() * height)
    return np.concatenate(boxes), np.concatenate(stds)
