"""Leave-one-sequence-out evaluation of the LSTM forecaster against constant velocity and the Kalman filter.

For each sequence of --data, train on the others and evaluate on it (PIE protocol: observe 0.5 s, predict 1.5 s).
The held-out sequence is never used to choose anything: every fold trains for the same fixed number of epochs and
is evaluated with its last checkpoint (the held-out loss is only logged).

    .venv/bin/python scripts/loso_forecast.py --data ../shared/data/MOT17/train --out runs/loso

`--held-out NAME ...` runs only those folds (the others are skipped, not trained), for a machine without the time
for all four; the fixed-camera preset's recipe, on the two static-camera sequences, in 3 epochs:

    .venv/bin/python scripts/loso_forecast.py --no-position --epochs 3 --held-out MOT17-02-FRCNN MOT17-09-FRCNN \
        --out runs/loso-fixed

`--also` adds other labelled data to every fold's training, never to the held-out sequence; the shipped default's
recipe (JAAD's train split and MOT17 together):

    .venv/bin/python scripts/loso_forecast.py --also ../shared/data/JAAD --also-split train --out runs/loso-joint

`--extra` adds top-down pedestrian trajectories (ETH/UCY files, see `vidtrack.datasets.eth_ucy`) to every fold's
training windows, never to the held-out sequence:

    .venv/bin/python scripts/loso_forecast.py --out runs/loso-ethucy --extra ../shared/data/ETH-UCY/*.txt
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from vidtrack.datasets import read_clips
from vidtrack.forecast.lstm import LSTMConfig
from vidtrack.training.fit import evaluate_forecaster, train_forecaster
from vidtrack.training.trainer import TrainConfig

METHODS = ("lstm", "kalman", "constant_velocity")
COLUMNS = ("fde", "ade", "cf_mse", "c_mse", "mse_1.5", "fiou")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/MOT17/train")
    parser.add_argument("--out", type=Path, default=Path("runs/loso"))
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-position", action="store_true", help="the model does not read where boxes are")
    parser.add_argument("--also", type=Path, nargs="+", default=[], metavar="PATH",
                        help="labelled data (e.g. a JAAD root) added to the training of every fold")
    parser.add_argument("--also-split", default=None, metavar="NAME", help="the JAAD split of --also (e.g. train)")
    parser.add_argument("--extra", type=Path, nargs="+", default=None, metavar="PATH",
                        help="trajectory files (ETH/UCY) added to the training windows of every fold")
    parser.add_argument("--extra-stride", type=float, default=1.6, metavar="SECONDS",
                        help="one extra window every SECONDS per track, direction and rate (default 1.6)")
    parser.add_argument("--held-out", nargs="+", metavar="NAME",
                        help="only these folds (sequence names); all of them by default")
    args = parser.parse_args()
    folds = {}
    for clip in read_clips(args.data):
        if args.held_out and clip.name not in args.held_out:
            continue
        folder = args.out / clip.name
        config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, patience=args.epochs,
                             seed=args.seed)
        train_forecaster([args.data, *args.also], folder, split=args.also_split, val_sequences=[clip.name],
                         model_config=LSTMConfig(position=not args.no_position), train_config=config,
                         extra=args.extra, extra_stride_s=args.extra_stride)
        folds[clip.name] = evaluate_forecaster(clip.source, folder / "last", folder / "eval")
    (args.out / "loso.json").write_text(json.dumps(folds, indent=2))
    table = markdown(folds)
    (args.out / "loso.md").write_text(table + "\n")
    print(table)


def markdown(folds: dict[str, dict[str, dict]]) -> str:
    """One row per held-out sequence and method, then the mean over folds, and the LSTM's FDE change vs Kalman."""
    lines = ["| held out | method | " + " | ".join(COLUMNS) + " |", "|---|---|" + "---:|" * len(COLUMNS)]
    for name, results in [*folds.items(), ("mean", mean_over(folds))]:
        for method in METHODS:
            values = " | ".join(f"{results[method][c]:.3f}" if c == "fiou" else f"{results[method][c]:.1f}"
                                for c in COLUMNS)
            lines.append(f"| {name} | {method} | {values} |")
    lines.append("")
    for name, results in [*folds.items(), ("mean", mean_over(folds))]:
        change = 100 * (results["lstm"]["fde"] / results["kalman"]["fde"] - 1)
        lines.append(f"- {name}: LSTM FDE {change:+.1f} % against the Kalman filter")
    return "\n".join(lines)


def mean_over(folds: dict[str, dict[str, dict]]) -> dict[str, dict[str, float]]:
    return {m: {c: sum(f[m][c] for f in folds.values()) / len(folds) for c in COLUMNS} for m in METHODS}


if __name__ == "__main__":
    main()
