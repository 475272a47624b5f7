"""Delivery through SES (moto's server over HTTP, behind a local proxy that can misbehave)."""

from __future__ import annotations

import dataclasses
import email
import email.message
import email.policy
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

import send_exec_reports as ser

from .conftest import EXAMPLES, ROOT, SesProxy, aws, install_copy, moto_messages, run_on_terminal, tool_command
from .test_html import AS_OF, raw_messages

SKIPPED = "send_exec_reports: skipped (no front matter, so not handoffs): README.md"
GOLDEN = Path(__file__).parent / "golden"
IDS = ["ceo", "cto", "cfo", "cmo", "accounting", "rental", "yacht", "agency"]
SENDER = "reports@example.com"


def verify_sender(moto: str, address: str = SENDER) -> None:
    """Verify an SES identity in moto directly."""
    aws("ses", moto).verify_email_identity(EmailAddress=address)


def write_env(folder: Path, endpoint: str, **overrides: str) -> Path:
    """A repos.env for sending the sample portfolio through `endpoint`."""
    settings = {
        "HANDOFF_DIR": str(EXAMPLES / "handoffs"),
        "DYNAMODB_EXPORT_DIR": str(EXAMPLES / "dynamodb"),
        "ARCHIVE_DIR": "archive",
        "SES_FROM_ADDRESS": SENDER,
        "EXEC_REPORT_TO": "owner@example.com, partner@example.com",
        "EXEC_REPORT_BCC": "admin@example.com",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        **overrides,
    }
    folder.mkdir(parents=True, exist_ok=True)
    env = folder / "repos.env"
    env.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    return env


def send(env: Path, *extra: str) -> int:
    """Run a real send in-process for the golden as-of date."""
    return ser.main(["--env-file", str(env), "--as-of", "2026-11-22", *extra])


def golden_body(report_id: str) -> str:
    """The body of a report as the golden dry run shows it."""
    text = (GOLDEN / f"{report_id}.txt").read_text(encoding="utf-8")
    return text.split("\n\n", 1)[1]


def subjects(moto: str) -> list[str]:
    """Subjects of what moto received, in order."""
    return [m["subject"] for m in moto_messages(moto)]


def subject_of(report_id: str) -> str:
    """The subject line of a report in the golden files."""
    line = (GOLDEN / f"{report_id}.txt").read_text(encoding="utf-8").splitlines()[4]
    return line.removeprefix("Subject: ")


@pytest.fixture
def logged() -> Iterator[list[str]]:
    """What the tool logs while deliver() is called directly (main() is not there to show it)."""
    import logging

    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    ser.log.addHandler(handler)
    yield lines
    ser.log.removeHandler(handler)


def test_sends_all_eight_with_bcc(tmp_path: Path, moto: str, ses_proxy: SesProxy,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    verify_sender(moto)
    env = write_env(tmp_path, ses_proxy.url)
    assert send(env) == 0
    err = capsys.readouterr().err
    assert err == f"send_exec_reports: 2026-W47: sent 8 ({', '.join(IDS)}); skipped as already sent 0; failed 0\n"
    messages = moto_messages(moto)
    assert len(messages) == 8
    for message, report_id in zip(messages, IDS, strict=True):
        assert message["source"] == SENDER
        assert message["destinations"] == {
            "ToAddresses": ["owner@example.com", "partner@example.com"],
            "BccAddresses": ["admin@example.com"],
        }
        assert message["subject"] == subject_of(report_id)
        assert message["body"] == golden_body(report_id)
    sent = ses_proxy.actions("SendEmail")
    assert {f["Message.Body.Text.Charset"] for f in sent} == {"UTF-8"}
    assert not any(key.startswith("Message.Body.Html") for f in sent for key in f)

    # the archive holds what was sent, and the figures
    folder = tmp_path / "archive" / "2026-W47"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"{i}.txt" for i in IDS] + ["ledger.json", "metrics.json"]
    )
    assert (folder / "cfo.txt").read_text(encoding="utf-8").split("\n\n", 1)[1] == golden_body("cfo")
    kept = json.loads((folder / "metrics.json").read_text())
    ledger = json.loads((folder / "ledger.json").read_text())
    assert kept["period"] == "2026-W47" and len(kept["runs"]) == 1  # one run: every report showed its figures
    assert {v["figures"] for v in ledger.values()} == set(kept["runs"])
    metrics = next(iter(kept["runs"].values()))
    assert metrics["period"] == "2026-W47"
    assert Decimal(metrics["entities"]["JADA"]["runway"]) == pytest.approx(Decimal(7400) / Decimal(1900))
    assert {k: v["state"] for k, v in ledger.items()} == dict.fromkeys(IDS, "sent")
    assert {v["message_id"] for v in ledger.values()} == {m["id"] for m in moto_messages(moto)}

    # a second run sends nothing; --force resends
    assert send(env) == 0
    assert "sent 0; skipped as already sent 8 (" in capsys.readouterr().err
    assert len(moto_messages(moto)) == 8
    assert send(env, "--force", "--only", "cfo") == 0
    assert subjects(moto).count(subject_of("cfo")) == 2


class FakeClock:
    """A clock that moves only when slept on, keeping every wait asked of it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def reports(*ids: str) -> list[ser.RenderedReport]:
    """Small reports to send directly through deliver()."""
    return [ser.RenderedReport(id=i, subject=f"Executive Report: {i.upper()} — 2026-W47", text=f"{i} body\n")
            for i in ids]


def direct(tmp_path: Path, endpoint: str, ids: tuple[str, ...], *, progress: object = None,
           **overrides: str) -> tuple[FakeClock, ser.Outcome, ser.Delivery]:
    """deliver() with the tool's own SES client and a fake clock: the waits, not the wall clock, are measured."""
    env = write_env(tmp_path, endpoint, **overrides)
    settings = ser.load_settings(str(env), dry_run=False)
    delivery = ser.delivery_settings(settings, ids)
    clock = FakeClock()
    sender = ser.SesSender(ser.ses_client(settings), sleep=clock.sleep, clock=clock)
    outcome = ser.Outcome(period="2026-W47")
    ser.deliver(reports(*ids), "{}\n", delivery, sender, outcome, progress=progress)
    return clock, outcome, delivery


def test_sends_are_paced_to_the_quota_counting_every_recipient(tmp_path: Path, moto: str,
                                                               ses_proxy: SesProxy) -> None:
    verify_sender(moto)
    ses_proxy.quota = (15.0, 50000.0)  # 3 recipients a message: at most 5 messages a second
    clock, outcome, _ = direct(tmp_path, ses_proxy.url, ("ceo", "cto", "cfo", "cmo"))
    assert outcome.sent == ["ceo", "cto", "cfo", "cmo"]
    assert clock.sleeps == pytest.approx([0.2, 0.2, 0.2])  # 3/15 s before each message after the first
    sent = ses_proxy.actions("SendEmail")
    assert [len([k for k in f if k.startswith("Destination.")]) for f in sent] == [3, 3, 3, 3]


def test_pacing_at_a_higher_rate_waits_less(tmp_path: Path, moto: str, ses_proxy: SesProxy) -> None:
    verify_sender(moto)
    ses_proxy.quota = (30.0, 50000.0)
    clock, _, _ = direct(tmp_path, ses_proxy.url, ("ceo", "cto", "cfo"), EXEC_REPORT_TO="owner@example.com")
    assert clock.sleeps == pytest.approx([2 / 30, 2 / 30])  # two recipients a message


def test_throttling_is_retried_with_doubling_waits(tmp_path: Path, moto: str, ses_proxy: SesProxy) -> None:
    verify_sender(moto)
    ses_proxy.rules["SendEmail"] = lambda fields, n: (
        ("error", 400, "Throttling", "Maximum sending rate exceeded.") if n <= 4 else None
    )
    ses_proxy.quota = (100.0, 50000.0)
    progress = io.StringIO()
    clock, outcome, _ = direct(tmp_path, ses_proxy.url, ("ceo", "cto"), progress=progress)
    assert outcome.sent == ["ceo", "cto"]
    # four backoff waits for ceo, then cto waits its 3/100 s turn after ceo went out
    assert clock.sleeps == pytest.approx([0.25, 0.5, 1.0, 2.0, 0.03])
    assert len(ses_proxy.actions("SendEmail")) == 6
    assert progress.getvalue().splitlines()[:2] == [
        "send_exec_reports: SES: Throttling: Maximum sending rate exceeded.; retrying in 0.25 s (attempt 2 of 6)",
        "send_exec_reports: SES: Throttling: Maximum sending rate exceeded.; retrying in 0.5 s (attempt 3 of 6)",
    ]


def test_throttling_gives_up_after_six_attempts(tmp_path: Path, moto: str, ses_proxy: SesProxy,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    verify_sender(moto)
    ses_proxy.rules["SendEmail"] = lambda fields, n: ("error", 400, "Throttling", "Maximum sending rate exceeded.")
    clock, outcome, _ = direct(tmp_path, ses_proxy.url, ("ceo",))
    assert clock.sleeps == pytest.approx([0.25, 0.5, 1.0, 2.0, 4.0])
    assert outcome.failed == ["ceo"]
    assert len(ses_proxy.actions("SendEmail")) == 6


@pytest.mark.parametrize("code", ["Throttling", "ThrottlingException", "TooManyRequestsException"])
def test_throttling_is_retried_and_every_report_arrives_once(tmp_path: Path, moto: str, ses_proxy: SesProxy,
                                                             code: str, capsys: pytest.CaptureFixture[str],
                                                             quick_backoff: None) -> None:
    verify_sender(moto)
    throttled = 2 if code == "Throttling" else 1
    ses_proxy.rules["SendEmail"] = lambda fields, n: (
        ("error", 400, code, "Maximum sending rate exceeded.") if n <= throttled else None
    )
    assert send(write_env(tmp_path, ses_proxy.url)) == 0
    assert sorted(subjects(moto)) == sorted(subject_of(i) for i in IDS)  # each exactly once
    assert len(ses_proxy.actions("SendEmail")) == 8 + throttled
    assert "retrying" not in capsys.readouterr().err  # a retry that works is progress: cron hears nothing


def test_daily_quota_is_not_retried(tmp_path: Path, moto: str, ses_proxy: SesProxy,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    verify_sender(moto)
    ses_proxy.rules["SendEmail"] = lambda fields, n: (
        ("error", 400, "Throttling", "Daily message quota exceeded.") if n >= 3 else None
    )
    assert send(write_env(tmp_path, ses_proxy.url)) == 69
    err = capsys.readouterr().err
    assert len(ses_proxy.actions("SendEmail")) == 3  # the third failed and was not retried
    assert "cfo: SES daily sending quota reached (Daily message quota exceeded); not retried." in err
    assert "cmo: not sent: an earlier send failed in a way that stops the run (see above)" in err
    assert err.rstrip().endswith(
        "2026-W47: sent 2 (ceo, cto); skipped as already sent 0; "
        "failed 6 (cfo, cmo, accounting, rental, yacht, agency)"
    )
    # the next day, a rerun sends only what is missing
    ses_proxy.rules.clear()
    assert send(write_env(tmp_path, ses_proxy.url)) == 0
    assert sorted(subjects(moto)) == sorted(subject_of(i) for i in IDS)


def test_quota_unreadable_falls_back_to_one_a_second(tmp_path: Path, moto: str, ses_proxy: SesProxy,
                                                     logged: list[str]) -> None:
    verify_sender(moto)
    ses_proxy.rules["GetSendQuota"] = lambda fields, n: ("error", 403, "AccessDenied", "not authorized")
    progress = io.StringIO()
    clock, outcome, _ = direct(tmp_path, ses_proxy.url, ("ceo", "cto", "cfo"), progress=progress)
    assert logged == ["cannot read the SES send quota (AccessDenied): sending one message a second"]
    assert clock.sleeps == [1.0, 1.0]
    assert outcome.sent == ["ceo", "cto", "cfo"]
    assert len(moto_messages(moto)) == 3
    assert progress.getvalue().splitlines() == [
        "send_exec_reports: ceo: sent to 3 recipients (1 of 3)",
        "send_exec_reports: waiting 1.0 s for SES's send rate",
        "send_exec_reports: cto: sent to 3 recipients (2 of 3)",
        "send_exec_reports: waiting 1.0 s for SES's send rate",
        "send_exec_reports: cfo: sent to 3 recipients (3 of 3)",
    ]


def test_without_a_terminal_progress_says_nothing(tmp_path: Path, moto: str, ses_proxy: SesProxy,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    verify_sender(moto)
    ses_proxy.quota = (3.0, 50000.0)  # a 1 s wait between messages
    clock, outcome, _ = direct(tmp_path, ses_proxy.url, ("ceo", "cto"), progress=None)
    assert clock.sleeps == [1.0]
    assert outcome.sent == ["ceo", "cto"]
    assert capsys.readouterr() == ("", "")


def test_unverified_sender_sends_nothing(tmp_path: Path, moto: str, ses_proxy: SesProxy,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert send(write_env(tmp_path, ses_proxy.url)) == 78
    err = capsys.readouterr().err
    assert err == (
        "send_exec_reports: SES_FROM_ADDRESS reports@example.com is not verified in SES (us-west-2): verify the "
        "address or its domain in the SES console; nothing was sent\n"
    )
    assert ses_proxy.actions("SendEmail") == []


def test_sender_rejected_when_it_cannot_be_checked_first(tmp_path: Path, moto: str, ses_proxy: SesProxy,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    # an IAM policy granting only ses:SendEmail: the pre-check is denied, SES itself says no
    ses_proxy.rules["GetIdentityVerificationAttributes"] = lambda f, n: ("error", 403, "AccessDenied", "no")
    assert send(write_env(tmp_path, ses_proxy.url)) == 69
    err = capsys.readouterr().err
    assert "ceo: SES rejected the sender reports@example.com: Email address not verified" in err
    assert len(ses_proxy.actions("SendEmail")) == 1  # no use trying the other seven
    assert moto_messages(moto) == []


def test_paused_account(tmp_path: Path, moto: str, ses_proxy: SesProxy, capsys: pytest.CaptureFixture[str]) -> None:
    verify_sender(moto)
    ses_proxy.rules["SendEmail"] = lambda f, n: (
        "error", 400, "AccountSendingPausedException", "Email sending is disabled for this account."
    )
    assert send(write_env(tmp_path, ses_proxy.url)) == 69
    err = capsys.readouterr().err
    assert ("send_exec_reports: ceo: SES refused (AccountSendingPausedException): sending is paused for this SES "
            "account; see the SES console's account dashboard (reputation) and ask AWS to resume it\n") in err
    assert len(ses_proxy.actions("SendEmail")) == 1


@pytest.mark.parametrize(("email_format", "action"), [("text", "SendEmail"), ("text+html", "SendRawEmail")])
def test_a_denied_send_names_the_permission_the_call_needs(
    tmp_path: Path, moto: str, ses_proxy: SesProxy, capsys: pytest.CaptureFixture[str], email_format: str,
    action: str,
) -> None:
    """A role allowed only ses:SendEmail was told to grant ses:SendEmail when SendRawEmail was refused."""
    verify_sender(moto)
    ses_proxy.rules[action] = lambda f, n: ("error", 403, "AccessDenied", "not authorized to perform this action")
    assert send(write_env(tmp_path, ses_proxy.url, EMAIL_FORMAT=email_format)) == 69
    err = capsys.readouterr().err
    assert (f"send_exec_reports: ceo: SES refused (AccessDenied): the AWS credentials may not call ses:{action}; "
            "grant it in IAM\n") in err
    assert len(ses_proxy.actions(action)) == 1 and moto_messages(moto) == []


def test_one_rejected_report_does_not_stop_the_others(tmp_path: Path, moto: str, ses_proxy: SesProxy,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    verify_sender(moto)
    ses_proxy.rules["SendEmail"] = lambda fields, n: (
        ("error", 400, "MessageRejected", "Illegal header.") if "CMO" in fields["Message.Subject.Data"] else None
    )
    assert send(write_env(tmp_path, ses_proxy.url)) == 69
    err = capsys.readouterr().err
    assert "send_exec_reports: cmo: SES rejected the message (MessageRejected): Illegal header.\n" in err
    assert err.endswith("2026-W47: sent 7 (ceo, cto, cfo, accounting, rental, yacht, agency); "
                        "skipped as already sent 0; failed 1 (cmo)\n")
    assert len(moto_messages(moto)) == 7
    ledger = json.loads((tmp_path / "archive" / "2026-W47" / "ledger.json").read_text())
    assert ledger["cmo"]["state"] == "failed"
    # a rerun (the problem fixed) sends just that one
    ses_proxy.rules.clear()
    assert send(write_env(tmp_path, ses_proxy.url)) == 0
    assert "sent 1 (cmo); skipped as already sent 7" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"SES_FROM_ADDRESS": ""}, "SES_FROM_ADDRESS is not set in {env}; set it (see repos.env.example)"),
        ({"EXEC_REPORT_BCC": ""}, "EXEC_REPORT_BCC is not set in {env}; set it (see repos.env.example)"),
        ({"ARCHIVE_DIR": ""}, "ARCHIVE_DIR is not set; set it to a folder for the send ledger and archive (or to s3://bucket/prefix)"),
        ({"EXEC_REPORT_TO": "owner@example.com, not-an-address"},
         "EXEC_REPORT_TO: 'not-an-address' is not an email address; write it like reports@example.com"),
        ({"SES_FROM_ADDRESS": "a@example.com, b@example.com"}, "SES_FROM_ADDRESS must be one address, got 2"),
        ({"EXEC_REPORT_TO": '"owner@example.com\\nBcc: evil@example.com"'},
         "EXEC_REPORT_TO holds a line break; write the addresses on one line, comma-separated"),
    ],
)
def test_bad_settings_send_nothing(tmp_path: Path, moto: str, ses_proxy: SesProxy, overrides: dict[str, str],
                                   message: str, capsys: pytest.CaptureFixture[str]) -> None:
    verify_sender(moto)
    env = write_env(tmp_path, ses_proxy.url, **overrides)
    assert send(env) == 78
    assert capsys.readouterr().err == f"send_exec_reports: {message.format(env=env)}\n"
    assert ses_proxy.seen == []  # not even SES was asked


def test_bad_input_sends_nothing(tmp_path: Path, moto: str, ses_proxy: SesProxy,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    verify_sender(moto)
    handoffs = tmp_path / "handoffs"
    handoffs.mkdir()
    (handoffs / "a.md").write_text("---\nentity: A\nstatus: active\nupdated: 2026-11-20\n---\n")
    (handoffs / "b.md").write_text("---\nentity: B\nstatus: sleeping\nupdated: 2026-11-20\n---\n")
    env = write_env(tmp_path, ses_proxy.url, HANDOFF_DIR="handoffs")
    assert send(env, "--only", "ceo") == 65
    assert "b.md:3: status is text 'sleeping'; use one of" in capsys.readouterr().err
    assert ses_proxy.seen == []


def test_a_template_mistake_in_rows_beyond_the_cut_sends_nothing(tmp_path: Path, moto: str, ses_proxy: SesProxy,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """A send renders every report whole, uncut lists included, before the first is sent."""
    from .test_rendering import LATE_MISTAKE

    verify_sender(moto)
    reports = tmp_path / "reports"
    shutil.copytree(EXAMPLES.parent / "reports", reports)
    (reports / "zz.md").write_text(LATE_MISTAKE, encoding="utf-8")  # rendered last, after the eight
    env = write_env(tmp_path, ses_proxy.url, REPORTS_DIR=str(reports))
    assert send(env) == 78
    assert "zz.md:8: template error (ZeroDivisionError" in capsys.readouterr().err
    assert ses_proxy.seen == [] and not (tmp_path / "archive" / "2026-W47").exists()


def test_a_template_reaching_for_python_sends_nothing(tmp_path: Path, moto: str, ses_proxy: SesProxy,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """The sandbox refuses a template's reach for Python while rendering, before the first email."""
    verify_sender(moto)
    reports = tmp_path / "reports"
    shutil.copytree(EXAMPLES.parent / "reports", reports)
    (reports / "zz.md").write_text("---\ntitle: Z\npersona: Z\nsubject: S\n---\n\n\n{{ cycler.__init__ }}\n")
    env = write_env(tmp_path, ses_proxy.url, REPORTS_DIR=str(reports))
    assert send(env) == 78
    assert "zz.md:8: template refused (access to attribute '__init__'" in capsys.readouterr().err
    assert ses_proxy.seen == [] and not (tmp_path / "archive" / "2026-W47").exists()


def test_lock_held_by_another_run_exits_75(tmp_path: Path, moto: str, ses_proxy: SesProxy) -> None:
    import fcntl

    verify_sender(moto)
    settings = ser.load_settings(str(write_env(tmp_path, ses_proxy.url)), dry_run=False)
    clock = FakeClock()  # the lock's 3 s wait on a fake clock: asserted, not waited
    sender = ser.SesSender(ser.ses_client(settings), sleep=clock.sleep, clock=clock)
    (tmp_path / "archive").mkdir()
    with open(tmp_path / "archive" / ".send_exec_reports.lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        held.write("pid 4242 since 2026-11-22T07:00:00+00:00\n")
        held.flush()
        delivery = ser.delivery_settings(settings, ("ceo", "cto"))
        delivery.archive = ser.FolderArchive(tmp_path / "archive", sleep=clock.sleep, clock=clock)
        with pytest.raises(ser.LockBusy) as busy:
            ser.deliver(reports("ceo", "cto"), "{}\n", delivery, sender, ser.Outcome(period="2026-W47"))
    assert str(busy.value) == (
        f"another run holds {tmp_path / 'archive' / '.send_exec_reports.lock'} "
        "(pid 4242 since 2026-11-22T07:00:00+00:00); waited 3 s. Try again when it has finished"
    )
    # it tried again every tenth of a second for the 3 s, then gave up
    assert set(clock.sleeps) == {0.1} and sum(clock.sleeps) == pytest.approx(3.0, abs=0.11)
    assert ses_proxy.actions("SendEmail") == []
    assert not (tmp_path / "archive" / "2026-W47").exists()
    assert busy.value.status == 75  # main's exit code; a real second run: test_two_runs_started_together_...


def app_with_env(tmp_path: Path, endpoint: str) -> Path:
    """The tool installed in its own folder with a repos.env beside it."""
    script = install_copy(tmp_path / "app", examples=False)
    write_env(script.parent, endpoint)
    return script


def start(script: Path, *args: str) -> subprocess.Popen[str]:
    """Start a real send as a child process, as cron would."""
    return subprocess.Popen(
        tool_command(script, "--as-of", "2026-11-22", *args), cwd="/", env={},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def test_two_runs_started_together_one_sends_one_exits_75(same_place: Path, moto: str, ses_proxy: SesProxy) -> None:
    import threading

    verify_sender(moto)
    # the first message is held at the proxy until one run has given up: the winner is
    # mid-send for as long as the loser waits, however slow the machine
    gate = threading.Event()
    ses_proxy.rules["SendEmail"] = lambda fields, n: (gate.wait(60), None)[1]
    script = app_with_env(same_place, ses_proxy.url)
    runs = [start(script), start(script)]
    wait_for(lambda: any(p.poll() is not None for p in runs), timeout=60)
    gate.set()
    results = [(p.wait(timeout=60), p.communicate()[1]) for p in runs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 75], results
    loser = next(err for code, err in results if code == 75)
    assert "another run holds" in loser and "Try again when it has finished" in loser
    assert sorted(subjects(moto)) == sorted(subject_of(i) for i in IDS)


def wait_for(condition, timeout: float = 30) -> None:
    """Poll until condition() is true."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def ledger_states(tmp_path: Path) -> dict[str, str]:
    """report id -> state in the app's ledger."""
    path = tmp_path / "app" / "archive" / "2026-W47" / "ledger.json"
    try:
        return {k: v["state"] for k, v in json.loads(path.read_text()).items()}
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def test_killed_run_then_rerun_sends_exactly_the_missing_ones(same_place: Path, moto: str, ses_proxy: SesProxy,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    verify_sender(moto)
    # 3 recipients at 0.5 a second: 6 s between messages, so the kill lands while the run
    # waits to send the second, never between SES taking a message and the ledger saying so
    # (the test waits only for the first: the long gap is margin for a loaded machine)
    ses_proxy.quota = (0.5, 50000.0)
    script = app_with_env(same_place, ses_proxy.url)
    first = start(script)
    wait_for(lambda: list(ledger_states(same_place).values()).count("sent") >= 1)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    done = [k for k, v in ledger_states(same_place).items() if v == "sent"]
    assert 1 <= len(done) < 8
    assert set(ledger_states(same_place).values()) == {"sent"}  # killed while waiting: nothing left 'sending'
    ses_proxy.quota = (100.0, 50000.0)  # the rerun need not wait
    assert sorted(subjects(moto)) == sorted(subject_of(i) for i in done)

    # the killed run is the real process; the rerun, in-process, reads the same repos.env and archive
    assert send(script.parent / "repos.env") == 0
    rest = [i for i in IDS if i not in done]
    assert capsys.readouterr().err.endswith(
        f"2026-W47: sent {len(rest)} ({', '.join(rest)}); skipped as already sent {len(done)} "
        f"({', '.join(i for i in IDS if i in done)}); failed 0\n"
    )
    assert sorted(subjects(moto)) == sorted(subject_of(i) for i in IDS)  # every report exactly once


def test_outcome_unknown_is_reported_not_resent(same_place: Path, moto: str, ses_proxy: SesProxy,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    verify_sender(moto)
    # SES takes the third message, then the run dies before it hears back
    ses_proxy.rules["SendEmail"] = lambda fields, n: ("hang",) if n == 3 else None
    script = app_with_env(same_place, ses_proxy.url)
    first = start(script)
    assert ses_proxy.hung.wait(30)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    assert ledger_states(same_place)["cfo"] == "sending"
    ses_proxy.rules.clear()

    # the killed run is the real process; the reruns, in-process, read the same repos.env and archive
    assert send(script.parent / "repos.env") == 69
    again = capsys.readouterr().err
    assert ("cfo: outcome unknown: it was handed to SES at 2026-" in again
            and "that run's log names the MessageId if SES took it); " in again
            and "check the BCC copy in admin@example.com, then resend with --force --only cfo if it did not "
            "arrive" in again)
    assert again.endswith("failed 1 (cfo)\n")
    assert subjects(moto).count(subject_of("cfo")) == 1  # not resent silently
    assert len(moto_messages(moto)) == 8

    assert send(script.parent / "repos.env", "--force", "--only", "cfo") == 0, capsys.readouterr().err
    assert subjects(moto).count(subject_of("cfo")) == 2


def test_cron_empty_environment_from_another_directory(same_place: Path, moto: str, ses_proxy: SesProxy) -> None:
    verify_sender(moto)
    script = app_with_env(same_place, ses_proxy.url)
    home = same_place / "home"
    home.mkdir()
    result = subprocess.run([sys.executable, str(script), "--as-of", "2026-11-22"], cwd=home, env={},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    # cron's log: the one summary line, opening with the UTC time and the period, as tail cron.log shows it
    summary = f"send_exec_reports: 2026-W47: sent 8 ({', '.join(IDS)}); skipped as already sent 0; failed 0\n"
    assert re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z 2026-W47 " + re.escape(summary),
                        result.stderr), result.stderr
    assert (script.parent / "archive" / "2026-W47" / "ledger.json").is_file()  # relative to repos.env, not $HOME
    assert not (home / "archive").exists()
    assert len(moto_messages(moto)) == 8


def test_check_with_aws(tmp_path: Path, moto: str, ses_proxy: SesProxy, capsys: pytest.CaptureFixture[str]) -> None:
    ses_proxy.quota = None  # moto's own quota: 200 a day, 1 a second (the sandbox's)
    env = write_env(tmp_path, ses_proxy.url)
    assert send(env, "--check") == 78
    captured = capsys.readouterr()
    assert "Account: in the SES sandbox" in captured.out
    assert "check passed" not in captured.out and "valid" not in captured.out
    assert captured.err.splitlines() == [
        SKIPPED,  # --check names the sample's README, which has no front matter
        "send_exec_reports: SES_FROM_ADDRESS reports@example.com is not verified in SES (us-west-2): verify the "
        "address or its domain in the SES console",
        "send_exec_reports: check failed: in the SES sandbox, SES refuses mail to unverified recipients: "
        "owner@example.com, partner@example.com, admin@example.com; verify them (or their domain) in SES, or ask "
        "AWS for production access (and 1 more above)",
    ]

    verify_sender(moto)
    ses_proxy.account = {"ProductionAccessEnabled": True, "SendingEnabled": True}
    assert send(env, "--check") == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        "Sender reports@example.com: verified in SES (us-west-2)",
        "Send quota: 1 a second, 200 of 200 left today",
        "Account: production access (out of the sandbox)",
        "check passed: 8 reports for 2026-W47 from 11 handoffs (1 Markdown file without front matter skipped, "
        "named on stderr); settings, inputs and SES ready",
    ]
    assert captured.err.splitlines() == [SKIPPED]
    assert ses_proxy.actions("SendEmail") == []
    assert not (tmp_path / "archive" / "2026-W47").exists()


def test_check_in_the_sandbox_names_each_unverified_recipient(tmp_path: Path, moto: str, ses_proxy: SesProxy,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    ses_proxy.quota = None
    verify_sender(moto)
    verify_sender(moto, "owner@example.com")
    aws("ses", moto).verify_domain_identity(Domain="board.example.org")  # a verified domain covers its addresses
    env = write_env(tmp_path, ses_proxy.url, EXEC_REPORT_TO_CFO="cfo@board.example.org, treasurer@example.net")
    assert send(env, "--check") == 78
    captured = capsys.readouterr()
    assert captured.err == SKIPPED + "\n" + (
        "send_exec_reports: check failed: in the SES sandbox, SES refuses mail to unverified recipients: "
        "partner@example.com, admin@example.com, treasurer@example.net; verify them (or their domain) in SES, "
        "or ask AWS for production access\n"
    )
    asked = {v for f in ses_proxy.actions("GetIdentityVerificationAttributes") for k, v in f.items()
             if k.startswith("Identities.member.")}
    assert {"cfo@board.example.org", "treasurer@example.net", "admin@example.com"} <= asked

    for address in ("partner@example.com", "admin@example.com", "treasurer@example.net"):
        verify_sender(moto, address)
    assert send(env, "--check") == 0
    captured = capsys.readouterr()
    assert "Recipients: all 5 verified in SES" in captured.out
    assert captured.out.splitlines()[-1].startswith("check passed: 8 reports for 2026-W47 from 11 handoffs")


def test_check_without_credentials_fails_with_one_verdict(tmp_path: Path, moto: str, ses_proxy: SesProxy,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    env = write_env(tmp_path, ses_proxy.url, AWS_ACCESS_KEY_ID="", AWS_SECRET_ACCESS_KEY="")
    assert send(env, "--check") == 78
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == SKIPPED + "\n" + (
        "send_exec_reports: check failed: no AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY, or run where an instance role provides them\n"
    )


def test_check_of_bad_input_gives_one_verdict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    handoffs = tmp_path / "handoffs"
    handoffs.mkdir()
    (handoffs / "a.md").write_text("---\nentity: A\nstatus: sleeping\nupdated: 2026-11-20\n---\n")
    env = tmp_path / "repos.env"
    env.write_text("HANDOFF_DIR=handoffs\n")
    assert ser.main(["--env-file", str(env), "--dry-run", "--check", "--as-of", "2026-11-22"]) == 65
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines()[-1] == "send_exec_reports: check failed: bad input (1 error, above)"
    (handoffs / "a.md").write_text("---\nentity: A\nstatus: active\nupdated: 2026-11-20\n---\n")
    assert ser.main(["--env-file", str(env), "--dry-run", "--check", "--as-of", "2026-11-22", "--only", "ceo"]) == 0
    assert capsys.readouterr().out == (
        "check passed: 1 report for 2026-W47 from 1 handoff; settings and inputs valid (SES not asked: --dry-run); "
        "a send also needs SES_FROM_ADDRESS, EXEC_REPORT_TO, EXEC_REPORT_BCC, ARCHIVE_DIR\n"
    )
    env.write_text("HANDOFF_DIR=handoffs\nSES_FROM_ADDRESS=r@example.com\nEXEC_REPORT_TO=o@example.com\n"
                   "EXEC_REPORT_BCC=a@example.com\nARCHIVE_DIR=archive\n")
    assert ser.main(["--env-file", str(env), "--dry-run", "--check", "--as-of", "2026-11-22", "--only", "ceo"]) == 0
    assert capsys.readouterr().out.endswith("settings and inputs valid (SES not asked: --dry-run)\n")
    assert not (tmp_path / "archive").exists()  # a dry run writes nothing


def test_a_report_with_its_own_readers_and_the_bcc_on_every_report(tmp_path: Path, moto: str,
                                                                    ses_proxy: SesProxy) -> None:
    verify_sender(moto)
    env = write_env(tmp_path, ses_proxy.url, EXEC_REPORT_TO_CFO="cfo@example.com, bookkeeper@example.com")
    assert send(env) == 0
    by_subject = {m["subject"]: m["destinations"] for m in moto_messages(moto)}
    assert len(by_subject) == 8
    for report_id in IDS:
        to = (["cfo@example.com", "bookkeeper@example.com"] if report_id == "cfo"
              else ["owner@example.com", "partner@example.com"])
        assert by_subject[subject_of(report_id)] == {"ToAddresses": to, "BccAddresses": ["admin@example.com"]}
    archived = (tmp_path / "archive" / "2026-W47" / "cfo.txt").read_text().splitlines()[1:3]
    assert archived == ["To: cfo@example.com, bookkeeper@example.com", "Bcc: admin@example.com"]


def test_a_report_reader_setting_from_the_environment_and_the_dry_run_shows_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("EXEC_REPORT_TO_AGENCY", "agency@example.com")
    env = write_env(tmp_path, "http://127.0.0.1:9")
    assert send(env, "--dry-run", "--only", "agency,ceo") == 0
    out = capsys.readouterr().out
    assert "To: agency@example.com\nBcc: admin@example.com\nSubject: Executive Report: DangerousCentaur" in out
    assert "To: owner@example.com, partner@example.com\nBcc: admin@example.com\nSubject: Executive Report: CEO" in out


@pytest.mark.parametrize(("name", "value", "message"), [
    ("EXEC_REPORT_TO_CF0", "cfo@example.com",
     "EXEC_REPORT_TO_CF0 names no report (the reports are accounting, agency, ceo, cfo, cmo, cto, rental, yacht); "
     "fix the name, e.g. EXEC_REPORT_TO_ACCOUNTING, or remove it"),
    ("EXEC_REPORT_TO_CFO", "cfo@example.com, nobody",
     "EXEC_REPORT_TO_CFO: 'nobody' is not an email address; write it like reports@example.com"),
])
def test_a_bad_report_reader_setting_sends_nothing(tmp_path: Path, moto: str, ses_proxy: SesProxy, name: str,
                                                   value: str, message: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    verify_sender(moto)
    assert send(write_env(tmp_path, ses_proxy.url, **{name: value})) == 78
    assert capsys.readouterr().err == f"send_exec_reports: {message}\n"
    assert ses_proxy.seen == []
    assert send(write_env(tmp_path, ses_proxy.url, **{name: value}), "--dry-run") == 78


def test_a_test_send_goes_to_one_address_and_leaves_the_ledger(tmp_path: Path, moto: str, ses_proxy: SesProxy,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    verify_sender(moto)
    env = write_env(tmp_path, ses_proxy.url, EXEC_REPORT_TO_CFO="cfo@example.com")
    assert send(env, "--to", "me@example.com", "--only", "ceo,CFO") == 0
    assert capsys.readouterr().err == (
        "send_exec_reports: test send to me@example.com: sent 2 (ceo, cfo); failed 0; "
        "the ledger of 2026-W47 is untouched\n"
    )
    messages = moto_messages(moto)
    assert [m["subject"] for m in messages] == [subject_of("ceo"), subject_of("cfo")]
    assert all(m["destinations"] == {"ToAddresses": ["me@example.com"], "BccAddresses": []} for m in messages)
    assert not (tmp_path / "archive" / "2026-W47").exists()
    # the weekly send still sends everything
    assert send(env) == 0
    assert "2026-W47: sent 8 (" in capsys.readouterr().err
    assert len(moto_messages(moto)) == 10


def test_a_test_send_needs_only_the_sender(tmp_path: Path, moto: str, ses_proxy: SesProxy) -> None:
    verify_sender(moto)
    env = write_env(tmp_path, ses_proxy.url, EXEC_REPORT_TO="", EXEC_REPORT_BCC="", ARCHIVE_DIR="")
    assert send(env, "--to", "me@example.com", "--only", "cto") == 0
    assert [m["destinations"]["ToAddresses"] for m in moto_messages(moto)] == [["me@example.com"]]
    assert send(env, "--only", "cto") == 78  # the weekly send still needs them


# --- a cut report carries its uncut text as an attachment ----------------------------------


CUT_HANDOFFS = 23  # the smallest generated portfolio whose CEO report is cut (and no other report)


def cut_portfolio(tmp_path: Path, endpoint: str, **overrides: str) -> Path:
    """A repos.env sending bench/'s generated portfolio of CUT_HANDOFFS handoffs through `endpoint`."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from make_portfolio import generate
    finally:
        sys.path.remove(str(ROOT / "bench"))
    generate(tmp_path / "portfolio", CUT_HANDOFFS, 9)
    return write_env(tmp_path, endpoint, HANDOFF_DIR=str(tmp_path / "portfolio" / "handoffs"),
                     DYNAMODB_EXPORT_DIR=str(tmp_path / "portfolio" / "dynamodb"), **overrides)


def parse_raw(entry: dict[str, object]) -> email.message.EmailMessage:
    """A raw message moto's SES took, parsed; its header holds no Bcc and no BCC address anywhere."""
    raw = str(entry["raw_data"])
    assert not re.search(r"^bcc:", raw.split("\r\n\r\n", 1)[0], re.M | re.I) and "admin@example.com" not in raw
    assert "admin@example.com" in entry["destinations"]  # the BCC: an envelope destination only
    return email.message_from_string(raw, policy=email.policy.default)


def flat(text: str) -> str:
    """Text with its line wrapping undone."""
    return " ".join(text.split())


@pytest.mark.parametrize("fmt", ["text", "text+html"])
def test_a_cut_report_carries_its_uncut_text_as_an_attachment(tmp_path: Path, moto: str, ses_proxy: SesProxy,
                                                              fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A reader opens the whole list from the email: the archive's uncut text attached, the BCC still hidden."""
    verify_sender(moto)
    env = cut_portfolio(tmp_path, ses_proxy.url, EMAIL_FORMAT=fmt)
    assert send(env, "--dry-run", "--only", "ceo") == 0
    dry = capsys.readouterr().out
    assert send(env, "--dry-run", "--full", "--only", "ceo") == 0
    dry_full = capsys.readouterr().out
    assert send(env, "--only", "ceo,cfo") == 0
    assert "sent 2 (ceo, cfo)" in capsys.readouterr().err
    folder = tmp_path / "archive" / "2026-W47"
    sent_text = (folder / "ceo.txt").read_text(encoding="utf-8").split("\n\n", 1)[1]
    uncut = (folder / "ceo.full.txt").read_bytes()
    assert uncut.count(b"\n") > ser.MAX_LINES >= sent_text.count("\n")
    # the text names the attachment, not a path in the archive; the dry run shows that text, --full the uncut
    assert "more: the whole list is in the attached ceo-full.txt." in flat(sent_text)
    assert ".full.txt" not in sent_text and "archive as" not in flat(sent_text)
    assert dry.endswith(sent_text) and dry_full.endswith(uncut.decode("utf-8"))

    raws = raw_messages(moto)
    ceo = parse_raw(raws[0])
    request = ses_proxy.actions("SendRawEmail")[0]  # what SES was asked: the BCC among the destinations
    assert [v for k, v in sorted(request.items()) if k.startswith("Destinations.member.")] == [
        "owner@example.com", "partner@example.com", "admin@example.com"]
    assert ceo.get_content_type() == "multipart/mixed"
    body, attachment = ceo.get_payload()
    if fmt == "text+html":  # the alternative whole, as an uncut report's, then the attachment
        assert body.get_content_type() == "multipart/alternative"
        text, page = body.get_payload()
        html = page.get_payload(decode=True).decode("utf-8").replace("\r\n", "\n")
        assert html == (folder / "ceo.html").read_text(encoding="utf-8")
        assert "the whole list is in the attached ceo-full.txt." in flat(html)
    else:
        text = body
        assert not (folder / "ceo.html").exists()
    assert text.get_content_type() == "text/plain" and not text.is_attachment()
    assert text.get_payload(decode=True) == sent_text.replace("\n", "\r\n").encode("utf-8")  # CRLF on the wire
    assert attachment.is_attachment() and attachment.get_filename() == "ceo-full.txt"
    assert (attachment.get_content_type(), attachment.get_content_charset()) == ("text/plain", "utf-8")
    assert attachment.get_payload(decode=True) == uncut  # byte for byte what the archive keeps

    # a report that is not cut goes as before: SendEmail for text, no attachment either way
    if fmt == "text":
        assert len(raws) == 1 and [m["body"] for m in moto_messages(moto)] == [
            (folder / "cfo.txt").read_text(encoding="utf-8").split("\n\n", 1)[1]]
        assert [len(ses_proxy.actions(a)) for a in ("SendRawEmail", "SendEmail")] == [1, 1]
    else:
        assert len(raws) == 2 and parse_raw(raws[1]).get_content_type() == "multipart/alternative"
        assert not (folder / "cfo.full.txt").exists()
    ledger = json.loads((folder / "ledger.json").read_text())
    assert {k: v["state"] for k, v in ledger.items()} == {"ceo": "sent", "cfo": "sent"}  # one message a report
    assert ledger["ceo"]["message_id"] == raws[0]["id"]


@pytest.mark.parametrize("fmt", ["text", "text+html"])
def test_an_attachment_is_the_same_bytes_every_run_and_any_text_survives(fmt: str) -> None:
    """The message is a pure function (its boundaries are hashes), 7-bit, and carries any uncut text exactly."""
    uncut = "Café — €5 ✓\n=_ -- boundary-like lines\n--=_x\n\tno final line end"
    report = ser.RenderedReport(id="ceo", subject="Executive Report: CEO — 2026-W47", text="Café, cut\n",
                                full_text=uncut, markdown="Café, cut\n", attachment="ceo-full.txt")
    raw = ser.build_mime(report, SENDER, ["owner@example.com"], ["admin@example.com"], fmt)
    assert raw == ser.build_mime(report, SENDER, ["owner@example.com"], ["admin@example.com"], fmt)
    assert raw.isascii() and all(len(line) <= 78 for line in raw.split(b"\r\n")) and b"admin@" not in raw
    message = email.message_from_bytes(raw, policy=email.policy.default)
    (attachment,) = message.iter_attachments()
    assert attachment.get_payload(decode=True) == uncut.encode("utf-8")
    assert message.get_body(("plain",)).get_content() == "Café, cut\r\n"
    assert ser.build_mime(dataclasses.replace(report, attachment=None), SENDER, ["owner@example.com"], [], fmt) \
        .count(b"ceo-full.txt") == 0


def test_a_test_send_of_a_cut_report_carries_the_attachment(tmp_path: Path, moto: str, ses_proxy: SesProxy) -> None:
    """--to shows the reader what the weekly send will: the attachment too, to that one address, no BCC."""
    verify_sender(moto)
    env = cut_portfolio(tmp_path, ses_proxy.url)
    assert send(env, "--to", "me@example.com", "--only", "ceo") == 0
    assert not (tmp_path / "archive" / "2026-W47").exists()
    (entry,) = raw_messages(moto)
    (request,) = ses_proxy.actions("SendRawEmail")
    assert {k: v for k, v in request.items() if k.startswith("Destinations")} == {
        "Destinations.member.1": "me@example.com"}
    message = email.message_from_string(str(entry["raw_data"]), policy=email.policy.default)
    assert message["To"] == "me@example.com" and "admin@example.com" not in str(entry["raw_data"])
    (attachment,) = message.iter_attachments()
    assert send(env, "--only", "ceo") == 0  # the weekly send attaches the same text the archive keeps
    assert attachment.get_payload(decode=True) == (tmp_path / "archive" / "2026-W47" / "ceo.full.txt").read_bytes()
    assert attachment.get_filename() == "ceo-full.txt" and len(raw_messages(moto)) == 2


@pytest.mark.parametrize("fmt", ["text", "text+html"])
def test_an_attachment_past_ses_size_limit_is_left_in_the_archive(tmp_path: Path, moto: str, ses_proxy: SesProxy,
                                                                  fmt: str, monkeypatch: pytest.MonkeyPatch,
                                                                  logged: list[str]) -> None:
    """SES takes 10 MB at most: a message the attachment would make larger goes without it, and says so."""
    env = cut_portfolio(tmp_path, ses_proxy.url, EMAIL_FORMAT=fmt)
    settings = ser.load_settings(str(env), dry_run=False)
    delivery = ser.delivery_settings(settings, ["ceo"])
    portfolio = ser.read_handoffs(tmp_path / "portfolio" / "handoffs")
    metrics = ser.compute_metrics(
        portfolio, ser.read_tables(ser.table_needs(portfolio), tmp_path / "portfolio" / "dynamodb"), AS_OF)
    (report,) = ser.render_all([t for t in ser.load_reports() if t.id == "ceo"], metrics)
    raw = ser.raw_message(report, delivery)
    assert ser.SES_MAX_MESSAGE_BYTES == 10_000_000  # SES's own bound, attachments included
    # at the bound the attachment goes
    monkeypatch.setattr(ser, "SES_MAX_MESSAGE_BYTES", len(raw))
    assert ser.outgoing(report, delivery, "2026-W47") == (report, raw) and logged == []
    # one byte past it, the report goes without it, its text naming the archive's copy
    monkeypatch.setattr(ser, "SES_MAX_MESSAGE_BYTES", len(raw) - 1)
    alone, alone_raw = ser.outgoing(report, delivery, "2026-W47")
    assert alone.attachment is None and alone.full_text == report.full_text
    assert "the whole list is too large to attach: it is in the archive as 2026-W47/ceo.full.txt." in flat(alone.text)
    assert "attached" not in alone.text and alone.text.count("\n") <= ser.MAX_LINES
    assert logged == [
        f"ceo: the message with the uncut text attached would be {len(raw):,} bytes, more than SES takes "
        f"({len(raw) - 1:,}): sent without it; the report says the whole list is in the archive (2026-W47/ceo.full.txt)"]
    if fmt == "text":  # nothing attached: a plain SendEmail, as a report that was not cut
        assert alone_raw is None
    else:
        assert email.message_from_bytes(alone_raw).get_content_type() == "multipart/alternative"

    # a real send: the archive keeps the uncut text and the text as it went out
    verify_sender(moto)
    assert send(env, "--only", "ceo") == 0
    folder = tmp_path / "archive" / "2026-W47"
    assert (folder / "ceo.txt").read_text(encoding="utf-8").split("\n\n", 1)[1] == alone.text
    assert (folder / "ceo.full.txt").read_text(encoding="utf-8") == report.full_text
    went = [m["body"] for m in moto_messages(moto)] + [m["raw_data"] for m in raw_messages(moto)]
    assert len(went) == 1 and len(ses_proxy.actions("SendRawEmail")) == (fmt == "text+html")
    assert "too large to attach" in str(went) and "ceo-full.txt" not in str(went)


def test_status_shows_the_ledger_of_the_period(tmp_path: Path, moto: str, ses_proxy: SesProxy,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    verify_sender(moto)
    env = write_env(tmp_path, ses_proxy.url)
    assert send(env, "--status") == 0
    ledger_path = tmp_path / "archive" / "2026-W47" / "ledger.json"
    assert capsys.readouterr().out == (
        f"2026-W47: nothing recorded ({ledger_path} does not exist: no report was sent for this period)\n"
    )
    ses_proxy.rules["SendEmail"] = lambda fields, n: (
        ("error", 400, "MessageRejected", "Illegal header.") if "CMO" in fields["Message.Subject.Data"] else None
    )
    assert send(env, "--only", "ceo,cmo") == 69
    capsys.readouterr()
    assert ser.main(["--env-file", str(env), "--status", "--as-of", "2026-11-17"]) == 0  # same ISO week
    lines = capsys.readouterr().out.splitlines()
    ledger = json.loads(ledger_path.read_text())
    assert lines[0] == f"2026-W47 ({ledger_path}):"
    assert lines[1].split() == ["report", "state", "at", "(UTC)", "delivery", "MessageId", "or", "problem"]
    assert lines[2].split() == ["ceo", "sent", ledger["ceo"]["at"], "no", "news", "MessageId",
                                ledger["ceo"]["message_id"]]
    assert lines[3].split()[:3] == ["cmo", "failed", ledger["cmo"]["at"]]
    assert lines[3].endswith("SES rejected the message (MessageRejected): Illegal header.")
    assert len(lines) == 4
    assert ses_proxy.actions("SendEmail")[2:] == []  # --status sends nothing


def test_on_a_terminal_each_report_is_shown_as_it_goes_out(same_place: Path, moto: str, ses_proxy: SesProxy) -> None:
    verify_sender(moto)
    ses_proxy.quota = (1.5, 50000.0)  # 2 s between messages: a wait long enough to be shown while it runs
    script = app_with_env(same_place, ses_proxy.url)
    result, shown = run_on_terminal([sys.executable, str(script), "--as-of", "2026-11-22", "--only", "ceo,cfo"],
                                    cwd="/", env={}, stdout=subprocess.PIPE, timeout=60)
    assert result.returncode == 0
    lines = shown.decode().replace("\r\n", "\n").splitlines()
    assert re.fullmatch(r"send_exec_reports: waiting [0-2]\.[0-9] s for SES's send rate", lines.pop(2)), lines
    assert lines == [
        SKIPPED,  # on a terminal, the Markdown files that are not handoffs are named
        "send_exec_reports: ceo: sent to 3 recipients (1 of 2)",
        "send_exec_reports: cfo: sent to 3 recipients (2 of 2)",
        "send_exec_reports: 2026-W47: sent 2 (ceo, cfo); skipped as already sent 0; failed 0",
    ]


def test_status_shows_a_hostile_ledger_without_obeying_it(tmp_path: Path) -> None:
    import json as _json

    folder = tmp_path / "archive" / "2026-W47"
    folder.mkdir(parents=True)
    (folder / "ledger.json").write_text(_json.dumps({
        "ceo": {"state": "failed", "at": "2026-11-23T07:00:00+00:00", "error": "\x1b]0;owned\x07\x1b[2J gone"},
    }))
    text = ser.show_status(ser.FolderArchive(tmp_path / "archive"), "2026-W47")
    assert "\x1b" not in text and "\x07" not in text
    assert "\u241b]0;owned\u2407\u241b[2J gone" in text


# ---------------------------------------------------------------------------
# A test send and a failure that stops every send


def test_a_test_send_stops_at_a_failure_that_stops_every_send(tmp_path: Path, moto: str, ses_proxy,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """Found by planting a bug: a test send stops at a failure that stops every send (sending paused), not trying the other seven."""
    verify_sender(moto)
    ses_proxy.rules["SendEmail"] = lambda f, n: (
        "error", 400, "AccountSendingPausedException", "Email sending is disabled for this account."
    )
    assert send(write_env(tmp_path, ses_proxy.url), "--to", "me@example.com") == 69
    err = capsys.readouterr().err
    assert len(ses_proxy.actions("SendEmail")) == 1  # no use trying the other seven
    assert "ceo: SES refused (AccountSendingPausedException): sending is paused" in err
    assert err.endswith("test send to me@example.com: sent 0; failed 8 (ceo, cto, cfo, cmo, accounting, rental, "
                        "yacht, agency); the ledger of 2026-W47 is untouched\n")
