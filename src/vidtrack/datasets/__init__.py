"""Labelled tracks from every dataset through one interface: `read_clips(path) -> list[Clip]`.

Each reader is one module with `LAYOUT`, `detect(path)` and `read(path, **options)` (see `base.py`); adding a
dataset means adding a module and a line to `READERS`. Readers are tried in order:

- `jaad`: a JAAD root (`annotations/`, `split_ids/`); options `split`, `subset`, `labels`.
- `motchallenge`: a sequence folder (`seqinfo.ini`, `gt/gt.txt`) or a folder of them; option `classes`.
- `eth_ucy`: an ETH/UCY trajectory file, as pseudo-box tracks through a virtual camera; options `fps`, `seed`, ...

>>> clips = read_clips("../shared/data/JAAD", split="val")  # doctest: +SKIP
>>> clips[0].name, clips[0].fps, clips[0].tracks[0].boxes.shape  # doctest: +SKIP
('video_0006', 30.0, (330, 4))
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path

from vidtrack.datasets import eth_ucy, jaad, motchallenge
from vidtrack.datasets.base import Clip, LabelledTrack
from vidtrack.errors import InputError

READERS = {"jaad": jaad, "motchallenge": motchallenge, "eth_ucy": eth_ucy}

__all__ = ["READERS", "Clip", "LabelledTrack", "read_clips"]


def read_clips(
    path: str | os.PathLike, *, split: str | None = None, subset: str = "default", classes: tuple[int, ...] = (1,),
    kind: str | None = None, **options,
) -> list[Clip]:
    """The clips at `path`, read by the reader that recognises its layout (or by the reader named `kind`, which
    then says what it found instead when the path has another layout).

    `split` and `subset` choose JAAD videos (split None: every annotation file), `classes` the MOTChallenge classes;
    options that the chosen reader does not take are ignored, so that one call reads a mix of datasets. Further
    `options` go to the reader where it takes them (e.g. `fps` and `seed` of `eth_ucy`).
    """
    path = Path(path)
    if kind is not None:
        if kind not in READERS:
            raise InputError(f"unknown dataset kind {kind!r}; choose one of {', '.join(READERS)}")
        reader = READERS[kind]
    else:
        if not path.exists():
            raise InputError(f"{path}: no such file or folder")
        reader = next((r for r in READERS.values() if r.detect(path)), None)
        if reader is None:
            raise InputError(f"{path}: no labelled clips found; accepted: "
                             + "; ".join(r.LAYOUT for r in READERS.values()))
    unknown = [k for k in options if not any(k in inspect.signature(r.read).parameters for r in READERS.values())]
    if unknown:
        raise TypeError(f"read_clips: no reader takes {', '.join(unknown)}")
    given = {"split": split, "subset": subset, "classes": classes, **options}
    accepted = inspect.signature(reader.read).parameters
    return reader.read(path, **{k: v for k, v in given.items() if k in accepted})
