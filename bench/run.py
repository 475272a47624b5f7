"""Time the dry run against the floors it is measured by; print one table, keep a line per run.

    /work/venv/bin/python bench/run.py [--runs 3] [--quick] [--huge] [--keep DIR]

Cases, each measured beside its floor in the same run (median of --runs runs, after one
warm-up run; peak RSS is the highest of the runs):

  sample            the sample portfolio's dry run, against a one-file script's floor:
                    importing the five libraries and compiling send_exec_reports.py
                    (target <= 1.5x); its ratio to the bare import floor is shown below it
  large             2,000 handoffs + 1,000,000 export items, the whole dry run, against
                    libyaml `compose` of the same front matter plus `zcat | wc -l` of the
                    same exports (targets < 5 s, < 150 MB peak RSS, <= 2x)
  large: handoffs   read_handoffs in this process, against `compose` alone (<= 1.5x)
  large: exports    read_tables in this process, against gzip in 1 MiB blocks counting
                    lines and the done bytes (<= 3x)
  double            4,000 handoffs + 2,000,000 items, against the large case, in the same
                    turns (<= 2.1x)
  s3                20 handoffs + 1,000,000 items read from moto's S3 (HANDOFF_DIR and
                    DYNAMODB_EXPORT_DIR = s3://...), whole dry run, against the same with a
                    tenth of the items: peak RSS must not grow with the exports (<= 1.1x);
                    the same portfolio read from its folders is shown beside it
  huge (--huge)     10,000 handoffs + 5,000,000 items, run once, against the same handoffs
                    with a tenth of the items: peak RSS must not grow with the exports (<= 1.1x)

--quick runs the portfolio cases at a tenth of their size (their targets are not judged).
Portfolios come from bench/make_portfolio.py (fixed seed), generated into a temporary
folder, or into --keep DIR and reused from there. Every run appends a dated line to
bench/results.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))
from make_portfolio import generate

import send_exec_reports as ser

SCRIPT = ROOT / "send_exec_reports.py"
RESULTS = ROOT / "bench" / "results.md"
LIBRARIES = "import yaml, jinja2, markdown, html2text, dotenv"
IMPORT_FLOOR = [sys.executable, "-c", LIBRARIES]
SCRIPT_FLOOR = [sys.executable, "-c", f"{LIBRARIES}; compile(open({str(SCRIPT)!r}).read(), "
                "'send_exec_reports.py', 'exec')"]
AS_OF = "2026-11-22"


def run_once(argv: list[str], cwd: Path = ROOT) -> tuple[float, int]:
    """Run a command to completion; (wall seconds, peak RSS in KiB) of that process alone."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {err.strip()}")
    return wall, usage.ru_maxrss


def interleaved(runs: int, *timers: Callable[[], tuple[float, int]]) -> list[tuple[float, int]]:
    """(median seconds, highest peak RSS KiB) of each timer, run in turns after one warm-up each.

    Taking turns keeps a load that comes and goes on a shared machine from favouring one side.
    """
    for timer in timers:
        timer()  # warm the page cache and the template cache, as a weekly run finds them
    results: list[list[tuple[float, int]]] = [[] for _ in timers]
    for _ in range(runs):
        for got, timer in zip(results, timers, strict=True):
            got.append(timer())
    return [(statistics.median(w for w, _ in got), max(r for _, r in got)) for got in results]


def process(argv: list[str]) -> Callable[[], tuple[float, int]]:
    """A timer of a whole process."""
    return lambda: run_once(argv)


def in_process(fn: Callable[[], object]) -> Callable[[], tuple[float, int]]:
    """A timer of a call in this process (no RSS of its own: 0)."""
    def timer() -> tuple[float, int]:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start, 0
    return timer


def dry_run(env: Path | None) -> list[str]:
    """The dry run's command line, of the sample (env None) or a generated portfolio."""
    return [sys.executable, str(SCRIPT), "--dry-run", "--as-of", AS_OF, *(["--env-file", str(env)] if env else [])]


def compose_handoffs(handoff_dir: Path) -> None:
    """The handoff floor: read each file's front matter and compose it with libyaml, nothing more."""
    for path in sorted(handoff_dir.rglob("*.md")):
        text = path.read_text(encoding="utf-8")
        front = text.split("\n---\n", 1)[0].removeprefix("---\n")
        yaml.compose(front, Loader=yaml.CSafeLoader)


def data_files(export_dir: Path) -> list[Path]:
    """Every data file of every export under a portfolio's DynamoDB folder."""
    return sorted(export_dir.glob("*/AWSDynamoDB/*/data/*.json.gz"))


def zcat_lines(export_dir: Path) -> None:
    """The export floor of the whole run: `zcat | wc -l` of every data file."""
    files = " ".join(f"'{p}'" for p in data_files(export_dir))
    subprocess.run(f"zcat {files} | wc -l", shell=True, check=True, stdout=subprocess.DEVNULL)


def block_count(export_dir: Path, done: bytes = b'"completed":{"BOOL":true}') -> None:
    """The least work an export read needs: gzip in 1 MiB blocks, counting lines and done bytes."""
    for path in data_files(export_dir):
        with gzip.open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                block.count(b"\n")
                block.count(done)


def portfolio(base: Path, handoffs: int, items: int) -> Path:
    """The folder of a generated portfolio, generating it unless it is there."""
    out = base / f"h{handoffs}-i{items}"
    if not (out / "repos.env").exists():
        generate(out, handoffs, items)
    return out


Row = tuple[str, str, str, str, str, str, str]


S3_BUCKET = "bench-inputs"


def in_moto_s3(folder: Path, endpoint: str) -> Path:
    """Copy a portfolio's handoffs and exports to moto's S3; return a repos.env that reads them there."""
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-west-2", aws_access_key_id="bench",
                          aws_secret_access_key="bench")
    if S3_BUCKET not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket=S3_BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    for sub in ("handoffs", "dynamodb"):
        for path in sorted((folder / sub).rglob("*")):
            if path.is_file():
                client.upload_file(str(path), S3_BUCKET, f"{folder.name}/{path.relative_to(folder).as_posix()}")
    env = folder / "repos-s3.env"
    env.write_text(f"HANDOFF_DIR=s3://{S3_BUCKET}/{folder.name}/handoffs\n"
                   f"DYNAMODB_EXPORT_DIR=s3://{S3_BUCKET}/{folder.name}/dynamodb\n"
                   f"AWS_ENDPOINT_URL={endpoint}\nAWS_REGION=us-west-2\n"
                   "AWS_ACCESS_KEY_ID=bench\nAWS_SECRET_ACCESS_KEY=bench\n")
    return env


def row(case: str, wall: float, rss_kib: int | None, floor: str, ratio: float | None, target: str,
        met: bool | None) -> Row:
    """One line of the table."""
    return (case, f"{wall:.2f} s" if wall >= 0.5 else f"{wall * 1000:.0f} ms",
            f"{rss_kib / 1024:.0f} MB" if rss_kib else "", floor, f"{ratio:.2f}x" if ratio is not None else "",
            target, "" if met is None else ("met" if met else "MISSED"))


def print_table(rows: list[Row]) -> str:
    """The table as Markdown, printed and returned."""
    head: Row = ("case", "time", "peak RSS", "floor", "ratio", "target", "met")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in [head, *rows]]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def main(argv: list[str] | None = None) -> int:
    """Run the cases, print the table, append a line to bench/results.md."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="portfolio cases at a tenth of their size")
    p.add_argument("--huge", action="store_true", help="also 10,000 handoffs + 5,000,000 items (minutes)")
    p.add_argument("--only", choices=("sample", "large", "double", "s3", "huge"), action="append",
                   help="run only these cases (repeatable)")
    p.add_argument("--keep", type=Path, help="generate portfolios here and reuse them")
    args = p.parse_args(argv)
    wanted = set(args.only or ["sample", "large", "double", "s3", *(["huge"] if args.huge else [])])
    scale = 10 if args.quick else 1
    judged = not args.quick
    load_before = os.getloadavg()
    print(f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{platform.system()} {platform.release()}; load {load_before[0]:.2f} {load_before[1]:.2f} "
          f"{load_before[2]:.2f}; median of {args.runs}", flush=True)
    rows: list[Row] = []

    if "sample" in wanted:
        runs = max(args.runs, 5)  # a short run: more of them
        (imports, _), (script, _), (sample, rss) = interleaved(
            runs, process(IMPORT_FLOOR), process(SCRIPT_FLOOR), process(dry_run(None)))
        rows.append(row("sample dry run", sample, rss, f"{script * 1000:.0f} ms (imports + compile)",
                        sample / script, "<= 1.5x", sample / script <= 1.5))
        rows.append(row("sample vs imports only", sample, None, f"{imports * 1000:.0f} ms (imports)",
                        sample / imports, "(shown)", None))

    with tempfile.TemporaryDirectory() as tmp:
        base = args.keep or Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        large_wall = None
        doubled: list[tuple[float, int]] = []
        if wanted & {"large", "double"}:
            folder = portfolio(base, 2000 // scale, 1_000_000 // scale)
            handoffs, exports = folder / "handoffs", folder / "dynamodb"
            # the double case in the same turns as the large one, so that the ratio of the two holds
            double = portfolio(base, 4000 // scale, 2_000_000 // scale) if "double" in wanted else None
            (wall, rss), (compose, _), (zcat, _), *doubled = interleaved(
                args.runs, process(dry_run(folder / "repos.env")),
                in_process(lambda: compose_handoffs(handoffs)), in_process(lambda: zcat_lines(exports)),
                *([process(dry_run(double / "repos.env"))] if double else []))
            large_wall = wall
            floor = compose + zcat
            name = f"large ({2000 // scale:,} + {1_000_000 // scale:,})"
            ok = wall < 5 and rss < 150 * 1024 and wall / floor <= 2
            rows.append(row(name, wall, rss, f"{floor:.2f} s (compose {compose:.2f} + zcat, wc -l {zcat:.2f})",
                            wall / floor, "< 5 s, < 150 MB, <= 2x", ok if judged else None))
            needs = ser.table_needs(ser.read_handoffs(handoffs))
            (read, _), (compose, _) = interleaved(
                args.runs, in_process(lambda: ser.read_handoffs(handoffs)),
                in_process(lambda: compose_handoffs(handoffs)))
            rows.append(row("large: handoffs", read, None, f"{compose:.2f} s (compose)", read / compose,
                            "<= 1.5x", read / compose <= 1.5 if judged else None))
            (tables, _), (blocks, _) = interleaved(
                args.runs, in_process(lambda: ser.read_tables(needs, exports)),
                in_process(lambda: block_count(exports)))
            rows.append(row("large: exports", tables, None, f"{blocks:.2f} s (1 MiB blocks)", tables / blocks,
                            "<= 3x", tables / blocks <= 3 if judged else None))

        if doubled and large_wall is not None:
            [(wall, rss)] = doubled
            growth = wall / large_wall
            rows.append(row(f"double ({4000 // scale:,} + {2_000_000 // scale:,})", wall, rss, "the large case",
                            growth, "<= 2.1x", growth <= 2.1 if judged else None))

        if "s3" in wanted:
            from moto.server import ThreadedMotoServer

            server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            server.start()
            try:
                host, port = server.get_host_and_port()
                few = portfolio(base, 20, 100_000 // scale)
                many = portfolio(base, 20, 1_000_000 // scale)
                few_env = in_moto_s3(few, f"http://{host}:{port}")
                many_env = in_moto_s3(many, f"http://{host}:{port}")
                (few_wall, few_rss), (wall, rss), (local_wall, local_rss) = interleaved(
                    args.runs, process(dry_run(few_env)), process(dry_run(many_env)),
                    process(dry_run(many / "repos.env")))
            finally:
                server.stop()
            rows.append(row(f"s3 (20 + {1_000_000 // scale:,}), from moto's S3", wall, rss,
                            f"{few_rss / 1024:.0f} MB, {few_wall:.2f} s (a tenth of the items); from the "
                            f"folders {local_rss / 1024:.0f} MB, {local_wall:.2f} s", rss / few_rss,
                            "RSS <= 1.1x", rss / few_rss <= 1.1 if judged else None))

        if "huge" in wanted:
            small = portfolio(base, 10_000 // scale, 500_000 // scale)
            folder = portfolio(base, 10_000 // scale, 5_000_000 // scale)
            few_wall, few_rss = run_once(dry_run(small / "repos.env"))
            wall, rss = run_once(dry_run(folder / "repos.env"))
            rows.append(row(f"huge ({10_000 // scale:,} + {5_000_000 // scale:,}), once", wall, rss,
                            f"{few_rss / 1024:.0f} MB, {few_wall:.1f} s (a tenth of the items)",
                            rss / few_rss, "RSS <= 1.1x", rss / few_rss <= 1.1 if judged else None))

    load_after = os.getloadavg()
    print_table(rows)
    print(f"load after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
    summary = "; ".join(f"{r[0]}: {r[1]}{', ' + r[2] if r[2] else ''}{', ' + r[4] if r[4] else ''}"
                        f"{' ' + r[6] if r[6] else ''}" for r in rows)
    keep_line(f"{' (quick)' if args.quick else ''}, load {load_before[0]:.1f}/{load_after[0]:.1f}, "
              f"median of {args.runs}: {summary}")
    return 0


def keep_line(text: str) -> None:
    """Append a dated line to bench/results.md: the time, the commit, then `text`."""
    stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, check=False).stdout.strip() or "?"
    with RESULTS.open("a", encoding="utf-8") as fh:
        fh.write(f"- {stamp} {commit}{text}\n")


if __name__ == "__main__":
    sys.exit(main())
