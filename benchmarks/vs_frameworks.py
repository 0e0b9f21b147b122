"""trainwise against a hand-written loop, PyTorch Lightning and Keras 3 (torch backend).

One process, one model (the same module type in every framework: Keras wraps it in
`TorchModuleWrapper`; a further Keras row builds the same network from Keras' own `Conv1D` and
`Dense` layers, as a Keras user writes it), the same MNIST-1D rows, AdamW (lr
1e-3, weight decay 1e-4), batch 64, the same number of epochs with a validation pass after
each, fp32 unless stated. Each framework uses its own default data loading: Lightning a
`DataLoader` over a `TensorDataset`, Keras `fit` on NumPy arrays; trainwise and the hand-written
loop gather batches from in-memory tensors. Reports seconds per epoch (the marginal cost of an
epoch: a long run minus a short run; the whole run divided by its epochs is shown beside it, and
for `train.compile` it carries the compile), samples per second, the ratio to the hand-written
loop, peak RSS growth and test accuracy.

`--model sequential` (default) is `ConvNet1D`, an `nn.Sequential` body; `--model functional` is
the MNIST-1D authors' CNN with its activations called in `forward` (`FunctionalConvNet1D`).

Run: `.venv/bin/python -m benchmarks.vs_frameworks [--epochs N] [--repeats R] [--model M]`
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

from benchmarks.common import MODELS, mnist1d_arrays, peak_rss_mib, timed
from benchmarks.loop_overhead import BATCH, hand_loop, trainwise_run
from trainwise.train.threads import using_threads

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    model.eval()
    with torch.no_grad():
        return float((model(torch.from_numpy(x)).argmax(1).numpy() == y).mean())


def lightning_fit(data: Arrays, epochs: int, seed: int, net: Callable[[], nn.Module]) -> float:
    import lightning as L
    from torch.utils.data import DataLoader, TensorDataset

    xtr, ytr, xv, yv, xt, yt = data

    class Module(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = net()
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


def keras_fit(data: Arrays, epochs: int, seed: int, net: Callable[[], nn.Module]) -> float:
    import keras

    keras.utils.set_random_seed(seed)
    module = net()
    model = keras.Sequential(
        [keras.Input((data[0].shape[1],)), keras.layers.TorchModuleWrapper(module)]
    )
    keras_train(model, data, epochs)
    return accuracy(module, data[4], data[5])


def keras_train(model: Any, data: Arrays, epochs: int) -> None:
    """Keras' own `compile` and `fit` on NumPy arrays: AdamW, batch 64, validation each epoch."""
    import keras

    xtr, ytr, xv, yv, _, _ = data
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=1e-3, weight_decay=1e-4),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(
        xtr, ytr, batch_size=BATCH, epochs=epochs, validation_data=(xv, yv), shuffle=True, verbose=0
    )


def keras_layers_fit(data: Arrays, epochs: int, seed: int, model_name: str) -> float:
    """The same network written with Keras' own layers, as a Keras user writes it, with the
    same lengths and parameter count: "same" padding for `ConvNet1D`'s convolutions, one zero
    on each side for `FunctionalConvNet1D`'s."""
    import keras

    length, xt, yt = data[0].shape[1], data[4], data[5]
    keras.utils.set_random_seed(seed)
    layers = keras.layers
    if model_name == "sequential":
        convs = [
            layers.Conv1D(32, kernel, strides=2, padding="same", activation="relu")
            for kernel in (5, 3, 3)
        ]
    else:
        convs = []
        for kernel in (5, 3, 3):
            convs += [layers.ZeroPadding1D(1), layers.Conv1D(25, kernel, 2, activation="relu")]
    model = keras.Sequential(
        [
            keras.Input((length,)),
            layers.Reshape((length, 1)),
            *convs,
            layers.Flatten(),
            layers.Dense(10),
        ]
    )
    keras_train(model, data, epochs)
    return float(model.evaluate(xt, yt, verbose=0)[1])


def one_thread(fn: Callable[[], float]) -> float:
    """The hand-written loop as an expert who knew this model was too small to split across
    cores would run it: on one thread."""
    with using_threads(1):
        return fn()


def goals(per_epoch: dict[str, list[float]]) -> None:
    """The performance goals, each with the measured ratio."""
    med = {name: statistics.median(values) for name, values in per_epoch.items()}
    hand = med["hand-written loop (fp32)"]
    checks = [
        ("trainwise fp32 / hand-written fp32", med["trainwise (fp32)"] / hand, 1.05),
        (
            "trainwise precision auto / hand-written fp32",
            med["trainwise (precision auto)"] / hand,
            0.8,
        ),
        (
            "trainwise fp32 / Lightning",
            med["trainwise (fp32)"] / med["PyTorch Lightning (fp32)"],
            0.65,
        ),
        (
            "trainwise fp32 / Keras 3",
            med["trainwise (fp32)"] / med["Keras 3, torch backend (fp32)"],
            0.35,
        ),
        (
            "trainwise fp32 / Keras 3 with Keras layers",
            med["trainwise (fp32)"] / med["Keras 3, Keras layers (fp32)"],
            0.35,
        ),
    ]
    compiled = med["trainwise (fp32, train.compile)"]
    checks += [  # the opt-in compiled step, against the same goals
        ("trainwise train.compile / hand-written fp32", compiled / hand, 0.8),
        (
            "trainwise train.compile / Keras 3",
            compiled / med["Keras 3, torch backend (fp32)"],
            0.35,
        ),
    ]
    print()
    for name, ratio, goal in checks:
        print(
            f"{name:<48}{ratio:>7.3f}  goal <= {goal:<5}{'met' if ratio <= goal else 'NOT met':>9}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", choices=sorted(MODELS), default="sequential")
    args = parser.parse_args()
    net = MODELS[args.model]
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

    def tw(epochs: int, precision: str, compile: bool = False) -> float:
        result = trainwise_run(
            *frames, epochs, 0, net, save=False, precision=precision, compile=compile
        )
        return float(result.metrics["test"]["accuracy"])

    variants: dict[str, Callable[[int], float]] = {
        "hand-written loop (fp32)": lambda e: accuracy(
            hand_loop(xtr, ytr, xv, yv, e, 0, net)[0], xt, yt
        ),
        "hand-written loop (fp32, 1 thd)": lambda e: one_thread(
            lambda: accuracy(hand_loop(xtr, ytr, xv, yv, e, 0, net)[0], xt, yt)
        ),
        "trainwise (fp32)": lambda e: tw(e, "fp32"),
        "trainwise (precision auto)": lambda e: tw(e, "auto"),
        "trainwise (fp32, train.compile)": lambda e: tw(e, "fp32", compile=True),
        "PyTorch Lightning (fp32)": lambda e: lightning_fit(data, e, 0, net),
        "Keras 3, torch backend (fp32)": lambda e: keras_fit(data, e, 0, net),
        "Keras 3, Keras layers (fp32)": lambda e: keras_layers_fit(data, e, 0, args.model),
    }
    short, long = 2, args.epochs
    for fn in variants.values():  # first calls pay one-off costs (imports, kernel selection)
        fn(1)
    per_epoch: dict[str, list[float]] = {name: [] for name in variants}
    whole: dict[str, list[float]] = {name: [] for name in variants}
    accs: dict[str, float] = {}
    memory: dict[str, float] = {}
    for _ in range(args.repeats):  # interleaved, so drift in machine speed hits all alike
        for name, fn in variants.items():
            _, t_short = timed(lambda fn=fn: fn(short))
            before = peak_rss_mib()
            accs[name], t_long = timed(lambda fn=fn: fn(long))
            memory[name] = max(memory.get(name, 0.0), peak_rss_mib() - before)
            per_epoch[name].append((t_long - t_short) / (long - short))
            whole[name].append(t_long / long)
    base = statistics.median(per_epoch["hand-written loop (fp32)"])
    print(
        f"\n{'variant':<32}{'s/epoch':>9}{'ratio':>7}{'samples/s':>11}{'whole run':>11}"
        f"{'peak RSS +MiB':>15}{'test acc':>10}"
    )
    for name, values in per_epoch.items():
        med = statistics.median(values)
        print(
            f"{name:<32}{med:>9.4f}{med / base:>7.3f}{len(xtr) / med:>11.0f}"
            f"{statistics.median(whole[name]):>11.4f}{memory[name]:>15.1f}{accs[name]:>10.4f}"
        )
    goals(per_epoch)
    print(
        f"(s/epoch: the extra time of a {long}-epoch run over a {short}-epoch run, per extra "
        f"epoch, so start-up and final evaluation cancel out; whole run: a {long}-epoch run's "
        f"time / {long}. Median of {args.repeats} interleaved repeats; {len(xtr)} training "
        f"rows; {torch.get_num_threads()} threads; model {args.model}. Peak RSS growth: the rise "
        "of the process high-water mark during a run, so later variants show only what exceeds "
        "earlier ones.)"
    )


if __name__ == "__main__":
    main()
