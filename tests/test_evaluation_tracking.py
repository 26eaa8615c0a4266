"""Tracking metrics: the published TUD scores, TrackEval's own end-to-end evaluation, hand-checked cases, bad input."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import trackeval
from click.testing import CliRunner
from trackeval.metrics import CLEAR, HOTA, Identity

from conftest import SHARED, shared_data
from vidtrack.cli import main
from vidtrack.errors import InputError
from vidtrack.evaluation.tracking import evaluate_sequence, evaluate_tracking, markdown_table, summarize
from vidtrack.io.motchallenge import GroundTruth, read_ground_truth

TUD = SHARED / "TUD"
SEQ_02 = SHARED / "MOT17" / "train" / "MOT17-02-FRCNN"

# ../shared/data/README.md: py-motmetrics' scores of test.txt against gt.txt
PUBLISHED = {  # MOTA, IDF1, recall, precision as fractions; FP, FN, IDSW, MT, PT, ML
    "TUD-Campus": (0.526462, 0.557659, 0.582173, 0.941441, 13, 150, 7, 1, 6, 1),
    "TUD-Stadtmitte": (0.564014, 0.644619, 0.608997, 0.939920, 45, 452, 7, 5, 4, 1),
    "both": (0.555116, 0.624296, 0.602640, 0.940268, 58, 602, 14, 6, 10, 2),
}
KEYS = ("MOTA", "IDF1", "Recall", "Precision", "FP", "FN", "IDSW", "MT", "PT", "ML")


def tud_results(folder: Path) -> Path:
    """The TUD tracker outputs as a results folder: one <sequence>.txt per sequence."""
    folder.mkdir(exist_ok=True)
    for name in ("TUD-Campus", "TUD-Stadtmitte"):
        shutil.copy(TUD / name / "test.txt", folder / f"{name}.txt")
    return folder


def assert_published(scores: dict, published: tuple) -> None:
    for key, expected in zip(KEYS, published):
        if isinstance(expected, int):
            assert scores[key] == expected, key
        else:  # published with 6 decimals: agree to their rounding
            assert scores[key] == pytest.approx(100 * expected, abs=1e-4), key


@shared_data
def test_tud_reproduces_the_published_scores(tmp_path):
    scores = evaluate_tracking(TUD, tud_results(tmp_path / "res"))
    assert list(scores.sequences) == ["TUD-Campus", "TUD-Stadtmitte"]
    for name, published in PUBLISHED.items():
        assert_published(scores.combined if name == "both" else scores.sequences[name], published)
    single = evaluate_tracking(TUD / "TUD-Campus", TUD / "TUD-Campus" / "test.txt")  # one sequence, one file
    assert single.sequences["TUD-Campus"] == single.combined == scores.sequences["TUD-Campus"]


def trackeval_reference(tmp_path: Path, sequence: Path, results: str, mot15: bool) -> dict:
    """TrackEval's own end-to-end evaluation (its reader, MotChallenge2DBox preprocessing, Evaluator) of one
    sequence, in the folder layout it expects."""
    name = sequence.name
    (tmp_path / "gt").mkdir(parents=True)
    (tmp_path / "gt" / name).symlink_to(sequence)
    (tmp_path / "seqmap.txt").write_text(f"name\n{name}\n")
    data = tmp_path / "trackers" / "tracker" / "data"
    data.mkdir(parents=True)
    (data / f"{name}.txt").write_text(results)
    dataset = trackeval.datasets.MotChallenge2DBox({
        "GT_FOLDER": str(tmp_path / "gt"), "TRACKERS_FOLDER": str(tmp_path / "trackers"),
        "OUTPUT_FOLDER": str(tmp_path / "out"), "TRACKERS_TO_EVAL": ["tracker"],
        "SEQMAP_FILE": str(tmp_path / "seqmap.txt"),
        "BENCHMARK": "MOT15" if mot15 else "MOT17", "SKIP_SPLIT_FOL": True, "PRINT_CONFIG": False,
        "GT_LOC_FORMAT": "{gt_folder}/{seq}/gt.txt" if mot15 else "{gt_folder}/{seq}/gt/gt.txt"})
    evaluator = trackeval.Evaluator({"PRINT_RESULTS": False, "PRINT_CONFIG": False, "TIME_PROGRESS": False,
                                     "OUTPUT_SUMMARY": False, "OUTPUT_DETAILED": False, "PLOT_CURVES": False,
                                     "LOG_ON_ERROR": None})
    config = {"THRESHOLD": 0.5, "PRINT_CONFIG": False}
    res, messages = evaluator.evaluate([dataset], [HOTA(), CLEAR(dict(config)), Identity(dict(config))])
    assert messages["MotChallenge2DBox"]["tracker"] == "Success"
    return res["MotChallenge2DBox"]["tracker"][name]["pedestrian"]


def simulated_tracker(gt_file: Path, seed: int = 0) -> str:
    """A realistic tracker output made from MOT17 ground truth: jittered boxes, missed boxes, id swaps, broken
    tracks, boxes on distractors (to be removed) and on other classes (false positives), random false positives."""
    rng = np.random.default_rng(seed)
    rows = np.loadtxt(gt_file, delimiter=",")
    frame, ids, cls = rows[:, 0], rows[:, 1].astype(np.int64), rows[:, 7]
    pedestrian = cls == 1
    keep = np.where(pedestrian, rng.random(len(rows)) > 0.1, rng.random(len(rows)) < np.where(
        np.isin(cls, (2, 7, 8, 12)), 0.6, 0.3))
    swapped = np.unique(ids[pedestrian])[:12]
    late = pedestrian & (frame >= 300) & np.isin(ids, swapped)
    ids = np.where(late, swapped[(np.searchsorted(swapped, ids) + 5) % len(swapped)], ids)  # a permutation
    ids = np.where(pedestrian & (frame >= 450) & (ids % 3 == 0), ids + 1000, ids)  # broken tracks
    ids = np.where(pedestrian, ids, ids + 100_000 * cls.astype(np.int64))
    boxes = rows[:, 2:6].copy()
    boxes[:, :2] += rng.normal(0, 0.06, (len(rows), 2)) * boxes[:, 2:]
    boxes[:, 2:] = np.maximum(1, boxes[:, 2:] * (1 + rng.normal(0, 0.06, (len(rows), 2))))
    n_fp = 300
    fp_boxes = np.column_stack([rng.uniform(0, 1800, n_fp), rng.uniform(0, 900, n_fp), rng.uniform(20, 120, n_fp),
                                rng.uniform(50, 300, n_fp)])
    out = np.concatenate([
        np.column_stack([frame[keep], ids[keep], boxes[keep], rng.uniform(0.3, 1, keep.sum())]),
        np.column_stack([rng.integers(1, 601, n_fp), 900_000 + np.arange(n_fp), fp_boxes, rng.uniform(0.3, 1, n_fp)]),
    ])
    out = out[rng.permutation(len(out))]  # any order: rows are grouped by frame, in file order within a frame
    return "".join(f"{f:.0f},{i:.0f},{x:.2f},{y:.2f},{w:.2f},{h:.2f},{s:.3f},-1,-1,-1\n" for f, i, x, y, w, h, s in out)


@shared_data
@pytest.mark.parametrize(("sequence", "mot15"), [(SEQ_02, False), (TUD / "TUD-Campus", True)])
def test_same_as_trackeval_end_to_end(tmp_path, sequence, mot15):
    results = (sequence / "test.txt").read_text() if mot15 else simulated_tracker(sequence / "gt" / "gt.txt")
    (tmp_path / "mine.txt").write_text(results)
    mine = evaluate_tracking(sequence, tmp_path / "mine.txt").sequences[sequence.name]
    reference = summarize(trackeval_reference(tmp_path / "trackeval", sequence, results, mot15))
    assert mine.keys() == reference.keys()
    for key, value in reference.items():
        assert mine[key] == pytest.approx(value, abs=1e-9), key
    assert mine["IDSW"] > 5 and mine["FP"] > 10 and 0 < mine["HOTA"] < 90
    if not mot15:  # the distractor rule was exercised: without it, more false positives
        rows = np.loadtxt(tmp_path / "mine.txt", delimiter=",")
        without = summarize(evaluate_sequence(read_ground_truth(sequence / "gt" / "gt.txt"), rows, 600, mot15=True))
        assert without["FP"] > mine["FP"] + 500


@shared_data
def test_perfect_results_score_100():
    gt = read_ground_truth(SEQ_02 / "gt" / "gt.txt")
    pedestrians = gt[gt.class_id == 1]
    results = np.column_stack([pedestrians.frame, pedestrians.track_id, pedestrians.xywh, np.ones(len(pedestrians))])
    scores = summarize(evaluate_sequence(gt, results, 600))
    for key in ("HOTA", "DetA", "AssA", "MOTA", "IDF1", "Recall", "Precision"):
        assert scores[key] == pytest.approx(100), key
    assert scores["IDSW"] == scores["FP"] == scores["FN"] == 0 and scores["MT"] == 62


def box_rows(*rows: tuple) -> np.ndarray:
    """Result rows frame, id, left, top, width, height, score."""
    return np.array(rows, dtype=np.float64).reshape(-1, 7)


def ground_truth(rows: list[tuple]) -> GroundTruth:
    """MOT17 ground truth from (frame, id, left, top, width, height, class) with consider = class 1."""
    a = np.array(rows, dtype=np.float64).reshape(-1, 7)
    return GroundTruth(a[:, 0], a[:, 1], a[:, 2:6], a[:, 6] == 1, a[:, 6], np.ones(len(a)))


def test_one_id_switch():
    gt = ground_truth([(t, 1, 100, 100, 50, 100, 1) for t in (1, 2, 3, 4)])
    results = box_rows(*[(t, 7 if t <= 2 else 8, 100, 100, 50, 100, 1) for t in (1, 2, 3, 4)])
    scores = summarize(evaluate_sequence(gt, results, 4))
    assert scores["IDSW"] == 1 and scores["FP"] == scores["FN"] == 0
    assert scores["MOTA"] == pytest.approx(75)  # (4 matches - 1 switch) / 4
    assert scores["IDF1"] == pytest.approx(50)  # tracker 7 matches 2 of 4 boxes: IDTP 2, IDFP 2, IDFN 2
    assert scores["DetA"] == pytest.approx(100) and scores["AssA"] == pytest.approx(50)  # 2 / (4 + 2 - 2) each
    assert scores["HOTA"] == pytest.approx(100 * np.sqrt(0.5))


def test_in_memory_rows_are_checked():
    gt = ground_truth([(1, 1, 100, 100, 50, 100, 1)])
    with pytest.raises(ValueError, match=r"results has frames outside 1\.\.2"):
        evaluate_sequence(gt, box_rows((3, 1, 100, 100, 50, 100, 1)), 2)
    with pytest.raises(ValueError, match="results has an id twice in one frame"):
        evaluate_sequence(gt, box_rows((1, 1, 100, 100, 50, 100, 1), (1, 1, 0, 0, 5, 5, 1)), 2)


def test_distractors_and_ignored_rows():
    gt = ground_truth([(1, 1, 0, 0, 50, 100, 1), (1, 2, 200, 0, 50, 100, 7), (1, 3, 400, 0, 50, 100, 3),
                       (2, 1, 0, 0, 50, 100, 1), (2, 4, 600, 0, 50, 100, 1)])
    gt = GroundTruth(gt.frame, gt.track_id, gt.xywh, [1, 0, 0, 1, 0], gt.class_id, gt.visibility)  # id 4: consider 0
    results = box_rows((1, 1, 0, 0, 50, 100, 1), (1, 2, 200, 0, 50, 100, 1), (1, 3, 400, 0, 50, 100, 1),
                       (2, 1, 0, 0, 50, 100, 1))
    scores = summarize(evaluate_sequence(gt, results, 2))
    assert (scores["TP"], scores["FP"], scores["FN"]) == (2, 1, 0)  # the static person (7) is dropped, the car (3) not
    mot15 = summarize(evaluate_sequence(gt, results, 2, mot15=True))  # no distractors; consider still applies
    assert (mot15["TP"], mot15["FP"], mot15["FN"]) == (2, 2, 0)


def test_markdown_table(tmp_path):
    scores = evaluate_tracking(*make_case(tmp_path, GT, RES))
    table = markdown_table(scores).splitlines()
    assert table[0].startswith("| sequence | HOTA | DetA | AssA | MOTA |") and "IDSW" in table[0]
    assert [row.split("|")[1].strip() for row in table[2:]] == ["SEQ", "COMBINED"]


# ---- bad input ----------------------------------------------------------------------------------------------------

GT = "1,1,10,10,20,40,1,1,1\n2,1,12,10,20,40,1,1,1\n"
RES = "1,1,10,10,20,40,0.9,-1,-1,-1\n"


def make_case(root: Path, gt: str, results: str, *, layout: str = "gt/gt.txt", seqinfo: str | None = None):
    """A 4-frame sequence folder SEQ and its results file; returns (gt folder, results file)."""
    folder = root / "SEQ"
    (folder / layout).parent.mkdir(parents=True, exist_ok=True)
    (folder / layout).write_text(gt)
    (folder / "seqinfo.ini").write_text("[Sequence]\nname=SEQ\nseqLength=4\n" if seqinfo is None else seqinfo)
    (root / "SEQ.txt").write_text(results)
    return folder, root / "SEQ.txt"


@pytest.mark.parametrize(
    ("gt", "results", "message"),
    [
        (GT, RES + "5,1,10,10,20,40,0.9\n", "{res}:2: frame 5 is outside the sequence (frames 1..4)"),
        (GT, RES + "\n1,1,30,10,20,40,0.9\n", "{res}:3: id 1 occurs twice in frame 1 (also at line 1)"),
        (GT, "1,1,10,10,0,40,0.9\n", "{res}:1: box width 0, height 40: both must be > 0"),
        (GT, "1,1,10,ten,20,40,0.9\n", "{res}:1: non-numeric value 'ten'"),
        (GT, "1,1.5,10,10,20,40,0.9\n", "{res}:1: id 1.5 is not an integer"),
        (GT, "1,1,10,10,20,40\n", "{res}:1: expected at least 7 columns"),
        (GT + "\n2,1,50,10,20,40,1,1,1\n", RES, "{gt}:4: id 1 occurs twice in frame 2 (also at line 2)"),
        ("1,1,10,10,20,-4,1,1,1\n", RES, "{gt}:1: box width 20, height -4: both must be > 0"),
        (GT + "3,2,10,10,20,40,0,14,1\n", RES, "{gt}:3: unknown class 14"),
        (GT + "9,1,10,10,20,40,1,1,1\n", RES, "{gt}:3: frame 9 is outside the sequence (frames 1..4"),
        ("1,1,10,10,20,40,1,x,1\n", RES, "{gt}:1: non-numeric value 'x'"),
    ],
)
def test_bad_files_name_the_line(tmp_path, gt, results, message):
    folder, res = make_case(tmp_path, gt, results)
    with pytest.raises(InputError, match=re.escape(message.format(gt=folder / "gt" / "gt.txt", res=res))):
        evaluate_tracking(folder, res)


def test_bad_layouts(tmp_path):
    folder, res = make_case(tmp_path, GT, RES, layout="gt.txt", seqinfo="[Sequence]\nname=SEQ\n")
    with pytest.raises(InputError, match=re.escape(f"{folder / 'seqinfo.ini'}: missing key seqLength")):
        evaluate_tracking(folder, res)
    (folder / "seqinfo.ini").unlink()
    with pytest.raises(InputError, match=re.escape(f"{folder}: no seqinfo.ini;") + ".*seqLength="):
        evaluate_tracking(folder, res)
    with pytest.raises(InputError, match=re.escape(f"{folder}: no seqinfo.ini")):  # also inside a split
        evaluate_tracking(tmp_path, res)

    split = tmp_path / "split"
    make_case(split / "a", GT, RES)
    make_case(split / "b", GT, RES)
    (split / "a" / "SEQ").rename(split / "A")
    (split / "b" / "SEQ").rename(split / "B")
    with pytest.raises(InputError, match="one results file for 2 sequences"):
        evaluate_tracking(split, res)
    results = tmp_path / "results"
    results.mkdir()
    (results / "A.txt").write_text(RES)
    with pytest.raises(InputError, match=re.escape(f"{results / 'B.txt'}: results file for sequence B not found")):
        evaluate_tracking(split, results)
    (results / "B.txt").write_text(RES)
    assert list(evaluate_tracking(split, results).sequences) == ["A", "B"]
    with pytest.raises(InputError, match="no sequences"):
        evaluate_tracking(results, results)
    with pytest.raises(InputError, match="missing: ground-truth folder not found"):
        evaluate_tracking(tmp_path / "missing", results)
    with pytest.raises(InputError, match="nothing: results file or folder not found"):
        evaluate_tracking(split, tmp_path / "nothing")


def test_cli_error_is_one_line(tmp_path):
    folder, res = make_case(tmp_path, GT, RES + "1,1,30,10,20,40,0.9\n")
    result = CliRunner().invoke(main, ["eval", "track", "--gt", str(folder), "--results", str(res)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)  # not an uncaught exception
    assert result.stderr.strip().splitlines() == [f"error: {res}:2: id 1 occurs twice in frame 1 (also at line 1)"]


@shared_data
def test_cli_on_tud(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["eval", "track", "--gt", str(TUD), "--results", str(tud_results(tmp_path / "r")),
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if line.startswith("|")]
    assert [row.split("|")[1].strip() for row in rows[2:]] == ["TUD-Campus", "TUD-Stadtmitte", "COMBINED"]
    assert "| 52.646 |" in rows[2] and "metrics.json" in result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert_published(metrics["combined"], PUBLISHED["both"])
    assert metrics["sequences"]["TUD-Campus"]["IDSW"] == 7
    assert (out / "metrics.md").read_text().splitlines() == rows


def test_nothing_is_scored_or_left_out_silently(tmp_path, caplog):
    split = tmp_path / "split"
    make_case(split / "a", GT, RES)  # results for frame 1 of the ground truth's 1-2
    (split / "a" / "SEQ").rename(split / "A")
    results = tmp_path / "results"
    results.mkdir()
    (results / "A.txt").write_text(GT.replace(",1,1,1\n", ",0.9,-1,-1,-1\n"))  # every frame
    (results / "MOT17-04-FRCNN.txt").write_text(RES)
    with caplog.at_level("WARNING", logger="vidtrack"):
        assert list(evaluate_tracking(split, results).sequences) == ["A"]
    assert caplog.messages == [f"{results}: no ground truth in {split} for MOT17-04-FRCNN.txt: not scored"]
    caplog.clear()
    other = tmp_path / "B.txt"
    other.write_text(RES)
    with caplog.at_level("WARNING", logger="vidtrack"):
        evaluate_tracking(split / "A", other)
    assert caplog.messages == [
        f"{other}: scored as sequence A, although it is named after another",
        f"{other}: the results of A cover frames 1-1 of the ground truth's 1-2; the frames without results count as "
        "missed",
    ]
    printed = CliRunner().invoke(main, ["eval", "track", "--gt", str(split), "--results", str(results)])
    assert printed.exit_code == 0 and printed.stdout.splitlines()[-1] == "scored 1 sequence: A"
