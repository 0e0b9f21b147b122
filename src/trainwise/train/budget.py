"""How long to train and how to anneal, when the spec leaves it to trainwise (`auto`).

Tables train best with a generous epoch cap, a plateau schedule and early stopping: they are small,
epochs are cheap, and the right length varies a lot between datasets. Convolutional models on
augmented signals are different: with augmentation the validation loss keeps creeping down for
hundreds of epochs, so early stopping alone never ends the run, while a cosine anneal over a fixed
budget of optimisation steps reaches the same accuracy in a fraction of the time (the practice of
one-cycle / cosine training popularised by fastai and the CIFAR speed records). The budget is
counted in steps, not epochs, so a larger dataset gets fewer passes rather than a longer run.
"""

from __future__ import annotations

from dataclasses import dataclass

from trainwise.spec.model import TrainSpec

STEP_BUDGET_KINDS = {"sequence", "audio"}
STEP_BUDGET = 2_000
MIN_EPOCHS, MAX_EPOCHS = 20, 100
TABLE_EPOCHS = 200


@dataclass(frozen=True)
class Budget:
    """The resolved epoch cap and schedule name, and why they were chosen."""

    epochs: int
    schedule: str
    reason: str


def resolve_budget(spec: TrainSpec, kind: str, steps_per_epoch: int) -> Budget:
    """Concrete `epochs` and `schedule.name` for a run; values the spec names are kept.

    >>> from trainwise.spec.model import TrainSpec
    >>> resolve_budget(TrainSpec(), "sequence", 50).epochs
    40
    """
    budgeted = kind in STEP_BUDGET_KINDS
    if spec.epochs != "auto":
        epochs, why = int(spec.epochs), "train.epochs"
    elif budgeted:
        wanted = -(-STEP_BUDGET // max(1, steps_per_epoch))
        epochs = min(MAX_EPOCHS, max(MIN_EPOCHS, wanted))
        why = f"about {STEP_BUDGET} optimisation steps for {kind} data"
    else:
        epochs, why = TABLE_EPOCHS, "an upper bound; early stopping ends the run"
    schedule = spec.schedule.name
    if schedule == "auto":
        schedule = "cosine" if budgeted else "plateau"
    return Budget(epochs, schedule, why)


def apply_budget(spec: TrainSpec, budget: Budget) -> TrainSpec:
    """A copy of the training spec with the budget's concrete values in place of `auto`."""
    return spec.model_copy(
        update={
            "epochs": budget.epochs,
            "schedule": spec.schedule.model_copy(update={"name": budget.schedule}),
        }
    )
