"""``streaming run``: the local Kinesis event source mapping.

What it prints: where it reads and where the handler publishes, how each shard
starts (after its checkpoint, or from the starting position), one line per
batch on stdout, and a summary. The handler's own output (its JSON logs and
its EMF metric lines, which Lambda would ship to CloudWatch) goes to
``--log-file``; ``-v`` shows it on stderr too.

The exit status: 0 when every record read was processed; 1 when records were
discarded (retries exhausted, older than the maximum record age: the batch
lines and the on-failure destination say which) or when the run stopped while
reading the stream was failing; 2 for a mistake in the command line. A run
stopped with Ctrl-C follows the same rule (what was done is checkpointed).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, TextIO

from streaming.commandline.errors import CommandError, usage_error
from streaming.commandline.parser import (
    CommandParser,
    non_negative_float,
    positive_float,
    positive_int,
)
from streaming.esm.checkpoints import CheckpointError, CheckpointStore
from streaming.esm.config import NOT_FOR_KINESIS
from streaming.esm.destinations import describe, parse_destination
from streaming.esm.filtering import FilterError, parse_filter_criteria
from streaming.esm.invoker import ProcessInvoker, Tee, WorkerSetup
from streaming.esm.reader import StartingPosition
from streaming.esm.runner import (
    EventSourceMapping,
    Handler,
    HandlerError,
    MappingConfig,
    RunStats,
    load_handler,
    parse_handler,
)
from streaming.tools.common import (
    PROJECT_ROOT,
    add_aws_options,
    kinesis_client,
    session,
    timestamp_arg,
)
from streaming.tools.run_lines import BatchLines, MetricLines, say, summary_line

DESCRIPTION = """\
Poll every shard of a Kinesis stream and invoke a handler (in this process; in
worker processes with --parallelization-factor over 1) with the events Lambda's
event source mapping would send, with its semantics:
batches of one shard in order, partial batch responses (retry from the lowest
failed sequence number), retries, bisect on error, maximum record age, an
on-failure destination, and per-shard checkpoints so a restart resumes.

The handler's environment is set as Lambda sets it: KINESIS_ENDPOINT_URL is
--endpoint-url, AWS_REGION and AWS_DEFAULT_REGION are --region, so what it
publishes goes where the stream is read. Its other settings
(PREDICTIONS_STREAM_NAME, DEAD_LETTER_STREAM_NAME, ...) come from the environment.

Prints one line per batch; the handler's logs and metrics go to --log-file.
Exit status 1 if any record was discarded, or reading was failing at the end.
"""

#: the project's handler: lambda_function.py at the project root
DEFAULT_HANDLER = "lambda_function.lambda_handler"
#: where a run keeps its state (checkpoints, the handler's log), from the current directory
STATE_DIR = Path(".runs")
#: options for settings a Kinesis mapping does not take -> the setting (config.NOT_FOR_KINESIS)
_REFUSED = {
    "--provisioned-pollers": "ProvisionedPollerConfig",
    "--maximum-concurrency": "ScalingConfig",
}
#: a stream consumer's ARN (enhanced fan-out): ...:stream/<name>/consumer/<consumer>:<time>
#: (moto leaves the creation time out)
CONSUMER_ARN = re.compile(
    r"^arn:aws[a-z-]*:kinesis:[^:]*:\d*:stream/(?P<stream>[^/]+)/consumer/(?P<consumer>[^:/]+)(?::\d+)?$"
)
#: a stream's ARN: ...:stream/<name>
STREAM_ARN = re.compile(r"^arn:aws[a-z-]*:kinesis:[^:]*:\d*:stream/(?P<stream>[^/]+)$")
#: AWS region names (botocore's own check)
REGION = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?$")


def build_parser() -> CommandParser:
    p = CommandParser("streaming run", DESCRIPTION, verbose=False)
    p.add_argument("--stream", required=True, help="the input stream's name (required)")
    p.add_argument(
        "--handler",
        metavar="MODULE:FUNCTION",
        help="the function to invoke (module:function or module.function), imported from "
        "the current directory first, as Lambda imports it from its task root (default: "
        f"the project's {DEFAULT_HANDLER}, from the project root whatever the current "
        "directory)",
    )
    add_aws_options(p)
    p.add_argument("--batch-size", type=positive_int, default=100, help="BatchSize, 1-10,000")
    p.add_argument(
        "--batching-window",
        type=non_negative_float,
        default=0.0,
        metavar="SECONDS",
        help="MaximumBatchingWindowInSeconds, 0-300",
    )
    p.add_argument(
        "--starting-position",
        default="TRIM_HORIZON",
        choices=["TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"],
        help="where a shard without a checkpoint starts",
    )
    p.add_argument(
        "--starting-timestamp",
        type=timestamp_arg,
        metavar="TIME",
        help="with AT_TIMESTAMP (and only with it): epoch seconds or ISO 8601 (default: none)",
    )
    p.add_argument(
        "--max-retries",
        type=int,
        default=-1,
        help="MaximumRetryAttempts; -1 = until the record expires, as on AWS (default: -1)",
    )
    p.add_argument(
        "--max-record-age",
        type=float,
        default=-1,
        metavar="SECONDS",
        help="MaximumRecordAgeInSeconds; -1 = no limit, as on AWS; AWS's minimum is 60, "
        "smaller values are allowed here for tests (default: -1)",
    )
    p.add_argument(
        "--bisect-on-error",
        action="store_true",
        help="BisectBatchOnFunctionError: split a failed batch in two and retry each "
        "half (default: off)",
    )
    p.add_argument(
        "--on-failure",
        metavar="DESTINATION",
        help="where discarded batches' metadata goes: an SQS queue (ARN or URL), an "
        "SNS topic ARN, an S3 bucket ARN (arn:aws:s3:::bucket), or a local .jsonl "
        "file; never a stream (default: none, discarded batches are only shown)",
    )
    p.add_argument(
        "--report-batch-item-failures",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="FunctionResponseTypes=ReportBatchItemFailures: on here because this "
        "project's handler relies on it; on AWS it is off unless the mapping sets it, "
        "and Lambda then ignores batchItemFailures (default: on)",
    )
    p.add_argument(
        "--parallelization-factor",
        type=positive_int,
        default=1,
        metavar="N",
        help="ParallelizationFactor, 1-10: up to N batches of each shard at once, records "
        "split by a hash of their partition key (per-key order kept); over 1, each "
        "concurrent invocation runs in a worker process of its own, as Lambda runs each "
        "in its own execution environment (default: 1, in this process)",
    )
    p.add_argument(
        "--filter-criteria",
        metavar="JSON|@FILE",
        help='FilterCriteria, the document the mapping takes: {"Filters": [{"Pattern": '
        '"..."}]}, inline or @file; records matching no filter are dropped, never invoked '
        "and never dead-lettered (default: none, every record)",
    )
    p.add_argument(
        "--max-filters",
        type=positive_int,
        default=5,
        metavar="N",
        help="the filters quota: 5, or up to 10 after a quota increase (default: %(default)s)",
    )
    p.add_argument(
        "--tumbling-window",
        type=int,
        default=0,
        metavar="SECONDS",
        help="TumblingWindowInSeconds, 0-900: state carried across a window's invocations, "
        "for aggregating consumers; never for the prediction function (default: 0, none)",
    )
    p.add_argument(
        "--reserved-concurrency",
        type=int,
        metavar="N",
        help="the function's reserved concurrency: an invocation past it is throttled and "
        "retried without using MaximumRetryAttempts; 0 = the function cannot be invoked "
        "(default: unreserved)",
    )
    p.add_argument(
        "--emf",
        action="store_true",
        help="also write the mapping's metrics to the log file as CloudWatch EMF lines: "
        "IteratorAge per batch, the EventCount metrics at the end (default: off)",
    )
    for option, setting in _REFUSED.items():
        p.add_argument(
            option,
            metavar="VALUE",
            help=f"{setting}: refused with the reason, a Kinesis mapping has no such "
            "setting (default: not set)",
        )
    p.add_argument(
        "--timeout",
        type=positive_float,
        default=60.0,
        metavar="SECONDS",
        help="the function timeout (context.get_remaining_time_in_millis)",
    )
    p.add_argument(
        "--function-name",
        default="ride-duration-prediction-local",
        help="the function's name in its context and in on-failure records",
    )
    p.add_argument(
        "--checkpoint-file",
        type=Path,
        default=STATE_DIR / "checkpoints.json",
        help="per-shard checkpoints, kept per stream ARN and creation time (default: "
        f"{STATE_DIR}/checkpoints.json in the current directory)",
    )
    p.add_argument(
        "--log-file",
        type=Path,
        help="where the handler's output (JSON logs, EMF metrics) and the runner's "
        f"log are appended (default: {STATE_DIR}/<stream>.log in the current directory)",
    )
    p.add_argument(
        "--poll-interval",
        type=positive_float,
        default=1.0,
        metavar="SECONDS",
        help="how often an idle shard is polled (Lambda: about once a second)",
    )
    p.add_argument(
        "--stop-when-idle",
        type=non_negative_float,
        metavar="SECONDS",
        help="exit once every shard has been idle this long (default: run until Ctrl-C)",
    )
    p.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show the handler's logs and metrics and the runner's log on stderr too, "
        "and the traceback of an error (default: off)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config = _mapping_config(args)
    _handler_environment(args)
    client = kinesis_client(args)
    console = sys.stdout
    _resolve_stream(client, args, console)
    summary = _describe_stream(client, args)
    checkpoints = _load_checkpoints(args, summary)
    destination = _destination(args)
    log_file = args.log_file or STATE_DIR / f"{Path(args.stream).name}.log"
    shards = summary.get("OpenShardCount", "?")
    say(console, f"reading {args.stream} ({shards} open shards) at {_endpoint(client)}")
    say(console, _publishing(args))
    with HandlerOutput(log_file, verbose=args.verbose):
        say(console, f"handler logs and metrics -> {log_file}" + _unless_verbose(args))
        handler = _load(args.handler, console)
        if checkpoints.ignored:
            print(
                f"streaming run: warning: {checkpoints.ignored}; every shard starts from "
                f"{args.starting_position}, records read before may be processed again",
                file=sys.stderr,
            )
        lines = BatchLines(console)
        metrics = MetricLines(config.function_name) if args.emf else None
        mapping = EventSourceMapping(
            client,
            args.stream,
            handler,
            config,
            invoker=_invoker(args, log_file, console),
            checkpoints=checkpoints,
            destination=destination,
            observer=lines if metrics is None else lines.also(metrics),
        )
        try:
            stats, seconds = _run(mapping, args.stop_when_idle)
        finally:
            mapping.close()
        if metrics is not None:
            metrics.totals(stats)
    say(console, summary_line(stats, seconds))
    say(console, json.dumps({"runner": vars(stats), "seconds": round(seconds, 3)}))
    _verdict(mapping, stats, destination)
    return 0


# -- the steps of main ----------------------------------------------------------------


def _mapping_config(args: argparse.Namespace) -> MappingConfig:
    """The mapping's settings; a usage error names the option that is wrong."""
    if not args.region:
        raise usage_error(
            "--region '': no AWS region (give --region, e.g. us-east-1, or set AWS_DEFAULT_REGION)"
        )
    if not REGION.match(args.region):
        raise usage_error(f"--region {args.region!r}: not an AWS region name (e.g. us-east-1)")
    if args.endpoint_url and not args.endpoint_url.startswith(("http://", "https://")):
        raise usage_error(
            f"--endpoint-url {args.endpoint_url}: give a URL, e.g. http://127.0.0.1:4566"
        )
    if (args.starting_position == "AT_TIMESTAMP") != (args.starting_timestamp is not None):
        raise usage_error(
            "--starting-timestamp goes with --starting-position AT_TIMESTAMP, and only with it"
        )
    if args.starting_timestamp is not None and args.starting_timestamp.timestamp() > time.time():
        raise usage_error(
            f"--starting-timestamp {args.starting_timestamp.isoformat()}: in the future "
            '(StartingPositionTimestamp "cannot be in the future"); give a past time'
        )
    for option, setting in _REFUSED.items():
        if getattr(args, option.lstrip("-").replace("-", "_")) is not None:
            raise usage_error(f"{option} ({setting}): {NOT_FOR_KINESIS[setting]}")
    try:
        return MappingConfig(
            parallelization_factor=args.parallelization_factor,
            tumbling_window_s=args.tumbling_window,
            filter_criteria=_filter_criteria(args),
            reserved_concurrency=args.reserved_concurrency,
            batch_size=args.batch_size,
            batching_window_s=args.batching_window,
            starting_position=StartingPosition(args.starting_position, args.starting_timestamp),
            max_retries=args.max_retries,
            max_record_age_s=args.max_record_age,
            bisect_on_error=args.bisect_on_error,
            report_batch_item_failures=args.report_batch_item_failures,
            timeout_s=args.timeout,
            function_name=args.function_name,
            region=args.region,
            poll_interval_s=args.poll_interval,
        )
    except ValueError as exc:
        text = str(exc)
        option = next((o for k, o in _OPTIONS.items() if text.startswith(k)), "")
        raise usage_error(f"{option}: {text} (see streaming run --help)".lstrip(": ")) from None


def _filter_criteria(args: argparse.Namespace) -> Any:
    """``--filter-criteria`` parsed as Lambda parses FilterCriteria (``None``: not given)."""
    text = args.filter_criteria
    if text is None:
        return None
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise usage_error(
                f"--filter-criteria {args.filter_criteria}: cannot read it ({exc})"
            ) from None
    try:
        return parse_filter_criteria(text, max_filters=args.max_filters)
    except FilterError as exc:
        raise usage_error(f"--filter-criteria: {exc}") from None


#: MappingConfig's messages -> the option they are about
_OPTIONS = {
    "parallelization factor": "--parallelization-factor",
    "tumbling window": "--tumbling-window",
    "reserved concurrency": "--reserved-concurrency",
    "batch size": "--batch-size",
    "batching window": "--batching-window",
    "max retries": "--max-retries",
    "max record age": "--max-record-age",
    "timeout": "--timeout",
    "poll interval": "--poll-interval",
}


def _resolve_stream(client: Any, args: argparse.Namespace, console: TextIO) -> None:
    """``--stream`` may be a stream's name, its ARN, or a stream consumer's ARN (the
    mapping of a function with enhanced fan-out): the stream it belongs to is polled."""
    arn = STREAM_ARN.match(args.stream)
    if arn:
        args.stream = arn["stream"]
        return
    consumer = CONSUMER_ARN.match(args.stream)
    if consumer is None:
        if args.stream.startswith("arn:"):
            raise usage_error(
                f"--stream {args.stream}: not a Kinesis stream or stream consumer ARN "
                "(arn:aws:kinesis:<region>:<account>:stream/<name>[/consumer/<name>:<time>])"
            )
        return
    try:
        client.describe_stream_consumer(ConsumerARN=args.stream)
    except client.exceptions.ResourceNotFoundException:
        raise CommandError(
            f"--stream {args.stream}: no such stream consumer at {_endpoint(client)} "
            "(register it with RegisterStreamConsumer, or give the stream's name)"
        ) from None
    args.stream = consumer["stream"]
    say(
        console,
        f"stream consumer {consumer['consumer']} (enhanced fan-out) belongs to {args.stream}: "
        "its shards are polled with GetRecords; the same batches reach the function, but "
        "SubscribeToShard's push is not emulated",
    )


def _invoker(args: argparse.Namespace, log_file: Path, console: TextIO) -> ProcessInvoker | None:
    """Worker processes for a parallelization factor over 1 (``None``: in this process)."""
    if args.parallelization_factor == 1:
        return None
    say(
        console,
        f"parallelization factor {args.parallelization_factor}: up to "
        f"{args.parallelization_factor} batches per shard at once, each in a worker "
        f"process of its own (an execution environment: its own init), started as "
        f"needed, up to {MAX_WORKERS}",
    )
    setup = WorkerSetup(
        handler_spec=args.handler or DEFAULT_HANDLER,
        sys_path=tuple(_HANDLER_PATH),
        environment={k: os.environ[k] for k in _LAMBDA_ENV if k in os.environ},
        log_file=str(log_file),
        verbose=args.verbose,
    )
    return ProcessInvoker(setup, MAX_WORKERS)


#: what ``run`` sets in the handler's environment (the workers get the same)
_LAMBDA_ENV = ("KINESIS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION")
#: the most worker processes (execution environments) a run starts
MAX_WORKERS = 32
#: where the handler was found (``_load``), for the workers
_HANDLER_PATH: list[str] = []


def _handler_environment(args: argparse.Namespace) -> None:
    """The handler's environment, as Lambda sets it: the endpoint and region given to
    ``run`` (botocore reads AWS_DEFAULT_REGION only; Lambda sets both)."""
    if args.endpoint_url:
        os.environ["KINESIS_ENDPOINT_URL"] = args.endpoint_url
    os.environ["AWS_REGION"] = args.region
    os.environ["AWS_DEFAULT_REGION"] = args.region


def _describe_stream(client: Any, args: argparse.Namespace) -> dict[str, Any]:
    """The stream's summary; a one-line error if it is not there."""
    try:
        response = client.describe_stream_summary(StreamName=args.stream)
    except client.exceptions.ResourceNotFoundException:
        raise CommandError(
            f"--stream {args.stream}: no such stream at {_endpoint(client)} (create it, or "
            "check the name, --endpoint-url and --region)"
        ) from None
    return response["StreamDescriptionSummary"]


def _load_checkpoints(args: argparse.Namespace, summary: dict[str, Any]) -> CheckpointStore:
    try:
        return CheckpointStore.load(
            args.checkpoint_file, summary["StreamARN"], summary["StreamCreationTimestamp"]
        )
    except CheckpointError as exc:
        raise usage_error(
            f"--checkpoint-file: {exc} (give another file, or delete it to start every "
            "shard from --starting-position)"
        ) from None


def _destination(args: argparse.Namespace) -> Any:
    if not args.on_failure:
        return None
    try:
        return parse_destination(
            args.on_failure,
            session=session(args),
            endpoint_url=args.endpoint_url,
            mapping_id=_mapping_id(args),
        )
    except ValueError as exc:
        raise usage_error(f"--on-failure {args.on_failure}: {exc}") from None


def _mapping_id(args: argparse.Namespace) -> str:
    """The mapping's UUID (S3 failure keys: aws/lambda/<mapping id>/...): the same for
    the same stream and function, run after run, as a deployed mapping's is."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{args.stream}|{args.function_name}"))


def _load(spec: str | None, console: TextIO) -> Handler:
    """The handler, imported as Lambda imports it (this is the function's init).

    The default is the project's ``lambda_function`` (PROJECT_ROOT, whatever the
    current directory). A ``--handler`` is looked for in the current directory
    first, as in Lambda's task root, then on the usual path, then in the project
    root (a wrapper may import ``lambda_function``)."""
    given = spec or DEFAULT_HANDLER
    try:
        parse_handler(given)
    except HandlerError as exc:
        raise usage_error(f"--handler: {exc}") from None
    if spec is None:
        sys.path.insert(0, str(PROJECT_ROOT))
        searched = f"the project root {PROJECT_ROOT}"
        _HANDLER_PATH[:] = [str(PROJECT_ROOT)]
    else:
        sys.path.insert(0, str(Path.cwd()))
        sys.path.append(str(PROJECT_ROOT))
        searched = f"the current directory {Path.cwd()}"
        _HANDLER_PATH[:] = [str(Path.cwd()), str(PROJECT_ROOT)]
    started = time.perf_counter()
    try:
        handler = load_handler(given)
    except HandlerError as exc:
        if exc.kind == "missing":
            raise usage_error(
                f"--handler {given}: {exc} (looked in {searched} first; give "
                "module:function with the module in the current directory or on PYTHONPATH)"
            ) from exc
        raise CommandError(f"handler {given}: {exc}") from exc
    module = sys.modules.get(handler.__module__)
    origin = getattr(module, "__file__", None) or handler.__module__
    init_ms = (time.perf_counter() - started) * 1000
    say(console, f"handler {given} from {origin} (init {init_ms:.0f} ms)")
    return handler


def _run(mapping: EventSourceMapping, stop_when_idle: float | None) -> tuple[RunStats, float]:
    """Run until idle (``--stop-when-idle``) or Ctrl-C / SIGTERM: the batch in flight is
    finished and checkpointed; a second Ctrl-C interrupts it (it is then read again)."""
    stop = threading.Event()

    def on_signal(*_: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in _SIGNALS}
    started = time.monotonic()
    try:
        stats = mapping.run(stop, stop_when_idle_s=stop_when_idle)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return stats, time.monotonic() - started


_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _verdict(mapping: EventSourceMapping, stats: RunStats, destination: Any) -> None:
    """No failure exits 0: discarded records, or reads failing at the end, are an error."""
    if stats.discarded_records:
        why = ", ".join(f"{n} {c}" for c, n in sorted(stats.discarded_by_condition.items()))
        kept = (
            f"their metadata is in {describe(destination)}"
            if destination is not None
            else "no --on-failure destination kept their metadata (see the DISCARDED lines)"
        )
        raise CommandError(
            f"{stats.discarded_records} records in {stats.discarded_batches} batches were "
            f"discarded ({why}); {kept}; they are still in the stream for its retention: "
            "fix the cause, then replay them"
        )
    failing = mapping.failing_reads()
    if failing:
        where, why = next(iter(failing.items()))
        raise CommandError(
            f"stopped while reading the stream was failing ({where or 'ListShards'}: {why}; "
            f"{len(failing)} failing); what was read is checkpointed: check the endpoint, "
            "then run again"
        )


# -- what is printed ---------------------------------------------------------------


def _endpoint(client: Any) -> str:
    """A client's endpoint as a message names it: AWS's own is said to be AWS."""
    url = client.meta.endpoint_url
    return f"{url} (AWS itself)" if url.rstrip("/").endswith(".amazonaws.com") else url


def _unless_verbose(args: argparse.Namespace) -> str:
    return " (and stderr)" if args.verbose else " (-v: also on stderr)"


def _publishing(args: argparse.Namespace) -> str:
    """Where the handler will publish: the endpoint its Kinesis client will use (with
    the environment ``run`` gave it) and the streams its settings name."""
    import boto3

    from streaming.consumer.config import ConfigError, Settings

    client = boto3.session.Session(region_name=args.region).client(
        "kinesis", endpoint_url=os.environ.get("KINESIS_ENDPOINT_URL") or None
    )
    line = f"the handler publishes to {_endpoint(client)} (region {args.region})"
    try:
        settings = Settings.from_env()
    except ConfigError:  # the handler's init will say it
        return line
    dead = settings.dead_letter_stream or "none (DEAD_LETTER_STREAM_NAME unset)"
    return f"{line}: predictions -> {settings.predictions_stream}, dead letters -> {dead}"


# -- the handler's output --------------------------------------------------------------


class HandlerOutput:
    """While a run lasts, ``sys.stdout`` (where the handler's Powertools logger and EMF
    metrics write, as on Lambda) and the logging root go to ``path``, and with
    ``verbose`` to stderr too. The command's own lines go to the saved stdout."""

    def __init__(self, path: Path, *, verbose: bool) -> None:
        self.path = path
        self.verbose = verbose
        self._sink: _Tee | None = None
        self._saved: tuple[TextIO, list[logging.Handler], int] | None = None

    def __enter__(self) -> HandlerOutput:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            file = self.path.open("a", encoding="utf-8")
        except OSError as exc:
            raise usage_error(f"--log-file {self.path}: cannot write it ({exc})") from None
        targets: list[TextIO] = [file] + ([sys.stderr] if self.verbose else [])
        self._sink = _Tee(targets, owned=file)
        root = logging.getLogger()
        self._saved = (sys.stdout, root.handlers[:], root.level)
        handler = logging.StreamHandler(self._sink)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        root.handlers[:] = [handler]
        root.setLevel(logging.INFO)
        sys.stdout = self._sink
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._sink is not None and self._saved is not None
        stdout, handlers, level = self._saved
        sys.stdout = stdout
        root = logging.getLogger()
        root.handlers[:] = handlers
        root.setLevel(level)
        self._sink.close()


class _Tee(Tee):
    """``Tee`` that owns its file; once closed, writes go nowhere (a handler's logger
    may hold on to it after the run)."""

    def __init__(self, targets: list[TextIO], owned: TextIO) -> None:
        super().__init__(*targets)
        self._owned = owned

    def close(self) -> None:
        self._targets = []
        self._owned.close()
