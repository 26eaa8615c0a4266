"""ResultWriter: files that stay valid however a run ends."""

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from vidtrack.io.draw import TrackPainter
from vidtrack.io.writers import ResultWriter
from vidtrack.pipeline import FrameResult
from vidtrack.structures import Detections, Tracks

DEMO = Path(__file__).resolve().parents[1] / "data" / "pets09-s2l1.mp4"


def result(index: int, image: np.ndarray | None) -> FrameResult:
    box = np.array([[10.0 + index, 20, 50 + index, 80]])
    forecast = box[:, None] + np.arange(1, 4)[None, :, None] * np.array([1.0, 0, 1, 0])
    tracks = Tracks([1], box, [0.9], [0], [0]).with_forecast(forecast, "constant_velocity")
    return FrameResult(index, index / 10, image, Detections(box, [0.9], [0]), tracks)


def test_frames_without_images_are_drawn_on_a_canvas(tmp_path):
    with ResultWriter(tmp_path, fps=10, size=(160, 120)) as writer:
        for i in range(5):
            writer.write(result(i, None))
    video = cv2.VideoCapture(str(tmp_path / "annotated.mp4"))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 5
    ok, frame = video.read()
    assert ok and frame.shape == (120, 160, 3) and frame.std() > 0  # the track is drawn on the grey canvas


@pytest.mark.parametrize("size", [(768, 576), (767, 575)])  # I420 through OpenCV; odd sides through FFmpeg
def test_the_video_keeps_the_frames_colours(tmp_path, size):
    """A real frame (the demo clip's first), written and read back: PSNR above 35 dB on either conversion path."""
    from vidtrack.io.video import FragmentedVideo

    ok, image = cv2.VideoCapture(str(DEMO)).read()
    assert ok
    image = np.ascontiguousarray(image[:size[1], :size[0]])
    video = FragmentedVideo(tmp_path / "a.mp4", fps=10, size=size)
    for _ in range(3):
        video.write(image)
    video.close()
    ok, back = cv2.VideoCapture(str(tmp_path / "a.mp4")).read()
    assert ok and back.shape == image.shape
    assert cv2.PSNR(back, image) > 35


def test_files_stay_valid_when_the_run_fails(tmp_path):
    image = np.zeros((120, 160, 3), dtype=np.uint8)
    with pytest.raises(RuntimeError), ResultWriter(tmp_path, fps=10, size=(160, 120)) as writer:
        for i in range(3):
            writer.write(result(i, image))
        raise RuntimeError("the stream stopped")
    assert len((tmp_path / "tracks.txt").read_text().splitlines()) == 3
    records = [json.loads(line) for line in (tmp_path / "tracks.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in records] == [0, 1, 2]
    assert records[2]["tracks"][0]["forecast"]["frames"] == [3, 4, 5]
    assert int(cv2.VideoCapture(str(tmp_path / "annotated.mp4")).get(cv2.CAP_PROP_FRAME_COUNT)) == 3


def test_errors_in_the_video_thread_reach_the_caller(tmp_path, monkeypatch):
    def fail(*args):
        raise RuntimeError("cannot draw")

    monkeypatch.setattr(TrackPainter, "draw", fail)
    writer = ResultWriter(tmp_path, fps=10, size=(160, 120), mot=False, jsonl=False)
    with pytest.raises(RuntimeError, match="cannot draw"):
        for i in range(20):
            writer.write(result(i, np.zeros((120, 160, 3), dtype=np.uint8)))
        writer.close()
    writer.close()  # the error is reported once; closing again is harmless


def test_unwritable_folder(tmp_path):
    (tmp_path / "file").write_text("")
    from vidtrack.errors import InputError

    with pytest.raises(InputError, match="cannot create the output folder"):
        ResultWriter(tmp_path / "file" / "out", fps=10, size=(160, 120))


def test_a_reused_folder_gets_a_new_complete_set(tmp_path, caplog):
    with ResultWriter(tmp_path, fps=10, size=(160, 120)) as writer:
        for i in range(5):
            writer.write(result(i, None))
    (tmp_path / "notes.txt").write_text("mine")
    with caplog.at_level("WARNING", logger="vidtrack"), ResultWriter(tmp_path, fps=10, size=(160, 120),
                                                                       video=False) as writer:
        writer.write(result(0, None))
    earlier = "tracks.txt, tracks.jsonl, tracks.csv, frames.csv, annotated.mp4"
    assert f"replacing the results of an earlier run ({earlier})" in caplog.text
    assert not (tmp_path / "annotated.mp4").exists()  # no old video beside the new tracks
    assert len((tmp_path / "tracks.txt").read_text().splitlines()) == 1
    assert (tmp_path / "notes.txt").read_text() == "mine"  # only the run's own files go


def test_tracks_csv_summarises_each_track_at_close(tmp_path):
    writer = ResultWriter(tmp_path, fps=10, size=(160, 120), video=False, names={0: "person", 2: "car"})
    for i in range(5):  # track 1: 1 px per frame; track 2 (frames 1-3): 5 px, a car twice in 3
        boxes = np.array([[10.0 + i, 20, 50 + i, 80], [3 * i, 4 * i, 10 + 3 * i, 10 + 4 * i]])
        tracks = Tracks([1, 2], boxes, [0.9, 0.8], [0, 2 if i != 2 else 0], [0, 1])[[0, 1] if 0 < i < 4 else [0]]
        writer.write(FrameResult(i, i / 10, None, Detections.empty(), tracks))
    assert not (tmp_path / "tracks.csv").exists()  # written at close, complete
    writer.close()
    rows = list(csv.DictReader((tmp_path / "tracks.csv").open()))
    assert rows == [
        {"id": "1", "class_id": "0", "class_name": "person", "first_frame": "0", "last_frame": "4",
         "first_time_s": "0.0", "last_time_s": "0.4", "duration_s": "0.4", "frames_seen": "5",
         "path_length_px": "4.0", "mean_speed_px_s": "10.0", "events": ""},
        {"id": "2", "class_id": "2", "class_name": "car", "first_frame": "1", "last_frame": "3",
         "first_time_s": "0.1", "last_time_s": "0.3", "duration_s": "0.2", "frames_seen": "3",
         "path_length_px": "10.0", "mean_speed_px_s": "50.0", "events": ""},
    ]
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["frames.csv", "tracks.csv", "tracks.jsonl", "tracks.txt"]  # no temporary


def test_tracks_csv_of_a_track_seen_once_has_no_speed(tmp_path):
    with ResultWriter(tmp_path, fps=10, size=(160, 120), video=False, mot=False, jsonl=False) as writer:
        writer.write(result(3, None))
    (row,) = csv.DictReader((tmp_path / "tracks.csv").open())
    seen = [row[k] for k in ("frames_seen", "duration_s", "path_length_px", "mean_speed_px_s")]
    assert seen == ["1", "0.0", "0.0", ""]


def test_a_failed_summary_leaves_no_half_file(tmp_path, monkeypatch):
    monkeypatch.setattr(csv.DictWriter, "writerows", lambda self, rows: 1 / 0)
    writer = ResultWriter(tmp_path, fps=10, size=(160, 120), video=False, mot=False, jsonl=False)
    writer.write(result(0, None))
    with pytest.raises(ZeroDivisionError):
        writer.close()
    assert [p.name for p in tmp_path.iterdir()] == ["frames.csv"]  # neither tracks.csv nor its temporary file


def test_an_output_path_taken_by_a_folder_is_one_error(tmp_path):
    from vidtrack.errors import InputError

    (tmp_path / "tracks.jsonl").mkdir()
    with pytest.raises(InputError, match=r"tracks\.jsonl: cannot write this output file \(Is a directory\)"):
        ResultWriter(tmp_path, fps=10, size=(160, 120))


def fill_disk_after(monkeypatch, budget: int) -> None:
    """Every output byte after the first `budget` fails as on a full disk (the writers' one way to the disk)."""
    import errno

    import vidtrack.io.files

    left, write_all = [budget], vidtrack.io.files.write_all

    def limited(fd: int, data: bytes) -> None:
        if len(data) > left[0]:
            write_all(fd, bytes(data[:left[0]]))  # a part gets through, as on a real disk
            left[0] = 0
            raise OSError(errno.ENOSPC, "No space left on device")
        left[0] -= len(data)
        write_all(fd, data)

    monkeypatch.setattr(vidtrack.io.files, "write_all", limited)


def frames_in(path) -> tuple[int, int]:
    """(frames the container announces, frames decoded) of a video."""
    video = cv2.VideoCapture(str(path))
    decoded = 0
    while video.read()[0]:
        decoded += 1
    return int(video.get(cv2.CAP_PROP_FRAME_COUNT)), decoded


@pytest.mark.parametrize("budget", [100, 5_000, 150_000])
def test_a_full_disk_leaves_whole_lines_and_a_playable_video(tmp_path, monkeypatch, budget):
    from vidtrack.errors import OutputError

    fill_disk_after(monkeypatch, budget)
    noise = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)  # frames that do not compress
    with pytest.raises(OutputError, match="no space left on device"), ResultWriter(tmp_path, fps=10,
                                                                                   size=(160, 120)) as writer:
        for i in range(100):
            writer.write(result(i, noise))
    jsonl = tmp_path / "tracks.jsonl"
    assert jsonl.read_text() == "" or jsonl.read_text().endswith("\n")
    frames = [json.loads(line)["frame"] for line in jsonl.read_text().splitlines()]
    assert frames == list(range(len(frames)))
    assert all(len(line.split(",")) == 10 for line in (tmp_path / "tracks.txt").read_text().splitlines())
    video = tmp_path / "annotated.mp4"
    if budget < 100_000:
        assert not video.exists()  # no whole second of video: removed rather than left unplayable
    else:
        announced, decoded = frames_in(video)
        assert decoded == announced >= 10  # cut back to whole fragments (a second each, or less at a scene cut)


def test_the_video_survives_sigkill(tmp_path):
    """A process killed without any chance to close the video leaves it playable up to its last whole second."""
    import subprocess
    import sys

    script = (
        "import os, signal, numpy as np\n"
        "from vidtrack.io.video import FragmentedVideo\n"
        f"video = FragmentedVideo({str(tmp_path / 'killed.mp4')!r}, fps=10, size=(160, 120))\n"
        "for i in range(35):\n"
        "    video.write(np.full((120, 160, 3), i * 7, np.uint8))\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == -9, run.stderr
    announced, decoded = frames_in(tmp_path / "killed.mp4")
    assert announced == decoded and 25 <= decoded < 35  # at most the last second is lost


def test_zone_records_and_forecast_std_in_the_jsonl(tmp_path):
    from vidtrack.analytics import ZoneCounter

    zone = ZoneCounter([(35.5, 0), (100, 0), (100, 100), (35.5, 100)], fps=10)  # feet at x = 30 + frame: in at 6
    with ResultWriter(tmp_path, fps=10, size=(160, 120), video=False, names={0: "person"}, zones=[zone]) as writer:
        for i in range(8):
            r = result(i, None)
            std = np.full(r.tracks.forecast.shape, 2.0)
            tracks = r.tracks.with_forecast(r.tracks.forecast, "kalman", std)
            writer.write(FrameResult(i, i / 10, None, r.detections, tracks))
        assert writer.overlays()[1][0][1:] == (1, 0, 1)  # in, out, inside now
    records = [json.loads(line) for line in (tmp_path / "tracks.jsonl").read_text().splitlines()]
    zones = [r["zones"][0] for r in records]
    assert [z["entered"] for z in zones] == [[], [], [], [], [], [], [1], []]
    assert zones[-1] | {"anticipated": None} == {"in": {"person": 1}, "out": {}, "occupancy": {"person": 1},
                                                "entered": [], "exited": [], "anticipated": None}
    assert [a["frame"] for a in zones[3]["anticipated"]] == [6]  # foreseen 3 frames ahead, with its uncertainty
    assert zones[3]["anticipated"][0]["time_std_s"] == 2.0 / 10  # 2 px across the edge at 1 px a frame, 10 fps
    assert records[0]["tracks"][0]["forecast"]["std"] == [[2.0] * 4] * 3


def test_frames_csv_and_the_events_of_each_track_in_tracks_csv(tmp_path):
    """frames.csv holds one row per track and frame; tracks.csv lists each track's crossings with their time."""
    from vidtrack.analytics import LineCounter, ZoneCounter

    line = LineCounter((35.5, 0), (35.5, 120), fps=10)  # the box's bottom centre is at x = 30 + frame
    zone = ZoneCounter([(37.5, 0), (100, 0), (100, 120), (37.5, 120)], fps=10)
    with ResultWriter(tmp_path, fps=10, size=(160, 120), video=False, names={0: "person"}, lines=[line],
                      zones=[zone]) as writer:
        for i in range(10):
            writer.write(result(i, None))
    rows = list(csv.DictReader((tmp_path / "frames.csv").open()))
    assert [int(r["frame"]) for r in rows] == list(range(10))
    assert rows[3] == {"frame": "3", "time_s": "0.3", "id": "1", "class_id": "0", "class_name": "person",
                            "x1": "13.0", "y1": "20.0", "x2": "53.0", "y2": "80.0", "score": "0.9"}
    (track,) = csv.DictReader((tmp_path / "tracks.csv").open())
    assert track["events"] == "line1 out 0.60s; zone1 in 0.80s"  # crossed between frames 5 and 6, 7 and 8
