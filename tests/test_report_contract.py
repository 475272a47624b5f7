"""The reports against their contract: bounded length, cut lists that say where the rest is, words for no figure."""

from __future__ import annotations

import re
from decimal import Decimal
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
            assert f"the whole list is in the attached {r.id}-full.txt." in flat(r.text)
            assert "E0598" in r.full_text and "E0599" in r.full_text


UNIT_NAMES = ("3028 51st St Rental", "Expert Yacht Delivery", "DangerousCentaur")


def _everything_long(entities: int = 80) -> list[str]:
    """Entities with enough of every list (assets, receivables, deferred revenue, expense categories,
    uncategorized expenses, email lists, maintenance) that every report is cut."""
    docs = []
    for i, name in enumerate([*UNIT_NAMES, *(f"E{i:02d}" for i in range(entities))]):
        lines = [f"entity: {name}", "status: active", "updated: 2026-09-01", "cash: 1000",
                 "financials:", "  2026-10: {revenue: 100, expenses: 200}",
                 "assets:", f"  - {{name: a{i}, type: equipment, value: {100 + i}}}",
                 "revenue_recognition:",
                 f"  - {{description: r{i}, amount: {10 + i}, service_date: 2026-11-10}}",
                 f"  - {{description: d{i}, amount: {20 + i}, received: 2026-11-01, service_date: 2027-01-10}}",
                 "expenses:",
                 f"  - {{vendor: v{i}, amount: {30 + i}, category: Cat{i:02d}}}",
                 f"  - {{vendor: u{i}, amount: {40 + i}}}",
                 "channels:",
                 *(f"  - {{name: List {i}-{k}, kind: email, status: live, blast: {{list_size: {100 + i},"
                   " open_rate: 0.5, click_rate: 0.1, conversion_rate: 0.1, avg_order_value: 100}}" for k in range(2)),
                 "maintenance:",
                 *(f"  - {{item: Fix {i}-{k}, cost: {50 + k}, status: open, opened: 2026-11-0{1 + k % 9}}}"
                   for k in range(200 if name == UNIT_NAMES[0] else 1)),
                 "units:", f"  - {{unit: U{i}, tenant: T, rent: 1000, status: occupied}}"]
        docs.append("\n".join(lines) + "\n")
    return docs


MORE_ROW = re.compile(r"^[\d,]+ more( \w+)? +\|")


def test_every_cut_table_says_where_the_whole_list_is(tmp_path: Path) -> None:
    # a table's "N more" row says how many rows are left out; the line under the table says where they are
    metrics = metrics_of(tmp_path, *_everything_long())
    rows_seen = 0
    for r in ser.render_all(REPORTS, metrics):
        lines = r.text.splitlines()
        for i, line in enumerate(lines):
            if not MORE_ROW.match(line):
                continue
            rows_seen += 1
            rest = []
            for later in lines[i + 1:]:
                if later and set(later) == {"-"}:  # the next section's heading underline
                    break
                rest.append(later)
            assert f"the whole list is in the attached {r.id}-full.txt." in flat("\n".join(rest)), f"{r.id}: {line}"
    assert rows_seen >= 8  # assets, burn, four of accounting's, email lists, maintenance


def _section(text: str, title: str) -> str:
    """One section of a report's text, from its title to the next title, on one line."""
    return flat(text.split(f"\n{title}\n", 1)[1].split("\n---", 1)[0])


def test_an_empty_sum_is_a_word_never_a_zero(tmp_path: Path) -> None:
    # no job in the pipeline, no completed job with costs, no client owing, no stack: none, not $0.00
    metrics = metrics_of(tmp_path, """
        entity: Expert Yacht Delivery
        status: active
        updated: 2026-11-20
        deliveries:
          - {id: D-1, vessel: Boat, route: A - B, date: 2026-10-20, status: completed, revenue: 6800}
          - {id: D-2, vessel: Boat, route: A - B, date: 2026-10-21, status: cancelled, revenue: 0}
        """, """
        entity: DangerousCentaur
        status: active
        updated: 2026-11-20
        clients:
          - {name: Acme, service: SEO, monthly_fee: 900, status: active, hours_last_30d: 10, outstanding: 0,
             last_contact: 2026-11-10}
        """, """
        entity: 3028 51st St Rental
        status: active
        updated: 2026-11-20
        """)
    text = {r.id: r.text for r in ser.render_all(REPORTS, metrics)}
    summary = _section(text["yacht"], "Summary")
    assert "Pipeline (quoted and booked): none" in summary
    assert "margin none (1 not costed, left out of the margin)" in summary
    assert "$0.00" not in summary
    assert "no margin shown: D-1 " in summary + " " and "D-2" not in summary  # a cancelled job is not to be costed
    agency = _section(text["agency"], "Clients")
    assert "Outstanding: none" in agency and "from 1 active client " in agency + " "
    assert "$0.00" not in agency
    assert "Infrastructure: none" in flat(text["ceo"])
    assert "Monthly infrastructure: none" in flat(text["cto"])


# --- lists ranked by what matters, never alphabetically ----------------------------------------


def test_cto_stack_ranks_businesses_by_cost_and_unused_components_first(tmp_path: Path) -> None:
    metrics = metrics_of(tmp_path, """
        entity: Alpha
        status: active
        updated: 2026-11-20
        stack:
          - {name: small, monthly_cost: 5}
        """, """
        entity: Zed
        status: active
        updated: 2026-11-20
        stack:
          - {name: a-cheap, monthly_cost: 10}
          - {name: b-dear, monthly_cost: 300}
          - {name: c-unused-cheap, monthly_cost: 1, in_use: false}
          - {name: d-unused-dear, monthly_cost: 40, in_use: false}
          - {name: e-uncosted}
        """)
    assert [g["entity"] for g in metrics["stack_by_entity"]] == ["Zed", "Alpha"]
    cto = next(r for r in ser.render_all([t for t in REPORTS if t.id == "cto"], metrics)).text
    stack = cto.split("Stack by entity", 1)[1]
    assert stack.index("Zed") < stack.index("Alpha")  # $351 a month before $5
    names = ["d-unused-dear", "c-unused-cheap", "b-dear", "a-cheap", "e-uncosted"]
    at = [stack.index(n) for n in names]
    assert at == sorted(at), names


def test_cmo_channels_rank_businesses_by_leads(tmp_path: Path) -> None:
    metrics = metrics_of(tmp_path, """
        entity: Alpha
        status: active
        updated: 2026-11-20
        channels:
          - {name: Ads, kind: paid, status: live, visits: 1000, leads: 10, spend: 5000}
        """, """
        entity: Zed
        status: active
        updated: 2026-11-20
        channels:
          - {name: Blog, kind: organic, status: live, visits: 900, leads: 30}
          - {name: Social, kind: organic, status: live, visits: 900, leads: 90}
        """)
    assert [g["entity"] for g in metrics["channels_by_entity"]] == ["Zed", "Alpha"]
    cmo = next(r for r in ser.render_all([t for t in REPORTS if t.id == "cmo"], metrics)).text
    channels = cmo.split("\nChannels\n", 1)[1].split("Lead %:", 1)[1]  # past the totals, which name the paid channels
    assert channels.index("Zed") < channels.index("Alpha")  # 120 leads before 10
    assert channels.index("Social") < channels.index("Blog")


def test_ceo_growth_names_the_businesses_with_too_few_months_cut_to_the_bound(tmp_path: Path) -> None:
    # the growth is an average-like portfolio figure: it names what it leaves out, cut like the other names
    trend = "financials:\n" + "".join(f"  2026-{m:02d}: {{revenue: {100 * m}, expenses: 50}}\n" for m in range(5, 11))
    docs = [f"entity: Grower {i}\nstatus: active\nupdated: 2026-11-20\n{trend}" for i in range(2)]
    docs += [f"entity: Short {i:03d}\nstatus: active\nupdated: 2026-11-20\n"
             "financials:\n  2026-10: {revenue: 100, expenses: 50}\n" for i in range(1500)]
    metrics = metrics_of(tmp_path, *docs)
    ceo = next(r for r in ser.render_all([t for t in REPORTS if t.id == "ceo"], metrics))
    line = flat(ceo.text).split("Revenue growth", 1)[1].split("- Infrastructure", 1)[0]
    assert "over 2 of 1,502 businesses; left out, fewer than 3 months: Short 000, Short 001" in line
    assert "Grower" not in line
    assert re.search(r"and [\d,]+ more\)", line)
    assert ceo.text.count("\n") <= ser.MAX_LINES
    assert "Short 1499" in ceo.full_text and "Short 1499" not in ceo.text
    assert "the whole list is in the attached ceo-full.txt." in line
    small = metrics_of(tmp_path / "small", docs[0], docs[2])
    text = flat(next(r for r in ser.render_all([t for t in REPORTS if t.id == "ceo"], small)).text)
    assert "more each month (over 1 of 2 businesses; left out, fewer than 3 months: Short 000)" in text


def test_cmo_channel_without_visits_shows_its_leads_sales_spend_and_costs(tmp_path: Path) -> None:
    metrics = metrics_of(tmp_path, """
        entity: Alpha
        status: active
        updated: 2026-11-20
        channels:
          - {name: Referrals, kind: referral, status: live, leads: 8, conversions: 2, spend: 400, window: Oct 2026}
          - {name: Flyers, kind: print, status: live, spend: 50}
          - {name: Newsletter, kind: email, status: planned}
        """)
    cmo = flat(next(r for r in ser.render_all([t for t in REPORTS if t.id == "cmo"], metrics)).text)
    others = cmo.split("Channels without traffic figures:", 1)[1]
    assert "Alpha: Referrals (referral, live): 8 leads, 2 sales, spent $400: $50.00 per lead, $200 per sale (Oct 2026)" in others
    assert "Alpha: Flyers (print, live): spent $50.00 (period not given)" in others
    # nothing known: as before; the sections with nothing in them are named together at the end
    assert "Alpha: Newsletter (email, planned) Nothing this week in: CMO shortfalls and milestones, email blasts, OTA sequence, CMO KPIs. ----" in others


def test_cmo_channels_without_visits_rank_by_what_is_at_stake(tmp_path: Path) -> None:
    """By leads, then spend (the most first), as the channels with traffic are; nothing known last, as written."""
    metrics = metrics_of(tmp_path, """
        entity: Alpha
        status: active
        updated: 2026-11-20
        channels:
          - {name: Newsletter, kind: email, status: planned}
          - {name: Flyers, kind: print, status: live, spend: 50}
          - {name: Podcast, kind: audio, status: planned}
          - {name: Referrals, kind: referral, status: live, leads: 8, conversions: 2, spend: 400}
        """)
    cmo = flat(next(r for r in ser.render_all([t for t in REPORTS if t.id == "cmo"], metrics)).text)
    others = cmo.split("Channels without traffic figures:", 1)[1].split("Email blast", 1)[0]
    order = [name for name in ("Referrals", "Flyers", "Newsletter", "Podcast") if name in others]
    assert sorted(order, key=others.index) == ["Referrals", "Flyers", "Newsletter", "Podcast"]


def test_the_ceo_live_numbers_are_by_table_and_last_weeks_delivery_is_a_line(tmp_path: Path) -> None:
    """The headline adds up no counts of different tables (events of one business with another's);
    last week's delivery is a line of its own."""
    metrics = metrics_of(tmp_path, """
        entity: Alpha
        status: active
        updated: 2026-11-20
        """)
    now = {"Portfolio": {"events": Decimal(1375), "users": Decimal(40)}}
    earlier = {"2026-W46": {"Portfolio": {"events": Decimal(1250), "users": Decimal(40)}}}
    metrics["history"] = {**ser.history_figures(metrics["period"], now, earlier), "now": now}
    metrics["last_delivery"] = "Last week's reports (2026-W46): 8 delivered"
    ceo = next(r for r in ser.render_all([t for t in REPORTS if t.id == "ceo"], metrics)).text
    assert "Live numbers (DynamoDB)" not in ceo and "events 1,375" not in ceo
    assert "\n  - Last week's reports (2026-W46): 8 delivered\n" in ceo  # a line of its own, not the end of the last
