"""Text encoders compared with defaults: accuracy, F1 and seconds per dataset and family.

Datasets: the SMS spam collection (short, real, binary; skipped when absent), docstrings of
installed libraries labelled by their library (real prose, 4 classes), and a synthetic review
set whose label flips with negation (word order matters). Seconds are wall-clock on this
machine; run it on an idle machine for timings to compare.

    PYTHONPATH=src python -m benchmarks.text_families [--families rnn,transformer] [--epochs N]
"""

from __future__ import annotations

import argparse
import inspect
import time
from pathlib import Path

import numpy as np
import pandas as pd

import trainwise
from trainwise.data.sources import read_table

REPO = Path(__file__).resolve().parents[1]
SMS = next(
    (
        p / "shared" / "datasets" / "sms_spam.tsv"
        for p in (REPO.parent, REPO.parent.parent)  # a checkout, or a worktree one level down
        if (p / "shared" / "datasets" / "sms_spam.tsv").is_file()
    ),
    REPO.parent / "shared" / "datasets" / "sms_spam.tsv",
)


def sms_spam() -> tuple[pd.DataFrame, str] | None:
    if not SMS.is_file():
        return None
    return read_table(SMS), "col0"


def docstrings(max_rows: int = 4000, seed: int = 0) -> tuple[pd.DataFrame, str]:
    """First paragraphs of public docstrings, labelled with the library they come from."""
    import numpy
    import scipy.signal
    import scipy.stats
    import sklearn.linear_model
    import sklearn.metrics
    import torch.nn.functional

    sources = {
        "numpy": [numpy, numpy.linalg, numpy.random],
        "scipy": [scipy.stats, scipy.signal],
        "sklearn": [sklearn.metrics, sklearn.linear_model],
        "torch": [torch.nn.functional, torch.nn],
    }
    rows = []
    for label, modules in sources.items():
        for module in modules:
            for name in dir(module):
                doc = inspect.getdoc(getattr(module, name, None)) or ""
                para = " ".join(doc.split("\n\n")[:2]).replace("\n", " ").strip()
                if len(para.split()) >= 5 and not name.startswith("_"):
                    rows.append({"text": para[:600], "library": label})
    frame = pd.DataFrame(rows).drop_duplicates("text")
    return frame.sample(min(len(frame), max_rows), random_state=seed), "library"


def negation_reviews(n: int = 3000, seed: int = 0) -> tuple[pd.DataFrame, str]:
    """Short reviews whose sentiment words may be negated: 'not good' is negative."""
    rng = np.random.default_rng(seed)
    good = ["good", "great", "excellent", "wonderful", "fun", "moving", "clever", "solid"]
    bad = ["bad", "boring", "awful", "dull", "weak", "messy", "slow", "silly"]
    things = ["the film", "this movie", "the plot", "the acting", "the ending", "the script"]
    filler = ["honestly", "overall", "i think", "to be fair", "in the end", "for me", "really"]
    texts, labels = [], []
    for _ in range(n):
        positive = rng.random() < 0.5
        negate = rng.random() < 0.5
        word = rng.choice(good if positive != negate else bad)
        parts = [rng.choice(filler), rng.choice(things), "was", "not" if negate else "", word]
        if rng.random() < 0.5:
            parts += ["and", rng.choice(filler)]
        texts.append(" ".join(p for p in parts if p))
        labels.append("pos" if positive else "neg")
    return pd.DataFrame({"review": texts, "sentiment": labels}), "sentiment"


def run(frame: pd.DataFrame, target: str, family: str, epochs: int | None) -> dict[str, float]:
    started = time.perf_counter()
    spec: dict = {"model": {"name": family}}
    if epochs is not None:
        spec["train"] = {"epochs": epochs}
    result = trainwise.fit(frame, target, spec=spec, save=False, progress=False)
    test = result.metrics["test"]
    return {
        "accuracy": test["accuracy"],
        "f1_macro": test["f1_macro"],
        "f1": test.get("f1", float("nan")),
        "epochs": result.metrics["epochs"],
        "seconds": time.perf_counter() - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--families", default="embedding_bag,transformer,rnn")
    parser.add_argument("--datasets", default="sms_spam,docstrings,negation")
    parser.add_argument("--epochs", type=int, default=None, help="cap (default: the spec's)")
    args = parser.parse_args()
    makers = {"sms_spam": sms_spam, "docstrings": docstrings, "negation": negation_reviews}
    for name in args.datasets.split(","):
        made = makers[name]()
        if made is None:
            print(f"{name}: skipped (file absent)")
            continue
        frame, target = made
        for family in args.families.split(","):
            m = run(frame, target, family, args.epochs)
            print(
                f"{name:10s} {family:14s} acc={m['accuracy']:.4f} f1={m['f1']:.4f} "
                f"f1_macro={m['f1_macro']:.4f} epochs={m['epochs']:3d} "
                f"seconds={m['seconds']:.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
