"""Tests of the detection noise model (`vidtrack.evaluation.simulated`), on small synthetic ground truth and on the
real MOT17 ground truth, including a calibration check against the real detections of MOT17-02."""

from __future__ import annotations

import itertools
import time
from dataclasses import replace

import numpy as np
import pytest

from conftest import SHARED, shared_data
from vidtrack.evaluation.simulated import (
    NoiseModel,
    detection_statistics,
    simulate_detections,
    simulate_detections_with_sources,
)
from vidtrack.io.motchallenge import GroundTruth, read_detections, read_ground_truth, read_seqinfo

MOT17 = SHARED / "MOT17" / "train"
SEQ_02 = MOT17 / "MOT17-02-FRCNN"
SEQ_05 = MOT17 / "MOT17-05-FRCNN"


def synthetic_gt(frames: int = 200, heights: tuple[float, ...] = (60.0, 120.0, 240.0, 480.0), visibility: float = 1.0,
                 class_id: int = 1) -> GroundTruth:
    """Pedestrians (aspect 0.4) of the given heights walking right across a 1920x1080 image, all annotated."""
    f = np.repeat(np.arange(1, frames + 1), len(heights))
    k = np.tile(np.arange(len(heights)), frames)
    h = np.asarray(heights)[k]
    left = 100 + 450 * k + 0.5 * (f - 1)
    xywh = np.stack([left, np.full_like(h, 900) - h, 0.4 * h, h], axis=1)
    n = len(f)
    return GroundTruth(f, k + 1, xywh, np.full(n, class_id == 1), np.full(n, class_id), np.full(n, visibility))


def iou_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    wh = np.clip(np.minimum(a[:, 2:], b[:, 2:]) - np.maximum(a[:, :2], b[:, :2]), 0, None)
    inter = wh[:, 0] * wh[:, 1]
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def matched_pairs(gt: GroundTruth, dets: dict, sources: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(gt rows, detection boxes, detection scores) of the detections made from annotated objects."""
    rows, boxes, scores = [], [], []
    for f, d in dets.items():
        own = sources[f] >= 0
        rows.append(sources[f][own])
        boxes.append(d.xyxy[own])
        scores.append(d.score[own])
    return np.concatenate(rows), np.concatenate(boxes).astype(np.float64), np.concatenate(scores)


def test_deterministic_for_a_seed_and_every_frame_present():
    gt = synthetic_gt(frames=100)
    a = simulate_detections(gt, 120, (1920, 1080), seed=3)
    b = simulate_detections(gt, 120, (1920, 1080), seed=3)
    c = simulate_detections(gt, 120, (1920, 1080), seed=4)
    assert list(a) == list(range(1, 121))  # frames after the last annotation are present too (only FPs)
    for f in a:
        assert np.array_equal(a[f].xyxy, b[f].xyxy) and np.array_equal(a[f].score, b[f].score)
        assert (a[f].class_id == 0).all() and a[f].features is None
        assert ((a[f].score >= 0.05) & (a[f].score <= 1)).all()
        assert (a[f].xyxy >= 1).all() and (a[f].xyxy[:, [0, 2]] <= 1921).all() and (a[f].xyxy[:, [1, 3]] <= 1081).all()
    assert any(len(a[f]) != len(c[f]) or not np.array_equal(a[f].xyxy, c[f].xyxy) for f in a)


def test_empty_ground_truth_gives_only_false_positives():
    empty = GroundTruth(*(np.zeros(0) for _ in range(6)))
    dets, sources = simulate_detections_with_sources(empty, 50, (640, 480), replace(NoiseModel(), fp_rate=2.0))
    assert list(dets) == list(range(1, 51))
    assert sum(len(d) for d in dets.values()) > 0
    assert all((s == -1).all() for s in sources.values())
    assert all(len(d) == 0 for d in simulate_detections(empty, 5, (640, 480), NoiseModel(fp_rate=0)).values())


def test_invalid_parameters_are_rejected():
    with pytest.raises(ValueError, match="miss_persistence"):
        NoiseModel(miss_persistence=1.5)
    with pytest.raises(ValueError, match="fp_persistence"):
        NoiseModel(fp_persistence=1.0)
    with pytest.raises(ValueError, match="fp_rate"):
        NoiseModel(fp_rate=-1)


def test_jitter_scales_with_box_size():
    """Pixel errors grow in proportion to the box, so the IoU with the true box does not depend on the size."""
    gt = synthetic_gt(frames=400, heights=(100.0, 800.0))
    model = NoiseModel(fp_rate=0, detection_floor=0.0)
    dets, sources = simulate_detections_with_sources(gt, 400, (1920, 1080), model, seed=0)
    rows, boxes, _ = matched_pairs(gt, dets, sources)
    true = gt.xyxy[rows].astype(np.float64)
    err = np.abs(boxes - true).mean(axis=1)
    small, large = gt.xywh[rows, 3] == 100, gt.xywh[rows, 3] == 800
    assert small.sum() > 300 and large.sum() > 300
    ratio = err[large].mean() / err[small].mean()
    assert 6 < ratio < 10  # the boxes are 8 times larger
    iou = iou_rows(boxes, true)
    assert abs(iou[large].mean() - iou[small].mean()) < 0.03
    assert 0.8 < iou.mean() < 0.93
    # Smooth in time: successive errors of one object are correlated (jitter_correlation 0.8 at 30 fps).
    e = (boxes[:, 0] - true[:, 0])[large]
    f = gt.frame[rows][large]
    follow = np.diff(f) == 1
    assert np.corrcoef(e[:-1][follow], e[1:][follow])[0, 1] > 0.6


def test_false_positive_rate_matches_the_parameter():
    gt = synthetic_gt(frames=3000, heights=(100.0, 200.0))
    for rate in (0.0, 0.5, 3.0):
        dets, sources = simulate_detections_with_sources(gt, 3000, (1920, 1080), NoiseModel(fp_rate=rate), seed=1)
        per_frame = sum(int((s < 0).sum()) for s in sources.values()) / 3000
        assert per_frame == pytest.approx(rate, rel=0.12, abs=0.01)
        if rate:  # and they are false positives for the evaluation too: they match no annotated person
            assert detection_statistics(gt, dets)["fp_per_frame"] == pytest.approx(per_frame, rel=0.1)
    # Short-lived: a geometric life of mean 1 / (1 - fp_persistence) frames.
    dets, sources = simulate_detections_with_sources(gt[:0], 3000, (1920, 1080), NoiseModel(fp_rate=1.0), seed=2)
    lasting = []
    for f in range(1, 3000):
        a, b = dets[f].xyxy, dets[f + 1].xyxy
        lasting += [bool((b == box).all(axis=1).any()) for box in a]  # a false positive keeps its box
    assert np.mean(lasting) == pytest.approx(0.5, abs=0.06)


def test_scores_of_true_positives_exceed_false_positives():
    gt = synthetic_gt(frames=500, heights=(50.0, 70.0, 150.0, 300.0), visibility=0.8)
    dets, sources = simulate_detections_with_sources(gt, 500, (1920, 1080), NoiseModel(fp_rate=2.0), seed=0)
    scores = np.concatenate([d.score for d in dets.values()])
    is_fp = np.concatenate(list(sources.values())) < 0
    assert scores[~is_fp].mean() > scores[is_fp].mean() + 0.3
    # Small people are detected less often and with lower scores than large ones.
    rows, _, tp_scores = matched_pairs(gt, dets, sources)
    h = gt.xywh[rows, 3]
    assert tp_scores[h == 50].mean() < tp_scores[h == 300].mean() - 0.1
    assert (h == 50).sum() < (h == 300).sum()


@shared_data
def test_recall_falls_with_visibility_and_misses_come_in_runs():
    info = read_seqinfo(SEQ_05)
    gt = read_ground_truth(SEQ_05 / "gt" / "gt.txt")
    _, sources = simulate_detections_with_sources(gt, info.length, (info.width, info.height), seed=0, fps=info.fps)
    flat = np.concatenate(list(sources.values()))
    detected = np.zeros(len(gt), bool)
    detected[flat[flat >= 0]] = True
    ped = gt.consider & (gt.class_id == 1)
    recall = [detected[ped & (gt.visibility >= lo) & (gt.visibility < hi)].mean()
              for lo, hi in ((0, 0.3), (0.3, 0.6), (0.6, 0.8), (0.8, 1.01))]
    assert recall[0] < 0.1 and recall[-1] > 0.8
    assert all(a < b for a, b in itertools.pairwise(recall))
    # Runs: a missed object is far likelier to be missed again in the next frame than a detected one.
    order = np.lexsort((gt.frame, gt.track_id))
    keep = order[ped[order]]
    same = (gt.track_id[keep][1:] == gt.track_id[keep][:-1]) & (np.diff(gt.frame[keep]) == 1)
    before, after = detected[keep][:-1][same], detected[keep][1:][same]
    assert (~after[~before]).mean() > 0.9 and (~after[before]).mean() < 0.1
    # ... more so than from the visibility's own persistence alone (independent misses per frame).
    _, indep = simulate_detections_with_sources(gt, info.length, (info.width, info.height),
                                                NoiseModel(miss_persistence=0.0), seed=0, fps=info.fps)
    flat = np.concatenate(list(indep.values()))
    detected[:] = False
    detected[flat[flat >= 0]] = True
    before_i, after_i = detected[keep][:-1][same], detected[keep][1:][same]
    assert (~after_i[before_i]).mean() > 1.25 * (~after[before]).mean()  # rho = 0.7 at 30 fps is 0.47 at 14 fps


@shared_data
def test_calibration_against_real_detections():
    """On MOT17-02, the simulated detections look like the real det.txt to the evaluation's matching (IoU >= 0.5).

    Tolerances: recall of considered pedestrians within 0.03 (absolute) and detections per frame within 5% of the
    real det.txt (seed-to-seed spread of the simulation: about 0.005 and 1%); mean IoU of matched detections and
    unmatched detections per frame within 0.02 and 30%.
    """
    info = read_seqinfo(SEQ_02)
    gt = read_ground_truth(SEQ_02 / "gt" / "gt.txt")
    real = detection_statistics(gt, read_detections(SEQ_02 / "det" / "det.txt", seq_length=info.length))
    start = time.perf_counter()
    dets = simulate_detections(gt, info.length, (info.width, info.height), seed=0, fps=info.fps)
    took = time.perf_counter() - start
    sim = detection_statistics(gt, dets)
    assert real["recall"] == pytest.approx(0.353, abs=0.001)  # the measurement the defaults were fitted to
    assert sim["recall"] == pytest.approx(real["recall"], abs=0.03)
    assert sim["detections_per_frame"] == pytest.approx(real["detections_per_frame"], rel=0.05)
    assert sim["mean_iou"] == pytest.approx(real["mean_iou"], abs=0.02)
    assert sim["fp_per_frame"] == pytest.approx(real["fp_per_frame"], rel=0.3)
    assert sim["mean_score"] > sim["fp_mean_score"] + 0.3 and real["mean_score"] > real["fp_mean_score"] + 0.3
    assert took < 1.0  # 600 frames
