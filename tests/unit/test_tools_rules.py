"""The rules every command of send, tail, replay, evaluate and demo keeps, without an emulator:
help text (plain, every option with help and its default), one-line usage errors,
send stopping at the first error no retry can clear, tail's bounded retries."""

from __future__ import annotations

import argparse
import io
import threading
from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from streaming.commandline.errors import run_command
from streaming.commandline.parser import CommandParser, plain_text
from streaming.consumer.records import Reason
from streaming.esm.reader import StartingPosition
from streaming.tools import demo, evaluate, produce, replay, tail
from streaming.tools.common import timestamp_arg

PARSERS = {
    "send": produce.build_parser,
    "tail": tail.build_parser,
    "replay": replay.build_parser,
    "evaluate": evaluate.build_parser,
    "demo": demo.build_parser,
}


@pytest.mark.parametrize("name", list(PARSERS))
def test_help_is_plain_text_and_every_option_has_help_and_its_default(name):
    parser = PARSERS[name]()
    text = parser.format_help()
    assert "``" not in text and "**" not in text
    formatter = parser._get_formatter()
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help, f"{name} {action.option_strings}: no help"
        flag = action.nargs == 0  # store_true: off unless given
        shown = formatter._get_help_string(action) % {"default": action.default}
        assert flag or "default" in shown or "required" in shown, (
            f"{name} {action.option_strings}: help does not say the default: {shown!r}"
        )


@pytest.mark.parametrize("name", list(PARSERS))
def test_a_usage_mistake_is_one_line_and_exit_2(name, capsys):
    code = run_command(name, lambda argv: PARSERS[name]().parse_args(argv), ["--no-such-option"])
    err = capsys.readouterr().err
    assert code == 2
    [line] = err.splitlines()
    assert line.startswith(f"streaming {name}: ")
    assert line.endswith(f"(see streaming {name} --help)")


def test_plain_text_drops_rst_marks():
    assert plain_text("``streaming send``: the **dead-letter stream**") == (
        "streaming send: the dead-letter stream\n"
    )


def test_timestamps_are_epoch_or_iso_and_naive_is_utc():
    assert timestamp_arg("0").timestamp() == 0
    assert timestamp_arg("2026-11-01T00:00:00").isoformat() == "2026-11-01T00:00:00+00:00"
    assert timestamp_arg("2026-11-01T08:00:00Z").hour == 8
    with pytest.raises(argparse.ArgumentTypeError, match="ISO 8601"):
        timestamp_arg("yesterday")


def test_replay_reasons_are_the_dead_letter_codes():
    parser = replay.build_parser()
    args = parser.parse_args(["--dead-letters", "d", "--to", "t", "--reason", "invalid_json"])
    assert args.reason == ["invalid_json"]
    with pytest.raises(argparse.ArgumentTypeError) as info:
        replay.reason_arg("invalid_distance")
    assert all(r.value in str(info.value) for r in Reason)


def test_tail_timestamp_implies_at_timestamp():
    parser = tail.build_parser()
    start = tail.starting_position(parser.parse_args(["--timestamp", "2026-11-01"]))
    assert start.kind == "AT_TIMESTAMP" and start.timestamp is not None
    assert tail.starting_position(parser.parse_args([])).kind == "LATEST"


def test_command_parser_keeps_a_commands_own_verbose():
    parser = CommandParser("streaming x", "x", verbose=False)
    parser.add_argument("-v", "--verbose", action="count")
    assert parser.parse_args(["-vv"]).verbose == 2


# -- send: stop at the first error no retry can clear ------------------------------


class RefusingKinesis:
    """put_records answers every call with ``code``, counting the calls."""

    def __init__(self, code: str, status: int = 400) -> None:
        self.code, self.status, self.calls = code, status, 0

    def put_records(self, **kwargs):
        self.calls += 1
        raise ClientError(
            {
                "Error": {"Code": self.code, "Message": "Stream ride_events not found"},
                "ResponseMetadata": {"HTTPStatusCode": self.status},
            },
            "PutRecords",
        )


def test_send_stops_at_the_first_non_retryable_error_with_its_cause():
    client = RefusingKinesis("ResourceNotFoundException")
    payloads = [(b"{}", str(i)) for i in range(5000)]
    stats = produce.send_events(client, "ride_events", payloads)
    assert client.calls == 1  # not one call per chunk: the first answer is final
    assert stats.sent == 0 and stats.failed == 500
    assert "ResourceNotFoundException" in stats.error and "ride_events" in stats.error


# -- tail: transient errors are retried, lasting ones end it -----------------------


class FlakyKinesis:
    """ListShards fails ``failures`` times, then shows one empty shard."""

    exceptions = SimpleNamespace(ExpiredIteratorException=type("Expired", (Exception,), {}))

    def __init__(self, failures: int) -> None:
        self.failures = failures

    def list_shards(self, **kwargs):
        if self.failures:
            self.failures -= 1
            raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
        return {"Shards": [{"ShardId": "shardId-000000000000"}]}

    def get_shard_iterator(self, **kwargs):
        return {"ShardIterator": "it"}

    def get_records(self, **kwargs):
        return {"Records": [], "NextShardIterator": "it", "MillisBehindLatest": 0}


def follow(client, max_failed_polls):
    """tail() with no wait between polls, listing the shards again on every poll."""
    return tail.tail(
        client,
        ["ride_predictions"],
        StartingPosition("LATEST"),
        io.StringIO(),
        idle_exit=0.2,
        poll_interval=0.0,
        stop=threading.Event(),
        max_failed_polls=max_failed_polls,
        refresh_s=0.0,
    )


def test_tail_retries_a_passing_error(caplog):
    assert follow(FlakyKinesis(failures=2), max_failed_polls=3) == 0


def test_tail_gives_up_on_a_lasting_error(caplog):
    with pytest.raises(tail.ReadsFailing):
        follow(FlakyKinesis(failures=10**6), max_failed_polls=3)
