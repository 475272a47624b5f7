"""Each report's dry-run text on the sample portfolio, compared with tests/golden/<id>.txt.

Regenerate after an intended change, then review the diff:
    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

import send_exec_reports as ser

from .conftest import EXAMPLES

GOLDEN = Path(__file__).parent / "golden"
REPORT_IDS = ["ceo", "cto", "cfo", "cmo", "accounting", "rental", "yacht", "agency"]


@pytest.fixture
def sample_env(tmp_path: Path) -> Path:
    """A repos.env for the sample portfolio with example addresses."""
    env = tmp_path / "repos.env"
    env.write_text(
        f"HANDOFF_DIR={EXAMPLES / 'handoffs'}\n"
        f"DYNAMODB_EXPORT_DIR={EXAMPLES / 'dynamodb'}\n"
        "SES_FROM_ADDRESS=reports@example.com\n"
        "EXEC_REPORT_TO=owner@example.com, partner@example.com\n"
        "EXEC_REPORT_BCC=admin@example.com\n"
    )
    return env


def dry_run(capsys: pytest.CaptureFixture[str], env: Path, *extra: str) -> str:
    """Run the dry run in-process; return stdout."""
    code = ser.main(["--dry-run", "--env-file", str(env), "--as-of", "2026-11-22", *extra])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert err == ""  # quiet when all is well
    return out


def test_the_eight_reports_are_listed_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    assert ser.main(["--list"]) == 0
    ids = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert ids == ["id", *REPORT_IDS]  # a header, then the reports


@pytest.mark.parametrize("report_id", REPORT_IDS)
def test_golden(report_id: str, sample_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = dry_run(capsys, sample_env, "--only", report_id)
    path = GOLDEN / f"{report_id}.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"regenerate with UPDATE_GOLDEN=1 and review: {path}"


@pytest.mark.parametrize("report_id", REPORT_IDS)
def test_golden_is_plain_text_for_email(report_id: str) -> None:
    text = (GOLDEN / f"{report_id}.txt").read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[1] == "From: reports@example.com"
    assert lines[2] == "To: owner@example.com, partner@example.com"
    assert lines[3] == "Bcc: admin@example.com"
    assert re.fullmatch(r"Subject: Executive Report: .+ — 2026-W47( \(\d+ need you\))?", lines[4])
    body = lines[6:]
    assert body[3] == "Period: 2026-W47 (week of Mon 16 Nov 2026; as of 2026-11-22)"  # every report opens so
    assert body[5] == "Needs you this week"
    # the golden run has no archive: said once, right after the Needs-you block
    assert text.count("No earlier report to compare with.") == 1
    assert body[body.index("No earlier report to compare with.") - 2].startswith(" ")  # a Needs-you item
    flat = " ".join(text.split())  # the sources line may wrap
    assert re.search(
        r"Data sources: 11 handoffs read \(1 Markdown file without front matter skipped: README.md\); "
        r"DynamoDB tables: (.+ \(exported 2026-11-21 09:00 UTC\)|none used by this report); as of 2026-11-22.$",
        flat,
    )
    assert max(len(line) for line in lines) <= 80, "a line is too wide for an 80-column terminal"
    for noise in ("<", "**", "\\", "&amp;", "&lt;", "&#", "|--", "|:--", "](", "###"):
        assert noise not in text, f"markup left in the text: {noise!r}"
    assert not [line for line in lines if line.startswith("|")], "a Markdown table row was left as it was"
    assert not [line for line in lines if line.startswith("#")], "a Markdown heading was left as it was"


def test_subject_and_sources(sample_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = dry_run(capsys, sample_env, "--only", "cfo,rental")
    subjects = re.findall(r"^Subject: (.*)$", text, re.M)
    assert subjects == ["Executive Report: CFO — 2026-W47 (2 need you)",
                        "Executive Report: 3028 51st St Rental — 2026-W47 (3 need you)"]
    assert text.count("Data sources: 11 handoffs read") == 2


def test_sample_dry_run_from_the_readme_works_without_repos_env(installed: Path) -> None:
    from .conftest import run_script

    result = run_script(installed, "--dry-run", "--as-of", "2026-11-22", cwd=installed.parent.parent, as_written=True)
    assert result.returncode == 0, result.stderr
    assert result.stderr == f"send_exec_reports: no repos.env: dry run on the sample portfolio in {installed.parent / 'examples'}\n"
    assert result.stdout.count("Subject: Executive Report:") == 8
    assert "From: (SES_FROM_ADDRESS not set)" in result.stdout

