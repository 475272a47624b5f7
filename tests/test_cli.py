"""The command line: options, start-up, output, templates, live DynamoDB against moto (settings: test_settings.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import send_exec_reports as ser

from .conftest import EXAMPLES, FRONT, ROOT, as_on_a_terminal, aws, install_copy, tool_command, write_portfolio


def test_boto3_is_not_imported_by_a_dry_run_over_exports(installed: Path) -> None:
    code = (
        "import sys, send_exec_reports as s\n"
        "rc = s.main(['--dry-run', '--as-of', '2026-11-22'])\n"
        "print('LOADED', sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')))\n"
        "sys.exit(rc)\n"
    )
    import subprocess

    result = subprocess.run([sys.executable, "-c", code], cwd=installed.parent, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin"}, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith("LOADED []")
    assert result.stdout.count("Subject: Executive Report:") == 8


RUN_AT = ser.dt.datetime(2026, 11, 23, 7, 0, 4, tzinfo=ser.dt.UTC)  # the README's Monday 07:00 cron run


def test_cron_log_lines_open_with_the_time_and_the_period(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """`tail cron.log` shows which run each line belongs to, and a failed run ends with a line saying so."""
    write_portfolio(tmp_path, FRONT.replace("status: active", "status: sleeping"))
    env = tmp_path / "repos.env"
    env.write_text("HANDOFF_DIR=handoffs\n")
    assert ser.main(["--dry-run", "--env-file", str(env), "--as-of", "2026-11-22"], clock=lambda: RUN_AT) == 65
    lines = capfd.readouterr().err.splitlines()
    stamp = "2026-11-23T07:00:04Z 2026-W47 send_exec_reports: "
    assert [line[:len(stamp)] for line in lines] == [stamp] * 3, lines
    assert lines[1:] == [f"{stamp}bad input: nothing was sent (1 error)", f"{stamp}run failed: exit 65 (bad input)"]
    # before the as-of date is known (a usage error), the period is the clock's
    assert ser.main(["--only", ""], clock=lambda: RUN_AT) == 64
    assert capfd.readouterr().err.splitlines() == [
        "2026-11-23T07:00:04Z 2026-W48 send_exec_reports: --only '' names no report; give ids from --list, "
        "comma-separated (leave --only out for every report)",
        "2026-11-23T07:00:04Z 2026-W48 send_exec_reports: run failed: exit 64 (usage)",
    ]


def test_on_a_terminal_the_lines_stay_short(tmp_path: Path) -> None:
    """A person at a terminal watches one run: no time stamps, and no closing 'run failed' line."""
    import subprocess

    from .conftest import run_on_terminal

    write_portfolio(tmp_path, FRONT.replace("status: active", "status: sleeping"))
    (tmp_path / "repos.env").write_text("HANDOFF_DIR=handoffs\n")
    result, shown = run_on_terminal([sys.executable, str(ser.SCRIPT_DIR / "send_exec_reports.py"), "--dry-run",
                                     "--env-file", str(tmp_path / "repos.env"), "--as-of", "2026-11-22"],
                                    stdout=subprocess.DEVNULL, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 65
    lines = shown.decode().splitlines()
    assert lines[-1] == "send_exec_reports: bad input: nothing was sent (1 error)", lines
    assert all(line.startswith("send_exec_reports: ") for line in lines), lines


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--only", "ceo,nope"], "--only ceo,nope: unknown report nope; choose from ceo, cto, cfo, cmo, accounting, rental, yacht, agency"),
        (["--only", ""], "--only '' names no report; give ids from --list, comma-separated (leave --only out for every report)"),
        (["--only", " , "], "--only ' , ' names no report; give ids from --list, comma-separated (leave --only out for every report)"),
        (["--as-of", "2026-02-30"], "argument --as-of: '2026-02-30' is not a date like 2026-11-22 (see --help)"),
        (["--as-of", "20261122"], "argument --as-of: '20261122' is not a date written YYYY-MM-DD, like 2026-11-22 (see --help)"),
        (["--as-of", "2026-W47-1"], "argument --as-of: '2026-W47-1' is not a date written YYYY-MM-DD, like 2026-11-22 (see --help)"),
        (["--as-of", "２０２６-11-22"], "argument --as-of: '２０２６-11-22' is not a date written YYYY-MM-DD, like 2026-11-22 (see --help)"),
        (["--as-of", "9999-12-31"], "argument --as-of: 9999-12-31 is out of range: give a date from 1900-01-01 to 9998-12-31 (see --help)"),
        (["--as-of", "9999-12-01"], "argument --as-of: 9999-12-01 is out of range: give a date from 1900-01-01 to 9998-12-31 (see --help)"),
        (["--as-of", "0001-01-01"], "argument --as-of: 0001-01-01 is out of range: give a date from 1900-01-01 to 9998-12-31 (see --help)"),
        (["--to", "not an address"], "--to 'not an address': not an email address; write it like you@example.com"),
        (["--bogus"], "unrecognized arguments: --bogus (see --help)"),
    ],
)
def test_usage_errors_exit_64(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert ser.main(["--dry-run", *args]) == 64
    assert capsys.readouterr().err == f"send_exec_reports: {message}\n"


@pytest.mark.parametrize(("as_of", "valid"), [
    ("2026-13-01", False), ("2026-12-31", True),  # month 13; the last day of month 12
    ("2026-00-01", False), ("2026-01-01", True),  # month 00; the first day of month 01
    ("2026-02-29", False), ("2028-02-29", True),  # 29 February: in a common year, in a leap year
    ("2026-04-31", False), ("2026-04-30", True),  # the 31st of a 30-day month; its last day
])
def test_a_well_shaped_but_impossible_as_of_date_is_a_usage_error(
        as_of: str, valid: bool, capsys: pytest.CaptureFixture[str]) -> None:
    """Found by planting a bug: --as-of 2026-13-01 is shaped like a date; refused with one line, its neighbours accepted."""
    code = ser.main(["--env-file", "/dev/null", "--dry-run", "--only", "ceo", "--as-of", as_of])
    out, err = capsys.readouterr()
    if valid:
        assert code == 0 and "Subject: Executive Report: CEO" in out, err
    else:
        assert (code, out) == (64, "")
        assert err == f"send_exec_reports: argument --as-of: '{as_of}' is not a date like 2026-11-22 (see --help)\n"


def test_an_empty_only_never_means_every_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert ser.main(["--env-file", "/dev/null", "--force", "--only", "", "--dry-run", "--as-of", "2026-11-22"]) == 64
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("as_of", ["1900-01-01", "9998-12-31"])
def test_the_extreme_dates_allowed_give_a_report_or_one_line(as_of: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = ser.main(["--env-file", "/dev/null", "--dry-run", "--only", "ceo,cfo", "--as-of", as_of])  # an exception would fail the test
    out, err = capsys.readouterr()
    if code == 0:
        assert out.count("Subject: Executive Report:") == 2
    else:  # the figures may refuse such a date, but in one line with a data error
        assert code == 65 and len(err.splitlines()) == 1, err


def test_report_ids_are_matched_without_regard_to_case(capsys: pytest.CaptureFixture[str]) -> None:
    assert ser.main(["--env-file", "/dev/null", "--dry-run", "--only", "CEO,Cfo", "--as-of", "2026-11-22"]) == 0
    subjects = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Subject:")]
    assert [s.split()[3] for s in subjects] == ["CEO", "CFO"]


@pytest.fixture
def own_reports(tmp_path: Path) -> Path:
    """A repos.env for the sample portfolio with the templates copied to tmp_path/reports (REPORTS_DIR), to add to
    in-process; a real process reading its templates beside the script is test_settings.py's to run."""
    import shutil

    shutil.copytree(ROOT / "reports", tmp_path / "reports")
    env = tmp_path / "repos.env"
    env.write_text(f"HANDOFF_DIR={EXAMPLES / 'handoffs'}\nDYNAMODB_EXPORT_DIR={EXAMPLES / 'dynamodb'}\nREPORTS_DIR=reports\n")
    return env


def test_list_has_a_header_and_columns_that_hold_a_long_name(own_reports: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    (own_reports.parent / "reports" / "board-of-directors-quarterly.md").write_text(
        "---\ntitle: Board\npersona: Board of Directors and Advisors\nsubject: S\n---\nBody.\n"
    )
    assert ser.main(["--env-file", str(own_reports), "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["id", "persona", "title"]
    persona_at = lines[0].index("persona")
    title_at = lines[0].index("title")
    for line in lines[1:]:
        assert line[persona_at - 2:persona_at] == "  " and line[persona_at] != " ", line
        assert line[title_at - 2:title_at] == "  " and line[title_at] != " ", line
    assert lines[1].startswith("ceo ")


def test_ctrl_c_during_a_dry_run_says_nothing_was_sent(installed: Path) -> None:
    import fcntl
    import os
    import signal
    import struct
    import subprocess
    import termios
    import time

    # the dry run's output fills a small pipe nobody reads, so the run is surely inside it when Ctrl-C comes
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, 1031, 4096)  # F_SETPIPE_SZ (Linux): one page
    # A shell starts a background job with SIGINT ignored, and a child inherits that: the
    # run would never see the Ctrl-C. Handled here, it is the default again in the child.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        child = subprocess.Popen(tool_command(installed, "--dry-run", "--as-of", "2026-11-22"),
                                 cwd=installed.parent, env={"PATH": "/usr/bin:/bin"},
                                 stdout=write_end, stderr=subprocess.PIPE)
    finally:
        signal.signal(signal.SIGINT, previous)
    os.close(write_end)
    deadline = time.monotonic() + 30
    while struct.unpack("i", fcntl.ioctl(read_end, termios.FIONREAD, b"\0\0\0\0"))[0] < 4096:
        assert time.monotonic() < deadline and child.poll() is None, "the dry run never filled its pipe"
        time.sleep(0.02)
    child.send_signal(signal.SIGINT)
    with os.fdopen(read_end, "rb") as pipe:
        pipe.read()
    err = child.communicate(timeout=30)[1]
    assert child.returncode == 130
    assert as_on_a_terminal(err.decode()).splitlines()[-1] == "send_exec_reports: interrupted (Ctrl-C); nothing was sent"
    assert "being sent" not in err.decode()


def test_a_ninth_template_is_a_ninth_report(own_reports: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (own_reports.parent / "reports" / "board.md").write_text(textwrap.dedent("""\
        ---
        title: Board Summary
        persona: Board
        subject: "Executive Report: {{ persona }} — {{ period }}"
        ---
        ## Cash

        The portfolio holds {{ portfolio.cash|money }} across {{ entities|length }} businesses.
        """))
    assert ser.main(["--env-file", str(own_reports), "--list"]) == 0
    listed = capsys.readouterr().out
    assert len(listed.splitlines()) == 1 + 9  # a header, then the reports
    assert listed.splitlines()[-1].split()[:2] == ["board", "Board"]
    assert ser.main(["--env-file", str(own_reports), "--dry-run", "--only", "board", "--as-of", "2026-11-22"]) == 0
    out = capsys.readouterr().out
    assert "Subject: Executive Report: Board — 2026-W47" in out
    assert "Period: 2026-W47 (week of Mon 16 Nov 2026; as of 2026-11-22)" in out
    assert "The portfolio holds $70,500 across 6 businesses." in out
    assert "Data sources: 11 handoffs" in out


def test_a_template_using_an_unknown_figure_is_named_with_its_line(own_reports: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    (own_reports.parent / "reports" / "bad.md").write_text(
        "---\ntitle: Bad\npersona: X\nsubject: S\n---\nLine one.\n\n{{ portfolio.no_such_figure|money }}\n"
    )
    assert ser.main(["--env-file", str(own_reports), "--dry-run", "--as-of", "2026-11-22"]) == 78
    out, err = capsys.readouterr()
    assert out == ""
    assert f"{own_reports.parent / 'reports' / 'bad.md'}:8: template uses a figure that does not exist" in err


HOSTILE_TEMPLATES = {
    "python through a text's class": ("{{ ''.__class__.__mro__[1].__subclasses__() }}",
                                      "access to attribute '__class__' of 'str' object is unsafe"),
    "a figure changed in place": ("{{ shortfalls.append(1) }}", "access to attribute 'append' of 'list'"),
    "a huge range": ("{% for i in range(10**9) %}x{% endfor %}", "range(1000000000) has more than 100,000 items"),
    "nested ranges": ("{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}",
                      "range(99999) takes the template past 1,000,000 loop items in one report"),
    "a huge text": ("{{ 'x' * 10**9 }}", "a value repeated 1,000,000,000 times makes more than 100,000 characters"),
    "a huge number": ("{{ 10 ** 100000 }}", "10 ** 100000 is too large a number for a report"),
}


@pytest.mark.parametrize("body,said", HOSTILE_TEMPLATES.values(), ids=HOSTILE_TEMPLATES.keys())
def test_a_template_is_sandboxed_and_its_work_bounded(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch, body: str, said: str) -> None:
    """A template runs no Python and cannot hang the run: refused with its file and line, exit 78."""
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "bad.md").write_text(f"---\ntitle: Bad\npersona: X\nsubject: S\n---\nLine one.\n\n{body}\n")
    write_portfolio(tmp_path)
    env = tmp_path / "repos.env"
    env.write_text("HANDOFF_DIR=handoffs\nREPORTS_DIR=reports\n")
    assert ser.main(["--dry-run", "--env-file", str(env), "--as-of", "2026-11-22"]) == 78
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    assert f"{reports / 'bad.md'}:8: template refused (" in err and said in err, err
    assert "README 'What a template may do'" in err


def test_a_unit_report_for_an_entity_without_handoffs_is_an_error(own_reports: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    rental = own_reports.parent / "reports" / "rental.md"
    rental.write_text(rental.read_text().replace("entity: 3028 51st St Rental", "entity: 3028 51st Street"))
    assert ser.main(["--env-file", str(own_reports), "--dry-run", "--only", "rental", "--as-of", "2026-11-22"]) == 65
    assert "entity '3028 51st Street' has no handoff documents" in capsys.readouterr().err


def test_text_from_handoffs_is_shown_as_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tricky = "*a* <b>b</b> &amp; [l](x) | u_s #1 \\\\"
    front = FRONT.replace("status: active", "status: blocked") + f"project: '{tricky}'\n"
    write_portfolio(tmp_path, front)
    env = tmp_path / "repos.env"
    env.write_text("HANDOFF_DIR=handoffs\n")
    assert ser.main(["--dry-run", "--env-file", str(env), "--only", "ceo", "--as-of", "2026-11-22"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "Acme | *a* <b>b</b> &amp; [l](x) | u_s #1 \\\\ | blocked" in out


def test_dynamodb_live_scan_against_moto(tmp_path: Path, moto: str, capsys: pytest.CaptureFixture[str]) -> None:
    client = aws("dynamodb", moto)
    for table in ("acme-events", "acme-checklist"):
        client.create_table(TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                            BillingMode="PAY_PER_REQUEST")
    for i in range(137):
        client.put_item(TableName="acme-events", Item={"pk": {"S": f"e{i}"}, "n": {"N": str(i)}})
    for i in range(10):
        item = {"pk": {"S": f"c{i}"}}
        if i % 3 == 0:
            item["completed"] = {"BOOL": True}
        elif i % 3 == 1:
            item["completed"] = {"BOOL": False}
        client.put_item(TableName="acme-checklist", Item=item)
    front = FRONT + "dynamodb: {events: acme-events, checklist: {table: acme-checklist, done: completed}}\n"
    write_portfolio(tmp_path, front)
    env = tmp_path / "repos.env"
    env.write_text(f"HANDOFF_DIR=handoffs\nAWS_ENDPOINT_URL={moto}\nAWS_ACCESS_KEY_ID=testing\n"
                   "AWS_SECRET_ACCESS_KEY=testing\n")
    assert ser.main(["--dry-run", "--env-file", str(env), "--only", "ceo", "--as-of", "2026-11-22"]) == 0
    out = capsys.readouterr().out
    assert "Acme   |    137 | no data |          40.0%" in out  # 4 of 10 items completed
    said = " ".join(out.split())
    assert re.search(r"DynamoDB tables: acme-checklist, acme-events \(live, read \d{4}-\d\d-\d\d \d\d:\d\d UTC\);",
                     said), said
    assert "Item counts of the tables read live (see the data sources below)." in said
    assert "as exported" not in said


def test_every_table_missing_everywhere_is_named_with_its_entity_and_region(
        tmp_path: Path, moto: str, capsys: pytest.CaptureFixture[str]) -> None:
    """One run names every missing table (not the first of three), its entity, and the region and endpoint asked."""
    aws("dynamodb", moto, "eu-west-1").create_table(
        TableName="acme-events", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    write_portfolio(tmp_path, FRONT + "dynamodb: {users: acme-users, events: acme-events}\n")
    write_portfolio(tmp_path, "entity: Beta\nstatus: active\nupdated: 2026-11-20\n"
                    "dynamodb: {checklist: {table: beta-list, done: ok}}\n", name="beta.md")
    (tmp_path / "exports").mkdir()
    env = tmp_path / "repos.env"
    env.write_text(f"HANDOFF_DIR=handoffs\nDYNAMODB_EXPORT_DIR=exports\nAWS_ENDPOINT_URL={moto}\n"
                   "AWS_REGION=eu-west-1\nAWS_ACCESS_KEY_ID=testing\nAWS_SECRET_ACCESS_KEY=testing\n")
    assert ser.main(["--dry-run", "--env-file", str(env), "--as-of", "2026-11-22"]) == 65
    captured = capsys.readouterr()
    assert captured.out == ""
    place = (f"not in the exports (DYNAMODB_EXPORT_DIR={(tmp_path / 'exports').resolve()}) nor live in region "
             f"eu-west-1 at {moto}")
    advice = "put its export in DYNAMODB_EXPORT_DIR/{t}/, or set AWS_REGION to the region the table is in"
    lines = [line.removeprefix("send_exec_reports: ") for line in captured.err.splitlines()]
    assert lines == [
        f"acme.md:5: dynamodb.users: DynamoDB table acme-users (Acme) not found: {place}; fix the table name in the "
        f"handoff, {advice.format(t='acme-users')}",
        f"beta.md:5: dynamodb.checklist: DynamoDB table beta-list (Beta) not found: {place}; fix the table name in "
        f"the handoff, {advice.format(t='beta-list')}",
        "bad input: nothing was sent (2 errors)",
    ], lines


@pytest.mark.parametrize("args", [("--dry-run",), ("--list",)])
def test_output_read_by_a_closed_pipe_stops_quietly(installed: Path, args: tuple[str, ...]) -> None:
    """`--dry-run | head`: the reader went away. Not 'cannot use a file in ARCHIVE_DIR', no traceback."""
    import os
    import subprocess

    script = installed
    read, write = os.pipe()
    os.close(read)  # closed before the script writes: every write to the pipe fails
    try:
        done = subprocess.run(tool_command(script, *args), stdout=write, stderr=subprocess.PIPE,
                              text=True, timeout=60, env={"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8"})
    finally:
        os.close(write)
    assert done.returncode == 141  # 128 + SIGPIPE, as a shell reports a writer whose reader went away
    assert "ARCHIVE_DIR" not in done.stderr and "Traceback" not in done.stderr and "Exception" not in done.stderr




# ---------------------------------------------------------------------------
# Standard output and error that cannot be written, and selections of no report


@pytest.mark.parametrize("only", ["", " , ", ","])
def test_selecting_no_report_is_refused_and_never_means_all(only: str) -> None:
    """Found by planting a bug: select_reports itself never takes an empty selection for every report."""
    # the command line refuses these first; select_reports must not fall back to every report either
    reports = ser.load_reports()
    with pytest.raises(ser.UsageError, match="unknown report"):
        ser.select_reports(reports, only)
    assert ser.select_reports(reports, None) == reports


def run_tool(folder: Path, *args: str, stdout: int | None = None, stderr: int | None = None,
             close: tuple[int, ...] = ()) -> subprocess.CompletedProcess[str]:
    """Run a copy installed in folder (same_place) on the sample portfolio, its output where asked, the descriptors
    in close closed."""
    script = install_copy(folder / "tool")
    archive = folder / "archive"
    archive.mkdir(exist_ok=True)
    env = folder / "repos.env"
    env.write_text(f"HANDOFF_DIR={script.parent / 'examples' / 'handoffs'}\n"
                   f"DYNAMODB_EXPORT_DIR={script.parent / 'examples' / 'dynamodb'}\nARCHIVE_DIR={archive}\n",
                   encoding="utf-8")

    def close_them() -> None:
        for fd in close:
            os.close(fd)

    done = subprocess.run(tool_command(script, "--env-file", str(env), "--as-of", "2026-11-22", *args),
                          stdout=subprocess.PIPE if stdout is None else stdout,
                          stderr=subprocess.PIPE if stderr is None else stderr, text=True, timeout=60,
                          env={"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8"}, preexec_fn=close_them)
    if done.stderr:
        done.stderr = as_on_a_terminal(done.stderr)
    return done


@pytest.mark.parametrize("args", [("--check", "--dry-run"), ("--dry-run", "--full"), ("--list",), ("--status",)])
def test_output_to_a_full_disk_is_one_line_naming_standard_output_not_the_archive(
        same_place: Path, args: tuple[str, ...]) -> None:
    """Found by an attack: output to a full disk was blamed on ARCHIVE_DIR; it is one line naming standard output."""
    with open("/dev/full", "w") as full:
        done = run_tool(same_place, *args, stdout=full.fileno())
    assert done.returncode == 78, done.stderr
    assert done.stderr.splitlines()[-1].endswith("cannot write standard output: the disk is full; "
                                            "free some space (or send the output elsewhere), then rerun")
    assert "ARCHIVE_DIR" not in done.stderr and "Traceback" not in done.stderr and "Exception" not in done.stderr


@pytest.mark.parametrize("args", [("--check", "--dry-run"), ("--dry-run", "--full"), ("--list",), ("--status",)])
def test_a_closed_standard_error_does_not_stop_the_run(same_place: Path, args: tuple[str, ...]) -> None:
    """Found by an attack: `2>&-`: the run goes on; what it would have said on stderr is lost, its output and exit code are not."""
    done = run_tool(same_place, *args, stderr=subprocess.DEVNULL, close=(2,))
    assert done.returncode == 0 and done.stdout.strip(), done


def test_a_closed_standard_output_still_gives_the_exit_code_of_the_check(same_place: Path) -> None:
    """Found by an attack: with standard output closed, a failing --check still exits with its own code (64), without a traceback."""
    done = run_tool(same_place, "--check", "--dry-run", "--only", "nosuch", stdout=subprocess.DEVNULL, close=(1,))
    assert done.returncode == 64 and "Traceback" not in done.stderr, done.stderr


def test_an_error_said_to_a_full_disk_keeps_its_exit_code(same_place: Path) -> None:
    """Found by an attack: `2>/dev/full`: the line is lost, but cron still sees 64 (a usage error), not Python's 120."""
    with open("/dev/full", "w") as full:
        done = run_tool(same_place, "--dry-run", "--only", "nosuch", stderr=full.fileno())
    assert done.returncode == 64 and done.stdout == ""


@pytest.mark.parametrize("args", [("--check", "--dry-run"), ("--dry-run", "--full"), ("--status",)])
def test_more_output_read_by_a_closed_pipe_stops_quietly(same_place: Path, args: tuple[str, ...]) -> None:
    """Found by an attack: a reader gone away (a closed pipe) under --check, --full or --status gives 141 quietly, never a traceback blaming ARCHIVE_DIR."""
    read, write = os.pipe()
    os.close(read)  # every write to the pipe fails
    try:
        done = run_tool(same_place, *args, stdout=write)
    finally:
        os.close(write)
    assert done.returncode == 141, done.stderr
    assert "ARCHIVE_DIR" not in done.stderr and "Traceback" not in done.stderr and "Exception" not in done.stderr
