"""The rules of documented commands (tests/support/docs.py), checked without running them:
every bash block of README.md and docs/runbook.md is run by tests/integration/test_docs.py
or says, visibly, why not."""

from __future__ import annotations

import pytest

from tests.support.docs import DOCS, SKIP, outputs, shell_blocks

BLOCKS = [b for doc in DOCS for b in shell_blocks(doc)]
#: what may keep a documented command from running here
REASONS = ("AWS account", "SAM CLI", "the test suite itself", "placeholder", "the Docker engine")


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_each_block_runs_or_says_why_not(block):
    reasons = [block.skip_reason] if block.skip_reason else []
    reasons += [SKIP.search(line).group(1) for line in block.skipped_lines()]
    for reason in reasons:
        assert any(r in reason for r in REASONS), f"{block.id}: unclear reason {reason!r}"
    if block.skip_reason is None:
        assert block.script().strip(), f"{block.id}: every line is skipped; mark the block"


def test_the_readme_shows_command_outputs_that_are_checked():
    shown = outputs("README.md")
    assert shown, "README.md shows no '<!-- output of: ... -->' block"
    for output in shown:
        assert output.expected.strip(), output.id
