"""Probes: cheap measurements taken while training, kept on the device, read once per epoch.

- `GradientProbe`: every `every_steps`-th batch (and the first of each epoch) the gradient norm
  and the update-to-weight ratio ||ΔW|| / ||W|| of each parameter-owning layer, and on every
  step whether the loss, the gradients or the weights stopped being finite (the first step and
  layer where that happened).
- `ActivationProbe`: on the first batch of each epoch, forward hooks on the activation modules
  measure dead ReLU units (never positive on the batch) and the share of sigmoid/tanh outputs
  within 1% of a rail (saturated: no gradient); the hooks are removed as soon as that forward
  pass is done.

Hazard: nothing here reads a GPU tensor on the host during an epoch (no `.item()`, no `bool()`);
the results are device tensors that `epoch_summary` reads with one `.tolist()`. On a CPU, where a
read waits for nothing, the weight check reads the step's loss (see `_check_weights`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from trainwise.train.callbacks import Callback
from trainwise.train.state import StepOutput, TrainState

RELU_LIKE = (nn.ReLU, nn.ReLU6)
SATURATING = (nn.Sigmoid, nn.Tanh, nn.Hardtanh, nn.Hardsigmoid)


@dataclass(frozen=True)
class LayerIndex:
    """The parameter-owning layers of a model, in registration (≈ forward) order."""

    names: list[str]
    params: list[nn.Parameter]
    owner: torch.Tensor  # layer index of each parameter
    has_matrix: list[bool]  # the layer has a weight matrix or kernel (Linear, Conv, Embedding)
    ratio_params: list[int]  # parameters the update ratio is measured on
    embedding: list[bool]

    @classmethod
    def of(cls, model: nn.Module, device: torch.device) -> LayerIndex:
        names, params, owner, has_matrix, embedding = [], [], [], [], []
        for name, module in model.named_modules():
            own = [p for p in module.parameters(recurse=False) if p.requires_grad]
            if not own:
                continue
            names.append(name or type(module).__name__)
            has_matrix.append(any(p.ndim >= 2 for p in own))
            embedding.append(isinstance(module, (nn.Embedding, nn.EmbeddingBag)))
            for p in own:
                params.append(p)
                owner.append(len(names) - 1)
        # the ratio of a bias that starts at zero says nothing: use matrices where a layer has one
        ratio = [i for i, p in enumerate(params) if p.ndim >= 2 or not has_matrix[owner[i]]]
        return cls(
            names,
            params,
            torch.tensor(owner, dtype=torch.long, device=device),
            has_matrix,
            ratio,
            embedding,
        )


NEVER = 2**62  # "no fault yet" in the first-fault step counters


class FirstEvent:
    """Per item (a parameter, or the loss), the first step at which it was not finite, kept on
    the device as a running minimum, no host sync. `note` costs three tiny ops per update;
    `hold` costs none: held rows of consecutive steps are checked together every `HELD_ROWS`
    steps and before a read (`flush`)."""

    HELD_ROWS = 256

    def __init__(self, device: torch.device, n: int = 1) -> None:
        self.first = torch.full((n,), NEVER, dtype=torch.long, device=device)
        self._rows: list[torch.Tensor] = []
        self._first_held_step = 0

    def note(self, values: torch.Tensor, step: int) -> None:
        seen = torch.where(torch.isfinite(values.reshape(-1)), NEVER, step)
        self.first = torch.minimum(self.first, seen)

    def hold(self, values: torch.Tensor, step: int) -> None:
        """Keep the items' values at `step` (one row), to be checked later."""
        if self._rows and step != self._first_held_step + len(self._rows):
            self.flush()  # the rows' steps are implied by the first: keep them consecutive
        if not self._rows:
            self._first_held_step = step
        self._rows.append(values)
        if len(self._rows) >= self.HELD_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self._rows:
            return
        rows = len(self._rows)
        values = torch.stack(self._rows).reshape(rows, -1)
        self.note_rows(values, torch.arange(rows, device=values.device) + self._first_held_step)
        self._rows = []

    def note_rows(self, values: torch.Tensor, steps: torch.Tensor) -> None:
        """Rows of values (one per step, in any order) and their steps, checked at once."""
        seen = torch.where(torch.isfinite(values), NEVER, steps[:, None]).amin(0)
        self.first = torch.minimum(self.first, seen)

    @staticmethod
    def read(values: list[float]) -> tuple[int, int] | None:
        """(step, index of the first item bad at that step) from the synced values, or None."""
        step = min(values)
        return (int(step), values.index(step)) if step < NEVER else None


class GradientProbe(Callback):
    """Why a probed step only records norms: on a CPU, a tensor operation called right after a
    training step costs several times its cost in a tight loop (its code has left the caches:
    a 4-operation fault check took 80-90 µs there against 13 µs in a loop). So a probed step
    takes every norm it needs in one `_foreach_norm` and keeps the row; the per-layer sums,
    ratios and fault checks run once per epoch, over all the rows together (`epoch_summary`)."""

    def __init__(
        self, every_steps: int = 16, loss_fault: Callable[[], int | None] | None = None
    ) -> None:
        self.every_steps = every_steps
        self.loss_fault = loss_fault  # the first step (or None) of a non-finite loss, if tracked
        self.index: LayerIndex | None = None
        self._on_cpu = True
        self._before: list[torch.Tensor] | None = None  # ratio weights before the update
        self._summing: tuple[torch.Tensor, torch.Tensor, torch.Tensor] = _summing(None)
        self._reset_epoch()
        self._faults: dict[str, FirstEvent] = {}

    def _reset_epoch(self) -> None:
        # one row per probed step: the norms of every gradient, then of each ratio weight
        self._rows: list[torch.Tensor] = []
        self._steps: list[int] = []
        # one row per measured update: its norm per ratio parameter, and its probed step's row
        self._moves: list[torch.Tensor] = []
        self._move_rows: list[int] = []

    @property
    def n_grad(self) -> int:
        return len(self._rows)

    @property
    def n_ratio(self) -> int:
        return len(self._moves)

    def on_fit_start(self, state: TrainState) -> None:
        self.index = LayerIndex.of(state.model, state.device)
        self._on_cpu = state.device.type == "cpu"
        self._summing = _summing(self.index)
        self.reset_nonfinite(state.device)
        self._reset_epoch()  # a run resumed mid-epoch gets no on_epoch_start for that epoch

    def reset_nonfinite(self, device: torch.device | None = None) -> None:
        """Forget earlier faults (a fresh fit, or a rollback: the next fault is a new one)."""
        assert self.index is not None
        device = device or self.index.owner.device
        n = len(self.index.params)
        self._faults = {
            "weights": FirstEvent(device, n),  # checked before each update
            "gradients": FirstEvent(device, n),  # checked on probe steps
        }
        if self.loss_fault is None:  # the NaN guard tracks the loss already in a pipeline run
            self._faults["loss"] = FirstEvent(device)

    def on_epoch_start(self, state: TrainState) -> None:
        self._reset_epoch()

    def _probe_now(self, state: TrainState) -> bool:
        return state.batch_in_epoch % self.every_steps == 0

    def needs_eager_step(self, state: TrainState) -> bool:
        return self.index is not None and self._probe_now(state)

    def on_after_backward(self, state: TrainState) -> None:
        if self.index is None:
            return
        step = state.step + 1  # the step being taken (state.step counts finished ones)
        # before the update: are the weights still finite? One step later every layer is NaN,
        # so only now can the first one be named.
        loss = state.step_loss
        if not (self._on_cpu and loss is not None and math.isfinite(float(loss))):
            self._check_weights(step)
        if self._probe_now(state):
            self._probe(step)

    def _check_weights(self, step: int) -> None:
        """On a GPU, every step's weight norms are kept on the device (no wait for the queue).
        On a CPU a read costs no wait, and weights turn non-finite only through an update whose
        effect shows in the next loss; so the norms are taken only at steps whose loss is not
        finite, which keeps a small model's step free of one norm per parameter tensor."""
        assert self.index is not None
        with torch.no_grad():
            norms = torch.stack(torch._foreach_norm(self.index.params))
        if self._on_cpu:
            self._faults["weights"].note(norms, step)
        else:
            self._faults["weights"].hold(norms, step)

    def _probe(self, step: int) -> None:
        """The norms of every gradient and ratio weight; the ratio weights kept for the update."""
        index = self.index
        assert index is not None
        grads = [p.grad for p in index.params]
        present = [g for g in grads if g is not None]
        if not present:
            return
        if len(present) < len(grads):  # a parameter without a gradient counts as zero
            zero = present[0].new_zeros(())
            grads = [zero if g is None else g for g in grads]
        with torch.no_grad():
            weights = [index.params[i].detach() for i in index.ratio_params]
            self._rows.append(torch.stack(torch._foreach_norm(grads + weights)).float())
            self._steps.append(step)
            self._before = [w.clone() for w in weights]

    def on_batch_end(self, state: TrainState, out: StepOutput) -> None:
        if self.index is None:
            return
        if "loss" in self._faults:
            self._faults["loss"].note(out.loss.detach().float(), state.step)
        if self._before is None:
            return
        index = self.index
        with torch.no_grad():
            now = [index.params[i].detach() for i in index.ratio_params]
            torch._foreach_sub_(self._before, now)  # minus the update: the same norm
            self._moves.append(torch.stack(torch._foreach_norm(self._before)).float())
            self._move_rows.append(len(self._rows) - 1)
        self._before = None

    def _layer_means(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per layer, the epoch means of: gradient norm, the ratio parameters' gradient norm,
        their weight norm (3L values), the largest whole-gradient norm (1), and the update
        ratio (L values, empty without a measured update). Checks the rows for faults."""
        index = self.index
        assert index is not None
        layers, n_params = len(index.names), len(index.params)
        pick, into, ratio_owner = self._summing
        rows = torch.stack(self._rows)
        steps = torch.tensor(self._steps, device=rows.device)
        grads = rows[:, :n_params]
        self._faults["gradients"].note_rows(grads, steps)
        sums = rows.new_zeros(len(rows), 3 * layers).index_add_(1, into, rows[:, pick].square())
        norms = sums.sqrt()
        whole = grads.square().sum(1).sqrt().amax().reshape(1)
        means = torch.cat([norms.mean(0), whole])
        if not self._moves:
            return means, rows.new_zeros(0)
        moved_sq = torch.stack(self._moves).square()
        moved = rows.new_zeros(len(moved_sq), layers).index_add_(1, ratio_owner, moved_sq)
        sizes = norms[self._move_rows, 2 * layers :]
        return means, (moved.sqrt() / sizes.clamp(min=1e-12)).mean(0)

    def epoch_summary(self) -> dict[str, Any]:
        """Epoch means per layer, the largest total gradient norm, the first non-finite event.
        The one host sync of this probe per epoch."""
        assert self.index is not None
        n = len(self.index.names)
        device = self.index.owner.device
        self._faults["weights"].flush()
        if self._rows:
            means, ratios = self._layer_means()
            packed = torch.cat([means, ratios]).tolist()
        else:
            packed = []
        faults = [self._faults["weights"].first, self._faults["gradients"].first]
        loss = self._faults["loss"].first if "loss" in self._faults else self._guard_loss()
        steps = torch.cat([*faults, loss.to(device)]).tolist()
        n_params = len(self.index.params)
        return {
            "grad_norm": packed[:n] if self.n_grad else [],
            "update_ratio": packed[3 * n + 1 :] if self.n_ratio else [],
            "ratio_grad_norm": packed[n : 2 * n] if self.n_grad else [],
            "weight_norm": packed[2 * n : 3 * n] if self.n_grad else [],
            "grad_norm_max": packed[3 * n] if self.n_grad else None,
            "first_nonfinite": self._first_fault(
                steps[:n_params], steps[n_params : 2 * n_params], steps[2 * n_params :]
            ),
        }

    def _guard_loss(self) -> torch.Tensor:
        assert self.loss_fault is not None and self.index is not None
        step = self.loss_fault()
        device = self.index.owner.device
        return torch.full((1,), NEVER if step is None else step, dtype=torch.long, device=device)

    def _first_fault(
        self, weights: list[float], grads: list[float], loss: list[float]
    ) -> dict[str, Any] | None:
        """The earliest fault; at the same step weights before gradients before the loss (the
        weights were bad before the forward pass that made the loss bad)."""
        assert self.index is not None
        owner = self.index.owner.tolist()
        seen = []
        for rank, (kind, values) in enumerate(
            (("weights", weights), ("gradients", grads), ("loss", loss))
        ):
            found = FirstEvent.read(values) if values else None
            if found is not None:
                step, item = found
                layer = self.index.names[owner[item]] if kind != "loss" else None
                seen.append((step, rank, {"step": step, "layer": layer, "kind": kind}))
        return min(seen, key=lambda s: s[:2])[2] if seen else None


def _summing(index: LayerIndex | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(pick, into, ratio_owner): `sums.index_add_(1, into, rows[:, pick] ** 2)` turns rows of
    norms (every gradient, then each ratio weight) into per-layer norms², three blocks of L:
    the gradients, the ratio parameters' gradients, their weights; `ratio_owner` is the layer
    of each ratio parameter."""
    if index is None:
        empty = torch.zeros(0, dtype=torch.long)
        return empty, empty, empty
    n_params, layers, device = len(index.params), len(index.names), index.owner.device
    ratio = torch.tensor(index.ratio_params, dtype=torch.long, device=device)
    owner = index.owner
    every = torch.arange(n_params, device=device)
    pick = torch.cat([every, ratio, torch.arange(len(ratio), device=device) + n_params])
    into = torch.cat([owner, owner[ratio] + layers, owner[ratio] + 2 * layers])
    return pick, into, owner[ratio]


class ActivationProbe(Callback):
    """Dead and saturated units, measured on the first training batch of each epoch."""

    def __init__(self) -> None:
        self._handles: list[Any] = []
        self._stats: list[tuple[str, str, str | None, torch.Tensor]] = []
        self._last_weighted: str | None = None

    def on_epoch_start(self, state: TrainState) -> None:
        self._remove()
        self._stats = []
        self._last_weighted = None
        for name, module in state.model.named_modules():
            if isinstance(module, (*RELU_LIKE, *SATURATING)):
                self._handles.append(module.register_forward_hook(self._hook(name, module)))
            elif any(p.ndim >= 2 for p in module.parameters(recurse=False)):
                self._handles.append(module.register_forward_hook(self._weighted(name)))

    def _weighted(self, name: str) -> Any:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            self._last_weighted = name

        return hook

    def _hook(self, name: str, module: nn.Module) -> Any:
        kind = "relu" if isinstance(module, RELU_LIKE) else "saturating"

        def hook(mod: nn.Module, args: Any, output: Any) -> None:
            if not isinstance(output, torch.Tensor) or output.ndim < 2:
                return
            with torch.no_grad():
                out = output.detach()
                if kind == "relu":  # each channel's largest value, read in place (no copy)
                    others = [d for d in range(out.ndim) if d != 1]
                    share = (out.amax(dim=others) <= 0).float().mean()
                else:
                    low, high = _rails(mod)
                    margin = 0.01 * (high - low)
                    y = out.float()
                    share = ((y <= low + margin) | (y >= high - margin)).float().mean()
            self._stats.append((name, kind, self._last_weighted, share))

        return hook

    @property
    def hooked(self) -> bool:
        """Whether hooks are on the forward pass (the epoch's first batch)."""
        return bool(self._handles)

    def needs_eager_step(self, state: TrainState) -> bool:
        return self.hooked

    def on_after_backward(self, state: TrainState) -> None:
        self._remove()  # one forward pass per epoch is enough

    def on_fit_end(self, state: TrainState) -> None:
        self._remove()

    def _remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def epoch_summary(self) -> list[dict[str, Any]]:
        if not self._stats:
            return []
        shares = torch.stack([s[3] for s in self._stats]).tolist()
        return [
            {"module": name, "kind": kind, "after": after, "share": share}
            for (name, kind, after, _), share in zip(self._stats, shares, strict=True)
        ]


def _rails(module: nn.Module) -> tuple[float, float]:
    if isinstance(module, nn.Tanh):
        return -1.0, 1.0
    if isinstance(module, nn.Hardtanh):
        return float(module.min_val), float(module.max_val)
    return 0.0, 1.0
