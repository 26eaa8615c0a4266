"""Train the dashcam forecaster on JAAD's train split with several seeds and score each on the val split with the
published benchmark's protocol (`vidtrack eval forecast --protocol jaad`); print the seeds' mean next to the
baselines, the training time and the windows per second.

    .venv/bin/python scripts/jaad_forecast.py --seeds 0 1 2 --out runs/jaad

The val split chooses nothing: every seed trains for the same fixed number of epochs and is scored with its last
checkpoint. The JAAD test split is not in the shared data, so val is the held-out number.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

from vidtrack.evaluation.forecast_report import markdown_table
from vidtrack.training.fit import evaluate_forecaster, train_forecaster
from vidtrack.training.trainer import TrainConfig

JAAD = Path(__file__).resolve().parents[2] / "shared" / "data" / "JAAD"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=JAAD)
    parser.add_argument("--out", type=Path, default=Path("runs/jaad"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--lr", type=float, default=3e-3)
    args = parser.parse_args()
    runs = {}
    for seed in args.seeds:
        folder = args.out / f"seed{seed}"
        config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=seed,
                             patience=args.epochs)
        train_forecaster(args.data, folder, split="train", val_split=0, train_config=config)
        results = evaluate_forecaster(args.data, folder / "last", folder / "eval", split="val", protocol="jaad")
        with open(folder / "log.csv") as f:
            seconds = sum(float(row["seconds"]) for row in csv.DictReader(f))
        windows = json.loads((folder / "last" / "config.json").read_text())["data"]["train_windows"]
        runs[seed] = results | {"training": {"seconds": seconds, "windows_per_s": windows * args.epochs / seconds}}
        print(f"seed {seed}: MSE 1.5 s {results['lstm']['mse_1.5']:.0f} px², "
              f"{results['lstm']['vs_reference']:.3f} × the reference filter, trained in {seconds:.0f} s", flush=True)
    first = runs[args.seeds[0]]
    mean = {method: {k: float(np.mean([r[method][k] for r in runs.values()])) for k in first[method]}
            for method in first if method != "training"}
    lstm = [r["lstm"]["vs_reference"] for r in runs.values()]
    seconds = np.mean([r["training"]["seconds"] for r in runs.values()])
    rate = np.mean([r["training"]["windows_per_s"] for r in runs.values()])
    summary = (f"{markdown_table(mean)}\n\nLSTM, {len(runs)} seeds: {np.mean(lstm):.3f} × the reference filter at "
               f"1.5 s (seeds {', '.join(f'{v:.3f}' for v in lstm)}); training {seconds:.0f} s per seed, "
               f"{rate:.0f} windows/s")
    (args.out / "summary.md").write_text(summary + "\n")
    (args.out / "runs.json").write_text(json.dumps(runs, indent=2, allow_nan=False))
    print(summary)


if __name__ == "__main__":
    main()
