"""Typed configuration: commented YAML files in `configs/` map onto these dataclasses.

Every key is checked: an unknown key or a value of the wrong type or range raises `ConfigError` naming the key and
what is allowed. Overrides use dotted keys, as on the command line:

>>> cfg = load_config(overrides={"tracker.track_high_thresh": 0.6})
>>> cfg.tracker.track_high_thresh
0.6
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml

from vidtrack import ultralytics_yaml
from vidtrack.analytics import LineCounter, ZoneCounter
from vidtrack.errors import ConfigError


def _in_range(lo: float, hi: float, *, lo_open: bool = False) -> dict:
    return {"range": (lo, hi, lo_open)}


@dataclass
class DetectorConfig:
    model: str = "yolov8n.pt"
    classes: list[str] | None = None
    conf: float = field(default=0.1, metadata=_in_range(0.0, 1.0))
    iou: float = field(default=0.7, metadata=_in_range(0.0, 1.0, lo_open=True))
    imgsz: int = field(default=640, metadata=_in_range(32, 8192))
    device: str = "auto"
    half: bool | None = None
    batch: int = field(default=1, metadata=_in_range(1, 1024))
    max_det: int = field(default=300, metadata=_in_range(1, 100000))
    appearance: Literal["colour", "neck", "none"] = "colour"
    trust_weights: bool = False  # load a .pt even if unpickling it would run code from the file
    backend: Literal["auto", "torch", "onnxruntime", "openvino"] = "auto"
    inflight: int | None = field(default=None, metadata=_in_range(0, 64))  # frames in flight; None: by backend


@dataclass
class TrackerConfig:
    track_high_thresh: float = field(default=0.25, metadata=_in_range(0.0, 1.0))
    track_low_thresh: float = field(default=0.1, metadata=_in_range(0.0, 1.0))
    new_track_thresh: float = field(default=0.5, metadata=_in_range(0.0, 1.0))
    match_thresh: float = field(default=0.8, metadata=_in_range(0.0, 1.0))
    second_match_thresh: float = field(default=0.5, metadata=_in_range(0.0, 1.0))
    unconfirmed_match_thresh: float = field(default=0.7, metadata=_in_range(0.0, 1.0))
    fuse_score: bool = True
    track_buffer_s: float = field(default=2.0, metadata=_in_range(0.0, 3600.0))
    feature_buffer_s: float = field(default=2.0, metadata=_in_range(0.0, 3600.0, lo_open=True))
    motion: Literal["kalman", "lstm"] = "kalman"
    motion_checkpoint: str | None = None  # for motion: lstm, a folder or preset; None: forecast.checkpoint's
    gate_confidence: float = field(default=0.99, metadata=_in_range(0.0, 1.0, lo_open=True))
    appearance_thresh: float = field(default=0.1, metadata=_in_range(0.0, 1.0))
    appearance_momentum: float = field(default=0.9, metadata=_in_range(0.0, 1.0))
    camera_motion: Literal["none", "sparse_flow"] = "none"


@dataclass
class ForecastConfig:
    model: Literal["constant_velocity", "kalman", "lstm"] = "lstm"  # the shipped LSTM (README)
    checkpoint: str | None = None  # a folder or a preset name; None: the default preset
    horizon_s: float = field(default=1.5, metadata=_in_range(0.0, 60.0, lo_open=True))
    velocity_window_s: float = field(default=0.5, metadata=_in_range(0.0, 60.0, lo_open=True))
    runtime: Literal["torch", "onnxruntime", "openvino"] = "torch"  # what runs the LSTM's step


@dataclass
class OutputConfig:
    video: bool = True
    mot: bool = True
    jsonl: bool = True
    csv: bool = True
    trail_s: float = field(default=1.0, metadata=_in_range(0.0, 60.0))
    queue_size: int = field(default=8, metadata=_in_range(1, 1024))


@dataclass
class AnalyticsConfig:
    """Counting lines and zones (`vidtrack.analytics`), in pixels of the frame. A zone may be written flat,
    [x1, y1, x2, y2, x3, y3, ...], or as points, [[x1, y1], [x2, y2], ...] (as Ultralytics' `region`); it is kept
    flat."""

    lines: list[list[float]] = field(default_factory=list)  # each [x1, y1, x2, y2]
    zones: list[list[float] | list[list[float]]] = field(default_factory=list)  # each [x1, y1, x2, y2, x3, y3, ...]
    anchor: Literal["bottom_center", "center"] = "bottom_center"

    def __post_init__(self) -> None:
        for i, zone in enumerate(self.zones):
            if any(isinstance(point, list) for point in zone):
                if not all(isinstance(point, list) and len(point) == 2 for point in zone):
                    raise ConfigError(f"analytics.zones[{i}]: points must be [x, y] pairs, got {zone}")
                self.zones[i] = [float(v) for point in zone for v in point]
        for i, line in enumerate(self.lines):
            if len(line) != 4:
                raise ConfigError(f"analytics.lines[{i}]: a line is 4 numbers [x1, y1, x2, y2], got {line} (lines is a "
                                  f"list of lines: [[x1, y1, x2, y2], ...])")
            try:
                LineCounter(line[:2], line[2:], fps=1.0)
            except ValueError as e:
                raise ConfigError(f"analytics.lines[{i}]: {e}") from None
        for i, zone in enumerate(self.zones):
            if len(zone) < 6 or len(zone) % 2:
                raise ConfigError(f"analytics.zones[{i}]: a zone is 3 or more points x1, y1, x2, y2, x3, y3, ...; "
                                  f"got {len(zone)} numbers")
            try:
                ZoneCounter(np.reshape(zone, (-1, 2)), fps=1.0)
            except ValueError as e:
                raise ConfigError(f"analytics.zones[{i}]: {e}") from None


@dataclass
class Config:
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    forecast: ForecastConfig = field(default_factory=ForecastConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    analytics: AnalyticsConfig = field(default_factory=AnalyticsConfig)

    def __post_init__(self) -> None:
        if self.tracker.track_low_thresh > self.tracker.track_high_thresh:
            raise ConfigError(
                f"tracker.track_low_thresh ({self.tracker.track_low_thresh}) must not exceed "
                f"tracker.track_high_thresh ({self.tracker.track_high_thresh})"
            )
        device = self.detector.device
        if device.isdigit():  # a bare index, as in Ultralytics: that CUDA device
            device = self.detector.device = f"cuda:{device}"
        if not (device in ("auto", "cpu", "cuda", "mps") or (device.startswith("cuda:") and device[5:].isdigit())):
            raise ConfigError(f"detector.device: {device!r} is not allowed; use auto, cpu, cuda, cuda:N, N or mps")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _convert(key: str, value: Any, hint: Any, meta: typing.Mapping) -> Any:
    """Check `value` against the annotation `hint` (and an optional range), converting ints to floats."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in (o for o in options if o is not type(None)):
            try:
                return _convert(key, value, option, meta)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0])
    if origin is Literal:
        allowed = typing.get_args(hint)
        if value not in allowed:
            raise ConfigError(f"{key}: {value!r} is not allowed; choose one of {', '.join(map(str, allowed))}")
        return value
    if origin is list:
        (item,) = typing.get_args(hint)
        if isinstance(value, (str, int, float)):
            value = [value]
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return [_convert(f"{key}[{i}]", v, item, {}) for i, v in enumerate(value)]
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if hint in (int, float):
        wrong_type = isinstance(value, bool) or not isinstance(value, int if hint is int else (int, float))
        if wrong_type:
            raise ConfigError(f"{key}: expected {'an integer' if hint is int else 'a number'}, got {value!r}")
        value = hint(value)
        if "range" in meta:
            lo, hi, lo_open = meta["range"]
            if not (lo < value <= hi if lo_open else lo <= value <= hi):
                raise ConfigError(f"{key}: {value} is out of range; allowed {'(' if lo_open else '['}{lo}, {hi}]")
        return value
    if hint is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return str(value)
    raise TypeError(f"unsupported config annotation {hint!r} for {key}")


def _build(cls: type, values: Any, prefix: str) -> Any:
    if not isinstance(values, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a mapping of keys, got {values!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if key not in known:
            raise ConfigError(f"unknown config key {name!r}; allowed keys: {', '.join(prefix + k for k in known)}")
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            kwargs[key] = _build(hint, value, f"{name}.")
        else:
            kwargs[key] = _convert(name, value, hint, known[key].metadata)
    return cls(**kwargs)


def _merge(base: dict, updates: dict) -> dict:
    merged = dict(base)
    for key, value in updates.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _nest(dotted: dict[str, Any]) -> dict:
    nested: dict = {}
    for key, value in dotted.items():
        *parents, leaf = key.split(".")
        node = nested
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return nested


def read_yaml(path: str | os.PathLike) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({' '.join(str(e).split())})") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not a text file (byte {e.start} is not UTF-8); a config is YAML text") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections (detector, tracker, forecast, output, analytics)")
    return data


def load_config(
    path: str | os.PathLike | None = None,
    overrides: dict[str, Any] | None = None,
    *,
    tracker: str | os.PathLike | None = None,
) -> Config:
    """Start from the dataclass defaults, apply `path` (a YAML file), then `tracker` (a YAML file of tracker keys
    only, see configs/trackers/, or one of Ultralytics': see `vidtrack.ultralytics_yaml`), then dotted-key
    `overrides` (None is ignored)."""
    values = read_yaml(path) if path is not None else {}
    if tracker is not None:
        tracker = ultralytics_yaml.resolve(tracker)
        tracker_values = read_yaml(tracker)
        if "tracker_type" in tracker_values:
            tracker_values = ultralytics_yaml.tracker_keys(tracker_values, tracker)
        try:
            _build(TrackerConfig, tracker_values, "tracker.")  # errors name the tracker file
        except ConfigError as e:
            raise ConfigError(f"{tracker}: {e}") from None
        values = _merge(values, {"tracker": tracker_values})
    if overrides:
        values = _merge(values, _nest({k: v for k, v in overrides.items() if v is not None}))
    try:
        return _build(Config, values, "")
    except ConfigError as e:
        where = f"{path}: " if path is not None else ""
        raise ConfigError(f"{where}{e}") from None


def parse_override(text: str) -> tuple[str, Any]:
    """Parse a command-line override `section.key=value`; the value is read as YAML (`0.5`, `true`, `[person, car]`)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text!r}: expected section.key=value, for example tracker.track_buffer_s=2")
    try:
        return key.strip(), yaml.safe_load(value)
    except yaml.YAMLError as e:
        raise ConfigError(f"--set {text!r}: the value is not valid YAML ({' '.join(str(e).split())})") from None
