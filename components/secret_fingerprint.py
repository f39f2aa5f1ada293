"""A fingerprint of the secrets a workload's pods read when they start, for their pod template.

Kubernetes reads an environment variable taken from a Secret (valueFrom.secretKeyRef) when the
container starts and never again, and changing a Secret does not touch the pods that use it: a new
API key would reach the pods only when they happen to restart. With the fingerprint of the values
in the pod template, a changed value changes the template, and the controller rolls the pods.

The fingerprint is scrypt (RFC 7914, Python's hashlib.scrypt) of the values, with a fixed salt, and
is shown in clear: it sits in a pod annotation, readable by anyone who may read the pods, a wider
group than those who may read Secrets. A plain SHA-256 would let them test guesses at billions per
second against a key that is long but not random (the config asks for 16 characters, not for
randomness); each scrypt guess costs 16 MiB and tens of milliseconds. A keyed hash would need a
second, stable secret that nothing here has.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping

import pulumi

_SALT = b"sks-mig.io/secrets-fingerprint"
# scrypt's cost: N=2^14, r=8 use 128 * r * N bytes = 16 MiB per evaluation (p=1), ~35 ms here.
_N, _R, _P = 2**14, 8, 1


def fingerprint(values: Mapping[str, pulumi.Input[str]]) -> pulumi.Output[str]:
    """The fingerprint of `values` (name -> secret value), 64 hex digits, not secret. Names are part
    of it: moving a value to another name changes it too."""
    names = sorted(values)

    def digest(resolved: list[str]) -> str:
        return _scrypt(json.dumps(dict(zip(names, map(str, resolved), strict=True)), sort_keys=True))

    return pulumi.Output.unsecret(pulumi.Output.all(*(values[name] for name in names)).apply(digest))


@functools.lru_cache(maxsize=32)
def _scrypt(text: str) -> str:
    # Several workloads share one API key: derived once per run.
    return hashlib.scrypt(text.encode(), salt=_SALT, n=_N, r=_R, p=_P, dklen=32).hex()
