"""The source registry: every name the config accepts is one the builder can build, and nothing else."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from judge_training.builder import meta_pairs, real_pairs
from judge_training.config import DataConfig, from_dict
from judge_training.sources import SOURCE_NAMES, SOURCES, UnknownSourceError, chosen_sources, get_source

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def test_every_source_name_resolves_to_its_source() -> None:
    assert tuple(sorted(SOURCES)) == SOURCE_NAMES
    assert all(get_source(name).name == name for name in SOURCE_NAMES)


def test_the_config_accepts_exactly_the_registered_sources() -> None:
    for name in SOURCE_NAMES:
        assert from_dict({"data": {"sources": [name]}}).data.sources == [name]
    with pytest.raises(ValueError, match="humaneval"):
        from_dict({"data": {"sources": ["humaneval"]}})


def test_an_unknown_source_names_the_allowed_ones() -> None:
    with pytest.raises(UnknownSourceError) as caught:
        chosen_sources(["ldb_mbpp", "humaneval"])
    assert "'humaneval'" in str(caught.value) and all(name in str(caught.value) for name in SOURCE_NAMES)


def test_sources_are_drawn_in_registry_order_whatever_the_config_order() -> None:
    names = [s.name for s in chosen_sources(["mbppplus_truncation", "ldb_mbpp", "mbppplus_truncation"])]
    assert names == ["ldb_mbpp", "mbppplus_truncation"]


def test_importing_the_registry_does_not_import_the_config() -> None:
    # the config takes its allowed names from the registry: the other way round would be an import cycle
    code = "import sys, judge_training.sources; assert 'judge_training.config' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])


def test_the_builder_builds_the_toy_source_with_its_own_meta_set() -> None:
    cfg = DataConfig(sources=["synthetic"], synthetic_domains=["a", "b"], synthetic_flipped=["b"],
                     synthetic_pairs_per_domain=3)  # fmt: skip
    info: dict[str, object] = {}
    pairs = real_pairs(cfg, info)
    assert sorted({p.source for p in pairs}) == ["a", "b"] and len(pairs) == 6
    assert info["synthetic_flipped"] == ["b"] and info["source_files"] == {}
    assert {p.source for p in meta_pairs(cfg, {})} == {"meta"}


@pytest.mark.skipif(not SHARED_DATA.exists(), reason="shared data folder not present")
def test_the_builder_builds_ldb_pairs_and_hashes_what_they_read(tmp_path: Path) -> None:
    cfg = DataConfig(data_dir=str(SHARED_DATA), pools_dir=str(tmp_path), sources=["ldb_mbpp"])
    info: dict[str, Any] = {}
    pairs = real_pairs(cfg, info)
    assert pairs and {p.source for p in pairs} == {"ldb_mbpp"}
    assert set(info["ldb_label_source"].values()) == {"LDB is_solved (not re-run)"}
    assert info["source_files"] and all(name.startswith("ldb/mbpp__") for name in info["source_files"])
