"""Week over week: changes against the newest earlier period, and sparklines."""

from __future__ import annotations

from decimal import Decimal as D

import send_exec_reports as ser


def test_sparkline_maps_low_to_high_with_gaps_and_draws_flat_flat() -> None:
    assert ser.sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == "▁▂▃▄▅▆▇█"
    assert ser.sparkline([D("10"), None, D("40"), D("10")]) == "▁ █▁"
    assert ser.sparkline([5, 5, None, 5]) == "▄▄ ▄"
    assert ser.sparkline([None, None]) == "  "
    assert ser.sparkline([]) == ""
    # half-way rounds up: 1/2 of the 7 steps is 3.5 -> level 4 (▅)
    assert ser.sparkline([0, 1, 2]) == "▁▅█"
    assert ser.sparkline([D("-3"), D("-1"), D("-2")]) == "▁█▅"


def test_recent_periods_cross_the_year_and_stop_at_year_one() -> None:
    assert ser.recent_periods("2027-W02", 4) == ["2026-W52", "2026-W53", "2027-W01", "2027-W02"]
    assert ser.recent_periods("0001-W02", 8) == ["0001-W01", "0001-W02"]
    assert ser.recent_periods("not a week") == []
    assert ser.recent_periods("2026-W54") == []
    assert ser.period_start("2026-W47").isoformat() == "2026-11-16"


def test_headline_figures_read_numbers_only_from_metrics_and_from_json() -> None:
    metrics = {
        "portfolio": {"cash": D("100.10"), "revenue_avg": "no data", "burn": D("-5"), "runway": "not burning"},
        "entities": {
            "Acme": {"cash": D("100.10"), "events": 7, "users": "no data", "burn": "no data"},
            "Beta": {"cash": "no data", "events": 3, "users": 2, "burn": D("-5")},
        },
    }
    assert ser.headline_figures(metrics) == {
        "Acme": {"cash": D("100.10"), "events": D(7)},
        "Beta": {"events": D(3), "users": D(2), "burn": D(-5)},
        "Portfolio": {"cash": D("100.10"), "burn": D(-5), "events": D(10), "users": D(2)},
    }
    # read back from JSON: floats (the format before the schema number) and exact strings alike
    loaded = {"portfolio": {"cash": 100.1, "burn": "-5.00", "expenses_avg": "NaN"}, "entities": {"Acme": 3}}
    assert ser.headline_figures(loaded) == {"Portfolio": {"cash": D("100.1"), "burn": D("-5.00")}}


def hl(**figures: object) -> dict[str, dict[str, D]]:
    """Headline figures of the portfolio scope only."""
    return {"Portfolio": {k: D(str(v)) for k, v in figures.items()}}


def test_changes_are_against_the_newest_earlier_period_only() -> None:
    earlier = {
        "2026-W44": hl(revenue_avg=40000, events=1000),
        "2026-W46": hl(revenue_avg="40658.33", events=1250),
        "2026-W48": hl(revenue_avg=1, events=1),  # after the period: never used
    }
    h = ser.history_figures("2026-W47", hl(revenue_avg="41258.33", events=1375, users=9), earlier)
    assert h["previous"] == "2026-W46"
    assert h["change"]["Portfolio"] == {"revenue_avg": D("600.00"), "events": D(125)}
    assert ser.change_text(h, "Portfolio", "revenue_avg") == " (+$600 vs 2026-W46)"
    assert ser.change_text(h, "Portfolio", "events") == " (+125 this week)"
    assert ser.change_text(h, "Portfolio", "users") == ""  # not in the earlier period
    assert ser.change_text(h, "Nobody", "cash") == ""


def test_a_gap_of_weeks_names_the_period_and_falls_are_negative() -> None:
    h = ser.history_figures("2026-W47", hl(burn=200, events=900), {"2026-W44": hl(burn="700.50", events=1000)})
    assert ser.change_text(h, "Portfolio", "burn") == " (-$501 vs 2026-W44)"
    assert ser.change_text(h, "Portfolio", "events") == " (-100 vs 2026-W44)"
    assert ser.change_text(ser.history_figures("2026-W47", hl(cash=5), {"2026-W46": hl(cash=5)}),
                           "Portfolio", "cash") == " (unchanged vs 2026-W46)"


def test_no_change_reads_unchanged_in_the_words_a_change_would_use() -> None:
    """A count unchanged since last week is 'unchanged this week', like '+125 this week'; a change
    that rounds to nothing as shown ($0.00) is no change, never '+$0.00'."""
    h = ser.history_figures("2026-W47", hl(events=1375, revenue_avg="40658.3333333333333333333333333"),
                            {"2026-W46": hl(events=1375, revenue_avg="40658.333333")})  # an older, rounded file
    assert ser.change_text(h, "Portfolio", "events") == " (unchanged this week)"
    assert ser.change_text(h, "Portfolio", "revenue_avg") == " (unchanged vs 2026-W46)"
    h = ser.history_figures("2026-W47", hl(events=1375, cash="100.004"), {"2026-W44": hl(events=1375, cash=100)})
    assert ser.change_text(h, "Portfolio", "events") == " (unchanged vs 2026-W44)"  # not last week: named
    assert ser.change_text(h, "Portfolio", "cash") == " (unchanged vs 2026-W44)"
    h = ser.history_figures("2026-W47", hl(cash="100.005"), {"2026-W46": hl(cash=100)})
    assert ser.change_text(h, "Portfolio", "cash") == " (+$0.01 vs 2026-W46)"  # a cent, as shown


def test_earnings_change_with_the_sign_of_earnings_and_a_crossing_names_what_burn_was() -> None:
    """Burn below zero reads as earnings: its change is the earnings' (burn down $600 is earnings up
    $600). Burn that crossed zero names last period's state, for the portfolio and an entity alike."""
    earlier = {"2026-W46": {"Portfolio": {"burn": D("-3791.67")}, "Acme": {"burn": D(300)},
                            "Beta": {"burn": D(-200)}, "Gamma": {"burn": D(0)}}}
    now = {"Portfolio": {"burn": D("-4391.67")}, "Acme": {"burn": D(-200)}, "Beta": {"burn": D(300)},
           "Gamma": {"burn": D(50)}}
    h = ser.history_figures("2026-W47", now, earlier)
    assert ser.change_text(h, "Portfolio", "burn", earning=True) == " (+$600 vs 2026-W46)"
    assert ser.change_text(h, "Portfolio", "burn") == " (-$600 vs 2026-W46)"  # as burn: it fell
    # burning $300 then, earning $200 now: not "+$500", not "-$500"
    assert ser.change_text(h, "Acme", "burn", earning=True) == " (was burning $300/month in 2026-W46)"
    assert ser.change_text(h, "Beta", "burn") == " (was earning $200/month in 2026-W46)"
    # zero burn is shown as earning $0.00 (not burning): from there to burning is a crossing too
    assert ser.change_text(h, "Gamma", "burn") == " (was earning $0.00/month in 2026-W46)"


def test_first_run_has_no_changes_and_no_sparklines() -> None:
    h = ser.history_figures("2026-W47", hl(cash=5), {})
    assert h["previous"] is None and h["change"] == {}
    assert h["spark"] == {"Portfolio": {}}
    assert ser.change_text(h, "Portfolio", "cash") == ""


def test_sparklines_cover_the_last_eight_weeks_with_gaps() -> None:
    earlier = {
        "2026-W39": hl(cash=0),  # nine weeks back: outside the window
        "2026-W40": hl(cash=100),
        "2026-W42": hl(cash=200),
        "2026-W46": hl(cash=800),
    }
    h = ser.history_figures("2026-W47", hl(cash=700), earlier)
    assert h["weeks"][0] == "2026-W40" and h["weeks"][-1] == "2026-W47"
    # 100 . 200 . . . 800 700 over 100..800: levels 0, 1, 7, 6
    assert h["spark"]["Portfolio"]["cash"] == "▁ ▂   █▇"


def test_cloudwatch_data_skips_text_and_out_of_range_values_and_batches_by_a_thousand() -> None:
    import datetime as dt

    when = dt.datetime(2026, 11, 23, 7, tzinfo=dt.UTC)
    headline = {
        "Portfolio": {"cash": D("70500.10"), "burn": D("-4392"), "events": D(6099)},
        "Acme": {"cash": D("1e-300"), "revenue_avg": D(0), "runway": D(3)},
    }
    data = ser.cloudwatch_data(headline, when)
    assert [(d["Dimensions"][0]["Value"], d["MetricName"], d["Value"], d["Unit"]) for d in data] == [
        ("Acme", "Revenue3MonthAverage", 0.0, "None"),
        ("Portfolio", "Burn", -4392.0, "None"),
        ("Portfolio", "Cash", 70500.1, "None"),
        ("Portfolio", "Events", 6099.0, "Count"),
    ]
    assert all(d["Timestamp"] == when for d in data)
    assert [len(b) for b in ser.batches(list(range(2501)), ser.CLOUDWATCH_BATCH)] == [1000, 1000, 501]
    assert ser.batches([], 1000) == []


# The archive's figures read back, and a sequence of real runs.

import json  # noqa: E402
import shutil  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from .conftest import EXAMPLES, SesProxy  # noqa: E402
from .test_delivery import verify_sender, write_env  # noqa: E402
from .test_readers import write_portfolio  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"


# The items each run keeps, and what changed between two weeks of them.

LAST_WEEK = """
entity: Acme
project: Shop
status: active
updated: 2026-11-10
cash: 1000
shortfalls:
  - {title: No backups, urgency: high}
  - {title: Old shortfall, urgency: low}
security:
  - {severity: high, finding: Admin without login, fixed: false}
actions:
  - {title: Book the audit, due: 2026-11-30, priority: 1, done: false}
  - {title: Renew the domain, due: 2026-12-10, priority: 2, done: false}
  - {title: Call the bank, due: 2026-11-10, priority: 2, done: false}
  - {title: Dropped task, due: 2027-01-10, priority: 3, done: false}
kpis:
  - {name: Uptime, value: 0.98, target: 0.99}
  - {name: Churn, value: 0.05, target: 0.10, better: lower}
"""


def items_of(folder: Path, front: str, as_of: str) -> list[dict[str, object]]:
    """The items a run keeps for one hand-made handoff (a second, steady business beside it)."""
    portfolio = write_portfolio(folder / as_of, [
        front, "entity: Beta\nstatus: active\nupdated: 2026-11-20\ncash: 500\n"])
    return ser.report_items(ser.compute_metrics(portfolio, {}, ser.dt.date.fromisoformat(as_of)))


def test_a_runs_items_have_ids_that_fold_case_and_spaces_and_json_values(tmp_path: Path) -> None:
    """The items next week compares with: the same item, however its case or spacing is retyped, keeps its id."""
    items = items_of(tmp_path, LAST_WEEK, "2026-11-22")
    kinds = [i["kind"] for i in items]
    assert kinds.count("shortfall") == 3  # two declared, and the unfixed high finding
    assert {i["kind"] for i in items} == {"shortfall", "finding", "action", "project", "kpi", "cash"}  # no inventory
    retyped = items_of(tmp_path / "retyped", LAST_WEEK.replace("Book the audit", "book  THE audit")
                       .replace("entity: Acme", "entity: ACME"), "2026-11-22")
    assert [i["id"] for i in retyped] == [i["id"] for i in items]
    assert len({i["id"] for i in items}) == len(items)
    call = next(i for i in items if i["title"] == "Call the bank")
    assert call == {"id": call["id"], "kind": "action", "entity": "Acme", "project": "Shop", "title": "Call the bank",
                    "persona": None, "priority": 2, "due": "2026-11-10", "done": False, "overdue": True,
                    "days_late": 12}
    uptime = next(i for i in items if i["title"] == "Uptime")
    assert (uptime["value"], uptime["target"], uptime["met"]) == ("0.98", "0.99", False)
    assert next(i for i in items if i["kind"] == "cash" and i["entity"] == "Acme")["cash"] == "1000"
    assert json.loads(json.dumps(items)) == items  # kept in metrics.json and read back the same


def test_the_changes_between_two_weeks_of_items_are_complete(tmp_path: Path) -> None:
    """Every kind of change the reports say: new and gone shortfalls and findings, actions done and
    newly overdue, a status change, KPIs crossing their target both ways, cash per entity, a stale handoff."""
    before = items_of(tmp_path, LAST_WEEK, "2026-11-15")
    this_week = (LAST_WEEK.replace("status: active", "status: at-risk").replace("cash: 1000", "cash: 900")
                 .replace("  - {title: Old shortfall, urgency: low}\n", "  - {title: Payroll late, urgency: critical}\n")
                 .replace("fixed: false", "fixed: true")
                 .replace("priority: 1, done: false", "priority: 1, done: true")
                 .replace("  - {title: Dropped task, due: 2027-01-10, priority: 3, done: false}\n", "")
                 .replace("value: 0.98", "value: 0.995").replace("value: 0.05", "value: 0.2"))
    now = items_of(tmp_path, this_week, "2026-12-12")  # 32 days after the update: the handoff is stale now
    changes = ser.item_changes(now, before)

    def titles(key: str) -> list[str]:
        return [i["title"] for i in changes[key]]

    assert changes["kept"] is True
    assert titles("new_shortfalls") == ["Payroll late"]
    assert sorted(titles("gone_shortfalls")) == ["Old shortfall", "Unfixed security finding: Admin without login"]
    assert titles("new_findings") == [] and titles("gone_findings") == ["Admin without login"]
    assert titles("actions_done") == ["Book the audit"]
    assert titles("gone_actions") == ["Dropped task"]
    assert titles("newly_overdue") == ["Renew the domain"]  # "Call the bank" was overdue already
    assert [(c["item"]["title"], c["was"], c["item"]["status"]) for c in changes["status_changes"]] == [
        ("Shop", "active", "at-risk")]
    assert titles("kpis_met") == ["Uptime"] and titles("kpis_missed") == ["Churn"]
    assert changes["cash"] == [{"entity": "Acme", "was": D(1000), "now": D(900), "change": D(-100)}]
    assert titles("newly_stale") == ["Shop"]
    assert ser.item_changes(before, before) == {"kept": True, **{k: [] for k in ser.ITEM_CHANGES}}


def test_a_week_of_schema_1_compares_its_figures_and_its_items_are_not_kept(tmp_path: Path) -> None:
    """A metrics.json of schema 1 still gives its figures; its items read as "not kept that week"."""
    archive = ser.FolderArchive(tmp_path / "archive")
    archive.write("2026-W46/metrics.json", (FIXTURES / "metrics-schema-1.json").read_bytes())
    records = ser.earlier_records(archive, "2026-W47", ["ceo"])
    history = ser.report_history("2026-W47", "ceo", {"Portfolio": {"cash": D(70500)}}, records, {})
    assert ser.change_text(history, "Portfolio", "cash") == " (+$200 vs 2026-W46)"
    assert history["previous_items"] is None
    assert ser.item_changes(items_of(tmp_path, LAST_WEEK, "2026-11-22"), history["previous_items"]) == {
        "kept": False, **{k: [] for k in ser.ITEM_CHANGES}}


def test_hand_edited_earlier_items_are_read_with_care(tmp_path: Path) -> None:
    """An earlier item without an id, of no known kind, or with junk for its cash is passed over."""
    now = items_of(tmp_path, LAST_WEEK, "2026-11-22")
    acme_cash = next(i for i in now if i["kind"] == "cash" and i["entity"] == "Acme")
    junk = [{"kind": "action"}, "text", {**acme_cash, "cash": "lots"}, {"id": "x", "kind": "mystery"}]
    changes = ser.item_changes(now, junk)
    assert changes["cash"] == [] and changes["actions_done"] == []


def earlier_figures(archive: ser.Archive, period: str,
                    report_id: str | None = None) -> dict[str, dict[str, dict[str, D]]]:
    """The headline figures one report (None: any) showed in the archived periods before `period` it reads."""
    return ser.figures_shown(ser.earlier_records(archive, period, [report_id]), report_id)


def test_a_metrics_file_of_the_current_format_is_read_exactly(tmp_path: Path) -> None:
    archive = ser.FolderArchive(tmp_path / "archive")
    archive.write("2026-W46/metrics.json", (FIXTURES / "metrics-schema-1.json").read_bytes())
    archive.write("2026-W30/metrics.json", b'{"portfolio": {"cash": 1}}')  # outside the eight weeks: not read
    earlier = earlier_figures(archive, "2026-W47")
    assert earlier == {"2026-W46": {
        "JADA": {"cash": D("7200"), "revenue_avg": D("5100.00"), "expenses_avg": D("7000.00"),
                 "burn": D("1900.00"), "events": D(1250)},
        "QuickDumpNow": {"cash": D("18500"), "events": D(4724), "users": D(257)},
        "Portfolio": {"cash": D("70300.00"), "revenue_avg": D("40658.333333"), "expenses_avg": D("36766.666667"),
                      "burn": D("-3791.666666"), "events": D(5974), "users": D(257)},
    }}
    assert earlier_figures(archive, "2026-W46") == {"2026-W30": {"Portfolio": {"cash": D(1)}}}


@pytest.mark.parametrize(("content", "problem"), [
    (b'{"schema": 3, "runs": {}}', "written by a newer version of send_exec_reports.py (figures schema 3; "
                                    "this version reads up to 2); update the tool, or move it aside"),
    (b'{"schema": 2, "portfolio": {}}', 'figures schema 2 without its "runs" (an object of figures); move it aside'),
    (b'{"schema": "one"}', "schema 'one' is not a version number; move it aside"),
    (b'{"portfolio": ', "the figures of an earlier week cannot be read (Expecting value: line 1 column 15"),
    (b"[1]", "the figures of an earlier week are not a JSON object; move it aside"),
])
def test_figures_that_cannot_be_used_are_named_and_refused(tmp_path: Path, content: bytes, problem: str) -> None:
    archive = ser.FolderArchive(tmp_path / "archive")
    archive.write("2026-W46/metrics.json", content)
    with pytest.raises(ser.ConfigError) as err:
        earlier_figures(archive, "2026-W47")
    assert str(err.value).startswith(f"{tmp_path / 'archive' / '2026-W46' / 'metrics.json'}: {problem}")


def test_a_dry_run_reads_the_archive_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive = tmp_path / "archive"
    (archive / "2026-W46").mkdir(parents=True)
    shutil.copy(FIXTURES / "metrics-schema-1.json", archive / "2026-W46" / "metrics.json")
    before = sorted(str(p) for p in archive.rglob("*"))
    env = write_env(tmp_path, "http://127.0.0.1:9")
    assert ser.main(["--env-file", str(env), "--dry-run", "--as-of", "2026-11-22", "--only", "ceo,cfo"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "No earlier week" not in text and "No earlier report" not in text
    # a schema-1 week kept no items: what changed since is not known, said once in each report
    assert text.count("What changed since 2026-W46 is not known: that week's report kept only its figures "
                      "(an earlier version of this tool), not its items.") == 2
    assert "Cash on hand: $70,500 (+$200 vs 2026-W46) (sum of the cash figures given)" in text
    assert "Revenue: $41,258/month (+$600 vs 2026-W46); expenses: $36,867/month (+$" in text
    assert "- Cash: $70,500 (+$200 vs 2026-W46) ······▁█" in text  # the CFO's list: change, then the sparkline
    assert sorted(str(p) for p in archive.rglob("*")) == before


@pytest.mark.parametrize(("burn_before", "line"), [
    # the sample earns $4,391.67 a month; a week before it earned $3,791.67: earnings up $600
    ("-3791.67", "Earning $4,392/month (+$600 vs 2026-W46) across the portfolio (not burning)"),
    # a week before it burned $500 a month
    ("500", "Earning $4,392/month (was burning $500/month in 2026-W46) across the portfolio (not burning)"),
])
def test_the_ceo_earning_line_says_how_it_changed(tmp_path: Path, burn_before: str, line: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    metrics = json.loads((FIXTURES / "metrics-schema-1.json").read_text(encoding="utf-8"))
    metrics["portfolio"]["burn"] = burn_before
    (tmp_path / "archive" / "2026-W46").mkdir(parents=True)
    (tmp_path / "archive" / "2026-W46" / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    env = write_env(tmp_path, "http://127.0.0.1:9")
    assert ser.main(["--env-file", str(env), "--dry-run", "--as-of", "2026-11-22", "--only", "ceo"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert f"- {line} - JADA is burning $1,900/month" in text


def test_a_count_from_an_export_not_refreshed_is_named_and_not_compared(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An export older than the week before the report's week says so, and its count's change is not
    "unchanged this week" (it would be the old export's): in the live numbers and the data sources."""
    exports = tmp_path / "dynamodb"
    shutil.copytree(EXAMPLES / "dynamodb", exports)
    summary = next((exports / "eyd-events").glob("AWSDynamoDB/*/manifest-summary.json"))
    text = summary.read_text(encoding="utf-8")
    assert '"exportTime":"2026-11-21T09:00:00.000Z"' in text
    summary.write_text(text.replace('"exportTime":"2026-11-21T09:00:00.000Z"', '"exportTime":"2026-11-07T09:00:00.000Z"'),
                       encoding="utf-8")
    (tmp_path / "archive" / "2026-W46").mkdir(parents=True)
    shutil.copy(FIXTURES / "metrics-schema-1.json", tmp_path / "archive" / "2026-W46" / "metrics.json")
    env = write_env(tmp_path, "http://127.0.0.1:9", DYNAMODB_EXPORT_DIR=str(exports))
    # W47 begins on 2026-11-16, the week before it on 2026-11-09: an export of 2026-11-07 is older
    assert ser.main(["--env-file", str(env), "--dry-run", "--as-of", "2026-11-22", "--only", "ceo,yacht,cfo"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    stale = "(export of 2026-11-07: not refreshed this week, so not compared)"
    # the CEO's, each table by itself (the earlier week has no figures for this business's users)
    assert f"- Expert Yacht Delivery: events {stale} - JADA: events (-66 this week)" in out
    assert f"Live numbers: events 646 {stale}, users 74, checklist done" in out  # the yacht report
    assert "eyd-checklist, eyd-users (exported 2026-11-21 09:00 UTC); eyd-events (export of 2026-11-07: not refreshed this week); as of" in out
    assert "unchanged this week), users 257" not in out


def portfolio_with_jada_cash(folder: Path, cash: int) -> None:
    """The sample portfolio in `folder`, with JADA's cash changed."""
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(EXAMPLES / "handoffs", folder)
    path = folder / "jada" / "charter-operations.md"
    text = path.read_text(encoding="utf-8")
    assert "\ncash: 7400\n" in text
    path.write_text(text.replace("\ncash: 7400\n", f"\ncash: {cash}\n"), encoding="utf-8")


def sending_setup(tmp_path: Path, moto: str, endpoint: str, where: str) -> tuple[Path, Path, ser.Archive]:
    """The sample portfolio's handoffs to edit, a repos.env that sends it, and its archive (a folder or S3)."""
    from .test_archive import S3_ARCHIVE, make_bucket

    verify_sender(moto)
    if where == "s3":
        make_bucket(moto)
    handoffs = tmp_path / "handoffs"
    env = write_env(tmp_path, endpoint, HANDOFF_DIR=str(handoffs), ARCHIVE_DIR=S3_ARCHIVE if where == "s3" else "archive")
    portfolio_with_jada_cash(handoffs, 7400)
    return handoffs, env, ser.open_archive(ser.load_settings(str(env), dry_run=False))


@pytest.mark.parametrize("where", ["folder", "s3"])
def test_a_sequence_of_weekly_runs_compares_each_with_the_one_before(
        tmp_path: Path, moto: str, ses_proxy: SesProxy, where: str, capsys: pytest.CaptureFixture[str]) -> None:
    handoffs, env, archive = sending_setup(tmp_path, moto, ses_proxy.url, where)

    def week(as_of: str, jada_cash: int, *extra: str) -> str:
        portfolio_with_jada_cash(handoffs, jada_cash)
        assert ser.main(["--env-file", str(env), "--as-of", as_of, "--only", "ceo,cfo", *extra]) == 0
        capsys.readouterr()
        period = ser.iso_period(ser.dt.date.fromisoformat(as_of))
        return " ".join(archive.read(f"{period}/ceo.txt")[0].decode().split())

    # the rest of the portfolio holds $63,100 of cash; JADA's changes week to week
    w45 = week("2026-11-08", 6900)
    assert "No earlier report to compare with." in w45
    assert "Cash on hand: $70,000 (sum" in w45 and "Last 8 weeks" not in w45
    w46 = week("2026-11-15", 7200)
    assert "Cash on hand: $70,300 (+$300 vs 2026-W45) (sum" in w46
    # each table apart; the sample's exports are the very ones W45's report read: not refreshed, not "unchanged"
    same = "(export of 2026-11-21: not refreshed this week, so not compared)"
    assert f"- QueenofSanDiego: events {same}, users {same}" in w46
    assert "unchanged this week" not in w46
    w47 = week("2026-11-22", 7000)
    assert "No earlier week" not in w47
    assert "Cash on hand: $70,100 (-$200 vs 2026-W46) (sum" in w47
    # 70,000 . 70,300 . 70,100 over 70,000..70,300: levels 0, 7, 2 (2.33 rounds down)
    assert "Last 8 weeks, 2026-W40 to 2026-W47 (· a week with no figures): - Cash: $70,100 ·····▁█▃" in w47
    # a rerun of W46 sees only W45, never the later W47
    again = week("2026-11-15", 7400, "--force")
    assert "Cash on hand: $70,500 (+$500 vs 2026-W45) (sum" in again
    assert "- Cash: $70,500 ······▁█ - Revenue" in again  # W47 is not in its sparkline either
    metrics = json.loads(archive.read("2026-W46/metrics.json")[0])
    ledger = json.loads(archive.read("2026-W46/ledger.json")[0])
    assert metrics["schema"] == ser.METRICS_SCHEMA == 2
    assert {metrics["runs"][ledger[r]["figures"]]["portfolio"]["cash"] for r in ("ceo", "cfo")} == {"70500"}


@pytest.mark.parametrize("where", ["folder", "s3"])
def test_each_report_compares_with_what_its_own_send_showed_after_a_partial_rerun(
        tmp_path: Path, moto: str, ses_proxy: SesProxy, where: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A rerun later in the week (--only cfo --force, changed handoffs) adds to the week's record: next
    week the CEO report compares with the figures the CEO's email showed, the CFO's with the CFO's."""
    handoffs, env, archive = sending_setup(tmp_path, moto, ses_proxy.url, where)

    def run(as_of: str, jada_cash: int, *extra: str) -> str:
        portfolio_with_jada_cash(handoffs, jada_cash)
        assert ser.main(["--env-file", str(env), "--as-of", as_of, *extra]) == 0
        return capsys.readouterr().err

    def sent(period: str, report_id: str) -> str:
        return " ".join(archive.read(f"{period}/{report_id}.txt")[0].decode().split())

    run("2026-12-06", 7400, "--only", "ceo,cfo")  # W49: $70,500 in both emails
    first = json.loads(archive.read("2026-W49/ledger.json")[0])["cfo"]
    err = run("2026-12-06", 1900, "--only", "cfo", "--force")  # later that week: the CFO's shows $65,000
    assert (f"cfo: resending (--force): this send replaces the send of {first['at']} (MessageId "
            f"{first['message_id']}); next week's cfo report compares with it") in err
    assert "Portfolio | $65,000 |" in sent("2026-W49", "cfo") and "Cash on hand: $70,500" in sent("2026-W49", "ceo")
    run("2026-12-06", 6900, "--only", "cto")  # a report not sent yet adds its own figures, replacing none
    assert ser.main(["--env-file", str(env), "--as-of", "2026-12-06", "--status"]) == 0
    status = capsys.readouterr().out
    cfo_line = next(line for line in status.splitlines() if line.startswith("cfo "))
    assert f"MessageId {json.loads(archive.read('2026-W49/ledger.json')[0])['cfo']['message_id']}; replaced the " \
           f"send of {first['at']} (MessageId {first['message_id']})" in cfo_line
    assert "replaced" not in next(line for line in status.splitlines() if line.startswith("ceo "))
    kept = json.loads(archive.read("2026-W49/metrics.json")[0])
    ledger = json.loads(archive.read("2026-W49/ledger.json")[0])
    assert {r: kept["runs"][ledger[r]["figures"]]["portfolio"]["cash"] for r in ("ceo", "cfo", "cto")} == {
        "ceo": "70500", "cfo": "65000", "cto": "70000"}

    run("2026-12-13", 7000, "--only", "ceo,cfo")  # W50: $70,100
    ceo, cfo = sent("2026-W50", "ceo"), sent("2026-W50", "cfo")
    assert "Cash on hand: $70,100 (-$400 vs 2026-W49) (sum" in ceo  # the CEO's email said $70,500
    assert "- Cash: $70,100 (+$5,100 vs 2026-W49) ······▁█" in cfo  # the CFO's last said $65,000
    assert "- Cash: $70,100 ······█▁" in ceo  # each sparkline is of what its report showed


def test_a_forced_resend_that_fails_keeps_the_figures_of_the_send_that_went_out(tmp_path: Path) -> None:
    """The ledger keeps a failed resend's predecessor: its figures stay those the reader saw."""
    archive = ser.FolderArchive(tmp_path / "archive")
    ledger = ser.Ledger(archive, "2026-W49")
    first = ser.keep_figures(ledger, '{"portfolio": {"cash": "1"}}')
    ledger.record("ceo", "sent", message_id="m-1", figures=first)
    ledger.record("cfo", "sent", message_id="m-2", figures=first)
    second = ser.keep_figures(ledger, '{"portfolio": {"cash": "2"}}')  # a rerun: both kept
    assert second != first
    ledger.record("cfo", "sent", message_id="m-3", figures=second)
    third = ser.keep_figures(ledger, '{"portfolio": {"cash": "3"}}')  # the first is still the CEO's
    again = ser.keep_figures(ledger, '{"portfolio": {"cash": "3"}}')  # the same figures are kept once
    kept = json.loads(archive.read("2026-W49/metrics.json")[0])
    assert third == again and list(kept["runs"]) == [first, second, third]
    ledger.record("ceo", "sent", message_id="m-4", figures=second)
    ser.keep_figures(ledger, '{"portfolio": {"cash": "4"}}')  # the first is no send's any more: dropped
    assert first not in json.loads(archive.read("2026-W49/metrics.json")[0])["runs"]
    record = ser.read_period_record(archive, "2026-W49")
    assert record.run_of("ceo") == record.run_of("cfo") == {"portfolio": {"cash": "2"}}
    assert record.run_of("cto") is None  # not sent that week: compares with an earlier one


def test_a_week_sent_by_an_earlier_version_is_kept_when_a_rerun_adds_to_it(tmp_path: Path) -> None:
    """A schema-1 week rerun by this version: its figures stay those its sends (no figures key) showed."""
    archive = ser.FolderArchive(tmp_path / "archive")
    archive.write("2026-W46/metrics.json", (FIXTURES / "metrics-schema-1.json").read_bytes())
    archive.write("2026-W46/ledger.json", b'{"ceo": {"state": "sent", "message_id": "m-1"}}')
    ledger = ser.Ledger(archive, "2026-W46")
    key = ser.keep_figures(ledger, '{"portfolio": {"cash": "5"}}')
    ledger.record("cfo", "sent", message_id="m-2", figures=key)
    assert earlier_figures(archive, "2026-W47", "ceo")["2026-W46"]["Portfolio"]["cash"] == D("70300.00")
    assert earlier_figures(archive, "2026-W47", "cfo")["2026-W46"]["Portfolio"] == {"cash": D(5)}


def test_a_report_not_sent_last_week_compares_with_the_week_it_was_last_sent(tmp_path: Path) -> None:
    """Only the CEO report went out in W46: the CFO's compares with W45, what it showed last."""
    archive = ser.FolderArchive(tmp_path / "archive")
    for period, cash in (("2026-W45", "10000"), ("2026-W46", "20000")):
        ledger = ser.Ledger(archive, period)
        key = ser.keep_figures(ledger, json.dumps({"portfolio": {"cash": cash}}))
        for report_id in ("ceo", "cfo") if period == "2026-W45" else ("ceo",):
            ledger.record(report_id, "sent", message_id=f"m-{period}-{report_id}", figures=key)
    records = ser.earlier_records(archive, "2026-W47", ["ceo", "cfo"])
    now = {"Portfolio": {"cash": D(25000)}}
    ceo = ser.report_history("2026-W47", "ceo", now, records, {})
    cfo = ser.report_history("2026-W47", "cfo", now, records, {})
    assert ser.change_text(ceo, "Portfolio", "cash") == " (+$5,000 vs 2026-W46)"
    assert ser.change_text(cfo, "Portfolio", "cash") == " (+$15,000 vs 2026-W45)"
    assert cfo["spark"]["Portfolio"]["cash"] == "     ▁ █"  # W46 is a gap: the CFO did not show it


def test_a_dry_run_on_an_s3_archive_reads_it_and_writes_nothing(tmp_path: Path, moto: str,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Versioning is on, so any write, overwrite or delete (a lock taken and given back
    included) would leave a version or a delete marker behind."""
    from .test_archive import BUCKET, PREFIX, S3_ARCHIVE, make_bucket, s3

    make_bucket(moto)
    client = s3(moto)
    client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    client.put_object(Bucket=BUCKET, Key=f"{PREFIX}/2026-W46/metrics.json",
                      Body=(FIXTURES / "metrics-schema-1.json").read_bytes())
    client.put_object(Bucket=BUCKET, Key=f"{PREFIX}/2026-W46/ledger.json",
                      Body=b'{"ceo": {"state": "sent", "message_id": "m-1", "delivery": {"state": "delivered"}}}')

    def versions() -> list[tuple[str, str]]:
        answer = client.list_object_versions(Bucket=BUCKET)
        return sorted((v["Key"], v["VersionId"]) for v in answer.get("Versions", []) + answer.get("DeleteMarkers", []))

    before = versions()
    assert len(before) == 2
    env = write_env(tmp_path, moto, ARCHIVE_DIR=S3_ARCHIVE)
    assert ser.main(["--env-file", str(env), "--dry-run", "--as-of", "2026-11-22", "--only", "ceo,cfo"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "Cash on hand: $70,500 (+$200 vs 2026-W46) (sum of the cash figures given)" in text
    assert "- Cash: $70,500 (+$200 vs 2026-W46) ······▁█" in text
    assert "Last week's reports (2026-W46): 1 delivered" in text  # the previous week's ledger is read too
    assert versions() == before


# ---------------------------------------------------------------------------
# Period folders that only look like weeks, and absurd earlier figures


def metrics_with_cash(cash: str) -> bytes:
    """The committed metrics.json fixture with the portfolio's cash replaced."""
    data = json.loads((FIXTURES / "metrics-schema-1.json").read_text(encoding="utf-8"))
    data["portfolio"]["cash"] = cash
    return json.dumps(data).encode()


@pytest.mark.parametrize("planted, period", [
    ("2026-W99", "2027-W01"),  # no such week: sorted between 2026-W53 and 2027-W01
    ("2026-W46\n", "2026-W47"),  # a week's name with a newline after it
    ("2026-W5\uff13", "2027-W01"),  # a full-width digit: week 53 to int(), sorted after 2026-W53
    ("2025-W53", "2026-W01"),  # 2025 has 52 weeks
])
def test_a_folder_named_like_a_week_that_is_no_week_is_never_the_week_before(
        tmp_path: Path, planted: str, period: str) -> None:
    """Found by an attack: an archive folder named like a week that is none (2026-W99, a trailing newline, a full-width digit, 2025-W53) was taken for the week before."""
    archive = ser.FolderArchive(tmp_path / "archive")
    real = ser.iso_period(ser.period_start(period) - ser.dt.timedelta(days=7))
    archive.write(f"{real}/metrics.json", metrics_with_cash("1000"))
    archive.write(f"{planted}/metrics.json", metrics_with_cash("999999"))
    earlier = earlier_figures(archive, period)
    assert list(earlier) == [real]
    history = ser.history_figures(period, {"Portfolio": {"cash": ser.Decimal(1500)}}, earlier)
    assert ser.change_text(history, "Portfolio", "cash") == f" (+$500 vs {real})"


@pytest.mark.parametrize("cash", ["1E+1000000", "1e999999", "-1e-999999"])
def test_an_absurd_earlier_figure_is_left_out_not_printed_or_a_traceback(
        tmp_path: Path, cash: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Found by an attack: an earlier week's cash of 1e999999 printed a 1.3 MB line, and 1E+1000000 raised Overflow."""
    archive = ser.FolderArchive(tmp_path / "archive")
    archive.write("2026-W46/metrics.json", metrics_with_cash(cash))
    env = write_env(tmp_path, "http://127.0.0.1:9")
    assert ser.main(["--env-file", str(env), "--dry-run", "--as-of", "2026-11-22", "--only", "ceo,cfo"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert len(text) < 20_000  # was a 1.3 MB "Cash on hand" line for 1e999999; Overflow for 1E+1000000
    assert "Cash on hand: $70,500 (sum of the cash figures given)" in text  # no change against junk
    assert "Revenue: $41,258/month (+$600 vs 2026-W46)" in text  # the other figures still compare


# What changed since the last report, over a sequence of real weekly sends.

# The sample as it stood before 2026-W47 (each edit made on the sample's text): in W47 a
# shortfall appears (JADA's winter bookings) and one goes (the dock lease), a security
# finding appears (the Stripe key), an invoice action is done, the whale-watching action
# falls overdue, Expert Yacht Delivery's operations go from at-risk to active, JADA's
# charters per month fall below target, JADA's cash falls $900 while QuickDumpNow's rises
# $4,400 (the portfolio's: +$3,500), and a dinghy is revalued (the asset inventory changes).
BEFORE_W47 = {
    "jada/charter-operations.md": [
        ("\ncash: 7400\n", "\ncash: 8300\n"),
        ("  - {title: Winter bookings below break-even, urgency: high, persona: CFO}\n",
         "  - {title: Dock lease unsigned, urgency: critical, persona: CEO}\n"),
        ("persona: Accounting Officer, done: true}", "persona: Accounting Officer, done: false}"),
        ("{title: Publish winter whale-watching packages, due: 2026-11-15,",
         "{title: Publish winter whale-watching packages, due: 2026-11-17,"),
        ("{name: Charters per month, value: 9, target: 12}", "{name: Charters per month, value: 12, target: 12}"),
        ("{name: Dinghy and 9.9 hp outboard, type: equipment, value: 4200}",
         "{name: Dinghy and 9.9 hp outboard, type: equipment, value: 4000}"),
    ],
    "quickdumpnow/operations.md": [("\ncash: 18500\n", "\ncash: 14100\n")],
    "expert-yacht-delivery/booking-site.md": [
        ("  - {severity: high, finding: Stripe key hardcoded in checkout.js, fixed: false}\n", ""),
        # the action that fixes it names it from W47 on (before, there was nothing to name)
        (",\n     fixes: Stripe key hardcoded in checkout.js}", "}")],
    "expert-yacht-delivery/operations.md": [("\nstatus: active\n", "\nstatus: at-risk\n")],
}
# every week: the haul-out handoff was updated 2026-10-20, so it turns stale (over 30 days) in W47
EVERY_WEEK = {"jada/haul-out.md": [("\nupdated: 2026-10-09\n", "\nupdated: 2026-10-20\n")]}


def sample_as(folder: Path, *edits: dict[str, list[tuple[str, str]]]) -> None:
    """The sample portfolio in `folder` with each edit (file: [(old, new)]) made on its text."""
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(EXAMPLES / "handoffs", folder)
    for edit in edits:
        for name, pairs in edit.items():
            path = folder / name
            text = path.read_text(encoding="utf-8")
            for old, new in pairs:
                assert text.count(old) == 1, (name, old)
                text = text.replace(old, new)
            path.write_text(text, encoding="utf-8")


def section_items(text: str, heading: str) -> list[str]:
    """The list items of a report's section, each on one line (its wrapped lines joined)."""
    lines = text.split(f"\n{heading}\n", 1)[1].split("\n")[2:]
    items: list[str] = []
    for line in lines:
        if line.startswith("  - "):
            items.append(line[4:])
        elif line.startswith("    ") and items:
            items[-1] += " " + line.strip()
        elif line.strip() or items:
            break
    return items


def test_what_changed_shows_each_change_once_in_the_reports_of_its_readers(
        tmp_path: Path, moto: str, ses_proxy: SesProxy, capsys: pytest.CaptureFixture[str]) -> None:
    """Four weekly sends: the first says there is nothing to compare with; W47 names every kind of change
    once, each in the reports of its readers (the CEO all, ranked); the standing inventories are one line
    while unchanged in a month, whole when changed and in the first report of December."""
    handoffs, env, archive = sending_setup(tmp_path, moto, ses_proxy.url, "folder")
    ids = ("ceo", "cto", "cfo", "cmo", "accounting", "rental", "yacht", "agency")

    inventories = ("ceo", "cto", "rental")  # the reports with a standing inventory

    def week(as_of: str, *edits: dict[str, list[tuple[str, str]]], only: tuple[str, ...] = ids) -> dict[str, str]:
        sample_as(handoffs, EVERY_WEEK, *edits)
        assert ser.main(["--env-file", str(env), "--as-of", as_of, "--only", ",".join(only)]) == 0
        capsys.readouterr()
        period = ser.iso_period(ser.dt.date.fromisoformat(as_of))
        return {r: archive.read(f"{period}/{r}.txt")[0].decode() for r in only}

    w45 = week("2026-11-08", BEFORE_W47, only=inventories)
    assert "\nStack by entity\n" in w45["cto"] and "Stack: 24 components" not in w45["cto"]
    w46 = week("2026-11-15", BEFORE_W47)
    for r in ids:  # each report's first: said once, and no section of changes
        first = (w46 if r not in inventories else w45)[r]
        assert first.count("No earlier report to compare with.") == 1 and "What changed" not in first, r
        assert ("No earlier report" in w46[r]) == (r not in inventories) and "No earlier week" not in w46[r]
    # the inventories are as the W45 reports showed them, in the same month: one line each
    assert "\nStack: 24 components, $1,138/month, unchanged since 2026-W45.\n" in w46["cto"]
    assert "Stack by entity" not in w46["cto"] and "FareHarbor" not in w46["cto"]
    assert ("\nAssets: 17 in 6 businesses, valued at $1,416,800, unchanged since 2026-W45.\n"
            in w46["ceo"])
    assert "\nRent roll: 4 units, 3 let at $5,450/month, unchanged since 2026-W45.\n" in w46["rental"]

    w47 = week("2026-11-22")
    changes = {r: section_items(w47[r], "What changed since 2026-W46") if "What changed since 2026-W46\n" in w47[r]
               else [] for r in ids}
    ceo = changes["ceo"]
    mine = [
        "New security finding, high: Expert Yacht Delivery / Booking site: Stripe key hardcoded in checkout.js",
        "New shortfall, high: JADA / Charter operations: Winter bookings below break-even (for CFO)",
        "Newly overdue, 7 days late, P1: JADA / Charter operations: Publish winter whale-watching packages (for CMO)",
        "Cash, JADA: fell $900 to $7,400",
        "Status: Expert Yacht Delivery / Operations: active (was at-risk)",
        "KPI now misses its target: JADA / Charter operations: Charters per month 9 against ≥ 12",
        "Handoff now stale: JADA / Haul-out and bottom paint (updated 2026-10-20)",
        "Shortfall gone: JADA / Charter operations: Dock lease unsigned",
        "Done, P2: JADA / Charter operations: Send December deposit invoices (for Accounting Officer)",
        "Cash, QuickDumpNow: rose $4,400 to $18,500",
    ]
    for line in mine:  # each once, most serious first
        assert ceo.count(line) == 1, line
    assert [line for line in ceo if line in mine] == mine
    assert not any("Unfixed security finding" in line for line in ceo)  # the finding is one line, not two
    # the portfolio's cash rose while JADA's fell
    assert "Cash on hand: $70,500 (+$3,500 vs 2026-W46) (sum" in " ".join(w47["ceo"].split())

    def has(report_id: str, line: str) -> bool:
        return line in changes[report_id]

    routes = {  # what names each change, and the reports besides the CEO's that show it
        "Stripe key hardcoded": {"cto", "yacht"}, "Winter bookings below break-even": {"cfo"},
        "Publish winter whale-watching packages": {"cmo"}, "Cash, JADA:": {"cfo"}, "Operations: active": {"yacht"},
        "Charters per month": set(), "Haul-out and bottom paint": set(), "Dock lease unsigned": set(),
        "Send December deposit invoices": {"accounting"}, "Cash, QuickDumpNow:": {"cfo"},
    }
    for what, readers in routes.items():
        assert sum(what in line for line in ceo) == 1, what
        for r in ids[1:]:
            assert sum(what in line for line in changes[r]) == (r in readers), (r, what)
    # in its own reader's report an item names no owner; a unit report names no business of its own
    assert has("cfo", "New shortfall, high: JADA / Charter operations: Winter bookings below break-even")
    assert has("accounting", "Done, P2: JADA / Charter operations: Send December deposit invoices")
    assert has("yacht", "New security finding, high: Booking site: Stripe key hardcoded in checkout.js")
    assert has("yacht", "Status: Operations: active (was at-risk)")
    # a report with nothing of its own since then says so in one line (the rental's actions were late already)
    for r in ids:
        assert w47[r].count("Nothing changed since 2026-W46.") == (r in ("rental", "agency")), r
    # the stack is the same as in W45: one line; the assets changed (a dinghy revalued): whole
    assert "\nStack: 24 components, $1,138/month, unchanged since 2026-W45.\n" in w47["cto"]
    assert "Assets: 17 in 6 businesses" not in w47["ceo"] and "\nAssets by entity\n" in w47["ceo"]

    w49 = week("2026-12-06", only=inventories)  # the first report of December: every inventory whole
    assert "Stack: 24 components" not in w49["cto"] and "FareHarbor" in w49["cto"]
    assert "Assets: 17 in" not in w49["ceo"] and "Rent roll: 4 units" not in w49["rental"]
    assert "What changed since 2026-W47" in w49["ceo"]


def test_a_count_from_the_exports_the_last_report_read_is_not_refreshed_whatever_their_age() -> None:
    """Found by an attack: an export made on Monday before the 07:00 run was fresh for the cutoff rule
    the next week too, so a dead export job read "(unchanged this week)". A count read from exactly the
    exports the report's last send read is not refreshed; one export of two refreshed is compared."""
    day = ser.dt.date(2026, 11, 16)
    before = {"entities": {"JADA": {"export_times": {"events": ["2026-11-16T02:00:00+00:00"],
                                                     "users": ["2026-11-16T02:00:00+00:00"]}}}}
    now = {"JADA": {"events": ["2026-11-16T02:00:00+00:00"], "users": ["2026-11-23T02:00:00+00:00"]}}
    stale = ser._same_exports({}, now, before)
    assert stale == {"JADA": {"events": day}, ser.PORTFOLIO_SCOPE: {"events": day}}  # users were refreshed
    history = {"previous": "2026-W47", "previous_is_last_week": True, "stale": stale,
               "change": {"JADA": {"events": ser.Decimal(0), "users": ser.Decimal(0)}}}
    assert ser.change_text(history, "JADA", "events") == " (export of 2026-11-16: not refreshed this week, so not compared)"
    assert ser.change_text(history, "JADA", "users") == " (unchanged this week)"
    # an earlier week that kept no export times (an older metrics.json), or a run with none: nothing added
    assert ser._same_exports({}, now, {"entities": {"JADA": {}}}) == {}
    assert ser._same_exports({}, now, {}) == {}
