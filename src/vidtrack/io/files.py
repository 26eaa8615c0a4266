"""Text output that a fault cannot leave half-written: `LineFile` appends whole lines, all or nothing.

A run's line files (`tracks.txt`, `tracks.jsonl`) must end with a complete line however the run ends. Each chunk of
lines goes to the operating system in one unbuffered write, so a killed process leaves every chunk written before
it; a write that fails part-way (a full disk) is cut back to the end of the previous chunk and reported in one line.
"""

from __future__ import annotations

import os
from pathlib import Path

from vidtrack.errors import OutputError


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of `data` to the file descriptor `fd` (os.write may take fewer at a time); the one place where
    a run's output reaches the disk, so that a test can fill the disk by replacing it."""
    left = memoryview(data)
    while left:
        left = left[os.write(fd, left):]


def output_error(path: str | os.PathLike, error: OSError, holds: str = "every frame finished before it") -> OutputError:
    """The one-line error of an output file that could not be written to the end, e.g.
    `runs/x/tracks.jsonl: no space left on device; it holds every frame finished before it`."""
    reason = (error.strerror or str(error)).lower()
    return OutputError(f"{path}: {reason}; it holds {holds}")


class LineFile:
    """A text file (UTF-8, "\\n" line ends) written one chunk of whole lines at a time; a context manager.

    Opening truncates or creates the file; an OSError there (a folder in its place, a read-only folder) carries the
    file name. `write` raises an `OutputError` when the chunk cannot be written whole, after cutting the file back to
    the chunks before it.

    >>> with LineFile("tracks.txt") as f:  # doctest: +SKIP
    ...     f.write("1,1,10,20,30,40,0.9,-1,-1,-1\\n2,1,11,20,30,40,0.9,-1,-1,-1\\n")
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        self._size = 0  # the end of the last chunk written whole

    @property
    def closed(self) -> bool:
        return self._fd is None

    def write(self, text: str) -> None:
        if self._fd is None:
            raise ValueError(f"{self.path}: write() after close()")
        data = text.encode("utf-8")
        try:
            write_all(self._fd, data)
        except OSError as e:
            os.ftruncate(self._fd, self._size)  # shrinking needs no space
            raise output_error(self.path, e) from None
        self._size += len(data)

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def __enter__(self) -> LineFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
