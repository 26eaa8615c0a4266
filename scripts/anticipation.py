"""How early, and how reliably, forecasts anticipate line crossings and zone entries, on labelled tracks.

MOT17 (the default): each sequence's people (ground truth with consider = 1, class 1, visibility >= 0.25) are
replayed frame by frame (`vidtrack.evaluation.anticipation`) through `LineCounter`s on vertical lines at 0.3, 0.5 and
0.7 of the width and horizontal lines at 0.6 and 0.8 of the height, and through `ZoneCounter`s on four rectangles
(below). JAAD (`--jaad ROOT`): the val split's pedestrians (visibility >= 0.25), seen from a moving car, through a
zone over the road ahead (a trapezoid from the bottom of the image to the middle) and a line down the middle.
Every `--stride`-th frame each forecaster predicts all tracks of the frame from their past 0.5 s of labelled boxes,
1.5 s ahead. Lines count both directions; zones are scored on their entries.

Forecasters: the LSTM presets (`pedestrians-fixed-camera` was trained on the four MOT17 sequences: in-sample there;
`pedestrians-dashcam` on JAAD's train split: JAAD's val split is unseen), with `--loso DIR` the LSTM trained without
the MOT17 sequence it is scored on (`DIR/<sequence>/last`, the checkpoints of `scripts/loso_forecast.py`; only the
sequences with one are scored, for every forecaster), the Kalman filter run over the same 0.5 s and rolled forward,
and constant velocity (a least-squares line through the same 0.5 s).

    .venv/bin/python scripts/anticipation.py                          # all four sequences, in-sample LSTM
    .venv/bin/python scripts/anticipation.py --loso runs/loso-fixed   # held-out LSTM, sequences with a fold
    .venv/bin/python scripts/anticipation.py --jaad ../shared/data/JAAD --stride 3
    .venv/bin/python scripts/anticipation.py --max-frames 100 --stride 3
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from functools import partial
from pathlib import Path

import numpy as np

from vidtrack.analytics import LineCounter, ZoneCounter
from vidtrack.datasets import read_clips
from vidtrack.evaluation.anticipation import (
    HORIZON_S,
    clip_boxes,
    constant_velocity,
    kalman,
    lstm,
    replay,
    score,
    summary,
)
from vidtrack.forecast import DEFAULT_PRESET, PRESETS, Forecaster

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "MOT17" / "train"
VERTICAL, HORIZONTAL = (0.3, 0.5, 0.7), (0.6, 0.8)  # line positions, fractions of the width and of the height
ZONES = ((0.3, 0.6, 0.7, 1.0), (0.0, 0.5, 0.3, 1.0), (0.7, 0.5, 1.0, 1.0), (0.35, 0.35, 0.65, 0.6))  # x0 y0 x1 y1


ROAD_AHEAD = ((0.25, 1.0), (0.42, 0.55), (0.58, 0.55), (0.75, 1.0))  # JAAD: the car's path, fractions of w and h


def regions(fps: float, w: int, h: int) -> list:
    """The MOT17 lines, then zones, of a w x h frame."""
    lines = [((x * w, 0), (x * w, h)) for x in VERTICAL] + [((0, y * h), (w, y * h)) for y in HORIZONTAL]
    zones = [[(x0 * w, y0 * h), (x1 * w, y0 * h), (x1 * w, y1 * h), (x0 * w, y1 * h)] for x0, y0, x1, y1 in ZONES]
    return [LineCounter(a, b, fps=fps) for a, b in lines] + [ZoneCounter(z, fps=fps) for z in zones]


def jaad_regions(fps: float, w: int, h: int) -> list:
    """JAAD's line down the middle, then its zone over the road ahead."""
    return [LineCounter((w / 2, 0), (w / 2, h), fps=fps), ZoneCounter([(x * w, y * h) for x, y in ROAD_AHEAD], fps=fps)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="MOT17/train (sequences with gt/gt.txt)")
    parser.add_argument("--jaad", type=Path, help="a JAAD root: score its val split instead of MOT17")
    parser.add_argument("--loso", type=Path, help="leave-one-sequence-out checkpoints, DIR/<sequence>/last")
    parser.add_argument("--presets", nargs="*", default=list(PRESETS), choices=PRESETS, help="LSTM presets to score")
    parser.add_argument("--stride", type=int, default=1, help="forecast every N-th frame")
    parser.add_argument("--max-frames", type=int, help="only the first N frames of each sequence")
    args = parser.parse_args()
    clips = read_clips(args.jaad, split="val") if args.jaad else read_clips(args.data)
    if args.loso:
        clips = [c for c in clips if (args.loso / c.name / "last" / "model.safetensors").is_file()]
    presets = {name: Forecaster.load(name) for name in args.presets}
    n_lines = 1 if args.jaad else len(VERTICAL) + len(HORIZONTAL)
    pooled = {kind: defaultdict(lambda: defaultdict(list)) for kind in ("lines", "zones")}
    for clip in clips:
        boxes = clip_boxes(clip)
        if not len(boxes):
            continue
        forecasters = {}
        if args.loso:
            forecasters["LSTM held out (LOSO)"] = lstm(Forecaster.load(args.loso / clip.name / "last"), clip.fps,
                                                       clip.image_size)
        for name, forecaster in presets.items():
            in_sample = " (in-sample)" if name == DEFAULT_PRESET and not args.jaad else ""
            forecasters[f"LSTM {name}{in_sample}"] = lstm(forecaster, clip.fps, clip.image_size)
        forecasters["Kalman"] = kalman(clip.fps)
        forecasters["constant velocity"] = constant_velocity
        layout = partial(jaad_regions if args.jaad else regions, clip.fps, *clip.image_size)
        crossings, anticipations = replay(boxes, clip.fps, layout, forecasters, stride=args.stride,
                                          max_frames=args.max_frames)
        horizon = int(HORIZON_S * clip.fps + 1e-6)
        for kind, keep in (("lines", lambda r, d: r < n_lines), ("zones", lambda r, d: r >= n_lines and d == "in")):
            kept = {k: v for k, v in crossings.items() if keep(k[0], k[2])}
            for name, made in anticipations.items():
                for key, value in score(kept, [a for a in made if keep(a[0], a[2])], horizon, clip.fps).items():
                    pooled[kind][name][key] += [value] if key == "crossings" else value
    print(f"{len(clips)} clips ({', '.join(c.name for c in clips[:4])}{', ...' if len(clips) > 4 else ''}); "
          f"{n_lines} line(s) and {1 if args.jaad else len(ZONES)} zone(s) each, forecasts every {args.stride} "
          f"frame(s), horizon {HORIZON_S} s\n")
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
