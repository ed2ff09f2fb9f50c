"""The one exception type irwua raises for problems a user can fix.

Every message is a single sentence that says what is wrong and, where possible, what to do.
The CLI prints it without a traceback; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import re


class IrwuaError(Exception):
    """A problem with the model, the data or the options that the user can act on."""


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_SENTENCE_END = re.compile(r"(?<=[^.\s]{2})\.\s")


def root_reason(exc: BaseException, limit: int = 300) -> str:
    """The first sentence of the message of ``exc``'s root cause (the exporters wrap the real
    reason in generic "step 1/3 failed" errors), without terminal colours, at most ``limit``
    characters."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    lines = [line.strip() for line in _ANSI.sub("", str(exc)).splitlines() if line.strip()]
    text = _SENTENCE_END.split(lines[0], maxsplit=1)[0] if lines else type(exc).__name__
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text.rstrip(".")
