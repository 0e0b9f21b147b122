"""The run spec: one typed object that says everything a run does.

Every field has a default that follows established practice, so an empty spec plus a dataset is a
complete run. The spec is plain data (it round-trips through YAML) and is saved in every run folder,
which is what makes a run reproducible. Unknown keys are rejected, never ignored: a misspelt
`train.lrr` would otherwise silently train with the default learning rate.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    ValidationError,
    field_validator,
    model_validator,
)

from trainwise.spec.space import flatten_space, parse_space

Task = Literal["auto", "binary", "multiclass", "regression", "multilabel"]
ColumnKind = Literal[
    "numeric", "categorical", "boolean", "text", "array", "identifier", "constant", "image"
]
Activation = Literal["relu", "leaky_relu", "gelu", "silu", "tanh", "sigmoid", "selu"]


class Section(BaseModel):
    """Base of every spec section: strict keys, validated on assignment, documented fields."""

    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, use_attribute_docstrings=True
    )


class SplitSpec(Section):
    train: float = Field(0.7, gt=0, lt=1)
    """Fraction of rows used for training."""
    validation: float = Field(0.2, ge=0, lt=1)
    """Fraction of rows used for validation (early stopping, model selection)."""
    test: float = Field(0.1, ge=0, lt=1)
    """Fraction of rows held out and evaluated once, at the end."""
    stratify: bool = True
    """Keep class proportions equal across splits (classification only)."""
    group: str | None = None
    """Column whose values never span two splits (e.g. a patient or user id)."""
    seed: int | None = None
    """Seed of the split; defaults to `train.seed`."""

    @model_validator(mode="after")
    def _fractions_sum_to_one(self) -> SplitSpec:
        total = self.train + self.validation + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(
                f"split fractions train + validation + test must sum to 1, got {total:g}"
            )
        return self


class CleanSpec(Section):
    duplicates: bool = True
    """Drop exact duplicate rows before splitting (they would leak across splits)."""
    impute: Literal["median", "mean", "none"] = "median"
    """Fill missing numeric values with this statistic of the training split."""
    impute_categorical: Literal["missing", "most_frequent"] = "missing"
    """Missing categories become their own category, or the training split's most frequent."""
    missing_indicator: bool = True
    """Add a 0/1 column per numeric feature that had missing values in training."""
    outliers: Literal["clip", "flag", "none"] = "clip"
    """Clip numeric values beyond the IQR fences, add a 0/1 flag column, or leave them."""
    outlier_iqr: float = Field(3.0, gt=0)
    """Fence distance in interquartile ranges (3.0 = Tukey's 'far out' values)."""
    scale: Literal["standard", "minmax", "robust", "none"] = "standard"
    """Numeric scaling, fitted on the training split only."""
    onehot_max: int = Field(16, ge=2)
    """Categoricals with at most this many categories are one-hot encoded; larger ones get a
    learned embedding."""
    min_category_count: int = Field(1, ge=1)
    """Categories seen fewer times than this in training are treated as unseen."""


class AugmentSpec(Section):
    """Augmentation of training batches only (never validation or test), drawn on the device
    from a seed per step, so a resumed run sees the same augmented batches."""

    enabled: bool = True
    """Augment when the data kind has a sensible default (sequences: shifts and noise)."""
    shift: Annotated[float, Field(ge=0, lt=1)] | Literal["auto"] = "auto"
    """Sequences and audio: shift each example in time by up to this fraction of its length
    (zero-filled). `auto`: 0.05 for sequences, whose fixed windows carry signal up to their
    edges, and 0.1 for audio, whose centred clips mostly carry silence there."""
    noise: float = Field(0.05, ge=0)
    """Sequences and tables: Gaussian noise with this standard deviation (in scaled units);
    tables get it only when `tabular` is true."""
    tabular: bool = False
    """Also add `noise` to tabular features (off by default: it rarely helps tables)."""
    time_mask: float = Field(0.1, ge=0, lt=1)
    """Audio: mask (set to the mean) one band of up to this fraction of the frames per example,
    `masks` times (SpecAugment time masking)."""
    freq_mask: float = Field(0.1, ge=0, lt=1)
    """Audio: mask one band of up to this fraction of the mel bins per example, `masks` times
    (SpecAugment frequency masking)."""
    masks: int = Field(2, ge=0)
    """Audio: how many time masks and how many frequency masks per example."""

    flip: bool = False
    """Images: mirror left-right with probability 0.5. Off by default because it changes the
    meaning of text, digits and other oriented content; turn it on for photos of objects."""
    rotation: float = Field(10.0, ge=0, le=180)
    """Images: rotate by up to this many degrees either way."""
    crop_scale: float = Field(0.85, gt=0, le=1)
    """Images: random resized crop keeping at least this fraction of the area (1 = no crop)."""
    translate: float = Field(0.1, ge=0, lt=1)
    """Images: shift by up to this fraction of the width and height."""
    color_jitter: float = Field(0.1, ge=0, lt=1)
    """Images: brightness, contrast (and, in colour, saturation) scaled by up to 1 ± this."""
    cutout: float = Field(0.0, ge=0, lt=1)
    """Images: blank one square whose side is this fraction of the image (0 = off)."""
    mixup: float = Field(0.0, ge=0)
    """Classification images: Mixup with Beta(alpha, alpha) weights, alpha = this (0 = off;
    0.2 is typical)."""
    cutmix: float = Field(0.0, ge=0)
    """Classification images: CutMix with Beta(alpha, alpha) area, alpha = this (0 = off; 1.0 is
    typical). With both on, each batch uses one of the two at random."""
    token_dropout: float = Field(0.1, ge=0, lt=1)
    """Text: replace each token by the unknown token with this probability."""
    token_swap: float = Field(0.0, ge=0, lt=1)
    """Text: swap each token with its right neighbour with this probability."""


class AudioSpec(Section):
    """Audio (data.kind=audio): how WAV files become log-mel spectrograms. Settings left empty
    are chosen from the training clips and saved with the model."""

    sample_rate: int | None = Field(None, ge=1000)
    """Resample every clip to this rate (Hz); default: the most common rate of the training
    clips, at most 16000."""
    duration: float | None = Field(None, gt=0)
    """Clip length in seconds after padding/trimming (centred); default: the 95th percentile
    of the training clips' lengths, at most 10 s."""
    n_mels: int = Field(64, ge=4)
    """Mel bands of the spectrogram (the CNN's input channels)."""
    n_fft: int | None = Field(None, ge=16)
    """FFT size; default: the power of two nearest to a 25 ms window."""
    hop: int | None = Field(None, ge=1)
    """Hop between frames in samples; default: 10 ms."""
    label_pattern: str = r"^([^_\-\s.]+)[_\-\s]"
    """For a flat folder of WAV files: a regular expression whose first group is the label,
    matched against the file name (default: the text before the first `_` or `-`, as in
    `7_jackson_3.wav`). Class sub-folders need no pattern."""


class TimeseriesSpec(Section):
    """Time series (data.kind=timeseries): a table with a time column and one or more series,
    turned into (lookback → horizon) forecasting windows in time order."""

    time: str | None = None
    """The time column; default: the one column that parses as dates/times."""
    series: list[str] | None = None
    """Input series; default: every numeric column except the time column."""
    lookback: int | None = Field(None, ge=2)
    """Past steps the model sees; default: twice the season when the season is at most 32
    steps, else 32, and at most a quarter of the training part."""
    horizon: int = Field(1, ge=1)
    """Steps ahead to forecast (one output per step and target series)."""
    season: int | None = Field(None, ge=1)
    """Seasonal period in steps (seasonal-naive baseline, MASE); default: detected from the
    time step and the autocorrelation of the training part (1 when none is found)."""


class ImageSpec(Section):
    """How image files (or arrays) become tensors of one size."""

    size: int | list[int] | None = None
    """Side (or [height, width]) every image is brought to. Default: the median short side of
    a sample of training images, at most 64 and at least 8."""
    channels: Literal["auto", 1, 3] = "auto"
    """1 (grey) or 3 (RGB). `auto`: grey when every sampled training image is grey."""
    resize: Literal["crop", "stretch"] = "crop"
    """`crop`: scale the short side to the size, then cut the centre (keeps proportions);
    `stretch`: scale both sides to the size."""
    column: str | None = None
    """Table sources: the column holding image file paths. Default: the column whose values
    end in an image extension. Relative paths are read relative to the table's folder."""


class TextSpec(Section):
    """Tokenization of text columns, learned from the training split only and saved with the
    model (the tokenizer's own JSON inside the preprocessor state)."""

    tokenizer: Literal["bpe", "word"] = "bpe"
    """Sub-word byte-pair encoding (robust to misspellings, numbers and rare words) or whole
    words (rarer ones become the unknown token)."""
    vocab_size: int = Field(8000, ge=50)
    """Largest vocabulary, special tokens included."""
    min_frequency: int = Field(2, ge=1)
    """A token must occur this often in the training text to enter the vocabulary."""
    max_length: int | None = Field(None, ge=2)
    """Tokens kept per text (longer texts are cut at the end). Default: the 95th percentile of
    the training texts' lengths, between 8 and 256."""
    lowercase: bool = True
    """Lower-case (and Unicode-normalise) the text before tokenizing."""


class DataSpec(Section):
    source: str | None = None
    """A file (CSV, TSV, Parquet, JSON lines) or a built-in dataset name (e.g. `digits`)."""
    format: str | None = None
    """File format when the extension does not say it (csv, tsv, parquet, jsonl, json)."""
    target: str | list[str] | None = None
    """Target column (a list of 0/1 columns for multilabel). Built-in datasets set it."""
    task: Task = "auto"
    """binary, multiclass, regression or multilabel; `auto` infers it from the target."""
    validation: str | None = None
    """Optional separate validation file; otherwise split from `source`."""
    test: str | None = None
    """Optional separate test file; otherwise split from `source`."""
    kind: Literal[
        "auto", "tabular", "sequence", "text", "mixed", "image", "audio", "timeseries"
    ] = "auto"
    """What the columns are: `tabular` (one feature each; text columns as TF-IDF features),
    `sequence` (the time steps of one signal, e.g. MNIST-1D, or one column holding arrays of
    varying length), `text` (free-text columns, tokenized), `mixed` (a table whose text columns
    get a token encoder and whose image-path columns a convolutional one, beside the numbers and
    categories), `image` (a folder of class sub-folders, a table with a column of image paths,
    or image arrays). `auto`: a built-in dataset or the source's layout says (a folder, or a
    table of image paths and a label: image; image paths beside other features: mixed); `text`
    when every feature is free text; `sequence` when the one feature holds arrays; otherwise
    tabular. `audio`: WAV files (auto for a folder
    of them or a table with a column of .wav paths; docs/audio.md). `timeseries`: a time column
    plus series to forecast (auto when one column holds dates and every other is numeric, or a
    `data.timeseries` setting differs from its default; docs/timeseries.md)."""
    drop: list[str] = Field(default_factory=list)
    """Columns to ignore."""
    kinds: dict[str, ColumnKind] = Field(default_factory=dict)
    """Override the inferred kind of a column, e.g. `{zip: categorical}`; `image` marks a column
    of image file paths in a mixed table (detected by extension otherwise)."""
    split: SplitSpec = Field(default_factory=SplitSpec)
    clean: CleanSpec = Field(default_factory=CleanSpec)
    augment: AugmentSpec = Field(default_factory=AugmentSpec)
    audio: AudioSpec = Field(default_factory=AudioSpec)
    timeseries: TimeseriesSpec = Field(default_factory=TimeseriesSpec)

    text: TextSpec = Field(default_factory=TextSpec)
    image: ImageSpec = Field(default_factory=ImageSpec)
    loading: Literal["auto", "memory", "stream"] = "auto"
    """Images and audio: `memory` decodes every file once into tensors; `stream` decodes each
    batch from disk in worker processes (memory bounded by the batch size). `auto` streams when
    the decoded float32 tensors of all splits would exceed `memory_limit_mb`."""
    memory_limit_mb: int = Field(2048, ge=1)
    """Decoded size above which `loading: auto` streams from disk."""
    workers: int | None = Field(None, ge=0)
    """Worker processes decoding images or audio on the streaming path; default: CPU cores - 1,
    at most 8 (0 decodes in the training process)."""


class RNNSpec(Section):
    cell: Literal["lstm", "gru"] = "gru"
    """Recurrent cell."""
    hidden: int = Field(128, ge=1)
    """Hidden units per direction."""
    layers: int = Field(1, ge=1)
    """Stacked recurrent layers."""
    bidirectional: bool = True
    """Also read each sequence backwards (within its own length, padding never read)."""
    pooling: Literal["mean", "max", "last"] = "max"
    """How the per-step outputs become one vector: masked mean, masked max, or the last real
    step (of each direction)."""
    embedding_dim: int = Field(64, ge=1)
    """Token embedding width (text)."""


class TransformerSpec(Section):
    d_model: int = Field(64, ge=8)
    """Width of the token representations."""
    heads: int = Field(4, ge=1)
    """Attention heads; must divide d_model."""
    layers: int = Field(2, ge=1)
    """Encoder layers (pre-norm)."""
    ff: int = Field(256, ge=1)
    """Width of each layer's feed-forward block."""
    pooling: Literal["mean", "max", "cls"] = "mean"
    """Masked mean or max over the tokens, or a learned [CLS] token."""


class EmbeddingBagSpec(Section):
    dim: int = Field(128, ge=1)
    """Token embedding width; the text vector is its masked mean and max (2 × dim)."""


class ModelSpec(Section):
    name: Literal[
        "auto", "mlp", "cnn1d", "rnn", "transformer", "embedding_bag", "cnn2d", "resnet"
    ] = "auto"
    """Architecture family; `auto` picks it from the data kind (tabular: mlp, sequence: cnn1d,
    sequences of varying length: rnn, text and mixed: see docs/text.md, image: cnn2d; audio:
    cnn1d over the mel bands; timeseries: mlp over the window)."""
    hidden: list[int] = Field(default_factory=lambda: [256, 128], min_length=0)
    """Widths of the hidden layers, input side first."""
    activation: Activation = "relu"
    """Hidden-layer activation."""
    init: Literal["auto", "xavier", "glorot", "he", "kaiming", "lecun", "orthogonal", "torch"] = (
        "auto"
    )
    """Weight initialisation; `auto` picks He for ReLU-like activations, LeCun for SELU and
    Xavier for tanh/sigmoid."""
    norm: Literal["batch", "layer", "none"] = "batch"
    """Normalisation after each hidden linear layer."""
    dropout: float = Field(0.1, ge=0, lt=1)
    """Dropout probability after each hidden layer."""
    embedding_dim: int | None = Field(None, ge=1)
    """Width of categorical embeddings; default grows with the number of categories."""
    channels: list[int] = Field(default_factory=lambda: [32, 64, 128], min_length=1)
    """cnn1d, cnn2d, resnet: channels of each stage; each stage after the first halves the
    length (or the height and width)."""
    blocks: int = Field(1, ge=1)
    """cnn1d, resnet: residual blocks per stage; cnn2d: conv-norm-activation layers per stage."""
    rnn: RNNSpec = Field(default_factory=RNNSpec)
    """rnn: the recurrent encoder (text, or sequences of varying length)."""
    transformer: TransformerSpec = Field(default_factory=TransformerSpec)
    """transformer: the attention encoder."""
    embedding_bag: EmbeddingBagSpec = Field(default_factory=EmbeddingBagSpec)
    """embedding_bag: pooled token embeddings (fastText-like), the fastest text encoder."""

    @field_validator("hidden")
    @classmethod
    def _positive_widths(cls, hidden: list[int]) -> list[int]:
        if any(w < 1 for w in hidden):
            raise ValueError(f"hidden widths must be positive integers, got {hidden}")
        return hidden


class EarlyStoppingSpec(Section):
    enabled: bool = True
    """Stop when the monitored validation metric stops improving."""
    monitor: str = "val_loss"
    """Metric to watch: val_loss or any val_<metric>, e.g. val_accuracy."""
    patience: int = Field(20, ge=1)
    """Epochs without improvement before stopping."""
    min_delta: float = Field(0.0, ge=0)
    """Smallest change that counts as an improvement."""
    restore_best: bool = True
    """Put back the weights of the best epoch when training ends."""


class ScheduleSpec(Section):
    name: Literal["auto", "constant", "step", "exponential", "cosine", "onecycle", "plateau"] = (
        "auto"
    )
    """LR schedule. `plateau` halves the LR when validation loss stalls, which suits early
    stopping; `cosine` and `onecycle` anneal over `train.epochs`. `auto`: cosine for augmented
    signal data (kinds sequence and audio), plateau otherwise."""
    warmup_epochs: float = Field(0.0, ge=0)
    """Linear warm-up length for cosine (in epochs, fractions allowed)."""
    step_size: int = Field(30, ge=1)
    """Epochs between decays for `step`."""
    gamma: float = Field(0.1, gt=0, le=1)
    """Decay factor for `step` (per step_size) and `exponential` (per epoch)."""
    factor: float = Field(0.5, gt=0, lt=1)
    """LR multiplier for `plateau`."""
    patience: int = Field(8, ge=0)
    """Epochs without improvement before `plateau` lowers the LR."""
    min_lr: float = Field(1e-6, ge=0)
    """Floor for the LR."""


class CheckpointSpec(Section):
    enabled: bool = True
    """Write checkpoints so an interrupted run can resume exactly (`trainwise fit --resume`)."""
    every_epochs: int = Field(1, ge=1)
    """Write a checkpoint at the end of every N-th epoch."""
    every_steps: int | None = Field(None, ge=1)
    """Also write one every N optimisation steps (for long epochs)."""
    keep: int = Field(2, ge=1)
    """Keep the newest K checkpoints, plus the one of the best epoch."""


class DoctorSpec(Section):
    """The training doctor: cheap probes while training and rules that turn them into
    findings (vanishing/exploding gradients, dead units, NaN, divergence, over- and
    underfitting, data leakage), printed as they appear and saved as `findings.json`."""

    enabled: bool = True
    """Run the probes and rules (overhead well under 5% of step time)."""
    auto_fix: bool = False
    """Repair a diverging run: roll back to the last good epoch, lower the LR tenfold and set
    clip_norm=1.0 (at most `max_fixes` times); every change is recorded as a finding."""
    every_steps: int = Field(16, ge=1)
    """Measure per-layer gradient norms and update ratios on every N-th batch of an epoch
    (and on its first)."""
    max_fixes: int = Field(4, ge=1)
    """How many times auto_fix may roll back and lower the LR in one run."""


class TrainSpec(Section):
    epochs: Annotated[int, Field(ge=1)] | Literal["auto"] = "auto"
    """Maximum number of epochs (early stopping usually ends sooner). `auto`: 200 for tables;
    for sequence and audio data, enough epochs for about 2,000 optimisation steps (20 to 100
    epochs), annealed by the `auto` schedule."""
    batch_size: Annotated[int, Field(ge=1)] | Literal["auto"] = "auto"
    """Mini-batch size. `auto`: 64, except for tabular data with 32,768 or more training rows,
    whose batch doubles (up to 512) as long as an epoch keeps at least 256 steps: a table's
    steps at 64 rows are bound by per-operation overhead, so large tables train several times
    faster per epoch (docs/benchmarks.md)."""
    optimizer: Literal["sgd", "adam", "adamw", "rmsprop", "adagrad"] = "adamw"
    """Optimizer; AdamW (Adam with decoupled weight decay) is the robust default."""
    lr: PositiveFloat | Literal["auto"] = 1e-3
    """Peak learning rate, or `auto`: run the LR range test (`trainwise lr-find`) on the training
    data first and use its suggestion (recorded in the run folder as lr_finder.json)."""
    momentum: float = Field(0.9, ge=0, lt=1)
    """Momentum for SGD and RMSprop."""
    nesterov: bool = False
    """Nesterov momentum for SGD."""
    weight_decay: float = Field(1e-4, ge=0)
    """L2 penalty (decoupled for AdamW)."""
    l1: float = Field(0.0, ge=0)
    """L1 penalty on weights (not biases or norm layers), added to the loss."""
    schedule: ScheduleSpec = Field(default_factory=ScheduleSpec)
    clip_norm: float | None = Field(None, gt=0)
    """Clip the global gradient norm to this value."""
    clip_value: float | None = Field(None, gt=0)
    """Clip each gradient element to [-value, value]."""
    loss: Literal["auto", "cross_entropy", "bce", "mse", "mae", "huber"] = "auto"
    """Loss; `auto` follows the task (cross-entropy, BCE, MSE)."""
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    """Label smoothing for multiclass cross-entropy."""
    class_weight: Literal["none", "balanced"] = "none"
    """`balanced` weights classes inversely to their training frequency."""
    early_stopping: EarlyStoppingSpec = Field(default_factory=EarlyStoppingSpec)
    checkpoint: CheckpointSpec = Field(default_factory=CheckpointSpec)
    on_nan: Literal["stop", "skip", "rollback"] = "stop"
    """When the loss or gradients turn NaN/Inf: stop (keeping the best weights), skip that
    step (costs one device sync per step), or roll back to the last checkpoint with half the LR."""
    seed: int = 0
    """Seed for splits, initialisation, shuffling and dropout."""
    deterministic: bool = False
    """Force deterministic kernels (bit-identical reruns, slower on GPU)."""
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    """Where to train; `auto` takes a GPU when there is one."""
    compile: bool = False
    """Compile the whole training step (forward, backward and the Adam/AdamW update) into one
    TorchInductor graph; on a CPU, plain 1-D convolutions become matrix products in it. The
    benchmark CNN's steps took about 0.4x their eager time, but the compile itself costs tens
    of seconds to minutes on a CPU, once per run: it pays for long runs only, so it is off by
    default. Other optimizers, fp16, L1 and `clip_value` step eagerly, and the doctor's probed
    steps always do (docs/training.md, figures in docs/benchmarks.md)."""
    conv1d: Literal["auto", "library"] = "auto"
    """How 1-D convolutions compute in training steps. `auto`: in eager fp32 steps on a CPU,
    strided, pointwise, one-channel and small (under 8 MFLOP) plain `Conv1d` layers gather
    their input windows and run as matrix products, with the same result up to float rounding;
    oneDNN's kernels cost several times their arithmetic at these sizes (figures in
    docs/benchmarks.md). `library`: always PyTorch's own kernels. Prediction and export always
    use the library's."""
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    """Mixed precision for the training step. `auto`: bf16 on GPUs that support it, fp16 with
    loss scaling on older GPUs; on CPUs that compute bf16 natively (AVX512-BF16, AMX) bf16
    when a step's forward pass is at least 50 MFLOP (smaller steps are bound by per-operation
    overhead, and autocast's casts make them slower), fp32 otherwise (figures in
    docs/benchmarks.md)."""
    threads: Annotated[int, Field(ge=1)] | Literal["auto"] = "auto"
    """CPU threads for training steps. `auto`: one thread per 4 MFLOP of a step's forward
    pass, up to the threads the process has and leaving out cores other processes keep busy;
    small steps (compact CNNs, narrow MLPs) run faster on one thread than split across cores
    (docs/training.md). Ignored on GPUs."""
    doctor: DoctorSpec = Field(default_factory=DoctorSpec)


class EvaluateSpec(Section):
    test: bool = True
    """Evaluate the test split once, at the end."""
    cv: int | None = Field(None, ge=2)
    """K-fold cross-validation on the training + validation rows (the test split stays apart):
    every fitted statistic is re-fitted inside each fold; reports mean ± std of each metric and,
    when tuning, makes the mean the objective (steadier than one split on small data)."""
    cv_folds: Literal["auto", "stratified", "grouped", "time_series", "plain"] = "auto"
    """How folds are drawn; `auto`: grouped when `data.split.group` is set, stratified for
    classification, plain shuffled K-fold otherwise. `time_series`: each fold trains on the
    rows before it (rows in file order)."""


class OutputSpec(Section):
    dir: str | None = None
    """Run folder; default is a new folder under `root` named after the data and time."""
    root: str = "runs"
    """Parent folder of default run folders."""
    save: bool = True
    """Write the run folder (spec, data summary, history, metrics, model)."""
    progress: bool = True
    """Show live progress; false for quiet mode."""
    report: bool = True
    """Write report.html into the run folder: a self-contained page (no network needed) with
    the data, spec, learning curves, evaluation plots and findings (`trainwise report RUN`
    rebuilds it)."""
    tensorboard: bool = True
    """Write TensorBoard event files into the run folder's `tensorboard/` (`trainwise board`)."""


class TuneSpec(Section):
    """Hyperparameter search (`trainwise tune`, `trainwise fit --auto`); `fit` ignores it."""

    space: dict[str, Any] = Field(default_factory=dict)
    """Spec fields to search, by dotted path: `loguniform(1e-5, 1e-1)`, `uniform(0, 0.5)`,
    `int(1, 4)`, `choice([...])` or a plain list; `{dist: ..., when: {model.name: cnn1d}}` samples
    a field only when an earlier one has that value. See docs/tuning.md."""
    strategy: Literal["tpe", "random", "grid", "cmaes", "gp"] = "tpe"
    """Search strategy: Optuna's TPE (Bayesian), random, grid (every combination once), CMA-ES
    or a Gaussian process (continuous spaces)."""
    pruner: Literal["median", "hyperband", "none"] = "median"
    """Stop hopeless trials early from their per-epoch validation scores (per fold under CV)."""
    trials: int = Field(20, ge=1)
    """Finished trials the study should hold (counted across workers and resumed sessions)."""
    timeout: float | None = Field(None, gt=0)
    """Wall-clock budget in seconds for this session; no trial starts that would not fit."""
    metric: str | None = None
    """Validation metric to optimise; default: accuracy (classification), rmse (regression)."""
    study: str | None = None
    """Study name; default: the dataset's name. Re-running the same study resumes it."""
    storage: str | None = None
    """Optuna storage URL (e.g. postgresql://user@host/db) for a study shared by machines;
    default: an SQLite file in `<output.root>/tune-<study>/study.db`."""
    worker_processes: int = Field(1, ge=1)
    """Local worker processes that run trials in parallel (`trainwise tune --workers N`)."""
    sampler_seed: int | None = None
    """Seed of the sampler; defaults to `train.seed`."""
    startup_trials: int = Field(5, ge=0)
    """Random trials before TPE/GP model the space, and trials before the pruner may prune."""
    select: Literal["best", "one_se"] = "best"
    """Which trial the search hands on: `best` (the best objective; a lead over the defaults
    within one standard error is reported as possibly noise) or `one_se` (keep the defaults
    unless the best trial beats them by more than one standard error of its score)."""

    @field_validator("space", mode="before")
    @classmethod
    def _flat_paths(cls, space: Any) -> Any:
        return flatten_space(space)

    @field_validator("space")
    @classmethod
    def _valid_grammar(cls, space: dict[str, Any]) -> dict[str, Any]:
        parse_space(space)
        return space


class Spec(Section):
    """A complete run: data → model → training → evaluation → output."""

    data: DataSpec = Field(default_factory=DataSpec)
    model: ModelSpec = Field(default_factory=ModelSpec)
    train: TrainSpec = Field(default_factory=TrainSpec)
    evaluate: EvaluateSpec = Field(default_factory=EvaluateSpec)
    output: OutputSpec = Field(default_factory=OutputSpec)
    tune: TuneSpec = Field(default_factory=TuneSpec)

    @model_validator(mode="after")
    def _space_fits_the_spec(self) -> Spec:
        """Every searched path is a spec field and every value the space can yield is valid
        for it; a condition names a field and a value that can occur."""
        if not self.tune.space:
            return self
        dists = parse_space(self.tune.space)
        base = self.model_dump(exclude={"tune"})
        searched = {d.path for d in dists}
        for dist in dists:
            _check_path(dist.path)
            for cond, allowed in dist.when:
                _check_path(cond)
                if cond not in searched and _get(base, cond) not in allowed:
                    raise ValueError(
                        f"tune.space[{dist.path!r}] is sampled only when {cond} is one of "
                        f"{list(allowed)}, but {cond} is fixed at {_get(base, cond)!r}"
                    )
            for value in dist.boundary_values():
                trial = _with(base, dist.path, value)
                try:
                    Spec.model_validate(trial)
                except ValidationError as exc:
                    first = exc.errors()[0]
                    raise ValueError(
                        f"tune.space[{dist.path!r}] can yield {value!r}, which {dist.path} "
                        f"does not accept ({first['msg']})"
                    ) from None
        return self


def _check_path(path: str) -> None:
    model: type[BaseModel] = Spec
    parts = path.split(".")
    for i, part in enumerate(parts):
        info = model.model_fields.get(part)
        if info is None or part == "tune":
            import difflib

            options = [f for f in model.model_fields if f != "tune"]
            close = difflib.get_close_matches(part, options, n=1, cutoff=0.5)
            hint = f"; did you mean {'.'.join([*parts[:i], close[0]])!r}?" if close else ""
            raise ValueError(f"tune.space names an unknown field {path!r}{hint}")
        annotation = info.annotation
        nested = isinstance(annotation, type) and issubclass(annotation, BaseModel)
        if i < len(parts) - 1 and not nested:
            raise ValueError(
                f"tune.space names {path!r}, but {'.'.join(parts[: i + 1])} is a value"
            )
        if i == len(parts) - 1 and nested:
            raise ValueError(f"tune.space names {path!r}, a section; name one of its fields")
        if nested:
            model = annotation  # type: ignore[assignment]


def _get(raw: dict[str, Any], path: str) -> Any:
    node: Any = raw
    for part in path.split("."):
        node = node[part]
    return node


def _with(raw: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    parts = path.split(".")
    out = dict(raw)
    node = out
    for part in parts[:-1]:
        node[part] = dict(node[part])
        node = node[part]
    node[parts[-1]] = value
    return out
