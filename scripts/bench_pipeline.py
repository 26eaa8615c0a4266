"""Benchmark vidtrack against plain Ultralytics on one clip, with the same weights, in one process.

What is measured
----------------
(a) The detector alone, on frames decoded into memory first (so no decoding is timed), one frame per call:
      - vidtrack `Detector.__call__`: letterbox, YOLO forward, NMS, RoI-align feature pooling on the hooked maps;
      - the same `Detector` with feature pooling off (`has_appearance = False` on a second instance);
      - plain Ultralytics `YOLO(weights).predict(frame, imgsz=..., conf=0.1)`, the reference detector cost.
    The three run interleaved frame by frame, so the "features" stage (first minus second) is a paired difference.
    `pool_appearance` is also timed directly, as a cross-check of that difference.
(b) The full vidtrack pipeline from the video file: `Pipeline(config).run(video)` alone (the same work as (c)),
    and with a `ResultWriter` writing tracks.txt, tracks.jsonl and annotated.mp4 into a temporary folder → fps.
    Then the stages are
    run by hand with the objects Pipeline uses (ThreadedReader → Detector → Tracker → the configured forecaster →
    ResultWriter), each call timed with time.perf_counter, for the milliseconds per frame of each stage.
(c) Ultralytics track mode: `YOLO(weights).track(video, tracker="bytetrack.yaml", stream=True, persist=True)`,
    stopped after the same number of frames → fps. A fresh YOLO object per run, so no tracker state carries over.
(d) A crowded scene: `Pipeline.run_detections` on the real detections of MOT17-02 (--crowded), i.e. tracking,
    features and forecasts without a detector.

Fairness
--------
- Every measurement skips the first --warmup frames (model loading, predictor setup, first-call allocations) and
  times the next --frames frames, the same frame indices of the same clip everywhere.
- (a), (b) and (c) run --repeats times (default 2), alternating; the best (minimum time) of each method is kept.
- Setting up an Ultralytics predictor calls torch.set_num_threads(os.cpu_count() - 1), process-wide (1 thread on a
  2-core machine), while vidtrack's Detector leaves torch's default. The script pins torch to --threads before each
  timed section, so every method runs with the same number of threads.
- YOLO_OFFLINE=1 keeps Ultralytics offline (no update checks, no analytics, no downloads); the weights are the local
  file from `vidtrack.detect.weights.resolve_weights`.

Run
---
    make bench                 # runs .venv/bin/python scripts/bench_pipeline.py with the defaults below
    .venv/bin/python scripts/bench_pipeline.py --frames 100 --markdown --json runs/bench.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import platform
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import cv2
import numpy as np
import torch

import vidtrack.detect.detector as detector_module
from vidtrack.config import Config, load_config
from vidtrack.detect.detector import Detector
from vidtrack.detect.weights import resolve_weights
from vidtrack.errors import VidtrackError
from vidtrack.forecast.base import Forecaster
from vidtrack.forecasting_tracker import ForecastingTracker
from vidtrack.io.sources import ThreadedReader, open_source
from vidtrack.io.writers import ResultWriter
from vidtrack.pipeline import FrameResult, Pipeline
from vidtrack.track.tracker import Tracker

# Read by Ultralytics when it is first imported, which happens later (vidtrack imports it lazily).
os.environ.setdefault("YOLO_OFFLINE", "1")

CROWDED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "MOT17" / "train" / "MOT17-02-FRCNN"
SPREAD_WARNING = 1.15  # warn when a method's slowest run is this much slower than its fastest
CONF = 0.1  # vidtrack's default detector.conf, also Ultralytics' default for track mode

DETECTOR = "vidtrack Detector (with features)"
DETECTOR_PLAIN = "vidtrack Detector, features off"
PREDICT = "Ultralytics YOLO.predict"
PIPELINE = "vidtrack Pipeline.run (no files written)"
PIPELINE_WRITING = "vidtrack Pipeline.run + ResultWriter"
TRACK = "Ultralytics YOLO.track (ByteTrack)"
METHODS = (DETECTOR, DETECTOR_PLAIN, PREDICT, PIPELINE, PIPELINE_WRITING, TRACK)

DECODE = "decode"
POOL = "pool_appearance"
WAIT = "wait for frame (ThreadedReader)"
DETECT_IN_LOOP = "Detector call"
TRACKING = "tracking"
FORECASTING = "forecasting"
WRITING = "writing"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--video", default="data/car-detection.mp4", help="video file to benchmark on")
    parser.add_argument("--model", default="yolov8n.pt", help="YOLO weights, resolved by vidtrack")
    parser.add_argument("--frames", type=int, default=200, help="frames timed per measurement")
    parser.add_argument("--imgsz", type=int, default=640, help="inference size")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--warmup", type=int, default=5, help="frames run before timing starts")
    parser.add_argument("--repeats", type=int, default=2, help="alternating runs of (a), (b), (c); best is kept")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch CPU threads for all")
    parser.add_argument("--crowded", type=Path, default=CROWDED, help="MOTChallenge sequence with det/det.txt")
    parser.add_argument("--markdown", action="store_true", help="print README-ready Markdown tables")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results as JSON here")
    args = parser.parse_args(argv)
    for name in ("frames", "warmup", "repeats", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    return args


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def pin_threads(threads: int) -> None:
    """Undo the thread count an Ultralytics predictor set up, so every method runs with the same."""
    torch.set_num_threads(threads)


def make_config(args: argparse.Namespace) -> Config:
    return load_config(None, {"detector.model": args.model, "detector.imgsz": args.imgsz,
                              "detector.device": args.device, "detector.conf": CONF})


class StageTimer:
    """Keeps the perf_counter seconds of each timed block per stage name; `timing=False` runs a block untimed."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = defaultdict(list)

    @contextmanager
    def __call__(self, stage: str, timing: bool = True) -> Iterator[None]:
        start = time.perf_counter()
        yield
        if timing:
            self.samples[stage].append(time.perf_counter() - start)

    @property
    def seconds(self) -> dict[str, float]:
        return {stage: sum(values) for stage, values in self.samples.items()}


def timed(function: Callable, timer: StageTimer, stage: str) -> Callable:
    """Wrap `function` so that each call adds its duration to `stage`."""

    def wrapper(*args, **kwargs):
        with timer(stage):
            result = function(*args, **kwargs)
            if isinstance(result, torch.Tensor) and result.is_cuda:
                torch.cuda.synchronize()
        return result

    return wrapper


# (a) the detector alone ------------------------------------------------------------------------------------------


def decode_frames(video: str, warmup: int, frames: int) -> tuple[list[np.ndarray], float]:
    """Decode warmup + frames frames synchronously into memory; returns them and the seconds of the timed ones."""
    images, seconds = [], 0.0
    with open_source(video) as source:
        iterator = iter(source)
        for index in range(warmup + frames):
            start = time.perf_counter()
            frame = next(iterator, None)
            elapsed = time.perf_counter() - start
            if frame is None:
                raise SystemExit(f"{video}: only {index} frames; --warmup + --frames must not exceed that")
            images.append(frame.image)
            seconds += elapsed if index >= warmup else 0.0
    return images, seconds


def bench_detectors(args: argparse.Namespace, weights: str, images: list[np.ndarray]) -> dict[str, list[float]]:
    """Our Detector with and without features and Ultralytics predict, interleaved frame by frame; the seconds of
    each call, and of each pool_appearance call."""
    from ultralytics import YOLO

    detector = Pipeline(make_config(args)).detector  # built exactly as the pipeline builds it
    plain = Pipeline(make_config(args)).detector
    plain.has_appearance = False  # skips pool_appearance; the hook still keeps the maps (a list of references)
    model = YOLO(weights)
    calls = {
        DETECTOR: lambda image: detector([image]),
        DETECTOR_PLAIN: lambda image: plain([image]),
        PREDICT: lambda image: model.predict(image, imgsz=args.imgsz, conf=CONF, device=args.device, verbose=False),
    }
    timer = StageTimer()
    for image in images[:args.warmup]:
        for call in calls.values():
            call(image)
    pin_threads(args.threads)
    with mock.patch.object(detector_module, "pool_appearance", timed(detector_module.pool_appearance, timer, POOL)):
        for image in images[args.warmup:]:
            for name, call in calls.items():
                with timer(name):
                    call(image)
    return dict(timer.samples)


# (b) the vidtrack pipeline ---------------------------------------------------------------------------------------


def open_writer(
    folder: str, config: Config, fps: float, size: tuple[int, int], names: dict, write: bool = True
) -> ResultWriter:
    out = config.output
    return ResultWriter(folder, fps=fps, size=size, video=out.video and write, mot=out.mot and write,
                        jsonl=out.jsonl and write, csv=out.csv and write,
                        names=names, trail_s=out.trail_s)


def bench_pipeline(args: argparse.Namespace, write: bool) -> float:
    """Seconds for --frames frames of Pipeline.run, after --warmup frames; with `write`, through a ResultWriter, the
    writer's close (finalising the video) included. Without, the work matches Ultralytics' track mode, which writes
    nothing."""
    config = make_config(args)
    pipe = Pipeline(config)
    pin_threads(args.threads)
    results = pipe.run(args.video, max_frames=args.warmup + args.frames)
    first = next(results)  # opens the source, so that its frame rate and size are known (as the CLI does)
    with tempfile.TemporaryDirectory(prefix="vidtrack-bench-") as folder:
        writer = open_writer(folder, config, pipe.info.fps, pipe.info.size, pipe.detector.names, write)
        with writer:
            writer.write(first)
            for result in itertools.islice(results, args.warmup - 1):
                writer.write(result)
            start = time.perf_counter()
            count = 0
            for result in results:
                writer.write(result)
                count += 1
        elapsed = time.perf_counter() - start
    if count != args.frames:
        raise SystemExit(f"{args.video}: the pipeline gave {args.warmup + count} of {args.warmup + args.frames} frames")
    return elapsed


def make_stages(config: Config, fps: float, size: tuple[int, int]) -> tuple[Tracker, Forecaster]:
    """The tracker and forecaster, built by the same code as in Pipeline.run (the configured forecaster)."""
    stages = ForecastingTracker(config, fps=fps, image_size=size)
    return stages.tracker, stages.forecaster


def bench_stages(args: argparse.Namespace) -> dict[str, float]:
    """The pipeline's stages run by hand, as Pipeline.run and ForecastingTracker.update run them; seconds per stage."""
    config = make_config(args)
    detector: Detector = Pipeline(config).detector
    timer = StageTimer()
    pin_threads(args.threads)
    with ThreadedReader(open_source(args.video), queue_size=config.output.queue_size) as reader, \
            tempfile.TemporaryDirectory(prefix="vidtrack-bench-") as folder:
        info = reader.info
        tracker, forecaster = make_stages(config, info.fps, info.size)
        frames = iter(reader)
        with open_writer(folder, config, info.fps, info.size, detector.names) as writer:
            for index in range(args.warmup + args.frames):
                timing = index >= args.warmup
                with timer(WAIT, timing):
                    frame = next(frames)
                with timer(DETECT_IN_LOOP, timing):
                    [detections] = detector([frame.image])
                with timer(TRACKING, timing):
                    tracks = tracker.update(detections)
                with timer(FORECASTING, timing):
                    forecaster.forget(tracker.removed_ids)
                    boxes = tracker.smoothed_boxes(tracks.track_id) if forecaster.kind == "lstm" else tracks.xyxy
                    features = tracker.last_features(tracks.track_id)
                    future = forecaster.step(frame.index, tracks.track_id, boxes, features)
                    tracks = tracks.with_forecast(future, forecaster.kind)
                result = FrameResult(frame.index, frame.index / info.fps, frame.image, detections, tracks)
                with timer(WRITING, timing):
                    writer.write(result)
    return dict(timer.seconds)


# (c) Ultralytics track mode --------------------------------------------------------------------------------------


def bench_ultralytics_track(args: argparse.Namespace, weights: str) -> float:
    """Seconds for --frames results of YOLO.track streaming the video, after --warmup results."""
    from ultralytics import YOLO

    model = YOLO(weights)  # fresh per run: no tracker state or predictor is shared between runs
    stream = model.track(source=args.video, tracker="bytetrack.yaml", stream=True, imgsz=args.imgsz, conf=CONF,
                         device=args.device, verbose=False, persist=True)
    count = 0
    with closing(stream):
        for _ in itertools.islice(stream, args.warmup):  # the first result sets the predictor up (and threads to 1)
            pass
        pin_threads(args.threads)
        start = time.perf_counter()
        for _ in itertools.islice(stream, args.frames):
            count += 1
        elapsed = time.perf_counter() - start
    if count != args.frames:
        raise SystemExit(f"{args.video}: Ultralytics gave {args.warmup + count} of {args.warmup + args.frames} frames")
    return elapsed


# running and reporting -------------------------------------------------------------------------------------------


@dataclass
class Measurements:
    seconds: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # per method, per round
    stage_runs: list[dict[str, float]] = field(default_factory=list)  # seconds per stage of each hand-run loop
    feature_s: list[float] = field(default_factory=list)  # Detector minus Detector features off, per frame


def run_rounds(args: argparse.Namespace, weights: str) -> Measurements:
    """Run (a), (b), (c) --repeats times, alternating."""
    measured = Measurements()
    seconds = measured.seconds
    for round_ in range(1, args.repeats + 1):
        progress(f"round {round_}/{args.repeats}: (a) decoding {args.warmup + args.frames} frames into memory")
        images, decode_s = decode_frames(args.video, args.warmup, args.frames)
        progress(f"round {round_}/{args.repeats}: (a) detectors, interleaved per frame")
        samples = bench_detectors(args, weights, images)
        del images
        for name in (DETECTOR, DETECTOR_PLAIN, PREDICT, POOL):
            seconds[name].append(sum(samples.get(name, [])))
        measured.feature_s += [d - p for d, p in zip(samples[DETECTOR], samples[DETECTOR_PLAIN])]
        seconds[DECODE].append(decode_s)
        progress(f"round {round_}/{args.repeats}: (b) Pipeline.run, without and with writing files")
        seconds[PIPELINE].append(bench_pipeline(args, write=False))
        seconds[PIPELINE_WRITING].append(bench_pipeline(args, write=True))
        progress(f"round {round_}/{args.repeats}: (b) stages by hand")
        measured.stage_runs.append(bench_stages(args))
        progress(f"round {round_}/{args.repeats}: (c) Ultralytics track")
        seconds[TRACK].append(bench_ultralytics_track(args, weights))
    return measured


def summarise(args: argparse.Namespace, measured: Measurements) -> dict:
    """Milliseconds per frame: the best round of each method, the stages of the fastest hand-run loop, and the
    median paired per-frame difference for the features (robust to a busy machine during some frames)."""
    n, seconds = args.frames, measured.seconds
    methods = {name: 1000 * min(seconds[name]) / n for name in METHODS}
    loop = min(measured.stage_runs, key=lambda run: sum(run.values()))
    stages = {
        "decoding": 1000 * min(seconds[DECODE]) / n,
        "detection": methods[DETECTOR_PLAIN],
        "features": 1000 * float(np.median(measured.feature_s)),
        "features: pool_appearance alone": 1000 * min(seconds[POOL]) / n,
        "tracking": 1000 * loop[TRACKING] / n,
        "forecasting": 1000 * loop[FORECASTING] / n,
        "writing": 1000 * loop[WRITING] / n,
        "loop: wait for decoded frame": 1000 * loop[WAIT] / n,
        "loop: Detector call (detection + features)": 1000 * loop[DETECT_IN_LOOP] / n,
        "loop: total": 1000 * sum(loop.values()) / n,
    }
    overhead = stages["tracking"] + stages["features"] + stages["forecasting"] + stages["writing"]
    ratios = {
        "pipeline fps / ultralytics track fps": methods[TRACK] / methods[PIPELINE],
        "pipeline writing files fps / ultralytics track fps": methods[TRACK] / methods[PIPELINE_WRITING],
        "detector ms / ultralytics predict ms": methods[DETECTOR] / methods[PREDICT],
        "stage overhead %": 100 * overhead / stages["detection"],
    }
    runs = {name: [1000 * t / n for t in seconds[name]] for name in METHODS}
    return {"methods_ms": methods, "stages_ms": stages, "ratios": ratios, "runs_ms": runs}


STAGE_NOTES = {
    "decoding": "(a) VideoSource read, synchronous, no thread",
    "detection": "(a) Detector with feature pooling off",
    "features": "(a) Detector minus Detector features off, median of per-frame paired differences",
    "features: pool_appearance alone": "(a) cross-check: the RoI-align call timed directly",
    "tracking": "(b) Tracker.update",
    "forecasting": "(b) forecaster.forget + tracker.last_features + forecaster.step + with_forecast",
    "writing": "(b) ResultWriter.write: MOT + JSONL; the video is drawn and encoded in a background thread",
    "loop: wait for decoded frame": "(b) time blocked on ThreadedReader (decoding overlaps inference)",
    "loop: Detector call (detection + features)": "(b) Detector.__call__ inside the loop",
    "loop: total": "(b) sum of the loop's timed stages",
}


def format_table(headers: list[str], rows: list[list[str]], markdown: bool, numeric: tuple[int, ...]) -> str:
    """A plain or Markdown table; the `numeric` columns are right-aligned, the others left-aligned."""
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        padded = [c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))]
        return f"| {' | '.join(padded)} |" if markdown else "  ".join(padded).rstrip()

    if markdown:
        rule = "|" + "|".join("-" * (w + 1) + (":" if i in numeric else "-") for i, w in enumerate(widths)) + "|"
    else:
        rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *map(line, rows)])


def environment(args: argparse.Namespace) -> dict:
    import ultralytics

    with open_source(args.video) as source:
        info = source.info
    return {
        "video": f"{args.video} ({info.size[0]}x{info.size[1]}, {info.fps:g} fps, {info.frame_count} frames)",
        "weights": args.model, "imgsz": args.imgsz, "device": args.device, "torch_threads": args.threads,
        "cpu_count": os.cpu_count(), "frames_timed": args.frames, "warmup_frames": args.warmup,
        "repeats": args.repeats, "load_average_1min_at_start": round(os.getloadavg()[0], 2),
        "python": platform.python_version(), "torch": torch.__version__,
        "ultralytics": ultralytics.__version__, "opencv": cv2.__version__,
    }


def run_spread(runs_ms: dict[str, list[float]]) -> list[str]:
    """Each method's runs in order, and a warning where they disagree: another process was using the CPU."""
    lines = [f"runs, ms/frame in order: {name}: {', '.join(f'{ms:.1f}' for ms in values)}"
             for name, values in runs_ms.items()]
    noisy = [name for name, values in runs_ms.items() if max(values) > SPREAD_WARNING * min(values)]
    if noisy:
        lines.append(f"WARNING: runs differ by more than {SPREAD_WARNING - 1:.0%} for {', '.join(noisy)}: the machine "
                     "was busy during some runs (two torch threads on two busy cores slow down many times); "
                     "close other work or rerun with more --repeats")
    return lines


def report(env: dict, summary: dict, markdown: bool) -> str:
    methods = [[name, f"{1000 / ms:.1f}", f"{ms:.1f}"] for name, ms in summary["methods_ms"].items()]
    stages = [[name, f"{ms:.2f}", STAGE_NOTES[name]] for name, ms in summary["stages_ms"].items()]
    ratios = summary["ratios"]
    settings = ", ".join(f"{k}={v}" for k, v in env.items())
    return "\n".join([
        f"Settings: {settings}",
        f"Each row: the best (minimum time) of {env['repeats']} alternating runs of (a), (b), (c); "
        f"{env['frames_timed']} frames timed after {env['warmup_frames']} warm-up frames.",
        "",
        format_table(["method", "fps", "ms/frame"], methods, markdown, numeric=(1, 2)),
        "",
        format_table(["stage", "ms/frame", "measured as"], stages, markdown, numeric=(1,)),
        "",
        f"pipeline fps / Ultralytics track fps: {ratios['pipeline fps / ultralytics track fps']:.2f} "
        f"(writing files: {ratios['pipeline writing files fps / ultralytics track fps']:.2f})",
        f"Detector / Ultralytics predict time: {ratios['detector ms / ultralytics predict ms']:.2f}",
        f"stage overhead = (tracking + features + forecasting + writing) / detection: "
        f"{ratios['stage overhead %']:.1f} %",
        "",
        *run_spread(summary["runs_ms"]),
    ])


def bench_crowded(sequence: Path) -> str:
    """Tracking, features and forecasts on a crowded scene: the real detections of a MOTChallenge sequence."""
    if not (sequence / "det" / "det.txt").is_file():
        return f"(d) skipped: no {sequence / 'det' / 'det.txt'}"
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        results = list(Pipeline(Config()).run_detections(sequence / "det" / "det.txt", sequence / "seqinfo.ini"))
        best = min(best, (time.perf_counter() - start) / len(results))
    per_frame = sum(len(r.tracks) for r in results) / len(results)
    return (f"(d) {sequence.name} real detections: {1000 * best:.2f} ms per frame for tracking, features and forecasts "
            f"({per_frame:.1f} tracks per frame, {len(results)} frames, best of 3)")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(format="warning: %(message)s", level=logging.WARNING)
    logging.getLogger("ultralytics").setLevel(logging.ERROR)
    try:
        weights = resolve_weights(args.model)
        env = environment(args)
        measured = run_rounds(args, weights)
    except VidtrackError as e:
        raise SystemExit(f"error: {e}") from None
    summary = summarise(args, measured)
    print(report(env, summary, args.markdown))
    print(bench_crowded(args.crowded))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        raw = {"seconds_per_round": measured.seconds, "stage_seconds_per_round": measured.stage_runs}
        args.json.write_text(json.dumps({"environment": env, **summary, **raw}, indent=2) + "\n")
        progress(f"wrote {args.json}")


if __name__ == "__main__":
    main()
