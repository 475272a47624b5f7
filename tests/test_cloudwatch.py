"""The headline figures in CloudWatch after the sends, read back from moto's server with GetMetricData."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest

import send_exec_reports as ser

from .conftest import EXAMPLES, SesProxy, aws, moto_messages, sent, write_ledger
from .test_delivery import IDS, send, verify_sender, write_env

NAMESPACE = "ExecReports/Test"


def cloudwatch(endpoint: str) -> object:
    """A CloudWatch client on moto."""
    return aws("cloudwatch", endpoint)


def read_back(endpoint: str, metric: str, entity: str) -> list[float]:
    """Every value CloudWatch holds for one figure of one entity (GetMetricData, last two weeks and a day)."""
    return read_back_all(endpoint, [(metric, entity)])[0]


def read_back_all(endpoint: str, figures: list[tuple[str, str]]) -> list[list[float]]:
    """What CloudWatch holds for each (figure, entity), in one GetMetricData call (last two weeks and a day):
    one entry per data point held, each the largest value held ([v] when one point of value v is).

    The window covers the golden as-of date's end as well as now: which of the two a send
    stamps its figures at depends on how long ago that date is. It is read as one period, with
    the points' count and largest value: moto walks a query's window one period at a time over
    every point held, and at one minute a period (23,000 of them) that took a second of CPU. The
    count tells two points apart even within one minute, which one-minute maxima did not.
    """
    now = dt.datetime.now(dt.UTC)
    start, end = now - dt.timedelta(days=ser.CLOUDWATCH_MAX_AGE_DAYS + 2), now + dt.timedelta(hours=1)
    window = int((end - start).total_seconds()) // 60 * 60 + 60  # a multiple of a minute, as CloudWatch asks

    def query(i: int, metric: str, entity: str, stat: str) -> dict[str, object]:
        return {"Id": f"{stat.lower()}{i}", "MetricStat": {
            "Metric": {"Namespace": NAMESPACE, "MetricName": metric, "Dimensions": [{"Name": "Entity", "Value": entity}]},
            "Period": window, "Stat": stat}}

    answer = cloudwatch(endpoint).get_metric_data(  # type: ignore[attr-defined]
        MetricDataQueries=[query(i, metric, entity, stat) for i, (metric, entity) in enumerate(figures)
                           for stat in ("Maximum", "SampleCount")],
        StartTime=start, EndTime=end,
    )
    values = {r["Id"]: r["Values"] for r in answer["MetricDataResults"]}
    return [[largest] * int(count) for i in range(len(figures))
            for largest, count in [(max(values[f"maximum{i}"], default=0.0), sum(values[f"samplecount{i}"]))]]


def sample_metrics() -> dict[str, object]:
    """The figures of the sample portfolio on the golden as-of date, computed in-process."""
    portfolio = ser.read_handoffs(EXAMPLES / "handoffs")
    counts = ser.read_tables(ser.table_needs(portfolio), EXAMPLES / "dynamodb", lambda missing: {})
    return ser.compute_metrics(portfolio, counts, dt.date(2026, 11, 22))


def sample_headline() -> dict[str, dict[str, Decimal]]:
    """The headline figures of the sample portfolio."""
    return ser.headline_figures(sample_metrics())


def put_calls(proxy: SesProxy) -> list[dict[str, str]]:
    """The PutMetricData requests that went through the proxy."""
    return proxy.actions("PutMetricData")


def test_a_run_puts_every_headline_figure_once(tmp_path: Path, moto: str, ses_proxy: SesProxy,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    verify_sender(moto)
    env = write_env(tmp_path, ses_proxy.url, CLOUDWATCH_NAMESPACE=NAMESPACE)
    assert send(env) == 0
    headline = sample_headline()
    expected = ser.cloudwatch_data(headline, dt.datetime.now(dt.UTC))
    err = capsys.readouterr().err
    assert err.endswith(f"failed 0; {len(expected)} figures put in CloudWatch\n"), err
    assert len(put_calls(ses_proxy)) == 1
    # hand-checked: JADA has $7,400 of cash and burns $1,900 a month
    assert read_back(moto, "Cash", "JADA") == [7400.0]
    assert read_back(moto, "Burn", "JADA") == [1900.0]
    figures = [(d["MetricName"], d["Dimensions"][0]["Value"]) for d in expected]
    for figure, held, datum in zip(figures, read_back_all(moto, figures), expected, strict=True):
        assert held == [datum["Value"]], figure  # every figure of every entity and of the portfolio, as computed
    assert {d["Dimensions"][0]["Value"] for d in expected} >= {"Portfolio", "JADA"}
    ledger = json.loads((tmp_path / "archive" / "2026-W47" / "ledger.json").read_text())
    assert ledger["metrics:cloudwatch:1"]["state"] == "pushed"
    assert ledger["metrics:cloudwatch:1"]["values"] == str(len(expected))

    assert send(env) == 0  # a rerun puts nothing again
    assert len(put_calls(ses_proxy)) == 1
    assert read_back(moto, "Cash", "JADA") == [7400.0]


def test_a_cloudwatch_failure_leaves_the_reports_sent_and_the_rerun_puts_only_the_missing_batches(
    tmp_path: Path, moto: str, ses_proxy: SesProxy, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(ser, "CLOUDWATCH_BATCH", 10)  # moto does not enforce the limit: batches of 10 here
    verify_sender(moto)
    env = write_env(tmp_path, ses_proxy.url, CLOUDWATCH_NAMESPACE=NAMESPACE)
    # the first batch goes in; every later call is refused (the proxy answers in XML, which a JSON-protocol
    # client reads as its HTTP status only)
    ses_proxy.rules["PutMetricData"] = lambda fields, n: ("error", 400, "InvalidParameterValue", "no") if n > 1 else None
    assert send(env) == 69
    err = capsys.readouterr().err
    assert ("CloudWatch refused the figures (400); the reports were sent; rerun to put the missing "
            f"figures (namespace {NAMESPACE})") in err, err
    assert "sent 8 (" in err and len(moto_messages(moto)) == 8
    states = {k: v["state"] for k, v in json.loads(
        (tmp_path / "archive" / "2026-W47" / "ledger.json").read_text()).items() if k.startswith("metrics:")}
    total = len(ser.cloudwatch_data(sample_headline(), dt.datetime.now(dt.UTC)))
    n_batches = -(-total // 10)
    assert n_batches >= 3
    assert states == {"metrics:cloudwatch:1": "pushed", "metrics:cloudwatch:2": "failed"}
    first_batch = ses_proxy.actions("PutMetricData")[0]

    before = len(put_calls(ses_proxy))
    del ses_proxy.rules["PutMetricData"]
    assert send(env) == 0
    calls = put_calls(ses_proxy)[before:]
    assert len(calls) == n_batches - 1  # batch 1 is not put again
    assert first_batch not in calls
    states = {k: v["state"] for k, v in json.loads(
        (tmp_path / "archive" / "2026-W47" / "ledger.json").read_text()).items() if k.startswith("metrics:")}
    assert states == {f"metrics:cloudwatch:{i}": "pushed" for i in range(1, n_batches + 1)}
    assert read_back(moto, "Cash", "JADA") == [7400.0]


@pytest.mark.parametrize("namespace", ["AWS/EC2", "bad*name", "x" * 256])
def test_a_bad_namespace_sends_nothing(tmp_path: Path, moto: str, namespace: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    verify_sender(moto)
    env = write_env(tmp_path, moto, CLOUDWATCH_NAMESPACE=namespace)
    assert send(env) == 78
    err = capsys.readouterr().err
    assert err.startswith("send_exec_reports: CLOUDWATCH_NAMESPACE=") and err.count("\n") == 1
    assert moto_messages(moto) == []


def test_a_rerun_reuses_the_first_timestamp_so_a_repeated_batch_is_the_same_data(tmp_path: Path,
                                                                                   moto: str) -> None:
    first = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)).replace(second=0, microsecond=0)
    ledger = ser.Ledger(ser.FolderArchive(tmp_path), "2026-W47")
    # a run put batch 1 at `first`, then died before recording it
    ledger.record("metrics:cloudwatch:1", "pushing", namespace=NAMESPACE, values="32", timestamp=first.isoformat())
    after = ser.AfterSend(namespace=NAMESPACE, cloudwatch=cloudwatch(moto))
    metrics = sample_metrics()
    now = dt.datetime.now(dt.UTC)
    assert ser.push_metrics(ledger, after, ser.headline_figures(metrics), metrics["as_of"], now) > 0
    answer = cloudwatch(moto).get_metric_data(  # type: ignore[attr-defined]
        MetricDataQueries=[{"Id": "m", "MetricStat": {
            "Metric": {"Namespace": NAMESPACE, "MetricName": "Cash",
                       "Dimensions": [{"Name": "Entity", "Value": "JADA"}]},
            "Period": 60, "Stat": "Maximum"}}],
        StartTime=first - dt.timedelta(hours=1), EndTime=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
    )
    result = answer["MetricDataResults"][0]
    assert [t.astimezone(dt.UTC) for t in result["Timestamps"]] == [first] and result["Values"] == [7400.0]
    assert ledger.entries["metrics:cloudwatch:1"]["timestamp"] == first.isoformat()


def test_a_rerun_more_than_two_weeks_later_puts_the_figures_now(tmp_path: Path, moto: str) -> None:
    """CloudWatch refuses data points over two weeks old (moto does not): a late rerun does not reuse
    the first timestamp, or every rerun would fail."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    stale = now - dt.timedelta(days=20)
    ledger = ser.Ledger(ser.FolderArchive(tmp_path), "2026-W47")
    ledger.record("metrics:cloudwatch:1", "pushing", namespace=NAMESPACE, values="32", timestamp=stale.isoformat())
    after = ser.AfterSend(namespace=NAMESPACE, cloudwatch=cloudwatch(moto))
    metrics = sample_metrics()
    assert ser.push_metrics(ledger, after, ser.headline_figures(metrics), metrics["as_of"], now) > 0
    assert ledger.entries["metrics:cloudwatch:1"]["timestamp"] == now.isoformat()


def test_a_value_cloudwatch_cannot_hold_is_left_out() -> None:
    """CloudWatch refuses a magnitude outside about 1e-109 to 1e108 (and the whole call with it): such a
    figure, an infinite one and a name that is not a headline metric stay out; zero and cents go."""
    when = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)
    headline = {"Acme": {"cash": Decimal("1e200"), "burn": Decimal("1e-200"), "events": Decimal("Infinity"),
                         "revenue_avg": Decimal(0), "expenses_avg": Decimal("-12.50"), "margin": Decimal(5)}}
    data = ser.cloudwatch_data(headline, when)
    assert [(d["MetricName"], d["Value"], d["Dimensions"]) for d in data] == [
        ("Expenses3MonthAverage", -12.5, [{"Name": "Entity", "Value": "Acme"}]),
        ("Revenue3MonthAverage", 0.0, [{"Name": "Entity", "Value": "Acme"}]),
    ]


def jada_cash_points(endpoint: str, around: dt.datetime) -> list[tuple[dt.datetime, float]]:
    """The (timestamp, value) points of JADA's Cash within 30 days of `around` (GetMetricStatistics)."""
    answer = cloudwatch(endpoint).get_metric_statistics(  # type: ignore[attr-defined]
        Namespace=NAMESPACE, MetricName="Cash", Dimensions=[{"Name": "Entity", "Value": "JADA"}],
        StartTime=around - dt.timedelta(days=30), EndTime=around + dt.timedelta(days=1),
        Period=60, Statistics=["Maximum"],
    )
    return sorted((p["Timestamp"].astimezone(dt.UTC), p["Maximum"]) for p in answer["Datapoints"])


AS_OF = dt.date(2026, 11, 22)  # the sample's as-of date (a Sunday)
AS_OF_END = dt.datetime(2026, 11, 22, 23, 59, 59, tzinfo=dt.UTC)


@pytest.mark.parametrize(("now", "expected"), [
    # the as-of day is today: its end is still ahead, and CloudWatch refuses points over two hours ahead
    (dt.datetime(2026, 11, 22, 7, 30, tzinfo=dt.UTC), dt.datetime(2026, 11, 22, 7, 30, tzinfo=dt.UTC)),
    # a send for a week three days back: the figures belong to that day, not to today
    (dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC), AS_OF_END),
    # twenty days back is older than CloudWatch takes: now, as for a late rerun
    (dt.datetime(2026, 12, 12, 9, 0, tzinfo=dt.UTC), dt.datetime(2026, 12, 12, 9, 0, tzinfo=dt.UTC)),
], ids=["as-of-today", "as-of-3-days-ago", "as-of-20-days-ago"])
def test_the_figures_go_at_the_end_of_the_as_of_day_when_cloudwatch_takes_it(
    tmp_path: Path, moto: str, now: dt.datetime, expected: dt.datetime,
) -> None:
    ledger = ser.Ledger(ser.FolderArchive(tmp_path), "2026-W47")
    after = ser.AfterSend(namespace=NAMESPACE, cloudwatch=cloudwatch(moto))
    metrics = sample_metrics()
    assert metrics["as_of"] == AS_OF
    assert ser.push_metrics(ledger, after, ser.headline_figures(metrics), AS_OF, now) > 0
    assert jada_cash_points(moto, now) == [(expected, 7400.0)]  # hand-checked: JADA has $7,400 of cash
    assert ledger.entries["metrics:cloudwatch:1"]["timestamp"] == expected.isoformat()

    # a rerun a day later puts a missing batch at the first push's timestamp, not at its own now
    ledger.record("metrics:cloudwatch:1", "pushing", namespace=NAMESPACE, values="1", timestamp=expected.isoformat())
    assert ser.push_metrics(ledger, after, ser.headline_figures(metrics), AS_OF, now + dt.timedelta(days=1)) > 0
    assert jada_cash_points(moto, now) == [(expected, 7400.0)]
    assert ledger.entries["metrics:cloudwatch:1"]["timestamp"] == expected.isoformat()


def test_an_as_of_date_ahead_of_now_puts_the_figures_now() -> None:
    """An as-of day in the future (a clock behind, or a send prepared ahead) never stamps ahead of now."""
    now = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
    assert ser.cloudwatch_timestamp(AS_OF, now) == now
    # the boundary: exactly CLOUDWATCH_MAX_AGE_DAYS after the day's end still goes at that end; a second more, now
    edge = AS_OF_END + dt.timedelta(days=ser.CLOUDWATCH_MAX_AGE_DAYS)
    assert ser.cloudwatch_timestamp(AS_OF, edge) == AS_OF_END
    assert ser.cloudwatch_timestamp(AS_OF, edge + dt.timedelta(seconds=1)) == edge + dt.timedelta(seconds=1)


# ---------------------------------------------------------------------------
# A damaged metrics entry, and CloudWatch's dimension alphabet


def test_a_metrics_timestamp_that_is_not_a_time_is_named_not_a_traceback(
        tmp_path: Path, moto: str, ses_proxy: SesProxy, capsys: pytest.CaptureFixture[str]) -> None:
    """Found by an attack: a metrics batch in the ledger whose timestamp is not a time raised ValueError from fromisoformat after the sends."""
    verify_sender(moto)
    write_ledger(tmp_path, "2026-W47", {**{i: sent(i) for i in IDS}, "metrics:cloudwatch:1": {
        "state": "pushing", "at": "2026-11-22T08:00:09+00:00", "namespace": "ExecReports", "values": "3",
        "timestamp": "last tuesday"}})
    env = write_env(tmp_path, ses_proxy.url, CLOUDWATCH_NAMESPACE="ExecReports")
    assert send(env) == ser.ExitStatus.CONFIG  # was: ValueError from fromisoformat, after the sends
    err = capsys.readouterr().err
    assert "the send ledger is damaged" in err and "timestamp" in err


def test_every_dimension_value_is_one_cloudwatch_takes() -> None:
    """Found by an attack: CloudWatch takes only ASCII dimension values (moto takes any): the name is folded to ASCII."""
    headline = {"Café Holdings": {"cash": ser.Decimal(5)}, "Portfolio": {"cash": ser.Decimal(5)}}
    data = ser.cloudwatch_data(headline, ser.dt.datetime(2026, 11, 22, tzinfo=ser.dt.UTC))
    values = [d["Dimensions"][0]["Value"] for d in data]
    # the API reference's rule for Dimension.Value: 1-1024 ASCII characters, no control
    # characters, at least one that is not white space
    assert values and all(v.isascii() and v.isprintable() and v.strip() and len(v) <= 1024 for v in values), values
    assert values == ["Cafe Holdings", "Portfolio"]


def test_names_that_fold_to_the_same_dimension_keep_series_of_their_own() -> None:
    """Found by an attack: names that fold to the same ASCII dimension shared one series; each keeps its own, the same every week."""
    taken: set[str] = set()
    names = ["Café", "Cafe", "東京", "Cafe\u0301", "Cafe"]
    values = [ser.cloudwatch_dimension(n, taken) for n in names[:4]]
    assert "Cafe" in values and values[2].startswith("entity (")
    assert len(set(values)) == 4 and all(v.isascii() and v.isprintable() and v.strip() for v in values), values
    again: set[str] = set()
    assert [ser.cloudwatch_dimension(n, again) for n in names[:4]] == values  # the same every week
