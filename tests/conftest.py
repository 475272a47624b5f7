"""Shared fixtures: a clean environment, installed copies of the tool, moto's server."""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent

# A host may export PYTHONDONTWRITEBYTECODE: then every test process (each xdist worker) compiled
# the tool and rewrote every test module's asserts from source, about 1.7 s of CPU each time. The
# compiled files go to __pycache__ folders, which git ignores; children of the tests, started with
# an environment of their own, are not affected.
sys.dont_write_bytecode = False
EXAMPLES = ROOT / "examples"

# Python's cycle collector walks every live object in a full collection, and a test process holds
# 250,000-450,000 of them by its end (the AWS SDK's and moto's service models, the modules loaded):
# about 5 s of CPU over a run. Every TESTS_PER_FREEZE tests, between two tests, the garbage is
# collected and what is left alive (what earlier tests loaded and keeps) is set aside from later
# collections (gc.freeze(), as the tool does for a run): a full collection then walks only what
# the tests since made. Nothing a test makes is set aside while it runs. From the first freeze on,
# the collector's own full collections wait for FULL_COLLECTIONS_AFTER collections of the middle
# generation (about seven million allocations), so the freezes make nearly all of them; young
# garbage is still collected as usual.
TESTS_PER_FREEZE = 50
FULL_COLLECTIONS_AFTER = 1000  # Python's default is 10
_tests_run = 0


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before every TESTS_PER_FREEZE-th test: collect, then set aside what is left (see TESTS_PER_FREEZE)."""
    import gc

    global _tests_run
    _tests_run += 1
    if _tests_run % TESTS_PER_FREEZE == 0:
        gc.collect()
        gc.freeze()
        young, middle, _ = gc.get_threshold()
        gc.set_threshold(young, middle, FULL_COLLECTIONS_AFTER)


def pytest_unconfigure(config: pytest.Config) -> None:
    """An xdist worker whose tests are done and reported leaves without tearing down its interpreter.

    Python's exit frees each of the worker's objects and modules one by one (about half a second
    of CPU a worker); the results went to the main process before, and the worker's exit status
    is not read. The main process (and a run without xdist) exits as usual.
    """
    if hasattr(config, "workerinput"):  # set by xdist in its workers only
        import atexit

        atexit.register(os._exit, 0)  # the last handler registered runs first: after the worker's channel closed


# The AWS SDK's own configuration: credentials, profiles, endpoints and regions the host
# may have set for other tools. Every AWS_* name is cleared; these are then pointed at nothing.
AWS_SDK_PREFIX = "AWS_"


def host_settings(environ: dict[str, str]) -> list[str]:
    """Names in environ that would reach a run: every setting the tool itself knows (its own
    list, EXEC_REPORT_TO_<ID> included) and every AWS SDK variable."""
    import send_exec_reports as ser

    return [name for name in environ if ser.known_setting(name) or name.startswith(AWS_SDK_PREFIX)]


@pytest.fixture(scope="session")
def no_aws_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder that is never made: the AWS SDK's configuration and credentials files named in it do not exist."""
    return tmp_path_factory.getbasetemp() / "no-aws-files"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, no_aws_files: Path) -> None:
    """No setting or AWS credential of the host leaks into a test.

    The SDK's files are named in a folder that no test makes, not in each test's tmp_path: half the
    tests need no folder of their own, and pytest lists every earlier test's folder to number a new one.
    """
    for name in host_settings(dict(os.environ)):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(no_aws_files / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(no_aws_files / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never ask a non-loopback address for credentials


# The three required keys, front-matter lines 2-4 of a handoff.
FRONT = "entity: Acme\nstatus: active\nupdated: 2026-11-20\n"


def write_portfolio(root: Path, front: str = FRONT, name: str = "acme.md") -> Path:
    """A one-document portfolio under root/handoffs."""
    folder = root / "handoffs"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(f"---\n{front}---\nNotes.\n", encoding="utf-8")
    return folder


def portfolio_with(tmp_path: Path, *fronts: str, exports: bool = False) -> Path:
    """Handoffs under tmp_path/handoffs (doc0.md, doc1.md, ...: one per front matter) and a repos.env; the env file."""
    folder = tmp_path / "handoffs"
    folder.mkdir(exist_ok=True)
    for i, front in enumerate(fronts):
        (folder / f"doc{i}.md").write_text(f"---\n{front}---\nNotes.\n", encoding="utf-8")
    env = tmp_path / "repos.env"
    env.write_text("HANDOFF_DIR=handoffs\n" + ("DYNAMODB_EXPORT_DIR=exports\n" if exports else ""))
    return env


def dry_run_of(env: Path, capsys: pytest.CaptureFixture[str], *only: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of an in-process dry run as of 2026-11-22, of the reports named (all if none)."""
    import send_exec_reports as ser

    code = ser.main(["--dry-run", "--env-file", str(env), "--as-of", "2026-11-22", *(["--only", *only] if only else [])])
    out, err = capsys.readouterr()
    return code, out, err


def sample_metrics() -> dict:
    """The figures of the sample portfolio for the golden as-of date, computed in-process."""
    import datetime as dt

    import send_exec_reports as ser

    portfolio = ser.read_handoffs(EXAMPLES / "handoffs")
    counts = ser.read_tables(ser.table_needs(portfolio), EXAMPLES / "dynamodb")
    return ser.compute_metrics(portfolio, counts, dt.date(2026, 11, 22))


def write_ledger(folder: Path, period: str, entries: dict[str, dict[str, object]]) -> Path:
    """A ledger.json in the archive folder (folder/archive) for `period`."""
    path = folder / "archive" / period / "ledger.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(entries), encoding="utf-8")
    return path


def sent(report_id: str) -> dict[str, object]:
    """A ledger entry for a report sent in an earlier run."""
    return {"state": "sent", "at": "2026-11-22T08:00:00+00:00", "subject": report_id, "message_id": f"m-{report_id}"}


# Under cron (stderr no terminal, as in every test that captures it) each line of the log
# opens with the UTC time and the period, and a failed run ends with a "run failed" line.
# Tests of what a line says read the lines as a terminal shows them; tests/test_cli.py
# checks the cron form itself.
CRON_STAMP = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z [^ \n]+ ", re.MULTILINE)
CRON_FAILED = re.compile(r"^send_exec_reports: run failed: exit [0-9]+ \([^\n]*\)\n", re.MULTILINE)


def as_on_a_terminal(err: str) -> str:
    """The log as a terminal shows it: without cron's time and period, and without a failed run's last line."""
    return CRON_FAILED.sub("", CRON_STAMP.sub("", err))


@pytest.fixture
def capsys(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    """pytest's capsys, its stderr read as a terminal shows it (see as_on_a_terminal)."""
    read = capsys.readouterr

    def readouterr() -> Any:
        captured = read()
        return captured._replace(err=as_on_a_terminal(captured.err))

    capsys.readouterr = readouterr  # type: ignore[method-assign]
    yield capsys


def _compiled_tool() -> Path:
    """The tool's compiled code, made once (it is valid for every copy that keeps the file's time and size)."""
    import importlib.util
    import py_compile

    source = ROOT / "send_exec_reports.py"
    compiled = Path(importlib.util.cache_from_source(str(source)))
    if not compiled.exists() or compiled.stat().st_mtime < source.stat().st_mtime:
        py_compile.compile(str(source), cfile=str(compiled), doraise=True)
    return compiled


def install_copy(dest: Path, *, examples: bool = True) -> Path:
    """Copy the script, its templates and (optionally) the sample portfolio to dest, with the script's
    compiled code, so that a child started with `tool_command` does not compile 9,000 lines again."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "send_exec_reports.py", dest)
    compiled = _compiled_tool()
    (dest / "__pycache__").mkdir(exist_ok=True)
    shutil.copy2(compiled, dest / "__pycache__" / compiled.name)
    shutil.copytree(ROOT / "reports", dest / "reports")
    if examples:
        shutil.copytree(EXAMPLES / "handoffs", dest / "examples" / "handoffs")
        shutil.copytree(EXAMPLES / "dynamodb", dest / "examples" / "dynamodb")
    return dest / "send_exec_reports.py"


@pytest.fixture
def same_place(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty folder at the same path in every test of this process (each xdist worker has its own).

    For tests that run the tool in a child process from a copy: a run compiles the report
    templates once per folder (Jinja2's cache is keyed by each template's path), about 0.3 s
    of CPU that a copy in a new folder per test paid every time. Emptied before each test:
    nothing but the path is shared.
    """
    folder = tmp_path_factory.getbasetemp() / "same-place"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir()
    return folder


@pytest.fixture
def installed(same_place: Path) -> Path:
    """The tool copied to its own folder with the sample portfolio and no repos.env."""
    return install_copy(same_place / "app")


# A child process that runs the script as its main program, from its compiled code: `python
# send_exec_reports.py` compiles the whole file every time (a script's code is never cached),
# about 0.12 s of CPU a child. The same process otherwise: the same file, __name__ "__main__",
# sys.argv[0] the script's path, the environment and the folder the test gives. The commands the
# README shows, the golden dry run and cron's empty environment still run `python <script>`.
_RUN_AS_MAIN = ("import runpy, sys; sys.path.insert(0, sys.argv.pop(1)); "
                "runpy.run_module('send_exec_reports', run_name='__main__', alter_sys=True)")


def tool_command(script: Path, *args: str) -> list[str]:
    """The command line of a child process running the script (see _RUN_AS_MAIN)."""
    return [sys.executable, "-c", _RUN_AS_MAIN, str(script.parent), *args]


def run_script(script: Path, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
               timeout: float = 60, as_written: bool = False) -> subprocess.CompletedProcess[str]:
    """Run the script as cron would: a child process with exactly the environment given
    (as_written: `python <script>` itself, as the README writes it)."""
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    result = subprocess.run(
        [sys.executable, str(script), *args] if as_written else tool_command(script, *args),
        env={**base, **(env or {})},
        cwd=cwd or script.parent,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    result.stderr = as_on_a_terminal(result.stderr)  # the lines as written, cron's stamps aside (see above)
    return result


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto in server mode on a loopback port, for boto3 over real HTTP."""
    import moto.backends
    from moto.server import ThreadedMotoServer

    # moto's server lists its own package folder (about 170 stat calls, 0.6 ms) on every request to
    # find the service it is for; the folder does not change while the tests run, so it is listed once.
    modules = tuple(moto.backends.list_of_moto_modules())
    # werkzeug logs every request at INFO, and a run leaves the root logger at INFO: each of the
    # thousands of requests was formatted and kept by pytest's log capture. Its warnings still show.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(moto.backends, "list_of_moto_modules", lambda: modules)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
        server.stop()


@functools.cache
def aws(service: str, endpoint: str, region: str = "us-west-2") -> Any:
    """A boto3 client on moto's server (or a local proxy in front of it) with test credentials, for the
    tests' own calls (setting up, reading back). Made once a process for each service, endpoint and
    region: a client costs about 8 ms of CPU to make, and moto's reset does not touch it. No test
    changes a client made here (a test that hooks a client's events makes its own)."""
    import boto3

    return boto3.client(service, endpoint_url=endpoint, region_name=region, aws_access_key_id="testing",
                        aws_secret_access_key="testing")


def put_in_moto(bucket: str, key: str, body: bytes) -> None:
    """Put an object in a bucket of moto's server through moto's own S3 backend, for a test's inputs.

    The server runs in this process: a GetObject or ListObjectsV2 over HTTP (the tool's, the
    test's) answers with the object as with one PUT over HTTP, without a signed request for it
    (4.5 ms of CPU an object, client and server: half a second for the sample's exports). The
    bucket is made over HTTP first, as the tests do (credentials "testing": moto's default account).
    """
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    s3_backends[DEFAULT_ACCOUNT_ID]["aws"].put_object(bucket, key, body)


@pytest.fixture
def moto(moto_endpoint: str) -> str:
    """moto's server, reset to empty for this test."""
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST"), timeout=10)
    return moto_endpoint


# serve_forever looks for a shutdown request once per poll interval; at its default 0.5 s
# every test that stops a local server waited half a second in teardown (at 0.02 s, hundreds of
# tests still waited 10 ms each: seconds of the suite). Waking 200 times a second costs no
# measurable CPU.
SERVER_POLL_SECONDS = 0.005


def serve_in_background(server: object) -> threading.Thread:
    """Run a socketserver on a daemon thread that stops within SERVER_POLL_SECONDS of shutdown()."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": SERVER_POLL_SECONDS},  # type: ignore[attr-defined]
                              daemon=True)
    thread.start()
    return thread


def serve_loopback(handler: type) -> tuple[object, str]:
    """A threaded HTTP server on 127.0.0.1 (a free port) answering with `handler`, running; and its URL."""
    from http.server import ThreadingHTTPServer

    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    serve_in_background(server)
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def stop_server(server: object) -> None:
    """Stop a server from serve_loopback and free its port."""
    server.shutdown()  # type: ignore[attr-defined]
    server.server_close()  # type: ignore[attr-defined]


def run_on_terminal(args: list[str], **kwargs: object) -> tuple[subprocess.CompletedProcess[bytes], bytes]:
    """Run a command with its stderr on a pseudo-terminal (as when a person runs it); what that terminal showed."""
    controller, terminal = os.openpty()
    try:
        try:
            result = subprocess.run(args, stderr=terminal, **kwargs)  # type: ignore[call-overload]
        finally:
            os.close(terminal)
        shown = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal closed: all was read
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(controller)
    return result, shown


class SesProxy:
    """A local HTTP server in front of moto that can answer SES errors, slow or hang.

    `quota` is the (MaxSendRate, Max24HourSend) GetSendQuota answers with, instead of
    moto's 1 a second: by default 1,000 recipients a second, so that a run paces its
    messages 3 ms apart and a test does not wait in earnest (tests of pacing set their
    own rate, or inject the clock); `rules` maps an SES action to a function of (the request's
    form fields, how many times the action was seen) returning None (forward to moto),
    ("error", http_status, code, message), ("delay", seconds), ("hang",) (forward,
    then never answer), ("after", http_status, code, message) (forward, then answer
    that error), ("garbage",) (forward, then answer 200 with an HTML page) or ("answer",
    http_status, body, content_type) (answer that, without forwarding).
    """

    def __init__(self, upstream: str) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler

        self.upstream = upstream
        self.quota: tuple[float, float] | None = (1000.0, 50000.0)
        self.rules: dict[str, object] = {}
        self.seen: list[tuple[str, float, dict[str, str]]] = []
        # each request as (method, path, the service its signature names, action, fields): what a run asked of AWS
        self.requests: list[tuple[str, str, str, str, dict[str, str]]] = []
        self.hung = threading.Event()
        self.release = threading.Event()
        self.account: dict[str, object] | None = None
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return None

            def do_GET(self) -> None:
                self._handle(b"")

            def do_POST(self) -> None:
                self._handle(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

            def do_PUT(self) -> None:  # S3 (an archive in s3://) passes through to moto unchanged
                if self.headers.get("Expect", "").lower() == "100-continue":  # boto3 waits a second without it
                    self.send_response_only(100)
                    self.end_headers()
                self.do_POST()

            do_DELETE = do_POST

            def _handle(self, body: bytes) -> None:
                import time
                import urllib.parse

                fields = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode(errors="replace")).items()}
                action = fields.get("Action", self.path)
                target = self.headers.get("X-Amz-Target", "")
                if "Action" not in fields and target:  # a JSON-protocol call (CloudWatch, SQS): its fields as JSON
                    action = target.rsplit(".", 1)[-1]
                    try:
                        fields = json.loads(body or b"{}")
                    except ValueError:
                        fields = {}
                count = sum(1 for a, _, _ in proxy.seen if a == action) + 1
                proxy.seen.append((action, time.monotonic(), fields))
                scope = self.headers.get("Authorization", "").split("Credential=", 1)[-1].split("/")
                proxy.requests.append((self.command, self.path, scope[3] if len(scope) > 3 else "", action, fields))
                if self.path == "/v2/email/account" and proxy.account is not None:
                    return self._answer(200, json.dumps(proxy.account).encode(), "application/json")
                if action == "GetSendQuota" and proxy.quota is not None and action not in proxy.rules:
                    rate, daily = proxy.quota
                    return self._answer(200, (
                        '<GetSendQuotaResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/">'
                        f"<GetSendQuotaResult><SentLast24Hours>0</SentLast24Hours><Max24HourSend>{daily}"
                        f"</Max24HourSend><MaxSendRate>{rate}</MaxSendRate></GetSendQuotaResult>"
                        "<ResponseMetadata><RequestId>q</RequestId></ResponseMetadata></GetSendQuotaResponse>"
                    ).encode())
                rule = proxy.rules.get(action)
                verdict = rule(fields, count) if callable(rule) else None
                if verdict and verdict[0] == "error":
                    return self._error(*verdict[1:])
                if verdict and verdict[0] == "answer":
                    return self._answer(*verdict[1:])
                if verdict and verdict[0] == "delay":
                    time.sleep(verdict[1])
                status, payload, ctype, passed = self._forward(body)
                if verdict and verdict[0] == "after":
                    return self._error(*verdict[1:])
                if verdict and verdict[0] == "garbage":
                    return self._answer(200, b"<html><body>Gateway says hello</body></html>", "text/html")
                if verdict and verdict[0] == "hang":
                    proxy.hung.set()
                    proxy.release.wait(120)
                    return None
                return self._answer(status, payload, ctype, passed)

            def _forward(self, body: bytes) -> tuple[int, bytes, str, list[tuple[str, str]]]:
                import http.client
                import urllib.parse

                target = urllib.parse.urlsplit(proxy.upstream)
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                response = conn.getresponse()
                data = response.read()
                conn.close()
                passed = [(k, v) for k, v in response.getheaders()  # S3's ETag and x-amz-* headers
                          if k.lower() == "etag" or k.lower().startswith("x-amz-")]
                return response.status, data, response.getheader("Content-Type", "text/xml"), passed

            def _error(self, status: int, code: str, message: str) -> None:
                self._answer(status, (
                    '<ErrorResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/"><Error>'
                    f"<Type>{'Sender' if status < 500 else 'Receiver'}</Type><Code>{code}</Code>"
                    f"<Message>{message}</Message></Error><RequestId>e</RequestId></ErrorResponse>"
                ).encode())

            def _answer(self, status: int, payload: bytes, ctype: str = "text/xml",
                        passed: list[tuple[str, str]] = ()) -> None:
                self.send_response(status)
                for name, value in passed:
                    self.send_header(name, value)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server, self.url = serve_loopback(Handler)

    def actions(self, name: str) -> list[dict[str, str]]:
        """The form fields of every request for one action, in order."""
        return [fields for action, _, fields in self.seen if action == name]

    def close(self) -> None:
        """Stop the server, releasing any hung request."""
        self.release.set()
        stop_server(self.server)


@pytest.fixture
def ses_proxy(moto: str) -> Iterator[SesProxy]:
    """An SES proxy in front of a freshly reset moto."""
    proxy = SesProxy(moto)
    yield proxy
    proxy.close()


@pytest.fixture
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """SES's throttling backoff shortened for a whole run in-process: each retry waited 0.25 s, 0.5 s, ...
    in earnest. The waits themselves are asserted on SesSender with a recorded sleep
    (test_delivery.py: test_throttling_is_retried_with_doubling_waits)."""
    import send_exec_reports as ser

    monkeypatch.setattr(ser, "BACKOFF_BASE_SECONDS", 0.001)


def moto_messages(endpoint: str) -> list[dict[str, object]]:
    """Every message moto's SES accepted, from /moto-api/data.json."""
    import urllib.request

    with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=10) as response:
        data = json.load(response)
    return data.get("ses", {}).get("Message", [])


@pytest.fixture(scope="session")
def bench_portfolio_300(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of bench/'s generated portfolio at 300 handoffs (900 export items; seed 7), with its
    repos.env (handoffs/ and dynamodb/ beside it, no archive).

    Made once a session (each test that generated its own spent 0.08 s): tests read it and must not change it.
    """
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from make_portfolio import generate
    finally:
        sys.path.remove(str(ROOT / "bench"))
    folder = tmp_path_factory.mktemp("bench300")
    generate(folder, 300, 900)
    return folder


@pytest.fixture(scope="session")
def bench_metrics_300(bench_portfolio_300: Path) -> dict[str, object]:
    """The figures of bench_portfolio_300 as of 2026-11-22.

    Made once a session: tests render from it and must not change it.
    """
    import datetime as dt

    import send_exec_reports as ser

    portfolio = ser.read_handoffs(bench_portfolio_300 / "handoffs")
    counts = ser.read_tables(ser.table_needs(portfolio), bench_portfolio_300 / "dynamodb")
    return ser.compute_metrics(portfolio, counts, dt.date(2026, 11, 22))
