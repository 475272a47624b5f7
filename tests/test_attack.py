"""Defects found by attacking the hardened tool: each test failed before its fix.

Real parts only: handoffs, exports, settings and the archive are files under tmp_path,
the command line is `send_exec_reports.main([...])`, and SES is moto's server.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import send_exec_reports as ser

AS_OF = "2026-11-22"
PREFIX = "send_exec_reports: "


@pytest.fixture(autouse=True)
def no_host_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """No setting of the host reaches a run (conftest clears the documented ones)."""
    for name in list(os.environ):
        if name.startswith(("EXEC_REPORT", "REPORTS_DIR", "DASHBOARD", "SES_", "CLOUDWATCH")):
            monkeypatch.delenv(name, raising=False)


def write_doc(folder: Path, name: str, front: str) -> Path:
    """A handoff: front matter between '---' lines, then a line of notes."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"---\n{front}---\n\nNotes.\n", encoding="utf-8")
    return path


def portfolio(root: Path, **extra: str) -> Path:
    """root/handoffs (empty) and root/repos.env with any extra settings; returns the env file."""
    (root / "handoffs").mkdir(parents=True, exist_ok=True)
    lines = ["HANDOFF_DIR=handoffs", "ARCHIVE_DIR=archive", *(f"{k}={v}" for k, v in extra.items())]
    env = root / "repos.env"
    env.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return env


def dry_run(env: Path, *extra: str) -> int:
    """The real command line, in dry-run mode."""
    return ser.main(["--dry-run", "--env-file", str(env), "--as-of", AS_OF, *extra])


# ---------------------------------------------------------------------------
# One business spelt two ways: the projects were grouped by the exact text of `entity`,
# so "Expert yacht delivery" became a second business. The CFO report showed two rows
# for one business and the unit report (matched by its exact name) silently left out
# the other spelling's critical shortfall, overdue action and security finding.


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Expert Yacht Delivery", "Expert yacht delivery"),  # case
        ("Caf\u00e9 Nova", "Cafe\u0301 Nova"),  # the same letters, composed and decomposed (NFC, NFD)
        ("ACME", "\uff21\uff23\uff2d\uff25"),  # full-width letters: another way to type ACME
    ],
    ids=["case", "nfc-nfd", "fullwidth"],
)
def test_one_entity_spelt_two_ways_is_an_error_naming_both_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], first: str, second: str
) -> None:
    env = portfolio(tmp_path)
    head = "status: active\nupdated: 2026-11-18\n"
    a = write_doc(tmp_path / "handoffs", "ops.md", f"entity: {first}\nproject: Operations\n{head}cash: 8200\n")
    b = write_doc(tmp_path / "handoffs", "site.md", f"entity: {second}\nproject: Booking site\n{head}"
                  "shortfalls:\n  - {title: No conversion tracking, urgency: critical}\n")
    assert dry_run(env, "--only", "cfo") == ser.ExitStatus.DATAERR
    out, err = capsys.readouterr()
    assert out == ""
    lines = [line.removeprefix(PREFIX) for line in err.splitlines()]
    site, ops = str(b.resolve()), str(a.resolve())
    assert any(line.startswith(f"{site}:2: entity ") and ops in line and first in line for line in lines), err


# ---------------------------------------------------------------------------
# A manifest that lists one data file twice (by the same key, or by another key that
# reaches the same file) counted its items twice: events doubled with exit 0.


def _doubled_manifest(tmp_path: Path, second_key: str) -> Path:
    """An export of 3 items whose manifest lists its one data file twice (the summary agreeing)."""
    import datetime as dt
    import json

    from make_exports import write_export

    folder = write_export(tmp_path / "exports" / "acme-events", ({"pk": {"S": str(i)}} for i in range(3)),
                          export_time=dt.datetime(2026, 11, 21, 9, 0, tzinfo=dt.UTC))
    manifest = folder / "manifest-files.json"
    first = json.loads(manifest.read_text(encoding="utf-8").splitlines()[0])
    key = first["dataFileS3Key"]
    second = {**first, "dataFileS3Key": {"same": key, "dot": key.replace("/data/", "/data/./"),
                                         "bare": key.rsplit("/", 1)[-1]}[second_key]}
    manifest.write_text(json.dumps(first) + "\n" + json.dumps(second) + "\n", encoding="utf-8")
    summary_path = folder / "manifest-summary.json"
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    summary["itemCount"] = 6
    summary_path.write_text(json.dumps(summary), encoding="utf-8")
    return folder


@pytest.mark.parametrize("second_key", ["same", "dot", "bare"])
def test_a_data_file_listed_twice_is_an_error_not_twice_the_items(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], second_key: str
) -> None:
    folder = _doubled_manifest(tmp_path, second_key)
    env = portfolio(tmp_path, DYNAMODB_EXPORT_DIR="exports")
    write_doc(tmp_path / "handoffs", "acme.md",
              "entity: Acme\nstatus: active\nupdated: 2026-11-18\ndynamodb:\n  events: acme-events\n")
    assert dry_run(env, "--only", "ceo") == ser.ExitStatus.DATAERR
    out, err = capsys.readouterr()
    assert "events 6" not in out and out == ""
    assert f"{folder.resolve() / 'manifest-files.json'}:2: lists " in err, err


# ---------------------------------------------------------------------------
# Wrong types planted in the archive: a folder at ledger.json was "cannot read 4 (Is a
# directory)" (a file descriptor for a file name); a FIFO at the lock was "cannot use a
# file in ARCHIVE_DIR (UnsupportedOperation)", naming neither the file nor what to do.


def _send_env(tmp_path: Path, moto: str) -> Path:
    """Settings for a real send of a one-handoff portfolio through moto's SES (sender verified)."""
    import boto3

    boto3.client("ses", endpoint_url=moto, region_name="us-west-2", aws_access_key_id="testing",
                 aws_secret_access_key="testing").verify_email_identity(EmailAddress="reports@example.com")
    env = portfolio(tmp_path, SES_FROM_ADDRESS="reports@example.com", EXEC_REPORT_TO="owner@example.com",
                    EXEC_REPORT_BCC="admin@example.com", AWS_ENDPOINT_URL=moto, AWS_ACCESS_KEY_ID="testing",
                    AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-west-2")
    write_doc(tmp_path / "handoffs", "acme.md", "entity: Acme\nstatus: active\nupdated: 2026-11-18\ncash: 100\n")
    return env


def test_a_folder_at_the_ledger_is_named_as_a_damaged_ledger(
    tmp_path: Path, moto: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from .conftest import moto_messages

    env = _send_env(tmp_path, moto)
    ledger = tmp_path / "archive" / "2026-W47" / "ledger.json"
    ledger.mkdir(parents=True)
    assert ser.main(["--env-file", str(env), "--as-of", AS_OF, "--only", "ceo"]) == ser.ExitStatus.CONFIG
    err = capsys.readouterr().err
    assert f"{ledger}: the send ledger is damaged (not a regular file); nothing was sent" in err, err
    assert moto_messages(moto) == []


def test_a_fifo_at_the_lock_is_named_with_what_to_do(
    tmp_path: Path, moto: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from .conftest import moto_messages

    env = _send_env(tmp_path, moto)
    (tmp_path / "archive").mkdir()
    lock = tmp_path / "archive" / ser.LOCK_NAME
    os.mkfifo(lock)
    assert ser.main(["--env-file", str(env), "--as-of", AS_OF, "--only", "ceo"]) == ser.ExitStatus.CONFIG
    err = capsys.readouterr().err
    assert f"{lock}: the lock file is not a regular file; remove it, then rerun" in err, err
    assert moto_messages(moto) == []
