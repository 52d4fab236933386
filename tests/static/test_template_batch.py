"""template.yaml's daily batch job: there exactly when the database is, scheduled in
New York time with the scheduled time as its input, its settings what its code reads,
its roles least-privilege, and its alarm on a metric it really emits."""

from __future__ import annotations

import json
from datetime import date

import pytest
from cfnlint.decode import decode_str

from streaming.batch.function import NAMESPACE, BatchFunction, BatchSettings, day_of
from streaming.database.engine import open_store
from tests.batch.conftest import load_rides, ride
from tests.conftest import REPO
from tests.static.test_template import (
    ALL_ON,
    LOGS,
    condition_values,
    deployed,
    env_reads,
    resource,
    role_grants,
)
from tests.static.test_template_monitoring import ENI

BATCH_RESOURCES = {
    "BatchLogGroup",
    "BatchRole",
    "BatchFunction",
    "BatchSchedulerRole",
    "BatchSchedule",
    "BatchMissedAlarm",
}


@pytest.fixture(scope="module")
def template():
    tpl, matches = decode_str((REPO / "template.yaml").read_text())
    assert not matches
    return tpl


def test_the_batch_job_exists_exactly_when_the_database_does(template):
    assert not BATCH_RESOURCES & set(deployed(template, condition_values(template)))
    assert set(deployed(template, ALL_ON)) >= BATCH_RESOURCES


def test_its_settings_are_what_its_code_reads(template):
    fn = resource(template, "BatchFunction")
    env = set(fn["Environment"]["Variables"])
    reads = env_reads(BatchSettings.from_env, {})
    assert env <= reads, env - reads
    assert "MONITORING_DB_SECRET_ARN" in env and "MONITORING_DB_URL" not in env  # no password
    assert fn["Handler"] == "batch_function.lambda_handler"
    assert (REPO / "batch_function.py").is_file()
    assert "build-BatchFunction:" in (REPO / "Makefile").read_text()
    assert fn["Timeout"] == 900  # Lambda's longest: a day is scored in one invocation


def test_it_runs_daily_in_new_york_time_and_scores_the_day_before(template):
    schedule = resource(template, "BatchSchedule")
    assert schedule["ScheduleExpressionTimezone"] == "America/New_York"
    default = template["Parameters"]["BatchScheduleExpression"]["Default"]
    assert default.startswith("cron(") and default.endswith("* * ? *)")  # every day
    target = schedule["Target"]
    assert target["Arn"] == {"Fn::GetAtt": ["BatchFunction", "Arn"]}
    payload = json.loads(target["Input"])
    assert payload == {"scheduled_time": "<aws.scheduler.scheduled-time>"}
    # what the scheduler sends at 02:00 New York time on the 15th scores the 14th
    assert day_of({"scheduled_time": "2021-01-15T07:00:00Z"}).day == date(2021, 1, 14)
    assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1


def test_its_roles_grant_what_they_need_and_nothing_more(template):
    grants = role_grants(template, "BatchRole", ALL_ON)
    needed = LOGS | ENI | {"secretsmanager:GetSecretValue", "s3:GetObject"}
    assert set(grants) == needed, set(grants) ^ needed
    assert grants["secretsmanager:GetSecretValue"] == {str({"Ref": "MonitoringDbSecretArn"})}
    assert not any(a.startswith("kinesis:") for a in grants)  # it touches no stream
    scheduler = role_grants(template, "BatchSchedulerRole", ALL_ON)
    assert scheduler == {"lambda:InvokeFunction": {str({"Fn::GetAtt": ["BatchFunction", "Arn"]})}}
    trust = resource(template, "BatchSchedulerRole")["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert "aws:SourceAccount" in trust["Condition"]["StringEquals"]  # no confused deputy


def test_its_alarm_watches_a_metric_it_emits(template, tmp_path, shipped_model):
    url = f"sqlite:///{tmp_path / 'b.db'}"
    engine = open_store(url)
    load_rides(engine, [ride(1, None)])
    lines: list[str] = []
    function = BatchFunction(
        engine, shipped_model, BatchSettings.from_env({"MONITORING_DB_URL": url}), emit=lines.append
    )
    function.handle({"date": "2021-01-15"})  # a day with no rides: RidesScored 0
    [document] = map(json.loads, lines)
    [block] = document["_aws"]["CloudWatchMetrics"]
    names = {m["Name"] for m in block["Metrics"]}
    alarm = resource(template, "BatchMissedAlarm")
    assert alarm["Namespace"] == block["Namespace"] == NAMESPACE
    assert alarm["MetricName"] in names and document[alarm["MetricName"]] == 0
    assert "Dimensions" not in alarm and block["Dimensions"] == [[]]
    # no run (no data point) is as bad as a run that scored nothing
    assert alarm["TreatMissingData"] == "breaching"
    assert alarm["ComparisonOperator"] == "LessThanThreshold" and alarm["Threshold"] == 1
    assert alarm["Period"] == 86400 and alarm["EvaluationPeriods"] == 1
