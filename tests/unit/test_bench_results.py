"""bench/RESULTS.md has two writers: ``bench.run`` (the main table) and ``bench.publish``
(its section between markers). Each must keep what the other wrote."""

from __future__ import annotations

from bench.publish import BEGIN, END, write_section
from bench.run import write_keeping_section


def test_the_main_table_and_the_publishing_section_keep_each_other(tmp_path):
    path = tmp_path / "RESULTS.md"
    write_keeping_section(path, "# main table, first run\n")
    write_section(path, f"{BEGIN}\npublishing, first run\n{END}")
    write_keeping_section(path, "# main table, second run\n")
    assert path.read_text() == (
        f"# main table, second run\n\n{BEGIN}\npublishing, first run\n{END}\n"
    )
    write_section(path, f"{BEGIN}\npublishing, second run\n{END}")
    assert path.read_text() == (
        f"# main table, second run\n\n{BEGIN}\npublishing, second run\n{END}\n"
    )
