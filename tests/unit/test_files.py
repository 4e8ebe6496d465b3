"""daj.jsonl and daj.digest: the one JSONL reader (plain and gzip) and the one file digest."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pytest

from daj.digest import file_sha256
from daj.jsonl import open_text, read_jsonl

ROWS = [{"task_id": "HumanEval/0", "passed": [True, False]}, {"task_id": "HumanEval/1", "note": "é"}]


@pytest.mark.parametrize("name", ["rows.jsonl", "rows.jsonl.gz"])
def test_rows_round_trip_plain_and_gzip_and_blank_lines_are_skipped(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    with open_text(path, "w") as handle:
        handle.write(json.dumps(ROWS[0]) + "\n\n" + json.dumps(ROWS[1], ensure_ascii=False) + "\n   \n")
    assert read_jsonl(path) == ROWS
    if name.endswith(".gz"):  # really gzip on disk, not text with a .gz name
        assert gzip.decompress(path.read_bytes()).decode().count("\n") == 4


def test_a_broken_row_is_an_error_not_a_skip(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"ok": 1}\n{"cut off": \n')
    with pytest.raises(json.JSONDecodeError):
        read_jsonl(path)


def test_the_file_digest_is_the_sha256_of_the_bytes(tmp_path: Path) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(bytes(range(256)) * 5000)  # larger than one read block
    assert file_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()
