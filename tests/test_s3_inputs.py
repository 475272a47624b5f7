"""Inputs in S3 (HANDOFF_DIR, DYNAMODB_EXPORT_DIR = s3://bucket/prefix), against moto's server.

Each case puts the same files in a folder and under a prefix and compares what the
readers make of both: the same handoffs, counts and skipped files, and the same error
lines, each file named by its s3://bucket/key instead of its path.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from pathlib import Path

import boto3
import pytest
from make_exports import write_export

import send_exec_reports as ser

from .conftest import EXAMPLES, install_copy, put_in_moto, run_script
from .test_exports import ITEM_LINE, T0, export_with_data_file, items_n

BUCKET = "inputs"
HEAD = "entity: Acme\nstatus: active\nupdated: 2026-11-18\n"


def s3_client(endpoint: str):
    """A boto3 S3 client on moto's server, with test credentials."""
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-west-2", aws_access_key_id="testing",
                        aws_secret_access_key="testing")


@pytest.fixture
def client(moto: str):
    """An S3 client and an empty bucket BUCKET."""
    c = s3_client(moto)
    c.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    return c


def upload(folder: Path, prefix: str) -> None:
    """Put every file under folder at prefix/<its relative path> in BUCKET, as `aws s3 sync` would
    (through moto's backend: conftest's put_in_moto)."""
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            put_in_moto(BUCKET, f"{prefix}/{path.relative_to(folder).as_posix()}", path.read_bytes())


def upload_as_exported(exports: Path, prefix: str) -> None:
    """Put each table's exports in BUCKET where "Export to S3" with the S3 prefix prefix/<table> writes them
    (through moto's backend: conftest's put_in_moto).

    The keys are those an `aws s3 sync` of that prefix brings down; the manifests name the
    bucket, the prefix and each data file by its key there, as AWS writes them (their .md5
    files match the rewritten manifests).
    """
    manifests: dict[Path, bytes] = {}
    for path in sorted(exports.glob("*/AWSDynamoDB/*/manifest-*.json")):
        table = path.relative_to(exports).parts[0]
        if path.name == "manifest-summary.json":
            summary = json.loads(path.read_text(encoding="utf-8"))
            summary.update(s3Bucket=BUCKET, s3Prefix=f"{prefix}/{table}",
                           manifestFilesS3Key=f"{prefix}/{summary['manifestFilesS3Key']}")
            manifests[path] = json.dumps(summary, separators=(",", ":")).encode()
        else:
            entries = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
            for entry in entries:
                entry["dataFileS3Key"] = f"{prefix}/{entry['dataFileS3Key']}"
            manifests[path] = "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in entries).encode()
    for path in sorted(exports.rglob("*")):
        if not path.is_file():
            continue
        body = manifests.get(path) or path.read_bytes()
        if path.suffix == ".md5" and path.with_suffix(".json") in manifests:
            body = hashlib.md5(manifests[path.with_suffix(".json")]).hexdigest().encode()
        put_in_moto(BUCKET, f"{prefix}/{path.relative_to(exports).as_posix()}", body)


def s3_root(client, prefix: str, setting: str = "HANDOFF_DIR", page_size: int = ser.S3_LIST_PAGE_SIZE) -> ser.S3Path:
    """The S3Path the run reads for setting=s3://BUCKET/prefix."""
    return ser.S3Input(client, ser.S3Url(BUCKET, prefix), setting, page_size=page_size).root()


def errors_of(read) -> list[str]:
    """The error lines a reader raises (InputErrors or one InputError)."""
    with pytest.raises(ser.InputError) as exc:
        read()
    return exc.value.errors if isinstance(exc.value, ser.InputErrors) else [str(exc.value)]


def count_calls(client, operation: str) -> list[int]:
    """A list that grows by one with each call of `operation` the client makes (botocore's event hook)."""
    calls: list[int] = []
    client.meta.events.register(f"after-call.s3.{operation}", lambda **kw: calls.append(1))
    return calls


# ---------------------------------------------------------------------------
# Handoffs


def test_the_sample_handoffs_read_from_s3_as_from_the_folder(client) -> None:
    """Same handoffs, files, lines and skipped README, listed across pages of two keys."""
    upload(EXAMPLES / "handoffs", "exec/handoffs")
    client.put_object(Bucket=BUCKET, Key="exec/handoffs-old/stale.md", Body=b"---\nentity: X\n---\n")  # not under it
    client.put_object(Bucket=BUCKET, Key="exec/handoffs/notes/", Body=b"")  # the console's folder marker
    client.put_object(Bucket=BUCKET, Key="exec/handoffs/logo.png", Body=b"\x89PNG")
    lists = count_calls(client, "ListObjectsV2")
    folder = ser.read_handoffs(EXAMPLES / "handoffs", ["CEO", "CTO", "CFO", "CMO", "Accounting Officer"])
    in_s3 = ser.read_handoffs(s3_root(client, "exec/handoffs", page_size=2),
                              ["CEO", "CTO", "CFO", "CMO", "Accounting Officer"])
    assert [(h.file, h.data, h.lines) for h in in_s3.handoffs] == [(h.file, h.data, h.lines) for h in folder.handoffs]
    assert in_s3.skipped == folder.skipped == ["README.md"]
    keys = len(list((EXAMPLES / "handoffs").rglob("*.*"))) + 2
    assert len(lists) >= keys // 2  # really paginated: one page per two keys


BAD_FILES = {
    "a/missing-key.md": "---\nentity: Acme\nstatus: active\nproject: A\n---\n",
    "b/lookalike.md": "# Notes\n\nentity: Acme\nstatus: active\n",
    "c/unclosed.md": f"---\n{HEAD}project: C\n",
    "d/tabs.md": f"---\n{HEAD}project: D\nkpis:\n\t- name: x\n---\n",
    "e/alias.md": f"---\n{HEAD}project: &p E\nowner: *p\n---\n",
    "f/octal.md": f"---\n{HEAD}project: F\ncash: 0100\n---\n",
    "g/reserved.md": "---\nentity: Portfolio\nstatus: active\nupdated: 2026-11-18\n---\n",
    "h/copy-1.md": f"---\n{HEAD}project: H\n---\n",
    "h/copy-2.md": f"---\n{HEAD}project: H\n---\n",
    "i/typo.md": f"---\n{HEAD}project: I\nshortfals: []\n---\n",
    "j/control.md": f"---\n{HEAD}project: J\nowner: a\x07b\n---\n",
    "k/late-rule.md": "Intro\n\n---\nentity: Acme\n---\n",
}


def test_every_handoff_error_is_the_folders_with_the_s3_address(client, tmp_path: Path) -> None:
    """The validation is the folder's code: the same lines, each naming s3://bucket/key."""
    folder = tmp_path / "handoffs"
    for rel, text in BAD_FILES.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text, encoding="utf-8")
    (folder / "z" ).mkdir()
    (folder / "z" / "latin1.md").write_bytes(f"---\n{HEAD}owner: caf\xe9\n---\n".encode("latin-1"))
    upload(folder, "team/handoffs")

    from_folder = errors_of(lambda: ser.read_handoffs(folder, ["CEO"]))
    from_s3 = errors_of(lambda: ser.read_handoffs(s3_root(client, "team/handoffs", page_size=3), ["CEO"]))

    assert len(from_folder) >= len(BAD_FILES)
    assert from_s3 == [line.replace(str(folder), f"s3://{BUCKET}/team/handoffs") for line in from_folder]


def test_front_matter_over_1_mib_in_s3_names_the_key(client) -> None:
    """The reader stops at 1 MiB of front matter: the object's body is streamed, never fetched whole."""
    body = b"---\n" + HEAD.encode() + b"notes: x\n" * (200_000) + b"---\n" + b"body\n" * 400_000
    client.put_object(Bucket=BUCKET, Key="big/huge.md", Body=body)
    (line,) = errors_of(lambda: ser.read_handoffs(s3_root(client, "big")))
    assert line.startswith(f"s3://{BUCKET}/big/huge.md:1: front matter over 1 MiB")


def test_a_long_body_is_not_fetched(client) -> None:
    """A handoff with megabytes of notes: the stream the reader reads takes only a buffer's worth off the wire."""
    client.put_object(Bucket=BUCKET, Key="h/a.md", Body=f"---\n{HEAD}---\n".encode() + b"x" * (4 << 20))
    assert [h.project for h in ser.read_handoffs(s3_root(client, "h")).handoffs] == ["a"]
    with (s3_root(client, "h") / "a.md").open() as fh:
        assert fh.readline() == b"---\n"
        assert fh.raw.body._amount_read <= ser.S3_READ_BUFFER  # botocore's count of the bytes it has read


def test_no_handoffs_under_the_prefix_names_it(client) -> None:
    """An empty or mistyped prefix is the folder's 'no handoff documents' error, naming the s3:// address."""
    (line,) = errors_of(lambda: ser.read_handoffs(s3_root(client, "nothing/here")))
    assert line == (f"HANDOFF_DIR s3://{BUCKET}/nothing/here: no handoff documents (*.md with front matter) "
                    "found; check the setting")


def test_handoff_names_are_chosen_by_one_rule(tmp_path: Path, client) -> None:
    """The folder walk and the S3 listing select the same names, through looks_like_handoff_name."""
    names = ["a.md", "b.MD", "c.markdown", "d.md.txt", ".e.md", "f.txt"]
    for name in names:
        (tmp_path / name).write_text(f"---\n{HEAD}project: {name}\n---\n", encoding="utf-8")
        client.put_object(Bucket=BUCKET, Key=f"p/{name}", Body=(tmp_path / name).read_bytes())
    chosen = sorted(n for n in names if ser.looks_like_handoff_name(n))
    assert [p.name for p in ser._markdown_files(tmp_path)[0]] == chosen
    assert [p.name for p in ser._markdown_files(s3_root(client, "p"))[0]] == chosen


# ---------------------------------------------------------------------------
# Exports


def test_a_table_with_no_keys_is_read_live(client) -> None:
    """A table with no export under the prefix goes to the live reader, as a missing folder does."""
    asked: list[str] = []
    counts = ser.read_tables({"t-x": ser.TableNeed(table="t-x")}, s3_root(client, "ddb", "DYNAMODB_EXPORT_DIR"),
                             lambda missing: asked.extend(n.table for n in missing) or {})
    assert (asked, counts) == (["t-x"], {})


HOSTILE = {
    "a line over 1 MiB": (ITEM_LINE + b'{"Item":{"pk":{"S":"' + b"x" * (3 << 20) + b'"}}}', 2),
    "blank megabytes": (ITEM_LINE * 2 + b"\n" * 3_000_000 + ITEM_LINE, 3),
    "a gzip bomb": (ITEM_LINE * ((4 << 20) // len(ITEM_LINE)), 2),
    "not an item": (ITEM_LINE + b'{"Item":[1]}\n', 2),
    "a count that disagrees": (ITEM_LINE * 3, 2),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_data_files_in_s3_fail_as_in_the_folder(client, tmp_path: Path, case: str) -> None:
    """The streamed S3 body goes through the same gzip and line readers: the same error, named by its key."""
    raw, items = HOSTILE[case]
    table_dir, _ = export_with_data_file(tmp_path, gzip.compress(raw, mtime=0), items)
    upload(tmp_path, "ddb")
    from_folder = errors_of(lambda: ser.read_export(table_dir, "completed"))
    from_s3 = errors_of(lambda: ser.read_export(s3_root(client, "ddb", "DYNAMODB_EXPORT_DIR") / table_dir.name,
                                                "completed"))
    assert from_s3 == [line.replace(str(tmp_path), f"s3://{BUCKET}/ddb") for line in from_folder]


def test_a_data_file_missing_from_s3_is_named(client, tmp_path: Path) -> None:
    """A key the manifest lists but S3 does not hold: the folder's 'missing' error, with the key."""
    table_dir = tmp_path / "eyd-events"
    folder = write_export(table_dir, items_n(3), export_time=T0)
    (data,) = (folder / "data").iterdir()
    data.unlink()
    upload(tmp_path, "ddb")
    (line,) = errors_of(lambda: ser.read_export(s3_root(client, "ddb", "DYNAMODB_EXPORT_DIR") / "eyd-events"))
    key = f"ddb/{data.relative_to(tmp_path).as_posix()}"
    assert line == f"s3://{BUCKET}/{key}: listed in manifest-files.json but missing; sync the export again"


def test_a_done_attribute_no_item_holds_in_s3_is_named_as_in_the_folder(client, tmp_path: Path) -> None:
    """A misspelt checklist done: on an S3 export names the attribute, not a damaged export (gzip was given the S3Path)."""
    write_export(tmp_path / "t-1", [{"pk": {"S": str(i)}, "completed": {"BOOL": True}} for i in range(3)], export_time=T0)
    upload(tmp_path, "ddb")
    need = ser.TableNeed(table="t-1", entities={"EYD"}, done_attr="complete", file="eyd.md", line=9,
                         key="dynamodb.checklist")
    from_folder = errors_of(lambda: ser.read_tables({"t-1": need}, tmp_path))
    from_s3 = errors_of(lambda: ser.read_tables({"t-1": need}, s3_root(client, "ddb", "DYNAMODB_EXPORT_DIR")))
    assert "did you mean 'completed'?" in from_folder[0]
    assert from_s3 == from_folder


# ---------------------------------------------------------------------------
# Settings and the command line


@pytest.mark.parametrize(("value", "message"), [
    ("s3://Bad_Bucket/x", "HANDOFF_DIR: an S3 input is written s3://bucket/prefix with a valid bucket name "
                          "(3-63 of a-z 0-9 . -)"),
    ("s3://a..b/x", "HANDOFF_DIR: an S3 input is written s3://bucket/prefix with a valid bucket name"),
    ("s3://192.168.1.2/x", "HANDOFF_DIR: an S3 input is written s3://bucket/prefix with a valid bucket name"),
    ("s3:/inputs/x", "HANDOFF_DIR: an S3 input is written s3://bucket/prefix with a valid bucket name"),
    ("s3://inputs/x?versionId=1", "HANDOFF_DIR: an S3 input URL takes no ?query or #fragment"),
    ("s3://inputs/team//handoffs", "HANDOFF_DIR: the prefix 'team//handoffs' has an empty, '.' or '..' part"),
    ("s3://inputs/team/../x", "HANDOFF_DIR: the prefix 'team/../x' has an empty, '.' or '..' part"),
])
def test_s3_settings_are_checked_up_front(tmp_path: Path, value: str, message: str) -> None:
    """A malformed s3:// value is refused before anything is read, naming the setting."""
    env = tmp_path / "repos.env"
    env.write_text(f"HANDOFF_DIR={value}\n")
    with pytest.raises(ser.ConfigError) as err:
        ser.load_settings(str(env), dry_run=True)
    assert str(err.value).startswith(message)


def test_s3_settings_are_not_resolved_as_paths(tmp_path: Path) -> None:
    """s3:// values are kept as addresses; only folders resolve against the settings file's folder."""
    (tmp_path / "exports").mkdir()
    env = tmp_path / "repos.env"
    env.write_text("HANDOFF_DIR=s3://inputs/team/handoffs/\nDYNAMODB_EXPORT_DIR=exports\n")
    settings = ser.load_settings(str(env), dry_run=True)
    assert settings.handoff_dir == ser.S3Url("inputs", "team/handoffs")
    assert str(settings.handoff_dir) == "s3://inputs/team/handoffs"
    assert settings.export_dir == tmp_path / "exports"
    env.write_text("HANDOFF_DIR=handoffs-that-do-not-exist\nDYNAMODB_EXPORT_DIR=S3://inputs/ddb\n")
    with pytest.raises(ser.ConfigError, match=r"^HANDOFF_DIR=handoffs-that-do-not-exist: no such folder"):
        ser.load_settings(str(env), dry_run=True)


def cli_env(endpoint: str, **extra: str) -> dict[str, str]:
    """The environment of a dry run reading both inputs from moto's S3."""
    return {"HANDOFF_DIR": f"s3://{BUCKET}/exec/handoffs", "DYNAMODB_EXPORT_DIR": f"s3://{BUCKET}/exec/ddb",
            "AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "us-west-2", "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_EC2_METADATA_DISABLED": "true", **extra}


def test_a_dry_run_from_s3_prints_what_the_folders_give(client, moto: str, monkeypatch, capsys) -> None:
    """The whole command line on S3 inputs: the same reports as from the sample's folders."""
    upload(EXAMPLES / "handoffs", "exec/handoffs")
    upload_as_exported(EXAMPLES / "dynamodb", "exec/ddb")
    args = ["--dry-run", "--as-of", "2026-11-22", "--env-file", os.devnull]
    monkeypatch.setenv("HANDOFF_DIR", str(EXAMPLES / "handoffs"))
    monkeypatch.setenv("DYNAMODB_EXPORT_DIR", str(EXAMPLES / "dynamodb"))
    assert ser.main(args) == 0
    from_folders = capsys.readouterr().out
    for name, value in cli_env(moto, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing").items():
        monkeypatch.setenv(name, value)
    assert ser.main(args) == 0
    assert capsys.readouterr().out == from_folders


@pytest.mark.parametrize(("extra", "bucket", "expected"), [
    ({}, BUCKET, f"send_exec_reports: HANDOFF_DIR s3://{BUCKET}/exec/handoffs: no AWS credentials were found while "
                 f"listing s3://{BUCKET}/exec/handoffs/; give AWS credentials (AWS_PROFILE, or AWS_ACCESS_KEY_ID "
                 "and AWS_SECRET_ACCESS_KEY in the settings)"),
    ({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}, "other",
     f"send_exec_reports: HANDOFF_DIR s3://{BUCKET}/exec/handoffs: no such bucket; create it or fix the setting"),
])
def test_s3_input_failures_are_one_line_naming_the_setting(client, moto: str, tmp_path: Path, extra, bucket,
                                                           expected) -> None:
    """No credentials, no bucket: one line naming HANDOFF_DIR and what to do, exit 78, no traceback."""
    if bucket != BUCKET:
        client.delete_bucket(Bucket=BUCKET)
    script = install_copy(tmp_path / "app", examples=False)
    result = run_script(script, "--dry-run", "--env-file", os.devnull, env=cli_env(moto, **extra))
    assert (result.returncode, result.stdout) == (78, "")
    assert result.stderr.strip() == expected
    assert "Traceback" not in result.stderr


def test_an_unreachable_endpoint_is_one_line(tmp_path: Path) -> None:
    """S3 out of reach (a closed loopback port): one line naming the setting, the endpoint's origin only."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**cli_env(f"http://127.0.0.1:{port}/secret-path-token"), "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_MAX_ATTEMPTS": "1"}
    script = install_copy(tmp_path / "app", examples=False)
    result = run_script(script, "--dry-run", "--env-file", os.devnull, env=env)
    assert result.returncode == 78
    assert result.stderr.strip() == (
        f"send_exec_reports: HANDOFF_DIR s3://{BUCKET}/exec/handoffs: S3 cannot be reached while listing "
        f"s3://{BUCKET}/exec/handoffs/ (could not connect to http://127.0.0.1:{port}); check AWS_ENDPOINT_URL, "
        "AWS_REGION and the network")
    assert "secret-path-token" not in result.stderr  # the endpoint's path is never shown
