"""The training doctor: probes while training, rules after each epoch, findings as they appear.

`Doctor` is one callback that owns the probes (gradient norms, update ratios, non-finite values,
dead and saturated units), runs the rules at each epoch end on the synced summaries, prints new
findings through the pipeline's `log`, and, with `auto_fix`, repairs a run that diverges: it
rolls back to the last good epoch, lowers the learning rate tenfold and turns on gradient
clipping, recording each change as a finding with `applied` set.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from typing import Any

import torch

from trainwise.diagnose.findings import Finding
from trainwise.diagnose.probes import ActivationProbe, GradientProbe
from trainwise.diagnose.rules import EPOCH_RULES, FINAL_RULES, Context, run_rules
from trainwise.train.callbacks import Callback
from trainwise.train.checkpoint import EncodedOnce, PreEncoded
from trainwise.train.state import StepOutput, TrainState

LR_FACTOR = 0.1
FIX_CLIP_NORM = 1.0
# findings that mean "this epoch went wrong": auto-fix rolls it back
REPAIRABLE = {"nonfinite", "divergence", "exploding_gradients"}


class Doctor(Callback):
    def __init__(
        self,
        every_steps: int = 16,
        auto_fix: bool = False,
        max_fixes: int = 4,
        log: Callable[[str], Any] | None = print,
        baseline_loss: float | None = None,
        restores_best: bool = False,
        on_nan: str = "stop",
        findings: list[Finding] | None = None,
        nan_events: Callable[[], list[str]] | None = None,
        loss_fault: Callable[[], int | None] | None = None,
    ) -> None:
        self.grad = GradientProbe(every_steps, loss_fault)
        self.act = ActivationProbe()
        self.auto_fix = auto_fix
        self.max_fixes = max_fixes
        self.log = log
        self.baseline_loss = baseline_loss
        self.restores_best = restores_best
        self.on_nan = on_nan
        self.nan_events = nan_events
        self.findings: list[Finding] = []
        self.epochs: list[dict[str, Any]] = []
        self._encoded = EncodedOnce()  # `epochs` as JSON text (`state_dict`)
        self.changes: list[str] = []
        self.context = Context()
        self._seen: set[tuple[str, str | None]] = set()
        self._good: dict[str, Any] | None = None
        self._add(findings or [])

    # --- the six hooks -------------------------------------------------------------------
    def on_fit_start(self, state: TrainState) -> None:
        self.grad.on_fit_start(state)
        index = self.grad.index
        assert index is not None
        numel = [0] * len(index.names)
        for p, owner in zip(index.params, index.owner.tolist(), strict=True):
            numel[owner] += p.numel()
        self.context = Context(
            index.names,
            numel,
            index.has_matrix,
            index.embedding,
            self.baseline_loss,
            self.restores_best,
            self.on_nan,
        )
        if self.auto_fix:
            self._good = copy.deepcopy(state.state_dict())

    def on_epoch_start(self, state: TrainState) -> None:
        self.grad.on_epoch_start(state)
        self.act.on_epoch_start(state)

    def needs_eager_step(self, state: TrainState) -> bool:
        return self.grad.needs_eager_step(state) or self.act.needs_eager_step(state)

    def on_after_backward(self, state: TrainState) -> None:
        self.grad.on_after_backward(state)
        if self.act.hooked:  # the epoch's first step: nothing to do on the others
            self.act.on_after_backward(state)

    def on_batch_end(self, state: TrainState, out: StepOutput) -> None:
        self.grad.on_batch_end(state, out)

    def on_epoch_end(self, state: TrainState, logs: dict[str, float]) -> None:
        summary = {
            key: logs.get(key) for key in ("epoch", "loss", "val_loss", "nonfinite_steps", "lr")
        }
        summary |= self.grad.epoch_summary()
        summary["activations"] = self.act.epoch_summary()
        self.epochs.append(summary)
        new = self._add(run_rules(EPOCH_RULES, self.epochs, self.context))
        if not self.auto_fix:
            return
        if any(f.rule in REPAIRABLE for f in new) or _bad_epoch(summary):
            self._repair(state, summary)
        elif self._good is not None:
            self._good = copy.deepcopy(state.state_dict())

    def on_fit_end(self, state: TrainState) -> None:
        self.act.on_fit_end(state)
        if self.nan_events is not None:
            self._add(
                [
                    Finding(
                        "numeric_fault",
                        "warning",
                        event,
                        fix="lower train.lr or set train.clip_norm=1.0",
                        applied=event if ("rolled back" in event or "skipped" in event) else None,
                    )
                    for event in self.nan_events()
                ]
            )
        self._add(run_rules([*EPOCH_RULES, *FINAL_RULES], self.epochs, self.context))

    # --- state ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The epoch summaries go as JSON text, each encoded once when first saved and written
        as one array (`PreEncoded`): a checkpoint carries every epoch so far, and walking them
        all again as nested lists and dicts at each checkpoint made the checkpoints of a
        1,000-epoch run cost 25 ms an epoch on the loop's thread, growing with every epoch."""
        return {
            "findings": [f.to_json() for f in self.findings],
            "epochs": self._encoded.encoded(self.epochs),
            "changes": self.changes,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.findings = [Finding.from_json(f) for f in state.get("findings", [])]
        self._seen = {f.key for f in self.findings}
        epochs = state.get("epochs", [])
        texts = state.get("epoch_summaries")  # JSON text per epoch, as one version wrote it
        if isinstance(epochs, PreEncoded):  # a state handed over in memory
            texts = epochs.texts
        if texts is None:
            self.epochs = list(epochs)
            self._encoded = EncodedOnce()
        else:
            self.epochs = [json.loads(text) for text in texts]
            self._encoded = EncodedOnce(self.epochs, texts)
        self.changes = list(state.get("changes", []))

    # --- results -------------------------------------------------------------------------
    def gradients(self) -> dict[str, Any]:
        """Per-layer epoch means for `gradients.json` (the report plots them)."""
        kept = [e for e in self.epochs if e.get("grad_norm")]
        n = len(self.context.layers)
        return {
            "layers": self.context.layers,
            "epochs": [e["epoch"] for e in kept],
            "grad_norm": [_json_floats(e["grad_norm"]) for e in kept],
            "update_ratio": [_json_floats(e.get("update_ratio") or [None] * n) for e in kept],
        }

    # --- internals -----------------------------------------------------------------------
    def _add(self, findings: list[Finding]) -> list[Finding]:
        """Keep the first finding per (rule, layer); print each new one as it appears."""
        new = [f for f in findings if f.key not in self._seen]
        for f in new:
            self._seen.add(f.key)
            self.findings.append(f)
            if self.log is not None and f.severity != "info":
                self.log(f"doctor: {f.line()}")
        return new

    def _repair(self, state: TrainState, summary: dict[str, Any]) -> None:
        """Roll back to the last good epoch, lower the LR tenfold, clip gradients."""
        fixes = sum(f.rule == "auto_fix" for f in self.findings)
        if self._good is None or fixes >= self.max_fixes:
            return
        old_lrs = [g["lr"] for g in state.optimizer.param_groups]
        state.load_state_dict(copy.deepcopy(self._good))
        lrs = [lr * LR_FACTOR for lr in old_lrs]
        _set_lr(state, lrs)
        changes = [f"train.lr {old_lrs[0]:.3g} -> {lrs[0]:.3g}"]
        if state.clip_norm is None:
            state.clip_norm = FIX_CLIP_NORM
            changes.append(f"train.clip_norm None -> {FIX_CLIP_NORM}")
        changes.insert(0, f"rolled back to the end of epoch {state.epoch}")
        applied = "; ".join(changes)
        self.changes.append(applied)
        if state.stop_reason and state.stop_reason.startswith("non-finite"):
            state.stop_reason = None  # repaired: the guard's stop no longer applies
        self.grad.reset_nonfinite()
        self.epochs = self.epochs[: len(state.history)]
        # a fault that comes back after the repair is reported again
        self._seen = {k for k in self._seen if k[0] not in REPAIRABLE}
        self._add(
            [
                Finding(
                    "auto_fix",
                    "warning",
                    f"auto-fix after a bad epoch {summary['epoch']} (loss {summary['loss']:.3g})",
                    {"epoch": summary["epoch"], "loss": summary["loss"], "fix_number": fixes + 1},
                    "set these values in the spec to start with them",
                    summary["epoch"],
                    applied=applied,
                )
            ]
        )
        self._seen.discard(("auto_fix", None))  # every repair is its own finding


def _bad_epoch(summary: dict[str, Any]) -> bool:
    loss = summary.get("loss")
    return bool(summary.get("nonfinite_steps")) or not (
        isinstance(loss, float) and math.isfinite(loss)
    )


def _set_lr(state: TrainState, lrs: list[float]) -> None:
    """Lower the LR for good: in the optimizer and in the schedule that recomputes it."""
    for group, lr in zip(state.optimizer.param_groups, lrs, strict=True):
        ratio = lr / group["lr"] if group["lr"] else LR_FACTOR
        group["lr"] = lr
        if "initial_lr" in group:
            group["initial_lr"] = group["initial_lr"] * ratio
    scheduler = state.scheduler
    if scheduler is not None and hasattr(scheduler, "base_lrs"):
        scheduler.base_lrs = [lr * LR_FACTOR for lr in scheduler.base_lrs]
    if scheduler is not None and hasattr(scheduler, "min_lrs"):
        scheduler.min_lrs = [lr * LR_FACTOR for lr in scheduler.min_lrs]


def _json_floats(values: list[Any]) -> list[Any]:
    return [v if v is None or math.isfinite(v) else str(v) for v in values]


def constant_prediction_loss(
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    task: str,
    n_outputs: int,
    y: torch.Tensor,
) -> float | None:
    """The training loss of the best constant output: the bar a model must clear. It tells
    'loss 0.9' apart as good (baseline 2.3) or useless (baseline 0.9)."""
    if len(y) == 0:
        return None
    with torch.no_grad():
        if task == "multiclass":
            prior = torch.bincount(y.long().flatten(), minlength=n_outputs).float()
            out = (prior / prior.sum()).clamp(min=1e-7).log()
        elif task in {"binary", "multilabel"}:
            p = y.float().reshape(len(y), -1).mean(dim=0).clamp(1e-7, 1 - 1e-7)
            out = (p / (1 - p)).log()
        else:
            out = y.float().reshape(len(y), -1).mean(dim=0)
        pred = out.reshape(1, -1).expand(len(y), n_outputs).to(y.device)
        try:
            value = float(loss(pred, y))
        except (RuntimeError, ValueError):
            return None
    return value if math.isfinite(value) else None
