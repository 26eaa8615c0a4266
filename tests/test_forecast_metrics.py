"""Baselines and metrics on windows that can be checked by hand."""

import numpy as np

from vidtrack.evaluation.forecast_report import write_report
from vidtrack.evaluation.forecasting import error_by_horizon, forecast_metrics
from vidtrack.forecast.features import kalman_forecast
from vidtrack.training.baselines import constant_velocity_forecast
from vidtrack.training.windows import TIMES


def moving_window(fps: float, px_per_frame: float = 3.0, frames: int = 16) -> np.ndarray:
    """One box 40x100 px moving right at a constant speed, right-aligned in a 16-frame window."""
    past = np.full((1, 16, 4), np.nan)
    t = np.arange(frames) - (frames - 1)
    past[0, 16 - frames:] = np.stack([100 + px_per_frame * t, 50 + 0 * t, 140 + px_per_frame * t, 150 + 0 * t], 1)
    return past


def test_constant_velocity_extrapolates_exactly():
    for fps, frames in ((30.0, 16), (14.0, 8)):
        past = moving_window(fps, frames=frames)
        future = constant_velocity_forecast(past, np.array([fps]), TIMES)
        np.testing.assert_allclose(future[0, :, 0], 100 + 3 * TIMES * fps, atol=1e-9)  # 3 px per frame
        np.testing.assert_allclose(future[0, :, 1], 50, atol=1e-9)


def test_kalman_follows_a_steady_motion_and_is_uncertain_ahead():
    past = moving_window(30.0)
    boxes, std = kalman_forecast(past, np.array([30.0]), TIMES)
    assert abs(boxes[0, 14, 0] - (100 + 3 * 15)) < 4  # 0.5 s ahead (TIMES[14]), within a few px after 16 frames
    assert (np.diff(std[0, :, 0]) > 0).all()  # uncertainty grows with time ahead
    still = np.full((1, 16, 4), np.nan)
    still[0, -5:] = [10, 10, 50, 110]
    np.testing.assert_allclose(kalman_forecast(still, np.array([30.0]), TIMES)[0][0, -1], [10, 10, 50, 110],
                               atol=1e-6)


def test_metrics_on_a_constant_offset(tmp_path):
    truth = np.zeros((2, len(TIMES), 4))
    truth[..., 2:] = 10.0
    pred = truth + 2.0  # every coordinate 2 px off: centre 2√2 px off, box MSE 4
    truth[1, -1] = np.nan  # unknown final box: left out of the final-step metrics only
    m = forecast_metrics(pred, truth, TIMES, std=np.full_like(pred, 1.5))
    assert m["mse_0.5"] == m["mse_1.5"] == 4.0
    assert np.isclose(m["fde"], 2 * np.sqrt(2)) and np.isclose(m["ade"], 2 * np.sqrt(2))
    assert np.isclose(m["c_mse"], 4.0) and np.isclose(m["fiou"], 64 / 136)
    assert m["calibration_1sigma"] == 0.0 and m["calibration_2sigma"] == 1.0
    np.testing.assert_allclose(error_by_horizon(pred, truth, TIMES), 2 * np.sqrt(2))
    paths = write_report({"a": m, "b": m}, {"a": error_by_horizon(pred, truth, TIMES)}, TIMES, tmp_path)
    assert len(paths["markdown"].read_text().splitlines()) == 4 and paths["plot"].stat().st_size > 1000


def test_calibration_of_exact_gaussians():
    rng = np.random.default_rng(0)
    truth = rng.uniform(0, 100, (20000, len(TIMES), 4))
    std = rng.uniform(1, 5, truth.shape)
    m = forecast_metrics(truth + rng.normal(0, 1, truth.shape) * std, truth, TIMES, std)
    assert abs(m["calibration_1sigma"] - 0.683) < 0.01 and abs(m["calibration_2sigma"] - 0.954) < 0.01
