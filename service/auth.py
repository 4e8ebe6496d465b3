"""Optional bearer-key auth: when keys are configured, every endpoint but /health needs one."""

from __future__ import annotations

import hmac

from fastapi import Request

from service.errors import ApiError


def key_is_valid(presented: str, keys: list[str]) -> bool:
    """Constant-time comparison against every key (no early exit that would leak which one matched)."""
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(presented.encode(), key.encode())
    return matched


async def require_api_key(request: Request) -> None:
    keys: list[str] = request.app.state.daj.settings.api_keys
    if not keys:
        return
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token or not key_is_valid(token.strip(), keys):
        raise ApiError(401, "missing or invalid API key: send 'Authorization: Bearer <key>'", "invalid_api_key",
                       headers={"WWW-Authenticate": "Bearer"})
