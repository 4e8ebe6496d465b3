"""Every bad input gets the right 4xx in the one error shape, naming the field; auth and 429 on a real service."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from service.testing import start_service

pytestmark = pytest.mark.engine

PROBLEM = "def f(x):\n    return x\n"
GOOD = ["def f(x):\n    return x\n", "def f(x):\n    return -x\n"]


def post(service, body, **kwargs) -> httpx.Response:  # type: ignore[no-untyped-def]
    return httpx.post(f"{service.url}/select", timeout=60, **({"json": body} | kwargs))


def assert_error(response: httpx.Response, status: int, param: str | None, code: str | None = None) -> dict:  # type: ignore[type-arg]
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "code", "param"}
    assert error["param"] == param, error
    if code:
        assert error["code"] == code
    if param:
        assert param.split("[")[0].split(".")[0] in error["message"]
    return error  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"candidates": GOOD}, "problem", "invalid_value"),
        ({"problem": PROBLEM, "candidates": GOOD[:1]}, "candidates", "invalid_value"),
        ({"problem": PROBLEM, "candidates": GOOD * 9}, "candidates", "too_many_candidates"),
        ({"problem": PROBLEM, "candidates": [GOOD[0], "x" * 4001]}, "candidates[1]", "field_too_long"),
        ({"problem": PROBLEM, "candidates": [{"id": "a", "code": "y" * 4001}, GOOD[1]]}, "candidates[0].code",
         "field_too_long"),
        ({"problem": "p" * 4001, "candidates": GOOD}, "problem", "field_too_long"),
        ({"problem": PROBLEM, "candidates": [{"id": "a", "code": GOOD[0]}, {"id": "a", "code": GOOD[1]}]},
         "candidates[1].id", "duplicate_id"),
        ({"problem": PROBLEM, "candidates": GOOD, "temperature": 1}, "temperature", "invalid_value"),
        ({"problem": PROBLEM, "candidates": GOOD, "strategy": "swiss-cheese"}, "strategy", "invalid_value"),
        ({"problem": PROBLEM, "candidates": GOOD, "votes": 0}, "votes", "invalid_value"),
        ({"problem": PROBLEM, "candidates": GOOD, "votes": 3}, "votes", "invalid_value"),  # verdict mode
        ({"problem": PROBLEM, "candidates": GOOD, "mode": "pointwise"}, "mode", "invalid_value"),
        ({"problem": PROBLEM, "candidates": GOOD, "max_reasoning_tokens": 10**6}, "max_reasoning_tokens", None),
        ({"problem": PROBLEM, "candidates": [GOOD[0], 42]}, "candidates[1]", "invalid_value"),
        # An object given where a string or an object fits: the object's own error, naming its missing field.
        ({"problem": PROBLEM, "candidates": [{"code": GOOD[0]}, GOOD[1]]}, "candidates[0].id", None),
        ({"problem": PROBLEM, "candidates": GOOD, "adapter": "../../etc"}, "adapter", "invalid_value"),
    ],
)
def test_bad_bodies_get_422_naming_the_field(memory_service, body, param, code) -> None:  # type: ignore[no-untyped-def]
    error = assert_error(post(memory_service, body), 422, param, code)
    assert error["type"] == "invalid_request_error"


def test_unknown_adapter_is_404_listing_the_known_ones(memory_service) -> None:  # type: ignore[no-untyped-def]
    error = assert_error(post(memory_service, {"problem": PROBLEM, "candidates": GOOD, "adapter": "nope"}), 404,
                         "adapter", "adapter_not_found")
    assert "tiny" in error["message"]


def test_a_prompt_over_the_context_names_the_longest_candidate(memory_service, tiny_tokenizer) -> None:  # type: ignore[no-untyped-def]
    words = " ".join(f"v{k}" for k in range(1300))  # ~2.6k tokens with the tiny tokenizer, under 4000 chars
    long_code = f"def f(x):\n    return x  # {words}"[:3990]
    assert len(tiny_tokenizer(long_code)["input_ids"]) > 1400
    candidates = [GOOD[0], long_code, long_code[:-3] + "# 2", long_code[:-3] + "# 3"]
    error = assert_error(post(memory_service, {"problem": PROBLEM, "candidates": candidates}), 422, "candidates[1]",
                         "context_overflow")
    assert "max_model_len" in error["message"] and "4096" in error["message"]


def test_malformed_json_is_422_and_undecodable_bytes_400(memory_service) -> None:  # type: ignore[no-untyped-def]
    response = post(memory_service, None, content=b'{"problem": "x", "candidates": [', headers={
        "content-type": "application/json"})
    assert response.status_code == 422 and "error" in response.json()
    response = post(memory_service, None, content=b"\xff\xfe\xfa", headers={"content-type": "application/json"})
    assert_error(response, 400, None)  # not decodable at all: a plain bad request


def test_an_oversized_body_is_413_before_it_is_read(memory_service) -> None:  # type: ignore[no-untyped-def]
    response = post(memory_service, None, content=b"{" + b" " * 2_000_000 + b"}",
                    headers={"content-type": "application/json"})
    assert_error(response, 413, None, "body_too_large")


def test_unknown_paths_and_methods_use_the_error_shape(memory_service) -> None:  # type: ignore[no-untyped-def]
    assert_error(httpx.get(f"{memory_service.url}/nope", timeout=10), 404, None)
    assert_error(httpx.get(f"{memory_service.url}/select", timeout=10), 405, None)
    assert httpx.post(f"{memory_service.url}/v1/select", json={"problem": PROBLEM, "candidates": ["a=1", "a=1"]},
                      timeout=60).status_code == 200


def test_auth_guards_everything_but_health(loop_thread, tiny_engine, base_settings) -> None:  # type: ignore[no-untyped-def]
    service = start_service(loop_thread, base_settings.model_copy(update={"api_keys": ["k-123", "k-456"]}),
                            tiny_engine)
    try:
        assert httpx.get(f"{service.url}/health", timeout=10).status_code == 200
        for method, path in [("GET", "/ready"), ("GET", "/metrics"), ("GET", "/v1/adapters"), ("POST", "/select")]:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "k-123"}):
                response = httpx.request(method, f"{service.url}{path}", headers=headers, timeout=10,
                                         json={"problem": PROBLEM, "candidates": GOOD})
                assert_error(response, 401, None, "invalid_api_key")
        good = httpx.post(f"{service.url}/select", headers={"Authorization": "Bearer k-456"}, timeout=60,
                          json={"problem": PROBLEM, "candidates": GOOD})
        assert good.status_code == 200
    finally:
        service.stop()


def test_over_the_concurrency_limit_is_429_with_retry_after(loop_thread, tiny_engine, base_settings) -> None:  # type: ignore[no-untyped-def]
    service = start_service(loop_thread, base_settings.model_copy(update={"max_concurrent_requests": 1}), tiny_engine)
    body = {"problem": PROBLEM, "candidates": ["def f(x): return 1", "def f(x): return 2"], "mode": "reasoning",
            "max_reasoning_tokens": 400, "stream": True}
    started = threading.Event()

    def hold_a_slot() -> None:
        with httpx.stream("POST", f"{service.url}/select", json=body, timeout=60) as response:
            for _ in response.iter_lines():
                started.set()

    holder = threading.Thread(target=hold_a_slot)
    holder.start()
    try:
        assert started.wait(30)
        response = post(service, {"problem": PROBLEM, "candidates": GOOD})
        error = assert_error(response, 429, None, "too_many_requests")
        assert response.headers["retry-after"] == "1" and "max_concurrent_requests" in error["message"]
    finally:
        holder.join(timeout=120)
    deadline = time.monotonic() + 10
    while post(service, {"problem": PROBLEM, "candidates": GOOD}).status_code == 429 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert post(service, {"problem": PROBLEM, "candidates": GOOD}).status_code == 200
    service.stop()
