"""Scoring trackers and forecasts: the MOTChallenge metrics (HOTA, MOTA, IDF1) through TrackEval, detections simulated
from ground truth for comparing trackers on the same input, and forecast errors (`forecasting`) with their report
(`forecast_report`)."""
