"""Scoring trackers: the MOTChallenge metrics (HOTA, MOTA, IDF1) through TrackEval, and detections simulated from
ground truth for comparing trackers on the same input."""
