"""What every dynamic provider on the Exoscale API here shares (the MIG nodepool's and the SKS
add-on's): a stateless pickle, the credentials, and the API client of one call.

* The pickle. `pulumi.dynamic.Resource` stores the provider as a dill pickle in the resource's
  `__provider` property (pulumi/dynamic/dynamic.py, `serialize_provider`), and the dynamic provider
  host unpickles it for every call. With no state (`__getstate__` is empty) the pickle is only a
  reference to the subclass by its module and name: the subclasses must keep both.
* The credentials never reach that pickle: `configure` keeps the stack config's `exoscale:key` /
  `exoscale:secret` in a module-level weak map keyed by the instance (never an attribute of it);
  otherwise `EXOSCALE_API_KEY` / `EXOSCALE_API_SECRET` are read at call time.
* The endpoint: `EXOSCALE_API_ENDPOINT` (full URL with `/v2`), else the zone's public endpoint
  `https://api-{zone}.exoscale.com/v2`.

Errors are `MigNodepoolError`, like the client's own; the SKS add-on reports them as its own type.
"""

from __future__ import annotations

import os
import weakref
from typing import Any

from pulumi import dynamic

from components.mig_nodepool.api_client import Api, new_client
from components.mig_nodepool.errors import MigNodepoolError
from components.mig_nodepool.settings import CONFIG_KEY, CONFIG_SECRET, ENV_ENDPOINT, ENV_KEY, ENV_SECRET
from components.mig_nodepool.spec import ZONE_RE

# Credentials from `configure`, keyed weakly by provider instance: never an attribute of the
# instance, so they cannot end up in a pickle of it.
_CONFIGURED: weakref.WeakKeyDictionary[ExoscaleApiProvider, tuple[str, str]] = weakref.WeakKeyDictionary()


class ExoscaleApiProvider(dynamic.ResourceProvider):
    """A dynamic provider that calls the Exoscale API. Holds no state: pickles to a class reference."""

    def __getstate__(self) -> dict[str, Any]:
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        pass

    def configure(self, req: dynamic.ConfigureRequest) -> None:
        key = req.config.get(CONFIG_KEY)
        secret = req.config.get(CONFIG_SECRET)
        if key and secret:
            _CONFIGURED[self] = (str(key), str(secret))

    def _api(self, zone: str, timeout_seconds: float) -> Api:
        """The API of one call, its deadline `timeout_seconds` from now."""
        key, secret = self._credentials()
        endpoint = os.environ.get(ENV_ENDPOINT, "").strip().rstrip("/")
        if not endpoint:
            if not ZONE_RE.match(zone):
                raise MigNodepoolError(f"zone {zone!r} is not an Exoscale zone name (e.g. de-fra-1)")
            endpoint = f"https://api-{zone}.exoscale.com/v2"
        return Api(new_client(key, secret, endpoint), endpoint, timeout_seconds)

    def _credentials(self) -> tuple[str, str]:
        configured = _CONFIGURED.get(self)
        if configured is not None:
            return configured
        key, secret = os.environ.get(ENV_KEY, ""), os.environ.get(ENV_SECRET, "")
        if not key or not secret:
            raise MigNodepoolError(
                "no Exoscale credentials: set the stack config exoscale:key and exoscale:secret "
                f"(secret), or the environment variables {ENV_KEY} and {ENV_SECRET}"
            )
        return key, secret
