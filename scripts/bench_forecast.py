"""Forecaster speed: training windows per second, and milliseconds per frame to forecast 50 and 500 live tracks.

Each live-track measurement runs the LSTM forecaster and, as the baseline in the same process, the Kalman and
constant-velocity forecasters on the same boxes and features.

    .venv/bin/python scripts/bench_forecast.py
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from vidtrack.datasets import read_clips
from vidtrack.forecast.constant_velocity import ConstantVelocityForecaster
from vidtrack.forecast.kalman import KalmanForecaster
from vidtrack.forecast.lstm import LSTMConfig, LSTMForecaster, TrajectoryLSTM
from vidtrack.training.batches import WindowBatches, forecast_loss
from vidtrack.training.windows import Augmentation, cut_windows

SEQUENCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "MOT17" / "train" / "MOT17-09-FRCNN"


def training_speed(sequence: Path, batch_size: int, steps: int) -> float:
    """Windows per second through augmentation, features, forward, backward and the optimizer step."""
    clip, = read_clips(sequence)
    data = WindowBatches(cut_windows(clip, stride_s=0), Augmentation(), seed=0)
    model = TrajectoryLSTM(LSTMConfig())
    optimizer = torch.optim.AdamW(model.parameters(), 2e-3)
    rng = np.random.default_rng(0)
    start = 0.0
    for step in range(steps + 2):
        if step == 2:  # two warm-up steps
            start = time.perf_counter()
        loss = forecast_loss(model, data.collate(list(rng.integers(0, len(data), batch_size))))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return steps * batch_size / (time.perf_counter() - start)


def forecasting_ms(forecaster, tracks: int, frames: int, fps: float = 30.0) -> float:
    """Milliseconds per frame for `tracks` tracks moving across `frames` frames, all observed every frame."""
    rng = np.random.default_rng(0)
    start_xy = rng.uniform(0, 1500, (tracks, 2))
    velocity = rng.normal(0, 3, (tracks, 2))
    ids = np.arange(tracks)
    features = rng.normal(0, 0.1, (tracks, 512)).astype(np.float32)
    elapsed = 0.0
    for frame in range(frames):
        xy = start_xy + velocity * frame
        boxes = np.concatenate([xy, xy + np.array([40.0, 100.0])], axis=1).astype(np.float32)
        begin = time.perf_counter()
        forecaster.step(frame, ids, boxes, features)
        if frame >= 2:
            elapsed += time.perf_counter() - begin
    return 1000 * elapsed / (frames - 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sequence", type=Path, default=SEQUENCE)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--frames", type=int, default=30)
    args = parser.parse_args()
    print(f"training: {training_speed(args.sequence, args.batch_size, args.steps):.0f} windows/s "
          f"(batch {args.batch_size}, torch threads {torch.get_num_threads()})")
    horizon = 45  # 1.5 s at 30 fps
    model = TrajectoryLSTM(LSTMConfig()).eval()
    print("| live tracks | LSTM ms/frame | Kalman ms/frame | constant velocity ms/frame |")
    print("|---:|---:|---:|---:|")
    for tracks in (50, 500):
        row = [forecasting_ms(make(), tracks, args.frames) for make in (
            lambda: LSTMForecaster(model, horizon=horizon, fps=30.0),
            lambda: KalmanForecaster(horizon),
            lambda: ConstantVelocityForecaster(horizon, window=15),
        )]
        print(f"| {tracks} | " + " | ".join(f"{ms:.2f}" for ms in row) + " |")


if __name__ == "__main__":
    main()
