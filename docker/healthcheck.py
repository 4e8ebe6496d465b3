#!/usr/bin/env python3
"""Container health check: exit 0 when the service's GET /ready answers 200, else 1.

Installed in the images as `daj-healthcheck` (HEALTHCHECK and compose run it). Standard library only. It reads the
same environment as the service: DAJ_PORT (default 8000) and DAJ_API_KEYS (comma-separated; when set, the first
key is sent as `Authorization: Bearer <key>`, since /ready needs a key whenever auth is on). DAJ_HEALTHCHECK_URL
overrides the URL (default http://127.0.0.1:$DAJ_PORT/ready).
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def ready_request(environ: dict[str, str]) -> urllib.request.Request:
    port = environ.get("DAJ_PORT", "").strip() or "8000"
    url = environ.get("DAJ_HEALTHCHECK_URL", "").strip() or f"http://127.0.0.1:{port}/ready"
    request = urllib.request.Request(url, method="GET")
    keys = [key.strip() for key in environ.get("DAJ_API_KEYS", "").split(",") if key.strip()]
    if keys:
        request.add_header("Authorization", f"Bearer {keys[0]}")
    return request


def main() -> int:
    request = ready_request(dict(os.environ))
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via an HTTP(S)_PROXY
    try:
        with opener.open(request, timeout=4) as response:
            status = response.status
    except urllib.error.HTTPError as exc:  # 503 while the engine loads, 401 with a wrong key
        print(f"{request.full_url}: HTTP {exc.code}", file=sys.stderr)
        return 1
    except OSError as exc:  # not listening yet
        print(f"{request.full_url}: {exc}", file=sys.stderr)
        return 1
    return 0 if status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
