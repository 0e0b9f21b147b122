"""TabularPreprocessor: every statistic from the training rows, applied unchanged to any rows."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from trainwise.data.schema import Column, Schema
from trainwise.data.transforms import TabularPreprocessor
from trainwise.errors import DataError
from trainwise.spec.model import CleanSpec


def _schema(**kinds: str) -> Schema:
    columns = tuple(Column(name, kind, "test", 0, 0) for name, kind in kinds.items())
    return Schema(columns, ("y",), "binary", (0, 1))


def _fit(frame: pd.DataFrame, clean: CleanSpec | None = None, **kinds: str) -> TabularPreprocessor:
    pre = TabularPreprocessor(_schema(**kinds), clean or CleanSpec())
    assert pre.fit(frame) is pre
    return pre


PLAIN = CleanSpec(outliers="none", scale="none")


# --- numeric ---------------------------------------------------------------------------------


def test_median_imputation_uses_the_train_median() -> None:
    train = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0, np.nan, 10.0]})
    pre = _fit(train, PLAIN, a="numeric")
    other = pd.DataFrame({"a": [np.nan, 1000.0, 2000.0, np.nan]})
    dense = pre.transform(other).dense
    assert pre.feature_names == ["a", "a__missing"]
    np.testing.assert_allclose(dense[:, 0], [3.0, 1000.0, 2000.0, 3.0])
    np.testing.assert_array_equal(dense[:, 1], [1, 0, 0, 1])


def test_mean_imputation_uses_the_train_mean() -> None:
    train = pd.DataFrame({"a": [1.0, 2.0, 6.0, np.nan]})
    pre = _fit(train, CleanSpec(impute="mean", outliers="none", scale="none"), a="numeric")
    np.testing.assert_allclose(pre.transform(pd.DataFrame({"a": [np.nan]})).dense[:, 0], [3.0])


def test_missing_indicator_only_when_train_had_missing_values() -> None:
    train = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [1.0, np.nan, 3.0, 4.0]})
    pre = _fit(train, PLAIN, a="numeric", b="numeric")
    assert pre.feature_names == ["a", "b", "b__missing"]
    # missing values in `a` at transform time are imputed, without an indicator column
    dense = pre.transform(pd.DataFrame({"a": [np.nan, 5.0], "b": [2.0, np.nan]})).dense
    assert dense.shape == (2, 3)
    np.testing.assert_allclose(dense, [[2.5, 2.0, 0.0], [5.0, 3.0, 1.0]])


def test_missing_indicator_can_be_switched_off() -> None:
    train = pd.DataFrame({"b": [1.0, np.nan, 3.0, 4.0]})
    clean = CleanSpec(missing_indicator=False, outliers="none", scale="none")
    pre = _fit(train, clean, b="numeric")
    assert pre.feature_names == ["b"]


def test_numbers_stored_as_text_are_converted() -> None:
    train = pd.DataFrame({"a": ["1", " 2.5", "x", "4"]})
    pre = _fit(train, PLAIN, a="numeric")
    np.testing.assert_allclose(pre.transform(train).dense, [[1, 0], [2.5, 0], [2.5, 1], [4, 0]])


def test_every_way_of_storing_numbers_gives_the_numbers_each_in_its_own_place() -> None:
    """NumPy floats, ints, unsigned ints, booleans, float32, pandas' nullable integers and numbers
    as text, side by side: converted together or one by one, each column's features hold its
    values, missing ones (and those beyond float32) imputed with its own median, and a flag or
    indicator right after the column it belongs to."""
    train = pd.DataFrame(
        {
            "text": ["1", " 2.5", "x", "4"],
            "f": [0.5, np.nan, 1e39, -2.0],
            "i": np.array([3, 1, 2, 9], dtype=np.int64),
            "u": np.array([7, 0, 255, 1], dtype=np.uint8),
            "b": [True, False, True, True],
            "nullable": pd.array([5, None, 1, 3], dtype="Int64"),
            "f32": np.array([1.25, -1.0, 2.0, np.inf], dtype=np.float32),
        }
    )
    kinds = dict.fromkeys(train.columns, "numeric")
    pre = _fit(train, PLAIN, **kinds)
    assert pre.feature_names == [
        "text",
        "text__missing",
        "f",
        "f__missing",
        "i",
        "u",
        "b",
        "nullable",
        "nullable__missing",
        "f32",
        "f32__missing",
    ]
    expected = [
        [1, 0, 0.5, 0, 3, 7, 1, 5, 0, 1.25, 0],
        [2.5, 0, -0.75, 1, 1, 0, 0, 3, 1, -1, 0],
        [2.5, 1, -0.75, 1, 2, 255, 1, 1, 0, 2, 0],
        [4, 0, -2, 0, 9, 1, 1, 3, 0, 1.25, 1],
    ]
    np.testing.assert_allclose(pre.transform(train).dense, expected)
    # raw rows at prediction time may come with their columns in another order
    reordered = train[list(reversed(train.columns))]
    np.testing.assert_array_equal(pre.transform(reordered).dense, pre.transform(train).dense)


def _with_outliers() -> pd.DataFrame:
    values = np.concatenate([np.arange(1.0, 21.0), [100.0, -80.0]])
    return pd.DataFrame({"a": values})


def test_iqr_clipping_clips_exactly_beyond_the_fences() -> None:
    train = _with_outliers()
    clean = CleanSpec(outliers="clip", outlier_iqr=1.5, scale="none")
    pre = _fit(train, clean, a="numeric")
    q1, q3 = np.percentile(train["a"], [25, 75])
    low, high = q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)
    assert pre.state_["numeric"]["a"]["fences"] == pytest.approx([low, high])
    assert pre.report_ == {"outliers": {"a": 2}}
    probe = pd.DataFrame({"a": [low - 1e-3, low, low + 1e-3, 10.0, high - 1e-3, high, 1e6]})
    out = pre.transform(probe).dense[:, 0]
    expected = [low, low, low + 1e-3, 10.0, high - 1e-3, high, high]
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-5)
    assert pre.feature_names == ["a"]


def test_outlier_flag_adds_a_column_and_keeps_values() -> None:
    train = _with_outliers()
    pre = _fit(train, CleanSpec(outliers="flag", outlier_iqr=1.5, scale="none"), a="numeric")
    assert pre.feature_names == ["a", "a__outlier"]
    dense = pre.transform(train).dense
    np.testing.assert_allclose(dense[:, 0], train["a"])
    np.testing.assert_array_equal(np.flatnonzero(dense[:, 1]), [20, 21])


def test_no_outlier_handling_leaves_values() -> None:
    train = _with_outliers()
    pre = _fit(train, PLAIN, a="numeric")
    assert "fences" not in pre.state_["numeric"]["a"]
    np.testing.assert_allclose(pre.transform(train).dense[:, 0], train["a"])


def test_scaling_fitted_on_train_not_on_transformed_rows() -> None:
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"a": rng.normal(5.0, 2.0, 500)})
    pre = _fit(train, CleanSpec(outliers="none", scale="standard"), a="numeric")
    shifted = pd.DataFrame({"a": train["a"] + 100.0})
    out = pre.transform(shifted).dense[:, 0]
    assert out.mean() == pytest.approx(100.0 / train["a"].std(ddof=0), rel=1e-4)


@pytest.mark.parametrize(
    ("scale", "check"),
    [
        ("standard", lambda x: (x.mean(), x.std()) == pytest.approx((0.0, 1.0), abs=1e-5)),
        ("minmax", lambda x: (x.min(), x.max()) == pytest.approx((0.0, 1.0), abs=1e-6)),
        (
            "robust",
            lambda x: (
                (np.median(x), np.subtract(*np.percentile(x, [75, 25])))
                == pytest.approx((0.0, 1.0), abs=1e-5)
            ),
        ),
        ("none", lambda x: x.max() > 100),
    ],
)
def test_scalers_give_expected_statistics_on_train(scale: str, check) -> None:
    rng = np.random.default_rng(1)
    train = pd.DataFrame({"a": rng.exponential(50.0, 400) + 10.0})
    pre = _fit(train, CleanSpec(outliers="none", scale=scale), a="numeric")
    x = pre.transform(train).dense[:, 0].astype(np.float64)
    assert check(x)


def test_constant_numeric_column_scales_safely() -> None:
    train = pd.DataFrame({"a": [3.0] * 10})
    dense = _fit(train, CleanSpec(), a="numeric").transform(train).dense
    assert np.isfinite(dense).all()
    np.testing.assert_allclose(dense[:, 0], 0.0)


# --- categorical -----------------------------------------------------------------------------


def test_onehot_for_low_cardinality_with_unseen_all_zero() -> None:
    train = pd.DataFrame({"c": ["red", "blue", "red", "green", " blue"]})
    pre = _fit(train, CleanSpec(), c="categorical")
    names = pre.feature_names
    assert sorted(names) == ["c=blue", "c=green", "c=red"]
    dense = pre.transform(pd.DataFrame({"c": ["green", "purple", "red ", None]})).dense
    assert dense.shape == (4, 3)
    assert dense[0, names.index("c=green")] == 1 and dense[0].sum() == 1
    assert dense[1].sum() == 0, "unseen category: all zeros"
    assert dense[2, names.index("c=red")] == 1 and dense[2].sum() == 1
    assert dense[3].sum() == 0, "missing, never seen missing in training"
    assert pre.transform(train).codes.shape == (5, 0)


def test_missing_category_becomes_its_own_category() -> None:
    train = pd.DataFrame({"c": ["a", None, "b", "a"]})
    pre = _fit(train, CleanSpec(), c="categorical")
    assert "c=__missing__" in pre.feature_names
    dense = pre.transform(pd.DataFrame({"c": [None]})).dense
    assert dense[0, pre.feature_names.index("c=__missing__")] == 1


def test_most_frequent_category_imputation() -> None:
    train = pd.DataFrame({"c": ["a", None, "b", "a"]})
    pre = _fit(train, CleanSpec(impute_categorical="most_frequent"), c="categorical")
    assert sorted(pre.feature_names) == ["c=a", "c=b"]
    dense = pre.transform(pd.DataFrame({"c": [None]})).dense
    assert dense[0, pre.feature_names.index("c=a")] == 1


def test_rare_categories_are_unseen() -> None:
    train = pd.DataFrame({"c": ["a", "a", "b", "b", "z"]})
    pre = _fit(train, CleanSpec(min_category_count=2), c="categorical")
    assert sorted(pre.feature_names) == ["c=a", "c=b"]
    assert pre.transform(pd.DataFrame({"c": ["z"]})).dense.sum() == 0


def test_boolean_columns_are_one_hot() -> None:
    train = pd.DataFrame({"b": ["yes", "no", "yes"]})
    pre = _fit(train, CleanSpec(), b="boolean")
    assert sorted(pre.feature_names) == ["b=no", "b=yes"]


def test_high_cardinality_gets_embedding_codes() -> None:
    cats = [f"k{i}" for i in range(6)]
    train = pd.DataFrame({"c": cats * 3, "a": np.arange(18.0)})
    pre = _fit(train, CleanSpec(onehot_max=4), c="categorical", a="numeric")
    assert pre.feature_names == ["a"], "embedded columns are not dense features"
    assert pre.embedding_cardinalities == [7]
    learned = pre.state_["embed"]["c"]["categories"]
    assert sorted(learned) == cats
    features = pre.transform(pd.DataFrame({"c": ["k3", "new", None, "k0"], "a": 0.0}))
    assert features.codes.dtype == np.int64
    assert features.codes.shape == (4, 1)
    codes = features.codes[:, 0].tolist()
    assert codes[0] == learned.index("k3") + 1
    assert codes[3] == learned.index("k0") + 1
    assert codes[1] == 0 and codes[2] == 0, "unseen and (never seen) missing map to code 0"
    train_codes = pre.transform(train).codes[:, 0]
    assert sorted(set(train_codes.tolist())) == [1, 2, 3, 4, 5, 6]


def test_onehot_max_is_inclusive() -> None:
    train = pd.DataFrame({"c": list("abcd") * 2})
    pre = _fit(train, CleanSpec(onehot_max=4), c="categorical")
    assert list(pre.state_["onehot"]) == ["c"] and pre.state_["embed"] == {}


def test_integer_categories_match_their_text_form() -> None:
    train = pd.DataFrame({"zip": [10115, 20095, 10115, 80331]})
    pre = _fit(train, CleanSpec(), zip="categorical")
    from_csv_text = pd.DataFrame({"zip": ["10115", " 80331", "99999"]})
    dense = pre.transform(from_csv_text).dense
    np.testing.assert_array_equal(dense.sum(axis=1), [1, 1, 0])


def test_integer_categories_survive_missing_values_in_train() -> None:
    train = pd.DataFrame({"zip": [1, 2, 3, np.nan, 1, 2]})
    pre = _fit(train, CleanSpec(), zip="categorical")
    dense = pre.transform(pd.DataFrame({"zip": [1, 2, 3]})).dense
    np.testing.assert_array_equal(dense.sum(axis=1), [1, 1, 1])


# --- text ------------------------------------------------------------------------------------

TRAIN_DOCS = [
    "the movie was great and fun",
    "the plot was boring",
    "great actors and a great plot",
    "boring movie, too long",
    "fun fun fun",
    "long and boring",
]


def test_text_tfidf_vocabulary_fitted_on_train_only() -> None:
    train = pd.DataFrame({"t": TRAIN_DOCS})
    pre = _fit(train, CleanSpec(), t="text")
    vocab = pre.state_["text"]["t"]["vocabulary"]
    # min_df=2: only words in at least two training documents
    assert set(vocab) == {"the", "movie", "was", "great", "and", "fun", "plot", "boring", "long"}
    other = pd.DataFrame({"t": ["zebra zebra xylophone", "great zebra", None]})
    dense = pre.transform(other).dense
    assert dense.shape == (3, len(vocab))
    assert pre.state_["text"]["t"]["vocabulary"] == vocab
    assert dense[0].sum() == 0 and dense[2].sum() == 0
    assert dense[1, vocab.index("great")] == pytest.approx(1.0)


def test_text_features_match_scikit_learn_tfidf() -> None:
    train = pd.DataFrame({"t": TRAIN_DOCS})
    pre = _fit(train, CleanSpec(), t="text")
    reference = TfidfVectorizer(max_features=256, min_df=2, sublinear_tf=True).fit(TRAIN_DOCS)
    probe = ["great great plot with the movie", "boring", "nothing known here"]
    ours = pre.transform(pd.DataFrame({"t": probe})).dense
    theirs = reference.transform(probe).toarray()
    order = [reference.vocabulary_[w] for w in pre.state_["text"]["t"]["vocabulary"]]
    np.testing.assert_allclose(ours, theirs[:, order], atol=1e-6)
    assert pre.feature_names[0].startswith("t:")


def test_text_without_repeated_words_has_no_features() -> None:
    train = pd.DataFrame({"t": ["alpha beta", "gamma delta", "epsilon zeta"], "a": [1.0, 2.0, 3.0]})
    pre = _fit(train, PLAIN, t="text", a="numeric")
    assert pre.state_["text"] == {}
    assert pre.transform(train).dense.shape == (3, 1)


# --- state and errors ------------------------------------------------------------------------


def _mixed(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "num": rng.normal(size=n) * 10,
            "cat": rng.choice(list("abc"), n),
            "big": rng.choice([f"u{i}" for i in range(30)], n),
            "flag": rng.choice(["yes", "no"], n),
            "txt": [" ".join(rng.choice(TRAIN_DOCS[i % 6].split(), 3)) for i in range(n)],
        }
    )
    frame.loc[::7, "num"] = np.nan
    frame.loc[3, "num"] = 1e4
    frame.loc[::11, "cat"] = None
    return frame


KINDS = {"num": "numeric", "cat": "categorical", "big": "categorical", "flag": "boolean"}


@pytest.mark.parametrize("outliers", ["clip", "flag"])
def test_state_dict_json_round_trip_gives_identical_output(outliers: str) -> None:
    train, other = _mixed(120, 0), _mixed(40, 1)
    schema = _schema(**KINDS, txt="text")
    pre = TabularPreprocessor(schema, CleanSpec(outliers=outliers, onehot_max=8)).fit(train)
    assert pre.state_["embed"], "the frame exercises embeddings"
    assert pre.state_["text"], "and text"
    restored = TabularPreprocessor.from_state(schema, json.loads(json.dumps(pre.state_dict())))
    a, b = pre.transform(other), restored.transform(other)
    np.testing.assert_array_equal(a.dense, b.dense)
    np.testing.assert_array_equal(a.codes, b.codes)
    assert a.dense.dtype == np.float32
    assert restored.feature_names == pre.feature_names
    assert restored.clean == pre.clean
    assert restored.report_ == pre.report_
    assert a.dense.shape == (40, len(pre.feature_names))


def test_transform_is_row_independent() -> None:
    train, other = _mixed(120, 0), _mixed(40, 1)
    pre = TabularPreprocessor(_schema(**KINDS, txt="text"), CleanSpec(onehot_max=8)).fit(train)
    whole = pre.transform(other).dense
    one = pre.transform(other.iloc[[5]]).dense
    np.testing.assert_allclose(one[0], whole[5], atol=1e-6)


def test_transform_on_frame_missing_a_column_names_it() -> None:
    train = _mixed(50, 0)
    pre = TabularPreprocessor(_schema(**KINDS), CleanSpec()).fit(train)
    with pytest.raises(DataError) as info:
        pre.transform(train.drop(columns=["cat", "flag"]))
    message = str(info.value)
    assert "'cat'" in message and "'flag'" in message
    assert "'num'" not in message.split("Expected")[0]
