"""Compare trackers side by side on the same detections, scored by the same evaluation.

Trackers (`RUNNERS`): vidtrack with the Kalman filter and with the LSTM motion model (configs/default.yaml
otherwise), and Ultralytics' `BYTETracker` and `BOTSORT` driven directly, frame by frame, with the same detections:
Ultralytics' own default settings (``ultralytics/cfg/trackers/{bytetrack,botsort}.yaml``), BoT-SORT without ReID
and without camera-motion compensation (``gmc_method: none``; there are no frames to compute it from anyway).

Inputs:
- ``real``: the real detections of MOT17-02 (``det/det.txt``, every row, scores in [0.05, 1]); each tracker applies
  its own score thresholds.
- ``simulated``: for every sequence of the split and every seed of ``--seeds``, detections derived from its ground
  truth by `vidtrack.evaluation.simulated.simulate_detections` (the documented `NoiseModel`, calibrated on MOT17-02).
- ``video``: as users run them, from the raw video of ``--video-data`` (PETS09-S2L1: ``video/*.avi``, ``seqinfo.ini``,
  MOT15 ground truth) with the same COCO YOLOv8n weights, person class: ``vidtrack track`` (the `Pipeline`, defaults)
  and Ultralytics' track mode (``YOLO(weights).track(video, tracker=...)``) with its ByteTrack and its BoT-SORT (its
  defaults: no ReID, sparse optical-flow GMC). vidtrack's LSTM-motion row tracks the detections of the default run.
  Each is scored on the whole clip and on its second half alone (frames 399-795: vidtrack's defaults were chosen on
  the first half and on MOT17, so only the second half is held out), with the ids that live under 1 s counted.
  "ms/frame" is the whole run per frame here: decoding, detection and tracking.

Each tracker writes ``<out>/<input>/<tracker>/<sequence>.txt`` (MOTChallenge rows, 1-based frames, only the tracks a
tracker reports in that frame), scored with `vidtrack.evaluation.tracking.evaluate_tracking` (TrackEval's HOTA,
CLEAR and Identity under the MOT17 rules). "ms/frame" is the time spent in the tracker's update calls only
(time.perf_counter), divided by the number of frames.

Reference (TrackEval, real detections of MOT17-02, default settings): Ultralytics ByteTrack HOTA 33.2, MOTA 32.5,
IDF1 39.6, 58 ID switches; BoT-SORT (no ReID, no GMC) 35.3, 32.8, 40.5, 57. This harness reproduces both rows
exactly with Ultralytics 8.4.

Run:
    .venv/bin/python scripts/compare_trackers.py                       # real + simulated, all trackers
    .venv/bin/python scripts/compare_trackers.py --inputs real --trackers ultralytics-bytetrack
    .venv/bin/python scripts/compare_trackers.py --inputs real --write-baseline   # tests/baselines/mot17-02.json
    .venv/bin/python scripts/compare_trackers.py --inputs video                    # PETS09-S2L1 from raw video
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

from vidtrack.config import load_config
from vidtrack.evaluation.simulated import simulate_detections
from vidtrack.evaluation.tracking import cut_sequence, evaluate_tracking
from vidtrack.io.motchallenge import SeqInfo, read_detections, read_ground_truth, read_seqinfo
from vidtrack.structures import Detections
from vidtrack.track.tracker import Tracker

os.environ.setdefault("YOLO_OFFLINE", "1")  # read by Ultralytics on import: no update checks or downloads

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "MOT17" / "train"
DEFAULT_VIDEO_DATA = ROOT.parent / "shared" / "data" / "PETS09-S2L1"
BASELINE = ROOT / "tests" / "baselines" / "mot17-02.json"

# A runner tracks one sequence: (detections of frames 1..N, fps, (width, height)) → (rows, ms per frame), where rows
# is an (M, 7) array of MOTChallenge rows: frame, id, left, top, width, height, score.
Runner = Callable[[dict[int, Detections], float, tuple[int, int]], tuple[np.ndarray, float]]


def ultralytics_tracker(name: str, fps: float):
    """A fresh Ultralytics tracker ("bytetrack" or "botsort") with Ultralytics' default YAML settings.

    BoT-SORT gets ``with_reid=False`` and ``gmc_method="none"``. Ultralytics 8.4's trackers take no frame rate (the
    ``track_buffer`` of 30 counts frames); `fps` is passed only to versions whose constructor has ``frame_rate``.
    """
    from ultralytics.trackers import BOTSORT, BYTETracker
    from ultralytics.utils import ROOT, YAML, IterableSimpleNamespace

    classes = {"bytetrack": BYTETracker, "botsort": BOTSORT}
    if name not in classes:
        raise ValueError(f"unknown Ultralytics tracker {name!r}; choose from {sorted(classes)}")
    cfg = IterableSimpleNamespace(**YAML.load(ROOT / "cfg" / "trackers" / f"{name}.yaml"))
    if name == "botsort":
        cfg.with_reid = False
        cfg.gmc_method = "none"
    cls = classes[name]
    if "frame_rate" in inspect.signature(cls.__init__).parameters:
        return cls(args=cfg, frame_rate=round(fps))
    return cls(args=cfg)


def run_ultralytics(name: str, detections: dict[int, Detections], fps: float,
                    image_size: tuple[int, int]) -> tuple[np.ndarray, float]:
    """Track with an Ultralytics tracker fed our detections; MOT rows of the tracks it reports, ms per frame.

    Each frame's detections go in as an Ultralytics `Boxes` (xyxy, conf, cls) of the image's shape, as in its track
    mode; the output box is the track's Kalman state after the update, as in track mode.
    """
    from ultralytics.engine.results import Boxes

    tracker = ultralytics_tracker(name, fps)
    width, height = image_size
    rows, elapsed = [], 0.0
    frames = sorted(detections)
    for frame in frames:
        d = detections[frame]
        data = np.concatenate([d.xyxy, d.score[:, None], d.class_id[:, None]], axis=1).astype(np.float32)
        boxes = Boxes(data, (height, width))
        start = time.perf_counter()
        out = tracker.update(boxes, None)
        elapsed += time.perf_counter() - start
        out = np.asarray(out, dtype=np.float64).reshape(-1, 8)  # x1, y1, x2, y2, id, score, cls, det index
        rows.append(np.column_stack([np.full(len(out), frame), out[:, 4], out[:, :2], out[:, 2:4] - out[:, :2],
                                     out[:, 5]]))
    return np.concatenate(rows) if rows else np.zeros((0, 7)), 1000 * elapsed / max(len(frames), 1)


def run_vidtrack(overrides: dict, detections: dict[int, Detections], fps: float,
                 image_size: tuple[int, int]) -> tuple[np.ndarray, float]:
    """Track with vidtrack's tracker (configs/default.yaml with `overrides`); MOT rows, ms per frame.

    With the LSTM, the time includes its forecasts, which the pipeline then reuses."""
    tracker = Tracker(load_config(overrides=overrides).tracker, fps=fps, image_size=image_size)
    rows, elapsed = [], 0.0
    for frame in sorted(detections):
        start = time.perf_counter()
        tracks = tracker.update(detections[frame])
        elapsed += time.perf_counter() - start
        rows.append(np.column_stack([np.full(len(tracks), frame), tracks.track_id, tracks.xywh, tracks.score]))
    return np.concatenate(rows), 1000 * elapsed / max(len(detections), 1)


RUNNERS: dict[str, Runner] = {
    "vidtrack-kalman": partial(run_vidtrack, {"tracker.motion": "kalman"}),
    "vidtrack-lstm": partial(run_vidtrack, {"tracker.motion": "lstm"}),
    "ultralytics-bytetrack": partial(run_ultralytics, "bytetrack"),
    "ultralytics-botsort": partial(run_ultralytics, "botsort"),
}


def run_pipeline_on_video(video: Path, overrides: dict) -> tuple[np.ndarray, float, dict[int, Detections]]:
    """`vidtrack track` on a video: MOT rows, ms per frame of the whole run, and each frame's detections."""
    from vidtrack.pipeline import Pipeline

    pipe = Pipeline(load_config(overrides=overrides))
    rows, detections = [], {}
    start = time.perf_counter()
    for result in pipe.run(video):
        t = result.tracks
        rows.append(np.column_stack([np.full(len(t), result.index + 1), t.track_id, t.xywh, t.score]))
        detections[result.index + 1] = result.detections
    return np.concatenate(rows), 1000 * (time.perf_counter() - start) / len(detections), detections


def run_ultralytics_on_video(name: str, video: Path, weights: str) -> tuple[np.ndarray, float]:
    """Ultralytics' track mode on a video with its default tracker settings, person class: MOT rows, ms per frame."""
    from ultralytics import YOLO

    model = YOLO(weights, task="detect")
    rows, start, frames = [], time.perf_counter(), 0
    for frames, result in enumerate(model.track(str(video), tracker=f"{name}.yaml", classes=[0], stream=True,
                                                verbose=False), start=1):
        boxes = result.boxes
        if boxes.id is not None:
            xyxy = boxes.xyxy.cpu().numpy()
            rows.append(np.column_stack([np.full(len(xyxy), frames), boxes.id.cpu().numpy(), xyxy[:, :2],
                                         xyxy[:, 2:] - xyxy[:, :2], boxes.conf.cpu().numpy()]))
    return np.concatenate(rows), 1000 * (time.perf_counter() - start) / max(frames, 1)


# What each choice does, tracked on the detections of vidtrack's default run.
VIDEO_VARIANTS = {
    "vidtrack, appearance off": {"tracker.appearance_thresh": 0},
    "vidtrack, no score fusion": {"tracker.fuse_score": False},
    "vidtrack, no score fusion, tracks from 0.4": {"tracker.fuse_score": False, "tracker.new_track_thresh": 0.4},
    "vidtrack, LSTM motion": {"tracker.motion": "lstm"},
}


def compare_on_video(folder: Path, out: Path) -> list[str]:
    """The ``video`` input: table rows for the whole clip and its second half (see the module docstring)."""
    from vidtrack.detect.weights import resolve_weights

    info = read_seqinfo(folder)
    video = next(iter(sorted((folder / "video").glob("*.*"))))
    runs: dict[str, tuple[np.ndarray, float | None]] = {}
    rows, ms, detections = run_pipeline_on_video(video, {"detector.classes": ["person"]})
    runs["vidtrack (defaults: colour appearance)"] = rows, ms
    for name, overrides in VIDEO_VARIANTS.items():
        runs[name] = run_vidtrack(overrides, detections, info.fps, (info.width, info.height))[0], None
    previous = {"detector.classes": ["person"], "detector.appearance": "neck", "tracker.appearance_thresh": 0.02}
    runs["vidtrack, previous defaults (neck appearance, 0.02)"] = run_pipeline_on_video(video, previous)[:2]
    weights = resolve_weights("yolov8n.pt")
    for name in ("bytetrack", "botsort"):
        runs[f"Ultralytics track mode, {name}"] = run_ultralytics_on_video(name, video, weights)
    first = info.length // 2 + 1
    half_gt = cut_sequence(folder, out / "video" / "second-half-gt", first, info.length)
    lines = []
    for name, (rows, ms) in runs.items():
        slug = name.split(" (")[0].replace(", ", "-").replace(" ", "-").lower()
        path = out / "video" / slug / f"{info.name}.txt"
        write_mot(path, rows)
        half_rows = rows[rows[:, 0] >= first] - [first - 1, 0, 0, 0, 0, 0, 0]
        write_mot(half_path := out / "video" / slug / f"{half_gt.name}.txt", half_rows)
        ids, lengths = np.unique(rows[:, 1], return_counts=True)
        short = int((lengths < info.fps).sum())
        for part, scores in (("whole", evaluate_tracking(folder, path).combined),
                             ("second half", evaluate_tracking(half_gt, half_path).combined)):
            lines.append(row(part, name, scores, ms) + f" {len(ids)} | {short} |")
            print(f"video {lines[-1]}", file=sys.stderr)
    order = sorted(range(len(lines)), key=lambda i: i % 2)  # the whole clip's rows first
    return [lines[i] for i in order]


def write_mot(path: Path, rows: np.ndarray) -> None:
    """MOTChallenge result file: frame,id,left,top,width,height,score,-1,-1,-1 sorted by frame then id."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = rows[np.lexsort((rows[:, 1], rows[:, 0]))] if len(rows) else rows
    path.write_text("".join(f"{int(f)},{int(i)},{x:.2f},{y:.2f},{w:.2f},{h:.2f},{s:.4f},-1,-1,-1\n"
                            for f, i, x, y, w, h, s in rows.tolist()))


def load_inputs(data: Path, which: list[str], names: list[str] | None, seeds: list[int]
                ) -> list[tuple[str, SeqInfo, Path, dict[int, Detections]]]:
    """(input kind, sequence info, sequence folder, detections) for every run to make."""
    folders = sequence_folders(data)
    if names:
        folders = [p for p in folders if any(n in p.name for n in names)]
    runs = []
    for folder in folders:
        info = read_seqinfo(folder)
        if "real" in which and (folder / "det" / "det.txt").is_file():
            runs.append(("real", info, folder, read_detections(folder / "det" / "det.txt", seq_length=info.length)))
        if "simulated" in which:
            gt = read_ground_truth(folder / "gt" / "gt.txt")
            for seed in seeds:
                dets = simulate_detections(gt, info.length, (info.width, info.height), seed=seed, fps=info.fps)
                runs.append((f"simulated-seed{seed}", info, folder, dets))
    return runs


def sequence_folders(data: Path) -> list[Path]:
    return sorted(p for p in data.iterdir() if (p / "seqinfo.ini").is_file() and (p / "gt" / "gt.txt").is_file())


COLUMNS = ("HOTA", "DetA", "AssA", "MOTA", "IDF1", "IDSW")


def row(sequence: str, tracker: str, scores: dict, ms: float | None) -> str:
    cells = [f"{scores[c]:.1f}" if c != "IDSW" else f"{scores[c]:.0f}" for c in COLUMNS]
    return f"| {sequence} | {tracker} | " + " | ".join(cells) + f" | {'' if ms is None else f'{ms:.2f}'} |"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of MOT17 sequence folders")
    parser.add_argument("--out", type=Path, default=Path("runs/compare_trackers"), help="result files go here")
    parser.add_argument("--inputs", nargs="+", choices=("real", "simulated", "video"), default=["real", "simulated"])
    parser.add_argument("--video-data", type=Path, default=DEFAULT_VIDEO_DATA,
                        help="for --inputs video: a sequence folder with video/, seqinfo.ini and gt/gt.txt")
    parser.add_argument("--sequences", nargs="*", help="only sequences whose name contains one of these")
    parser.add_argument("--trackers", nargs="*", choices=sorted(RUNNERS), default=list(RUNNERS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds of the simulated detections")
    parser.add_argument("--write-baseline", action="store_true",
                        help=f"store vidtrack's MOT17-02 real-detection scores in {BASELINE.relative_to(ROOT)}")
    args = parser.parse_args(argv)

    header = "| sequence | tracker | " + " | ".join(COLUMNS) + " | ms/frame |\n|---|---|" + "---:|" * (len(COLUMNS) + 1)
    tables: dict[str, list[str]] = {}
    done: dict[tuple[str, str], list[float]] = {}  # (input kind, tracker) → ms per frame of each sequence
    baseline = {}
    for kind, info, folder, dets in load_inputs(args.data, args.inputs, args.sequences, args.seeds):
        for name in args.trackers:
            rows, ms = RUNNERS[name](dets, info.fps, (info.width, info.height))
            path = args.out / kind / name / f"{info.name}.txt"
            write_mot(path, rows)
            scores = evaluate_tracking(folder, path).combined
            tables.setdefault(kind, []).append(row(info.name, name, scores, ms))
            print(f"{kind} {tables[kind][-1]}", file=sys.stderr)
            done.setdefault((kind, name), []).append(ms)
            if kind == "real" and name.startswith("vidtrack") and info.name == "MOT17-02-FRCNN":
                baseline[name] = {k: round(float(scores[k]), 3) if k != "IDSW" else int(scores[k]) for k in COLUMNS}

    # Over all sequences together (TrackEval's combination), where a tracker ran on every sequence of the split;
    # then the mean of those combined scores over the seeds of the simulated detections.
    split = len(sequence_folders(args.data))
    summary: dict[str, list[dict]] = {}
    for (kind, name), times in done.items():
        if len(times) == split > 1:
            scores = evaluate_tracking(args.data, args.out / kind / name).combined
            tables[kind].append(row("COMBINED", name, scores, float(np.mean(times))))
            if kind.startswith("simulated"):
                summary.setdefault(name, []).append(scores | {"ms": float(np.mean(times))})
    if "video" in args.inputs:
        lines = compare_on_video(args.video_data, args.out)
        video_header = ("| part | tracker | " + " | ".join(COLUMNS) + " | ms/frame | ids | ids < 1 s |\n|---|---|"
                        + "---:|" * (len(COLUMNS) + 3))
        print(f"\n### {args.video_data.name}, from raw video\n\n{video_header}\n" + "\n".join(lines))
    for kind, lines in tables.items():
        print(f"\n### {kind} detections\n\n{header}\n" + "\n".join(lines))
    if summary:
        print(f"\n### simulated detections, all sequences, mean over seeds {args.seeds}\n\n{header}")
        for name, runs in summary.items():
            mean = {k: float(np.mean([r[k] for r in runs])) for k in (*COLUMNS, "ms")}
            print(row("all", name, mean, mean["ms"]))
    if args.write_baseline:
        if set(baseline) != {"vidtrack-kalman", "vidtrack-lstm"}:
            sys.exit("--write-baseline needs both vidtrack trackers run on the real detections of MOT17-02")
        baseline["command"] = "python scripts/compare_trackers.py --inputs real --write-baseline"
        BASELINE.parent.mkdir(parents=True, exist_ok=True)
        BASELINE.write_text(json.dumps(baseline, indent=2) + "\n")
        print(f"wrote {BASELINE}", file=sys.stderr)


if __name__ == "__main__":
    main()
