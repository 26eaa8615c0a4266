"""Tests of the MOTChallenge readers and writer, on the real MOT17/TUD files and on small broken files."""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from vidtrack.errors import InputError
from vidtrack.io.motchallenge import GroundTruth, MOTWriter, read_detections, read_ground_truth, read_seqinfo
from vidtrack.structures import Tracks

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MOT17 = DATA / "MOT17" / "train"
DET_02 = MOT17 / "MOT17-02-FRCNN" / "det" / "det.txt"
GT_02 = MOT17 / "MOT17-02-FRCNN" / "gt" / "gt.txt"
GT_CAMPUS = DATA / "TUD" / "TUD-Campus" / "gt.txt"

needs_data = pytest.mark.skipif(not MOT17.is_dir(), reason="shared data not found")


def count_lines(path: Path) -> int:
    """An independent count of the data rows: the non-blank lines."""
    with open(path) as f:
        return sum(1 for line in f if line.strip())


def write(tmp_path: Path, text: str, name: str = "file.txt") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "vidtrack" and r.levelno == logging.WARNING]


# --- seqinfo.ini ---


@needs_data
@pytest.mark.parametrize(
    ("seq", "length", "fps", "width", "height"),
    [("02", 600, 30, 1920, 1080), ("05", 837, 14, 640, 480), ("09", 525, 30, 1920, 1080), ("10", 654, 30, 1920, 1080)],
)
def test_read_seqinfo_mot17(seq: str, length: int, fps: float, width: int, height: int) -> None:
    path = MOT17 / f"MOT17-{seq}-FRCNN" / "seqinfo.ini"
    info = read_seqinfo(path)
    assert (info.name, info.length, info.fps, info.width, info.height) == (
        f"MOT17-{seq}-FRCNN", length, fps, width, height)
    assert (info.im_dir, info.im_ext, info.path) == ("img1", ".jpg", path)
    # Only MOT17-02 ships its (first four) frames.
    assert info.image_folder == (path.parent / "img1" if seq == "02" else None)


@needs_data
def test_read_seqinfo_accepts_the_sequence_folder() -> None:
    assert read_seqinfo(MOT17 / "MOT17-05-FRCNN").length == 837


@needs_data
def test_tud_seqinfo_lacks_the_frame_rate() -> None:
    # The real TUD seqinfo.ini files only hold name and seqLength.
    with pytest.raises(InputError, match=r"seqinfo\.ini: missing key frameRate"):
        read_seqinfo(DATA / "TUD" / "TUD-Campus" / "seqinfo.ini")


SEQINFO = "[Sequence]\nname=seq\nframeRate=25\nseqLength=10\nimWidth=640\nimHeight=480\n"


def test_seqinfo_defaults(tmp_path: Path) -> None:
    folder = tmp_path / "MySeq"
    folder.mkdir()
    info = read_seqinfo(write(folder, SEQINFO.replace("name=seq\n", ""), "seqinfo.ini"))
    assert (info.name, info.fps, info.length, info.im_dir, info.im_ext) == ("MySeq", 25.0, 10, "img1", ".jpg")
    assert info.image_folder is None
    (folder / "img1").mkdir()
    assert info.image_folder == folder / "img1"


@pytest.mark.parametrize("key", ["frameRate", "seqLength", "imWidth", "imHeight"])
def test_seqinfo_missing_key(tmp_path: Path, key: str) -> None:
    text = "".join(line + "\n" for line in SEQINFO.splitlines() if not line.startswith(key + "="))
    path = write(tmp_path, text, "seqinfo.ini")
    with pytest.raises(InputError, match=rf"^{re.escape(str(path))}: missing key {key}"):
        read_seqinfo(path)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("frameRate=25", "frameRate=fast", "frameRate='fast' is not a positive number"),
        ("frameRate=25", "frameRate=-25", "frameRate='-25' is not a positive number"),
        ("seqLength=10", "seqLength=0", "seqLength='0' is not a positive integer"),
        ("imWidth=640", "imWidth=640.5", "imWidth='640.5' is not a positive integer"),
    ],
)
def test_seqinfo_bad_value(tmp_path: Path, old: str, new: str, message: str) -> None:
    path = write(tmp_path, SEQINFO.replace(old, new), "seqinfo.ini")
    with pytest.raises(InputError, match=f"^{re.escape(str(path))}: {message}"):
        read_seqinfo(path)


def test_seqinfo_missing_file_or_section(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        read_seqinfo(tmp_path / "seqinfo.ini")
    with pytest.raises(InputError, match=r"no \[Sequence\] section"):
        read_seqinfo(write(tmp_path, "[Other]\nframeRate=3\n", "seqinfo.ini"))
    with pytest.raises(InputError, match="not a valid ini file"):
        read_seqinfo(write(tmp_path, "frameRate=3\n", "seqinfo.ini"))


# --- detection and result files ---


@needs_data
def test_read_detections_mot17_02() -> None:
    start = time.perf_counter()
    dets = read_detections(DET_02, seq_length=600)
    assert time.perf_counter() - start < 1.0  # about 0.03 s; a slow parser would show here
    assert list(dets) == list(range(1, 601))
    assert sum(len(d) for d in dets.values()) == count_lines(DET_02) == 8186
    assert all(len(d) > 0 for d in dets.values())  # a real detector's output, all 600 frames
    xyxy = np.concatenate([d.xyxy for d in dets.values()])
    score = np.concatenate([d.score for d in dets.values()])
    assert score.min() >= np.float32(0.05) and score.max() <= 1
    assert (xyxy[:, 2] > xyxy[:, 0]).all() and (xyxy[:, 3] > xyxy[:, 1]).all()
    assert all(d.features is None and (d.class_id == 0).all() for d in dets.values())
    # Line 1 is "69,-1,912.8,482.9,97.6,112.6,1": the file is unsorted, and the order within a frame is kept.
    np.testing.assert_allclose(dets[69].xyxy[0], [912.8, 482.9, 1010.4, 595.5], atol=1e-3)


@needs_data
def test_read_tud_result_file() -> None:
    # A tracker's output in the 10-column layout; its score column is -1 throughout.
    path = DATA / "TUD" / "TUD-Campus" / "test.txt"
    dets = read_detections(path)
    assert sum(len(d) for d in dets.values()) == count_lines(path)
    assert all((d.score == -1).all() for d in dets.values())


def test_read_detections_frames_and_filters(tmp_path: Path) -> None:
    path = write(tmp_path, "3,-1,10,20,30,40,0.9\n1,-1,0,0,5,5,0.2\n3,-1,1,2,3,4,0.5,-1,-1,-1\n\n")
    dets = read_detections(path)
    assert list(dets) == [1, 3]  # without seq_length, only frames with rows
    np.testing.assert_allclose(dets[3].xyxy, [[10, 20, 40, 60], [1, 2, 4, 6]])
    np.testing.assert_allclose(dets[3].score, [0.9, 0.5])
    assert [len(d) for d in read_detections(path, seq_length=4).values()] == [1, 0, 2, 0]
    assert [len(d) for d in read_detections(path, seq_length=4, min_score=0.5).values()] == [0, 0, 2, 0]


def test_read_detections_whitespace_separated(tmp_path: Path) -> None:
    path = write(tmp_path, "1 -1 10 20 30 40 0.9\n2\t-1\t1\t2\t3\t4\t0.5\n")
    dets = read_detections(path)
    np.testing.assert_allclose(dets[2].xyxy, [[1, 2, 4, 6]])


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("1,-1,10,20,30,40,0.9\n1,-1,10,20,30,40\n", 2, "expected at least 7 columns"),
        ("1,-1,10,20,30,40,0.9\n\n2,-1,10,x,30,40,0.9\n", 3, "non-numeric value 'x'"),
        ("1,-1,10,20,30,40,0.9\n2,-1,10,,30,40,0.9\n", 2, "non-numeric value ''"),
        ("1,-1,10,20,30,40,0.9\n0,-1,10,20,30,40,0.9\n", 2, "frame 0 is outside the sequence"),
        ("1.5,-1,10,20,30,40,0.9\n", 1, "frame 1.5 is not an integer"),
        ("nan,-1,10,20,30,40,0.9\n", 1, "frame nan is not an integer"),
    ],
)
def test_read_detections_malformed(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(InputError, match=f"^{re.escape(str(path))}:{line}: {message}"):
        read_detections(path)


def test_read_detections_frame_after_sequence(tmp_path: Path) -> None:
    path = write(tmp_path, "1,-1,10,20,30,40,0.9\n11,-1,10,20,30,40,0.9\n")
    assert list(read_detections(path)) == [1, 11]
    message = re.escape(f"{path}:2: frame 11 is outside the sequence (frames 1..10)")
    with pytest.raises(InputError, match=f"^{message}"):
        read_detections(path, seq_length=10)


def test_read_detections_skips_non_finite_rows(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write(tmp_path, "1,-1,10,20,30,40,0.9\n1,-1,nan,20,30,40,0.9\n2,-1,10,20,inf,40,0.9\n"
                           "2,-1,10,20,30,40,NaN\n2,-1,1,2,3,4,0.8\n")
    with caplog.at_level(logging.WARNING, logger="vidtrack"):
        dets = read_detections(path, seq_length=2)
    assert [len(d) for d in dets.values()] == [1, 1]
    assert warnings_of(caplog) == [f"{path}: skipped 3 rows with NaN or inf in box or score (first at line 2)"]


def test_read_detections_skips_empty_boxes(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write(tmp_path, "1,-1,10,20,30,40,0.9\n1,-1,10,20,0,40,0.9\n1,-1,10,20,30,-4,0.9\n")
    with caplog.at_level(logging.WARNING, logger="vidtrack"):
        dets = read_detections(path)
    assert len(dets[1]) == 1
    assert warnings_of(caplog) == [f"{path}: skipped 2 rows with width or height <= 0 (first at line 2)"]


def test_read_detections_empty_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write(tmp_path, "")
    with caplog.at_level(logging.WARNING, logger="vidtrack"):
        assert read_detections(path) == {}
        dets = read_detections(path, seq_length=3)
    assert list(dets) == [1, 2, 3] and all(len(d) == 0 for d in dets.values())
    assert len(warnings_of(caplog)) == 2 and "no detections" in warnings_of(caplog)[0]


def test_read_detections_all_rows_filtered(tmp_path: Path) -> None:
    path = write(tmp_path, "1,-1,10,20,30,40,0.1\n2,-1,10,20,30,40,0.2\n")
    assert read_detections(path, min_score=0.5) == {}
    assert [len(d) for d in read_detections(path, seq_length=2, min_score=0.5).values()] == [0, 0]


def test_read_detections_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        read_detections(tmp_path / "nope.txt")


# --- ground truth ---


@needs_data
def test_read_ground_truth_mot17_02() -> None:
    gt = read_ground_truth(GT_02)
    assert len(gt) == count_lines(GT_02) == 30003
    assert gt.frame.min() == 1 and gt.frame.max() == 600
    assert len(np.unique(gt.track_id[gt.class_id == 1])) == 62  # pedestrian tracks, as in the README
    assert (gt.consider == (gt.class_id == 1)).all()  # only pedestrians are considered
    assert gt.visibility.min() == 0 and gt.visibility.max() == 1
    # Line 1 is "1,1,912,484,97,109,0,7,1": a static person (class 7), not considered.
    first = gt[0]
    assert (first.frame[0], first.track_id[0], first.consider[0], first.class_id[0]) == (1, 1, False, 7)
    np.testing.assert_array_equal(first.xywh, [[912, 484, 97, 109]])
    np.testing.assert_array_equal(first.xyxy, [[912, 484, 1009, 593]])


@needs_data
def test_read_ground_truth_tud_campus_10_columns() -> None:
    gt = read_ground_truth(GT_CAMPUS)
    assert len(gt) == count_lines(GT_CAMPUS) == 359
    assert gt.frame.min() == 1 and gt.frame.max() == 71
    assert gt.consider.all() and (gt.class_id == 1).all() and (gt.visibility == 1).all()
    frame1 = gt[gt.frame == 1]
    assert isinstance(frame1, GroundTruth) and len(frame1) == 6
    np.testing.assert_array_equal(frame1.xywh[0], [399, 182, 121, 229])


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("1,1,10,20,30,40,1,1,1\n1,2,10,20,30,40,1,1\n", 2, "expected 9 columns like line 1, found 8"),
        ("\n1,1,10,20,30,40,1,1\n", 2, "expected 9 columns .* or 10 .*, found 8"),
        ("1,1,10,20,30,40,1,1,1\n2,1,10,20,3O,40,1,1,1\n", 2, "non-numeric value '3O'"),
        ("1,1,10,20,30,40,1,1,1\n2,1,10,20,nan,40,1,1,1\n", 2, "NaN or inf value"),
        ("1,1,10,20,30,40,1,1,1\n0,1,10,20,30,40,1,1,1\n", 2, "frame 0 is outside the sequence"),
        ("1,1.5,10,20,30,40,1,1,1\n", 1, "id 1.5 is not an integer"),
    ],
)
def test_read_ground_truth_malformed(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(InputError, match=f"^{re.escape(str(path))}:{line}: {message}"):
        read_ground_truth(path)


# --- writer ---


def make_tracks(ids: list[int], xyxy: list[list[float]], score: list[float]) -> Tracks:
    return Tracks(np.array(ids), np.array(xyxy), np.array(score), np.zeros(len(ids)), np.arange(len(ids)))


def test_writer_round_trip(tmp_path: Path) -> None:
    frames = {
        1: make_tracks([1, 2], [[10.123, 20.5, 40.0, 80.25], [100, 200, 150.5, 300]], [0.91234, 0.5]),
        2: Tracks.empty(),
        3: make_tracks([2, 7], [[101.004, 201, 151, 301.996], [-5.5, 0, 20, 30]], [0.4, 1.0]),
    }
    path = tmp_path / "deep" / "er" / "MOT17-02.txt"  # the parent folders do not exist yet
    with MOTWriter(path) as writer:
        for frame, tracks in frames.items():
            writer.write(frame, tracks)
    assert path.read_text().splitlines()[0] == "1,1,10.12,20.50,29.88,59.75,0.9123,-1,-1,-1"

    dets = read_detections(path, seq_length=3)
    gt = read_ground_truth(path)  # a 10-column result file reads as MOT15: this gives the ids
    for frame, tracks in frames.items():
        np.testing.assert_allclose(dets[frame].xyxy, tracks.xyxy, atol=0.011)
        np.testing.assert_allclose(dets[frame].score, tracks.score, atol=1e-4)
        np.testing.assert_array_equal(gt.track_id[gt.frame == frame], tracks.track_id)
        np.testing.assert_allclose(gt.xywh[gt.frame == frame], np.round(tracks.xywh, 2), atol=1e-4)


def test_writer_flushes_each_frame_and_closes_twice(tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    writer = MOTWriter(path)
    writer.write(1, make_tracks([3], [[0, 0, 10, 10]], [0.5]))
    assert path.read_text() == "1,3,0.00,0.00,10.00,10.00,0.5000,-1,-1,-1\n"  # on disk before close()
    writer.close()
    writer.close()
    with pytest.raises(ValueError, match="after close"):
        writer.write(2, Tracks.empty())
    with pytest.raises(ValueError, match="1-based"), MOTWriter(path) as writer:
        writer.write(0, Tracks.empty())


def test_writer_stays_line_complete_after_an_exception(tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    good = make_tracks([1, 2], [[0, 0, 10, 10], [5, 5, 20, 20]], [0.5, 0.6])
    # Formatting fails on the second row of frame 2: none of frame 2 may reach the file.
    broken = SimpleNamespace(track_id=np.array([1, 2]), xywh=np.ones((2, 4)), score=[0.5, "oops"])
    with pytest.raises(ValueError), MOTWriter(path) as writer:
        writer.write(1, good)
        writer.write(2, broken)
    with pytest.raises(ValueError, match="after close"):  # the with block closed the file
        writer.write(3, good)
    text = path.read_text()
    assert text.endswith("\n") and text.count("\n") == 2
    assert all(len(line.split(",")) == 10 for line in text.splitlines())
    assert sum(len(d) for d in read_detections(path).values()) == 2

