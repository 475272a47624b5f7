"""Hostile or unusual inputs: a clear line or a faithful rendering, never a traceback."""

from __future__ import annotations

import datetime as dt
import json
import os
import tracemalloc
from pathlib import Path

import pytest
from make_exports import write_export

import send_exec_reports as ser

HEAD = "entity: Acme\nstatus: active\nupdated: 2026-11-20\n"
T0 = dt.datetime(2026, 11, 21, 9, 0, tzinfo=dt.UTC)


def setup(tmp_path: Path, *docs: str, exports: bool = False) -> Path:
    """Handoffs (one per front matter) and a repos.env; return the env file."""
    folder = tmp_path / "handoffs"
    folder.mkdir(exist_ok=True)
    for i, front in enumerate(docs):
        (folder / f"doc{i}.md").write_text(f"---\n{front}---\nNotes.\n", encoding="utf-8")
    env = tmp_path / "repos.env"
    env.write_text("HANDOFF_DIR=handoffs\n" + ("DYNAMODB_EXPORT_DIR=exports\n" if exports else ""))
    return env


def dry_run(env: Path, capsys: pytest.CaptureFixture[str], *only: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of a dry run."""
    code = ser.main(["--dry-run", "--env-file", str(env), "--as-of", "2026-11-22", *(["--only", *only] if only else [])])
    out, err = capsys.readouterr()
    return code, out, err


def test_unknown_keys_of_any_shape_are_ignored(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = setup(tmp_path, HEAD + "notes: [2026-13-45]\nblob: !!binary aGVsbG8=\nshared: {x: 1}\nagain: [{x: 1}]\n"
                "assets:\n  - {name: site, value: 5}\n")  # inside an item, an unknown key is an error (test_inputs)
    code, out, err = dry_run(env, capsys, "ceo")
    assert (code, err) == (0, "")
    assert "Acme | 1 | — | $5.00" in " ".join(out.split())  # the asset, rolled up by entity
    assert ser.main(["--check", "--dry-run", "--only", "ceo", "--env-file", str(env), "--as-of", "2026-11-22"]) == 0


def test_an_absurd_amount_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = setup(tmp_path, HEAD + "financials:\n  2026-10: {revenue: 1.0e+320, expenses: 1}\n")
    code, out, err = dry_run(env, capsys)
    assert code == 65 and out == ""
    assert ("doc0.md:6: financials.2026-10.revenue is written 1.0e+320, not a plausible amount "
            "(it must be under 1,000,000,000,000,000)\n") in err


def test_text_is_kept_as_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    front = ("entity: 3028 51st St Rental\nstatus: active\nupdated: 2026-11-20\n"
             "units:\n  - {unit: 010, tenant: J. Doe, rent: 1850, status: occupied}\n"
             "  - {unit: 1.10, tenant: \"Line\\nbreak\", rent: 1000, status: occupied}\n")
    env = setup(tmp_path, front)
    code, out, err = dry_run(env, capsys, "rental")
    assert (code, err) == (0, "")
    assert "\n010  | J. Doe" in out
    assert "\n1.10 | Line break" in out


def test_markdown_in_handoff_text_outside_tables(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # due beyond 7 days: listed under the CEO's actions, not under Needs you
    front = HEAD + ("actions:\n  - {title: 'Smith & Sons | *Boats* <now>', due: 2026-12-05, priority: 1}\n"
                    "  - {title: \"Call bank\\n\\n---\\n\\n1986. was a good year\", due: 2026-12-06, priority: 2}\n")
    env = setup(tmp_path, front)
    code, out, _ = dry_run(env, capsys, "ceo")
    assert code == 0
    assert "  - due 2026-12-05, P1: Smith & Sons | *Boats* <now> (Acme)" in out
    assert "  - due 2026-12-06, P2: Call bank --- 1986. was a good year (Acme)" in out


def test_subject_shows_text_as_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "x.md").write_text("---\ntitle: X\npersona: 'Smith & Sons <Marine> \\ Co'\n"
                                  "subject: 'Executive Report: {{ persona }} — {{ period }}'\n---\nBody.\n")
    metrics = ser.compute_metrics(ser.read_handoffs(setup(tmp_path, HEAD).parent / "handoffs"), {}, dt.date(2026, 11, 22))
    (rendered,) = ser.render_all(ser.load_reports(reports), metrics)
    assert rendered.subject == "Executive Report: Smith & Sons <Marine> \\ Co — 2026-W47"
    assert rendered.text.startswith("X\n=\n\nPeriod: 2026-W47")


def test_symlinked_folders_are_followed_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    setup(tmp_path, HEAD)
    elsewhere = tmp_path / "project-repo" / "docs"
    elsewhere.mkdir(parents=True)
    (elsewhere / "handoff.md").write_text("---\nentity: Linked\nstatus: active\nupdated: 2026-11-20\n---\n")
    os.symlink(tmp_path / "project-repo", tmp_path / "handoffs" / "linked")
    os.symlink(tmp_path / "handoffs", tmp_path / "handoffs" / "linked" / "docs" / "loop")  # a loop
    portfolio = ser.read_handoffs(tmp_path / "handoffs")
    assert [h.entity for h in portfolio.handoffs] == ["Acme", "Linked"]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("deep", "not a DynamoDB JSON item (maximum recursion depth exceeded"),
        ("key-not-text", "not a manifest entry (dataFileS3Key is not a file name)"),
        ("count-not-int", "not a manifest entry (itemCount 1.9 is not a count)"),
        ("manifest-not-utf8", "not UTF-8 text"),
        ("escape", "points outside the export"),
    ],
)
def test_damaged_exports_are_named_not_tracebacks(tmp_path: Path, damage: str, message: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    env = setup(tmp_path, HEAD + "dynamodb: {events: acme-events}\n", exports=True)
    folder = write_export(tmp_path / "exports" / "acme-events", ({"pk": {"S": str(i)}} for i in range(3)),
                          export_time=T0)
    files = folder / "manifest-files.json"
    entry = json.loads(files.read_text().splitlines()[0])
    if damage == "deep":
        import gzip

        data = folder / entry["dataFileS3Key"].split(folder.name + "/", 1)[1]
        data.write_bytes(gzip.compress(b'{"Item":{"pk":{"S":"1"}}}\n' + b"[" * 100_000 + b"\n"))
        entry["itemCount"] = 2
        files.write_text(json.dumps(entry) + "\n")
    elif damage == "key-not-text":
        files.write_text(json.dumps({**entry, "dataFileS3Key": 5}) + "\n")
    elif damage == "count-not-int":
        files.write_text(json.dumps({**entry, "itemCount": 1.9}) + "\n")
    elif damage == "escape":
        files.write_text(json.dumps({**entry, "dataFileS3Key": f"p/AWSDynamoDB/{folder.name}/../../../../x.json.gz"}))
    else:
        files.write_bytes(b"\xff\xfe" + files.read_bytes())
    code, out, err = dry_run(env, capsys)
    assert code == 65 and out == ""
    assert message in err
    assert "Traceback" not in err


def test_newest_export_with_and_without_a_time_zone(tmp_path: Path) -> None:
    table = tmp_path / "t-1"
    old = write_export(table, ({"pk": {"S": str(i)}} for i in range(2)), export_time=T0)
    new = write_export(table, ({"pk": {"S": str(i)}} for i in range(5)), export_time=T0 + dt.timedelta(hours=1))
    summary = json.loads((new / "manifest-summary.json").read_text())
    summary["exportTime"] = "2026-11-21T10:00:00"  # no zone: taken as UTC
    (new / "manifest-summary.json").write_text(json.dumps(summary))
    assert old != new
    assert ser.read_export(table).items == 5


def test_live_scan_follows_every_page(moto: str) -> None:
    import boto3

    client = boto3.client("dynamodb", endpoint_url=moto, region_name="us-west-2",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    client.create_table(TableName="paged", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                        BillingMode="PAY_PER_REQUEST")
    for i in range(53):
        item = {"pk": {"S": f"k{i}"}}
        if i % 2:
            item["done"] = {"BOOL": True}
        client.put_item(TableName="paged", Item=item)
    need = ser.TableNeed(table="paged", entities={"Acme"}, done_attr="done")
    counts = ser.scan_counts(client, [need], segments=2, page_size=5)
    assert (counts["paged"].items, counts["paged"].done) == (53, 26)


@pytest.mark.parametrize(("value", "text"), [(-0.004, "0"), (0.004, "0"), (-1.5, "-1.5"), (2.999, "3")])
def test_numbers_never_show_minus_zero(value: float, text: str) -> None:
    assert ser.format_number(value) == text


def test_tables_align_wide_and_accented_characters() -> None:
    rows = [["Client", "Fee"], ["東京デリバリー", "$1,200"], ["Zoë and José", "$9.00"], ["Cafe\u0301 Noir", "$300"],
            ["東京" * 40, "$1"]]
    lines = ser.layout_table(rows, [False, True]).splitlines()
    bars = {ser._cols(line.split(" | ")[0]) for line in lines if " | " in line}
    assert len(bars) == 1  # the column bar is in the same terminal column on every line
    assert max(ser._cols(line) for line in lines) <= 78
    assert lines[2] == "東京デリバリー" + " " * (bars.pop() - 14) + " | $1,200"


def bomb() -> str:
    """About 500 bytes of nested aliases used as a mapping key: gigabytes once expanded."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n? *i\n: boom\n"


def test_an_alias_bomb_is_refused_before_anything_is_built(tmp_path: Path) -> None:
    """Refused from the parser's events, naming each line; composing it would take minutes and gigabytes."""
    front = HEAD + bomb()
    assert len(front.encode()) < 600
    (tmp_path / "bomb.md").write_text(f"---\n{front}---\n")
    with pytest.raises(ser.InputErrors) as info:
        ser.read_handoffs(tmp_path)
    errors = info.value.errors
    assert errors[0] == (f"{tmp_path / 'bomb.md'}:5: anchor &a is not allowed: anchors and aliases let a file of a "
                         "few hundred bytes stand for gigabytes; write each value out in full")
    assert (f"{tmp_path / 'bomb.md'}:6: alias *a is not allowed: aliases let a file of a few hundred bytes stand "
            "for gigabytes; write the value out in full") in errors[1:ser.ERRORS_SHOWN]
    assert info.value.total == 9 + 8 * 9 + 1  # each anchor, and each alias
    assert errors[-1] == (f"{tmp_path / 'bomb.md'}: {info.value.total - ser.ERRORS_SHOWN} more errors in this file, "
                          "not shown; fix those above and run again")


def test_front_matter_over_1_mib_is_refused(tmp_path: Path) -> None:
    (tmp_path / "big.md").write_text("---\n" + HEAD + "notes:\n" + "  - x\n" * 200_000 + "---\n")
    with pytest.raises(ser.InputErrors) as info:
        ser.read_handoffs(tmp_path)
    assert info.value.errors == [
        f"{tmp_path / 'big.md'}:1: front matter over 1 MiB (no closing '---' in the first 1,048,576 bytes); a "
        "handoff's front matter is a few kilobytes: move the rest to the notes below it, or add the closing '---'"
    ]


def test_the_body_is_never_read(tmp_path: Path) -> None:
    """A body of 4 MB that is not text at all (it would fail if decoded) does not matter, nor cost memory."""
    body = b"\xff\xfe\x00 not UTF-8\n" * 300_000
    (tmp_path / "site.md").write_bytes(f"---\n{HEAD}cash: 8200\n---\n".encode() + body)
    tracemalloc.start()
    try:
        portfolio = ser.read_handoffs(tmp_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert portfolio.handoffs[0].data["cash"] == 8200
    assert peak < len(body) / 20  # the file is never held whole (4 MB); a read buffer and one document are


def test_front_matter_of_too_many_values_is_refused_before_it_is_composed(tmp_path: Path) -> None:
    """200 KB of `1,` would be 100,000 YAML nodes (tens of MB); a real handoff holds a few hundred values."""
    (tmp_path / "many.md").write_text("---\n" + HEAD + "notes: [" + "1," * 100_000 + "1]\n---\n")
    with pytest.raises(ser.InputErrors) as info:
        ser.read_handoffs(tmp_path)
    assert info.value.errors == [
        f"{tmp_path / 'many.md'}:5: front matter holds over 100,000 values; a handoff's front matter holds a few "
        "hundred: move the rest to the notes below it"
    ]


def test_a_file_of_many_errors_shows_the_first_twenty_and_counts_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """10 files of 1,000 bad actions each: 20 lines a file and a count; memory as for one file."""
    bad = HEAD + "actions:\n" + "  - {title: x, due: soon}\n" * 1_000
    env = setup(tmp_path, *[bad] * 10)
    tracemalloc.start()
    try:
        code, out, err = dry_run(env, capsys)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    lines = err.splitlines()
    doc0 = str(tmp_path / "handoffs" / "doc0.md")
    shown = [line for line in lines if line.startswith(f"send_exec_reports: {doc0}:")]
    assert (code, out, len(shown)) == (65, "", ser.ERRORS_SHOWN + 1)
    assert shown[0] == (f"send_exec_reports: {doc0}:6: actions[0].due expected a date like 2026-11-18, "
                        "got text 'soon'")
    assert shown[-1] == (f"send_exec_reports: {doc0}: 980 more errors in this file, not shown; "
                         "fix those above and run again")
    assert lines[-1] == "send_exec_reports: bad input: nothing was sent (10,000 errors)"
    assert len(lines) < 10 * (ser.ERRORS_SHOWN + 1) + 5
    assert peak < 20_000_000  # each file's nodes were held to the end: 4 MB a file, 40 MB in all


def test_a_file_of_exactly_twenty_errors_shows_them_all(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("---\n" + HEAD + "actions:\n" + "  - {title: x, due: soon}\n" * 20 + "---\n")
    with pytest.raises(ser.InputErrors) as info:
        ser.read_handoffs(tmp_path)
    assert len(info.value.errors) == info.value.total == 20
    assert not any("more" in line for line in info.value.errors)


def test_a_template_that_fails_at_run_time_is_one_line_naming_its_line(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    env = setup(tmp_path, HEAD + "cash: 100\n")
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "x.md").write_text("---\ntitle: X\npersona: CEO\nsubject: S\n---\nfine\n\n"
                                  "{{ ([1, 'a'])|sort|first }}\n", encoding="utf-8")
    with env.open("a") as fh:
        fh.write("REPORTS_DIR=reports\n")
    code, out, err = dry_run(env, capsys)
    assert (code, out) == (78, "")
    assert "x.md:8: template error (TypeError: '<' not supported" in err and "Traceback" not in err


# Row 900 of the uncut list divides by zero; the cut list (100 rows) never reaches it.
LATE_MISTAKE = ("---\ntitle: X\npersona: CEO\nsubject: S\n---\n| n | x |\n|---|--:|\n"
                "{% for i in cut(range(1000), 100) %}| {{ i }} | {{ 1 // (900 - i) }} |\n{% endfor %}\n")


@pytest.mark.parametrize("extra, code", [((), 0), (("--full",), 78), (("--check",), 78)],
                         ids=["dry-run", "full", "check"])
def test_a_mistake_only_the_uncut_rows_reach(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             extra: tuple[str, ...], code: int) -> None:
    """A plain dry run shows what would be sent, and renders a long list only until it is known long;
    what shows the uncut text (--full), or vouches for a send (--check), renders it whole and finds the
    mistake on its line."""
    env = setup(tmp_path, HEAD + "cash: 100\n")
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "x.md").write_text(LATE_MISTAKE, encoding="utf-8")
    with env.open("a") as fh:
        fh.write("REPORTS_DIR=reports\n")
    got = ser.main(["--dry-run", "--env-file", str(env), "--as-of", "2026-11-22", *extra])
    out, err = capsys.readouterr()
    assert got == code, err
    if code:
        assert out == "" and "x.md:8: template error (ZeroDivisionError: integer division or modulo by zero)" in err
        assert "Traceback" not in err
    else:
        assert "\n99 | 0\n" in out and "\n100 | " not in out  # the 100 rows that would be sent


def test_the_uncut_text_of_a_dry_run_render_names_a_late_mistake_in_one_line(
        tmp_path: Path, bench_metrics_300: dict[str, object]) -> None:
    """A dry run's render leaves the uncut lists unfinished; reading the uncut text renders them again,
    and a mistake found then is the same one-line error as one found up front."""
    (tmp_path / "x.md").write_text(LATE_MISTAKE, encoding="utf-8")
    (report,) = ser.load_reports(tmp_path)
    rendered = ser.render_report(report, bench_metrics_300, whole=False)
    assert "\n99 | 0\n" in rendered.text and rendered.uncut_markdown is not None
    with pytest.raises(ser.ConfigError, match=r"x\.md:8: template error \(ZeroDivisionError: integer division"):
        _ = rendered.full_text  # reading it renders the uncut lists


def test_two_report_ids_that_name_the_same_setting_are_refused(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    env = setup(tmp_path, HEAD)
    reports = tmp_path / "reports"
    reports.mkdir()
    for name in ("q-a", "q_a"):
        (reports / f"{name}.md").write_text("---\ntitle: X\npersona: CEO\nsubject: S\n---\nx\n", encoding="utf-8")
    with env.open("a") as fh:
        fh.write("REPORTS_DIR=reports\n")
    code, out, err = dry_run(env, capsys)
    assert (code, out) == (78, "")
    assert "report id 'q_a' cannot be told apart from 'q-a'" in err and "EXEC_REPORT_TO_Q_A" in err


def test_a_deploy_date_in_the_future_is_not_shown_as_negative_days(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    env = setup(tmp_path, HEAD + "stack:\n  - {name: api, monthly_cost: 5, in_use: true, last_deploy: 2027-01-02}\n")
    code, out, err = dry_run(env, capsys, "cto")
    assert (code, err) == (0, "")
    assert "in the future: 2027-01-02" in out and "-41 days" not in out
