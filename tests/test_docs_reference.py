"""docs/handoff-format.md documents every handoff key the validator accepts, and the
repository never points at a file outside itself."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import send_exec_reports as ser

from .conftest import ROOT

REFERENCE = ROOT / "docs" / "handoff-format.md"


def key_paths(spec: dict[str, object], prefix: str = "") -> Iterator[tuple[str, object, bool]]:
    """Every key path of a schema, as the reference writes it: (path, spec, required)."""
    for raw, sub in spec.items():
        name, required = raw.rstrip("!"), raw.endswith("!")
        path = f"{prefix}{name}"
        yield path, sub, required
        if not isinstance(sub, tuple):
            continue
        kind = sub[0]
        if kind == "list":
            yield from key_paths(sub[1], f"{path}[].")
        elif kind == "map":
            yield from key_paths(sub[1], f"{path}.")
        elif kind == "months":
            yield from key_paths(sub[1], f"{path}.<month>.")
        elif kind == "amounts":
            yield f"{path}.<name>", ser.MONEY, False
        elif kind == "checklist":  # a table name, or {table!, done}
            yield f"{path}.table", ("table",), True
            yield f"{path}.done", "text", False
        else:
            assert kind in ("enum", "table", "persona", "fixes"), f"a new kind of value in SCHEMA: {kind}: document how it is written"


SCHEMA_KEYS = {path: (sub, required) for path, sub, required in key_paths(ser.SCHEMA)}


def documented_rows() -> dict[str, list[str]]:
    """The rows of every table in the reference whose first column is 'key', by key path."""
    rows: dict[str, list[str]] = {}
    in_key_table = False
    for line in REFERENCE.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            in_key_table = False
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == "key":
            in_key_table = True
        elif in_key_table and not set(cells[0]) <= set("-: "):
            match = re.fullmatch(r"`([^`]+)`", cells[0])
            assert match, f"a key table row must start with `key.path`: {line}"
            assert match.group(1) not in rows, f"{match.group(1)} is documented twice"
            rows[match.group(1)] = cells
    return rows


DOCUMENTED = documented_rows()


def test_the_walk_finds_the_nested_keys() -> None:
    # the walk itself must reach every level, or the test below proves nothing
    for path in ("entity", "financials.<month>.debt_service", "channels[].blast.list_size",
                 "dynamodb.checklist.done", "stack[].lambda", "deliveries[].costs.<name>"):
        assert path in SCHEMA_KEYS, path
    assert len(SCHEMA_KEYS) > 100


@pytest.mark.parametrize("path", sorted(SCHEMA_KEYS))
def test_every_key_the_validator_accepts_is_documented(path: str) -> None:
    assert path in DOCUMENTED, f"{path} is accepted in a handoff but not documented in docs/handoff-format.md"
    sub, required = SCHEMA_KEYS[path]
    _key, kind, req, meaning, feeds = DOCUMENTED[path]
    assert (req == "required") is required, f"{path}: the reference says required={req!r}"
    assert meaning and feeds, f"{path}: say what it means and what it feeds"
    if isinstance(sub, tuple) and sub[0] == "enum":
        for value in sub[1]:
            assert f"`{value}`" in kind, f"{path}: value {value} is not listed"


def test_every_documented_key_is_accepted() -> None:
    stale = sorted(set(DOCUMENTED) - set(SCHEMA_KEYS))
    assert not stale, f"documented but not accepted by the validator: {stale}"


def test_every_figure_and_format_is_defined() -> None:
    text = REFERENCE.read_text(encoding="utf-8").lower()
    for term in ("burn", "runway", "break-even gap", "revenue projection", "growth", "capital deployment",
                 "infra cost", "savings", "kpi gap", "missing kpi", "stale handoff", "derived", "30-day actions",
                 "overdue", "deferred revenue", "receivable", "occupancy", "scheduled rent", "delinquency",
                 "leases ending", "open maintenance", "vacancy loss", "noi", "cash flow", "margin %",
                 "not costed", "pipeline", "average margin %", "mrr", "concentration", "effective rate",
                 "outstanding", "neglected clients", "lead rate", "close rate", "cost per lead", "cost per sale",
                 "blast potential", "events", "users", "checklist completion %", "needs you this week",
                 '"not valued"', '"none"', '"n/a"', "`$12,345`", "`$23.50`", "`1,375`", "`42.9%`", "`4.3`"):
        assert term in text, term


def test_the_readme_links_the_reference() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "(docs/handoff-format.md)" in readme


def repository_text_files() -> Iterator[Path]:
    """Every text file of the repository, outside version control and caches."""
    skip = {".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", "archive"}
    for path in ROOT.rglob("*"):
        if path.is_file() and not skip & set(path.relative_to(ROOT).parts) and path.suffix != ".gz":
            yield path


def test_nothing_points_outside_the_repository() -> None:
    name = "SP" + "EC"  # spelled apart so that this line does not find itself
    pattern = re.compile(rf"\b{name}\b|{name}\.md|\.\./shared")
    found = []
    for path in repository_text_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        found += [f"{path.relative_to(ROOT)}:{n}" for n, line in enumerate(text.splitlines(), 1)
                  if pattern.search(line)]
    assert not found, f"the repository must stand alone; these cite a file outside it: {found}"
