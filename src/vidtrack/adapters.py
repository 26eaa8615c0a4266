"""Conversions between vidtrack's containers and those of Ultralytics and supervision, so that vidtrack slots into
code written for either.

Plain functions rather than methods: `Detections` and `Tracks` stay free of third-party types, and supervision is
imported only when `to_supervision` runs.

>>> from vidtrack.adapters import from_ultralytics, to_supervision   # doctest: +SKIP
>>> detections = from_ultralytics(YOLO("yolov8n.pt")(image)[0])       # an Ultralytics Results, or its .boxes
>>> tracks = tracker.update(detections, image=image)
>>> annotated = sv.BoxAnnotator().annotate(image.copy(), to_supervision(tracks, names=model.names))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from vidtrack.structures import Detections, Tracks

if TYPE_CHECKING:
    import supervision as sv


def from_ultralytics(results: Any) -> Detections:
    """The boxes of one Ultralytics `Results` (or of its `.boxes`) as `Detections`, without features.

    Example:
        >>> detections = from_ultralytics(model(image)[0])   # doctest: +SKIP
    """
    if isinstance(results, list):
        raise TypeError(f"results: pass one Ultralytics Results (for example model(image)[0]), "
                         f"not a list of {len(results)}")
    boxes = getattr(results, "boxes", results)
    if boxes is None or not all(hasattr(boxes, name) for name in ("xyxy", "conf", "cls")):
        raise TypeError(f"results: expected an Ultralytics Results with boxes, or its .boxes; got "
                         f"{type(results).__name__}{' without boxes' if boxes is None else ''}")
    boxes = boxes.cpu().numpy()
    return Detections(boxes.xyxy, boxes.conf, boxes.cls)


def from_supervision(detections: sv.Detections) -> Detections:
    """A `supervision.Detections` as vidtrack `Detections`, without features; it must carry `confidence` and
    `class_id`, which the tracker needs.

    Example:
        >>> detections = from_supervision(sv.Detections.from_ultralytics(model(image)[0]))   # doctest: +SKIP
    """
    for name in ("xyxy", "confidence", "class_id"):
        if getattr(detections, name, None) is None:
            raise ValueError(f"detections: a supervision.Detections with {name} is needed, got "
                             f"{type(detections).__name__} without it")
    return Detections(detections.xyxy, detections.confidence, detections.class_id)


def to_supervision(items: Detections | Tracks, names: Mapping[int, str] | Sequence[str] | None = None
                   ) -> sv.Detections:
    """`Detections` or `Tracks` as a `supervision.Detections`, for its annotators, zones and counters.

    With `names` (the detector's, e.g. an Ultralytics model's `.names`), `data["class_name"]` holds each row's class
    name, as supervision's own `from_ultralytics` gives it (an id missing from `names` is written as a number).
    Tracks give `tracker_id`, and in `data` each track's `det_index` and, when forecast, its `forecast` boxes
    (N, H, 4) and, where the forecaster has them (the LSTM and Kalman ones, not constant velocity), their standard
    deviations `forecast_std` (N, H, 4, pixels): rows stay aligned through supervision's indexing.

    Example:
        >>> sv_tracks = to_supervision(tracks, names=model.names)   # doctest: +SKIP
        >>> sv_tracks.tracker_id, sv_tracks.data["forecast"].shape   # (N,), (N, H, 4)
        >>> sv_tracks.data["forecast_std"][:, -1], sv_tracks.data["class_name"]   # 1.5 s ahead; "person", ...
    """
    import supervision as sv

    if not isinstance(items, (Detections, Tracks)):
        raise TypeError(f"items: expected vidtrack Detections or Tracks, got {type(items).__name__}")
    data: dict[str, np.ndarray] = {}
    if names is not None:
        lookup = dict(enumerate(names)) if isinstance(names, Sequence) and not isinstance(names, str) else names
        data["class_name"] = np.array([lookup.get(k, str(k)) for k in items.class_id.tolist()], dtype=str)
    if isinstance(items, Detections):
        return sv.Detections(xyxy=items.xyxy, confidence=items.score, class_id=items.class_id, data=data)
    data["det_index"] = items.det_index
    if items.forecast is not None:
        data["forecast"] = items.forecast
    if items.forecast_std is not None:
        data["forecast_std"] = items.forecast_std
    return sv.Detections(xyxy=items.xyxy, confidence=items.score, class_id=items.class_id,
                         tracker_id=items.track_id, data=data)
