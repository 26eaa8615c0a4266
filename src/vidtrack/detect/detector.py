"""The detection stage: an Ultralytics YOLO model that also returns a 512-value feature vector per detection."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

import cv2
import numpy as np
import torch

from vidtrack.detect.backends import BackendName, open_backend
from vidtrack.detect.colour import DIM, colour_features, colour_histograms
from vidtrack.detect.features import APPEARANCE, HAS_APPEARANCE, geometry_features, pool_appearance
from vidtrack.detect.weights import check_safe_to_load, resolve_weights
from vidtrack.errors import ConfigError
from vidtrack.structures import Detections

log = logging.getLogger("vidtrack")


def select_device(device: str = "auto") -> torch.device:
    """`auto` picks the first CUDA GPU when there is one, else the CPU."""
    if device == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} was asked for but CUDA is not available here; use --device cpu or auto")
    return torch.device(device)


def _split_names(classes: Sequence[str | int], known: dict[str, int]) -> list[str | int]:
    """"person car" in one string means two classes, unless the model has a class of that name ("cell phone")."""
    out: list[str | int] = []
    for c in classes:
        words = str(c).split()
        several = str(c) not in known and len(words) > 1 and all(w in known or w.isdigit() for w in words)
        out.extend(words if several else [c])
    return out


def letterbox(frames: Sequence[np.ndarray], imgsz: int, stride: int, *, square: bool = False
              ) -> tuple[np.ndarray, float, tuple[int, int]]:
    """Resize frames of one size keeping the aspect ratio to fit `imgsz`, and pad with grey, as Ultralytics does: to
    the next multiple of `stride` (or to `imgsz` square, for static graphs). Returns (B, H, W, 3) BGR, gain, pad."""
    h0, w0 = frames[0].shape[:2]
    gain = min(imgsz / h0, imgsz / w0)
    w1, h1 = round(w0 * gain), round(h0 * gain)
    if square:
        h2 = w2 = imgsz
    else:
        h2, w2 = (int(np.ceil(s / stride) * stride) for s in (h1, w1))
    top, left = (h2 - h1) // 2, (w2 - w1) // 2
    batch = np.full((len(frames), h2, w2, 3), 114, dtype=np.uint8)
    for i, frame in enumerate(frames):
        if frame.shape[:2] != (h0, w0):
            raise ValueError("all frames of a batch must have the same size")
        resized = cv2.resize(frame, (w1, h1), interpolation=cv2.INTER_LINEAR) if (w1, h1) != (w0, h0) else frame
        batch[i, top:top + h1, left:left + w1] = resized
    return batch, gain, (left, top)


class Detector:
    """Runs a YOLO model on batches of BGR frames: a `.pt` checkpoint (or any format Ultralytics loads) with PyTorch,
    an `.onnx` file with ONNX Runtime, or an OpenVINO folder with OpenVINO (`backend`, by default from the file;
    `vidtrack.detect.backends`). Calls may come from several threads; `inflight` says how many frames `Pipeline`
    runs at once in threads of its own (0: in its own thread, one after the other).

    The appearance part of each feature vector is, by `appearance`: "colour", clothing-colour histograms from the
    pixels in the box (`vidtrack.detect.colour`; any backend); "neck", the model's feature maps pooled in the box
    (a `.pt`, or a `vidtrack export` of one); or "none". A `.pt` file is checked before Ultralytics unpickles it:
    one that would construct anything but the model classes Ultralytics allow-lists is refused, unless
    `trust_weights`.

    Example:
        >>> detector = Detector("yolov8n.pt", classes=["person"], device="cpu")
        >>> [detections] = detector([frame])
        >>> detections.xyxy, detections.features.shape   # (N, 4) boxes, (N, 512)
    """

    def __init__(
        self,
        model: str = "yolov8n.pt",
        *,
        classes: Sequence[str | int] | None = None,
        conf: float = 0.1,
        iou: float = 0.7,
        imgsz: int = 640,
        device: str = "auto",
        half: bool | None = None,
        max_det: int = 300,
        appearance: Literal["colour", "neck", "none"] = "colour",
        trust_weights: bool = False,
        backend: BackendName = "auto",
        inflight: int | None = None,
    ) -> None:
        self.device = select_device(device)
        self.half = self.device.type == "cuda" if half is None else half
        if self.half and self.device.type == "cpu":
            raise ConfigError("detector.half: half precision needs a CUDA device; use --device cuda or half: false")
        weights = resolve_weights(model)
        if not trust_weights:
            check_safe_to_load(weights)
        self.backend = open_backend(weights, backend, self.device, self.half, model)
        # Frames in flight while `Pipeline` tracks the previous one: OpenVINO runs two at once on the CPU, one stream
        # each (45 fps against 38 with none in flight, README "Speed"); PyTorch and ONNX Runtime spread each frame
        # over every core themselves, and a second thread only competes with them (PyTorch: 11 fps against 14).
        self.inflight = (2 if self.backend.name == "openvino" else 0) if inflight is None else inflight
        if self.backend.name == "openvino":
            self.backend.set_streams(max(1, self.inflight))
        self.names: dict[int, str] = self.backend.names
        self.class_ids = self._class_ids(classes)
        self.conf, self.iou, self.max_det = conf, iou, max_det
        self.stride = self.backend.stride
        # Dynamic-shape models take the smallest padded shape; static graphs want the exact size they were made for.
        self.square = not self.backend.dynamic
        fixed = getattr(self.backend, "export_imgsz", None)
        self.imgsz = max(fixed) if fixed else int(np.ceil(imgsz / self.stride) * self.stride)
        if appearance == "neck" and not self.backend.has_maps:
            log.warning("%s: the model run by the %s backend has no feature-map outputs (export it with `vidtrack "
                        "export` to keep them); use appearance: colour, or features hold no appearance", model,
                        self.backend.name)
            appearance = "none"
        self.appearance_kind = appearance
        self.has_appearance = appearance != "none"

    def _class_ids(self, classes: Sequence[str | int] | None) -> list[int] | None:
        if not classes:
            return None
        by_name = {name: i for i, name in self.names.items()}
        ids = []
        for c in _split_names(classes, by_name):
            if isinstance(c, int) or str(c).isdigit():
                c = int(c)
                if c not in self.names:
                    raise ConfigError(f"detector.classes: class id {c} is not in the model (0..{len(self.names) - 1})")
                ids.append(c)
            elif c in by_name:
                ids.append(by_name[c])
            else:
                raise ConfigError(f"detector.classes: {c!r} is not a class of the model; choose from "
                                  f"{', '.join(self.names.values())}")
        return ids

    @torch.inference_mode()
    def __call__(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        """Detect objects in BGR frames of one size; one `Detections` with features per frame."""
        from ultralytics.utils.nms import non_max_suppression

        if not frames:
            return []
        images, gain, (left, top) = letterbox(frames, self.imgsz, self.stride, square=self.square)
        predictions, maps = self.backend(images)
        kept = non_max_suppression(predictions, self.conf, self.iou, classes=self.class_ids, max_det=self.max_det)
        neck = None
        if self.appearance_kind == "neck" and maps is not None:
            neck = pool_appearance(maps, [k[:, :4] for k in kept], images.shape[1]).cpu().numpy()
        h0, w0 = frames[0].shape[:2]
        offset = torch.tensor([left, top, left, top], device=predictions.device)
        results, start = [], 0
        for frame, k in zip(frames, kept):
            k = k.float()
            xyxy = ((k[:, :4] - offset) / gain).cpu().numpy()
            xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, w0)
            xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, h0)
            score = k[:, 4].cpu().numpy()
            if self.appearance_kind == "colour":
                features = colour_features(frame, xyxy, score)
            else:
                features = geometry_features(xyxy, score, (w0, h0))
                if neck is not None:
                    features[:, APPEARANCE] = neck[start:start + len(k)]
                    features[:, HAS_APPEARANCE] = 1.0
            start += len(k)
            results.append(Detections(xyxy, score, k[:, 5].cpu().numpy().astype(np.int64), features))
        return results

    @torch.inference_mode()
    def appearance(self, frames: Sequence[np.ndarray], boxes: Sequence[np.ndarray]) -> list[np.ndarray]:
        """(K_i, 448) appearance vectors at given boxes, one array per BGR frame (frames of one size).

        `boxes[i]` is (K_i, 4) x1 y1 x2 y2 in frame pixels, clipped to the frame; the vectors are what `__call__`
        stores in the features of detections at those boxes (the same letterbox, feature maps and pooling).
        """
        if not self.has_appearance:
            raise ConfigError(f"the model run by the {self.backend.name} backend has no feature maps; neck "
                              "appearance needs a .pt model or a `vidtrack export` of one")
        if len(frames) != len(boxes):
            raise ValueError(f"{len(frames)} frames but {len(boxes)} box arrays")
        boxes = [np.asarray(b, dtype=np.float32).reshape(-1, 4) for b in boxes]
        if self.appearance_kind == "colour":
            padded = [np.zeros((len(b), APPEARANCE.stop), dtype=np.float32) for b in boxes]
            for frame, b, out in zip(frames, boxes, padded):
                out[:, :DIM] = colour_histograms(frame, b)
            return padded
        if sum(len(b) for b in boxes) == 0:
            return [np.zeros((0, APPEARANCE.stop), dtype=np.float32) for _ in boxes]
        images, gain, (left, top) = letterbox(frames, self.imgsz, self.stride, square=self.square)
        maps = self.backend(images)[1]
        h0, w0 = frames[0].shape[:2]
        device = maps[0].device
        offset = torch.tensor([left, top, left, top], dtype=torch.float32, device=device)
        limit = np.array([w0, h0, w0, h0], dtype=np.float32)
        boxes_in = [torch.from_numpy(np.clip(b, 0, limit)).to(device) * gain + offset for b in boxes]
        pooled = pool_appearance(maps, boxes_in, images.shape[1]).cpu().numpy()
        return np.split(pooled, np.cumsum([len(b) for b in boxes])[:-1])
