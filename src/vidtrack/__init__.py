"""vidtrack: turn a video into tracked objects and forecast where each will be next."""

from vidtrack.config import Config, load_config
from vidtrack.errors import ConfigError, InputError, VidtrackError, WeightsError
from vidtrack.forecast import Forecaster
from vidtrack.forecasting_tracker import ForecastingTracker
from vidtrack.pipeline import FrameResult, Pipeline
from vidtrack.structures import Detections, Tracks
from vidtrack.track.tracker import Tracker

__all__ = [
    "Config",
    "ConfigError",
    "Detections",
    "Forecaster",
    "ForecastingTracker",
    "FrameResult",
    "InputError",
    "Pipeline",
    "Tracker",
    "Tracks",
    "VidtrackError",
    "WeightsError",
    "load_config",
]
