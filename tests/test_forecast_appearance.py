"""Appearance features for forecaster training: pooled at the labelled boxes of real MOT17 frames, cached on disk."""

import json
import shutil
from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from conftest import SHARED, shared_data
from vidtrack.cli import main
from vidtrack.datasets import read_clips
from vidtrack.detect.detector import Detector
from vidtrack.detect.features import APPEARANCE, HAS_APPEARANCE
from vidtrack.detect.weights import resolve_weights
from vidtrack.forecast.features import window_features
from vidtrack.forecast.lstm import LSTMConfig, TrajectoryLSTM
from vidtrack.io.motchallenge import read_ground_truth
from vidtrack.training import appearance as appearance_module
from vidtrack.training.appearance import AppearanceTable, cache_dir, sequence_appearance
from vidtrack.training.batches import make_batch
from vidtrack.training.fit import evaluate_forecaster, load_windows
from vidtrack.training.windows import PAST_FRAMES, Augmentation, Windows, augment, cut_windows

pytestmark = shared_data

SEQ = SHARED / "MOT17" / "train" / "MOT17-02-FRCNN"  # frames 1..4 only, ground truth for 600
LAST_GT_FRAME = 80  # enough for 0.5 s + 1.5 s windows at 30 fps


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """MOT17-02 with its 4 frames and the ground truth of frames 1..80, and the same labels without frames."""
    root = tmp_path_factory.mktemp("clips")
    rows = [line for line in (SEQ / "gt" / "gt.txt").read_text().splitlines() if int(line.split(",")[0]) <= 80]
    for name in ("MOT17-02-FRCNN", "no-frames"):
        (root / name / "gt").mkdir(parents=True)
        (root / name / "seqinfo.ini").write_text((SEQ / "seqinfo.ini").read_text().replace("MOT17-02-FRCNN", name))
        (root / name / "gt" / "gt.txt").write_text("\n".join(rows) + "\n")
    shutil.copytree(SEQ / "img1", root / "MOT17-02-FRCNN" / "img1")
    return root


@pytest.fixture(scope="module")
def clip(clips):
    return clips / "MOT17-02-FRCNN"


def labelled(folder):
    """The clip of a sequence folder, as `vidtrack train` reads it."""
    clip, = read_clips(folder)
    return clip


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory):
    """A $VIDTRACK_CACHE with the real weights linked in."""
    root = tmp_path_factory.mktemp("cache")
    (root / "weights").mkdir()
    (root / "weights" / "yolov8n.pt").symlink_to(resolve_weights("yolov8n.pt"))
    return root


@pytest.fixture(scope="module")
def table(clip, cache_root):
    return sequence_appearance(clip, device="cpu", cache=cache_root / "appearance")


def test_one_unit_vector_per_labelled_box_of_the_frames(clip, table):
    gt = read_ground_truth(clip / "gt" / "gt.txt")
    shown = gt[gt.frame <= 4]
    assert len(table) == len(shown) > 50 and table.vectors.shape == (len(shown), 448)
    assert table.vectors.dtype == np.float16 and set(table.frame.tolist()) == {1, 2, 3, 4}
    assert set(zip(table.frame.tolist(), table.track_id.tolist())) == set(zip(shown.frame.tolist(),
                                                                           shown.track_id.tolist()))
    vectors = table.vectors.astype(np.float32)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=2e-3)
    # Different people look different; one person three frames later looks more like themself than like the others.
    first, fourth = (vectors[table.frame == f] for f in (1, 4))
    ids = np.intersect1d(table.track_id[table.frame == 1], table.track_id[table.frame == 4])
    first = first[np.searchsorted(table.track_id[table.frame == 1], ids)]
    fourth = fourth[np.searchsorted(table.track_id[table.frame == 4], ids)]
    similarity = first @ fourth.T
    different = similarity[~np.eye(len(ids), dtype=bool)]
    assert different.min() < 0.9 and np.diag(similarity).mean() > different.mean()
    assert (np.diag(similarity) > 0.97).mean() > 0.8


def test_the_detector_pools_labelled_boxes_as_its_detections(table, clip):
    """`Detector.appearance` at a detection's box is the appearance that `Detector.__call__` gives the detection;
    the cache holds `Detector.appearance` at the labelled boxes."""
    detector = Detector("yolov8n.pt", classes=["person"], device="cpu", appearance="neck")  # what the cache holds
    frame = cv2.imread(str(clip / "img1" / "000001.jpg"))
    [detections] = detector([frame])
    inside = (detections.xyxy[:, :2] > 2).all(axis=1) & (detections.xyxy[:, 2] < 1918) & (detections.xyxy[:, 3] < 1078)
    [pooled] = detector.appearance([frame], [detections.xyxy[inside]])
    np.testing.assert_allclose(pooled, detections.features[inside][:, APPEARANCE], atol=1e-3)
    [empty] = detector.appearance([frame], [np.zeros((0, 4))])
    assert empty.shape == (0, 448)
    at = table.frame == 1
    gt = read_ground_truth(clip / "gt" / "gt.txt")
    boxes = np.stack([gt[(gt.frame == 1) & (gt.track_id == t)].xyxy[0] for t in table.track_id[at]])
    [labelled] = detector.appearance([frame], [boxes])
    np.testing.assert_allclose(table.vectors[at].astype(np.float32), labelled, atol=2e-3)


def test_a_second_call_reads_the_cache(clip, cache_root, table, monkeypatch):
    def no_detector(*args, **kwargs):
        raise AssertionError("the cached table must not run the detector")

    monkeypatch.setattr(appearance_module, "Detector", no_detector)
    again = sequence_appearance(clip, device="cpu", cache=cache_root / "appearance")
    np.testing.assert_array_equal(again.vectors, table.vectors)
    np.testing.assert_array_equal(again.frame, table.frame)
    np.testing.assert_array_equal(again.track_id, table.track_id)
    monkeypatch.setenv("VIDTRACK_CACHE", str(cache_root))
    assert cache_dir() == cache_root / "appearance"
    assert sequence_appearance(clip, device="cpu") is not None  # found through $VIDTRACK_CACHE


@pytest.mark.parametrize("damage", ["garbage", "truncated", "other key"])
def test_a_broken_cache_file_is_computed_again(clip, table, tmp_path, caplog, damage):
    from safetensors.numpy import save_file

    folder = tmp_path / "appearance"
    sequence_appearance(clip, device="cpu", cache=folder)
    [path] = folder.glob("*.safetensors")
    if damage == "garbage":
        path.write_bytes(b"not a safetensors file")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:5000])
    else:
        save_file({"frame": table.frame, "track_id": table.track_id, "vectors": table.vectors}, str(path),
                  {"key": "0" * 20})
    rebuilt = sequence_appearance(clip, device="cpu", cache=folder)
    assert "computing it again" in caplog.text
    np.testing.assert_allclose(rebuilt.vectors.astype(np.float32), table.vectors.astype(np.float32), atol=2e-3)
    caplog.clear()
    sequence_appearance(clip, device="cpu", cache=folder)
    assert "computing it again" not in caplog.text and [p.name for p in folder.iterdir()] == [path.name]


def test_a_clip_without_frames_has_no_table(clips, tmp_path):
    assert sequence_appearance(clips / "no-frames", device="cpu", cache=tmp_path) is None
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(("real", "reverse", "subsample"), [(True, False, 1), (False, False, 1), (False, True, 1),
                                                         (False, False, 2)])
def test_windows_have_appearance_exactly_on_the_frames_shown(clip, table, real, reverse, subsample):
    """The real frames 1..4 only reach windows that run forward (a backward window needs 1.5 s before its past);
    a made-up table for frames 20..60 checks the indices when running backwards and at half the frame rate."""
    first, last = (1, 4) if real else (20, 60)
    if not real:
        gt = read_ground_truth(clip / "gt" / "gt.txt")
        gt = gt[(gt.frame >= first) & (gt.frame <= last)]
        order = np.lexsort((gt.track_id, gt.frame))
        vectors = np.random.default_rng(0).normal(size=(len(gt), 448)).astype(np.float16)
        table = AppearanceTable(gt.frame[order], gt.track_id[order], vectors)
    windows = cut_windows(labelled(clip), appearance=table, stride_s=0, reverse=reverse, subsample=subsample)
    step = subsample * (-1 if reverse else 1)
    frames = windows.frame[:, None] - step * np.arange(PAST_FRAMES - 1, -1, -1)[None]  # (N, T) frame of each step
    seen = np.isfinite(windows.past).all(axis=2)
    shown = seen & (frames >= first) & (frames <= last)
    expected = np.where(shown, table.rows(frames, np.broadcast_to(windows.track_id[:, None], frames.shape)), -1)
    assert (expected[shown] >= 0).all() and shown.sum() > 50 and (seen & ~shown).any()
    np.testing.assert_array_equal(windows.appearance, expected)
    assert windows.vectors is table.vectors


def test_features_carry_the_appearance(clip, table):
    windows = cut_windows(labelled(clip), appearance=table)
    features, seen = window_features(windows.past, windows.fps, windows.image_size, windows.appearance,
                                     windows.vectors)
    has = seen & (windows.appearance >= 0)
    assert has.any() and (~has).any()
    np.testing.assert_array_equal(features[..., HAS_APPEARANCE], has.astype(np.float32))
    np.testing.assert_array_equal(features[has][:, APPEARANCE], table.vectors[windows.appearance[has]])
    assert not features[~has][:, APPEARANCE].any()
    motion, _ = window_features(windows.past, windows.fps, windows.image_size)  # the rest is unchanged
    other = np.ones(features.shape[-1], dtype=bool)
    other[APPEARANCE] = other[HAS_APPEARANCE] = False
    np.testing.assert_array_equal(features[..., other], motion[..., other])
    batch = make_batch(windows)["features"].numpy()
    assert batch[..., HAS_APPEARANCE].sum() == has.sum()
    np.testing.assert_array_equal(np.sort(batch[batch[..., HAS_APPEARANCE] == 1][:, APPEARANCE], axis=0),
                                  np.sort(features[has][:, APPEARANCE], axis=0))


def test_rows_augmentation_and_concatenation_keep_the_appearance(clip, clips, table):
    windows = cut_windows(labelled(clip), appearance=table)
    flipped = augment(windows, np.random.default_rng(0), Augmentation(flip=1.0))
    np.testing.assert_array_equal(flipped.appearance, windows.appearance)
    assert flipped.vectors is table.vectors and windows[::2].vectors is table.vectors
    motion_only = cut_windows(labelled(clips / "no-frames"))
    assert (motion_only.appearance == -1).all() and len(motion_only.vectors) == 0
    copy = replace(windows, vectors=windows.vectors.copy())  # another sequence's table
    both = Windows.concat([windows, motion_only, copy, windows[:10]])
    assert len(both.vectors) == 2 * len(table)  # each table once
    features, _ = window_features(both.past, both.fps, both.image_size, both.appearance, both.vectors)
    alone, _ = window_features(windows.past, windows.fps, windows.image_size, windows.appearance, windows.vectors)
    n, m = len(windows), len(motion_only)
    np.testing.assert_array_equal(features[:n], alone)
    np.testing.assert_array_equal(features[n + m:2 * n + m], alone)
    np.testing.assert_array_equal(features[2 * n + m:], alone[:10])
    assert not features[n:n + m, :, HAS_APPEARANCE].any()


def test_a_model_that_is_not_motion_only_reads_the_appearance(clip, table):
    windows = cut_windows(labelled(clip), appearance=table)
    windows = windows[(windows.appearance >= 0).any(axis=1)]
    blind = replace(windows, appearance=np.full_like(windows.appearance, -1))
    torch.manual_seed(0)
    for motion_only in (False, True):
        model = TrajectoryLSTM(LSTMConfig(motion_only=motion_only)).eval()
        with torch.no_grad():
            seeing, blinded = (model(make_batch(w)["features"])[0] for w in (windows, blind))
        assert torch.equal(seeing, blinded) == motion_only


def test_train_and_evaluate_with_appearance(clips, cache_root, table, tmp_path, monkeypatch):
    """The CLI trains a model that reads all features, on windows with appearance where a clip has frames, from the
    cache in $VIDTRACK_CACHE (built by the `table` fixture: the detector does not run again)."""
    def no_detector(*args, **kwargs):
        raise AssertionError("the cached table must not run the detector")

    monkeypatch.setattr(appearance_module, "Detector", no_detector)
    monkeypatch.setenv("VIDTRACK_CACHE", str(cache_root))
    out = tmp_path / "fc"
    result = CliRunner().invoke(main, ["train", "--data", str(clips), "--out", str(out), "--epochs", "1",
                                       "--val-sequences", "no-frames", "--device", "cpu", "--appearance"])
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "best" / "config.json").read_text())
    assert meta["config"]["motion_only"] is False
    assert meta["data"]["appearance"] is True and meta["data"]["sequences_with_frames"] == ["MOT17-02-FRCNN"]
    windows = load_windows(read_clips(clips / "MOT17-02-FRCNN"), train=True, appearance=True, device="cpu")
    assert (windows.appearance >= 0).any() and len(windows.vectors) == len(table)  # one table for all cuts
    evaluate_forecaster(clips, out / "best", tmp_path / "eval", appearance=True)
    report = json.loads((tmp_path / "eval" / "windows.json").read_text())
    assert report["sequences_with_appearance"] == ["MOT17-02-FRCNN"]
