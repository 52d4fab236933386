"""The command blocks of README.md and docs/runbook.md, read as the tests run them.

Rules (stated in README.md, "Every documented command is a test"):

* Every fenced ``bash`` block is run as written, in document order, by
  ``tests/integration/test_docs.py`` against an emulator.
* A block or a line that cannot run here carries a visible marker,
  ``[not run by the doc tests: <why>]``, in a comment: on the block's first line
  it skips the block, at the end of a line it skips that line.
* A block of output introduced by ``<!-- output of: <command> -->`` is what that
  command prints: the test runs the command and compares. A number written
  ``~123`` varies from run to run (a wall-clock figure) and is not compared;
  every other character is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import REPO

DOCS = ("README.md", "docs/runbook.md")
SKIP = re.compile(r"\[not run by the doc tests: ([^\]]+)\]")
_FENCE = re.compile(r"^```([\w-]*)[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
_OUTPUT_OF = re.compile(r"<!-- output of: (.+?) -->[ \t]*\n```[\w-]*[ \t]*\n(.*?)^```", re.M | re.S)
_NUMBER = r"[-+]?\d[\d,]*(?:\.\d+)?"


@dataclass(frozen=True)
class Block:
    doc: str
    line: int
    lang: str
    text: str

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.line}"

    @property
    def skip_reason(self) -> str | None:
        """Why the whole block is not run (a marker on its first line), else None."""
        first = self.text.splitlines()[0] if self.text.strip() else ""
        match = SKIP.search(first)
        return match.group(1) if match else None

    def script(self) -> str:
        """The shell script the test runs: the block without its marked lines."""
        lines = _logical_lines(self.text)
        return "\n".join(line for line in lines if not SKIP.search(line)) + "\n"

    def skipped_lines(self) -> list[str]:
        return [line for line in _logical_lines(self.text) if SKIP.search(line)]


@dataclass(frozen=True)
class Output:
    doc: str
    line: int
    command: str
    expected: str

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.line}"


def shell_blocks(doc: str) -> list[Block]:
    text = (REPO / doc).read_text()
    return [
        Block(doc, text.count("\n", 0, m.start()) + 1, m.group(1), m.group(2))
        for m in _FENCE.finditer(text)
        if m.group(1) in ("bash", "sh", "shell")
    ]


def outputs(doc: str) -> list[Output]:
    text = (REPO / doc).read_text()
    return [
        Output(doc, text.count("\n", 0, m.start()) + 1, m.group(1).strip(), m.group(2))
        for m in _OUTPUT_OF.finditer(text)
    ]


def _logical_lines(text: str) -> list[str]:
    """Lines with backslash continuations joined (a marker applies to the whole command)."""
    out: list[str] = []
    pending = ""
    for raw in text.splitlines():
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        out.append(pending + raw)
        pending = ""
    if pending:
        out.append(pending)
    return out


def output_pattern(expected: str) -> list[re.Pattern[str]]:
    """One pattern per non-empty expected line: ``~`` numbers vary, spacing is loose."""
    patterns = []
    for line in expected.splitlines():
        if not line.strip():
            continue
        words = []
        for word in line.split():
            parts = re.split(rf"~({_NUMBER})", word)  # literal, number, literal, ...
            words.append(
                "".join(_NUMBER if i % 2 else re.escape(part) for i, part in enumerate(parts))
            )
        patterns.append(re.compile(r"\s+".join(words)))
    return patterns


def find_in_output(expected: str, actual: str) -> str | None:
    """None if ``expected``'s lines appear in order, contiguously, in ``actual``; else why."""
    patterns = output_pattern(expected)
    lines = [line.strip() for line in actual.splitlines() if line.strip()]
    for start in range(len(lines) - len(patterns) + 1):
        if all(p.fullmatch(lines[start + k]) for k, p in enumerate(patterns)):
            return None
    best = 0
    for start in range(len(lines)):
        k = 0
        while (
            k < len(patterns) and start + k < len(lines) and patterns[k].fullmatch(lines[start + k])
        ):
            k += 1
        best = max(best, k)
    missing = patterns[best].pattern if best < len(patterns) else "?"
    return f"expected line {best + 1} not printed (pattern {missing!r})"


def doc_path(doc: str) -> Path:
    return REPO / doc
