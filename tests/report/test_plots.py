"""The report's figures: laid out once, and drawn once when saved."""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
import pandas as pd
import pytest

from trainwise.report import plots

CLASSES = ["ant", "bee", "cat"]


def _predictions(rows: int = 90) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(len(CLASSES)), size=rows)
    frame = pd.DataFrame(proba, columns=[f"proba_{c}" for c in CLASSES])
    frame["truth"] = rng.choice(CLASSES, size=rows)
    frame["prediction"] = np.asarray(CLASSES)[proba.argmax(axis=1)]
    return frame


HISTORY = [
    {"epoch": e, "loss": 1 / e, "val_loss": 1.2 / e, "val_accuracy": e / 10} for e in (1, 2, 3)
]

FIGURES = {
    "learning curves": lambda: plots.learning_curves(HISTORY),
    "classification": lambda: plots.classification(_predictions(), CLASSES, "test"),
    "residuals": lambda: plots.residuals(np.arange(50.0), np.arange(50.0) + 0.5, "test"),
}


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_a_figure_is_laid_out_and_then_drawn_once(name: str):
    fig = FIGURES[name]()
    # laid out: the margins moved from matplotlib's defaults to fit the labels
    assert fig.subplotpars.left != pytest.approx(mpl.rcParams["figure.subplot.left"])
    # and no layout engine stays behind, or saving would lay every text out again first
    assert fig.get_layout_engine() is None
    draws = []
    fig.canvas.mpl_connect("draw_event", lambda event: draws.append(event))
    uri = plots.data_uri(fig)
    assert uri.startswith("data:image/png;base64,")
    assert len(draws) == 1
