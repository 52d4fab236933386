"""The one Kinesis client factory, with a named configuration per use.

The two uses differ on purpose:

* ``HOT_PATH`` (the Lambda function): botocore retries off, so the
  publisher's deadline-aware backoff is the only retry layer; short connect
  and read timeouts, so a dead connection is noticed while time remains (they
  do not bound a call - ``bounded_call`` does - but decide how long an
  abandoned call's thread lingers).
* ``TOOLS`` (the command line, the local event source mapping): botocore's
  standard retries and patient timeouts, as a person at a terminal wants.

The endpoint follows ``endpoint_url`` when given, else boto3's own
``AWS_ENDPOINT_URL_KINESIS`` / ``AWS_ENDPOINT_URL``, else AWS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ClientProfile:
    name: str
    total_max_attempts: int
    connect_timeout_s: float
    read_timeout_s: float
    #: botocore's check of every parameter against the service model, per record
    parameter_validation: bool = True
    #: PutRecords' body written and its records read in one pass (put_records_wire)
    one_pass_put_records: bool = False


#: Parameter validation off, and PutRecords' records written and read in one pass
#: (``put_records_wire``): the entries are built and checked by ``publish``
#: (partition key, 1 MiB, 500 per call, 5 MiB per call) and the stream names at
#: init, and botocore's walk over every record was a large share of a call's CPU
#: (bench/PUBLISH.md).
HOT_PATH = ClientProfile(
    "hot-path",
    total_max_attempts=1,
    connect_timeout_s=2,
    read_timeout_s=5,
    parameter_validation=False,
    one_pass_put_records=True,
)
TOOLS = ClientProfile("tools", total_max_attempts=5, connect_timeout_s=5, read_timeout_s=30)


def make_kinesis_client(
    endpoint_url: str | None = None,
    *,
    profile: ClientProfile = HOT_PATH,
    session: Any = None,
    calls_in_flight: int = 1,
) -> Any:
    """A boto3 Kinesis client configured for ``profile`` (from ``session`` if given).

    ``calls_in_flight``: how many calls may run at once (PUBLISH_CONCURRENCY); the
    connection pool holds twice that (at least botocore's 10), so calls abandoned
    at a deadline never make a live call wait for a connection.
    """
    from botocore.config import Config

    config = Config(
        retries={"total_max_attempts": profile.total_max_attempts, "mode": "standard"},
        connect_timeout=profile.connect_timeout_s,
        read_timeout=profile.read_timeout_s,
        tcp_keepalive=True,
        max_pool_connections=max(10, 2 * calls_in_flight),
        parameter_validation=profile.parameter_validation,
    )
    if session is not None:  # a boto3 session (the tools: --profile, --region)
        client = session.client("kinesis", endpoint_url=endpoint_url, config=config)
    else:
        client = _botocore_session().create_client(
            "kinesis", endpoint_url=endpoint_url, config=config
        )
    if profile.one_pass_put_records:
        from streaming.consumer import put_records_wire

        put_records_wire.install(client)
    return client


def _botocore_session() -> Any:
    """A botocore session, which is what ``boto3.client`` builds its client from.

    Why not boto3: the client is the same class either way, and importing boto3 on
    top of botocore (its resources layer) added about 2 MiB of RSS and 30 ms of
    import to the function's cold start (bench/PUBLISH.md). Credentials, region
    (``AWS_DEFAULT_REGION``, which Lambda sets) and ``AWS_ENDPOINT_URL_KINESIS`` are
    read by botocore in both cases.
    """
    import botocore.session

    return botocore.session.get_session()
