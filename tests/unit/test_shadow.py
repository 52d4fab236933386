"""The shadow model in the consumer: scored and published apart, never at the champion's cost."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from streaming.consumer.config import Settings, ShadowSettings
from streaming.consumer.handler import RideDurationService, build_service
from streaming.consumer.lambda_context import LocalContext
from streaming.consumer.publish import SendError
from streaming.consumer.shadow import Shadow, ShadowDisabled, in_sample, load_shadow
from tests.conftest import COURSE_RIDE, make_record
from tests.support.models import shipped_model_as
from tests.support.senders import ScriptedSender

PREDS, SHADOW = "preds", "shadow-preds"


@pytest.fixture(scope="module")
def shadow_dir(tmp_path_factory) -> Path:
    """The shipped model under another version: a shadow whose answers are known."""
    return shipped_model_as(tmp_path_factory.mktemp("shadow-model"), "challenger-1")


def rides(n: int, bad: int = 0) -> dict:
    records = [make_record(COURSE_RIDE | {"ride_id": i}, seq=i + 1) for i in range(n)]
    records += [make_record({"ride": {}}, seq=n + j + 1) for j in range(bad)]
    return {"Records": records}


def service(
    sender, shadow_env: dict[str, str] | None = None, settings: dict | None = None, **kwargs
) -> RideDurationService:
    env = {"PREDICTIONS_STREAM_NAME": PREDS, **(shadow_env or {})}
    base = Settings.from_env(env)
    fields = {f: getattr(base, f) for f in base.__dataclass_fields__} | (settings or {})
    return build_service(Settings(**fields), sender=sender, **kwargs)


def shadow_env(location: Path | str, **extra: str) -> dict[str, str]:
    return {"SHADOW_MODEL_LOCATION": str(location), "SHADOW_STREAM_NAME": SHADOW, **extra}


def test_every_ride_has_one_champion_and_one_shadow_prediction_with_the_same_source(
    shadow_dir,
):
    sender = ScriptedSender()
    response = service(sender, shadow_env(shadow_dir)).handle(rides(30, bad=2), LocalContext())
    assert response["batchItemFailures"] == []
    champion, shadow = sender.written[PREDS], sender.written[SHADOW]
    assert len(champion) == len(shadow) == 30
    assert [c["source"] for c in champion] == [s["source"] for s in shadow]
    assert {s["version"] for s in shadow} == {"challenger-1"}
    assert sender.keys[SHADOW] == sender.keys[PREDS]  # same partition keys
    assert [c["prediction"] for c in champion] == [s["prediction"] for s in shadow]


def test_the_champion_stream_is_the_same_bytes_with_or_without_a_shadow(shadow_dir):
    plain, shadowed = ScriptedSender(), ScriptedSender()
    event = rides(25, bad=3)
    clock = lambda: 1_700_000_000.0  # noqa: E731 - the invocation time both runs use
    a = build_service(Settings(predictions_stream=PREDS), sender=plain, clock=clock)
    b = service(shadowed, shadow_env(shadow_dir), clock=clock)
    assert a.handle(event, LocalContext()) == b.handle(event, LocalContext())
    assert plain.written[PREDS] == shadowed.written[PREDS]
    assert [c for c in plain.calls if c[0] == PREDS] == [c for c in shadowed.calls if c[0] == PREDS]


def _corrupt_weights(directory: Path) -> None:
    metadata = json.loads((directory / "metadata.json").read_text())
    weights = directory / metadata["weights"]["file"]
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("break_it", "says"),
    [
        (lambda d: (d / "metadata.json").unlink(), "cannot load"),
        (_corrupt_weights, "sha256"),
        (shutil.rmtree, "cannot load"),
    ],
    ids=["no metadata", "bad sha256", "missing directory"],
)
def test_a_broken_shadow_leaves_the_champion_working(shadow_dir, tmp_path, break_it, says):
    broken = tmp_path / "broken"
    shutil.copytree(shadow_dir, broken)
    break_it(broken)
    sender = ScriptedSender()
    svc = service(sender, shadow_env(broken))
    assert isinstance(svc._shadow, ShadowDisabled) and says in svc._shadow.reason
    result = svc.process(rides(10), LocalContext())
    assert len(sender.written[PREDS]) == 10 and SHADOW not in sender.written
    assert result.response()["batchItemFailures"] == []
    assert result.shadow.disabled


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"SHADOW_MODEL_LOCATION": "/x"}, "SHADOW_STREAM_NAME is not set"),
        ({"SHADOW_MODEL_LOCATION": "/x", "SHADOW_STREAM_NAME": "bad name!"}, "not a valid"),
        (
            {
                "SHADOW_MODEL_LOCATION": "/x",
                "SHADOW_STREAM_NAME": "s",
                "SHADOW_SAMPLE_PERCENT": "x",
            },
            "not a number",
        ),
        (
            {
                "SHADOW_MODEL_LOCATION": "/x",
                "SHADOW_STREAM_NAME": "s",
                "SHADOW_SAMPLE_PERCENT": "nan",
            },
            "outside",
        ),
    ],
)
def test_a_shadow_setting_out_of_range_disables_the_shadow_not_the_function(env, says):
    settings = Settings.from_env(env)  # no ConfigError: the champion's init goes on
    disabled = load_shadow(settings.shadow)
    assert isinstance(disabled, ShadowDisabled) and says in disabled.reason


def test_no_shadow_configured_means_none():
    assert Settings.from_env({}).shadow is None and load_shadow(None) is None


def test_a_shadow_publish_failure_is_counted_and_never_reported(shadow_dir):
    def fail(stream, call, entry):
        return "ProvisionedThroughputExceededException" if stream == SHADOW else None

    sender = ScriptedSender(fail)
    svc = service(sender, shadow_env(shadow_dir), {"publish_max_attempts": 2}, sleep=lambda s: None)
    result = svc.process(rides(12), LocalContext())
    assert result.response()["batchItemFailures"] == []
    assert len(sender.written[PREDS]) == 12
    assert result.shadow.unpublished == 12 and result.shadow.published == 0


def test_a_shadow_sender_error_is_counted_and_never_reported(shadow_dir):
    sender = ScriptedSender(
        raise_on={1: SendError("ResourceNotFoundException", "gone", retryable=False)}
    )
    result = service(sender, shadow_env(shadow_dir)).process(rides(5), LocalContext())
    assert result.response()["batchItemFailures"] == [] and len(sender.written[PREDS]) == 5
    assert result.shadow.unpublished == 5


def test_a_shadow_that_raises_costs_only_the_shadow(shadow_dir):
    class Exploding:
        def predict(self, x):
            raise MemoryError("boom")

    sender = ScriptedSender()
    svc = service(sender, shadow_env(shadow_dir))
    model = svc._shadow.model
    svc._shadow = Shadow(
        type(model)(**{**model.__dict__, "predictor": Exploding()}), SHADOW, 100.0, "x"
    )
    result = svc.process(rides(4), LocalContext())
    assert len(sender.written[PREDS]) == 4 and "MemoryError" in result.shadow.error


def test_the_shadow_gets_only_the_time_left_after_the_champion(shadow_dir):
    class Running(LocalContext):
        """Time left: 10 s while the champion publishes (2 reads), then 0.1 s."""

        reads = 0

        def get_remaining_time_in_millis(self) -> int:
            self.reads += 1
            return 10_000 if self.reads <= 2 else 100

    sender = ScriptedSender()
    svc = service(sender, shadow_env(shadow_dir), {"publish_time_reserve_s": 0.0})
    result = svc.process(rides(3), Running())
    assert len(sender.written[PREDS]) == 3 and SHADOW not in sender.written
    assert result.shadow.unpublished == 3 and result.response()["batchItemFailures"] == []


def test_the_sample_is_stable_and_about_the_share_asked():
    chosen = [i for i in range(20_000) if in_sample(i, 10.0)]
    assert 1_800 < len(chosen) < 2_200
    assert chosen == [i for i in range(20_000) if in_sample(i, 10.0)]  # same every time
    assert in_sample("any", 100.0) and not in_sample("any", 0.0)


def test_sampling_scores_only_the_chosen_rides(shadow_dir):
    sender = ScriptedSender()
    svc = service(sender, shadow_env(shadow_dir, SHADOW_SAMPLE_PERCENT="30"))
    svc.handle(rides(200), LocalContext())
    ids = [s["prediction"]["ride_id"] for s in sender.written[SHADOW]]
    assert ids == [i for i in range(200) if in_sample(i, 30.0)] and 30 < len(ids) < 90
    assert len(sender.written[PREDS]) == 200


def test_shadow_settings_are_kept_apart():
    settings = ShadowSettings.from_env(shadow_env("s3://b/m", SHADOW_SAMPLE_PERCENT="12.5"))
    assert settings == ShadowSettings("s3://b/m", SHADOW, 12.5, None)


def test_in_test_run_the_shadow_is_not_scored(shadow_dir):
    """TEST_RUN answers with the champion's predictions and publishes nothing: a shadow
    predict there would be work nobody sees."""
    svc = service(ScriptedSender(), shadow_env(shadow_dir), settings={"test_run": True})
    calls = []
    predictor = svc._shadow.model.predictor
    original = predictor.predict
    object.__setattr__(predictor, "predict", lambda x: calls.append(len(x)) or original(x))
    response = svc.handle(rides(5), LocalContext())
    assert len(response["predictions"]) == 5 and calls == []
    svc.settings = dataclasses.replace(svc.settings, test_run=False)
    svc.handle(rides(5), LocalContext())
    assert calls == [5]  # the same service scores it once it publishes
