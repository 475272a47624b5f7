"""The reports as their readers get them: needs you this week, routing, the size bound."""

from __future__ import annotations

import datetime as dt
import random
import sys
import textwrap
from pathlib import Path

import pytest

import send_exec_reports as ser

from .conftest import EXAMPLES, ROOT

AS_OF = dt.date(2026, 11, 22)
REPORTS = ser.load_reports()
UNITS = {r.entity: r for r in REPORTS if r.entity}


def write_portfolio(folder: Path, docs: list[str]) -> ser.Portfolio:
    """Write each front matter as a handoff and read them back the real way."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, front in enumerate(docs):
        (folder / f"doc{i:04d}.md").write_text("---\n" + textwrap.dedent(front).strip() + "\n---\nNotes.\n")
    return ser.read_handoffs(folder)


def metrics_of(tmp_path: Path, *docs: str) -> dict:
    """Figures of hand-made handoffs, no DynamoDB tables."""
    return ser.compute_metrics(write_portfolio(tmp_path / "handoffs", list(docs)), {}, AS_OF)


def flat(text: str) -> str:
    """The text on one line, so a title wrapped over two lines is still found."""
    return " ".join(text.split())


# --- needs you this week --------------------------------------------------------


NEEDS_DOC = """
entity: Acme
status: active
updated: 2026-11-20
cash: 1000
financials:
  2026-08: {revenue: 100, expenses: 600}
  2026-09: {revenue: 100, expenses: 600}
  2026-10: {revenue: 100, expenses: 600}
security:
  - {severity: high, finding: Open bucket, fixed: false}
  - {severity: critical, finding: No login on admin, fixed: false}
  - {severity: medium, finding: Old TLS, fixed: false}
shortfalls:
  - {title: Zeta high, urgency: high, persona: cto}
  - {title: Alpha low, urgency: low, persona: CTO}
  - {title: Beta critical, urgency: critical, persona: CFO}
  - {title: Gamma high, urgency: high, persona: CFO}
actions:
  - {title: Soon P1, due: 2026-11-25, priority: 1, persona: CTO}
  - {title: Soon P3 today, due: 2026-11-22, priority: 3, persona: CTO}
  - {title: Late P2 by 2, due: 2026-11-20, priority: 2, persona: CTO}
  - {title: Late P1 by 1, due: 2026-11-21, priority: 1, persona: CTO}
  - {title: Late P2 by 9, due: 2026-11-13, priority: 2, persona: CTO}
  - {title: Late no priority, due: 2026-11-01, persona: CTO}
  - {title: Later, due: 2026-12-20, priority: 1, persona: CTO}
  - {title: Done late, due: 2026-11-01, priority: 1, persona: CTO, done: true}
"""


def test_needs_you_ranks_the_cto_items_and_cuts_at_five(tmp_path: Path) -> None:
    m = metrics_of(tmp_path, NEEDS_DOC)
    needs = ser.needs_you(m, "CTO")
    whats = [i["what"] for i in needs["items"]]
    # critical finding; overdue by priority, then the latest first; no-priority last
    assert whats == [
        "Unfixed security finding: No login on admin",
        "Late P1 by 1",
        "Late P2 by 9",
        "Late P2 by 2",
        "Late no priority",
    ]
    # cut at five; the rest still counted: high finding, high shortfall, two due within a week
    assert needs["total"] == 9
    assert [i["how"] for i in needs["items"]] == ["critical", "1 day late", "9 days late", "2 days late",
                                                   "21 days late"]


def test_needs_you_full_order_below_the_cut(tmp_path: Path) -> None:
    m = metrics_of(tmp_path, NEEDS_DOC)
    ser_shown, ser.NEEDS_YOU_SHOWN = ser.NEEDS_YOU_SHOWN, 50
    try:
        items = ser.needs_you(m, "cto")["items"]  # persona matched without regard to case
    finally:
        ser.NEEDS_YOU_SHOWN = ser_shown
    assert [i["what"] for i in items][5:] == [
        "Unfixed security finding: Open bucket",  # the CTO's security findings before other high shortfalls
        "Zeta high",
        "Soon P3 today",  # due soonest first, whatever the priority
        "Soon P1",
    ]
    assert [i["how"] for i in items][-2:] == ["due today", "due in 3 days"]
    assert len({i["id"] for i in items}) == len(items)


def test_needs_you_for_the_cfo_and_the_ceo(tmp_path: Path) -> None:
    m = metrics_of(tmp_path, NEEDS_DOC)
    cfo = ser.needs_you(m, "CFO")
    # two critical shortfalls tie on urgency and entity: by title
    assert [i["what"] for i in cfo["items"]] == ["Beta critical", "Runway 2.0 months at $500/month burn", "Gamma high"]
    ceo = ser.needs_you(m, "CEO")
    assert ceo["total"] == 12  # every persona's: 3 critical, 4 overdue, 3 high, 2 due within a week
    assert [i["how"] for i in ceo["items"]] == ["critical", "critical", "critical", "1 day late", "9 days late"]


def test_needs_you_ids_stay_the_same_when_the_runway_changes(tmp_path: Path) -> None:
    first = ser.needs_you(metrics_of(tmp_path / "a", NEEDS_DOC), "CFO")["items"]
    second = ser.needs_you(metrics_of(tmp_path / "b", NEEDS_DOC.replace("cash: 1000", "cash: 1500")), "CFO")["items"]
    assert first[1]["what"] != second[1]["what"]
    assert [i["id"] for i in first] == [i["id"] for i in second]


def test_nothing_needs_you_and_the_subject(tmp_path: Path) -> None:
    m = metrics_of(tmp_path, "entity: Calm\nstatus: active\nupdated: 2026-11-20\n", NEEDS_DOC)
    by_id = {r.id: r for r in REPORTS}
    cmo = ser.render_report(by_id["cmo"], m)
    assert cmo.subject == "Executive Report: CMO — 2026-W47"
    assert "Needs you this week\n-------------------\n\nNothing needs you this week." in cmo.text
    cto = ser.render_report(by_id["cto"], m)
    assert cto.subject == "Executive Report: CTO — 2026-W47 (9 need you)"
    assert "  - and 4 more in the sections below" in cto.text


# --- routing: nothing declared falls through --------------------------------------


PERSONAS = [r.persona for r in REPORTS]


def random_portfolio(rng: random.Random, docs: int) -> list[str]:
    """Handoffs with shortfalls and actions of every persona, urgency and due date."""
    entities = [*UNITS, "Alpha Co", "Beta LLC", "Gamma"]
    out = []
    n = 0
    for i in range(docs):
        lines = [f"entity: {rng.choice(entities)}", f"project: P{i}", "status: active", "updated: 2026-11-20",
                 "shortfalls:"]
        for _ in range(rng.randint(0, 4)):
            n += 1
            who = rng.choice([*PERSONAS, None])
            if who and rng.random() < 0.3:
                who = who.upper() if rng.random() < 0.5 else who.lower()
            lines.append(f"  - {{title: Shortfall {n:04d}, urgency: {rng.choice(ser.URGENCIES)}"
                         + (f", persona: {who}}}" if who else "}"))
        lines.append("actions:")
        for _ in range(rng.randint(0, 5)):
            n += 1
            who = rng.choice([*PERSONAS, None])
            due = AS_OF + dt.timedelta(days=rng.randint(-40, 60))
            fields = [f"title: Action {n:04d}", f"due: {due}" if rng.random() < 0.9 else None,
                      f"priority: {rng.randint(1, 5)}" if rng.random() < 0.8 else None,
                      f"persona: {who}" if who else None, f"done: {'true' if rng.random() < 0.2 else 'false'}"]
            lines.append("  - {" + ", ".join(f for f in fields if f) + "}")
        out.append("\n".join(lines))
    return out


def check_routing(metrics: dict, texts: dict[str, str]) -> int:
    """Assert where every declared shortfall and open action must appear; return how many were checked."""
    by_persona = {r.persona.casefold(): r.id for r in REPORTS}
    shown = {rid: flat(t) for rid, t in texts.items()}
    checked = 0

    def appears(title: str, rid: str) -> None:
        assert title in shown[rid], f"{title!r} is missing from the {rid} report"

    for s in metrics["shortfalls"]:
        if s["source"] != "declared":
            continue
        appears(s["title"], by_persona[(s.get("persona") or "CEO").casefold()])
        if s["urgency"] in ("critical", "high"):
            appears(s["title"], "ceo")
        if s["entity"] in UNITS:
            appears(s["title"], UNITS[s["entity"]].id)
        checked += 1
    horizon = AS_OF + dt.timedelta(days=30)
    for a in metrics["actions"]:
        if a["done"]:
            continue
        appears(a["title"], by_persona[(a.get("persona") or "CEO").casefold()])
        if a["overdue"]:
            appears(a["title"], "ceo")
        if a["entity"] in UNITS:
            appears(a["title"], UNITS[a["entity"]].id)
        if a.get("due") and a["due"] <= horizon:
            assert any(a["title"] in t for t in shown.values())
        checked += 1
    return checked


def test_routing_on_the_sample() -> None:
    portfolio = ser.read_handoffs(EXAMPLES / "handoffs")
    counts = ser.read_tables(ser.table_needs(portfolio), EXAMPLES / "dynamodb")
    metrics = ser.compute_metrics(portfolio, counts, AS_OF)
    rendered = ser.render_all(REPORTS, metrics)
    assert all(r.text == r.full_text for r in rendered)  # nothing cut in the sample
    assert check_routing(metrics, {r.id: r.text for r in rendered}) >= 40


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_routing_on_generated_portfolios(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    docs = random_portfolio(rng, 25)
    metrics = ser.compute_metrics(write_portfolio(tmp_path / "h", docs), {}, AS_OF)
    rendered = ser.render_all(REPORTS, metrics)
    # the sent text may be cut; the full text beside it holds every item
    assert check_routing(metrics, {r.id: r.full_text for r in rendered}) > 50
    for r in rendered:
        assert r.text.count("\n") <= ser.MAX_LINES


# --- any portfolio size, a readable email ----------------------------------------------


def test_every_report_stays_under_250_lines_at_300_handoffs(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from make_portfolio import generate
    finally:
        sys.path.remove(str(ROOT / "bench"))
    generate(tmp_path, 300, 900)
    portfolio = ser.read_handoffs(tmp_path / "handoffs")
    counts = ser.read_tables(ser.table_needs(portfolio), tmp_path / "dynamodb")
    metrics = ser.compute_metrics(portfolio, counts, AS_OF)
    cut = set()
    for r in ser.render_all(REPORTS, metrics):
        lines = r.text.count("\n")
        assert lines <= ser.MAX_LINES, f"{r.id}: {lines} lines"
        assert max(len(line) for line in r.text.splitlines()) <= 80
        if r.full_text != r.text:
            cut.add(r.id)
            assert r.full_text.count("\n") > ser.MAX_LINES  # cut only when it had to be
            assert f"more: the whole list is in this report's full text (2026-W47/{r.id}.full.txt" in flat(r.text)
    assert cut >= {"ceo", "cto", "cfo", "cmo", "accounting"}


def test_a_cut_table_keeps_its_total_equal_to_its_rows(tmp_path: Path) -> None:
    docs = [f"entity: E{i:02d}\nstatus: active\nupdated: 2026-11-20\n"
            f"stack:\n  - {{name: s, monthly_cost: {i + 1}, in_use: {'false' if i % 2 else 'true'}}}\n"
            for i in range(30)]
    metrics = metrics_of(tmp_path, *docs)
    cto = next(r for r in REPORTS if r.id == "cto")
    env = ser.jinja_env([cto])
    # render the cut version directly: the sample-sized report would not be cut
    md = env.get_template("cto").render({**metrics, "report": cto, "persona": "CTO", "mine": ser.routed(metrics, "CTO"),
                                         "cut": ser._cutter(1.0), "more": lambda rows: f"{rows.more} more"})
    table = md.split("| Entity | Monthly cost | Unused |")[1].split("\n\n")[0]
    rows = [line.split("|")[1:-1] for line in table.strip().splitlines()[1:]]
    money = [float(cells[1].strip().lstrip("$").replace(",", "")) for cells in rows]
    assert rows[-2][0].strip() == "20 more entities"
    assert sum(money[:-1]) == money[-1] == sum(range(1, 31))
