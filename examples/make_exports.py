"""Regenerate the sample DynamoDB exports in examples/dynamodb/ from fixed seeds.

Each table gets what an `aws s3 sync` of a DynamoDB "Export to S3" prefix brings
down, in DYNAMODB_JSON format, so the dry run and the tests read exactly what they
would read in production:

    <table>/AWSDynamoDB/<ExportId>/_started
    <table>/AWSDynamoDB/<ExportId>/manifest-summary.json  (and .md5)
    <table>/AWSDynamoDB/<ExportId>/manifest-files.json    (and .md5)
    <table>/AWSDynamoDB/<ExportId>/data/<name>.json.gz

Run it from anywhere: `python examples/make_exports.py`. The output is the same
byte for byte on every run (fixed seeds and timestamps, gzip mtime 0).
`write_export` streams its items, so tests and benchmarks can import it to write
exports of any size.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import itertools
import json
import random
import shutil
import string
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

REGION = "us-west-2"
ACCOUNT = "123456789012"
BUCKET = "portfolio-exports"
EXPORT_DURATION = timedelta(minutes=6, seconds=12)
# AWS names data files with 26 characters of lowercase base32.
NAME_ALPHABET = string.ascii_lowercase + "234567"

OUT_DIR = Path(__file__).resolve().parent / "dynamodb"

_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


# --- the writer ---------------------------------------------------------------


def export_id_for(table: str, export_time: datetime) -> str:
    """Return a reproducible ExportId like AWS's: 14-digit epoch ms, dash, 8 hex."""
    millis = int(_utc(export_time).timestamp() * 1000)
    suffix = hashlib.sha256(f"{table}@{millis}".encode()).hexdigest()[:8]
    return f"{millis:014d}-{suffix}"


def write_export(
    table_dir: Path,
    items: Iterable[dict],
    *,
    export_time: datetime,
    export_id: str | None = None,
    items_per_file: int = 1000,
    empty_files: int = 0,
    table: str | None = None,
) -> Path:
    """Write one complete DYNAMODB_JSON export of `items`; return the export folder."""
    if items_per_file < 1:
        raise ValueError(f"items_per_file must be at least 1, not {items_per_file}")
    table = table or table_dir.name
    export_time = _utc(export_time)
    export_id = export_id or export_id_for(table, export_time)
    export_dir = _start_export(table_dir, export_id)
    prefix = f"{table}/AWSDynamoDB/{export_id}"
    names = _data_file_names(table, export_id)
    manifest = []
    total_items = billed_bytes = 0

    def add_file(file_items: Iterable[dict]) -> None:
        """Write the next data file and list it in the manifest."""
        nonlocal total_items, billed_bytes
        name = next(names)
        count, size, md5 = _write_data_file(export_dir / "data" / name, file_items)
        total_items += count
        billed_bytes += size
        entry = {
            "itemCount": count,
            "md5Checksum": base64.b64encode(md5).decode("ascii"),
            "etag": md5.hex(),
            "dataFileS3Key": f"{prefix}/data/{name}",
        }
        manifest.append(_compact(entry) + "\n")

    # Items go straight from the iterator into the gzip files: never all in memory.
    # Empty files (AWS writes one per empty partition) go between the first ones.
    empties_left = empty_files
    remaining = iter(items)
    for first in remaining:
        rest = itertools.islice(remaining, items_per_file - 1)
        add_file(itertools.chain((first,), rest))
        if empties_left:
            add_file(())
            empties_left -= 1
    for _ in range(empties_left):
        add_file(())

    _write_with_md5(export_dir / "manifest-files.json", "".join(manifest))
    table_arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}"
    summary = {
        "version": "2020-06-30",
        "exportArn": f"{table_arn}/export/{export_id}",
        "startTime": _aws_time(export_time),
        "endTime": _aws_time(export_time + EXPORT_DURATION),
        "tableArn": table_arn,
        "tableId": str(uuid.uuid5(uuid.NAMESPACE_URL, table_arn)),
        "exportTime": _aws_time(export_time),
        "s3Bucket": BUCKET,
        "s3Prefix": table,
        "s3SseAlgorithm": "AES256",
        "s3SseKmsKeyId": None,
        "manifestFilesS3Key": f"{prefix}/manifest-files.json",
        "billedSizeBytes": billed_bytes,
        "itemCount": total_items,
        "outputFormat": "DYNAMODB_JSON",
        "exportType": "FULL_EXPORT",
    }
    _write_with_md5(export_dir / "manifest-summary.json", _compact(summary))
    return export_dir


def write_unfinished_export(
    table_dir: Path, items: Iterable[dict], *, export_time: datetime
) -> Path:
    """Write an export still running when synced: `_started`, data, no manifests."""
    export_id = export_id_for(table_dir.name, export_time)
    export_dir = _start_export(table_dir, export_id)
    name = next(_data_file_names(table_dir.name, export_id))
    _write_data_file(export_dir / "data" / name, items)
    return export_dir


def _start_export(table_dir: Path, export_id: str) -> Path:
    """Create an export folder: `data/` and the empty `_started` AWS writes first."""
    export_dir = table_dir / "AWSDynamoDB" / export_id
    if export_dir.exists():
        raise FileExistsError(f"{export_dir} already exists")
    (export_dir / "data").mkdir(parents=True)
    (export_dir / "_started").write_bytes(b"")
    return export_dir


def _write_data_file(path: Path, items: Iterable[dict]) -> tuple[int, int, bytes]:
    """Gzip one `{"Item": ...}` line per item; return (items, raw bytes, .gz md5)."""
    count = size = 0
    # filename="" and mtime=0 keep the gzip header, and so the bytes, reproducible;
    # the buffer saves a compressor call per line.
    with (
        path.open("wb") as raw,
        gzip.GzipFile(
            fileobj=raw, mode="wb", compresslevel=6, filename="", mtime=0
        ) as gz,
        io.BufferedWriter(gz, buffer_size=1 << 16) as out,
    ):
        for item in items:
            line = (_compact({"Item": item}) + "\n").encode("utf-8")
            out.write(line)
            count += 1
            size += len(line)
    md5 = hashlib.md5()
    with path.open("rb") as written:
        for block in iter(lambda: written.read(1 << 16), b""):
            md5.update(block)
    return count, size, md5.digest()


def _write_with_md5(path: Path, text: str) -> None:
    """Write a manifest and, next to it, the `.md5` file holding its hex MD5."""
    data = text.encode("utf-8")
    path.write_bytes(data)
    path.with_suffix(".md5").write_text(hashlib.md5(data).hexdigest(), encoding="ascii")


def _data_file_names(table: str, export_id: str) -> Iterator[str]:
    """Yield the random-looking but reproducible data file names of one export."""
    rng = random.Random(f"names:{table}:{export_id}")
    while True:
        yield "".join(rng.choices(NAME_ALPHABET, k=26)) + ".json.gz"


def _compact(obj: object) -> str:
    """Return obj as JSON without spaces, as AWS writes it."""
    return _JSON.encode(obj)


def _utc(moment: datetime) -> datetime:
    """Return moment in UTC, taking a naive datetime to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _aws_time(moment: datetime) -> str:
    """Format a UTC datetime as AWS's manifests do: 2026-11-21T09:00:00.000Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# --- typed attribute values -----------------------------------------------------


def s(value: str) -> dict:
    """Return a DynamoDB string attribute."""
    return {"S": value}


def n(value: float) -> dict:
    """Return a DynamoDB number attribute: a decimal string, normalized as AWS does."""
    if isinstance(value, int):
        return {"N": str(value)}
    return {"N": format(Decimal(str(value)).normalize(), "f")}


def b(value: bytes) -> dict:
    """Return a DynamoDB binary attribute (base64)."""
    return {"B": base64.b64encode(value).decode("ascii")}


# --- the sample tables ----------------------------------------------------------

BOOKING_EVENTS = ["page_view", "quote_requested", "booking_started", "booking_done"]
JOB_EVENTS = ["call_received", "quote_sent", "job_booked", "job_done", "review_left"]
TAGS = ["mobile", "desktop", "returning", "promo", "utm", "ios"]
PAGES = ["/", "/book", "/pricing", "/contact", "/faq"]
FIRST_NAMES = ["Ana", "Ben", "Carla", "José", "Elena", "Frank", "Zoë", "Hiro"]
MAIL_DOMAINS = ["gmail.com", "yahoo.com", "outlook.com", "icloud.com", "sdyc.org"]
JADA_TASKS = [
    "Check bilge pumps",
    "Inspect standing rigging",
    "Test VHF radio",
    "Count life jackets",
    "Check fuel level",
    "Check engine oil",
    "Inspect through-hulls",
    "Stow galley",
    "Check navigation lights",
    "Brief guests on safety",
    "Check first-aid kit",
    "Test horn",
    "Check fire extinguishers",
    "Inspect dinghy",
    "Log engine hours",
    "Check head pump-out",
]
DELIVERY_TASKS = [
    "Verify vessel documentation",
    "File float plan",
    "Check liferaft certificate",
    "Test EPIRB",
    "Inspect steering gear",
    "Change fuel filters",
    "Check watermaker",
    "Provision crew food",
    "Rig jacklines and tethers",
    "Download weather routing",
    "Clear customs paperwork",
    "Test AIS",
]
TRUCK_TASKS = [
    "Tire pressure",
    "Brake lights",
    "Hydraulic lift fluid",
    "Tarp and straps",
    "Dump fee card",
    "Fuel above half",
    "Gloves and PPE",
    "Dolly and ramps",
    "Fire extinguisher",
    "Load ticket book",
    "Mirrors adjusted",
    "Backup alarm",
    "Registration in cab",
]


def events(seed: str, count: int, kinds: list[str]) -> Iterator[dict]:
    """Yield `count` event items using every attribute type, some nested."""
    rng = random.Random(f"events:{seed}")
    start = datetime(2026, 5, 1, tzinfo=UTC)
    for i in range(count):
        at = start + timedelta(seconds=rng.randrange(204 * 86400))
        item = {
            "pk": s(f"EVENT#{i:06d}"),
            "sk": s(at.strftime("%Y-%m-%dT%H:%M:%SZ")),
            "type": s(rng.choice(kinds)),
            "ts": n(int(at.timestamp())),
            "session": s(f"{rng.getrandbits(64):016x}"),
        }
        if rng.random() < 0.4:
            item["amount"] = n(round(rng.uniform(20, 2500), 2))
        if rng.random() < 0.3:
            item["tags"] = {"SS": sorted(rng.sample(TAGS, 2))}
        if rng.random() < 0.2:
            item["scores"] = {"NS": [str(x) for x in rng.sample(range(1, 100), 3)]}
        if rng.random() < 0.25:
            referrer = rng.choice([s("google"), s("instagram"), {"NULL": True}])
            steps = [n(step) for step in range(rng.randint(1, 4))]
            item["context"] = {
                "M": {
                    "page": s(rng.choice(PAGES)),
                    "referrer": referrer,
                    "steps": {"L": steps},
                    "consent": {"BOOL": rng.random() < 0.8},
                }
            }
        if rng.random() < 0.1:
            item["fingerprint"] = b(rng.randbytes(12))
        if rng.random() < 0.05:
            # The trailing byte keeps the set's members distinct, as DynamoDB requires.
            parts = [rng.randbytes(4) + bytes([k]) for k in range(2)]
            item["chunks"] = {"BS": [b(part)["B"] for part in parts]}
        if rng.random() < 0.05:
            item["error"] = {"NULL": True}
        yield item


def users(seed: str, count: int) -> Iterator[dict]:
    """Yield `count` user items with sets, maps and a binary avatar hash."""
    rng = random.Random(f"users:{seed}")
    since = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp())
    for i in range(count):
        roles = ["customer"] if rng.random() < 0.9 else ["customer", "staff"]
        prefs = {
            "newsletter": {"BOOL": rng.random() < 0.6},
            "locale": s(rng.choice(["en-US", "es-MX"])),
        }
        item = {
            "pk": s(f"USER#{i:05d}"),
            "name": s(rng.choice(FIRST_NAMES)),
            "email": s(f"guest{i}@{rng.choice(MAIL_DOMAINS)}"),
            "created": n(since + rng.randrange(690 * 86400)),
            "roles": {"SS": roles},
            "prefs": {"M": prefs},
            "bookings": n(rng.randint(0, 6)),
        }
        if rng.random() < 0.5:
            item["avatar_md5"] = b(rng.randbytes(16))
        if rng.random() < 0.15:
            item["phone"] = {"NULL": True}
        yield item


def checklist(
    tasks: list[str], count: int, attr: str, done: set[int], unset: set[int]
) -> Iterator[dict]:
    """Yield `count` checklist items: `attr` true in `done`, missing in `unset`."""
    for i in range(count):
        title = tasks[i % len(tasks)]
        if i >= len(tasks):
            title += f" (trip {i // len(tasks) + 1})"
        item = {"pk": s(f"TASK#{i + 1:03d}"), "title": s(title), "order": n(i + 1)}
        if i not in unset:
            item[attr] = {"BOOL": i in done}
        if i % 7 == 3:
            signed = {"M": {"by": s("crew"), "photo": {"NULL": True}}}
            item["notes"] = {"L": [s("checked at the dock"), signed]}
        yield item


NOV_14 = datetime(2026, 11, 14, 9, 0, tzinfo=UTC)
NOV_21 = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
NOV_22 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)

# Keep in step with the `dynamodb:` keys in examples/handoffs/**/*.md. One row per
# complete export: (table, export time, items per file, empty files, items).
EXPORTS: list[tuple[str, datetime, int, int, Callable[[], Iterator[dict]]]] = [
    # JADA: events, and checklist in the short form (attribute `done`).
    ("jada-events", NOV_21, 400, 1, lambda: events("jada", 1184, BOOKING_EVENTS)),
    (
        "jada-checklist",
        NOV_21,
        20,
        1,
        lambda: checklist(JADA_TASKS, 32, "done", {0, 1, 3, 5, 6, 9, 12, 13}, {7, 20}),
    ),
    # QueenofSanDiego: events (an older export too) and users.
    ("qosd-events", NOV_14, 800, 1, lambda: events("qosd-1", 2287, BOOKING_EVENTS)),
    ("qosd-events", NOV_21, 800, 2, lambda: events("qosd-2", 2412, BOOKING_EVENTS)),
    ("qosd-users", NOV_21, 100, 1, lambda: users("qosd", 183)),
    # Expert Yacht Delivery: events, users, checklist {done: completed}.
    ("eyd-events", NOV_21, 250, 1, lambda: events("eyd", 646, BOOKING_EVENTS)),
    ("eyd-users", NOV_21, 50, 0, lambda: users("eyd", 74)),
    (
        "eyd-checklist",
        NOV_21,
        20,
        2,
        lambda: checklist(DELIVERY_TASKS, 48, "completed", set(range(30)), {33, 41}),
    ),
    # QuickDumpNow: events, checklist {done: completed}.
    ("qdn-events", NOV_21, 600, 1, lambda: events("qdn", 1857, JOB_EVENTS)),
    (
        "qdn-checklist",
        NOV_21,
        13,
        1,
        lambda: checklist(TRUCK_TASKS, 26, "completed", set(range(0, 26, 2)), {5, 18}),
    ),
]


def main() -> None:
    """Wipe examples/dynamodb/ and regenerate every sample export."""
    if OUT_DIR.exists():
        shutil.rmtree(OUT_DIR)
    for table, export_time, per_file, empty, make_items in EXPORTS:
        write_export(
            OUT_DIR / table,
            make_items(),
            export_time=export_time,
            items_per_file=per_file,
            empty_files=empty,
        )
    # An export still running when the bucket was synced: readers must skip it.
    unfinished = events("qosd-3", 300, BOOKING_EVENTS)
    write_unfinished_export(OUT_DIR / "qosd-events", unfinished, export_time=NOV_22)


if __name__ == "__main__":
    main()
