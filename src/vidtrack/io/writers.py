"""Writing a run's results: MOTChallenge `tracks.txt`, `tracks.jsonl` with forecasts (and line and zone counts), the
per-track summary `tracks.csv`, and `annotated.mp4`.

A folder that holds an earlier run's files gets a new, complete set: the old files are removed first, with a
warning. Each file is written frame by frame and goes to the operating system at once, so that a run that stops
early (an error, Ctrl-C, even SIGKILL) leaves valid files: `tracks.txt` and `tracks.jsonl` end with a complete line,
one write per frame (`LineFile`), and `annotated.mp4` is a fragmented MP4 that plays up to its last whole second
(`FragmentedVideo`). A full disk is an `OutputError` naming the file, which is cut back to its last whole frame or
fragment. `close()` runs in any case, writes the video's last fragment and `tracks.csv` in one step (a temporary
file renamed into place, so that it is complete or absent). Drawing and encoding the video happen in a background
thread, so that they overlap the next frame's inference.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import math
import os
import queue
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import cv2
import numpy as np
import orjson

from vidtrack.analytics import LineCounter, RegionEvents, ZoneCounter
from vidtrack.errors import InputError
from vidtrack.io.draw import TrackPainter
from vidtrack.io.files import LineFile, output_error
from vidtrack.io.motchallenge import MOTWriter
from vidtrack.io.video import FragmentedVideo

if TYPE_CHECKING:
    from vidtrack.config import OutputConfig
    from vidtrack.io.sources import SourceInfo
    from vidtrack.pipeline import FrameResult

log = logging.getLogger("vidtrack")
OUTPUT_FILES = ("tracks.txt", "tracks.jsonl", "tracks.csv", "frames.csv", "annotated.mp4")  # what a run writes


def frame_record(result: FrameResult, fps: float, names: dict[int, str],
                 lines: list[tuple[LineCounter, RegionEvents]] = (),
                 zones: list[tuple[ZoneCounter, RegionEvents]] = ()) -> dict:
    """The JSON Lines record of one frame; forecast boxes carry the frame index and time they are predicted for, and
    the standard deviations of their coordinates ("std") where the forecaster gives them. With counting lines and
    zones, "lines" and "zones" hold each one's running counts per class name and this frame's events. Boxes,
    forecasts and deviations are numpy arrays, for orjson's `OPT_SERIALIZE_NUMPY`."""
    tracks = result.tracks
    horizon = 0 if tracks.forecast is None else tracks.forecast.shape[1]
    future_frames = list(range(result.index + 1, result.index + 1 + horizon))
    times_s = [round(f / fps, 4) for f in future_frames]
    # Rounded as float64 (float32 would print 639.9299926757812 for 639.93); orjson writes the arrays as lists.
    boxes, scores = _rounded(tracks.xyxy, 2), _rounded(tracks.score, 4).tolist()
    forecast = None if tracks.forecast is None else _rounded(tracks.forecast, 2)
    std = None if tracks.forecast_std is None else _rounded(tracks.forecast_std, 2)
    records = []
    for i, (track_id, class_id) in enumerate(zip(tracks.track_id.tolist(), tracks.class_id.tolist())):
        record = {"id": track_id, "box": boxes[i], "score": scores[i], "class_id": class_id,
                  "class_name": names.get(class_id), "det_index": int(tracks.det_index[i])}
        if forecast is not None:
            record["forecast"] = {"kind": tracks.forecast_kind, "frames": future_frames, "times_s": times_s,
                                  "boxes": forecast[i]}
            if std is not None:
                record["forecast"]["std"] = std[i]
        records.append(record)
    record = {"frame": result.index, "time_s": round(result.time_s, 4), "tracks": records}
    if lines:
        record["lines"] = [line_record(counter, events, names) for counter, events in lines]
    if zones:
        record["zones"] = [zone_record(counter, events, names) for counter, events in zones]
    return record


def frame_rows(result: FrameResult, names: dict[int, str]) -> str:
    """The `frames.csv` rows of one frame, one per track (`FRAME_COLUMNS`), as one string of whole lines."""
    tracks, buffer = result.tracks, io.StringIO()
    rows = csv.writer(buffer, lineterminator="\n")
    boxes, scores = _rounded(tracks.xyxy, 2).tolist(), _rounded(tracks.score, 4).tolist()
    for i, (track_id, class_id) in enumerate(zip(tracks.track_id.tolist(), tracks.class_id.tolist())):
        rows.writerow([result.index, round(result.time_s, 4), track_id, class_id, names.get(class_id, ""),
                       *boxes[i], scores[i]])
    return buffer.getvalue()


def _rounded(values: np.ndarray, decimals: int) -> np.ndarray:
    return np.round(np.asarray(values, dtype=np.float64), decimals)


def _per_class(counts: Counter, names: dict[int, str]) -> dict[str, int]:
    return {names.get(k, str(k)): n for k, n in sorted(counts.items())}


def _anticipated(events: RegionEvents) -> list[dict]:
    return [{"id": a.track_id, "direction": a.direction, "frame": a.frame, "time_s": a.time_s,
             "time_std_s": a.time_std_s} for a in events.anticipated]


def line_record(counter: LineCounter, events: RegionEvents, names: dict[int, str]) -> dict:
    """A line's running counts per class name, the ids that crossed in this frame and the crossings anticipated."""
    counts = {d: _per_class(c, names) for d, c in counter.counts.items()}
    return counts | {"crossed": [c.track_id for c in events.crossed], "anticipated": _anticipated(events)}


def zone_record(counter: ZoneCounter, events: RegionEvents, names: dict[int, str]) -> dict:
    """A zone's running entry ("in") and exit ("out") counts and its occupancy now, per class name, the ids that
    entered and exited in this frame, and the entries and exits anticipated."""
    counts = {d: _per_class(c, names) for d, c in counter.counts.items()}
    return counts | {
        "occupancy": _per_class(counter.occupancy, names),
        "entered": [c.track_id for c in events.crossed if c.direction == "in"],
        "exited": [c.track_id for c in events.crossed if c.direction == "out"],
        "anticipated": _anticipated(events),
    }


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike) -> Iterator[TextIO]:
    """Open a temporary text file beside `path`; on success it is renamed over `path` in one step, so that `path` is
    complete or absent (or still the old version), never half written. A file that cannot be written (a full disk, a
    folder in its place) is an `OutputError` and leaves nothing behind.

    >>> with atomic_open("runs/clip/tracks.csv") as f:  # doctest: +SKIP
    ...     f.write("id,class_id\\n")
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:  # not mkstemp: its files are private (0600), this one gets the umask's permissions like the others
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    except OSError as e:
        raise output_error(path, e, holds="nothing: it was not written") from None
    try:
        with os.fdopen(handle, "w", newline="") as f:
            yield f
        os.replace(temporary, path)
    except OSError as e:
        temporary.unlink(missing_ok=True)
        raise output_error(path, e, holds="nothing: it was not written") from None
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


SUMMARY_COLUMNS = ("id", "class_id", "class_name", "first_frame", "last_frame", "first_time_s", "last_time_s",
                   "duration_s", "frames_seen", "path_length_px", "mean_speed_px_s", "events")
FRAME_COLUMNS = ("frame", "time_s", "id", "class_id", "class_name", "x1", "y1", "x2", "y2", "score")


@dataclass
class _TrackStats:
    """What `tracks.csv` needs of one track, accumulated frame by frame."""

    first_frame: int
    first_time: float
    last_frame: int = 0
    last_time: float = 0.0
    frames: int = 0
    path: float = 0.0
    centre: list[float] | None = None  # x, y
    classes: Counter = field(default_factory=Counter)
    events: list[str] = field(default_factory=list)


class TrackSummary:
    """Per-track totals for `tracks.csv`: one row per track id, ordered by id.

    The class is the one the track had in most of its frames (a tie goes to the class seen first). Frames are
    0-based, as in `tracks.jsonl`; the path length sums the moves of the box centre between consecutive observations
    and the mean speed divides it by the duration (empty for a track seen at a single instant). `events` lists the
    track's line crossings and zone entries and exits in order, e.g. "line1 in 3.43s; zone2 out 5.71s" (lines and
    zones numbered from 1 in the order given).
    """

    def __init__(self, names: dict[int, str]) -> None:
        self.names = names
        self._stats: dict[int, _TrackStats] = {}

    def update(self, result: FrameResult, lines: list[RegionEvents] = (), zones: list[RegionEvents] = ()) -> None:
        tracks = result.tracks
        centres = ((tracks.xyxy[:, :2] + tracks.xyxy[:, 2:]) / 2).tolist()  # Python floats: no numpy call per track
        for track_id, class_id, centre in zip(tracks.track_id.tolist(), tracks.class_id.tolist(), centres):
            stats = self._stats.setdefault(track_id, _TrackStats(result.index, result.time_s))
            if stats.centre is not None:
                stats.path += math.dist(centre, stats.centre)
            stats.centre, stats.last_frame, stats.last_time = centre, result.index, result.time_s
            stats.frames += 1
            stats.classes[class_id] += 1
        for kind, regions in (("line", lines), ("zone", zones)):
            for number, events in enumerate(regions, start=1):
                for crossing in events.crossed:
                    if (stats := self._stats.get(crossing.track_id)) is not None:
                        stats.events.append(f"{kind}{number} {crossing.direction} {result.time_s:.2f}s")

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
                "events": "; ".join(s.events),
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
        self.writer = FragmentedVideo(path, fps=fps, size=size)
        self.queue: queue.Queue = queue.Queue(maxsize=4)
        self.error: BaseException | None = None  # raised once, at the caller's next write or close
        self.failed = False
        self.thread = threading.Thread(target=self._work, name="vidtrack-video", daemon=True)
        self.thread.start()

    def _work(self) -> None:
        while (item := self.queue.get()) is not None:
            if self.failed:
                continue  # keep draining so that put() never blocks
            image, tracks, (lines, zones) = item
            try:
                if image is None:  # precomputed detections without images: draw on a dark canvas
                    image = np.full((self.size[1], self.size[0], 3), 40, dtype=np.uint8)
                elif image.shape[1::-1] != self.size:
                    image = cv2.resize(image, self.size)
                self.writer.write(self.painter.draw(image, tracks, lines, zones))
            except BaseException as e:
                self.error, self.failed = e, True

    def _raise_error(self) -> None:
        error, self.error = self.error, None
        if error is not None:
            raise error

    def write(self, image: np.ndarray | None, tracks, overlays: tuple[list, list]) -> None:
        self._raise_error()
        self.queue.put((image, tracks, overlays))

    def close(self) -> None:
        if self.thread.is_alive():
            self.queue.put(None)
            self.thread.join()
        try:
            self.writer.close()
        finally:
            self._raise_error()


class ResultWriter:
    """Writes the outputs a run asks for into `folder`; a context manager. `lines` and `zones` are counted at every
    frame (also when no file is written), recorded in `tracks.jsonl` and drawn with their counts on the video.

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
        zones: list[ZoneCounter] = (),
    ) -> None:
        self.folder = Path(folder)
        self.lines, self.zones = list(lines), list(zones)
        self.fps, self.size, self.names = fps, size, names or {}
        self.paths: dict[str, Path] = {}
        self._mot = self._jsonl = self._video = self._summary = self._frames = None
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
                self._jsonl = LineFile(self.paths["jsonl"])
            if video:
                self.paths["video"] = self.folder / "annotated.mp4"
                self._video = _VideoThread(self.paths["video"], fps, size, TrackPainter(round(trail_s * fps), names))
        except OSError as e:  # a read-only folder, a folder where the file should be, ...
            self.close()
            raise InputError(f"{e.filename}: cannot write this output file ({e.strerror})") from None
        except BaseException:
            self.close()
            raise
        if csv:  # last, so that a writer that failed to open writes no summary
            self.paths["csv"] = self.folder / "tracks.csv"
            self._summary = TrackSummary(self.names)
            self.paths["rows"] = self.folder / "frames.csv"
            try:
                self._frames = LineFile(self.paths["rows"])
                self._frames.write(",".join(FRAME_COLUMNS) + "\n")
            except OSError as e:
                self.close()
                raise InputError(f"{e.filename}: cannot write this output file ({e.strerror})") from None

    @classmethod
    def for_source(cls, folder: str | os.PathLike, info: SourceInfo, output: OutputConfig, names: dict[int, str],
                   lines: list[LineCounter] = (), zones: list[ZoneCounter] = ()) -> ResultWriter:
        """The writer of the files that `output` (a config's output section) asks for, for a source of `info`."""
        return cls(folder, fps=info.fps, size=info.size, video=output.video, mot=output.mot, jsonl=output.jsonl,
                   csv=output.csv, names=names, trail_s=output.trail_s, lines=lines, zones=zones)

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
        lines = [(counter, counter.update(result.index, result.tracks)) for counter in self.lines]
        zones = [(counter, counter.update(result.index, result.tracks)) for counter in self.zones]
        if self._mot is not None:
            self._mot.write(result.index + 1, result.tracks)
        if self._jsonl is not None:
            record = frame_record(result, self.fps, self.names, lines, zones)
            self._jsonl.write(orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY).decode() + "\n")
        if self._video is not None:
            self._video.write(result.image, result.tracks, self.overlays())
        if self._summary is not None:
            self._summary.update(result, [e for _, e in lines], [e for _, e in zones])
        if self._frames is not None:
            self._frames.write(frame_rows(result, self.names))

    def overlays(self) -> tuple[list[tuple], list[tuple]]:
        """What `TrackPainter.draw` shows of the lines, (start, end, in, out), and of the zones, (polygon, in, out,
        inside now), with their counts as of the last frame written."""
        lines = [(c.start, c.end, c.counts["in"].total(), c.counts["out"].total()) for c in self.lines]
        zones = [(c.polygon, c.counts["in"].total(), c.counts["out"].total(), c.occupancy.total()) for c in self.zones]
        return lines, zones

    def close(self) -> None:
        """Close the files and write `tracks.csv` (once, however many times close is called); every file is closed
        even when one fails, and the first failure is raised."""
        handles = (self._mot, self._jsonl, self._video, self._frames)
        self._mot = self._jsonl = self._video = self._frames = None
        summary, self._summary = self._summary, None
        steps = [handle.close for handle in handles if handle is not None]
        if summary is not None:
            steps.append(partial(summary.save, self.paths["csv"]))
        error = None
        for step in steps:
            try:
                step()
            except BaseException as e:
                error = error or e
        if error is not None:
            raise error

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self.close()
        except Exception:
            if exc is None:
                raise  # else the run's own error is the one to report; the files are closed either way
