"""Dashboard cards, against a real HTTP server on 127.0.0.1 that can fail, hang and refuse."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

import send_exec_reports as ser

from .conftest import SesProxy, install_copy, moto_messages, run_script, serve_loopback, stop_server, tool_command
from .test_delivery import send, verify_sender, write_env


class Dashboard:
    """A dashboard webhook that honours Idempotency-Key; `script` answers each request in turn.

    Each script entry is an HTTP status (answered after storing the card, for 2xx),
    "hang" (no answer until the test ends) or "store-then-hang" (the card is stored,
    then no answer comes). When the script runs out it answers 201.
    """

    def __init__(self) -> None:
        self.script: list[int | str] = []
        self.requests: list[tuple[str, dict[str, str], dict[str, object]]] = []
        self.cards: dict[str, dict[str, object]] = {}
        self.release = threading.Event()
        board = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return None

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                board.requests.append((self.path, dict(self.headers), body))
                step = board.script.pop(0) if board.script else 201
                if step == "store-then-hang":
                    board.cards.setdefault(self.headers.get("Idempotency-Key", ""), body)
                    step = "hang"
                if step == "hang":
                    board.release.wait(30)
                    return
                key = self.headers.get("Idempotency-Key", "")
                if 200 <= int(step) < 300:
                    board.cards.setdefault(key, body)  # a repeated key makes no second card
                self.send_response(int(step))
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server, origin = serve_loopback(Handler)
        self.url = f"{origin}/hooks/cards?token=s3cr3t-query"

    def close(self) -> None:
        self.release.set()
        stop_server(self.server)


@pytest.fixture
def dashboard() -> Iterator[Dashboard]:
    board = Dashboard()
    yield board
    board.close()


def shortfall(entity: str, project: str | None, title: str, urgency: str, persona: str | None,
              source: str = "declared") -> dict[str, object]:
    """One shortfall as compute_metrics() lists it."""
    return {"entity": entity, "project": project, "title": title, "urgency": urgency, "persona": persona,
            "source": source}


METRICS = {
    "period": "2026-W47",
    "as_of": dt.date(2026, 11, 22),
    "action_horizon": dt.date(2026, 12, 22),
    "security": [],
    "kpis": [],
    # an overdue action ranks above the high shortfalls in "Needs you"; a card is never an action
    "actions": [{"entity": "Acme", "project": None, "title": "File the VAT return", "done": False, "overdue": True,
                 "days_overdue": 3, "priority": 1, "due": dt.date(2026, 11, 19), "persona": "CEO"}],
    "shortfalls": [
        shortfall("Beta", "Site", "Admin panel without login", "high", None),
        shortfall("JADA", "Charter", "No yard slot booked", "critical", "CEO"),
        shortfall("Acme", None, "Runway 3.0 months", "critical", "CFO", source="derived"),
        shortfall("Gamma", "X", "Fourth", "high", "CMO"),
        shortfall("Delta", "Y", "Medium, for the CMO only", "medium", "CMO"),
    ],
}


def test_cards_are_the_ceo_reports_top_three_shortfalls_with_ids_stable_for_the_period() -> None:
    cards = ser.dashboard_cards(METRICS)
    # the order of the CEO report's "Needs you": critical first, then high, by entity; the action is left out
    assert [c["title"] for c in cards] == ["Runway 3.0 months", "No yard slot booked", "Admin panel without login"]
    shown = [i for i in ser.needs_entries(METRICS, "CEO") if i["kind"] == "shortfall"]
    assert [c["id"] for c in cards] == [f"{i['id']}-2026-W47" for i in shown[:3]]  # the report's own item ids
    assert cards[1] == {"id": cards[1]["id"], "title": "No yard slot booked", "entity": "JADA", "persona": "CEO",
                        "urgency": "critical", "period": "2026-W47"}
    assert cards[0]["persona"] == "CFO"
    assert cards[2]["persona"] == "CEO"  # a shortfall with no persona is the CEO's
    assert ser.dashboard_cards(METRICS) == cards  # the same ids on a rerun
    assert len({c["id"] for c in cards}) == 3
    # the runway's figure changes from week to week; its card's id does not (but for the period)
    moved = [dict(s) for s in METRICS["shortfalls"]]  # type: ignore[union-attr]
    moved[2]["title"] = "Runway 2.5 months"
    assert ser.dashboard_cards({**METRICS, "shortfalls": moved})[0]["id"] == cards[0]["id"]
    next_week = ser.dashboard_cards({**METRICS, "period": "2026-W48"})
    assert {c["id"] for c in next_week}.isdisjoint(c["id"] for c in cards)


def test_a_card_is_posted_with_its_key_and_the_bearer_token(dashboard: Dashboard) -> None:
    card = ser.dashboard_cards(METRICS)[0]
    ser.post_card(dashboard.url, "tok-123", card, sleep=lambda s: None)
    ((path, headers, body),) = dashboard.requests
    assert path == "/hooks/cards?token=s3cr3t-query"
    assert headers["Idempotency-Key"] == card["id"]
    assert headers["Authorization"] == "Bearer tok-123"
    assert headers["Content-Type"] == "application/json"
    assert body == card


def test_5xx_and_timeouts_are_retried_with_the_same_key_and_growing_waits(dashboard: Dashboard) -> None:
    dashboard.script = [503, "hang", 500]
    waits: list[float] = []
    card = ser.dashboard_cards(METRICS)[1]
    ser.post_card(dashboard.url, None, card, sleep=waits.append, timeout=0.5)
    assert waits == [0.5, 1.0, 2.0]
    assert [h["Idempotency-Key"] for _, h, _ in dashboard.requests] == [card["id"]] * 4
    assert "Authorization" not in dashboard.requests[0][1]
    assert list(dashboard.cards) == [card["id"]]


def test_a_dashboard_that_stays_down_fails_naming_it_without_its_path_or_token(
    dashboard: Dashboard, caplog: pytest.LogCaptureFixture
) -> None:
    dashboard.script = [500, 502, 503, 504]
    with pytest.raises(ser.CardFailed) as failed:
        ser.post_card(dashboard.url, "tok-123", ser.dashboard_cards(METRICS)[0], sleep=lambda s: None)
    port = dashboard.server.server_address[1]
    assert str(failed.value).startswith(f"the dashboard http://127.0.0.1:{port} did not take card shortfall-")
    assert str(failed.value).endswith("after 4 attempts (HTTP 504)")
    text = str(failed.value) + caplog.text
    assert "s3cr3t" not in text and "tok-123" not in text and "hooks" not in text


@pytest.mark.parametrize("status", [400, 401, 422])
def test_a_4xx_is_reported_with_its_status_and_not_retried(dashboard: Dashboard, status: int) -> None:
    dashboard.script = [status]
    with pytest.raises(ser.CardFailed, match=rf"refused card shortfall-[0-9a-f]+-2026-W47 \(HTTP {status}\)$"):
        ser.post_card(dashboard.url, None, ser.dashboard_cards(METRICS)[0], sleep=lambda s: None)
    assert len(dashboard.requests) == 1


def test_409_means_the_card_is_already_there(dashboard: Dashboard) -> None:
    dashboard.script = [409]
    ser.post_card(dashboard.url, None, ser.dashboard_cards(METRICS)[0], sleep=lambda s: None)
    assert len(dashboard.requests) == 1


def test_a_dashboard_that_is_not_there_is_retried_then_named() -> None:
    import socket

    with socket.socket() as sock:  # a loopback port with nobody listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ser.CardFailed, match=r"cannot connect \(ConnectionRefusedError\)"):
        ser.post_card(f"http://127.0.0.1:{port}/x?token=s3cr3t", None, ser.dashboard_cards(METRICS)[0],
                      sleep=lambda s: None)


def test_url_origin_keeps_only_scheme_host_and_port() -> None:
    assert ser.url_origin("https://user:pw@dash.example.com:8443/p/s3cr3t?token=x#f") == "https://dash.example.com:8443"
    assert ser.url_origin("http://127.0.0.1/hook") == "http://127.0.0.1"
    assert ser.url_origin("http://[::1]:8080/s3cr3t") == "http://[::1]:8080"
    assert ser.url_origin("http://[::1]:99999/") == "(a URL)"


# ---------------------------------------------------------------------------
# The ledger's one mechanism for side effects, then whole runs against moto and a dashboard.


def test_a_side_effect_is_done_once_and_a_stopped_or_failed_one_is_done_again(tmp_path: Path) -> None:
    ledger = ser.Ledger(ser.FolderArchive(tmp_path), "2026-W47")
    calls: list[str] = []

    def act() -> dict[str, str]:
        calls.append(ledger.state("card:x") or "")  # what the ledger said while it was being done
        return {"answer": "ok"}

    assert ser.do_once(ledger, "card:x", "posting", "posted", act, title="T") is True
    assert calls == ["posting"]  # recorded pending before it was done
    entry = json.loads((tmp_path / "2026-W47" / "ledger.json").read_text())["card:x"]
    assert {k: entry[k] for k in ("state", "title", "answer")} == {"state": "posted", "title": "T", "answer": "ok"}
    assert ser.do_once(ledger, "card:x", "posting", "posted", act) is False  # done: not again
    assert calls == ["posting"]

    ledger.record("metrics:cloudwatch:1", "pushing")  # a run died between doing it and recording it
    assert ser.do_once(ledger, "metrics:cloudwatch:1", "pushing", "pushed", lambda: None) is True
    assert ledger.state("metrics:cloudwatch:1") == "pushed"

    def fail() -> None:
        raise ser.AfterSendFailed("the dashboard http://127.0.0.1:1 refused card x (HTTP 422)")

    with pytest.raises(ser.AfterSendFailed):
        ser.do_once(ledger, "card:y", "posting", "posted", fail)
    assert ser.Ledger(ser.FolderArchive(tmp_path), "2026-W47").entries["card:y"]["state"] == "failed"  # on disk
    assert ser.do_once(ledger, "card:y", "posting", "posted", lambda: None) is True  # a rerun tries again


def card_env(tmp_path: Path, proxy: SesProxy, board: Dashboard, **more: str) -> Path:
    """A repos.env sending the sample through moto (behind the proxy: no 1 a second pacing), with the dashboard."""
    verify_sender(proxy.upstream)
    return write_env(tmp_path, proxy.url, DASHBOARD_WEBHOOK_URL=board.url, DASHBOARD_TOKEN="tok-sekrit-123",
                     **more)


def ledger_of(folder: Path) -> dict[str, dict[str, object]]:
    """The period's ledger as JSON."""
    return json.loads((folder / "2026-W47" / "ledger.json").read_text())


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cards' retry waits shortened (their lengths are tested on post_card with a recorded sleep)."""
    monkeypatch.setattr(ser, "CARD_BACKOFF_SECONDS", 0.01)


def test_a_run_posts_the_three_cards_once_after_the_ceo_report(
    tmp_path: Path, moto: str, ses_proxy: SesProxy, dashboard: Dashboard, capsys: pytest.CaptureFixture[str]
) -> None:
    env = card_env(tmp_path, ses_proxy, dashboard)
    assert send(env) == 0
    err = capsys.readouterr().err
    assert err.endswith("failed 0; 3 dashboard cards posted\n"), err
    assert len(moto_messages(moto)) == 8
    assert len(dashboard.requests) == 3
    assert [body for _, _, body in dashboard.requests] == list(dashboard.cards.values())
    for _, headers, body in dashboard.requests:
        assert headers["Idempotency-Key"] == body["id"]
        assert headers["Authorization"] == "Bearer tok-sekrit-123"
        assert body["period"] == "2026-W47"
    ledger = ledger_of(tmp_path / "archive")
    cards = {k: v for k, v in ledger.items() if k.startswith("card:")}
    assert sorted(cards) == sorted(f"card:{key}" for key in dashboard.cards)
    assert {v["state"] for v in cards.values()} == {"posted"}
    assert "tok-sekrit" not in err and "hooks" not in err and "s3cr3t" not in err

    assert send(env) == 0  # a rerun: nothing sent, nothing posted
    assert "3 dashboard cards" not in capsys.readouterr().err
    assert len(dashboard.requests) == 3


def test_a_dashboard_that_is_down_leaves_the_reports_sent_and_exits_69_naming_it(
    tmp_path: Path, moto: str, ses_proxy: SesProxy, dashboard: Dashboard, quick_retries: None, capsys: pytest.CaptureFixture[str]
) -> None:
    env = card_env(tmp_path, ses_proxy, dashboard)
    dashboard.script = [503] * ser.CARD_ATTEMPTS
    assert send(env) == 69
    err = capsys.readouterr().err
    port = dashboard.server.server_address[1]
    assert (f"the dashboard http://127.0.0.1:{port} did not take card shortfall-" in err
            and "after 4 attempts (HTTP 503); the reports were sent; 3 cards not posted: rerun to post them" in err)
    assert "sent 8 (" in err and "tok-sekrit" not in err and "s3cr3t" not in err
    assert len(moto_messages(moto)) == 8 and dashboard.cards == {}
    states = {k: v["state"] for k, v in ledger_of(tmp_path / "archive").items()}
    assert [v for k, v in states.items() if k.startswith("card:")] == ["failed"]

    assert send(env) == 0  # the dashboard is back: the rerun posts the three, sends nothing
    err = capsys.readouterr().err
    assert "sent 0;" in err and err.endswith("3 dashboard cards posted\n")
    assert len(dashboard.cards) == 3 and len(moto_messages(moto)) == 8


class Trickle:
    """A dashboard that reads the card, then sends its answer's status line and headers one byte
    every 10 ms, never ending them, until the test stops it."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.requests = 0
        board = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return None

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                board.requests += 1
                head = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 60000
                for byte in head:
                    if board.stop.wait(0.01):
                        return
                    try:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                    except OSError:  # the client gave up and cut the connection
                        return

        self.server, origin = serve_loopback(Handler)
        self.url = f"{origin}/hooks/cards?token=s3cr3t-query"


def test_a_dashboard_trickling_its_headers_cannot_hold_the_run(
    tmp_path: Path, moto: str, ses_proxy: SesProxy, quick_retries: None, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str]
) -> None:
    """Its headers a byte at a time kept the run alive for good after the CEO report was sent, holding
    the lock (each read came in time; only the whole exchange now has a deadline, made short here)."""
    monkeypatch.setattr(ser, "CARD_TIMEOUT_SECONDS", 0.2)
    board = Trickle()
    try:
        env = card_env(tmp_path, ses_proxy, board)  # type: ignore[arg-type]
        result: list[int] = []
        run = threading.Thread(target=lambda: result.append(send(env, "--only", "ceo")), daemon=True)
        run.start()
        run.join(30)  # bounds a failure of this test; a pass takes about a second
        assert not run.is_alive(), "the run is still waiting for the dashboard's headers"
    finally:
        board.stop.set()
        stop_server(board.server)
    assert result == [69]
    err = capsys.readouterr().err
    port = board.server.server_address[1]
    assert re.search(rf"the dashboard http://127\.0\.0\.1:{port} did not take card shortfall-[0-9a-f]+-2026-W47 "
                     r"after 4 attempts \(no answer in time\); the reports were sent; 3 cards not posted", err), err
    assert "sent 1 (ceo)" in err and "s3cr3t" not in err and "hooks" not in err and "tok-sekrit" not in err
    assert board.requests == ser.CARD_ATTEMPTS


def test_a_4xx_is_reported_with_its_status(tmp_path: Path, moto: str, ses_proxy: SesProxy, dashboard: Dashboard,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    env = card_env(tmp_path, ses_proxy, dashboard)
    dashboard.script = [201, 422]
    assert send(env) == 69
    err = capsys.readouterr().err
    assert re.search(r"refused card shortfall-[0-9a-f]+-2026-W47 \(HTTP 422\); the reports were sent; "
                     r"2 cards not posted", err), err
    assert len(dashboard.requests) == 2  # a 4xx is not retried, and the run stops posting


def test_no_cards_before_the_ceo_report_is_sent(tmp_path: Path, moto: str, ses_proxy: SesProxy, dashboard: Dashboard) -> None:
    env = card_env(tmp_path, ses_proxy, dashboard)
    assert send(env, "--only", "cfo") == 0
    assert dashboard.requests == []
    assert send(env, "--only", "ceo") == 0
    assert len(dashboard.cards) == 3
    assert send(env, "--only", "cmo") == 0  # the CEO report was sent earlier in the period: nothing more
    assert len(dashboard.requests) == 3


@pytest.mark.parametrize("url", ["ftp://dash.example.com/x", "https:///no-host", "dash.example.com/hook",
                                 "https://user:pw@dash.example.com/x", "http://dash.example.com:99999/"])
def test_a_bad_dashboard_url_sends_nothing(tmp_path: Path, moto: str, url: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    verify_sender(moto)
    env = write_env(tmp_path, moto, DASHBOARD_WEBHOOK_URL=url)
    assert send(env) == 78
    err = capsys.readouterr().err
    assert err.startswith("send_exec_reports: DASHBOARD_WEBHOOK_URL ") and err.count("\n") == 1
    assert "pw" not in err
    assert moto_messages(moto) == []


def test_the_dry_run_prints_the_cards_without_the_token_or_path(tmp_path: Path, dashboard: Dashboard,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    env = write_env(tmp_path, "http://127.0.0.1:9", DASHBOARD_WEBHOOK_URL=dashboard.url,
                    DASHBOARD_TOKEN="tok-sekrit-123")
    assert send(env, "--dry-run") == 0
    out = capsys.readouterr().out
    port = dashboard.server.server_address[1]
    reports, block = out.split("=" * 78 + f"\nDashboard cards a real run posts to http://127.0.0.1:{port} once the "
                               "ceo report is sent (3):\n")
    assert reports.endswith(".\n")  # the last report's data-sources line, then the rule setting the cards apart
    head, *cards = block.splitlines()
    assert [json.loads(line)["period"] for line in [head, *cards]] == ["2026-W47"] * 3
    assert "tok-sekrit" not in out and "s3cr3t" not in out and "/hooks" not in out
    assert dashboard.requests == []


def test_a_run_killed_between_posting_and_recording_does_not_make_a_second_card(
    same_place: Path, moto: str, ses_proxy: SesProxy, dashboard: Dashboard
) -> None:
    verify_sender(moto)
    script = install_copy(same_place / "app", examples=False)
    write_env(script.parent, ses_proxy.url, DASHBOARD_WEBHOOK_URL=dashboard.url)
    dashboard.script = [201, "store-then-hang"]  # the second card is stored, then no answer comes
    first = subprocess.Popen(tool_command(script, "--as-of", "2026-11-22"), cwd="/", env={},
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(dashboard.requests) < 2:
        assert first.poll() is None and time.monotonic() < deadline, "the run never posted its second card"
        time.sleep(0.02)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    ledger = ledger_of(script.parent / "archive")
    second = dashboard.requests[1][2]["id"]
    assert ledger[f"card:{second}"]["state"] == "posting"  # posted, but the run died before recording it
    assert len(dashboard.cards) == 2

    again = run_script(script, "--as-of", "2026-11-22", env={}, cwd=Path("/"))
    assert again.returncode == 0, again.stderr
    assert "sent 0; skipped as already sent 8" in again.stderr and again.stderr.endswith("2 dashboard cards posted\n")
    assert [body["id"] for _, _, body in dashboard.requests[2:]] == [second, dashboard.requests[-1][2]["id"]]
    assert dashboard.requests[2][1]["Idempotency-Key"] == second  # posted again with the same key...
    assert len(dashboard.cards) == 3  # ...so the dashboard, which honours it, made no second card
    assert {v["state"] for k, v in ledger_of(script.parent / "archive").items() if k.startswith("card:")} == {
        "posted"}


@pytest.mark.parametrize("token", ["tok-sekrit-€uro", "tok sekrit 123", "tok-sekrit-\x7f"])
def test_a_token_that_cannot_be_a_bearer_token_sends_nothing(tmp_path: Path, moto: str, dashboard: Dashboard,
                                                            token: str, capsys: pytest.CaptureFixture[str]) -> None:
    """An HTTP header takes no such characters: found before the first send, not as a card that
    fails after the reports went out."""
    verify_sender(moto)
    env = write_env(tmp_path, moto, DASHBOARD_WEBHOOK_URL=dashboard.url, DASHBOARD_TOKEN=token)
    assert send(env) == 78
    err = capsys.readouterr().err
    assert err.startswith("send_exec_reports: DASHBOARD_TOKEN ") and err.count("\n") == 1, err
    assert "sekrit" not in err
    assert moto_messages(moto) == [] and dashboard.requests == []


# ---------------------------------------------------------------------------
# A dashboard that redirects, or trickles its answer


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
    """Found by an attack: a dashboard answering 302 got the card recorded as posted, and the bearer token was sent on to the other server."""
    url, seen = servers
    card = {"id": "shortfall-0123456789ab-2026-W47", "title": "Fix the pump"}
    with pytest.raises(ser.CardFailed, match=r"HTTP 302"):
        ser.post_card(url, "dash-token-0123456789", card, sleep=lambda s: None)
    assert seen == []  # was: a GET with "Authorization: Bearer dash-token-..." to the other server, and "posted"


def test_a_dashboard_that_trickles_its_answer_does_not_hold_the_run() -> None:
    """Found by an attack: a dashboard that trickled its answer a byte at a time held the run, and the archive's lock, for nearly an hour."""
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
