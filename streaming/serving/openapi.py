"""The OpenAPI 3.1 document of ``streaming serve``, generated from the JSON Schemas.

``schemas/*.json`` is the one description of every body the web service reads or
answers: the course's flat body, the stream's ride event, the prediction, the error
and the health answer. This module builds the document's ``components.schemas`` from
them when it is imported, so the document cannot drift from them. OpenAPI 3.1's schema
dialect is JSON Schema 2020-12, the schemas' own, so each goes in as written but for
its identity and references, which would otherwise send a reader to fetch URLs:

- ``$id`` and ``$schema`` are dropped (the document declares the dialect once);
- a ``$ref`` into a file that is a component points into that component:
  ``ride_event.v1.json#/properties/ride`` -> ``#/components/schemas/RideEvent/properties/ride``;
- a ``$ref`` into any other file (the dead-letter stream's reason codes) is replaced by
  the schema it points to.

The files are read from ``schemas/`` at the project root, their one home (the
supported install is the editable one; the web service's image copies ``schemas/``
beside ``streaming/``); ``tests/unit/test_openapi.py`` requires the document to say
what the files say.
"""

from __future__ import annotations

import json
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urldefrag, urljoin

#: ``schemas/`` at the project root (``streaming/serving/`` -> two levels up).
SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"
#: ``schemas/<file>`` has the ``$id`` ``SCHEMA_BASE + <file>``.
SCHEMA_BASE = "https://ride-duration-streaming.example/schemas/"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

#: components.schemas name -> the file it is generated from
COMPONENTS: dict[str, str] = {
    "CourseRide": "course_ride.v1.json",
    "RideEvent": "ride_event.v1.json",
    "Prediction": "prediction_response.v1.json",
    "Error": "error_response.v1.json",
    "Health": "health_response.v1.json",
}
#: Files the components refer into without being one (their schemas are inlined):
#: the dead letter's closed set of reason codes, which a 400 or 500 answers with.
REFERENCED: tuple[str, ...] = ("dead_letter.v1.json",)
#: Every file the document is generated from: what the package must ship.
SCHEMA_FILES: tuple[str, ...] = (*COMPONENTS.values(), *REFERENCED)

#: Keywords whose values are data, not schemas: never searched for ``$ref``.
_DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples"})
#: Keywords whose values map names (any names, even "$ref" or "enum") to schemas.
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "dependentSchemas"})


def load_schemas(directory: Traversable | Path = SCHEMA_DIR) -> dict[str, dict[str, Any]]:
    """Every file the document uses, by file name; each ``$id`` must name its file."""
    schemas = {}
    for name in SCHEMA_FILES:
        schema = json.loads((directory / name).read_text(encoding="utf-8"))
        if schema.get("$id") != SCHEMA_BASE + name:
            raise ValueError(f"{name}: $id must be {SCHEMA_BASE + name}, got {schema.get('$id')!r}")
        schemas[name] = schema
    return schemas


def component_schemas(schemas: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``components.schemas``: each component's file, self-contained in the document."""
    return {
        name: _Rewriter(schemas).rewrite(_drop_identity(schemas[file]), SCHEMA_BASE + file)
        for name, file in COMPONENTS.items()
    }


class _Rewriter:
    """Re-points or inlines the ``$ref`` of schemas read from ``SCHEMA_BASE``."""

    def __init__(self, schemas: dict[str, dict[str, Any]]) -> None:
        self.by_uri = {SCHEMA_BASE + file: schema for file, schema in schemas.items()}
        self.component_of = {SCHEMA_BASE + file: name for name, file in COMPONENTS.items()}
        self.inlining: list[str] = []  # the references being inlined, to refuse a cycle

    def rewrite(self, node: Any, base: str) -> Any:
        if isinstance(node, list):
            return [self.rewrite(item, base) for item in node]
        if not isinstance(node, dict):
            return node
        if "$id" in node:
            raise ValueError(f"{base}: an embedded $id is not supported")
        out = self._rewrite_keywords(node, base)
        if "$ref" not in node:
            return out
        return self._resolve(node["$ref"], out, base)

    def _rewrite_keywords(self, node: dict[str, Any], base: str) -> dict[str, Any]:
        """Every keyword but ``$ref``, with the schemas inside it rewritten."""
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _DATA_KEYWORDS:
                out[key] = value
            elif key in _SCHEMA_MAPS and isinstance(value, dict):
                out[key] = {name: self.rewrite(sub, base) for name, sub in value.items()}
            elif key != "$ref":
                out[key] = self.rewrite(value, base)
        return out

    def _resolve(self, ref: str, out: dict[str, Any], base: str) -> dict[str, Any]:
        """A ``$ref`` beside the keywords ``out``: re-pointed into a component, or inlined."""
        node = {"$ref": ref}
        target = urljoin(base, ref)
        uri, fragment = urldefrag(target)
        if fragment and not fragment.startswith("/"):
            raise ValueError(f"{base}: $ref {node['$ref']!r} is not a JSON pointer")
        if uri in self.component_of:
            return {"$ref": f"#/components/schemas/{self.component_of[uri]}{fragment}", **out}
        if uri not in self.by_uri:
            raise ValueError(f"{base}: $ref {node['$ref']!r} names no file of {SCHEMA_FILES}")
        if target in self.inlining:
            raise ValueError(f"{base}: $ref {node['$ref']!r} refers to itself")
        self.inlining.append(target)
        inlined = self.rewrite(_drop_identity(_pointer(self.by_uri[uri], fragment)), uri)
        self.inlining.pop()
        if not out:
            return inlined
        return {**out, "allOf": [*out.get("allOf", []), inlined]}


def _drop_identity(schema: Any) -> Any:
    if not isinstance(schema, dict):
        return schema
    return {key: value for key, value in schema.items() if key not in ("$id", "$schema")}


def _pointer(document: Any, fragment: str) -> Any:
    """RFC 6901: the value at ``fragment`` (a URI fragment, percent-encoded) in ``document``."""
    node = document
    for token in unquote(fragment).split("/")[1:]:
        key = token.replace("~1", "/").replace("~0", "~")
        node = node[int(key)] if isinstance(node, list) else node[key]
    return node


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _json(component: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{component}"}}}


def build_openapi(
    *,
    max_body_bytes: int,
    body_timeout: float,
    schema_dir: Traversable | Path = SCHEMA_DIR,
) -> dict[str, Any]:
    """The whole document: the routes, as the app answers them, over the schema files."""
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": JSON_SCHEMA_DIALECT,
        "info": {
            "title": "Ride duration prediction",
            "version": "1.0.0",
            "description": "Predicts NYC green-taxi ride durations (minutes) at ride start. "
            "The schemas are the project's JSON Schemas (schemas/*.json). Any other path "
            "answers 404 (`not_found`), with an Error body.",
        },
        "paths": {
            "/predict": {
                "post": {
                    "summary": "Predict one ride's duration",
                    "description": "The course's flat body or the stream's ride event: a "
                    "body with a `ride` key is a ride event.",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "oneOf": [
                                        {"$ref": "#/components/schemas/CourseRide"},
                                        {"$ref": "#/components/schemas/RideEvent"},
                                    ]
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": {"description": "The prediction", "content": _json("Prediction")},
                        "400": _error_response(
                            "Invalid ride: `error` is the dead-letter stream's reason code"
                        ),
                        "405": _error_response("Not POST (`method_not_allowed`)"),
                        "408": _error_response(
                            "The body did not arrive within the body timeout "
                            f"({body_timeout:g} s by default; `body_timeout`)"
                        ),
                        "413": _error_response(
                            f"Body over {max_body_bytes} bytes (`body_too_large`)"
                        ),
                        "500": _error_response(
                            "The model could not answer this ride (prediction_failed, "
                            "prediction_not_finite) or the server failed (internal_error); "
                            "logged, the server keeps serving"
                        ),
                    },
                }
            },
            "/health": {
                "get": {
                    "summary": "Liveness and model version",
                    "responses": {"200": {"description": "Serving", "content": _json("Health")}},
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {
                        "200": {
                            "description": "OpenAPI 3.1 description",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
        },
        "components": {"schemas": component_schemas(load_schemas(schema_dir))},
    }
