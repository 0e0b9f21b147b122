"""The one orchestrator: spec → data → model → training → evaluation (test once) → run folder.

Only this module knows the order of the stages. Each stage gets plain objects and returns new
ones; nothing reaches sideways into another stage.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from trainwise.data.augment import build_augment
from trainwise.data.image_augment import build_image_augment
from trainwise.data.image_column_augment import with_image_columns
from trainwise.data.image_sources import holds_arrays
from trainwise.data.prepare import Frames, load_frames, prepare
from trainwise.data.prepared import PreparedData
from trainwise.diagnose.data_checks import data_findings
from trainwise.diagnose.doctor import Doctor, constant_prediction_loss
from trainwise.diagnose.findings import write_findings
from trainwise.errors import Interrupted, ModelError, SpecError, TrainingFailed
from trainwise.evaluate.forecast import baseline_table, forecast_scores
from trainwise.evaluate.metrics import GREATER_IS_BETTER, primary_metric
from trainwise.evaluate.predict import Predictor, validation_fn
from trainwise.evaluate.predictions import score_rows, score_split
from trainwise.models.build import IMAGE_FAMILIES, build_model, model_config
from trainwise.models.heads import Head, head_for
from trainwise.report.html import build_report
from trainwise.report.tensorboard import ImageSamples, TensorBoardWriter, is_image_batch
from trainwise.runs.bundle import head_config, save_bundle
from trainwise.runs.folder import HistoryWriter, RunFolder
from trainwise.spec.io import dump_yaml
from trainwise.spec.model import Spec
from trainwise.train.batch_size import BatchSize, resolve_batch_size
from trainwise.train.budget import apply_budget, resolve_budget
from trainwise.train.callbacks import Callback
from trainwise.train.checkpointer import Checkpointer, StopOnSignal
from trainwise.train.compiled_step import CompiledStep
from trainwise.train.eager_conv1d import convs_as_matmul_for_training
from trainwise.train.early_stopping import EarlyStopping
from trainwise.train.epoch_clock import EpochClock, typical_epoch_seconds
from trainwise.train.loop import fit as train_loop
from trainwise.train.lr_finder import LRFinderResult, lr_range_test
from trainwise.train.numeric_faults import NanGuard
from trainwise.train.optim import build_optimizer, build_scheduler
from trainwise.train.progress import ProgressDisplay
from trainwise.train.runtime import resolve_device, resolve_precision, seed_everything
from trainwise.train.state import TrainState
from trainwise.train.step import train_step
from trainwise.train.threads import (
    LoadProbe,
    ThreadChoice,
    choose_threads,
    step_flops,
    using_threads,
)


@dataclass
class Run:
    """The outcome of `fit`: the trained predictor, its metrics, history and run folder."""

    spec: Spec
    predictor: Predictor
    metrics: dict[str, Any]
    history: list[dict[str, float]]
    summary: dict[str, Any]
    path: Path | None
    stop_reason: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)


def run(
    spec: Spec,
    frame: pd.DataFrame | None = None,
    validation: pd.DataFrame | None = None,
    test: pd.DataFrame | None = None,
    model: nn.Module | None = None,
    callbacks: Iterable[Callback] = (),
    log: Any = print,
    resume: str | Path | None = None,
) -> Run:
    """Train and evaluate one spec end to end."""
    started = time.perf_counter()
    load = LoadProbe()  # other processes' CPU use while the data is prepared (thread choice)
    generator = seed_everything(spec.train.seed, spec.train.deterministic)
    frames: Frames = load_frames(spec.data, frame, validation, test)
    data = prepare(spec.data, frames, spec.train.seed)
    given = spec  # saved as spec.yaml: `auto` values stay `auto` there
    spec, batch = _with_batch_size(spec, data)
    device = resolve_device(spec.train.device)
    data = data.to(device)
    schema = data.schema
    head = _head(spec, data, device)
    config, net = _model(spec, data, head, model)
    net = net.to(device)
    if device.type in ("cuda", "cpu") and config.get("name") in IMAGE_FAMILIES:
        # NHWC weights beside the NHWC inputs of `to_device_layout`: cuDNN's and oneDNN's
        # fastest convolutions. Built-in image families only: a user's module may `.view` its
        # activations, which channels-last weights would make channels-last too
        net = net.to(memory_format=torch.channels_last)
    _check_shapes(net, data, head)
    flops = _step_flops(spec, net, data, device)

    precision = resolve_precision(spec.train.precision, device, flops)
    threads = choose_threads(spec.train.threads, device, flops, load)
    if resume is not None and spec.train.threads == "auto":
        threads = _resumed_threads(resume, threads)
    # eager fp32 steps on a CPU: small 1-D convolutions as matrix products (the compiled step
    # rewrites them itself; autocast and GPUs keep the library's kernels)
    windowed = (
        spec.train.conv1d == "auto"
        and device.type == "cpu"
        and precision is None
        and not spec.train.compile
    )
    # the finder's steps are training steps
    with using_threads(threads.threads), convs_as_matmul_for_training(net, windowed):
        found = _auto_lr(spec, net, head, data, precision, resume, log)
    train_spec = spec.train  # with train.lr resolved when it was auto
    if found is not None:
        train_spec = spec.train.model_copy(update={"lr": found.suggestion})
    optimizer = build_optimizer(net, train_spec)
    steps_per_epoch = max(1, -(-len(data.train) // spec.train.batch_size))
    budget = resolve_budget(spec.train, data.summary["kind"], steps_per_epoch)
    data.summary["training_budget"] = {
        "epochs": budget.epochs,
        "schedule": budget.schedule,
        "why": budget.reason,
        "batch_size": batch.size,
        "batch_size_why": batch.reason,
        "precision": str(precision).removeprefix("torch.") if precision else "fp32",
        "threads": threads.to_dict(),
    }
    scheduler, per = build_scheduler(optimizer, apply_budget(train_spec, budget), steps_per_epoch)
    state = TrainState(
        model=net,
        optimizer=optimizer,
        loss_fn=head.loss,
        max_epochs=budget.epochs,
        batch_size=spec.train.batch_size,
        generator=generator,
        scheduler=scheduler,
        schedule_per=per,
        l1=spec.train.l1,
        clip_norm=spec.train.clip_norm,
        clip_value=spec.train.clip_value,
        autocast_dtype=precision,
        scaler=torch.amp.GradScaler(device.type) if precision == torch.float16 else None,
    )
    classes = [str(c) for c in schema.classes]
    validate = (
        validation_fn(
            net,
            head,
            data.target,
            data.validation,
            classes,
            needs={spec.train.early_stopping.monitor},
        )
        if data.validation is not None
        else None
    )
    cbs, stateful = _standard_callbacks(spec, schema.task, validate is not None, log)
    cbs += list(callbacks)  # before the checkpointer: a stop they ask for gets a checkpoint
    doctor = _doctor(spec, frames, data, head, stateful, log)
    if doctor is not None:  # after early stopping (it sees restored weights at the end)
        cbs.append(doctor)
        stateful["doctor"] = doctor

    folder = None  # created only now, once every check of the input has passed
    if resume is not None:
        folder = RunFolder.reopen(resume)
    elif spec.output.save:
        folder = RunFolder.create(spec.output.root, frames.name, spec.output.dir)
        # saved without output.dir, so `trainwise fit spec.yaml` re-runs into a new folder
        rerunnable = given.model_copy(
            update={"output": given.output.model_copy(update={"dir": None})}
        )
        folder.write_text("spec.yaml", dump_yaml(rerunnable))
        folder.write_json("data_summary.json", data.summary)
    if folder is not None and found is not None:
        folder.write_json("lr_finder.json", found.to_dict())
    _log_summary(log, data, spec)
    checkpointer = None
    if folder is not None:
        cbs.append(HistoryWriter(folder.path / "history.jsonl"))
        ck = spec.train.checkpoint
        if ck.enabled or resume is not None:
            checkpointer = Checkpointer(
                folder.path / "checkpoints",
                stateful,
                ck.every_epochs,
                ck.every_steps,
                ck.keep,
                is_best=_is_best_epoch(stateful.get("early_stopping")),
            )
            cbs.append(checkpointer)
    if folder is not None and spec.output.tensorboard:
        cbs.append(_tensorboard(folder.path, data, schema.task, classes))
    if spec.output.progress:
        cbs.append(ProgressDisplay(watch=f"val_{primary_metric(schema.task)}"))

    if resume is not None:
        if checkpointer is None:
            raise SpecError("cannot resume without a run folder", "output.save=true", "")
        where = checkpointer.restore(state, warn=log)
        log(f"resumed from {where.name}: epoch {state.epoch}, step {state.step}")

    augment = build_augment(spec.data.augment, data.summary["kind"], spec.train.seed)
    augment = with_image_columns(augment, spec.data.augment, data.preprocessor, spec.train.seed)
    image_augment = _image_augment(spec, data)

    def batches(gen: torch.Generator, start: int):
        stream = data.train.batches(spec.train.batch_size, gen, start)
        if image_augment is not None:  # may soften the targets too (Mixup, CutMix)
            return (
                image_augment(inputs, y, state.epoch, start + i)
                for i, (inputs, y) in enumerate(stream)
            )
        if augment is None:
            return stream
        return (
            (augment(inputs, state.epoch, start + i), y) for i, (inputs, y) in enumerate(stream)
        )

    step = CompiledStep() if spec.train.compile else train_step
    clock = EpochClock()  # first: the others' epoch-end work is not the epoch's
    try:
        with using_threads(threads.threads), convs_as_matmul_for_training(net, windowed):
            train_loop(state, batches, validate, step=step, callbacks=[clock, *cbs])
    except torch.OutOfMemoryError:
        smaller = max(1, spec.train.batch_size // 2)
        raise TrainingFailed(
            f"the {device.type} ran out of memory at batch size {spec.train.batch_size}",
            "a batch (and model) that fit in the device's memory",
            f"retry with train.batch_size={smaller} (or a smaller model, or "
            "train.precision=bf16 to halve activation memory)",
        ) from None
    if state.stop_reason and state.stop_reason.startswith("interrupted by "):
        where_to = str(folder.path) if folder is not None else ""
        how = (
            f"trainwise fit --resume {where_to}"
            if spec.data.source
            else f"trainwise.fit(<the same data>, resume={where_to!r})"
        )
        raise Interrupted(state.stop_reason.removeprefix("interrupted by "), where_to, how)

    try:
        _refuse_nonfinite_model(net, state)
    except TrainingFailed:
        if folder is not None and doctor is not None:  # kept in the .partial folder
            write_findings(folder.path / "findings.json", doctor.findings)
        raise
    predictor = Predictor(schema, data.preprocessor, data.target, net, head)
    metrics: dict[str, Any] = {"epochs": state.epoch, "stop_reason": state.stop_reason}
    if isinstance(step, CompiledStep):
        metrics["compiled_steps"] = step.compiled_steps
        if step.reason is not None:
            metrics["compile_skipped"] = step.reason
            log(f"train.compile: the steps ran eagerly: {step.reason}")
    guard = stateful["nan_guard"]
    if isinstance(guard, NanGuard) and guard.events:
        metrics["numeric_faults"] = guard.events
    if doctor is not None and doctor.changes:
        metrics["auto_fix"] = doctor.changes
    predictions: dict[str, pd.DataFrame] = {}
    if data.validation is not None:
        metrics["validation"], predictions["validation"] = score_split(predictor, data.validation)
    if data.test_rows is not None and spec.evaluate.test:
        # the one and only test pass
        metrics["test"], predictions["test"] = score_rows(predictor, data.test_rows)
    if data.forecast is not None and data.test is not None and spec.evaluate.test:
        metrics["test"] = forecast_scores(predictor, data.test, data.forecast)
    metrics["epoch_seconds"] = clock.seconds
    metrics["train_seconds"] = round(time.perf_counter() - started, 3)

    path = None
    if folder is not None:
        h = head_config(
            schema.task,
            len(schema.classes),
            len(schema.target),
            spec.train.loss,
            spec.train.label_smoothing,
        )
        save_bundle(folder.path / "model", predictor, config, h)
        if data.test_rows is not None and not holds_arrays(data.test_rows):
            folder.write_text("test.csv", data.test_rows.to_csv(index=False))
        for split, table in predictions.items():
            folder.write_text(f"predictions_{split}.csv", table.to_csv(index=False))
        folder.write_json("metrics.json", metrics)
        if doctor is not None:
            write_findings(folder.path / "findings.json", doctor.findings)
            folder.write_json("gradients.json", doctor.gradients())
        folder.write_json("run.json", _provenance(spec, state, device, train_spec.lr))
        if spec.output.report:
            _write_report(folder.path, log)
        path = folder.finish()
    _log_result(log, metrics, schema.task, path)
    if "baselines" in metrics.get("test", {}):
        log(baseline_table(metrics["test"]))
    extras = {"findings": doctor.findings if doctor is not None else []}
    return Run(
        given, predictor, metrics, state.history, data.summary, path, state.stop_reason, extras
    )


def _standard_callbacks(
    spec: Spec, task: str, has_validation: bool, log: Any
) -> tuple[list[Callback], dict[str, Callback]]:
    """Signal handling first (so a checkpoint follows in the same step), then early stopping.
    Returns the list and the callbacks whose state a checkpoint must hold."""
    guard = NanGuard(spec.train.on_nan, log)
    cbs: list[Callback] = [StopOnSignal(), guard]
    stateful: dict[str, Callback] = {"nan_guard": guard}
    es = spec.train.early_stopping
    if es.enabled and has_validation:
        metric = es.monitor.removeprefix("val_")
        if metric != "loss" and metric not in GREATER_IS_BETTER:
            raise SpecError(
                f"train.early_stopping.monitor is {es.monitor!r}, which is not a known metric",
                "val_loss or val_<metric>, metric one of " + ", ".join(sorted(GREATER_IS_BETTER)),
                "set train.early_stopping.monitor=val_loss",
            )
        stateful["early_stopping"] = EarlyStopping(
            es.monitor,
            es.patience,
            es.min_delta,
            GREATER_IS_BETTER.get(metric, False),
            es.restore_best,
        )
        cbs.append(stateful["early_stopping"])
    return cbs, stateful


def _doctor(
    spec: Spec,
    frames: Frames,
    data: PreparedData,
    head: Head,
    stateful: dict[str, Callback],
    log: Any,
) -> Doctor | None:
    """The training doctor, seeded with the data findings (which it prints first)."""
    cfg = spec.train.doctor
    if not cfg.enabled:
        return None
    es = spec.train.early_stopping
    guard = stateful["nan_guard"]
    return Doctor(
        every_steps=cfg.every_steps,
        auto_fix=cfg.auto_fix,
        max_fixes=cfg.max_fixes,
        log=log,
        baseline_loss=constant_prediction_loss(
            head.loss, data.schema.task, head.n_outputs, data.train.y
        ),
        restores_best="early_stopping" in stateful and es.restore_best,
        on_nan=spec.train.on_nan,
        findings=data_findings(data, frames.frame, spec.train.class_weight),
        nan_events=lambda: list(getattr(guard, "events", [])),
        # the guard tracks the first bad loss step already (a rollback makes its copy stale)
        loss_fault=None if cfg.auto_fix else lambda: getattr(guard, "first_bad_step", None),
    )


def _refuse_nonfinite_model(net: nn.Module, state: TrainState) -> None:
    """Never hand back (or save) a model with NaN/Inf weights."""
    tensors = [*net.named_parameters(), *net.named_buffers()]
    bad = [
        name for name, t in tensors if t.is_floating_point() and not bool(torch.isfinite(t).all())
    ]
    if bad:
        raise TrainingFailed(
            f"training produced non-finite weights (in {', '.join(bad[:3])}); "
            f"{state.stop_reason or 'the loss diverged'}",
            "finite weights: no epoch had a finite validation loss to fall back on",
            "lower train.lr, set train.clip_norm=1.0, or use train.on_nan=rollback",
        )


def _is_best_epoch(early_stopping: Callback | None) -> Any:
    """A check the checkpointer calls at epoch end: did this epoch set a new best?"""
    if not isinstance(early_stopping, EarlyStopping):
        return None
    return lambda state: early_stopping.wait == 0 and early_stopping.best_epoch == state.epoch


def _image_augment(spec: Spec, data: PreparedData) -> Any:
    """Image batches' augmentation, in the pixel units the fitted standardisation implies."""
    if data.summary["kind"] != "image":
        return None
    stats = data.preprocessor.state_dict()["state"]
    schema = data.schema
    return build_image_augment(
        spec.data.augment,
        spec.train.seed,
        schema.task,
        len(schema.classes),
        stats["mean"],
        stats["std"],
    )


def _head(spec: Spec, data: PreparedData, device: torch.device) -> Head:
    schema = data.schema
    weights = None
    if spec.train.class_weight == "balanced" and schema.task in {"binary", "multiclass"}:
        y = data.train.y.long()
        counts = torch.bincount(y, minlength=len(schema.classes)).float().clamp(min=1)
        weights = (len(y) / (len(counts) * counts)).to(device)
    try:
        head = head_for(
            schema.task,
            len(schema.classes),
            len(schema.target),
            spec.train.loss,
            spec.train.label_smoothing,
            weights,
        )
    except ValueError as exc:
        raise SpecError(
            f"train.loss {spec.train.loss!r} does not suit a {schema.task} task",
            str(exc),
            "set train.loss=auto",
        ) from None
    head.loss_fn.to(device)
    return head


def _model(
    spec: Spec, data: PreparedData, head: Head, model: nn.Module | None
) -> tuple[dict[str, Any], nn.Module]:
    if model is not None:
        if not isinstance(model, nn.Module):
            raise ModelError(
                f"model= got a {type(model).__name__}",
                "a torch.nn.Module instance",
                "pass an instance, e.g. model=MyNet() (not the class)",
            )
        return {"name": "custom", "class": type(model).__qualname__}, model
    config = model_config(
        spec.model,
        data.n_features,
        head.n_outputs,
        data.preprocessor.embedding_cardinalities,
        data.summary["kind"],
        getattr(data.preprocessor, "model_inputs", None),
        data.input_shape,
        data.summary.get("timeseries"),
    )
    return config, build_model(config)


def _check_shapes(net: nn.Module, data: PreparedData, head: Head) -> None:
    """Run two rows through the network before training, so a wrong shape fails with a clear
    message rather than deep inside the loss."""
    sample = data.train.inputs(slice(0, 2))
    try:
        with torch.no_grad():
            was = net.training
            net.eval()
            out = net(*sample)
            net.train(was)
    except Exception as exc:  # the user's module may raise anything
        shapes = ", ".join(str(tuple(t.shape)) for t in sample)
        raise ModelError(
            f"the model failed on a first batch of inputs shaped {shapes}: {exc}",
            f"forward({', '.join(['dense', 'codes'][: len(sample)])}) accepting those shapes",
            f"make the first layer take {data.n_features} input features",
        ) from None
    expected = (2, head.n_outputs)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != expected:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ModelError(
            f"the model's output has shape {got}",
            f"(batch, {head.n_outputs}) for a {data.schema.task} task",
            f"make the last layer output {head.n_outputs} value(s) per row",
        )


def _resumed_threads(resume: str | Path, chosen: ThreadChoice) -> ThreadChoice:
    """The thread count the interrupted run trained with (recorded in its data summary): the
    machine's load may have changed since, and a different count would change the bits of the
    resumed steps."""
    summary = RunFolder.reopen(resume).path / "data_summary.json"
    try:
        recorded = json.loads(summary.read_text())["training_budget"]["threads"]["threads"]
    except (OSError, ValueError, KeyError, TypeError):
        return chosen
    if not isinstance(recorded, int) or recorded == chosen.threads:
        return chosen
    why = "the count the interrupted run trained with, so the resumed steps compute alike"
    return ThreadChoice(recorded, chosen.available, chosen.forward_flops, why)


def _auto_lr(
    spec: Spec,
    net: nn.Module,
    head: Head,
    data: PreparedData,
    precision: torch.dtype | None,
    resume: str | Path | None,
    log: Any,
) -> LRFinderResult | None:
    """With train.lr=auto, the LR range test's result (a resumed run reuses the one it saved)."""
    if spec.train.lr != "auto":
        return None
    if resume is not None:
        saved = RunFolder.reopen(resume).path / "lr_finder.json"
        if saved.is_file():
            return LRFinderResult.from_dict(json.loads(saved.read_text(encoding="utf-8")))
    found = range_test(spec, net, head, data, precision)
    log(f"lr-find: train.lr=auto chose {found.suggestion:.3g} ({found.rule}; {found.stopped})")
    return found


def range_test(
    spec: Spec,
    net: nn.Module,
    head: Head,
    data: PreparedData,
    precision: torch.dtype | None,
) -> LRFinderResult:
    """The LR range test with the run's optimizer, loss and step; the model is left unchanged."""
    probe = spec.train.model_copy(update={"lr": 1e-3})  # the sweep sets the LR itself
    state = TrainState(
        model=net,
        optimizer=build_optimizer(net, probe),
        loss_fn=head.loss,
        max_epochs=1,
        batch_size=spec.train.batch_size,
        generator=torch.Generator(),
        l1=spec.train.l1,
        clip_norm=spec.train.clip_norm,
        clip_value=spec.train.clip_value,
        autocast_dtype=precision,
        scaler=torch.amp.GradScaler(data.train.y.device.type)
        if precision == torch.float16
        else None,
    )
    return lr_range_test(
        state,
        lambda gen, start: data.train.batches(spec.train.batch_size, gen, start),
        seed=spec.train.seed,
    )


def lr_find(spec: Spec, frame: pd.DataFrame | None = None) -> LRFinderResult:
    """`trainwise lr-find`: prepare the data and model as `run` would, and sweep the LR."""
    seed_everything(spec.train.seed, spec.train.deterministic)
    data = prepare(spec.data, load_frames(spec.data, frame), spec.train.seed)
    spec, _ = _with_batch_size(spec, data)
    device = resolve_device(spec.train.device)
    data = data.to(device)
    head = _head(spec, data, device)
    _, net = _model(spec, data, head, None)
    net = net.to(device)
    _check_shapes(net, data, head)
    precision = resolve_precision(
        spec.train.precision, device, _step_flops(spec, net, data, device)
    )
    return range_test(spec, net, head, data, precision)


def _with_batch_size(spec: Spec, data: PreparedData) -> tuple[Spec, BatchSize]:
    """The spec with `train.batch_size` made concrete for this data (train/batch_size.py)."""
    batch = resolve_batch_size(spec.train.batch_size, data.summary["kind"], len(data.train))
    train = spec.train.model_copy(update={"batch_size": batch.size})
    return spec.model_copy(update={"train": train}), batch


def _step_flops(spec: Spec, net: nn.Module, data: PreparedData, device: torch.device) -> Any:
    """The forward FLOPs of one training batch: what the CPU thread count and precision follow."""
    return step_flops(device, net, data.train.inputs(slice(0, spec.train.batch_size)))


def _tensorboard(
    folder: Path, data: PreparedData, task: str, classes: list[str]
) -> TensorBoardWriter:
    """The TensorBoard callback; image data also get a few validation images with predictions."""
    images = None
    shown = data.validation if data.validation is not None else data.train
    rows = slice(0, min(16, len(shown)))
    first = shown.inputs(rows)  # a streamed split decodes just these rows
    if is_image_batch(first[0]):
        y = shown.y[rows].reshape(len(shown.y[rows]), -1)[:, 0].tolist()
        truth = [classes[int(v)] if classes else f"{v:.3g}" for v in y]
        images = ImageSamples(first, truth, task, classes)
    return TensorBoardWriter(folder / "tensorboard", images=images)


def _write_report(folder: Path, log: Any) -> None:
    """report.html; a failure here costs the report only, never the finished run."""
    try:
        build_report(folder)
    except Exception as exc:
        log(
            f"warning: the report could not be written ({type(exc).__name__}: {exc}); "
            f"rebuild it with `trainwise report {folder}`"
        )


def _provenance(
    spec: Spec, state: TrainState, device: torch.device, lr: float | str
) -> dict[str, Any]:
    return {
        "trainwise": version("trainwise"),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": str(device),
        "seed": spec.train.seed,
        "deterministic": spec.train.deterministic,
        "epochs_run": state.epoch,
        "steps": state.step,
        "stop_reason": state.stop_reason,
        "reproduce": "trainwise fit spec.yaml",
        "lr": lr,
    }


def _log_summary(log: Any, data: PreparedData, spec: Spec) -> None:
    if not spec.output.progress:
        return
    s = data.summary
    splits = s["splits"]
    log(
        f"data: {s['dataset']}  task={s['task']}  rows train/val/test = "
        f"{splits['train']}/{splits['validation']}/{splits['test']}  features={s['n_features']}"
    )
    cleaning = s["cleaning"]
    for key in ("duplicate_rows_dropped",):
        if cleaning.get(key):
            log(f"  cleaned: {key.replace('_', ' ')}: {cleaning[key]}")
    for key, value in cleaning.items():
        if key.startswith("rows_without_target") and value:
            log(f"  cleaned: {key.replace('_', ' ')}: {value}")
    if cleaning.get("missing_values_imputed (train)"):
        items = ", ".join(
            f"{k} ({v})" for k, v in cleaning["missing_values_imputed (train)"].items()
        )
        log(f"  cleaned: imputed missing values in {items}")
    if cleaning.get("outliers_beyond_fences (train)"):
        items = ", ".join(
            f"{k} ({v})" for k, v in cleaning["outliers_beyond_fences (train)"].items()
        )
        verb = "clipped" if spec.data.clean.outliers == "clip" else "flagged"
        log(f"  cleaned: outliers {verb} in {items}")
    if s["dropped_columns"]:
        items = ", ".join(f"{k} ({v})" for k, v in s["dropped_columns"].items())
        log(f"  dropped columns: {items}")
    for note in s["notes"]:
        log(f"  note: {note}")


def _log_result(log: Any, metrics: dict[str, Any], task: str, path: Path | None) -> None:
    shown = (
        "accuracy",
        "balanced_accuracy",
        "f1_macro",
        "roc_auc",
        "log_loss",
        "rmse",
        "mae",
        "r2",
        "subset_accuracy",
        "f1_micro",
    )
    for split in ("validation", "test"):
        if split in metrics:
            parts = [
                f"{k}={metrics[split][k]:.4f}"
                for k in shown
                if isinstance(metrics[split].get(k), float)
            ]
            log(f"{split} metrics: " + "  ".join(parts))
    typical = typical_epoch_seconds(metrics.get("epoch_seconds", []))
    per_epoch = "" if typical is None else f", {typical:.3g} s per epoch"
    log(
        f"stopped: {metrics['stop_reason']} after {metrics['epochs']} epochs "
        f"({metrics['train_seconds']:.1f} s{per_epoch})"
    )
    if path is not None:
        log(f"run folder: {path}")
