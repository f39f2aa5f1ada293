"""How a config problem is told: `sks-mig:<key>: <value given> ... <what is accepted>`.

Every message names the key as the user writes it (`sks-mig:models[0].image`), echoes the value
as given (never a secret's), and says what would be accepted.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

import contract

NAMESPACE = contract.PROJECT
"""The config namespace: `sks-mig:zone`, `sks-mig:cluster`, ..."""

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
# Longer values are cut in messages: a message is read on one line of a terminal.
_ECHO_LIMIT = 80

Path = tuple[str | int, ...]
"""Where a value sits below the namespace: ("models", 0, "image")."""


class ConfigError(Exception):
    """Invalid stack configuration; the message is meant for the user as it stands."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


def key(path: Path) -> str:
    """`sks-mig:models[0].image` for ("models", 0, "image"); a key that is not a plain name (an
    env variable "A B") is shown quoted: `env['A B']`."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif not _PLAIN_KEY.fullmatch(part):
            text += f"[{echo(part)}]"
        else:
            text += f".{part}" if text else part
    return f"{NAMESPACE}:{text}"


def problem(path: Path, message: str) -> str:
    return f"{key(path)}: {message}"


def echo(value: Any, literal: str | None = None) -> str:
    """The value as the user wrote it: `literal` (its text in the stack file) when known; strings
    quoted with escapes (a control character shows as \\x00, never raw); YAML's spelling of
    booleans and null; long values cut."""
    if literal is not None:
        text = literal
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "null"
    elif isinstance(value, (int, float, str)):
        text = repr(value)
    else:
        try:
            text = json.dumps(value, ensure_ascii=True, default=str)
        except (ValueError, RecursionError):
            text = f"(a {type(value).__name__})"
    return text if len(text) <= _ECHO_LIMIT else text[: _ECHO_LIMIT - 3] + "..."


def did_you_mean(given: str, choices: Iterable[str]) -> str:
    """"; did you mean 'x'?" for the closest choice, or "" when none is close."""
    options = list(choices)
    by_lower = {choice.lower(): choice for choice in options}
    if given.lower() in by_lower:
        return f"; did you mean {by_lower[given.lower()]!r}?"
    close = difflib.get_close_matches(given.lower(), list(by_lower), n=1, cutoff=0.6)
    return f"; did you mean {by_lower[close[0]]!r}?" if close else ""


def control_character(text: str) -> str | None:
    """The first control or invisible formatting character of `text`, described, or None."""
    for position, char in enumerate(text):
        code = ord(char)
        if code < 0x20 or 0x7F <= code < 0xA0 or char in _INVISIBLE:
            return f"U+{code:04X} at position {position}"
    return None


# Characters that render as nothing but change what a name or value means (zero-width, bidi
# controls, byte-order mark): never wanted in a name, an image or an argument.
_INVISIBLE = frozenset("\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2060\u2066\u2067\u2068\u2069\ufeff")
