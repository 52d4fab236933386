"""FilterCriteria of a Kinesis event source mapping (streaming/esm/filtering.py).

Each operator is tested with the example the Lambda docs give for it (the
table in *Control which events Lambda sends to your function*, "Filter rule
syntax"), wrapped in the ``data`` key: "Kinesis event source mappings only
support filtering on the data key" (*Using event filtering with a Kinesis
event source*).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streaming.esm.filtering import (
    MAX_DATA_BYTES,
    MAX_DEPTH,
    MAX_PATTERN_LENGTH,
    FilterCriteria,
    FilterError,
    parse_filter_criteria,
)
from tests.support import kpl_build
from tests.support.budget import examples
from tests.support.strategies import json_values, record_data


def criteria(*patterns: Any, max_filters: int = 5) -> FilterCriteria:
    """FilterCriteria with one filter per pattern (a dict is JSON-encoded)."""
    texts = [p if isinstance(p, str) else json.dumps(p) for p in patterns]
    return parse_filter_criteria(
        {"Filters": [{"Pattern": t} for t in texts]}, max_filters=max_filters
    )


def on_data(fields: dict[str, Any]) -> FilterCriteria:
    """One filter on the record's data: ``{"data": fields}``."""
    return criteria({"data": fields})


def record(payload: Any) -> dict[str, Any]:
    """A GetRecords record whose Data is ``payload`` (bytes as is, else JSON)."""
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return {"Data": data, "PartitionKey": "1", "SequenceNumber": "49590338271490256608559692538"}


def keeps(fc: FilterCriteria, payload: Any) -> bool:
    return fc.matches(record(payload))


def error_of(document: Any, **kwargs: Any) -> str:
    with pytest.raises(FilterError) as caught:
        parse_filter_criteria(document, **kwargs)
    return str(caught.value)


def pattern_error(pattern: Any) -> str:
    text = pattern if isinstance(pattern, str) else json.dumps(pattern)
    return error_of({"Filters": [{"Pattern": text}]})


# --- the Kinesis page's own example ------------------------------------------------------


def test_kinesis_doc_example_order_type_buy():
    # "To filter only those records where the order type is "buy," the FilterCriteria
    # object would be as follows." { "data" : { "order" : { "type" : [ "buy" ] } } }
    fc = parse_filter_criteria(
        '{ "Filters": [ { "Pattern": "{ \\"data\\" : { \\"order\\" : '
        '{ \\"type\\" : [ \\"buy\\" ] } } }" } ] }'
    )
    event = {"record": 12345, "order": {"type": "buy", "stock": "ANYCO", "quantity": 1000}}
    assert keeps(fc, event)
    assert not keeps(fc, {**event, "order": {**event["order"], "type": "sell"}})
    assert not keeps(fc, {"record": 12345})  # "the event must contain all the field names"


# --- one test per operator of the "Filter rule syntax" table -----------------------------


def test_null():
    # Null | UserID is null | "UserID": [ null ]
    fc = on_data({"UserID": [None]})
    assert keeps(fc, {"UserID": None})
    assert not keeps(fc, {"UserID": "u-1"})
    assert not keeps(fc, {"UserID": ""})
    assert not keeps(fc, {})  # missing is not null


def test_empty():
    # Empty | LastName is empty | "LastName": [""]
    fc = on_data({"LastName": [""]})
    assert keeps(fc, {"LastName": ""})
    assert not keeps(fc, {"LastName": "Smith"})
    assert not keeps(fc, {"LastName": None})
    assert not keeps(fc, {})


def test_equals():
    # Equals | Name is "Alice" | "Name": [ "Alice" ]
    fc = on_data({"Name": ["Alice"]})
    assert keeps(fc, {"Name": "Alice"})
    # "exact character-by-character matching without case-folding"
    assert not keeps(fc, {"Name": "alice"})
    assert not keeps(fc, {"Name": "Alice "})


def test_equals_ignore_case():
    # Equals (ignore case) | Name is "Alice" | "Name": [ { "equals-ignore-case": "alice" } ]
    fc = on_data({"Name": [{"equals-ignore-case": "alice"}]})
    assert keeps(fc, {"Name": "Alice"})
    assert keeps(fc, {"Name": "ALICE"})
    assert not keeps(fc, {"Name": "Alicia"})
    assert not keeps(fc, {"Name": ["Bob", "Carol"]})


def test_and():
    # And | Location is "New York" and Day is "Monday"
    # "Location": [ "New York" ], "Day": ["Monday"]
    fc = on_data({"Location": ["New York"], "Day": ["Monday"]})
    assert keeps(fc, {"Location": "New York", "Day": "Monday"})
    assert not keeps(fc, {"Location": "New York", "Day": "Tuesday"})
    assert not keeps(fc, {"Location": "New York"})


def test_or():
    # Or | PaymentType is "Credit" or "Debit" | "PaymentType": [ "Credit", "Debit"]
    fc = on_data({"PaymentType": ["Credit", "Debit"]})
    assert keeps(fc, {"PaymentType": "Credit"})
    assert keeps(fc, {"PaymentType": "Debit"})
    assert not keeps(fc, {"PaymentType": "Cash"})


def test_or_multiple_fields():
    # Or (multiple fields) | Location is "New York", or Day is "Monday".
    # "$or": [ { "Location": [ "New York" ] }, { "Day": [ "Monday" ] } ]
    fc = on_data({"$or": [{"Location": ["New York"]}, {"Day": ["Monday"]}]})
    assert keeps(fc, {"Location": "New York", "Day": "Friday"})
    assert keeps(fc, {"Location": "Boston", "Day": "Monday"})
    assert not keeps(fc, {"Location": "Boston", "Day": "Friday"})
    at_top = criteria(
        {"$or": [{"data": {"Location": ["New York"]}}, {"data": {"Day": ["Monday"]}}]}
    )
    assert keeps(at_top, {"Day": "Monday"})
    assert not keeps(at_top, {"Day": "Friday"})


def test_not_anything_but():
    # Not | Weather is anything but "Raining" | "Weather": [ { "anything-but": [ "Raining" ] } ]
    fc = on_data({"Weather": [{"anything-but": ["Raining"]}]})
    assert keeps(fc, {"Weather": "Sunny"})
    assert not keeps(fc, {"Weather": "Raining"})
    assert not keeps(fc, {})  # a missing field matches nothing but exists: false
    single = on_data({"Weather": [{"anything-but": "Raining"}]})  # EventBridge's single value
    assert keeps(single, {"Weather": "Snowing"})
    assert not keeps(single, {"Weather": "Raining"})
    numbers = on_data({"Price": [{"anything-but": [100]}]})
    assert not keeps(numbers, b'{"Price": 100}')
    assert keeps(numbers, b'{"Price": 100.0}')  # numbers as written: 100 is not 100.0


def test_numeric_equals():
    # Numeric (equals) | Price is 100 | "Price": [ { "numeric": [ "=", 100 ] } ]
    fc = on_data({"Price": [{"numeric": ["=", 100]}]})
    assert keeps(fc, b'{"Price": 100}')
    assert keeps(fc, b'{"Price": 1.0e2}')  # numeric compares values
    assert not keeps(fc, b'{"Price": 100.5}')
    assert not keeps(fc, {"Price": "100"})  # a string never matches numeric


def test_numeric_range():
    # Numeric (range) | Price is more than 10, and less than or equal to 20
    # "Price": [ { "numeric": [ ">", 10, "<=", 20 ] } ]
    fc = on_data({"Price": [{"numeric": [">", 10, "<=", 20]}]})
    assert keeps(fc, {"Price": 10.5})
    assert keeps(fc, {"Price": 20})
    assert not keeps(fc, {"Price": 10})
    assert not keeps(fc, {"Price": 20.01})
    assert not keeps(fc, {"Price": "15"})
    assert not keeps(fc, {"Price": True})  # a boolean is not a number
    one_sided = on_data({"Price": [{"numeric": ["<", 0]}]})
    assert keeps(one_sided, {"Price": -1})
    assert not keeps(one_sided, {"Price": 0})


def test_exists():
    # Exists | ProductName exists | "ProductName": [ { "exists": true } ]
    fc = on_data({"ProductName": [{"exists": True}]})
    assert keeps(fc, {"ProductName": "Widget"})
    assert keeps(fc, {"ProductName": None})  # present, with a null value
    assert not keeps(fc, {"Other": 1})
    # "the filter pattern { "person": { "address": [ { "exists": true } ] } } wouldn't
    # find a match because "address" is an intermediate node."
    person = {"person": {"name": "John Doe", "age": 30, "address": {"street": "123 Main St"}}}
    assert not keeps(on_data({"person": {"address": [{"exists": True}]}}), person)
    assert keeps(on_data({"person": {"address": {"street": [{"exists": True}]}}}), person)


def test_does_not_exist():
    # Does not exist | ProductName does not exist | "ProductName": [ { "exists": false } ]
    fc = on_data({"ProductName": [{"exists": False}]})
    assert keeps(fc, {"Other": 1})
    assert not keeps(fc, {"ProductName": "Widget"})
    assert keeps(on_data({"a": {"b": [{"exists": False}]}}), {})  # no "a" at all


def test_begins_with():
    # Begins with | Region is in the US | "Region": [ {"prefix": "us-" } ]
    fc = on_data({"Region": [{"prefix": "us-"}]})
    assert keeps(fc, {"Region": "us-east-1"})
    assert not keeps(fc, {"Region": "eu-west-1"})
    assert not keeps(fc, {"Region": "US-EAST-1"})


def test_ends_with():
    # Ends with | FileName ends with a .png extension. | "FileName": [ { "suffix": ".png" } ]
    fc = on_data({"FileName": [{"suffix": ".png"}]})
    assert keeps(fc, {"FileName": "photo.png"})
    assert not keeps(fc, {"FileName": "photo.jpg"})
    assert not keeps(fc, {"FileName": "photo.PNG"})


def test_numbers_compare_as_written():
    # "For numbers, Lambda also uses string representation. For example, 300, 300.0,
    # and 3.0e2 are not considered equal."
    fc = on_data({"Price": [300]})
    assert keeps(fc, b'{"Price": 300}')
    assert not keeps(fc, b'{"Price": 300.0}')
    assert not keeps(fc, b'{"Price": 3.0e2}')
    assert not keeps(fc, {"Price": "300"})
    assert not keeps(on_data({"Flag": [True]}), {"Flag": 1})
    assert not keeps(on_data({"Flag": [1]}), {"Flag": True})


def test_nested_keys_multi_level():
    # "Event filtering can handle multi-level JSON filtering."
    fc = on_data({"order": {"item": {"sku": ["A-1"]}}})
    assert keeps(fc, {"order": {"item": {"sku": "A-1", "qty": 2}}})
    assert not keeps(fc, {"order": {"item": {"sku": "B-2"}}})
    assert not keeps(fc, {"order": {"item": "A-1"}})


def test_arrays_in_the_event_match_if_any_element_does():
    # EventBridge: "If the value in the event is an array, then the event pattern
    # matches if the intersection of the event pattern array and the event array is
    # non-empty."
    arn = "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f"
    fc = on_data({"resources": [arn, "arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f"]})
    assert keeps(fc, {"resources": ["arn:aws:autoscaling:us-east-1:123456789012:x", arn]})
    assert not keeps(fc, {"resources": ["arn:aws:autoscaling:us-east-1:123456789012:x"]})
    low = on_data({"tire_pressure": [{"numeric": ["<", 32]}]})
    assert keeps(low, {"tire_pressure": [41, 40, 31, 41]})
    assert not keeps(low, {"tire_pressure": [41, 40, 33, 41]})
    items = on_data({"items": {"sku": ["B"]}})
    assert keeps(items, {"items": [{"sku": "A"}, {"sku": "B"}]})
    assert not keeps(items, {"items": [{"sku": "A"}]})


def test_a_repeated_key_is_anded():
    # The DynamoDB page's "Boolean AND" example repeats the "dynamodb" key; json.loads
    # would keep only the last one.
    fc = criteria('{"data": {"a": ["1"]}, "data": {"b": ["2"]}}')
    assert keeps(fc, {"a": "1", "b": "2"})
    assert not keeps(fc, {"a": "1"})
    assert not keeps(fc, {"b": "2"})


def test_filters_are_ored():
    # "Your filters are logically ORed together. If a record from your event source
    # satisfies one or more of your filters, Lambda includes the record ..."
    fc = criteria({"data": {"kind": ["a"]}}, {"data": {"kind": ["b"]}})
    assert keeps(fc, {"kind": "a"})
    assert keeps(fc, {"kind": "b"})
    assert not keeps(fc, {"kind": "c"})  # "If none of your filters are satisfied, Lambda discards"


def test_empty_filter_criteria_filters_nothing():
    # "To remove filter criteria from an event source, you can run the following
    # update-event-source-mapping command with an empty FilterCriteria object."
    for document in ({}, "{}", {"Filters": []}):
        fc = parse_filter_criteria(document)
        assert fc.filters == ()
        assert fc.matches(record(b"not json"))


# --- records whose data is not JSON ------------------------------------------------------


def test_non_json_data_is_dropped():
    # "Non-JSON | Valid JSON | Lambda drops the record."
    fc = on_data({"kind": [{"exists": False}]})  # would match any JSON object without "kind"
    assert keeps(fc, {"other": 1})
    for data in (b"kind=a", b"\xff\xfe\x00", b"", b'{"kind": NaN}', b'{"a": 1} trailing'):
        assert not keeps(fc, data)


def test_kpl_aggregated_record_is_not_deaggregated():
    # The aggregate's Data is magic + protobuf + MD5: not JSON, so a data filter drops it,
    # even though every user record inside would match.
    inner = json.dumps({"kind": "a"}).encode()
    aggregated = kpl_build.aggregate(["k"], [(0, inner), (0, inner)])
    fc = on_data({"kind": ["a"]})
    assert keeps(fc, inner)
    assert not keeps(fc, aggregated)


def test_data_over_the_kinesis_record_size_is_not_json():
    fc = on_data({"a": [{"exists": False}]})
    big = b'{"b": "' + b"x" * MAX_DATA_BYTES + b'"}'
    assert not keeps(fc, big)
    assert keeps(fc, b'{"b": "' + b"x" * (MAX_DATA_BYTES - 16) + b'"}')


EVERY_OPERATOR = criteria(
    {"data": {"a": ["x", 1, None, True, ""], "b": {"c": [{"prefix": "p"}, {"suffix": "s"}]}}},
    {"data": {"a": [{"equals-ignore-case": "X"}, {"anything-but": ["y", 2]}]}},
    {"data": {"a": [{"numeric": [">=", -1e300, "<", 1e300]}, {"numeric": ["=", 0]}]}},
    {"data": {"$or": [{"a": [{"exists": True}]}, {"z": [{"exists": False}]}]}},
    max_filters=10,
)

HOSTILE = {
    "not utf-8": {"Data": b"\xff\xfe\xfd"},
    "deep array": {"Data": b"[" * 100_000},
    "deep object": {"Data": b'{"a":' * 100_000},
    "huge int": {"Data": b'{"a": ' + b"9" * 100_000 + b"}"},
    "huge exponent": {"Data": b'{"a": 1e999999999999999999999999}'},
    "tiny exponent": {"Data": b'{"a": 1e-999999999999999999999999}'},
    "NaN literal": {"Data": b'{"a": NaN}'},
    "Infinity": {"Data": b"[-Infinity]"},
    "lone surrogate": {"Data": b'{"a": "\\ud800", "b": {"c": "\\udfff"}}'},
    "BOM": {"Data": b'\xef\xbb\xbf{"a": "x"}'},
    "huge array": {"Data": json.dumps({"a": list(range(100_000))}).encode()},
    "nested arrays": {"Data": b'{"a": ' + b"[" * 500 + b"1" + b"]" * 500 + b"}"},
    "over 1 MiB": {"Data": b"[" + b"1," * MAX_DATA_BYTES + b"1]"},
    "data is str": {"Data": '{"a": "x"}'},
    "data is None": {"Data": None},
    "no data": {"PartitionKey": "1"},
    "data is bytearray": {"Data": bytearray(b'{"a": "x"}')},
}


@pytest.mark.parametrize("rec", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_records_never_raise(rec):
    assert EVERY_OPERATOR.matches(rec) in (True, False)


@pytest.mark.parametrize("rec", [None, [], "Data", 7, {"Data": b"{}"}.items()])
def test_a_record_that_is_not_a_dict_never_raises(rec):
    assert EVERY_OPERATOR.matches(rec) is False


def test_hostile_values_that_are_json_still_match_sensibly():
    assert EVERY_OPERATOR.matches(HOSTILE["huge int"])  # anything-but ["y", 2]
    assert EVERY_OPERATOR.matches(HOSTILE["lone surrogate"])  # "a" exists
    assert EVERY_OPERATOR.matches(HOSTILE["data is bytearray"])
    assert not EVERY_OPERATOR.matches(HOSTILE["NaN literal"])  # NaN is not JSON


# --- validation: one mistake each, named in the message -----------------------------------


def test_document_not_json():
    assert "FilterCriteria is not JSON" in error_of('{"Filters": [')


def test_document_not_an_object():
    assert "FilterCriteria must be a JSON object" in error_of("[]")


def test_document_unknown_key():
    assert "unknown keys ['filters']" in error_of({"filters": []})


def test_filters_not_a_list():
    assert "Filters must be a list" in error_of({"Filters": {"Pattern": "{}"}})


def test_filter_not_an_object():
    assert "Filters[0] must be an object with a Pattern" in error_of({"Filters": ["{}"]})


def test_filter_without_pattern_or_with_extra_keys():
    assert "'Pattern'" in error_of({"Filters": [{}]})
    assert "['Other', 'Pattern']" in error_of(
        {"Filters": [{"Pattern": '{"data": {"a": [1]}}', "Other": 1}]}
    )


def test_pattern_not_a_string():
    message = error_of({"Filters": [{"Pattern": {"data": {"a": [1]}}}]})
    assert "Filters[0].Pattern: Pattern must be a string" in message


def test_pattern_not_json():
    assert "Filters[0].Pattern: Pattern is not JSON" in pattern_error("{data: [1]}")
    assert "Pattern is not JSON" in pattern_error('{"data": {"a": [NaN]}}')


def test_pattern_not_an_object():
    assert "Pattern must be a JSON object, got a list" in pattern_error('[{"data": {}}]')


def test_pattern_length_limit():
    # API Filter.Pattern: "Length Constraints: Minimum length of 0. Maximum length of 4096."
    base = '{"data": {"a": ["x"]}}'
    at_limit = base + " " * (MAX_PATTERN_LENGTH - len(base))
    assert len(criteria(at_limit).filters) == 1
    message = pattern_error(at_limit + " ")
    assert "4097 characters" in message and "maximum length of 4096" in message


def test_too_many_filters_for_the_quota():
    # "By default, you can define up to five different filters ... you can request a
    # quota increase for up to 10 filters for each event source."
    six = {"Filters": [{"Pattern": json.dumps({"data": {"n": [i]}})} for i in range(6)]}
    assert "Filters has 6 filters; the quota allows 5" in error_of(six)
    assert len(parse_filter_criteria(six, max_filters=10).filters) == 6
    eleven = {"Filters": six["Filters"] * 2}
    assert "Filters has 12 filters; the quota allows 10" in error_of(eleven, max_filters=10)


@pytest.mark.parametrize("max_filters", [0, 11, True, 5.0])
def test_max_filters_outside_the_quota(max_filters):
    assert "max_filters" in error_of({}, max_filters=max_filters)


@pytest.mark.parametrize(
    "key", ["partitionKey", "sequenceNumber", "kinesisSchemaVersion", "approximateArrivalTimestamp"]
)
def test_metadata_keys_are_refused_for_kinesis(key):
    message = pattern_error({key: ["1"], "data": {"a": ["x"]}})
    assert f"key {key!r} cannot be filtered on" in message
    assert "only support filtering on the data key" in message


def test_metadata_key_inside_a_top_level_or_is_refused():
    message = pattern_error({"$or": [{"data": {"a": ["x"]}}, {"partitionKey": ["1"]}]})
    assert "$or[1].partitionKey" in message


def test_rules_on_data_as_a_plain_value_are_refused():
    # "Valid JSON | Non-JSON | Lambda throws an exception at the time of the event source
    # mapping creation or update. The filter pattern for data properties must be in a
    # valid JSON format."
    message = pattern_error({"data": ["plain text"]})
    assert "Filters[0].Pattern: data: must be an object of fields" in message


def test_unknown_operator():
    message = pattern_error({"data": {"a": [{"contains": "x"}]}})
    assert "data.a[0]: unknown operator 'contains'" in message


@pytest.mark.parametrize(
    ("rule", "named"),
    [
        ({"cidr": "10.0.0.0/24"}, "'cidr' is EventBridge's"),
        ({"wildcard": "*.png"}, "'wildcard' is EventBridge's"),
        ({"anything-but": {"prefix": "us-"}}, "'anything-but' with 'prefix'"),
        ({"anything-but": {"equals-ignore-case": "x"}}, "'anything-but' with 'equals-ignore-case'"),
        ({"prefix": {"equals-ignore-case": "x"}}, "'prefix' with an object"),
    ],
)
def test_eventbridge_operators_not_in_the_lambda_table(rule, named):
    message = pattern_error({"data": {"a": [rule]}})
    assert named in message and "Lambda event filtering operator table" in message


@pytest.mark.parametrize(
    ("rule", "named"),
    [
        ({"prefix": 5}, "'prefix' takes a string, got a number"),
        ({"suffix": None}, "'suffix' takes a string, got null"),
        ({"equals-ignore-case": ["a"]}, "'equals-ignore-case' takes a string, got a list"),
        ({"exists": "yes"}, "'exists' takes true or false, got a string"),
        ({"numeric": ["=", "100"]}, "'numeric' = needs a JSON number, got a string"),
        ({"numeric": ["=", True]}, "'numeric' = needs a JSON number, got a boolean"),
        ({"numeric": ["~", 1]}, "'numeric' operator '~' is not one of"),
        ({"numeric": [1]}, "'numeric' takes [op, number]"),
        ({"numeric": ">"}, "'numeric' takes [op, number]"),
        ({"numeric": [">", 1, ">", 2]}, "needs one lower bound"),
        ({"numeric": ["=", 1, "<", 2]}, "needs one lower bound"),
        ({"anything-but": [None]}, "'anything-but' takes strings or numbers, got null"),
        ({"anything-but": True}, "'anything-but' takes strings or numbers, got a boolean"),
        ({"anything-but": []}, "'anything-but' needs at least one value"),
        ({"prefix": "a", "suffix": "b"}, "exactly one operator, got 'prefix', 'suffix'"),
        ({}, "exactly one operator, got nothing"),
    ],
)
def test_wrong_operand_types(rule, named):
    assert named in pattern_error({"data": {"a": [rule]}})


@pytest.mark.parametrize(
    ("pattern", "named"),
    [
        ({"data": {"a": []}}, "data.a: an empty list of values matches nothing"),
        ({"data": {}}, "data: an empty object names no field"),
        ({}, "the pattern: an empty object names no field"),
        ({"data": {"a": "x"}}, "data.a: must be a list of values or an object of fields"),
        ({"data": {"a": [["x"]]}}, "data.a[0]: a list inside a list of values"),
        ({"data": {"$or": []}}, "data.$or: '$or' takes a non-empty list"),
        ({"data": {"$or": {"a": ["x"]}}}, "data.$or: '$or' takes a non-empty list"),
        ({"data": {"$or": [["x"]]}}, "data.$or[0]: a '$or' alternative must be an object"),
    ],
)
def test_malformed_structure(pattern, named):
    assert named in pattern_error(pattern)


def test_pattern_nested_too_deep():
    deep: dict[str, Any] = {"x": ["y"]}
    for _ in range(MAX_DEPTH):
        deep = {"n": deep}
    assert f"nested deeper than {MAX_DEPTH} objects" in pattern_error({"data": deep})
    assert "nested too deep to parse" in pattern_error("[" * 4000)


# --- properties ---------------------------------------------------------------------------

FIELDS = ("a", "b", "c")
scalars = st.none() | st.booleans() | st.integers(-5, 5) | st.sampled_from(["", "x", "X", "xy"])
text_operand = st.sampled_from(["", "x", "y", "X"])
rules = st.one_of(
    scalars,
    st.builds(lambda s: {"prefix": s}, text_operand),
    st.builds(lambda s: {"suffix": s}, text_operand),
    st.builds(lambda s: {"equals-ignore-case": s}, text_operand),
    st.builds(
        lambda v: {"anything-but": v},
        st.lists(st.integers(-2, 2) | text_operand, min_size=1, max_size=3),
    ),
    st.builds(lambda n: {"numeric": ["<", n]}, st.integers(-3, 3)),
    st.builds(
        lambda lo, hi: {"numeric": [">=", lo, "<=", hi]}, st.integers(-3, 0), st.integers(0, 3)
    ),
    st.builds(lambda b: {"exists": b}, st.booleans()),
)
field_patterns = st.recursive(
    st.lists(rules, min_size=1, max_size=3),
    lambda inner: st.dictionaries(st.sampled_from(FIELDS), inner, min_size=1, max_size=2),
    max_leaves=4,
)
data_patterns = st.dictionaries(st.sampled_from(FIELDS), field_patterns, min_size=1, max_size=3)
patterns = st.builds(lambda fields: {"data": fields}, data_patterns)

event_values = st.recursive(
    scalars | st.floats(allow_nan=False, allow_infinity=False, width=16) | json_values,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(FIELDS), inner, max_size=3)
    ),
    max_leaves=8,
)
events = st.dictionaries(st.sampled_from(FIELDS), event_values, max_size=3)
# Python's json writes NaN/Infinity (not JSON) for some floats of json_values: hostile too.
datas = events.map(lambda e: json.dumps(e).encode()) | record_data | st.binary(max_size=64)


@examples(300)
@given(pats=st.lists(patterns, min_size=1, max_size=5), data=datas)
def test_matches_never_raises_and_filters_are_ored(pats, data):
    rec = record(data)
    together = criteria(*pats).matches(rec)
    alone = [FilterCriteria((f,)).matches(rec) for f in criteria(*pats).filters]
    assert together is any(alone)


@examples(200)
@given(pat=patterns, value=event_values)
def test_a_repeated_filter_changes_nothing_and_non_json_never_matches(pat, value):
    # Duplicating a filter changes nothing (OR is idempotent), and a filter on
    # non-JSON data never matches.
    rec = record({"a": value})
    assert criteria(pat).matches(rec) is criteria(pat, pat).matches(rec)
    assert criteria(pat).matches(record(b"\x00not json")) is False
