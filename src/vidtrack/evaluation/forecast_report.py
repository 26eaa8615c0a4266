"""Forecast evaluation reports: a markdown table, JSON, and a plot of error against time ahead."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

COLUMNS = {  # metric key → (header, decimals)
    "mse_0.5": ("MSE 0.5 s", 0), "mse_1.0": ("MSE 1.0 s", 0), "mse_1.5": ("MSE 1.5 s", 0),
    "c_mse": ("C_MSE", 0), "cf_mse": ("CF_MSE", 0), "ade": ("ADE px", 1), "fde": ("FDE px", 1),
    "vs_reference": ("× reference", 3), "fiou": ("FIoU", 3), "calibration_1sigma": ("within 1σ", 3),
    "calibration_2sigma": ("within 2σ", 3),
}


def markdown_table(results: dict[str, dict]) -> str:
    """One row per method; lower is better except FIoU; calibration should be near 0.683 and 0.954."""
    columns = {k: c for k, c in COLUMNS.items() if any(k in m for m in results.values())}
    lines = ["| method | " + " | ".join(h for h, _ in columns.values()) + " |", "|---|" + "---:|" * len(columns)]
    for method, metrics in results.items():
        cells = [f"{metrics[k]:.{d}f}" if k in metrics else "–" for k, (_, d) in columns.items()]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_report(
    results: dict[str, dict], curves: dict[str, np.ndarray], times: np.ndarray, folder: str | os.PathLike
) -> dict[str, Path]:
    """Write metrics.md, metrics.json and error_by_horizon.png into `folder`."""
    from matplotlib.figure import Figure  # not pyplot: no global backend is chosen for the caller

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": folder / "metrics.md", "json": folder / "metrics.json",
             "plot": folder / "error_by_horizon.png"}
    paths["markdown"].write_text(markdown_table(results) + "\n")
    report = {"results": results, "times_s": times.tolist(),
              "error_by_horizon_px": {k: v.tolist() for k, v in curves.items()}}
    paths["json"].write_text(json.dumps(_nan_to_none(report), indent=2, allow_nan=False))
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    for method, curve in curves.items():
        ax.plot(times, curve, marker="o", markersize=3, label=method)
    ax.set(xlabel="seconds ahead", ylabel="centre error (px)", title="Forecast error against time ahead")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(paths["plot"], dpi=120)
    return paths


def _nan_to_none(value):
    """NaN (a metric with no data) as JSON null, which strict JSON readers accept."""
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    return value
