"""Delivery when things go wrong in ways SES, the disk or the settings can: nothing twice, nothing lost."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from .conftest import SesProxy, as_on_a_terminal, moto_messages, tool_command
from .test_delivery import IDS, send, subject_of, subjects, verify_sender, write_env


def ledger(tmp_path: Path) -> dict[str, dict[str, str]]:
    """The period's ledger."""
    return json.loads((tmp_path / "archive" / "2026-W47" / "ledger.json").read_text())


@pytest.mark.parametrize(
    ("verdict", "said"),
    [
        (("after", 500, "InternalFailure", "oops"), "SES answered HTTP 500 (InternalFailure): the message may have gone out"),
        (("after", 504, "504", "Gateway Timeout"), "SES answered HTTP 504 (504): the message may have gone out"),
        (("garbage",), "no usable answer from SES after sending"),
    ],
)
def test_an_unclear_answer_after_sending_is_never_retried(tmp_path: Path, moto: str, ses_proxy: SesProxy,
                                                          verdict: tuple, said: str,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    verify_sender(moto)
    ses_proxy.rules["SendEmail"] = lambda fields, n: verdict if n == 3 else None
    env = write_env(tmp_path, ses_proxy.url)
    assert send(env) == 69
    err = capsys.readouterr().err
    assert f"cfo: {said}" in err
    assert "cmo: not sent: an earlier send failed in a way that stops the run" in err
    assert len(ses_proxy.actions("SendEmail")) == 3  # not retried, and the rest held back
    assert subjects(moto).count(subject_of("cfo")) == 1  # SES did take it
    assert ledger(tmp_path)["cfo"]["state"] == "sending"  # so the next run will not resend it

    ses_proxy.rules.clear()
    assert send(env) == 69
    err = capsys.readouterr().err
    assert "cfo: outcome unknown" in err
    assert err.endswith("sent 5 (cmo, accounting, rental, yacht, agency); skipped as already sent 2 (ceo, cto); "
                        "failed 1 (cfo)\n")
    assert sorted(subjects(moto)) == sorted(subject_of(i) for i in IDS)


def test_sandbox_rejects_recipients_not_the_sender(tmp_path: Path, moto: str, ses_proxy: SesProxy,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    verify_sender(moto)
    ses_proxy.rules["SendEmail"] = lambda fields, n: (
        "error", 400, "MessageRejected", "Email address is not verified. The following identities failed the "
        "check in region US-WEST-2: owner@example.com, partner@example.com",
    )
    assert send(write_env(tmp_path, ses_proxy.url)) == 69
    assert ("ceo: SES rejected unverified recipients (owner@example.com, partner@example.com): the account is in "
            "the SES sandbox; verify them in SES or request production access") in capsys.readouterr().err
    assert len(ses_proxy.actions("SendEmail")) == 1


def test_archive_that_cannot_be_written_stops_cleanly(tmp_path: Path, moto: str, ses_proxy: SesProxy,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    verify_sender(moto)
    (tmp_path / "archive" / "2026-W47" / "cfo.txt").mkdir(parents=True)  # in the way of the archive file
    assert send(write_env(tmp_path, ses_proxy.url)) == 69
    err = capsys.readouterr().err
    assert f"cfo: not sent: cannot write {tmp_path / 'archive' / '2026-W47'}/" in err
    assert err.endswith("2026-W47: sent 2 (ceo, cto); skipped as already sent 0; "
                        "failed 6 (cfo, cmo, accounting, rental, yacht, agency)\n")
    assert len(moto_messages(moto)) == 2
    assert not [p for p in (tmp_path / "archive" / "2026-W47").iterdir() if p.name.endswith(".tmp")]
    assert "cfo" not in ledger(tmp_path)


DAMAGED = ("nothing was sent. Compare it with the BCC copies of the period, then repair it or move it aside "
           "(without it every report of the period is sent again: use --only for the missing ones)")


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ('{"ceo": "sent"}', "entry 'ceo' is not a ledger record (state must be one of sending, sent, failed, posting, posted, pushing, pushed)"),
        ("[" * 100_000, "nested too deeply to be a ledger"),
        ('{"ceo": {"state": "sent", "at": "x"', "not valid JSON: Expecting ',' delimiter: line 1 column 36 (char 35)"),
        ("[]", "not a JSON object"),
        ('{"ceo": {"state": "sent", "message_id": {"a": 1}}}', "entry 'ceo': message_id is not text"),
        (b"{\"ceo\xff\": 1}", "'utf-8' codec can't decode byte 0xff in position 5: invalid start byte"),
        ("", "not valid JSON: Expecting value: line 1 column 1 (char 0)"),
    ],
)
def test_a_damaged_ledger_stops_before_sending(tmp_path: Path, moto: str, ses_proxy: SesProxy, content: str | bytes,
                                               why: str, capsys: pytest.CaptureFixture[str]) -> None:
    verify_sender(moto)
    path = tmp_path / "archive" / "2026-W47" / "ledger.json"
    path.parent.mkdir(parents=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    assert send(write_env(tmp_path, ses_proxy.url)) == 78
    assert capsys.readouterr().err == f"send_exec_reports: {path}: the send ledger is damaged ({why}); {DAMAGED}\n"
    assert ses_proxy.actions("SendEmail") == []


def test_a_lock_file_that_cannot_be_opened(tmp_path: Path, moto: str, ses_proxy: SesProxy,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    verify_sender(moto)
    lock = tmp_path / "archive" / ".send_exec_reports.lock"
    lock.mkdir(parents=True)
    assert send(write_env(tmp_path, ses_proxy.url)) == 78
    assert capsys.readouterr().err == (
        f"send_exec_reports: {lock}: cannot open the lock file (Is a directory); check ARCHIVE_DIR's permissions\n"
    )
    assert ses_proxy.actions("SendEmail") == []


def test_metrics_are_replaced_only_by_a_run_that_sends(tmp_path: Path, moto: str, ses_proxy: SesProxy) -> None:
    verify_sender(moto)
    env = write_env(tmp_path, ses_proxy.url)
    assert send(env) == 0
    metrics = tmp_path / "archive" / "2026-W47" / "metrics.json"
    assert [r["as_of"] for r in json.loads(metrics.read_text())["runs"].values()] == ["2026-11-22"]
    # a rerun later in the same week sends nothing and keeps the figures of what was sent
    assert ser_main(env, "--as-of", "2026-11-17") == 0
    assert [r["as_of"] for r in json.loads(metrics.read_text())["runs"].values()] == ["2026-11-22"]


def ser_main(env: Path, *args: str) -> int:
    """The command line with another as-of date."""
    import send_exec_reports as ser

    return ser.main(["--env-file", str(env), *args])


def test_no_credentials_is_a_configuration_error_before_any_send(tmp_path: Path, moto: str, ses_proxy: SesProxy,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    env = write_env(tmp_path, ses_proxy.url, AWS_ACCESS_KEY_ID="", AWS_SECRET_ACCESS_KEY="")
    assert send(env) == 78
    assert capsys.readouterr().err == (
        "send_exec_reports: no AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
        "or run where an instance role provides them; nothing was sent\n"
    )
    assert ses_proxy.seen == []


def test_refused_credentials_are_a_configuration_error(tmp_path: Path, moto: str, ses_proxy: SesProxy,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    ses_proxy.quota = None
    ses_proxy.rules["GetSendQuota"] = lambda f, n: ("error", 403, "SignatureDoesNotMatch", "canonical request: x")
    assert send(write_env(tmp_path, ses_proxy.url)) == 78
    err = capsys.readouterr().err
    assert err == ("send_exec_reports: SES refused the credentials (SignatureDoesNotMatch): the AWS secret key does "
                   "not match; check the credentials; nothing was sent\n")
    assert ses_proxy.actions("SendEmail") == []


def test_ses_unreachable_sends_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = write_env(tmp_path, "http://127.0.0.1:9")  # nothing listens there
    assert send(env) == 69
    assert capsys.readouterr().err == (
        "send_exec_reports: cannot reach SES (could not connect to http://127.0.0.1:9); nothing was sent. Check the "
        "network, AWS_REGION and AWS_ENDPOINT_URL\n"
    )
    assert not (tmp_path / "archive" / "2026-W47").exists()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://admin:S3cretPassw0rd@127.0.0.1:9", "AWS_ENDPOINT_URL holds a user name or password; remove them "
                                                     "(they would be logged)"),
        ("http://a:b@[::1", "AWS_ENDPOINT_URL is not a URL; write it like https://host:port"),
        ("ftp://127.0.0.1", "AWS_ENDPOINT_URL is not an http(s) URL; write it like https://host:port"),
    ],
)
def test_endpoint_credentials_are_refused_and_never_printed(tmp_path: Path, url: str, message: str,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert send(write_env(tmp_path, url, AWS_SECRET_ACCESS_KEY="VerySecretKey123")) == 78
    captured = capsys.readouterr()
    assert captured.err == f"send_exec_reports: {message}\n"
    for secret in ("S3cretPassw0rd", "VerySecretKey123"):
        assert secret not in captured.err + captured.out


def test_secrets_stay_out_of_every_message_of_a_failing_run(tmp_path: Path, moto: str, ses_proxy: SesProxy,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    verify_sender(moto)
    ses_proxy.rules["SendEmail"] = lambda f, n: ("error", 400, "MessageRejected", "Illegal header.")
    env = write_env(tmp_path, ses_proxy.url, AWS_ACCESS_KEY_ID="AKIAEXAMPLEKEYID0001",
                    AWS_SECRET_ACCESS_KEY="VerySecretKey123", AWS_SESSION_TOKEN="SessionTokenXYZ")
    assert send(env) == 69
    assert send(env, "--check") == 0
    captured = capsys.readouterr()
    for secret in ("AKIAEXAMPLEKEYID0001", "VerySecretKey123", "SessionTokenXYZ"):
        assert secret not in captured.err + captured.out
    archived = "".join(p.read_text() for p in (tmp_path / "archive").rglob("*") if p.is_file())
    assert "VerySecretKey123" not in archived


TOKEN, KEY = "Zq9SessionTok3n0123", "Wv8SecretAccessKey456"  # a session token and a secret key, met bare


def secret_env(tmp_path: Path, proxy: SesProxy) -> Path:
    """Send settings whose secret key and session token an AWS error may echo back on their own."""
    return write_env(tmp_path, proxy.url, AWS_SECRET_ACCESS_KEY=KEY, AWS_SESSION_TOKEN=TOKEN)


def shown_anywhere(tmp_path: Path, captured: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> str:
    """Everything a run showed or kept: its output, its log, and every file of its archive."""
    out = captured.readouterr()
    archived = "".join(p.read_text(errors="replace") for p in (tmp_path / "archive").rglob("*") if p.is_file())
    return out.out + out.err + caplog.text + archived


@pytest.mark.parametrize("where", ["message", "code", "at-the-cut"])
def test_an_ses_error_that_echoes_a_secret_on_its_own_never_shows_it(
        tmp_path: Path, moto: str, ses_proxy: SesProxy, capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture, where: str) -> None:
    """Found by planting a bug: a secret an AWS error quotes bare (not in a URL) was never tested; not a character of it shows."""
    import send_exec_reports as ser

    verify_sender(moto)
    echo = {"message": ("MessageRejected", f"Request signed with token {TOKEN} and key {KEY} refused"),
            "code": (f"Bad{TOKEN}", "refused"),
            # the secret straddles where a long message is cut: hidden before the cut, never half shown
            "at-the-cut": ("MessageRejected", "x" * (ser.SES_TEXT_MAX - 6) + f" {TOKEN} {KEY}")}[where]
    ses_proxy.rules["SendEmail"] = lambda f, n: ("error", 400, *echo)
    assert send(secret_env(tmp_path, ses_proxy), "--only", "ceo") == 69
    shown = shown_anywhere(tmp_path, capsys, caplog)
    assert "ceo: SES" in shown
    for secret in (TOKEN, KEY):
        assert secret[:4] not in shown, shown


def test_a_quota_error_code_that_echoes_a_secret_at_the_cut_never_shows_a_part_of_it(
        tmp_path: Path, moto: str, ses_proxy: SesProxy, capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture) -> None:
    """Found by planting a bug: an error code is cut to 80 characters; cut before hiding, a secret across the cut showed its first part."""
    verify_sender(moto)
    ses_proxy.rules["GetSendQuota"] = lambda f, n: ("error", 400, "Q" * 76 + TOKEN, "quota unavailable")
    assert send(secret_env(tmp_path, ses_proxy), "--only", "ceo") == 0
    shown = shown_anywhere(tmp_path, capsys, caplog)
    assert "cannot read the SES send quota" in shown
    assert TOKEN[:4] not in shown, shown


def test_a_failed_forced_resend_keeps_the_first_send_on_record(tmp_path: Path, moto: str, ses_proxy: SesProxy,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    verify_sender(moto)
    env = write_env(tmp_path, ses_proxy.url)
    assert send(env, "--only", "ceo") == 0
    first = ledger(tmp_path)["ceo"]
    ses_proxy.rules["SendEmail"] = lambda f, n: ("error", 400, "MessageRejected", "Illegal header.")
    assert send(env, "--force", "--only", "ceo") == 69
    entry = ledger(tmp_path)["ceo"]
    assert entry["state"] == "sent"
    assert (entry["message_id"], entry["at"]) == (first["message_id"], first["at"])
    assert entry["last_error"] == "SES rejected the message (MessageRejected): Illegal header."
    ses_proxy.rules.clear()
    capsys.readouterr()
    assert send(env, "--only", "ceo") == 0  # not sent again without --force
    assert "skipped as already sent 1 (ceo)" in capsys.readouterr().err
    assert subjects(moto).count(subject_of("ceo")) == 1


def test_the_reason_an_outcome_is_unknown_is_kept(tmp_path: Path, moto: str, ses_proxy: SesProxy,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    verify_sender(moto)
    env = write_env(tmp_path, ses_proxy.url)
    ses_proxy.rules["SendEmail"] = lambda f, n: ("after", 503, "ServiceUnavailable", "try later")
    assert send(env, "--only", "ceo") == 69
    ses_proxy.rules.clear()
    capsys.readouterr()
    assert send(env, "--only", "ceo") == 69
    assert ("ceo: outcome unknown: SES answered HTTP 503 (ServiceUnavailable): the message may have gone out ("
            in capsys.readouterr().err)
    assert subjects(moto).count(subject_of("ceo")) == 1


def test_a_send_the_ledger_cannot_record_is_not_called_a_success(tmp_path: Path, moto: str, ses_proxy: SesProxy,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    verify_sender(moto)
    env = write_env(tmp_path, ses_proxy.url)
    path = tmp_path / "archive" / "2026-W47" / "ledger.json"

    def break_the_ledger(fields: dict[str, str], n: int) -> None:
        if n == 2:  # SES takes cto, then the ledger can no longer be replaced
            path.unlink()
            path.mkdir()

    ses_proxy.rules["SendEmail"] = break_the_ledger
    assert send(env, "--only", "ceo,cto,cfo") == 69
    err = capsys.readouterr().err
    cto_id = next(m["id"] for m in moto_messages(moto) if m["subject"] == subject_of("cto"))
    assert (f"cto: sent (SES MessageId {cto_id}), but the ledger cannot record it: cannot write {path} (Is a "
            "directory); check the archive folder; the next run will report it as unknown\n") in err
    assert err.endswith("2026-W47: sent 2 (ceo, cto); skipped as already sent 0; failed 1 (cfo); "
                        "sent but not in the ledger 1 (cto)\n")
    assert len(moto_messages(moto)) == 2


# Files: nothing the tool writes goes through a symbolic link planted in the archive folder.


def test_a_symlink_planted_as_the_lock_is_refused_and_its_target_untouched(
        tmp_path: Path, moto: str, ses_proxy: SesProxy, capsys: pytest.CaptureFixture[str]) -> None:
    verify_sender(moto)
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me\n")
    lock = tmp_path / "archive" / ".send_exec_reports.lock"
    lock.parent.mkdir()
    lock.symlink_to(precious)
    assert send(write_env(tmp_path, ses_proxy.url)) == 78
    assert capsys.readouterr().err == (
        f"send_exec_reports: the lock file: {lock} is a symbolic link, and the tool never follows links inside "
        "ARCHIVE_DIR (its target was not touched); remove the link, then rerun\n"
    )
    assert precious.read_text() == "keep me\n"
    assert ses_proxy.actions("SendEmail") == []


def test_a_symlinked_period_folder_is_refused(tmp_path: Path, moto: str, ses_proxy: SesProxy,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    verify_sender(moto)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "archive").mkdir()
    (tmp_path / "archive" / "2026-W47").symlink_to(elsewhere)
    assert send(write_env(tmp_path, ses_proxy.url)) == 78
    assert capsys.readouterr().err == (
        f"send_exec_reports: {tmp_path / 'archive' / '2026-W47'} is a symbolic link, and the tool never follows "
        "links inside ARCHIVE_DIR (its target was not touched); remove the link, then rerun\n"
    )
    assert list(elsewhere.iterdir()) == []
    assert ses_proxy.actions("SendEmail") == []


def test_a_symlinked_ledger_is_refused(tmp_path: Path, moto: str, ses_proxy: SesProxy,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    verify_sender(moto)
    precious = tmp_path / "precious.json"
    precious.write_text("{}")
    ledger_path = tmp_path / "archive" / "2026-W47" / "ledger.json"
    ledger_path.parent.mkdir(parents=True)
    ledger_path.symlink_to(precious)
    assert send(write_env(tmp_path, ses_proxy.url)) == 78
    assert capsys.readouterr().err == (
        f"send_exec_reports: the send ledger: {ledger_path} is a symbolic link, and the tool never follows links "
        "inside ARCHIVE_DIR (its target was not touched); remove the link, then rerun; nothing was sent\n"
    )
    assert precious.read_text() == "{}"
    assert ses_proxy.actions("SendEmail") == []


def test_a_symlinked_report_file_is_refused_and_the_run_stops(tmp_path: Path, moto: str, ses_proxy: SesProxy,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    verify_sender(moto)
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me\n")
    planted = tmp_path / "archive" / "2026-W47" / "cfo.txt"
    planted.parent.mkdir(parents=True)
    planted.symlink_to(precious)
    assert send(write_env(tmp_path, ses_proxy.url), "--only", "ceo,cfo,cmo") == 69
    err = capsys.readouterr().err
    assert (f"send_exec_reports: cfo: not sent: {planted} is a symbolic link, and the tool never follows links "
            "inside ARCHIVE_DIR (its target was not touched); remove the link, then rerun\n") in err
    assert err.endswith("2026-W47: sent 1 (ceo); skipped as already sent 0; failed 2 (cfo, cmo)\n")
    assert precious.read_text() == "keep me\n"
    assert planted.is_symlink()
    assert len(moto_messages(moto)) == 1


def test_write_atomic_never_writes_through_a_planted_temporary_file(tmp_path: Path) -> None:
    import os

    import send_exec_reports as ser

    precious = tmp_path / "precious.txt"
    precious.write_text("keep me\n")
    target = tmp_path / "period" / "ceo.txt"
    target.parent.mkdir()
    (target.parent / f".ceo.txt.{os.getpid()}.tmp").symlink_to(precious)
    ser.write_atomic(target, "report\n")
    assert target.read_text() == "report\n"
    assert precious.read_text() == "keep me\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["ceo.txt"]


def test_a_file_that_cannot_grow_is_named_with_what_to_do(same_place: Path, moto: str, ses_proxy: SesProxy) -> None:
    import resource
    import subprocess

    from .test_delivery import app_with_env

    verify_sender(moto)
    script = app_with_env(same_place, ses_proxy.url)

    def small_files() -> None:  # metrics.json (about 90 KB) no longer fits: a write fails as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (40_000, 40_000))

    result = subprocess.run(tool_command(script, "--as-of", "2026-11-22"), cwd="/", env={},
                            capture_output=True, text=True, timeout=60, preexec_fn=small_files)
    assert result.returncode == 69, result.stderr
    metrics = script.parent / "archive" / "2026-W47" / "metrics.json"
    assert (f"send_exec_reports: ceo: not sent: cannot write {metrics}: over this process's file size limit "
            "(ulimit -f); raise it, then rerun\n") in result.stderr
    assert "None" not in result.stderr
    assert moto_messages(moto) == []
    assert not [p for p in metrics.parent.iterdir() if p.name.endswith(".tmp")]


# Secrets: of a URL only scheme, host and port are shown; no credential is ever printed or kept.

ENDPOINT_SECRETS = ("PathTokenAbc123", "QuerySecretXyz789")
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLEKEYID0001", "AWS_SECRET_ACCESS_KEY": "VerySecretKey1234567",
               "AWS_SESSION_TOKEN": "SessionTokenXYZ0987654"}
ALL_SECRETS = (*ENDPOINT_SECRETS, *CREDENTIALS.values())


def assert_no_secret(*texts: str, folder: Path | None = None) -> None:
    """None of the planted secrets is in the texts, nor in any file under folder."""
    if folder is not None and folder.exists():
        texts += tuple(p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file())
    for secret in ALL_SECRETS:
        for text in texts:
            assert secret not in text


def test_an_endpoint_token_is_not_printed_when_ses_cannot_be_reached(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    env = write_env(tmp_path, f"http://127.0.0.1:9/{ENDPOINT_SECRETS[0]}/?token={ENDPOINT_SECRETS[1]}",
                    **CREDENTIALS)
    assert send(env) == 69
    assert send(env, "--check") == 69
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        "send_exec_reports: cannot reach SES (could not connect to http://127.0.0.1:9); nothing was sent. Check "
        "the network, AWS_REGION and AWS_ENDPOINT_URL",
        "send_exec_reports: skipped (no front matter, so not handoffs): README.md",  # --check names it
        "send_exec_reports: check failed: cannot reach SES (could not connect to http://127.0.0.1:9). Check the "
        "network, AWS_REGION and AWS_ENDPOINT_URL",
    ]
    assert_no_secret(captured.out, captured.err, folder=tmp_path / "archive")


def test_an_endpoint_token_is_not_printed_when_sends_cannot_connect(tmp_path: Path) -> None:
    import io

    import send_exec_reports as ser

    from .test_delivery import FakeClock, reports

    env = write_env(tmp_path, f"http://127.0.0.1:9/{ENDPOINT_SECRETS[0]}?t={ENDPOINT_SECRETS[1]}", **CREDENTIALS)
    settings = ser.load_settings(str(env), dry_run=False)
    delivery = ser.delivery_settings(settings, ["ceo", "cto"])
    clock = FakeClock()
    sender = ser.SesSender(ser.ses_client(settings), sleep=clock.sleep, clock=clock)
    sender.rate = 100.0  # as if the quota had been read before SES went away
    outcome = ser.Outcome(period="2026-W47")
    progress, logged = io.StringIO(), io.StringIO()
    handler = logging.StreamHandler(logged)
    handler.addFilter(ser._Redact())
    ser.log.addHandler(handler)
    try:
        ser.deliver(reports("ceo"), "{}\n", delivery, sender, outcome, progress=progress)
    finally:
        ser.log.removeHandler(handler)
    assert clock.sleeps == pytest.approx([0.25, 0.5, 1.0, 2.0, 4.0])  # nothing reached SES: retried, backing off
    assert outcome.failed == ["ceo"]
    assert "ceo: SES still refusing after 6 attempts (cannot connect: could not connect to http://127.0.0.1:9)" in (
        logged.getvalue())
    assert "retrying in 0.25 s" in progress.getvalue()
    assert_no_secret(progress.getvalue(), logged.getvalue(), folder=tmp_path / "archive")


def test_secrets_echoed_by_ses_are_not_printed_or_kept(tmp_path: Path, moto: str, ses_proxy: SesProxy,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    verify_sender(moto)
    # an answer that quotes the request (as SignatureDoesNotMatch does), under a code the tool does not know
    echoed = (f"Canonical request: x-amz-security-token:{CREDENTIALS['AWS_SESSION_TOKEN']} "
              f"credential {CREDENTIALS['AWS_ACCESS_KEY_ID']} see http://proxy/{ENDPOINT_SECRETS[0]}")
    ses_proxy.rules["SendEmail"] = lambda f, n: ("error", 400, "OddRejection", echoed)
    env = write_env(tmp_path, ses_proxy.url, **CREDENTIALS)
    assert send(env, "--only", "ceo") == 69
    err = capsys.readouterr().err
    assert ("ceo: SES rejected the message (OddRejection): Canonical request: x-amz-security-token:(hidden) "
            "credential (hidden) see http://proxy\n") in err
    assert_no_secret(err, folder=tmp_path / "archive")


def test_secrets_stay_out_of_a_bad_address_message(tmp_path: Path, moto: str, ses_proxy: SesProxy,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    # a key pasted on the wrong line of repos.env
    env = write_env(tmp_path, ses_proxy.url, EXEC_REPORT_BCC=CREDENTIALS["AWS_SECRET_ACCESS_KEY"], **CREDENTIALS)
    assert send(env) == 78
    err = capsys.readouterr().err
    assert err == ("send_exec_reports: EXEC_REPORT_BCC: '(hidden)' is not an email address; write it like "
                   "reports@example.com\n")
    assert_no_secret(err)


def test_sigterm_says_what_the_ledger_holds(same_place: Path, moto: str, ses_proxy: SesProxy) -> None:
    import os
    import signal

    from .test_delivery import app_with_env, ledger_states, start, wait_for

    verify_sender(moto)
    ses_proxy.quota = (2.0, 50000.0)  # 1.5 s between messages: the signal lands while the run waits
    script = app_with_env(same_place, ses_proxy.url)
    run = start(script)
    wait_for(lambda: list(ledger_states(same_place).values()).count("sent") >= 2)
    os.kill(run.pid, signal.SIGTERM)
    out, err = run.communicate(timeout=30)
    err = as_on_a_terminal(err)  # the lines themselves, cron's stamps aside
    assert run.returncode == 143
    assert out == ""
    states = ledger_states(same_place)
    sent = [i for i in IDS if states.get(i) == "sent"]
    rest = [i for i in IDS if i not in states]
    assert len(err.splitlines()) == 1, err
    assert err.startswith("send_exec_reports: stopped by SIGTERM while sending 2026-W47; ")
    ledger_path = same_place / "app" / "archive" / "2026-W47" / "ledger.json"
    assert f"the ledger {ledger_path} records as sent: {', '.join(sent)}" in err
    assert err.endswith(f"; not sent: {', '.join(rest)}; rerun to send them\n")
    assert sorted(subjects(moto)) == sorted(subject_of(i) for i in sent)
