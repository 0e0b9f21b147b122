"""TensorBoard event files for a run, and `trainwise board` to look at them.

The writer is a callback. It never reads a tensor in the middle of an epoch: the per-step loss
is kept as device tensors (one every `every_steps` steps) and written, with the epoch's scalars,
weight and gradient histograms, in one go at the end of the epoch. Every event is placed on the
global step axis, so a resumed run (which purges events past its checkpoint) lines up exactly.

Tags: `loss/train`, `loss/validation`, `loss/train_step`, `<metric>/validation`, `lr`,
`weights/<param>`, `gradients/<param>`, and for image data `samples/inputs` and
`samples/predictions`.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from trainwise.errors import RunError
from trainwise.report.event_checksums import use_c_checksums
from trainwise.report.histograms import Histogram, histograms
from trainwise.train.callbacks import Callback

if TYPE_CHECKING:
    from trainwise.train.state import StepOutput, TrainState

# Events the writer's background thread may have queued before `add_*` blocks. TensorBoard's
# default (10) makes the epoch's burst of histograms wait on that thread event by event (27 ms an
# epoch for 94 histograms); queued, they are written in one go by the epoch's flush.
QUEUED_EVENTS = 4096

# Scalars whose tag is not simply `<name>`.
_RENAMED = {"loss": "loss/train", "val_loss": "loss/validation"}


@dataclass(frozen=True)
class ImageSamples:
    """A few rows of image data to show, with their true labels and how to label outputs."""

    inputs: tuple[torch.Tensor, ...]  # model inputs; inputs[0] is (n, channels, height, width)
    truth: list[str]
    task: str  # decides how an output becomes a label
    classes: list[str]

    def labels(self, output: torch.Tensor) -> list[str]:
        if self.task == "multiclass":
            return [self.classes[i] for i in output.argmax(dim=-1).tolist()]
        if self.task == "binary":
            return [self.classes[int(v >= 0)] for v in output.reshape(-1).tolist()]
        return [f"{v:.3g}" for v in output.reshape(len(output), -1)[:, 0].tolist()]


def is_image_batch(dense: torch.Tensor) -> bool:
    """(n, channels, height, width) with 1, 3 or 4 channels: something TensorBoard can show."""
    return dense.ndim == 4 and dense.shape[1] in (1, 3, 4)


class TensorBoardWriter(Callback):
    """Writes a run's scalars, histograms and sample images as TensorBoard event files."""

    def __init__(
        self,
        log_dir: str | Path,
        every_steps: int = 10,
        histograms: bool = True,
        max_histograms: int = 64,
        images: ImageSamples | None = None,
    ) -> None:
        self.log_dir = Path(log_dir)
        self.every_steps = max(1, every_steps)
        self.histograms = histograms
        self.max_histograms = max_histograms
        self.images = images
        self.writer: Any = None
        self._steps: list[int] = []
        self._losses: list[torch.Tensor] = []

    def on_fit_start(self, state: TrainState) -> None:
        from torch.utils.tensorboard import SummaryWriter  # a 1-2 s import: only when used

        use_c_checksums()
        # on resume, TensorBoard drops the events an interrupted run wrote past this step
        self.writer = SummaryWriter(
            str(self.log_dir), purge_step=state.step or None, max_queue=QUEUED_EVENTS
        )
        self._steps, self._losses = [], []
        if self.images is not None and state.step == 0:
            self.writer.add_images("samples/inputs", _to_unit_range(self.images.inputs[0]), 0)

    def on_batch_end(self, state: TrainState, out: StepOutput) -> None:
        if state.step % self.every_steps == 0:
            self._steps.append(state.step)
            self._losses.append(out.loss.detach().float().reshape(()))  # no sync: kept on device

    def on_epoch_end(self, state: TrainState, logs: dict[str, float]) -> None:
        if self.writer is None:
            return
        step = state.step
        # every figure first, then every event: the writer's thread, which takes the GIL to
        # write each event, starts only once the tensor work is done
        hists = self._histograms(state.model) if self.histograms else []
        losses = torch.stack(self._losses).tolist() if self._losses else []  # one transfer
        for at, value in zip(self._steps, losses, strict=True):
            self.writer.add_scalar("loss/train_step", value, at)
        self._steps, self._losses = [], []
        for key, value in logs.items():
            if isinstance(value, int | float):
                self.writer.add_scalar(_tag(key), value, step)
        for tag, hist in hists:
            self.writer.add_histogram_raw(
                tag,
                min=hist.low,
                max=hist.high,
                num=hist.count,
                sum=hist.total,
                sum_squares=hist.squares,
                bucket_limits=hist.limits,
                bucket_counts=hist.counts,
                global_step=step,
            )
        self.writer.flush()

    def on_fit_end(self, state: TrainState) -> None:
        if self.writer is None:
            return
        try:
            if self.images is not None:
                self.writer.add_figure(
                    "samples/predictions", _prediction_figure(state.model, self.images), state.step
                )
        finally:
            self.writer.close()
            self.writer = None

    def _histograms(self, model: torch.nn.Module) -> list[tuple[str, Histogram]]:
        """(tag, histogram) of each trainable weight and its gradient, up to `max_histograms`
        parameters; computed on the device, in two transfers. A tensor without finite values
        (a diverged run, which the NaN guard and the doctor report) is left out, not a failure."""
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        tags: list[str] = []
        tensors: list[torch.Tensor] = []
        for name, param in named[: self.max_histograms]:
            tags.append(f"weights/{name}")
            tensors.append(param)
            if param.grad is not None:  # the epoch's last step: grads live until the next one
                tags.append(f"gradients/{name}")
                tensors.append(param.grad)
        return [
            (tag, hist)
            for tag, hist in zip(tags, histograms(tensors), strict=True)
            if hist is not None
        ]


def _tag(key: str) -> str:
    if key in _RENAMED:
        return _RENAMED[key]
    if key.startswith("val_"):
        return f"{key.removeprefix('val_')}/validation"
    return key


def _to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """Standardised pixels → [0, 1] per image, on the CPU, for display only."""
    x = images.detach().float().cpu()
    flat = x.reshape(len(x), -1)
    low = flat.min(dim=1).values.reshape(-1, 1, 1, 1)
    high = flat.max(dim=1).values.reshape(-1, 1, 1, 1)
    x = (x - low) / (high - low).clamp(min=1e-8)
    return x[:, :3]


def _prediction_figure(model: torch.nn.Module, samples: ImageSamples) -> Any:
    """A grid of the sample images titled `predicted / true` (green when right)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    was = model.training
    model.eval()
    with torch.no_grad():
        output = model(*samples.inputs).float().cpu()
    model.train(was)
    predicted = samples.labels(output)
    pictures = _to_unit_range(samples.inputs[0]).permute(0, 2, 3, 1).numpy()
    n = len(pictures)
    cols = min(8, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.8 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, ax in enumerate(axes.flat[:n]):
        picture = pictures[i]
        ax.imshow(picture[..., 0] if picture.shape[-1] == 1 else picture, cmap="gray")
        right = predicted[i] == samples.truth[i]
        ax.set_title(
            f"{predicted[i]} / {samples.truth[i]}", fontsize=8, color="green" if right else "red"
        )
    fig.suptitle("predicted / true", fontsize=9)
    fig.tight_layout()
    return fig


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def board_command(log_dir: str | Path, port: int, host: str = "127.0.0.1") -> list[str]:
    """The TensorBoard command line for a folder of runs (each run's `tensorboard/` inside)."""
    folder = Path(log_dir)
    if not folder.is_dir():
        raise RunError(
            f"{str(folder)!r} is not a folder",
            "a folder of runs (default runs/) or one run folder",
            "pass the folder your runs are written to, e.g. `trainwise board runs`",
        )
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        raise RunError(
            "TensorBoard is not installed",
            "the tensorboard package in this Python environment",
            "pip install tensorboard",
        ) from None
    return [
        sys.executable,
        "-m",
        "tensorboard.main",
        "--logdir",
        str(folder),
        "--host",
        host,
        "--port",
        str(port),
    ]


def serve_board(log_dir: str | Path, port: int = 6006, host: str = "127.0.0.1") -> int:
    """Run TensorBoard on `log_dir` until it exits, Ctrl-C or a SIGTERM; returns its exit code
    (0 when stopped). Stopping this process stops TensorBoard too, rather than leaving it
    serving the port on its own."""
    command = board_command(log_dir, port, host)
    print(f"TensorBoard on http://{host}:{port}/ for {log_dir} (Ctrl-C to stop)", flush=True)
    process = subprocess.Popen(command)
    stopped = False

    def stop(*_: object) -> None:
        nonlocal stopped
        stopped = True
        process.terminate()

    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread: only the main thread may handle signals
        previous = None
    try:
        code = process.wait()
    except KeyboardInterrupt:
        stop()
        process.wait(timeout=10)
        return 0
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0 if stopped else code
