"""The formatting rules, checked against the written rule with hand-worked answers.

Every rule rounds once, half up (halves away from zero), from the exact amount, and
decides on the rounded amount. Money: whole dollars ($12,345), or cents when the
amount rounded to the cent is under $100 ($23.50), so $99.995 -> $100.00 at the cent
-> not under $100 -> $100. A negative amount is -$1,200; an amount that rounds to zero
has no sign. money_cents: cents on every amount. Counts 1,375; percentages and months
one decimal.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest

import send_exec_reports as ser


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (D("12345.4"), "$12,345"),
        (D("12345.5"), "$12,346"),  # half a dollar rounds up
        (D("12344.5"), "$12,345"),  # up, not to even
        (D("23.5"), "$23.50"),
        (D("0.005"), "$0.01"),  # half a cent rounds up
        (D("0.004999"), "$0.00"),
        (D("2.675"), "$2.68"),  # 2.675 is not exact in binary; it is here
        (D("99.994"), "$99.99"),
        (D("99.995"), "$100"),  # $100.00 at the cent: not under $100
        (D("99.9949999"), "$99.99"),
        (D("100.4999"), "$100"),
        (D("100.495"), "$100"),  # rounded once from the exact amount, not from $100.50
        (D("100.5"), "$101"),
        (D("-23.5"), "-$23.50"),
        (D("-0.005"), "-$0.01"),  # halves away from zero
        (D("-0.004"), "$0.00"),  # rounds to zero: no sign
        (D("-0"), "$0.00"),
        (D("-99.995"), "-$100"),
        (D("-1200"), "-$1,200"),
        (D("-1234567.5"), "-$1,234,568"),
        (0, "$0.00"),
        (1375, "$1,375"),
        (23.5, "$23.50"),  # a float is taken by its shortest text
        (D("999999999999999.99"), "$1,000,000,000,000,000"),
        (D("1E-300"), "$0.00"),
        ("no data", "no data"),
        (None, "no data"),
        ("not valued", "not valued"),
    ],
)
def test_money(value, text: str) -> None:
    assert ser.format_money(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (D("412.5"), "$412.50"),
        (D("12345.675"), "$12,345.68"),
        (D("0.005"), "$0.01"),
        (D("0.0049"), "$0.00"),
        (D("-0.005"), "-$0.01"),
        (D("-0.0049"), "$0.00"),
        (D("99.995"), "$100.00"),
        (D("-1200"), "-$1,200.00"),
        (0, "$0.00"),
        ("none", "none"),
    ],
)
def test_money_cents(value, text: str) -> None:
    assert ser.format_money_cents(value) == text


def test_money_cents_is_a_template_filter() -> None:
    env = ser.jinja_env()
    assert env.from_string("{{ x|money_cents }} {{ x|money }}").render(x=D("412.5")) == "$412.50 $413"


@pytest.mark.parametrize(
    ("fn", "value", "text"),
    [
        (ser.format_count, 1375, "1,375"),
        (ser.format_count, 1234567, "1,234,567"),
        (ser.format_count, D("2.5"), "3"),
        (ser.format_count, D("-2.5"), "-3"),
        (ser.format_count, D("-0.4"), "0"),
        (ser.format_pct, D(3) / D(7), "42.9%"),
        (ser.format_pct, D("0.0005"), "0.1%"),  # 0.05% rounds up to 0.1%
        (ser.format_pct, D("0.00049"), "0.0%"),
        (ser.format_pct, D("-0.00049"), "0.0%"),  # never -0.0%
        (ser.format_pct, D("-0.0005"), "-0.1%"),
        (ser.format_pct, D("0.12345"), "12.3%"),
        (ser.format_pct, D("0.12355"), "12.4%"),
        (ser.format_pct, D("123.4567"), "12,345.7%"),
        (ser.format_pct, "n/a", "n/a"),
        (ser.format_months, D("4.25"), "4.2"),  # rounded down: a runway is never overstated
        (ser.format_months, D("4.249"), "4.2"),
        (ser.format_months, D(13) / D(3), "4.3"),
        (ser.format_months, D("-0.04"), "0.0"),
        (ser.format_months, D("12345.65"), "12,345.6"),
        (ser.format_months, D("5.96"), "5.9"),  # under the 6-month alert, never shown as 6.0
        (ser.format_months, "not burning", "not burning"),
        (ser.format_number, D("0.95"), "0.95"),
        (ser.format_number, D("0.955"), "0.96"),
        (ser.format_number, D("0.9"), "0.9"),
        (ser.format_number, D(30), "30"),
        (ser.format_number, D("1234.5"), "1,234.5"),
        (ser.format_number, D("-0.001"), "0"),
        (ser.format_number, D("-0.005"), "-0.01"),
        (ser.format_days, 1, "1 day"),
        (ser.format_days, 14, "14 days"),
        (ser.format_days, 1234, "1,234 days"),
        (ser.format_per_month, D("1234.5"), "$1,235/month"),
        (ser.format_per_month, D("-0.001"), "$0.00/month"),
        (ser.format_per_month, "no data", "no data"),
        (ser.format_date, dt.date(2026, 1, 2), "2026-01-02"),
        (ser.format_date, dt.date(1, 1, 1), "0001-01-01"),
        (ser.format_date, None, "—"),
    ],
)
def test_counts_percentages_months_numbers(fn, value, text: str) -> None:
    assert fn(value) == text


def test_when_an_action_is_due_reads_as_a_person_says_it() -> None:
    import datetime as dt

    as_of = dt.date(2026, 11, 22)
    assert ser.format_due(as_of, as_of) == "today"
    assert ser.format_due(dt.date(2026, 11, 23), as_of) == "tomorrow"
    assert ser.format_due(dt.date(2026, 11, 24), as_of) == "2026-11-24"
    assert ser.format_due(dt.date(2026, 11, 21), as_of) == "2026-11-21"  # overdue ones say how late elsewhere
    assert ser.format_due(None, as_of) == "no date"


# ---------------------------------------------------------------------------
# Numbers and tables


@pytest.mark.parametrize(("value", "text"), [(-0.004, "0"), (0.004, "0"), (-1.5, "-1.5"), (2.999, "3")])
def test_numbers_never_show_minus_zero(value: float, text: str) -> None:
    """A tiny negative rounds to 0, never shown as -0."""
    assert ser.format_number(value) == text


def test_tables_align_wide_and_accented_characters() -> None:
    """Tables align wide (CJK) and combining characters in the terminal's columns, within 78 of them."""
    rows = [["Client", "Fee", "Note"], ["東京デリバリー", "$1,200", "x"], ["Zoë and José", "$9.00", ""],
            ["Cafe\u0301 Noir", "$300", "東京" * 40], ["Zoë", "$1", "Zoë" * 30]]
    lines = ser.layout_table(rows, [False, True, False]).splitlines()
    assert len(lines) == len(rows) + 1  # a row a line, never a cell wrapped onto a line of its own
    bars = {ser._cols(line.split(" | ")[0]) for line in lines if " | " in line}
    assert len(bars) == 1  # the column bar is in the same terminal column on every line
    assert max(ser._cols(line) for line in lines) == 78  # the long notes are cut to fit exactly
    assert lines[2] == "東京デリバリー" + " " * (bars.pop() - 14) + " | $1,200 | x"
    assert lines[4].endswith(" | " + "東京" * 12 + "東…") and ser._cols(lines[4]) == 77  # a wide character is whole
    assert lines[5].endswith("Zoë" * 17 + "…") and ser._cols(lines[5]) == 78


def test_a_table_too_wide_for_the_line_is_a_list_and_a_row_never_wraps() -> None:
    """In a proportional font a wrapped cell's empty neighbours show as lone pipes: cut text, or a list."""
    fits = [["Entity", "Cash"], ["A" * 66, "$1"]]
    assert ser.layout_table(fits, [False, True]).splitlines()[2] == "A" * 66 + " |   $1"  # 73 columns: as it is
    names = [["Entity", "Cash", "Net/month"], [" ".join(["Expert Yacht Delivery"] * 3), "$12,345,678", "-$5,997"],
             ["Portfolio", "$13,688,958", ""]]
    # the first column names the row and is never cut: the table becomes a list, each cell after its name
    assert ser.layout_table(names, [False, True, True]) == (
        "  - Expert Yacht Delivery Expert Yacht Delivery Expert Yacht Delivery:\n"
        "    Cash $12,345,678, Net/month -$5,997\n"
        "  - Portfolio: Cash $13,688,958")
    # a text column cut below 20 columns would say too little: a list too, the second column leading
    deferred = [["Entity", "Description", "Amount"], ["3028 51st St Rental", " ".join(["Unit A December rent"] * 3), "$1,850.00"]]
    assert ser.layout_table(deferred, [False, False, True], width=40) == (
        "  - 3028 51st St Rental, Unit A December\n    rent Unit A December rent Unit A\n"
        "    December rent: Amount $1,850.00")
    # at 20 columns or more the text column is cut, and the table stays a table
    assert ser.layout_table(deferred, [False, False, True], width=57).splitlines()[2] == (
        "3028 51st St Rental | Unit A December rent…   | $1,850.00")  # cut between words


def test_a_table_as_a_list_wraps_at_78_terminal_columns() -> None:
    """Found by an attack: a list item of wide (CJK) text was wrapped at 78 characters, up to 156 columns."""
    rows = [["Client", "Status", "Fee", "Note"],
            [" ".join(["東京デリバリー"] * 6), "active", "$1,200", " ".join(["大阪の港で引き渡し"] * 4)]]
    lines = ser.layout_table(rows, [False, False, True, False]).splitlines()
    assert max(ser._cols(line) for line in lines) <= 78
    assert all(line.startswith("    ") for line in lines[1:])  # hanging under the item's text
    assert " ".join(line.strip() for line in lines) == (
        "- " + " ".join(["東京デリバリー"] * 6) + ", active: Fee $1,200, Note " + " ".join(["大阪の港で引き渡し"] * 4))


def test_text_and_list_items_of_wide_characters_wrap_at_78_terminal_columns() -> None:
    """Found by an attack: a paragraph or list item of CJK text was wrapped at 78 characters (156 columns)."""
    words = ["東京デリバリー", "大阪の港", "Zoë", "e\u0301"] * 12
    text = ser.text_from_markdown(" ".join(words) + "\n\n- " + " ".join(words) + "\n")
    lines = text.splitlines()
    assert max(ser._cols(line) for line in lines) <= 78 and len(lines) > 8
    assert text.split() == [*words, "-", *words]  # every word, in order, none cut
    item = lines.index(next(line for line in lines if line.startswith("  - ")))
    assert all(line.startswith("    ") for line in lines[item + 1:])  # the item's lines hang under its text


def test_rows_the_cut_would_make_alike_are_a_list() -> None:
    """Found by an attack: two receivables told apart only past the cut read as one listed twice."""
    note = "Consulting for the quarter ended September, invoice "
    rows = [["Entity", "Description", "Amount"], ["Expert Yacht Delivery", note + "1001", "$1,850"],
            ["Expert Yacht Delivery", note + "1002", "$1,850"], ["Expert Yacht Delivery", note + "1002", "$1,850"]]
    text = ser.layout_table(rows, [False, False, True])
    assert text.splitlines()[:2] == [f"  - Expert Yacht Delivery, {note.rstrip()}", "    1001: Amount $1,850"]
    assert text.count("1001") == 1 and text.count("1002") == 2  # the same row twice stays twice
    assert max(ser._cols(line) for line in text.splitlines()) <= 78
    rows[2][1] = "Deposit"  # the rows still differ once cut: the table stays a table, its note cut
    assert ser.layout_table(rows[:3], [False, False, True]).splitlines()[2] == (
        "Expert Yacht Delivery | Consulting for the quarter ended September…   | $1,850")
