"""On-disk result cache (sqlite), so re-labelling the same (program, tests, harness, limits) is free."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from pathlib import Path


def default_cache_dir() -> Path:
    """``$DAJ_CACHE_DIR/sandbox``, else ``$XDG_CACHE_HOME/daj/sandbox``, else ``~/.cache/daj/sandbox``.

    Same resolution as daj.paths.default_cache_dir, repeated here so the sandbox has no daj dependency.
    """
    explicit = os.environ.get("DAJ_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser() / "sandbox"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "daj" / "sandbox"


class ResultCache:
    """A key -> JSON dict store. Thread-safe (one connection behind a lock); WAL lets processes share it."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = Path(directory) if directory else default_cache_dir()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / "results.sqlite"
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            self._db.commit()

    def get(self, key: str) -> dict | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM results WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, value: dict) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO results (key, value) VALUES (?, ?)", (key, json.dumps(value)))
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM results").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
