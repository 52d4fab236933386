"""template.yaml deployed on an emulator: moto's CloudFormation creates the streams,
the queue, the role, the function and the event source mapping with our settings.

The SAM template is first transformed to CloudFormation with aws-sam-translator (what
`sam deploy` has AWS do). Two moto gaps are bridged, and only for this test: moto has
no CodeDeploy (the canary DeploymentPreference is dropped) and no AWS::Lambda::Alias
in CloudFormation (the mapping points at the function instead of the `live` alias).
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile

import boto3
import pytest
from cfnlint.decode import decode_str
from samtranslator.translator.transform import transform

from tests.conftest import REPO
from tests.support.streams import EMULATOR

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::UserWarning"),
]


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
    function["CodeUri"] = f"s3://{bucket}/function.zip"
    cfn = transform(template, {}, NoManagedPolicies())
    mapping = next(
        r for r in cfn["Resources"].values() if r["Type"] == "AWS::Lambda::EventSourceMapping"
    )["Properties"]
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
