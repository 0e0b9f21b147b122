"""How many CPU threads a training step should use, from the size of its work.

PyTorch splits every convolution and matrix product across all cores. For a small step (a
compact CNN on short signals, a narrow MLP at batch 64) each operation is a few microseconds of
arithmetic, and waking, splitting and joining the threads costs more than it saves: on 2 cores
a 1-D CNN on MNIST-1D trains 1.4x faster on one thread than on two, and on a busy machine,
where the second core is taken, the gap grows to several times. Large steps keep every core.

The choice is a rule on the step's forward FLOPs (counted once, on one real batch), not a
timing: a timing would vary with the machine's load, and with it the thread count, and with
that the bits of the result, so that two runs with the same seed (or a run and its resume)
would no longer agree.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

# Forward FLOPs a thread should have to itself before another thread joins the step. Below it,
# thread synchronisation outweighs the split work (measured in docs/benchmarks.md).
FLOPS_PER_THREAD = 16e6


@dataclass(frozen=True)
class ThreadChoice:
    """The threads training uses, and the plain-words reason recorded in the data summary."""

    threads: int
    available: int
    forward_flops: float | None
    reason: str

    def to_dict(self) -> dict[str, object]:
        return {
            "threads": self.threads,
            "available": self.available,
            "forward_mflops_per_step": (
                None if self.forward_flops is None else round(self.forward_flops / 1e6, 3)
            ),
            "why": self.reason,
        }


def forward_flops(model: nn.Module, inputs: tuple[torch.Tensor, ...]) -> float:
    """FLOPs of one forward pass (matrix products and convolutions) on `inputs`, counted in
    eval mode without gradients, so that batch-norm statistics, dropout and the random
    number stream are left exactly as they were."""
    was_training = model.training
    rng = torch.get_rng_state()
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(*inputs)
    finally:
        model.train(was_training)
        torch.set_rng_state(rng)
    return float(counter.get_total_flops())


def choose_threads(
    setting: int | str,
    device: torch.device,
    model: nn.Module,
    inputs: tuple[torch.Tensor, ...] | None,
) -> ThreadChoice:
    """`train.threads`: a number is used as given; `auto` on a CPU gives a step one thread per
    `FLOPS_PER_THREAD` of forward work, between 1 and the threads this process has. On a GPU
    the CPU threads only feed the device and are left alone."""
    available = torch.get_num_threads()
    if setting != "auto":
        return ThreadChoice(int(setting), available, None, "set by train.threads")
    if device.type != "cpu" or available <= 1 or inputs is None:
        return ThreadChoice(available, available, None, "the process's thread count")
    flops = forward_flops(model, inputs)
    threads = int(min(available, max(1, flops // FLOPS_PER_THREAD)))
    if threads == available:
        reason = f"a step's forward pass is {flops / 1e6:.0f} MFLOP: large enough for every core"
    else:
        reason = (
            f"a step's forward pass is {flops / 1e6:.1f} MFLOP: splitting it across more than "
            f"{threads} thread{'s' if threads > 1 else ''} costs more than it saves"
        )
    return ThreadChoice(threads, available, flops, reason)


@contextmanager
def using_threads(threads: int) -> Iterator[None]:
    """Run the block with `threads` intra-op threads and give the process its own count back
    afterwards (trainwise may be one call inside a larger program)."""
    before = torch.get_num_threads()
    if threads == before:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
