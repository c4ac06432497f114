"""LiteLLM ``custom_auth`` hook: Nebula-like keys without a database.

Runs inside LiteLLM's own virtual environment (named in config.yaml), not ours.

- the master key and the user key pass;
- the rate-limited key passes authentication with a per-key limit of 0 requests a
  minute, so LiteLLM's own rate limiter answers 429 with ``retry-after``;
- any other key, or none, is refused: LiteLLM turns the exception into its 401.
"""

from __future__ import annotations

import os

from fastapi import Request
from litellm.proxy._types import UserAPIKeyAuth


async def user_api_key_auth(request: Request, api_key: str) -> UserAPIKeyAuth:
    if api_key in (os.environ["NEBULA_TEST_MASTER_KEY"], os.environ["NEBULA_TEST_USER_KEY"]):
        return UserAPIKeyAuth(api_key=api_key)
    if api_key == os.environ["NEBULA_TEST_RATE_LIMITED_KEY"]:
        return UserAPIKeyAuth(api_key=api_key, rpm_limit=0)
    if not api_key:
        raise ValueError("No api key passed in.")
    # The wording of LiteLLM's own database-backed check.
    raise ValueError(f"Invalid proxy server token passed. Received API Key = {api_key[:6]}...")
