"""Delivery when things go wrong in ways SES, the disk or the settings can: nothing twice, nothing lost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import SesProxy, moto_messages
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


def test_a_ledger_that_is_not_ours_stops_before_sending(tmp_path: Path, moto: str, ses_proxy: SesProxy,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    verify_sender(moto)
    path = tmp_path / "archive" / "2026-W47" / "ledger.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"ceo": "sent"}')
    assert send(write_env(tmp_path, ses_proxy.url)) == 78
    assert capsys.readouterr().err == (
        f"send_exec_reports: {path}: entry 'ceo' is not a ledger record (state must be one of sending, sent, "
        "failed); check what was sent for the period, then fix or move the file\n"
    )
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
    assert json.loads(metrics.read_text())["as_of"] == "2026-11-22"
    # a rerun later in the same week sends nothing and keeps the figures of what was sent
    assert ser_main(env, "--as-of", "2026-11-17") == 0
    assert json.loads(metrics.read_text())["as_of"] == "2026-11-22"


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
    err = capsys.readouterr().err
    assert err.startswith('send_exec_reports: cannot reach SES (Could not connect to the endpoint URL: "http://127.0.0.1:9/")')
    assert err.endswith("nothing was sent. Check the network and AWS_REGION\n")
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
    assert f"cto: sent, but the ledger {path} cannot record it" in err
    assert err.endswith("2026-W47: sent 2 (ceo, cto); skipped as already sent 0; failed 1 (cfo); "
                        "sent but not in the ledger 1 (cto)\n")
    assert len(moto_messages(moto)) == 2
