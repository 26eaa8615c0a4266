"""The LSTM forecaster's step as an ONNX graph, run by ONNX Runtime or OpenVINO instead of PyTorch.

The graph is one time step of `LSTMStep`, batched over tracks, with the LSTM's state in and out:

    inputs (B, C) the feature columns the model reads, h (layers, B, hidden), c (layers, B, hidden)
    → offsets (B, horizon, 4), log_std (B, horizon, 4), h, c

`LSTMForecaster(..., runtime="onnxruntime" | "openvino")` builds it in memory from the checkpoint; `export_step`
writes it to a file, for running the forecaster elsewhere.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import torch

from vidtrack.detect.backends import import_optional
from vidtrack.errors import ConfigError
from vidtrack.forecast.lstm import LSTMStep, TrajectoryLSTM

OPSET = 17
INPUTS, OUTPUTS = ("inputs", "h", "c"), ("offsets", "log_std", "h_out", "c_out")


class _StepModule(torch.nn.Module):
    def __init__(self, step: LSTMStep) -> None:
        super().__init__()
        self.step = step

    def forward(self, inputs: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, ...]:
        offsets, log_std, (h, c) = self.step(inputs, (h, c))
        return offsets, log_std, h, c


def export_step(model: TrajectoryLSTM, file: str | os.PathLike | io.BytesIO) -> None:
    """Write one step of `model` as ONNX (to a path or a buffer), with a dynamic number of tracks."""
    step = LSTMStep(model.cpu())
    config = model.config
    example = (torch.zeros(2, len(step.columns)), torch.zeros(config.num_layers, 2, config.hidden_size),
               torch.zeros(config.num_layers, 2, config.hidden_size))
    axes = {"inputs": {0: "tracks"}, "h": {1: "tracks"}, "c": {1: "tracks"}, "offsets": {0: "tracks"},
            "log_std": {0: "tracks"}, "h_out": {1: "tracks"}, "c_out": {1: "tracks"}}
    torch.onnx.export(_StepModule(step), example, file if isinstance(file, io.BytesIO) else str(file),
                      opset_version=OPSET, input_names=list(INPUTS), output_names=list(OUTPUTS),
                      dynamic_axes=axes, dynamo=False)


class OnnxStep:
    """A drop-in for `LSTMStep` (torch tensors in and out) that runs the exported step with ONNX Runtime or
    OpenVINO on the CPU."""

    def __init__(self, model: TrajectoryLSTM, runtime: str) -> None:
        buffer = io.BytesIO()
        export_step(model, buffer)
        step = LSTMStep(model.cpu())
        self.columns, self.horizon = step.columns, step.horizon
        if runtime == "onnxruntime":
            ort = import_optional("onnxruntime", "onnx", "forecast.runtime")
            options = ort.SessionOptions()
            options.intra_op_num_threads = 1  # a few small matrix products: threads cost more than they give
            session = ort.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])
            self._run = lambda feeds: session.run(list(OUTPUTS), feeds)
        elif runtime == "openvino":
            ov = import_optional("openvino", "openvino", "forecast.runtime")
            core = ov.Core()
            compiled = core.compile_model(core.read_model(buffer.getvalue()), "CPU", {
                "INFERENCE_NUM_THREADS": 1, "INFERENCE_PRECISION_HINT": "f32"})
            request = compiled.create_infer_request()
            self._run = lambda feeds: [request.infer(feeds)[o] for o in compiled.outputs]
        else:
            raise ConfigError(f"forecast.runtime: {runtime!r} is not allowed; choose torch, onnxruntime or openvino")

    def __call__(
        self, inputs: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        feeds = {"inputs": inputs.cpu().numpy(), "h": state[0].cpu().numpy(), "c": state[1].cpu().numpy()}
        offsets, log_std, h, c = (torch.from_numpy(np.array(o)) for o in self._run(feeds))
        return offsets, log_std, (h, c)


def export_forecaster(checkpoint: str | os.PathLike | None, out: str | os.PathLike) -> Path:
    """Write the step of a forecaster checkpoint (a folder or preset name) to `out` (.onnx), atomically."""
    from vidtrack.forecast import default_checkpoint
    from vidtrack.forecast.lstm import load_checkpoint

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    export_step(load_checkpoint(default_checkpoint(checkpoint)), partial)
    os.replace(partial, out)
    return out
