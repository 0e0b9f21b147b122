"""TensorBoard's event checksums computed in C: the same numbers as TensorBoard's own, and the
event files a run writes carry valid ones."""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest

import trainwise
from conftest import TINY, binary_frame
from trainwise.report.event_checksums import masked_crc32c, use_c_checksums

reference = pytest.importorskip("tensorboard.compat.tensorflow_stub.pywrap_tensorflow")


def test_the_checksum_is_tensorboards_for_any_bytes():
    rng = random.Random(0)
    for size in [0, 1, 2, 3, 7, 8, 9, 63, 64, 65, 600, 4097]:
        data = bytes(rng.randrange(256) for _ in range(size))
        assert masked_crc32c(data) == reference.masked_crc32c(data), size


def test_a_run_writes_its_events_with_them_and_valid(tmp_path: Path, monkeypatch):
    from tensorboard.summary.writer import record_writer

    monkeypatch.setattr(record_writer, "masked_crc32c", reference.masked_crc32c)
    trainwise.fit(binary_frame(200), "y", epochs=2, output={"dir": str(tmp_path / "run")}, **TINY)
    assert record_writer.masked_crc32c is masked_crc32c  # handed over by the run's writer
    assert use_c_checksums()  # google-crc32c's C build is a dependency
    (events,) = (tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*")
    data, at, records = events.read_bytes(), 0, 0
    while at < len(data):  # TFRecord: length, its checksum, the event, the event's checksum
        header = data[at : at + 8]
        (length,) = struct.unpack("<Q", header)
        (header_crc,) = struct.unpack("<I", data[at + 8 : at + 12])
        event = data[at + 12 : at + 12 + length]
        (event_crc,) = struct.unpack("<I", data[at + 12 + length : at + 16 + length])
        assert header_crc == reference.masked_crc32c(header)
        assert event_crc == reference.masked_crc32c(event)
        at, records = at + 16 + length, records + 1
    assert at == len(data) and records > 10  # scalars and histograms of two epochs
