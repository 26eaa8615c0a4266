"""Drawing tracks on frames: box and id, a trail that fades into the past, and the forecast path ahead with its
uncertainty; counting lines with their in and out counts, and zones with theirs and their occupancy.

Labels stay inside the frame (below the box top when there is no room above it); the forecast is a solid path
from the box centre through the forecast centres to a dot, with the last forecast box outlined thinly. Where the
forecast has standard deviations, thin ellipses one standard deviation wide around the forecast centre, at a third,
two thirds and all of the horizon, show how the uncertainty grows with time ahead.
"""

from __future__ import annotations

import functools
import itertools
from collections import deque

import cv2
import numpy as np

from vidtrack.structures import Tracks

ZONE_COLOR = (0, 215, 255)  # BGR gold: zones apart from the white lines
TRAIL_BANDS = 6  # shades a trail fades through
PATH_POINTS = 12  # forecast centres a forecast path passes through


@functools.cache
def _spread(n: int, k: int) -> tuple[int, ...]:
    """Up to `k` of the indices 0 .. n-1, evenly spread, the first and the last included."""
    k = min(n, k)
    return tuple(sorted({round(i * (n - 1) / max(k - 1, 1)) for i in range(k)}))


def track_color(track_id: int) -> tuple[int, int, int]:
    """A stable, well-spread BGR colour per id (golden-ratio hue steps)."""
    hue = int((track_id * 0.618033988749895 % 1.0) * 180)
    hsv = np.uint8([[[hue, 200, 255]]])
    return tuple(int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])


class TrackPainter:
    """Draws each frame's tracks and remembers their recent centres for the trails."""

    def __init__(self, trail_frames: int, names: dict[int, str] | None = None) -> None:
        self.trail_frames = max(trail_frames, 1)
        self.names = names or {}
        self._trails: dict[int, deque[tuple[int, int]]] = {}

    def draw(self, image: np.ndarray, tracks: Tracks, lines: list[tuple] = (), zones: list[tuple] = ()) -> np.ndarray:
        """Return a copy of the BGR `image` with the tracks drawn, `lines` given as (start, end, in, out) and `zones`
        as (polygon (V, 2), in, out, inside now)."""
        canvas = image.copy()
        thickness = max(1, round(max(image.shape[:2]) / 640))
        for polygon, n_in, n_out, n_inside in zones:
            vertices = np.round(np.asarray(polygon)).astype(np.int32)
            cv2.polylines(canvas, [vertices], True, ZONE_COLOR, 2 * thickness, cv2.LINE_AA)
            top = vertices[np.argmin(vertices[:, 1])]
            self._draw_label(canvas, f"in {n_in} out {n_out} now {n_inside}", tuple(top.tolist()), ZONE_COLOR,
                             thickness)
        for start, end, n_in, n_out in lines:
            a, b = (tuple(np.round(p).astype(int).tolist()) for p in (start, end))
            cv2.line(canvas, a, b, (255, 255, 255), 2 * thickness, cv2.LINE_AA)
            middle = ((a[0] + b[0]) // 2, (a[1] + b[1]) // 2)
            self._draw_label(canvas, f"in {n_in} out {n_out}", middle, (255, 255, 255), thickness)
        live = set(tracks.track_id.tolist())
        self._trails = {k: v for k, v in self._trails.items() if k in live}
        for i, track_id in enumerate(tracks.track_id.tolist()):
            color = track_color(track_id)
            x1, y1, x2, y2 = (round(float(v)) for v in tracks.xyxy[i])
            centre = ((x1 + x2) // 2, (y1 + y2) // 2)
            trail = self._trails.setdefault(track_id, deque(maxlen=self.trail_frames))
            trail.append(centre)
            self._draw_trail(canvas, np.array(trail, dtype=np.int32), color, thickness)
            if tracks.forecast is not None:
                self._draw_forecast(canvas, tracks.forecast[i], centre, color, thickness)
                if tracks.forecast_std is not None:
                    self._draw_uncertainty(canvas, tracks.forecast[i], tracks.forecast_std[i], color)
            cv2.rectangle(canvas, (x1, y1), (x2, y2), color, thickness)  # axis-aligned: crisp without anti-aliasing
            label = f"{track_id}"
            if int(tracks.class_id[i]) in self.names:
                label += f" {self.names[int(tracks.class_id[i])]}"
            self._draw_label(canvas, label, (x1, y1), color, thickness)
        return canvas

    @staticmethod
    def _draw_label(canvas: np.ndarray, label: str, corner: tuple[int, int], color: tuple, thickness: int) -> None:
        """The label on a filled tag above the box's top-left `corner`, or just below the box top when there is no
        room above; shifted left or down as needed so that all of it lies inside the frame."""
        scale = 0.5 * thickness
        (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
        height, width = canvas.shape[:2]
        x = min(max(corner[0], 0), max(width - tw - 2, 0))
        top = corner[1] - th - 4 if corner[1] - th - 4 >= 0 else max(corner[1], 0)
        top = min(top, max(height - th - 4, 0))
        cv2.rectangle(canvas, (x, top), (x + tw + 2, top + th + 4), color, -1)
        cv2.putText(canvas, label, (x + 1, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness,
                    cv2.LINE_AA)

    @staticmethod
    def _draw_trail(canvas: np.ndarray, points: np.ndarray, color: tuple, thickness: int) -> None:
        """The (N, 2) centres, oldest first, as a path that grows darker and thinner into the past, in up to
        `TRAIL_BANDS` bands of one shade each (a call per band, not one per segment)."""
        ends = _spread(len(points), TRAIL_BANDS + 1)
        for start, end in itertools.pairwise(ends):
            fade = end / len(points)  # of the band's newest segment
            shade = tuple(int(c * (0.3 + 0.7 * fade)) for c in color)
            cv2.polylines(canvas, [points[start:end + 1]], False, shade, max(1, round(thickness * 2 * fade)),
                          cv2.LINE_AA)

    @staticmethod
    def _draw_forecast(canvas: np.ndarray, future: np.ndarray, start: tuple[int, int], color: tuple, thickness: int):
        """A solid path (twice the box line) from `start` through the forecast centres, a dot at the last centre,
        and the last forecast box outlined thinly, showing where and how large the object is expected to be."""
        if not len(future):
            return
        centres = np.round((future[:, :2] + future[:, 2:]) / 2).astype(np.int32)
        # Through at most PATH_POINTS of the centres, the last included: a thick smooth line is costly per segment.
        path = np.vstack([np.int32(start), centres[list(_spread(len(centres), PATH_POINTS))]])
        cv2.polylines(canvas, [path], False, color, 2 * thickness, cv2.LINE_AA)
        cv2.circle(canvas, tuple(centres[-1].tolist()), 2 * thickness + 2, color, -1, cv2.LINE_AA)
        x1, y1, x2, y2 = np.round(future[-1]).astype(int).tolist()
        cv2.rectangle(canvas, (x1, y1), (x2, y2), color, 1)

    @staticmethod
    def _draw_uncertainty(canvas: np.ndarray, future: np.ndarray, std: np.ndarray, color: tuple) -> None:
        """Thin ellipses, one standard deviation of the box centre wide (the corners' deviations averaged: an upper
        bound), around the forecast centre at a third, two thirds and all of the horizon."""
        if not len(future):
            return
        steps = sorted({max(round(len(future) * k / 3) - 1, 0) for k in (1, 2, 3)})
        centres = np.round((future[steps, :2] + future[steps, 2:]) / 2).astype(int).tolist()
        axes = np.clip(np.round((std[steps, :2] + std[steps, 2:]) / 2), 1, 4 * max(canvas.shape[:2]))
        for centre, (a, b) in zip(centres, axes.astype(int).tolist()):
            cv2.ellipse(canvas, tuple(centre), (a, b), 0, 0, 360, color, 1, cv2.LINE_AA)
