"""Forecast error along whole labelled tracks, as `vidtrack track` forecasts: one step per frame, state carried.

The window evaluation (`vidtrack eval forecast`) gives every method 0.5 s of history. At run time the Kalman filter
has followed a track since it began, which makes it a stronger baseline. This script replays each held-out sequence's
labelled tracks (boxes with visibility >= 0.25, features computed as the tracker computes them) through the run-time
LSTM and Kalman forecasters, and reports the centre error 1.5 s ahead, by track age. Use it with the
leave-one-sequence-out checkpoints of `scripts/loso_forecast.py`:

    .venv/bin/python scripts/forecast_on_tracks.py --loso runs/loso
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from vidtrack.forecast.features import window_features
from vidtrack.forecast.kalman import KalmanForecaster
from vidtrack.forecast.lstm import LSTMForecaster, load_checkpoint
from vidtrack.io.motchallenge import read_ground_truth, read_seqinfo

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "MOT17" / "train"
AGES = ((0.5, 2.0), (2.0, 5.0), (5.0, float("inf")))  # seconds since the track started


def replay(sequence: Path, checkpoint: Path, horizon_s: float = 1.5) -> dict[str, np.ndarray]:
    info = read_seqinfo(sequence / "seqinfo.ini")
    gt = read_ground_truth(sequence / "gt" / "gt.txt")
    gt = gt[gt.consider & (gt.class_id == 1)]
    model, ahead = load_checkpoint(checkpoint), round(horizon_s * info.fps)
    errors = {"lstm": [], "kalman": [], "age_s": []}
    for track_id in np.unique(gt.track_id):
        rows = gt[gt.track_id == track_id]
        boxes = dict(zip(rows.frame.tolist(), rows.xyxy))
        seen = [f for f, v in zip(rows.frame.tolist(), rows.visibility) if v >= 0.25]
        if len(seen) < 2:
            continue
        span = np.arange(seen[0], seen[-1] + 1)
        past = np.full((1, len(span), 4), np.nan)
        past[0, np.searchsorted(span, seen)] = [boxes[f] for f in seen]
        features, _ = window_features(past, np.array([info.fps]), np.array([[info.width, info.height]]))
        lstm, kalman = LSTMForecaster(model, horizon=ahead, fps=info.fps), KalmanForecaster(ahead)
        for i in np.searchsorted(span, seen):
            frame, box = int(span[i]), past[0, i][None].astype(np.float32)
            forecasts = [f.step(frame, np.array([track_id]), box, features[0, i][None]) for f in (lstm, kalman)]
            age = (frame - seen[0]) / info.fps
            if frame + ahead in boxes and age >= 0.5:  # the same moments as the 0.5 s windows
                truth = boxes[frame + ahead]
                centre = (truth[:2] + truth[2:]) / 2
                for name, f in zip(("lstm", "kalman"), forecasts):
                    errors[name].append(np.linalg.norm((f[0, -1, :2] + f[0, -1, 2:]) / 2 - centre))
                errors["age_s"].append(age)
    return {k: np.asarray(v) for k, v in errors.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loso", type=Path, default=Path("runs/loso"), help="folder of scripts/loso_forecast.py")
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    header = " | ".join(f"age {lo:g}–{hi:g} s" for lo, hi in AGES)
    print(f"| held out | method | FDE 1.5 s px | {header} |")
    print("|---|---|---:|" + "---:|" * len(AGES))
    for fold in sorted(p for p in args.loso.iterdir() if (p / "last").is_dir()):
        errors = replay(args.data / fold.name, fold / "last")
        for name in ("lstm", "kalman"):
            by_age = [errors[name][(errors["age_s"] >= lo) & (errors["age_s"] < hi)].mean() for lo, hi in AGES]
            cells = " | ".join(f"{v:.1f}" for v in by_age)
            print(f"| {fold.name} | {name} | {errors[name].mean():.1f} | {cells} |")


if __name__ == "__main__":
    main()
