"""The weekly run as an AWS Lambda function: the handler, settings from Secrets Manager, against moto's server."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

import send_exec_reports as ser

from .conftest import EXAMPLES, ROOT, SesProxy, aws, install_copy, moto_messages, tool_command
from .test_cards import Dashboard
from .test_delivery import SENDER, subject_of, subjects, verify_sender, write_env
from .test_s3_inputs import BUCKET as INPUTS
from .test_s3_inputs import upload, upload_as_exported

SECRET = "exec-reports/settings"
BUCKET = "reports"
ARCHIVE = f"s3://{BUCKET}/exec/archive"
# The inputs as a deployed function reads them: the handoffs synced to a prefix, the exports where
# "Export to S3" wrote them (in their own bucket, so the archive's bucket holds only what a run writes).
HANDOFFS = f"s3://{INPUTS}/exec/handoffs"
EXPORTS = f"s3://{INPUTS}/exec/dynamodb"
# The sample in its folders, for the tests about the event and the send rather than the inputs (reading S3 costs time).
FOLDERS = {"HANDOFF_DIR": str(EXAMPLES / "handoffs"), "DYNAMODB_EXPORT_DIR": str(EXAMPLES / "dynamodb")}
# Distinctive values planted in the secret: none may show in any output, log record or archived file.
PLANTED_TOKEN = "planted-T0KEN-9f3c2b7d1e"
PLANTED_PATH = "planted-hook-4a8e6c"


def client(endpoint: str, service: str):
    """A boto3 client on moto's server (or the SES proxy in front of it), with test credentials."""
    return aws(service, endpoint)


def put_secret(endpoint: str, value: dict[str, object] | str, secret_id: str = SECRET) -> None:
    """Create the settings secret, or give it a new value."""
    text = value if isinstance(value, str) else json.dumps(value)
    sm = client(endpoint, "secretsmanager")
    try:
        sm.put_secret_value(SecretId=secret_id, SecretString=text)
    except sm.exceptions.ResourceNotFoundException:
        sm.create_secret(Name=secret_id, SecretString=text)


def settings(**overrides: str) -> dict[str, str]:
    """The secret's settings for sending the sample portfolio from S3 (sample_in_s3), archived in S3."""
    return {
        "HANDOFF_DIR": HANDOFFS,
        "DYNAMODB_EXPORT_DIR": EXPORTS,
        "ARCHIVE_DIR": ARCHIVE,
        "SES_FROM_ADDRESS": SENDER,
        "EXEC_REPORT_TO": "owner@example.com",
        "EXEC_REPORT_BCC": "admin@example.com",
        **overrides,
    }


@pytest.fixture
def function_env(monkeypatch: pytest.MonkeyPatch, ses_proxy: SesProxy, moto: str) -> SesProxy:
    """The environment a deployed function has: its region, role credentials and SETTINGS_SECRET_ID; no repos.env."""
    for name, value in {"AWS_REGION": "us-west-2", "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_ENDPOINT_URL": ses_proxy.url,
                        "SETTINGS_SECRET_ID": SECRET}.items():
        monkeypatch.setenv(name, value)
    verify_sender(moto)
    client(moto, "s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    return ses_proxy


@pytest.fixture
def inputs_bucket(function_env: SesProxy):
    """The empty bucket of the inputs; its S3 client."""
    s3 = client(function_env.upstream, "s3")
    s3.create_bucket(Bucket=INPUTS, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    return s3


@pytest.fixture
def sample_in_s3(inputs_bucket):
    """The sample's handoffs at HANDOFFS (as `aws s3 sync` puts them) and its exports at EXPORTS; the S3 client."""
    upload(EXAMPLES / "handoffs", HANDOFFS.split("/", 3)[3])
    upload_as_exported(EXAMPLES / "dynamodb", EXPORTS.split("/", 3)[3])
    return inputs_bucket


def ledger(moto: str, period: str = "2026-W47") -> dict[str, str]:
    """report id -> state in the S3 ledger of a period."""
    s3 = client(moto, "s3")
    try:
        data = s3.get_object(Bucket=BUCKET, Key=f"exec/archive/{period}/ledger.json")["Body"].read()
    except s3.exceptions.NoSuchKey:
        return {}
    return {k: v["state"] for k, v in json.loads(data).items()}


# The event: as_of, only and dry_run, nothing else.


@pytest.mark.parametrize(("event", "message"), [
    ({"dryrun": True}, "exit 64: usage: event key 'dryrun': not one this function reads (did you mean dry_run?)"),
    ({"period": "2026-W47"},
     "exit 64: usage: event key 'period': not one this function reads (it takes as_of, only, dry_run)"),
    ({"as_of": "2026-13-01"}, "exit 64: usage: event as_of: '2026-13-01' is not a date like 2026-11-22"),
    ({"as_of": 20261122}, 'exit 64: usage: event as_of is a number; write a date as text, "2026-11-22"'),
    ({"only": []}, 'exit 64: usage: event only: give report ids, ["ceo", "cfo"] or "ceo,cfo" (leave it out for '
                   "every report)"),
    ({"only": ["ceo", 3]}, 'exit 64: usage: event only: give report ids, ["ceo", "cfo"] or "ceo,cfo" (leave it '
                           "out for every report)"),
    ({"dry_run": "yes"}, "exit 64: usage: event dry_run is text, not true or false; write true or false"),
    (["ceo"], 'exit 64: usage: the event is a list, not an object; send {} for the weekly run, or {"dry_run": '
              'true, "as_of": "2026-11-22", "only": ["ceo"]}'),
])
def test_an_event_the_function_does_not_read_is_a_usage_error(event: object, message: str) -> None:
    """A manual invocation's typo must fail loudly, never run the weekly send with the typo ignored."""
    with pytest.raises(ser.RunFailed) as failed:
        ser.lambda_handler(event, None)
    assert str(failed.value) == message
    assert failed.value.status == 64


def test_the_event_stands_for_the_command_line_without_a_settings_file() -> None:
    """The function reads no repos.env even if one were packaged: its settings are the environment and secret."""
    assert ser.event_argv(None) == ser.event_argv({}) == ["--env-file", "/dev/null"]
    assert ser.event_argv({"as_of": "2026-11-22", "only": ["ceo", "CFO"], "dry_run": True}) == [
        "--env-file", "/dev/null", "--as-of", "2026-11-22", "--only", "ceo,CFO", "--dry-run"]
    assert ser.event_argv({"only": "ceo,cfo", "dry_run": False}) == ["--env-file", "/dev/null", "--only", "ceo,cfo"]


# SETTINGS_SECRET_ID: the secret's settings under the environment.


@pytest.mark.parametrize(("value", "message"), [
    ('{"HANDOFF_DIR": ', "not JSON (line 1, column 17); write the secret as a JSON object of settings, "
                         '{"NAME": "value", ...}'),
    ('["HANDOFF_DIR"]', 'not a JSON object; write the secret as {"NAME": "value", ...}'),
    ('{"EXEC_REPORT_BCC": ["planted-value@example.com"]}',
     "EXEC_REPORT_BCC is a list, not a string; write every value as a JSON string"),
    ('{"AWS_INVENTORY": 1}', "AWS_INVENTORY is a number, not a string; write every value as a JSON string"),
    ('{"HANDOF_DIR": "planted-value"}',
     "a key that is not a setting of this tool (did you mean HANDOFF_DIR?; the key itself is not shown); "
     "fix or remove it"),
    # found by an attack: a token pasted where a name belongs was printed (repos.env never shows such a name)
    ('{"ghp_planted-value": "x"}',
     "a key that is not a setting of this tool (repos.env.example lists every setting; the key itself is not "
     "shown); fix or remove it"),
    ('{"AWS_REGION": "planted-value"}', "AWS_REGION cannot be set in the secret (it says how the secret itself "
                                        "is read); set it in the environment or repos.env"),
    ('{"aws_profile": "planted-value"}', "aws_profile cannot be set in the secret (it says how the secret itself "
                                         "is read); set it in the environment or repos.env"),
    ('{"SES_FROM_ADDRESS": "a@example.com", "SES_FROM_ADDRESS": "planted-value"}',
     "SES_FROM_ADDRESS is set twice; keep one of the two"),
    # a report's own readers, its id in two cases: one of the two lists would be dropped without a word
    ('{"EXEC_REPORT_TO_CFO": "a@example.com", "EXEC_REPORT_TO_cfo": "planted-value@example.com"}',
     "EXEC_REPORT_TO_CFO is set twice; keep one of the two"),
    # found by a review: a key that is no setting, written twice, was named in the "set twice" line
    ('{"ghp_planted-value": "x", "ghp_planted-value": "y"}',
     "a key that is not a setting of this tool (not shown) is set twice; keep one of the two"),
])
def test_a_bad_secret_is_one_line_naming_the_secret_and_the_key_never_a_value(
        value: str, message: str, function_env: SesProxy, capsys: pytest.CaptureFixture[str]) -> None:
    """A secret that cannot be read as settings stops the run before anything, and prints none of its values."""
    put_secret(function_env.upstream, value)
    with pytest.raises(ser.RunFailed) as failed:
        ser.lambda_handler({}, None)
    assert str(failed.value) == f"exit 78: bad configuration: SETTINGS_SECRET_ID {SECRET}: {message}"
    assert capsys.readouterr().err == f"send_exec_reports: SETTINGS_SECRET_ID {SECRET}: {message}\n"
    assert "planted-value" not in str(failed.value)


def test_a_missing_secret_is_named_with_its_region(function_env: SesProxy) -> None:
    """The first deploy's likeliest mistake: the secret not created yet, or in another region."""
    with pytest.raises(ser.RunFailed) as failed:
        ser.lambda_handler({}, None)
    assert str(failed.value) == (
        f"exit 78: bad configuration: SETTINGS_SECRET_ID {SECRET}: no such secret in Secrets Manager (us-west-2); "
        "create it (README 'Run it on AWS without a machine') or fix the setting")


def test_the_environment_wins_over_the_secret_and_a_file_may_not_repeat_it(
        function_env: SesProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The secret sits under the environment, as repos.env does; a setting in both file and secret is refused."""
    put_secret(function_env.upstream, settings(EXEC_REPORT_TO="secret@example.com", EMAIL_FORMAT="text+html"))
    monkeypatch.setenv("EXEC_REPORT_TO", "environment@example.com")
    _, values = ser.read_settings(None)
    assert values["EXEC_REPORT_TO"] == "environment@example.com"
    assert values["EMAIL_FORMAT"] == "text+html"
    assert values["HANDOFF_DIR"] == HANDOFFS
    # from the command line: repos.env names the secret (and may hold what the secret does not)
    monkeypatch.delenv("SETTINGS_SECRET_ID")
    env = tmp_path / "repos.env"
    env.write_text(f"SETTINGS_SECRET_ID={SECRET}\nREPORTS_DIR={ser.REPORTS_DIR}\n")
    _, values = ser.read_settings(str(env))
    assert (values["REPORTS_DIR"], values["EMAIL_FORMAT"]) == (str(ser.REPORTS_DIR), "text+html")
    env.write_text(f"SETTINGS_SECRET_ID={SECRET}\nEMAIL_FORMAT=text\n")
    with pytest.raises(ser.ConfigError) as err:
        ser.read_settings(str(env))
    assert str(err.value) == (f"{env}: EMAIL_FORMAT is set both here and in the secret {SECRET} "
                              "(SETTINGS_SECRET_ID); keep one of the two")


def test_an_unset_setting_says_the_secret_was_looked_in(function_env: SesProxy) -> None:
    """Where a Lambda's settings live is the secret: the message must not send the reader to repos.env only."""
    put_secret(function_env.upstream, {"SES_FROM_ADDRESS": SENDER})
    with pytest.raises(ser.RunFailed) as failed:
        ser.lambda_handler({}, None)
    assert str(failed.value) == (
        "exit 78: bad configuration: HANDOFF_DIR is not set (no settings file, and not in the environment, nor in "
        f"the secret {SECRET}): set it to the folder of handoff documents, or their s3://bucket/prefix")


# End to end: secret -> handoffs in S3 -> exports in S3 -> SES -> the S3 ledger.


def test_the_function_sends_once_a_week_and_a_second_invocation_sends_nothing(
        function_env: SesProxy, sample_in_s3) -> None:
    """The scheduled run and any repeat of it (a manual one, a retry) share the S3 ledger: one email a report."""
    moto = function_env.upstream
    put_secret(moto, settings())
    first = ser.lambda_handler({"as_of": "2026-11-22", "only": ["ceo", "cfo"]}, None)
    assert first == {"status": 0, "period": "2026-W47", "dry_run": False, "sent": ["ceo", "cfo"], "skipped": []}
    assert sorted(subjects(moto)) == sorted([subject_of("ceo"), subject_of("cfo")])
    assert ledger(moto) == {"ceo": "sent", "cfo": "sent"}
    again = ser.lambda_handler({"as_of": "2026-11-22", "only": "ceo,cfo"}, None)
    assert again == {"status": 0, "period": "2026-W47", "dry_run": False, "sent": [], "skipped": ["ceo", "cfo"]}
    assert len(moto_messages(moto)) == 2
    # the handoffs and exports read from S3 make the reports the sample's folders make (the CEO's counts events)
    for report_id in ("ceo", "cfo"):
        body = next(m["body"] for m in moto_messages(moto) if m["subject"] == subject_of(report_id))
        assert body == (ROOT / "tests" / "golden" / f"{report_id}.txt").read_text(encoding="utf-8").split("\n\n", 1)[1]


def test_a_dry_run_invocation_sends_and_writes_nothing(function_env: SesProxy, capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    """The README's first run: {"dry_run": true} shows the reports in the log and touches neither SES nor S3."""
    moto = function_env.upstream
    put_secret(moto, settings(**FOLDERS))
    result = ser.lambda_handler({"dry_run": True, "as_of": "2026-11-22", "only": ["cfo"]}, None)
    assert result == {"status": 0, "period": "2026-W47", "dry_run": True, "sent": [], "skipped": []}
    assert f"Subject: {subject_of('cfo')}" in capsys.readouterr().out
    assert moto_messages(moto) == []
    assert client(moto, "s3").list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0


def test_a_failed_send_raises_so_the_invocation_is_marked_failed(function_env: SesProxy) -> None:
    """A returned value would mark the invocation a success and no alarm would fire."""
    put_secret(function_env.upstream, settings(**FOLDERS))
    function_env.rules["SendEmail"] = lambda fields, n: (
        ("error", 400, "MessageRejected", "Email address is not verified.") if n == 2 else None)
    with pytest.raises(ser.RunFailed) as failed:
        ser.lambda_handler({"as_of": "2026-11-22", "only": ["ceo", "cfo"]}, None)
    assert str(failed.value).startswith("exit 69: a send or a step after it failed: cfo: ")
    assert failed.value.status == 69
    assert ledger(function_env.upstream) == {"ceo": "sent", "cfo": "failed"}


def test_a_warm_container_reads_the_new_secret_and_handoffs(function_env: SesProxy, inputs_bucket) -> None:
    """Two calls in one process: what the first read (settings, secret, clients, templates, objects) never answers the second."""
    moto = function_env.upstream
    upload(EXAMPLES / "handoffs", HANDOFFS.split("/", 3)[3])
    inputs = {"DYNAMODB_EXPORT_DIR": FOLDERS["DYNAMODB_EXPORT_DIR"]}  # the handoffs in S3 are what changes
    put_secret(moto, settings(**inputs, EXEC_REPORT_TO="first@example.com"))
    assert ser.lambda_handler({"as_of": "2026-11-22", "only": ["cfo"]}, None)["sent"] == ["cfo"]
    # between the calls: the secret names new readers and a new sender; a handoff's object in S3 is overwritten
    verify_sender(moto, "other@example.com")
    put_secret(moto, settings(**inputs, EXEC_REPORT_TO="second@example.com", SES_FROM_ADDRESS="other@example.com"))
    texts = {o["Key"]: inputs_bucket.get_object(Bucket=INPUTS, Key=o["Key"])["Body"].read().decode()
             for o in inputs_bucket.list_objects_v2(Bucket=INPUTS)["Contents"]}
    key, text = next((k, t) for k, t in sorted(texts.items()) if "\ncash: " in t)
    old_cash = text.split("\ncash: ", 1)[1].split("\n", 1)[0]
    inputs_bucket.put_object(Bucket=INPUTS, Key=key, Body=text.replace(f"\ncash: {old_cash}\n", "\ncash: 987654321\n", 1))
    assert ser.lambda_handler({"as_of": "2026-11-29", "only": ["cfo"]}, None)["sent"] == ["cfo"]
    first, second = moto_messages(moto)
    assert first["destinations"]["ToAddresses"] == ["first@example.com"]
    assert second["destinations"]["ToAddresses"] == ["second@example.com"]
    assert second["source"] == "other@example.com"
    assert "$987,654,321" in second["body"] and "$987,654,321" not in first["body"]


def test_nothing_from_the_secret_is_printed_logged_or_archived(
        function_env: SesProxy, sample_in_s3, capsys: pytest.CaptureFixture[str]) -> None:
    """The secret holds the dashboard's token and URL: no output, log record or archived object may show them."""
    moto = function_env.upstream
    board = Dashboard()
    failures: list[str] = []
    try:
        url = f"{board.url.split('/hooks')[0]}/{PLANTED_PATH}/cards?key={PLANTED_TOKEN}q"
        planted = {"DASHBOARD_WEBHOOK_URL": url, "DASHBOARD_TOKEN": PLANTED_TOKEN}
        put_secret(moto, settings(**planted))
        records: list[str] = []

        class Keep(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                records.append(record.getMessage())

        keep = Keep(logging.DEBUG)
        ser.log.addHandler(keep)
        try:
            sent = ser.lambda_handler({"as_of": "2026-11-22", "only": ["ceo"]}, None)  # inputs in S3
            put_secret(moto, settings(**planted, **FOLDERS))
            ser.lambda_handler({"as_of": "2026-11-22", "only": ["ceo"], "dry_run": True}, None)  # in folders
            function_env.rules["SendEmail"] = lambda fields, n: ("error", 400, "MessageRejected", "paused")
            with pytest.raises(ser.RunFailed) as failed:
                ser.lambda_handler({"as_of": "2026-11-29", "only": ["ceo"]}, None)
            failures.append(str(failed.value))
            # a handoff in S3 that cannot be read: the error names its s3:// key, and nothing of the secret
            put_secret(moto, settings(**planted))
            sample_in_s3.put_object(Bucket=INPUTS, Key=f"{HANDOFFS.split('/', 3)[3]}/broken.md",
                                    Body=b"---\nentity: Acme\n---\n")
            with pytest.raises(ser.RunFailed) as failed:
                ser.lambda_handler({"as_of": "2026-12-06", "only": ["ceo"]}, None)
            failures.append(str(failed.value))
        finally:
            ser.log.removeHandler(keep)
        assert sent["sent"] == ["ceo"] and len(board.cards) == 3  # the token and URL were used
        assert board.requests[0][1]["Authorization"] == f"Bearer {PLANTED_TOKEN}"
    finally:
        board.close()
    assert f"{HANDOFFS}/broken.md" in failures[1]
    out = capsys.readouterr()
    s3 = client(moto, "s3")
    archived = [s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read().decode()
                for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert len(archived) >= 4  # the report, its figures, the ledger of each week
    for where, text in [("stdout", out.out), ("stderr", out.err), *(("exception", f) for f in failures),
                        ("result", json.dumps(sent)), *(("log", r) for r in records),
                        *(("archive", a) for a in archived)]:
        assert PLANTED_TOKEN not in text, where
        assert PLANTED_PATH not in text, where


# Cron and the function on one S3 ledger (moving from one to the other).


def test_a_cron_run_and_an_invocation_racing_on_one_s3_ledger_send_each_report_once(
        function_env: SesProxy, sample_in_s3, same_place: Path) -> None:
    """The move from cron to the schedule: both read the inputs in S3 and share ARCHIVE_DIR; no week is sent twice."""
    moto = function_env.upstream
    put_secret(moto, settings())
    function_env.rules["SendEmail"] = lambda fields, n: ("delay", 0.2)  # keeps the two runs overlapping
    script = install_copy(same_place / "app", examples=False)
    write_env(script.parent, function_env.url, ARCHIVE_DIR=ARCHIVE, HANDOFF_DIR=HANDOFFS, DYNAMODB_EXPORT_DIR=EXPORTS)
    cron = subprocess.Popen(tool_command(script, "--as-of", "2026-11-22", "--only", "ceo,cfo"), cwd="/",
                            env={}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        result: dict[str, object] | str = ser.lambda_handler({"as_of": "2026-11-22", "only": ["ceo", "cfo"]}, None)
    except ser.RunFailed as exc:  # the cron run held the lock past the wait
        result = str(exc)
    cron_code, (_, cron_err) = cron.wait(timeout=60), cron.communicate()
    assert cron_code in (0, 75), cron_err
    assert "Traceback" not in cron_err
    if isinstance(result, str):
        assert result.startswith("exit 75: another run holds the lock: another run holds the lock in "), result
    else:
        assert sorted([*result["sent"], *result["skipped"]]) == ["ceo", "cfo"]  # type: ignore[misc]
    assert sorted(subjects(moto)) == sorted([subject_of("ceo"), subject_of("cfo")])  # each exactly once
    assert ledger(moto) == {"ceo": "sent", "cfo": "sent"}



# The package: the script and reports/ only (scripts/build_lambda.py), no examples, no repos.env.

PACKAGED_CALLS = """
import json, os, sys
import send_exec_reports as ser
print(json.dumps(ser.__file__))
print(json.dumps(ser.lambda_handler({"as_of": "2026-11-22", "only": ["cto"]}, None)))
os.environ["SETTINGS_SECRET_ID"] = sys.argv[1]  # a secret that names no inputs: the first dry run of a new stack
try:
    ser.lambda_handler({"dry_run": True}, None)
except ser.RunFailed as exc:
    print(json.dumps(str(exc)))
"""


def test_the_package_runs_from_s3_with_no_file_but_its_own(function_env: SesProxy, sample_in_s3,
                                                            same_place: Path) -> None:
    """A deployed function has no examples/ and a read-only folder: it reads S3, writes nothing local, and says what is unset."""
    from build_lambda import build_folder

    moto = function_env.upstream
    package = build_folder(same_place / "package")
    cwd = same_place / "cwd"
    cwd.mkdir()
    put_secret(moto, settings())
    put_secret(moto, {"SES_FROM_ADDRESS": SENDER}, secret_id="exec-reports/no-inputs")
    before = sorted(package.rglob("*"))
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "PYTHONPATH": str(package),
           "PYTHONDONTWRITEBYTECODE": "1", "AWS_REGION": "us-west-2", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_ENDPOINT_URL": function_env.url, "SETTINGS_SECRET_ID": SECRET,
           "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_EC2_METADATA_DISABLED": "true"}
    child = subprocess.run([sys.executable, "-c", PACKAGED_CALLS, "exec-reports/no-inputs"], cwd=cwd, env=env,
                           capture_output=True, text=True, timeout=60)
    assert child.returncode == 0, child.stderr
    where, result, unset = (json.loads(line) for line in child.stdout.splitlines()[-3:])
    assert where == str(package / "send_exec_reports.py")
    assert result == {"status": 0, "period": "2026-W47", "dry_run": False, "sent": ["cto"], "skipped": []}
    assert subjects(moto) == [subject_of("cto")] and ledger(moto) == {"cto": "sent"}
    assert unset == ("exit 78: bad configuration: HANDOFF_DIR is not set (no settings file, and not in the "
                     "environment, nor in the secret exec-reports/no-inputs): set it to the folder of handoff documents, or their s3://bucket/prefix")
    assert sorted(package.rglob("*")) == before and list(cwd.iterdir()) == []
