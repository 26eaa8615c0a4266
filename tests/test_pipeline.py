"""The Python API as the README shows it."""

from pathlib import Path

import numpy as np
import pytest

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


def test_frames_in_memory_track_as_the_folder_does():
    pipe = Pipeline.from_config(CONFIG, device="cpu", detector__classes=["person"])
    from_folder = list(pipe.run(IMAGES, fps=30.0))
    frames = [result.image for result in from_folder]
    from_memory = list(pipe.run(iter(frames), fps=30.0))
    assert [r.index for r in from_memory] == [0, 1, 2, 3]
    assert len(from_memory[-1].tracks) > 0
    for a, b in zip(from_folder, from_memory):
        np.testing.assert_array_equal(a.tracks.track_id, b.tracks.track_id)
        np.testing.assert_array_equal(a.tracks.forecast, b.tracks.forecast)


def test_vid_stride_processes_every_nth_frame():
    pipe = Pipeline.from_config(CONFIG, device="cpu", detector__classes=["person"], forecast__model="constant_velocity")
    results = list(pipe.run(IMAGES, vid_stride=2))
    assert [r.index for r in results] == [0, 2]
    assert results[1].time_s == pytest.approx(2 / 30)
    # The tracker knows frame 1 passed: a box forecast one frame ahead moves half as far as its last two-frame move.
    tracks = results[1].tracks
    first = results[0].tracks
    kept, now, before = np.intersect1d(tracks.track_id, first.track_id, return_indices=True)
    assert len(kept) >= 5
    two_frame_move = tracks.xyxy[now] - first.xyxy[before]
    one_frame_forecast = tracks.forecast[now, 0] - tracks.xyxy[now]
    np.testing.assert_allclose(one_frame_forecast, two_frame_move / 2, atol=1e-3)


@pytest.mark.parametrize("vid_stride", [0, 1.5])
def test_bad_vid_stride(vid_stride):
    with pytest.raises(ValueError, match="vid_stride must be a whole number of frames"):
        next(Pipeline().run(IMAGES, vid_stride=vid_stride))
