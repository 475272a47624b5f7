"""Text from a handoff shows exactly as written in every place a report puts it.

Every test renders for real: handoffs under tmp_path, read by the tool's own readers,
figures computed, templates rendered through Markdown and html2text.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
import yaml
from make_exports import write_export

import send_exec_reports as ser

from .conftest import FRONT, dry_run_of, portfolio_with, write_portfolio

AS_OF = dt.date(2026, 11, 22)
T0 = dt.datetime(2026, 11, 21, 9, 0, tzinfo=dt.UTC)
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def handoff(folder: Path, name: str, **front: object) -> None:
    """Write one handoff, its front matter dumped by PyYAML (so any string is quoted right)."""
    folder.mkdir(parents=True, exist_ok=True)
    front = {"status": "active", "updated": AS_OF - dt.timedelta(days=2), **front}
    text = yaml.safe_dump(front, allow_unicode=True, sort_keys=False, width=10**6)
    (folder / f"{name}.md").write_text(f"---\n{text}---\nNotes.\n", encoding="utf-8")


def dry_run(tmp_path: Path, capsys: pytest.CaptureFixture[str], only: str, *, exports: bool = False) -> str:
    """The dry run's stdout for the handoffs in tmp_path/handoffs; it must succeed quietly."""
    env = tmp_path / "repos.env"
    env.write_text("HANDOFF_DIR=handoffs\n" + ("DYNAMODB_EXPORT_DIR=exports\n" if exports else ""))
    code = ser.main(["--dry-run", "--env-file", str(env), "--as-of", AS_OF.isoformat(), "--only", only])
    out, err = capsys.readouterr()
    assert (code, err) == (0, ""), err
    return out


def report(out: str, subject_word: str) -> list[str]:
    """The lines of one report in a dry run's output, from its Subject line to the next report."""
    blocks = out.split("=" * ser.WRAP_WIDTH + "\n")
    (block,) = [b for b in blocks if re.search(rf"^Subject: .*{subject_word}", b, re.M)]
    return block.splitlines()


def render_with(tmp_path: Path, template: str) -> ser.RenderedReport:
    """The handoffs under tmp_path/handoffs rendered through one report template (front matter and body)."""
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "x.md").write_text(template, encoding="utf-8")
    metrics = ser.compute_metrics(ser.read_handoffs(tmp_path / "handoffs"), {}, AS_OF)
    (rendered,) = ser.render_all(ser.load_reports(reports), metrics)
    return rendered


def test_a_template_changed_between_two_runs_in_one_process_renders_as_changed(tmp_path: Path) -> None:
    """Environments are kept for the same templates (a warm Lambda container): a changed one must not be."""
    folder = tmp_path / "reports"
    folder.mkdir()
    template = folder / "ceo.md"
    metrics = ser.compute_metrics(ser.read_handoffs(write_portfolio(tmp_path)), {}, dt.date(2026, 11, 22))
    texts = []
    for body in ("First wording: {{ period }}.", "Second wording: {{ period }}.", "First wording: {{ period }}."):
        template.write_text('---\ntitle: CEO Report\npersona: CEO\nsubject: "Executive Report: {{ persona }}"\n'
                            "---\n" + body + "\n", encoding="utf-8")
        (report,) = ser.load_reports(folder)
        texts.append(ser.render_all([report], metrics)[0].text)
        assert ser.jinja_env([report]) is ser.jinja_env([report])  # kept while the templates are the same
    assert ["First wording: 2026-W47." in t for t in texts] == [True, False, True]
    assert "Second wording: 2026-W47." in texts[1]


def test_the_reproductions_show_as_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "handoffs"
    stack = [{"name": "api", "service": "AWS Lambda", "monthly_cost": 1, "in_use": True}]
    live = [{"name": "Site", "kind": "organic", "status": "live", "visits": 10, "leads": 2, "conversions": 1}]
    handoff(folder, "a", entity="# Pwned heading", cash=100, financials={"2026-08": {"revenue": 10, "expenses": 20}},
            stack=[{"name": "back\\-slash", "service": "\x1b[31mred\a bell\0nul", "monthly_cost": 1, "in_use": True}],
            actions=[{"title": "back\\-slash \u202eevil", "due": dt.date(2026, 11, 25), "priority": 1,
                      "persona": "CTO"}])
    for i, name in enumerate(["\\+ plus", "\\- dash", "1\\. numbered"]):
        handoff(folder, f"b{i}", entity=name, stack=stack, channels=live)
    out = dry_run(tmp_path, capsys, "ceo,cfo,cto,cmo")

    cfo = report(out, "CFO")
    assert "; # Pwned heading over 1 month (2026-09, 2026-10 missing);" in " ".join(" ".join(cfo).split())
    assert not [line for line in cfo if "PWNED" in line]
    assert [line for line in cfo if line.startswith("=")] == ["=" * len("CFO Report")]  # the title's only
    cto, cmo = report(out, "CTO"), report(out, "CMO")
    for heading in ("\\+ plus", "\\- dash", "1\\. numbered"):  # the group headings, exactly as written
        assert heading in cto
        assert heading + ": period not given in the handoff" in cmo  # the CMO's names the channels' period
    assert "# Pwned heading" in cto  # its group heading
    assert "\\\\" not in out
    assert "  - due 2026-11-25, P1: back\\-slash evil (# Pwned heading, CTO)" in report(out, "CEO")
    assert [line for line in cto if line.startswith("back\\-slash | \u241b[31mred\u2407 bell\u2400nul |")]
    assert not CONTROL.search(out), "a control character reached the output"


# Markdown, HTML and template syntax, escapes, and text that an escaper could get wrong.
NASTY = [
    "*a*", "_a_", "`a`", "**b**", "__b__", "~~s~~", "[x](y)", "![i](http://x/i.png)", "[^1]", "*[HTML]: x",
    "<b>bold</b>", "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "</td></tr>", "<!-- c -->",
    "<http://example.com>", "javascript:alert(1)", "&amp;", "&lt;", "&#124;", "&copy", "a | b", "a\\|b", "|",
    "# head", "## h2 ##", "#", "- dash", "-", "+ plus", "+", "1. one", "1986. year", "1) one", "> quote", ">",
    "=", "===", "---", "- - -", "***", "___", ": term", "back\\slash", "back\\-slash", "\\+ plus", "\\- dash",
    "1\\. numbered", "\\\\double", "x\\", "\\", "{{ 7*7 }}", "{% raw %}", "@@TABLE0@@", "wzxhzdk:0",
    "Zoë 東京 café", "a  b\tc\nd", "    four spaces", "trailing  ", "ｆｕｌｌ", "e\u0301", "😀 emoji",
]


@pytest.mark.parametrize("value", NASTY)
def test_any_text_shows_exactly_as_written_in_every_place(tmp_path: Path, value: str) -> None:
    handoff(tmp_path / "handoffs", "doc", entity=value)
    rendered = render_with(
        tmp_path,
        "---\ntitle: X\npersona: CEO\nsubject: 'Report: {{ entities|first }} ({{ period }})'\n---\n"
        "{% for e in entities.values() %}\nSTART\n\n{{ e.name }}\n\n- {{ e.name }}\n\n### {{ e.name }}\n\n"
        "| Name | N |\n|---|---:|\n| {{ e.name }} | 1 |\n\nLine:\n{{ e.name }}\n\nEND\n{% endfor %}\n",
    )
    expected = " ".join(value.split())  # whitespace folded, as on one line
    lines = rendered.text.splitlines()
    body = lines[lines.index("START") + 1:lines.index("END")]
    paragraph, item, heading, table, after_text = body[1], body[3], body[5], body[7:10], body[11:]
    assert (paragraph, item, heading) == (expected, f"  - {expected}", expected)
    assert table[0].startswith("Name") and set(table[1]) <= {"-", "+"}
    assert table[2].rsplit(" | ", 1) == [expected.ljust(len(table[2]) - 4), "1"]
    assert after_text == [f"Line: {expected}", ""]  # '===' or '---' under a line would make it a heading
    assert rendered.subject == f"Report: {expected} (2026-W47)"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("\x1b[31mred\x1b[0m", "\u241b[31mred\u241b[0m"),  # ESC shows as its picture: the terminal stays as it was
        ("bell\a nul\0 del\x7f", "bell\u2407 nul\u2400 del\u2421"),
        ("c1 \x9b31m csi", "c1 \ufffd31m csi"),  # C1 controls have no picture
        ("\x02wzxhzdk:0\x03", "\u2402wzxhzdk:0\u2403"),  # Python-Markdown's own placeholder marks
        ("\x0e1\x0e \x0f \x10", "\u240e1\u240e \u240f \u2410"),  # the marks of the template's structure
        ("abc\u202edef \u2066iso\u2069 \u200fmark", "abcdef iso mark"),  # bidi controls only reorder: removed
        ("line\rbreak\x0bvt\x1cfs\x85nel", "line break vt fs nel"),  # line breaks of every kind: one space
    ],
)
def test_control_characters_are_made_visible_or_removed(tmp_path: Path, value: str, shown: str) -> None:
    handoff(tmp_path / "handoffs", "doc", entity=value,
            actions=[{"title": value, "due": dt.date(2026, 11, 25), "priority": 1}],
            stack=[{"name": value, "service": "S3", "monthly_cost": 1, "in_use": True}])
    rendered = render_with(
        tmp_path,
        "---\ntitle: X\npersona: CEO\nsubject: '{{ entities|first }}'\n---\n"
        "{% for a in actions %}\n- {{ a.title }}\n{% endfor %}\n\n{% for s in stack %}\n### {{ s.entity }}\n\n"
        "| Name | Cost |\n|---|---:|\n| {{ s.name }} | {{ s.monthly_cost|money }} |\n{% endfor %}\n",
    )
    assert rendered.subject == f"{shown} (1 need you)"  # the action due within a week
    lines = rendered.text.splitlines()
    assert f"  - {shown}" in lines
    assert shown in lines  # the heading
    assert [line for line in lines if line.startswith(f"{shown} | ")]
    assert not CONTROL.search(rendered.text + rendered.subject)


def test_the_sources_line_shows_table_names_as_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    names = ["__init__", "-dash-", "a_b_c", "1.x"]
    for name in names:  # the checklist's item holds its done attribute (one no item holds is an error)
        write_export(tmp_path / "exports" / name, [{"id": {"S": "1"}, "done": {"BOOL": False}}], export_time=T0)
    handoff(tmp_path / "handoffs", "doc", entity="Acme",
            dynamodb={"events": "__init__", "users": "a_b_c", "checklist": {"table": "-dash-"}})
    handoff(tmp_path / "handoffs", "other", entity="Other", dynamodb={"events": "1.x"})
    out = dry_run(tmp_path, capsys, "ceo", exports=True)
    flat = " ".join(out.split())
    assert flat.endswith("DynamoDB tables: -dash-, 1.x, __init__, a_b_c (exported 2026-11-21 09:00 UTC); "
                         "as of 2026-11-22.")


@pytest.mark.parametrize("md", [
    "<div>\nBefore.\n\n| Name | Amount |\n|---|--:|\n| Acme | 2 |\n\nAfter.\n</div>\n",
    "<div>\nBefore.\n| Name | Amount |\n|---|--:|\n| Acme | 2 |\n</div>\n",
])
def test_a_table_inside_a_templates_raw_html_shows_as_a_table(md: str) -> None:
    """Python-Markdown leaves raw HTML as it is, with the table's place inside it: the table is shown there."""
    text = ser.text_from_markdown(md)
    assert "\x10" not in text
    assert "Name | Amount\n-----+-------\nAcme |      2\n" in text and text.startswith("Before.\n")
    page = ser.html_from_markdown(md, "S")
    assert "\x10" not in page and ">Acme</td>" in page


def test_the_sources_line_names_a_bounded_number_of_tables(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Hundreds of tables: the line names the first TABLES_NAMED, counts the rest, and the email keeps its bound."""
    docs, rental = 150, "3028 51st St Rental"
    long = "events-of-the-booking-site-" * 5  # a table name may have 255 characters
    for i in range(docs):
        entity = rental if i < 10 else f"Venture {i:03d}"
        tables = {"events": f"venture-{i:03d}-{long}", "users": f"venture-{i:03d}-users"}
        for j, name in enumerate(tables.values()):  # two export times: two groups among the named
            write_export(tmp_path / "exports" / name, [{"id": {"S": "1"}}],
                         export_time=T0 + dt.timedelta(hours=(i + j) % 2))
        handoff(tmp_path / "handoffs", f"d{i:03d}", entity=entity, project=f"P{i}", dynamodb=tables)
    out = dry_run(tmp_path, capsys, "ceo,rental", exports=True)
    for word, tables in (("CEO", 2 * docs), (rental, 20)):
        lines = report(out, word)
        body = lines[lines.index("") + 1:]  # after the headers
        assert len(body) <= ser.MAX_LINES
        flat = " ".join(" ".join(body).split())
        sources = flat[flat.index("DynamoDB tables: "):]
        named = re.findall(rf"venture-\d{{3}}-(?:{long}|users)", sources)
        assert len(named) == ser.TABLES_NAMED
        assert f"and {tables - ser.TABLES_NAMED} more tables; as of 2026-11-22." in sources
        assert "(exported 2026-11-21 09:00 UTC)" in sources and "(exported 2026-11-21 10:00 UTC)" in sources


# ---------------------------------------------------------------------------
# Handoff text as written, and templates that fail while rendering


def test_text_is_kept_as_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Unit names like 010 and 1.10, and text with a line break, are shown as written, not as numbers or broken lines."""
    front = ("entity: 3028 51st St Rental\nstatus: active\nupdated: 2026-11-20\n"
             "units:\n  - {unit: 010, tenant: J. Doe, rent: 1850, status: occupied}\n"
             "  - {unit: 1.10, tenant: \"Line\\nbreak\", rent: 1000, status: occupied}\n")
    env = portfolio_with(tmp_path, front)
    code, out, err = dry_run_of(env, capsys, "rental")
    assert (code, err) == (0, "")
    assert "\n010  | J. Doe" in out
    assert "\n1.10 | Line break" in out


def test_markdown_in_handoff_text_outside_tables(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Markdown in handoff text outside tables (a pipe, emphasis, a rule, '1986.') is shown as written."""
    # due beyond 7 days: listed under the CEO's actions, not under Needs you
    front = FRONT + ("actions:\n  - {title: 'Smith & Sons | *Boats* <now>', due: 2026-12-05, priority: 1}\n"
                    "  - {title: \"Call bank\\n\\n---\\n\\n1986. was a good year\", due: 2026-12-06, priority: 2}\n")
    env = portfolio_with(tmp_path, front)
    code, out, _ = dry_run_of(env, capsys, "ceo")
    assert code == 0
    assert "  - due 2026-12-05, P1: Smith & Sons | *Boats* <now> (Acme)" in out
    assert "  - due 2026-12-06, P2: Call bank --- 1986. was a good year (Acme)" in out


def test_subject_shows_text_as_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A subject shows the persona's &, <, > and backslash as written, never escaped."""
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "x.md").write_text("---\ntitle: X\npersona: 'Smith & Sons <Marine> \\ Co'\n"
                                  "subject: 'Executive Report: {{ persona }} — {{ period }}'\n---\nBody.\n")
    metrics = ser.compute_metrics(ser.read_handoffs(portfolio_with(tmp_path, FRONT).parent / "handoffs"), {}, dt.date(2026, 11, 22))
    (rendered,) = ser.render_all(ser.load_reports(reports), metrics)
    assert rendered.subject == "Executive Report: Smith & Sons <Marine> \\ Co — 2026-W47"
    assert rendered.text.startswith("X\n=\n\nPeriod: 2026-W47")


def test_a_template_that_fails_at_run_time_is_one_line_naming_its_line(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """A template that fails while rendering is one line naming its file and line, never a traceback."""
    env = portfolio_with(tmp_path, FRONT + "cash: 100\n")
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "x.md").write_text("---\ntitle: X\npersona: CEO\nsubject: S\n---\nfine\n\n"
                                  "{{ ([1, 'a'])|sort|first }}\n", encoding="utf-8")
    with env.open("a") as fh:
        fh.write("REPORTS_DIR=reports\n")
    code, out, err = dry_run_of(env, capsys)
    assert (code, out) == (78, "")
    assert "x.md:8: template error (TypeError: '<' not supported" in err and "Traceback" not in err


# Row 900 of the uncut list divides by zero; the cut list (100 rows) never reaches it.
LATE_MISTAKE = ("---\ntitle: X\npersona: CEO\nsubject: S\n---\n| n | x |\n|---|--:|\n"
                "{% for i in cut(range(1000), 100) %}| {{ i }} | {{ 1 // (900 - i) }} |\n{% endfor %}\n")


@pytest.mark.parametrize("extra, code", [((), 0), (("--full",), 78), (("--check",), 78)],
                         ids=["dry-run", "full", "check"])
def test_a_mistake_only_the_uncut_rows_reach(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             extra: tuple[str, ...], code: int) -> None:
    """A plain dry run shows what would be sent, and renders a long list only until it is known long;
    what shows the uncut text (--full), or vouches for a send (--check), renders it whole and finds the
    mistake on its line."""
    env = portfolio_with(tmp_path, FRONT + "cash: 100\n")
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "x.md").write_text(LATE_MISTAKE, encoding="utf-8")
    with env.open("a") as fh:
        fh.write("REPORTS_DIR=reports\n")
    got = ser.main(["--dry-run", "--env-file", str(env), "--as-of", "2026-11-22", *extra])
    out, err = capsys.readouterr()
    assert got == code, err
    if code:
        assert out == "" and "x.md:8: template error (ZeroDivisionError: integer division or modulo by zero)" in err
        assert "Traceback" not in err
    else:
        assert "\n99 | 0\n" in out and "\n100 | " not in out  # the 100 rows that would be sent


def test_the_uncut_text_of_a_dry_run_render_names_a_late_mistake_in_one_line(
        tmp_path: Path, bench_metrics_300: dict[str, object]) -> None:
    """A dry run's render leaves the uncut lists unfinished; reading the uncut text renders them again,
    and a mistake found then is the same one-line error as one found up front."""
    (tmp_path / "x.md").write_text(LATE_MISTAKE, encoding="utf-8")
    (report,) = ser.load_reports(tmp_path)
    rendered = ser.render_report(report, bench_metrics_300, whole=False)
    assert "\n99 | 0\n" in rendered.text and rendered.uncut_markdown is not None
    with pytest.raises(ser.ConfigError, match=r"x\.md:8: template error \(ZeroDivisionError: integer division"):
        _ = rendered.full_text  # reading it renders the uncut lists


def test_empty_sections_are_named_in_one_line_at_the_end_of_every_report(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A section with nothing in it is no heading with "none." under it: the empty ones are named
    together in one line before the data sources, in every report."""
    for entity in ("3028 51st St Rental", "Expert Yacht Delivery", "DangerousCentaur"):
        handoff(tmp_path / "handoffs", entity.replace(" ", "-"), entity=entity)
    out = dry_run(tmp_path, capsys, "ceo,cto,cfo,cmo,accounting,rental,yacht,agency")
    quiet = {
        "CEO": "shortfalls, actions, KPI gaps and missing KPIs, live numbers, assets, stale handoffs",
        "CTO": "security findings, CTO shortfalls and actions, CTO KPIs, stack",
        "CFO": "CFO shortfalls and actions",
        "CMO": "CMO shortfalls and milestones, channels, email blasts, OTA sequence, CMO KPIs",
        "Accounting": "accounting shortfalls and actions, receivables, deferred revenue, expenses, "
                      "uncategorized expenses",
        "Rental": "shortfalls, actions and security findings, KPIs",
        "Yacht": "shortfalls, actions and security findings, KPIs",
        "DangerousCentaur": "shortfalls, actions and security findings, KPIs",
    }
    for word, names in quiet.items():
        lines = report(out, word)
        text = " ".join(lines)
        assert f" Nothing this week in: {names}. {'-' * ser.WRAP_WIDTH} Data sources:" in " ".join(text.split()), word
        assert text.count("Nothing this week in:") == 1
        assert not [line for line in lines if line.strip() in ("none.", "none")], word
        for heading in ("Unfixed security findings", "Stale handoffs", "Email blast revenue potential",
                        "Deferred revenue", "Open actions, overdue first:"):
            assert heading not in lines, (word, heading)
