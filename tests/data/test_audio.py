"""Audio: finding clips, the mel filterbank, the fitted log-mel preprocessor, augmentation, and a
fit → save → predict round trip on generated tones (one pitch per class)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
from audio_fixtures import PITCHES, write_tones
from safetensors.torch import load_file

import trainwise
from resume_helpers import fit_stopped_at
from trainwise.data.audio import (
    AudioPreprocessor,
    audio_rows,
    audio_schema,
    mel_filterbank,
)
from trainwise.data.augment import build_augment, spec_augment, step_generator
from trainwise.data.prepare import load_frames, preprocessor_from_state
from trainwise.errors import DataError
from trainwise.spec.model import AudioSpec, AugmentSpec, DataSpec, Spec


def test_class_folders_and_flat_names_give_the_same_labels(tmp_path: Path) -> None:
    nested = audio_rows(str(write_tones(tmp_path / "n", per_class=2)), AudioSpec())
    flat = audio_rows(str(write_tones(tmp_path / "f", per_class=2, flat=True)), AudioSpec())
    assert nested is not None and flat is not None
    assert sorted(nested["label"]) == sorted(flat["label"]) == sorted([*PITCHES] * 2)
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in flat["path"])


def test_flat_names_without_a_label_are_refused(tmp_path: Path) -> None:
    tmp_path.joinpath("clips").mkdir()
    sf.write(tmp_path / "clips" / "recording.wav", np.zeros(800, np.float32), 8000)
    with pytest.raises(DataError, match="cannot read a label"):
        audio_rows(str(tmp_path / "clips"), AudioSpec())
    assert audio_rows(str(tmp_path / "missing"), AudioSpec()) is None


def test_csv_with_relative_wav_paths_is_audio(tmp_path: Path) -> None:
    write_tones(tmp_path / "clips", per_class=2, flat=True)
    files = sorted(p.name for p in (tmp_path / "clips").glob("*.wav"))
    table = pd.DataFrame(
        {"file": [f"clips/{f}" for f in files], "pitch": [f.split("_")[0] for f in files]}
    )
    table.to_csv(tmp_path / "list.csv", index=False)
    frames = load_frames(DataSpec(source=str(tmp_path / "list.csv")))
    assert frames.kind == "audio" and frames.target == "pitch"
    assert all(Path(p).is_file() for p in frames.frame["path"])


def test_mel_filterbank_is_the_slaney_construction() -> None:
    fb = mel_filterbank(16_000, 512, 40)
    assert fb.shape == (40, 257) and (fb >= 0).all()
    peaks = fb.argmax(axis=1)
    assert (np.diff(peaks) >= 0).all() and peaks[-1] > 200  # ordered, reaching high frequencies
    # Slaney normalisation: every triangle has unit area in Hz
    df = 16_000 / 512
    area = fb.sum(axis=1) * df
    assert np.allclose(area[5:], 1.0, atol=0.05)
    # below 1 kHz the mel scale is linear: centres equally spaced there
    centres = peaks[:8] * df
    assert np.ptp(np.diff(centres)) <= 2 * df


def _fit(tmp_path: Path, **spec: object) -> tuple[AudioPreprocessor, pd.DataFrame]:
    rows = audio_rows(str(write_tones(tmp_path, per_class=4)), AudioSpec())
    assert rows is not None
    pre = AudioPreprocessor(audio_schema(rows, "label", "auto"), AudioSpec(**spec)).fit(rows)
    return pre, rows


def test_preprocessor_defaults_come_from_the_training_clips(tmp_path: Path) -> None:
    pre, rows = _fit(tmp_path)
    s = pre.state_
    assert s["sample_rate"] == 8000  # the most common rate
    assert 0.2 <= s["duration"] <= 0.5 and s["n_fft"] == 256 and s["hop"] == 80
    dense = pre.transform(rows).dense
    assert dense.shape == (len(rows), 64, 1 + s["n_samples"] // 80)
    assert abs(float(dense.mean())) < 0.05 and abs(float(dense.std()) - 1) < 0.05


def test_resampled_clips_put_a_tone_in_the_same_band(tmp_path: Path) -> None:
    pre, rows = _fit(tmp_path, n_mels=32)
    dense = pre.transform(rows).dense
    rate = np.array([sf.info(p).samplerate for p in rows["path"]])
    raw = dense * np.asarray(pre.state_["std"])[:, None] + np.asarray(pre.state_["mean"])[:, None]
    band = raw.mean(axis=2).argmax(axis=1)
    for label in PITCHES:
        chosen = (rows["label"] == label).to_numpy()
        assert set(band[chosen & (rate == 16_000)]) <= set(band[chosen & (rate == 8_000)]) | {
            b + d for b in band[chosen & (rate == 8_000)] for d in (-1, 1)
        }


def test_saved_state_rebuilds_the_same_features(tmp_path: Path) -> None:
    pre, rows = _fit(tmp_path, sample_rate=11_025, duration=0.3, n_mels=20)
    raw = json.loads(json.dumps(pre.state_dict()))
    again = preprocessor_from_state(pre.schema, raw)
    np.testing.assert_array_equal(again.transform(rows).dense, pre.transform(rows).dense)
    assert raw["state"]["sample_rate"] == 11_025 and raw["state"]["n_mels"] == 20


def test_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    pre, _ = _fit(tmp_path)
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    with pytest.raises(DataError, match="cannot read audio file"):
        pre.transform(pd.DataFrame({"path": [str(bad)]}))


def test_spec_augment_is_seeded_and_masks_bands() -> None:
    x = torch.ones(8, 16, 40)
    a = spec_augment(x, step_generator(torch.device("cpu"), 1, 0, 0), 0, 0.0, 8, 4, 2)
    b = spec_augment(x, step_generator(torch.device("cpu"), 1, 0, 0), 0, 0.0, 8, 4, 2)
    c = spec_augment(x, step_generator(torch.device("cpu"), 1, 0, 1), 0, 0.0, 8, 4, 2)
    assert torch.equal(a, b) and not torch.equal(a, c)
    masked = a == 0
    assert masked.any() and not masked.all()
    # a frequency mask blanks whole bands (every frame), a time mask whole frames (every band)
    full_bands = masked.all(dim=2).sum()
    full_frames = masked.all(dim=1).sum()
    assert full_bands + full_frames > 0


def test_audio_augment_switches_off() -> None:
    assert build_augment(AugmentSpec(enabled=False), "audio", 0) is None
    off = AugmentSpec(shift=0, noise=0, time_mask=0, freq_mask=0)
    assert build_augment(off, "audio", 0) is None
    augment = build_augment(AugmentSpec(), "audio", 0)
    assert augment is not None
    x = torch.randn(4, 8, 30)
    assert not torch.equal(augment((x,), 0, 0)[0], x)


def test_fit_save_and_predict_in_a_new_process(tmp_path: Path, run_cli) -> None:
    write_tones(tmp_path / "tones", per_class=12)
    result = run_cli(
        "fit",
        "--data",
        tmp_path / "tones",
        "--quiet",
        "train.epochs=15",
        "output.dir=run",
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] >= 0.75
    bundle = json.loads((tmp_path / "run" / "model" / "bundle.json").read_text())
    assert bundle["preprocessor"]["kind"] == "audio" and bundle["model"]["in_channels"] == 64
    out = run_cli("predict", "run", "--data", "run/test.csv", "--out", "pred.csv", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    pred = pd.read_csv(tmp_path / "pred.csv")
    test = pd.read_csv(tmp_path / "run" / "test.csv")
    assert len(pred) == len(test)
    assert (pred["prediction"] == test["label"]).mean() == pytest.approx(
        metrics["test"]["accuracy"]
    )


def test_spec_sections_round_trip() -> None:
    spec = Spec.model_validate({"data": {"audio": {"n_mels": 40}, "augment": {"masks": 1}}})
    assert spec.data.audio.n_mels == 40 and spec.data.augment.masks == 1
    with pytest.raises(ValueError):
        Spec.model_validate({"data": {"audio": {"nmels": 40}}})


def test_interrupted_audio_run_resumes_exactly(tmp_path: Path) -> None:
    """Augmented audio batches are seeded per (epoch, step): a resumed run ends bit for bit
    where an uninterrupted one does."""
    root = str(write_tones(tmp_path / "tones", per_class=8))
    settings = {"epochs": 3, "batch_size": 8, "progress": False, "deterministic": True}
    trainwise.fit(root, output={"dir": str(tmp_path / "straight")}, **settings)
    stopped = fit_stopped_at(3, root, output={"dir": str(tmp_path / "cut")}, **settings)
    trainwise.fit(resume=stopped.run_folder)
    a = load_file(str(tmp_path / "straight" / "model" / "weights.safetensors"))
    b = load_file(str(tmp_path / "cut" / "model" / "weights.safetensors"))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_trained_model_reads_a_folder_of_clips_as_training_did(tmp_path: Path) -> None:
    # predict / evaluate on a folder used to read it as an image folder ("holds no images")
    write_tones(tmp_path / "tones", per_class=6, flat=True)
    run = trainwise.fit(
        str(tmp_path / "tones"), epochs=1, output={"dir": str(tmp_path / "run")}, progress=False
    )
    model = trainwise.load(run.path)
    scores = model.evaluate(str(tmp_path / "tones"))
    assert scores["n"] == 18
    new = tmp_path / "new"
    new.mkdir()
    for f in sorted((tmp_path / "tones").glob("*_1.wav")):
        (new / f"clip{f.name.replace('_', '')}").write_bytes(f.read_bytes())  # no label
    frame = model.predict_frame(str(new))
    assert [Path(p).name for p in frame["path"]] == sorted(p.name for p in new.iterdir())
    assert len(model.predict(str(new))) == 3
    with pytest.raises(DataError, match="cannot read a label"):
        model.evaluate(str(new))
    # a table of relative clip paths in another column is read from the table's folder
    table = pd.DataFrame({"clip": [f"new/{p.name}" for p in sorted(new.iterdir())]})
    table.to_csv(tmp_path / "list.csv", index=False)
    assert list(model.predict(str(tmp_path / "list.csv"))) == list(frame["prediction"])
