"""Forecasting windows cut from labelled clips (`vidtrack.datasets`) and their augmentation; their features are
computed as at run time, by `vidtrack.forecast.features`.

A window is one track at one moment ("now"):

- `past`: (T, 4) boxes x1 y1 x2 y2 of the last `observe_s` seconds at the clip's frame rate, oldest first and
  right-aligned (`past[-1]` is now), NaN where the object was not visible or before the track began;
- `future`: (H, 4) true boxes at `TIMES` seconds ahead, interpolated between labelled frames, NaN where unknown.

Windows of all clips share `T` (the longest window, NaN-padded at the front), so that clips at 14, 25 and 30 fps mix
in one batch; time enters the features in seconds.

Appearance (clips with frames, see `training.appearance`): each window holds per past step only a row index into a
table of vectors that all its windows share (`Windows.vectors`), -1 where there is none; 100k windows cost 6 MB of
indices instead of 1.4 GB of float16 vectors. Without a table every index is -1 and the features are motion-only.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING

import numpy as np

from vidtrack.detect.features import APPEARANCE
from vidtrack.errors import InputError
from vidtrack.forecast.features import OBSERVE_S

if TYPE_CHECKING:
    from vidtrack.datasets import Clip
    from vidtrack.training.appearance import AppearanceTable

TIMES = np.arange(1, 46) / 30.0  # (45,) seconds ahead: the frames of 1.5 s at 30 fps, as the benchmarks measure
PAST_FRAMES = 16  # 0.5 s at 30 fps, and now


@dataclass(frozen=True, eq=False)
class Windows:
    """Row-aligned windows, and the appearance table their rows point into; see the module docstring."""

    past: np.ndarray  # (N, T, 4)
    future: np.ndarray  # (N, H, 4)
    fps: np.ndarray  # (N,)
    image_size: np.ndarray  # (N, 2) width, height
    sequence: np.ndarray  # (N,) sequence name
    track_id: np.ndarray  # (N,)
    frame: np.ndarray  # (N,) the frame that is "now"
    appearance: np.ndarray | None = None  # (N, T) int32 row in `vectors` of each past box, -1: none (the default)
    vectors: np.ndarray | None = field(default=None, metadata={"shared": True})  # (M, 448) float16, not per row

    def __post_init__(self) -> None:
        if self.appearance is None:
            object.__setattr__(self, "appearance", np.full(self.past.shape[:2], -1, dtype=np.int32))
        if self.vectors is None:
            object.__setattr__(self, "vectors", np.zeros((0, APPEARANCE.stop), dtype=np.float16))

    def __len__(self) -> int:
        return len(self.past)

    def __getitem__(self, index) -> Windows:
        """Rows of the windows; the appearance table is shared, not copied."""
        return Windows(**{f.name: getattr(self, f.name)[index] for f in _ROW_FIELDS}, vectors=self.vectors)

    @staticmethod
    def concat(parts: list[Windows]) -> Windows:
        """Stack the rows; the parts' tables are stacked too (each distinct table once) and indices shifted."""
        offsets: dict[int, int] = {}
        tables = []
        for p in parts:
            if id(p.vectors) not in offsets:
                offsets[id(p.vectors)] = sum(len(t) for t in tables)
                tables.append(p.vectors)
        rows = {f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in _ROW_FIELDS}
        rows["appearance"] = np.concatenate([np.where(p.appearance >= 0, p.appearance + offsets[id(p.vectors)], -1)
                                             for p in parts]).astype(np.int32)
        return Windows(**rows, vectors=np.concatenate(tables) if len(tables) > 1 else tables[0])


_ROW_FIELDS = [f for f in fields(Windows) if not f.metadata.get("shared")]


def cut_windows(
    clip: Clip,
    *,
    min_visibility: float = 0.25,
    stride_s: float = 0.1,
    min_observed: int = 2,
    reverse: bool = False,
    subsample: int = 1,
    appearance: AppearanceTable | None = None,
) -> Windows:
    """Cut windows from the labelled tracks of a clip (`vidtrack.datasets.read_clips`).

    A past box counts as observed when its visibility is at least `min_visibility` (a detector would miss it
    otherwise); future truth uses every labelled box, occluded or not. Windows need `min_observed` observed past
    boxes, an observed now, and a known box at the last forecast time. Two augmentations: `reverse` plays each track
    backwards (people walk both ways), and `subsample` keeps every k-th frame, as if the clip ran at fps / k.
    With an `appearance` table of the clip, each observed past box points to its (frame, track id) row in it.
    """
    if not clip.tracks:
        raise InputError(f"{clip.source}: no usable track in {clip.name} (of the classes or labels read)")
    fps = clip.fps / subsample
    if round(OBSERVE_S * fps) + 1 > PAST_FRAMES:
        raise InputError(f"{clip.source}: {fps} fps is above the 30 fps that windows are sized for")
    stride = max(1, round(stride_s * fps))
    table = appearance.vectors if appearance is not None else np.zeros((0, APPEARANCE.stop), dtype=np.float16)
    parts = []
    for track in clip.tracks:
        boxes = track.boxes  # every labelled box, by frame
        seen = track.visibility >= min_visibility  # NaN (unlabelled): False
        frames = track.frames
        looks = appearance.rows(frames, np.full(len(frames), track.track_id)) if appearance is not None else \
            np.full(len(frames), -1, dtype=np.int32)
        if reverse:
            boxes, seen, frames, looks = boxes[::-1], seen[::-1], frames[::-1], looks[::-1]
        for phase in range(subsample):
            past, future, nows, steps = _track_windows(boxes[phase::subsample], seen[phase::subsample], fps, stride,
                                                       min_observed)
            if len(nows):
                count = len(nows)
                parts.append(Windows(
                    past=past, future=future, fps=np.full(count, fps),
                    image_size=np.tile(clip.image_size, (count, 1)), sequence=np.full(count, clip.name),
                    track_id=np.full(count, track.track_id), frame=frames[phase::subsample][nows],
                    appearance=np.where(steps >= 0, looks[phase::subsample][np.maximum(steps, 0)], -1).astype(np.int32),
                    vectors=table,
                ))
    if not parts:
        raise InputError(f"{clip.source}: no track is long enough for a {OBSERVE_S} s + {TIMES[-1]} s window")
    return Windows.concat(parts)


def benchmark_windows(
    clip: Clip, *, observe: int = 15, predict: int = 45, stride: int = 7, min_boxes: int = 61
) -> Windows | None:
    """The windows of the published JAAD/PIE trajectory benchmark (PIE_traj, Rasouli et al., ICCV 2019; BiTraP;
    SGNet), cut as the dataset's own code cuts them: every labelled box of a track, occluded ones included, taken in
    order with gaps not checked; tracks of at least `min_boxes` boxes; windows of `observe` + `predict` boxes, one
    starting every `stride` boxes from the track's first (`int((1 - 0.5) * observe)`: an overlap of 0.5).

    `past` holds the `observe` boxes right-aligned in `PAST_FRAMES` rows (NaN before), `future` the next `predict`
    boxes, taken as `predict` frames at the clip's rate (1.5 s at 30 fps). None when no track is long enough.
    """
    length = observe + predict
    if observe > PAST_FRAMES:
        raise ValueError(f"observe={observe} is longer than the {PAST_FRAMES} past rows of a window")
    parts = []
    for track in clip.tracks:
        boxes = track.boxes[track.labelled]
        if len(boxes) < min_boxes:
            continue
        starts = np.arange(0, len(boxes) - length + 1, stride)
        cut = boxes[starts[:, None] + np.arange(length)]  # (W, length, 4)
        past = np.full((len(starts), PAST_FRAMES, 4), np.nan)
        past[:, PAST_FRAMES - observe:] = cut[:, :observe]
        count = len(starts)
        parts.append(Windows(
            past=past, future=cut[:, observe:], fps=np.full(count, clip.fps),
            image_size=np.tile(clip.image_size, (count, 1)), sequence=np.full(count, clip.name),
            track_id=np.full(count, track.track_id), frame=track.frames[track.labelled][starts + observe - 1],
        ))
    return Windows.concat(parts) if parts else None


def _track_windows(
    boxes: np.ndarray, seen: np.ndarray, fps: float, stride: int, min_observed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The windows of one track, given its labelled boxes (L, 4) and whether each was visible (L,): returns past
    (W, PAST_FRAMES, 4), future (W, H, 4), the index of now in the track (W,), and the index in the track of each
    observed past box (W, PAST_FRAMES), -1 where the past box is NaN."""
    n_past = round(OBSERVE_S * fps) + 1
    ahead_frames = TIMES * fps  # fractional frames ahead
    observed = np.where(seen[:, None], boxes, np.nan)
    nows = np.arange(0, len(boxes) - int(np.ceil(ahead_frames[-1])), stride)
    nows = nows[seen[nows]]
    past_index = nows[:, None] + np.arange(-n_past + 1, 1)  # (W, n_past)
    past = np.where((past_index >= 0)[..., None], observed[np.clip(past_index, 0, None)], np.nan)
    ahead = nows[:, None] + ahead_frames  # (W, H) fractional frame positions
    low = np.floor(ahead).astype(int)
    frac = (ahead - low)[..., None]
    future = boxes[low] * (1 - frac) + boxes[np.minimum(low + 1, len(boxes) - 1)] * frac
    future = np.where(frac == 0, boxes[low], future)  # exact frames need no neighbour
    keep = (np.isfinite(past).all(axis=2).sum(axis=1) >= min_observed) & np.isfinite(future[:, -1]).all(axis=1)
    padded = np.full((int(keep.sum()), PAST_FRAMES, 4), np.nan)
    padded[:, PAST_FRAMES - n_past:] = past[keep]
    steps = np.full(padded.shape[:2], -1)
    steps[:, PAST_FRAMES - n_past:] = np.where(np.isfinite(past[keep]).all(axis=2), past_index[keep], -1)
    return padded, future[keep], nows[keep], steps


@dataclass(frozen=True)
class Augmentation:
    """Perturbations that make clean labels look like a tracker's boxes and vary the scene (all probabilities)."""

    flip: float = 0.5  # mirror left-right
    scale: float = 0.0  # zoom about the image centre by up to this share
    pan_px_s: float = 0.0  # camera pan, standard deviation in image widths per second
    jitter: float = 0.0  # box noise, standard deviation as a fraction of the box height
    drop: float = 0.05  # missed detections in the past (never now)
    fragment: float = 0.2  # the track starts later within the window


def augment(windows: Windows, rng: np.random.Generator, aug: Augmentation = Augmentation()) -> Windows:
    """A randomly perturbed copy of `windows` (past and future move together, except detector noise).

    Appearance indices are kept: a flipped, zoomed or panned person looks close enough to the unflipped one for the
    pooled (averaged) features, and a dropped box loses its appearance with its box (features need both).
    """
    past, future = windows.past.copy(), windows.future.copy()
    n, t_len = past.shape[:2]
    width = windows.image_size[:, 0].astype(float)
    height = windows.image_size[:, 1].astype(float)
    flip = rng.random(n) < aug.flip
    for boxes in (past, future):
        boxes[flip] = boxes[flip][..., [2, 1, 0, 3]] * [-1, 1, -1, 1] + np.stack(
            [width[flip], np.zeros(flip.sum()), width[flip], np.zeros(flip.sum())], axis=1)[:, None]
    scale = np.exp(rng.uniform(np.log(1 - aug.scale), np.log(1 + aug.scale), n))[:, None, None]
    centre = np.stack([width, height, width, height], axis=1)[:, None] / 2
    past, future = centre + (past - centre) * scale, centre + (future - centre) * scale
    pan = rng.normal(0, aug.pan_px_s, (n, 2)) * np.stack([width, height], axis=1)  # px per second
    past_t = (np.arange(t_len) - (t_len - 1))[None, :] / windows.fps[:, None]  # seconds, <= 0
    past += (past_t[..., None] * pan[:, None])[..., [0, 1, 0, 1]]
    future += (TIMES[None, :, None] * pan[:, None])[..., [0, 1, 0, 1]]
    h = (past[:, -1, 3] - past[:, -1, 1])[:, None, None]
    past += rng.normal(0, aug.jitter, past.shape) * h
    dropped = rng.random((n, t_len)) < aug.drop
    dropped[:, -1] = False
    starts = np.where(rng.random(n) < aug.fragment, rng.integers(0, t_len - 1, n), 0)
    dropped |= np.arange(t_len)[None] < starts[:, None]
    past[dropped] = np.nan
    return replace(windows, past=past, future=future)
