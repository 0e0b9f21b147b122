"""Text columns → token ids and masks, with a tokenizer learned from the training split only.

The tokenizer is a Hugging Face `tokenizers` model (byte-pair encoding by default: sub-words
keep misspellings, numbers and rare words apart without an unbounded vocabulary; its training is
deterministic, which exact resume needs, whereas WordPiece's vocabulary order varies from run to
run). It is trained on the training rows alone, so validation and test words the training text
never saw are as unknown to the model as they will be in production. Its own JSON is stored
inside the preprocessor's JSON state: a saved model tokenizes raw text in a new process exactly
as in training, and loading it runs no code.

Every text is padded or cut to `max_length` tokens; the mask marks real tokens. An empty text
becomes a single unknown token, so no row is all padding (attention over nothing is undefined).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

from trainwise.data.schema import Schema
from trainwise.data.transforms import Features
from trainwise.errors import DataError
from trainwise.spec.model import TextSpec

PAD, UNK = "[PAD]", "[UNK]"
PAD_ID, UNK_ID = 0, 1  # the trainers put the special tokens first, in this order
MIN_LENGTH, MAX_DEFAULT_LENGTH = 8, 256
LENGTH_QUANTILE = 95


def build_tokenizer(spec: TextSpec) -> tuple[Tokenizer, Any]:
    """An untrained tokenizer and its trainer, as the spec describes."""
    specials = [PAD, UNK]
    common = {
        "vocab_size": spec.vocab_size,
        "min_frequency": spec.min_frequency,
        "special_tokens": specials,
        "show_progress": False,
    }
    if spec.tokenizer == "word":
        tok = Tokenizer(models.WordLevel(unk_token=UNK))
        trainer: Any = trainers.WordLevelTrainer(**common)
    else:
        tok = Tokenizer(models.BPE(unk_token=UNK))
        trainer = trainers.BpeTrainer(**common)
    steps: list[Any] = [normalizers.NFKC()]
    if spec.lowercase:
        steps.append(normalizers.Lowercase())
    tok.normalizer = normalizers.Sequence(steps)
    # words and punctuation apart, and long digit runs (phone numbers) in groups of digits
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Whitespace(), pre_tokenizers.Digits(individual_digits=False)]
    )
    return tok, trainer


def joined_text(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    """One document per row: the text columns joined (missing values as empty text)."""
    absent = [c for c in columns if c not in frame.columns]
    if absent:
        raise DataError(
            f"the data lacks text column(s) the model needs: {', '.join(map(repr, absent))}",
            f"the text columns used in training: {', '.join(columns)}",
            "pass rows with the same columns as in training",
        )
    parts = [frame[c].astype("string").fillna("").astype(str) for c in columns]
    docs = parts[0]
    for p in parts[1:]:
        docs = docs + " \n " + p
    return docs.tolist()


class TokenEncoder:
    """One fitted tokenizer for a group of text columns: raw rows → (ids, mask)."""

    def __init__(self, columns: list[str], spec: TextSpec) -> None:
        self.columns = list(columns)
        self.spec = spec
        self.tokenizer_: Tokenizer | None = None
        self.max_length_ = 0
        self.coverage_ = 1.0

    def fit(self, frame: pd.DataFrame) -> TokenEncoder:
        docs = joined_text(frame, self.columns)
        tok, trainer = build_tokenizer(self.spec)
        tok.train_from_iterator(docs, trainer, length=len(docs))
        lengths = np.array([len(e.ids) for e in tok.encode_batch(docs)])
        if self.spec.max_length is not None:
            self.max_length_ = int(self.spec.max_length)
        else:
            q = float(np.percentile(lengths, LENGTH_QUANTILE)) if len(lengths) else MIN_LENGTH
            self.max_length_ = int(min(MAX_DEFAULT_LENGTH, max(MIN_LENGTH, np.ceil(q))))
        self.coverage_ = float((lengths <= self.max_length_).mean()) if len(lengths) else 1.0
        self.tokenizer_ = tok
        self._configure()
        return self

    def _configure(self) -> None:
        assert self.tokenizer_ is not None
        self.tokenizer_.enable_truncation(self.max_length_)
        self.tokenizer_.enable_padding(pad_id=PAD_ID, pad_token=PAD, length=self.max_length_)

    def transform(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(ids int64, mask bool), both (n, max_length)."""
        assert self.tokenizer_ is not None, "fit the encoder first"
        n = len(frame)
        docs = joined_text(frame, self.columns)
        encodings = self.tokenizer_.encode_batch(docs) if n else []
        ids = np.array([e.ids for e in encodings], dtype=np.int64).reshape(n, self.max_length_)
        mask = np.array([e.attention_mask for e in encodings], dtype=bool).reshape(
            n, self.max_length_
        )
        empty = ~mask.any(axis=1)
        ids[empty, 0], mask[empty, 0] = UNK_ID, True
        return ids, mask

    @property
    def vocab_size(self) -> int:
        assert self.tokenizer_ is not None
        return int(self.tokenizer_.get_vocab_size())

    def state_dict(self) -> dict[str, Any]:
        assert self.tokenizer_ is not None
        return {
            "columns": self.columns,
            "spec": self.spec.model_dump(),
            "max_length": self.max_length_,
            "coverage": self.coverage_,
            "tokenizer": self.tokenizer_.to_str(),
        }

    @classmethod
    def from_state(cls, raw: dict[str, Any]) -> TokenEncoder:
        enc = cls(raw["columns"], TextSpec.model_validate(raw["spec"]))
        enc.max_length_, enc.coverage_ = int(raw["max_length"]), float(raw["coverage"])
        enc.tokenizer_ = Tokenizer.from_str(raw["tokenizer"])
        enc._configure()
        return enc

    def describe(self) -> dict[str, Any]:
        return {
            "columns": self.columns,
            "tokenizer": self.spec.tokenizer,
            "vocab_size": self.vocab_size,
            "max_length": self.max_length_,
            "texts_not_cut (train)": round(self.coverage_, 4),
        }


class TextPreprocessor:
    """The `text` data kind: every feature is free text; the model sees (ids, mask).

    Several text columns are joined into one document per row. Dense input is empty (n, 0).
    """

    def __init__(self, schema: Schema, spec: TextSpec) -> None:
        self.schema = schema
        self.encoder = TokenEncoder(schema.features, spec)

    def fit(self, frame: pd.DataFrame) -> TextPreprocessor:
        self.encoder.fit(frame)
        return self

    def transform(self, frame: pd.DataFrame) -> Features:
        ids, mask = self.encoder.transform(frame)
        n = len(frame)
        return Features(
            np.zeros((n, 0), dtype=np.float32), np.zeros((n, 0), dtype=np.int64), (ids, mask)
        )

    @property
    def model_inputs(self) -> dict[str, Any]:
        """What the model needs to know about the inputs beyond dense and codes."""
        return {
            "vocab_sizes": [self.encoder.vocab_size],
            "max_lengths": [self.encoder.max_length_],
        }

    def describe(self) -> dict[str, Any]:
        return {"text": self.encoder.describe()}

    def state_dict(self) -> dict[str, Any]:
        return {"kind": "text", "encoder": self.encoder.state_dict()}

    @classmethod
    def from_state(cls, schema: Schema, raw: dict[str, Any]) -> TextPreprocessor:
        enc = TokenEncoder.from_state(raw["encoder"])
        pre = cls(schema, enc.spec)
        pre.encoder = enc
        return pre

    @property
    def embedding_cardinalities(self) -> list[int]:
        return []

    @property
    def feature_names(self) -> list[str]:
        return list(self.encoder.columns)
