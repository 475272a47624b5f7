"""Every figure of SPEC §2.3 from small hand-made handoffs, with hand-checked answers."""

from __future__ import annotations

import datetime as dt
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

import send_exec_reports as ser

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


def test_infra_cost_and_savings(tmp_path: Path) -> None:
    m = figures(tmp_path, doc(stack="""
        stack:
          - {name: api, monthly_cost: 1.20, in_use: true, last_deploy: 2026-11-02}
          - {name: old, monthly_cost: 23.50, in_use: false}
          - {name: db, monthly_cost: 100}
    """))
    e = m["entities"]["Acme"]
    assert e["infra_cost"] == Decimal("124.70")  # exact: amounts are read as decimals
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
    assert got == [("Top", False, 0), ("Late", True, 2), ("Edge", False, 0), ("No priority", False, 0)]
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
    assert float(rows["D-1"]["margin_pct"]) == pytest.approx(2730 / 6800)
    assert rows["D-5"]["margin_pct"] == "n/a"
    assert y["pipeline"] == 10000 and y["pipeline_count"] == 2
    assert float(y["avg_margin_pct"]) == pytest.approx((2730 / 6800 + 0.1) / 2)
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
    assert a["checklist_pct"] == pytest.approx(3 / 7)
    assert b["events"] == b["users"] == b["checklist_pct"] == "no data"
    assert m["sources"]["tables"] == ["a-check", "a-events", "a-users"]


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
    assert float(gbp["lead_rate"]) == pytest.approx(12 / 340) and gbp["close_rate"] == Decimal("0.25")
    assert m["blasts"][0]["potential"] == 756  # exact: 1200 * 0.35 * 0.08 * 0.05 * 450
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
        (ser.format_months, 4.25, "4.3"),
        (ser.format_months, 13 / 3, "4.3"),
        (ser.format_months, "not burning", "not burning"),
        (ser.format_number, 0.95, "0.95"),
        (ser.format_number, 30, "30"),
        (ser.format_date, dt.date(2026, 1, 2), "2026-01-02"),
    ],
)
def test_formatting(fn, value, text: str) -> None:
    assert fn(value) == text
