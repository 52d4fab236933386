"""The OpenAPI document of ``streaming serve`` is generated from ``schemas/*.json``, is
valid OpenAPI 3.1, and describes what the running service really reads and answers."""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from streaming.consumer.records import Reason
from streaming.serving import openapi, serve
from streaming.serving.openapi import COMPONENTS, SCHEMA_BASE, SCHEMA_FILES, build_openapi
from streaming.serving.serve import BODY_TIMEOUT_SECONDS, MAX_BODY_BYTES, OPENAPI, PredictionApp
from tests.conftest import REPO
from tests.support.web import asgi_call, call

SCHEMAS = REPO / "schemas"
#: The document's own URI when it is read as a JSON Schema resource.
DOC = "urn:ride-duration-streaming:openapi.json"
REQUEST = "/paths/~1predict/post/requestBody/content/application~1json/schema"
RIDE = {
    "PULocationID": 130,
    "DOLocationID": 205,
    "trip_distance": 3.66,
    "pickup_datetime": "2023-02-01T08:15:00",
}
#: Keywords whose values are data, not schemas.
DATA = ("const", "enum", "default", "examples")


@pytest.fixture(scope="module")
def served(server) -> dict[str, Any]:
    status, document = call("GET", "/openapi.json", port=server)
    assert status == 200
    return document


def source(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / name).read_text())


def source_registry() -> Registry:
    """Every file of schemas/, by its $id: how the files refer to each other."""
    resources = [Resource.from_contents(json.loads(p.read_text())) for p in SCHEMAS.glob("*.json")]
    return Registry().with_resources((r.id(), r) for r in resources)


def validator(document: dict[str, Any], pointer: str) -> Draft202012Validator:
    """A validator for the schema at ``pointer`` in the OpenAPI document (its
    ``#/components/...`` references resolved inside the document, nowhere else)."""
    registry = Registry().with_resource(DOC, DRAFT202012.create_resource(document))
    return Draft202012Validator({"$ref": f"{DOC}#{pointer}"}, registry=registry)


def response_validator(document: dict[str, Any], path: str, method: str, status: int):
    pointer = f"/paths/{path.replace('/', '~1')}/{method}/responses/{status}"
    pointer += "/content/application~1json/schema"
    return validator(document, pointer)


def errors(v: Draft202012Validator, instance: Any) -> list[str]:
    return [e.message for e in v.iter_errors(instance)]


def expand(node: Any, resolver) -> Any:
    """``node`` with every ``$ref`` replaced by what it refers to (a ``$ref`` beside other
    keywords becomes one more ``allOf`` entry) and no ``$id``/``$schema``: the same for a
    schema file and its component exactly when they say the same."""
    if isinstance(node, list):
        return [expand(item, resolver) for item in node]
    if not isinstance(node, dict):
        return node
    out = {
        key: value if key in DATA else expand(value, resolver)
        for key, value in node.items()
        if key not in ("$ref", "$id", "$schema")
    }
    if "$ref" not in node:
        return out
    resolved = resolver.lookup(node["$ref"])
    target = expand(resolved.contents, resolved.resolver)
    return {**out, "allOf": [*out.get("allOf", []), target]} if out else target


def refs(node: Any) -> list[str]:
    if isinstance(node, list):
        return [r for item in node for r in refs(item)]
    if not isinstance(node, dict):
        return []
    found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
    return found + [r for key, value in node.items() if key not in DATA for r in refs(value)]


# -- the document is generated from schemas/ and is valid OpenAPI 3.1 --------------------


def test_the_served_document_is_valid_openapi_3_1(served):
    assert served["openapi"] == "3.1.0"
    assert served["jsonSchemaDialect"] == "https://json-schema.org/draft/2020-12/schema"
    OpenAPIV31SpecValidator(served).validate()


def test_the_served_document_is_generated_from_schemas(served):
    assert served == OPENAPI
    from_sources = build_openapi(
        max_body_bytes=MAX_BODY_BYTES, body_timeout=BODY_TIMEOUT_SECONDS, schema_dir=SCHEMAS
    )
    assert served == json.loads(json.dumps(from_sources))


def test_the_service_reads_the_files_of_schemas():
    """schemas/ is the one home of the schemas: nothing keeps a copy of them."""
    assert openapi.SCHEMA_DIR == SCHEMAS
    copies = [p for p in (REPO / "streaming").rglob("*.json")]
    assert copies == []


@pytest.mark.parametrize("name", SCHEMA_FILES)
def test_each_schema_file_is_a_2020_12_schema_with_the_id_scheme(name):
    schema = source(name)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == SCHEMA_BASE + name


@pytest.mark.parametrize(("component", "name"), COMPONENTS.items())
def test_every_component_says_what_its_schema_file_says(served, component, name):
    ours = served["components"]["schemas"][component]
    assert "$id" not in ours and "$schema" not in ours
    doc = Registry().with_resource(DOC, DRAFT202012.create_resource(served)).resolver(DOC)
    files = source_registry().resolver(SCHEMA_BASE + name)
    assert expand(ours, doc) == expand(source(name), files)


def test_the_components_are_exactly_the_schema_files(served):
    assert set(served["components"]["schemas"]) == set(COMPONENTS)
    for component, name in COMPONENTS.items():
        ours = served["components"]["schemas"][component]
        assert ours["title"] == source(name)["title"]


def test_the_document_is_self_contained(served):
    """Every reference points inside the document and resolves: no reader fetches a URL."""
    resolver = Registry().with_resource(DOC, DRAFT202012.create_resource(served)).resolver(DOC)
    found = refs(served)
    assert found
    for ref in found:
        assert ref.startswith("#/"), ref
        resolver.lookup(ref)


# -- what the service really reads and answers --------------------------------------------


def test_both_body_shapes_match_the_request_schema(served):
    request = validator(served, REQUEST)
    course, event = dict(RIDE), {"ride": RIDE, "ride_id": 256}
    for body in (course, {**course, "ride_id": "abc-1"}, event, {**event, "ride_id": "r-1"}):
        assert not errors(request, body), body
    # oneOf: a body with a `ride` key is an event (so the server reads it), never both
    assert not errors(request, {**event, **RIDE})
    assert errors(request, {**RIDE, "ride": RIDE})  # an event without ride_id
    assert errors(request, {"ride_id": 1})
    assert errors(request, [RIDE])


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/predict", RIDE, 200),
        ("POST", "/predict", {"ride": RIDE, "ride_id": 256}, 200),
        ("POST", "/predict", {"ride": RIDE, "ride_id": "x" * 256}, 200),
        ("POST", "/predict", {**RIDE, "PULocationID": 0}, 400),
        ("POST", "/predict", {"ride": RIDE}, 400),
        ("POST", "/predict", b"{not json", 400),
        ("GET", "/nope", None, 404),
        ("GET", "/predict", None, 405),
        ("POST", "/predict", b"{" + b" " * MAX_BODY_BYTES + b"}", 413),
        ("GET", "/health", None, 200),
    ],
)
def test_real_answers_match_the_documented_schema(server, served, method, path, body, status):
    raw = body if isinstance(body, bytes) else None
    got, answer = call(method, path, None if raw else body, raw=raw, port=server)
    assert got == status, answer
    if status == 404:  # any path: the document says so in its description
        schema = validator(served, "/components/schemas/Error")
    else:  # /predict documents all its answers, the 405 to other methods too, on POST
        operation = "post" if path == "/predict" else method.lower()
        schema = response_validator(served, path, operation, status)
    assert not errors(schema, answer), answer


async def _drive(app: PredictionApp, body: bytes, receive=None) -> tuple[int, Any]:
    sent: list[dict[str, Any]] = []

    async def whole_body():
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/predict", "headers": []}
    await app(scope, receive or whole_body, send)
    return sent[0]["status"], json.loads(sent[1]["body"])


class _Raising:
    def predict(self, matrix):
        raise RuntimeError("a broken model")


class _NaN:
    def predict(self, matrix):
        return [math.nan]


def test_the_408_and_500_answers_match_the_documented_schema(served, shipped_model):
    async def never():
        await asyncio.sleep(10)
        return {"type": "http.disconnect"}

    body = json.dumps(RIDE).encode()
    slow = PredictionApp(shipped_model, body_timeout=0.05)
    raising = PredictionApp(dataclasses.replace(shipped_model, predictor=_Raising()))
    nan = PredictionApp(dataclasses.replace(shipped_model, predictor=_NaN()))
    cases = {
        "body_timeout": asyncio.run(_drive(slow, body, never)),
        "prediction_failed": asyncio.run(_drive(raising, body)),
        "prediction_not_finite": asyncio.run(_drive(nan, body)),
    }
    app = PredictionApp(shipped_model)
    app.parse = lambda body, now=None: 1 / 0  # a bug in validation
    cases["internal_error"] = asyncio.run(_drive(app, body))
    for error, (status, answer) in cases.items():
        assert answer["error"] == error
        assert status == (408 if error == "body_timeout" else 500)
        assert not errors(response_validator(served, "/predict", "post", status), answer)
    status, _, answer = asgi_call(PredictionApp(shipped_model), "POST", "/predict", body)
    assert status == 200
    assert not errors(response_validator(served, "/predict", "post", 200), answer)


def _http_only_codes() -> set[str]:
    """The literal codes serve.py answers with: ``_error(status, "code", ...)``."""
    tree = ast.parse(Path(serve.__file__).read_text())
    return {
        node.args[1].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "_error"
        and isinstance(node.args[1], ast.Constant)
    }


def test_the_error_codes_are_the_dead_letter_reasons_and_the_http_codes(served):
    error = served["components"]["schemas"]["Error"]["properties"]["error"]
    documented = {code for branch in error["anyOf"] for code in branch["enum"]}
    reasons = set(source("dead_letter.v1.json")["properties"]["reason"]["enum"])
    http_only = _http_only_codes()
    assert http_only == {
        "method_not_allowed",
        "not_found",
        "body_timeout",
        "body_too_large",
        "internal_error",
    }
    assert documented == reasons | http_only
    assert {r.value for r in Reason} <= documented


# -- the old hand-written document's drift is gone ----------------------------------------

#: (where, field, value, valid, the server's reason when not)
DRIFT = [
    ("event", "ride_id", "", False, "invalid_ride_id"),
    ("event", "ride_id", "x" * 257, False, "invalid_ride_id"),
    ("event", "ride_id", None, False, "invalid_ride_id"),
    ("event", "ride_id", "x" * 256, True, None),
    ("ride", "pickup_datetime", None, True, None),
    ("ride", "pickup_datetime", "2023-02-01T08:15:00" + " " * 46, False, "invalid_pickup_datetime"),
    ("ride", "PULocationID", 0, False, "invalid_location_id"),
    ("ride", "PULocationID", 2**31, False, "invalid_location_id"),
    ("ride", "PULocationID", 2**31 - 1, True, None),
    ("ride", "DOLocationID", -1, False, "invalid_location_id"),
    ("ride", "DOLocationID", 1, True, None),
    ("ride", "trip_distance", -0.5, False, "invalid_trip_distance"),
    ("ride", "trip_distance", 0, True, None),
]


@pytest.mark.parametrize(("where", "field", "value", "valid", "reason"), DRIFT)
def test_the_document_bounds_what_the_server_bounds(
    server, served, where, field, value, valid, reason
):
    """Both body shapes: the request schema accepts what the server answers, and
    rejects what it turns down, with the reason of that field."""
    request = validator(served, REQUEST)
    if where == "event":
        bodies = [{"ride": RIDE, field: value}, {**RIDE, field: value}]
    else:
        bodies = [{"ride": {**RIDE, field: value}, "ride_id": 1}, {**RIDE, field: value}]
    for body in bodies:
        assert bool(not errors(request, body)) is valid, body
        status, answer = call("POST", "/predict", body, port=server)
        assert (status, answer.get("error")) == ((200, None) if valid else (400, reason))


def test_the_drifted_keywords_are_the_schema_files(served):
    ride = served["components"]["schemas"]["RideEvent"]["properties"]["ride"]["properties"]
    assert ride["pickup_datetime"]["type"] == ["string", "null"]
    assert ride["pickup_datetime"]["maxLength"] == 64
    for field in ("PULocationID", "DOLocationID"):
        assert (ride[field]["minimum"], ride[field]["maximum"]) == (1, 2**31 - 1)
    assert ride["trip_distance"]["minimum"] == 0
    ride_id = served["components"]["schemas"]["RideEvent"]["properties"]["ride_id"]
    assert {"type": "string", "minLength": 1, "maxLength": 256} in ride_id["oneOf"]
    course = served["components"]["schemas"]["CourseRide"]
    assert course["$ref"] == "#/components/schemas/RideEvent/properties/ride"
    assert course["properties"]["ride_id"] == {
        "$ref": "#/components/schemas/RideEvent/properties/ride_id"
    }
