"""Silence for the exporters, which print progress, warnings and graph dumps from both Python and
C++ (torch.onnx, torch.export, TensorFlow, tf2onnx) that mean nothing to an irwua user.

Python-level output is redirected and warnings are ignored; C++ output is silenced by pointing
file descriptors 1 and 2 at the null device for the duration, and restored afterwards.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Iterator


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Nothing printed, logged to the terminal or warned while the block runs."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    with open(os.devnull, "w") as null, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with (
            _descriptors_to(null.fileno()),
            contextlib.redirect_stdout(null),
            contextlib.redirect_stderr(null),
        ):
            yield


@contextlib.contextmanager
def _descriptors_to(target: int) -> Iterator[None]:
    try:
        saved = [(fd, os.dup(fd)) for fd in (1, 2)]
    except OSError:  # no terminal descriptors to silence (a daemon): nothing to do
        yield
        return
    try:
        for fd, _ in saved:
            os.dup2(target, fd)
        yield
    finally:
        for fd, copy in saved:
            os.dup2(copy, fd)
            os.close(copy)
