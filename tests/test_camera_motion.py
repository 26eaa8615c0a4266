"""Camera-motion compensation: the estimate on a real frame moved by a known warp, its fallbacks, and the tracker
moving its tracks with the camera."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from vidtrack.config import TrackerConfig, load_config
from vidtrack.errors import ConfigError
from vidtrack.kalman import KalmanFilterXYAH
from vidtrack.structures import Detections
from vidtrack.track.camera_motion import CameraMotion, warp_boxes
from vidtrack.track.motion import MOTION_MODELS
from vidtrack.track.tracker import Tracker

CLIP = Path(__file__).resolve().parents[1] / "data" / "car-detection.mp4"


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    """The sample clip's first frame (768 x 432, a street with parked cars and buildings)."""
    capture = cv2.VideoCapture(str(CLIP))
    ok, image = capture.read()
    capture.release()
    assert ok, f"cannot decode {CLIP}"
    return image


def camera_warp(image: np.ndarray, angle_deg: float, scale: float, shift: tuple[float, float] | np.ndarray
                ) -> np.ndarray:
    """The (2, 3) warp of a camera rotating and zooming about the image centre, then panning by `shift`."""
    height, width = image.shape[:2]
    warp = cv2.getRotationMatrix2D((width / 2, height / 2), angle_deg, scale)
    warp[:, 2] += shift
    return warp


def moved(image: np.ndarray, warp: np.ndarray) -> np.ndarray:
    return cv2.warpAffine(image, warp, image.shape[1::-1], borderMode=cv2.BORDER_REFLECT)


def corners(image: np.ndarray) -> np.ndarray:
    height, width = image.shape[:2]
    return np.array([[0, 0], [width, 0], [0, height], [width, height]], dtype=np.float64)


def apply(warp: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ warp[:, :2].T + warp[:, 2]


@pytest.mark.parametrize(("angle_deg", "scale", "shift"), [
    (0.0, 1.0, (7.3, -3.2)),  # a pan
    (1.0, 1.03, (5.0, 2.0)),  # pan, roll and zoom in
    (-0.5, 0.98, (-12.6, 4.4)),  # zoom out
])
def test_recovers_a_known_camera_motion(frame: np.ndarray, angle_deg: float, scale: float,
                                        shift: tuple[float, float]) -> None:
    truth = camera_warp(frame, angle_deg, scale, shift)
    camera = CameraMotion()
    np.testing.assert_array_equal(camera.estimate(frame), np.eye(2, 3))  # the first frame: nothing to compare
    estimate = camera.estimate(moved(frame, truth))
    # Every image corner lands within half a pixel of where the true warp puts it.
    assert np.abs(apply(estimate, corners(frame)) - apply(truth, corners(frame))).max() < 0.5


def test_moving_objects_inside_the_boxes_do_not_count(frame: np.ndarray) -> None:
    """Half the image, given as a detection, moves against the camera; the estimate follows the background."""
    truth = camera_warp(frame, 0.0, 1.0, (6.0, 0.0))
    half = frame.shape[1] // 2
    current = moved(frame, truth)
    current[:, :half] = moved(frame, camera_warp(frame, 0.0, 1.0, (-10.0, 4.0)))[:, :half]
    box = np.array([[0, 0, half + 12, frame.shape[0]]])  # a little wider than the moving part
    camera = CameraMotion()
    camera.estimate(frame, box)
    estimate = camera.estimate(current, box)
    assert np.abs(apply(estimate, corners(frame)) - apply(truth, corners(frame))).max() < 0.5


def test_frames_without_an_estimate_give_the_identity_and_log_once(frame: np.ndarray, caplog) -> None:
    height, width = frame.shape[:2]
    blank = np.zeros_like(frame)
    uniform = np.full_like(frame, 128)
    smaller = cv2.resize(frame, (width // 2, height // 2))
    camera = CameraMotion()
    with caplog.at_level(logging.DEBUG, logger="vidtrack"):
        warps = [camera.estimate(image) for image in (blank, uniform, blank, frame, smaller)]
    for warp in warps:
        np.testing.assert_array_equal(warp, np.eye(2, 3))
    info = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert len(info) == 2, info  # uniform previous frame, then the size change: once each
    assert any("size" in m for m in info) and any("corners" in m for m in info)
    assert [r.levelno for r in caplog.records].count(logging.DEBUG) == 2  # the repeated blank and uniform frames


def test_kalman_state_moves_with_the_camera() -> None:
    kalman = KalmanFilterXYAH()
    mean, cov = kalman.initiate(np.array([[100.0, 200.0, 140.0, 300.0]]))
    mean[0, 4:] = [3.0, 0.0, 0.0, 1.0]  # moving right and growing
    warp = camera_warp(np.zeros((400, 600)), 90.0, 2.0, (10.0, -5.0))  # a quarter turn, twice the size
    moved_mean, moved_cov = kalman.warp(mean, cov, warp)
    np.testing.assert_allclose(moved_mean[0, :2], apply(warp, mean[:, :2])[0])
    np.testing.assert_allclose(moved_mean[0, 2:4], [mean[0, 2], 2 * mean[0, 3]])  # aspect kept, height doubled
    np.testing.assert_allclose(moved_mean[0, 4:], [0.0, -6.0, 0.0, 2.0], atol=1e-9)  # velocity turned and scaled
    np.testing.assert_allclose(moved_cov[0, 0, 0], 4 * cov[0, 1, 1])  # x now spans what y did, twice as far
    np.testing.assert_allclose(moved_cov[0, 3, 3], 4 * cov[0, 3, 3])
    np.testing.assert_allclose(kalman.to_xyxy(moved_mean), warp_boxes(kalman.to_xyxy(mean), warp))


def tracker(camera_motion: str, motion: str, image: np.ndarray) -> Tracker:
    config = dataclasses.replace(TrackerConfig(), camera_motion=camera_motion, motion=motion)
    return Tracker(config, fps=12.5, image_size=image.shape[1::-1])


@pytest.mark.parametrize("motion", list(MOTION_MODELS))
def test_tracker_expects_tracks_where_the_camera_moved_them(frame: np.ndarray, motion: str) -> None:
    """The camera pans 40 px right and 10 px down: with compensation, a lost track is expected 40 px further left and
    10 px higher in the image; without, where it was."""
    shift = np.array([-40.0, -10.0])  # where the content moves in the image
    box = Detections(np.array([[300.0, 150.0, 340.0, 250.0]]), np.array([0.9]), np.array([0]))
    expected, smoothed = {}, {}
    for camera_motion in ("none", "sparse_flow"):
        t = tracker(camera_motion, motion, frame)
        t.update(box, image=frame)
        t.update(None, image=moved(frame, camera_warp(frame, 0.0, 1.0, shift)))
        expected[camera_motion], _ = t.motion.expect(t.tracks, t.frame)
        smoothed[camera_motion] = t.tracks[0].smoothed  # the box the next motion feature is measured from
    np.testing.assert_allclose(expected["sparse_flow"] - expected["none"], [[*shift, *shift]], atol=0.5)
    np.testing.assert_allclose(smoothed["sparse_flow"] - smoothed["none"], [*shift, *shift], atol=0.5)


def test_panning_camera_keeps_the_track(frame: np.ndarray) -> None:
    """A 40 px wide object, still in the world, seen by a camera panning 50 px: its boxes do not overlap, so only
    compensation keeps its id."""
    shift = np.array([-50.0, 0.0])
    box = np.array([[300.0, 150.0, 340.0, 250.0]])
    ids = {}
    for camera_motion in ("none", "sparse_flow"):
        t = tracker(camera_motion, "kalman", frame)
        first = t.update(Detections(box, [0.9], [0]), image=frame)
        second = t.update(Detections(box + np.tile(shift, 2), [0.9], [0]),
                          image=moved(frame, camera_warp(frame, 0.0, 1.0, shift)))
        ids[camera_motion] = (first.track_id.tolist(), second.track_id.tolist())
    assert ids["sparse_flow"] == ([1], [1])
    assert ids["none"] == ([1], [])  # a new, unconfirmed track instead


def test_tracker_without_images_ignores_the_camera(frame: np.ndarray) -> None:
    t = tracker("sparse_flow", "kalman", frame)
    box = Detections(np.array([[300.0, 150.0, 340.0, 250.0]]), np.array([0.9]), np.array([0]))
    assert t.update(box).track_id.tolist() == [1]
    assert t.update(box).track_id.tolist() == [1]


@pytest.mark.parametrize("value", ["orb", "ecc", True, 1])
def test_invalid_camera_motion_is_refused(value: object) -> None:
    with pytest.raises(ConfigError, match=r"tracker\.camera_motion") as error:
        load_config(overrides={"tracker.camera_motion": value})
    assert "\n" not in str(error.value)
