"""One line per pydantic error: the key, the value given (as written), and what is accepted."""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from config.errors import Path, did_you_mean, echo, problem
from config.field_types import PATTERN_HELP

HIDDEN = "(value hidden)"

# Error types about the kind of value, where pydantic's own message does not say what is wanted.
_WANTED = {
    "string_type": "text",
    "int_type": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping (key: value lines)",
    "model_type": "a mapping (key: value lines)",
    "model_attributes_type": "a mapping (key: value lines)",
}


def describe(
    error: ErrorDetails,
    root: type[BaseModel],
    *,
    literal: Callable[[Path, Any], str | None],
    hidden: Callable[[Path], bool],
    unquoted: Callable[[Path, Any], bool] = lambda path, value: False,
) -> str:
    """The message for one error of validating `root`. `literal(path, value)` is the text the
    value was written as, when known; `unquoted(path, value)` whether text was written without
    quotes; values at `hidden(path)` are never echoed."""
    path: Path = tuple(part for part in error["loc"] if part != "[key]")
    kind, message = error["type"], str(error["msg"]).removeprefix("Value error, ")
    value = error.get("input")
    given = HIDDEN if hidden(path) else echo(value, literal(path, value))
    if kind == "missing":
        return problem(path, "required, but not set")
    if kind == "extra_forbidden":
        valid = section_keys(root, path[:-1])
        name = str(path[-1])
        return problem(path, f"unknown key; valid keys here: {', '.join(valid)}{did_you_mean(name, valid)}")
    if kind == "value_error":
        return problem(path, message)
    if kind == "string_pattern_mismatch":
        pattern = error.get("ctx", {}).get("pattern", "")
        return problem(path, f"{given} is not accepted: it must be {PATTERN_HELP.get(pattern, pattern)}")
    if kind in _WANTED:
        written = None if hidden(path) else literal(path, value)
        hint = _type_hint(kind, value, written, unquoted=not hidden(path) and unquoted(path, value))
        return problem(path, f"{given} is not accepted: {hint}{_accepted(root, path)}")
    if kind == "literal_error" and isinstance(value, str):
        expected = str(error.get("ctx", {}).get("expected", ""))
        choices = [choice.strip(" '") for choice in expected.replace(" or ", ", ").split(",")]
        return problem(path, f"{given} is not accepted: {message}{did_you_mean(value, choices)}")
    return problem(path, f"{given} is not accepted: {message}")


def _type_hint(kind: str, value: Any, written: str | None, *, unquoted: bool = False) -> str:
    wanted = _WANTED[kind]
    if kind == "string_type" and isinstance(value, bool | int | float):
        # The Pulumi CLI passes objects as JSON: YAML's unquoted 1.30 arrives as the number 1.3.
        if isinstance(value, bool):
            read_as = "as true or false"
        elif isinstance(value, float):
            read_as = "as a number (and drops trailing zeros: 1.30 becomes 1.3)"
        else:
            read_as = "as a number"
        quoted = f': "{written}"' if written is not None else ", exactly as meant"
        return f"YAML reads it unquoted {read_as}, not as text; write it in quotes{quoted}"
    if kind in ("int_type", "float_type") and isinstance(value, bool):
        return f"a boolean is not a number; write {wanted}"
    if kind == "int_type" and isinstance(value, float):
        return f"it must be {wanted}"
    if kind in ("int_type", "float_type", "bool_type") and isinstance(value, str) and unquoted:
        # Written bare, yet read as text: `1,000`, `32k`, or a YAML 1.1 boolean such as `yes` that the
        # CLI passes on as text.
        return f"written without quotes, but YAML reads it as text, not as {wanted}; write {wanted}{_like(kind, value)}"
    if kind in ("int_type", "float_type", "bool_type") and isinstance(value, str):
        return f"it is text (in quotes); write {wanted} without quotes"
    return f"it must be {wanted}"


def _like(kind: str, text: str) -> str:
    """", such as 10000" for `1e4` where the text is a number in another spelling; "" otherwise."""
    try:
        number = float(text.replace("_", ""))
    except ValueError:
        return ""
    if not math.isfinite(number) or abs(number) >= 1e18:
        return ""
    if kind == "int_type":
        return f", such as {int(number)}" if number.is_integer() else ""
    return f", such as {number!r}" if kind == "float_type" else ""


def _accepted(root: type[BaseModel], path: Path) -> str:
    info = _field(root, path)
    return f"; accepted: {info.description}" if info is not None and info.description else ""


def section_keys(root: type[BaseModel], path: Path) -> list[str]:
    """The camelCase keys users may write in the section at `path`."""
    model = _model_at(root, path)
    if model is None:
        return []
    return [info.alias or name for name, info in model.model_fields.items() if not info.exclude]


def _field(root: type[BaseModel], path: Path) -> FieldInfo | None:
    names = [part for part in path if isinstance(part, str)]
    if not names:
        return None
    model = _model_at(root, path[: _last_str_index(path)])
    if model is None:
        return None
    return next((info for name, info in model.model_fields.items() if (info.alias or name) == names[-1]), None)


def _last_str_index(path: Path) -> int:
    return max(index for index, part in enumerate(path) if isinstance(part, str))


def _model_at(root: type[BaseModel], path: Path) -> type[BaseModel] | None:
    model: type[BaseModel] | None = root
    for part in path:
        if isinstance(part, int):
            continue
        if model is None:
            return None
        info = next((i for n, i in model.model_fields.items() if (i.alias or n) == part), None)
        model = _model_in(info.annotation) if info is not None else None
    return model


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The section model inside an annotation such as `list[X]`, `X | None` or `Annotated[X, ...]`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, list, typing.Annotated):
        for argument in typing.get_args(annotation):
            found = _model_in(argument)
            if found is not None:
                return found
    return None
