"""End to end: the `vidtrack` commands on real clips and labels (their errors and faults: test_bad_input.py)."""

import csv
import json
import tomllib
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from conftest import SHARED, small_jaad
from vidtrack.cli import main
from vidtrack.io.motchallenge import read_detections, read_ground_truth

REPO = Path(__file__).resolve().parents[1]
CLIP = SHARED / "videos" / "car-detection.mp4"
SEQ = SHARED / "MOT17" / "train" / "MOT17-02-FRCNN"
MOT17 = SHARED / "MOT17" / "train"
JAAD = SHARED / "JAAD"


@pytest.fixture(scope="module")
def clip_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("clip")
    result = CliRunner().invoke(main, ["track", str(CLIP), "--out", str(out), "--max-frames", "90", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    return out, result.output


def test_version_is_the_packages():
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and result.output == f"vidtrack, version {version}\n"


def test_clip_outputs(clip_run):
    out, printed = clip_run
    assert "90 frames" in printed and str(out / "tracks.txt") in printed
    video = cv2.VideoCapture(str(out / "annotated.mp4"))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 90
    ok, frame = video.read()
    assert ok and frame.shape == (432, 768, 3)
    mot = read_ground_truth(out / "tracks.txt")  # 10 columns: frame, id, box, score, -1, -1, -1
    assert len(mot) > 10 and mot.frame.max() <= 90


def test_clip_forecasts_lie_ahead(clip_run):
    out, _ = clip_run
    records = [json.loads(line) for line in (out / "tracks.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in records] == list(range(90))
    tracked = [(r, t) for r in records for t in r["tracks"]]
    assert tracked
    for record, track in tracked:
        forecast = track["forecast"]
        assert forecast["kind"] == "lstm"
        assert forecast["frames"][0] == record["frame"] + 1
        assert min(forecast["times_s"]) > record["time_s"]
        boxes = np.asarray(forecast["boxes"])
        assert boxes.shape == (18, 4)  # the whole frames within 1.5 s at 12.5 fps
        assert (boxes[:, 2:] > boxes[:, :2]).all()  # every forecast box is a valid box


def test_set_reaches_keys_that_also_have_a_flag(tmp_path):
    """`--set` of a key with a flag (--conf, --video, ...) is applied when the flag is left out."""
    result = CliRunner().invoke(main, ["track", str(SEQ / "img1"), "--out", str(tmp_path), "--classes", "person",
                                       "--device", "cpu", "--set", "output.video=false", "--set", "detector.conf=0.6"])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "annotated.mp4").exists()
    scores = [float(line.split(",")[6]) for line in (tmp_path / "tracks.txt").read_text().splitlines()]
    assert scores and min(scores) >= 0.6


def track_people(out, *args: str):
    """`vidtrack track` on the 4-frame image folder, people only, on the CPU."""
    return CliRunner().invoke(main, ["track", str(SEQ / "img1"), "--out", str(out), "--classes", "person",
                                     "--device", "cpu", *args])


def test_no_save_writes_nothing_and_keeps_an_earlier_run(tmp_path):
    earlier = tmp_path / "tracks.txt"
    earlier.write_text("earlier\n")
    result = track_people(tmp_path, "--no-save", "--set", "output.mot=true")  # the flag wins over --set
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("4 frames") and len(result.stdout.splitlines()) == 1  # the summary line only
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tracks.txt"] and earlier.read_text() == "earlier\n"
    assert track_people(tmp_path / "new", "--no-save").exit_code == 0 and not (tmp_path / "new").exists()


def test_save_with_no_video_and_set(tmp_path):
    """--save turns on every file, --no-video then drops the video; a --set of another key stays."""
    result = track_people(tmp_path, "--set", "output.jsonl=false", "--set", "output.mot=false", "--save",
                          "--no-video")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames.csv", "tracks.csv", "tracks.jsonl", "tracks.txt"]
    left_out = track_people(tmp_path / "b", "--set", "output.jsonl=false", "--no-video")  # no --save: the --set stays
    assert left_out.exit_code == 0, left_out.output
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["frames.csv", "tracks.csv", "tracks.txt"]


def test_vid_stride_processes_every_nth_frame(tmp_path):
    result = track_people(tmp_path, "--vid-stride", "2", "--no-video")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("2 frames")
    assert [json.loads(line)["frame"] for line in (tmp_path / "tracks.jsonl").read_text().splitlines()] == [0, 2]


def test_half_on_cpu_is_refused_in_one_line(tmp_path):
    result = track_people(tmp_path, "--half", "--set", "detector.half=false")  # the flag wins over --set
    assert result.exit_code == 1
    assert result.output.strip() == ("error: detector.half: half precision needs a CUDA device; use --device cuda or "
                                     "half: false")


def test_set_device_stays_without_the_flag_and_a_bare_index_is_cuda(tmp_path, monkeypatch):
    """--device 0 means cuda:0 (as in Ultralytics); the config reaches the pipeline without a GPU being needed."""
    import vidtrack.pipeline

    seen = []
    monkeypatch.setattr(vidtrack.pipeline.Pipeline, "run", lambda self, *a, **k: seen.append(self.config) or iter(()))
    runner = CliRunner()
    runner.invoke(main, ["track", str(SEQ / "img1"), "--device", "0", "--set", "detector.device=cpu", "--half"])
    runner.invoke(main, ["track", str(SEQ / "img1"), "--set", "detector.device=1"])
    assert [(c.detector.device, c.detector.half) for c in seen] == [("cuda:0", True), ("cuda:1", None)]


@pytest.mark.parametrize(("args", "message"), [
    (["--vid-stride", "0"], "error: --vid-stride: 0 is not allowed; give 1 (every frame) or more"),
    (["--vid-stride", "-3"], "error: --vid-stride: -3 is not allowed; give 1 (every frame) or more"),
])
def test_bad_vid_stride_is_one_line(tmp_path, args, message):
    result = track_people(tmp_path, *args)
    assert result.exit_code == 1 and result.output.strip() == message


def test_image_folder(tmp_path):
    result = CliRunner().invoke(main, ["track", str(SEQ / "img1"), "--out", str(tmp_path), "--classes", "person",
                                       "car", "--no-video"])
    assert result.exit_code == 0, result.output
    per_frame = read_detections(tmp_path / "tracks.txt")
    assert sorted(per_frame) == [1, 2, 3, 4] and len(per_frame[2]) >= 5
    names = {t["class_name"] for line in (tmp_path / "tracks.jsonl").read_text().splitlines()
             for t in json.loads(line)["tracks"]}
    assert "person" in names and names <= {"person", "car"}
    assert not (tmp_path / "annotated.mp4").exists()


def test_precomputed_detections_write_every_frame(tmp_path):
    result = CliRunner().invoke(main, ["track", "--detections", str(SEQ / "det" / "det.txt"), "--seqinfo",
                                       str(SEQ / "seqinfo.ini"), "--out", str(tmp_path), "--no-video"])
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "tracks.jsonl").read_text().splitlines()
    assert len(lines) == 600
    mot = [line.split(",") for line in (tmp_path / "tracks.txt").read_text().splitlines()]
    frames = {int(row[0]) for row in mot}
    assert len(frames) > 550 and max(frames) <= 600
    assert str(tmp_path / "tracks.csv") in result.output
    summary = list(csv.DictReader((tmp_path / "tracks.csv").open()))  # one row per track, counting every frame
    assert [int(r["id"]) for r in summary] == sorted({int(row[1]) for row in mot})
    assert sum(int(r["frames_seen"]) for r in summary) == len(mot)


def test_train_then_evaluate_forecasts(tmp_path):
    data = tmp_path / "clips"
    data.mkdir()
    for name in ("MOT17-09-FRCNN", "MOT17-05-FRCNN"):
        (data / name).symlink_to(SHARED / "MOT17" / "train" / name)
    runner = CliRunner()
    trained = runner.invoke(main, ["train", "--data", str(data), "--out", str(tmp_path / "fc"), "--epochs", "1",
                                   "--val-sequences", "MOT17-09-FRCNN", "--batch-size", "512"])
    assert trained.exit_code == 0, trained.output
    assert "checkpoint" in trained.output and (tmp_path / "fc" / "best" / "model.safetensors").is_file()
    evaluated = runner.invoke(main, ["eval", "forecast", "--data", str(data / "MOT17-09-FRCNN"), "--checkpoint",
                                     str(tmp_path / "fc" / "best"), "--out", str(tmp_path / "eval")])
    assert evaluated.exit_code == 0, evaluated.output
    table = (tmp_path / "eval" / "metrics.md").read_text().splitlines()
    assert [row.split("|")[1].strip() for row in table[2:]] == [  # at 30 fps, the JAAD benchmark's filters too
        "lstm", "kalman", "linear_reference", "linear_tuned", "constant_velocity"]
    assert (tmp_path / "eval" / "error_by_horizon.png").stat().st_size > 1000
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())["results"]
    assert metrics["lstm"]["n_windows"] == metrics["kalman"]["n_windows"] > 500  # the same windows for every method


def test_training_data_errors_are_one_line(tmp_path):
    runner = CliRunner()
    out = str(tmp_path / "out")
    for args, message in [
        (["train", "--data", str(JAAD), "--split", "dev", "--out", out], "unknown JAAD split 'dev'"),
        (["train", "--data", str(MOT17), "--split", "val", "--out", out], "no data path is one"),
        (["train", "--data", str(JAAD), "--val-data", str(JAAD), "--val-split", "0.2", "--out", out],
         "give one or the other"),
        (["eval", "forecast", "--data", str(JAAD / "split_ids"), "--out", out], "no labelled clips found"),
        (["eval", "forecast", "--data", str(MOT17), "--data", str(MOT17 / "MOT17-09-FRCNN"), "--out", out],
         "two clips are named MOT17-09-FRCNN"),
    ]:
        result = runner.invoke(main, args)
        assert result.exit_code == 1, (args, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], (args, result.output)


def test_train_on_jaad_validates_on_other_videos(tmp_path):
    root = small_jaad(tmp_path / "JAAD")
    out = tmp_path / "fc"
    result = CliRunner().invoke(main, ["train", "--data", str(root), "--split", "train", "--val-data", str(root),
                                       "--val-data-split", "val", "--out", str(out), "--epochs", "1",
                                       "--batch-size", "512", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    data = json.loads((out / "best" / "config.json").read_text())["data"]
    assert data["train"] == ["video_0001", "video_0002"] and data["val"] == ["video_0003"]
    assert data["val_windows"] > 0 and data["sources"]["split"] == "train"
    evaluated = CliRunner().invoke(main, ["eval", "forecast", "--data", str(root), "--split", "val", "--checkpoint",
                                          str(out / "best"), "--out", str(tmp_path / "eval")])
    assert evaluated.exit_code == 0, evaluated.output
    windows = json.loads((tmp_path / "eval" / "windows.json").read_text())
    assert windows["sequences"] == ["video_0003"] and windows["protocols"] == ["jaad"]
    table = (tmp_path / "eval" / "metrics.md").read_text().splitlines()
    assert [row.split("|")[1].strip() for row in table[2:]] == [
        "lstm", "kalman", "linear_reference", "linear_tuned", "constant_velocity"]
    assert "× reference" in table[0] and table[4].split("|")[9].strip() == "1.000"  # the reference over itself
    same = CliRunner().invoke(main, ["train", "--data", str(root), "--val-data", str(root), "--val-data-split", "val",
                                     "--out", str(tmp_path / "fc2")])
    assert same.exit_code == 1
    assert "1 clips are in both the training and the validation data (video_0003)" in same.output


def test_the_same_seed_trains_the_same_weights(tmp_path):
    data = tmp_path / "clips"
    data.mkdir()
    (data / "MOT17-05-FRCNN").symlink_to(SHARED / "MOT17" / "train" / "MOT17-05-FRCNN")
    weights = []
    for run in ("a", "b"):
        trained = CliRunner().invoke(main, ["train", "--data", str(data), "--out", str(tmp_path / run), "--epochs", "1",
                                            "--val-split", "0", "--batch-size", "512", "--seed", "3"])
        assert trained.exit_code == 0, trained.output
        weights.append((tmp_path / run / "best" / "model.safetensors").read_bytes())
    assert weights[0] == weights[1]
