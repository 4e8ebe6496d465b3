"""Property-based fuzzing of POST /select on a real service: any body gets a 2xx or a 4xx in the error shape.

Never a 500, never a hang (every call has a timeout), and every 200 names one of its own candidates.
"""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.engine

ALLOWED = {200, 400, 404, 413, 422}
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
CODE = st.text(max_size=200)
CANDIDATE = st.one_of(CODE, st.fixed_dictionaries({"id": st.text(max_size=8), "code": CODE}), JSON_VALUES)


def maybe(values: st.SearchStrategy) -> st.SearchStrategy:  # type: ignore[type-arg]
    return st.one_of(values, JSON_VALUES)


SCHEMA_SHAPED = st.fixed_dictionaries(
    {"problem": maybe(st.text(max_size=300)), "candidates": maybe(st.lists(CANDIDATE, max_size=20))},
    optional={
        "strategy": maybe(st.sampled_from(["knockout", "round_robin"])),
        "orders": maybe(st.sampled_from(["both", "single"])),
        "votes": maybe(st.integers(-2, 20)),
        "mode": maybe(st.sampled_from(["verdict", "reasoning"])),
        "max_reasoning_tokens": maybe(st.integers(0, 40)),
        "adapter": maybe(st.sampled_from(["tiny", "missing", "", "../x"])),
        "stream": st.just(False),
        "extra": JSON_VALUES,
    },
)


def _check(response: httpx.Response, body: object) -> None:
    assert response.status_code in ALLOWED, (response.status_code, response.text[:500], body)
    payload = response.json()
    if response.status_code == 200:
        assert isinstance(body, dict)
        ids = [c["id"] if isinstance(c, dict) else str(k) for k, c in enumerate(body["candidates"])]
        assert payload["winner"]["id"] in ids
    else:
        assert set(payload["error"]) == {"message", "type", "code", "param"} and payload["error"]["message"]


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=SCHEMA_SHAPED)
def test_schema_shaped_bodies(memory_service, body) -> None:  # type: ignore[no-untyped-def]
    _check(httpx.post(f"{memory_service.url}/select", json=body, timeout=120), body)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=JSON_VALUES)
def test_arbitrary_json(memory_service, body) -> None:  # type: ignore[no-untyped-def]
    _check(httpx.post(f"{memory_service.url}/select", json=body, timeout=60), body)


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(raw=st.binary(max_size=300))
def test_arbitrary_bytes(memory_service, raw: bytes) -> None:  # type: ignore[no-untyped-def]
    response = httpx.post(f"{memory_service.url}/select", content=raw, timeout=60,
                          headers={"content-type": "application/json"})
    assert response.status_code in {400, 422} or (response.status_code == 200 and _is_valid_request(raw))
    assert "error" in response.json() or response.status_code == 200


@pytest.mark.parametrize("depth", [64, 5000, 200_000])
def test_deeply_nested_json(memory_service, depth: int) -> None:  # type: ignore[no-untyped-def]
    body = '{"problem": "p", "candidates": ' + "[" * depth + "]" * depth + "}"
    response = httpx.post(f"{memory_service.url}/select", content=body, timeout=60,
                          headers={"content-type": "application/json"})
    assert response.status_code in {400, 413, 422} and "error" in response.json()


def test_empty_code_is_judged_not_rejected(memory_service) -> None:  # type: ignore[no-untyped-def]
    response = httpx.post(f"{memory_service.url}/select", json={"problem": "p", "candidates": ["", "x = 1"]},
                          timeout=60)
    assert response.status_code == 200 and response.json()["usage"]["judge_calls"] == 2


def _is_valid_request(raw: bytes) -> bool:
    try:
        body = json.loads(raw)
    except ValueError:
        return False
    return isinstance(body, dict) and "problem" in body and "candidates" in body
