"""Reading and writing MOTChallenge files: ``seqinfo.ini``, detection/result files and ground truth.

These files come from other tools and people, so every reader validates what it reads and reports the first bad
line as ``path:LINE: problem`` (an `InputError`) instead of failing later with a shape or index error.
Rows that are merely unusable (NaN boxes, empty boxes) are skipped with one summarising warning per file.
"""

from __future__ import annotations

import configparser
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import numpy as np

from vidtrack.errors import InputError
from vidtrack.io.files import LineFile
from vidtrack.structures import Detections, Tracks

logger = logging.getLogger("vidtrack")

_DET_COLUMNS = "frame,id,left,top,width,height,score"
_GT17_COLUMNS = "frame,id,left,top,width,height,consider,class,visibility"
_GT15_COLUMNS = "frame,id,left,top,width,height,conf,x,y,z"


@dataclass(frozen=True, slots=True)
class SeqInfo:
    """The `[Sequence]` section of a MOTChallenge ``seqinfo.ini``: what a reader needs to know about a sequence."""

    name: str
    fps: float
    width: int
    height: int
    length: int
    im_dir: str = "img1"
    im_ext: str = ".jpg"
    path: Path | None = None

    @property
    def image_folder(self) -> Path | None:
        """The folder of the frames, or None where the sequence was shipped without them."""
        if self.path is None:
            return None
        folder = self.path.parent / self.im_dir
        return folder if folder.is_dir() else None


def read_seqinfo(path: str | os.PathLike) -> SeqInfo:
    """Read a ``seqinfo.ini`` (or the ``seqinfo.ini`` inside a sequence folder).

    frameRate, seqLength, imWidth and imHeight are required; name defaults to the folder name, imDir to img1 and
    imExt to .jpg.
    """
    path, section = _sequence_section(path)
    fps = _positive(path, section, "frameRate", float)
    length, width, height = (_positive(path, section, key, int) for key in ("seqLength", "imWidth", "imHeight"))
    return SeqInfo(
        name=section.get("name", "").strip() or path.resolve().parent.name,
        fps=fps,
        width=width,
        height=height,
        length=length,
        im_dir=section.get("imDir", "").strip() or "img1",
        im_ext=section.get("imExt", "").strip() or ".jpg",
        path=path,
    )


def read_seq_length(path: str | os.PathLike) -> int:
    """Read only seqLength from a ``seqinfo.ini`` (or a sequence folder): all that scoring results needs.

    MOT15 sequences such as TUD ship a ``seqinfo.ini`` with just name and seqLength, which `read_seqinfo` refuses.
    """
    path, section = _sequence_section(path)
    return _positive(path, section, "seqLength", int)


def _sequence_section(path: str | os.PathLike) -> tuple[Path, configparser.SectionProxy]:
    path = Path(path)
    if path.is_dir():
        path = path / "seqinfo.ini"
    if not path.is_file():
        raise InputError(f"{path}: sequence info file not found")
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(path.read_text(encoding="utf-8-sig"), source=str(path))
    except (configparser.Error, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not a valid ini file: {' '.join(str(e).split())}") from None
    if not parser.has_section("Sequence"):
        raise InputError(f"{path}: no [Sequence] section")
    return path, parser["Sequence"]


def _positive(path: Path, section: configparser.SectionProxy, key: str, kind: type[int | float]) -> int | float:
    raw = section.get(key)
    if raw is None or not raw.strip():
        raise InputError(f"{path}: missing key {key} in [Sequence]")
    try:
        value = kind(raw.strip())
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or value <= 0:
        what = "integer" if kind is int else "number"
        raise InputError(f"{path}: {key}={raw.strip()!r} is not a positive {what}")
    return value


def _read_fields(path: Path) -> list[tuple[int, list[str]]]:
    """Split the non-blank lines of a comma- (or whitespace-) separated file into (line number, fields)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read: {e}") from None
    rows = []
    for lineno, line in enumerate(text.split("\n"), 1):
        line = line.strip()
        if line:  # float() and numpy ignore the blanks around comma-separated fields
            rows.append((lineno, line.split(",") if "," in line else line.split()))
    return rows


def _to_array(path: Path, rows: list[tuple[int, list[str]]], ncols: int, columns: str) -> np.ndarray:
    """Convert the first `ncols` fields of each row to a float64 (N, ncols) array, naming the first bad line."""
    for lineno, fields in rows:
        if len(fields) < ncols:
            raise InputError(f"{path}:{lineno}: expected at least {ncols} columns ({columns}), found {len(fields)}")
    try:  # numpy parses the strings in one pass; on failure, find the culprit line by line
        return np.array([fields[:ncols] for _, fields in rows], dtype=np.float64).reshape(-1, ncols)
    except ValueError:
        for lineno, fields in rows:
            bad = [f for f in fields[:ncols] if not _is_float(f)]
            if bad:
                raise InputError(f"{path}:{lineno}: non-numeric value {bad[0].strip()!r}") from None
        raise


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _check_integers(path: Path, name: str, column: np.ndarray, linenos: np.ndarray) -> None:
    """Frames, ids and classes are stored as numbers but must be whole; a fraction means a misread column."""
    bad = ~np.isfinite(column) | (column != np.round(column))
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(f"{path}:{linenos[i]}: {name} {column[i]:g} is not an integer")


def _check_frames(path: Path, frame: np.ndarray, linenos: np.ndarray, seq_length: int | None) -> None:
    _check_integers(path, "frame", frame, linenos)
    bad = (frame < 1) | (frame > seq_length if seq_length is not None else False)
    if bad.any():
        i = int(np.argmax(bad))
        span = f"1..{seq_length}" if seq_length is not None else "1 or more"
        raise InputError(f"{path}:{linenos[i]}: frame {frame[i]:g} is outside the sequence (frames {span})")


def _warn_skipped(path: Path, skip: np.ndarray, linenos: np.ndarray, why: str) -> None:
    if skip.any():
        first = linenos[int(np.argmax(skip))]
        logger.warning("%s: skipped %d rows with %s (first at line %d)", path, int(skip.sum()), why, first)


def _no_detections() -> Detections:
    """An empty frame, with features None like every other frame read from a text file."""
    return Detections(np.zeros((0, 4)), np.zeros(0), np.zeros(0))


def read_detections(
    path: str | os.PathLike, *, seq_length: int | None = None, min_score: float = -math.inf
) -> dict[int, Detections]:
    """Read a MOTChallenge detection or result file into per-frame `Detections` (class 0, no features).

    Columns: frame, id, left, top, width, height, score, then any number of ignored ones; rows may come in any
    order. Frames without rows are absent, unless `seq_length` is given: then every frame 1..seq_length is present
    and a frame outside that range is an error. Rows whose score is below `min_score` are dropped silently; rows
    with NaN/inf values or an empty box are dropped with a warning. The id column is not kept (read result files'
    ids with `read_ground_truth`).
    """
    path = Path(path)
    rows = _read_fields(path)
    values = _to_array(path, rows, 7, _DET_COLUMNS)
    linenos = np.array([lineno for lineno, _ in rows], dtype=np.int64)
    frame, xywh, score = values[:, 0], values[:, 2:6], values[:, 6]
    _check_frames(path, frame, linenos, seq_length)
    if not rows:
        logger.warning("%s: no detections in file", path)

    xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1).astype(np.float32)
    nonfinite = ~np.isfinite(xyxy).all(axis=1) | ~np.isfinite(values[:, 2:7]).all(axis=1)
    empty = ~nonfinite & ((xywh[:, 2] <= 0) | (xywh[:, 3] <= 0))
    _warn_skipped(path, nonfinite, linenos, "NaN or inf in box or score")
    _warn_skipped(path, empty, linenos, "width or height <= 0")
    keep = ~nonfinite & ~empty & (score >= min_score)

    frame = frame[keep].astype(np.int64)
    order = np.argsort(frame, kind="stable")  # keeps the file's order within a frame
    frame, xyxy, score = frame[order], xyxy[keep][order], score[keep][order]
    frames, starts, counts = np.unique(frame, return_index=True, return_counts=True)
    stops = starts + counts
    out = {
        int(f): Detections(xyxy[a:b], score[a:b], np.zeros(b - a, dtype=np.int64))
        for f, a, b in zip(frames, starts, stops, strict=True)
    }
    if seq_length is None:
        return out
    return {f: out[f] if f in out else _no_detections() for f in range(1, seq_length + 1)}


def read_results(path: str | os.PathLike, *, seq_length: int | None = None) -> np.ndarray:
    """Read a MOTChallenge result file for scoring: a float64 (N, 7) array of frame, id, left, top, width, height,
    score, in file order.

    Any columns after the score are ignored. Results are what gets scored, so a row that cannot be scored is an error
    naming its line rather than a skipped row: a frame outside 1..seq_length (when given), a non-integer id, a NaN
    or inf value, a width or height <= 0, or an id that occurs twice in one frame.
    """
    path = Path(path)
    rows = _read_fields(path)
    values = _to_array(path, rows, 7, _DET_COLUMNS)
    if not rows:
        logger.warning("%s: no results in file", path)
    linenos = np.array([lineno for lineno, _ in rows], dtype=np.int64)
    nonfinite = ~np.isfinite(values[:, :6]).all(axis=1)
    if nonfinite.any():
        raise InputError(f"{path}:{linenos[int(np.argmax(nonfinite))]}: NaN or inf value in frame, id or box")
    _check_frames(path, values[:, 0], linenos, seq_length)
    _check_integers(path, "id", values[:, 1], linenos)
    empty = (values[:, 4] <= 0) | (values[:, 5] <= 0)
    if empty.any():
        i = int(np.argmax(empty))
        raise InputError(f"{path}:{linenos[i]}: box width {values[i, 4]:g}, height {values[i, 5]:g}: both must be > 0")
    duplicate = find_duplicate_ids(values[:, 0], values[:, 1])
    if duplicate is not None:
        first, second = duplicate
        raise InputError(f"{path}:{linenos[second]}: id {int(values[second, 1])} occurs twice in frame "
                         f"{int(values[second, 0])} (also at line {linenos[first]})")
    return values


def find_duplicate_ids(frame: np.ndarray, track_id: np.ndarray) -> tuple[int, int] | None:
    """An id names one object, so it may occur only once per frame: the rows (earlier, later) of the first repeat
    (the one whose later row comes first), or None."""
    order = np.lexsort((np.arange(len(frame)), track_id, frame))
    same = np.flatnonzero((np.diff(frame[order]) == 0) & (np.diff(track_id[order]) == 0))
    if not len(same):
        return None
    k = same[np.argmin(order[same + 1])]
    return int(order[k]), int(order[k + 1])


@dataclass(frozen=True, slots=True)
class GroundTruth:
    """Ground-truth boxes of a whole sequence as row-aligned columns, so that metrics can select with masks.

    Attributes:
        frame: (N,) int64 1-based frame numbers.
        track_id: (N,) int64 object ids.
        xywh: (N, 4) float32 left, top, width, height in pixels (boxes may extend past the image).
        consider: (N,) bool whether the row takes part in evaluation (MOT17: only pedestrians, class 1).
        class_id: (N,) int64 MOTChallenge class (1 pedestrian, 2 person on vehicle, 7 static person, 8 distractor,
            12 reflection, ...).
        visibility: (N,) float32 visible fraction, 0 (fully occluded) to 1.
    """

    frame: np.ndarray
    track_id: np.ndarray
    xywh: np.ndarray
    consider: np.ndarray
    class_id: np.ndarray
    visibility: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "frame", np.asarray(self.frame, dtype=np.int64).reshape(-1))
        n = len(self.frame)
        for name, dtype in (("track_id", np.int64), ("consider", bool), ("class_id", np.int64),
                            ("visibility", np.float32)):
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=dtype).reshape(-1))
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} must have {n} rows, got {len(getattr(self, name))}")
        object.__setattr__(self, "xywh", np.asarray(self.xywh, dtype=np.float32).reshape(-1, 4))
        if len(self.xywh) != n:
            raise ValueError(f"xywh must have {n} rows, got {len(self.xywh)}")

    def __len__(self) -> int:
        return len(self.frame)

    def __getitem__(self, index: np.ndarray | slice | list[int] | int) -> GroundTruth:
        """Select rows with a boolean mask, an index array, a slice or an int (which keeps one row)."""
        if isinstance(index, (int, np.integer)):
            index = [index]
        return GroundTruth(self.frame[index], self.track_id[index], self.xywh[index], self.consider[index],
                           self.class_id[index], self.visibility[index])

    @property
    def xyxy(self) -> np.ndarray:
        """(N, 4) boxes as x1, y1, x2, y2, the layout of `Detections` and `Tracks`."""
        return np.concatenate([self.xywh[:, :2], self.xywh[:, :2] + self.xywh[:, 2:]], axis=1)


def read_ground_truth(path: str | os.PathLike) -> GroundTruth:
    """Read a MOTChallenge ground-truth file; the column count of its first row decides the layout.

    9 columns (MOT16/MOT17): frame, id, left, top, width, height, consider, class, visibility.
    10 columns (MOT15, e.g. TUD): frame, id, left, top, width, height, conf, x, y, z; conf != 0 becomes `consider`,
    every row is class 1 with visibility 1 and the world coordinates x, y, z are ignored. A 10-column result
    file reads the same way, which gives its track ids (`consider` is then score != 0).
    All rows must have the same column count, and every value used must be finite: ground truth is the reference,
    so a bad row is an error rather than a skipped row.
    """
    path = Path(path)
    rows = _read_fields(path)
    if not rows:
        logger.warning("%s: no ground-truth rows in file", path)
        return GroundTruth(*(np.zeros(0) for _ in range(6)))
    ncols = len(rows[0][1])
    if ncols not in (9, 10):
        raise InputError(f"{path}:{rows[0][0]}: expected 9 columns ({_GT17_COLUMNS}) or 10 ({_GT15_COLUMNS}), "
                         f"found {ncols}")
    for lineno, fields in rows:
        if len(fields) != ncols:
            raise InputError(f"{path}:{lineno}: expected {ncols} columns like line {rows[0][0]}, found {len(fields)}")
    values = _to_array(path, rows, ncols, _GT17_COLUMNS if ncols == 9 else _GT15_COLUMNS)
    linenos = np.array([lineno for lineno, _ in rows], dtype=np.int64)
    used = values[:, :9] if ncols == 9 else values[:, :7]
    if not np.isfinite(used).all():
        i = int(np.argmax(~np.isfinite(used).all(axis=1)))
        raise InputError(f"{path}:{linenos[i]}: NaN or inf value in ground truth")
    _check_frames(path, values[:, 0], linenos, None)
    _check_integers(path, "id", values[:, 1], linenos)
    n = len(values)
    if ncols == 9:
        _check_integers(path, "class", values[:, 7], linenos)
        class_id, visibility = values[:, 7], values[:, 8]
    else:
        class_id, visibility = np.ones(n), np.ones(n)
    return GroundTruth(values[:, 0], values[:, 1], values[:, 2:6], values[:, 6] != 0, class_id, visibility)


class MOTWriter:
    """Writes tracking results in the MOTChallenge format, one line per track and frame.

    Line format: ``frame,id,left,top,width,height,score,-1,-1,-1`` with a 1-based frame, the box in pixels with
    2 decimals and the score with 4 (e.g. ``3,7,912.80,482.90,97.60,112.60,0.9512,-1,-1,-1``), which the MOTChallenge
    devkit, py-motmetrics and `read_detections` all read. Each frame goes to the file in one unbuffered write
    (`LineFile`), so a run killed between frames leaves only whole lines behind, and a frame that does not fit on the
    disk is taken back out (an `OutputError`). The parent folder is created.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = LineFile(self.path)

    def write(self, frame: int, tracks: Tracks) -> None:
        """Append the tracks of one frame (1-based); a frame without tracks writes nothing."""
        if self._file.closed:
            raise ValueError(f"{self.path}: write() after close()")
        if int(frame) != frame or frame < 1:
            raise ValueError(f"frame must be a 1-based integer, got {frame!r}")
        # Build the whole frame first: an exception while formatting must not leave a partial frame in the file.
        text = "".join(
            f"{int(frame)},{tid},{x:.2f},{y:.2f},{w:.2f},{h:.2f},{s:.4f},-1,-1,-1\n"
            for tid, (x, y, w, h), s in zip(
                np.asarray(tracks.track_id).tolist(), np.asarray(tracks.xywh).tolist(),
                np.asarray(tracks.score).tolist(), strict=True)
        )
        if text:
            self._file.write(text)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
