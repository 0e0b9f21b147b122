"""The `mixed` data kind: numbers and categories as in a table, each text column tokenized,
each image column decoded.

The tabular preprocessor handles every other column exactly as for `tabular` (imputation,
scaling, one-hot or embedding codes); each text column gets its own tokenizer, fitted on the
training rows, so the model can give each its own encoder. Each image-path column gets its own
`ImagePreprocessor` (size, channels and per-channel statistics fitted on the training rows, as
for an image dataset), and its images travel as one (n, c, h, w) array in `Features.extra`,
after the token pairs: `extra = (ids_1, mask_1, ..., ids_k, mask_k, image_1, ..., image_m)`.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pandas as pd

from trainwise.data.images import ImagePreprocessor
from trainwise.data.schema import Schema
from trainwise.data.text import TokenEncoder
from trainwise.data.transforms import Features, TabularPreprocessor
from trainwise.spec.model import CleanSpec, ImageSpec, TextSpec

HANDED_OVER = {"text": "encoded as tokens", "image": "encoded as images"}


def without_text(schema: Schema) -> Schema:
    """The schema the tabular part sees: text and image columns handed to their own encoders."""
    columns = tuple(
        replace(c, kind="constant", reason=HANDED_OVER[c.kind]) if c.kind in HANDED_OVER else c
        for c in schema.columns
    )
    return replace(schema, columns=columns)


class MixedPreprocessor:
    def __init__(
        self,
        schema: Schema,
        clean: CleanSpec,
        text: TextSpec,
        image: ImageSpec | None = None,
    ) -> None:
        self.schema = schema
        self.tabular = TabularPreprocessor(without_text(schema), clean)
        self.encoders = [TokenEncoder([name], text) for name in schema.of_kind("text")]
        self.images = [
            ImagePreprocessor(schema, image or ImageSpec(), name)
            for name in schema.of_kind("image")
        ]

    def fit(self, frame: pd.DataFrame) -> MixedPreprocessor:
        self.tabular.fit(frame)
        for enc in self.encoders:
            enc.fit(frame)
        for pre in self.images:
            pre.fit(frame)
        return self

    def transform(self, frame: pd.DataFrame) -> Features:
        table = self.tabular.transform(frame)
        extra = tuple(a for enc in self.encoders for a in enc.transform(frame))
        extra += tuple(pre.transform(frame).dense for pre in self.images)
        return Features(table.dense, table.codes, extra)

    @property
    def model_inputs(self) -> dict[str, Any]:
        inputs: dict[str, Any] = {
            "vocab_sizes": [e.vocab_size for e in self.encoders],
            "max_lengths": [e.max_length_ for e in self.encoders],
        }
        if self.images:
            inputs["image_shapes"] = [list(p.input_shape) for p in self.images]
        return inputs

    @property
    def input_shape(self) -> tuple[int, ...] | None:
        """Decoded image values per row, when there are image columns: prediction decodes raw
        rows in chunks of a bounded size by it (evaluate/predict.py), as for image data."""
        if not self.images:
            return None
        return (sum(math.prod(p.input_shape) for p in self.images),)

    def describe(self) -> dict[str, Any]:
        described = self.tabular.describe() | {"text": [e.describe() for e in self.encoders]}
        if self.images:
            described["image_columns"] = [p.describe() for p in self.images]
        return described

    def state_dict(self) -> dict[str, Any]:
        state = {
            "kind": "mixed",
            "tabular": self.tabular.state_dict(),
            "encoders": [e.state_dict() for e in self.encoders],
        }
        if self.images:
            state["images"] = [p.state_dict() for p in self.images]
        return state

    @classmethod
    def from_state(cls, schema: Schema, raw: dict[str, Any]) -> MixedPreprocessor:
        tab = TabularPreprocessor.from_state(without_text(schema), raw["tabular"])
        pre = cls(schema, tab.clean, TextSpec())
        pre.tabular = tab
        pre.encoders = [TokenEncoder.from_state(e) for e in raw["encoders"]]
        pre.images = [ImagePreprocessor.from_state(schema, p) for p in raw.get("images", [])]
        return pre

    @property
    def embedding_cardinalities(self) -> list[int]:
        return self.tabular.embedding_cardinalities

    @property
    def feature_names(self) -> list[str]:
        names = self.tabular.feature_names + [c for e in self.encoders for c in e.columns]
        return names + [p.column for p in self.images]
