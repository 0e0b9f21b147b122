"""How many CPU threads a training step should use, from the size of its work.

PyTorch splits every convolution and matrix product across all cores. For a small step (a
compact CNN on short signals, a narrow MLP at batch 64) each operation is a few microseconds of
arithmetic, and waking, splitting and joining the threads costs more than it saves: on 2 cores
the 1-D CNN of the framework comparison (6.5 MFLOP per step) takes 1.66 ms per step on one
thread and 1.89 ms on two on an idle machine, and on a busy one, where the second core is
taken, 2.8 against 35 ms. From about 10 MFLOP on, two threads win (benchmarks/threads.py).

The choice is a rule on the step's forward FLOPs (counted once, on one real batch), not a
timing of steps: a timing would vary with the machine's load, and with it the thread count, and
with that the bits of the result. One fact about the load does enter, because it decides more
than a few percent: whether other processes keep some of the cores busy. A thread whose core is
taken is scheduled only now and then, and every split operation waits for it; the default
MNIST-1D network's step took 67-173 ms on two threads with the second core busy, against 39 ms on
one. So `auto` leaves out the cores other processes used while the run prepared its data
(`LoadProbe`, from /proc/stat). On an idle machine the count, and so the bits, are those of the
rule alone; a resumed run trains with the count its first part recorded.
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

# Forward FLOPs a thread should have to itself before another thread joins the step. Below it,
# thread synchronisation outweighs the split work (measured in docs/benchmarks.md).
FLOPS_PER_THREAD = 4e6
RNN_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}  # weight matrices per layer
# The shortest window over which other processes' CPU use is judged: /proc/stat counts in ticks
# of 10 ms, so a shorter one is mostly rounding.
LOAD_WINDOW_SECONDS = 0.2
# Other processes' use of a core from which that core counts as taken.
TAKEN_CORE_SHARE = 0.5


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


def forward_flops(model: nn.Module, inputs: tuple[torch.Tensor, ...]) -> float | None:
    """FLOPs of one training-mode forward pass (matrix products, convolutions, attention) on
    `inputs`, without gradients, or None when the model cannot be counted.

    The pass runs on a copy, so a user's module that counts its calls or records what it saw
    (or holds hooks) is left exactly as it was, and the random number stream is put back.
    Training mode, because in eval mode PyTorch runs a Transformer layer as one fused kernel
    the counter cannot see; recurrent layers run fused kernels in both modes and are counted
    from their shapes."""
    rng = torch.get_rng_state()
    try:
        twin = copy.deepcopy(model).train()
        recurrent = _RecurrentFlops(twin)
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            twin(*inputs)
    except Exception:  # a module that cannot be copied or traced: no rule applies
        return None
    finally:
        torch.set_rng_state(rng)
    return float(counter.get_total_flops()) + recurrent.flops


class _RecurrentFlops:
    """Counts LSTM/GRU/RNN layers from their shapes: 2 x gates x hidden x (input + hidden)
    multiply-adds per step, per layer and direction."""

    def __init__(self, model: nn.Module) -> None:
        self.flops = 0.0
        for module in model.modules():
            if isinstance(module, nn.RNNBase):
                module.register_forward_hook(self._count)

    def _count(self, module: nn.RNNBase, args: tuple, _: object) -> None:
        x = args[0]
        if isinstance(x, nn.utils.rnn.PackedSequence):
            tokens = int(x.data.shape[0])
        else:
            tokens = int(x.shape[0] * x.shape[1]) if x.dim() == 3 else int(x.shape[0])
        gates = RNN_GATES.get(module.mode, 1)
        directions = 2 if module.bidirectional else 1
        hidden = module.hidden_size
        for layer in range(module.num_layers):
            width = module.input_size if layer == 0 else hidden * directions
            self.flops += 2.0 * gates * hidden * (width + hidden) * tokens * directions


def step_flops(
    device: torch.device, model: nn.Module, inputs: tuple[torch.Tensor, ...] | None
) -> float | None:
    """The forward FLOPs of one training step on a CPU (None on accelerators, where neither
    the thread count nor the CPU's precision rule applies)."""
    if device.type != "cpu" or inputs is None:
        return None
    return forward_flops(model, inputs)


@dataclass(frozen=True)
class CpuSample:
    """Cumulative CPU seconds at one moment: busy time of the cores this process may run on
    (every process's), and this process's own (all its threads)."""

    wall: float
    busy: float
    own: float


def cpu_sample() -> CpuSample | None:
    """Now's counters, or None where the kernel does not publish them (not Linux)."""
    try:
        cores = os.sched_getaffinity(0)
        with open("/proc/stat", encoding="ascii") as stat:
            lines = stat.readlines()
        tick = os.sysconf("SC_CLK_TCK")
    except (AttributeError, OSError, ValueError):
        return None
    busy = 0
    for line in lines:
        name, *fields = line.split()
        if name[:3] != "cpu" or not name[3:].isdigit() or int(name[3:]) not in cores:
            continue
        user, nice, system, _idle, _iowait, irq, softirq = (int(f) for f in fields[:7])
        busy += user + nice + system + irq + softirq
    return CpuSample(time.perf_counter(), busy / tick, time.process_time())


def others_busy_cores(before: CpuSample, after: CpuSample) -> float:
    """How many of this process's cores other processes kept busy between two samples, on
    average (0.0 = none, 1.0 = one whole core)."""
    wall = after.wall - before.wall
    if wall <= 0:
        return 0.0
    others = (after.busy - before.busy) - (after.own - before.own)
    return max(0.0, others / wall)


class LoadProbe:
    """Started when a run starts; `busy_cores` then says how many cores other processes used
    since (judged over at least `LOAD_WINDOW_SECONDS`, waiting out the rest if the run got
    there sooner). None where the counters cannot be read."""

    def __init__(self) -> None:
        self.start = cpu_sample()

    def busy_cores(self) -> float | None:
        if self.start is None:
            return None
        waited = time.perf_counter() - self.start.wall
        if waited < LOAD_WINDOW_SECONDS:
            time.sleep(LOAD_WINDOW_SECONDS - waited)
        now = cpu_sample()
        return None if now is None else others_busy_cores(self.start, now)


def choose_threads(
    setting: int | str,
    device: torch.device,
    flops: float | None,
    load: LoadProbe | None = None,
) -> ThreadChoice:
    """`train.threads`: a number is used as given; `auto` on a CPU gives a step one thread per
    `FLOPS_PER_THREAD` of forward work (`flops`, from `step_flops`), between 1 and the threads
    this process has, and no more than the cores other processes left free (`load`, asked
    only when more than one thread is wanted). On a GPU the CPU threads only feed the device
    and are left alone."""
    available = torch.get_num_threads()
    if setting != "auto":
        return ThreadChoice(int(setting), available, flops, "set by train.threads")
    if device.type != "cpu" or available <= 1 or flops is None:
        return ThreadChoice(available, available, flops, "the process's thread count")
    threads = int(min(available, max(1, flops // FLOPS_PER_THREAD)))
    if threads == available:
        reason = f"a step's forward pass is {flops / 1e6:.0f} MFLOP: large enough for every core"
    else:
        reason = (
            f"a step's forward pass is {flops / 1e6:.1f} MFLOP: splitting it across more than "
            f"{threads} thread{'s' if threads > 1 else ''} costs more than it saves"
        )
    busy = load.busy_cores() if load is not None and threads > 1 else None
    if busy is not None:
        cores = len(os.sched_getaffinity(0))
        free = max(1, cores - int(busy + (1 - TAKEN_CORE_SHARE)))
        if free < threads:
            threads = free
            reason += (
                f"; other processes kept {busy:.1f} of the {cores} cores busy, and a thread "
                f"whose core is taken stalls every step, so {threads} "
                f"thread{'s' if threads > 1 else ''}"
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
