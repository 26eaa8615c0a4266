"""ForecastingTracker: tracks and forecasts from a detector of the user's own, on MOT17-02's public detections."""

import numpy as np
import pytest

from conftest import SHARED, shared_data
from vidtrack import ForecastingTracker, Pipeline
from vidtrack.config import Config, ForecastConfig, TrackerConfig
from vidtrack.errors import ConfigError
from vidtrack.io.motchallenge import read_detections, read_seqinfo

pytestmark = shared_data

SEQ = SHARED / "MOT17" / "train" / "MOT17-02-FRCNN"
FRAMES = 30


@pytest.fixture(scope="module")
def detections():
    return read_detections(SEQ / "det" / "det.txt")


@pytest.fixture(scope="module")
def seq():
    return read_seqinfo(SEQ / "seqinfo.ini")


def test_forecasts_valid_boxes_for_every_track(detections, seq):
    tracker = ForecastingTracker(fps=seq.fps, image_size=(seq.width, seq.height))
    horizon = round(1.5 * seq.fps)  # forecast.horizon_s at MOT17-02's 30 fps
    for number in range(1, FRAMES + 1):
        tracks = tracker.update(detections[number])
        assert tracks.forecast.shape == (len(tracks), horizon, 4)
        assert tracks.forecast_kind == "lstm"
        forecast = tracks.forecast
        assert np.isfinite(forecast).all()
        assert (forecast[..., 2:] - forecast[..., :2] >= 1.0 - 1e-4).all()  # every box has a positive size
        np.testing.assert_array_equal(tracks.xyxy, detections[number].xyxy[tracks.det_index])
    assert len(tracks) >= 10
    # Forecasts start where the track is: the first future box lies close to the current one.
    shift = np.abs(forecast[:, 0] - tracks.xyxy).max(axis=1)
    assert np.median(shift) < 0.1 * np.median(tracks.xyxy[:, 3] - tracks.xyxy[:, 1])


def test_same_tracks_and_forecasts_as_the_pipeline(detections, seq):
    config = Config(forecast=ForecastConfig(model="constant_velocity"))
    tracker = ForecastingTracker(config, fps=seq.fps, image_size=(seq.width, seq.height))
    pipe = Pipeline(config)
    for number, result in enumerate(pipe.run_detections(SEQ / "det" / "det.txt", SEQ / "seqinfo.ini",
                                                        max_frames=FRAMES), start=1):
        tracks = tracker.update(detections[number], image=result.image)
        np.testing.assert_array_equal(tracks.track_id, result.tracks.track_id)
        np.testing.assert_array_equal(tracks.forecast, result.tracks.forecast)
    assert tracks.forecast_kind == "constant_velocity" and len(tracks) >= 10


@pytest.mark.parametrize(("model", "motion"), [("lstm", "kalman"), ("lstm", "lstm"), ("kalman", "kalman"),
                                               ("constant_velocity", "kalman")])
def test_forecasts_carry_standard_deviations_that_grow_with_time_ahead(detections, seq, model, motion):
    config = Config(forecast=ForecastConfig(model=model), tracker=TrackerConfig(motion=motion))
    tracker = ForecastingTracker(config, fps=seq.fps, image_size=(seq.width, seq.height))
    for number in range(1, 16):
        tracks = tracker.update(detections[number])
    assert len(tracks) >= 10 and tracks.forecast_kind == model
    if model == "constant_velocity":  # a straight line has no model of its errors
        assert tracks.forecast_std is None
        return
    std = tracks.forecast_std
    assert std.shape == tracks.forecast.shape and np.isfinite(std).all() and (std > 0).all()
    assert (np.median(std[:, -1], axis=0) > 2 * np.median(std[:, 0], axis=0)).all()  # 1.5 s ahead: far less sure
    kept = tracks[tracks.score > np.median(tracks.score)]  # selection keeps each std with its track
    np.testing.assert_array_equal(kept.forecast_std, std[tracks.score > np.median(tracks.score)])


def test_tracks_keep_their_ids_through_a_skipped_frame(detections, seq):
    tracker = ForecastingTracker(fps=seq.fps, image_size=(seq.width, seq.height))
    for number in range(1, 11):
        before = tracker.update(detections[number])
    assert len(tracker.update(None)) == 0  # frame 11 not decoded
    after = tracker.update(detections[12])
    assert tracker.tracker.frame == 11
    kept = np.intersect1d(before.track_id, after.track_id)
    assert len(kept) >= 0.8 * len(before)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"fps": 0.0, "image_size": (1920, 1080)}, "fps must be a positive number"),
    ({"fps": 30.0, "image_size": (1920,)}, r"image_size must be the frames' \(width, height\)"),
    ({"fps": 30.0, "image_size": (0, 1080)}, r"image_size must be the frames' \(width, height\)"),
])
def test_bad_settings_name_the_argument(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ForecastingTracker(**kwargs)


def test_the_frame_gives_detections_without_features_their_colour_appearance(detections, seq):
    import cv2

    from vidtrack.detect.colour import DIM
    from vidtrack.detect.features import HAS_APPEARANCE

    with_frames = ForecastingTracker(fps=seq.fps, image_size=(seq.width, seq.height))
    without = ForecastingTracker(fps=seq.fps, image_size=(seq.width, seq.height))
    for number in range(1, 5):  # the frames MOT17-02 ships
        image = cv2.imread(str(SEQ / "img1" / f"{number:06d}.jpg"))
        tracks = with_frames.update(detections[number], image=image)
        blind = without.update(detections[number])
    looks = with_frames.tracker.last_features(tracks.track_id)
    assert len(tracks) >= 5 and (looks[:, HAS_APPEARANCE] == 1).all()
    np.testing.assert_allclose(np.linalg.norm(looks[:, :DIM], axis=1), 1.0, rtol=1e-5)
    assert (without.tracker.last_features(blind.track_id)[:, HAS_APPEARANCE] == 0).all()
