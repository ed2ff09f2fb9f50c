"""Runs of a model that irwua starts on its own (no user data): in a child process, with a time
and a memory limit.

A model file decides how long its run takes and how much it allocates: a Loop of 10^12
iterations, a scan output onnxruntime aborts on (SIGABRT), a data-dependent op on a huge declared
input. So such a run happens in a forked child (which shares the parent's weights copy-on-write):
the parent polls it, kills it when it outlives ``run_seconds()`` or its resident memory grows
by more than ``irwua.limits.max_memory()``, and Ctrl-C kills it too. Only the outputs' shapes
and dtypes come back.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection
from typing import Any

from irwua.limits import format_size, max_memory, resident_bytes

ENV_SECONDS = "IRWUA_RUN_SECONDS"
DEFAULT_SECONDS = 20.0
"""How long a run on synthetic inputs may take by default."""

_POLL_SECONDS = 0.02

Shapes = dict[str, tuple[tuple[int, ...], str]]
"""Output name -> (shape, numpy dtype string)."""


class RunStopped(Exception):
    """The bounded run did not finish; the message says why, as a phrase ("took longer than
    20 s")."""


def run_seconds() -> float:
    """The time limit of a bounded run: ``IRWUA_RUN_SECONDS`` or ``DEFAULT_SECONDS``."""
    try:
        return float(os.environ.get(ENV_SECONDS, DEFAULT_SECONDS))
    except ValueError:
        return DEFAULT_SECONDS


def bounded_shapes(run: Callable[[], Mapping[str, Any]]) -> Shapes:
    """The shapes and dtypes of the arrays ``run()`` returns, computed in a child process; raises
    ``RunStopped`` when the child fails, is killed by a limit or dies."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(run, sender), daemon=True)
    child.start()
    sender.close()
    try:
        # The child starts with the parent's pages (the weights, shared until written): what
        # counts against the limit is what it adds.
        return _wait(child, receiver, run_seconds(), resident_bytes(os.getpid()), max_memory())
    finally:
        if child.is_alive():
            child.kill()
        child.join()
        receiver.close()


def _wait(child: Any, receiver: Connection, seconds: float, base: int, memory: int) -> Shapes:
    deadline = time.monotonic() + seconds
    while not receiver.poll(_POLL_SECONDS):
        if not child.is_alive():
            child.join()
            raise RunStopped(f"stopped ({_death(child.exitcode)})")
        if time.monotonic() > deadline:
            raise RunStopped(f"took longer than {seconds:g} s")
        if resident_bytes(child.pid) - base > memory:
            raise RunStopped(f"needed more than the memory limit of {format_size(memory)}")
    try:
        outcome, value = receiver.recv()
    except EOFError:
        child.join()
        raise RunStopped(f"stopped ({_death(child.exitcode)})") from None
    if outcome == "error":
        raise RunStopped(value)
    return value


def _child(run: Callable[[], Mapping[str, Any]], sender: Connection) -> None:
    """In the child: run, and send back shapes or the reason of the failure."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)  # onnxruntime's abort messages are not the user's business
    try:
        values = run()
        shapes = {
            name: (tuple(int(d) for d in value.shape), value.dtype.str)
            for name, value in values.items()
            if hasattr(value, "shape") and hasattr(value, "dtype")
        }
        sender.send(("shapes", shapes))
    except BaseException as exc:  # Reported to the parent, which decides.
        sender.send(("error", str(exc).rstrip(".")))
    finally:
        sender.close()
        os._exit(0)  # no atexit handlers or finalizers of the parent's objects


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        import signal

        return f"onnxruntime was killed by {signal.Signals(-exitcode).name}"
    return f"exit status {exitcode}"
