"""Stack config as the Pulumi CLI hands it to the program: each `sks-mig:` value as text (objects
as JSON text), `secure:` values decrypted, and every top-level key holding one marked secret
(sdk/go/common/resource/config/object.go: an object is secure when any value inside it is;
map.go SecureKeys lists such keys).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from config.stack_config import StackConfig, load_stack_config
from config.stack_file import StackFileFacts

# What a decrypted secret looks like to the program in these tests; `{"secure": "plain:<text>"}`
# stands for a secret whose decrypted value is <text>.
DECRYPTED = "decrypted-secret-value-0123456789"
PLAIN = "plain:"


def secure(plain: str | None = None) -> dict[str, str]:
    """A `secure:` value; decrypted, it is `plain` (or DECRYPTED)."""
    return {"secure": PLAIN + plain if plain is not None else "v1:ciphertext"}


def engine_values(config: Mapping[str, Any]) -> tuple[dict[str, str], list[str]]:
    """(values, secret keys) as the language host passes them: PULUMI_CONFIG and
    PULUMI_CONFIG_SECRET_KEYS."""
    values: dict[str, str] = {}
    secret: list[str] = []
    for key, value in config.items():
        plain, was_secure = _decrypt(value)
        if was_secure:
            secret.append(key)
        # Whole floats stay floats (2.0), to exercise the config layer's strict integers; the CLI,
        # in Go, writes them as 2 (and so does tools/mock_run.py).
        values[key] = plain if isinstance(plain, str) else json.dumps(plain)
    return values, secret


def load(config: Mapping[str, Any], facts: StackFileFacts | None = None) -> StackConfig:
    """Validate `config` (a stack file's `config:`) the way the program does."""
    values, secret = engine_values(config)
    return load_stack_config(values, secret_keys=secret, facts=facts)


def _decrypt(value: Any) -> tuple[Any, bool]:
    if isinstance(value, dict):
        if set(value) == {"secure"} and isinstance(value["secure"], str):
            text = value["secure"]
            return (text.removeprefix(PLAIN) if text.startswith(PLAIN) else DECRYPTED), True
        items = {k: _decrypt(v) for k, v in value.items()}
        return {k: v for k, (v, _) in items.items()}, any(s for _, s in items.values())
    if isinstance(value, list):
        items_list = [_decrypt(v) for v in value]
        return [v for v, _ in items_list], any(s for _, s in items_list)
    return value, False
