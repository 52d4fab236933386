"""Event filtering (``FilterCriteria``) of a Kinesis event source mapping - rules from the docs.

What a mapping with filters does, as the Lambda Developer Guide says it:

*Control which events Lambda sends to your function* (``invocation-eventfiltering``):

* "By default, you can define up to five different filters for a single event
  source mapping. Your filters are logically ORed together. If a record from
  your event source satisfies one or more of your filters, Lambda includes the
  record in the next event it sends to your function. If none of your filters
  are satisfied, Lambda discards the record."  ``FilterCriteria.matches``.
* "If you need to define more than five filters for an event source, you can
  request a quota increase for up to 10 filters for each event source. If you
  attempt to add more filters than your current quota permits, Lambda will
  return an error": ``max_filters`` is 5 unless raised, never above 10.
* "To remove filter criteria from an event source, you can run the following
  update-event-source-mapping command with an empty FilterCriteria object":
  ``{}`` (no ``Filters``) is valid and filters nothing out.
* "For filter rules, Lambda supports the Amazon EventBridge rules and uses the
  same syntax as EventBridge." The operators accepted are exactly the rows of
  the page's table ("a summary of all the comparison operators available for
  Lambda event filtering"): Null ``[ null ]``, Empty ``[""]``, Equals
  ``[ "Alice" ]``, Equals (ignore case) ``[ { "equals-ignore-case": "alice" } ]``,
  And (several keys), Or ``[ "Credit", "Debit" ]``, Or (multiple fields)
  ``"$or": [ {...}, {...} ]``, Not ``[ { "anything-but": [ "Raining" ] } ]``,
  Numeric (equals) ``[ { "numeric": [ "=", 100 ] } ]``, Numeric (range)
  ``[ { "numeric": [ ">", 10, "<=", 20 ] } ]``, Exists / Does not exist
  ``[ { "exists": true|false } ]``, Begins with ``[ {"prefix": "us-" } ]``,
  Ends with ``[ { "suffix": ".png" } ]``. EventBridge operators missing from
  that table (``cidr``, ``wildcard``, ``anything-but`` with ``prefix``/``suffix``/
  ``equals-ignore-case``, ``prefix`` with ``equals-ignore-case``) are refused,
  naming the table, rather than guessed at.
* "Like EventBridge, for strings, Lambda uses exact character-by-character
  matching without case-folding or any other string normalization. For
  numbers, Lambda also uses string representation. For example, 300, 300.0,
  and 3.0e2 are not considered equal." Exact values (and ``anything-but``
  values) compare JSON numbers as written; only ``numeric`` compares values,
  and only JSON numbers (a string never matches ``numeric``).
* "Note that the Exists operator only works on leaf nodes in your event source
  JSON. It doesn't match intermediate nodes."

*Using event filtering with a Kinesis event source* (``with-kinesis-filtering``):

* "Kinesis event source mappings only support filtering on the ``data`` key."
  Any other top-level key (``partitionKey``, ``sequenceNumber``, ...) is refused.
* "As long as the data the producer puts into the stream is valid JSON, you
  can use event filtering to filter records using the ``data`` key." The
  filterable view of a record is ``{"data": <its Data parsed as JSON>}``.
* JSON format ("Properly filtering Kinesis and DynamoDB messages" in the
  guide's source, awsdocs/aws-lambda-developer-guide; the current DynamoDB page
  keeps the same table): "To properly filter events from stream event sources,
  both the data field and your filter criteria for the data field must be in
  valid JSON format. (For Kinesis, the data field is data. ...) If either field
  isn't in a valid JSON format, Lambda drops the message or throws an
  exception": incoming "Non-JSON" with a "Valid JSON" data pattern -> "Lambda
  drops the record."; a "Non-JSON" data pattern -> "Lambda throws an exception
  at the time of the event source mapping creation or update." Here a record
  whose Data is not UTF-8 JSON (or NaN/Infinity literals, or nested too deep for
  the parser, or over Kinesis's 1 MiB record size) matches no filter, and
  ``{"data": [ ... ]}`` (rules on the data as a plain value) is a ``FilterError``.
* The page has a section "Filtering Kinesis aggregated records" whose text
  was not readable here; this module follows the JSON rule above: a KPL
  aggregated record is not de-aggregated, its Data (magic ``F3 89 9A C2`` +
  protobuf + MD5) is not JSON, so every filter drops it.

*Filter* (Lambda API Reference): ``Pattern`` "Length Constraints: Minimum
length of 0. Maximum length of 4096."

From EventBridge (whose rules Lambda says it follows): "For an event pattern to
match an event, the event must contain all the field names listed in the event
pattern" (a missing field matches only ``exists: false``), and "If the value in
the event is an array, then the event pattern matches if the intersection of
the event pattern array and the event array is non-empty" (any element may
match a rule; a nested pattern matches if one element object matches it).

Choices of ours, where the docs say nothing: a key repeated in a pattern is
ANDed (the DynamoDB page's "Boolean AND" example repeats ``dynamodb``); an
empty object, an empty rule list or an empty ``$or`` is refused (it filters
nothing or everything by accident); patterns nest at most ``MAX_DEPTH`` objects
deep, which bounds the work per record; ``equals-ignore-case`` compares
``str.casefold()``.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

__all__ = [
    "DATA_KEY",
    "DEFAULT_MAX_FILTERS",
    "MAX_DATA_BYTES",
    "MAX_PATTERN_LENGTH",
    "QUOTA_MAX_FILTERS",
    "Filter",
    "FilterCriteria",
    "FilterError",
    "parse_filter_criteria",
]

DEFAULT_MAX_FILTERS = 5  # "By default, you can define up to five different filters"
QUOTA_MAX_FILTERS = 10  # "you can request a quota increase for up to 10 filters"
MAX_PATTERN_LENGTH = 4096  # API Filter.Pattern: "Maximum length of 4096."
MAX_DATA_BYTES = 1024 * 1024  # a Kinesis record's data blob is at most 1 MiB
MAX_DEPTH = 32  # ours: objects nested in a pattern, so matching one record is bounded
DATA_KEY = "data"  # "Kinesis event source mappings only support filtering on the data key."

_KINESIS_ONLY_DATA = (
    '"Kinesis event source mappings only support filtering on the data key" '
    "(Lambda docs, Using event filtering with a Kinesis event source)"
)
_LAMBDA_TABLE = "the Lambda event filtering operator table"
_OPERATORS = (
    "prefix",
    "suffix",
    "equals-ignore-case",
    "anything-but",
    "numeric",
    "exists",
)
_EVENTBRIDGE_ONLY = ("cidr", "wildcard")
_COMPARE: dict[str, Callable[[Decimal, Decimal], bool]] = {
    "=": operator.eq,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_LOWER_BOUNDS = frozenset({">", ">="})
_UPPER_BOUNDS = frozenset({"<", "<="})


class FilterError(ValueError):
    """The FilterCriteria is one Lambda would refuse; the message names what and where."""


# --- JSON, with numbers kept as written --------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Number:
    """A JSON number as written: equality is by text (the docs), ``numeric`` by value."""

    text: str

    def value(self) -> Decimal | None:
        try:
            return Decimal(self.text)
        except ArithmeticError:  # an exponent beyond what Decimal can hold
            return None


class _Pairs:
    """A pattern object as its (key, value) pairs: a repeated key is kept (and ANDed)."""

    __slots__ = ("items",)

    def __init__(self, items: list[tuple[str, Any]]) -> None:
        self.items = items

    def first_key(self) -> str:
        return self.items[0][0] if self.items else "{}"


class _NotJson:
    """The record's data is not JSON: any filter drops the record."""


_NOT_JSON = _NotJson()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # Python's json would accept NaN/Infinity


def _loads(text: str, object_pairs_hook: Callable[[list[tuple[str, Any]]], Any]) -> Any:
    return json.loads(
        text,
        object_pairs_hook=object_pairs_hook,
        parse_int=_Number,
        parse_float=_Number,
        parse_constant=_reject_constant,
    )


def _decode_data(data: Any) -> Any:
    """The record's Data parsed as JSON, or _NOT_JSON. Never raises."""
    if not isinstance(data, bytes | bytearray) or len(data) > MAX_DATA_BYTES:
        return _NOT_JSON
    try:
        return _loads(bytes(data).decode("utf-8"), dict)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return _NOT_JSON


def _flatten(value: Any) -> Iterator[Any]:
    """The items of ``value``, arrays (nested ones too) opened. Iterative: no depth limit."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
        else:
            yield item


def _identity(value: Any) -> tuple[str, Any]:
    """What exact matching compares: the JSON type and the value as written."""
    if isinstance(value, _Number):
        return ("number", value.text)
    if isinstance(value, bool):
        return ("boolean", value)
    if value is None:
        return ("null", None)
    return ("string", value)


# --- rules: what a list of values in a pattern means --------------------------------------


@dataclass(frozen=True, slots=True)
class _Exact:
    values: frozenset[tuple[str, Any]]

    def test(self, leaf: Any) -> bool:
        return _identity(leaf) in self.values


@dataclass(frozen=True, slots=True)
class _AnythingBut:
    values: frozenset[tuple[str, Any]]

    def test(self, leaf: Any) -> bool:
        return _identity(leaf) not in self.values


@dataclass(frozen=True, slots=True)
class _Prefix:
    prefix: str

    def test(self, leaf: Any) -> bool:
        return isinstance(leaf, str) and leaf.startswith(self.prefix)


@dataclass(frozen=True, slots=True)
class _Suffix:
    suffix: str

    def test(self, leaf: Any) -> bool:
        return isinstance(leaf, str) and leaf.endswith(self.suffix)


@dataclass(frozen=True, slots=True)
class _IgnoreCase:
    folded: str

    def test(self, leaf: Any) -> bool:
        return isinstance(leaf, str) and leaf.casefold() == self.folded


@dataclass(frozen=True, slots=True)
class _Numeric:
    bounds: tuple[tuple[str, Decimal], ...]

    def test(self, leaf: Any) -> bool:
        if not isinstance(leaf, _Number):  # strings never match numeric
            return False
        value = leaf.value()
        return value is not None and all(_COMPARE[op](value, bound) for op, bound in self.bounds)


_Test = _Exact | _AnythingBut | _Prefix | _Suffix | _IgnoreCase | _Numeric


@dataclass(frozen=True, slots=True)
class _Rules:
    """A list of values/operators for one field: OR across them."""

    tests: tuple[_Test, ...]
    exists: tuple[bool, ...]

    def match(self, leaves: list[Any]) -> bool:
        if any(wanted == bool(leaves) for wanted in self.exists):
            return True
        return any(test.test(leaf) for test in self.tests for leaf in leaves)


@dataclass(frozen=True, slots=True)
class _Object:
    """A pattern object: AND across its fields and its ``$or`` groups."""

    fields: tuple[tuple[str, _Object | _Rules], ...]
    alternatives: tuple[tuple[_Object, ...], ...]

    def match(self, obj: dict[str, Any]) -> bool:
        return all(_match_field(obj, key, node) for key, node in self.fields) and all(
            any(alt.match(obj) for alt in group) for group in self.alternatives
        )


def _match_field(obj: dict[str, Any], key: str, node: _Object | _Rules) -> bool:
    present = key in obj
    items = list(_flatten(obj[key])) if present else []
    if isinstance(node, _Rules):  # leaves only: "Exists ... doesn't match intermediate nodes"
        return node.match([item for item in items if not isinstance(item, dict)])
    children = [item for item in items if isinstance(item, dict)]
    # No object there: the pattern's fields are all missing (exists: false may still hold).
    return any(node.match(child) for child in children or [{}])


# --- compiling a pattern, with one clear message per mistake ------------------------------


def _where(path: str) -> str:
    return path or "the pattern"


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | bool | _Number)


def _json_type(value: Any) -> str:
    if isinstance(value, _Pairs):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return {"number": "a number", "boolean": "a boolean", "null": "null"}.get(
        _identity(value)[0], "a string"
    )


def _string_operand(name: str, operand: Any, path: str) -> str:
    if isinstance(operand, _Pairs) and name in {"prefix", "suffix"}:
        raise FilterError(
            f"{path}: {name!r} with an object ({operand.first_key()!r}) "
            f"is an EventBridge form not in {_LAMBDA_TABLE}"
        )
    if not isinstance(operand, str):
        raise FilterError(f"{path}: {name!r} takes a string, got {_json_type(operand)}")
    return operand


def _anything_but(operand: Any, path: str) -> _AnythingBut:
    if isinstance(operand, _Pairs):
        raise FilterError(
            f"{path}: 'anything-but' with {operand.first_key()!r} "
            f"is an EventBridge form not in {_LAMBDA_TABLE}"
        )
    values = operand if isinstance(operand, list) else [operand]
    if not values:
        raise FilterError(f"{path}: 'anything-but' needs at least one value")
    for value in values:
        if not isinstance(value, str | _Number):
            raise FilterError(
                f"{path}: 'anything-but' takes strings or numbers, got {_json_type(value)}"
            )
    return _AnythingBut(frozenset(_identity(v) for v in values))


def _bound(op: Any, number: Any, path: str) -> tuple[str, Decimal]:
    if op not in _COMPARE:
        raise FilterError(f"{path}: 'numeric' operator {op!r} is not one of = < <= > >=")
    value = number.value() if isinstance(number, _Number) else None
    if value is None:
        raise FilterError(f"{path}: 'numeric' {op} needs a JSON number, got {_json_type(number)}")
    return (op, value)


def _numeric(operand: Any, path: str) -> _Numeric:
    if not isinstance(operand, list) or len(operand) not in (2, 4):
        raise FilterError(
            f"{path}: 'numeric' takes [op, number] or [op, number, op, number], "
            f'as in "numeric": [ ">", 10, "<=", 20 ]'
        )
    bounds = tuple(_bound(operand[i], operand[i + 1], path) for i in range(0, len(operand), 2))
    if len(bounds) == 2:
        ops = {bounds[0][0], bounds[1][0]}
        if not (ops & _LOWER_BOUNDS and ops & _UPPER_BOUNDS):
            raise FilterError(
                f"{path}: a 'numeric' range needs one lower bound (> or >=) "
                f"and one upper bound (< or <=), got {bounds[0][0]} and {bounds[1][0]}"
            )
    return _Numeric(bounds)


def _exists(operand: Any, path: str) -> bool:
    if not isinstance(operand, bool):
        raise FilterError(f"{path}: 'exists' takes true or false, got {_json_type(operand)}")
    return operand


def _operator(pairs: _Pairs, path: str) -> _Test | bool:
    """One ``{"operator": operand}`` object of a rule list."""
    if len(pairs.items) != 1:
        names = ", ".join(repr(k) for k, _ in pairs.items) or "nothing"
        raise FilterError(f"{path}: an operator object holds exactly one operator, got {names}")
    name, operand = pairs.items[0]
    if name in {"prefix", "suffix", "equals-ignore-case"}:
        text = _string_operand(name, operand, path)
        if name == "prefix":
            return _Prefix(text)
        return _Suffix(text) if name == "suffix" else _IgnoreCase(text.casefold())
    if name == "anything-but":
        return _anything_but(operand, path)
    if name == "numeric":
        return _numeric(operand, path)
    if name == "exists":
        return _exists(operand, path)
    if name in _EVENTBRIDGE_ONLY:
        raise FilterError(f"{path}: operator {name!r} is EventBridge's, not in {_LAMBDA_TABLE}")
    raise FilterError(
        f"{path}: unknown operator {name!r}; Lambda event filtering has {', '.join(_OPERATORS)}"
    )


def _rules(items: list[Any], path: str) -> _Rules:
    if not items:
        raise FilterError(f"{path}: an empty list of values matches nothing")
    exact: set[tuple[str, Any]] = set()
    tests: list[_Test] = []
    exists: list[bool] = []
    for i, item in enumerate(items):
        where = f"{path}[{i}]"
        if _scalar(item):
            exact.add(_identity(item))
        elif isinstance(item, _Pairs):
            made = _operator(item, where)
            if isinstance(made, bool):
                exists.append(made)
            else:
                tests.append(made)
        else:
            raise FilterError(f"{where}: a list inside a list of values is not a rule")
    if exact:
        tests.insert(0, _Exact(frozenset(exact)))
    return _Rules(tuple(tests), tuple(exists))


def _or_group(value: Any, path: str, depth: int, top: bool) -> tuple[_Object, ...]:
    if not isinstance(value, list) or not value:
        raise FilterError(f"{path}: '$or' takes a non-empty list of pattern objects")
    group = []
    for i, alt in enumerate(value):
        if not isinstance(alt, _Pairs):
            raise FilterError(f"{path}[{i}]: a '$or' alternative must be an object")
        group.append(_object(alt, f"{path}[{i}]", depth + 1, top))
    return tuple(group)


def _field(key: str, value: Any, path: str, depth: int, top: bool) -> _Object | _Rules:
    if top and key != DATA_KEY:
        raise FilterError(f"{path}: key {key!r} cannot be filtered on: {_KINESIS_ONLY_DATA}")
    if isinstance(value, _Pairs):
        return _object(value, path, depth + 1, top=False)
    if top:  # {"data": [...]}: rules on the data as a plain value, not as JSON fields
        raise FilterError(
            f'{path}: must be an object of fields: "The filter pattern for data properties '
            f'must be in a valid JSON format" (Lambda docs, Kinesis filtering)'
        )
    if isinstance(value, list):
        return _rules(value, path)
    raise FilterError(
        f"{path}: must be a list of values or an object of fields, got {_json_type(value)}"
    )


def _object(pairs: _Pairs, path: str, depth: int, top: bool) -> _Object:
    if depth > MAX_DEPTH:
        raise FilterError(f"{_where(path)}: nested deeper than {MAX_DEPTH} objects")
    if not pairs.items:
        raise FilterError(f"{_where(path)}: an empty object names no field to match")
    fields: list[tuple[str, _Object | _Rules]] = []
    alternatives: list[tuple[_Object, ...]] = []
    for key, value in pairs.items:
        where = f"{path}.{key}" if path else key
        if key == "$or":
            alternatives.append(_or_group(value, where, depth, top))
        else:
            fields.append((key, _field(key, value, where, depth, top)))
    return _Object(tuple(fields), tuple(alternatives))


def _compile_pattern(pattern: Any, where: str) -> _Object:
    if not isinstance(pattern, str):
        raise FilterError(
            f"{where}: Pattern must be a string (JSON text), got {type(pattern).__name__}"
        )
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise FilterError(
            f"{where}: Pattern is {len(pattern)} characters; "
            f"Filter.Pattern has a maximum length of {MAX_PATTERN_LENGTH}"
        )
    try:
        parsed = _loads(pattern, _Pairs)
    except RecursionError:
        raise FilterError(f"{where}: Pattern is nested too deep to parse") from None
    except ValueError as exc:
        raise FilterError(f"{where}: Pattern is not JSON ({exc})") from None
    if not isinstance(parsed, _Pairs):
        raise FilterError(f"{where}: Pattern must be a JSON object, got {_json_type(parsed)}")
    try:
        return _object(parsed, "", 1, top=True)
    except FilterError as exc:
        raise FilterError(f"{where}: {exc}") from None


# --- the public API -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Filter:
    """One ``{"Pattern": ...}`` of the criteria, compiled."""

    pattern: str
    _root: _Object

    def _matches(self, data: Any) -> bool:
        """Does a record whose Data ``_decode_data`` gave as ``data`` satisfy this filter?"""
        if isinstance(data, _NotJson):  # "Non-JSON | Valid JSON -> Lambda drops the record."
            return False
        return self._root.match({DATA_KEY: data})


@dataclass(frozen=True, slots=True)
class FilterCriteria:
    """A mapping's filters: a record passes if any filter matches (none: every record passes)."""

    filters: tuple[Filter, ...] = ()

    def matches(self, record: Any) -> bool:
        """Would Lambda keep this GetRecords record (``{"Data": bytes, ...}``)? Never raises."""
        if not self.filters:
            return True
        data = _decode_data(record.get("Data") if isinstance(record, dict) else None)
        return any(f._matches(data) for f in self.filters)


def _document(document: Any) -> dict[str, Any]:
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except (ValueError, RecursionError) as exc:
            raise FilterError(f"FilterCriteria is not JSON ({exc})") from None
    if not isinstance(document, dict):
        raise FilterError(f"FilterCriteria must be a JSON object, got {type(document).__name__}")
    unknown = sorted(set(document) - {"Filters"})
    if unknown:
        raise FilterError(f"FilterCriteria has unknown keys {unknown}; it holds only 'Filters'")
    return document


def _check_quota(max_filters: Any) -> None:
    if isinstance(max_filters, bool) or not isinstance(max_filters, int):
        raise FilterError(f"max_filters must be an integer, got {max_filters!r}")
    if not 1 <= max_filters <= QUOTA_MAX_FILTERS:
        raise FilterError(
            f"max_filters is {max_filters}; the quota is {DEFAULT_MAX_FILTERS} by default and "
            f'"you can request a quota increase for up to {QUOTA_MAX_FILTERS} filters"'
        )


def _filters(document: dict[str, Any], max_filters: int) -> list[Any]:
    if "Filters" not in document:
        return []  # "an empty FilterCriteria object" removes filtering
    filters = document["Filters"]
    if not isinstance(filters, list):
        raise FilterError(f"Filters must be a list, got {type(filters).__name__}")
    if len(filters) > max_filters:
        raise FilterError(
            f"Filters has {len(filters)} filters; the quota allows {max_filters} "
            f"({DEFAULT_MAX_FILTERS} by default, up to {QUOTA_MAX_FILTERS} with a quota increase)"
        )
    return filters


def _filter(index: int, item: Any) -> Filter:
    where = f"Filters[{index}]"
    if not isinstance(item, dict):
        raise FilterError(f"{where} must be an object with a Pattern, got {type(item).__name__}")
    if set(item) != {"Pattern"}:
        keys = sorted(item)
        raise FilterError(f"{where} must hold exactly one key, 'Pattern'; it has {keys}")
    pattern = item["Pattern"]
    return Filter(pattern, _compile_pattern(pattern, f"{where}.Pattern"))


def parse_filter_criteria(
    document: str | dict[str, Any], *, max_filters: int = DEFAULT_MAX_FILTERS
) -> FilterCriteria:
    """Validate a mapping's ``FilterCriteria`` (JSON text or dict) as Lambda would; compile it.

    Raises ``FilterError`` naming the first mistake: not JSON, ``Filters`` not a
    list, too many filters for ``max_filters`` (5 by default, at most 10), a
    ``Pattern`` that is not a string, too long, not a JSON object, a key other
    than ``data`` at the top, an operator not in Lambda's table, or an operand of
    the wrong type.
    """
    _check_quota(max_filters)
    filters = _filters(_document(document), max_filters)
    return FilterCriteria(tuple(_filter(i, item) for i, item in enumerate(filters)))
