"""`daj-client select`: files in, the winner's name and code out; --stream progress; exit 1 on API errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from _daj_fakes import (
    SEVERAL_ANSWERS_NOTE,
    Script,
    TrackedBody,
    error_body,
    frames,
    json_reply,
    knockout_response,
    select_reply,
    stream_events,
    stream_reply,
)
from daj_client import cli
from daj_client._client import Client

CODES = ["def f():\n    return 1\n", "def f():\n    return 2\n", "def f():\n    return 3"]


@pytest.fixture
def files(tmp_path: Path) -> list[str]:
    (tmp_path / "problem.txt").write_text("def f(): return 3")
    paths = []
    for i, code in enumerate(CODES):
        path = tmp_path / f"cand{i}.py"
        path.write_text(code)
        paths.append(str(path))
    return [str(tmp_path / "problem.txt"), *paths]


def route_cli_to(script: Script, monkeypatch: pytest.MonkeyPatch) -> list[Client]:
    """Make the CLI's Client talk to the script; returns the clients it built (to check their settings)."""
    built: list[Client] = []

    def factory(*args: object, **kwargs: object) -> Client:
        client = Client(*args, http_client=httpx.Client(transport=httpx.MockTransport(script)), **kwargs)  # type: ignore[arg-type]
        built.append(client)
        return client

    monkeypatch.setattr(cli, "Client", factory)
    return built


def test_select_prints_the_winner_file_and_code(
    files: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    script = Script([select_reply(winner=1)])
    built = route_cli_to(script, monkeypatch)
    argv = [
        "select",
        "--problem",
        files[0],
        *files[1:],
        "--url",
        "http://h:1",
        "--api-key",
        "k",
        "--strategy",
        "round_robin",
        "--mode",
        "verdict",
    ]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert out == f"winner: {files[2]}\n{CODES[1]}"
    body = script.bodies[0]
    assert body["strategy"] == "round_robin" and body["mode"] == "verdict" and "votes" not in body
    assert body["candidates"] == [{"id": path, "code": code} for path, code in zip(files[1:], CODES, strict=True)]
    assert built[0].base_url == "http://h:1" and built[0].api_key == "k"


def test_stream_prints_reasoning_and_verdicts_on_stderr(
    files: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    events = stream_events(CODES, winner=2, reasoning=True)
    route_cli_to(Script([stream_reply(TrackedBody(frames(events)))]), monkeypatch)
    assert cli.main(["select", "--stream", "--mode", "reasoning", "--problem", *files]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"winner: {files[3]}\n{CODES[2]}\n"
    assert "Both parse. A handles the edge case." in captured.err
    verdicts = [line for line in captured.err.splitlines() if " verdict " in line]
    assert len(verdicts) == sum(name == "verdict" for name, _ in events)
    assert "P(A)=0.800" in captured.err and "start: 3 candidates" in captured.err


def test_execution_flags_are_sent_and_the_reason_and_failure_go_to_stderr(
    files: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    body = knockout_response(CODES, winner=0, executed=True, passes=False)
    script = Script([json_reply(200, body)])
    route_cli_to(script, monkeypatch)
    argv = ["select", "--problem", *files, "--execution", "required", "--entry-point", "f"]
    argv += ["--test", "assert f() == 3", "--test", "assert f() > 0", "--input", "", "--execution-budget", "5"]
    assert cli.main(argv) == 0
    sent = script.bodies[0]
    assert sent["execution"] == "required" and sent["entry_point"] == "f" and sent["execution_budget_s"] == 5.0
    assert sent["tests"] == ["assert f() == 3", "assert f() > 0"] and sent["inputs"] == [""]
    captured = capsys.readouterr()
    assert captured.out == f"winner: {files[1]}\n{CODES[0]}"  # stdout unchanged: name, then code
    assert f"reason: {body['winner']['reason']}\n" in captured.err
    assert "warning: no candidate passes every example and test" in captured.err
    assert "first failure: f(2) -> 3 (expected 4)" in captured.err


def test_stream_shows_execution_and_clusters(
    files: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    events = stream_events(CODES, winner=2, executed=True)
    route_cli_to(Script([stream_reply(TrackedBody(frames(events)))]), monkeypatch)
    assert cli.main(["select", "--stream", "--problem", *files]) == 0
    err = capsys.readouterr().err
    assert "execution: ran f: 1 examples, 1 tests, 6 inputs (1 dropped); 3 runs (0 cached), 42 ms" in err
    assert f"clusters: #0 top ({files[1]}) passes 2;" in err and f"judged: {', '.join(files[1:])}" in err
    assert "reason: passes 2/2 checks" in err and "warning" not in err


def test_shape_time_limit_and_tests_and_inputs_as_json_are_sent_in_the_order_given(
    files: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = Script([select_reply(winner=0)])
    route_cli_to(script, monkeypatch)
    (tmp_path / "tests.jsonl").write_text('{"stdin": "5 5\\n", "stdout": "10\\n"}\n\n"assert True"\n')
    (tmp_path / "inputs.json").write_text('[\n  "7 8\\n",\n  {"stdin": "0 0\\n"}\n]\n')
    argv = ["select", "--problem", *files, "--shape", "stdin", "--time-limit", "1.5"]
    argv += ["--test-json", '{"stdin": "1 2\\n", "stdout": "3\\n"}', "--test", "assert 1"]
    argv += ["--tests-file", str(tmp_path / "tests.jsonl"), "--test-json", '"assert 2"']
    argv += ["--input", "9 9\n", "--inputs-file", str(tmp_path / "inputs.json"), "--input-json", '{"stdin": "1 1\\n"}']
    assert cli.main(argv) == 0
    sent = script.bodies[0]
    assert sent["shape"] == "stdin" and sent["time_limit_s"] == 1.5
    assert sent["tests"] == [
        {"stdin": "1 2\n", "stdout": "3\n"},
        "assert 1",
        {"stdin": "5 5\n", "stdout": "10\n"},
        "assert True",
        "assert 2",
    ]
    assert sent["inputs"] == ["9 9\n", "7 8\n", {"stdin": "0 0\n"}, {"stdin": "1 1\n"}]


def test_args_tests_as_json_keep_their_values(files: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    script = Script([select_reply(winner=0)])
    route_cli_to(script, monkeypatch)
    argv = ["select", "--problem", *files, "--shape", "method", "--entry-point", "twoSum"]
    argv += [
        "--test-json",
        '{"args": [[2, 7, 11, 15], 9], "expected": [0, 1]}',
        "--test-json",
        '{"args": [[]], "expected": null}',
    ]
    argv += ["--input-json", '{"args": [[3, 3], 6]}']
    assert cli.main(argv) == 0
    sent = script.bodies[0]
    assert sent["shape"] == "method" and sent["entry_point"] == "twoSum"
    assert sent["tests"] == [{"args": [[2, 7, 11, 15], 9], "expected": [0, 1]}, {"args": [[]], "expected": None}]
    assert sent["inputs"] == [{"args": [[3, 3], 6]}]


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--test-json", "{stdin: 1}", "not JSON"),
        ("--test-json", '{"stdin": "1\\n", "expected": 1}', "`expected` goes with `args`"),
        ("--test-json", '{"stdin": "1\\n", "stdout": "1\\n", "check": 1}', "check: Extra inputs are not permitted"),
        ("--test-json", "[1, 2]", "expected a JSON object or string"),
        ("--input-json", '{"stdin": "1\\n", "args": [1]}', "give either `stdin` or `args`"),
        ("--tests-file", "/nonexistent/tests.json", "nonexistent"),
        ("--shape", "class", "invalid choice"),
        ("--time-limit", "soon", "invalid float value"),
    ],
)
def test_a_malformed_option_is_a_usage_error_before_any_request(
    files: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    flag: str,
    value: str,
    message: str,
) -> None:
    script = Script([select_reply(winner=0)])
    route_cli_to(script, monkeypatch)
    with pytest.raises(SystemExit) as caught:
        cli.main(["select", "--problem", *files, flag, value])
    err = capsys.readouterr().err
    assert caught.value.code == 2 and f"argument {flag}" in err and message in err, err
    assert script.requests == []


def test_a_bad_line_in_a_tests_file_is_named(
    files: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tests.jsonl"
    path.write_text('{"stdin": "1\\n", "stdout": "1\\n"}\n{"stdin": \n')
    with pytest.raises(SystemExit):
        cli.main(["select", "--problem", *files, "--tests-file", str(path)])
    assert f"{path}: line 2 is not JSON" in capsys.readouterr().err
    path.write_text('[{"stdin": "1\\n", "stdout": "1\\n"}, {"args": [1], "stdout": "1"}]')
    with pytest.raises(SystemExit):
        cli.main(["select", "--problem", *files, "--tests-file", str(path)])
    assert f"{path}: item 1: " in capsys.readouterr().err


def test_the_execution_lines_show_the_shape_time_limit_notes_and_cpu_times(
    files: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    body = knockout_response(CODES, winner=1, executed=True, passes=False, shape="stdin")
    route_cli_to(Script([json_reply(200, body)]), monkeypatch)
    assert cli.main(["select", "--problem", *files]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"winner: {files[2]}\n{CODES[1]}"
    err = captured.err.splitlines()
    assert err[:3] == [
        "execution: ran stdin programs (2 s per probe): 1 examples, 1 tests, 6 inputs (1 dropped); 3 runs "
        "(0 cached), 42 ms",
        f"note: {SEVERAL_ANSWERS_NOTE}",
        f"cpu (most on one probe): {files[1]} 2.000 s (1 timeout), {files[2]} 2.000 s (1 timeout), "
        f"{files[3]} 2.000 s (1 timeout)",
    ]
    assert 'first failure: "3\\n1 2 3\\n" -> "timeout" (expected "6\\n")' in err


def test_a_function_selection_shows_its_shape_and_no_cpu_line(
    files: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    body = knockout_response(CODES, winner=0, executed=True, shape="function")
    route_cli_to(Script([json_reply(200, body)]), monkeypatch)
    assert cli.main(["select", "--problem", *files]) == 0
    err = capsys.readouterr().err
    assert "execution: ran function f (0.5 s per probe): 1 examples" in err
    assert "cpu" not in err and "note:" not in err


def test_a_judge_only_selection_says_why_on_its_execution_line(
    files: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    route_cli_to(Script([select_reply(winner=0)]), monkeypatch)
    assert cli.main(["select", "--problem", *files, "--execution", "off"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("execution: off (execution is off in the request)\n") and "cpu" not in err


def test_stream_shows_the_shape_notes_and_cpu_times_once(
    files: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    events = stream_events(CODES, winner=2, executed=True, shape="stdin")
    route_cli_to(Script([stream_reply(TrackedBody(frames(events)))]), monkeypatch)
    assert cli.main(["select", "--stream", "--problem", *files]) == 0
    err = capsys.readouterr().err
    assert err.count("execution: ran stdin programs (2 s per probe): 1 examples") == 1
    assert err.count(f"note: {SEVERAL_ANSWERS_NOTE}") == 1
    assert f"cpu (most on one probe): {files[1]} 0.010 s, {files[2]} 0.020 s, {files[3]} 0.030 s\n" in err


def test_every_select_option_has_a_flag_of_its_name(files: list[str]) -> None:
    from daj_client._base import SelectOptions

    parsed = cli.build_parser().parse_args(["select", "--problem", *files])
    assert all(getattr(parsed, name) is None for name in SelectOptions.__annotations__)


def test_checker_and_input_generator_files_are_sent_as_program_text(
    files: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = Script([select_reply(winner=0)])
    route_cli_to(script, monkeypatch)
    (tmp_path / "check.py").write_text("import sys\nsys.exit(0)\n")
    (tmp_path / "gen.py").write_text("import sys\nprint(sys.argv[1], 1)\n")
    argv = ["select", "--problem", *files, "--checker", str(tmp_path / "check.py")]
    argv += ["--input-generator", str(tmp_path / "gen.py"), "--generated-inputs", "4"]
    assert cli.main(argv) == 0
    sent = script.bodies[0]
    assert sent["checker"] == "import sys\nsys.exit(0)\n" and sent["generated_inputs"] == 4
    assert sent["input_generator"] == "import sys\nprint(sys.argv[1], 1)\n"


def test_api_errors_exit_1_with_the_message(
    files: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    body = error_body("candidates: List should have at least 2 items", "invalid_request_error", param="candidates")
    route_cli_to(Script([json_reply(422, body)]), monkeypatch)
    assert cli.main(["select", "--problem", files[0], files[1]]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: 422 invalid_request_error: candidates: List should") and "param=candidates" in err


def test_an_error_event_mid_stream_exits_1(
    files: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    events = [*stream_events(CODES, winner=0)[:2], ("error", error_body("engine died", "server_error"))]
    route_cli_to(Script([stream_reply(TrackedBody(frames(events)))]), monkeypatch)
    assert cli.main(["select", "--stream", "--problem", *files]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "error: 500 server_error: engine died" in captured.err


def test_a_missing_file_is_a_usage_error(files: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(["select", "--problem", files[0], files[1], "/nonexistent/cand.py"])
    assert caught.value.code == 2 and "nonexistent" in capsys.readouterr().err


def test_console_script_is_installed_and_reports_connection_errors(files: list[str]) -> None:
    from daj.testing.redis_server import free_port

    script = Path(sys.executable).parent / "daj-client"
    assert script.exists(), "install with: pip install -e clients/python --no-deps"
    result = subprocess.run(
        [str(script), "select", "--problem", *files, "--url", f"http://127.0.0.1:{free_port()}"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"DAJ_API_KEY": "", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 1 and result.stderr.startswith("error: ") and result.stdout == ""
