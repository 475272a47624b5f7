"""The export reader's counts equal a plain json.loads of every line, on generated exports.

The reader counts most lines without parsing them (whole blocks with `bytes.count`, the
done attribute by its bytes). This compares it, for several checklist attribute names,
with the plain reference: `json.loads` of every non-blank line and `decode_attribute` of
the item's attribute, over seeded random data files holding what AWS writes (compact
lines, nested maps and lists, sets, binary, unicode) and what it could be written as
by any JSON writer (escaped names and values, spaces around colons, blank lines).
"""

from __future__ import annotations

import base64
import functools
import gzip
import json
import random
from pathlib import Path

import pytest

import send_exec_reports as ser

from .conftest import aws, put_in_moto

NAMES = [
    "done",
    "completed",
    "terminé",
    'say "done"',
    "back\\slash",
    "✅ fini 🎉",
    "tab\there",
    "true",  # only letters JSON also has outside strings
    ":{",
    "Item",
    "M",
]

TEXTS = ["Check bilge pumps", "é", "🎉", "\u2028", "\n", "\t", '"', "\\", "M", '"M"', "true", "BOOL", "{}", ":", " "]


def text(rng: random.Random, name: str) -> str:
    """A string value: plain words, awkward characters, and the name itself in several guises."""
    pieces = [*TEXTS, name, f'"{name}":{{"BOOL":true}}', f'"{name}"', name.upper()]
    return "".join(rng.choice(pieces) for _ in range(rng.randint(0, 4)))


def value(rng: random.Random, name: str, depth: int) -> dict:
    """A random typed attribute value, nesting maps and lists up to `depth`."""
    kinds = ["S", "N", "B", "BOOL", "NULL", "SS", "NS", "BS"] + (["L", "M", "M"] if depth > 0 else [])
    kind = rng.choice(kinds)
    if kind == "S":
        return {"S": text(rng, name)}
    if kind == "N":
        return {"N": rng.choice(["0", "-7", "12.50", "1E+3", str(rng.randint(0, 10**12))])}
    if kind == "B":
        return {"B": base64.b64encode(rng.randbytes(rng.randint(0, 9))).decode()}
    if kind == "BOOL":
        return {"BOOL": rng.random() < 0.5}
    if kind == "NULL":
        return {"NULL": True}
    if kind == "SS":
        return {"SS": sorted({text(rng, name) + str(i) for i in range(rng.randint(1, 3))})}
    if kind == "NS":
        return {"NS": [str(i) for i in rng.sample(range(100), rng.randint(1, 3))]}
    if kind == "BS":
        return {"BS": [base64.b64encode(bytes([i]) + rng.randbytes(3)).decode() for i in range(rng.randint(1, 2))]}
    if kind == "L":
        return {"L": [value(rng, name, depth - 1) for _ in range(rng.randint(0, 3))]}
    entries = {rng.choice(["by", "note", name, name + "x", "M", "Item"]): value(rng, name, depth - 1)
               for _ in range(rng.randint(0, 3))}
    if rng.random() < 0.3:
        entries[name] = {"BOOL": True}  # the done attribute nested: it does not count
    return {"M": entries}


def item(rng: random.Random, name: str, i: int, plain: bool = False) -> dict:
    """A random item; its top-level done attribute is true, false, NULL, missing or only nested.

    A plain item is what a simple checklist table holds: no nesting, no character to escape.
    """
    attrs: dict = {"pk": {"S": f"task#{i:05d}"}}
    if plain or rng.random() < 0.6:  # most items are plain, as most real items are
        attrs["order"] = {"N": str(i)}
        if rng.random() < 0.5:
            attrs["title"] = {"S": rng.choice(["Check bilge pumps", "Vérifier la pompe", "🎉 M true BOOL"])}
    else:
        for _ in range(rng.randint(1, 4)):
            attrs[rng.choice(["title", "tags", "meta", "notes", "blob", "Done", name + "s", "é" + name])] = value(
                rng, name, rng.randint(0, 3))
    kinds = ["true", "false", "null", "missing", "nested"]  # another type is refused: see the planted test below
    kind = rng.choices(kinds, [40, 30, 5, 10, 0 if plain else 10])[0]
    done = {"true": {"BOOL": True}, "false": {"BOOL": False}, "null": {"NULL": True}, "missing": None,
            "nested": None}[kind]
    if kind == "nested":
        attrs["sub"] = {"M": {name: {"BOOL": True}}} if rng.random() < 0.5 else {"L": [{"M": {name: {"BOOL": True}}}]}
    if done is not None:
        # the done attribute anywhere among the others
        keys = list(attrs)
        at = rng.randint(0, len(keys))
        attrs = {**{k: attrs[k] for k in keys[:at]}, name: done, **{k: attrs[k] for k in keys[at:]}}
    return attrs


@functools.cache
def json_char(ch: str) -> str:
    """One character as json.dumps writes it inside a string (kept: the corpora call this millions of times)."""
    return json.dumps(ch, ensure_ascii=False)[1:-1]


def encode_str(s: str, rng: random.Random, escape: float) -> str:
    """A JSON string; each character \\u-escaped with probability `escape` (surrogate pairs beyond the BMP)."""
    out = ['"']
    for ch in s:
        if rng.random() < escape:
            code = ord(ch)
            if code > 0xFFFF:
                code -= 0x10000
                out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04X}")
            else:
                out.append(f"\\u{code:04x}")
        else:
            out.append(json_char(ch))
    out.append('"')
    return "".join(out)


def dump(obj: object, rng: random.Random, style: dict) -> str:
    """JSON text of obj in one writer's style: separators and how much is escaped."""
    if isinstance(obj, dict):
        return "{" + style["comma"].join(
            encode_str(k, rng, style["key_escape"]) + style["colon"] + dump(v, rng, style) for k, v in obj.items()
        ) + "}"
    if isinstance(obj, list):
        return "[" + style["comma"].join(dump(v, rng, style) for v in obj) + "]"
    if isinstance(obj, bool):
        return "true" if obj else "false"
    assert isinstance(obj, str)
    return encode_str(obj, rng, style["value_escape"])


AWS_STYLE = {"colon": ":", "comma": ",", "key_escape": 0.0, "value_escape": 0.0}
OTHER_STYLES = [
    {**AWS_STYLE, "key_escape": 0.3},  # "d\u006fne"
    {**AWS_STYLE, "value_escape": 0.2},
    {**AWS_STYLE, "colon": ": ", "comma": ", "},  # spaces after colons
    {**AWS_STYLE, "colon": " :"},  # "done" :
    {**AWS_STYLE, "colon": " : ", "key_escape": 1.0, "value_escape": 1.0},  # json.dumps' ensure_ascii and more
]


def data_file_lines(rng: random.Random, name: str, count: int, start: int, clean: bool) -> list[str]:
    """The lines of one data file: mostly AWS's compact form, some in other writers' styles, a few blank.

    A clean file holds only plain items in AWS's form, but for one odd line in its middle.
    """
    lines = []
    for i in range(start, start + count):
        odd = i == start + count // 2
        plain = clean and not odd
        style = AWS_STYLE if plain or rng.random() < 0.85 else rng.choice(OTHER_STYLES)
        doc = dump(item(rng, name, i, plain), rng, style)
        lines.append("{" + encode_str("Item", rng, style["key_escape"]) + style["colon"] + doc + "}")
        if not plain:
            lines[-1] += rng.choice(["", "", "", "", "", "", " ", "\r"])
            if rng.random() < 0.01:
                lines.append(rng.choice(["", " ", "\t\r"]))
    return lines


@functools.cache
def corpus(name: str, seed: int, files: int, lines: int) -> tuple[bytes, ...]:
    """The gzip data files of generated lines, some empty (made once a process: a test that plants
    values in copies of one corpus wrote the same seeded lines again for each copy)."""
    rng = random.Random(f"{seed}:{name}")
    made = []
    start = 0
    for k in range(files):
        count = 0 if k in (1, 5) else lines // (files - 2)
        text_ = "".join(line + "\n" for line in data_file_lines(rng, name, count, start, clean=k in (0, 6)))
        if k == 3 and text_:
            text_ = text_[:-1]  # the last line without its newline
        start += count
        made.append(gzip.compress(text_.encode("utf-8"), mtime=0))
    return tuple(made)


def write_corpus(folder: Path, name: str, seed: int, files: int = 8, lines: int = 3000) -> list[Path]:
    """The corpus's data files written to folder; return their paths."""
    folder.mkdir(parents=True)
    paths = []
    for k, data in enumerate(corpus(name, seed, files, lines)):
        path = folder / f"part-{k}.json.gz"
        path.write_bytes(data)
        paths.append(path)
    return paths


def reference(path: Path, name: str) -> tuple[int, int]:
    """(items, done) by the plain path: json.loads of every non-blank line, decode_attribute of the name."""
    items = done = 0
    for line in gzip.decompress(path.read_bytes()).split(b"\n"):
        if not line.strip(b" \t\r"):
            continue
        record = json.loads(line)["Item"]
        items += 1
        value = ser.decode_attribute(record[name]) if name in record else None
        assert value is None or isinstance(value, bool)  # another type is refused: no count to compare
        done += value is True
    return items, done


@pytest.mark.parametrize("name", NAMES)
def test_fast_reader_counts_equal_json_loads(tmp_path: Path, name: str) -> None:
    paths = write_corpus(tmp_path / "data", name, seed=20261122)
    expected = [reference(p, name) for p in paths]
    assert sum(d for _, d in expected) > 100  # the corpus really has done items to find
    assert expected[1] == expected[5] == (0, 0)  # and empty files
    for block_size in (ser.EXPORT_BLOCK_BYTES, 4096, 700):  # blocks end mid-line, often
        got = [ser._read_data_file(p, name, block_size=block_size) for p in paths]
        assert got == expected, f"block size {block_size}"
    # Counting items alone (the events and users tables) gives the same items.
    assert [ser._read_data_file(p, None)[0] for p in paths] == [i for i, _ in expected]


NOT_BOOLEAN = [{"N": "1"}, {"S": "true"}, {"SS": ["true"]}, {"L": [{"BOOL": True}]}, {"M": {"v": {"BOOL": True}}}]


def plant(path: Path, at: int, name: str, rng: random.Random) -> str:
    """Rewrite line `at` (0-based) of a data file as an item whose done attribute is of another type, in a
    random writer's style; return that type's tag."""
    wrong = rng.choice(NOT_BOOLEAN)
    style = rng.choice([AWS_STYLE, AWS_STYLE, *OTHER_STYLES])
    lines = gzip.decompress(path.read_bytes()).split(b"\n")
    item = {"pk": {"S": "planted"}, name: wrong, "order": {"N": "1"}}
    lines[at] = ("{" + encode_str("Item", rng, style["key_escape"]) + style["colon"] + dump(item, rng, style)
                 + "}").encode("utf-8")
    path.write_bytes(gzip.compress(b"\n".join(lines), mtime=0))
    return next(iter(wrong))


@pytest.mark.parametrize("name", NAMES)
def test_a_done_value_of_another_type_is_refused_at_its_line_on_every_path(tmp_path: Path, name: str) -> None:
    """Whole blocks counted by bytes, a line at a time, or parsed: a done value that is no boolean is found at its
    line (first, middle or last, in AWS's form or another writer's) whatever the block size, never counted."""
    rng = random.Random(f"plant:{name}")
    for k in (0, 2, 3, 6):  # clean files (blocks counted whole), a mixed one, one whose last line has no newline
        paths = write_corpus(tmp_path / f"{k}", name, seed=20261208, files=8, lines=600)
        text_ = gzip.decompress(paths[k].read_bytes()).split(b"\n")
        full = [i for i, line in enumerate(text_) if line.strip(b" \t\r")]
        for at in (full[0], full[len(full) // 2], full[-1]):
            original = paths[k].read_bytes()
            tag = plant(paths[k], at, name, rng)
            for block_size in (ser.EXPORT_BLOCK_BYTES, 4096, 700):
                with pytest.raises(ser.InputError) as exc:
                    ser._read_data_file(paths[k], name, block_size=block_size)
                assert str(exc.value).startswith(
                    f"{paths[k]}:{at + 1}: done attribute {name!r} is {ser.DYNAMODB_TYPES[tag]}, not a boolean, "
                ), (k, at, block_size)
            assert ser._read_data_file(paths[k], None)[0] == len(full)  # counting items alone reads no attribute
            paths[k].write_bytes(original)


def plain_items(paths: list[Path]) -> list[dict]:
    """Every item of the data files, by json.loads of every non-blank line."""
    return [json.loads(line)["Item"] for path in paths for line in gzip.decompress(path.read_bytes()).split(b"\n")
            if line.strip(b" \t\r")]


def reference_names(items: list[dict], attr: str) -> list[str] | None:
    """By the plain path: None when some item holds attr at its top level, else the names of the first items."""
    if any(attr in item for item in items):
        return None
    return sorted({name for item in items[:ser.ATTRIBUTE_SAMPLE] for name in item})


@pytest.mark.parametrize("name", NAMES)
def test_which_attributes_items_hold_equals_json_loads(tmp_path: Path, name: str) -> None:
    """When no item is done, whether any holds the attribute (and which names they hold) is json.loads' answer."""
    paths = write_corpus(tmp_path / "data", name, seed=20261207, files=6, lines=1200)
    items = plain_items(paths)
    absent = 0
    for attr in (name, name + "s", "é" + name, "Done", "sub", f"absent {name}", 'x"y'):
        expected = reference_names(items, attr)
        absent += expected is not None
        assert ser._export_attribute_names(paths, attr) == expected, attr
    assert absent >= 2  # the corpus both holds and lacks attributes asked for


@pytest.mark.parametrize("name", ["done", "terminé", "✅ fini 🎉"])
def test_whole_export_counts_equal_json_loads(tmp_path: Path, name: str) -> None:
    """The same through read_export: manifests, the newest export, the itemCount checks."""
    export = tmp_path / "tasks" / "AWSDynamoDB" / "01700000000000-abcdef12"
    paths = write_corpus(export / "data", name, seed=7, files=6, lines=1500)
    expected = [reference(p, name) for p in paths]
    manifest = "".join(
        json.dumps({"itemCount": items, "dataFileS3Key": f"tasks/AWSDynamoDB/{export.name}/data/{p.name}"}) + "\n"
        for p, (items, _) in zip(paths, expected, strict=True)
    )
    (export / "manifest-files.json").write_text(manifest)
    summary = {"exportTime": "2026-11-21T09:00:00.000Z", "itemCount": sum(i for i, _ in expected),
               "outputFormat": "DYNAMODB_JSON", "exportType": "FULL_EXPORT"}
    (export / "manifest-summary.json").write_text(json.dumps(summary))

    count = ser.read_export(tmp_path / "tasks", done_attr=name)

    assert (count.items, count.done) == (sum(i for i, _ in expected), sum(d for _, d in expected))
    assert count.done_absent is None
    absent = ser.read_export(tmp_path / "tasks", done_attr=f"not {name}")
    assert (absent.done, absent.done_absent) == (0, reference_names(plain_items(paths), f"not {name}"))


def test_exports_in_s3_count_as_the_synced_folder(tmp_path: Path, moto: str) -> None:
    """The same generated exports read from moto's S3 (streamed, listed two keys a page) and from the folder."""
    client = aws("s3", moto)
    client.create_bucket(Bucket="exports", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    names = ["done", "✅ fini 🎉"]
    for table, name in zip(("tasks", "jobs"), names, strict=True):
        for export_id, when, seed in (("01700000000000-aaaa0001", "2026-11-20T09:00:00Z", 1),
                                      ("01700000000000-bbbb0002", "2026-11-21T09:00:00Z", 2)):
            export = tmp_path / table / "AWSDynamoDB" / export_id
            paths = write_corpus(export / "data", name, seed=seed, files=5, lines=600)
            counts = [reference(p, name)[0] for p in paths]
            (export / "manifest-files.json").write_text("".join(
                json.dumps({"itemCount": n, "dataFileS3Key": f"ddb/{table}/AWSDynamoDB/{export_id}/data/{p.name}"})
                + "\n" for p, n in zip(paths, counts, strict=True)))
            (export / "manifest-summary.json").write_text(json.dumps(
                {"exportTime": when, "itemCount": sum(counts), "outputFormat": "DYNAMODB_JSON"}))
    for path in sorted(tmp_path.rglob("*")):
        if path.is_file():
            put_in_moto("exports", f"ddb/{path.relative_to(tmp_path).as_posix()}", path.read_bytes())
    root = ser.S3Input(client, ser.S3Url("exports", "ddb"), "DYNAMODB_EXPORT_DIR", page_size=2).root()
    for table, name in zip(("tasks", "jobs"), names, strict=True):
        folder = ser.read_export(tmp_path / table, done_attr=name)
        in_s3 = ser.read_export(root / table, done_attr=name)
        assert (in_s3.items, in_s3.done, in_s3.exported) == (folder.items, folder.done, folder.exported)
        assert folder.done and folder.exported.day == 21  # the newer export, with done items to find


def aws_block(name: str, done: list[bool | None]) -> bytes:
    """Compact lines as AWS writes them, the done attribute true, false or missing."""
    lines = []
    for i, flag in enumerate(done):
        attrs = {"pk": {"S": f"t{i}"}, "title": {"S": "Vérifier la pompe de cale"}}
        if flag is not None:
            attrs[name] = {"BOOL": flag}
        lines.append(json.dumps({"Item": attrs}, separators=(",", ":"), ensure_ascii=False) + "\n")
    return "".join(lines).encode("utf-8")


@pytest.mark.parametrize("name", ["done", "completed", "terminé", "✅ fini 🎉"])
def test_aws_blocks_are_counted_without_parsing(name: str) -> None:
    """The shortcut is really taken for what AWS writes, so the differential tests above test it."""
    block = aws_block(name, [True, False, None, True] * 50)
    patterns = ser._done_patterns(name)
    assert ser._done_without_parsing(block, patterns, direct=True) == 100


@pytest.mark.parametrize(
    ("line", "why"),
    [
        pytest.param(b'{"Item":{"m":{"M":{"done":{"BOOL":true}}}}}', "a nested map", id="nested-map"),
        pytest.param(b'{"Item":{"t":{"S":"\\"done\\":{\\"BOOL\\":true}"}}}', "a backslash", id="escaped-value"),
        pytest.param(b'{"Item":{"done" :{"BOOL":true}}}', "a space before the colon", id="space-before-colon"),
        pytest.param(b'{"Item":{"done": {"BOOL": true}}}', "spaces after the colons", id="spaces-after-colons"),
        pytest.param(b'{"Item":{"t":{"S":"done"}}}', "the name as a value", id="name-as-value"),
        pytest.param(b'{"Item":{"done":{"S":"true"}}}', "another type", id="other-type"),
    ],
)
def test_lines_the_shortcut_cannot_decide_are_parsed(line: bytes, why: str) -> None:
    assert ser._done_without_parsing(line, ser._done_patterns("done"), direct=True) is None, why


def test_non_ascii_escaped_and_spaced_names_count(tmp_path: Path) -> None:
    """The three ways the old shortcut missed done items: all counted now."""
    lines = [
        '{"Item":{"pk":{"S":"1"},"terminé":{"BOOL":true}}}',
        '{"Item":{"pk":{"S":"2"},"termin\\u00e9":{"BOOL":true}}}',
        '{"Item":{"pk":{"S":"3"},"terminé" :{"BOOL":true}}}',
        '{"Item":{"pk":{"S":"4"},"terminé":{"BOOL":false}}}',
        '{"Item":{"pk":{"S":"5"},"d\\u006fne":{"BOOL":true}}}',
        '{"Item":{"pk":{"S":"6"},"done" :{"BOOL":true}}}',
        '{"Item":{"pk":{"S":"7"},"done":{"BOOL":true}}}',
    ]
    path = tmp_path / "d.json.gz"
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode("utf-8")))
    assert ser._read_data_file(path, "terminé") == (7, 3)
    assert ser._read_data_file(path, "done") == (7, 3)

