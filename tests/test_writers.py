"""ResultWriter: files that stay valid however a run ends."""

import json

import cv2
import numpy as np
import pytest

from vidtrack.io.draw import TrackPainter
from vidtrack.io.writers import ResultWriter
from vidtrack.pipeline import FrameResult
from vidtrack.structures import Detections, Tracks


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
    assert "replacing the results of an earlier run (tracks.txt, tracks.jsonl, annotated.mp4)" in caplog.text
    assert not (tmp_path / "annotated.mp4").exists()  # no old video beside the new tracks
    assert len((tmp_path / "tracks.txt").read_text().splitlines()) == 1
    assert (tmp_path / "notes.txt").read_text() == "mine"  # only the run's own files go
