"""Tests of the typed configuration: the shipped YAML, key and value checks, dotted overrides."""

from __future__ import annotations

import dataclasses
import importlib.util
import re
from pathlib import Path

import pytest

from vidtrack.config import (
    AnalyticsConfig,
    Config,
    DetectorConfig,
    ForecastConfig,
    OutputConfig,
    TrackerConfig,
    load_config,
    parse_override,
    read_yaml,
)
from vidtrack.errors import ConfigError

DEFAULT_YAML = Path(__file__).resolve().parents[1] / "configs" / "default.yaml"
SECTIONS = {"detector": DetectorConfig, "tracker": TrackerConfig, "forecast": ForecastConfig, "output": OutputConfig,
            "analytics": AnalyticsConfig}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


# --- the shipped defaults ---


@pytest.mark.parametrize("section", list(SECTIONS))
def test_default_yaml_documents_the_dataclass_defaults(section: str) -> None:
    """configs/default.yaml must list every key of every section with the value the code uses by default."""
    loaded = getattr(load_config(DEFAULT_YAML), section)
    defaults = getattr(Config(), section)
    raw = read_yaml(DEFAULT_YAML)[section]
    names = [f.name for f in dataclasses.fields(SECTIONS[section])]
    assert sorted(raw) == sorted(names), f"{section}: keys in default.yaml differ from the dataclass fields"
    for name in names:
        assert getattr(loaded, name) == getattr(defaults, name), f"{section}.{name}"
        assert type(getattr(loaded, name)) is type(getattr(defaults, name)), f"{section}.{name}"


def test_default_yaml_sections_and_whole_config() -> None:
    assert sorted(read_yaml(DEFAULT_YAML)) == sorted(SECTIONS)
    assert load_config(DEFAULT_YAML) == Config()
    assert load_config() == Config()


def test_empty_yaml_file_gives_defaults(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "# nothing set\n")) == Config()


def test_yaml_values_are_applied(tmp_path: Path) -> None:
    path = write(tmp_path, "tracker:\n  track_buffer_s: 3\n  fuse_score: false\ndetector:\n  classes: [person, 2]\n")
    cfg = load_config(path)
    assert cfg.tracker.track_buffer_s == 3.0 and isinstance(cfg.tracker.track_buffer_s, float)
    assert cfg.tracker.fuse_score is False
    assert cfg.detector.classes == ["person", "2"]
    assert cfg.detector == dataclasses.replace(DetectorConfig(), classes=["person", "2"])


# --- unknown keys ---


def test_unknown_top_level_key() -> None:
    with pytest.raises(ConfigError, match="unknown config key 'trackr'") as info:
        load_config(overrides={"trackr.track_buffer_s": 2.0})
    assert "allowed keys: detector, tracker, forecast, output" in str(info.value)


def test_unknown_nested_key_lists_the_section_keys() -> None:
    with pytest.raises(ConfigError, match=re.escape("unknown config key 'tracker.track_bufer_s'")) as info:
        load_config(overrides={"tracker.track_bufer_s": 2.0})
    allowed = str(info.value).split("allowed keys:")[1]
    for f in dataclasses.fields(TrackerConfig):
        assert f"tracker.{f.name}" in allowed


def test_unknown_key_in_a_file_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "output:\n  videos: true\n")
    with pytest.raises(ConfigError, match=re.escape(str(path)) + r": unknown config key 'output.videos'"):
        load_config(path)


def test_section_that_is_not_a_mapping() -> None:
    with pytest.raises(ConfigError, match=r"tracker\.?: expected a mapping"):
        load_config(overrides={"tracker": 3})


# --- wrong types and ranges ---


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("tracker.track_buffer_s", "long", "expected a number"),
        ("tracker.track_buffer_s", True, "expected a number"),
        ("tracker.track_buffer_s", -1, "out of range"),
        ("tracker.track_high_thresh", 1.5, "out of range"),
        ("tracker.feature_buffer_s", 0, "out of range"),  # open lower bound
        ("tracker.fuse_score", "yes", "expected true or false"),
        ("tracker.fuse_score", 1, "expected true or false"),
        ("detector.imgsz", 640.5, "expected an integer"),
        ("detector.imgsz", 16, "out of range"),
        ("detector.iou", 0.0, "out of range"),
        ("detector.batch", 0, "out of range"),
        ("detector.half", "no", "expected true or false"),
        ("detector.model", ["a.pt"], "expected a string"),
        ("detector.classes", {"a": 1}, "expected a list"),
        ("forecast.horizon_s", 0, "out of range"),
        ("output.queue_size", 2.5, "expected an integer"),
    ],
)
def test_wrong_type_or_range_names_the_key(key: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(key) + ".*" + message):
        load_config(overrides={key: value})


def test_range_edges_are_accepted() -> None:
    cfg = load_config(overrides={"tracker.track_buffer_s": 0, "detector.iou": 1.0, "tracker.track_high_thresh": 1})
    assert (cfg.tracker.track_buffer_s, cfg.detector.iou, cfg.tracker.track_high_thresh) == (0.0, 1.0, 1.0)


@pytest.mark.parametrize(("key", "choices"), [("tracker.motion", ["kalman"]),
                                              ("forecast.model", ["constant_velocity", "kalman", "lstm"])])
def test_literal_with_bad_choice_lists_the_choices(key: str, choices: list[str]) -> None:
    with pytest.raises(ConfigError, match=re.escape(key)) as info:
        load_config(overrides={key: "sort"})
    message = str(info.value)
    assert "'sort' is not allowed" in message
    for choice in choices:
        assert choice in message


def test_low_threshold_above_high_is_refused() -> None:
    with pytest.raises(ConfigError, match="track_low_thresh"):
        load_config(overrides={"tracker.track_low_thresh": 0.9, "tracker.track_high_thresh": 0.5})


# --- overrides ---


def test_dotted_overrides_apply_over_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "tracker:\n  track_buffer_s: 3\n  match_thresh: 0.7\n")
    cfg = load_config(path, {"tracker.track_buffer_s": 2, "output.video": False, "detector.device": None})
    assert cfg.tracker.track_buffer_s == 2.0  # the override wins
    assert cfg.tracker.match_thresh == 0.7  # the file's other keys in that section stay
    assert cfg.output.video is False
    assert cfg.detector.device == "auto"  # None means "not given"
    assert cfg.forecast == ForecastConfig()


def test_parse_override() -> None:
    key, value = parse_override("tracker.track_buffer_s=2")
    assert (key, value) == ("tracker.track_buffer_s", 2)
    assert load_config(overrides={key: value}).tracker.track_buffer_s == 2.0
    assert parse_override(" detector.classes = [person, car]") == ("detector.classes", ["person", "car"])
    assert parse_override("output.video=false") == ("output.video", False)
    assert parse_override("forecast.checkpoint=null") == ("forecast.checkpoint", None)
    assert parse_override("detector.model=a=b.pt") == ("detector.model", "a=b.pt")


@pytest.mark.parametrize("text", ["tracker.track_buffer_s", "=2", "  =2"])
def test_parse_override_malformed(text: str) -> None:
    with pytest.raises(ConfigError, match=re.escape("expected section.key=value")):
        parse_override(text)


# --- cross-field checks ---


def test_lstm_checkpoint_defaults_to_the_shipped_one() -> None:
    assert Config(forecast=ForecastConfig(model="lstm")).forecast.checkpoint is None
    cfg = load_config(overrides={"forecast.model": "lstm", "forecast.checkpoint": "runs/lstm"})
    assert cfg.forecast.checkpoint == "runs/lstm"


@pytest.mark.parametrize("device", ["gpu", "cuda:", "cuda:x", "cuda:-1", "CPU", "-1", "0.5", ""])
def test_invalid_device_is_refused(device: str) -> None:
    with pytest.raises(ConfigError, match=re.escape("detector.device")):
        load_config(overrides={"detector.device": device})


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:0", "cuda:12", "mps"])
def test_valid_devices(device: str) -> None:
    assert load_config(overrides={"detector.device": device}).detector.device == device


@pytest.mark.parametrize("device", [0, "0", 3])
def test_bare_device_index_is_that_cuda_device(device: int | str) -> None:
    assert load_config(overrides={"detector.device": device}).detector.device == f"cuda:{device}"


# --- files ---


def test_malformed_yaml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "tracker:\n  track_buffer_s: [1, 2\n  motion: kalman\n")
    with pytest.raises(ConfigError, match=re.escape(str(path)) + ": not valid YAML"):
        load_config(path)


def test_yaml_that_is_not_a_mapping_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "- tracker\n- detector\n")
    with pytest.raises(ConfigError, match=re.escape(str(path)) + ": expected a mapping"):
        load_config(path)


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=re.escape(str(path)) + ": no such config file"):
        load_config(path)


@pytest.mark.parametrize("name", ["vidtrack.yaml", "vidtrack-lstm.yaml"])
def test_shipped_tracker_yamls_load(name: str) -> None:
    config = load_config(overrides={"tracker.track_buffer_s": 2.0}, tracker=DEFAULT_YAML.parent / "trackers" / name)
    assert config.tracker.motion == ("lstm" if "lstm" in name else "kalman")
    assert config.tracker.track_buffer_s == 2.0  # overrides still win


def test_tracker_yaml_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "mytracker.yaml"
    path.write_text("motion: particle\n")
    with pytest.raises(ConfigError, match=r"mytracker\.yaml: .*tracker\.motion.*kalman"):
        load_config(tracker=path)


# --- Ultralytics' tracker files ---

ULTRALYTICS_TRACKERS = Path(importlib.util.find_spec("ultralytics").origin).parent / "cfg" / "trackers"


@pytest.mark.parametrize(("name", "camera_motion"), [("bytetrack.yaml", "none"), ("botsort.yaml", "sparse_flow")])
def test_ultralytics_tracker_yamls_load_by_name(name: str, camera_motion: str, caplog, monkeypatch,
                                                 tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no local file of that name: the copy shipped with Ultralytics
    theirs = read_yaml(ULTRALYTICS_TRACKERS / name)
    tracker = load_config(tracker=name).tracker
    for key in ("track_high_thresh", "track_low_thresh", "new_track_thresh", "match_thresh", "fuse_score"):
        assert getattr(tracker, key) == theirs[key], key
    assert tracker.track_buffer_s == theirs["track_buffer"] / 30
    assert tracker.camera_motion == camera_motion
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    if name == "bytetrack.yaml":
        assert warnings == []
    else:
        assert len(warnings) == 1
        assert "ignoring proximity_thresh, appearance_thresh, with_reid, model, with no vidtrack equivalent" in (
            warnings[0])


def test_a_local_file_wins_over_the_shipped_copy(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    Path("bytetrack.yaml").write_text("tracker_type: bytetrack\ntrack_buffer: 90\nmatch_thresh: 0.6\n")
    tracker = load_config(tracker="bytetrack.yaml").tracker
    assert (tracker.track_buffer_s, tracker.match_thresh) == (3.0, 0.6)


@pytest.mark.parametrize(("method", "expected", "warns"), [("sparseOptFlow", "sparse_flow", False),
                                                            ("none", "none", False), ("orb", "sparse_flow", True)])
def test_botsort_gmc_method(method: str, expected: str, warns: bool, caplog, tmp_path: Path) -> None:
    path = write(tmp_path, f"tracker_type: botsort\ngmc_method: {method}\n")
    assert load_config(tracker=path).tracker.camera_motion == expected
    assert any("gmc_method orb" in r.getMessage() for r in caplog.records) is warns


@pytest.mark.parametrize(("text", "message"), [
    ("tracker_type: ocsort\n", "tracker_type 'ocsort' is not one vidtrack reads; use bytetrack or botsort"),
    ("tracker_type: bytetrack\ntrack_buffer: long\n", "track_buffer: expected a number of frames, got 'long'"),
    ("tracker_type: bytetrack\nmatch_thresh: 2\n", "tracker.match_thresh: 2.0 is out of range"),
])
def test_ultralytics_tracker_yaml_errors_name_the_file(text: str, message: str, tmp_path: Path) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=re.escape(f"{path}: {message}")):
        load_config(tracker=path)


def test_parse_override_invalid_yaml() -> None:
    with pytest.raises(ConfigError, match=re.escape("--set 'tracker.track_buffer_s=[1': the value is not valid YAML")):
        parse_override("tracker.track_buffer_s=[1")


# --- counting lines and zones ---


def test_lines_and_zones_load_from_yaml_flat_or_as_points(tmp_path: Path) -> None:
    path = write(tmp_path, "analytics:\n  lines: [[0, 700, 1920, 700]]\n"
                           "  zones:\n    - [100, 100, 400, 100, 400, 300]\n"
                           "    - [[0, 0], [50, 0], [50, 50], [0, 50]]\n"
                           "  anchor: center\n")
    analytics = load_config(path).analytics
    assert analytics.lines == [[0.0, 700.0, 1920.0, 700.0]] and analytics.anchor == "center"
    assert analytics.zones == [[100.0, 100.0, 400.0, 100.0, 400.0, 300.0], [0.0, 0.0, 50.0, 0.0, 50.0, 50.0, 0.0, 50.0]]
    assert load_config(overrides={"analytics.zones": [[0, 0, 9, 0, 9, 9]]}).analytics.zones == [[0, 0, 9, 0, 9, 9]]


@pytest.mark.parametrize(("key", "value", "message"), [
    ("analytics.lines", [[0, 1, 2]],
     r"analytics.lines\[0\]: a line is 4 numbers \[x1, y1, x2, y2\], got \[0.0, 1.0, 2.0\]"),
    ("analytics.lines", [0, 1, 2, 3], r"analytics.lines\[0\]: a line is 4 numbers .* \(lines is a list of lines"),
    ("analytics.lines", [[0, 0, 0, 0]], r"analytics.lines\[0\]: start and end must be two distinct points"),
    ("analytics.lines", [[5, 5, 6, 6], [0, 0, 1, float("nan")]], r"analytics.lines\[1\]: end must be finite"),
    ("analytics.zones", [[0, 0, 1, 1, 2]], r"analytics.zones\[0\]: a zone is 3 or more points .*; got 5 numbers"),
    ("analytics.zones", [[0, 0, 1, 1, 2, 2]], r"analytics.zones\[0\]: polygon must enclose an area"),
    ("analytics.zones", [[[0, 0], [1, 1, 3], [2, 2]]], r"analytics.zones\[0\]: points must be \[x, y\] pairs"),
    ("analytics.zones", [["a", 0, 1, 1, 2, 2]], r"analytics.zones\[0\]\[0\]: expected a number, got 'a'"),
    ("analytics.anchor", "top", "analytics.anchor: 'top' is not allowed; choose one of bottom_center, center"),
])
def test_bad_lines_and_zones_name_the_key_in_one_line(key: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        load_config(overrides={key: value})
    assert "\n" not in str(error.value)
