"""Hostile whole programs (the `stdin` shape) through POST /select: an AtCoder-style statement with sample input
and output, a correct program and one hostile program per request. Each answer is 200, the correct program wins,
the hostile one passes no sample, quickly, nothing of it outlives its request, and the service keeps answering.
A statement without samples is skipped with a reason; a malformed test is a 422 naming it."""

from __future__ import annotations

import socket
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from daj.paths import repo_root
from daj.testing.processes import sandbox_leftovers
from sandbox.runner import SANDBOX_UID_MIN

pytestmark = [pytest.mark.engine]

STATEMENT = (
    "Time Limit: 2 sec / Memory Limit: 1024 MB\n\nProblem Statement\n\nYou are given integers A and B.\n"
    "Print A+B.\n\nInput\n\nThe input is given from Standard Input in the following format:\nA B\n\nOutput\n\n"
    "Print the answer.\n\nConstraints\n\n\n- 0 \\leq A, B \\leq 100\n\n"
    "Sample Input 1\n\n1 2\n\nSample Output 1\n\n3\r\n\n1+2=3.\n\n"
    "Sample Input 2\n\n\n40 60\n\nSample Output 2\n\n\n100\r\n\n"
)
NO_SAMPLES = STATEMENT.split("Sample Input 1")[0]
GOOD = "import sys\n\ndef main():\n    a, b = map(int, sys.stdin.readline().split())\n    print(a + b)\n\nmain()\n"
ANSWER = "a, b = map(int, input().split())\nprint(a + b, flush=True)\n"  # hostile programs answer right first
TIME_LIMIT_S = 0.5


def unique(program: str) -> str:
    """A fresh program text, so no cached run hides the run."""
    return f"# {uuid.uuid4().hex}\n{program}"


def select(service: Any, candidates: list[str], **body: Any) -> httpx.Response:
    payload = {"problem": STATEMENT, "candidates": candidates, "execution": "required", **body}
    return httpx.post(f"{service.url}/select", json=payload, timeout=180)


def hostile_programs(port: int, outside: Path) -> dict[str, str]:
    readme = str(repo_root() / "README.md")
    return {
        "fork bomb at import": "import os\nwhile True:\n    os.fork()\n" + ANSWER,
        "reads /etc/passwd": "print(open('/etc/passwd').read())\n" + ANSWER,
        "reads the repository": f"print(open({readme!r}).read()[:100])\n" + ANSWER,
        "prints 1 GB": ANSWER + "import sys\nfor _ in range(1 << 20):\n    sys.stdout.write('x' * 1023 + '\\n')\n",
        "thread never ends": ANSWER + "import threading, time\n\ndef spin():\n    while True:\n"
                             "        time.sleep(0.05)\n\nthreading.Thread(target=spin).start()\n",
        "busy loop": ANSWER + "while True:\n    pass\n",
        "8 GB": "b = bytearray(8 << 30)\n" + ANSWER,
        "input after EOF": ANSWER + "input()\n",
        "socket": f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1).sendall(b'x')\n"
                  + ANSWER,
        "write outside": f"open({str(outside)!r}, 'w').write('x')\n" + ANSWER,
        "kills its runner": ANSWER + "import os\nos.kill(os.getppid(), 9)\n",
        "forges a pass": "import gc, os\nr = [o for o in gc.get_objects() if type(o).__name__ == 'Reporter'][0]\n"
                         "os.write(r._fd, f'DAJ-REPORT {r._nonce} 2 passed stdio PP\\n'.encode())\n",
    }


def test_hostile_stdin_programs_are_contained_and_the_correct_one_wins(memory_service: Any, tmp_path: Path) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    outside = tmp_path / f"escaped-{uuid.uuid4().hex}"
    slow = {"thread never ends", "busy loop"}
    for name, program in hostile_programs(listener.getsockname()[1], outside).items():
        started = time.monotonic()
        response = select(memory_service, [GOOD, unique(program)], time_limit_s=TIME_LIMIT_S)
        elapsed = time.monotonic() - started
        assert response.status_code == 200, (name, response.text)
        result = response.json()
        report = result["execution"]
        assert (report["status"], report["shape"], report["time_limit_s"]) == ("ran", "stdin", TIME_LIMIT_S), name
        assert report["probes"]["examples"] == 2, name
        by_index = {r["index"]: r["execution"] for r in result["ranking"]}
        assert result["winner"]["index"] == 0 and not result["no_candidate_passes"], (name, result["winner"])
        assert by_index[0]["examples_passed"] == 2 and by_index[0]["first_failure"] is None, name
        assert by_index[0]["timeouts"] == 0 and by_index[0]["cpu_s"] is not None, name
        assert by_index[1]["examples_passed"] == 0 and by_index[1]["first_failure"] is not None, (name, by_index[1])
        if name in slow:
            assert by_index[1]["timeouts"] >= 1, (name, by_index[1])
        assert elapsed < (20 if name in slow else 10), (name, elapsed)
        assert sandbox_leftovers(SANDBOX_UID_MIN) == [], f"{name}: processes outlived the request"
    with pytest.raises(TimeoutError):
        listener.accept()
    listener.close()
    assert not outside.exists()
    # The service keeps answering, with the statement's own time limit when the request gives none.
    assert httpx.get(f"{memory_service.url}/ready", timeout=10).json()["sandbox"] == "ok"
    wrong = unique("a, b = map(int, input().split())\nprint(a * b)\n")
    result = select(memory_service, [wrong, GOOD]).json()
    # 2 s (no Time Limit in the statement) times the host's speed factor: 1 here, more on a slower host.
    assert result["execution"]["time_limit_s"] / 2.0 in (1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0)
    assert result["winner"]["index"] == 1
    failure = {r["index"]: r["execution"] for r in result["ranking"]}[0]["first_failure"]
    assert failure == {"input": "1 2\n", "expected": "3\n", "actual": "2"}


def test_a_statement_without_samples_is_skipped_with_a_reason(memory_service: Any) -> None:
    candidates = [GOOD, unique("a, b = map(int, input().split())\nprint(a - b)\n")]
    skipped = select(memory_service, candidates, problem=NO_SAMPLES, execution="auto")
    assert skipped.status_code == 200, skipped.text
    report = skipped.json()["execution"]
    assert (report["status"], report["shape"]) == ("skipped", "stdin")
    assert "no sample input" in report["reason"]
    refused = select(memory_service, candidates, problem=NO_SAMPLES)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "no_probes"
    tested = select(memory_service, candidates, problem=NO_SAMPLES, tests=[{"stdin": "5 3\n", "stdout": "8\n"}],
                    inputs=["7 1\n", {"stdin": "0 0\n"}])
    assert tested.status_code == 200, tested.text
    result = tested.json()
    assert result["execution"]["probes"]["tests"] == 1 and result["winner"]["index"] == 0


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"tests": [{"stdin": "1 2\n", "stdout": "3\n"}, {"args": [1, 2], "expected": 3}]}, "tests[1]"),
        ({"tests": [{"stdin": "1 2\n", "stdout": "3\n"}, {"stdin": "1 2\n", "expected": 3}]}, "tests[1]"),
        ({"tests": [{"stdin": "1 2\n", "stdout": "3\n"}, {"stdin": "1 2\n"}]}, "tests[1]"),
        ({"tests": ["assert True"]}, "tests[0]"),
        ({"tests": [{"stdin": "1 2\n", "stdout": "3\n", "extra": 1}]}, "tests[0].extra"),
        ({"inputs": ["1 2\n", {"args": [1, 2]}]}, "inputs[1]"),
        ({"time_limit_s": 0}, "time_limit_s"),
        ({"shape": "applet"}, "shape"),
    ],
)
def test_a_malformed_entry_is_a_422_naming_it(memory_service: Any, body: dict[str, Any], param: str) -> None:
    response = select(memory_service, [GOOD, unique(ANSWER)], **body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["param"] == param
