"""Appearance of labelled boxes: the detector's 448 appearance values pooled at each ground-truth box, cached on disk.

For a MOTChallenge sequence with frames (``img1/000001.jpg`` ..., per ``imDir`` and ``imExt`` in ``seqinfo.ini``;
videos are not read), every ground-truth row whose frame image exists gets the vector that `Detector.appearance`
pools at its box. The detector runs once per frame, so the result is cached and epochs never re-run YOLO:

    ~/.cache/vidtrack/appearance/<sequence>-<key>.safetensors   (or $VIDTRACK_CACHE/appearance/, or a given folder)

holding ``frame`` and ``track_id`` (M,) int64 and ``vectors`` (M, 448) float16 (unit norm), rows sorted by frame
then track id, and the key again in its metadata. The key hashes what decides the values: the ground-truth file's
content, the frame numbers and file sizes, the weights file's name and size, and imgsz. The device is not part of
it, so that a cache built on a GPU (where the detector runs in half precision, which moves the vectors slightly)
serves CPU runs too. A file that is unreadable or does not match its key is computed again, with a warning;
safetensors files hold arrays only and are never unpickled. Writes are atomic (a temporary file, then a rename), so
processes that build the same file at once (e.g. ranks under torchrun) each compute it but never leave a broken one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

import cv2
import numpy as np

from vidtrack.detect.detector import Detector
from vidtrack.detect.features import APPEARANCE
from vidtrack.detect.weights import resolve_weights
from vidtrack.io.motchallenge import read_ground_truth, read_seqinfo

log = logging.getLogger("vidtrack")

CACHE_FORMAT = 1  # bump when the pooling changes, so that old files stop matching
DIM = APPEARANCE.stop


def cache_dir() -> Path:
    """`$VIDTRACK_CACHE/appearance`, by default ~/.cache/vidtrack/appearance (as for the detector weights)."""
    return Path(os.environ.get("VIDTRACK_CACHE", Path.home() / ".cache" / "vidtrack")) / "appearance"


@dataclass(frozen=True)
class AppearanceTable:
    """Appearance vectors of one sequence's ground-truth boxes, found by (frame, track id)."""

    frame: np.ndarray  # (M,) int64, sorted with track_id
    track_id: np.ndarray  # (M,) int64
    vectors: np.ndarray  # (M, 448) float16, unit norm

    def __len__(self) -> int:
        return len(self.frame)

    def rows(self, frame: np.ndarray, track_id: np.ndarray) -> np.ndarray:
        """The row of each (frame, track id) pair in `vectors` (same shape as the inputs, int32), -1 where none."""
        keys = _keys(self.frame, self.track_id)
        query = _keys(np.asarray(frame), np.asarray(track_id))
        at = np.minimum(np.searchsorted(keys, query), max(len(keys) - 1, 0))
        found = (keys[at] == query) if len(keys) else np.zeros(query.shape, dtype=bool)
        return np.where(found, at, -1).astype(np.int32)


def _keys(frame: np.ndarray, track_id: np.ndarray) -> np.ndarray:
    return (frame.astype(np.int64) << 32) | (track_id.astype(np.int64) & 0xFFFFFFFF)


def sequence_appearance(
    sequence: str | os.PathLike,
    *,
    model: str = "yolov8n.pt",
    imgsz: int = 640,
    device: str = "auto",
    batch: int = 8,
    cache: str | os.PathLike | None = None,
) -> AppearanceTable | None:
    """The appearance table of a sequence folder, loaded from the cache or computed and cached; None when the
    sequence has no frames (then its windows stay motion-only)."""
    folder = Path(sequence)
    info = read_seqinfo(folder / "seqinfo.ini")
    images = info.image_folder
    if images is None:
        return None
    gt_file = folder / "gt" / "gt.txt"
    gt = read_ground_truth(gt_file)
    paths = {int(f): images / f"{int(f):06d}{info.im_ext}" for f in np.unique(gt.frame)}
    sizes = {f: p.stat().st_size for f, p in paths.items() if p.is_file()}
    if not sizes:
        log.warning("%s: no frame of the ground truth is in %s; motion-only", folder, images)
        return None
    weights = Path(resolve_weights(model))
    key = hashlib.sha256(json.dumps({
        "format": CACHE_FORMAT, "sequence": info.name, "gt": hashlib.sha256(gt_file.read_bytes()).hexdigest(),
        "frames": sorted(sizes.items()), "weights": [weights.name, weights.stat().st_size if weights.is_file() else 0],
        "imgsz": imgsz,
    }).encode()).hexdigest()[:20]
    path = Path(cache or cache_dir()) / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', info.name)}-{key}.safetensors"
    if path.exists():
        table = _load(path, key)
        if table is not None:
            return table
    keep = np.isin(gt.frame, list(sizes))
    order = np.lexsort((gt.track_id[keep], gt.frame[keep]))
    frame, track_id, xyxy = gt.frame[keep][order], gt.track_id[keep][order], gt.xyxy[keep][order]
    detector = Detector(model, imgsz=imgsz, device=device, appearance="neck")
    vectors, done = _compute(paths, frame, xyxy, detector, batch, info.name)
    table = AppearanceTable(frame[done], track_id[done], vectors[done])
    _save(path, table, {"key": key, "sequence": info.name, "weights": weights.name, "imgsz": str(imgsz)})
    return table


def _compute(
    paths: dict[int, Path], frame: np.ndarray, xyxy: np.ndarray, detector: Detector, batch: int, name: str
) -> tuple[np.ndarray, np.ndarray]:
    """(M, 448) float16 vectors of the boxes, computed frame by frame in batches, and (M,) which rows have one (not
    those of unreadable frames)."""
    from tqdm import tqdm

    frames = np.unique(frame)
    starts = np.searchsorted(frame, frames)
    stops = np.searchsorted(frame, frames, side="right")
    vectors = np.zeros((len(frame), DIM), dtype=np.float16)
    done = np.zeros(len(frame), dtype=bool)
    chunks = [range(i, min(i + batch, len(frames))) for i in range(0, len(frames), max(batch, 1))]

    def read(k: int) -> np.ndarray | None:
        return cv2.imread(str(paths[int(frames[k])]))

    with ThreadPoolExecutor(4) as pool, tqdm(total=len(frames), unit="frame", desc=f"appearance {name}") as bar:
        pending = [pool.submit(read, k) for k in chunks[0]]
        for i, chunk in enumerate(chunks):
            images = [p.result() for p in pending]
            if i + 1 < len(chunks):  # decode the next batch while the detector runs
                pending = [pool.submit(read, k) for k in chunks[i + 1]]
            for k, image in zip(chunk, images):
                if image is None:
                    log.warning("%s: unreadable frame; its boxes get no appearance", paths[int(frames[k])])
            readable = [(k, image) for k, image in zip(chunk, images) if image is not None]
            for _, group in groupby(readable, key=lambda item: item[1].shape):  # a batch needs one frame size
                group = list(group)
                pooled = detector.appearance([image for _, image in group],
                                             [xyxy[starts[k]:stops[k]] for k, _ in group])
                for (k, _), values in zip(group, pooled):
                    vectors[starts[k]:stops[k]] = values
                    done[starts[k]:stops[k]] = True
            bar.update(len(chunk))
    return vectors, done


def _load(path: Path, key: str) -> AppearanceTable | None:
    """The table in `path` if it is a well-formed cache file for `key`, else None with a warning."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="np") as f:
            meta = f.metadata() or {}
            arrays = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118 (safe_open is no dict)
    except (SafetensorError, OSError, ValueError) as e:
        log.warning("%s: unreadable appearance cache (%s); computing it again", path, " ".join(str(e).split()))
        return None
    frame, track_id, vectors = (arrays.get(name) for name in ("frame", "track_id", "vectors"))
    problem = None
    if meta.get("key") != key:
        problem = f"key {meta.get('key')!r} is not {key!r}"
    elif frame is None or track_id is None or vectors is None or set(arrays) != {"frame", "track_id", "vectors"}:
        problem = f"arrays {sorted(arrays)} are not frame, track_id, vectors"
    elif not (frame.ndim == track_id.ndim == 1 and len(frame) == len(track_id) and vectors.shape == (len(frame), DIM)
              and frame.dtype == track_id.dtype == np.int64 and vectors.dtype == np.float16):
        problem = f"shapes {frame.shape} {track_id.shape} {vectors.shape} do not fit"
    elif not np.isfinite(vectors).all() or (np.diff(_keys(frame, track_id)) < 0).any():
        problem = "non-finite values or unsorted rows"
    if problem:
        log.warning("%s: appearance cache does not match (%s); computing it again", path, problem)
        return None
    return AppearanceTable(frame, track_id, vectors)


def _save(path: Path, table: AppearanceTable, metadata: dict[str, str]) -> None:
    """Write atomically: a temporary file in the same folder, renamed over `path`."""
    from safetensors.numpy import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    os.close(handle)
    try:
        save_file({"frame": table.frame, "track_id": table.track_id, "vectors": table.vectors}, partial, metadata)
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
