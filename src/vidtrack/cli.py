"""The `vidtrack` command line: a thin layer over the Python API."""

from __future__ import annotations

import itertools
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import click

from vidtrack.errors import VidtrackError


class _OneLineErrors(click.Group):
    """Turn the errors a user can fix into one red line and exit status 1 (2 for a command line click cannot parse),
    instead of a traceback or click's three lines of usage."""

    def make_context(self, *args, **kwargs) -> click.Context:
        with _one_line():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: click.Context):
        with _one_line():
            return super().invoke(ctx)


@contextmanager
def _one_line() -> Iterator[None]:
    """Every way a command ends early, as one line and an exit status."""
    try:
        yield
    except VidtrackError as e:
        _fail(str(e), 1)
    except click.UsageError as e:
        if isinstance(e, getattr(click.exceptions, "NoArgsIsHelpError", ())):
            raise  # `vidtrack` alone: click shows the help
        where = f" (see {e.ctx.command_path} --help)" if e.ctx is not None else ""
        _fail(e.format_message() + where, 2)
    except OSError as e:  # a file the user named that the system refuses: a folder in a file's place, ...
        _fail(f"{e.filename}: {e.strerror}" if e.filename and e.strerror else str(e), 1)
    except KeyboardInterrupt:
        click.secho("interrupted; the files written so far are complete up to the last frame", err=True)
        sys.exit(130)
    except _Terminated:
        click.secho("terminated (SIGTERM); the files written so far are complete up to the last frame", err=True)
        sys.exit(143)


def _fail(message: str, status: int) -> NoReturn:
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(status)


class _Terminated(Exception):  # noqa: N818 (a signal, not an error)
    """SIGTERM (a service manager, `timeout`, `kill`), raised in the main thread so that files close as on Ctrl-C."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Terminated


class _TrackCommand(click.Command):
    """Let `--classes person car` take several values, as in Ultralytics and argparse's nargs="+": the words after it,
    up to the next option, are joined into one comma-separated value."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        joined, i = [], 0
        while i < len(args):
            joined.append(args[i])
            if args[i] == "--classes":
                end = i + 1
                while end < len(args) and not args[end].startswith("-"):
                    end += 1
                joined.append(",".join(args[i + 1:end]))
                i = end
            else:
                i += 1
        return super().parse_args(ctx, joined)


@click.group(cls=_OneLineErrors)
@click.version_option(package_name="vidtrack", prog_name="vidtrack")
def main() -> None:
    """Detect, track and forecast objects in videos."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # FFmpeg's own lines ("moov atom not found"): vidtrack's
    # one-line errors say what is wrong; set the variable (e.g. to 24) to see them
    logging.basicConfig(format="warning: %(message)s", level=logging.WARNING)
    signal.signal(signal.SIGTERM, _on_sigterm)
    logging.getLogger("ultralytics").setLevel(logging.ERROR)


@main.command(cls=_TrackCommand)
@click.argument("source", required=False)
@click.option("--out", type=click.Path(path_type=Path), default=Path("runs/track"), show_default=True,
              help="Folder for tracks.txt, tracks.jsonl, tracks.csv and annotated.mp4.")
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="YAML config (see configs/).")
@click.option("--tracker", "tracker_path", type=click.Path(path_type=Path),
              help="YAML of tracker keys only, e.g. configs/trackers/vidtrack-lstm.yaml, or Ultralytics' "
              "bytetrack.yaml or botsort.yaml (a bare name: the copy shipped with Ultralytics; README).")
@click.option("--model", help="YOLO weights: a name such as yolov8n.pt, or a path to .pt/.onnx/...")
@click.option("--classes", multiple=True, help="Keep only these classes, names or ids: --classes person car.")
@click.option("--conf", type=float, help="Detection confidence threshold.")
@click.option("--iou", type=float, help="NMS IoU threshold.")
@click.option("--imgsz", type=int, help="Inference image size in pixels.")
@click.option("--device", help="auto, cpu, cuda, cuda:N or N (the same as cuda:N).")
@click.option("--half", is_flag=True, default=None, help="Half precision (CUDA only).")
@click.option("--backend", type=click.Choice(["auto", "torch", "onnxruntime", "openvino"]),
              help="Runtime of the detector; auto (the default) chooses by the --model file: .pt torch, .onnx "
              "onnxruntime, an OpenVINO folder openvino.")
@click.option("--batch", type=int, help="Frames per detector batch.")
@click.option("--detections", type=click.Path(path_type=Path), help="Track a MOTChallenge detections file instead.")
@click.option("--seqinfo", type=click.Path(path_type=Path), help="seqinfo.ini of the --detections sequence.")
@click.option("--max-frames", type=click.IntRange(min=1), help="Stop after this many frames.")
@click.option("--vid-stride", type=int, default=1, show_default=True, help="Process every N-th frame of SOURCE; the "
              "tracker predicts through the others.")
@click.option("--fps", type=float, help="The source's frame rate, if its container "
              "is wrong; by default a seqinfo.ini beside the video gives it, else the container.")
@click.option("--save/--no-save", default=None, help="Write all output files, or none (the summary line only).")
@click.option("--video/--no-video", default=None, help="Write annotated.mp4 (wins over --save/--no-save).")
@click.option("--show", is_flag=True, help="Show the annotated frames in a window.")
@click.option("--line", "lines", multiple=True, metavar="X1,Y1,X2,Y2", help="Count the tracks crossing this line "
              "(pixels), in and out per class, and anticipate crossings from the forecasts; repeatable (replaces "
              "analytics.lines).")
@click.option("--zone", "zones", multiple=True, metavar="X1,Y1,X2,Y2,X3,Y3,...", help="Count the tracks entering "
              "and leaving this polygon (pixels) per class, and those inside, and anticipate entries from the "
              "forecasts; repeatable (replaces analytics.zones).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override any config key, e.g. "
              "tracker.track_buffer_s=2.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Many clips: run this many "
              "at once, each with its share of the CPU threads (or a GPU each, in turn).")
@click.option("--ray", "ray_address", is_flag=False, flag_value="local", metavar="[ADDRESS]", help="Many clips: run "
              "them as Ray tasks on the cluster at ADDRESS (HEAD:6379, auto), or without ADDRESS on a local Ray.")
@click.option("--task-cpus", type=click.FloatRange(min=0, min_open=True), help="With --ray: CPUs per clip (default: "
              "on a local Ray, the cores / --workers; on a cluster, 1).")
@click.option("--task-gpus", type=click.FloatRange(min=0), default=0, show_default=True, help="With --ray: GPUs per "
              "clip (0.5: two clips share one).")
def track(source, out, config_path, tracker_path, model, classes, conf, iou, imgsz, device, half, backend, batch,
          detections, seqinfo, max_frames, vid_stride, fps, save, video, show, lines, zones, sets, workers, ray_address,
          task_cpus, task_gpus) -> None:
    """Track objects in SOURCE: a video file, an image folder, a webcam index (0) or an rtsp/http URL; or many
    clips, each into its own folder under --out: a folder of videos, a glob or a manifest (.txt, .csv).

    \b
    Examples:
      vidtrack track clip.mp4 --out runs/clip
      vidtrack track clip.mp4 --model yolov8n.pt --classes person car --device cpu --show
      vidtrack track --detections det.txt --seqinfo seqinfo.ini --out runs/02
      vidtrack track clip.mp4 --tracker configs/trackers/vidtrack-lstm.yaml
      vidtrack track clip.mp4 --tracker botsort.yaml --device 0 --half --vid-stride 2 --no-save
      vidtrack track clip.mp4 --line 0,400,1280,400 --line 640,0,640,720
      vidtrack track clip.mp4 --zone 100,400,600,400,600,700,100,700
      vidtrack track clip.mp4 --model yolov8n_vidtrack_int8_openvino_model   # after `vidtrack export`
      vidtrack track 'videos/*.mp4' --workers 2 --out runs/fleet
      vidtrack track clips.csv --out runs/fleet --ray HEAD:6379
    """
    from tqdm import tqdm

    from vidtrack.collection import ClipOptions, is_collection
    from vidtrack.config import load_config, parse_override
    from vidtrack.io.draw import TrackPainter
    from vidtrack.io.writers import ResultWriter
    from vidtrack.pipeline import Pipeline

    if (source is None) == (detections is None):
        raise click.UsageError("give either SOURCE or --detections (with --seqinfo)")
    if detections is not None and seqinfo is None:
        raise click.UsageError("--detections needs --seqinfo, the sequence's seqinfo.ini")
    if vid_stride < 1:
        raise VidtrackError(f"--vid-stride: {vid_stride} is not allowed; give 1 (every frame) or more")
    if vid_stride > 1 and detections is not None:
        raise VidtrackError("--vid-stride applies to SOURCE, not to --detections")
    class_list = [c.strip() for item in classes for c in item.split(",") if c.strip()] or None  # "cell phone" is one
    flags = {"detector.model": model, "detector.classes": class_list, "detector.conf": conf, "detector.iou": iou,
             "detector.imgsz": imgsz, "detector.device": device, "detector.half": half, "detector.batch": batch,
             "detector.backend": backend,
             "output.mot": save, "output.jsonl": save, "output.csv": save,
             "output.video": save if video is None else video,
             "analytics.lines": [_region_numbers("--line", text) for text in lines] or None,
             "analytics.zones": [_region_numbers("--zone", text) for text in zones] or None}
    # A flag given wins over --set; a flag left out must not erase the --set value of its key.
    overrides = dict(parse_override(s) for s in sets) | {k: v for k, v in flags.items() if v is not None}
    pipe = Pipeline(load_config(config_path, overrides, tracker=tracker_path))
    if source is not None and is_collection(source):
        if show or lines or zones:
            raise VidtrackError("--show, --line and --zone take one SOURCE, not a collection of clips")
        options = ClipOptions(fps=fps, max_frames=max_frames, vid_stride=vid_stride)
        sys.exit(_track_many(pipe, source, out, options, workers=workers, ray=ray_address, task_cpus=task_cpus,
                             task_gpus=task_gpus))
    if workers > 1 or ray_address is not None or task_cpus is not None or task_gpus:
        raise VidtrackError("--workers, --ray, --task-cpus and --task-gpus run many clips: give a folder of videos, "
                            "a glob or a manifest as SOURCE")
    if detections is not None:
        results = pipe.run_detections(detections, seqinfo, max_frames=max_frames, fps=fps)
    else:
        results = pipe.run(source, max_frames=max_frames, fps=fps, vid_stride=vid_stride)
    first = next(results, None)  # opens the source, so that its frame rate and size are known
    if first is None:
        raise VidtrackError(f"{source or detections}: no frames to track")
    names = {0: "object"} if detections is not None else pipe.detector.names
    info, cfg = pipe.info, pipe.config.output
    regions = _regions(pipe.config.analytics, {"lines": lines, "zones": zones}, info)  # kind → [(text, counter)]
    strided = -(-(info.frame_count or 0) // vid_stride)  # the frames processed: 0, N, 2N, ...
    total = min(strided, max_frames or strided) or None
    ids: set[int] = set()
    count, start = 0, time.perf_counter()
    headless = sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if show and headless:
        logging.getLogger("vidtrack").warning("--show: no display (DISPLAY is not set); continuing without a window")
        show = False  # OpenCV's Qt backend would abort the whole process
    window = TrackPainter(round(cfg.trail_s * info.fps), names) if show else None
    with (
        ResultWriter.for_source(out, info, cfg, names, lines=[c for _, c in regions["lines"]],
                                zones=[c for _, c in regions["zones"]]) as writer,
        tqdm(total=total, unit="frame", desc=info.name) as bar,
    ):
        for result in itertools.chain([first], results):
            writer.write(result)
            ids.update(result.tracks.track_id.tolist())
            count += 1
            bar.update()
            if window is not None and not _show(result, window, writer.overlays()):
                window = None
    elapsed = time.perf_counter() - start
    click.echo(f"{count} frames in {elapsed:.1f} s ({count / elapsed:.1f} fps), {len(ids)} tracks, "
               f"forecasts: {pipe.config.forecast.model}")
    for kind, found in regions.items():
        for text, counter in found:
            inside = f", inside at the end {_counted(counter.occupancy, names)}" if kind == "zones" else ""
            click.echo(f"  {kind[:-1]} {text}: in {_counted(counter.counts['in'], names)}, "
                       f"out {_counted(counter.counts['out'], names)}{inside}")
    for kind, path in writer.paths.items():
        click.echo(f"  {kind:5s} {path}")


def _counted(counts, names: dict[int, str]) -> str:
    """A Counter of class ids as "3 (person 2, car 1)"."""
    per_class = ", ".join(f"{names.get(k, k)} {n}" for k, n in sorted(counts.items())) or "none"
    return f"{counts.total()} ({per_class})"


TABLE_ROWS = 30  # a longer run prints its failed clips only; summary.csv has them all


def _track_many(pipe, source: str, out: Path, options, **run) -> int:
    """Track every clip of a collection with one progress bar; prints the table of clips and returns the exit
    status: 1 if any clip failed."""
    from tqdm import tqdm

    from vidtrack.collection import SUMMARY, expand_sources

    clips = expand_sources(source, out=out, defaults=options)  # two clips for one folder are refused here
    order = {clip.name: i for i, clip in enumerate(clips)}
    results, start = [], time.perf_counter()
    running = pipe.run_many(clips, out, **run)  # a Ray address that does not answer fails here, before the bar
    with tqdm(total=len(clips), unit="clip", desc=f"{len(clips)} clips") as bar:
        for result in running:
            results.append(result)
            bar.update()
            if failed := sum(r.status == "failed" for r in results):
                bar.set_postfix(failed=failed)
    elapsed = time.perf_counter() - start
    results.sort(key=lambda r: order[r.name])
    failed = [r for r in results if r.status == "failed"]
    shown = results if len(results) <= TABLE_ROWS else failed
    if shown:
        click.echo("| clip | frames | seconds | fps | tracks | status |\n|---|---:|---:|---:|---:|---|")
        for r in shown:
            status = f"failed: {r.error}" if r.error else r.status
            click.echo(f"| {r.name} | {r.frames} | {r.seconds:.1f} | {r.fps:.1f} | {r.tracks} | {status} |")
    done = [r for r in results if r.status == "done"]
    frames = sum(r.frames for r in done)
    click.echo(f"{len(results)} clips in {elapsed:.1f} s: {len(done)} done ({frames} frames, "
               f"{frames / elapsed:.1f} fps overall), {len(results) - len(done) - len(failed)} complete before, "
               f"{len(failed)} failed")
    if (out / SUMMARY).is_file():
        click.echo(f"  summary {out / SUMMARY}")
    return 1 if failed else 0


def _region_numbers(flag: str, text: str) -> list[float]:
    """The numbers of a --line (x1,y1,x2,y2) or --zone (x1,y1,x2,y2,x3,y3,...) value, checked as the config checks
    them but named by the flag."""
    try:
        numbers = [float(v) for v in text.split(",")]
    except ValueError:
        numbers = []
    if flag == "--line" and len(numbers) != 4:
        raise VidtrackError(f"--line {text}: give four numbers x1,y1,x2,y2")
    if flag == "--zone" and (len(numbers) < 6 or len(numbers) % 2):
        raise VidtrackError(f"--zone {text}: give 3 or more points x1,y1,x2,y2,x3,y3,...")
    try:
        _counter(flag, numbers, anchor="bottom_center", fps=1.0)
    except ValueError as e:
        raise VidtrackError(f"{flag} {text}: {e}") from None
    return numbers


def _counter(kind: str, numbers: list[float], *, anchor: str, fps: float):
    """A `LineCounter` for "--line" or "lines", else a `ZoneCounter`, from the flat numbers."""
    from vidtrack.analytics import LineCounter, ZoneCounter

    if kind in ("--line", "lines"):
        return LineCounter(numbers[:2], numbers[2:], fps=fps, anchor=anchor)
    return ZoneCounter(list(zip(numbers[0::2], numbers[1::2])), fps=fps, anchor=anchor)


def _regions(analytics, flags: dict[str, tuple[str, ...]], info) -> dict[str, list[tuple]]:
    """{"lines": [(text, LineCounter)], "zones": [(text, ZoneCounter)]} of the config's analytics section (where the
    --line and --zone values already stand); one that does not lie in the frame is refused in one line naming its
    flag value or its config key."""
    regions = {}
    for kind, given in flags.items():
        regions[kind] = []
        for i, numbers in enumerate(getattr(analytics, kind)):
            text = given[i] if given else ",".join(f"{v:g}" for v in numbers)
            counter = _counter(kind, numbers, anchor=analytics.anchor, fps=info.fps)
            if not counter.inside(info.size):
                where = f"--{kind[:-1]} {text}" if given else f"analytics.{kind}[{i}]"
                raise VidtrackError(f"{where}: outside the {info.size[0]}x{info.size[1]} frame")
            regions[kind].append((text, counter))
    return regions


def _show(result, painter, overlays: tuple[list, list]) -> bool:
    """Show a frame with the lines and zones `overlays` (`ResultWriter.overlays`) in a window; returns False (stop
    showing) when there is no display or the user pressed q."""
    import cv2

    if result.image is None:
        return False
    try:
        cv2.imshow("vidtrack", painter.draw(result.image, result.tracks, *overlays))
        return cv2.waitKey(1) & 0xFF != ord("q")
    except cv2.error:
        logging.getLogger("vidtrack").warning("--show: no display available; continuing without a window")
        return False


_DATA_HELP = ("Labelled clips: a MOTChallenge sequence folder (seqinfo.ini, gt/gt.txt) or a folder of them, a JAAD "
              "root (annotations/, split_ids/) or an ETH/UCY trajectory file; repeat for several.")


def _data_options(command):
    """--data (repeatable), --split and --subset, shared by `train` and `eval forecast`."""
    command = click.option("--subset", default="default", show_default=True, metavar="NAME",
                           help="JAAD: the subset of the split lists (default, high_visibility, all_videos).")(command)
    command = click.option("--split", metavar="NAME", help="JAAD: the videos of this split list (train, val, "
                           "test); every video without it.")(command)
    return click.option("--data", required=True, multiple=True, type=click.Path(path_type=Path),
                        help=_DATA_HELP)(command)


@main.command()
@_data_options
@click.option("--out", type=click.Path(path_type=Path), default=Path("runs/forecaster"), show_default=True)
@click.option("--val-data", multiple=True, type=click.Path(path_type=Path),
              help="Validate on these clips instead of on part of --data (e.g. the JAAD root with --val-data-split "
              "val).")
@click.option("--val-data-split", metavar="NAME", help="JAAD: the split list of the --val-data videos (e.g. val).")
@click.option("--val-split", type=float, help="Fraction of the --data clips to validate on  [default: 0.25]; 0 "
              "trains on all and keeps the last epoch.")
@click.option("--val-sequences", multiple=True, help="Validate on these --data clips (MOT sequence names, JAAD video "
              "ids) instead of a random split.")
@click.option("--epochs", type=int, default=40, show_default=True)
@click.option("--batch-size", type=int, default=256, show_default=True)
@click.option("--lr", type=float, default=2e-3, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--dropout", type=float, default=0.0, show_default=True, help="Between the LSTM's two layers.")
@click.option("--no-position", is_flag=True, help="The model does not read where boxes are in the image (for fixed "
              "cameras: it would learn where people walk in the training scenes).")
@click.option("--device", default="auto", show_default=True)
@click.option("--no-augment", is_flag=True, help="Train on the clean labels only.")
@click.option("--no-resume", is_flag=True, help="Start over even if OUT holds an interrupted run.")
@click.option("--appearance", is_flag=True, help="Also learn from the detector's appearance features on clips with "
              "frames (img1/), computed once and cached in ~/.cache/vidtrack/appearance; the model reads all features.")
def train(data, split, subset, out, val_data, val_data_split, val_split, val_sequences, epochs, batch_size, lr, seed,
          dropout, no_position, device, no_augment, no_resume, appearance) -> None:
    """Train the LSTM forecaster on labelled clips; also runs under torchrun for several processes.

    \b
    Examples:
      vidtrack train --data MOT17/train --val-sequences MOT17-09-FRCNN
      vidtrack train --data JAAD --split train --val-data JAAD --val-data-split val
    """
    from vidtrack.forecast.lstm import LSTMConfig
    from vidtrack.training.fit import train_forecaster
    from vidtrack.training.trainer import TrainConfig

    if val_data_split is not None and not val_data:
        raise VidtrackError("--val-data-split chooses among the --val-data videos; give --val-data too")
    if val_data and (val_split is not None or val_sequences):
        raise VidtrackError("--val-data gives the validation clips, --val-split and --val-sequences choose them among "
                            "--data: give one or the other")
    config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, device=device)
    result = train_forecaster(data, out, split=split, subset=subset, val_data=list(val_data) or None,
                              val_data_split=val_data_split, val_split=val_split,
                              val_sequences=list(val_sequences) or None,
                              model_config=LSTMConfig(motion_only=not appearance, dropout=dropout,
                                                      position=not no_position), train_config=config,
                              augment=not no_augment, resume=not no_resume, appearance=appearance)
    click.echo(f"best validation loss {result.best_val_loss:.4f} at epoch {result.best_epoch} of "
               f"{result.epochs_run}; checkpoint {Path(out) / 'best'}")


@main.command("export")
@click.argument("model", default="yolov8n.pt")
@click.option("--format", "fmt", type=click.Choice(["onnx", "openvino"]), default="openvino", show_default=True)
@click.option("--int8", is_flag=True, help="Quantise to int8 (NNCF), calibrated on --data.")
@click.option("--data", "calibration", type=click.Path(path_type=Path), help="Calibration frames for --int8: a video "
              "or image folder like what the model will see; half calibrate, half check the result.")
@click.option("--frames", type=click.IntRange(min=2), default=300, show_default=True,
              help="Frames taken from --data, spread evenly.")
@click.option("--imgsz", type=int, default=640, show_default=True, help="Inference size (the longer side).")
@click.option("--out", type=click.Path(path_type=Path), help="The .onnx file or OpenVINO folder to write  [default: "
              "<model>_vidtrack[_int8].onnx or <model>_vidtrack[_int8]_openvino_model]")
@click.option("--trust-weights", is_flag=True, help="Load a .pt even if unpickling it would run code (README).")
def export(model, fmt, int8, calibration, frames, imgsz, out, trust_weights) -> None:
    """Export MODEL (YOLO .pt weights) for ONNX Runtime or OpenVINO, keeping the feature maps of its neck.

    
    Examples:
      vidtrack export yolov8n.pt --format openvino
      vidtrack export yolov8n.pt --format openvino --int8 --data data/pets09-s2l1.mp4
      vidtrack track clip.mp4 --model yolov8n_vidtrack_int8_openvino_model
    """
    from vidtrack.detect.export import export_detector

    if int8:
        from vidtrack.detect.backends import import_optional

        import_optional("nncf", "openvino", "--int8")  # imported first: it sets its logger's level on import
        logging.getLogger("nncf").setLevel(logging.ERROR)  # its INFO lines, one per layer (not nncf.set_log_level,
        # which also changed the level of handlers it did not own: pytest's)
    start = time.perf_counter()
    path, report = export_detector(model, fmt, out=out, imgsz=imgsz, int8=int8, calibration=calibration,
                                   calibration_frames=frames, trust_weights=trust_weights)
    click.echo(f"{path} written in {time.perf_counter() - start:.0f} s")
    if report is not None:
        click.echo(f"int8 against fp32 on {report['frames']} held-out frames of {calibration}: finds "
                   f"{report['recall']:.1%} of the fp32 detections (score ≥ 0.25, IoU ≥ 0.5), "
                   f"{report['precision']:.1%} of its own are fp32's, mean IoU {report['mean_iou']:.3f}")


@main.group("eval")
def evaluate() -> None:
    """Evaluate forecasts and tracking results on labelled clips."""


@evaluate.command("track")
@click.option("--gt", required=True, type=click.Path(path_type=Path),
              help="A sequence folder (seqinfo.ini with gt/gt.txt or gt.txt), or a folder of them (e.g. MOT17/train).")
@click.option("--results", required=True, type=click.Path(path_type=Path),
              help="A folder with one <sequence name>.txt per sequence, or one file for a single sequence.")
@click.option("--out", type=click.Path(path_type=Path), help="Also write metrics.json and metrics.md here.")
def evaluate_track(gt, results, out) -> None:
    """Score MOTChallenge tracking results: HOTA, MOTA, IDF1, ID switches (TrackEval, the benchmark's rules)."""
    from vidtrack.evaluation.tracking import evaluate_tracking, markdown_table, write_report

    scores = evaluate_tracking(gt, results)
    click.echo(markdown_table(scores))
    click.echo(f"scored {len(scores.sequences)} sequence{'s' * (len(scores.sequences) != 1)}: "
               f"{', '.join(scores.sequences)}")
    if out is not None:
        paths = write_report(scores, out)
        click.echo(f"metrics in {paths['json']} and {paths['markdown']}")


@evaluate.command("forecast")
@_data_options
@click.option("--checkpoint", type=click.Path(path_type=Path),
              help="Forecaster folder or preset name (pedestrians-fixed-camera, pedestrians-dashcam); the default "
                   "preset if not given.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("runs/eval-forecast"), show_default=True)
@click.option("--protocol", type=click.Choice(["auto", "jaad", "mot"]), default="auto", show_default=True,
              help="How windows are cut: jaad, the published JAAD benchmark's (the default for JAAD data); mot, "
                   "0.5 s observed and 1.5 s predicted at each clip's frame rate (the default for the others).")
def evaluate_forecast(data, split, subset, checkpoint, out, protocol) -> None:
    """Compare the LSTM with constant velocity, Kalman and (JAAD) the benchmark's linear filters."""
    from vidtrack.evaluation.forecast_report import markdown_table
    from vidtrack.training.fit import evaluate_forecaster

    results = evaluate_forecaster(data, checkpoint, out, split=split, subset=subset, protocol=protocol)
    click.echo(markdown_table(results))
    click.echo(f"table, JSON and plot in {out}")
