"""Errors caused by what the user gave us: the CLI prints them as one line, without a traceback."""


class VidtrackError(Exception):
    """Base class: the message names the file or key at fault and says what to do next."""


class InputError(VidtrackError):
    """A source, detections file or label file that cannot be read."""


class ConfigError(VidtrackError):
    """An unknown config key or an invalid value."""


class WeightsError(VidtrackError):
    """Detector weights or a forecaster checkpoint that cannot be found or loaded."""


class OutputError(VidtrackError):
    """An output file that cannot be written to the end (a full disk, a failing drive); what it holds stays valid."""
