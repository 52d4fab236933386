"""Validate real outputs against the versioned JSON Schemas in schemas/."""

from __future__ import annotations

import json
from functools import cache

from jsonschema import Draft202012Validator

from tests.conftest import REPO


@cache
def validator(name: str) -> Draft202012Validator:
    schema = json.loads((REPO / "schemas" / f"{name}.v1.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def assert_valid(name: str, instance: object) -> None:
    errors = sorted(validator(name).iter_errors(instance), key=str)
    assert not errors, f"{name}: " + "; ".join(e.message for e in errors[:5])
