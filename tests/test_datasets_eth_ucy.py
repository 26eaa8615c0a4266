"""Top-down pedestrian trajectories (ETH/UCY) as clips of pseudo-box tracks, and the windows cut from them."""

import numpy as np
import pytest

from conftest import SHARED, shared_data
from vidtrack.datasets import eth_ucy
from vidtrack.datasets.eth_ucy import PERSON_HEIGHT_M, Camera, pseudo_boxes, read_trajectories, resample
from vidtrack.errors import InputError
from vidtrack.training.windows import PAST_FRAMES, TIMES, Windows, cut_windows

ETH_UCY = SHARED / "ETH-UCY"


def trajectory_windows(path, *, fps=15.0, seed=0, camera=None, **cut):
    """The windows of a file's clip at `fps`, cut as `vidtrack train` cuts any clip."""
    clip, = eth_ucy.read(path, fps=fps, seed=seed, camera=camera or Camera())
    return cut_windows(clip, **cut)


def write(path, rows):
    path.write_text("".join("\t".join(str(v) for v in row) + "\n" for row in rows))
    return path


def straight(pedestrian=1, start=100, count=20, speed=1.5):
    """A pedestrian walking along x at `speed` m/s, annotated every 0.4 s (frames step by 10)."""
    return [(start + 10 * k, pedestrian, round(speed * 0.4 * k, 6), 2.0) for k in range(count)]


@shared_data
def test_reads_a_real_file():
    data = read_trajectories(ETH_UCY / "biwi_hotel.txt")
    assert len(data) == 6543 and data.xy.shape == (6543, 2) and len(np.unique(data.pedestrian)) == 389
    assert (data.frame % 10 == 0).all() and np.isfinite(data.xy).all() and data.line[0] == 1


@shared_data
def test_real_windows_have_the_mot_layout():
    w = trajectory_windows(ETH_UCY / "uni_examples.txt", fps=15, stride_s=0.4)
    assert isinstance(w, Windows) and len(w) > 1000
    assert w.past.shape[1:] == (PAST_FRAMES, 4) and w.future.shape[1:] == (len(TIMES), 4)
    assert (w.fps == 15).all() and (w.sequence == "uni_examples").all() and (w.image_size == [1920, 1080]).all()
    assert (w.appearance == -1).all()
    assert np.isnan(w.past[:, :PAST_FRAMES - 9]).all() and np.isfinite(w.past[:, PAST_FRAMES - 9:]).any()
    assert np.isfinite(w.past[:, -1]).all() and np.isfinite(w.future).all()
    assert (np.diff(w.frame[w.track_id == w.track_id[0]]) == 6).all()  # one window every 0.4 s = 6 frames
    height = w.past[:, -1, 3] - w.past[:, -1, 1]
    assert 0.02 < np.median(height / 1080) < 0.6  # MOT17-like box sizes


ACROSS = Camera(turn=(0.0, 0.0))  # no turn: walking along top-down x is walking across the view


@pytest.mark.parametrize("fps", [10, 15, 30])
def test_straight_walk_gives_a_constant_velocity_box(tmp_path, fps):
    """Resampling keeps constant-speed motion exact; walking across the view at constant depth, the box keeps its
    size and moves at a constant image velocity of speed / person height box heights per second."""
    path = write(tmp_path / "walk.txt", straight(speed=1.5))
    data = read_trajectories(path)
    (frames, xy), = resample(data.frame * 0.04, data.xy, fps)
    assert frames[0] == round(100 * 0.04 * fps) and frames[-1] == round(290 * 0.04 * fps)
    np.testing.assert_allclose(np.diff(xy[:, 0]), 1.5 / fps, atol=1e-9)
    np.testing.assert_allclose(xy[:, 1], 2.0)
    boxes = pseudo_boxes(xy, np.random.default_rng(fps), ACROSS)
    h = boxes[:, 3] - boxes[:, 1]
    np.testing.assert_allclose(h, h[0], rtol=1e-9)
    np.testing.assert_allclose(boxes[:, 3], boxes[0, 3], rtol=1e-9)  # no vertical motion
    np.testing.assert_allclose(np.diff(boxes[:, 0]) * fps / h[0], 1.5 / PERSON_HEIGHT_M, rtol=1e-6)
    np.testing.assert_allclose((boxes[:, 2] - boxes[:, 0]) / h, (boxes[0, 2] - boxes[0, 0]) / h[0], rtol=1e-9)


@pytest.mark.parametrize("fps", [15, 30])
def test_straight_walk_windows_are_constant_velocity(tmp_path, fps):
    """Every coordinate of past and future boxes of a window lies on a line in time (1/30 s apart in the future)."""
    path = write(tmp_path / "walk.txt", straight(speed=1.5))
    w = trajectory_windows(path, fps=fps, camera=ACROSS, seed=3)
    assert (w.fps == fps).all() and (w.track_id == 1).all()
    boxes = np.concatenate([w.past[:, PAST_FRAMES - round(0.5 * fps) - 1:], w.future], axis=1)
    past_t = np.arange(-round(0.5 * fps), 1) / fps
    t = np.concatenate([past_t, TIMES])
    full = np.isfinite(boxes).all(axis=(1, 2))
    assert full.sum() > 10
    for k in np.flatnonzero(full):
        for c in range(4):
            slope, intercept = np.polyfit(t, boxes[k, :, c], 1)
            np.testing.assert_allclose(boxes[k, :, c], slope * t + intercept, atol=1e-6)
        h = boxes[k, -1, 3] - boxes[k, -1, 1]
        assert np.polyfit(t, boxes[k, :, 0], 1)[0] / h == pytest.approx(1.5 / PERSON_HEIGHT_M)


def test_gaps_are_not_bridged(tmp_path):
    """A missing annotation (0.8 s between two) splits the track: no frame and no window inside the gap."""
    rows = straight(count=20)
    del rows[10]  # frame 200 is missing: frames 190 and 210 are 0.8 s apart
    path = write(tmp_path / "gap.txt", rows)
    data = read_trajectories(path)
    pieces = resample(data.frame * 0.04, data.xy, 10)
    assert [(f[0], f[-1]) for f, _ in pieces] == [(40, 76), (84, 116)]  # 0.1 s frames: 4.0-7.6 s and 8.4-11.6 s
    w = trajectory_windows(path, fps=10, stride_s=0.1)
    first, second = w.frame <= 76, w.frame >= 84
    assert (first | second).all()
    # No window looks into the future across the gap: every window of the first piece ends by frame 76.
    assert (w.frame[first] + 15 <= 76).all()
    # ... nor back into the past across it: a window of the second piece sees only that piece's frames.
    seen = np.isfinite(w.past[second, :, 0]).sum(axis=1)
    assert (seen <= w.frame[second] - 84 + 1).all()
    # A single step of 0.4 s is interpolated as usual.
    assert len(resample(data.frame[:10] * 0.04, data.xy[:10], 10)) == 1


def test_a_single_annotation_or_a_short_track_gives_no_window(tmp_path):
    path = write(tmp_path / "short.txt", [(10, 1, 0.0, 0.0), *straight(pedestrian=2, count=5)])
    with pytest.raises(InputError, match="no track is long enough"):
        trajectory_windows(path)


def test_reverse_and_subsample(tmp_path):
    path = write(tmp_path / "walk.txt", straight(count=30))
    forward = trajectory_windows(path, fps=30, stride_s=0.1)
    backward = trajectory_windows(path, fps=30, stride_s=0.1, reverse=True)
    assert len(forward) == len(backward) and (np.diff(backward.frame) < 0).all()
    half = trajectory_windows(path, fps=30, subsample=2)
    assert (half.fps == 15).all() and np.isnan(half.past[:, :PAST_FRAMES - 9]).all()
    with pytest.raises(InputError, match="above the 30 fps"):
        trajectory_windows(path, fps=60)
    same = trajectory_windows(path, fps=30, stride_s=0.1)
    np.testing.assert_array_equal(forward.past, same.past)  # seeded: the same camera every time


@pytest.mark.parametrize(("line", "message"), [
    ("120\t1\t0.5", r"bad\.txt:3: expected 4 columns"),
    ("120\t1\t0.5\tx", r"bad\.txt:3: non-numeric value 'x'"),
    ("120.5\t1\t0.5\t0.1", r"bad\.txt:3: frame 120.5 is not an integer"),
    ("120\t1.5\t0.5\t0.1", r"bad\.txt:3: pedestrian id 1.5 is not an integer"),
    ("120\t1\tnan\t0.1", r"bad\.txt:3: NaN or inf"),
    ("100\t1\t0.5\t0.1", r"bad\.txt:3: pedestrian 1 occurs twice in frame 100 \(also at line 1\)"),
])
def test_malformed_rows_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "bad.txt"
    path.write_text(f"100\t1\t0.0\t0.0\n110\t1\t0.2\t0.0\n{line}\n")
    with pytest.raises(InputError, match=message):
        read_trajectories(path)


def test_missing_or_empty_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_trajectories(tmp_path / "none.txt")
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(InputError, match="no rows"):
        read_trajectories(tmp_path / "empty.txt")
