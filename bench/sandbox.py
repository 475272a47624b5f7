"""The sandbox's cost: the sample's eight reports rendered whole, sandboxed and not.

    /work/venv/bin/python bench/sandbox.py [--runs 20]

Reads the sample portfolio once, then renders its eight reports (Jinja2, Markdown, text,
every list whole, as a send does) in this process, in turns: with the tool's template
environment (Jinja2's immutable sandbox) and with the same environment on Jinja2's plain
`Environment`. Prints the medians and the difference, and appends a dated line to
bench/results.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path

import jinja2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))
from run import keep_line

import send_exec_reports as ser

AS_OF = dt.date(2026, 11, 22)


class PlainEnvironment(jinja2.Environment):
    """The tool's template environment without the sandbox: the same dict fast path, nothing checked."""

    intercepted_binops: frozenset[str] = frozenset()

    def getattr(self, obj: object, attribute: str) -> object:
        """obj.attribute: a plain dict's key first, as the tool's environment finds it."""
        if type(obj) is dict and attribute not in ser._DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)


def render_seconds(reports: list[ser.ReportTemplate], metrics: dict[str, object]) -> float:
    """Seconds to render every report whole with the environment ser._Environment names now."""
    start = time.perf_counter()
    ser.render_all(reports, metrics)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    """Measure in turns, print, keep a line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=20)
    args = p.parse_args(argv)
    reports = ser.load_reports()
    portfolio = ser.read_handoffs(ser.EXAMPLES_DIR / "handoffs")
    counts = ser.read_tables(ser.table_needs(portfolio), ser.EXAMPLES_DIR / "dynamodb")
    metrics = ser.compute_metrics(portfolio, counts, AS_OF, None)
    sandboxed = ser._Environment
    times: dict[str, list[float]] = {"sandboxed": [], "plain": []}
    load_before = os.getloadavg()[0]
    for turn in range(args.runs + 1):  # the first turn warms each side's template cache
        for name, env_class in (("sandboxed", sandboxed), ("plain", PlainEnvironment)):
            ser._Environment = env_class  # type: ignore[misc]
            took = render_seconds(reports, metrics)
            if turn:
                times[name].append(took)
    ser._Environment = sandboxed  # type: ignore[misc]
    sand, plain = (statistics.median(times[k]) for k in ("sandboxed", "plain"))
    line = (f"sample render, 8 reports whole: sandboxed {sand * 1000:.1f} ms, plain {plain * 1000:.1f} ms, "
            f"{(sand - plain) * 1000:+.1f} ms ({sand / plain - 1:+.1%})")
    print(f"{line}; median of {args.runs}, load {load_before:.2f}")
    keep_line(f", load {load_before:.1f}, median of {args.runs}: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
