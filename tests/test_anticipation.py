"""Anticipating zone entries from forecasts on MOT17-09's labelled people (`vidtrack.evaluation.anticipation`)."""

from itertools import pairwise

import numpy as np
import pytest

from conftest import SHARED, shared_data
from vidtrack.analytics import ZoneCounter
from vidtrack.datasets import read_clips
from vidtrack.evaluation.anticipation import clip_boxes, constant_velocity, kalman, replay, score, summary

pytestmark = shared_data

SEQ = SHARED / "MOT17" / "train" / "MOT17-09-FRCNN"  # a static camera at 30 fps
X0, Y0, X1, Y1 = 600.25, 500.25, 1300.25, 1079.75  # feet lie on whole and half pixels: never on an edge
ZONE = [(X0, Y0), (X1, Y0), (X1, Y1), (X0, Y1)]
FRAMES = 220


@pytest.fixture(scope="module")
def replayed():
    boxes = clip_boxes(read_clips(SEQ)[0])  # frame 0 is empty: MOTChallenge counts from 1
    crossings, anticipations = replay(boxes, 30.0, lambda: [ZoneCounter(ZONE, fps=30.0)],
                                      {"kalman": kalman(30.0), "constant velocity": constant_velocity},
                                      max_frames=FRAMES)
    return boxes[:, :FRAMES], crossings, anticipations


def test_the_entries_are_those_of_the_labelled_feet(replayed):
    boxes, crossings, _ = replayed
    feet = np.stack([(boxes[..., 0] + boxes[..., 2]) / 2, boxes[..., 3]], axis=-1)
    x, y = feet[..., 0], feet[..., 1]
    inside = (x > X0) & (x < X1) & (y > Y0) & (y < Y1)  # feet below the image (boxes cut by it) are outside
    expected = []
    for track in range(len(boxes)):
        seen = np.flatnonzero(np.isfinite(boxes[track, :, 0]))
        expected += [(track, int(b)) for a, b in pairwise(seen) if inside[track, b] and not inside[track, a]]
    entries = sorted((track, frame) for (_, track, direction), frames in crossings.items() if direction == "in"
                     for frame in frames)
    assert entries == sorted(expected) and len(entries) >= 6


@pytest.mark.parametrize("name", ["kalman", "constant velocity"])
def test_entries_are_anticipated_early_and_mostly_right(replayed, name):
    _, crossings, anticipations = replayed
    entries = {k: v for k, v in crossings.items() if k[2] == "in"}
    made = [a for a in anticipations[name] if a[2] == "in"]
    assert all(predicted > frame for _, _, _, frame, predicted, _ in made)  # always ahead of the frame it is made in
    result = summary(score(entries, made, horizon=45, fps=30.0))
    assert result["recall"] >= 0.8  # nearly every entry is foreseen within the 1.5 s before it
    assert result["lead_50"] >= 0.5 and result["precision"] >= 0.6 and result["timing_error"] <= 0.35
    if name == "kalman":  # its time comes with an uncertainty, which covers most errors
        assert all(a[5] is not None and a[5] > 0 for a in made) and result["within_std"] >= 0.5
    else:
        assert np.isnan(result["within_std"])
