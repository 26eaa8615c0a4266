"""The Python API as the README shows it."""

from pathlib import Path

import numpy as np

from conftest import SHARED
from vidtrack import Pipeline

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "default.yaml"
IMAGES = SHARED / "MOT17" / "train" / "MOT17-02-FRCNN" / "img1"


def test_from_config_streams_results():
    pipe = Pipeline.from_config(CONFIG, device="cpu", detector__classes=["person"], forecast__horizon_s=0.5)
    results = pipe.run(IMAGES)
    first = next(results)  # a generator: the first result arrives before the rest is decoded
    assert first.index == 0 and first.image.shape == (1080, 1920, 3)
    rest = list(results)
    assert [r.index for r in rest] == [1, 2, 3]
    last = rest[-1]
    assert len(last.tracks) > 0 and last.tracks.forecast.shape == (len(last.tracks), 15, 4)
    assert last.tracks.forecast_kind == "lstm"
    # Each track points at the detection it came from.
    np.testing.assert_array_equal(last.tracks.xyxy, last.detections.xyxy[last.tracks.det_index])
    assert set(last.detections.class_id.tolist()) == {0}


def test_the_shipped_lstm_forecasts_in_the_pipeline():
    pipe = Pipeline.from_config(device="cpu", detector__classes=["person"], forecast__model="lstm")
    results = list(pipe.run(IMAGES))
    tracks = results[-1].tracks
    assert tracks.forecast_kind == "lstm" and tracks.forecast.shape == (len(tracks), 45, 4)
    assert np.isfinite(tracks.forecast).all()
