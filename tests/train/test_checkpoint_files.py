"""Checkpoint files (`trainwise.train.checkpoint`): exact round trips, verified loading, pruning,
leftovers from crashes, damaged files, and no pickle anywhere.

Everything here works on real objects (an AdamW after two steps, the real RNG states, a real
`TrainState`) written to a temporary folder; nothing of ours is mocked.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import re
import shutil
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from trainwise.errors import RunError
from trainwise.train.checkpoint import (
    MANIFEST,
    REQUIRED_PARTS,
    STATE,
    TENSORS,
    join_tensors,
    list_checkpoints,
    load_checkpoint,
    load_latest,
    save_checkpoint,
    split_tensors,
)
from trainwise.train.state import TrainState, capture_rng, restore_rng

# ---------------------------------------------------------------------------------------------
# helpers


def roundtrip(obj: Any) -> Any:
    """split → JSON text → join, the way a checkpoint stores and reads a structure."""
    tensors: dict[str, torch.Tensor] = {}
    text = json.dumps(split_tensors(obj, "ckpt", tensors))
    return join_tensors(json.loads(text), tensors)


def assert_identical(got: Any, want: Any, path: str = "root") -> None:
    """Same types, same keys, same dtypes and shapes, same values bit for bit."""
    # an OrderedDict (a module's state_dict) may come back as a plain dict: both load the same
    kind = dict if isinstance(want, dict) else type(want)
    assert type(got) is kind or (kind is dict and isinstance(got, dict)), (
        f"{path}: {type(got).__name__} != {type(want).__name__}"
    )
    if isinstance(want, torch.Tensor):
        assert got.dtype == want.dtype, f"{path}: dtype {got.dtype} != {want.dtype}"
        assert got.shape == want.shape, f"{path}: shape {got.shape} != {want.shape}"
        as_bytes = [t.contiguous().reshape(-1).view(torch.uint8) for t in (got, want)]
        assert torch.equal(*as_bytes), path
    elif isinstance(want, np.ndarray):
        assert got.dtype == want.dtype, f"{path}: dtype {got.dtype} != {want.dtype}"
        assert got.shape == want.shape, f"{path}: shape {got.shape} != {want.shape}"
        assert got.tobytes() == want.tobytes(), path
    elif isinstance(want, dict):
        assert list(got) == list(want), f"{path}: keys {list(got)} != {list(want)}"
        for key in want:
            assert_identical(got[key], want[key], f"{path}[{key!r}]")
    elif isinstance(want, list | tuple):
        assert len(got) == len(want), f"{path}: length {len(got)} != {len(want)}"
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_identical(g, w, f"{path}[{i}]")
    elif isinstance(want, float) and want != want:
        assert got != got, f"{path}: {got} is not NaN"
    else:
        assert got == want, f"{path}: {got!r} != {want!r}"


def small_state(seed: int = 0) -> TrainState:
    """A real TrainState: a small MLP with batch norm and an AdamW that has taken two steps."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    x, y = torch.randn(16, 3), torch.randint(0, 2, (16,))
    for _ in range(2):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    generator = torch.Generator().manual_seed(seed)
    return TrainState(
        model=model,
        optimizer=optimizer,
        loss_fn=nn.functional.cross_entropy,
        max_epochs=3,
        batch_size=8,
        generator=generator,
        epoch=1,
        step=2,
        batch_in_epoch=0,
        history=[{"epoch": 1, "loss": 0.5, "lr": 0.01, "nonfinite_steps": 0}],
    )


def full_payload(seed: int = 0) -> dict[str, Any]:
    """Every required part of a checkpoint, as the Checkpointer builds it."""
    state = small_state(seed)
    return state.state_dict() | {
        "callbacks": {"early_stopping": {"best": 0.25, "best_epoch": 1, "wait": 0}},
        "checkpointer": {"best_name": None},
    }


def names(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


def step_name(step: int) -> str:
    return f"step-{step:09d}"


@contextlib.contextmanager
def unwritable(folder: Path) -> Iterator[None]:
    """Make `folder` refuse new entries: chmod 0o500, or (as root, where permissions do not
    apply) the immutable attribute where the file system supports it; skip otherwise."""
    if os.geteuid() != 0:
        mode = folder.stat().st_mode
        folder.chmod(0o500)
        try:
            yield
        finally:
            folder.chmod(mode)
        return
    chattr = shutil.which("chattr")
    if chattr is None:
        pytest.skip("running as root (permissions are ignored) and chattr is not available")
    done = subprocess.run([chattr, "+i", str(folder)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip("running as root (permissions are ignored) and chattr +i is not supported")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(folder)], capture_output=True, check=True)


# ---------------------------------------------------------------------------------------------
# split_tensors / join_tensors


def test_nested_structures_round_trip_exactly():
    obj = {
        "weights": torch.arange(6, dtype=torch.float32).reshape(2, 3),
        "half": torch.tensor([1.5, -2.25], dtype=torch.float16),
        "flags": torch.tensor([True, False]),
        "scalar": torch.tensor(3, dtype=torch.int64),
        "empty": torch.zeros(0, 4),
        "strided": torch.arange(12.0).reshape(3, 4).t(),  # not contiguous
        "by_index": {0: torch.ones(2), 7: "seven", 12: [1, 2]},
        "tuple": (1, 2.5, "x", None, True, (torch.ones(1, dtype=torch.float64),)),
        "list": [torch.zeros(2), {"inner": (3, 4)}, [], ()],
        "array_u32": np.arange(5, dtype=np.uint32),
        "array_f32": np.array([[0.1, 0.2], [np.inf, -0.0]], dtype=np.float32),
        "array_empty": np.zeros((2, 0)),
        "floats": [0.1, float("inf"), float("-inf"), float("nan"), 1e-310],
        "text": "tensor-like? no",
        "nothing": None,
        "empty_dict": {},
    }
    assert_identical(roundtrip(obj), obj)


def test_tensors_are_packed_by_dtype_with_a_slice_per_occurrence_and_copied():
    shared = torch.ones(3)
    obj = {"a": shared, "b": [shared, shared], "steps": torch.tensor([1, 2]), "x": torch.zeros(2)}
    tensors: dict[str, torch.Tensor] = {}
    state = split_tensors(obj, "ckpt", tensors)
    assert {t.dtype for t in tensors.values()} == {torch.float32, torch.int64}
    assert len(tensors) == 2
    floats = [state["a"], *state["b"], state["x"]]
    assert len({r["__tensor__"] for r in floats}) == 1  # one pack for the dtype
    assert [r["offset"] for r in floats] == [0, 3, 6, 9]  # a slice per occurrence
    shared.add_(1)  # the packs are copies, not views of live training state
    assert torch.equal(tensors[state["a"]["__tensor__"]], torch.tensor([1.0] * 9 + [0.0] * 2))


def test_loaded_tensors_are_copies_of_their_own():
    loaded = roundtrip({"a": torch.zeros(2), "b": torch.zeros(2)})
    loaded["a"].add_(1)  # an optimizer's moment updated in place must not touch its neighbour
    assert torch.equal(loaded["b"], torch.zeros(2))


def test_adamw_state_after_two_steps_round_trips_and_resumes_identically():
    state = small_state()
    saved = state.optimizer.state_dict()
    restored = roundtrip(saved)
    assert_identical(restored, saved)
    assert isinstance(next(iter(restored["state"])), int)  # parameter ids stay integers
    assert restored["param_groups"][0]["betas"] == (0.9, 0.999)

    # a fresh optimizer loaded from the round trip takes exactly the same next step
    twin = small_state()
    twin.model.load_state_dict(state.model.state_dict())
    fresh = torch.optim.AdamW(twin.model.parameters(), lr=1e-2)
    fresh.load_state_dict(restored)
    x, y = torch.randn(16, 3, generator=torch.Generator().manual_seed(5)), torch.ones(16).long()
    for s, opt in ((state, state.optimizer), (twin, fresh)):
        opt.zero_grad()
        nn.functional.cross_entropy(s.model(x), y).backward()
        opt.step()
    for a, b in zip(state.model.parameters(), twin.model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_rng_states_round_trip_and_replay_the_same_draws():
    generator = torch.Generator().manual_seed(11)
    random.random()
    np.random.random()
    torch.rand(1)
    torch.rand(1, generator=generator)
    captured = capture_rng(generator)
    restored = roundtrip(captured)
    assert_identical(restored, captured)

    def draws() -> tuple[Any, ...]:
        return (
            random.random(),
            random.gauss(0, 1),
            np.random.random(3).tolist(),
            torch.rand(3).tolist(),
            torch.randperm(10, generator=generator).tolist(),
        )

    first = draws()
    restore_rng(restored, generator)
    assert draws() == first


def test_numpy_scalars_keep_their_type():
    obj = {"f": np.float64(1.5), "i": np.int64(3)}
    assert_identical(roundtrip(obj), obj)


def test_keys_that_contain_dots_do_not_collide():
    obj = {"a.b": torch.ones(2), "a": {"b": torch.zeros(2)}}
    assert_identical(roundtrip(obj), obj)


# ---------------------------------------------------------------------------------------------
# save_checkpoint: what is written


def test_save_writes_three_files_and_a_manifest_whose_hashes_match(tmp_path: Path):
    payload = full_payload()
    path = save_checkpoint(tmp_path, 42, payload, keep=2)

    assert path == tmp_path / step_name(42)
    assert sorted(p.name for p in path.iterdir()) == sorted([TENSORS, STATE, MANIFEST])
    manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["step"] == 42
    assert set(manifest["parts"]) == set(payload)
    assert set(manifest["files"]) == {TENSORS, STATE}
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((path / name).read_bytes()).hexdigest() == digest
    assert not list(tmp_path.glob("*.tmp"))

    loaded = load_checkpoint(path)
    assert_identical(loaded, payload)


def test_a_loaded_checkpoint_restores_a_train_state_exactly(tmp_path: Path):
    state = small_state(seed=0)
    path = save_checkpoint(tmp_path, state.step, full_payload(seed=0), keep=2)
    other = small_state(seed=1)  # different weights, moments and RNG
    other.load_state_dict(load_checkpoint(path))
    assert_identical(other.state_dict(), state.state_dict())


def test_no_file_is_a_pickle(tmp_path: Path):
    path = save_checkpoint(tmp_path, 1, full_payload(), keep=2)
    assert sorted(p.name for p in path.iterdir()) == sorted([TENSORS, STATE, MANIFEST])
    for name in (STATE, MANIFEST):
        data = (path / name).read_bytes()
        assert not data.startswith((b"\x80\x04", b"\x80\x05")), name  # pickle protocols 4, 5
        assert data.startswith(b"{"), name
        json.loads(data)
    # safetensors: an 8-byte little-endian header length, a JSON header, then raw tensor bytes
    # (its first bytes are a length, so a pickle-marker test would be meaningless there)
    data = (path / TENSORS).read_bytes()
    assert not data.startswith(b"PK\x03\x04")  # not torch.save's zip container
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_len])
    refs = re.findall(
        r'"__tensor__": "(t\d+)", "path": "ckpt\.model\.0\.weight"', (path / STATE).read_text()
    )
    assert refs and refs[0] in header  # the JSON names where each stored tensor belongs
    end = max(entry["data_offsets"][1] for k, entry in header.items() if k != "__metadata__")
    assert 8 + header_len + end == len(data)  # nothing else hidden in the file


# ---------------------------------------------------------------------------------------------
# pruning and listing


def test_keep_prunes_to_the_newest_plus_protected(tmp_path: Path):
    payload = full_payload()
    for step in range(1, 6):
        save_checkpoint(tmp_path, step, payload, keep=2)
        assert len(list_checkpoints(tmp_path)) == min(step, 2)
    assert names(list_checkpoints(tmp_path)) == [step_name(5), step_name(4)]

    protected = tmp_path / "protected"
    for step in range(1, 7):
        save_checkpoint(protected, step, payload, keep=2, protect=[step_name(1)])
    assert names(list_checkpoints(protected)) == [step_name(s) for s in (6, 5, 1)]


def test_a_pruned_checkpoint_goes_with_anything_put_in_its_folder(tmp_path: Path):
    payload = full_payload()
    save_checkpoint(tmp_path, 1, payload, keep=1)
    (tmp_path / step_name(1) / "notes.txt").write_text("a file of someone's own")
    save_checkpoint(tmp_path, 2, payload, keep=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == [step_name(2)]


def test_a_checkpoint_that_cannot_be_pruned_does_not_fail_the_save(tmp_path: Path):
    payload = full_payload()
    save_checkpoint(tmp_path, 1, payload, keep=1)
    with unwritable(tmp_path / step_name(1)):  # its files cannot be deleted
        save_checkpoint(tmp_path, 2, payload, keep=1)
    assert load_checkpoint(tmp_path / step_name(2))["position"] == payload["position"]


def test_keep_one_keeps_only_the_checkpoint_just_written(tmp_path: Path):
    payload = full_payload()
    for step in (3, 6, 9):
        save_checkpoint(tmp_path, step, payload, keep=1)
    assert names(list_checkpoints(tmp_path)) == [step_name(9)]


def test_leftover_tmp_and_folders_without_manifest_are_ignored(tmp_path: Path):
    payload = full_payload()
    save_checkpoint(tmp_path, 3, payload, keep=5)
    # a crash mid-save leaves a complete-looking temporary folder ...
    stale_tmp = tmp_path / (step_name(9) + ".tmp")
    shutil.copytree(tmp_path / step_name(3), stale_tmp)
    # ... or a final-named folder whose manifest never got written
    no_manifest = tmp_path / step_name(12)
    shutil.copytree(tmp_path / step_name(3), no_manifest)
    (no_manifest / MANIFEST).unlink()

    assert names(list_checkpoints(tmp_path)) == [step_name(3)]
    warnings: list[str] = []
    path, loaded = load_latest(tmp_path, warn=warnings.append)
    assert path.name == step_name(3)
    assert warnings == []
    assert_identical(loaded, payload)


def test_list_checkpoints_of_a_missing_folder_is_empty(tmp_path: Path):
    assert list_checkpoints(tmp_path / "nope") == []


def test_saving_a_step_again_replaces_a_stale_tmp_and_the_old_copy(tmp_path: Path):
    save_checkpoint(tmp_path, 5, full_payload(seed=0), keep=3)
    stale = tmp_path / (step_name(5) + ".tmp")
    stale.mkdir()
    (stale / TENSORS).write_bytes(b"half-written")
    newer = full_payload(seed=1)
    path = save_checkpoint(tmp_path, 5, newer, keep=3)
    assert not stale.exists()
    assert names(list_checkpoints(tmp_path)) == [step_name(5)]
    assert_identical(load_checkpoint(path), newer)


# ---------------------------------------------------------------------------------------------
# damaged checkpoints


def _flip_payload_byte(path: Path) -> None:
    """Flip one byte of tensor data (after the header): same length, still valid safetensors."""
    data = bytearray(path.read_bytes())
    (header_len,) = struct.unpack("<Q", data[:8])
    index = 8 + header_len + (len(data) - 8 - header_len) // 2
    data[index] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_flipped_payload_byte_is_caught_by_the_hash(tmp_path: Path):
    path = save_checkpoint(tmp_path, 7, full_payload(), keep=2)
    size = (path / TENSORS).stat().st_size
    _flip_payload_byte(path / TENSORS)
    assert (path / TENSORS).stat().st_size == size
    with pytest.raises(RunError) as caught:
        load_checkpoint(path)
    assert step_name(7) in caught.value.what
    assert TENSORS in caught.value.what
    assert "hash" in caught.value.what


@pytest.mark.parametrize("damage", ["flipped byte", "truncated tensors", "truncated state"])
def test_load_latest_falls_back_to_the_previous_checkpoint(tmp_path: Path, damage: str):
    older, newer = full_payload(seed=0), full_payload(seed=1)
    save_checkpoint(tmp_path, 10, older, keep=2)
    path = save_checkpoint(tmp_path, 20, newer, keep=2)
    if damage == "flipped byte":
        _flip_payload_byte(path / TENSORS)
    else:
        target = path / (TENSORS if damage == "truncated tensors" else STATE)
        data = target.read_bytes()
        target.write_bytes(data[: len(data) // 2])

    with pytest.raises(RunError, match="does not match its recorded hash"):
        load_checkpoint(path)
    warnings: list[str] = []
    found, loaded = load_latest(tmp_path, warn=warnings.append)
    assert found.name == step_name(10)
    assert_identical(loaded, older)
    assert len(warnings) == 1
    assert step_name(20) in warnings[0]
    assert "hash" in warnings[0]
    assert "previous checkpoint" in warnings[0]


def test_a_missing_file_is_reported_and_skipped(tmp_path: Path):
    save_checkpoint(tmp_path, 1, full_payload(seed=0), keep=2)
    path = save_checkpoint(tmp_path, 2, full_payload(seed=1), keep=2)
    (path / STATE).unlink()
    with pytest.raises(RunError, match=f"{step_name(2)} cannot be read"):
        load_checkpoint(path)
    warnings: list[str] = []
    found, _ = load_latest(tmp_path, warn=warnings.append)
    assert found.name == step_name(1)
    assert len(warnings) == 1 and step_name(2) in warnings[0]


def test_when_every_checkpoint_is_damaged_load_latest_names_each_problem(tmp_path: Path):
    for step in (1, 2):
        _flip_payload_byte(save_checkpoint(tmp_path, step, full_payload(), keep=2) / TENSORS)
    warnings: list[str] = []
    with pytest.raises(RunError) as caught:
        load_latest(tmp_path, warn=warnings.append)
    assert "no usable checkpoint" in caught.value.what
    assert step_name(1) in caught.value.what and step_name(2) in caught.value.what
    assert len(warnings) == 2


def test_an_empty_folder_has_no_usable_checkpoint(tmp_path: Path):
    with pytest.raises(RunError, match="no usable checkpoint"):
        load_latest(tmp_path, warn=lambda _: None)


@pytest.mark.parametrize("part", REQUIRED_PARTS)
def test_a_checkpoint_missing_a_required_part_is_refused(tmp_path: Path, part: str):
    payload = full_payload()
    del payload[part]
    path = save_checkpoint(tmp_path, 4, payload, keep=2)  # hashes are fine: the content is not
    with pytest.raises(RunError) as caught:
        load_checkpoint(path)
    assert f"lacks {part}" in caught.value.what
    assert part in caught.value.expected


# ---------------------------------------------------------------------------------------------
# a folder that cannot be written


def test_an_unwritable_folder_fails_the_save_and_keeps_the_earlier_checkpoint(tmp_path: Path):
    older = full_payload(seed=0)
    save_checkpoint(tmp_path, 1, older, keep=1)
    with unwritable(tmp_path), pytest.raises((RunError, OSError)):
        save_checkpoint(tmp_path, 2, full_payload(seed=1), keep=1)
    assert names(list_checkpoints(tmp_path)) == [step_name(1)]
    assert not (tmp_path / (step_name(2) + ".tmp")).exists()
    assert_identical(load_checkpoint(tmp_path / step_name(1)), older)


def test_an_unwritable_folder_raises_run_error(tmp_path: Path):
    save_checkpoint(tmp_path, 1, full_payload(), keep=1)
    with unwritable(tmp_path), pytest.raises(RunError, match="cannot write checkpoint"):
        save_checkpoint(tmp_path, 2, full_payload(), keep=1)


def _channels_last_state(seed: int = 0) -> TrainState:
    """A conv net with channels-last kernels (as the built-in image CNNs keep them) and a fused
    AdamW that has taken two steps."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 4 * 4, 2))
    model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, fused=True)
    state = TrainState(model, optimizer, nn.functional.cross_entropy, 3, 8, torch.Generator())
    for step in range(2):
        _conv_step(state, step)
    return state


def _conv_step(state: TrainState, step: int) -> None:
    g = torch.Generator().manual_seed(100 + step)
    x = torch.randn(8, 3, 6, 6, generator=g).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 2, (8,), generator=g)
    state.zero_grad()
    nn.functional.cross_entropy(state.model(x), y).backward()
    state.optimizer_step()


def test_a_resumed_channels_last_model_takes_the_same_steps_as_an_uninterrupted_one(tmp_path):
    uninterrupted, resumed = _channels_last_state(), _channels_last_state(seed=1)
    payload = uninterrupted.state_dict() | {"callbacks": {}, "checkpointer": {"best_name": None}}
    save_checkpoint(tmp_path, 2, payload, keep=2)
    _, payload = load_latest(tmp_path)
    resumed.load_state_dict(payload)  # the checkpoint's moments are contiguous
    kernel = resumed.model[0].weight
    assert kernel.is_contiguous(memory_format=torch.channels_last)
    assert resumed.optimizer.state[kernel]["exp_avg"].stride() == kernel.stride()
    for step in range(2, 5):
        _conv_step(uninterrupted, step)
        _conv_step(resumed, step)
    for a, b in zip(uninterrupted.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_a_checkpoint_of_one_tensor_an_entry_still_loads():
    # the layout of earlier versions: each reference names a whole entry, with no slice
    state = {"a": {"__tensor__": "t0", "path": "ckpt.a"}, "b": [{"__tensor__": "t1", "path": "x"}]}
    tensors = {"t0": torch.arange(4.0).reshape(2, 2), "t1": torch.tensor([True])}
    loaded = join_tensors(state, tensors)
    assert torch.equal(loaded["a"], tensors["t0"]) and torch.equal(loaded["b"][0], tensors["t1"])
