"""tests/optional_tests.py: under CI=true a skip fails unless the test is listed as optional; elsewhere it skips."""

from __future__ import annotations

import optional_tests
import pytest

pytest_plugins = ["pytester"]

SKIPPING = """
import pytest

def test_data_is_missing():
    pytest.skip("shared data folder not present")

@pytest.mark.skipif(True, reason="hadolint not installed")
def test_binary_is_missing():
    pass

def test_docker_is_missing():
    pytest.skip("no Docker Compose here")

@pytest.mark.xfail(reason="a known bug")
def test_known_bug():
    assert False

def test_passes():
    pass
"""


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    pytester.makepyfile(test_suite=SKIPPING, test_module_skip="import pytest\npytest.importorskip('no_such_module')\n")
    monkeypatch.setattr(optional_tests, "OPTIONAL", {"test_suite.py::test_docker_is_missing": "Docker is optional"})
    return pytester


def run(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str | None, *args: str) -> pytest.RunResult:
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    return suite.runpytest("-p", "optional_tests", *args)


def test_under_ci_an_unlisted_skip_fails_and_says_why(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    result = run(suite, monkeypatch, "true", "test_suite.py")
    # A skip in the test body fails it; a skipif mark skips in setup, so that one reports as an error.
    result.assert_outcomes(passed=1, failed=1, errors=1, skipped=1, xfailed=1)
    result.stdout.fnmatch_lines(["*skipped under CI=true: shared data folder not present*"])
    result.stdout.fnmatch_lines(["*skipped under CI=true: hadolint not installed*"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_under_ci_a_module_level_skip_fails_its_collection(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run(suite, monkeypatch, "true", "test_module_skip.py")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*skipped under CI=true*no_such_module*"])


@pytest.mark.parametrize("ci", [None, "false"])
def test_outside_ci_skips_stay_skips(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str | None) -> None:
    result = run(suite, monkeypatch, ci)
    result.assert_outcomes(passed=1, skipped=4, xfailed=1)
    assert result.ret == pytest.ExitCode.OK


def test_every_optional_entry_names_a_test_that_exists_and_says_why(pytestconfig: pytest.Config) -> None:
    """A renamed test would silently drop out of the list (and start failing CI), or a stale entry would linger."""
    root = pytestconfig.rootpath
    for pattern, reason in optional_tests.OPTIONAL.items():
        path, _, name = pattern.partition("::")
        assert (root / path).is_file(), pattern
        assert f"def {name.rstrip('*')}" in (root / path).read_text(), pattern
        assert len(reason) > 40, f"{pattern}: say why it may be skipped"
