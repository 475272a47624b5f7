"""Generate a synthetic portfolio for benchmarks: N handoffs and DynamoDB exports of M items.

    python bench/make_portfolio.py OUT_DIR --handoffs 2000 --items 1000000 [--seed 7]

OUT_DIR gets `handoffs/`, `dynamodb/` and a `repos.env` pointing at them. The same
seed gives the same portfolio. Handoffs look like the sample's (financials, KPIs,
stack, actions, channels, ...), spread over one entity per ten documents plus the
three business units the unit reports need; the items are spread over ten tables
(events, users and checklists).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
from make_exports import write_export

UNITS = ("3028 51st St Rental", "Expert Yacht Delivery", "DangerousCentaur")
TABLES = 10
EXPORT_TIME = dt.datetime(2026, 11, 21, 9, 0, tzinfo=dt.UTC)


def entity_names(handoffs: int) -> list[str]:
    """One entity per ten documents; the first three are the business units."""
    count = max(len(UNITS), handoffs // 10)
    return list(UNITS) + [f"Venture {i:04d}" for i in range(count - len(UNITS))]


def handoff(rng: random.Random, index: int, entity: str, tables: list[str]) -> str:
    """One handoff document of realistic size."""
    months = [f"2026-{m:02d}" for m in range(2, 11)]
    base = rng.randint(2_000, 20_000)
    lines = [
        "---",
        f"entity: {entity}",
        f"project: Project {index:05d}",
        f"status: {rng.choice(['active', 'active', 'active', 'at-risk', 'blocked', 'paused', 'done'])}",
        f"updated: 2026-{rng.randint(9, 11):02d}-{rng.randint(1, 20):02d}",
        f"owner: {rng.choice(['CB', 'MT', 'JR', 'DK'])}",
        f"cash: {rng.randint(1_000, 90_000)}",
        "assets:",
        f"  - {{name: asset-{index}.com, type: domain, value: 0}}",
        f"  - {{name: Equipment {index}, type: equipment, value: {rng.randint(500, 50_000)}}}",
        "financials:",
        *(
            f"  {m}: {{revenue: {base + rng.randint(-1500, 1500)}, expenses: {base + rng.randint(-1200, 1800)}}}"
            for m in months
        ),
        "kpis:",
        f"  - {{name: Leads per month, value: {rng.randint(1, 60)}, target: 40}}",
        f"  - {{name: Cost per lead, value: {rng.randint(10, 90)}, target: 40, better: lower}}",
        "  - {name: Conversion rate, value: null, target: 0.02}",
        "stack:",
        f"  - {{name: web, service: Vercel, monthly_cost: 20, in_use: true, last_deploy: 2026-11-{rng.randint(1, 20):02d}}}",
        f"  - {{name: api, service: AWS Lambda, monthly_cost: {rng.randint(1, 30)}.50, in_use: {rng.choice(['true', 'false'])}}}",
        "security:",
        f"  - {{severity: {rng.choice(['critical', 'high', 'medium', 'low'])}, finding: Finding {index}, fixed: {rng.choice(['true', 'false'])}}}",
        "channels:",
        f"  - {{name: Google Business Profile, kind: organic, status: live, visits: {rng.randint(50, 900)}, leads: {rng.randint(1, 40)}, conversions: {rng.randint(0, 10)}}}",
        f"  - {{name: OTA {index}, kind: ota, status: planned, launch: 2027-0{rng.randint(1, 6)}-15}}",
        "shortfalls:",
        f"  - {{title: Shortfall {index}, urgency: {rng.choice(['critical', 'high', 'medium', 'low'])}, persona: CMO}}",
        "actions:",
        *(
            f"  - {{title: Action {index}-{k}, due: 2026-{rng.randint(11, 12):02d}-{rng.randint(1, 28):02d}, "
            f"priority: {rng.randint(1, 5)}, persona: {rng.choice(['CEO', 'CTO', 'CMO', 'CFO'])}, done: false}}"
            for k in range(3)
        ),
        "revenue_recognition:",
        f"  - {{description: Deposit {index}, amount: {rng.randint(100, 5000)}, received: 2026-11-02, service_date: 2027-01-10}}",
        "expenses:",
        f"  - {{vendor: AWS, amount: {rng.randint(5, 400)}.25, category: Hosting}}",
        f"  - {{vendor: Vendor {index}, amount: {rng.randint(5, 400)}}}",
    ]
    if tables:
        lines.append("dynamodb:")
        lines.append(f"  events: {tables[0]}")
        lines.append(f"  users: {tables[1]}")
        lines.append(f"  checklist: {{table: {tables[2]}, done: completed}}")
    if entity == UNITS[0]:
        lines += ["units:", f"  - {{unit: U{index}, tenant: T. {index}, rent: 1850, status: occupied, "
                  "lease_end: 2027-01-31, balance_due: 0}",
                  "maintenance:", f"  - {{item: Repair {index}, cost: 400, status: open, opened: 2026-11-03}}"]
    if entity == UNITS[1]:
        lines += ["deliveries:", f"  - {{id: D-{index}, vessel: Boat, route: A - B, date: 2026-10-20, "
                  "status: completed, revenue: 6800, costs: {crew: 2400, fuel: 900}}"]
    if entity == UNITS[2]:
        lines += ["clients:", f"  - {{name: Client {index}, monthly_fee: 900, status: active, hours_last_30d: 12, "
                  "outstanding: 0, last_contact: 2026-11-10}"]
    lines += ["---", "", f"Notes for project {index}: what was done, what is next.", ""]
    return "\n".join(lines)


def items(rng: random.Random, count: int, checklist: bool) -> Iterator[dict]:
    """Small typed items; checklist items carry a `completed` boolean."""
    for i in range(count):
        item = {"pk": {"S": f"item#{i:08d}"}, "at": {"N": str(1_760_000_000 + i)}}
        if checklist:
            item["completed"] = {"BOOL": rng.random() < 0.6}
        else:
            item["kind"] = {"S": rng.choice(["view", "lead", "booking"])}
        yield item


def generate(out: Path, handoffs: int, total_items: int, seed: int = 7) -> Path:
    """Write the portfolio under out; return its repos.env."""
    rng = random.Random(seed)
    names = entity_names(handoffs)
    table_names = [f"bench-{kind}-{i}" for i, kind in enumerate(["events", "users", "checklist"] * 4)][:TABLES]
    folder = out / "handoffs"
    for i in range(handoffs):
        entity = names[i % len(names)]
        # the first documents of the first entities name the tables, three at a time
        group = table_names[(i * 3) % 9:(i * 3) % 9 + 3] if i < 3 else []
        path = folder / f"{entity.lower().replace(' ', '-')}" / f"project-{i:05d}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(handoff(rng, i, entity, group), encoding="utf-8")
    named = table_names[:9]
    per_table = total_items // len(named)
    for k, table in enumerate(named):
        count = per_table + (total_items - per_table * len(named) if k == 0 else 0)
        write_export(out / "dynamodb" / table, items(rng, count, "checklist" in table), export_time=EXPORT_TIME,
                     items_per_file=50_000, empty_files=1)
    env = out / "repos.env"
    env.write_text("HANDOFF_DIR=handoffs\nDYNAMODB_EXPORT_DIR=dynamodb\n"
                   "SES_FROM_ADDRESS=reports@example.com\nEXEC_REPORT_TO=owner@example.com\n"
                   "EXEC_REPORT_BCC=admin@example.com\n")
    return env


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path)
    p.add_argument("--handoffs", type=int, default=2000)
    p.add_argument("--items", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args(argv)
    print(generate(args.out, args.handoffs, args.items, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
