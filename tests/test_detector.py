"""The detector with the real COCO YOLOv8n weights on real MOT17 frames."""

import cv2
import numpy as np
import pytest
import torch

from conftest import SHARED
from vidtrack.config import TrackerConfig
from vidtrack.detect.detector import Detector
from vidtrack.detect.features import APPEARANCE, GEOMETRY, HAS_APPEARANCE
from vidtrack.detect.weights import resolve_weights
from vidtrack.errors import ConfigError, WeightsError
from vidtrack.io.motchallenge import read_ground_truth
from vidtrack.track.matching import appearance_cost, box_iou, linear_assignment

SEQ = SHARED / "MOT17" / "train" / "MOT17-02-FRCNN"


@pytest.fixture(scope="module")
def detector():
    return Detector("yolov8n.pt", classes=["person"], device="cpu")


@pytest.fixture(scope="module")
def frames():
    return [cv2.imread(str(SEQ / "img1" / f"{i:06d}.jpg")) for i in range(1, 5)]


def test_people_are_found(detector, frames):
    """Recall of visible pedestrians at IoU 0.5 over the four shared frames: measured 28/43 = 0.65 at the defaults."""
    gt = read_ground_truth(SEQ / "gt" / "gt.txt")
    found = total = 0
    for number, detections in enumerate(detector(frames), start=1):
        truth = gt[(gt.frame == number) & gt.consider & (gt.visibility >= 0.5)]
        matches, _, _ = linear_assignment(1 - box_iou(truth.xyxy, detections.xyxy), 0.5)
        found, total = found + len(matches), total + len(truth)
        assert set(detections.class_id.tolist()) <= {0}
    assert total == 43
    assert found / total >= 0.6


def test_appearance_threshold_separates_people(detector, frames):
    """The tracker's default `appearance_thresh` lies between the appearance distance of one person to themself three
    frames later and that of two different people (measured: 7 people, same 0.009-0.014, different 0.033 or more)."""
    gt = read_ground_truth(SEQ / "gt" / "gt.txt")
    looks = []
    for number in (1, 4):
        [detections] = detector([frames[number - 1]])
        truth = gt[(gt.frame == number) & gt.consider & (gt.visibility > 0.5)]
        matches, _, _ = linear_assignment(1 - box_iou(truth.xyxy, detections.xyxy), 0.5)
        looks.append({int(truth.track_id[i]): detections.features[j, APPEARANCE] for i, j in matches})
    ids = sorted(set(looks[0]) & set(looks[1]))
    assert len(ids) >= 6
    distance = appearance_cost(np.stack([looks[0][i] for i in ids]), np.stack([looks[1][i] for i in ids]))
    same, different = np.diag(distance), distance[~np.eye(len(ids), dtype=bool)]
    assert same.max() < TrackerConfig().appearance_thresh < different.min()


def test_features_layout(detector, frames):
    [detections] = detector(frames[:1])
    f = detections.features
    assert f.shape == (len(detections), 512) and len(detections) > 5
    np.testing.assert_allclose(np.linalg.norm(f[:, APPEARANCE], axis=1), 1.0, rtol=1e-4)
    assert (f[:, HAS_APPEARANCE] == 1).all()
    cx = (detections.xyxy[:, 0] + detections.xyxy[:, 2]) / 2 / 1920
    np.testing.assert_allclose(f[:, GEOMETRY.start], cx, rtol=1e-5)
    # Different people look different: appearance vectors are far from identical.
    similarity = f[:, APPEARANCE] @ f[:, APPEARANCE].T
    assert similarity[~np.eye(len(f), dtype=bool)].min() < 0.95


def test_batch_equals_single(detector, frames):
    batched = detector(frames[:2])
    single = [detector([frame])[0] for frame in frames[:2]]
    for a, b in zip(batched, single):
        np.testing.assert_allclose(a.xyxy, b.xyxy, atol=1e-2)
        np.testing.assert_allclose(a.features, b.features, atol=1e-4)


def test_no_detections_on_blank_frame(detector):
    [detections] = detector([np.zeros((480, 640, 3), dtype=np.uint8)])
    assert len(detections) == 0 and detections.features.shape == (0, 512)


def test_rebuilt_checkpoint_matches_onnx_export():
    """The PyTorch checkpoint rebuilt from the ONNX export computes the same raw outputs as the export."""
    ort = pytest.importorskip("onnxruntime")
    from ultralytics.nn.tasks import load_checkpoint

    weights = resolve_weights("yolov8n.pt")
    model, _ = load_checkpoint(weights, device="cpu")
    x = torch.rand(1, 3, 640, 640)
    with torch.no_grad():
        expected = model.float().eval()(x)[0].numpy()
    session = ort.InferenceSession(weights.replace(".pt", ".onnx"), providers=["CPUExecutionProvider"])
    actual = session.run(None, {"images": x.numpy()})[0]
    assert np.abs(actual - expected).max() < 1e-2 * np.abs(expected).max()


def test_onnx_backend_has_geometry_only(frames):
    pytest.importorskip("onnxruntime")
    onnx_detector = Detector("yolov8n.onnx", classes=["person"], device="cpu")
    [detections] = onnx_detector(frames[:1])
    assert not onnx_detector.has_appearance and len(detections) > 0
    assert (detections.features[:, APPEARANCE] == 0).all()
    assert (detections.features[:, GEOMETRY.start:GEOMETRY.start + 4] > 0).all()


def test_unknown_class_is_refused():
    with pytest.raises(ConfigError, match="'unicorn' is not a class"):
        Detector("yolov8n.pt", classes=["unicorn"], device="cpu")


def test_missing_weights_file(tmp_path):
    with pytest.raises(WeightsError, match="no such weights file"):
        Detector(str(tmp_path / "nothing.pt"), device="cpu")


def test_corrupt_weights_file(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="could not load"):
        Detector(str(bad), device="cpu")
