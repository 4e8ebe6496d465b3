"""JSON Lines files, plain or gzip (``.gz``): the one reader of the raw data sets, pools and run logs."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any, TextIO, cast


def open_text(path: Path, mode: str) -> TextIO:
    """``path`` opened as UTF-8 text for ``mode`` ("r", "w", "a"), through gzip when the name ends in .gz."""
    if path.suffix == ".gz":
        return cast(TextIO, gzip.open(path, mode + "t", encoding="utf-8"))
    return cast(TextIO, open(path, mode, encoding="utf-8"))  # the caller closes it (a `with` block)


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Every row of a JSONL file; blank lines are skipped. Rows are not validated (pools are: daj.pools)."""
    with open_text(Path(path), "r") as handle:
        return [json.loads(line) for line in handle if line.strip()]
