"""Dashboard cards, against a real HTTP server on 127.0.0.1 that can fail, hang and refuse."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import send_exec_reports as ser


class Dashboard:
    """A dashboard webhook that honours Idempotency-Key; `script` answers each request in turn.

    Each script entry is an HTTP status (answered after storing the card, for 2xx), or
    "hang" (no answer until the test ends). When the script runs out it answers 201.
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
                if step == "hang":
                    board.release.wait(30)
                    return
                key = self.headers.get("Idempotency-Key", "")
                if 200 <= int(step) < 300:
                    board.cards.setdefault(key, body)  # a repeated key makes no second card
                self.send_response(int(step))
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/cards?token=s3cr3t-query"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


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
    shown = [i for i in ser.needs_you(METRICS, "CEO")["items"] if i["kind"] == "shortfall"]
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


def test_shown_url_keeps_only_scheme_host_and_port() -> None:
    assert ser.shown_url("https://user:pw@dash.example.com:8443/p/s3cr3t?token=x#f") == "https://dash.example.com:8443"
    assert ser.shown_url("http://127.0.0.1/hook") == "http://127.0.0.1"
    assert ser.shown_url("http://[::1]:8080/s3cr3t") == "http://[::1]:8080"
    assert ser.shown_url("http://[::1]:99999/") == "(an unreadable URL)"
