"""Tests of the stage containers `Detections` and `Tracks`: validation, row selection, empty() and xywh."""

from __future__ import annotations

import numpy as np
import pytest

from vidtrack.structures import FEATURE_DIM, Detections, Tracks

BOXES = np.array([[0, 0, 10, 20], [5, 5, 15, 25], [100, 50, 130, 110]], dtype=np.float64)
SCORES = np.array([0.9, 0.3, 0.6])
CLASSES = np.array([0, 2, 7])


def make_detections(with_features: bool = True) -> Detections:
    features = None
    if with_features:
        features = np.arange(3 * FEATURE_DIM, dtype=np.float32).reshape(3, FEATURE_DIM)
    return Detections(BOXES, SCORES, CLASSES, features)


def make_tracks(forecast: bool = True) -> Tracks:
    future = np.arange(3 * 5 * 4, dtype=np.float32).reshape(3, 5, 4) if forecast else None
    return Tracks(
        track_id=np.array([4, 9, 2]), xyxy=BOXES, score=SCORES, class_id=CLASSES, det_index=np.array([2, 0, 1]),
        forecast=future, forecast_kind="constant_velocity" if forecast else None,
    )


# --- Detections ---


def test_detections_normalises_dtypes() -> None:
    dets = make_detections()
    assert dets.xyxy.dtype == np.float32 and dets.xyxy.shape == (3, 4)
    assert dets.score.dtype == np.float32 and dets.score.shape == (3,)
    assert dets.class_id.dtype == np.int64 and dets.class_id.tolist() == [0, 2, 7]
    assert dets.features.dtype == np.float32 and dets.features.shape == (3, FEATURE_DIM)
    assert len(dets) == 3


def test_detections_single_box_as_flat_array() -> None:
    dets = Detections(np.array([1.0, 2, 3, 4]), 0.5, 1)
    assert dets.xyxy.shape == (1, 4) and dets.score.tolist() == [0.5] and dets.class_id.tolist() == [1]


@pytest.mark.parametrize(
    ("xyxy", "score", "class_id", "features", "match"),
    [
        (np.zeros((3, 4)), np.zeros(2), np.zeros(3), None, "score must have shape"),
        (np.zeros((3, 4)), np.zeros(3), np.zeros(4), None, "class_id must have shape"),
        (np.zeros((3, 4)), np.zeros(3), np.zeros(3), np.zeros((3, 511)), "features must have shape"),
        (np.zeros((3, 4)), np.zeros(3), np.zeros(3), np.zeros((2, FEATURE_DIM)), "features must have shape"),
        (np.zeros((3, 4)), np.zeros((3, 2)), np.zeros(3), None, "score must have shape"),
        (np.zeros((2, 5)), np.zeros(2), np.zeros(2), None, "shape"),  # 10 values are not whole boxes
    ],
)
def test_detections_wrong_shapes(xyxy, score, class_id, features, match) -> None:
    with pytest.raises(ValueError, match=match):
        Detections(xyxy, score, class_id, features)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_detections_non_finite_boxes(bad: float) -> None:
    boxes = BOXES.copy()
    boxes[1, 2] = bad
    with pytest.raises(ValueError, match="finite"):
        Detections(boxes, SCORES, CLASSES)


@pytest.mark.parametrize("column", [0, 1])
def test_detections_inverted_boxes(column: int) -> None:
    boxes = BOXES.copy()
    boxes[2, column] = boxes[2, column + 2] + 1  # x1 > x2 or y1 > y2
    with pytest.raises(ValueError, match="x2 >= x1"):
        Detections(boxes, SCORES, CLASSES)


def test_detections_accept_zero_size_boxes() -> None:
    dets = Detections(np.array([[5, 5, 5, 5.0]]), [1.0], [0])
    assert len(dets) == 1


def test_detections_is_frozen() -> None:
    dets = make_detections()
    with pytest.raises(AttributeError):
        dets.score = np.zeros(3)


@pytest.mark.parametrize("with_features", [True, False])
def test_detections_boolean_mask_keeps_rows_aligned(with_features: bool) -> None:
    dets = make_detections(with_features)
    kept = dets[dets.score > 0.5]
    assert len(kept) == 2
    np.testing.assert_array_equal(kept.xyxy, BOXES[[0, 2]].astype(np.float32))
    np.testing.assert_array_equal(kept.score, SCORES[[0, 2]].astype(np.float32))
    assert kept.class_id.tolist() == [0, 7]
    if with_features:
        np.testing.assert_array_equal(kept.features, dets.features[[0, 2]])
    else:
        assert kept.features is None


def test_detections_index_selection_reorders_all_columns() -> None:
    dets = make_detections()
    picked = dets[np.array([2, 0])]
    np.testing.assert_array_equal(picked.xyxy, BOXES[[2, 0]].astype(np.float32))
    assert picked.class_id.tolist() == [7, 0]
    np.testing.assert_array_equal(picked.score, SCORES[[2, 0]].astype(np.float32))
    np.testing.assert_array_equal(picked.features[0], dets.features[2])
    one = dets[1]  # an int keeps a one-row Detections
    assert len(one) == 1 and one.class_id.tolist() == [2] and one.features.shape == (1, FEATURE_DIM)
    sliced = dets[1:]
    assert sliced.class_id.tolist() == [2, 7]
    assert len(dets[dets.score > 10]) == 0


def test_detections_empty() -> None:
    empty = Detections.empty()
    assert len(empty) == 0
    assert empty.xyxy.shape == (0, 4) and empty.score.shape == (0,) and empty.class_id.shape == (0,)
    assert empty.features.shape == (0, FEATURE_DIM)
    assert empty.xywh.shape == (0, 4)
    assert not empty  # an empty frame is falsy through __len__


def test_detections_xywh() -> None:
    dets = make_detections()
    np.testing.assert_array_equal(dets.xywh, [[0, 0, 10, 20], [5, 5, 10, 20], [100, 50, 30, 60]])


# --- Tracks ---


def test_tracks_normalises_dtypes() -> None:
    tracks = make_tracks()
    assert tracks.track_id.dtype == np.int64 and tracks.det_index.dtype == np.int64
    assert tracks.xyxy.dtype == np.float32 and tracks.forecast.dtype == np.float32
    assert tracks.forecast.shape == (3, 5, 4) and len(tracks) == 3


def test_tracks_duplicate_ids() -> None:
    with pytest.raises(ValueError, match="unique"):
        Tracks(np.array([1, 2, 1]), BOXES, SCORES, CLASSES, np.arange(3))


@pytest.mark.parametrize(
    ("column", "value", "match"),
    [
        ("xyxy", np.zeros((2, 4)), "xyxy must have shape"),
        ("score", np.zeros(4), "score must have shape"),
        ("class_id", np.zeros(2), "class_id must have shape"),
        ("det_index", np.zeros(1), "det_index must have shape"),
        ("forecast", np.zeros((2, 5, 4)), "forecast must have shape"),
        ("forecast", np.zeros((3, 5, 2)), "forecast must have shape"),
        ("forecast", np.zeros((3, 20)), "forecast must have shape"),
    ],
)
def test_tracks_wrong_shapes(column: str, value: np.ndarray, match: str) -> None:
    kwargs = {"track_id": [1, 2, 3], "xyxy": BOXES, "score": SCORES, "class_id": CLASSES, "det_index": [0, 1, 2]}
    kwargs[column] = value
    with pytest.raises(ValueError, match=match):
        Tracks(**kwargs)


def test_tracks_boolean_mask_keeps_rows_aligned() -> None:
    tracks = make_tracks()
    kept = tracks[tracks.track_id != 9]
    assert kept.track_id.tolist() == [4, 2]
    assert kept.det_index.tolist() == [2, 1]
    assert kept.class_id.tolist() == [0, 7]
    np.testing.assert_array_equal(kept.xyxy, BOXES[[0, 2]].astype(np.float32))
    np.testing.assert_array_equal(kept.score, SCORES[[0, 2]].astype(np.float32))
    np.testing.assert_array_equal(kept.forecast, tracks.forecast[[0, 2]])
    assert kept.forecast_kind == "constant_velocity"


def test_tracks_index_selection() -> None:
    tracks = make_tracks(forecast=False)
    picked = tracks[np.array([2, 1])]
    assert picked.track_id.tolist() == [2, 9] and picked.det_index.tolist() == [1, 0]
    assert picked.forecast is None
    one = tracks[np.int64(0)]
    assert one.track_id.tolist() == [4] and one.xyxy.shape == (1, 4)


def test_tracks_empty_and_with_forecast() -> None:
    empty = Tracks.empty()
    assert len(empty) == 0 and empty.xyxy.shape == (0, 4) and empty.forecast is None
    with_future = empty.with_forecast(np.zeros((0, 45, 4)), "lstm")
    assert with_future.forecast.shape == (0, 45, 4) and with_future.forecast_kind == "lstm"
    tracks = make_tracks(forecast=False).with_forecast(np.ones((3, 2, 4)), "constant_velocity")
    assert tracks.forecast.shape == (3, 2, 4) and tracks.track_id.tolist() == [4, 9, 2]
    with pytest.raises(ValueError, match="forecast must have shape"):
        make_tracks(forecast=False).with_forecast(np.ones((2, 2, 4)), "constant_velocity")


def test_tracks_xywh() -> None:
    np.testing.assert_array_equal(make_tracks().xywh, [[0, 0, 10, 20], [5, 5, 10, 20], [100, 50, 30, 60]])


@pytest.mark.parametrize("boxes", [np.zeros((2, 2)), np.zeros((1, 8)), np.zeros((2, 2, 4))])
def test_boxes_must_be_rows_of_four(boxes):
    with pytest.raises(ValueError, match=r"xyxy must have shape \(N, 4\)"):
        Detections(boxes, np.zeros(len(boxes)), np.zeros(len(boxes)))


def test_forecast_std_must_match_the_forecast():
    tracks = Tracks([1, 2], np.zeros((2, 4)), [0.9, 0.8], [0, 0], [0, 1])
    forecast = np.zeros((2, 3, 4))
    assert tracks.with_forecast(forecast, "kalman", np.ones((2, 3, 4)))[[1]].forecast_std.shape == (1, 3, 4)
    with pytest.raises(ValueError, match="forecast_std must have the shape of forecast"):
        tracks.with_forecast(forecast, "kalman", np.ones((2, 2, 4)))
