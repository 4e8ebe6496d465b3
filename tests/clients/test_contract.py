"""Contract: the SDK's models and the service's API agree (property names, required-ness, types, enum values,
defaults) for SelectRequest, SelectResponse and every component nested in them, for each SSE event, and for
RewardsRequest and RewardsResponse (`POST /rewards`, `service.rewards.protocol`).

The service side is the OpenAPI document the service serves (`GET /openapi.json` of `create_app(Settings())`,
which needs no engine), never a copy: if /select is missing from it the contract fails instead of comparing
against something else. The event-data checks compare the SDK with `service.protocol` models; a test below proves
those are the very models the /select routes are built from and that the served document describes. Both
schemas are expanded in full (every `$ref` followed) and reduced to what a client depends on, so component
names (FastAPI may add -Input/-Output) and descriptions do not matter.
"""

from __future__ import annotations

import json
import re
from typing import Any

import daj_client
import pytest
from daj_client import types as sdk
from fastapi import FastAPI
from pydantic import BaseModel

from service import protocol
from service.errors import ErrorResponse as ServiceErrorResponse
from service.rewards import protocol as rewards_protocol

SELECT_PATHS = ("/v1/select", "/select")
REWARDS_PATHS = ("/v1/rewards", "/rewards")
Schema = dict[str, Any]


def expand(schema: Schema, defs: dict[str, Schema]) -> Any:
    """The schema with every `$ref` resolved, reduced to names, required-ness, types, enums and defaults."""
    if "$ref" in schema:
        return expand(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    if "allOf" in schema and len(schema["allOf"]) == 1:
        return expand(schema["allOf"][0], defs)
    if "anyOf" in schema or "oneOf" in schema:
        options = [expand(option, defs) for option in schema.get("anyOf") or schema["oneOf"]]
        return {"anyOf": sorted(options, key=lambda o: json.dumps(o, sort_keys=True))}
    if "enum" in schema or "const" in schema:
        return {"enum": sorted(schema.get("enum") or [schema["const"]])}
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        properties = {name: _property(prop, defs) for name, prop in schema.get("properties", {}).items()}
        return {"object": properties, "required": sorted(schema.get("required", []))}
    if kind == "array":
        if "prefixItems" in schema:
            return {"tuple": [expand(item, defs) for item in schema["prefixItems"]]}
        return {"array": expand(schema.get("items", {}), defs)}
    return kind


def _property(prop: Schema, defs: dict[str, Schema]) -> Any:
    """A property and its default; a None default is left out (FastAPI's OpenAPI omits it; `required` says it)."""
    described = expand(prop, defs)
    return {"schema": described, "default": prop["default"]} if prop.get("default") is not None else described


def differences(service: Any, client: Any, path: str = "") -> list[str]:
    """Where two expansions differ, as readable paths (`ranking[].duplicate_of: ...`)."""
    if isinstance(service, dict) and isinstance(client, dict):
        if set(service) != set(client):
            return [f"{path or '<root>'}: keys {sorted(service)} (service) vs {sorted(client)} (sdk)"]
        found: list[str] = []
        for key in service:
            step = path if key in ("object", "schema", "anyOf") else f"{path}{'[]' if key == 'array' else '.' + key}"
            found += differences(service[key], client[key], step)
        return found
    if isinstance(service, list) and isinstance(client, list) and len(service) == len(client):
        pairs = enumerate(zip(service, client, strict=True))
        return [found for i, (s, c) in pairs for found in differences(s, c, f"{path}[{i}]")]
    return [] if service == client else [f"{path or '<root>'}: {service!r} (service) vs {client!r} (sdk)"]


def model_schema(model: type[BaseModel], mode: str) -> tuple[Schema, dict[str, Schema]]:
    schema = model.model_json_schema(mode=mode)  # type: ignore[arg-type]
    return schema, schema.get("$defs", {})


def served_openapi() -> tuple[Schema, FastAPI]:
    """The OpenAPI document the service serves, and the app that served it (no lifespan: no engine starts)."""
    from fastapi.testclient import TestClient

    from service.app import create_app
    from service.settings import Settings

    app = create_app(Settings())
    response = TestClient(app).get("/openapi.json")
    assert response.status_code == 200, "the service no longer serves /openapi.json: the contract has no source"
    return response.json(), app


def post_operation(document: Schema, path: str) -> Schema:
    operation = document.get("paths", {}).get(path, {}).get("post")
    assert operation, f"the served OpenAPI document has no POST {path}: the contract would compare nothing"
    return operation


def select_operation(document: Schema) -> Schema:
    return post_operation(document, "/select")


def service_select_schemas(document: Schema) -> dict[str, tuple[Schema, dict[str, Schema]]]:
    return operation_schemas(document, "/select")


def operation_schemas(document: Schema, path: str) -> dict[str, tuple[Schema, dict[str, Schema]]]:
    """{'request': ..., 'response': ...} of POST `path` in the served document; missing ones fail."""
    operation = post_operation(document, path)
    components = document.get("components", {}).get("schemas", {})
    request = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    response = operation.get("responses", {}).get("200", {}).get("content", {}).get("application/json", {})
    assert request and response.get("schema"), f"POST {path} has no JSON request or 200 response schema"
    return {"request": (request, components), "response": (response["schema"], components)}


@pytest.fixture(scope="module")
def served() -> tuple[Schema, FastAPI]:
    return served_openapi()


@pytest.fixture(scope="module")
def service_schemas(served: tuple[Schema, FastAPI]) -> dict[str, tuple[Schema, dict[str, Schema]]]:
    return service_select_schemas(served[0])


def test_the_served_select_api_is_built_from_the_protocol_models_the_events_are_checked_against(
    served: tuple[Schema, FastAPI], service_schemas: dict
) -> None:
    """Ties the two sources together: the served schema, the routes' own models, and service.protocol."""
    from fastapi.routing import APIRoute

    _, app = served
    routes = [r for r in app.routes if isinstance(r, APIRoute) and r.path in SELECT_PATHS and "POST" in r.methods]
    assert sorted(r.path for r in routes) == sorted(SELECT_PATHS)
    for route in routes:  # /v1/select is left out of the document: it must share the documented models
        assert route.body_field is not None and route.body_field.field_info.annotation is protocol.SelectRequest
        assert route.response_model is protocol.SelectResponse, route.path
    served_request = expand(*service_schemas["request"])
    served_response = expand(*service_schemas["response"])
    assert differences(served_request, expand(*model_schema(protocol.SelectRequest, "validation"))) == []
    assert differences(served_response, expand(*model_schema(protocol.SelectResponse, "serialization"))) == []


def test_the_served_stream_description_names_every_event(served: tuple[Schema, FastAPI]) -> None:
    stream = select_operation(served[0])["responses"]["200"]["content"].get("text/event-stream")
    assert stream, "POST /select does not document its text/event-stream answer"
    names = re.search(r"events: ([\w, ]+)", stream["description"])
    assert names, stream["description"]
    assert tuple(name.strip() for name in names.group(1).split(",")) == protocol.EVENT_NAMES


def test_select_request_matches_the_service(service_schemas: dict) -> None:
    service = expand(*service_schemas["request"])
    assert service["required"] == ["candidates", "problem"]
    assert differences(service, expand(*model_schema(sdk.SelectRequest, "validation"))) == []


def test_select_response_and_every_nested_component_match_the_service(service_schemas: dict) -> None:
    service = expand(*service_schemas["response"])
    assert set(service["object"]) >= {"winner", "ranking", "matches", "results", "usage", "judge", "execution"}
    assert differences(service, expand(*model_schema(sdk.SelectResponse, "serialization"))) == []


@pytest.mark.parametrize(
    ("sdk_model", "service_model"),
    [
        (sdk.StartEvent, protocol.StartEvent),
        (sdk.ExecutionEvent, protocol.ExecutionReport),
        (sdk.ClustersEvent, protocol.ClustersEvent),
        (sdk.MatchStartEvent, protocol.MatchStartEvent),
        (sdk.ReasoningEvent, protocol.ReasoningEvent),
        (sdk.VerdictEvent, protocol.Judgment),
        (sdk.RoundEndEvent, protocol.RoundEndEvent),
        (sdk.ResultEvent, protocol.SelectResponse),
        (sdk.ErrorResponse, ServiceErrorResponse),
    ],
)
def test_stream_event_data_matches_the_service(sdk_model: type[BaseModel], service_model: type[BaseModel]) -> None:
    service = expand(*model_schema(service_model, "serialization"))
    assert differences(service, expand(*model_schema(sdk_model, "serialization"))) == []


def test_the_sdk_knows_every_event_name() -> None:
    assert (*sdk.EVENT_TYPES, "error") == protocol.EVENT_NAMES


@pytest.mark.parametrize(
    ("executed", "passes", "shape"),
    [(False, True, None), (True, True, None), (True, False, None), (True, True, "function"), (True, False, "stdin")],
)
def test_a_service_response_round_trips_through_the_sdk_unchanged(
    executed: bool, passes: bool, shape: str | None
) -> None:
    from _daj_fakes import knockout_response

    body = knockout_response(["a", "b", "c", "d"], winner=3, executed=executed, passes=passes, shape=shape)
    assert daj_client.SelectResponse.model_validate(body).model_dump(mode="json") == body


@pytest.mark.parametrize("shape", [None, "stdin"])
def test_every_stream_event_the_service_sends_round_trips_through_the_sdk_unchanged(shape: str | None) -> None:
    from _daj_fakes import stream_events

    events = stream_events(["a", "b", "c"], winner=1, reasoning=True, executed=True, passes=False, shape=shape)
    assert {name for name, _ in events} == set(protocol.EVENT_NAMES) - {"error"}
    for name, data in events:
        assert sdk.EVENT_TYPES[name].model_validate(data).model_dump(mode="json") == data, name


@pytest.mark.parametrize(
    "body",
    [
        {"tests": ["assert f(1) == 2", {"stdin": "1 2\n", "stdout": "3\n"}, {"args": [[1, 2], 3], "expected": 4}]},
        {"tests": [{"args": [{"a": [True, None]}], "expected": None}], "inputs": [{"args": []}, {"stdin": ""}]},
        {"shape": "method", "time_limit_s": 1.5, "inputs": ["[1, 2], 3", {"args": [1.5]}]},
    ],
)
def test_a_request_the_sdk_builds_is_one_the_service_reads_the_same(body: dict) -> None:
    """The JSON the SDK sends for tests and inputs as data validates on the server into the same request."""
    from daj_client._base import build_select_body

    options = {key: body[key] for key in body}
    sent = build_select_body("p", ["a", "b"], options, stream=False)  # type: ignore[arg-type]
    assert sent == {"problem": "p", "candidates": ["a", "b"], **body}
    served = protocol.SelectRequest.model_validate(sent)
    assert served.model_dump(mode="json", exclude_unset=True) == sent


@pytest.mark.parametrize(
    "item",
    [{"stdin": "1", "expected": 2}, {"args": [1], "stdout": "2"}, {"stdin": "1", "args": [1]}, {}, {"stdin": 1}],
)
def test_the_sdk_rejects_the_test_objects_the_service_rejects(item: dict) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        protocol.CallerTest.model_validate(item)
    with pytest.raises(ValidationError):
        sdk.CallerTest.model_validate(item)


def test_the_expansion_sees_differences() -> None:
    """Guards the guard: a renamed, retyped or newly required field must change the expansion."""

    class A(BaseModel):
        x: int
        y: str | None = None

    class Renamed(BaseModel):
        x: int
        z: str | None = None

    class Retyped(BaseModel):
        x: float
        y: str | None = None

    class Required(BaseModel):
        x: int
        y: str | None

    base = expand(*model_schema(A, "validation"))
    for other in (Renamed, Retyped, Required):
        assert differences(base, expand(*model_schema(other, "validation")))


# ---- POST /rewards ----


@pytest.fixture(scope="module")
def rewards_schemas(served: tuple[Schema, FastAPI]) -> dict[str, tuple[Schema, dict[str, Schema]]]:
    """POST /rewards in the served document (the route is required, as /select is: no fallback to a copy)."""
    return operation_schemas(served[0], "/rewards")


def test_the_served_rewards_api_is_built_from_the_rewards_protocol_models(
    served: tuple[Schema, FastAPI], rewards_schemas: dict
) -> None:
    from fastapi.routing import APIRoute

    _, app = served
    routes = [r for r in app.routes if isinstance(r, APIRoute) and r.path in REWARDS_PATHS and "POST" in r.methods]
    assert sorted(r.path for r in routes) == sorted(REWARDS_PATHS)
    for route in routes:  # /v1/rewards is left out of the document: it must share the documented models
        assert route.body_field is not None
        assert route.body_field.field_info.annotation is rewards_protocol.RewardsRequest, route.path
        assert route.response_model is rewards_protocol.RewardsResponse, route.path
    served_request = expand(*rewards_schemas["request"])
    served_response = expand(*rewards_schemas["response"])
    assert differences(served_request, expand(*model_schema(rewards_protocol.RewardsRequest, "validation"))) == []
    assert differences(served_response, expand(*model_schema(rewards_protocol.RewardsResponse, "serialization"))) == []


def test_rewards_request_and_every_nested_component_match_the_service(rewards_schemas: dict) -> None:
    service = expand(*rewards_schemas["request"])
    assert service["required"] == ["items"]
    assert set(service["object"]["items"]["array"]["object"]) >= {"problem", "completions", "tests", "shape"}
    assert differences(service, expand(*model_schema(sdk.RewardsRequest, "validation"))) == []


def test_rewards_response_and_every_nested_component_match_the_service(rewards_schemas: dict) -> None:
    service = expand(*rewards_schemas["response"])
    assert set(service["object"]) >= {"rewards", "statuses", "items", "usage", "reward"}
    assert differences(service, expand(*model_schema(sdk.RewardsResponse, "serialization"))) == []


def _service_rewards_response() -> dict:
    """A RewardsResponse built from the service's models, with every optional field of a completion set once."""
    p, rp = protocol, rewards_protocol
    ran = [
        rp.CompletionReward(index=0, reward=1.5, status=rp.CompletionStatus.PASSED, passed=3, total=3, cpu_s=0.02,
                            cluster=0, cluster_share=0.5, judge_score=1.0, cached=True),
        rp.CompletionReward(index=1, reward=0.0, status=rp.CompletionStatus.TIMEOUT, detail="cpu limit", passed=0,
                            total=3, first_failure=p.Failure(input="1 2\n", expected="3\n", actual="timeout"),
                            cluster=1, cluster_share=0.5, judge_score=0.0, truncated=True),
    ]  # fmt: skip
    skipped = [rp.CompletionReward(index=0, reward=None, status=rp.CompletionStatus.NOT_SCORED)]
    items = [
        rp.ItemReport(index=0, status="ran", shape="stdin", checks=3, inputs=1, completions=ran,
                      clusters=[rp.RewardCluster(id=0, members=[0], checks_passed=3),
                                rp.RewardCluster(id=1, members=[1], checks_passed=0)]),
        rp.ItemReport(index=1, status="skipped", reason="no entry point", completions=skipped),
    ]  # fmt: skip
    usage = rp.RewardsUsage(completions=3, runs=2, cached_runs=1, judge_calls=1, elapsed_ms=40.0, budget_exceeded=False)
    response = rp.RewardsResponse(
        rewards=[1.5, 0.0, None],
        statuses=[c.status for c in ran + skipped],
        items=items,
        usage=usage,
        reward=rp.RewardKind.JUDGE,
    )
    return response.model_dump(mode="json")


def test_a_service_rewards_response_round_trips_through_the_sdk_unchanged() -> None:
    body = _service_rewards_response()
    assert daj_client.RewardsResponse.model_validate(body).model_dump(mode="json") == body


@pytest.mark.parametrize(
    ("items", "options"),
    [
        ([{"problem": "p", "completions": ["a", "b"]}], {}),
        (
            [
                {
                    "problem": "Read a and b.",
                    "completions": [[{"role": "user", "content": "q"}, {"content": "a", "tool_calls": [{"id": "1"}]}]],
                    "tests": [{"stdin": "1 2\n", "stdout": "3\n"}, "assert True"],
                    "inputs": [{"stdin": "5 5\n"}, "1 1\n"],
                    "shape": "stdin",
                    "time_limit_s": 1.5,
                    "checker": "import sys",
                },
                {
                    "problem": "f",
                    "completions": ["x"],
                    "tests": [{"args": [[1], None], "expected": None}],
                    "entry_point": "f",
                },
            ],
            {"reward": "agreement", "no_code_reward": -1.0, "agreement_weight": 0.5, "budget_s": 20.0},
        ),
    ],
)
def test_a_rewards_request_the_sdk_builds_is_one_the_service_reads_the_same(items: list, options: dict) -> None:
    from daj_client._base import build_rewards_body

    sent = build_rewards_body(items, **options)
    assert sent == {"items": items, **options}
    served = rewards_protocol.RewardsRequest.model_validate(sent)
    assert served.model_dump(mode="json", exclude_unset=True) == sent


@pytest.mark.parametrize(
    "item",
    [
        {"problem": "p", "completions": ["a"], "test": []},
        {"problem": "p", "completions": [[{"role": "assistant"}]]},
        {"problem": "p", "completions": ["a"], "tests": [{"stdin": "1", "expected": 1}]},
        {"completions": ["a"]},
    ],
)
def test_the_sdk_rejects_the_reward_items_the_service_rejects(item: dict) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        rewards_protocol.RewardItem.model_validate(item)
    with pytest.raises(ValidationError):
        sdk.RewardItem.model_validate(item)
