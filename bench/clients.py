"""What making a run's AWS clients costs: botocore's models read once a process, or once a client.

    .venv/bin/python bench/clients.py [--runs 9]

Each turn is a fresh process (as cron starts one) that imports send_exec_reports and boto3,
then makes the clients a fully configured run makes (the secret, the inputs in S3, the
DynamoDB scan, the estate's four, the S3 archive, the events queue, SES and SESv2 for the
check, SES for the send, CloudWatch), timing only those calls (CPU of the process):
`shared` through the tool's aws_client (models read once a process, aws_models), `fresh`
through a new boto3 session per client with its own reader (how aws_client made them before).
No request is sent. Then, in one process, the same clients made eight times over (a warm Lambda
container, or the suite, runs many times in one process). Turns alternate; medians are printed
and a dated line is appended to bench/results.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("secretsmanager", "s3", "s3", "dynamodb", "lambda", "s3", "cloudwatch", "cloudfront", "s3",
            "sqs", "ses", "sesv2", "ses", "cloudwatch")

CHILD = r"""
import sys, time
import boto3
import send_exec_reports as ser
way, rounds, services = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(",")
settings = ser.Settings(env_file=None, values={"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                        "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}, handoff_dir=None, export_dir=None,
                        archive_dir=None, region="us-east-1")

def fresh(service):
    return boto3.session.Session(aws_access_key_id="bench", aws_secret_access_key="bench",
                                 region_name="us-east-1").client(service, endpoint_url="http://127.0.0.1:9")

make = (lambda s: ser.aws_client(settings, s)) if way == "shared" else fresh
start = time.process_time()
for _ in range(rounds):
    for service in services:
        make(service)
print(time.process_time() - start)
"""


def turn(way: str, rounds: int) -> float:
    """Seconds of CPU one fresh process spent making the clients `rounds` times."""
    out = subprocess.run([sys.executable, "-c", CHILD, way, str(rounds), ",".join(SERVICES)], cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, check=True)
    return float(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    runs = parser.parse_args().runs
    load_before = os.getloadavg()[0]
    cases = {}
    for rounds in (1, 8):
        times: dict[str, list[float]] = {"fresh": [], "shared": []}
        for _ in range(runs):
            for way in times:
                times[way].append(turn(way, rounds))
        cases[rounds] = {way: statistics.median(t) * 1000 for way, t in times.items()}
    load_after = os.getloadavg()[0]
    lines = []
    for rounds, ms in cases.items():
        what = "one run" if rounds == 1 else f"{rounds} runs in one process"
        lines.append(f"{len(SERVICES)} clients x {rounds} ({what}): a session's own models {ms['fresh']:.0f} ms, "
                     f"models once a process {ms['shared']:.0f} ms")
    for line in lines:
        print(line)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    with open(ROOT / "bench" / "results.md", "a", encoding="utf-8") as results:
        results.write(f"- {stamp} {commit}, load {load_before:.1f}/{load_after:.1f}, median of {runs}, "
                      f"AWS clients (CPU): {'; '.join(lines)}\n")


if __name__ == "__main__":
    main()
