"""MOTChallenge ground truth as clips: a sequence folder (`seqinfo.ini`, `gt/gt.txt`) or a folder of them.

The files are parsed and validated by `vidtrack.io.motchallenge`, which tracking output and scoring use too. Rows
with `consider` 0 or a class outside `classes` are left out; the visibility column becomes `visibility`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vidtrack.datasets.base import Clip, LabelledTrack, wrong_layout
from vidtrack.io.motchallenge import read_ground_truth, read_seqinfo

LAYOUT = "a MOTChallenge sequence folder (seqinfo.ini and gt/gt.txt) or a folder of them"


def sequences(path: str | os.PathLike) -> list[Path]:
    """The sequence folders at `path`: itself if it is one, else its subfolders that are (sorted by name)."""
    root = Path(path)
    if not root.is_dir():
        return []
    candidates = [root] if (root / "seqinfo.ini").is_file() else sorted(p for p in root.iterdir() if p.is_dir())
    return [p for p in candidates if (p / "seqinfo.ini").is_file() and (p / "gt" / "gt.txt").is_file()]


def detect(path: str | os.PathLike) -> bool:
    return bool(sequences(path))


def read(path: str | os.PathLike, *, classes: tuple[int, ...] = (1,)) -> list[Clip]:
    """One clip per sequence folder, tracks in id order; pedestrians only by default (class 1)."""
    found = sequences(path)
    if not found:
        raise wrong_layout(path, LAYOUT)
    return [read_sequence(folder, classes=classes) for folder in found]


def read_sequence(folder: Path, *, classes: tuple[int, ...] = (1,)) -> Clip:
    info = read_seqinfo(folder / "seqinfo.ini")
    gt = read_ground_truth(folder / "gt" / "gt.txt")
    gt = gt[gt.consider & np.isin(gt.class_id, classes)]
    tracks = []
    for track_id in np.unique(gt.track_id):
        rows = gt[gt.track_id == track_id]
        first, last = int(rows.frame.min()), int(rows.frame.max())
        boxes = np.full((last - first + 1, 4), np.nan)
        boxes[rows.frame - first] = rows.xyxy
        visibility = np.full(len(boxes), np.nan)
        visibility[rows.frame - first] = rows.visibility
        tracks.append(LabelledTrack(int(track_id), first, boxes, visibility, name=str(int(track_id))))
    return Clip(info.name, info.fps, (info.width, info.height), tracks, folder, dataset="motchallenge")
