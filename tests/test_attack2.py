"""Attacks on the archive, the side effects after the send and the options that read them.

Each test here was written against a defect found by attacking the tool (a damaged or
hostile archive, a hostile SES events queue, a dashboard that redirects); it fails
without its fix.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

import send_exec_reports as ser

from .conftest import SesProxy, as_on_a_terminal, install_copy, moto_messages
from .test_delivery import IDS, send, verify_sender, write_env

FIXTURES = Path(__file__).parent / "fixtures"


# --- a hostile SES events queue ---------------------------------------------------------

@pytest.mark.parametrize("kind, what", [
    ("Bounce", {"bounceType": "Permanent", "bouncedRecipients": 5}),
    ("Bounce", {"bounceType": "Permanent", "bouncedRecipients": None}),
    ("Complaint", {"complainedRecipients": True}),
    ("Delivery", {"recipients": None}),
    ("Delivery", {"recipients": 7}),
])
def test_an_event_with_fields_of_the_wrong_type_is_read_without_a_traceback(kind: str, what: dict) -> None:
    body = json.dumps({"eventType": kind, "mail": {"messageId": "m-1", "timestamp": "2026-11-22T08:00:05Z"},
                       kind[0].lower() + kind[1:]: what})
    event = ser.parse_ses_event(body)  # a traceback here stopped the run before any report was rendered
    assert event is not None and event["message_id"] == "m-1"
    assert event["state"] == ser.SES_EVENT_STATES[kind]


# --- a damaged ledger ----------------------------------------------------------------------

def write_ledger(folder: Path, period: str, entries: dict[str, dict[str, object]]) -> Path:
    """A ledger.json in the archive folder for `period`."""
    path = folder / "archive" / period / "ledger.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(entries), encoding="utf-8")
    return path


def sent(report_id: str) -> dict[str, object]:
    """A ledger entry for a report sent in an earlier run."""
    return {"state": "sent", "at": "2026-11-22T08:00:00+00:00", "subject": report_id, "message_id": f"m-{report_id}"}


def test_a_delivery_record_that_is_not_an_object_is_named_not_a_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # last week's ledger, hand-edited: "delivery" written as a word instead of a record
    write_ledger(tmp_path, "2026-W46", {"ceo": {**sent("ceo"), "delivery": "bounced"}})
    with pytest.raises(ValueError, match="delivery"):
        ser.parse_ledger((tmp_path / "archive" / "2026-W46" / "ledger.json").read_text())
    env = write_env(tmp_path, "http://127.0.0.1:9")
    assert ser.main(["--env-file", str(env), "--dry-run", "--as-of", "2026-11-22", "--only", "ceo"]) == 0
    assert "Subject:" in capsys.readouterr().out


def test_a_report_recorded_with_a_side_effects_state_is_not_resent_silently(
        tmp_path: Path, moto: str, ses_proxy: SesProxy, capsys: pytest.CaptureFixture[str]) -> None:
    verify_sender(moto)
    # every report sent; the CEO's entry damaged into a state only a metrics push has
    write_ledger(tmp_path, "2026-W47", {**{i: sent(i) for i in IDS}, "ceo": {"state": "pushed", "at": "x"}})
    env = write_env(tmp_path, ses_proxy.url)
    assert send(env) == ser.ExitStatus.CONFIG
    assert moto_messages(moto) == []  # the CEO report went out a second time, with exit 0
    err = capsys.readouterr().err
    assert "the send ledger is damaged" in err and "'ceo'" in err


def test_a_card_recorded_as_a_sent_email_is_refused(tmp_path: Path) -> None:
    text = json.dumps({"ceo": sent("ceo"), "card:shortfall-0123456789ab-2026-W47": {"state": "sending"}})
    with pytest.raises(ValueError, match="card:shortfall-0123456789ab-2026-W47"):
        ser.parse_ledger(text)


def test_a_metrics_timestamp_that_is_not_a_time_is_named_not_a_traceback(
        tmp_path: Path, moto: str, ses_proxy: SesProxy, capsys: pytest.CaptureFixture[str]) -> None:
    verify_sender(moto)
    write_ledger(tmp_path, "2026-W47", {**{i: sent(i) for i in IDS}, "metrics:cloudwatch:1": {
        "state": "pushing", "at": "2026-11-22T08:00:09+00:00", "namespace": "ExecReports", "values": "3",
        "timestamp": "last tuesday"}})
    env = write_env(tmp_path, ses_proxy.url, CLOUDWATCH_NAMESPACE="ExecReports")
    assert send(env) == ser.ExitStatus.CONFIG  # was: ValueError from fromisoformat, after the sends
    err = capsys.readouterr().err
    assert "the send ledger is damaged" in err and "timestamp" in err


# --- period folders that only look like weeks ----------------------------------------------

def metrics_with_cash(cash: str) -> bytes:
    """The committed metrics.json fixture with the portfolio's cash replaced."""
    data = json.loads((FIXTURES / "metrics-schema-1.json").read_text(encoding="utf-8"))
    data["portfolio"]["cash"] = cash
    return json.dumps(data).encode()


@pytest.mark.parametrize("planted, period", [
    ("2026-W99", "2027-W01"),  # no such week: sorted between 2026-W53 and 2027-W01
    ("2026-W46\n", "2026-W47"),  # a week's name with a newline after it
    ("2026-W5\uff13", "2027-W01"),  # a full-width digit: week 53 to int(), sorted after 2026-W53
    ("2025-W53", "2026-W01"),  # 2025 has 52 weeks
])
def test_a_folder_named_like_a_week_that_is_no_week_is_never_the_week_before(
        tmp_path: Path, planted: str, period: str) -> None:
    archive = ser.FolderArchive(tmp_path / "archive")
    real = ser.iso_period(ser.period_start(period) - ser.dt.timedelta(days=7))
    archive.write(f"{real}/metrics.json", metrics_with_cash("1000"))
    archive.write(f"{planted}/metrics.json", metrics_with_cash("999999"))
    earlier = ser.earlier_figures(archive, period)
    assert list(earlier) == [real]
    history = ser.history_figures(period, {"Portfolio": {"cash": ser.Decimal(1500)}}, earlier)
    assert ser.change_text(history, "Portfolio", "cash") == f" (+$500 vs {real})"


# --- absurd figures in an earlier week ---------------------------------------------------

@pytest.mark.parametrize("cash", ["1E+1000000", "1e999999", "-1e-999999"])
def test_an_absurd_earlier_figure_is_left_out_not_printed_or_a_traceback(
        tmp_path: Path, cash: str, capsys: pytest.CaptureFixture[str]) -> None:
    archive = ser.FolderArchive(tmp_path / "archive")
    archive.write("2026-W46/metrics.json", metrics_with_cash(cash))
    env = write_env(tmp_path, "http://127.0.0.1:9")
    assert ser.main(["--env-file", str(env), "--dry-run", "--as-of", "2026-11-22", "--only", "ceo,cfo"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert len(text) < 20_000  # was a 1.3 MB "Cash on hand" line for 1e999999; Overflow for 1E+1000000
    assert "Cash on hand: $70,500 (sum of the cash figures given)" in text  # no change against junk
    assert "Revenue: $41,258/month (+$600 vs 2026-W46)" in text  # the other figures still compare


# --- a dashboard that redirects ------------------------------------------------------------

class Recorder(BaseHTTPRequestHandler):
    """Records every request it gets (another origin a redirect points at)."""

    seen: ClassVar[list[tuple[str, str, str | None]]] = []

    def log_message(self, *args: object) -> None:
        return None

    def do_GET(self) -> None:
        self.seen.append((self.command, self.path, self.headers.get("Authorization")))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_GET


@pytest.fixture
def servers() -> Iterator[tuple[str, list[tuple[str, str, str | None]]]]:
    """A dashboard that answers every POST with 302 to another local server, and what that one saw."""
    seen: ClassVar[list[tuple[str, str, str | None]]] = []
    other = ThreadingHTTPServer(("127.0.0.1", 0), type("Other", (Recorder,), {"seen": seen}))
    elsewhere = f"http://127.0.0.1:{other.server_address[1]}/collect"

    class Redirecting(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            return None

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(302)
            self.send_header("Location", elsewhere)
            self.send_header("Content-Length", "0")
            self.end_headers()

    board = ThreadingHTTPServer(("127.0.0.1", 0), Redirecting)
    for server in (other, board):
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    yield f"http://127.0.0.1:{board.server_address[1]}/hooks/cards", seen
    for server in (other, board):
        server.shutdown()
        server.server_close()


def test_a_redirecting_dashboard_gets_no_token_elsewhere_and_the_card_is_not_recorded_as_posted(
        servers: tuple[str, list[tuple[str, str, str | None]]]) -> None:
    url, seen = servers
    card = {"id": "shortfall-0123456789ab-2026-W47", "title": "Fix the pump"}
    with pytest.raises(ser.CardFailed, match=r"HTTP 302"):
        ser.post_card(url, "dash-token-0123456789", card, sleep=lambda s: None)
    assert seen == []  # was: a GET with "Authorization: Bearer dash-token-..." to the other server, and "posted"


# --- CloudWatch's dimension alphabet -----------------------------------------------------

def test_every_dimension_value_is_one_cloudwatch_takes() -> None:
    """CloudWatch takes only ASCII dimension values (moto takes any): the name is folded to ASCII."""
    headline = {"Café Holdings": {"cash": ser.Decimal(5)}, "Portfolio": {"cash": ser.Decimal(5)}}
    data = ser.cloudwatch_data(headline, ser.dt.datetime(2026, 11, 22, tzinfo=ser.dt.UTC))
    values = [d["Dimensions"][0]["Value"] for d in data]
    # the API reference's rule for Dimension.Value: 1-1024 ASCII characters, no control
    # characters, at least one that is not white space
    assert values and all(v.isascii() and v.isprintable() and v.strip() and len(v) <= 1024 for v in values), values
    assert values == ["Cafe Holdings", "Portfolio"]


def test_names_that_fold_to_the_same_dimension_keep_series_of_their_own() -> None:
    taken: set[str] = set()
    names = ["Café", "Cafe", "東京", "Cafe\u0301", "Cafe"]
    values = [ser.cloudwatch_dimension(n, taken) for n in names[:4]]
    assert "Cafe" in values and values[2].startswith("entity (")
    assert len(set(values)) == 4 and all(v.isascii() and v.isprintable() and v.strip() for v in values), values
    again: set[str] = set()
    assert [ser.cloudwatch_dimension(n, again) for n in names[:4]] == values  # the same every week


# --- a dashboard that answers a byte at a time ---------------------------------------------

def test_a_dashboard_that_trickles_its_answer_does_not_hold_the_run() -> None:
    stop = threading.Event()

    class Trickling(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            return None

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(201)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            while not stop.wait(0.05):  # a byte well inside every socket timeout, for as long as the test lasts
                try:
                    self.wfile.write(b" ")
                    self.wfile.flush()
                except OSError:
                    return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Trickling)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    done = threading.Event()

    def post() -> None:
        ser.post_card(f"http://127.0.0.1:{server.server_address[1]}/hook", None, {"id": "c-1"}, timeout=1.0)
        done.set()

    threading.Thread(target=post, daemon=True).start()
    try:
        # the card is taken once the 201 is in; reading 65,536 bytes of its body at 20 a second took
        # nearly an hour while the run held the archive's lock (the generous wait is not a timing test)
        assert done.wait(30), "post_card was still reading the dashboard's answer"
    finally:
        stop.set()
        server.shutdown()
        server.server_close()


# --- a hostile or careless settings file ------------------------------------------------

def settings_refused(env: Path, capsys: pytest.CaptureFixture[str], *planted: str) -> str:
    """Run --check on a settings file: it must stop (78) with one line and show none of the planted text."""
    assert ser.main(["--env-file", str(env), "--check", "--dry-run", "--as-of", "2026-11-22"]) == 78
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.splitlines()) == 1, captured.err
    for secret in planted:
        assert secret not in captured.err
    return captured.err


def test_a_settings_file_that_is_a_loop_of_links_is_named_not_a_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.env").symlink_to(tmp_path / "b.env")
    (tmp_path / "b.env").symlink_to(tmp_path / "a.env")
    said = settings_refused(tmp_path / "a.env", capsys)
    assert f"--env-file {tmp_path / 'a.env'}: a loop of symbolic links" in said and "give the path" in said


def test_a_settings_file_far_too_big_for_one_is_refused_before_it_is_parsed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A log or a dump given as --env-file would take minutes and gigabytes to parse: refused at once."""
    env = tmp_path / "repos.env"
    head = b"HANDOFF_DIR=handoffs\nSECRET_THING=planted-secret-0123\n"
    env.write_bytes(head + b"#" * (ser.SETTINGS_MAX_BYTES - len(head)) + b"\n")  # one byte over
    said = settings_refused(env, capsys, "planted-secret-0123")
    assert f"{env}: over {ser.SETTINGS_MAX_BYTES >> 10} kB, too big for a settings file" in said


def test_a_settings_file_of_exactly_the_most_bytes_is_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = tmp_path / "repos.env"
    head = b"HANDOFF_DIR=nowhere\n"
    env.write_bytes(head + b"#" * (ser.SETTINGS_MAX_BYTES - len(head) - 1) + b"\n")
    assert "HANDOFF_DIR=nowhere: no such folder" in settings_refused(env, capsys)  # read: its setting is used


@pytest.mark.parametrize("name", ["HANDOFF_DIR", "ARCHIVE_DIR", "REPORTS_DIR", "DYNAMODB_EXPORT_DIR", "OTHER_TOOL"])
def test_a_nul_byte_in_the_settings_file_is_named_by_line_not_a_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    env = tmp_path / "repos.env"
    env.write_bytes(b"# settings\nEXEC_REPORT_TO=o@example.com\n" + name.encode() + b"=plant\x00ed-0123\n")
    said = settings_refused(env, capsys, "plant", "ed-0123")
    assert f"{env}:3: a NUL byte, so not a text file; save it as UTF-8 text" in said


def test_a_report_s_own_readers_from_the_environment_win_over_the_file_whatever_its_case(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """EXEC_REPORT_TO_cfo in the file must not beat EXEC_REPORT_TO_CFO in the environment: the environment wins."""
    env = tmp_path / "repos.env"
    env.write_text(f"HANDOFF_DIR={FIXTURES.parent.parent / 'examples' / 'handoffs'}\n"
                   f"DYNAMODB_EXPORT_DIR={FIXTURES.parent.parent / 'examples' / 'dynamodb'}\n"
                   "EXEC_REPORT_TO=all@example.com\nEXEC_REPORT_TO_cfo=file@example.com\n", encoding="utf-8")
    monkeypatch.setenv("EXEC_REPORT_TO_CFO", "env@example.com")
    assert ser.main(["--env-file", str(env), "--dry-run", "--only", "cfo", "--as-of", "2026-11-22"]) == 0
    out = capsys.readouterr().out
    assert "\nTo: env@example.com\n" in out and "file@example.com" not in out


@pytest.mark.parametrize("first, again", [
    ("EXEC_REPORT_BCC=old@example.com", "EXEC_REPORT_BCC=new@example.com"),
    ("EXEC_REPORT_TO_CFO=a@example.com", "export EXEC_REPORT_TO_cfo=b@example.com"),
])
def test_a_setting_written_twice_in_the_file_is_refused_naming_both_lines(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], first: str, again: str) -> None:
    """Which of two lines wins is not for the reader to guess: the one they edited may be the one ignored."""
    env = tmp_path / "repos.env"
    env.write_text(f"HANDOFF_DIR=handoffs\n{first}\n\nOTHER=1\n{again}\n", encoding="utf-8")
    said = settings_refused(env, capsys, "example.com")
    name = first.split("=")[0]
    assert f"{env}:5: {name} is set again (first on line 2); keep one of the two lines" in said


# --- names no handoff may give its business -----------------------------------------------

def handoff_of(folder: Path, entity: str, name: str = "a.md", project: str = "P") -> None:
    """Write one minimal handoff of entity (written as a JSON string: any character survives)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(f"---\nentity: {json.dumps(entity)}\nproject: {project}\nstatus: active\n"
                               "updated: 2026-10-09\nowner: JR\n---\nNotes.\n", encoding="utf-8")


@pytest.mark.parametrize("entity", ["Portfolio\u200b", "Port\u00adfolio", "\u2060PORTFOLIO", "\ufeffPortfolio",
                                    "AWS\u200d estate", "AWS e\u200cstate", "AWS \u200b estate", "ＡＷＳ estate\u200e"])
def test_a_reserved_name_with_an_invisible_character_in_it_is_still_refused(tmp_path: Path, entity: str) -> None:
    """A zero-width space or a soft hyphen is not seen on the page: the report would show two 'Portfolio' rows."""
    handoff_of(tmp_path, entity)
    with pytest.raises(ser.InputErrors) as caught:
        ser.read_handoffs(tmp_path)
    assert "name the business differently in every handoff of it" in caught.value.errors[0]


@pytest.mark.parametrize("entity", ["Portfolio Co", "Portfolios", "The Portfolio", "AWS Estates", "AWS-estate",
                                    "AWS estate agents", "Pörtfolio"])
def test_a_name_that_only_looks_like_a_reserved_one_is_a_business_of_its_own(tmp_path: Path, entity: str) -> None:
    handoff_of(tmp_path, entity)
    assert [h.entity for h in ser.read_handoffs(tmp_path).handoffs] == [entity]


def test_one_business_spelt_with_an_invisible_character_is_named_not_shown_as_two_rows(tmp_path: Path) -> None:
    handoff_of(tmp_path, "JADA", "a.md", project="Haul-out")
    handoff_of(tmp_path, "JA\u200bDA", "b.md", project="Charters")
    with pytest.raises(ser.InputErrors) as caught:
        ser.read_handoffs(tmp_path)
    assert "spell it the same way in every handoff" in caught.value.errors[0]


# --- standard output and error that cannot be written -----------------------------------

def run_tool(tmp_path: Path, *args: str, stdout: int | None = None, stderr: int | None = None,
             close: tuple[int, ...] = ()) -> subprocess.CompletedProcess[str]:
    """Run an installed copy on the sample portfolio, its output where asked, the descriptors in close closed."""
    script = install_copy(tmp_path / "tool")
    archive = tmp_path / "archive"
    archive.mkdir(exist_ok=True)
    env = tmp_path / "repos.env"
    env.write_text(f"HANDOFF_DIR={script.parent / 'examples' / 'handoffs'}\n"
                   f"DYNAMODB_EXPORT_DIR={script.parent / 'examples' / 'dynamodb'}\nARCHIVE_DIR={archive}\n",
                   encoding="utf-8")

    def close_them() -> None:
        for fd in close:
            os.close(fd)

    done = subprocess.run([sys.executable, str(script), "--env-file", str(env), "--as-of", "2026-11-22", *args],
                          stdout=subprocess.PIPE if stdout is None else stdout,
                          stderr=subprocess.PIPE if stderr is None else stderr, text=True, timeout=60,
                          env={"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8"}, preexec_fn=close_them)
    if done.stderr:
        done.stderr = as_on_a_terminal(done.stderr)
    return done


@pytest.mark.parametrize("args", [("--check", "--dry-run"), ("--dry-run", "--full"), ("--list",), ("--status",)])
def test_output_to_a_full_disk_is_one_line_naming_standard_output_not_the_archive(
        tmp_path: Path, args: tuple[str, ...]) -> None:
    with open("/dev/full", "w") as full:
        done = run_tool(tmp_path, *args, stdout=full.fileno())
    assert done.returncode == 78, done.stderr
    assert done.stderr.splitlines()[-1].endswith("cannot write standard output: the disk is full; "
                                            "free some space (or send the output elsewhere), then rerun")
    assert "ARCHIVE_DIR" not in done.stderr and "Traceback" not in done.stderr and "Exception" not in done.stderr


@pytest.mark.parametrize("args", [("--check", "--dry-run"), ("--dry-run", "--full"), ("--list",), ("--status",)])
def test_a_closed_standard_error_does_not_stop_the_run(tmp_path: Path, args: tuple[str, ...]) -> None:
    """`2>&-`: the run goes on; what it would have said on stderr is lost, its output and exit code are not."""
    done = run_tool(tmp_path, *args, stderr=subprocess.DEVNULL, close=(2,))
    assert done.returncode == 0 and done.stdout.strip(), done


def test_a_closed_standard_output_still_gives_the_exit_code_of_the_check(tmp_path: Path) -> None:
    done = run_tool(tmp_path, "--check", "--dry-run", "--only", "nosuch", stdout=subprocess.DEVNULL, close=(1,))
    assert done.returncode == 64 and "Traceback" not in done.stderr, done.stderr


def test_an_error_said_to_a_full_disk_keeps_its_exit_code(tmp_path: Path) -> None:
    """`2>/dev/full`: the line is lost, but cron still sees 64 (a usage error), not Python's 120."""
    with open("/dev/full", "w") as full:
        done = run_tool(tmp_path, "--dry-run", "--only", "nosuch", stderr=full.fileno())
    assert done.returncode == 64 and done.stdout == ""


@pytest.mark.parametrize("args", [("--check", "--dry-run"), ("--dry-run", "--full"), ("--status",)])
def test_more_output_read_by_a_closed_pipe_stops_quietly(tmp_path: Path, args: tuple[str, ...]) -> None:
    read, write = os.pipe()
    os.close(read)  # every write to the pipe fails
    try:
        done = run_tool(tmp_path, *args, stdout=write)
    finally:
        os.close(write)
    assert done.returncode == 141, done.stderr
    assert "ARCHIVE_DIR" not in done.stderr and "Traceback" not in done.stderr and "Exception" not in done.stderr


# --- many bad handoffs: memory as for one -------------------------------------------------

PAD = "expenses:\n" + "".join(f"  - {{vendor: V{i}, amount: {i}, category: Repairs}}\n" for i in range(200))
MISTAKES = {
    "a bad date": "updated: 2026-13-45\nowner: JR\n",
    "a bad number": "owner: JR\nexpenses:\n  - {vendor: X, amount: 12abc, category: Repairs}\n",
    "a bad enum": "status: sleeping\nowner: JR\n",
    "a wrong type": "owner: [1, 2]\n",
    "a missing key": None,
    "a duplicated key": "owner: JR\nowner: JR\n",
    "a YAML syntax error": "owner: [unclosed\n",
    "an anchor": "owner: &a JR\nother: *a\n",
    "a bad due date": "owner: JR\nactions:\n  - {title: T, due: 2026-02-30, priority: 3, persona: CEO, done: false}\n",
}


def peak_reading(folder: Path, mistake: str, count: int) -> int:
    """Peak bytes allocated reading count handoffs of 200 expenses each, all with the mistake."""
    import shutil
    import tracemalloc

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    for i in range(count):
        extra = MISTAKES[mistake]
        front = (f"entity: E{i}\nproject: P\n" if extra is None
                 else f"entity: E{i}\nproject: P\nstatus: active\nupdated: 2026-10-09\n{PAD}{extra}")
        (folder / f"f{i}.md").write_text(f"---\n{front}---\nNotes.\n", encoding="utf-8")
    tracemalloc.start()
    try:
        with pytest.raises(ser.InputErrors):
            ser.read_handoffs(folder, ["CEO"])
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_the_memory_of_reading_bad_handoffs_does_not_grow_with_their_number(tmp_path: Path, mistake: str) -> None:
    """A bad file's YAML nodes (some 100 kB here) are freed with the cycle collector paused: only its lines stay."""
    few, many = peak_reading(tmp_path / "h", mistake, 8), peak_reading(tmp_path / "h", mistake, 32)
    assert (many - few) / 24 < 5_000  # bytes a file: its error lines (a few hundred bytes), never its nodes
