"""Regression baseline: vidtrack's identity metrics on MOT17-02's real detections must not drop.

`tests/baselines/mot17-02.json` holds the numbers `scripts/compare_trackers.py --write-baseline` measured; a change
that loses more than 0.5 point of HOTA or IDF1 fails here. Raise the baseline when a change improves them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import SHARED, shared_data
from vidtrack.config import load_config
from vidtrack.evaluation.tracking import evaluate_tracking
from vidtrack.io.motchallenge import MOTWriter
from vidtrack.pipeline import Pipeline

MOT17_02 = SHARED / "MOT17" / "train" / "MOT17-02-FRCNN"
BASELINE = json.loads((Path(__file__).parent / "baselines" / "mot17-02.json").read_text())
TOLERANCE = 0.5  # points of HOTA or IDF1


@shared_data
@pytest.mark.parametrize("motion", ["kalman", "lstm"])
def test_identity_metrics_do_not_drop(motion: str, tmp_path: Path) -> None:
    pipeline = Pipeline(load_config(overrides={"tracker.motion": motion}))
    with MOTWriter(tmp_path / f"{MOT17_02.name}.txt") as writer:
        for result in pipeline.run_detections(MOT17_02 / "det" / "det.txt", MOT17_02 / "seqinfo.ini"):
            writer.write(result.index + 1, result.tracks)
    scores = evaluate_tracking(gt=MOT17_02, results=writer.path).sequences[MOT17_02.name]
    baseline = BASELINE["vidtrack-" + motion]
    for metric in ("HOTA", "IDF1"):
        assert scores[metric] >= baseline[metric] - TOLERANCE, f"{metric} fell from {baseline[metric]:.2f}"
