"""Tests of the association primitives (IoU, gated optimal assignment) and of the Kalman motion model."""

from __future__ import annotations

import numpy as np
import pytest

from vidtrack.kalman import KalmanFilterXYAH, xyah_to_xyxy, xyxy_to_xyah
from vidtrack.track.matching import appearance_cost, box_iou, iou_cost, linear_assignment, mahalanobis_sq

# --- box_iou ---


def test_box_iou_hand_checked() -> None:
    a = np.array([[0, 0, 2, 2], [0, 0, 10, 10]], dtype=np.float64)
    b = np.array([[1, 0, 3, 2], [0, 0, 2, 2], [20, 20, 30, 30], [0, 0, 5, 10]], dtype=np.float64)
    iou = box_iou(a, b)
    assert iou.shape == (2, 4)
    expected = [
        [2 / 6, 1.0, 0.0, 4 / 50],  # half overlap: 2 / (4 + 4 - 2); identical; disjoint; inside: 4 / 50
        [4 / 100, 4 / 100, 0.0, 0.5],  # [1, 0, 3, 2] and [0, 0, 2, 2] lie inside; disjoint; the left half
    ]
    np.testing.assert_allclose(iou, expected, rtol=1e-12)


def test_box_iou_is_symmetric_and_bounded() -> None:
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 100, (20, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(1, 50, (20, 2))], axis=1)
    iou = box_iou(boxes, boxes)
    np.testing.assert_allclose(iou, iou.T)
    np.testing.assert_allclose(np.diag(iou), 1.0)
    assert (iou >= 0).all() and (iou <= 1 + 1e-12).all()


def test_box_iou_touching_and_degenerate_boxes() -> None:
    a = np.array([[0, 0, 2, 2.0]])
    assert box_iou(a, np.array([[2, 0, 4, 2.0]]))[0, 0] == 0.0  # edges touch, no area in common
    assert box_iou(np.array([[1, 1, 1, 1.0]]), np.array([[1, 1, 1, 1.0]]))[0, 0] == 0.0  # no NaN from 0 / 0
    assert box_iou(np.zeros((0, 4)), a).shape == (0, 1)


def test_iou_cost_fuses_the_score() -> None:
    tracks = np.array([[0, 0, 2, 2.0]])
    dets = np.array([[0, 0, 2, 2.0], [1, 0, 3, 2.0]])
    np.testing.assert_allclose(iou_cost(tracks, dets), [[0.0, 2 / 3]])
    np.testing.assert_allclose(iou_cost(tracks, dets, np.array([0.5, 0.9])), [[0.5, 1 - 0.9 / 3]])


# --- linear_assignment ---


def test_pairs_above_the_threshold_are_never_matched() -> None:
    cost = np.array([[0.6, 0.9], [0.95, 0.51]])
    matches, rows, cols = linear_assignment(cost, thresh=0.5)
    assert matches.shape == (0, 2)
    assert rows.tolist() == [0, 1] and cols.tolist() == [0, 1]


def test_threshold_is_inclusive() -> None:
    matches, rows, cols = linear_assignment(np.array([[0.5]]), thresh=0.5)
    assert matches.tolist() == [[0, 0]] and rows.size == 0 and cols.size == 0


def test_optimal_where_greedy_fails() -> None:
    # Greedy takes the cheapest pair (0, 0) = 0.1 and then cannot match row 1 (0.9 > thresh); the optimum matches
    # both rows crosswise for a total of 0.35.
    cost = np.array([[0.1, 0.2], [0.15, 0.9]])
    matches, rows, cols = linear_assignment(cost, thresh=0.5)
    assert sorted(matches.tolist()) == [[0, 1], [1, 0]]
    assert rows.size == 0 and cols.size == 0


def test_optimal_minimises_total_cost() -> None:
    # Greedy: (0, 0) 0.1 + (1, 1) 0.45 = 0.55; optimal: (0, 1) 0.15 + (1, 0) 0.2 = 0.35.
    cost = np.array([[0.1, 0.15], [0.2, 0.45]])
    matches, _, _ = linear_assignment(cost, thresh=0.5)
    assert sorted(matches.tolist()) == [[0, 1], [1, 0]]


def test_no_poor_pair_to_free_a_good_one() -> None:
    # Matching both rows needs the poor pairs (0, 1) 0.79 and (1, 0) 0.7; each pair saves thresh - cost against
    # leaving both sides unmatched, so (0, 0) alone (saving 0.7) beats the two poor ones (0.01 + 0.1), as with lapjv's
    # cost_limit in ByteTrack. Forcing the most pairs instead cost 2.9 HOTA on MOT17-02's real detections.
    cost = np.array([[0.1, 0.79], [0.7, 1.0]])
    matches, rows, cols = linear_assignment(cost, thresh=0.8)
    assert matches.tolist() == [[0, 0]] and rows.tolist() == [1] and cols.tolist() == [1]
    # Where the savings favour two pairs, both are taken.
    matches, _, _ = linear_assignment(np.array([[0.1, 0.2], [0.3, 1.0]]), thresh=0.8)
    assert sorted(matches.tolist()) == [[0, 1], [1, 0]]


def test_mahalanobis_hand_checked() -> None:
    expected, std = np.array([[0.0, 0, 10, 20]]), np.array([[1.0, 2, 1, 2]])
    dets = np.array([[0.0, 0, 10, 20], [1.0, 2, 11, 22], [3.0, 0, 10, 20]])
    np.testing.assert_allclose(mahalanobis_sq(expected, std, dets), [[0.0, 4.0, 9.0]])


def test_appearance_cost_is_halved_cosine_distance() -> None:
    a = np.array([[1.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(appearance_cost(a, np.array([[1.0, 0.0], [-1.0, 0.0]])), [[0.0, 1.0], [0.5, 0.5]])


def test_rectangular_and_empty_costs() -> None:
    cost = np.array([[0.9, 0.1, 0.3]])
    matches, rows, cols = linear_assignment(cost, thresh=0.5)
    assert matches.tolist() == [[0, 1]] and rows.size == 0 and cols.tolist() == [0, 2]
    matches, rows, cols = linear_assignment(np.zeros((0, 3)), thresh=0.5)
    assert matches.shape == (0, 2) and rows.size == 0 and cols.tolist() == [0, 1, 2]
    matches, rows, cols = linear_assignment(np.zeros((2, 0)), thresh=0.5)
    assert matches.shape == (0, 2) and rows.tolist() == [0, 1] and cols.size == 0


# --- Kalman filter ---


def moving_box(frame: int) -> np.ndarray:
    """A box moving +4 px/frame right and +1 px/frame down, at constant size 50 x 100."""
    return np.array([[100 + 4.0 * frame, 200 + 1.0 * frame, 150 + 4.0 * frame, 300 + 1.0 * frame]])


def test_xyah_round_trip() -> None:
    boxes = np.array([[0, 0, 10, 20], [5.5, 7.25, 105.5, 57.25]])
    xyah = xyxy_to_xyah(boxes)
    np.testing.assert_allclose(xyah[0], [5, 10, 0.5, 20])
    np.testing.assert_allclose(xyah_to_xyxy(xyah), boxes)


def test_initiate_then_to_xyxy_returns_the_boxes() -> None:
    model = KalmanFilterXYAH()
    boxes = np.array([[10, 20, 60, 120], [300.5, 400.25, 310.5, 500.25], [0, 0, 1920, 1080]], dtype=np.float64)
    mean, cov = model.initiate(boxes)
    assert len(mean) == 3 and cov.shape == (3, mean.shape[1], mean.shape[1])
    np.testing.assert_allclose(model.to_xyxy(mean), boxes, atol=1e-6)
    np.testing.assert_allclose(model.velocity(mean), 0.0)  # nothing is known about the motion yet
    assert (np.linalg.eigvalsh(cov) > 0).all()


def test_kalman_extrapolates_constant_velocity() -> None:
    kf = KalmanFilterXYAH()
    mean, cov = kf.initiate(moving_box(0))
    for frame in range(1, 20):
        mean, cov = kf.predict(mean, cov)
        mean, cov = kf.update(mean, cov, moving_box(frame))
    velocity = kf.velocity(mean)[0]
    assert velocity[0] == pytest.approx(4.0, abs=0.25)
    assert velocity[1] == pytest.approx(1.0, abs=0.1)
    assert abs(velocity[2]) < 0.05 and abs(velocity[3]) < 0.05  # the size does not change
    predicted, _ = kf.predict(mean, cov)
    np.testing.assert_allclose(kf.to_xyxy(predicted), moving_box(20), atol=2.0)
    # Predicting further without updates keeps moving along the same line.
    for _ in range(9):
        predicted, _ = kf.predict(predicted, cov)
    np.testing.assert_allclose(kf.to_xyxy(predicted), moving_box(29), atol=5.0)


def test_kalman_velocity_sign_for_left_and_upward_motion() -> None:
    kf = KalmanFilterXYAH()
    box = lambda f: np.array([[500 - 3.0 * f, 400 - 2.0 * f, 560 - 3.0 * f, 520 - 2.0 * f]])  # noqa: E731
    mean, cov = kf.initiate(box(0))
    for frame in range(1, 15):
        mean, cov = kf.predict(mean, cov)
        mean, cov = kf.update(mean, cov, box(frame))
    vx, vy, _, _ = kf.velocity(mean)[0]
    assert vx == pytest.approx(-3.0, abs=0.3) and vy == pytest.approx(-2.0, abs=0.3)


def test_kalman_velocity_of_a_growing_box() -> None:
    # Width grows 2 px/frame, height 4 px/frame (aspect stays 0.5): velocity()[2:] are d(width), d(height).
    kf = KalmanFilterXYAH()
    box = lambda f: np.array([[100 - 1.0 * f, 100 - 2.0 * f, 150 + 1.0 * f, 200 + 2.0 * f]])  # noqa: E731
    mean, cov = kf.initiate(box(0))
    for frame in range(1, 25):
        mean, cov = kf.predict(mean, cov)
        mean, cov = kf.update(mean, cov, box(frame))
    vx, vy, vw, vh = kf.velocity(mean)[0]
    assert abs(vx) < 0.2 and abs(vy) < 0.2
    assert vw == pytest.approx(2.0, abs=0.3) and vh == pytest.approx(4.0, abs=0.5)


def test_kalman_update_pulls_towards_the_measurement() -> None:
    kf = KalmanFilterXYAH()
    mean, cov = kf.initiate(moving_box(0))
    mean, cov = kf.predict(mean, cov)
    updated, updated_cov = kf.update(mean, cov, moving_box(0) + np.array([10, 0, 10, 0]))
    x_before, x_after = kf.to_xyxy(mean)[0, 0], kf.to_xyxy(updated)[0, 0]
    assert x_before < x_after < x_before + 10  # between prediction and measurement
    assert np.trace(updated_cov[0]) < np.trace(cov[0])  # a measurement lowers the uncertainty


def test_vectorised_calls_equal_single_track_calls() -> None:
    model = KalmanFilterXYAH()
    rng = np.random.default_rng(3)
    n = 6
    xy = rng.uniform(0, 1000, (n, 2))
    first = np.concatenate([xy, xy + rng.uniform(20, 200, (n, 2))], axis=1)
    mean, cov = model.initiate(first)
    # Give each track its own history so that states and covariances differ.
    for k in range(n):
        m, c = mean[k:k + 1], cov[k:k + 1]
        for step in range(k):
            m, c = model.predict(m, c)
            m, c = model.update(m, c, first[k:k + 1] + rng.normal(0, 2, 4) + step)
        mean[k], cov[k] = m[0], c[0]
    measured = first + rng.normal(0, 5, (n, 4))

    p_mean, p_cov = model.predict(mean, cov)
    u_mean, u_cov = model.update(p_mean, p_cov, measured)
    for k in range(n):
        s_mean, s_cov = model.predict(mean[k:k + 1], cov[k:k + 1])
        np.testing.assert_allclose(p_mean[k:k + 1], s_mean, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(p_cov[k:k + 1], s_cov, rtol=1e-10, atol=1e-10)
        s_mean, s_cov = model.update(s_mean, s_cov, measured[k:k + 1])
        np.testing.assert_allclose(u_mean[k:k + 1], s_mean, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(u_cov[k:k + 1], s_cov, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(model.velocity(u_mean), np.concatenate([model.velocity(u_mean[k:k + 1])
                                                                       for k in range(n)]))
