"""PutRecords' request body written, and its records read, in one pass each.

Why: botocore builds a PutRecords body by walking the service model for every
record (a structure, a blob to base64, a string) and parses the answer the same
way, per record. For a 500-record call that walk was most of the call's CPU
(bench/PUBLISH.md: about 9 ms to serialize and 4 ms to parse, against about 1 ms
for ``json.dumps``/``json.loads`` of the same documents), and a Lambda function
pays for CPU time.

How, through botocore's own extension points, so that endpoint resolution,
SigV4 signing, retries and error parsing stay botocore's:

* ``before-parameter-build``: the records are taken out of the parameters
  but the first (botocore then serializes a body with one record);
* ``before-call`` (after serialization, before signing): all the records are
  put into that body, base64 and JSON in one pass; the request is then
  signed over the body that is sent;
* ``before-parse``: a successful answer's ``Records`` are read with
  ``json.loads`` and handed over as ``customized_response_dict``, and
  botocore parses the rest (``FailedRecordCount``, ``EncryptionType``). An
  error answer, or a body that is not the documented shape, is left whole to
  botocore (so a malformed answer fails exactly as before).

Only the records move: what botocore would have sent for them is what is sent
(``Data`` base64, ``PartitionKey``, ``ExplicitHashKey`` when given). The hooks
act only on the JSON protocol (``application/x-amz-json-1.1``); with any other,
botocore does everything itself. Installed on the hot-path client only, whose
entries ``publish`` has already checked (``kinesis_limits``).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

_CONTEXT_KEY = "ride_duration_put_records"
_JSON_CONTENT = "application/x-amz-json-1.1"


def install(client: Any) -> Any:
    """Hook the one-pass PutRecords body into ``client`` (a boto3 Kinesis client) when
    it speaks the JSON protocol; otherwise leave it as it is."""
    if getattr(client.meta.service_model, "resolved_protocol", "json") != "json":
        return client
    events = client.meta.events
    service = client.meta.service_model.service_id.hyphenize()
    events.register(f"before-parameter-build.{service}.PutRecords", _take_records)
    events.register(f"before-call.{service}.PutRecords", _write_records)
    events.register(f"before-parse.{service}.PutRecords", _read_records)
    return client


def _take_records(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    records = params.get("Records")
    if isinstance(records, list) and records:
        context[_CONTEXT_KEY] = records
        params["Records"] = records[:1]  # one is walked, so a validating client still passes


def _write_records(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    records = context.pop(_CONTEXT_KEY, None)
    if records is None:
        return
    headers = params.get("headers") or {}
    if headers.get("Content-Type") != _JSON_CONTENT or not isinstance(params.get("body"), bytes):
        raise RuntimeError("PutRecords: not the JSON protocol; the one-pass body cannot apply")
    document = json.loads(params["body"])
    document["Records"] = _MARK
    head, tail = json.dumps(document, separators=(",", ":")).encode().split(_MARK_JSON)
    params["body"] = b"".join((head, b"[", _records_json(records), b"]", tail))


#: where the records go in the body botocore built (a string no record can write)
_MARK = "\x00records\x00"
_MARK_JSON = json.dumps(_MARK).encode()
_escape = json.encoder.encode_basestring_ascii


def _records_json(records: list[dict[str, Any]]) -> bytes:
    """The records as JSON bytes, in one pass and one copy: base64 and string
    escaping are C functions. A record of another shape (text data, an explicit
    hash key) takes ``_record``."""
    if not all(len(r) == 2 for r in records):
        return _general(records)
    b64 = binascii.b2a_base64
    try:
        return b",".join(
            [
                b'{"Data":"%b","PartitionKey":%b}'
                % (b64(r["Data"], newline=False), _escape(r["PartitionKey"]).encode())
                for r in records
            ]
        )
    except (TypeError, KeyError):  # data that is not bytes, a key that is not text
        return _general(records)


def _general(records: list[dict[str, Any]]) -> bytes:
    return json.dumps([_record(r) for r in records], separators=(",", ":"))[1:-1].encode()


def _record(record: dict[str, Any]) -> dict[str, str]:
    """One record as botocore's JSON serializer writes it."""
    data = record["Data"]
    if isinstance(data, str):  # botocore accepts text for a blob and sends its UTF-8
        data = data.encode("utf-8")
    out = {
        "Data": base64.b64encode(data).decode("ascii"),
        "PartitionKey": record["PartitionKey"],
    }
    if "ExplicitHashKey" in record:
        out["ExplicitHashKey"] = record["ExplicitHashKey"]
    return out


def _read_records(
    response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any
) -> None:
    if response_dict.get("status_code") != 200:
        return  # an error: botocore parses it (codes, messages, modeled fields)
    try:
        document = json.loads(response_dict.get("body") or b"")
    except (ValueError, TypeError, RecursionError):
        return  # botocore meets the same body and says so
    if not isinstance(document, dict) or not isinstance(document.get("Records"), list):
        return
    customized_response_dict["Records"] = document.pop("Records")
    response_dict["body"] = json.dumps(document).encode("utf-8")
