"""The README and repos.env.example document every option and setting."""

from __future__ import annotations

import re

import send_exec_reports as ser

from .conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
EXAMPLE_ENV = (ROOT / "repos.env.example").read_text(encoding="utf-8")


def test_every_option_is_documented() -> None:
    parser_options = re.findall(r"add_argument\(\"(--[a-z-]+)\"", (ROOT / "send_exec_reports.py").read_text())
    assert len(parser_options) == 10
    for option in parser_options:
        assert f"| `{option}" in README, option


def test_every_setting_is_documented() -> None:
    for name in ser.SETTING_NAMES + ser.AWS_NAMES:
        assert name in README, name
        assert re.search(rf"^#? ?{name}=", EXAMPLE_ENV, re.MULTILINE), name
    assert f"| `{ser.PER_REPORT_TO}<ID>` |" in README
    assert re.search(rf"^#? ?{ser.PER_REPORT_TO}[A-Z]+=", EXAMPLE_ENV, re.MULTILINE)


def test_readme_starts_with_the_two_commands_and_ci_runs_the_second() -> None:
    commands = [line.strip() for line in README.splitlines() if line.startswith("    python3 -m venv")]
    assert commands[0].endswith(".venv/bin/python send_exec_reports.py --dry-run")
    assert commands[1].endswith(".venv/bin/python -m pytest -q")
    assert README.index(commands[0]) < README.index("## What it does")
    ci = (ROOT / ".ci" / "run").read_text()
    assert commands[1] in ci.splitlines()


def test_repos_env_is_git_ignored() -> None:
    assert "repos.env" in (ROOT / ".gitignore").read_text().splitlines()
