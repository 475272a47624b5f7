"""Every command the README shows, run in a temporary copy of the repository, does what
the README says (the two set-up commands excepted: the first one's dry run is run).

The commands are read from the README, so a changed command is tested as changed, and
a new command with no check here fails the suite until one is written.
"""

from __future__ import annotations

import filecmp
import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import ROOT, SesProxy, as_on_a_terminal, aws, install_copy, moto_messages, run_on_terminal

README = (ROOT / "README.md").read_text(encoding="utf-8")
INSTALL = "/opt/reports"  # where the README's commands assume the clone is
UNIT_TEMPLATES = ("rental.md", "yacht.md", "agency.md")
SENDER = "reports@example.com"
FIRST_WORDS = (".venv/bin/python", "python", "python3", "cp", "mkdir", "env")
CRON_RE = re.compile(r"^(?:[\d*/,-]+\s+){5}(\S.*)$")


def readme_commands() -> list[str]:
    """The shell commands in the README's code blocks and inline code, and crontab lines.

    A usage synopsis (`[--dry-run]`) and an elision (`... && curl`) are not commands.
    """
    found: list[str] = []
    fence: str | None = None
    for line in README.splitlines():
        if line.startswith("```"):
            fence = None if fence is not None else (line[3:].strip() or "text")
            continue
        candidates = []
        if fence is not None:
            if fence not in ("markdown", "yaml"):
                candidates.append(line.strip())
        elif line.startswith("    "):
            candidates.append(line.strip())
        else:
            candidates += re.findall(r"`([^`]+)`", line)
        for text in candidates:
            cron = CRON_RE.match(text)
            if (cron or text.split(" ", 1)[0] in FIRST_WORDS) and "[--" not in text and text not in found:
                found.append(text)
    return found


COMMANDS = readme_commands()


def readme_handoffs() -> list[str]:
    """The front matter examples of the README (```markdown blocks)."""
    return re.findall(r"^```markdown\n(.*?)^```", README, re.M | re.S)


# ---------------------------------------------------------------------------
# A copy of the repository as a new user has it after the README's first command.


@pytest.fixture
def app(same_place: Path) -> Path:
    """A temporary copy of the repository, with a `.venv/bin/python` that runs this Python."""
    tmp_path = same_place  # the templates compiled by one test's runs serve the next test's
    app = install_copy(tmp_path / "opt" / "reports").parent
    for name in ("README.md", "repos.env.example", "requirements.txt", ".gitignore"):
        shutil.copy2(ROOT / name, app / name)
    for name in ("AS_OF", "make_exports.py"):
        shutil.copy2(ROOT / "examples" / name, app / "examples" / name)
    venv_python = app / ".venv" / "bin" / "python"
    venv_python.parent.mkdir(parents=True)
    # a wrapper, not a symlink: a symlinked interpreter would not find the venv's packages
    venv_python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    venv_python.chmod(venv_python.stat().st_mode | stat.S_IXUSR)
    (tmp_path / "home").mkdir()
    return app


def shell(command: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run one README command with /bin/sh, as a user would type it."""
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "HOME": str(cwd.parent.parent / "home")}
    for name in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_EC2_METADATA_DISABLED"):
        base[name] = os.environ[name]  # set by conftest's clean_env: no host credentials
    result = subprocess.run(["/bin/sh", "-c", command], cwd=cwd, env={**base, **(env or {})},
                            capture_output=True, text=True, timeout=120)
    result.stderr = as_on_a_terminal(result.stderr)  # the lines as a user at a terminal reads them
    return result


def write_env(app: Path, **settings: str) -> None:
    """repos.env next to the script: the example's settings, with these changed."""
    lines = (app / "repos.env.example").read_text().splitlines()
    kept = [line for line in lines if line.split("=", 1)[0].lstrip("# ") not in settings]
    (app / "repos.env").write_text("\n".join(kept + [f"{k}={v}" for k, v in settings.items()]) + "\n")


def ses_env(proxy: SesProxy) -> dict[str, str]:
    """Settings that send through the SES proxy in front of moto, with a verified sender."""

    aws("ses", proxy.url).verify_email_identity(EmailAddress=SENDER)
    return {"AWS_ENDPOINT_URL": proxy.url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "SES_FROM_ADDRESS": SENDER}


def own_handoffs(app: Path) -> Path:
    """A handoff folder holding the README's example handoffs, one file each."""
    folder = app.parent / "my-handoffs"
    folder.mkdir()
    for i, text in enumerate(readme_handoffs()):
        (folder / f"example-{i}.md").write_text(text, encoding="utf-8")
    return folder


# ---------------------------------------------------------------------------
# What each command must do, as the README says.


# The README shows the same dry run twice (in the first set-up command and on its own): on a fresh
# copy, at the same path (the `app` fixture), each command's result is the same, so it is run once.
_FRESH_COPY_RUNS: dict[str, subprocess.CompletedProcess[str]] = {}


def on_fresh_copy(command: str, app: Path) -> subprocess.CompletedProcess[str]:
    """shell(command, app) on a copy nothing has changed yet, run once per process for each command."""
    if command not in _FRESH_COPY_RUNS:
        _FRESH_COPY_RUNS[command] = shell(command, app)
    return _FRESH_COPY_RUNS[command]


def sample_dry_run(command: str, app: Path, request: pytest.FixtureRequest) -> None:
    """The first set-up command's dry run: the sample as of its own date, said on stderr."""
    assert "pip install" not in command or command.endswith(".venv/bin/python send_exec_reports.py --dry-run")
    result = on_fresh_copy(command.split(" && ")[-1], app)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("Subject: Executive Report:") == 8
    assert result.stdout.count("Period: 2026-W47 (week of Mon 16 Nov 2026; as of 2026-11-22)") == 8
    assert "sample portfolio" in result.stderr
    assert "as of 2026-11-22" in result.stderr and "--as-of YYYY-MM-DD" in result.stderr
    # and, as the README says, --as-of shows it as of another day
    other = on_fresh_copy(command.split(" && ")[-1] + " --as-of 2026-12-09", app)
    assert other.returncode == 0 and other.stdout.count("Period: 2026-W50 (week of Mon 7 Dec 2026; as of 2026-12-09)") == 8


def copy_settings(command: str, app: Path, request: pytest.FixtureRequest) -> None:
    """`cp repos.env.example repos.env`: a settings file that is valid as it comes."""
    result = shell(command, app)
    assert result.returncode == 0, result.stderr
    assert (app / "repos.env").read_text() == (app / "repos.env.example").read_text()
    check = shell(".venv/bin/python send_exec_reports.py --dry-run --check", app)
    assert check.returncode == 0, check.stderr


def copy_templates(command: str, app: Path, request: pytest.FixtureRequest) -> None:
    """Templates of one's own: the unit reports removed there, reports/ left as it came."""
    result = shell(command, app)
    assert result.returncode == 0, result.stderr
    mine = app / "my-reports"
    assert sorted(p.name for p in mine.iterdir()) == sorted(p.name for p in (app / "reports").iterdir())
    write_env(app, HANDOFF_DIR=str(own_handoffs(app)), DYNAMODB_EXPORT_DIR="", REPORTS_DIR="my-reports")
    blocked = shell(".venv/bin/python send_exec_reports.py --dry-run --check", app)
    assert blocked.returncode == 65 and "my-reports/rental.md" in blocked.stderr  # the safety stays
    for name in UNIT_TEMPLATES:
        (mine / name).unlink()
    check = shell(".venv/bin/python send_exec_reports.py --dry-run --check", app)
    assert check.returncode == 0, check.stderr
    assert sorted(p.name for p in (app / "reports").iterdir()) == sorted(p.name for p in (ROOT / "reports").iterdir())


def copy_business_template(command: str, app: Path, request: pytest.FixtureRequest) -> None:
    """The business template copied beside one's own reports, its entity set: it checks and renders."""
    shutil.copy2(ROOT / "examples" / "business-template.md", app / "examples" / "business-template.md")
    assert shell("mkdir -p my-reports && cp reports/ceo.md my-reports/", app).returncode == 0
    result = shell(command, app)
    assert result.returncode == 0, result.stderr
    copy = next(p for p in (app / "my-reports").iterdir() if p.name != "ceo.md")
    text = copy.read_text(encoding="utf-8")
    for key in ("entity", "title", "persona"):  # as the README says: set them for your business
        text = re.sub(rf"^{key}: .*$", f"{key}: Harbor Kayaks", text, count=1, flags=re.MULTILINE)
    copy.write_text(text, encoding="utf-8")
    write_env(app, HANDOFF_DIR=str(own_handoffs(app)), DYNAMODB_EXPORT_DIR="", REPORTS_DIR="my-reports")
    check = shell(".venv/bin/python send_exec_reports.py --dry-run --check", app)
    assert check.returncode == 0, check.stderr
    shown = shell(f".venv/bin/python send_exec_reports.py --dry-run --only {copy.stem}", app)
    assert shown.returncode == 0 and "Harbor Kayaks: money" in shown.stdout, shown.stderr


def check_without_aws(command: str, app: Path, request: pytest.FixtureRequest) -> None:
    """`--dry-run --check`: settings, handoffs and templates valid, with no AWS at all."""
    write_env(app)
    result = shell(command, app)
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout
    assert not (app / "archive").exists()


def check_with_ses(command: str, app: Path, request: pytest.FixtureRequest) -> None:
    """`--check`: also asks SES; sends nothing, writes nothing."""
    proxy: SesProxy = request.getfixturevalue("ses_proxy")
    write_env(app, **ses_env(proxy))
    result = shell(command, app)
    assert result.returncode == 0, result.stderr
    assert proxy.actions("GetSendQuota"), "it did not ask SES"
    assert not proxy.actions("SendEmail") and not moto_messages(proxy.upstream)
    assert not [p for p in (app / "archive").rglob("*") if p.is_file()]  # it may only prove the folder writable


def send_to_one_address(command: str, app: Path, request: pytest.FixtureRequest) -> None:
    """`--to ADDRESS`: every report to that one address, no BCC, the week's ledger untouched."""
    proxy: SesProxy = request.getfixturevalue("ses_proxy")
    write_env(app, **ses_env(proxy))
    address = command.rsplit(" ", 1)[-1]
    result = shell(command, app)
    assert result.returncode == 0, result.stderr
    messages = moto_messages(proxy.upstream)
    assert len(messages) == 8
    for message in messages:
        destinations = message["destinations"]
        assert (destinations["ToAddresses"], destinations.get("BccAddresses", [])) == ([address], [])
    assert not list((app / "archive").rglob("ledger.json"))


def check_test_address(command: str, app: Path, request: pytest.FixtureRequest) -> None:
    """`--check --to ADDRESS`: in the SES sandbox, whether the test address may receive; sends nothing."""
    proxy: SesProxy = request.getfixturevalue("ses_proxy")
    proxy.quota = None  # moto's own quota, 200 a day: the sandbox's
    write_env(app, **ses_env(proxy))
    address = command.rsplit(" ", 1)[-1]
    refused = shell(command, app)
    assert refused.returncode == 78
    assert refused.stderr.splitlines()[-1].startswith("send_exec_reports: check failed: in the SES sandbox")
    assert address in refused.stderr and "owner@example.com" not in refused.stderr  # only the test address
    ses_env(proxy)  # the sender again, idempotent
    aws("ses", proxy.url).verify_email_identity(EmailAddress=address)
    passed = shell(command, app)
    assert passed.returncode == 0, passed.stderr
    assert passed.stdout.splitlines()[-1].startswith("check passed:")
    assert not proxy.actions("SendEmail") and not moto_messages(proxy.upstream)


def check_as_cron_runs_it(command: str, app: Path, request: pytest.FixtureRequest) -> None:
    """`env -i ... --check`: what the shell exported never reaches cron; what repos.env holds does."""
    proxy: SesProxy = request.getfixturevalue("ses_proxy")
    settings = ses_env(proxy)
    credentials = {k: settings.pop(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    write_env(app, **settings)
    home = app.parent.parent / "home"
    # boto3 would ask the instance metadata service when no credential is found: a closed loopback port here
    (home / ".aws").mkdir()
    (home / ".aws" / "config").write_text("[default]\nec2_metadata_service_endpoint = http://127.0.0.1:9\n"
                                          "metadata_service_num_attempts = 1\n")
    assert INSTALL in command, "the check should use the install folder's absolute paths, as the crontab line does"
    line = command.replace(INSTALL, str(app))
    # the credentials exported in the user's shell, as in step 4: the check passes there ...
    exported = shell(".venv/bin/python send_exec_reports.py --check", app, env=credentials)
    assert exported.returncode == 0, exported.stderr
    # ... and fails as cron would, with an empty environment, saying so before anything is sent
    bare = shell(line, app, env=credentials)
    assert bare.returncode == 78, bare.stderr
    assert "check failed: no AWS credentials" in bare.stderr
    assert "check passed" not in bare.stdout
    # in repos.env, they reach the run whatever its environment
    write_env(app, **settings, **credentials)
    fixed = shell(line, app)
    assert fixed.returncode == 0, fixed.stderr
    assert fixed.stdout.rstrip().splitlines()[-1].startswith("check passed")
    assert not proxy.actions("SendEmail") and not moto_messages(proxy.upstream)


def cron(command: str, app: Path, request: pytest.FixtureRequest) -> None:
    """The crontab line from week one: cron's bare environment, from $HOME, before any archive exists."""
    proxy: SesProxy = request.getfixturevalue("ses_proxy")
    write_env(app, **ses_env(proxy))
    assert INSTALL in command, "the crontab line should use the install folder's absolute paths"
    line = CRON_RE.match(command).group(1).replace(INSTALL, str(app))  # type: ignore[union-attr]
    home = app.parent.parent / "home"
    cron_env = ["env", "-i", f"HOME={home}", "LOGNAME=reports", "PATH=/usr/bin:/bin", "SHELL=/bin/sh"]

    def run_line() -> subprocess.CompletedProcess[str]:
        return subprocess.run([*cron_env, "/bin/sh", "-c", line], cwd=home, capture_output=True, text=True,
                              timeout=120)

    assert not (app / "archive").exists()
    first = run_line()
    # silent when all is well: cron mails whatever the line prints
    assert (first.returncode, first.stdout, first.stderr) == (0, "", "")
    assert len(moto_messages(proxy.upstream)) == 8
    log_files = [p for p in app.iterdir() if p.suffix == ".log"]
    assert len(log_files) == 1 and log_files[0].name in line
    assert "sent 8" in log_files[0].read_text()
    assert log_files[0].name in (ROOT / ".gitignore").read_text().splitlines()

    # a failing run prints the log's tail, which cron mails
    write_env(app, **{**ses_env(proxy), "SES_FROM_ADDRESS": "not an address"})
    failed = run_line()
    assert "SES_FROM_ADDRESS" in failed.stdout
    assert len(moto_messages(proxy.upstream)) == 8


def make_exports(command: str, app: Path, request: pytest.FixtureRequest) -> None:
    """`examples/make_exports.py` regenerates the sample exports byte for byte."""
    shutil.rmtree(app / "examples" / "dynamodb")
    result = shell(command, app)
    assert result.returncode == 0, result.stderr
    compare = filecmp.dircmp(app / "examples" / "dynamodb", ROOT / "examples" / "dynamodb")
    pending = [compare]
    while pending:
        cmp = pending.pop()
        assert not (cmp.left_only or cmp.right_only or cmp.diff_files), (cmp.left_only, cmp.right_only, cmp.diff_files)
        _, mismatch, errors = filecmp.cmpfiles(cmp.left, cmp.right, cmp.common_files, shallow=False)
        assert not mismatch and not errors
        pending += cmp.subdirs.values()


def build_lambda(command: str, app: Path, request: pytest.FixtureRequest) -> None:
    """`scripts/build_lambda.py` makes template.yaml's CodeUri: the script, reports/ and requirements.txt only."""
    (app / "scripts").mkdir()
    shutil.copy2(ROOT / "scripts" / "build_lambda.py", app / "scripts" / "build_lambda.py")
    result = shell(command, app)
    assert result.returncode == 0, result.stderr
    folder = app / "build" / "lambda"
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) == sorted(
        ["send_exec_reports.py", "requirements.txt", "reports"] + [f"reports/{p.name}" for p in (app / "reports").glob("*.md")])
    assert (folder / "send_exec_reports.py").read_bytes() == (app / "send_exec_reports.py").read_bytes()
    assert "CodeUri: build/lambda/" in (ROOT / "template.yaml").read_text()


Handler = Callable[[str, Path, pytest.FixtureRequest], None]
HANDLERS: list[tuple[str, Handler | None]] = [
    (r"python3 -m venv .* requirements\.txt && \.venv/bin/python send_exec_reports\.py --dry-run", sample_dry_run),
    (r"python3 -m venv .* requirements-dev\.txt && .*pytest.*", None),  # the test suite itself
    (r"\.venv/bin/python send_exec_reports\.py --dry-run", sample_dry_run),
    (r"cp repos\.env\.example repos\.env", copy_settings),
    (r"mkdir -p my-reports && cp reports/\*\.md my-reports/", copy_templates),
    (r"cp examples/business-template\.md my-reports/\S+\.md", copy_business_template),
    (r"\.venv/bin/python send_exec_reports\.py --dry-run --check", check_without_aws),
    (r"\.venv/bin/python send_exec_reports\.py --check", check_with_ses),
    (r"\.venv/bin/python send_exec_reports\.py --to \S+@\S+", send_to_one_address),
    (r"\.venv/bin/python send_exec_reports\.py --check --to \S+@\S+", check_test_address),
    (r"0 7 \* \* 1 .*", cron),
    (r"env -i HOME=\$HOME PATH=/usr/bin:/bin /opt/reports/\.venv/bin/python /opt/reports/send_exec_reports\.py --check",
     check_as_cron_runs_it),
    (r"\.venv/bin/python examples/make_exports\.py", make_exports),
    (r"\.venv/bin/python scripts/build_lambda\.py", build_lambda),
]


def handler_for(command: str) -> Handler | None:
    """The one check that knows what a README command should do."""
    matches = [h for pattern, h in HANDLERS if re.fullmatch(pattern, command)]
    assert len(matches) == 1, f"the README shows {command!r}: say in HANDLERS what it must do"
    return matches[0]


def test_the_readme_commands_are_found() -> None:
    assert len(COMMANDS) >= 8, COMMANDS
    for pattern, _ in HANDLERS:  # a check for a command the README no longer shows is stale
        assert any(re.fullmatch(pattern, c) for c in COMMANDS), f"no README command matches {pattern!r}"


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_command(command: str, app: Path, request: pytest.FixtureRequest) -> None:
    handler = handler_for(command)
    if handler is None:
        pytest.skip("a set-up command: .ci/run runs it")
    handler(command, app, request)


def test_readme_example_handoffs_pass_check_as_shown(app: Path) -> None:
    """Each example handoff in the README is valid as written, with no AWS and no exports."""
    examples = readme_handoffs()
    assert examples
    for name in UNIT_TEMPLATES:  # as the set-up says: no unit reports for businesses one does not have
        (app / "reports" / name).unlink()
    write_env(app, HANDOFF_DIR=str(own_handoffs(app)), DYNAMODB_EXPORT_DIR="")
    result = shell(".venv/bin/python send_exec_reports.py --dry-run --check", app)
    assert result.returncode == 0, result.stderr
    assert f"from {len(examples)} handoff" in result.stdout


def notes_among_handoffs(app: Path, count: int) -> Path:
    """The README's example handoff(s), and `count` Markdown notes without front matter."""
    folder = own_handoffs(app)
    for i in range(count):
        (folder / f"notes-{i}.md").write_text(f"# Notes {i}\n\nNo front matter here.\n", encoding="utf-8")
    (folder / "notes-\x1b[2J.md").write_text("Plain notes.\n", encoding="utf-8")  # a name that must not act
    for name in UNIT_TEMPLATES:
        (app / "reports" / name).unlink()
    write_env(app, HANDOFF_DIR=str(folder), DYNAMODB_EXPORT_DIR="")
    return folder


def test_skipped_files_are_named_in_check_and_on_a_terminal_but_not_under_cron(app: Path) -> None:
    """A Markdown file without front matter is skipped and named: in --check and on a terminal, one line
    (five names, then how many more); a run with no terminal (cron) stays quiet about it."""
    notes_among_handoffs(app, 6)
    check = shell(".venv/bin/python send_exec_reports.py --dry-run --check", app)
    assert check.returncode == 0, check.stderr
    skipped = [line for line in check.stderr.splitlines() if "skipped" in line]
    assert len(skipped) == 1, check.stderr
    assert re.fullmatch(r"send_exec_reports: skipped \(no front matter, so not handoffs\): "
                        r"(notes-\S+\.md, ){4}notes-\S+\.md and 2 more", skipped[0]), skipped
    assert "\x1b" not in check.stderr  # the escape is shown as its picture, if named at all
    assert "(7 Markdown files without front matter skipped, named on stderr)" in check.stdout

    quiet = shell(".venv/bin/python send_exec_reports.py --dry-run", app)  # no terminal: as under cron
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    assert "7 Markdown files without front matter skipped" in quiet.stdout  # the data-sources line still names them

    shown, text = run_on_terminal([str(app / ".venv" / "bin" / "python"), "send_exec_reports.py", "--dry-run"],
                                  cwd=app, stdout=subprocess.DEVNULL, timeout=120,
                                  env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"})
    assert shown.returncode == 0
    assert b"send_exec_reports: skipped (no front matter, so not handoffs): notes-" in text
    assert b"and 2 more" in text and b"\x1b" not in text


def test_a_first_check_without_settings_says_to_copy_the_example(app: Path) -> None:
    """Before `cp repos.env.example repos.env`, --check says to make the settings file, as the README does."""
    result = shell(".venv/bin/python send_exec_reports.py --check", app)
    assert result.returncode == 78
    assert "HANDOFF_DIR is not set" in result.stderr
    assert "cp repos.env.example repos.env" in result.stderr
    assert "cp repos.env.example repos.env" in COMMANDS  # the README's first set-up step


def test_a_test_send_carries_the_html_alternative_when_the_weekly_send_does(app: Path,
                                                                         request: pytest.FixtureRequest) -> None:
    """`--to` is how to try a template change on oneself: with EMAIL_FORMAT=text+html, both parts."""
    import email
    import email.policy
    import json
    import urllib.request

    proxy: SesProxy = request.getfixturevalue("ses_proxy")
    write_env(app, **ses_env(proxy), EMAIL_FORMAT="text+html")
    result = shell(".venv/bin/python send_exec_reports.py --to me@example.com --only cfo", app)
    assert result.returncode == 0, result.stderr
    assert proxy.actions("SendRawEmail") and not proxy.actions("SendEmail")
    with urllib.request.urlopen(f"{proxy.upstream}/moto-api/data.json", timeout=10) as response:
        raw = json.load(response).get("ses", {}).get("RawMessage", [])
    assert len(raw) == 1
    message = email.message_from_string(raw[0]["raw_data"], policy=email.policy.default)
    assert message["To"] == "me@example.com" and message["Bcc"] is None
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]


def test_every_command_line_of_the_readme_is_checked() -> None:
    """Nothing that runs the tool or its venv escapes `readme_commands` (and so a check in HANDLERS)."""
    spans = re.findall(r"`([^`\n]+)`", README)
    spans += [line.strip() for line in README.splitlines() if line.startswith("    ")]
    runs = [s for s in spans if ("send_exec_reports.py" in s or s.startswith((".venv/", "python ", "python3 "))) and "[--" not in s]
    assert runs
    missed = sorted({s for s in runs if s not in COMMANDS})
    assert not missed, f"the README shows these commands but no test runs them: {missed}"
