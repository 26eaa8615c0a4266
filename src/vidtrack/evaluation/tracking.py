"""MOTChallenge tracking metrics (HOTA, MOTA, IDF1, ID switches, ...) computed with TrackEval's metric classes.

The benchmark's rules are those of TrackEval's ``MotChallenge2DBox.get_preprocessed_seq_data``, applied frame by frame:

- MOT16/MOT17 ground truth (9 columns): tracker boxes matched (Hungarian on IoU, IoU >= 0.5) to a ground-truth
  box of a distractor class (2 person on vehicle, 7 static person, 8 distractor, 12 reflection) are removed; then
  only ground-truth rows of class 1 (pedestrian) with consider != 0 are kept. MOT20's extra distractor class 6 is
  not applied.
- MOT15 ground truth (10 columns, e.g. TUD) has no classes: nothing is removed from the results, and ground-truth
  rows with conf == 0 are dropped (TrackEval's 'MOT15' benchmark).
- Ids are relabelled 0..n-1 in sorted order, boxes are compared by IoU, a match needs IoU >= 0.5.

TrackEval's file readers are not used: ground truth goes through `read_ground_truth`, results through
`read_results`, and a bad row is an `InputError` naming its line: a frame outside 1..seqLength, an id twice in one
frame, a ground-truth class outside 1..13 (all refused by TrackEval too), a box with width or height <= 0 (which
TrackEval would score). Result columns after the score are ignored (TrackEval refuses a class > 1 in column 8);
consider/conf count as 0 only when 0 (TrackEval truncates them to int; the files hold 0 or 1). A sequence needs only
``seqLength`` from its ``seqinfo.ini`` (`read_seq_length`).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment
from trackeval.datasets._base_dataset import _BaseDataset
from trackeval.metrics import CLEAR, HOTA, Identity

from vidtrack.errors import InputError
from vidtrack.io.motchallenge import (
    GroundTruth,
    find_duplicate_ids,
    read_ground_truth,
    read_results,
    read_seq_length,
    read_seqinfo,
)

log = logging.getLogger("vidtrack")

PEDESTRIAN = 1
DISTRACTORS = (2, 7, 8, 12)  # person on vehicle, static person, distractor, reflection
KNOWN_CLASSES = range(1, 14)  # TrackEval's MOTChallenge classes, 1 pedestrian to 13 crowd
THRESHOLD = 0.5  # IoU of a match, for the distractor removal, CLEAR and Identity
_EPS = np.finfo(float).eps

Scores = dict[str, float | int]  # metric name → value: percentages 0-100 and counts
RawResults = dict[str, dict]  # TrackEval metric name (HOTA, CLEAR, Identity) → that metric's result dict


@dataclass(frozen=True)
class TrackingScores:
    """Scores per sequence (by folder name) and over all sequences together (TrackEval's combine_sequences)."""

    sequences: dict[str, Scores]
    combined: Scores

    def to_dict(self) -> dict:
        return {"sequences": self.sequences, "combined": self.combined}


def evaluate_tracking(gt: str | os.PathLike, results: str | os.PathLike) -> TrackingScores:
    """Score result files against MOTChallenge ground truth.

    `gt`: a sequence folder (``seqinfo.ini`` and ``gt/gt.txt``, or ``gt.txt`` as in TUD) or a folder of sequence
    folders (a split such as MOT17/train). `results`: a folder with one ``<sequence name>.txt`` per sequence, or one
    file when `gt` is a single sequence. Nothing is scored or left out silently: a warning names the results files of
    sequences that are not in `gt` (not scored), a single file named after another sequence, and the sequences whose
    results cover only part of the frames with ground truth (the rest count as missed).
    """
    sequences = _find_sequences(Path(gt))
    results = Path(results)
    if results.is_file():
        if len(sequences) != 1:
            raise InputError(f"{results}: one results file for {len(sequences)} sequences in {gt}; give a folder "
                             "with one <sequence name>.txt per sequence")
        files = {sequences[0][0]: results}
        if results.stem not in (sequences[0][0], "tracks"):  # tracks.txt: what `vidtrack track` writes
            log.warning("%s: scored as sequence %s, although it is named after another", results, sequences[0][0])
    elif results.is_dir():
        files = {name: results / f"{name}.txt" for name, _, _ in sequences}
        for name, path in files.items():
            if not path.is_file():
                raise InputError(f"{path}: results file for sequence {name} not found (the results folder needs one "
                                 "<sequence name>.txt per ground-truth sequence)")
        unknown = sorted(p.name for p in results.glob("*.txt") if p.stem not in files)
        if unknown:
            log.warning("%s: no ground truth in %s for %s: not scored", results, gt, ", ".join(unknown))
    else:
        raise InputError(f"{results}: results file or folder not found")

    raw = {}
    for name, folder, gt_file in sequences:
        seq_length = read_seq_length(folder)
        truth, boxes, mot15 = _read_checked_ground_truth(gt_file, seq_length)
        rows = read_results(files[name], seq_length=seq_length)
        _warn_partial(name, files[name], truth.frame, rows[:, 0])
        data = _preprocess(truth, boxes, rows, seq_length, mot15, name)
        raw[name] = _evaluate(data)
    return TrackingScores({name: summarize(r) for name, r in raw.items()}, summarize(combine(raw.values())))


def _warn_partial(name: str, path: Path, gt_frames: np.ndarray, result_frames: np.ndarray) -> None:
    """Warn when the results of a sequence stop before, or start after, its ground truth: a run cut short scores
    the frames it never saw as missed."""
    if not len(gt_frames):
        return
    if not len(result_frames):
        log.warning("%s: no results for sequence %s: every ground-truth box counts as missed", path, name)
        return
    first, last = int(result_frames.min()), int(result_frames.max())
    gt_first, gt_last = int(gt_frames.min()), int(gt_frames.max())
    if first > gt_first or last < gt_last:
        log.warning("%s: the results of %s cover frames %d-%d of the ground truth's %d-%d; the frames without results "
                    "count as missed", path, name, first, last, gt_first, gt_last)


def evaluate_sequence(gt: GroundTruth, results: np.ndarray, seq_length: int, *, mot15: bool = False,
                      name: str = "sequence") -> RawResults:
    """TrackEval's HOTA, CLEAR and Identity results for one sequence (`summarize` turns them into `Scores`).

    `results`: (N, 7+) MOTChallenge rows, frame, id, left, top, width, height, score (further columns ignored).
    `mot15`: apply the MOT15 rule (no classes, no distractors) instead of the MOT17 one.
    The ground-truth boxes are `GroundTruth`'s float32 (exact for integer boxes); `evaluate_tracking` reads them in
    float64 as TrackEval does, which can change IoUs with decimals in the 7th digit.
    """
    results = np.asarray(results, dtype=np.float64)
    return _evaluate(_preprocess(gt, gt.xywh.astype(np.float64), results, seq_length, mot15, name))


def combine(per_sequence: Iterable[RawResults]) -> RawResults:
    """Combine the results of several sequences as TrackEval does (sums of counts, weighted means)."""
    per_sequence = list(per_sequence)
    if not per_sequence:
        raise ValueError("no sequences to combine")
    return {metric.get_name(): metric.combine_sequences({i: r[metric.get_name()] for i, r in enumerate(per_sequence)})
            for metric in _metrics()}


def summarize(raw: RawResults) -> Scores:
    """The leaderboard's numbers: percentages (HOTA and its parts averaged over the 19 IoU thresholds) and counts."""
    hota, clear, identity = raw["HOTA"], raw["CLEAR"], raw["Identity"]
    scores: Scores = {k: 100 * float(np.mean(hota[k])) for k in ("HOTA", "DetA", "AssA", "DetRe", "DetPr", "AssRe",
                                                                  "AssPr", "LocA")}
    scores |= {k: 100 * float(clear[k]) for k in ("MOTA", "MOTP", "MODA")}
    scores |= {k: 100 * float(identity[k]) for k in ("IDF1", "IDP", "IDR")}
    scores |= {"Recall": 100 * float(clear["CLR_Re"]), "Precision": 100 * float(clear["CLR_Pr"])}
    scores |= {"IDSW": int(clear["IDSW"]), "TP": int(clear["CLR_TP"]), "FP": int(clear["CLR_FP"]),
               "FN": int(clear["CLR_FN"]), "MT": int(clear["MT"]), "PT": int(clear["PT"]), "ML": int(clear["ML"]),
               "Frag": int(clear["Frag"]), "IDTP": int(identity["IDTP"]), "IDFP": int(identity["IDFP"]),
               "IDFN": int(identity["IDFN"])}
    return scores


_TABLE = {"HOTA": 3, "DetA": 3, "AssA": 3, "MOTA": 3, "MOTP": 3, "IDF1": 3, "Recall": 3, "Precision": 3, "IDSW": 0,
          "FP": 0, "FN": 0, "MT": 0, "PT": 0, "ML": 0}  # column → decimals


def markdown_table(scores: TrackingScores) -> str:
    """One row per sequence, then the combined row; percentages with 3 decimals."""
    rows = [*scores.sequences.items(), ("COMBINED", scores.combined)]
    lines = ["| sequence | " + " | ".join(_TABLE) + " |", "|---|" + "---:|" * len(_TABLE)]
    lines += [f"| {name} | " + " | ".join(f"{s[k]:.{d}f}" for k, d in _TABLE.items()) + " |" for name, s in rows]
    return "\n".join(lines)


def cut_sequence(folder: str | os.PathLike, out: str | os.PathLike, first: int, last: int) -> Path:
    """A sequence folder `out` (seqinfo.ini, gt/gt.txt) holding the ground truth of `folder`'s frames `first`..`last`
    (1-based, inclusive), renumbered from 1, the rows otherwise unchanged: to score part of a sequence, such as a
    half held out from tuning. Results are cut to it by subtracting `first` - 1 from their frames."""
    folder, out = Path(folder), Path(out)
    info = read_seqinfo(folder)
    lines = [line.split(",", 1) for line in (folder / "gt" / "gt.txt").read_text().splitlines() if line.strip()]
    (out / "gt").mkdir(parents=True, exist_ok=True)
    (out / "gt" / "gt.txt").write_text("".join(f"{int(f) - first + 1},{rest}\n" for f, rest in lines
                                               if first <= int(f) <= last))
    (out / "seqinfo.ini").write_text(f"[Sequence]\nname={out.name}\nframeRate={info.fps:g}\n"
                                     f"seqLength={last - first + 1}\nimWidth={info.width}\nimHeight={info.height}\n")
    return out


def write_report(scores: TrackingScores, folder: str | os.PathLike) -> dict[str, Path]:
    """Write metrics.json (every metric) and metrics.md (the table) into `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"json": folder / "metrics.json", "markdown": folder / "metrics.md"}
    paths["json"].write_text(json.dumps(scores.to_dict(), indent=2, allow_nan=False) + "\n")
    paths["markdown"].write_text(markdown_table(scores) + "\n")
    return paths


def _evaluate(data: dict) -> RawResults:
    return {metric.get_name(): metric.eval_sequence(data) for metric in _metrics()}


def _metrics() -> tuple[HOTA, CLEAR, Identity]:
    config = {"THRESHOLD": THRESHOLD, "PRINT_CONFIG": False}
    return HOTA(), CLEAR(dict(config)), Identity(dict(config))


def _preprocess(gt: GroundTruth, gt_boxes: np.ndarray, results: np.ndarray, seq_length: int, mot15: bool,
                name: str) -> dict:
    """The `data` dict of TrackEval's metrics, as MotChallenge2DBox.get_preprocessed_seq_data builds it."""
    if results.ndim != 2 or results.shape[1] < 7:
        raise ValueError(f"results must be (N, 7+) MOTChallenge rows, got shape {results.shape}")
    r_frame, r_id = results[:, 0].astype(np.int64), results[:, 1].astype(np.int64)
    for what, frame, ids in (("ground truth", gt.frame, gt.track_id), ("results", r_frame, r_id)):
        if len(frame) and (frame.min() < 1 or frame.max() > seq_length):
            raise ValueError(f"{name}: {what} has frames outside 1..{seq_length}")
        if find_duplicate_ids(frame, ids) is not None:
            raise ValueError(f"{name}: {what} has an id twice in one frame")

    gt_rows, gt_bounds = _by_frame(gt.frame, seq_length)
    res_rows, res_bounds = _by_frame(r_frame, seq_length)
    res_boxes = results[:, 2:6]
    evaluated = gt.consider if mot15 else gt.consider & (gt.class_id == PEDESTRIAN)
    distractor = np.isin(gt.class_id, DISTRACTORS)

    gt_ids, res_ids, gt_dets, res_dets, confidences, similarities = [], [], [], [], [], []
    for t in range(seq_length):
        g = gt_rows[gt_bounds[t]:gt_bounds[t + 1]]
        r = res_rows[res_bounds[t]:res_bounds[t + 1]]
        similarity = _BaseDataset._calculate_box_ious(gt_boxes[g], res_boxes[r], box_format="xywh")
        if not mot15 and len(g) and len(r):  # drop results matched to distractors
            scores = similarity.copy()
            scores[scores < THRESHOLD - _EPS] = 0
            rows, cols = linear_sum_assignment(-scores)
            matched = scores[rows, cols] > _EPS
            remove = cols[matched][distractor[g[rows[matched]]]]
            r, similarity = np.delete(r, remove), np.delete(similarity, remove, axis=1)
        keep = evaluated[g]
        g, similarity = g[keep], similarity[keep]
        gt_ids.append(gt.track_id[g])
        res_ids.append(r_id[r])
        gt_dets.append(gt_boxes[g])
        res_dets.append(res_boxes[r])
        confidences.append(results[r, 6])
        similarities.append(similarity)

    gt_ids, num_gt_ids = _relabel(gt_ids)
    res_ids, num_res_ids = _relabel(res_ids)
    return {"gt_ids": gt_ids, "tracker_ids": res_ids, "gt_dets": gt_dets, "tracker_dets": res_dets,
            "tracker_confidences": confidences, "similarity_scores": similarities,
            "num_gt_dets": sum(map(len, gt_ids)), "num_tracker_dets": sum(map(len, res_ids)),
            "num_gt_ids": num_gt_ids, "num_tracker_ids": num_res_ids, "num_timesteps": seq_length, "seq": name}


def _by_frame(frame: np.ndarray, seq_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices sorted by frame (file order within a frame, as TrackEval reads them) and each frame's slice."""
    rows = np.argsort(frame, kind="stable")
    return rows, np.searchsorted(frame[rows], np.arange(1, seq_length + 2))


def _relabel(ids: list[np.ndarray]) -> tuple[list[np.ndarray], int]:
    """Map the ids to 0..n-1 in sorted order."""
    unique = np.unique(np.concatenate(ids)) if ids else np.zeros(0, np.int64)
    return [np.searchsorted(unique, i).astype(int) for i in ids], len(unique)


def _find_sequences(gt: Path) -> list[tuple[str, Path, Path]]:
    """(name, folder, ground-truth file) of the sequence folder `gt`, or of each sequence folder inside it."""
    if not gt.exists():
        raise InputError(f"{gt}: ground-truth folder not found")
    if not gt.is_dir():
        raise InputError(f"{gt}: give the sequence folder (seqinfo.ini with gt/gt.txt or gt.txt), or a folder of "
                         "sequence folders, not a file")
    if _is_sequence(gt):
        return [_sequence(gt)]
    folders = sorted(d for d in gt.iterdir() if d.is_dir() and _is_sequence(d))
    if not folders:
        raise InputError(f"{gt}: no sequences: expected seqinfo.ini with gt/gt.txt (or gt.txt) in this folder or in "
                         "its sub-folders")
    return [_sequence(d) for d in folders]


def _is_sequence(folder: Path) -> bool:
    return any((folder / f).is_file() for f in ("seqinfo.ini", "gt/gt.txt", "gt.txt"))


def _sequence(folder: Path) -> tuple[str, Path, Path]:
    gt_file = next((folder / f for f in ("gt/gt.txt", "gt.txt") if (folder / f).is_file()), None)
    if gt_file is None:
        raise InputError(f"{folder}: no ground truth: expected gt/gt.txt or gt.txt in the sequence folder")
    if not (folder / "seqinfo.ini").is_file():
        raise InputError(f"{folder}: no seqinfo.ini; scoring needs the sequence length: add a seqinfo.ini with "
                         "[Sequence] and seqLength=<number of frames>")
    return folder.resolve().name, folder, gt_file


def _read_checked_ground_truth(path: Path, seq_length: int) -> tuple[GroundTruth, np.ndarray, bool]:
    """`read_ground_truth` plus the checks scoring needs; returns the rows, their boxes in float64 (GroundTruth keeps
    float32) and whether the file is MOT15 (10 columns)."""
    gt = read_ground_truth(path)
    lines = _data_lines(path)  # read_ground_truth keeps one row per non-blank line, in order
    mot15 = bool(lines) and len(_split(lines[0][1])) == 10
    problems = (
        (gt.frame > seq_length, lambda i: f"frame {gt.frame[i]} is outside the sequence (frames 1..{seq_length}, "
                                          "seqLength in seqinfo.ini)"),
        ((gt.xywh[:, 2] <= 0) | (gt.xywh[:, 3] <= 0),
         lambda i: f"box width {gt.xywh[i, 2]:g}, height {gt.xywh[i, 3]:g}: both must be > 0"),
        (~np.isin(gt.class_id, KNOWN_CLASSES),
         lambda i: f"unknown class {gt.class_id[i]} (MOTChallenge classes are 1 to {KNOWN_CLASSES[-1]})"),
    )
    for bad, message in problems:
        if bad.any():
            i = int(np.argmax(bad))
            raise InputError(f"{path}:{lines[i][0]}: {message(i)}")
    duplicate = find_duplicate_ids(gt.frame, gt.track_id)
    if duplicate is not None:
        first, second = duplicate
        raise InputError(f"{path}:{lines[second][0]}: id {gt.track_id[second]} occurs twice in frame "
                         f"{gt.frame[second]} (also at line {lines[first][0]})")
    return gt, np.array([_split(line)[2:6] for _, line in lines], dtype=np.float64).reshape(-1, 4), mot15


def _data_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of the non-blank lines, the rows of a MOTChallenge file."""
    text = path.read_text(encoding="utf-8-sig")
    return [(n, line) for n, line in enumerate(text.split("\n"), 1) if line.strip()]


def _split(line: str) -> list[str]:
    line = line.strip()
    return line.split(",") if "," in line else line.split()
