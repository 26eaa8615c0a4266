"""Writing a run's results: MOTChallenge `tracks.txt`, `tracks.jsonl` with forecasts (and line counts), the
per-track summary `tracks.csv`, and `annotated.mp4`.

A folder that holds an earlier run's files gets a new, complete set: the old files are removed first, with a
warning. Each file is written frame by frame and flushed, so that a run that stops early (an error, Ctrl-C) leaves
valid files holding every finished frame; `close()` runs in any case, finalises the video container and writes
`tracks.csv` in one step (a temporary file renamed into place, so that it is complete or absent). Drawing and
encoding the video happen in a background thread, so that they overlap the next frame's inference.
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import os
import queue
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import cv2
import numpy as np

from vidtrack.analytics import LineCounter, LineEvents
from vidtrack.errors import InputError
from vidtrack.io.draw import TrackPainter
from vidtrack.io.motchallenge import MOTWriter

if TYPE_CHECKING:
    from vidtrack.config import OutputConfig
    from vidtrack.io.sources import SourceInfo
    from vidtrack.pipeline import FrameResult

log = logging.getLogger("vidtrack")
OUTPUT_FILES = ("tracks.txt", "tracks.jsonl", "tracks.csv", "annotated.mp4")  # what a run writes into its folder


def frame_record(result: FrameResult, fps: float, names: dict[int, str],
                 lines: list[tuple[LineCounter, LineEvents]] = ()) -> dict:
    """The JSON Lines record of one frame; forecast boxes carry the frame index and time they are predicted for.
    With counting lines, "lines" holds each line's running counts per class name and this frame's events."""
    tracks = result.tracks
    horizon = 0 if tracks.forecast is None else tracks.forecast.shape[1]
    future_frames = list(range(result.index + 1, result.index + 1 + horizon))
    records = []
    for i, track_id in enumerate(tracks.track_id.tolist()):
        record = {
            "id": track_id,
            "box": np.round(tracks.xyxy[i], 2).tolist(),
            "score": round(float(tracks.score[i]), 4),
            "class_id": int(tracks.class_id[i]),
            "class_name": names.get(int(tracks.class_id[i])),
            "det_index": int(tracks.det_index[i]),
        }
        if tracks.forecast is not None:
            record["forecast"] = {
                "kind": tracks.forecast_kind,
                "frames": future_frames,
                "times_s": [round(f / fps, 4) for f in future_frames],
                "boxes": np.round(tracks.forecast[i], 2).tolist(),
            }
        records.append(record)
    record = {"frame": result.index, "time_s": round(result.time_s, 4), "tracks": records}
    if lines:
        record["lines"] = [line_record(counter, events, names) for counter, events in lines]
    return record


def line_record(counter: LineCounter, events: LineEvents, names: dict[int, str]) -> dict:
    """A line's running counts per class name, the ids that crossed in this frame and the crossings anticipated."""
    counts = {d: {names.get(k, str(k)): n for k, n in sorted(c.items())} for d, c in counter.counts.items()}
    anticipated = [{"id": a.track_id, "direction": a.direction, "frame": a.frame, "time_s": a.time_s}
                   for a in events.anticipated]
    return counts | {"crossed": [c.track_id for c in events.crossed], "anticipated": anticipated}


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike) -> Iterator[TextIO]:
    """Open a temporary text file beside `path`; on success it is renamed over `path` in one step, so that `path` is
    complete or absent (or still the old version), never half written.

    >>> with atomic_open("runs/clip/tracks.csv") as f:  # doctest: +SKIP
    ...     f.write("id,class_id\\n")
    """
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", newline="") as f:
            yield f
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


SUMMARY_COLUMNS = ("id", "class_id", "class_name", "first_frame", "last_frame", "first_time_s", "last_time_s",
                   "duration_s", "frames_seen", "path_length_px", "mean_speed_px_s")


@dataclass
class _TrackStats:
    """What `tracks.csv` needs of one track, accumulated frame by frame."""

    first_frame: int
    first_time: float
    last_frame: int = 0
    last_time: float = 0.0
    frames: int = 0
    path: float = 0.0
    centre: np.ndarray | None = None
    classes: Counter = field(default_factory=Counter)


class TrackSummary:
    """Per-track totals for `tracks.csv`: one row per track id, ordered by id.

    The class is the one the track had in most of its frames (a tie goes to the class seen first). Frames are
    0-based, as in `tracks.jsonl`; the path length sums the moves of the box centre between consecutive observations
    and the mean speed divides it by the duration (empty for a track seen at a single instant).
    """

    def __init__(self, names: dict[int, str]) -> None:
        self.names = names
        self._stats: dict[int, _TrackStats] = {}

    def update(self, result: FrameResult) -> None:
        tracks = result.tracks
        centres = (tracks.xyxy[:, :2] + tracks.xyxy[:, 2:]) / 2
        for track_id, class_id, centre in zip(tracks.track_id.tolist(), tracks.class_id.tolist(), centres):
            stats = self._stats.setdefault(track_id, _TrackStats(result.index, result.time_s))
            if stats.centre is not None:
                stats.path += float(np.hypot(*(centre - stats.centre)))
            stats.centre, stats.last_frame, stats.last_time = centre, result.index, result.time_s
            stats.frames += 1
            stats.classes[class_id] += 1

    def rows(self) -> list[dict]:
        rows = []
        for track_id, s in sorted(self._stats.items()):
            class_id = s.classes.most_common(1)[0][0]
            duration = s.last_time - s.first_time
            rows.append({
                "id": track_id, "class_id": class_id, "class_name": self.names.get(class_id, ""),
                "first_frame": s.first_frame, "last_frame": s.last_frame,
                "first_time_s": round(s.first_time, 4), "last_time_s": round(s.last_time, 4),
                "duration_s": round(duration, 4), "frames_seen": s.frames, "path_length_px": round(s.path, 2),
                "mean_speed_px_s": round(s.path / duration, 2) if duration > 0 else "",
            })
        return rows

    def save(self, path: Path) -> None:
        """Write the CSV in one step (see `atomic_open`)."""
        with atomic_open(path) as f:
            writer = csv.DictWriter(f, fieldnames=SUMMARY_COLUMNS)
            writer.writeheader()
            writer.writerows(self.rows())


class _VideoThread:
    """Draws and encodes frames in a background thread, fed through a bounded queue."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int], painter: TrackPainter) -> None:
        self.size, self.painter = size, painter
        self.writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        if not self.writer.isOpened():
            raise InputError(f"{path}: OpenCV cannot write an mp4 video here; use --no-video or another output folder")
        self.queue: queue.Queue = queue.Queue(maxsize=4)
        self.error: BaseException | None = None  # raised once, at the caller's next write or close
        self.failed = False
        self.thread = threading.Thread(target=self._work, name="vidtrack-video", daemon=True)
        self.thread.start()

    def _work(self) -> None:
        while (item := self.queue.get()) is not None:
            if self.failed:
                continue  # keep draining so that put() never blocks
            image, tracks, lines = item
            try:
                if image is None:  # precomputed detections without images: draw on a dark canvas
                    image = np.full((self.size[1], self.size[0], 3), 40, dtype=np.uint8)
                elif image.shape[1::-1] != self.size:
                    image = cv2.resize(image, self.size)
                self.writer.write(self.painter.draw(image, tracks, lines))
            except BaseException as e:
                self.error, self.failed = e, True

    def _raise_error(self) -> None:
        error, self.error = self.error, None
        if error is not None:
            raise error

    def write(self, image: np.ndarray | None, tracks, lines: list[tuple]) -> None:
        self._raise_error()
        self.queue.put((image, tracks, lines))

    def close(self) -> None:
        if self.thread.is_alive():
            self.queue.put(None)
            self.thread.join()
        self.writer.release()
        self._raise_error()


class ResultWriter:
    """Writes the outputs a run asks for into `folder`; a context manager. `lines` are counted at every frame
    (also when no file is written), recorded in `tracks.jsonl` and drawn with their counts on the video.

    Example:
        >>> with ResultWriter("runs/clip", fps=pipe.info.fps, size=pipe.info.size) as out:
        ...     for result in pipe.run("clip.mp4"):
        ...         out.write(result)
    """

    def __init__(
        self,
        folder: str | os.PathLike,
        *,
        fps: float,
        size: tuple[int, int],
        video: bool = True,
        mot: bool = True,
        jsonl: bool = True,
        csv: bool = True,
        names: dict[int, str] | None = None,
        trail_s: float = 1.0,
        lines: list[LineCounter] = (),
    ) -> None:
        self.folder = Path(folder)
        self.lines = list(lines)
        self.fps, self.size, self.names = fps, size, names or {}
        self.paths: dict[str, Path] = {}
        self._mot = self._jsonl = self._video = self._summary = None
        if not (video or mot or jsonl or csv):
            return  # nothing to write: the folder and an earlier run's files in it are left alone
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise InputError(f"{self.folder}: cannot create the output folder ({e.strerror})") from None
        self._replace_earlier_run()
        try:
            if mot:
                self.paths["mot"] = self.folder / "tracks.txt"
                self._mot = MOTWriter(self.paths["mot"])
            if jsonl:
                self.paths["jsonl"] = self.folder / "tracks.jsonl"
                self._jsonl = open(self.paths["jsonl"], "w")  # noqa: SIM115 (open for the whole run)
        except OSError as e:  # a read-only folder, a folder where the file should be, ...
            self.close()
            raise InputError(f"{e.filename}: cannot write this output file ({e.strerror})") from None
        if video:
            self.paths["video"] = self.folder / "annotated.mp4"
            try:
                self._video = _VideoThread(self.paths["video"], fps, size, TrackPainter(round(trail_s * fps), names))
            except InputError:
                self.close()
                raise
        if csv:  # last, so that a writer that failed to open writes no summary
            self.paths["csv"] = self.folder / "tracks.csv"
            self._summary = TrackSummary(self.names)

    @classmethod
    def for_source(cls, folder: str | os.PathLike, info: SourceInfo, output: OutputConfig, names: dict[int, str],
                   lines: list[LineCounter] = ()) -> ResultWriter:
        """The writer of the files that `output` (a config's output section) asks for, for a source of `info`."""
        return cls(folder, fps=info.fps, size=info.size, video=output.video, mot=output.mot, jsonl=output.jsonl,
                   csv=output.csv, names=names, trail_s=output.trail_s, lines=lines)

    def _replace_earlier_run(self) -> None:
        """The files of an earlier run in the folder go, all of them, so that no old file sits beside new ones."""
        earlier = [self.folder / name for name in OUTPUT_FILES if (self.folder / name).is_file()]
        if not earlier:
            return
        log.warning("%s: replacing the results of an earlier run (%s)", self.folder, ", ".join(p.name for p in earlier))
        for path in earlier:
            try:
                path.unlink()
            except OSError as e:
                raise InputError(f"{path}: cannot replace this earlier result ({e.strerror})") from None

    def write(self, result: FrameResult) -> None:
        events = [counter.update(result.index, result.tracks) for counter in self.lines]
        if self._mot is not None:
            self._mot.write(result.index + 1, result.tracks)
        if self._jsonl is not None:
            record = frame_record(result, self.fps, self.names, list(zip(self.lines, events)))
            self._jsonl.write(json.dumps(record) + "\n")
            self._jsonl.flush()
        if self._video is not None:
            drawn = [(c.start, c.end, c.counts["in"].total(), c.counts["out"].total()) for c in self.lines]
            self._video.write(result.image, result.tracks, drawn)
        if self._summary is not None:
            self._summary.update(result)

    def close(self) -> None:
        """Close the files and write `tracks.csv` (once, however many times close is called)."""
        try:
            for handle in (self._mot, self._jsonl, self._video):
                if handle is not None:
                    handle.close()
        finally:
            summary, self._summary = self._summary, None
            if summary is not None:
                summary.save(self.paths["csv"])

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
