"""Benchmark many clips on one machine: one worker, --workers 2 and a local Ray with 2 workers, side by side.

What is measured
----------------
--clips short clips (default 8 of 40 frames, 768x576, people walking) cut from data/pets09-s2l1.mp4 into a temporary
folder are tracked with the default config (person class, CPU, every output file written), as `vidtrack track FOLDER`
does, three ways, each in a fresh Python process so that no model or thread pool carries over:

- `1 worker`: the clips one after another in the process (`run_many(..., workers=1)`), torch with every core;
- `--workers 2`: two worker processes, each with its share of the cores (`cores // 2` torch threads);
- `Ray local`: Ray started in the process (`ray.init(num_cpus=cores)`), then the clips as Ray tasks of
  `cores // 2` CPUs each (`run_many(..., ray="local", workers=2)`).

Each row's seconds run from the process's start of work (before any model loads) to the last clip's files closed;
for Ray, "without Ray start" leaves out `ray.init`, a fixed cost per run, not per clip. fps is all frames over those
seconds; the ratio is the 1-worker seconds over the row's. The modes run in turn, --repeats times; the best is kept.

Run
---
    .venv/bin/python scripts/bench_many.py                       # about 2.5 minutes a round on 2 quiet cores
    .venv/bin/python scripts/bench_many.py --clips 8 --frames 40 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parents[1]
VIDEO = REPO / "data" / "pets09-s2l1.mp4"
MODES = {"1 worker": {"workers": 1}, "--workers 2": {"workers": 2}, "Ray local, 2 workers": {"workers": 2,
                                                                                             "ray": "local"}}


def make_clips(folder: Path, clips: int, frames: int) -> None:
    """Consecutive pieces of the demo video (wrapping around), one file each."""
    video = cv2.VideoCapture(str(VIDEO))
    total = int(video.get(cv2.CAP_PROP_FRAME_COUNT))
    size = int(video.get(cv2.CAP_PROP_FRAME_WIDTH)), int(video.get(cv2.CAP_PROP_FRAME_HEIGHT))
    for i in range(clips):
        video.set(cv2.CAP_PROP_POS_FRAMES, (i * frames) % max(1, total - frames))
        writer = cv2.VideoWriter(str(folder / f"clip{i:02d}.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 7, size)
        for _ in range(frames):
            writer.write(video.read()[1])
        writer.release()


def run_mode(mode: str, clips: Path, out: Path) -> dict:
    """In this (fresh) process: track every clip one way; returns the seconds, and the seconds Ray took to start."""
    start = time.perf_counter()
    from vidtrack.config import load_config
    from vidtrack.parallel import cpu_count, run_many

    options = MODES[mode]
    ray_start = 0.0
    if options.get("ray"):
        import ray

        ray.init(num_cpus=cpu_count(), include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": str(REPO / "src")}})
        ray_start = time.perf_counter() - start
    config = load_config(overrides={"detector.device": "cpu", "detector.classes": ["person"]})
    results = list(run_many(config, clips, out, **options))
    seconds = time.perf_counter() - start
    failed = [r.error for r in results if r.status != "done"]
    return {"seconds": seconds, "ray_start": ray_start, "frames": sum(r.frames for r in results), "clips": len(results),
            "failed": failed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--frames", type=int, default=40, help="Frames per clip.")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--mode", choices=list(MODES), help=argparse.SUPPRESS)  # the child process
    parser.add_argument("--paths", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(run_mode(args.mode, *args.paths)))
        return
    best: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        clips = Path(tmp) / "clips"
        clips.mkdir()
        make_clips(clips, args.clips, args.frames)
        path = [str(REPO / "src"), os.environ.get("PYTHONPATH")]
        env = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, path))}
        for repeat in range(args.repeats):
            for mode in MODES:
                out = Path(tmp) / f"out-{repeat}-{len(best)}-{mode.split()[0].strip('-')}"
                child = subprocess.run([sys.executable, __file__, "--mode", mode, "--paths", str(clips), str(out)],
                                       capture_output=True, text=True, env=env, timeout=3600)
                if child.returncode != 0:
                    sys.exit(f"{mode}: failed\n{child.stderr[-2000:]}")
                result = json.loads(child.stdout.strip().splitlines()[-1])
                if result["failed"]:
                    sys.exit(f"{mode}: clips failed: {result['failed'][:3]}")
                print(f"run {repeat + 1}, {mode}: {result['seconds']:.1f} s", file=sys.stderr)
                if mode not in best or result["seconds"] < best[mode]["seconds"]:
                    best[mode] = result
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{args.clips} clips of {args.frames} frames (768x576), {os.cpu_count()} cores, load average at the end "
          f"{load:.1f}; best of {args.repeats}\n")
    print("| mode | seconds | without Ray start | clips/s | fps | × 1 worker |")
    print("|---|---:|---:|---:|---:|---:|")
    base = best["1 worker"]["seconds"]
    for mode, r in best.items():
        work = r["seconds"] - r["ray_start"]
        print(f"| {mode} | {r['seconds']:.1f} | {work:.1f} | {r['clips'] / r['seconds']:.3f} | "
              f"{r['frames'] / r['seconds']:.1f} | {base / r['seconds']:.2f} |")
    per_clip = best["--workers 2"]["seconds"] / args.clips
    print(f"\ncost per clip with --workers 2: {per_clip:.2f} s of this machine ({args.frames} frames, "
          f"{best['--workers 2']['frames'] / best['--workers 2']['seconds']:.1f} fps per machine)")


if __name__ == "__main__":
    main()
