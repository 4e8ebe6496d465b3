"""Contract: the SDK's models and the service's API agree (property names, required-ness, types, enum values,
defaults) for SelectRequest, SelectResponse and every component nested in them, and for each SSE event.

The service side is its OpenAPI schema (`create_app(Settings()).openapi()`, which does not start the engine).
While the app has no `/select` route yet, the service side falls back to `service.protocol`'s models, the
models the route is built from. Both schemas are expanded in full (every `$ref` followed) and reduced to what
a client depends on, so component names (FastAPI may add -Input/-Output) and descriptions do not matter.
"""

from __future__ import annotations

import json
from typing import Any

import daj_client
import pytest
from daj_client import types as sdk
from pydantic import BaseModel

from service import protocol
from service.errors import ErrorResponse as ServiceErrorResponse

SELECT_PATHS = ("/v1/select", "/select")
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


def service_select_schemas() -> tuple[dict[str, tuple[Schema, dict[str, Schema]]], str]:
    """{'request': ..., 'response': ...} from the app's OpenAPI document, else from service.protocol."""
    from service.app import create_app
    from service.settings import Settings

    document = create_app(Settings()).openapi()
    components = document.get("components", {}).get("schemas", {})
    found: dict[str, tuple[Schema, dict[str, Schema]]] = {}
    for path in SELECT_PATHS:
        operation = document.get("paths", {}).get(path, {}).get("post")
        if not operation:
            continue
        request = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        response = operation.get("responses", {}).get("200", {}).get("content", {}).get("application/json", {})
        if request:
            found.setdefault("request", (request, components))
        if response.get("schema", {}).get("$ref"):
            found.setdefault("response", (response["schema"], components))
    source = "openapi" if found else "service.protocol"
    found.setdefault("request", model_schema(protocol.SelectRequest, "validation"))
    found.setdefault("response", model_schema(protocol.SelectResponse, "serialization"))
    return found, source


@pytest.fixture(scope="module")
def service_schemas() -> dict[str, tuple[Schema, dict[str, Schema]]]:
    schemas, source = service_select_schemas()
    print(f"contract compared against: {source}")
    return schemas


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


@pytest.mark.parametrize(("executed", "passes"), [(False, True), (True, True), (True, False)])
def test_a_service_response_round_trips_through_the_sdk_unchanged(executed: bool, passes: bool) -> None:
    from _daj_fakes import knockout_response

    body = knockout_response(["a", "b", "c", "d"], winner=3, executed=executed, passes=passes)
    assert daj_client.SelectResponse.model_validate(body).model_dump(mode="json") == body


def test_every_stream_event_the_service_sends_round_trips_through_the_sdk_unchanged() -> None:
    from _daj_fakes import stream_events

    events = stream_events(["a", "b", "c"], winner=1, reasoning=True, executed=True, passes=False)
    assert {name for name, _ in events} == set(protocol.EVENT_NAMES) - {"error"}
    for name, data in events:
        assert sdk.EVENT_TYPES[name].model_validate(data).model_dump(mode="json") == data, name


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
