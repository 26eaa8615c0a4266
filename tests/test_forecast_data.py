"""Forecasting windows from real MOT17 and JAAD labels: cutting, the JAAD benchmark, augmentation, features, targets."""

import numpy as np
import pytest
import torch

from conftest import SHARED
from vidtrack.config import TrackerConfig
from vidtrack.datasets import read_clips
from vidtrack.detect.features import GEOMETRY, MOTION
from vidtrack.errors import InputError
from vidtrack.forecast.features import kalman_forecast, window_features
from vidtrack.forecast.kalman import KalmanForecaster
from vidtrack.forecast.lstm import LSTMConfig, TrajectoryLSTM
from vidtrack.structures import Detections
from vidtrack.track.tracker import Tracker
from vidtrack.training.baselines import linear_kalman_forecast
from vidtrack.training.batches import WindowBatches, forecast_loss, make_batch
from vidtrack.training.windows import PAST_FRAMES, TIMES, Augmentation, augment, benchmark_windows, cut_windows

MOT17 = SHARED / "MOT17" / "train"


def sequence(name):
    clip, = read_clips(MOT17 / name)
    return clip


@pytest.fixture(scope="module")
def windows():
    return cut_windows(sequence("MOT17-09-FRCNN"))


def test_windows_follow_the_labels(windows):
    assert len(windows) > 500 and windows.past.shape[1:] == (PAST_FRAMES, 4)
    assert np.isfinite(windows.past[:, -1]).all() and np.isfinite(windows.future[:, -1]).all()
    # The future k / 30 s ahead (k frames at 30 fps) is the labelled box k frames after now.
    from vidtrack.io.motchallenge import read_ground_truth

    gt = read_ground_truth(MOT17 / "MOT17-09-FRCNN" / "gt" / "gt.txt")
    k = 10
    for ahead in (1, 3, 45):
        row = gt[(gt.track_id == windows.track_id[k]) & (gt.frame == windows.frame[k] + ahead)]
        np.testing.assert_allclose(windows.future[k, ahead - 1], row.xyxy[0], atol=1e-4)
    now = gt[(gt.track_id == windows.track_id[k]) & (gt.frame == windows.frame[k])]
    np.testing.assert_allclose(windows.past[k, -1], now.xyxy[0], atol=1e-4)


def test_fractional_times_are_interpolated():
    """At 14 fps, 0.1 s ahead is 1.4 frames: 60 % of frame 1 and 40 % of frame 2."""
    w = cut_windows(sequence("MOT17-05-FRCNN"))
    assert w.fps[0] == 14 and np.isnan(w.past[:, :PAST_FRAMES - 8]).all()  # 0.5 s at 14 fps is 8 frames
    from vidtrack.io.motchallenge import read_ground_truth

    gt = read_ground_truth(MOT17 / "MOT17-05-FRCNN" / "gt" / "gt.txt")
    k = 0
    rows = gt[gt.track_id == w.track_id[k]]
    one, two = (rows[rows.frame == w.frame[k] + d].xyxy[0] for d in (1, 2))
    np.testing.assert_allclose(w.future[k, 2], 0.6 * one + 0.4 * two, atol=1e-3)  # TIMES[2] = 0.1 s


def test_subsampling_halves_the_frame_rate():
    w = cut_windows(sequence("MOT17-09-FRCNN"), subsample=2)
    assert (w.fps == 15).all() and np.isnan(w.past[:, :PAST_FRAMES - 9]).all()


def test_unusable_input_is_refused(tmp_path):
    (tmp_path / "gt").mkdir()
    (tmp_path / "seqinfo.ini").write_text("[Sequence]\nname=x\nframeRate=30\nseqLength=10\nimWidth=640\nimHeight=480\n")
    (tmp_path / "gt" / "gt.txt").write_text("1,1,10,10,20,40,1,1,1.0\n2,1,11,10,20,40,1,1,1.0\n")
    with pytest.raises(InputError, match="no track is long enough"):
        cut_windows(read_clips(tmp_path)[0])
    with pytest.raises(InputError, match="no usable track"):
        cut_windows(read_clips(tmp_path, classes=(2,))[0])


def test_augmentation_moves_past_and_future_together(windows):
    rng = np.random.default_rng(0)
    clean = Augmentation(flip=1.0, scale=0.0, pan_px_s=0.0, jitter=0.0, drop=0.0, fragment=0.0)
    flipped = augment(windows, rng, clean)
    width = windows.image_size[:, :1]
    np.testing.assert_allclose(flipped.future[:, :, 0], width - windows.future[:, :, 2])
    np.testing.assert_allclose(flipped.past[:, -1, 2], width[:, 0] - windows.past[:, -1, 0])
    noisy = augment(windows, rng, Augmentation(drop=0.5))
    assert np.isfinite(noisy.past[:, -1]).all()  # now is never dropped
    assert np.isnan(noisy.past).sum() > np.isnan(windows.past).sum()


def test_features_match_the_tracker(windows):
    """The features of a window are those the tracker stores when it tracks the same boxes, computed by the same
    function over the tracker's filtered boxes."""
    k = int(np.flatnonzero(np.isfinite(windows.past).all(axis=(1, 2)))[0])
    size = tuple(int(v) for v in windows.image_size[k])
    tracker = Tracker(TrackerConfig(motion="kalman"), fps=30.0, image_size=size)
    smoothed = []
    for box in windows.past[k]:
        tracks = tracker.update(Detections(box[None], [1.0], [0]))
        smoothed.append(tracker.tracks[0].smoothed)
    assert len(tracks) == 1  # one track, seen on every frame
    expected = tracker.last_features(tracks.track_id)[0]
    filtered, seen = window_features(np.stack(smoothed)[None], windows.fps[k:k + 1], windows.image_size[k:k + 1])
    assert seen.all()
    np.testing.assert_allclose(filtered[0, -1, GEOMETRY.start:GEOMETRY.start + 6],
                               expected[GEOMETRY.start:GEOMETRY.start + 6], rtol=1e-5)
    np.testing.assert_allclose(filtered[0, -1, MOTION], expected[MOTION], rtol=1e-4, atol=1e-5)
    assert not np.allclose(smoothed[-1], windows.past[k, -1])  # the filter did smooth the boxes


def test_kalman_baseline_matches_the_runtime_forecaster(windows):
    full = windows[np.isfinite(windows.past).all(axis=(1, 2))][:5]
    runtime = KalmanForecaster(45)
    for t in range(PAST_FRAMES):
        future = runtime.step(t, np.arange(5), full.past[:, t], None)
    np.testing.assert_allclose(kalman_forecast(full.past, full.fps, TIMES)[0], future, atol=1e-3)  # 45 frames at 30 fps


def test_jaad_benchmark_windows_and_reference_filter():
    """The published protocol on the val split: 2,815 windows from 153 tracks, and the reference filter's MSE
    195 / 771 / 2082 px² at 0.5 / 1.0 / 1.5 s, C_MSE 1400 and CF_MSE 5434 (the numbers the benchmark's code gives)."""
    from vidtrack.evaluation.forecasting import forecast_metrics

    clips = read_clips(SHARED / "JAAD", split="val")
    parts = [w for w in (benchmark_windows(c) for c in clips) if w is not None]
    w = type(parts[0]).concat(parts)
    assert len(w) == 2815 and len(set(zip(w.sequence.tolist(), w.track_id.tolist()))) == 153
    assert np.isnan(w.past[:, 0]).all() and np.isfinite(w.past[:, 1:]).all() and np.isfinite(w.future).all()
    m = forecast_metrics(linear_kalman_forecast(w.past, 45), w.future, TIMES)
    got = [m["mse_0.5"], m["mse_1.0"], m["mse_1.5"], m["c_mse"], m["cf_mse"]]
    np.testing.assert_allclose(got, [195, 771, 2082, 1400, 5434], atol=0.6)
    tuned = forecast_metrics(linear_kalman_forecast(w.past, 45, q=1.78, r=316.0), w.future, TIMES)
    assert round(tuned["mse_1.5"]) == 1657
    # Windows start every 7 boxes of the track, and the future is the 45 boxes after the 15 observed.
    clip = next(c for c in clips if c.name == w.sequence[0])
    track = next(t for t in clip.tracks if t.track_id == w.track_id[0])
    boxes = track.boxes[track.labelled]
    np.testing.assert_array_equal(w.past[0, 1:], boxes[:15])
    np.testing.assert_array_equal(w.future[1], boxes[22:67])


def test_batches_and_loss(windows):
    batch = make_batch(windows[:64])
    assert batch["features"].shape == (64, PAST_FRAMES, 512) and batch["target"].shape == (64, len(TIMES), 4)
    last = batch["last"]
    assert (batch["features"][torch.arange(64), last].abs().sum(1) > 0).all()  # the last step is an observation
    model = TrajectoryLSTM(LSTMConfig(hidden_size=16))
    loss = forecast_loss(model, batch)
    assert torch.isfinite(loss)
    loss.backward()


def test_training_steps_lower_the_loss(windows):
    torch.manual_seed(0)
    data = WindowBatches(windows, Augmentation(), seed=0)
    model = TrajectoryLSTM(LSTMConfig(hidden_size=32))
    optimizer = torch.optim.AdamW(model.parameters(), 3e-3)
    fixed = make_batch(windows[::4])
    before = forecast_loss(model, fixed).item()
    rng = np.random.default_rng(0)
    for _ in range(30):
        loss = forecast_loss(model, data.collate(list(rng.integers(0, len(windows), 128))))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert forecast_loss(model, fixed).item() < before - 0.1
