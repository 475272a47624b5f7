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

import pytest

import send_exec_reports as ser

from .conftest import ROOT, SesProxy, aws
from .test_delivery import IDS, send, verify_sender, write_env


@pytest.fixture(autouse=True)
def no_poll_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto waits out a long poll on an empty queue: the runs here poll without waiting (the
    waits asked for are tested on read_ses_events through a proxy)."""
    monkeypatch.setattr(ser, "EVENTS_POLL_WAIT_SECONDS", 0)


def sqs(endpoint: str) -> object:
    """An SQS client on moto."""
    return aws("sqs", endpoint)


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


def test_an_open_or_click_is_news_of_a_reader_not_of_delivery() -> None:
    """Open and click tracking on the configuration set made every run warn of messages 'that held no SES event'."""
    for kind in ("Open", "Click", "Subscription"):
        event = ser.parse_ses_event(via_sns(ses_event(kind, "m-1")))
        assert event is not None and event["message_id"] == "m-1" and event["state"] == ""
    assert ser.parse_ses_event(via_sns(ses_event("Rendering Failure", "m-1"))) is None  # not one the tool knows
    assert ser.parse_ses_event(json.dumps({"eventType": "Open", "mail": {}})) is None  # no MessageId: no SES event


def test_parse_ses_event_reads_sns_wrapped_and_raw_events() -> None:
    bounce = ser.parse_ses_event(via_sns(ses_event("Bounce", "m-1")))
    assert bounce == {"message_id": "m-1", "state": "bounced", "at": "2026-11-22T08:00:05.000Z",
                      "sent": "2026-11-22T08:00:05.000Z", "detail": "Permanent/General: owner@example.com"}
    raw = ser.parse_ses_event(json.dumps(ses_event("Delivery", "m-2")))  # raw message delivery
    assert raw is not None and raw["state"] == "delivered" and raw["detail"] == "to 2 recipients"
    soft = ser.parse_ses_event(via_sns(ses_event("Bounce", "m-3", bounceType="Transient")))
    assert soft is not None and soft["state"] == "delayed"  # SES tries a soft bounce again
    notification = {"notificationType": "Complaint", **{k: v for k, v in ses_event("Complaint", "m-4").items()
                                                          if k != "eventType"}}
    assert ser.parse_ses_event(json.dumps(notification))["state"] == "complained"  # type: ignore[index]
    for junk in ("not json", "[]", json.dumps({"Type": "Notification", "Message": "{"}),
                 json.dumps({"eventType": "Rendering Failure", "mail": {"messageId": "m"}}), json.dumps({"mail": {}})):
        assert ser.parse_ses_event(junk) is None, junk


def test_the_news_that_stands_is_a_final_state_then_the_latest() -> None:
    """A DeliveryDelay followed by the Delivery left the report 'delayed' for good: a final state
    beats a transient one, whatever order the events arrive in."""
    settle = ser.settled_event
    delayed = {"state": "delayed", "at": "2026-11-22T08:00:00.000Z", "detail": "x"}
    delivered = {"state": "delivered", "at": "2026-11-22T08:30:00.000Z", "detail": "to 2 recipients"}
    bounced = {"state": "bounced", "at": "2026-11-22T07:00:00.000Z", "detail": "x"}
    assert settle(None, delivered) == delivered
    assert settle(delayed, delivered) == delivered and settle(delivered, delayed) == delivered
    assert settle(delivered, {**delayed, "at": "2026-11-22T09:00:00.000Z"}) == delivered  # another reader's delay
    assert settle(delivered, bounced) == bounced
    assert settle(bounced, delivered) == bounced  # a later delivery to another reader undoes no bounce
    assert settle(bounced, {"state": "rejected", "at": "", "detail": ""})["state"] == "rejected"
    later = {**delivered, "at": "2026-11-22T08:40:00.000Z", "detail": "to 1 recipients"}
    assert settle(later, delivered) == later and settle(delivered, later) == later  # the same state: the later


def test_events_are_ordered_by_their_own_time_whatever_its_spelling() -> None:
    """Timestamps compared as written put '08:00:05Z' after '08:00:05.500Z'; each is read as a time."""
    first = ser.parse_ses_event(json.dumps(ses_event("Bounce", "m-1", when="2026-11-22T08:00:05Z")))
    second = ser.parse_ses_event(json.dumps(ses_event("Bounce", "m-1", when="2026-11-22T09:00:05.500+01:00")))
    assert first is not None and second is not None
    assert (first["at"], second["at"]) == ("2026-11-22T08:00:05.000Z", "2026-11-22T08:00:05.500Z")
    assert ser.settled_event(second, first) == second and ser.settled_event(first, second) == second
    assert ser.event_time("not a time") == "" and ser.event_time(None) == ""


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
        via_sns(ses_event("Open", ids["ceo"])),  # open and click tracking: normal news of a reader, not of delivery
        json.dumps(ses_event("Click", ids["cfo"])),
        via_sns(ses_event("Delivery", "some-test-send", when="2026-11-01T08:00:00.000Z")),  # too old to match
        via_sns(ses_event("Delivery", "not-ours", when="2026-11-21T08:00:00.000Z")),  # recent: left in the queue
    ):
        client.send_message(QueueUrl=queue, MessageBody=body)  # type: ignore[attr-defined]

    assert send(env) == 69  # the rerun sends nothing, reads the news, and says the bad news
    err = capsys.readouterr().err
    assert ("send_exec_reports: delivery: cfo (2026-W47) bounced: Permanent/General: owner@example.com; check "
            "its readers' addresses (EXEC_REPORT_TO, EXEC_REPORT_TO_CFO)\n") in err
    assert "delivery: cmo (2026-W47) complained: complaint from partner@example.com" in err
    assert "SES_EVENTS_QUEUE_URL: deleted 1 message that held no SES event\n" in err  # not the open or click
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
    assert ("Last week's reports (2026-W47): 2 delivered; 1 bounced: CFO Report; 1 with a complaint: CMO Report; "
            "4 sent, no news yet: Accounting Officer Report, 3028 51st St Rental Report, Expert Yacht Delivery "
            "Report, DangerousCentaur Report" in " ".join(ceo.split()))
    assert len(IDS) == 2 + 2 + 4


def week_sent(tmp_path: Path, moto: str, proxy: SesProxy) -> tuple[Path, object, str, dict[str, str]]:
    """The CEO, CTO and CFO reports of 2026-W47 sent with delivery tracking on an empty queue: its
    repos.env, the SQS client, the queue's URL and each report's MessageId."""
    verify_sender(moto)
    client = sqs(moto)
    queue = client.create_queue(QueueName="ses-events")["QueueUrl"]  # type: ignore[attr-defined]
    env = write_env(tmp_path, proxy.url, SES_CONFIGURATION_SET="exec-reports", SES_EVENTS_QUEUE_URL=queue)
    assert send(env, "--only", "ceo,cto,cfo") == 0
    ledger = json.loads((tmp_path / "archive" / "2026-W47" / "ledger.json").read_text())
    return env, client, queue, {k: v["message_id"] for k, v in ledger.items()}


def delivery_news(tmp_path: Path, period: str = "2026-W47") -> dict[str, str]:
    """Each report's delivery state in a period's ledger."""
    ledger = json.loads((tmp_path / "archive" / period / "ledger.json").read_text())
    return {k: v["delivery"]["state"] for k, v in ledger.items() if "delivery" in v}


def delay_event(message_id: str, when: str) -> dict:
    """A DeliveryDelay event as event publishing writes it."""
    event = ses_event("Send", message_id, when)
    event["eventType"] = "DeliveryDelay"
    event["deliveryDelay"] = {"timestamp": when, "delayType": "TransientCommunicationFailure",
                              "delayedRecipients": [{"emailAddress": "owner@example.com"}]}
    return event


def test_a_delay_then_the_delivery_leaves_the_report_delivered(tmp_path: Path, moto: str, ses_proxy: SesProxy,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """The issue's case: a DeliveryDelay, then the Delivery in a later run, left 'delayed' for good,
    and next week's CEO report said so of a message that arrived."""
    env, client, queue, ids = week_sent(tmp_path, moto, ses_proxy)
    for body in (via_sns(delay_event(ids["ceo"], "2026-11-22T08:00:05.000Z")),
                 # the CTO's delivery arrives first, its earlier delay after it: the events' own times rule
                 via_sns(ses_event("Delivery", ids["cto"], when="2026-11-22T09:00:00.000Z")),
                 via_sns(delay_event(ids["cto"], "2026-11-22T08:00:05.000Z"))):
        client.send_message(QueueUrl=queue, MessageBody=body)  # type: ignore[attr-defined]
    assert send(env, "--only", "ceo") == 0  # sends nothing: reads the news
    assert delivery_news(tmp_path) == {"ceo": "delayed", "cto": "delivered"}
    client.send_message(QueueUrl=queue,  # type: ignore[attr-defined]
                        MessageBody=via_sns(ses_event("Delivery", ids["ceo"], when="2026-11-22T10:00:00.000Z")))
    assert send(env, "--only", "ceo") == 0  # sends nothing: reads the news
    assert delivery_news(tmp_path) == {"ceo": "delivered", "cto": "delivered"}
    assert queue_left(client, queue) == 0
    capsys.readouterr()
    assert ser.main(["--env-file", str(env), "--status", "--as-of", "2026-11-29"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "Last week's reports (2026-W47): 2 delivered; 1 sent, no news yet: CFO Report; 5 not sent: CMO Report, "
        "Accounting Officer Report, 3028 51st St Rental Report, Expert Yacht Delivery Report, DangerousCentaur Report")


def test_a_run_for_a_later_week_records_an_earlier_weeks_bounce_before_deleting_it(
        tmp_path: Path, moto: str, ses_proxy: SesProxy, capsys: pytest.CaptureFixture[str]) -> None:
    """A holiday week's reports sent early (--as-of two weeks on) deleted W47's bounce unrecorded:
    an event is recorded in the ledger of whichever period holds its MessageId, then deleted.
    Unmatched, it is deleted only when its message was sent before the archive's oldest period began."""
    env, client, queue, ids = week_sent(tmp_path, moto, ses_proxy)
    for body in (via_sns(ses_event("Bounce", ids["cfo"], when="2026-11-22T08:00:05.000Z")),
                 via_sns(ses_event("Delivery", "a-test-send", when="2026-11-20T08:00:00.000Z")),  # in W47: kept
                 via_sns(ses_event("Delivery", "before-the-archive", when="2026-11-15T23:59:59.000Z"))):
        client.send_message(QueueUrl=queue, MessageBody=body)  # type: ignore[attr-defined]
    capsys.readouterr()
    assert send(env, "--as-of", "2026-12-06", "--only", "ceo") == 69  # W49, sent on W47's Sunday
    err = capsys.readouterr().err
    assert "delivery: cfo (2026-W47) bounced: Permanent/General: owner@example.com" in err
    assert delivery_news(tmp_path) == {"cfo": "bounced"}
    assert queue_left(client, queue) == 1  # the test send's event: no ledger holds it, and it is not older


def test_an_unreadable_older_ledger_keeps_the_news_in_the_queue(tmp_path: Path, moto: str, ses_proxy: SesProxy,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Every ledger may hold an event's MessageId: one that cannot be read leaves every event in the
    queue (the reports still go out), and the run says which ledger to repair."""
    env, client, queue, ids = week_sent(tmp_path, moto, ses_proxy)
    damaged = tmp_path / "archive" / "2026-W40" / "ledger.json"
    damaged.parent.mkdir()
    damaged.write_text("{not json")
    client.send_message(QueueUrl=queue, MessageBody=via_sns(ses_event("Delivery", ids["ceo"])))  # type: ignore[attr-defined]
    capsys.readouterr()
    assert send(env, "--as-of", "2026-11-29", "--only", "ceo") == 69
    err = capsys.readouterr().err
    assert (f"{damaged}: this ledger cannot be read (--status --as-of 2026-09-28 says why), so no delivery news "
            "was read: repair it or move it aside; the delivery news waits in the queue for the next run") in err
    assert "sent 1 (" in err and delivery_news(tmp_path) == {}
    assert queue_left(client, queue) == 1


def fill_queue(moto: str, n: int) -> str:
    """A queue holding the messages m0 .. m<n-1>; its URL."""
    client = sqs(moto)
    queue = client.create_queue(QueueName="ses-events")["QueueUrl"]  # type: ignore[attr-defined]
    for batch in range(0, n, 10):
        client.send_message_batch(QueueUrl=queue, Entries=[  # type: ignore[attr-defined]
            {"Id": str(k), "MessageBody": f"m{k}"} for k in range(batch, min(n, batch + 10))])
    return queue


def test_the_queue_is_read_with_long_polls_past_empty_answers(moto: str, ses_proxy: SesProxy,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Real SQS answers "no messages" now and then while messages wait, and the first such answer
    ended the reading. moto never does (and waits out a long poll on an empty queue), so the proxy
    in front of it gives those answers: the 1st, the 3rd and from the 5th on."""
    monkeypatch.setattr(ser, "EVENTS_POLL_WAIT_SECONDS", 10)
    queue = fill_queue(moto, 15)
    empty = ("answer", 200, b"{}", "application/x-amz-json-1.0")
    ses_proxy.rules["ReceiveMessage"] = lambda fields, count: empty if count % 2 or count > 4 else None
    read = ser.read_ses_events(sqs(ses_proxy.url), queue)
    assert sorted(body for _, body in read) == sorted(f"m{n}" for n in range(15))
    asked = ses_proxy.actions("ReceiveMessage")
    assert len(asked) == 6  # two empty answers in a row end it
    assert {(a["WaitTimeSeconds"], a["MaxNumberOfMessages"]) for a in asked} == {(10, 10)}


def test_the_reading_of_the_queue_ends_at_its_deadline(moto: str, ses_proxy: SesProxy,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A queue that keeps answering must not keep the run: the reading stops EVENTS_READ_SECONDS
    after it began, and no poll waits past that (the clock is the test's)."""
    monkeypatch.setattr(ser, "EVENTS_POLL_WAIT_SECONDS", 10)
    queue = fill_queue(moto, 30)
    times = iter([0.0, 0.0, ser.EVENTS_READ_SECONDS - 4.5, ser.EVENTS_READ_SECONDS])
    read = ser.read_ses_events(sqs(ses_proxy.url), queue, clock=lambda: next(times))
    assert len(read) == 20
    assert [a["WaitTimeSeconds"] for a in ses_proxy.actions("ReceiveMessage")] == [10, 4]


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
    says how last week's reports fared, even before anything is recorded for this week, each
    outcome counted on its own and each report named (the wording checked by hand)."""
    archive = ser.FolderArchive(tmp_path / "archive")
    archive.write("2026-W46/ledger.json", json.dumps({
        "ceo": {"state": "sent", "at": "2026-11-15T08:00:00Z", "message_id": "m-1",
                "delivery": {"state": "delivered", "at": "2026-11-15T08:00:05Z", "detail": "to 2 recipients"}},
        "cfo": {"state": "sent", "at": "2026-11-15T08:00:01Z", "message_id": "m-2",
                "delivery": {"state": "bounced", "at": "2026-11-15T08:00:06Z", "detail": "Permanent/General: x"}},
        # the "5 with no delivery news": one sent without news yet, one failed, one unknown, three not tried
        "cto": {"state": "sent", "at": "2026-11-15T08:00:02Z", "message_id": "m-3"},
        "cmo": {"state": "failed", "at": "2026-11-15T08:00:03Z", "error": "SES refused it (MessageRejected)"},
        "rental": {"state": "sending", "at": "2026-11-15T08:00:04Z"},
        "card:shortfall-1-2026-W46": {"state": "posted", "at": "2026-11-15T08:00:09Z"},  # a card is no report
    }).encode())
    env = write_env(tmp_path, "http://127.0.0.1:9")
    assert ser.main(["--env-file", str(env), "--status", "--as-of", "2026-11-22"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("2026-W47: nothing recorded (")
    assert out[1:] == ["Last week's reports (2026-W46): 1 delivered; 1 bounced: CFO Report; 1 sent, no news yet: "
                       "CTO Report; 1 failed to send: CMO Report; 1 outcome unknown: 3028 51st St Rental Report; "
                       "3 not sent: Accounting Officer Report, Expert Yacht Delivery Report, DangerousCentaur Report"]
    # a report whose template is gone since is named by its id
    assert ser.delivery_line(archive, "2026-W47", {"ceo": "CEO Report"}) == (
        "Last week's reports (2026-W46): 1 delivered; 1 bounced: cfo; 1 sent, no news yet: cto; 1 failed to send: "
        "cmo; 1 outcome unknown: rental")
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


@pytest.mark.parametrize("key", ["eventType", "notificationType"])
@pytest.mark.parametrize("kind", [["Open"], {"Open": 1}, ["Delivery"]])
def test_an_event_type_that_is_not_text_holds_no_ses_event(key: str, kind: object) -> None:
    """Found by an attack on the reader events: an event type of a list or an object raised a traceback."""
    body = json.dumps({key: kind, "mail": {"messageId": "m-1", "timestamp": "2026-11-22T08:00:05Z"}})
    assert ser.parse_ses_event(body) is None
    assert ser.parse_ses_event(via_sns(json.loads(body))) is None
