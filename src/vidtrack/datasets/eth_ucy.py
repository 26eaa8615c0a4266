"""Top-down pedestrian trajectories (ETH/UCY) as clips: pseudo-box tracks in a virtual video.

An ETH/UCY file has one row per pedestrian per annotated frame, ``frame  pedestrian-id  x  y`` (metres on the ground
plane, tab- or comma-separated), frame numbers stepping by 10 = 0.4 s. These are real human motions from other
scenes, seen from above; the forecaster learns from boxes in a camera image. To make them look like MOT17
pedestrians *in box units* (what the motion-only model reads: the box's place, aspect and size, and its moves in box
heights per second),
each trajectory is turned into a box track:

1. Resampling: the positions are interpolated to the video rate `fps` with a shape-preserving cubic (PCHIP, no
   overshoot), only inside the observed span; consecutive annotations more than one step apart (a gap) split the
   trajectory into pieces that are never bridged, so no window spans a gap.
2. A virtual pinhole camera per trajectory, looking horizontally along the ground, with the top-down plane rotated by
   a random angle (every walking direction), top-down y' becoming depth and x' lateral position. A person of
   `PERSON_HEIGHT_M` at depth Z has box height f * 1.75 / Z, the box is centred at u = u0 + f x' / Z and stands on
   v = horizon + f * camera_height / Z. So walking across the view moves the box sideways, walking towards the
   camera grows it and lowers its foot a little, as in MOT17's street-level clips; an orthographic map of y to
   image rows would instead give vertical speeds of whole box heights per second, which MOT17 people never show.
3. Scale: the box height at the trajectory's mean depth is drawn log-uniformly from `Camera.box_height` (fractions of
   the image height, MOT17's 10th to 90th percentile is about 0.05 to 0.6), the focal length from `Camera.focal_px`
   (a 60-90 degree view on a 1920 px image), and the mean depth follows; depths are kept at least
   `Camera.min_depth_m` away. Aspect (width / height) is drawn per trajectory from `Camera.aspect`.

Each file becomes one clip named after the file stem, at `fps`, of image size `IMAGE_SIZE`; each unbroken piece of a
trajectory becomes one `LabelledTrack` (visibility 1) whose `track_id` and `name` are the pedestrian's, so a
pedestrian with a gap gives several tracks with one id. Frames are numbered on the virtual video's clock (frame n is
at n / fps seconds of the file's clock). The camera draws are seeded by (`seed`, file stem, pedestrian id), so a file
gives the same clip every time.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.interpolate import PchipInterpolator

from vidtrack.datasets.base import Clip, LabelledTrack, wrong_layout
from vidtrack.errors import InputError
from vidtrack.io.motchallenge import _check_integers, _read_fields, _to_array, find_duplicate_ids

LAYOUT = "an ETH/UCY trajectory file (.txt, 4 columns: frame, pedestrian id, x, y)"
_COLUMNS = "frame, pedestrian id, x, y"
STEP_S = 0.4  # seconds between annotations
FRAME_STEP = 10  # frame numbers between annotations
PERSON_HEIGHT_M = 1.75
IMAGE_SIZE = (1920, 1080)  # the virtual image, width and height in pixels


@dataclass(frozen=True)
class Trajectories:
    """The rows of a trajectory file, as read (not sorted)."""

    path: Path
    frame: np.ndarray  # (N,) int64 frame numbers
    pedestrian: np.ndarray  # (N,) int64
    xy: np.ndarray  # (N, 2) float64 metres
    line: np.ndarray  # (N,) int64 line number of each row in the file

    def __len__(self) -> int:
        return len(self.frame)


@dataclass(frozen=True)
class Camera:
    """Ranges the virtual camera of each trajectory is drawn from (uniform, `box_height` log-uniform)."""

    turn: tuple[float, float] = (0.0, 2 * np.pi)  # rotation of the top-down plane, radians: walking directions
    box_height: tuple[float, float] = (0.06, 0.45)  # box height / image height at the trajectory's mean depth
    focal_px: tuple[float, float] = (1000.0, 1700.0)
    camera_height_m: tuple[float, float] = (1.2, 3.0)
    horizon: tuple[float, float] = (0.3, 0.55)  # image row of the horizon, as a fraction of the image height
    centre: tuple[float, float] = (0.25, 0.75)  # image column of the trajectory's mean, fraction of the width
    aspect: tuple[float, float] = (0.35, 0.45)  # box width / height
    min_depth_m: float = 2.0


def read_trajectories(path: str | os.PathLike) -> Trajectories:
    """Read and validate an ETH/UCY file; a malformed row raises an `InputError` naming ``path:LINE``."""
    path = Path(path)
    rows = _read_fields(path)
    if not rows:
        raise InputError(f"{path}: no rows ({_COLUMNS})")
    for lineno, fields in rows:
        if len(fields) != 4:
            raise InputError(f"{path}:{lineno}: expected 4 columns ({_COLUMNS}), found {len(fields)}")
    values = _to_array(path, rows, 4, _COLUMNS)
    line = np.array([lineno for lineno, _ in rows], dtype=np.int64)
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        raise InputError(f"{path}:{line[int(np.argmax(bad))]}: NaN or inf value")
    _check_integers(path, "frame", values[:, 0], line)
    _check_integers(path, "pedestrian id", values[:, 1], line)
    frame, pedestrian = values[:, 0].astype(np.int64), values[:, 1].astype(np.int64)
    duplicate = find_duplicate_ids(frame, pedestrian)
    if duplicate is not None:
        first, second = duplicate
        raise InputError(f"{path}:{line[second]}: pedestrian {pedestrian[second]} occurs twice in frame "
                         f"{frame[second]} (also at line {line[first]})")
    return Trajectories(path, frame, pedestrian, values[:, 2:4].copy(), line)


def resample(
    times_s: np.ndarray, xy: np.ndarray, fps: float, max_step_s: float = STEP_S
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Positions (K, 2) at sorted times (K,) resampled at `fps`: a list of pieces (frames (L,), positions (L, 2)),
    frame n being at n / fps seconds. Annotations more than `max_step_s` apart end a piece (gaps are not bridged);
    a piece needs two annotations, and only frames inside its observed span are produced."""
    pieces = []
    breaks = np.flatnonzero(np.diff(times_s) > max_step_s + 1e-6) + 1
    for t, p in zip(np.split(times_s, breaks), np.split(xy, breaks)):
        if len(t) < 2:
            continue
        frames = np.arange(int(np.ceil(t[0] * fps - 1e-6)), int(np.floor(t[-1] * fps + 1e-6)) + 1)
        if len(frames):
            pieces.append((frames, PchipInterpolator(t, p, axis=0)(np.clip(frames / fps, t[0], t[-1]))))
    return pieces


def pseudo_boxes(
    xy: np.ndarray, rng: np.random.Generator, camera: Camera = Camera(), image_size: tuple[int, int] = IMAGE_SIZE,
    reference: np.ndarray | None = None,
) -> np.ndarray:
    """(L, 4) x1 y1 x2 y2 boxes of a person walking the ground positions `xy` (L, 2), seen by a random virtual camera
    (see the module docstring). `reference` (M, 2), all positions of the trajectory by default, fixes the camera's
    placement, so that the pieces of one trajectory share a camera."""
    width, height = image_size
    reference = xy if reference is None else reference
    angle = rng.uniform(*camera.turn)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    mean = reference.mean(axis=0)
    lateral, depth = ((xy - mean) @ rotation.T).T
    nearest = ((reference - mean) @ rotation.T)[:, 1].min()
    box_height = np.exp(rng.uniform(*np.log(camera.box_height))) * height
    focal = rng.uniform(*camera.focal_px)
    mean_depth = focal * PERSON_HEIGHT_M / box_height
    mean_depth = max(mean_depth, camera.min_depth_m - nearest)  # nobody closer than min_depth_m
    z = mean_depth + depth
    cam_height, horizon = rng.uniform(*camera.camera_height_m), rng.uniform(*camera.horizon) * height
    centre, aspect = rng.uniform(*camera.centre) * width, rng.uniform(*camera.aspect)
    u = centre + focal * lateral / z
    foot = horizon + focal * cam_height / z
    h = focal * PERSON_HEIGHT_M / z
    return np.stack([u - aspect * h / 2, foot - h, u + aspect * h / 2, foot], axis=1)


def detect(path: str | os.PathLike) -> bool:
    """A .txt file whose first row has the four columns frame, pedestrian id, x, y."""
    path = Path(path)
    if not (path.is_file() and path.suffix == ".txt"):
        return False
    with path.open(encoding="utf-8-sig", errors="replace") as f:
        first = next((line.strip() for line in f if line.strip()), "")
    return len(first.split(",") if "," in first else first.split()) == 4


def read(
    path: str | os.PathLike,
    *,
    fps: float = 15.0,
    seed: int = 0,
    camera: Camera = Camera(),
    image_size: tuple[int, int] = IMAGE_SIZE,
    step_s: float = STEP_S,
    frame_step: int = FRAME_STEP,
) -> list[Clip]:
    """The file as one clip of pseudo-box tracks at `fps` (see the module docstring). Time: frame number * `step_s`
    / `frame_step`."""
    if not detect(path):
        raise wrong_layout(path, LAYOUT)
    data = read_trajectories(path)
    name = data.path.stem
    times = data.frame * (step_s / frame_step)
    tracks = []
    for pedestrian in np.unique(data.pedestrian):
        rows = np.flatnonzero(data.pedestrian == pedestrian)
        rows = rows[np.argsort(data.frame[rows], kind="stable")]
        pieces = resample(times[rows], data.xy[rows], fps, max_step_s=step_s)
        if not pieces:
            continue
        rng = np.random.default_rng([seed, zlib.crc32(name.encode()), int(pedestrian) % 2**32])
        boxes = pseudo_boxes(np.concatenate([p for _, p in pieces]), rng, camera, image_size)
        offsets = np.cumsum([0] + [len(f) for f, _ in pieces])
        for (frames, _), start, stop in zip(pieces, offsets[:-1], offsets[1:]):
            tracks.append(LabelledTrack(int(pedestrian), int(frames[0]), boxes[start:stop], np.ones(stop - start),
                                        name=str(int(pedestrian))))
    return [Clip(name, float(fps), image_size, tracks, data.path, dataset="eth-ucy")]
