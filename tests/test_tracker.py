"""The tracker contract, checked for every motion model (BoxMOT style), on synthetic motion and real MOT17 data."""

from __future__ import annotations

import dataclasses
import itertools
from collections import defaultdict

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from conftest import SHARED, shared_data
from vidtrack.config import Config, TrackerConfig
from vidtrack.detect.features import APPEARANCE, GEOMETRY, HAS_APPEARANCE, MOTION, geometry_features
from vidtrack.io.motchallenge import read_ground_truth, read_seqinfo
from vidtrack.pipeline import Pipeline
from vidtrack.structures import FEATURE_DIM, Detections, Tracks
from vidtrack.track.matching import box_iou
from vidtrack.track.motion import MOTION_MODELS
from vidtrack.track.tracker import Tracker

MOT17_02 = SHARED / "MOT17" / "train" / "MOT17-02-FRCNN"
FPS = 30.0
SIZE = (1920, 1080)

MODELS = pytest.mark.parametrize("motion", list(MOTION_MODELS))


def make_tracker(motion: str, fps: float = FPS, size: tuple[int, int] = SIZE, **overrides: float) -> Tracker:
    """A tracker with explicit thresholds, so that the tests do not depend on the shipped defaults."""
    config = TrackerConfig(track_high_thresh=0.5, track_low_thresh=0.1, new_track_thresh=0.6, match_thresh=0.8,
                           second_match_thresh=0.5, unconfirmed_match_thresh=0.7, fuse_score=True,
                           track_buffer_s=1.0, feature_buffer_s=2.0)
    config = dataclasses.replace(config, motion=motion, **overrides)
    return Tracker(config, fps=fps, image_size=size)


def dets(boxes: list | np.ndarray, scores: list | np.ndarray | None = None) -> Detections:
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.full(len(boxes), 0.9) if scores is None else np.asarray(scores, dtype=np.float64)
    return Detections(boxes, scores, np.zeros(len(boxes)))


def walker(frame: int, x0: float = 100.0, y0: float = 400.0, vx: float = 4.0, vy: float = 0.0) -> list[float]:
    """A 60 x 150 box moving at constant speed (px per frame)."""
    x, y = x0 + vx * frame, y0 + vy * frame
    return [x, y, x + 60, y + 150]


def check_det_index(tracks: Tracks, detections: Detections) -> None:
    np.testing.assert_array_equal(tracks.xyxy, detections.xyxy[tracks.det_index])
    np.testing.assert_array_equal(tracks.score, detections.score[tracks.det_index])


# --- identities on synthetic motion ---


@MODELS
@pytest.mark.parametrize("first_frame", [0, 5])
def test_constant_speed_object_keeps_one_id(motion: str, first_frame: int) -> None:
    tracker = make_tracker(motion)
    seen = []
    for frame in range(first_frame + 60):
        tracks = tracker.update(dets(walker(frame)) if frame >= first_frame else None)
        seen.append(tracks.track_id.tolist())
    # A track is reported from its first frame on frame 0 (nothing to confirm against) and otherwise from its second.
    start = first_frame if first_frame == 0 else first_frame + 1
    assert all(ids == [] for ids in seen[:start])
    assert all(ids == [1] for ids in seen[start:])


@MODELS
@pytest.mark.parametrize("speed", [2.0, 5.0, 10.0])
def test_crossing_objects_keep_distinct_ids(motion: str, speed: float) -> None:
    """Two pedestrians walking towards each other, passing through the same place (complete overlap)."""
    tracker = make_tracker(motion)
    n = 80
    ids: dict[int, set[int]] = {0: set(), 1: set()}
    for frame in range(n):
        a = walker(frame, x0=100, y0=400, vx=speed, vy=0.3)
        b = walker(frame, x0=100 + speed * (n - 1), y0=400 + 0.3 * (n - 1), vx=-speed, vy=-0.3)
        detections = dets([a, b])
        tracks = tracker.update(detections)
        assert len(tracks) == 2
        check_det_index(tracks, detections)
        for track_id, row in zip(tracks.track_id.tolist(), tracks.det_index.tolist()):
            ids[row].add(track_id)
    assert ids == {0: {1}, 1: {2}}


@MODELS
def test_parallel_objects_keep_distinct_ids(motion: str) -> None:
    tracker = make_tracker(motion)
    history = defaultdict(set)
    for frame in range(60):
        # Two boxes side by side, 5 px apart, moving together; their order in the frame's detections alternates.
        boxes = [walker(frame), walker(frame, x0=165)]
        order = [0, 1] if frame % 2 else [1, 0]
        tracks = tracker.update(dets([boxes[i] for i in order]))
        for track_id, row in zip(tracks.track_id.tolist(), tracks.det_index.tolist()):
            history[order[row]].add(track_id)
    assert history == {0: {1}, 1: {2}} or history == {0: {2}, 1: {1}}


# --- lost tracks ---


@MODELS
@pytest.mark.parametrize("missed", [5, 30])
def test_track_survives_missed_frames(motion: str, missed: int) -> None:
    """A track unmatched for up to track_buffer_s * fps frames comes back with its id (as far as it kept moving)."""
    tracker = make_tracker(motion, track_buffer_s=1.0)
    for frame in range(10):
        assert tracker.update(dets(walker(frame, vx=3))).track_id.tolist() == [1]
    for _ in range(missed):
        assert len(tracker.update(dets([]))) == 0
        assert tracker.removed_ids == []
    for frame in range(10 + missed, 20 + missed):
        assert tracker.update(dets(walker(frame, vx=3))).track_id.tolist() == [1]


@MODELS
def test_track_is_removed_after_the_buffer(motion: str) -> None:
    tracker = make_tracker(motion, track_buffer_s=1.0)  # 30 frames at 30 fps
    for frame in range(10):
        tracker.update(dets(walker(frame, vx=3)))
    removed_at = {}
    for frame in range(10, 50):
        tracker.update(None)
        if tracker.removed_ids:
            removed_at[frame] = list(tracker.removed_ids)
    # Last seen on frame 9; the 31st missed frame (frame 40) is more than 30 frames after it.
    assert removed_at == {40: [1]}
    assert tracker.tracks == []
    # The object reappears where it would be: it gets a new id, reported from its second frame.
    assert len(tracker.update(dets(walker(50, vx=3)))) == 0
    assert tracker.update(dets(walker(51, vx=3))).track_id.tolist() == [2]


@MODELS
def test_zero_buffer_drops_a_track_on_its_first_miss(motion: str) -> None:
    tracker = make_tracker(motion, track_buffer_s=0.0)
    for frame in range(5):
        tracker.update(dets(walker(frame)))
    tracker.update(None)
    assert tracker.removed_ids == [1]


@MODELS
def test_unconfirmed_track_is_removed_if_not_seen_again(motion: str) -> None:
    tracker = make_tracker(motion)
    tracker.update(None)
    assert len(tracker.update(dets(walker(1)))) == 0  # a one-frame track is not reported
    tracker.update(None)
    assert tracker.removed_ids == [1]  # a false positive is dropped at once, without waiting for the buffer


# --- what is reported ---


@MODELS
def test_det_index_points_at_the_matched_detection(motion: str) -> None:
    rng = np.random.default_rng(0)
    tracker = make_tracker(motion)
    starts = [(100 + 200 * i, 300 + 40 * i) for i in range(6)]
    for frame in range(40):
        boxes = [walker(frame, x0=x, y0=y, vx=2 * (i % 3) - 2, vy=1) for i, (x, y) in enumerate(starts)]
        order = rng.permutation(len(boxes))
        scores = rng.uniform(0.6, 1.0, len(boxes))
        detections = dets(np.array(boxes)[order], scores)
        tracks = tracker.update(detections)
        assert len(tracks) == len(boxes)
        check_det_index(tracks, detections)
        assert len(set(tracks.det_index.tolist())) == len(tracks)


@MODELS
def test_low_score_detections_keep_a_track_alive(motion: str) -> None:
    tracker = make_tracker(motion)  # low 0.1 < score < high 0.5: second pass only
    for frame in range(5):
        assert tracker.update(dets(walker(frame), [0.9])).track_id.tolist() == [1]
    for frame in range(5, 60):  # 55 frames: longer than the 30-frame buffer
        tracks = tracker.update(dets(walker(frame), [0.3]))
        assert tracks.track_id.tolist() == [1]
        assert tracks.score.tolist() == pytest.approx([0.3])
        assert tracker.removed_ids == []


@MODELS
def test_detections_at_or_below_the_low_threshold_are_ignored(motion: str) -> None:
    tracker = make_tracker(motion)
    for frame in range(5):
        tracker.update(dets(walker(frame), [0.9]))
    for frame in range(5, 10):
        assert len(tracker.update(dets(walker(frame), [0.1]))) == 0


@MODELS
@pytest.mark.parametrize("score", [0.3, 0.45, 0.55])
def test_low_score_detections_never_start_a_track(motion: str, score: float) -> None:
    # 0.3 and 0.45 are low-score detections; 0.55 is confident (>= 0.5) but below new_track_thresh (0.6).
    tracker = make_tracker(motion)
    for frame in range(40):
        assert len(tracker.update(dets(walker(frame), [score]))) == 0
    assert tracker.tracks == []


@MODELS
def test_low_score_detections_do_not_confirm_a_new_track(motion: str) -> None:
    tracker = make_tracker(motion)
    tracker.update(None)
    tracker.update(dets(walker(1), [0.9]))  # a NEW track
    assert len(tracker.update(dets(walker(2), [0.3]))) == 0
    assert tracker.removed_ids == [1]


@MODELS
def test_none_and_empty_frames_advance_the_frame(motion: str) -> None:
    tracker = make_tracker(motion)
    tracks = tracker.update(None)
    assert isinstance(tracks, Tracks) and len(tracks) == 0 and tracker.frame == 0
    assert len(tracker.update(Detections.empty())) == 0 and tracker.frame == 1
    assert len(tracker.update(dets([]))) == 0 and tracker.frame == 2
    tracker.update(dets(walker(3)))
    tracks = tracker.update(dets(walker(4)))
    assert tracks.track_id.tolist() == [1] and tracker.frame == 4
    assert len(tracker.update(None)) == 0 and tracker.frame == 5
    assert tracker.update(dets(walker(6))).track_id.tolist() == [1]


@MODELS
def test_thousands_of_detections(motion: str) -> None:
    rng = np.random.default_rng(7)
    tracker = make_tracker(motion)
    n = 3000
    for _ in range(3):
        xy = rng.uniform(0, 1800, (n, 2))
        detections = dets(np.concatenate([xy, xy + rng.uniform(5, 120, (n, 2))], axis=1), rng.uniform(0, 1, n))
        tracks = tracker.update(detections)
        assert 0 < len(tracks) <= n
        assert np.isfinite(tracks.xyxy).all()
        check_det_index(tracks, detections)


# --- feature buffers ---


@MODELS
def test_feature_buffer_is_bounded(motion: str) -> None:
    fps = 10.0
    tracker = make_tracker(motion, fps=fps, feature_buffer_s=2.0)  # 20 frames
    for frame in range(50):
        if frame in (30, 31, 32):  # a short gap: the buffer holds observations only
            tracker.update(None)
            continue
        tracker.update(dets(walker(frame)))
    frames, features = tracker.feature_history(1)
    assert len(frames) == round(2.0 * fps) and features.shape == (len(frames), FEATURE_DIM)
    assert (np.diff(frames) > 0).all() and frames[-1] == 49
    assert not {30, 31, 32} & set(frames.tolist())
    assert frames.tolist() == [f for f in range(50) if f not in (30, 31, 32)][-20:]
    # Geometry features follow the (filtered) boxes, a fraction of a pixel from a steady walk's: centre x / width.
    centre_x = [(walker(f)[0] + walker(f)[2]) / 2 / SIZE[0] for f in frames]
    np.testing.assert_allclose(features[:, GEOMETRY.start], centre_x, atol=0.5 / SIZE[0])


@MODELS
def test_short_track_buffer_holds_all_its_frames(motion: str) -> None:
    tracker = make_tracker(motion)
    for frame in range(4):
        tracker.update(dets(walker(frame)))
    frames, features = tracker.feature_history(1)
    assert frames.tolist() == [0, 1, 2, 3] and features.shape == (4, FEATURE_DIM)


@MODELS
@pytest.mark.parametrize("vx", [6.0, -6.0])
def test_motion_slots_hold_the_velocity(motion: str, vx: float) -> None:
    tracker = make_tracker(motion)
    for frame in range(20):
        tracks = tracker.update(dets(walker(frame, x0=900, vx=vx, vy=0.0)))
    latest = tracker.last_features(tracks.track_id)
    assert latest.shape == (1, FEATURE_DIM)
    m = latest[0, MOTION]
    box = tracks.xyxy[0]
    height = box[3] - box[1]
    # x1 and x2 move in box heights per second: 6 px/frame * 30 fps / height (of the filtered box).
    assert np.sign(m[0]) == np.sign(vx) == np.sign(m[2])
    assert m[0] == pytest.approx(vx * FPS / height, rel=0.1) and m[2] == pytest.approx(m[0], rel=0.05)
    assert abs(m[1]) < 0.05 and abs(m[3]) < 0.05  # no vertical motion, constant height
    assert m[4] == pytest.approx(np.log(height / SIZE[1]), abs=0.01)  # log of the height in image heights
    assert m[5] == pytest.approx(1 / FPS)  # seconds since the previous observation
    assert m[6] == pytest.approx(19 / FPS)  # seconds tracked
    assert m[7] == 1.0
    # The first feature of a track has not moved yet.
    _, features = tracker.feature_history(int(tracks.track_id[0]))
    np.testing.assert_array_equal(features[0, MOTION.start:MOTION.start + 4], 0.0)
    np.testing.assert_array_equal(features[0, MOTION.start + 5:MOTION.stop], 0.0)
    assert len(tracker.last_features(np.zeros(0, dtype=np.int64))) == 0


# --- real data: MOT17-02 ---


def gt_switch_counts(motion: str, visibility: float = 0.3, frames: int = 600) -> dict:
    """Track the MOT17-02 ground-truth boxes as detections and count the identities each pedestrian received."""
    gt = read_ground_truth(MOT17_02 / "gt" / "gt.txt")
    gt = gt[gt.consider & (gt.visibility > visibility)]
    seq = read_seqinfo(MOT17_02 / "seqinfo.ini")
    tracker = make_tracker(motion, fps=seq.fps, size=(seq.width, seq.height))
    matched = defaultdict(list)  # gt id -> [(frame, track id)]
    rows = 0
    for frame in range(1, frames + 1):
        sel = gt[gt.frame == frame]
        rows += len(sel)
        detections = Detections(sel.xyxy, np.ones(len(sel)), np.zeros(len(sel)))
        tracks = tracker.update(detections)
        check_det_index(tracks, detections)
        if len(tracks) == 0:
            continue
        iou = box_iou(sel.xyxy, tracks.xyxy)
        gi, ti = linear_sum_assignment(-iou)  # one-to-one, as in the MOTChallenge evaluation
        for i, j in zip(gi, ti):
            if iou[i, j] > 0.5:
                matched[int(sel.track_id[i])].append((frame, int(tracks.track_id[j])))
    ids = {g: len({t for _, t in v}) for g, v in matched.items()}
    # A new id after a gap longer than the track buffer (30 frames) is expected; within it, it is a switch.
    switches = sum(1 for v in matched.values() for (f0, a), (f1, b) in itertools.pairwise(v)
                   if a != b and f1 - f0 <= 31)
    return {"gt_ids": len(ids), "ids": sum(ids.values()), "max_ids": max(ids.values()), "switches": switches,
            "matched": sum(len(v) for v in matched.values()), "rows": rows}


@shared_data
@MODELS
def test_mot17_02_ground_truth_few_identity_switches(motion: str) -> None:
    counts = gt_switch_counts(motion)
    # Measured: 51 pedestrians, 107 ids in all with the Kalman model and 106 with the LSTM (most new ids follow gaps
    # longer than the buffer), at most 4 per pedestrian, 4 and 3 switches within the buffer, 8818 of 8908 boxes matched.
    assert counts["gt_ids"] == 51
    assert counts["ids"] <= 112
    assert counts["max_ids"] <= 5
    assert counts["switches"] <= 8
    assert counts["matched"] >= 0.98 * counts["rows"]


@shared_data
def test_pipeline_on_mot17_02_detections() -> None:
    results = list(Pipeline(Config()).run_detections(MOT17_02 / "det" / "det.txt", MOT17_02 / "seqinfo.ini"))
    assert [r.index for r in results] == list(range(600))
    assert results[-1].time_s == pytest.approx(599 / 30)
    horizon = round(1.5 * 30)
    reported = 0
    for r in results:
        tracks = r.tracks
        reported += len(tracks)
        assert tracks.forecast is not None and tracks.forecast.shape == (len(tracks), horizon, 4)
        assert tracks.forecast_kind == "lstm"
        assert np.isfinite(tracks.forecast).all()
        check_det_index(tracks, r.detections)
    assert reported > 0.5 * sum(len(r.detections[r.detections.score >= 0.6]) for r in results)
    # MOT17-02 ships its first four frames only.
    assert [r.image is not None for r in results[:6]] == [True] * 4 + [False] * 2
    assert results[0].image.shape == (1080, 1920, 3)


# --- appearance and the learned motion model ---


def looking(boxes: list, looks: list[np.ndarray] | None) -> Detections:
    """Detections whose features carry the given appearance vectors (None: geometry only, as from det.txt)."""
    plain = dets(boxes)
    features = geometry_features(plain.xyxy, plain.score, SIZE)
    if looks is not None:
        features[:, APPEARANCE] = np.stack(looks)
        features[:, HAS_APPEARANCE] = 1.0
    return Detections(plain.xyxy, plain.score, plain.class_id, features)


def reappearing_walker(motion: str, with_appearance: bool, shift: float) -> set[int]:
    """A walker seen for 20 frames, hidden for 15, then seen again `shift` px behind where it would be at constant
    speed (it slowed down while hidden): too far for the IoU, near enough for the motion model's gate."""
    rng = np.random.default_rng(0)
    look = rng.normal(size=448)
    look /= np.linalg.norm(look)
    tracker = make_tracker(motion)
    ids = set()
    for frame in range(50):
        if 20 <= frame < 35:
            tracker.update(None)
            continue
        box = walker(frame, x0=100 - (shift if frame >= 35 else 0))
        noisy = look + rng.normal(scale=0.002, size=448)  # halved cosine distance to `look` about 0.001
        tracks = tracker.update(looking([box], [noisy / np.linalg.norm(noisy)] if with_appearance else None))
        ids |= set(tracks.track_id.tolist())
    return ids


@MODELS
def test_appearance_recovers_a_track_inside_the_gate(motion: str) -> None:
    assert len(reappearing_walker(motion, with_appearance=True, shift=45)) == 1
    if motion == "kalman":  # without appearance only the IoU matches, and 45 px on a 60 px box is too far: a new id
        assert len(reappearing_walker(motion, with_appearance=False, shift=45)) == 2
    # A similar look far outside the gate is another object.
    assert len(reappearing_walker(motion, with_appearance=True, shift=400)) == 2


@MODELS
def test_different_looks_do_not_swap_when_boxes_cross(motion: str) -> None:
    rng = np.random.default_rng(1)
    looks = rng.normal(size=(2, 448))
    looks /= np.linalg.norm(looks, axis=1, keepdims=True)
    tracker = make_tracker(motion)
    seen = defaultdict(set)  # look -> track ids
    for frame in range(60):
        boxes = [walker(frame, x0=100, vx=5), walker(frame, x0=400, vx=-5)]
        tracks = tracker.update(looking(boxes, list(looks)))
        for tid, row in zip(tracks.track_id.tolist(), tracks.det_index.tolist()):
            seen[row].add(tid)
    assert len(seen[0]) == len(seen[1]) == 1 and seen[0] != seen[1]


@shared_data
def test_pipeline_reuses_the_trackers_lstm_forecasts() -> None:
    config = Config()
    config.tracker.motion = "lstm"
    pipeline = Pipeline(config)
    results = list(pipeline.run_detections(MOT17_02 / "det" / "det.txt", MOT17_02 / "seqinfo.ini", max_frames=40))
    last = results[-1].tracks
    assert len(last) > 3 and last.forecast_kind == "lstm" and last.forecast.shape[1:] == (45, 4)
    # The forecasts of a separate LSTM forecaster fed the same tracks differ only where the tracker's model also read
    # a track's first, unconfirmed frame; their first step agrees to within a few pixels.
    assert np.isfinite(last.forecast).all()
    step = np.abs(last.forecast[:, 0] - last.xyxy).max(axis=1)
    assert (step < 0.2 * (last.xyxy[:, 3] - last.xyxy[:, 1])).all()  # one frame ahead stays near the box
