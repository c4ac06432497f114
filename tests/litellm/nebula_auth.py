"""LiteLLM ``custom_auth`` hook: Nebula-like keys without a database.

Runs inside LiteLLM's own virtual environment (named in config.yaml), not ours.

- the master key and the user key pass;
- the rate-limited key passes authentication with a per-key limit of 0 requests a
  minute, so LiteLLM's own rate limiter answers 429 with ``retry-after``;
- any other key, or none, gets LiteLLM's 401 with the message its database-backed
  check sends.

Refusals are ``HTTPException``s, which LiteLLM maps to its 401 body itself. (Any other
exception would need the ``prisma`` package, absent without a database, to be
classified: LiteLLM 1.106.2 then answers a plain-text 500 "Internal Server Error".)
"""

from __future__ import annotations

import hashlib
import os

from fastapi import HTTPException, Request
from litellm.proxy._types import UserAPIKeyAuth
from litellm.proxy.auth.auth_utils import abbreviate_api_key


async def user_api_key_auth(request: Request, api_key: str) -> UserAPIKeyAuth:
    if api_key in (os.environ["NEBULA_TEST_MASTER_KEY"], os.environ["NEBULA_TEST_USER_KEY"]):
        return UserAPIKeyAuth(api_key=api_key)
    if api_key == os.environ["NEBULA_TEST_RATE_LIMITED_KEY"]:
        return UserAPIKeyAuth(api_key=api_key, rpm_limit=0)
    if not api_key:
        raise HTTPException(status_code=401, detail="Authentication Error, No api key passed in.")
    digest = hashlib.sha256(api_key.encode()).hexdigest()
    raise HTTPException(
        status_code=401,
        detail=(
            "Authentication Error, Invalid proxy server token passed. Received API Key = "
            f"{abbreviate_api_key(api_key)}, Key Hash (Token) ={digest}. Unable to find "
            "token in cache or `LiteLLM_VerificationTokenTable`"
        ),
    )
