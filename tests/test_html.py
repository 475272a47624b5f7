"""EMAIL_FORMAT=text+html: the same text part, plus an HTML alternative nothing in a handoff can add markup to.

Sends go through moto's server over HTTP (behind the local proxy); moto keeps every raw
message whole, so the tests parse exactly what SES was given.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import re
import tempfile
import urllib.request
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

import send_exec_reports as ser

from .conftest import EXAMPLES, SesProxy, aws, moto_messages
from .test_rendering import render_with

GOLDEN = Path(__file__).parent / "golden"
IDS = ["ceo", "cto", "cfo", "cmo", "accounting", "rental", "yacht", "agency"]
SENDER = "reports@example.com"
TO = ["owner@example.com", "partner@example.com"]
BCC = ["admin@example.com"]
AS_OF = dt.date(2026, 11, 22)

# Every element and attribute the HTML part may hold; a style may use only these properties.
ALLOWED = {
    "html": {"lang"}, "head": set(), "meta": {"charset", "name", "content"}, "title": set(), "body": {"style"},
    **{tag: {"style"} for tag in (
        "div", "h1", "h2", "h3", "h4", "h5", "h6", "p", "ul", "ol", "li", "blockquote", "pre", "code", "em",
        "strong", "hr", "br", "table", "thead", "tbody", "tr", "th", "td",
    )},
}
STYLE_PROPERTIES = {
    "font-size", "font-family", "margin", "padding", "padding-left", "padding-bottom", "border", "border-top",
    "border-bottom", "border-left", "border-collapse", "color", "background", "width", "max-width", "line-height",
    "text-align", "vertical-align", "white-space", "overflow-x",
}
HOSTILE = [
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "[click](javascript:alert(1))",
    "javascript:alert(1)", "</td></tr><tr><td>forged", "![pixel](http://tracker.example/p.gif)",
    "<a href='http://evil.example'>x</a>", "<style>body{display:none}</style>", "&lt;b&gt; &amp; &#60;i>",
    "**bold** _em_ `code`", "# Heading", "| a | b |", "<!-- comment -->", "<![CDATA[x]]>", "\x1b[31mred",
    "<http://auto.example>", "x\u202eevil",
]


class Audit(HTMLParser):
    """Every element, attribute, comment and text node of an HTML document."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.other: list[str] = []
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def handle_comment(self, data: str) -> None:
        self.other.append(f"comment {data}")

    def handle_pi(self, data: str) -> None:
        self.other.append(f"processing instruction {data}")

    def unknown_decl(self, data: str) -> None:
        self.other.append(f"declaration {data}")


def audit(page: str) -> Audit:
    """Parse an HTML part and assert it holds nothing outside the allow-list."""
    found = Audit(page)
    assert found.other == []
    assert page.startswith("<!DOCTYPE html>\n")
    for tag, attrs in found.elements:
        assert tag in ALLOWED, f"element <{tag}> is not allowed"
        assert set(attrs) <= ALLOWED[tag], f"<{tag}> has attributes {sorted(attrs)}"
        style = attrs.get("style")
        if style is not None:
            for declaration in filter(None, style.split(";")):
                name, _, value = declaration.partition(":")
                assert name in STYLE_PROPERTIES, f"style property {name!r} on <{tag}>"
                assert not re.search(r"url\(|expression|javascript|@|\\|/\*", value, re.I), value
    metas = [attrs for tag, attrs in found.elements if tag == "meta"]
    assert metas == [{"charset": "utf-8"}, {"name": "viewport", "content": "width=device-width, initial-scale=1"}]
    return found


def handoff(folder: Path, name: str, **front: object) -> None:
    """Write one handoff, its front matter dumped by PyYAML."""
    folder.mkdir(parents=True, exist_ok=True)
    front = {"status": "active", "updated": AS_OF - dt.timedelta(days=2), **front}
    text = yaml.safe_dump(front, allow_unicode=True, sort_keys=False, width=10**6)
    (folder / f"{name}.md").write_text(f"---\n{text}---\nNotes.\n", encoding="utf-8")


def plant_hostile(folder: Path) -> None:
    """One entity per hostile string, the string in every kind of field the reports show."""
    for i, bad in enumerate(HOSTILE):
        due = dt.date(2026, 11, 25)
        handoff(
            folder, f"h{i}", entity=f"{bad} {i}", project=bad, cash=1000 + i,
            financials={"2026-08": {"revenue": 10, "expenses": 20}, "2026-09": {"revenue": 10, "expenses": 20},
                        "2026-10": {"revenue": 10, "expenses": 20}},
            assets=[{"name": bad, "type": bad, "value": 5}],
            kpis=[{"name": bad, "value": 1, "target": 2}],
            stack=[{"name": bad, "service": bad, "monthly_cost": 1, "in_use": False}],
            security=[{"severity": "high", "finding": bad, "fixed": False}],
            channels=[{"name": bad, "kind": bad, "status": "live", "visits": 10, "leads": 2, "conversions": 1}],
            shortfalls=[{"title": bad, "urgency": "critical", "persona": "CMO"}],
            actions=[{"title": bad, "due": due, "priority": 1, "persona": "CFO"}],
            expenses=[{"vendor": bad, "amount": 5, "category": bad}],
        )


def render_hostile(tmp_path: Path) -> list[ser.RenderedReport]:
    """The portfolio-wide reports rendered over the hostile handoffs."""
    plant_hostile(tmp_path / "handoffs")
    metrics = ser.compute_metrics(ser.read_handoffs(tmp_path / "handoffs"), {}, AS_OF)
    reports = [r for r in ser.load_reports() if not r.entity]
    return ser.render_all(reports, metrics)


def test_nothing_from_a_handoff_adds_markup_to_the_html(tmp_path: Path) -> None:
    rendered = render_hostile(tmp_path)
    assert [r.id for r in rendered] == ["ceo", "cto", "cfo", "cmo", "accounting"]
    for report in rendered:
        page = report.html()
        found = audit(page)
        text = " ".join(found.text)
        for i, bad in enumerate(HOSTILE):
            shown = " ".join(ser.clean_text(bad).split())  # controls made visible, as in the text
            assert f"{shown} {i}" in text, (report.id, bad)  # the entity name: every report shows it
        assert "onerror" not in page.replace("onerror=alert(1)&gt;", "")  # only ever as text
        assert not re.search(r"<(a|img|script|style|iframe)\b", page, re.I)
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", page)
    tables = [tag for tag, _ in Audit(rendered[1].html()).elements if tag == "table"]
    assert len(tables) >= len(HOSTILE)  # the CTO's stack: a real table for each entity


def words(text: str) -> Counter[str]:
    """The words of a text, lower-cased, without rules and column separators."""
    return Counter(w.lower() for w in text.split() if not re.fullmatch(r"[-=+|]+", w))


def test_the_html_has_the_same_content_as_the_text(tmp_path: Path) -> None:
    env = tmp_path / "repos.env"
    env.write_text(f"HANDOFF_DIR={EXAMPLES / 'handoffs'}\nDYNAMODB_EXPORT_DIR={EXAMPLES / 'dynamodb'}\n")
    settings = ser.load_settings(str(env), dry_run=True)
    portfolio = ser.read_handoffs(settings.handoff_dir)
    counts = ser.read_tables(ser.table_needs(portfolio), settings.export_dir, None)
    for report in ser.render_all(ser.load_reports(), ser.compute_metrics(portfolio, counts, AS_OF)):
        page = report.html()
        found = audit(page)
        html_words = words(" ".join(Audit(page[page.index("<body"):]).text))
        # The text upper-cases the title and wraps lines: compare the words, not their order. A table too
        # wide for the email's 78 columns is shortened with "…" or becomes a list there, so the text
        # compared is the same report's laid out on a line wide enough for every table.
        assert "…" in report.text or report.id not in ("accounting", "cmo")  # so the wide text differs
        wide = ser.text_from_markdown(report.markdown, width=1000)
        assert html_words == words(re.sub(r"(?m)^ *\d+\. ", "", wide)), report.id  # <ol> numbers itself
        assert found.elements[0] == ("html", {"lang": "en"})
        table_rows = [tag for tag, _ in found.elements if tag == "tr"]
        assert len(table_rows) == report.markdown.count("\n|") - report.markdown.count("\n|---")


def test_build_mime_text_and_html(tmp_path: Path) -> None:
    (report,) = [r for r in render_hostile(tmp_path) if r.id == "cfo"]
    raw = ser.build_mime(report, SENDER, TO, BCC, "text+html")
    assert raw == ser.build_mime(report, SENDER, TO, BCC, "text+html")  # a pure function: the same bytes
    assert raw.isascii() and all(len(line) <= 78 for line in raw.split(b"\r\n"))
    assert b"\n" not in raw.replace(b"\r\n", b"")
    head = raw.split(b"\r\n\r\n", 1)[0].decode()
    assert re.search(r"^Subject: Executive Report: CFO =\?utf-8\?[bq]\?.*\?= 2026-W47", head, re.M)  # RFC 2047
    assert "Bcc" not in head and "admin@example.com" not in raw.decode()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert (message["From"], message["To"]) == (SENDER, ", ".join(TO))
    assert message["Subject"] == report.subject
    assert re.fullmatch(r"Executive Report: CFO — 2026-W47 \(\d+ need you\)", report.subject)
    assert message["MIME-Version"] == "1.0"
    assert message.get_content_type() == "multipart/alternative"
    text, page = message.get_payload()
    assert (text.get_content_type(), page.get_content_type()) == ("text/plain", "text/html")  # best last
    assert text.get_content_charset() == page.get_content_charset() == "utf-8"
    # MIME text travels with CRLF line ends, as SES puts a SendEmail body on the wire
    assert text.get_payload(decode=True) == report.text.replace("\n", "\r\n").encode("utf-8")
    assert page.get_payload(decode=True).decode("utf-8").replace("\r\n", "\n") == report.html()

    plain = email.message_from_bytes(ser.build_mime(report, SENDER, TO, BCC, "text"), policy=email.policy.default)
    assert plain.get_content_type() == "text/plain"
    assert plain.get_payload(decode=True) == text.get_payload(decode=True)
    with pytest.raises(ValueError, match="'html' is not one of text, text\\+html"):
        ser.build_mime(report, SENDER, TO, BCC, "html")


def verify_sender(moto: str) -> None:
    """Verify the sender in moto directly."""
    aws("ses", moto).verify_email_identity(EmailAddress=SENDER)


def write_env(folder: Path, endpoint: str, fmt: str, **overrides: str) -> Path:
    """A repos.env that sends the sample portfolio through `endpoint` in format `fmt`."""
    settings = {
        "HANDOFF_DIR": str(EXAMPLES / "handoffs"), "DYNAMODB_EXPORT_DIR": str(EXAMPLES / "dynamodb"),
        "ARCHIVE_DIR": "archive", "SES_FROM_ADDRESS": SENDER, "EXEC_REPORT_TO": ", ".join(TO),
        "EXEC_REPORT_BCC": ", ".join(BCC), "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing", "EMAIL_FORMAT": fmt, **overrides,
    }
    folder.mkdir(parents=True, exist_ok=True)
    env = folder / "repos.env"
    env.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    return env


def send(env: Path, *extra: str) -> int:
    """A real send in-process for the golden as-of date."""
    return ser.main(["--env-file", str(env), "--as-of", AS_OF.isoformat(), *extra])


def raw_messages(endpoint: str) -> list[dict[str, object]]:
    """Every raw message moto's SES accepted, whole, from /moto-api/data.json."""
    with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=10) as response:
        return json.load(response).get("ses", {}).get("RawMessage", [])


def subjects(moto: str) -> list[str]:
    """The subject of every message moto took, raw or not."""
    raw = [email.message_from_string(m["raw_data"], policy=email.policy.default)["Subject"] for m in raw_messages(moto)]
    return raw + [m["subject"] for m in moto_messages(moto)]


def golden(report_id: str) -> tuple[str, str]:
    """(subject, body) of a report as the golden dry run shows it."""
    head, body = (GOLDEN / f"{report_id}.txt").read_text(encoding="utf-8").split("\n\n", 1)
    return head.splitlines()[4].removeprefix("Subject: "), body


def test_sends_all_eight_as_text_and_html(tmp_path: Path, moto: str, ses_proxy: SesProxy,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    verify_sender(moto)
    env = write_env(tmp_path, ses_proxy.url, "text+html")
    assert send(env) == 0
    assert capsys.readouterr().err == (
        f"send_exec_reports: 2026-W47: sent 8 ({', '.join(IDS)}); skipped as already sent 0; failed 0\n"
    )
    assert ses_proxy.actions("SendEmail") == [] and moto_messages(moto) == []
    stored = raw_messages(moto)
    assert len(stored) == 8
    folder = tmp_path / "archive" / "2026-W47"
    for entry, report_id in zip(stored, IDS, strict=True):
        assert entry["source"] == SENDER
        assert entry["destinations"][:3] == TO + BCC  # moto adds the To header's addresses after these
        raw = entry["raw_data"]
        assert "\nBcc:" not in raw.split("\r\n\r\n", 1)[0] and "admin@example.com" not in raw
        message = email.message_from_string(raw, policy=email.policy.default)
        subject, body = golden(report_id)
        assert message["Subject"] == subject
        assert message["To"] == ", ".join(TO)
        text, page = message.get_payload()
        # the text part is the golden text-only body, byte for byte (CRLF on the wire, as SendEmail's)
        assert text.get_payload(decode=True) == body.replace("\n", "\r\n").encode("utf-8")
        html = page.get_payload(decode=True).decode(page.get_content_charset()).replace("\r\n", "\n")
        audit(html)
        assert html == (folder / f"{report_id}.html").read_text(encoding="utf-8")
        assert (folder / f"{report_id}.txt").read_text(encoding="utf-8").split("\n\n", 1)[1] == body
    ledger = json.loads((folder / "ledger.json").read_text())
    assert {k: v["state"] for k, v in ledger.items()} == dict.fromkeys(IDS, "sent")
    assert {v["message_id"] for v in ledger.values()} == {m["id"] for m in stored}

    # a second run sends nothing; --force resends one, raw again
    assert send(env) == 0
    assert "sent 0; skipped as already sent 8 (" in capsys.readouterr().err
    assert send(env, "--force", "--only", "cfo") == 0
    assert subjects(moto).count(golden("cfo")[0]) == 2 and len(raw_messages(moto)) == 9


def test_hostile_handoffs_reach_the_inbox_as_text(tmp_path: Path, moto: str, ses_proxy: SesProxy) -> None:
    verify_sender(moto)
    plant_hostile(tmp_path / "handoffs")
    env = write_env(tmp_path, ses_proxy.url, "text+html", HANDOFF_DIR="handoffs", DYNAMODB_EXPORT_DIR="")
    assert send(env, "--only", "ceo,cto,cmo") == 0
    stored = raw_messages(moto)
    assert len(stored) == 3
    for entry in stored:
        message = email.message_from_string(entry["raw_data"], policy=email.policy.default)
        page = message.get_body(("html",)).get_content().replace("\r\n", "\n")
        text = " ".join(audit(page).text)
        assert "<script>alert(1)</script> 0" in text and "</td></tr><tr><td>forged 4" in text


@pytest.mark.parametrize("fmt", ["text", "text+html"])
def test_throttling_is_retried_the_same_in_both_formats(tmp_path: Path, moto: str, ses_proxy: SesProxy,
                                                        fmt: str, quick_backoff: None) -> None:
    verify_sender(moto)
    action = "SendEmail" if fmt == "text" else "SendRawEmail"
    ses_proxy.rules[action] = lambda fields, n: ("error", 400, "Throttling", "Rate exceeded") if n <= 2 else None
    assert send(write_env(tmp_path, ses_proxy.url, fmt), "--only", "cfo,cmo") == 0
    assert len(ses_proxy.actions(action)) == 4  # two refused, then each report once
    assert sorted(subjects(moto)) == sorted(golden(i)[0] for i in ("cfo", "cmo"))


@pytest.mark.parametrize("fmt", ["text", "text+html"])
def test_an_unknown_outcome_is_reported_not_resent_in_both_formats(tmp_path: Path, moto: str, ses_proxy: SesProxy,
                                                                   fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    verify_sender(moto)
    action = "SendEmail" if fmt == "text" else "SendRawEmail"
    # SES takes the second message, then answers 500: it may or may not have gone out
    ses_proxy.rules[action] = lambda fields, n: ("after", 500, "InternalFailure", "oops") if n == 2 else None
    env = write_env(tmp_path, ses_proxy.url, fmt)
    assert send(env, "--only", "ceo,cto,cfo") == 69
    ledger = json.loads((tmp_path / "archive" / "2026-W47" / "ledger.json").read_text())
    assert {k: v["state"] for k, v in ledger.items()} == {"ceo": "sent", "cto": "sending"}
    ses_proxy.rules.clear()
    capsys.readouterr()
    assert send(env, "--only", "ceo,cto,cfo") == 69
    assert "cto: outcome unknown: SES answered HTTP 500 (InternalFailure)" in capsys.readouterr().err
    assert sorted(subjects(moto)) == sorted(golden(i)[0] for i in ("ceo", "cto", "cfo"))  # cto not resent


def test_dry_run_prints_the_text_and_writes_the_html_to_files_it_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # the documented default for mkdtemp
    env = write_env(tmp_path, "http://127.0.0.1:9", "text+html")
    assert ser.main(["--dry-run", "--env-file", str(env), "--as-of", AS_OF.isoformat(), "--only", "cfo,cto"]) == 0
    out, err = capsys.readouterr()
    assert out == "\n".join((GOLDEN / f"{i}.txt").read_text(encoding="utf-8") for i in ("cto", "cfo"))
    paths = [Path(p) for p in re.findall(r"^send_exec_reports: HTML alternative written to (.+)$", err, re.M)]
    assert [p.name for p in paths] == ["cto.html", "cfo.html"] and len(err.splitlines()) == 2
    for path in paths:
        audit(path.read_text(encoding="utf-8"))
    assert paths[0].parent.parent == tmp_path / "tmp"
    assert not (tmp_path / "archive").exists()  # a dry run archives nothing


@pytest.mark.parametrize("value", ["html", "TEXT", "text+HTML", "text, html"])
def test_an_unknown_format_is_a_configuration_error(tmp_path: Path, value: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    env = write_env(tmp_path, "http://127.0.0.1:9", value)
    assert ser.main(["--dry-run", "--env-file", str(env), "--as-of", AS_OF.isoformat()]) == 78
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (f"send_exec_reports: EMAIL_FORMAT={value}: not a format; write text (the default: plain text "
                   "only) or text+html (plain text with an HTML alternative)\n")


def test_markup_a_template_holds_is_cut_to_the_allow_list(tmp_path: Path) -> None:
    handoff(tmp_path / "handoffs", "doc", entity="Acme")
    report = render_with(
        tmp_path,
        "---\ntitle: X\npersona: CEO\nsubject: X\n---\n"
        "Before <a href=\"javascript:alert(1)\" onclick=\"x()\">link text</a> after.\n\n"
        "<script>alert(2)</script>\n\n<style>p { color: red }</style>\n\n"
        "<p onmouseover=\"x()\" style=\"background:url(http://t.example/x)\">styled</p>\n\n"
        "![alt text](http://tracker.example/p.gif) [a link](http://example.com) <http://auto.example>\n\n"
        "**strong** and *em*\n\n<iframe src=\"http://example.com\">framed</iframe><!-- note -->\n",
    )
    assert report._html is None  # the text path never builds the HTML
    found = audit(report.html())
    text = " ".join(" ".join(found.text).split())
    assert "Before link text after." in text and "styled" in text and "a link" in text and "strong and em" in text
    for gone in ("alert", "color: red", "framed", "note", "alt text", "tracker"):
        assert gone not in report.html()
    assert ("strong", {}) in found.elements and ("em", {}) in found.elements
