"""The training step compiled whole: forward, backward and the Adam/AdamW update as one graph.

Why whole: on a CPU a small network's eager step is bound by per-operation dispatch and by
library convolutions, not by arithmetic. Compiling the model alone leaves the backward pass and
the optimizer running op by op (measured slower than eager for the benchmark CNN); compiling
the whole step lets Inductor fuse the update into the backward pass, and with 1-D convolutions
as matrix products (`conv_as_matmul`) the step took 0.41x of its eager time
(docs/benchmarks.md). The compile itself costs tens of seconds on a CPU, once per run.

The step keeps `train_step`'s contract: the optimizer's own state tensors (`exp_avg`,
`exp_avg_sq`, `step`) are updated in place, so checkpoints, resume and a later eager step see
the same state. Gradients never reach `.grad`; a step that a callback wants to watch (the
doctor's gradient and activation probes, the NaN guard's per-step skip) runs eagerly instead,
so those measurements stay exact.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, grad_and_value

from trainwise.train.callbacks import Callback
from trainwise.train.conv_as_matmul import convs_as_matmul, plain_conv1d
from trainwise.train.state import StepOutput, TrainState
from trainwise.train.step import train_step

Step = Callable[[TrainState, tuple[torch.Tensor, ...], torch.Tensor, Callback], StepOutput]


def compile_blocker(state: TrainState) -> str | None:
    """Why this run's step cannot be compiled whole, or None when it can."""
    opt = state.optimizer
    if type(opt) not in (torch.optim.Adam, torch.optim.AdamW):
        return f"the optimizer is {type(opt).__name__}; the compiled step implements Adam and AdamW"
    for group in opt.param_groups:
        for option in ("amsgrad", "maximize", "differentiable"):
            if group.get(option):
                return f"the optimizer uses {option}"
    if state.scaler is not None:
        return "fp16 loss scaling steps eagerly (use bf16 or fp32)"
    if state.l1:
        return "train.l1 is applied by the eager step"
    if state.clip_value is not None:
        return "train.clip_value is applied by the eager step"
    params = list(state.model.parameters())
    if not any(p.requires_grad for p in params):
        return "the model has no trainable parameters"
    if len({p.device for p in params}) > 1:
        return "the model's parameters are on several devices"
    return None


class CompiledStep:
    """`train_step`'s drop-in: the same step compiled whole where the run allows it.

    Falls back to the eager step for the whole run when `compile_blocker` names a reason or the
    compile fails (`reason` then says why), and for single steps that callbacks want to watch
    or whose batch is not a full one (an epoch's short last batch).
    """

    def __init__(self, eager: Step = train_step) -> None:
        self.eager = eager
        self.reason: str | None = None  # why the run steps eagerly, once known
        self.compiled_steps = 0
        self._graph: Any = None
        self._model: nn.Module | None = None
        self._shapes: tuple[torch.Size, ...] | None = None  # the batch shapes compiled for

    def __call__(
        self, state: TrainState, inputs: tuple[torch.Tensor, ...], y: torch.Tensor, cbs: Callback
    ) -> StepOutput:
        if self.reason is None and self._model is not state.model:
            self.reason = compile_blocker(state)
            if self.reason is None:
                self._build(state)
        if self.reason is not None or cbs.needs_eager_step(state):
            return self.eager(state, inputs, y, cbs)
        # one graph, for full batches: the short last batch of an epoch (or a batch of another
        # shape) steps eagerly rather than paying a second compile
        shapes = (*(x.shape for x in inputs), y.shape)
        if self._shapes is None and len(y) == state.batch_size:
            self._shapes = shapes
        if shapes != self._shapes:
            return self.eager(state, inputs, y, cbs)
        loss, output = self._run(state, inputs, y)
        if loss is None:  # the compile failed; this step and the rest run eagerly
            return self.eager(state, inputs, y, cbs)
        state.step_loss = loss
        # what `optimizer.step()` would have flagged: schedules then step without a warning
        state.optimizer._opt_called = True  # type: ignore[attr-defined]
        if state.schedule_per == "step" and state.scheduler is not None:
            state.scheduler.step()
        state.step += 1
        self.compiled_steps += 1
        return StepOutput(loss, output, y)

    # --- building the graph ------------------------------------------------------------
    def _build(self, state: TrainState) -> None:
        model = state.model
        self._model = model
        self._shapes = None
        named = list(model.named_parameters())
        self._names = [n for n, p in named if p.requires_grad]
        self._params = [p for _, p in named if p.requires_grad]
        # detached aliases share the parameters' storage: the graph updates them in place
        # without autograd seeing a leaf modified
        self._aliases = [p.detach() for p in self._params]
        frozen = {n: p.detach() for n, p in named if not p.requires_grad}
        # buffers are arguments, not captured constants: batch norm updates its running
        # statistics in place, which the gradient transform allows only on its inputs
        named_buffers = list(model.named_buffers())
        self._buffers = [b for _, b in named_buffers]
        buffer_names = [n for n, _ in named_buffers]
        groups = state.optimizer.param_groups
        group_of = {id(p): i for i, g in enumerate(groups) for p in g["params"]}
        self._group_index = [group_of.get(id(p)) for p in self._params]
        if None in self._group_index:
            self.reason = "some trainable parameters are not in the optimizer"
            return
        device = self._params[0].device
        self._lrs = [torch.tensor(float(g["lr"]), device=device) for g in groups]
        self._lr_values = [float(g["lr"]) for g in groups]
        decoupled = isinstance(state.optimizer, torch.optim.AdamW) or any(
            g.get("decoupled_weight_decay") for g in groups
        )
        hyper = [
            (
                self._group_index[i],
                float(groups[gi]["weight_decay"]),
                *map(float, groups[gi]["betas"]),
                float(groups[gi]["eps"]),
            )
            for i, gi in enumerate(self._group_index)
        ]
        precision = (
            (lambda: torch.autocast(device.type, state.autocast_dtype))
            if state.autocast_dtype is not None
            else nullcontext
        )
        # on a GPU cuDNN's convolutions are the fast ones: keep them
        self._convs = (
            [m for m in model.modules() if plain_conv1d(m)] if device.type == "cpu" else []
        )
        loss_fn, names, clip = state.loss_fn, self._names, state.clip_norm

        def loss_of(params: list, buffers: list, inputs: tuple, y: torch.Tensor) -> Any:
            tensors = dict(zip(names, params, strict=True)) | frozen
            tensors |= dict(zip(buffer_names, buffers, strict=True))
            with precision():
                output = functional_call(model, tensors, inputs)
                loss = loss_fn(output.float(), y)
            return loss, output.detach()

        gradients = grad_and_value(loss_of, has_aux=True)  # with respect to the parameters

        def step(params, buffers, avgs, squares, counts, lrs, inputs, y):
            grads, (loss, output) = gradients(params, buffers, inputs, y)
            if clip is not None:  # as clip_grad_norm_: scale all gradients by one factor
                total = torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))
                grads = [g * torch.clamp(clip / (total + 1e-6), max=1.0) for g in grads]
            for p, g, avg, sq, count, (gi, wd, beta1, beta2, eps) in zip(
                params, grads, avgs, squares, counts, hyper, strict=True
            ):
                lr = lrs[gi]
                count.add_(1)
                if wd and decoupled:
                    p.mul_(1 - lr * wd)
                elif wd:
                    g = g + wd * p
                avg.lerp_(g, 1 - beta1)
                sq.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                correction1 = 1 - beta1**count
                correction2 = 1 - beta2**count
                denom = (sq.sqrt() / correction2.sqrt()).add_(eps)
                p.sub_((lr / correction1) * avg / denom)
            return loss.detach(), output

        options = {"cpp_wrapper": True} if device.type == "cpu" else {}
        # static shapes: a graph specialised to the batch shape, compiled once
        self._graph = torch.compile(step, fullgraph=True, dynamic=False, options=options)
        self._slots: list[list[torch.Tensor]] = []

    # --- running it --------------------------------------------------------------------
    def _optimizer_slots(self, state: TrainState) -> list[list[torch.Tensor]]:
        """The optimizer's state tensors, created as torch's fused Adam creates them; looked up
        again after a checkpoint restore or a roll-back replaced them."""
        opt_state = state.optimizer.state
        first = opt_state.get(self._params[0], {})
        if self._slots and first.get("exp_avg") is self._slots[0][0]:
            return self._slots
        for p in self._params:
            slot = opt_state[p]
            if "exp_avg" not in slot:
                slot["step"] = torch.zeros((), dtype=torch.float32, device=p.device)
                slot["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                slot["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            elif not isinstance(slot["step"], torch.Tensor):
                slot["step"] = torch.tensor(float(slot["step"]), device=p.device)
        slots = [[opt_state[p][key] for p in self._params] for key in ("exp_avg", "exp_avg_sq")]
        self._slots = [*slots, [opt_state[p]["step"] for p in self._params]]
        return self._slots

    def _run(
        self, state: TrainState, inputs: tuple[torch.Tensor, ...], y: torch.Tensor
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        if self._aliases[0].data_ptr() != self._params[0].data_ptr():  # parameters moved
            self._aliases = [p.detach() for p in self._params]
        for i, group in enumerate(state.optimizer.param_groups):
            lr = float(group["lr"])
            if lr != self._lr_values[i]:  # a schedule moved it: one fill, not one per step
                self._lrs[i].fill_(lr)
                self._lr_values[i] = lr
        avgs, squares, counts = self._optimizer_slots(state)
        try:
            with convs_as_matmul(self._convs):
                return self._graph(
                    self._aliases, self._buffers, avgs, squares, counts, self._lrs, inputs, y
                )
        except Exception as error:  # any compiler failure means: step eagerly
            if self.compiled_steps:
                raise  # it compiled and ran before: this is a real error, not a compile one
            self.reason = f"the step did not compile ({type(error).__name__}: {_first_line(error)})"
            return None, None


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else ""
