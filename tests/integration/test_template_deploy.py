"""template.yaml deployed on an emulator: moto's CloudFormation creates the streams,
the queue, the role, the function and the event source mapping with our settings.

The SAM template is first transformed to CloudFormation with aws-sam-translator (what
`sam deploy` has AWS do). Two moto gaps are bridged, and only for this test: moto has
no CodeDeploy (the canary DeploymentPreference is dropped) and no AWS::Lambda::Alias
in CloudFormation (the mapping points at the function instead of the `live` alias).

With ``EnhancedFanOut=true`` (the second test) two more are bridged, and only there:

- moto's CloudFormation has no AWS::Kinesis::StreamConsumer (it skips the resource and
  cannot answer its ``ConsumerARN``). The resource is removed from the deployed template
  and every ``!GetAtt InputStreamConsumer.ConsumerARN`` (the role's grant, the output)
  replaced by the ARN moto's Kinesis gives a consumer, ``<stream ARN>/consumer/<name>``
  (AWS appends ``:<creation timestamp>``). After the stack is up the consumer is
  registered with ``RegisterStreamConsumer`` on the stack's stream under the template's
  ConsumerName, and the test asserts that the ARN it gets back is the one the stack used.
  On AWS, CloudFormation registers it before the role and the mapping are created.
- moto's Lambda accepts only a stream's ARN as a Kinesis ``EventSourceArn``
  (``CreateEventSourceMapping`` with a consumer's ARN answers ResourceNotFoundException,
  "Invalid EventSourceArn"). The mapping's consumer branch is therefore given the
  stream's ARN; that the template switches the mapping to the consumer is asserted on
  the translated template before the bridge (and in tests/static/test_template.py), and
  moto's refusal is asserted, so the bridge goes once moto accepts consumer ARNs.

The first two deploys set ModelBucket: moto's CloudFormation keeps ``AWS::NoValue`` in a
list as a null, and moto's IAM fails (TypeError) on a null entry of a role's ``Policies``
(the ``read-model`` one, when neither ModelBucket nor ShadowModelS3Uri is set). A null
*statement* it stores as is: with EnhancedFanOut off, moto's copy of ``read-input-stream``
has a null second statement where AWS has one statement, and so do ``publish-outputs``
without a shadow and ``read-model`` with a shadow but no ModelBucket (moto does not
enforce IAM). This is why the shadow's grants are conditional *statements* in those two
policies rather than a policy of their own. ``AWS::NoValue`` as a *map* value (the
function's ``MODEL_LOCATION`` and ``SHADOW_*`` variables) moto drops with its key, as AWS
does. And moto's server answers GetRolePolicy, for a role CloudFormation made, with the
Python repr of the policy document rather than JSON, so the test reads it with
``ast.literal_eval``.

With ``ShadowModelS3Uri`` set (the third test; no bucket is needed for the deploy, the
function is not invoked) nothing is bridged, but two things differ from AWS and are
allowed for, only there:

- moto's CloudFormation passes a ``Number`` parameter's ``Ref`` on as a JSON number, so
  the function's ``SHADOW_SAMPLE_PERCENT`` comes back as ``25`` where AWS (whose
  environment values are strings) gives ``"25"``; the test compares the variables as
  strings.
- moto's CloudFormation creates no ``AWS::CloudWatch::Alarm`` (it skips the type with a
  UserWarning) and ignores a stream's ``StreamEncryption`` (``EncryptionType`` NONE), so
  the ``ShadowUnpublished`` alarm and the shadow stream's encryption are asserted only in
  tests/static/test_template.py.
"""

from __future__ import annotations

import ast
import io
import json
import uuid
import zipfile

import boto3
import pytest
from botocore.exceptions import ClientError
from cfnlint.decode import decode_str
from samtranslator.translator.transform import transform

from streaming.consumer.config import Settings
from tests.conftest import REPO
from tests.support.streams import EMULATOR

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::UserWarning"),
]


def code_in(template: dict, bucket: str) -> None:
    """Every function's code from the test bucket (SAM needs an S3 URI to translate)."""
    for r in template["Resources"].values():
        if r["Type"] == "AWS::Serverless::Function":
            r["Properties"]["CodeUri"] = f"s3://{bucket}/function.zip"


class NoManagedPolicies:
    def load(self):
        return {}


def test_template_creates_streams_queue_function_and_mapping(moto_endpoint, s3):
    if EMULATOR != "moto":
        pytest.skip("this LocalStack runs Kinesis, S3 and SQS only; the moto suite deploys it")
    template, _ = decode_str((REPO / "template.yaml").read_text())
    function = template["Resources"]["RideDurationFunction"]["Properties"]
    del function["DeploymentPreference"]  # moto: no CodeDeploy
    s3_client, bucket = s3
    code_in(template, bucket)
    cfn = transform(template, {}, NoManagedPolicies())
    mapping = cfn["Resources"]["RideDurationFunctionRideEvents"]["Properties"]
    mapping["FunctionName"] = {"Ref": "RideDurationFunction"}  # moto: no Alias in CFN

    session = boto3.session.Session(region_name="us-east-1")
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.write(REPO / "lambda_function.py", "lambda_function.py")
    s3_client.put_object(Bucket=bucket, Key="function.zip", Body=code.getvalue())
    stage = f"t{uuid.uuid4().hex[:6]}"
    cloudformation = session.client("cloudformation", endpoint_url=moto_endpoint)
    cloudformation.create_stack(
        StackName=f"ride-duration-{stage}",
        TemplateBody=json.dumps(cfn),
        Capabilities=["CAPABILITY_IAM"],
        Parameters=[
            {"ParameterKey": "Stage", "ParameterValue": stage},
            {"ParameterKey": "InputShards", "ParameterValue": "3"},
            {"ParameterKey": "ModelBucket", "ParameterValue": "models-bucket"},
            {
                "ParameterKey": "AlarmTopicArn",
                "ParameterValue": "arn:aws:sns:us-east-1:123456789012:alarms",
            },
        ],
    )
    stack = cloudformation.describe_stacks(StackName=f"ride-duration-{stage}")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")

    kinesis = session.client("kinesis", endpoint_url=moto_endpoint)
    summary = {
        n: kinesis.describe_stream_summary(StreamName=f"{n}-{stage}")["StreamDescriptionSummary"]
        for n in ("ride_events", "ride_predictions", "ride_dead_letters")
    }
    assert summary["ride_events"]["OpenShardCount"] == 3
    assert summary["ride_dead_letters"]["RetentionPeriodHours"] == 168

    lam = session.client("lambda", endpoint_url=moto_endpoint)
    fn = lam.get_function_configuration(FunctionName=f"ride-duration-{stage}")
    assert fn["Handler"] == "lambda_function.lambda_handler" and fn["Runtime"] == "python3.12"
    env = fn["Environment"]["Variables"]
    assert env["PREDICTIONS_STREAM_NAME"] == f"ride_predictions-{stage}"
    assert env["DEAD_LETTER_STREAM_NAME"] == f"ride_dead_letters-{stage}"
    assert env["MODEL_LOCATION"] == "s3://models-bucket/models/ride-duration/"
    # no shadow by default: no stream, no variables, no output
    assert not {k for k in env if k.startswith("SHADOW_")}
    with pytest.raises(ClientError, match="ResourceNotFound"):
        kinesis.describe_stream_summary(StreamName=f"ride_shadow_predictions-{stage}")
    assert "ShadowStreamName" not in {o["OutputKey"] for o in stack.get("Outputs", [])}
    [esm] = [
        m
        for m in lam.list_event_source_mappings()["EventSourceMappings"]
        if m["EventSourceArn"].endswith(f"/ride_events-{stage}")
    ]
    assert esm["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert esm["BisectBatchOnFunctionError"] is True
    assert esm["MaximumRetryAttempts"] == 10 and esm["MaximumRecordAgeInSeconds"] == 3600
    assert esm["BatchSize"] == 500 and esm["ParallelizationFactor"] == 1
    assert esm["DestinationConfig"]["OnFailure"]["Destination"].endswith(
        f":ride-duration-on-failure-{stage}"
    )


CONSUMER_ARN = {"Fn::GetAtt": ["InputStreamConsumer", "ConsumerARN"]}
STREAM_ARN = {"Fn::GetAtt": ["InputStream", "Arn"]}


def substitute(node, old, new):
    """``node`` with every fragment equal to ``old`` replaced by ``new``."""
    if node == old:
        return new
    if isinstance(node, dict):
        return {k: substitute(v, old, new) for k, v in node.items()}
    if isinstance(node, list):
        return [substitute(v, old, new) for v in node]
    return node


def enhanced_fan_out_template(bucket: str) -> tuple[dict, dict]:
    """The translated template, bridged for moto (module docstring), and the
    consumer's ConsumerName as the template gives it."""
    template, _ = decode_str((REPO / "template.yaml").read_text())
    function = template["Resources"]["RideDurationFunction"]["Properties"]
    del function["DeploymentPreference"]  # moto: no CodeDeploy
    code_in(template, bucket)
    cfn = transform(template, {}, NoManagedPolicies())
    mapping = cfn["Resources"]["RideDurationFunctionRideEvents"]["Properties"]
    mapping["FunctionName"] = {"Ref": "RideDurationFunction"}  # moto: no Alias in CFN
    # what CloudFormation is asked to do, before any bridge
    assert mapping["EventSourceArn"] == {"Fn::If": ["UseEnhancedFanOut", CONSUMER_ARN, STREAM_ARN]}
    consumer = cfn["Resources"].pop("InputStreamConsumer")  # moto: no StreamConsumer in CFN
    assert consumer["Condition"] == "UseEnhancedFanOut"
    assert consumer["Properties"]["StreamARN"] == STREAM_ARN
    name = consumer["Properties"]["ConsumerName"]
    mapping["EventSourceArn"]["Fn::If"][1] = STREAM_ARN  # moto: Lambda takes no consumer ARN
    moto_consumer_arn = {"Fn::Join": ["/", [STREAM_ARN, "consumer", name]]}
    return substitute(cfn, CONSUMER_ARN, moto_consumer_arn), name


def test_template_with_enhanced_fan_out_reads_through_a_consumer(moto_endpoint, s3):
    if EMULATOR != "moto":
        pytest.skip("this LocalStack runs Kinesis, S3 and SQS only; the moto suite deploys it")
    s3_client, bucket = s3
    cfn, name = enhanced_fan_out_template(bucket)

    session = boto3.session.Session(region_name="us-east-1")
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.write(REPO / "lambda_function.py", "lambda_function.py")
    s3_client.put_object(Bucket=bucket, Key="function.zip", Body=code.getvalue())
    stage = f"t{uuid.uuid4().hex[:6]}"
    cloudformation = session.client("cloudformation", endpoint_url=moto_endpoint)
    cloudformation.create_stack(
        StackName=f"ride-duration-{stage}",
        TemplateBody=json.dumps(cfn),
        Capabilities=["CAPABILITY_IAM"],
        Parameters=[
            {"ParameterKey": "Stage", "ParameterValue": stage},
            {"ParameterKey": "EnhancedFanOut", "ParameterValue": "true"},
            {"ParameterKey": "ModelBucket", "ParameterValue": "models-bucket"},
        ],
    )
    stack = cloudformation.describe_stacks(StackName=f"ride-duration-{stage}")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}

    # the consumer CloudFormation would have registered, registered the same way
    kinesis = session.client("kinesis", endpoint_url=moto_endpoint)
    stream_arn = kinesis.describe_stream_summary(StreamName=f"ride_events-{stage}")[
        "StreamDescriptionSummary"
    ]["StreamARN"]
    assert name == {"Fn::Sub": "ride-duration-${Stage}"}
    registered = kinesis.register_stream_consumer(
        StreamARN=stream_arn, ConsumerName=f"ride-duration-{stage}"
    )["Consumer"]
    consumer_arn = registered["ConsumerARN"]
    assert outputs["InputStreamConsumerArn"] == consumer_arn  # conditional output: condition on
    [listed] = kinesis.list_stream_consumers(StreamARN=stream_arn)["Consumers"]
    assert listed["ConsumerARN"] == consumer_arn and listed["ConsumerStatus"] == "ACTIVE"

    # the role reads the stream and subscribes through this consumer, and nothing else
    lam = session.client("lambda", endpoint_url=moto_endpoint)
    iam = session.client("iam", endpoint_url=moto_endpoint)
    role = lam.get_function_configuration(FunctionName=f"ride-duration-{stage}")["Role"]
    read = iam.get_role_policy(RoleName=role.rsplit("/", 1)[1], PolicyName="read-input-stream")
    document = read["PolicyDocument"]
    if isinstance(document, str):  # moto: a Python repr, not JSON (module docstring)
        document = ast.literal_eval(document)
    stream_statement, consumer_statement = document["Statement"]
    assert stream_statement["Resource"] == stream_arn
    assert set(consumer_statement["Action"]) == {
        "kinesis:SubscribeToShard",
        "kinesis:DescribeStreamConsumer",
    }
    assert consumer_statement["Resource"] == consumer_arn

    # the mapping: on AWS its EventSourceArn is consumer_arn (asserted on the template
    # above); moto's Lambda refuses that ARN, so the deployed one reads the stream
    [esm] = [
        m
        for m in lam.list_event_source_mappings()["EventSourceMappings"]
        if m["EventSourceArn"].endswith(f"/ride_events-{stage}")
    ]
    assert esm["EventSourceArn"] == stream_arn  # the bridge, not the template
    assert esm["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    with pytest.raises(ClientError, match="Invalid EventSourceArn"):
        # fails once moto accepts consumer ARNs: then drop the bridge and assert
        # esm["EventSourceArn"] == consumer_arn instead
        lam.create_event_source_mapping(
            FunctionName=f"ride-duration-{stage}",
            EventSourceArn=consumer_arn,
            StartingPosition="LATEST",
        )


def policy_document(iam, role_arn: str, name: str) -> dict:
    document = iam.get_role_policy(RoleName=role_arn.rsplit("/", 1)[1], PolicyName=name)[
        "PolicyDocument"
    ]
    if isinstance(document, str):  # moto: a Python repr, not JSON (module docstring)
        document = ast.literal_eval(document)
    return document


def test_template_with_a_shadow_model_creates_its_stream_env_and_grants(moto_endpoint, s3):
    if EMULATOR != "moto":
        pytest.skip("this LocalStack runs Kinesis, S3 and SQS only; the moto suite deploys it")
    template, _ = decode_str((REPO / "template.yaml").read_text())
    function = template["Resources"]["RideDurationFunction"]["Properties"]
    del function["DeploymentPreference"]  # moto: no CodeDeploy
    s3_client, bucket = s3
    code_in(template, bucket)
    cfn = transform(template, {}, NoManagedPolicies())
    mapping = cfn["Resources"]["RideDurationFunctionRideEvents"]["Properties"]
    mapping["FunctionName"] = {"Ref": "RideDurationFunction"}  # moto: no Alias in CFN

    session = boto3.session.Session(region_name="us-east-1")
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.write(REPO / "lambda_function.py", "lambda_function.py")
    s3_client.put_object(Bucket=bucket, Key="function.zip", Body=code.getvalue())
    shadow_uri = f"s3://{bucket}/models/challenger/"
    stage = f"t{uuid.uuid4().hex[:6]}"
    cloudformation = session.client("cloudformation", endpoint_url=moto_endpoint)
    cloudformation.create_stack(
        StackName=f"ride-duration-{stage}",
        TemplateBody=json.dumps(cfn),
        Capabilities=["CAPABILITY_IAM"],
        Parameters=[  # no ModelBucket: the champion is the shipped model, the shadow in S3
            {"ParameterKey": "Stage", "ParameterValue": stage},
            {"ParameterKey": "ShadowModelS3Uri", "ParameterValue": shadow_uri},
            {"ParameterKey": "ShadowStreamShards", "ParameterValue": "3"},
            {"ParameterKey": "ShadowSamplePercent", "ParameterValue": "25"},
        ],
    )
    stack = cloudformation.describe_stacks(StackName=f"ride-duration-{stage}")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs["ShadowStreamName"] == f"ride_shadow_predictions-{stage}"

    kinesis = session.client("kinesis", endpoint_url=moto_endpoint)
    shadow_stream = kinesis.describe_stream_summary(StreamName=f"ride_shadow_predictions-{stage}")[
        "StreamDescriptionSummary"
    ]
    assert shadow_stream["OpenShardCount"] == 3
    assert shadow_stream["RetentionPeriodHours"] == 24

    # the function's environment, as the consumer reads it
    lam = session.client("lambda", endpoint_url=moto_endpoint)
    fn = lam.get_function_configuration(FunctionName=f"ride-duration-{stage}")
    env = fn["Environment"]["Variables"]
    assert env["SHADOW_MODEL_LOCATION"] == shadow_uri
    assert env["SHADOW_STREAM_NAME"] == f"ride_shadow_predictions-{stage}"
    # moto: a Number parameter's Ref is a JSON number (AWS: the string "25"; module docstring)
    env = {k: str(v) for k, v in env.items()}
    assert env["SHADOW_SAMPLE_PERCENT"] == "25"
    assert "MODEL_LOCATION" not in env  # AWS::NoValue in the map: the key is left out
    shadow = Settings.from_env(env).shadow
    assert shadow is not None and shadow.problem is None
    assert (shadow.model_location, shadow.stream, shadow.sample_percent) == (
        shadow_uri,
        f"ride_shadow_predictions-{stage}",
        25.0,
    )

    # the role: PutRecords on the shadow stream, GetObject on the shadow's prefix
    iam = session.client("iam", endpoint_url=moto_endpoint)
    outputs_statements = policy_document(iam, fn["Role"], "publish-outputs")["Statement"]
    assert outputs_statements[1] == {
        "Effect": "Allow",
        "Action": "kinesis:PutRecords",
        "Resource": shadow_stream["StreamARN"],
    }
    champion, shadow_read = policy_document(iam, fn["Role"], "read-model")["Statement"]
    assert champion is None  # moto keeps AWS::NoValue in a list as null (module docstring)
    assert shadow_read == {
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/models/challenger/*",
    }


SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:ride-db-AbCdEf"


def test_template_with_the_database_creates_the_batch_job_and_its_schedule(moto_endpoint, s3):
    """MonitoringDbSecretArn set: the monitoring function and the daily batch job.

    moto's CloudFormation has no ``AWS::Scheduler::Schedule`` (bridged here as the alias
    is: the resource is removed from the deployed template and made after the stack
    with moto's EventBridge Scheduler API, from the template's own properties with the
    stack's function and role)."""
    if EMULATOR != "moto":
        pytest.skip("this LocalStack runs Kinesis, S3 and SQS only; the moto suite deploys it")
    template, _ = decode_str((REPO / "template.yaml").read_text())
    del template["Resources"]["RideDurationFunction"]["Properties"]["DeploymentPreference"]
    s3_client, bucket = s3
    code_in(template, bucket)
    cfn = transform(template, {}, NoManagedPolicies())
    mapping = cfn["Resources"]["RideDurationFunctionRideEvents"]["Properties"]
    mapping["FunctionName"] = {"Ref": "RideDurationFunction"}  # moto: no Alias in CFN
    schedule = cfn["Resources"].pop("BatchSchedule")["Properties"]  # moto: no Scheduler in CFN

    session = boto3.session.Session(region_name="us-east-1")
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.write(REPO / "batch_function.py", "batch_function.py")
    s3_client.put_object(Bucket=bucket, Key="function.zip", Body=code.getvalue())
    ec2 = session.client("ec2", endpoint_url=moto_endpoint)
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName=f"db-{vpc}", Description="db", VpcId=vpc)
    stage = f"t{uuid.uuid4().hex[:6]}"
    stack_name = f"ride-duration-{stage}"
    cloudformation = session.client("cloudformation", endpoint_url=moto_endpoint)
    cloudformation.create_stack(
        StackName=stack_name,
        TemplateBody=json.dumps(cfn),
        Capabilities=["CAPABILITY_IAM"],
        Parameters=[
            {"ParameterKey": "Stage", "ParameterValue": stage},
            {"ParameterKey": "ModelBucket", "ParameterValue": "models-bucket"},
            {"ParameterKey": "MonitoringDbSecretArn", "ParameterValue": SECRET_ARN},
            {"ParameterKey": "MonitoringSubnetIds", "ParameterValue": subnet},
            {"ParameterKey": "MonitoringSecurityGroupIds", "ParameterValue": group["GroupId"]},
        ],
    )
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs["BatchFunctionName"] == f"ride-duration-batch-{stage}"

    lam = session.client("lambda", endpoint_url=moto_endpoint)
    fn = lam.get_function_configuration(FunctionName=f"ride-duration-batch-{stage}")
    assert fn["Handler"] == "batch_function.lambda_handler" and fn["Timeout"] == 900
    env = fn["Environment"]["Variables"]
    assert env["MONITORING_DB_SECRET_ARN"] == SECRET_ARN
    assert env["BATCH_INPUT_TABLE"] == "rides"
    assert env["MODEL_LOCATION"] == "s3://models-bucket/models/ride-duration/"
    assert fn["VpcConfig"]["SubnetIds"] == [subnet]
    # the batch job and the monitoring function share the database
    monitoring = lam.get_function_configuration(FunctionName=f"ride-duration-monitoring-{stage}")
    assert monitoring["Environment"]["Variables"]["MONITORING_DB_SECRET_ARN"] == SECRET_ARN

    resources = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cloudformation.list_stack_resources(StackName=stack_name)["StackResourceSummaries"]
        if "LogicalResourceId" in r
    }
    iam = session.client("iam", endpoint_url=moto_endpoint)
    role_arn = iam.get_role(RoleName=resources["BatchSchedulerRole"])["Role"]["Arn"]
    scheduler = session.client("scheduler", endpoint_url=moto_endpoint)
    scheduler.create_schedule(
        Name=schedule["Name"]["Fn::Sub"].replace("${Stage}", stage),
        ScheduleExpression=template["Parameters"]["BatchScheduleExpression"]["Default"],
        ScheduleExpressionTimezone=schedule["ScheduleExpressionTimezone"],
        FlexibleTimeWindow=schedule["FlexibleTimeWindow"],
        Target={
            "Arn": fn["FunctionArn"],
            "RoleArn": role_arn,
            "Input": schedule["Target"]["Input"],
            "RetryPolicy": schedule["Target"]["RetryPolicy"],
        },
    )
    got = scheduler.get_schedule(Name=f"ride-duration-batch-{stage}")
    assert got["ScheduleExpression"] == "cron(0 2 * * ? *)"
    assert got["ScheduleExpressionTimezone"] == "America/New_York"
    assert got["Target"]["Arn"] == fn["FunctionArn"]
    assert json.loads(got["Target"]["Input"]) == {
        "scheduled_time": "<aws.scheduler.scheduled-time>"
    }
