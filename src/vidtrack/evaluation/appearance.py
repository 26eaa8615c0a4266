"""Does an appearance embedding tell people apart? Detections labelled with ground-truth identities, pairs of them
(the same person some frames apart, different people nearby in time) and the ROC of a distance over those pairs.

A pair "matches" when its distance is at most a threshold, as in the tracker (`tracker.appearance_thresh`): the true
match rate (TMR) is the share of same-person pairs that match, the false match rate (FMR) the share of
different-person pairs that do. Pairs carry weights, so that a person seen for long, or two people who walk side by
side for long, do not outweigh the rest (`balanced_weights`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from vidtrack.io.motchallenge import GroundTruth
from vidtrack.track.matching import box_iou


def label_detections(frame: np.ndarray, xyxy: np.ndarray, gt: GroundTruth, *, min_iou: float = 0.5) -> np.ndarray:
    """(N,) ground-truth id of each detection, -1 where none: per frame, the Hungarian assignment on IoU between the
    detections and the ground-truth rows that count (`consider`), pairs with IoU >= `min_iou` kept.

    `frame` is in the numbering of `gt.frame`.

    >>> gt = GroundTruth([1, 1], [7, 8], [[0, 0, 10, 10], [20, 0, 10, 10]], [True, True], [1, 1], [1, 1])
    >>> label_detections(np.array([1, 1, 2]), np.array([[21, 0, 31, 10], [50, 0, 60, 10], [0, 0, 10, 10.0]]), gt)
    array([ 8, -1, -1])
    """
    gt = gt[gt.consider]
    ids = np.full(len(frame), -1, dtype=np.int64)
    for f in np.intersect1d(frame, gt.frame):
        rows, truth = np.flatnonzero(frame == f), gt[gt.frame == f]
        iou = box_iou(xyxy[rows], truth.xyxy)
        r, c = linear_sum_assignment(-iou)
        keep = iou[r, c] >= min_iou
        ids[rows[r[keep]]] = truth.track_id[c[keep]]
    return ids


@dataclass(frozen=True)
class Pairs:
    """Pairs of labelled detections `first`, `second` (row indices, frame[first] <= frame[second])."""

    first: np.ndarray  # (P,) int64
    second: np.ndarray  # (P,) int64
    same: np.ndarray  # (P,) bool: the same person
    gap: np.ndarray  # (P,) int64 frames between the two
    next_seen: np.ndarray  # (P,) bool: same person, and `second` is the first detection of them after `first`


def identity_pairs(frame: np.ndarray, identity: np.ndarray, max_gap: int) -> Pairs:
    """Every pair of detections with an identity (>= 0) at most `max_gap` frames apart; in the same frame, only pairs
    of different people (one person has one detection per frame).

    >>> p = identity_pairs(np.array([0, 0, 1, 3]), np.array([1, 2, 1, 1]), max_gap=2)
    >>> p.first.tolist(), p.second.tolist(), p.same.tolist(), p.next_seen.tolist()
    ([0, 0, 1, 2], [1, 2, 2, 3], [False, True, False, True], [False, True, False, True])
    """
    rows = np.flatnonzero(identity >= 0)
    rows = rows[np.argsort(frame[rows], kind="stable")]
    f = frame[rows]
    # Pair each row with the rows after it (in frame order) up to `max_gap` frames later.
    end = np.searchsorted(f, f + max_gap, side="right")
    count = end - np.arange(len(f)) - 1
    i = np.repeat(np.arange(len(f)), count)
    j = i + 1 + np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    a, b = rows[i], rows[j]
    same = identity[a] == identity[b]
    keep = (frame[a] != frame[b]) | ~same
    a, b, same = a[keep], b[keep], same[keep]
    # The next detection of each person: rows sorted by identity then frame, each followed by its successor.
    order = np.lexsort((frame[rows], identity[rows]))
    by_person = rows[order]
    successor = np.full(len(frame), -1, dtype=np.int64)
    follows = identity[by_person[1:]] == identity[by_person[:-1]]
    successor[by_person[:-1][follows]] = by_person[1:][follows]
    return Pairs(a, b, same, frame[b] - frame[a], same & (successor[a] == b))


def balanced_weights(*keys: np.ndarray) -> np.ndarray:
    """(P,) weight 1 / (number of pairs with the same key): every key value weighs the same in total.

    >>> balanced_weights(np.array([3, 3, 5])).tolist()
    [0.5, 0.5, 1.0]
    """
    _, inverse, counts = np.unique(np.stack(keys, axis=1), axis=0, return_inverse=True, return_counts=True)
    return 1.0 / counts[inverse.reshape(-1)]


@dataclass(frozen=True)
class ROC:
    """Match rates at every threshold: a pair matches when its distance <= threshold."""

    threshold: np.ndarray  # (K,) increasing distances
    tmr: np.ndarray  # (K,) weighted share of same-person pairs that match
    fmr: np.ndarray  # (K,) weighted share of different-person pairs that match

    @property
    def auc(self) -> float:
        """Area under the curve of TMR over FMR, from (0, 0) to (1, 1): the chance that a random same-person pair is
        closer than a random different-person pair (ties count half)."""
        fmr, tmr = np.r_[0.0, self.fmr, 1.0], np.r_[0.0, self.tmr, 1.0]
        return float(np.sum(np.diff(fmr) * (tmr[1:] + tmr[:-1]) / 2))

    def at_fmr(self, max_fmr: float) -> float:
        """The largest threshold whose false match rate is at most `max_fmr` (0 when none is)."""
        ok = self.fmr <= max_fmr
        return float(self.threshold[ok][-1]) if ok.any() else 0.0

    def youden(self) -> float:
        """The threshold with the largest TMR - FMR (Youden's J)."""
        return float(self.threshold[np.argmax(self.tmr - self.fmr)])


def roc(same: np.ndarray, different: np.ndarray, same_weight: np.ndarray | None = None,
        different_weight: np.ndarray | None = None) -> ROC:
    """The ROC of distances of same-person and different-person pairs, at every distinct distance.

    >>> r = roc(np.array([0.1, 0.2]), np.array([0.15, 0.3]))
    >>> r.threshold.tolist(), r.tmr.tolist(), r.fmr.tolist(), r.auc
    ([0.1, 0.15, 0.2, 0.3], [0.5, 0.5, 1.0, 1.0], [0.0, 0.5, 0.5, 1.0], 0.75)
    """
    threshold = np.unique(np.concatenate([same, different]))
    return ROC(threshold, match_rate(same, threshold, same_weight), match_rate(different, threshold, different_weight))


def match_rate(distance: np.ndarray, threshold: np.ndarray | float, weight: np.ndarray | None = None) -> np.ndarray:
    """Weighted share of `distance` at most each `threshold`."""
    weight = np.ones(len(distance)) if weight is None else weight
    order = np.argsort(distance)
    cumulative = np.r_[0.0, np.cumsum(weight[order])]
    return cumulative[np.searchsorted(distance[order], threshold, side="right")] / cumulative[-1]
