"""ByteTrack-style multi-object tracking with a pluggable motion model, appearance, and per-track feature buffers."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import Enum

import numpy as np
from scipy.stats import chi2

from vidtrack.config import TrackerConfig
from vidtrack.detect.features import APPEARANCE, GEOMETRY, HAS_APPEARANCE, POSITION, geometry_features, set_motion
from vidtrack.kalman import KalmanFilterXYAH
from vidtrack.structures import FEATURE_DIM, Detections, Tracks
from vidtrack.track.camera_motion import CameraMotion, warp_boxes
from vidtrack.track.matching import appearance_cost, box_iou, iou_cost, linear_assignment, mahalanobis_sq
from vidtrack.track.motion import KalmanMotion, MotionModel

MEASUREMENT_STD = 1 / 20  # a detection's corner error in box heights, as the Kalman filter assumes


class TrackState(Enum):
    NEW = "new"  # seen once, not yet reported: a single detection may be a false positive
    CONFIRMED = "confirmed"  # matched in consecutive frames, reported
    LOST = "lost"  # unmatched for up to `track_buffer_s`, predicted forward, can be re-associated
    REMOVED = "removed"


@dataclass(eq=False)
class Track:
    """One object's state; the tracker updates many at once."""

    track_id: int
    mean: np.ndarray  # (8,) Kalman state: centre x, centre y, aspect, height and their velocities per frame
    covariance: np.ndarray  # (8, 8)
    xyxy: np.ndarray  # (4,) last observed box
    score: float
    class_id: int
    start_frame: int
    last_frame: int
    features: deque  # (512,) vectors of the frames where the track was observed, oldest first
    frames: deque  # frame index of each entry in `features`
    state: TrackState = TrackState.NEW
    det_index: int = -1
    hits: int = field(default=1)
    appearance: np.ndarray | None = None  # (448,) unit-norm running mean of the observed appearance vectors
    smoothed: np.ndarray | None = None  # (4,) the Kalman filter's box after the last observation: what the LSTM reads


def make_motion(config: TrackerConfig, fps: float) -> MotionModel:
    """The motion model named in the tracker config."""
    if config.motion == "lstm":
        from vidtrack.track.lstm_motion import LSTMMotion

        return LSTMMotion.load(config.motion_checkpoint, fps=fps)
    return KalmanMotion()


class Tracker:
    """Links detections across frames into tracks.

    Association runs in passes, as in ByteTrack (Zhang et al., ECCV 2022): confident detections first, then
    low-score ones (often occluded objects) for the tracks still unmatched. Each pass solves an optimal assignment on
    the IoU with the box the motion model expects. Where the detections carry appearance, a similar look can stand in
    for a low IoU (as in BoT-SORT), but only inside the gate that the motion model's uncertainty sets around the
    expected box: near the forecast, the further the longer a track has been lost.

    Example:
        >>> tracker = Tracker(TrackerConfig(), fps=30.0, image_size=(1920, 1080))
        >>> tracks = tracker.update(detections)        # once per frame; `None` or empty on frames with no detections
        >>> tracks = tracker.update(detections, image=frame)   # camera_motion: sparse_flow reads the frames
        >>> tracks.track_id, tracks.det_index
    """

    def __init__(
        self, config: TrackerConfig, *, fps: float, image_size: tuple[int, int], motion: MotionModel | None = None
    ) -> None:
        self.config = config
        self.fps = fps
        self.image_size = image_size
        self.kalman = KalmanFilterXYAH()  # every track's state, whatever the motion model
        self.motion = motion if motion is not None else make_motion(config, fps)
        self.camera = CameraMotion() if config.camera_motion == "sparse_flow" else None
        self.gate = float(chi2.ppf(config.gate_confidence, df=4))
        self.max_lost_frames = round(config.track_buffer_s * fps)
        self.buffer_frames = max(1, round(config.feature_buffer_s * fps))
        self.frame = -1
        self.tracks: list[Track] = []  # NEW, CONFIRMED and LOST tracks
        self.removed_ids: list[int] = []  # ids removed in the last update
        self._next_id = 1

    def update(self, detections: Detections | None, *, image: np.ndarray | None = None) -> Tracks:
        """Advance one frame and return the confirmed tracks observed in it. With `camera_motion` on, `image` (the
        frame, BGR) tells how the camera moved since the last image; without one, the camera counts as still."""
        cfg = self.config
        self.frame += 1
        self.removed_ids = []
        dets = detections if detections is not None else Detections.empty()
        if dets.features is None:
            dets = Detections(dets.xyxy, dets.score, dets.class_id,
                              geometry_features(dets.xyxy, dets.score, self.image_size))
        for track in self.tracks:
            track.det_index = -1
        if self.camera is not None and image is not None:
            self._follow_camera(self.camera.estimate(image, dets.xyxy))
        self._predict(self.tracks)

        high = np.flatnonzero(dets.score >= cfg.track_high_thresh)
        low = np.flatnonzero((dets.score > cfg.track_low_thresh) & (dets.score < cfg.track_high_thresh))
        confirmed = [t for t in self.tracks if t.state != TrackState.NEW]
        unconfirmed = [t for t in self.tracks if t.state == TrackState.NEW]

        # 1. Confirmed and lost tracks against confident detections.
        scores = dets.score[high] if cfg.fuse_score else None
        matched, rest_tracks, rest_high = self._associate(confirmed, dets, high, cfg.match_thresh, scores)
        # 2. Tracks still unmatched (not the lost ones) against low-score detections.
        seen = [t for t in rest_tracks if t.state == TrackState.CONFIRMED]
        matched_low, still_unmatched, _ = self._associate(seen, dets, low, cfg.second_match_thresh, None)
        for track in still_unmatched:
            track.state = TrackState.LOST
        # 3. New tracks from the last frame against the confident detections left.
        scores = dets.score[rest_high] if cfg.fuse_score else None
        matched_new, stale, rest_high = self._associate(unconfirmed, dets, rest_high, cfg.unconfirmed_match_thresh,
                                                        scores)
        for track in stale:
            track.state = TrackState.REMOVED
        self._observe(matched + matched_low + matched_new, dets)

        # 4. Start tracks from confident detections nobody claimed.
        starters = rest_high[dets.score[rest_high] >= cfg.new_track_thresh]
        self.tracks.extend(self._start(dets, starters))
        observed = [t for t in self.tracks if t.last_frame == self.frame]
        if observed:  # one call for all the tracks observed in this frame
            self.motion.observe(observed, self.frame, np.stack([t.features[-1] for t in observed]))

        for track in self.tracks:
            if track.state == TrackState.LOST and self.frame - track.last_frame > self.max_lost_frames:
                track.state = TrackState.REMOVED
        self._remove_duplicates()
        self.removed_ids = [t.track_id for t in self.tracks if t.state == TrackState.REMOVED]
        self.motion.forget(self.removed_ids)
        self.tracks = [t for t in self.tracks if t.state != TrackState.REMOVED]
        return self._report()

    def _remove_duplicates(self) -> None:
        """A lost track whose box lies on a seen track's (IoU > 0.85) is the same object twice: the younger of the two
        goes (ByteTrack), so that it cannot take the object's detections later."""
        seen = [t for t in self.tracks if t.state == TrackState.CONFIRMED]
        lost = [t for t in self.tracks if t.state == TrackState.LOST]
        if not seen or not lost:
            return
        boxes = lambda tracks: self.kalman.to_xyxy(np.stack([t.mean for t in tracks]))  # noqa: E731
        for i, j in zip(*np.nonzero(box_iou(boxes(seen), boxes(lost)) > 0.85)):
            a, b = seen[i], lost[j]
            younger = a if self.frame - a.start_frame <= self.frame - b.start_frame else b
            younger.state = TrackState.REMOVED

    def _follow_camera(self, warp: np.ndarray) -> None:
        """Move every track by the camera's (2, 3) warp from the previous frame, so that its state, its filtered box
        and the motion model's expectations hold the object's own motion only."""
        self.motion.follow_camera(warp)
        if not self.tracks:
            return
        mean, cov = self.kalman.warp(np.stack([t.mean for t in self.tracks]),
                                     np.stack([t.covariance for t in self.tracks]), warp)
        smoothed = warp_boxes(np.stack([t.smoothed for t in self.tracks]), warp)
        for track, m, c, box in zip(self.tracks, mean, cov, smoothed):
            track.mean, track.covariance, track.smoothed = m, c, box

    def _predict(self, tracks: list[Track]) -> None:
        if not tracks:
            return
        mean = np.stack([t.mean for t in tracks])
        lost = np.array([t.state == TrackState.LOST for t in tracks])
        mean[lost, 7] = 0.0  # an unseen box keeps its size (ByteTrack)
        mean, cov = self.kalman.predict(mean, np.stack([t.covariance for t in tracks]))
        for track, m, c in zip(tracks, mean, cov):
            track.mean, track.covariance = m, c

    def _associate(
        self, tracks: list[Track], dets: Detections, candidates: np.ndarray, thresh: float, scores: np.ndarray | None
    ) -> tuple[list[tuple[Track, int]], list[Track], np.ndarray]:
        """Match `tracks` to the detections `candidates`; returns pairs, unmatched tracks, unmatched candidates."""
        if not tracks or len(candidates) == 0:
            return [], tracks, candidates
        expected, std = self.motion.expect(tracks, self.frame)
        cost = iou_cost(expected, dets.xyxy[candidates], scores)
        looks = self._appearance_cost(tracks, dets, candidates)
        if looks is not None:  # a similar-looking detection where the track may be matches even at a low IoU
            height = (expected[:, 3] - expected[:, 1])[:, None]
            std = np.sqrt(std**2 + (height * MEASUREMENT_STD) ** 2)  # the detection's own error too
            outside = mahalanobis_sq(expected, std, dets.xyxy[candidates]) > self.gate
            looks[(looks > self.config.appearance_thresh) | outside] = 1.0
            cost = np.minimum(cost, looks)
        pairs, free_tracks, free_dets = linear_assignment(cost, thresh)
        matched = [(tracks[i], int(candidates[j])) for i, j in pairs]
        return matched, [tracks[i] for i in free_tracks], candidates[free_dets]

    def _appearance_cost(self, tracks: list[Track], dets: Detections, candidates: np.ndarray) -> np.ndarray | None:
        """(N, M) appearance distances, or None where the detections or the tracks carry no appearance."""
        if self.config.appearance_thresh <= 0 or not (dets.features[candidates, HAS_APPEARANCE] > 0).all():
            return None
        if any(t.appearance is None for t in tracks):
            return None
        looks = np.stack([t.appearance for t in tracks])
        return appearance_cost(looks, dets.features[candidates, APPEARANCE])

    def _observe(self, pairs: list[tuple[Track, int]], dets: Detections) -> None:
        """Correct the matched tracks with their detections and extend their feature buffers."""
        if not pairs:
            return
        tracks = [t for t, _ in pairs]
        rows = np.array([j for _, j in pairs])
        mean, cov = self.kalman.update(np.stack([t.mean for t in tracks]), np.stack([t.covariance for t in tracks]),
                                       dets.xyxy[rows])
        features = dets.features[rows].copy()
        dt = np.array([(self.frame - t.last_frame) / self.fps for t in tracks], dtype=np.float32)
        age = np.array([(self.frame - t.start_frame) / self.fps for t in tracks], dtype=np.float32)
        # Geometry and motion describe the filtered boxes: detector noise would swamp the frame-to-frame moves that the
        # forecaster learned from smooth labelled tracks.
        smoothed = self.kalman.to_xyxy(mean)
        described = geometry_features(smoothed, dets.score[rows], self.image_size)
        features[:, GEOMETRY.start:HAS_APPEARANCE] = described[:, GEOMETRY.start:HAS_APPEARANCE]
        features[:, POSITION] = described[:, POSITION]
        set_motion(features, smoothed, np.stack([t.smoothed for t in tracks]), dt, age, self.image_size)
        appearances = self._blend([t.appearance for t in tracks], features)
        for track, row, m, c, f, box, looks in zip(tracks, rows, mean, cov, features, smoothed, appearances):
            track.mean, track.covariance, track.smoothed, track.appearance = m, c, box, looks
            track.xyxy, track.score, track.class_id = dets.xyxy[row], float(dets.score[row]), int(dets.class_id[row])
            track.last_frame, track.det_index = self.frame, int(row)
            track.hits += 1
            track.state = TrackState.CONFIRMED
            track.features.append(f)
            track.frames.append(self.frame)

    def _blend(self, appearances: list[np.ndarray | None], features: np.ndarray) -> list[np.ndarray | None]:
        """The running means of tracks' appearance (exponential moving averages, as in BoT-SORT), updated with their
        new (N, 512) `features`: None where the features have no appearance, the features' own where a track had
        none."""
        out = list(features[:, APPEARANCE])
        has = features[:, HAS_APPEARANCE] > 0
        earlier = [i for i, looks in enumerate(appearances) if looks is not None and has[i]]
        if earlier:
            momentum = self.config.appearance_momentum
            blended = momentum * np.stack([appearances[i] for i in earlier]) + \
                (1 - momentum) * features[earlier, APPEARANCE]
            blended /= np.maximum(np.linalg.norm(blended, axis=1, keepdims=True), 1e-12)
            for i, looks in zip(earlier, blended):
                out[i] = looks
        # Copies: a row view would keep its whole block alive.
        return [looks.copy() if keep else None for looks, keep in zip(out, has)]

    def _start(self, dets: Detections, rows: np.ndarray) -> list[Track]:
        if len(rows) == 0:
            return []
        mean, cov = self.kalman.initiate(dets.xyxy[rows])
        features = dets.features[rows].copy()
        zeros = np.zeros(len(rows), dtype=np.float32)
        set_motion(features, dets.xyxy[rows], dets.xyxy[rows], zeros, zeros, self.image_size)
        # On the very first frame there is no earlier frame to confirm against, so tracks start confirmed (ByteTrack).
        state = TrackState.CONFIRMED if self.frame == 0 else TrackState.NEW
        started = []
        for row, m, c, f, looks in zip(rows, mean, cov, features, self._blend([None] * len(rows), features)):
            started.append(Track(
                track_id=self._next_id, mean=m, covariance=c, xyxy=dets.xyxy[row], score=float(dets.score[row]),
                class_id=int(dets.class_id[row]), start_frame=self.frame, last_frame=self.frame,
                features=deque([f], maxlen=self.buffer_frames), frames=deque([self.frame], maxlen=self.buffer_frames),
                state=state, det_index=int(row), appearance=looks, smoothed=dets.xyxy[row].copy(),
            ))
            self._next_id += 1
        return started

    def _report(self) -> Tracks:
        shown = [t for t in self.tracks if t.state == TrackState.CONFIRMED and t.last_frame == self.frame]
        if not shown:
            return Tracks.empty()
        return Tracks(
            track_id=np.array([t.track_id for t in shown]),
            xyxy=np.stack([t.xyxy for t in shown]),
            score=np.array([t.score for t in shown]),
            class_id=np.array([t.class_id for t in shown]),
            det_index=np.array([t.det_index for t in shown]),
        )

    def last_features(self, track_ids: np.ndarray) -> np.ndarray:
        """(N, 512) latest feature vectors of the given live tracks, motion included."""
        by_id = {t.track_id: t for t in self.tracks}
        if len(track_ids) == 0:
            return np.zeros((0, FEATURE_DIM), dtype=np.float32)
        return np.stack([by_id[int(i)].features[-1] for i in track_ids])

    def smoothed_boxes(self, track_ids: np.ndarray) -> np.ndarray:
        """(N, 4) the Kalman-filtered boxes of the given live tracks at their last observation: the boxes whose moves
        fill the motion part of their features, and what an LSTM forecast starts from."""
        by_id = {t.track_id: t for t in self.tracks}
        return np.array([by_id[int(i)].smoothed for i in track_ids], dtype=np.float64).reshape(-1, 4)

    def feature_history(self, track_id: int) -> tuple[np.ndarray, np.ndarray]:
        """The buffered (T,) frame indices and (T, 512) feature vectors of a live track, oldest first: the sequence
        the LSTM reads."""
        track = next((t for t in self.tracks if t.track_id == track_id), None)
        if track is None:
            raise KeyError(f"no live track with id {track_id}")
        return np.array(track.frames), np.stack(track.features)
