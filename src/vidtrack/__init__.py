"""vidtrack: turn a video into tracked objects and forecast where each will be next."""

from vidtrack.config import Config, load_config
from vidtrack.errors import ConfigError, InputError, VidtrackError, WeightsError
from vidtrack.pipeline import FrameResult, Pipeline
from vidtrack.structures import Detections, Tracks

__all__ = [
    "Config",
    "ConfigError",
    "Detections",
    "FrameResult",
    "InputError",
    "Pipeline",
    "Tracks",
    "VidtrackError",
    "WeightsError",
    "load_config",
]
