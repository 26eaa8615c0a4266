"""Forecast baselines, metrics and report: hand-checkable windows, then a regression bound on MOT17-09 ground truth."""

import json

import numpy as np

from conftest import SHARED, shared_data
from vidtrack.evaluation.forecast_report import markdown_table, write_report
from vidtrack.evaluation.forecasting import error_by_horizon, forecast_metrics
from vidtrack.forecast.features import kalman_forecast
from vidtrack.io.motchallenge import read_ground_truth
from vidtrack.kalman import KalmanFilterXYAH
from vidtrack.training.baselines import constant_velocity_forecast

TIMES = np.arange(1, 16) * 0.1  # (15,) seconds ahead, PIE: up to 1.5 s
BOX = np.array([100.0, 50.0, 140.0, 150.0])  # 40 x 100 px
GT_09 = SHARED / "MOT17" / "train" / "MOT17-09-FRCNN" / "gt" / "gt.txt"


def moving(fps: float, px_per_s: float = 90.0, length: int = 16) -> np.ndarray:
    """(1, length, 4) window of BOX moving right at `px_per_s`, observed for the last 0.5 s and NaN before."""
    k = np.arange(length) - (length - 1.0)  # frames relative to now
    past = BOX + np.outer(k * px_per_s / fps, [1, 0, 1, 0])  # (length, 4)
    past[-k > round(0.5 * fps)] = np.nan
    return past[None]


# Constant velocity


def test_constant_velocity_is_exact_in_seconds_at_any_frame_rate():
    for fps in (30.0, 14.0, 25.0):
        future = constant_velocity_forecast(moving(fps), np.array([fps]), TIMES)  # (1, 15, 4)
        np.testing.assert_allclose(future[0, 4], BOX + np.array([45, 0, 45, 0]), atol=1e-9)  # 90 px/s for 0.5 s
        np.testing.assert_allclose(future[0, :, 2] - BOX[2], 90 * TIMES, atol=1e-9)


def test_constant_velocity_ignores_padding_gaps_and_observations_older_than_the_window():
    past = moving(30.0)
    padded = np.concatenate([np.full((1, 8, 4), np.nan), past], axis=1)  # (1, 24, 4)
    padded[0, 2] = [900, 900, 950, 990]  # 0.73 s ago: outside window_s = 0.5
    gappy = past.copy()
    gappy[0, [3, 4, 9, 14]] = np.nan  # missed detections; the motion is still a straight line
    expected = constant_velocity_forecast(past, np.array([30.0]), TIMES)
    for other in (padded, gappy):
        np.testing.assert_allclose(constant_velocity_forecast(other, np.array([30.0]), TIMES), expected, atol=1e-9)


def test_single_observations_and_still_boxes_stay_put():
    alone = np.full((1, 16, 4), np.nan)
    alone[0, -1] = BOX
    still = np.tile(BOX, (1, 16, 1))
    for past in (alone, still):
        np.testing.assert_allclose(constant_velocity_forecast(past, np.array([30.0]), TIMES)[0], np.tile(BOX, (15, 1)))
        np.testing.assert_allclose(kalman_forecast(past, np.array([30.0]), TIMES)[0][0], np.tile(BOX, (15, 1)),
                                   atol=1e-6)


# Kalman


def tracker_reference(past: np.ndarray, steps: int) -> np.ndarray:
    """(steps + 1, 4) boxes of one (T, 4) window filtered the tracker's way, then predicted frame by frame."""
    kf = KalmanFilterXYAH()
    mean = cov = None
    for box in past:
        if mean is not None:
            mean, cov = kf.predict(mean, cov)
        if np.isfinite(box).all():
            mean, cov = kf.initiate(box[None]) if mean is None else kf.update(mean, cov, box[None])
    boxes = [kf.to_xyxy(mean)[0]]
    for _ in range(steps):
        mean, cov = kf.predict(mean, cov)
        boxes.append(kf.to_xyxy(mean)[0])
    return np.array(boxes)


def test_kalman_follows_a_steady_motion_in_seconds():
    for fps, tol_px in ((30.0, 2.0), (14.0, 5.0)):  # 16 and 8 observations: the filter's speed still lags a little
        boxes, std = kalman_forecast(moving(fps), np.array([fps]), TIMES)
        assert abs(boxes[0, 4, 0] - (BOX[0] + 45)) < tol_px  # 0.5 s ahead
        speed = (boxes[0, 14, 0] - boxes[0, 4, 0]) / 1.0  # px/s between 0.5 and 1.5 s
        assert 0.85 * 90 < speed <= 90
        np.testing.assert_allclose(boxes[0, :, [1, 3]], BOX[[1, 3], None] + 0 * TIMES, atol=1e-6)
        assert (np.diff(std[0], axis=0) > 0).all()  # uncertainty grows with time ahead


def test_kalman_matches_the_tracker_loop_through_gaps_and_padding():
    past = moving(30.0)
    past[0, [2, 3, 8, 12, 13]] = np.nan
    past[0, 5:] += np.random.default_rng(0).normal(0, 2, (11, 4))  # noisy boxes make every update count
    reference = tracker_reference(past[0], 45)[3::3]  # (15, 4) at 0.1 ... 1.5 s = frames 3 ... 45
    boxes, _ = kalman_forecast(past, np.array([30.0]), TIMES)
    np.testing.assert_allclose(boxes[0], reference, atol=1e-6)
    padded = np.concatenate([np.full((1, 8, 4), np.nan), past], axis=1)  # (1, 24, 4)
    np.testing.assert_allclose(kalman_forecast(padded, np.array([30.0]), TIMES)[0], boxes, atol=1e-9)


def test_kalman_interpolates_between_frames_and_mixed_rates_match_single_calls():
    past = moving(30.0)
    reference = tracker_reference(past[0], 1)  # (2, 4) filtered now and one frame ahead
    boxes, _ = kalman_forecast(past, np.array([30.0]), np.array([0.0, 0.5 / 30]))
    np.testing.assert_allclose(boxes[0], [reference[0], reference.mean(axis=0)], atol=1e-6)
    windows = np.concatenate([moving(14.0), moving(30.0), moving(25.0, px_per_s=-40)])  # (3, 16, 4)
    fps = np.array([14.0, 30.0, 25.0])
    batch_boxes, batch_std = kalman_forecast(windows, fps, TIMES)
    for i in range(3):
        single_boxes, single_std = kalman_forecast(windows[i : i + 1], fps[i : i + 1], TIMES)
        np.testing.assert_allclose(batch_boxes[i], single_boxes[0], atol=1e-9)
        np.testing.assert_allclose(batch_std[i], single_std[0], atol=1e-9)


# Metrics


def shifted(steps: int = 15) -> tuple[np.ndarray, np.ndarray]:
    """Truth 40 x 20 px still; the prediction drifts right by k px at step k = 1 ... 15."""
    future = np.tile([0.0, 0, 40, 20], (1, steps, 1))  # (1, 15, 4)
    pred = future + np.arange(1, steps + 1)[None, :, None] * [1, 0, 1, 0]
    return pred, future


def test_metrics_by_hand():
    pred, future = shifted()
    m = forecast_metrics(pred, future, TIMES)
    k = np.arange(1, 16)
    # box MSE at step k: (k² + 0 + k² + 0) / 4 = k² / 2
    assert np.isclose(m["mse_0.5"], (k[:5] ** 2 / 2).mean()) and np.isclose(m["mse_0.5"], 5.5)
    assert np.isclose(m["mse_1.0"], 19.25) and np.isclose(m["mse_1.5"], 1240 / 15 / 2)
    assert np.isclose(m["ade"], 8.0) and np.isclose(m["fde"], 15.0)  # the centre is k px off
    assert np.isclose(m["fiou"], 25 * 20 / (800 + 800 - 25 * 20))  # 15 px shift of a 40 px wide box
    np.testing.assert_allclose(error_by_horizon(pred, future, TIMES), k)
    assert m["n_windows"] == 1

    offset = np.tile([0.0, 0, 10, 10], (1, 15, 1))
    m = forecast_metrics(offset + 2, offset, TIMES)  # every coordinate 2 px off
    assert m["mse_0.5"] == m["mse_1.0"] == m["mse_1.5"] == 4.0
    assert np.isclose(m["ade"], 2 * np.sqrt(2)) and np.isclose(m["fde"], 2 * np.sqrt(2))
    assert np.isclose(m["fiou"], 64 / 136)


def test_centre_mse_follows_pie():
    pred, future = shifted()
    m = forecast_metrics(pred, future, TIMES)
    # PIE (pie_predict.py): np.square(centres - pred_centres).mean() over windows, steps and the 2 coordinates.
    assert np.isclose(m["c_mse"], 1240 / 15 / 2) and np.isclose(m["cf_mse"], 225 / 2)


def test_unknown_truth_is_left_out():
    pred, future = shifted()
    pred, future = np.concatenate([pred, future]), np.concatenate([future, future])  # window 2 perfect
    future[0, 2] = np.nan  # window 1, step 3 (0.3 s)
    future[1, -1] = np.nan  # window 2, final step: out of fde / fiou / cf_mse only
    m = forecast_metrics(pred, future, TIMES)
    k = np.arange(1, 16)
    assert np.isclose(m["mse_0.5"], (1 + 4 + 16 + 25) / 2 / (4 + 5))  # 4 known steps of window 1, 5 of window 2
    assert np.isclose(m["ade"], (k.sum() - 3) / (14 + 14))
    assert np.isclose(m["fde"], 15.0) and np.isclose(m["fiou"], 5 / 11)
    np.testing.assert_allclose(error_by_horizon(pred, future, TIMES)[[0, 1, 3, 13]], k[[0, 1, 3, 13]] / 2)
    assert np.isclose(error_by_horizon(pred, future, TIMES)[-1], 15.0)


def test_calibration_of_gaussians_and_of_overconfident_ones():
    rng = np.random.default_rng(1)
    future = rng.uniform(0, 500, (20_000, 3, 4))
    std = rng.uniform(0.5, 8, future.shape)
    pred = future + rng.normal(size=future.shape) * std
    m = forecast_metrics(pred, future, TIMES[:3], std=std)
    assert abs(m["calibration_1sigma"] - 0.683) < 0.01 and abs(m["calibration_2sigma"] - 0.954) < 0.01
    m = forecast_metrics(pred, future, TIMES[:3], std=std / 2)  # claims twice the confidence it has
    assert abs(m["calibration_1sigma"] - 0.383) < 0.01 and abs(m["calibration_2sigma"] - 0.683) < 0.01


# Report


def test_write_report(tmp_path):
    pred, future = shifted()
    results = {
        "lstm": forecast_metrics(pred, future, TIMES, std=np.ones_like(pred)),
        "constant_velocity": forecast_metrics(pred, future, TIMES),
        "kalman": forecast_metrics(future, future, TIMES),
    }
    curves = {name: error_by_horizon(pred, future, TIMES) for name in results}
    paths = write_report(results, curves, TIMES, tmp_path / "report")
    assert {p.name for p in paths.values()} == {"metrics.json", "metrics.md", "error_by_horizon.png"}
    assert all(p.is_file() and p.parent == tmp_path / "report" for p in paths.values())
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads(paths["json"].read_text())["results"]["lstm"]["fde"] == 15.0
    table = paths["markdown"].read_text()
    assert table.strip() == markdown_table(results)
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert [r.split("|")[1].strip() for r in rows] == list(results)
    assert "| 15.0 |" in rows[0] and "| 0.0 |" in rows[2]  # FDE in px with 1 decimal


# Real data


def mot17_windows(path, stride: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Windows of a 30 fps ground truth: past (N, 16, 4) all observed (class 1, consider, visibility >= 0.3) and
    future (N, 15, 4) every 3rd of the next 45 frames, all labelled."""
    gt = read_ground_truth(path)
    gt = gt[gt.consider & (gt.class_id == 1)]
    pasts, futures = [], []
    for track_id in np.unique(gt.track_id):
        rows = gt[gt.track_id == track_id]
        boxes = np.full((rows.frame.max() - rows.frame.min() + 1, 4), np.nan)  # (L, 4) by frame
        boxes[rows.frame - rows.frame.min()] = rows.xyxy
        observed = boxes.copy()
        observed[rows.frame - rows.frame.min()] = np.where(rows.visibility[:, None] >= 0.3, rows.xyxy, np.nan)
        nows = np.arange(15, len(boxes) - 45, stride)
        past = observed[nows[:, None] + np.arange(-15, 1)]  # (W, 16, 4)
        future = boxes[nows[:, None] + np.arange(3, 46, 3)]  # (W, 15, 4)
        keep = np.isfinite(past).all(axis=(1, 2)) & np.isfinite(future).all(axis=(1, 2))
        pasts.append(past[keep])
        futures.append(future[keep])
    return np.concatenate(pasts), np.concatenate(futures)


@shared_data
def test_baselines_on_mot17_09():
    past, future = mot17_windows(GT_09)
    fps = np.full(len(past), 30.0)
    cv = forecast_metrics(constant_velocity_forecast(past, fps, TIMES), future, TIMES)
    boxes, std = kalman_forecast(past, fps, TIMES)
    kalman = forecast_metrics(boxes, future, TIMES, std=std)
    still = forecast_metrics(np.repeat(past[:, -1:], 15, axis=1), future, TIMES)
    print(f"\nMOT17-09, {len(past)} windows\ncv {cv}\nkalman {kalman}\nstill {still}")
    assert cv["n_windows"] == kalman["n_windows"] == 445
    # Measured: FDE 108.9 px (cv), 99.9 px (kalman), 211.0 px (standing still); bounds ±10 %.
    assert 98 < cv["fde"] < 120 and 90 < kalman["fde"] < 110
    assert kalman["fde"] < cv["fde"] < 0.6 * still["fde"]
    assert kalman["mse_0.5"] < kalman["mse_1.0"] < kalman["mse_1.5"]
    assert kalman["calibration_2sigma"] > 0.954  # the tracker's noise settings are generous, not overconfident
