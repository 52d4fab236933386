"""``streaming evaluate --compare``: the paired statistics, the joins and the verdict.

Synthetic rides with a known truth: the bootstrap interval must cover the true
difference about as often as it says, duplicates and one-sided rides must be
left out and counted, the rule must decide as written, and nothing a producer
can put on a stream may crash the comparison.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streaming.commandline.errors import run_command
from streaming.downstream import finished as finished_events
from streaming.downstream.predictions import NOT_JSON, Actual
from streaming.tools import compare, compare_report, evaluate
from streaming.tools.compare import (
    KEEP,
    NOT_ENOUGH,
    PROMOTE,
    Rides,
    Rule,
    bootstrap_sums,
    error_columns,
    pair,
    paired_summary,
    paired_t_test,
    parse_side,
    verdict,
)
from tests.conftest import DATA
from tests.support.budget import examples
from tests.support.strategies import HUGE, iso_datetimes, json_values, ride_ids


def event(ride_id, minutes, seq=None, version="v1", sub=None):
    """A prediction event as the consumer publishes it (``seq``: its input record)."""
    out = {
        "model": "ride_duration_prediction_model",
        "version": version,
        "prediction": {"ride_duration": minutes, "ride_id": ride_id},
    }
    if seq is not None:
        out["source"] = {"eventID": f"shardId-000000000000:{seq:056d}"}
        if sub is not None:
            out["source"]["subSequenceNumber"] = sub
    return out


def rides_of(actual, champion, shadow, hour=None, group=None):
    n = len(actual)
    return Rides(
        np.asarray(actual, dtype=np.float64),
        np.asarray(champion, dtype=np.float64),
        np.asarray(shadow, dtype=np.float64),
        np.asarray(hour if hour is not None else [-1] * n, dtype=np.int64),
        np.asarray(group if group is not None else ["unknown"] * n, dtype=object),
    )


def summary_of(rides, resamples=1000, seed=0):
    sums, _ = bootstrap_sums(error_columns(rides), [], resamples, seed)
    return paired_summary(rides, sums)


def synthetic(n, sd_champion, sd_shadow, seed, correlation=0.6):
    """Rides whose errors are normal with known SDs (so known MSEs and RMSEs), correlated
    as two models of the same rides are."""
    rng = np.random.default_rng(seed)
    common = rng.normal(size=n)
    own_c, own_s = rng.normal(size=n), rng.normal(size=n)
    r = math.sqrt(correlation)
    err_c = sd_champion * (r * common + math.sqrt(1 - correlation) * own_c)
    err_s = sd_shadow * (r * common + math.sqrt(1 - correlation) * own_s)
    actual = rng.uniform(5, 40, size=n)
    return rides_of(actual, actual + err_c, actual + err_s)


# -- the statistics ------------------------------------------------------------------


@pytest.mark.slow  # 40 samples, 1,000 resamples each: seconds
def test_bootstrap_interval_covers_the_true_difference():
    """Over 40 independent samples the 95% intervals of the RMSE and MSE differences
    cover the population values about 95% of the time (binomial: 34 or more)."""
    sd_c, sd_s = 5.0, 4.6
    true_rmse, true_mse = sd_s - sd_c, sd_s**2 - sd_c**2
    covered_rmse = covered_mse = 0
    for seed in range(40):
        s = summary_of(synthetic(1500, sd_c, sd_s, seed), resamples=1000, seed=seed)
        low, high = s["rmse_difference"]["ci95"]
        covered_rmse += low <= true_rmse <= high
        low, high = s["squared_error_difference"]["ci95"]
        covered_mse += low <= true_mse <= high
    assert covered_rmse >= 34 and covered_mse >= 34, (covered_rmse, covered_mse)


def test_interval_is_paired_hence_narrower_than_unpaired():
    """Two models that err alike on the same rides: the paired interval is far narrower
    than that of the same errors with the pairing broken (shadow errors shuffled)."""
    rides = synthetic(3000, 5.0, 4.9, seed=1, correlation=0.95)
    shuffled = np.random.default_rng(0).permutation(rides.shadow - rides.actual)
    unpaired = rides_of(rides.actual, rides.champion, rides.actual + shuffled)
    low, high = summary_of(rides)["rmse_difference"]["ci95"]
    u_low, u_high = summary_of(unpaired)["rmse_difference"]["ci95"]
    assert high - low < (u_high - u_low) / 2


def test_bootstrap_is_repeatable_and_the_seed_matters():
    rides = synthetic(500, 5.0, 4.5, seed=2)
    a, b = summary_of(rides, seed=7), summary_of(rides, seed=7)
    assert a["rmse_difference"]["ci95"] == b["rmse_difference"]["ci95"]
    assert summary_of(rides, seed=8)["rmse_difference"]["ci95"] != a["rmse_difference"]["ci95"]


def test_group_intervals_from_the_shared_resamples():
    """A group where the shadow is better and one where it is worse: each interval says so."""
    better = synthetic(2000, 6.0, 4.0, seed=3)
    worse = synthetic(2000, 4.0, 6.0, seed=4)
    rides = rides_of(
        np.concatenate([better.actual, worse.actual]),
        np.concatenate([better.champion, worse.champion]),
        np.concatenate([better.shadow, worse.shadow]),
        hour=[8] * 2000 + [17] * 2000,
    )
    _, [by_hour] = bootstrap_sums(error_columns(rides), [rides.hour], 1000, 0)
    assert set(by_hour) == {8, 17}
    assert np.all(by_hour[8][:, 3] + by_hour[17][:, 3] == 4000)  # every ride in one group
    morning = paired_summary(rides.subset(rides.hour == 8), by_hour[8])
    evening = paired_summary(rides.subset(rides.hour == 17), by_hour[17])
    assert morning["rmse_difference"]["ci95"][1] < 0 < evening["rmse_difference"]["ci95"][0]


def test_paired_t_test_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    diff = np.random.default_rng(5).normal(0.3, 2.0, size=200)
    mine = paired_t_test(diff)
    theirs = stats.ttest_rel(diff, np.zeros_like(diff))
    assert mine["t"] == pytest.approx(theirs.statistic)
    assert mine["p"] == pytest.approx(theirs.pvalue)


def test_paired_t_test_without_scipy_uses_the_normal(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_scipy(name, *args, **kwargs):
        if name.startswith("scipy"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_scipy)
    result = paired_t_test(np.random.default_rng(6).normal(0.3, 2.0, size=200))
    assert result["p"] == pytest.approx(math.erfc(abs(result["t"]) / math.sqrt(2)))


@pytest.mark.slow  # 200 million draws: seconds
def test_bootstrap_of_100k_rides_is_fast():
    import time

    rides = synthetic(100_000, 5.0, 4.9, seed=9)
    groups = np.random.default_rng(1).integers(0, 24, size=100_000)
    started = time.process_time()
    bootstrap_sums(error_columns(rides), [groups], 2000, 0)
    assert time.process_time() - started < 30  # a few seconds; generous for loaded CI


# -- duplicates and pairing ----------------------------------------------------------


def test_duplicates_by_source_keep_the_first():
    side = parse_side([event(1, 10.0, seq=1), event(1, 99.0, seq=1), event(2, 5.0, seq=2)])
    assert [(p.ride_id, p.minutes) for p in side.predictions] == [(1, 10.0), (2, 5.0)]
    assert side.counts["duplicate_source"] == 1


def test_sub_sequence_numbers_are_different_records():
    side = parse_side([event(1, 10.0, seq=1, sub=0), event(2, 11.0, seq=1, sub=1)])
    assert len(side.predictions) == 2 and side.counts["duplicate_source"] == 0


def test_a_replayed_ride_of_the_same_version_counts_once():
    """A replay gives the record a new source; the same ride and model version is the
    same prediction again."""
    side = parse_side([event(1, 10.0, seq=1), event(1, 12.0, seq=9)])
    assert [p.minutes for p in side.predictions] == [10.0]
    assert side.counts["duplicate_ride"] == 1
    redeployed = parse_side([event(1, 10.0, seq=1), event(1, 12.0, seq=9, version="v2")])
    assert len(redeployed.predictions) == 2  # another version: kept, pairing decides


def test_pairing_prefers_the_same_input_record():
    """The champion scored ride 1 twice (two versions, two records); the shadow scored
    the second record: they are compared on that one."""
    champion = parse_side([event(1, 10.0, seq=1), event(1, 12.0, seq=2, version="v2")])
    shadow = parse_side([event(1, 11.0, seq=2, version="s")])
    pairs = pair(champion, shadow)
    assert pairs.minutes == {1: (12.0, 11.0)} and pairs.by_source == 1


def test_pairing_falls_back_to_the_ride_id():
    """The shadow's copy came from a replay: another source, the same ride."""
    champion = parse_side([event(1, 10.0, seq=1), event("a", 3.0, seq=2)])
    shadow = parse_side([event(1, 11.0, seq=7, version="s"), event("a", 4.0)])
    pairs = pair(champion, shadow)
    assert pairs.minutes == {1: (10.0, 11.0), "a": (3.0, 4.0)} and pairs.by_source == 0


def test_rides_only_one_model_scored_are_counted_not_used():
    champion = parse_side([event(i, 10.0, seq=i) for i in range(10)])
    shadow = parse_side([event(i, 9.0, seq=i, version="s") for i in range(5, 13)])
    actuals = {i: Actual(10.0) for i in range(13)}
    report = compare.compare(champion, shadow, actuals, rule=Rule(min_rides=1, resamples=100))
    assert report["rides"]["scored_by_both"] == 5
    assert report["rides"]["only_champion"] == 5 and report["rides"]["only_shadow"] == 3
    assert report["overall"]["rides"] == 5


def test_ride_ids_5_and_text_5_are_different_rides():
    pairs = pair(parse_side([event(5, 1.0)]), parse_side([event("5", 2.0)]))
    assert pairs.minutes == {} and pairs.only_champion == 1 and pairs.only_shadow == 1


def test_no_ride_scored_by_both_is_an_error():
    with pytest.raises(compare.NoPairs, match="no ride was scored by both"):
        compare.compare(parse_side([event(1, 1.0)]), parse_side([event(2, 1.0)]), {})


def test_rides_not_finished_yet_are_counted():
    champion = parse_side([event(i, 10.0, seq=i) for i in range(20)])
    shadow = parse_side([event(i, 9.0, seq=i, version="s") for i in range(20)])
    actuals = {i: Actual(9.0) for i in range(12)}
    report = compare.compare(champion, shadow, actuals, rule=Rule(min_rides=100))
    assert report["rides"]["not_finished"] == 8 and report["rides"]["compared"] == 12
    assert report["verdict"] == NOT_ENOUGH


# -- the verdict -----------------------------------------------------------------------


def summary(n, estimate, ci, gain):
    return {
        "rides": n,
        "rmse_difference": {"estimate": estimate, "ci95": ci},
        "relative_improvement": gain,
    }


@pytest.mark.parametrize(
    ("case", "n", "estimate", "ci", "gain", "rule", "expected"),
    [
        ("clearly better", 5000, -0.5, [-0.6, -0.4], 0.09, Rule(), PROMOTE),
        ("better, exactly the threshold", 5000, -0.05, [-0.08, -0.02], 0.01, Rule(), PROMOTE),
        ("better but below the threshold", 5000, -0.03, [-0.05, -0.01], 0.005, Rule(), KEEP),
        ("threshold 0: any sure gain", 5000, -0.03, [-0.05, -0.01], 0.005,
         Rule(min_improvement=0.0), PROMOTE),
        ("interval includes 0", 5000, -0.2, [-0.4, 0.01], 0.04, Rule(), KEEP),
        ("interval touches 0", 5000, -0.2, [-0.4, 0.0], 0.04, Rule(), KEEP),
        ("worse", 5000, 0.5, [0.4, 0.6], -0.09, Rule(), KEEP),
        ("too few rides", 999, -0.5, [-0.6, -0.4], 0.09, Rule(), NOT_ENOUGH),
        ("exactly the minimum", 1000, -0.5, [-0.6, -0.4], 0.09, Rule(), PROMOTE),
        ("own minimum", 400, -0.5, [-0.6, -0.4], 0.09, Rule(min_rides=300), PROMOTE),
        ("no rides", 0, None, None, None, Rule(), NOT_ENOUGH),
        ("no interval", 5, -0.5, None, 0.09, Rule(min_rides=1), KEEP),
    ],
)  # fmt: skip
def test_verdict_rule_table(case, n, estimate, ci, gain, rule, expected):
    decision, reason = verdict(summary(n, estimate, ci, gain), rule)
    assert decision == expected, case
    assert reason


def test_equal_models_keep():
    rides = synthetic(3000, 5.0, 5.0, seed=11)
    same = rides_of(rides.actual, rides.champion, rides.champion)
    s = summary_of(same)
    assert s["rmse_difference"]["ci95"] == [0.0, 0.0]
    assert s["squared_error_difference"]["p"] == 1.0
    decision, reason = verdict(s, Rule())
    assert decision == KEEP and "includes 0" in reason


def test_the_rule_is_said_in_the_report():
    text = Rule(min_rides=500, min_improvement=0.02, resamples=300, seed=4).describe()
    for words in ("500 rides", "2%", "300 resamples", "seed 4", "below 0", NOT_ENOUGH):
        assert words in text


# -- hostile input ---------------------------------------------------------------------


HOSTILE = [
    NOT_JSON,
    None,
    5,
    "text",
    [1, 2],
    {},
    {"prediction": None},
    {"prediction": {"ride_id": 1}},
    {"prediction": {"ride_duration": 5.0}},
    {"prediction": {"ride_id": 1, "ride_duration": float("nan")}},
    {"prediction": {"ride_id": 1, "ride_duration": float("inf")}},
    {"prediction": {"ride_id": 1, "ride_duration": "12"}},
    {"prediction": {"ride_id": 1, "ride_duration": True}},
    {"prediction": {"ride_id": 1, "ride_duration": HUGE}},
    {"prediction": {"ride_id": 1, "ride_duration": 1e308}},
    {"prediction": {"ride_id": True, "ride_duration": 5.0}},
    {"prediction": {"ride_id": 10**30, "ride_duration": 5.0}},
    {"prediction": {"ride_id": "", "ride_duration": 5.0}},
    {"prediction": {"ride_id": "x" * 257, "ride_duration": 5.0}},
    {"prediction": {"ride_id": 1.5, "ride_duration": 5.0}},
    {"prediction": {"ride_id": [1], "ride_duration": 5.0}},
]


def test_hostile_predictions_are_counted_never_fatal():
    side = parse_side([*HOSTILE, event(7, 10.0, seq=1, version=["not", "text"])])
    assert side.counts["events"] == len(HOSTILE) + 1
    assert side.counts["not_json"] == 1
    assert side.counts["not_a_prediction"] == 6
    assert side.counts["bad_ride_id"] == 7 and side.counts["bad_ride_duration"] == 7
    assert [p.ride_id for p in side.predictions] == [7]  # its odd version: None
    assert side.predictions[0].version is None


def test_odd_sources_are_matched_on_the_ride_id():
    odd = [
        {"eventID": 5},
        {"eventID": "x" * 600},
        {"eventID": "shardId-1:1", "subSequenceNumber": -1},
        {"eventID": "shardId-1:1", "subSequenceNumber": True},
        {"eventID": "shardId-1:1", "subSequenceNumber": 2**64},
        "shardId-1:1",
    ]
    items = [{**event(i, 1.0), "source": source} for i, source in enumerate(odd)]
    side = parse_side(items)
    assert len(side.predictions) == len(odd)
    assert all(p.source is None for p in side.predictions)


prediction_like = st.fixed_dictionaries(
    {},
    optional={
        "version": json_values,
        "source": json_values | st.fixed_dictionaries({"eventID": st.text(max_size=20)}),
        "prediction": json_values
        | st.fixed_dictionaries(
            {},
            optional={
                "ride_id": ride_ids,
                "ride_duration": json_values | st.floats() | st.integers(-HUGE, HUGE),
            },
        ),
    },
)


@examples(150)
@given(
    champion=st.lists(prediction_like | json_values | st.just(NOT_JSON), max_size=12),
    shadow=st.lists(prediction_like | json_values | st.just(NOT_JSON), max_size=12),
)
def test_any_events_compare_or_say_no_pairs(champion, shadow):
    left, right = parse_side(champion), parse_side(shadow)
    actuals = {p.ride_id: Actual(10.0, 3, 132) for p in left.predictions[::2]}
    try:
        report = compare.compare(
            left, right, actuals, zones={132: "airports"}, rule=Rule(min_rides=1, resamples=100)
        )
    except compare.NoPairs:
        return
    json.dumps(report, allow_nan=False)  # valid JSON, whatever came in
    compare_report.format_report(report)
    assert report["rides"]["compared"] + report["rides"]["not_finished"] == len(
        pair(left, right).minutes
    )


# -- ride_finished events --------------------------------------------------------------


def finished(**fields):
    return {"event": "ride_finished", "version": 1, **fields}


def test_finished_events_give_durations_hours_and_zones():
    actuals, counts = finished_events.read_finished(
        [
            finished(ride_id=1, duration_minutes=12.5),
            finished(
                ride_id=2,
                pickup_datetime="2023-02-01T08:10:00",
                dropoff_datetime="2023-02-01T08:40:30",
                PULocationID=132,
            ),
            finished(  # offsets: 13:00Z is 08:00 in New York
                ride_id="app-3",
                pickup_datetime="2023-02-01T13:00:00Z",
                dropoff_datetime="2023-02-01T08:20:00-05:00",
            ),
            finished(ride_id=1, duration_minutes=99.0),  # finished again: the first counts
        ]
    )
    assert actuals[1] == Actual(12.5)
    assert actuals[2] == Actual(30.5, 8, 132)
    assert actuals["app-3"] == Actual(20.0, 8)
    assert counts["duplicate"] == 1 and counts["used"] == 3 and counts["events"] == 4


def test_a_ride_across_the_dst_change_is_timed_by_the_clock_not_the_wall():
    """New York, 2023-03-12: 01:30 to 03:30 on the wall is one hour."""
    actuals, _ = finished_events.read_finished(
        [
            finished(
                ride_id=1,
                pickup_datetime="2023-03-12T01:30:00",
                dropoff_datetime="2023-03-12T03:30:00",
            )
        ]
    )
    assert actuals[1].minutes == 60.0


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        (NOT_JSON, "not_json"),
        ({"ride_id": 1, "duration_minutes": 5}, "not_ride_finished"),
        ({"event": "ride_started", "ride_id": 1, "duration_minutes": 5}, "not_ride_finished"),
        ([1], "not_ride_finished"),
        (finished(version=2, ride_id=1, duration_minutes=5), "unknown_version"),
        (finished(version=True, ride_id=1, duration_minutes=5), "unknown_version"),
        (finished(ride_id=True, duration_minutes=5), "bad_ride_id"),
        (finished(ride_id=2**70, duration_minutes=5), "bad_ride_id"),
        (finished(duration_minutes=5), "bad_ride_id"),
        (finished(ride_id=1, duration_minutes=-1), "bad_duration"),
        (finished(ride_id=1, duration_minutes=1441), "bad_duration"),
        (finished(ride_id=1, duration_minutes=float("nan")), "bad_duration"),
        (finished(ride_id=1, duration_minutes=HUGE), "bad_duration"),
        (finished(ride_id=1, duration_minutes="5"), "bad_duration"),
        (finished(ride_id=1), "no_duration"),
        (finished(ride_id=1, dropoff_datetime="2023-02-01T08:00:00"), "no_pickup_time"),
        (
            finished(
                ride_id=1, pickup_datetime="2023-02-01T09:00", dropoff_datetime="2023-02-01T08:00"
            ),
            "bad_duration",
        ),
        (
            finished(
                ride_id=1, pickup_datetime="2023-02-01T08:00", dropoff_datetime="2023-02-03T08:00"
            ),
            "bad_duration",
        ),
        (finished(ride_id=1, pickup_datetime="2023-02-01", dropoff_datetime="9999-12-31"),
         "bad_time"),
        (finished(ride_id=1, pickup_datetime="yesterday", duration_minutes=5), "bad_time"),
        (finished(ride_id=1, pickup_datetime="2023-02-01" + " " * 70, duration_minutes=5),
         "bad_time"),
        (finished(ride_id=1, pickup_datetime=5, duration_minutes=5), "bad_time"),
        (finished(ride_id=1, duration_minutes=5, PULocationID=0), "bad_zone"),
        (finished(ride_id=1, duration_minutes=5, PULocationID=2**31), "bad_zone"),
        (finished(ride_id=1, duration_minutes=5, PULocationID="132"), "bad_zone"),
        (finished(ride_id=1, duration_minutes=5, PULocationID=True), "bad_zone"),
    ],
)  # fmt: skip
def test_bad_finished_events_are_counted_by_reason(item, reason):
    actuals, counts = finished_events.read_finished([item])
    assert actuals == {} and counts[reason] == 1


@examples(150)
@given(
    st.lists(
        st.fixed_dictionaries(
            {"event": st.just("ride_finished") | json_values},
            optional={
                "version": json_values,
                "ride_id": ride_ids,
                "pickup_datetime": iso_datetimes() | json_values,
                "dropoff_datetime": iso_datetimes() | json_values,
                "duration_minutes": json_values | st.floats(),
                "PULocationID": json_values,
            },
        )
        | json_values,
        max_size=10,
    )
)
def test_any_finished_events_are_bounded_or_counted(items):
    actuals, counts = finished_events.read_finished(items)
    assert counts["events"] == len(items)
    assert sum(v for k, v in counts.items() if k not in ("events", "used")) + len(actuals) == len(
        items
    )
    for actual in actuals.values():
        assert 0 <= actual.minutes <= 1440
        assert actual.hour is None or 0 <= actual.hour < 24


def test_json_lines_count_what_is_not_json(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(
        b"\n".join(
            [
                json.dumps(event(1, 10.0, seq=1)).encode(),
                b"not json",
                b"\xff\xfe broken utf-8",
                b'{"prediction": {"ride_id": 2, "ride_duration": NaN}}',
                b"[" * 100_000,  # deeper than any parser goes
                b"1" * 5000,  # beyond Python's digit limit
                b"x" * (finished_events.MAX_LINE_BYTES + 10),
                b"   ",
                json.dumps(event(3, 11.0, seq=3)).encode(),
            ]
        )
    )
    side = parse_side(finished_events.json_lines(path))
    assert [p.ride_id for p in side.predictions] == [1, 3]
    assert side.counts["not_json"] == 6 and side.counts["events"] == 8


def test_stream_items_unpack_kpl_aggregates():
    from tests.support.kpl_build import aggregate

    raw = aggregate(
        ["k"], [(0, json.dumps(finished(ride_id=i, duration_minutes=5)).encode()) for i in range(3)]
    )
    items = list(finished_events.stream_items([{"Data": raw}, {"Data": b"nope"}]))
    actuals, counts = finished_events.read_finished(items)
    assert sorted(actuals) == [0, 1, 2] and counts["not_json"] == 1


# -- zone groups and the report --------------------------------------------------------


def test_zone_groups_of_the_tlc_lookup():
    groups = compare.load_zone_groups(DATA / "taxi_zone_lookup.csv")
    assert groups[132] == groups[138] == groups[1] == "airports"  # JFK, LaGuardia, Newark
    assert groups[4] == "Manhattan" and groups[3] == "outer boroughs"
    assert 264 not in groups  # "Unknown"
    assert compare.load_zone_groups(DATA / "no-such.csv") == {}


def small_report(**rule):
    rng = np.random.default_rng(12)
    n = 400
    truth = rng.uniform(5, 30, n)
    champion = parse_side([event(i, float(truth[i] + rng.normal(0, 4)), seq=i) for i in range(n)])
    shadow = parse_side(
        [event(i, float(truth[i] + rng.normal(0, 2)), seq=i, version="s") for i in range(n)]
    )
    zones = [4, 3, 132, 264]
    actuals = {i: Actual(float(truth[i]), i % 24, zones[i % 4]) for i in range(n)}
    groups = compare.load_zone_groups(DATA / "taxi_zone_lookup.csv")
    return compare.compare(champion, shadow, actuals, zones=groups, rule=Rule(**rule))


def test_report_has_the_breakdowns_and_says_the_rule():
    report = small_report(min_rides=100, resamples=200)
    assert report["verdict"] == PROMOTE
    assert [row["hour"] for row in report["by_hour"]] == list(range(24))
    assert [row["zone_group"] for row in report["by_zone_group"]] == [
        "Manhattan",
        "outer boroughs",
        "airports",
        "unknown",
    ]
    assert report["by_hour"][0]["rmse_difference"]["ci95"] is None  # 17 rides: no interval
    assert report["by_zone_group"][0]["rmse_difference"]["ci95"] is not None
    text = compare_report.format_report(report)
    assert "verdict: PROMOTE" in text and report["rule"]["text"] in text
    assert "by pickup hour" in text and "outer boroughs" in text and "(minutes)" in text


# -- the command line (no emulator: files only) --------------------------------------


def write_jsonl(path, items):
    path.write_text("".join(json.dumps(i) + "\n" for i in items))
    return str(path)


def test_cli_compare_on_files(tmp_path, capsys):
    rng = np.random.default_rng(13)
    n = 300
    truth = rng.uniform(5, 30, n)
    champion = write_jsonl(
        tmp_path / "c.jsonl",
        [event(i, float(truth[i] + rng.normal(0, 4)), seq=i) for i in range(n)],
    )
    shadow = write_jsonl(
        tmp_path / "s.jsonl",
        [event(i, float(truth[i] + rng.normal(0, 2)), seq=i, version="s") for i in range(n)],
    )
    done = write_jsonl(
        tmp_path / "f.jsonl",
        [finished(ride_id=i, duration_minutes=float(truth[i])) for i in range(n - 20)],
    )
    args = ["--compare", "--predictions", champion, "--shadow", shadow, "--finished", done]
    assert evaluate.main([*args, "--min-rides", "100", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["verdict"] == PROMOTE and report["rides"]["not_finished"] == 20
    assert report["actuals"]["source"].startswith("--finished")
    assert evaluate.main([*args, "--min-rides", "1000"]) == 0
    assert "verdict: NOT ENOUGH RIDES YET" in capsys.readouterr().out
    assert evaluate.main([*args, "--min-rides", "100", "--min-improvement", "60%"]) == 0
    assert "verdict: KEEP" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--predictions", "{c}", "--compare"], "--shadow"),
        (["--predictions", "{c}", "--shadow", "{c}"], "--compare"),
        (["--predictions", "{c}", "--finished", "{c}"], "--compare"),
        (["--predictions", "{c}", "--min-improvement", "2"], "--compare"),
        (["--compare", "--predictions", "{c}", "--shadow", "{c}", "--model", "{tmp}"], "--model"),
        (["--compare", "--predictions", "{c}", "--shadow", "{c}", "--min-improvement", "100"],
         "below 100"),
        (["--compare", "--predictions", "{c}", "--shadow", "{c}", "--resamples", "5"], "100-"),
        (["--compare", "--predictions", "{c}", "--shadow", "{c}", "--seed", "-1"], "seed"),
        (["--compare", "--predictions", "{c}", "--shadow", "{c}", "--finished", "{c}",
          "--month", "2023-02"], "not allowed"),
        (["--compare", "--predictions", "{c}", "--shadow", "{tmp}/none.jsonl"], "does not exist"),
        (["--compare", "--predictions", "{c}", "--shadow", "{junk}"], "no prediction events"),
        (["--compare", "--predictions", "{c}", "--shadow", "{c}", "--finished", "{junk}"],
         "no valid ride_finished"),
        (["--compare", "--predictions", "{c}", "--shadow", "{other}"],
         "no ride was scored by both"),
        (["--compare", "--predictions", "{c}", "--shadow", "{c}", "--data-dir", str(DATA)],
         "none of the 1 rides"),
    ],
)  # fmt: skip
def test_cli_mistakes_are_one_line(tmp_path, capsys, argv, says):
    files = {
        "c": write_jsonl(tmp_path / "c.jsonl", [event("app-1", 10.0, seq=1)]),
        "other": write_jsonl(tmp_path / "o.jsonl", [event("app-2", 10.0, seq=2)]),
        "junk": str(tmp_path / "junk.csv"),
        "tmp": str(tmp_path),
    }
    (tmp_path / "junk.csv").write_text("a,b\n1,2\n")
    code = run_command("evaluate", evaluate.main, [a.format(**files) for a in argv])
    err = capsys.readouterr().err
    assert code in (1, 2)
    [line] = err.splitlines()
    assert line.startswith("streaming evaluate: ") and says in line, line
