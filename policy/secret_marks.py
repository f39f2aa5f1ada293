"""Keep secret-ness visible to the policies.

The engine sends an analyzer every property in wire form, a secret as
`{"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": ...}`.
pulumi_policy 1.21 unwraps those wrappers before a validation runs (`deserialize_properties`
without `proxy_secrets`, in both `Analyze` and `AnalyzeStack`), so `args.props` cannot tell a
secret from plain text. Only `Remediate` keeps the marks, and a remediation cannot report a
violation.

`install()` wraps the SDK's single entry point for that conversion, `deserialize_properties` in
`pulumi_policy.policy`: before the SDK unwraps a secret, every scalar inside it becomes a
`SecretStr` / `SecretInt` / `SecretFloat`. Those are subclasses of `str` / `int` / `float`, so every
other policy reads them as the plain values it always saw, while `is_secret()` can tell them
apart. Booleans and nulls cannot be subclassed and stay unmarked (no check needs them). If the
SDK's entry point is missing, `install()` raises and the pack refuses to start rather than report
every secret as plain text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from names import SECRET_SIG, SECRET_VALUE

_MARKER_ATTRIBUTE = "__sks_mig_secret_marks__"


class SecretStr(str):
    """A string that arrived inside a secret."""

    __slots__ = ()


class SecretInt(int):
    """An integer that arrived inside a secret."""

    __slots__ = ()


class SecretFloat(float):
    """A number that arrived inside a secret (the wire's numbers are floats)."""

    __slots__ = ()


SECRET_TYPES = (SecretStr, SecretInt, SecretFloat)


def is_secret(value: Any) -> bool:
    """Whether `value`, a scalar of deserialized properties, arrived inside a secret."""
    return isinstance(value, SECRET_TYPES)


def mark(value: Any, inside_secret: bool = False) -> Any:
    """The wire-form `value` with each secret wrapper replaced by its value, scalars marked."""
    if isinstance(value, dict):
        if value.get(SECRET_SIG) == SECRET_VALUE and "value" in value:
            return mark(value["value"], True)
        return {key: mark(item, inside_secret) for key, item in value.items()}
    if isinstance(value, list):
        return [mark(item, inside_secret) for item in value]
    if not inside_secret or isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str):
        return SecretStr(value)
    if isinstance(value, int):
        return SecretInt(value)
    if isinstance(value, float):
        return SecretFloat(value)
    return value


def installed() -> bool:
    """Whether the SDK's deserializer is the marking one."""
    import pulumi_policy.policy as sdk

    return bool(getattr(getattr(sdk, "deserialize_properties", None), _MARKER_ATTRIBUTE, False))


def install() -> None:
    """Make the SDK mark secrets when it deserializes properties for a validation (idempotent)."""
    import pulumi_policy.policy as sdk

    original: Callable[..., Any] | None = getattr(sdk, "deserialize_properties", None)
    if original is None or not callable(original):
        raise RuntimeError(
            "pulumi_policy.policy.deserialize_properties is gone: this pulumi_policy version "
            "deserializes properties differently, so the secrets-are-secret policy could not tell "
            "secrets from plain text; update policy/secret_marks.py for it"
        )
    if getattr(original, _MARKER_ATTRIBUTE, False):
        return

    def deserialize_properties(props: dict[str, Any], proxy_secrets: bool = False) -> Any:
        if proxy_secrets:  # Remediate keeps secrets its own way; leave it alone.
            return original(props, proxy_secrets)
        return original(mark(props))

    setattr(deserialize_properties, _MARKER_ATTRIBUTE, True)
    sdk.deserialize_properties = deserialize_properties
