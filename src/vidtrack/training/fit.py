"""Training and evaluating the forecaster on labelled clips: what `vidtrack train` and `vidtrack eval forecast` run."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

from vidtrack.errors import InputError
from vidtrack.evaluation.forecast_report import write_report
from vidtrack.evaluation.forecasting import error_by_horizon, forecast_metrics
from vidtrack.forecast.features import kalman_forecast
from vidtrack.forecast.lstm import LSTMConfig, TrajectoryLSTM, load_checkpoint, save_checkpoint
from vidtrack.io.motchallenge import read_seqinfo
from vidtrack.training.appearance import sequence_appearance
from vidtrack.training.baselines import constant_velocity_forecast
from vidtrack.training.batches import WindowBatches, forecast_windows, gaussian_nll
from vidtrack.training.trainer import TrainConfig, TrainResult, train
from vidtrack.training.trajectories import extra_windows
from vidtrack.training.windows import TIMES, Augmentation, Windows, cut_windows

log = logging.getLogger("vidtrack")


def find_sequences(data: str | os.PathLike) -> list[Path]:
    """Sequence folders (with `seqinfo.ini` and `gt/gt.txt`) in `data`, or `data` itself if it is one."""
    root = Path(data)
    if not root.is_dir():
        raise InputError(f"{root}: no such folder of labelled clips")
    candidates = [root] if (root / "seqinfo.ini").is_file() else sorted(p for p in root.iterdir() if p.is_dir())
    found = [p for p in candidates if (p / "seqinfo.ini").is_file() and (p / "gt" / "gt.txt").is_file()]
    if not found:
        raise InputError(f"{root}: no sequence folders with seqinfo.ini and gt/gt.txt (the MOTChallenge layout)")
    return found


def split_sequences(
    sequences: list[Path], *, val_split: float, val_names: list[str] | None, seed: int
) -> tuple[list[Path], list[Path]]:
    """Validation sequences by name, or a seeded fraction of them (none for `val_split` 0): never windows of one
    sequence on both sides."""
    if val_names:
        names = {p.name for p in sequences}
        missing = [n for n in val_names if n not in names]
        if missing:
            raise InputError(f"validation sequences {missing} are not among {sorted(names)}")
        val = [p for p in sequences if p.name in val_names]
    elif val_split == 0:
        val = []
    else:
        count = min(max(1, round(val_split * len(sequences))), len(sequences) - 1)
        if len(sequences) < 2:
            raise InputError("a validation split needs at least two sequences")
        order = np.random.default_rng(seed).permutation(len(sequences))
        val = [sequences[i] for i in sorted(order[:count])]
    return [p for p in sequences if p not in val], val


def load_windows(
    sequences: list[Path], *, train: bool, classes: tuple[int, ...], appearance: bool = False, device: str = "auto"
) -> Windows:
    """Training windows start at every frame, also run backwards in time and, for clips of 20 fps or more, at half
    the frame rate (so that the model sees several rates); evaluation windows start every 0.1 s.

    With `appearance`, sequences with frames get their appearance table (computed by the detector on `device` once,
    then read from the cache); the others stay motion-only."""
    parts = []
    for sequence in sequences:
        table = sequence_appearance(sequence, device=device) if appearance else None
        if train:
            rates = (1, 2) if read_seqinfo(sequence / "seqinfo.ini").fps >= 20 else (1,)
            parts += [cut_windows(sequence, classes=classes, stride_s=0, reverse=reverse, subsample=k,
                                  appearance=table) for reverse in (False, True) for k in rates]
        else:
            parts.append(cut_windows(sequence, classes=classes, appearance=table))
    return Windows.concat(parts)


def appearance_sequences(windows: Windows) -> list[str]:
    """Names of the sequences whose windows carry appearance (those with frames)."""
    return sorted(set(windows.sequence[(windows.appearance >= 0).any(axis=1)].tolist()))


def train_forecaster(
    data: str | os.PathLike,
    out: str | os.PathLike,
    *,
    val_split: float = 0.25,
    val_sequences: list[str] | None = None,
    classes: tuple[int, ...] = (1,),
    model_config: LSTMConfig | None = None,
    train_config: TrainConfig | None = None,
    augment: bool = True,
    resume: bool = True,
    appearance: bool = False,
    extra: list[Path] | None = None,
    extra_stride_s: float = 1.6,
) -> TrainResult:
    """Train the residual LSTM on the labelled clips in `data`; checkpoints in `out/best` and `out/last`.

    With `appearance`, clips with frames contribute the detector's appearance features (see `load_windows`) and the
    default model reads every feature (`motion_only=False`). `extra` top-down trajectory files (ETH/UCY, see
    `training.trajectories`) add pseudo-box windows to training only, one every `extra_stride_s` per track; never
    to validation."""
    train_config = train_config or TrainConfig()
    model_config = model_config or LSTMConfig(motion_only=not appearance)
    if appearance and model_config.motion_only:
        log.warning("appearance features are computed but a motion-only model masks them out")
    train_seqs, val_seqs = split_sequences(find_sequences(data), val_split=val_split, val_names=val_sequences,
                                           seed=train_config.seed)
    augmentation = Augmentation() if augment else None
    load = dict(classes=classes, appearance=appearance, device=train_config.device)
    train_windows = load_windows(train_seqs, train=True, **load)
    more = extra_windows([Path(p) for p in extra], stride_s=extra_stride_s, seed=train_config.seed) if extra else None
    if more is not None:
        train_windows = Windows.concat([train_windows, more])
    train_set = WindowBatches(train_windows, augmentation, train_config.seed)
    val_set = WindowBatches(load_windows(val_seqs, train=False, **load)) if val_seqs else None
    with_frames = sorted(set(appearance_sequences(train_set.windows)) |
                         set(appearance_sequences(val_set.windows) if val_set else ()))
    metadata = {
        "data": {"train": [p.name for p in train_seqs], "val": [p.name for p in val_seqs], "classes": list(classes),
                 "train_windows": len(train_set), "val_windows": len(val_set) if val_set else 0,
                 "appearance": appearance, "sequences_with_frames": with_frames},
        "training": {k: v for k, v in vars(train_config).items()},
    }
    if more is not None:
        metadata["data"] |= {"extra": [Path(p).name for p in extra], "extra_windows": len(more),
                             "extra_stride_s": extra_stride_s}
    model = TrajectoryLSTM(model_config)
    return train(model, gaussian_nll, train_set, val_set, train_set.collate, val_set and val_set.collate,
                 train_config, out, save=save_checkpoint, metadata=metadata, resume=resume)


def evaluate_forecaster(
    data: str | os.PathLike, checkpoint: str | os.PathLike | None, out: str | os.PathLike, *,
    classes: tuple[int, ...] = (1,), appearance: bool | None = None,
) -> dict[str, dict]:
    """Compare the LSTM with constant velocity and the Kalman filter on the same windows (PIE protocol: observe
    0.5 s, predict 1.5 s); writes metrics.md, metrics.json and error_by_horizon.png to `out`. With `appearance` (by
    default: when the model reads more than motion), clips with frames give the LSTM appearance features, as in
    training with it."""
    from vidtrack.forecast import default_checkpoint

    model = load_checkpoint(checkpoint or default_checkpoint())
    if appearance is None:
        appearance = not model.config.motion_only
    windows = load_windows(find_sequences(data), train=False, classes=classes, appearance=appearance)
    lstm, lstm_std = forecast_windows(model, windows)
    kalman, kalman_std = kalman_forecast(windows.past, windows.fps, TIMES)
    predictions = {
        "lstm": (lstm, lstm_std),
        "kalman": (kalman, kalman_std),
        "constant_velocity": (constant_velocity_forecast(windows.past, windows.fps, TIMES), None),
    }
    results = {name: forecast_metrics(p, windows.future, TIMES, std) for name, (p, std) in predictions.items()}
    curves = {name: error_by_horizon(p, windows.future, TIMES) for name, (p, _) in predictions.items()}
    write_report(results, curves, TIMES, out)
    (Path(out) / "windows.json").write_text(json.dumps(
        {"sequences": sorted(set(windows.sequence.tolist())), "windows": len(windows),
         "sequences_with_appearance": appearance_sequences(windows)}, indent=2))
    return results
