"""template.yaml's monitoring function: off by default; when on, its settings are what
its code reads, its role grants exactly what it and its mappings need, its mappings
keep tumbling windows, and its alarms watch metrics it really emits."""

from __future__ import annotations

import json
import re

import pytest
from cfnlint.decode import decode_str

from streaming.monitoring.drift import Histogram
from streaming.monitoring.service import NAMESPACE, MonitoringService
from streaming.monitoring.settings import MonitoringSettings
from streaming.monitoring.store import open_store
from tests.conftest import REPO
from tests.monitoring.conftest import FINISHED_ARN, finished, prediction, window_event
from tests.static.test_template import (
    ALL_ON,
    ALL_ON_PARAMS,
    ESM_READ,
    LOGS,
    condition_values,
    deployed,
    env_reads,
    resource,
    role_grants,
)


@pytest.fixture(scope="module")
def template():
    tpl, matches = decode_str((REPO / "template.yaml").read_text())
    assert not matches
    return tpl


MONITORING_RESOURCES = {
    "MonitoringLogGroup",
    "MonitoringRole",
    "MonitoringFunction",
    "MonitorRidesMapping",
    "MonitorPredictionsMapping",
    "MonitorDeadLettersMapping",
    "DriftAlarm",
    "VolumeAlarm",
}
MAPPINGS = {
    "MonitorRidesMapping": {"Fn::GetAtt": ["InputStream", "Arn"]},
    "MonitorPredictionsMapping": {"Fn::GetAtt": ["PredictionsStream", "Arn"]},
    "MonitorDeadLettersMapping": {"Fn::GetAtt": ["DeadLetterStream", "Arn"]},
    "MonitorShadowMapping": {"Fn::GetAtt": ["ShadowStream", "Arn"]},
    "MonitorFinishedMapping": {"Ref": "FinishedStreamArn"},
}
ENI = {
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
}


def env_vars_the_monitoring_code_reads() -> set[str]:
    both = {"MODEL_LOCATION": "s3://b/m/", "SHADOW_MODEL_LOCATION": "x"}
    return env_reads(MonitoringSettings.from_env, {}, both)


def test_monitoring_is_off_by_default(template):
    off = condition_values(template)
    assert off["HasMonitoring"] is False
    stack = deployed(template, off)
    assert not {n for n in stack if "Monitor" in n} | (MONITORING_RESOURCES & set(stack))


def test_its_settings_are_what_its_code_reads(template):
    fn = resource(template, "MonitoringFunction")
    env = set(fn["Environment"]["Variables"])
    assert env <= env_vars_the_monitoring_code_reads(), env - env_vars_the_monitoring_code_reads()
    assert "MONITORING_DB_SECRET_ARN" in env and "MONITORING_DB_URL" not in env  # no password
    assert fn["Handler"] == "monitoring_function.lambda_handler"
    assert (REPO / "monitoring_function.py").is_file()
    assert "build-MonitoringFunction:" in (REPO / "Makefile").read_text()


def test_its_role_grants_what_it_needs_and_nothing_more(template):
    grants = role_grants(template, "MonitoringRole", ALL_ON)
    needed = ESM_READ | LOGS | ENI | {"secretsmanager:GetSecretValue", "s3:GetObject"}
    assert set(grants) == needed, set(grants) ^ needed
    for action in ESM_READ:
        assert grants[action] == {str(arn) for arn in MAPPINGS.values()}
    assert grants["secretsmanager:GetSecretValue"] == {str({"Ref": "MonitoringDbSecretArn"})}
    assert not any(a.startswith("kinesis:Put") for a in grants)  # it never writes a stream
    for action in ENI:  # the only wildcard: network interfaces have no resource ARNs
        assert grants[action] == {"*"}
    outside = condition_values(template, **{**ALL_ON_PARAMS, "MonitoringSubnetIds": ""})
    assert not ENI & set(role_grants(template, "MonitoringRole", outside))
    assert "VpcConfig" not in deployed(template, outside)["MonitoringFunction"]["Properties"]


def test_each_stream_has_a_windowed_mapping(template):
    stack = deployed(template, ALL_ON)
    for name, arn in MAPPINGS.items():
        mapping = stack[name]["Properties"]
        assert mapping["EventSourceArn"] == arn
        assert mapping["FunctionName"] == {"Ref": "MonitoringFunction"}
        assert mapping["TumblingWindowInSeconds"] == {"Ref": "MonitoringWindowSeconds"}
    window = template["Parameters"]["MonitoringWindowSeconds"]
    # Lambda: at most 900 s; CloudWatch alarm periods: a multiple of 60
    assert all(v <= 900 and v % 60 == 0 for v in window["AllowedValues"])
    assert template["Resources"]["MonitorShadowMapping"]["Condition"] == "MonitorsShadow"
    assert template["Resources"]["MonitorFinishedMapping"]["Condition"] == "MonitorsFinished"


def test_its_alarms_watch_metrics_it_emits(template, tmp_path):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    lines: list[str] = []
    svc = MonitoringService(
        open_store(url), MonitoringSettings(db_url=url, min_drift_records=1), emit=lines.append
    )
    svc._references["v1"] = Histogram.of([10.0, 20.0])
    for items, kw in (([prediction(1, 12.0)], {}), ([finished(1, 10.0)], {"arn": FINISHED_ARN})):
        state = svc.handle(window_event(items, **kw))["state"]
        svc.handle(window_event([], state=state, final=True, **kw))
    emitted: dict[str, list[list[str]]] = {}
    for document in map(json.loads, lines):
        for block in document["_aws"]["CloudWatchMetrics"]:
            assert block["Namespace"] == NAMESPACE
            for metric in block["Metrics"]:
                emitted.setdefault(metric["Name"], []).append(block["Dimensions"][0])
    alarms = {
        name: template["Resources"][name]["Properties"]
        for name in ("DriftAlarm", "RmseAlarm", "VolumeAlarm")
    }
    for name, alarm in alarms.items():
        assert alarm["Namespace"] == NAMESPACE, name
        assert alarm["MetricName"] in emitted, name
        assert alarm["Dimensions"] == [{"Name": "Role", "Value": "champion"}]
        assert ["Role"] in emitted[alarm["MetricName"]]
        assert alarm["Period"] == {"Ref": "MonitoringWindowSeconds"}
    assert alarms["VolumeAlarm"]["TreatMissingData"] == "breaching"  # no records, no point
    assert alarms["VolumeAlarm"]["ComparisonOperator"] == "LessThanThreshold"
    assert template["Parameters"]["DriftAlarmThreshold"]["Default"] == 0.2


def test_the_secret_parameter_accepts_only_a_secret_arn(template):
    pattern = template["Parameters"]["MonitoringDbSecretArn"]["AllowedPattern"]
    assert re.fullmatch(pattern, ALL_ON_PARAMS["MonitoringDbSecretArn"])
    assert re.fullmatch(pattern, "")
    for bad in ("postgresql://u:p@h/db", "arn:aws:s3:::bucket", "monitoring-db"):
        assert not re.fullmatch(pattern, bad)
