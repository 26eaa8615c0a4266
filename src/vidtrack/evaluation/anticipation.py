"""How early, and how reliably, forecasts anticipate line crossings and zone entries, on labelled tracks.

A sequence's labelled boxes are replayed frame by frame through counting regions (`vidtrack.analytics`). Every
`stride`-th frame each forecaster predicts all tracks of the frame from their past `OBSERVE_S` of labelled boxes,
`HORIZON_S` ahead, and the regions' anticipations are recorded. `score` compares them with the crossings that really
happen:

- precision: of the anticipations made (a track and frame whose forecast crosses), the share whose track really
  crosses that region in that direction within the horizon;
- recall: of the real crossings, the share anticipated at least once in the horizon before;
- lead: seconds from the first anticipation of a crossing (within the horizon before it) to the crossing;
- timing error: |predicted − real| crossing time of the correct anticipations, and the share of them within the
  anticipation's own `time_std_s` (68 % for a calibrated Gaussian).

>>> boxes = clip_boxes(read_clips(MOT17 / "MOT17-09-FRCNN")[0])   # doctest: +SKIP
>>> regions = lambda: [ZoneCounter([(600, 600), (1300, 600), (1300, 1080), (600, 1080)], fps=30)]   # doctest: +SKIP
>>> crossings, anticipations = replay(boxes, 30.0, regions, {"cv": constant_velocity})   # doctest: +SKIP
>>> score(crossings, anticipations["cv"], horizon=45, fps=30.0)     # doctest: +SKIP
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import numpy as np

from vidtrack.datasets.base import Clip
from vidtrack.forecast.constant_velocity import fit_velocity
from vidtrack.forecast.features import kalman_forecast
from vidtrack.structures import Tracks

OBSERVE_S, HORIZON_S = 0.5, 1.5

# (N, T, 4) past boxes, NaN where missing, last = now; the horizon in frames → (N, horizon, 4) boxes and their
# standard deviations, or None.
Forecast = Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray | None]]


def clip_boxes(clip: Clip, min_visibility: float = 0.25) -> np.ndarray:
    """(tracks, frames, 4) boxes x1 y1 x2 y2 of a labelled clip (`vidtrack.datasets.read_clips`: MOTChallenge's
    people, JAAD's pedestrians, ...) at its frame numbers, NaN where unlabelled or less visible than
    `min_visibility`; tracks never visible enough are left out."""
    n_frames = max((t.first_frame + len(t) for t in clip.tracks), default=0)
    boxes = np.full((len(clip.tracks), n_frames, 4), np.nan)
    for i, track in enumerate(clip.tracks):
        visible = (track.visibility >= min_visibility)[:, None]
        boxes[i, track.first_frame:track.first_frame + len(track)] = np.where(visible, track.boxes, np.nan)
    return boxes[np.isfinite(boxes[..., 0]).any(axis=1)]


def constant_velocity(history: np.ndarray, horizon: int) -> tuple[np.ndarray, None]:
    """Boxes on the least-squares line through the past boxes, extrapolated; no deviations."""
    valid = np.isfinite(history).all(axis=2)
    frames = np.broadcast_to(np.arange(history.shape[1], dtype=np.float64), valid.shape)
    anchor, velocity = fit_velocity(frames, np.nan_to_num(history), valid)
    return anchor[:, None] + velocity[:, None] * np.arange(1, horizon + 1)[None, :, None], None


def kalman(fps: float) -> Forecast:
    """The tracker's Kalman filter run over the past boxes and rolled forward, with the deviations of its
    covariance (`forecast.features.kalman_forecast`)."""
    def forecast(history: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        return kalman_forecast(history, np.full(len(history), fps), np.arange(1, horizon + 1) / fps)

    return forecast


def lstm(forecaster, fps: float, image_size: tuple[int, int]) -> Forecast:
    """A `vidtrack.forecast.Forecaster` (an LSTM checkpoint) with its learned deviations."""
    def forecast(history: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        return forecaster.predict(history, fps=fps, image_size=image_size, horizon_s=horizon / fps)

    return forecast


def replay(boxes: np.ndarray, fps: float, regions: Callable[[], list], forecasters: dict[str, Forecast], *,
           stride: int = 1, max_frames: int | None = None) -> tuple[dict, dict[str, list]]:
    """Replay (tracks, frames, 4) labelled `boxes` through a fresh set of `regions()` per forecaster.

    Returns the crossings {(region, track, direction): [frames]} and, per forecaster, its anticipations
    [(region, track, direction, frame made, frame predicted, time_std_s)]; regions are numbered in the order
    `regions()` lists them.
    """
    n_frames = min(boxes.shape[1], max_frames or boxes.shape[1])
    observe, horizon = round(OBSERVE_S * fps), int(HORIZON_S * fps + 1e-6)
    counters = {name: regions() for name in forecasters}
    crossings, anticipations = defaultdict(list), {name: [] for name in forecasters}
    for t in range(n_frames):
        present = np.flatnonzero(np.isfinite(boxes[:, t, 0]))
        history = boxes[present, max(t - observe, 0):t + 1]
        history = np.concatenate([np.full((len(present), observe + 1 - history.shape[1], 4), np.nan), history], 1)
        for name, forecast in forecasters.items():
            future, std = forecast(history, horizon) if t % stride == 0 and len(present) else (None, None)
            tracks = Tracks(present, boxes[present, t], np.ones(len(present)), np.zeros(len(present)),
                            np.arange(len(present)), forecast=future, forecast_std=std)
            for region, counter in enumerate(counters[name]):
                events = counter.update(t, tracks)
                if name == next(iter(forecasters)):  # the crossings are the same for every forecaster
                    for c in events.crossed:
                        crossings[region, c.track_id, c.direction].append(c.frame)
                anticipations[name] += [(region, a.track_id, a.direction, t, a.frame, a.time_std_s)
                                        for a in events.anticipated]
    return dict(crossings), anticipations


def score(crossings: dict, anticipations: list, horizon: int, fps: float) -> dict:
    """Counts and per-event outcomes of one sequence, as lists, so that sequences pool by concatenation (see
    `summary`). Pass a subset of regions or directions by filtering both arguments alike."""
    correct, timing, within = [], [], []
    first_before = {}  # (region, track, direction, crossing frame) → earliest anticipation frame within the horizon
    for region, track, direction, made, predicted, time_std in anticipations:
        real = [c for c in crossings.get((region, track, direction), []) if made < c <= made + horizon]
        correct.append(bool(real))
        if real:
            error = abs(predicted - real[0]) / fps
            timing.append(error)
            if time_std is not None:
                within.append(error <= time_std)
            key = (region, track, direction, real[0])
            first_before[key] = min(first_before.get(key, made), made)
    events = [(key, c) for key, frames in crossings.items() for c in frames]
    lead = [(c - first_before[(*key, c)]) / fps for key, c in events if (*key, c) in first_before]
    return {"correct": correct, "timing": timing, "within_std": within, "crossings": len(events), "lead": lead}


def summary(s: dict) -> dict[str, float]:
    """The pooled numbers of `score`'s lists: anticipations, precision, crossings, recall, lead quartiles (s),
    median timing error (s) and the share of timing errors within one `time_std_s` (NaN where none)."""
    lead = np.percentile(s["lead"], [25, 50, 75]) if s["lead"] else [np.nan] * 3
    return {
        "anticipations": len(s["correct"]),
        "precision": float(np.mean(s["correct"])) if s["correct"] else np.nan,
        "crossings": s["crossings"],
        "recall": len(s["lead"]) / s["crossings"] if s["crossings"] else np.nan,
        "lead_25": lead[0], "lead_50": lead[1], "lead_75": lead[2],
        "timing_error": float(np.median(s["timing"])) if s["timing"] else np.nan,
        "within_std": float(np.mean(s["within_std"])) if s["within_std"] else np.nan,
    }
