"""The Lambda package: its size, and a cold invocation's time and peak memory, measured locally.

    python bench/lambda.py [--runs 5]

Builds the package with scripts/build_lambda.py (the zip for arm64 / Python 3.12, whose size
is what AWS stores; and the same folder with this machine's libraries, which is what runs
here), then times fresh processes that import the handler and call it once, as a cold
container does: a dry run of the sample portfolio (no AWS), and a real send of its eight
reports as the deployed function makes it: the handoffs and exports read from S3, the
settings in a Secrets Manager secret and the ledger in S3, all on moto's server in this
process (the child's peak RSS is the function's alone). The send's time
includes SES's pacing at moto's one message a second, as an account in the SES sandbox has.
Prints a table and appends a dated line to bench/results.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import build_lambda

EXAMPLES = ROOT / "examples"
RESULTS = ROOT / "bench" / "results.md"
CHILD = """
import json, sys, time
start = time.perf_counter()
import send_exec_reports
result = send_exec_reports.lambda_handler(json.loads(sys.argv[1]), None)
print(json.dumps({"seconds": time.perf_counter() - start, "result": result}))
"""


def cold(package: Path, event: dict[str, object], env: dict[str, str]) -> tuple[float, float, int]:
    """One fresh process: (whole process seconds, import + handler seconds, peak RSS KiB)."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(event)], cwd=package, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8",
                                                         "PYTHONPATH": str(package), **env})
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    out, err = proc.stdout.read().decode(), proc.stderr.read().decode()  # type: ignore[union-attr]
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"the invocation failed: {err.strip()[-2000:]}")
    return wall, json.loads(out.splitlines()[-1])["seconds"], usage.ru_maxrss


def aws_world(endpoint: str) -> dict[str, str]:
    """moto emptied, then the sample in S3, the secret, the archive's bucket and the verified sender; the function's
    environment (what template.yaml sets: the secret, the inputs and the archive)."""
    import boto3

    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10)
    kw = {"endpoint_url": endpoint, "region_name": "us-west-2", "aws_access_key_id": "testing",
          "aws_secret_access_key": "testing"}
    boto3.client("ses", **kw).verify_email_identity(EmailAddress="reports@example.com")
    s3 = boto3.client("s3", **kw)
    s3.create_bucket(Bucket="reports", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    for name in ("handoffs", "dynamodb"):  # as `aws s3 sync examples/NAME s3://reports/exec-reports/NAME` puts them
        for path in sorted(p for p in (EXAMPLES / name).rglob("*") if p.is_file()):
            key = f"exec-reports/{name}/{path.relative_to(EXAMPLES / name).as_posix()}"
            s3.put_object(Bucket="reports", Key=key, Body=path.read_bytes())
    boto3.client("secretsmanager", **kw).create_secret(Name="exec-reports/settings", SecretString=json.dumps({
        "SES_FROM_ADDRESS": "reports@example.com", "EXEC_REPORT_TO": "owner@example.com",
        "EXEC_REPORT_BCC": "admin@example.com"}))
    return {"AWS_REGION": "us-west-2", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_ENDPOINT_URL": endpoint, "SETTINGS_SECRET_ID": "exec-reports/settings",
            "HANDOFF_DIR": "s3://reports/exec-reports/handoffs", "DYNAMODB_EXPORT_DIR": "s3://reports/exec-reports/dynamodb",
            "ARCHIVE_DIR": "s3://reports/exec-reports/archive"}


def main(argv: list[str] | None = None) -> int:
    """Build, measure, print, record."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args(argv)
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request otherwise

    folder = build_lambda.build_folder()
    zipped = build_lambda.build_zip(folder)
    unzipped = sum(i.file_size for i in zipfile.ZipFile(zipped).infolist())
    rows = [("package (arm64, Python 3.12)", f"{zipped.stat().st_size / 1e6:.1f} MB zipped, "
             f"{unzipped / 1e6:.1f} MB unzipped", "", "")]
    with tempfile.TemporaryDirectory() as tmp:
        package = Path(tmp) / "function"
        build_lambda.main(["--host", str(package)])
        sample = {"HANDOFF_DIR": str(EXAMPLES / "handoffs"), "DYNAMODB_EXPORT_DIR": str(EXAMPLES / "dynamodb")}
        event = {"dry_run": True, "as_of": "2026-11-22"}
        cold(package, event, sample)  # warm the page cache, as a container's disk is
        dry = [cold(package, event, sample) for _ in range(args.runs)]
        rows.append(("cold dry run of the sample (8 reports, no AWS)",
                     f"{statistics.median(w for w, _, _ in dry) * 1000:.0f} ms",
                     f"{statistics.median(h for _, h, _ in dry) * 1000:.0f} ms",
                     f"{max(r for _, _, r in dry) / 1024:.0f} MB"))
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            sends = []
            for _ in range(max(1, args.runs // 2)):
                env = aws_world(f"http://{host}:{port}")
                sends.append(cold(package, {"as_of": "2026-11-22"}, env))
        finally:
            server.stop()
        rows.append(("cold send of the sample: secret, inputs in S3, 8 emails, S3 ledger (moto)",
                     f"{statistics.median(w for w, _, _ in sends):.2f} s",
                     f"{statistics.median(h for _, h, _ in sends):.2f} s",
                     f"{max(r for _, _, r in sends) / 1024:.0f} MB"))
    lines = ["| case | whole process | import + handler | peak RSS |", "| --- | --- | --- | --- |"]
    lines += [f"| {' | '.join(r)} |" for r in rows]
    print("\n".join(lines))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    load = os.getloadavg()[0]
    with RESULTS.open("a", encoding="utf-8") as fh:
        fh.write(f"- {dt.datetime.now():%Y-%m-%d %H:%M} {commit}, load {load:.1f}, lambda (median of {args.runs}): "
                 + "; ".join(f"{r[0]}: {', '.join(x for x in r[1:] if x)}" for r in rows) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
