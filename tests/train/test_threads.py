"""Training threads follow the size of a step's work, leave the model and the random stream as
they were, and give the process its own thread count back."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn

import trainwise
from trainwise.errors import SpecError
from trainwise.train.threads import (
    FLOPS_PER_THREAD,
    TAKEN_CORE_SHARE,
    CpuSample,
    LoadProbe,
    choose_threads,
    forward_flops,
    others_busy_cores,
    step_flops,
    using_threads,
)

CPU = torch.device("cpu")


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def small_mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(20, 64), nn.BatchNorm1d(64), nn.Dropout(0.5), nn.Linear(64, 3))


def test_forward_flops_counts_the_matrix_products():
    net = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 3))
    flops = forward_flops(net, (torch.randn(8, 20),))
    assert flops == 2 * 8 * (20 * 64 + 64 * 3)


def test_counting_leaves_statistics_mode_and_random_stream_alone():
    net = small_mlp().train()
    buffers = {k: v.clone() for k, v in net.state_dict().items()}
    x = torch.randn(16, 20)
    torch.manual_seed(3)
    expected_next = torch.rand(4)
    torch.manual_seed(3)
    forward_flops(net, (x,))
    assert torch.equal(torch.rand(4), expected_next)  # no draws consumed (dropout was off)
    assert net.training
    assert all(torch.equal(v, buffers[k]) for k, v in net.state_dict().items())


def test_small_step_gets_one_thread_and_large_step_every_core(two_threads):
    small = choose_threads("auto", CPU, step_flops(CPU, small_mlp(), (torch.randn(64, 20),)))
    assert small.threads == 1 and small.available == 2
    assert "costs more than it saves" in small.reason
    wide = nn.Sequential(nn.Linear(512, 2048), nn.ReLU(), nn.Linear(2048, 10))
    large = choose_threads("auto", CPU, step_flops(CPU, wide, (torch.randn(256, 512),)))
    assert large.forward_flops > 2 * FLOPS_PER_THREAD
    assert large.threads == 2


def test_a_number_is_used_as_given_and_gpus_are_left_alone(two_threads):
    assert choose_threads(3, CPU, 1e6).threads == 3
    gpu = torch.device("cuda")
    assert step_flops(gpu, small_mlp(), (torch.randn(4, 20),)) is None
    assert choose_threads("auto", gpu, None).threads == 2


def test_using_threads_restores_the_count_even_after_an_error(two_threads):
    with pytest.raises(RuntimeError), using_threads(1):
        assert torch.get_num_threads() == 1
        raise RuntimeError("boom")
    assert torch.get_num_threads() == 2


def test_fit_records_the_choice_and_restores_the_process_count(two_threads):
    result = trainwise.fit("iris", epochs=2, save=False, progress=False)
    chosen = result.summary["training_budget"]["threads"]
    assert chosen["threads"] == 1 and chosen["available"] == 2
    assert chosen["forward_mflops_per_step"] > 0
    assert torch.get_num_threads() == 2
    explicit = trainwise.fit("iris", epochs=1, save=False, progress=False, threads=2)
    assert explicit.summary["training_budget"]["threads"]["why"] == "set by train.threads"


def test_zero_threads_is_refused():
    with pytest.raises(SpecError, match="threads"):
        trainwise.fit("iris", epochs=1, save=False, progress=False, threads=0)


def test_recurrent_and_attention_layers_are_counted():
    """Fused kernels the FLOP counter cannot see (LSTM always, a Transformer layer in eval
    mode) must not make a heavy step look small."""
    lstm = nn.LSTM(8, 16, num_layers=2, bidirectional=True, batch_first=True)
    expected = 2 * 4 * 16 * (8 + 16) * 5 * 3 * 2 + 2 * 4 * 16 * (32 + 16) * 5 * 3 * 2
    assert forward_flops(lstm, (torch.randn(3, 5, 8),)) == expected
    layer = nn.TransformerEncoder(nn.TransformerEncoderLayer(32, 4, 64, batch_first=True), 1)
    layer.eval()
    assert forward_flops(layer, (torch.randn(4, 10, 32),)) > 2 * 4 * 10 * 32 * 64 * 2
    assert not layer.training


class CallCounter(nn.Module):
    """A user's module with a side effect in forward: it counts its calls."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(4, 2)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.layer(x)


def test_counting_runs_on_a_copy_so_side_effects_stay_out_of_the_users_module():
    net = CallCounter()
    assert forward_flops(net, (torch.randn(8, 4),)) == 2 * 8 * 4 * 2
    assert net.calls == 0


def test_a_module_that_cannot_be_copied_gets_no_count_and_keeps_the_process_threads(two_threads):
    net = CallCounter()
    net.lock = __import__("threading").Lock()  # deepcopy refuses locks
    flops = forward_flops(net, (torch.randn(8, 4),))
    assert flops is None
    assert choose_threads("auto", CPU, flops).threads == 2


def test_other_processes_cpu_time_is_what_the_counters_add_beyond_our_own():
    before = CpuSample(wall=10.0, busy=100.0, own=5.0)
    # 2 s later: the cores were busy 3.5 s, of which 1.5 s were this process's threads
    assert others_busy_cores(before, CpuSample(12.0, 103.5, 6.5)) == pytest.approx(1.0)
    # counters read at slightly different moments never make the others' share negative
    assert others_busy_cores(before, CpuSample(12.0, 101.0, 6.5)) == 0.0
    assert others_busy_cores(before, before) == 0.0


@pytest.mark.skipif(not Path("/proc/stat").is_file(), reason="CPU counters of Linux only")
def test_a_core_another_process_keeps_busy_is_left_out():
    """A thread whose core another process holds stalls every split operation of the step."""
    cores = len(os.sched_getaffinity(0))
    if cores < 2:
        pytest.skip("one core: there is no thread to leave out")
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)  # running, not starting
        load = LoadProbe()
        with using_threads(cores):
            choice = choose_threads("auto", CPU, 100 * cores * FLOPS_PER_THREAD, load)
        busy = load.busy_cores()
    finally:
        spinner.kill()
        spinner.wait()
    assert busy is not None and busy >= TAKEN_CORE_SHARE  # a whole core, less the host's steal
    assert 1 <= choice.threads <= cores - 1
    assert "other processes kept" in choice.reason
    # without a probe (or with one thread wanted) the rule alone decides
    with using_threads(cores):
        assert choose_threads("auto", CPU, 100 * cores * FLOPS_PER_THREAD).threads == cores
