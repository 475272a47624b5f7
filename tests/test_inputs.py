"""Bad inputs (handoffs, DynamoDB exports): every error case exits 65 with one clear line, renders nothing.

Each case writes a real portfolio under tmp_path (handoffs/, repos.env, exports/) and runs
the real command line, `send_exec_reports.main([...])`, in dry-run mode.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
from decimal import Decimal
from pathlib import Path

import pytest
from make_exports import write_export

import send_exec_reports as ser

PREFIX = "send_exec_reports: "
AS_OF = "2026-11-22"
EXPORT_TIME = dt.datetime(2026, 11, 21, 9, 0, tzinfo=dt.UTC)
# The three required keys, front-matter lines 2-4 of a document.
HEAD = "entity: Acme\nstatus: active\nupdated: 2026-11-18\n"
SETTINGS_ENV = (
    "HANDOFF_DIR",
    "DYNAMODB_EXPORT_DIR",
    "ARCHIVE_DIR",
    "SES_FROM_ADDRESS",
    "EXEC_REPORT_TO",
    "EXEC_REPORT_BCC",
)


def doc(front: str) -> str:
    """A handoff document: `---` on line 1, so front-matter line k is file line k + 1."""
    return f"---\n{front}---\n\nNotes for the week.\n"


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep the host's settings and AWS configuration out of every run."""
    for name in SETTINGS_ENV:
        monkeypatch.delenv(name, raising=False)
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name, raising=False)
    # botocore would otherwise read ~/.aws; point it at files that do not exist.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def portfolio(tmp_path: Path) -> Path:
    """tmp_path/handoffs and tmp_path/repos.env (relative HANDOFF_DIR); returns tmp_path."""
    (tmp_path / "handoffs").mkdir()
    write_env(tmp_path)
    return tmp_path


def write_env(root: Path, *, exports: bool = False, aws: bool = False) -> Path:
    lines = ["HANDOFF_DIR=handoffs"]
    if exports:
        lines.append("DYNAMODB_EXPORT_DIR=exports")
    if aws:
        # A closed loopback port: a live read fails at once, never reaches AWS.
        lines += [
            "AWS_ENDPOINT_URL=http://127.0.0.1:9",
            "AWS_ACCESS_KEY_ID=testing",
            "AWS_SECRET_ACCESS_KEY=testing",
            "AWS_REGION=us-west-2",
        ]
    env = root / "repos.env"
    env.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return env


def run(root: Path, *extra: str) -> int:
    return ser.main(["--dry-run", "--env-file", str(root / "repos.env"), "--as-of", AS_OF, *extra])


def handoff_path(root: Path, name: str) -> Path:
    """The path the script names in messages: HANDOFF_DIR resolved, then the file."""
    return (root / "handoffs").resolve() / name


def error_lines(err: str) -> list[str]:
    return [line.removeprefix(PREFIX) for line in err.splitlines()]


# ---------------------------------------------------------------------------
# §2.1: one bad handoff -> exit 65, one line "path:line: key message", nothing rendered.

NUMBER_HINT = " (plain digits, no $ or commas, e.g. 8200)"


def case(case_id: str, text: str | bytes, line: int, key: str | None, message: str, *, xfail: str = ""):
    """One bad document: the line and the message after "path:line: " worked out by hand."""
    marks = [pytest.mark.xfail(strict=True, reason=xfail)] if xfail else []
    return pytest.param(text, line, key, message, id=case_id, marks=marks)


DOC_CASES = [
    case("missing-entity", doc("status: active\nupdated: 2026-11-18\n"), 2, "entity",
         "entity is required but missing; add it"),
    case("missing-status", doc("entity: Acme\nupdated: 2026-11-18\n"), 2, "status",
         "status is required but missing; add it"),
    case("missing-updated", doc("entity: Acme\nstatus: active\n"), 2, "updated",
         "updated is required but missing; add it"),
    case("empty-entity", doc("entity:\nstatus: active\nupdated: 2026-11-18\n"), 2, "entity",
         "entity is required but empty; give it a value"),
    case("unknown-status", doc("entity: Acme\nstatus: finished\nupdated: 2026-11-18\n"), 3, "status",
         "status is text 'finished'; use one of: active, at-risk, blocked, paused, done"),
    case("unknown-urgency",
         doc(HEAD + "shortfalls:\n  - {title: A, urgency: high}\n  - {title: B, urgency: urgent}\n"),
         7, "shortfalls[1].urgency",
         "shortfalls[1].urgency is text 'urgent'; use one of: critical, high, medium, low"),
    case("unknown-severity", doc(HEAD + "security:\n  - severity: severe\n    finding: Open bucket\n"),
         6, "security[0].severity",
         "security[0].severity is text 'severe'; use one of: critical, high, medium, low"),
    case("cash-text", doc(HEAD + 'owner: CB\ncash: "8,200"\n'), 6, "cash",
         "cash expected a number, got text '8,200'" + NUMBER_HINT),
    case("revenue-dollars",
         doc(HEAD + "financials:\n  2026-08: {revenue: 4200, expenses: 3100}\n"
             "  2026-09:\n    revenue: $3,900\n    expenses: 3300\n"),
         8, "financials.2026-09.revenue",
         "financials.2026-09.revenue expected a number, got text '$3,900'" + NUMBER_HINT),
    case("updated-yesterday", doc("entity: Acme\nstatus: active\nupdated: yesterday\n"), 4, "updated",
         "updated expected a date like 2026-11-18, got text 'yesterday'"),
    case("updated-impossible-date", doc("entity: Acme\nstatus: active\nupdated: 2026-13-45\n"), 4, "updated",
         "updated expected a date like 2026-11-18, got text '2026-13-45'"),
    case("action-due-soon", doc(HEAD + "actions:\n  - title: Install events\n    due: soon\n"), 7,
         "actions[0].due", "actions[0].due expected a date like 2026-11-18, got text 'soon'"),
    case("month-not-yyyy-mm", doc(HEAD + "financials:\n  2026-8: {revenue: 1, expenses: 2}\n"), 6,
         "financials.2026-8", "financials.2026-8 is not a calendar month; write it as YYYY-MM"),
    case("month-words", doc(HEAD + "financials:\n  Sept 2026: {revenue: 1, expenses: 2}\n"), 6,
         "financials.Sept 2026", "financials.Sept 2026 is not a calendar month; write it as YYYY-MM"),
    case("month-without-expenses",
         doc(HEAD + "financials:\n  2026-08: {revenue: 4200, expenses: 3100}\n  2026-09: {revenue: 3900}\n"),
         7, "financials.2026-09.expenses", "financials.2026-09.expenses is required but missing; add it"),
    case("list-given-mapping", doc(HEAD + "kpis: {a: 1}\n"), 5, "kpis", "kpis expected a list, got a mapping"),
    case("better-more",
         doc(HEAD + "kpis:\n  - {name: A, value: 1, target: 2}\n  - {name: B, value: 1, target: 2, better: more}\n"),
         7, "kpis[1].better", "kpis[1].better is text 'more'; use one of: higher, lower"),
    case("in-use-yes", doc(HEAD + 'stack:\n  - {name: api, in_use: "yes"}\n'), 6, "stack[0].in_use",
         "stack[0].in_use expected true or false, got text 'yes'"),
    case("duplicate-key", doc(HEAD + "owner: CB\nentity: Other\n"), 6, "entity", "entity appears twice; keep one"),
    case("duplicate-month",
         doc(HEAD + "financials:\n  2026-08: {revenue: 1, expenses: 2}\n  2026-08: {revenue: 3, expenses: 4}\n"),
         7, "financials.2026-08", "financials.2026-08 appears twice; keep one"),
    # YAML syntax errors: the line is where the parser stops (unclosed '[': see the tests below).
    case("bad-indentation", doc(HEAD + "owner: CB\n  cash: 3\n"), 6, None,
         "front matter is not valid YAML (mapping values are not allowed in this context); fix the syntax"),
    case("never-closes", "---\nentity: Acme\nstatus: active\nupdated: 2026-11-18\n\nNotes.\n", 1, None,
         "front matter opened on line 1 never closes; add a line '---' after it"),
    case("not-utf8", b"---\nentity: Acme\nowner: Jos\xff\nstatus: active\nupdated: 2026-11-18\n---\n", 3, None,
         "not UTF-8 (byte 0xff at offset 27); save the file as UTF-8"),
    # Front matter found after blank lines: the lines named are the file's own.
    case("never-closes-after-blank-lines", "\n\n---\nentity: Acme\nstatus: active\nupdated: 2026-11-18\n", 3,
         None, "front matter opened on line 3 never closes; add a line '---' after it"),
    case("status-after-bom-blank-lines-and-comment",
         "\ufeff\n\n--- # haul-out\nentity: Acme\nstatus: finished\nupdated: 2026-11-18\n---\n", 5, "status",
         "status is text 'finished'; use one of: active, at-risk, blocked, paused, done"),
    case("tab-indentation", doc(HEAD + "kpis:\n\t- {name: A, value: 1}\n"), 6, None,
         "tabs are not allowed for indentation; use spaces"),
    case("nul-byte", doc(HEAD + "owner: C\x00B\n"), 5, None,
         "holds the control character U+0000, which YAML does not allow; remove it "
         "(in quoted text, write it as an escape such as \\t)"),
    # A file that looks like a handoff but whose front matter cannot be found is never skipped.
    case("no-opening-line", "entity: Acme\nstatus: blocked\nupdated: 2026-11-18\n---\n\nNotes.\n", 1, None,
         "looks like a handoff (entity: on line 1) but has no front matter; "
         "add a line '---' as its first line and another after its keys"),
    case("block-further-down", "# Booking site\n\n" + doc(HEAD), 3, None,
         "looks like a handoff (entity: on line 4) but its front matter does not open the file; "
         "move this '---' block to the top, before any other text"),
    # Anchors, aliases and merge keys.
    case("anchor", doc(HEAD + "shared: &a {x: 1}\n"), 5, None,
         "anchor &a is not allowed: anchors and aliases let a file of a few hundred bytes stand for gigabytes; "
         "write each value out in full"),
    case("merge-key", doc(HEAD + "team:\n  <<: {size: 3}\n"), 6, None,
         "merge key '<<' is not allowed: it copies keys from an anchor, which may expand without limit; "
         "write the keys out in full"),
    # Numbers: one plain decimal form, exact, bounded.
    case("priority-word", doc(HEAD + "actions:\n  - {title: A, priority: high}\n"), 6, "actions[0].priority",
         "actions[0].priority expected a whole number, 1 or more (1 is the highest priority), got text 'high'"),
    case("priority-zero", doc(HEAD + "actions:\n  - {title: A, priority: 0}\n"), 6, "actions[0].priority",
         "actions[0].priority is 0; write a whole number, 1 or more (1 is the highest priority)"),
    case("too-many-places", doc(HEAD + "cash: 12.3456789\n"), 5, "cash",
         "cash is 12.3456789, more than 6 decimal places; round it, e.g. 12.345679"),
    case("too-large", doc(HEAD + "cash: 1000000000000000\n"), 5, "cash",
         "cash is 1000000000000000, not a plausible amount (it must be under 1,000,000,000,000,000)"),
    case("quoted-number", doc(HEAD + 'cash: "8200"\n'), 5, "cash",
         "cash is quoted, which makes it text; write the number without quotes: 8200"),
    case("infinity", doc(HEAD + "cash: .inf\n"), 5, "cash",
         "cash is written .inf, not a plain decimal number; write digits such as 8200"),
    case("tiny-exponent", doc(HEAD + "cash: 1.0e-300\n"), 5, "cash",
         "cash is written 1.0e-300, not in plain decimal digits; write it out with at most 6 decimal places"),
]


@pytest.mark.parametrize(("text", "line", "key", "message"), DOC_CASES)
def test_bad_handoff_exits_65_with_one_line(portfolio, capsys, text, line, key, message):
    name = "booking-site.md"
    target = portfolio / "handoffs" / name
    if isinstance(text, bytes):
        target.write_bytes(text)
    else:
        target.write_text(text, encoding="utf-8")

    status = run(portfolio)

    out, err = capsys.readouterr()
    assert status == 65
    assert out == ""  # nothing rendered, not even half a report
    path = handoff_path(portfolio, name)
    if key is not None:
        assert message.startswith(f"{key} ")
    assert [ln for ln in error_lines(err) if str(path) in ln] == [f"{path}:{line}: {message}"]
    assert error_lines(err)[-1] == "bad input: nothing was sent (1 error)"


UNCLOSED = doc(HEAD + "kpis: [\n  {name: A, value: 1}\n")  # '[' on line 5, never closed


def test_unclosed_bracket(portfolio, capsys):
    """The parser stops at the closing '---' (line 7) and says where the '[' opened (line 5).

    The parser's own words differ between libyaml and pure-Python PyYAML; the lines do not.
    """
    (portfolio / "handoffs" / "a.md").write_text(UNCLOSED)
    assert run(portfolio) == 65
    out, err = capsys.readouterr()
    assert out == ""
    line, summary = error_lines(err)
    assert line.startswith(f"{handoff_path(portfolio, 'a.md')}:7: front matter is not valid YAML (")
    assert "expected ',' or ']'" in line
    assert line.endswith(", while parsing a flow sequence started on line 5); fix the syntax")
    assert summary == "bad input: nothing was sent (1 error)"


def test_two_bad_files_both_reported(portfolio, capsys):
    handoffs = portfolio / "handoffs"
    (handoffs / "a.md").write_text(doc("entity: Acme\nstatus: finished\nupdated: 2026-11-18\n"))
    (handoffs / "b.md").write_text(doc(HEAD + 'cash: "8,200"\n'))
    (handoffs / "c.md").write_text(doc(HEAD))  # a good one does not hide the bad ones

    status = run(portfolio)

    out, err = capsys.readouterr()
    assert status == 65
    assert out == ""
    assert error_lines(err) == [
        (
            f"{handoff_path(portfolio, 'a.md')}:3: status is text 'finished'; "
            "use one of: active, at-risk, blocked, paused, done"
        ),
        f"{handoff_path(portfolio, 'b.md')}:5: cash expected a number, got text '8,200'" + NUMBER_HINT,
        "bad input: nothing was sent (2 errors)",
    ]


def test_nested_bad_file_named_by_its_path(portfolio, capsys):
    sub = portfolio / "handoffs" / "eyd"
    sub.mkdir()
    (sub / "site.md").write_text(doc("entity: Acme\nstatus: active\nupdated: yesterday\n"))
    assert run(portfolio) == 65
    out, err = capsys.readouterr()
    assert out == ""
    assert f"{handoff_path(portfolio, 'eyd/site.md')}:4: updated expected a date like 2026-11-18, " \
        "got text 'yesterday'" in error_lines(err)


# ---------------------------------------------------------------------------
# §2.1: what is accepted.


def test_readme_without_front_matter_is_skipped_and_counted(portfolio, capsys):
    handoffs = portfolio / "handoffs"
    (handoffs / "README.md").write_text("# Handoffs\n\nOne file per project.\n---\nnot front matter\n")
    (handoffs / "booking-site.md").write_text(doc(HEAD))

    status = run(portfolio, "--only", "ceo")

    out, err = capsys.readouterr()
    assert status == 0, err
    flat = " ".join(out.split())  # the sources line is wrapped at 78 columns
    assert "Data sources: 1 handoff read (1 Markdown file without front matter skipped: README.md);" in flat
    assert ser.read_handoffs(handoffs).skipped == ["README.md"]


@pytest.mark.parametrize(
    ("name", "front", "project"),
    [
        pytest.param("booking-site.md", HEAD, "booking-site", id="default-from-file-name"),
        pytest.param("eyd/site.v2.md", HEAD, "site.v2", id="default-in-subfolder"),
        pytest.param("booking-site.md", HEAD + "project: Booking site\n", "Booking site", id="given"),
    ],
)
def test_project_name(tmp_path, name, front, project):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc(front))
    assert ser.read_handoffs(tmp_path).handoffs[0].project == project


def test_unknown_keys_are_kept(tmp_path):
    (tmp_path / "a.md").write_text(doc(HEAD + "notes_url: https://example.com/notes\nteam: {size: 3}\n"))
    data = ser.read_handoffs(tmp_path).handoffs[0].data
    assert data["notes_url"] == "https://example.com/notes"
    assert data["team"] == {"size": 3}


@pytest.mark.parametrize("updated", ['"2026-11-18"', "'2026-11-18'", "2026-11-18"])
def test_quoted_iso_date_is_a_date(tmp_path, updated):
    (tmp_path / "a.md").write_text(doc(f"entity: Acme\nstatus: active\nupdated: {updated}\n"))
    assert ser.read_handoffs(tmp_path).handoffs[0].data["updated"] == dt.date(2026, 11, 18)


@pytest.mark.parametrize(
    "files",
    [
        pytest.param({}, id="empty-folder"),
        pytest.param({"README.md": "# Notes\n", "notes.txt": "---\nentity: X\n---\n"}, id="no-front-matter"),
    ],
)
def test_no_handoff_at_all(portfolio, capsys, files):
    for name, text in files.items():
        (portfolio / "handoffs" / name).write_text(text)

    status = run(portfolio)

    out, err = capsys.readouterr()
    assert status == 65
    assert out == ""
    assert error_lines(err) == [
        (
            f"HANDOFF_DIR {(portfolio / 'handoffs').resolve()}: no handoff documents "
            "(*.md with front matter) found; check the setting"
        )
    ]


# ---------------------------------------------------------------------------
# §2.2: DynamoDB tables named by a handoff.

TABLE_DOC = doc(HEAD + "dynamodb: {events: eyd-events}\n")


def event_items(count: int):
    for i in range(count):
        yield {"pk": {"S": f"event#{i:04d}"}, "kind": {"S": "page_view"}}


@pytest.fixture
def with_export(portfolio: Path) -> Path:
    """A handoff naming table eyd-events, and a good 5-item export of it in 3 data files."""
    write_env(portfolio, exports=True, aws=True)
    (portfolio / "handoffs" / "eyd.md").write_text(TABLE_DOC)
    write_export(portfolio / "exports" / "eyd-events", event_items(5), export_time=EXPORT_TIME, items_per_file=2)
    return portfolio


def export_folder(root: Path) -> Path:
    (folder,) = (root / "exports" / "eyd-events" / "AWSDynamoDB").resolve().iterdir()
    return folder


def data_files(folder: Path) -> list[Path]:
    """The data files in manifest order."""
    lines = (folder / "manifest-files.json").read_text().splitlines()
    return [folder / "data" / json.loads(ln)["dataFileS3Key"].rsplit("/", 1)[-1] for ln in lines]


def test_good_export_is_read(with_export, capsys):
    assert run(with_export, "--only", "ceo") == 0, capsys.readouterr().err
    assert "eyd-events" in " ".join(capsys.readouterr().out.split())


def test_table_in_neither_exports_nor_live(portfolio, capsys):
    write_env(portfolio, exports=True, aws=True)
    (portfolio / "exports").mkdir()
    (portfolio / "handoffs" / "eyd.md").write_text(doc(HEAD + "dynamodb: {events: missing-table}\n"))

    status = run(portfolio)

    out, err = capsys.readouterr()
    assert status == 65
    assert out == ""
    (line,) = error_lines(err)
    assert line.startswith("eyd.md"), line  # the handoff that names the table
    assert line.split(": dynamodb.events: ", 1)[1].startswith(
        "DynamoDB table missing-table (Acme) is not in the exports "
        f"(DYNAMODB_EXPORT_DIR={portfolio / 'exports'}) and cannot be read live: "
    ), line
    assert "127.0.0.1:9" in line


def _wrong_summary_count(folder: Path) -> str:
    path = folder / "manifest-summary.json"
    summary = json.loads(path.read_text())
    summary["itemCount"] = 7
    path.write_text(json.dumps(summary))
    return (
        f"{path}: itemCount 7 but the data files hold 5 items; "
        "the export is damaged or partly synced: sync it again"
    )


def _deleted_data_file(folder: Path) -> str:
    gone = data_files(folder)[1]
    gone.unlink()
    return f"{gone}: listed in manifest-files.json but missing; sync the export again"


def _garbage_gzip(folder: Path) -> str:
    bad = data_files(folder)[0]
    bad.write_bytes(b"not gzip at all\n")
    return f"{bad}: not a readable gzip file (Not a gzipped file (b'no')); sync the export again"


def _truncated_gzip(folder: Path) -> str:
    bad = data_files(folder)[2]
    bad.write_bytes(bad.read_bytes()[:-8])  # cut the gzip trailer (CRC and size)
    return (
        f"{bad}: not a readable gzip file (Compressed file ended before the end-of-stream marker was reached); "
        "sync the export again"
    )


def _rewrite_first_file(folder: Path, lines: bytes) -> Path:
    bad = data_files(folder)[0]
    with gzip.open(bad, "wb") as fh:
        fh.write(lines)
    return bad


def _not_json(folder: Path) -> str:
    bad = _rewrite_first_file(folder, b'{"Item": {"pk": {"S": "a"}}}\n{"Item": {"pk": \n')
    return f"{bad}:2: not a DynamoDB JSON item (Expecting value at column 17); sync the export again"


def _item_not_a_map(folder: Path) -> str:
    bad = _rewrite_first_file(folder, b'{"Item": {"pk": {"S": "a"}}}\n\n{"Item": ["pk"]}\n')
    return f"{bad}:3: not a DynamoDB JSON item (no \"Item\" map); sync the export again"


def _file_count_disagrees(folder: Path) -> str:
    path = folder / "manifest-files.json"
    lines = path.read_text().splitlines()
    entry = json.loads(lines[0])
    entry["itemCount"] = 3
    lines[0] = json.dumps(entry)
    path.write_text("\n".join(lines) + "\n")
    name = data_files(folder)[0].name
    return (
        f"{path}:1: itemCount 3 but {name} holds 2 items; "
        "the export is damaged or partly synced: sync it again"
    )


@pytest.mark.parametrize(
    "damage",
    [_wrong_summary_count, _deleted_data_file, _garbage_gzip, _truncated_gzip, _not_json, _item_not_a_map,
     _file_count_disagrees],
)
def test_damaged_export(with_export, capsys, damage):
    message = damage(export_folder(with_export))

    status = run(with_export)

    out, err = capsys.readouterr()
    assert status == 65
    assert out == ""
    assert error_lines(err) == [
        f"table eyd-events (Acme): {message}",
        "bad input: nothing was sent (1 error)",
    ]


# ---------------------------------------------------------------------------
# §2.1: rules that keep a handoff from silently meaning something else.


def read_errors(folder: Path, **kwargs) -> list[str]:
    """The error lines of reading a folder of handoffs (which must fail)."""
    with pytest.raises(ser.InputErrors) as info:
        ser.read_handoffs(folder, **kwargs)
    return info.value.errors


def test_every_error_of_a_file_in_one_run(portfolio, capsys):
    """A bad status, a dollar amount and a US date: three lines in one run, not three runs."""
    (portfolio / "handoffs" / "a.md").write_text(
        doc("entity: Acme\nstatus: finished\nupdated: 12/10/2026\ncash: $12,500\n"
            "kpis:\n  - {name: A, value: 1, target: 0x10}\n  - {value: 2}\n"))
    assert run(portfolio) == 65
    out, err = capsys.readouterr()
    path = handoff_path(portfolio, "a.md")
    assert out == ""
    assert error_lines(err) == [
        f"{path}:3: status is text 'finished'; use one of: active, at-risk, blocked, paused, done",
        f"{path}:4: updated expected a date like 2026-11-18, got text '12/10/2026'",
        f"{path}:5: cash expected a number, got text '$12,500'" + NUMBER_HINT,
        f"{path}:7: kpis[0].target is written 0x10, a hexadecimal number; write 16",
        f"{path}:8: kpis[1].name is required but missing; add it",
        "bad input: nothing was sent (5 errors)",
    ]


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("0100", "which YAML reads as octal 64; write 100 (or 64)"),
        ("1:30", "which YAML reads as 90 (base 60); write 90"),
        ("-1:30", "which YAML reads as -90 (base 60); write -90"),
        ("0x10", "a hexadecimal number; write 16"),
        ("0b11", "a binary number; write 3"),
        ("0o17", "an octal number; write 15"),
        ("1_000", "not in plain decimal digits; write 1000"),
        ("+5", "not in plain decimal digits; write 5"),
        (".5", "not in plain decimal digits; write 0.5"),
        ("5.", "not in plain decimal digits; write 5"),
        ("1.5e+3", "not in plain decimal digits; write 1500"),
        ("1e3", "not in plain decimal digits; write 1000"),
        ("089", "not in plain decimal digits; write 89"),
        ("1.0e+320", "not a plausible amount (it must be under 1,000,000,000,000,000)"),
    ],
)
def test_yaml_1_1_number_forms_show_the_plain_form(tmp_path, written, message):
    """YAML 1.1 reads 0100 as 64 and 1:30 as 90: refused, with the decimal to write instead."""
    (tmp_path / "a.md").write_text(doc(HEAD + f"clients:\n  - {{name: A, status: active, hours_last_30d: {written}}}\n"))
    assert read_errors(tmp_path) == [
        f"{tmp_path / 'a.md'}:6: clients[0].hours_last_30d is written {written}, {message}"
    ]


def test_numbers_are_exact_decimals_from_the_text(tmp_path):
    (tmp_path / "a.md").write_text(doc(
        HEAD + "cash: -0.00\nfinancials:\n  2026-10: {revenue: 300.30, expenses: 100.10}\n"
        "kpis:\n  - {name: Rate, value: 0.000001, target: -999999999999999.999999}\n"
        "actions:\n  - {title: A, priority: 2}\n  - {title: B, priority: 3.0}\n"))
    (tmp_path / "b.md").write_text(doc(HEAD + "financials:\n  2026-10: {revenue: 0, expenses: 200.20}\n"))
    a, _ = ser.read_handoffs(tmp_path).handoffs
    month = a.data["financials"]["2026-10"]
    assert month == {"revenue": Decimal("300.30"), "expenses": Decimal("100.10"), "debt_service": None}
    assert all(type(v) is Decimal for v in month.values() if v is not None)
    assert str(a.data["cash"]) == "0.00"  # never -0.00
    assert a.data["kpis"][0]["value"] == Decimal("0.000001")
    assert a.data["kpis"][0]["target"] == Decimal("-999999999999999.999999")
    assert [(x["priority"], type(x["priority"])) for x in a.data["actions"]] == [(2, int), (3, int)]
    # 100.10 + 200.20 against 300.30 is zero, not 5.7e-14: not burning, no absurd runway.
    entity = ser.compute_metrics(ser.read_handoffs(tmp_path), {}, dt.date(2026, 11, 22))["entities"]["Acme"]
    assert entity["burn"] == 0
    assert entity["runway"] == ser.NOT_BURNING


def test_a_file_reached_by_two_paths_is_read_once(tmp_path):
    (tmp_path / "site.md").write_text(doc(HEAD + "cash: 8200\n"))
    (tmp_path / "linked").mkdir()
    os.symlink(tmp_path / "site.md", tmp_path / "linked" / "site.md")
    os.symlink("site.md", tmp_path / "another-name.md")
    portfolio = ser.read_handoffs(tmp_path)
    assert [(h.file, h.data["cash"]) for h in portfolio.handoffs] == [("another-name.md", 8200)]


def test_two_documents_for_one_project_are_an_error_naming_both(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "site.md").write_text(doc(HEAD + "project: Booking Site\ncash: 8200\n"))
    (tmp_path / "b" / "copy.md").write_text(doc("entity: ACME\nstatus: active\nupdated: 2026-11-18\n"
                                                "project: booking site\ncash: 8200\n"))
    (tmp_path / "b" / "other.md").write_text(doc(HEAD + "project: Other\n"))
    assert read_errors(tmp_path) == [
        f"{tmp_path / 'b' / 'copy.md'}:5: entity 'ACME', project 'booking site' is also in "
        f"{tmp_path / 'a' / 'site.md'}; keep one of the two files, or give each its own project"
    ]


def test_a_dangling_link_and_a_fifo_are_errors_not_skips(tmp_path):
    (tmp_path / "site.md").write_text(doc(HEAD))
    os.symlink("moved-away.md", tmp_path / "gone.md")
    os.mkfifo(tmp_path / "pipe.md")  # opening it would wait forever for a writer
    assert read_errors(tmp_path) == [
        f"{tmp_path / 'gone.md'}: a symbolic link to moved-away.md, which does not exist; fix the link or remove it",
        f"{tmp_path / 'pipe.md'}: not a regular file; a handoff is a Markdown file: remove it or rename it",
    ]


def test_notes_with_an_example_handoff_in_a_code_block_are_skipped(tmp_path):
    (tmp_path / "site.md").write_text(doc(HEAD))
    (tmp_path / "README.md").write_text("# How to write a handoff\n\n```yaml\n---\n" + HEAD + "---\n```\n")
    assert ser.read_handoffs(tmp_path).skipped == ["README.md"]


def test_persona_must_be_one_of_the_reports(portfolio, capsys):
    (portfolio / "handoffs" / "a.md").write_text(doc(
        HEAD + "shortfalls:\n  - {title: A, urgency: high, persona: Finance}\n"
        "actions:\n  - {title: B, persona: accounting officer}\n"))
    assert run(portfolio) == 65
    out, err = capsys.readouterr()
    assert out == ""
    valid = ", ".join(dict.fromkeys(r.persona for r in ser.load_reports()))
    assert "CMO" in valid and "Accounting Officer" in valid
    assert error_lines(err) == [
        f"{handoff_path(portfolio, 'a.md')}:6: shortfalls[0].persona is text 'Finance', not a persona of any "
        f"report; use one of: {valid}",
        "bad input: nothing was sent (1 error)",
    ]


def test_persona_is_matched_without_case_and_kept_as_the_report_spells_it(tmp_path):
    (tmp_path / "a.md").write_text(doc(HEAD + "actions:\n  - {title: B, persona: accounting officer}\n"))
    (handoff,) = ser.read_handoffs(tmp_path, personas=["CEO", "Accounting Officer"]).handoffs
    assert handoff.data["actions"][0]["persona"] == "Accounting Officer"
    (handoff,) = ser.read_handoffs(tmp_path).handoffs  # no personas given: not checked, kept as written
    assert handoff.data["actions"][0]["persona"] == "accounting officer"


def test_lines_of_keys_are_recorded(tmp_path):
    (tmp_path / "a.md").write_text("\n\n" + doc(
        HEAD + "dynamodb:\n  events: eyd-events\n  checklist: {table: eyd-checklist, done: completed}\n"
        "actions:\n  - title: A\n    due: 2026-12-01\n"))
    (handoff,) = ser.read_handoffs(tmp_path).handoffs
    lines = handoff.lines
    assert (lines["entity"], lines["status"], lines["updated"]) == (4, 5, 6)
    assert (lines["dynamodb"], lines["dynamodb.events"], lines["dynamodb.checklist"]) == (7, 8, 9)
    assert lines["actions"] == 10


# ---------------------------------------------------------------------------
# A business named "Portfolio": the history, the week-on-week changes and CloudWatch key
# the whole portfolio's figures by that name beside each entity's, so the business would
# be given the portfolio's figures (and share its CloudWatch series).


PORTFOLIO = "the name the reports give the whole portfolio"
ESTATE = "the name the CTO report gives AWS resources no handoff names"


@pytest.mark.parametrize(
    ("name", "why"),
    [("Portfolio", PORTFOLIO), ("portfolio", PORTFOLIO),
     ("\uff30\uff4f\uff52\uff54\uff46\uff4f\uff4c\uff49\uff4f", PORTFOLIO), ("Portfol\u2170o", PORTFOLIO),
     ("AWS Estate", ESTATE)],
    ids=["exact", "lower", "fullwidth", "compatibility-form", "estate"],  # compatibility: a roman numeral one for i
)
def test_an_entity_named_as_the_portfolio_is_an_error(portfolio, capsys, name, why):
    handoffs = portfolio / "handoffs"
    (handoffs / "acme.md").write_text(doc(HEAD + "cash: 8200\n"), encoding="utf-8")
    (handoffs / "p.md").write_text(doc(f"entity: {name}\nstatus: active\nupdated: 2026-11-18\ncash: 100\n"),
                                   encoding="utf-8")

    status = run(portfolio, "--only", "ceo")

    out, err = capsys.readouterr()
    assert status == 65
    assert out == ""
    assert error_lines(err) == [
        f"{handoff_path(portfolio, 'p.md')}:2: entity {name!r} is {why}; name the business differently in every "
        "handoff of it",
        "bad input: nothing was sent (1 error)",
    ]


def test_the_portfolio_figures_are_the_whole_portfolios(tmp_path):
    """What the refusal protects: the scope named as the portfolio holds the sum, each entity its own."""
    (tmp_path / "a.md").write_text(doc(HEAD + "cash: 8200\n"), encoding="utf-8")
    (tmp_path / "b.md").write_text(doc("entity: Beta\nstatus: active\nupdated: 2026-11-18\ncash: 100\n"),
                                   encoding="utf-8")
    metrics = ser.compute_metrics(ser.read_handoffs(tmp_path), {}, dt.date.fromisoformat(AS_OF))
    figures = ser.headline_figures(metrics)
    assert figures[ser.PORTFOLIO_SCOPE]["cash"] == Decimal(8300)
    assert figures["Beta"]["cash"] == Decimal(100)


# ---------------------------------------------------------------------------
# Unit reports whose entity has no handoffs: one run names every one of them (a newcomer
# with the three bundled unit templates and handoffs of their own), and lists a bounded
# number of the entities there are.

# in the reports' order
UNIT_TEMPLATES = {"rental": "3028 51st St Rental", "yacht": "Expert Yacht Delivery", "agency": "DangerousCentaur"}


def test_check_names_every_unit_report_without_handoffs_in_one_run(portfolio, capsys):
    (portfolio / "handoffs" / "acme.md").write_text(doc(HEAD + "cash: 8200\n"), encoding="utf-8")

    status = run(portfolio, "--check")

    out, err = capsys.readouterr()
    assert status == 65
    assert out == ""
    advice = ("has no handoff documents; add a handoff, or copy {folder} to a folder of your own, set REPORTS_DIR "
              "to it in repos.env and fix the entity of {rid}.md there or delete it (README 'Set up for your own "
              "portfolio', step 3) (entities: Acme)")
    assert error_lines(err) == [
        *(f"{ser.REPORTS_DIR / f'{rid}.md'}:4: entity {entity!r} {advice.format(folder=ser.REPORTS_DIR, rid=rid)}"
          for rid, entity in UNIT_TEMPLATES.items()),
        "check failed: bad input (3 errors, above)",
    ]


def test_a_unit_report_without_handoffs_in_reports_dir_names_that_folder(portfolio, capsys):
    """A REPORTS_DIR user is told to change their own folder, never the reports/ that came with the tool."""
    (portfolio / "handoffs" / "acme.md").write_text(doc(HEAD + "cash: 8200\n"), encoding="utf-8")
    mine = portfolio / "my-reports"
    mine.mkdir()
    (mine / "rental.md").write_text((ser.REPORTS_DIR / "rental.md").read_text(encoding="utf-8"), encoding="utf-8")
    with (portfolio / "repos.env").open("a", encoding="utf-8") as env:
        env.write("REPORTS_DIR=my-reports\n")

    assert run(portfolio, "--check") == 65

    assert error_lines(capsys.readouterr().err)[0] == (
        f"{mine / 'rental.md'}:4: entity '3028 51st St Rental' has no handoff documents; fix the template's "
        f"entity, add a handoff, or delete rental.md from {mine} if the business is gone (entities: Acme)"
    )


def test_the_entities_listed_are_bounded(portfolio, capsys):
    for i in range(ser.ENTITIES_NAMED + 7):
        (portfolio / "handoffs" / f"v{i:02d}.md").write_text(
            doc(f"entity: Venture {i:02d}\nstatus: active\nupdated: 2026-11-18\n"), encoding="utf-8")

    assert run(portfolio, "--only", "rental") == 65

    (line, _) = error_lines(capsys.readouterr().err)
    listed = ", ".join(f"Venture {i:02d}" for i in range(ser.ENTITIES_NAMED))
    assert line.endswith(f"(entities: {listed} and 7 more)"), line
