"""vidtrack on each detector backend against Ultralytics' track mode on each of its exports, side by side in one run.

What is measured (`make bench`)
-------------------------------
1. Speed on one clip (default: the demo, `data/pets09-s2l1.mp4`, 768x576, people), the same YOLOv8n weights, the
   person class, confidence 0.1, in this process, each method the best of --repeats runs, the runs alternating:
   - Ultralytics `YOLO(model).track(video, tracker="bytetrack.yaml", stream=True)` (its fastest tracker) with the
     `.pt`, and with its own ONNX and OpenVINO exports (`YOLO(pt).export(format=...)`, fp32, then
     `YOLO(export).track(...)`), and its OpenVINO int8 export when Ultralytics can make one offline;
   - vidtrack's `Pipeline.run` with every output file written (`ResultWriter`: tracks.txt, tracks.jsonl with the LSTM
     forecasts, tracks.csv, annotated.mp4), with each backend: torch (`.pt`), onnxruntime and openvino
     (`vidtrack export`), and onnxruntime and openvino int8 (`vidtrack export --int8`, calibrated on the clip's own
     frames).
   Each run times --frames frames after one warm-up frame (model loading and compiling are not timed).
2. Accuracy of each detector: recall at IoU 0.5 of the visible ground-truth people on labelled frames that no
   calibration saw: PETS09-S2L1 frames 400-795 (every 4th; the demo clip is its frames 1-210) and MOT17-02's 4
   frames, with Ultralytics' `predict` for its exports and vidtrack's `Detector` for its own.
3. Memory: the fastest vidtrack configuration plays the clip 10 times in a fresh process; resident memory after
   each.
4. vidtrack's own stages at 50 tracks: MOT17-02's real detections tiled 2x2 (4 copies, about 50 tracks a frame),
   through `ForecastingTracker.update` (tracking, LSTM forecasts) and the MOT/JSONL/CSV writers, plus the colour
   appearance of 50 boxes on a real frame; their milliseconds per frame against the fastest detector's; and, for
   scale, Ultralytics' ByteTrack alone (`BYTETracker.update`, as track mode calls it) on the same detections.

Run
---
    make bench
    .venv/bin/python scripts/bench_backends.py --repeats 3 --markdown --json runs/bench/backends.json
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import cv2
import numpy as np
import torch

os.environ.setdefault("YOLO_OFFLINE", "1")  # read when Ultralytics is first imported

from vidtrack.config import load_config
from vidtrack.detect.colour import colour_features
from vidtrack.detect.detector import Detector
from vidtrack.detect.export import export_detector
from vidtrack.detect.weights import resolve_weights
from vidtrack.evaluation.detection import labelled_frames, recall
from vidtrack.forecasting_tracker import ForecastingTracker
from vidtrack.io.motchallenge import read_detections
from vidtrack.io.writers import ResultWriter
from vidtrack.pipeline import FrameResult, Pipeline
from vidtrack.structures import Detections

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
PETS09, MOT17_02 = SHARED / "PETS09-S2L1", SHARED / "MOT17" / "train" / "MOT17-02-FRCNN"
CONF = 0.1  # vidtrack's default detector.conf, also Ultralytics' default for track mode


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", default=str(ROOT / "data" / "pets09-s2l1.mp4"))
    parser.add_argument("--model", default="yolov8n.pt")
    parser.add_argument("--frames", type=int, default=200, help="frames timed per run, after one warm-up frame")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--plays", type=int, default=10, help="plays of the clip for the memory check")
    parser.add_argument("--models", type=Path, default=ROOT / "runs" / "bench" / "models", help="exports go here")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--json", type=Path)
    return parser.parse_args(argv)


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# the models -------------------------------------------------------------------------------------------------------


def prepare_models(args: argparse.Namespace) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """Ultralytics' exports and vidtrack's, made once into --models; returns (ultralytics, vidtrack, not made)."""
    from ultralytics import YOLO

    folder = args.models
    folder.mkdir(parents=True, exist_ok=True)
    pt = folder / Path(args.model).name
    if not pt.exists():
        shutil.copy(resolve_weights(args.model), pt)
    stem = pt.stem
    ultra, missing = {"Ultralytics .pt": str(pt)}, {}
    for label, fmt, target, extra in (("Ultralytics ONNX", "onnx", f"{stem}.onnx", {}),
                                      ("Ultralytics OpenVINO", "openvino", f"{stem}_openvino_model", {}),
                                      ("Ultralytics OpenVINO int8", "openvino", f"{stem}_int8_openvino_model",
                                       {"int8": True, "data": str(calibration_dataset(args))})):
        if not (folder / target).exists():
            progress(f"exporting {label}")
            try:
                YOLO(str(pt)).export(format=fmt, imgsz=640, **extra)
            except Exception as e:  # Ultralytics' int8 path needs what it may not have offline
                missing[label] = " ".join(str(e).split())[:160]
                continue
        ultra[label] = str(folder / target)
    ours = {"vidtrack torch": str(pt)}
    for label, fmt, int8, target in (("vidtrack onnxruntime", "onnx", False, f"{stem}_vidtrack.onnx"),
                                     ("vidtrack onnxruntime int8", "onnx", True, f"{stem}_vidtrack_int8.onnx"),
                                     ("vidtrack openvino", "openvino", False, f"{stem}_vidtrack_openvino_model"),
                                     ("vidtrack openvino int8", "openvino", True,
                                      f"{stem}_vidtrack_int8_openvino_model")):
        if not (folder / target).exists():
            progress(f"exporting {label}")
            export_detector(str(pt), fmt, out=folder / target, int8=int8, calibration=args.video if int8 else None)
        ours[label] = str(folder / target)
    return ultra, ours, missing


def calibration_dataset(args: argparse.Namespace) -> Path:
    """A YOLO dataset YAML over the clip's frames, for Ultralytics' int8 calibration (it reads `val` images)."""
    images = args.models / "calibration" / "images"
    if not images.is_dir():
        images.mkdir(parents=True)
        capture = cv2.VideoCapture(args.video)
        for i in itertools.count():
            ok, frame = capture.read()
            if not ok:
                break
            if i % 2 == 0:
                cv2.imwrite(str(images / f"{i:06d}.jpg"), frame)
    yaml_file = args.models / "calibration" / "data.yaml"
    names = "\n".join(f"  {i}: {n}" for i, n in Detector(args.model, device="cpu").names.items())
    yaml_file.write_text(f"path: {images.parent}\ntrain: images\nval: images\nnames:\n{names}\n")
    return yaml_file


# speed ------------------------------------------------------------------------------------------------------------


def run_vidtrack(args: argparse.Namespace, model: str) -> float:
    """Seconds for --frames frames of `vidtrack track` as the CLI runs it: Pipeline.run into a ResultWriter that
    writes every file; the writer's close (the video's last fragment, tracks.csv) is timed too."""
    config = load_config(None, {"detector.model": model, "detector.classes": ["person"], "detector.device": "cpu",
                                "detector.conf": CONF})
    pipe = Pipeline(config)
    results = pipe.run(args.video, max_frames=args.frames + 1)
    first = next(results)  # loads and compiles the model, opens the source
    with tempfile.TemporaryDirectory(prefix="vidtrack-bench-") as folder:
        out = config.output
        writer = ResultWriter(folder, fps=pipe.info.fps, size=pipe.info.size, video=out.video, mot=out.mot,
                              jsonl=out.jsonl, csv=out.csv, names=pipe.detector.names, trail_s=out.trail_s)
        with writer:
            writer.write(first)
            start = time.perf_counter()
            count = sum(1 for result in results if writer.write(result) or True)
        elapsed = time.perf_counter() - start
    if count != args.frames:
        raise SystemExit(f"{args.video}: vidtrack gave {count + 1} frames, fewer than {args.frames + 1}")
    return elapsed


def run_ultralytics(args: argparse.Namespace, model: str) -> float:
    """Seconds for --frames results of Ultralytics' track mode (ByteTrack) streaming the clip; it writes nothing."""
    from ultralytics import YOLO

    yolo = YOLO(model, task="detect")
    stream = yolo.track(source=args.video, tracker="bytetrack.yaml", stream=True, conf=CONF, classes=[0],
                        verbose=False, persist=True)
    with closing(stream):
        next(stream)  # sets the predictor up (and torch's threads to cores - 1)
        torch.set_num_threads(os.cpu_count() or 1)  # the .pt run gets all cores, as vidtrack's torch backend
        start = time.perf_counter()
        count = sum(1 for _ in itertools.islice(stream, args.frames))
        elapsed = time.perf_counter() - start
    if count != args.frames:
        raise SystemExit(f"{args.video}: Ultralytics gave {count + 1} frames, fewer than {args.frames + 1}")
    return elapsed


# accuracy, memory, own stages ---------------------------------------------------------------------------------------


def detector_recalls(ultra: dict[str, str], ours: dict[str, str]) -> dict[str, float]:
    from ultralytics import YOLO

    images, truth = labelled_frames(PETS09, range(400, 796, 4))
    more_images, more_truth = labelled_frames(MOT17_02, range(1, 5))
    images, truth = images + more_images, truth + more_truth
    recalls = {}
    for label, model in ultra.items():
        yolo = YOLO(model, task="detect")

        def predict(frames: list[np.ndarray], yolo=yolo) -> list[Detections]:
            [r] = yolo.predict(frames[0], conf=CONF, classes=[0], verbose=False)
            return [Detections(r.boxes.xyxy.numpy(), r.boxes.conf.numpy(), r.boxes.cls.numpy().astype(np.int64))]

        found, total = recall(predict, images, truth)
        recalls[label] = found / total
    for label, model in ours.items():
        found, total = recall(Detector(model, classes=["person"], conf=CONF, device="cpu"), images, truth)
        recalls[label] = found / total
    recalls["frames"] = len(images)
    return recalls


def resident_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def memory_over_plays(args: argparse.Namespace, model: str) -> list[float]:
    """Resident memory (MB) after each play of the whole clip through one Pipeline, every file written, in a fresh
    process as a user's would be (this one holds every other method's allocations)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_plays, args, model).result()


def _plays(args: argparse.Namespace, model: str) -> list[float]:
    config = load_config(None, {"detector.model": model, "detector.classes": ["person"], "detector.device": "cpu"})
    pipe, after = Pipeline(config), []
    for _ in range(args.plays):
        with tempfile.TemporaryDirectory(prefix="vidtrack-bench-") as folder:
            results = pipe.run(args.video)
            first = next(results)
            out = config.output
            with ResultWriter(folder, fps=pipe.info.fps, size=pipe.info.size, video=out.video, mot=out.mot,
                              jsonl=out.jsonl, csv=out.csv, names=pipe.detector.names) as writer:
                for result in itertools.chain([first], results):
                    writer.write(result)
        gc.collect()
        after.append(resident_mb())
    return after


def detector_ms(args: argparse.Namespace, model: str, frames: int = 60) -> float:
    """Median milliseconds of one `Detector` call (letterbox, inference, NMS, colour appearance) on the clip."""
    detector = Detector(model, classes=["person"], conf=CONF, device="cpu")
    capture, times = cv2.VideoCapture(args.video), []
    for _ in range(frames):
        image = capture.read()[1]
        start = time.perf_counter()
        detector([image])
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times[1:]))


def tiled_detections(frames: int) -> Iterator[tuple[int, Detections, Detections]]:
    """MOT17-02's real detections of frames 1..`frames` (1080p), and tiled 2x2 (3840x2160): about 50 tracks a frame."""
    detections = read_detections(MOT17_02 / "det" / "det.txt")
    offsets = np.array([[0, 0], [1920, 0], [0, 1080], [1920, 1080]], dtype=np.float32)
    for number in range(1, frames + 1):
        d = detections.get(number) or Detections.empty()
        yield number, d, Detections(np.concatenate([d.xyxy + np.tile(o, 2) for o in offsets]), np.tile(d.score, 4),
                                 np.tile(d.class_id, 4))


def own_stages_at_50_tracks(frames: int = 150) -> dict:
    """Milliseconds per frame of vidtrack's own stages on `tiled_detections`: in all, and each part (tracking, LSTM
    forecasts, writing, colour appearance of 50 boxes of a real 1080p frame)."""
    config = load_config(None, {"output.video": False})
    stages = ForecastingTracker(config, fps=30, image_size=(3840, 2160))
    image = cv2.imread(str(MOT17_02 / "img1" / "000001.jpg"))
    seconds: dict[str, float] = defaultdict(float)

    def timed(part: str, method):  # the method, adding its time to `part`
        def run(*args, **kwargs):
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                seconds[part] += time.perf_counter() - start
        return run

    stages.tracker.update = timed("tracking", stages.tracker.update)
    stages.forecaster.step_with_std = timed("LSTM forecasts", stages.forecaster.step_with_std)
    tracks_seen = []
    with (tempfile.TemporaryDirectory(prefix="vidtrack-bench-") as folder,
          ResultWriter(folder, fps=30, size=(3840, 2160), video=False, names={0: "person"}) as writer):
        write = timed("writing", writer.write)
        for number, d, tiled in tiled_detections(frames):
            boxes = np.clip(np.tile(d.xyxy, (4, 1))[:50], 0, [1919, 1079, 1919, 1079])
            timed("colour of 50 boxes", colour_features)(image, boxes, tiled.score[:50])
            tracks = timed("in all", stages.update)(tiled)
            write(FrameResult(number - 1, (number - 1) / 30, None, tiled, tracks))
            tracks_seen.append(len(tracks))
    ms = {part: 1000 * s / frames for part, s in seconds.items()}
    ms["in all"] += ms["writing"] + ms["colour of 50 boxes"]
    return {"tracks_per_frame": float(np.mean(tracks_seen[30:])), "ms": ms}


def ultralytics_tracking_at_50_tracks(frames: int = 150) -> dict:
    """Milliseconds per frame of Ultralytics' ByteTrack (its fastest tracker, as track mode runs it after each
    detection) on the same `tiled_detections`: tracking only, no features, forecasts or files."""
    from ultralytics.engine.results import Boxes
    from ultralytics.trackers.byte_tracker import BYTETracker
    from ultralytics.utils import YAML, IterableSimpleNamespace
    from ultralytics.utils.checks import check_yaml

    tracker = BYTETracker(IterableSimpleNamespace(**YAML.load(check_yaml("bytetrack.yaml"))))
    seconds, tracks_seen = 0.0, []
    for _, _, tiled in tiled_detections(frames):
        boxes = Boxes(np.column_stack([tiled.xyxy, tiled.score, tiled.class_id]).astype(np.float32), (2160, 3840))
        start = time.perf_counter()
        tracks = tracker.update(boxes)
        seconds += time.perf_counter() - start
        tracks_seen.append(len(tracks))
    return {"tracks_per_frame": float(np.mean(tracks_seen[30:])), "ms": 1000 * seconds / frames}


# report -----------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.getLogger("ultralytics").setLevel(logging.ERROR)
    logging.getLogger("nncf").setLevel(logging.ERROR)
    ultra, ours, missing = prepare_models(args)
    runs: dict[str, list[float]] = defaultdict(list)
    for round_ in range(1, args.repeats + 1):
        for label, model in [*ultra.items(), *ours.items()]:
            progress(f"round {round_}/{args.repeats}: {label}")
            run = run_ultralytics if label.startswith("Ultralytics") else run_vidtrack
            runs[label].append(run(args, model))
    ms = {label: 1000 * min(seconds) / args.frames for label, seconds in runs.items()}
    progress("recall on labelled frames")
    recalls = detector_recalls(ultra, ours)
    fastest_ours = min((label for label in ms if label.startswith("vidtrack")), key=ms.get)
    fastest_ultra = min((label for label in ms if label.startswith("Ultralytics")), key=ms.get)
    progress(f"memory over {args.plays} plays ({fastest_ours})")
    memory = memory_over_plays(args, ours[fastest_ours])
    progress("own stages at 50 tracks")
    own = own_stages_at_50_tracks()
    bytetrack = ultralytics_tracking_at_50_tracks()
    detector_alone = detector_ms(args, ours[fastest_ours])
    summary = {
        "clip": args.video, "frames": args.frames, "repeats": args.repeats, "ms_per_frame": ms, "runs_s": runs,
        "recall": recalls, "not_run": missing, "memory_mb": memory, "own_stages_50_tracks": own,
        "ultralytics_bytetrack_50_tracks": bytetrack,
        "detector_ms": detector_alone,
        "speedup": ms[fastest_ultra] / ms[fastest_ours], "fastest": [fastest_ours, fastest_ultra],
        "speedup_of_medians": float(np.median(runs[fastest_ultra]) / np.median(runs[fastest_ours])),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
                   f"{torch.__version__}",
    }
    bar = "|" if args.markdown else ""
    lines = [f"{bar} method | ms/frame | fps | × fastest Ultralytics | recall {bar}",
             f"{bar}---|---:|---:|---:|---:{bar}"]
    for label in ms:
        lines.append(f"{bar} {label} | {ms[label]:.1f} | {1000 / ms[label]:.1f} | {ms[fastest_ultra] / ms[label]:.2f} "
                     f"| {recalls[label]:.1%} {bar}")
    for label, why in missing.items():
        lines.append(f"{bar} {label} | not run: {why} | | | {bar}")
    print("\n".join(lines))
    print(f"\nfastest vidtrack ({fastest_ours}) runs at {summary['speedup']:.2f}x the fps of the fastest Ultralytics "
          f"({fastest_ultra}), best round against best round ({summary['speedup_of_medians']:.2f}x by their median "
          f"rounds); recall on {recalls['frames']} held-out labelled frames.")
    print(f"memory over {args.plays} plays: {memory[0]:.0f} MB after the first, {memory[-1]:.0f} MB after the last")
    share = own["ms"]["in all"] / detector_alone
    parts = ", ".join(f"{part} {ms_:.2f} ms" for part, ms_ in own["ms"].items() if part != "in all")
    print(f"own stages at {own['tracks_per_frame']:.0f} tracks a frame: {own['ms']['in all']:.2f} ms ({parts}): "
          f"{share:.1%} of one call of the {fastest_ours} detector ({detector_alone:.1f} ms)")
    print(f"Ultralytics' ByteTrack alone on the same detections ({bytetrack['tracks_per_frame']:.0f} tracks a frame): "
          f"{bytetrack['ms']:.2f} ms, {bytetrack['ms'] / detector_alone:.1%} of that call")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
