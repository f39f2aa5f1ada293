"""The value types the config sections share, and the base every section derives from.

Types are strict (a boolean is not a number, "2" is not 2, 2.0 is not an integer) and every key
is camelCase as users write it; an unknown key is an error, never ignored.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints
from pydantic.alias_generators import to_camel

from config.errors import control_character, echo
from config.limits import CACHE_MAX_GIB, CACHE_MIN_GIB, MAX_TEXT_LENGTH


class Section(BaseModel):
    """One object of the stack config: camelCase keys, strict types, no unknown keys."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=False,
        extra="forbid",
        strict=True,
        frozen=True,
    )


DNS_LABEL = r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"
# Karpenter's duration pattern for consolidateAfter and expireAfter (karpenter.sh_nodepools.yaml, v1.10.0).
DURATION_PATTERN = r"^(([0-9]+(s|m|h))+|Never)$"
# What each pattern means, for the error message.
PATTERN_HELP = {
    DNS_LABEL: "a DNS label: lowercase letters, digits and '-', starting with a letter, at most 63",
    DURATION_PATTERN: "a duration such as 10m, 1h30m or Never (whole numbers of h, m and s)",
}
DnsLabel = Annotated[str, StringConstraints(pattern=DNS_LABEL, max_length=63)]


def _plain_text(value: str) -> str:
    """One line of visible text: no control or invisible characters, no surrounding spaces."""
    bad = control_character(value)
    if bad is not None:
        raise ValueError(f"{echo(value)} contains a control or invisible character ({bad})")
    if not value.strip():
        raise ValueError(f"{echo(value)} is empty")
    if value != value.strip():
        raise ValueError(f"{echo(value)} starts or ends with a space")
    if len(value) > MAX_TEXT_LENGTH:
        raise ValueError(f"{echo(value)} is longer than {MAX_TEXT_LENGTH} characters")
    return value


PlainText = Annotated[str, AfterValidator(_plain_text)]

# Kubernetes quantity suffixes and their factors (apimachinery resource.Quantity); ASCII digits.
_SUFFIXES = {
    "": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}
_QUANTITY = re.compile(r"([0-9]+(?:\.[0-9]+)?)(" + "|".join(s for s in _SUFFIXES if s) + ")?")
_GIB = 2**30
# Digits (and decimal point) a size in range can be written with: 10000Gi is 10737418240000 bytes.
_MAX_QUANTITY_DIGITS = 32


def _volume_size(value: str) -> str:
    """A block storage volume size: a Kubernetes quantity that is a whole number of GiB in the
    range the Exoscale CSI driver creates (see config/limits.py)."""
    accepted = f"a whole number of GiB from {CACHE_MIN_GIB}Gi to {CACHE_MAX_GIB}Gi, such as 50Gi"
    match = _QUANTITY.fullmatch(value)
    if match is None:
        raise ValueError(f"{echo(value)} is not a Kubernetes quantity; write {accepted}")
    if len(match[1]) > _MAX_QUANTITY_DIGITS:
        # Bounded before converting: no size in range needs more digits, and exact arithmetic on
        # thousands of digits is slow (Python refuses int() of more than 4300 digits outright).
        raise ValueError(f"{echo(value)} has more digits than any size in range needs; write {accepted}")
    # Exact: a Decimal's 28 digits cannot divide 9999999999999999999Ei by a GiB.
    size = Fraction(match[1]) * _SUFFIXES[match[2] or ""]
    if size % _GIB != 0 or not CACHE_MIN_GIB <= size / _GIB <= CACHE_MAX_GIB:
        raise ValueError(
            f"{echo(value)} is not accepted: the Exoscale block storage driver creates volumes of "
            f"{accepted}"
        )
    return value


VolumeSize = Annotated[str, AfterValidator(_volume_size)]
