"""Checkpoints that are atomic, verified and complete — and never executed on load.

A checkpoint is a folder `step-000000123/` holding `tensors.safetensors` (every tensor: weights,
optimizer moments, RNG states, best weights) and `state.json` (everything else), plus
`manifest.json` with the SHA-256 of both. It is written into a temporary folder, each file is
fsynced, and the folder is renamed into place, so a crash leaves either the old set of
checkpoints or the new one. Loading checks the hashes first: safetensors rejects a truncated
file but happily loads one with a flipped payload byte, which only the manifest catches.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import operator
import os
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file
from safetensors.torch import save as save_tensors

from trainwise.errors import RunError

TENSORS, STATE, MANIFEST = "tensors.safetensors", "state.json", "manifest.json"
PREFIX, TMP_SUFFIX = "step-", ".tmp"
REQUIRED_PARTS = ("model", "optimizer", "rng", "position", "callbacks", "scheduler")


def split_tensors(obj: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> Any:
    """Replace every tensor in a nested structure by a reference, collecting the tensors.

    The tensors of one dtype and device are packed into one flat tensor (`tensors[key]`), and
    each reference names its slice: key, offset and shape. One `torch.cat` per pack is the
    snapshot (training goes on changing the originals) and, on an accelerator, the one transfer
    to the host; safetensors then writes a handful of tensors, not hundreds, which took the
    checkpoint of the residual CNN of sequence data (202 tensors) from 26 to 12 ms."""
    found: list[tuple[dict[str, Any], torch.Tensor]] = []
    state = _references(obj, prefix, found)
    packs: dict[tuple[torch.dtype, torch.device], list[tuple[dict[str, Any], torch.Tensor]]] = {}
    for ref, tensor in found:
        packs.setdefault((tensor.dtype, tensor.device), []).append((ref, tensor))
    for members in packs.values():
        key = f"t{len(tensors)}"  # numbered, not built from dict keys: no two can collide
        # flattened in logical order, whatever the layout (channels-last weights included)
        flat = [tensor.detach().reshape(-1) for _, tensor in members]
        offset = 0
        for (ref, tensor), values in zip(members, flat, strict=True):
            ref.update({"__tensor__": key, "offset": offset, "shape": list(tensor.shape)})
            offset += values.numel()
        tensors[key] = torch.cat(flat).cpu()
    return state


# leaves stored as they are: a list of nothing else needs no walk through its items
_PLAIN = frozenset((int, float, str, bool, type(None)))


def _references(obj: Any, prefix: str, found: list[tuple[dict[str, Any], torch.Tensor]]) -> Any:
    """The structure with each tensor replaced by a reference that `split_tensors` completes."""
    if isinstance(obj, torch.Tensor):
        ref: dict[str, Any] = {"__tensor__": None, "path": prefix}  # completed once packed
        found.append((ref, obj))
        return ref
    if isinstance(obj, dict):
        return {str(k): _references(v, f"{prefix}.{k}", found) for k, v in obj.items()} | (
            {"__int_keys__": True} if obj and all(isinstance(k, int) for k in obj) else {}
        )
    if isinstance(obj, list | tuple):
        if _PLAIN.issuperset(map(type, obj)):  # RNG states: hundreds of plain numbers
            items = list(obj)
        else:
            items = [_references(v, f"{prefix}.{i}", found) for i, v in enumerate(obj)]
        return {"__tuple__": items} if isinstance(obj, tuple) else items
    if isinstance(obj, np.generic):
        return {"__numpy_scalar__": obj.item(), "dtype": str(obj.dtype)}
    if isinstance(obj, np.ndarray):
        return {"__numpy__": obj.tolist(), "dtype": str(obj.dtype)}
    return obj


def join_tensors(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """The inverse of `split_tensors`."""
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            tensor = tensors[obj["__tensor__"]]
            if "offset" not in obj:  # a checkpoint of one tensor an entry
                return tensor
            start, shape = obj["offset"], obj["shape"]
            # a copy of its own, as it was saved: nothing loaded aliases the pack
            return tensor[start : start + math.prod(shape)].view(shape).clone()
        if "__tuple__" in obj:
            return tuple(join_tensors(v, tensors) for v in obj["__tuple__"])
        if "__numpy__" in obj:
            return np.asarray(obj["__numpy__"], dtype=obj["dtype"])
        if "__numpy_scalar__" in obj:
            return np.dtype(obj["dtype"]).type(obj["__numpy_scalar__"])
        int_keys = obj.get("__int_keys__", False)
        return {
            (int(k) if int_keys else k): join_tensors(v, tensors)
            for k, v in obj.items()
            if k != "__int_keys__"
        }
    if isinstance(obj, list):
        return [join_tensors(v, tensors) for v in obj]
    return obj


def json_default(value: Any) -> Any:
    """`json.dumps(default=...)` for the values a run's logs may hold besides plain ones: a
    NumPy or 0-d tensor number a callback put there, as a plain number, and a path as text."""
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


class PreEncoded:
    """A list whose items are JSON text already: a checkpoint's state holds it where the list
    goes, and `dumps_state` writes it as the JSON array of those values without encoding
    them again (it loads back as a plain list)."""

    __slots__ = ("texts",)

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts


def dumps_state(state: Any) -> str:
    """`json.dumps(state)`, with each `PreEncoded` list spliced in as the array it stands for.

    Why: a checkpoint carries every epoch of the history (and the doctor's summaries), so
    encoding them as strings inside the state made each write escape all of them again; at
    epoch 1,000 of a small table's run that held the interpreter's lock for several ms per
    checkpoint, beside the training loop. Joining texts is a copy, not an encoding."""
    arrays: list[str] = []
    marker = f"pre-encoded-{uuid.uuid4().hex}-"  # no value in a run can spell it

    def splice(value: Any) -> str:
        if not isinstance(value, PreEncoded):
            raise TypeError(f"not JSON serialisable: {type(value).__name__}")
        arrays.append("[" + ",".join(value.texts) + "]")
        return f"{marker}{len(arrays) - 1}"

    text = json.dumps(state, default=splice)
    for i, array in enumerate(arrays):
        text = text.replace(f'"{marker}{i}"', array, 1)
    return text


class EncodedOnce:
    """The JSON text of each item of a list that grows by appending (or is cut back): an item
    is encoded the first time it is seen, and its text is reused while the same object is in
    the list. Why: a checkpoint carries every epoch so far (the history, the doctor's
    summaries), and encoding all of them again at each checkpoint made a long run's epochs
    slower with every epoch (docs/run-folder.md)."""

    def __init__(self, items: Iterable[Any] = (), texts: Iterable[str] = ()) -> None:
        self._items: list[Any] = list(items)
        self._known: list[str] = list(texts)  # the text of each of `_items`
        if len(self._items) != len(self._known):
            raise ValueError("one text per item")

    def texts(self, items: list[Any]) -> list[str]:
        known = len(self._items)
        if len(items) >= known and all(map(operator.is_, items, self._items)):
            # only appended to since the last call, as a run's history grows: the new items
            self._items.extend(items[known:])
            self._known.extend(json.dumps(item, default=json_default) for item in items[known:])
        else:  # cut back (a rollback) or changed: an item still held keeps its text
            held = dict(zip(map(id, self._items), self._known, strict=True))
            self._known = [
                held.get(id(item)) or json.dumps(item, default=json_default) for item in items
            ]
            self._items = list(items)
        return list(self._known)

    def encoded(self, items: list[Any]) -> PreEncoded:
        """The items as a `PreEncoded` list, for a checkpoint's state."""
        return PreEncoded(self.texts(items))


@dataclass(frozen=True)
class Snapshot:
    """A checkpoint's content, detached from the training state: the tensors are copies and
    the rest is a fresh JSON-ready structure, so it can be written while training goes on."""

    step: int
    state: dict[str, Any]
    tensors: dict[str, torch.Tensor]


def snapshot(step: int, payload: dict[str, Any]) -> Snapshot:
    """Take what `write_checkpoint` writes: the tensors packed (and copied) by `split_tensors`."""
    tensors: dict[str, torch.Tensor] = {}
    state = split_tensors(payload, "ckpt", tensors)
    return Snapshot(step, state, tensors)


def checkpoint_path(folder: Path, step: int) -> Path:
    return folder / f"{PREFIX}{step:09d}"


def save_checkpoint(
    folder: Path, step: int, payload: dict[str, Any], keep: int, protect: Iterable[str] = ()
) -> Path:
    """Write one checkpoint atomically, then prune to the newest `keep` (plus `protect`)."""
    return write_checkpoint(folder, snapshot(step, payload), keep, protect)


def write_checkpoint(folder: Path, snap: Snapshot, keep: int, protect: Iterable[str] = ()) -> Path:
    """Write a snapshot as checkpoint folder, atomically, then prune as `save_checkpoint`.

    Each file is encoded and hashed in memory and written with one open, write and fsync,
    not read back to be hashed and opened again to be flushed: the writer runs beside
    training, and every step of it that holds the interpreter's lock is time the training
    loop waits (`checkpoint_writer`).
    """
    final = checkpoint_path(folder, snap.step)
    tmp = folder / (final.name + TMP_SUFFIX)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if tmp.exists():  # left by a save that was killed half-way
            shutil.rmtree(tmp)
        tmp.mkdir()
        files = {
            TENSORS: save_tensors(snap.tensors),
            STATE: dumps_state(snap.state).encode("utf-8"),
        }
        manifest = {
            "step": snap.step,
            "files": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()},
            "parts": sorted(snap.state),
        }
        files[MANIFEST] = json.dumps(manifest, indent=1).encode("utf-8")
        for name, data in files.items():
            _write_synced(tmp / name, data)
        if final.exists():  # a later save of the same step replaces it
            shutil.rmtree(final)
        os.replace(tmp, final)
        _fsync_dir(folder)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise RunError(
            f"cannot write checkpoint {final} ({exc.strerror or exc})",
            "free space and write permission in the run folder",
            "free disk space or move the output folder; earlier checkpoints are intact",
        ) from None
    _prune(folder, keep, {final.name, *protect})
    return final


def list_checkpoints(folder: Path) -> list[Path]:
    """Complete checkpoint folders, newest first (temporary or partial folders are ignored)."""
    if not folder.is_dir():
        return []
    found = [
        p
        for p in folder.iterdir()
        if p.is_dir()
        and p.name.startswith(PREFIX)
        and not p.name.endswith(TMP_SUFFIX)
        and (p / MANIFEST).is_file()
    ]
    return sorted(found, key=lambda p: p.name, reverse=True)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Verify hashes and read one checkpoint; raises RunError naming what is damaged."""
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        for name, digest in manifest["files"].items():
            if _sha256(path / name) != digest:
                raise RunError(
                    f"checkpoint {path.name}: {name} does not match its recorded hash",
                    "files exactly as written",
                    "the file was altered or truncated; an earlier checkpoint is used instead",
                )
        tensors = load_file(str(path / TENSORS))
        state = json.loads((path / STATE).read_text(encoding="utf-8"))
    except RunError:
        raise
    except Exception as exc:  # missing files, bad JSON, unreadable safetensors
        raise RunError(
            f"checkpoint {path.name} cannot be read ({type(exc).__name__}: {exc})",
            "a complete checkpoint",
            "an earlier checkpoint is used instead",
        ) from None
    payload = join_tensors(state, tensors)
    missing = [part for part in REQUIRED_PARTS if part not in payload]
    if missing:
        raise RunError(
            f"checkpoint {path.name} lacks {', '.join(missing)}",
            f"every part of the training state: {', '.join(REQUIRED_PARTS)}",
            "resume from a checkpoint written by this version of trainwise",
        )
    return payload


def load_latest(folder: Path, warn: Any = print) -> tuple[Path, dict[str, Any]]:
    """The newest checkpoint that verifies; damaged ones are skipped with a warning."""
    problems = []
    for path in list_checkpoints(folder):
        try:
            return path, load_checkpoint(path)
        except RunError as err:
            problems.append(err.what)
            warn(f"warning: {err.what}; trying the previous checkpoint")
    raise RunError(
        f"no usable checkpoint in {folder}" + (f" ({'; '.join(problems)})" if problems else ""),
        "a run folder with checkpoints/ written by `trainwise fit`",
        "start the run again without --resume",
    )


def _prune(folder: Path, keep: int, protect: set[str]) -> None:
    for i, path in enumerate(list_checkpoints(folder)):
        if i >= keep and path.name not in protect:
            _remove_checkpoint(path)


def _remove_checkpoint(path: Path) -> None:
    """Delete a checkpoint folder: its own files by name, then the folder; anything else in
    it (a file someone put there) falls back to `shutil.rmtree`. Never fails: an old
    checkpoint left behind costs disk space, not the run."""
    for name in (MANIFEST, TENSORS, STATE):  # the manifest first: the folder stops counting
        with contextlib.suppress(OSError):
            os.unlink(path / name)
    try:
        os.rmdir(path)
    except OSError:
        shutil.rmtree(path, ignore_errors=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_synced(path: Path, data: bytes) -> None:
    with path.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
