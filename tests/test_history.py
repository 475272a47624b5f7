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
    h = ser.history_figures("2026-W47", hl(burn="-300.50", events=900), {"2026-W44": hl(burn=200, events=1000)})
    assert ser.change_text(h, "Portfolio", "burn") == " (-$501 vs 2026-W44)"
    assert ser.change_text(h, "Portfolio", "events") == " (-100 vs 2026-W44)"
    assert ser.change_text(ser.history_figures("2026-W47", hl(cash=5), {"2026-W46": hl(cash=5)}),
                           "Portfolio", "cash") == " (unchanged vs 2026-W46)"


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
