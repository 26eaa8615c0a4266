"""Labelled clips from real files: JAAD, MOTChallenge and ETH/UCY through `vidtrack.datasets.read_clips`."""

import re
import time

import numpy as np
import pytest

from conftest import SHARED, shared_data, small_jaad
from vidtrack.datasets import READERS, Clip, eth_ucy, jaad, motchallenge, read_clips
from vidtrack.errors import InputError
from vidtrack.training.fit import extra_windows, read_data
from vidtrack.training.windows import cut_windows

JAAD = SHARED / "JAAD"
MOT17 = SHARED / "MOT17" / "train"
ETH_UCY = SHARED / "ETH-UCY"
VIDEO_1 = JAAD / "annotations" / "video_0001.xml"

pytestmark = shared_data


# --- JAAD ---


def test_jaad_video_reads_as_in_the_file():
    """video_0001 (checked against the XML by hand): 2 `pedestrian` and 2 `ped` tracks, 600 frames of 1920x1080."""
    clip = jaad.read_video(VIDEO_1)
    assert isinstance(clip, Clip) and clip.name == "video_0001" and clip.fps == 30 and clip.image_size == (1920, 1080)
    assert [t.name for t in clip.tracks] == ["0_1_3b", "0_1_2", "0_1_2b", "0_1_4"]
    assert [t.track_id for t in clip.tracks] == [0, 1, 2, 3]  # the index of the <track> in the file
    assert [(t.first_frame, len(t)) for t in clip.tracks] == [(0, 569), (379, 221), (0, 70), (383, 217)]
    bystander = clip.tracks[1]  # first box: frame 379, xtl 150 ytl 684 xbr 186 ybr 796; last: frame 599
    np.testing.assert_array_equal(bystander.boxes[0], [150, 684, 186, 796])
    np.testing.assert_array_equal(bystander.boxes[-1], [752, 725, 788, 799])
    assert bystander.labelled.all() and bystander.frames[-1] == 599
    # occlusion none / part / full on 554 / 3 / 12 boxes of the first track
    visibility = clip.tracks[0].visibility
    assert [(visibility == v).sum() for v in (1.0, 0.5, 0.0)] == [554, 3, 12]
    # the vehicle: one action per frame (48 accelerating, 84 decelerating, 57 moving slow, 411 stopped)
    assert clip.ego_action.shape == (600,) and (clip.ego_action >= 0).all()
    counts = {name: int((clip.ego_action == k).sum()) for k, name in enumerate(jaad.EGO_ACTIONS)}
    assert counts == {"stopped": 411, "moving_slow": 57, "moving_fast": 0, "decelerating": 84, "accelerating": 48}


def test_a_gap_in_a_track_is_unlabelled():
    """video_0054's bystander 0_54_235 has 139 boxes, with none between frames 31 and 253."""
    track = next(t for t in jaad.read_video(JAAD / "annotations" / "video_0054.xml").tracks if t.name == "0_54_235")
    assert track.labelled.sum() == 139 and len(track) == 139 + 253 - 31 - 1
    gap = (track.frames > 31) & (track.frames < 253)
    assert np.isnan(track.boxes[gap]).all() and np.isnan(track.visibility[gap]).all()
    assert np.isfinite(track.boxes[~gap]).all()


def test_group_tracks_only_on_request():
    """video_0020 has 2 `pedestrian`, 10 `ped` and 1 `people` track (id 0_20_1p)."""
    path = JAAD / "annotations" / "video_0020.xml"
    default = jaad.read_video(path)
    assert len(default.tracks) == 12 and not any("p" in t.name for t in default.tracks)
    everyone = jaad.read_video(path, labels=("pedestrian", "ped", "people"))
    assert len(everyone.tracks) == 13 and "0_20_1p" in [t.name for t in everyone.tracks]
    assert len(jaad.read_video(path, labels=("pedestrian",)).tracks) == 2


def test_split_lists():
    val = jaad.video_ids(JAAD, split="val")
    assert len(val) == 29 and val[0] == "video_0006"
    assert len(jaad.video_ids(JAAD, split="val", subset="high_visibility")) == 30
    assert len(jaad.video_ids(JAAD, split="train", subset="all_videos")) == 188
    # video_0061 is one of the 1280x720 clips, left out of the default subset
    assert "video_0061" in jaad.video_ids(JAAD, split="train", subset="all_videos")
    assert "video_0061" not in jaad.video_ids(JAAD, split="train")
    clips = read_clips(JAAD, split="val")
    assert [c.name for c in clips] == val and all(c.source == JAAD / "annotations" / f"{c.name}.xml" for c in clips)
    assert {c.image_size for c in clips} == {(1920, 1080)}


def test_all_220_videos_match_the_dataset_description():
    """The shared copy: 220 clips, 51,570 frames, 1,614 pedestrian tracks and 50 group tracks, 6 clips at 1280x720."""
    start = time.perf_counter()
    clips = read_clips(JAAD, labels=("pedestrian", "ped", "people"))
    seconds = time.perf_counter() - start
    assert len(clips) == 220 and sum(len(c.ego_action) for c in clips) == 51570
    groups = sum("p" in t.name for c in clips for t in c.tracks)
    assert (sum(len(c.tracks) for c in clips) - groups, groups) == (1614, 50)
    assert sum(c.image_size == (1280, 720) for c in clips) == 6
    assert seconds < 30  # 5-6.5 s on a busy 2-core machine; per-box XPath lookups would be far slower


def test_jaad_windows_are_cut_from_clips():
    clip = jaad.read_video(VIDEO_1)
    windows = cut_windows(clip)
    assert (windows.fps == 30).all() and (windows.sequence == "video_0001").all()
    assert set(windows.track_id.tolist()) <= {0, 1, 2, 3}
    k = 0
    track = clip.tracks[windows.track_id[k]]
    np.testing.assert_array_equal(windows.past[k, -1], track.boxes[windows.frame[k] - track.first_frame])


# --- bad JAAD input ---


def broken_copy(tmp_path, edit):
    """A JAAD root whose video_0001.xml is the real one passed through `edit` (text → text)."""
    root = small_jaad(tmp_path / "JAAD")
    path = root / "annotations" / "video_0001.xml"
    path.write_text(edit(path.read_text()))
    return root, path


def test_malformed_xml_names_file_and_track(tmp_path):
    def cut_inside_track_2(text):
        start = [m.start() for m in re.finditer("<track ", text)][2]
        return text[:start + 3000]  # ends inside a box of the third track

    root, path = broken_copy(tmp_path, cut_inside_track_2)
    with pytest.raises(InputError, match=rf"{re.escape(str(path))}: malformed XML, inside track 2 \(id 0_1_2b\)"):
        jaad.read(root)


def test_non_numeric_coordinate_names_the_track(tmp_path):
    root, path = broken_copy(tmp_path, lambda text: text.replace('xtl="1398.0"', 'xtl="13x8"', 1))
    with pytest.raises(InputError, match=rf"{re.escape(str(path))}: track 2 \(id 0_1_2b\), frame 0: xtl='13x8' is not"):
        read_clips(root, split="train")


def test_inverted_box_names_track_and_frame(tmp_path):
    # track 0's box on frame 1: xtl 463, xbr 532; make xbr 400
    root, path = broken_copy(tmp_path, lambda text: text.replace('xbr="532.0" xtl="463.0"', 'xbr="400.0" xtl="463.0"'))
    with pytest.raises(InputError, match=rf"{re.escape(str(path))}: track 0 \(id 0_1_3b\), frame 1: inverted box"):
        jaad.read(root)


def test_split_list_naming_a_missing_video(tmp_path):
    root = small_jaad(tmp_path / "JAAD", val=("video_0003", "video_9999"))
    with pytest.raises(InputError, match=r"split_ids/default/val\.txt: video video_9999 has no annotation file"):
        read_clips(root, split="val")


@pytest.mark.parametrize(("options", "message"), [
    ({"split": "dev"}, r"unknown JAAD split 'dev'; choose one of train, val, test"),
    ({"split": "val", "subset": "clear"}, r"unknown JAAD subset 'clear'; choose one of default, high_visibility"),
    ({"split": "test"}, r"test\.txt: split list not found \(this copy of JAAD has train, val for subset default\)"),
    ({"subset": "all_videos"}, r"subset 'all_videos' chooses the videos of a split list; give a split too"),
])
def test_unknown_subset_or_split(options, message):
    with pytest.raises(InputError, match=message):
        jaad.read(JAAD, **options)


def test_jaad_root_given_as_mot_and_the_other_way_round():
    with pytest.raises(InputError, match=r"JAAD: found a JAAD root \(annotations/ and split_ids/\), expected a "
                                         r"MOTChallenge sequence folder"):
        read_clips(JAAD, kind="motchallenge")
    with pytest.raises(InputError, match=r"MOT17-09-FRCNN: found a MOTChallenge sequence folder .*, expected a JAAD "
                                         r"root"):
        jaad.read(MOT17 / "MOT17-09-FRCNN")
    with pytest.raises(InputError, match=r"train: found a MOTChallenge .*, expected an ETH/UCY trajectory file"):
        eth_ucy.read(MOT17)


def test_unrecognised_path_lists_the_accepted_layouts(tmp_path):
    with pytest.raises(InputError, match=r"no labelled clips found; accepted: a JAAD root .*; a MOTChallenge .*; an "
                                         r"ETH/UCY trajectory file"):
        read_clips(MOT17 / "MOT17-09-FRCNN" / "gt" / "gt.txt")  # a gt file is not a sequence folder
    with pytest.raises(InputError, match="no such file or folder"):
        read_clips(tmp_path / "missing")
    assert [name for name, reader in READERS.items() if reader.detect(JAAD)] == ["jaad"]
    assert [name for name, reader in READERS.items() if reader.detect(MOT17)] == ["motchallenge"]
    assert [name for name, reader in READERS.items() if reader.detect(ETH_UCY / "biwi_eth.txt")] == ["eth_ucy"]


# --- MOTChallenge ---


def test_mot_clips_match_the_ground_truth():
    clips = read_clips(MOT17)
    assert [c.name for c in clips] == ["MOT17-02-FRCNN", "MOT17-05-FRCNN", "MOT17-09-FRCNN", "MOT17-10-FRCNN"]
    assert [len(c.tracks) for c in clips] == [62, 133, 26, 57]  # pedestrian tracks (class 1, consider 1)
    assert [c.fps for c in clips] == [30, 14, 30, 30] and clips[1].image_size == (640, 480)
    assert all(c.ego_action is None and c.source == MOT17 / c.name for c in clips)
    clip = clips[2]
    rows = [[float(v) for v in line.split(",")] for line in (MOT17 / "MOT17-09-FRCNN" / "gt" / "gt.txt").read_text()
            .split()]
    for frame, track_id, left, top, width, height, consider, class_id, visibility in rows[::97]:
        track = next((t for t in clip.tracks if t.track_id == track_id), None)
        if consider == 1 and class_id == 1:
            k = int(frame) - track.first_frame
            np.testing.assert_allclose(track.boxes[k], [left, top, left + width, top + height], rtol=1e-6)
            assert track.visibility[k] == pytest.approx(visibility, abs=1e-6)
        else:
            assert track is None or not (track.frames == frame).any()
    assert [c.name for c in read_clips(MOT17 / "MOT17-09-FRCNN")] == ["MOT17-09-FRCNN"]


def test_mot_clips_keep_the_classes_asked_for(tmp_path):
    folder = tmp_path / "seq"
    (folder / "gt").mkdir(parents=True)
    (folder / "seqinfo.ini").write_text("[Sequence]\nname=seq\nframeRate=10\nseqLength=5\nimWidth=640\nimHeight=480\n")
    (folder / "gt" / "gt.txt").write_text(
        "1,1,10,10,20,40,1,1,0.5\n3,1,12,10,20,40,1,1,1\n"  # a pedestrian, frame 2 unlabelled
        "1,2,50,10,20,40,1,2,1\n"  # a person on a vehicle
        "1,3,90,10,20,40,0,1,1\n"  # consider 0
    )
    one, = motchallenge.read(folder)
    assert [t.track_id for t in one.tracks] == [1]
    np.testing.assert_array_equal(one.tracks[0].visibility, [0.5, np.nan, 1.0])
    assert np.isnan(one.tracks[0].boxes[1]).all() and one.tracks[0].labelled.tolist() == [True, False, True]
    assert [t.track_id for t in motchallenge.read(folder, classes=(1, 2))[0].tracks] == [1, 2]


# --- ETH/UCY ---


def test_eth_ucy_clip_of_pseudo_boxes():
    clip, = read_clips(ETH_UCY / "biwi_hotel.txt")
    assert clip.name == "biwi_hotel" and clip.fps == 15 and clip.image_size == (1920, 1080)
    # one track per run of annotations 0.4 s apart (frame numbers 10 apart), counted here from the text
    rows = np.loadtxt(ETH_UCY / "biwi_hotel.txt")
    runs = 0
    for pedestrian in np.unique(rows[:, 1]):
        frames = np.sort(rows[rows[:, 1] == pedestrian, 0])
        runs += sum(len(run) >= 2 for run in np.split(frames, np.flatnonzero(np.diff(frames) > 10) + 1))
    assert len(clip.tracks) == runs and len({t.track_id for t in clip.tracks}) > 300
    assert all((t.visibility == 1).all() and t.labelled.all() for t in clip.tracks)
    heights = np.concatenate([t.boxes[:, 3] - t.boxes[:, 1] for t in clip.tracks])
    assert 0.02 < np.median(heights / 1080) < 0.6
    again, = eth_ucy.read(ETH_UCY / "biwi_hotel.txt", fps=15)
    np.testing.assert_array_equal(clip.tracks[5].boxes, again.tracks[5].boxes)  # seeded cameras


def test_extra_windows_are_those_of_the_old_trajectory_windows():
    """Numbers from the implementation before clips (forecast/trajectories.py: extra_windows, seed 0)."""
    windows = extra_windows([ETH_UCY / "biwi_hotel.txt"], seed=0)
    assert len(windows) == 4128
    expected = {
        0: (30.0, 3, 48, [823.5682708511716, 678.841113994174, 886.5079969886916, 830.2008139575476],
            [656.3969058297411, 686.8071007596934, 724.9297953399674, 851.6174396421061]),
        1000: (30.0, 398, 20208, [1168.4644579692847, 542.7103781684938, 1250.8131568113051, 726.8837065242255],
               [1070.265890565295, 540.8108131697179, 1139.9406902686962, 696.6388947829078]),
        4127: (15.0, 419, 10788, [380.123050585878, 422.1626773302995, 481.4137989575571, 649.1104045732648],
               [130.64081021284952, 410.56946600130624, 273.0375875044791, 729.6176070464735]),
    }
    for k, (fps, track_id, frame, now, last) in expected.items():
        assert (windows.fps[k], windows.track_id[k], windows.frame[k]) == (fps, track_id, frame)
        np.testing.assert_allclose(windows.past[k, -1], now, rtol=1e-12)
        np.testing.assert_allclose(windows.future[k, -1], last, rtol=1e-12)


def test_read_data_mixes_datasets():
    clips = read_data([MOT17 / "MOT17-09-FRCNN", JAAD, ETH_UCY / "uni_examples.txt"], split="val")
    assert [c.name for c in clips[:2]] == ["MOT17-09-FRCNN", "video_0006"] and clips[-1].name == "uni_examples"
    assert len(clips) == 1 + 29 + 1
