"""What the stack file says that the config values no longer do.

The Pulumi CLI hands the program each `sks-mig:` object as JSON text: YAML's unquoted `1.30` has
become the number 1.3 by then, and `secure:` values inside an object are decrypted, with only the
whole top-level key marked secret. When the program runs beside its `Pulumi.<stack>.yaml` (as the
CLI runs it), the file still has both facts: the text each number was written as, and which leaves
were `secure:`. Read them here, for messages and for secrecy; anything unreadable gives no facts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path as FilePath
from typing import Any

import yaml

from config.errors import NAMESPACE, Path


class StackFileLoader(yaml.SafeLoader):
    """YAML as the Pulumi CLI reads a stack file (go-yaml into untyped values; pulumi's
    sdk/go/common/encoding and resource/config/object.go), where that differs from PyYAML: a
    timestamp such as `2026-07-02` reaches the program as text, never a date (go-yaml v2 keeps the
    text "for backward compatibility"; object.go turns a v3 time.Time into text), and a number
    with an exponent needs no decimal point or exponent sign, `1e4` (go-yaml resolve.go,
    yamlStyleFloat)."""


StackFileLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
# After the int resolvers (checked in order): whatever they did not take, as go-yaml's float.
StackFileLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\.[0-9_]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?$"),
    list("-+0123456789."),
)


@dataclass(frozen=True)
class StackFileFacts:
    literals: dict[Path, tuple[str, Any]] = field(default_factory=dict)
    """Path -> (text as written, value YAML read) of every number, boolean and null."""
    secure_paths: frozenset[Path] = frozenset()
    """Paths of the `secure:` leaves inside objects."""
    unquoted_text: dict[Path, str] = field(default_factory=dict)
    """Path -> text of every value written without quotes that YAML read as text (`1e4`)."""

    def literal(self, path: Path, value: Any) -> str | None:
        """The text `value` at `path` was written as, if the stack file has exactly that value."""
        written = self.literals.get(path)
        if written is None or type(written[1]) is not type(value) or written[1] != value:
            return None
        return written[0]

    def unquoted(self, path: Path, value: Any) -> bool:
        """Whether `value` at `path` is text the stack file wrote without quotes: text YAML read as
        text (`32k`), or a YAML 1.1 boolean such as `yes` where the CLI's reader passes it on as
        text (go-yaml v3 does; v2 reads true)."""
        if not isinstance(value, str):
            return False
        written = self.literals.get(path)
        return self.unquoted_text.get(path) == value or (written is not None and written[0] == value)


def read_stack_file(path: FilePath) -> StackFileFacts:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return StackFileFacts()
    return stack_file_facts(text)


def stack_file_facts(text: str) -> StackFileFacts:
    """What a stack file's text says beyond the values the engine passes on."""
    try:
        root = yaml.compose(text, Loader=StackFileLoader)
    except (yaml.YAMLError, RecursionError):  # RecursionError: nested deeper than the composer goes
        return StackFileFacts()
    config = _child(root, "config")
    if not isinstance(config, yaml.MappingNode):
        return StackFileFacts()
    found = _Found()
    for key_node, value_node in config.value:
        name = str(key_node.value)
        if not name.startswith(f"{NAMESPACE}:"):
            continue
        path = (name.removeprefix(f"{NAMESPACE}:"),)
        if isinstance(value_node, yaml.ScalarNode):
            # Top-level scalars too: `namespace: true` reaches the program as the text "true".
            _walk(value_node, path, found, frozenset())
        elif not _is_secure(value_node):  # a whole secret key is the engine's to mark, not ours
            _walk(value_node, path, found, frozenset())
    return StackFileFacts(found.literals, frozenset(found.secure), found.unquoted)


@dataclass
class _Found:
    literals: dict[Path, tuple[str, Any]] = field(default_factory=dict)
    secure: set[Path] = field(default_factory=set)
    unquoted: dict[Path, str] = field(default_factory=dict)


def _walk(node: yaml.Node, path: Path, found: _Found, above: frozenset[int]) -> None:
    if id(node) in above:  # an alias inside its own anchor: the path would go on forever
        return
    above = above | {id(node)}
    if isinstance(node, yaml.MappingNode):
        if _is_secure(node):
            found.secure.add(path)
            return
        for key_node, child in node.value:
            _walk(child, (*path, str(key_node.value)), found, above)
    elif isinstance(node, yaml.SequenceNode):
        for index, child in enumerate(node.value):
            _walk(child, (*path, index), found, above)
    elif isinstance(node, yaml.ScalarNode) and node.tag != "tag:yaml.org,2002:str":
        try:
            value = StackFileLoader("").construct_object(node, deep=True)
        except yaml.YAMLError:
            return
        found.literals[path] = (str(node.value), value)
    elif isinstance(node, yaml.ScalarNode) and node.style is None:
        found.unquoted[path] = str(node.value)


def _is_secure(node: yaml.Node) -> bool:
    return isinstance(node, yaml.MappingNode) and len(node.value) == 1 and node.value[0][0].value == "secure"


def _child(node: yaml.Node | None, name: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    return next((value for key_node, value in node.value if key_node.value == name), None)
