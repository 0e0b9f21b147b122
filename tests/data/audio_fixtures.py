"""Small generated WAV folders: tones of one pitch per class, at two sample rates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

PITCHES = {"low": 300.0, "mid": 900.0, "high": 2200.0}


def tone(freq: float, seconds: float, rate: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    wave = 0.4 * np.sin(2 * np.pi * freq * (1 + rng.uniform(-0.03, 0.03)) * t)
    return (wave + 0.02 * rng.normal(size=t.size)).astype(np.float32)


def write_tones(root: Path, per_class: int = 12, flat: bool = False, seed: int = 0) -> Path:
    """Tones of three pitches, 0.2-0.5 s, mostly 8 kHz, some 16 kHz stereo (to resample)."""
    rng = np.random.default_rng(seed)
    for label, freq in PITCHES.items():
        for i in range(per_class):
            rate = 16_000 if i % 4 == 0 else 8_000
            wave = tone(freq, rng.uniform(0.2, 0.5), rate, rng)
            if rate == 16_000:
                wave = np.stack([wave, wave], axis=1)
            folder = root if flat else root / label
            folder.mkdir(parents=True, exist_ok=True)
            sf.write(folder / f"{label}_{i}.wav", wave, rate, subtype="PCM_16")
    return root
