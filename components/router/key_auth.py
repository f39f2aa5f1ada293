"""The router's API key check: a LiteLLM proxy custom-auth hook, shipped in the router's ConfigMap
beside config.yaml and named there by `general_settings.custom_auth: key_auth.user_api_key_auth`.

Why a hook: LiteLLM checks a static `master_key` only together with its database of virtual keys,
and without that database it answers a wrong key with 400 "No connected db." instead of 401. This
hook is the whole check: the bearer token (LiteLLM strips "Bearer ") must equal the master key
(LITELLM_MASTER_KEY, which LiteLLM also insists on at start), compared in constant time; anything
else is 401 in OpenAI's error shape. Runs inside the router
(litellm, fastapi); the sks-mig program never imports it.
"""

import hmac
import os

from fastapi import HTTPException, Request
from litellm.proxy._types import LitellmUserRoles, UserAPIKeyAuth

KEY_VARIABLE = "LITELLM_MASTER_KEY"
# What LiteLLM records as the caller's key (logs, metrics labels): never the key itself.
KEY_ALIAS = "sks-mig-router-key"


async def user_api_key_auth(request: Request, api_key: str) -> UserAPIKeyAuth:
    expected = os.environ.get(KEY_VARIABLE, "")
    if not expected:
        # Fail closed: the hook is configured only when a key is set, so an empty one is a fault.
        raise HTTPException(status_code=401, detail=f"the router has no API key ({KEY_VARIABLE} is empty)")
    if not api_key:
        raise HTTPException(status_code=401, detail="missing API key: send 'Authorization: Bearer <key>'")
    if not hmac.compare_digest(api_key.encode(), expected.encode()):
        raise HTTPException(status_code=401, detail="invalid API key")
    return UserAPIKeyAuth(api_key=KEY_ALIAS, user_role=LitellmUserRoles.INTERNAL_USER)
