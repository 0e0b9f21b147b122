"""Histograms computed on the tensors' device: statistics and buckets against NumPy, non-finite
values left out, and what TensorBoard reads back from a run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import trainwise
from conftest import TINY, binary_frame
from trainwise.report.histograms import histograms


def test_statistics_and_buckets_match_numpy_on_the_finite_values():
    torch.manual_seed(0)
    values = torch.randn(5000) * 3 + 1
    values[::97] = float("nan")
    values[5] = float("inf")
    values[6] = -float("inf")
    h = histograms([values], bins=16)[0]
    finite = values[torch.isfinite(values)].double().numpy()
    assert h is not None
    assert h.count == finite.size
    assert h.low == pytest.approx(finite.min()) and h.high == pytest.approx(finite.max())
    assert h.total == pytest.approx(finite.sum(), rel=1e-4)
    assert h.squares == pytest.approx(finite.dot(finite), rel=1e-4)
    counts, edges = np.histogram(finite, bins=16, range=(finite.min(), finite.max()))
    assert h.counts[0] == 0 and h.counts[1:] == pytest.approx(counts.tolist(), abs=1)
    assert sum(h.counts) == finite.size
    assert h.limits == pytest.approx(edges.tolist(), rel=1e-6)


def test_a_constant_tensor_fills_one_bucket_and_keeps_its_value_as_min_and_max():
    h = histograms([torch.full((3, 4), 2.5)], bins=8)[0]
    assert h is not None
    assert (h.low, h.high, h.count) == (2.5, 2.5, 12)
    assert sorted(h.counts)[-1] == 12 and sum(h.counts) == 12
    bucket = h.counts.index(12)
    assert h.limits[bucket - 1] <= 2.5 <= h.limits[bucket]


def test_tensors_without_finite_values_have_no_histogram_and_the_rest_are_kept():
    nan = torch.full((4,), float("nan"))
    out = histograms([nan, torch.empty(0), torch.arange(6.0).reshape(2, 3)], bins=3)
    assert out[0] is None and out[1] is None
    assert out[2] is not None and out[2].counts == [0.0, 2.0, 2.0, 2.0]


def test_sparse_gradients_are_binned_by_their_stored_values():
    embedding = torch.nn.Embedding(10, 3, sparse=True)
    (embedding(torch.tensor([1, 4, 4])) * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    grad = embedding.weight.grad
    assert grad is not None and grad.is_sparse
    h = histograms([grad], bins=2)[0]  # rows 1 and 4 only: [1, 2, 3] and 2 * [1, 2, 3]
    assert h is not None and (h.count, h.low, h.high, h.total) == (6, 1.0, 6.0, 18.0)


def test_a_run_writes_weight_histograms_tensorboard_reads_back(tmp_path: Path):
    accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    out = tmp_path / "run"
    result = trainwise.fit(
        binary_frame(200), "y", epochs=2, output={"dir": str(out)}, report=False, **TINY
    )
    events = accumulator.EventAccumulator(str(out / "tensorboard"), size_guidance={"histograms": 0})
    events.Reload()
    tags = [t for t in events.Tags()["histograms"] if t.startswith("weights/")]
    assert tags
    model = trainwise.load(out).model
    name = tags[0].removeprefix("weights/")
    weight = dict(model.named_parameters())[name].detach().double()
    last = events.Histograms(tags[0])[-1].histogram_value
    assert len(events.Histograms(tags[0])) == result.metrics["epochs"]
    assert last.num == weight.numel()
    assert last.min == pytest.approx(weight.min().item(), rel=1e-6)
    assert last.max == pytest.approx(weight.max().item(), rel=1e-6)
    assert last.sum == pytest.approx(weight.sum().item(), rel=1e-4, abs=1e-6)


def test_complex_tensors_are_binned_by_magnitude():
    h = histograms([torch.tensor([3 + 4j, 0 + 1j, -1 + 0j])], bins=2)[0]
    assert h is not None and (h.count, h.low, h.high, h.total) == (3, 1.0, 5.0, 7.0)


@pytest.mark.parametrize("make", [lambda: torch.randn(1000) * 4, lambda: torch.full((50,), -1.25)])
def test_a_nan_or_an_infinity_changes_nothing_but_which_values_are_counted(make):
    # finite tensors are binned by `torch.histc`, the others value by value: same buckets
    clean = make()
    dirty = torch.cat([clean, torch.tensor([float("nan"), float("inf"), -float("inf")])])
    a, b = histograms([clean, dirty], bins=16)
    assert a is not None and b is not None
    assert (a.count, a.low, a.high, a.limits, a.counts) == (
        b.count,
        b.low,
        b.high,
        b.limits,
        b.counts,
    )
    assert a.total == pytest.approx(b.total, rel=1e-5, abs=1e-5)
    assert a.squares == pytest.approx(b.squares, rel=1e-5)
