"""What every dataset reader returns: clips of labelled tracks, one box per frame.

A reader is a module of this package with a `LAYOUT` (what it reads, in words), `detect(path) -> bool` and
`read(path, **options) -> list[Clip]`; `vidtrack.datasets.read_clips` picks the reader whose `detect` accepts a path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidtrack.errors import InputError


@dataclass(frozen=True, eq=False)
class LabelledTrack:
    """One object's labelled boxes on consecutive frames `first_frame ... first_frame + L - 1`.

    `boxes` (L, 4) float64 x1 y1 x2 y2 in pixels and `visibility` (L,) in [0, 1] are NaN on frames without a label
    (a gap inside the track). `track_id` is the dataset's number for the object (the MOTChallenge id, the ETH/UCY
    pedestrian, the track's index in a JAAD file); `name` is its own id where it has one (JAAD's "0_1_3b").

    >>> t = LabelledTrack(7, 1, np.array([[0.0, 0, 10, 20], [1, 0, 11, 20]]), np.array([1.0, 0.5]))
    >>> t.frames
    array([1, 2])
    """

    track_id: int
    first_frame: int
    boxes: np.ndarray  # (L, 4)
    visibility: np.ndarray  # (L,)
    name: str = ""

    def __post_init__(self) -> None:
        boxes = np.asarray(self.boxes, dtype=np.float64)
        visibility = np.asarray(self.visibility, dtype=np.float64)
        if boxes.ndim != 2 or boxes.shape[1] != 4 or visibility.shape != (len(boxes),):
            raise ValueError(f"boxes must be (L, 4) and visibility (L,), got {boxes.shape} and {visibility.shape}")
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "visibility", visibility)

    def __len__(self) -> int:
        return len(self.boxes)

    @property
    def frames(self) -> np.ndarray:
        """(L,) the frame number of each row."""
        return np.arange(self.first_frame, self.first_frame + len(self.boxes))

    @property
    def labelled(self) -> np.ndarray:
        """(L,) which rows have a box."""
        return np.isfinite(self.boxes).all(axis=1)


@dataclass(frozen=True, eq=False)
class Clip:
    """A video's labelled tracks. `image_size` is (width, height) in pixels; `source` is the file or folder the
    labels came from (a MOTChallenge sequence folder, a JAAD annotation file, an ETH/UCY file); `ego_action` (F,)
    holds the recording vehicle's action per frame where the dataset has it (JAAD: `jaad.EGO_ACTIONS`); `dataset`
    names the reader ("jaad", "motchallenge", "eth-ucy"), which chooses how forecasts are scored on it."""

    name: str
    fps: float
    image_size: tuple[int, int]
    tracks: list[LabelledTrack]
    source: Path
    ego_action: np.ndarray | None = None
    dataset: str = ""

    def __len__(self) -> int:
        return len(self.tracks)


def wrong_layout(path: str | os.PathLike, expected: str) -> InputError:
    """The error for a path that a reader was asked to read but that has another layout: says what it is (when
    another reader recognises it) and what was expected."""
    from vidtrack.datasets import READERS  # the registry imports the readers, which import this module

    path = Path(path)
    found = next((reader.LAYOUT for reader in READERS.values() if reader.detect(path)), None)
    if not path.exists():
        return InputError(f"{path}: no such file or folder (expected {expected})")
    if found is None:
        return InputError(f"{path}: not {expected}")
    return InputError(f"{path}: found {found}, expected {expected}")
