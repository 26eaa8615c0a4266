"""vidtrack's containers to and from Ultralytics' and supervision's, on a real MOT17 frame with the real YOLOv8n."""

import os

import cv2
import numpy as np
import pytest

from conftest import SHARED, shared_data
from vidtrack.adapters import from_supervision, from_ultralytics, to_supervision
from vidtrack.config import TrackerConfig
from vidtrack.detect.weights import resolve_weights
from vidtrack.forecast.kalman import KalmanForecaster
from vidtrack.structures import Detections, Tracks
from vidtrack.track.tracker import Tracker

sv = pytest.importorskip("supervision")
pytestmark = shared_data

IMAGES = SHARED / "MOT17" / "train" / "MOT17-02-FRCNN" / "img1"


@pytest.fixture(scope="module")
def model():
    os.environ.setdefault("YOLO_OFFLINE", "1")
    from ultralytics import YOLO

    return YOLO(resolve_weights("yolov8n.pt"), task="detect")


@pytest.fixture(scope="module")
def frames():
    return [cv2.imread(str(IMAGES / f"{i:06d}.jpg")) for i in range(1, 4)]


@pytest.fixture(scope="module")
def results(model, frames):
    return [model(frame, verbose=False)[0] for frame in frames]


def assert_same(a: Detections, b: Detections) -> None:
    np.testing.assert_allclose(a.xyxy, b.xyxy, atol=1e-4)
    np.testing.assert_allclose(a.score, b.score, atol=1e-6)
    np.testing.assert_array_equal(a.class_id, b.class_id)


def test_from_ultralytics_keeps_boxes_scores_classes(results):
    boxes = results[0].boxes
    detections = from_ultralytics(results[0])
    assert len(detections) == len(boxes) >= 5  # MOT17-02's first frame is a busy street
    np.testing.assert_allclose(detections.xyxy, boxes.xyxy.numpy())
    np.testing.assert_allclose(detections.score, boxes.conf.numpy())
    np.testing.assert_array_equal(detections.class_id, boxes.cls.numpy().astype(int))
    assert {0, 26} <= set(detections.class_id.tolist())  # people and handbags: classes other than 0 survive
    assert detections.features is None
    assert_same(from_ultralytics(boxes), detections)


def test_round_trips_through_supervision(results):
    detections = from_ultralytics(results[0])
    assert_same(from_supervision(sv.Detections.from_ultralytics(results[0])), detections)
    assert_same(from_supervision(to_supervision(detections)), detections)


def test_class_names_as_supervision_gives_them(model, results):
    theirs = sv.Detections.from_ultralytics(results[0])
    ours = to_supervision(from_ultralytics(results[0]), names=model.names)
    np.testing.assert_array_equal(ours.data["class_name"], theirs.data["class_name"])
    assert {"person", "handbag"} <= set(ours.data["class_name"].tolist())
    listed = to_supervision(from_ultralytics(results[0]), names=["person"])  # a list; ids beyond it as numbers
    assert set(listed.data["class_name"].tolist()) >= {"person", "26"}
    assert "class_name" not in to_supervision(from_ultralytics(results[0])).data


def test_tracks_to_supervision_keep_ids_forecasts_and_their_uncertainty(model, results, frames):
    height, width = frames[0].shape[:2]
    tracker = Tracker(TrackerConfig(), fps=30.0, image_size=(width, height))
    forecaster = KalmanForecaster(horizon=5)
    for index, result in enumerate(results):
        tracks = tracker.update(from_ultralytics(result))
        future, std = forecaster.step_with_std(index, tracks.track_id, tracks.xyxy,
                                               tracker.last_features(tracks.track_id))
        tracks = tracks.with_forecast(future, forecaster.kind, std)
    assert len(tracks) >= 5

    converted = to_supervision(tracks, names=model.names)
    assert set(converted.data) == {"class_name", "det_index", "forecast", "forecast_std"}
    assert converted.data["forecast_std"].shape == (len(tracks), 5, 4)
    assert (np.diff(converted.data["forecast_std"], axis=1) > 0).all()  # the further ahead, the less sure
    np.testing.assert_array_equal(converted.data["class_name"], [model.names[k] for k in tracks.class_id.tolist()])
    np.testing.assert_array_equal(converted.tracker_id, tracks.track_id)
    np.testing.assert_array_equal(converted.xyxy, tracks.xyxy)
    np.testing.assert_array_equal(converted.confidence, tracks.score)
    np.testing.assert_array_equal(converted.class_id, tracks.class_id)
    assert converted.data["forecast"].shape == (len(tracks), 5, 4)
    # supervision's indexing keeps each forecast with its track
    confident = converted[converted.confidence > 0.6]
    mask = tracks.score > 0.6
    assert 0 < mask.sum() < len(tracks)
    np.testing.assert_array_equal(confident.tracker_id, tracks.track_id[mask])
    np.testing.assert_array_equal(confident.data["forecast"], tracks.forecast[mask])
    np.testing.assert_array_equal(confident.data["det_index"], tracks.det_index[mask])
    np.testing.assert_array_equal(confident.data["forecast_std"], tracks.forecast_std[mask])
    no_std = to_supervision(tracks.with_forecast(tracks.forecast, "constant_velocity"))
    assert set(no_std.data) == {"det_index", "forecast"}  # no uncertainty where the forecaster gives none


def test_empty_tracks_convert():
    converted = to_supervision(Tracks.empty())
    assert len(converted) == 0
    assert converted.tracker_id.shape == (0,)


def test_bad_input_names_the_argument(results):
    with pytest.raises(TypeError, match="results: pass one Ultralytics Results"):
        from_ultralytics(results[:1])
    with pytest.raises(TypeError, match="results: expected an Ultralytics Results"):
        from_ultralytics(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"detections: .* with confidence"):
        from_supervision(sv.Detections(xyxy=np.array([[0, 0, 10, 10.0]])))
    with pytest.raises(TypeError, match="items: expected vidtrack Detections or Tracks"):
        to_supervision(sv.Detections.empty())
