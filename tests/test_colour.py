"""The colour appearance descriptor against the plain per-box computation, on a real MOT17 frame and its detections."""

import cv2
import numpy as np
import pytest

from conftest import SHARED
from vidtrack.detect.colour import BINS, DIM, MARGIN, PARTS, SAMPLES, colour_histograms
from vidtrack.io.motchallenge import read_detections

SEQ = SHARED / "MOT17" / "train" / "MOT17-02-FRCNN"


def reference(image: np.ndarray, xyxy: np.ndarray) -> np.ndarray:
    """Every pixel of each part, one OpenCV conversion and histogram per part (vidtrack's code before the strides)."""
    out = np.zeros((len(xyxy), DIM), dtype=np.float32)
    height, width = image.shape[:2]
    for row, (x1, y1, x2, y2) in enumerate(xyxy.astype(np.float64)):
        w, h = x2 - x1, y2 - y1
        left, right = int(np.clip(x1 + MARGIN * w, 0, width - 1)), int(np.clip(x2 - MARGIN * w, 1, width))
        parts = []
        for top, bottom in PARTS:
            y_top, y_bottom = int(np.clip(y1 + top * h, 0, height - 1)), int(np.clip(y1 + bottom * h, 1, height))
            patch = image[y_top:max(y_bottom, y_top + 1), left:max(right, left + 1)]
            hsv = cv2.cvtColor(patch, cv2.COLOR_BGR2HSV)
            hist = cv2.calcHist([hsv], [0, 1, 2], None, list(BINS), [0, 180, 0, 256, 0, 256]).ravel()
            parts.append(np.sqrt(hist / max(float(hist.sum()), 1.0)))
        out[row] = np.concatenate(parts) / np.sqrt(len(PARTS))
    return out


@pytest.fixture(scope="module")
def frame():
    image = cv2.imread(str(SEQ / "img1" / "000001.jpg"))
    return image, read_detections(SEQ / "det" / "det.txt")[1].xyxy


def test_small_boxes_are_counted_exactly(frame):
    """A part no larger than SAMPLES pixels a side is read whole: the histograms are OpenCV's (the frame and its
    boxes at a quarter of their size: far people)."""
    image, xyxy = cv2.resize(frame[0], (480, 270), interpolation=cv2.INTER_AREA), frame[1] / 4
    w, h = xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1]
    small = xyxy[((1 - 2 * MARGIN) * w <= SAMPLES - 1) & (0.4 * h <= SAMPLES - 1)]
    assert len(small) >= 5
    np.testing.assert_allclose(colour_histograms(image, small), reference(image, small), atol=1e-6)


def test_large_boxes_are_read_at_a_stride_with_the_same_colours(frame):
    """MOT17-02's detections are 62 to 377 px tall; every strided histogram is within cosine 0.985 of the whole
    part's (measured: 0.991 at the least), and each box is still closest to itself among all boxes."""
    image, xyxy = frame
    assert (xyxy[:, 3] - xyxy[:, 1]).max() > 10 * SAMPLES
    fast, slow = colour_histograms(image, xyxy), reference(image, xyxy)
    similarity = fast @ slow.T
    assert np.diag(similarity).min() > 0.985
    np.testing.assert_array_equal(similarity.argmax(axis=1), np.arange(len(xyxy)))
    np.testing.assert_allclose(np.linalg.norm(fast, axis=1), 1.0, rtol=1e-5)


def test_no_boxes_and_boxes_off_the_frame(frame):
    image, _ = frame
    assert colour_histograms(image, np.zeros((0, 4))).shape == (0, DIM)
    odd = np.array([[5, 5, 5, 5], [-50, -50, 5000, 5000], [1910, 1070, 1990, 1150], [100, 200, 90, 150]], float)
    out = colour_histograms(image, odd)
    assert out.shape == (4, DIM) and np.isfinite(out).all()
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(out[[0, 2, 3]], reference(image, odd)[[0, 2, 3]], atol=1e-6)
