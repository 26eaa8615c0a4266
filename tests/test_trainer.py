"""The training loop on a tiny LSTM and synthetic data: learning, logs, atomic checkpoints, exact resume, early
stopping, DataLoader workers and DDP over two CPU processes."""

import csv
import itertools
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from vidtrack.forecast.lstm import LSTMConfig, TrajectoryLSTM, load_checkpoint, motion_input_mask, save_checkpoint
from vidtrack.training.trainer import TrainConfig, learning_rate, train

HORIZON = 3


class Synthetic(torch.utils.data.Dataset):
    """Random (time 4, 512) feature sequences; the target is linear in the last step's motion features. `collate`
    adds noise drawn from `self.rng`, as an augmenting dataset does."""

    def __init__(self, n: int, seed: int, noise: float = 0.0) -> None:
        self.features = torch.randn(n, 4, 512, generator=torch.Generator().manual_seed(seed))
        g = torch.Generator().manual_seed(99)
        weights = torch.randn(512, 2, generator=g) @ torch.randn(2, HORIZON * 4, generator=g)  # rank 2: easy
        self.target = (self.features[:, -1] * motion_input_mask() @ weights).unflatten(-1, (HORIZON, 4)) * 0.3
        self.rng = np.random.default_rng(seed)
        self.noise = noise

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, index: int) -> int:
        return index

    def collate(self, indices: list[int]) -> dict[str, torch.Tensor]:
        features = self.features[indices]
        if self.noise:
            features = features + torch.from_numpy(self.rng.normal(0, self.noise, features.shape).astype(np.float32))
        return {"features": features, "target": self.target[indices]}


def mse(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    offsets, _, _ = model(batch["features"])  # (B, T, H, 4)
    return ((offsets[:, -1] - batch["target"]) ** 2).mean()


def make_data(train_windows: int = 256, val_windows: int = 61) -> tuple[Synthetic, Synthetic]:
    return Synthetic(train_windows, seed=1, noise=0.1), Synthetic(val_windows, seed=2)


def tiny_model() -> TrajectoryLSTM:
    torch.manual_seed(0)
    return TrajectoryLSTM(LSTMConfig(hidden_size=8, horizon=HORIZON))


def run(folder: Path, *, loss_fn=mse, save=save_checkpoint, data=None, **settings):
    train_set, val_set = data or make_data()
    model = tiny_model()
    config = TrainConfig(**{"epochs": 4, "batch_size": 16, "lr": 3e-2, "patience": 10, **settings})
    result = train(model, loss_fn, train_set, val_set, train_set.collate, val_set.collate, config, folder,
                   save=save, metadata={"data": "synthetic"})
    return result, model


def log_rows(folder: Path) -> list[dict]:
    with open(folder / "log.csv") as f:
        return list(csv.DictReader(f))


def losses(folder: Path) -> list[tuple[float, float]]:
    return [(float(row["train_loss"]), float(row["val_loss"])) for row in log_rows(folder)]


def test_learning_rate_warms_up_then_decays_to_5_percent():
    config = TrainConfig(epochs=10, lr=1.0, warmup_epochs=2)
    lrs = [learning_rate(step, config, steps_per_epoch=5) for step in range(50)]
    assert lrs[:10] == pytest.approx([(s + 1) / 10 for s in range(10)])
    assert all(a >= b for a, b in itertools.pairwise(lrs[9:])) and lrs[-1] == pytest.approx(0.05)


def test_training_learns_logs_and_checkpoints(tmp_path):
    result, model = run(tmp_path)
    rows = log_rows(tmp_path)
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4] and list(rows[0]) == [
        "epoch", "train_loss", "val_loss", "lr", "seconds"]
    val = [v for _, v in losses(tmp_path)]
    assert val[-1] < 0.7 * val[0]
    assert result.epochs_run == 4 and not result.stopped_early
    assert result.best_epoch == int(np.argmin(val)) + 1 and result.best_val_loss == pytest.approx(min(val))
    assert (tmp_path / "curves.png").stat().st_size > 0 and any((tmp_path / "tb").iterdir())
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folders left

    best, last = load_checkpoint(tmp_path / "best"), load_checkpoint(tmp_path / "last")
    assert isinstance(best, TrajectoryLSTM)
    x = torch.randn(2, 4, 512)
    torch.testing.assert_close(last(x)[0], model.eval()(x)[0], rtol=0, atol=0)
    meta = (tmp_path / "last" / "config.json").read_text()
    assert '"data": "synthetic"' in meta and '"epoch": 4' in meta

    trainer = torch.load(tmp_path / "last" / "trainer.pt", weights_only=True)
    assert trainer["state"]["epoch"] == 4 and trainer["state"]["step"] == 4 * 16 and len(trainer["history"]) == 4
    assert set(trainer) >= {"optimizer", "scaler", "rng", "config"}


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """An uninterrupted 4-epoch run: its losses and final weights."""
    folder = tmp_path_factory.mktemp("straight")
    _, model = run(folder)
    return losses(folder), model.state_dict()


@pytest.mark.parametrize("crash", ["training_step", "writing_last", "swapping_last"])
def test_resume_after_an_interruption_is_exact(tmp_path, straight, crash):
    steps = []

    def crash_in_epoch_3(model, batch):
        steps.append(1)
        if crash == "training_step" and len(steps) == 2 * (16 + 4) + 3:
            raise KeyboardInterrupt
        return mse(model, batch)

    def crash_saving_epoch_3(model, folder, extra):
        save_checkpoint(model, folder, extra)
        if crash != "training_step" and extra["epoch"] == 3 and folder.name == ".last.tmp":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, loss_fn=crash_in_epoch_3, save=crash_saving_epoch_3)
    if crash == "swapping_last":  # killed between moving last/ aside and moving the new one in
        (tmp_path / "last").rename(tmp_path / ".last.old")
    assert load_checkpoint(tmp_path / ("last" if crash != "swapping_last" else ".last.old")).config.horizon == 3

    resumed_steps = []

    def counted(model, batch):
        resumed_steps.append(1)
        return mse(model, batch)

    result, resumed = run(tmp_path, loss_fn=counted)
    assert len(resumed_steps) == 2 * (16 + 4)  # epochs 3 and 4 only: 16 training and 4 validation batches each
    assert losses(tmp_path) == straight[0]
    for (name, a), b in zip(straight[1].items(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
    assert result.epochs_run == 4

    def must_not_train(model, batch):
        raise AssertionError("a finished run trained again")

    again, _ = run(tmp_path, loss_fn=must_not_train)  # a finished run returns at once
    assert again == result and losses(tmp_path) == straight[0]


def test_early_stopping(tmp_path):
    result, _ = run(tmp_path, lr=0.0, patience=1, epochs=5)  # nothing is learned: no improvement after epoch 1
    assert result.stopped_early and result.epochs_run == 2 and result.best_epoch == 1
    assert len(log_rows(tmp_path)) == 2
    assert run(tmp_path, lr=0.0, patience=1, epochs=5)[0] == result  # stays stopped


def test_tiny_data_with_workers_is_reproducible(tmp_path, monkeypatch, caplog):
    data = make_data(train_windows=5, val_windows=3)  # fewer windows than a batch
    settings = {"epochs": 2, "batch_size": 256, "num_workers": 2}
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if tensorboard were not installed
    with caplog.at_level(logging.WARNING, logger="vidtrack"):
        run(tmp_path / "a", data=data, **settings)
    assert "tensorboard is not installed" in caplog.text and not (tmp_path / "a" / "tb").exists()
    run(tmp_path / "b", data=make_data(train_windows=5, val_windows=3), **settings)
    run(tmp_path / "c", data=make_data(train_windows=5, val_windows=3), seed=1, **settings)
    assert len(losses(tmp_path / "a")) == 2 and losses(tmp_path / "a") == losses(tmp_path / "b")
    assert losses(tmp_path / "a") != losses(tmp_path / "c")  # another seed: other augmentation noise


DDP_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
import torch
from test_trainer import make_data, mse, tiny_model
from vidtrack.forecast.lstm import save_checkpoint
from vidtrack.training.trainer import TrainConfig, train

torch.set_num_threads(1)
train_set, val_set = make_data({train_windows}, {val_windows})
config = TrainConfig(epochs=3, batch_size=16, lr=3e-2, num_workers={num_workers})
result = train(tiny_model(), mse, train_set, val_set, train_set.collate, val_set.collate, config, {out!r},
               save=save_checkpoint)
print("result", result.best_val_loss, result.epochs_run)
"""


@pytest.mark.parametrize(("train_windows", "val_windows", "num_workers"), [
    (256, 33, 0),  # rank 0 validates on 2 batches, rank 1 on 1
    (3, 1, 1),  # fewer windows than processes: rank 1 has no validation window
], ids=["uneven", "tiny"])
def test_ddp_with_two_cpu_processes(tmp_path, train_windows, val_windows, num_workers):
    if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
        pytest.skip("torch.distributed with the gloo backend is not available")
    out = tmp_path / "out"
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT.format(tests=str(Path(__file__).parent), out=str(out), train_windows=train_windows,
                                        val_windows=val_windows, num_workers=num_workers))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                          start_new_session=True) as done:
        try:
            stdout, stderr = done.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(done.pid, signal.SIGKILL)  # torchrun's workers too
            raise
    assert done.returncode == 0, stdout[-2000:] + stderr[-3000:]
    val = [v for _, v in losses(out)]
    assert len(val) == 3 and val[-1] < val[0]  # one row per epoch: only rank 0 writes
    results = [line for line in stdout.splitlines() if line.startswith("result")]
    assert len(results) == 2 and results[0] == results[1]  # both ranks agree on the validation loss
    assert load_checkpoint(out / "best") and load_file(str(out / "last" / "model.safetensors"))


def test_a_finished_run_can_be_extended(tmp_path):
    run(tmp_path, epochs=2)
    steps = []

    def counted(model, batch):
        steps.append(1)
        return mse(model, batch)

    result, _ = run(tmp_path, loss_fn=counted, epochs=3)  # the schedule is stretched to 3 epochs from here on
    assert result.epochs_run == 3 and len(steps) == 16 + 4 and len(log_rows(tmp_path)) == 3


def test_resuming_with_other_settings_is_refused_naming_them(tmp_path):
    from vidtrack.errors import ConfigError

    run(tmp_path, epochs=2, lr=0.0, patience=1)  # stops early: a finished run
    changed = r"other settings \(training.lr 0.0 -> 0.03; training.patience 1 -> 10\).*resume=False"
    with pytest.raises(ConfigError, match=changed):
        run(tmp_path, epochs=2)
    interrupted = tmp_path / "interrupted"
    run(interrupted, epochs=2)
    trainer = torch.load(interrupted / "last" / "trainer.pt", weights_only=True)
    trainer["state"]["epoch"] = 1  # as if stopped after epoch 1 of 2
    torch.save(trainer, interrupted / "last" / "trainer.pt")
    with pytest.raises(ConfigError, match=r"training.epochs 2 -> 3"):
        run(interrupted, epochs=3)  # the learning-rate schedule would change half-way
    train_set, val_set = make_data()
    with pytest.raises(ConfigError, match=r'data "synthetic" -> "other"'):
        train(tiny_model(), mse, train_set, val_set, train_set.collate, val_set.collate,
              TrainConfig(epochs=2, batch_size=16, lr=3e-2, patience=10), interrupted, save=save_checkpoint,
              metadata={"data": "other"})
    result = train(tiny_model(), mse, train_set, val_set, train_set.collate, val_set.collate,
                   TrainConfig(epochs=1, batch_size=16), interrupted, save=save_checkpoint, resume=False)
    assert result.epochs_run == 1 and len(log_rows(interrupted)) == 1  # started over


@pytest.mark.parametrize(("file", "content", "message"), [
    ("trainer.pt", None, r"trainer.pt: unreadable"),  # truncated to half
    ("trainer.pt", b"", r"trainer.pt: unreadable"),
    ("trainer.pt", "tensor", r"trainer.pt: not a vidtrack trainer state"),
    ("model.safetensors", os.urandom(4096), r"model.safetensors: unreadable"),
    ("model.safetensors", None, r"model.safetensors: unreadable"),
])
def test_a_damaged_checkpoint_is_one_error_naming_the_file(tmp_path, file, content, message):
    from vidtrack.errors import WeightsError

    run(tmp_path, epochs=1)
    path = tmp_path / "last" / file
    if content is None:
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif content == "tensor":
        torch.save(torch.zeros(3), path)
    else:
        path.write_bytes(content)
    with pytest.raises(WeightsError, match=message + r".*resume=False \(--no-resume\)"):
        run(tmp_path, epochs=2)
