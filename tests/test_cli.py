"""The command line: settings, options, start-up, templates, live DynamoDB against moto."""

from __future__ import annotations

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
    assert result.stderr.startswith("send_exec_reports: HANDOFF_DIR is not set")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--only", "ceo,nope"], "--only ceo,nope: unknown report nope; choose from ceo, cto, cfo, cmo, accounting, rental, yacht, agency"),
        (["--as-of", "2026-02-30"], "argument --as-of: '2026-02-30' is not a date like 2026-11-22 (see --help)"),
        (["--bogus"], "unrecognized arguments: --bogus (see --help)"),
    ],
)
def test_usage_errors_exit_64(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert ser.main(["--dry-run", *args]) == 64
    assert capsys.readouterr().err == f"send_exec_reports: {message}\n"


def test_missing_env_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert ser.main(["--dry-run", "--env-file", str(tmp_path / "nope.env")]) == 78
    assert f"--env-file {tmp_path / 'nope.env'}: no such file" in capsys.readouterr().err


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
    assert len(listed.stdout.splitlines()) == 9
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
