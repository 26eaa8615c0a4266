"""The learned forecaster: a 2-layer LSTM that reads each track's feature vectors and corrects the Kalman forecast.

The LSTM predicts a residual over the tracker's Kalman filter rolled forward, in units of the current box height, at
fixed times ahead (every 1/`fps` seconds). A model that learned nothing useful predicts zero and falls back to the
Kalman forecast; what it learns is what the Kalman filter gets wrong.

A checkpoint is a folder with `model.safetensors` (the weights, never unpickled) and `config.json` (the model's
arguments and a format version), so that loading needs nothing else.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vidtrack.detect.features import AGE, GEOMETRY, MOTION
from vidtrack.errors import WeightsError
from vidtrack.forecast.data import OBSERVE_S
from vidtrack.forecast.kalman import KalmanForecaster
from vidtrack.structures import FEATURE_DIM

CHECKPOINT_FORMAT = 1


@dataclass(frozen=True)
class LSTMConfig:
    input_size: int = FEATURE_DIM
    hidden_size: int = 128
    num_layers: int = 2
    horizon: int = 15  # future steps predicted, one every 1 / fps seconds
    fps: float = 10.0  # rate of the predicted steps (not of the video)
    motion_only: bool = True  # read only the size and motion features, not appearance or absolute position


def motion_input_mask() -> torch.Tensor:
    """(512,) ones on the features a motion-only model reads: box size and aspect, and the tracker's motion.

    Absolute position, score and appearance are left out: they describe the scene more than the motion, and a model
    that reads them learns where people walk in the training scenes instead of how they move.
    """
    mask = torch.zeros(FEATURE_DIM)
    mask[GEOMETRY.start + 2:GEOMETRY.start + 6] = 1  # width, height, log aspect, relative area
    mask[MOTION] = 1
    return mask


class TrajectoryLSTM(nn.Module):
    """Per step: (batch, time, 512) features → (batch, time, horizon, 4) residual box offsets over the Kalman
    forecast, in current box heights, and their log standard deviations.

    For a current box of height h and a Kalman forecast `base`, the forecast is `base + offset * h`.
    """

    def __init__(self, config: LSTMConfig) -> None:
        super().__init__()
        self.config = config
        self.lstm = nn.LSTM(config.input_size, config.hidden_size, config.num_layers, batch_first=True)
        self.head = nn.Linear(config.hidden_size, config.horizon * 4 * 2)
        mask = motion_input_mask() if config.motion_only else torch.ones(config.input_size)
        self.register_buffer("input_mask", mask, persistent=False)

    def forward(
        self, features: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        hidden, state = self.lstm(features * self.input_mask, state)  # (B, T, hidden), ((layers, B, hidden) × 2)
        out = self.head(hidden).unflatten(-1, (self.config.horizon, 4, 2))  # (B, T, H, 4, 2)
        return out[..., 0], out[..., 1].clamp(-10, 10), state


def save_checkpoint(model: TrajectoryLSTM, folder: str | os.PathLike, extra: dict | None = None) -> Path:
    """Write `model` to `folder` atomically: a crash never leaves a half-written checkpoint."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    meta = {"format": CHECKPOINT_FORMAT, "architecture": "TrajectoryLSTM", "config": asdict(model.config),
            **(extra or {})}
    for name, write in (("model.safetensors", lambda p: save_file(model.state_dict(), p)),
                        ("config.json", lambda p: Path(p).write_text(json.dumps(meta, indent=2)))):
        partial = folder / f".{name}.partial"
        write(str(partial))
        os.replace(partial, folder / name)
    return folder


def load_checkpoint(folder: str | os.PathLike) -> TrajectoryLSTM:
    """Load a checkpoint saved by `save_checkpoint`, refusing any mismatch instead of loading it partly."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder)
    config_file, weights_file = folder / "config.json", folder / "model.safetensors"
    for f in (config_file, weights_file):
        if not f.is_file():
            raise WeightsError(f"{f}: missing; a forecaster checkpoint is a folder with config.json and "
                               "model.safetensors")
    try:
        meta = json.loads(config_file.read_text())
        version, architecture = int(meta["format"]), meta["architecture"]
        config = LSTMConfig(**meta["config"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise WeightsError(f"{config_file}: not a vidtrack forecaster config ({e})") from None
    if version > CHECKPOINT_FORMAT:
        raise WeightsError(f"{config_file}: checkpoint format {version} is newer than this vidtrack reads "
                           f"({CHECKPOINT_FORMAT}); upgrade vidtrack")
    if architecture != "TrajectoryLSTM":
        raise WeightsError(f"{config_file}: architecture {architecture!r} is not TrajectoryLSTM")
    model = TrajectoryLSTM(config)
    try:
        state = load_file(str(weights_file))
    except (SafetensorError, OSError) as e:
        raise WeightsError(f"{weights_file}: unreadable ({e})") from None
    expected = model.state_dict()
    wrong = sorted(set(expected) ^ set(state)) + [
        f"{k} {tuple(v.shape)} != {tuple(expected[k].shape)}" for k, v in state.items()
        if k in expected and v.shape != expected[k].shape
    ]
    if wrong:
        raise WeightsError(f"{weights_file}: weights do not fit the architecture in config.json ({'; '.join(wrong)})")
    model.load_state_dict(state)
    return model.eval()


class LSTMForecaster:
    """Runs the LSTM once per frame over all live tracks, keeping each track's (h, c) state between frames.

    The model learned from 0.5 s of history, so a state must not grow older than that: an LSTM carried along a whole
    track drifts out of what it was trained on (measured on held-out MOT17-02: FDE 133 px against the Kalman filter's
    28 px for tracks older than 5 s). Each track therefore keeps two states, restarted in turn from zero once they have
    read 0.5 s of frames and staggered by half of that; the forecast comes from the older one. Each frame costs two
    LSTM steps per track and never re-reads a history.

    Only tracks observed in a frame advance; the others wait until they are seen again. Each track also keeps a
    Kalman filter, whose forecast the LSTM corrects; the model's residual steps (every 1 / model fps seconds) are
    interpolated to the stream's frames.
    """

    kind = "lstm"

    def __init__(self, model: TrajectoryLSTM, *, horizon: int, fps: float, device: str | torch.device = "cpu"):
        self.model = model.to(device).eval()
        self.device = torch.device(device)
        self.horizon = horizon
        config = model.config
        model_times = np.arange(1, config.horizon + 1) / config.fps
        self._stream_times = np.arange(1, horizon + 1) / fps
        if self._stream_times[-1] > model_times[-1] + 1e-9:
            raise WeightsError(f"the forecaster predicts {model_times[-1]:.2f} s ahead, fewer than the "
                               f"{self._stream_times[-1]:.2f} s asked for; lower forecast.horizon_s")
        self._model_times = np.concatenate([[0.0], model_times])  # the residual is zero now
        self.kalman = KalmanForecaster(horizon)
        self.fps = fps
        self.memory = round(OBSERVE_S * fps) + 1  # frames a state reads before it restarts, as in training windows
        zero = torch.zeros(config.num_layers, config.hidden_size, device=self.device)
        self._fresh = lambda steps: [zero, zero, steps]  # a state: h, c, observations read (negative: not started)
        self._slots: dict[int, list[list]] = {}

    def step(self, frame: int, track_ids: np.ndarray, xyxy: np.ndarray, features: np.ndarray) -> np.ndarray:
        return self.step_with_std(frame, track_ids, xyxy, features)[0]

    @torch.inference_mode()
    def step_with_std(
        self, frame: int, track_ids: np.ndarray, xyxy: np.ndarray, features: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """`step`, and the (N, horizon, 4) standard deviations of the forecast boxes in pixels."""
        n = len(track_ids)
        if n == 0:
            return np.zeros((0, self.horizon, 4), dtype=np.float32), np.zeros((0, self.horizon, 4), dtype=np.float32)
        rows, slots = [], []  # the track (row of `features`) and state of each LSTM step to run
        for k, track_id in enumerate(track_ids.tolist()):
            pair = self._slots.setdefault(track_id, [self._fresh(0), self._fresh(-(self.memory // 2))])
            for s, slot in enumerate(pair):
                if slot[2] >= self.memory:
                    pair[s] = slot = self._fresh(0)
                if slot[2] >= 0:
                    rows.append(k)
                    slots.append(slot)
                else:
                    slot[2] += 1
        h = torch.stack([slot[0] for slot in slots], dim=1)  # (layers, rows, hidden)
        c = torch.stack([slot[1] for slot in slots], dim=1)
        x = np.array(features, dtype=np.float32)[rows]  # (rows, 512)
        x[:, AGE] = [slot[2] / self.fps for slot in slots]  # the age a training window would show: since the restart
        x = torch.from_numpy(x).to(self.device)[:, None]  # (rows, 1, 512)
        out, log_std, (h, c) = self.model(x, (h, c))
        best = {}  # track row → row of `out` from its oldest state
        for r, (k, slot) in enumerate(zip(rows, slots)):
            slot[:] = [h[:, r], c[:, r], slot[2] + 1]
            if k not in best or slot[2] > slots[best[k]][2]:
                best[k] = r
        chosen = [best[k] for k in range(n)]
        offsets = out[chosen, -1].cpu().numpy()  # (N, H_model, 4)
        spread = log_std[chosen, -1].exp().cpu().numpy()
        residual = self._to_stream(np.concatenate([np.zeros((n, 1, 4)), offsets], axis=1))  # in box heights
        spread = self._to_stream(np.concatenate([spread[:, :1], spread], axis=1))
        base = self.kalman.step(frame, track_ids, xyxy, features)  # (N, horizon, 4)
        height = (xyxy[:, 3] - xyxy[:, 1])[:, None, None]
        return (base + residual * height).astype(np.float32), (spread * height).astype(np.float32)

    def _to_stream(self, values: np.ndarray) -> np.ndarray:
        """(N, H_model + 1, 4) values at the model's times (0 first) → (N, horizon, 4) at the stream's frames."""
        n = len(values)
        rows = values.transpose(0, 2, 1).reshape(n * 4, -1)
        rows = np.stack([np.interp(self._stream_times, self._model_times, row) for row in rows])
        return rows.reshape(n, 4, self.horizon).transpose(0, 2, 1)

    def forget(self, track_ids: list[int]) -> None:
        self.kalman.forget(track_ids)
        for track_id in track_ids:
            self._slots.pop(track_id, None)
