"""Detections derived from MOTChallenge ground truth through a documented noise model.

Only MOT17-02 ships real detections, so comparing trackers on the other sequences needs detections made from the
ground truth. Perfect boxes would make every tracker look alike; `NoiseModel` adds the errors that separate
trackers on real data, each calibrated roughly against the real detector output of MOT17-02 (``det/det.txt``,
600 frames, 1920x1080, 30 fps) compared with its ground truth:

- missed detections, likelier at low visibility and for small people, and coming in runs (a detector misses an
  occluded person for many frames in a row);
- box jitter proportional to the box size and smooth in time;
- false positives: a Poisson number per frame, short-lived, mostly partial-body boxes on or beside real people;
- scores: high for visible people, middling for occluded people and false positives.

How the calibration was measured (see `NoiseModel` for the numbers): every frame's det.txt boxes were matched
one-to-one (Hungarian, IoU >= 0.5) to the ground-truth boxes of the person-like classes 1, 2, 7, 8 and 12. A
ground-truth box with a match is "detected"; a detection without one is a false positive. Run
``python -m vidtrack.evaluation.simulated`` to repeat the measurements and print the same numbers for the
simulated detections of MOT17-02.

>>> from vidtrack.io.motchallenge import read_ground_truth
>>> gt = read_ground_truth("MOT17-02-FRCNN/gt/gt.txt")  # doctest: +SKIP
>>> dets = simulate_detections(gt, seq_length=600, image_size=(1920, 1080), seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy.special import expit, logit, ndtr, ndtri

from vidtrack.io.motchallenge import GroundTruth
from vidtrack.structures import Detections
from vidtrack.track.matching import box_iou

__all__ = ["NoiseModel", "detection_statistics", "simulate_detections", "simulate_detections_with_sources"]

_REFERENCE_FPS = 30.0  # the frame rate at which the per-frame correlations were measured (MOT17-02)


@dataclass(frozen=True, slots=True)
class NoiseModel:
    """Parameters of the detection noise model, with defaults measured on MOT17-02 (real det.txt against gt).

    Which objects can be detected
        detect_classes: (1, 2, 7), the MOTChallenge classes a person detector fires on: pedestrians (class 1, only
            rows with consider=1), persons on a vehicle (2) and static persons (7). The evaluation ignores
            predictions matched to classes 2, 7, 8 and 12, so detecting them costs nothing there, but trackers
            do see them. Measured on MOT17-02 (real / the miss model below): class 1 35.3% / 35.2% of its rows
            detected, class 7 22.6% / 21.7%, class 2 (mean visibility 0.14) 0% / 4.4%; class 8 (distractors, mean
            visibility 0.57) only 0.2% against 56% predicted, so 8 is left out (as is 12,
            reflections, absent from these sequences).

    Missed detections: an annotated object is detected in a frame with probability
        ``p = detection_floor + (1 - detection_floor) * d``, where the detectability
        ``d = sigmoid(visibility_slope * (visibility - visibility_midpoint))
            * sigmoid(height_slope * ln(height / (min_height_fraction * image height)))``
        says that a person must be both visible enough and tall enough. Maximum-likelihood fit on the 18,581
        considered pedestrian rows of MOT17-02 (negative log-likelihood 2782, against 3664 for a logistic in
        visibility alone and 3344 for a logistic in visibility and log height):
        detection_floor: 0.02 (fit 0.021), the rate at which hidden or tiny people are still detected.
        visibility_midpoint: 0.54 and visibility_slope: 22 (fit 0.541 and 21.7). Measured recall by visibility
            bin (real / model): [0, 0.2) 0.02/0.02, [0.2, 0.4) 0.05/0.03, [0.4, 0.5) 0.13/0.11, [0.5, 0.6)
            0.34/0.42, [0.6, 0.7) 0.77/0.72, [0.7, 0.8) 0.83/0.84, [0.8, 0.9) 0.82/0.88, [0.9, 1] 0.96/0.95.
            Overall recall of considered pedestrians: 0.353 (a third of the rows have visibility < 0.05).
        min_height_fraction: 0.054 and height_slope: 7.6 (fit 58.6 px of the 1080 px image and 7.63). Of the
            people with visibility >= 0.6, 18% are detected under 50 px, 55% at 50-70 px, 87% at 70-90 px and
            98-100% above. The half-point is a fraction of the image height because detectors resize every image
            to a fixed input size, so what is too small scales with the image.
        miss_persistence: 0.7, the lag-1 autocorrelation ``rho`` of an object's detected/missed state at 30 fps.
            A two-state Markov chain per object keeps the marginal miss probability ``q = 1 - p`` of every frame,
            while ``P(miss | missed before) = q + rho (1 - q)`` and ``P(miss | detected before) = q (1 - rho)``.
            Its likelihood over the 18,519 consecutive-frame pairs of MOT17-02 (with p from the fit above) peaks
            at rho = 0.7 (log-likelihood -1562 against -2772 for independent misses). Raw transition rates:
            P(miss | miss) = 0.980, P(miss | hit) = 0.037; runs of misses last 10.5 frames (median), runs of
            detections 3 (median) and 26 (mean).

    Box jitter: each box edge error is relative to the box size, an AR(1) process per object (smooth in time)
        jitter_center: (0.04, 0.019), the standard deviations of the center's x error divided by the width
            and of its y error divided by the height.
        jitter_log_size: (0.065, 0.038), the standard deviations of ln(detected width / true width) and
            ln(detected height / true height).
            Measured on the 6,550 matched considered pedestrians: robust standard deviations (1.48 MAD) 0.027,
            0.012, 0.046, 0.024; plain standard deviations 0.061, 0.027, 0.080, 0.048 (heavy tails); mean IoU
            with the gt box 0.879 (0.80 under 100 px height, 0.88 at 100-200 px, 0.92 above). The defaults lie
            between the robust and the plain deviations and give a mean IoU of 0.881 on MOT17-02. The real
            boxes are also biased (1.8% of the width to the right, 3% wider); the model has no bias.
        jitter_correlation: 0.8, the lag-1 autocorrelation of each error at 30 fps (measured 0.69 for x, 0.87 for
            y, 0.87 for width, 0.88 for height).

    False positives: detections that match no annotated person at IoU >= 0.5
        fp_rate: 0.74, the mean number of false positives per frame (measured 0.735, variance 0.96).
        fp_persistence: 0.5, the probability that a false positive lasts into the next frame at 30 fps (53.5% of
            the real ones have a false positive with IoU > 0.5 in the next frame), so lifetimes are geometric
            with mean 2 frames and new ones appear at ``fp_rate * (1 - fp_persistence)`` per frame.
        fp_near_object: 0.9, the fraction of false positives that are partial-body boxes on or beside a
            detectable person (IoU < 0.5 with it); the rest have the size of a random gt box and a uniform
            position in the image. Measured: 95% of the real false positives overlap a person-like gt box with
            IoU > 0.1 and 71% with IoU > 0.3; only 2.5% touch none. Their heights (median 71 px) are smaller than
            the pedestrians' (median 102 px), and their width/height ratio is similar (0.39 against 0.36).

    Scores: a logit-normal score, truncated below at min_score
        score_logit_visible: 7.0 and score_logit_occluded: 0.3, the mean score logits of detections of people
            who are clearly detectable (d = 1) and of people who are not (d = 0); in between the mean is
            ``score_logit_occluded + (score_logit_visible - score_logit_occluded) * d`` with the detectability d
            above, since a detector is as unsure of a small person as of a hidden one. Measured mean logits of
            the matched real scores: 7.0-7.4 for visibility >= 0.6 and height >= 90 px, 3.0 at 50-70 px, 5.7 at
            70-90 px, and -0.8 to 1.0 for visibility < 0.6 at any height (scores around 0.45-0.6 against
            0.96-0.995 for the visible ones).
        score_noise: 2.0, the standard deviation of the score logit (measured 2.3-2.8 below visibility 0.6,
            1.2-2.2 above). Where visible people's latent logits exceed 7 the score saturates near 1, as the real
            ones do (72% of matched real scores are >= 0.999).
        score_correlation: 0.9, the lag-1 autocorrelation of one object's score logit at 30 fps (measured 0.91).
        fp_score_logit: -1.5 and fp_score_noise: 2.5, the mean and standard deviation of a false positive's
            score logit before truncation at min_score, one score per false positive for its whole life. The
            real false-positive scores are 0.07, 0.13, 0.38, 0.77, 0.91 at the 10, 25, 50, 75 and 90th
            percentiles (mean 0.444); a normal distribution truncated at logit(0.05) fitted to their logits by
            maximum likelihood has mean -1.49 and standard deviation 2.53.
        min_score: 0.05, the detector's output threshold (det.txt scores lie in [0.05, 1]). Scores are sampled
            from the normal distribution truncated at logit(min_score), so no score falls below it and no
            detection is dropped for its score.
            Measured: 3.0% of the matched real detections score below 0.25 (ByteTrack's high threshold), 1.2%
            below 0.1; the mean matched score is 0.946, the mean false-positive score 0.444.

    Result on MOT17-02, real det.txt / simulated with the defaults (mean of seeds 0-7; seed-to-seed spread about
    +-0.15 detections per frame and +-0.005 recall): 13.64 / 13.64 detections per frame, recall of considered
    pedestrians 0.353 / 0.351, mean IoU of matched detections 0.879 / 0.880, unmatched detections per frame
    0.735 / 0.719, mean score matched 0.946 / 0.957, unmatched 0.444 / 0.432. The test
    ``test_calibration_against_real_detections`` holds seed 0 to within 0.03 recall and 5% detections per frame.

    Per-frame correlations (miss_persistence, jitter_correlation, score_correlation, fp_persistence) hold at
    30 fps and are rescaled to the sequence's frame rate as ``rho ** (30 / fps)``, so that they describe the same
    time span.
    """

    detect_classes: tuple[int, ...] = (1, 2, 7)
    detection_floor: float = 0.02
    visibility_midpoint: float = 0.54
    visibility_slope: float = 22.0
    min_height_fraction: float = 0.054
    height_slope: float = 7.6
    miss_persistence: float = 0.7
    jitter_center: tuple[float, float] = (0.04, 0.019)
    jitter_log_size: tuple[float, float] = (0.065, 0.038)
    jitter_correlation: float = 0.8
    fp_rate: float = 0.74
    fp_persistence: float = 0.5
    fp_near_object: float = 0.9
    score_logit_visible: float = 7.0
    score_logit_occluded: float = 0.3
    score_noise: float = 2.0
    score_correlation: float = 0.9
    fp_score_logit: float = -1.5
    fp_score_noise: float = 2.5
    min_score: float = 0.05

    def __post_init__(self) -> None:
        for name in ("detection_floor", "miss_persistence", "jitter_correlation", "score_correlation", "fp_persistence",
                     "fp_near_object"):
            value = getattr(self, name)
            if not 0 <= value <= 1 or (name == "fp_persistence" and value == 1):
                raise ValueError(f"{name} must lie in [0, 1{')' if name == 'fp_persistence' else ']'}, got {value}")
        if self.min_height_fraction <= 0:
            raise ValueError(f"min_height_fraction must be > 0, got {self.min_height_fraction}")
        if self.fp_rate < 0:
            raise ValueError(f"fp_rate must be >= 0, got {self.fp_rate}")
        if not 0 < self.min_score < 1:
            raise ValueError(f"min_score must lie in (0, 1), got {self.min_score}")
        for name in ("jitter_center", "jitter_log_size"):
            if len(getattr(self, name)) != 2 or min(getattr(self, name)) < 0:
                raise ValueError(f"{name} must be two standard deviations >= 0, got {getattr(self, name)}")
        if min(self.score_noise, self.fp_score_noise) < 0:
            raise ValueError("score noise must be >= 0")

    def detectability(self, visibility: np.ndarray, height: np.ndarray, image_height: float) -> np.ndarray:
        """d in [0, 1]: how clearly a person of this visibility and box height (px) shows in the image."""
        height = np.maximum(np.asarray(height, dtype=np.float64), 1e-3)
        seen = expit(self.visibility_slope * (np.asarray(visibility, dtype=np.float64) - self.visibility_midpoint))
        return seen * expit(self.height_slope * np.log(height / (self.min_height_fraction * image_height)))

    def detection_probability(self, visibility: np.ndarray, height: np.ndarray, image_height: float) -> np.ndarray:
        """The marginal probability that an annotated object of this visibility and height (px) is detected."""
        d = self.detectability(visibility, height, image_height)
        return self.detection_floor + (1 - self.detection_floor) * d

    def score_logit_mean(self, detectability: np.ndarray) -> np.ndarray:
        """The mean score logit of a detection of an object with this detectability."""
        return self.score_logit_occluded + (self.score_logit_visible - self.score_logit_occluded) * detectability


def _previous_rows(track_id: np.ndarray, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each row, the row of the same object in its latest earlier frame (-1 if none) and the frame gap."""
    order = np.lexsort((frame, track_id))
    prev = np.full(len(frame), -1, dtype=np.int64)
    gap = np.zeros(len(frame), dtype=np.int64)
    same = track_id[order][1:] == track_id[order][:-1]
    prev[order[1:][same]] = order[:-1][same]
    gap[order[1:][same]] = np.diff(frame[order])[same]
    return prev, gap


def _truncated_normal(rng: np.random.Generator, mean: np.ndarray, sd: float, low: float) -> np.ndarray:
    """Normal(mean, sd) draws conditioned on being >= low, by the inverse CDF (exact, vectorised)."""
    mean = np.asarray(mean, dtype=np.float64)
    if sd == 0:
        return np.maximum(mean, low)
    lo = ndtr((low - mean) / sd)
    u = lo + (1 - lo) * rng.random(mean.shape)
    return mean + sd * ndtri(np.clip(u, 1e-12, 1 - 1e-12))


def _ar1(rng: np.random.Generator, prev: np.ndarray, gap: np.ndarray, order: list[np.ndarray], rho: float,
         sd: np.ndarray) -> np.ndarray:
    """Stationary AR(1) noise per object (columns scaled by `sd`): x_t = rho^gap x_prev + sqrt(1 - rho^2gap) e."""
    eps = rng.standard_normal((len(prev), len(sd)))
    out = np.empty_like(eps)
    decay = np.where(prev >= 0, float(rho) ** gap, 0.0)[:, None]
    innov = np.sqrt(1 - decay**2) * eps
    for rows in order:  # rows of one frame; their previous rows lie in earlier frames, already computed
        out[rows] = innov[rows] + decay[rows] * np.where(prev[rows, None] >= 0, out[prev[rows]], 0.0)
    return out * sd


def _partial_boxes(rng: np.random.Generator, anchors: np.ndarray) -> np.ndarray:
    """Partial-body boxes beside or on the anchor boxes (xyxy), each with IoU < 0.5 against its anchor."""
    n = len(anchors)
    w = anchors[:, 2] - anchors[:, 0]
    h = anchors[:, 3] - anchors[:, 1]
    out = np.empty((n, 4))
    todo = np.arange(n)
    for attempt in range(8):
        k = len(todo)
        sh = rng.uniform(0.3, 0.8, k)  # a part of the body: upper body, legs, a half person
        sw = rng.uniform(0.7, 1.3, k)
        cx = (anchors[todo, 0] + anchors[todo, 2]) / 2 + rng.uniform(-0.6, 0.6, k) * w[todo]
        top = anchors[todo, 1] + rng.uniform(-0.1, 1.0, k) * (1 - sh) * h[todo]
        if attempt == 7:  # last resort: a small box half a width to the side, IoU < 0.2
            sh, sw = np.full(k, 0.4), np.full(k, 0.8)
            cx = (anchors[todo, 0] + anchors[todo, 2]) / 2 + 0.6 * w[todo]
        boxes = np.stack([cx - sw * w[todo] / 2, top, cx + sw * w[todo] / 2, top + sh * h[todo]], axis=1)
        out[todo] = boxes
        todo = todo[box_iou(boxes, anchors[todo]).diagonal() >= 0.5]
        if not len(todo):
            break
    return out


def simulate_detections_with_sources(
    gt: GroundTruth,
    seq_length: int,
    image_size: tuple[int, int],
    model: NoiseModel | None = None,
    seed: int = 0,
    *,
    fps: float = _REFERENCE_FPS,
) -> tuple[dict[int, Detections], dict[int, np.ndarray]]:
    """Like `simulate_detections`, and also, per frame, the gt row index each detection was made from (-1: FP).

    The indices refer to the rows of `gt` as passed in, so ``gt[sources[f][sources[f] >= 0]]`` are the annotated
    objects detected in frame f.
    """
    model = NoiseModel() if model is None else model
    if seq_length < 1:
        raise ValueError(f"seq_length must be >= 1, got {seq_length}")
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    width, height = image_size
    rng = np.random.default_rng(seed)
    per_frame = lambda rho: float(rho) ** (_REFERENCE_FPS / fps)  # noqa: E731

    # Objects a person detector can fire on, in frames of the sequence.
    cls = np.asarray(model.detect_classes)
    keep = np.isin(gt.class_id, cls) & ((gt.class_id != 1) | gt.consider) & (gt.frame >= 1) & (gt.frame <= seq_length)
    rows = np.flatnonzero(keep)
    frame, tid = gt.frame[rows], gt.track_id[rows]
    xywh = gt.xywh[rows].astype(np.float64)
    vis = gt.visibility[rows].astype(np.float64)
    n = len(rows)
    prev, gap = _previous_rows(tid, frame)
    by_frame = np.argsort(frame, kind="stable")
    bounds = np.searchsorted(frame[by_frame], np.arange(1, seq_length + 2))
    order = [by_frame[a:b] for a, b in itertools.pairwise(bounds) if b > a]

    # Misses: a two-state Markov chain per object with marginal detection probability p (see NoiseModel).
    detectability = model.detectability(vis, xywh[:, 3], height)
    p = model.detection_floor + (1 - model.detection_floor) * detectability
    rho = np.where(prev >= 0, per_frame(model.miss_persistence) ** gap, 0.0)
    u = rng.random(n)
    detected = np.zeros(n, dtype=bool)
    for idx in order:
        q = 1 - p[idx]
        was_missed = np.where(prev[idx] >= 0, ~detected[prev[idx]], False)
        p_miss = np.where(was_missed, q + rho[idx] * (1 - q), q * (1 - rho[idx]))
        detected[idx] = u[idx] >= p_miss

    # Jitter: relative errors of center and log-size, AR(1) in time; scores: AR(1) logit noise.
    sd = np.array([*model.jitter_center, *model.jitter_log_size])
    err = _ar1(rng, prev, gap, order, per_frame(model.jitter_correlation), sd)
    score_noise = _ar1(rng, prev, gap, order, per_frame(model.score_correlation), np.ones(1))[:, 0]
    w, h = xywh[:, 2], xywh[:, 3]
    cx = xywh[:, 0] + w / 2 + err[:, 0] * w
    cy = xywh[:, 1] + h / 2 + err[:, 1] * h
    dw, dh = w * np.exp(err[:, 2]), h * np.exp(err[:, 3])
    tp_box = np.stack([cx - dw / 2, cy - dh / 2, cx + dw / 2, cy + dh / 2], axis=1)
    # The latent score logit is mean + noise * sd, truncated at min_score: map the AR(1) normal through the
    # truncated distribution's quantiles so that it keeps its temporal correlation.
    mean = model.score_logit_mean(detectability)
    low = logit(model.min_score)
    if model.score_noise > 0:
        lo = ndtr((low - mean) / model.score_noise)
        z = mean + model.score_noise * ndtri(np.clip(lo + (1 - lo) * ndtr(score_noise), 1e-12, 1 - 1e-12))
    else:
        z = np.maximum(mean, low)
    tp_score = expit(z)

    # False positives: Poisson births (with a burn-in so that frame 1 is already in the steady state), geometric
    # lifetimes, a fixed box and score per false positive.
    persist = per_frame(model.fp_persistence)
    burn = int(np.ceil(10 / max(1 - persist, 1e-3))) if model.fp_rate > 0 else 0
    n_fp = rng.poisson(model.fp_rate * (1 - persist) * (seq_length + burn))
    birth = rng.integers(1 - burn, seq_length + 1, n_fp)
    life = rng.geometric(1 - persist, n_fp)
    birth_frame = np.maximum(birth, 1)
    near = rng.random(n_fp) < model.fp_near_object
    fp_box = np.empty((n_fp, 4))
    # Anchor each near-object FP to a random detectable object annotated in its first visible frame.
    counts = np.diff(bounds)
    has_obj = counts[birth_frame - 1] > 0
    near &= has_obj
    pick = (rng.random(n_fp) * counts[birth_frame - 1]).astype(np.int64)
    anchor_rows = by_frame[np.minimum(bounds[birth_frame - 1] + pick, max(n - 1, 0))] if n else np.zeros(0, int)
    if near.any():
        a = xywh[anchor_rows[near]]
        fp_box[near] = _partial_boxes(rng, np.concatenate([a[:, :2], a[:, :2] + a[:, 2:]], axis=1))
    far = ~near
    if far.any():
        size_pool = xywh[:, 2:] if n else gt.xywh[:, 2:].astype(np.float64)
        if not len(size_pool):
            size_pool = np.array([[0.05 * width, 0.15 * height]])
        size = size_pool[rng.integers(0, len(size_pool), far.sum())]
        size = np.minimum(size, [width, height])
        left = rng.random(far.sum()) * (width - size[:, 0])
        top = rng.random(far.sum()) * (height - size[:, 1])
        fp_box[far] = np.stack([left, top, left + size[:, 0], top + size[:, 1]], axis=1)
    fp_score = expit(_truncated_normal(rng, np.full(n_fp, model.fp_score_logit), model.fp_score_noise, low))
    fp_rows = np.repeat(np.arange(n_fp), life)
    fp_frame = birth[fp_rows] + (np.arange(len(fp_rows)) - np.repeat(np.cumsum(life) - life, life))
    inside = (fp_frame >= 1) & (fp_frame <= seq_length)
    fp_rows, fp_frame = fp_rows[inside], fp_frame[inside]

    # Everything of the sequence as one table, clipped to the image like a detector's output (1-based pixels).
    all_frame = np.concatenate([frame[detected], fp_frame])
    all_box = np.concatenate([tp_box[detected], fp_box[fp_rows]])
    all_score = np.concatenate([tp_score[detected], fp_score[fp_rows]])
    all_source = np.concatenate([rows[detected], np.full(len(fp_rows), -1, dtype=np.int64)])
    all_box = np.clip(all_box, 1, [width + 1, height + 1, width + 1, height + 1])
    valid = ((all_box[:, 2:] - all_box[:, :2]) >= 2).all(axis=1)  # a box that left the image is no detection
    o = np.argsort(all_frame[valid], kind="stable")
    all_frame, all_box = all_frame[valid][o], all_box[valid][o]
    all_score, all_source = np.clip(all_score[valid][o], model.min_score, 1.0), all_source[valid][o]
    cuts = np.searchsorted(all_frame, np.arange(1, seq_length + 2))
    dets, sources = {}, {}
    for f in range(1, seq_length + 1):
        a, b = cuts[f - 1], cuts[f]
        dets[f] = Detections(all_box[a:b], all_score[a:b], np.zeros(b - a, dtype=np.int64))
        sources[f] = all_source[a:b]
    return dets, sources


def simulate_detections(
    gt: GroundTruth,
    seq_length: int,
    image_size: tuple[int, int],
    model: NoiseModel | None = None,
    seed: int = 0,
    *,
    fps: float = _REFERENCE_FPS,
) -> dict[int, Detections]:
    """Detections for frames 1..seq_length (all present, class 0, no features) derived from `gt` by `model`.

    Args:
        gt: the sequence's ground truth (MOT17 layout: classes and visibilities are used).
        seq_length: the number of frames; gt rows outside 1..seq_length are ignored.
        image_size: (width, height) in pixels; boxes are clipped to the image, and a box that ends up narrower
            or lower than 2 px (an object outside the image) is dropped.
        model: the noise parameters, `NoiseModel()` (calibrated on MOT17-02) by default.
        seed: the random seed; the same inputs and seed give the same detections.
        fps: the sequence's frame rate; the model's per-frame correlations, measured at 30 fps, are rescaled to
            it (the default 30 uses them as they are).

    Detections in a frame come first from annotated objects (in gt row order), then false positives.
    """
    return simulate_detections_with_sources(gt, seq_length, image_size, model, seed, fps=fps)[0]


def detection_statistics(gt: GroundTruth, detections: dict[int, Detections], threshold: float = 0.5) -> dict:
    """Compare detections with ground truth the way `NoiseModel` was calibrated.

    Per frame, detections are matched one-to-one (Hungarian on IoU, a match needs IoU >= `threshold`) to the gt
    boxes of the person-like classes 1 (considered), 2, 7, 8 and 12. Returns a dict with: detections_per_frame,
    recall (of considered pedestrians), recall_by_visibility (list of (low, high, rows, recall)), mean_iou and
    mean_score of the detections matched to considered pedestrians, fp_per_frame and fp_mean_score (unmatched
    detections).
    """
    from scipy.optimize import linear_sum_assignment

    person = np.isin(gt.class_id, [1, 2, 7, 8, 12]) & ((gt.class_id != 1) | gt.consider)
    g = gt[person]
    ped = g.class_id == 1
    boxes = g.xyxy.astype(np.float64)
    hit, hit_iou, hit_score = np.zeros(len(g), bool), np.zeros(len(g)), np.zeros(len(g))
    fp_scores, n_dets = [], 0
    frames = sorted(detections)
    for f in frames:
        d = detections[f]
        n_dets += len(d)
        idx = np.flatnonzero(g.frame == f)
        m = box_iou(boxes[idx], d.xyxy) if len(idx) and len(d) else np.zeros((len(idx), len(d)))
        r, c = linear_sum_assignment(-m) if m.size else (np.zeros(0, int), np.zeros(0, int))
        ok = m[r, c] >= threshold
        r, c = r[ok], c[ok]
        hit[idx[r]], hit_iou[idx[r]], hit_score[idx[r]] = True, m[r, c], d.score[c]
        fp_scores.append(np.delete(d.score, c))
    fp = np.concatenate(fp_scores) if fp_scores else np.zeros(0)
    edges = (0.0, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.01)
    by_vis = []
    for lo, hi in itertools.pairwise(edges):
        m = ped & (g.visibility >= lo) & (g.visibility < hi)
        by_vis.append((lo, hi, int(m.sum()), float(hit[m].mean()) if m.any() else float("nan")))
    tp = ped & hit
    nf = max(len(frames), 1)
    return {
        "detections_per_frame": n_dets / nf,
        "recall": float(hit[ped].mean()) if ped.any() else float("nan"),
        "recall_by_visibility": by_vis,
        "mean_iou": float(hit_iou[tp].mean()) if tp.any() else float("nan"),
        "mean_score": float(hit_score[tp].mean()) if tp.any() else float("nan"),
        "fp_per_frame": len(fp) / nf,
        "fp_mean_score": float(fp.mean()) if len(fp) else float("nan"),
    }


def _main() -> None:  # pragma: no cover - a report for humans
    import argparse
    import os
    import time

    from vidtrack.io.motchallenge import read_detections, read_ground_truth, read_seqinfo

    parser = argparse.ArgumentParser(description="Compare real and simulated detections of a MOT17 sequence.")
    parser.add_argument("sequence", nargs="?", default="../shared/data/MOT17/train/MOT17-02-FRCNN")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    info = read_seqinfo(args.sequence)
    gt = read_ground_truth(f"{args.sequence}/gt/gt.txt")
    start = time.perf_counter()
    sim = simulate_detections(gt, info.length, (info.width, info.height), seed=args.seed, fps=info.fps)
    took = time.perf_counter() - start
    runs = {"simulated": sim}
    if os.path.isfile(f"{args.sequence}/det/det.txt"):  # only MOT17-02 has real detections here
        runs = {"real": read_detections(f"{args.sequence}/det/det.txt", seq_length=info.length), **runs}
    for name, dets in runs.items():
        s = detection_statistics(gt, dets)
        print(f"{name}: {s['detections_per_frame']:.2f} dets/frame, recall {s['recall']:.3f}, mean IoU "
              f"{s['mean_iou']:.3f}, TP score {s['mean_score']:.3f}, FP/frame {s['fp_per_frame']:.2f}, "
              f"FP score {s['fp_mean_score']:.3f}")
        print("   recall by visibility:", ", ".join(f"[{lo:.1f},{hi:.1f}) {r:.2f}"
                                                     for lo, hi, _, r in s["recall_by_visibility"]))
    print(f"simulation took {1000 * took:.0f} ms for {info.length} frames")


if __name__ == "__main__":  # pragma: no cover
    _main()
