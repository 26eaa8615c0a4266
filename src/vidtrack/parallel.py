"""Running many clips: one after another in this process, N at once in worker processes, or as Ray tasks.

Each worker loads the model once and keeps it for every clip it is given; the CPU threads are shared out (two torch
processes that each take every core run several times slower than one). Results come back as clips finish.

>>> for result in run_many(config, "videos/*.mp4", "runs/fleet", workers=2):   # doctest: +SKIP
...     print(result.name, result.status, result.fps)
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import multiprocessing
import os
import socket
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, replace
from pathlib import Path

from vidtrack.collection import (
    Clip,
    ClipOptions,
    ClipResult,
    completed,
    expand_sources,
    mark_complete,
    settings_digest,
    write_summary,
)
from vidtrack.config import Config
from vidtrack.errors import ConfigError, InputError, VidtrackError, WeightsError

log = logging.getLogger("vidtrack")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
RAY_CONNECT_TIMEOUT_S = 5.0

_pipelines: dict[str, object] = {}  # in each worker process: one Pipeline per settings, the model loaded once


def run_many(
    config: Config, sources: str | os.PathLike | Iterable[str | os.PathLike] | list[Clip], out: str | os.PathLike, *,
    workers: int = 1, ray: str | None = None, task_cpus: float | None = None, task_gpus: float = 0,
    options: ClipOptions | None = None, pipeline=None,
) -> Iterator[ClipResult]:
    """Track every clip of `sources` (a folder, glob, manifest, list of sources, or `Clip`s) into `out/<clip name>/`,
    yielding each clip's result as it finishes: first the clips complete from an earlier run ("skipped"), then the
    others ("done" or "failed", one-line error). `summary.csv` in `out` lists them all at the end.

    `workers` clips run at once, in worker processes (1: in this process, with `pipeline` if given). `ray`: run them
    as Ray tasks on the cluster at this address ("auto", "HEAD:6379", "ray://HEAD:10001"), or on a local Ray started
    for the run ("local"), each task asking for `task_cpus` CPUs (default: this machine's cores / `workers`) and
    `task_gpus` GPUs (a fraction shares one). A ConfigError or WeightsError of the shared settings stops the run.
    """
    out = Path(out)
    clips = sources if _are_clips(sources) else expand_sources(sources, out=out, defaults=options or ClipOptions())
    saving = any((config.output.video, config.output.mot, config.output.jsonl, config.output.csv))
    skipped, todo = [], []
    for clip in clips:
        digest = _digest(config, clip)
        if saving and (done := completed(out / clip.name, digest)) is not None:
            skipped.append(done)
        else:
            todo.append((clip, digest))
    if ray is not None and todo:  # here, not once results are asked for: an address that does not answer fails now
        run = _run_ray(config, todo, out, _RayConnection(ray, workers, task_cpus), task_gpus)
    elif workers > 1 and todo:
        run = _run_pool(config, todo, out, workers)
    else:
        run = (track_clip(_pipeline_for(config, c.options, pipeline), c, out, digest) for c, digest in todo)
    if saving:
        out.mkdir(parents=True, exist_ok=True)
    return _results(clips, skipped, run, out if saving else None)


def _results(clips: list[Clip], skipped: list[ClipResult], run: Iterator[ClipResult], out: Path | None
             ) -> Iterator[ClipResult]:
    """The skipped clips, then the others as they finish; `summary.csv` at the end, also when stopped early."""
    results = {}
    try:
        for result in itertools.chain(skipped, run):
            results[result.name] = result
            yield result
    finally:
        run.close()
        if out is not None:
            write_summary(out, [results[c.name] for c in clips if c.name in results])


def _are_clips(sources) -> bool:
    return isinstance(sources, (list, tuple)) and bool(sources) and all(isinstance(s, Clip) for s in sources)


def track_clip(pipe, clip: Clip, out: Path, digest: str) -> ClipResult:
    """Track one clip into `out/<clip name>` and mark it complete (with the `digest` of its settings) once every file
    is closed. A failure of this clip (a missing or corrupt video, ...) is returned as a "failed" result, so that the
    other clips go on."""
    from vidtrack.io.writers import ResultWriter

    start = time.perf_counter()
    folder, o = out / clip.name, clip.options
    frames, ids = 0, set()
    try:
        if isinstance(pipe, VidtrackError):
            raise pipe
        results = pipe.run(clip.source, max_frames=o.max_frames, fps=o.fps, vid_stride=o.vid_stride)
        first = next(results, None)
        if first is None:
            raise InputError(f"{clip.source}: no frames to track")
        with ResultWriter.for_source(folder, pipe.info, pipe.config.output, pipe.detector.names) as writer:
            for result in itertools.chain([first], results):
                writer.write(result)
                ids.update(result.tracks.track_id.tolist())
                frames += 1
        result = ClipResult(clip.name, clip.source, "done", frames, time.perf_counter() - start, len(ids))
        if writer.paths:  # nothing written (--no-save): nothing to resume
            mark_complete(folder, result, digest)
        return result
    except (ConfigError, WeightsError):
        if o.classes is None:
            raise  # the same for every clip: stop the run
        return _failed(clip, _one_line(), start)
    except Exception:
        return _failed(clip, _one_line(), start)


def _failed(clip: Clip, error: str, start: float) -> ClipResult:
    return ClipResult(clip.name, clip.source, "failed", seconds=time.perf_counter() - start, error=error)


def _one_line() -> str:
    """The exception being handled, in one line: a VidtrackError's message, else its type and message."""
    error = sys.exc_info()[1]
    text = str(error) if isinstance(error, VidtrackError) else f"{type(error).__name__}: {error}"
    return " ".join(text.split())[:500]


def _digest(config: Config, clip: Clip) -> str:
    """What decides a clip's outputs: the config (but not the device it ran on) and the clip's source and options."""
    settings = config.to_dict()
    settings["detector"] = {k: v for k, v in settings["detector"].items() if k not in ("device", "half", "batch")}
    settings["output"].pop("queue_size")
    return settings_digest({"config": settings, "source": clip.source, "options": asdict(clip.options)})


def _pipeline_for(config: Config, options: ClipOptions, given=None):
    """This process's pipeline for these settings, built once (a failure to build is kept and given to each clip)."""
    from vidtrack.pipeline import Pipeline

    if options.classes is not None:
        config = replace(config, detector=replace(config.detector, classes=list(options.classes)))
    elif given is not None:
        return given
    key = json.dumps(config.to_dict(), sort_keys=True, default=str)
    if key not in _pipelines:
        pipe = Pipeline(config)
        try:
            pipe.detector  # noqa: B018 (loads the model now, once)
        except VidtrackError as e:
            pipe = e
        _pipelines[key] = pipe
    return _pipelines[key]


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def share_threads(threads: int) -> None:
    """Use `threads` CPU threads in this process (torch, OpenMP, MKL, OpenCV)."""
    import cv2
    import torch

    for variable in THREAD_VARIABLES:
        os.environ[variable] = str(threads)
    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)


def _init_worker(threads: int, devices, level: int) -> None:
    logging.basicConfig(format="warning: %(message)s", level=level)
    logging.getLogger("ultralytics").setLevel(logging.ERROR)
    share_threads(threads)
    if devices is not None:  # one GPU per worker, in turn
        os.environ["VIDTRACK_WORKER_DEVICE"] = devices.get()


def _track_in_worker(config: Config, clip: Clip, out: Path, digest: str) -> ClipResult:
    if device := os.environ.get("VIDTRACK_WORKER_DEVICE"):
        config = replace(config, detector=replace(config.detector, device=device))
    return track_clip(_pipeline_for(config, clip.options), clip, out, digest)


def _run_pool(config: Config, clips: list[tuple[Clip, str]], out: Path, workers: int) -> Iterator[ClipResult]:
    """`workers` processes, each with its share of the cores (or a GPU of its own, in turn, when there are GPUs)."""
    context = multiprocessing.get_context("spawn")  # a fork would copy the parent's torch threads and locks
    config = _with_local_weights(config)
    devices = None
    if config.detector.device in ("auto", "cuda"):
        import torch

        if (count := torch.cuda.device_count()) > 0:
            devices = context.Queue()
            for i in range(workers):
                devices.put(f"cuda:{i % count}")
    threads = max(1, cpu_count() // workers)
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                               initargs=(threads, devices, logging.getLogger().level or logging.WARNING))
    try:
        futures = {pool.submit(_track_in_worker, config, clip, out, digest): clip for clip, digest in clips}
        for future in as_completed(futures):
            try:
                yield future.result()
            except (ConfigError, WeightsError):
                raise
            except Exception as e:  # the worker process died (out of memory, killed)
                yield ClipResult(futures[future].name, futures[future].source, "failed",
                                 error=f"worker process failed: {type(e).__name__}: {' '.join(str(e).split())}")
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _with_local_weights(config: Config) -> Config:
    """The config with the detector's weights resolved to a file here, once (fetched and converted if they must be),
    so that the workers do not all fetch them at once."""
    from vidtrack.detect.weights import resolve_weights

    return replace(config, detector=replace(config.detector, model=resolve_weights(config.detector.model)))


class _RayConnection:
    """Ray, started locally (`address` "local" or "") or connected to the cluster at `address`, with the CPUs each task
    asks for; fails in one line when nothing answers at `address` within RAY_CONNECT_TIMEOUT_S (Ray itself would retry
    for minutes)."""

    def __init__(self, address: str, workers: int, task_cpus: float | None) -> None:
        try:
            import ray
        except ImportError:
            raise VidtrackError("--ray needs Ray: pip install 'vidtrack[ray]'") from None
        self.ray, self.local = ray, address in ("", "local")
        self.task_cpus = task_cpus or (max(1, cpu_count() // workers) if self.local else 1)
        self.in_flight = workers if self.local else None  # on a cluster, as many as its resources allow
        self.started = False
        if ray.is_initialized():
            return
        if self.local:
            source = str(Path(__file__).resolve().parents[1])  # the workers import this vidtrack, not another install
            path = os.pathsep.join(p for p in (source, os.environ.get("PYTHONPATH")) if p)
            ray.init(num_cpus=int(self.task_cpus * workers), include_dashboard=False, log_to_driver=False,
                     runtime_env={"env_vars": {"PYTHONPATH": path}})
            self.started = True
            return
        if address != "auto":
            _check_answers(address)
        try:
            ray.init(address=address, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise VidtrackError(f"--ray {address}: cannot connect ({' '.join(str(e).split())[:300]})") from None

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()


def _check_answers(address: str) -> None:
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=RAY_CONNECT_TIMEOUT_S).close()
    except (OSError, ValueError) as e:
        reason = "give HOST:PORT" if isinstance(e, ValueError) else (e.strerror or str(e) or type(e).__name__)
        raise VidtrackError(f"--ray {address}: no Ray cluster answers there within {RAY_CONNECT_TIMEOUT_S:g} s "
                            f"({reason}); check the address, or start one with `ray start --head`") from None


def _run_ray(config: Config, clips: list[tuple[Clip, str]], out: Path, connection: _RayConnection,
             task_gpus: float) -> Iterator[ClipResult]:
    """Ray tasks, as many in flight as `connection` allows. The weights are put in Ray's object store once; each
    worker process writes them to its node's disk once and keeps the model loaded for the clips that follow."""
    ray = connection.ray
    try:
        config = _with_local_weights(config)
        weights = Path(config.detector.model)
        shipped = None
        if weights.is_file():  # else an Ultralytics name each worker resolves itself
            data = weights.read_bytes()
            shipped = (hashlib.sha256(data).hexdigest()[:16], weights.suffix, [ray.put(data)])
        task = ray.remote(num_cpus=connection.task_cpus, num_gpus=task_gpus)(_track_in_ray)
        threads = max(1, int(connection.task_cpus))
        pending: dict = {}
        queue = iter(clips)
        while True:
            room = len(clips) if connection.in_flight is None else connection.in_flight - len(pending)
            for clip, digest in itertools.islice(queue, room):
                pending[task.remote(config, clip, str(out.absolute()), digest, shipped, threads)] = clip
            if not pending:
                return
            (ready,), _ = ray.wait(list(pending), num_returns=1)
            clip = pending.pop(ready)
            try:
                yield ray.get(ready)
            except ray.exceptions.RayError as e:
                if isinstance(cause := getattr(e, "cause", None), (ConfigError, WeightsError)):
                    raise cause from None
                error = " ".join(str(cause or e).split())[:500]
                yield ClipResult(clip.name, clip.source, "failed", error=f"Ray task failed: {error}")
    finally:
        connection.close()


def _track_in_ray(config: Config, clip: Clip, out: str, digest: str, shipped, threads: int) -> ClipResult:
    """A Ray task: the clip, with the weights written once to this node's disk from the object store."""
    if shipped is not None:
        digest, suffix, (ref,) = shipped
        path = Path(tempfile.gettempdir()) / "vidtrack-weights" / f"{digest}{suffix}"
        if not path.is_file():
            import ray

            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f".{os.getpid()}.partial")
            partial.write_bytes(ray.get(ref))
            os.replace(partial, path)
        config = replace(config, detector=replace(config.detector, model=str(path)))
    if not _pipelines:
        _init_worker(threads, None, logging.WARNING)
    return track_clip(_pipeline_for(config, clip.options), clip, Path(out), digest)
