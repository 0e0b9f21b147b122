"""Training: state, step, loop, optimizers, schedules and callbacks. Trains any nn.Module."""

from trainwise.train.callbacks import Callback, CallbackList
from trainwise.train.early_stopping import EarlyStopping
from trainwise.train.loop import fit
from trainwise.train.state import StepOutput, TrainState
from trainwise.train.step import train_step

__all__ = [
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "StepOutput",
    "TrainState",
    "fit",
    "train_step",
]
