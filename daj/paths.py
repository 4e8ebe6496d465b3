"""Where daj keeps what it builds (converted models, test models, sandbox results): never inside the repo."""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    """`$DAJ_CACHE_DIR`, else `$XDG_CACHE_HOME/daj`, else `~/.cache/daj`."""
    explicit = os.environ.get("DAJ_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "daj"


def repo_root() -> Path:
    """The source checkout (committed adapters and configs live here)."""
    return Path(__file__).resolve().parent.parent
