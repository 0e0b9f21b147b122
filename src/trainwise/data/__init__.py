"""Data: sources, schema inference, cleaning, splits, preprocessing and in-memory batches."""
