"""Where the detector's network runs: PyTorch, ONNX Runtime or OpenVINO, behind one call.

A backend takes a batch of letterboxed BGR images, (B, H, W, 3) uint8, and returns the network's raw predictions,
(B, 4 + classes, anchors) as a CPU or device tensor, with the neck's feature maps P3, P4, P5 that `appearance: neck`
pools, or None when the model has no such outputs (an export made by Ultralytics rather than `vidtrack export`).

`torch` runs `.pt` files, and any other format Ultralytics loads, through Ultralytics' AutoBackend; `onnxruntime`
runs `.onnx` files; `openvino` runs OpenVINO IR folders (or `.xml` files) and `.onnx` files. The ONNX Runtime and
OpenVINO backends may be called from several threads at once, so that frames can overlap in flight.
"""

from __future__ import annotations

import ast
import logging
import os
import threading
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import yaml

from vidtrack.errors import ConfigError, WeightsError

log = logging.getLogger("vidtrack")

BackendName = Literal["auto", "torch", "onnxruntime", "openvino"]
MAP_OUTPUTS = ("p3", "p4", "p5")  # the extra outputs of a `vidtrack export`, after "predictions"


def backend_for(weights: str | os.PathLike) -> str:
    """The backend `auto` picks for a weights file: by its format."""
    path = Path(weights)
    if path.suffix == ".onnx":
        return "onnxruntime"
    if path.suffix == ".xml" or (path.is_dir() and any(path.glob("*.xml"))):
        return "openvino"
    return "torch"


def open_backend(weights: str, backend: BackendName, device: torch.device, half: bool, model_name: str):
    """The backend that runs `weights` (a resolved local path); `model_name` is what the user asked for, for errors."""
    name = backend_for(weights) if backend == "auto" else backend
    if name == "torch":
        return TorchBackend(weights, device, half, model_name)
    if half:
        raise ConfigError(f"detector.half: the {name} backend runs the model in the precision it was exported with; "
                          "use half: false, or the torch backend")
    kind = backend_for(weights)
    if name == "onnxruntime" and kind != "onnxruntime":
        raise ConfigError(f"detector.backend: onnxruntime runs .onnx files, not {model_name}; export one with "
                          f"`vidtrack export {model_name} --format onnx`, or use --backend auto")
    if name == "openvino" and kind == "torch":
        raise ConfigError(f"detector.backend: openvino runs OpenVINO folders and .onnx files, not {model_name}; "
                          f"export one with `vidtrack export {model_name} --format openvino`, or use --backend auto")
    return (OnnxRuntimeBackend if name == "onnxruntime" else OpenVinoBackend)(weights, device, model_name)


def import_optional(module: str, extra: str, key: str = "detector.backend"):
    """An optional package, or a one-line error naming the config key that needs it and the extra to install."""
    try:
        return __import__(module)
    except ImportError:
        raise ConfigError(f"{key}: {module} is not installed; install it with pip install 'vidtrack[{extra}]'"
                          ) from None


def _metadata_value(value):
    """Ultralytics writes its metadata as Python literals in strings (ONNX) or YAML values (OpenVINO)."""
    if isinstance(value, str):
        try:
            return ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return value
    return value


class TorchBackend:
    """Ultralytics' AutoBackend: `.pt` checkpoints on the CPU or CUDA, and any other format Ultralytics loads."""

    name = "torch"

    def __init__(self, weights: str, device: torch.device, half: bool, model_name: str) -> None:
        from ultralytics.nn.autobackend import AutoBackend
        from ultralytics.nn.modules.head import Detect

        self.device, self.half = device, half
        try:
            self.model = AutoBackend(weights, device=device, fp16=half, fuse=True, verbose=False)
        except Exception as e:  # Ultralytics raises many types for unreadable or unknown weights
            raise WeightsError(f"{model_name}: Ultralytics could not load these weights "
                               f"({' '.join(str(e).split())})") from e
        self.model.eval()
        self.names: dict[int, str] = dict(self.model.names)
        self.stride = max(int(self.model.stride), 32)
        self.dynamic = self.model.format == "pt"  # exported graphs want the exact square size
        # AutoBackend keeps the PyTorch model on an inner, version-dependent attribute; other formats have none.
        network = getattr(getattr(self.model, "backend", None), "model", None) or getattr(self.model, "model", None)
        modules = network.modules() if isinstance(network, torch.nn.Module) else ()
        head = next((m for m in modules if isinstance(m, Detect)), None)
        self.has_maps = head is not None
        self._maps: list[torch.Tensor] | None = None
        self._lock = threading.Lock()  # one call at a time: the hook keeps the maps on self, and torch uses all cores
        if head is not None:
            head.register_forward_pre_hook(self._keep_maps)

    def _keep_maps(self, module: torch.nn.Module, args: tuple) -> None:
        self._maps = list(args[0])

    @torch.inference_mode()
    def __call__(self, images: np.ndarray) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
        tensor = torch.from_numpy(images).to(self.device).permute(0, 3, 1, 2).flip(1)  # BGR → RGB, (B, 3, H, W)
        tensor = (tensor.half() if self.half else tensor.float()) / 255.0
        with self._lock:
            self._maps = None
            predictions = self.model(tensor)
            maps, self._maps = self._maps, None
        if isinstance(predictions, (list, tuple)):
            predictions = predictions[0]
        return predictions, maps


class OnnxRuntimeBackend:
    """ONNX Runtime, on the CPU (or CUDA with onnxruntime-gpu)."""

    name = "onnxruntime"

    def __init__(self, weights: str, device: torch.device, model_name: str) -> None:
        ort = import_optional("onnxruntime", "onnx")
        providers = ["CPUExecutionProvider"]
        if device.type == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise ConfigError("detector.device: this onnxruntime cannot use CUDA; install onnxruntime-gpu, or use "
                                  "--device cpu")
            providers.insert(0, ("CUDAExecutionProvider", {"device_id": device.index or 0}))
        elif device.type != "cpu":
            raise ConfigError(f"detector.device: the onnxruntime backend runs on cpu or cuda, not {device}")
        try:
            self.session = ort.InferenceSession(weights, providers=providers)
        except Exception as e:  # onnxruntime raises its own exception types for unreadable graphs
            raise WeightsError(f"{model_name}: ONNX Runtime could not load this model ({' '.join(str(e).split())})"
                               ) from None
        meta = {k: _metadata_value(v) for k, v in self.session.get_modelmeta().custom_metadata_map.items()}
        self.input = self.session.get_inputs()[0]
        self.outputs = [o.name for o in self.session.get_outputs()]
        _apply_metadata(self, meta, self.input.shape, self.outputs, model_name)

    def __call__(self, images: np.ndarray) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
        tensor = network_input(images)
        outputs = self.session.run(self.outputs[:4] if self.has_maps else self.outputs[:1], {self.input.name: tensor})
        outputs = [torch.from_numpy(o) for o in outputs]
        return outputs[0], (outputs[1:] if self.has_maps else None)


class OpenVinoBackend:
    """OpenVINO on the CPU. The colour conversion and scaling run inside the compiled graph, and the model is
    compiled for each input shape it meets (one per video), so a dynamic export runs as fast as a static one."""

    name = "openvino"

    def __init__(self, weights: str, device: torch.device, model_name: str) -> None:
        ov = import_optional("openvino", "openvino")
        if device.type != "cpu":
            raise ConfigError(f"detector.device: the openvino backend runs on the CPU here, not {device}; use "
                              "--device cpu, or --backend torch for CUDA")
        path = Path(weights)
        xml = path if path.is_file() else next(path.glob("*.xml"))
        self.core = ov.Core()
        try:
            self.model = self.core.read_model(str(xml))
        except Exception as e:  # OpenVINO raises RuntimeError with a multi-line message
            raise WeightsError(f"{model_name}: OpenVINO could not read this model ({' '.join(str(e).split())})"
                               ) from None
        if path.suffix == ".onnx":
            meta = {k: _metadata_value(v) for k, v in _onnx_metadata(path).items()}
        else:  # Ultralytics' convention: metadata.yaml beside the .xml
            sidecar = xml.parent / "metadata.yaml"
            meta = yaml.safe_load(sidecar.read_text()) if sidecar.is_file() else {}
        shape = [d.get_length() if d.is_static else None for d in self.model.input().get_partial_shape()]
        self.outputs = [next(iter(o.get_names()), "") for o in self.model.outputs]  # Ultralytics' have no names
        _apply_metadata(self, meta or {}, shape, self.outputs, model_name)
        self.streams = 1
        self._compiled: dict[tuple[int, ...], object] = {}
        self._local = threading.local()
        self._lock = threading.Lock()

    def set_streams(self, streams: int) -> None:
        """Frames that may run at once (one OpenVINO stream each); set before the first call."""
        self.streams = streams

    def _compile(self, shape: tuple[int, ...]):
        """The model for (B, H, W, 3) BGR uint8 input, compiled once per shape."""
        import openvino as ov
        from openvino.preprocess import ColorFormat, PrePostProcessor

        model = self.model.clone()
        model.reshape([shape[0], 3, shape[1], shape[2]])  # the one input, whatever its name
        ppp = PrePostProcessor(model)
        ppp.input().tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC")).set_color_format(
            ColorFormat.BGR)
        ppp.input().model().set_layout(ov.Layout("NCHW"))
        ppp.input().preprocess().convert_element_type(ov.Type.f32).convert_color(ColorFormat.RGB).scale(255.0)
        config = {"PERFORMANCE_HINT": "LATENCY"} if self.streams == 1 else {
            "PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": self.streams}
        return self.core.compile_model(ppp.build(), "CPU", config)

    def _request(self, shape: tuple[int, ...]):
        """This thread's inference request for the model compiled for `shape`."""
        requests = self._local.__dict__.setdefault("requests", {})
        if shape not in requests:
            with self._lock:
                if shape not in self._compiled:
                    self._compiled[shape] = self._compile(shape)
                requests[shape] = self._compiled[shape].create_infer_request()
        return requests[shape]

    def __call__(self, images: np.ndarray) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
        request = self._request(images.shape)
        request.infer(np.ascontiguousarray(images))
        outputs = [torch.from_numpy(request.get_output_tensor(i).data.copy())
                   for i in range(4 if self.has_maps else 1)]
        return outputs[0], (outputs[1:] if self.has_maps else None)


def network_input(images: np.ndarray) -> np.ndarray:
    """(B, H, W, 3) BGR uint8 → (B, 3, H, W) float32 RGB in [0, 1], what an exported graph reads."""
    return np.ascontiguousarray(images[..., ::-1].transpose(0, 3, 1, 2), dtype=np.float32) / 255.0


def _onnx_metadata(path: Path) -> dict[str, str]:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in model.metadata_props}


def _apply_metadata(backend, meta: dict, input_shape: list, outputs: list[str], model_name: str) -> None:
    """Class names, stride, shape and feature outputs of an exported model, from its Ultralytics-style metadata."""
    names = meta.get("names")
    if not isinstance(names, dict):
        raise WeightsError(f"{model_name}: the model has no class names in its metadata; export it with "
                           "`vidtrack export` or Ultralytics' `model.export`")
    backend.names = {int(k): str(v) for k, v in names.items()}
    backend.stride = max(int(meta.get("stride", 32)), 32)
    dims = input_shape[2:4]
    backend.dynamic = any(d is None or isinstance(d, str) for d in dims)
    backend.export_imgsz = None if backend.dynamic else tuple(int(d) for d in dims)
    backend.has_maps = tuple(outputs[1:4]) == MAP_OUTPUTS
