"""Text from a model, made safe to print in a terminal.

Names, op types, doc strings and onnxruntime's messages can hold any character: an escape
sequence that clears the screen or recolours it, a carriage return or newline that forges a line
of irwua's output, a bell, a NUL, or a bidirectional override that shows text reversed. Every
such character is shown as its Python escape (``\\x1b``, ``\\u202e``) instead.
"""

from __future__ import annotations

import re

_UNPRINTABLE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff"
    "\ufff9-\ufffb\ud800-\udfff\U000e0000-\U000e007f]"
)
"""C0 and C1 controls (newline and tab included), invisible format characters (zero-width
spaces, joiners, bidirectional embeddings, overrides and isolates, byte-order mark, tags), line
and paragraph separators, and lone surrogates."""


def printable(text: str, lines: bool = False) -> str:
    """``text`` with every control or invisible format character escaped; ``lines=True`` keeps
    newlines (for irwua's own multi-line output whose parts were made printable already)."""
    if lines:
        return "\n".join(_UNPRINTABLE.sub(_escape, line) for line in text.split("\n"))
    return _UNPRINTABLE.sub(_escape, text)


def printable_strings(value: object) -> object:
    """A copy of a JSON-like ``value`` with every string in it (keys too) made printable."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {printable_strings(k): printable_strings(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [printable_strings(item) for item in value]
    return value


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return (
        f"\\x{code:02x}"
        if code < 0x100
        else f"\\u{code:04x}"
        if code < 0x10000
        else f"\\U{code:08x}"
    )
