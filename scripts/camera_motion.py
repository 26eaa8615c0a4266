"""Does camera-motion compensation help? PETS09-S2L1 (a fixed camera) seen through a simulated moving camera.

For each camera, every frame of ``video/vtest.avi`` (768 x 576, 7 fps) is cut to a view of 80 % of the frame with
`cv2.warpAffine` (614 x 460 pixels out):

- ``pan<v>``: the view moves left and right, smoothly (a sine), at up to v output pixels per frame; ``pan0`` is the
  fixed camera, which decides the default;
- ``zoom``: the view, centred, zooms between 70 % and 90 % of the frame and back over 12 s.

The ground truth (``gt/gt.txt``, MOT15; gt frame n is video frame n - 1) goes through the same warp: boxes clipped
to the view, dropped where less than half of a box remains. YOLOv8n (persons, conf 0.1, CPU) runs once per camera
on the warped frames (cached in ``<out>/<camera>/detections-<frames>-<appearance>.npz``); the same detections are
then tracked with ``tracker.camera_motion: none`` and ``sparse_flow`` (configs' defaults otherwise, fps 7), written as
MOTChallenge results next to a ground-truth folder, and scored with `vidtrack.evaluation.tracking.evaluate_tracking`
(TrackEval HOTA, IDF1, ID switches); "true motion" follows the simulated camera's known warps instead of estimating
them, the most compensation could do. "ms/frame" is the extra time of the tracker's update calls with compensation.

Run:
    .venv/bin/python scripts/camera_motion.py                        # all cameras, the whole clip
    .venv/bin/python scripts/camera_motion.py --max-frames 200 --cameras pan0 pan8
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from vidtrack.config import load_config
from vidtrack.evaluation.tracking import evaluate_tracking
from vidtrack.io.motchallenge import MOTWriter, read_ground_truth, read_seqinfo
from vidtrack.structures import Detections
from vidtrack.track.tracker import Tracker

os.environ.setdefault("YOLO_OFFLINE", "1")  # read by Ultralytics on import: no update checks or downloads

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "PETS09-S2L1"
VIEW = 0.8  # the view's share of the frame's width and height
CAMERAS = ("pan0", "pan2", "pan4", "pan8", "zoom")
COLUMNS = ("HOTA", "IDF1", "IDSW")


def view_warps(camera: str, frames: int, size: tuple[int, int]) -> np.ndarray:
    """(frames, 2, 3) affines from the original frame to the camera's view of it (output size `size` * VIEW)."""
    width, height = size
    t = np.arange(frames, dtype=np.float64)
    if camera == "zoom":
        share = VIEW + 0.1 * np.sin(2 * np.pi * t / (12 * 7))  # 70 % to 90 % of the frame, 12 s at 7 fps
        left, top = width * (1 - share) / 2, height * (1 - share) / 2
    else:
        speed = float(camera.removeprefix("pan"))
        amplitude = width * (1 - VIEW) / 2  # the view sweeps the whole frame's width
        share = np.full(frames, VIEW)
        swing = np.sin(t * speed / amplitude) if speed else np.zeros(frames)  # peak speed: `speed` px per frame
        left, top = amplitude * (1 + swing), np.full(frames, height * (1 - VIEW) / 2)
    scale = VIEW / share  # output pixels per frame pixel
    warps = np.zeros((frames, 2, 3))
    warps[:, 0, 0] = warps[:, 1, 1] = scale
    warps[:, 0, 2], warps[:, 1, 2] = -scale * left, -scale * top
    return warps


def view_size(size: tuple[int, int]) -> tuple[int, int]:
    return round(size[0] * VIEW), round(size[1] * VIEW)


def views(video: Path, warps: np.ndarray, size: tuple[int, int]) -> Iterator[np.ndarray]:
    """The camera's view of each frame of `video`."""
    capture = cv2.VideoCapture(str(video))
    try:
        for warp in warps:
            ok, image = capture.read()
            if not ok:
                raise RuntimeError(f"{video}: ended before frame {len(warps)}")
            yield cv2.warpAffine(image, warp, view_size(size), flags=cv2.INTER_LINEAR)
    finally:
        capture.release()


def write_ground_truth(folder: Path, data: Path, warps: np.ndarray, size: tuple[int, int]) -> None:
    """`folder`/seqinfo.ini and gt/gt.txt (MOT15, 10 columns): the ground truth as the camera sees it."""
    gt = read_ground_truth(data / "gt" / "gt.txt")
    gt = gt[(gt.frame >= 1) & (gt.frame <= len(warps))]
    warp = warps[gt.frame - 1]  # gt frame n is video frame n - 1
    xyxy = gt.xyxy.astype(np.float64) * warp[:, [0, 1, 0, 1], [0, 1, 0, 1]] + warp[:, [0, 1, 0, 1], 2]
    width, height = view_size(size)
    clipped = np.clip(xyxy, 0, [width, height, width, height])
    area = lambda b: (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])  # noqa: E731
    keep = area(clipped) >= 0.5 * area(xyxy)
    rows = np.column_stack([gt.frame, gt.track_id, clipped[:, :2], clipped[:, 2:] - clipped[:, :2]])[keep]
    (folder / "gt").mkdir(parents=True, exist_ok=True)
    (folder / "seqinfo.ini").write_text(f"[Sequence]\nname={folder.name}\nframeRate=7\nseqLength={len(warps)}\n"
                                        f"imWidth={width}\nimHeight={height}\n")
    (folder / "gt" / "gt.txt").write_text("".join(f"{int(f)},{int(i)},{x:.2f},{y:.2f},{w:.2f},{h:.2f},1,-1,-1,-1\n"
                                                  for f, i, x, y, w, h in rows.tolist()))


def detect(cache: Path, video: Path, warps: np.ndarray, size: tuple[int, int]) -> list[Detections]:
    """YOLOv8n's persons in every view, from `cache` when it holds them."""
    if not cache.is_file():
        from vidtrack.detect.detector import Detector

        detector = Detector("yolov8n.pt", classes=["person"], conf=0.1, device="cpu")
        found = [detector([image])[0] for image in views(video, warps, size)]
        cache.parent.mkdir(parents=True, exist_ok=True)
        columns = {name: np.concatenate([getattr(d, name) for d in found])
                   for name in ("xyxy", "score", "class_id", "features")}
        np.savez_compressed(cache, frame=np.repeat(np.arange(len(found)), [len(d) for d in found]), **columns)
    with np.load(cache) as npz:
        stored = dict(npz)  # decompressed once
    rows = [stored["frame"] == i for i in range(len(warps))]
    return [Detections(stored["xyxy"][r], stored["score"][r], stored["class_id"][r], stored["features"][r])
            for r in rows]


class KnownCamera:
    """The simulated camera's true motion from each view to the next, in place of `CameraMotion`'s estimate: what
    compensation could do with a perfect estimator."""

    def __init__(self, warps: np.ndarray) -> None:
        self.warps = np.concatenate([warps, np.tile([[[0.0, 0.0, 1.0]]], (len(warps), 1, 1))], axis=1)  # (N, 3, 3)
        self.index = -1

    def estimate(self, image: np.ndarray, boxes: np.ndarray | None = None) -> np.ndarray:
        self.index += 1
        if self.index == 0:
            return np.eye(2, 3)
        return (self.warps[self.index] @ np.linalg.inv(self.warps[self.index - 1]))[:2]


def track(results: Path, detections: list[Detections], images: Iterator[np.ndarray] | None, camera_motion: str,
          size: tuple[int, int], known: KnownCamera | None = None) -> float:
    """Track `detections` (seeing `images` where given) into the MOTChallenge file `results`; ms per frame of the
    update calls. With `known`, the tracker follows the true camera motion instead of estimating it."""
    config = load_config(overrides={"tracker.camera_motion": camera_motion}).tracker
    tracker = Tracker(config, fps=7.0, image_size=view_size(size))
    if known is not None:
        tracker.camera = known
        images = iter(np.zeros((len(detections), 1, 1, 3), dtype=np.uint8))  # the known camera reads no pixels
    elapsed = 0.0
    with MOTWriter(results) as writer:
        for index, dets in enumerate(detections):
            image = next(images) if images is not None else None
            start = time.perf_counter()
            tracks = tracker.update(dets, image=image)
            elapsed += time.perf_counter() - start
            writer.write(index + 1, tracks)
    return 1000 * elapsed / len(detections)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the PETS09-S2L1 folder")
    parser.add_argument("--out", type=Path, default=Path("runs/camera_motion"))
    parser.add_argument("--cameras", nargs="+", choices=CAMERAS, default=list(CAMERAS))
    parser.add_argument("--max-frames", type=int, help="only the first frames (default: the whole clip)")
    args = parser.parse_args(argv)

    info = read_seqinfo(args.data)
    size = (info.width, info.height)
    frames = min(info.length, args.max_frames or info.length)
    video = args.data / "video" / "vtest.avi"
    print("| camera | HOTA | IDF1 | IDSW | HOTA, compensated | IDF1, compensated | IDSW, compensated "
          "| HOTA, true motion | IDF1, true motion | IDSW, true motion | ms/frame |\n|---|" + "---:|" * 10)
    for camera in args.cameras:
        warps = view_warps(camera, frames, size)
        folder = args.out / camera
        gt = folder / f"PETS09-S2L1-{camera}"
        write_ground_truth(gt, args.data, warps, size)
        appearance = load_config().detector.appearance  # the cache holds the default detector's features
        detections = detect(folder / f"detections-{frames}-{appearance}.npz", video, warps, size)
        cells, ms = [], {}
        for run in ("none", "sparse_flow", "known"):
            camera_motion = "none" if run == "none" else "sparse_flow"
            images = views(video, warps, size) if run == "sparse_flow" else None
            known = KnownCamera(warps) if run == "known" else None
            results = folder / run / f"{gt.name}.txt"  # named after the sequence it is scored as
            ms[run] = track(results, detections, images, camera_motion, size, known)
            scores = evaluate_tracking(gt, results).combined
            cells += [f"{scores[c]:.1f}" if c != "IDSW" else f"{scores[c]:.0f}" for c in COLUMNS]
        print(f"| {camera} | " + " | ".join(cells) + f" | {ms['sparse_flow'] - ms['none']:.1f} |", flush=True)
        print(f"{camera}: tracker {ms['none']:.2f} ms/frame without compensation, {ms['sparse_flow']:.2f} with",
              file=sys.stderr)


if __name__ == "__main__":
    main()
