"""A Pulumi dynamic resource for an Exoscale SKS nodepool with NVIDIA MIG profiles.

pulumiverse-exoscale's `SksNodepool` has no MIG argument, so this package drives the official
`exoscale` client directly, the way a careful Terraform provider would. One concept per module:

* `resource`: `MigNodepool` and `MigNodepoolArgs`, what a program declares;
* `provider`: `MigNodepoolProvider`, the CRUD the engine calls (and how state finds it again);
* `api_client`: the Exoscale API with retries, backoff and bounded waits;
* `api_errors`: how a failed API call becomes a message naming the input at fault;
* `spec`: the inputs, their defaults and their offline validation, the pool's name at the API;
* `states`: which nodepool states are transitional, failed or ready;
* `scaling`: resizing, scale-down by evicting chosen members;
* `notices`: warnings (a replacement, a scale-down) and how they reach the user;
* `settings`: defaults, tunables, credential and endpoint variables, the clock;
* `errors`: `MigNodepoolError`.

Importing the package has no side effects beyond a logging NullHandler and imports no HTTP stack:
the dynamic provider host re-imports it to unpickle the provider.
"""

import logging

from components.mig_nodepool.errors import MigNodepoolError
from components.mig_nodepool.provider import MigNodepoolProvider
from components.mig_nodepool.resource import MigNodepool, MigNodepoolArgs
from components.mig_nodepool.settings import DEFAULT_DISK_SIZE, DEFAULT_TIMEOUT_SECONDS
from components.mig_nodepool.spec import (
    CREATE_FIRST,
    DELETE_FIRST,
    INPUT_KEYS,
    OUTPUT_KEYS,
    REPLACE_KEYS,
    REPLACE_STRATEGIES,
)

__all__ = [
    "CREATE_FIRST",
    "DEFAULT_DISK_SIZE",
    "DEFAULT_TIMEOUT_SECONDS",
    "DELETE_FIRST",
    "INPUT_KEYS",
    "OUTPUT_KEYS",
    "REPLACE_KEYS",
    "REPLACE_STRATEGIES",
    "MigNodepool",
    "MigNodepoolArgs",
    "MigNodepoolError",
    "MigNodepoolProvider",
]

# pulumi.log shows the warnings to the user; the package's loggers are for tests and embedding
# programs and must not print them a second time through logging's last-resort handler.
logging.getLogger(__name__).addHandler(logging.NullHandler())
