"""template.yaml: cfn-lint clean, and no drift from what the code reads and calls."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from cfnlint.decode import decode_str

from streaming.consumer.config import Settings
from streaming.consumer.handler import RideDurationService
from streaming.consumer.observability import METRICS_NAMESPACE
from tests.conftest import COURSE_RIDE, REPO, make_record
from tests.support.senders import ScriptedSender

#: runtime modules: what the Lambda function runs
#: every file of the project that the Lambda zip ships (what the function can call)
RUNTIME_FILES = [
    "lambda_function.py",
    *sorted(
        str(p.relative_to(REPO))
        for package in ("consumer", "model")
        for p in (REPO / "streaming" / package).rglob("*.py")
    ),
]
#: boto3 client methods the runtime calls -> the IAM action each needs
CALL_TO_ACTION = {
    "put_records": "kinesis:PutRecords",
    "put_record": "kinesis:PutRecord",
    "download_file": "s3:GetObject",  # HeadObject + GetObject, both s3:GetObject
    "get_object": "s3:GetObject",
    "send_message": "sqs:SendMessage",
}
#: what the event source mapping itself needs on the input stream (Lambda docs,
#: "Lambda needs the following permissions to manage resources related to your
#: Kinesis data stream")
ESM_READ = {
    "kinesis:DescribeStream",
    "kinesis:DescribeStreamSummary",
    "kinesis:GetRecords",
    "kinesis:GetShardIterator",
    "kinesis:ListShards",
}
#: and, with EnhancedFanOut=true, on its dedicated consumer: SubscribeToShard (same Lambda
#: docs list; Service Authorization Reference: resource type "consumer") and
#: DescribeStreamConsumer (Kinesis docs, "IAM permissions required for KCL consumer
#: applications", for enhanced fan-out consumers)
ESM_ENHANCED_FAN_OUT = {"kinesis:SubscribeToShard", "kinesis:DescribeStreamConsumer"}
ESM_ON_FAILURE = {"sqs:SendMessage"}
LOGS = {"logs:CreateLogStream", "logs:PutLogEvents"}
POWERTOOLS_ENV = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"}


@pytest.fixture(scope="module")
def template():
    tpl, matches = decode_str((REPO / "template.yaml").read_text())
    assert not matches
    return tpl


def resource(tpl, name):
    return tpl["Resources"][name]["Properties"]


@pytest.mark.slow  # cfn-lint takes seconds to load its specs
def test_cfn_lint_passes():
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    proc = subprocess.run(
        [str(cfn_lint), str(REPO / "template.yaml")], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def env_vars_the_code_reads() -> set[str]:
    """Every variable Settings.from_env looks at, found by asking it."""
    seen: set[str] = set()

    class Recording(dict):
        def get(self, key, default=None):
            seen.add(key)
            return super().get(key, default)

        def __getitem__(self, key):
            seen.add(key)
            return super().__getitem__(key)

    Settings.from_env(Recording())
    return seen


def test_function_env_is_what_the_code_reads(template):
    fn = resource(template, "RideDurationFunction")
    env = set(fn["Environment"]["Variables"])
    known = env_vars_the_code_reads() | POWERTOOLS_ENV
    assert env <= known, env - known
    assert {"PREDICTIONS_STREAM_NAME", "DEAD_LETTER_STREAM_NAME"} <= env
    # the model's own version must show; production never runs in test mode
    assert not env & {"RUN_ID", "MODEL_VERSION", "TEST_RUN", "KINESIS_ENDPOINT_URL"}
    assert fn["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"] == METRICS_NAMESPACE


def test_function_settings_match_the_code_and_the_container(template):
    fn = resource(template, "RideDurationFunction")
    cmd = next(
        line for line in (REPO / "Dockerfile").read_text().splitlines() if line.startswith("CMD")
    )
    assert f'"{fn["Handler"]}"' in cmd
    assert fn["Runtime"] == "python3.12"
    assert "python:3.12" in (REPO / "Dockerfile").read_text()
    assert "LAMBDA_PYTHON  := 3.12" in (REPO / "Makefile").read_text()
    assert fn["AutoPublishAlias"] and fn["DeploymentPreference"]["Type"].startswith("Canary")
    assert template["Parameters"]["Architecture"]["AllowedValues"] == ["x86_64", "arm64"]


def test_event_source_mapping_is_safe(template):
    params = template["Parameters"]
    event = resource(template, "RideDurationFunction")["Events"]["RideEvents"]["Properties"]
    assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert event["BisectBatchOnFunctionError"] is True
    retries = params["MaximumRetryAttempts"]
    assert retries["MinValue"] >= 0 and 0 < retries["Default"] <= 100  # never -1 (infinite)
    age = params["MaximumRecordAgeSeconds"]
    assert age["MinValue"] >= 60 and age["Default"] <= 86_400
    on_failure = event["DestinationConfig"]["OnFailure"]
    assert on_failure["Type"] == "SQS"
    assert on_failure["Destination"] == {"Fn::GetAtt": ["OnFailureQueue", "Arn"]}
    for name in ("ParallelizationFactor", "BatchSize", "MaximumBatchingWindowInSeconds"):
        assert name in event


NO_VALUE = {"Ref": "AWS::NoValue"}
CONSUMER_ARN = {"Fn::GetAtt": ["InputStreamConsumer", "ConsumerARN"]}
STREAM_ARN = {"Fn::GetAtt": ["InputStream", "Arn"]}


def resolve(node, conditions: dict[str, bool]):
    """The template fragment as CloudFormation sees it with these condition values:
    every Fn::If replaced by its chosen branch, AWS::NoValue dropped from lists."""
    if isinstance(node, dict):
        if set(node) == {"Fn::If"}:
            name, yes, no = node["Fn::If"]
            return resolve(yes if conditions[name] else no, conditions)
        return {k: resolve(v, conditions) for k, v in node.items()}
    if isinstance(node, list):
        return [r for r in (resolve(v, conditions) for v in node) if r != NO_VALUE]
    return node


def deployed(template, conditions: dict[str, bool]) -> dict:
    """Logical id -> resource, for the resources a stack with these conditions has."""
    return {
        name: resolve(r, conditions)
        for name, r in template["Resources"].items()
        if conditions.get(r.get("Condition"), True)
    }


#: every condition on: the role with every optional grant
ALL_ON = {"HasModelBucket": True, "HasAlarmTopic": True, "UseEnhancedFanOut": True}
FAN_OUT_OFF = {**ALL_ON, "UseEnhancedFanOut": False}


def granted(template, conditions: dict[str, bool] = ALL_ON) -> dict[str, set[str]]:
    """IAM action -> resources (logical ids or ARNs), from the function's role."""
    out: dict[str, set[str]] = {}
    role = deployed(template, conditions)["FunctionRole"]["Properties"]
    for policy in role["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            actions = statement["Action"]
            resources = statement["Resource"]
            for action in [actions] if isinstance(actions, str) else actions:
                for res in resources if isinstance(resources, list) else [resources]:
                    out.setdefault(action, set()).add(str(res))
    return out


def actions_the_code_calls() -> set[str]:
    calls = set()
    for path in RUNTIME_FILES:
        text = (REPO / path).read_text()
        for method in re.findall(r"\.([a-z_]+)\(", text):
            if method in CALL_TO_ACTION:
                calls.add(CALL_TO_ACTION[method])
    return calls


def test_iam_is_least_privilege_and_covers_every_call(template):
    grants = granted(template)
    needed = actions_the_code_calls() | ESM_READ | ESM_ENHANCED_FAN_OUT | ESM_ON_FAILURE | LOGS
    assert set(grants) == needed, set(grants) ^ needed
    assert not any(r == "*" for rs in grants.values() for r in rs)  # no wildcard resource
    input_arn = str(STREAM_ARN)
    for action in ESM_READ:
        assert grants[action] == {input_arn}  # reads only the input stream
    for action in ESM_ENHANCED_FAN_OUT:
        assert grants[action] == {str(CONSUMER_ARN)}  # and only through its own consumer
    assert grants["kinesis:PutRecords"] == {
        str({"Fn::GetAtt": ["PredictionsStream", "Arn"]}),
        str({"Fn::GetAtt": ["DeadLetterStream", "Arn"]}),
    }  # never writes to its own input (no loop)
    assert "ModelPrefix" in next(iter(grants["s3:GetObject"]))


def test_streams_encrypted_and_dead_letters_kept_long_enough(template):
    for name in ("InputStream", "PredictionsStream", "DeadLetterStream"):
        assert resource(template, name)["StreamEncryption"]["EncryptionType"] == "KMS"
    assert resource(template, "DeadLetterStream")["RetentionPeriodHours"] >= 168


def test_alarms_watch_metrics_the_handler_emits(template, shipped_model):
    class Names:
        def __init__(self):
            self.names: set[str] = set()

        def add_metric(self, name, unit, value):
            self.names.add(name)

    metrics = Names()
    svc = RideDurationService(
        shipped_model, Settings(dead_letter_stream="dlq"), sender=ScriptedSender(), metrics=metrics
    )
    svc.handle({"Records": [make_record(COURSE_RIDE), make_record(b"x", 2, raw=True)]})
    alarms = {
        k: v["Properties"]
        for k, v in template["Resources"].items()
        if v["Type"] == "AWS::CloudWatch::Alarm"
    }
    by_metric = {a["MetricName"]: a for a in alarms.values()}
    assert {
        "IteratorAge",
        "Errors",
        "Unpublished",
        "DeadLettered",
        "ApproximateNumberOfMessagesVisible",
    } <= set(by_metric)
    service_name = resource(template, "RideDurationFunction")["Environment"]["Variables"][
        "POWERTOOLS_SERVICE_NAME"
    ]
    for name in ("Unpublished", "DeadLettered"):
        alarm = by_metric[name]
        assert name in metrics.names  # the handler really emits it
        assert alarm["Namespace"] == METRICS_NAMESPACE
        assert alarm["Dimensions"] == [{"Name": "service", "Value": service_name}]
    deployment_alarms = resource(template, "RideDurationFunction")["DeploymentPreference"]["Alarms"]
    assert {a["Ref"] for a in deployment_alarms} == {"FunctionErrorsAlarm", "UnpublishedAlarm"}


def test_enhanced_fan_out_is_opt_in(template):
    param = template["Parameters"]["EnhancedFanOut"]
    assert param["Default"] == "false" and sorted(param["AllowedValues"]) == ["false", "true"]
    assert template["Conditions"]["UseEnhancedFanOut"] == {
        "Fn::Equals": [{"Ref": "EnhancedFanOut"}, "true"]
    }
    for words in ("2 MB/s", "70 ms", "cost", "another application"):  # why one would
        assert words in param["Description"]


def test_stream_consumer_exists_only_with_enhanced_fan_out(template):
    consumers = {
        name: r
        for name, r in template["Resources"].items()
        if r["Type"] == "AWS::Kinesis::StreamConsumer"
    }
    assert set(consumers) == {"InputStreamConsumer"}
    consumer = consumers["InputStreamConsumer"]
    assert consumer["Condition"] == "UseEnhancedFanOut"
    assert consumer["Properties"]["StreamARN"] == STREAM_ARN
    assert "InputStreamConsumer" in deployed(template, ALL_ON)
    assert "InputStreamConsumer" not in deployed(template, FAN_OUT_OFF)
    output = template["Outputs"]["InputStreamConsumerArn"]
    assert output == {"Condition": "UseEnhancedFanOut", "Value": CONSUMER_ARN}


def test_mapping_reads_through_the_consumer_only_when_on(template):
    def stream(conditions):
        fn = deployed(template, conditions)["RideDurationFunction"]["Properties"]
        return fn["Events"]["RideEvents"]["Properties"]["Stream"]

    assert stream(ALL_ON) == CONSUMER_ARN
    assert stream(FAN_OUT_OFF) == STREAM_ARN  # the default: the shared-throughput iterator


def test_role_subscribes_to_the_consumer_only_when_on(template):
    on, off = granted(template, ALL_ON), granted(template, FAN_OUT_OFF)
    for action in ESM_ENHANCED_FAN_OUT:
        assert on[action] == {str(CONSUMER_ARN)}
        assert action not in off  # no grant on a resource the stack does not have
    for action in ESM_READ:  # the mapping still describes and lists the stream's shards
        assert on[action] == off[action] == {str(STREAM_ARN)}
