"""Appearance ROC: identity labels of detections, the pairs built from them, weights, and the ROC on known cases."""

import numpy as np
import pytest

from vidtrack.evaluation.appearance import balanced_weights, identity_pairs, label_detections, match_rate, roc
from vidtrack.io.motchallenge import GroundTruth


def test_labels_follow_the_best_assignment_and_skip_poor_or_ignored_boxes():
    # Frame 1: two people; detection 0 overlaps both, but person 8 fits detection 1 better. Frame 2: person 9 is
    # ignored (consider 0), so the detection on it stays unlabelled. Frame 3: a box with IoU < 0.5.
    gt = GroundTruth([1, 1, 2, 3], [7, 8, 9, 7], [[0, 0, 10, 10], [4, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]],
                     [True, True, False, True], [1] * 4, [1] * 4)
    xyxy = np.array([[2, 0, 12, 10], [4, 0, 14, 10], [0, 0, 10, 10], [6, 0, 16, 10.0]])
    assert label_detections(np.array([1, 1, 2, 3]), xyxy, gt).tolist() == [7, 8, -1, -1]


def test_pairs_are_within_the_gap_and_know_the_next_sighting():
    frame = np.array([0, 0, 2, 5, 6, 9])
    identity = np.array([1, 2, 1, 1, -1, 1])
    p = identity_pairs(frame, identity, max_gap=3)
    got = sorted(zip(p.first.tolist(), p.second.tolist(), p.same.tolist(), p.next_seen.tolist()))
    # Unlabelled detection 4 takes no part; 0-5 (9 frames) and 2-5 (7) are too far apart; 0-3 is 5 frames apart.
    assert got == [(0, 1, False, False), (0, 2, True, True), (1, 2, False, False), (2, 3, True, True)]
    assert p.gap.tolist() == [0, 2, 2, 3]


def test_weights_make_every_key_count_the_same():
    w = balanced_weights(np.array([1, 1, 1, 2]), np.array([5, 5, 6, 5]))
    assert w.tolist() == [0.5, 0.5, 1.0, 1.0]


def test_roc_of_separated_distances_is_perfect_and_of_reversed_ones_is_zero():
    same, different = np.array([0.01, 0.02, 0.03]), np.array([0.1, 0.2])
    good = roc(same, different)
    assert good.auc == pytest.approx(1.0)
    assert good.at_fmr(0.0) == pytest.approx(0.03)  # every same-person pair matches, no other pair does
    assert good.youden() == pytest.approx(0.03)
    assert roc(different, same).auc == pytest.approx(0.0)


def test_roc_weights_and_ties():
    # Equal distances count half; a weight of 3 on the closer different pair makes 3/4 of the different pairs close.
    assert roc(np.array([0.5]), np.array([0.5])).auc == pytest.approx(0.5)
    r = roc(np.array([0.2]), np.array([0.1, 0.3]), different_weight=np.array([3.0, 1.0]))
    assert r.fmr.tolist() == [0.75, 0.75, 1.0]
    assert r.auc == pytest.approx(0.25)
    assert match_rate(np.array([0.1, 0.3]), 0.2, np.array([3.0, 1.0])) == pytest.approx(0.75)
