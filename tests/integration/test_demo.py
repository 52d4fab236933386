"""``make run``'s program, end to end, in a fresh interpreter."""

from __future__ import annotations

import pytest

from tests.support.cli import cli_summary

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_demo_accounts_for_every_ride():
    summary = cli_summary("demo", "--rides", "300", "--json")
    assert summary["rides_sent"] == 300
    assert summary["unique_predictions"] == 300 and summary["rides_without_prediction"] == 0
    assert summary["dead_letters"] == summary["malformed_sent"] == 3
    assert summary["on_failure_records"] == 0
    assert 2.0 < summary["rmse_minutes"] < 7.0  # real durations of an unseen month
