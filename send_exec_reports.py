#!/usr/bin/env python3
"""send_exec_reports: weekly executive reports from project handoffs and DynamoDB.

Reads every Markdown handoff document (YAML front matter + notes) under HANDOFF_DIR,
counts items in the DynamoDB tables the handoffs name (from "Export to S3" folders
under DYNAMODB_EXPORT_DIR, or live with Scan), computes the figures of SPEC §2.3,
renders one plain-text report per template in reports/ and emails each through
Amazon SES with a BCC to the admin address. `--dry-run` prints instead of sending.

Usage:
    python send_exec_reports.py [--dry-run] [--only ceo,cfo] [--as-of 2026-11-22]
                                [--env-file PATH] [--force] [--check] [--list]
                                [--to ADDRESS] [--status]

Cron (weekly, Monday 07:00; absolute paths, cron starts in $HOME):
    0 7 * * 1  /opt/reports/.venv/bin/python /opt/reports/send_exec_reports.py

Settings come from repos.env next to this script (or --env-file); variables already in
the environment win. Relative paths resolve against the env file's folder. See
repos.env.example for every setting.

Every setting and input is checked and every report rendered before the first send.
ARCHIVE_DIR/<period>/ledger.json records each report as it is sent, so a rerun for the
same ISO week sends only what is missing (--force resends); the same folder keeps each
report's text and metrics.json. A lock in ARCHIVE_DIR keeps two runs from overlapping.

Exit codes (sysexits): 0 done, 64 usage, 65 bad input data, 69 a send failed,
75 another run holds the lock, 78 bad configuration.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime as dt
import functools
import gzip
import html
import json
import logging
import os
import re
import sys
import textwrap
import unicodedata
import urllib.parse
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import IntEnum
from pathlib import Path
from typing import Any

import html2text
import jinja2
import markdown
import yaml
from dotenv import dotenv_values

log = logging.getLogger("send_exec_reports")

SCRIPT_DIR = Path(__file__).resolve().parent
REPORTS_DIR = SCRIPT_DIR / "reports"
EXAMPLES_DIR = SCRIPT_DIR / "examples"
DEFAULT_ENV_FILE = SCRIPT_DIR / "repos.env"


class ExitStatus(IntEnum):
    """Process exit codes, from sysexits.h."""

    OK = 0
    USAGE = 64
    DATAERR = 65
    UNAVAILABLE = 69
    TEMPFAIL = 75
    CONFIG = 78


STATUSES = ("active", "at-risk", "blocked", "paused", "done")
URGENCIES = ("critical", "high", "medium", "low")  # also security severities, most urgent first
STALE_DAYS = 30
ACTION_HORIZON_DAYS = 30
LEASE_HORIZON_DAYS = 90
NEGLECT_DAYS = 30
RUNWAY_ALERT_MONTHS = 6
WINDOW_MONTHS = 3  # averages: the three calendar months before the as-of month
TREND_MONTHS = 6  # projection: the six complete months before the as-of month
MIN_TREND_POINTS = 3
PROJECTION_MONTHS = 3  # the as-of month and the two after
LIVE_SCAN_SEGMENTS = 4
WRAP_WIDTH = 78

NO_DATA = "no data"
INSUFFICIENT = "insufficient data"
NOT_BURNING = "not burning"
NO_CASH = "no cash figure"


# ---------------------------------------------------------------------------
# Errors: raised by the logic, turned into one line and an exit code by main().


class ReportError(Exception):
    """An expected failure with a one-line message and an exit status."""

    status = ExitStatus.DATAERR


class UsageError(ReportError):
    """The command line is wrong."""

    status = ExitStatus.USAGE


class InputError(ReportError):
    """A handoff document, export or table is not valid."""

    status = ExitStatus.DATAERR


class ConfigError(ReportError):
    """A setting or a report template is wrong."""

    status = ExitStatus.CONFIG


class InputErrors(InputError):
    """Several input errors, one line each."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


# ---------------------------------------------------------------------------
# Settings


SETTING_NAMES = (
    "AWS_REGION",
    "SES_FROM_ADDRESS",
    "EXEC_REPORT_TO",
    "EXEC_REPORT_BCC",
    "HANDOFF_DIR",
    "DYNAMODB_EXPORT_DIR",
    "ARCHIVE_DIR",
    "REPORTS_DIR",
)
AWS_NAMES = (
    "AWS_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
)
PER_REPORT_TO = "EXEC_REPORT_TO_"  # EXEC_REPORT_TO_CFO: the CFO report's own readers
SECRET_NAME = re.compile(r"SECRET|TOKEN|PASSWORD|PRIVATE|CREDENTIAL|KEY")
MIN_SECRET_LENGTH = 8  # shorter values are masked at their source only: masking "test" everywhere hides too much
# A URL in a message: scheme, user info (dropped), host, port, then whatever path, query and
# fragment follow up to a blank or a quote (dropped whole, closing brackets and all).
_URL = re.compile(
    r"""\b(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?:[^\s/?#@"'<>]*@)?"""
    r"""(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~-]+)?(?P<port>:[0-9]+)?(?:[/?#][^\s"'<>]*)?"""
)
_secrets: set[str] = set()  # values to hide from every message; filled by load_settings, reset by main


def url_origin(url: str) -> str:
    """Scheme, host and port of a URL: the only part of one that is ever shown."""
    try:
        parts = urllib.parse.urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return "(a URL)"
    if not parts.scheme or not host:
        return "(a URL)"
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


def redact(text: str) -> str:
    """Text fit to print: every URL cut to its origin, every secret setting's value hidden."""
    text = _URL.sub(lambda m: f"{m['scheme']}://{m['host'] or ''}{m['port'] or ''}", text)
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, "(hidden)")
    return text


def _remember_secrets(values: dict[str, str]) -> None:
    """Note the values no message may show: secret-looking settings and an endpoint's path and query."""
    for name, value in values.items():
        if SECRET_NAME.search(name) and len(value.strip()) >= MIN_SECRET_LENGTH:
            _secrets.add(value.strip())
    endpoint = values.get("AWS_ENDPOINT_URL", "").strip()
    try:
        parts = urllib.parse.urlsplit(endpoint)
    except ValueError:
        return
    for piece in (parts.path.strip("/"), parts.query, parts.fragment):
        if len(piece) >= MIN_SECRET_LENGTH:
            _secrets.add(piece)


@dataclass
class Settings:
    """Every setting the run uses, resolved and with paths made absolute."""

    env_file: Path | None
    values: dict[str, str]
    handoff_dir: Path
    export_dir: Path | None
    archive_dir: Path | None
    region: str
    used_examples: bool = False

    def get(self, name: str) -> str:
        """Return a setting's value, or '' when unset."""
        return self.values.get(name, "").strip()

    def addresses(self, name: str) -> list[str]:
        """Split a comma-separated address setting."""
        return [a.strip() for a in self.get(name).split(",") if a.strip()]


def read_settings(env_file: str | None, environ: dict[str, str] | None = None) -> tuple[Path | None, dict[str, str]]:
    """The settings file in use (None: none) and every setting's value, the environment winning.

    A value that is empty, in the file or in the environment, counts as unset: an
    exported `EXEC_REPORT_TO=` must not hide the file's value.
    """
    environ = dict(os.environ if environ is None else environ)
    path: Path | None
    if env_file is not None:
        given = Path(env_file).expanduser()
        if not env_file.strip():
            raise ConfigError("--env-file is empty: give the path of your repos.env (or /dev/null for none)")
        if given.resolve() == Path(os.devnull).resolve():
            path = None  # "no settings file": the environment only
        elif given.is_dir():
            raise ConfigError(f"--env-file {env_file}: a folder, not a file; give the path of your repos.env")
        elif not given.exists():
            raise ConfigError(f"--env-file {env_file}: no such file; give the path of your repos.env")
        elif not given.is_file():
            raise ConfigError(f"--env-file {env_file}: not a regular file; give the path of your repos.env")
        else:
            path = given.resolve()
    else:
        path = DEFAULT_ENV_FILE if DEFAULT_ENV_FILE.is_file() else None
    values: dict[str, str] = {}
    if path is not None:
        try:
            file_values = dotenv_values(path, encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise ConfigError(f"{path}: cannot read settings ({reason}); save it as UTF-8 text") from None
        values.update({k: v for k, v in file_values.items() if v is not None and v.strip()})
    values.update({
        k: v for k, v in environ.items()
        if (k in SETTING_NAMES + AWS_NAMES or k.startswith(PER_REPORT_TO)) and v.strip()
    })
    _remember_secrets(values)
    return path, values


def _resolver(path: Path | None, values: dict[str, str]) -> Callable[[str], Path | None]:
    """Resolve a path setting against the settings file's folder (the script's without one)."""
    base = path.parent if path is not None else SCRIPT_DIR

    def resolve(name: str) -> Path | None:
        raw = values.get(name, "").strip()
        return (base / Path(raw).expanduser()).resolve() if raw else None

    return resolve


def reports_dir_setting(path: Path | None, values: dict[str, str]) -> Path:
    """REPORTS_DIR, resolved (default: reports/ next to the script)."""
    folder = _resolver(path, values)("REPORTS_DIR")
    if folder is None:
        return REPORTS_DIR
    if not folder.is_dir():
        raise ConfigError(f"REPORTS_DIR={values['REPORTS_DIR']}: no such folder ({folder}); "
                          "fix the path or remove the setting to use reports/ next to the script")
    return folder


def load_settings(
    env_file: str | None, *, dry_run: bool, environ: dict[str, str] | None = None
) -> Settings:
    """Read repos.env (or --env-file), let the environment win, resolve paths."""
    path, values = read_settings(env_file, environ)
    used_examples = False
    if not values.get("HANDOFF_DIR", "").strip() and path is None and dry_run:
        used_examples = True
        values["HANDOFF_DIR"] = str(EXAMPLES_DIR / "handoffs")
        values["DYNAMODB_EXPORT_DIR"] = str(EXAMPLES_DIR / "dynamodb")
    resolve = _resolver(path, values)

    if path is not None:
        where = f" in {path}"
    elif env_file is not None:
        where = " (no settings file, and not in the environment)"
    else:
        where = " (no repos.env next to the script, and not in the environment)"
    handoff_dir = resolve("HANDOFF_DIR")
    if handoff_dir is None:
        raise ConfigError(f"HANDOFF_DIR is not set{where}: set it to the folder of handoff documents")
    if not handoff_dir.is_dir():
        raise ConfigError(f"HANDOFF_DIR={values['HANDOFF_DIR']}: no such folder ({handoff_dir})")
    endpoint = values.get("AWS_ENDPOINT_URL", "").strip()
    if endpoint:
        try:
            parts = urllib.parse.urlsplit(endpoint)
            parts.port  # noqa: B018 (raises ValueError for a bad port)
        except ValueError:
            raise ConfigError("AWS_ENDPOINT_URL is not a URL; write it like https://host:port") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError("AWS_ENDPOINT_URL is not an http(s) URL; write it like https://host:port")
        if parts.username or parts.password:
            raise ConfigError("AWS_ENDPOINT_URL holds a user name or password; remove them (they would be logged)")
    export_dir = resolve("DYNAMODB_EXPORT_DIR")
    if export_dir is not None and not export_dir.is_dir():
        raise ConfigError(
            f"DYNAMODB_EXPORT_DIR={values['DYNAMODB_EXPORT_DIR']}: no such folder ({export_dir}); "
            "fix the path or remove the setting to read DynamoDB live"
        )
    return Settings(
        env_file=path,
        values=values,
        handoff_dir=handoff_dir,
        export_dir=export_dir,
        archive_dir=resolve("ARCHIVE_DIR"),
        region=values.get("AWS_REGION", "").strip() or "us-west-2",
        used_examples=used_examples,
    )


# ---------------------------------------------------------------------------
# Reading handoffs: front matter is parsed to a YAML node tree first, so that every
# error can name the line of the key at fault.


@dataclass
class Handoff:
    """One project's handoff document, validated."""

    file: str  # path relative to HANDOFF_DIR, for messages and reports
    data: dict[str, Any]

    @property
    def entity(self) -> str:
        """The business this project belongs to."""
        return self.data["entity"]

    @property
    def project(self) -> str:
        """The project's name."""
        return self.data["project"]


@dataclass
class Portfolio:
    """All handoffs read from HANDOFF_DIR, and the Markdown files skipped."""

    handoffs: list[Handoff]
    skipped: list[str] = field(default_factory=list)


class DocError(Exception):
    """A validation failure inside one document, with the YAML node at fault."""

    def __init__(self, node: yaml.Node | None, key: str, message: str) -> None:
        super().__init__(message)
        self.node, self.key, self.message = node, key, message


# A field spec is a kind name, or a tuple: ("enum", values), ("list", fields),
# ("map", fields), ("months", fields), ("amounts",), ("table",), ("checklist",).
# A field name ending in "!" is required.
Spec = Any

MONEY = "number"
MAX_NUMBER = 1e15  # beyond any small business; also keeps sums and formatting exact
BLAST = {n: MONEY for n in ("list_size", "open_rate", "click_rate", "conversion_rate", "avg_order_value")}
SCHEMA: dict[str, Spec] = {
    "entity!": "text",
    "project": "text",
    "status!": ("enum", STATUSES),
    "updated!": "date",
    "owner": "text",
    "cash": MONEY,
    "assets": ("list", {"name!": "text", "type": "text", "value": MONEY}),
    "financials": ("months", {"revenue!": MONEY, "expenses!": MONEY, "debt_service": MONEY}),
    "kpis": (
        "list",
        {"name!": "text", "value": MONEY, "target": MONEY, "better": ("enum", ("higher", "lower")), "unit": "text"},
    ),
    "stack": (
        "list",
        {
            "name!": "text",
            "service": "text",
            "monthly_cost": MONEY,
            "in_use": "bool",
            "last_deploy": "date",
            "lambda": "text",
            "bucket": "text",
            "distribution": "text",
        },
    ),
    "security": ("list", {"severity!": ("enum", URGENCIES), "finding!": "text", "fixed": "bool"}),
    "channels": (
        "list",
        {
            "name!": "text",
            "kind": "text",
            "status": "text",
            "visits": MONEY,
            "leads": MONEY,
            "conversions": MONEY,
            "window": "text",
            "spend": MONEY,
            "launch": "date",
            "blast": ("map", BLAST),
        },
    ),
    "shortfalls": ("list", {"title!": "text", "urgency!": ("enum", URGENCIES), "persona": "text"}),
    "actions": (
        "list",
        {"title!": "text", "due": "date", "priority": "integer", "persona": "text", "done": "bool"},
    ),
    "revenue_recognition": (
        "list",
        {"description": "text", "amount!": MONEY, "received": "date", "service_date!": "date"},
    ),
    "expenses": ("list", {"vendor": "text", "amount!": MONEY, "category": "text"}),
    "dynamodb": ("map", {"events": ("table",), "users": ("table",), "checklist": ("checklist",)}),
    "units": (
        "list",
        {
            "unit!": "text",
            "tenant": "text",
            "rent": MONEY,
            "status!": ("enum", ("occupied", "vacant")),
            "lease_end": "date",
            "balance_due": MONEY,
        },
    ),
    "maintenance": (
        "list",
        {"item!": "text", "cost": MONEY, "status!": ("enum", ("open", "done")), "opened": "date"},
    ),
    "deliveries": (
        "list",
        {
            "id!": "text",
            "vessel": "text",
            "route": "text",
            "date": "date",
            "status!": ("enum", ("quoted", "booked", "completed", "cancelled")),
            "revenue": MONEY,
            "costs": ("amounts",),
        },
    ),
    "clients": (
        "list",
        {
            "name!": "text",
            "service": "text",
            "monthly_fee": MONEY,
            "status!": ("enum", ("active", "prospect", "churned")),
            "since": "date",
            "hours_last_30d": MONEY,
            "outstanding": MONEY,
            "last_contact": "date",
        },
    ),
}
# libyaml's parser when PyYAML was built with it (the PyPI wheels are): several times faster.
YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
TABLE_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


_STR_TAG = "tag:yaml.org,2002:str"


def _join(key: str, name: str) -> str:
    """The dotted key of a field, for messages: financials.2026-09.revenue."""
    return f"{key}.{name}" if key else name


class _Validator:
    """Walks a composed YAML node tree against SCHEMA, building plain values."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def scalar(self, node: yaml.Node) -> Any:
        """Construct the Python value of any node.

        A scalar that YAML resolves to a type but cannot build (2026-13-45 looks
        like a date) is returned as its text, so the check of its field can name it.
        """
        if node.tag == _STR_TAG and isinstance(node, yaml.ScalarNode):
            return node.value  # what the constructor would return, without its overhead
        try:
            return self.loader.construct_object(node, deep=True)
        except (ValueError, OverflowError, TypeError, RecursionError):
            if isinstance(node, yaml.ScalarNode):
                return node.value
            return None  # only unknown keys hold such collections, and they are ignored

    def mapping(self, node: yaml.Node, key: str) -> list[tuple[str, yaml.Node, yaml.Node]]:
        """Return (key, key node, value node) of a mapping node, refusing duplicates."""
        if not isinstance(node, yaml.MappingNode):
            raise DocError(node, key, f"expected a mapping of keys, got {_describe(self.scalar(node))}")
        seen: set[str] = set()
        out = []
        for knode, vnode in node.value:
            name = self.scalar(knode)
            if isinstance(name, dt.date):
                name = name.isoformat()
            name = str(name)
            path = _join(key, name)
            if name in seen:
                raise DocError(knode, path, "appears twice; keep one")
            seen.add(name)
            out.append((name, knode, vnode))
        return out

    def fields(self, node: yaml.Node, key: str, spec: dict[str, Spec]) -> dict[str, Any]:
        """Validate a mapping against named fields.

        Unknown keys are kept at the top of a document (and ignored); inside a list
        item or mapping they are dropped, so nothing unchecked reaches the figures.
        """
        pairs = self.mapping(node, key)
        given = {name for name, _, _ in pairs}
        for fname in spec:
            if fname.endswith("!") and fname[:-1] not in given:
                raise DocError(node, _join(key, fname[:-1]), "is required but missing; add it")
        plain = {f.rstrip("!"): s for f, s in spec.items()}
        out: dict[str, Any] = {}
        for name, _knode, vnode in pairs:
            if name in plain:
                out[name] = self.value(vnode, _join(key, name), plain[name], required=name + "!" in spec)
            elif not key:
                out[name] = self.scalar(vnode)
        for fname in plain:
            out.setdefault(fname, None)
        return out

    def value(self, node: yaml.Node, key: str, spec: Spec, *, required: bool = False) -> Any:
        """Validate one value against its spec."""
        if isinstance(spec, tuple):
            kind = spec[0]
            if kind == "enum":
                raw = self.scalar(node)
                if raw not in spec[1]:
                    raise DocError(node, key, f"is {_describe(raw)}; use one of: {', '.join(spec[1])}")
                return raw
            if self._is_null(node) and not required:
                return None
            if kind == "list":
                if not isinstance(node, yaml.SequenceNode):
                    raise DocError(node, key, f"expected a list, got {_describe(self.scalar(node))}")
                return [self.fields(item, f"{key}[{i}]", spec[1]) for i, item in enumerate(node.value)]
            if kind == "map":
                return self.fields(node, key, spec[1])
            if kind == "months":
                out = {}
                for month, knode, vnode in self.mapping(node, key):
                    if not MONTH_RE.match(month):
                        raise DocError(knode, f"{key}.{month}", "is not a calendar month; write it as YYYY-MM")
                    out[month] = self.fields(vnode, f"{key}.{month}", spec[1])
                return out
            if kind == "amounts":
                return {k: self.value(v, f"{key}.{k}", MONEY, required=True) for k, _, v in self.mapping(node, key)}
            if kind == "table":
                return self.table(node, key)
            if kind == "checklist":
                if isinstance(node, yaml.MappingNode):
                    got = self.fields(node, key, {"table!": ("table",), "done": "text"})
                    return {"table": got["table"], "done": got["done"] or "done"}
                return {"table": self.table(node, key), "done": "done"}
            raise AssertionError(kind)
        raw = self.scalar(node)
        if raw is None:
            if required:
                raise DocError(node, key, "is required but empty; give it a value")
            return None
        if spec == "text":
            if not isinstance(node, yaml.ScalarNode) or isinstance(raw, bool):
                raise DocError(node, key, f"expected text, got {_describe(raw)}")
            # as written: YAML would turn unit 010 into 8 and version 1.10 into 1.1
            text = " ".join(str(node.value).split())
            if not text and required:
                raise DocError(node, key, "is required but empty; give it a value")
            return text or None
        if spec == MONEY or spec == "integer":
            if isinstance(raw, bool) or not isinstance(raw, (int, float)):
                hint = " (plain digits, no $ or commas, e.g. 8200)" if isinstance(raw, str) else ""
                raise DocError(node, key, f"expected a number, got {_describe(raw)}{hint}")
            if spec == "integer" and not float(raw).is_integer():
                raise DocError(node, key, f"expected a whole number, got {raw}")
            if raw != raw or abs(raw) >= MAX_NUMBER:
                raise DocError(node, key, f"is {raw}, not a plausible amount (under {MAX_NUMBER:.0e})")
            return int(raw) if spec == "integer" else raw
        if spec == "date":
            if isinstance(raw, dt.datetime):
                return raw.date()
            if isinstance(raw, dt.date):
                return raw
            bad = DocError(node, key, f"expected a date like 2026-11-18, got {_describe(raw)}")
            if not isinstance(raw, str):
                raise bad
            try:
                return dt.date.fromisoformat(raw.strip())
            except ValueError:
                raise bad from None
        if spec == "bool":
            if not isinstance(raw, bool):
                raise DocError(node, key, f"expected true or false, got {_describe(raw)}")
            return raw
        raise AssertionError(spec)

    def table(self, node: yaml.Node, key: str) -> str:
        """Validate a DynamoDB table name."""
        raw = self.scalar(node)
        if not isinstance(raw, str) or not TABLE_NAME_RE.match(raw):
            raise DocError(
                node, key, f"is {_describe(raw)}, not a DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -)"
            )
        return raw

    def _is_null(self, node: yaml.Node) -> bool:
        return isinstance(node, yaml.ScalarNode) and self.scalar(node) is None


def _describe(value: Any) -> str:
    """Describe a wrong value for an error message."""
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return f"{str(value).lower()} (true/false)"
    if isinstance(value, str):
        return f"text {value[:40]!r}"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, dt.date):
        return f"date {value.isoformat()}"
    return repr(value)


def split_front_matter(text: str) -> tuple[str, str] | None:
    """Return (front matter, body), None when the text has no front matter.

    Raises ValueError when front matter opens but never closes.
    """
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].rstrip() != "---":
        return None
    for i in range(1, len(lines)):
        if lines[i].rstrip() in ("---", "..."):
            return "".join(lines[1:i]), "".join(lines[i + 1 :])
    raise ValueError("front matter opened on line 1 never closes")


def parse_handoff(path: Path, rel: str) -> Handoff | None:
    """Read one handoff document; None when it has no front matter (not a handoff)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise InputError(
            f"{path}:{line}: not UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
            "save the file as UTF-8"
        ) from exc
    try:
        parts = split_front_matter(text)
    except ValueError:
        raise InputError(f"{path}:1: front matter opened on line 1 never closes; add a line '---' after it") from None
    if parts is None:
        return None
    front, _body = parts
    loader = YamlLoader(front)
    try:
        node = loader.get_single_node()
        if node is None:
            raise InputError(f"{path}:2: front matter is empty; add at least entity, status and updated")
        data = _Validator(loader).fields(node, "", SCHEMA)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 2 if mark else 2
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        if exc.problem and exc.context and exc.context_mark and exc.context_mark is not mark:
            problem += f", {exc.context.strip()} started on line {exc.context_mark.line + 2}"
        raise InputError(f"{path}:{line}: front matter is not valid YAML ({problem}); fix the syntax") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{path}:2: front matter is not valid YAML ({exc}); fix the syntax") from None
    except DocError as exc:
        line = exc.node.start_mark.line + 2 if exc.node is not None else 2
        raise InputError(f"{path}:{line}: {exc.key} {exc.message}") from None
    finally:
        loader.dispose()
    data.setdefault("project", None)
    if not data["project"]:
        data["project"] = path.stem
    return Handoff(file=rel, data=data)


def _markdown_files(root: Path) -> list[Path]:
    """Every *.md file under root, following symlinked folders (once each), sorted."""
    found: list[Path] = []
    seen: set[tuple[int, int]] = set()

    def unreadable(exc: OSError) -> None:
        raise InputError(f"{exc.filename}: cannot read the folder ({exc.strerror}); check HANDOFF_DIR's permissions")

    for folder, dirs, files in os.walk(root, followlinks=True, onerror=unreadable):
        st = os.stat(folder)
        if (st.st_dev, st.st_ino) in seen:  # a link back up the tree
            dirs[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirs.sort()
        found += [Path(folder) / f for f in files if f.endswith(".md") and os.path.isfile(os.path.join(folder, f))]
    return sorted(found)


def read_handoffs(handoff_dir: Path) -> Portfolio:
    """Read every *.md under handoff_dir; report all bad documents at once."""
    portfolio = Portfolio(handoffs=[])
    errors: list[str] = []
    for path in _markdown_files(handoff_dir):
        rel = path.relative_to(handoff_dir).as_posix()
        try:
            handoff = parse_handoff(path, rel)
        except InputError as exc:
            errors.append(str(exc))
            continue
        if handoff is None:
            portfolio.skipped.append(rel)
        else:
            portfolio.handoffs.append(handoff)
    if errors:
        raise InputErrors(errors)
    if not portfolio.handoffs:
        raise InputError(
            f"HANDOFF_DIR {handoff_dir}: no handoff documents (*.md with front matter) found; "
            "check the setting"
        )
    return portfolio


# ---------------------------------------------------------------------------
# Reading DynamoDB: exports (streamed, never held in memory) or a live Scan.


@dataclass
class TableCount:
    """How many items a table holds, and (for a checklist) how many are done."""

    table: str
    items: int
    done: int | None = None
    source: str = "export"


@dataclass
class TableNeed:
    """A table named by handoffs, which entities name it, and the checklist attribute."""

    table: str
    entities: set[str] = field(default_factory=set)
    done_attr: str | None = None


def decode_attribute(av: Any) -> Any:
    """Decode one DynamoDB typed attribute value (AWS DYNAMODB_JSON rules)."""
    if not isinstance(av, dict) or len(av) != 1:
        raise ValueError(f"not a typed attribute value: {str(av)[:60]}")
    ((tag, val),) = av.items()
    kinds = {"S": str, "N": str, "BOOL": bool, "NULL": bool, "B": str, "SS": list, "NS": list, "BS": list,
             "L": list, "M": dict}
    if tag not in kinds:
        raise ValueError(f"unknown attribute type {tag!r}")
    if not isinstance(val, kinds[tag]):
        raise ValueError(f"{tag} value {str(val)[:40]!r} is not a {kinds[tag].__name__}")
    if tag == "S":
        return val
    if tag == "N":
        return _number(val)
    if tag == "BOOL":
        return val
    if tag == "NULL":
        return None
    if tag == "B":
        return _b64(val)
    if tag == "SS":
        return {str(v) for v in val}
    if tag == "NS":
        return {_number(v) for v in val}
    if tag == "BS":
        return {_b64(v) for v in val}
    if tag == "L":
        return [decode_attribute(v) for v in val]
    return {k: decode_attribute(v) for k, v in val.items()}


def _number(value: Any) -> Decimal:
    """Decode an N value: a decimal string."""
    try:
        return Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError(f"N value {str(value)[:40]!r} is not a number") from None


def _b64(value: Any) -> bytes:
    """Decode a B value: base64, strictly."""
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, TypeError, ValueError) as exc:
        raise ValueError(f"B value is not base64 ({exc})") from None


def _parse_export_time(text: Any) -> dt.datetime:
    """Parse an ISO-8601 exportTime, with a Z or an offset (UTC when it has none)."""
    if not isinstance(text, str):
        raise ValueError("exportTime missing")
    when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def find_export(table_dir: Path) -> tuple[Path, dict[str, Any]]:
    """Return the newest complete full export of a table folder and its summary."""
    exports = []
    for summary_path in sorted(table_dir.glob("AWSDynamoDB/*/manifest-summary.json")):
        try:
            summary = json.loads(summary_path.read_text(encoding="utf-8"))
            when = _parse_export_time(summary.get("exportTime"))
        except (OSError, ValueError, AttributeError, RecursionError) as exc:
            raise InputError(
                f"{summary_path}: not a readable export summary ({exc}); re-sync the export"
            ) from None
        if summary.get("exportType", "FULL_EXPORT") != "FULL_EXPORT":
            continue  # incremental exports hold changes, not the table
        exports.append((when, summary_path.parent, summary))
    if not exports:
        raise InputError(
            f"{table_dir}: no complete export (no AWSDynamoDB/<ExportId>/manifest-summary.json); "
            "wait for the export to finish and sync it again"
        )
    _when, folder, summary = max(exports, key=lambda e: e[0])
    fmt = summary.get("outputFormat", "DYNAMODB_JSON")
    if fmt != "DYNAMODB_JSON":
        raise InputError(f"{folder / 'manifest-summary.json'}: outputFormat {fmt}; export as DYNAMODB_JSON")
    return folder, summary


def read_export(table_dir: Path, done_attr: str | None = None) -> TableCount:
    """Count a table's items in its newest export, streaming every data file."""
    folder, summary = find_export(table_dir)
    files_path = folder / "manifest-files.json"
    try:
        manifest_lines = files_path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"{files_path}: cannot read ({exc.strerror}); re-sync the export") from None
    except ValueError as exc:
        raise InputError(f"{files_path}: not UTF-8 text ({exc}); re-sync the export") from None
    total = done = 0
    for lineno, line in enumerate(manifest_lines, 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            key = entry["dataFileS3Key"]
            expected = entry["itemCount"]
            if not isinstance(key, str) or not key:
                raise ValueError("dataFileS3Key is not a file name")
            if not isinstance(expected, int) or isinstance(expected, bool) or expected < 0:
                raise ValueError(f"itemCount {expected!r} is not a count")
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            raise InputError(f"{files_path}:{lineno}: not a manifest entry ({exc}); re-sync the export") from None
        data_path = _local_data_path(folder, key)
        count, count_done = _read_data_file(data_path, done_attr)
        if count != expected:
            raise InputError(
                f"{files_path}:{lineno}: itemCount {expected} but {data_path.name} holds {count} items; "
                "the export is damaged or partly synced: sync it again"
            )
        total += count
        done += count_done
    expected_total = summary.get("itemCount")
    if not isinstance(expected_total, int) or isinstance(expected_total, bool) or expected_total != total:
        raise InputError(
            f"{folder / 'manifest-summary.json'}: itemCount {expected_total} but the data files hold "
            f"{total} items; the export is damaged or partly synced: sync it again"
        )
    return TableCount(table=table_dir.name, items=total, done=done if done_attr else None)


def _local_data_path(folder: Path, key: str) -> Path:
    """Map a manifest's S3 key to the synced file under the export folder."""
    marker = f"{folder.name}/"
    rel = key.split(marker, 1)[1] if marker in key else f"data/{key.rsplit('/', 1)[-1]}"
    parts = Path(rel).parts
    if not parts or Path(rel).is_absolute() or ".." in parts:
        raise InputError(f"{folder / 'manifest-files.json'}: data file key {key!r} points outside the export")
    return folder.joinpath(*parts)


def _lines(fh: Any, size: int = 1 << 20) -> Iterator[bytes]:
    """The lines of a binary stream, read in large blocks (much faster than readline)."""
    rest = b""
    while chunk := fh.read(size):
        parts = (rest + chunk).split(b"\n")
        rest = parts.pop()
        yield from parts
    if rest:
        yield rest


def _read_data_file(path: Path, done_attr: str | None) -> tuple[int, int]:
    """Stream one gzip data file: (items, items whose done_attr is true).

    AWS writes one compact `{"Item":{...}}` per line. Such a line is counted without
    being parsed unless it mentions the checklist attribute; any other line is parsed
    in full, so a damaged one is reported with its line number.
    """
    count = done = 0
    lineno = 0
    needle = json.dumps(done_attr).encode() + b":" if done_attr else None
    try:
        with gzip.open(path, "rb") as fh:
            for lineno, line in enumerate(_lines(fh), 1):  # noqa: B007 (lineno is read in the handler)
                compact = line.startswith(b'{"Item":{') and line.rstrip().endswith(b"}}")
                if compact and (needle is None or needle not in line):
                    count += 1
                    continue
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{exc.msg} at column {exc.colno}") from None
                item = record.get("Item") if isinstance(record, dict) else None
                if not isinstance(item, dict):
                    raise ValueError('no "Item" map')
                count += 1
                if done_attr is not None:
                    av = item.get(done_attr)
                    if av is not None and decode_attribute(av) is True:
                        done += 1
    except FileNotFoundError:
        raise InputError(f"{path}: listed in manifest-files.json but missing; sync the export again") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(f"{path}: not a readable gzip file ({exc}); sync the export again") from None
    except (ValueError, TypeError, RecursionError) as exc:
        raise InputError(f"{path}:{lineno}: not a DynamoDB JSON item ({exc}); sync the export again") from None
    return count, done


def table_needs(portfolio: Portfolio) -> dict[str, TableNeed]:
    """Collect the tables the handoffs name, in order of first mention."""
    needs: dict[str, TableNeed] = {}
    for h in portfolio.handoffs:
        tables = h.data.get("dynamodb") or {}
        for role in ("events", "users", "checklist"):
            spec = tables.get(role)
            if not spec:
                continue
            name = spec["table"] if role == "checklist" else spec
            need = needs.setdefault(name, TableNeed(table=name))
            need.entities.add(h.entity)
            if role == "checklist":
                if need.done_attr not in (None, spec["done"]):
                    raise InputError(
                        f"{h.file}: dynamodb.checklist: table {name} is read with attribute "
                        f"{need.done_attr!r} elsewhere and {spec['done']!r} here; use one"
                    )
                need.done_attr = spec["done"]
    return needs


def read_tables(
    needs: dict[str, TableNeed],
    export_dir: Path | None,
    live: Callable[[list[TableNeed]], dict[str, TableCount]] | None = None,
) -> dict[str, TableCount]:
    """Count every needed table: from its export where there is one, else live."""
    counts: dict[str, TableCount] = {}
    missing: list[TableNeed] = []
    errors: list[str] = []
    for need in needs.values():
        table_dir = export_dir / need.table if export_dir else None
        if table_dir is not None and table_dir.is_dir():
            try:
                counts[need.table] = read_export(table_dir, need.done_attr)
            except InputError as exc:
                errors.append(f"table {need.table} ({', '.join(sorted(need.entities))}): {exc}")
        else:
            missing.append(need)
    if errors:
        raise InputErrors(errors)
    if missing:
        if live is None:
            names = ", ".join(f"{n.table} ({', '.join(sorted(n.entities))})" for n in missing)
            where = f"in DYNAMODB_EXPORT_DIR {export_dir}" if export_dir else "(DYNAMODB_EXPORT_DIR is not set)"
            raise InputError(f"DynamoDB table not found {where} and live reads are off: {names}")
        counts.update(live(missing))
    return counts


def scan_counts(
    client: Any, needs: list[TableNeed], segments: int = LIVE_SCAN_SEGMENTS, where: str = "",
    page_size: int | None = None,
) -> dict[str, TableCount]:
    """Count tables live: Scan with Select=COUNT, paginated, in parallel segments.

    `where` says where the exports were looked for, for the error message.
    """
    from concurrent.futures import ThreadPoolExecutor

    from botocore.exceptions import BotoCoreError, ClientError

    def segment(need: TableNeed, seg: int) -> tuple[int, int]:
        kwargs: dict[str, Any] = {
            "TableName": need.table,
            "Select": "COUNT",
            "Segment": seg,
            "TotalSegments": segments,
        }
        if page_size:
            kwargs["Limit"] = page_size
        if need.done_attr:
            kwargs["FilterExpression"] = "#d = :t"
            kwargs["ExpressionAttributeNames"] = {"#d": need.done_attr}
            kwargs["ExpressionAttributeValues"] = {":t": {"BOOL": True}}
        scanned = matched = 0
        while True:
            page = client.scan(**kwargs)
            scanned += page["ScannedCount"]
            matched += page["Count"]
            if "LastEvaluatedKey" not in page:
                return scanned, matched
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    counts: dict[str, TableCount] = {}
    with ThreadPoolExecutor(max_workers=segments) as pool:
        for need in needs:
            futures = [pool.submit(segment, need, s) for s in range(segments)]
            try:
                parts = [f.result() for f in futures]
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                who = ", ".join(sorted(need.entities))
                if code == "ResourceNotFoundException":
                    raise InputError(
                        f"DynamoDB table {need.table} ({who}) not found in the exports nor live; "
                        "fix the table name in the handoff or add its export"
                    ) from None
                raise InputError(f"DynamoDB table {need.table} ({who}): Scan failed: {code or exc}") from None
            except BotoCoreError as exc:
                raise InputError(
                    f"DynamoDB table {need.table} ({', '.join(sorted(need.entities))}) is not in the exports "
                    f"{where} and cannot be read live: {_boto_reason(exc)}"
                ) from None
            items = sum(p[0] for p in parts)
            done = sum(p[1] for p in parts) if need.done_attr else None
            counts[need.table] = TableCount(table=need.table, items=items, done=done, source="live")
    return counts


def aws_session(settings: Settings) -> Any:
    """A boto3 session from the settings (imported only when AWS is needed)."""
    import boto3

    return boto3.session.Session(
        aws_access_key_id=settings.get("AWS_ACCESS_KEY_ID") or None,
        aws_secret_access_key=settings.get("AWS_SECRET_ACCESS_KEY") or None,
        aws_session_token=settings.get("AWS_SESSION_TOKEN") or None,
        profile_name=settings.get("AWS_PROFILE") or None,
        region_name=settings.region,
    )


def aws_client(settings: Settings, service: str, config: Any = None) -> Any:
    """A boto3 client for `service`, honouring AWS_ENDPOINT_URL."""
    from botocore.exceptions import BotoCoreError

    try:
        return aws_session(settings).client(
            service, endpoint_url=settings.get("AWS_ENDPOINT_URL") or None, config=config
        )
    except BotoCoreError as exc:
        raise ConfigError(f"AWS settings: {_boto_reason(exc)}; check AWS_PROFILE and AWS_REGION") from None


def _boto_reason(exc: BaseException) -> str:
    """What to print of a botocore error: the endpoint's origin or the profile it names, else only its class.

    Other botocore messages can carry a credential helper's output, tokens among it, and
    an endpoint's full URL (a token in its path or query): only scheme, host and port are shown.
    """
    from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError, ProfileNotFound

    if isinstance(exc, (EndpointConnectionError, ConnectTimeoutError)):
        what = "timed out connecting to" if isinstance(exc, ConnectTimeoutError) else "could not connect to"
        return f"{what} {url_origin(str(exc.kwargs.get('endpoint_url', '')))}"
    if isinstance(exc, ProfileNotFound):
        return redact(" ".join(str(exc).split()))
    return type(exc).__name__


def _credential_errors() -> tuple[type[BaseException], ...]:
    """botocore's exceptions for credentials that are missing, expired or cannot be fetched."""
    import botocore.exceptions as bex

    names = ("NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError", "TokenRetrievalError",
             "SSOError", "NoAuthTokenError", "RefreshWithMFAUnsupportedError", "UnauthorizedSSOTokenError")
    return tuple(getattr(bex, n) for n in names if hasattr(bex, n))


# ---------------------------------------------------------------------------
# Figures (SPEC §2.3): pure functions of the handoffs, table counts and as-of date.


def iso_period(day: dt.date) -> str:
    """The ISO week of a date, written 2026-W47."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def month_key(day: dt.date, offset: int = 0) -> str:
    """The YYYY-MM of the month `offset` months from day's month."""
    index = day.year * 12 + day.month - 1 + offset
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def linear_fit(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares line through (x, y) points: (slope, intercept)."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    sxy = sum((x - mx) * (y - my) for x, y in points)
    slope = sxy / sxx
    return slope, my - slope * mx


def _ratio(part: float, whole: float) -> float | str:
    """part / whole, or 'n/a' when whole is zero."""
    return part / whole if whole else "n/a"


def _sum(values: Iterable[Any]) -> float:
    """Sum the numbers, ignoring None."""
    return sum(v for v in values if v is not None)


def _rank(level: str) -> int:
    """Sort key of an urgency or severity, most urgent first."""
    return URGENCIES.index(level)


def entity_figures(
    name: str, docs: list[Handoff], counts: dict[str, TableCount], as_of: dt.date
) -> dict[str, Any]:
    """Every per-entity figure of SPEC §2.3."""
    e: dict[str, Any] = {"name": name, "projects": len(docs)}

    def items(key: str) -> list[tuple[Handoff, dict[str, Any]]]:
        return [(d, item) for d in docs for item in d.data.get(key) or []]

    cash_values = [d.data["cash"] for d in docs if d.data.get("cash") is not None]
    e["cash"] = sum(cash_values) if cash_values else NO_DATA

    months: dict[str, dict[str, float]] = {}
    for d in docs:
        for month, fig in (d.data.get("financials") or {}).items():
            slot = months.setdefault(month, {"revenue": 0, "expenses": 0})
            slot["revenue"] += fig["revenue"]
            slot["expenses"] += fig["expenses"]
    window = [month_key(as_of, -i) for i in range(WINDOW_MONTHS, 0, -1)]
    present = [m for m in window if m in months]
    e["window_months"] = len(present)
    e["window_missing"] = [m for m in window if m not in months]
    if present:
        e["revenue_avg"] = sum(months[m]["revenue"] for m in present) / len(present)
        e["expenses_avg"] = sum(months[m]["expenses"] for m in present) / len(present)
        e["burn"] = e["expenses_avg"] - e["revenue_avg"]
        e["noi"] = -e["burn"]
        e["break_even_gap"] = max(e["burn"], 0)
        e["margin"] = _ratio(e["noi"], e["revenue_avg"])
        if e["burn"] <= 0:
            e["runway"] = NOT_BURNING
        elif isinstance(e["cash"], str):
            e["runway"] = NO_CASH
        else:
            e["runway"] = e["cash"] / e["burn"]
    else:
        for key in ("revenue_avg", "expenses_avg", "burn", "noi", "break_even_gap", "margin", "runway"):
            e[key] = NO_DATA

    trend = [month_key(as_of, -i) for i in range(TREND_MONTHS, 0, -1)]
    points = [(float(i), float(months[m]["revenue"])) for i, m in enumerate(trend) if m in months]
    if len(points) >= MIN_TREND_POINTS:
        slope, intercept = linear_fit(points)
        e["growth"] = slope
        e["projection"] = [
            {"month": month_key(as_of, k), "revenue": max(0.0, intercept + slope * (TREND_MONTHS + k))}
            for k in range(PROJECTION_MONTHS)
        ]
    else:
        e["growth"] = e["projection"] = INSUFFICIENT
    if isinstance(e["growth"], str) or isinstance(e["burn"], str):
        e["deployment"] = INSUFFICIENT
    elif e["growth"] > 0:
        e["deployment"] = "invest" if e["burn"] <= 0 else "fix"
    else:
        e["deployment"] = "maintain" if e["burn"] <= 0 else "review"
    e["monthly"] = [
        {"month": m, **months[m], "net": months[m]["revenue"] - months[m]["expenses"]} if m in months
        else {"month": m, "revenue": NO_DATA, "expenses": NO_DATA, "net": NO_DATA}
        for m in trend
    ] if any(m in months for m in trend) else []

    stack = items("stack")
    e["infra_cost"] = _sum(s.get("monthly_cost") for _, s in stack)
    e["savings"] = _sum(s.get("monthly_cost") for _, s in stack if s.get("in_use") is False)
    assets = items("assets")
    e["assets"] = [a for _, a in assets]
    e["assets_total"] = _sum(a.get("value") for _, a in assets)

    for role in ("events", "users"):
        tables = {d.data["dynamodb"][role] for d in docs if (d.data.get("dynamodb") or {}).get(role)}
        e[role] = sum(counts[t].items for t in tables) if tables else NO_DATA
    checklists = {
        d.data["dynamodb"]["checklist"]["table"] for d in docs if (d.data.get("dynamodb") or {}).get("checklist")
    }
    if checklists:
        done = sum(counts[t].done or 0 for t in checklists)
        total = sum(counts[t].items for t in checklists)
        e["checklist_done"], e["checklist_items"] = done, total
        e["checklist_pct"] = _ratio(done, total)
    else:
        e["checklist_done"] = e["checklist_items"] = e["checklist_pct"] = NO_DATA

    e["rental"] = rental_figures(items("units"), items("maintenance"), e, as_of) if items("units") else None
    e["yacht"] = delivery_figures([x for _, x in items("deliveries")]) if items("deliveries") else None
    e["agency"] = client_figures([x for _, x in items("clients")], as_of) if items("clients") else None
    return e


def rental_figures(
    units: list[tuple[Handoff, dict[str, Any]]],
    maintenance: list[tuple[Handoff, dict[str, Any]]],
    e: dict[str, Any],
    as_of: dt.date,
) -> dict[str, Any]:
    """Occupancy, rent roll, delinquency, leases ending, maintenance, NOI."""
    rows = [u for _, u in units]
    occupied = [u for u in rows if u["status"] == "occupied"]
    horizon = as_of + dt.timedelta(days=LEASE_HORIZON_DAYS)
    ending = sorted(
        (u for u in occupied if u.get("lease_end") and u["lease_end"] <= horizon),
        key=lambda u: (u["lease_end"], u["unit"]),
    )
    open_items = [m for _, m in maintenance if m["status"] == "open"]
    return {
        "units": rows,
        "unit_count": len(rows),
        "occupied": len(occupied),
        "occupancy": _ratio(len(occupied), len(rows)),
        "scheduled_rent": _sum(u.get("rent") for u in occupied),
        "delinquency": _sum(u.get("balance_due") for u in rows),
        "leases_ending": [
            {**u, "days_left": (u["lease_end"] - as_of).days, "ended": u["lease_end"] < as_of} for u in ending
        ],
        "maintenance_open": sorted(open_items, key=lambda m: (m.get("opened") or dt.date.max, m["item"])),
        "maintenance_open_cost": _sum(m.get("cost") for m in open_items),
        "noi": e["noi"],
    }


def delivery_figures(deliveries: list[dict[str, Any]]) -> dict[str, Any]:
    """P&L per delivery, margins, pipeline, average margin of completed jobs."""
    rows = []
    for d in sorted(deliveries, key=lambda d: (d.get("date") or dt.date.max, d["id"])):
        revenue = d.get("revenue") or 0
        cost = _sum((d.get("costs") or {}).values())
        rows.append({**d, "revenue": revenue, "cost": cost, "margin": revenue - cost,
                     "margin_pct": _ratio(revenue - cost, revenue)})
    completed = [r for r in rows if r["status"] == "completed" and not isinstance(r["margin_pct"], str)]
    return {
        "rows": rows,
        "pipeline": _sum(r["revenue"] for r in rows if r["status"] in ("quoted", "booked")),
        "pipeline_count": sum(1 for r in rows if r["status"] in ("quoted", "booked")),
        "completed_revenue": _sum(r["revenue"] for r in rows if r["status"] == "completed"),
        "completed_margin": _sum(r["margin"] for r in rows if r["status"] == "completed"),
        "avg_margin_pct": (sum(r["margin_pct"] for r in completed) / len(completed)) if completed else NO_DATA,
    }


def client_figures(clients: list[dict[str, Any]], as_of: dt.date) -> dict[str, Any]:
    """MRR, concentration, effective rates, outstanding, neglected clients."""
    active = [c for c in clients if c["status"] == "active"]
    mrr = _sum(c.get("monthly_fee") for c in active)
    rows = []
    for c in sorted(clients, key=lambda c: (("active", "prospect", "churned").index(c["status"]), c["name"])):
        hours = c.get("hours_last_30d")
        fee = c.get("monthly_fee")
        active_fee = c["status"] == "active" and hours and fee is not None
        rows.append({**c, "rate": fee / hours if active_fee else "n/a"})
    largest = max(active, key=lambda c: c.get("monthly_fee") or 0, default=None)
    neglected = [
        {**c, "days": (as_of - c["last_contact"]).days}
        for c in rows
        if c["status"] != "churned" and c.get("last_contact") and (as_of - c["last_contact"]).days > NEGLECT_DAYS
    ]
    return {
        "rows": rows,
        "mrr": mrr,
        "active": len(active),
        "largest": largest["name"] if largest else NO_DATA,
        "concentration": _ratio(largest.get("monthly_fee") or 0, mrr) if largest else NO_DATA,
        "outstanding": _sum(c.get("outstanding") for c in clients),
        "owing": [c for c in rows if (c.get("outstanding") or 0) > 0],
        "neglected": sorted(neglected, key=lambda c: -c["days"]),
    }


def compute_metrics(portfolio: Portfolio, counts: dict[str, TableCount], as_of: dt.date) -> dict[str, Any]:
    """All figures every report can use, from pure inputs."""
    docs = portfolio.handoffs
    by_entity: dict[str, list[Handoff]] = defaultdict(list)
    for d in docs:
        by_entity[d.entity].append(d)
    entities = {
        name: entity_figures(name, by_entity[name], counts, as_of) for name in sorted(by_entity, key=str.casefold)
    }

    def rows(key: str) -> list[dict[str, Any]]:
        return [
            {"entity": d.entity, "project": d.project, **item}
            for d in sorted(docs, key=lambda d: (d.entity.casefold(), d.project.casefold()))
            for item in d.data.get(key) or []
        ]

    m: dict[str, Any] = {
        "as_of": as_of,
        "period": iso_period(as_of),
        "window": [month_key(as_of, -i) for i in range(WINDOW_MONTHS, 0, -1)],
        "entities": entities,
    }
    projects = []
    for d in sorted(docs, key=lambda d: (d.entity.casefold(), d.project.casefold())):
        age = (as_of - d.data["updated"]).days
        projects.append({
            "entity": d.entity, "project": d.project, "status": d.data["status"], "owner": d.data.get("owner"),
            "updated": d.data["updated"], "age_days": age, "stale": age > STALE_DAYS, "file": d.file,
        })
    m["projects"] = projects
    m["status_counts"] = {s: sum(1 for p in projects if p["status"] == s) for s in STATUSES}
    m["troubled"] = [p for p in projects if p["status"] in ("blocked", "at-risk")]
    m["stale"] = sorted((p for p in projects if p["stale"]), key=lambda p: -p["age_days"])

    m["portfolio"] = portfolio_figures(entities)

    kpis = []
    for k in rows("kpis"):
        better = k.get("better") or "higher"
        value, target = k.get("value"), k.get("target")
        if value is None:
            state = "missing"
        elif target is None:
            state = "no target"
        elif (value < target) if better == "higher" else (value > target):
            state = "gap"
        else:
            state = "on target"
        kpis.append({**k, "better": better, "state": state})
    m["kpis"] = kpis
    m["kpi_gaps"] = [k for k in kpis if k["state"] == "gap"]
    m["kpi_missing"] = [k for k in kpis if k["state"] == "missing"]

    shortfalls = [{**s, "source": "declared"} for s in rows("shortfalls")]
    for e in entities.values():
        if isinstance(e["runway"], float) and e["runway"] < RUNWAY_ALERT_MONTHS:
            shortfalls.append({
                "entity": e["name"], "project": None, "urgency": "critical", "persona": "CFO", "source": "derived",
                "title": f"Runway {e['runway']:.1f} months at {format_money(e['burn'])}/month burn",
            })
    security = rows("security")
    for s in security:
        if not s.get("fixed") and s["severity"] in ("critical", "high"):
            shortfalls.append({
                "entity": s["entity"], "project": s["project"], "urgency": s["severity"], "persona": "CTO",
                "source": "derived", "title": f"Unfixed security finding: {s['finding']}",
            })
    for k in m["kpi_missing"]:
        shortfalls.append({
            "entity": k["entity"], "project": k["project"], "urgency": "medium", "persona": None,
            "source": "derived", "title": f"Missing KPI: {k['name']}",
        })
    shortfalls.sort(key=lambda s: (_rank(s["urgency"]), s["entity"].casefold(), s["title"].casefold()))
    m["shortfalls"] = shortfalls
    m["security"] = sorted(
        (s for s in security if not s.get("fixed")),
        key=lambda s: (_rank(s["severity"]), s["entity"].casefold(), s["finding"].casefold()),
    )
    m["security_counts"] = {sev: sum(1 for s in m["security"] if s["severity"] == sev) for sev in URGENCIES}

    horizon = m["action_horizon"] = as_of + dt.timedelta(days=ACTION_HORIZON_DAYS)
    actions = []
    for a in rows("actions"):
        due = a.get("due")
        overdue = bool(due and due < as_of and not a.get("done"))
        actions.append({**a, "done": bool(a.get("done")), "overdue": overdue,
                        "days_overdue": (as_of - due).days if overdue else 0})
    m["actions"] = sorted(actions, key=lambda a: (a.get("due") or dt.date.max, a["title"].casefold()))
    m["actions_30d"] = sorted(
        (a for a in actions if not a["done"] and a.get("due") and a["due"] <= horizon),
        key=lambda a: (a.get("priority") if a.get("priority") is not None else 99, a["due"], a["title"].casefold()),
    )

    stack = []
    for s in rows("stack"):
        last = s.get("last_deploy")
        stack.append({**s, "in_use": s.get("in_use") is not False,
                      "days_since_deploy": (as_of - last).days if last else NO_DATA})
    m["stack"] = stack

    channels = rows("channels")
    m["channels"] = [
        {**c, "lead_rate": _ratio(c.get("leads") or 0, c["visits"]) if c.get("visits") is not None else NO_DATA,
         "close_rate": _ratio(c.get("conversions") or 0, c["leads"]) if c.get("leads") is not None else NO_DATA}
        for c in channels
    ]
    blasts = []
    for c in channels:
        b = c.get("blast")
        if not b:
            continue
        parts = [b.get(k) for k in BLAST]
        potential = NO_DATA if any(p is None for p in parts) else _product(parts)
        blasts.append({"entity": c["entity"], "name": c["name"], **b, "potential": potential})
    m["blasts"] = blasts
    m["blast_total"] = _sum(b["potential"] for b in blasts if not isinstance(b["potential"], str))
    m["ota"] = sorted(
        (c for c in channels if (c.get("kind") or "").lower() == "ota"),
        key=lambda c: (c.get("launch") or dt.date.max, c["name"].casefold()),
    )
    m["cmo_milestones"] = [a for a in m["actions"] if (a.get("persona") or "").upper() == "CMO"]

    recognition = rows("revenue_recognition")
    m["deferred"] = sorted(
        (r for r in recognition if r.get("received") and r["received"] <= as_of and r["service_date"] > as_of),
        key=lambda r: (r["service_date"], r["entity"].casefold()),
    )
    m["receivables"] = sorted(
        (
            {**r, "days_outstanding": (as_of - r["service_date"]).days}
            for r in recognition
            if r["service_date"] <= as_of and not (r.get("received") and r["received"] <= as_of)
        ),
        key=lambda r: (r["service_date"], r["entity"].casefold()),
    )
    m["deferred_total"] = _sum(r["amount"] for r in m["deferred"])
    m["receivables_total"] = _sum(r["amount"] for r in m["receivables"])
    expenses = rows("expenses")
    accounts: dict[str, dict[str, Any]] = {}
    for x in expenses:
        if x.get("category"):
            acct = accounts.setdefault(x["category"], {"category": x["category"], "total": 0, "entries": 0})
            acct["total"] += x["amount"]
            acct["entries"] += 1
    m["accounts"] = sorted(accounts.values(), key=lambda a: a["category"].casefold())
    m["accounts_total"] = _sum(a["total"] for a in m["accounts"])
    m["uncategorized"] = [x for x in expenses if not x.get("category")]
    m["uncategorized_total"] = _sum(x["amount"] for x in m["uncategorized"])
    m["assets"] = rows("assets")
    m["sources"] = {
        "handoffs": len(docs),
        "skipped": len(portfolio.skipped),
        "tables": sorted(counts),
        "dynamodb": sorted({c.source for c in counts.values()}),
    }
    return m


def _product(values: list[float]) -> float:
    """Multiply the values."""
    out = 1.0
    for v in values:
        out *= v
    return out


def portfolio_figures(entities: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Portfolio totals: sums over the entities that have data."""
    with_data = [e for e in entities.values() if not isinstance(e["burn"], str)]
    cash_values = [e["cash"] for e in entities.values() if not isinstance(e["cash"], str)]
    p: dict[str, Any] = {"entities": len(entities), "entities_with_data": len(with_data)}
    p["cash"] = sum(cash_values) if cash_values else NO_DATA
    if with_data:
        p["revenue_avg"] = sum(e["revenue_avg"] for e in with_data)
        p["expenses_avg"] = sum(e["expenses_avg"] for e in with_data)
        p["burn"] = sum(e["burn"] for e in with_data)
        p["break_even_gap"] = max(p["burn"], 0)
        if p["burn"] <= 0:
            p["runway"] = NOT_BURNING
        else:
            funded = [e["cash"] for e in with_data if not isinstance(e["cash"], str)]
            p["runway"] = sum(funded) / p["burn"] if funded else NO_CASH
    else:
        for key in ("revenue_avg", "expenses_avg", "burn", "break_even_gap", "runway"):
            p[key] = NO_DATA
    projected = [e for e in entities.values() if not isinstance(e["projection"], str)]
    if projected:
        p["growth"] = sum(e["growth"] for e in projected)
        p["projection"] = [
            {"month": month["month"], "revenue": sum(e["projection"][i]["revenue"] for e in projected)}
            for i, month in enumerate(projected[0]["projection"])
        ]
    else:
        p["growth"] = p["projection"] = INSUFFICIENT
    p["infra_cost"] = sum(e["infra_cost"] for e in entities.values())
    p["savings"] = sum(e["savings"] for e in entities.values())
    p["assets_total"] = sum(e["assets_total"] for e in entities.values())
    p["assets_count"] = sum(len(e["assets"]) for e in entities.values())
    return p


# ---------------------------------------------------------------------------
# Formatting (the same in every report). A figure that could not be computed is a
# short text ("no data", "not burning"), which every formatter passes through.


def _round(value: float, places: int = 0) -> Decimal:
    """Round half up, as people do, not half to even."""
    return Decimal(str(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _figure(fmt: Callable[[Any], str]) -> Callable[[Any], str]:
    """A formatter that passes a figure's text ('no data', 'n/a') through unchanged."""

    @functools.wraps(fmt)
    def wrapper(value: Any) -> str:
        if isinstance(value, str) or value is None:
            return value or NO_DATA
        return fmt(value)

    return wrapper


@_figure
def format_money(value: Any) -> str:
    """$12,345 in whole dollars, $23.50 under $100."""
    sign = "-" if value < 0 else ""
    amount = abs(value)
    if _round(amount, 2) < 100:
        return f"{sign}${_round(amount, 2):,.2f}"
    return f"{sign}${_round(amount):,.0f}"


def format_per_month(value: Any) -> str:
    """Money a month: $1,234/month (a text such as 'no data' as it is)."""
    return format_money(value) + ("/month" if isinstance(value, (int, float, Decimal)) else "")


@_figure
def format_count(value: Any) -> str:
    """1,375."""
    return f"{_round(value):,.0f}"


@_figure
def format_pct(value: Any) -> str:
    """A ratio as a percentage with one decimal: 0.4286 -> 42.9%."""
    return f"{_round(value * 100, 1):,.1f}%"


@_figure
def format_months(value: Any) -> str:
    """Months with one decimal: 4.3."""
    return f"{_round(value, 1):,.1f}"


@_figure
def format_number(value: Any) -> str:
    """A plain number: whole numbers without decimals, others with up to two."""
    rounded = _round(value, 2)
    if rounded == 0:
        return "0"
    if rounded == rounded.to_integral_value():
        return format_count(rounded)
    return f"{rounded:,.2f}".rstrip("0").rstrip(".")


@_figure
def format_days(value: Any) -> str:
    """A count of days: 1 day, 14 days."""
    return f"{format_count(value)} day{'s' * (value != 1)}"


def format_date(value: Any) -> str:
    """ISO date."""
    if isinstance(value, dt.date):
        return value.isoformat()
    return value if value else "—"


# ---------------------------------------------------------------------------
# Rendering: template (Jinja2) -> Markdown -> HTML (markdown) -> text (html2text).


@dataclass
class ReportTemplate:
    """One report template from reports/."""

    id: str
    path: Path
    title: str
    persona: str
    subject: str
    entity: str | None
    order: float
    body: str
    body_line: int  # file line where the body starts, for error messages


@dataclass
class RenderedReport:
    """A report ready to send."""

    id: str
    subject: str
    text: str


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]>#!])")
_WHITESPACE = re.compile(r"\s+")
_MD_LINE_START = re.compile(r"^(\s*)([-+]|\d+\.)(\s|$)")


def md_escape(value: Any) -> Any:
    """Escape text from handoffs so Markdown shows it as written, on one line."""
    if value is None:
        return "—"
    if not isinstance(value, str):
        return value
    value = _WHITESPACE.sub(" ", value)  # a line break in a name must not start a new block
    value = _MD_SPECIAL.sub(r"\\\1", value)
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace("|", "&#124;")
    return _MD_LINE_START.sub(lambda m: m.group(1) + m.group(2)[:-1] + "\\" + m.group(2)[-1] + m.group(3), value)


def plain_text(value: Any) -> Any:
    """Template output for a subject line: text on one line, nothing escaped."""
    if value is None:
        return "—"
    return _WHITESPACE.sub(" ", value) if isinstance(value, str) else value


def load_reports(reports_dir: Path = REPORTS_DIR) -> list[ReportTemplate]:
    """Read every *.md in reports/: one report each, ordered by `order` then id."""
    if not reports_dir.is_dir():
        raise ConfigError(f"{reports_dir}: no reports folder next to the script")
    reports = []
    for path in sorted(reports_dir.glob("*.md")):
        try:
            text = path.read_text(encoding="utf-8")
            parts = split_front_matter(text)
        except (UnicodeDecodeError, ValueError) as exc:
            raise ConfigError(f"{path}: not a report template ({exc}); see README 'Adding a report'") from None
        if parts is None:
            raise ConfigError(f"{path}:1: report template has no front matter (title, persona, subject)")
        front, body = parts
        try:
            meta = yaml.load(front, Loader=YamlLoader) or {}  # YamlLoader is a safe loader
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: front matter is not valid YAML ({exc})") from None
        if not isinstance(meta, dict):
            raise ConfigError(f"{path}:2: front matter must be keys and values")
        for key in ("title", "persona", "subject"):
            if not isinstance(meta.get(key), str) or not meta[key].strip():
                raise ConfigError(f"{path}:2: {key} is required in the template's front matter")
        order = meta.get("order", 1000)
        if isinstance(order, bool) or not isinstance(order, (int, float)):
            raise ConfigError(f"{path}:2: order must be a number")
        reports.append(ReportTemplate(
            id=path.stem, path=path, title=meta["title"], persona=meta["persona"], subject=meta["subject"],
            entity=meta.get("entity"), order=order, body=body, body_line=front.count("\n") + 3,
        ))
    if not reports:
        raise ConfigError(f"{reports_dir}: no report templates (*.md)")
    return sorted(reports, key=lambda r: (r.order, r.id))


def select_reports(reports: list[ReportTemplate], only: str | None) -> list[ReportTemplate]:
    """The reports named by --only (all when not given), ids matched without regard to case."""
    if only is None:
        return reports
    wanted = [w.strip() for w in only.split(",") if w.strip()]
    known = {r.id.lower() for r in reports}
    unknown = [w for w in wanted if w.lower() not in known]
    if unknown or not wanted:
        raise UsageError(
            f"--only {only}: unknown report {', '.join(unknown) or '(none named)'}; "
            f"choose from {', '.join(r.id for r in reports)}"
        )
    return [r for r in reports if r.id.lower() in {w.lower() for w in wanted}]


class _TemplateCache(jinja2.FileSystemBytecodeCache):
    """Compiled templates kept between runs (compiling is most of a small run's time).

    A cache that cannot be written only makes the next run slower.
    """

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError as exc:
            log.debug("template cache not written: %s", exc)


def jinja_env(reports: Iterable[ReportTemplate] = ()) -> jinja2.Environment:
    """The template environment: strict, escaping handoff text for Markdown.

    Each report's body is the template named by its id, and its subject `<id>:subject`;
    the body keeps its file's line numbers, so errors name the right line.
    """
    sources: dict[str, tuple[str, str]] = {}
    for r in reports:
        sources[r.id] = ("\n" * (r.body_line - 1) + r.body, str(r.path))
        sources[f"{r.id}:subject"] = (r.subject, str(r.path))

    def load(name: str) -> tuple[str, str, Callable[[], bool]] | None:
        return (*sources[name], lambda: True) if name in sources else None

    try:
        cache: jinja2.BytecodeCache | None = _TemplateCache()
    except (OSError, RuntimeError) as exc:  # no private cache folder can be made
        log.debug("no template cache: %s", exc)
        cache = None
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(load),
        bytecode_cache=cache,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=md_escape,
    )
    env.filters.update(
        money=format_money, count=format_count, pct=format_pct, months=format_months,
        number=format_number, date=format_date, days=format_days, per_month=format_per_month,
    )
    return env


def _cols(text: str) -> int:
    """How many terminal columns text takes (CJK characters take two, accents none)."""
    if text.isascii():
        return len(text)
    return sum(
        2 if unicodedata.east_asian_width(ch) in "WF" else 0 if unicodedata.combining(ch) else 1 for ch in text
    )


def _fit(text: str, width: int) -> list[str]:
    """Wrap text into lines of at most `width` columns."""
    if _cols(text) <= width:
        return [text]
    chars = width if text.isascii() else max(1, width * len(text) // _cols(text))
    return textwrap.wrap(text, chars, break_on_hyphens=False, break_long_words=True) or [""]


def _pad(text: str, width: int, right: bool) -> str:
    """Pad text to `width` columns, on the left for numbers."""
    fill = " " * max(0, width - _cols(text))
    return fill + text if right else text + fill


def layout_table(rows: list[list[str]], right: list[bool], width: int = WRAP_WIDTH) -> str:
    """Lay out a table as aligned plain-text columns that fit `width`.

    Columns are separated by " | ", headers underlined with dashes, numbers right-
    aligned. When the natural width is too wide, the widest columns are narrowed
    and their cells wrapped, and a wrapped row is set apart by empty lines.
    """
    ncols = max(len(r) for r in rows)
    rows = [r + [""] * (ncols - len(r)) for r in rows]
    right = (right + [False] * ncols)[:ncols]
    widths = [max(_cols(r[c]) for r in rows) for c in range(ncols)]
    longest_word = [max((_cols(w) for r in rows for w in r[c].split()), default=0) for c in range(ncols)]
    sep = " | "  # columns stay apart in a proportional font too (Gmail shows plain text so)
    gap = len(sep)
    # Narrow the widest column first; numbers and words are split only as a last resort.
    for floors in (
        [longest_word[c] if right[c] else min(longest_word[c], 20) for c in range(ncols)],
        [min(widths[c], 4) for c in range(ncols)],
    ):
        while sum(widths) + gap * (ncols - 1) > width:
            shrinkable = [c for c in range(ncols) if widths[c] > floors[c]]
            if not shrinkable:
                break
            widths[max(shrinkable, key=lambda c: widths[c])] -= 1

    def line(cells: list[str]) -> str:
        return sep.join(_pad(t, w, r) for t, w, r in zip(cells, widths, right, strict=True)).rstrip()

    def wrapped(r: list[str]) -> list[str]:
        cells = [_fit(r[c], widths[c]) for c in range(ncols)]
        height = max(len(cell) for cell in cells)
        return [line([cell[i] if i < len(cell) else "" for cell in cells]) for i in range(height)]

    spacer = line([""] * ncols)  # set a wrapped row apart from its neighbours
    out = [*wrapped(rows[0]), "-+-".join("-" * w for w in widths)]
    body_start = len(out)
    for r in rows[1:]:
        lines = wrapped(r)
        if len(lines) > 1 and out[-1] != spacer and len(out) > body_start:
            out.append(spacer)
        out += lines
        if len(lines) > 1:
            out.append(spacer)
    if out[-1] == spacer:
        out.pop()
    return "\n".join(out)


_LIST_ITEM_RE = re.compile(r"^(\s*)([-*+]|\d+\.) ")
_TABLE_ROW_RE = re.compile(r"^\s*\|")
_TABLE_RULE_RE = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")
_CELL_SPLIT_RE = re.compile(r"(?<!\\)\|")
_MD_UNESCAPE_RE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!>|])")


def _cells(row: str) -> list[str]:
    """The cells of a Markdown table row, as plain text."""
    row = row.strip()
    row = row[1:] if row.startswith("|") else row
    row = row[:-1] if row.endswith("|") and not row.endswith("\\|") else row
    return [html.unescape(_MD_UNESCAPE_RE.sub(r"\1", c.strip())) for c in _CELL_SPLIT_RE.split(row)]


def _take_tables(md: str, width: int) -> tuple[str, list[str]]:
    """Lay out every Markdown table as text; return the Markdown with placeholders, and the tables.

    Tables are laid out here rather than through HTML: faster on big portfolios, and
    the columns are ours to fit into the width.
    """
    lines = md.split("\n")
    out: list[str] = []
    tables: list[str] = []
    i = 0
    while i < len(lines):
        if (_TABLE_ROW_RE.match(lines[i]) and i + 1 < len(lines) and "-" in lines[i + 1]
                and _TABLE_RULE_RE.match(lines[i + 1])):
            right = [c.endswith(":") for c in _cells(lines[i + 1])]
            rows = [_cells(lines[i])]
            i += 2
            while i < len(lines) and _TABLE_ROW_RE.match(lines[i]):
                rows.append(_cells(lines[i]))
                i += 1
            tables.append(layout_table(rows, right, width))
            out += ["", f"@@TABLE{len(tables) - 1}@@", ""]
            continue
        out.append(lines[i])
        i += 1
    return "\n".join(out), tables


@functools.cache
def _markdown() -> markdown.Markdown:
    """One Markdown converter for the run (building one costs more than converting a report)."""
    return markdown.Markdown()


def text_from_markdown(md: str, width: int = WRAP_WIDTH) -> str:
    """Markdown to plain text for email: aligned tables, wrapped lines, no markup."""
    md, tables = _take_tables(md, width)
    conv = html2text.HTML2Text(bodywidth=0)
    conv.ignore_emphasis = True
    conv.ignore_links = True
    conv.ignore_images = True
    conv.unicode_snob = True
    conv.ul_item_mark = "-"
    out: list[str] = []
    for line in conv.handle(_markdown().reset().convert(md)).splitlines():
        line = line.rstrip()
        heading = re.match(r"^(#{1,6}) (.*)$", line)
        table = re.fullmatch(r"@@TABLE(\d+)@@", line.strip())
        if heading:
            title = heading.group(2).strip()
            level = len(heading.group(1))
            out.append(title.upper() if level == 1 else title)
            if level <= 2:
                out.append(("=" if level == 1 else "-") * len(title))
        elif table:
            out.append(tables[int(table.group(1))])
        elif line == "* * *":
            out.append("-" * width)
        else:
            item = _LIST_ITEM_RE.match(line)
            indent = " " * (len(item.group(0)) if item else len(line) - len(line.lstrip()))
            out.extend(
                textwrap.wrap(line, width, subsequent_indent=indent, break_on_hyphens=False, break_long_words=False)
                or [""]
            )
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip() + "\n"


def sources_line(metrics: dict[str, Any]) -> str:
    """The closing data-sources line of every report."""
    s = metrics["sources"]
    skipped = f" ({s['skipped']} Markdown file{'s' * (s['skipped'] != 1)} without front matter skipped)"
    tables = ", ".join(s["tables"]) if s["tables"] else "none"
    how = " and ".join(f"{src}s" if src == "export" else src for src in s["dynamodb"])
    via = f" ({how})" if how else ""
    return (
        f"Data sources: {s['handoffs']} handoff{'s' * (s['handoffs'] != 1)}"
        f"{skipped if s['skipped'] else ''}; DynamoDB tables{via}: {tables}; "
        f"as of {metrics['as_of'].isoformat()}."
    )


def render_report(
    report: ReportTemplate, metrics: dict[str, Any], env: jinja2.Environment | None = None
) -> RenderedReport:
    """Render one report to its subject and plain-text body."""
    env = env or jinja_env([report])
    context = {**metrics, "report": report, "title": report.title, "persona": report.persona}
    if report.entity:
        unit = metrics["entities"].get(report.entity)
        if unit is None:
            known = ", ".join(metrics["entities"]) or "none"
            raise InputError(
                f"{report.path}:2: entity {report.entity!r} has no handoff documents; "
                f"fix the template's entity, add a handoff, or delete the template if the business is gone "
                f"(entities: {known})"
            )
        context["e"] = unit
    try:
        body_md = env.get_template(report.id).render(context)
        subject = env.overlay(finalize=plain_text).get_template(f"{report.id}:subject").render(context)
    except jinja2.TemplateSyntaxError as exc:
        raise ConfigError(f"{report.path}:{exc.lineno}: template error: {exc.message}") from None
    except jinja2.UndefinedError as exc:
        line = _template_line(exc, report.path)
        raise ConfigError(
            f"{report.path}:{line}: template uses a figure that does not exist ({exc.message}); "
            "see README 'Adding a report' for the figures"
        ) from None
    subject = " ".join(subject.split())
    header = f"# {md_escape(report.title)}\n\nPeriod: {metrics['period']} (as of {metrics['as_of'].isoformat()})\n\n"
    footer = f"\n\n---\n\n{md_escape(sources_line(metrics))}\n"
    return RenderedReport(id=report.id, subject=subject, text=text_from_markdown(header + body_md + footer))


def _template_line(exc: BaseException, path: Path) -> int | str:
    """The template line a rendering error happened on, from its traceback."""
    line: int | str = "?"
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == str(path):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def render_all(reports: list[ReportTemplate], metrics: dict[str, Any]) -> list[RenderedReport]:
    """Render every selected report before anything is sent."""
    env = jinja_env(reports)
    return [render_report(r, metrics, env) for r in reports]


def dry_run_text(rendered: list[RenderedReport], shown: Delivery) -> str:
    """What would be sent: headers and body of every report."""
    return "\n".join("=" * WRAP_WIDTH + "\n" + envelope(r, shown) for r in rendered)


# ---------------------------------------------------------------------------
# Delivery: settings check, SES sending with pacing and retries, the ledger, the lock
# and the archive. A report is recorded as "sending" before SES is called and "sent"
# right after SES accepts it, so a run that dies in between leaves an "unknown" mark
# that the next run reports instead of resending. Nothing here follows a symbolic link
# planted inside ARCHIVE_DIR (ARCHIVE_DIR itself may be one).


THROTTLE_CODES = {"Throttling", "ThrottlingException", "TooManyRequestsException"}
CREDENTIAL_CODES = {
    "InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch", "ExpiredToken",
}
FATAL_CODES = {
    "AccountSendingPausedException": "sending is paused for this SES account; see the SES console's "
    "account dashboard (reputation) and ask AWS to resume it",
    "AccessDenied": "the AWS credentials may not call ses:SendEmail; grant it in IAM",
    "AccessDeniedException": "the AWS credentials may not call ses:SendEmail; grant it in IAM",
    "InvalidClientTokenId": "the AWS access key is not valid; check the credentials",
    "UnrecognizedClientException": "the AWS access key is not valid; check the credentials",
    "SignatureDoesNotMatch": "the AWS secret key does not match; check the credentials",
    "ExpiredToken": "the AWS session token has expired; renew the credentials",
    "MailFromDomainNotVerifiedException": "the custom MAIL FROM domain is not verified; fix it in SES",
}
DAILY_QUOTA_TEXT = "daily message quota exceeded"
MAX_SEND_ATTEMPTS = 6
BACKOFF_BASE_SECONDS = 0.25  # then 0.5, 1, 2, 4 seconds
DEFAULT_SEND_RATE = 1.0  # messages a second when GetSendQuota cannot be read
LOCK_WAIT_SECONDS = 3.0  # a second run waits this long for the first, then exits 75
LOCK_NAME = ".send_exec_reports.lock"
LEDGER_NAME = "ledger.json"
LEDGER_MAX_BYTES = 16 << 20  # a ledger holds a few lines a report: anything near this is not one
PROGRESS_WAIT_SECONDS = 0.5  # on a terminal, a pacing wait at least this long is shown
SES_TEXT_MAX = 300  # characters of an SES error message shown
IDENTITIES_PER_CALL = 100  # GetIdentityVerificationAttributes' limit
ADDRESS_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)


class SendError(ReportError):
    """A send failed; the other reports still went out."""

    status = ExitStatus.UNAVAILABLE


class LockBusy(ReportError):
    """Another run holds the lock."""

    status = ExitStatus.TEMPFAIL


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised by main()'s signal handler so that a run stops as it would on Ctrl-C."""


class Interrupted(ReportError):
    """A run stopped by Ctrl-C or SIGTERM; the message says what the ledger holds."""

    def __init__(self, message: str, *, terminated: bool) -> None:
        super().__init__(message)
        self.status = 143 if terminated else 130  # 128 + the signal's number, as a shell reports it


@dataclass
class Delivery:
    """Validated delivery settings: who gets each report, and where the ledger is kept."""

    sender: str
    to: list[str]
    bcc: list[str]
    archive_dir: Path | None
    to_by_report: dict[str, list[str]] = field(default_factory=dict)  # EXEC_REPORT_TO_<ID>
    test_to: str | None = None  # --to: that address only, no BCC, no ledger

    def recipients(self, report_id: str) -> tuple[list[str], list[str]]:
        """The To and Bcc addresses of one report."""
        if self.test_to:
            return [self.test_to], []
        return self.to_by_report.get(report_id, self.to), self.bcc


def check_addresses(settings: Settings, name: str, *, required: bool, single: bool = False) -> list[str]:
    """Validate an address setting: plain addresses, comma-separated, no line breaks."""
    raw = settings.values.get(name, "")
    if "\n" in raw or "\r" in raw:
        raise ConfigError(f"{name} holds a line break; write the addresses on one line, comma-separated")
    addresses = settings.addresses(name)
    if not addresses:
        if required:
            where = f" in {settings.env_file}" if settings.env_file else ""
            raise ConfigError(f"{name} is not set{where}; set it (see repos.env.example)")
        return []
    if single and len(addresses) > 1:
        raise ConfigError(f"{name} must be one address, got {len(addresses)}")
    for address in addresses:
        if not ADDRESS_RE.match(address):
            raise ConfigError(
                f"{name}: {redact(repr(address))} is not an email address; write it like reports@example.com"
            )
    return addresses


def check_test_address(address: str) -> str:
    """Validate --to: one plain address."""
    address = address.strip()
    if not ADDRESS_RE.match(address):
        raise UsageError(f"--to {redact(repr(address))}: not an email address; write it like you@example.com")
    return address


def report_setting(report_id: str) -> str:
    """The name of a report's own To setting: EXEC_REPORT_TO_CFO for cfo."""
    return PER_REPORT_TO + re.sub(r"[^A-Za-z0-9]", "_", report_id).upper()


def per_report_to(settings: Settings, report_ids: Iterable[str]) -> dict[str, list[str]]:
    """EXEC_REPORT_TO_<ID> for each report that has one; a name that fits no report is an error.

    A misspelt name would quietly send that report to everyone in EXEC_REPORT_TO.
    """
    by_name = {report_setting(r): r for r in report_ids}
    to_by_report = {}
    for name in sorted(settings.values):
        if not name.startswith(PER_REPORT_TO):
            continue
        report_id = by_name.get(name.upper())
        if report_id is None:
            raise ConfigError(
                f"{name} names no report (the reports are {', '.join(sorted(by_name.values()))}); "
                f"fix the name, e.g. {report_setting(sorted(by_name.values())[0])}, or remove it"
            )
        addresses = check_addresses(settings, name, required=False)
        if addresses:
            to_by_report[report_id] = addresses
    return to_by_report


def delivery_settings(settings: Settings, report_ids: Iterable[str], test_to: str | None = None) -> Delivery:
    """Every setting a real send needs, checked before anything is read or sent.

    A test send (--to) needs only the sender: a new installation tries it before the
    readers, the admin address and the archive are set; whatever is set is still checked.
    """
    sender = check_addresses(settings, "SES_FROM_ADDRESS", required=True, single=True)[0]
    to = check_addresses(settings, "EXEC_REPORT_TO", required=not test_to)
    bcc = check_addresses(settings, "EXEC_REPORT_BCC", required=not test_to)
    to_by_report = per_report_to(settings, report_ids)
    if test_to:
        return Delivery(sender=sender, to=to, bcc=bcc, archive_dir=None, to_by_report=to_by_report,
                        test_to=test_to)
    if settings.archive_dir is None:
        raise ConfigError("ARCHIVE_DIR is not set; set it to a folder for the send ledger and archive")
    try:
        settings.archive_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"ARCHIVE_DIR={settings.get('ARCHIVE_DIR')}: cannot create it ({exc.strerror})") from None
    if not os.access(settings.archive_dir, os.W_OK):
        raise ConfigError(f"ARCHIVE_DIR={settings.get('ARCHIVE_DIR')}: not writable by this user")
    return Delivery(sender=sender, to=to, bcc=bcc, archive_dir=settings.archive_dir, to_by_report=to_by_report)


def shown_delivery(settings: Settings, report_ids: Iterable[str], test_to: str | None = None) -> Delivery:
    """The headers a dry run shows: the settings as they are, '(X not set)' where one is missing."""

    def header(name: str) -> list[str]:
        return settings.addresses(name) or [f"({name} not set)"]

    for name in ("SES_FROM_ADDRESS", "EXEC_REPORT_TO", "EXEC_REPORT_BCC"):
        check_addresses(settings, name, required=False)
    return Delivery(sender=", ".join(header("SES_FROM_ADDRESS")), to=header("EXEC_REPORT_TO"),
                    bcc=header("EXEC_REPORT_BCC"), archive_dir=None,
                    to_by_report=per_report_to(settings, report_ids), test_to=test_to)


# Files: every write is atomic and durable, and none goes through a symbolic link. These
# few functions are the only ones that touch the archive's files.


def file_problem(exc: OSError, verb: str = "write") -> str:
    """One line for a file that could not be used: which file, what happened, what to do."""
    import errno

    name = exc.filename or "a file in ARCHIVE_DIR"
    if exc.errno == errno.ELOOP:
        return (f"{name} is a symbolic link, and the tool never follows links inside ARCHIVE_DIR "
                "(its target was not touched); remove the link, then rerun")
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"cannot {verb} {name}: the disk is full (or over quota); free some space, then rerun"
    if exc.errno == errno.EFBIG:
        return f"cannot {verb} {name}: over this process's file size limit (ulimit -f); raise it, then rerun"
    if exc.errno == errno.EROFS:
        return f"cannot {verb} {name}: the file system is read-only; give ARCHIVE_DIR a writable folder"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"cannot {verb} {name}: permission denied; let this user {verb} it"
    return f"cannot {verb} {name} ({exc.strerror or type(exc).__name__}); check the archive folder"


def _no_link(path: Path) -> None:
    """Raise ELOOP if path is a symbolic link."""
    import errno

    if path.is_symlink():
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), str(path))


def archive_folder(archive_dir: Path, period: str) -> Path:
    """ARCHIVE_DIR/<period>, created if need be; a symbolic link there is refused."""
    folder = archive_dir / period
    try:
        _no_link(folder)
        folder.mkdir(exist_ok=True)
    except OSError as exc:
        raise ConfigError(file_problem(exc)) from None
    if not folder.is_dir():
        raise ConfigError(f"{folder} is not a folder; move it aside, then rerun")
    return folder


def write_atomic(path: Path, data: str) -> None:
    """Write a file so that it is either all old or all new, and on disk when this returns.

    The temporary file is created exclusively and without following links; a link at
    the destination is refused. Any failure names `path`, never the temporary file.
    """
    import errno

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _no_link(path)
        try:
            fd = os.open(tmp, flags, 0o666)
        except FileExistsError:  # left by a killed run with our pid, or planted: remove it (never its target)
            tmp.unlink()
            fd = os.open(tmp, flags, 0o666)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)  # rename never follows a link at the destination
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:  # name the file the user knows (a full disk's error names none)
        raise OSError(exc.errno or errno.EIO, exc.strerror or str(exc), str(path)) from None


def read_text(path: Path, limit: int) -> str | None:
    """A file's text (None when there is none), never read through a symbolic link; ValueError when too big."""
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError("not a regular file")
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"over {limit >> 20} MiB")
    return data.decode("utf-8")


LEDGER_STATES = ("sending", "sent", "failed")
LEDGER_TEXT_KEYS = ("at", "subject", "message_id", "error", "last_error")


def parse_ledger(text: str) -> dict[str, dict[str, Any]]:
    """A ledger's entries from its JSON text; ValueError saying what is wrong with it."""
    try:
        data = json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply to be a ledger") from None
    except ValueError as exc:
        raise ValueError(f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    for report_id, entry in data.items():
        if not isinstance(entry, dict) or entry.get("state") not in LEDGER_STATES:
            raise ValueError(
                f"entry {report_id!r} is not a ledger record (state must be one of {', '.join(LEDGER_STATES)})"
            )
        for key in LEDGER_TEXT_KEYS:
            if key in entry and not isinstance(entry[key], str):
                raise ValueError(f"entry {report_id!r}: {key} is not text")
    return data


class Ledger:
    """What was sent for one period: report id -> its latest state, kept in ledger.json."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, dict[str, Any]] = {}
        try:
            text = read_text(path, LEDGER_MAX_BYTES)
            if text is not None:
                self.entries = parse_ledger(text)
        except OSError as exc:
            raise ConfigError(f"the send ledger: {file_problem(exc, 'read')}; nothing was sent") from None
        except ValueError as exc:  # UnicodeDecodeError included
            raise ConfigError(
                f"{path}: the send ledger is damaged ({exc}); nothing was sent. Compare it with the BCC copies "
                "of the period, then repair it or move it aside (without it every report of the period is "
                "sent again: use --only for the missing ones)"
            ) from None

    def state(self, report_id: str) -> str | None:
        """'sending' (outcome unknown), 'sent', 'failed' or None (never tried)."""
        entry = self.entries.get(report_id)
        return entry.get("state") if entry else None

    def record(self, report_id: str, state: str, **details: Any) -> None:
        """Record a report's new state durably (in memory too only once it is on disk)."""
        entries = {**self.entries, report_id: {"state": state, "at": _now(), **details}}
        write_atomic(self.path, json.dumps(entries, indent=2, sort_keys=True) + "\n")
        self.entries = entries


def _now() -> str:
    """The current UTC time, ISO 8601."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class RunLock:
    """An exclusive lock on ARCHIVE_DIR so two runs never overlap."""

    def __init__(self, folder: Path, wait: float = LOCK_WAIT_SECONDS) -> None:
        self.path = folder / LOCK_NAME
        self.wait = wait
        self.fh: Any = None

    def __enter__(self) -> RunLock:
        import fcntl
        import stat
        import time

        try:  # O_NOFOLLOW: a link planted here must not have its target truncated
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            if exc.filename is None:
                exc.filename = str(self.path)
            import errno

            if exc.errno == errno.ELOOP:
                raise ConfigError(f"the lock file: {file_problem(exc)}") from None
            raise ConfigError(
                f"{self.path}: cannot open the lock file ({exc.strerror}); check ARCHIVE_DIR's permissions"
            ) from None
        self.fh = os.fdopen(fd, "r+", encoding="utf-8")  # held open for the run: closing releases it
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            self.fh.close()
            raise ConfigError(f"{self.path}: the lock file is not a regular file; remove it, then rerun")
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    self.fh.seek(0)
                    holder = self.fh.read(200).strip() or "unknown"
                    self.fh.close()
                    raise LockBusy(
                        f"another run holds {self.path} ({holder}); waited {self.wait:.0f} s. "
                        "Try again when it has finished"
                    ) from None
                time.sleep(0.1)
        self.fh.seek(0)
        self.fh.truncate()
        self.fh.write(f"pid {os.getpid()} since {_now()}\n")
        self.fh.flush()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.fh.close()  # closing releases the lock


class SendFailed(Exception):
    """SES did not take a message. `definite`: it surely was not sent; `fatal`: no use trying the others."""

    def __init__(self, message: str, *, definite: bool = True, fatal: bool = False) -> None:
        super().__init__(message)
        self.definite, self.fatal = definite, fatal


class SesSender:
    """Sends through an SES client (passed in), paced and retrying throttling.

    `sleep` and `clock` are time.sleep and time.monotonic unless given (tests pass a
    clock that only moves when slept on, and read back every wait). `note` receives the
    progress lines (pacing waits, retries) a terminal shows.
    """

    def __init__(self, client: Any, sleep: Callable[[float], None] | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        import time

        self.client = client
        self.sleep = sleep or time.sleep
        self.clock = clock or time.monotonic
        self.note: Callable[[str], None] = lambda line: log.debug("%s", line)
        self.rate: float | None = None  # recipients a second; 0: unknown, one message a second
        self.quota: dict[str, Any] | None = None
        self.next_at = 0.0

    def preflight(self) -> None:
        """One authenticated call before the first send: it reads the send rate and proves
        that the credentials work and SES can be reached, so neither is found out mid-run.
        """
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, PartialCredentialsError

        try:
            quota = self.client.get_send_quota()
            self.quota = quota
            self.rate = float(quota["MaxSendRate"])
            if self.rate <= 0:
                raise ValueError(f"MaxSendRate {self.rate}")
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in CREDENTIAL_CODES:
                raise ConfigError(
                    f"SES refused the credentials ({code}): {FATAL_CODES[code]}; nothing was sent"
                ) from None
            log.warning("cannot read the SES send quota (%s): sending one message a second",
                        redact(code[:80]) or "error")
            self.rate = 0.0
        except (NoCredentialsError, PartialCredentialsError):
            raise ConfigError(
                "no AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                "or run where an instance role provides them; nothing was sent"
            ) from None
        except _credential_errors() as exc:
            raise ConfigError(
                f"the AWS credentials cannot be had ({type(exc).__name__}): renew them or fix AWS_PROFILE; "
                "nothing was sent"
            ) from None
        except BotoCoreError as exc:
            raise SendError(
                f"cannot reach SES ({_boto_reason(exc)}); nothing was sent. Check the network, AWS_REGION "
                "and AWS_ENDPOINT_URL"
            ) from None
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("SES send quota unreadable (%s): sending one message a second", type(exc).__name__)
            self.rate = 0.0

    def pace(self, recipients: int) -> None:
        """Wait until the send rate allows the next message (SES counts every recipient)."""
        if self.rate is None:
            self.preflight()
        spacing = recipients / self.rate if self.rate else 1 / DEFAULT_SEND_RATE
        now = self.clock()
        if now < self.next_at:
            wait = self.next_at - now
            if wait >= PROGRESS_WAIT_SECONDS:
                self.note(f"waiting {wait:.1f} s for SES's send rate")
            self.sleep(wait)
            now = self.next_at
        self.next_at = now + spacing

    def send(self, sender: str, to: list[str], bcc: list[str], subject: str, body: str) -> str:
        """Send one plain-text message; return SES's MessageId or raise SendFailed.

        Call pace() first: it is not done here, so that a run killed while waiting
        leaves no 'sending' mark for a message that was never handed to SES. Only
        answers that prove SES did not take the message are retried (throttling, no
        connection); a 5xx, a timeout or an answer that cannot be read leaves the
        outcome unknown, and it is never retried.
        """
        from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, EndpointConnectionError

        request = {
            "Source": sender,
            "Destination": {"ToAddresses": to, "BccAddresses": bcc},
            "Message": {
                "Subject": {"Data": subject, "Charset": "UTF-8"},
                "Body": {"Text": {"Data": body, "Charset": "UTF-8"}},
            },
        }
        retry_why = ""
        for attempt in range(1, MAX_SEND_ATTEMPTS + 1):
            if attempt > 1:  # the caller paced the first attempt
                self.pace(len(to) + len(bcc))
            try:
                return str(self.client.send_email(**request)["MessageId"])
            except ClientError as exc:
                retry_why = _send_rejection(exc, sender)
            except (EndpointConnectionError, ConnectTimeoutError) as exc:
                retry_why = f"cannot connect: {_boto_reason(exc)}"  # nothing reached SES: safe to retry
            except _credential_errors() as exc:  # found before signing: nothing went out
                raise SendFailed(
                    f"the AWS credentials cannot be had ({type(exc).__name__}): renew them", fatal=True
                ) from None
            except (BotoCoreError, KeyError, TypeError) as exc:
                raise SendFailed(
                    f"no usable answer from SES after sending ({type(exc).__name__}): the message may have gone out",
                    definite=False, fatal=True,
                ) from None
            if attempt < MAX_SEND_ATTEMPTS:
                delay = BACKOFF_BASE_SECONDS * 2 ** (attempt - 1)
                self.note(f"SES: {retry_why}; retrying in {delay:.2g} s (attempt {attempt + 1} of "
                          f"{MAX_SEND_ATTEMPTS})")
                self.sleep(delay)
        raise SendFailed(f"SES still refusing after {MAX_SEND_ATTEMPTS} attempts ({retry_why})")


def _ses_text(text: str) -> str:
    """An SES error message fit to print and keep: URLs cut to their origin, secrets hidden, one short line.

    (An answer can echo the request: SignatureDoesNotMatch, for one, quotes the signed headers.)
    """
    text = " ".join(redact(text).split())
    return text if len(text) <= SES_TEXT_MAX else text[: SES_TEXT_MAX - 1] + "…"


def _send_rejection(exc: Any, sender: str) -> str:
    """Classify SES's error answer: return why to retry, or raise SendFailed."""
    error = exc.response.get("Error", {})
    code, text = _ses_text(str(error.get("Code", "")))[:80], _ses_text(str(error.get("Message", "")))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    if DAILY_QUOTA_TEXT in text.lower():
        raise SendFailed(
            "SES daily sending quota reached (Daily message quota exceeded); not retried. "
            "Rerun after the quota resets, or ask AWS for a higher quota", fatal=True
        )
    if status >= 500 or not code or code.isdigit():
        raise SendFailed(
            f"SES answered HTTP {status} ({code or 'no error code'}): the message may have gone out",
            definite=False, fatal=True,
        )
    if code in THROTTLE_CODES:
        return f"{code}: {text}".rstrip(": ")
    if code in FATAL_CODES:
        raise SendFailed(f"SES refused ({code}): {FATAL_CODES[code]}", fatal=True)
    if code == "MessageRejected" and "not verified" in text.lower():
        failed = re.findall(r"[^\s,:;]+@[^\s,:;]+", text.split(":", 1)[-1]) if ":" in text else []
        others = [a for a in failed if a.lower() != sender.lower()]
        if others:
            raise SendFailed(
                f"SES rejected unverified recipients ({', '.join(others)}): the account is in the SES sandbox; "
                "verify them in SES or request production access", fatal=True,
            )
        raise SendFailed(
            f"SES rejected the sender {sender}: {text}. Verify it in SES (the region of AWS_REGION) "
            "or fix SES_FROM_ADDRESS", fatal=True,
        )
    raise SendFailed(f"SES rejected the message ({code}): {text}")


def ses_client(settings: Settings, service: str = "ses") -> Any:
    """An SES client with botocore's own retries off: this module decides what is safe to retry."""
    from botocore.config import Config

    return aws_client(
        settings, service, Config(retries={"total_max_attempts": 1}, connect_timeout=10, read_timeout=60)
    )


def verified_identities(client: Any, addresses: list[str]) -> dict[str, bool] | None:
    """For each address, whether SES has verified it or its domain; None when SES cannot be asked."""
    from botocore.exceptions import BotoCoreError, ClientError

    wanted = sorted({a for a in addresses} | {a.rsplit("@", 1)[1] for a in addresses})
    status: dict[str, str] = {}
    try:
        for start in range(0, len(wanted), IDENTITIES_PER_CALL):
            answer = client.get_identity_verification_attributes(Identities=wanted[start:start + IDENTITIES_PER_CALL])
            for identity, attrs in answer["VerificationAttributes"].items():
                status[identity.lower()] = str(attrs.get("VerificationStatus", ""))
    except ClientError as exc:
        log.debug("cannot read identities (%s)", exc.response.get("Error", {}).get("Code"))
        return None
    except (BotoCoreError, KeyError, TypeError, AttributeError) as exc:
        log.debug("cannot read identities (%s)", type(exc).__name__)
        return None
    return {
        a: any(status.get(i.lower()) == "Success" for i in (a, a.rsplit("@", 1)[1])) for a in addresses
    }


def sender_verified(client: Any, sender: str) -> bool | None:
    """Whether SES has verified the sender address or its domain; None when it cannot be asked."""
    answer = verified_identities(client, [sender])
    return None if answer is None else answer[sender]


@dataclass
class Outcome:
    """What a run did with each report."""

    period: str
    sent: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    unrecorded: list[str] = field(default_factory=list)  # sent, but the ledger could not say so
    test_to: str | None = None

    def summary(self) -> str:
        """The one summary line for stderr."""

        def part(label: str, ids: list[str]) -> str:
            return f"{label} {len(ids)}" + (f" ({', '.join(ids)})" if ids else "")

        if self.test_to:
            return (f"test send to {self.test_to}: {part('sent', self.sent)}; {part('failed', self.failed)}; "
                    f"the ledger of {self.period} is untouched")
        line = (
            f"{self.period}: {part('sent', self.sent)}; {part('skipped as already sent', self.skipped)}; "
            f"{part('failed', self.failed)}"
        )
        return line + (f"; {part('sent but not in the ledger', self.unrecorded)}" if self.unrecorded else "")


def envelope(report: RenderedReport, delivery: Delivery) -> str:
    """A report with its headers, as archived and as shown by the dry run."""
    to, bcc = delivery.recipients(report.id)
    return (
        f"From: {delivery.sender}\nTo: {', '.join(to)}\nBcc: {', '.join(bcc)}\n"
        f"Subject: {report.subject}\n\n{report.text}"
    )


def _progress(stream: Any) -> Callable[[str], None]:
    """A function that shows one progress line on `stream` (None: shows nothing)."""

    def say(line: str) -> None:
        if stream is not None:
            stream.write(f"send_exec_reports: {redact(line)}\n")
            stream.flush()

    return say


def deliver(
    rendered: list[RenderedReport],
    metrics_json: str,
    delivery: Delivery,
    sender: SesSender,
    outcome: Outcome,
    *,
    force: bool = False,
    progress: Any = None,
) -> None:
    """Send every report not yet sent for the period, recording each in the ledger and in outcome.

    `progress`: a stream for a line per report and per pacing wait (a terminal), or None (cron).
    """
    say = _progress(progress)
    sender.note = say
    if delivery.test_to:
        return _deliver_test(rendered, delivery, sender, outcome, say)
    assert delivery.archive_dir is not None
    with RunLock(delivery.archive_dir):
        folder = archive_folder(delivery.archive_dir, outcome.period)
        ledger = Ledger(folder / LEDGER_NAME)
        in_flight: list[Any] = []  # [report id, MessageId or None] while a message is with SES
        try:
            _send_all(rendered, metrics_json, delivery, sender, outcome, ledger, in_flight, force, say)
        except KeyboardInterrupt as exc:
            raise _interrupted(exc, rendered, outcome, ledger, in_flight) from None


def _send_all(rendered: list[RenderedReport], metrics_json: str, delivery: Delivery, sender: SesSender,
              outcome: Outcome, ledger: Ledger, in_flight: list[Any], force: bool,
              say: Callable[[str], None]) -> None:
    """The sending loop of deliver(), under the lock."""
    folder = ledger.path.parent
    stop_reason = ""
    metrics_written = False
    for number, report in enumerate(rendered, 1):
        to, bcc = delivery.recipients(report.id)
        state = ledger.state(report.id)
        if state == "sent" and not force:
            outcome.skipped.append(report.id)
            continue
        if state == "sending" and not force:
            entry = ledger.entries[report.id]
            why = f"{entry['error']} ({entry.get('at', '?')})" if entry.get("error") else (
                f"it was handed to SES at {entry.get('at', '?')} and no answer was recorded (the run stopped, "
                "or the ledger could not be written: that run's log names the MessageId if SES took it)"
            )
            log.error(
                "%s: outcome unknown: %s; check the BCC copy in %s, then resend with --force --only %s "
                "if it did not arrive", report.id, why, ", ".join(delivery.bcc), report.id,
            )
            outcome.failed.append(report.id)
            continue
        if stop_reason:
            log.error("%s: not sent: %s", report.id, stop_reason)
            outcome.failed.append(report.id)
            continue
        try:
            if not metrics_written:  # only a run that sends replaces the period's figures
                write_atomic(folder / "metrics.json", metrics_json)
                metrics_written = True
            prior = ledger.entries.get(report.id)  # recording 'sending' replaces it, not this dict
            write_atomic(folder / f"{report.id}.txt", envelope(report, delivery))
            sender.pace(len(to) + len(bcc))
            ledger.record(report.id, "sending", subject=report.subject)
            in_flight[:] = [report.id, None]  # from here until SES answers, the outcome is unknown
        except OSError as exc:
            log.error("%s: not sent: %s", report.id, file_problem(exc))
            outcome.failed.append(report.id)
            stop_reason = "the archive folder cannot be written (see above)"
            continue
        try:
            message_id = sender.send(delivery.sender, to, bcc, report.subject, report.text)
        except SendFailed as exc:
            in_flight.clear()
            error = redact(str(exc))
            log.error("%s: %s", report.id, error)
            outcome.failed.append(report.id)
            if exc.fatal:
                stop_reason = "an earlier send failed in a way that stops the run (see above)"
            if not exc.definite:  # stays 'sending': the next run reports it instead of resending
                recorded = _record(ledger, report.id, "sending", subject=report.subject, error=error)
            elif prior and prior["state"] == "sent":  # a failed resend leaves the first send on record
                details = {k: v for k, v in prior.items() if k != "state"}
                recorded = _record(ledger, report.id, "sent", **details, last_error=error)
            else:
                recorded = _record(ledger, report.id, "failed", subject=report.subject, error=error)
            if not recorded:
                stop_reason = "the ledger cannot be written (see above)"
            continue
        in_flight[1] = message_id
        outcome.sent.append(report.id)
        if _record(ledger, report.id, "sent", subject=report.subject, message_id=message_id):
            say(f"{report.id}: sent to {len(to) + len(bcc)} recipients ({number} of {len(rendered)})")
        else:
            outcome.unrecorded.append(report.id)
            stop_reason = "the ledger cannot be written (see above)"
        in_flight.clear()


def _deliver_test(rendered: list[RenderedReport], delivery: Delivery, sender: SesSender, outcome: Outcome,
                  say: Callable[[str], None]) -> None:
    """--to: each report to one address, no BCC; no ledger, archive or lock is touched."""
    for number, report in enumerate(rendered, 1):
        to, bcc = delivery.recipients(report.id)
        try:
            sender.pace(len(to) + len(bcc))
            message_id = sender.send(delivery.sender, to, bcc, report.subject, report.text)
        except SendFailed as exc:
            log.error("%s: %s", report.id, redact(str(exc)))
            outcome.failed.append(report.id)
            if exc.fatal:
                outcome.failed.extend(r.id for r in rendered[number:])
                break
            continue
        except KeyboardInterrupt as exc:
            raise Interrupted(
                f"{_how(exc)} during a test send to {delivery.test_to}: sent {', '.join(outcome.sent) or 'none'}; "
                "no ledger is kept for a test send", terminated=isinstance(exc, Terminated),
            ) from None
        outcome.sent.append(report.id)
        say(f"{report.id}: sent to {delivery.test_to} (MessageId {message_id}; {number} of {len(rendered)})")


def _how(exc: BaseException) -> str:
    """How a run was stopped, in words."""
    return "stopped by SIGTERM" if isinstance(exc, Terminated) else "interrupted (Ctrl-C)"


def _interrupted(exc: KeyboardInterrupt, rendered: list[RenderedReport], outcome: Outcome, ledger: Ledger,
                 in_flight: list[Any]) -> Interrupted:
    """The one line a stopped run leaves: what the ledger now holds and what the next run will do."""
    parts = [f"{_how(exc)} while sending {outcome.period}"]
    if in_flight and in_flight[1]:  # SES took it, the ledger had not yet said so: try once more
        report_id, message_id = in_flight
        outcome.sent.append(report_id)
        kept = _record(ledger, report_id, "sent", subject=next(r.subject for r in rendered if r.id == report_id),
                       message_id=message_id)
        parts.append(f"{report_id} was accepted by SES (MessageId {message_id})"
                     + ("" if kept else " but the ledger could not record it"))
    elif in_flight:
        parts.append(f"{in_flight[0]} was being handed to SES: its outcome is unknown, and the next run will "
                     "say so instead of resending it (check the BCC copy)")
    sent = [r.id for r in rendered if ledger.state(r.id) == "sent"]
    parts.append(f"the ledger {ledger.path} records as sent: {', '.join(sent) or 'none'}")
    rest = [r.id for r in rendered if ledger.state(r.id) in (None, "failed")]
    if rest:
        parts.append(f"not sent: {', '.join(rest)}; rerun to send them")
    return Interrupted("; ".join(parts), terminated=isinstance(exc, Terminated))


def _record(ledger: Ledger, report_id: str, state: str, **details: Any) -> bool:
    """Record in the ledger; on a write error say what it means and return False."""
    try:
        ledger.record(report_id, state, **details)
    except OSError as exc:
        what = f"sent (SES MessageId {details['message_id']})" if "message_id" in details else state
        log.error(
            "%s: %s, but the ledger cannot record it: %s; the next run will report it as unknown",
            report_id, what, file_problem(exc),
        )
        return False
    return True


def _json_default(value: Any) -> Any:
    """JSON for dates and decimals in metrics.json."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, set):
        return sorted(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


@dataclass
class CheckResult:
    """What --check found: lines for stdout, and the problems that fail it (with their exit status)."""

    details: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    status: int = ExitStatus.OK

    def fail(self, problem: str, status: int) -> None:
        """Add a problem; the first one's status is the exit status."""
        self.problems.append(problem)
        self.status = self.status or status


def check_ses(client: Any, sesv2: Any, delivery: Delivery, region: str, report_ids: list[str]) -> CheckResult:
    """--check against SES: reachability, credentials, sender verification, quota, sandbox recipients."""
    result = CheckResult()
    sender = SesSender(client)
    try:
        sender.preflight()
    except ReportError as exc:
        result.fail(str(exc).replace("; nothing was sent", ""), exc.status)
        return result
    verified = sender_verified(client, delivery.sender)
    if verified is None:
        result.details.append(f"Sender {delivery.sender}: cannot be checked (no permission to read identities)")
    elif verified:
        result.details.append(f"Sender {delivery.sender}: verified in SES ({region})")
    else:
        result.fail(f"SES_FROM_ADDRESS {delivery.sender} is not verified in SES ({region}): verify the address "
                    "or its domain in the SES console", ExitStatus.CONFIG)
    quota = sender.quota
    try:
        left = float(quota["Max24HourSend"]) - float(quota["SentLast24Hours"])  # type: ignore[index]
        result.details.append(
            f"Send quota: {format_count(quota['MaxSendRate'])} a second, {format_count(left)} of "  # type: ignore[index]
            f"{format_count(quota['Max24HourSend'])} left today"  # type: ignore[index]
        )
    except (KeyError, TypeError, ValueError):
        result.details.append("Send quota: cannot be read; sends will be paced at one a second")
    sandbox = _sandbox(sesv2, quota)
    if sandbox is False:
        result.details.append("Account: production access (out of the sandbox)")
        return result
    if sandbox is None:
        result.details.append("Account: cannot tell whether it is in the SES sandbox")
        return result
    result.details.append("Account: in the SES sandbox; every recipient must be a verified identity "
                          "(ask AWS for production access)")
    recipients: list[str] = []
    for report_id in report_ids:
        to, bcc = delivery.recipients(report_id)
        recipients += [a for a in to + bcc if a not in recipients]
    answer = verified_identities(client, recipients)
    if answer is None:
        result.details.append("Recipients: cannot be checked (no permission to read identities)")
    elif unverified := [a for a in recipients if not answer[a]]:
        result.fail(f"in the SES sandbox, SES refuses mail to unverified recipients: {', '.join(unverified)}; "
                    "verify them (or their domain) in SES, or ask AWS for production access", ExitStatus.CONFIG)
    else:
        result.details.append(f"Recipients: all {len(recipients)} verified in SES")
    return result


def _sandbox(sesv2: Any, quota: dict[str, Any] | None) -> bool | None:
    """Whether the account is in the SES sandbox: from SES v2 GetAccount, else from the quota."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        account = sesv2.get_account()
    except (ClientError, BotoCoreError) as exc:
        log.debug("SES v2 GetAccount unavailable (%s); judging the sandbox from the quota", type(exc).__name__)
    else:
        return not account.get("ProductionAccessEnabled", False)
    try:
        return float(quota["Max24HourSend"]) <= 200 and float(quota["MaxSendRate"]) <= 1  # type: ignore[index]
    except (KeyError, TypeError, ValueError):
        return None


def show_status(archive_dir: Path, period: str) -> str:
    """The ledger of a period as text: each report's state, when, its MessageId or what went wrong."""
    folder = archive_dir / period
    try:
        _no_link(folder)
    except OSError as exc:
        raise ConfigError(file_problem(exc, "read")) from None
    ledger = Ledger(folder / LEDGER_NAME)
    if not ledger.entries:
        return f"{period}: nothing recorded ({ledger.path} does not exist: no report was sent for this period)\n"
    meaning = {"sent": "sent", "sending": "outcome unknown", "failed": "failed"}
    rows = []
    for report_id, entry in sorted(ledger.entries.items()):
        detail = f"MessageId {entry['message_id']}" if entry.get("message_id") else ""
        problem = entry.get("error") or entry.get("last_error")
        if problem:
            detail = f"{detail}; " if detail else ""
            detail += ("last resend failed: " if entry.get("last_error") else "") + problem
        rows.append([report_id, meaning[entry["state"]], entry.get("at", "?"), detail])
    head = ["report", "state", "at (UTC)", "MessageId or problem"]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(3)]
    lines = [f"{period} ({ledger.path}):"]
    for row in [head, *rows]:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row[:3], widths, strict=True)) + "  " + row[3])
    return "\n".join(line.rstrip() for line in lines) + "\n"


# ---------------------------------------------------------------------------
# Command line


AS_OF_FIRST = dt.date(1900, 1, 1)  # before it, a year mistyped (0026 for 2026); no business data goes back further
AS_OF_LAST = dt.date(9998, 12, 31)  # the figures look months past the as-of date, which must stay a date


class _ArgumentParser(argparse.ArgumentParser):
    """argparse that raises UsageError (exit 64) instead of exiting 2."""

    def error(self, message: str) -> Any:
        raise UsageError(f"{message} (see --help)")


def _date_arg(text: str) -> dt.date:
    """Parse --as-of: a date written exactly YYYY-MM-DD, within the years the figures can handle."""
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a date written YYYY-MM-DD, like 2026-11-22")
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-11-22") from None
    if not AS_OF_FIRST <= day <= AS_OF_LAST:
        raise argparse.ArgumentTypeError(f"{text} is out of range: give a date from {AS_OF_FIRST} to {AS_OF_LAST}")
    return day


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line: the options the README documents."""
    p = _ArgumentParser(prog="send_exec_reports.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--dry-run", action="store_true", help="print the reports instead of sending them")
    p.add_argument("--only", metavar="IDS", help="comma-separated report ids to render (see --list)")
    p.add_argument("--as-of", metavar="DATE", type=_date_arg, help="the as-of date (default: today)")
    p.add_argument("--env-file", metavar="PATH", help="settings file (default: repos.env next to the script)")
    p.add_argument("--force", action="store_true", help="resend reports already sent for the period")
    p.add_argument("--check", action="store_true", help="validate settings and inputs; send nothing")
    p.add_argument("--list", action="store_true", help="list the reports found in reports/")
    p.add_argument("--to", metavar="ADDRESS", help="test send: the reports to this address only, no BCC, no ledger")
    p.add_argument("--status", action="store_true", help="show what the ledger records for the period")
    args = p.parse_args(argv)
    if args.only is not None and not [w for w in args.only.split(",") if w.strip()]:
        raise UsageError(f"--only {args.only!r} names no report; give ids from --list, comma-separated "
                         "(leave --only out for every report)")
    if args.to is not None:
        args.to = check_test_address(args.to)
    return args


def list_text(reports: list[ReportTemplate]) -> str:
    """--list: one report a line under a header, in columns as wide as their longest entry."""
    rows = [["id", "persona", "title"]] + [
        [r.id, r.persona, r.title + (f" [{r.entity}]" if r.entity else "")] for r in reports
    ]
    widths = [max(_cols(row[i]) for row in rows) for i in range(2)]
    return "".join(
        f"{_pad(row[0], widths[0], False)}  {_pad(row[1], widths[1], False)}  {row[2]}\n" for row in rows
    )


def _plural(count: int, word: str) -> str:
    """'1 handoff', '2 handoffs'."""
    return f"{format_count(count)} {word}{'s' * (count != 1)}"


def run(args: argparse.Namespace, reports: list[ReportTemplate], selected: list[ReportTemplate]) -> int:
    """Validate everything, render every report, then print, check or send."""
    settings = load_settings(args.env_file, dry_run=args.dry_run)
    if settings.used_examples:
        log.warning("no repos.env: dry run on the sample portfolio in %s", EXAMPLES_DIR)
    all_ids = [r.id for r in reports]
    if args.dry_run:
        delivery = shown_delivery(settings, all_ids, args.to)
    else:
        delivery = delivery_settings(settings, all_ids, args.to)
    as_of = args.as_of or dt.date.today()
    portfolio = read_handoffs(settings.handoff_dir)
    needs = table_needs(portfolio)

    def live(missing: list[TableNeed]) -> dict[str, TableCount]:
        where = f"(DYNAMODB_EXPORT_DIR={settings.export_dir})" if settings.export_dir else "(no DYNAMODB_EXPORT_DIR)"
        return scan_counts(aws_client(settings, "dynamodb"), missing, where=where)

    counts = read_tables(needs, settings.export_dir, live)
    metrics = compute_metrics(portfolio, counts, as_of)
    rendered = render_all(selected, metrics)

    if args.check:
        found = (f"{_plural(len(rendered), 'report')} for {metrics['period']} from "
                 f"{_plural(len(portfolio.handoffs), 'handoff')}")
        if args.dry_run:
            print(f"check passed: {found}; settings and inputs valid (SES not asked: --dry-run)")
            return ExitStatus.OK
        result = check_ses(ses_client(settings), ses_client(settings, "sesv2"), delivery, settings.region,
                           [r.id for r in rendered])
        for line in result.details:
            print(redact(line))
        if not result.problems:
            print(f"check passed: {found}; settings, inputs and SES ready")
            return ExitStatus.OK
        for problem in result.problems[:-1] if len(result.problems) > 1 else []:
            log.error("%s", problem)
        log.error("check failed: %s", result.problems[-1] if len(result.problems) == 1
                  else f"{result.problems[-1]} (and {len(result.problems) - 1} more above)")
        return result.status
    if args.dry_run:
        sys.stdout.write(dry_run_text(rendered, delivery))
        return ExitStatus.OK

    try:  # only checked types reach the figures, but a send must not start on a doubt
        metrics_json = json.dumps(metrics, indent=2, default=_json_default) + "\n"
    except (TypeError, ValueError) as exc:
        raise InputError(f"the figures cannot be written as metrics.json ({exc}); nothing was sent") from None
    client = ses_client(settings)
    sender = SesSender(client)
    sender.preflight()
    if sender_verified(client, delivery.sender) is False:
        raise ConfigError(
            f"SES_FROM_ADDRESS {delivery.sender} is not verified in SES ({settings.region}): verify the "
            "address or its domain in the SES console; nothing was sent"
        )
    outcome = Outcome(period=metrics["period"], test_to=args.to)
    progress = sys.stderr if sys.stderr.isatty() else None  # cron (no terminal) gets the summary line only
    interrupted = False
    try:
        deliver(rendered, metrics_json, delivery, sender, outcome, force=args.force, progress=progress)
    except Interrupted:
        interrupted = True  # its own line says what was sent
        raise
    finally:
        if not interrupted and (outcome.sent or outcome.skipped or outcome.failed):
            log.info("%s", outcome.summary())
    return ExitStatus.UNAVAILABLE if outcome.failed or outcome.unrecorded else ExitStatus.OK


class _Redact(logging.Filter):
    """Hide URLs' paths and queries and every secret setting's value in each line logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message."""
        record.msg, record.args = redact(record.getMessage()), ()
        return True


def _on_sigterm(signum: int, frame: Any) -> None:
    """SIGTERM stops a run as Ctrl-C does, so that it can say what the ledger holds."""
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    """Run the command line; the only place that turns errors into exit codes."""
    import signal
    import threading

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("send_exec_reports: %(message)s"))
    handler.addFilter(_Redact())
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    _secrets.clear()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    checking = False
    try:
        args = parse_args(argv)
        checking = args.check
        env_path, values = read_settings(args.env_file)
        reports = load_reports(reports_dir_setting(env_path, values))
        if args.list:
            sys.stdout.write(list_text(reports))
            return ExitStatus.OK
        if args.status:
            archive_dir = _resolver(env_path, values)("ARCHIVE_DIR")
            if archive_dir is None:
                raise ConfigError("ARCHIVE_DIR is not set: --status reads the send ledger kept there")
            sys.stdout.write(show_status(archive_dir, iso_period(args.as_of or dt.date.today())))
            return ExitStatus.OK
        selected = select_reports(reports, args.only)
        return run(args, reports, selected)
    except InputErrors as exc:
        for line in exc.errors:
            log.error("%s", line)
        count = _plural(len(exc.errors), "error")
        log.error("check failed: bad input (%s, above)" if checking else "bad input: nothing was sent (%s)", count)
        return exc.status
    except ReportError as exc:
        log.error("%s%s", "check failed: " if checking else "", exc)
        return exc.status
    except OSError as exc:  # a file or folder the checks above could not foresee
        log.error("%s%s", "check failed: " if checking else "", file_problem(exc, "use"))
        return ExitStatus.CONFIG
    except KeyboardInterrupt as exc:  # before or after sending (deliver() reports its own)
        log.error("%s; nothing was sent", _how(exc))
        return 143 if isinstance(exc, Terminated) else 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        log.removeHandler(handler)


if __name__ == "__main__":
    for stream in (sys.stdout, sys.stderr):  # a report's dashes must not crash an ASCII terminal
        stream.reconfigure(errors="backslashreplace")  # type: ignore[attr-defined]
    sys.exit(main())
