"""The containers that cross stage boundaries: `Detections` (detect → track) and `Tracks` (track → forecast → outputs).

Both hold named, row-aligned numpy arrays, are validated on construction and support mask or index
selection, so that stages never pass positional ``(N, 6)`` arrays around.

>>> dets = Detections(xyxy=np.array([[0, 0, 10, 20.0]]), score=np.array([0.9]), class_id=np.array([0]))
>>> len(dets[dets.score > 0.5])
1
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

FEATURE_DIM = 512


def _boxes(xyxy: np.ndarray) -> np.ndarray:
    boxes = np.asarray(xyxy, dtype=np.float32)
    if boxes.size == 0:
        return boxes.reshape(0, 4)
    if boxes.shape == (4,):  # a single box
        return boxes[None]
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"xyxy must have shape (N, 4), got {boxes.shape}")
    return boxes


def _check_rows(name: str, array: np.ndarray, n: int, shape_tail: tuple[int, ...]) -> None:
    if array.shape[:1] != (n,) or array.shape[1:] != shape_tail:
        raise ValueError(f"{name} must have shape ({n}, {', '.join(map(str, shape_tail))}), got {array.shape}")


@dataclass(frozen=True, slots=True)
class Detections:
    """Detections of one frame.

    Attributes:
        xyxy: (N, 4) float32 boxes, x1 y1 x2 y2 in pixels of the original frame.
        score: (N,) float32 confidences.
        class_id: (N,) int64 class indices of the detector.
        features: (N, 512) float32 feature vectors (layout in `vidtrack.detect.features`), or None.
    """

    xyxy: np.ndarray
    score: np.ndarray
    class_id: np.ndarray
    features: np.ndarray | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "xyxy", _boxes(self.xyxy))
        n = len(self.xyxy)
        object.__setattr__(self, "score", np.asarray(self.score, dtype=np.float32).reshape(-1))
        object.__setattr__(self, "class_id", np.asarray(self.class_id, dtype=np.int64).reshape(-1))
        _check_rows("score", self.score, n, ())
        _check_rows("class_id", self.class_id, n, ())
        if self.features is not None:
            object.__setattr__(self, "features", np.asarray(self.features, dtype=np.float32))
            _check_rows("features", self.features, n, (FEATURE_DIM,))
        if not np.isfinite(self.xyxy).all():
            raise ValueError("detection boxes must be finite (found NaN or inf)")
        if (self.xyxy[:, 2:] < self.xyxy[:, :2]).any():
            raise ValueError("detection boxes must have x2 >= x1 and y2 >= y1")

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4)), np.zeros(0), np.zeros(0), np.zeros((0, FEATURE_DIM)))

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: np.ndarray | slice | list[int]) -> Detections:
        """Select rows with a boolean mask, an index array or a slice."""
        if isinstance(index, (int, np.integer)):
            index = [index]
        return Detections(
            self.xyxy[index],
            self.score[index],
            self.class_id[index],
            None if self.features is None else self.features[index],
        )

    @property
    def xywh(self) -> np.ndarray:
        """(N, 4) boxes as left, top, width, height (the MOTChallenge convention)."""
        return np.concatenate([self.xyxy[:, :2], self.xyxy[:, 2:] - self.xyxy[:, :2]], axis=1)


@dataclass(frozen=True, slots=True)
class Tracks:
    """Tracks reported for one frame.

    Attributes:
        track_id: (N,) int64 ids, stable over time, starting at 1.
        xyxy: (N, 4) float32 boxes in pixels (the matched detection's box).
        score: (N,) float32 score of the matched detection.
        class_id: (N,) int64 class of the track.
        det_index: (N,) int64 row of the detection each track was matched to in this frame's `Detections`.
        forecast: (N, H, 4) float32 future boxes x1 y1 x2 y2 for the next H frames, or None.
        forecast_kind: which forecaster produced `forecast`, for example "constant_velocity" or "lstm".
        forecast_std: (N, H, 4) float32 standard deviations of the forecast coordinates in pixels, or None where the
            forecaster gives none (constant velocity).
    """

    track_id: np.ndarray
    xyxy: np.ndarray
    score: np.ndarray
    class_id: np.ndarray
    det_index: np.ndarray
    forecast: np.ndarray | None = None
    forecast_kind: str | None = field(default=None, compare=False)
    forecast_std: np.ndarray | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "track_id", np.asarray(self.track_id, dtype=np.int64).reshape(-1))
        n = len(self.track_id)
        object.__setattr__(self, "xyxy", _boxes(self.xyxy))
        object.__setattr__(self, "score", np.asarray(self.score, dtype=np.float32).reshape(-1))
        object.__setattr__(self, "class_id", np.asarray(self.class_id, dtype=np.int64).reshape(-1))
        object.__setattr__(self, "det_index", np.asarray(self.det_index, dtype=np.int64).reshape(-1))
        for f in ("xyxy", "score", "class_id", "det_index"):
            array = getattr(self, f)
            _check_rows(f, array, n, array.shape[1:])
        if len(np.unique(self.track_id)) != n:
            raise ValueError("track ids must be unique within a frame")
        if self.forecast is not None:
            object.__setattr__(self, "forecast", np.asarray(self.forecast, dtype=np.float32))
            if self.forecast.ndim != 3 or self.forecast.shape[0] != n or self.forecast.shape[2] != 4:
                raise ValueError(f"forecast must have shape ({n}, H, 4), got {self.forecast.shape}")
        if self.forecast_std is not None:
            object.__setattr__(self, "forecast_std", np.asarray(self.forecast_std, dtype=np.float32))
            if self.forecast is None or self.forecast_std.shape != self.forecast.shape:
                expected = None if self.forecast is None else self.forecast.shape
                raise ValueError(f"forecast_std must have the shape of forecast, {expected}, got "
                                 f"{self.forecast_std.shape}")

    @classmethod
    def empty(cls) -> Tracks:
        return cls(np.zeros(0), np.zeros((0, 4)), np.zeros(0), np.zeros(0), np.zeros(0))

    def __len__(self) -> int:
        return len(self.track_id)

    def __getitem__(self, index: np.ndarray | slice | list[int]) -> Tracks:
        """Select rows with a boolean mask, an index array or a slice."""
        if isinstance(index, (int, np.integer)):
            index = [index]
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return Tracks(**{k: v[index] if isinstance(v, np.ndarray) else v for k, v in values.items()})

    def with_forecast(self, forecast: np.ndarray, kind: str, std: np.ndarray | None = None) -> Tracks:
        """These tracks with `forecast` boxes (N, H, 4) made by `kind`, and their standard deviations `std`."""
        return Tracks(self.track_id, self.xyxy, self.score, self.class_id, self.det_index, forecast, kind, std)

    @property
    def xywh(self) -> np.ndarray:
        """(N, 4) boxes as left, top, width, height (the MOTChallenge convention)."""
        return np.concatenate([self.xyxy[:, :2], self.xyxy[:, 2:] - self.xyxy[:, :2]], axis=1)
