"""Run folders and model bundles."""

from trainwise.runs.bundle import load_bundle, save_bundle
from trainwise.runs.folder import HistoryWriter, RunFolder

__all__ = ["HistoryWriter", "RunFolder", "load_bundle", "save_bundle"]
