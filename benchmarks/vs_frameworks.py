"""trainwise against a hand-written loop, PyTorch Lightning and Keras 3 (torch backend).

One process, one model (the same `ConvNet1D` module object type in every framework: Keras wraps
it in `TorchModuleWrapper`), the same MNIST-1D rows, AdamW (lr 1e-3, weight decay 1e-4), batch
64, the same number of epochs with a validation pass after each, fp32 unless stated. Each
framework uses its own default data loading: Lightning a `DataLoader` over a `TensorDataset`,
Keras `fit` on NumPy arrays; trainwise and the hand-written loop gather batches from in-memory
tensors. Reports seconds per epoch (whole `fit` call divided by epochs, so start-up costs count),
samples per second, the ratio to the hand-written loop, peak RSS growth and test accuracy.

Run: `.venv/bin/python -m benchmarks.vs_frameworks [--epochs N] [--repeats R]`
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # before keras is imported anywhere

import argparse
import logging
import statistics
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from benchmarks.common import ConvNet1D, mnist1d_arrays, peak_rss_mib, timed
from benchmarks.loop_overhead import BATCH, hand_loop, trainwise_run

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    model.eval()
    with torch.no_grad():
        return float((model(torch.from_numpy(x)).argmax(1).numpy() == y).mean())


def lightning_fit(data: Arrays, epochs: int, seed: int) -> float:
    import lightning as L
    from torch.utils.data import DataLoader, TensorDataset

    xtr, ytr, xv, yv, xt, yt = data

    class Module(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = ConvNet1D()
            self.loss = nn.CrossEntropyLoss()

        def training_step(self, batch: Any, _: int) -> torch.Tensor:
            x, y = batch
            loss = self.loss(self.net(x), y)
            self.log("loss", loss, on_step=False, on_epoch=True)
            return loss

        def validation_step(self, batch: Any, _: int) -> None:
            x, y = batch
            logits = self.net(x)
            self.log("val_loss", self.loss(logits, y))
            self.log("val_acc", (logits.argmax(1) == y).float().mean())

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.AdamW(self.parameters(), lr=1e-3, weight_decay=1e-4)

    L.seed_everything(seed, verbose=False)
    module = Module()
    train = DataLoader(
        TensorDataset(torch.from_numpy(xtr), torch.from_numpy(ytr)), batch_size=BATCH, shuffle=True
    )
    val = DataLoader(TensorDataset(torch.from_numpy(xv), torch.from_numpy(yv)), batch_size=BATCH)
    trainer = L.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, train, val)
    return accuracy(module.net, xt, yt)


def keras_fit(data: Arrays, epochs: int, seed: int) -> float:
    import keras

    xtr, ytr, xv, yv, xt, yt = data
    keras.utils.set_random_seed(seed)
    net = ConvNet1D()
    model = keras.Sequential([keras.Input((xtr.shape[1],)), keras.layers.TorchModuleWrapper(net)])
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=1e-3, weight_decay=1e-4),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(
        xtr, ytr, batch_size=BATCH, epochs=epochs, validation_data=(xv, yv), shuffle=True, verbose=0
    )
    return accuracy(net, xt, yt)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    logging.getLogger("lightning.fabric").setLevel(logging.ERROR)
    x, y, xt, yt = mnist1d_arrays()
    n_val = len(x) // 5
    xv, yv, xtr, ytr = x[:n_val], y[:n_val], x[n_val:], y[n_val:]
    data: Arrays = (xtr, ytr, xv, yv, xt, yt)

    def frame(a: np.ndarray, b: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(a, columns=[f"x{i}" for i in range(a.shape[1])]).assign(y=b)

    frames = frame(xtr, ytr), frame(xv, yv), frame(xt, yt)
    e = args.epochs

    def tw(precision: str) -> float:
        result = trainwise_run(*frames, e, 0, save=False, precision=precision)
        return float(result.metrics["test"]["accuracy"])

    variants: dict[str, Callable[[], float]] = {
        "hand-written loop (fp32)": lambda: accuracy(hand_loop(xtr, ytr, xv, yv, e, 0)[0], xt, yt),
        "trainwise (fp32)": lambda: tw("fp32"),
        "trainwise (precision auto)": lambda: tw("auto"),
        "PyTorch Lightning (fp32)": lambda: lightning_fit(data, e, 0),
        "Keras 3, torch backend (fp32)": lambda: keras_fit(data, e, 0),
    }
    e_warm, e = e, 1
    for fn in variants.values():  # first calls pay one-off costs (imports, kernel selection)
        fn()
    e = e_warm
    times: dict[str, list[float]] = {name: [] for name in variants}
    accs: dict[str, float] = {}
    memory: dict[str, float] = {}
    for _ in range(args.repeats):  # interleaved, so drift in machine speed hits all alike
        for name, fn in variants.items():
            before = peak_rss_mib()
            accs[name], seconds = timed(fn)
            memory[name] = max(memory.get(name, 0.0), peak_rss_mib() - before)
            times[name].append(seconds / e)
    base = statistics.median(times["hand-written loop (fp32)"])
    print(
        f"\n{'variant':<34}{'s/epoch':>9}{'samples/s':>11}{'ratio':>7}"
        f"{'peak RSS +MiB':>15}{'test acc':>10}"
    )
    for name, values in times.items():
        med = statistics.median(values)
        print(
            f"{name:<34}{med:>9.4f}{len(xtr) / med:>11.0f}{med / base:>7.3f}"
            f"{memory[name]:>15.1f}{accs[name]:>10.4f}"
        )
    print(
        f"(median of {args.repeats} interleaved runs of {e} epochs, {len(xtr)} training rows; "
        f"{torch.get_num_threads()} threads; peak RSS growth is the process high-water mark's "
        "rise during the first run of each, so later variants show only what exceeds it)"
    )


if __name__ == "__main__":
    main()
