"""The archive behind one interface, a folder or S3 (moto's server): the same delivery, the same ledger."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

import send_exec_reports as ser

from .conftest import (
    SesProxy,
    aws,
    install_copy,
    moto_messages,
    run_script,
    sample_metrics,
    sent,
    tool_command,
    write_ledger,
    write_portfolio,
)
from .test_delivery import IDS, subject_of, subjects, verify_sender, write_env

BUCKET = "reports"
PREFIX = "exec/archive"
S3_ARCHIVE = f"s3://{BUCKET}/{PREFIX}"


def s3(endpoint: str):
    """A boto3 S3 client on moto's server, with test credentials."""
    return aws("s3", endpoint)


def make_bucket(moto: str) -> None:
    """The archive's bucket, empty."""
    s3(moto).create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})


class Place:
    """Where a test's archive is (a folder or S3), and how to look into it from outside the tool."""

    def __init__(self, kind: str, tmp_path: Path, moto: str) -> None:
        self.kind, self.moto = kind, moto
        if kind == "s3":
            make_bucket(moto)
            self.setting = S3_ARCHIVE
        else:
            self.setting = "archive"
        self.folder = tmp_path / "archive"

    def get(self, name: str) -> bytes | None:
        """An archived file's bytes, read directly (None when absent)."""
        if self.kind == "folder":
            path = self.folder / name
            return path.read_bytes() if path.exists() else None
        try:
            return s3(self.moto).get_object(Bucket=BUCKET, Key=f"{PREFIX}/{name}")["Body"].read()
        except s3(self.moto).exceptions.NoSuchKey:
            return None

    def names(self, period: str) -> list[str]:
        """The files archived for a period."""
        if self.kind == "folder":
            return sorted(p.name for p in (self.folder / period).iterdir())
        listed = s3(self.moto).list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}/{period}/")
        return sorted(o["Key"].rsplit("/", 1)[1] for o in listed.get("Contents", []))

    def states(self, period: str = "2026-W47") -> dict[str, str]:
        """report id -> state in the period's ledger."""
        data = self.get(f"{period}/ledger.json")
        return {k: v["state"] for k, v in json.loads(data).items()} if data else {}


@pytest.fixture(params=["folder", "s3"])
def place(request: pytest.FixtureRequest, tmp_path: Path, moto: str) -> Place:
    return Place(request.param, tmp_path, moto)


def send(env: Path, *extra: str) -> int:
    """A real send in-process for the golden as-of date."""
    return ser.main(["--env-file", str(env), "--as-of", "2026-11-22", *extra])


# The interface: both kinds answer the same way.


@pytest.fixture(params=["folder", "s3"])
def archive(request: pytest.FixtureRequest, tmp_path: Path, moto: str) -> ser.Archive:
    if request.param == "s3":
        make_bucket(moto)
        return ser.S3Archive(s3(moto), BUCKET, PREFIX, sleep=lambda s: None)
    return ser.FolderArchive(tmp_path / "archive")


def test_both_archives_read_write_and_list_alike(archive: ser.Archive) -> None:
    assert archive.periods() == []
    assert archive.read("2026-W47/ledger.json") is None
    first = archive.write("2026-W47/ledger.json", b"{}", create=True)
    with pytest.raises(ser.ArchiveConflict):
        archive.write("2026-W47/ledger.json", b"{}", create=True)
    archive.write("2026-W47/ledger.json", b'{"a": 1}', version=first)
    assert archive.read("2026-W47/ledger.json")[0] == b'{"a": 1}'
    archive.write("2026-W45/metrics.json", "{}")
    archive.write("notes/x.txt", b"x")
    assert archive.periods() == ["2026-W45", "2026-W47"]
    archive.write("2026-W45/metrics.json", b"x" * 2000)
    with pytest.raises(ValueError, match="over 0 MiB"):
        archive.read("2026-W45/metrics.json", limit=1000)
    archive.acquire(0)
    archive.release()
    assert archive.describe("2026-W47/ledger.json").endswith("archive/2026-W47/ledger.json")


def test_a_folder_archive_lists_no_linked_period(tmp_path: Path) -> None:
    archive = ser.FolderArchive(tmp_path / "archive")
    archive.write("2026-W45/metrics.json", "{}")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "archive" / "2026-W46").symlink_to(tmp_path / "elsewhere")
    assert archive.periods() == ["2026-W45"]


@pytest.mark.parametrize(("value", "message"), [
    ("s3://Bad_Bucket/x", "ARCHIVE_DIR: an S3 archive is written s3://bucket/prefix with a valid bucket name"),
    ("s3:/reports/x", "ARCHIVE_DIR: an S3 archive is written s3://bucket/prefix with a valid bucket name"),
    ("s3://reports/x?versionId=1", "ARCHIVE_DIR: an S3 archive URL takes no ?query or #fragment"),
])
def test_a_bad_s3_archive_setting_is_one_line_before_anything_is_read(
        tmp_path: Path, value: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    env = write_env(tmp_path, "http://127.0.0.1:9", ARCHIVE_DIR=value)
    assert send(env) == 78
    err = capsys.readouterr().err
    assert err.startswith(f"send_exec_reports: {message}") and err.count("\n") == 1


# Delivery: the same run against either archive.


def test_a_send_archives_the_same_layout_in_either_archive(tmp_path: Path, place: Place, moto: str,
                                                           ses_proxy: SesProxy,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    verify_sender(moto)
    env = write_env(tmp_path, ses_proxy.url, ARCHIVE_DIR=place.setting)
    assert send(env, "--only", "ceo,cfo") == 0
    assert capsys.readouterr().err == (
        "send_exec_reports: 2026-W47: sent 2 (ceo, cfo); skipped as already sent 0; failed 0\n")
    assert place.names("2026-W47") == ["ceo.txt", "cfo.txt", "ledger.json", "metrics.json"]
    metrics = json.loads(place.get("2026-W47/metrics.json"))
    assert metrics["period"] == "2026-W47" and metrics["schema"] == ser.METRICS_SCHEMA
    assert place.states() == {"ceo": "sent", "cfo": "sent"}
    assert place.get("2026-W47/cfo.txt").decode().startswith("From: reports@example.com\n")
    # a rerun sends nothing; --status reads the same ledger
    assert send(env, "--only", "ceo,cfo") == 0
    assert "sent 0; skipped as already sent 2 (ceo, cfo)" in capsys.readouterr().err
    assert send(env, "--status") == 0
    out = capsys.readouterr().out
    where = (f"{S3_ARCHIVE}/2026-W47/ledger.json" if place.kind == "s3"
             else str(place.folder / "2026-W47" / "ledger.json"))
    assert out.splitlines()[0] == f"2026-W47 ({where}):"
    assert len(moto_messages(moto)) == 2


def test_an_uncut_text_is_archived_beside_the_one_sent(tmp_path: Path, place: Place, moto: str,
                                                       ses_proxy: SesProxy) -> None:
    verify_sender(moto)
    env = write_env(tmp_path, ses_proxy.url, ARCHIVE_DIR=place.setting)
    rendered = ser.RenderedReport(id="ceo", subject="S", text="short\n", full_text="short\nand the rest\n")
    same = ser.RenderedReport(id="cfo", subject="T", text="whole\n", full_text="whole\n")
    settings = ser.load_settings(str(env), dry_run=False)
    delivery = ser.delivery_settings(settings, ["ceo", "cfo"])
    sender = ser.SesSender(ser.ses_client(settings))
    outcome = ser.Outcome(period="2026-W47")
    ser.deliver([rendered, same], "{}\n", delivery, sender, outcome)
    assert outcome.sent == ["ceo", "cfo"]
    assert place.get("2026-W47/ceo.full.txt") == b"short\nand the rest\n"
    assert place.get("2026-W47/cfo.full.txt") is None  # nothing was cut


def test_a_damaged_ledger_in_s3_stops_before_sending(tmp_path: Path, moto: str, ses_proxy: SesProxy,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    verify_sender(moto)
    make_bucket(moto)
    s3(moto).put_object(Bucket=BUCKET, Key=f"{PREFIX}/2026-W47/ledger.json", Body=b"[]")
    assert send(write_env(tmp_path, ses_proxy.url, ARCHIVE_DIR=S3_ARCHIVE)) == 78
    assert capsys.readouterr().err.startswith(
        f"send_exec_reports: {S3_ARCHIVE}/2026-W47/ledger.json: the send ledger is damaged (not a JSON object); "
        "nothing was sent.")
    assert ses_proxy.actions("SendEmail") == []


def test_a_missing_bucket_sends_nothing(tmp_path: Path, moto: str, ses_proxy: SesProxy,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    verify_sender(moto)
    assert send(write_env(tmp_path, ses_proxy.url, ARCHIVE_DIR="s3://no-such-bucket/x")) == 78
    assert capsys.readouterr().err.splitlines()[-1] == (
        "send_exec_reports: ARCHIVE_DIR s3://no-such-bucket/x: no such bucket; create it or fix the setting")
    assert ses_proxy.actions("SendEmail") == []


# Runs that race, die or overlap, on the S3 archive, from separate processes.


def s3_app(tmp_path: Path, endpoint: str) -> Path:
    """The tool installed with a repos.env that keeps its archive in S3."""
    script = install_copy(tmp_path / "app", examples=False)
    write_env(script.parent, endpoint, ARCHIVE_DIR=S3_ARCHIVE)
    return script


def start(script: Path, *args: str) -> subprocess.Popen[str]:
    """A real send as a child process, as cron would start it."""
    return subprocess.Popen(tool_command(script, "--as-of", "2026-11-22", *args), cwd="/", env={},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def ledger_states(moto: str, period: str = "2026-W47") -> dict[str, str]:
    """report id -> state in the S3 archive's ledger."""
    try:
        data = s3(moto).get_object(Bucket=BUCKET, Key=f"{PREFIX}/{period}/ledger.json")["Body"].read()
    except s3(moto).exceptions.NoSuchKey:
        return {}
    return {k: v["state"] for k, v in json.loads(data).items()}


def test_two_processes_racing_on_one_s3_archive_send_each_report_once(same_place: Path, moto: str,
                                                                      ses_proxy: SesProxy) -> None:
    verify_sender(moto)
    make_bucket(moto)
    ses_proxy.rules["SendEmail"] = lambda fields, n: ("delay", 0.3)
    script = s3_app(same_place, ses_proxy.url)
    runs = [start(script, "--only", "ceo,cfo"), start(script, "--only", "ceo,cfo")]
    results = [(p.wait(timeout=60), p.communicate()[1]) for p in runs]
    for code, err in results:  # the other waited, then either found both sent or gave up
        assert code in (0, 75), results
        assert "Traceback" not in err
    assert 0 in [code for code, _ in results]
    assert sorted(subjects(moto)) == sorted([subject_of("ceo"), subject_of("cfo")])  # each exactly once
    assert ledger_states(moto) == {"ceo": "sent", "cfo": "sent"}
    assert s3(moto).list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}/.send")["KeyCount"] == 0  # lock released


def test_a_run_whose_lock_expired_stops_when_another_run_changed_the_ledger(
        same_place: Path, moto: str, ses_proxy: SesProxy, capsys: pytest.CaptureFixture[str]) -> None:
    """The compare-and-swap itself: a slow run's lock expires, a second run (another process) takes
    it over and sends; the slow run's next ledger write loses and it sends nothing more."""
    verify_sender(moto)
    make_bucket(moto)
    script = s3_app(same_place, ses_proxy.url)
    second: list[subprocess.CompletedProcess[str]] = []

    def meanwhile(fields: dict[str, str], n: int) -> None:
        if n == 1:  # while SES takes ceo from the first run, its lock runs out and another run starts
            lock = f"{PREFIX}/.send_exec_reports.lock"
            holder = json.loads(s3(moto).get_object(Bucket=BUCKET, Key=lock)["Body"].read())
            s3(moto).put_object(Bucket=BUCKET, Key=lock, Body=json.dumps({**holder, "expires": 0}).encode())
            second.append(run_script(script, "--as-of", "2026-11-22", "--only", "ceo,cfo", env={}, cwd=Path("/")))

    ses_proxy.rules["SendEmail"] = meanwhile
    assert send(script.parent / "repos.env", "--only", "ceo,cfo") == 75
    err = capsys.readouterr().err
    ceo_id = next(m["id"] for m in moto_messages(moto) if m["subject"] == subject_of("ceo"))
    assert err == (
        f"send_exec_reports: ceo: sent (SES MessageId {ceo_id}), but the ledger cannot record it: another run "
        "changed it\n"
        "send_exec_reports: 2026-W47: sent 1 (ceo); skipped as already sent 0; failed 1 (cfo); "
        "sent but not in the ledger 1 (ceo)\n"
        f"send_exec_reports: another run changed the ledger {S3_ARCHIVE}/2026-W47/ledger.json while this one "
        "held it (its lock had expired or was removed); this run stopped before sending anything more. Rerun: "
        "it sends only what is missing\n"
    )
    # the second run saw ceo in flight (not resent) and sent cfo
    assert second[0].returncode == 69, second[0].stderr
    assert "taking over the expired lock in s3://reports/exec/archive (pid " in second[0].stderr
    assert "ceo: outcome unknown" in second[0].stderr
    assert sorted(subjects(moto)) == sorted([subject_of("ceo"), subject_of("cfo")])  # never twice
    assert ledger_states(moto) == {"ceo": "sending", "cfo": "sent"}


def test_a_run_killed_after_a_send_leaves_the_rerun_to_report_it(
        same_place: Path, moto: str, ses_proxy: SesProxy, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A run killed mid-send (a real process, SIGKILL) leaves its lock and a 'sending' entry: the next runs say so."""
    verify_sender(moto)
    make_bucket(moto)
    # SES takes cfo, then the run dies before it hears back (and before it releases its lock)
    ses_proxy.rules["SendEmail"] = lambda fields, n: ("hang",) if n == 2 else None
    script = s3_app(same_place, ses_proxy.url)
    first = start(script, "--only", "ceo,cfo")
    assert ses_proxy.hung.wait(30)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    assert ledger_states(moto) == {"ceo": "sent", "cfo": "sending"}
    ses_proxy.rules.clear()

    # the dead run's lock is still there: the next run (in-process from here on) waits, then says whose it is
    # and when it expires; how long it waits is test_delivery's test_lock_held_by_another_run_exits_75's to check
    monkeypatch.setattr(ser, "LOCK_WAIT_SECONDS", 0.0)
    assert send(script.parent / "repos.env", "--only", "ceo,cfo") == 75
    busy = capsys.readouterr().err
    assert (f"another run holds the lock in {S3_ARCHIVE} (pid {first.pid} on " in busy
            and "Try again when it has finished (if that run died, its lock expires at 20" in busy)

    # an hour later it has expired: the rerun takes it over and reports the unknown outcome
    lock = f"{PREFIX}/.send_exec_reports.lock"
    holder = json.loads(s3(moto).get_object(Bucket=BUCKET, Key=lock)["Body"].read())
    s3(moto).put_object(Bucket=BUCKET, Key=lock,
                        Body=json.dumps({**holder, "expires": holder["expires"] - 3601}).encode())
    assert send(script.parent / "repos.env", "--only", "ceo,cfo") == 69
    again = capsys.readouterr().err
    assert f"taking over the expired lock in {S3_ARCHIVE} (pid {first.pid} on " in again
    assert ("cfo: outcome unknown: it was handed to SES at 2026-" in again
            and "check the BCC copy in admin@example.com, then resend with --force --only cfo if it did not "
            "arrive" in again)
    assert again.endswith("skipped as already sent 1 (ceo); failed 1 (cfo)\n")
    assert subjects(moto).count(subject_of("cfo")) == 1  # not resent silently
    assert len(moto_messages(moto)) == 2


def test_sends_all_eight_through_the_s3_archive(tmp_path: Path, moto: str, ses_proxy: SesProxy,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    verify_sender(moto)
    make_bucket(moto)
    env = write_env(tmp_path, ses_proxy.url, ARCHIVE_DIR=S3_ARCHIVE)
    assert send(env) == 0
    assert capsys.readouterr().err == (
        f"send_exec_reports: 2026-W47: sent 8 ({', '.join(IDS)}); skipped as already sent 0; failed 0\n")
    assert ledger_states(moto) == dict.fromkeys(IDS, "sent")
    assert not (tmp_path / "archive").exists()


# ---------------------------------------------------------------------------
# A damaged archive: the ledger, the lock, and what a send keeps


def _send_env(tmp_path: Path, moto: str) -> Path:
    """Settings for a real send of a one-handoff portfolio through moto's SES (sender verified)."""
    verify_sender(moto, "reports@example.com")
    write_portfolio(tmp_path, "entity: Acme\nstatus: active\nupdated: 2026-11-18\ncash: 100\n")
    env = tmp_path / "repos.env"
    env.write_text("HANDOFF_DIR=handoffs\nARCHIVE_DIR=archive\nSES_FROM_ADDRESS=reports@example.com\n"
                   "EXEC_REPORT_TO=owner@example.com\nEXEC_REPORT_BCC=admin@example.com\n"
                   f"AWS_ENDPOINT_URL={moto}\nAWS_ACCESS_KEY_ID=testing\nAWS_SECRET_ACCESS_KEY=testing\n"
                   "AWS_REGION=us-west-2\n", encoding="utf-8")
    return env


def test_a_folder_at_the_ledger_is_named_as_a_damaged_ledger(
    tmp_path: Path, moto: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by an attack: a folder at ledger.json was 'cannot read 4 (Is a directory)', a file descriptor for a file name."""
    env = _send_env(tmp_path, moto)
    ledger = tmp_path / "archive" / "2026-W47" / "ledger.json"
    ledger.mkdir(parents=True)
    assert ser.main(["--env-file", str(env), "--as-of", "2026-11-22", "--only", "ceo"]) == ser.ExitStatus.CONFIG
    err = capsys.readouterr().err
    assert f"{ledger}: the send ledger is damaged (not a regular file); nothing was sent" in err, err
    assert moto_messages(moto) == []


def test_a_fifo_at_the_lock_is_named_with_what_to_do(
    tmp_path: Path, moto: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by an attack: a FIFO at the lock was 'cannot use a file in ARCHIVE_DIR (UnsupportedOperation)', naming neither the file nor what to do."""
    env = _send_env(tmp_path, moto)
    (tmp_path / "archive").mkdir()
    lock = tmp_path / "archive" / ser.LOCK_NAME
    os.mkfifo(lock)
    assert ser.main(["--env-file", str(env), "--as-of", "2026-11-22", "--only", "ceo"]) == ser.ExitStatus.CONFIG
    err = capsys.readouterr().err
    assert f"{lock}: the lock file is not a regular file; remove it, then rerun" in err, err
    assert moto_messages(moto) == []


def test_a_delivery_record_that_is_not_an_object_is_named_not_a_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Found by an attack: last week's ledger hand-edited with 'delivery' as a word, not a record, raised a traceback; it is named, and a dry run still renders."""
    # last week's ledger, hand-edited: "delivery" written as a word instead of a record
    write_ledger(tmp_path, "2026-W46", {"ceo": {**sent("ceo"), "delivery": "bounced"}})
    with pytest.raises(ValueError, match="delivery"):
        ser.parse_ledger((tmp_path / "archive" / "2026-W46" / "ledger.json").read_text())
    env = write_env(tmp_path, "http://127.0.0.1:9")
    assert ser.main(["--env-file", str(env), "--dry-run", "--as-of", "2026-11-22", "--only", "ceo"]) == 0
    assert "Subject:" in capsys.readouterr().out


def test_a_report_recorded_with_a_side_effects_state_is_not_resent_silently(
        tmp_path: Path, moto: str, ses_proxy: SesProxy, capsys: pytest.CaptureFixture[str]) -> None:
    """Found by an attack: a report's ledger entry damaged into a metrics push's state ('pushed') sent the report a second time, with exit 0."""
    verify_sender(moto)
    # every report sent; the CEO's entry damaged into a state only a metrics push has
    write_ledger(tmp_path, "2026-W47", {**{i: sent(i) for i in IDS}, "ceo": {"state": "pushed", "at": "x"}})
    env = write_env(tmp_path, ses_proxy.url)
    assert send(env) == ser.ExitStatus.CONFIG
    assert moto_messages(moto) == []  # the CEO report went out a second time, with exit 0
    err = capsys.readouterr().err
    assert "the send ledger is damaged" in err and "'ceo'" in err


def test_a_card_recorded_as_a_sent_email_is_refused(tmp_path: Path) -> None:
    """Found by an attack: a card's ledger entry in an email's state ('sending') was accepted."""
    text = json.dumps({"ceo": sent("ceo"), "card:shortfall-0123456789ab-2026-W47": {"state": "sending"}})
    with pytest.raises(ValueError, match="card:shortfall-0123456789ab-2026-W47"):
        ser.parse_ledger(text)


def test_the_metrics_json_a_send_keeps_holds_exactly_the_figures_of_the_reports(tmp_path: Path, moto: str,
                                                                                ses_proxy) -> None:
    """Found by planting a bug: the metrics.json a send keeps holds exactly the figures the reports were rendered from."""
    import json

    verify_sender(moto)
    assert send(write_env(tmp_path, ses_proxy.url), "--only", "cfo") == 0
    record = json.loads((tmp_path / "archive" / "2026-W47" / "metrics.json").read_text(encoding="utf-8"))
    assert record["schema"] == ser.METRICS_SCHEMA and len(record["runs"]) == 1
    kept = next(iter(record["runs"].values()))
    figures = sample_metrics()
    assert kept == json.loads(json.dumps({**figures, "items": ser.report_items(figures)}, default=ser._json_default))
    # and a few figures by value, as the reports show them (money as exact decimal text)
    assert kept["period"] == "2026-W47" and kept["as_of"] == "2026-11-22"
    assert kept["portfolio"]["cash"] == "70500"  # "$70,500 across 6 businesses" in the reports
    assert len(kept["entities"]) == 6
