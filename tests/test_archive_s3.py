"""The archive in S3, against moto's server: conditional writes, periods, the expiring lock."""

from __future__ import annotations

import json

import pytest

import send_exec_reports as ser

from .conftest import aws


def s3(endpoint: str):
    """A boto3 S3 client on moto's server, with test credentials."""
    return aws("s3", endpoint)


@pytest.fixture
def archive(moto: str) -> ser.S3Archive:
    client = s3(moto)
    client.create_bucket(Bucket="reports", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    return ser.S3Archive(client, "reports", "exec/archive", sleep=lambda s: None)


def test_s3_urls_are_split_and_checked() -> None:
    assert ser.parse_s3_url("s3://reports/exec/archive/") == ("reports", "exec/archive")
    assert ser.parse_s3_url("s3://reports") == ("reports", "")
    for bad in ("s3://Bad_Bucket/x", "s3:///x", "s3://reports/x?token=abc"):
        with pytest.raises(ser.ConfigError) as err:
            ser.parse_s3_url(bad)
        assert "token=abc" not in str(err.value)


def test_conditional_writes_refuse_a_stale_or_existing_object(archive: ser.S3Archive) -> None:
    assert archive.read("2026-W47/ledger.json") is None
    first = archive.write("2026-W47/ledger.json", b"{}", create=True)
    with pytest.raises(ser.ArchiveConflict):
        archive.write("2026-W47/ledger.json", b'{"b": 1}', create=True)  # someone created it first
    second = archive.write("2026-W47/ledger.json", b'{"a": 1}', version=first)
    with pytest.raises(ser.ArchiveConflict):
        archive.write("2026-W47/ledger.json", b'{"c": 1}', version=first)  # read before the last write
    assert archive.read("2026-W47/ledger.json") == (b'{"a": 1}', second)
    obj = archive.client.get_object(Bucket="reports", Key="exec/archive/2026-W47/ledger.json")
    assert obj["Body"].read() == b'{"a": 1}'


def test_periods_are_the_week_folders_only(archive: ser.S3Archive) -> None:
    for key in ("2026-W47/ceo.txt", "2026-W45/metrics.json", "2026-W46/ledger.json", "notes/x.txt",
                "2026-W46/cfo.txt", ".send_exec_reports.lock"):
        archive.write(key, b"x")
    archive.client.put_object(Bucket="reports", Key="elsewhere/2026-W01/metrics.json", Body=b"x")
    assert archive.periods() == ["2026-W45", "2026-W46", "2026-W47"]


def test_the_lock_is_exclusive_and_released(archive: ser.S3Archive, moto: str) -> None:
    archive.acquire(wait=0)
    other = ser.S3Archive(s3(moto), "reports", "exec/archive", sleep=lambda s: None)
    with pytest.raises(ser.LockBusy) as busy:
        other.acquire(wait=0)
    assert "another run holds the lock in s3://reports/exec/archive (pid " in str(busy.value)
    archive.release()
    other.acquire(wait=0)  # free again
    assert other.read(".send_exec_reports.lock") is not None
    other.release()
    assert other.read(".send_exec_reports.lock") is None


def test_a_dead_runs_lock_expires(archive: ser.S3Archive, moto: str) -> None:
    now = [1_000_000.0]
    dead = ser.S3Archive(s3(moto), "reports", "exec/archive", lock_ttl=60, clock=lambda: now[0])
    dead.acquire(wait=0)  # and never released: the run was killed
    waits: list[float] = []
    later = ser.S3Archive(s3(moto), "reports", "exec/archive", lock_ttl=60, clock=lambda: now[0],
                          sleep=lambda s: (waits.append(s), now.__setitem__(0, now[0] + s)))
    with pytest.raises(ser.LockBusy):
        later.acquire(wait=1)  # still fresh: waits a second in steps, then gives up
    assert waits and abs(sum(waits) - 1.0) < 0.21
    now[0] += 61
    later.acquire(wait=0)  # expired: taken over
    holder = json.loads(later.read(".send_exec_reports.lock")[0])
    assert holder["expires"] == now[0] + 60
    dead.release()  # the dead run's late release must not free the new holder's lock
    assert later.read(".send_exec_reports.lock") is not None


def test_a_missing_bucket_is_one_clear_line(moto: str) -> None:
    archive = ser.S3Archive(s3(moto), "no-such-bucket", "")
    with pytest.raises(ser.ConfigError) as err:
        archive.read("2026-W47/ledger.json")
    assert str(err.value) == "ARCHIVE_DIR s3://no-such-bucket: no such bucket; create it or fix the setting"
