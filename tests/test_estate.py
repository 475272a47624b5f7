"""The AWS estate in the CTO report (AWS_INVENTORY=1): Lambda, S3, CloudFront and drift.

AWS calls go to moto's server over HTTP. Where moto cannot play AWS (its S3 bucket
size is wrong, CloudFront's LastModifiedTime is fixed and invalidations cannot be
back-dated), the date and size logic is a pure function tested with answers written
by hand in AWS's documented shapes, and moto serves the calls themselves.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

import send_exec_reports as ser

from .conftest import ROOT, aws, install_copy, run_script, serve_loopback, stop_server

UTC = dt.UTC
TODAY = dt.datetime.now(UTC).date()  # moto dates its S3 metrics and invalidations with the real clock
# Planted environment values: they must never leave the Lambda answer. Each is full of
# "¤", a character no report holds, so that a value wrapped anywhere in a table cell
# still shows.
SECRET_VALUE = "sk_live_¤PLANTED¤51f0c2e9¤"
OTHER_VALUE = "hunter2¤PLANTED¤db¤"
PLAIN_VALUE = "¤PLANTED¤plain¤"
SENDER = "reports@example.com"


def client(endpoint: str, service: str) -> object:
    """A boto3 client for moto's server."""
    return aws(service, endpoint)


def make_functions(endpoint: str, names: list[str], runtime: str = "python3.12",
                   env: dict[str, str] | None = None) -> None:
    """Create Lambda functions in moto (an IAM role first, and a zip made in memory)."""
    iam = client(endpoint, "iam")
    try:
        role = iam.create_role(RoleName="estate-test", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        role = iam.get_role(RoleName="estate-test")["Role"]["Arn"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("handler.py", "def handle(event, context):\n    return 1\n")
    lam = client(endpoint, "lambda")
    for name in names:
        kwargs = {"Environment": {"Variables": env}} if env else {}
        lam.create_function(FunctionName=name, Runtime=runtime, Role=role, Handler="handler.handle",
                            Code={"ZipFile": buf.getvalue()}, MemorySize=256, **kwargs)


def make_distribution(endpoint: str, comment: str = "site") -> str:
    """A CloudFront distribution in moto; returns its id."""
    cf = client(endpoint, "cloudfront")
    config = {
        "CallerReference": comment, "Comment": comment, "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [{"Id": "o", "DomainName": "origin.example.com",
                                              "CustomOriginConfig": {"HTTPPort": 80, "HTTPSPort": 443,
                                                                     "OriginProtocolPolicy": "https-only"}}]},
        "DefaultCacheBehavior": {"TargetOriginId": "o", "ViewerProtocolPolicy": "allow-all", "MinTTL": 0,
                                 "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
                                 "TrustedSigners": {"Enabled": False, "Quantity": 0}},
    }
    return cf.create_distribution(DistributionConfig=config)["Distribution"]["Id"]


# ---------------------------------------------------------------------------
# Pure logic: names, runtimes, times, sizes, the period


@pytest.mark.parametrize("name", [
    "STRIPE_SECRET_KEY", "DB_PASSWORD", "GITHUB_TOKEN", "apiKey", "DBPassword", "private_key", "AWS_CREDENTIALS",
    "API_KEYS", "APIKEY", "smtp-passwd", "Sendgrid.Token", "JWT_PRIVATE", "client_secret",
])
def test_secret_looking_names_are_flagged(name: str) -> None:
    assert ser.secret_looking(name)


@pytest.mark.parametrize("name", [
    "MONKEY_COUNT", "KEYCLOAK_URL", "TOKENIZER_MODE", "STAGE", "LOG_LEVEL", "PASSAGE", "SECRETARY_EMAIL", "",
])
def test_other_names_are_not(name: str) -> None:
    assert not ser.secret_looking(name)


def test_deprecated_runtimes_are_dated() -> None:
    assert ser.runtime_deprecated("python3.8", dt.date(2024, 10, 13)) is None
    assert ser.runtime_deprecated("python3.8", dt.date(2024, 10, 14)) == dt.date(2024, 10, 14)
    assert ser.runtime_deprecated("nodejs16.x", dt.date(2026, 11, 22)) == dt.date(2024, 6, 12)
    assert ser.runtime_deprecated("python3.12", dt.date(2026, 11, 22)) is None
    assert ser.runtime_deprecated("python3.9", dt.date(2025, 12, 14)) is None  # still supported that day
    assert ser.runtime_deprecated("a-runtime-nobody-knows", dt.date(2099, 1, 1)) is None
    assert ser.runtime_deprecated(None, dt.date(2099, 1, 1)) is None


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-11-02T10:15:30.000+0000", dt.datetime(2026, 11, 2, 10, 15, 30, tzinfo=UTC)),  # AWS Lambda's form
    ("2026-11-29T17:46:59.510769000Z", dt.datetime(2026, 11, 29, 17, 46, 59, tzinfo=UTC)),  # moto's form
    ("2026-11-02T01:00:00-0800", dt.datetime(2026, 11, 2, 9, 0, tzinfo=UTC)),
    ("2026-11-02T23:30:00+05:30", dt.datetime(2026, 11, 2, 18, 0, tzinfo=UTC)),
    ("2026-11-02T10:15:30", dt.datetime(2026, 11, 2, 10, 15, 30, tzinfo=UTC)),
    ("not a time", None),
    ("2026-02-30T00:00:00Z", None),
    (None, None),
])
def test_aws_times(text: str | None, expected: dt.datetime | None) -> None:
    assert ser.aws_time(text) == expected


def test_aws_time_of_a_datetime_is_utc() -> None:
    tz = dt.timezone(dt.timedelta(hours=-8))
    assert ser.aws_time(dt.datetime(2026, 11, 22, 20, 0, tzinfo=tz)) == dt.datetime(2026, 11, 23, 4, 0, tzinfo=UTC)


def point(day: str, value: float) -> dict[str, object]:
    """A GetMetricStatistics datapoint as AWS answers it."""
    return {"Timestamp": dt.datetime.fromisoformat(day).replace(tzinfo=UTC), "Average": value, "Unit": "Count"}


def test_bucket_storage_takes_the_newest_day_and_sums_its_storage_types() -> None:
    objects = [point("2026-11-20", 100), point("2026-11-21", 120)]
    sizes = {
        "StandardStorage": [point("2026-11-20", 5_000), point("2026-11-21", 6_000)],
        "StandardIAStorage": [point("2026-11-21", 1_500)],
        "GlacierStorage": [point("2026-11-19", 9_999_999)],  # an older day: not today's size
    }
    assert ser.bucket_storage(objects, sizes) == {"objects": 120, "size": 7_500, "day": dt.date(2026, 11, 21)}


def test_bucket_storage_without_a_count_is_none_and_without_sizes_has_no_size() -> None:
    assert ser.bucket_storage([], {"StandardStorage": [point("2026-11-21", 6_000)]}) is None
    assert ser.bucket_storage([point("2026-11-21", 7)], {}) == {"objects": 7, "size": None,
                                                                "day": dt.date(2026, 11, 21)}
    assert ser.bucket_storage([point("2026-11-21", 7)], {"StandardStorage": [point("2026-11-20", 1)]})["size"] is None


def test_invalidations_are_counted_over_the_seven_days_that_end_at_the_run() -> None:
    """The README's Monday 07:00 run counts last week's deploys, not the seven hours of its own ISO week."""
    run = dt.datetime(2026, 11, 23, 7, 0, 4, tzinfo=UTC)  # Monday 07:00 UTC
    window = ser.invalidation_window(run.date(), run)
    assert window == (dt.datetime(2026, 11, 16, 7, 0, 4, tzinfo=UTC), run)
    created = [
        dt.datetime(2026, 11, 16, 7, 0, 4, tzinfo=UTC),  # in: the first instant
        dt.datetime(2026, 11, 22, 23, 59, 59, tzinfo=UTC),  # in: Sunday night's deploy
        dt.datetime(2026, 11, 23, 7, 0, 4, tzinfo=UTC),  # out: the run's own instant ends it
        dt.datetime(2026, 11, 16, 7, 0, 3, tzinfo=UTC),  # out: a second too early
        dt.datetime(2026, 11, 22, 20, 0, tzinfo=dt.timezone(dt.timedelta(hours=13))),  # in: 07:00 UTC Sunday
        "2026-11-18T12:00:00Z",
        None,
    ]
    assert ser.invalidations_in(created, window) == 4
    assert ser.invalidations_in([], window) == 0
    # a past --as-of: the seven days to the end of that date; a run in Auckland's Monday morning, the same
    assert ser.invalidation_window(dt.date(2026, 11, 15), run) == (
        dt.datetime(2026, 11, 9, tzinfo=UTC), dt.datetime(2026, 11, 16, tzinfo=UTC))
    auckland = run.astimezone(dt.timezone(dt.timedelta(hours=13)))
    assert ser.invalidation_window(auckland.date(), auckland) == window


@pytest.mark.parametrize(("size", "text"), [
    (0, "0 bytes"), (1, "1 byte"), (999, "999 bytes"), (1_000, "1.0 kB"), (1_250_000, "1.3 MB"),
    (3_400_000_000, "3.4 GB"), (10**18, "1,000.0 PB"), (None, "no data"),
])
def test_sizes_read_as_people_read_them(size: int | None, text: str) -> None:
    assert ser.format_bytes(size) == text


def estate_sample() -> dict[str, object]:
    """An estate as the readers return it, written by hand."""
    return {
        "region": "us-west-2",
        "lambdas": [
            {"name": "eyd-booking-api", "runtime": "nodejs16.x", "memory": 256,
             "last_modified": dt.date(2026, 11, 20), "env_names": ["STRIPE_SECRET_KEY", "STAGE"]},
            {"name": "orphan-fn", "runtime": "python3.12", "memory": 128,
             "last_modified": dt.date(2026, 1, 2), "env_names": []},
        ],
        "buckets": [
            {"name": "eyd-site", "objects": 120, "size": 7_500, "day": dt.date(2026, 11, 21), "capped": False,
             "source": "metrics"},
            {"name": "loose-bucket", "objects": 10_000, "size": 12_000_000, "day": None, "capped": True,
             "source": "listing"},
        ],
        "distributions": [
            {"id": "E123", "domain": "d111.cloudfront.net", "aliases": ["www.expertyachtdelivery.com"],
             "status": "Deployed", "enabled": True, "last_change": dt.date(2026, 11, 18), "invalidations": 3},
        ],
    }


def stack_sample() -> list[dict[str, object]]:
    """Stack items as compute_metrics passes them: with entity and project."""
    base = {"entity": "Expert Yacht Delivery", "project": "Booking site"}
    return [
        {**base, "name": "booking-api", "lambda": "eyd-booking-api", "last_deploy": dt.date(2026, 10, 2)},
        {**base, "name": "site", "bucket": "eyd-site", "distribution": "WWW.ExpertYachtDelivery.com"},
        {**base, "name": "old-api", "lambda": "eyd-old-api"},
        {**base, "name": "quotes-db"},
    ]


def test_estate_figures_flag_link_and_drift() -> None:
    fig = ser.estate_figures(estate_sample(), stack_sample(), dt.date(2026, 11, 22))
    api = fig["lambdas"][0]
    assert api["name"] == "eyd-booking-api"
    assert api["secret_names"] == ["STRIPE_SECRET_KEY"]
    assert api["deprecated_since"] == dt.date(2024, 6, 12)
    assert api["linked"] == ["Expert Yacht Delivery / Booking site / booking-api"]
    assert [(s["urgency"], s["persona"], s["entity"], s["project"], s["title"]) for s in fig["shortfalls"]] == [
        ("high", "CTO", "Expert Yacht Delivery", "Booking site",
         "Lambda eyd-booking-api keeps STRIPE_SECRET_KEY in plain environment variables "
         "(move to Secrets Manager or SSM)"),
        ("medium", "CTO", "Expert Yacht Delivery", "Booking site",
         "Lambda eyd-booking-api runs nodejs16.x, deprecated since 2024-06-12"),
    ]
    assert fig["missing"] == [{"kind": "Lambda function", "name": "eyd-old-api", "entity": "Expert Yacht Delivery",
                               "where": "Expert Yacht Delivery / Booking site / old-api"}]
    assert fig["unlinked"] == [{"kind": "Lambda function", "name": "orphan-fn"},
                               {"kind": "S3 bucket", "name": "loose-bucket"}]  # the alias links the distribution
    assert fig["deploys"] == {"Expert Yacht Delivery / Booking site / booking-api": dt.date(2026, 11, 20)}
    assert [b["size_text"] for b in fig["buckets"]] == ["over 12.0 MB", "7.5 kB"]


def test_an_unlinked_function_with_a_secret_is_the_estates_shortfall() -> None:
    estate = estate_sample()
    estate["lambdas"][1]["env_names"] = ["GITHUB_TOKEN"]
    fig = ser.estate_figures(estate, [], dt.date(2026, 11, 22))
    flagged = [s for s in fig["shortfalls"] if "orphan-fn" in s["title"]]
    assert [(s["entity"], s["project"], s["urgency"]) for s in flagged] == [("AWS estate", None, "high")]
    assert len(fig["unlinked"]) == 5 and fig["missing"] == []


def test_compute_metrics_joins_the_estate_shortfalls_and_dates_linked_deploys(tmp_path: Path) -> None:
    folder = tmp_path / "handoffs"
    folder.mkdir()
    (folder / "site.md").write_text(HANDOFF)
    portfolio = ser.read_handoffs(folder)
    as_of = dt.date(2026, 11, 22)
    plain = ser.compute_metrics(portfolio, {}, as_of)
    assert plain["estate"] is None
    m = ser.compute_metrics(portfolio, {}, as_of, estate_sample())
    estate_titles = [s["title"] for s in m["shortfalls"] if s["source"] == "estate"]
    assert len(estate_titles) == 2
    assert [s for s in m["shortfalls"] if s["source"] != "estate"] == plain["shortfalls"]
    api = next(s for s in m["stack"] if s["name"] == "booking-api")
    assert api["days_since_deploy"] == 2  # the Lambda's last modified date, not the handoff's 2026-10-02
    assert next(s for s in plain["stack"] if s["name"] == "booking-api")["days_since_deploy"] == 51
    json.dumps(m, default=ser._json_default)  # metrics.json can hold it


def test_an_aws_error_is_one_line_without_botocore_text() -> None:
    def failing() -> None:
        raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "token=abc123 secret stuff"},
                           "ResponseMetadata": {"HTTPStatusCode": 503}}, "ListFunctions")

    with pytest.raises(ser.EstateUnavailable) as caught:
        ser._estate_call("Lambda", failing)
    assert str(caught.value) == (
        "AWS_INVENTORY: Lambda ListFunctions failed (ServiceUnavailable, HTTP 503): try again later, "
        "or set AWS_INVENTORY=0 to send without the estate; nothing was sent"
    )
    assert caught.value.status == ser.ExitStatus.UNAVAILABLE

    def odd_code() -> None:
        raise ClientError({"Error": {"Code": "<script>x</script>"}, "ResponseMetadata": {"HTTPStatusCode": 500}},
                          "ListBuckets")

    with pytest.raises(ser.EstateUnavailable, match=r"\(error, HTTP 500\)"):
        ser._estate_call("S3", odd_code)


# ---------------------------------------------------------------------------
# The calls, against moto's server


def test_every_lambda_function_is_read_beyond_one_page(moto: str) -> None:
    # moto 5.2 answers ListFunctions in one page whatever its size (it ignores MaxItems
    # and never sets NextMarker); the proxy in front of it pages the answer as AWS does,
    # 50 functions a page, and records the markers it was asked for
    names = [f"fn-{i:02d}" for i in range(53)]
    make_functions(moto, names, env={"DB_PASSWORD": OTHER_VALUE, "STAGE": PLAIN_VALUE})
    proxy = EstateProxy(moto, lambda_page=50)
    try:
        first_page = client(proxy.url, "lambda").list_functions()
        assert len(first_page["Functions"]) == 50 and first_page["NextMarker"] == "50"
        proxy.markers.clear()
        functions = ser.read_lambdas(client(proxy.url, "lambda"))
    finally:
        proxy.close()
    assert proxy.markers == [None, "50"]
    assert sorted(f["name"] for f in functions) == names
    assert functions[0] == {"name": functions[0]["name"], "runtime": "python3.12", "memory": 256,
                            "last_modified": TODAY, "env_names": ["DB_PASSWORD", "STAGE"]}
    assert OTHER_VALUE not in repr(functions) and PLAIN_VALUE not in repr(functions)


def test_every_bucket_is_read_beyond_one_page(moto: str) -> None:
    # moto 5.2 answers ListBuckets in one page (it ignores ContinuationToken and never sends
    # one; MaxBuckets only cuts the list short): the proxy pages its answer, 2 buckets a page
    s3 = client(moto, "s3")
    names = [f"paged-{i}" for i in range(5)]
    for name in names:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    proxy = EstateProxy(moto, bucket_page=2)
    try:
        first_page = client(proxy.url, "s3").list_buckets()
        assert len(first_page["Buckets"]) == 2 and first_page["ContinuationToken"] == "2"
        proxy.markers.clear()
        buckets = ser.read_buckets(client(proxy.url, "s3"), client(proxy.url, "cloudwatch"),
                                   TODAY - dt.timedelta(days=365))
    finally:
        proxy.close()
    assert proxy.markers == [None, "2", "4"]
    assert [b["name"] for b in buckets] == names


def test_a_bucket_listing_follows_every_page_below_the_cap(moto: str) -> None:
    # S3 answers at most 1,000 keys a page; rather than put 1,001 objects, the proxy asks moto
    # for pages of 3, which moto pages with its own continuation tokens
    s3 = client(moto, "s3")
    s3.create_bucket(Bucket="listed", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    for i in range(8):
        s3.put_object(Bucket="listed", Key=f"k{i}", Body=b"x" * (i + 1))
    proxy = EstateProxy(moto, small_pages=3)
    try:
        counted = ser.count_objects(client(proxy.url, "s3"), "listed", cap=100)
    finally:
        proxy.close()
    listings = [q for path, q in proxy.requests if path == "/listed" and q.get("list-type") == ["2"]]
    assert len(listings) == 3  # keys 3 + 3 + 2
    assert "continuation-token" not in listings[0] and all("continuation-token" in q for q in listings[1:])
    assert counted == (8, sum(range(1, 9)), False)


def test_every_storage_metric_is_read_beyond_one_page(moto: str) -> None:
    # moto pages ListMetrics as AWS does, 500 metrics a page: 501 buckets' metrics make two pages
    cw = client(moto, "cloudwatch")
    names = [f"metric-{i:03d}" for i in range(501)]
    cw.put_metric_data(Namespace="AWS/S3", MetricData=[{  # moto takes the AWS/ namespace (AWS does not)
        "MetricName": "NumberOfObjects", "Value": 1.0, "Timestamp": dt.datetime.now(UTC),
        "Dimensions": [{"Name": "BucketName", "Value": n}, {"Name": "StorageType", "Value": "AllStorageTypes"}],
    } for n in names])
    first_page = cw.list_metrics(Namespace="AWS/S3", MetricName="NumberOfObjects")
    assert len(first_page["Metrics"]) == 500 and first_page.get("NextToken")
    found = ser._storage_metrics(cw, "NumberOfObjects")
    assert sorted(found) == names and all(found[n] == ["AllStorageTypes"] for n in names)


def test_buckets_are_counted_from_the_daily_metrics_else_by_a_capped_listing(moto: str) -> None:
    s3 = client(moto, "s3")
    for name, n in (("estate-small", 2), ("estate-big", 7)):
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
        for i in range(n):
            s3.put_object(Bucket=name, Key=f"k{i}", Body=b"x" * 100)
    cw = client(moto, "cloudwatch")

    # moto publishes the daily metrics dated today: the object counts are read from them
    # (moto's BucketSizeBytes is wrong, so only the counts are checked here; the size
    # logic is tested above with hand-made answers)
    from_metrics = ser.read_buckets(s3, cw, TODAY, cap=5)
    assert [(b["name"], b["objects"], b["source"], b["capped"], b["day"]) for b in from_metrics] == [
        ("estate-big", 7, "metrics", False, TODAY), ("estate-small", 2, "metrics", False, TODAY)]
    assert all(isinstance(b["size"], int) for b in from_metrics)

    # a year back there are no datapoints: the listing counts, and stops at the cap
    listed = ser.read_buckets(s3, cw, TODAY - dt.timedelta(days=365), cap=5)
    assert [(b["name"], b["objects"], b["size"], b["source"], b["capped"]) for b in listed] == [
        ("estate-big", 5, 500, "listing", True), ("estate-small", 2, 200, "listing", False)]
    fig = ser.estate_figures({"region": "", "lambdas": [], "buckets": listed, "distributions": []}, [], TODAY)
    assert [b["size_text"] for b in fig["buckets"]] == ["over 500 bytes", "200 bytes"]


def test_distributions_with_their_invalidations_in_the_period(moto: str) -> None:
    dist = make_distribution(moto)
    cf = client(moto, "cloudfront")
    for ref in ("a", "b"):
        cf.create_invalidation(DistributionId=dist, InvalidationBatch={
            "Paths": {"Quantity": 1, "Items": ["/*"]}, "CallerReference": ref})
    read = ser.read_distributions(cf, ser.invalidation_window(TODAY, dt.datetime.now(UTC)))
    assert len(read) == 1
    d = read[0]
    assert d["id"] == dist and d["domain"].endswith(".cloudfront.net") and d["enabled"] is True
    assert d["status"] and isinstance(d["last_change"], dt.date)
    assert d["invalidations"] == 2  # moto dates them now
    past = ser.invalidation_window(TODAY - dt.timedelta(days=14), dt.datetime.now(UTC))
    assert ser.read_distributions(cf, past)[0]["invalidations"] == 0


def test_the_cto_report_counts_invalidations_in_the_seven_days_to_the_run(tmp_path: Path, moto: str,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """A run days after a deploy, in the next ISO week, still counts it, and says which seven days it counted."""
    before = dt.datetime.now(UTC)
    dist = make_distribution(moto)
    cf = client(moto, "cloudfront")
    for ref in ("a", "b"):  # moto dates them now
        cf.create_invalidation(DistributionId=dist, InvalidationBatch={
            "Paths": {"Quantity": 1, "Items": ["/*"]}, "CallerReference": ref})
    run = before + dt.timedelta(days=6, hours=23)  # the next ISO week (unless now is Monday before 01:00 UTC)
    env = estate_env(tmp_path, moto)
    code = ser.main(["--dry-run", "--env-file", str(env), "--only", "cto", "--as-of", run.date().isoformat()],
                    clock=lambda: run)
    out, err = capsys.readouterr()
    assert code == 0, err
    text = " ".join(out.split())
    assert f"Invalidations: those made in the 7 days to {run:%Y-%m-%d %H:%M} UTC." in text
    row = next(line for line in out.splitlines() if "cloudfront.net" in line)
    assert row.split("|")[-1].strip() == "2", row


def test_every_distribution_is_read_beyond_one_page(moto: str) -> None:
    # moto pages ListDistributions as AWS does, 100 a page; creating 101 distributions takes
    # seconds, so the proxy asks moto for pages of 2 and moto's own markers are followed
    ids = [make_distribution(moto, f"site-{i}") for i in range(5)]
    proxy = EstateProxy(moto, small_pages=2)
    try:
        read = ser.read_distributions(client(proxy.url, "cloudfront"), ser.invalidation_window(TODAY, dt.datetime.now(UTC)))
    finally:
        proxy.close()
    listings = [q for path, q in proxy.requests if path == "/2020-05-31/distribution"]
    assert len(listings) == 3  # 2 + 2 + 1
    assert "Marker" not in listings[0] and all(q.get("Marker") for q in listings[1:])
    assert sorted(d["id"] for d in read) == sorted(ids)


def test_every_invalidation_is_read_beyond_one_page(moto: str) -> None:
    # moto pages ListInvalidations as AWS does, 100 a page: 101 invalidations make two pages
    dist = make_distribution(moto)
    cf = client(moto, "cloudfront")
    for i in range(101):
        cf.create_invalidation(DistributionId=dist, InvalidationBatch={
            "Paths": {"Quantity": 1, "Items": ["/*"]}, "CallerReference": f"deploy-{i}"})
    first_page = cf.list_invalidations(DistributionId=dist)["InvalidationList"]
    assert len(first_page["Items"]) == 100 and first_page["IsTruncated"]
    window = ser.invalidation_window(TODAY, dt.datetime.now(UTC))
    assert ser.read_distributions(cf, window)[0]["invalidations"] == 101  # moto dates them now


# ---------------------------------------------------------------------------
# The command line


HANDOFF = """---
entity: Expert Yacht Delivery
project: Booking site
status: active
updated: 2026-11-18
stack:
  - {name: booking-api, service: AWS Lambda, monthly_cost: 1.20, last_deploy: 2026-10-02, lambda: eyd-booking-api}
  - {name: old-api, service: AWS Lambda, monthly_cost: 0, lambda: eyd-old-api}
  - {name: site, service: S3, monthly_cost: 2, bucket: eyd-site}
---
"""


def estate_env(folder: Path, endpoint: str, **overrides: str) -> Path:
    """A repos.env with AWS_INVENTORY on, one handoff and an archive, pointed at `endpoint`."""
    handoffs = folder / "handoffs"
    handoffs.mkdir(parents=True, exist_ok=True)
    (handoffs / "site.md").write_text(HANDOFF)
    settings = {
        "HANDOFF_DIR": "handoffs", "ARCHIVE_DIR": "archive", "AWS_INVENTORY": "1",
        "SES_FROM_ADDRESS": SENDER, "EXEC_REPORT_TO": "owner@example.com", "EXEC_REPORT_BCC": "admin@example.com",
        "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        **overrides,
    }
    env = folder / "repos.env"
    env.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    return env


def plant_estate(endpoint: str) -> None:
    """A Lambda with secret values in its environment, an unlinked bucket and a distribution."""
    make_functions(endpoint, ["eyd-booking-api"], runtime="nodejs16.x",
                   env={"STRIPE_SECRET_KEY": SECRET_VALUE, "DB_PASSWORD": OTHER_VALUE, "STAGE": PLAIN_VALUE})
    s3 = client(endpoint, "s3")
    s3.create_bucket(Bucket="loose-bucket", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    s3.put_object(Bucket="loose-bucket", Key="index.html", Body=b"<html></html>")
    make_distribution(endpoint)


def assert_no_value(*texts: str) -> None:
    """No piece of a planted environment value appears in any of the texts, whole, wrapped or escaped."""
    for text in texts:
        for value in (SECRET_VALUE, OTHER_VALUE, PLAIN_VALUE):
            assert value not in text
        assert "¤" not in text and "\\u00a4" not in text.lower() and "%C2%A4" not in text.upper()


def test_a_send_keeps_the_names_and_never_the_values(tmp_path: Path, moto: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    plant_estate(moto)
    client(moto, "ses").verify_email_identity(EmailAddress=SENDER)
    env = estate_env(tmp_path, moto)
    # one report: moto's SES quota is one message a second
    code = ser.main(["--env-file", str(env), "--only", "cto", "--as-of", TODAY.isoformat()])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert_no_value(out, err)

    folder = tmp_path / "archive" / ser.iso_period(TODAY)
    files = sorted(p for p in (tmp_path / "archive").rglob("*") if p.is_file())
    assert folder / "metrics.json" in files and folder / "cto.txt" in files
    assert_no_value(*(p.read_text(encoding="utf-8", errors="replace") for p in files))
    assert json.loads((folder / "ledger.json").read_text())["cto"]["state"] == "sent"

    kept = json.loads((folder / "metrics.json").read_text())
    metrics = next(iter(kept["runs"].values()))  # the one run that sent
    fn = metrics["estate"]["lambdas"][0]
    assert fn["env_names"] == ["DB_PASSWORD", "STAGE", "STRIPE_SECRET_KEY"]
    assert fn["secret_names"] == ["DB_PASSWORD", "STRIPE_SECRET_KEY"]
    assert {s["title"] for s in metrics["shortfalls"] if s["source"] == "estate"} == {
        "Lambda eyd-booking-api keeps DB_PASSWORD, STRIPE_SECRET_KEY in plain environment variables "
        "(move to Secrets Manager or SSM)",
        "Lambda eyd-booking-api runs nodejs16.x, deprecated since 2024-06-12",
    }

    text = " ".join((folder / "cto.txt").read_text(encoding="utf-8").split())
    assert "AWS estate ---------- Read from AWS (us-west-2)" in text
    assert "HIGH: Expert Yacht Delivery / Booking site: Lambda eyd-booking-api keeps DB_PASSWORD" in text
    assert "(deprecated)" in text and text.count("(secret?)") == 2  # table cells wrap: names are checked above
    assert "Expert Yacht Delivery / Booking site / old-api: Lambda function eyd-old-api" in text
    assert "Expert Yacht Delivery / Booking site / site: S3 bucket eyd-site" in text
    assert "In AWS but named in no handoff (2):" in text and "S3 bucket loose-bucket" in text
    assert "booking-api | AWS Lambda | $1.20 | 0 days ago" in text  # the Lambda's date, not 2026-10-02


def test_the_command_line_in_a_child_process_never_shows_a_value(same_place: Path, moto: str) -> None:
    plant_estate(moto)
    script = install_copy(same_place / "app", examples=False)
    env = estate_env(same_place / "app", moto)
    result = run_script(script, "--dry-run", "--only", "cto,ceo", "--env-file", str(env))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "STRIPE_SECRET_KEY" in result.stdout and "(secret?)" in result.stdout
    assert_no_value(result.stdout, result.stderr)
    assert not (same_place / "app" / "archive").exists()  # a dry run writes nothing


class EstateProxy:
    """A local HTTP server in front of moto: denies one AWS service, or pages ListFunctions.

    `deny`: every request signed for that service (its credential scope) is answered
    403 AccessDenied, with a message carrying a marker that must never reach the output
    (botocore text is not printed). `lambda_page`: ListFunctions is answered
    `lambda_page` functions at a time with a NextMarker, as AWS does and moto does not.
    `bucket_page`: ListBuckets is answered `bucket_page` buckets at a time with a
    ContinuationToken (moto 5.2 ignores the token and never sends one). `small_pages`:
    ListObjectsV2 (max-keys) and ListDistributions (MaxItems) ask moto for pages that
    small, which moto then pages itself, with its own tokens and markers.
    `markers` records the tokens of the paged listings, `requests` every request's path
    and query as sent to moto.
    Every other request is forwarded to moto unchanged.
    """

    MARKER = "PLANTED-botocore-message"

    def __init__(self, upstream: str, deny: str | None = None, lambda_page: int | None = None,
                 bucket_page: int | None = None, small_pages: int | None = None) -> None:
        import http.client
        import urllib.parse

        target = urllib.parse.urlsplit(upstream)
        self.denied: list[str] = []
        self.markers: list[str | None] = []
        self.requests: list[tuple[str, dict[str, list[str]]]] = []  # (path, query) of each request forwarded
        service = deny
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return None

            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if f"/{service}/aws4_request" in self.headers.get("Authorization", ""):
                    proxy.denied.append(self.path)
                    return self._deny()
                url = urllib.parse.urlsplit(self.path)
                paging = lambda_page and self.command == "GET" and url.path.rstrip("/") == "/2015-03-31/functions"
                query = urllib.parse.parse_qs(url.query)
                proxy.requests.append((url.path, query))
                forward = url.path if paging else self.path
                listing_buckets = (bucket_page and self.command == "GET" and url.path == "/"
                                   and "/s3/aws4_request" in self.headers.get("Authorization", ""))
                if small_pages and self.command == "GET":  # ask moto for small pages, which it then pages itself
                    if "max-keys" in query:  # S3 ListObjectsV2
                        query["max-keys"] = [str(small_pages)]
                    if url.path == "/2020-05-31/distribution":  # CloudFront ListDistributions
                        query["MaxItems"] = [str(small_pages)]
                    forward = url.path + "?" + urllib.parse.urlencode(query, doseq=True)
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                conn.request(self.command, forward, body=body or None, headers=headers)
                answer = conn.getresponse()
                data = answer.read()
                if listing_buckets:  # ListBuckets: `bucket_page` buckets a page with a ContinuationToken
                    import re

                    token = query.get("continuation-token", [None])[0]
                    proxy.markers.append(token)
                    text = data.decode()
                    everything = re.findall(r"<Bucket>.*?</Bucket>", text, re.S)
                    start = int(token or 0)
                    page_text = "".join(everything[start:start + bucket_page])
                    text = re.sub(r"<Buckets>.*</Buckets>", lambda _: f"<Buckets>{page_text}</Buckets>", text,
                                  flags=re.S)
                    if start + bucket_page < len(everything):
                        text = text.replace("</ListAllMyBucketsResult>", f"<ContinuationToken>{start + bucket_page}"
                                            "</ContinuationToken></ListAllMyBucketsResult>")
                    data = text.encode()
                if paging:
                    marker = query.get("Marker", [None])[0]
                    proxy.markers.append(marker)
                    start, size = int(marker or 0), int(query.get("MaxItems", [lambda_page])[0])
                    everything = json.loads(data)["Functions"]
                    page: dict[str, object] = {"Functions": everything[start:start + size]}
                    if start + size < len(everything):
                        page["NextMarker"] = str(start + size)
                    data = json.dumps(page).encode()
                self.send_response(answer.status)
                for k, v in answer.getheaders():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            def _deny(self) -> None:
                message = f"User is not authorized ({EstateProxy.MARKER})"
                if service == "lambda":
                    payload = json.dumps({"Message": message}).encode()
                    ctype, extra = "application/json", {"x-amzn-ErrorType": "AccessDeniedException"}
                else:
                    payload = (f"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>"
                               f"<Message>{message}</Message></Error><RequestId>r</RequestId></ErrorResponse>"
                               if service == "cloudfront" else
                               f"<Error><Code>AccessDenied</Code><Message>{message}</Message></Error>").encode()
                    ctype, extra = "application/xml", {}
                self.send_response(403)
                self.send_header("Content-Type", ctype)
                for k, v in extra.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_HEAD = _handle

        self.server, self.url = serve_loopback(Handler)

    def close(self) -> None:
        """Stop the server."""
        stop_server(self.server)


@pytest.fixture
def deny(moto: str, request: pytest.FixtureRequest) -> Iterator[EstateProxy]:
    """A EstateProxy for the service given by the test's parameter."""
    proxy = EstateProxy(moto, deny=request.param)
    yield proxy
    proxy.close()


@pytest.mark.parametrize(("deny", "line"), [
    ("lambda", "Lambda denied ListFunctions (AccessDeniedException): grant lambda:ListFunctions"),
    ("s3", "S3 denied ListBuckets (AccessDenied): grant s3:ListAllMyBuckets"),
    ("cloudfront", "CloudFront denied ListDistributions (AccessDenied): grant cloudfront:ListDistributions"),
], indirect=["deny"])
def test_access_denied_is_one_line_naming_the_iam_action_and_nothing_is_sent(
        tmp_path: Path, moto: str, deny: EstateProxy, line: str, capsys: pytest.CaptureFixture[str]) -> None:
    plant_estate(moto)
    client(moto, "ses").verify_email_identity(EmailAddress=SENDER)
    env = estate_env(tmp_path, deny.url)
    code = ser.main(["--env-file", str(env), "--as-of", TODAY.isoformat()])
    out, err = capsys.readouterr()
    assert code == ser.ExitStatus.CONFIG
    assert deny.denied, "the proxy never saw the call"
    assert err == (f"send_exec_reports: AWS_INVENTORY: {line} to the credentials this tool runs with, "
                   "or set AWS_INVENTORY=0 to send without the estate; nothing was sent\n")
    assert out == ""
    assert EstateProxy.MARKER not in err
    assert_no_value(out, err)
    assert not list((tmp_path / "archive").iterdir())  # nothing was sent, nothing recorded


def test_off_calls_nothing_and_the_reports_are_unchanged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # an endpoint where nothing listens: any AWS call would fail the run
    env = tmp_path / "repos.env"
    base = (f"HANDOFF_DIR={ROOT / 'examples' / 'handoffs'}\nDYNAMODB_EXPORT_DIR={ROOT / 'examples' / 'dynamodb'}\n"
            "SES_FROM_ADDRESS=reports@example.com\nEXEC_REPORT_TO=owner@example.com, partner@example.com\n"
            "EXEC_REPORT_BCC=admin@example.com\nAWS_ENDPOINT_URL=http://127.0.0.1:9\n")
    golden = (ROOT / "tests" / "golden" / "cto.txt").read_text(encoding="utf-8")
    for setting in ("", "AWS_INVENTORY=0\n", "AWS_INVENTORY=\n", "AWS_INVENTORY=off\n"):
        env.write_text(base + setting)
        code = ser.main(["--dry-run", "--env-file", str(env), "--as-of", "2026-11-22", "--only", "cto"])
        out, err = capsys.readouterr()
        assert (code, err) == (0, ""), setting
        assert out == golden, setting


def test_a_bad_setting_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = estate_env(tmp_path, "http://127.0.0.1:9", AWS_INVENTORY="maybe")
    assert ser.main(["--dry-run", "--env-file", str(env)]) == ser.ExitStatus.CONFIG
    err = capsys.readouterr().err
    assert err == ("send_exec_reports: AWS_INVENTORY is none of 1, true, yes, on, 0, false, no, off: set 1 to read "
                   "the AWS estate into the CTO report, 0 (or leave it unset) to skip it\n")


@pytest.mark.parametrize(("value", "on"), [
    ("1", True), ("true", True), ("Yes", True), ("ON", True), (" on ", True),
    ("0", False), ("False", False), ("no", False), ("off", False), ("", False),
])
def test_every_documented_spelling_of_the_setting_is_taken(value: str, on: bool) -> None:
    """The README and repos.env.example name these spellings; each means what they say."""
    settings = ser.Settings(env_file=None, values={"AWS_INVENTORY": value}, handoff_dir=ROOT, export_dir=None,
                            archive_dir=None, region="us-west-2")
    assert ser.inventory_enabled(settings) is on
    documented = " ".join([(ROOT / "README.md").read_text(encoding="utf-8"),
                           (ROOT / "repos.env.example").read_text(encoding="utf-8")])
    if value.strip():
        assert f"`{value.strip().lower()}`" in documented, value
