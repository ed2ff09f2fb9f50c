"""The ``irwua`` command line.

Errors the user can fix print one sentence and exit with status 2; unexpected failures print one
line and exit with status 3. ``--debug`` shows the traceback of either.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from irwua import __version__
from irwua.errors import IrwuaError

EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 3


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.command(args)
    except IrwuaError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"irwua: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("irwua: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # Last resort: one line instead of a traceback.
        if args.debug:
            traceback.print_exc()
        print(
            f"irwua: internal error: {type(exc).__name__}: {exc} (run with --debug for the "
            "traceback and please report it)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL_ERROR


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="irwua", description="Show how a trained neural network uses its weights."
    )
    parser.add_argument("--version", action="version", version=f"irwua {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    parser.set_defaults(command=lambda _args: parser.print_help() or 0)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    analyze = commands.add_parser("analyze", help="analyze a model and write a report")
    analyze.add_argument(
        "model",
        help="an .onnx or .keras file, a SavedModel directory, or a TorchScript .pt or "
        "torch.export .pt2 file (these two need --trust-pickle)",
    )
    analyze.add_argument(
        "--data",
        metavar="FILE",
        help="sample input as .npy, or .npz (arrays by input name or in order); saved PyTorch "
        "models are traced on it",
    )
    analyze.add_argument(
        "--framework",
        choices=("torch", "tensorflow", "onnx"),
        help="the model's framework, when its file name does not tell",
    )
    analyze.add_argument(
        "--trust-pickle",
        action="store_true",
        help="allow loading files that go through pickle and can run code (.pt, .pt2, Keras "
        "Lambda layers); only for files you trust",
    )
    analyze.add_argument(
        "--passes",
        default="flops,metrics",
        help="comma-separated passes to run, with what they require (default: flops,metrics); "
        "see 'irwua passes'",
    )
    analyze.add_argument(
        "--norm",
        choices=("l1", "l2", "magnitude"),
        default="l1",
        help="importance: |w| x mean|x| (l1, default), |w| x rms(x) (l2, Wanda), or |w|",
    )
    analyze.add_argument(
        "--batch-size", type=int, default=64, help="samples per onnxruntime run (default 64)"
    )
    analyze.add_argument(
        "--max-samples", type=int, default=None, help="use at most this many samples of the data"
    )
    analyze.add_argument(
        "--input-shape",
        action="append",
        default=[],
        metavar="NAME=DIMS",
        help="bind an input's shape, e.g. image=1x3x224x224 (repeatable)",
    )
    analyze.add_argument(
        "--out",
        default="irwua-report",
        metavar="DIR",
        help="where analysis.json and report.html go (default: irwua-report)",
    )
    analyze.add_argument(
        "--samples",
        type=int,
        default=None,
        help="training samples, for the training FLOPs estimate",
    )
    analyze.add_argument("--epochs", type=int, default=1, help="epochs for the training estimate")
    analyze.add_argument(
        "--train-factor",
        type=float,
        default=3.0,
        help="training FLOPs per forward FLOP (default 3: forward + backward)",
    )
    analyze.add_argument("--quiet", action="store_true", help="print only where the report is")
    analyze.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks of errors"
    )
    analyze.set_defaults(command=_analyze)

    passes = commands.add_parser("passes", help="list the analysis passes")
    passes.set_defaults(command=_passes)
    return parser


def _analyze(args: argparse.Namespace) -> int:
    from irwua.analysis import analyze
    from irwua.datafile import read_data_file
    from irwua.pipeline import Options
    from irwua.shapes import parse_shape

    shapes = dict(parse_shape(text) for text in args.input_shape)
    passes = [name.strip() for name in args.passes.split(",") if name.strip()]
    if not passes:
        raise IrwuaError("--passes names no pass; see 'irwua passes' for the list.")
    options = Options(
        train_samples=args.samples,
        epochs=args.epochs,
        train_factor=args.train_factor,
        batch_size=args.batch_size,
        max_samples=args.max_samples,
        norm=args.norm,
    )
    data = read_data_file(args.data) if args.data else None
    analysis = analyze(
        args.model,
        data,
        passes=passes,
        input_shapes=shapes,
        options=options,
        framework=args.framework,
        trust_pickle=args.trust_pickle,
    )
    written = analysis.save(args.out)
    if not args.quiet:
        print(analysis.summary())
    print(f"report: {written['report.html']}")
    print(f"json:   {written['analysis.json']}")
    return 0


def _passes(_args: argparse.Namespace) -> int:
    from irwua.pipeline import available_passes

    for _, spec in sorted(available_passes().items()):
        needs = f" (requires {', '.join(spec.requires)})" if spec.requires else ""
        print(f"{spec.name:<12} {spec.description}{needs}")
    return 0
