"""Many videos in one run: a folder, a glob or a manifest becomes a list of clips, each with its own output folder.

A clip's folder is marked complete (`complete.json`, written in one step) only after all its files are closed, so that
running the same command again skips the finished clips and redoes the rest. `summary.csv` lists every clip.

>>> clips = expand_sources("videos/**/*.mp4", out="runs/fleet")   # doctest: +SKIP
>>> [clip.name for clip in clips]                                  # folders under runs/fleet, never two the same
['cam1-clip', 'cam2-clip', 'parking']
"""

from __future__ import annotations

import csv
import glob
import hashlib
import itertools
import json
import os
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from urllib.parse import urlparse

from vidtrack.errors import InputError
from vidtrack.io.sources import IMAGE_EXTENSIONS, STREAM_SCHEMES
from vidtrack.io.writers import atomic_open

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ts", ".mts")
MANIFEST_EXTENSIONS = (".txt", ".csv")
MARKER = "complete.json"
SUMMARY = "summary.csv"
SUMMARY_COLUMNS = ("name", "source", "status", "frames", "seconds", "fps", "tracks", "error")


@dataclass(frozen=True, slots=True)
class ClipOptions:
    """What may differ from clip to clip (a manifest's columns; the command's flags give the defaults)."""

    fps: float | None = None
    max_frames: int | None = None
    vid_stride: int = 1
    classes: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Clip:
    """One source of a collection and the folder under the run's output folder that its files go to."""

    source: str
    name: str
    options: ClipOptions = ClipOptions()


@dataclass(frozen=True, slots=True)
class ClipResult:
    """How one clip went. `status`: "done" (tracked in this run), "skipped" (complete from an earlier run with the
    same settings) or "failed" (`error` says why, in one line)."""

    name: str
    source: str
    status: str
    frames: int = 0
    seconds: float = 0.0
    tracks: int = 0
    error: str = ""

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def is_collection(source: str | os.PathLike) -> bool:
    """Whether `source` names many clips: a manifest (.txt or .csv), a folder without images in it (a folder of
    images is one clip, as before), or a glob pattern that is not itself an existing path."""
    text = os.fsdecode(source)
    if _is_remote(text):
        return False
    path = Path(text).expanduser()
    if path.is_file():
        return path.suffix.lower() in MANIFEST_EXTENSIONS
    if path.is_dir():
        return not any(p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file() for p in path.iterdir())
    return glob.has_magic(text)


def expand_sources(spec: str | os.PathLike | Iterable[str | os.PathLike], *, out: str | os.PathLike,
                   defaults: ClipOptions = ClipOptions()) -> list[Clip]:
    """The clips of a folder (its videos, in subfolders too), a glob, a manifest or a list of sources, named uniquely.

    Files under `out` are left out (an earlier run's annotated videos). Raises `InputError` for a collection without
    clips and, before anything runs, for two sources that would write to the same folder. A manifest line whose source
    does not exist is kept: it fails as a clip, and the others go on.
    """
    out = Path(out).expanduser().absolute()
    if isinstance(spec, (str, os.PathLike)):
        text = os.fsdecode(spec)
        path = Path(text).expanduser()
        root = path.parent if path.is_file() else path if path.is_dir() else _fixed_prefix(path)
        if path.is_file():
            entries = _read_manifest(path)
        else:
            found = _folder_videos(path) if path.is_dir() else sorted(glob.glob(text, recursive=True))
            entries = [(p, None, {}) for p in found if not _is_output(Path(p), out)]
            if not entries:
                what = "videos or images in this folder" if path.is_dir() else "files match this pattern"
                raise InputError(f"{text}: no {what}; check the path (videos: {' '.join(VIDEO_EXTENSIONS)})")
    else:
        entries = [(os.fsdecode(s), None, {}) for s in spec]
        if not entries:
            raise InputError("no sources given")
        local = [Path(s).expanduser().absolute().parent for s, _, _ in entries if not _is_remote(s)]
        root = Path(os.path.commonpath(local)) if local else Path.cwd()
    names = _unique_names([(source, name) for source, name, _ in entries], out, root)
    return [Clip(source, name, _options(defaults, values)) for (source, _, values), name in zip(entries, names)]


def _is_output(path: Path, out: Path) -> bool:
    """A file under this run's output folder, or the annotated video of an earlier run elsewhere."""
    earlier = path.name == "annotated.mp4" and any((path.parent / n).is_file() for n in (MARKER, "tracks.jsonl"))
    return earlier or path.absolute().is_relative_to(out)


def _folder_videos(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file())


def _read_manifest(path: Path) -> list[tuple[str, str | None, dict[str, str]]]:
    """(source, name or None, option values) per clip. A .txt holds one source per line (blank lines and lines
    starting with # are skipped); a .csv has a `source` column and optionally `name` and the `ClipOptions` fields.
    Relative sources are relative to the manifest's folder."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read this manifest ({e})") from None
    if path.suffix.lower() == ".txt":
        rows = [{"source": line.strip()} for line in text.splitlines()]
        rows = [row for row in rows if row["source"] and not row["source"].startswith("#")]
    else:
        reader = csv.DictReader(text.splitlines())
        known = {"source", "name"} | {f.name for f in fields(ClipOptions)}
        columns = reader.fieldnames or []
        if "source" not in columns:
            raise InputError(f"{path}: a CSV manifest needs a 'source' column (found: {', '.join(columns) or 'none'})")
        if unknown := [c for c in columns if c not in known]:
            raise InputError(f"{path}: unknown column {unknown[0]!r}; the columns are {', '.join(sorted(known))}")
        rows = [{k: (v or "").strip() for k, v in row.items()} for row in reader]
        rows = [row for row in rows if row["source"]]
    if not rows:
        raise InputError(f"{path}: no sources in this manifest; put one video path per line")
    entries = []
    for number, row in enumerate(rows, start=2 if path.suffix.lower() == ".csv" else 1):
        source = row.pop("source")
        if not _is_remote(source) and not Path(source).expanduser().is_absolute():
            source = str(path.parent / source)
        options = {k: v for k, v in row.items() if k != "name" and v}
        try:
            _options(ClipOptions(), options)
        except (ValueError, TypeError) as e:
            raise InputError(f"{path}:{number}: {e}") from None
        entries.append((source, row.get("name") or None, options))
    return entries


def _options(defaults: ClipOptions, values: dict[str, str]) -> ClipOptions:
    """`defaults` with a manifest row's option values (strings) put in; classes are separated by `;`."""
    converted = {}
    for key, value in values.items():
        if key == "classes":
            converted[key] = tuple(c.strip() for c in value.split(";") if c.strip()) or None
        elif key == "fps":
            converted[key] = float(value)
            if not converted[key] > 0:
                raise ValueError(f"fps must be a positive number, got {value}")
        else:
            converted[key] = int(value)
            if converted[key] < 1:
                raise ValueError(f"{key} must be 1 or more, got {value}")
    return ClipOptions(**(asdict(defaults) | converted))


def _unique_names(sources: list[tuple[str, str | None]], out: Path, root: Path) -> list[str]:
    """Each clip's folder name: its path below the collection's `root` (the folder, the manifest's folder, a glob's
    folder), without the suffix and with '-' for '/' (cam1/clip.mp4: cam1-clip), so that the name does not change as
    clips come and go; clips elsewhere get their stem. Names that still clash (clip.mp4 and clip.avi) get more of
    their path. A name given is kept as it is. Names are compared without case, as on macOS and Windows."""
    candidates = [[_checked_name(name, source)] if name else _name_candidates(source) for source, name in sources]
    level = [0 if name else _depth(source, root.expanduser().absolute()) for source, name in sources]
    while True:
        names = [c[min(lv, len(c) - 1)] for c, lv in zip(candidates, level)]
        groups = defaultdict(list)
        for i, name in enumerate(names):
            groups[name.casefold()].append(i)
        clashes = [group for group in groups.values() if len(group) > 1]
        if not clashes:
            return names
        for group in clashes:
            movable = [i for i in group if level[i] < len(candidates[i]) - 1]
            if not movable:
                first, second = (sources[i][0] for i in group[:2])
                raise InputError(f"{first} and {second} would both write to {out / names[group[0]]}; give each a "
                                 "name of its own (a 'name' column in a CSV manifest), or list a source once")
            for i in movable:
                level[i] += 1


def _is_remote(source: str) -> bool:
    return source.lower().startswith(STREAM_SCHEMES) or source.isdigit()


def _fixed_prefix(pattern: Path) -> Path:
    """The folder of a glob pattern before its first wildcard: videos/*/day*.mp4 → videos."""
    fixed = list(itertools.takewhile(lambda part: not glob.has_magic(part), pattern.parts))
    return Path(*fixed[:len(pattern.parts) - 1]) if fixed else Path()


def _depth(source: str, root: Path) -> int:
    """How many folders lie between `root` and the file `source` (0: directly in it, or not under it at all)."""
    if _is_remote(source):
        return 0
    path = Path(source).expanduser().absolute()
    return len(path.relative_to(root).parts) - 1 if path.is_relative_to(root) else 0


def _name_candidates(source: str) -> list[str]:
    """Folder names for `source`, from the shortest (the stem) to the longest (the whole path, with its suffix)."""
    if source.lower().startswith(STREAM_SCHEMES):
        url = urlparse(source)
        parts = [url.netloc, *[p for p in url.path.split("/") if p]]
    else:
        parts = [p for p in Path(source).expanduser().absolute().parts if p not in ("/", "\\")]
    stem = Path(parts[-1]).stem or parts[-1]
    names = ["-".join([*parts[len(parts) - 1 - k:-1], stem]) for k in range(len(parts))]
    names.append("-".join(parts))
    return [_safe(name) for name in names]


def _safe(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name).strip("._") or "clip"


def _checked_name(name: str, source: str) -> str:
    if _safe(name) != name or name == SUMMARY:
        raise InputError(f"{source}: name {name!r} is not allowed; use letters, digits, '-', '_' and '.'")
    return name


def settings_digest(settings: dict) -> str:
    """A short digest of what decides a clip's outputs (config and options), stored in its marker."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def completed(folder: Path, digest: str) -> ClipResult | None:
    """The result recorded in `folder`'s marker when it is complete with these settings, else None (to redo)."""
    try:
        record = json.loads((folder / MARKER).read_text())
        if record.get("settings") != digest:
            return None
        return ClipResult(folder.name, record["source"], "skipped", int(record["frames"]), float(record["seconds"]),
                          int(record["tracks"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def mark_complete(folder: Path, result: ClipResult, digest: str) -> None:
    """Write the marker in one step, after every file of the clip is closed."""
    record = {"source": result.source, "frames": result.frames, "seconds": round(result.seconds, 3),
              "tracks": result.tracks, "settings": digest}
    with atomic_open(folder / MARKER) as f:
        json.dump(record, f)


def write_summary(out: Path, results: Iterable[ClipResult]) -> Path:
    """`summary.csv`: one row per clip, in one step."""
    path = out / SUMMARY
    with atomic_open(path) as f:
        writer = csv.DictWriter(f, fieldnames=SUMMARY_COLUMNS)
        writer.writeheader()
        for r in results:
            writer.writerow({"name": r.name, "source": r.source, "status": r.status, "frames": r.frames,
                             "seconds": round(r.seconds, 2), "fps": round(r.fps, 2), "tracks": r.tracks,
                             "error": r.error})
    return path
