"""Peak memory of one training epoch on a WAV folder of N and 10·N clips.

The audio counterpart of `benchmarks.streaming_memory`: each run is a fresh process (peak RSS
only grows within a process) that fits a generated folder of 1-second 8 kHz clips (a tone whose
pitch is the class, in noise) for one epoch, on the streaming path (spectrograms computed per
batch in a worker) and on the in-memory path for contrast. Spectrograms are 64 mel bands × 101
frames (25.9 KB of float32 per clip). On the streaming path memory should stay flat as the
folder grows 10×; on the in-memory path it grows with the spectrograms of every split.

The run includes the fit (headers of every training clip, then one chunked pass for the band
statistics), one epoch, validation and the test scoring, so every stage's memory is counted.

Run: `.venv/bin/python -m benchmarks.audio_streaming_memory [--n 2000]`
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from benchmarks.memory_runs import child_epoch, measure, print_growth

RATE, SECONDS, MELS = 8000, 1.0, 64
PITCHES = (300.0, 700.0, 1300.0, 2500.0)


def write_folder(root: Path, n: int, seed: int = 0) -> Path:
    """`n` one-second 8 kHz PCM clips in 4 class folders (one pitch per class, in noise)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(RATE * SECONDS)) / RATE
    for i in range(n):
        label = i % len(PITCHES)
        pitch = PITCHES[label] * (1 + rng.uniform(-0.03, 0.03))
        wave = 0.3 * np.sin(2 * np.pi * pitch * t) + 0.05 * rng.normal(size=t.size)
        folder = root / f"class{label}"
        folder.mkdir(parents=True, exist_ok=True)
        sf.write(folder / f"{i:06d}.wav", wave.astype(np.float32), RATE, subtype="PCM_16")
    return root


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000, help="clips in the small folder")
    parser.add_argument("--child", nargs=2, metavar=("FOLDER", "LOADING"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_epoch(*args.child, channels=[16, 32])
        return
    sizes = (args.n, 10 * args.n)
    with tempfile.TemporaryDirectory() as tmp:
        folders = {n: write_folder(Path(tmp) / f"n{n}", n) for n in sizes}
        rows = measure("benchmarks.audio_streaming_memory", folders)
    frames = 1 + int(RATE * SECONDS) // (RATE // 100)  # 10 ms hop, centred frames
    decoded = {n: n * MELS * frames * 4 / 2**20 for n in sizes}
    print("| clips | loading | decoded MiB | peak RSS MiB | worker peak MiB | seconds | test acc |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['n']} | {r['loading']} | {decoded[r['n']]:.0f} | {r['peak_mib']} "
            f"| {r['worker_peak_mib']} | {r['seconds']} | {r['test_accuracy']:.3f} |"
        )
    print_growth(rows, *sizes)


if __name__ == "__main__":
    main()
