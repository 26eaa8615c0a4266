"""TrackPainter: labels stay in the frame, and the forecast path is drawn solid along the forecast."""

import numpy as np

from vidtrack.io.draw import TrackPainter
from vidtrack.structures import Tracks

BLANK = np.zeros((120, 160, 3), dtype=np.uint8)


def changed(box: tuple[float, float, float, float], forecast: np.ndarray | None = None) -> np.ndarray:
    """(H, W) mask of the pixels that drawing one track (class "person") changed on a black frame."""
    tracks = Tracks([1], [box], [0.9], [0], [0])
    if forecast is not None:
        tracks = tracks.with_forecast(forecast[None], "constant_velocity")
    return TrackPainter(5, {0: "person"}).draw(BLANK, tracks).any(axis=2)


def test_a_label_at_the_top_edge_goes_below_the_box_top():
    mask = changed((20, 0, 100, 60))
    assert mask[3:10, 24:60].mean() > 0.5  # the label's tag, inside the box under its top line


def test_a_label_at_the_right_edge_is_shifted_into_the_frame():
    mask = changed((150, 50, 159, 90))
    assert mask[40:48, 110:148].mean() > 0.5  # the tag sits above the box, moved left of it


def test_the_forecast_path_is_solid_and_ends_in_a_dot():
    centres = np.stack([40.0 + 10 * np.arange(1, 9), np.full(8, 60.0)], axis=1)  # (50, 60) ... (120, 60)
    forecast = np.hstack([centres - 10, centres + 10])
    mask = changed((30, 50, 50, 70), forecast) & ~changed((30, 50, 50, 70))  # what the forecast added
    assert mask[58:63, 53:120].any(axis=0).all()  # unbroken from the box to the last forecast centre
    assert mask[59:62, 60:110].all(axis=0).mean() > 0.9  # thicker than one pixel
    assert mask[57:64, 119:122].all()  # the dot at the last centre
    assert mask[50:56, 110].all() and mask[65:71, 130].all()  # the last forecast box's outline


def test_a_counting_line_is_drawn_with_its_counts():
    mask = TrackPainter(5).draw(BLANK, Tracks.empty(), [((0, 100), (159, 100), 3, 1)]).any(axis=2)
    assert mask[99:102, :60].all() and mask[99:102, 100:].all()  # the line, beside the label at its middle
    assert mask[85:99, 80:100].mean() > 0.5 and not mask[:60].any()  # the counts' tag, just above the middle


def test_a_zone_is_drawn_closed_with_its_counts():
    square = np.array([[20, 40], [140, 40], [140, 110], [20, 110]])
    mask = TrackPainter(5).draw(BLANK, Tracks.empty(), zones=[(square, 2, 1, 3)]).any(axis=2)
    assert mask[39:42, 70:140].all() and mask[108:111, 20:140].all() and mask[60:100, 19:21].all()  # every edge
    assert mask[20:38, 22:60].mean() > 0.5 and not mask[60:100, 40:120].any()  # the tag above it; inside untouched


def test_forecast_uncertainty_is_drawn_as_ellipses_growing_with_time_ahead():
    centres = np.stack([40.0 + 10 * np.arange(1, 10), np.full(9, 60.0)], axis=1)
    forecast = np.hstack([centres - 5, centres + 5])
    std = np.repeat([[2.0, 2, 2, 2], [6, 6, 6, 6], [12, 12, 12, 12]], 3, axis=0)  # 2, 6 then 12 px at steps 3, 6, 9
    tracks = Tracks([1], [(30, 50, 50, 70)], [0.9], [0], [0]).with_forecast(forecast[None], "kalman", std[None])
    drawn = TrackPainter(5).draw(BLANK, tracks).any(axis=2)
    added = drawn & ~TrackPainter(5).draw(BLANK, tracks.with_forecast(forecast[None], "kalman")).any(axis=2)
    rows = np.flatnonzero(added.any(axis=1))
    assert rows.min() <= 60 - 11 and rows.max() >= 60 + 11  # the last ellipse: 12 px above and below its centre
    assert added[60 - 13:60 - 10, 124:137].any() and not added[:45].any()  # no wider than 12 px
    assert added[60 - 7:60 - 5, 95:106].any()  # the middle one, 6 px


def test_tracks_lines_and_zones_on_a_real_frame():
    import cv2

    from conftest import SHARED
    from vidtrack import ForecastingTracker
    from vidtrack.io.motchallenge import read_detections

    seq = SHARED / "MOT17" / "train" / "MOT17-02-FRCNN"
    detections = read_detections(seq / "det" / "det.txt")
    tracker = ForecastingTracker(fps=30.0, image_size=(1920, 1080))
    for number in range(1, 5):
        image = cv2.imread(str(seq / "img1" / f"{number:06d}.jpg"))
        tracks = tracker.update(detections[number], image=image)
    zone = np.array([[600, 500], [1300, 500], [1300, 1000], [600, 1000]])
    drawn = TrackPainter(30, {0: "person"}).draw(image, tracks, [((0, 700), (1920, 700), 1, 0)], [(zone, 2, 0, 4)])
    assert drawn.shape == image.shape and len(tracks) >= 5 and tracks.forecast_std is not None
    changed = (drawn != image).any(axis=2)
    assert 0.01 < changed.mean() < 0.5
    assert (drawn[500, 700:1200] == (0, 215, 255)).all(axis=1).mean() > 0.5  # the zone's top edge (people cross it)


def test_the_trail_is_unbroken_and_fades_into_the_past():
    painter = TrackPainter(10)
    for step in range(10):  # a box moving right 10 px a frame: centres (20, 60) ... (110, 60)
        x = 10 + 10 * step
        drawn = painter.draw(BLANK, Tracks([1], [(x, 50, x + 20, 70)], [0.9], [0], [0]))
    box = painter.draw(BLANK, Tracks([7], [(100, 50, 120, 70)], [0.9], [0], [0])).any(axis=2)  # a new track's box only
    trail = drawn.max(axis=2)[55:66] * ~box[55:66]  # brightness of what the trail added
    assert trail[:, 20:98].max(axis=0).all()  # unbroken from the oldest centre to the box
    assert trail[:, 22:35].max() < 0.7 * trail[:, 85:98].max()  # darker in the past
    assert (trail[:, 22:35] > 0).sum(axis=0).max() < (trail[:, 85:98] > 0).sum(axis=0).max()  # and thinner
