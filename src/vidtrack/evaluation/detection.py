"""Detector recall on labelled frames: the share of ground-truth boxes a detector finds, to compare runtimes and
precisions of one model (fp32 against int8, PyTorch against OpenVINO) on real images."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from vidtrack.io.motchallenge import read_ground_truth
from vidtrack.structures import Detections
from vidtrack.track.matching import box_iou, linear_assignment


def labelled_frames(sequence: str | os.PathLike, numbers: Sequence[int]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The BGR images (from img1/, else the video in video/) and the visible ground-truth boxes of frames `numbers`
    (1-based) of a MOTChallenge sequence folder."""
    sequence = Path(sequence)
    gt = read_ground_truth(sequence / "gt" / "gt.txt")
    images = []
    videos = sorted((sequence / "video").glob("*")) if (sequence / "video").is_dir() else []
    capture = cv2.VideoCapture(str(videos[0])) if videos and not (sequence / "img1").is_dir() else None
    position = 0
    for number in numbers:
        if capture is None:
            images.append(cv2.imread(str(sequence / "img1" / f"{number:06d}.jpg")))
            continue
        while position < number:  # video frame n - 1 is ground-truth frame n
            ok, image = capture.read()
            if not ok:
                raise ValueError(f"{videos[0]}: no frame {number}")
            position += 1
        images.append(image)
    truth = [gt.xyxy[(gt.frame == n) & gt.consider & (gt.visibility >= 0.5)] for n in numbers]
    return images, truth


def recall(detect: Callable[[list[np.ndarray]], list[Detections]], images: list[np.ndarray],
           truth: list[np.ndarray], iou: float = 0.5) -> tuple[int, int]:
    """(found, total): the ground-truth boxes matched one-to-one by a detection at IoU ≥ `iou`."""
    found = total = 0
    for image, boxes in zip(images, truth):
        [detections] = detect([image])
        matches, _, _ = linear_assignment(1 - box_iou(boxes, detections.xyxy), 1 - iou)
        found, total = found + len(matches), total + len(boxes)
    return found, total
