"""What the stack file says that the config values no longer do.

The Pulumi CLI hands the program each `sks-mig:` object as JSON text: YAML's unquoted `1.30` has
become the number 1.3 by then, and `secure:` values inside an object are decrypted, with only the
whole top-level key marked secret. When the program runs beside its `Pulumi.<stack>.yaml` (as the
CLI runs it), the file still has both facts: the text each number was written as, and which leaves
were `secure:`. Read them here, for messages and for secrecy; anything unreadable gives no facts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path as FilePath
from typing import Any

import yaml

from config.errors import NAMESPACE, Path


@dataclass(frozen=True)
class StackFileFacts:
    literals: dict[Path, tuple[str, Any]] = field(default_factory=dict)
    """Path -> (text as written, value YAML read) of every number, boolean and null."""
    secure_paths: frozenset[Path] = frozenset()
    """Paths of the `secure:` leaves inside objects."""

    def literal(self, path: Path, value: Any) -> str | None:
        """The text `value` at `path` was written as, if the stack file has exactly that value."""
        written = self.literals.get(path)
        if written is None or type(written[1]) is not type(value) or written[1] != value:
            return None
        return written[0]


def read_stack_file(path: FilePath) -> StackFileFacts:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return StackFileFacts()
    return stack_file_facts(text)


def stack_file_facts(text: str) -> StackFileFacts:
    """What a stack file's text says beyond the values the engine passes on."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return StackFileFacts()
    config = _child(root, "config")
    if not isinstance(config, yaml.MappingNode):
        return StackFileFacts()
    literals: dict[Path, tuple[str, Any]] = {}
    secure: set[Path] = set()
    for key_node, value_node in config.value:
        name = str(key_node.value)
        if not name.startswith(f"{NAMESPACE}:"):
            continue
        path = (name.removeprefix(f"{NAMESPACE}:"),)
        if isinstance(value_node, yaml.ScalarNode):
            # Top-level scalars too: `namespace: true` reaches the program as the text "true".
            _walk(value_node, path, literals, secure)
        elif not _is_secure(value_node):  # a whole secret key is the engine's to mark, not ours
            _walk(value_node, path, literals, secure)
    return StackFileFacts(literals, frozenset(secure))


def _walk(node: yaml.Node, path: Path, literals: dict[Path, tuple[str, Any]], secure: set[Path]) -> None:
    if isinstance(node, yaml.MappingNode):
        if _is_secure(node):
            secure.add(path)
            return
        for key_node, child in node.value:
            _walk(child, (*path, str(key_node.value)), literals, secure)
    elif isinstance(node, yaml.SequenceNode):
        for index, child in enumerate(node.value):
            _walk(child, (*path, index), literals, secure)
    elif isinstance(node, yaml.ScalarNode) and node.tag != "tag:yaml.org,2002:str":
        try:
            value = yaml.SafeLoader("").construct_object(node, deep=True)
        except yaml.YAMLError:
            return
        literals[path] = (str(node.value), value)


def _is_secure(node: yaml.Node) -> bool:
    return isinstance(node, yaml.MappingNode) and len(node.value) == 1 and node.value[0][0].value == "secure"


def _child(node: yaml.Node | None, name: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    return next((value for key_node, value in node.value if key_node.value == name), None)
