"""Environment -> Settings: the course's variable names, validated at init."""

from __future__ import annotations

import pytest

from streaming.consumer.config import SHIPPED_MODEL_DIR, ConfigError, Settings


def test_defaults_match_the_course():
    s = Settings.from_env({})
    assert s.predictions_stream == "ride_predictions"
    assert s.dead_letter_stream is None
    assert s.model_location == str(SHIPPED_MODEL_DIR)
    assert s.test_run is False and s.kinesis_endpoint_url is None
    assert s.model_version_override is None


def test_course_variables():
    s = Settings.from_env(
        {
            "PREDICTIONS_STREAM_NAME": "out",
            "TEST_RUN": "True",
            "RUN_ID": "abc",
            "KINESIS_ENDPOINT_URL": "http://localhost:4566",
            "DEAD_LETTER_STREAM_NAME": "dlq",
            "MODEL_LOCATION": "s3://bucket/models/",
        }
    )
    assert (s.predictions_stream, s.test_run, s.model_version_override) == ("out", True, "abc")
    assert s.kinesis_endpoint_url == "http://localhost:4566"
    assert (s.dead_letter_stream, s.model_location) == ("dlq", "s3://bucket/models/")


@pytest.mark.parametrize(
    "value,expected",
    [("True", True), ("true", True), ("1", True), ("False", False), ("", False), ("no", False)],
)
def test_test_run_flag(value, expected):
    assert Settings.from_env({"TEST_RUN": value}).test_run is expected


@pytest.mark.parametrize(
    "env,name",
    [
        ({"TEST_RUN": "maybe"}, "TEST_RUN"),
        ({"PREDICTIONS_STREAM_NAME": "bad name!"}, "PREDICTIONS_STREAM_NAME"),
        ({"DEAD_LETTER_STREAM_NAME": "x" * 129}, "DEAD_LETTER_STREAM_NAME"),
        ({"PUBLISH_MAX_ATTEMPTS": "zero"}, "PUBLISH_MAX_ATTEMPTS"),
        ({"PUBLISH_MAX_ATTEMPTS": "0"}, "PUBLISH_MAX_ATTEMPTS"),
        ({"PUBLISH_CONCURRENCY": "0"}, "PUBLISH_CONCURRENCY"),
        ({"PUBLISH_CONCURRENCY": "33"}, "PUBLISH_CONCURRENCY"),
        ({"PUBLISH_CONCURRENCY": "four"}, "PUBLISH_CONCURRENCY"),
    ],
)
def test_bad_settings_name_the_variable(env, name):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env(env)


def test_publish_concurrency_defaults_and_one_means_one_after_another():
    from streaming.consumer.config import DEFAULT_PUBLISH_CONCURRENCY

    assert Settings.from_env({}).publish_concurrency == DEFAULT_PUBLISH_CONCURRENCY
    assert Settings.from_env({"PUBLISH_CONCURRENCY": "1"}).publish_concurrency == 1


def test_the_hot_path_client_pools_a_connection_for_every_call_in_flight(monkeypatch):
    from streaming.consumer.kinesis_client import make_kinesis_client

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    client = make_kinesis_client("http://127.0.0.1:9", calls_in_flight=16)
    assert client.meta.config.max_pool_connections == 32
    # entries are checked by publish: botocore's serializer is not wrapped in its validator
    assert type(client._serializer).__name__ != "ParamValidationDecorator"
