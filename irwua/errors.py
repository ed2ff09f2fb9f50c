"""The one exception type irwua raises for problems a user can fix.

Every message is a single sentence that says what is wrong and, where possible, what to do.
The CLI prints it without a traceback; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import re


class IrwuaError(Exception):
    """A problem with the model, the data or the options that the user can act on."""


class UnknownLayerError(IrwuaError, KeyError):
    """A layer name the model (or a result) does not have; the message names those it has. A
    ``KeyError`` too, as any lookup of a missing key."""

    def __str__(self) -> str:  # KeyError would show the message in quotes.
        return str(self.args[0]) if self.args else ""


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_SENTENCE_END = re.compile(r"(?<=[^.\s]{2})\.\s")
_RUNTIME_NOISE = (
    # onnxruntime's status prefix: "[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : "
    (re.compile(r"\[ONNXRuntimeError\] : \d+ : \w+ : "), ""),
    # A C++ source location and function signature: "/src/x.h:46 void f(const T&, int) "
    (re.compile(r"/\S+:\d+ [^\n]*?\)\s(?=[A-Z])"), ""),
    # "Non-zero status code returned while running Gather node. Name:'emb' Status Message: "
    (
        re.compile(
            r"Non-zero status code returned while running (\w+) node\. Name:'([^']*)' "
            r"Status Message: "
        ),
        r"\1 node '\2': ",
    ),
)


def root_reason(exc: BaseException, limit: int = 300) -> str:
    """The first sentence of the message of ``exc``'s root cause (the exporters wrap the real
    reason in generic "step 1/3 failed" errors), without terminal colours or onnxruntime's status
    codes and C++ source locations, at most ``limit`` characters."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    message = _ANSI.sub("", str(exc))
    for pattern, replacement in _RUNTIME_NOISE:
        message = pattern.sub(replacement, message)
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    text = _SENTENCE_END.split(lines[0], maxsplit=1)[0] if lines else type(exc).__name__
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text.rstrip(".")
