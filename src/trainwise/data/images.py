"""Image preprocessing: decode, bring to one size and channel count, standardise per channel.

Fitted on the training rows only (like every preprocessor): the size and the channel count are
decided from a sample of training images when the spec leaves them on `auto`, and the
per-channel mean and standard deviation come from that sample. The fitted state is plain JSON,
so a saved model reads new image files (or arrays) exactly as training did.

`decode(values)` is the one function that turns a batch of paths or arrays into model input;
the in-memory path calls it once for a whole split, the streaming path once per batch in worker
processes, so both give bit-identical tensors.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from trainwise.data.schema import Column, Schema, infer_task
from trainwise.data.transforms import Features
from trainwise.errors import DataError
from trainwise.spec.model import ImageSpec

FIT_SAMPLE = 1000  # images read to fit size, channels and statistics (bounds fit time)
AUTO_MAX_SIDE, AUTO_MIN_SIDE = 64, 8
GREY_MODES = {"1", "L", "LA", "I", "I;16", "F"}
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601, as PIL's convert("L")


class ImagePreprocessor:
    """Paths or arrays in one column → float32 (n, c, h, w), standardised per channel."""

    def __init__(self, schema: Schema, spec: ImageSpec, column: str) -> None:
        self.schema = schema
        self.spec = spec
        self.column = column
        self.state_: dict[str, Any] = {}

    # ---- fitting ---------------------------------------------------------------------------
    def fit(self, frame: pd.DataFrame) -> ImagePreprocessor:
        n = len(frame)
        take = np.unique(np.linspace(0, n - 1, min(FIT_SAMPLE, n)).round()).astype(np.int64)
        sample = frame[self.column].iloc[take].tolist()  # only the sample becomes Python objects
        sizes, grey = zip(*(_probe(v) for v in sample), strict=True)
        size = self._size(sizes)
        channels = self.spec.channels if self.spec.channels != "auto" else (1 if all(grey) else 3)
        self.state_ = {
            "column": self.column,
            "size": list(size),
            "channels": int(channels),
            "resize": self.spec.resize,
            "mean": [0.0] * channels,
            "std": [1.0] * channels,
        }
        pixels = self.decode(sample).astype(np.float64)  # unstandardised: mean 0, std 1 above
        mean = pixels.mean(axis=(0, 2, 3))
        std = pixels.std(axis=(0, 2, 3))
        self.state_["mean"] = [float(m) for m in mean]
        self.state_["std"] = [float(s) if s > 1e-6 else 1.0 for s in std]
        return self

    def _size(self, sizes: tuple[tuple[int, int], ...]) -> tuple[int, int]:
        size = self.spec.size
        if isinstance(size, int):
            return size, size
        if isinstance(size, list):
            if len(size) != 2 or min(size) < 1:
                raise DataError(
                    f"data.image.size is {size}",
                    "one positive side, or [height, width]",
                    "set data.image.size=32 or data.image.size=[32,48]",
                )
            return int(size[0]), int(size[1])
        short = int(np.median([min(h, w) for h, w in sizes]))
        side = int(min(AUTO_MAX_SIDE, max(AUTO_MIN_SIDE, short)))
        return side, side

    # ---- applying --------------------------------------------------------------------------
    def transform(self, frame: pd.DataFrame) -> Features:
        if self.column not in frame.columns:
            raise DataError(
                f"the data lacks the image column {self.column!r}",
                f"a column {self.column!r} of image paths (or arrays), as in training",
                f"name the column of image paths {self.column!r}",
            )
        dense = self.decode(frame[self.column].tolist())
        return Features(dense, np.zeros((len(frame), 0), dtype=np.int64))

    def decode(self, values: list[Any]) -> np.ndarray:
        """Paths or arrays → float32 (n, c, h, w), standardised with the fitted statistics."""
        s = self.state_
        h, w = s["size"]
        out = np.empty((len(values), s["channels"], h, w), dtype=np.float32)
        for i, value in enumerate(values):  # per image: decoding is inherently per file
            out[i] = self._one(value)
        mean = np.asarray(s["mean"], dtype=np.float32)[None, :, None, None]
        std = np.asarray(s["std"], dtype=np.float32)[None, :, None, None]
        out -= mean
        out /= std
        return out

    def _one(self, value: Any) -> np.ndarray:
        s = self.state_
        h, w = s["size"]
        if isinstance(value, np.ndarray):
            return _array_to_chw(value, s["channels"], (h, w), s["resize"])
        if not isinstance(value, str):
            raise DataError(
                f"image value {value!r} is neither a file path nor an array",
                "a path to an image file",
                "fill in or drop rows without an image",
            )
        mode = "L" if s["channels"] == 1 else "RGB"
        image, _ = _open(value, draft=(mode, (w, h)))
        with image:
            image = image.convert(mode)
            image = _fit_size(image, (h, w), s["resize"])
            pixels = np.asarray(image, dtype=np.float32) / 255.0
        return pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)

    # ---- the Preprocessor surface ----------------------------------------------------------
    @property
    def input_shape(self) -> tuple[int, int, int]:
        h, w = self.state_["size"]
        return (self.state_["channels"], h, w)

    @property
    def model_inputs(self) -> dict[str, Any]:
        """What the model builder needs beyond the channel count: the image shape."""
        return {"image_shape": list(self.input_shape)}

    @property
    def embedding_cardinalities(self) -> list[int]:
        return []

    @property
    def feature_names(self) -> list[str]:
        return [self.column]

    def describe(self) -> dict[str, Any]:
        c, h, w = self.input_shape
        return {
            "image_column": self.column,
            "image_shape (c, h, w)": [c, h, w],
            "resize": self.state_["resize"],
            "scaling": "per-channel mean and standard deviation of training images",
        }

    def state_dict(self) -> dict[str, Any]:
        return {"kind": "image", "spec": self.spec.model_dump(), "state": self.state_}

    @classmethod
    def from_state(cls, schema: Schema, raw: dict[str, Any]) -> ImagePreprocessor:
        state = raw["state"]
        pre = cls(schema, ImageSpec.model_validate(raw["spec"]), state["column"])
        pre.state_ = state
        return pre


def image_schema(frame: pd.DataFrame, column: str, target: str | list[str], task: str) -> Schema:
    """The schema of image rows: one image column, the target, the task (no column inference:
    arrays are not hashable, and every other column is ignored)."""
    targets = [target] if isinstance(target, str) else list(target)
    absent = [t for t in targets if t not in frame.columns]
    if absent:
        raise DataError(
            f"target column {absent[0]!r} not in the data",
            f"one of the columns {', '.join(map(str, frame.columns[:40]))}",
            "pass the right --target (names are case-sensitive)",
        )
    task, classes = infer_task(frame, targets, task)
    values = frame[column]
    reason = (
        "image arrays"
        if len(values) and isinstance(values.iloc[0], np.ndarray)
        else ("image file paths")
    )
    n_missing = int(values.isna().sum())
    used = Column(column, "image", reason, n_missing, len(values) - n_missing)
    return Schema((used,), tuple(targets), task, tuple(classes))


def _open(
    path: str, draft: tuple[str, tuple[int, int]] | None = None
) -> tuple[Image.Image, tuple[int, int]]:
    """Open and decode one file; returns it and its full (height, width). `draft` lets JPEGs
    decode at a reduced scale still at least the requested size (up to 8× less work for large
    photos; other formats ignore it)."""
    try:
        image = Image.open(path)
        width, height = image.size
        if draft is not None:
            image.draft(*draft)
        image.load()  # decode now, so a truncated file fails here and names itself
    except FileNotFoundError:
        raise DataError(
            f"image file {path!r} does not exist",
            "paths to existing image files",
            "fix the path or restore the file",
        ) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise DataError(
            f"image file {path!r} cannot be read ({type(exc).__name__}: {exc})",
            "a valid PNG, JPEG, BMP, GIF, TIFF or WebP file",
            "replace or remove the damaged file",
        ) from None
    return image, (height, width)


def _probe(value: Any) -> tuple[tuple[int, int], bool]:
    """(height, width) and whether the image is grey, reading as little as possible."""
    if isinstance(value, np.ndarray):
        if value.ndim == 2 or value.shape[0] == 1:
            return value.shape[-2:], True
        return value.shape[-2:], False
    if not isinstance(value, str):
        raise DataError(
            f"image value {value!r} is neither a file path nor an array",
            "a path to an image file",
            "fill in or drop rows without an image",
        )
    image, size = _open(value, draft=("RGB", (32, 32)))  # colour is visible at any scale
    with image:
        if image.mode in GREY_MODES:
            return size, True
        rgb = np.asarray(image.convert("RGB"), dtype=np.int16)  # colour files of grey content
        grey = bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())
        return size, grey


def _fit_size(image: Image.Image, size: tuple[int, int], how: str) -> Image.Image:
    h, w = size
    width, height = image.size
    if (height, width) == (h, w):
        return image
    if how == "stretch":
        return image.resize((w, h), Image.Resampling.BILINEAR)
    scale = max(h / height, w / width)  # short side to size, then cut the centre
    new_w, new_h = max(w, round(width * scale)), max(h, round(height * scale))
    image = image.resize((new_w, new_h), Image.Resampling.BILINEAR)
    left, top = (new_w - w) // 2, (new_h - h) // 2
    return image.crop((left, top, left + w, top + h))


def _array_to_chw(value: np.ndarray, channels: int, size: tuple[int, int], how: str) -> np.ndarray:
    x = np.asarray(value, dtype=np.float32)
    x = x[None] if x.ndim == 2 else x
    if x.shape[0] != channels:
        x = np.repeat(x, 3, axis=0) if channels == 3 else np.tensordot(LUMA, x, axes=1)[None]
    if x.shape[1:] == size:
        return x
    # arrays of another size: through Pillow per channel (float mode), as files are
    planes = [np.asarray(_fit_size(Image.fromarray(plane, mode="F"), size, how)) for plane in x]
    return np.stack(planes).astype(np.float32)
