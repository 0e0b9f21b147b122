"""Shared fixtures: tiny generated datasets, a CLI runner and run-folder checks.

Every dataset here is small and generated from a fixed seed, so a test that trains on it finishes
in well under a second and has an answer known in advance (a line, two far-apart blobs).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

# The test run uses `-n 2` on two cores: one intra-op thread per worker. With more, tiny ops
# (batch norm on 64 x 16) spin-wait for cores the other worker holds and a fit that takes 0.4 s
# takes 4 s.
torch.set_num_threads(1)

# Data trainwise can make again (MNIST-1D) is cached in a folder of the test run's own, shared by
# the workers and the CLI processes they start, never in the user's home.
os.environ.setdefault("TRAINWISE_CACHE", str(Path(tempfile.gettempdir()) / "trainwise-test-cache"))

SUBPROCESS_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

# Small specs: enough to exercise every stage, fast enough for the default run.
TINY = {"hidden": [16], "progress": False}


def binary_frame(n: int = 120, seed: int = 0) -> pd.DataFrame:
    """Two numeric features, one categorical, a string target that a line separates."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.normal(size=n),
            "c": rng.choice(["u", "v", "w"], size=n),
        }
    )
    frame["y"] = np.where(frame["a"] + frame["b"] > 0, "yes", "no")
    return frame


def regression_frame(n: int = 150, seed: int = 0) -> pd.DataFrame:
    """y = 2x + 3 + small noise, plus an irrelevant feature."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, size=n)
    frame = pd.DataFrame({"x": x, "z": rng.normal(size=n)})
    frame["y"] = 2 * x + 3 + rng.normal(scale=0.05, size=n)
    return frame


def blobs(n_per_class: int = 100, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two Gaussian blobs 10 standard deviations apart: any sane classifier is perfect."""
    rng = np.random.default_rng(seed)
    x = np.vstack([rng.normal(-5, 1, (n_per_class, 2)), rng.normal(5, 1, (n_per_class, 2))])
    y = np.r_[np.zeros(n_per_class), np.ones(n_per_class)].astype(np.int64)
    order = rng.permutation(len(y))
    return x[order], y[order]


@pytest.fixture
def run_cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run `python -m trainwise.cli ARGS` in `cwd`, capturing text output."""

    def run(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "trainwise.cli", *map(str, args)],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=SUBPROCESS_ENV,
        )

    return run


def _complete_runs(root: Path) -> list[Path]:
    """Folders under `root` that look like finished runs: metrics.json and no .partial suffix."""
    return sorted(
        p.parent for p in root.rglob("metrics.json") if not p.parent.name.endswith(".partial")
    )


@pytest.fixture
def complete_runs() -> Callable[[Path], list[Path]]:
    return _complete_runs


@pytest.fixture
def binary_df() -> pd.DataFrame:
    return binary_frame()


@pytest.fixture
def regression_df() -> pd.DataFrame:
    return regression_frame()


@pytest.fixture
def blob_data() -> tuple[np.ndarray, np.ndarray]:
    return blobs()


@pytest.fixture
def binary_csv(tmp_path: Path) -> Path:
    path = tmp_path / "f.csv"
    binary_frame().to_csv(path, index=False)
    return path


@pytest.fixture
def regression_csv(tmp_path: Path) -> Path:
    path = tmp_path / "r.csv"
    regression_frame().to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One finished binary run folder (3 epochs), shared by the tests that only read it."""
    import trainwise

    out = tmp_path_factory.mktemp("trained") / "out"
    trainwise.fit(binary_frame(), "y", epochs=3, output={"dir": str(out)}, **TINY)
    return out
