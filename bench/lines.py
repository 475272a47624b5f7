"""Render every report of a generated portfolio and print each email's line count.

    .venv/bin/python bench/lines.py [--handoffs 2000] [--keep DIR]

Checks the bound every email keeps whatever the number of handoffs (250 lines): long
lists are ranked and cut, the uncut text kept beside what is sent. Exits 1 when an
email is longer. The portfolio comes from bench/make_portfolio.py (fixed seed).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from make_portfolio import generate

import send_exec_reports as ser


def main(argv: list[str] | None = None) -> int:
    """Print one line per report: lines sent, lines of the uncut text."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--handoffs", type=int, default=2000)
    p.add_argument("--keep", type=Path)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        out = args.keep or Path(tmp)
        if not (out / "repos.env").exists():
            generate(out, args.handoffs, 9_000)
        portfolio = ser.read_handoffs(out / "handoffs")
        counts = ser.read_tables(ser.table_needs(portfolio), out / "dynamodb")
        metrics = ser.compute_metrics(portfolio, counts, dt.date(2026, 11, 22))
        worst = 0
        for r in ser.render_all(ser.load_reports(), metrics):
            sent, full = r.text.count("\n"), r.full_text.count("\n")
            worst = max(worst, sent)
            print(f"{r.id:<12} {sent:>5,} lines sent (uncut: {full:,})")
    verdict = "met" if worst <= ser.MAX_LINES else "MISSED"
    print(f"{len(portfolio.handoffs):,} handoffs: longest email {worst} lines (bound {ser.MAX_LINES}: {verdict})")
    return 0 if worst <= ser.MAX_LINES else 1


if __name__ == "__main__":
    sys.exit(main())
