"""Audio: WAV files → log-mel spectrograms, fitted on the training clips and saved as JSON.

A dataset is a table of (path, label) rows, so splitting, stratification, the Predictor and
`trainwise predict` work on audio exactly as on tables; only the preprocessor reads the files.
Rows come from a folder of class sub-folders (`dog/1.wav`), a flat folder whose file names
start with the label (`7_jackson_3.wav`, `data.audio.label_pattern`), or a CSV with a column of
.wav paths (relative paths are read from the CSV's folder).

Pipeline per clip: read (soundfile, any PCM/float WAV), average channels to mono, resample to
one rate with a polyphase filter (scipy), pad or trim to one length (centred), then a power STFT
(torch.stft, Hann window), a mel filterbank, log, and a per-mel-band standardisation whose mean
and deviation come from the training clips. The output is (n, n_mels, frames): mel bands become
the input channels of a 1-D CNN over time.

The mel filterbank is the standard Slaney construction (librosa's default: linear below 1 kHz,
logarithmic above, area-normalised triangles), written out here in a dozen lines rather than
taken from librosa: librosa would pull in numba and llvmlite (tens of MB, slow first import)
for one matrix, and torchaudio does not load with our torch. `test_audio.py` checks the matrix
against its defining properties.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from trainwise.data.schema import Column, Schema, infer_task
from trainwise.data.transforms import Features
from trainwise.errors import DataError
from trainwise.spec.model import AudioSpec

PATH, LABEL = "path", "label"
AUDIO_SUFFIXES = (".wav", ".wave")
MAX_DEFAULT_RATE = 16_000
MAX_DEFAULT_SECONDS = 10.0
DURATION_PERCENTILE = 95
LOG_FLOOR = 1e-6
STFT_CHUNK = 256  # clips per STFT call: bounds peak memory on long datasets
# clips per chunk of the statistics pass of `fit`: smaller chunks keep the heap from growing
# with the number of chunks (measured: +55 MiB peak at 64 for 700 or 2800 clips, +125/+170 at 256)
FIT_CHUNK = 64


# ---- finding the clips --------------------------------------------------------------------
def audio_rows(source: str, spec: AudioSpec) -> pd.DataFrame | None:
    """(path, label) rows for a folder of WAV files; None when `source` is not such a folder."""
    try:
        root = Path(source).expanduser()
        if not root.is_dir():
            return None
    except (OSError, RuntimeError, ValueError):  # "~nobody", NUL bytes, names too long
        return None
    files = _audio_files(root)
    if not files:  # not audio: perhaps images
        return None
    nested = [p for p in files if p.parent != root]
    if nested:
        labels = [p.relative_to(root).parts[0] for p in nested]
        return pd.DataFrame({PATH: [str(p.resolve()) for p in nested], LABEL: labels})
    pattern = re.compile(spec.label_pattern)
    matches = [pattern.search(p.name) for p in files]
    unmatched = [p.name for p, m in zip(files, matches, strict=True) if not m or not m.groups()]
    if unmatched:
        raise DataError(
            f"cannot read a label from file name(s) such as {unmatched[0]!r} "
            f"(pattern {spec.label_pattern!r})",
            "class sub-folders, or file names whose label the pattern's first group captures",
            "move the files into one folder per class, set data.audio.label_pattern, or "
            "list path and label in a CSV",
        )
    labels = [m.group(1) for m in matches if m]
    return pd.DataFrame({PATH: [str(p.resolve()) for p in files], LABEL: labels})


def rows_for_prediction(source: str | Path, spec: AudioSpec, labelled: bool) -> pd.DataFrame:
    """The rows of a folder of WAV files given to a trained audio model (predict, evaluate).

    Read as in training, so `evaluate` gets the labels from class sub-folders or file names.
    Prediction needs no labels: a flat folder whose names carry none is listed as it is
    (sorted by path), and the rows keep the `path` column so each prediction can be matched
    to its file.
    """
    root = Path(source).expanduser()
    try:
        rows = audio_rows(str(root), spec)
    except DataError:
        if labelled:
            raise
        rows = None
    if rows is None:
        files = _audio_files(root)
        if not files:
            raise DataError(
                f"folder {str(root)!r} holds no audio files",
                f"a folder of {', '.join(AUDIO_SUFFIXES)} files (class sub-folders or flat)",
                "point --data to the folder of clips, or to a table with a 'path' column",
            )
        rows = pd.DataFrame({PATH: [str(p.resolve()) for p in files]})
    return rows


def table_for_prediction(frame: pd.DataFrame, source: str | Path) -> pd.DataFrame:
    """A table given to a trained audio model: its column of .wav paths becomes `path`, with
    relative paths read from the table's folder, exactly as in training."""
    if PATH in frame.columns:
        column: str | None = PATH
    else:
        column = wav_column(frame)
    if column is None:
        return frame  # the preprocessor names the missing column
    return rows_from_table(frame, column, Path(source).expanduser().resolve().parent)


def _audio_files(root: Path) -> list[Path]:
    """`sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)`, without a
    `Path` per file of the tree: every folder given to `fit` is first looked at here, and for an
    image folder of 20000 files rglob's objects (and the set it keeps of them) left ~9 MiB of
    fragmented heap behind. Like rglob, symbolic links to folders are listed, not followed."""
    found = []
    for folder, dirs, names in os.walk(root):
        found += [Path(folder, n) for n in (*dirs, *names) if _suffix(n) in AUDIO_SUFFIXES]
    return sorted(found)


def _suffix(name: str) -> str:
    """`PurePath(name).suffix.lower()`: from the last dot, unless it starts or ends the name."""
    i = name.rfind(".")
    return name[i:].lower() if 0 < i < len(name) - 1 else ""


def wav_column(frame: pd.DataFrame) -> str | None:
    """The column of a table that lists audio files (most values end in .wav), if any."""
    for name, dtype in frame.dtypes.items():
        if dtype.kind in "biufcmM":  # numbers, booleans, times: never paths
            continue
        values = frame[name].dropna()
        if len(values) == 0:
            continue
        ends = values.astype(str).str.strip().str.lower().str.endswith(AUDIO_SUFFIXES)
        if ends.mean() >= 0.9:
            return str(name)
    return None


def rows_from_table(frame: pd.DataFrame, column: str, base: str | Path) -> pd.DataFrame:
    """A CSV's path column as absolute paths (relative ones are read from the CSV's folder),
    renamed to `path` so the preprocessor finds it in training and prediction alike."""
    base = Path(base).resolve()
    paths = frame[column].astype("string").str.strip()
    resolved = [str(p) if p is pd.NA or Path(p).is_absolute() else str(base / p) for p in paths]
    out = frame.drop(columns=[column]).copy()
    out.insert(0, PATH, resolved)
    return out


def audio_schema(frame: pd.DataFrame, target: str, task: str) -> Schema:
    """The schema of (path, label) rows: the path is the one input, read by the preprocessor."""
    task, classes = infer_task(frame, [target], task)
    path = Column(PATH, "audio", "paths of audio files", int(frame[PATH].isna().sum()), 0)
    others = tuple(
        Column(str(c), "identifier", "not used for audio", 0, 0)
        for c in frame.columns
        if c not in (PATH, target)
    )
    return Schema((path, *others), (target,), task, tuple(classes))


# ---- reading and resampling ---------------------------------------------------------------
def _unreadable(path: str, exc: Exception) -> DataError:
    return DataError(
        f"cannot read audio file {path!r} ({type(exc).__name__}: {str(exc)[:120]})",
        "a readable WAV file (PCM or float)",
        "check the path exists and the file is a valid .wav",
    )


def _empty(path: str) -> DataError:
    return DataError(f"audio file {path!r} is empty", "at least one sample", "remove it")


def read_wav(path: str) -> tuple[np.ndarray, int]:
    """Mono float32 samples in [-1, 1] and the file's sample rate."""
    import soundfile as sf

    try:
        data, rate = sf.read(path, dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises its own LibsndfileError, RuntimeError, OSError
        raise _unreadable(path, exc) from None
    if data.shape[0] == 0:
        raise _empty(path)
    return data.mean(axis=1), int(rate)


def probe_wav(path: str) -> tuple[int, int]:
    """(samples, sample rate) from the file's header alone: fitting the rate and the duration
    needs no decoding, so it costs a header read per clip and no memory per clip."""
    import soundfile as sf

    try:
        info = sf.info(path)
    except Exception as exc:
        raise _unreadable(path, exc) from None
    if info.frames <= 0:
        raise _empty(path)
    return int(info.frames), int(info.samplerate)


def resample(x: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    """Polyphase resampling (scipy), which low-pass filters before decimating (no aliasing)."""
    if rate == target_rate:
        return x
    from scipy.signal import resample_poly

    g = math.gcd(rate, target_rate)
    return resample_poly(x, target_rate // g, rate // g).astype(np.float32)


def fit_length(x: np.ndarray, n: int) -> np.ndarray:
    """Pad with silence or trim, keeping the clip centred."""
    if len(x) >= n:
        start = (len(x) - n) // 2
        return x[start : start + n]
    left = (n - len(x)) // 2
    return np.pad(x, (left, n - len(x) - left))


# ---- the mel spectrogram ------------------------------------------------------------------
def _hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    f = np.asarray(f, dtype=np.float64)
    linear = f / (200.0 / 3)
    log = 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(f >= 1000.0, log, linear)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    return np.where(m >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0)), m * 200.0 / 3)


def mel_filterbank(rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) Slaney mel filters from 0 Hz to Nyquist (librosa's default).

    >>> mel_filterbank(8000, 256, 32).shape
    (32, 129)
    """
    freqs = np.linspace(0, rate / 2, n_fft // 2 + 1)
    edges = _mel_to_hz(np.linspace(0.0, float(_hz_to_mel(rate / 2)), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - freqs[None, :]
    rising, falling = -ramps[:-2] / widths[:-1, None], ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    return weights * (2.0 / (edges[2:] - edges[:-2]))[:, None]  # equal area per filter


def log_mel(clips: np.ndarray, fbank: torch.Tensor, n_fft: int, hop: int) -> np.ndarray:
    """(n, samples) → (n, n_mels, frames) log mel power, via torch.stft in chunks."""
    window = torch.hann_window(n_fft)
    out = []
    for start in range(0, len(clips), STFT_CHUNK):
        x = torch.from_numpy(np.ascontiguousarray(clips[start : start + STFT_CHUNK]))
        spec = torch.stft(x, n_fft, hop, window=window, center=True, return_complex=True)
        power = spec.real.square() + spec.imag.square()
        out.append(torch.log(fbank @ power + LOG_FLOOR).numpy())
    return np.concatenate(out) if out else np.zeros((0, fbank.shape[0], 0), dtype=np.float32)


# ---- the preprocessor ---------------------------------------------------------------------
class AudioPreprocessor:
    """Reads the clips a frame lists and returns standardised log-mel spectrograms.

    `decode(paths)` is the one function from files to model input: the in-memory path calls it
    for a whole split (in chunks of `STFT_CHUNK` clips), the streaming path once per batch in
    worker processes (`data/streaming.py`). Each clip is processed alone (the STFT and the
    filterbank product are per clip), so both give bit-identical spectrograms.

    Fitting never holds the training set: the rate and the duration come from the files'
    headers, the per-band statistics from one pass over every training clip, `FIT_CHUNK` at a
    time (merged with Chan's parallel update in float64), so a fit is the same, and as cheap in
    memory, on both loading paths.
    """

    column = PATH  # the column `decode` reads (the streaming path's `Decoder` protocol)

    def __init__(self, schema: Schema, spec: AudioSpec) -> None:
        self.schema = schema
        self.spec = spec
        self.state_: dict[str, Any] = {}

    def fit(self, frame: pd.DataFrame) -> AudioPreprocessor:
        paths = self._paths(frame)
        probes = [probe_wav(p) for p in paths]
        rates = pd.Series([r for _, r in probes])
        rate = self.spec.sample_rate or min(int(rates.mode().iloc[0]), MAX_DEFAULT_RATE)
        seconds = self.spec.duration
        if seconds is None:
            lengths = np.array([n / r for n, r in probes])
            seconds = min(float(np.percentile(lengths, DURATION_PERCENTILE)), MAX_DEFAULT_SECONDS)
        n_fft = self.spec.n_fft or 2 ** round(math.log2(0.025 * rate))
        hop = self.spec.hop or max(1, round(0.010 * rate))
        self.state_ = {
            "sample_rate": rate,
            "duration": round(seconds, 4),
            "n_samples": max(n_fft, round(seconds * rate)),
            "n_mels": self.spec.n_mels,
            "n_fft": n_fft,
            "hop": hop,
        }
        mean, std = self._band_statistics(paths)
        self.state_["mean"] = mean.tolist()
        self.state_["std"] = np.where(std > 1e-6, std, 1.0).tolist()
        return self

    def _band_statistics(self, paths: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation of each mel band over every frame of every clip, one
        chunk of clips in memory at a time."""
        count, mean, m2 = 0, np.zeros(self.spec.n_mels), np.zeros(self.spec.n_mels)
        for start in range(0, len(paths), FIT_CHUNK):
            mel = self._log_mel(paths[start : start + FIT_CHUNK]).astype(np.float64)
            n = mel.shape[0] * mel.shape[2]
            chunk_mean = mel.mean(axis=(0, 2))
            chunk_m2 = ((mel - chunk_mean[None, :, None]) ** 2).sum(axis=(0, 2))
            delta, total = chunk_mean - mean, count + n
            mean = mean + delta * (n / total)
            m2 = m2 + chunk_m2 + delta**2 * (count * n / total)
            count = total
        return mean, np.sqrt(m2 / max(count, 1))

    def transform(self, frame: pd.DataFrame) -> Features:
        paths = self._paths(frame)
        dense = np.empty((len(paths), *self.input_shape), dtype=np.float32)
        for start in range(0, len(paths), STFT_CHUNK):  # raw waves of one chunk at a time
            dense[start : start + STFT_CHUNK] = self.decode(paths[start : start + STFT_CHUNK])
        return Features(dense, np.zeros((len(frame), 0), dtype=np.int64))

    def decode(self, values: list[Any]) -> np.ndarray:
        """Paths → float32 (n, n_mels, frames), standardised with the training statistics."""
        mel = self._log_mel([str(v) for v in values])
        mel -= np.asarray(self.state_["mean"], dtype=np.float32)[None, :, None]
        mel /= np.asarray(self.state_["std"], dtype=np.float32)[None, :, None]
        return mel

    @property
    def input_shape(self) -> tuple[int, int]:
        """(n_mels, frames) of one clip: torch.stft with centre padding gives 1 + n // hop."""
        s = self.state_
        return (s["n_mels"], 1 + s["n_samples"] // s["hop"])

    def describe(self) -> dict[str, Any]:
        s = self.state_
        return {
            "audio": {k: s[k] for k in ("sample_rate", "duration", "n_mels", "n_fft", "hop")},
            "spectrogram_shape": list(self.input_shape),
            "scaling": "per mel band mean and standard deviation (train)",
        }

    def state_dict(self) -> dict[str, Any]:
        return {"kind": "audio", "spec": self.spec.model_dump(), "state": self.state_}

    @classmethod
    def from_state(cls, schema: Schema, raw: dict[str, Any]) -> AudioPreprocessor:
        pre = cls(schema, AudioSpec.model_validate(raw["spec"]))
        pre.state_ = raw["state"]
        return pre

    @property
    def embedding_cardinalities(self) -> list[int]:
        return []

    @property
    def feature_names(self) -> list[str]:
        return [f"mel{i}" for i in range(self.state_["n_mels"])]

    def _paths(self, frame: pd.DataFrame) -> list[str]:
        if PATH not in frame.columns:
            raise DataError(
                f"the rows lack the {PATH!r} column of audio files",
                f"a {PATH!r} column (or the path column used in training)",
                "pass a CSV with the paths of the .wav files in a column named 'path'",
            )
        paths = frame[PATH]
        if paths.isna().any():
            raise DataError(
                f"{int(paths.isna().sum())} row(s) have no audio path",
                "a .wav path on every row",
                "fill in or drop those rows",
            )
        return [str(p) for p in paths]

    def _log_mel(self, paths: list[str]) -> np.ndarray:
        """Unstandardised log-mel spectrograms of the clips: read, resample, pad/trim, STFT."""
        s = self.state_
        clips = np.zeros((len(paths), s["n_samples"]), dtype=np.float32)
        for i, path in enumerate(paths):  # per clip: reading is inherently per file
            x, rate = read_wav(path)
            clips[i] = fit_length(resample(x, rate, s["sample_rate"]), s["n_samples"])
        fbank = torch.from_numpy(
            mel_filterbank(s["sample_rate"], s["n_fft"], s["n_mels"]).astype(np.float32)
        )
        return log_mel(clips, fbank, s["n_fft"], s["hop"])
