"""Text preprocessing: a tokenizer fitted on training rows only, ids and masks, saved as JSON."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from trainwise.data.schema import infer_schema
from trainwise.data.text import PAD_ID, UNK_ID, TextPreprocessor, TokenEncoder
from trainwise.data.text_kinds import resolve_kind
from trainwise.errors import DataError
from trainwise.spec.model import TextSpec

WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "seven"]


def text_frame(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    texts = [" ".join(rng.choice(WORDS, size=rng.integers(3, 12))) for _ in range(n)]
    return pd.DataFrame({"text": texts, "y": rng.choice(["a", "b"], size=n)})


def fitted(frame: pd.DataFrame, **spec) -> TextPreprocessor:
    schema = infer_schema(frame, "y")
    return TextPreprocessor(schema, TextSpec(**spec)).fit(frame)


def test_ids_and_mask_shapes_types_and_padding():
    frame = text_frame()
    pre = fitted(frame, max_length=10)
    features = pre.transform(frame)
    ids, mask = features.extra
    assert features.dense.shape == (len(frame), 0) and features.codes.shape == (len(frame), 0)
    assert ids.shape == mask.shape == (len(frame), 10)
    assert ids.dtype == np.int64 and mask.dtype == bool
    assert (ids[~mask] == PAD_ID).all()  # padding is padding
    assert (ids[mask] != PAD_ID).all()
    lengths = mask.sum(axis=1)
    assert lengths.min() >= 3 and lengths.max() == 10  # long texts are cut


def test_default_length_covers_most_training_texts():
    frame = text_frame()
    enc = TokenEncoder(["text"], TextSpec()).fit(frame)
    assert 8 <= enc.max_length_ <= 256
    assert enc.coverage_ >= 0.95


def test_tokenizer_learns_from_training_rows_only():
    train = text_frame()
    pre = fitted(train)
    unseen = pd.DataFrame({"text": ["zebra xylophone quokka"], "y": ["a"]})
    _, mask = pre.transform(unseen).extra
    assert pre.encoder.tokenizer_ is not None
    vocab = pre.encoder.tokenizer_.get_vocab()
    assert "zebra" not in vocab and "fox" in vocab
    assert mask[0].sum() >= 1


def test_empty_and_missing_text_become_one_unknown_token():
    pre = fitted(text_frame())
    rows = pd.DataFrame({"text": ["", None], "y": ["a", "b"]})
    ids, mask = pre.transform(rows).extra
    assert (mask.sum(axis=1) == 1).all()
    assert (ids[:, 0] == UNK_ID).all()


def test_state_round_trips_through_json_with_identical_ids():
    frame = text_frame()
    pre = fitted(frame)
    raw = json.loads(json.dumps(pre.state_dict()))
    again = TextPreprocessor.from_state(pre.schema, raw)
    a, b = pre.transform(frame).extra, again.transform(frame).extra
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


@pytest.mark.parametrize("tokenizer", ["bpe", "word"])
def test_tokenizer_training_is_deterministic(tokenizer: str):
    """Exact resume re-fits the tokenizer: it must give the very same ids."""
    frame = text_frame(400)
    a = fitted(frame, tokenizer=tokenizer, vocab_size=60).transform(frame).extra[0]
    b = fitted(frame, tokenizer=tokenizer, vocab_size=60).transform(frame).extra[0]
    assert np.array_equal(a, b)


def test_lowercase_option():
    frame = text_frame()
    upper = frame.assign(text=frame["text"].str.upper())
    pre = fitted(frame)
    assert np.array_equal(pre.transform(frame).extra[0], pre.transform(upper).extra[0])
    cased = fitted(frame, lowercase=False)
    assert not np.array_equal(cased.transform(frame).extra[0], cased.transform(upper).extra[0])


def test_auto_kind_text_mixed_or_tabular():
    frame = text_frame()
    assert resolve_kind("auto", infer_schema(frame, "y"), frame) == "text"
    # prose beside a number: mixed; a few words (names, titles) beside it: TF-IDF in a table
    prose = frame.assign(text=frame["text"] + " and more words here", n=np.arange(200) % 7)
    assert resolve_kind("auto", infer_schema(prose, "y"), prose) == "mixed"
    short = prose.assign(text=[f"Mr {w} {i}" for i, w in enumerate(frame["text"].str[:6])])
    assert infer_schema(short, "y").of_kind("text") == ["text"]
    assert resolve_kind("auto", infer_schema(short, "y"), short) == "tabular"
    assert resolve_kind("mixed", infer_schema(short, "y"), short) == "mixed"
    assert resolve_kind("tabular", infer_schema(prose, "y"), prose) == "tabular"


def test_text_kind_with_other_columns_names_them_and_suggests_mixed():
    frame = text_frame().assign(n=np.arange(200) % 7)
    with pytest.raises(DataError, match=r"'n'.*mixed"):
        resolve_kind("text", infer_schema(frame, "y"))


def test_mixed_kind_without_text_column_is_refused():
    frame = pd.DataFrame({"n": np.arange(50) % 7, "y": ["a", "b"] * 25})
    with pytest.raises(DataError, match="no column was recognised as free text"):
        resolve_kind("mixed", infer_schema(frame, "y"))
