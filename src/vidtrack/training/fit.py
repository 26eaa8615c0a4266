"""Training and evaluating the forecaster on labelled clips: what `vidtrack train` and `vidtrack eval forecast` run."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from vidtrack.datasets import Clip, eth_ucy, jaad, motchallenge, read_clips
from vidtrack.errors import ConfigError, InputError
from vidtrack.evaluation.forecast_report import write_report
from vidtrack.evaluation.forecasting import error_by_horizon, forecast_metrics
from vidtrack.forecast.features import kalman_forecast
from vidtrack.forecast.lstm import LSTMConfig, TrajectoryLSTM, load_checkpoint, save_checkpoint
from vidtrack.training.appearance import sequence_appearance
from vidtrack.training.baselines import constant_velocity_forecast, linear_kalman_forecast
from vidtrack.training.batches import WindowBatches, forecast_loss, forecast_windows
from vidtrack.training.trainer import TrainConfig, TrainResult, train
from vidtrack.training.windows import TIMES, Augmentation, Windows, benchmark_windows, cut_windows

log = logging.getLogger("vidtrack")

Paths = str | os.PathLike | Sequence[str | os.PathLike]  # one path or several, whose clips are read together


def read_data(
    data: Paths, *, split: str | None = None, subset: str = "default", classes: tuple[int, ...] = (1,)
) -> list[Clip]:
    """The clips of every path in `data`, in order (see `vidtrack.datasets.read_clips`): MOTChallenge folders, JAAD
    roots (`split` and `subset` choose the videos; every video without a split), ETH/UCY files. Clip names must be
    unique, since validation splits and reports go by name."""
    paths = [Path(data)] if isinstance(data, str | os.PathLike) else [Path(p) for p in data]
    if (split is not None or subset != "default") and not any(jaad.detect(p) for p in paths):
        raise InputError(f"split {split!r} and subset {subset!r} choose the videos of a JAAD root, but no data path is "
                         f"one ({', '.join(map(str, paths))})")
    clips = [clip for path in paths for clip in read_clips(path, split=split, subset=subset, classes=classes)]
    seen: dict[str, Clip] = {}
    for clip in clips:
        if clip.name in seen:
            raise InputError(f"two clips are named {clip.name} ({seen[clip.name].source} and {clip.source}); give each "
                             "clip once")
        seen[clip.name] = clip
    return clips


def split_clips(
    clips: list[Clip], *, val_split: float, val_names: list[str] | None, seed: int
) -> tuple[list[Clip], list[Clip]]:
    """Validation clips by name, or a seeded fraction of them (none for `val_split` 0): never windows of one clip on
    both sides."""
    if val_names:
        names = {c.name for c in clips}
        missing = [n for n in val_names if n not in names]
        if missing:
            raise InputError(f"validation sequences {missing} are not among {sorted(names)}")
        val = [c for c in clips if c.name in val_names]
    elif not 0 <= val_split < 1:
        raise ConfigError(f"val_split (--val-split) {val_split}: give the fraction of the clips to validate on, from 0 "
                          "(none) to below 1")
    elif val_split == 0:
        val = []
    else:
        count = min(max(1, round(val_split * len(clips))), len(clips) - 1)
        if len(clips) < 2:
            raise InputError("a validation split needs at least two sequences")
        order = np.random.default_rng(seed).permutation(len(clips))
        val = [clips[i] for i in sorted(order[:count])]
    return [c for c in clips if c not in val], val


PROTOCOLS = ("auto", "jaad", "mot")  # how windows are cut from a clip; auto: jaad for JAAD clips, mot otherwise


def clip_protocol(clip: Clip, protocol: str = "auto") -> str:
    if protocol not in PROTOCOLS:
        raise InputError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    return protocol if protocol != "auto" else ("jaad" if clip.dataset == "jaad" else "mot")


def load_windows(
    clips: list[Clip], *, train: bool, protocol: str = "auto", appearance: bool = False, device: str = "auto"
) -> Windows:
    """The windows of each clip, by its protocol (`clip_protocol`):

    - `jaad`: the published JAAD benchmark's windows (`windows.benchmark_windows`): 15 observed boxes (0.5 s),
      45 future ones (1.5 s), one window every 7 boxes of tracks with at least 61 boxes; for training one at every box
      of tracks with at least 60.
    - `mot`: windows at the clip's frame rate (`windows.cut_windows`), observing 0.5 s of boxes at least 25 % visible;
      evaluation windows every 0.1 s; training windows at every frame, also run backwards in time and, for clips of
      20 fps or more, at half the frame rate (so that the model sees several rates). JAAD's dashcam clips, cut by the
      `jaad` protocol, are never run backwards: a car does not drive in reverse through a crowd.

    With `appearance`, clips with frames (MOTChallenge sequences with `img1/`) get their appearance table (computed
    by the detector on `device` once, then read from the cache); the others stay motion-only."""
    parts = []
    for clip in clips:
        if clip_protocol(clip, protocol) == "jaad":
            cut = benchmark_windows(clip, stride=1, min_boxes=60) if train else benchmark_windows(clip)
            if cut is not None:
                parts.append(cut)
            continue
        with_frames = appearance and motchallenge.detect(clip.source)
        table = sequence_appearance(clip.source, device=device) if with_frames else None
        if train:
            rates = (1, 2) if clip.fps >= 20 else (1,)
            parts += [cut_windows(clip, stride_s=0, reverse=reverse, subsample=k, appearance=table)
                      for reverse in (False, True) for k in rates]
        else:
            parts.append(cut_windows(clip, appearance=table))
    if not parts:
        raise InputError(f"no track of {', '.join(sorted({c.name for c in clips}))} is long enough for a window")
    return Windows.concat(parts)


def extra_windows(
    paths: list[Path], *, stride_s: float = 1.6, rates: tuple[float, ...] = (30.0, 15.0), seed: int = 0
) -> Windows:
    """Training windows from ETH/UCY trajectory files (`vidtrack.datasets.eth_ucy`): each played forwards and
    backwards, at each video rate of `rates` (MOT17's clips run at 30 fps and, halved, 15), one window every
    `stride_s` seconds per track (the default gives about as many windows from all eight ETH/UCY files as from three
    MOT17 clips). Each rate and direction draws its own virtual cameras."""
    parts = []
    for path in paths:
        for k, (rate, reverse) in enumerate((r, b) for r in rates for b in (False, True)):
            clip, = eth_ucy.read(path, fps=rate, seed=seed * 16 + k)
            parts.append(cut_windows(clip, stride_s=stride_s, reverse=reverse))
    return Windows.concat(parts)


def appearance_sequences(windows: Windows) -> list[str]:
    """Names of the sequences whose windows carry appearance (those with frames)."""
    return sorted(set(windows.sequence[(windows.appearance >= 0).any(axis=1)].tolist()))


def train_forecaster(
    data: Paths,
    out: str | os.PathLike,
    *,
    split: str | None = None,
    subset: str = "default",
    val_data: Paths | None = None,
    val_data_split: str | None = None,
    val_split: float | None = None,
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
    """Train the LSTM forecaster on the labelled clips of `data` (see `read_data`); checkpoints in `out/best` and
    `out/last`.

    Validation is by clip, never by window: the clips of `val_data` (`val_data_split` choosing JAAD videos, e.g.
    "val"), or else the `val_sequences` named, or else a seeded `val_split` fraction of the clips (0.25 by default).
    With `appearance`, clips with frames contribute the detector's appearance features (see `load_windows`) and the
    default model reads every feature (`motion_only=False`). `extra` top-down trajectory files (ETH/UCY, see
    `extra_windows`) add pseudo-box windows to training only, one every `extra_stride_s` per track; never to
    validation."""
    train_config = train_config or TrainConfig()
    model_config = model_config or LSTMConfig(motion_only=not appearance)
    if appearance and model_config.motion_only:
        log.warning("appearance features are computed but a motion-only model masks them out")
    clips = read_data(data, split=split, subset=subset, classes=classes)
    if val_data is None:
        train_clips, val_clips = split_clips(clips, val_split=0.25 if val_split is None else val_split,
                                             val_names=val_sequences, seed=train_config.seed)
    elif val_split is not None or val_sequences:
        raise InputError("val_data gives the validation clips, val_split and val_sequences choose them among the "
                         "training data: give one or the other")
    else:
        train_clips, val_clips = clips, read_data(val_data, split=val_data_split, subset=subset, classes=classes)
        both = sorted({c.name for c in train_clips} & {c.name for c in val_clips})
        if both:
            shown = ", ".join(both[:3]) + (", ..." if len(both) > 3 else "")
            raise InputError(f"{len(both)} clips are in both the training and the validation data ({shown}); "
                             "validate on other videos, e.g. another JAAD split list")
    augmentation = Augmentation() if augment else None
    load = dict(appearance=appearance, device=train_config.device)
    train_windows = load_windows(train_clips, train=True, **load)
    more = extra_windows([Path(p) for p in extra], stride_s=extra_stride_s, seed=train_config.seed) if extra else None
    if more is not None:
        train_windows = Windows.concat([train_windows, more])
    train_set = WindowBatches(train_windows, augmentation, train_config.seed)
    val_set = WindowBatches(load_windows(val_clips, train=False, **load)) if val_clips else None
    with_frames = sorted(set(appearance_sequences(train_set.windows)) |
                         set(appearance_sequences(val_set.windows) if val_set else ()))
    metadata = {
        "data": {"train": [c.name for c in train_clips], "val": [c.name for c in val_clips], "classes": list(classes),
                 "sources": _sources(data, split, subset),
                 "val_sources": _sources(val_data, val_data_split, subset) if val_data is not None else None,
                 "train_windows": len(train_set), "val_windows": len(val_set) if val_set else 0,
                 "appearance": appearance, "sequences_with_frames": with_frames, "augment": augment},
        "training": {k: v for k, v in vars(train_config).items()},
    }
    if more is not None:
        metadata["data"] |= {"extra": [Path(p).name for p in extra], "extra_windows": len(more),
                             "extra_stride_s": extra_stride_s}
    torch.manual_seed(train_config.seed)  # the initial weights too: the same seed gives the same model
    model = TrajectoryLSTM(model_config)
    return train(model, forecast_loss, train_set, val_set, train_set.collate, val_set and val_set.collate,
                 train_config, out, save=save_checkpoint, metadata=metadata, resume=resume)


def evaluate_forecaster(
    data: Paths, checkpoint: str | os.PathLike | None, out: str | os.PathLike, *, split: str | None = None,
    subset: str = "default", classes: tuple[int, ...] = (1,), appearance: bool | None = None, protocol: str = "auto",
) -> dict[str, dict]:
    """Compare the LSTM with the baselines on the same windows (`load_windows`: the JAAD benchmark's for JAAD clips,
    observe 0.5 s and predict 1.5 s at each clip's rate for the others); writes metrics.md, metrics.json and
    error_by_horizon.png to `out`. The baselines are constant velocity and the tracker's Kalman filter and, where every
    clip runs at 30 fps (JAAD), the benchmark's reference filter (`linear_kalman_forecast`, q = 1, r = 4) and the same
    filter tuned on the JAAD train split (q = 1.78, r = 316); `vs_reference` is each method's MSE at 1.5 s over the
    reference filter's. With `appearance` (by default: when the model reads more than motion), clips with frames give
    the LSTM appearance features, as in training with it."""
    from vidtrack.forecast import default_checkpoint

    model = load_checkpoint(default_checkpoint(checkpoint))
    if appearance is None:
        appearance = not model.config.motion_only
    clips = read_data(data, split=split, subset=subset, classes=classes)
    windows = load_windows(clips, train=False, protocol=protocol, appearance=appearance)
    lstm, lstm_std = forecast_windows(model, windows)
    kalman, kalman_std = kalman_forecast(windows.past, windows.fps, TIMES)
    predictions = {"lstm": (lstm, lstm_std), "kalman": (kalman, kalman_std)}
    if np.allclose(windows.fps, 1 / TIMES[0]):  # the linear filters step one frame at a time
        predictions["linear_reference"] = (linear_kalman_forecast(windows.past, len(TIMES)), None)
        predictions["linear_tuned"] = (linear_kalman_forecast(windows.past, len(TIMES), q=1.78, r=316.0), None)
    predictions["constant_velocity"] = (constant_velocity_forecast(windows.past, windows.fps, TIMES), None)
    results = {name: forecast_metrics(p, windows.future, TIMES, std) for name, (p, std) in predictions.items()}
    if "linear_reference" in results:
        for metrics in results.values():
            metrics["vs_reference"] = metrics["mse_1.5"] / results["linear_reference"]["mse_1.5"]
    curves = {name: error_by_horizon(p, windows.future, TIMES) for name, (p, _) in predictions.items()}
    write_report(results, curves, TIMES, out)
    (Path(out) / "windows.json").write_text(json.dumps(
        {"sequences": sorted(set(windows.sequence.tolist())), "windows": len(windows),
         "tracks": len(set(zip(windows.sequence.tolist(), windows.track_id.tolist()))),
         "protocols": sorted({clip_protocol(c, protocol) for c in clips}),
         "sequences_with_appearance": appearance_sequences(windows)}, indent=2))
    return results


def _sources(data: Paths, split: str | None, subset: str) -> dict:
    """Where the clips came from, for a checkpoint's metadata."""
    paths = [data] if isinstance(data, str | os.PathLike) else data
    return {"paths": [str(p) for p in paths], "split": split, "subset": subset}
