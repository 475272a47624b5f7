"""The DynamoDB export reader: typed values, export choice, streaming.

Every export is written under tmp_path by examples/make_exports.py's `write_export`,
in the layout an `aws s3 sync` of an "Export to S3" prefix brings down.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import io
import json
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from make_exports import write_export, write_unfinished_export

import send_exec_reports as ser

from .conftest import FRONT, aws, dry_run_of, portfolio_with

T0 = dt.datetime(2026, 11, 21, 9, 0, tzinfo=dt.UTC)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


# ---------------------------------------------------------------------------
# decode_attribute: every DYNAMODB_JSON type.


@pytest.mark.parametrize(
    ("av", "expected"),
    [
        pytest.param({"S": "Check bilge pumps"}, "Check bilge pumps", id="S"),
        pytest.param({"S": ""}, "", id="S-empty"),
        pytest.param({"N": "12.50"}, Decimal("12.50"), id="N-decimal"),
        pytest.param({"N": "-7"}, Decimal(-7), id="N-negative"),
        pytest.param({"N": "1E+3"}, Decimal("1E+3"), id="N-exponent"),
        pytest.param({"N": "0.1"}, Decimal("0.1"), id="N-exact-not-float"),
        pytest.param({"BOOL": True}, True, id="BOOL-true"),
        pytest.param({"BOOL": False}, False, id="BOOL-false"),
        pytest.param({"NULL": True}, None, id="NULL"),
        pytest.param({"B": b64(b"\x00\xffhello")}, b"\x00\xffhello", id="B"),
        pytest.param({"SS": ["mobile", "promo"]}, {"mobile", "promo"}, id="SS"),
        pytest.param({"NS": ["1", "2.5", "-3"]}, {Decimal(1), Decimal("2.5"), Decimal(-3)}, id="NS"),
        pytest.param({"BS": [b64(b"\x01\x02"), b64(b"abc")]}, {b"\x01\x02", b"abc"}, id="BS"),
        pytest.param({"L": []}, [], id="L-empty"),
        pytest.param(
            {"L": [{"S": "a"}, {"N": "1"}, {"BOOL": False}, {"NULL": True}, {"L": [{"N": "2"}]}]},
            ["a", Decimal(1), False, None, [Decimal(2)]],
            id="L-mixed-nested",
        ),
        pytest.param(
            {
                "M": {
                    "name": {"S": "ana"},
                    "tags": {"SS": ["ios"]},
                    "address": {"M": {"zip": {"N": "92101"}, "lines": {"L": [{"S": "1 Harbor Dr"}]}}},
                    "avatar": {"B": b64(b"PNG")},
                }
            },
            {
                "name": "ana",
                "tags": {"ios"},
                "address": {"zip": Decimal(92101), "lines": ["1 Harbor Dr"]},
                "avatar": b"PNG",
            },
            id="M-nested",
        ),
    ],
)
def test_decode_attribute(av, expected):
    got = ser.decode_attribute(av)
    assert got == expected
    assert type(got) is type(expected)
    if isinstance(expected, Decimal):
        assert str(got) == str(expected)  # the digits as written, never through float


@pytest.mark.parametrize(
    ("av", "message"),
    [
        pytest.param({"X": "1"}, "unknown attribute type 'X'", id="unknown-type"),
        pytest.param({"s": "lowercase"}, "unknown attribute type 's'", id="lowercase-type"),
        pytest.param({"B": "not base64!"}, "B value is not base64", id="B-bad-base64"),
        pytest.param({"BS": ["AQI=", "@@@@"]}, "B value is not base64", id="BS-bad-base64"),
        pytest.param({"B": 123}, "B value '123' is not a str", id="B-not-text"),
        pytest.param({"BOOL": "true"}, "BOOL value 'true' is not a bool", id="BOOL-text"),
        pytest.param({"S": "a", "N": "1"}, "not a typed attribute value", id="two-types"),
        pytest.param({}, "not a typed attribute value", id="empty"),
        pytest.param("plain", "not a typed attribute value", id="not-a-mapping"),
        pytest.param({"M": {"x": {"Q": "1"}}}, "unknown attribute type 'Q'", id="nested-unknown"),
        pytest.param(
            {"N": "twelve"}, "N value 'twelve' is not a number",
            id="N-not-a-number",
        ),
    ],
)
def test_decode_attribute_errors(av, message):
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        ser.decode_attribute(av)


# ---------------------------------------------------------------------------
# read_export: counting.


def rich_items(count: int):
    """Items with every attribute type; item i is done when i % 3 == 0, not when 1, absent when 2."""
    for i in range(count):
        item = {
            "pk": {"S": f"task#{i:04d}"},
            "n": {"N": f"{i}.50"},
            "tags": {"SS": ["a", f"t{i}"]},
            "scores": {"NS": ["1", str(i + 2)]},
            "blob": {"B": b64(bytes([i % 256, 0, 255]))},
            "blobs": {"BS": [b64(b"x"), b64(bytes([i % 256]))]},
            "meta": {"M": {"by": {"S": "CB"}, "history": {"L": [{"N": "1"}, {"NULL": True}, {"M": {}}]}}},
        }
        if i % 3 == 0:
            item["completed"] = {"BOOL": True}
        elif i % 3 == 1:
            item["completed"] = {"BOOL": False}
        yield item


def test_read_export_counts_items_across_empty_files(tmp_path):
    table_dir = tmp_path / "eyd-checklist"
    folder = write_export(table_dir, rich_items(2500), export_time=T0, items_per_file=700, empty_files=2)
    sizes = [json.loads(ln)["itemCount"] for ln in (folder / "manifest-files.json").read_text().splitlines()]
    assert sizes.count(0) == 2 and len(sizes) == 6  # the empty data files are really there

    count = ser.read_export(table_dir)

    assert (count.table, count.items, count.done, count.source) == ("eyd-checklist", 2500, None, "export")


@pytest.mark.parametrize(("total", "done"), [(0, 0), (1, 1), (2, 1), (3, 1), (2500, 834)])
def test_read_export_counts_done_items(tmp_path, total, done):
    table_dir = tmp_path / "eyd-checklist"
    write_export(table_dir, rich_items(total), export_time=T0, items_per_file=400, empty_files=2)

    count = ser.read_export(table_dir, done_attr="completed")

    assert (count.items, count.done) == (total, done)


def test_done_attribute_true_counts_false_null_and_absent_do_not(tmp_path):
    """Only {"BOOL": true} at the top level counts: false, NULL (no value), absent or nested is not done."""
    items = [
        {"pk": {"S": "1"}, "completed": {"BOOL": True}},
        {"pk": {"S": "2"}, "completed": {"BOOL": False}},
        {"pk": {"S": "3"}, "completed": {"NULL": True}},
        {"pk": {"S": "4"}},
        {"pk": {"S": "5"}, "meta": {"M": {"completed": {"BOOL": True}}}},
        {"pk": {"S": "6"}, "done": {"BOOL": True}},
    ]
    write_export(tmp_path / "t-1", items, export_time=T0)
    assert ser.read_export(tmp_path / "t-1", done_attr="completed").done == 1
    assert ser.read_export(tmp_path / "t-1", done_attr="done").done == 1


NOT_BOOLEAN = [
    ({"S": "true"}, "text (S)"),
    ({"N": "1"}, "a number (N)"),
    ({"SS": ["true"]}, "a set of text (SS)"),
    ({"NS": ["1"]}, "a set of numbers (NS)"),
    ({"B": b64(b"\x01")}, "binary (B)"),
    ({"BS": [b64(b"\x01")]}, "a set of binary (BS)"),
    ({"L": [{"BOOL": True}]}, "a list (L)"),
    ({"M": {"value": {"BOOL": True}}}, "a map (M)"),
]


@pytest.mark.parametrize(("value", "kind"), NOT_BOOLEAN, ids=[k for _, k in NOT_BOOLEAN])
def test_a_done_attribute_of_another_type_is_refused_naming_table_item_and_type(tmp_path, value, kind):
    """Found by a review: a done attribute stored as 1 or "true" read as not done, the checklist 0% without a word."""
    items = [{"pk": {"S": "1"}, "completed": {"BOOL": True}}, {"pk": {"S": "2"}, "completed": value}]
    folder = write_export(tmp_path / "tasks", items, export_time=T0)
    (data,) = (folder / "data").iterdir()
    need = ser.TableNeed(table="tasks", entities={"EYD"}, done_attr="completed")
    with pytest.raises(ser.InputErrors) as exc:
        ser.read_tables({"tasks": need}, tmp_path)
    assert exc.value.errors == [
        f"table tasks (EYD): {data.resolve()}:2: done attribute 'completed' is {kind}, not a boolean, so the "
        "checklist would count the item as not done; store it as a DynamoDB boolean (BOOL, true or false)"
    ]
    assert ser.read_export(tmp_path / "tasks").items == 2  # counted as a table of events, it is no checklist


def test_bad_number_in_done_attribute_is_an_input_error(tmp_path):
    items = [{"pk": {"S": "1"}, "completed": {"BOOL": True}}, {"pk": {"S": "2"}, "completed": {"NS": ["x"]}}]
    folder = write_export(tmp_path / "t-1", items, export_time=T0)
    (data,) = (folder / "data").iterdir()
    with pytest.raises(ser.InputError) as exc:
        ser.read_export(tmp_path / "t-1", done_attr="completed")
    assert str(exc.value).startswith(f"{data.resolve()}:2: not a DynamoDB JSON item (")


# A checklist's done attribute that no item of the table holds (a typo: `complete` for
# `completed`) read "Checklist done 0.0%" without a word.


def test_a_done_attribute_no_item_holds_is_an_error_naming_the_names_items_have(tmp_path):
    """done: complete (for completed) is an error naming the table, the attribute and the names, near miss first."""
    write_export(tmp_path / "eyd-checklist", rich_items(40), export_time=T0, items_per_file=7, empty_files=1)
    need = ser.TableNeed(table="eyd-checklist", entities={"EYD"}, done_attr="complete", file="eyd.md", line=9,
                         key="dynamodb.checklist")
    count = ser.read_export(tmp_path / "eyd-checklist", done_attr="complete")
    assert (count.items, count.done) == (40, 0)
    assert count.done_absent == ["blob", "blobs", "completed", "meta", "n", "pk", "scores", "tags"]
    with pytest.raises(ser.InputErrors) as info:
        ser.read_tables({need.table: need}, tmp_path)
    assert info.value.errors == [
        "eyd.md:9: dynamodb.checklist: done attribute 'complete' is on no item of table eyd-checklist (EYD; 40 "
        "items, export), so the checklist would read 0% done; did you mean 'completed'? the export's items have: "
        "'completed', 'meta', 'scores', 'pk', 'blob', 'tags', 'blobs', 'n'; fix done: in the handoff"
    ]


@pytest.mark.parametrize(("items", "done"), [
    pytest.param([{"pk": {"S": "1"}, "completed": {"BOOL": False}}] * 3, 0, id="held-never-true"),
    pytest.param([{"pk": {"S": "1"}}] * 150 + [{"pk": {"S": "2"}, "completed": {"NULL": True}}], 0,
                 id="held-by-the-last-item-only"),
    pytest.param([], None, id="empty-table"),
])
def test_a_done_attribute_some_item_holds_or_an_empty_table_reads_as_counted(tmp_path, items, done):
    """0% done is a figure when an item holds the attribute; an empty table is "n/a", never an error nor 0%."""
    write_export(tmp_path / "t-1", items, export_time=T0, items_per_file=40)
    count = ser.read_export(tmp_path / "t-1", done_attr="completed")
    assert (count.done, count.done_absent) == (0, None)
    need = ser.TableNeed(table="t-1", entities={"EYD"}, done_attr="completed")
    assert ser.read_tables({"t-1": need}, tmp_path)["t-1"].done == 0
    entity = ser.compute_metrics(ser.Portfolio(handoffs=[ser.Handoff(file="a.md", data={
        "entity": "EYD", "project": "p", "status": "active", "updated": dt.date(2026, 11, 18),
        "dynamodb": {"checklist": {"table": "t-1", "done": "completed"}}})]),
        {"t-1": count}, dt.date(2026, 11, 22))["entities"]["EYD"]
    assert entity["checklist_pct"] == (ser.NOT_APPLICABLE if done is None else 0)


# ---------------------------------------------------------------------------
# find_export / read_export: which export of a table folder is read.


def items_n(count: int):
    for i in range(count):
        yield {"pk": {"S": f"{i}"}}


def test_newest_complete_export_wins_even_when_its_folder_sorts_first(tmp_path):
    table_dir = tmp_path / "eyd-events"
    write_export(table_dir, items_n(3), export_time=T0 - dt.timedelta(days=7), export_id="99999999999999-ffffffff")
    newest = write_export(table_dir, items_n(5), export_time=T0, export_id="00000000000000-00000000")
    write_export(table_dir, items_n(4), export_time=T0 - dt.timedelta(days=1), export_id="55555555555555-55555555")

    folder, summary, exported = ser.find_export(table_dir)

    assert folder == newest
    assert summary["itemCount"] == 5 and exported == T0
    assert ser.read_export(table_dir).items == 5


def test_newest_by_export_time_not_by_start_or_end_time(tmp_path):
    """exportTime decides, compared as instants: an offset is not a later wall-clock time."""
    table_dir = tmp_path / "eyd-events"
    older = write_export(table_dir, items_n(3), export_time=T0)
    newer = write_export(table_dir, items_n(4), export_time=T0 + dt.timedelta(minutes=1))
    # Rewrite the older one's exportTime in a +09:00 offset: later wall clock, earlier instant.
    path = older / "manifest-summary.json"
    summary = json.loads(path.read_text())
    summary["exportTime"] = "2026-11-21T17:59:00.000+09:00"  # 08:59Z
    summary["endTime"] = "2026-11-22T00:00:00.000Z"
    path.write_text(json.dumps(summary))
    assert ser.find_export(table_dir)[0] == newer
    assert ser.read_export(table_dir).items == 4


def test_unfinished_newer_export_is_ignored(tmp_path):
    table_dir = tmp_path / "eyd-events"
    done = write_export(table_dir, items_n(5), export_time=T0)
    unfinished = write_unfinished_export(table_dir, items_n(9), export_time=T0 + dt.timedelta(days=1))
    assert (unfinished / "_started").exists() and not (unfinished / "manifest-summary.json").exists()

    assert ser.find_export(table_dir)[0] == done
    assert ser.read_export(table_dir).items == 5


def test_incremental_export_is_ignored(tmp_path):
    table_dir = tmp_path / "eyd-events"
    full = write_export(table_dir, items_n(5), export_time=T0)
    incremental = write_export(table_dir, items_n(2), export_time=T0 + dt.timedelta(days=1))
    path = incremental / "manifest-summary.json"
    summary = json.loads(path.read_text())
    summary["exportType"] = "INCREMENTAL_EXPORT"
    path.write_text(json.dumps(summary))

    assert ser.find_export(table_dir)[0] == full
    assert ser.read_export(table_dir).items == 5


def _only_unfinished(table_dir: Path) -> None:
    write_unfinished_export(table_dir, items_n(3), export_time=T0)


def _only_incremental(table_dir: Path) -> None:
    folder = write_export(table_dir, items_n(3), export_time=T0)
    path = folder / "manifest-summary.json"
    path.write_text(path.read_text().replace('"FULL_EXPORT"', '"INCREMENTAL_EXPORT"'))


def _empty_folder(table_dir: Path) -> None:
    (table_dir / "AWSDynamoDB").mkdir(parents=True)


@pytest.mark.parametrize("setup", [_only_unfinished, _only_incremental, _empty_folder])
def test_no_complete_export_names_the_folder(tmp_path, setup):
    table_dir = tmp_path / "eyd-events"
    setup(table_dir)
    with pytest.raises(ser.InputError) as exc:
        ser.read_export(table_dir)
    assert str(exc.value) == (
        f"{table_dir}: no complete export (no AWSDynamoDB/<ExportId>/manifest-summary.json); "
        "wait for the export to finish and sync it again"
    )


@pytest.mark.parametrize("fmt", ["ION", "JSON"])
def test_other_output_format_is_refused(tmp_path, fmt):
    table_dir = tmp_path / "eyd-events"
    folder = write_export(table_dir, items_n(3), export_time=T0)
    path = folder / "manifest-summary.json"
    path.write_text(path.read_text().replace('"outputFormat":"DYNAMODB_JSON"', f'"outputFormat":"{fmt}"'))
    assert json.loads(path.read_text())["outputFormat"] == fmt

    with pytest.raises(ser.InputError) as exc:
        ser.read_export(table_dir)
    assert str(exc.value) == f"{path}: outputFormat {fmt}; export as DYNAMODB_JSON"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param('{"itemCount": 3', "Expecting ',' delimiter: line 1 column 16 (char 15)", id="truncated"),
        pytest.param('{"itemCount": 3}', "exportTime missing", id="no-export-time"),
        pytest.param(
            '{"exportTime": "last tuesday"}', "Invalid isoformat string: 'last tuesday'", id="bad-export-time"
        ),
    ],
)
def test_unreadable_summary_names_the_file(tmp_path, text, problem):
    table_dir = tmp_path / "eyd-events"
    folder = write_export(table_dir, items_n(3), export_time=T0)
    (folder / "manifest-summary.json").write_text(text)
    with pytest.raises(ser.InputError) as exc:
        ser.read_export(table_dir)
    assert str(exc.value) == (
        f"{folder / 'manifest-summary.json'}: not a readable export summary ({problem}); re-sync the export"
    )


# ---------------------------------------------------------------------------
# Streaming (issue item 6): peak memory does not grow with the table.


def small_items(count: int):
    for i in range(count):
        yield {"pk": {"S": f"e#{i:06d}"}, "n": {"N": str(i)}}


def peak_rss_of_read(table_dir: Path) -> tuple[int, int]:
    """(items, peak RSS in KiB) of a child process that only imports the tool and reads the export."""
    code = (
        "import resource, sys, send_exec_reports as s\n"
        "count = s.read_export(__import__('pathlib').Path(sys.argv[1]), done_attr='done')\n"
        "print(count.items, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(table_dir)], capture_output=True, text=True,
                            cwd=Path(ser.__file__).parent, timeout=120, check=True)
    items, rss = result.stdout.split()
    return int(items), int(rss)


def test_reading_a_large_export_keeps_memory_flat(tmp_path):
    small_dir, large_dir = tmp_path / "small-table", tmp_path / "large-table"
    write_export(small_dir, small_items(20_000), export_time=T0, items_per_file=50_000)
    # Two data files of 100,000 items: reading a whole file at once would add 10+ MB.
    write_export(large_dir, small_items(200_000), export_time=T0, items_per_file=100_000, empty_files=1)

    small_items_read, small_rss = peak_rss_of_read(small_dir)
    large_items_read, large_rss = peak_rss_of_read(large_dir)

    assert (small_items_read, large_items_read) == (20_000, 200_000)
    # Held in memory, 200,000 items would take tens of MB; streamed, the peak is the
    # interpreter plus a gzip buffer and one line, whatever the size of the table.
    assert large_rss - small_rss < 4 * 1024, f"peak RSS {large_rss} KiB for 200k items vs {small_rss} KiB for 20k"


# ---------------------------------------------------------------------------
# Hostile data files: an error naming the file, after reading a bounded amount.


def export_with_data_file(tmp_path: Path, raw_gz: bytes, item_count: int) -> tuple[Path, Path]:
    """(table folder, data file) of a one-file export whose data file holds raw_gz."""
    table_dir = tmp_path / "eyd-checklist"
    folder = write_export(table_dir, items_n(1), export_time=T0)
    (data,) = (folder / "data").iterdir()
    data.write_bytes(raw_gz)
    for name in ("manifest-files.json", "manifest-summary.json"):
        path = folder / name
        path.write_text(path.read_text().replace('"itemCount":1', f'"itemCount":{item_count}'))
    return table_dir, data.resolve()


ITEM_LINE = b'{"Item":{"pk":{"S":"t1"},"completed":{"BOOL":true}}}\n'


def test_a_damaged_line_counted_by_bytes_is_named_when_the_done_attribute_is_looked_for(tmp_path):
    """The second read of a checklist none of whose items is done parses lines the fast count did not: named by line."""
    lines = [b'{"Item":{"pk":{"S":"t%d"},"completed":{"BOOL":false}}}\n' % i for i in range(4)]
    lines[2] = b'{"Item":{"pk":{"S":"t2"},damaged}}\n'
    table_dir, data = export_with_data_file(tmp_path, gzip.compress(b"".join(lines)), 4)
    assert ser.read_export(table_dir, done_attr="completed").items == 4  # counted by its bytes: not parsed
    with pytest.raises(ser.InputError) as info:
        ser.read_export(table_dir, done_attr="complete")
    assert str(info.value).startswith(f"{data}:3: not a DynamoDB JSON item (")


@pytest.mark.parametrize(("before", "line"), [(0, 1), (2, 3)])
def test_a_line_over_1_mib_is_an_error_naming_file_and_line(tmp_path, before, line):
    """3 MiB without a newline: refused once 1 MiB of it is held, never re-split as it grows."""
    raw = gzip.compress(ITEM_LINE * before + b'{"Item":{"pk":{"S":"' + b"x" * (3 << 20) + b'"}}}', mtime=0)
    table_dir, data = export_with_data_file(tmp_path, raw, before + 1)
    with pytest.raises(ser.InputError) as exc:
        ser.read_export(table_dir, done_attr="completed")
    assert str(exc.value) == (
        f"{data}:{line}: a line longer than 1 MiB (an item is at most 400 KB); the file is damaged: "
        "sync the export again"
    )


def test_a_line_of_exactly_1_mib_is_read(tmp_path):
    head = b'{"Item":{"pk":{"S":"'
    tail = b'"},"completed":{"BOOL":true}}}'
    big = head + b"x" * ((1 << 20) - len(head) - len(tail)) + tail
    assert len(big) == 1 << 20
    table_dir, _ = export_with_data_file(tmp_path, gzip.compress(ITEM_LINE + big + b"\n" + ITEM_LINE, mtime=0), 3)
    assert (ser.read_export(table_dir, done_attr="completed").items, ser.read_export(table_dir).items) == (3, 3)


def test_line_reading_stops_at_the_cap_whatever_the_read_size():
    """A stream with no newline is read only until the cap is passed, however small the reads."""
    stream = io.BytesIO(b"x" * (5 << 20))
    with pytest.raises(ser._LineTooLong):
        for _ in ser._blocks(stream, size=4096):
            pass
    assert stream.tell() <= (1 << 20) + 4096


def test_lines_spanning_many_reads_come_back_whole():
    lines = [b"a" * 900_000, b"", b"b" * 10, b"c" * 5000]
    blocks = list(ser._blocks(io.BytesIO(b"\n".join(lines)), size=1024))
    assert b"".join(blocks).split(b"\n") == lines
    assert all(block.endswith(b"\n") for block in blocks[:-1])


def test_megabytes_of_blank_lines_are_an_error_naming_the_file(tmp_path):
    raw = gzip.compress(ITEM_LINE * 2 + b"\n" * 10_000_000 + ITEM_LINE, mtime=0)
    table_dir, data = export_with_data_file(tmp_path, raw, 3)
    with pytest.raises(ser.InputError) as exc:
        ser.read_export(table_dir, done_attr="completed")
    message = str(exc.value)
    assert message.startswith(f"{data}:")
    assert message.endswith(": more than 1 MiB of blank lines (AWS writes none); the file is damaged: "
                            "sync the export again")
    assert 1 << 20 <= int(message.removeprefix(f"{data}:").split(":")[0]) <= (1 << 20) + 3


@pytest.mark.parametrize("done_attr", [None, "completed"])
def test_blank_lines_are_never_items(tmp_path, done_attr):
    body = b"\n" + ITEM_LINE + b"   \n\t\r\n" + ITEM_LINE + b"\n\n" + ITEM_LINE.replace(b"true", b"false") + b"\n"
    table_dir, _ = export_with_data_file(tmp_path, gzip.compress(body, mtime=0), 3)
    count = ser.read_export(table_dir, done_attr=done_attr)
    assert (count.items, count.done) == (3, 2 if done_attr else None)
    for block_size in (16, 60, 4096):  # blank lines at the edges of blocks, or blocks of nothing else
        path = next((table_dir / "AWSDynamoDB").glob("*/data/*.json.gz"))
        assert ser._read_data_file(path, "completed", block_size=block_size) == (3, 2)


def test_a_gzip_bomb_stops_once_the_manifest_count_is_passed(tmp_path):
    """256 MiB of items where the manifest lists 2: refused after the first block, not read through."""
    member = gzip.compress(ITEM_LINE * ((16 << 20) // len(ITEM_LINE)), mtime=0)
    table_dir, data = export_with_data_file(tmp_path, member * 16, 2)
    assert data.stat().st_size < 1 << 20
    with pytest.raises(ser.InputError) as exc:
        ser.read_export(table_dir, done_attr="completed")
    assert str(exc.value).endswith(
        f"itemCount 2 but {data.name} holds more than 2 items; the export is damaged or partly synced: sync it again"
    )


# ---------------------------------------------------------------------------
# Live reads: a table in no export is counted with Scan; when it cannot be, the error
# names the handoff line that names the table and says what to do.

LIVE_DOC = (
    "---\n"
    "entity: Expert Yacht Delivery\n"
    "status: active\n"
    "updated: 2026-11-20\n"
    "dynamodb:\n"
    "  events: eyd-events\n"  # line 6
    "  checklist:\n"  # line 7: the line the reader records for dynamodb.checklist
    "    table: eyd-checklist\n"  # line 8
    "    done: completed\n"
    "---\n"
)


def live_portfolio(tmp_path: Path, endpoint: str, credentials: str = "") -> Path:
    """A handoff naming two tables, no exports, AWS pointed at a loopback endpoint; return repos.env."""
    (tmp_path / "handoffs").mkdir()
    (tmp_path / "handoffs" / "eyd.md").write_text(LIVE_DOC, encoding="utf-8")
    env = tmp_path / "repos.env"
    env.write_text(f"HANDOFF_DIR=handoffs\nAWS_REGION=us-west-2\nAWS_ENDPOINT_URL={endpoint}\n{credentials}")
    return env


def origin(err_line: str, key: str, line: int) -> str:
    """The `file[:line]: key` a message starts with; the line where the handoff reader records it."""
    for at in (f"eyd.md:{line}: {key}: ", f"eyd.md: {key}: "):
        if err_line.startswith(at):
            return at
    raise AssertionError(f"{err_line!r} does not start with eyd.md[:{line}]: {key}")


def test_no_credentials_names_the_handoff_line_and_what_to_do(tmp_path, moto, capsys):
    env = live_portfolio(tmp_path, moto)

    status = ser.main(["--dry-run", "--env-file", str(env), "--as-of", "2026-11-22"])

    out, err = capsys.readouterr()
    assert (status, out) == (65, "")
    lines = [ln.split(": ", 1)[1] for ln in err.splitlines()]  # after the program name
    assert len(lines) == 3, err
    for line, (table, key, lineno) in zip(lines, [("eyd-events", "dynamodb.events", 6),
                                                  ("eyd-checklist", "dynamodb.checklist", 7)], strict=False):
        at = origin(line, key, lineno)
        assert line == (
            f"{at}DynamoDB table {table} (Expert Yacht Delivery) is not in the exports (no DYNAMODB_EXPORT_DIR) "
            f"and cannot be read live: no AWS credentials were found; put its export in "
            f"DYNAMODB_EXPORT_DIR/{table}/ (an Export to S3, synced) or give AWS credentials (AWS_PROFILE, "
            "or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the settings)"
        )
    assert lines[2] == "bad input: nothing was sent (2 errors)"
    assert "NoCredentialsError" not in err and "Traceback" not in err


def test_a_live_checklist_whose_done_attribute_no_item_holds_is_an_error(tmp_path, moto):
    """Live, Select=COUNT sees no names: a checklist none of whose items is done is asked which names its items have."""
    client = aws("dynamodb", moto)
    for table in ("tasks", "open-tasks"):
        client.create_table(TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                            BillingMode="PAY_PER_REQUEST")
        for i in range(7):
            client.put_item(TableName=table, Item={"pk": {"S": f"k{i}"}, "completed": {"BOOL": table == "tasks"},
                                                   "title": {"S": "secret value"}})
    typo = ser.TableNeed(table="tasks", entities={"EYD"}, done_attr="complete", file="eyd.md", key="dynamodb.checklist")
    none_done = ser.TableNeed(table="open-tasks", entities={"EYD"}, done_attr="completed")
    with pytest.raises(ser.InputErrors) as info:
        ser.read_tables({"tasks": typo, "open-tasks": none_done}, None,
                        lambda needs: ser.scan_counts(client, needs, segments=2, page_size=3))
    assert info.value.errors == [
        "eyd.md: dynamodb.checklist: done attribute 'complete' is on no item of table tasks (EYD; 7 items, live), "
        "so the checklist would read 0% done; did you mean 'completed'? its items have: 'completed', 'title', "
        "'pk'; fix done: in the handoff"
    ]
    counts = ser.scan_counts(client, [none_done], segments=2)
    assert (counts["open-tasks"].items, counts["open-tasks"].done, counts["open-tasks"].done_absent) == (7, 0, None)


def test_a_live_checklist_reads_true_false_and_null_and_refuses_another_type(tmp_path, moto):
    """Found by a review: live, a done attribute stored as 1 or "true" read as not done, the checklist 0% silently."""
    client = aws("dynamodb", moto)
    values = {"good": [{"BOOL": True}, {"BOOL": False}, {"NULL": True}, None] * 3,
              "bad": [{"BOOL": True}, {"N": "1"}, {"S": "true"}, {"N": "0"}, None, {"BOOL": False}]}
    for table, dones in values.items():
        client.create_table(TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                            BillingMode="PAY_PER_REQUEST")
        for i, done in enumerate(dones):
            client.put_item(TableName=table, Item={"pk": {"S": f"k{i}"}, **({"completed": done} if done else {})})
    needs = {t: ser.TableNeed(table=t, entities={"EYD"}, done_attr="completed", file="eyd.md", key="dynamodb.checklist")
             for t in values}
    counts = ser.scan_counts(client, [needs["good"]], segments=2, page_size=3)
    assert (counts["good"].items, counts["good"].done, counts["good"].done_absent) == (12, 3, None)
    with pytest.raises(ser.InputError) as exc:
        ser.read_tables(needs, None, lambda missing: ser.scan_counts(client, missing, segments=2, page_size=3))
    assert str(exc.value) == (
        "eyd.md: dynamodb.checklist: table bad (EYD; live): done attribute 'completed' is a number (N) on 2 items "
        "and text (S) on 1 item, not a boolean, so the checklist would count them as not done; store it as a "
        "DynamoDB boolean (BOOL, true or false)"
    )


def test_the_first_mention_is_recorded_with_its_line():
    """Where the handoff reader gives each key's line, the table's origin carries it."""
    first = ser.Handoff(file="eyd.md", data={"entity": "EYD", "dynamodb": {"events": "eyd-events"}})
    first.lines = {"dynamodb": 5, "dynamodb.events": 6}
    second = ser.Handoff(file="b.md", data={"entity": "Other", "dynamodb": {
        "events": "eyd-events", "checklist": {"table": "b-tasks", "done": "completed"}}})
    portfolio = ser.Portfolio(handoffs=[first, second])

    needs = ser.table_needs(portfolio)

    assert needs["eyd-events"].origin == "eyd.md:6: dynamodb.events"
    assert needs["eyd-events"].entities == {"EYD", "Other"}
    assert needs["b-tasks"].origin == "b.md: dynamodb.checklist"  # no lines recorded: the file and key


class RefusingProxy:
    """A loopback HTTP server in front of moto that answers every DynamoDB call as AWS does for a bad key.

    moto's server checks keys only when IAM auth is on, and then answers DynamoDB's JSON
    protocol with an XML error botocore cannot read; AWS answers this JSON.
    """

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler

        from .conftest import serve_loopback

        self.seen: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return None

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                proxy.seen.append(self.headers.get("X-Amz-Target", ""))
                body = json.dumps({"__type": "com.amazon.coral.service#UnrecognizedClientException",
                                   "message": "The security token included in the request is invalid."}).encode()
                self.send_response(400)
                self.send_header("Content-Type", "application/x-amz-json-1.0")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server, self.url = serve_loopback(Handler)

    def close(self) -> None:
        from .conftest import stop_server

        stop_server(self.server)


def test_refused_credentials_name_the_handoff_line(tmp_path, capsys):
    proxy = RefusingProxy()
    try:
        env = live_portfolio(tmp_path, proxy.url, "AWS_ACCESS_KEY_ID=AKIDWRONG\nAWS_SECRET_ACCESS_KEY=wrong\n")
        status = ser.main(["--dry-run", "--env-file", str(env), "--as-of", "2026-11-22"])
    finally:
        proxy.close()
    out, err = capsys.readouterr()
    assert (status, out) == (65, "")
    assert proxy.seen and set(proxy.seen) == {"DynamoDB_20120810.Scan"}  # the request really went out
    lines = [ln.split(": ", 1)[1] for ln in err.splitlines()]
    assert len(lines) == 3, err
    at = origin(lines[0], "dynamodb.events", 6)
    assert lines[0] == (
        f"{at}DynamoDB table eyd-events (Expert Yacht Delivery) is not in the exports (no DYNAMODB_EXPORT_DIR) "
        "and cannot be read live: AWS refused the credentials (UnrecognizedClientException); put its export in "
        "DYNAMODB_EXPORT_DIR/eyd-events/ (an Export to S3, synced) or fix the AWS credentials"
    )
    assert lines[1].startswith(origin(lines[1], "dynamodb.checklist", 7) + "DynamoDB table eyd-checklist")
    assert "AKIDWRONG" not in err


# ---------------------------------------------------------------------------
# Damaged or doubled exports, and the reader on both sides of its limits


def _doubled_manifest(tmp_path: Path, second_key: str) -> Path:
    """An export of 3 items whose manifest lists its one data file twice (the summary agreeing)."""
    import datetime as dt
    import json

    from make_exports import write_export

    folder = write_export(tmp_path / "exports" / "acme-events", ({"pk": {"S": str(i)}} for i in range(3)),
                          export_time=dt.datetime(2026, 11, 21, 9, 0, tzinfo=dt.UTC))
    manifest = folder / "manifest-files.json"
    first = json.loads(manifest.read_text(encoding="utf-8").splitlines()[0])
    key = first["dataFileS3Key"]
    second = {**first, "dataFileS3Key": {"same": key, "dot": key.replace("/data/", "/data/./"),
                                         "bare": key.rsplit("/", 1)[-1]}[second_key]}
    manifest.write_text(json.dumps(first) + "\n" + json.dumps(second) + "\n", encoding="utf-8")
    summary_path = folder / "manifest-summary.json"
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    summary["itemCount"] = 6
    summary_path.write_text(json.dumps(summary), encoding="utf-8")
    return folder


@pytest.mark.parametrize("second_key", ["same", "dot", "bare"])
def test_a_data_file_listed_twice_is_an_error_not_twice_the_items(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], second_key: str
) -> None:
    """Found by an attack: a manifest listing one data file twice (the same key, a ./ path, the bare name) counted its items twice: events doubled, with exit 0."""
    folder = _doubled_manifest(tmp_path, second_key)
    env = portfolio_with(tmp_path, "entity: Acme\nstatus: active\nupdated: 2026-11-18\ndynamodb:\n  events: acme-events\n", exports=True)
    code, out, err = dry_run_of(env, capsys, "ceo")
    assert code == ser.ExitStatus.DATAERR
    assert "events 6" not in out and out == ""
    assert f"{folder.resolve() / 'manifest-files.json'}:2: lists " in err, err


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
    """Found by planting a bug: one item more than the manifest says is found, read as AWS's block of lines or line by line."""
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
    """Found by planting a bug: a line naming the done attribute twice counts as json.loads reads it (the last one wins), line by line."""
    # read line by line (the blank line): json.loads keeps the last of a repeated key
    path = data_file(tmp_path, [TWICE_TRUE, b"", aws_line(3, True)])
    assert ser._read_data_file(path, "done") == reference_counts(path, "done") == (2, 2)


@pytest.mark.parametrize("line", [TWICE_TRUE, TRUE_THEN_FALSE], ids=["true-twice", "true-then-false"])
def test_a_repeated_done_attribute_in_a_regular_block(tmp_path: Path, line: bytes) -> None:
    """Found by planting a bug: a repeated done attribute counts as json.loads reads it in a regular block of AWS's lines too."""
    path = data_file(tmp_path, [line, aws_line(3, True)])
    assert ser._read_data_file(path, "done") == reference_counts(path, "done")


@pytest.mark.parametrize("extra", [0, 1], ids=["exactly-1-MiB", "one-byte-more"])
def test_blank_lines_among_items_are_allowed_up_to_1_mib(tmp_path: Path, extra: int) -> None:
    """Found by planting a bug: blank lines among items are allowed up to exactly 1 MiB and refused one byte past it."""
    # one read holds it all, items and blank lines together: counted line by line
    half = b" " * ((ser.MAX_BLANK_BYTES >> 1) - 1)  # with its newline, half of the allowance
    path = data_file(tmp_path, [aws_line(0, True), half, aws_line(1, False), half + b" " * extra, aws_line(2, True)])
    if extra:
        with pytest.raises(ser.InputError, match=r":4: more than 1 MiB of blank lines \(AWS writes none\)"):
            ser._read_data_file(path, "done", block_size=4 << 20)
    else:
        assert ser._read_data_file(path, "done", block_size=4 << 20) == (3, 2)


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
    """Damaged exports (nested too deep, a key not text, a count not whole, not UTF-8, a path out of the export) are one line each, never a traceback."""
    env = portfolio_with(tmp_path, FRONT + "dynamodb: {events: acme-events}\n", exports=True)
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
    code, out, err = dry_run_of(env, capsys)
    assert code == 65 and out == ""
    assert message in err
    assert "Traceback" not in err


def test_newest_export_with_and_without_a_time_zone(tmp_path: Path) -> None:
    """The newest export is found when one export's time has a zone and the other's has none (taken as UTC)."""
    table = tmp_path / "t-1"
    old = write_export(table, ({"pk": {"S": str(i)}} for i in range(2)), export_time=T0)
    new = write_export(table, ({"pk": {"S": str(i)}} for i in range(5)), export_time=T0 + dt.timedelta(hours=1))
    summary = json.loads((new / "manifest-summary.json").read_text())
    summary["exportTime"] = "2026-11-21T10:00:00"  # no zone: taken as UTC
    (new / "manifest-summary.json").write_text(json.dumps(summary))
    assert old != new
    assert ser.read_export(table).items == 5


def test_live_scan_follows_every_page(moto: str) -> None:
    """A live Scan follows every page of every segment: 53 items in pages of 5 over 2 segments."""
    client = aws("dynamodb", moto)
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
