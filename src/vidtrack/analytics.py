"""Counting line crossings, and anticipating them from each track's forecast.

A `LineCounter` watches a directed segment from `start` to `end`. A track's reference point is the bottom centre of
its box (where a person stands). A track crosses when the move of that point since its last frame off the line
passes through the segment; the side it lands on gives the direction: "in" is the right-hand side as seen on screen
when walking from `start` to `end` (for a line drawn left to right, moving down the image), "out" the other.
Each track is counted at most once per direction change: in, out, in again, but never in twice in a row.

A track whose forecast path (the bottom centres of its forecast boxes) would cross the segment, in a direction that
would count, is *anticipated*, with the frame of the first forecast step beyond the line.

>>> counter = LineCounter((0, 100), (200, 100), fps=10)
>>> def box(y):  # a 20 px wide person whose feet are at height y
...     future = [[[90, y - 46, 110, y + 4], [90, y - 40, 110, y + 10]]]  # feet 4 and 10 px lower
...     return Tracks([7], [[90, y - 50, 110, y]], [0.9], [0], [0], forecast=future)
>>> counter.update(0, box(92)).anticipated  # feet at 92, forecast at 96 then 102: beyond the line in 2 frames
[Anticipation(track_id=7, class_id=0, direction='in', frame=2, time_s=0.2)]
>>> counter.update(1, box(104)).crossed
[Crossing(track_id=7, class_id=0, direction='in', frame=1)]
>>> dict(counter.counts["in"]), dict(counter.counts["out"])
({0: 1}, {})
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from vidtrack.structures import Tracks

DIRECTIONS = ("in", "out")


@dataclass(frozen=True, slots=True)
class Crossing:
    """A track crossed the line in this frame."""

    track_id: int
    class_id: int
    direction: str
    frame: int


@dataclass(frozen=True, slots=True)
class Anticipation:
    """A track's forecast crosses the line: `frame` (and `time_s`) is the first forecast step beyond it."""

    track_id: int
    class_id: int
    direction: str
    frame: int
    time_s: float


@dataclass(frozen=True, slots=True)
class LineEvents:
    """What one frame brought: the crossings counted and the crossings anticipated."""

    crossed: list[Crossing]
    anticipated: list[Anticipation]


def bottom_centres(xyxy: np.ndarray) -> np.ndarray:
    """(..., 4) boxes → (..., 2) bottom centres x, y."""
    return np.stack([(xyxy[..., 0] + xyxy[..., 2]) / 2, xyxy[..., 3]], axis=-1)


def _point(name: str, value) -> np.ndarray:
    point = np.asarray(value, dtype=np.float64)
    if point.shape != (2,):
        raise ValueError(f"{name} must be a point (x, y), got {value!r}")
    if not np.isfinite(point).all():
        raise ValueError(f"{name} must be finite, got {value!r}")
    return point


def _cross(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]


class LineCounter:
    """Counts the tracks crossing the segment `start` → `end` ((x, y) in pixels), per class and direction.

    Attributes:
        counts: {"in": Counter, "out": Counter} of crossings per class id, running since the first frame.
    """

    def __init__(self, start: tuple[float, float], end: tuple[float, float], *, fps: float) -> None:
        self.start, self.end = _point("start", start), _point("end", end)
        if np.array_equal(self.start, self.end):
            raise ValueError(f"start and end must be two distinct points, got {start!r} twice")
        if not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be a positive number, got {fps!r}")
        self.fps = fps
        self.counts: dict[str, Counter[int]] = {d: Counter() for d in DIRECTIONS}
        self._last: dict[int, np.ndarray] = {}  # each track's last reference point off the line
        self._counted: dict[int, str] = {}  # each track's last direction counted

    def inside(self, size: tuple[int, int]) -> bool:
        """Whether both ends lie in a frame of `size` (width, height)."""
        return all(0 <= p[0] <= size[0] and 0 <= p[1] <= size[1] for p in (self.start, self.end))

    def side(self, points: np.ndarray) -> np.ndarray:
        """(..., 2) points → (...) +1 on the "in" side, -1 on the "out" side, 0 on the line."""
        return np.sign(_cross(self.end - self.start, points - self.start))

    def crosses(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """(..., 2) moves from `a` to `b` → (...) whether each passes from one side to the other through the
        segment (its ends may touch the move)."""
        move = b - a
        ends = _cross(move, self.start - a) * _cross(move, self.end - a)
        return (self.side(a) * self.side(b) < 0) & (ends <= 0)

    def update(self, frame: int, tracks: Tracks) -> LineEvents:
        """Count the tracks of `frame` that crossed since their last frame, and anticipate those whose forecast
        crosses; tracks unseen since an earlier frame cross if their move since then does."""
        points = bottom_centres(tracks.xyxy.astype(np.float64))  # (N, 2)
        ids, classes = tracks.track_id.tolist(), tracks.class_id.tolist()
        previous = np.array([self._last.get(t, p) for t, p in zip(ids, points)]).reshape(-1, 2)
        sides = self.side(points)
        crossed = []
        for i in np.flatnonzero(self.crosses(previous, points)).tolist():
            direction = DIRECTIONS[0] if sides[i] > 0 else DIRECTIONS[1]
            if self._counted.get(ids[i]) != direction:
                self._counted[ids[i]] = direction
                self.counts[direction][classes[i]] += 1
                crossed.append(Crossing(ids[i], classes[i], direction, frame))
        for i in np.flatnonzero(sides != 0).tolist():
            self._last[ids[i]] = points[i]
        return LineEvents(crossed, self._anticipate(frame, tracks, points))

    def _anticipate(self, frame: int, tracks: Tracks, points: np.ndarray) -> list[Anticipation]:
        if tracks.forecast is None or tracks.forecast.shape[1] == 0:
            return []
        path = np.concatenate([points[:, None], bottom_centres(tracks.forecast.astype(np.float64))], axis=1)
        hits = self.crosses(path[:, :-1], path[:, 1:])  # (N, H): step k reaches frame + k + 1
        anticipated = []
        for i in np.flatnonzero(hits.any(axis=1)).tolist():
            step = int(np.argmax(hits[i])) + 1
            direction = DIRECTIONS[0] if self.side(path[i, step]) > 0 else DIRECTIONS[1]
            track_id = int(tracks.track_id[i])
            if self._counted.get(track_id) != direction:
                anticipated.append(Anticipation(track_id, int(tracks.class_id[i]), direction, frame + step,
                                                round((frame + step) / self.fps, 4)))
        return anticipated
