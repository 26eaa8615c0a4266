"""How early, and how reliably, forecasts anticipate line crossings and zone entries, on MOT17's labelled tracks.

Each sequence's people (ground truth with consider = 1, class 1, visibility >= 0.25) are replayed frame by frame
(`vidtrack.evaluation.anticipation`) through `LineCounter`s on vertical lines at 0.3, 0.5 and 0.7 of the width and
horizontal lines at 0.6 and 0.8 of the height, and through `ZoneCounter`s on four rectangles (below). Every
`--stride`-th frame each forecaster predicts all tracks of the frame from their past 0.5 s of labelled boxes, 1.5 s
ahead. Lines count both directions; zones are scored on their entries.

Forecasters: the LSTM presets (`pedestrians-fixed-camera` was trained on these four sequences: in-sample), with
`--loso DIR` the LSTM trained without the sequence it is scored on (`DIR/<sequence>/last`, the checkpoints of
`scripts/loso_forecast.py`; only the sequences with one are scored, for every forecaster), the Kalman filter run over
the same 0.5 s and rolled forward, and constant velocity (a least-squares line through the same 0.5 s).

    .venv/bin/python scripts/anticipation.py                          # all four sequences, in-sample LSTM
    .venv/bin/python scripts/anticipation.py --loso runs/loso-fixed   # held-out LSTM, sequences with a fold
    .venv/bin/python scripts/anticipation.py --max-frames 100 --stride 3
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from functools import partial
from pathlib import Path

import numpy as np

from vidtrack.analytics import LineCounter, ZoneCounter
from vidtrack.evaluation.anticipation import (
    HORIZON_S,
    constant_velocity,
    kalman,
    labelled_boxes,
    lstm,
    replay,
    score,
    summary,
)
from vidtrack.forecast import DEFAULT_PRESET, PRESETS, Forecaster
from vidtrack.io.motchallenge import read_seqinfo

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "MOT17" / "train"
VERTICAL, HORIZONTAL = (0.3, 0.5, 0.7), (0.6, 0.8)  # line positions, fractions of the width and of the height
ZONES = ((0.3, 0.6, 0.7, 1.0), (0.0, 0.5, 0.3, 1.0), (0.7, 0.5, 1.0, 1.0), (0.35, 0.35, 0.65, 0.6))  # x0 y0 x1 y1


def regions(fps: float, w: int, h: int) -> list:
    """The lines, then the zones, of a w x h frame."""
    lines = [((x * w, 0), (x * w, h)) for x in VERTICAL] + [((0, y * h), (w, y * h)) for y in HORIZONTAL]
    zones = [[(x0 * w, y0 * h), (x1 * w, y0 * h), (x1 * w, y1 * h), (x0 * w, y1 * h)] for x0, y0, x1, y1 in ZONES]
    return [LineCounter(a, b, fps=fps) for a, b in lines] + [ZoneCounter(z, fps=fps) for z in zones]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="MOT17/train (sequences with gt/gt.txt)")
    parser.add_argument("--loso", type=Path, help="leave-one-sequence-out checkpoints, DIR/<sequence>/last")
    parser.add_argument("--presets", nargs="*", default=list(PRESETS), choices=PRESETS, help="LSTM presets to score")
    parser.add_argument("--stride", type=int, default=1, help="forecast every N-th frame")
    parser.add_argument("--max-frames", type=int, help="only the first N frames of each sequence")
    args = parser.parse_args()
    sequences = sorted(p for p in args.data.iterdir() if (p / "gt" / "gt.txt").is_file())
    if args.loso:
        sequences = [p for p in sequences if (args.loso / p.name / "last" / "model.safetensors").is_file()]
    presets = {name: Forecaster.load(name) for name in args.presets}
    n_lines = len(VERTICAL) + len(HORIZONTAL)
    pooled = {kind: defaultdict(lambda: defaultdict(list)) for kind in ("lines", "zones")}
    for sequence in sequences:
        info = read_seqinfo(sequence / "seqinfo.ini")
        size = (info.width, info.height)
        forecasters = {}
        if args.loso:
            forecasters["LSTM held out (LOSO)"] = lstm(Forecaster.load(args.loso / sequence.name / "last"),
                                                       info.fps, size)
        for name, forecaster in presets.items():
            in_sample = " (in-sample)" if name == DEFAULT_PRESET else ""
            forecasters[f"LSTM {name}{in_sample}"] = lstm(forecaster, info.fps, size)
        forecasters["Kalman"] = kalman(info.fps)
        forecasters["constant velocity"] = constant_velocity
        crossings, anticipations = replay(labelled_boxes(sequence), info.fps, partial(regions, info.fps, *size),
                                          forecasters, stride=args.stride, max_frames=args.max_frames)
        horizon = int(HORIZON_S * info.fps + 1e-6)
        for kind, keep in (("lines", lambda r, d: r < n_lines), ("zones", lambda r, d: r >= n_lines and d == "in")):
            kept = {k: v for k, v in crossings.items() if keep(k[0], k[2])}
            for name, made in anticipations.items():
                for key, value in score(kept, [a for a in made if keep(a[0], a[2])], horizon, info.fps).items():
                    pooled[kind][name][key] += [value] if key == "crossings" else value
    print(f"{', '.join(p.name for p in sequences)}; {n_lines} lines and {len(ZONES)} zones each, forecasts every "
          f"{args.stride} frame(s), horizon {HORIZON_S} s\n")
    for kind, title in (("lines", "line crossings (both directions)"), ("zones", "zone entries")):
        print(f"{title}\n")
        print("| forecaster | anticipations | precision | events | recall | lead s, median (25–75 %) | "
              "timing error s | within 1σ |")
        print("|---|---:|---:|---:|---:|---|---:|---:|")
        for name, s in pooled[kind].items():
            r = summary(s | {"crossings": sum(s["crossings"])})
            within = "–" if np.isnan(r["within_std"]) else f"{r['within_std']:.0%}"
            print(f"| {name} | {r['anticipations']} | {r['precision']:.1%} | {r['crossings']} | {r['recall']:.1%} | "
                  f"{r['lead_50']:.2f} ({r['lead_25']:.2f}–{r['lead_75']:.2f}) | {r['timing_error']:.2f} | {within} |")
        print()


if __name__ == "__main__":
    main()
