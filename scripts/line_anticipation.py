"""How early, and how reliably, forecasts anticipate line crossings, on MOT17's labelled tracks.

Each sequence's people (ground truth with consider = 1, class 1, visibility >= 0.25) are replayed frame by frame
through `LineCounter`s on vertical lines at 0.3, 0.5 and 0.7 of the width and horizontal lines at 0.6 and 0.8 of
the height. Every `--stride`-th frame each forecaster predicts all tracks of the frame from their past 0.5 s of
labelled boxes, 1.5 s ahead. Scores, pooled over sequences and lines:

- precision: of the anticipations made (a track and frame whose forecast crosses), the share whose track really
  crosses that line in that direction within the next 1.5 s;
- recall: of the real crossings, the share anticipated at least once in the 1.5 s before;
- lead: seconds from the first anticipation of a crossing (within the 1.5 s before it) to the crossing;
- timing error: |predicted − real| crossing time of the correct anticipations.

The default LSTM preset was trained on these four sequences, so its row is in-sample; the dashcam preset (trained on
JAAD) has never seen them. Constant velocity is a least-squares line through the same 0.5 s, extrapolated.

    .venv/bin/python scripts/line_anticipation.py            # all frames of the four sequences
    .venv/bin/python scripts/line_anticipation.py --max-frames 100 --stride 3
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np

from vidtrack.analytics import LineCounter
from vidtrack.forecast import PRESETS, Forecaster
from vidtrack.forecast.constant_velocity import fit_velocity
from vidtrack.io.motchallenge import read_ground_truth, read_seqinfo
from vidtrack.structures import Tracks

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "MOT17" / "train"
VERTICAL, HORIZONTAL = (0.3, 0.5, 0.7), (0.6, 0.8)  # line positions, fractions of the width and of the height
OBSERVE_S, HORIZON_S = 0.5, 1.5


def labelled_boxes(sequence: Path) -> np.ndarray:
    """(tracks, frames, 4) boxes x1 y1 x2 y2 of the sequence's visible people, NaN where unlabelled."""
    gt = read_ground_truth(sequence / "gt" / "gt.txt")
    gt = gt[gt.consider & (gt.class_id == 1) & (gt.visibility >= 0.25)]
    ids, row = np.unique(gt.track_id, return_inverse=True)
    boxes = np.full((len(ids), int(gt.frame.max()), 4), np.nan)
    boxes[row, gt.frame - 1] = gt.xyxy
    return boxes


def constant_velocity(history: np.ndarray, horizon: int) -> np.ndarray:
    """(N, T, 4) past boxes (NaN where missing) → (N, horizon, 4) boxes on the line fitted through them."""
    valid = np.isfinite(history).all(axis=2)
    frames = np.broadcast_to(np.arange(history.shape[1], dtype=np.float64), valid.shape)
    anchor, velocity = fit_velocity(frames, np.nan_to_num(history), valid)
    return anchor[:, None] + velocity[:, None] * np.arange(1, horizon + 1)[None, :, None]


def replay(sequence: Path, forecasters: dict, stride: int, max_frames: int | None):
    """Crossings {(line, track, direction): [frames]} and, per forecaster, anticipations [(line, track, direction,
    frame made, frame predicted)]."""
    info = read_seqinfo(sequence / "seqinfo.ini")
    boxes = labelled_boxes(sequence)
    n_frames = min(boxes.shape[1], max_frames or boxes.shape[1])
    observe, horizon = round(OBSERVE_S * info.fps), int(HORIZON_S * info.fps + 1e-6)
    w, h = info.width, info.height
    lines = [((x * w, 0), (x * w, h)) for x in VERTICAL] + [((0, y * h), (w, y * h)) for y in HORIZONTAL]
    counters = {name: [LineCounter(a, b, fps=info.fps) for a, b in lines] for name in forecasters}
    crossings, anticipations = defaultdict(list), {name: [] for name in forecasters}
    for t in range(n_frames):
        present = np.flatnonzero(np.isfinite(boxes[:, t, 0]))
        history = boxes[present, max(t - observe, 0):t + 1]
        history = np.concatenate([np.full((len(present), observe + 1 - history.shape[1], 4), np.nan), history], 1)
        for name, forecast in forecasters.items():
            future = forecast(history, info, horizon) if t % stride == 0 and len(present) else None
            tracks = Tracks(present, boxes[present, t], np.ones(len(present)), np.zeros(len(present)),
                            np.arange(len(present)), forecast=future)
            for line, counter in enumerate(counters[name]):
                events = counter.update(t, tracks)
                if name == next(iter(forecasters)):  # the crossings are the same for every forecaster
                    for c in events.crossed:
                        crossings[line, c.track_id, c.direction].append(c.frame)
                anticipations[name] += [(line, a.track_id, a.direction, t, a.frame) for a in events.anticipated]
    return crossings, anticipations, horizon, info.fps


def score(crossings: dict, anticipations: list, horizon: int, fps: float) -> dict:
    """Counts and per-event outcomes of one sequence (lists, so that sequences pool by concatenation)."""
    correct, timing = [], []
    first_before = {}  # (line, track, direction, crossing frame) → earliest anticipation frame within the horizon
    for line, track, direction, made, predicted in anticipations:
        real = [c for c in crossings.get((line, track, direction), []) if made < c <= made + horizon]
        correct.append(bool(real))
        if real:
            timing.append(abs(predicted - real[0]) / fps)
            key = (line, track, direction, real[0])
            first_before[key] = min(first_before.get(key, made), made)
    events = [(key, c) for key, frames in crossings.items() for c in frames]
    lead = [(c - first_before[(*key, c)]) / fps for key, c in events if (*key, c) in first_before]
    return {"correct": correct, "timing": timing, "crossings": len(events), "lead": lead}


def row(name: str, s: dict) -> str:
    lead = np.percentile(s["lead"], [25, 50, 75]) if s["lead"] else [np.nan] * 3
    precision = np.mean(s["correct"]) if s["correct"] else np.nan
    return (f"| {name} | {len(s['correct'])} | {precision:.1%} | {s['crossings']} | "
            f"{len(s['lead']) / max(s['crossings'], 1):.1%} | {lead[1]:.2f} ({lead[0]:.2f}–{lead[2]:.2f}) | "
            f"{np.median(s['timing']) if s['timing'] else np.nan:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="MOT17/train (sequences with gt/gt.txt)")
    parser.add_argument("--stride", type=int, default=1, help="forecast every N-th frame")
    parser.add_argument("--max-frames", type=int, help="only the first N frames of each sequence")
    args = parser.parse_args()
    lstms = {f"LSTM {preset}": Forecaster.load(preset) for preset in PRESETS}
    forecasters = {name: (lambda history, info, _, fc=fc: fc.predict(
        history, fps=info.fps, image_size=(info.width, info.height), horizon_s=HORIZON_S)[0])
        for name, fc in lstms.items()}
    forecasters["constant velocity"] = lambda history, _, horizon: constant_velocity(history, horizon)
    pooled = {name: defaultdict(list) | {"crossings": 0} for name in forecasters}
    sequences = sorted(p for p in args.data.iterdir() if (p / "gt" / "gt.txt").is_file())
    for sequence in sequences:
        crossings, anticipations, horizon, fps = replay(sequence, forecasters, args.stride, args.max_frames)
        for name in forecasters:
            for key, value in score(crossings, anticipations[name], horizon, fps).items():
                pooled[name][key] += value
    print(f"{len(sequences)} sequences, {len(VERTICAL) + len(HORIZONTAL)} lines each, forecasts every "
          f"{args.stride} frame(s), horizon {HORIZON_S} s\n")
    print("| forecaster | anticipations | precision | crossings | recall | lead s, median (25–75 %) | timing error s |")
    print("|---|---|---|---|---|---|---|")
    for name, s in pooled.items():
        print(row(name, s))


if __name__ == "__main__":
    main()
