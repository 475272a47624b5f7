"""The eight reports with every optional part present, read for what only shows there.

The golden files have no archive, no AWS estate, no delivery news and no dashboard. Here
each report is rendered (a dry run, text and HTML) with an archive of earlier weeks (changes,
and sparklines with gap weeks), last week's delivery news, the AWS estate from moto's server
and dashboard cards, on the sample portfolio and on a generated one, and every email is held
to properties that hold of any good report: lines within 78 columns, at most MAX_LINES lines,
no template text, no list item run onto the line before it, no change or sparkline inside a
table, no empty or repeated section, no name cut in two, and HTML that says what the text says.
"""

from __future__ import annotations

import collections
import html
import json
import re
import tempfile
from decimal import Decimal as D
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

import send_exec_reports as ser

from .conftest import EXAMPLES, serve_loopback, stop_server
from .test_estate import client, make_distribution, make_functions

AS_OF = "2026-11-22"
IDS = ["ceo", "cto", "cfo", "cmo", "accounting", "rental", "yacht", "agency"]
GAP_WEEKS = (1, 4)  # of the seven weeks before the period, these have no figures
# last week's delivery news of each report: every kind the CEO's line words differently
DELIVERY = dict(zip(IDS, ["delivered", "delivered", "bounced", "delivered", "complained", None, "delayed", "delivered"],
                    strict=True))
SEPARATOR = "=" * 78 + "\n"
SPARK = set(ser.SPARK_LEVELS)


def plant_estate(endpoint: str) -> list[str]:
    """Lambda functions (a secret-looking variable, a deprecated runtime), buckets and distributions;
    the name of each as the CTO report shows it."""
    make_functions(endpoint, ["eyd-booking-api"], runtime="nodejs16.x",
                   env={"STRIPE_SECRET_KEY": "x", "DB_PASSWORD": "y", "STAGE": "z"})
    make_functions(endpoint, ["qdn-worker", "jada-sync"])
    s3 = client(endpoint, "s3")
    for bucket in ("loose-bucket", "eyd-site"):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
        s3.put_object(Bucket=bucket, Key="index.html", Body=b"<html></html>")
    cf = client(endpoint, "cloudfront")
    domains = [cf.get_distribution(Id=make_distribution(endpoint, c))["Distribution"]["DomainName"]
               for c in ("site", "other")]
    return ["eyd-booking-api", "qdn-worker", "jada-sync", "loose-bucket", "eyd-site", *domains]


def write_archive(env: Path, now: dict[str, object] | None = None) -> dict[str, object]:
    """metrics.json for earlier weeks (the tool's own figures of now, scaled, two weeks missing) and
    last week's ledger, as a sending run writes them; the figures of now. `now`: those figures when
    already computed in-process (bench_metrics_300 for the generated portfolio), else computed here."""
    if now is None:
        settings = ser.load_settings(str(env), dry_run=True)
        portfolio = ser.read_handoffs(settings.handoff_dir)
        counts = ser.read_tables(ser.table_needs(portfolio), settings.export_dir, lambda missing: {})
        now = ser.compute_metrics(portfolio, counts, ser.dt.date.fromisoformat(AS_OF), None)
    metrics = now
    weeks = ser.recent_periods(metrics["period"])
    archive = env.parent / "archive"
    for i, week in enumerate(weeks[:-1]):
        if i in GAP_WEEKS:
            continue
        figures = json.loads(json.dumps({**metrics, "period": week}, default=ser._json_default))
        factor = 1 + D(i - len(weeks) + 1) / 50  # a steady rise to this week's figures
        for scope in figures["entities"].values():  # each earlier week read its own, earlier exports
            scope["export_times"] = {role: [f"{week}-export"] for role in scope.get("export_times", {})}
        for scope in [figures["portfolio"], *figures["entities"].values()]:
            for name in ser.HEADLINE:
                if (value := ser._headline_value(scope.get(name))) is not None:
                    scope[name] = str((value * factor).quantize(D("0.01")))
        (archive / week).mkdir(parents=True)
        kept = {"schema": ser.METRICS_SCHEMA, "period": week, "runs": {"run-1": figures}}
        (archive / week / "metrics.json").write_text(json.dumps(kept), encoding="utf-8")
    ledger = {rid: {"state": "sent", "message_id": f"m-{rid}", "figures": "run-1",
                    **({"delivery": {"state": s}} if s else {})}
              for rid, s in DELIVERY.items()}
    (archive / weeks[-2] / "ledger.json").write_text(json.dumps(ledger), encoding="utf-8")
    return metrics


class Dashboard(BaseHTTPRequestHandler):
    """A dashboard webhook a dry run must never call."""

    def do_POST(self) -> None:
        raise AssertionError("a dry run posted a card")


def words(text: str) -> collections.Counter[str]:
    """The words of a text, case-folded (the text's title is upper case, the HTML's not)."""
    return collections.Counter(w.casefold() for w in re.findall(r"[\w$€%.,'’()/:&+-]+", text)
                               if not set(w) <= set("-=|:+"))


def html_words(page: str) -> collections.Counter[str]:
    """The words a reader sees in an HTML page."""
    body = re.sub(r"<(head|style)\b.*?</\1>", " ", page, flags=re.S)
    return words(html.unescape(re.sub(r"<[^>]+>", " ", body)))


def assert_same_words(rid: str, text: str, page: str) -> None:
    """The text says what the HTML says. Where a table too wide for the text's line had a cell shortened
    with "…" (the HTML has it whole) or became a list (each cell after its column's name, so the names
    repeat), every word of the text is still the HTML's; otherwise the words are the same, as often."""
    shown, full = words(text), html_words(page)
    if shown == full:
        return

    def plain(w: str) -> str:
        return w.rstrip(":,")

    kept = {plain(w) for w in words(re.sub(r"\S*…", " ", text))}
    assert kept <= {plain(w) for w in full}, f"{rid}: the text says {kept - {plain(w) for w in full}}, the HTML not"


def is_table(line: str) -> bool:
    """A row or rule of a plain-text table."""
    return " | " in line or line.endswith(" |") or bool(re.fullmatch(r"-+(\+-+)+", line))


def headings(lines: list[str]) -> list[int]:
    """The index of each section heading (a line underlined with dashes of its width)."""
    return [i for i in range(len(lines) - 1)
            if lines[i].strip() and re.fullmatch(r"-+", lines[i + 1]) and len(lines[i + 1]) == ser._cols(lines[i])]


def assert_reads_well(rid: str, email: str) -> None:
    """The properties every report holds, whatever its data."""
    body = email.split("\n\n", 1)[1]
    lines = body.splitlines()
    where = f"{rid}: "
    assert len(lines) <= ser.MAX_LINES, where + f"{len(lines)} lines"
    for n, line in enumerate(lines, 1):
        at = f"{where}line {n}: {line!r}"
        assert ser._cols(line) <= 78, at
        assert not re.search(r"\{\{|\}\}|\{%|%\}|\{#|#\}|\bNone\b|Undefined|\[\]|\{\}", line), at
        assert not re.search(r"\S- ", line), at + " (a list item run onto the line before it)"
        assert not re.search(r"\+\$0\.00|-\$0(\.00)?\b|[+-]0 (this week|vs)|(?<![\d,.$])1 (businesses|projects|"
                             r"handoffs|reports|months|days|weeks|findings|actions|shortfalls|entities|clients|units|"
                             r"jobs|items|files|functions|buckets|distributions)\b", line), at
        if is_table(line):
            assert not SPARK & set(line), at + " (a sparkline in a table)"
            assert not re.search(r"this week\)|vs \d{4}-W\d\d\)", line), at + " (a change in a table)"
    marks = headings(lines)
    titles = [lines[i] for i in marks]
    assert len(titles) == len(set(titles)), where + f"a section repeats: {titles}"
    for k, i in enumerate(marks):
        end = marks[k + 1] if k + 1 < len(marks) else len(lines)
        assert any(x.strip() and not re.fullmatch(r"-+", x) for x in lines[i + 2:end]), where + f"{lines[i]!r} is empty"


@pytest.fixture
def generated(bench_portfolio_300: Path) -> Path:
    """A generated portfolio of 300 handoffs and 900 items (made once a session, read only)."""
    return bench_portfolio_300


def figures_now(portfolio: str, request: pytest.FixtureRequest) -> dict[str, object] | None:
    """The figures of the generated portfolio as of AS_OF, computed once a session; None for the sample
    (write_archive computes them: 15 ms)."""
    return request.getfixturevalue("bench_metrics_300") if portfolio == "generated" else None


@pytest.mark.parametrize("portfolio", ["sample", "generated"])
def test_every_report_with_every_optional_part_reads_well(
    portfolio: str, tmp_path: Path, moto: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = EXAMPLES if portfolio == "sample" else request.getfixturevalue("generated")
    names = plant_estate(moto)
    server, url = serve_loopback(Dashboard)
    try:
        env = tmp_path / "repos.env"
        env.write_text(
            f"HANDOFF_DIR={source / 'handoffs'}\nDYNAMODB_EXPORT_DIR={source / 'dynamodb'}\nARCHIVE_DIR=archive\n"
            "SES_FROM_ADDRESS=reports@example.com\nEXEC_REPORT_TO=owner@example.com\n"
            "EXEC_REPORT_BCC=admin@example.com\nEMAIL_FORMAT=text+html\n"
            f"AWS_ENDPOINT_URL={moto}\nAWS_ACCESS_KEY_ID=testing\nAWS_SECRET_ACCESS_KEY=testing\nAWS_INVENTORY=1\n"
            f"DASHBOARD_WEBHOOK_URL={url}/hook\n",
            encoding="utf-8",
        )
        write_archive(env, figures_now(portfolio, request))
        (tmp_path / "tmp").mkdir()
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
        assert ser.main(["--dry-run", "--env-file", str(env), "--as-of", AS_OF]) == 0
    finally:
        stop_server(server)
    out, err = capsys.readouterr()
    reports, cards = out.split("=" * 78 + "\nDashboard cards a real run posts to ")
    emails = reports.split(SEPARATOR)[1:]
    assert len(emails) == len(IDS)
    assert len(cards.splitlines()) > 1  # the cards are there to see

    pages = {Path(p).stem: Path(p).read_text(encoding="utf-8")
             for p in re.findall(r"^send_exec_reports: HTML alternative written to (.+)$", err, re.M)}
    assert list(pages) == IDS
    for rid, email in zip(IDS, emails, strict=True):
        assert_reads_well(rid, email)
        body = email.split("\n\n", 1)[1]
        text = re.sub(r"^\s*\d+\. ", "", body, flags=re.M)  # an ordered list's numbers are the HTML's <ol>
        assert_same_words(rid, text, pages[rid])

    flat = {rid: " ".join(email.split()) for rid, email in zip(IDS, emails, strict=True)}
    # every optional part is present, so the properties above were held to them
    assert "No earlier week" not in reports
    assert ("Last week's reports (2026-W46): 4 delivered; 1 delayed: Expert Yacht Delivery Report; 1 bounced: "
            "CFO Report; 1 with a complaint: Accounting Officer Report; 1 sent, no news yet: 3028 51st St Rental "
            "Report") in flat["ceo"]
    for rid in ("ceo", "cfo"):
        assert "Last 8 weeks, 2026-W40 to 2026-W47 (· a week with no figures): - Cash: $" in flat[rid]
        assert "▁·▃▄·▆▇█" in flat[rid]
    assert "(+$" in flat["cfo"] and "vs 2026-W46)" in flat["cfo"]
    assert "this week)" in flat["ceo"]
    # a burn below zero is read as such where the report does not explain it (the CFO's table does)
    # the sparkline is of the net (earning up), never a negative burn
    assert "- Burn:" not in flat["ceo"] and "negative: earning" not in flat["ceo"]
    assert "- Net: $" in flat["ceo"] or "- Net: -$" in flat["ceo"]
    assert "AWS estate" in flat["cto"] and "(deprecated)" in flat["cto"] and "(secret?)" in flat["cto"]
    for name in names:  # a name is never cut in two by a table column
        assert re.search(rf"(?<![\w.-]){re.escape(name)}(?![\w.-])", emails[IDS.index("cto")]), name


# ---------------------------------------------------------------------------
# One quantity, one number: the eight reports of a portfolio with history, read as a
# reader who compares them would.

MONEY = r"-?\$[\d,]+(?:\.\d\d)?"
TOTAL_ROWS = ("Total", "Portfolio", "Total categorized", "Total per blast")


def _amount(text: str) -> D | None:
    """A money cell as a Decimal; None for anything else ('no data', '—')."""
    return D(text.replace("$", "").replace(",", "")) if re.fullmatch(MONEY, text.strip()) else None


def text_tables(body: str) -> list[tuple[list[str], list[list[str]], str]]:
    """Every plain-text table of a report: its header, its rows (cells) and the paragraph under it."""
    lines = body.splitlines()
    out = []
    i = 0
    while i < len(lines) - 1:
        if " | " in lines[i] and re.fullmatch(r"-+(\+-+)+", lines[i + 1]):
            j = i + 2
            rows = []
            while j < len(lines) and is_table(lines[j]):
                cells = [c.strip() for c in lines[j].split("|")]
                if cells[0]:  # a continuation line of a wrapped cell has no first cell
                    rows.append(cells)
                j += 1
            para = []
            k = j + 1 if j < len(lines) and not lines[j].strip() else j
            while k < len(lines) and lines[k].strip():
                para.append(lines[k].strip())
                k += 1
            out.append(([c.strip() for c in lines[i].split("|")], rows, " ".join(para)))
            i = j
        else:
            i += 1
    return out


def check_totals(rid: str, body: str) -> int:
    """Every total of a table against its rows as shown: one precision per column, and the line under
    the table present exactly when the rounded rows do not add up. The number of totals checked."""
    checked = 0
    for header, rows, under in text_tables(body):
        totals = [r for r in rows if r[0] in TOTAL_ROWS]
        if not totals:
            continue
        total = totals[-1]
        above = rows[:rows.index(total)]
        mismatched = []
        for col, cell in enumerate(total):
            shown_total = _amount(cell)
            if shown_total is None:
                continue
            column = [r[col] for r in above if col < len(r) and _amount(r[col]) is not None]
            places = {len(c.split(".")[1]) if "." in c else 0 for c in [*column, cell]}
            assert len(places) == 1, f"{rid}: column {header[col]!r} mixes precisions: {column} and {cell}"
            added = sum((_amount(c) for c in column), D(0))
            checked += 1
            if added != shown_total:
                mismatched.append((header[col], added, shown_total))
        said = under.startswith("The rounded ")
        assert said == bool(mismatched), f"{rid}: table {header}: rows off by rounding {mismatched}, line: {under!r}"
        for _, added, shown_total in mismatched:
            assert f"{ser.format_money(added, '.' in str(shown_total))}" in under, (rid, under)
    return checked


def _one(pattern: str, text: str, where: str) -> str:
    """The one group a pattern finds in a report."""
    found = re.findall(pattern, text)
    assert len(found) >= 1, f"{where}: {pattern!r} not found"
    assert len(set(found)) == 1, f"{where}: {pattern!r} shows several values {found}"
    return found[0]


# A table too wide for the line is a list, one item a row: "- name: Column value, Column value".
# The columns of the tables that can be that wide (a portfolio's amounts in the millions).
LIST_COLUMNS = {"Entity | Cash": ["Entity", "Cash", "Revenue", "Expenses", "Net/month", "Runway"]}


def _list_row(text: str, first: str, columns: list[str]) -> list[str] | None:
    """The cells of the item for `first` of a table shown as a list, in `columns` order ("" when left out)."""
    items = re.split(r"\n(?=  - )", text)
    later = "|".join(re.escape(c) for c in columns[1:])
    for item in items:
        item = " ".join(item.split())
        if item.startswith(f"- {first}: "):
            pairs = re.split(rf", (?=(?:{later}) )", item.removeprefix(f"- {first}: ").split("\n")[0])
            cells = dict(p.split(" ", 1) for p in pairs)
            if set(cells) <= set(columns):
                return [first, *(cells.get(c, "") for c in columns[1:])]
    return None


def _row(text: str, first: str, header: str, must: bool = True) -> list[str] | None:
    """The cells of the row whose first cell is `first` in the table whose header starts with `header`."""
    for head, rows, _ in text_tables(text):
        if " | ".join(head).startswith(header):
            for r in rows:
                if r[0] == first:
                    return r
    if header in LIST_COLUMNS and (row := _list_row(text, first, LIST_COLUMNS[header])):
        return row
    assert not must, f"no row {first!r} in a table {header!r}"
    return None


def quantities(emails: dict[str, str]) -> dict[str, dict[str, str]]:
    """Each quantity that two reports show, as each report shows it (the digits only, signed by meaning)."""
    ceo, cfo, cto, acc = (" ".join(emails[r].split()) for r in ("ceo", "cfo", "cto", "accounting"))
    q: dict[str, dict[str, str]] = collections.defaultdict(dict)
    net = re.search(rf"- (Earning|Burning) ({MONEY})/month", ceo)
    q["portfolio net"]["ceo"] = ("" if net.group(1) == "Earning" else "-") + net.group(2)
    q["portfolio net"]["cfo"] = _row(emails["cfo"], "Portfolio", "Entity | Cash")[4]
    q["portfolio cash"]["ceo"] = _one(rf"Cash on hand: ({MONEY})", ceo, "ceo")
    q["portfolio cash"]["cfo"] = _row(emails["cfo"], "Portfolio", "Entity | Cash")[1]
    q["portfolio revenue"]["ceo"] = _one(rf"- Revenue: ({MONEY})/month", ceo, "ceo")
    q["portfolio revenue"]["cfo"] = _row(emails["cfo"], "Portfolio", "Entity | Cash")[2]
    q["portfolio expenses"]["ceo"] = _one(rf"; expenses: ({MONEY})/month", ceo, "ceo")
    q["portfolio expenses"]["cfo"] = _row(emails["cfo"], "Portfolio", "Entity | Cash")[3]
    trend = re.search(rf"least-squares trend over the last 6 months\): ({MONEY}) (more|less) each month", ceo)
    if trend:
        q["portfolio growth"]["ceo"] = ("-" if trend.group(2) == "less" else "") + trend.group(1)
        rise = re.search(rf"; the portfolio's: ({MONEY}) (more|less) each month\.", " ".join(emails["cfo"].split()))
        q["portfolio growth"]["cfo"] = ("-" if rise.group(2) == "less" else "") + rise.group(1)
    q["infra cost"]["ceo"] = _one(rf"- Infrastructure: ({MONEY})/month", ceo, "ceo")
    q["infra cost"]["cto"] = _one(rf"Monthly infrastructure: ({MONEY})/month", cto, "cto")
    q["infra cost"]["cto table"] = _row(emails["cto"], "Total", "Entity | Monthly cost")[1]
    q["savings"]["ceo"] = _one(rf"({MONEY})/month of possible savings", ceo, "ceo")
    q["savings"]["cto"] = _one(rf"Possible savings \(services not in use\): ({MONEY})/month", cto, "cto")
    q["savings"]["cto table"] = _row(emails["cto"], "Total", "Entity | Monthly cost")[2]
    # each burning business: its burn and runway in the CEO's headline, the CFO's table and the shortfall
    for name, burn, runway in re.findall(rf"- ([^-:]+?) is burning ({MONEY})/month: ([\d.,]+) months of cash", ceo):
        row = _row(emails["cfo"], name, "Entity | Cash", must=False)  # a long table is cut
        q[f"{name} net"]["ceo"], q[f"{name} runway"]["ceo"] = "-" + burn, runway
        if row:
            q[f"{name} net"]["cfo"], q[f"{name} runway"]["cfo"] = row[4], row[5].removesuffix(" mo")
        if title := re.search(rf"{re.escape(name)}: Runway ([\d.,]+) months at ({MONEY})/month burn", cfo):
            q[f"{name} runway"]["shortfall"] = title.group(1)
            q[f"{name} net"]["shortfall"] = "-" + title.group(2)
    # an agency's receivables in the shortfall that says its sources disagree, against the Accounting rows
    for entity, owed in re.findall(rf"- MEDIUM: ([^:]+): Clients' outstanding {MONEY} \(.*?\) disagrees with "
                                   rf"receivables ({MONEY})", acc):
        rows = [r for _, rs, _ in text_tables(emails["accounting"]) for r in rs if r[0] == entity and
                r[2] in ("due", "service")]  # receivables rows: their third cell says what they are aged from
        q[f"{entity} receivables"] |= {"shortfall": owed, "accounting": ser.format_money_cents(
            sum((_amount(r[-1]) for r in rows), D(0)))}
    return q


@pytest.mark.parametrize("portfolio", ["sample", "generated"])
def test_one_quantity_shows_one_number_in_every_report_and_totals_are_exact(
    portfolio: str, tmp_path: Path, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str],
) -> None:
    """The CEO said 'Earning $2,878/month' where the CFO's table said -$2,879, and the CTO's total was a
    sum of rounded rows ($1,138.05, not $1,138.43): every figure two reports show has one set of digits,
    and every table total is its rows' exact sum rounded once, said so under the table when they differ."""
    source = EXAMPLES if portfolio == "sample" else request.getfixturevalue("generated")
    env = tmp_path / "repos.env"
    env.write_text(
        f"HANDOFF_DIR={source / 'handoffs'}\nDYNAMODB_EXPORT_DIR={source / 'dynamodb'}\nARCHIVE_DIR=archive\n"
        "SES_FROM_ADDRESS=reports@example.com\nEXEC_REPORT_TO=owner@example.com\n",
        encoding="utf-8",
    )
    metrics = write_archive(env, figures_now(portfolio, request))
    assert ser.main(["--dry-run", "--full", "--env-file", str(env), "--as-of", AS_OF]) == 0
    out = capsys.readouterr().out
    emails = dict(zip(IDS, (e.split("\n\n", 1)[1] for e in out.split(SEPARATOR)[1:]), strict=True))
    assert "Last 8 weeks" in emails["ceo"]  # the history is there

    q = quantities(emails)
    assert {"portfolio net", "portfolio cash", "infra cost", "savings"} <= set(q)
    for name, shown in q.items():
        assert len(set(shown.values())) == 1, f"{name} shows {shown}"

    assert sum(check_totals(rid, body) for rid, body in emails.items()) >= 10
    # the totals are the exact sums rounded once (computed here from the figures, not from the text:
    # those write_archive computed from the same handoffs and exports as of the same day)
    entities = metrics["entities"].values()
    for col, family in ((1, "cash"), (2, "revenue_avg"), (3, "expenses_avg"), (4, "cash_flow")):
        exact = sum((e[family] for e in entities if not isinstance(e[family], str)), D(0))
        cents = metrics["portfolio"]["cents"][family]
        assert _amount(_row(emails["cfo"], "Portfolio", "Entity | Cash")[col]) == exact.quantize(
            D("0.01") if cents else D("1"), rounding="ROUND_HALF_UP"), family
    infra = sum((e["infra_cost"] for e in entities), D(0))
    assert _amount(_row(emails["cto"], "Total", "Entity | Monthly cost")[1]) == infra.quantize(
        D("0.01") if metrics["portfolio"]["cents"]["infra_cost"] else D("1"), rounding="ROUND_HALF_UP")
