"""Mixed tables (numbers, categories, text) and variable-length sequences: inputs and masks."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from test_text import text_frame

from trainwise.data.mixed import MixedPreprocessor
from trainwise.data.schema import infer_schema
from trainwise.data.text_kinds import resolve_kind
from trainwise.data.varseq import VarSequencePreprocessor
from trainwise.errors import DataError
from trainwise.spec.model import CleanSpec, TextSpec


def test_mixed_table_gives_dense_codes_and_one_token_pair_per_text_column():
    frame = text_frame().assign(
        n=np.linspace(0, 1, 200),
        city=[f"c{i % 30}" for i in range(200)],
        note=[f"note {i} about item {i % 17} and more" for i in range(200)],
    )
    schema = infer_schema(frame, "y", kinds={"city": "categorical"})
    pre = MixedPreprocessor(schema, CleanSpec(), TextSpec()).fit(frame)
    features = pre.transform(frame)
    assert features.dense.shape == (200, 1)  # the number, scaled; no TF-IDF columns
    assert features.codes.shape == (200, 1)  # city has > onehot_max categories: embedded
    assert len(features.extra) == 4  # (ids, mask) for text and for note
    assert pre.model_inputs["vocab_sizes"][0] > 2
    again = MixedPreprocessor.from_state(schema, json.loads(json.dumps(pre.state_dict())))
    for a, b in zip(features.extra, again.transform(frame).extra, strict=True):
        assert np.array_equal(a, b)
    assert np.allclose(features.dense, again.transform(frame).dense)


def sequences(n: int = 50, channels: int | None = None, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    shape = (lambda k: (k,)) if channels is None else (lambda k: (k, channels))
    values = [rng.normal(3.0, 2.0, size=shape(int(rng.integers(2, 20)))) for _ in range(n)]
    return pd.DataFrame({"x": values, "y": rng.choice([0, 1], size=n)})


@pytest.mark.parametrize("channels", [None, 3])
def test_variable_length_sequences_are_scaled_padded_and_masked(channels: int | None):
    frame = sequences(channels=channels)
    schema = infer_schema(frame, "y")
    assert schema.of_kind("array") == ["x"]
    assert resolve_kind("auto", schema) == "varseq"
    pre = VarSequencePreprocessor(schema).fit(frame)
    features = pre.transform(frame)
    (mask,) = features.extra
    lengths = frame["x"].map(len).to_numpy()
    c = channels or 1
    assert features.dense.shape == (50, lengths.max(), c)
    assert np.array_equal(mask.sum(axis=1), lengths)
    assert np.all(features.dense[~mask] == 0)
    real = features.dense[mask]
    assert abs(real.mean()) < 1e-5 and abs(real.std() - 1) < 1e-3  # standardised over steps
    again = VarSequencePreprocessor.from_state(schema, json.loads(json.dumps(pre.state_dict())))
    assert np.array_equal(again.transform(frame).dense, features.dense)


def test_arrays_beside_other_features_are_refused_clearly():
    frame = sequences().assign(z=np.arange(50) % 5)
    with pytest.raises(DataError, match="hold arrays beside other features"):
        resolve_kind("auto", infer_schema(frame, "y"))
