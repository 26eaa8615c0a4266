"""vidtrack: turn a video into tracked objects and forecast where each will be next.

The names below are imported on first use, so that `import vidtrack` (and the `vidtrack` command, before it knows
what it will run) does not wait seconds for torch: a Ctrl-C in those seconds then ends the command in one line.
"""

from importlib import import_module
from typing import TYPE_CHECKING

from vidtrack.errors import ConfigError, InputError, OutputError, VidtrackError, WeightsError

_LAZY = {
    "Config": "vidtrack.config",
    "load_config": "vidtrack.config",
    "Forecaster": "vidtrack.forecast",
    "ForecastingTracker": "vidtrack.forecasting_tracker",
    "FrameResult": "vidtrack.pipeline",
    "Pipeline": "vidtrack.pipeline",
    "Detections": "vidtrack.structures",
    "Tracks": "vidtrack.structures",
    "Tracker": "vidtrack.track.tracker",
}

if TYPE_CHECKING:
    from vidtrack.config import Config, load_config
    from vidtrack.forecast import Forecaster
    from vidtrack.forecasting_tracker import ForecastingTracker
    from vidtrack.pipeline import FrameResult, Pipeline
    from vidtrack.structures import Detections, Tracks
    from vidtrack.track.tracker import Tracker


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'vidtrack' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "Config",
    "ConfigError",
    "Detections",
    "Forecaster",
    "ForecastingTracker",
    "FrameResult",
    "InputError",
    "OutputError",
    "Pipeline",
    "Tracker",
    "Tracks",
    "VidtrackError",
    "WeightsError",
    "load_config",
]
