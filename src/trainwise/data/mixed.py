"""The `mixed` data kind: numbers and categories as in a table, each text column tokenized.

The tabular preprocessor handles every non-text column exactly as for `tabular` (imputation,
scaling, one-hot or embedding codes); each text column gets its own tokenizer, fitted on the
training rows, so the model can give each its own encoder. Image-path columns are not yet
encoded here (they are treated as identifiers or categories by the schema).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pandas as pd

from trainwise.data.schema import Schema
from trainwise.data.text import TokenEncoder
from trainwise.data.transforms import Features, TabularPreprocessor
from trainwise.spec.model import CleanSpec, TextSpec


def without_text(schema: Schema) -> Schema:
    """The schema the tabular part sees: text columns handed to the token encoders instead."""
    columns = tuple(
        replace(c, kind="constant", reason="encoded as tokens") if c.kind == "text" else c
        for c in schema.columns
    )
    return replace(schema, columns=columns)


class MixedPreprocessor:
    def __init__(self, schema: Schema, clean: CleanSpec, text: TextSpec) -> None:
        self.schema = schema
        self.tabular = TabularPreprocessor(without_text(schema), clean)
        self.encoders = [TokenEncoder([name], text) for name in schema.of_kind("text")]

    def fit(self, frame: pd.DataFrame) -> MixedPreprocessor:
        self.tabular.fit(frame)
        for enc in self.encoders:
            enc.fit(frame)
        return self

    def transform(self, frame: pd.DataFrame) -> Features:
        table = self.tabular.transform(frame)
        extra = tuple(a for enc in self.encoders for a in enc.transform(frame))
        return Features(table.dense, table.codes, extra)

    @property
    def model_inputs(self) -> dict[str, Any]:
        return {
            "vocab_sizes": [e.vocab_size for e in self.encoders],
            "max_lengths": [e.max_length_ for e in self.encoders],
        }

    def describe(self) -> dict[str, Any]:
        return self.tabular.describe() | {"text": [e.describe() for e in self.encoders]}

    def state_dict(self) -> dict[str, Any]:
        return {
            "kind": "mixed",
            "tabular": self.tabular.state_dict(),
            "encoders": [e.state_dict() for e in self.encoders],
        }

    @classmethod
    def from_state(cls, schema: Schema, raw: dict[str, Any]) -> MixedPreprocessor:
        tab = TabularPreprocessor.from_state(without_text(schema), raw["tabular"])
        pre = cls(schema, tab.clean, TextSpec())
        pre.tabular = tab
        pre.encoders = [TokenEncoder.from_state(e) for e in raw["encoders"]]
        return pre

    @property
    def embedding_cardinalities(self) -> list[int]:
        return self.tabular.embedding_cardinalities

    @property
    def feature_names(self) -> list[str]:
        return self.tabular.feature_names + [c for e in self.encoders for c in e.columns]
