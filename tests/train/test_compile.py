"""`train.compile`: the whole step through TorchInductor, saved models unchanged."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_iris

import trainwise


@pytest.mark.slow
def test_a_compiled_model_trains_and_reloads_with_plain_parameter_names(tmp_path) -> None:
    frame = load_iris(as_frame=True).frame
    result = trainwise.fit(
        frame,
        target="target",
        epochs=15,
        batch_size=16,  # several full batches an epoch (a short last one steps eagerly)
        compile=True,
        progress=False,
        output={"dir": str(tmp_path / "run")},
    )
    assert result.metrics["test"]["accuracy"] >= 0.8
    assert "compile_skipped" not in result.metrics
    # eager: the first step of each epoch (the doctor watches it) and a short last batch
    assert result.metrics["compiled_steps"] >= 15 * 3
    rows = frame.drop(columns="target").head(20)
    reloaded = trainwise.load(result.path)
    np.testing.assert_allclose(
        reloaded.predict_proba(rows), result.predict_proba(rows), rtol=1e-5, atol=1e-6
    )
