"""The identity of a file's bytes: written into adapter metadata, run configs and model conversion markers, so a
result can be traced to the exact data, pools or weights it came from."""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha256(path: Path) -> str:
    """The sha256 hex digest of a file (callers that show a short form cut it themselves)."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
