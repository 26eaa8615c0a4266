"""Counting regions: lines that tracks cross and zones that they enter and leave, per class, with the crossings and
entries that each track's forecast anticipates.

Both kinds share one shape. A track is placed by its *anchor*, the bottom centre of its box by default (where a
person stands; supervision's default `triggering_anchors`), or its centre (`anchor="center"`, as Ultralytics'
counters). `update(frame, tracks)` returns the frame's `RegionEvents`: the `Crossing`s counted ("in" or "out") and
the `Anticipation`s, tracks whose forecast path (the anchors of their forecast boxes) would make a crossing that
counts, with the frame of the first forecast step beyond it, its time, and the uncertainty of that time when the
forecast has standard deviations (`Tracks.forecast_std`). `counts` holds the running "in" and "out" counts per class.

- `LineCounter` watches a directed segment from `start` to `end`. A track crosses when the move of its anchor since
  its last frame off the line passes through the segment; "in" is the right-hand side as seen on screen when walking
  from `start` to `end` (for a line drawn left to right, moving down the image), "out" the other. Each track is
  counted at most once per direction change: in, out, in again, but never in twice in a row.
- `ZoneCounter` watches a polygon (supervision's `PolygonZone`, Ultralytics' region). A track enters ("in") when its
  anchor is inside in a frame after one where it was seen outside, and leaves ("out") the other way round; a track
  first seen inside is in `occupancy` (the tracks inside now, per class) but did not enter, so in − out need not
  equal the occupancy.

The uncertainty of an anticipated time is to first order the anchor's standard deviation across the boundary
divided by its forecast speed across it (`time_std_s`): a forecast that reaches the boundary slowly, or with a wide
spread, is unsure when it will.

>>> counter = LineCounter((0, 100), (200, 100), fps=10)
>>> def box(y):  # a 20 px wide person whose feet are at height y
...     future = [[[90, y - 46, 110, y + 4], [90, y - 40, 110, y + 10]]]  # feet 4 and 10 px lower
...     return Tracks([7], [[90, y - 50, 110, y]], [0.9], [0], [0], forecast=future)
>>> counter.update(0, box(92)).anticipated  # feet at 92, forecast at 96 then 102: beyond the line in 2 frames
[Anticipation(track_id=7, class_id=0, direction='in', frame=2, time_s=0.2, time_std_s=None)]
>>> counter.update(1, box(104)).crossed
[Crossing(track_id=7, class_id=0, direction='in', frame=1)]
>>> dict(counter.counts["in"]), dict(counter.counts["out"])
({0: 1}, {})
>>> zone = ZoneCounter([(0, 100), (200, 100), (200, 200), (0, 200)], fps=10)  # the same line is its top edge
>>> zone.update(0, box(92)).anticipated[0].frame, zone.update(1, box(104)).crossed[0].direction
(2, 'in')
>>> dict(zone.occupancy)
{0: 1}
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from vidtrack.structures import Tracks

DIRECTIONS = ("in", "out")
ANCHORS = ("bottom_center", "center")


@dataclass(frozen=True, slots=True)
class Crossing:
    """A track crossed the line, or entered ("in") or left ("out") the zone, in this frame."""

    track_id: int
    class_id: int
    direction: str
    frame: int


@dataclass(frozen=True, slots=True)
class Anticipation:
    """A track's forecast crosses the line, or enters or leaves the zone: `frame` (and `time_s`) is the first forecast
    step beyond the boundary; `time_std_s` the standard deviation of that time, None without forecast deviations."""

    track_id: int
    class_id: int
    direction: str
    frame: int
    time_s: float
    time_std_s: float | None = None


@dataclass(frozen=True, slots=True)
class RegionEvents:
    """What one frame brought: the crossings counted and the crossings anticipated."""

    crossed: list[Crossing]
    anticipated: list[Anticipation]


LineEvents = RegionEvents  # its name before zones


def bottom_centres(xyxy: np.ndarray) -> np.ndarray:
    """(..., 4) boxes → (..., 2) bottom centres x, y."""
    return np.stack([(xyxy[..., 0] + xyxy[..., 2]) / 2, xyxy[..., 3]], axis=-1)


def anchor_points(xyxy: np.ndarray, anchor: str = "bottom_center") -> np.ndarray:
    """(..., 4) boxes → (..., 2) anchors: bottom centres, or centres with `anchor="center"`. Applied to standard
    deviations of x1 y1 x2 y2, it gives the anchor's (an upper bound: the two corners taken as fully correlated)."""
    if anchor == "center":
        return (xyxy[..., :2] + xyxy[..., 2:]) / 2
    return bottom_centres(xyxy)


def _point(name: str, value) -> np.ndarray:
    point = np.asarray(value, dtype=np.float64)
    if point.shape != (2,):
        raise ValueError(f"{name} must be a point (x, y), got {value!r}")
    if not np.isfinite(point).all():
        raise ValueError(f"{name} must be finite, got {value!r}")
    return point


def _cross(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]


class _RegionCounter:
    """What lines and zones share: the counts, the anchor, and anticipation from the forecast path. A subclass says
    which moves of an anchor cross its boundary (`_changes`), and the boundary's normal where a move crosses it."""

    def __init__(self, *, fps: float, anchor: str) -> None:
        if not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be a positive number, got {fps!r}")
        if anchor not in ANCHORS:
            raise ValueError(f"anchor must be one of {', '.join(ANCHORS)}, got {anchor!r}")
        self.fps, self.anchor = fps, anchor
        self.counts: dict[str, Counter[int]] = {d: Counter() for d in DIRECTIONS}

    def _changes(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(..., 2) moves from `a` to `b` → (...) whether each crosses the boundary, and whether it lands "in"."""
        raise NotImplementedError

    def _normal(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """(2,) unit normal of the boundary where the move from `a` to `b` crosses it."""
        raise NotImplementedError

    def _would_count(self, track_id: int, direction: str) -> bool:
        return True

    def _anticipate(self, frame: int, tracks: Tracks, points: np.ndarray) -> list[Anticipation]:
        if tracks.forecast is None or tracks.forecast.shape[1] == 0:
            return []
        future = anchor_points(tracks.forecast.astype(np.float64), self.anchor)
        path = np.concatenate([points[:, None], future], axis=1)  # (N, H + 1, 2)
        hits, lands_in = self._changes(path[:, :-1], path[:, 1:])  # (N, H): step k reaches frame + k + 1
        std = None if tracks.forecast_std is None else anchor_points(tracks.forecast_std.astype(np.float64),
                                                                     self.anchor)
        anticipated = []
        for i in np.flatnonzero(hits.any(axis=1)).tolist():
            step = int(np.argmax(hits[i])) + 1
            direction = DIRECTIONS[0] if lands_in[i, step - 1] else DIRECTIONS[1]
            track_id = int(tracks.track_id[i])
            if not self._would_count(track_id, direction):
                continue
            time_std = None
            if std is not None:
                a, b = path[i, step - 1], path[i, step]
                normal = self._normal(a, b)
                speed = abs(float((b - a) @ normal)) * self.fps  # px per second across the boundary
                spread = float(np.hypot(*(normal * std[i, step - 1])))
                time_std = round(spread / speed, 4) if speed > 0 else None
            anticipated.append(Anticipation(track_id, int(tracks.class_id[i]), direction, frame + step,
                                            round((frame + step) / self.fps, 4), time_std))
        return anticipated


class LineCounter(_RegionCounter):
    """Counts the tracks crossing the segment `start` → `end` ((x, y) in pixels), per class and direction.

    Attributes:
        counts: {"in": Counter, "out": Counter} of crossings per class id, running since the first frame.
    """

    def __init__(self, start: tuple[float, float], end: tuple[float, float], *, fps: float,
                 anchor: str = "bottom_center") -> None:
        self.start, self.end = _point("start", start), _point("end", end)
        if np.array_equal(self.start, self.end):
            raise ValueError(f"start and end must be two distinct points, got {start!r} twice")
        super().__init__(fps=fps, anchor=anchor)
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

    def update(self, frame: int, tracks: Tracks) -> RegionEvents:
        """Count the tracks of `frame` that crossed since their last frame, and anticipate those whose forecast
        crosses; tracks unseen since an earlier frame cross if their move since then does."""
        points = anchor_points(tracks.xyxy.astype(np.float64), self.anchor)  # (N, 2)
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
        return RegionEvents(crossed, self._anticipate(frame, tracks, points))

    def _changes(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.crosses(a, b), self.side(b) > 0

    def _normal(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        direction = (self.end - self.start) / np.linalg.norm(self.end - self.start)
        return np.array([-direction[1], direction[0]])

    def _would_count(self, track_id: int, direction: str) -> bool:
        return self._counted.get(track_id) != direction


class ZoneCounter(_RegionCounter):
    """Counts the tracks entering ("in") and leaving ("out") the polygon `polygon` ((V, 2) vertices (x, y) in pixels,
    V >= 3, in order), per class, and the tracks inside it now.

    Inside is the even-odd rule of `contains`. A track lost for some frames keeps its last known side: it enters if
    it was last seen outside and is now seen inside.

    Attributes:
        counts: {"in": Counter, "out": Counter} of entries and exits per class id, running since the first frame.
        occupancy: Counter of the tracks inside in the last frame, per class id.
    """

    def __init__(self, polygon, *, fps: float, anchor: str = "bottom_center") -> None:
        shown = polygon.tolist() if isinstance(polygon, np.ndarray) else polygon
        vertices = np.asarray(polygon, dtype=np.float64)
        if vertices.ndim != 2 or vertices.shape[1] != 2 or len(vertices) < 3:
            raise ValueError(f"polygon must be 3 or more points (x, y), got {shown!r}")
        if not np.isfinite(vertices).all():
            raise ValueError(f"polygon must be finite, got {shown!r}")
        if abs(_cross(vertices, np.roll(vertices, -1, axis=0)).sum()) / 2 == 0:
            raise ValueError(f"polygon must enclose an area, got {shown!r}")
        super().__init__(fps=fps, anchor=anchor)
        self.polygon = vertices
        self.occupancy: Counter[int] = Counter()
        self._inside: dict[int, bool] = {}  # each track's side when last seen

    def inside(self, size: tuple[int, int]) -> bool:
        """Whether every vertex lies in a frame of `size` (width, height)."""
        return bool(((self.polygon >= 0) & (self.polygon <= size)).all())

    def contains(self, points: np.ndarray) -> np.ndarray:
        """(..., 2) points → (...) whether each is inside the polygon (even-odd rule: a ray from the point crosses its
        edges an odd number of times)."""
        points = np.asarray(points, dtype=np.float64)
        x, y = points[..., 0, None], points[..., 1, None]  # (..., 1) against the (V,) edges
        (x1, y1), (x2, y2) = self.polygon.T, np.roll(self.polygon, -1, axis=0).T
        straddles = (y1 > y) != (y2 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_cross = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
        return ((straddles & (x < x_cross)).sum(axis=-1) % 2).astype(bool)

    def update(self, frame: int, tracks: Tracks) -> RegionEvents:
        """Count the tracks of `frame` that entered or left since they were last seen, update the occupancy, and
        anticipate the tracks whose forecast enters or leaves."""
        points = anchor_points(tracks.xyxy.astype(np.float64), self.anchor)  # (N, 2)
        inside = self.contains(points).tolist()
        crossed = []
        for track_id, class_id, now in zip(tracks.track_id.tolist(), tracks.class_id.tolist(), inside):
            before = self._inside.get(track_id)
            if before is not None and before != now:
                direction = DIRECTIONS[0] if now else DIRECTIONS[1]
                self.counts[direction][class_id] += 1
                crossed.append(Crossing(track_id, class_id, direction, frame))
            self._inside[track_id] = now
        self.occupancy = Counter(c for c, now in zip(tracks.class_id.tolist(), inside) if now)
        return RegionEvents(crossed, self._anticipate(frame, tracks, points))

    def _changes(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        inside_b = self.contains(b)
        return self.contains(a) != inside_b, inside_b

    def _normal(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """The normal of the edge the move crosses first (of the edge nearest `b` if rounding finds none)."""
        starts = self.polygon
        edges = np.roll(self.polygon, -1, axis=0) - starts  # (V, 2)
        move, offset = b - a, starts - a
        with np.errstate(divide="ignore", invalid="ignore"):
            denominator = _cross(move, edges)
            t, u = _cross(offset, edges) / denominator, _cross(offset, move) / denominator
        hit = (denominator != 0) & (t >= 0) & (t <= 1) & (u >= 0) & (u <= 1)
        if hit.any():
            k = int(np.argmin(np.where(hit, t, np.inf)))
        else:
            k = int(np.argmin(np.abs(_cross(edges, b - starts)) / np.linalg.norm(edges, axis=1)))
        return np.array([-edges[k, 1], edges[k, 0]]) / np.linalg.norm(edges[k])
