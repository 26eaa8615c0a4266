"""Read Ultralytics' tracker YAML files (`bytetrack.yaml`, `botsort.yaml`, or a copy of them) as vidtrack tracker keys.

They are recognised by their `tracker_type` key. The keys that mean the same are copied; `track_buffer`, frames at
30 fps, becomes `track_buffer_s`; BoT-SORT's `gmc_method` becomes `camera_motion`. The keys with no
vidtrack equivalent (BoT-SORT's ReID keys: its `appearance_thresh` is a ReID model's similarity, not vidtrack's
appearance distance) are ignored with one warning naming them.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path
from typing import Any

from vidtrack.errors import ConfigError

log = logging.getLogger("vidtrack")

SAME_KEYS = ("track_high_thresh", "track_low_thresh", "new_track_thresh", "match_thresh", "fuse_score")
TRACK_BUFFER_FPS = 30  # Ultralytics' track_buffer counts frames; its values are meant for 30 fps video


def resolve(path: str | os.PathLike) -> Path:
    """`path`, or, for a bare name such as `botsort.yaml` that is not a local file, the copy shipped with Ultralytics
    when there is one."""
    path = Path(path)
    if path.is_file() or path.name != str(path) or (spec := importlib.util.find_spec("ultralytics")) is None:
        return path
    shipped = Path(spec.origin).parent / "cfg" / "trackers" / path.name
    return shipped if shipped.is_file() else path


def tracker_keys(values: dict[str, Any], path: str | os.PathLike) -> dict[str, Any]:
    """The vidtrack tracker keys for the Ultralytics tracker YAML `values`, read from `path` (named in messages)."""
    kind = values["tracker_type"]
    if kind not in ("bytetrack", "botsort"):
        raise ConfigError(f"{path}: tracker_type {kind!r} is not one vidtrack reads; use bytetrack or botsort")
    keys = {key: values[key] for key in SAME_KEYS if key in values}
    used = {"tracker_type", "track_buffer", *SAME_KEYS}
    if "track_buffer" in values:
        frames = values["track_buffer"]
        if isinstance(frames, bool) or not isinstance(frames, (int, float)):
            raise ConfigError(f"{path}: track_buffer: expected a number of frames, got {frames!r}")
        keys["track_buffer_s"] = frames / TRACK_BUFFER_FPS
    if kind == "botsort" and "gmc_method" in values:
        used.add("gmc_method")
        method = values["gmc_method"]
        keys["camera_motion"] = "none" if method in ("none", None) else "sparse_flow"
        if method not in ("none", None, "sparseOptFlow"):
            log.warning("%s: gmc_method %s: vidtrack follows camera motion with sparse optical flow (sparseOptFlow) "
                        "only; using camera_motion: sparse_flow", path, method)
    if unmapped := [key for key in values if key not in used]:
        note = " (appearance_thresh is a ReID model's similarity, not vidtrack's)" * ("appearance_thresh" in unmapped)
        log.warning("%s: ignoring %s, with no vidtrack equivalent%s", path, ", ".join(unmapped), note)
    return keys
