"""The detector with the real COCO YOLOv8n weights on real MOT17 frames."""

import os

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
PETS09 = SHARED / "PETS09-S2L1"


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


@pytest.fixture(scope="module")
def pets09_pairs():
    """Pairs of PETS09-S2L1 frames 1 s apart (7 fps) in the second half: the shared clip with identities."""
    capture = cv2.VideoCapture(str(PETS09 / "video" / "vtest.avi"))
    frames = [capture.read()[1] for _ in range(708)]
    capture.release()
    return [(a, frames[a], a + 7, frames[a + 7]) for a in (550, 600, 650, 700)]


def _distances(detector, pairs):
    """Appearance distances of each person to themself and to the others, over the pairs of frames."""
    gt = read_ground_truth(PETS09 / "gt" / "gt.txt")
    same, different = [], []
    for a, frame_a, b, frame_b in pairs:
        looks = []
        for index, frame in ((a, frame_a), (b, frame_b)):
            [detections] = detector([frame])
            truth = gt[(gt.frame == index + 1) & gt.consider]
            matches, _, _ = linear_assignment(1 - box_iou(truth.xyxy, detections.xyxy), 0.5)
            looks.append({int(truth.track_id[i]): detections.features[j, APPEARANCE] for i, j in matches})
        ids = sorted(set(looks[0]) & set(looks[1]))
        distance = appearance_cost(np.stack([looks[0][i] for i in ids]), np.stack([looks[1][i] for i in ids]))
        same.append(np.diag(distance))
        different.append(distance[~np.eye(len(ids), dtype=bool)])
    return np.concatenate(same), np.concatenate(different)


def test_colour_appearance_separates_people(detector, pets09_pairs):
    """With the default colour appearance, most people are within the tracker's `appearance_thresh` of themselves 1 s
    later and almost no two different people are (measured: 17 of 24 and 2 of 128); the detector's pooled feature
    maps put most different people closer than the least similar view of one person."""
    same, different = _distances(detector, pets09_pairs)
    threshold = TrackerConfig().appearance_thresh
    assert len(same) >= 20
    assert (same < threshold).mean() > 0.6 and (different < threshold).mean() < 0.05
    neck_same, neck_different = _distances(Detector("yolov8n.pt", classes=["person"], device="cpu",
                                                    appearance="neck"), pets09_pairs)
    assert (neck_different < neck_same.max()).mean() > 0.5 > (different < same.max()).mean()


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


def test_onnx_backend_keeps_colour_appearance(detector, frames):
    """The colour appearance needs only the frame, so an exported model gives the PyTorch model's vectors; the neck
    feature maps are not exposed by the export, so asking for them leaves the appearance out, with a warning."""
    pytest.importorskip("onnxruntime")
    [torch_detections] = detector(frames[:1])
    [onnx_detections] = Detector("yolov8n.onnx", classes=["person"], device="cpu")(frames[:1])
    matches, _, _ = linear_assignment(1 - box_iou(torch_detections.xyxy, onnx_detections.xyxy), 0.1)
    assert len(matches) >= 0.9 * len(torch_detections)
    a, b = torch_detections.features[matches[:, 0]], onnx_detections.features[matches[:, 1]]
    assert np.median((a[:, APPEARANCE] * b[:, APPEARANCE]).sum(axis=1)) > 0.99
    assert (b[:, HAS_APPEARANCE] == 1).all()
    neck = Detector("yolov8n.onnx", classes=["person"], device="cpu", appearance="neck")
    [detections] = neck(frames[:1])
    assert not neck.has_appearance and len(detections) > 0
    assert (detections.features[:, APPEARANCE] == 0).all() and (detections.features[:, HAS_APPEARANCE] == 0).all()


def test_neck_appearance_layout(frames):
    detector = Detector("yolov8n.pt", classes=["person"], device="cpu", appearance="neck")
    [detections] = detector(frames[:1])
    np.testing.assert_allclose(np.linalg.norm(detections.features[:, APPEARANCE], axis=1), 1.0, rtol=1e-4)
    assert (detections.features[:, 256:448] != 0).any()  # all three levels, beyond the colour part's 256 values


def test_class_names_with_a_space():
    detector = Detector("yolov8n.pt", classes=["cell phone", "person car", "3"], device="cpu")
    assert detector.class_ids == [67, 0, 2, 3]


def test_unknown_class_is_refused():
    with pytest.raises(ConfigError, match="'unicorn' is not a class"):
        Detector("yolov8n.pt", classes=["unicorn"], device="cpu")


def test_missing_weights_file(tmp_path):
    with pytest.raises(WeightsError, match="no such weights file"):
        Detector(str(tmp_path / "nothing.pt"), device="cpu")


def test_corrupt_weights_file(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match=r"bad\.pt: not a readable PyTorch checkpoint"):
        Detector(str(bad), device="cpu")


class _Payload:
    """What a crafted checkpoint holds: unpickling it calls a function of the attacker's choice."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def test_a_checkpoint_that_would_run_code_is_refused_before_it_runs(tmp_path):
    evil, marker = tmp_path / "evil.pt", tmp_path / "PWNED"
    torch.save({"model": _Payload(marker)}, evil)
    with pytest.raises(WeightsError, match=r"refused: unpickling this file would construct \w+\.mkdir"):
        Detector(str(evil), device="cpu")
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [4, 5])
def test_a_plain_pickle_the_safe_loader_cannot_read_is_refused_too(tmp_path, protocol):
    """torch's safe unpickler stops at protocol 4's first opcode, before any class is named; Ultralytics' full
    unpickler would then read the file and run it."""
    import pickle

    evil, marker = tmp_path / "evil.pt", tmp_path / "PWNED"
    evil.write_bytes(pickle.dumps(_Payload(marker), protocol=protocol))
    with pytest.raises(WeightsError, match=r"refused: unpickling this file uses pickle instructions the safe loader"):
        Detector(str(evil), device="cpu")
    assert not marker.exists()


def test_ordinary_ultralytics_checkpoints_still_load(tmp_path):
    """A checkpoint saved by Ultralytics itself (`YOLO.save`) passes the check, as the rebuilt COCO weights do."""
    from ultralytics import YOLO

    saved = tmp_path / "saved.pt"
    YOLO(resolve_weights("yolov8n.pt"), task="detect").save(saved)
    assert Detector(str(saved), classes=["person"], device="cpu").names[0] == "person"
