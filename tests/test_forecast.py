"""Tests of the forecasters: the constant-velocity baseline, the LSTM, its per-track state and its checkpoints."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from vidtrack.detect.features import AGE, UNMOVED_ON_FIRST
from vidtrack.errors import WeightsError
from vidtrack.forecast.constant_velocity import ConstantVelocityForecaster, fit_velocity
from vidtrack.forecast.lstm import (
    CHECKPOINT_FORMAT,
    LSTMConfig,
    LSTMForecaster,
    LSTMStep,
    TrajectoryLSTM,
    load_checkpoint,
    save_checkpoint,
)
from vidtrack.structures import FEATURE_DIM

NO_FEATURES = np.zeros((1, FEATURE_DIM), dtype=np.float32)


def box_at(frame: int, speed: float = 2.0) -> np.ndarray:
    return np.array([[100 + speed * frame, 50 + 0.5 * speed * frame, 160 + speed * frame, 200 + 0.5 * speed * frame]])


# --- constant velocity ---


def test_constant_velocity_extrapolates_a_linear_motion_exactly() -> None:
    cv = ConstantVelocityForecaster(horizon=10, window=5)
    assert cv.kind == "constant_velocity" and cv.horizon == 10
    for frame in range(12):
        future = cv.step(frame, np.array([3]), box_at(frame), NO_FEATURES)
    assert future.shape == (1, 10, 4) and future.dtype == np.float32
    last = box_at(11)[0]
    expected = np.stack([last + np.array([2, 1, 2, 1]) * k for k in range(1, 11)])
    np.testing.assert_allclose(future[0], expected, atol=1e-4)


def test_constant_velocity_single_observation_stays_put() -> None:
    cv = ConstantVelocityForecaster(horizon=4, window=5)
    future = cv.step(7, np.array([1]), box_at(7), NO_FEATURES)
    np.testing.assert_allclose(future[0], np.repeat(box_at(7), 4, axis=0), atol=1e-4)


def test_constant_velocity_tracks_are_independent() -> None:
    cv = ConstantVelocityForecaster(horizon=3, window=10)
    for frame in range(5):
        ids = np.array([1, 2]) if frame < 4 else np.array([2, 1, 9])
        boxes = {1: box_at(frame, 2.0)[0], 2: box_at(frame, -3.0)[0], 9: box_at(frame, 5.0)[0]}
        future = cv.step(frame, ids, np.stack([boxes[i] for i in ids.tolist()]), np.zeros((len(ids), FEATURE_DIM)))
    np.testing.assert_allclose(future[0, 0], box_at(5, -3.0)[0], atol=1e-4)  # track 2
    np.testing.assert_allclose(future[1, 2], box_at(7, 2.0)[0], atol=1e-4)  # track 1
    np.testing.assert_allclose(future[2], np.repeat(box_at(4, 5.0), 3, axis=0), atol=1e-4)  # new track 9
    assert cv.step(5, np.zeros(0, dtype=np.int64), np.zeros((0, 4)), np.zeros((0, FEATURE_DIM))).shape == (0, 3, 4)


def test_constant_velocity_forget_drops_state() -> None:
    cv = ConstantVelocityForecaster(horizon=2, window=5)
    for frame in range(4):
        cv.step(frame, np.array([1]), box_at(frame), NO_FEATURES)
    cv.forget([1, 42])  # unknown ids are ignored
    future = cv.step(4, np.array([1]), box_at(100), NO_FEATURES)  # the same id, now a different object
    np.testing.assert_allclose(future[0], np.repeat(box_at(100), 2, axis=0), atol=1e-4)


def test_constant_velocity_uses_only_the_window() -> None:
    cv = ConstantVelocityForecaster(horizon=2, window=3)
    for frame in range(10):
        cv.step(frame, np.array([1]), box_at(frame), NO_FEATURES)
    for frame in range(10, 13):  # the object stops: after `window` frames the old motion is forgotten
        future = cv.step(frame, np.array([1]), box_at(9), NO_FEATURES)
    np.testing.assert_allclose(future[0], np.repeat(box_at(9), 2, axis=0), atol=1e-4)


def test_constant_velocity_drops_observations_older_than_the_window_after_a_gap() -> None:
    cv = ConstantVelocityForecaster(horizon=1, window=5)
    cv.step(0, np.array([1]), box_at(0), NO_FEATURES)
    cv.step(1, np.array([1]), box_at(1), NO_FEATURES)
    future = cv.step(10, np.array([1]), box_at(50), NO_FEATURES)  # frames 0 and 1 are out of the window
    np.testing.assert_allclose(future[0, 0], box_at(50)[0], atol=1e-4)


def test_constant_velocity_handles_missed_frames_inside_the_window() -> None:
    cv = ConstantVelocityForecaster(horizon=2, window=10)
    for frame in (0, 1, 4, 6):  # irregular observations of a linear motion
        future = cv.step(frame, np.array([1]), box_at(frame), NO_FEATURES)
    np.testing.assert_allclose(future[0], np.concatenate([box_at(7), box_at(8)]), atol=1e-4)


def test_fit_velocity_equals_polyfit_per_track() -> None:
    rng = np.random.default_rng(0)
    n, t = 7, 9
    lengths = [1, 2, 3, 5, 9, 4, 6]
    frames = np.zeros((n, t))
    boxes = rng.normal(1000, 300, (n, t, 4))  # padding entries hold large finite values that must be ignored
    valid = np.zeros((n, t), dtype=bool)
    for i, k in enumerate(lengths):
        frames[i, :k] = np.sort(rng.choice(40, size=k, replace=False)) + 100
        boxes[i, :k] = rng.uniform(0, 500, 4) + rng.normal(0, 3, (k, 4)) + rng.uniform(-5, 5, 4) * frames[i, :k, None]
        valid[i, :k] = True
    valid[4] = rng.permutation(valid[4])  # a mask that is not a prefix
    frames[4] = np.arange(t) * 2 + 100
    anchor, velocity = fit_velocity(frames, boxes, valid)
    assert anchor.shape == velocity.shape == (n, 4)
    for i in range(n):
        f, b = frames[i, valid[i]], boxes[i, valid[i]]
        if len(f) == 1:
            np.testing.assert_allclose(velocity[i], 0.0)
            np.testing.assert_allclose(anchor[i], b[0])
            continue
        slope, intercept = np.polyfit(f, b, 1)
        np.testing.assert_allclose(velocity[i], slope, rtol=1e-8, atol=1e-8)
        np.testing.assert_allclose(anchor[i], slope * f.max() + intercept, rtol=1e-8, atol=1e-6)


# --- LSTM model ---


def small_config(**kwargs) -> LSTMConfig:
    return LSTMConfig(**{"hidden_size": 16, "num_layers": 2, "horizon": 6, "fps": 30.0, **kwargs})


def make_model(seed: int = 0, **kwargs) -> TrajectoryLSTM:
    torch.manual_seed(seed)
    return TrajectoryLSTM(small_config(**kwargs)).eval()


def test_lstm_output_shapes_and_positive_std() -> None:
    model = make_model(horizon=45)
    x = torch.randn(3, 7, FEATURE_DIM)
    offsets, log_std, (h, c) = model(x)
    assert offsets.shape == log_std.shape == (3, 7, 45, 4)
    assert h.shape == c.shape == (2, 3, 16)
    std = log_std.exp()
    assert (std > 0).all() and torch.isfinite(std).all()
    _, log_std, _ = model(x * 1e4)  # extreme inputs: the log std is clamped
    assert log_std.min() >= -10 and log_std.max() <= 10


def test_default_lstm_config() -> None:
    config = LSTMConfig()
    assert (config.input_size, config.hidden_size, config.num_layers) == (FEATURE_DIM, 128, 2)
    assert (config.horizon, config.fps) == (45, 30.0)  # every frame of 1.5 s at 30 fps, as the benchmarks score


# --- LSTM forecaster ---


def rows(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    xy = rng.uniform(0, 1000, (n, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(20, 200, (n, 2))], axis=1).astype(np.float32)
    return boxes, rng.normal(0, 1, (n, FEATURE_DIM)).astype(np.float32)


def expected_boxes(model: TrajectoryLSTM, sequence: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The model run once over a track's whole feature sequence: its offsets, in box heights, from the current `box`
    (the model's steps are the stream's frames here). The forecaster replaces each step's age by the time since its
    state started, at 30 fps."""
    sequence = np.array(sequence, dtype=np.float32).reshape(-1, FEATURE_DIM)
    sequence[:, AGE] = np.arange(len(sequence)) / 30.0
    sequence[0, list(UNMOVED_ON_FIRST)] = 0.0  # a state's first step has no previous observation, as in training
    with torch.no_grad():
        offsets, _, _ = model(torch.as_tensor(sequence)[None])
    return box + offsets[0, -1].numpy() * (box[3] - box[1])


def test_lstm_forecaster_carries_state_between_frames() -> None:
    model = make_model()
    forecaster = LSTMForecaster(model, horizon=6, fps=30.0)
    assert forecaster.kind == "lstm"
    rng = np.random.default_rng(1)
    features = []
    for frame in range(3):
        boxes, f = rows(rng, 2)
        features.append(f)
        future = forecaster.step(frame, np.array([5, 8]), boxes, f)
    assert future.shape == (2, 6, 4) and future.dtype == np.float32
    for k in range(2):
        sequence = np.stack([f[k] for f in features])  # (3, 512)
        np.testing.assert_allclose(future[k], expected_boxes(model, sequence, boxes[k]), rtol=1e-4,
                                   atol=1e-3)
    # Running without the carried state gives something else: the test above depends on the state.
    fresh = LSTMForecaster(model, horizon=6, fps=30.0).step(2, np.array([5, 8]), boxes, features[-1])
    assert not np.allclose(fresh, future, atol=1e-3)


def test_lstm_forecaster_unobserved_tracks_keep_their_state() -> None:
    model = make_model()
    forecaster = LSTMForecaster(model, horizon=6, fps=30.0)
    rng = np.random.default_rng(2)
    seen = {1: [], 2: []}
    schedule = [[1, 2], [2], [2], [1, 2]]  # track 1 is missed on frames 1 and 2
    for frame, ids in enumerate(schedule):
        boxes, f = rows(rng, len(ids))
        for k, i in enumerate(ids):
            seen[i].append(f[k])
        future = forecaster.step(frame, np.array(ids), boxes, f)
    for k, i in enumerate(schedule[-1]):
        np.testing.assert_allclose(future[k], expected_boxes(model, np.stack(seen[i]), boxes[k]),
                                   rtol=1e-4, atol=1e-3)
    assert len(seen[1]) == 2 and len(seen[2]) == 4


def test_lstm_forecaster_forget_resets_a_track() -> None:
    model = make_model()
    forecaster = LSTMForecaster(model, horizon=6, fps=30.0)
    rng = np.random.default_rng(3)
    for frame in range(3):
        boxes, f = rows(rng, 1)
        forecaster.step(frame, np.array([4]), boxes, f)
    forecaster.forget([4, 99])
    boxes, f = rows(rng, 1)
    future = forecaster.step(3, np.array([4]), boxes, f)
    np.testing.assert_allclose(future[0], expected_boxes(model, f, boxes[0]), rtol=1e-4, atol=1e-3)
    empty = forecaster.step(4, np.zeros(0, dtype=np.int64), np.zeros((0, 4)), np.zeros((0, FEATURE_DIM)))
    assert empty.shape == (0, 6, 4)


def test_lstm_forecaster_resamples_to_the_stream_rate() -> None:
    model = make_model(horizon=8, fps=30.0)
    rng = np.random.default_rng(4)
    boxes, f = rows(rng, 3)
    full = LSTMForecaster(model, horizon=8, fps=30.0).step(0, np.arange(3), boxes, f)
    half = LSTMForecaster(model, horizon=4, fps=15.0).step(0, np.arange(3), boxes, f)
    # At 15 fps, stream step k is 2k / 30 s ahead: the model's step 2k.
    np.testing.assert_allclose(half, full[:, 1::2], rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize(("horizon", "fps"), [(7, 30.0), (5, 20.0), (100, 60.0)])
def test_lstm_forecaster_refuses_a_longer_horizon(horizon: int, fps: float) -> None:
    model = make_model(horizon=6, fps=30.0)  # 0.2 s ahead
    with pytest.raises(WeightsError, match=re.escape("lower forecast.horizon_s")):
        LSTMForecaster(model, horizon=horizon, fps=fps)


@pytest.mark.parametrize(("horizon", "fps"), [(6, 30.0), (4, 20.0), (1, 5.0)])
def test_lstm_forecaster_accepts_a_horizon_within_the_model(horizon: int, fps: float) -> None:
    forecaster = LSTMForecaster(make_model(horizon=6, fps=30.0), horizon=horizon, fps=fps)
    boxes, f = rows(np.random.default_rng(5), 2)
    assert forecaster.step(0, np.array([1, 2]), boxes, f).shape == (2, horizon, 4)


# --- checkpoints ---


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    return save_checkpoint(make_model(seed=7), tmp_path / "ckpt", extra={"trained_on": "synthetic"})


def test_checkpoint_round_trip(checkpoint: Path) -> None:
    assert sorted(p.name for p in checkpoint.iterdir()) == ["config.json", "model.safetensors"]  # no partial files
    meta = json.loads((checkpoint / "config.json").read_text())
    assert meta["format"] == CHECKPOINT_FORMAT and meta["trained_on"] == "synthetic"
    original = make_model(seed=7)
    loaded = load_checkpoint(checkpoint)
    assert loaded.config == original.config and not loaded.training
    x = torch.randn(2, 5, FEATURE_DIM)
    with torch.no_grad():
        for a, b in zip(original(x)[:2], loaded(x)[:2]):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
    rng = np.random.default_rng(6)
    boxes, f = rows(rng, 3)
    np.testing.assert_array_equal(LSTMForecaster(original, horizon=6, fps=30.0).step(0, np.arange(3), boxes, f),
                                  LSTMForecaster(loaded, horizon=6, fps=30.0).step(0, np.arange(3), boxes, f))


def test_checkpoint_is_overwritten_in_place(checkpoint: Path) -> None:
    save_checkpoint(make_model(seed=8), checkpoint)
    x = torch.randn(1, 2, FEATURE_DIM)
    with torch.no_grad():
        torch.testing.assert_close(load_checkpoint(checkpoint)(x)[0], make_model(seed=8)(x)[0], rtol=0, atol=0)


def edit_config(folder: Path, **changes) -> None:
    meta = json.loads((folder / "config.json").read_text())
    for key, value in changes.items():
        if key in meta["config"]:
            meta["config"][key] = value
        else:
            meta[key] = value
    (folder / "config.json").write_text(json.dumps(meta))


def test_checkpoint_of_the_kalman_residual_format_is_refused(checkpoint: Path) -> None:
    edit_config(checkpoint, format=1)
    with pytest.raises(WeightsError, match="retrain it"):
        load_checkpoint(checkpoint)


def test_checkpoint_newer_format_is_refused(checkpoint: Path) -> None:
    edit_config(checkpoint, format=CHECKPOINT_FORMAT + 1)
    with pytest.raises(WeightsError, match="newer than this vidtrack reads"):
        load_checkpoint(checkpoint)


@pytest.mark.parametrize("version", ["two", None])
def test_checkpoint_unreadable_format_is_refused(checkpoint: Path, version) -> None:
    edit_config(checkpoint, format=version)
    with pytest.raises(WeightsError, match=r"config\.json: not a vidtrack forecaster config"):
        load_checkpoint(checkpoint)


def test_checkpoint_other_architecture_is_refused(checkpoint: Path) -> None:
    edit_config(checkpoint, architecture="TrajectoryGRU")
    with pytest.raises(WeightsError, match="TrajectoryGRU"):
        load_checkpoint(checkpoint)


@pytest.mark.parametrize(("key", "value"), [("hidden_size", 32), ("num_layers", 1), ("horizon", 7),
                                            ("input_size", 256)])
def test_checkpoint_config_that_does_not_fit_the_weights_is_refused(checkpoint: Path, key: str, value: int) -> None:
    edit_config(checkpoint, **{key: value})
    with pytest.raises(WeightsError, match="do not fit the architecture"):
        load_checkpoint(checkpoint)


@pytest.mark.parametrize("name", ["config.json", "model.safetensors"])
def test_checkpoint_missing_file_is_refused(checkpoint: Path, name: str) -> None:
    (checkpoint / name).unlink()
    with pytest.raises(WeightsError, match=re.escape(f"{name}: missing")):
        load_checkpoint(checkpoint)


def test_checkpoint_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="missing"):
        load_checkpoint(tmp_path / "nowhere")


@pytest.mark.parametrize("garbage", [b"garbage", b"\x00" * 100, b"\xff" * 64, (8).to_bytes(8, "little") + b'{"a": 1}'])
def test_checkpoint_garbage_weights_are_refused(checkpoint: Path, garbage: bytes) -> None:
    (checkpoint / "model.safetensors").write_bytes(garbage)
    with pytest.raises(WeightsError, match=re.escape("model.safetensors: unreadable")):
        load_checkpoint(checkpoint)


def test_checkpoint_truncated_weights_are_refused(checkpoint: Path) -> None:
    data = (checkpoint / "model.safetensors").read_bytes()
    (checkpoint / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match=re.escape("model.safetensors")):
        load_checkpoint(checkpoint)


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"format": 2}', '{"format": 2, "architecture": '
                                  '"TrajectoryLSTM", "config": {"hidden_size": 16, "dropouts": 0.1}}'])
def test_checkpoint_bad_config_json_is_refused(checkpoint: Path, text: str) -> None:
    (checkpoint / "config.json").write_text(text)
    with pytest.raises(WeightsError, match=re.escape("config.json: not a vidtrack forecaster config")):
        load_checkpoint(checkpoint)


def test_lstm_forecasts_depend_only_on_the_last_half_second() -> None:
    """States restart after 0.5 s of frames (as in training windows): older features no longer matter."""
    model = make_model(horizon=6, fps=30.0)
    rng = np.random.default_rng(5)
    boxes = [rows(rng, 1)[0] for _ in range(40)]
    recent = rng.normal(0, 1, (40, FEATURE_DIM)).astype(np.float32)
    older = recent.copy()
    older[:20] = rng.normal(0, 1, (20, FEATURE_DIM))  # a different distant past
    a, b = LSTMForecaster(model, horizon=6, fps=30.0), LSTMForecaster(model, horizon=6, fps=30.0)
    for frame in range(40):
        fa = a.step(frame, np.array([1]), boxes[frame], recent[frame][None])
        fb = b.step(frame, np.array([1]), boxes[frame], older[frame][None])
    assert a.memory == 16
    np.testing.assert_allclose(fa, fb, rtol=1e-5)


@pytest.mark.parametrize("preset", ["pedestrians-fixed-camera", "pedestrians-dashcam"])
def test_presets_are_shipped_with_a_model_card(preset: str) -> None:
    from vidtrack.forecast import PRESETS, default_checkpoint

    folder = default_checkpoint(preset)
    assert preset in PRESETS and (folder / "MODEL_CARD.md").is_file()
    assert load_checkpoint(folder).config.horizon == 45
    assert default_checkpoint(None) == default_checkpoint("pedestrians-fixed-camera")
    with pytest.raises(WeightsError, match="nor a preset"):
        default_checkpoint("pedestrians-on-mars")  # neither a preset nor a folder


def test_the_shipped_forecaster_loads_and_predicts() -> None:
    from vidtrack.forecast import Forecaster

    fc = Forecaster.load()
    history = np.full((3, 12, 4), np.nan)
    history[:, 4:] = np.array([100.0, 200, 140, 300]) + np.arange(8)[:, None] * np.array([4.0, 0, 4, 0])
    future, std = fc.predict(history, fps=30.0, image_size=(1920, 1080), horizon_s=1.5)
    assert future.shape == std.shape == (3, 45, 4) and (std > 0).all()
    centre_x = (future[0, :, 0] + future[0, :, 2]) / 2
    assert centre_x[-1] > centre_x[0] > 120  # it keeps moving right, as the history did
    with pytest.raises(ValueError, match="exceeds"):
        fc.predict(history, fps=30.0, image_size=(1920, 1080), horizon_s=3.0)


@pytest.mark.parametrize("motion_only", [True, False])
def test_single_step_equals_the_lstm(motion_only: bool) -> None:
    torch.manual_seed(0)
    model = TrajectoryLSTM(LSTMConfig(motion_only=motion_only)).eval()
    x = torch.randn(5, 3, FEATURE_DIM)
    offsets, log_std, _ = model(x)
    state = (torch.zeros(2, 5, 128), torch.zeros(2, 5, 128))
    step = LSTMStep(model)
    with torch.no_grad():
        for t in range(3):
            o, s, state = step(x[:, t, step.columns], state)
            torch.testing.assert_close(o, offsets[:, t], rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(s, log_std[:, t], rtol=1e-5, atol=1e-5)


def test_crossed_forecast_corners_become_a_valid_box():
    from vidtrack.forecast.base import MIN_SIZE, valid_boxes

    boxes = np.array([[[169.55, 483.92, 142.19, 523.51], [10, 20, 30, 40]]], dtype=np.float32)  # one from the demo
    fixed = valid_boxes(boxes)
    assert fixed.dtype == np.float32 and (fixed[..., 2:] >= fixed[..., :2]).all()
    np.testing.assert_allclose(fixed[0, 0], [155.87 - MIN_SIZE / 2, 483.92, 155.87 + MIN_SIZE / 2, 523.51], atol=1e-2)
    np.testing.assert_array_equal(fixed[0, 1], boxes[0, 1])  # a valid box is left as it is
