"""Hyperparameter search, cross-validation and AutoML on top of the pipeline."""
