"""The callback interface: six hooks, a question, and the list that fires them.

Callbacks observe the training state and may set `state.stop_reason`; they never replace its
members. Each one can save and restore its own state (`state_dict` / `load_state_dict`, JSON-ready)
so a resumed run carries on exactly where it stopped. Besides plain values and tensors, a state
may hold a `checkpoint.PreEncoded` list (items already JSON text, as the doctor keeps its epoch
summaries): the checkpoint writes it as a plain array, and it loads back as a list.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trainwise.train.state import StepOutput, TrainState


class Callback:
    """Override only the hooks you need; every hook is a no-op by default.

    >>> class PrintEpoch(Callback):
    ...     def on_epoch_end(self, state, logs):
    ...         print(state.epoch, round(logs["loss"], 3))
    """

    def on_fit_start(self, state: TrainState) -> None: ...

    def on_epoch_start(self, state: TrainState) -> None: ...

    def on_after_backward(self, state: TrainState) -> None: ...

    def needs_eager_step(self, state: TrainState) -> bool:
        """Whether the coming step must run eagerly because this callback watches it.

        A compiled step (`train.compile`) never fills `.grad` and never calls
        `on_after_backward`; by default a callback that overrides that hook gets every step
        eagerly. Override to ask only for the steps actually watched.
        """
        return type(self).on_after_backward is not Callback.on_after_backward

    def on_batch_end(self, state: TrainState, out: StepOutput) -> None: ...

    def on_epoch_end(self, state: TrainState, logs: dict[str, float]) -> None: ...

    def on_fit_end(self, state: TrainState) -> None: ...

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class CallbackList(Callback):
    """Fires each hook on every callback, in order."""

    def __init__(self, callbacks: Iterable[Callback] = ()) -> None:
        self.callbacks = list(callbacks)

    def on_fit_start(self, state: TrainState) -> None:
        for cb in self.callbacks:
            cb.on_fit_start(state)

    def on_epoch_start(self, state: TrainState) -> None:
        for cb in self.callbacks:
            cb.on_epoch_start(state)

    def on_after_backward(self, state: TrainState) -> None:
        for cb in self.callbacks:
            cb.on_after_backward(state)

    def needs_eager_step(self, state: TrainState) -> bool:
        return any(cb.needs_eager_step(state) for cb in self.callbacks)

    def on_batch_end(self, state: TrainState, out: StepOutput) -> None:
        for cb in self.callbacks:
            cb.on_batch_end(state, out)

    def on_epoch_end(self, state: TrainState, logs: dict[str, float]) -> None:
        for cb in self.callbacks:
            cb.on_epoch_end(state, logs)

    def on_fit_end(self, state: TrainState) -> None:
        """Every callback's, even after one has failed (a checkpoint write can fail here), so
        that files are closed and signal handlers restored; the first failure is raised."""
        failure: Exception | None = None
        for cb in self.callbacks:
            try:
                cb.on_fit_end(state)
            except Exception as exc:
                failure = failure or exc
        if failure is not None:
            raise failure
