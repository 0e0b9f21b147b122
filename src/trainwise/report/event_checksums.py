"""CRC-32C checksums for TensorBoard's event files, computed in C.

TensorBoard frames every event it writes with two masked CRC-32C checksums, and computes them in
pure Python, a byte at a time: about 0.18 µs a byte, 110 µs for one histogram. The writer does
that on its background thread, holding the GIL, while the epoch's flush waits for it; for the
residual 1-D CNN's 58 histograms an epoch that was about 10 ms of each epoch, and the training
loop's own tensor operations queued behind it for the GIL. google-crc32c computes the same
checksum in C (0.5 µs for a histogram), so the record writer is handed that function instead,
when google-crc32c's C build is installed; otherwise TensorBoard's own stays.
"""

from __future__ import annotations

_MASK = 0xFFFFFFFF
_MASK_DELTA = 0xA282EAD8  # TFRecord's checksum mask


def masked_crc32c(data: bytes) -> int:
    """The TFRecord masked CRC-32C of `data`: the checksum rotated right by 15 bits, plus a
    constant, as TensorBoard's record writer computes it."""
    import google_crc32c

    crc = google_crc32c.value(data)
    return (((crc >> 15) | ((crc << 17) & _MASK)) + _MASK_DELTA) & _MASK


def use_c_checksums() -> bool:
    """Give TensorBoard's record writer `masked_crc32c` when it runs in C; True if it did."""
    try:
        import google_crc32c
        from tensorboard.summary.writer import record_writer
    except ImportError:
        return False
    if google_crc32c.implementation != "c" or not hasattr(record_writer, "masked_crc32c"):
        return False
    record_writer.masked_crc32c = masked_crc32c
    return True
