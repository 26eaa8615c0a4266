"""The package layout: what runs inside `vidtrack track` does not import the training side, and the tracker and the
forecaster meet only where the tracker uses the run-time forecaster (`track/lstm_motion.py`)."""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "vidtrack"


def imports(folder: str) -> dict[str, set[str]]:
    """Every vidtrack module each file of `folder` imports, at the top or inside functions."""
    found = {}
    for path in sorted((PACKAGE / folder).rglob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
            elif isinstance(node, ast.Import):
                names |= {a.name for a in node.names}
        found[str(path.relative_to(PACKAGE))] = {n for n in names if n.startswith("vidtrack")}
    return found


def test_forecast_and_track_meet_only_in_lstm_motion():
    assert {f: m for f, m in imports("forecast").items() if any(n.startswith("vidtrack.track") for n in m)} == {}
    crossing = {f: {n for n in m if n.startswith("vidtrack.forecast")} for f, m in imports("track").items()}
    assert {f: m for f, m in crossing.items() if m} == {
        "track/lstm_motion.py": {"vidtrack.forecast", "vidtrack.forecast.default_checkpoint", "vidtrack.forecast.lstm",
                                 "vidtrack.forecast.lstm.LSTMForecaster", "vidtrack.forecast.lstm.load_checkpoint"},
    }


def test_run_time_code_does_not_import_training():
    for folder in ("forecast", "track", "detect", "io"):
        for file, modules in imports(folder).items():
            assert not {m for m in modules if m.startswith(("vidtrack.training", "vidtrack.evaluation"))}, file


def test_tracking_and_forecasting_load_no_training_module():
    probe = (
        "import sys\nimport numpy as np\nfrom vidtrack.forecast import Forecaster\n"
        "from vidtrack.pipeline import Pipeline\n"  # what `vidtrack track` runs (the package imports it lazily)
        "history = np.tile(np.array([[100.0, 100, 140, 200]]), (1, 10, 1)) + np.arange(10)[None, :, None]\n"
        "future, std = Forecaster.load().predict(history, fps=30.0, image_size=(1920, 1080))\n"
        "assert future.shape == (1, 45, 4)\n"
        "print(' '.join(m for m in sys.modules if m.startswith('vidtrack')))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    modules = set(result.stdout.split())
    assert {"vidtrack.forecast.features", "vidtrack.pipeline", "vidtrack.track.tracker"} <= modules
    assert not {m for m in modules if m.startswith(("vidtrack.training", "vidtrack.evaluation", "vidtrack.datasets"))}
