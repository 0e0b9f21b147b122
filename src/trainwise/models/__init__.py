"""Model families, task heads and the builder."""

from trainwise.models.build import MODELS, build_model, model_config
from trainwise.models.heads import Head, head_for
from trainwise.models.mlp import MLP

__all__ = ["MLP", "MODELS", "Head", "build_model", "head_for", "model_config"]
