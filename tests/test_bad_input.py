"""Bad input and faults, end to end (issue 10): every case is a command line, the exit status it must end with and
what the one line on stderr must name (the file or key at fault); after every case, each file left in the output
folder must be valid: complete MOTChallenge lines, JSON on every line of tracks.jsonl, a complete tracks.csv and a
video that opens with as many frames as it announces (the frames written). No case may end in a traceback, and none
may run code from a data file.

The commands run in-process through click's CliRunner, on small files made here; signals need a real process, and a
full disk is simulated both by the writers' one way to the disk failing after a budget and, where this test may
mount one, by a real 300 KB tmpfs. The README's "Bad input and faults" counts these cases.
"""

from __future__ import annotations

import csv
import json
import os
import pickle
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from conftest import SHARED
from test_writers import fill_disk_after, frames_in
from vidtrack.cli import main
from vidtrack.io.writers import SUMMARY_COLUMNS

REPO = Path(__file__).resolve().parents[1]
PETS = REPO / "data" / "pets09-s2l1.mp4"
MOT_SEQ = SHARED / "MOT17" / "train" / "MOT17-02-FRCNN"
EVIL_MARKER = "vidtrack-test-evil-ran"  # the file a malicious pickle would create


@dataclass(frozen=True)
class Case:
    """`args`: the command line, formatted with `{d}` (the data folder) and `{out}` (this case's output folder)."""

    args: str
    status: int
    names: str = ""  # what the one error line must contain, formatted as args
    partial: bool = False  # a run cut short by a fault: the video may hold fewer frames than tracks.jsonl


TRACK = "track {d}/clip.mp4 --out {out} --device cpu --classes person --imgsz 160"
DETS = "track --detections {d}/det.txt --seqinfo {d}/dets.ini --out {out} --max-frames 20"
FULL_DISK = DETS.replace(" --max-frames 20", "")  # all 200 frames: more than 300 KB
TRAIN = "train --data {d}/train --out {out} --epochs 1 --batch-size 64 --val-split 0 --device cpu"
RESUME = TRAIN.replace("--epochs 1", "--epochs 2")  # the settings of `training_run`
EVAL = "eval track --gt {d}/gt"

CASES = {
    # command-line values: click's usage errors, one line, exit 2
    "max-frames 0": Case(TRACK + " --max-frames 0", 2, "--max-frames"),
    "max-frames -1": Case(TRACK + " --max-frames -1", 2, "--max-frames"),
    "max-frames text": Case(TRACK + " --max-frames ten", 2, "--max-frames"),
    "vid-stride text": Case(TRACK + " --vid-stride x", 2, "--vid-stride"),
    "fps text": Case(TRACK + " --fps fast", 2, "--fps"),
    "conf text": Case(TRACK + " --conf high", 2, "--conf"),
    "imgsz float": Case(TRACK + " --imgsz 3.5", 2, "--imgsz"),
    "no source": Case("track --out {out}", 2, "SOURCE"),
    "source and detections": Case(TRACK + " --detections {d}/det.txt --seqinfo {d}/dets.ini", 2, "SOURCE"),
    "detections without seqinfo": Case("track --detections {d}/det.txt --out {out}", 2, "--seqinfo"),
    "unknown option": Case(TRACK + " --maxframes 3", 2, "--maxframes"),
    "unknown command": Case("trak {d}/clip.mp4", 2, "trak"),
    "unknown eval command": Case("eval trakc", 2, "trakc"),
    "option without value": Case(TRACK + " --set", 2, "--set"),
    # command-line values that parse but are out of range: one line, exit 1
    "vid-stride 0": Case(TRACK + " --vid-stride 0", 1, "--vid-stride"),
    "vid-stride -3": Case(TRACK + " --vid-stride -3", 1, "--vid-stride"),
    "vid-stride with detections": Case(DETS + " --vid-stride 2", 1, "--vid-stride"),
    "fps 0": Case(TRACK + " --fps 0", 1, "fps"),
    "fps -7": Case(TRACK + " --fps -7", 1, "fps"),
    "fps nan": Case(TRACK + " --fps nan", 1, "fps"),
    "fps inf": Case(TRACK + " --fps inf", 1, "fps"),
    "conf 2": Case(TRACK + " --conf 2", 1, "detector.conf"),
    "conf -0.1": Case(TRACK + " --conf -0.1", 1, "detector.conf"),
    "iou 0": Case(TRACK + " --iou 0", 1, "detector.iou"),
    "imgsz 0": Case(TRACK + " --imgsz 0", 1, "detector.imgsz"),
    "imgsz 100000": Case(TRACK + " --imgsz 100000", 1, "detector.imgsz"),
    "batch 0": Case(TRACK + " --batch 0", 1, "detector.batch"),
    "device tpu": Case(TRACK + " --device tpu", 1, "detector.device"),
    "half on cpu": Case(TRACK + " --half", 1, "detector.half"),
    "class unknown": Case(TRACK + " --classes unicorn", 1, "unicorn"),
    "class id 999": Case(TRACK + " --classes 999", 1, "999"),
    "line of 3 numbers": Case(TRACK + " --line 1,2,3", 1, "--line 1,2,3"),
    "line of words": Case(TRACK + " --line a,b,c,d", 1, "--line a,b,c,d"),
    "line outside frame": Case(TRACK + " --line 0,0,5000,5000", 1, "--line 0,0,5000,5000"),
    "line of length 0": Case(TRACK + " --line 5,5,5,5", 1, "--line 5,5,5,5"),
    # --set: every kind of key and value
    "set unknown key": Case(TRACK + " --set tracker.nonsense=1", 1, "tracker.nonsense"),
    "set unknown section": Case(TRACK + " --set nonsense.key=1", 1, "nonsense"),
    "set YAML error": Case(TRACK + " --set tracker.track_buffer_s=[1", 1, "tracker.track_buffer_s"),
    "set without =": Case(TRACK + " --set tracker.track_buffer_s", 1, "tracker.track_buffer_s"),
    "set without key": Case(TRACK + " --set =3", 1, "--set"),
    "float negative": Case(TRACK + " --set tracker.track_buffer_s=-1", 1, "tracker.track_buffer_s"),
    "float text": Case(TRACK + " --set tracker.track_buffer_s=long", 1, "tracker.track_buffer_s"),
    "float inf": Case(TRACK + " --set tracker.track_buffer_s=.inf", 1, "tracker.track_buffer_s"),
    "float nan": Case(TRACK + " --set tracker.track_buffer_s=.nan", 1, "tracker.track_buffer_s"),
    "float list": Case(TRACK + " --set tracker.track_buffer_s=[1,2]", 1, "tracker.track_buffer_s"),
    "float bool": Case(TRACK + " --set tracker.track_buffer_s=true", 1, "tracker.track_buffer_s"),
    "float above range": Case(TRACK + " --set tracker.match_thresh=1.5", 1, "tracker.match_thresh"),
    "float mapping": Case(TRACK + " --set 'tracker.gate_confidence={{a: 1}}'", 1, "tracker.gate_confidence"),
    "int fraction": Case(TRACK + " --set detector.max_det=2.5", 1, "detector.max_det"),
    "int text": Case(TRACK + " --set detector.max_det=many", 1, "detector.max_det"),
    "int 0": Case(TRACK + " --set output.queue_size=0", 1, "output.queue_size"),
    "bool text": Case(TRACK + " --set output.video=maybe", 1, "output.video"),
    "bool number": Case(TRACK + " --set output.video=2", 1, "output.video"),
    "choice unknown": Case(TRACK + " --set tracker.motion=unicorn", 1, "tracker.motion"),
    "choice number": Case(TRACK + " --set tracker.camera_motion=3", 1, "tracker.camera_motion"),
    "forecast model unknown": Case(TRACK + " --set forecast.model=transformer", 1, "forecast.model"),
    "string list": Case(TRACK + " --set detector.model=[x]", 1, "detector.model"),
    "list mapping": Case(TRACK.replace("--classes person", "--set 'detector.classes={{a: 1}}'"), 1, "detector.classes"),
    "section not a mapping": Case(TRACK + " --set tracker=3", 1, "tracker"),
    "horizon 0": Case(TRACK + " --set forecast.horizon_s=0", 1, "forecast.horizon_s"),
    "trail negative": Case(TRACK + " --set output.trail_s=-1", 1, "output.trail_s"),
    # forecaster checkpoints
    "forecaster preset unknown": Case(DETS + " --set forecast.checkpoint=no-such-preset", 1, "no-such-preset"),
    "forecaster random weights": Case(DETS + " --set forecast.checkpoint={d}/fc-random", 1,
                                      "{d}/fc-random/model.safetensors"),
    "forecaster truncated weights": Case(DETS + " --set forecast.checkpoint={d}/fc-truncated", 1,
                                         "{d}/fc-truncated/model.safetensors"),
    "forecaster without config": Case(DETS + " --set forecast.checkpoint={d}/fc-noconfig", 1,
                                      "{d}/fc-noconfig/config.json"),
    "forecaster config not JSON": Case(DETS + " --set forecast.checkpoint={d}/fc-badjson", 1,
                                       "{d}/fc-badjson/config.json"),
    "motion checkpoint missing": Case(DETS + " --set tracker.motion=lstm --set tracker.motion_checkpoint={d}/none",
                                      1, "{d}/none"),
    # config and tracker files
    "config missing": Case(TRACK + " --config {d}/missing.yaml", 1, "{d}/missing.yaml"),
    "config is a folder": Case(TRACK + " --config {d}/gt", 1, "{d}/gt"),
    "config not YAML": Case(TRACK + " --config {d}/broken.yaml", 1, "{d}/broken.yaml"),
    "config a list": Case(TRACK + " --config {d}/list.yaml", 1, "{d}/list.yaml"),
    "config binary": Case(TRACK + " --config {d}/binary.yaml", 1, "{d}/binary.yaml"),
    "config unknown section": Case(TRACK + " --config {d}/section.yaml", 1, "trackr"),
    "config wrong type": Case(TRACK + " --config {d}/wrongtype.yaml", 1, "tracker.track_buffer_s"),
    "tracker missing": Case(TRACK + " --tracker {d}/missing-tracker.yaml", 1, "{d}/missing-tracker.yaml"),
    "tracker not YAML": Case(TRACK + " --tracker {d}/broken.yaml", 1, "{d}/broken.yaml"),
    "tracker deepsort": Case(TRACK + " --tracker {d}/deepsort.yaml", 1, "deepsort"),
    "tracker unknown key": Case(TRACK + " --tracker {d}/tracker-key.yaml", 1, "speed"),
    "tracker bad value": Case(TRACK + " --tracker {d}/bytetrack-bad.yaml", 1, "{d}/bytetrack-bad.yaml"),
    # detector weights
    "weights missing": Case(TRACK + " --model {d}/missing.pt", 1, "{d}/missing.pt"),
    "weights random": Case(TRACK + " --model {d}/random.pt", 1, "{d}/random.pt"),
    "weights truncated": Case(TRACK + " --model {d}/truncated.pt", 1, "{d}/truncated.pt"),
    "weights run code": Case(TRACK + " --model {d}/evil.pt", 1, "{d}/evil.pt"),
    "weights empty": Case(TRACK + " --model {d}/empty.pt", 1, "{d}/empty.pt"),
    "weights text onnx": Case(TRACK + " --model {d}/text.onnx", 1, "{d}/text.onnx"),
    "weights folder": Case(TRACK + " --model {d}/gt", 1, "{d}/gt"),
    # sources
    "video missing": Case("track {d}/missing.mp4 --out {out}", 1, "{d}/missing.mp4"),
    "video is text": Case("track {d}/text.mp4 --out {out}", 1, "{d}/text.mp4"),
    "video empty": Case("track {d}/empty.mp4 --out {out}", 1, "{d}/empty.mp4"),
    "video random bytes": Case("track {d}/random.mp4 --out {out}", 1, "{d}/random.mp4"),
    "video truncated": Case("track {d}/truncated.mp4 --out {out}", 1, "{d}/truncated.mp4"),
    "folder without images": Case("track {d}/noimages --out {out}", 1, "{d}/noimages"),
    "folder of corrupt images": Case("track {d}/corrupt-images --out {out}", 1, "{d}/corrupt-images"),
    "webcam missing": Case("track 7 --out {out}", 1, "camera 7"),
    "stream refused": Case("track rtsp://127.0.0.1:9/live --out {out}", 1, "rtsp://127.0.0.1:9/live"),
    "http refused": Case("track http://127.0.0.1:9/clip.mp4 --out {out}", 1, "http://127.0.0.1:9/clip.mp4"),
    "corrupt image among good": Case("track {d}/mixed-images --out {out} --device cpu --imgsz 160", 0),
    "images of two sizes": Case("track {d}/two-sizes --out {out} --device cpu --imgsz 160", 0),
    "video corrupt in the middle": Case(TRACK.replace("clip.mp4", "corrupt-middle.mp4"), 0),
    # detections files and seqinfo.ini
    "detections missing": Case(DETS.replace("det.txt", "missing-det.txt"), 1, "{d}/missing-det.txt"),
    "detections not numeric": Case(DETS.replace("det.txt", "det-text.txt"), 1, "{d}/det-text.txt:2"),
    "detections few columns": Case(DETS.replace("det.txt", "det-short.txt"), 1, "{d}/det-short.txt:1"),
    "detections binary": Case(DETS.replace("det.txt", "binary.yaml"), 1, "{d}/binary.yaml"),
    "detections frame 0": Case(DETS.replace("det.txt", "det-frame0.txt"), 1, "{d}/det-frame0.txt:1"),
    "detections beyond sequence": Case(DETS.replace("det.txt", "det-late.txt"), 1, "{d}/det-late.txt"),
    "detections NaN box": Case(DETS.replace("det.txt", "det-nan.txt"), 0),
    "seqinfo missing": Case(DETS.replace("dets.ini", "missing.ini"), 1, "{d}/missing.ini"),
    "seqinfo without section": Case(DETS.replace("dets.ini", "nosection.ini"), 1, "{d}/nosection.ini"),
    "seqinfo frameRate 0": Case(DETS.replace("dets.ini", "rate0.ini"), 1, "frameRate"),
    "seqinfo seqLength text": Case(DETS.replace("dets.ini", "lengthtext.ini"), 1, "seqLength"),
    "seqinfo not ini": Case(DETS.replace("dets.ini", "binary.yaml"), 1, "{d}/binary.yaml"),
    # output folders and files
    "out is a file": Case(DETS.replace("{out}", "{d}/text.mp4"), 1, "{d}/text.mp4"),
    "out under a file": Case(DETS.replace("{out}", "{d}/text.mp4/run"), 1, "{d}/text.mp4/run"),
    "tracks.jsonl is a folder": Case(DETS, 1, "tracks.jsonl"),
    "tracks.txt is a folder": Case(DETS, 1, "tracks.txt"),
    "annotated.mp4 is a folder": Case(DETS, 1, "annotated.mp4"),
    "tracks.csv is a folder": Case(DETS, 1, "tracks.csv"),
    "out read-only": Case(DETS, 1, "{out}"),
    "earlier run replaced": Case(DETS, 0),
    "disk full at the start": Case(FULL_DISK, 1, "no space left on device", partial=True),
    "disk full mid-run": Case(FULL_DISK, 1, "no space left on device", partial=True),
    "disk full on a real tmpfs": Case(FULL_DISK, 1, "no space left on device", partial=True),
    # training
    "train data missing": Case(TRAIN.replace("{d}/train", "{d}/no-train"), 1, "{d}/no-train"),
    "train label line": Case(TRAIN.replace("{d}/train", "{d}/train-bad"), 1, "gt.txt:2"),
    "train epochs 0": Case(TRAIN.replace("--epochs 1", "--epochs 0"), 1, "epochs"),
    "train batch 0": Case(TRAIN + " --batch-size 0", 1, "batch_size"),
    "train lr negative": Case(TRAIN + " --lr -1", 1, "lr"),
    "train val-split 1.5": Case(TRAIN.replace("--val-split 0", "--val-split 1.5"), 1, "--val-split"),
    "train val-split -0.2": Case(TRAIN.replace("--val-split 0", "--val-split -0.2"), 1, "--val-split"),
    "train val sequence unknown": Case(TRAIN.replace("--val-split 0", "--val-sequences NOPE"), 1, "NOPE"),
    "train JAAD split unknown": Case(f"train --data {SHARED}/JAAD --split dev --out {{out}}", 1, "dev"),
    "train val-data-split alone": Case(TRAIN + " --val-data-split val", 1, "--val-data"),
    "train val-data and val-split": Case(TRAIN + " --val-data {d}/train", 1, "--val-data"),
    "resume truncated trainer.pt": Case(RESUME, 1, "{out}/last/trainer.pt"),
    "resume random model.safetensors": Case(RESUME, 1, "{out}/last/model.safetensors"),
    "resume other epochs": Case(TRAIN, 1, "training.epochs 2 -> 1"),
    "resume other data": Case(TRAIN.replace("{d}/train", "{d}/train-other"), 1, "data."),
    "resume other lr": Case(RESUME + " --lr 0.1", 1, "training.lr"),
    "resume other model": Case(RESUME + " --dropout 0.2", 1, "model.dropout"),
    # eval track
    "gt missing": Case(EVAL.replace("{d}/gt", "{d}/no-gt") + " --results {d}/results", 1, "{d}/no-gt"),
    "gt is a file": Case(EVAL.replace("{d}/gt", "{d}/text.mp4") + " --results {d}/results", 1, "{d}/text.mp4"),
    "gt without sequences": Case(EVAL.replace("{d}/gt", "{d}/noimages") + " --results {d}/results", 1,
                                 "{d}/noimages"),
    "gt line": Case(EVAL.replace("{d}/gt", "{d}/gt-bad") + " --results {d}/results", 1, "gt.txt:2"),
    "gt without seqinfo": Case(EVAL.replace("{d}/gt", "{d}/gt-noinfo") + " --results {d}/results", 1,
                               "seqinfo.ini"),
    "results missing": Case(EVAL + " --results {d}/no-results", 1, "{d}/no-results"),
    "results file for 2 sequences": Case(EVAL + " --results {d}/results/A.txt", 1, "{d}/results/A.txt"),
    "results without a sequence": Case(EVAL + " --results {d}/results-one", 1, "B.txt"),
    "results line": Case(EVAL + " --results {d}/results-bad", 1, "A.txt:1"),
    "results frame outside": Case(EVAL + " --results {d}/results-late", 1, "A.txt:1"),
    "results id twice": Case(EVAL + " --results {d}/results-twice", 1, "A.txt:2"),
    "results of an unknown sequence": Case(EVAL + " --results {d}/results-extra", 0),
    "results of part of a sequence": Case(EVAL + " --results {d}/results-part", 0),
    "metrics folder is a file": Case(EVAL + " --results {d}/results --out {d}/text.mp4", 1, "{d}/text.mp4"),
    # eval forecast
    "forecast checkpoint missing": Case("eval forecast --data {d}/train --checkpoint {d}/none --out {out}", 1,
                                        "{d}/none"),
    "forecast checkpoint random": Case("eval forecast --data {d}/train --checkpoint {d}/fc-random --out {out}", 1,
                                       "{d}/fc-random/model.safetensors"),
    "forecast data missing": Case("eval forecast --data {d}/no-train --out {out}", 1, "{d}/no-train"),
}


# ---- the data -----------------------------------------------------------------------------------------------------


def moving_boxes(frames: int, people: int = 3) -> list[tuple[int, int, float, float, float, float]]:
    """(frame, id, left, top, width, height) of `people` walking right, one row per person and frame (1-based)."""
    return [(f, i, 20.0 + 4 * f + 150 * i, 60.0 + 30 * i, 40.0, 90.0) for f in range(1, frames + 1)
            for i in range(1, people + 1)]


def write_sequence(folder: Path, frames: int = 60, *, name: str | None = None, gt: str | None = None) -> Path:
    """A labelled MOTChallenge sequence without images: seqinfo.ini (10 fps, 640x360) and gt/gt.txt."""
    (folder / "gt").mkdir(parents=True, exist_ok=True)
    (folder / "seqinfo.ini").write_text(f"[Sequence]\nname={name or folder.name}\nframeRate=10\nseqLength={frames}\n"
                                        "imWidth=640\nimHeight=360\n")
    rows = "".join(f"{f},{i},{x},{y},{w},{h},1,1,1\n" for f, i, x, y, w, h in moving_boxes(frames))
    (folder / "gt" / "gt.txt").write_text(rows if gt is None else gt)
    return folder


def write_video(path: Path, frames: list[np.ndarray], fps: float = 7.0) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, frames[0].shape[1::-1])
    for frame in frames:
        writer.write(frame)
    writer.release()


class Evil:
    """Unpickling this would create EVIL_MARKER: what a crafted weights file does."""

    def __reduce__(self):
        return os.system, (f"touch {EVIL_MARKER}",)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("bad-input")
    video = cv2.VideoCapture(str(PETS))
    frames = [cv2.resize(video.read()[1], (384, 288)) for _ in range(6)]
    write_video(d / "clip.mp4", frames)
    clip = (d / "clip.mp4").read_bytes()
    middle = bytearray(clip)
    middle[len(clip) // 2:len(clip) // 2 + 2000] = os.urandom(2000)
    (d / "corrupt-middle.mp4").write_bytes(bytes(middle))
    (d / "truncated.mp4").write_bytes(clip[:len(clip) // 3])
    (d / "random.mp4").write_bytes(os.urandom(20_000))
    (d / "empty.mp4").write_bytes(b"")
    (d / "empty.pt").write_bytes(b"")
    (d / "text.mp4").write_text("not a video\n")
    (d / "text.onnx").write_text("not a model\n")
    (d / "random.pt").write_bytes(os.urandom(50_000))
    from vidtrack.detect.weights import resolve_weights

    weights = Path(resolve_weights("yolov8n.pt")).read_bytes()
    (d / "truncated.pt").write_bytes(weights[:len(weights) // 2])
    (d / "evil.pt").write_bytes(pickle.dumps(Evil()))
    (d / "noimages").mkdir()
    (d / "noimages" / "notes.txt").write_text("no frames here\n")
    (d / "corrupt-images").mkdir()
    for i in range(2):
        (d / "corrupt-images" / f"{i:06d}.jpg").write_bytes(os.urandom(3000))
    for folder, sizes in (("mixed-images", [(384, 288), None, (384, 288)]), ("two-sizes", [(384, 288), (320, 200)])):
        (d / folder).mkdir()
        for i, size in enumerate(sizes):
            path = d / folder / f"{i:06d}.jpg"
            if size is None:
                path.write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(2000))  # a JPEG header, then noise
            else:
                cv2.imwrite(str(path), cv2.resize(frames[i], size))

    # detections of a 20-frame sequence, and broken variants
    (d / "dets.ini").write_text("[Sequence]\nname=DETS\nframeRate=10\nseqLength=200\nimWidth=640\nimHeight=360\n")
    det = "".join(f"{f},-1,{x % 600},{y},{w},{h},0.9\n" for f, _, x, y, w, h in moving_boxes(200))
    (d / "det.txt").write_text(det)
    (d / "det-text.txt").write_text("1,-1,10,10,20,40,0.9\n2,-1,ten,10,20,40,0.9\n")
    (d / "det-short.txt").write_text("1,-1,10,10\n")
    (d / "det-frame0.txt").write_text("0,-1,10,10,20,40,0.9\n")
    (d / "det-late.txt").write_text(det + "299,-1,10,10,20,40,0.9\n")
    (d / "det-nan.txt").write_text(det + "3,-1,nan,10,20,40,0.9\n")
    (d / "nosection.ini").write_text("frameRate=10\n")
    (d / "rate0.ini").write_text("[Sequence]\nframeRate=0\nseqLength=200\nimWidth=640\nimHeight=360\n")
    (d / "lengthtext.ini").write_text("[Sequence]\nframeRate=10\nseqLength=long\nimWidth=640\nimHeight=360\n")

    # config and tracker files
    (d / "broken.yaml").write_text("tracker:\n  track_buffer_s: [1\n")
    (d / "list.yaml").write_text("- tracker\n- detector\n")
    (d / "binary.yaml").write_bytes(bytes(range(256)) * 4)
    (d / "section.yaml").write_text("trackr:\n  track_buffer_s: 2\n")
    (d / "wrongtype.yaml").write_text("tracker:\n  track_buffer_s: long\n")
    (d / "deepsort.yaml").write_text("tracker_type: deepsort\n")
    (d / "tracker-key.yaml").write_text("speed: 3\n")
    (d / "bytetrack-bad.yaml").write_text("tracker_type: bytetrack\ntrack_high_thresh: 7\n")

    # forecaster checkpoints
    preset = REPO / "src" / "vidtrack" / "forecast" / "presets" / "pedestrians-fixed-camera"
    for name, weights_bytes, config in (
        ("fc-random", os.urandom(4096), True),
        ("fc-truncated", (preset / "model.safetensors").read_bytes()[:5000], True),
        ("fc-noconfig", (preset / "model.safetensors").read_bytes(), False),
        ("fc-badjson", (preset / "model.safetensors").read_bytes(), None),
    ):
        (d / name).mkdir()
        (d / name / "model.safetensors").write_bytes(weights_bytes)
        if config:
            shutil.copy(preset / "config.json", d / name / "config.json")
        elif config is None:
            (d / name / "config.json").write_text("{not json")

    # labelled sequences to train on and to score
    write_sequence(d / "train" / "SEQ-A")
    write_sequence(d / "train" / "SEQ-B")
    write_sequence(d / "train-other" / "SEQ-C")
    write_sequence(d / "train-bad" / "SEQ-A", gt="1,1,10,10,20,40,1,1,1\n2,1,x,10,20,40,1,1,1\n")
    write_sequence(d / "gt" / "A", 20)
    write_sequence(d / "gt" / "B", 20)
    write_sequence(d / "gt-bad" / "A", 20, gt="1,1,10,10,20,40,1,1,1\n2,1,x,10,20,40,1,1,1\n")
    write_sequence(d / "gt-noinfo" / "A", 20)
    (d / "gt-noinfo" / "A" / "seqinfo.ini").unlink()
    results = "".join(f"{f},{i},{x},{y},{w},{h},0.9,-1,-1,-1\n" for f, i, x, y, w, h in moving_boxes(20))
    part = "".join(line + "\n" for line in results.splitlines() if int(line.split(",")[0]) <= 10)
    for folder, files in {
        "results": {"A.txt": results, "B.txt": results},
        "results-one": {"A.txt": results},
        "results-bad": {"A.txt": "1,1,ten,10,20,40,0.9\n", "B.txt": results},
        "results-late": {"A.txt": "25,1,10,10,20,40,0.9\n", "B.txt": results},
        "results-twice": {"A.txt": "1,1,10,10,20,40,0.9\n1,1,50,10,20,40,0.9\n", "B.txt": results},
        "results-extra": {"A.txt": results, "B.txt": results, "MOT17-04-FRCNN.txt": results},
        "results-part": {"A.txt": results, "B.txt": part},
    }.items():
        (d / folder).mkdir()
        for name, text in files.items():
            (d / folder / name).write_text(text)
    return d


# ---- what every case must leave behind -----------------------------------------------------------------------------


def error_lines(stderr: str) -> list[str]:
    """The lines of stderr, without the progress bar's (tqdm redraws it with carriage returns)."""
    return [line for line in re.split(r"[\r\n]+", stderr) if line.strip() and not re.search(r"frame/s\]|s/frame\]|"
                                                                                             r"\d+frame \[", line)]


def assert_valid_outputs(out: Path, *, partial: bool = False) -> None:
    """Every file a run left in `out` is valid; `partial`: the run was cut short, the video may hold fewer frames."""
    if not out.is_dir():
        return
    files = {p.name: p for p in out.iterdir() if p.is_file()}
    assert not [name for name in files if name.startswith(".")], files  # no temporary file left behind
    frames = None
    if "tracks.jsonl" in files:
        text = files["tracks.jsonl"].read_text()
        assert text == "" or text.endswith("\n")
        frames = [json.loads(line)["frame"] for line in text.splitlines()]
        assert frames == sorted(set(frames))
    if "tracks.txt" in files:
        text = files["tracks.txt"].read_text()
        assert text == "" or text.endswith("\n")
        for line in text.splitlines():
            values = [float(v) for v in line.split(",")]
            assert len(values) == 10 and values[0] >= 1 and values[4] > 0 and values[5] > 0
    if "tracks.csv" in files:
        with open(files["tracks.csv"], newline="") as f:
            rows = list(csv.DictReader(f))
        assert all(list(row) == list(SUMMARY_COLUMNS) and None not in row.values() for row in rows)
    if "annotated.mp4" in files:
        announced, decoded = frames_in(files["annotated.mp4"])
        assert decoded == announced > 0
        if frames is not None:
            assert decoded <= len(frames) if partial else decoded == len(frames)


# ---- preparing the cases that need more than files ----------------------------------------------------------------


def mount_tmpfs(folder: Path, size: str) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                          capture_output=True).returncode == 0


def trained(data: Path, out: Path) -> None:
    """A finished training run in `out`, as RESUME."""
    args = shlex.split(RESUME.format(d=data, out=out))
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def training_run(data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("trained")
    trained(data, out)
    return out


def prepare(name: str, data: Path, out: Path, monkeypatch, request) -> None:
    """What a case needs besides its command line."""
    if name.endswith("is a folder") and name.split()[0] in ("tracks.jsonl", "tracks.txt", "annotated.mp4",
                                                             "tracks.csv"):
        (out / name.split()[0]).mkdir(parents=True)
    elif name == "out read-only":
        if os.geteuid() == 0:
            pytest.skip("root writes into a read-only folder")
        out.mkdir()
        out.chmod(0o500)
        request.addfinalizer(lambda: out.chmod(0o700))
    elif name == "earlier run replaced":
        out.mkdir()
        for file in ("tracks.txt", "tracks.jsonl", "annotated.mp4", "tracks.csv"):
            (out / file).write_text("an earlier run's, half written")
    elif name == "disk full at the start":
        fill_disk_after(monkeypatch, 100)
    elif name == "disk full mid-run":
        fill_disk_after(monkeypatch, 300_000)
    elif name == "disk full on a real tmpfs":
        if not mount_tmpfs(out, "300k"):
            pytest.skip("cannot mount a tmpfs here (not root); the patched cases simulate a full disk")
        request.addfinalizer(lambda: subprocess.run(["umount", str(out)], check=False))
    elif name.startswith("resume"):
        shutil.copytree(request.getfixturevalue("training_run"), out)
        if name == "resume truncated trainer.pt":
            path = out / "last" / "trainer.pt"
            path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])
        elif name == "resume random model.safetensors":
            (out / "last" / "model.safetensors").write_bytes(os.urandom(4096))


@pytest.mark.parametrize("name", list(CASES))
def test_case(name, data, tmp_path, monkeypatch, request):
    case, out = CASES[name], tmp_path / "out"
    prepare(name, data, out, monkeypatch, request)
    monkeypatch.chdir(tmp_path)  # a malicious file would write its marker here
    args = [a.format(d=data, out=out) for a in shlex.split(case.args)]
    result = CliRunner().invoke(main, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception  # no traceback
    assert result.exit_code == case.status, result.output
    lines = error_lines(result.stderr)
    if case.status == 0:
        assert lines == []
    else:
        assert len(lines) == 1 and lines[0].startswith("error: "), lines
        assert case.names.format(d=data, out=out) in lines[0]
    assert not (tmp_path / EVIL_MARKER).exists()  # no code ran from a data file
    assert_valid_outputs(out, partial=case.partial)
    if name == "disk full mid-run":
        assert len((out / "tracks.jsonl").read_text().splitlines()) >= 1  # what fitted is kept


# ---- faults that need a real process: signals, and what reaches a real terminal -----------------------------------


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "vidtrack", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "TQDM_DISABLE": "1"})


def wait_for_lines(path: Path, count: int, run: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and run.poll() is None:
        if path.is_file() and len(path.read_text().splitlines()) >= count:
            return
        time.sleep(0.1)
    raise AssertionError(f"{path}: fewer than {count} lines before the run ended or {timeout} s passed")


def wait_for_import(run: subprocess.Popen, library: str, timeout: float = 60) -> None:
    """Wait until the process has begun loading `library`'s shared objects: Python is then running vidtrack's
    imports (a signal before the interpreter has started cannot be handled by any program)."""
    maps = Path(f"/proc/{run.pid}/maps")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and run.poll() is None:
        if f"/{library}/" in maps.read_text():
            return
        time.sleep(0.01)
    raise AssertionError(f"the process did not start importing {library} within {timeout} s")


SIGNALS = {
    # name: (signal, frames to wait for (0: send it once torch is being imported), exit status, line)
    "Ctrl-C while importing": (signal.SIGINT, 0, 130, "interrupted"),
    "Ctrl-C mid-run": (signal.SIGINT, 5, 130, "interrupted"),
    "SIGTERM mid-run": (signal.SIGTERM, 5, 143, "terminated (SIGTERM)"),
    "SIGKILL mid-run": (signal.SIGKILL, 20, -signal.SIGKILL, None),
}


@pytest.mark.parametrize("name", list(SIGNALS))
def test_signal(name, tmp_path):
    sent, frames, status, line = SIGNALS[name]
    out = tmp_path / "out"
    run = start("track", str(PETS), "--out", str(out), "--classes", "person", "--device", "cpu", "--imgsz", "320")
    try:
        if frames:
            wait_for_lines(out / "tracks.jsonl", frames, run)
        else:
            wait_for_import(run, "torch")
        run.send_signal(sent)
        stderr = run.communicate(timeout=120)[1]
    finally:
        run.kill()
    assert run.returncode == status, stderr
    if line is not None:
        assert error_lines(stderr) == [line + "; the files written so far are complete up to the last frame"]
    if sent == signal.SIGKILL:  # nothing ran after the kill: the video stays playable up to its last whole second
        announced, decoded = frames_in(out / "annotated.mp4")
        jsonl = (out / "tracks.jsonl").read_text().splitlines()
        assert decoded == announced >= 7 and len(jsonl) - decoded <= 7 + 8  # a second at 7 fps, and the queue
        assert not (out / "tracks.csv").exists()  # written at the end only, never half
    assert_valid_outputs(out, partial=sent == signal.SIGKILL or sent == signal.SIGTERM)


@pytest.mark.parametrize(("source", "names"), [("7", "camera 7"), ("{d}/truncated.mp4", "{d}/truncated.mp4")])
def test_a_terminal_sees_one_line(source, names, data, tmp_path):
    """OpenCV and FFmpeg print their own lines (8 for a missing webcam) unless told not to."""
    run = start("track", source.format(d=data), "--out", str(tmp_path / "out"))
    stderr = run.communicate(timeout=180)[1]
    assert run.returncode == 1
    assert stderr.splitlines() == [stderr.strip()] and names.format(d=data) in stderr, stderr


def test_the_suite_counts_at_least_100_cases():
    assert len(CASES) + len(SIGNALS) + 2 >= 100
