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
from streaming.consumer.shadow import ShadowDisabled
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


def env_reads(from_env, *envs: dict[str, str]) -> set[str]:
    """Every variable ``from_env`` looks at, found by asking it with each of ``envs``."""
    seen: set[str] = set()

    class Recording(dict):
        def get(self, key, default=None):
            seen.add(key)
            return super().get(key, default)

        def __getitem__(self, key):
            seen.add(key)
            return super().__getitem__(key)

    for env in envs:
        from_env(Recording(env))
    return seen


def env_vars_the_code_reads() -> set[str]:
    """What Settings.from_env reads: with nothing set, and with a shadow model set (its
    stream and sample share are read only then)."""
    return env_reads(Settings.from_env, {}, {"SHADOW_MODEL_LOCATION": "s3://bucket/challenger/"})


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
    every Fn::If replaced by its chosen branch, AWS::NoValue dropped from lists and (the
    key with it) from maps."""
    if isinstance(node, dict):
        if set(node) == {"Fn::If"}:
            name, yes, no = node["Fn::If"]
            return resolve(yes if conditions[name] else no, conditions)
        resolved = {k: resolve(v, conditions) for k, v in node.items()}
        return {k: v for k, v in resolved.items() if v != NO_VALUE}
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
ALL_ON = {
    "HasModelBucket": True,
    "HasAlarmTopic": True,
    "UseEnhancedFanOut": True,
    "HasShadow": True,
    "ReadsModelFromS3": True,
    "HasMonitoring": True,
    "MonitorsShadow": True,
    "HasFinishedStream": True,
    "MonitorsFinished": True,
    "MonitoringInVpc": True,
}
FAN_OUT_OFF = {**ALL_ON, "UseEnhancedFanOut": False}
#: parameters that turn every condition on (ALL_ON is what they give)
ALL_ON_PARAMS = {
    "ModelBucket": "models-bucket",
    "AlarmTopicArn": "arn:aws:sns:us-east-1:123456789012:alarms",
    "EnhancedFanOut": "true",
    "ShadowModelS3Uri": "s3://models-bucket/challenger/v2/",
    "MonitoringDbSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:monitoring-db",
    "FinishedStreamArn": "arn:aws:kinesis:us-east-1:123456789012:stream/ride_finished",
    "MonitoringSubnetIds": "subnet-0a1b2c3d,subnet-4e5f6a7b",
}
SHADOW_ENV = {"SHADOW_MODEL_LOCATION", "SHADOW_STREAM_NAME", "SHADOW_SAMPLE_PERCENT"}
SHADOW_STREAM_ARN = {"Fn::GetAtt": ["ShadowStream", "Arn"]}


def parameter_values(template, **given: str) -> dict[str, str]:
    """Every parameter's value (as CloudFormation passes it, a string) for a stack made
    with these parameters and the defaults."""
    values = {name: str(p.get("Default", "")) for name, p in template["Parameters"].items()}
    assert set(given) <= set(values), set(given) - set(values)
    return {**values, **given}


def condition_values(template, **given: str) -> dict[str, bool]:
    """Each condition of the template, evaluated for a stack made with these parameters."""
    params = parameter_values(template, **given)

    def evaluate(node):
        if isinstance(node, dict):
            [(fn, arg)] = node.items()
            if fn == "Ref":
                return params[arg]
            if fn == "Condition":
                return evaluate(template["Conditions"][arg])
            if fn == "Fn::Equals":
                return evaluate(arg[0]) == evaluate(arg[1])
            if fn == "Fn::Not":
                return not evaluate(arg[0])
            if fn == "Fn::Or":
                return any(evaluate(a) for a in arg)
            if fn == "Fn::And":
                return all(evaluate(a) for a in arg)
            if fn == "Fn::Join":  # of a CommaDelimitedList parameter: its items
                items = evaluate(arg[1])
                items = [i for i in items.split(",") if i] if isinstance(items, str) else items
                return arg[0].join(items)
            raise AssertionError(f"condition function not evaluated here: {fn}")
        return node

    return {name: evaluate(c) for name, c in template["Conditions"].items()}


def value(node, params: dict[str, str]):
    """The string CloudFormation makes of Ref (to a parameter), Fn::Select, Fn::Split and
    Fn::Sub; pseudo parameters (${AWS::Partition}) and anything else are left as written."""

    def sub(text: str, names: dict[str, str]) -> str:
        return re.sub(r"\$\{([^}!]+)\}", lambda m: names.get(m[1], m[0]), text)

    if isinstance(node, dict) and len(node) == 1:
        [(fn, arg)] = node.items()
        if fn == "Ref" and arg in params:
            return params[arg]
        if fn == "Fn::Split":
            return value(arg[1], params).split(arg[0])
        if fn == "Fn::Select":
            return value(arg[1], params)[int(arg[0])]
        if fn == "Fn::Sub" and isinstance(arg, str):
            return sub(arg, params)
        if fn == "Fn::Sub":
            text, variables = arg
            return sub(text, {**params, **{k: value(v, params) for k, v in variables.items()}})
    return node


def granted(
    template, conditions: dict[str, bool] = ALL_ON, params: dict[str, str] | None = None
) -> dict[str, set[str]]:
    """IAM action -> resources (logical ids or ARNs), from the function's role; with
    ``params``, each resource's ARN as these parameters make it (``value``)."""
    return role_grants(template, "FunctionRole", conditions, params)


def role_grants(
    template, role_name: str, conditions: dict[str, bool], params: dict[str, str] | None = None
) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    role = deployed(template, conditions)[role_name]["Properties"]
    for policy in role["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            actions = statement["Action"]
            resources = statement["Resource"]
            if params is not None:
                resources = value(resources, params)
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
        str(SHADOW_STREAM_ARN),
    }  # never writes to its own input (no loop)
    champion, shadow = sorted(grants["s3:GetObject"], key=lambda r: "ShadowModelS3Uri" in r)
    assert "ModelPrefix" in champion and "ShadowModelS3Uri" in shadow


def test_condition_sets_used_here_are_ones_a_stack_can_have(template):
    assert condition_values(template, **ALL_ON_PARAMS) == ALL_ON
    assert condition_values(template, **{**ALL_ON_PARAMS, "EnhancedFanOut": "false"}) == (
        FAN_OUT_OFF
    )


def test_streams_encrypted_and_dead_letters_kept_long_enough(template):
    for name in ("InputStream", "PredictionsStream", "DeadLetterStream", "ShadowStream"):
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
    with_shadow = RideDurationService(  # any shadow, even a disabled one, reports its metrics
        shipped_model,
        Settings(dead_letter_stream="dlq"),
        sender=ScriptedSender(),
        metrics=metrics,
        shadow=ShadowDisabled("test"),
    )
    with_shadow.handle({"Records": [make_record(COURSE_RIDE)]})
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
        "ShadowUnpublished",
    } <= set(by_metric)
    service_name = resource(template, "RideDurationFunction")["Environment"]["Variables"][
        "POWERTOOLS_SERVICE_NAME"
    ]
    for name in ("Unpublished", "DeadLettered", "ShadowUnpublished"):
        alarm = by_metric[name]
        assert name in metrics.names  # the handler really emits it
        assert alarm["Namespace"] == METRICS_NAMESPACE
        assert alarm["Dimensions"] == [{"Name": "service", "Value": service_name}]
    deployment_alarms = resource(template, "RideDurationFunction")["DeploymentPreference"]["Alarms"]
    # not ShadowUnpublishedAlarm: the challenger never rolls back the champion
    assert {a["Ref"] for a in deployment_alarms} == {"FunctionErrorsAlarm", "UnpublishedAlarm"}
    assert template["Resources"]["ShadowUnpublishedAlarm"]["Condition"] == "HasShadow"


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


# -- the shadow (challenger) model ---------------------------------------------------

SHADOW_URI = "s3://models-bucket/challenger/v2/"
#: every optional resource a shadow brings; a stack without one has none of them
SHADOW_RESOURCES = {"ShadowStream", "ShadowUnpublishedAlarm"}


def function_env(template, conditions: dict[str, bool]) -> dict:
    return deployed(template, conditions)["RideDurationFunction"]["Properties"]["Environment"][
        "Variables"
    ]


def test_shadow_is_off_by_default(template):
    off = condition_values(template)  # every parameter at its default
    assert off["HasShadow"] is False and off["ReadsModelFromS3"] is False
    assert not SHADOW_RESOURCES & set(deployed(template, off))
    assert not SHADOW_ENV & set(function_env(template, off))
    grants = granted(template, off)
    assert grants["kinesis:PutRecords"] == {
        str({"Fn::GetAtt": ["PredictionsStream", "Arn"]}),
        str({"Fn::GetAtt": ["DeadLetterStream", "Arn"]}),
    }
    assert "s3:GetObject" not in grants  # no model in S3 at all: no read grant
    assert not any("Shadow" in r for rs in grants.values() for r in rs)
    assert template["Outputs"]["ShadowStreamName"]["Condition"] == "HasShadow"
    for name in SHADOW_RESOURCES:
        assert template["Resources"][name]["Condition"] == "HasShadow"


def test_shadow_parameters_say_why_and_accept_only_a_prefix(template):
    params = template["Parameters"]
    uri = params["ShadowModelS3Uri"]
    assert uri["Type"] == "String" and uri["Default"] == ""
    # CloudFormation matches the whole value; the prefix must end with "/" so that
    # the grant on "<bucket>/<prefix>*" cannot reach a sibling ("v2" would match "v20/")
    accepts = ["", SHADOW_URI, "s3://models-bucket/", "s3://my.models-1/runs/run=7/model/"]
    rejects = [
        "s3://models-bucket",  # no "/": "models-bucket*" is every bucket named so
        "s3://models-bucket/challenger/v2",  # no trailing "/"
        "s3://models-bucket/challenger*/",  # a wildcard in the grant
        "s3://models-bucket//",
        "S3://models-bucket/v2/",
        "https://models-bucket.s3.amazonaws.com/v2/",
        "models-bucket/v2/",
    ]
    for text in accepts:
        assert re.fullmatch(uri["AllowedPattern"], text), text
    for text in rejects:
        assert not re.fullmatch(uri["AllowedPattern"], text), text
    for words in ("challenger", "live traffic", "never served", "streaming evaluate --compare"):
        assert words in uri["Description"]
    assert "canary alias" in uri["Description"] and "MODEL_LOCATION" in uri["Description"]

    shards, output = params["ShadowStreamShards"], params["OutputShards"]
    assert {k: shards[k] for k in ("Type", "Default", "MinValue")} == {
        k: output[k] for k in ("Type", "Default", "MinValue")
    }
    assert "like the predictions stream" in shards["Description"]
    assert "one record per sampled ride" in shards["Description"]

    percent = params["ShadowSamplePercent"]
    assert percent["Type"] == "Number"
    assert (percent["MinValue"], percent["MaxValue"], percent["Default"]) == (0, 100, 100)
    assert "ride_id" in percent["Description"]


def test_shadow_stream_env_and_grants_with_a_shadow_uri(template):
    given = {"ShadowModelS3Uri": SHADOW_URI, "ShadowSamplePercent": "25", "Stage": "prod"}
    on = condition_values(template, **given)
    params = parameter_values(template, **given)
    assert on["HasShadow"] is True and on["HasModelBucket"] is False
    stack = deployed(template, on)
    assert set(stack) >= SHADOW_RESOURCES

    # the stream: like the predictions stream, its own shard count
    stream, predictions = (
        resource(template, "ShadowStream"),
        resource(template, "PredictionsStream"),
    )
    assert stream["ShardCount"] == {"Ref": "ShadowStreamShards"}
    for key in ("RetentionPeriodHours", "StreamEncryption"):
        assert stream[key] == predictions[key]
    assert template["Outputs"]["ShadowStreamName"]["Value"] == {"Ref": "ShadowStream"}

    # the environment: named as the consumer reads them (its own Settings.from_env)
    env = function_env(template, on)
    assert set(env) >= SHADOW_ENV and env_vars_the_code_reads() >= SHADOW_ENV
    assert env["SHADOW_MODEL_LOCATION"] == {"Ref": "ShadowModelS3Uri"}
    assert env["SHADOW_STREAM_NAME"] == {"Ref": "ShadowStream"}
    assert env["SHADOW_SAMPLE_PERCENT"] == {"Ref": "ShadowSamplePercent"}
    stream_name = value(stream["Name"], params)  # what Ref ShadowStream gives
    as_deployed = {
        **{k: v for k, v in env.items() if isinstance(v, str)},
        "SHADOW_MODEL_LOCATION": value(env["SHADOW_MODEL_LOCATION"], params),
        "SHADOW_STREAM_NAME": stream_name,
        "SHADOW_SAMPLE_PERCENT": value(env["SHADOW_SAMPLE_PERCENT"], params),
    }
    shadow = Settings.from_env(as_deployed).shadow
    assert shadow is not None and shadow.problem is None
    assert (shadow.model_location, shadow.stream, shadow.sample_percent) == (
        SHADOW_URI,
        "ride_shadow_predictions-prod",
        25.0,
    )

    # the role: PutRecords on the shadow stream (and the outputs it had), GetObject
    # on the shadow's prefix only, and nothing else on either
    grants = granted(template, on, params)
    assert grants["kinesis:PutRecords"] == {
        str({"Fn::GetAtt": ["PredictionsStream", "Arn"]}),
        str({"Fn::GetAtt": ["DeadLetterStream", "Arn"]}),
        str(SHADOW_STREAM_ARN),
    }
    assert grants["s3:GetObject"] == {"arn:${AWS::Partition}:s3:::models-bucket/challenger/v2/*"}
    on_shadow_stream = {a for a, rs in grants.items() if str(SHADOW_STREAM_ARN) in rs}
    assert on_shadow_stream == {"kinesis:PutRecords"}
    champion_in_s3 = condition_values(template, ModelBucket="models-bucket")
    assert set(grants) == set(granted(template, champion_in_s3))  # no action of its own

    # beside a champion read from S3: one statement each, each on its own prefix
    both = {**given, "ModelBucket": "models-bucket"}
    champion_and_shadow = granted(
        template, condition_values(template, **both), parameter_values(template, **both)
    )
    assert champion_and_shadow["s3:GetObject"] == {
        "arn:${AWS::Partition}:s3:::models-bucket/models/ride-duration/*",
        "arn:${AWS::Partition}:s3:::models-bucket/challenger/v2/*",
    }
