"""Settings of the MIG nodepool provider: defaults, tunables, where credentials and the endpoint
come from, and the clock.

The tunables are module constants that tests may patch; the environment overrides them at call
time (`setting`). The clock is indirected here so that tests can run the waits on a virtual clock:
callers look up `settings.sleep` / `settings.monotonic` at call time, never bind them at import.
"""

import logging
import os
import time
from collections.abc import Callable
from typing import Final

DEFAULT_TIMEOUT_SECONDS: Final = 1200
DEFAULT_DISK_SIZE: Final = 50

POLL_INTERVAL_SECONDS: float = 5.0  # env SKS_MIG_POLL_INTERVAL
RETRY_ATTEMPTS: int = 5  # env SKS_MIG_RETRY_ATTEMPTS (total attempts per API call)
RETRY_BASE_DELAY_SECONDS: float = 1.0  # env SKS_MIG_RETRY_BASE_DELAY (doubles on each retry)
RETRY_MAX_DELAY_SECONDS: float = 30.0  # env SKS_MIG_RETRY_MAX_DELAY
HTTP_TIMEOUT_SECONDS: float = 30.0  # env SKS_MIG_HTTP_TIMEOUT (per HTTP request)

ENV_ENDPOINT: Final = "EXOSCALE_API_ENDPOINT"
ENV_KEY: Final = "EXOSCALE_API_KEY"
ENV_SECRET: Final = "EXOSCALE_API_SECRET"
CONFIG_KEY: Final = "exoscale:key"
CONFIG_SECRET: Final = "exoscale:secret"

sleep: Callable[[float], None] = time.sleep
monotonic: Callable[[], float] = time.monotonic

log = logging.getLogger(__name__)


def setting(env: str, default: float) -> float:
    """A tunable: the environment variable `env` if it is a number, else `default`."""
    raw = os.environ.get(env)
    if raw:
        try:
            return float(raw)
        except ValueError:
            log.warning("ignoring %s=%r: not a number", env, raw)
    return float(default)
