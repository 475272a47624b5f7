"""The reports against their contract: bounded length, cut lists that say where the rest is, words for no figure."""

from __future__ import annotations

import re
from pathlib import Path

import send_exec_reports as ser

from .test_readers import REPORTS, flat, metrics_of


def _partial_and_missing(n: int) -> list[str]:
    """n entities: half burning over two of the three months (covered in part), half with no figures."""
    docs = []
    for i in range(n):
        head = f"entity: E{i:04d}\nstatus: active\nupdated: 2026-11-20\ncash: {1000 + i}\n"
        if i % 2:
            docs.append(head)
        else:
            docs.append(head + "financials:\n  2026-09: {revenue: 100, expenses: 250}\n"
                               "  2026-10: {revenue: 100, expenses: 250}\n")
    return docs


def test_entity_names_beside_an_average_are_cut_to_the_line_bound(tmp_path: Path) -> None:
    # every average names what it leaves out or covers in part, but a few hundred names
    # must not make an email longer than the bound: they are ranked and cut like any list
    metrics = metrics_of(tmp_path, *_partial_and_missing(600))
    for r in ser.render_all([t for t in REPORTS if not t.entity], metrics):
        lines = r.text.count("\n")
        assert lines <= ser.MAX_LINES, f"{r.id}: {lines} lines"
        if r.id == "cfo":
            assert "E0000" in r.text and "E0001" in r.text  # one of each kind still named
            assert f"the whole list is in this report's full text (2026-W47/{r.id}.full.txt" in flat(r.text)
            assert "E0598" in r.full_text and "E0599" in r.full_text
