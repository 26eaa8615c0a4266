"""JAAD (Joint Attention in Autonomous Driving): pedestrians seen from a moving car, as clips.

A JAAD root holds `annotations/video_NNNN.xml` (CVAT interpolation XML, one `<track>` per object, one `<box>` per
frame), `annotations_vehicle/video_NNNN_vehicle.xml` (the car's action per frame) and
`split_ids/<subset>/<split>.txt` (the dataset's own lists of video ids). Per box: `frame` (0-based, kept as given),
`xtl ytl xbr ybr` in pixels, `occluded` (0/1), `outside` (1: not labelled on that frame, stored as NaN), and
attributes, of which `id` (the dataset's pedestrian id, `Clip.tracks[i].name`) and `occlusion` (none, part, full:
visibility 1, 0.5, 0; without it the `occluded` flag gives 1 or 0.5) are read. Clips run at 30 fps.

Track labels are `pedestrian` (with behaviour labels), `ped` (bystanders) and `people` (groups, ids with a `p`).
As JAAD's own jaad_data.py does for trajectories, only `pedestrian` and `ped` are kept by default; group tracks are
kept only when `labels` names `people`. A track's `track_id` is its index among the file's `<track>` elements.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from vidtrack.datasets.base import Clip, LabelledTrack, wrong_layout
from vidtrack.errors import InputError

LAYOUT = "a JAAD root (annotations/ and split_ids/)"
FPS = 30.0
SUBSETS = ("default", "high_visibility", "all_videos")
SPLITS = ("train", "val", "test")
PEDESTRIAN_LABELS = ("pedestrian", "ped")  # the default: single pedestrians, no groups
EGO_ACTIONS = ("stopped", "moving_slow", "moving_fast", "decelerating", "accelerating")  # Clip.ego_action values
UNKNOWN_ACTION = -1  # a frame the vehicle file does not list
VISIBILITY = {"none": 1.0, "part": 0.5, "full": 0.0}  # the `occlusion` attribute


def detect(path: str | os.PathLike) -> bool:
    path = Path(path)
    return (path / "annotations").is_dir() and (path / "split_ids").is_dir()


def read(
    root: str | os.PathLike, *, split: str | None = None, subset: str = "default",
    labels: tuple[str, ...] = PEDESTRIAN_LABELS,
) -> list[Clip]:
    """The clips of the videos in `split_ids/<subset>/<split>.txt` in the list's order, or of every annotation file
    (by file name) when `split` is None. `labels` are the track labels kept (see the module docstring)."""
    root = Path(root)
    if not detect(root):
        raise wrong_layout(root, LAYOUT)
    if split is None:
        _check_choice("subset", subset, SUBSETS)
        if subset != "default":
            raise InputError(f"JAAD subset {subset!r} chooses the videos of a split list; give a split too "
                             f"({', '.join(SPLITS)})")
        files = sorted((root / "annotations").glob("video_*.xml"))
        if not files:
            raise InputError(f"{root / 'annotations'}: no annotation files (video_NNNN.xml)")
    else:
        split_file = root / "split_ids" / subset / f"{split}.txt"
        files = []
        for video in video_ids(root, split=split, subset=subset):
            file = root / "annotations" / f"{video}.xml"
            if not file.is_file():
                raise InputError(f"{split_file}: video {video} has no annotation file ({file} not found)")
            files.append(file)
    return [read_video(file, labels=labels) for file in files]


def video_ids(root: str | os.PathLike, *, split: str, subset: str = "default") -> list[str]:
    """The video ids of a split list, one a line (blank lines ignored)."""
    _check_choice("subset", subset, SUBSETS)
    _check_choice("split", split, SPLITS)
    path = Path(root) / "split_ids" / subset / f"{split}.txt"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        present = sorted(p.stem for p in path.parent.glob("*.txt"))
        raise InputError(f"{path}: split list not found (this copy of JAAD has {', '.join(present) or 'none'} "
                         f"for subset {subset})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read: {e}") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def _check_choice(what: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise InputError(f"unknown JAAD {what} {value!r}; choose one of {', '.join(allowed)}")


def read_video(path: str | os.PathLike, *, labels: tuple[str, ...] = PEDESTRIAN_LABELS) -> Clip:
    """One annotation file as a clip, with the vehicle's actions from `../annotations_vehicle/` when present."""
    path = Path(path)
    root = _parse(path)
    size = (_meta_int(path, root, "original_size/width"), _meta_int(path, root, "original_size/height"))
    frame_count = _meta_int(path, root, "size")
    tracks = []
    for index, element in enumerate(root.iter("track")):
        label = element.get("label", "")
        if label not in labels:
            continue
        track = _read_track(path, element, index, frame_count)
        if track is not None and ("p" not in track.name or "people" in labels):
            tracks.append(track)
    vehicle = path.parent.parent / "annotations_vehicle" / f"{path.stem}_vehicle.xml"
    ego = read_ego_actions(vehicle, frame_count) if vehicle.is_file() else None
    return Clip(path.stem, FPS, size, tracks, path, ego, dataset="jaad")


def _parse(path: Path) -> ET.Element:
    try:
        return ET.parse(path).getroot()
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e}") from None
    except ET.ParseError as e:  # its message ends with the line and column
        line, column = e.position
        raise InputError(f"{path}: malformed XML{_where(path, line, column)}: {e}") from None


def _where(path: Path, line: int, column: int) -> str:
    """", inside track K (id X)" when the error position lies inside a `<track>` element."""
    text = path.read_bytes().decode("utf-8", errors="replace")
    lines = text.split("\n")
    offset = sum(len(x) + 1 for x in lines[:line - 1]) + column
    before = text[:offset]
    opened = before.count("<track ") + before.count("<track>")
    if opened == 0 or before.count("</track>") >= opened:
        return ""
    start = max(before.rfind("<track "), before.rfind("<track>"))
    found = re.search(r'name="id">([^<]*)<', before[start:])
    return f", inside track {opened - 1}" + (f" (id {found.group(1)})" if found else "")


def _meta_int(path: Path, root: ET.Element, key: str) -> int:
    element = root.find(f"meta/task/{key}")
    text = element.text.strip() if element is not None and element.text else ""
    if not text.isdigit() or int(text) <= 0:
        raise InputError(f"{path}: <meta><task> needs a positive <{key.replace('/', '><')}>, found {text!r}")
    return int(text)


def _read_track(path: Path, element: ET.Element, index: int, frame_count: int) -> LabelledTrack | None:
    """The boxes of one `<track>`; None for a track without boxes."""
    boxes = element.findall("box")
    if not boxes:
        return None
    name = ""
    for child in boxes[0]:
        if child.get("name") == "id":
            name = (child.text or "").strip()
    where = f"{path}: track {index}" + (f" (id {name})" if name else "")
    attributes = [box.attrib for box in boxes]
    try:
        rows = [(a["frame"], a["xtl"], a["ytl"], a["xbr"], a["ybr"], a.get("occluded", "0"), a.get("outside", "0"))
                for a in attributes]
    except KeyError as e:
        raise InputError(f"{where}: a <box> has no {e.args[0]} attribute") from None
    occlusion = [a.text for a in element.iter("attribute") if a.get("name") == "occlusion"]
    if len(occlusion) != len(boxes):  # not one per box: find each box's own
        occlusion = [next((a.text for a in box if a.get("name") == "occlusion"), None) for box in boxes]
    try:
        values = np.array(rows, dtype=np.float64)
    except ValueError:
        for row in rows:
            for key, text in zip(("frame", "xtl", "ytl", "xbr", "ybr", "occluded", "outside"), row):
                try:
                    float(text)
                except ValueError:
                    raise InputError(f"{where}, frame {row[0]}: {key}={text!r} is not a number") from None
        raise
    if not np.isfinite(values).all():
        i = int(np.argmax(~np.isfinite(values).all(axis=1)))
        raise InputError(f"{where}, frame {rows[i][0]}: NaN or inf value")
    frame = values[:, 0]
    bad = (frame != np.round(frame)) | (frame < 0) | (frame >= frame_count)
    if bad.any():
        raise InputError(f"{where}: frame {rows[int(np.argmax(bad))][0]} is not a frame of the video "
                         f"(0..{frame_count - 1})")
    inverted = (values[:, 3] < values[:, 1]) | (values[:, 4] < values[:, 2])
    if inverted.any():
        i = int(np.argmax(inverted))
        raise InputError(f"{where}, frame {rows[i][0]}: inverted box (xtl {rows[i][1]}, ytl {rows[i][2]}, "
                         f"xbr {rows[i][3]}, ybr {rows[i][4]})")
    frame = frame.astype(np.int64)
    repeated = np.flatnonzero(np.bincount(frame - frame.min()) > 1)
    if len(repeated):
        raise InputError(f"{where}, frame {int(repeated[0] + frame.min())}: two boxes on one frame")
    unknown = [o for o in occlusion if o is not None and o not in VISIBILITY]
    if unknown:
        raise InputError(f"{where}: occlusion {unknown[0]!r} is not one of {', '.join(VISIBILITY)}")
    given = np.array([VISIBILITY[o] if o is not None else np.nan for o in occlusion])
    visibility = np.where(np.isfinite(given), given, np.where(values[:, 5] != 0, 0.5, 1.0))
    labelled = values[:, 6] == 0
    first = int(frame.min())
    track_boxes = np.full((int(frame.max()) - first + 1, 4), np.nan)
    track_visibility = np.full(len(track_boxes), np.nan)
    track_boxes[frame[labelled] - first] = values[labelled, 1:5]
    track_visibility[frame[labelled] - first] = visibility[labelled]
    return LabelledTrack(index, first, track_boxes, track_visibility, name=name)


def read_ego_actions(path: str | os.PathLike, frame_count: int) -> np.ndarray:
    """(frame_count,) int8 index into `EGO_ACTIONS` per frame, `UNKNOWN_ACTION` where the file lists none."""
    path = Path(path)
    actions = np.full(frame_count, UNKNOWN_ACTION, dtype=np.int8)
    codes = {name: k for k, name in enumerate(EGO_ACTIONS)}
    for element in _parse(path).iter("frame"):
        frame, action = element.get("id", ""), element.get("action", "")
        if not frame.isdigit() or int(frame) >= frame_count:
            raise InputError(f"{path}: frame id {frame!r} is not a frame of the video (0..{frame_count - 1})")
        if action not in codes:
            raise InputError(f"{path}: frame {frame}: action {action!r} is not one of {', '.join(EGO_ACTIONS)}")
        actions[int(frame)] = codes[action]
    return actions
