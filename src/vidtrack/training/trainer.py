"""A small, model-agnostic training loop: AdamW with warm-up and cosine decay, gradient clipping, early stopping,
CSV/TensorBoard/plot logs, atomic checkpoints that resume exactly after an interruption, mixed precision on CUDA, and
DDP when launched with `torchrun`.

    config = TrainConfig(epochs=20, batch_size=256)
    result = train(model, loss_fn, train_set, val_set, collate, collate, config, "runs/lstm", save=save_checkpoint)

`folder` then holds `log.csv`, `curves.png`, `tb/` (TensorBoard), `best/` (lowest validation loss) and `last/` (the
latest epoch, plus `trainer.pt` for resuming).
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import random
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, is_dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm import tqdm

from vidtrack.errors import ConfigError, WeightsError

log = logging.getLogger("vidtrack")

TRAINER_FORMAT = 1
LOG_COLUMNS = ("epoch", "train_loss", "val_loss", "lr", "seconds")


@dataclass
class TrainConfig:
    epochs: int = 40
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 1e-2  # on weight matrices only, not on biases or norms
    warmup_epochs: float = 1.0  # linear warm-up, then cosine decay to lr * 0.05 (per optimizer step)
    grad_clip: float = 1.0  # max gradient norm; 0 turns clipping off
    patience: int = 6  # early stopping: epochs without a better validation loss
    seed: int = 0
    device: str = "auto"  # auto: cuda if available, else cpu
    amp: bool = True  # CUDA only: bf16 autocast, or fp16 with a GradScaler where bf16 is unsupported
    num_workers: int = 0  # DataLoader worker processes

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "patience"):
            if getattr(self, name) < 1:
                raise ConfigError(f"training {name} must be at least 1, not {getattr(self, name)}")
        if self.lr < 0 or self.warmup_epochs < 0 or self.num_workers < 0:
            raise ConfigError("training lr, warmup_epochs and num_workers must not be negative")


@dataclass
class TrainResult:
    best_epoch: int
    best_val_loss: float
    epochs_run: int
    stopped_early: bool
    folder: Path


def learning_rate(step: int, config: TrainConfig, steps_per_epoch: int) -> float:
    """The learning rate of optimizer step `step` (from 0): linear warm-up, then cosine decay to 5 % of `config.lr`.

    >>> [round(learning_rate(s, TrainConfig(epochs=3, lr=1.0), 2), 3) for s in range(6)]
    [0.5, 1.0, 1.0, 0.762, 0.288, 0.05]
    """
    warmup, total = config.warmup_epochs * steps_per_epoch, config.epochs * steps_per_epoch
    if step < warmup:
        return config.lr * (step + 1) / math.ceil(warmup)
    progress = min(1.0, (step - warmup) / max(1.0, total - 1 - warmup))
    return config.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


def train(
    model: torch.nn.Module,
    loss_fn: Callable[[torch.nn.Module, dict[str, torch.Tensor]], torch.Tensor],
    train_set: Dataset,
    val_set: Dataset | None,
    collate_train: Callable[[list], dict[str, torch.Tensor]],
    collate_val: Callable[[list], dict[str, torch.Tensor]] | None,
    config: TrainConfig,
    folder: str | os.PathLike,
    *,
    save: Callable[[torch.nn.Module, Path, dict], object],
    metadata: dict | None = None,
    resume: bool = True,
) -> TrainResult:
    """Train `model` in place with `loss_fn(model, batch on device) -> scalar loss` (a mean over the batch).

    `save(model, folder, extra)` must write the weights as `folder/model.safetensors` (vidtrack's `save_checkpoint`
    does); `extra` is `metadata` plus the epoch and validation loss. The validation loss is the mean of the batch
    losses weighted by batch size. Without `val_set` every epoch runs and the last one is also the best.

    Resuming (`resume` and `folder/last` exists) needs a model built as before and the same `config` and `metadata`
    (the data); it continues after the last finished epoch, exactly as if never interrupted, or returns at once if that
    run had finished. Other settings are refused, naming what differs (a `ConfigError`), except more epochs for a run
    that has finished, which extends it; `resume=False` starts over instead. A dataset with an `rng`
    attribute (a numpy Generator its collate draws from, like `WindowBatches`) has it saved, restored, and reseeded
    per DataLoader worker and per DDP rank.

    Under `torchrun`, every rank calls `train` with the same arguments; `folder` must be visible to all of them. The
    loss function then receives the DistributedDataParallel wrapper while training (call it, do not read its
    attributes; use `getattr(model, "module", model)`) and the plain model for validation.
    """
    folder = Path(folder)
    if len(train_set) == 0:
        raise ValueError("train: the training set is empty")
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    device = _device(config.device, distributed)
    owns_group = distributed and not dist.is_initialized()
    if owns_group:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    rank, world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    main = rank == 0
    logs = None
    try:
        _seed_everything(config.seed + rank)
        dataset_rng = _dataset_rng(train_set)
        if distributed and dataset_rng is not None:  # otherwise every rank draws the same augmentations
            train_set.rng = dataset_rng = np.random.default_rng([config.seed, rank])
        model.to(device)
        params = [p for p in model.parameters() if p.requires_grad]
        groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": config.weight_decay},
                  {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]  # biases, norms
        optimizer = torch.optim.AdamW([g for g in groups if g["params"]], lr=config.lr)
        amp_dtype = None
        if config.amp and device.type == "cuda":
            amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        autocast = partial(torch.autocast, device.type, dtype=amp_dtype) if amp_dtype else nullcontext
        scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)

        generator = torch.Generator().manual_seed(config.seed)  # shuffling and worker seeds
        loader = partial(DataLoader, batch_size=config.batch_size, num_workers=config.num_workers,
                         pin_memory=device.type == "cuda", worker_init_fn=partial(_seed_worker, rank=rank))
        train_sampler = DistributedSampler(train_set, seed=config.seed) if distributed else None
        train_loader = loader(train_set, sampler=train_sampler, shuffle=not distributed, generator=generator,
                              collate_fn=partial(_counted, collate_train))
        val_loader = None
        if val_set is not None:  # each rank takes every world-th window, without DistributedSampler's padding
            val_sampler = range(rank, len(val_set), world)
            val_loader = loader(val_set, sampler=val_sampler, collate_fn=partial(_counted, collate_val))

        state = {"epoch": 0, "step": 0, "best_epoch": 0, "best_val_loss": math.inf, "bad_epochs": 0,
                 "stopped_early": False}
        history: list[dict] = []  # the rows of log.csv
        last = folder / "last"
        if main:
            for target in (last, folder / "best"):
                _recover_folder(target)
        if distributed:
            dist.barrier()
        run_settings = _settings(config, metadata, model)
        if resume and last.is_dir():
            saved = _load_last(last, model, run_settings)
            optimizer.load_state_dict(saved["optimizer"])
            if saved["scaler"] and scaler.is_enabled():  # empty when saved without fp16 (CPU or bf16)
                scaler.load_state_dict(saved["scaler"])
            state, history = saved["state"], saved["history"]
            if len(saved["rng"]) == world:
                _set_rng_state(saved["rng"][rank], generator, dataset_rng, device)
            elif main:
                log.warning("%s was trained with %d processes, not %d: random streams restart", last,
                            len(saved["rng"]), world)
            if state["stopped_early"] or state["epoch"] >= config.epochs:
                return _result(state, folder)
            if main:
                log.info("resuming %s after epoch %d", folder, state["epoch"])
        elif main and last.is_dir():
            log.warning("%s: starting over, replacing the run there", folder)

        net = model
        if distributed:
            net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda"
                                                            else None)
        if main:
            folder.mkdir(parents=True, exist_ok=True)
            logs = _Logs(folder, history)

        while state["epoch"] < config.epochs:
            epoch, start = state["epoch"] + 1, time.perf_counter()
            if distributed:
                train_sampler.set_epoch(epoch)
            net.train()
            totals = torch.zeros(2, dtype=torch.float64, device=device)  # loss × windows, windows
            bar = tqdm(train_loader, desc=f"epoch {epoch}/{config.epochs}", disable=None if main else True,
                       leave=False, dynamic_ncols=True)
            for i, (count, batch) in enumerate(bar):
                lr = learning_rate(state["step"], config, len(train_loader))
                for group in optimizer.param_groups:
                    group["lr"] = lr
                with autocast():
                    loss = loss_fn(net, _to_device(batch, device))
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if config.grad_clip > 0:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                state["step"] += 1
                totals += torch.stack([loss.detach().double() * count, totals.new_tensor(count)])
                if not bar.disable and i % 10 == 0:  # .item() waits for the GPU: not every step
                    bar.set_postfix(loss=f"{(totals[0] / totals[1]).item():.4f}")
            bar.close()
            if distributed:
                dist.all_reduce(totals)
            train_loss = (totals[0] / totals[1]).item()
            val_loss = math.nan
            if val_loader is not None:  # not `if val_loader`: a rank may have no validation windows, hence len 0
                val_loss = _evaluate(model, loss_fn, val_loader, device, autocast, distributed)

            improved = val_loader is None or val_loss < state["best_val_loss"]
            if improved:
                state.update(best_epoch=epoch, best_val_loss=val_loss, bad_epochs=0)
            else:
                state["bad_epochs"] += 1
            state["epoch"] = epoch
            state["stopped_early"] = state["bad_epochs"] >= config.patience and epoch < config.epochs
            row = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "lr": lr,
                   "seconds": round(time.perf_counter() - start, 3)}
            history.append(row)
            rng = _rng_state(generator, dataset_rng, device)
            if distributed:
                rng_all = [None] * world
                dist.all_gather_object(rng_all, rng)
            else:
                rng_all = [rng]
            if main:
                extra = {**(metadata or {}), "epoch": epoch, "val_loss": val_loss}
                if improved:
                    with _atomic_folder(folder / "best") as tmp:
                        save(model, tmp, extra)
                trainer = {"format": TRAINER_FORMAT, "optimizer": optimizer.state_dict(),
                           "scaler": scaler.state_dict(), "state": state, "history": history, "rng": rng_all,
                           "config": asdict(config), "settings": json.dumps(run_settings)}
                with _atomic_folder(last) as tmp:
                    save(model, tmp, extra)
                    torch.save(trainer, tmp / "trainer.pt")
                logs.add(row)
                log.info("epoch %d: train loss %.4f, val loss %.4f", epoch, train_loss, val_loss)
            if state["stopped_early"]:
                if main:
                    log.info("no better validation loss for %d epochs: stopping", config.patience)
                break
        return _result(state, folder)
    finally:
        if logs is not None:
            logs.close()
        if owns_group:
            dist.destroy_process_group()


def _device(name: str, distributed: bool) -> torch.device:
    """cuda (this process's GPU under torchrun) if available and asked for, else cpu."""
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if name == "auto" else name)
    if device.type == "cuda":
        index = int(os.environ.get("LOCAL_RANK", "0")) if distributed else device.index
        device = torch.device("cuda", torch.cuda.current_device() if index is None else index)
        torch.cuda.set_device(device)
    return device


def _result(state: dict, folder: Path) -> TrainResult:
    return TrainResult(state["best_epoch"], state["best_val_loss"], state["epoch"], state["stopped_early"], folder)


def _counted(collate: Callable[[list], dict], items: list) -> tuple[int, dict]:
    """The batch and how many windows it holds, to weight batch losses exactly (a module function: picklable)."""
    return len(items), collate(items)


def _to_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


@torch.no_grad()
def _evaluate(model, loss_fn, loader, device: torch.device, autocast, distributed: bool) -> float:
    """Mean validation loss over all ranks' windows. Runs the plain model: DDP's forward would wait for the other
    ranks, which may have one batch fewer."""
    model.eval()
    totals = torch.zeros(2, dtype=torch.float64, device=device)  # loss × windows, windows
    for count, batch in loader:
        with autocast():
            loss = loss_fn(model, _to_device(batch, device))
        totals += torch.stack([loss.double() * count, totals.new_tensor(count)])
    if distributed:
        dist.all_reduce(totals)
    return (totals[0] / totals[1]).item() if totals[1] > 0 else math.nan


# Random state: everything is seeded, saved with each checkpoint and restored, so a resumed run repeats exactly.


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _dataset_rng(dataset: Dataset) -> np.random.Generator | None:
    rng = getattr(dataset, "rng", None)
    return rng if isinstance(rng, np.random.Generator) else None


def _seed_worker(worker_id: int, rank: int) -> None:
    """Seeds in a DataLoader worker: different for each epoch, worker and rank, and reproducible."""
    seed = int(np.random.SeedSequence([torch.initial_seed(), rank]).generate_state(1)[0])
    _seed_everything(seed)
    dataset = torch.utils.data.get_worker_info().dataset
    if _dataset_rng(dataset) is not None:
        dataset.rng = np.random.default_rng(seed)


def _rng_state(generator: torch.Generator, dataset_rng: np.random.Generator | None, device: torch.device) -> dict:
    """Every random state training draws from, as types that `torch.load(weights_only=True)` accepts."""
    _, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos), "has_gauss": int(has_gauss),
                  "gauss": float(gauss)},
        "python": [version, list(internal), gauss_next],
        "loader": generator.get_state(),
        # numpy's bit generators hold 128-bit integers, which weights_only refuses: JSON keeps them exactly
        "dataset": json.dumps(dataset_rng.bit_generator.state, default=np.ndarray.tolist) if dataset_rng else "",
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict, generator: torch.Generator, dataset_rng: np.random.Generator | None,
                   device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    numpy = state["numpy"]
    np.random.set_state(("MT19937", numpy["keys"].numpy().astype(np.uint32), numpy["pos"], numpy["has_gauss"],
                         numpy["gauss"]))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    generator.set_state(state["loader"])
    if dataset_rng is not None and state["dataset"]:
        dataset_rng.bit_generator.state = json.loads(state["dataset"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


# Checkpoint folders


@contextmanager
def _atomic_folder(target: Path) -> Iterator[Path]:
    """Yield an empty folder beside `target` to write into, then swap it in place of `target`.

    A crash while writing leaves `target` as it was; a crash between the two renames leaves the previous version as
    `.NAME.old`, which `_recover_folder` puts back.
    """
    tmp, old = target.with_name(f".{target.name}.tmp"), target.with_name(f".{target.name}.old")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    yield tmp
    if target.exists():
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
    tmp.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def _recover_folder(target: Path) -> None:
    """Put back the previous version of a folder whose swap was interrupted."""
    old = target.with_name(f".{target.name}.old")
    if not target.exists() and old.is_dir():
        old.rename(target)


_START_OVER = "pass resume=False (--no-resume) to start over, or train into another folder"
_MAY_CHANGE = ("device", "num_workers", "amp")  # where and how fast a run trains, not what it learns


def _settings(config: TrainConfig, metadata: dict | None, model: torch.nn.Module) -> dict:
    """What a resumed run must share with the run it continues, flat: {"training.epochs": 40, "data.train": [...]};
    with the model's arguments where it keeps them as a dataclass `config` (nanoGPT's convention, vidtrack's LSTM)."""
    flat: dict = {}

    def add(prefix: str, value) -> None:
        if isinstance(value, dict) and value:
            for key, item in value.items():
                add(f"{prefix}.{key}" if prefix else str(key), item)
        elif prefix.rpartition(".")[2] not in _MAY_CHANGE:
            flat[prefix] = value

    arguments = getattr(model, "config", None)
    model_settings = {"model": asdict(arguments)} if is_dataclass(arguments) else {}
    add("", {**(metadata or {}), **model_settings, "training": asdict(config)})
    return json.loads(json.dumps(flat, default=str))  # as saved: tuples become lists, paths strings


def _check_settings(last: Path, saved: dict, settings: dict, state: dict) -> None:
    """Refuse to continue a run under other settings, which would mix two runs' histories in one; more epochs for a
    finished run extend it."""
    changed = sorted(k for k in saved.keys() | settings.keys() if saved.get(k) != settings.get(k))
    finished = state["stopped_early"] or state["epoch"] >= saved.get("training.epochs", 0)
    if changed == ["training.epochs"] and finished and settings["training.epochs"] > state["epoch"]:
        log.warning("%s: extending the finished run from %d to %d epochs", last, state["epoch"],
                    settings["training.epochs"])
        return
    if changed:
        shown = "; ".join(f"{k} {_short(saved.get(k))} -> {_short(settings.get(k))}" for k in changed[:4])
        more = f"; and {len(changed) - 4} more" if len(changed) > 4 else ""
        raise ConfigError(f"{last}: this run was started with other settings ({shown}{more}); resume it with the same "
                          f"ones, or {_START_OVER}")


def _short(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _load_last(last: Path, model: torch.nn.Module, settings: dict) -> dict:
    """Load `last/model.safetensors` into `model` and return `last/trainer.pt`, after checking that the run there
    had these `settings`. A file that is missing, truncated or not what it should be is a one-line `WeightsError`."""
    import pickle
    import zipfile

    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights, trainer = last / "model.safetensors", last / "trainer.pt"
    for f in (weights, trainer):
        if not f.is_file():
            raise WeightsError(f"{f}: missing, cannot resume; {_START_OVER}")
    try:
        saved = torch.load(trainer, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError, zipfile.BadZipFile) as e:
        reason = " ".join(str(e).split())[:120]
        raise WeightsError(f"{trainer}: unreadable ({reason}), cannot resume; {_START_OVER}") from None
    missing = {"state", "optimizer", "scaler", "history", "rng"} - set(saved if isinstance(saved, dict) else ())
    if missing:
        raise WeightsError(f"{trainer}: not a vidtrack trainer state (no {', '.join(sorted(missing))}), cannot "
                           f"resume; {_START_OVER}")
    if saved.get("format", 0) > TRAINER_FORMAT:
        raise WeightsError(f"{trainer}: written by a newer vidtrack; upgrade it to resume this run")
    if "settings" in saved:  # older runs did not record them
        _check_settings(last, json.loads(saved["settings"]), settings, saved["state"])
    try:
        model.load_state_dict(load_file(str(weights)), strict=True)
    except (SafetensorError, OSError) as e:
        raise WeightsError(f"{weights}: unreadable ({e}), cannot resume; {_START_OVER}") from None
    except RuntimeError as e:
        raise WeightsError(f"{weights}: does not fit the model being trained ({' '.join(str(e).split())[:200]}); "
                           f"{_START_OVER}") from None
    return saved


# Logs


class _Logs:
    """`log.csv` (one row per epoch), TensorBoard scalars and `curves.png`, written by rank 0 after each epoch.

    On resume they restart from the rows saved in `last/trainer.pt`, so an epoch lost to a crash is not logged twice.
    """

    def __init__(self, folder: Path, history: list[dict]) -> None:
        self.folder, self.history = folder, list(history)
        self.csv = folder / "log.csv"
        with open(self.csv, "w", newline="") as f:
            writer = csv.DictWriter(f, LOG_COLUMNS)
            writer.writeheader()
            writer.writerows(self.history)
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            log.warning("tensorboard is not installed: logging to log.csv and curves.png only")
            self.tensorboard = None
        else:  # purge_step drops the events of epochs that are run again
            self.tensorboard = SummaryWriter(str(folder / "tb"), purge_step=len(self.history) + 1)

    def add(self, row: dict) -> None:
        self.history.append(row)
        with open(self.csv, "a", newline="") as f:
            csv.DictWriter(f, LOG_COLUMNS).writerow(row)
        if self.tensorboard is not None:
            for key in ("train_loss", "val_loss", "lr"):
                self.tensorboard.add_scalar(key, row[key], row["epoch"])
            self.tensorboard.flush()
        plot_curves(self.history, self.folder / "curves.png")

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()


def plot_curves(history: list[dict], path: Path) -> None:
    """Training and validation loss against epoch, on a log scale when they are positive and span a decade."""
    from matplotlib.figure import Figure  # no pyplot: leaves the caller's matplotlib backend alone

    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    epochs = [row["epoch"] for row in history]
    for key in ("train_loss", "val_loss"):
        ax.plot(epochs, [row[key] for row in history], marker="o", markersize=3, label=key.replace("_", " "))
    losses = [row[k] for row in history for k in ("train_loss", "val_loss") if math.isfinite(row[k])]
    if losses and min(losses) > 0 and max(losses) > 10 * min(losses):
        ax.set_yscale("log")
    ax.set(xlabel="epoch", ylabel="loss", title="Training curves")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, dpi=110, format="png")
    os.replace(tmp, path)
