"""The `trainwise` command. Parses arguments, calls the API, and turns any `TrainwiseError`
into one message on stderr and exit code 2 (no traceback)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trainwise.errors import (
    DataError,
    Interrupted,
    SpecError,
    TrainwiseError,
    UnfamiliarInputWarning,
)

EXIT_USAGE = 2
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a tool whose reader left

EPILOG = """examples:
  trainwise fit --data titanic.csv --target Survived
  trainwise fit spec.yaml train.lr=3e-4 model.hidden=[128,64]
  trainwise fit --data digits --output runs/digits
  trainwise evaluate runs/digits --data more_rows.csv
  trainwise predict runs/digits --data new_rows.csv --out predictions.csv
  trainwise spec --show
  trainwise lr-find --data titanic.csv --target Survived
  trainwise report runs/digits
  trainwise board runs
  trainwise doctor runs/digits
  trainwise fit --data wine --auto --time-budget 120
  trainwise tune spec.yaml --workers 2
  trainwise tune --show runs/tune-wine
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trainwise",
        description="Train, evaluate and document a neural network from a dataset.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "fit",
        help="train a model from a spec file and/or --data",
        description="Train, validate and test a model; writes a run folder.",
    )
    p.add_argument("spec", nargs="?", help="YAML spec file (optional)")
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. train.lr=3e-4")
    p.add_argument("--data", help="data file (CSV, TSV, Parquet, JSON lines) or built-in name")
    p.add_argument("--target", help="target column (comma-separated for multilabel)")
    p.add_argument("--task", help="binary, multiclass, regression or multilabel (default: auto)")
    p.add_argument("--validation", help="separate validation file")
    p.add_argument("--test", help="separate test file")
    p.add_argument("--output", help="run folder (default: a new folder under runs/)")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.add_argument(
        "--resume",
        metavar="RUN",
        help="continue an interrupted run from its last checkpoint (its own spec is used)",
    )
    p.add_argument(
        "--auto",
        action="store_true",
        help="choose and tune the model within --time-budget, refit the best, test once",
    )
    p.add_argument(
        "--time-budget",
        type=float,
        metavar="SECONDS",
        help="wall-clock budget of --auto (default: tune.timeout, else 600)",
    )

    p = sub.add_parser(
        "tune",
        help="search hyperparameters (the spec's tune section)",
        description="Run or resume an Optuna study over the spec's tune.space; "
        "--show prints a study's trials.",
    )
    p.add_argument("spec", nargs="?", help="YAML spec file with a tune section")
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. tune.trials=50")
    p.add_argument("--data", help="data file or built-in name")
    p.add_argument("--target", help="target column")
    p.add_argument("--trials", type=int, help="finished trials the study should hold")
    p.add_argument("--timeout", type=float, metavar="SECONDS", help="wall-clock budget")
    p.add_argument("--workers", type=int, help="local worker processes")
    p.add_argument("--storage", metavar="URL", help="Optuna storage URL of a shared study")
    p.add_argument("--study", metavar="NAME", help="study name (default: the dataset's)")
    p.add_argument("--strategy", help="tpe, random, grid, cmaes or gp")
    p.add_argument("--quiet", action="store_true", help="no per-trial lines")
    p.add_argument(
        "--show", metavar="STUDY", help="print a study: its folder, .db file, or name (+--storage)"
    )

    p = sub.add_parser(
        "evaluate",
        help="score a trained run on labelled data",
        description="Compute the run's metrics on a labelled file; prints JSON.",
    )
    p.add_argument("run", help="run folder written by `trainwise fit`")
    p.add_argument("--data", required=True, help="labelled data file with the target column")
    p.add_argument("--out", help="also write the metrics to this JSON file")
    p.add_argument(
        "--start",
        metavar="TIME",
        help="time series: score only windows whose targets begin at or after TIME; "
        "earlier rows serve as history",
    )

    p = sub.add_parser(
        "predict",
        help="predict labels and probabilities for new rows",
        description="Write predictions (label and one probability per class) for each row.",
    )
    p.add_argument("run", help="run folder written by `trainwise fit`")
    p.add_argument("--data", required=True, help="rows to predict (CSV, TSV, Parquet, JSON lines)")
    p.add_argument("--out", required=True, help="output file (.csv, .tsv, .parquet or .jsonl)")
    p.add_argument(
        "--windows",
        action="store_true",
        help="time series: the forecast made at every step (a backtest), not only the "
        "horizon after the last time stamp",
    )

    p = sub.add_parser(
        "spec",
        help="show the resolved spec with every default",
        description="Print the resolved spec (YAML) with all defaults filled in.",
    )
    p.add_argument("spec", nargs="?", help="YAML spec file (optional)")
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. train.lr=3e-4")
    p.add_argument("--show", action="store_true", help="print the resolved spec (the default)")

    p = sub.add_parser(
        "lr-find",
        help="LR range test: plot loss against learning rate and suggest one",
        description="Train briefly with an exponentially growing learning rate and suggest the "
        "LR (the loss minimum's LR / 10); writes a plot. Nothing else is saved.",
    )
    p.add_argument("spec", nargs="?", help="YAML spec file (optional)")
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. train.optimizer=sgd")
    p.add_argument("--data", help="data file or built-in name")
    p.add_argument("--target", help="target column (comma-separated for multilabel)")
    p.add_argument("--task", help="binary, multiclass, regression or multilabel (default: auto)")
    p.add_argument("--plot", default="lr-find.png", help="plot file (default: lr-find.png)")

    p = sub.add_parser(
        "report",
        help="(re)build a run's (or a tune study's) self-contained HTML report",
        description="Write report.html in a run folder from the files the run saved "
        "(or in a study folder of `trainwise tune`, from its results).",
    )
    p.add_argument("run", help="run folder written by `trainwise fit` (or a study folder)")
    p.add_argument("--out", help="write the page here instead of RUN/report.html")

    p = sub.add_parser(
        "board",
        help="start TensorBoard on a folder of runs",
        description="Serve TensorBoard on the event files runs write into RUN/tensorboard/.",
    )
    p.add_argument("runs", nargs="?", default="runs", help="folder of runs (default: runs)")
    p.add_argument("--port", type=int, default=6006, help="port (default 6006; 0: any free port)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")

    p = sub.add_parser(
        "doctor",
        help="print the training doctor's findings of a run",
        description="Print the findings (data and training diagnoses, auto-fixes) of a run.",
    )
    p.add_argument("run", help="run folder written by `trainwise fit`")
    p.add_argument("--json", action="store_true", help="print findings.json as it is")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # overrides may also follow options (`fit spec.yaml --quiet train.lr=0.01`)
    if (
        extra
        and args.command in {"fit", "spec", "lr-find", "tune"}
        and all("=" in item and not item.startswith("-") for item in extra)
    ):
        args.overrides = [*args.overrides, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _plain_warnings(warnings.showwarning)
            warnings.simplefilter("always", UnfamiliarInputWarning)  # every column named
            code = COMMANDS[args.command](args)
        sys.stdout.flush()  # a closed pipe is reported here, not by the interpreter at exit
        return code
    except BrokenPipeError:
        # the reader went away (`trainwise evaluate ... | head`): as for any Unix tool, stop
        # quietly; stdout goes to /dev/null so the final flush at exit cannot raise again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except TrainwiseError as err:
        print(f"trainwise: error: {err.message}", file=sys.stderr)
        return EXIT_USAGE
    except Interrupted as stop:
        print(f"trainwise: {stop}", file=sys.stderr)
        return stop.exit_code
    except KeyboardInterrupt:
        print("trainwise: aborted", file=sys.stderr)
        return 130


def _plain_warnings(show: Callable[..., None]) -> Callable[..., None]:
    """A `warnings.showwarning` that prints trainwise's own warnings as one plain line each
    (`trainwise: warning: ...`), without the file and line of the code that raised them, and
    hands other libraries' warnings to `show`."""

    def plain(message: Warning | str, category: type[Warning], *rest: Any, **kw: Any) -> None:
        if issubclass(category, UnfamiliarInputWarning):
            print(f"trainwise: warning: {message}", file=sys.stderr)
        else:
            show(message, category, *rest, **kw)

    return plain


def _spec_and_overrides(args: argparse.Namespace) -> tuple[dict[str, Any], list[str]]:
    """A first positional holding '=' is an override, not a spec file."""
    from trainwise.spec.io import is_existing_file, read_yaml

    overrides = list(args.overrides)
    raw: dict[str, Any] = {}
    if args.spec and "=" in args.spec and not is_existing_file(args.spec):
        overrides.insert(0, args.spec)
    elif args.spec:
        raw = read_yaml(args.spec)
    return raw, overrides


def _fit(args: argparse.Namespace) -> int:
    from trainwise.api import fit

    if args.resume:
        given = [
            args.spec,
            *args.overrides,
            args.data,
            args.target,
            args.output,
            args.task,
            args.validation,
            args.test,
            args.auto,
        ]
        if any(v for v in given):
            raise SpecError(
                "--resume takes no spec, overrides, --data, --target, --task, --validation, "
                "--test or --output",
                "only the run folder: the run continues with the spec it started with",
                f"run `trainwise fit --resume {args.resume}` alone",
            )
        fit(resume=args.resume, progress=not args.quiet, log=print)
        return 0

    if args.time_budget is not None and not args.auto:
        raise SpecError("--time-budget is given without --auto", "--auto --time-budget SECONDS")
    if args.time_budget is not None and not args.time_budget > 0:
        raise SpecError(
            f"--time-budget is {args.time_budget:g}",
            "a positive number of seconds",
            "pass e.g. --time-budget 120",
        )
    if args.auto:
        fit(spec=_raw_spec(args), log=print, auto=True, time_budget=args.time_budget)
        return 0
    fit(spec=_raw_spec(args), log=print)  # --quiet hides progress; results are still printed
    return 0


def _raw_spec(args: argparse.Namespace) -> dict[str, Any]:
    """The spec file, the flags and the overrides merged (overrides win)."""
    from trainwise.spec.io import apply_overrides

    raw, overrides = _spec_and_overrides(args)
    flags = {
        "data.source": args.data,
        "data.task": args.task,
        "data.validation": getattr(args, "validation", None),
        "data.test": getattr(args, "test", None),
        "output.dir": getattr(args, "output", None),
    }
    extra = [f"{k}={v}" for k, v in flags.items() if v is not None]
    if args.target is not None:
        targets = [t.strip() for t in args.target.split(",")]
        raw = apply_overrides(raw, extra)
        raw.setdefault("data", {})["target"] = targets[0] if len(targets) == 1 else targets
        extra = []
    if getattr(args, "quiet", False):
        extra.append("output.progress=false")
    raw = apply_overrides(raw, [*extra, *overrides])
    # CLI-given strings stay strings (a file named 1.csv must not become a number)
    for key, value in flags.items():
        if value is not None:
            section, field = key.split(".")
            raw[section][field] = value
    return raw


def _tune(args: argparse.Namespace) -> int:
    from trainwise.api import tune
    from trainwise.spec.io import apply_overrides

    if args.show:
        return _show(args)
    for name in ("trials", "workers", "timeout"):
        value = getattr(args, name)
        if value is not None and not value > 0:
            raise SpecError(
                f"--{name} is {value:g}", f"a positive --{name}", f"pass --{name} 1 or more"
            )
    raw, overrides = _spec_and_overrides(args)
    flags = {
        "data.source": args.data,
        "data.target": args.target,
        "tune.trials": args.trials,
        "tune.timeout": args.timeout,
        "tune.worker_processes": args.workers,
        "tune.study": args.study,
        "tune.strategy": args.strategy,
    }
    extra = [f"{k}={v}" for k, v in flags.items() if v is not None]
    raw = apply_overrides(raw, [*extra, *overrides])
    for key in ("data.source", "data.target", "tune.study"):  # CLI strings stay strings
        value = flags[key]
        if value is not None:
            section, field = key.split(".")
            raw[section][field] = value
    raw.setdefault("output", {})["progress"] = False  # trials are summarised one line each
    found = tune(spec=raw, storage=args.storage, log=(lambda *_: None) if args.quiet else print)
    print(f"best {found.plan.metric} = {found.best_value:.4f}")
    for key, value in found.best_params.items():
        print(f"  {key} = {value}")
    print(f"study folder: {found.plan.folder}  (best spec: {found.files['best_spec']})")
    if "report" in found.files:
        print(f"report: {found.files['report']}")
    return 0


def _show(args: argparse.Namespace) -> int:
    from trainwise.tune.results import show
    from trainwise.tune.study import load_existing

    where = Path(args.show)
    name = args.study
    if args.storage:
        url, name = args.storage, name or args.show
    elif where.is_dir() and (where / "study.db").is_file():
        url = f"sqlite:///{(where / 'study.db').as_posix()}"
    elif where.is_file():
        url = f"sqlite:///{where.as_posix()}"
    elif (Path("runs") / f"tune-{args.show}" / "study.db").is_file():
        url = f"sqlite:///{(Path('runs') / f'tune-{args.show}' / 'study.db').as_posix()}"
    else:
        raise DataError(
            f"no study at {args.show!r}",
            "a study folder (holding study.db), a .db file, or a study name with --storage URL",
            "pass the folder `trainwise tune` printed, e.g. runs/tune-wine",
        )
    print(show(load_existing(url, name)))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from trainwise.api import load

    result = load(args.run)
    out = _output_file(args.out, "--out") if args.out else None
    metrics = result.evaluate(args.data, start=args.start)
    text = json.dumps(metrics, indent=2)
    print(text)
    if out is not None:
        out.write_text(text + "\n", encoding="utf-8")
    if "baselines" in metrics:  # a forecaster: the table `fit` prints, and a record in the run
        _forecast_evaluation(args, metrics)
    return 0


def _forecast_evaluation(args: argparse.Namespace, metrics: dict[str, Any]) -> None:
    """Human-readable lines on stderr (stdout stays the JSON scripts read)."""
    from trainwise.evaluate.forecast import baseline_table
    from trainwise.runs.evaluations import record_evaluation

    w = metrics["windows"]
    title = f"{w['scored']} windows {w['first_target']} .. {w['last_target']}"
    print(baseline_table(metrics, title), file=sys.stderr)
    for note in metrics.get("notes", []):
        print(f"  note: {note}", file=sys.stderr)
    try:
        where = record_evaluation(args.run, args.data, metrics)
        print(f"evaluation saved: {where}", file=sys.stderr)
    except OSError as exc:
        print(f"warning: the run folder is not writable ({exc}); not saved", file=sys.stderr)


def _predict(args: argparse.Namespace) -> int:
    from trainwise.api import load

    out = Path(args.out)
    writers = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".jsonl": "jsonl"}
    if out.suffix.lower() not in writers:
        raise DataError(
            f"cannot write predictions to {str(out)!r}",
            f"a file ending in {', '.join(writers)}",
            "change the --out file name",
        )
    result = load(args.run)
    _output_file(args.out, "--out")
    frame = (
        result.forecast(args.data, windows=True)
        if args.windows
        else result.predict_frame(args.data)
    )
    tmp = out.with_name(out.name + ".tmp")
    kind = writers[out.suffix.lower()]
    if kind == "csv":
        frame.to_csv(tmp, index=False)
    elif kind == "tsv":
        frame.to_csv(tmp, index=False, sep="\t")
    elif kind == "parquet":
        frame.to_parquet(tmp, index=False)
    else:
        frame.to_json(tmp, orient="records", lines=True)
    tmp.replace(out)
    print(f"wrote {len(frame)} predictions to {out}")
    return 0


def _output_file(path: str, option: str) -> Path:
    """The file an option names, its folder created if missing: checked before any work, so a
    typo in the folder does not cost a whole prediction, or end in a traceback after it."""
    out = Path(path).expanduser()
    problem = None
    if out.is_dir():
        problem = "it is a folder"
    else:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            problem = "a part of its folder path is a file, not a folder"
        except OSError as exc:
            problem = f"its folder cannot be created: {exc.strerror or exc}"
        else:
            if not os.access(out.parent, os.W_OK):
                problem = f"its folder {str(out.parent)!r} is not writable"
    if problem:
        raise DataError(
            f"cannot write {str(out)!r} ({problem})",
            "a file path in a folder you can write",
            f"pass {option} a file in a writable folder",
        )
    return out


def _spec(args: argparse.Namespace) -> int:
    from trainwise.spec.io import apply_overrides, dump_yaml, parse_spec

    raw, overrides = _spec_and_overrides(args)
    print(dump_yaml(parse_spec(apply_overrides(raw, overrides))), end="")
    return 0


def _lr_find(args: argparse.Namespace) -> int:
    plot = Path(args.plot)
    if plot.suffix.lower() not in {".png", ".svg", ".pdf"}:
        raise SpecError(
            f"cannot write the plot to {str(plot)!r}",
            "a file ending in .png, .svg or .pdf",
            "change --plot",
        )
    from trainwise.pipeline import lr_find
    from trainwise.report.plots import lr_finder
    from trainwise.spec.io import parse_spec

    spec = parse_spec(_raw_spec(args))
    _output_file(args.plot, "--plot")
    result = lr_find(spec)
    figure = lr_finder(result.to_dict())
    try:
        figure.savefig(plot, dpi=110, bbox_inches="tight")
    except OSError as exc:
        raise DataError(
            f"cannot write {str(plot)!r} ({exc.strerror or exc})",
            "a writable location for the plot",
            "pass --plot to a folder you can write",
        ) from None
    steepest = f"{result.steepest_lr:.3g}" if result.steepest_lr else "n/a"
    print(f"suggested lr: {result.suggestion:.3g}  ({result.rule})")
    print(f"loss minimum at lr {result.minimum_lr:.3g}; steepest descent at lr {steepest}")
    print(f"sweep: {len(result.lrs)} steps, {result.stopped}")
    print(f"plot: {plot}")
    print(f"use it: trainwise fit ... train.lr={result.suggestion:.3g}  (or train.lr=auto)")
    return 0


def _report(args: argparse.Namespace) -> int:
    from trainwise.report.html import build_report

    # a run folder that is not one is reported by build_report, before any folder is made
    out = _output_file(args.out, "--out") if args.out and Path(args.run).is_dir() else args.out
    print(f"wrote {build_report(args.run, out)}")
    return 0


def _board(args: argparse.Namespace) -> int:
    from trainwise.report.tensorboard import free_port, serve_board

    port = args.port or free_port(args.host)
    return serve_board(args.runs, port, args.host)


def _doctor(args: argparse.Namespace) -> int:
    from trainwise.diagnose.findings import format_findings
    from trainwise.diagnose.report import load_run_findings

    findings = load_run_findings(args.run)
    if args.json:
        print(json.dumps({"findings": [f.to_json() for f in findings]}, indent=2))
    else:
        print(format_findings(findings))
    return 0


COMMANDS = {
    "fit": _fit,
    "evaluate": _evaluate,
    "predict": _predict,
    "spec": _spec,
    "lr-find": _lr_find,
    "report": _report,
    "board": _board,
    "doctor": _doctor,
    "tune": _tune,
}


if __name__ == "__main__":
    sys.exit(main())
