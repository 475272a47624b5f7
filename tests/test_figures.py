"""Every figure of docs/handoff-format.md from small hand-made handoffs, with hand-checked answers."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
import textwrap
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import send_exec_reports as ser

from .conftest import FRONT, dry_run_of, portfolio_with, sample_metrics

AS_OF = dt.date(2026, 11, 22)  # window: 2026-08..10; trend: 2026-05..10


def portfolio(tmp_path: Path, *docs: str) -> ser.Portfolio:
    """Write each front matter as a handoff and read them back the real way."""
    folder = tmp_path / "handoffs"
    folder.mkdir(exist_ok=True)
    for i, front in enumerate(docs):
        (folder / f"doc{i}.md").write_text("---\n" + textwrap.dedent(front).strip() + "\n---\nNotes.\n")
    return ser.read_handoffs(folder)


def figures(tmp_path: Path, *docs: str, counts: dict[str, ser.TableCount] | None = None, as_of: dt.date = AS_OF):
    """Metrics for the given documents."""
    return ser.compute_metrics(portfolio(tmp_path, *docs), counts or {}, as_of)


def ratio(part: int | str, whole: int | str):
    """part / whole as an exact-decimal expectation (to 25 significant digits); a float never matches."""
    return pytest.approx(Decimal(part) / Decimal(whole), rel=Decimal("1e-25"), abs=Decimal(0))


def doc(entity: str = "Acme", updated: str = "2026-11-20", status: str = "active", **extra: str) -> str:
    """A minimal valid front matter plus extra YAML blocks."""
    head = f"entity: {entity}\nstatus: {status}\nupdated: {updated}\n"
    return head + "".join(textwrap.dedent(v).strip() + "\n" for v in extra.values())


def test_period_and_windows() -> None:
    assert ser.iso_period(AS_OF) == "2026-W47"
    assert ser.iso_period(dt.date(2027, 1, 1)) == "2026-W53"
    assert ser.iso_period(dt.date(2026, 11, 23)) == "2026-W48"
    assert [ser.month_key(dt.date(2027, 1, 15), -i) for i in (3, 2, 1)] == ["2026-10", "2026-11", "2026-12"]
    assert ser.month_key(dt.date(2026, 11, 1), 2) == "2027-01"


def test_averages_use_only_months_present_in_the_window(tmp_path: Path) -> None:
    m = figures(tmp_path, doc(cash="cash: 900", fin="""
        financials:
          2026-07: {revenue: 9999, expenses: 0}
          2026-08: {revenue: 1000, expenses: 1500}
          2026-10: {revenue: 2000, expenses: 2100}
          2026-11: {revenue: 9999, expenses: 0}
    """))
    e = m["entities"]["Acme"]
    assert e["window_months"] == 2
    assert e["revenue_avg"] == 1500
    assert e["expenses_avg"] == 1800
    assert e["burn"] == 300
    assert e["break_even_gap"] == 300
    assert e["runway"] == 3.0
    assert e["noi"] == -300
    runway = [s for s in m["shortfalls"] if s["source"] == "derived" and s["persona"] == "CFO"]
    assert runway == [{
        "entity": "Acme", "project": None, "urgency": "critical", "persona": "CFO", "source": "derived",
        "title": "Runway 3.0 months at $300/month burn",
    }]


def test_entity_figures_sum_over_its_documents(tmp_path: Path) -> None:
    m = figures(
        tmp_path,
        doc(cash="cash: 100", fin="financials: {2026-09: {revenue: 50, expenses: 70}}"),
        doc(cash="cash: 200", fin="financials: {2026-09: {revenue: 25, expenses: 30}}"),
    )
    e = m["entities"]["Acme"]
    assert (e["projects"], e["cash"], e["revenue_avg"], e["expenses_avg"], e["burn"]) == (2, 300, 75, 100, 25)
    assert e["runway"] == 12.0  # not under 6 months: no shortfall
    assert not [s for s in m["shortfalls"] if s["persona"] == "CFO"]


def test_entity_without_financials_has_no_data_and_is_left_out_of_the_portfolio(tmp_path: Path) -> None:
    m = figures(
        tmp_path,
        doc("Empty", cash="cash: 5000"),
        doc("Earner", cash="cash: 1000", fin="financials: {2026-10: {revenue: 500, expenses: 200}}"),
    )
    e = m["entities"]["Empty"]
    for key in ("revenue_avg", "expenses_avg", "burn", "runway", "break_even_gap"):
        assert e[key] == "no data"
    assert e["projection"] == e["growth"] == e["deployment"] == "insufficient data"
    p = m["portfolio"]
    assert (p["burn"], p["revenue_avg"], p["entities_with_data"], p["cash"]) == (-300, 500, 1, 6000)
    assert p["runway"] == "not burning"
    assert m["entities"]["Earner"]["runway"] == "not burning"


def test_runway_without_cash_is_said_not_guessed(tmp_path: Path) -> None:
    m = figures(tmp_path, doc(fin="financials: {2026-10: {revenue: 100, expenses: 400}}"))
    assert m["entities"]["Acme"]["runway"] == "no cash figure"
    assert m["portfolio"]["runway"] == "no cash figure"


def test_portfolio_runway_uses_cash_of_entities_with_data(tmp_path: Path) -> None:
    m = figures(
        tmp_path,
        doc("A", cash="cash: 1200", fin="financials: {2026-10: {revenue: 100, expenses: 500}}"),
        doc("B", cash="cash: 600", fin="financials: {2026-10: {revenue: 300, expenses: 200}}"),
        doc("C", cash="cash: 99999"),
    )
    p = m["portfolio"]
    assert p["burn"] == 300  # 400 - 100
    assert p["runway"] == 6.0  # (1200 + 600) / 300; C has no financials
    assert p["cash"] == 1200 + 600 + 99999


@pytest.mark.parametrize(
    ("months", "slope", "projection"),
    [
        # y = 100 + 100x over x = 0..2 (May..Jul): Nov, Dec, Jan are x = 6, 7, 8
        ({"2026-05": 100, "2026-06": 200, "2026-07": 300}, 100, [700, 800, 900]),
        # months missing inside the six: x = 0, 2, 5 still lie on y = 100 + 100x
        ({"2026-05": 100, "2026-07": 300, "2026-10": 600}, 100, [700, 800, 900]),
        # y = 600 - 200x: the line goes negative, floored at 0
        ({"2026-05": 600, "2026-06": 400, "2026-07": 200}, -200, [0, 0, 0]),
        # months outside the last six complete months do not count
        ({"2026-04": 50, "2026-11": 5000, "2026-08": 10, "2026-09": 20, "2026-10": 30}, 10, [40, 50, 60]),
    ],
)
def test_revenue_projection(tmp_path: Path, months: dict[str, int], slope: float, projection: list[float]) -> None:
    fin = "financials:\n" + "".join(f"  {k}: {{revenue: {v}, expenses: 0}}\n" for k, v in months.items())
    e = figures(tmp_path, doc(fin=fin))["entities"]["Acme"]
    assert e["growth"] == pytest.approx(slope)
    assert [p["month"] for p in e["projection"]] == ["2026-11", "2026-12", "2027-01"]
    assert [p["revenue"] for p in e["projection"]] == pytest.approx(projection)


def test_projection_needs_three_months(tmp_path: Path) -> None:
    e = figures(tmp_path, doc(fin="financials: {2026-09: {revenue: 1, expenses: 0}, 2026-10: {revenue: 2, expenses: 0}}"))
    assert e["entities"]["Acme"]["projection"] == "insufficient data"
    assert e["portfolio"]["projection"] == "insufficient data"


@pytest.mark.parametrize(
    ("revenues", "expenses", "decision"),
    [
        ((100, 200, 300), 0, "invest"),  # growing, not burning
        ((100, 200, 300), 1000, "fix"),  # growing, burning
        ((300, 200, 100), 0, "maintain"),  # shrinking, not burning
        ((300, 300, 300), 0, "maintain"),  # flat (growth 0), not burning
        ((300, 200, 100), 1000, "review"),  # shrinking, burning
    ],
)
def test_capital_deployment(tmp_path: Path, revenues: tuple[int, ...], expenses: int, decision: str) -> None:
    fin = "financials:\n" + "".join(
        f"  2026-{m:02d}: {{revenue: {r}, expenses: {expenses}}}\n" for m, r in zip((8, 9, 10), revenues, strict=True)
    )
    assert figures(tmp_path, doc(fin=fin))["entities"]["Acme"]["deployment"] == decision


# Revenue falls $200 a month over 2026-05..10 (6,000 down to 5,000): the line is 6,000 - 200x, so
# the projection is 4,800 (2026-11), 4,600 and 4,400. Expenses average 4,700 over 2026-08..10 and
# revenue 5,200: earning $500 a month now, burning from 2026-12 on the trend (4,600 < 4,700).
TRENDING_DOWN = """
    financials:
      2026-05: {revenue: 6000, expenses: 4700}
      2026-06: {revenue: 5800, expenses: 4700}
      2026-07: {revenue: 5600, expenses: 4700}
      2026-08: {revenue: 5400, expenses: 4700}
      2026-09: {revenue: 5200, expenses: 4700}
      2026-10: {revenue: 5000, expenses: 4700}
      2026-11: {revenue: 2900, expenses: 4100}
"""


def test_review_soon_when_a_business_that_earns_now_burns_within_the_projection(tmp_path: Path) -> None:
    """A business earning now whose trend burns within three months is 'review soon', not 'maintain'."""
    e = figures(tmp_path, doc(fin=TRENDING_DOWN))["entities"]["Acme"]
    assert (e["cash_flow"], e["growth"], e["expenses_avg"]) == (500, -200, 4700)
    assert [p["revenue"] for p in e["projection"]] == [4800, 4600, 4400]
    assert (e["burning_from"], e["deployment"]) == ("2026-12", "review soon")
    # the same business with costs of 4,300 stays above water on its trend: maintain, as before
    (tmp_path / "flat").mkdir()
    flat = figures(tmp_path / "flat", doc(fin=TRENDING_DOWN.replace("expenses: 4700", "expenses: 4300")))
    assert (flat["entities"]["Acme"]["burning_from"], flat["entities"]["Acme"]["deployment"]) == (None, "maintain")


def test_month_to_date_and_its_pace_against_the_projection(tmp_path: Path) -> None:
    """D's own month, when given, is the month to date: behind when under the projection's share to D."""
    m = figures(tmp_path, doc(fin=TRENDING_DOWN), doc(entity="Bare", fin="financials:\n  2026-10: {revenue: 1, expenses: 1}"))
    e = m["entities"]["Acme"]
    assert (e["mtd_month"], e["mtd_revenue"], e["mtd_expenses"], e["mtd_net"]) == ("2026-11", 2900, 4100, -1200)
    # 4,800 x 22 / 30 days of November = 3,520.00 due by 2026-11-22; 2,900 is behind it
    assert e["mtd_pace"] == {"projected": 4800, "due_by_now": Decimal("3520.00"), "behind": True}
    assert e["last_month"] == {"month": "2026-10", "revenue": 5000, "expenses": 4700, "debt_service": None, "net": 300}
    # the month to date never enters the averages or the monthly P&L
    assert e["revenue_avg"] == 5200 and [r["month"] for r in e["monthly"]][-1] == "2026-10"
    bare = m["entities"]["Bare"]
    assert (bare["mtd_month"], bare["mtd_revenue"], bare["mtd_pace"]) == (None, "no data", None)


def test_infra_cost_and_savings(tmp_path: Path) -> None:
    m = figures(tmp_path, doc(stack="""
        stack:
          - {name: api, monthly_cost: 1.20, in_use: true, last_deploy: 2026-11-02}
          - {name: old, monthly_cost: 23.50, in_use: false}
          - {name: db, monthly_cost: 100}
    """))
    e = m["entities"]["Acme"]
    assert e["infra_cost"] == Decimal("124.70")
    assert e["savings"] == Decimal("23.50")
    assert [s["days_since_deploy"] for s in m["stack"]] == [20, "no data", "no data"]
    assert [s["in_use"] for s in m["stack"]] == [True, False, True]  # absent in_use means in use


def test_kpi_gaps_and_missing(tmp_path: Path) -> None:
    m = figures(tmp_path, doc(kpis="""
        kpis:
          - {name: Bookings, value: 6, target: 10}
          - {name: Cost per lead, value: 41, target: 30, better: lower}
          - {name: Conversion, value: null, target: 0.02}
          - {name: Absent, target: 5}
          - {name: Exactly on, value: 10, target: 10}
          - {name: Cheap enough, value: 20, target: 30, better: lower}
          - {name: No target, value: 3}
    """))
    states = {k["name"]: k["state"] for k in m["kpis"]}
    assert states == {
        "Bookings": "gap", "Cost per lead": "gap", "Conversion": "missing", "Absent": "missing",
        "Exactly on": "on target", "Cheap enough": "on target", "No target": "no target",
    }
    derived = [(s["title"], s["urgency"]) for s in m["shortfalls"] if s["source"] == "derived"]
    assert derived == [("Missing KPI: Absent", "medium"), ("Missing KPI: Conversion", "medium")]


def test_stale_handoffs(tmp_path: Path) -> None:
    m = figures(tmp_path, doc("Old", updated="2026-10-22"), doc("Edge", updated="2026-10-23"))
    assert [(p["entity"], p["age_days"]) for p in m["stale"]] == [("Old", 31)]


def test_shortfalls_declared_and_derived_sorted(tmp_path: Path) -> None:
    m = figures(
        tmp_path,
        doc("Zed", security="""
            security:
              - {severity: high, finding: Key in repo, fixed: false}
              - {severity: critical, finding: Open admin, fixed: true}
              - {severity: medium, finding: No CAPTCHA}
        """, short="""
            shortfalls:
              - {title: B thing, urgency: low, persona: CMO}
              - {title: A thing, urgency: critical, persona: CEO}
        """),
        doc("Alpha", short="shortfalls: [{title: Z thing, urgency: critical}]"),
    )
    got = [(s["urgency"], s["entity"], s["title"], s["persona"]) for s in m["shortfalls"]]
    assert got == [
        ("critical", "Alpha", "Z thing", None),
        ("critical", "Zed", "A thing", "CEO"),
        ("high", "Zed", "Unfixed security finding: Key in repo", "CTO"),
        ("low", "Zed", "B thing", "CMO"),
    ]
    assert [s["finding"] for s in m["security"]] == ["Key in repo", "No CAPTCHA"]
    assert m["security_counts"] == {"critical": 0, "high": 1, "medium": 1, "low": 0}


def test_thirty_day_actions(tmp_path: Path) -> None:
    m = figures(tmp_path, doc(actions="""
        actions:
          - {title: Later, due: 2026-12-23, priority: 1}
          - {title: Edge, due: 2026-12-22, priority: 2}
          - {title: Late, due: 2026-11-20, priority: 2}
          - {title: Done, due: 2026-11-01, priority: 1, done: true}
          - {title: Top, due: 2026-12-01, priority: 1, persona: CMO}
          - {title: No priority, due: 2026-11-23}
          - {title: No date, priority: 1}
    """))
    got = [(a["title"], a["overdue"], a["days_overdue"]) for a in m["actions_30d"]]
    # overdue first; then due within 7 days; then by priority
    assert got == [("Late", True, 2), ("No priority", False, 0), ("Top", False, 0), ("Edge", False, 0)]
    assert [a["title"] for a in m["cmo_milestones"]] == ["Top"]


def test_deferred_revenue_and_receivables(tmp_path: Path) -> None:
    m = figures(tmp_path, doc(rr="""
        revenue_recognition:
          - {description: Deposit, amount: 2500, received: 2026-11-02, service_date: 2027-01-10}
          - {description: Earned, amount: 100, received: 2026-11-01, service_date: 2026-11-05}
          - {description: Owed, amount: 300, service_date: 2026-11-10}
          - {description: Paid late, amount: 40, received: 2026-11-30, service_date: 2026-11-22}
          - {description: Future unpaid, amount: 999, service_date: 2026-12-01}
    """))
    assert [(r["description"], r["amount"]) for r in m["deferred"]] == [("Deposit", 2500)]
    assert [(r["description"], r["days_outstanding"]) for r in m["receivables"]] == [("Owed", 12), ("Paid late", 0)]
    assert (m["deferred_total"], m["receivables_total"]) == (2500, 340)


def test_receivables_are_aged_from_their_due_date_where_one_is_given(tmp_path: Path) -> None:
    """`due` wins over `terms_days`, which wins over the service date; a due date after D is not yet due."""
    m = figures(tmp_path, doc(rr="""
        revenue_recognition:
          - {description: Terms, amount: 100, service_date: 2026-10-01, terms_days: 30}
          - {description: Not due, amount: 200, service_date: 2026-11-01, due: 2026-12-01}
          - {description: No terms, amount: 300, service_date: 2026-08-01}
          - {description: Both, amount: 50, service_date: 2026-09-01, due: 2026-09-10, terms_days: 5}
          - {description: Prepaid, amount: 700, received: 2026-11-02, service_date: 2027-01-10}
    """), doc(entity="Other", rr="""
        revenue_recognition:
          - {description: Elsewhere, amount: 9, service_date: 2026-11-20}
    """))
    aged = {r["description"]: (r["aged_from"], r["days_outstanding"]) for r in m["receivables"]}
    # 2026-10-01 + 30 = 10-31, 22 days to 11-22; 12-01 is 9 days ahead; 08-01 is 113 days back; 09-10 is 73
    assert aged == {"Terms": ("due", 22), "Not due": ("due", -9), "No terms": ("service", 113),
                    "Both": ("due", 73), "Elsewhere": ("service", 2)}
    buckets = {b["label"]: b["total"] for b in ser.receivables_aging(m["receivables"])}
    assert buckets == {"over 90 days": 300, "61–90 days": 50, "31–60 days": 0, "0–30 days": 109, "not yet due": 200}
    acme = m["entities"]["Acme"]
    assert (acme["receivables"], acme["deferred"], m["entities"]["Other"]["receivables"]) == (650, 700, 9)
    assert (m["portfolio"]["receivables"], m["portfolio"]["deferred"]) == (659, 700)


def test_the_expense_period_is_the_months_given_else_the_handoff_dates(tmp_path: Path) -> None:
    """Expense entries say their month where given; the rest are as listed in handoffs of those dates."""
    m = figures(tmp_path, doc(updated="2026-11-20", x="""
        expenses:
          - {vendor: AWS, amount: 23.50, month: 2026-10}
          - {vendor: Shell, amount: 300, month: 2026-09}
          - {vendor: Mystery, amount: 12}
    """), doc(entity="B", updated="2026-10-09", x="""
        expenses:
          - {vendor: Rent, amount: 900}
    """), doc(entity="C", updated="2026-08-01", x="""
        expenses:
          - {vendor: Dated, amount: 1, month: 2026-07}
    """))
    assert m["expense_period"] == {"months": ["2026-07", "2026-09", "2026-10"], "undated": 2,
                                   "updated_first": dt.date(2026, 10, 9), "updated_last": dt.date(2026, 11, 20)}


def test_clients_outstanding_against_receivables_is_a_shortfall_naming_both(tmp_path: Path) -> None:
    """Two keys giving what one business is owed two ways must be said, not hidden (agency $4,400 vs $5,040)."""
    m = figures(
        tmp_path,
        doc("Agency", rr="""
            revenue_recognition:
              - {description: Milestone, amount: 3200, service_date: 2026-11-15}
              - {description: Final invoice, amount: 640, service_date: 2026-07-31}
              - {description: Paid, amount: 900, received: 2026-10-03, service_date: 2026-10-31}
              - {description: Prepaid, amount: 3600, received: 2026-11-12, service_date: 2027-01-05}
        """),
        doc("Agency", project="project: Clients", clients="""
            clients:
              - {name: Law, monthly_fee: 2400, status: active, outstanding: 3200}
              - {name: Tacos, monthly_fee: 300, status: active, outstanding: 0.50}
              - {name: Gone, monthly_fee: 800, status: churned}
        """),
        doc("Agreeing", rr="""
            revenue_recognition:
              - {description: Owed, amount: 100, service_date: 2026-11-01}
        """, clients="""
            clients:
              - {name: One, monthly_fee: 100, status: active, outstanding: 100}
        """),
        doc("Clients only", clients="""
            clients:
              - {name: One, monthly_fee: 100, status: active, outstanding: 100}
        """),
    )
    derived = [s for s in m["shortfalls"] if s["persona"] == "Accounting Officer"]
    # receivables 3200 + 640 = 3840 (paid and prepaid entries are not owed); clients 3200 + 0.50
    assert derived == [{
        "entity": "Agency", "project": None, "urgency": "medium", "persona": "Accounting Officer",
        "source": "derived",
        "title": "Clients' outstanding $3,200.50 (doc1.md, clients) disagrees with receivables $3,840.00 "
                 "(doc0.md, revenue_recognition): $639.50 apart",
    }]


def test_chart_of_accounts_and_uncategorized(tmp_path: Path) -> None:
    m = figures(tmp_path, doc(x="""
        expenses:
          - {vendor: AWS, amount: 23.50, category: Hosting}
          - {vendor: Vercel, amount: 20, category: Hosting}
          - {vendor: Shell, amount: 300, category: Fuel}
          - {vendor: Mystery, amount: 12}
    """))
    assert m["accounts"] == [
        {"category": "Fuel", "total": 300, "entries": 1},
        {"category": "Hosting", "total": 43.5, "entries": 2},
    ]
    assert [x["vendor"] for x in m["uncategorized"]] == ["Mystery"]
    assert m["uncategorized_total"] == 12


def test_rental(tmp_path: Path) -> None:
    m = figures(tmp_path, doc(fin="financials: {2026-10: {revenue: 5000, expenses: 3000}}", units="""
        units:
          - {unit: A, tenant: J. Doe, rent: 1850, status: occupied, lease_end: 2027-02-20, balance_due: 0}
          - {unit: B, tenant: K. Roe, rent: 1950, status: occupied, lease_end: 2027-02-21, balance_due: 125.50}
          - {unit: C, rent: 2100, status: vacant}
          - {unit: D, tenant: T. Poe, rent: 1650, status: occupied, lease_end: 2026-11-01, balance_due: 800}
    """, maint="""
        maintenance:
          - {item: Water heater, cost: 1400, status: open, opened: 2026-11-03}
          - {item: Fence, cost: 650, status: done, opened: 2026-10-01}
          - {item: Leak, cost: 180, status: open, opened: 2026-10-15}
    """))
    r = m["entities"]["Acme"]["rental"]
    assert (r["occupied"], r["unit_count"], r["occupancy"]) == (3, 4, 0.75)
    assert r["scheduled_rent"] == 1850 + 1950 + 1650
    assert r["delinquency"] == 925.5
    # within 90 days (2027-02-20 is day 90, 02-21 day 91), plus a lease already ended
    assert [(u["unit"], u["days_left"], u["ended"]) for u in r["leases_ending"]] == [("D", -21, True), ("A", 90, False)]
    assert [x["item"] for x in r["maintenance_open"]] == ["Leak", "Water heater"]
    assert r["maintenance_open_cost"] == 1580
    assert r["noi"] == 2000


def test_deliveries(tmp_path: Path) -> None:
    m = figures(tmp_path, doc(d="""
        deliveries:
          - {id: D-1, date: 2026-10-20, status: completed, revenue: 6800, costs: {crew: 2400, fuel: 900, travel: 650, other: 120}}
          - {id: D-2, date: 2026-10-01, status: completed, revenue: 1000, costs: {crew: 900}}
          - {id: D-3, date: 2026-12-01, status: quoted, revenue: 9500}
          - {id: D-4, date: 2027-01-01, status: booked, revenue: 500, costs: {crew: 100}}
          - {id: D-5, date: 2026-09-01, status: cancelled, revenue: 0}
    """))
    y = m["entities"]["Acme"]["yacht"]
    rows = {r["id"]: r for r in y["rows"]}
    assert (rows["D-1"]["cost"], rows["D-1"]["margin"]) == (4070, 2730)
    assert rows["D-1"]["margin_pct"] == ratio(2730, 6800)
    assert rows["D-5"]["margin_pct"] == "n/a"
    assert (rows["D-3"]["cost"], rows["D-3"]["margin"], rows["D-3"]["margin_pct"]) == ("not costed", "n/a", "n/a")
    assert y["pipeline"] == 10000 and y["pipeline_count"] == 2
    # weighted: (2730 + 100) / (6800 + 1000), not the mean of 40.1% and 10%
    assert y["avg_margin_pct"] == ratio(2830, 7800)
    assert (y["completed_revenue"], y["completed_margin"], y["completed_uncosted"]) == (7800, 2830, 0)
    assert y["uncosted"] == ["D-3"]
    assert [r["id"] for r in y["rows"]] == ["D-5", "D-2", "D-1", "D-3", "D-4"]


def test_clients(tmp_path: Path) -> None:
    m = figures(tmp_path, doc(c="""
        clients:
          - {name: Acme Dental, monthly_fee: 900, status: active, hours_last_30d: 12, outstanding: 0, last_contact: 2026-11-10}
          - {name: Big Law, monthly_fee: 2100, status: active, hours_last_30d: 0, outstanding: 300, last_contact: 2026-10-23}
          - {name: Quiet Co, monthly_fee: 1000, status: active, hours_last_30d: 8, last_contact: 2026-10-21}
          - {name: Maybe Inc, monthly_fee: 500, status: prospect, hours_last_30d: 4, last_contact: 2026-09-01}
          - {name: Gone LLC, monthly_fee: 800, status: churned, outstanding: 50, last_contact: 2026-01-01}
    """))
    a = m["entities"]["Acme"]["agency"]
    assert a["mrr"] == 4000
    assert (a["largest"], a["concentration"]) == ("Big Law", Decimal("0.525"))
    assert {c["name"]: c["rate"] for c in a["rows"]} == {
        "Acme Dental": 75, "Big Law": "n/a", "Quiet Co": 125, "Maybe Inc": "n/a", "Gone LLC": "n/a",
    }
    assert a["outstanding"] == 350
    assert [(c["name"], c["days"]) for c in a["neglected"]] == [("Maybe Inc", 82), ("Quiet Co", 32)]
    # prospects: Maybe Inc's 500; hours over the active clients giving fee and hours: 12 + 0 + 8 = 20,
    # blended (900 + 2,100 + 1,000) / 20 = $200 an hour
    assert (a["prospects"], a["prospect_fees"]) == (1, 500)
    assert (a["hours"], a["hours_clients"], a["blended_rate"]) == (20, 3, 200)


def test_dynamodb_figures_per_entity(tmp_path: Path) -> None:
    counts = {
        "a-events": ser.TableCount("a-events", 1375),
        "a-users": ser.TableCount("a-users", 40),
        "a-check": ser.TableCount("a-check", 7, done=3),
    }
    m = figures(
        tmp_path,
        doc("A", db="dynamodb: {events: a-events, users: a-users, checklist: {table: a-check, done: completed}}"),
        doc("A", db="dynamodb: {events: a-events}"),  # the same table named twice counts once
        doc("B"),
        counts=counts,
    )
    a, b = m["entities"]["A"], m["entities"]["B"]
    assert (a["events"], a["users"], a["checklist_done"], a["checklist_items"]) == (1375, 40, 3, 7)
    assert a["checklist_pct"] == ratio(3, 7)
    assert b["events"] == b["users"] == b["checklist_pct"] == "no data"
    assert m["sources"]["tables"] == ["a-check", "a-events", "a-users"]


def test_channel_totals_and_the_blended_cost_over_the_channels_with_a_spend(tmp_path: Path) -> None:
    """Totals of spend, leads and sales; the blended cost per lead and sale only over channels with a spend."""
    m = figures(tmp_path, doc(ch="""
        channels:
          - {name: Ads, kind: paid, status: live, visits: 1000, leads: 20, conversions: 4, spend: 600}
          - {name: Yelp, kind: paid, status: live, leads: 10, spend: 300}
          - {name: GBP, kind: organic, status: live, visits: 300, leads: 30, conversions: 6}
          - {name: Planned, kind: paid, status: planned}
    """))
    t = m["channel_totals"]
    assert (t["spend"], t["leads"], t["sales"]) == (900, 60, 10)
    # per lead: (600 + 300) / (20 + 10) = $30; per sale: Yelp gives no sales, so 600 / 4 = $150
    assert (t["cost_per_lead"], t["cost_per_sale"]) == (30, 150)
    assert [c["name"] for c in t["paid"]] == ["Ads", "Yelp"]
    assert ([c["name"] for c in t["unpaid"]], t["unpaid_leads"], t["unpaid_sales"]) == (["GBP"], 30, 6)


def test_kpis_go_to_the_report_of_their_persona(tmp_path: Path) -> None:
    """A KPI's persona (default CEO) routes it to that reader's report, in any case."""
    m = figures(tmp_path, doc(k="""
        kpis:
          - {name: Uptime, value: 0.9986, target: 0.999, unit: "%", persona: cto}
          - {name: Cost per lead, value: 41, target: 30, better: lower, persona: CMO}
          - {name: Bookings, value: 6, target: 10}
    """))
    assert [k["persona"] for k in m["kpis"]] == ["cto", "CMO", "CEO"]
    assert [k["name"] for k in ser.routed(m, "CTO")["kpis"]] == ["Uptime"]
    assert [k["name"] for k in ser.routed(m, "CMO")["kpis"]] == ["Cost per lead"]
    assert [k["name"] for k in ser.routed(m, "Acme unit", "Acme")["kpis"]] == ["Uptime", "Cost per lead", "Bookings"]


def test_email_blast_potential_and_ota_sequence(tmp_path: Path) -> None:
    m = figures(tmp_path, doc(ch="""
        channels:
          - {name: GBP, kind: organic, status: live, visits: 340, leads: 12, conversions: 3}
          - {name: Viator, kind: ota, status: planned, launch: 2027-01-15}
          - {name: GetYourGuide, kind: OTA, status: planned, launch: 2026-12-15}
          - name: Newsletter
            kind: email
            status: live
            blast: {list_size: 1200, open_rate: 0.35, click_rate: 0.08, conversion_rate: 0.05, avg_order_value: 450}
    """))
    gbp = m["channels"][0]
    assert gbp["lead_rate"] == ratio(12, 340) and gbp["close_rate"] == Decimal("0.25")
    assert m["blasts"][0]["potential"] == 756  # 1200 x 0.35 x 0.08 x 0.05 x 450, exactly
    assert [c["name"] for c in m["ota"]] == ["GetYourGuide", "Viator"]


@pytest.mark.parametrize(
    ("fn", "value", "text"),
    [
        (ser.format_money, 12345.4, "$12,345"),
        (ser.format_money, 12345.5, "$12,346"),
        (ser.format_money, 23.5, "$23.50"),
        (ser.format_money, 99.994, "$99.99"),
        (ser.format_money, 99.995, "$100"),
        (ser.format_money, -1200, "-$1,200"),
        (ser.format_money, 0, "$0.00"),
        (ser.format_money, "no data", "no data"),
        (ser.format_count, 1375, "1,375"),
        (ser.format_count, 2.5, "3"),
        (ser.format_pct, 3 / 7, "42.9%"),
        (ser.format_pct, 0.0005, "0.1%"),
        (ser.format_pct, "n/a", "n/a"),
        (ser.format_months, 4.25, "4.2"),
        (ser.format_months, 13 / 3, "4.3"),
        (ser.format_months, "not burning", "not burning"),
        (ser.format_trend, Decimal("75.80"), "$75.80 more each month"),
        (ser.format_trend, Decimal("-4436.2"), "$4,436 less each month"),
        (ser.format_trend, Decimal("0.004"), "flat (no change each month)"),
        (ser.format_trend, "insufficient data", "insufficient data"),
        (ser.format_number, 0.95, "0.95"),
        (ser.format_number, 30, "30"),
        (ser.format_date, dt.date(2026, 1, 2), "2026-01-02"),
    ],
)
def test_formatting(fn, value, text: str) -> None:
    assert fn(value) == text


@pytest.mark.parametrize(
    ("value", "target", "text"),
    [
        ("0.9986", "0.999", "99.86%"),  # 99.9% would read as on target
        ("0.9993", "0.999", "99.93%"),
        ("0.71", "0.75", "71.0%"),
        ("0.999", "0.999", "99.9%"),  # equal: one decimal is the truth
        ("0.99899", "0.999", "99.899%"),
        ("0.9994", None, "99.9%"),
    ],
)
def test_a_percentage_has_the_decimals_that_tell_it_from_its_target(value: str, target: str | None, text: str) -> None:
    """'99.9% | ≥ 99.9% | gap' read as a contradiction; the value shows the decimals that tell them apart."""
    assert ser.format_pct(Decimal(value), None if target is None else Decimal(target)) == text
    assert ser.format_unit(Decimal(value), "%", None if target is None else Decimal(target)) == text


def test_months_carry_their_unit_in_a_table_cell() -> None:
    """'Runway 3.8' had no unit."""
    assert ser.format_months(Decimal("3.89"), "mo") == "3.8 mo"
    assert ser.format_months("not burning", "mo") == "not burning"


def test_a_total_is_the_exact_sum_rounded_once_and_the_note_says_when_rows_do_not_add_up() -> None:
    """The CFO's Expenses total $36,866 (a sum of rounded rows) against the CEO's $36,867."""
    rows = [{"x": Decimal("8133.33")}, {"x": Decimal("9733.33")}, {"x": Decimal("6700")}, {"x": Decimal("5000")},
            {"x": Decimal("7300")}]
    assert ser.money_total(rows, "x", False) == "$36,867"  # 36,866.66 rounded once
    assert ser.rounding_note(rows, [("Expenses", "x")], False) == (
        "The rounded rows add up to $36,866 (exact total $36,867).")
    assert ser.rounding_note(rows, [("Expenses", "x")], True) == ""  # in cents they add up
    cut = ser.Cut(rows[:1], rows[1:])  # hidden rows count as their one 'N more' row: 8,133 + 28,733
    assert ser.rounding_note(cut, [("Expenses", "x")], False) == (
        "The rounded rows add up to $36,866 (exact total $36,867).")
    # several columns: one sentence, its parts after the first not capitalized after "; " (found by an attack)
    assert ser.rounding_note(rows, [("Expenses", "x"), ("Cash", "x")], False) == (
        "The rounded Expenses rows add up to $36,866 (exact total $36,867); the rounded Cash rows add up to "
        "$36,866 (exact total $36,867).")


# ---------------------------------------------------------------------------
# Handoffs built directly, with money as Decimals (as the reader gives them), for the
# exactness, extreme-value, boundary and ordering tests below.

D = Decimal
_ids = itertools.count()


def _fields(spec: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """A mapping as the validator leaves it: every field of its spec present (None when not given)."""
    plain = {name.rstrip("!"): kind for name, kind in spec.items()}
    out: dict[str, Any] = dict.fromkeys(plain)
    for key, value in data.items():
        kind = plain.get(key)
        if isinstance(kind, tuple) and kind[0] == "list":
            value = [_fields(kind[1], v) for v in value]
        elif isinstance(kind, tuple) and kind[0] == "map":
            value = _fields(kind[1], value)
        elif isinstance(kind, tuple) and kind[0] == "months":
            value = {m: _fields(kind[1], v) for m, v in value.items()}
        out[key] = value
    return out


def handoff(entity: str = "Acme", **data: Any) -> ser.Handoff:
    """A validated handoff built directly."""
    base = {"entity": entity, "project": f"p{next(_ids)}", "status": "active", "updated": AS_OF - dt.timedelta(days=2)}
    merged = {**base, **data}
    return ser.Handoff(file=f"{entity}/{merged['project']}.md", data=_fields(ser.SCHEMA, merged))


def metrics(*docs: ser.Handoff, counts: dict[str, ser.TableCount] | None = None, as_of: dt.date = AS_OF):
    """Metrics for handoffs built directly."""
    return ser.compute_metrics(ser.Portfolio(list(docs)), counts or {}, as_of)


def months(**figs: tuple[str, str] | tuple[str, str, str]) -> dict[str, dict[str, Decimal]]:
    """financials from m2026_08=("100.10", "50") style arguments."""
    out = {}
    for key, fig in figs.items():
        month = key[1:5] + "-" + key[6:8]
        out[month] = {"revenue": D(fig[0]), "expenses": D(fig[1])}
        if len(fig) > 2:
            out[month]["debt_service"] = D(fig[2])
    return out


def day(offset: int) -> dt.date:
    """AS_OF plus offset days."""
    return AS_OF + dt.timedelta(days=offset)


# -- money is exact --------------------------------------------------------------


def test_cents_from_the_yaml_text_add_up_to_a_burn_of_exactly_zero(tmp_path: Path) -> None:
    m = figures(
        tmp_path,
        doc(cash="cash: 1000", fin="financials: {2026-10: {revenue: 100.10, expenses: 300.30}}"),
        doc(fin="financials: {2026-10: {revenue: 200.20, expenses: 0}}"),
    )
    e = m["entities"]["Acme"]
    assert e["burn"] == 0 and isinstance(e["burn"], Decimal)
    assert (e["runway"], e["break_even_gap"], e["deployment"]) == ("not burning", 0, "insufficient data")
    assert m["portfolio"]["runway"] == "not burning"
    assert not [s for s in m["shortfalls"] if s["persona"] == "CFO"]


def test_a_refund_month_that_nets_to_zero_revenue_gives_no_margin(tmp_path: Path) -> None:
    m = figures(tmp_path, doc(fin="""
        financials:
          2026-08: {revenue: 0.10, expenses: 5}
          2026-09: {revenue: 0.20, expenses: 5}
          2026-10: {revenue: -0.30, expenses: 5}
    """))
    e = m["entities"]["Acme"]
    assert (e["revenue_avg"], e["expenses_avg"], e["burn"]) == (0, 5, 5)
    assert e["margin"] == "n/a"
    assert ser.format_money(e["revenue_avg"]) == "$0.00"


def test_every_money_figure_is_a_decimal() -> None:
    m = metrics(handoff(
        cash=D("1000.10"),
        financials=months(m2026_08=("100.10", "200.20"), m2026_09=("0.30", "0.10"), m2026_10=("7", "8")),
        stack=[{"name": "api", "monthly_cost": D("1.10")}, {"name": "old", "monthly_cost": D("2.20"), "in_use": False}],
        assets=[{"name": "Van", "value": D("1500.50")}],
        channels=[{"name": "Ads", "visits": D(340), "leads": D(12), "conversions": D(3), "spend": D("600.00")},
                  {"name": "List", "blast": {"list_size": D(1200), "open_rate": D("0.35"), "click_rate": D("0.08"),
                                             "conversion_rate": D("0.05"), "avg_order_value": D(450)}}],
        revenue_recognition=[{"amount": D("0.10"), "received": day(-1), "service_date": day(5)},
                             {"amount": D("0.20"), "service_date": day(-5)}],
        expenses=[{"amount": D("0.10"), "category": "A"}, {"amount": D("0.20"), "category": "A"},
                  {"amount": D("0.30")}],
    ), counts={})
    e, p = m["entities"]["Acme"], m["portfolio"]
    figures_ = [e[k] for k in ("cash", "revenue_avg", "expenses_avg", "burn", "noi", "cash_flow", "break_even_gap",
                               "margin", "runway", "growth", "infra_cost", "savings", "assets_total")]
    figures_ += [p[k] for k in ("cash", "revenue_avg", "expenses_avg", "burn", "break_even_gap", "runway", "growth",
                                "infra_cost", "savings", "assets_total")]
    figures_ += [x["revenue"] for x in e["projection"] + p["projection"]]
    figures_ += [m["deferred_total"], m["receivables_total"], m["accounts_total"], m["uncategorized_total"],
                 m["blast_total"], m["blasts"][0]["potential"], m["accounts"][0]["total"]]
    figures_ += [m["channels"][0][k] for k in ("lead_rate", "close_rate", "cost_per_lead", "cost_per_sale")]
    assert all(isinstance(f, Decimal) for f in figures_), [type(f).__name__ for f in figures_]
    assert (m["deferred_total"], m["receivables_total"], m["accounts_total"]) == (D("0.10"), D("0.20"), D("0.30"))
    assert m["blast_total"] == 756
    assert e["revenue_avg"] == D("35.80")  # (100.10 + 0.30 + 7) / 3 = 35.8 exactly
    assert e["expenses_avg"] == D("69.43")  # (200.20 + 0.10 + 8) / 3 = 69.4333..
    assert e["burn"] == D("33.63")


def test_averages_are_rounded_half_up_to_the_cent_and_burn_is_their_difference() -> None:
    e = metrics(handoff(cash=D(100), financials=months(
        m2026_08=("100", "100.01"), m2026_09=("100", "100.01"), m2026_10=("100.01", "100.00"),
    )))["entities"]["Acme"]
    # revenue 300.01 / 3 = 100.00333 -> 100.00; expenses 300.02 / 3 = 100.00666 -> 100.01
    assert (e["revenue_avg"], e["expenses_avg"], e["burn"]) == (D("100.00"), D("100.01"), D("0.01"))
    assert e["runway"] == 10_000  # 100 / 0.01


@pytest.mark.parametrize(
    ("expenses", "burn", "runway"),
    [
        ("100.004", D("0.00"), "not burning"),  # a burn that shows as $0.00 is not burning
        ("100.005", D("0.01"), D(10_000)),  # half a cent rounds up: burning a cent a month
        ("99.995", D("0.00"), "not burning"),  # 99.995 -> 100.00: zero, never -0.00
    ],
)
def test_a_burn_under_half_a_cent_is_not_burning(expenses: str, burn: Decimal, runway: Any) -> None:
    e = metrics(handoff(cash=D(100), financials=months(m2026_10=("100", expenses))))["entities"]["Acme"]
    assert e["burn"] == burn and str(e["burn"]) == str(burn)
    assert e["runway"] == runway
    assert e["break_even_gap"] == max(burn, 0)


def test_a_flat_revenue_line_grows_exactly_zero_and_the_floor_is_not_negative_zero() -> None:
    flat = metrics(handoff(financials=months(
        m2026_05=("100.10", "0"), m2026_07=("100.10", "0"), m2026_10=("100.10", "0"),
    )))["entities"]["Acme"]
    assert str(flat["growth"]) == "0.00" and flat["deployment"] == "maintain"
    assert [str(p["revenue"]) for p in flat["projection"]] == ["100.10"] * 3
    falling = metrics(handoff(financials=months(
        m2026_05=("0.30", "0"), m2026_06=("0.20", "0"), m2026_07=("0.10", "0"),
    )))["entities"]["Acme"]
    assert str(falling["growth"]) == "-0.10"
    assert [str(p["revenue"]) for p in falling["projection"]] == ["0.00"] * 3  # -0.30, -0.40, -0.50 floored


def test_the_least_squares_line_is_exact_where_x_is_not_evenly_spread() -> None:
    # x = 0, 2, 5 (May, Jul, Oct) on y = 1/3 + x/3: slope 0.333.. -> $0.33, Nov (x=6) 2.333.. -> $2.33
    e = metrics(handoff(financials=months(
        m2026_05=("0.3333333333", "0"), m2026_07=("1", "0"), m2026_10=("2", "0"),
    )))["entities"]["Acme"]
    assert e["growth"] == D("0.33")
    assert [p["revenue"] for p in e["projection"]] == [D("2.33"), D("2.67"), D("3.00")]


# -- any amount the reader lets through: figures, formatters, reports and JSON -------

FORMATTERS = [ser.format_money, ser.format_money_cents, ser.format_per_month, ser.format_count, ser.format_pct,
              ser.format_months, ser.format_number, ser.format_days]


def everything(amount: Decimal, entity: str = "Acme") -> ser.Handoff:
    """A handoff with every money field set to amount."""
    a = amount
    return handoff(
        entity,
        cash=a,
        assets=[{"name": "Thing", "value": a}],
        financials={m: {"revenue": a, "expenses": a, "debt_service": a} for m in ("2026-05", "2026-08", "2026-10")},
        kpis=[{"name": "K", "value": a, "target": a, "unit": "%"}],
        stack=[{"name": "api", "monthly_cost": a, "in_use": False}],
        channels=[{"name": "C", "visits": a, "leads": a, "conversions": a, "spend": a, "kind": "ota"},
                  {"name": "L", "blast": dict.fromkeys(ser.BLAST, a)}],
        revenue_recognition=[{"amount": a, "received": day(-1), "service_date": day(1)},
                             {"amount": a, "service_date": day(-1)}],
        expenses=[{"amount": a, "category": "X"}, {"amount": a}],
        units=[{"unit": "A", "rent": a, "status": "occupied", "lease_end": day(10), "balance_due": a},
               {"unit": "B", "rent": a, "status": "vacant"}],
        maintenance=[{"item": "Leak", "cost": a, "status": "open", "opened": day(-3)}],
        deliveries=[{"id": "D-1", "status": "completed", "revenue": a, "costs": {"crew": a}},
                    {"id": "D-2", "status": "quoted", "revenue": a}],
        clients=[{"name": "Co", "monthly_fee": a, "status": "active", "hours_last_30d": a, "outstanding": a,
                  "last_contact": day(-40)}],
    )


EXTREMES = [
    D("1.0E-300"), D("9E+14"), D("999999999999999.99"), D("-999999999999999.99"), D("1E-999999"),
    D("0.1234567890123456789012345678901234567890123456789"), D("0.005"), D("-0.005"), D("0.00"), D("-0"),
    D("99.995"), D("123456789012345.675"),
]


def _numbers(value: Any) -> Iterator[Any]:
    """Every number in a nest of dicts and lists."""
    if isinstance(value, dict):
        for v in value.values():
            yield from _numbers(v)
    elif isinstance(value, list):
        for v in value:
            yield from _numbers(v)
    elif isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        yield value


def _check_everywhere(m: dict[str, Any]) -> None:
    """Every formatter on every number, the persona reports, and metrics.json: no exception, no -0."""
    for number in _numbers(m):
        for fmt in FORMATTERS:
            text = fmt(number)
            assert not re.match(r"^-\$?0(\.0+)?(%|/month)?$", text), (fmt.__name__, number, text)
    persona_reports = [r for r in ser.load_reports() if not r.entity]
    assert len(ser.render_all(persona_reports, m)) == len(persona_reports)
    back = json.loads(json.dumps(m, default=ser._json_default))
    assert back["period"] == m["period"]


@pytest.mark.parametrize("amount", EXTREMES, ids=str)
def test_any_amount_the_reader_accepts_computes_formats_renders_and_serializes(amount: Decimal) -> None:
    _check_everywhere(metrics(everything(amount), everything(-amount, "Other")))


def test_revenue_next_to_nothing_with_real_expenses_gives_no_margin() -> None:
    m = metrics(handoff(cash=D(1000), financials=months(m2026_10=("1.0E-300", "100"))))
    e = m["entities"]["Acme"]
    assert (e["revenue_avg"], e["burn"], e["runway"], e["margin"]) == (0, 100, 10, "n/a")
    _check_everywhere(m)


def test_blast_factors_at_the_limit_multiply_exactly_and_format_in_full() -> None:
    m = metrics(handoff(channels=[{"name": "L", "blast": dict.fromkeys(ser.BLAST, D("9E+14"))}]))
    assert m["blast_total"] == D(9) ** 5 * D(10) ** 70
    assert ser.format_money(m["blast_total"]) == "$" + f"{9 ** 5 * 10 ** 70:,}"
    _check_everywhere(m)


# -- priority, dates at the ends of the calendar -------------------------------------


def test_actions_sort_overdue_then_this_week_by_date_then_by_priority_with_none_after_100() -> None:
    """The one order of actions: most days late first; due within 7 days by date; then priority, then date."""
    m = metrics(handoff(actions=[
        {"title": "No priority", "due": day(9)},
        {"title": "P100", "due": day(20), "priority": 100},
        {"title": "b P1 later", "due": day(19), "priority": 1},
        {"title": "P2", "due": day(12), "priority": 2},
        {"title": "B P1 same day", "due": day(13), "priority": 1},
        {"title": "a P1 same day", "due": day(13), "priority": 1},
        {"title": "Week P3", "due": day(2), "priority": 3},
        {"title": "Week none, today", "due": day(0)},
        {"title": "Week P1, in 7", "due": day(7), "priority": 1},
        {"title": "Late 2 P1", "due": day(-2), "priority": 1},
        {"title": "Late 9, none", "due": day(-9)},
        {"title": "Late 2 P100", "due": day(-2), "priority": 100},
    ]))
    assert [a["title"] for a in m["actions_30d"]] == [
        "Late 9, none", "Late 2 P1", "Late 2 P100",  # most days late first, whatever the priority
        "Week none, today", "Week P3", "Week P1, in 7",  # due within 7 days: by date
        "a P1 same day", "B P1 same day", "b P1 later", "P2", "P100", "No priority",  # none after 100
    ]


@pytest.mark.parametrize(
    ("as_of", "period", "horizon"),
    [
        (dt.date(1, 1, 1), "0001-W01", dt.date(1, 1, 31)),
        (dt.date(999, 12, 31), "1000-W01", dt.date(1000, 1, 30)),
        (dt.date(9999, 12, 1), "9999-W48", dt.date(9999, 12, 31)),
        (dt.date(9999, 12, 31), "9999-W52", dt.date(9999, 12, 31)),  # D + 30 held at the last date there is
        (dt.date(2027, 1, 1), "2026-W53", dt.date(2027, 1, 31)),
    ],
)
def test_every_figure_for_any_as_of_date(as_of: dt.date, period: str, horizon: dt.date) -> None:
    doc_ = everything(D("100.10"))
    doc_.data.update(
        updated=as_of,
        actions=[_fields(ser.SCHEMA["actions"][1], {"title": "Now", "due": as_of, "priority": 1})],
        units=[_fields(ser.SCHEMA["units"][1], {"unit": "A", "status": "occupied", "lease_end": as_of})],
    )
    m = metrics(doc_, as_of=as_of)
    assert (m["period"], m["action_horizon"]) == (period, horizon)
    assert [a["title"] for a in m["actions_30d"]] == ["Now"]
    assert [u["days_left"] for u in m["entities"]["Acme"]["rental"]["leases_ending"]] == [0]
    _check_everywhere(m)


# -- definitions ----------------------------------------------------------------


def test_a_completed_delivery_without_costs_is_not_costed_and_left_out_of_the_margin() -> None:
    m = metrics(handoff(deliveries=[
        {"id": "D-1", "date": day(-30), "status": "completed", "revenue": D(1000), "costs": {"crew": D(600)}},
        {"id": "D-2", "date": day(-20), "status": "completed", "revenue": D(3000), "costs": {"crew": D(1500)}},
        {"id": "D-3", "date": day(-10), "status": "completed", "revenue": D(5000)},
        {"id": "D-4", "date": day(10), "status": "booked", "revenue": D(700), "costs": {}},
    ]))
    y = m["entities"]["Acme"]["yacht"]
    d3 = y["rows"][2]
    assert (d3["id"], d3["costed"], d3["cost"], d3["margin"], d3["margin_pct"]) == ("D-3", False, "not costed", "n/a", "n/a")
    assert y["completed_revenue"] == 9000
    assert (y["completed_costed_revenue"], y["completed_margin"], y["completed_uncosted"]) == (4000, 1900, 1)
    assert y["avg_margin_pct"] == ratio(1900, 4000)  # 47.5%; the mean of 40% and 50% would be 45%
    assert y["uncosted"] == ["D-3", "D-4"]
    assert ser.format_money(d3["cost"]) == "not costed"


def test_average_margin_with_no_costed_completed_delivery_is_no_data() -> None:
    y = metrics(handoff(deliveries=[{"id": "D-1", "status": "completed", "revenue": D(10)}]))["entities"]["Acme"]["yacht"]
    assert (y["avg_margin_pct"], y["completed_margin"]) == ("no data", 0)


def test_noi_is_before_loan_payments_and_cash_flow_after() -> None:
    fin = months(m2026_08=("5000", "3000", "1200"), m2026_09=("5000", "3200", "1200"), m2026_10=("5000", "2800"))
    m = metrics(
        handoff("Rental", financials=fin, units=[
            {"unit": "A", "rent": D(1850), "status": "occupied"},
            {"unit": "B", "rent": D("1950.50"), "status": "vacant"},
            {"unit": "C", "rent": D(2100), "status": "vacant"},
        ]),
        handoff("Plain", financials=months(m2026_10=("100", "40")), units=[{"unit": "A", "status": "vacant"}]),
    )
    r = m["entities"]["Rental"]["rental"]
    # revenue 5000, expenses 3000, debt service (1200 + 1200 + 0) / 3 = 800
    assert (r["cash_flow"], r["debt_service_avg"], r["noi"], r["debt_service_recorded"]) == (2000, 800, 2800, True)
    assert r["vacancy_loss"] == D("4050.50")
    plain = m["entities"]["Plain"]["rental"]
    assert (plain["noi"], plain["cash_flow"], plain["debt_service_recorded"], plain["vacancy_loss"]) == (60, 60, False, 0)


def test_cost_per_lead_and_per_sale_need_spend() -> None:
    m = metrics(handoff(channels=[
        {"name": "Ads", "visits": D(340), "leads": D(12), "conversions": D(3), "spend": D("600.00"),
         "window": "last 30 days"},
        {"name": "Free", "visits": D(100), "leads": D(4), "conversions": D(1)},
        {"name": "Dud", "visits": D(50), "leads": D(0), "conversions": D(0), "spend": D(80)},
    ]))
    ads, free, dud = m["channels"]
    assert (ads["cost_per_lead"], ads["cost_per_sale"], ads["window"]) == (50, 200, "last 30 days")
    assert (free["cost_per_lead"], free["cost_per_sale"]) == ("no data", "no data")
    assert (dud["cost_per_lead"], dud["cost_per_sale"], dud["lead_rate"], dud["close_rate"]) == ("n/a", "n/a", 0, "n/a")


def test_kpi_unit_is_kept_and_unvalued_assets_are_words() -> None:
    m = metrics(
        handoff("A", kpis=[{"name": "Conversion", "value": D("0.02"), "target": D("0.03"), "unit": "%"}],
                assets=[{"name": "a.com", "value": D(0)}, {"name": "b.com"}, {"name": "Van", "value": D("1500.50")}]),
        handoff("B", assets=[{"name": "c.com", "value": D("0.00")}]),
    )
    assert [(k["unit"], k["state"]) for k in m["kpis"]] == [("%", "gap")]
    a, b = m["entities"]["A"], m["entities"]["B"]
    assert [x["value"] for x in a["assets"]] == ["not valued", "not valued", D("1500.50")]
    assert (a["assets_total"], b["assets_total"]) == (D("1500.50"), "none")
    assert [x["value"] for x in m["assets"]] == ["not valued", "not valued", D("1500.50"), "not valued"]
    assert (m["portfolio"]["assets_total"], m["portfolio"]["assets_count"]) == (D("1500.50"), 4)
    assert metrics(handoff(assets=[{"name": "x", "value": D(0)}]))["portfolio"]["assets_total"] == "none"


# -- both sides of every boundary -------------------------------------------------


def test_stale_is_over_30_days_and_the_oldest_comes_first() -> None:
    m = metrics(*(handoff(e, updated=day(-n)) for e, n in (("Thirty", 30), ("Mid", 45), ("Edge", 31), ("Old", 90))))
    assert [(p["entity"], p["age_days"]) for p in m["stale"]] == [("Old", 90), ("Mid", 45), ("Edge", 31)]


@pytest.mark.parametrize(("cash", "alert"), [("600.00", False), ("599.99", True), ("600.01", False)])
def test_runway_alert_is_under_six_months_not_at_six(cash: str, alert: bool) -> None:
    m = metrics(handoff(cash=D(cash), financials=months(m2026_10=("100", "200"))))
    assert m["entities"]["Acme"]["runway"] == D(cash) / 100
    derived = [s["title"] for s in m["shortfalls"] if s["persona"] == "CFO"]
    assert derived == (["Runway 5.9 months at $100/month burn"] if alert else [])  # never 6.0 under 6


def test_cash_below_zero_is_overdrawn_never_a_negative_runway() -> None:
    """A negative cash figure once gave 'Runway -10.0 months'; it is 'overdrawn', first, and a critical shortfall."""
    m = metrics(
        handoff("Under", cash=D("-1200"), financials=months(m2026_10=("100", "220"))),
        handoff("Earner", cash=D("-50"), financials=months(m2026_10=("300", "200"))),
        handoff("Fine", cash=D("100"), financials=months(m2026_10=("100", "110"))),
    )
    e = m["entities"]
    assert (e["Under"]["runway"], e["Earner"]["runway"], e["Fine"]["runway"]) == ("overdrawn", "overdrawn", 10)
    assert [x["name"] for x in ser.by_runway(e.values())] == ["Under", "Earner", "Fine"]
    assert m["portfolio"]["runway"] == "overdrawn"  # -1,150 of cash in all
    derived = sorted(s["title"] for s in m["shortfalls"] if s["persona"] == "CFO")
    assert derived == ["Overdrawn by $1,200, burning $120/month", "Overdrawn by $50"]


def test_a_figure_family_has_one_precision_decided_over_every_entity_and_the_sum() -> None:
    """The CEO's '$75.80 more each month' against the CFO's '$76.00': one family, one precision."""
    small = metrics(handoff("A", stack=[{"name": "x", "monthly_cost": D("9.99"), "in_use": False}]),
                    handoff("B", stack=[{"name": "y", "monthly_cost": D("45"), "in_use": False}]))
    assert small["portfolio"]["cents"]["infra_cost"] is True  # 9.99 + 45 = 54.99: all under $100
    big = metrics(handoff("A", stack=[{"name": "x", "monthly_cost": D("9.99"), "in_use": False}]),
                  handoff("B", stack=[{"name": "y", "monthly_cost": D("90.01"), "in_use": False}]))
    assert big["portfolio"]["cents"]["infra_cost"] is False  # their sum is $100.00
    assert ser.format_money(D("9.99"), False) == "$10" and ser.format_money(D("9.99"), True) == "$9.99"


def test_thirty_day_window_and_overdue_on_both_sides() -> None:
    m = metrics(handoff(actions=[
        {"title": "D+30", "due": day(30), "priority": 1},
        {"title": "D+31", "due": day(31), "priority": 1},
        {"title": "D", "due": day(0), "priority": 1},
        {"title": "D-1", "due": day(-1), "priority": 1},
        {"title": "Done late", "due": day(-5), "priority": 1, "done": True},
    ]))
    got = {a["title"]: (a["overdue"], a["days_overdue"]) for a in m["actions_30d"]}
    assert got == {"D-1": (True, 1), "D": (False, 0), "D+30": (False, 0)}
    everything_ = {a["title"]: (a["overdue"], a["done"]) for a in m["actions"]}
    assert everything_["Done late"] == (False, True) and everything_["D+31"] == (False, False)


def test_deferred_and_receivable_on_both_sides_of_the_as_of_date() -> None:
    def entry(name: str, received: dt.date | None, service: int) -> dict[str, Any]:
        return {"description": name, "amount": D(1), "received": received, "service_date": day(service)}

    m = metrics(handoff(revenue_recognition=[
        entry("paid, service D+1", day(0), 1),  # deferred
        entry("paid, service D", day(0), 0),  # earned and paid: neither
        entry("paid D+1, service D+1", day(1), 1),  # not received by D, not yet served: neither
        entry("paid D+1, service D", day(1), 0),  # receivable
        entry("unpaid, service D", None, 0),  # receivable
        entry("unpaid, service D+1", None, 1),  # neither
        entry("paid D-1, service D+2", day(-1), 2),  # deferred
    ]))
    assert [r["description"] for r in m["deferred"]] == ["paid, service D+1", "paid D-1, service D+2"]
    assert sorted(r["description"] for r in m["receivables"]) == ["paid D+1, service D", "unpaid, service D"]
    assert (m["deferred_total"], m["receivables_total"]) == (2, 2)


AGED = (0, 30, 31, 60, 61, 90, 91, 400)  # days since service: each edge of each aging bucket, on both sides


def test_receivables_aging_puts_each_edge_day_in_its_bucket_and_the_buckets_add_up_to_the_whole() -> None:
    """Found by planting a bug: the aging buckets were tested well inside each only; here day 30 and 31, 60 and 61, 90 and 91."""
    rows = [{"description": f"{d} days", "amount": D(2) ** i, "received": None, "service_date": day(-d)}
            for i, d in enumerate(AGED)]
    rows.append({"description": "paid", "amount": D(1000), "received": day(0), "service_date": day(-45)})
    rows.append({"description": "not yet served", "amount": D(3000), "received": None, "service_date": day(1)})
    # aged from a due date where one is given: due today is 0 days late, due tomorrow not yet due
    rows.append({"description": "due today", "amount": D(2) ** 9, "received": None, "service_date": day(-10), "due": day(0)})
    rows.append({"description": "due D+1", "amount": D(2) ** 8, "received": None, "service_date": day(-10), "due": day(1)})
    m = metrics(handoff(revenue_recognition=rows))
    buckets = ser.receivables_aging(m["receivables"])
    assert [(b["label"], [r["days_outstanding"] for r in b["rows"]]) for b in buckets] == [
        ("over 90 days", [400, 91]), ("61–90 days", [90, 61]), ("31–60 days", [60, 31]), ("0–30 days", [30, 0, 0]),
        ("not yet due", [-1]),
    ]  # oldest first, and oldest first within each
    assert [b["total"] for b in buckets] == [2**7 + 2**6, 2**5 + 2**4, 2**3 + 2**2, 2**9 + 2**1 + 2**0, 2**8]
    assert sum(b["total"] for b in buckets) == m["receivables_total"] == 2 ** 10 - 1  # each once, none left out
    assert sorted(r["description"] for b in buckets for r in b["rows"]) == sorted(r["description"] for r in m["receivables"])


def test_the_severity_and_status_counts_add_up_to_the_whole() -> None:
    """Each open finding is counted under exactly one severity, each project under one status; fixed findings under none."""
    findings = [{"severity": s, "finding": f"{s} {i}", "fixed": i == 2} for i, s in enumerate(ser.URGENCIES * 3)]
    docs = [handoff(security=findings[:6]), handoff(security=findings[6:], status="blocked"), handoff(status="paused")]
    m = metrics(*docs)
    open_findings = [f for f in findings if not f["fixed"]]
    assert sum(m["security_counts"].values()) == len(m["security"]) == len(open_findings) == 11
    assert m["security_counts"] == {s: sum(1 for f in open_findings if f["severity"] == s) for s in ser.URGENCIES}
    assert sum(m["status_counts"].values()) == len(m["projects"]) == 3
    assert (m["status_counts"]["active"], m["status_counts"]["blocked"], m["status_counts"]["paused"]) == (1, 1, 1)


def test_leases_ending_within_90_days_sorted_by_date() -> None:
    units = [{"unit": u, "status": "occupied", "lease_end": day(n)} for u, n in
             (("91", 91), ("90", 90), ("89", 89), ("ended", -3), ("b-same", 10), ("a-same", 10))]
    units.append({"unit": "vacant", "status": "vacant", "lease_end": day(5)})
    r = metrics(handoff(units=units))["entities"]["Acme"]["rental"]
    assert [(u["unit"], u["ended"]) for u in r["leases_ending"]] == [
        ("ended", True), ("a-same", False), ("b-same", False), ("89", False), ("90", False),
    ]


def test_neglected_clients_over_30_days_churned_excluded_longest_first() -> None:
    clients = [{"name": n, "status": s, "last_contact": day(-d)} for n, s, d in (
        ("Thirty", "active", 30), ("Edge", "active", 31), ("Gone", "churned", 200), ("Long", "prospect", 90),
        ("Mid", "active", 60), ("Never", "active", 0),
    )]
    a = metrics(handoff(clients=clients))["entities"]["Acme"]["agency"]
    assert [(c["name"], c["days"]) for c in a["neglected"]] == [("Long", 90), ("Mid", 60), ("Edge", 31)]


@pytest.mark.parametrize(
    ("value", "target", "better", "state"),
    [
        ("9.99", "10", "higher", "gap"), ("10", "10", "higher", "on target"), ("10.01", "10", "higher", "on target"),
        ("30.01", "30", "lower", "gap"), ("30", "30", "lower", "on target"), ("29.99", "30", "lower", "on target"),
        ("0.02", "0.02", None, "on target"), ("0.019", "0.02", None, "gap"),
    ],
)
def test_kpi_direction_on_both_sides_of_the_target(value: str, target: str, better: str | None, state: str) -> None:
    m = metrics(handoff(kpis=[{"name": "K", "value": D(value), "target": D(target), "better": better}]))
    assert m["kpis"][0]["state"] == state


@pytest.mark.parametrize(
    ("revenues", "expenses", "decision"),
    [
        (("100", "100", "100"), "100", "maintain"),  # growth 0, burn 0: the zero edges
        (("100", "100.01", "100.02"), "100.01", "invest"),  # growth $0.01, burn 0
        (("100", "100", "100"), "100.01", "review"),  # growth 0, burn $0.01
        (("100", "100.01", "100.02"), "100.02", "fix"),  # growth $0.01, burn $0.01
        (("100.02", "100.01", "100"), "99", "maintain"),  # shrinking, earning
        (("100", "100.004", "100.008"), "100", "maintain"),  # growth $0.004 shows as $0.00: not growing
    ],
)
def test_capital_deployment_quadrants_and_zero_edges(revenues: tuple[str, ...], expenses: str, decision: str) -> None:
    fin = {f"2026-{m:02d}": {"revenue": D(r), "expenses": D(expenses)} for m, r in zip((8, 9, 10), revenues, strict=True)}
    assert metrics(handoff(financials=fin))["entities"]["Acme"]["deployment"] == decision


# -- every sort order, with items out of order ---------------------------------------


def test_shortfalls_sort_by_urgency_then_entity_then_title() -> None:
    m = metrics(
        handoff("beta", shortfalls=[{"title": "z", "urgency": "high"}, {"title": "B", "urgency": "critical"},
                                    {"title": "a", "urgency": "critical"}]),
        handoff("Alpha", shortfalls=[{"title": "y", "urgency": "low"}, {"title": "x", "urgency": "high"}]),
    )
    assert [(s["urgency"], s["entity"], s["title"]) for s in m["shortfalls"]] == [
        ("critical", "beta", "a"), ("critical", "beta", "B"), ("high", "Alpha", "x"), ("high", "beta", "z"),
        ("low", "Alpha", "y"),
    ]


def test_security_sorts_by_severity_then_entity_then_finding() -> None:
    m = metrics(
        handoff("b", security=[{"severity": "low", "finding": "L"}, {"severity": "high", "finding": "z"},
                               {"severity": "high", "finding": "A"}]),
        handoff("A", security=[{"severity": "high", "finding": "m"}, {"severity": "critical", "finding": "c"}]),
    )
    assert [(s["severity"], s["entity"], s["finding"]) for s in m["security"]] == [
        ("critical", "A", "c"), ("high", "A", "m"), ("high", "b", "A"), ("high", "b", "z"), ("low", "b", "L"),
    ]


def test_receivables_and_deferred_sort_by_service_date_then_entity() -> None:
    def rr(service: int) -> list[dict[str, Any]]:
        return [{"amount": D(1), "service_date": day(-service)},
                {"amount": D(2), "received": day(-30), "service_date": day(service)}]

    m = metrics(handoff("b", revenue_recognition=rr(5) + rr(20)), handoff("A", revenue_recognition=rr(5) + rr(10)))
    assert [(r["entity"], r["days_outstanding"]) for r in m["receivables"]] == [
        ("b", 20), ("A", 10), ("A", 5), ("b", 5),
    ]
    assert [(r["entity"], r["service_date"]) for r in m["deferred"]] == [
        ("A", day(5)), ("b", day(5)), ("A", day(10)), ("b", day(20)),
    ]


def test_maintenance_ota_and_accounts_orders() -> None:
    m = metrics(handoff(
        maintenance=[{"item": i, "status": "open", "opened": o} for i, o in
                     (("Undated", None), ("b", day(-1)), ("a", day(-1)), ("Old", day(-40)))],
        channels=[{"name": n, "kind": k, "launch": d} for n, k, d in
                  (("Alpha, no date", "ota", None), ("Mike", "OTA", day(60)), ("Zulu", "ota", day(5)), ("Web", "organic", day(1)))],
        expenses=[{"amount": D(1), "category": c} for c in ("hosting", "Fuel", "ads", "Zoo")],
    ))
    r = m["entities"]["Acme"]["rental"]
    assert r is None  # no units: no rental figures
    assert [c["name"] for c in m["ota"]] == ["Zulu", "Mike", "Alpha, no date"]  # by launch, none last
    assert [a["category"] for a in m["accounts"]] == ["ads", "Fuel", "hosting", "Zoo"]  # regardless of case
    maint = metrics(handoff(units=[{"unit": "A", "status": "vacant"}], maintenance=[
        {"item": i, "status": s, "opened": o} for i, s, o in
        (("Undated", "open", None), ("b", "open", day(-1)), ("a", "open", day(-1)), ("Old", "open", day(-40)),
         ("Fixed", "done", day(-50)))]))["entities"]["Acme"]["rental"]
    assert [x["item"] for x in maint["maintenance_open"]] == ["Old", "a", "b", "Undated"]


def test_clients_rows_sort_by_status_then_name_and_rates_need_hours() -> None:
    a = metrics(handoff(clients=[
        {"name": "Zed", "status": "active", "monthly_fee": D(900), "hours_last_30d": D(12)},
        {"name": "Old", "status": "churned", "monthly_fee": D(100), "hours_last_30d": D(1)},
        {"name": "Maybe", "status": "prospect", "monthly_fee": D(100), "hours_last_30d": D(1)},
        {"name": "Abe", "status": "active", "monthly_fee": D(2100), "hours_last_30d": D("0.004")},
    ]))["entities"]["Acme"]["agency"]
    assert [(c["name"], c["rate"]) for c in a["rows"]] == [("Abe", "n/a"), ("Zed", 75), ("Maybe", "n/a"), ("Old", "n/a")]
    assert (a["mrr"], a["largest"], a["concentration"]) == (3000, "Abe", D("0.7"))


# -- metrics.json -------------------------------------------------------------------


def test_metrics_json_holds_the_figures_as_exact_decimals() -> None:
    m = metrics(
        handoff("Acme", cash=D("1000.00"), financials=months(m2026_10=("100.10", "300.35")),
                actions=[{"title": "Done late", "due": day(-5), "done": True}, {"title": "Late", "due": day(-2)}],
                revenue_recognition=[{"amount": D("2500.10"), "received": day(-1), "service_date": day(9)},
                                     {"amount": D("0.20"), "received": day(-1), "service_date": day(8)}]),
        handoff("Acme", financials=months(m2026_10=("200.20", "0"))),
    )
    back = json.loads(json.dumps(m, default=ser._json_default))  # as a sending run writes it
    assert {a["title"]: a["overdue"] for a in back["actions"]} == {"Done late": False, "Late": True}
    assert [a["title"] for a in back["actions_30d"]] == ["Late"]
    assert back["deferred_total"] == "2500.30"
    e = back["entities"]["Acme"]
    assert (e["revenue_avg"], e["expenses_avg"], e["burn"], e["cash_flow"]) == ("300.30", "300.35", "0.05", "-0.05")
    assert D(e["runway"]) == 20_000  # 1000 / 0.05
    assert back["portfolio"]["burn"] == "0.05"
    assert back["as_of"] == "2026-11-22" and back["period"] == "2026-W47"


def test_kpi_gaps_rank_by_how_far_each_is_from_its_target_then_by_name(tmp_path: Path) -> None:
    m = figures(tmp_path, doc("Alpha", kpis="""
        kpis:
          - {name: Bookings, value: 9, target: 10}
          - {name: Cost per lead, value: 45, target: 30, better: lower}
          - {name: Refunds, value: 2, target: 0, better: lower}
    """), doc("Zed", kpis="""
        kpis:
          - {name: Reviews, value: 2, target: 10}
          - {name: Calls, value: 90, target: 100}
          - {name: Arrivals, value: 18, target: 20}
    """))
    # Refunds: over a target of zero, unbounded; Reviews 80% short; Cost per lead 50% over;
    # Arrivals and Bookings both 10% short (by entity), Calls 10% short too (by name after Arrivals)
    assert [(k["entity"], k["name"]) for k in m["kpi_gaps"]] == [
        ("Alpha", "Refunds"), ("Zed", "Reviews"), ("Alpha", "Cost per lead"),
        ("Alpha", "Bookings"), ("Zed", "Arrivals"), ("Zed", "Calls"),
    ]
    assert m["kpi_gaps"][1]["gap_share"] == Decimal("0.8")


def test_a_rate_whose_count_is_not_given_is_no_data_not_zero() -> None:
    """Visits without a count of leads, or leads without a count of sales: the rate is unknown, not 0%."""
    m = metrics(handoff(channels=[
        {"name": "Blog", "visits": D(900)},
        {"name": "Referrals", "visits": D(40), "leads": D(8)},
    ]))
    blog, referrals = m["channels"]
    assert (blog["lead_rate"], blog["close_rate"]) == ("no data", "no data")
    assert referrals["lead_rate"] == Decimal("0.2") and referrals["close_rate"] == "no data"


# ---------------------------------------------------------------------------
# Routing and the day windows, on both sides


def test_the_cto_sees_every_security_finding_a_unit_its_own_and_others_none() -> None:
    """Found by planting a bug: the CTO sees every security finding, a unit report its own, the CFO and the CEO none."""
    metrics = sample_metrics()
    findings = metrics["security"]
    entities = {s["entity"] for s in findings}
    assert len(entities) >= 2  # findings of several businesses, so "its own" is a real choice

    def names(rows: list[dict]) -> list[tuple[str, str]]:
        return [(s["entity"], s["finding"]) for s in rows]

    assert names(ser.routed(metrics, "CTO")["security"]) == names(findings)
    assert names(ser.routed(metrics, "cto")["security"]) == names(findings)  # the persona in any case
    one = sorted(entities)[0]
    assert names(ser.routed(metrics, "Unit", entity=one)["security"]) == names(
        [s for s in findings if s["entity"] == one])
    assert ser.routed(metrics, "CFO")["security"] == []
    assert ser.routed(metrics, "CEO")["security"] == []


def action_metrics(tmp_path: Path, *actions: tuple[str, str, str]) -> dict:
    """Figures of one handoff whose actions are (title, due, persona), as of 2026-11-22."""
    import datetime as dt

    rows = "".join(f"  - title: {t}\n    due: {d}\n    persona: {p}\n" for t, d, p in actions)
    env = portfolio_with(tmp_path, f"entity: A\nstatus: active\nupdated: 2026-11-20\nactions:\n{rows}")
    return ser.compute_metrics(ser.read_handoffs(env.parent / "handoffs"), {}, dt.date(2026, 11, 22))


def test_an_action_due_in_seven_days_needs_you_and_in_eight_does_not(tmp_path: Path) -> None:
    """Found by planting a bug: the needs-you window on both sides: due in seven days needs you, in eight does not."""
    m = action_metrics(tmp_path, ("In six", "2026-11-28", "CFO"), ("In seven", "2026-11-29", "CFO"),
                       ("In eight", "2026-11-30", "CFO"), ("Today", "2026-11-22", "CFO"))
    needs = ser.needs_you(m, "CFO")
    assert [(i["what"], i["how"]) for i in needs["items"]] == [
        ("Today", "due today"), ("In six", "due in 6 days"), ("In seven", "due in 7 days"),
    ]  # soonest first
    assert needs["total"] == 3


def test_the_ceo_gets_actions_due_on_the_horizon_and_not_a_day_after(tmp_path: Path) -> None:
    """Found by planting a bug: the CEO gets actions due on the 30-day horizon, and not those due a day after."""
    m = action_metrics(tmp_path, ("On the horizon", "2026-12-22", "CFO"), ("A day after", "2026-12-23", "CFO"),
                       ("Long before", "2026-11-23", "CFO"))
    for a in m["actions"]:
        a["priority"] = 1  # the CEO sees other personas' actions only when overdue or P1
    assert str(m["action_horizon"]) == "2026-12-22"  # 30 days after the as-of date
    assert [a["title"] for a in ser.routed(m, "CEO")["actions"]] == ["Long before", "On the horizon"]
    assert len(ser.routed(m, "CFO")["actions"]) == 3  # its own persona gets all of them


def test_a_deploy_date_in_the_future_is_not_shown_as_negative_days(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A deploy date in the future is said to be so, not shown as negative days since."""
    env = portfolio_with(tmp_path, FRONT + "stack:\n  - {name: api, monthly_cost: 5, in_use: true, last_deploy: 2027-01-02}\n")
    code, out, err = dry_run_of(env, capsys, "cto")
    assert (code, err) == (0, "")
    assert "in the future: 2027-01-02" in out and "-41 days" not in out
