"""Counting regions, lines and zones, and anticipating crossings (`vidtrack.analytics`)."""

import json

import numpy as np
import pytest

from vidtrack.analytics import Anticipation, Crossing, LineCounter, ZoneCounter
from vidtrack.structures import Tracks


def person(feet: list[tuple[float, float]], class_id: int = 0, track_id: int = 3, forecast=None) -> Tracks:
    """One track whose box bottom centre (feet) is at `feet[0]`; `feet[1:]` are its forecast bottom centres."""
    boxes = np.array([[x - 10, y - 40, x + 10, y] for x, y in feet], dtype=np.float64)
    future = boxes[None, 1:] if len(feet) > 1 else None
    return Tracks([track_id], boxes[:1], [0.9], [class_id], [0], forecast=future if forecast is None else forecast)


def replay(counter: LineCounter, ys: list[float], x: float = 50.0, class_id: int = 0):
    return [counter.update(frame, person([(x, y)], class_id)) for frame, y in enumerate(ys)]


def test_a_track_crossing_is_counted_once_with_its_direction_and_class():
    counter = LineCounter((0, 100), (100, 100), fps=30)  # left to right: moving down the image is "in"
    events = replay(counter, [80, 90, 99, 101, 110, 120, 101], class_id=2)
    assert [e.crossed for e in events][3] == [Crossing(3, 2, "in", 3)]
    assert sum(len(e.crossed) for e in events) == 1
    assert counter.counts["in"] == {2: 1} and counter.counts["out"] == {}


def test_going_back_is_counted_out_and_in_again_only_after():
    counter = LineCounter((0, 100), (100, 100), fps=30)
    events = replay(counter, [90, 110, 90, 110, 90])
    assert [c.direction for e in events for c in e.crossed] == ["in", "out", "in", "out"]
    assert counter.counts["in"] == {0: 2} and counter.counts["out"] == {0: 2}


def test_moves_beside_the_segment_or_touching_the_line_do_not_count():
    counter = LineCounter((0, 100), (100, 100), fps=30)
    replay(counter, [90, 110], x=150)  # crosses the line's extension, not the segment
    assert counter.counts["in"] == {}
    counter = LineCounter((0, 100), (100, 100), fps=30)
    replay(counter, [90, 100, 90, 100, 110])  # touches the line, returns, then crosses once
    assert counter.counts["in"] == {0: 1} and counter.counts["out"] == {}


def test_reversing_the_line_swaps_in_and_out():
    counter = LineCounter((100, 100), (0, 100), fps=30)
    replay(counter, [90, 110])
    assert counter.counts["out"] == {0: 1} and counter.counts["in"] == {}


def test_a_forecast_crossing_is_anticipated_with_its_frame_before_the_crossing_not_after():
    counter = LineCounter((0, 100), (100, 100), fps=10)
    ahead = counter.update(5, person([(50, 90), (50, 95), (50, 99), (50, 104), (50, 110)]))
    assert ahead.anticipated == [Anticipation(3, 0, "in", 8, 0.8)]  # the 3rd step, frame 5 + 3, is beyond
    assert ahead.crossed == [] and counter.counts["in"] == {}
    crossed = counter.update(6, person([(50, 101), (50, 106), (50, 112)]))
    after = counter.update(7, person([(50, 106), (50, 112), (50, 118)]))
    assert [c.frame for c in crossed.crossed] == [6] and crossed.anticipated == after.anticipated == []


def test_forecasts_that_stay_on_one_side_are_not_anticipated():
    counter = LineCounter((0, 100), (100, 100), fps=10)
    events = counter.update(0, person([(50, 90), (50, 95), (50, 99)]))
    assert events.anticipated == [] and counter.update(1, person([(50, 92)])).anticipated == []


@pytest.mark.parametrize(("start", "end", "named"), [
    ((0, 0), (0, 0), "distinct"),
    ((0, float("nan")), (10, 10), "start"),
    ((0, 0), (float("inf"), 10), "end"),
    ((0, 0, 1), (10, 10), "start"),
])
def test_bad_lines_are_refused(start, end, named):
    with pytest.raises(ValueError, match=named):
        LineCounter(start, end, fps=30)


def test_inside():
    assert LineCounter((0, 0), (640, 480), fps=30).inside((640, 480))
    assert not LineCounter((0, 0), (641, 10), fps=30).inside((640, 480))


SQUARE = [(100, 100), (200, 100), (200, 200), (100, 200)]


def walk(counter, paths: dict[int, tuple[int, list]]):
    """Replay tracks {id: (class, [feet (x, y) per frame, None where unseen])}; the events and occupancy per frame."""
    frames = max(len(p) for _, p in paths.values())
    events, occupancy = [], []
    for frame in range(frames):
        seen = [(i, c, p[frame]) for i, (c, p) in paths.items() if frame < len(p) and p[frame] is not None]
        tracks = Tracks([i for i, _, _ in seen], [[x - 10, y - 40, x + 10, y] for _, _, (x, y) in seen],
                        np.full(len(seen), 0.9), [c for _, c, _ in seen], np.arange(len(seen)))
        events.append(counter.update(frame, tracks))
        occupancy.append(dict(counter.occupancy))
    return events, occupancy


def test_a_zone_counts_entries_exits_and_occupancy_per_class():
    zone = ZoneCounter(SQUARE, fps=10)
    events, occupancy = walk(zone, {
        1: (0, [(150, y) for y in (60, 90, 120, 150, 180, 210, 240)]),  # enters at frame 2, leaves at frame 5
        2: (2, [(150, 150)] * 7),  # inside from its first frame: occupies, never enters
        3: (0, [(250, y) for y in (60, 90, 120, 150, 180, 210, 240)]),  # walks beside the zone
        4: (2, [(50, 150), (80, 150), (110, 150), (140, 150), (140, 150), (140, 150), (140, 150)]),  # stays in
    })
    assert [[(c.track_id, c.direction) for c in e.crossed] for e in events] == [
        [], [], [(1, "in"), (4, "in")], [], [], [(1, "out")], []]
    assert events[2].crossed[0] == Crossing(1, 0, "in", 2)
    assert zone.counts["in"] == {0: 1, 2: 1} and zone.counts["out"] == {0: 1}
    assert occupancy == [{2: 1}, {2: 1}, {0: 1, 2: 2}, {0: 1, 2: 2}, {0: 1, 2: 2}, {2: 2}, {2: 2}]


def test_a_track_lost_outside_enters_when_seen_again_inside():
    zone = ZoneCounter(SQUARE, fps=10)
    events, occupancy = walk(zone, {5: (0, [(150, 80), None, None, (150, 130), (150, 140)])})
    assert [c.frame for e in events for c in e.crossed] == [3] and zone.counts["in"] == {0: 1}
    assert occupancy == [{}, {}, {}, {0: 1}, {0: 1}]  # unseen frames occupy nothing


def test_concave_zones_and_the_anchor():
    ell = ZoneCounter([(0, 0), (100, 0), (100, 40), (40, 40), (40, 100), (0, 100)], fps=10)  # an L
    assert ell.contains(np.array([[20, 20], [80, 20], [20, 80], [80, 80], [120, 20]])).tolist() == [
        True, True, True, False, False]
    box = Tracks([1], [[90, 60, 110, 140]], [0.9], [0], [0])  # centre (100, 100), bottom centre (100, 140)
    for anchor, inside in (("bottom_center", False), ("center", True)):
        zone = ZoneCounter([(50, 50), (150, 50), (150, 120), (50, 120)], fps=10, anchor=anchor)
        zone.update(0, box)
        assert zone.occupancy == ({0: 1} if inside else {})


def test_zone_entry_is_anticipated_with_its_time_and_uncertainty():
    zone = ZoneCounter(SQUARE, fps=10)
    feet = [(150, 82 + 5 * k) for k in range(6)]  # 5 px a frame down: beyond 100 at the 4th step (102)
    std = np.zeros((1, 5, 4))
    std[0, :, 3] = 10.0  # the feet's height is uncertain by 10 px; 5 px a frame is 50 px/s: 0.2 s
    tracks = person(feet, track_id=8)
    tracks = tracks.with_forecast(tracks.forecast, "lstm", std)
    assert zone.update(20, tracks).anticipated == [Anticipation(8, 0, "in", 24, 2.4, 0.2)]
    line = LineCounter((100, 100), (200, 100), fps=10)  # the zone's top edge: the same time, the same spread
    assert line.update(20, tracks).anticipated == [Anticipation(8, 0, "in", 24, 2.4, 0.2)]
    inside = person([(150, 190), (150, 195), (150, 205)], track_id=9)  # inside, leaving in 2 frames
    assert zone.update(21, inside).anticipated == [Anticipation(9, 0, "out", 23, 2.3, None)]
    assert zone.update(22, person([(150, 120), (150, 150)], track_id=9)).anticipated == []  # staying inside


@pytest.mark.parametrize(("polygon", "named"), [
    ([(0, 0), (10, 0)], "3 or more points"),
    ([(0, 0), (10, 0), (20, float("nan"))], "finite"),
    ([(0, 0), (10, 0), (20, 0)], "enclose an area"),
    ([0, 0, 10, 0, 10, 10], "3 or more points"),
])
def test_bad_zones_are_refused(polygon, named):
    with pytest.raises(ValueError, match=named):
        ZoneCounter(polygon, fps=30)
    with pytest.raises(ValueError, match="anchor must be one of bottom_center, center"):
        ZoneCounter(SQUARE, fps=30, anchor="top_left")


def test_cli_counts_lines_and_refuses_one_outside_the_frame(tmp_path):
    from test_cli import track_people

    result = track_people(tmp_path, "--line", "0,700,1920,700", "--line", "960,0,960,1080", "--no-video")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (tmp_path / "tracks.jsonl").read_text().splitlines()]
    assert all(len(r["lines"]) == 2 and set(r["lines"][0]) == {"in", "out", "crossed", "anticipated"}
               for r in records)
    assert "line 0,700,1920,700: in" in result.stdout
    outside = track_people(tmp_path, "--line", "0,700,1921,700", "--no-save")
    assert outside.exit_code == 1
    assert outside.output.strip() == "error: --line 0,700,1921,700: outside the 1920x1080 frame"
    assert track_people(tmp_path, "--line", "0,700,1900", "--no-save").output.startswith("error: --line 0,700,1900: ")


def test_cli_counts_zones_and_refuses_bad_ones_in_one_line(tmp_path):
    from test_cli import track_people

    result = track_people(tmp_path, "--zone", "0,540,1920,540,1920,1080,0,1080", "--zone", "800,0,1200,0,1000,400",
                          "--line", "0,700,1920,700", "--no-video")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (tmp_path / "tracks.jsonl").read_text().splitlines()]
    assert len(records) == 4 and all(len(r["zones"]) == 2 and len(r["lines"]) == 1 for r in records)
    assert all(set(z) == {"in", "out", "occupancy", "entered", "exited", "anticipated"} for r in records
               for z in r["zones"])
    feet_below = [sum(t["box"][3] >= 540 for t in r["tracks"]) for r in records]  # the lower half, by hand
    assert [sum(r["zones"][0]["occupancy"].values()) for r in records] == feet_below and feet_below[-1] > 0
    assert all(set(t["forecast"]) >= {"boxes", "std"} for r in records for t in r["tracks"])
    assert "zone 0,540,1920,540,1920,1080,0,1080: in " in result.stdout and ", inside at the end " in result.stdout
    outside = track_people(tmp_path, "--set", "analytics.zones=[[0, 0, 1921, 0, 1000, 500]]", "--no-save")
    assert outside.output.strip() == "error: analytics.zones[0]: outside the 1920x1080 frame"
    assert track_people(tmp_path, "--zone", "0,0,10,0", "--no-save").output.strip() == (
        "error: --zone 0,0,10,0: give 3 or more points x1,y1,x2,y2,x3,y3,...")
    assert track_people(tmp_path, "--zone", "0,0,10,0,20,0", "--no-save").output.strip().startswith(
        "error: --zone 0,0,10,0,20,0: polygon must enclose an area")
