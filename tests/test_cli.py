"""The command line: settings, options, start-up, templates, live DynamoDB against moto."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

import send_exec_reports as ser

from .conftest import install_copy, run_script

FRONT = "entity: Acme\nstatus: active\nupdated: 2026-11-20\n"


def write_portfolio(root: Path, front: str = FRONT, name: str = "acme.md") -> Path:
    """A one-document portfolio under root/handoffs."""
    folder = root / "handoffs"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(f"---\n{front}---\nNotes.\n", encoding="utf-8")
    return folder


def test_boto3_is_not_imported_by_a_dry_run_over_exports(installed: Path) -> None:
    code = (
        "import sys, send_exec_reports as s\n"
        "rc = s.main(['--dry-run', '--as-of', '2026-11-22'])\n"
        "print('LOADED', sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')))\n"
        "sys.exit(rc)\n"
    )
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", code], cwd=installed.parent, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin"}, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith("LOADED []")
    assert result.stdout.count("Subject: Executive Report:") == 8


def test_relative_paths_resolve_against_the_env_file_not_the_working_directory(tmp_path: Path) -> None:
    script = install_copy(tmp_path / "app", examples=False)
    config = tmp_path / "config"
    write_portfolio(config)
    (config / "repos.env").write_text("HANDOFF_DIR=handoffs\nSES_FROM_ADDRESS=from@example.com\n")
    elsewhere = tmp_path / "home"
    elsewhere.mkdir()
    result = run_script(script, "--dry-run", "--only", "ceo", "--env-file", str(config / "repos.env"), cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert "From: from@example.com" in result.stdout
    assert "Data sources: 1 handoff read;" in result.stdout


def test_repos_env_next_to_the_script_is_found_and_the_environment_wins(tmp_path: Path) -> None:
    script = install_copy(tmp_path / "app", examples=False)
    write_portfolio(script.parent)
    (script.parent / "repos.env").write_text("HANDOFF_DIR=handoffs\nEXEC_REPORT_TO=file@example.com\n")
    result = run_script(script, "--dry-run", "--only", "ceo", env={"EXEC_REPORT_TO": "env@example.com"},
                        cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "To: env@example.com" in result.stdout
    assert result.stderr == ""  # no "used the examples" note: the settings were found


def test_no_handoff_dir_without_dry_run_is_a_configuration_error(tmp_path: Path) -> None:
    script = install_copy(tmp_path / "app", examples=False)
    result = run_script(script, "--check")
    assert result.returncode == 78
    assert result.stderr.startswith("send_exec_reports: check failed: HANDOFF_DIR is not set")


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


def test_list_has_a_header_and_columns_that_hold_a_long_name(installed: Path) -> None:
    (installed.parent / "reports" / "board-of-directors-quarterly.md").write_text(
        "---\ntitle: Board\npersona: Board of Directors and Advisors\nsubject: S\n---\nBody.\n"
    )
    lines = run_script(installed, "--list").stdout.splitlines()
    assert lines[0].split() == ["id", "persona", "title"]
    persona_at = lines[0].index("persona")
    title_at = lines[0].index("title")
    for line in lines[1:]:
        assert line[persona_at - 2:persona_at] == "  " and line[persona_at] != " ", line
        assert line[title_at - 2:title_at] == "  " and line[title_at] != " ", line
    assert lines[1].startswith("ceo ")


def test_missing_env_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert ser.main(["--dry-run", "--env-file", str(tmp_path / "nope.env")]) == 78
    assert f"--env-file {tmp_path / 'nope.env'}: no such file" in capsys.readouterr().err


def test_a_folder_given_as_env_file_is_not_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert ser.main(["--dry-run", "--env-file", str(tmp_path)]) == 78
    assert capsys.readouterr().err == (
        f"send_exec_reports: --env-file {tmp_path}: a folder, not a file; give the path of your repos.env\n"
    )


def test_env_file_dev_null_means_no_settings_file(installed: Path, tmp_path: Path) -> None:
    write_portfolio(tmp_path)
    (installed.parent / "repos.env").write_text("HANDOFF_DIR=/nonexistent\n")  # ignored: /dev/null was asked for
    result = run_script(installed, "--dry-run", "--only", "ceo", "--env-file", "/dev/null", "--as-of", "2026-11-22",
                        env={"HANDOFF_DIR": str(tmp_path / "handoffs")})
    assert result.returncode == 0, result.stderr
    assert "Data sources: 1 handoff read;" in result.stdout
    bare = run_script(installed, "--check", "--env-file", "/dev/null")
    assert bare.returncode == 78
    assert bare.stderr == ("send_exec_reports: check failed: HANDOFF_DIR is not set (no settings file, and not in "
                           "the environment): set it to the folder of handoff documents, or their s3://bucket/prefix\n")


def test_an_empty_variable_in_the_environment_counts_as_unset(tmp_path: Path) -> None:
    script = install_copy(tmp_path / "app", examples=False)
    write_portfolio(script.parent)
    (script.parent / "repos.env").write_text("HANDOFF_DIR=handoffs\nEXEC_REPORT_TO=file@example.com\n")
    result = run_script(script, "--dry-run", "--only", "ceo", "--as-of", "2026-11-22",
                        env={"EXEC_REPORT_TO": "", "HANDOFF_DIR": "  "})
    assert result.returncode == 0, result.stderr
    assert "To: file@example.com" in result.stdout


def test_reports_dir_setting_relative_to_the_env_file(tmp_path: Path) -> None:
    script = install_copy(tmp_path / "app", examples=False)
    config = tmp_path / "config"
    write_portfolio(config)
    own = config / "my-reports"
    own.mkdir()
    shutil.copy(script.parent / "reports" / "ceo.md", own / "ceo.md")
    shutil.copy(script.parent / "reports" / "cfo.md", own / "cfo.md")
    env = config / "repos.env"
    env.write_text("HANDOFF_DIR=handoffs\nREPORTS_DIR=my-reports\n")
    listed = run_script(script, "--list", "--env-file", str(env), cwd=tmp_path)
    assert [line.split()[0] for line in listed.stdout.splitlines()] == ["id", "ceo", "cfo"]
    # the unit reports stay behind in the script's reports/: a portfolio without those businesses passes
    result = run_script(script, "--dry-run", "--check", "--env-file", str(env), "--as-of", "2026-11-22", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("check passed: 2 reports for 2026-W47 from 1 handoff;")
    env.write_text("HANDOFF_DIR=handoffs\nREPORTS_DIR=nowhere\n")
    missing = run_script(script, "--list", "--env-file", str(env))
    assert missing.returncode == 78
    assert missing.stderr == (f"send_exec_reports: REPORTS_DIR=nowhere: no such folder ({config / 'nowhere'}); fix "
                              "the path or remove the setting to use reports/ next to the script\n")


def test_ctrl_c_during_a_dry_run_says_nothing_was_sent(installed: Path) -> None:
    import fcntl
    import os
    import signal
    import struct
    import subprocess
    import sys
    import termios
    import time

    # the dry run's output fills a small pipe nobody reads, so the run is surely inside it when Ctrl-C comes
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, 1031, 4096)  # F_SETPIPE_SZ (Linux): one page
    # A shell starts a background job with SIGINT ignored, and a child inherits that: the
    # run would never see the Ctrl-C. Handled here, it is the default again in the child.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        child = subprocess.Popen([sys.executable, str(installed), "--dry-run", "--as-of", "2026-11-22"],
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
    assert err.decode().splitlines()[-1] == "send_exec_reports: interrupted (Ctrl-C); nothing was sent"
    assert "being sent" not in err.decode()


def test_a_ninth_template_is_a_ninth_report(installed: Path) -> None:
    (installed.parent / "reports" / "board.md").write_text(textwrap.dedent("""\
        ---
        title: Board Summary
        persona: Board
        subject: "Executive Report: {{ persona }} — {{ period }}"
        ---
        ## Cash

        The portfolio holds {{ portfolio.cash|money }} across {{ entities|length }} businesses.
        """))
    listed = run_script(installed, "--list")
    assert listed.returncode == 0
    assert len(listed.stdout.splitlines()) == 1 + 9  # a header, then the reports
    assert listed.stdout.splitlines()[-1].split()[:2] == ["board", "Board"]
    result = run_script(installed, "--dry-run", "--only", "board", "--as-of", "2026-11-22")
    assert result.returncode == 0, result.stderr
    assert "Subject: Executive Report: Board — 2026-W47" in result.stdout
    assert "Period: 2026-W47 (week of Mon 16 Nov 2026; as of 2026-11-22)" in result.stdout
    assert "The portfolio holds $70,500 across 6 businesses." in result.stdout
    assert "Data sources: 11 handoffs" in result.stdout


def test_a_template_using_an_unknown_figure_is_named_with_its_line(installed: Path) -> None:
    (installed.parent / "reports" / "bad.md").write_text(
        "---\ntitle: Bad\npersona: X\nsubject: S\n---\nLine one.\n\n{{ portfolio.no_such_figure|money }}\n"
    )
    result = run_script(installed, "--dry-run", "--as-of", "2026-11-22")
    assert result.returncode == 78
    assert result.stdout == ""
    assert f"{installed.parent / 'reports' / 'bad.md'}:8: template uses a figure that does not exist" in result.stderr


def test_a_unit_report_for_an_entity_without_handoffs_is_an_error(installed: Path) -> None:
    rental = installed.parent / "reports" / "rental.md"
    rental.write_text(rental.read_text().replace("entity: 3028 51st St Rental", "entity: 3028 51st Street"))
    result = run_script(installed, "--dry-run", "--only", "rental", "--as-of", "2026-11-22")
    assert result.returncode == 65
    assert "entity '3028 51st Street' has no handoff documents" in result.stderr


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
    import boto3

    client = boto3.client("dynamodb", endpoint_url=moto, region_name="us-west-2",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
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
    assert "DynamoDB tables: acme-checklist, acme-events (live);" in " ".join(out.split())


def test_a_table_missing_everywhere_names_table_and_entity(tmp_path: Path, moto: str,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    write_portfolio(tmp_path, FRONT + "dynamodb: {users: acme-users}\n")
    (tmp_path / "exports").mkdir()
    env = tmp_path / "repos.env"
    env.write_text(f"HANDOFF_DIR=handoffs\nDYNAMODB_EXPORT_DIR=exports\nAWS_ENDPOINT_URL={moto}\n"
                   "AWS_ACCESS_KEY_ID=testing\nAWS_SECRET_ACCESS_KEY=testing\n")
    assert ser.main(["--dry-run", "--env-file", str(env), "--as-of", "2026-11-22"]) == 65
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "DynamoDB table acme-users (Acme) not found in the exports nor live" in captured.err


@pytest.mark.parametrize("args", [("--dry-run",), ("--list",)])
def test_output_read_by_a_closed_pipe_stops_quietly(tmp_path: Path, args: tuple[str, ...]) -> None:
    """`--dry-run | head`: the reader went away. Not 'cannot use a file in ARCHIVE_DIR', no traceback."""
    import os
    import subprocess
    import sys

    script = install_copy(tmp_path / "tool")
    read, write = os.pipe()
    os.close(read)  # closed before the script writes: every write to the pipe fails
    try:
        done = subprocess.run([sys.executable, str(script), *args], stdout=write, stderr=subprocess.PIPE,
                              text=True, timeout=60, env={"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8"})
    finally:
        os.close(write)
    assert done.returncode == 141  # 128 + SIGPIPE, as a shell reports a writer whose reader went away
    assert "ARCHIVE_DIR" not in done.stderr and "Traceback" not in done.stderr and "Exception" not in done.stderr


@pytest.mark.parametrize(("line", "said"), [
    ("HANDOF_DIR=handoffs", "not a name this tool reads (did you mean HANDOFF_DIR?)"),
    ("EXEC_REPORTS_BCC=admin@example.com", "not a name this tool reads (did you mean EXEC_REPORT_BCC?)"),
    ("email_format=text+html", "not a name this tool reads (did you mean EMAIL_FORMAT?)"),
    ("SES_CONFIGURATION_SET exec-reports", "not a NAME=value line; write it as NAME=value"),
    ("AKIAPASTEDTOKEN0001", "not a NAME=value line; write it as NAME=value"),
])
def test_a_settings_line_the_tool_would_ignore_stops_the_run_naming_its_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, said: str) -> None:
    write_portfolio(tmp_path)
    env = tmp_path / "repos.env"
    env.write_text(f"# mine\r\nHANDOFF_DIR=handoffs\r\n\r\n{line}\r\n", encoding="utf-8")  # Windows line ends
    assert ser.main(["--env-file", str(env), "--check", "--dry-run", "--as-of", "2026-11-22"]) == 78
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert lines == [f"send_exec_reports: check failed: {env}:4: {said}" + lines[0].split(said, 1)[1]], lines
    assert line.split("=")[0].split()[0] not in captured.err  # the line's own text is never shown: it may be a secret
    assert captured.out == ""


def test_a_settings_file_shared_with_other_tools_is_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Names like none of this tool's settings belong to other tools: left alone, never shown."""
    write_portfolio(tmp_path)
    env = tmp_path / "repos.env"
    env.write_text("HANDOFF_DIR=handoffs\nGITHUB_TOKEN=ghp_notours0123456789\nREPOS=a b c\nDATABASE_URL=x\n"
                   # AWS's own names other AWS tools read, however like ours: not taken for misspellings
                   "AWS_DEFAULT_REGION=us-east-1\nAWS_ENDPOINT_URL_SES=http://127.0.0.1:9\nAWS_SECURITY_TOKEN=x\n",
                   encoding="utf-8")
    assert ser.main(["--env-file", str(env), "--check", "--dry-run", "--only", "ceo", "--as-of", "2026-11-22"]) == 0
    captured = capsys.readouterr()
    assert "check passed" in captured.out and "GITHUB" not in captured.out + captured.err


def test_a_settings_file_of_export_lines_quotes_and_windows_line_ends_is_read(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_portfolio(tmp_path)
    env = tmp_path / "repos.env"
    env.write_text('export HANDOFF_DIR="handoffs"\r\nexport EXEC_REPORT_TO=\'a@example.com, b@example.com,\'\r\n'
                   "# EXEC_REPORT_BCC=\r\n\r\nEMAIL_FORMAT=text  # the default\r\n", encoding="utf-8")
    assert ser.main(["--env-file", str(env), "--dry-run", "--only", "ceo", "--as-of", "2026-11-22"]) == 0
    captured = capsys.readouterr()
    assert "\nTo: a@example.com, b@example.com\n" in captured.out
    assert captured.err == ""


def test_a_handoff_dir_that_is_not_there_says_what_to_do_and_against_what_it_was_resolved(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = tmp_path / "conf" / "repos.env"
    env.parent.mkdir()
    env.write_text("HANDOFF_DIR=handofs\n", encoding="utf-8")
    assert ser.main(["--env-file", str(env), "--dry-run"]) == 78
    assert capsys.readouterr().err == (
        f"send_exec_reports: HANDOFF_DIR=handofs: no such folder ({env.parent / 'handofs'}); fix the path "
        f"(a relative one is relative to {env.parent})\n")


def test_an_archive_dir_that_cannot_be_made_says_what_to_do(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    write_portfolio(tmp_path)
    (tmp_path / "file").write_text("", encoding="utf-8")
    env = tmp_path / "repos.env"
    env.write_text("HANDOFF_DIR=handoffs\nSES_FROM_ADDRESS=r@example.com\nEXEC_REPORT_TO=o@example.com\n"
                   "EXEC_REPORT_BCC=a@example.com\nARCHIVE_DIR=file/archive\n", encoding="utf-8")
    assert ser.main(["--env-file", str(env), "--only", "ceo"]) == 78
    assert capsys.readouterr().err == (
        "send_exec_reports: ARCHIVE_DIR=file/archive: cannot create it (Not a directory); fix the path, "
        "or create the folder and let this user write in it\n")


def test_every_form_python_dotenv_reads_passes_the_line_check_and_lines_are_counted_after_a_long_value(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A UTF-8 BOM, a quoted value over several lines, `NAME=` empty, spaces around '=', a comment
    after a value and no newline at the end are all NAME=value lines; a misspelt name after a
    multi-line value is named at its own line, not at the binding's count."""
    write_portfolio(tmp_path)
    env = tmp_path / "repos.env"
    env.write_text('\ufeffHANDOFF_DIR = handoffs  # the folder\nEXEC_REPORT_BCC=\n'
                   'OTHER_TOOL_KEY="first line\nsecond line\nthird line"\nEMAIL_FORMAT=text', encoding="utf-8")
    assert ser.main(["--env-file", str(env), "--dry-run", "--only", "ceo", "--as-of", "2026-11-22"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and "CEO" in captured.out
    env.write_text(env.read_text(encoding="utf-8") + "\nEXEC_REPORT_BC=a@example.com\n", encoding="utf-8")
    assert ser.main(["--env-file", str(env), "--dry-run", "--only", "ceo", "--as-of", "2026-11-22"]) == 78
    err = capsys.readouterr().err
    assert f"{env}:7: not a name this tool reads (did you mean EXEC_REPORT_BCC?)" in err, err
    assert "second line" not in err and "a@example.com" not in err
