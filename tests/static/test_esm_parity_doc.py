"""docs/esm-parity.md stays true: the tests it cites exist, and it names every mapping
option of ``streaming run`` and every AWS setting of ``MappingConfig``.

A new option or a new ``MappingConfig`` field fails here until it is either named in
the doc (a mapping setting) or listed below as local-only: the table cannot fall
behind the code without a test saying so.
"""

from __future__ import annotations

import ast
import re
from dataclasses import fields
from functools import cache

import pytest

from streaming.esm.config import MappingConfig
from streaming.tools.run import build_parser
from tests.conftest import REPO

DOC = "docs/esm-parity.md"
#: a cited test: `tests/<path>.py::test_name`
CITATION = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")
#: the heading of the table; the table is the first one after it
TABLE_HEADING = "## The table"
TABLE_COLUMNS = 5

#: options of ``streaming run`` that set the mapping (or the function setting its
#: behaviour depends on): each must be named in the doc
MAPPING_OPTIONS = {
    "--stream",  # EventSourceArn: a stream, or a consumer (enhanced fan-out)
    "--batch-size",
    "--batching-window",
    "--starting-position",
    "--starting-timestamp",
    "--max-retries",
    "--max-record-age",
    "--bisect-on-error",
    "--on-failure",
    "--report-batch-item-failures",
    "--no-report-batch-item-failures",
    "--parallelization-factor",
    "--filter-criteria",
    "--max-filters",
    "--tumbling-window",
    "--reserved-concurrency",
    "--timeout",
    "--emf",  # MetricsConfig EventCount and IteratorAge, as EMF
    "--provisioned-pollers",
    "--maximum-concurrency",
    "--checkpoint-file",
}
#: options about the local run itself, not a setting of the mapping
LOCAL_OPTIONS = {
    "-h",
    "--help",
    "--handler",
    "--endpoint-url",
    "--region",
    "--function-name",
    "--log-file",
    "--poll-interval",
    "--stop-when-idle",
    "-v",
    "--verbose",
}
#: MappingConfig fields that are AWS settings -> the names the doc must use
AWS_NAMES = {
    "batch_size": ("BatchSize",),
    "batching_window_s": ("MaximumBatchingWindowInSeconds",),
    "starting_position": ("StartingPosition", "StartingPositionTimestamp"),
    "max_retries": ("MaximumRetryAttempts",),
    "max_record_age_s": ("MaximumRecordAgeInSeconds",),
    "bisect_on_error": ("BisectBatchOnFunctionError",),
    "report_batch_item_failures": ("FunctionResponseTypes", "ReportBatchItemFailures"),
    "parallelization_factor": ("ParallelizationFactor",),
    "tumbling_window_s": ("TumblingWindowInSeconds",),
    "filter_criteria": ("FilterCriteria",),
    "function_name": ("FunctionName",),
    # settings of the function, not of the mapping
    "reserved_concurrency": ("ReservedConcurrentExecutions",),
    "timeout_s": ("Timeout",),
}
#: MappingConfig fields of the local emulation only (no AWS setting)
LOCAL_FIELDS = {
    "region",
    "poll_interval_s",
    "retry_base_delay_s",
    "retry_max_delay_s",
    "shard_refresh_s",
}


# -- the checks, on any text (so that the last test can feed them a broken doc) --------


@cache
def defined_tests(path: str) -> frozenset[str]:
    """Names of the test functions defined in ``path`` (module level or in a class)."""
    file = REPO / path
    if not file.is_file():
        return frozenset()
    tree = ast.parse(file.read_text(encoding="utf-8"), filename=path)
    return frozenset(
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    )


def missing_tests(text: str) -> list[str]:
    """Cited ``file::test_name`` that do not exist."""
    return [
        f"{path}::{name}"
        for path, name in CITATION.findall(text)
        if name not in defined_tests(path)
    ]


def table_rows(text: str) -> list[list[str]]:
    """The cells of each row of the parity table (header and rule left out)."""
    table: list[str] = []
    for line in text[text.index(TABLE_HEADING) :].splitlines()[1:]:
        if line.startswith("|"):
            table.append(line)
        elif table:  # the first line after the table
            break
    # cells split on the pipes that are not escaped (``\|`` inside a cell)
    rows = [[c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]] for line in table]
    return rows[2:]


def row_problems(text: str) -> list[str]:
    """Rows that lack a column, an AWS link and quote, or a cited test."""
    problems = []
    for cells in table_rows(text):
        name = cells[0] if cells else "?"
        if len(cells) != TABLE_COLUMNS:
            problems.append(f"{name}: {len(cells)} columns, not {TABLE_COLUMNS}")
            continue
        _, aws, local, tests, localstack = cells
        if '"' not in aws or "](https://" not in aws:
            problems.append(f"{name}: no quoted AWS sentence with its link")
        if not CITATION.search(tests):
            problems.append(f"{name}: no `file::test_name`")
        if not local or not localstack:
            problems.append(f"{name}: an empty column")
    return problems


def named(word: str, text: str) -> bool:
    """``word`` appears in ``text`` as itself (not as part of a longer name)."""
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text) is not None


@cache
def doc() -> str:
    return (REPO / DOC).read_text(encoding="utf-8")


@cache
def run_options() -> frozenset[str]:
    parser = build_parser()
    return frozenset(option for action in parser._actions for option in action.option_strings)


# -- the tests ---------------------------------------------------------------------------


def test_every_cited_test_exists():
    cited = CITATION.findall(doc())
    assert len(cited) >= 20, f"{DOC} cites {len(cited)} tests"
    missing = missing_tests(doc())
    assert not missing, f"{DOC} cites tests that do not exist: {missing}"


def test_every_row_quotes_aws_and_cites_a_test():
    rows = table_rows(doc())
    assert len(rows) >= 20, f"{DOC}: {len(rows)} rows in the table"
    assert row_problems(doc()) == []


def test_every_option_of_run_is_classified():
    options = run_options()
    unknown = options - MAPPING_OPTIONS - LOCAL_OPTIONS
    assert not unknown, f"new options of streaming run: add them to {DOC} and MAPPING_OPTIONS"
    stale = (MAPPING_OPTIONS | LOCAL_OPTIONS) - options
    assert not stale, f"no longer options of streaming run: {sorted(stale)}"


@pytest.mark.parametrize("option", sorted(MAPPING_OPTIONS))
def test_every_mapping_option_is_named(option):
    assert named(option, doc()), f"{DOC} does not name {option}"


def test_every_field_of_mapping_config_is_classified():
    names = {f.name for f in fields(MappingConfig)}
    unknown = names - set(AWS_NAMES) - LOCAL_FIELDS
    assert not unknown, f"new MappingConfig fields: map them to their AWS names ({DOC})"
    assert (set(AWS_NAMES) | LOCAL_FIELDS) <= names, "a listed field is gone"


@pytest.mark.parametrize(
    ("field", "aws_name"), [(f, n) for f, names in AWS_NAMES.items() for n in names]
)
def test_every_aws_setting_of_mapping_config_is_named(field, aws_name):
    assert named(aws_name, doc()), f"{DOC} does not name {aws_name} (MappingConfig.{field})"


def test_the_checks_catch_a_broken_doc():
    """A misspelled test, a row without a test and a missing option are all caught."""
    real = "test_bisect_isolates_the_bad_record"
    assert f"test_runner.py::{real}`" in doc()
    broken = doc().replace(f"::{real}`", "::test_bisect_isolates_the_bad_recrod`")
    assert missing_tests(broken) == [
        "tests/integration/test_runner.py::test_bisect_isolates_the_bad_recrod"
    ]
    assert missing_tests(doc().replace("tests/unit/", "tests/nowhere/"))
    no_test = doc().replace(f"`tests/integration/test_runner.py::{real}`", "none")
    assert any("BisectBatchOnFunctionError" in p for p in row_problems(no_test))
    assert not named("--bisect-on-error", doc().replace("--bisect-on-error", "--bisect"))
