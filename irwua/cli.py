"""The ``irwua`` command line.

Errors the user can fix print one sentence and exit with status 2; unexpected failures print one
line and exit with status 3. ``--debug`` shows the traceback of either. Warnings (NaN in the data,
samples left out) print as one line each.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from irwua.errors import IrwuaError
from irwua.options import Options, SettingError, settings
from irwua.printable import printable
from irwua.version import __version__

EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 3


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    with _terminate_as_interrupt(), _restored_max_memory():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    """The command, with every failure as one line and its exit status.

    irwua's warnings (NaN in the data, tensors left unsized) are printed, one line each, once
    the command has succeeded; a failure prints its error alone. Other libraries' warnings
    (numpy's "invalid value") are not the user's business."""
    try:
        _set_max_memory(getattr(args, "max_memory", None))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            code = args.command(args)
        for message in dict.fromkeys(str(w.message) for w in caught if w.category is UserWarning):
            print(f"irwua: warning: {printable(message)}", file=sys.stderr)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        # The reader of the output left (``| head -1``) after the work was done: stop quietly,
        # and keep Python from reporting the same error again when it flushes at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except IrwuaError as exc:
        if args.debug:
            _print_traceback()
        print(f"irwua: error: {printable(str(exc))}", file=sys.stderr)
        return EXIT_USER_ERROR
    except MemoryError:
        if args.debug:
            _print_traceback()
        print(
            "irwua: error: the machine ran out of memory; lower --max-memory so that irwua "
            "refuses what does not fit, or use a smaller --batch-size.",
            file=sys.stderr,
        )
        return EXIT_USER_ERROR
    except KeyboardInterrupt as exc:
        print("irwua: interrupted", file=sys.stderr)
        return 128 + (signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT)
    except Exception as exc:  # Last resort: one line instead of a traceback.
        if args.debug:
            _print_traceback()
        print(
            f"irwua: internal error: {type(exc).__name__}: {printable(str(exc))} (run with "
            "--debug for the traceback and please report it)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL_ERROR


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that whatever is being written is cleaned up."""


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM raises ``Terminated`` while the command runs (in the main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(_signum, _frame):
        raise Terminated

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _restored_max_memory() -> Iterator[None]:
    """The memory limit as it was before the command (``--max-memory`` sets it for one run)."""
    from irwua.limits import ENV, set_max_memory

    previous = os.environ.get(ENV)
    try:
        yield
    finally:
        set_max_memory(previous)


def _set_max_memory(text: str | None) -> None:
    from irwua.limits import parse_size, set_max_memory

    if text is None:
        return
    try:
        set_max_memory(parse_size(text))
    except ValueError:
        raise IrwuaError(f"--max-memory takes a size such as 512M or 4G, not '{text}'.") from None


def _print(text: str) -> None:
    """Print irwua's own lines; a control character that reached them is shown escaped."""
    print(printable(text, lines=True))


def _print_traceback() -> None:
    import traceback  # Only for --debug: every other run starts without it.

    traceback.print_exc()


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line like irwua's own, with exit status 2."""

    def error(self, message: str):
        print(f"irwua: error: {printable(message)} (see '{self.prog} --help').", file=sys.stderr)
        raise SystemExit(EXIT_USER_ERROR)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="irwua", description="Show how a trained neural network uses its weights."
    )
    parser.add_argument("--version", action="version", version=f"irwua {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    parser.set_defaults(command=lambda _args: parser.print_help() or 0)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    analyze = commands.add_parser("analyze", help="analyze a model and write a report")
    analyze.add_argument("model", help=MODEL_HELP)
    _loading_arguments(analyze)
    _data_arguments(analyze, required=False)
    chosen = analyze.add_mutually_exclusive_group()
    chosen.add_argument(
        "--passes",
        metavar="NAMES",
        help="comma-separated passes to run besides the defaults (flops,metrics), with what "
        "they require, e.g. pruning,recommendations; see 'irwua passes'",
    )
    chosen.add_argument(
        "--only",
        metavar="NAMES",
        help="comma-separated passes to run instead of the defaults (with what they require)",
    )
    analyze.add_argument(
        "--input-shape",
        action="append",
        default=[],
        metavar="NAME=DIMS",
        help="bind an input's shape, e.g. image=1x3x224x224 (repeatable)",
    )
    _option_flags(analyze, ANALYZE_FLAGS)
    _report_arguments(analyze, "irwua-report", "analysis.json and report.html")
    analyze.add_argument(
        "--no-html",
        action="store_true",
        help="write analysis.json (and the passes' data files) but no HTML report: faster",
    )
    analyze.set_defaults(command=_analyze)

    compare = commands.add_parser(
        "compare", help="compare several models on the same data, the first as the baseline"
    )
    compare.add_argument("models", nargs="+", metavar="MODEL", help="two or more models")
    _loading_arguments(compare)
    _data_arguments(compare, required=True)
    _option_flags(compare, STREAMING_FLAGS)
    compare.add_argument("--names", help="comma-separated names of the models, in order")
    _report_arguments(compare, "irwua-compare", "compare.json and compare.html")
    compare.set_defaults(command=_compare)

    prune = commands.add_parser(
        "prune", help="write a pruned copy of a model and measure it against the original"
    )
    prune.add_argument("model", help=MODEL_HELP)
    _loading_arguments(prune)
    _data_arguments(prune, required=True)
    prune.add_argument(
        "--ratio",
        type=float,
        help="share of the weights to remove, 0-1 (structured: the weights the removed units "
        "take out); required unless --pattern gives it",
    )
    prune.add_argument(
        "--criterion", default="importance", help="importance (default), magnitude or random"
    )
    prune.add_argument(
        "--structured",
        action="store_true",
        help="remove whole output units/channels (a smaller model) instead of zeroing weights",
    )
    prune.add_argument(
        "--scope",
        default="global",
        help="global (default: all layers ranked together), uniform (every layer pruned at "
        "--ratio) or owl (layers with more outlier weights pruned less); the pruning pass's "
        "--prune-scopes also has layer (one layer at a time, the others intact)",
    )
    prune.add_argument(
        "--grouping",
        default="layer",
        help="layer (default: a layer's weights compete together) or output (each output "
        "unit's weights pruned to the same ratio, as Wanda does)",
    )
    prune.add_argument(
        "--pattern",
        help="N:M semi-structured sparsity such as 2:4: the N lowest of every M inputs of each "
        "output are zeroed (the ratio is N/M)",
    )
    prune.add_argument(
        "--layers",
        help="comma-separated layers to prune (default: every prunable layer)",
    )
    prune.add_argument(
        "--width-multiple",
        type=int,
        default=1,
        metavar="N",
        help="with --structured: keep each width that is a multiple of N a multiple of N (8 "
        "suits onnxruntime's convolution kernels: the speed-up needs it)",
    )
    prune.add_argument(
        "--reconstruct",
        action="store_true",
        help="then update the kept weights of each layer to keep its outputs on --data "
        "(least squares from the inputs' second moments, as SparseGPT)",
    )
    prune.add_argument(
        "--save-plan",
        metavar="FILE",
        help="also write the pruning plan (masks or removed units per layer, JSON): "
        "irwua.apply_pruning applies it to the PyTorch module for fine-tuning",
    )
    prune.add_argument(
        "--from-plan",
        metavar="FILE",
        help="prune exactly as a saved plan says (checked against the model; no --ratio)",
    )
    prune.add_argument("-o", "--out", required=True, metavar="FILE", help="the pruned .onnx")
    _option_flags(prune, PRUNE_FLAGS)
    _debug_argument(prune)
    prune.set_defaults(command=_prune)

    quantize = commands.add_parser(
        "quantize", help="write an int8 copy of a model and measure it against the original"
    )
    quantize.add_argument("model", help=MODEL_HELP)
    _loading_arguments(quantize)
    _data_arguments(quantize, required=True)
    quantize.add_argument(
        "--mode",
        default="static",
        help="static (default: QDQ, ranges calibrated on --data; for CNNs) or dynamic "
        "(activations quantized at run time; for MatMul-heavy models)",
    )
    quantize.add_argument(
        "--keep-float",
        default="auto",
        metavar="auto|none|A,B",
        help="layers left in float: auto (default: those whose quantization alone changes more "
        "than --tolerance of the predictions, measured one layer at a time), none, or names",
    )
    quantize.add_argument("-o", "--out", required=True, metavar="FILE", help="the int8 .onnx")
    _option_flags(quantize, QUANTIZE_FLAGS)
    _debug_argument(quantize)
    quantize.set_defaults(command=_quantize)

    demo = commands.add_parser(
        "demo", help="analyze the bundled digits CNN on its images and write the report"
    )
    demo.add_argument(
        "--out",
        default="demo-report",
        metavar="DIR",
        help="where analysis.json and report.html go (default: demo-report)",
    )
    _debug_argument(demo)
    demo.set_defaults(command=_demo)

    passes = commands.add_parser("passes", help="list the analysis passes")
    passes.set_defaults(command=_passes)
    return parser


MODEL_HELP = (
    "an .onnx, .keras or .h5 file, a SavedModel directory (needs --trust-code), or a TorchScript "
    ".pt or torch.export .pt2 file (these need --trust-code too)"
)


def _loading_arguments(command: argparse.ArgumentParser) -> None:
    """How a model file is read: its framework, the memory limit, and whether code the file
    holds may run."""
    command.add_argument(
        "--framework",
        choices=("torch", "tensorflow", "onnx"),
        help="the model's framework, when its file name does not tell",
    )
    command.add_argument(
        "--max-memory",
        metavar="SIZE",
        help="the most memory irwua may use for what a file declares (inputs to synthesize, "
        "weights to score, arrays to unpack), e.g. 4G; default: half of the machine's memory",
    )
    command.add_argument(
        "--trust-code",
        "--trust-pickle",
        dest="trust_code",
        action="store_true",
        help="allow loading files that run code of their own when loaded: PyTorch .pt and .pt2 "
        "(pickle), TensorFlow SavedModels (their restore ops), Keras Lambda layers; only for "
        "files you trust (--trust-pickle is the former name)",
    )


def _data_arguments(command: argparse.ArgumentParser, required: bool) -> None:
    """The sample data and its labels."""
    command.add_argument(
        "--data",
        required=required,
        metavar="FILE",
        help="sample input as .npy, or .npz (arrays by input name or in order); saved PyTorch "
        "models are traced on it",
    )
    command.add_argument(
        "--labels", metavar="FILE", help="class ids (.npy), one per sample, for accuracy"
    )


def _flags(names: Sequence[str], renamed: Mapping[str, str] | None = None) -> dict[str, str]:
    """Setting name -> flag, for the settings ``names`` (their blocks' flags, or ``renamed``)."""
    declared = {setting.name: setting.flag for setting in settings()}
    return {name: (renamed or {}).get(name, declared[name]) for name in names}


STREAMING_FLAGS = _flags(("batch_size", "max_samples"))
PRUNE_FLAGS = _flags(
    ("batch_size", "max_samples", "norm", "prune_seed"), renamed={"prune_seed": "--seed"}
)
QUANTIZE_FLAGS = _flags(("batch_size", "max_samples", "tolerance"))
ANALYZE_FLAGS = _flags([setting.name for setting in settings() if setting.flag])
"""The settings (``irwua.options``) each command takes, with their flags."""


def _option_flags(command: argparse.ArgumentParser, flags: Mapping[str, str]) -> None:
    """An argument for each setting of ``flags``, as its options block declares it."""
    for setting in settings():
        if setting.name not in flags:
            continue
        if setting.parse is bool:  # a switch: given means True
            command.add_argument(
                flags[setting.name],
                dest=setting.name,
                action="store_const",
                const="yes",
                help=setting.help.format(default=setting.default),
            )
            continue
        command.add_argument(
            flags[setting.name],
            dest=setting.name,
            choices=setting.choices,
            metavar=setting.metavar,
            help=setting.help.format(default=setting.default),
        )


def _options(args: argparse.Namespace, flags: Mapping[str, str]) -> Options:
    """Options from the flags the user gave; the others keep their blocks' defaults."""
    given = {}
    for setting in settings():
        text = getattr(args, setting.name) if setting.name in flags else None
        if text is None:
            continue
        try:
            given[setting.name] = setting.parse(text)
        except ValueError:
            flag = flags[setting.name]
            raise IrwuaError(f"{flag} takes {setting.expected}, not '{text}'.") from None
    try:
        return Options(**given)
    except SettingError as exc:
        raise _with_flags(exc, flags) from None


def _with_flags(error: SettingError, flags: Mapping[str, str]) -> IrwuaError:
    """The error with each setting it names worded as its flag (``--max-samples``)."""
    return IrwuaError(error.worded(lambda name: flags.get(name, f"--{name.replace('_', '-')}")))


def _report_arguments(command: argparse.ArgumentParser, default: str, files: str) -> None:
    """Where the report goes and how much is printed."""
    command.add_argument(
        "--out", default=default, metavar="DIR", help=f"where {files} go (default: {default})"
    )
    command.add_argument("--quiet", action="store_true", help="print only where the report is")
    _debug_argument(command)


def _debug_argument(command: argparse.ArgumentParser) -> None:
    """``--debug`` also after the command name (the top-level flag is the default)."""
    command.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks of errors"
    )


def _analyze(args: argparse.Namespace) -> int:
    from irwua.analysis import analyze
    from irwua.data.files import read_data_file
    from irwua.ingest.inputs import parse_shape

    shapes = dict(parse_shape(text) for text in args.input_shape)
    passes = _requested_passes(args)
    options = _options(args, ANALYZE_FLAGS)
    outputs = ("analysis.json", "report.html", "importance.npz", "importance_units.npz")
    _refuse_inputs(Path(args.out), outputs, args)
    data = read_data_file(args.data) if args.data else None
    analysis = analyze(
        args.model,
        data,
        passes=passes,
        input_shapes=shapes,
        options=options,
        framework=args.framework,
        trust_code=args.trust_code,
        labels=_read_labels(args.labels),
    )
    written = analysis.save(args.out, html=not args.no_html, inputs=_data_paths(args))
    if not args.quiet:
        _print(analysis.summary())
    if "report.html" in written:
        _print(f"report: {written['report.html']}")
    _print(f"json:   {written['analysis.json']}")
    return 0


def _requested_passes(args: argparse.Namespace) -> list[str]:
    """The passes ``--passes`` adds to the defaults, or exactly those of ``--only``; a pass that
    has nothing to show without data is refused without ``--data``."""
    from irwua.analysis import DEFAULT_PASSES
    from irwua.passes import PASSES
    from irwua.pipeline import resolve_order

    flag, text = ("--only", args.only) if args.only is not None else ("--passes", args.passes)
    named = [name.strip() for name in (text or "").split(",") if name.strip()]
    if text is not None and not named:
        raise IrwuaError(f"{flag} names no pass; see 'irwua passes' for the list.")
    passes = named if flag == "--only" else list(dict.fromkeys([*DEFAULT_PASSES, *named]))
    if args.data is None:
        for name in resolve_order(passes, PASSES):
            reason = PASSES[name].needs_data
            if reason:
                asked = [p for p in named if name in resolve_order([p], PASSES)]
                verb = "needs" if len(asked) == 1 else "need"
                raise IrwuaError(
                    f"{flag} {', '.join(asked)} {verb} data ({reason}); give --data FILE (an "
                    ".npy of samples, or an .npz by input name)."
                )
    return passes


def _compare(args: argparse.Namespace) -> int:
    from irwua.comparison import compare
    from irwua.data.files import read_data_file

    names = [name.strip() for name in args.names.split(",")] if args.names else None
    options = _options(args, STREAMING_FLAGS)
    data = read_data_file(args.data)
    labels = _read_labels(args.labels)
    comparison = compare(
        args.models,
        data,
        labels,
        names,
        options=options,
        framework=args.framework,
        trust_code=args.trust_code,
    )
    written = comparison.save(args.out, inputs=_data_paths(args))
    if not args.quiet:
        _print(comparison.summary())
    _print(f"report: {written['compare.html']}")
    _print(f"json:   {written['compare.json']}")
    return 0


def _quantize(args: argparse.Namespace) -> int:
    from irwua.data.files import read_data_file
    from irwua.quantizer import quantize_model

    options = _options(args, QUANTIZE_FLAGS)
    _refuse_inputs(Path(args.out).parent, [Path(args.out).name], args)
    keep = args.keep_float
    keep_float = keep if keep == "auto" else None if keep == "none" else keep.split(",")
    try:
        model = quantize_model(
            args.model,
            read_data_file(args.data),
            mode=args.mode,
            keep_float=keep_float,
            labels=_read_labels(args.labels),
            options=options,
            framework=args.framework,
            trust_code=args.trust_code,
        )
    except SettingError as exc:
        raise _with_flags(exc, {**QUANTIZE_FLAGS, "keep_float": "--keep-float"}) from None
    written = model.save(args.out, inputs=_data_paths(args))
    _print(model.summary())
    _print(f"quantized model: {written}")
    return 0


def _prune(args: argparse.Namespace) -> int:
    from irwua.data.files import read_data_file
    from irwua.pruner import prune_model

    options = _options(args, PRUNE_FLAGS)
    for path in (args.out, args.save_plan or args.out):
        _refuse_inputs(Path(path).parent, [Path(path).name], args)
    try:
        pruned = prune_model(
            args.model,
            read_data_file(args.data),
            args.ratio,
            criterion=args.criterion,
            structured=args.structured,
            labels=_read_labels(args.labels),
            scope=args.scope,
            options=options,
            framework=args.framework,
            trust_code=args.trust_code,
            grouping=args.grouping,
            pattern=args.pattern,
            layers=None if args.layers is None else args.layers.split(","),
            plan=args.from_plan,
            reconstruct=args.reconstruct,
            width_multiple=args.width_multiple,
        )
    except SettingError as exc:
        raise _with_flags(exc, PRUNE_FLAGS) from None
    written = pruned.save(args.out, inputs=_data_paths(args))
    _print(pruned.summary())
    _print(f"pruned model: {written}")
    if args.save_plan:
        _print(f"pruning plan: {pruned.save_plan(args.save_plan, inputs=_data_paths(args))}")
    return 0


def _refuse_inputs(directory: Path, names: Sequence[str], args: argparse.Namespace) -> None:
    """Refuse at once an output over the model or data files (``save`` checks again, with the
    model's external-data files, after the work)."""
    from irwua.report.files import refuse_inputs

    refuse_inputs(directory, names, [Path(args.model), *_data_paths(args)])


def _data_paths(args: argparse.Namespace) -> list[Path]:
    """The data and labels files given, which no output may overwrite."""
    return [Path(path) for path in (args.data, args.labels) if path]


def _read_labels(path: str | None):
    """The class ids of an .npy labels file (None without a file)."""
    import numpy as np

    from irwua.data.files import read_data_file

    if path is None:
        return None
    labels = read_data_file(path)
    if not isinstance(labels, np.ndarray):
        raise IrwuaError(f"Labels file '{path}' must be an .npy file of class ids.")
    return np.asarray(labels)


def _passes(_args: argparse.Namespace) -> int:
    from irwua.passes import available_passes

    for _, spec in sorted(available_passes().items()):
        needs = f" (requires {', '.join(spec.requires)})" if spec.requires else ""
        print(f"{spec.name:<16} {spec.description}{needs}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from irwua.demo import headline, run_demo

    analysis, written = run_demo(args.out)
    _print(headline(analysis))
    _print(f"report: {written['report.html']}")
    return 0
