"""Export a YOLO detector to ONNX or OpenVINO with the feature maps the neck appearance pools, optionally in int8.

Ultralytics' own exports return only the predictions. `export_detector` also returns the neck's maps P3, P4, P5 (the
outputs "predictions", "p3", "p4", "p5"), with a dynamic input height and width, so the exported model gives the same
512-value features as the `.pt` on any video shape. The metadata is Ultralytics' (class names, stride, image size), so
Ultralytics loads these files too.

int8 is NNCF's post-training quantisation, calibrated on frames of a video or image folder. The box decoding (the
distribution focal loss and what follows the head's last convolutions) stays in floating point, as in Ultralytics'
int8 exports, and the export reports how well the int8 detections agree with the fp32 ones on frames held out of the
calibration.
"""

from __future__ import annotations

import datetime
import itertools
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import yaml

from vidtrack.detect.backends import MAP_OUTPUTS, network_input
from vidtrack.detect.detector import letterbox
from vidtrack.detect.weights import check_safe_to_load, resolve_weights
from vidtrack.errors import ConfigError, InputError

log = logging.getLogger("vidtrack")

Format = Literal["onnx", "openvino"]
OPSET = 17


class _WithMaps(torch.nn.Module):
    """A detection model that also returns the maps its head reads."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model
        self._maps: list[torch.Tensor] = []
        model.model[-1].register_forward_pre_hook(lambda module, args: self._maps.append(list(args[0])))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        self._maps.clear()
        predictions = self.model(images)
        return (predictions, *self._maps[0])


def default_output(model: str, fmt: Format, int8: bool) -> Path:
    """Where `vidtrack export` writes by default: beside the current folder, named after the model."""
    stem = Path(model).stem
    return Path(f"{stem}_vidtrack{'_int8' if int8 else ''}" + (".onnx" if fmt == "onnx" else "_openvino_model"))


def export_detector(
    model: str,
    fmt: Format,
    *,
    out: str | os.PathLike | None = None,
    imgsz: int = 640,
    int8: bool = False,
    calibration: str | os.PathLike | None = None,
    calibration_frames: int = 300,
    trust_weights: bool = False,
) -> tuple[Path, dict | None]:
    """Export `model` (a `.pt` name or path) to an `.onnx` file or an OpenVINO folder.

    Returns the written path and, for int8, the agreement with the fp32 model on held-out frames (see `agreement`).
    `calibration` (a video, image folder or glob, read as `vidtrack track` reads it) is required for int8: its frames,
    spread evenly over the source, alternate between calibration and the check.
    """
    from ultralytics import YOLO

    if fmt not in ("onnx", "openvino"):
        raise ConfigError(f"export format {fmt!r} is not supported; choose onnx or openvino")
    if int8 and calibration is None:
        raise ConfigError("int8 needs calibration frames: give a video or image folder with --data (frames like "
                          "the ones the model will see)")
    frames = _calibration_frames(calibration, calibration_frames) if int8 else []
    weights = resolve_weights(model)
    if Path(weights).suffix != ".pt":
        raise ConfigError(f"{model}: export starts from a .pt checkpoint")
    if not trust_weights:
        check_safe_to_load(weights)
    yolo = YOLO(weights)
    network = yolo.model.fuse(verbose=False).eval().float()
    head = network.model[-1]
    head.dynamic, head.export, head.format = True, True, "onnx"  # anchors from the input's shape; predictions only
    stride = max(int(network.stride.max()), 32)
    imgsz = int(np.ceil(imgsz / stride) * stride)
    out = Path(out) if out else default_output(model, fmt, int8)
    metadata = {
        "description": f"{Path(weights).stem} exported by vidtrack with its neck feature maps",
        "author": "vidtrack", "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "license": "AGPL-3.0 (Ultralytics)", "stride": stride, "task": "detect", "batch": 1,
        "imgsz": [imgsz, imgsz], "names": dict(network.names), "args": {"dynamic": True, "int8": int8},
        "outputs": ["predictions", *MAP_OUTPUTS],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".vidtrack-export-", dir=out.parent) as tmp:  # same disk: renames work
        onnx_file = Path(tmp) / f"{Path(weights).stem}.onnx"
        _to_onnx(_WithMaps(network), imgsz, stride, onnx_file)
        report = None
        if fmt == "onnx":
            if int8:
                report = _quantise_onnx(onnx_file, frames, imgsz, stride, len(network.model) - 1)
            _write_onnx_metadata(onnx_file, metadata)
            os.replace(onnx_file, _clear(out))
        else:
            import openvino as ov

            # read_model, not convert_model: OpenVINO's converter resets the process's root logger.
            ov_model = ov.Core().read_model(str(onnx_file))
            if int8:
                ov_model, report = _quantise_openvino(ov_model, frames, imgsz, stride, len(network.model) - 1)
            folder = Path(tmp) / "openvino"
            folder.mkdir()
            ov.save_model(ov_model, str(folder / f"{Path(weights).stem}.xml"))
            (folder / "metadata.yaml").write_text(yaml.safe_dump(metadata, sort_keys=False))
            os.replace(folder, _clear(out))
    return out, report


def _clear(out: Path) -> Path:
    """Make room for the finished export (the new one replaces it in one rename, so nothing half-written is left)."""
    if out.is_dir():
        shutil.rmtree(out)
    elif out.exists():
        out.unlink()
    return out


def _to_onnx(model: torch.nn.Module, imgsz: int, stride: int, file: Path) -> None:
    example = torch.zeros(1, 3, imgsz, int(np.ceil(imgsz * 9 / 16 / stride) * stride))
    axes = {"images": {0: "batch", 2: "height", 3: "width"}, "predictions": {0: "batch", 2: "anchors"}}
    axes |= {name: {0: "batch", 2: f"{name}_height", 3: f"{name}_width"} for name in MAP_OUTPUTS}
    torch.onnx.export(model, example, str(file), opset_version=OPSET, input_names=["images"],
                      output_names=["predictions", *MAP_OUTPUTS], dynamic_axes=axes, dynamo=False)


def _write_onnx_metadata(file: Path, metadata: dict) -> None:
    import onnx

    graph = onnx.load(str(file))
    for key, value in metadata.items():
        graph.metadata_props.add(key=key, value=str(value))
    onnx.save(graph, str(file))


def _calibration_frames(source: str | os.PathLike, count: int) -> list[np.ndarray]:
    """Up to `count` BGR frames spread evenly over a video or image folder."""
    from vidtrack.io.sources import open_source

    with open_source(str(source)) as video:
        total = video.info.frame_count or count
        step = max(1, total // count)
        frames = [f.image for f in itertools.islice(video, 0, None, step)][:count]
    if len(frames) < 2:
        raise InputError(f"{source}: {len(frames)} frame(s); int8 calibration needs at least 2 (one to calibrate "
                         "on, one to check with), and a few hundred calibrate best")
    return frames


def _letterboxed(frame: np.ndarray, imgsz: int, stride: int) -> np.ndarray:
    """(1, 3, H, W) float RGB in [0, 1], letterboxed as `Detector` does for a dynamic-shape model."""
    return network_input(letterbox([frame], imgsz, stride)[0])


def _decoding(names: list[str], head: int) -> list[str]:
    """The operations of the head that decode boxes (after its last convolutions): kept in floating point."""
    prefix = f"/model/model.{head}/"
    return [n for n in names if n.startswith(prefix) and not n.startswith((f"{prefix}cv2", f"{prefix}cv3"))]


def _quantise_openvino(ov_model, frames: list[np.ndarray], imgsz: int, stride: int, head: int):
    import nncf
    import openvino as ov

    calibrate, held_out = frames[::2], frames[1::2]
    names = [op.get_friendly_name() for op in ov_model.get_ordered_ops()]
    quantised = nncf.quantize(
        ov_model, nncf.Dataset(calibrate, lambda f: _letterboxed(f, imgsz, stride)),
        preset=nncf.QuantizationPreset.MIXED, subset_size=len(calibrate),
        ignored_scope=nncf.IgnoredScope(names=_decoding(names, head), validate=False))
    core = ov.Core()
    fp32, int8 = (core.compile_model(m, "CPU") for m in (ov_model, quantised))
    report = agreement(lambda x: fp32(x)[0], lambda x: int8(x)[0], held_out, imgsz, stride)
    return quantised, report


def _quantise_onnx(file: Path, frames: list[np.ndarray], imgsz: int, stride: int, head: int) -> dict:
    import nncf
    import onnx
    import onnxruntime as ort

    calibrate, held_out = frames[::2], frames[1::2]
    model = onnx.load(str(file))
    names = [node.name for node in model.graph.node]
    quantised = nncf.quantize(
        model, nncf.Dataset(calibrate, lambda f: {"images": _letterboxed(f, imgsz, stride)}),
        preset=nncf.QuantizationPreset.MIXED, subset_size=len(calibrate),
        ignored_scope=nncf.IgnoredScope(names=_decoding(names, head), validate=False))
    fp32 = ort.InferenceSession(str(file), providers=["CPUExecutionProvider"])
    onnx.save(quantised, str(file))
    int8 = ort.InferenceSession(str(file), providers=["CPUExecutionProvider"])
    return agreement(lambda x: fp32.run(["predictions"], {"images": x})[0],
                     lambda x: int8.run(["predictions"], {"images": x})[0], held_out, imgsz, stride)


def agreement(reference: Callable, candidate: Callable, frames: list[np.ndarray], imgsz: int, stride: int,
              conf: float = 0.25, iou: float = 0.5) -> dict:
    """How well `candidate`'s detections match `reference`'s on `frames`: the share of the reference's detections
    (score ≥ `conf`, after NMS) that the candidate finds (same class, IoU ≥ `iou`), and of the candidate's that the
    reference has, with the mean IoU of the matched pairs."""
    from ultralytics.utils.nms import non_max_suppression

    from vidtrack.track.matching import box_iou, linear_assignment

    found = total_ref = total_cand = 0
    ious = []
    for frame in frames:
        image = _letterboxed(frame, imgsz, stride)
        ref, cand = (non_max_suppression(torch.from_numpy(np.asarray(run(image))), conf, 0.7)[0].numpy()
                     for run in (reference, candidate))
        overlap = box_iou(ref[:, :4], cand[:, :4]) * (ref[:, None, 5] == cand[None, :, 5])
        matches, _, _ = linear_assignment(1 - overlap, 1 - iou)
        found, total_ref, total_cand = found + len(matches), total_ref + len(ref), total_cand + len(cand)
        ious.extend(overlap[matches[:, 0], matches[:, 1]].tolist())
    return {"frames": len(frames), "reference": total_ref, "candidate": total_cand,
            "recall": found / max(total_ref, 1), "precision": found / max(total_cand, 1),
            "mean_iou": float(np.mean(ious)) if ious else 0.0}
