"""Tests for single plausible bugs that the rest of the suite let through.

Each was found by planting one bug at a time in send_exec_reports.py and running the
tests of its section; the test named for it fails with that bug in place.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import send_exec_reports as ser

from .conftest import EXAMPLES

PATH_SECRET, QUERY_SECRET, FILE_SECRET = "PathSecret9a8b7c", "QuerySecret6d5e4f", "FileSecret3g2h1i"


def handoffs(tmp_path: Path, *fronts: str) -> Path:
    """A folder of handoffs, one per front matter given."""
    folder = tmp_path / "handoffs"
    folder.mkdir()
    for i, front in enumerate(fronts):
        (folder / f"h{i}.md").write_text(f"---\n{front}---\nNotes.\n", encoding="utf-8")
    return folder


# -- reading handoffs -------------------------------------------------------------


def test_an_alias_with_no_anchor_is_refused_as_an_alias(tmp_path: Path) -> None:
    # an alias is refused for what it is, before YAML is asked to resolve it
    folder = handoffs(tmp_path, "entity: A\nstatus: active\nupdated: 2026-11-20\ncash: *money\n")
    with pytest.raises(ser.InputError) as refused:
        ser.read_handoffs(folder)
    assert str(refused.value) == (
        f"{folder / 'h0.md'}:5: alias *money is not allowed: aliases let a file of a few hundred bytes stand for "
        "gigabytes; write the value out in full"
    )


# -- secrets in every message path ------------------------------------------------


def settings_file(tmp_path: Path, endpoint: str, *extra: str, broken: bool = False) -> Path:
    """A repos.env with secrets and `endpoint`; `broken`: the secret key's '=' forgotten (a line the parser rejects)."""
    env = tmp_path / "repos.env"
    env.write_text("\n".join([
        f"HANDOFF_DIR={EXAMPLES / 'handoffs'}",
        "SES_FROM_ADDRESS=reports@example.com",
        "EXEC_REPORT_TO=owner@example.com",
        "EXEC_REPORT_BCC=admin@example.com",
        "ARCHIVE_DIR=archive",
        "AWS_ACCESS_KEY_ID=AKIAEXAMPLEKEYID0001",
        f"AWS_SECRET_ACCESS_KEY{' ' if broken else '='}{FILE_SECRET}",
        f"AWS_SESSION_TOKEN={FILE_SECRET}x",
        f"AWS_ENDPOINT_URL={endpoint}",
        *extra,
    ]) + "\n")
    return env


def assert_no_secret(*texts: str) -> None:
    """None of the planted secrets shows in any text."""
    for text in texts:
        for secret in (PATH_SECRET, QUERY_SECRET, FILE_SECRET):
            assert secret not in text, text


def test_a_bad_settings_line_is_named_by_number_not_by_its_text(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                caplog: pytest.LogCaptureFixture) -> None:
    env = settings_file(tmp_path, "http://127.0.0.1:9", f"DYNAMODB_EXPORT_DIR={EXAMPLES / 'dynamodb'}", broken=True)
    assert ser.main(["--env-file", str(env), "--dry-run", "--only", "ceo", "--as-of", "2026-11-22"]) == 78
    captured = capsys.readouterr()
    assert f"{env}:7: not a NAME=value line; write it as NAME=value" in captured.err  # stopped: a setting is lost
    assert_no_secret(captured.out, captured.err, caplog.text)


def test_a_token_in_the_endpoint_is_not_printed_when_a_table_cannot_be_read_live(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = settings_file(tmp_path, f"http://127.0.0.1:9/{PATH_SECRET}/?token={QUERY_SECRET}")
    assert ser.main(["--env-file", str(env), "--dry-run", "--as-of", "2026-11-22"]) == 65
    captured = capsys.readouterr()
    assert "cannot be read live: could not connect to http://127.0.0.1:9;" in captured.err
    assert_no_secret(captured.out, captured.err)


def test_a_token_in_the_endpoint_is_not_printed_when_the_estate_cannot_be_read(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = settings_file(tmp_path, f"http://127.0.0.1:9/{PATH_SECRET}/?token={QUERY_SECRET}",
                        f"DYNAMODB_EXPORT_DIR={EXAMPLES / 'dynamodb'}", "AWS_INVENTORY=1")
    assert ser.main(["--env-file", str(env), "--as-of", "2026-11-22"]) != 0
    captured = capsys.readouterr()
    assert "AWS_INVENTORY: Lambda cannot be read (could not connect to http://127.0.0.1:9)" in captured.err
    assert_no_secret(captured.out, captured.err)
    assert not (tmp_path / "archive" / "2026-W47").exists()  # nothing sent, nothing archived


def test_front_matter_of_exactly_the_most_values_is_read_and_one_more_is_refused() -> None:
    # a mapping, three keys and values, the key x and its list: 9 values before the list's items
    def front(items: int) -> str:
        return "entity: A\nstatus: active\nupdated: 2026-11-20\nx: [" + ",".join(["0"] * items) + "]\n"

    assert ser._refuse_references(front(ser.MAX_VALUES - 9), 2) == []
    assert ser._refuse_references(front(ser.MAX_VALUES - 8), 2) == [
        (5, f"front matter holds over {ser.MAX_VALUES:,} values; a handoff's front matter holds a few hundred: "
            "move the rest to the notes below it")
    ]


# -- reading exports ----------------------------------------------------------------


def data_file(tmp_path: Path, lines: list[bytes]) -> Path:
    """A gzip data file of these lines, each ended by a newline."""
    import gzip

    path = tmp_path / "part-0.json.gz"
    path.write_bytes(gzip.compress(b"".join(line + b"\n" for line in lines), mtime=0))
    return path


def aws_line(i: int, done: bool) -> bytes:
    """One item as AWS writes it: compact, on one line."""
    return b'{"Item":{"pk":{"S":"t%d"},"done":{"BOOL":%s}}}' % (i, b"true" if done else b"false")


@pytest.mark.parametrize("blank", [False, True], ids=["aws-lines", "with-a-blank-line"])
def test_one_item_more_than_the_manifest_says_is_found(tmp_path: Path, blank: bool) -> None:
    # read as one block of AWS's lines, or line by line (a blank line makes the block irregular)
    lines = [aws_line(i, True) for i in range(4)]  # all of one length
    path = data_file(tmp_path, lines[:2] + [b""] * blank + lines[2:])
    assert ser._read_data_file(path, "done", max_items=4) == (4, 4)  # exactly as many: all read
    assert ser._read_data_file(path, "done", max_items=3)[0] == 4  # one more: seen, so the count differs
    # reads of two lines each: the manifest's count is reached at the end of a read, and
    # reading goes on to find the items past it
    two_lines = 2 * (len(lines[0]) + 1)
    assert ser._read_data_file(path, "done", max_items=2, block_size=two_lines)[0] > 2


def reference_counts(path: Path, name: str) -> tuple[int, int]:
    """(items, done) by json.loads of every non-blank line."""
    import gzip
    import json

    items = done = 0
    for line in gzip.decompress(path.read_bytes()).split(b"\n"):
        if line.strip():
            items += 1
            record = json.loads(line)["Item"]
            done += name in record and ser.decode_attribute(record[name]) is True
    return items, done


TWICE_TRUE = b'{"Item":{"done":{"BOOL":true},"pk":{"S":"1"},"done":{"BOOL":true}}}'
TRUE_THEN_FALSE = b'{"Item":{"done":{"BOOL":true},"pk":{"S":"2"},"done":{"BOOL":false}}}'


def test_a_line_naming_the_done_attribute_twice_counts_as_json_loads_reads_it(tmp_path: Path) -> None:
    # read line by line (the blank line): json.loads keeps the last of a repeated key
    path = data_file(tmp_path, [TWICE_TRUE, b"", aws_line(3, True)])
    assert ser._read_data_file(path, "done") == reference_counts(path, "done") == (2, 2)


@pytest.mark.parametrize("line", [TWICE_TRUE, TRUE_THEN_FALSE], ids=["true-twice", "true-then-false"])
def test_a_repeated_done_attribute_in_a_regular_block(tmp_path: Path, line: bytes) -> None:
    path = data_file(tmp_path, [line, aws_line(3, True)])
    assert ser._read_data_file(path, "done") == reference_counts(path, "done")


@pytest.mark.parametrize("extra", [0, 1], ids=["exactly-1-MiB", "one-byte-more"])
def test_blank_lines_among_items_are_allowed_up_to_1_mib(tmp_path: Path, extra: int) -> None:
    # one read holds it all, items and blank lines together: counted line by line
    half = b" " * ((ser.MAX_BLANK_BYTES >> 1) - 1)  # with its newline, half of the allowance
    path = data_file(tmp_path, [aws_line(0, True), half, aws_line(1, False), half + b" " * extra, aws_line(2, True)])
    if extra:
        with pytest.raises(ser.InputError, match=r":4: more than 1 MiB of blank lines \(AWS writes none\)"):
            ser._read_data_file(path, "done", block_size=4 << 20)
    else:
        assert ser._read_data_file(path, "done", block_size=4 << 20) == (3, 2)


# -- routing --------------------------------------------------------------------------


def sample_metrics() -> dict:
    """The figures of the sample portfolio for the golden as-of date."""
    import datetime as dt

    portfolio = ser.read_handoffs(EXAMPLES / "handoffs")
    counts = ser.read_tables(ser.table_needs(portfolio), EXAMPLES / "dynamodb")
    return ser.compute_metrics(portfolio, counts, dt.date(2026, 11, 22))


def test_the_cto_sees_every_security_finding_a_unit_its_own_and_others_none() -> None:
    metrics = sample_metrics()
    findings = metrics["security"]
    entities = {s["entity"] for s in findings}
    assert len(entities) >= 2  # findings of several businesses, so "its own" is a real choice

    def names(rows: list[dict]) -> list[tuple[str, str]]:
        return [(s["entity"], s["finding"]) for s in rows]

    assert names(ser.routed(metrics, "CTO")["security"]) == names(findings)
    assert names(ser.routed(metrics, "cto")["security"]) == names(findings)  # the persona in any case
    one = sorted(entities)[0]
    assert names(ser.routed(metrics, "Unit", entity=one)["security"]) == names(
        [s for s in findings if s["entity"] == one])
    assert ser.routed(metrics, "CFO")["security"] == []
    assert ser.routed(metrics, "CEO")["security"] == []


# -- delivery -------------------------------------------------------------------------


def test_a_test_send_stops_at_a_failure_that_stops_every_send(tmp_path: Path, moto: str, ses_proxy,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    from .test_delivery import send, verify_sender, write_env

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


# -- the command line -----------------------------------------------------------------


@pytest.mark.parametrize("only", ["", " , ", ","])
def test_selecting_no_report_is_refused_and_never_means_all(only: str) -> None:
    # the command line refuses these first; select_reports must not fall back to every report either
    reports = ser.load_reports()
    with pytest.raises(ser.UsageError, match="unknown report"):
        ser.select_reports(reports, only)
    assert ser.select_reports(reports, None) == reports


# -- metrics.json ---------------------------------------------------------------------


def test_the_metrics_json_a_send_keeps_holds_exactly_the_figures_of_the_reports(tmp_path: Path, moto: str,
                                                                                ses_proxy) -> None:
    import json

    from .test_delivery import send, verify_sender, write_env

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


# -- needs you and routing: the day windows on both sides ----------------------------


def action_metrics(tmp_path: Path, *actions: tuple[str, str, str]) -> dict:
    """Figures of one handoff whose actions are (title, due, persona), as of 2026-11-22."""
    import datetime as dt

    rows = "".join(f"  - title: {t}\n    due: {d}\n    persona: {p}\n" for t, d, p in actions)
    folder = handoffs(tmp_path, f"entity: A\nstatus: active\nupdated: 2026-11-20\nactions:\n{rows}")
    return ser.compute_metrics(ser.read_handoffs(folder), {}, dt.date(2026, 11, 22))


def test_an_action_due_in_seven_days_needs_you_and_in_eight_does_not(tmp_path: Path) -> None:
    m = action_metrics(tmp_path, ("In six", "2026-11-28", "CFO"), ("In seven", "2026-11-29", "CFO"),
                       ("In eight", "2026-11-30", "CFO"), ("Today", "2026-11-22", "CFO"))
    needs = ser.needs_you(m, "CFO")
    assert [(i["what"], i["how"]) for i in needs["items"]] == [
        ("Today", "due today"), ("In six", "due in 6 days"), ("In seven", "due in 7 days"),
    ]  # soonest first
    assert needs["total"] == 3


def test_the_ceo_gets_actions_due_on_the_horizon_and_not_a_day_after(tmp_path: Path) -> None:
    """Another persona's P1 action reaches the CEO up to 30 days ahead, not a day more."""
    m = action_metrics(tmp_path, ("On the horizon", "2026-12-22", "CFO"), ("A day after", "2026-12-23", "CFO"),
                       ("Long before", "2026-11-23", "CFO"))
    for a in m["actions"]:
        a["priority"] = 1  # the CEO sees other personas' actions only when overdue or P1
    assert str(m["action_horizon"]) == "2026-12-22"  # 30 days after the as-of date
    assert [a["title"] for a in ser.routed(m, "CEO")["actions"]] == ["Long before", "On the horizon"]
    assert len(ser.routed(m, "CFO")["actions"]) == 3  # its own persona gets all of them
