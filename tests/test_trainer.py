"""The training loop on real MOT17 windows: learning, logs, atomic checkpoints, resume, early stopping, DDP."""

import csv
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from conftest import SHARED
from vidtrack.forecast.data import Augmentation, cut_windows
from vidtrack.forecast.lstm import LSTMConfig, TrajectoryLSTM, load_checkpoint, save_checkpoint
from vidtrack.forecast.trainer import TrainConfig, train
from vidtrack.forecast.training import WindowBatches, gaussian_nll

SEQ = SHARED / "MOT17" / "train"


@pytest.fixture(scope="module")
def data():
    windows = cut_windows(SEQ / "MOT17-09-FRCNN")
    return windows[:600], cut_windows(SEQ / "MOT17-02-FRCNN")[::8]


def run(folder, data, *, save=save_checkpoint, **config):
    train_windows, val_windows = data
    train_set = WindowBatches(train_windows, Augmentation(), seed=0)
    val_set = WindowBatches(val_windows)
    torch.manual_seed(0)
    model = TrajectoryLSTM(LSTMConfig(hidden_size=16))
    settings = {"epochs": 3, "batch_size": 64, "lr": 3e-3, "patience": 10, **config}
    result = train(model, gaussian_nll, train_set, val_set, train_set.collate, val_set.collate,
                   TrainConfig(**settings), folder, save=save, metadata={"data": "test"})
    return result, model


def losses(folder) -> list[float]:
    with open(folder / "log.csv") as f:
        return [float(row["val_loss"]) for row in csv.DictReader(f)]


def test_training_learns_and_logs(tmp_path, data):
    result, model = run(tmp_path, data)
    val = losses(tmp_path)
    assert len(val) == 3 and val[-1] < val[0]
    assert (tmp_path / "curves.png").is_file() and any((tmp_path / "tb").iterdir())
    best = load_checkpoint(tmp_path / "best")
    assert result.best_epoch == int(np.argmin(val)) + 1 and result.epochs_run == 3
    assert torch.load(tmp_path / "last" / "trainer.pt", weights_only=True)["state"]["epoch"] == 3
    x = torch.randn(2, 4, 512)
    torch.testing.assert_close(load_checkpoint(tmp_path / "last")(x)[0], model(x)[0])
    assert isinstance(best, TrajectoryLSTM)


def test_resume_after_an_interruption_is_exact(tmp_path, data):
    _, straight = run(tmp_path / "straight", data)

    def crash_in_epoch_3(model, folder, extra):
        if extra["epoch"] == 3:
            raise KeyboardInterrupt
        save_checkpoint(model, folder, extra)

    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "resumed", data, save=crash_in_epoch_3)
    assert load_file(str(tmp_path / "resumed" / "last" / "model.safetensors"))  # the last good checkpoint is intact
    _, resumed = run(tmp_path / "resumed", data)
    assert losses(tmp_path / "resumed") == losses(tmp_path / "straight")
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_early_stopping(tmp_path, data):
    result, _ = run(tmp_path, data, lr=0.0, patience=1, epochs=5)  # nothing is learned: no improvement after epoch 1
    assert result.stopped_early and result.epochs_run == 2 and result.best_epoch == 1


def test_ddp_with_two_cpu_processes(tmp_path):
    if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
        pytest.skip("torch.distributed with gloo is not available")
    script = tmp_path / "ddp.py"
    script.write_text(textwrap.dedent(f"""
        import torch
        from vidtrack.forecast.fit import train_forecaster
        from vidtrack.forecast.lstm import LSTMConfig
        from vidtrack.forecast.trainer import TrainConfig
        torch.set_num_threads(1)
        train_forecaster({str(SEQ / "MOT17-09-FRCNN")!r}, {str(tmp_path / "out")!r}, val_split=0.5,
                         train_config=TrainConfig(epochs=2, batch_size=256), model_config=LSTMConfig(hidden_size=16))
    """))
    data = tmp_path / "data"
    data.mkdir()
    for name in ("MOT17-09-FRCNN", "MOT17-02-FRCNN"):
        (data / name).symlink_to(SEQ / name)
    script.write_text(script.read_text().replace(repr(str(SEQ / "MOT17-09-FRCNN")), repr(str(data))))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(script)], capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    val = losses(tmp_path / "out")
    assert len(val) == 2 and val[1] < val[0]  # one row per epoch: only rank 0 writes
    assert load_checkpoint(tmp_path / "out" / "best")
