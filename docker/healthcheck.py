#!/usr/bin/env python3
"""Container health check: exit 0 when the service's GET /ready answers 200, else 1.

Installed in the images as `daj-healthcheck` (HEALTHCHECK, compose and the Kubernetes probes run it). Standard
library only. It reads the same environment as the service it checks:

- `daj-healthcheck` (the API, `daj serve`): DAJ_PORT (default 8000) and DAJ_API_KEYS (comma-separated; when set,
  the first key is sent as `Authorization: Bearer <key>`, since /ready needs a key whenever auth is on);
- `daj-healthcheck executor` (`daj executor`): DAJ_EXECUTOR_PORT (default 8100) and DAJ_EXECUTOR_TOKEN (when set,
  sent as `Authorization: Bearer <token>`: every executor endpoint but /health needs it).

DAJ_HEALTHCHECK_URL overrides the URL (default http://127.0.0.1:<port>/ready).
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def ready_request(environ: dict[str, str], role: str = "api") -> urllib.request.Request:
    if role == "executor":
        port = environ.get("DAJ_EXECUTOR_PORT", "").strip() or "8100"
        tokens = [environ.get("DAJ_EXECUTOR_TOKEN", "").strip()]
    else:
        port = environ.get("DAJ_PORT", "").strip() or "8000"
        tokens = [key.strip() for key in environ.get("DAJ_API_KEYS", "").split(",")]
    url = environ.get("DAJ_HEALTHCHECK_URL", "").strip() or f"http://127.0.0.1:{port}/ready"
    request = urllib.request.Request(url, method="GET")
    tokens = [token for token in tokens if token]
    if tokens:
        request.add_header("Authorization", f"Bearer {tokens[0]}")
    return request


def main(argv: list[str]) -> int:
    if argv not in ([], ["executor"]):
        print("usage: daj-healthcheck [executor]", file=sys.stderr)
        return 2
    request = ready_request(dict(os.environ), argv[0] if argv else "api")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via an HTTP(S)_PROXY
    try:
        with opener.open(request, timeout=4) as response:
            status = response.status
    except urllib.error.HTTPError as exc:  # 503 while the engine loads or the sandbox cannot run, 401 with a wrong key
        print(f"{request.full_url}: HTTP {exc.code}", file=sys.stderr)
        return 1
    except OSError as exc:  # not listening yet
        print(f"{request.full_url}: {exc}", file=sys.stderr)
        return 1
    return 0 if status == 200 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
