"""Delivery tracking: the configuration set and tags on every send, and SES events read from SQS.

moto accepts SendEmail's ConfigurationSetName and Tags but neither checks nor records them,
and it never publishes SES events: the request fields are read through the proxy in front
of moto, and the queue (moto's SQS) is fed events in the format AWS documents for SES
event publishing through SNS.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import boto3
import pytest

import send_exec_reports as ser

from .conftest import ROOT, SesProxy
from .test_delivery import IDS, send, verify_sender, write_env


def sqs(endpoint: str) -> object:
    """An SQS client on moto."""
    return boto3.client("sqs", endpoint_url=endpoint, region_name="us-west-2",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def ses_event(kind: str, message_id: str, when: str = "2026-11-22T08:00:05.000Z", **what: object) -> dict:
    """An SES event as event publishing writes it (eventType, mail, and the event's own object)."""
    mail = {"timestamp": when, "source": "reports@example.com", "messageId": message_id,
            "destination": ["owner@example.com"], "tags": {"ses:configuration-set": ["exec-reports"]}}
    event: dict[str, object] = {"eventType": kind, "mail": mail}
    if kind == "Bounce":
        event["bounce"] = {"bounceType": "Permanent", "bounceSubType": "General", "timestamp": when,
                           "bouncedRecipients": [{"emailAddress": "owner@example.com"}], **what}
    elif kind == "Delivery":
        event["delivery"] = {"timestamp": when, "recipients": ["owner@example.com", "partner@example.com"]}
    elif kind == "Complaint":
        event["complaint"] = {"timestamp": when, "complainedRecipients": [{"emailAddress": "partner@example.com"}]}
    elif kind == "Reject":
        event["reject"] = {"reason": "Bad content"}
    return event


def via_sns(event: dict) -> str:
    """An SQS message body as an SNS subscription delivers it (the event is the notification's Message)."""
    return json.dumps({"Type": "Notification", "MessageId": "sns-1", "TopicArn": "arn:aws:sns:us-west-2:1:ses",
                       "Message": json.dumps(event), "Timestamp": "2026-11-22T08:00:06.000Z"})


def test_parse_ses_event_reads_sns_wrapped_and_raw_events() -> None:
    bounce = ser.parse_ses_event(via_sns(ses_event("Bounce", "m-1")))
    assert bounce == {"message_id": "m-1", "state": "bounced", "at": "2026-11-22T08:00:05.000Z",
                      "detail": "Permanent/General: owner@example.com"}
    raw = ser.parse_ses_event(json.dumps(ses_event("Delivery", "m-2")))  # raw message delivery
    assert raw is not None and raw["state"] == "delivered" and raw["detail"] == "to 2 recipients"
    soft = ser.parse_ses_event(via_sns(ses_event("Bounce", "m-3", bounceType="Transient")))
    assert soft is not None and soft["state"] == "delayed"  # SES tries a soft bounce again
    notification = {"notificationType": "Complaint", **{k: v for k, v in ses_event("Complaint", "m-4").items()
                                                          if k != "eventType"}}
    assert ser.parse_ses_event(json.dumps(notification))["state"] == "complained"  # type: ignore[index]
    for junk in ("not json", "[]", json.dumps({"Type": "Notification", "Message": "{"}),
                 json.dumps({"eventType": "Open", "mail": {"messageId": "m"}}), json.dumps({"mail": {}})):
        assert ser.parse_ses_event(junk) is None, junk


def test_the_worst_news_wins() -> None:
    delivered = {"state": "delivered", "at": "2026-11-22T08:00:00Z", "detail": ""}
    bounced = {"state": "bounced", "at": "2026-11-22T07:00:00Z", "detail": "x"}
    assert ser.worst_event(None, delivered) == delivered
    assert ser.worst_event(delivered, bounced) == bounced
    assert ser.worst_event(bounced, delivered) == bounced  # a later delivery to another reader hides nothing
    assert ser.worst_event(bounced, {"state": "rejected", "at": "", "detail": ""})["state"] == "rejected"


def test_every_send_carries_the_configuration_set_and_tags(tmp_path: Path, moto: str,
                                                           ses_proxy: SesProxy) -> None:
    verify_sender(moto)
    env = write_env(tmp_path, ses_proxy.url, SES_CONFIGURATION_SET="exec-reports")
    assert send(env, "--only", "ceo,cfo") == 0
    assert send(env, "--only", "cto", "--to", "me@example.com") == 0  # a test send is tagged as well
    env = write_env(tmp_path, ses_proxy.url, SES_CONFIGURATION_SET="exec-reports", EMAIL_FORMAT="text+html")
    assert send(env, "--only", "cmo") == 0
    plain, raw = ses_proxy.actions("SendEmail"), ses_proxy.actions("SendRawEmail")
    assert len(plain) == 3 and len(raw) == 1
    for fields, report_id in zip([*plain, *raw], ["ceo", "cfo", "cto", "cmo"], strict=True):
        assert fields["ConfigurationSetName"] == "exec-reports"
        assert {k: v for k, v in fields.items() if k.startswith("Tags.")} == {
            "Tags.member.1.Name": "report", "Tags.member.1.Value": report_id,
            "Tags.member.2.Name": "period", "Tags.member.2.Value": "2026-W47",
        }


def test_without_a_configuration_set_no_tags_go(tmp_path: Path, moto: str, ses_proxy: SesProxy) -> None:
    verify_sender(moto)
    assert send(write_env(tmp_path, ses_proxy.url), "--only", "ceo") == 0
    (fields,) = ses_proxy.actions("SendEmail")
    assert not any(k.startswith(("Tags.", "ConfigurationSetName")) for k in fields)


@pytest.mark.parametrize(("setting", "report_file"), [("bad set!", None), ("exec-reports", "cfo+weekly.md")])
def test_a_name_that_cannot_be_tagged_sends_nothing(tmp_path: Path, moto: str, ses_proxy: SesProxy, setting: str,
                                                     report_file: str | None,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    verify_sender(moto)
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "reports", templates)
    if report_file:
        (templates / "cfo.md").rename(templates / report_file)
    env = write_env(tmp_path, ses_proxy.url, SES_CONFIGURATION_SET=setting, REPORTS_DIR=str(templates))
    assert send(env) == 78
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert ("cfo+weekly" in err and "cannot be an SES tag value" in err) if report_file else \
        err.startswith("send_exec_reports: SES_CONFIGURATION_SET='bad set!': not a configuration set name")
    assert ses_proxy.actions("SendEmail") == []


def queue_left(client: object, url: str) -> int:
    """Messages still in the queue, visible or not."""
    attrs = client.get_queue_attributes(  # type: ignore[attr-defined]
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
    return sum(int(v) for v in attrs["Attributes"].values())


def test_events_are_recorded_a_bounce_is_loud_once_and_the_ceo_report_shows_last_week(
    tmp_path: Path, moto: str, ses_proxy: SesProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    verify_sender(moto)
    client = sqs(moto)
    queue = client.create_queue(QueueName="ses-events")["QueueUrl"]  # type: ignore[attr-defined]
    env = write_env(tmp_path, ses_proxy.url, SES_CONFIGURATION_SET="exec-reports", SES_EVENTS_QUEUE_URL=queue)
    assert send(env) == 0  # the queue is empty: nothing to say
    capsys.readouterr()
    ledger_path = tmp_path / "archive" / "2026-W47" / "ledger.json"
    ids = {k: v["message_id"] for k, v in json.loads(ledger_path.read_text()).items()}
    for body in (
        via_sns(ses_event("Delivery", ids["ceo"])),
        via_sns(ses_event("Bounce", ids["cfo"])),
        via_sns(ses_event("Delivery", ids["cfo"], when="2026-11-22T08:00:09.000Z")),  # another reader got it
        via_sns(ses_event("Complaint", ids["cmo"])),
        json.dumps(ses_event("Delivery", ids["cto"])),  # raw message delivery on the subscription
        "not an event",
        via_sns(ses_event("Delivery", "some-test-send", when="2026-11-01T08:00:00.000Z")),  # too old to match
        via_sns(ses_event("Delivery", "not-ours", when="2026-11-21T08:00:00.000Z")),  # recent: left in the queue
    ):
        client.send_message(QueueUrl=queue, MessageBody=body)  # type: ignore[attr-defined]

    assert send(env) == 69  # the rerun sends nothing, reads the news, and says the bad news
    err = capsys.readouterr().err
    assert ("send_exec_reports: delivery: cfo (2026-W47) bounced: Permanent/General: owner@example.com; check "
            "its readers' addresses (EXEC_REPORT_TO, EXEC_REPORT_TO_CFO)\n") in err
    assert "delivery: cmo (2026-W47) complained: complaint from partner@example.com" in err
    assert "SES_EVENTS_QUEUE_URL: deleted 1 message that held no SES event\n" in err
    assert "sent 0; skipped as already sent 8" in err
    ledger = json.loads(ledger_path.read_text())
    news = {k: v["delivery"]["state"] for k, v in ledger.items() if "delivery" in v}
    assert news == {"ceo": "delivered", "cfo": "bounced", "cmo": "complained", "cto": "delivered"}
    assert ledger["cfo"]["state"] == "sent" and ledger["cfo"]["message_id"] == ids["cfo"]
    assert queue_left(client, queue) == 1  # only the recent message no ledger names

    assert send(env) == 0  # recorded: not loud again
    assert "delivery:" not in capsys.readouterr().err

    assert ser.main(["--env-file", str(env), "--status", "--as-of", "2026-11-22"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[2:]}
    assert rows["cfo"].split()[3] == "bounced" and rows["cfo"].endswith(
        "bounced 2026-11-22T08:00:05.000Z: Permanent/General: owner@example.com")
    assert rows["ceo"].split()[3] == "delivered" and rows["rental"].split()[3:5] == ["no", "news"]

    assert send(env, "--as-of", "2026-11-29", "--only", "ceo") == 0  # next week
    ceo = (tmp_path / "archive" / "2026-W48" / "ceo.txt").read_text(encoding="utf-8")
    assert ("Last week's reports (2026-W47): 2 delivered, CFO Report bounced, CMO Report complained, 4 with no delivery news"
            in " ".join(ceo.split()))
    assert len(IDS) == 2 + 2 + 4


def test_a_queue_that_cannot_be_read_does_not_stop_the_reports(tmp_path: Path, moto: str, ses_proxy: SesProxy,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    verify_sender(moto)
    missing = f"{moto}/123456789012/no-such-queue"
    env = write_env(tmp_path, ses_proxy.url, SES_EVENTS_QUEUE_URL=missing)
    assert send(env) == 69
    err = capsys.readouterr().err
    assert "SES_EVENTS_QUEUE_URL: SQS refused reading the events (" in err
    assert "the delivery news waits in the queue for the next run" in err and "sent 8 (" in err


def test_status_shows_the_previous_weeks_delivery_as_the_ceo_report_does(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The news of a week's sends arrives with the next week's run: --status (this week by default)
    says how last week's reports fared, even before anything is recorded for this week."""
    archive = ser.FolderArchive(tmp_path / "archive")
    archive.write("2026-W46/ledger.json", json.dumps({
        "ceo": {"state": "sent", "at": "2026-11-15T08:00:00Z", "message_id": "m-1",
                "delivery": {"state": "delivered", "at": "2026-11-15T08:00:05Z", "detail": "to 2 recipients"}},
        "cfo": {"state": "sent", "at": "2026-11-15T08:00:01Z", "message_id": "m-2",
                "delivery": {"state": "bounced", "at": "2026-11-15T08:00:06Z", "detail": "Permanent/General: x"}},
    }).encode())
    env = write_env(tmp_path, "http://127.0.0.1:9")
    assert ser.main(["--env-file", str(env), "--status", "--as-of", "2026-11-22"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("2026-W47: nothing recorded (")
    assert out[1:] == ["Last week's reports (2026-W46): 1 delivered, CFO Report bounced"]
    # a report whose template is gone since is named by its id
    assert ser.delivery_line(archive, "2026-W47", {"ceo": "CEO Report"}) == (
        "Last week's reports (2026-W46): 1 delivered, cfo bounced")
    assert ser.main(["--env-file", str(env), "--status", "--as-of", "2026-11-15"]) == 0  # W46's own: no W45
    assert "Last week's" not in capsys.readouterr().out


# ---------------------------------------------------------------------------
# A hostile SES events queue


@pytest.mark.parametrize("kind, what", [
    ("Bounce", {"bounceType": "Permanent", "bouncedRecipients": 5}),
    ("Bounce", {"bounceType": "Permanent", "bouncedRecipients": None}),
    ("Complaint", {"complainedRecipients": True}),
    ("Delivery", {"recipients": None}),
    ("Delivery", {"recipients": 7}),
])
def test_an_event_with_fields_of_the_wrong_type_is_read_without_a_traceback(kind: str, what: dict) -> None:
    """Found by an attack: an SES event whose fields had the wrong type raised a traceback that stopped the run before any report was rendered."""
    body = json.dumps({"eventType": kind, "mail": {"messageId": "m-1", "timestamp": "2026-11-22T08:00:05Z"},
                       kind[0].lower() + kind[1:]: what})
    event = ser.parse_ses_event(body)  # a traceback here stopped the run before any report was rendered
    assert event is not None and event["message_id"] == "m-1"
    assert event["state"] == ser.SES_EVENT_STATES[kind]
