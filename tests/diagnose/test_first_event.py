"""First non-finite step per item: the per-step `note` and the held rows checked later agree."""

from __future__ import annotations

import torch

from trainwise.diagnose.probes import FirstEvent

NAN = float("nan")


def _rows() -> list[tuple[int, list[float]]]:
    return [(5, [1.0, 2.0, 3.0]), (6, [1.0, NAN, 3.0]), (7, [NAN, NAN, 3.0]), (8, [NAN] * 3)]


def test_held_rows_give_the_same_first_steps_as_noting_each_step():
    noted, held = FirstEvent(torch.device("cpu"), 3), FirstEvent(torch.device("cpu"), 3)
    for step, values in _rows():
        noted.note(torch.tensor(values), step)
        held.hold(torch.tensor(values), step)
    held.flush()
    assert noted.first.tolist() == held.first.tolist() == [7, 6, 8]
    assert FirstEvent.read(held.first.tolist()) == (6, 1)


def test_held_rows_with_a_gap_in_steps_keep_their_own_step_numbers():
    held = FirstEvent(torch.device("cpu"), 2)
    held.hold(torch.tensor([1.0, 1.0]), 3)
    held.hold(torch.tensor([1.0, 1.0]), 4)
    held.hold(torch.tensor([NAN, 1.0]), 9)  # a rollback or a resumed run: not step 5
    held.hold(torch.tensor([NAN, NAN]), 10)
    held.flush()
    assert held.first.tolist() == [9, 10]


def test_rows_are_checked_in_batches_as_they_are_held():
    held = FirstEvent(torch.device("cpu"), 1)
    for step in range(FirstEvent.HELD_ROWS):
        held.hold(torch.tensor([NAN if step == 100 else 0.0]), step)
    assert held.first.tolist() == [100]  # checked when the batch filled, before any flush
    assert not held._rows
