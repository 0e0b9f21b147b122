"""Which data kind a table is (text, mixed, variable-length sequence), and its preprocessor.

`auto` picks `text` when every feature is free text, `varseq` (a sequence of varying length)
when the single feature holds arrays, and `mixed` (a token encoder per text column beside the
numbers and categories) when a text column is prose: at least `PROSE_WORDS` words on average,
or when a column holds image file paths beside other features (data/image_columns.py).
Short text beside other columns (titanic's passenger names, addresses, titles) stays on the
tabular path as TF-IDF features, which suit a few words and keep the tabular defaults unchanged.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from trainwise.data.mixed import MixedPreprocessor
from trainwise.data.schema import Schema
from trainwise.data.text import TextPreprocessor
from trainwise.data.transforms import Preprocessor
from trainwise.data.varseq import VarSequencePreprocessor
from trainwise.errors import DataError
from trainwise.spec.model import DataSpec

PROSE_WORDS = 6.0


def prose_columns(schema: Schema, frame: pd.DataFrame) -> list[str]:
    """Text columns whose values average at least PROSE_WORDS words (messages, reviews)."""
    return [
        name
        for name in schema.of_kind("text")
        if frame[name].dropna().astype(str).str.split().str.len().mean() >= PROSE_WORDS
    ]


def resolve_kind(kind: str, schema: Schema, frame: pd.DataFrame | None = None) -> str:
    """The data kind for the schema: the one asked for, checked, or the one `auto` implies."""
    used = [c for c in schema.columns if c.used]
    kinds = {c.kind for c in used}
    arrays = [c.name for c in used if c.kind == "array"]
    if arrays:
        if len(used) > 1 or kind not in {"auto", "sequence"}:
            raise DataError(
                f"column(s) {', '.join(map(repr, arrays))} hold arrays beside other features",
                "one column of arrays (a sequence of varying length per row) and no other feature",
                "drop the other feature columns (data.drop=[...]) or split the arrays into "
                "one column per step",
            )
        return "varseq"
    images = [c.name for c in used if c.kind == "image"]
    if images and kind not in {"auto", "mixed", "image"}:
        raise DataError(
            f"column(s) {', '.join(map(repr, images))} hold image paths but data.kind is {kind}",
            "data.kind auto or mixed for image paths beside other features",
            "set data.kind=mixed, or drop the column (data.drop=[...])",
        )
    if kind == "auto":
        if kinds == {"text"}:
            return "text"
        prose = frame is not None and prose_columns(schema, frame)
        return "mixed" if prose or "image" in kinds else "tabular"
    if kind == "text" and kinds != {"text"}:
        others = [c.name for c in used if c.kind != "text"]
        raise DataError(
            f"data.kind is text but column(s) {', '.join(map(repr, others[:5]))} are not free text",
            "only free-text feature columns for data.kind=text",
            "set data.kind=mixed (text beside numbers and categories), drop those columns, "
            "or mark a column as text with data.kinds={COLUMN: text}",
        )
    if kind == "mixed" and not kinds & {"text", "image"}:
        raise DataError(
            "data.kind is mixed but no column was recognised as free text or image paths",
            "at least one text column, or a column of image file paths",
            "mark it with data.kinds={COLUMN: text} (or image), or use data.kind=tabular",
        )
    return kind


def text_preprocessor(kind: str, schema: Schema, spec: DataSpec) -> Preprocessor | None:
    """The unfitted preprocessor of a text, mixed or varseq kind; None for the other kinds."""
    if kind == "text":
        return TextPreprocessor(schema, spec.text)
    if kind == "mixed":
        return MixedPreprocessor(schema, spec.clean, spec.text, spec.image)
    if kind == "varseq":
        return VarSequencePreprocessor(schema)
    return None


def text_preprocessor_from_state(schema: Schema, raw: dict[str, Any]) -> Preprocessor:
    if raw["kind"] == "text":
        return TextPreprocessor.from_state(schema, raw)
    if raw["kind"] == "mixed":
        return MixedPreprocessor.from_state(schema, raw)
    return VarSequencePreprocessor.from_state(schema, raw)
