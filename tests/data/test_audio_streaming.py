"""Audio on the streaming path: the in-memory path's spectrograms, batches and runs, with the
training statistics fitted in bounded chunks; and the free spoken digits streamed end to end."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
from audio_fixtures import write_tones
from streaming_checks import assert_same_ordered_rows, assert_same_shuffled_batches

import trainwise
from trainwise.data import audio
from trainwise.data.audio import AudioPreprocessor, audio_rows, audio_schema
from trainwise.data.prepare import load_frames, prepare
from trainwise.data.streaming import StreamingSplit, decoded_split, should_stream
from trainwise.data.target import TargetEncoder
from trainwise.errors import DataError
from trainwise.spec.model import AudioSpec, DataSpec

FSDD = Path("/work/shared/datasets/fsdd")


def _fitted(root: Path) -> tuple[pd.DataFrame, AudioPreprocessor, TargetEncoder]:
    rows = audio_rows(str(root), AudioSpec())
    assert rows is not None
    schema = audio_schema(rows, "label", "auto")
    return rows, AudioPreprocessor(schema, AudioSpec()).fit(rows), TargetEncoder(schema).fit(rows)


@pytest.mark.parametrize("workers", [0, 1])
def test_streamed_audio_batches_are_the_in_memory_batches(tmp_path: Path, workers: int) -> None:
    rows, pre, target = _fitted(write_tones(tmp_path, per_class=7))  # 21 clips, batch 5: tail 1
    memory = decoded_split(pre, target, rows, stream=False, workers=None)
    stream = decoded_split(pre, target, rows, stream=True, workers=workers)
    assert stream.input_shape == memory.input_shape == pre.input_shape
    assert_same_shuffled_batches(memory, stream, 5, 4)
    assert_same_ordered_rows(memory, stream, 8)


def test_band_statistics_fitted_in_chunks_equal_those_of_the_whole_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fit holds one chunk of clips at a time; the merged statistics are the whole set's."""
    rows, whole, _ = _fitted(write_tones(tmp_path, per_class=5))
    monkeypatch.setattr(audio, "FIT_CHUNK", 4)  # 15 clips: four chunks, the last of 3
    chunked = AudioPreprocessor(whole.schema, AudioSpec()).fit(rows)
    mel = whole._log_mel(rows["path"].tolist()).astype(np.float64)
    np.testing.assert_allclose(chunked.state_["mean"], mel.mean(axis=(0, 2)), rtol=1e-9)
    np.testing.assert_allclose(chunked.state_["std"], mel.std(axis=(0, 2)), rtol=1e-9)
    np.testing.assert_allclose(
        chunked.transform(rows).dense, whole.transform(rows).dense, atol=1e-6
    )


def test_loading_auto_streams_audio_above_the_memory_limit(tmp_path: Path) -> None:
    root = write_tones(tmp_path, per_class=4)
    _, pre, _ = _fitted(root)
    mels, frames = pre.input_shape
    rows = 2**20 // (mels * frames * 4) + 1  # just over 1 MiB of spectrograms
    assert should_stream(DataSpec(memory_limit_mb=1), pre, rows)
    assert not should_stream(DataSpec(memory_limit_mb=1), pre, rows - 1)
    assert not should_stream(DataSpec(memory_limit_mb=1, loading="memory"), pre, rows)
    spec = DataSpec(source=str(root), loading="stream", workers=0)
    data = prepare(spec, load_frames(spec), seed=0)
    assert isinstance(data.train, StreamingSplit) and data.summary["loading"] == "stream"
    assert data.input_shape == pre.input_shape
    tiny = DataSpec(source=str(root), memory_limit_mb=1)  # 12 clips: far below 1 MiB
    assert prepare(tiny, load_frames(tiny), seed=0).summary["loading"] == "memory"


def test_streamed_and_in_memory_audio_runs_end_with_the_same_weights(tmp_path: Path) -> None:
    """Two epochs with SpecAugment on (the default) and dropout: the same losses and metrics
    epoch by epoch and the same final weights, whichever path the clips take."""
    root = str(write_tones(tmp_path / "tones", per_class=8))
    common = {"epochs": 2, "batch_size": 8, "seed": 4, "save": False, "progress": False}
    memory = trainwise.fit(root, loading="memory", **common)
    stream = trainwise.fit(root, loading="stream", workers=1, **common)
    assert memory.summary["loading"] == "memory" and stream.summary["loading"] == "stream"
    assert memory.history == stream.history  # the spectrograms are bit-identical
    a, b = memory.model.state_dict(), stream.model.state_dict()
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-5, atol=1e-6, msg=name)
    assert memory.metrics["test"]["accuracy"] == stream.metrics["test"]["accuracy"]


def test_a_damaged_clip_met_while_streaming_names_the_file(tmp_path: Path) -> None:
    rows, pre, target = _fitted(write_tones(tmp_path, per_class=3))
    bad = tmp_path / "low" / "broken.wav"
    bad.write_bytes(b"RIFF....WAVEfmt not really")
    rows = pd.concat([rows, pd.DataFrame({"path": [str(bad)], "label": ["low"]})])
    split = decoded_split(pre, target, rows, stream=True, workers=1)
    with pytest.raises(DataError, match=r"broken\.wav"):
        list(split.batches(4))


def test_fitting_reads_rates_and_lengths_from_headers(tmp_path: Path) -> None:
    """An empty clip in the training rows is refused at the fit, by name, before any decoding."""
    rows, _, _ = _fitted(write_tones(tmp_path, per_class=2))
    sf.write(tmp_path / "low" / "silent.wav", np.zeros((0,), np.float32), 8000)
    rows = pd.concat([rows, pd.DataFrame({"path": [str(tmp_path / "low" / "silent.wav")]})])
    with pytest.raises(DataError, match=r"silent\.wav.*empty"):
        AudioPreprocessor(audio_schema(rows.fillna("low"), "label", "auto"), AudioSpec()).fit(rows)


@pytest.mark.slow
@pytest.mark.skipif(not FSDD.is_dir(), reason=f"the free spoken digit clips are not at {FSDD}")
def test_free_spoken_digits_streamed_reach_the_in_memory_accuracy() -> None:
    """fsdd (600 clips) streamed from disk with every other setting at its default: the
    in-memory path scores 1.000 on the test split (docs/audio.md)."""
    start = time.perf_counter()
    result = trainwise.fit(str(FSDD), loading="stream", save=False, progress=False)
    assert result.summary["loading"] == "stream"
    assert result.metrics["test"]["accuracy"] >= 0.95, result.metrics["test"]
    print(f"fsdd streamed: {result.metrics['test']}, {time.perf_counter() - start:.0f} s")
