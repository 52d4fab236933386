"""The shadow model through Kinesis (moto, or LocalStack in its suite): the local event
source mapping invokes the real handler, which publishes the champion's and the
shadow's predictions to their streams."""

from __future__ import annotations

import json
import shutil
import uuid
from collections import Counter
from pathlib import Path

import pytest

from streaming.consumer.config import Settings, ShadowSettings
from streaming.consumer.handler import build_service
from streaming.consumer.kinesis_client import make_kinesis_client
from streaming.consumer.shadow import ShadowDisabled
from tests.support.fault_proxy import FaultProxy
from tests.support.models import shipped_model_as
from tests.support.rides import ride_bytes
from tests.support.streams import put, read_json, run_to_idle

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RIDES = 120


@pytest.fixture(scope="module")
def shadow_dir(tmp_path_factory) -> Path:
    """The shipped model under another version: a shadow whose answers are known."""
    return shipped_model_as(tmp_path_factory.mktemp("shadow"), "challenger-7")


@pytest.fixture
def shadow_streams(new_stream):
    tag = uuid.uuid4().hex[:8]
    return {
        "input": new_stream(f"in-{tag}", 2),
        "predictions": new_stream(f"pred-{tag}", 2),
        "shadow": new_stream(f"shadow-{tag}", 2),
        "dead_letters": new_stream(f"dlq-{tag}", 1),
    }


def consume(kinesis, streams, endpoint, shadow: Path | str | None, **settings):
    """Run the mapping over the input with the real handler; return (service, stats)."""
    shadow_settings = (
        ShadowSettings(str(shadow), streams["shadow"], settings.pop("percent", 100.0))
        if shadow is not None
        else None
    )
    service = build_service(
        Settings(
            predictions_stream=streams["predictions"],
            dead_letter_stream=streams["dead_letters"],
            kinesis_endpoint_url=endpoint,
            shadow=shadow_settings,
            **settings,
        )
    )
    results = []

    def handler(event, context):
        result = service.process(event, context)
        results.append(result)
        return result.response()

    mapping = run_to_idle(kinesis, streams["input"], handler, batch_size=50)
    return service, mapping, results


def put_rides(kinesis, stream) -> None:
    put(kinesis, stream, [ride_bytes(i) for i in range(RIDES)] + [b"not json"])


def by_source(kinesis, stream) -> dict[str, dict]:
    out = {}
    for _, event in read_json(kinesis, stream):
        out[json.dumps(event["source"], sort_keys=True)] = event
    return out


def test_each_ride_has_one_champion_and_one_shadow_prediction(
    kinesis, moto_endpoint, shadow_streams, shadow_dir
):
    put_rides(kinesis, shadow_streams["input"])
    _, mapping, _ = consume(kinesis, shadow_streams, moto_endpoint, shadow_dir)
    champion = read_json(kinesis, shadow_streams["predictions"])
    shadow = read_json(kinesis, shadow_streams["shadow"])
    assert len(champion) == len(shadow) == RIDES  # exactly one each, no duplicates
    sources = Counter(json.dumps(e["source"], sort_keys=True) for _, e in champion)
    assert sources == Counter(json.dumps(e["source"], sort_keys=True) for _, e in shadow)
    assert {e["version"] for _, e in shadow} == {"challenger-7"}
    assert len(read_json(kinesis, shadow_streams["dead_letters"])) == 1
    assert mapping.stats.discarded_records == 0


def test_the_champion_stream_is_what_it_is_without_a_shadow(
    kinesis, moto_endpoint, new_stream, shadow_streams, shadow_dir
):
    put_rides(kinesis, shadow_streams["input"])
    consume(kinesis, shadow_streams, moto_endpoint, shadow_dir)
    with_shadow = by_source(kinesis, shadow_streams["predictions"])
    alone = dict(shadow_streams, predictions=new_stream(f"alone-{uuid.uuid4().hex[:6]}", 2))
    consume(kinesis, alone, moto_endpoint, None)
    without = by_source(kinesis, alone["predictions"])
    assert with_shadow == without


def test_a_broken_shadow_leaves_the_champion_fully_working(
    kinesis, moto_endpoint, shadow_streams, shadow_dir, tmp_path
):
    broken = tmp_path / "broken"
    shutil.copytree(shadow_dir, broken)
    metadata = json.loads((broken / "metadata.json").read_text())
    metadata["weights"]["sha256"] = "0" * 64
    (broken / "metadata.json").write_text(json.dumps(metadata))
    put_rides(kinesis, shadow_streams["input"])
    service, mapping, results = consume(kinesis, shadow_streams, moto_endpoint, broken)
    assert isinstance(service._shadow, ShadowDisabled) and "sha256" in service._shadow.reason
    assert len(read_json(kinesis, shadow_streams["predictions"])) == RIDES
    assert read_json(kinesis, shadow_streams["shadow"]) == []
    assert all(r.shadow.disabled for r in results)
    assert mapping.stats.function_errors == 0 and mapping.stats.partial_failures == 0


def test_a_throttled_shadow_stream_loses_shadow_records_only_and_counts_them(
    moto_endpoint, shadow_streams, shadow_dir
):
    kinesis = make_kinesis_client(moto_endpoint)
    put_rides(kinesis, shadow_streams["input"])
    with FaultProxy(moto_endpoint, seed=3) as proxy:
        proxy.throttle_share = 0.5
        proxy.throttle_streams = {shadow_streams["shadow"]}
        client = make_kinesis_client(proxy.url)
        _, mapping, results = consume(
            client, shadow_streams, proxy.url, shadow_dir, publish_max_attempts=1
        )
    champion = read_json(kinesis, shadow_streams["predictions"])
    shadow = read_json(kinesis, shadow_streams["shadow"])
    assert len(champion) == RIDES  # every champion prediction, first time
    assert mapping.stats.partial_failures == 0 and mapping.stats.function_errors == 0
    unpublished = sum(r.shadow.unpublished for r in results)
    assert unpublished > 0 and len(shadow) + unpublished == RIDES
    assert proxy.entries_throttled == unpublished
