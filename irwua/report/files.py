"""Writing output files: all or none, never half-written, never over the model being read.

Files are staged under hidden temporary names and renamed into place; whatever stops the writing
(an error, Ctrl-C, SIGTERM: the CLI turns it into an exception) removes the staged files. No file
is written over one of the run's inputs (the model, its external data, the data files).

A report folder (``write_folder``) is owned by the run that writes it: a hidden manifest lists
irwua's files in it, and a new run removes the files of the previous one that it does not write
again (a report.html left beside an analysis.json of another model), and nothing else.
"""

from __future__ import annotations

import json
import os
import signal
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from irwua.errors import IrwuaError

MANIFEST = ".irwua-files"
"""The file of a report folder that lists the files irwua wrote there."""

PAUSE_ENV = "IRWUA_TEST_PAUSE_BEFORE_RENAME"
"""Seconds to wait between staging and renaming (tests interrupt a run in that window)."""


def write_files(
    directory: Path, contents: Mapping[str, str | bytes], inputs: Iterable[Path] = ()
) -> dict[str, Path]:
    """Write files atomically: each to a temporary name in ``directory``, then renamed.

    Refused, before anything is written, when a target is one of ``inputs``."""
    refuse_inputs(directory, contents, inputs)
    staged: dict[Path, Path] = {}
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for name, text in contents.items():
            with _signals_deferred():  # an interrupt cannot fall between creating and noting
                handle, temp = tempfile.mkstemp(prefix=f".{name}.", dir=directory)
                staged[Path(temp)] = directory / name
            os.fchmod(handle, _new_file_mode())  # mkstemp makes 0600; give what open() would.
            data = text.encode("utf-8") if isinstance(text, str) else text
            with os.fdopen(handle, "wb") as file:
                file.write(data)
        if os.environ.get(PAUSE_ENV):
            time.sleep(float(os.environ[PAUSE_ENV]))
        for temp, final in staged.items():
            os.replace(temp, final)
    except OSError as exc:
        _remove(staged)
        raise IrwuaError(f"Cannot write to '{directory}': {exc.strerror or exc}.") from exc
    except BaseException:
        _remove(staged)
        raise
    return {final.name: final for final in staged.values()}


def write_folder(
    directory: Path, contents: Mapping[str, str | bytes], inputs: Iterable[Path] = ()
) -> dict[str, Path]:
    """``write_files`` into a report folder that the run owns: the previous run's files that
    are not written again are removed, and the manifest lists the new ones."""
    inputs = list(inputs)
    previous = _manifest(directory)
    listing = json.dumps(sorted(contents)).encode("utf-8")
    written = write_files(directory, {**contents, MANIFEST: listing}, inputs)
    for name in previous - set(contents):
        stale = directory / name
        if not any(_same(stale, path) for path in inputs):
            stale.unlink(missing_ok=True)
    del written[MANIFEST]
    return written


def _manifest(directory: Path) -> set[str]:
    """The plain file names the manifest of ``directory`` lists (none if it has no valid one)."""
    try:
        names = json.loads((directory / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError):
        return set()
    if not isinstance(names, list):
        return set()
    return {
        name
        for name in names
        if isinstance(name, str) and name and "/" not in name and "\0" not in name
        if name not in (".", "..", MANIFEST)
    }


def refuse_inputs(directory: Path, names: Iterable[str], inputs: Iterable[Path]) -> None:
    """An error when writing one of ``names`` into ``directory`` would overwrite an input."""
    inputs = list(inputs)
    for name in names:
        target = directory / name
        for path in inputs:
            if _same(target, path):
                raise IrwuaError(
                    f"Writing '{target}' would overwrite '{path}', which this run reads; "
                    "choose another output."
                )


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back (in the main thread) until the block is done; they are
    handled, as usual, right after it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _remove(staged: Mapping[Path, Path]) -> None:
    for temp in staged:
        temp.unlink(missing_ok=True)


def _new_file_mode() -> int:
    """The mode a new file gets from ``open()``: 0666 less the process's umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
