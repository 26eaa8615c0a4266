"""Shared test helpers: where the real, read-only data lives (see ../shared/data/README.md)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# Mark tests that read the real data; they are skipped where the shared folder is absent.
shared_data = pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared data not found at {SHARED}")


def small_jaad(root: Path, videos=("video_0001", "video_0002", "video_0003"), train=("video_0001", "video_0002"),
               val=("video_0003",)) -> Path:
    """A JAAD root at `root` with copies of a few of the real videos and split lists of our own (default subset)."""
    for folder, suffix in (("annotations", ".xml"), ("annotations_vehicle", "_vehicle.xml")):
        (root / folder).mkdir(parents=True)
        for video in videos:
            shutil.copy(SHARED / "JAAD" / folder / f"{video}{suffix}", root / folder / f"{video}{suffix}")
    (root / "split_ids" / "default").mkdir(parents=True)
    (root / "split_ids" / "default" / "train.txt").write_text("".join(f"{v}\n" for v in train))
    (root / "split_ids" / "default" / "val.txt").write_text("".join(f"{v}\n" for v in val))
    return root
