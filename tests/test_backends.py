"""Detector backends and exports on real frames: ONNX Runtime and OpenVINO against PyTorch, int8 against fp32 on
labelled frames, and the forecaster's exported step against PyTorch on real tracks."""

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from conftest import SHARED, shared_data
from vidtrack.cli import main
from vidtrack.config import load_config
from vidtrack.detect.detector import Detector
from vidtrack.detect.export import export_detector
from vidtrack.detect.features import APPEARANCE, HAS_APPEARANCE
from vidtrack.errors import ConfigError, InputError
from vidtrack.evaluation.detection import labelled_frames, recall
from vidtrack.pipeline import Pipeline
from vidtrack.track.matching import box_iou, linear_assignment

pytest.importorskip("onnxruntime")
pytest.importorskip("openvino")
pytestmark = shared_data

PETS09 = SHARED / "PETS09-S2L1"
MOT17_02 = SHARED / "MOT17" / "train" / "MOT17-02-FRCNN"
VIDEO = PETS09 / "video" / "vtest.avi"


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    folder = tmp_path_factory.mktemp("exports")
    return {fmt: export_detector("yolov8n.pt", fmt, out=folder / name)[0]
            for fmt, name in (("onnx", "yolov8n.onnx"), ("openvino", "yolov8n_openvino_model"))}


@pytest.fixture(scope="module")
def frames():
    capture = cv2.VideoCapture(str(VIDEO))
    return [capture.read()[1] for _ in range(3)]


@pytest.fixture(scope="module")
def reference(frames):
    return Detector("yolov8n.pt", classes=["person"], device="cpu", appearance="neck")(frames)


@pytest.mark.parametrize("fmt", ["onnx", "openvino"])
def test_export_gives_the_torch_boxes_and_features(exports, frames, reference, fmt):
    """Every backend finds the same people within 1 px, with neck features at cosine ≥ 0.99. OpenVINO computes in
    bf16 on CPUs that have it, so a box scored near the 0.1 threshold may fall either side: all boxes scored 0.3 or
    more must be found."""
    detector = Detector(str(exports[fmt]), classes=["person"], device="cpu", appearance="neck")
    assert detector.backend.name == {"onnx": "onnxruntime", "openvino": "openvino"}[fmt]
    assert detector.backend.has_maps and detector.backend.dynamic and detector.names[0] == "person"
    for expected, found in zip(reference, detector(frames)):
        matches, unmatched, extra = linear_assignment(1 - box_iou(expected.xyxy, found.xyxy), 0.5)
        assert len(expected) >= 3 and (expected.score[unmatched] < 0.3).all() and (found.score[extra] < 0.3).all()
        a, b = expected[matches[:, 0]], found[matches[:, 1]]
        assert np.abs(a.xyxy - b.xyxy).max() < 1.0
        assert (b.features[:, HAS_APPEARANCE] == 1).all()
        assert (a.features[:, APPEARANCE] * b.features[:, APPEARANCE]).sum(axis=1).min() >= 0.99


def test_ultralytics_own_openvino_export_runs_with_colour_appearance(tmp_path, frames, reference, caplog):
    """An export made by Ultralytics (static 640x640, no names on its outputs, no feature maps) runs too: colour
    appearance as usual, and neck appearance falls back to none with a warning."""
    from vidtrack.detect.weights import resolve_weights

    pt = tmp_path / "yolov8n.pt"
    pt.write_bytes(Path(resolve_weights("yolov8n.pt")).read_bytes())
    # In another process: Ultralytics' export goes through OpenVINO's converter, which resets the root logger.
    subprocess.run([sys.executable, "-c", f"from ultralytics import YOLO; YOLO({str(pt)!r}).export(format='openvino')"],
                   check=True, capture_output=True, timeout=300, env=os.environ | {"YOLO_OFFLINE": "1"})
    folder = str(tmp_path / "yolov8n_openvino_model")
    detector = Detector(folder, classes=["person"], device="cpu")
    assert detector.backend.name == "openvino" and detector.square and not detector.backend.has_maps
    [found] = detector(frames[:1])
    matches, _, _ = linear_assignment(1 - box_iou(reference[0].xyxy, found.xyxy), 0.5)
    assert len(matches) >= 0.8 * len(reference[0]) and (found.features[:, HAS_APPEARANCE] == 1).all()
    neck = Detector(folder, classes=["person"], device="cpu", appearance="neck")
    assert not neck.has_appearance and "no feature-map outputs" in caplog.text


def test_backend_follows_the_file_and_can_be_forced(exports):
    assert Detector(str(exports["onnx"]), device="cpu", backend="openvino").backend.name == "openvino"
    with pytest.raises(ConfigError, match=r"onnxruntime runs \.onnx files"):
        Detector("yolov8n.pt", device="cpu", backend="onnxruntime")
    with pytest.raises(ConfigError, match=r"vidtrack export yolov8n\.pt --format openvino"):
        Detector("yolov8n.pt", device="cpu", backend="openvino")


def test_a_missing_runtime_names_the_extra(exports, monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino now raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'vidtrack\[openvino\]'"):
        Detector(str(exports["openvino"]), device="cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error a CPU-only machine gives")
def test_openvino_on_cuda_is_refused(exports):
    with pytest.raises(ConfigError, match="cuda"):
        Detector(str(exports["openvino"]), device="cuda")


def test_pipeline_on_openvino_tracks_like_torch(exports):
    """The whole pipeline, with two frames in flight, gives the tracks of the PyTorch run: the same frames, and boxes
    within 1 px for nine tracks in ten."""
    runs = {}
    for model in ("yolov8n.pt", str(exports["openvino"])):
        config = load_config(None, {"detector.model": model, "detector.classes": ["person"],
                                    "detector.device": "cpu"})
        runs[model] = list(Pipeline(config).run(VIDEO, max_frames=12))
    torch_run, ov_run = runs.values()
    assert [r.index for r in torch_run] == [r.index for r in ov_run] == list(range(12))
    tracks = close = 0
    for a, b in zip(torch_run[2:], ov_run[2:]):
        matches, _, _ = linear_assignment(1 - box_iou(a.tracks.xyxy, b.tracks.xyxy), 0.5)
        assert len(matches) >= 0.8 * max(len(a.tracks), 1)
        difference = np.abs(a.tracks.xyxy[matches[:, 0]] - b.tracks.xyxy[matches[:, 1]]).max(axis=1)
        tracks, close = tracks + len(a.tracks), close + int((difference < 1.0).sum())
    assert tracks >= 25 and close >= 0.9 * tracks  # bf16 moves a box near the score threshold now and then


def test_int8_keeps_recall_on_labelled_frames(tmp_path):
    """int8 calibrated on PETS09's first frames, checked on later labelled frames of PETS09 and MOT17-02 (neither
    seen in calibration): recall at IoU 0.5 within 3 points of fp32 on these 24 frames (the benchmark measures it on
    hundreds)."""
    clip = tmp_path / "calibration.mp4"
    capture = cv2.VideoCapture(str(VIDEO))
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 7, (768, 576))
    for _ in range(16):
        writer.write(capture.read()[1])
    writer.release()
    out, report = export_detector("yolov8n.pt", "openvino", int8=True, calibration=clip, calibration_frames=16,
                                  out=tmp_path / "int8")
    assert report["frames"] == 8 and report["recall"] > 0.9 and report["precision"] > 0.9
    fp32 = Detector("yolov8n.pt", classes=["person"], device="cpu")
    int8 = Detector(str(out), classes=["person"], device="cpu")
    images, truth = labelled_frames(PETS09, range(400, 800, 20))
    more_images, more_truth = labelled_frames(MOT17_02, range(1, 5))
    images, truth = images + more_images, truth + more_truth
    (found_fp32, total), (found_int8, _) = recall(fp32, images, truth), recall(int8, images, truth)
    assert total > 150 and found_fp32 / total > 0.5
    assert abs(found_int8 - found_fp32) / total <= 0.03


def test_int8_needs_calibration_frames(tmp_path):
    with pytest.raises(ConfigError, match="int8 needs calibration frames"):
        export_detector("yolov8n.pt", "openvino", int8=True)
    one = tmp_path / "one"
    one.mkdir()
    cv2.imwrite(str(one / "000001.jpg"), np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(InputError, match="at least 2"):
        export_detector("yolov8n.pt", "openvino", int8=True, calibration=one)


def test_export_cli_and_its_errors(tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["export", "yolov8n.pt", "--format", "onnx", "--out", str(tmp_path / "m.onnx")])
    assert result.exit_code == 0 and (tmp_path / "m.onnx").is_file(), result.output
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left behind
    result = runner.invoke(main, ["export", "--int8"])
    assert result.exit_code == 1 and "int8 needs calibration frames" in result.output
    result = runner.invoke(main, ["track", str(VIDEO), "--backend", "openvino", "--max-frames", "1",
                                  "--out", str(tmp_path / "run")])
    assert result.exit_code == 1 and "vidtrack export" in result.output


@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
def test_exported_forecaster_step_matches_torch_on_real_tracks(runtime):
    """The LSTM's step run by ONNX Runtime or OpenVINO gives PyTorch's offsets within 1e-4 (box heights) on the
    features of real MOT17-02 tracks, frame after frame with the state carried."""
    from vidtrack.forecast import default_checkpoint
    from vidtrack.forecast.lstm import LSTMStep, load_checkpoint
    from vidtrack.forecast.onnx import OnnxStep
    from vidtrack.forecasting_tracker import ForecastingTracker
    from vidtrack.io.motchallenge import read_detections

    model = load_checkpoint(default_checkpoint(None))
    reference, exported = LSTMStep(model), OnnxStep(model, runtime)
    tracker = ForecastingTracker(fps=30, image_size=(1920, 1080))
    detections = read_detections(MOT17_02 / "det" / "det.txt")
    state = None
    for number in range(1, 40):
        tracks = tracker.update(detections.get(number))
        features = tracker.tracker.last_features(tracks.track_id)[:, reference.columns]
        if len(features) < 5:
            continue
        x = torch.from_numpy(features[:5].astype(np.float32))
        state = state or tuple(torch.zeros(model.config.num_layers, 5, model.config.hidden_size) for _ in range(2))
        expected, expected_std, new_state = reference(x, state)
        found, found_std, (h, c) = exported(x, state)
        assert torch.abs(found - expected).max() < 1e-4 and torch.abs(found_std - expected_std).max() < 1e-4
        assert torch.abs(h - new_state[0]).max() < 1e-4 and torch.abs(c - new_state[1]).max() < 1e-4
        state = new_state
    assert state is not None
