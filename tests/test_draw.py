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
