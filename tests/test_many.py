"""Many clips in one run: expanding a folder, glob or manifest, unique output folders, workers, Ray, and resuming."""

import csv
import json
import socket
import time
from pathlib import Path

import cv2
import pytest
from click.testing import CliRunner

from vidtrack import Pipeline
from vidtrack.cli import main
from vidtrack.collection import MARKER, SUMMARY, ClipOptions, expand_sources, is_collection
from vidtrack.config import load_config
from vidtrack.errors import InputError

PETS = Path(__file__).resolve().parents[1] / "data" / "pets09-s2l1.mp4"
FAST = ["--device", "cpu", "--imgsz", "320", "--classes", "person"]  # a quarter of the default image's pixels


def cut(path: Path, start: int, count: int = 10) -> Path:
    """Frames start..start+count of the PETS09 clip, as a video of their own."""
    path.parent.mkdir(parents=True, exist_ok=True)
    video = cv2.VideoCapture(str(PETS))
    video.set(cv2.CAP_PROP_POS_FRAMES, start)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 7, (768, 576))
    for _ in range(count):
        writer.write(video.read()[1])
    writer.release()
    return path


@pytest.fixture(scope="module")
def fleet(tmp_path_factory) -> Path:
    """cam1/clip.mp4, cam2/clip.mp4 (the same stem), park.mp4 and a corrupt broken.mp4."""
    root = tmp_path_factory.mktemp("fleet")
    for i, name in enumerate(["cam1/clip.mp4", "cam2/clip.mp4", "park.mp4"]):
        cut(root / name, 20 * i)
    (root / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 cut off here")
    return root


def rows(out: Path) -> dict[str, dict]:
    with open(out / SUMMARY, newline="") as f:
        return {row["name"]: row for row in csv.DictReader(f)}


def test_same_stems_get_their_parent_folder_and_earlier_outputs_are_left_out(fleet, tmp_path):
    clips = expand_sources(fleet, out=tmp_path / "runs")
    assert [(Path(c.source).relative_to(fleet).as_posix(), c.name) for c in clips] == [
        ("broken.mp4", "broken"), ("cam1/clip.mp4", "cam1-clip"), ("cam2/clip.mp4", "cam2-clip"), ("park.mp4", "park")]
    listed = expand_sources([fleet / "cam1" / "clip.mp4", fleet / "park.mp4"], out=tmp_path)  # names do not change
    assert [c.name for c in listed] == ["cam1-clip", "park"]  # as clips come and go
    inside = fleet / "runs" / "park"  # an earlier run written into the folder itself
    inside.mkdir(parents=True)
    cut(inside / "annotated.mp4", 0, 2)
    (inside / MARKER).write_text("{}")
    assert len(expand_sources(fleet, out=tmp_path / "elsewhere")) == 4
    assert len(expand_sources(str(fleet / "**" / "*.mp4"), out=fleet / "runs")) == 4
    (inside / "annotated.mp4").unlink()


def test_a_folder_of_images_is_still_one_clip_and_a_folder_of_videos_many(fleet, tmp_path):
    frames = tmp_path / "img1"
    frames.mkdir()
    cv2.imwrite(str(frames / "000001.jpg"), cv2.VideoCapture(str(PETS)).read()[1])
    assert not is_collection(frames) and not is_collection(PETS) and not is_collection("0")
    assert is_collection(fleet) and is_collection(str(fleet / "*.mp4"))
    (tmp_path / "list.txt").write_text(str(PETS))
    assert is_collection(tmp_path / "list.txt")


def test_csv_manifest_options_relative_sources_and_names(fleet, tmp_path):
    manifest = fleet / "clips.csv"
    manifest.write_text("source,name,fps,max_frames,classes\npark.mp4,,10,5,person;car\ncam1/clip.mp4,north,,,\n")
    park, north = expand_sources(manifest, out=tmp_path, defaults=ClipOptions(max_frames=8))
    assert park.source == str(fleet / "park.mp4") and park.name == "park"
    assert park.options == ClipOptions(fps=10.0, max_frames=5, classes=("person", "car"))
    assert north.name == "north" and north.options == ClipOptions(max_frames=8)
    manifest.unlink()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("source,speed\na.mp4,3\n", "unknown column 'speed'"),
        ("path\na.mp4\n", "needs a 'source' column"),
        ("source,fps\na.mp4,fast\n", "clips.csv:2: could not convert string to float"),
        ("source,max_frames\na.mp4,0\n", "max_frames must be 1 or more"),
        ("source,name\na.mp4,x\nb.mp4,x\n", "would both write to"),  # two clips, one folder: refused before running
        ("source\na.mp4\na.mp4\n", "would both write to"),
        ("source,name\na.mp4,../up\n", "name '../up' is not allowed"),
        ("source\n", "no sources in this manifest"),
    ],
)
def test_bad_manifests_are_refused_in_one_line(tmp_path, text, message):
    (tmp_path / "clips.csv").write_text(text)
    with pytest.raises(InputError, match=message):
        expand_sources(tmp_path / "clips.csv", out=tmp_path / "runs")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{tmp}/empty"], "no videos or images in this folder"),
        (["{tmp}/*.mp4"], "no files match this pattern"),
        ([str(PETS), "--workers", "2"], "--workers, --ray, --task-cpus and --task-gpus run many clips"),
        (["{fleet}", "--line", "0,0,10,10"], "--show, --line and --zone take one SOURCE"),
    ],
)
def test_bad_collections_are_one_line(fleet, tmp_path, args, message):
    (tmp_path / "empty").mkdir()
    args = [a.format(tmp=tmp_path, fleet=fleet) for a in args]
    result = CliRunner().invoke(main, ["track", *args, "--out", str(tmp_path / "runs")])
    assert result.exit_code == 1 and result.output.startswith("error: ") and message in result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "runs").exists()


def test_a_ray_address_that_does_not_answer_is_one_line(fleet, tmp_path):
    pytest.importorskip("ray")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    result = CliRunner().invoke(main, ["track", str(fleet), "--out", str(tmp_path), "--ray", f"127.0.0.1:{port}"])
    assert result.exit_code == 1 and time.monotonic() - start < 10
    assert result.output.strip().splitlines() == [
        f"error: --ray 127.0.0.1:{port}: no Ray cluster answers there within 5 s (Connection refused); check the "
        "address, or start one with `ray start --head`"]


def test_two_workers_track_a_manifest_record_a_failure_and_a_rerun_skips_what_is_complete(fleet, tmp_path):
    manifest = tmp_path / "clips.txt"
    manifest.write_text(f"# the fleet\n{fleet / 'park.mp4'}\n{fleet / 'cam1' / 'clip.mp4'}\n{tmp_path / 'gone.mp4'}\n")
    out = tmp_path / "runs"
    args = ["track", str(manifest), "--out", str(out), *FAST]
    first = CliRunner().invoke(main, [*args, "--workers", "2"])
    assert first.exit_code == 1, first.output  # one clip failed
    summary = rows(out)
    assert {n: r["status"] for n, r in summary.items()} == {"park": "done", "clip": "done", "gone": "failed"}
    assert summary["gone"]["error"] == f"{tmp_path / 'gone.mp4'}: no such file or folder; check the path"
    assert f"| gone | 0 | 0.0 | 0.0 | 0 | failed: {tmp_path / 'gone.mp4'}: no such file" in first.output
    for name in ("park", "clip"):
        assert summary[name]["frames"] == "10" and int(summary[name]["tracks"]) > 0
        assert len((out / name / "tracks.jsonl").read_text().splitlines()) == 10
        assert json.loads((out / name / MARKER).read_text())["frames"] == 10
    assert not (out / "gone").exists()
    written = (out / "park" / "tracks.jsonl").stat().st_mtime_ns
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 1 and "2 complete before, 1 failed" in again.output
    assert (out / "park" / "tracks.jsonl").stat().st_mtime_ns == written
    changed = CliRunner().invoke(main, [*args, "--max-frames", "4"])  # other settings: the clips are redone
    assert "2 done (8 frames" in changed.output and rows(out)["park"]["frames"] == "4"


def test_a_simulated_cluster_resumes_after_a_failure_and_a_kill(fleet, tmp_path):
    """Ray local mode with 2 workers: of four clips, one was complete before (not redone), one was killed halfway (its
    folder holds files but no marker: redone), one is corrupt (reported, the others go on)."""
    ray = pytest.importorskip("ray")
    out = tmp_path / "runs"
    config = load_config(overrides={"detector.device": "cpu", "detector.imgsz": 320, "detector.classes": ["person"]})
    clips = expand_sources(fleet, out=out)
    pipe = Pipeline(config)
    assert {r.status for r in pipe.run_many([fleet / "cam1" / "clip.mp4", fleet / "park.mp4"], out)} == {"done"}
    complete = (out / "cam1-clip" / "tracks.jsonl").stat().st_mtime_ns
    (out / "park" / MARKER).unlink()  # killed halfway: files without the marker
    lines = (out / "park" / "tracks.jsonl").read_text().splitlines()
    (out / "park" / "tracks.jsonl").write_text("\n".join(lines[:4]) + "\n")

    source = str(Path(__file__).resolve().parents[1] / "src")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": {"PYTHONPATH": source}})
    try:
        results = list(pipe.run_many(clips, out, ray="local", workers=2))
    finally:
        ray.shutdown()
    status = {r.name: r.status for r in results}
    assert status == {"cam1-clip": "skipped", "park": "done", "cam2-clip": "done", "broken": "failed"}
    assert results[0].name == "cam1-clip"  # the skipped first, then as they finish
    assert (out / "cam1-clip" / "tracks.jsonl").stat().st_mtime_ns == complete
    assert len((out / "park" / "tracks.jsonl").read_text().splitlines()) == 10 and (out / "park" / MARKER).is_file()
    assert "broken.mp4: not a readable video" in rows(out)["broken"]["error"]
    assert rows(out).keys() == {"broken", "cam1-clip", "cam2-clip", "park"}
