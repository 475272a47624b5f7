#!/usr/bin/env python3
"""send_exec_reports: weekly executive reports from project handoffs and DynamoDB.

Reads every Markdown handoff document (YAML front matter + notes) under HANDOFF_DIR,
counts items in the DynamoDB tables the handoffs name (from "Export to S3" folders
under DYNAMODB_EXPORT_DIR, or live with Scan), optionally reads the AWS estate
(AWS_INVENTORY=1), computes the figures defined in docs/handoff-format.md, renders one
report per template in reports/ (or REPORTS_DIR) and emails each through Amazon SES
with a BCC to the admin address. `--dry-run` prints instead of sending.

Usage:
    python send_exec_reports.py [--dry-run] [--only ceo,cfo] [--as-of 2026-11-22]
                                [--env-file PATH] [--force] [--check] [--list]
                                [--to ADDRESS] [--full] [--status]

Cron (weekly, Monday 07:00; absolute paths, cron starts in $HOME):
    0 7 * * 1  /opt/reports/.venv/bin/python /opt/reports/send_exec_reports.py 2>>/opt/reports/cron.log

Settings come from repos.env next to this script (or --env-file); variables already in
the environment win. Relative paths resolve against the env file's folder. See
repos.env.example for every setting.

Every setting and input is checked and every report rendered before the first send.
The archive (ARCHIVE_DIR: a folder or s3://bucket/prefix) keeps, per ISO week, what
was sent, the figures (metrics.json, read back next week for the changes and
sparklines) and ledger.json, which records every side effect (each email, dashboard
card and CloudWatch push) as it happens, so a rerun for the same week does exactly
what is missing (--force resends). A lock in the archive keeps two runs from
overlapping.

Exit codes (sysexits): 0 done, 64 usage, 65 bad input data, 69 a send failed,
75 another run holds the lock, 78 bad configuration.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import calendar
import contextlib
import datetime as dt
import decimal
import errno
import functools
import gc
import gzip
import hashlib
import html
import html.parser
import io
import json
import logging
import os
import re
import stat
import sys
import tempfile
import textwrap
import time
import unicodedata
import urllib.parse
import zlib
from collections import defaultdict
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import IntEnum
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar, NamedTuple, Protocol

import html2text
import jinja2
import jinja2.sandbox
import markdown
import yaml
from dotenv import dotenv_values
from dotenv.parser import parse_stream

log = logging.getLogger("send_exec_reports")

SCRIPT_DIR = Path(__file__).resolve().parent
REPORTS_DIR = SCRIPT_DIR / "reports"
EXAMPLES_DIR = SCRIPT_DIR / "examples"
SAMPLE_AS_OF_FILE = EXAMPLES_DIR / "AS_OF"  # the date the sample portfolio is written for
DEFAULT_ENV_FILE = SCRIPT_DIR / "repos.env"
EXAMPLE_ENV_FILE = SCRIPT_DIR / "repos.env.example"  # what a new installation copies to repos.env


class ExitStatus(IntEnum):
    """Process exit codes, from sysexits.h."""

    OK = 0
    USAGE = 64
    DATAERR = 65
    UNAVAILABLE = 69
    TEMPFAIL = 75
    CONFIG = 78


EXIT_MEANINGS = {  # what each exit status says: a failed run's last line under cron, a failed invocation's exception
    ExitStatus.USAGE: "usage", ExitStatus.DATAERR: "bad input",
    ExitStatus.UNAVAILABLE: "a send or a step after it failed", ExitStatus.TEMPFAIL: "another run holds the lock",
    ExitStatus.CONFIG: "bad configuration",
    130: "interrupted", 141: "output closed", 143: "stopped (SIGTERM)",
}


STATUSES = ("active", "at-risk", "blocked", "paused", "done")
URGENCIES = ("critical", "high", "medium", "low")  # also security severities, most urgent first
STALE_DAYS = 30
ACTION_HORIZON_DAYS = 30
SOON_DAYS = 7  # an action due within this many days needs its reader this week
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
    """Several input errors, one line each; `total` counts those found, shown or not."""

    def __init__(self, errors: list[str], total: int | None = None) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors
        self.total = len(errors) if total is None else total


class EstateUnavailable(ReportError):
    """AWS could not be read for the estate (out of reach, throttled, failing)."""

    status = ExitStatus.UNAVAILABLE


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


class LedgerConflict(ReportError):
    """Another run replaced the ledger since this run read it: this run stops sending."""

    status = ExitStatus.TEMPFAIL


# Caught inside the readers, which name the file, line or key: main() never sees them.
class DocError(Exception):
    """A validation failure inside one document, with the YAML node at fault."""

    def __init__(self, node: yaml.Node | None, key: str, message: str) -> None:
        super().__init__(message)
        self.node, self.key, self.message = node, key, message


class _LineTooLong(Exception):
    """A data file line grew past MAX_EXPORT_LINE_BYTES before its newline."""


class _TooManyBlanks(Exception):
    """A data file holds more than MAX_BLANK_BYTES of blank lines."""


class _NotBoolean(Exception):
    """An item's checklist done attribute is of a DynamoDB type other than BOOL (or NULL): its type tag."""


# Caught inside delivery and the steps after it, which say what was done and what was not.
class SendFailed(Exception):
    """SES did not take a message. `definite`: it surely was not sent; `fatal`: no use trying the others."""

    def __init__(self, message: str, *, definite: bool = True, fatal: bool = False) -> None:
        super().__init__(message)
        self.definite, self.fatal = definite, fatal


class ArchiveConflict(Exception):
    """A conditional write lost: the object changed (or appeared) since it was read."""


class CardFailed(Exception):
    """The dashboard did not take a card."""


class AfterSendFailed(Exception):
    """A side effect after the sends did not happen; the reports stay sent."""


# Raised out of the Lambda handler, so that AWS marks the invocation failed.
class RunFailed(Exception):
    """A run started by AWS Lambda ended with an exit status other than 0: raised so that the invocation fails.

    Its message is the exit status, what it means and the run's first error line, as printed.
    """

    def __init__(self, status: int, lines: list[str]) -> None:
        more = f" ({len(lines) - 1} more in the log)" if len(lines) > 1 else ""
        first = lines[0] if lines else "see the log"
        super().__init__(f"exit {status}: {EXIT_MEANINGS.get(status, 'failed')}: {first}{more}")
        self.status = status


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
    "AWS_INVENTORY",
    "EMAIL_FORMAT",
    "REPORTS_DIR",
    "SES_CONFIGURATION_SET",
    "SES_EVENTS_QUEUE_URL",
    "DASHBOARD_WEBHOOK_URL",
    "DASHBOARD_TOKEN",
    "CLOUDWATCH_NAMESPACE",
    "SETTINGS_SECRET_ID",
)
EMAIL_FORMATS = ("text", "text+html")  # text only (the default), or text with an HTML alternative
DEFAULT_REGION = "us-west-2"  # AWS_REGION when it is not set
AWS_NAMES = (
    "AWS_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
)
PER_REPORT_TO = "EXEC_REPORT_TO_"  # EXEC_REPORT_TO_CFO: the CFO report's own readers


def report_setting(report_id: str) -> str:
    """The name of a report's own To setting: EXEC_REPORT_TO_CFO for cfo."""
    return PER_REPORT_TO + re.sub(r"[^A-Za-z0-9]", "_", report_id).upper()


SECRET_NAME = re.compile(r"SECRET|TOKEN|PASSWORD|PRIVATE|CREDENTIAL|KEY")
SECRET_ID = "SETTINGS_SECRET_ID"  # names a secret (an id or ARN, shown in messages): itself no secret
MIN_SECRET_LENGTH = 8  # shorter values are masked at their source only: masking "test" everywhere hides too much
# A URL in a message: scheme, user info (dropped), host, port, then whatever follows up to a
# blank or a quote (dropped whole, closing brackets and all): a path, query or fragment, and
# also what is no port (`:/x`, `:x/y`), an escape or a backslash. Only sentence punctuation
# right after the origin (`http://127.0.0.1:9;`) is left standing, and a port named in words
# (`https://host:port`, as the tool's own advice writes it).
_URL = re.compile(
    r"""\b(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?:[^\s/?#@"'<>]*@)?"""
    r"""(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~-]+)?(?P<port>:(?:[0-9]+|[A-Za-z]+(?=[\s"'<>.,;)\]}]|$)))?"""
    r"""(?:[^\s"'<>.,;)\]}][^\s"'<>]*)?"""
)
_secrets: set[str] = set()  # values to hide from every message; filled by load_settings, reset by main


def utc_now() -> dt.datetime:
    """The time now, in UTC: the run's clock unless a test passes another."""
    return dt.datetime.now(dt.UTC)


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


def _shown_url(m: re.Match[str]) -> str:
    """What redact() leaves of a URL: its origin; an s3:// archive address keeps its prefix (never a query)."""
    if m["scheme"].lower() == "s3":  # ARCHIVE_DIR's bucket and prefix name a place, not a credential
        return re.split(r"[?#]", m[0], maxsplit=1)[0]
    return f"{m['scheme']}://{m['host'] or ''}{m['port'] or ''}"


def redact(text: str) -> str:
    """Text fit to print: every URL cut to its origin, every secret setting's value hidden."""
    text = _URL.sub(_shown_url, text)
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, "(hidden)")
    return text


def _remember_secrets(values: dict[str, str]) -> None:
    """Note the values no message may show: secret-looking settings and an endpoint's path and query."""
    for name, value in values.items():
        if SECRET_NAME.search(name) and name != SECRET_ID and len(value.strip()) >= MIN_SECRET_LENGTH:
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
    handoff_dir: Path | S3Url  # a folder, or s3://bucket/prefix
    export_dir: Path | S3Url | None
    archive_dir: Path | None
    region: str
    used_examples: bool = False
    email_format: str = "text"
    archive_s3: tuple[str, str] | None = None  # ARCHIVE_DIR=s3://bucket/prefix: (bucket, prefix)

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
        try:
            resolved = given.resolve()
        except (OSError, RuntimeError):  # RuntimeError: Python before 3.13 says so of a loop of symbolic links
            raise ConfigError(f"--env-file {env_file}: a loop of symbolic links; give the path of your repos.env") \
                from None
        if resolved == Path(os.devnull).resolve():
            path = None  # "no settings file": the environment only
        elif given.is_dir():
            raise ConfigError(f"--env-file {env_file}: a folder, not a file; give the path of your repos.env")
        elif not given.exists():
            raise ConfigError(f"--env-file {env_file}: no such file; give the path of your repos.env")
        elif not given.is_file():
            raise ConfigError(f"--env-file {env_file}: not a regular file; give the path of your repos.env")
        else:
            path = resolved
    else:
        path = DEFAULT_ENV_FILE if DEFAULT_ENV_FILE.is_file() else None
    values: dict[str, str] = {}
    if path is not None:
        try:
            with path.open("rb") as file:
                raw = file.read(SETTINGS_MAX_BYTES + 1)
            if len(raw) > SETTINGS_MAX_BYTES:
                raise ConfigError(f"{path}: over {SETTINGS_MAX_BYTES >> 10} kB, too big for a settings file; give "
                                  "the path of your repos.env")
            text = raw.decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise ConfigError(f"{path}: cannot read settings ({reason}); save it as UTF-8 text") from None
        check_settings_lines(path, text)
        file_values = dotenv_values(stream=io.StringIO(text))  # the text just checked: read once
        values.update({setting_key(k): v for k, v in file_values.items() if v is not None and v.strip()})
    from_environment = {setting_key(k): v for k, v in environ.items() if known_setting(k) and v.strip()}
    secret_id = (from_environment.get(SECRET_ID) or values.get(SECRET_ID, "")).strip()
    if secret_id:  # read with the AWS settings of the file and the environment (the secret may not hold them)
        from_secret = read_settings_secret(secret_id, path, {**values, **from_environment})
        both = sorted(set(from_secret) & set(values))
        if both:  # which of the two wins is not for the reader to guess
            raise ConfigError(f"{path}: {both[0]} is set both here and in the secret {secret_id} "
                              f"({SECRET_ID}); keep one of the two")
        values.update(from_secret)
    values.update(from_environment)
    _remember_secrets(values)
    return path, values


SETTINGS_MAX_BYTES = 64 << 10  # a repos.env is a few kB: a file far past this is none, refused before parsing
TYPO_CUTOFF = 0.8  # how alike (difflib's ratio) a name must be to a setting's or key's to be taken for its misspelling


def _typo_distance(a: str, b: str) -> int:
    """Letters inserted, deleted, substituted or swapped side by side to make b of a (capped at 2)."""
    if abs(len(a) - len(b)) > 1:
        return 2
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], prev2[j - 2] + 1)
        prev2, prev = prev, row
    return min(prev[-1], 2)


def closest_names(name: str, known: Iterable[str]) -> list[str]:
    """The known names, nearest to `name` first (case does not count): for "did you mean" lists."""
    import difflib

    folded = name.casefold()

    def nearness(k: str) -> tuple[int, float]:
        return _typo_distance(folded, k.casefold()), -difflib.SequenceMatcher(None, folded, k.casefold()).ratio()

    return sorted(dict.fromkeys(known), key=nearness)


def near_miss(name: str, known: Iterable[str]) -> str | None:
    """The known name `name` is probably a misspelling of, or None.

    A near miss differs in case, or by one letter inserted, deleted, substituted or swapped
    with its neighbour (`shortfals`, `Cash`, `taget`, `di` for `id`), or is as alike as
    TYPO_CUTOFF by difflib's ratio (`EXEC_REPORTS_BCC`).
    """
    import difflib

    # only the nearest can be one: the names come sorted by these very tests (typo distance, then
    # likeness), so when the nearest is no misspelling of `name` (or is `name` itself), none further is
    nearest = closest_names(name, known)[:1]
    if not nearest:
        return None
    k, folded = nearest[0], name.casefold()
    other = k.casefold()
    if other == folded:
        return k if k != name else None
    if _typo_distance(folded, other) <= 1 or difflib.SequenceMatcher(None, folded, other).ratio() >= TYPO_CUTOFF:
        return k
    return None


def setting_key(name: str) -> str:
    """A setting's name as the tool keeps it: EXEC_REPORT_TO_<ID> in capitals, the id matched without case.

    Folded as it is read, the environment's EXEC_REPORT_TO_CFO replaces the file's
    EXEC_REPORT_TO_cfo instead of standing beside it, the file's then winning.
    """
    return name.upper() if name.startswith(PER_REPORT_TO) else name


def known_setting(name: str) -> bool:
    """Whether a name is one this tool reads: a setting, a standard AWS one, or EXEC_REPORT_TO_<ID>."""
    return name in SETTING_NAMES + AWS_NAMES or name.startswith(PER_REPORT_TO)


def check_settings_lines(path: Path, text: str) -> None:
    """Refuse a settings file with a line that is not NAME=value, or a misspelt setting's name.

    Either would be ignored, and a setting silently missing (a misspelt EXEC_REPORT_BCC,
    a forgotten '=') changes who gets the reports or turns a feature off. A name like no
    setting of this tool's (GITHUB_TOKEN) is left alone: the file may serve other tools
    too. Only the line's number and our own suggestion are shown: the line may be a secret.
    """
    if "\x00" in text:  # a path with one cannot be opened; and no text file holds one
        raise ConfigError(f"{path}:{text.count(chr(10), 0, text.index(chr(0))) + 1}: a NUL byte, so not a text "
                          "file; save it as UTF-8 text")
    first_line: dict[str, int] = {}  # each setting of this tool's: the line that sets it
    for binding in parse_stream(io.StringIO(text)):
        raw = binding.original.string
        # the parser counts a binding from the blank lines before it: number its first written line
        line = binding.original.line + raw[: len(raw) - len(raw.lstrip())].count("\n")
        if binding.error or (binding.key is not None and binding.value is None):  # no '=': a word, or a pasted value
            raise ConfigError(f"{path}:{line}: not a NAME=value line; write it as NAME=value (or start it with # "
                              "for a comment)")
        if binding.key is not None and known_setting(binding.key):
            # which of two lines wins is not for the reader to guess: the one edited may be the one ignored
            key = setting_key(binding.key)
            if key in first_line:
                raise ConfigError(f"{path}:{line}: {key} is set again (first on line {first_line[key]}); keep one "
                                  "of the two lines")
            first_line[key] = line
        elif binding.key is not None and not binding.key.upper().startswith("AWS_"):
            # AWS's own names (AWS_DEFAULT_REGION, AWS_ENDPOINT_URL_S3) are other AWS tools' settings, not
            # misspellings of ours. The name is not shown (a pasted token can stand where a name should):
            # only our own suggestion is.
            close = misspelt_setting(binding.key)
            if close:
                raise ConfigError(f"{path}:{line}: not a name this tool reads (did you mean {close}?); fix the "
                                  "name (repos.env.example lists every setting)")


def misspelt_setting(name: str) -> str | None:
    """The setting a name that is none probably meant (HANDOF_DIR: HANDOFF_DIR), or None."""
    return near_miss(name, SETTING_NAMES + AWS_NAMES)


# The secret's JSON holds this tool's settings only: a name that is none is a mistake. The
# AWS settings say how the secret itself is reached, so they come from the environment (a
# Lambda function's role) or repos.env, never from the secret.
SECRET_REFUSED = ("AWS_REGION", *AWS_NAMES, SECRET_ID)
SECRET_MAX_BYTES = 64 << 10  # Secrets Manager's own limit for a secret's value
JSON_KINDS = {bool: "true or false", int: "a number", float: "a number", list: "a list", dict: "an object",
              type(None): "null", str: "text"}


def settings_from_secret(secret_id: str, text: str) -> dict[str, str]:
    """A secret's JSON object of settings, checked; every error names the secret and the key, never a value."""
    where = f"{SECRET_ID} {secret_id}"
    seen: set[str] = set()

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        for key, _ in items:
            key = setting_key(key)  # EXEC_REPORT_TO_cfo and EXEC_REPORT_TO_CFO: one setting, set twice
            if key in seen:  # a key that is no setting is not shown (a pasted token can stand for a name)
                named = key if known_setting(key) else "a key that is not a setting of this tool (not shown)"
                raise ConfigError(f"{where}: {named} is set twice; keep one of the two")
            seen.add(key)
        return dict(items)

    try:
        found = json.loads(text, object_pairs_hook=pairs)
    except (ValueError, RecursionError) as exc:
        at = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise ConfigError(f'{where}: not JSON{at}; write the secret as a JSON object of settings, '
                          '{"NAME": "value", ...}') from None
    if not isinstance(found, dict):
        raise ConfigError(f'{where}: not a JSON object; write the secret as {{"NAME": "value", ...}}')
    values: dict[str, str] = {}
    for key, value in found.items():
        if key.upper() in SECRET_REFUSED:
            raise ConfigError(f"{where}: {key} cannot be set in the secret (it says how the secret itself is "
                              "read); set it in the environment or repos.env")
        if not known_setting(key):
            # The name is not shown (a pasted token can stand where a name should), as in repos.env:
            # only our own suggestion is.
            close = misspelt_setting(key)
            hint = f"did you mean {close}?" if close else "repos.env.example lists every setting"
            raise ConfigError(f"{where}: a key that is not a setting of this tool ({hint}; the key itself is not "
                              "shown); fix or remove it")
        if not isinstance(value, str):
            kind = JSON_KINDS.get(type(value), "of another kind")
            raise ConfigError(f"{where}: {key} is {kind}, not a string; write every value as a JSON string")
        if value.strip():  # empty counts as unset, as in repos.env
            values[setting_key(key)] = value
    return values


def region_setting(values: dict[str, str]) -> str:
    """AWS_REGION, or the default region when it is not set."""
    return values.get("AWS_REGION", "").strip() or DEFAULT_REGION


def read_settings_secret(secret_id: str, path: Path | None, values: dict[str, str]) -> dict[str, str]:
    """The settings in the Secrets Manager secret SETTINGS_SECRET_ID names, read afresh on every run."""
    from botocore.exceptions import BotoCoreError, ClientError

    where = f"{SECRET_ID} {secret_id}"
    reach = Settings(env_file=path, values=values, handoff_dir=SCRIPT_DIR, export_dir=None, archive_dir=None,
                     region=region_setting(values))
    try:
        answer = aws_client(reach, "secretsmanager").get_secret_value(SecretId=secret_id)
    except ClientError as exc:
        code = _safe_code(aws_error_code(exc))
        if code == "ResourceNotFoundException":
            raise ConfigError(f"{where}: no such secret in Secrets Manager ({reach.region}); create it (README "
                              "'Run it on AWS without a machine') or fix the setting") from None
        if code in ACCESS_DENIED_CODES:
            raise ConfigError(f"{where}: access denied; grant secretsmanager:GetSecretValue on the secret") from None
        raise ConfigError(f"{where}: Secrets Manager refused to read it ({code or 'no error code'})") from None
    except BotoCoreError as exc:
        raise ConfigError(f"{where}: Secrets Manager cannot be reached ({_boto_reason(exc)}); check the AWS "
                          "settings") from None
    text = answer.get("SecretString")
    if not isinstance(text, str):
        raise ConfigError(f'{where}: holds binary data, not text; store the settings as a JSON object, '
                          '{"NAME": "value", ...}')
    if len(text.encode("utf-8", "surrogatepass")) > SECRET_MAX_BYTES:
        raise ConfigError(f"{where}: over {SECRET_MAX_BYTES >> 10} kB, too big for settings")
    return settings_from_secret(secret_id, text)


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
    env_file: str | None, *, dry_run: bool, environ: dict[str, str] | None = None,
    read: tuple[Path | None, dict[str, str]] | None = None,
) -> Settings:
    """Read repos.env (or --env-file), let the environment win, resolve paths (`read`: what read_settings gave)."""
    path, values = read or read_settings(env_file, environ)
    used_examples = False
    # the sample, where it is: a package without it (the Lambda function's) says HANDOFF_DIR is not set
    if not values.get("HANDOFF_DIR", "").strip() and path is None and dry_run and EXAMPLES_DIR.is_dir():
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
    secret_id = values.get(SECRET_ID, "").strip()
    if secret_id:  # the secret is where a Lambda function's settings are: say it was looked in
        where = f"{where}, nor in the secret {secret_id}" if path else f"{where[:-1]}, nor in the secret {secret_id})"
    handoff_dir = input_setting(resolve, values, "HANDOFF_DIR")
    if handoff_dir is None:
        start = ""
        if path is None and env_file is None:  # a new installation: say where the settings come from
            start = f" (first time: cp {EXAMPLE_ENV_FILE.name} repos.env next to the script, then edit it)"
        raise ConfigError(f"HANDOFF_DIR is not set{where}: set it to the folder of handoff documents, or their "
                          f"s3://bucket/prefix{start}")
    if isinstance(handoff_dir, Path) and not handoff_dir.is_dir():
        raise ConfigError(f"HANDOFF_DIR={values['HANDOFF_DIR']}: no such folder ({handoff_dir}); fix the path "
                          f"(a relative one is relative to {path.parent if path else SCRIPT_DIR})")
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
    email_format = values.get("EMAIL_FORMAT", "").strip() or "text"
    if email_format not in EMAIL_FORMATS:
        raise ConfigError(
            f"EMAIL_FORMAT={email_format}: not a format; write text (the default: plain text only) "
            "or text+html (plain text with an HTML alternative)"
        )
    export_dir = input_setting(resolve, values, "DYNAMODB_EXPORT_DIR")
    if isinstance(export_dir, Path) and not export_dir.is_dir():
        raise ConfigError(
            f"DYNAMODB_EXPORT_DIR={values['DYNAMODB_EXPORT_DIR']}: no such folder ({export_dir}); "
            "fix the path or remove the setting to read DynamoDB live"
        )
    archive = archive_settings(path, values)
    return Settings(
        env_file=path,
        values=values,
        handoff_dir=handoff_dir,
        export_dir=export_dir,
        archive_dir=archive.archive_dir,
        archive_s3=archive.archive_s3,
        region=region_setting(values),
        used_examples=used_examples,
        email_format=email_format,
    )


def input_setting(resolve: Callable[[str], Path | None], values: dict[str, str], name: str) -> Path | S3Url | None:
    """An input folder setting (HANDOFF_DIR, DYNAMODB_EXPORT_DIR): s3://bucket/prefix checked, a folder resolved."""
    raw = values.get(name, "")
    if is_s3_setting(raw):
        return parse_s3_url(raw, name, "an S3 input")
    return resolve(name)


def archive_settings(path: Path | None, values: dict[str, str]) -> Settings:
    """ARCHIVE_DIR checked and resolved (a folder, or s3://bucket/prefix), with the AWS settings; no inputs.

    Enough for --status, which reads the ledger and nothing else.
    """
    archive = values.get("ARCHIVE_DIR", "").strip()
    archive_s3 = parse_s3_url(archive) if is_s3_setting(archive) else None
    return Settings(
        env_file=path, values=values, handoff_dir=SCRIPT_DIR, export_dir=None,
        archive_dir=None if archive_s3 else _resolver(path, values)("ARCHIVE_DIR"),
        region=region_setting(values), archive_s3=archive_s3,
    )


# AWS errors and S3 addresses: what every reader and writer below (inputs, the estate, SES,
# the archive) says of a botocore error, and how an s3://bucket/prefix setting is read.

CREDENTIAL_CODES = {
    "InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch", "ExpiredToken",
}
S3_CREDENTIAL_CODES = CREDENTIAL_CODES | {"InvalidAccessKeyId", "InvalidToken", "TokenRefreshRequired"}
S3_REGION_CODES = {"PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException", "301"}
ACCESS_DENIED_CODES = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError"}


def _aws_error(exc: Any) -> dict[str, Any]:
    """The "Error" part of a botocore ClientError's answer (empty when it has none)."""
    return exc.response.get("Error", {})


def aws_error_code(exc: Any) -> str:
    """The error code of a botocore ClientError's answer, as AWS sent it ('' when it has none)."""
    return str(_aws_error(exc).get("Code") or "")


def aws_error_message(exc: Any) -> str:
    """The error message of a botocore ClientError's answer ('' when it has none); it can echo a secret: redact it."""
    return str(_aws_error(exc).get("Message") or "")


def _safe_code(code: Any) -> str:
    """An AWS error code fit to print (a word), else 'error'."""
    text = str(code or "")
    return text if re.fullmatch(r"[A-Za-z0-9.:_-]{1,64}", text) else "error"


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


# what a reader of S3 or DynamoDB says to do when it has no working credentials
GIVE_CREDENTIALS = "give AWS credentials (AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the settings)"


def credentials_problem(exc: BaseException) -> str:
    """What is wrong with the AWS credentials, for one of _credential_errors(): none found, or why they cannot load."""
    from botocore.exceptions import NoCredentialsError

    if isinstance(exc, NoCredentialsError):
        return "no AWS credentials were found"
    return f"the AWS credentials cannot be loaded ({_boto_reason(exc)})"


class S3Url(NamedTuple):
    """An s3://bucket/prefix setting: the bucket, and the prefix without slashes at either end."""

    bucket: str
    prefix: str

    def __str__(self) -> str:
        """The address as messages show it."""
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


S3_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")  # AWS's rules for a bucket name
S3_PREFIX_MAX_BYTES = 512  # an object key is at most 1,024 bytes: leave room for the names under the prefix


def is_s3_setting(value: str) -> bool:
    """Whether a folder setting's value names an S3 location (s3:..., in any case) rather than a folder."""
    return value.strip().lower().startswith("s3:")


def parse_s3_url(url: str, setting: str = "ARCHIVE_DIR", what: str = "an S3 archive") -> S3Url:
    """Split s3://bucket/prefix into (bucket, prefix without slashes at either end), checked.

    The bucket name follows AWS's rules (3-63 of a-z 0-9 . -, no '..', not an IP
    address); the prefix has no empty, '.' or '..' part (a slip: S3 would read it as a
    different place, not as the folder meant), no control character, and room left for
    the keys under it.
    """
    parts = urllib.parse.urlsplit(url.strip())
    bucket = parts.netloc
    if (parts.scheme != "s3" or not S3_BUCKET_RE.fullmatch(bucket) or ".." in bucket
            or re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+", bucket)):
        raise ConfigError(
            f"{setting}: {what} is written s3://bucket/prefix with a valid bucket name "
            "(3-63 of a-z 0-9 . -)"
        )
    if parts.query or parts.fragment:
        raise ConfigError(f"{setting}: {what} URL takes no ?query or #fragment; write s3://bucket/prefix")
    prefix = parts.path.strip("/")
    if prefix and any(part in ("", ".", "..") for part in prefix.split("/")):
        raise ConfigError(f"{setting}: the prefix {prefix!r} has an empty, '.' or '..' part; write "
                          "s3://bucket/folder/folder")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in prefix):
        raise ConfigError(f"{setting}: the prefix holds a control character; write s3://bucket/folder/folder")
    if len(prefix.encode("utf-8")) > S3_PREFIX_MAX_BYTES:
        raise ConfigError(f"{setting}: the prefix is over {S3_PREFIX_MAX_BYTES} bytes; S3 keys are at most 1,024: "
                          "use a shorter prefix")
    return S3Url(bucket, prefix)


def s3_failure(setting: str, where: str, exc: BaseException, doing: str, grant: str) -> ReportError:
    """One line for an S3 error naming the setting and what to do (botocore's own text is never printed).

    `grant`: the IAM actions the setting needs, named when access is denied.
    """
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        code = aws_error_code(exc)
        if code == "NoSuchBucket":
            return ConfigError(f"{setting} {where}: no such bucket; create it or fix the setting")
        if code in ACCESS_DENIED_CODES or code == "403":
            return ConfigError(f"{setting} {where}: access denied while {doing}; grant {grant} on the bucket")
        if code in S3_CREDENTIAL_CODES:
            return ConfigError(f"{setting} {where}: AWS refused the credentials ({code}) while {doing}; fix "
                               "AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, in the settings")
        if code in S3_REGION_CODES:
            return ConfigError(f"{setting} {where}: the bucket is not in AWS_REGION's region ({code}); set "
                               "AWS_REGION to the bucket's region")
        return ConfigError(f"{setting} {where}: S3 refused {doing} ({code or 'no error code'})")
    if isinstance(exc, _credential_errors()):
        return ConfigError(f"{setting} {where}: {credentials_problem(exc)} while {doing}; {GIVE_CREDENTIALS}")
    return ConfigError(f"{setting} {where}: S3 cannot be reached while {doing} ({_boto_reason(exc)}); check "
                       "AWS_ENDPOINT_URL, AWS_REGION and the network")


@functools.cache
def aws_models(data_path: str | None) -> Any:
    """botocore's reader of its JSON models (endpoints, partitions, each service's API), one a
    process for each AWS_DATA_PATH: a new session's own reader parses them all again, about
    0.1 s a client, which a run making several clients paid each time (bench/clients.py)."""
    import botocore.loaders

    return botocore.loaders.create_loader(data_path)


def aws_session(settings: Settings) -> Any:
    """A boto3 session from the settings (imported only when AWS is needed): its own
    credentials and configuration, the models read once a process (aws_models)."""
    import boto3
    import botocore.session

    core = botocore.session.get_session()
    models = aws_models(core.get_config_variable("data_path"))
    core.register_component("data_loader", models)
    session = boto3.session.Session(
        botocore_session=core,
        aws_access_key_id=settings.get("AWS_ACCESS_KEY_ID") or None,
        aws_secret_access_key=settings.get("AWS_SECRET_ACCESS_KEY") or None,
        aws_session_token=settings.get("AWS_SESSION_TOKEN") or None,
        profile_name=settings.get("AWS_PROFILE") or None,
        region_name=settings.region,
    )
    models.search_paths[:] = dict.fromkeys(models.search_paths)  # each boto3 session appends its folder again
    return session


def aws_client(settings: Settings, service: str, config: Any = None) -> Any:
    """A boto3 client for `service`, honouring AWS_ENDPOINT_URL."""
    from botocore.exceptions import BotoCoreError

    try:
        return aws_session(settings).client(
            service, endpoint_url=settings.get("AWS_ENDPOINT_URL") or None, config=config
        )
    except BotoCoreError as exc:
        raise ConfigError(f"AWS settings: {_boto_reason(exc)}; check AWS_PROFILE and AWS_REGION") from None


# ---------------------------------------------------------------------------
# Formatting, and the exact amounts and clean text it works on: the small tools every later
# section uses, so they stand before the readers. Money is exact (Decimals from the YAML
# text, never binary floats). A figure's form is the same in every report. A figure that
# could not be computed is a short text ("no data", "not burning"), which every formatter passes through. Every
# rule rounds once, half up (halves away from zero), from the exact figure, and decides
# on the rounded amount: $99.995 rounds to $100.00 at the cent, which is not under $100,
# so it shows as $100. A negative amount shows its sign before the $ (-$1,200), and an
# amount that rounds to zero shows no sign (never -$0.00 or -0.0%).


NOT_COSTED = "not costed"
NOT_VALUED = "not valued"
NONE = "none"
NOT_APPLICABLE = "n/a"
ZERO = Decimal("0.00")

# Money is exact. Amounts arrive as Decimals built from the YAML text (a float, from
# an older caller, is taken by its shortest text: 0.1 is 0.1), and every sum,
# difference and product is decimal arithmetic, so cents add up and a sum that is zero
# is zero. Quotients (averages, ratios, runway) keep 34 significant digits. Averages
# of money are rounded half up to the cent, so the rows a report shows add up: burn is
# exactly expenses_avg - revenue_avg as shown, and a burn of $0.00 is zero, "not
# burning" (a positive burn is at least $0.01). The exponent range is the widest
# Decimal has, so no amount a handoff can hold overflows or fails to round.
FIGURES_CONTEXT = decimal.Context(
    prec=34,
    rounding=ROUND_HALF_UP,
    Emax=decimal.MAX_EMAX,
    Emin=decimal.MIN_EMIN,
    traps=[InvalidOperation, decimal.DivisionByZero],
)


def _exact(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run a figure function in the figures' decimal context."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with decimal.localcontext(FIGURES_CONTEXT):
            return fn(*args, **kwargs)

    return wrapper


def _dec(value: Any) -> Decimal:
    """A number as a Decimal: exact for Decimals and ints, a float by its shortest text."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)


_QUANTUM = tuple(Decimal(1).scaleb(-places) for places in range(7))  # 1, 0.1, ... 0.000001


def _round(value: Any, places: int = 0) -> Decimal:
    """Round half up (halves away from zero, as people do) to `places` decimals; never -0.

    The precision grows with the number, so any finite amount rounds (a fixed 28 digits
    cannot hold 1e20 to the cent); a value that is not finite is returned as it is.
    """
    number = _dec(value)
    if not number.is_finite():
        return number
    quantum = _QUANTUM[places] if 0 <= places < len(_QUANTUM) else Decimal(1).scaleb(-places)
    context = FIGURES_CONTEXT  # enough digits for any amount a handoff can hold; more only for larger ones
    if number.adjusted() + places + 3 > context.prec:
        context = context.copy()
        context.prec = number.adjusted() + places + 3
    rounded = number.quantize(quantum, rounding=ROUND_HALF_UP, context=context)
    return rounded if rounded else abs(rounded)  # -0.00 is 0.00


def _sum(values: Iterable[Any]) -> Decimal:
    """Sum the numbers exactly, ignoring None (and texts such as 'not costed')."""
    return sum((_dec(v) for v in values if v is not None and not isinstance(v, str)), Decimal(0))


CENTS_BELOW = 100  # money shows cents when every amount of its column is under $100


def _amounts(values: Iterable[Any]) -> list[Decimal]:
    """The finite numbers among the values, as Decimals (texts such as 'no data', None and booleans left out)."""
    numbers = (_dec(v) for v in values if isinstance(v, (int, float, Decimal)) and not isinstance(v, bool))
    return [n for n in numbers if n.is_finite()]


def shows_cents(values: Iterable[Any]) -> bool:
    """The precision of a column of money: cents when every amount in it, and their exact sum, is under
    $100 at the cent ($23.50, $9.99); whole dollars as soon as one is not, for all of them.

    One rule for a table column, its total and the same figure shown alone, so a figure
    shows the same digits wherever it appears.
    """
    amounts = _amounts(values)
    return all(abs(_round(a, 2)) < CENTS_BELOW for a in [*amounts, _sum(amounts)])


def _rank(level: str) -> int:
    """Sort key of an urgency or severity, most urgent first."""
    return URGENCIES.index(level)


def _figure(fmt: Callable[[Decimal], str]) -> Callable[[Any], str]:
    """A formatter of any number (as a Decimal) that passes a figure's text ('no data') through."""

    @functools.wraps(fmt)
    def wrapper(value: Any, *args: Any) -> str:
        if isinstance(value, str) or value is None:
            return value or NO_DATA
        if not isinstance(value, (int, float, Decimal)):
            return str(value)  # not a figure: as text (a template's undefined name fails here)
        number = _dec(value)
        if not number.is_finite():
            return NOT_APPLICABLE
        return fmt(number, *args)

    return wrapper


def _signed(rounded: Decimal, text: str) -> str:
    """text with a minus sign in front when the rounded amount is below zero."""
    return f"-{text}" if rounded < 0 else text


@_figure
def format_money(value: Decimal, cents: bool | None = None) -> str:
    """$12,345 in whole dollars, $23.50 in cents: cents as its column has them (shows_cents), or alone,
    when the amount is under $100."""
    if cents is None:
        cents = shows_cents([value])
    if cents:
        return format_money_cents(value)
    dollars = _round(value)
    return _signed(dollars, f"${abs(dollars):,.0f}")


@_figure
def format_money_cents(value: Decimal) -> str:
    """$12,345.67: cents on every amount (the Accounting Officer's report)."""
    cents = _round(value, 2)
    return _signed(cents, f"${abs(cents):,.2f}")


def format_per_month(value: Any, cents: bool | None = None) -> str:
    """Money a month: $1,234/month (a text such as 'no data' as it is)."""
    return format_money(value, cents) + ("/month" if isinstance(value, (int, float, Decimal)) else "")


def format_trend(value: Any, cents: bool | None = None) -> str:
    """A signed monthly trend worded by its sign: '$76 more each month', '$4,436 less each month', 'flat'."""
    if not isinstance(value, (int, float, Decimal)) or isinstance(value, bool):
        return format_money(value)
    shown = format_money(abs(_dec(value)), cents)
    if shown in ("$0", "$0.00"):
        return "flat (no change each month)"
    return f"{shown} {'more' if value > 0 else 'less'} each month"


@_figure
def format_count(value: Decimal) -> str:
    """1,375."""
    return f"{_round(value):,.0f}"


PCT_MAX_PLACES = 4  # a percentage shows at most this many decimals to be told from its target


@_figure
def format_pct(value: Decimal, target: Any = None) -> str:
    """A ratio as a percentage with one decimal: 0.4286 -> 42.9%; with a target, the decimals it
    takes to tell the two apart: 0.9986 against 0.999 is 99.86% (99.9% would read as on target)."""
    places = 1
    goal = _dec(target).scaleb(2) if isinstance(target, (int, float, Decimal)) else None
    while goal is not None and goal.is_finite() and places < PCT_MAX_PLACES and value.scaleb(2) != goal \
            and _round(value.scaleb(2), places) == _round(goal, places):
        places += 1
    return f"{_round(value.scaleb(2), places):,.{places}f}%"


@_figure
def format_months(value: Decimal, unit: str = "") -> str:
    """Months (a runway) with one decimal, rounded toward zero: 4.39 is 4.3.

    Rounded down, a runway is never overstated: 5.96 months shows as 5.9, not as the
    6.0 that would contradict the under-6-months alert it raises.
    """
    with decimal.localcontext(FIGURES_CONTEXT) as ctx:
        ctx.prec = max(ctx.prec, value.adjusted() + 4)
        tenths = value.quantize(Decimal("0.1"), rounding=decimal.ROUND_DOWN)
    return f"{tenths if tenths else abs(tenths):,.1f}" + (f" {unit}" if unit else "")


@_figure
def format_number(value: Decimal) -> str:
    """A plain number: whole numbers without decimals, others with up to two."""
    rounded = _round(value, 2)
    if rounded == rounded.to_integral_value():
        return format_count(rounded)
    return f"{rounded:,.2f}".rstrip("0").rstrip(".")


def _plural(n: Decimal | int, word: str) -> str:
    """'1 handoff', '1,375 handoffs'."""
    return f"{format_count(n)} {word}{'s' * (n != 1)}"


@_figure
def format_days(value: Decimal) -> str:
    """A count of days: 1 day, 14 days."""
    return _plural(value, "day")


def format_due(value: Any, as_of: dt.date) -> str:
    """When an action is due: 'today', 'tomorrow', else its ISO date; 'no date' when it has none."""
    if not isinstance(value, dt.date):
        return "no date"
    return {0: "today", 1: "tomorrow"}.get((value - as_of).days, value.isoformat())


def action_when(a: dict[str, Any]) -> str:
    """How late or how soon an open action is: '4 days late', 'due today', 'due in 3 days' (within a
    week), 'due 2026-12-20', 'no due date'."""
    if a["overdue"]:
        return f"{format_days(a['days_overdue'])} late"
    days = a.get("days_left")
    if days is None:
        return "no due date"
    if days <= SOON_DAYS:
        return "due today" if days == 0 else f"due in {format_days(days)}"
    return f"due {a['due'].isoformat()}"


def format_date(value: Any) -> str:
    """ISO date."""
    if isinstance(value, dt.date):
        return value.isoformat()
    return value if value else "—"


_WHITESPACE = re.compile(r"\s+")


# Bidi embeddings, overrides and isolates only change the order text is shown in: a
# handoff's text is shown in the order it was written.
_BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]")


def _control_picture(match: re.Match[str]) -> str:
    """A control character made visible: its Unicode picture (ESC shows as U+241B), or U+FFFD."""
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)
    return "\u2421" if code == 0x7F else "\ufffd"  # C1 controls have no picture


def clean_text(value: str) -> str:
    """Handoff text on one line, its control characters visible and never acted on.

    A terminal would obey an escape sequence and a mail client a bidi override; a
    line break in a name would start a new Markdown block.
    """
    value = _BIDI_CONTROLS.sub("", _WHITESPACE.sub(" ", value))
    return _CONTROLS.sub(_control_picture, value)


# ---------------------------------------------------------------------------
# Reading handoffs: each file is read only up to the end of its front matter, which is
# checked for what YAML must not do here (anchors, aliases, merge keys) and parsed to a
# YAML node tree, so that every error can name the line of the key at fault.


@dataclass
class Handoff:
    """One project's handoff document, validated."""

    file: str  # path relative to HANDOFF_DIR, for messages and reports
    data: dict[str, Any]
    # dotted key -> its line in the file, for the top-level keys and those one level under
    # them ("dynamodb.events", "financials.2026-09")
    lines: dict[str, int] = field(default_factory=dict)

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
    """All handoffs read from HANDOFF_DIR, the Markdown files skipped (no front matter), and the
    files skipped that look like handoffs but are not named *.md or *.markdown (relative paths)."""

    handoffs: list[Handoff]
    skipped: list[str] = field(default_factory=list)
    misnamed: list[str] = field(default_factory=list)


# A field spec is a kind name, or a tuple: ("enum", values), ("list", fields),
# ("map", fields), ("months", fields), ("amounts",), ("table",), ("checklist",),
# ("persona",), ("fixes",) (the title of a shortfall or security finding of the same
# entity, checked once every handoff is read). A field name ending in "!" is required.
Spec = Any

MONEY = "number"  # any amount or count: an exact Decimal built from the text as written
MAX_NUMBER = Decimal(10) ** 15  # beyond any small business; also keeps sums and formatting exact
MAX_PLACES = 6  # cents, and ratios such as 0.0235; more is a typo or a value pasted from a sheet
MAX_FRONT_MATTER = 1 << 20  # bytes before the closing '---'; bounds memory and parse time
# Values (scalars, lists, mappings) in one front matter. A real handoff holds a few hundred;
# a 1 MiB flow list of 500,000 numbers would take over 200 MB as a YAML node tree.
MAX_VALUES = 100_000
EVENT_CHECK_BYTES = 1 << 16  # larger front matter has its values counted before it is composed
SNIFF_LINES = 100  # a file without front matter is searched this far for handoff keys
PERSONA = ("persona",)
CHECKLIST_SPEC: dict[str, Spec] = {"table!": ("table",), "done": "text"}
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
        {"name!": "text", "value": MONEY, "target": MONEY, "better": ("enum", ("higher", "lower")), "unit": "text",
         "persona": PERSONA},
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
    "shortfalls": ("list", {"title!": "text", "urgency!": ("enum", URGENCIES), "persona": PERSONA}),
    "actions": (
        "list",
        {"title!": "text", "due": "date", "priority": "integer", "persona": PERSONA, "done": "bool",
         "fixes": ("fixes",)},
    ),
    "revenue_recognition": (
        "list",
        {"description": "text", "amount!": MONEY, "received": "date", "service_date!": "date", "due": "date",
         "terms_days": "integer"},
    ),
    "expenses": ("list", {"vendor": "text", "amount!": MONEY, "category": "text", "month": "month"}),
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
_RESOLVE_MEMO_SIZE = 4096  # plain scalars whose tag is remembered, each at most 32 characters


class _HandoffLoader(YamlLoader):  # type: ignore[misc, valid-type]
    """YamlLoader with the same tags, resolved faster: composing calls resolve() once per value.

    Its resolvers are its own copy, fixed at import, so a plain scalar's tag depends on
    its text alone and can be remembered; a text no implicit resolver starts with is a
    string at once (tests/test_fast_paths.py compares every answer with PyYAML's resolve()).
    """

    yaml_implicit_resolvers: ClassVar[dict[Any, list[Any]]] = {
        k: list(v) for k, v in YamlLoader.yaml_implicit_resolvers.items()
    }
    yaml_path_resolvers: ClassVar[dict[Any, Any]] = {}
    # The first characters a resolver looks for; None when a wildcard resolver looks at every text.
    _first = None if None in yaml_implicit_resolvers else frozenset(k for k in yaml_implicit_resolvers if k)
    _memo: ClassVar[dict[str, str]] = {}

    def resolve(self, kind: type, value: Any, implicit: tuple[bool, bool]) -> str:
        """The tag of a node, exactly as PyYAML's resolve() gives it."""
        if kind is yaml.ScalarNode:
            if not implicit[0]:
                return self.DEFAULT_SCALAR_TAG
            if value and self._first is not None and value[0] not in self._first:
                return self.DEFAULT_SCALAR_TAG
            tag = self._memo.get(value)
            if tag is None and value[:1] in "-0123456789":  # numbers: too many to remember
                if _PLAIN_INT_RE.fullmatch(value):
                    return _INT_TAG
                if _PLAIN_FLOAT_RE.fullmatch(value):
                    return _FLOAT_TAG
            if tag is None:
                tag = super().resolve(kind, value, implicit)
                if len(value) <= 32 and len(self._memo) < _RESOLVE_MEMO_SIZE:
                    self._memo[value] = tag
            return tag
        return super().resolve(kind, value, implicit)


TABLE_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")

_STR_TAG = "tag:yaml.org,2002:str"
_NULL_TAG = "tag:yaml.org,2002:null"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
# The scalars most front matter holds, in the forms whose value PyYAML's constructor
# builds in one obvious way; any other form goes through the constructor itself.
_BOOL_VALUES: dict[str, bool] = yaml.constructor.SafeConstructor.bool_values
_PLAIN_INT_RE = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_PLAIN_FLOAT_RE = re.compile(r"[-+]?[0-9]+\.[0-9]+")
_PLAIN_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_NUMBER_TAGS = frozenset((_INT_TAG, _FLOAT_TAG))
# The one way a number is written: an optional minus, digits without a leading zero, an
# optional decimal point with digits after it. YAML 1.1 reads other forms as octal,
# base 60 or hexadecimal, or drops underscores: a handoff must not mean something else.
_DECIMAL_RE = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?")
_BASE60_RE = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")
_RADIX_RE = re.compile(r"[-+]?0([xXbBoO])[0-9a-fA-F_]+")
_OCTAL_RE = re.compile(r"[-+]?0[0-7_]+")
_LOOSE_DECIMAL_RE = re.compile(r"[-+]?(?=\.?[0-9])[0-9_]*(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?")
_RADIX = {"x": (16, "a hexadecimal number"), "b": (2, "a binary number"), "o": (8, "an octal number")}
_BOM = b"\xef\xbb\xbf"
_OPEN_RE = re.compile(rb"---(?:[ \t]+#[^\r\n]*)?[ \t]*\r?\n?")  # '---', or '--- # a comment'
_CLOSE_RE = re.compile(rb"(?:---|\.\.\.)(?:[ \t]+#[^\r\n]*)?[ \t]*\r?\n?")
_HANDOFF_KEY_RE = re.compile(rb"(entity|status|updated)[ \t]*:(?:[ \t\r\n]|$)")
_FENCE_RE = re.compile(rb" {0,3}(?:```|~~~)")
# What YAML refuses to read (PyYAML's own list): named with the line, before the parser sees it.
_NOT_PRINTABLE_RE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_TAB_INDENT_RE = re.compile(r"^ *\t", re.MULTILINE)


def _join(key: str, name: str) -> str:
    """The dotted key of a field, for messages: financials.2026-09.revenue."""
    return f"{key}.{name}" if key else name


def _integer_hint(key: str) -> str:
    """What a whole-number key means, for its error: a priority's order, days of payment terms."""
    return " (1 is the highest priority)" if key.endswith("priority") else " (days)"


def _plain(value: Decimal | int) -> str:
    """A number in plain decimal digits, as a handoff must write it."""
    text = format(value, "f") if isinstance(value, Decimal) else str(value)
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _other_number_form(text: str) -> str | None:
    """What is wrong with a number written other than in plain decimal; None: not a number."""
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-").replace("_", "")
    try:
        if _BASE60_RE.fullmatch(text):
            value = Decimal(0)
            for part in digits.split(":"):
                value = value * 60 + Decimal(part)
            return f"which YAML reads as {_plain(sign * value)} (base 60); write {_plain(sign * value)}"
        if m := _RADIX_RE.fullmatch(text):
            base, name = _RADIX[m.group(1).lower()]
            value = sign * int(digits[2:], base)
            return f"{name}; write {value}"
        if _OCTAL_RE.fullmatch(text):
            octal = sign * int(digits, 8)
            decimal = sign * int(digits)
            other = f" (or {octal})" if octal != decimal else ""
            return f"which YAML reads as octal {octal}; write {decimal}{other}"
        if _LOOSE_DECIMAL_RE.fullmatch(text):
            value = sign * Decimal(digits)
            if abs(value) >= MAX_NUMBER:
                return f"not a plausible amount (it must be under {MAX_NUMBER:,})"
            if -value.as_tuple().exponent > MAX_PLACES:
                return f"not in plain decimal digits; write it out with at most {MAX_PLACES} decimal places"
            return f"not in plain decimal digits; write {_plain(value)}"
    except (ValueError, InvalidOperation):
        pass
    return None


_FIELD_NAMES: dict[int, tuple[dict[str, Spec], dict[str, Spec], tuple[str, ...]]] = {}


def _field_names(spec: dict[str, Spec]) -> tuple[dict[str, Spec], tuple[str, ...]]:
    """A mapping spec's fields without their '!' marks, and its required fields in spec order.

    Worked out once per spec (they are module constants) rather than once per mapping read.
    """
    known = _FIELD_NAMES.get(id(spec))
    if known is None or known[0] is not spec:
        plain = {f.rstrip("!"): s for f, s in spec.items()}
        known = _FIELD_NAMES[id(spec)] = (spec, plain, tuple(f[:-1] for f in spec if f.endswith("!")))
    return known[1], known[2]


class _Validator:
    """Walks a composed YAML node tree against SCHEMA, building plain values.

    Every error is collected (as file line, message) and the walk goes on past it, so
    one run names every mistake of a document.
    """

    def __init__(self, loader: Any, first_line: int, personas: dict[str, str] | None) -> None:
        self.loader = loader
        self.first_line = first_line  # file line of the front matter's first line
        self.personas = personas  # casefolded -> as the report writes it; None: not checked
        self.errors: list[tuple[int, str]] = []
        self.unshown = 0  # errors found past ERRORS_SHOWN: counted, not kept
        self.lines: dict[str, int] = {}

    def line(self, node: yaml.Node | None) -> int:
        """The file line of a node."""
        return (node.start_mark.line if node is not None else 0) + self.first_line

    def record(self, exc: DocError) -> None:
        """Keep an error and go on."""
        # An error raised from a local while another was handled (`except ValueError: raise
        # bad`) ties both exceptions and the frame in a cycle that only the cycle collector
        # frees, and it is paused while handoffs are read: the frame holds the file's nodes.
        exc.__traceback__ = exc.__context__ = None
        if len(self.errors) < ERRORS_SHOWN:
            self.errors.append((self.line(exc.node), f"{exc.key or 'front matter'} {exc.message}"))
        else:
            self.unshown += 1

    def scalar(self, node: yaml.Node) -> Any:
        """Construct the Python value of any node.

        A scalar that YAML resolves to a type but cannot build (2026-13-45 looks
        like a date) is returned as its text, so the check of its field can name it.
        """
        if isinstance(node, yaml.ScalarNode):
            # What the constructor would return, without its overhead (tests/test_fast_paths.py).
            tag, text = node.tag, node.value
            if tag == _STR_TAG:
                return text
            if tag == _NULL_TAG:
                return None
            if tag == _BOOL_TAG and (flag := _BOOL_VALUES.get(text.lower())) is not None:
                return flag
            if tag == _INT_TAG and _PLAIN_INT_RE.fullmatch(text):
                return int(text)
            if tag == _FLOAT_TAG and _PLAIN_FLOAT_RE.fullmatch(text):
                return float(text)
            if tag == _TIMESTAMP_TAG and _PLAIN_DATE_RE.fullmatch(text):
                try:
                    return dt.date(int(text[:4]), int(text[5:7]), int(text[8:]))
                except ValueError:
                    return text  # 2026-13-45: the check of its field names it
        return self.plain_scalar(node)

    def plain_scalar(self, node: yaml.Node) -> Any:
        """scalar() through PyYAML's constructor: every tag and form, as YAML defines them."""
        try:
            return self.loader.construct_object(node, deep=True)
        # An explicit tag the text does not fit (!!timestamp "x", !!bool maybe, !!float "")
        # fails inside PyYAML's constructor with any of these.
        except (ValueError, OverflowError, TypeError, RecursionError, AttributeError, KeyError, IndexError):
            # A failed construction leaves its node marked as under way, and the next read of
            # the same node would fail as "recursive": nothing is under way once it failed.
            self.loader.recursive_objects.clear()
            self.loader.deep_construct = False
            if isinstance(node, yaml.ScalarNode):
                return node.value
            return None  # only unknown keys hold such collections, and they are ignored

    def mapping(self, node: yaml.Node, key: str) -> list[tuple[str, yaml.Node, yaml.Node]]:
        """Return (key, key node, value node) of a mapping node; a repeated key is an error."""
        if not isinstance(node, yaml.MappingNode):
            raise DocError(node, key, f"expected a mapping of keys, got {_describe(self.scalar(node))}")
        seen: set[str] = set()
        out = []
        # Lines are kept for the top-level keys and the keys one level under them
        # (dynamodb.events, financials.2026-09): enough to name a line, small for 2,000 files.
        record = not key or ("." not in key and "[" not in key)
        for knode, vnode in node.value:
            if knode.tag == _STR_TAG and isinstance(knode, yaml.ScalarNode):
                name = knode.value
            else:
                name = self.scalar(knode)
                if isinstance(name, dt.date):
                    name = name.isoformat()
                name = str(name)
            if name in seen:
                self.record(DocError(knode, _join(key, name), "appears twice; keep one"))
                continue
            seen.add(name)
            if record:
                self.lines[_join(key, name)] = knode.start_mark.line + self.first_line
            out.append((name, knode, vnode))
        return out

    def fields(self, node: yaml.Node, key: str, spec: dict[str, Spec]) -> dict[str, Any]:
        """Validate a mapping against named fields.

        A key the format does not define is a typing slip, never silently dropped: an
        error naming the key it probably meant, and inside a list item or mapping an
        error whatever it is (listing the keys there). At the top of a document a key
        unlike every defined one is kept for people (notes:, links:) and ignored.
        """
        pairs = self.mapping(node, key)
        plain, required = _field_names(spec)
        if required:
            given = {name for name, _, _ in pairs}
            for fname in required:
                if fname not in given:
                    self.record(DocError(node, _join(key, fname), "is required but missing; add it"))
        out: dict[str, Any] = dict.fromkeys(plain)
        for name, knode, vnode in pairs:
            if name in plain:
                try:
                    out[name] = self.value(vnode, _join(key, name), plain[name], required=name in required)
                except DocError as exc:
                    self.record(exc)
            elif (meant := near_miss(name, plain)) is not None:
                keys = (f"; the keys here are: {', '.join(plain)}" if key
                        else " (a key kept for people must be unlike every key of the format)")
                self.record(DocError(knode, _join(key, name),
                                     f"is not a key of the format (did you mean {meant}?); fix its name{keys}"))
            elif key:
                self.record(DocError(knode, _join(key, name),
                                     f"is not a key of the format; the keys here are: {', '.join(plain)}"))
            else:
                out[name] = self.scalar(vnode)
        return out

    def value(self, node: yaml.Node, key: str, spec: Spec, *, required: bool = False) -> Any:
        """Validate one value against its spec."""
        if spec == "text" and node.tag == _STR_TAG and isinstance(node, yaml.ScalarNode):
            text = " ".join(node.value.split())  # scalar_value's text, for the commonest case
            if not text and required:
                raise DocError(node, key, "is required but empty; give it a value")
            return text or None
        if spec == MONEY or spec == "integer":
            return self.number(node, key, spec, required)
        if isinstance(spec, tuple):
            return self.compound(node, key, spec, required)
        return self.scalar_value(node, key, spec, required)

    def compound(self, node: yaml.Node, key: str, spec: tuple[Any, ...], required: bool) -> Any:
        """A value of a kind with its own rules: a choice, a persona, a list, a mapping, months, a table."""
        kind = spec[0]
        if kind == "enum":
            raw = self.scalar(node)
            if raw not in spec[1]:
                raise DocError(node, key, f"is {_describe(raw)}; use one of: {', '.join(spec[1])}")
            return raw
        if kind == "persona":
            return self.persona(node, key)
        if kind == "fixes":
            text = self.value(node, key, "text")
            if text is not None:  # its line, for the error if it names nothing
                self.lines[key] = self.line(node)
            return text
        if self._is_null(node) and not required:
            return None
        if kind == "list":
            return self.list_items(node, key, spec[1])
        if kind == "map":
            return self.fields(node, key, spec[1])
        if kind == "months":
            return self.months(node, key, spec[1])
        if kind == "amounts":
            return self.amounts(node, key)
        if kind == "table":
            return self.table(node, key)
        if kind == "checklist":
            if isinstance(node, yaml.MappingNode):
                got = self.fields(node, key, CHECKLIST_SPEC)
                return {"table": got["table"], "done": got["done"] or "done"}
            return {"table": self.table(node, key), "done": "done"}
        raise AssertionError(kind)

    def list_items(self, node: yaml.Node, key: str, spec: dict[str, Spec]) -> list[dict[str, Any]]:
        """A list of mappings, each validated against the same fields; a bad item is named and skipped."""
        if not isinstance(node, yaml.SequenceNode):
            raise DocError(node, key, f"expected a list, got {_describe(self.scalar(node))}")
        items = []
        for i, item in enumerate(node.value):
            try:
                items.append(self.fields(item, f"{key}[{i}]", spec))
            except DocError as exc:
                self.record(exc)
        return items

    def months(self, node: yaml.Node, key: str, spec: dict[str, Spec]) -> dict[str, dict[str, Any]]:
        """A mapping of calendar months (YYYY-MM), each validated against the same fields."""
        out = {}
        for month, knode, vnode in self.mapping(node, key):
            try:
                if not MONTH_RE.match(month):
                    raise DocError(knode, f"{key}.{month}", "is not a calendar month; write it as YYYY-MM")
                out[month] = self.fields(vnode, f"{key}.{month}", spec)
            except DocError as exc:
                self.record(exc)
        return out

    def amounts(self, node: yaml.Node, key: str) -> dict[str, Decimal | int | None]:
        """A mapping of names to amounts of money."""
        amounts = {}
        for name, _knode, vnode in self.mapping(node, key):
            try:
                amounts[name] = self.number(vnode, f"{key}.{name}", MONEY, True)
            except DocError as exc:
                self.record(exc)
        return amounts

    def scalar_value(self, node: yaml.Node, key: str, spec: Spec, required: bool) -> Any:
        """A value of one of the plain kinds: text, a date, a calendar month, true or false."""
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
        if spec == "month":
            if not isinstance(raw, str) or not MONTH_RE.match(raw.strip()):
                raise DocError(node, key, f"expected a calendar month like 2026-10 (YYYY-MM), got {_describe(raw)}")
            return raw.strip()
        if spec == "bool":
            if not isinstance(raw, bool):
                raise DocError(node, key, f"expected true or false, got {_describe(raw)}")
            return raw
        raise AssertionError(spec)

    def number(self, node: yaml.Node, key: str, spec: str, required: bool) -> Decimal | int | None:
        """An amount as an exact Decimal built from its text (never a float), or a whole number >= 1."""
        text = node.value if isinstance(node, yaml.ScalarNode) and not node.style else None
        if text is not None and node.tag in _NUMBER_TAGS and _DECIMAL_RE.fullmatch(text):
            value = Decimal(text)
            if abs(value) >= MAX_NUMBER:
                raise DocError(node, key, f"is {text}, not a plausible amount (it must be under {MAX_NUMBER:,})")
            if spec == "integer":
                if value != value.to_integral_value() or value < 1:
                    raise DocError(node, key, f"is {text}; write a whole number, 1 or more{_integer_hint(key)}")
                return int(value)
            if -value.as_tuple().exponent > MAX_PLACES:
                rounded = _plain(value.quantize(Decimal(1).scaleb(-MAX_PLACES), rounding=ROUND_HALF_UP))
                raise DocError(node, key, f"is {text}, more than {MAX_PLACES} decimal places; round it, e.g. {rounded}")
            return value.copy_abs() if value.is_zero() else value  # -0 is 0: never "-$0.00"
        if text is not None and (form := _other_number_form(text)) is not None:
            raise DocError(node, key, f"is written {text}, {form}")
        raw = self.scalar(node)
        if raw is None:
            if required:
                raise DocError(node, key, "is required but empty; give it a value")
            return None
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):  # .inf, .nan, !!int "5"
            raise DocError(node, key, f"is written {node.value}, not a plain decimal number; write digits such as 8200")
        if isinstance(raw, str) and _DECIMAL_RE.fullmatch(raw.strip()):
            raise DocError(node, key, f"is quoted, which makes it text; write the number without quotes: {raw.strip()}")
        if spec == "integer":
            raise DocError(node, key, f"expected a whole number, 1 or more{_integer_hint(key)}, got {_describe(raw)}")
        hint = " (plain digits, no $ or commas, e.g. 8200)" if isinstance(raw, str) else ""
        raise DocError(node, key, f"expected a number, got {_describe(raw)}{hint}")

    def persona(self, node: yaml.Node, key: str) -> str | None:
        """A persona of the reports found, spelled as the report spells it."""
        text = self.value(node, key, "text")
        if text is None or self.personas is None:
            return text
        canonical = self.personas.get(text.casefold())
        if canonical is None:
            valid = ", ".join(dict.fromkeys(self.personas.values()))
            raise DocError(node, key, f"is {_describe(text)}, not a persona of any report; use one of: {valid}")
        return canonical

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
    """Return (front matter, body) of a report template, None when it has no front matter.

    Raises ValueError when front matter opens but never closes.
    """
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].rstrip() != "---":
        return None
    for i in range(1, len(lines)):
        if lines[i].rstrip() in ("---", "..."):
            return "".join(lines[1:i]), "".join(lines[i + 1 :])
    raise ValueError("front matter opened on line 1 never closes")


# HANDOFF_DIR and DYNAMODB_EXPORT_DIR may name s3://bucket/prefix. The readers below then
# walk, glob and open S3Paths instead of local paths: an S3Path offers the few methods of
# pathlib.Path they use, so every rule and message is the same code for a folder and a
# prefix, a file named by its s3://bucket/key. Objects are streamed (one GET each, read
# only as far as the reader reads), never held whole.

S3_LIST_PAGE_SIZE = 1000  # keys per ListObjectsV2 page: S3's own maximum
S3_READ_BUFFER = 1 << 16  # bytes asked of an object's body at a time


class _S3Body(io.RawIOBase):
    """An object's streaming body as a raw stream for io.BufferedReader; a failed read is one clear line."""

    def __init__(self, body: Any, fail: Callable[[BaseException], ReportError]) -> None:
        self.body, self.fail = body, fail

    def readable(self) -> bool:
        """Always: it is a body to read."""
        return True

    def readinto(self, buffer: Any) -> int:
        """Fill `buffer` from the body; 0 at its end."""
        from botocore.exceptions import BotoCoreError

        try:
            return int(self.body.readinto(buffer))
        except BotoCoreError as exc:
            raise self.fail(exc) from None

    def close(self) -> None:
        """Close the connection too: what is left of the body is never read."""
        if not self.closed:
            self.body.close()
        super().close()


class S3Input:
    """The objects under an input setting's s3://bucket/prefix, for S3Paths to read (client passed in).

    `page_size` bounds the keys of one ListObjectsV2 answer (tests make it small to
    cross pages; moto's server honours MaxKeys and continuation tokens as S3 does).
    """

    def __init__(self, client: Any, url: S3Url, setting: str, page_size: int = S3_LIST_PAGE_SIZE) -> None:
        self.client, self.url, self.setting, self.page_size = client, url, setting, page_size

    def root(self) -> S3Path:
        """The prefix the setting names, as an S3Path."""
        return S3Path(self, self.url.prefix)

    def fail(self, exc: BaseException, doing: str) -> ReportError:
        """One line for an S3 error, naming the setting and what to do."""
        return s3_failure(self.setting, str(self.url), exc, doing, "s3:GetObject and s3:ListBucket")

    def keys(self, prefix: str) -> Iterator[str]:
        """Every key that starts with `prefix`, page by page, in S3's order."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.url.bucket, Prefix=prefix, PaginationConfig={"PageSize": self.page_size}
            ):
                for entry in page.get("Contents", []):
                    yield entry["Key"]
        except (ClientError, BotoCoreError) as exc:
            raise self.fail(exc, f"listing s3://{self.url.bucket}/{prefix}") from None

    def open(self, key: str) -> io.BufferedReader:
        """An object's body as a binary stream, read as it is read; FileNotFoundError when there is no such key."""
        from botocore.exceptions import BotoCoreError, ClientError

        where = f"s3://{self.url.bucket}/{key}"
        try:
            answer = self.client.get_object(Bucket=self.url.bucket, Key=key)
        except ClientError as exc:
            if aws_error_code(exc) in ("NoSuchKey", "404"):
                raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), where) from None
            raise self.fail(exc, f"reading {where}") from None
        except BotoCoreError as exc:
            raise self.fail(exc, f"reading {where}") from None
        body = _S3Body(answer["Body"], lambda exc: self.fail(exc, f"reading {where}"))
        return io.BufferedReader(body, S3_READ_BUFFER)


@dataclass(frozen=True)
class S3Path:
    """A key (a file) or a prefix (a folder) under an S3Input, read like a pathlib.Path."""

    store: S3Input = field(compare=False, repr=False)
    key: str  # without a slash at either end; "" for the bucket's top

    def __str__(self) -> str:
        """How messages name it: s3://bucket/key."""
        return f"s3://{self.store.url.bucket}/{self.key}" if self.key else f"s3://{self.store.url.bucket}"

    def __truediv__(self, name: str) -> S3Path:
        """The key `name` under this prefix."""
        return S3Path(self.store, f"{self.key}/{name}" if self.key else name)

    def __lt__(self, other: S3Path) -> bool:
        """Ordered as pathlib orders paths: part by part."""
        return self.key.split("/") < other.key.split("/")

    def joinpath(self, *names: str) -> S3Path:
        """The key of these parts under this prefix."""
        return S3Path(self.store, "/".join([self.key, *names] if self.key else names))

    @property
    def name(self) -> str:
        """The last part of the key."""
        return self.key.rsplit("/", 1)[-1]

    @property
    def stem(self) -> str:
        """The name without its last suffix."""
        return PurePosixPath(self.name).stem

    @property
    def parent(self) -> S3Path:
        """The prefix this key is under."""
        return S3Path(self.store, self.key.rsplit("/", 1)[0] if "/" in self.key else "")

    def relative_to(self, other: S3Path) -> PurePosixPath:
        """This key's name under `other`'s prefix."""
        return PurePosixPath(self.key[len(other.key) + 1:] if other.key else self.key)

    def _under(self) -> str:
        """The prefix of the keys under this one."""
        return f"{self.key}/" if self.key else ""

    def files(self) -> Iterator[S3Path]:
        """Every key under this prefix, at any depth (a key ending in '/' is S3's folder marker: none)."""
        return (S3Path(self.store, key) for key in self.store.keys(self._under()) if not key.endswith("/"))

    def is_dir(self) -> bool:
        """Whether any key lies under this prefix (S3 has no folders: a prefix with keys is one)."""
        return next(self.files(), None) is not None

    def glob(self, pattern: str) -> list[S3Path]:
        """The keys under this prefix matching `pattern` part by part (`*` within a part, as pathlib's)."""
        import fnmatch

        parts = pattern.split("/")
        fixed = []
        for part in parts:
            if any(c in part for c in "*?["):
                break
            fixed.append(part)
        found = []
        for key in self.store.keys(self._under() + "".join(p + "/" for p in fixed)):
            names = key[len(self._under()):].split("/")
            if len(names) == len(parts) and all(
                n and fnmatch.fnmatchcase(n, p) for n, p in zip(names, parts, strict=True)
            ):
                found.append(S3Path(self.store, key))
        return found

    def open(self, mode: str = "rb") -> io.BufferedReader:
        """The object's body, streamed (binary only)."""
        if mode != "rb":
            raise ValueError(f"an S3 input is read only as bytes, not {mode!r}")
        return self.store.open(self.key)

    def read_text(self, encoding: str = "utf-8") -> str:
        """The whole object as text (for the small files: an export's manifests)."""
        with self.open() as fh:
            return fh.read().decode(encoding)


def read_front_matter(path: Path | S3Path) -> tuple[str, int] | None:
    """Read a handoff's front matter: (text, file line of its first line), None if it has none.

    Reads line by line and stops at the closing '---': the body is never read, so memory
    follows the front matter, not the file. A file without front matter that looks like a
    handoff (a required key near the top) is an error: a dropped project is a wrong report.
    """
    try:
        fh = path.open("rb")  # closed by the with below
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror}); check the file and its permissions") from None
    with fh:
        used = 0  # bytes read so far, all bounded by MAX_FRONT_MATTER
        number = 1
        line = fh.readline(MAX_FRONT_MATTER + 1)
        if line.startswith(_BOM):
            line, used = line[len(_BOM):], len(_BOM)
        while line and not line.strip() and used <= MAX_FRONT_MATTER:
            used += len(line)
            line = fh.readline(MAX_FRONT_MATTER + 1 - used)
            number += 1
        if not _OPEN_RE.fullmatch(line):
            _refuse_lookalike(path, fh, line, number)
            return None
        opened = number
        used += len(line)
        start = used
        chunks = []
        while True:
            line = fh.readline(MAX_FRONT_MATTER + 1 - (used - start))
            if not line:
                raise InputError(
                    f"{path}:{opened}: front matter opened on line {opened} never closes; add a line '---' after it"
                )
            if _CLOSE_RE.fullmatch(line):
                break
            used += len(line)
            if used - start > MAX_FRONT_MATTER:
                raise InputError(
                    f"{path}:{opened}: front matter over 1 MiB (no closing '---' in the first "
                    f"{MAX_FRONT_MATTER:,} bytes); a handoff's front matter is a few kilobytes: move the rest "
                    "to the notes below it, or add the closing '---'"
                )
            chunks.append(line)
    raw = b"".join(chunks)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_no = opened + 1 + raw.count(b"\n", 0, exc.start)
        raise InputError(
            f"{path}:{line_no}: not UTF-8 (byte 0x{raw[exc.start]:02x} at offset {start + exc.start}); "
            "save the file as UTF-8"
        ) from None
    if bad := _NOT_PRINTABLE_RE.search(text):
        line_no = opened + 1 + text.count("\n", 0, bad.start())
        char = ord(bad.group())
        raise InputError(
            f"{path}:{line_no}: holds the control character U+{char:04X}, which YAML does not allow; "
            "remove it (in quoted text, write it as an escape such as \\t)"
        )
    return text, opened + 1


def _refuse_lookalike(path: Path | S3Path, fh: Any, line: bytes, number: int) -> None:
    """Raise if a file without front matter looks like a handoff; return if it does not."""
    rule = 0  # the line of a '---' further down, front matter that does not open the file
    fenced = False
    at_start = True  # a line longer than a read is read in parts: only a line's start counts
    for _ in range(SNIFF_LINES):
        if not line:
            return
        if at_start:
            if _FENCE_RE.match(line):
                fenced = not fenced
            elif not fenced and _OPEN_RE.fullmatch(line):
                rule = number
            elif not fenced and (m := _HANDOFF_KEY_RE.match(line)):
                key = m.group(1).decode()
                if rule:
                    raise InputError(
                        f"{path}:{rule}: looks like a handoff ({key}: on line {number}) but its front matter "
                        f"does not open the file; move this '---' block to the top, before any other text"
                    )
                raise InputError(
                    f"{path}:{number}: looks like a handoff ({key}: on line {number}) but has no front matter; "
                    "add a line '---' as its first line and another after its keys"
                )
        at_start = line.endswith(b"\n")
        number += at_start
        line = fh.readline(1 << 16)


def _refuse_references(text: str, first_line: int) -> list[tuple[int, str]]:
    """Anchors, aliases and merge keys, and too many values, found in the parser's events
    before any node is built (events are dropped as they are read: memory stays flat).

    Anchors and aliases are how a few hundred bytes expand into gigabytes (each alias
    repeats all that its anchor holds, nested without limit); a handoff writes every value out.
    """
    found = []
    values = 0
    loader = YamlLoader(text)
    try:
        while loader.check_event():
            event = loader.get_event()
            line = event.start_mark.line + first_line
            if isinstance(event, (yaml.ScalarEvent, yaml.CollectionStartEvent, yaml.AliasEvent)):
                values += 1
                if values > MAX_VALUES:
                    return [(line, f"front matter holds over {MAX_VALUES:,} values; a handoff's front matter "
                             "holds a few hundred: move the rest to the notes below it")]
            if isinstance(event, yaml.AliasEvent):
                found.append((line, f"alias *{event.anchor} is not allowed: aliases let a file of a few "
                              "hundred bytes stand for gigabytes; write the value out in full"))
            elif getattr(event, "anchor", None):
                found.append((line, f"anchor &{event.anchor} is not allowed: anchors and aliases let a file of "
                              "a few hundred bytes stand for gigabytes; write each value out in full"))
            if isinstance(event, yaml.ScalarEvent) and event.value == "<<" and event.implicit[0]:
                found.append((line, "merge key '<<' is not allowed: it copies keys from an anchor, which may "
                              "expand without limit; write the keys out in full"))
    finally:
        loader.dispose()
    return found


def _yaml_error(path: Path | S3Path, exc: yaml.YAMLError, text: str, first_line: int) -> str:
    """One line for a YAML syntax error, naming the line (and tabs, when they are the cause)."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = (mark.line if mark else 0) + first_line
    tab = _TAB_INDENT_RE.search(text)
    if tab is not None:
        tab_line = text.count("\n", 0, tab.start()) + first_line
        if tab_line <= line:
            return f"{path}:{tab_line}: tabs are not allowed for indentation; use spaces"
    if not isinstance(exc, yaml.MarkedYAMLError):
        return f"{path}:{line}: front matter is not valid YAML ({exc}); fix the syntax"
    problem = (exc.problem or exc.context or "invalid YAML").strip()
    if exc.problem and exc.context and exc.context_mark and exc.context_mark is not mark:
        problem += f", {exc.context.strip()} started on line {exc.context_mark.line + first_line}"
    return f"{path}:{line}: front matter is not valid YAML ({problem}); fix the syntax"


ERRORS_SHOWN = 20  # errors shown a file: past them, one mistake repeats, or the file is no handoff at all


def file_errors(path: Path | S3Path, found: list[tuple[int, str]], unshown: int = 0) -> InputErrors:
    """A document's errors as lines naming it, first line first: at most ERRORS_SHOWN, then how many more.

    A file of 100,000 bad values would otherwise make a line for each: a screenful no
    one reads, and hundreds of MB held to print it.
    """
    found = sorted(found, key=lambda e: e[0])
    lines = [f"{path}:{line}: {message}" for line, message in found[:ERRORS_SHOWN]]
    more = unshown + len(found[ERRORS_SHOWN:])
    if more:
        lines.append(f"{path}: {more:,} more {'error' if more == 1 else 'errors'} in this file, not shown; "
                     "fix those above and run again")
    return InputErrors(lines, total=len(found) + unshown)


UPDATED_AHEAD_DAYS = 1  # how far `updated` may run ahead of the day (a handoff written in a later time zone)


def parse_handoff(path: Path | S3Path, rel: str, personas: dict[str, str] | None = None,
                  today: dt.date | None = None) -> Handoff | None:
    """Read one handoff document; None when it has no front matter (not a handoff).

    Raises InputErrors with every error found in the document. personas maps each valid
    persona, casefolded, to its spelling (None: persona is not checked). `updated` may be
    at most UPDATED_AHEAD_DAYS after `today` (None: not checked).
    """
    found = read_front_matter(path)
    if found is None:
        return None
    text, first_line = found
    if (len(text) > EVENT_CHECK_BYTES or "&" in text or "*" in text or "<<" in text) and (
        refused := _refuse_references_safely(path, text, first_line)
    ):
        raise file_errors(path, refused)
    loader = _HandoffLoader(text)
    validator = _Validator(loader, first_line, personas)
    try:
        node = loader.get_single_node()
        if node is None:
            raise InputError(f"{path}:{first_line}: front matter is empty; add at least entity, status and updated")
        try:
            data = validator.fields(node, "", SCHEMA)
        except DocError as exc:
            validator.record(exc)
        else:
            updated = data["updated"]
            if today is not None and isinstance(updated, dt.date) and (updated - today).days > UPDATED_AHEAD_DAYS:
                validator.errors.append((validator.lines["updated"], (
                    f"updated is {updated.isoformat()}, more than a day after {today.isoformat()} (the later of "
                    "today and the report date): a handoff dated in the future is never stale; fix the date")))
    except yaml.YAMLError as exc:
        raise InputError(_yaml_error(path, exc, text, first_line)) from None
    finally:
        loader.dispose()
    if validator.errors:
        raise file_errors(path, validator.errors, validator.unshown)
    if not data["project"]:
        data["project"] = path.stem
    return Handoff(file=rel, data=data, lines=validator.lines)


def _refuse_references_safely(path: Path | S3Path, text: str, first_line: int) -> list[tuple[int, str]]:
    """_refuse_references, with a syntax error reported as such."""
    try:
        return _refuse_references(text, first_line)
    except yaml.YAMLError as exc:
        raise InputError(_yaml_error(path, exc, text, first_line)) from None


HANDOFF_SUFFIXES = (".md", ".markdown")
LOOKALIKE_BYTES = 512  # what is read of a file not named as a handoff to see whether it is one
# A name that holds a handoff's suffix with more after it: ops.md.txt, ops.md~, ops.MD.bak.
_MISNAMED_RE = re.compile(r"\.(?:md|markdown)[^a-z0-9]", re.IGNORECASE)
_ENTITY_LINE_RE = re.compile(rb"^entity[ \t]*:", re.MULTILINE)


def looks_like_handoff_name(name: str) -> bool:
    """Whether a file name is a handoff's: *.md or *.markdown, in any case (ops.MD, Ops.Markdown)."""
    return name.lower().endswith(HANDOFF_SUFFIXES)


def _misnamed_handoff(path: Path) -> bool:
    """Whether a file not named as a handoff looks like one, so that it is named as skipped.

    Its name holds a handoff's suffix with more after it (ops.md.txt, ops.md~), or its
    first LOOKALIKE_BYTES open with front matter (a '---' line, after a byte order mark
    and blank lines) holding an `entity:` line (ops.txt, ops.yaml). Hidden files (an
    editor's .ops.md.swp) are left alone; only regular files are opened.
    """
    if _MISNAMED_RE.search(path.name):
        return True
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            return False
        with open(path, "rb") as fh:
            head = fh.read(LOOKALIKE_BYTES)
    except OSError:
        return False  # nothing says it is a handoff; a file that is one would be named *.md
    head = head.removeprefix(_BOM).lstrip(b" \t\r\n")
    first, _, rest = head.partition(b"\n")
    return bool(_OPEN_RE.fullmatch(first + b"\n") and _ENTITY_LINE_RE.search(rest))


def _markdown_files(root: Path | S3Path) -> tuple[list[Any], list[str], list[Path]]:
    """Every handoff-named file under root, each once however many links reach it, sorted; errors;
    and the files that look like handoffs but are not named so (see _misnamed_handoff).

    Symlinked folders are followed (once each); a link that leads nowhere, or to what is
    not a file, is an error naming it, never a silently missing project. Hidden folders
    (.git) are not searched for misnamed handoffs. Under an S3 prefix every key is a file,
    reached once.
    """
    if isinstance(root, S3Path):
        keys = list(root.files())  # a key's first bytes are not read for a lookalike: only its name tells
        return (sorted(p for p in keys if looks_like_handoff_name(p.name)), [],
                sorted(p for p in keys if not looks_like_handoff_name(p.name) and _MISNAMED_RE.search(p.name)))
    found: list[Path] = []
    misnamed: list[Path] = []
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
        found += [Path(folder) / f for f in files if looks_like_handoff_name(f)]
        hidden = any(part.startswith(".") for part in Path(folder).relative_to(root).parts)
        misnamed += [Path(folder) / f for f in files if not (hidden or f.startswith(".") or looks_like_handoff_name(f))
                     and _misnamed_handoff(Path(folder) / f)]
    files_read: list[Path] = []
    errors: list[str] = []
    seen.clear()
    for path in sorted(found):
        try:
            st = path.stat()
        except OSError as exc:
            if path.is_symlink() and isinstance(exc, FileNotFoundError):
                errors.append(f"{path}: a symbolic link to {os.readlink(path)}, which does not exist; "
                              "fix the link or remove it")
            else:
                errors.append(f"{path}: cannot read ({exc.strerror}); check the file and its permissions")
            continue
        if not stat.S_ISREG(st.st_mode):
            errors.append(f"{path}: not a regular file; a handoff is a Markdown file: remove it or rename it")
            continue
        if (st.st_dev, st.st_ino) in seen:  # the same file by another path (a link): read once
            continue
        seen.add((st.st_dev, st.st_ino))
        files_read.append(path)
    return files_read, errors, sorted(misnamed)


def name_key(name: str) -> str:
    """A name as compared: case, width, accent forms and invisible characters do not make another name."""
    # a zero-width space, a soft hyphen or a direction mark (format characters) is not seen on the
    # page: "Portfolio\u200b" would be a second row that reads "Portfolio"
    if name.isascii():  # NFKC leaves ASCII as it is, and no ASCII character is a format character
        return " ".join(name.split()).casefold()
    shown = "".join(ch for ch in unicodedata.normalize("NFKC", name) if unicodedata.category(ch) != "Cf")
    return " ".join(shown.split()).casefold()


# The name the reports, the history and CloudWatch give the whole portfolio's figures, beside
# each entity's, and the entity of an AWS resource no handoff names: a business of either
# name (in any case, width or accent form) would be given figures or findings not its own,
# so no handoff may name its entity so.
PORTFOLIO_SCOPE = "Portfolio"
ESTATE_ENTITY = "AWS estate"
RESERVED_ENTITIES = {
    PORTFOLIO_SCOPE: "the name the reports give the whole portfolio",
    ESTATE_ENTITY: "the name the CTO report gives AWS resources no handoff names",
}


SKIPPED_NAMED = 5  # files named in the skipped line (and the data-sources line); the rest are counted


MISNAMED_WHY = "they look like handoffs but are not named *.md or *.markdown; rename them to read them"


def skipped_line(skipped: list[str], why: str = "no front matter, so not handoffs") -> str | None:
    """The one stderr line naming the files skipped (for having no front matter, or `why`), or None."""
    if not skipped:
        return None
    names = ", ".join(clean_text(name) for name in skipped[:SKIPPED_NAMED])  # a name must not act on a terminal
    rest = len(skipped) - SKIPPED_NAMED
    more = f" and {rest:,} more" if rest > 0 else ""
    return f"skipped ({why}): {names}{more}"


TITLES_SHOWN = 5  # titles a `fixes:` that names nothing is told it could mean, nearest first


def link_fixes(handoffs: list[Handoff], handoff_dir: Path) -> list[str]:
    """Match each action's `fixes:` to a shortfall or security finding of its entity; the errors.

    Matched without regard to case or spacing, in any handoff of the entity; the action
    then holds the title as the shortfall or finding writes it.
    """
    titles: dict[str, dict[str, str]] = {}  # folded entity -> folded title -> the title as written
    for h in handoffs:
        mine = titles.setdefault(name_key(h.entity), {})
        for item in h.data.get("shortfalls") or []:
            mine.setdefault(name_key(item["title"]), item["title"])
        for item in h.data.get("security") or []:
            mine.setdefault(name_key(item["finding"]), item["finding"])
    errors = []
    for h in handoffs:
        mine = titles[name_key(h.entity)]
        for i, action in enumerate(h.data.get("actions") or []):
            named = action.get("fixes")
            if named is None:
                continue
            if (title := mine.get(name_key(named))) is not None:
                action["fixes"] = title
                continue
            where = f"{handoff_dir / h.file}:{h.lines.get(f'actions[{i}].fixes', h.lines.get('actions'))}"
            if mine:
                could = ", ".join(repr(t) for t in closest_names(named, mine.values())[:TITLES_SHOWN])
                hint = f"name one of its titles (nearest first): {could}"
            else:
                hint = "it has none in any handoff: add the shortfall, or remove fixes:"
            errors.append(f"{where}: actions[{i}].fixes is {named!r}, which names no shortfall or security "
                          f"finding of {h.entity}; {hint}")
    return errors


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Hold Python's cycle collector while handoffs are read.

    Reading builds a few hundred thousand small objects that all live on, and the
    collector would walk them again and again: a third of the reading time of 2,000
    handoffs. Reading a handoff makes no reference cycles (only an error makes a few
    small ones), so nothing waits long to be freed: the collector resumes after.
    """
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


@_gc_paused()
def read_handoffs(handoff_dir: Path | S3Path, personas: Iterable[str] | None = None,
                  today: dt.date | None = None) -> Portfolio:
    """Read every handoff under handoff_dir; report every error of every document at once.

    personas: those of the reports found; a shortfall's, action's or KPI's persona must be
    one of them (matched without regard to case). None leaves personas unchecked. today:
    the day no handoff may be dated more than UPDATED_AHEAD_DAYS after (None: not checked).
    """
    valid = None
    if personas is not None:
        valid = {}
        for persona in personas:
            valid.setdefault(persona.casefold(), persona)
    portfolio = Portfolio(handoffs=[])
    paths, errors, misnamed = _markdown_files(handoff_dir)
    portfolio.misnamed = [path.relative_to(handoff_dir).as_posix() for path in misnamed]
    unshown = 0  # errors counted but not shown (a file's past ERRORS_SHOWN)
    projects: dict[tuple[str, str], Path | S3Path] = {}
    spellings: dict[str, tuple[str, Path | S3Path]] = {}  # folded entity -> its first spelling and file
    for path in paths:
        rel = path.relative_to(handoff_dir).as_posix()
        try:
            handoff = parse_handoff(path, rel, valid, today)
        except InputErrors as exc:
            errors += exc.errors
            unshown += exc.total - len(exc.errors)
            continue
        except InputError as exc:
            errors.append(str(exc))
            continue
        if handoff is None:
            portfolio.skipped.append(rel)
            continue
        folded = name_key(handoff.entity)
        reserved = [why for name, why in RESERVED_ENTITIES.items() if name_key(name) == folded]
        if reserved:
            errors.append(
                f"{path}:{handoff.lines['entity']}: entity {handoff.entity!r} is {reserved[0]}; "
                "name the business differently in every handoff of it"
            )
            continue
        key = (folded, name_key(handoff.project))
        if key in projects:  # a copied handoff would count the project's cash twice
            line = handoff.lines.get("project", handoff.lines["entity"])
            errors.append(
                f"{path}:{line}: entity {handoff.entity!r}, project {handoff.project!r} is also in "
                f"{projects[key]}; keep one of the two files, or give each its own project"
            )
            continue
        spelt, where = spellings.setdefault(folded, (handoff.entity, path))
        if spelt != handoff.entity:  # one business as two rows, and a unit report missing half of it
            errors.append(
                f"{path}:{handoff.lines['entity']}: entity {handoff.entity!r} is the business {where} spells "
                f"{spelt!r}; spell it the same way in every handoff"
            )
            continue
        projects[key] = path
        portfolio.handoffs.append(handoff)
    errors += link_fixes(portfolio.handoffs, handoff_dir)
    if errors:
        raise InputErrors(errors, total=len(errors) + unshown)
    if not portfolio.handoffs:
        raise InputError(
            f"HANDOFF_DIR {handoff_dir}: no handoff documents (*.md with front matter) found; "
            + (f"{skipped_line(portfolio.misnamed, MISNAMED_WHY)}" if portfolio.misnamed else "check the setting")
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
    exported: dt.datetime | None = None  # the export's exportTime; None when read live
    # No item holds the checklist's done attribute (none is done): the attribute names its items
    # do hold, for the error that the attribute is misspelt. None: some item holds it, or no done.
    done_absent: list[str] | None = None
    read: dt.datetime | None = None  # when a live Scan counted it (UTC); None for an export


@dataclass
class TableNeed:
    """A table named by handoffs, which entities name it, the checklist attribute, and where it is first named."""

    table: str
    entities: set[str] = field(default_factory=set)
    done_attr: str | None = None
    file: str = ""  # the handoff that names it first, relative to HANDOFF_DIR
    key: str = ""  # and the key there, e.g. dynamodb.events
    line: int | None = None

    @property
    def origin(self) -> str:
        """Where the table is named, as `file:line: key` (the line when it is known)."""
        at = f"{self.file}:{self.line}" if self.line else self.file
        return f"{at}: {self.key}" if at else self.key


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


def find_export(table_dir: Path | S3Path) -> tuple[Any, dict[str, Any], dt.datetime]:
    """Return the newest complete full export of a table folder, its summary and its exportTime."""
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
    when, folder, summary = max(exports, key=lambda e: e[0])
    fmt = summary.get("outputFormat", "DYNAMODB_JSON")
    if fmt != "DYNAMODB_JSON":
        raise InputError(f"{folder / 'manifest-summary.json'}: outputFormat {fmt}; export as DYNAMODB_JSON")
    return folder, summary, when


def read_export(table_dir: Path | S3Path, done_attr: str | None = None) -> TableCount:
    """Count a table's items in its newest export, streaming every data file (a folder, or keys in S3)."""
    folder, summary, exported = find_export(table_dir)
    files_path = folder / "manifest-files.json"
    try:
        manifest_lines = files_path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"{files_path}: cannot read ({exc.strerror}); re-sync the export") from None
    except ValueError as exc:
        raise InputError(f"{files_path}: not UTF-8 text ({exc}); re-sync the export") from None
    total = done = 0
    listed: dict[Any, int] = {}  # each data file (by device and inode, or its S3 key) -> its manifest line
    data_paths = []
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
        try:
            st = None if isinstance(data_path, S3Path) else data_path.stat()
        except OSError:
            pass  # a missing or unreadable file is named by the read below
        else:
            same = data_path.key if st is None else (st.st_dev, st.st_ino)
            if (first := listed.setdefault(same, lineno)) != lineno:  # its items twice
                raise InputError(
                    f"{files_path}:{lineno}: lists {data_path.name} again (first on line {first}); "
                    "the manifest is damaged: sync the export again"
                )
        count, count_done = _read_data_file(data_path, done_attr, max_items=expected)
        data_paths.append(data_path)
        if count != expected:
            holds = f"more than {expected}" if count > expected else str(count)
            raise InputError(
                f"{files_path}:{lineno}: itemCount {expected} but {data_path.name} holds {holds} items; "
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
    absent = _export_attribute_names(data_paths, done_attr) if done_attr and total and not done else None
    return TableCount(table=table_dir.name, items=total, done=done if done_attr else None,
                      exported=exported, done_absent=absent)


def _local_data_path(folder: Any, key: str) -> Any:
    """Map a manifest's S3 key to the synced file under the export folder."""
    marker = f"{folder.name}/"
    rel = key.split(marker, 1)[1] if marker in key else f"data/{key.rsplit('/', 1)[-1]}"
    parts = Path(rel).parts
    if not parts or Path(rel).is_absolute() or ".." in parts:
        raise InputError(f"{folder / 'manifest-files.json'}: data file key {key!r} points outside the export")
    return folder.joinpath(*parts)


# Data files are read in blocks of whole lines. A DynamoDB item is at most 400 KB, so a
# line over 1 MiB is damage, not data; AWS writes no blank lines, so a few are tolerated
# and more than 1 MiB of them is damage too. Together with stopping as soon as a file
# holds more items than its manifest entry lists, these bound what a hostile (or
# gzip-bomb) data file can make the reader decompress, hold or loop over.
EXPORT_BLOCK_BYTES = 1 << 20
MAX_EXPORT_LINE_BYTES = 1 << 20
MAX_BLANK_BYTES = 1 << 20
_JSON_SPACE = b" \t\r\n"
_ITEM_START = b'{"Item":{'
_ITEM_BETWEEN = b"}}\n" + _ITEM_START  # one line's end, its line break, the next line's start


def _blocks(fh: Any, size: int = EXPORT_BLOCK_BYTES, limit: int = MAX_EXPORT_LINE_BYTES) -> Iterator[bytes]:
    """Whole lines of a binary stream, in blocks of about `size` bytes (size <= limit).

    Every block but the last ends with a newline. The start of a line that spans reads
    is kept as a list of pieces, joined once, so time stays linear in the bytes read;
    a line longer than `limit` raises _LineTooLong as soon as that many bytes of it
    are held.
    """
    head: list[bytes] = []  # the start of a line begun in an earlier read
    held = 0
    while chunk := fh.read(size):
        cut = chunk.rfind(b"\n")
        if cut < 0:
            head.append(chunk)
            held += len(chunk)
            if held > limit:
                raise _LineTooLong
            continue
        if head:
            if held + chunk.find(b"\n") > limit:
                raise _LineTooLong
            head.append(chunk[: cut + 1])
            block = b"".join(head)
        else:
            block = chunk if cut == len(chunk) - 1 else chunk[: cut + 1]
        rest = chunk[cut + 1:]
        head, held = ([rest], len(rest)) if rest else ([], 0)
        yield block
    if head:
        yield b"".join(head)


def _done_patterns(done_attr: str) -> tuple[bytes, bytes, bytes] | None:
    """The bytes `"name"`, `"name":{"BOOL":true}` and `..false}` as a line without escapes holds them.

    None when the name cannot be written without an escape (a quote, a backslash, a
    control character, a lone surrogate): then no line without a backslash holds it.
    """
    if any(c in '"\\' or c < " " for c in done_attr):
        return None
    try:
        key = b'"' + done_attr.encode("utf-8") + b'"'
    except UnicodeEncodeError:
        return None
    return key, key + b':{"BOOL":true}', key + b':{"BOOL":false}'


def _done_without_parsing(text: bytes, patterns: tuple[bytes, bytes, bytes] | None, direct: bool) -> int | None:
    """How many of these whole `{"Item":{...}}` lines have the done attribute true, or None if unsure.

    Exact for valid JSON, which is all AWS writes. Without a backslash every string is
    written as is, so a key equal to the name is the bytes `"name"`: none found, none
    done. `"name":{"BOOL":true}` can only start at an opening quote (from a closing one,
    `BOOL` would stand outside a string), so each one found is the attribute, true, and
    top-level when no `"M"` string shows a nested map (`direct`: the name is not the
    line's own "Item" key). If the `"name"` found are as many as those followed by
    exactly `:{"BOOL":true}` or `:{"BOOL":false}`, no other spelling of the attribute
    (`"name" :`, `{ "BOOL": true}`) is left, and as an item holds an attribute once,
    the `true` ones are the done items. Anything else is for json.loads to decide.
    """
    if b"\\" in text:
        return None
    if patterns is None:
        return 0
    key, true, false = patterns
    found = text.count(key)
    if not found:
        return 0
    if not direct or b'"M"' in text:
        return None
    if found > 1 and _twice_on_a_line(key).search(text):  # json.loads keeps the last of a repeated key
        return None
    hits = text.count(true)
    return hits if hits + text.count(false) == found else None


@functools.lru_cache(maxsize=64)
def _twice_on_a_line(key: bytes) -> re.Pattern[bytes]:
    """A line that names the same key twice (AWS never writes one; json.loads would keep the last)."""
    return re.compile(re.escape(key) + rb"[^\n]*" + re.escape(key))


def _read_data_file(
    path: Path | S3Path, done_attr: str | None, max_items: int | None = None, block_size: int = EXPORT_BLOCK_BYTES
) -> tuple[int, int]:
    """Stream one gzip data file: (items, items whose done_attr is true).

    AWS writes one compact `{"Item":{...}}` per line. A block of such lines is counted
    with `bytes.count`, and so is its done attribute where _done_without_parsing can
    tell; any other line is parsed in full, so the counts always equal those of
    json.loads on every line, and a damaged line is reported with its number. Reading
    stops once the file holds more than `max_items` items (its manifest's itemCount).
    """
    patterns = _done_patterns(done_attr) if done_attr is not None else None
    direct = done_attr != "Item"
    count = done = blank = 0
    lineno = 0  # lines read before the current block
    try:
        with path.open("rb") as raw, gzip.open(raw, "rb") as fh:
            for block in _blocks(fh, block_size):
                ends = block.count(b"\n")
                # Every line a whole {"Item":{...}}: it starts and ends the block, and every
                # line break but the last stands between a line's end and the next one's start
                # (the pattern holds one line break and cannot overlap itself).
                if (block.endswith(b"}}\n") and block.startswith(_ITEM_START)
                        and block.count(_ITEM_BETWEEN) == ends - 1):
                    found = 0 if done_attr is None else _done_without_parsing(block, patterns, direct)
                    if found is not None:
                        count += ends
                        done += found
                        lineno += ends
                        if max_items is not None and count > max_items:
                            break
                        continue
                if not block.strip(_JSON_SPACE):  # nothing but blank lines
                    if blank + len(block) > MAX_BLANK_BYTES:
                        lineno += block.count(b"\n", 0, MAX_BLANK_BYTES - blank) + 1
                        raise _TooManyBlanks
                    blank += len(block)
                    lineno += ends
                    continue
                lines = block.split(b"\n")
                if not lines[-1]:
                    lines.pop()
                for line in lines:
                    lineno += 1
                    if line.startswith(_ITEM_START) and line.endswith(b"}}"):
                        found = 0 if done_attr is None else _done_without_parsing(line, patterns, direct)
                        if found is not None and found <= 1:
                            count += 1
                            done += found
                            continue
                    elif not line.strip(_JSON_SPACE):
                        blank += len(line) + 1
                        if blank > MAX_BLANK_BYTES:
                            raise _TooManyBlanks
                        continue
                    count += 1
                    done += _parse_item_line(line, done_attr)
                if max_items is not None and count > max_items:
                    break
    except FileNotFoundError:
        raise InputError(f"{path}: listed in manifest-files.json but missing; sync the export again") from None
    except _LineTooLong:
        raise InputError(
            f"{path}:{lineno + 1}: a line longer than 1 MiB (an item is at most 400 KB); "
            "the file is damaged: sync the export again"
        ) from None
    except _TooManyBlanks:
        raise InputError(
            f"{path}:{lineno}: more than 1 MiB of blank lines (AWS writes none); "
            "the file is damaged: sync the export again"
        ) from None
    except _NotBoolean as exc:
        raise InputError(f"{path}:{lineno}: {not_boolean(done_attr or '', str(exc))}, so the checklist would "
                         f"count the item as not done; {STORE_BOOLEAN}") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(f"{path}: not a readable gzip file ({exc}); sync the export again") from None
    except (ValueError, TypeError, RecursionError) as exc:
        raise InputError(f"{path}:{lineno}: not a DynamoDB JSON item ({exc}); sync the export again") from None
    return count, done


def _parse_item_line(line: bytes, done_attr: str | None) -> int:
    """Parse one data file line in full: 1 if its item's done_attr is true, else 0 (_NotBoolean: neither)."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{exc.msg} at column {exc.colno}") from None
    item = record.get("Item") if isinstance(record, dict) else None
    if not isinstance(item, dict):
        raise ValueError('no "Item" map')
    if done_attr is None or done_attr not in item:
        return 0
    value = decode_attribute(item[done_attr])
    if value is not None and not isinstance(value, bool):
        raise _NotBoolean(next(iter(item[done_attr])))
    return 1 if value is True else 0


# A done attribute of another type would read as "not done" and the checklist as less done than it
# is, without a word: 1 or "true" is refused, naming its type. NULL stands for no value: not done.
DYNAMODB_TYPES = {"S": "text (S)", "N": "a number (N)", "B": "binary (B)", "SS": "a set of text (SS)",
                  "NS": "a set of numbers (NS)", "BS": "a set of binary (BS)", "L": "a list (L)", "M": "a map (M)"}
STORE_BOOLEAN = "store it as a DynamoDB boolean (BOOL, true or false)"


def not_boolean(done_attr: str, kinds: dict[str, int] | str) -> str:
    """The done attribute holds another type: on one item (its type tag), or on some (tag -> items)."""
    if isinstance(kinds, str):
        return f"done attribute {done_attr!r} is {DYNAMODB_TYPES.get(kinds, kinds)}, not a boolean"
    found = " and ".join(f"{DYNAMODB_TYPES.get(k, k)} on {_plural(n, 'item')}" for k, n in sorted(kinds.items()))
    return f"done attribute {done_attr!r} is {found}, not a boolean"


ATTRIBUTE_SAMPLE = 100  # items whose attribute names are gathered when none holds the done attribute


def _export_attribute_names(paths: list[Path], done_attr: str) -> list[str] | None:
    """The attribute names of an export's items when no item holds done_attr at its top level; None when one does.

    Read only when no item was counted done, so the export was read once already. A
    block of lines that holds neither the bytes `"name"` nor an escape cannot hold the
    attribute (see _done_without_parsing) and is passed over, once the first
    ATTRIBUTE_SAMPLE items have given their names; every other line is parsed.
    """
    patterns = _done_patterns(done_attr)
    names: dict[str, None] = {}
    sampled = 0
    for path in paths:
        before = at = 0  # lines before the block; the line being read
        try:
            with path.open("rb") as raw, gzip.open(raw, "rb") as fh:  # a file, or an S3 key's stream
                for block in _blocks(fh):
                    maybe = b"\\" in block or (patterns is not None and patterns[0] in block)
                    first, before = before, before + block.count(b"\n")
                    if not maybe and sampled >= ATTRIBUTE_SAMPLE:
                        continue
                    for at, line in enumerate(block.split(b"\n"), first + 1):  # noqa: B007 (named in the error)
                        if not line.strip(_JSON_SPACE):
                            continue  # a blank line, or the empty text after the block's last line break
                        record = json.loads(line)
                        item = record.get("Item") if isinstance(record, dict) else None
                        if not isinstance(item, dict):
                            raise ValueError('no "Item" map')
                        if done_attr in item:
                            return None
                        if sampled < ATTRIBUTE_SAMPLE:
                            names.update(dict.fromkeys(item))
                            sampled += 1
        except (OSError, EOFError, zlib.error, _LineTooLong) as exc:
            raise InputError(f"{path}: not readable a second time ({exc}); sync the export again") from None
        except (ValueError, TypeError, RecursionError) as exc:
            raise InputError(f"{path}:{at}: not a DynamoDB JSON item ({exc}); sync the export again") from None
    return sorted(names)


ATTRIBUTES_SHOWN = 10  # attribute names a misspelt checklist attribute's error lists, nearest first


def done_attribute_error(need: TableNeed, count: TableCount) -> str:
    """The error for a checklist whose done attribute no item of the table holds (a misspelt `done:`)."""
    assert count.done_absent is not None
    names = closest_names(need.done_attr or "", count.done_absent)
    meant = near_miss(need.done_attr or "", count.done_absent)
    guess = f"did you mean {meant!r}? " if meant else ""
    have = ", ".join(repr(n) for n in names[:ATTRIBUTES_SHOWN]) or "none"
    more = f" and {len(names) - ATTRIBUTES_SHOWN} more" if len(names) > ATTRIBUTES_SHOWN else ""
    seen = "its items" if count.source == "live" else "the export's items"
    return (f"{need.origin}: done attribute {need.done_attr!r} is on no item of table {need.table} "
            f"({', '.join(sorted(need.entities))}; {count.items:,} items, {count.source}), so the checklist "
            f"would read 0% done; {guess}{seen} have: {have}{more}; fix done: in the handoff")


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
            if name not in needs:
                key = f"dynamodb.{role}"
                lines = getattr(h, "lines", None) or {}  # dotted key -> line, where the handoff reader gives it
                line = lines.get(f"{key}.table") if role == "checklist" else None
                needs[name] = TableNeed(table=name, file=h.file, key=key, line=line or lines.get(key))
            need = needs[name]
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
    export_dir: Path | S3Path | None,
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
                if counts[need.table].done_absent is not None:
                    errors.append(done_attribute_error(need, counts[need.table]))
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
        errors = [done_attribute_error(need, counts[need.table]) for need in missing
                  if need.table in counts and counts[need.table].done_absent is not None]
        if errors:
            raise InputErrors(errors)
    return counts


@dataclass
class _Segment:
    """What one parallel segment of a live Scan counted."""

    items: int = 0
    held: int = 0  # items holding the checklist's done attribute
    done: int = 0  # of those, the ones whose attribute is true
    other: dict[str, int] = field(default_factory=dict)  # a type other than BOOL or NULL -> its items


def _scan_segment(client: Any, need: TableNeed, seg: int, segments: int, page_size: int | None) -> _Segment:
    """One parallel segment of a table's live count; for a checklist, the done attribute of each item holding it.

    Counting only (Select=COUNT) for events and users. A checklist's Scan returns, of the items
    holding the attribute, that attribute alone: its type is checked here, as an export's is.
    """
    kwargs: dict[str, Any] = {"TableName": need.table, "Segment": seg, "TotalSegments": segments}
    if page_size:
        kwargs["Limit"] = page_size
    if need.done_attr:
        kwargs.update(FilterExpression="attribute_exists(#d)", ProjectionExpression="#d",
                      ExpressionAttributeNames={"#d": need.done_attr})
    else:
        kwargs["Select"] = "COUNT"
    seen = _Segment()
    while True:
        page = client.scan(**kwargs)
        seen.items += page["ScannedCount"]
        seen.held += page["Count"]
        for item in page.get("Items", []):
            ((kind, value),) = item[need.done_attr].items()
            if kind == "BOOL":
                seen.done += value is True
            elif kind != "NULL":
                seen.other[kind] = seen.other.get(kind, 0) + 1
        if "LastEvaluatedKey" not in page:
            return seen
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _live_attribute_names(client: Any, need: TableNeed) -> list[str]:
    """_export_attribute_names, live, once the count found no item holding the attribute: names of a few items."""
    # only the names of the items read are kept, never their values
    items = client.scan(TableName=need.table, Limit=ATTRIBUTE_SAMPLE).get("Items", [])
    return sorted({name for item in items for name in item})


def scan_counts(
    client: Any, needs: list[TableNeed], segments: int = LIVE_SCAN_SEGMENTS, where: str = "",
    page_size: int | None = None, place: str = "", clock: Callable[[], dt.datetime] | None = None,
) -> dict[str, TableCount]:
    """Count tables live: Scan (a checklist's returns its done attribute), paginated, in parallel segments.

    `where` says where the exports were looked for, `place` where the tables were looked
    for live (the region, and the endpoint when one is set), for the error messages;
    `clock` gives the time each count is read at (UTC; tests pass a fixed one).
    """
    from concurrent.futures import ThreadPoolExecutor

    from botocore.exceptions import BotoCoreError, ClientError

    clock = clock or utc_now
    place = place or f"region {client.meta.region_name}"
    counts: dict[str, TableCount] = {}
    missing: list[str] = []  # every table found nowhere, named in one run
    refused: list[str] = []  # every checklist whose done attribute is not a boolean, named in one run
    with ThreadPoolExecutor(max_workers=segments) as pool:
        for need in needs:
            futures = [pool.submit(_scan_segment, client, need, s, segments, page_size) for s in range(segments)]
            try:
                parts = [f.result() for f in futures]
                items = sum(p.items for p in parts)
                done = sum(p.done for p in parts) if need.done_attr else None
                other: dict[str, int] = defaultdict(int)  # a type other than BOOL or NULL -> its items
                for p in parts:
                    for kind, n in p.other.items():
                        other[kind] += n
                # the Scan returns no names: only a checklist none of whose items holds the attribute is asked more
                held = sum(p.held for p in parts)
                absent = _live_attribute_names(client, need) if need.done_attr and items and not held else None
            except ClientError as exc:
                code = aws_error_code(exc)
                if code == "ResourceNotFoundException":
                    missing.append(
                        f"{need.origin}: DynamoDB table {need.table} ({', '.join(sorted(need.entities))}) not found: "
                        f"not in the exports{' ' + where if where else ''} nor live in {place}; fix the table name "
                        f"in the handoff, put its export in DYNAMODB_EXPORT_DIR/{need.table}/, or set AWS_REGION "
                        "to the region the table is in"
                    )
                    continue
                if code in CREDENTIAL_CODES:
                    raise _live_errors(needs[needs.index(need):], where, f"AWS refused the credentials ({code})",
                                       "or fix the AWS credentials") from None
                if code in ACCESS_DENIED_CODES:
                    raise _live_errors([need], where, "the AWS credentials may not call dynamodb:Scan on it",
                                       "or grant dynamodb:Scan on the table in IAM") from None
                raise _live_errors([need], where, f"Scan failed ({code or 'no error code'})",
                                   "or check the table in the AWS console") from None
            except _credential_errors() as exc:
                # None of the tables left can be read: say so for each, where it is named.
                raise _live_errors(needs[needs.index(need):], where, credentials_problem(exc),
                                   f"or {GIVE_CREDENTIALS}") from None
            except BotoCoreError as exc:
                raise _live_errors([need], where, _boto_reason(exc),
                                   "or check AWS_ENDPOINT_URL, AWS_REGION and the network") from None
            if other:
                refused.append(f"{need.origin}: table {need.table} ({', '.join(sorted(need.entities))}; live): "
                               f"{not_boolean(need.done_attr or '', other)}, so the checklist would count them as "
                               f"not done; {STORE_BOOLEAN}")
            counts[need.table] = TableCount(table=need.table, items=items, done=done, source="live",
                                            done_absent=absent, read=clock())
    if missing or refused:
        problems = missing + refused
        raise InputErrors(problems) if len(problems) > 1 else InputError(problems[0])
    return counts


def _live_errors(needs: list[TableNeed], where: str, problem: str, remedy: str) -> InputError:
    """One line per table that cannot be read live: where it is named, why, and what to do."""
    lines = [
        f"{need.origin}: DynamoDB table {need.table} ({', '.join(sorted(need.entities))}) is not in the exports"
        f"{' ' + where if where else ''} and cannot be read live: {problem}; "
        f"put its export in DYNAMODB_EXPORT_DIR/{need.table}/ (an Export to S3, synced) {remedy}"
        for need in needs
    ]
    return InputErrors(lines) if len(lines) > 1 else InputError(lines[0])


def input_location(settings: Settings, setting: str, where: Path | S3Url | None) -> Path | S3Path | None:
    """An input setting's folder as it is, or its s3://bucket/prefix as an S3Path read with the settings' client."""
    if isinstance(where, S3Url):
        return S3Input(aws_client(settings, "s3"), where, setting).root()
    return where


# ---------------------------------------------------------------------------
# Reading the AWS estate (AWS_INVENTORY=1): Lambda functions, S3 buckets and CloudFront
# distributions, with read-only calls, for the CTO report. Each reader takes its boto3
# client; what comes back is plain data. A Lambda function's environment variable
# values are dropped the moment its answer is read: only their names go further.


ESTATE_ROWS = 25  # rows of each estate table in the CTO report; the rest are counted
S3_LIST_CAP = 10_000  # keys counted by listing a bucket that has no daily storage metrics
S3_METRIC_DAYS = 3  # how far before the as-of date the daily storage metrics are looked for
IAM_ACTIONS = {  # the API call -> the IAM action that allows it (what the error asks to grant)
    "ListFunctions": "lambda:ListFunctions",
    "ListBuckets": "s3:ListAllMyBuckets",
    "ListObjectsV2": "s3:ListBucket",
    "ListMetrics": "cloudwatch:ListMetrics",
    "GetMetricStatistics": "cloudwatch:GetMetricStatistics",
    "ListDistributions": "cloudfront:ListDistributions",
    "ListInvalidations": "cloudfront:ListInvalidations",
}
# Name parts that mark an environment variable as holding a secret (plurals too).
SECRET_WORDS = frozenset({"KEY", "SECRET", "TOKEN", "PASSWORD", "CREDENTIAL", "PRIVATE", "APIKEY", "PASSWD"})
_NAME_PART_RE = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")  # DB_PASSWORD, apiKey, DBPassword
# The day AWS deprecates each Lambda runtime (the "Lambda runtimes" page of AWS's
# documentation, November 2026). A runtime is flagged from its date on, so a date still
# to come is listed here too; a runtime not listed is not flagged.
DEPRECATED_RUNTIMES = {
    "nodejs": dt.date(2016, 10, 31),
    "nodejs4.3": dt.date(2020, 3, 5),
    "nodejs4.3-edge": dt.date(2020, 3, 5),
    "nodejs6.10": dt.date(2019, 8, 12),
    "nodejs8.10": dt.date(2020, 3, 6),
    "nodejs10.x": dt.date(2021, 7, 30),
    "nodejs12.x": dt.date(2023, 3, 31),
    "nodejs14.x": dt.date(2023, 12, 4),
    "nodejs16.x": dt.date(2024, 6, 12),
    "nodejs18.x": dt.date(2025, 9, 1),
    "nodejs20.x": dt.date(2026, 4, 30),
    "nodejs22.x": dt.date(2027, 4, 30),
    "python2.7": dt.date(2021, 7, 15),
    "python3.6": dt.date(2022, 7, 18),
    "python3.7": dt.date(2023, 12, 4),
    "python3.8": dt.date(2024, 10, 14),
    "python3.9": dt.date(2025, 12, 15),
    "python3.10": dt.date(2026, 6, 30),
    "python3.11": dt.date(2026, 6, 30),
    "python3.12": dt.date(2028, 10, 31),
    "java8": dt.date(2024, 1, 8),
    "java8.al2": dt.date(2026, 6, 30),
    "java11": dt.date(2026, 6, 30),
    "java17": dt.date(2026, 6, 30),
    "dotnetcore1.0": dt.date(2019, 7, 27),
    "dotnetcore2.0": dt.date(2019, 5, 30),
    "dotnetcore2.1": dt.date(2022, 1, 5),
    "dotnetcore3.1": dt.date(2023, 4, 3),
    "dotnet5.0": dt.date(2022, 5, 10),
    "dotnet6": dt.date(2024, 11, 12),
    "dotnet7": dt.date(2024, 5, 14),
    "dotnet8": dt.date(2026, 11, 10),
    "ruby2.5": dt.date(2021, 7, 30),
    "ruby2.7": dt.date(2023, 11, 27),
    "ruby3.2": dt.date(2026, 3, 31),
    "ruby3.3": dt.date(2027, 3, 31),
    "go1.x": dt.date(2024, 1, 8),
    "provided": dt.date(2024, 1, 8),
    "provided.al2": dt.date(2026, 6, 30),
}
_AWS_TIME_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})?$")


def inventory_enabled(settings: Settings) -> bool:
    """Whether AWS_INVENTORY asks for the estate (1/0, also true/false, yes/no, on/off)."""
    raw = settings.get("AWS_INVENTORY").lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError("AWS_INVENTORY is none of 1, true, yes, on, 0, false, no, off: set 1 to read the AWS estate "
                      "into the CTO report, 0 (or leave it unset) to skip it")


def secret_looking(name: str) -> bool:
    """Whether an environment variable's name looks like it holds a secret (a word part, any case)."""
    return any(part.upper().removesuffix("S") in SECRET_WORDS or part.upper() in SECRET_WORDS
               for part in _NAME_PART_RE.findall(name))


def runtime_deprecated(runtime: str | None, as_of: dt.date) -> dt.date | None:
    """The day a Lambda runtime was deprecated, when that is on or before the as-of date."""
    since = DEPRECATED_RUNTIMES.get(runtime or "")
    return since if since is not None and since <= as_of else None


def aws_time(value: Any) -> dt.datetime | None:
    """A time from an AWS answer (a datetime, or text like 2026-11-02T10:15:30.000+0000), in UTC."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)
    match = _AWS_TIME_RE.match(str(value or "").strip())
    if not match:
        return None
    *parts, zone = match.groups()
    try:
        when = dt.datetime(*map(int, parts), tzinfo=dt.UTC)
    except ValueError:
        return None
    if zone and zone != "Z":
        digits = zone[1:].replace(":", "")
        offset = dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        when -= offset if zone[0] == "+" else -offset
    return when


def _estate_call(service: str, call: Callable[..., Any], **kwargs: Any) -> Any:
    """One read-only AWS call; a failure becomes one line naming the service and what to do."""
    from botocore.exceptions import BotoCoreError, ClientError

    after = "or set AWS_INVENTORY=0 to send without the estate; nothing was sent"
    try:
        return call(**kwargs)
    except ClientError as exc:
        code = _safe_code(aws_error_code(exc))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        operation = exc.operation_name
        if code in CREDENTIAL_CODES:
            raise ConfigError(f"AWS_INVENTORY: {service} refused the credentials ({code}): check AWS_PROFILE "
                              f"or the access keys, {after}") from None
        if code in ACCESS_DENIED_CODES or status == 403:
            action = IAM_ACTIONS.get(operation, f"the IAM action for {service} {operation}")
            raise ConfigError(f"AWS_INVENTORY: {service} denied {operation} ({code}): grant {action} to the "
                              f"credentials this tool runs with, {after}") from None
        raise EstateUnavailable(f"AWS_INVENTORY: {service} {operation} failed ({code}, HTTP {status}): "
                                f"try again later, {after}") from None
    except _credential_errors() as exc:
        raise ConfigError(f"AWS_INVENTORY: no usable AWS credentials for {service} ({_boto_reason(exc)}): "
                          f"check AWS_PROFILE or the access keys, {after}") from None
    except BotoCoreError as exc:
        raise EstateUnavailable(f"AWS_INVENTORY: {service} cannot be read ({_boto_reason(exc)}): "
                                f"try again later, {after}") from None


def lambda_record(fn: dict[str, Any]) -> dict[str, Any]:
    """What is kept of a Lambda function: no environment variable value, only the names."""
    variables = (fn.pop("Environment", None) or {}).get("Variables") or {}
    names = sorted(variables)
    variables.clear()  # the values go no further than this line
    modified = aws_time(fn.get("LastModified"))
    return {
        "name": str(fn.get("FunctionName") or ""),
        "runtime": fn.get("Runtime") or ("container image" if fn.get("PackageType") == "Image" else "none"),
        "memory": fn.get("MemorySize"),
        "last_modified": modified.date() if modified else None,
        "env_names": names,
    }


def read_lambdas(client: Any) -> list[dict[str, Any]]:
    """Every Lambda function in the region, every page of ListFunctions."""
    functions: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {}
    while True:
        page = _estate_call("Lambda", client.list_functions, **kwargs)
        functions.extend(lambda_record(fn) for fn in page.get("Functions") or [])
        marker = page.get("NextMarker")
        if not marker:
            return functions
        kwargs["Marker"] = marker


def _utc_midnight(day: dt.date) -> dt.datetime:
    """Midnight UTC at the start of a day."""
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def bucket_storage(objects: list[dict[str, Any]], sizes: dict[str, list[dict[str, Any]]]) -> dict[str, Any] | None:
    """A bucket's object count and size on the newest day of its daily storage metrics.

    `objects` are the NumberOfObjects datapoints (AllStorageTypes); `sizes` maps each
    storage type to its BucketSizeBytes datapoints. The size is the sum over storage
    types of that same day; None when no type reported that day.
    """
    points = [(aws_time(p.get("Timestamp")), p.get("Average")) for p in objects]
    points = [(t, v) for t, v in points if t is not None and v is not None]
    if not points:
        return None
    when, count = max(points, key=lambda p: p[0])
    day = when.date()
    total, seen = 0, False
    for datapoints in sizes.values():
        for p in datapoints:
            t = aws_time(p.get("Timestamp"))
            if t is not None and t.date() == day and p.get("Average") is not None:
                total += int(p["Average"])
                seen = True
                break
    return {"objects": int(count), "size": total if seen else None, "day": day}


def count_objects(client: Any, bucket: str, cap: int = S3_LIST_CAP) -> tuple[int, int, bool]:
    """Count a bucket's objects and bytes by listing, stopping at `cap` keys (then capped=True)."""
    kwargs: dict[str, Any] = {"Bucket": bucket, "MaxKeys": max(1, min(1000, cap))}
    count = size = 0
    while True:
        page = _estate_call("S3", client.list_objects_v2, **kwargs)
        for obj in page.get("Contents") or []:
            count += 1
            size += int(obj.get("Size") or 0)
        if not page.get("IsTruncated") or not page.get("NextContinuationToken"):
            return count, size, False
        if count >= cap:
            return count, size, True
        kwargs["ContinuationToken"] = page["NextContinuationToken"]


def _storage_metrics(cloudwatch: Any, metric: str) -> dict[str, list[str]]:
    """Bucket -> storage types that CloudWatch lists for one daily S3 storage metric."""
    found: dict[str, list[str]] = defaultdict(list)
    kwargs: dict[str, Any] = {"Namespace": "AWS/S3", "MetricName": metric}
    while True:
        page = _estate_call("CloudWatch", cloudwatch.list_metrics, **kwargs)
        for m in page.get("Metrics") or []:
            dims = {d.get("Name"): d.get("Value") for d in m.get("Dimensions") or []}
            if dims.get("BucketName") and dims.get("StorageType") and len(dims) == 2:
                found[dims["BucketName"]].append(dims["StorageType"])
        if not page.get("NextToken"):
            return found
        kwargs["NextToken"] = page["NextToken"]


def read_buckets(s3: Any, cloudwatch: Any, as_of: dt.date, cap: int = S3_LIST_CAP) -> list[dict[str, Any]]:
    """Every S3 bucket with its object count and size: daily storage metrics, else a capped listing."""
    names: list[str] = []
    kwargs: dict[str, Any] = {}
    while True:
        page = _estate_call("S3", s3.list_buckets, **kwargs)
        names.extend(str(b["Name"]) for b in page.get("Buckets") or [])
        if not page.get("ContinuationToken"):
            break
        kwargs["ContinuationToken"] = page["ContinuationToken"]
    counted = _storage_metrics(cloudwatch, "NumberOfObjects") if names else {}
    sized = _storage_metrics(cloudwatch, "BucketSizeBytes") if names else {}
    window = {"StartTime": _utc_midnight(as_of - dt.timedelta(days=S3_METRIC_DAYS)),
              "EndTime": _utc_midnight(as_of + dt.timedelta(days=1)), "Period": 86400, "Statistics": ["Average"]}

    def datapoints(bucket: str, metric: str, storage: str) -> list[dict[str, Any]]:
        dims = [{"Name": "BucketName", "Value": bucket}, {"Name": "StorageType", "Value": storage}]
        answer = _estate_call("CloudWatch", cloudwatch.get_metric_statistics, Namespace="AWS/S3",
                              MetricName=metric, Dimensions=dims, **window)
        return answer.get("Datapoints") or []

    buckets = []
    for name in sorted(names):
        stored = None
        if "AllStorageTypes" in counted.get(name, []):
            stored = bucket_storage(datapoints(name, "NumberOfObjects", "AllStorageTypes"),
                                    {t: datapoints(name, "BucketSizeBytes", t) for t in sized.get(name, [])})
        if stored is not None:
            buckets.append({"name": name, **stored, "capped": False, "source": "metrics"})
            continue
        count, size, capped = count_objects(s3, name, cap)
        buckets.append({"name": name, "objects": count, "size": size, "day": None, "capped": capped,
                        "source": "listing"})
    return buckets


INVALIDATION_DAYS = 7  # CloudFront invalidations (deploys) are counted over the seven days that end at the run


def invalidation_window(as_of: dt.date, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The seven days invalidations are counted over (UTC): to the run, or to the end of a past as-of date.

    Not the ISO week: a Monday-morning run would count a week that has barely begun.
    """
    end = min(now.astimezone(dt.UTC), _utc_midnight(as_of + dt.timedelta(days=1)))
    return end - dt.timedelta(days=INVALIDATION_DAYS), end


def invalidations_in(created: Iterable[Any], window: tuple[dt.datetime, dt.datetime]) -> int:
    """How many invalidations were created in the window (the deploy-frequency proxy)."""
    start, end = window
    times = (aws_time(c) for c in created)
    return sum(1 for t in times if t is not None and start <= t < end)


def read_distributions(client: Any, window: tuple[dt.datetime, dt.datetime]) -> list[dict[str, Any]]:
    """Every CloudFront distribution: status, last change and invalidations in the window."""
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {}
    while True:
        listing = _estate_call("CloudFront", client.list_distributions, **kwargs).get("DistributionList") or {}
        items.extend(listing.get("Items") or [])
        if not listing.get("IsTruncated") or not listing.get("NextMarker"):
            break
        kwargs["Marker"] = listing["NextMarker"]
    out = []
    for d in items:
        created: list[Any] = []
        inv_kwargs: dict[str, Any] = {"DistributionId": d["Id"]}
        while True:
            inv = _estate_call("CloudFront", client.list_invalidations, **inv_kwargs).get("InvalidationList") or {}
            created.extend(i.get("CreateTime") for i in inv.get("Items") or [])
            if not inv.get("IsTruncated") or not inv.get("NextMarker"):
                break
            inv_kwargs["Marker"] = inv["NextMarker"]
        changed = aws_time(d.get("LastModifiedTime"))
        out.append({
            "id": str(d["Id"]),
            "domain": str(d.get("DomainName") or ""),
            "aliases": [str(a) for a in (d.get("Aliases") or {}).get("Items") or []],
            "status": str(d.get("Status") or ""),
            "enabled": bool(d.get("Enabled", True)),
            "last_change": changed.date() if changed else None,
            "invalidations": invalidations_in(created, window),
        })
    return out


def inventory(lam: Any, s3: Any, cloudwatch: Any, cloudfront: Any, as_of: dt.date,
              region: str = "", now: dt.datetime | None = None) -> dict[str, Any]:
    """Read the whole estate with the clients given (`now`: the run's time, UTC)."""
    window = invalidation_window(as_of, now or utc_now())
    return {
        "region": region,
        "lambdas": read_lambdas(lam),
        "buckets": read_buckets(s3, cloudwatch, as_of),
        "distributions": read_distributions(cloudfront, window),
        "invalidations_to": window[1],
    }


def read_estate(settings: Settings, as_of: dt.date, now: dt.datetime | None = None) -> dict[str, Any]:
    """Read the estate with the clients the settings make (AWS_INVENTORY=1)."""
    clients = [aws_client(settings, s) for s in ("lambda", "s3", "cloudwatch", "cloudfront")]
    return inventory(*clients, as_of, region=settings.region, now=now)


def format_bytes(size: Any) -> str:
    """A size in bytes the way people read it: 512 bytes, 1.2 MB, 3.4 GB (powers of 1,000)."""
    if size is None:
        return NO_DATA
    value = float(size)
    if value < 1000:
        return _plural(int(value), "byte")
    for unit in ("kB", "MB", "GB", "TB", "PB"):
        value /= 1000
        if value < 1000 or unit == "PB":
            return f"{_round(value, 1):,.1f} {unit}"
    return NO_DATA  # unreachable: the loop ends at PB


def stack_place(item: dict[str, Any]) -> str:
    """Where a stack item is: 'entity / project / component' (also the key of its linked deploy date)."""
    return f"{item['entity']} / {item['project']} / {item['name']}"


def estate_figures(estate: dict[str, Any], stack: list[dict[str, Any]], as_of: dt.date) -> dict[str, Any]:
    """The estate as the CTO report shows it: flags, drift both ways, derived shortfalls, deploy dates.

    `stack` is the handoffs' stack items, each with its entity and project.
    """
    links: dict[str, list[dict[str, Any]]] = {"lambda": [], "bucket": [], "distribution": []}
    for s in stack:
        for kind in links:
            if s.get(kind):
                links[kind].append(s)

    where = stack_place
    lambdas = []
    shortfalls = []
    deploys: dict[str, dt.date] = {}  # "entity / project / component" of a linked stack item -> last deploy
    by_lambda = {f["name"]: f for f in estate["lambdas"]}
    for f in estate["lambdas"]:
        linked = [s for s in links["lambda"] if s["lambda"] == f["name"]]
        row = {**f, "secret_names": [n for n in f["env_names"] if secret_looking(n)],
               "deprecated_since": runtime_deprecated(f["runtime"], as_of), "linked": [where(s) for s in linked]}
        lambdas.append(row)
        owner = {"entity": linked[0]["entity"], "project": linked[0]["project"]} if linked else {
            "entity": ESTATE_ENTITY, "project": None}
        if row["secret_names"]:
            shortfalls.append({**owner, "urgency": "high", "persona": "CTO", "source": "estate",
                               "title": f"Lambda {f['name']} keeps {', '.join(row['secret_names'])} in plain "
                                        "environment variables (move to Secrets Manager or SSM)"})
        if row["deprecated_since"]:
            shortfalls.append({**owner, "urgency": "medium", "persona": "CTO", "source": "estate",
                               "title": f"Lambda {f['name']} runs {f['runtime']}, deprecated since "
                                        f"{row['deprecated_since'].isoformat()}"})
    for s in links["lambda"]:
        f = by_lambda.get(s["lambda"])
        if f is not None and f["last_modified"] is not None:
            deploys[where(s)] = f["last_modified"]

    def dist_names(d: dict[str, Any]) -> set[str]:
        return {n.casefold() for n in (d["id"], d["domain"], *d["aliases"]) if n}

    present = {
        "lambda": set(by_lambda),
        "bucket": {b["name"] for b in estate["buckets"]},
        "distribution": set().union(*(dist_names(d) for d in estate["distributions"])),
    }
    kinds = {"lambda": "Lambda function", "bucket": "S3 bucket", "distribution": "CloudFront distribution"}
    missing = [
        {"kind": kinds[kind], "name": s[kind], "where": where(s), "entity": s["entity"]}
        for kind, rows in links.items()
        for s in rows
        if (s[kind].casefold() if kind == "distribution" else s[kind]) not in present[kind]
    ]
    named = {kind: {s[kind].casefold() if kind == "distribution" else s[kind] for s in rows}
             for kind, rows in links.items()}
    unlinked = [{"kind": kinds["lambda"], "name": f["name"]} for f in estate["lambdas"]
                if f["name"] not in named["lambda"]]
    unlinked += [{"kind": kinds["bucket"], "name": b["name"]} for b in estate["buckets"]
                 if b["name"] not in named["bucket"]]
    unlinked += [{"kind": kinds["distribution"], "name": d["domain"] or d["id"]} for d in estate["distributions"]
                 if not dist_names(d) & named["distribution"]]
    buckets = [{**b, "size_text": ("over " if b["capped"] else "") + format_bytes(b["size"])}
               for b in estate["buckets"]]
    lambdas.sort(key=lambda f: (not f["secret_names"], f["deprecated_since"] is None, f["name"].casefold()))
    until = estate.get("invalidations_to")  # not kept in an estate read before it was
    return {
        "region": estate["region"],
        "invalidation_window": (f"the {INVALIDATION_DAYS} days to {until:%Y-%m-%d %H:%M} UTC" if until
                                else NO_DATA),
        "lambdas": lambdas,
        "buckets": sorted(buckets, key=lambda b: (-(b["size"] or 0), b["name"])),
        "distributions": sorted(estate["distributions"], key=lambda d: (-d["invalidations"], d["domain"])),
        "missing": sorted(missing, key=lambda m: (m["where"].casefold(), m["kind"])),
        "unlinked": sorted(unlinked, key=lambda u: (u["kind"], u["name"].casefold())),
        "shortfalls": sorted(shortfalls, key=lambda s: (_rank(s["urgency"]), s["entity"].casefold(), s["title"])),
        "deploys": deploys,
        "rows": ESTATE_ROWS,
    }


# ---------------------------------------------------------------------------
# Figures (defined in docs/handoff-format.md): pure functions of the handoffs, table counts and as-of date.
# Their money is exact (see Formatting above for the decimal context they run in).


def iso_period(day: dt.date) -> str:
    """The ISO week of a date, written 2026-W47 (the year always in four digits)."""
    year, week, _ = day.isocalendar()
    return f"{year:04d}-W{week:02d}"


def month_key(day: dt.date, offset: int = 0) -> str:
    """The YYYY-MM of the month `offset` months from day's month.

    Only text: past 9999-12 it reads 10000-01, a month no handoff can hold (no data).
    """
    index = day.year * 12 + day.month - 1 + offset
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def months_before(as_of: dt.date, count: int) -> list[str]:
    """The `count` complete months before as_of's month, oldest first: the window, or the trend."""
    return [month_key(as_of, -i) for i in range(count, 0, -1)]


def export_cutoff(as_of: dt.date) -> dt.datetime:
    """The start (Monday 00:00 UTC) of the period before as_of's: an export older than this was not refreshed."""
    monday = as_of - dt.timedelta(days=as_of.weekday())
    return dt.datetime.combine(monday - dt.timedelta(weeks=1), dt.time(), tzinfo=dt.UTC)


def days_after(day: dt.date, days: int) -> dt.date:
    """day + days, held at 9999-12-31 (the last date there is, so no due date passes it)."""
    try:
        return day + dt.timedelta(days=days)
    except OverflowError:
        return dt.date.max


def linear_fit(points: list[tuple[int, Decimal]]) -> tuple[Decimal, Decimal]:
    """Least-squares line through (x, y) points, in decimal arithmetic: (slope, intercept).

    x are whole month numbers, so n, sum(x) and sum(x*x) are exact integers and the only
    rounding is the final divisions (34 digits): a flat series has a slope of exactly 0.
    """
    n = len(points)
    sx = sum(x for x, _ in points)
    sxx = sum(x * x for x, _ in points)
    sy = sum((_dec(y) for _, y in points), Decimal(0))
    sxy = sum((x * _dec(y) for x, y in points), Decimal(0))
    slope = (n * sxy - sx * sy) / (n * sxx - sx * sx)
    return slope, (sy - slope * sx) / n


def _ratio(part: Any, whole: Any) -> Decimal | str:
    """part / whole, or 'n/a' when whole is zero or so small it shows as zero (0.00)."""
    if whole is None or _round(whole, 2) == 0:
        return NOT_APPLICABLE
    return _dec(part) / _dec(whole)


def _asset(a: dict[str, Any]) -> dict[str, Any]:
    """An asset row: a value of 0 or none is 'not valued', never a $0 figure."""
    value = a.get("value")
    return {**a, "value": NOT_VALUED if value is None or _dec(value) == 0 else value}


def _valued_total(assets: Iterable[dict[str, Any]]) -> Decimal | str:
    """Sum of the asset values given, or 'none' when no asset is valued."""
    values = [a["value"] for a in assets if not isinstance(a["value"], str)]
    return _sum(values) if values else NONE


OVERDRAWN = "overdrawn"


def runway(cash: Decimal | str, burn: Decimal) -> Decimal | str:
    """Months of cash at this burn; 'overdrawn' when cash is below zero (never a negative runway)."""
    if not isinstance(cash, str) and cash < 0:
        return OVERDRAWN
    if burn <= 0:
        return NOT_BURNING
    if isinstance(cash, str):
        return NO_CASH
    return cash / burn


REVIEW_SOON = "review soon"


def burning_from(e: dict[str, Any]) -> str | None:
    """The first projected month in which a business that earns now would burn on its trend.

    Earning now: net (revenue_avg - expenses_avg) of zero or more. Burning on its trend:
    the projection's revenue for the month is below expenses_avg (expenses held at their
    3-month average). The months looked at are the projection's: D's month and the two after.
    """
    if isinstance(e["burn"], str) or isinstance(e["projection"], str) or e["burn"] > 0:
        return None
    return next((p["month"] for p in e["projection"] if p["revenue"] < e["expenses_avg"]), None)


def mtd_pace(e: dict[str, Any], as_of: dt.date) -> dict[str, Any] | None:
    """This month's revenue to date against its projection: the part of the projected month due by D
    at an even pace (projected x days to D / days in the month), and whether the revenue is behind it."""
    if e["mtd_month"] is None or isinstance(e["projection"], str):
        return None
    projected = e["projection"][0]["revenue"]
    days = calendar.monthrange(as_of.year, as_of.month)[1]
    due = _round(projected * as_of.day / days, 2)
    return {"projected": projected, "due_by_now": due, "behind": e["mtd_revenue"] < due}


def monthly_financials(docs: list[Handoff]) -> dict[str, dict[str, Any]]:
    """Each month's revenue and expenses summed over the projects, and debt service where one gives it (else None)."""
    months: dict[str, dict[str, Any]] = {}
    for d in docs:
        for month, fig in (d.data.get("financials") or {}).items():
            slot = months.setdefault(month, {"revenue": Decimal(0), "expenses": Decimal(0), "debt_service": None})
            slot["revenue"] += _dec(fig["revenue"])
            slot["expenses"] += _dec(fig["expenses"])
            if fig.get("debt_service") is not None:
                slot["debt_service"] = (slot["debt_service"] or Decimal(0)) + _dec(fig["debt_service"])
    return months


@_exact
def window_figures(months: dict[str, dict[str, Any]], cash: Decimal | str, as_of: dt.date) -> dict[str, Any]:
    """Money over the window: the averages, burn, cash flow, NOI, break-even gap, margin and runway."""
    window = months_before(as_of, WINDOW_MONTHS)
    present = [m for m in window if m in months]
    debt = [months[m]["debt_service"] for m in present if months[m]["debt_service"] is not None]
    f: dict[str, Any] = {
        "window_months": len(present),
        "window_missing": [m for m in window if m not in months],
        "debt_service_recorded": bool(debt),  # else NOI equals cash flow, and reports say so
    }
    if not present:
        return f | dict.fromkeys(("revenue_avg", "expenses_avg", "debt_service_avg", "burn", "cash_flow", "noi",
                                  "break_even_gap", "margin", "runway"), NO_DATA)
    count = len(present)
    f["revenue_avg"] = _round(_sum(months[m]["revenue"] for m in present) / count, 2)
    f["expenses_avg"] = _round(_sum(months[m]["expenses"] for m in present) / count, 2)
    f["debt_service_avg"] = _round(_sum(debt) / count, 2)  # a month without it had none
    f["burn"] = f["expenses_avg"] - f["revenue_avg"]
    f["cash_flow"] = -f["burn"] + 0  # + 0: never -0.00
    f["noi"] = f["cash_flow"] + f["debt_service_avg"]  # before loan payments
    f["break_even_gap"] = max(f["burn"], ZERO)
    f["margin"] = _ratio(f["cash_flow"], f["revenue_avg"])
    f["runway"] = runway(cash, f["burn"])
    return f


@_exact
def revenue_trend(months: dict[str, dict[str, Any]], as_of: dt.date) -> dict[str, Any]:
    """Growth and the revenue projection: a straight line through the trend's revenue, extended."""
    # The line is fitted exactly; growth and the projection are rounded to the cent, so a
    # flat series grows $0.00 (not growing) and the floor at zero never leaves -0.00.
    points = [(i, months[m]["revenue"]) for i, m in enumerate(months_before(as_of, TREND_MONTHS)) if m in months]
    if len(points) < MIN_TREND_POINTS:
        return {"growth": INSUFFICIENT, "projection": INSUFFICIENT}
    slope, intercept = linear_fit(points)
    return {
        "growth": _round(slope, 2),
        "projection": [
            {"month": month_key(as_of, k), "revenue": max(ZERO, _round(intercept + slope * (TREND_MONTHS + k), 2))}
            for k in range(PROJECTION_MONTHS)
        ],
    }


def capital_deployment(growth: Decimal | str, burn: Decimal | str) -> str:
    """Invest, fix, maintain or review, from growth and burn (review soon is decided after)."""
    if isinstance(growth, str) or isinstance(burn, str):
        return INSUFFICIENT
    if growth > 0:
        return "invest" if burn <= 0 else "fix"
    return "maintain" if burn <= 0 else "review"


@_exact
def monthly_pl(months: dict[str, dict[str, Any]], as_of: dt.date) -> dict[str, Any]:
    """The monthly P&L of the trend's months, last month's row of it, and the month to date (D's own month)."""
    trend = months_before(as_of, TREND_MONTHS)
    monthly = [
        {"month": m, **months[m], "net": months[m]["revenue"] - months[m]["expenses"]} if m in months
        else {"month": m, "revenue": NO_DATA, "expenses": NO_DATA, "debt_service": None, "net": NO_DATA}
        for m in trend
    ] if any(m in months for m in trend) else []
    last = month_key(as_of, -1)
    # month to date: D's own month, when a handoff gives it (its figures are taken as of D)
    this = months.get(month_key(as_of))
    return {
        "monthly": monthly,
        "last_month": next((row for row in monthly if row["month"] == last),
                           {"month": last, "revenue": NO_DATA, "expenses": NO_DATA, "net": NO_DATA}),
        "mtd_month": month_key(as_of) if this else None,
        "mtd_revenue": this["revenue"] if this else NO_DATA,
        "mtd_expenses": this["expenses"] if this else NO_DATA,
        "mtd_net": this["revenue"] - this["expenses"] if this else NO_DATA,
    }


@_exact
def stack_figures(stack: list[tuple[Handoff, dict[str, Any]]],
                  assets: list[tuple[Handoff, dict[str, Any]]]) -> dict[str, Any]:
    """Technology and assets: infra cost, the savings of unused components, the assets and their total."""
    listed = [_asset(a) for _, a in assets]
    return {
        "infra_cost": _sum(s.get("monthly_cost") for _, s in stack),
        "savings": _sum(s.get("monthly_cost") for _, s in stack if s.get("in_use") is False),
        "assets": listed,
        "assets_total": _valued_total(listed),
        "assets_unvalued": sum(1 for a in listed if a["value"] == NOT_VALUED),
    }


@_exact
def live_numbers(docs: list[Handoff], counts: dict[str, TableCount], as_of: dt.date) -> dict[str, Any]:
    """Live numbers from the entity's tables: events, users, checklist completion, and the exports gone stale."""
    # stale_exports: role -> the day of its oldest export not refreshed since the period before
    # export_times: role -> when each of its exports was made (ISO), so that next week's report can
    # tell a count read from the very same exports as its own (not refreshed either)
    f: dict[str, Any] = {"stale_exports": {}, "export_times": {}}
    for role in ("events", "users"):
        tables = {d.data["dynamodb"][role] for d in docs if (d.data.get("dynamodb") or {}).get(role)}
        f[role] = sum(counts[t].items for t in tables) if tables else NO_DATA
        if tables and all(counts[t].exported for t in tables):
            f["export_times"][role] = sorted(counts[t].exported.isoformat() for t in tables)
        old = [c.exported for t in tables if (c := counts[t]).exported and c.exported < export_cutoff(as_of)]
        if old:
            f["stale_exports"][role] = min(old).date()
    checklists = {
        d.data["dynamodb"]["checklist"]["table"] for d in docs if (d.data.get("dynamodb") or {}).get("checklist")
    }
    if not checklists:
        return f | dict.fromkeys(("checklist_done", "checklist_items", "checklist_pct"), NO_DATA)
    done = sum(counts[t].done or 0 for t in checklists)
    total = sum(counts[t].items for t in checklists)
    return f | {"checklist_done": done, "checklist_items": total, "checklist_pct": _ratio(done, total)}


@_exact
def entity_figures(
    name: str, docs: list[Handoff], counts: dict[str, TableCount], as_of: dt.date
) -> dict[str, Any]:
    """Every per-entity figure, family by family: money, technology and assets, live numbers, business units."""

    def items(key: str) -> list[tuple[Handoff, dict[str, Any]]]:
        return [(d, item) for d in docs for item in d.data.get(key) or []]

    cash_values = [d.data["cash"] for d in docs if d.data.get("cash") is not None]
    e: dict[str, Any] = {"name": name, "projects": len(docs), "cash": _sum(cash_values) if cash_values else NO_DATA}
    months = monthly_financials(docs)
    e.update(window_figures(months, e["cash"], as_of))
    e.update(revenue_trend(months, as_of))
    e["deployment"] = capital_deployment(e["growth"], e["burn"])
    e["burning_from"] = burning_from(e)
    if e["burning_from"]:
        e["deployment"] = REVIEW_SOON  # earning now, burning within the projection's three months
    e.update(monthly_pl(months, as_of))
    e["mtd_pace"] = mtd_pace(e, as_of)
    e.update(stack_figures(items("stack"), items("assets")))
    e.update(live_numbers(docs, counts, as_of))
    e["rental"] = rental_figures(items("units"), items("maintenance"), e, as_of) if items("units") else None
    e["yacht"] = delivery_figures([x for _, x in items("deliveries")]) if items("deliveries") else None
    e["agency"] = client_figures([x for _, x in items("clients")], as_of) if items("clients") else None
    return e


@_exact
def rental_figures(
    units: list[tuple[Handoff, dict[str, Any]]],
    maintenance: list[tuple[Handoff, dict[str, Any]]],
    e: dict[str, Any],
    as_of: dt.date,
) -> dict[str, Any]:
    """Occupancy, rent roll, vacancy loss, delinquency, leases ending, maintenance, NOI."""
    rows = [u for _, u in units]
    occupied = [u for u in rows if u["status"] == "occupied"]
    horizon = days_after(as_of, LEASE_HORIZON_DAYS)
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
        "vacancy_loss": _sum(u.get("rent") for u in rows if u["status"] == "vacant"),
        "delinquency": _sum(u.get("balance_due") for u in rows),
        "leases_ending": [
            {**u, "days_left": (u["lease_end"] - as_of).days, "ended": u["lease_end"] < as_of} for u in ending
        ],
        "maintenance_open": sorted(open_items, key=lambda m: (m.get("opened") or dt.date.max, m["item"])),
        "maintenance_open_cost": _sum(m.get("cost") for m in open_items),
        "noi": e["noi"],
        "cash_flow": e["cash_flow"],
        "debt_service_avg": e["debt_service_avg"],
        "debt_service_recorded": e["debt_service_recorded"],
    }


@_exact
def delivery_figures(deliveries: list[dict[str, Any]]) -> dict[str, Any]:
    """P&L per delivery, margins, pipeline, weighted average margin of completed jobs.

    A delivery without costs is 'not costed': no cost, margin or margin % (never a
    100% margin), and it is left out of the margin totals.
    """
    rows = []
    for d in sorted(deliveries, key=lambda d: (d.get("date") or dt.date.max, d["id"])):
        revenue = _dec(d.get("revenue") or 0)
        if d.get("costs"):
            cost = _sum(d["costs"].values())
            rows.append({**d, "revenue": revenue, "costed": True, "cost": cost, "margin": revenue - cost,
                         "margin_pct": _ratio(revenue - cost, revenue)})
        else:
            rows.append({**d, "revenue": revenue, "costed": False, "cost": NOT_COSTED,
                         "margin": NOT_APPLICABLE, "margin_pct": NOT_APPLICABLE})
    completed = [r for r in rows if r["status"] == "completed"]
    costed = [r for r in completed if r["costed"]]
    margin = _sum(r["margin"] for r in costed)
    costed_revenue = _sum(r["revenue"] for r in costed)
    return {
        "rows": rows,
        "pipeline": _sum(r["revenue"] for r in rows if r["status"] in ("quoted", "booked")),
        "pipeline_count": sum(1 for r in rows if r["status"] in ("quoted", "booked")),
        "completed_count": len(completed),
        "completed_revenue": _sum(r["revenue"] for r in completed),
        "completed_costed_revenue": costed_revenue,
        "completed_margin": margin,
        "completed_uncosted": sum(1 for r in completed if not r["costed"]),
        "uncosted": [r["id"] for r in rows if not r["costed"] and r["status"] != "cancelled"],
        # weighted by revenue: total margin over total revenue, not a mean of percentages
        "avg_margin_pct": _ratio(margin, costed_revenue) if costed else NO_DATA,
    }


@_exact
def client_figures(clients: list[dict[str, Any]], as_of: dt.date) -> dict[str, Any]:
    """MRR, concentration, effective rates, outstanding, neglected clients."""
    active = [c for c in clients if c["status"] == "active"]
    mrr = _sum(c.get("monthly_fee") for c in active)
    rows = []
    for c in sorted(clients, key=lambda c: (("active", "prospect", "churned").index(c["status"]), c["name"])):
        hours, fee = c.get("hours_last_30d"), c.get("monthly_fee")
        rate = _ratio(fee, hours) if c["status"] == "active" and fee is not None else NOT_APPLICABLE
        rows.append({**c, "rate": rate})
    largest = max(active, key=lambda c: _dec(c.get("monthly_fee") or 0), default=None)
    neglected = [
        {**c, "days": (as_of - c["last_contact"]).days}
        for c in rows
        if c["status"] != "churned" and c.get("last_contact") and (as_of - c["last_contact"]).days > NEGLECT_DAYS
    ]
    prospects = [c for c in clients if c["status"] == "prospect"]
    # blended rate: over the active clients that give both a fee and their hours
    timed = [c for c in active if c.get("monthly_fee") is not None and c.get("hours_last_30d") is not None]
    hours = _sum(c["hours_last_30d"] for c in timed)
    return {
        "rows": rows,
        "mrr": mrr,
        "active": len(active),
        "prospects": len(prospects),
        "prospect_fees": _sum(c.get("monthly_fee") for c in prospects),
        "hours": hours,
        "hours_clients": len(timed),
        "blended_rate": _ratio(_sum(c["monthly_fee"] for c in timed), hours) if timed else NO_DATA,
        "largest": largest["name"] if largest else NO_DATA,
        "concentration": _ratio(largest.get("monthly_fee") or 0, mrr) if largest else NO_DATA,
        "outstanding": _sum(c.get("outstanding") for c in clients),
        "owing": [c for c in rows if _dec(c.get("outstanding") or 0) > 0],
        "neglected": sorted(neglected, key=lambda c: (-c["days"], c["name"].casefold())),
    }


def action_order(a: dict[str, Any]) -> tuple[Any, ...]:
    """Sort key of an action, the order a reader works them in every list: overdue first (most
    days late first); then those due within SOON_DAYS, by date; then the rest by priority
    (1 first, none after every number), then date. Ties: priority, entity, title."""
    priority = (a.get("priority") is None, a.get("priority") or 0)
    tie = (a["entity"].casefold(), a["title"].casefold())
    if a["overdue"]:
        return (0, -a["days_overdue"], *priority, *tie)
    if a.get("days_left") is not None and a["days_left"] <= SOON_DAYS:
        return (1, a["days_left"], *priority, *tie)
    return (2, *priority, a.get("due") or dt.date.max, *tie)


@_exact
def handoff_rows(docs: list[Handoff]) -> Callable[[str], list[dict[str, Any]]]:
    """rows(key): every item of a list key (kpis, stack, ...) of every handoff, with its entity and
    project, in the order of entity then project."""
    ordered = sorted(docs, key=lambda d: (d.entity.casefold(), d.project.casefold()))

    def rows(key: str) -> list[dict[str, Any]]:
        return [{"entity": d.entity, "project": d.project, **item} for d in ordered for item in d.data.get(key) or []]

    return rows


def project_figures(docs: list[Handoff], as_of: dt.date) -> dict[str, Any]:
    """Each project's status and age; the status counts, the troubled and the stale ones."""
    projects = []
    for d in sorted(docs, key=lambda d: (d.entity.casefold(), d.project.casefold())):
        age = (as_of - d.data["updated"]).days
        projects.append({
            "entity": d.entity, "project": d.project, "status": d.data["status"], "owner": d.data.get("owner"),
            "updated": d.data["updated"], "age_days": age, "stale": age > STALE_DAYS, "file": d.file,
        })
    return {
        "projects": projects,
        "status_counts": {s: sum(1 for p in projects if p["status"] == s) for s in STATUSES},
        "troubled": [p for p in projects if p["status"] in ("blocked", "at-risk")],
        "stale": sorted((p for p in projects if p["stale"]), key=lambda p: -p["age_days"]),
    }


def kpi_state(k: dict[str, Any], better: str) -> str:
    """missing, no target, gap (worse than target in its `better` direction) or on target."""
    value, target = k.get("value"), k.get("target")
    if value is None:
        return "missing"
    if target is None:
        return "no target"
    if (value < target) if better == "higher" else (value > target):
        return "gap"
    return "on target"  # equal to the target is on target, either direction


def kpi_figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Every KPI with its state and owner (default CEO); the gaps ranked, the missing ones."""
    kpis = []
    for k in rows:
        better = k.get("better") or "higher"
        kpis.append({**k, "better": better, "state": kpi_state(k, better), "persona": k.get("persona") or "CEO"})
    return {"kpis": kpis, "kpi_gaps": kpi_gaps(kpis), "kpi_missing": [k for k in kpis if k["state"] == "missing"]}


def shortfall_figures(rows: Callable[[str], list[dict[str, Any]]], by_entity: dict[str, list[Handoff]],
                      m: dict[str, Any], as_of: dt.date) -> dict[str, Any]:
    """The shortfalls declared and derived (runway, sources that disagree, unfixed critical and high
    findings, missing KPIs, the estate's), most urgent first; the unfixed security findings."""
    shortfalls = [{**s, "source": "declared"} for s in rows("shortfalls")]
    for e in m["entities"].values():
        if e["runway"] == OVERDRAWN or (not isinstance(e["runway"], str) and e["runway"] < RUNWAY_ALERT_MONTHS):
            shortfalls.append({
                "entity": e["name"], "project": None, "urgency": "critical", "persona": "CFO", "source": "derived",
                "title": runway_title(e, m["portfolio"]["cents"]),
            })
    shortfalls += disagreements(by_entity, as_of)
    security = rows("security")
    for s in security:
        if not s.get("fixed") and s["severity"] in ("critical", "high"):
            shortfalls.append({
                "entity": s["entity"], "project": s["project"], "urgency": s["severity"], "persona": "CTO",
                "source": "derived", "title": f"Unfixed security finding: {s['finding']}", "finding": s["finding"],
            })
    for k in m["kpi_missing"]:
        shortfalls.append({
            "entity": k["entity"], "project": k["project"], "urgency": "medium", "persona": None,
            "source": "derived", "title": f"Missing KPI: {k['name']}",
        })
    shortfalls += m["estate"]["shortfalls"] if m["estate"] else []
    shortfalls.sort(key=lambda s: (_rank(s["urgency"]), s["entity"].casefold(), s["title"].casefold()))
    unfixed = sorted(
        (s for s in security if not s.get("fixed")),
        key=lambda s: (_rank(s["severity"]), s["entity"].casefold(), s["finding"].casefold()),
    )
    return {"shortfalls": shortfalls, "security": unfixed,
            "security_counts": {sev: sum(1 for s in unfixed if s["severity"] == sev) for sev in URGENCIES}}


def action_figures(rows: list[dict[str, Any]], as_of: dt.date) -> dict[str, Any]:
    """Every action with its done/overdue state, by due date; the open ones due within the horizon,
    in the order a reader works them."""
    horizon = days_after(as_of, ACTION_HORIZON_DAYS)
    actions = []
    for a in rows:
        due = a.get("due")
        overdue = bool(due and due < as_of and not a.get("done"))
        actions.append({**a, "done": bool(a.get("done")), "overdue": overdue,
                        "days_overdue": (as_of - due).days if overdue else 0,
                        "days_left": (due - as_of).days if due else None})
    return {
        "action_horizon": horizon,
        "actions": sorted(actions, key=lambda a: (a.get("due") or dt.date.max, a["title"].casefold())),
        "actions_30d": sorted((a for a in actions if not a["done"] and a.get("due") and a["due"] <= horizon),
                              key=action_order),
    }


def technology_figures(rows: list[dict[str, Any]], entities: dict[str, dict[str, Any]],
                       deploys: dict[Any, dt.date], as_of: dt.date) -> dict[str, Any]:
    """Every stack component with its days since deploy (a linked Lambda's date first), by entity."""
    stack = []
    for s in rows:
        last = deploys.get(stack_place(s), s.get("last_deploy"))
        stack.append({**s, "in_use": s.get("in_use") is not False,
                      "days_since_deploy": (as_of - last).days if last else NO_DATA})
    return {"stack": stack, "stack_by_entity": stack_by_entity(stack, entities)}


def channel_rates(c: dict[str, Any]) -> dict[str, Any]:
    """A channel's lead and close rates and costs per lead and sale; a rate whose count is not
    given is not known: 'no data', never 0%."""
    spend, visits, leads, sales = c.get("spend"), c.get("visits"), c.get("leads"), c.get("conversions")
    return {
        "lead_rate": NO_DATA if visits is None or leads is None else _ratio(leads, visits),
        "close_rate": NO_DATA if leads is None or sales is None else _ratio(sales, leads),
        "cost_per_lead": NO_DATA if spend is None or leads is None else _ratio(spend, leads),
        "cost_per_sale": NO_DATA if spend is None or sales is None else _ratio(spend, sales),
    }


def marketing_figures(channels: list[dict[str, Any]], actions: list[dict[str, Any]]) -> dict[str, Any]:
    """Channels with their rates, by entity, and their totals; email blasts and their potential;
    the OTA sequence by launch date; the CMO's actions as milestones."""
    rated = [{**c, **channel_rates(c)} for c in channels]
    blasts = []
    for c in channels:
        b = c.get("blast")
        if not b:
            continue
        parts = [b.get(k) for k in BLAST]
        potential = NO_DATA if any(p is None for p in parts) else _product(parts)
        blasts.append({"entity": c["entity"], "name": c["name"], **b, "potential": potential})
    return {
        "channels": rated,
        "channels_by_entity": channels_by_entity(rated),
        "channel_totals": channel_totals(rated),
        "blasts": blasts,
        "blast_total": _sum(b["potential"] for b in blasts),
        "ota": sorted((c for c in channels if (c.get("kind") or "").lower() == "ota"),
                      key=lambda c: (c.get("launch") or dt.date.max, c["name"].casefold())),
        "cmo_milestones": sorted((a for a in actions if (a.get("persona") or "").upper() == "CMO"), key=action_order),
    }


def receivable_figures(recognition: list[dict[str, Any]], m: dict[str, Any], as_of: dt.date) -> dict[str, Any]:
    """Deferred revenue and receivables (aged), in total and by entity, with the portfolio's."""
    deferred = sorted(
        (r for r in recognition if r.get("received") and r["received"] <= as_of and r["service_date"] > as_of),
        key=lambda r: (r["service_date"], r["entity"].casefold()),
    )
    receivables = sorted(
        (receivable_age(r, as_of) for r in recognition if receivable_entry(r, as_of)),
        key=lambda r: (r["service_date"], r["entity"].casefold()),
    )
    entities, portfolio = m["entities"], m["portfolio"]
    for e in entities.values():  # what each business is owed, and what it holds for work still to do
        e["receivables_list"] = [r for r in receivables if r["entity"] == e["name"]]
        e["deferred_list"] = [r for r in deferred if r["entity"] == e["name"]]
        e["receivables"] = _sum(r["amount"] for r in e["receivables_list"])
        e["deferred"] = _sum(r["amount"] for r in e["deferred_list"])
    totals = {"deferred_total": _sum(r["amount"] for r in deferred),
              "receivables_total": _sum(r["amount"] for r in receivables)}
    portfolio["receivables"] = totals["receivables_total"]
    portfolio["deferred"] = totals["deferred_total"]
    portfolio["debt_service_avg"] = _sum(e["debt_service_avg"] for e in entities.values())
    portfolio["cents"].update(money_precision(entities, ("receivables", "deferred", "debt_service_avg",
                                                         "mtd_revenue", "mtd_expenses", "mtd_net")))
    return {"deferred": deferred, "receivables": receivables, **totals}


def expense_figures(expenses: list[dict[str, Any]], docs: list[Handoff]) -> dict[str, Any]:
    """The chart of accounts (categories with totals), the uncategorized expenses, the period covered."""
    accounts: dict[str, dict[str, Any]] = {}
    for x in expenses:
        if x.get("category"):
            acct = accounts.setdefault(x["category"], {"category": x["category"], "total": Decimal(0), "entries": 0})
            acct["total"] += _dec(x["amount"])
            acct["entries"] += 1
    ordered = sorted(accounts.values(), key=lambda a: a["category"].casefold())
    uncategorized = [x for x in expenses if not x.get("category")]
    return {
        "accounts": ordered, "accounts_total": _sum(a["total"] for a in ordered),
        "uncategorized": uncategorized, "uncategorized_total": _sum(x["amount"] for x in uncategorized),
        "expense_period": expense_period(docs),
    }


def data_sources(portfolio: Portfolio, counts: dict[str, TableCount], as_of: dt.date) -> dict[str, Any]:
    """What the figures were read from: handoffs read and skipped, each table and how it was read."""
    docs = portfolio.handoffs
    sources = {
        "handoffs": len(docs),
        "skipped": len(portfolio.skipped),
        "skipped_files": list(portfolio.skipped),
        "misnamed_files": list(portfolio.misnamed),
        "table_info": table_sources(docs, counts, as_of),
        "tables": sorted(counts),
        "dynamodb": sorted({c.source for c in counts.values()}),
    }
    # how the counts shown were read, under the CEO's table of them
    sources["counts_read"] = " or ".join(COUNTS_READ[how] for how in sources["dynamodb"])
    return sources


def compute_metrics(
    portfolio: Portfolio, counts: dict[str, TableCount], as_of: dt.date, estate: dict[str, Any] | None = None
) -> dict[str, Any]:
    """All figures every report can use, from pure inputs (`estate`: what AWS_INVENTORY read, or None).

    Each family of figures comes from its own function, in the order of docs/handoff-format.md.
    """
    docs = portfolio.handoffs
    by_entity: dict[str, list[Handoff]] = defaultdict(list)
    for d in docs:
        by_entity[d.entity].append(d)
    entities = {
        name: entity_figures(name, by_entity[name], counts, as_of) for name in sorted(by_entity, key=str.casefold)
    }
    rows = handoff_rows(docs)
    m: dict[str, Any] = {
        "as_of": as_of,
        "period": iso_period(as_of),
        "window": months_before(as_of, WINDOW_MONTHS),
        "entities": entities,
        **project_figures(docs, as_of),
        "portfolio": portfolio_figures(entities),
        **kpi_figures(rows("kpis")),
    }
    # AWS_INVENTORY: the estate's figures; its shortfalls join the rest, its Lambdas date linked deploys
    m["estate"] = estate_figures(estate, rows("stack"), as_of) if estate is not None else None
    m.update(shortfall_figures(rows, by_entity, m, as_of))
    m.update(action_figures(rows("actions"), as_of))
    m.update(technology_figures(rows("stack"), entities, m["estate"]["deploys"] if m["estate"] else {}, as_of))
    m.update(marketing_figures(rows("channels"), m["actions"]))
    m.update(receivable_figures(rows("revenue_recognition"), m, as_of))
    m.update(expense_figures(rows("expenses"), docs))
    m["assets"] = [_asset(a) for a in rows("assets")]
    m["sources"] = data_sources(portfolio, counts, as_of)
    return m


NEEDS_YOU_SHOWN = 5  # named items in a report's "Needs you this week", and in the CEO's "What others owe"


COUNTS_READ = {"export": "as exported", "live": "read live"}  # a table's item count, by how it was read


def table_sources(docs: list[Handoff], counts: dict[str, TableCount], as_of: dt.date) -> list[dict[str, Any]]:
    """Each table read: the entities that name it, how it was read, when it was exported (or read live),
    and whether that export is older than the period before as_of's (not refreshed: its count cannot be compared)."""
    entities: dict[str, set[str]] = defaultdict(set)
    for d in docs:
        for role, spec in (d.data.get("dynamodb") or {}).items():
            if spec:
                entities[spec["table"] if role == "checklist" else spec].add(d.entity)
    return [
        {"table": name, "entities": sorted(entities[name], key=str.casefold), "source": c.source,
         "exported": c.exported, "read": c.read,
         "stale": bool(c.exported and c.exported < export_cutoff(as_of))}
        for name, c in sorted(counts.items())
    ]


def _same_persona(a: str | None, b: str) -> bool:
    """Whether an item's persona names this reader (case does not matter)."""
    return a is not None and a.strip().casefold() == b.strip().casefold()


def owns(item: dict[str, Any], persona: str, entity: str | None = None) -> bool:
    """Whether an item is the reader's own: its persona's (no persona: the CEO's), or, in a
    business-unit report, any item of its entity."""
    who = item.get("persona")
    return (_same_persona(who, persona) or (who is None and _same_persona("CEO", persona))
            or (entity is not None and item["entity"] == entity))


def routed(metrics: dict[str, Any], persona: str, entity: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """The shortfalls, open actions, security findings and KPIs one report's reader must see.

    Nothing declared falls through: every shortfall and open action goes to the report of
    its persona (no persona: the CEO's); the CEO also gets every critical and high
    shortfall and, of other personas' actions, those overdue or of priority 1 due within
    the action horizon; a business-unit report also gets everything of its entity.
    Actions are in action_order. Each shortfall and finding carries `id`, `finding` (the
    security finding it is, or None) and `fixed_by` (the open actions whose `fixes:` names
    it, in action_order), each action its `id`: a problem and its fix are one line.
    """
    ceo = _same_persona("CEO", persona)

    def mine(item: dict[str, Any]) -> bool:
        return owns(item, persona, entity)

    fixes: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for a in metrics["actions"]:
        if a.get("fixes") and not a["done"]:
            fixes[(name_key(a["entity"]), name_key(a["fixes"]))].append(a)
    fixes = {key: sorted(found, key=action_order) for key, found in fixes.items()}

    def problem(item: dict[str, Any], kind: str, key: str, finding: str | None) -> dict[str, Any]:
        return {**item, "id": _item_id(kind, item["entity"], item.get("project"), key), "finding": finding,
                "fixed_by": fixes.get((name_key(item["entity"]), name_key(finding or item["title"])), [])}

    # A missing KPI is shown as a KPI, not again as a shortfall.
    shortfalls = [
        problem(s, "shortfall", shortfall_key(s), s.get("finding")) for s in metrics["shortfalls"]
        if (s["source"] == "declared" or s.get("persona")) and (mine(s) or (ceo and s["urgency"] in URGENCIES[:2]))
    ]
    horizon = metrics["action_horizon"]

    def theirs_shown(a: dict[str, Any]) -> bool:  # another persona's action the CEO watches
        return ceo and (a["overdue"] or (a.get("priority") == 1 and a.get("due") is not None and a["due"] <= horizon))

    actions = sorted(
        ({**a, "id": action_id(a)} for a in metrics["actions"]
         if not a["done"] and (mine(a) or theirs_shown(a))),
        key=action_order,
    )
    cto = _same_persona("CTO", persona)
    return {
        "shortfalls": shortfalls,
        "actions": actions,
        "security": [problem(s, "finding", s["finding"], s["finding"]) for s in metrics["security"]
                     if cto or s["entity"] == entity],
        # KPIs: a unit report's are its entity's; any other report's those whose persona names its reader
        "kpis": [k for k in metrics["kpis"]
                 if k["entity"] == entity or (entity is None and _same_persona(k["persona"], persona))],
    }


def _item_id(kind: str, *parts: Any) -> str:
    """A short id that stays the same from run to run for the same item: case, spacing and width do not count."""
    folded = (name_key("" if p is None else str(p)) for p in (kind, *parts))
    digest = hashlib.sha256("\x1f".join(folded).encode()).hexdigest()
    return f"{kind}-{digest[:12]}"


def shortfall_key(s: dict[str, Any]) -> str:
    """What names a shortfall from week to week: its title; the runway's carries this week's figure."""
    return "runway" if s["source"] == "derived" and s.get("persona") == "CFO" else s["title"]


def _action_urgency(a: dict[str, Any]) -> tuple[Any, ...] | None:
    """Where an open action ranks in Needs you (overdue: 1, due within SOON_DAYS: 4, its place in
    action_order after); None when it does not need its reader this week."""
    order = action_order(a)
    return (1 if a["overdue"] else 4, *order[1:]) if order[0] < 2 and not a["done"] else None


def needs_entries(metrics: dict[str, Any], persona: str, entity: str | None = None,
                  mine: dict[str, list[dict[str, Any]]] | None = None) -> list[dict[str, Any]]:
    """Every item of a report's Needs you, ranked, each marked `own` or not (see needs_you).

    A shortfall and the actions that fix it are one entry, which ranks where the most
    urgent of them ranks and is the reader's own when the shortfall is or one of the
    actions that needs its reader this week is.
    """
    mine = mine if mine is not None else routed(metrics, persona, entity)
    cto = _same_persona("CTO", persona)
    found = []
    fixing: set[str] = set()  # actions shown with the problem they fix
    for s in mine["shortfalls"]:
        ranks = []
        if s["urgency"] == "critical":
            ranks.append((0, s["entity"].casefold(), s["title"].casefold()))
        elif s["urgency"] == "high":
            security = s["source"] == "derived" and s.get("persona") == "CTO"
            ranks.append((2 if cto and security else 3, s["entity"].casefold(), s["title"].casefold()))
        urgent = [(a, r) for a in s["fixed_by"] if (r := _action_urgency(a)) is not None]
        ranks += [r for _, r in urgent]
        if not ranks:
            continue
        fixing.update(action_id(a) for a in s["fixed_by"])
        found.append({
            "id": s["id"], "kind": "shortfall", "entity": s["entity"], "project": s.get("project"),
            "what": s["title"], "how": s["urgency"], "urgency": s["urgency"], "persona": s.get("persona"),
            "fixes": s["fixed_by"], "own": owns(s, persona, entity) or any(owns(a, persona, entity) for a, _ in urgent),
            "watch": s["urgency"] == "critical" or any(a["overdue"] and a.get("priority") == 1 for a, _ in urgent),
            "covers": [s["id"], *([_item_id("finding", s["entity"], s.get("project"), s["finding"])]
                                  if s.get("finding") else []), *(action_id(a) for a in s["fixed_by"])],
            "rank": min(ranks),
        })
    for a in mine["actions"]:
        if a["id"] in fixing or (rank := _action_urgency(a)) is None:
            continue
        found.append({
            "id": a["id"], "kind": "action", "entity": a["entity"], "project": a.get("project"),
            "what": a["title"], "how": action_when(a), "priority": a.get("priority"), "due": a.get("due"),
            "persona": a.get("persona"), "problem": a.get("fixes"), "own": owns(a, persona, entity),
            "names": (name_key(a["entity"]), name_key(a["fixes"])) if a.get("fixes") else None,
            "watch": a["overdue"] and a.get("priority") == 1, "covers": [a["id"]], "rank": rank,
        })
    found.sort(key=lambda i: (i["rank"], i["id"]))
    named: set[tuple[str, str]] = set()
    for i in found:  # of two actions that fix the same problem, the first names it
        if i.get("names") in named:
            i["problem"] = None
        named.add(i.get("names"))
    return found


def action_id(a: dict[str, Any]) -> str:
    """An action's id, the same every week (see report_items)."""
    return _item_id("action", a["entity"], a.get("project"), a["title"])


def needs_you(metrics: dict[str, Any], persona: str, entity: str | None = None,
              mine: dict[str, list[dict[str, Any]]] | None = None) -> dict[str, Any]:
    """What one report's reader must act on this week: their own items, and for the CEO what others owe.

    The reader's own (see owns), ranked: critical shortfalls (a short runway is the CFO's,
    an unfixed critical security finding the CTO's), overdue actions (action_order: most
    days late first), unfixed high security findings for the CTO, other high shortfalls,
    then actions due within SOON_DAYS (soonest first); a shortfall with the actions that
    fix it is one item. `items`: the first NEEDS_YOU_SHOWN; `total`: how many in all (the
    subject's count). The CEO's `others`: other personas' critical shortfalls and overdue
    priority-1 actions, at most NEEDS_YOU_SHOWN (`others_total` in all). `shown`: the ids
    of every shortfall, finding and action the list shows, which the sections below leave
    out; `named`: the problems its actions name as what they fix. Each item's `id` stays the
    same from week to week, for dashboard cards. `mine`: routed()'s answer, when the caller
    has it already.
    """
    entries = needs_entries(metrics, persona, entity, mine)
    own = [i for i in entries if i["own"]]
    others = [i for i in entries if not i["own"] and i["watch"]] if _same_persona("CEO", persona) else []
    items, watched = own[:NEEDS_YOU_SHOWN], others[:NEEDS_YOU_SHOWN]
    return {"items": items, "total": len(own), "others": watched, "others_total": len(others),
            "shown": {key for i in items + watched for key in i["covers"]},
            "named": {i["names"] for i in items + watched if i.get("problem")}}


AGE_BUCKETS = ((0, 30, "0–30 days"), (31, 60, "31–60 days"), (61, 90, "61–90 days"), (91, None, "over 90 days"))
NOT_DUE_BUCKET = (None, -1, "not yet due")  # service delivered, its due date still to come


def receivables_aging(receivables: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Receivables grouped by days since due (or service): 0-30, 31-60, 61-90, over 90 (oldest first), then
    those not yet due."""
    buckets = []
    for low, high, label in (*reversed(AGE_BUCKETS), NOT_DUE_BUCKET):
        rows = [r for r in receivables
                if (low is None or r["days_outstanding"] >= low) and (high is None or r["days_outstanding"] <= high)]
        rows.sort(key=lambda r: (-r["days_outstanding"], r["entity"].casefold()))
        buckets.append({"label": label, "rows": rows, "total": _sum(r["amount"] for r in rows)})
    return buckets


def runway_title(e: dict[str, Any], cents: dict[str, bool]) -> str:
    """The derived shortfall of a short runway or of cash below zero, its money at the reports' precision."""
    burn = format_money(e["burn"], cents["burn"]) + "/month"
    if e["runway"] == OVERDRAWN:
        cash = format_money(-e["cash"], cents["cash"])
        return f"Overdrawn by {cash}" + (f", burning {burn}" if e["burn"] > 0 else "")
    return f"Runway {format_months(e['runway'])} months at {burn} burn"


def receivable_age(r: dict[str, Any], as_of: dt.date) -> dict[str, Any]:
    """A receivable aged from the date it was due: its `due`, else service_date + `terms_days`, else
    (no terms given) its service date; `aged_from` says which ("due" or "service")."""
    if r.get("due") is not None:
        since, aged_from = r["due"], "due"
    elif r.get("terms_days") is not None:
        since, aged_from = days_after(r["service_date"], r["terms_days"]), "due"
    else:
        since, aged_from = r["service_date"], "service"
    return {**r, "aged_since": since, "aged_from": aged_from, "days_outstanding": (as_of - since).days}


def expense_period(docs: list[Handoff]) -> dict[str, Any]:
    """The period the expense entries cover: the months their `month:` gives, and for entries without
    one, the dates of the handoffs that list them (the entries are as those handoffs list them)."""
    dated = sorted({x["month"] for d in docs for x in d.data.get("expenses") or [] if x.get("month")})
    undated = [d for d in docs if any(not x.get("month") for x in d.data.get("expenses") or [])]
    updated = sorted(d.data["updated"] for d in undated)
    return {
        "months": dated,
        "undated": sum(1 for d in undated for x in d.data["expenses"] if not x.get("month")),
        "updated_first": updated[0] if updated else None,
        "updated_last": updated[-1] if updated else None,
    }


def receivable_entry(r: dict[str, Any], as_of: dt.date) -> bool:
    """A revenue-recognition entry is a receivable: its service is delivered by the as-of date, not yet paid."""
    return r["service_date"] <= as_of and not (r.get("received") and r["received"] <= as_of)


def _files(docs: list[Handoff]) -> str:
    """The files named in a sentence: 'a.md', 'a.md and b.md'."""
    names = sorted({d.file for d in docs})
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]


def disagreements(by_entity: dict[str, list[Handoff]], as_of: dt.date) -> list[dict[str, Any]]:
    """Derived shortfalls where two keys of one entity give the same figure two ways: what its clients'
    `outstanding` says is owed against the receivables its revenue_recognition entries give."""
    out = []
    for entity, docs in sorted(by_entity.items(), key=lambda kv: kv[0].casefold()):
        client_docs = [d for d in docs if any(c.get("outstanding") is not None for c in d.data.get("clients") or [])]
        entry_docs = [d for d in docs if d.data.get("revenue_recognition")]
        if not client_docs or not entry_docs:
            continue  # one source only: nothing to disagree with
        outstanding = _sum(c.get("outstanding") for d in client_docs for c in d.data["clients"])
        receivable = _sum(
            r["amount"] for d in entry_docs for r in d.data["revenue_recognition"] if receivable_entry(r, as_of)
        )
        if outstanding != receivable:
            out.append({
                "entity": entity, "project": None, "urgency": "medium", "persona": "Accounting Officer",
                "source": "derived",
                "title": (f"Clients' outstanding {format_money_cents(outstanding)} ({_files(client_docs)}, clients) "
                          f"disagrees with receivables {format_money_cents(receivable)} ({_files(entry_docs)}, "
                          f"revenue_recognition): {format_money_cents(abs(receivable - outstanding))} apart"),
            })
    return out


def by_runway(entities: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entities by runway, shortest first (overdrawn ones before all, most overdrawn first); then those
    with no cash figure, not burning, no data."""
    after = (NO_CASH, NOT_BURNING, NO_DATA)

    def key(e: dict[str, Any]) -> tuple[int, float, str]:
        r = e["runway"]
        if r == OVERDRAWN:
            return (-1, float(e["cash"]), e["name"].casefold())
        if isinstance(r, str):
            return (1 + after.index(r) if r in after else len(after) + 1, 0.0, e["name"].casefold())
        return (0, float(r), e["name"].casefold())

    return sorted(entities, key=key)


def kpi_gaps(kpis: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The KPIs short of their target, furthest first: by their gap as a share of the target.

    gap_share = (target - value) / |target| (the other way round when lower is better):
    6 against 10 is 0.4 short, 41 against a ceiling of 30 is 0.367 over. A target of
    zero makes any gap infinitely far ('n/a'): those come first. Ties by entity, then name.
    """
    gaps = []
    for k in kpis:
        if k["state"] != "gap":
            continue
        value, target = _dec(k["value"]), _dec(k["target"])
        gap = target - value if k["better"] == "higher" else value - target
        gaps.append({**k, "gap_share": NOT_APPLICABLE if target == 0 else gap / abs(target)})

    def key(k: dict[str, Any]) -> tuple[bool, Decimal, str, str]:
        unbounded = isinstance(k["gap_share"], str)
        return (not unbounded, Decimal(0) if unbounded else -k["gap_share"],
                k["entity"].casefold(), str(k["name"]).casefold())

    return sorted(gaps, key=key)


def _amount(value: Any) -> Decimal | None:
    """A figure as a Decimal; None for a text ('no data') or nothing."""
    if value is None or isinstance(value, (str, bool)):
        return None
    return _dec(value)


def _largest_first(value: Any) -> tuple[bool, Decimal]:
    """Sort key of an amount, largest first; no amount last."""
    number = _amount(value)
    return (number is None, -number if number is not None else Decimal(0))


def stack_by_entity(stack: list[dict[str, Any]], entities: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The stack by business, costliest first: within one, unused components first (to cancel), then by cost.

    A business's components are ranked unused first, then by monthly cost, largest first
    (not costed last), then by name; businesses by infrastructure cost, then by name.
    """
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in stack:
        groups[s["entity"]].append(s)
    return [
        {"entity": name, "infra_cost": entities[name]["infra_cost"], "savings": entities[name]["savings"],
         "components": sorted(rows, key=lambda s: (s["in_use"], *_largest_first(s.get("monthly_cost")),
                                               str(s["name"]).casefold()))}
        for name, rows in sorted(groups.items(),
                                 key=lambda g: (*_largest_first(entities[g[0]]["infra_cost"]), g[0].casefold()))
    ]


def channels_by_entity(channels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The channels with visits by business, most leads first (then most spend, then name).

    Leads, not spend: every channel with traffic can count its leads, while spend is
    given only for paid channels, so ranking by spend would put a business whose leads
    come free last whatever it brings in. Within a business: most leads first (none
    last), then by name.
    """
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in channels:
        if _amount(c.get("visits")) is not None:
            groups[c["entity"]].append(c)
    out = [
        {"entity": name, "leads": _sum(c.get("leads") for c in rows), "spend": _sum(c.get("spend") for c in rows),
         "channels": sorted(rows, key=lambda c: (*_largest_first(c.get("leads")), str(c["name"]).casefold()))}
        for name, rows in groups.items()
    ]
    return sorted(out, key=lambda g: (-g["leads"], -g["spend"], g["entity"].casefold()))


def cost_per(channel: dict[str, Any], what: str) -> Any:
    """A channel's spend per lead or per sale ('n/a' over zero; None when no spend is given)."""
    named = {"leads": "cost_per_lead", "conversions": "cost_per_sale"}[what]
    if named in channel:  # the figure as the figures define it, when they do
        return channel[named]
    if channel.get("spend") is None or channel.get(what) is None:
        return None
    return _ratio(channel["spend"], channel[what])


@_exact
def channel_totals(channels: list[dict[str, Any]]) -> dict[str, Any]:
    """Spend, leads and sales (conversions) summed over the channels that give each, and the blended cost
    per lead and per sale: the spend of the channels that give a spend and leads (sales) over their leads
    (sales). The channels with leads or sales but no spend are named: they are left out of the blend."""
    paid_leads = [c for c in channels if c.get("spend") is not None and c.get("leads") is not None]
    paid_sales = [c for c in channels if c.get("spend") is not None and c.get("conversions") is not None]
    given = {k: [c for c in channels if c.get(k) is not None] for k in ("spend", "leads", "conversions")}
    unpaid = [c for c in channels
              if c.get("spend") is None and (c.get("leads") is not None or c.get("conversions") is not None)]
    return {
        "spend": _sum(c["spend"] for c in given["spend"]) if given["spend"] else NONE,
        "leads": _sum(c["leads"] for c in given["leads"]) if given["leads"] else NONE,
        "sales": _sum(c["conversions"] for c in given["conversions"]) if given["conversions"] else NONE,
        "cost_per_lead": (_ratio(_sum(c["spend"] for c in paid_leads), _sum(c["leads"] for c in paid_leads))
                          if paid_leads else NO_DATA),
        "cost_per_sale": (_ratio(_sum(c["spend"] for c in paid_sales), _sum(c["conversions"] for c in paid_sales))
                          if paid_sales else NO_DATA),
        "paid": [c for c in channels if c.get("spend") is not None
                 and (c.get("leads") is not None or c.get("conversions") is not None)],
        "unpaid": unpaid,
        "unpaid_leads": _sum(c.get("leads") for c in unpaid),
        "unpaid_sales": _sum(c.get("conversions") for c in unpaid),
    }


def _product(values: list[Any]) -> Decimal:
    """Multiply the values exactly."""
    out = Decimal(1)
    for v in values:
        out *= _dec(v)
    return out


@_exact
def portfolio_figures(entities: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Portfolio totals: sums over the entities that have data."""
    with_data = [e for e in entities.values() if not isinstance(e["burn"], str)]
    cash_values = [e["cash"] for e in entities.values() if not isinstance(e["cash"], str)]
    p: dict[str, Any] = {"entities": len(entities), "entities_with_data": len(with_data)}
    p["cash"] = _sum(cash_values) if cash_values else NO_DATA
    if with_data:
        p["revenue_avg"] = _sum(e["revenue_avg"] for e in with_data)
        p["expenses_avg"] = _sum(e["expenses_avg"] for e in with_data)
        p["burn"] = _sum(e["burn"] for e in with_data)
        p["cash_flow"] = -p["burn"] + 0  # + 0: never -0.00
        p["break_even_gap"] = max(p["burn"], ZERO)
        funded = [e["cash"] for e in with_data if not isinstance(e["cash"], str)]
        p["runway"] = runway(_sum(funded) if funded else NO_CASH, p["burn"])
    else:
        for key in ("revenue_avg", "expenses_avg", "burn", "cash_flow", "break_even_gap", "runway"):
            p[key] = NO_DATA
    projected = [e for e in entities.values() if not isinstance(e["projection"], str)]
    if projected:
        p["growth"] = _sum(e["growth"] for e in projected)
        p["projection"] = [
            {"month": month["month"], "revenue": _sum(e["projection"][i]["revenue"] for e in projected)}
            for i, month in enumerate(projected[0]["projection"])
        ]
    else:
        p["growth"] = p["projection"] = INSUFFICIENT
    # the businesses the growth leaves out (fewer than 3 of the last 6 months): named beside it
    p["entities_with_trend"] = len(projected)
    p["trend_left_out"] = [e["name"] for e in entities.values() if isinstance(e["projection"], str)]
    p["infra_cost"] = _sum(e["infra_cost"] for e in entities.values())
    p["savings"] = _sum(e["savings"] for e in entities.values())
    p["assets_total"] = _valued_total(a for e in entities.values() for a in e["assets"])
    p["assets_count"] = sum(len(e["assets"]) for e in entities.values())
    p["cents"] = money_precision(entities)
    return p


# The figures shown per entity and for the portfolio, each with one precision in every
# report (see shows_cents): the CEO's headline and the CFO's table show the same digits.
MONEY_FAMILIES = ("cash", "revenue_avg", "expenses_avg", "burn", "cash_flow", "break_even_gap", "growth",
                  "projection", "infra_cost", "savings")


def money_precision(entities: dict[str, dict[str, Any]], families: Iterable[str] = MONEY_FAMILIES) -> dict[str, bool]:
    """Per figure family, whether it shows cents: decided once over every entity's amount and their sum."""
    def values(e: dict[str, Any], family: str) -> list[Any]:
        if family == "projection":
            return [] if isinstance(e["projection"], str) else [p["revenue"] for p in e["projection"]]
        return [e[family]]

    # the projection's months are columns of one table, so all of them share a precision
    return {f: shows_cents(v for e in entities.values() for v in values(e, f)) for f in families}


# ---------------------------------------------------------------------------
# History: week over week. The archive keeps each sending run's figures
# (ARCHIVE_DIR/<period>/metrics.json); the headline figures of earlier periods give
# each report its changes and sparklines. Pure functions: the archive is read by the
# storage layer and handed in.

METRICS_SCHEMA = 2  # the version of metrics.json this code writes and reads
LEGACY_RUN = "schema-1"  # a period's one set of figures before schema 2: every report of the period showed it
# given to the reports with the figures, never kept in metrics.json
RUN_CONTEXT = ("history", "report_history", "last_delivery")
HISTORY_LOOKBACK_WEEKS = 53  # how far back a report's last sent period is looked for
SPARK_PERIODS = 8  # sparklines: the period and the seven before it
SPARK_LEVELS = "▁▂▃▄▅▆▇█"
HEADLINE = ("cash", "revenue_avg", "expenses_avg", "burn", "events", "users")
MONEY_HEADLINE = ("cash", "revenue_avg", "expenses_avg", "burn")
PERIOD_RE = re.compile(r"^(\d{4})-W(\d{2})$")
HEADLINE_MAX_ADJUSTED = 30  # a headline figure is under 10**30 (a handoff amount is under 10**15) ...
HEADLINE_MIN_ADJUSTED = -60  # ... and a nonzero one over 10**-60 (quotients keep 34 digits)


def period_start(period: str) -> dt.date | None:
    """The Monday of an ISO week written 2026-W47; None when it is not such a week."""
    match = PERIOD_RE.match(period)
    if not match:
        return None
    try:
        return dt.date.fromisocalendar(int(match.group(1)), int(match.group(2)), 1)
    except ValueError:
        return None


def recent_periods(period: str, n: int = SPARK_PERIODS) -> list[str]:
    """The n ISO weeks ending with `period`, oldest first (fewer near year 1)."""
    monday = period_start(period)
    if monday is None:
        return []
    out = []
    for k in range(n - 1, -1, -1):
        try:
            out.append(iso_period(monday - dt.timedelta(weeks=k)))
        except OverflowError:  # before 0001-01-01
            continue
    return out


def _headline_value(value: Any) -> Decimal | None:
    """A figure as an exact decimal; None for a text figure or anything not finite."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, Decimal)):
        number = Decimal(value)
    elif isinstance(value, (float, str)):
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            return None
    else:
        return None
    if not number.is_finite():
        return None
    # no figure this tool writes is that large or that finely divided: junk in an archived
    # metrics.json, which would print as a line of millions of digits or overflow
    if not number.is_zero() and not HEADLINE_MIN_ADJUSTED <= number.adjusted() < HEADLINE_MAX_ADJUSTED:
        return None
    return number


def headline_figures(metrics: dict[str, Any]) -> dict[str, dict[str, Decimal]]:
    """The headline figures of a run, by scope ('Portfolio' and each entity): numbers only.

    Works on the figures of this run and on a metrics.json read back from the archive,
    so an archive written before `schema` existed is read the same way.
    """
    out: dict[str, dict[str, Decimal]] = {}
    entities = metrics.get("entities") if isinstance(metrics.get("entities"), dict) else {}
    for name, e in entities.items():
        if not isinstance(e, dict):
            continue
        figures = {k: v for k in HEADLINE if (v := _headline_value(e.get(k))) is not None}
        out[str(name)] = figures
    portfolio = metrics.get("portfolio") if isinstance(metrics.get("portfolio"), dict) else {}
    total = {k: v for k in HEADLINE if (v := _headline_value(portfolio.get(k))) is not None}
    for count in ("events", "users"):  # the portfolio's counts: the sum over entities that have them
        values = [f[count] for f in out.values() if count in f]
        if values and count not in total:
            total[count] = sum(values, Decimal(0))
    out[PORTFOLIO_SCOPE] = total
    return out


def sparkline(values: list[Decimal | float | int | None]) -> str:
    """A text sparkline: one of ▁..█ per value, a space for a missing one, flat drawn flat."""
    present = [Decimal(v) if not isinstance(v, Decimal) else v for v in values if v is not None]
    if not present:
        return " " * len(values)
    low, high = min(present), max(present)
    top = len(SPARK_LEVELS) - 1
    out = []
    for v in values:
        if v is None:
            out.append(" ")
        elif high == low:
            out.append(SPARK_LEVELS[top // 2])
        else:
            level = (Decimal(v) - low) / (high - low) * top
            out.append(SPARK_LEVELS[int(level.to_integral_value(rounding=ROUND_HALF_UP))])
    return "".join(out)


def history_figures(
    period: str, now: dict[str, dict[str, Decimal]], earlier: dict[str, dict[str, dict[str, Decimal]]]
) -> dict[str, Any]:
    """Changes against the newest earlier period and sparklines of the last eight periods.

    `now` is this run's headline_figures; `earlier` maps each archived period before this
    one to its headline figures (later periods are never passed in: a run for a past
    as-of date sees only what came before it).
    """
    before = sorted(p for p in earlier if p < period)
    previous = before[-1] if before else None
    change: dict[str, dict[str, Decimal]] = {}
    if previous is not None:
        for scope, figures in now.items():
            old = earlier[previous].get(scope, {})
            change[scope] = {k: v - old[k] for k, v in figures.items() if k in old}
    weeks = recent_periods(period)
    spark: dict[str, dict[str, str]] = {}
    for scope, figures in now.items():
        spark[scope] = {}
        for k in HEADLINE:
            series = [
                figures.get(k) if p == period else earlier.get(p, {}).get(scope, {}).get(k) for p in weeks
            ]
            if sum(v is not None for v in series) >= 2:  # one point is not a trend
                spark[scope][k] = sparkline(series)
                if k == "burn":  # the same drawn as net (earning up), the way the reports name it
                    spark[scope]["net"] = sparkline([None if v is None else -v for v in series])
    last_week = weeks[-2] if len(weeks) >= 2 else None
    return {"period": period, "previous": previous, "previous_is_last_week": previous == last_week,
            "change": change, "spark": spark, "weeks": weeks,
            "previous_figures": earlier[previous] if previous is not None else {}}


@dataclass
class PeriodRecord:
    """What an archived period keeps: the figures (with items) of each run that sent, and which
    run each report's send showed.

    `runs` maps a run's key to its figures; `shown` maps a report id to the key of the run
    its send showed. `shown` is None for a metrics.json written before schema 2, whose one
    set of figures (LEGACY_RUN) every report of the period showed.
    """

    period: str
    runs: dict[str, dict[str, Any]]
    shown: dict[str, str] | None = None

    def run_of(self, report_id: str | None) -> dict[str, Any] | None:
        """The figures a report showed that period, None when it was not sent; report_id None: the newest run."""
        if report_id is None or self.shown is None:
            return next(reversed(self.runs.values()), None)
        key = self.shown.get(report_id)
        return self.runs.get(key) if key is not None else None


def figures_shown(records: dict[str, PeriodRecord], report_id: str | None) -> dict[str, dict[str, dict[str, Decimal]]]:
    """The headline figures a report showed in each archived period in which it was sent."""
    return {p: headline_figures(run) for p, r in records.items() if (run := r.run_of(report_id)) is not None}


def _keep_earliest(into: dict[str, dt.date], days: dict[str, dt.date]) -> None:
    """Add `days` (role -> an export's day) to `into`, each role keeping the earlier day: the oldest export stands."""
    for role, day in days.items():
        into[role] = min(day, into.get(role, day))


def stale_counts(metrics: dict[str, Any]) -> dict[str, dict[str, dt.date]]:
    """Counts read from an export not refreshed since the period before, by scope: the export's day.

    The portfolio's count sums the entities': it is stale when any of them is (the oldest day).
    """
    out = {name: dict(e.get("stale_exports") or {}) for name, e in metrics["entities"].items()}
    portfolio: dict[str, dt.date] = {}
    for days in out.values():
        _keep_earliest(portfolio, days)
    out[PORTFOLIO_SCOPE] = portfolio
    return out


def _same_exports(stale: dict[str, dict[str, dt.date]], exports: dict[str, dict[str, list[str]]],
                  run: dict[str, Any]) -> dict[str, dict[str, dt.date]]:
    """`stale` (see stale_counts) and each count read from the same exports as `run` read, by the day
    of its oldest export; the portfolio's too, when any entity's is."""
    out = {scope: dict(days) for scope, days in stale.items()}
    before = run.get("entities") if isinstance(run.get("entities"), dict) else {}
    for name, roles in exports.items():
        earlier = before.get(name) if isinstance(before.get(name), dict) else {}
        kept = earlier.get("export_times") if isinstance(earlier.get("export_times"), dict) else {}
        for role, times in roles.items():
            if times and kept.get(role) == times:
                day = dt.datetime.fromisoformat(times[0]).date()
                for scope in (name, PORTFOLIO_SCOPE):
                    _keep_earliest(out.setdefault(scope, {}), {role: day})
    return out


def report_history(period: str, report_id: str | None, now: dict[str, dict[str, Decimal]],
                   records: dict[str, PeriodRecord], stale: dict[str, dict[str, dt.date]],
                   items: list[dict[str, Any]] | None = None, as_of: dt.date | None = None,
                   exports: dict[str, dict[str, list[str]]] | None = None) -> dict[str, Any]:
    """One report's history: changes and sparklines against what that report showed in earlier periods.

    `stale` names the counts read from an export not refreshed since the period before; with
    `exports` (each entity's export_times), also those read from the very exports the report's
    last send read, whatever their age: their change would be none, and is not one.

    `previous_items` are the items of its last sent period (see report_items), None when that
    period's metrics.json kept none (schema 1: "not kept that week") or there is no such period.
    With this run's `items`: `changes`, what changed since (item_changes), and when each standing
    inventory last changed; with its `as_of`: `first_of_month`, whether the last send was in
    another month (its as-of date's, or its week's Monday when not kept).
    """
    history = history_figures(period, now, figures_shown(records, report_id))
    previous = history["previous"]
    run = records[previous].run_of(report_id) if previous else None
    before = run.get("items") if run is not None else None
    before = before if isinstance(before, list) else None
    stale = _same_exports(stale, exports, run) if exports is not None and run is not None else stale
    out = {**history, "now": now, "stale": stale, "previous_items": before}
    if items is not None:
        out.update(items=items, changes=item_changes(items, before) if previous else None,
                   inventory_since=inventory_since(period, report_id, items, records))
    if as_of is not None and run is not None:
        try:
            last = dt.date.fromisoformat(str(run.get("as_of")))
        except ValueError:  # not kept, or hand-edited: the week's Monday says which month it was
            last = period_start(previous)
        out["first_of_month"] = last is None or (last.year, last.month) != (as_of.year, as_of.month)
    return out


def _item_text(value: Any) -> str | None:
    """A value of an item as metrics.json keeps it: text (a date in ISO form), None when not given."""
    if value is None or isinstance(value, str):
        return value
    return value.isoformat() if isinstance(value, dt.date) else str(value)


# The standing inventories: lists that stay the same most weeks, shown whole only when
# they changed or a new month begins (each entity's rows are kept as a fingerprint).
INVENTORIES = ("stack", "assets", "rent roll")
INVENTORY_AGES = ("days_since_deploy",)  # what changes every day by itself: not part of the fingerprint


def inventory_rows(metrics: dict[str, Any]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Each standing inventory's rows by entity: the stack, the assets and the rent roll."""
    out: dict[str, dict[str, list[dict[str, Any]]]] = {name: {} for name in INVENTORIES}
    for inventory, rows in (("stack", metrics["stack"]), ("assets", metrics["assets"])):
        for row in rows:
            out[inventory].setdefault(row["entity"], []).append(row)
    for name, e in metrics["entities"].items():
        if e.get("rental"):
            out["rent roll"][name] = e["rental"]["units"]
    return out


def _fingerprint(rows: list[dict[str, Any]]) -> str:
    """A short digest of rows as given (order and ages aside): the same rows give the same digest."""
    kept = sorted(json.dumps({k: v for k, v in row.items() if k not in INVENTORY_AGES}, sort_keys=True, default=str)
                  for row in rows)
    return hashlib.sha256("\n".join(kept).encode()).hexdigest()[:16]


def report_items(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """The items of a run that next week's reports compare with, each with an id that stays the same.

    Every shortfall, unfixed security finding, action (done, overdue, days late), project
    (status, stale or not), KPI (value, target, met or not), each entity's cash and the
    fingerprint of each entity's standing inventories (stack, assets, rent roll). Values
    are JSON (text, numbers, booleans), the same whether made now or read back.
    """
    items: list[dict[str, Any]] = []

    def add(kind: str, entity: str, project: str | None, title: str, key: str, **state: Any) -> None:
        items.append({"id": _item_id(kind, entity, project, key), "kind": kind, "entity": entity,
                      "project": project, "title": title, **state})

    for s in metrics["shortfalls"]:
        add("shortfall", s["entity"], s.get("project"), s["title"], shortfall_key(s), urgency=s["urgency"],
            persona=s.get("persona"))
    for f in metrics["security"]:
        add("finding", f["entity"], f.get("project"), f["finding"], f["finding"], severity=f["severity"])
    for a in metrics["actions"]:
        add("action", a["entity"], a.get("project"), a["title"], a["title"], persona=a.get("persona"),
            priority=a.get("priority"), due=_item_text(a.get("due")), done=a["done"], overdue=a["overdue"],
            days_late=a["days_overdue"])
    for p in metrics["projects"]:
        add("project", p["entity"], p["project"], p["project"], "", status=p["status"], owner=p.get("owner"),
            updated=_item_text(p["updated"]), stale=p["stale"])
    for k in metrics["kpis"]:
        met = {"on target": True, "gap": False}.get(k["state"])  # None: no value or no target
        add("kpi", k["entity"], k.get("project"), k["name"], k["name"], value=_item_text(k.get("value")),
            target=_item_text(k.get("target")), better=k["better"], state=k["state"], met=met,
            unit=k.get("unit"), persona=k.get("persona"))
    for name, e in metrics["entities"].items():
        add("cash", name, None, "cash", "", cash=None if isinstance(e["cash"], str) else _item_text(e["cash"]))
    for inventory, by_entity in inventory_rows(metrics).items():
        for name, rows in by_entity.items():
            add("inventory", name, None, inventory, "", fingerprint=_fingerprint(rows))
    # the same title twice in one project (two actions both "Call the bank") is two items
    seen: dict[str, int] = {}
    for item in items:
        seen[item["id"]] = n = seen.get(item["id"], 0) + 1
        if n > 1:
            item["id"] += f"-{n}"
    return items


ITEM_CHANGES = ("new_shortfalls", "gone_shortfalls", "new_findings", "gone_findings", "actions_done",
                "gone_actions", "newly_overdue", "status_changes", "kpis_met", "kpis_missed", "cash", "newly_stale")


def item_changes(now: list[dict[str, Any]], before: list[dict[str, Any]] | None) -> dict[str, Any]:
    """What changed between an earlier period's items and this run's (both as report_items gives them).

    `kept` is False when the earlier period kept no items (a metrics.json of schema 1): then
    every list is empty and a report says the items were "not kept that week". Otherwise:
    shortfalls and findings new and gone; actions done since (or gone from the handoffs
    undone); actions overdue now that were not (or were not there); status changes
    ({"item", "was"}); KPIs that now meet their target and that no longer do; each entity's
    cash that changed ({"entity", "was", "now", "change"}, exact decimals); projects stale
    now that were not. An earlier item is read with care: a hand-edited file is no error.
    """
    out: dict[str, Any] = {"kept": before is not None, **{k: [] for k in ITEM_CHANGES}}
    if before is None:
        return out
    old = {i["id"]: i for i in before if isinstance(i, dict) and isinstance(i.get("id"), str)}
    new = {i["id"]: i for i in now}
    for kind, plural in (("shortfall", "shortfalls"), ("finding", "findings")):
        out[f"new_{plural}"] = [i for key, i in new.items() if i["kind"] == kind and key not in old]
        out[f"gone_{plural}"] = [i for key, i in old.items() if i.get("kind") == kind and key not in new]
    out["gone_actions"] = [i for key, i in old.items()
                           if i.get("kind") == "action" and not i.get("done") and key not in new]
    for key, item in new.items():
        was = old.get(key, {})
        if item["kind"] == "action":
            if item["done"] and was and not was.get("done"):
                out["actions_done"].append(item)
            if item["overdue"] and not was.get("overdue"):
                out["newly_overdue"].append(item)
        elif item["kind"] == "project":
            if was and was.get("status") != item["status"]:
                out["status_changes"].append({"item": item, "was": was.get("status")})
            if item["stale"] and not was.get("stale"):
                out["newly_stale"].append(item)
        elif item["kind"] == "kpi" and item["met"] is not None and isinstance(was.get("met"), bool):
            if item["met"] != was["met"]:
                out["kpis_met" if item["met"] else "kpis_missed"].append(item)
        elif item["kind"] == "cash":
            cash, before_cash = _headline_value(item["cash"]), _headline_value(was.get("cash"))
            if cash is not None and before_cash is not None and cash != before_cash:
                out["cash"].append({"entity": item["entity"], "was": before_cash, "now": cash,
                                    "change": cash - before_cash})
    return out


# What changed, as a report shows it: each change ranked, most serious first. Bad news
# first (a new critical shortfall, an action newly overdue, a cash fall, ...), then good
# news (what was closed, done or recovered). Lower ranks first.
CHANGE_RANK = {"new_shortfalls": 0, "new_findings": 0, "newly_overdue": 2, "cash_fell": 4, "status_changes": 5,
               "kpis_missed": 6, "newly_stale": 8, "gone_actions": 9, "gone_shortfalls": 10, "gone_findings": 10,
               "actions_done": 11, "kpis_met": 12, "cash_rose": 13}
CHANGE_LEVEL_SHIFT = {"critical": 0, "high": 1, "medium": 5, "low": 5}  # a new medium one ranks after a KPI missed
SECURITY_SHORTFALL = "Unfixed security finding: "  # the title of the shortfall an unfixed finding makes


def _change_reaches(item: dict[str, Any], kind: str, persona: str, entity: str | None) -> bool:
    """Whether a change reaches this reader, routed as the report's own lists are: the CEO sees every
    change; a unit report its entity's; another reader what names its persona, the CTO security
    findings and the CFO each entity's cash too."""
    if _same_persona("CEO", persona):
        return True
    if entity is not None and item.get("entity") == entity:
        return True
    if kind in ("new_findings", "gone_findings"):
        return _same_persona("CTO", persona)
    if kind == "cash":
        return _same_persona("CFO", persona)
    return _same_persona(item.get("persona"), persona)


def report_changes(changes: dict[str, Any], persona: str, entity: str | None = None) -> list[dict[str, Any]]:
    """The changes one report shows (item_changes' lists routed to its reader), most serious first.

    Each is {"kind", "item", "rank"} (a status change also "was"; a cash change is its own
    item: entity, was, now, change). The shortfall an unfixed finding makes is not shown
    beside its finding: a problem is one line.
    """
    findings = {(f.get("entity"), f.get("project"), SECURITY_SHORTFALL + str(f.get("title")))
                for key in ("new_findings", "gone_findings") for f in changes.get(key, [])}
    out = []
    for kind in ITEM_CHANGES:
        for entry in changes.get(kind, []):
            item = entry.get("item", entry) if kind == "status_changes" else entry
            if not _change_reaches(item, kind, persona, entity):
                continue
            if kind in ("new_shortfalls", "gone_shortfalls") and (
                    item.get("entity"), item.get("project"), item.get("title")) in findings:
                continue
            name = ("cash_fell" if entry["change"] < 0 else "cash_rose") if kind == "cash" else kind
            level = item.get("urgency") or item.get("severity")
            rank = CHANGE_RANK[name] + (CHANGE_LEVEL_SHIFT.get(level, 0) if name.startswith("new_") else 0)
            if kind == "cash":
                within: tuple[Any, ...] = (entry["change"] if entry["change"] < 0 else -entry["change"],)
            elif kind == "newly_overdue":
                within = (item.get("priority") if isinstance(item.get("priority"), int) else 99, -item["days_late"])
            elif level in URGENCIES:
                within = (URGENCIES.index(level),)
            else:
                within = ()
            out.append({"kind": kind, "item": item, "was": entry.get("was"),
                        "rank": (rank, *within, str(item.get("entity", "")).casefold(),
                                 str(item.get("title", "")).casefold())})
    out.sort(key=lambda c: c["rank"])
    return out


def inventory_since(period: str, report_id: str | None, items: list[dict[str, Any]],
                    records: dict[str, PeriodRecord]) -> dict[str, str | None]:
    """For each standing inventory item of this run, the earliest period since which the report showed
    it the same, going back over the periods it was sent in; None when its last send showed it otherwise
    (or kept no fingerprint of it)."""
    kept = []  # the fingerprints of each earlier period this report was sent in, newest first
    for p in sorted(records, reverse=True):
        run = records[p].run_of(report_id) if p < period else None
        if run is not None:
            earlier = run.get("items") if isinstance(run.get("items"), list) else []
            kept.append((p, {i.get("id"): i.get("fingerprint") for i in earlier if isinstance(i, dict)}))
    out: dict[str, str | None] = {}
    for item in items:
        if item["kind"] != "inventory":
            continue
        since = None
        for p, prints in kept:
            if prints.get(item["id"]) != item["fingerprint"]:
                break
            since = p
        out[item["id"]] = since
    return out


def inventory_unchanged_since(history: dict[str, Any], inventory: str, entity: str | None = None) -> str | None:
    """The period since which a report has shown this standing inventory unchanged (an entity's, or
    every entity's), when it need not be shown whole again; None when it must be: the report's first,
    the first of a new month, its last report kept no items, or it changed since."""
    previous, before = history.get("previous"), history.get("previous_items")
    if previous is None or before is None or history.get("first_of_month", True):
        return None

    def ids(items: list[dict[str, Any]]) -> set[str]:
        return {i["id"] for i in items if isinstance(i, dict) and i.get("kind") == "inventory"
                and i.get("title") == inventory and (entity is None or i.get("entity") == entity)}

    since = history.get("inventory_since", {})
    now = ids(history.get("items", []))
    if not now or now != ids(before) or any(since.get(k) is None for k in now):
        return None  # none recorded: the section is empty (and named so), never "0 components, unchanged"
    return max(since[k] for k in now)


def change_text(history: dict[str, Any], scope: str, name: str, earning: bool = False) -> str:
    """' (+$600 vs 2026-W46)' for a headline figure; '' when there is no earlier value.

    `earning=True` is for burn shown as earnings (a negative burn): the change is that of
    the earnings, so a fall in burn reads as a rise. Burn that crossed zero since then
    (burning then, earning now, or the other way) names what it was instead, since a
    difference across zero reads as neither: ' (was burning $300/month in 2026-W46)'.
    A count read from an export not refreshed since the period before is not compared: its
    change would be that of an old export: ' (export of 2026-11-14: not refreshed this week,
    so not compared)'.
    """
    previous = history.get("previous")
    delta = history.get("change", {}).get(scope, {}).get(name)
    stale = history.get("stale", {}).get(scope, {}).get(name)  # a count from an export not refreshed
    if previous is not None and stale is not None:
        return f" (export of {stale.isoformat()}: not refreshed this week, so not compared)"
    if previous is None or delta is None:
        return ""
    if name == "burn":
        was = history.get("previous_figures", {}).get(scope, {}).get("burn")
        if was is not None and (was > 0) != (was + delta > 0):  # burning is above zero, as the reports say
            doing = f"burning {format_per_month(was)}" if was > 0 else f"earning {format_per_month(-was)}"
            return f" (was {doing} in {previous})"
        if earning:
            delta = -delta
    money = name in MONEY_HEADLINE
    counts_this_week = history.get("previous_is_last_week") and not money
    when = "this week" if counts_this_week else f"vs {previous}"
    # a change too small to show (a fraction of a cent, as an older, rounded metrics.json gives) is none
    if _round(delta, 2 if money else 0) == 0:
        return f" (unchanged {when})"
    sign = "+" if delta > 0 else "-"
    shown = format_money(abs(delta)) if money else format_count(abs(delta))
    return f" ({sign}{shown} {when})"


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
    tables: str | None = None  # "all": the report shows every entity's DynamoDB figures


@dataclass
class RenderedReport:
    """A report ready to send: its text, its uncut text for the archive and --full, and the Markdown
    both the text and the HTML come from."""

    id: str
    subject: str
    text: str
    full_text: str = ""  # every list whole; the same as text when nothing was cut

    markdown: str = ""
    # The file name the uncut text is attached under (ceo-full.txt) when the text names it;
    # None when nothing was cut, or when the text says the whole list is in the archive.
    attachment: str | None = None
    _html: str | None = field(default=None, init=False, repr=False, compare=False)
    # What makes the uncut Markdown when its text is made only when first read (the
    # archive, --full): a dry run of a big portfolio never reads it, and it is most of the
    # rendering.
    uncut_markdown: Callable[[], str] | None = field(default=None, repr=False, compare=False)
    # The same report rendered again for an email without the attachment (its text names the
    # archive's copy instead), for a message the attachment would make too large to send.
    unattached: Callable[[], RenderedReport] | None = field(default=None, repr=False, compare=False)

    def html(self) -> str:
        """The HTML alternative, made when first asked for (a text-only run never pays for it)."""
        if self._html is None:
            self._html = html_from_markdown(self.markdown, self.subject)
        return self._html


def _full_text(self: RenderedReport) -> str:
    """The uncut text, made from the uncut Markdown when first read."""
    if self.uncut_markdown is not None:
        self._full_text, self.uncut_markdown = text_from_markdown(self.uncut_markdown()), None
    return self._full_text


def _set_full_text(self: RenderedReport, value: str) -> None:
    """Keep the uncut text as given (the dataclass's __init__ sets it through here)."""
    self._full_text = value


# A property set after the class is made, so that full_text stays a field of the dataclass
# (its __init__ argument, repr and comparison) while its text can be made on first read.
RenderedReport.full_text = property(_full_text, _set_full_text)  # type: ignore[assignment]


MAX_LINES = 250  # an email's length bound, whatever the number of handoffs
MIN_SCALE = 1 / 64  # list lengths shrink by halves down to this before giving up


class Cut(list):
    """The rows of a list a report shows, with the rows left out (`rest`) and their count (`more`)."""

    def __init__(self, shown: Iterable[Any], rest: list[Any]) -> None:
        super().__init__(shown)
        self.rest = rest
        self.more = len(rest)


def rank_by(rows: Iterable[Any], attribute: str) -> list[Any]:
    """Rows by a figure, largest first; a row whose figure is a text ('none', 'no data') last."""
    rows = list(rows)

    def key(row: Any) -> tuple[bool, Any]:
        value = row.get(attribute) if isinstance(row, dict) else getattr(row, attribute, None)
        number = isinstance(value, (int, Decimal)) and not isinstance(value, bool)
        return (not number, -value if number else 0)

    return sorted(rows, key=key)


def by_stake(rows: Iterable[Any], *attributes: str) -> list[Any]:
    """Rows by the money at stake, largest first: the sum of the named amounts (a text such as 'no data'
    counts as nothing); rows with no amount at all last, each group in its given order."""
    def key(row: Any) -> tuple[bool, Decimal]:
        amounts = [v for v in (_field(row, a) for a in attributes)
                   if isinstance(v, (int, Decimal)) and not isinstance(v, bool)]
        return (not amounts, -_sum(amounts))

    return sorted(rows, key=key)


def format_unit(value: Any, unit: str | None = None, target: Any = None) -> str:
    """A KPI value in its unit: '%' is a ratio (0.02 is 2.0%; with its target, the decimals that tell
    them apart), '$' money, a word follows the number."""
    if isinstance(value, str) or value is None:
        return value or NO_DATA
    if unit == "%":
        return format_pct(value, target)
    if unit == "$":
        return format_money(value)
    return f"{format_number(value)} {unit}" if unit else format_number(value)


def attachment_name(report_id: str) -> str:
    """The name a cut report's uncut text goes under as the email's attachment: ceo-full.txt."""
    return f"{report_id}-full.txt"


def full_text_key(period: str, report_id: str) -> str:
    """Where the archive keeps a cut report's uncut text: 2026-W47/ceo.full.txt."""
    return f"{period}/{report_id}.full.txt"


def more_line(rows: Any, where: str) -> str:
    """The line under a cut list: how many rows are left out and `where` the whole list is."""
    n = getattr(rows, "more", 0)
    if not n:
        return ""
    return f"… and {format_count(n)} more: the whole list is {where}."


# Totals: a total is the EXACT sum of its rows, rounded once, never a sum of rounded rows,
# so a figure shows the same digits wherever it appears (the CFO's Portfolio row and the
# CEO's headline). A column has one precision, its total too (shows_cents). Where the rows
# as shown do not add up to the total, rounding_note says so in a line under the table. A
# cut list's "N more" row is the exact sum of the hidden rows, rounded once, the same way.


def _field(row: Any, attribute: str | None) -> Any:
    """A row's value at a dotted attribute (a key of a dict or an attribute); the row itself when None."""
    if attribute is None:
        return row
    for part in attribute.split("."):
        if isinstance(row, list):  # projection.0.revenue: a list item by its index
            row = row[int(part)] if part.isdigit() and int(part) < len(row) else None
        else:
            row = row.get(part) if isinstance(row, dict) else getattr(row, part, None)
    return row


def column_cents(rows: Iterable[Any], attribute: str | None = None) -> bool:
    """The templates' `cents_for`: whether a column of the rows' amounts shows cents (shows_cents)."""
    return shows_cents(_field(r, attribute) for r in rows)


def money_total(rows: Iterable[Any], attribute: str | None = None, cents: bool | None = None,
                empty: str = NONE) -> str:
    """A total row's amount: the exact sum of the rows' amounts, rounded once at the column's precision
    (`cents`, or the rows' own by shows_cents when not given); `empty` when no row has an amount."""
    amounts = _amounts(_field(r, attribute) for r in rows)
    if not amounts:
        return empty
    return format_money(_sum(amounts), column_cents(amounts) if cents is None else cents)


def _shown(value: Decimal, cents: bool) -> Decimal:
    """An amount as a column of this precision shows it."""
    return _round(value, 2 if cents else 0)


def rounding_note(rows: Any, columns: Iterable[tuple[str, str | None]],
                  cents: bool | dict[str, bool] | None = None, total_rows: Any = None) -> str:
    """The line under a table whose rounded rows do not add up to its exact total; '' when they do.

    `rows` are the rows shown (a cut list's hidden rows count as its one "N more" row);
    `columns` are (label, attribute) for each money column with a total; `cents` their
    precision (one for all, or by attribute; the column's own when not given); `total_rows`
    are the rows the total sums (default: every row, shown or not).
    """
    shown_rows = list(rows)
    rest = list(getattr(rows, "rest", []))
    every = list(total_rows) if total_rows is not None else shown_rows + rest
    columns = list(columns)
    parts = []
    for label, attribute in columns:
        exact = _amounts(_field(r, attribute) for r in every)
        if not exact:
            continue
        given = cents.get(attribute) if isinstance(cents, dict) else cents
        precision = column_cents(exact) if given is None else given
        hidden = _amounts(_field(r, attribute) for r in rest)
        shown = [_shown(a, precision) for a in _amounts(_field(r, attribute) for r in shown_rows)]
        added = _sum(shown) + (_shown(_sum(hidden), precision) if hidden else 0)
        total = _shown(_sum(exact), precision)
        if added != total:
            which = "rows" if len(columns) == 1 else f"{label} rows"
            parts.append(f"the rounded {which} add up to {format_money(added, precision)} (exact total "
                         f"{format_money(total, precision)})")
    sentence = "; ".join(parts)  # one sentence: only its first word capitalized
    return f"{sentence[:1].upper()}{sentence[1:]}." if parts else ""


def _cutter(scale: float | None) -> Callable[[Iterable[Any], int], Cut]:
    """The templates' `cut(list, n)`: the first n rows (scaled), or every row when scale is None."""

    def cut(items: Iterable[Any], n: int) -> Cut:
        rows = list(items)
        if scale is None:
            return Cut(rows, [])
        keep = max(1, int(n * scale))
        return Cut(rows[:keep], rows[keep:])

    return cut


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]>#!])")
# What a value must not open a Markdown line with: a list item, a rule, a setext underline.
_MD_LINE_START = re.compile(r"^(\s*)(?:([-+])|(=)|(\d+)\.(?=\s|$))")


def _escape_line_start(match: re.Match[str]) -> str:
    """Escape what a value opens with, so that it cannot start a Markdown block."""
    lead, sign, equals, number = match.groups()
    if sign:
        return f"{lead}\\{sign}"
    if equals:
        return f"{lead}&#61;"  # Markdown has no backslash escape for '='
    return f"{lead}{number}\\."


# A character that clean_text or md_escape would change, or a run of spaces (made one).
# Text without any, and not opening like a Markdown block, is its own escape: most names
# and titles are, and a big portfolio's reports escape a few hundred thousand of them.
_MD_TOUCHED = re.compile(
    r"[\\`*_{}\[\]>#!&<|\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"  # escaped, shown or dropped
    r"|[^\S ]| {2}"  # whitespace made one space
)


def md_escape(value: Any) -> Any:
    """Escape text from handoffs so Markdown shows it as written, on one line."""
    if value is None:
        return "—"
    if not isinstance(value, str):
        return value
    if _MD_TOUCHED.search(value) is None and _MD_LINE_START.match(value) is None:
        return value  # what _md_escape_text gives it (tests/test_fast_paths.py)
    return _md_escape_text(value)


def _md_escape_text(value: str) -> str:
    """md_escape of any text: every step applied."""
    value = _MD_SPECIAL.sub(r"\\\1", clean_text(value))
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace("|", "&#124;")
    return _MD_LINE_START.sub(_escape_line_start, value)


def plain_text(value: Any) -> Any:
    """Template output for a subject line: text on one line, nothing escaped."""
    if value is None:
        return "—"
    return clean_text(value) if isinstance(value, str) else value


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
        if meta.get("tables") not in (None, "all"):
            raise ConfigError(f"{path}:2: tables must be 'all' (the report shows every entity's DynamoDB figures)")
        reports.append(ReportTemplate(
            id=path.stem, path=path, title=meta["title"], persona=meta["persona"], subject=meta["subject"],
            entity=meta.get("entity"), order=order, body=body, body_line=front.count("\n") + 3,
            tables=meta.get("tables"),
        ))
    if not reports:
        raise ConfigError(f"{reports_dir}: no report templates (*.md)")
    seen: dict[str, ReportTemplate] = {}
    for r in reports:  # ids are matched in any case, and name their own EXEC_REPORT_TO_<ID> setting
        other = seen.setdefault(report_setting(r.id), r)
        if other is not r:
            raise ConfigError(
                f"{r.path}: report id {r.id!r} cannot be told apart from {other.id!r} ({other.path}) in --only "
                f"or {report_setting(r.id)}; rename one of the two files"
            )
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


# What a template may make. A template is a file anyone with the folder can edit, run by
# cron: it gets Jinja2's sandbox (no Python beyond its figures: `''.__class__` is refused,
# nothing it is given can be changed) and bounded work, so a slip cannot hang the run.
TEMPLATE_RANGE_BUDGET = 1_000_000  # items of every range() one render makes, together
TEMPLATE_REPEAT_MAX = jinja2.sandbox.MAX_RANGE  # items or characters of one `text * n` or `list * n`
TEMPLATE_POWER_BITS = 4096  # the largest number `a ** b` may make, in bits


def _spend(context: jinja2.runtime.Context, items: int, what: str) -> None:
    """Count `items` of one render's range budget, refusing the render once it is spent."""
    spent = getattr(context, "_range_spent", 0) + items
    if spent > TEMPLATE_RANGE_BUDGET:
        raise jinja2.sandbox.SecurityError(
            f"{what} takes the template past {format_count(TEMPLATE_RANGE_BUDGET)} loop items in one report"
        )
    context._range_spent = spent  # type: ignore[attr-defined]  # one Context per render


@jinja2.pass_context
def _bounded_range(context: jinja2.runtime.Context, *args: int) -> range:
    """range() in a template: at most MAX_RANGE items, and TEMPLATE_RANGE_BUDGET in one render."""
    items = range(*args)
    call = f"range({', '.join(map(str, args))})"
    if len(items) > jinja2.sandbox.MAX_RANGE:
        raise jinja2.sandbox.SecurityError(
            f"{call} has more than {format_count(jinja2.sandbox.MAX_RANGE)} items"
        )
    _spend(context, len(items), call)
    return items


class _Environment(jinja2.sandbox.ImmutableSandboxedEnvironment):
    """Jinja2's immutable sandbox, refusing arithmetic that would make a huge value."""

    intercepted_binops = frozenset({"*", "**"})  # the two that make a huge value from a short expression

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any) -> Any:
        """`a * b` and `a ** b` in a template, refused when the value they make would be huge."""
        if operator == "**" and isinstance(left, int) and isinstance(right, int) and abs(left) > 1 \
                and right * abs(left).bit_length() > TEMPLATE_POWER_BITS:
            raise jinja2.sandbox.SecurityError(f"{left} ** {right} is too large a number for a report")
        if operator == "*" and isinstance(left, int) != isinstance(right, int):
            times, value = (left, right) if isinstance(left, int) else (right, left)
            if isinstance(value, (str, list, tuple)) and times * len(value) > TEMPLATE_REPEAT_MAX:
                unit = "characters" if isinstance(value, str) else "items"
                raise jinja2.sandbox.SecurityError(
                    f"a value repeated {format_count(times)} times makes more than "
                    f"{format_count(TEMPLATE_REPEAT_MAX)} {unit}"
                )
        return super().call_binop(context, operator, left, right)


class QuietSections:
    """The templates' `section` and `inventory`, for one rendering: a section with nothing in it is no
    heading with "none." under it, but a name in one line at the end; a standing inventory shown
    the same as last time is one line.

    `{% call section("Stale handoffs", rows, "stale handoffs") %}...{% endcall %}` writes the
    heading (level 2; level 0: a lead-in line) and the body when `rows` is not empty, and
    otherwise records the name (none: a parent section whose parts name themselves).
    `{% call inventory("stack", "Stack: 14 components, $1,138/month") %}...{% endcall %}` writes the
    body when the report must show the inventory whole, else the summary and since when.
    """

    def __init__(self, history: dict[str, Any], entity: str | None) -> None:
        self.history, self.entity, self.empty = history, entity, []

    def section(self, heading: str, rows: Any, empty: str | None = None, level: int = 2, *,
                caller: Callable[[], str]) -> str:
        """The section's heading and body, or nothing (its name recorded) when it has no rows."""
        if not rows:
            if empty:
                self.empty.append(empty)
            return ""
        title = md_escape(heading)
        if level:
            return f"{'#' * level} {title}\n\n{caller()}"
        return f"{title}\n\n{caller()}" if title else caller()

    def inventory(self, name: str, summary: str, *, caller: Callable[[], str]) -> str:
        """A standing inventory: whole, or one line saying since when it is unchanged."""
        since = inventory_unchanged_since(self.history, name, self.entity)
        return caller() if since is None else f"{md_escape(summary)}, unchanged since {since}.\n\n"

    def line(self) -> str:
        """The closing line naming the empty sections; '' when none was."""
        return f"\n\nNothing this week in: {md_escape(', '.join(self.empty))}.\n" if self.empty else ""


def jinja_env(reports: Iterable[ReportTemplate] = ()) -> jinja2.Environment:
    """The template environment: strict, escaping handoff text for Markdown.

    Each report's body is the template named by its id, and its subject `<id>:subject`;
    the body keeps its file's line numbers, so errors name the right line. The same
    templates give the same environment, its compiled templates kept: a warm Lambda
    container (or any second run in one process) does not load them again.
    """
    return _jinja_env(tuple((r.id, "\n" * (r.body_line - 1) + r.body, r.subject, str(r.path)) for r in reports))


@functools.lru_cache(maxsize=4)
def _jinja_env(templates: tuple[tuple[str, str, str, str], ...]) -> jinja2.Environment:
    """jinja_env's environment for these (id, body, subject, path) templates."""
    sources: dict[str, tuple[str, str]] = {}
    for rid, body, subject, path in templates:
        sources[rid] = (body, path)
        sources[f"{rid}:subject"] = (subject, path)

    def load(name: str) -> tuple[str, str, Callable[[], bool]] | None:
        return (*sources[name], lambda: True) if name in sources else None

    # Compiled code differs with the sandbox (its calls and operators go through it): a
    # template compiled without it, by an earlier version, must never be loaded.
    how = hashlib.sha256(repr((_Environment.sandboxed, sorted(_Environment.intercepted_binops))).encode())
    pattern = f"__send_exec_reports_{how.hexdigest()[:12]}_%s.cache"
    try:
        cache: jinja2.BytecodeCache | None = _TemplateCache(pattern=pattern)
    except (OSError, RuntimeError) as exc:  # no private cache folder can be made
        log.debug("no template cache: %s", exc)
        cache = None
    env = _Environment(
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
        money_cents=format_money_cents, money_total=money_total, rank=rank_by, unit=format_unit,
        when_due=format_due, trend=format_trend, cents_for=column_cents, fix=fix_text, when=action_when,
    )
    env.globals.update(aging=receivables_aging, by_runway=by_runway, cost_per=cost_per, by_stake=by_stake,
                       change_text=change_text, rounding_note=rounding_note, range=_bounded_range,
                       above=above_line, unpaired=unpaired, below=below, soon_days=SOON_DAYS)
    del env.globals["lipsum"]  # placeholder text, up to any length asked: no use in a report
    # a template rendered by itself (no report around it): sections and inventories whole, nothing named
    quiet = QuietSections({}, None)
    env.globals.update(section=quiet.section, inventory=quiet.inventory)
    return env


def _cols(text: str) -> int:
    """How many terminal columns text takes (CJK characters take two, accents none)."""
    if text.isascii():
        return len(text)
    return sum(
        2 if unicodedata.east_asian_width(ch) in "WF" else 0 if unicodedata.combining(ch) else 1 for ch in text
    )


def _shorten(text: str, width: int) -> str:
    """Text cut to at most `width` columns, a cut marked with "…"."""
    if _cols(text) <= width:
        return text
    out = ""
    for ch in text:
        if _cols(out + ch) > width - 1:
            break
        out += ch
    if " " in out[width * 2 // 3:] and not text[len(out)].isspace():  # cut between words when that keeps most
        out = out[: out.rindex(" ")]
    return out.rstrip(" -–—,;:") + "…"


_WRAP_SPACES = {ord(c): " " for c in "\t\n\x0b\x0c\r"}  # the whitespace textwrap breaks at, as a space
_WRAP_CHUNK_RE = re.compile(r"( +)")


def _wrap_columns(text: str, width: int, indent: str) -> list[str]:
    """Text wrapped as textwrap wraps it (no hyphen breaks, long words whole), at `width` terminal
    columns rather than characters: a CJK character takes two, an accent none. Later lines indented."""
    if _cols(text) == len(text):  # no wide character and no accent: columns are characters
        return textwrap.wrap(text, width, subsequent_indent=indent, break_on_hyphens=False, break_long_words=False)
    chunks = [c for c in _WRAP_CHUNK_RE.split(text.expandtabs().translate(_WRAP_SPACES)) if c]
    chunks.reverse()
    lines: list[str] = []
    while chunks:
        line: list[str] = []
        room = width - (len(indent) if lines else 0)
        if lines and not chunks[-1].strip():  # a later line starts at a word
            chunks.pop()
        used = 0
        while chunks and used + _cols(chunks[-1]) <= room:
            used += _cols(chunks[-1])
            line.append(chunks.pop())
        if chunks and not line and _cols(chunks[-1]) > room:  # a word wider than the line: whole, alone
            line.append(chunks.pop())
        if line and not line[-1].strip():
            line.pop()
        if line:
            lines.append((indent if lines else "") + "".join(line))
    return lines


def _pad(text: str, width: int, right: bool) -> str:
    """Pad text to `width` columns, on the left for numbers."""
    fill = " " * max(0, width - _cols(text))
    return fill + text if right else text + fill


SHORTEN_FLOOR = 20  # a text column is never cut narrower than this: below it the table becomes a list


def layout_table(rows: list[list[str]], right: list[bool], width: int = WRAP_WIDTH) -> str:
    """Lay out a table as aligned plain-text columns that fit `width`, one line per row.

    Columns are separated by " | ", headers underlined with dashes, numbers right-
    aligned. A cell never wraps onto a line of its own (in a proportional font the
    empty cells beside it become lone pipes): when the table is too wide, its widest
    text columns after the first are shortened with "…", never below SHORTEN_FLOOR
    columns, and when that is not enough, or two rows would read the same once cut, the
    table becomes a list. The first column names the row and numbers are never cut.
    """
    ncols = max(len(r) for r in rows)
    rows = [r + [""] * (ncols - len(r)) for r in rows]
    right = (right + [False] * ncols)[:ncols]
    widths = [max(_cols(r[c]) for r in rows) for c in range(ncols)]
    sep = " | "  # columns stay apart in a proportional font too (Gmail shows plain text so)
    floors = [widths[c] if right[c] or c == 0 else min(widths[c], SHORTEN_FLOOR) for c in range(ncols)]
    while sum(widths) + len(sep) * (ncols - 1) > width:
        shrinkable = [c for c in range(ncols) if widths[c] > floors[c]]
        if not shrinkable:
            return table_as_list(rows, right, width)
        widths[max(shrinkable, key=lambda c: (widths[c], -c))] -= 1

    def line(cells: list[str]) -> str:
        return sep.join(_pad(_shorten(t, w), w, r) for t, w, r in zip(cells, widths, right, strict=True)).rstrip()

    body = [line(r) for r in rows[1:]]
    if len(set(body)) < len({tuple(r) for r in rows[1:]}):  # rows the cut made alike read as one listed twice
        return table_as_list(rows, right, width)
    return "\n".join([line(rows[0]), "-+-".join("-" * w for w in widths), *body])


def table_as_list(rows: list[list[str]], right: list[bool], width: int = WRAP_WIDTH) -> str:
    """A table too wide for the line, as a list: one item per row, each cell after its column's name.

    The row's name (its first cell, and the second when that is text too) leads the item;
    empty cells are left out.
    """
    header = rows[0]
    lead = 2 if len(header) > 1 and not right[1] else 1
    items = []
    for r in rows[1:]:
        name = ", ".join(t for t in r[:lead] if t)
        # a cell stays on the line of its column's name ("Conv. 4.0%"): a no-break space until wrapped
        rest = ", ".join(f"{h}\xa0{t}" if h else t for h, t in zip(header[lead:], r[lead:], strict=True) if t)
        item = "  - " + ": ".join(part for part in (name, rest) if part)
        items.append("\n".join(_wrap_columns(item, width, "    ")).replace("\xa0", " "))
    return "\n".join(items)


_LIST_ITEM_RE = re.compile(r"^(\s*)([-*+]|\d+\.) ")
# Marks of the template's own structure in html2text's output. They are control
# characters, which no text can carry to this point (clean_text makes them visible),
# so a handoff's "# Title" or "@@TABLE0@@" stays text.
_HEADING_MARK = "\x0e"
_RULE_MARK = "\x0f"
_TABLE_MARK = "\x10"
_TEMPLATE_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # all but tab and line break
_TEXT_HEADING_RE = re.compile(rf"^(#{{1,6}}) {_HEADING_MARK}(.*)$")
_TEXT_TABLE_RE = re.compile(rf"{_TABLE_MARK}(\d+){_TABLE_MARK}")
_TABLE_ROW_RE = re.compile(r"^\s*\|")
_TABLE_RULE_RE = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")
_CELL_SPLIT_RE = re.compile(r"(?<!\\)\|")
_MD_UNESCAPE_RE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!>|])")


def _cells(row: str) -> list[str]:
    """The cells of a Markdown table row, as plain text."""
    row = row.strip()
    row = row[1:] if row.startswith("|") else row
    row = row[:-1] if row.endswith("|") and not row.endswith("\\|") else row
    if "\\" not in row:  # most rows: no escaped pipe to keep, nothing to unescape (same cells, 4x faster)
        return [html.unescape(c.strip()) if "&" in c else c.strip() for c in row.split("|")]
    return [html.unescape(_MD_UNESCAPE_RE.sub(r"\1", c.strip())) for c in _CELL_SPLIT_RE.split(row)]


def _table_starts(lines: list[str], i: int) -> bool:
    """Whether a Markdown table starts at lines[i]: a row, then a rule under it."""
    return bool(_TABLE_ROW_RE.match(lines[i]) and i + 1 < len(lines) and "-" in lines[i + 1]
                and _TABLE_RULE_RE.match(lines[i + 1]))


def _split_tables(md: str) -> tuple[str, list[tuple[list[list[str]], list[bool]]]]:
    """Take every Markdown table out as rows of plain-text cells and right-alignment flags.

    The text and the HTML find the same tables here, and a table's cells are plain text
    from then on: nothing in a cell can become markup.
    """
    lines = md.split("\n")
    out: list[str] = []
    tables: list[tuple[list[list[str]], list[bool]]] = []
    i = 0
    while i < len(lines):
        if _table_starts(lines, i):
            right = [c.endswith(":") for c in _cells(lines[i + 1])]
            rows = [_cells(lines[i])]
            i += 2
            while i < len(lines) and _TABLE_ROW_RE.match(lines[i]):
                rows.append(_cells(lines[i]))
                i += 1
            tables.append((rows, right))
            out += ["", f"{_TABLE_MARK}{len(tables) - 1}{_TABLE_MARK}", ""]
            continue
        out.append(lines[i])
        i += 1
    return "\n".join(out), tables


@functools.cache
def _markdown() -> markdown.Markdown:
    """One Markdown converter for the run (building one costs more than converting a report)."""
    return markdown.Markdown()


class _TextConverter(html2text.HTML2Text):
    """html2text that shows text as written and marks the template's headings and rules."""

    def handle_data(self, data: str, entity_char: bool = False) -> None:
        """Text as written: html2text writes Markdown, and would backslash-escape '1.', '- ' or '\\-'."""
        super().handle_data(data, entity_char=True)

    def handle_tag(self, tag: str, attrs: dict[str, str | None], start: bool) -> None:
        """Headings and rules as html2text writes them, with a mark only a template can produce."""
        if tag == "hr":
            if start:
                self.p()
                self.o(_RULE_MARK)
                self.p()
            return
        super().handle_tag(tag, attrs, start)
        if start and tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self.o(_HEADING_MARK)


# An item's text that opens a numbered list inside it ("- 1. "): that list's item may be
# empty ("- 1. " alone, "- 1. [x]: url"), and html2text writes an item that shows nothing
# on the next item's line, so such an item is never counted as a line of its own.
_ORDERED_OPENING_RE = re.compile(r"\d+[.)](?:\s|$)")


def text_lines_pass(md: str, bound: int) -> bool:
    """Whether the text made from md certainly has more than `bound` lines, told from its tables and lists.

    Every table row below the header with a cell that is not blank becomes at least one
    line that is not blank (a row or, in a table shown as a list, an item), and so does every item of a list of `- `
    lines that follows a blank line, when its text starts with a letter or digit and
    does not open a numbered list (an item that shows nothing, such as `- [x]: url` or
    `- 1. `, shares the next one's line); only blank lines are ever merged. Markdown
    from a template's first `<` on is not counted, neither rows nor items: raw HTML
    there could hold the lines that follow it (a table inside `<div>` shares one line,
    inside `<!--` it shows nothing), but never those before it. So a report whose rows
    and items alone pass the email's bound need not be converted to learn it. Lines are
    counted only until they pass it, and whatever follows a line never changes whether
    it counts.
    """
    md = _TEMPLATE_CONTROLS.sub(_control_picture, md)
    lines = md.split("\n")
    first_html = md.count("\n", 0, md.index("<")) if "<" in md else len(lines)
    count = i = 0
    listed = False  # the line before is a counted list item
    while i < len(lines):
        if _table_starts(lines, i):
            rows = []  # the header and its rule are lines of a table, but not of one shown as a list
            i += 2
            while i < len(lines) and _TABLE_ROW_RE.match(lines[i]):
                rows.append(i)
                i += 1
            for row in rows:
                count += row < first_html and any(not c.isspace() and c for c in _cells(lines[row]))
                if count > bound:
                    return True
            listed = False
            continue
        listed = (i < first_html and lines[i].startswith("- ") and lines[i][2:3].isalnum()
                  and not _ORDERED_OPENING_RE.match(lines[i], 2)
                  and (listed or (i > 0 and lines[i - 1] == "")))
        count += listed
        if count > bound:
            return True
        i += 1
    return False


def _wrap_line(line: str, width: int) -> list[str]:
    """A line of text wrapped at `width`, list items and indented lines hanging under their text."""
    # Most lines fit: then textwrap's answer is the line itself, as long as nothing in it is
    # rewritten (a tab is expanded, other whitespace becomes a space or is dropped at the end:
    # printable text holds no whitespace but the space) and it does not end in a space.
    # Building a TextWrapper and splitting the line into words costs more than the rest of the loop.
    if width > 0 and _cols(line) <= width and line.isprintable() and not line.endswith(" "):
        return [line] if line else [""]
    item = _LIST_ITEM_RE.match(line)
    indent = " " * (len(item.group(0)) if item else len(line) - len(line.lstrip()))
    return _wrap_columns(line, width, indent) or [""]


def text_from_markdown(md: str, width: int = WRAP_WIDTH) -> str:
    """Markdown to plain text for email: aligned tables, wrapped lines, no markup."""
    md, parts = _split_tables(_TEMPLATE_CONTROLS.sub(_control_picture, md))
    tables = [layout_table(rows, right, width) for rows, right in parts]
    conv = _TextConverter(bodywidth=0)
    conv.ignore_emphasis = True
    conv.ignore_links = True
    conv.ignore_images = True
    conv.unicode_snob = True
    conv.ul_item_mark = "-"
    out: list[str] = []
    for line in conv.handle(_markdown().reset().convert(md)).splitlines():
        line = line.rstrip()
        heading = _TEXT_HEADING_RE.match(line)
        table = _TEXT_TABLE_RE.fullmatch(line.strip())
        if heading:
            title = heading.group(2).strip()
            level = len(heading.group(1))
            lines = _wrap_line(title.upper() if level == 1 else title, width)  # a name and a period can be long
            out.extend(lines)
            if level <= 2:
                out.append(("=" if level == 1 else "-") * max(map(_cols, lines)))
        elif table:
            out.append(tables[int(table.group(1))])
        elif line == _RULE_MARK:
            out.append("-" * width)
        elif _TABLE_MARK in line:  # a table inside a template's raw HTML shares a line with its text
            for k, piece in enumerate(_TEXT_TABLE_RE.split(line)):
                if k % 2:
                    out.append(tables[int(piece)])
                elif piece.strip():
                    out.extend(_wrap_line(piece.strip(), width))
        else:
            out.extend(_wrap_line(line, width))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip() + "\n"


# The HTML alternative (EMAIL_FORMAT=text+html). Mail clients drop <style> blocks and
# block remote content, so every element carries its own inline style; the page is one
# column of at most 600 px, the width mail clients are designed for.
_FONT = "-apple-system,'Segoe UI',Helvetica,Arial,sans-serif"
_TH = "padding:4px 6px;border-bottom:2px solid #999;vertical-align:bottom;"
_TD = "padding:3px 6px;border-bottom:1px solid #ddd;vertical-align:top;"
_NUMBERS = "white-space:nowrap;"  # an amount never breaks across lines
_HTML_STYLES = {  # the allow-list: every element the HTML part may hold, and its style
    "h1": "font-size:20px;margin:0 0 12px;",
    "h2": "font-size:16px;margin:22px 0 8px;padding-bottom:3px;border-bottom:1px solid #cccccc;",
    "h3": "font-size:14px;margin:16px 0 6px;",
    "h4": "font-size:14px;margin:12px 0 4px;",
    "h5": "font-size:13px;margin:12px 0 4px;",
    "h6": "font-size:13px;margin:12px 0 4px;",
    "p": "margin:0 0 10px;",
    "ul": "margin:0 0 10px;padding-left:22px;",
    "ol": "margin:0 0 10px;padding-left:22px;",
    "li": "margin:0 0 3px;",
    "blockquote": "margin:0 0 10px;padding-left:10px;border-left:3px solid #cccccc;color:#555555;",
    "pre": "margin:0 0 10px;white-space:pre-wrap;font-family:Menlo,Consolas,monospace;font-size:12px;",
    "code": "font-family:Menlo,Consolas,monospace;font-size:12px;",
    "em": "",
    "strong": "",
    "hr": "border:0;border-top:1px solid #cccccc;margin:20px 0 10px;",
    "br": "",
}
_HTML_VOID = {"hr", "br"}
_HTML_DROPPED = {"script", "style", "head", "title", "template", "iframe", "object", "svg", "math", "textarea"}


class _AllowList(html.parser.HTMLParser):
    """Rebuilds HTML keeping only allowed elements, with our styles and no other attribute.

    Anything else (a link, an image, raw HTML a template holds) loses its tags and keeps
    its text, escaped; scripts and styles lose their content too.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.dropping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Keep an allowed element's start tag, without its attributes."""
        if tag in _HTML_DROPPED:
            self.dropping += 1
        elif tag in _HTML_STYLES and not self.dropping:
            style = _HTML_STYLES[tag]
            self.out.append(f'<{tag} style="{style}">' if style else f"<{tag}>")

    def handle_endtag(self, tag: str) -> None:
        """Keep an allowed element's end tag."""
        if tag in _HTML_DROPPED:
            self.dropping = max(0, self.dropping - 1)
        elif tag in _HTML_STYLES and tag not in _HTML_VOID and not self.dropping:
            self.out.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        """Text, escaped again: it can never become markup."""
        if not self.dropping:
            self.out.append(html.escape(data, quote=False))


def _html_table(rows: list[list[str]], right: list[bool]) -> str:
    """A table as HTML: a header row, then the body, numbers right-aligned, every cell plain text."""
    ncols = max(len(r) for r in rows)
    right = (right + [False] * ncols)[:ncols]

    def row(cells: list[str], tag: str, style: str) -> str:
        cells = cells + [""] * (ncols - len(cells))
        return "<tr>" + "".join(
            f'<{tag} style="{style}text-align:{"right" if r else "left"};'
            f'{_NUMBERS if r and tag == "td" else ""}">{html.escape(c, quote=False)}</{tag}>'
            for c, r in zip(cells, right, strict=True)
        ) + "</tr>"

    body = [row(r, "td", _TD) for r in rows[1:]]
    return "\n".join([
        '<div style="overflow-x:auto;margin:0 0 12px;">',
        '<table style="border-collapse:collapse;width:100%;font-size:13px;">',
        f"<thead>{row(rows[0], 'th', _TH)}</thead>",
        "<tbody>", *body, "</tbody>",
        "</table>",
        "</div>",
    ])


def html_from_markdown(md: str, subject: str) -> str:
    """The HTML alternative of a report, from the same Markdown as its text.

    Tables are taken out exactly as for the text, and the rest goes through Markdown
    and then an allow-list of elements: whatever a handoff or template holds, the page
    has no script, link, image, external resource or attribute but our inline styles.
    """
    md, tables = _split_tables(_TEMPLATE_CONTROLS.sub(_control_picture, md))
    keep = _AllowList()
    keep.feed(_markdown().reset().convert(md))
    keep.close()
    body = "".join(keep.out)
    body = re.sub(
        rf"(?:<p[^>]*>)?{_TABLE_MARK}(\d+){_TABLE_MARK}(?:</p>)?",
        lambda m: _html_table(*tables[int(m.group(1))]),
        body,
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(subject, quote=False)}</title>\n</head>\n"
        '<body style="margin:0;padding:0;background:#ffffff;">\n'
        f'<div style="max-width:600px;margin:0 auto;padding:16px;font-family:{_FONT};font-size:14px;'
        f'line-height:1.45;color:#222222;">\n{body}\n</div>\n</body>\n</html>\n'
    )


def period_line(metrics: dict[str, Any]) -> str:
    """The period with its dates: 2026-W47 (week of Mon 16 Nov 2026; as of 2026-11-22)."""
    as_of = metrics["as_of"]
    monday = as_of - dt.timedelta(days=as_of.weekday())
    month = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")[monday.month - 1]
    return f"{metrics['period']} (week of Mon {monday.day} {month} {monday.year}; as of {as_of.isoformat()})"


def report_tables(report: ReportTemplate, metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """The DynamoDB tables a report shows figures from: all, its entity's, or none."""
    info = metrics["sources"]["table_info"]
    if report.tables == "all":
        return info
    if report.entity:
        return [t for t in info if report.entity in t["entities"]]
    return []


TABLES_NAMED = 12  # DynamoDB tables named in the data-sources line (the sample's nine all are); the rest are counted


def sources_line(metrics: dict[str, Any], report: ReportTemplate | None = None) -> str:
    """The closing data-sources line: handoffs read and skipped, this report's tables and their time, as-of."""
    s = metrics["sources"]

    def named(files: list[str]) -> str:
        rest = len(files) - SKIPPED_NAMED
        return f"{', '.join(files[:SKIPPED_NAMED])}{f' and {format_count(rest)} more' if rest > 0 else ''}"

    parts = []
    if s["skipped_files"]:
        parts.append(f"{_plural(len(s['skipped_files']), 'Markdown file')} without front matter skipped: "
                     f"{named(s['skipped_files'])}")
    if s.get("misnamed_files"):
        parts.append(f"{_plural(len(s['misnamed_files']), 'file')} like a handoff but not named .md skipped: "
                     f"{named(s['misnamed_files'])}")
    skipped = f" ({'; '.join(parts)})" if parts else ""
    tables = report_tables(report, metrics) if report else s["table_info"]
    groups: dict[str, list[str]] = {}
    for t in tables[:TABLES_NAMED]:  # tables exported together share one time
        when = t["source"]
        if t["exported"]:
            when = f"exported {t['exported']:%Y-%m-%d %H:%M} UTC"
            if t.get("stale"):  # older than the period before: the count is that of an earlier week
                when = f"export of {t['exported']:%Y-%m-%d}: not refreshed this week"
        elif t.get("read"):  # a count read live: when (a table's figures in an older metrics.json have no time)
            when = f"live, read {t['read']:%Y-%m-%d %H:%M} UTC"
        groups.setdefault(when, []).append(t["table"])
    used = "; ".join(f"{', '.join(names)} ({when})" for when, names in groups.items())
    if len(tables) > TABLES_NAMED:  # hundreds of tables on one line would pass an email's length bound
        used += f" and {_plural(len(tables) - TABLES_NAMED, 'more table')}"
    return (
        f"Data sources: {_plural(s['handoffs'], 'handoff')} read{skipped}; "
        f"DynamoDB tables: {used or 'none used by this report'}; as of {metrics['as_of'].isoformat()}."
    )


def fix_text(fixes: list[dict[str, Any]], reader: str, owner: str | None = None) -> str:
    """The fixes of a shortfall or finding, after it on its line: '; fix: Put /admin behind login
    (P1, 4 days late)', the fix's persona named when it is neither the reader nor `owner`."""
    parts = []
    for a in fixes:
        how = [] if a.get("persona") is None or _same_persona(a["persona"], reader) or (
            owner is not None and _same_persona(a["persona"], owner)) else [a["persona"]]
        how += [f"P{a['priority']}"] if a.get("priority") is not None else []
        parts.append(f"{a['title']} ({', '.join([*how, action_when(a)])})")
    return f"; fix: {'; '.join(parts)}" if parts else ""


class Below(list):
    """The rows of a section below Needs you, with how many it leaves out because Needs you shows them."""

    def __init__(self, rows: Iterable[Any], above: int) -> None:
        super().__init__(rows)
        self.above = above


@jinja2.pass_context
def below(context: Any, rows: Iterable[dict[str, Any]]) -> Below:
    """The templates' `below(rows)`: the rows the report's Needs you does not show (one thing, once)."""
    needs = context.get("needs_you")
    shown = needs["shown"] if isinstance(needs, dict) else set()
    rows = list(rows)
    kept = [r for r in rows if r["id"] not in shown]
    return Below(kept, len(rows) - len(kept))


def above_line(*lists: Any) -> str:
    """The one line that points to Needs you for the rows a section's lists leave out; '' when none."""
    n = sum(getattr(rows, "above", 0) for rows in lists)
    return f"Also under Needs you above: {format_count(n)}." if n else ""


@jinja2.pass_context
def unpaired(context: Any, actions: Iterable[dict[str, Any]], *problems: Iterable[dict[str, Any]]
             ) -> list[dict[str, Any]]:
    """The templates' `unpaired(actions, shortfalls, ...)`: the actions not shown on the line of a
    shortfall or finding they fix, in one of the lists given. Of two actions that fix the same
    problem not listed there, only the first names it (`fixes`), and none that Needs you names."""
    paired = {action_id(a) for rows in problems for p in rows for a in p["fixed_by"]}
    needs = context.get("needs_you")
    named = set(needs["named"]) if isinstance(needs, dict) else set()
    out = []
    for a in actions:
        if a["id"] in paired:
            continue
        if a.get("fixes"):
            problem = (name_key(a["entity"]), name_key(a["fixes"]))
            a = a if problem not in named else {**a, "fixes": None}
            named.add(problem)
        out.append(a)
    return out


def _needs_lines(items: list[dict[str, Any]], total: int, report: ReportTemplate) -> list[str]:
    """Needs you's lines for these items: one per item, the same item in several businesses as one."""
    # The same item in several businesses ("No conversion tracking" in two) is one line
    # naming them all, where the first of them ranks.
    grouped: dict[tuple[str, str], list[str]] = {}
    for item in items:
        how = [item["how"]]
        if item["kind"] == "action" and item.get("priority") is not None:
            how.insert(0, f"P{item['priority']}")
        who = item.get("persona")
        if who and not _same_persona(who, report.persona):  # the CEO and unit reports: whose it is
            how.append(f"for {who}")
        tail = (fix_text(item["fixes"], report.persona, who) if item["kind"] == "shortfall"
                else f"; fixes: {item['problem']}" if item.get("problem") else "")
        grouped.setdefault((item["what"], f"({', '.join(how)}){tail}"), []).append(item["entity"])
    lines = []
    for (what, how), names in grouped.items():
        # a unit report is about one business: its name on every line would only push the item right
        where = "" if report.entity else f"{md_escape(' and '.join(names))}: "
        lines.append(f"- {where}{md_escape(what)} {md_escape(how)}")
    if more := total - len(items):
        lines.append(f"- and {format_count(more)} more in the sections below")
    return lines


def needs_you_markdown(needs: dict[str, Any], report: ReportTemplate) -> str:
    """The "Needs you this week" section: the reader's own items, most urgent first, one line each;
    in the CEO's, what others owe after them, apart."""
    lines = ["## Needs you this week", ""]
    lines += _needs_lines(needs["items"], needs["total"], report) or ["Nothing needs you this week."]
    if needs.get("others"):
        lines += ["", "What others owe (critical shortfalls, overdue actions of priority 1):", "",
                  *_needs_lines(needs["others"], needs["others_total"], report)]
    return "\n".join([*lines, "", ""])


CHANGES_SHOWN = 10  # lines of "What changed" before the rest is cut (scaled as a report's other lists)


# The words of each kind of change ("Cash" is worded apart: fell or rose, by how much, to what).
CHANGE_WORDS = {
    "new_shortfalls": "New shortfall, {level}: {at}{owner}",
    "gone_shortfalls": "Shortfall gone: {at}",
    "new_findings": "New security finding, {level}: {at}",
    "gone_findings": "Security finding fixed or removed: {at}",
    "actions_done": "Done{priority}: {at}{owner}",
    "newly_overdue": "Newly overdue, {late} late{priority}: {at}{owner}",
    "gone_actions": "Action removed from the handoffs, not done{priority}: {at}{owner}",
    "status_changes": "Status: {at}: {status} (was {was})",
    "kpis_met": "KPI now meets its target: {at}{shown}",
    "kpis_missed": "KPI now misses its target: {at}{shown}",
    "newly_stale": "Handoff now stale: {at} (updated {updated})",
}


def change_line(change: dict[str, Any], report: ReportTemplate) -> str:
    """One line of "What changed", as Markdown: what changed, where, and how much."""
    kind, item = change["kind"], change["item"]
    if kind == "cash":
        fell = item["change"] < 0
        return (f"- Cash, {md_escape(item['entity'])}: {'fell' if fell else 'rose'} "
                f"{format_money(abs(item['change']))} to {format_money(item['now'])}")
    # a unit report is about one business: its name on every line would only push the item right
    where = [] if report.entity and item.get("entity") == report.entity else [item.get("entity")]
    if item.get("project") and item.get("project") != item.get("title"):
        where.append(item["project"])
    place = md_escape(" / ".join(str(w) for w in where if w))
    title = md_escape(item.get("title"))
    at = f"{place}{' / ' if item.get('kind') == 'project' else ': '}{title}" if place else title
    who = item.get("persona")
    owner = f" (for {md_escape(who)})" if who and not _same_persona(who, report.persona) else ""
    priority = f", P{item['priority']}" if isinstance(item.get("priority"), int) else ""
    shown = ""
    if kind in ("kpis_met", "kpis_missed"):
        value, target = _headline_value(item.get("value")), _headline_value(item.get("target"))
        sign = "≥ " if item.get("better") == "higher" else "≤ "
        if value is not None and target is not None:
            shown = (f" {md_escape(format_unit(value, item.get('unit'), target))} against {sign}"
                     f"{md_escape(format_unit(target, item.get('unit')))}")
    late = format_days(item["days_late"]) if kind == "newly_overdue" else ""
    return "- " + CHANGE_WORDS[kind].format(
        at=at, owner=owner, priority=priority, shown=shown, late=late,
        level=md_escape(item.get("urgency") or item.get("severity")), status=md_escape(item.get("status")),
        was=md_escape(change.get("was")), updated=md_escape(item.get("updated")))


def what_changed_markdown(history: dict[str, Any], report: ReportTemplate, cut: Callable[[Iterable[Any], int], Cut],
                          more: Callable[[Any], str]) -> str:
    """The "What changed since <period>" section: the reader's changes since its last report, most
    serious first; one line when nothing changed, when there is no earlier report, or when the
    earlier report's items were not kept."""
    previous, changes = history.get("previous"), history.get("changes")
    if previous is None:
        return "No earlier report to compare with.\n\n"
    if changes is None or not changes["kept"]:
        return (f"What changed since {previous} is not known: that week's report kept only its figures "
                "(an earlier version of this tool), not its items.\n\n")
    rows = cut(report_changes(changes, report.persona, report.entity), CHANGES_SHOWN)
    if not rows:
        return f"Nothing changed since {previous}.\n\n"
    lines = [f"## What changed since {previous}", "", *(change_line(c, report) for c in rows)]
    if rows.more:
        lines += ["", more(rows)]
    return "\n".join([*lines, "", ""])


ENTITIES_NAMED = 20  # entity names listed in the error about a unit report's entity; the rest are counted


def unit_entity_errors(reports: list[ReportTemplate], metrics: dict[str, Any]) -> list[str]:
    """One line for each business-unit report whose entity has no handoff documents (a renamed business)."""
    missing = [r for r in reports if r.entity and r.entity not in metrics["entities"]]
    if not missing:
        return []
    names = list(metrics["entities"])
    known = ", ".join(clean_text(name) for name in names[:ENTITIES_NAMED]) or "none"  # one line, inert
    if len(names) > ENTITIES_NAMED:
        known += f" and {format_count(len(names) - ENTITIES_NAMED)} more"
    return [
        f"{r.path}:{_front_matter_line(r.path, 'entity')}: entity {r.entity!r} has no handoff documents; "
        f"{_orphan_advice(r.path)} (entities: {known})"
        for r in missing
    ]


def _orphan_advice(path: Path) -> str:
    """What to do about a unit template whose entity has no handoffs, in the folder it is in."""
    if path.parent != REPORTS_DIR:  # REPORTS_DIR: the user's own folder, named as it is
        return (f"fix the template's entity, add a handoff, or delete {path.name} from {path.parent} "
                "if the business is gone")
    # the templates that came with the tool: edited there, an update would not merge cleanly
    return (f"add a handoff, or copy {path.parent} to a folder of your own, set REPORTS_DIR to it in repos.env "
            f"and fix the entity of {path.name} there or delete it (README 'Set up for your own portfolio', step 3)")


def _front_matter_line(path: Path, key: str) -> int:
    """The line of a template's front matter that sets `key` (2, the front matter's first, when not found)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):  # read when the templates were loaded: changed since, say where it began
        return 2
    for number, line in enumerate(lines[1:], start=2):
        if line.strip() == "---":
            break
        if line.startswith(f"{key}:"):
            return number
    return 2


def report_context(report: ReportTemplate, metrics: dict[str, Any], attach: bool) -> dict[str, Any]:
    """What a report's template is given: the figures, its own history, its Needs you and routed items
    (`mine`), `more` (a cut list's last line, naming the attachment or, attach=False, the archive's
    copy) and, for a unit report, its entity's figures as `e`."""
    mine = routed(metrics, report.persona, report.entity)
    history = (metrics.get("report_history") or {}).get(report.id) or metrics.get("history") or {
        **history_figures(metrics["period"], {}, {}), "now": {}}
    context = {
        **metrics, "history": history, "report": report, "title": report.title, "persona": report.persona,
        "needs_you": needs_you(metrics, report.persona, report.entity, mine), "mine": mine,
    }
    where = (f"in the attached {attachment_name(report.id)}" if attach else
             f"too large to attach: it is in the archive as {full_text_key(metrics['period'], report.id)}")
    context["more"] = functools.partial(more_line, where=where)
    if report.entity:
        if errors := unit_entity_errors([report], metrics):
            raise InputErrors(errors)
        context["e"] = metrics["entities"][report.entity]
    return context


def report_subject(env: jinja2.Environment, report: ReportTemplate, context: dict[str, Any]) -> str:
    """The subject on one line, then how many of the reader's own items need them, when any do."""
    subject = " ".join(env.overlay(finalize=plain_text).get_template(f"{report.id}:subject").render(context).split())
    needs = context["needs_you"]["total"]
    return f"{subject} ({format_count(needs)} need you)" if needs else subject


def render_report(
    report: ReportTemplate, metrics: dict[str, Any], env: jinja2.Environment | None = None, *, whole: bool = True,
    attach: bool = True,
) -> RenderedReport:
    """Render one report to its subject, its plain-text body within MAX_LINES, and its uncut body.

    With whole=False (a dry run, which shows only what would be sent), a long report's
    uncut lists are rendered only until they prove it long, and again if its uncut text
    is read; a send and --check render them whole before anything is sent. A cut list's
    last line names the attachment that carries the uncut text (attach=False: the
    archive's copy, for an email too large to carry it).
    """
    env = env or jinja_env([report])
    context = report_context(report, metrics, attach)
    needs, history = context["needs_you"], context["history"]
    header = (f"# {md_escape(report.title)}\n\nPeriod: {md_escape(period_line(metrics))}\n\n"
              f"{needs_you_markdown(needs, report)}")
    footer = f"\n\n---\n\n{md_escape(sources_line(metrics, report))}\n"

    def pieces(scale: float | None, whole: bool) -> Generator[str, None, None]:
        """The Markdown with its lists cut at `scale` (None: every list whole), whole or in the pieces
        Jinja2 yields (so that rendering can stop once it is known long)."""
        cut, quiet = _cutter(scale), QuietSections(history, report.entity)
        body = {**context, "cut": cut, "section": quiet.section, "inventory": quiet.inventory}
        yield header + what_changed_markdown(history, report, cut, context["more"])
        if whole:
            yield env.get_template(report.id).render(body)
        else:
            yield from env.get_template(report.id).generate(body)
        yield quiet.line() + footer

    def markdown_at(scale: float | None) -> str:
        """The report's Markdown with its lists cut at `scale` (None: every list whole)."""
        return "".join(pieces(scale, True))

    def uncut_pieces() -> Generator[str, None, None]:
        """The uncut Markdown in the pieces Jinja2 yields, so that rendering can stop once it is known long."""
        return pieces(None, False)

    def uncut_markdown() -> str:
        """The uncut Markdown rendered again when read (a dry run left it unfinished), a mistake as one line."""
        with _template_errors(report):
            return markdown_at(None)

    with _template_errors(report):
        if whole:
            full_md: str | None = markdown_at(None)
            long = text_lines_pass(full_md, MAX_LINES)
        else:
            full_md = markdown_unless_long(uncut_pieces(), MAX_LINES)
            long = full_md is None
        # When the uncut tables alone pass the bound, the uncut text is made only if it is read.
        full = None if long else text_from_markdown(full_md or "")
        sent_md, sent, scale = full_md, full, 1.0
        # Long lists are cut; when the cut lists still make too long an email, they are halved.
        while (sent is None or sent.count("\n") > MAX_LINES) and scale >= MIN_SCALE:
            md = markdown_at(scale)
            if sent is None or md != sent_md:  # the same Markdown makes the same text
                sent = text_from_markdown(md)
            sent_md, scale = md, scale / 2
        subject = report_subject(env, report, context)
    assert sent is not None and sent_md is not None  # the loop ran at least once when the uncut text was not made
    if full is None and sent_md == full_md:  # nothing was cut after all
        full = sent
    later = None
    if full is None:  # the uncut Markdown as made above, or made again when it was left unfinished
        later = uncut_markdown if full_md is None else functools.partial(str, full_md)
    attachment = attachment_name(report.id) if attach and sent_md != full_md else None  # cut: its text names it
    unattached = functools.partial(render_report, report, metrics, env, whole=whole, attach=False)
    return RenderedReport(id=report.id, subject=subject, text=sent, full_text=full or "", markdown=sent_md,
                          attachment=attachment, uncut_markdown=later,
                          unattached=unattached if attachment else None)


def markdown_unless_long(pieces: Generator[str, None, None], bound: int) -> str | None:
    """The Markdown the pieces make, or None as soon as its tables alone pass `bound` lines.

    The complete lines read so far are looked at each time their number doubles, with
    text_lines_pass itself: every line it counts in them it counts in the whole Markdown
    too, so once they pass, the whole passes, and the answer is the one the whole gives.
    """
    parts: list[str] = []
    lines, look_at = 0, bound
    for piece in pieces:
        parts.append(piece)
        lines += piece.count("\n")
        if lines > look_at:
            so_far = "".join(parts)
            if text_lines_pass(so_far[: so_far.rfind("\n") + 1], bound):
                pieces.close()  # the rest of the template is never rendered
                return None
            look_at = lines * 2
    md = "".join(parts)
    return None if text_lines_pass(md, bound) else md


@contextlib.contextmanager
def _template_errors(report: ReportTemplate) -> Iterator[None]:
    """A template's mistake as one line naming its file and line, never a traceback."""
    try:
        yield
    except jinja2.TemplateSyntaxError as exc:
        raise ConfigError(f"{report.path}:{exc.lineno}: template error: {exc.message}") from None
    except jinja2.sandbox.SecurityError as exc:  # before UndefinedError: an unsafe attribute is also undefined
        line = _template_line(exc, report.path)
        raise ConfigError(
            f"{report.path}:{line}: template refused ({' '.join(str(exc).split())[:200]}): a template may use "
            "only its figures, filters and helpers (README 'What a template may do'); fix the template"
        ) from None
    except jinja2.UndefinedError as exc:
        line = _template_line(exc, report.path)
        raise ConfigError(
            f"{report.path}:{line}: template uses a figure that does not exist ({exc.message}); "
            "see README 'Adding a report' for the figures"
        ) from None
    except (jinja2.TemplateError, TypeError, ValueError, ArithmeticError, LookupError, AttributeError) as exc:
        # a template that sorts a text with a number, or divides by zero: its line, not a traceback
        line = _template_line(exc, report.path)
        raise ConfigError(
            f"{report.path}:{line}: template error ({type(exc).__name__}: {' '.join(str(exc).split())[:200]}); "
            "fix the template"
        ) from None


def _template_line(exc: BaseException, path: Path) -> int | str:
    """The template line a rendering error happened on, from its traceback."""
    line: int | str = "?"
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == str(path):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def render_all(reports: list[ReportTemplate], metrics: dict[str, Any], *, whole: bool = True) -> list[RenderedReport]:
    """Render every selected report before anything is sent (whole=False: see render_report).

    Every unit report whose entity has no handoffs is named before any is rendered, so
    that one run names them all.
    """
    if errors := unit_entity_errors(reports, metrics):
        raise InputErrors(errors)
    env = jinja_env(reports)
    return [render_report(r, metrics, env, whole=whole) for r in reports]


def write_html_files(rendered: list[RenderedReport]) -> list[Path]:
    """A dry run's HTML alternatives, one file a report in a new temporary folder (never the archive)."""
    folder = Path(tempfile.mkdtemp(prefix="send_exec_reports-"))
    paths = []
    for r in rendered:
        path = folder / f"{r.id}.html"
        path.write_text(r.html(), encoding="utf-8")
        paths.append(path)
    return paths


# ---------------------------------------------------------------------------
# The archive: every file written atomically and never through a link, the ledger of each
# period's side effects, and the lock. The folder archive here; the same interface in S3 below.


LOCK_WAIT_SECONDS = 3.0  # a second run waits this long for the first, then exits 75


LOCK_NAME = ".send_exec_reports.lock"


LEDGER_NAME = "ledger.json"


METRICS_NAME = "metrics.json"


LEDGER_MAX_BYTES = 16 << 20  # a ledger holds a few lines a report: anything near this is not one


def file_problem(exc: OSError, verb: str = "write") -> str:
    """One line for a file that could not be used: which file, what happened, what to do."""
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
    if path.is_symlink():
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), str(path))


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write a file so that it is either all old or all new, and on disk when this returns.

    The temporary file is created exclusively and without following links; a link at
    the destination is refused. Any failure names `path`, never the temporary file.
    """
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
            with os.fdopen(fd, "wb") as fh:
                fh.write(data.encode("utf-8") if isinstance(data, str) else data)
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


def read_bytes(path: Path, limit: int) -> tuple[bytes, str] | None:
    """A file's bytes and version (None when there is none), never read through a symbolic link.

    ValueError when it is not a regular file or is over `limit` bytes. The version is the
    file's change time and size: enough to see that it changed.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):  # before fdopen, which fails on a folder naming only the fd
        os.close(fd)
        raise ValueError("not a regular file")
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"over {limit >> 20} MiB")
    return data, f"{info.st_mtime_ns}-{info.st_size}"


ARCHIVE_READ_MAX = 64 << 20  # bytes of one archived file read back (metrics.json of a large portfolio fits)


class Archive(Protocol):
    """Where each period's ledger, reports and figures are kept, and the run lock: a folder or S3.

    Names are paths inside the archive ('2026-W47/ledger.json'). Delivery, history and
    --status speak only to these methods, so their logic exists once for both kinds.
    """

    where: str  # how the archive is named in messages: a folder's path, or s3://bucket/prefix

    def describe(self, name: str) -> str:
        """How one archived file is named in messages."""

    def read(self, name: str, limit: int = ARCHIVE_READ_MAX) -> tuple[bytes, str] | None:
        """The bytes and version of a file; None when it does not exist."""

    def write(self, name: str, data: str | bytes, *, version: str | None = None, create: bool = False) -> str:
        """Replace a file whole; only if it still has `version`, or does not exist with `create`."""

    def periods(self) -> list[str]:
        """The periods held, oldest first."""

    def acquire(self, wait: float) -> None:
        """Take the run lock, waiting up to `wait` seconds (LockBusy after)."""

    def release(self) -> None:
        """Give the run lock back."""


class FolderArchive:
    """The archive in a local folder: ARCHIVE_DIR/<period>/<file>, and the run lock beside the periods.

    The same methods as S3Archive, on the file functions above: atomic, durable writes
    that never follow a symbolic link, and an flock lock. Under that lock no other run
    can write the ledger, so a write's `version` needs no check here.
    """

    def __init__(self, root: Path, *, sleep: Callable[[float], None] | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        self.root = root
        self.where = str(root)
        self.sleep, self.clock = sleep, clock  # the lock's wait (tests pass a fake clock)
        self._lock: RunLock | None = None

    def describe(self, name: str) -> str:
        """How an archived file is named in messages: its path."""
        return str(self.root / name)

    def _path(self, name: str, *, create: bool) -> Path:
        """The path of an archive name; its folders created if asked, a link among them refused."""
        path = self.root
        *folders, leaf = name.split("/")
        if create:
            try:
                self.root.mkdir(parents=True, exist_ok=True)  # ARCHIVE_DIR itself may be a link
            except OSError as exc:
                raise ConfigError(file_problem(exc)) from None
        for part in folders:
            path = path / part
            try:
                _no_link(path)
                if create:
                    path.mkdir(exist_ok=True)
            except OSError as exc:
                raise ConfigError(file_problem(exc, "write" if create else "read")) from None
            if create and not path.is_dir():
                raise ConfigError(f"{path} is not a folder; move it aside, then rerun")
        return path / leaf

    def read(self, name: str, limit: int = ARCHIVE_READ_MAX) -> tuple[bytes, str] | None:
        """A file's bytes and version; None when it does not exist. OSError or ValueError when it cannot be read."""
        return read_bytes(self._path(name, create=False), limit)

    def write(self, name: str, data: str | bytes, *, version: str | None = None, create: bool = False) -> str:
        """Replace a file atomically and durably; return its new version.

        `create`: only if it does not exist yet (ArchiveConflict otherwise). `version` is
        not checked: the run lock already keeps every other run out.
        """
        path = self._path(name, create=True)
        if create and (path.exists() or path.is_symlink()):
            raise ArchiveConflict(name)
        write_atomic(path, data)
        info = path.stat()
        return f"{info.st_mtime_ns}-{info.st_size}"

    def periods(self) -> list[str]:
        """The periods the archive holds (folders named like 2026-W47, never a link), oldest first."""
        try:
            names = [p.name for p in self.root.iterdir()
                     if PERIOD_RE.match(p.name) and not p.is_symlink() and p.is_dir()]
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise ConfigError(file_problem(exc, "read")) from None
        return sorted(names)

    def acquire(self, wait: float) -> None:
        """Take the run lock (an flock on ARCHIVE_DIR/.send_exec_reports.lock), waiting up to `wait` seconds."""
        self._path(LOCK_NAME, create=True)
        self._lock = RunLock(self.root, wait, sleep=self.sleep, clock=self.clock).__enter__()

    def release(self) -> None:
        """Give the lock back."""
        if self._lock is not None:
            self._lock.__exit__()
            self._lock = None


LEDGER_STATES = ("sending", "sent", "failed", "posting", "posted", "pushing", "pushed")  # emails, cards, metrics


# figures: the key of the figures (metrics.json's runs) a report's send showed; replaces: what a --force resend replaced
LEDGER_TEXT_KEYS = ("at", "subject", "message_id", "error", "last_error", "figures", "replaces")


LEDGER_KIND_STATES = {  # key prefix -> the states its entries go through ("": a report's email)
    "card:": ("posting", "posted", "failed"),
    "metrics:": ("pushing", "pushed", "failed"),
    "": ("sending", "sent", "failed"),
}


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
        # each kind of entry has its own states: a report read as 'posted' would be sent again
        states = next((s for prefix, s in LEDGER_KIND_STATES.items() if report_id.startswith(prefix)),
                      LEDGER_KIND_STATES[""])
        if entry["state"] not in states:
            raise ValueError(f"entry {report_id!r}: state {entry['state']!r} is not one of {', '.join(states)}")
        for key in LEDGER_TEXT_KEYS:
            if key in entry and not isinstance(entry[key], str):
                raise ValueError(f"entry {report_id!r}: {key} is not text")
        if "timestamp" in entry:  # a metrics push's time, reused by its rerun
            try:
                dt.datetime.fromisoformat(entry["timestamp"])
            except (TypeError, ValueError):
                raise ValueError(f"entry {report_id!r}: timestamp is not an ISO 8601 time") from None
        news = entry.get("delivery")
        if news is not None and not (isinstance(news, dict) and all(isinstance(v, str) for v in news.values())):
            raise ValueError(f"entry {report_id!r}: delivery is not a record of texts")
    return data


class Ledger:
    """What was done for one period: key (a report id) -> its latest state, kept in <period>/ledger.json.

    Every write is a compare-and-swap on the version read (create-only when there was
    none), so a run whose view of the ledger is stale can never record over another's.
    """

    def __init__(self, archive: Archive, period: str) -> None:
        self.archive = archive
        self.period = period
        self.name = f"{period}/{LEDGER_NAME}"
        self.where = archive.describe(self.name)
        self.version: str | None = None
        self.entries: dict[str, dict[str, Any]] = {}
        try:
            found = archive.read(self.name, LEDGER_MAX_BYTES)
            if found is not None:
                data, self.version = found
                self.entries = parse_ledger(data.decode("utf-8"))
        except OSError as exc:
            raise ConfigError(f"the send ledger: {file_problem(exc, 'read')}; nothing was sent") from None
        except ValueError as exc:  # UnicodeDecodeError included
            raise ConfigError(
                f"{self.where}: the send ledger is damaged ({exc}); nothing was sent. Compare it with the BCC "
                "copies of the period, then repair it or move it aside (without it every report of the period "
                "is sent again: use --only for the missing ones)"
            ) from None

    def state(self, report_id: str) -> str | None:
        """'sending' (outcome unknown), 'sent', 'failed' or None (never tried)."""
        entry = self.entries.get(report_id)
        return entry.get("state") if entry else None

    def record(self, report_id: str, state: str, **details: Any) -> None:
        """Record a report's new state durably (in memory too only once it is on disk)."""
        entries = {**self.entries, report_id: {"state": state, "at": _now(), **details}}
        data = json.dumps(entries, indent=2, sort_keys=True) + "\n"
        try:
            self.version = self.archive.write(self.name, data.encode("utf-8"), version=self.version,
                                              create=self.version is None)
        except ArchiveConflict:
            raise LedgerConflict(
                f"another run changed the ledger {self.where} while this one held it (its lock had expired or "
                "was removed); this run stopped before sending anything more. Rerun: it sends only what is "
                "missing"
            ) from None
        self.entries = entries


def _period_metrics(archive: Archive, period: str, what: str, remedy: str) -> dict[str, Any] | None:
    """A period's metrics.json, checked (schema 2: its runs); None when that period has none (nothing was sent)."""
    name = f"{period}/{METRICS_NAME}"
    where = archive.describe(name)
    try:
        found = archive.read(name)
        if found is None:
            return None
        data = json.loads(found[0].decode("utf-8"))
    except OSError as exc:
        raise ConfigError(f"{what}: {file_problem(exc, 'read')}; nothing was sent") from None
    except RecursionError:
        raise ConfigError(f"{where}: nested too deeply to be figures; {remedy}") from None
    except ValueError as exc:  # bad JSON, not UTF-8, too big
        raise ConfigError(f"{where}: {what} cannot be read ({exc}); {remedy}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: {what} are not a JSON object; {remedy}")
    schema = data.get("schema", 0)  # written before the schema number existed: the same figures
    if isinstance(schema, bool) or not isinstance(schema, int) or schema < 0:
        raise ConfigError(f"{where}: schema {str(schema)[:20]!r} is not a version number; {remedy}")
    if schema > METRICS_SCHEMA:
        raise ConfigError(
            f"{where}: written by a newer version of send_exec_reports.py (figures schema {schema}; this version "
            f"reads up to {METRICS_SCHEMA}); update the tool, or {remedy}"
        )
    runs = data.get("runs")
    if schema >= 2 and not (isinstance(runs, dict) and all(isinstance(r, dict) for r in runs.values())):
        raise ConfigError(f"{where}: figures schema {schema} without its \"runs\" (an object of figures); {remedy}")
    return data


EARLIER_REMEDY = "move it aside (the reports then compare with the period before it), then rerun"


def _shown_runs(entries: dict[str, dict[str, Any]], states: tuple[str, ...] = ("sent",)) -> dict[str, str]:
    """Report id -> the key of the figures its send showed, for each report a ledger records in `states`."""
    # an entry written before schema 2 names no figures: it showed the period's one set
    return {report_id: entry.get("figures", LEGACY_RUN) for report_id, entry in entries.items()
            if ":" not in report_id and entry["state"] in states}


def read_period_record(archive: Archive, period: str) -> PeriodRecord | None:
    """What an earlier period kept (its figures and, from its ledger, which each report showed); None: nothing."""
    data = _period_metrics(archive, period, "the figures of an earlier week", EARLIER_REMEDY)
    if data is None:
        return None
    if data.get("schema", 0) < 2:  # one set of figures, shown by every report of the period
        return PeriodRecord(period, {LEGACY_RUN: data})
    entries = Ledger(archive, period).entries
    # a ledger moved aside: which report showed which figures is not known, so each shows the newest
    return PeriodRecord(period, data["runs"], _shown_runs(entries) if entries else None)


def keep_figures(ledger: Ledger, run_json: str) -> str:
    """Add this run's figures to its period's metrics.json before its first send; their key.

    The figures that an earlier send of the period showed, as long as the ledger names that
    send, are kept as they were: a rerun adds to the period's record, never rewrites it.
    The same figures twice (a rerun after a failure, with nothing changed) are kept once.
    """
    archive, period = ledger.archive, ledger.period
    key = hashlib.sha256(run_json.encode("utf-8")).hexdigest()[:12]
    remedy = ("what the period's earlier sends showed is lost: move it aside, then rerun (next week's reports "
              "then compare with what this run shows)")
    data = _period_metrics(archive, period, "the figures kept for this period", remedy)
    if data is None:
        runs: dict[str, Any] = {}
    elif data.get("schema", 0) < 2:  # written by an earlier version: what its sends showed
        runs = {LEGACY_RUN: data}
    else:
        runs = data["runs"]
    shown = set(_shown_runs(ledger.entries, ("sent", "sending")).values())
    kept = {k: v for k, v in runs.items() if k in shown and k != key}
    kept[key] = json.loads(run_json)
    text = json.dumps({"schema": METRICS_SCHEMA, "period": period, "runs": kept}, indent=2) + "\n"
    archive.write(f"{period}/{METRICS_NAME}", text.encode("utf-8"))
    return key


def _now() -> str:
    """The current UTC time, ISO 8601."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class RunLock:
    """An exclusive lock on ARCHIVE_DIR so two runs never overlap."""

    def __init__(self, folder: Path, wait: float = LOCK_WAIT_SECONDS, *, sleep: Callable[[float], None] | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        self.path = folder / LOCK_NAME
        self.wait = wait
        self.sleep = sleep or time.sleep  # tests pass a fake clock: the wait is asserted, not waited
        self.clock = clock or time.monotonic
        self.fh: Any = None

    def __enter__(self) -> RunLock:
        import fcntl

        try:  # O_NOFOLLOW: a link planted here must not have its target truncated
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            if exc.filename is None:
                exc.filename = str(self.path)
            if exc.errno == errno.ELOOP:
                raise ConfigError(f"the lock file: {file_problem(exc)}") from None
            raise ConfigError(
                f"{self.path}: cannot open the lock file ({exc.strerror}); check ARCHIVE_DIR's permissions"
            ) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # before fdopen, which cannot open a FIFO read-write
            os.close(fd)
            raise ConfigError(f"{self.path}: the lock file is not a regular file; remove it, then rerun")
        self.fh = os.fdopen(fd, "r+", encoding="utf-8")  # held open for the run: closing releases it
        deadline = self.clock() + self.wait
        while True:
            try:
                fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if self.clock() >= deadline:
                    self.fh.seek(0)
                    holder = self.fh.read(200).strip() or "unknown"
                    self.fh.close()
                    raise LockBusy(
                        f"another run holds {self.path} ({holder}); waited {self.wait:.0f} s. "
                        "Try again when it has finished"
                    ) from None
                self.sleep(0.1)
        self.fh.seek(0)
        self.fh.truncate()
        self.fh.write(f"pid {os.getpid()} since {_now()}\n")
        self.fh.flush()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.fh.close()  # closing releases the lock


# ---------------------------------------------------------------------------
# The archive in S3 (ARCHIVE_DIR=s3://bucket/prefix): the folder's layout as keys. The
# ledger is replaced only by a conditional write (If-Match on the ETag it was read
# with, If-None-Match: * to create it), so two runs on two machines can never both
# record a report as theirs to send; the lock is an object created the same way,
# holding an expiry so that a run that died does not block the next week.

S3_LOCK_TTL_SECONDS = 3600.0  # a run holds the lock at most this long before another may take it


class S3Archive:
    """The archive as objects under s3://bucket/prefix (client passed in)."""

    def __init__(self, client: Any, bucket: str, prefix: str, *, lock_ttl: float = S3_LOCK_TTL_SECONDS,
                 sleep: Callable[[float], None] | None = None, clock: Callable[[], float] | None = None) -> None:
        self.client, self.bucket, self.prefix = client, bucket, prefix
        self.lock_ttl = lock_ttl
        self.sleep = sleep or time.sleep
        self.clock = clock or time.time
        self.where = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
        self.lock_etag: str | None = None

    def key(self, name: str) -> str:
        """The object key of an archive path such as 2026-W47/ledger.json."""
        return f"{self.prefix}/{name}" if self.prefix else name

    def describe(self, name: str) -> str:
        """How an archived object is named in messages: its s3:// address."""
        return f"{self.where}/{name}"

    def _fail(self, exc: BaseException, doing: str) -> ReportError:
        """One clear line for an S3 error (botocore's own text is never printed)."""
        return s3_failure("ARCHIVE_DIR", self.where, exc, doing,
                          "s3:GetObject, s3:PutObject, s3:DeleteObject and s3:ListBucket")

    def read(self, name: str, limit: int = ARCHIVE_READ_MAX) -> tuple[bytes, str] | None:
        """An object's bytes and ETag; None when it does not exist; ValueError when over `limit` bytes."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self.key(name))
            data = answer["Body"].read(limit + 1)
            if len(data) > limit:
                raise ValueError(f"over {limit >> 20} MiB")
            return data, answer["ETag"]
        except ClientError as exc:
            if aws_error_code(exc) in ("NoSuchKey", "404"):
                return None
            raise self._fail(exc, f"reading {name}") from None
        except BotoCoreError as exc:
            raise self._fail(exc, f"reading {name}") from None

    def write(self, name: str, data: str | bytes, *, version: str | None = None, create: bool = False) -> str:
        """Put an object (a single PUT is atomic); return its ETag.

        `version`: only if the object still has this ETag; `create`: only if it does not
        exist yet. Losing either race raises ArchiveConflict.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        body = data.encode("utf-8") if isinstance(data, str) else data
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": self.key(name), "Body": body}
        if version is not None:
            kwargs["IfMatch"] = version
        elif create:
            kwargs["IfNoneMatch"] = "*"
        try:
            return str(self.client.put_object(**kwargs)["ETag"])
        except ClientError as exc:
            code = aws_error_code(exc)
            if code in ("PreconditionFailed", "ConditionalRequestConflict", "412", "409") or (
                code in ("NoSuchKey", "404") and version is not None
            ):
                raise ArchiveConflict(name) from None
            raise self._fail(exc, f"writing {name}") from None
        except BotoCoreError as exc:
            raise self._fail(exc, f"writing {name}") from None

    def periods(self) -> list[str]:
        """The periods the archive holds (folders named like 2026-W47), oldest first."""
        from botocore.exceptions import BotoCoreError, ClientError

        prefix = f"{self.prefix}/" if self.prefix else ""
        found = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix, Delimiter="/"
            ):
                for common in page.get("CommonPrefixes", []):
                    name = common["Prefix"][len(prefix):].rstrip("/")
                    if PERIOD_RE.match(name):
                        found.append(name)
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(exc, "listing the periods") from None
        return sorted(found)

    def acquire(self, wait: float) -> None:
        """Take the run lock, an object created only if absent; take over one that has expired."""
        import socket

        name = LOCK_NAME
        deadline = self.clock() + wait
        while True:
            body = json.dumps({
                "pid": os.getpid(), "host": socket.gethostname(), "since": _now(),
                "expires": self.clock() + self.lock_ttl,
            }).encode()
            try:
                self.lock_etag = self.write(name, body, create=True)
                return
            except ArchiveConflict:
                pass
            held = self.read(name)
            if held is None:
                continue  # released between the two calls: try again at once
            data, etag = held
            try:
                holder = json.loads(data)
                expires = float(holder["expires"])
                if not abs(expires) < float("inf"):  # NaN or infinite: no run wrote it, so it never held
                    expires = 0.0
                who = f"pid {int(holder['pid'])} on {str(holder['host'])[:64]} since {str(holder['since'])[:32]}"
            except (ValueError, KeyError, TypeError, RecursionError):
                expires, who = 0.0, "an unreadable lock"  # not ours to trust: treat it as expired
            if expires <= self.clock():
                log.warning("taking over the expired lock in %s (%s)", self.where, who)
                self._delete(name, etag)
                continue
            if self.clock() >= deadline:
                try:
                    until = dt.datetime.fromtimestamp(expires, dt.UTC).isoformat(timespec="seconds")
                except (OverflowError, ValueError, OSError):  # a year past 9999: a lock no run wrote
                    until = "a time too far off to show"
                raise LockBusy(
                    f"another run holds the lock in {self.where} ({who}); waited {wait:.0f} s. "
                    f"Try again when it has finished (if that run died, its lock expires at {until})"
                )
            self.sleep(0.2)

    def release(self) -> None:
        """Give the lock back (only if it is still ours)."""
        if self.lock_etag is not None:
            try:
                self._delete(LOCK_NAME, self.lock_etag)
            except ReportError as exc:
                log.warning("the lock in %s was not released (%s); it expires by itself", self.where, exc)
            self.lock_etag = None

    def _delete(self, name: str, etag: str) -> None:
        """Delete an object only if it still has this ETag (someone else's new lock survives)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.key(name), IfMatch=etag)
        except ClientError as exc:
            if aws_error_code(exc) in ("PreconditionFailed", "NoSuchKey", "404", "412"):
                return
            raise self._fail(exc, f"deleting {name}") from None
        except BotoCoreError as exc:
            raise self._fail(exc, f"deleting {name}") from None


def open_archive(settings: Settings) -> Archive | None:
    """The archive ARCHIVE_DIR names: S3Archive for s3://bucket/prefix, a FolderArchive for a path; None if unset."""
    if settings.archive_s3 is not None:
        bucket, prefix = settings.archive_s3
        return S3Archive(aws_client(settings, "s3"), bucket, prefix)
    if settings.archive_dir is not None:
        return FolderArchive(settings.archive_dir)
    return None


def earlier_records(archive: Archive, period: str, report_ids: Iterable[str | None]) -> dict[str, PeriodRecord]:
    """What the archived periods before `period` kept, as far as the reports use it.

    Read newest first: the periods of the sparklines' eight weeks, and further back only
    until each report has found the last period it was sent in (a year at most), so a
    long archive stays cheap to read.
    """
    # a folder named like a week that is none (2026-W99, 2025-W53, a newline or a full-width digit
    # after the name) would sort among the real ones and be compared with: only real weeks count
    before = [p for p in archive.periods() if p < period and (start := period_start(p)) and iso_period(start) == p]
    window = set(recent_periods(period))
    reach = set(recent_periods(period, HISTORY_LOOKBACK_WEEKS + 1))
    wanted = set(report_ids)  # the reports still looking for their last sent period
    out: dict[str, PeriodRecord] = {}
    for p in reversed(before):
        if p not in window and not (wanted and p in reach):
            continue
        record = read_period_record(archive, p)
        if record is not None:
            out[p] = record
            wanted = {r for r in wanted if record.run_of(r) is None}
    return out


# ---------------------------------------------------------------------------
# Delivery: settings check, SES sending with pacing and retries, each send recorded in the
# archive's ledger (above). A report is recorded as "sending" before SES is called and "sent"
# right after SES accepts it, so a run that dies in between leaves an "unknown" mark
# that the next run reports instead of resending. Nothing here follows a symbolic link
# planted inside ARCHIVE_DIR (ARCHIVE_DIR itself may be one).


SES_MAX_MESSAGE_BYTES = 10_000_000  # SES takes a message of at most 10 MB, attachments included
THROTTLE_CODES = {"Throttling", "ThrottlingException", "TooManyRequestsException"}
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
PROGRESS_WAIT_SECONDS = 0.5  # on a terminal, a pacing wait at least this long is shown
SES_TEXT_MAX = 300  # characters of an SES error message shown
IDENTITIES_PER_CALL = 100  # GetIdentityVerificationAttributes' limit
ADDRESS_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)


@dataclass
class Delivery:
    """Validated delivery settings: who gets each report, and where the ledger is kept."""

    sender: str
    to: list[str]
    bcc: list[str]
    archive: Archive | None  # where the ledger, the lock and what was sent are kept
    email_format: str = "text"
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
        # in the format the weekly send will use: a template change is tried in both parts
        return Delivery(sender=sender, to=to, bcc=bcc, archive=None, email_format=settings.email_format,
                        to_by_report=to_by_report, test_to=test_to)
    archive = open_archive(settings)
    if archive is None:
        raise ConfigError("ARCHIVE_DIR is not set; set it to a folder for the send ledger and archive "
                          "(or to s3://bucket/prefix)")
    if settings.archive_dir is not None:
        try:
            settings.archive_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"ARCHIVE_DIR={settings.get('ARCHIVE_DIR')}: cannot create it ({exc.strerror}); fix the path, "
                "or create the folder and let this user write in it") from None
        if not os.access(settings.archive_dir, os.W_OK):
            raise ConfigError(f"ARCHIVE_DIR={settings.get('ARCHIVE_DIR')}: not writable by this user; let it "
                              "write there, or choose another folder")
    return Delivery(sender=sender, to=to, bcc=bcc, archive=archive,
                    email_format=settings.email_format, to_by_report=to_by_report)


def shown_delivery(settings: Settings, report_ids: Iterable[str], test_to: str | None = None) -> Delivery:
    """The headers a dry run shows: the settings as they are, '(X not set)' where one is missing."""

    def header(name: str) -> list[str]:
        return settings.addresses(name) or [f"({name} not set)"]

    for name in ("SES_FROM_ADDRESS", "EXEC_REPORT_TO", "EXEC_REPORT_BCC"):
        check_addresses(settings, name, required=False)
    return Delivery(sender=", ".join(header("SES_FROM_ADDRESS")), to=header("EXEC_REPORT_TO"),
                    bcc=header("EXEC_REPORT_BCC"), archive=None, email_format=settings.email_format,
                    to_by_report=per_report_to(settings, report_ids), test_to=test_to)


# Files: every write is atomic and durable, and none goes through a symbolic link. These
# few functions are the only ones that touch the archive's files.


class SesSender:
    """Sends through an SES client (passed in), paced and retrying throttling.

    `sleep` and `clock` are time.sleep and time.monotonic unless given (tests pass a
    clock that only moves when slept on, and read back every wait). `note` receives the
    progress lines (pacing waits, retries) a terminal shows.
    """

    def __init__(self, client: Any, sleep: Callable[[float], None] | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        self.client = client
        self.sleep = sleep or time.sleep
        self.clock = clock or time.monotonic
        self.note: Callable[[str], None] = lambda line: log.debug("%s", line)
        self.rate: float | None = None  # recipients a second; 0: unknown, one message a second
        self.quota: dict[str, Any] | None = None
        self.next_at = 0.0
        self.configuration_set: str | None = None  # SES_CONFIGURATION_SET: SES publishes each message's events

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
            code = aws_error_code(exc)
            if code in CREDENTIAL_CODES:
                raise ConfigError(
                    f"SES refused the credentials ({code}): {FATAL_CODES[code]}; nothing was sent"
                ) from None
            log.warning("cannot read the SES send quota (%s): sending one message a second", _safe_code(code))
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

    def send(self, sender: str, to: list[str], bcc: list[str], subject: str, body: str,
             raw: bytes | None = None, tags: dict[str, str] | None = None) -> str:
        """Send one message (plain text, or `raw` MIME); return SES's MessageId or raise SendFailed.

        Call pace() first: it is not done here, so that a run killed while waiting
        leaves no 'sending' mark for a message that was never handed to SES. Only
        answers that prove SES did not take the message are retried (throttling, no
        connection); a 5xx, a timeout or an answer that cannot be read leaves the
        outcome unknown, and it is never retried.
        """
        from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, EndpointConnectionError

        call, request = self.client.send_email, {
            "Source": sender,
            "Destination": {"ToAddresses": to, "BccAddresses": bcc},
            "Message": {
                "Subject": {"Data": subject, "Charset": "UTF-8"},
                "Body": {"Text": {"Data": body, "Charset": "UTF-8"}},
            },
        }
        if raw is not None:  # text+html, or an attachment: the BCC is a destination, never a header
            call, request = self.client.send_raw_email, {
                "Source": sender, "Destinations": to + bcc, "RawMessage": {"Data": raw},
            }
        if self.configuration_set:  # delivery tracking: the events name the report and the period
            request["ConfigurationSetName"] = self.configuration_set
            request["Tags"] = [{"Name": k, "Value": v} for k, v in (tags or {}).items()]
        retry_why = ""
        for attempt in range(1, MAX_SEND_ATTEMPTS + 1):
            if attempt > 1:  # the caller paced the first attempt
                self.pace(len(to) + len(bcc))
            try:
                return str(call(**request)["MessageId"])
            except ClientError as exc:
                retry_why = _send_rejection(exc, sender, "ses:SendRawEmail" if raw is not None else "ses:SendEmail")
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


def _send_rejection(exc: Any, sender: str, action: str = "ses:SendEmail") -> str:
    """Classify SES's error answer to `action`: return why to retry, or raise SendFailed."""
    code, text = _ses_text(aws_error_code(exc))[:80], _ses_text(aws_error_message(exc))
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
    if code in FATAL_CODES:  # a denial names the call denied: SendRawEmail is a permission of its own
        raise SendFailed(f"SES refused ({code}): {FATAL_CODES[code].replace('ses:SendEmail', action)}", fatal=True)
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
        log.debug("cannot read identities (%s)", aws_error_code(exc))
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
    notes: list[str] = field(default_factory=list)  # what happened after the send ("3 dashboard cards posted")

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
        line += f"; {part('sent but not in the ledger', self.unrecorded)}" if self.unrecorded else ""
        return "; ".join([line, *self.notes])


def envelope(report: RenderedReport, delivery: Delivery) -> str:
    """A report with its headers, as archived and as shown by the dry run."""
    to, bcc = delivery.recipients(report.id)
    return (
        f"From: {delivery.sender}\nTo: {', '.join(to)}\nBcc: {', '.join(bcc)}\n"
        f"Subject: {report.subject}\n\n{report.text}"
    )


def build_mime(report: RenderedReport, sender: str, to: list[str], bcc: list[str], fmt: str) -> bytes:
    """The whole message as SendRawEmail takes it: the text part exactly as a text-only send
    carries it, then with fmt 'text+html' the HTML alternative (clients show the last part
    they can); a cut report's uncut text attached after them (multipart/mixed), its bytes
    the archive's. `bcc` is deliberately not written: in a raw message a Bcc header would
    reach every recipient, so those addresses go to SES as destinations only.
    """
    if fmt not in EMAIL_FORMATS:
        raise ValueError(f"email format {fmt!r} is not one of {', '.join(EMAIL_FORMATS)}")
    # Imported here, not at the top: a dry run never builds a message, and these take ~10 ms to load.
    import email.message
    import email.policy

    del bcc
    msg = email.message.EmailMessage(policy=email.policy.SMTP)
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Subject"] = report.subject  # RFC 2047-encoded by the policy where it is not ASCII
    # Quoted-printable keeps the message 7-bit and readable; its encoded text never holds
    # "=_", so a boundary made of it and a hash of the content is safe and the same every run.
    msg.set_content(report.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    if fmt == "text+html":
        page = report.html()
        msg.add_alternative(page, subtype="html", charset="utf-8", cte="quoted-printable")
        digest = hashlib.sha256(f"{report.text}\0{page}".encode()).hexdigest()[:32]
        msg.set_boundary(f"=_{digest}")
    if report.attachment:
        # Bytes, base64: the attachment is the archive's <id>.full.txt byte for byte, line ends included.
        uncut = report.full_text.encode("utf-8")
        msg.add_attachment(uncut, maintype="text", subtype="plain", filename=report.attachment,
                           params={"charset": "utf-8"})
        # base64 never holds "_": the outer boundary, made of a hash of all, is safe and the same every run
        digest = hashlib.sha256(report.text.encode() + b"\0" + uncut).hexdigest()[:32]
        msg.set_boundary(f"=_{digest}")
    return msg.as_bytes()


def raw_message(report: RenderedReport, delivery: Delivery) -> bytes | None:
    """The MIME message to send raw, or None when the report goes as plain text (EMAIL_FORMAT=text,
    nothing attached)."""
    if delivery.email_format == "text" and not report.attachment:
        return None
    to, bcc = delivery.recipients(report.id)
    return build_mime(report, delivery.sender, to, bcc, delivery.email_format)


def outgoing(report: RenderedReport, delivery: Delivery, period: str) -> tuple[RenderedReport, bytes | None]:
    """A report as it is sent, and its raw MIME message (None: a plain SendEmail).

    A cut report carries its uncut text as an attachment. When that would make the message
    larger than SES takes, it goes without it, rendered again so that its text says the
    whole list is too large to attach and names the archive's copy: the reader still gets
    the report, and a warning says why the attachment is missing.
    """
    raw = raw_message(report, delivery)
    if raw is None or len(raw) <= SES_MAX_MESSAGE_BYTES or report.unattached is None:
        return report, raw
    log.warning("%s: the message with the uncut text attached would be %s bytes, more than SES takes (%s): "
                "sent without it; the report says the whole list is in the archive (%s)", report.id,
                format_count(len(raw)), format_count(SES_MAX_MESSAGE_BYTES), full_text_key(period, report.id))
    report = report.unattached()
    return report, raw_message(report, delivery)


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
    after: Callable[[Ledger], None] | None = None,
) -> None:
    """Send every report not yet sent for the period, recording each in the ledger and in outcome.

    `progress`: a stream for a line per report and per pacing wait (a terminal), or None (cron).
    `after`: what to do after the sends, still under the lock, with the period's ledger.
    """
    say = _progress(progress)
    sender.note = say
    if delivery.test_to:
        return _deliver_test(rendered, delivery, sender, outcome, say)
    archive = delivery.archive
    assert archive is not None
    archive.acquire(LOCK_WAIT_SECONDS)
    try:
        ledger = Ledger(archive, outcome.period)
        in_flight: list[Any] = []  # [report id, MessageId or None] while a message is with SES
        try:
            _send_all(rendered, metrics_json, delivery, sender, outcome, ledger, in_flight, force, say)
            if after is not None:
                after(ledger)
        except KeyboardInterrupt as exc:
            raise _interrupted(exc, rendered, outcome, ledger, in_flight) from None
        except LedgerConflict:  # the summary line names what went out and what did not
            if in_flight and in_flight[1]:
                outcome.unrecorded.append(in_flight[0])
            done = {*outcome.sent, *outcome.skipped, *outcome.failed}
            outcome.failed.extend(r.id for r in rendered if r.id not in done)
            raise
    finally:
        archive.release()


def _archive_problem(exc: BaseException) -> str:
    """One line for an archive write that failed: a file's problem, or the S3 archive's own line."""
    return file_problem(exc) if isinstance(exc, OSError) else str(exc)


def _send_all(rendered: list[RenderedReport], metrics_json: str, delivery: Delivery, sender: SesSender,
              outcome: Outcome, ledger: Ledger, in_flight: list[Any], force: bool,
              say: Callable[[str], None]) -> None:
    """The sending loop of deliver(), under the lock."""
    archive, period = ledger.archive, outcome.period
    stop_reason = ""
    run_key = ""  # the key of this run's figures in the period's metrics.json, once kept
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
            if not run_key:  # only a run that sends adds its figures to the period's
                run_key = keep_figures(ledger, metrics_json)
            prior = ledger.entries.get(report.id)  # recording 'sending' replaces it, not this dict
            replaces = _replaced(report.id, prior)
            report, raw = outgoing(report, delivery, period)
            archive.write(f"{period}/{report.id}.txt", envelope(report, delivery).encode("utf-8"))
            if report.full_text and report.full_text != report.text:  # what the "more" lines point to
                archive.write(full_text_key(period, report.id), report.full_text.encode("utf-8"))
            if delivery.email_format == "text+html":
                archive.write(f"{period}/{report.id}.html", report.html().encode("utf-8"))
            sender.pace(len(to) + len(bcc))
            ledger.record(report.id, "sending", subject=report.subject, figures=run_key, **replaces)
            in_flight[:] = [report.id, None]  # from here until SES answers, the outcome is unknown
        except (OSError, ConfigError) as exc:
            log.error("%s: not sent: %s", report.id, _archive_problem(exc))
            outcome.failed.append(report.id)
            stop_reason = "the archive folder cannot be written (see above)"
            continue
        try:
            message_id = sender.send(delivery.sender, to, bcc, report.subject, report.text, raw=raw,
                                     tags={"report": report.id, "period": outcome.period})
        except SendFailed as exc:
            in_flight.clear()
            error = redact(str(exc))
            log.error("%s: %s", report.id, error)
            outcome.failed.append(report.id)
            if exc.fatal:
                stop_reason = "an earlier send failed in a way that stops the run (see above)"
            if not exc.definite:  # stays 'sending': the next run reports it instead of resending
                recorded = _record(ledger, report.id, "sending", subject=report.subject, error=error,
                                   figures=run_key, **replaces)
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
        if _record(ledger, report.id, "sent", subject=report.subject, message_id=message_id, figures=run_key,
                   **replaces):
            say(f"{report.id}: sent to {len(to) + len(bcc)} recipients ({number} of {len(rendered)})")
        else:
            outcome.unrecorded.append(report.id)
            stop_reason = "the ledger cannot be written (see above)"
        in_flight.clear()


def _replaced(report_id: str, prior: dict[str, Any] | None) -> dict[str, str]:
    """For a --force resend of a report sent before: what it replaces, said on stderr and kept in the ledger."""
    if not prior or prior["state"] != "sent":
        return {}
    replaces = f"the send of {prior.get('at', '?')}" + (
        f" (MessageId {prior['message_id']})" if prior.get("message_id") else "")
    log.warning("%s: resending (--force): this send replaces %s; next week's %s report compares with it",
                report_id, replaces, report_id)
    return {"replaces": replaces}


def _deliver_test(rendered: list[RenderedReport], delivery: Delivery, sender: SesSender, outcome: Outcome,
                  say: Callable[[str], None]) -> None:
    """--to: each report to one address, no BCC; no ledger, archive or lock is touched."""
    for number, report in enumerate(rendered, 1):
        to, bcc = delivery.recipients(report.id)
        try:
            report, raw = outgoing(report, delivery, outcome.period)
            sender.pace(len(to) + len(bcc))
            message_id = sender.send(delivery.sender, to, bcc, report.subject, report.text, raw=raw,
                                     tags={"report": report.id, "period": outcome.period})
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
        sending = {k: v for k, v in ledger.entries.get(report_id, {}).items() if k in ("figures", "replaces")}
        kept = _record(ledger, report_id, "sent", subject=next(r.subject for r in rendered if r.id == report_id),
                       message_id=message_id, **sending)
        parts.append(f"{report_id} was accepted by SES (MessageId {message_id})"
                     + ("" if kept else " but the ledger could not record it"))
    elif in_flight:
        parts.append(f"{in_flight[0]} was being handed to SES: its outcome is unknown, and the next run will "
                     "say so instead of resending it (check the BCC copy)")
    sent = [r.id for r in rendered if ledger.state(r.id) == "sent"]
    parts.append(f"the ledger {ledger.where} records as sent: {', '.join(sent) or 'none'}")
    rest = [r.id for r in rendered if ledger.state(r.id) in (None, "failed")]
    if rest:
        parts.append(f"not sent: {', '.join(rest)}; rerun to send them")
    return Interrupted("; ".join(parts), terminated=isinstance(exc, Terminated))


def _record(ledger: Ledger, report_id: str, state: str, **details: Any) -> bool:
    """Record in the ledger; on a write error say what it means and return False.

    Another run's change to the ledger (LedgerConflict) is not caught: it stops the run.
    """
    what = f"sent (SES MessageId {details['message_id']})" if "message_id" in details else state
    try:
        ledger.record(report_id, state, **details)
    except LedgerConflict:
        log.error("%s: %s, but the ledger cannot record it: another run changed it", report_id, what)
        raise
    except (OSError, ConfigError) as exc:
        log.error(
            "%s: %s, but the ledger cannot record it: %s; the next run will report it as unknown",
            report_id, what, _archive_problem(exc),
        )
        return False
    return True


def _json_default(value: Any) -> Any:
    """JSON for dates and decimals in metrics.json."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):  # exact digits as a string: read back with Decimal(text)
        return format(value, "f")
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


def dry_run_text(rendered: list[RenderedReport], shown: Delivery, full: bool = False) -> str:
    """What would be sent: headers and body of every report (`full`: each body uncut, every list whole)."""
    if full:
        rendered = [RenderedReport(id=r.id, subject=r.subject, text=r.full_text or r.text, full_text=r.full_text,
                                   markdown=r.markdown) for r in rendered]
    return "\n".join("=" * WRAP_WIDTH + "\n" + envelope(r, shown) for r in rendered)


# ---------------------------------------------------------------------------
# After the send: dashboard cards. After the CEO report is sent, its top shortfalls go
# to DASHBOARD_WEBHOOK_URL as JSON cards. Each card's id is stable for its period and
# is sent as the Idempotency-Key, so a retry or a rerun after a crash never makes a
# second card on a dashboard that honours the key.

CARD_COUNT = 3
CARD_ATTEMPTS = 4  # a 5xx or a timeout is tried again, with the same key, this many times in all
CARD_BACKOFF_SECONDS = 0.5  # then 1, 2 seconds
CARD_TIMEOUT_SECONDS = 10.0  # one attempt's whole exchange: connect, send, the answer's status and headers


def dashboard_cards(metrics: dict[str, Any], n: int = CARD_COUNT, persona: str = "CEO") -> list[dict[str, Any]]:
    """The CEO report's top shortfalls as cards, in the order its "Needs you" ranks them.

    The ranking is needs_you()'s with the actions left out (the CEO's own and what others
    owe, ranked together, high shortfalls of others too), so the cards are the shortfalls
    the CEO reads first even in a week when overdue actions fill the list.
    A card's id is the item's own id (the same every week for the same shortfall) with
    the period after it: a shortfall still open next week makes next week's card.
    """
    ranked = needs_entries({**metrics, "actions": []}, persona)
    return [
        {
            "id": f"{item['id']}-{metrics['period']}",
            "title": item["what"],
            "entity": item["entity"],
            "persona": item.get("persona") or persona,
            "urgency": item["urgency"],
            "period": metrics["period"],
        }
        for item in ranked
        if item["kind"] == "shortfall"
    ][:n]


def http_post(url: str, body: bytes, headers: dict[str, str], deadline: float) -> int:
    """POST `body` to `url`; the answer's HTTP status. The whole exchange (name lookup, connect,
    send, the status line and headers) has `deadline` seconds, not each read: an answer sent a
    byte at a time cannot hold the run. TimeoutError after it; urllib.error.URLError when no
    connection is made. A redirect is an answer, not followed: it would carry the bearer token
    to another origin as a GET. The proxy settings urllib honours (https_proxy ...) apply.
    """
    import http.client
    import socket
    import ssl
    import threading
    import urllib.error
    import urllib.request

    made: list[http.client.HTTPConnection] = []  # the connections opened, to be cut at the deadline

    def kept(kind: type[http.client.HTTPConnection]) -> Callable[..., http.client.HTTPConnection]:
        """`kind`'s constructor, remembering each connection it makes."""
        def make(*args: Any, **kwargs: Any) -> http.client.HTTPConnection:
            made.append(kind(*args, **kwargs))
            return made[-1]
        return make

    class Plain(urllib.request.HTTPHandler):
        def http_open(self, req: urllib.request.Request) -> Any:
            """Open an http:// request on a connection that is kept."""
            return self.do_open(kept(http.client.HTTPConnection), req)

    context = ssl.create_default_context()

    class Secure(urllib.request.HTTPSHandler):
        def https_open(self, req: urllib.request.Request) -> Any:
            """Open an https:// request on a connection that is kept."""
            return self.do_open(kept(http.client.HTTPSConnection), req, context=context)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            """Follow no redirect (the 3xx comes back as an HTTPError)."""
            return None

    opener = urllib.request.build_opener(NoRedirect, Plain, Secure)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    answer: dict[str, Any] = {}

    def exchange() -> None:
        """The request and its status (the body is not read), on a thread of its own."""
        try:
            with opener.open(request, timeout=deadline) as response:
                answer["status"] = response.status
        except urllib.error.HTTPError as exc:
            answer["status"] = exc.code
            exc.close()
        except (OSError, ValueError, http.client.HTTPException) as exc:  # URLError is an OSError
            answer["error"] = exc

    worker = threading.Thread(target=exchange, name="http-post", daemon=True)
    worker.start()
    worker.join(deadline)
    if worker.is_alive():  # the deadline passed: cut the exchange where it stands
        for conn in made:
            sock = conn.sock
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)  # its blocked read returns at once, and the thread ends
        raise TimeoutError(f"no answer in {deadline:g} s")
    if "error" in answer:
        raise answer["error"]
    return answer["status"]


def post_card(url: str, token: str | None, card: dict[str, Any], *,
              sleep: Callable[[float], None] | None = None, timeout: float | None = None) -> None:
    """POST one card, each attempt within `timeout` (CARD_TIMEOUT_SECONDS) whole; retry a 5xx or a
    timeout with the same Idempotency-Key; raise CardFailed."""
    import http.client
    import urllib.error

    sleep = sleep or time.sleep
    timeout = CARD_TIMEOUT_SECONDS if timeout is None else timeout
    body = json.dumps(card, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json", "Idempotency-Key": card["id"]}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    why = ""
    for attempt in range(1, CARD_ATTEMPTS + 1):
        try:
            status = http_post(url, body, headers, timeout)
        except TimeoutError:
            why = "no answer in time"
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, TimeoutError):
                why = "no answer in time"
            else:
                why = f"cannot connect ({type(reason).__name__})"
        except (OSError, ValueError, http.client.HTTPException) as exc:  # a connection reset, an unreadable answer
            why = type(exc).__name__
        else:
            if 200 <= status < 300:
                return
            if status == 409:  # the dashboard already has a card with this key: it is there
                log.info("dashboard: card %s was already posted (HTTP 409)", card["id"])
                return
            if status < 500:  # a redirect too: followed, it would carry the bearer token elsewhere
                raise CardFailed(f"the dashboard {url_origin(url)} refused card {card['id']} (HTTP {status})")
            why = f"HTTP {status}"
        if attempt < CARD_ATTEMPTS:
            delay = CARD_BACKOFF_SECONDS * 2 ** (attempt - 1)
            log.info("dashboard: %s for card %s; retrying in %.2g s", why, card["id"], delay)
            sleep(delay)
    raise CardFailed(f"the dashboard {url_origin(url)} did not take card {card['id']} after "
                     f"{CARD_ATTEMPTS} attempts ({why})")


# ---------------------------------------------------------------------------
# After the send: the headline figures to CloudWatch.

CLOUDWATCH_MAX_AGE_DAYS = 13  # CloudWatch takes data points up to two weeks old
CLOUDWATCH_BATCH = 1000  # PutMetricData takes at most 1,000 values a call
CLOUDWATCH_NAMES = {
    "cash": ("Cash", "None"),
    "revenue_avg": ("Revenue3MonthAverage", "None"),
    "expenses_avg": ("Expenses3MonthAverage", "None"),
    "burn": ("Burn", "None"),
    "events": ("Events", "Count"),
    "users": ("Users", "Count"),
}
CLOUDWATCH_SMALLEST = Decimal("8.515920e-109")  # CloudWatch refuses magnitudes outside its range
CLOUDWATCH_LARGEST = Decimal("1.174271e+108")


def cloudwatch_dimension(name: str, taken: set[str]) -> str:
    """An entity's name as a CloudWatch dimension value, which must be printable ASCII (1-1,024).

    Accents are dropped (Café -> Cafe) and any other character becomes '_'; should two
    names come out the same, or one come out blank, a short hash of the real name tells
    them apart, so that each business keeps series of its own, the same every week.
    """
    import hashlib

    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    value = "".join(ch if ch.isprintable() else "_" for ch in folded).strip()[:1000]
    if not value or value in taken:
        value = f"{value or 'entity'} ({hashlib.sha256(name.encode()).hexdigest()[:8]})"
    taken.add(value)
    return value


def cloudwatch_data(headline: dict[str, dict[str, Decimal]], when: dt.datetime) -> list[dict[str, Any]]:
    """One MetricDatum per headline figure of each entity and of the portfolio (dimension Entity).

    Only numbers go: a text figure ("no data") is left out, and so is a value CloudWatch
    cannot hold. Sorted, so that the batches of a rerun are the batches of the first run.
    """
    data = []
    taken: set[str] = set()
    for scope in sorted(headline):
        dimension = cloudwatch_dimension(scope, taken)
        for name, value in sorted(headline[scope].items()):
            if name not in CLOUDWATCH_NAMES or not value.is_finite():
                continue
            if value != 0 and not CLOUDWATCH_SMALLEST <= abs(value) <= CLOUDWATCH_LARGEST:
                continue
            metric, unit = CLOUDWATCH_NAMES[name]
            data.append({
                "MetricName": metric,
                "Dimensions": [{"Name": "Entity", "Value": dimension}],
                "Timestamp": when,
                "Value": float(value),
                "Unit": unit,
            })
    return data


def batches(items: list[Any], size: int) -> list[list[Any]]:
    """Split items into consecutive lists of at most `size`."""
    return [items[i : i + size] for i in range(0, len(items), size)]


# ---------------------------------------------------------------------------
# After the send: every side effect in the ledger. A card and a metrics batch are
# entries of the period's ledger beside its emails, each going pending -> done (or
# failed), so that a rerun completes exactly what is missing. Unlike an email, a side
# effect left pending by a run that died between doing it and recording it is simply
# done again: a card carries its Idempotency-Key, a metrics batch the same values at
# the same timestamp (CloudWatch's Average and Maximum do not change with a repeat).

CARD_KEY = "card:"  # card:<card id>
METRICS_KEY = "metrics:cloudwatch:"  # metrics:cloudwatch:<batch number, from 1>
DASHBOARD_PERSONA = "CEO"  # the report whose shortfalls become cards
CLOUDWATCH_NAMESPACE_RE = re.compile(r"[A-Za-z0-9._/#: -]{1,255}")  # CloudWatch's namespace alphabet


@dataclass
class AfterSend:
    """The after-the-send settings, checked before the first send."""

    dashboard_url: str | None = None
    dashboard_token: str | None = None
    ceo_report: str | None = None  # the id of the report whose sending lets the cards go
    namespace: str | None = None
    cloudwatch: Any = None  # a CloudWatch client when CLOUDWATCH_NAMESPACE is set
    sleep: Callable[[float], None] | None = None  # the cards' retry waits (tests pass their own)


def after_send_settings(settings: Settings, reports: Iterable[ReportTemplate]) -> AfterSend:
    """DASHBOARD_WEBHOOK_URL, DASHBOARD_TOKEN and CLOUDWATCH_NAMESPACE, validated; ConfigError if wrong."""
    after = AfterSend()
    url = settings.get("DASHBOARD_WEBHOOK_URL")
    if url:
        try:
            parts = urllib.parse.urlsplit(url)
            parts.port  # noqa: B018 (raises ValueError for a bad port)
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError("DASHBOARD_WEBHOOK_URL is not an http(s) URL with a host; write the webhook's "
                              "whole address, starting https://")
        if parts.username or parts.password:
            raise ConfigError("DASHBOARD_WEBHOOK_URL holds a user name or password; put the secret in "
                              "DASHBOARD_TOKEN instead (it is sent as a bearer token)")
        for piece in (parts.path.strip("/"), parts.query, parts.fragment):  # a token may hide there
            if len(piece) >= MIN_SECRET_LENGTH:
                _secrets.add(piece)
        ceo = [r for r in reports if _same_persona(r.persona, DASHBOARD_PERSONA) and not r.entity]
        if not ceo:
            raise ConfigError("DASHBOARD_WEBHOOK_URL is set, but no report in the reports folder is the CEO's "
                              "(persona: CEO): the cards are the CEO report's shortfalls")
        after.dashboard_url, after.ceo_report = url, ceo[0].id
        after.dashboard_token = settings.get("DASHBOARD_TOKEN") or None
        # found now, not as a card that fails once the reports are out: a header takes no such token
        if after.dashboard_token is not None and not re.fullmatch(r"[!-~]+", after.dashboard_token):
            raise ConfigError("DASHBOARD_TOKEN holds a space, a control character or a character outside ASCII, "
                              "which a bearer token cannot; copy the token again, exactly")
    namespace = settings.get("CLOUDWATCH_NAMESPACE")
    if namespace:
        if not CLOUDWATCH_NAMESPACE_RE.fullmatch(namespace) or namespace.startswith("AWS/"):
            raise ConfigError(
                f"CLOUDWATCH_NAMESPACE={namespace[:60]!r}: not a namespace CloudWatch takes; use up to 255 "
                "letters, digits, spaces and . _ / # : - (not starting with AWS/), e.g. ExecReports"
            )
        after.namespace = namespace
    return after


def do_once(ledger: Ledger, key: str, pending: str, done: str, action: Callable[[], dict[str, Any] | None],
            **details: Any) -> bool:
    """Do one side effect for the period unless the ledger says it is done: record `pending`,
    do it, then record `done` with what `action` returns (or 'failed' and raise AfterSendFailed).

    Returns False when it was already done. Only side effects that are safe to repeat come
    here: one left pending by a run that stopped is done again.
    """
    state = ledger.state(key)
    if state == done:
        return False
    if state == pending:
        log.info("%s: a run stopped while it was under way; doing it again (safe to repeat)", key)
    try:
        ledger.record(key, pending, **details)
    except OSError as exc:
        raise AfterSendFailed(f"{key}: not done: the ledger cannot be written ({file_problem(exc)})") from None
    try:
        result = action() or {}
    except AfterSendFailed as exc:
        try:
            ledger.record(key, "failed", **details, error=redact(str(exc)))
        except OSError as err:  # it still says pending: the next run does it again, as it would anyway
            log.warning("%s: the ledger cannot record that it failed (%s)", key, file_problem(err))
        raise
    try:
        ledger.record(key, done, **details, **result)
    except OSError as exc:
        raise AfterSendFailed(f"{key}: done, but the ledger cannot record it ({file_problem(exc)}); the next "
                              "run does it again, which is safe") from None
    return True


def post_cards(ledger: Ledger, after: AfterSend, cards: list[dict[str, Any]]) -> int:
    """Post each card the ledger does not have as posted; the number posted. Stops at the first failure."""
    assert after.dashboard_url is not None
    posted = 0
    for number, card in enumerate(cards):
        def post(card: dict[str, Any] = card) -> None:
            try:
                post_card(after.dashboard_url, after.dashboard_token, card, sleep=after.sleep)  # type: ignore[arg-type]
            except CardFailed as exc:
                raise AfterSendFailed(str(exc)) from None

        try:
            posted += do_once(ledger, CARD_KEY + card["id"], "posting", "posted", post, title=card["title"])
        except AfterSendFailed as exc:
            left = len(cards) - number
            raise AfterSendFailed(f"{exc}; the reports were sent; {_plural(left, 'card')} not posted: rerun to "
                                  "post them") from None
    return posted


def cloudwatch_timestamp(as_of: dt.date, now: dt.datetime) -> dt.datetime:
    """When the figures of a first push happened: the end of the as-of day (UTC), or now.

    A send for an earlier week puts its figures in that week on a graph, not today's; an
    as-of day not yet over goes at now (CloudWatch refuses points over two hours ahead),
    and one older than CloudWatch takes goes at now too, as a late rerun does.
    """
    end = dt.datetime.combine(as_of, dt.time(23, 59, 59), tzinfo=dt.UTC)
    if end > now or now - end > dt.timedelta(days=CLOUDWATCH_MAX_AGE_DAYS):
        return now
    return end


def push_metrics(ledger: Ledger, after: AfterSend, headline: dict[str, dict[str, Decimal]], as_of: dt.date,
                 now: dt.datetime) -> int:
    """Put the headline figures (as of `as_of`) in CloudWatch, a batch at a time, each batch once; the values put."""
    from botocore.exceptions import BotoCoreError, ClientError

    # a rerun reuses the first push's timestamp, so a repeated batch holds the very same data points
    stamps = [e["timestamp"] for k, e in ledger.entries.items() if k.startswith(METRICS_KEY) and "timestamp" in e]
    when = dt.datetime.fromisoformat(stamps[0]) if stamps else cloudwatch_timestamp(as_of, now)
    if when.tzinfo is None or now - when > dt.timedelta(days=CLOUDWATCH_MAX_AGE_DAYS):
        when = now  # CloudWatch refuses data points older than two weeks: a late rerun puts them now
    data = cloudwatch_data(headline, when)
    pushed = 0
    for number, batch in enumerate(batches(data, CLOUDWATCH_BATCH), 1):
        def put(batch: list[dict[str, Any]] = batch) -> None:
            try:
                after.cloudwatch.put_metric_data(Namespace=after.namespace, MetricData=batch)
            except ClientError as exc:
                code = _safe_code(aws_error_code(exc))
                grant = "; grant cloudwatch:PutMetricData" if code in ACCESS_DENIED_CODES else ""
                raise AfterSendFailed(f"CloudWatch refused the figures ({code or 'no error code'}){grant}") from None
            except BotoCoreError as exc:
                raise AfterSendFailed(f"CloudWatch cannot be reached ({_boto_reason(exc)})") from None

        try:
            if do_once(ledger, f"{METRICS_KEY}{number}", "pushing", "pushed", put,
                       namespace=after.namespace, values=str(len(batch)), timestamp=when.isoformat()):
                pushed += len(batch)
        except AfterSendFailed as exc:
            raise AfterSendFailed(f"{exc}; the reports were sent; rerun to put the missing figures "
                                  f"(namespace {after.namespace})") from None
    return pushed


def after_the_send(ledger: Ledger, after: AfterSend, metrics: dict[str, Any], headline: dict[str, dict[str, Decimal]],
                   outcome: Outcome, now: dt.datetime | None = None) -> list[str]:
    """The side effects after the sends, each at most once a period; the problems, one line each."""
    problems = []
    if after.dashboard_url and ledger.state(after.ceo_report or "") == "sent":
        try:
            posted = post_cards(ledger, after, dashboard_cards(metrics, persona=DASHBOARD_PERSONA))
            if posted:
                outcome.notes.append(f"{_plural(posted, 'dashboard card')} posted")
        except AfterSendFailed as exc:
            problems.append(redact(str(exc)))
    if after.namespace and any(ledger.state(k) == "sent" for k in ledger.entries):
        try:
            pushed = push_metrics(ledger, after, headline, metrics["as_of"], now or dt.datetime.now(dt.UTC))
            if pushed:
                outcome.notes.append(f"{_plural(pushed, 'figure')} put in CloudWatch")
        except AfterSendFailed as exc:
            problems.append(redact(str(exc)))
    return problems


def dry_run_cards(after: AfterSend, metrics: dict[str, Any]) -> str:
    """--dry-run: the cards a real run would post, one JSON object a line (empty without a dashboard)."""
    if not after.dashboard_url:
        return ""
    cards = dashboard_cards(metrics, persona=DASHBOARD_PERSONA)
    # set apart from the last report's body, as each report is from the one before
    lines = ["=" * WRAP_WIDTH, f"Dashboard cards a real run posts to {url_origin(after.dashboard_url)} once the "
             f"{after.ceo_report} report is sent ({len(cards)}):"]
    lines += [json.dumps(card, ensure_ascii=False, sort_keys=True) for card in cards]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# After the send: delivery tracking. With SES_CONFIGURATION_SET every message carries the
# configuration set and the tags report=<id> and period=<period>; SES publishes its
# events to an SNS topic, and SES_EVENTS_QUEUE_URL is an SQS queue subscribed to it.
# Each real run reads that queue before rendering, matches the events to the MessageIds
# in the ledgers of the archive, and keeps the news that stands per report in its ledger
# entry (delivery: {state, at, detail}).

SES_TAG_RE = re.compile(r"[A-Za-z0-9_.@-]{1,255}")  # the alphabet SES takes for a tag value
CONFIGURATION_SET_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
# event type -> the state recorded
SES_EVENT_STATES = {
    "Send": "accepted", "Delivery": "delivered", "DeliveryDelay": "delayed",
    "Complaint": "complained", "Bounce": "bounced", "Reject": "rejected",
}
# SES events that say what a reader did, not whether the email arrived: a configuration set that
# also publishes them (open and click tracking) is normal, so they are deleted without a word.
SES_READER_EVENTS = frozenset({"Open", "Click", "Subscription"})
# Which news stands, lowest first; between two of the same state, the later by the event's own
# time. A final state (delivered, or a failure) beats a transient one (accepted, delayed), so a
# delay followed by the delivery ends "delivered", in whatever order the events arrive. A failure
# beats a delivery: a permanent bounce, a complaint or a rejection is never undone, and a delivery
# after it is another reader's copy. Among failures, the more serious stands.
EVENT_RANK = {state: n for n, state in enumerate(("accepted", "delayed", "delivered", "complained", "bounced",
                                                 "rejected"))}
LOUD_EVENTS = frozenset({"complained", "bounced", "rejected"})  # said once, loudly, with exit 69
EVENTS_MAX_MESSAGES = 1000  # read at most this many queue messages a run (100 calls of 10)
# SQS answers "nothing" now and then while messages wait (it asks only some of its servers), so
# the queue is read with long polls until a few in a row come back empty, or the time is up.
EVENTS_POLL_WAIT_SECONDS = 10  # each ReceiveMessage waits up to this long for a message (SQS allows 20)
EVENTS_EMPTY_POLLS = 2  # this many empty answers in a row end the reading
EVENTS_READ_SECONDS = 60.0  # and the reading ends this long after it began, however it goes
EVENTS_HIDDEN_SECONDS = 300  # a message read stays hidden from another reader this long (read, record, delete)
EVENT_DETAIL_MAX = 200


def tag_settings(settings: Settings, reports: Iterable[ReportTemplate]) -> str | None:
    """SES_CONFIGURATION_SET checked, and every report id able to be an SES tag value; the set's name or None."""
    name = settings.get("SES_CONFIGURATION_SET")
    if not name:
        return None
    if not CONFIGURATION_SET_RE.fullmatch(name):
        raise ConfigError(f"SES_CONFIGURATION_SET={name[:70]!r}: not a configuration set name (up to 64 letters, "
                          "digits, _ and -)")
    for r in reports:  # refused, not rewritten: a changed tag would not match the report it names
        if not SES_TAG_RE.fullmatch(r.id):
            raise ConfigError(f"{r.path}: the report id {r.id!r} cannot be an SES tag value (with "
                              "SES_CONFIGURATION_SET); rename the file with letters, digits and _ - . @ only")
    return name


def events_queue_setting(settings: Settings) -> str | None:
    """SES_EVENTS_QUEUE_URL checked (an https SQS queue URL), or None."""
    url = settings.get("SES_EVENTS_QUEUE_URL")
    if not url:
        return None
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or parts.path.count("/") != 2:
        raise ConfigError("SES_EVENTS_QUEUE_URL is not an SQS queue URL; copy it from `aws sqs get-queue-url` "
                          "(https://sqs.<region>.amazonaws.com/<account>/<queue>)")
    return url


def event_time(value: Any) -> str:
    """An SES event's timestamp in one form (UTC, milliseconds, Z), so that text order is time
    order ('08:00:05Z' sorts after '08:00:05.500Z' as written); '' when it is not a time."""
    if not isinstance(value, str):
        return ""
    try:
        when = dt.datetime.fromisoformat(value[:40])
    except ValueError:
        return ""
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)  # SES writes UTC
    try:
        when = when.astimezone(dt.UTC)
    except OverflowError:
        return ""
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_ses_event(body: str) -> dict[str, str] | None:
    """One SES event from a queue message (inside an SNS notification, or raw): its MessageId,
    state, time and detail; None when it is not an SES event this tool understands. An event of
    what a reader did (SES_READER_EVENTS) has the state "": it says nothing about delivery.
    """
    try:
        data = json.loads(body)
        if isinstance(data, dict) and data.get("Type") == "Notification" and isinstance(data.get("Message"), str):
            data = json.loads(data["Message"])
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("mail"), dict):
        return None
    kind = data.get("eventType") or data.get("notificationType")  # event publishing, or identity notifications
    if not isinstance(kind, str):  # a list or an object cannot be looked up (the queue is not ours to trust)
        return None
    message_id = data["mail"].get("messageId")
    if kind in SES_READER_EVENTS and isinstance(message_id, str):
        return {"message_id": message_id, "state": "", "at": "", "sent": "", "detail": ""}
    if kind not in SES_EVENT_STATES or not isinstance(message_id, str):
        return None
    what = data.get(kind[0].lower() + kind[1:])
    what = what if isinstance(what, dict) else {}

    def listed(key: str) -> list[Any]:
        """A list field of the event; [] when it is missing or not a list (the queue is not ours to trust)."""
        value = what.get(key)
        return value if isinstance(value, list) else []

    sent = event_time(data["mail"].get("timestamp"))
    at = event_time(what.get("timestamp")) or sent
    detail = ""
    if kind == "Bounce":
        who = [r.get("emailAddress", "?") for r in listed("bouncedRecipients") if isinstance(r, dict)]
        detail = f"{what.get('bounceType', '?')}/{what.get('bounceSubType', '?')}: {', '.join(map(str, who))}"
    elif kind == "Complaint":
        who = [r.get("emailAddress", "?") for r in listed("complainedRecipients") if isinstance(r, dict)]
        detail = f"complaint from {', '.join(map(str, who))}"
    elif kind == "Reject":
        detail = str(what.get("reason", ""))
    elif kind == "Delivery":
        detail = f"to {len(listed('recipients'))} recipients"
    state = SES_EVENT_STATES[kind]
    if kind == "Bounce" and what.get("bounceType") == "Transient":
        state = "delayed"  # a soft bounce: SES tries again
    return {"message_id": message_id, "state": state, "at": at, "sent": sent,
            "detail": " ".join(redact(detail).split())[:EVENT_DETAIL_MAX]}


def settled_event(a: dict[str, str] | None, b: dict[str, str]) -> dict[str, str]:
    """The delivery record that stands of two (EVENT_RANK; the later one when the states are the same)."""
    if a is None:
        return b
    ra, rb = EVENT_RANK.get(a.get("state", ""), -1), EVENT_RANK[b["state"]]
    return b if (rb, b.get("at", "")) > (ra, a.get("at", "")) else a


def _sqs_fail(exc: BaseException, doing: str) -> ReportError:
    """One line for an SQS error (its own text is never printed)."""
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        code = _safe_code(aws_error_code(exc))
        grant = "; grant sqs:ReceiveMessage and sqs:DeleteMessage on the queue" if code in ACCESS_DENIED_CODES else ""
        return SendError(f"SES_EVENTS_QUEUE_URL: SQS refused {doing} ({code or 'no error code'}){grant}")
    return SendError(f"SES_EVENTS_QUEUE_URL: SQS cannot be reached while {doing} ({_boto_reason(exc)})")


def read_ses_events(sqs: Any, queue_url: str, limit: int = EVENTS_MAX_MESSAGES, *,
                    clock: Callable[[], float] | None = None) -> list[tuple[str, str]]:
    """The queue's messages as (receipt handle, body), read with long polls until EVENTS_EMPTY_POLLS
    empty answers in a row, `limit` messages, or EVENTS_READ_SECONDS (tests pass their own clock).
    """
    from botocore.exceptions import BotoCoreError, ClientError

    clock = clock or time.monotonic
    deadline = clock() + EVENTS_READ_SECONDS
    found: dict[str, tuple[str, str]] = {}  # by SQS MessageId: a message seen twice is read once
    empty = 0
    while len(found) < limit and empty < EVENTS_EMPTY_POLLS:
        left = deadline - clock()
        if left <= 0:
            log.info("SES_EVENTS_QUEUE_URL: stopped reading after %.0f s; the rest waits for the next run",
                     EVENTS_READ_SECONDS)
            break
        try:
            answer = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                         WaitTimeSeconds=int(min(EVENTS_POLL_WAIT_SECONDS, left)),
                                         VisibilityTimeout=EVENTS_HIDDEN_SECONDS)
        except (ClientError, BotoCoreError) as exc:
            raise _sqs_fail(exc, "reading the events") from None
        messages = answer.get("Messages", [])
        empty = 0 if messages else empty + 1
        for m in messages:
            found[m.get("MessageId") or m["ReceiptHandle"]] = (m["ReceiptHandle"], m.get("Body", ""))
    return list(found.values())[:limit]


def delete_events(sqs: Any, queue_url: str, handles: list[str]) -> None:
    """Delete read messages from the queue, ten a call."""
    from botocore.exceptions import BotoCoreError, ClientError

    for batch in batches(handles, 10):
        try:
            answer = sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
                {"Id": str(n), "ReceiptHandle": h} for n, h in enumerate(batch)])
        except (ClientError, BotoCoreError) as exc:
            raise _sqs_fail(exc, "deleting the events read") from None
        if answer.get("Failed"):  # they come back after the visibility timeout and are matched again: harmless
            log.warning("SES_EVENTS_QUEUE_URL: %d events could not be deleted; the next run reads them again",
                        len(answer["Failed"]))


def archive_ledgers(archive: Archive, period: str) -> dict[str, Ledger]:
    """Every ledger the archive holds, by period, oldest first (read; none is created).

    The run's own period's ledger must be readable (ConfigError, as for the send); an older
    one that is not stops the reading of the news (SendError), so that no event it may hold
    is deleted unrecorded.
    """
    ledgers = {}
    for p in archive.periods():
        try:
            ledger = Ledger(archive, p)
        except ConfigError:
            if p == period:
                raise
            raise SendError(f"{archive.describe(f'{p}/{LEDGER_NAME}')}: this ledger cannot be read (--status "
                            f"--as-of {period_start(p)} says why), so no delivery news was read: repair it or "
                            "move it aside") from None
        if ledger.version is not None:  # there is a ledger for that period
            ledgers[p] = ledger
    return ledgers


def record_events(ledgers: dict[str, Ledger], events: list[dict[str, str]]) -> tuple[list[str], set[str]]:
    """Record the delivery news that stands (settled_event) in each report's ledger entry; the loud
    lines (news recorded for the first time) and the MessageIds the ledgers hold.
    """
    owner = {}
    for period, ledger in ledgers.items():
        for key, entry in ledger.entries.items():
            if entry.get("message_id"):
                owner[entry["message_id"]] = (period, ledger, key)
    worst: dict[tuple[str, str], dict[str, str]] = {}
    for event in events:
        if event["message_id"] in owner:
            period, _, key = owner[event["message_id"]]
            worst[(period, key)] = settled_event(worst.get((period, key)), event)
    loud = []
    for (period, key), event in worst.items():
        ledger = ledgers[period]
        entry = ledger.entries[key]
        if entry.get("message_id") != event["message_id"]:
            continue  # resent (--force) since: the news is about a message no longer on record
        before = entry.get("delivery")
        news = settled_event(before, {k: event[k] for k in ("state", "at", "detail")})
        if news == before:
            continue
        details = {k: v for k, v in entry.items() if k != "state"}
        ledger.record(key, entry["state"], **{**details, "delivery": news})
        if news["state"] in LOUD_EVENTS and (before or {}).get("state") != news["state"]:
            loud.append(f"{key} ({period}) {news['state']}: {news['detail'] or 'no detail'}; check its readers' "
                        f"addresses (EXEC_REPORT_TO, {report_setting(key)})")
    return loud, set(owner)


def track_delivery(sqs: Any, queue_url: str, archive: Archive, period: str) -> list[str]:
    """Read the SES events queue and record them (under the run lock); the loud lines for stderr.

    An event is matched by its MessageId to the ledger of whichever period sent it (a
    report sent early for a holiday week, or late for an old one, included), recorded
    there, and only then deleted from the queue. Deleted unrecorded: messages that hold
    no SES event (with a warning), events of what a reader did (opens, clicks: quietly), and
    events of a message sent before the oldest period in the archive began (no ledger here can
    hold it). Every other event stays for the queue's retention
    period (test sends with --to, the first copy of a report resent with --force): a
    ledger moved aside for repair may yet be put back.
    """
    archive.acquire(LOCK_WAIT_SECONDS)
    try:
        read = read_ses_events(sqs, queue_url)
        if not read:
            return []
        ledgers = archive_ledgers(archive, period)
        parsed = [(handle, parse_ses_event(body)) for handle, body in read]
        events = [e for _, e in parsed if e is not None and e["state"]]
        try:
            loud, known = record_events(ledgers, events)
        except OSError as exc:
            raise ConfigError(f"the send ledger: {file_problem(exc)}; nothing was sent") from None
        oldest = str(period_start(min(ledgers))) if ledgers else ""  # period names sort as time does
        done = [h for h, e in parsed if e is None or not e["state"] or e["message_id"] in known
                or (e["sent"] and e["sent"][:10] < oldest)]
        if skipped := sum(1 for _, e in parsed if e is None):
            log.warning("SES_EVENTS_QUEUE_URL: deleted %s that held no SES event", _plural(skipped, "message"))
        delete_events(sqs, queue_url, done)
        return loud
    finally:
        archive.release()


# How the previous period's reports fared, in the order the delivery line names them:
# (what a report's ledger entry and news make of it, how the line says it).
DELIVERY_GROUPS = (
    ("delivered", "delivered"), ("delayed", "delayed"), ("bounced", "bounced"),
    ("complained", "with a complaint"), ("rejected", "rejected by SES"), ("accepted", "sent, no news yet"),
    ("failed", "failed to send"), ("sending", "outcome unknown"), ("", "not sent"),
)


def delivery_line(archive: Archive | None, period: str, titles: dict[str, str] | None = None) -> str | None:
    """The CEO report's line on the previous period's reports; None when no ledger holds a report then.

    Each outcome is counted on its own, and each report but a delivered one named by its
    title ('1 bounced: CFO Report'), by its id when its template is gone. `titles` holds
    every report, so that one the period never tried is named as not sent.
    """
    if archive is None:
        return None
    prev = recent_periods(period, 2)[0]
    try:
        ledger = Ledger(archive, prev)
    except (OSError, ReportError):
        return None  # the run says what is wrong with the archive when it writes there
    entries = {k: e for k, e in ledger.entries.items() if ":" not in k}  # the emails, not cards or metrics
    if not entries:
        return None
    titles = titles or {}
    outcome = {}
    for report_id in [*titles, *sorted(set(entries) - set(titles))]:
        entry = entries.get(report_id)
        if entry is None:
            outcome[report_id] = ""
        elif entry["state"] == "sent":
            news = (entry.get("delivery") or {}).get("state")
            outcome[report_id] = news if news in EVENT_RANK else "accepted"  # news not understood is none
        else:
            outcome[report_id] = entry["state"]
    parts = []
    for state, label in DELIVERY_GROUPS:
        named = [titles.get(k, k) for k, s in outcome.items() if s == state]
        if named:
            parts.append(f"{len(named)} {label}" + ("" if state == "delivered" else f": {', '.join(named)}"))
    return f"Last week's reports ({prev}): {'; '.join(parts)}"


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
    p.add_argument("--full", action="store_true", help="with --dry-run: print each report uncut, every list whole")
    args = p.parse_args(argv)
    if args.only is not None and not [w for w in args.only.split(",") if w.strip()]:
        raise UsageError(f"--only {args.only!r} names no report; give ids from --list, comma-separated "
                         "(leave --only out for every report)")
    if args.to is not None:
        args.to = check_test_address(args.to)
    if args.full and not args.dry_run:  # what is sent is always the cut text: --full only changes what is printed
        raise UsageError("--full prints the uncut reports of a dry run; add --dry-run (a send is always cut)")
    return args


def sample_date() -> dt.date | None:
    """The as-of date the sample portfolio is written for (examples/AS_OF), None without the file."""
    try:
        text = SAMPLE_AS_OF_FILE.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{SAMPLE_AS_OF_FILE}:1: {text[:40]!r} is not a date; write it as YYYY-MM-DD") from None


def list_text(reports: list[ReportTemplate]) -> str:
    """--list: one report a line under a header, in columns as wide as their longest entry."""
    rows = [["id", "persona", "title"]] + [
        [r.id, r.persona, r.title + (f" [{r.entity}]" if r.entity else "")] for r in reports
    ]
    widths = [max(_cols(row[i]) for row in rows) for i in range(2)]
    return "".join(
        f"{_pad(row[0], widths[0], False)}  {_pad(row[1], widths[1], False)}  {row[2]}\n" for row in rows
    )


class _LogLines(logging.Formatter):
    """The log's lines: under cron (stderr no terminal) each opens with the UTC time and the period.

    `tail cron.log` then shows which lines belong to which run. On a terminal a person
    watches one run: its lines stay short, as they always were.
    """

    def __init__(self, stamped: bool, clock: Callable[[], dt.datetime]) -> None:
        super().__init__("send_exec_reports: %(message)s")
        self.stamped, self.clock = stamped, clock
        self.period = iso_period(clock().date())  # until the run's as-of date is known

    def format(self, record: logging.LogRecord) -> str:
        """One record, each of its lines stamped under cron."""
        text = super().format(record)
        if not self.stamped:
            return text
        stamp = f"{self.clock().astimezone(dt.UTC):%Y-%m-%dT%H:%M:%SZ} {self.period} "
        return "\n".join(stamp + line for line in text.split("\n"))


@dataclass
class PreparedRun:
    """What every mode of a run starts from: the settings, the figures and the rendered reports."""

    settings: Settings
    delivery: Delivery
    after: AfterSend
    configuration_set: str | None  # SES_CONFIGURATION_SET, tagging every message sent
    portfolio: Portfolio
    metrics: dict[str, Any]
    headline: dict[str, dict[str, Decimal]]  # the run's headline figures (headline_figures), put in CloudWatch
    items: list[dict[str, Any]]  # what metrics.json keeps of the run's items (report_items)
    rendered: list[RenderedReport]
    problems: list[str]  # after the send: what failed (the reports went out), one line each
    loud: list[str]  # delivery news said once: a bounce, a complaint, a rejection


def show_status(archive: Archive, period: str, titles: dict[str, str] | None = None) -> str:
    """The ledger of a period as text: each report's state, when, its MessageId or what went wrong."""
    ledger = Ledger(archive, period)
    # the news of last week's sends comes in with this week's run: shown as the CEO report shows it
    last = delivery_line(archive, period, titles)
    last_week = f"{clean_text(last)}\n" if last else ""
    if not ledger.entries:
        return (f"{period}: nothing recorded ({ledger.where} does not exist: no report was sent for this "
                f"period)\n{last_week}")
    meaning = {"sent": "sent", "sending": "outcome unknown", "failed": "failed", "posting": "outcome unknown",
               "posted": "posted", "pushing": "outcome unknown", "pushed": "pushed"}
    rows = []
    # the reports first, then what followed them (cards, the metrics push)
    for report_id, entry in sorted(ledger.entries.items(), key=lambda kv: (":" in kv[0], kv[0])):
        detail = f"MessageId {entry['message_id']}" if entry.get("message_id") else ""
        if entry.get("replaces"):  # a --force resend
            detail += f"{'; ' if detail else ''}replaced {entry['replaces']}"
        problem = entry.get("error") or entry.get("last_error")
        if problem:
            detail = f"{detail}; " if detail else ""
            detail += ("last resend failed: " if entry.get("last_error") else "") + problem
        news = entry.get("delivery") if isinstance(entry.get("delivery"), dict) else None
        delivery = "" if ":" in report_id else "no news"
        if news:
            delivery = str(news.get("state", "?"))
            if news.get("detail") and news.get("state") != "delivered":
                detail = f"{detail}; " if detail else ""
                detail += f"{news['state']} {news.get('at', '')}: {news['detail']}"
        # a ledger is a file anyone may have edited: its text is shown, never obeyed by the terminal
        rows.append([clean_text(str(c)) for c in (report_id, meaning[entry["state"]], entry.get("at", "?"),
                                                  delivery, detail)])
    head = ["report", "state", "at (UTC)", "delivery", "MessageId or problem"]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
    lines = [f"{period} ({ledger.where}):"]
    for row in [head, *rows]:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row[:4], widths, strict=True)) + "  " + row[4])
    return "\n".join(line.rstrip() for line in lines) + "\n" + last_week


def run(args: argparse.Namespace, reports: list[ReportTemplate], selected: list[ReportTemplate], *,
        read: tuple[Path | None, dict[str, str]] | None = None, done: list[Outcome] | None = None,
        clock: Callable[[], dt.datetime] = utc_now, lines: _LogLines | None = None) -> int:
    """Validate everything, render every report, then print, check or send.

    `read`: the settings read_settings gave (read once a run: the secret is asked once);
    `done`: where the run's Outcome is put (the Lambda handler returns it); `clock` is the
    run's time (UTC; tests pass a fixed one); `lines`, the log's line format, is told the
    period once the as-of date is known.
    """
    prepared = prepare_run(args, reports, selected, read=read, clock=clock, lines=lines)
    if args.check:
        return check_run(args, prepared)
    if args.dry_run:
        return show_dry_run(args, prepared, done)
    return send_run(args, prepared, done)


def run_as_of(args: argparse.Namespace, settings: Settings, lines: _LogLines | None) -> dt.date:
    """The run's as-of date: --as-of, else today; the sample without a repos.env, the date it is written for."""
    as_of = args.as_of or dt.date.today()
    if not settings.used_examples:
        return as_of
    # The sample's overdue actions and stale handoffs are written for one date: show it as intended.
    sample_as_of = sample_date() if args.as_of is None else None
    as_of = sample_as_of or as_of
    if lines is not None:
        lines.period = iso_period(as_of)
    when = ""
    if sample_as_of:
        when = f", as of {as_of}, the date it is written for (--as-of YYYY-MM-DD for another, e.g. today)"
    log.warning("no repos.env: dry run on the sample portfolio in %s%s", EXAMPLES_DIR, when)
    return as_of


def read_run_handoffs(args: argparse.Namespace, settings: Settings, reports: list[ReportTemplate],
                      as_of: dt.date) -> Portfolio:
    """The run's handoffs, checked against every report's persona; the files skipped named where it matters."""
    handoff_dir = input_location(settings, "HANDOFF_DIR", settings.handoff_dir)
    # every report's persona; a handoff dated after the later of today and the as-of date is a
    # mistake, while one dated after a past --as-of is a report written for an earlier week
    portfolio = read_handoffs(handoff_dir, [r.persona for r in reports], max(as_of, dt.date.today()))
    skipped = skipped_line(portfolio.skipped)
    # A README among the handoffs is normal, and every report's data-sources line names it:
    # cron (and a script reading a dry run) stays quiet about it; --check and a person at a
    # terminal are told, so that a handoff whose front matter went missing is noticed.
    if skipped and (args.check or sys.stderr.isatty()):
        log.warning("%s", skipped)
    # A file that looks like a handoff but is not named as one (ops.md.txt) is not normal:
    # its project is missing from every report, so cron says so too.
    if misnamed := skipped_line(portfolio.misnamed, MISNAMED_WHY):
        log.warning("%s", misnamed)
    return portfolio


def read_run_tables(settings: Settings, portfolio: Portfolio,
                    clock: Callable[[], dt.datetime]) -> dict[str, TableCount]:
    """The counts of the tables the handoffs name: from DYNAMODB_EXPORT_DIR, else read live."""
    needs = table_needs(portfolio)

    def live(missing: list[TableNeed]) -> dict[str, TableCount]:
        where = f"(DYNAMODB_EXPORT_DIR={settings.export_dir})" if settings.export_dir else "(no DYNAMODB_EXPORT_DIR)"
        endpoint = settings.get("AWS_ENDPOINT_URL")
        place = f"region {settings.region}" + (f" at {url_origin(endpoint)}" if endpoint else "")
        return scan_counts(aws_client(settings, "dynamodb"), missing, where=where, place=place, clock=clock)

    return read_tables(needs, input_location(settings, "DYNAMODB_EXPORT_DIR", settings.export_dir), live)


def prepare_run(args: argparse.Namespace, reports: list[ReportTemplate], selected: list[ReportTemplate], *,
                read: tuple[Path | None, dict[str, str]] | None, clock: Callable[[], dt.datetime],
                lines: _LogLines | None) -> PreparedRun:
    """Everything every mode needs, validated: settings, handoffs, tables, estate, figures, history, reports."""
    settings = load_settings(args.env_file, dry_run=args.dry_run, read=read)
    as_of = run_as_of(args, settings, lines)
    all_ids = [r.id for r in reports]
    if args.dry_run:
        delivery = shown_delivery(settings, all_ids, args.to)
    else:
        delivery = delivery_settings(settings, all_ids, args.to)
    after = after_send_settings(settings, reports)
    configuration_set = tag_settings(settings, reports)
    events_queue = events_queue_setting(settings)
    portfolio = read_run_handoffs(args, settings, reports, as_of)
    counts = read_run_tables(settings, portfolio, clock)
    estate = read_estate(settings, as_of, clock()) if inventory_enabled(settings) else None
    metrics = compute_metrics(portfolio, counts, as_of, estate)
    archive = delivery.archive or (open_archive(settings) if args.dry_run or args.to else None)
    # each report compares with what it showed in its last sent period
    records = earlier_records(archive, metrics["period"], [r.id for r in selected]) if archive is not None else {}
    headline, stale, items = headline_figures(metrics), stale_counts(metrics), report_items(metrics)
    exports = {name: e.get("export_times") or {} for name, e in metrics["entities"].items()}
    metrics["report_history"] = {r.id: report_history(metrics["period"], r.id, headline, records, stale, items,
                                                      metrics["as_of"], exports)
                                 for r in selected}
    problems: list[str] = []  # after the send: what failed (the reports went out), one line each
    loud: list[str] = []  # delivery news said once: a bounce, a complaint, a rejection
    if events_queue and not (args.dry_run or args.check or args.to) and archive is not None:
        try:  # before rendering, so that the CEO report shows last week's delivery as of now
            loud = track_delivery(aws_client(settings, "sqs"), events_queue, archive, metrics["period"])
        except SendError as exc:
            problems.append(f"{exc}; the delivery news waits in the queue for the next run")
        for line in loud:
            log.error("delivery: %s", line)
    metrics["last_delivery"] = delivery_line(archive, metrics["period"], {r.id: r.title for r in reports})
    # a plain dry run shows only what would be sent; whatever may send, archive or show
    # the uncut text renders it whole first, so no template mistake is found mid-send
    rendered = render_all(selected, metrics, whole=not args.dry_run or args.check or args.full)
    return PreparedRun(settings=settings, delivery=delivery, after=after, configuration_set=configuration_set,
                       portfolio=portfolio, metrics=metrics, headline=headline, items=items, rendered=rendered,
                       problems=problems, loud=loud)


def check_run(args: argparse.Namespace, prepared: PreparedRun) -> int:
    """--check: say what was found and whether a send could start (SES asked unless --dry-run); nothing sent."""
    settings, portfolio, rendered = prepared.settings, prepared.portfolio, prepared.rendered
    found = (f"{_plural(len(rendered), 'report')} for {prepared.metrics['period']} from "
             f"{_plural(len(portfolio.handoffs), 'handoff')}")
    if portfolio.skipped:
        found += (f" ({_plural(len(portfolio.skipped), 'Markdown file')} without front matter skipped, "
                  "named on stderr)")
    if portfolio.misnamed:
        found += (f" ({_plural(len(portfolio.misnamed), 'file')} like a handoff but not named .md skipped, "
                  "named on stderr)")
    if args.dry_run:
        # what a send would still refuse to start without: said here, so that it is not first
        # heard of from cron
        unset = [name for name in ("SES_FROM_ADDRESS", "EXEC_REPORT_TO", "EXEC_REPORT_BCC", "ARCHIVE_DIR")
                 if not settings.get(name)]
        still_needed = f"; a send also needs {', '.join(unset)}" if unset else ""
        show(f"check passed: {found}; settings and inputs valid (SES not asked: --dry-run){still_needed}\n")
        return ExitStatus.OK
    result = check_ses(ses_client(settings), ses_client(settings, "sesv2"), prepared.delivery, settings.region,
                       [r.id for r in rendered])
    for line in result.details:
        show(redact(line) + "\n")
    if not result.problems:
        show(f"check passed: {found}; settings, inputs and SES ready\n")
        return ExitStatus.OK
    for problem in result.problems[:-1] if len(result.problems) > 1 else []:
        log.error("%s", problem)
    log.error("check failed: %s", result.problems[-1] if len(result.problems) == 1
              else f"{result.problems[-1]} (and {len(result.problems) - 1} more above)")
    return result.status


def show_dry_run(args: argparse.Namespace, prepared: PreparedRun, done: list[Outcome] | None) -> int:
    """--dry-run: print the reports (and the cards) as they would go out, write the HTML alternatives; nothing sent."""
    if prepared.settings.email_format == "text+html":
        for path in write_html_files(prepared.rendered):
            log.info("HTML alternative written to %s", path)
    show(dry_run_text(prepared.rendered, prepared.delivery, full=args.full))
    show(dry_run_cards(prepared.after, prepared.metrics))
    if done is not None:
        done.append(Outcome(period=prepared.metrics["period"]))
    return ExitStatus.OK


def figures_json(metrics: dict[str, Any], items: list[dict[str, Any]]) -> str:
    """metrics.json: the run's figures, not what a report is given about other weeks (history, last week's delivery)."""
    try:  # only checked types reach the figures, but a send must not start on a doubt
        figures = {**{k: v for k, v in metrics.items() if k not in RUN_CONTEXT}, "items": items}
        return json.dumps(figures, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise InputError(f"the figures cannot be written as metrics.json ({exc}); nothing was sent") from None


def send_run(args: argparse.Namespace, prepared: PreparedRun, done: list[Outcome] | None) -> int:
    """Send every report not yet sent this period (or only to --to), then do what follows the send."""
    settings, delivery, after, metrics = prepared.settings, prepared.delivery, prepared.after, prepared.metrics
    problems = prepared.problems
    metrics_json = figures_json(metrics, prepared.items)
    client = ses_client(settings)
    sender = SesSender(client)
    sender.configuration_set = prepared.configuration_set
    sender.preflight()
    if sender_verified(client, delivery.sender) is False:
        raise ConfigError(
            f"SES_FROM_ADDRESS {delivery.sender} is not verified in SES ({settings.region}): verify the "
            "address or its domain in the SES console; nothing was sent"
        )
    outcome = Outcome(period=metrics["period"], test_to=args.to)
    if done is not None:
        done.append(outcome)
    progress = sys.stderr if sys.stderr.isatty() else None  # cron (no terminal) gets the summary line only
    if after.namespace:
        after.cloudwatch = aws_client(settings, "cloudwatch")

    def after_sends(ledger: Ledger) -> None:
        problems.extend(after_the_send(ledger, after, metrics, prepared.headline, outcome))

    interrupted = False
    try:
        deliver(prepared.rendered, metrics_json, delivery, sender, outcome, force=args.force, progress=progress,
                after=None if args.to else after_sends)
        for problem in problems:
            log.error("%s", problem)
    except Interrupted:
        interrupted = True  # its own line says what was sent
        raise
    finally:
        if not interrupted and (outcome.sent or outcome.skipped or outcome.failed):
            log.info("%s", outcome.summary())
    failed = outcome.failed or outcome.unrecorded or problems or prepared.loud
    return ExitStatus.UNAVAILABLE if failed else ExitStatus.OK


class _Redact(logging.Filter):
    """Hide URLs' paths and queries and every secret setting's value in each line logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message."""
        record.msg, record.args = redact(record.getMessage()), ()
        return True


def _on_sigterm(signum: int, frame: Any) -> None:
    """SIGTERM stops a run as Ctrl-C does, so that it can say what the ledger holds."""
    raise Terminated()


def main(argv: list[str] | None = None, done: list[Outcome] | None = None, *,
         clock: Callable[[], dt.datetime] | None = None) -> int:
    """Run the command line; the only place that turns errors into exit codes.

    `done`: where the run's Outcome is put (see run()); `clock` gives the run's time (UTC):
    the log's time stamps and the estate's last seven days (tests pass a fixed one).
    """
    clock = clock or utc_now
    stamped = not sys.stderr.isatty()  # cron: every line says when and which period it is about
    lines = _LogLines(stamped, clock)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(lines)
    handler.addFilter(_Redact())
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    try:
        status = _main(argv, clock, lines, done)
        if stamped and status != ExitStatus.OK:  # a failed run's last line says so, whatever came before it
            log.error("run failed: exit %d (%s)", status, EXIT_MEANINGS.get(status, "see the lines above"),
                      extra={"closing": True})
        return status
    finally:
        log.removeHandler(handler)


def _main(argv: list[str] | None, clock: Callable[[], dt.datetime], lines: _LogLines,
          done: list[Outcome] | None = None) -> int:
    """main() without its last line: parse, run, and turn each error into its line and exit code."""
    import signal
    import threading

    _secrets.clear()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    checking = False
    try:
        args = parse_args(argv)
        checking = args.check
        if args.as_of is not None:
            lines.period = iso_period(args.as_of)
        env_path, values = read_settings(args.env_file)
        reports = load_reports(reports_dir_setting(env_path, values))
        if args.list:
            show(list_text(reports))
            return ExitStatus.OK
        if args.status:
            archive = open_archive(archive_settings(env_path, values))
            if archive is None:
                raise ConfigError("ARCHIVE_DIR is not set: --status reads the send ledger kept there")
            show(show_status(archive, iso_period(args.as_of or dt.date.today()), {r.id: r.title for r in reports}))
            return ExitStatus.OK
        selected = select_reports(reports, args.only)
        return run(args, reports, selected, read=(env_path, values), done=done, clock=clock, lines=lines)
    except InputErrors as exc:
        for line in exc.errors:
            log.error("%s", line)
        count = _plural(exc.total, "error")
        log.error("check failed: bad input (%s, above)" if checking else "bad input: nothing was sent (%s)", count)
        return exc.status
    except ReportError as exc:
        log.error("%s%s", "check failed: " if checking else "", exc)
        return exc.status
    except BrokenPipeError:  # what reads the output went away (`--dry-run | head`)
        return output_closed()
    except OSError as exc:  # a file or folder the checks above could not foresee
        log.error("%s%s", "check failed: " if checking else "", file_problem(exc, "use"))
        return ExitStatus.CONFIG
    except KeyboardInterrupt as exc:  # before or after sending (deliver() reports its own)
        log.error("%s; nothing was sent", _how(exc))
        return 143 if isinstance(exc, Terminated) else 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


# AWS Lambda: the same run, started by EventBridge Scheduler (or by hand) instead of cron.
# Settings come from the environment and SETTINGS_SECRET_ID's secret, never a repos.env.
# Nothing is kept between two calls of a warm container: main() reads the settings, the
# secret, the templates and the inputs afresh and makes its own AWS clients each time.

EVENT_KEYS = ("as_of", "only", "dry_run")  # what an invocation's event may carry


class _ErrorLines(logging.Handler):
    """The error lines one run logs, as printed: what a failed invocation's exception says."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the line, secrets hidden; not the closing "run failed" line (the exception says that)."""
        if not getattr(record, "closing", False):
            self.lines.append(redact(record.getMessage()))


def event_argv(event: Any) -> list[str]:
    """The command line an invocation's event stands for (as_of, only, dry_run), checked; no repos.env."""
    event = {} if event is None else event
    if not isinstance(event, dict):
        raise UsageError(f"the event is {JSON_KINDS.get(type(event), 'of another kind')}, not an object; send {{}} "
                         'for the weekly run, or {"dry_run": true, "as_of": "2026-11-22", "only": ["ceo"]}')
    for key in event:
        if key not in EVENT_KEYS:
            close = near_miss(str(key), EVENT_KEYS)
            hint = f"did you mean {close}?" if close else f"it takes {', '.join(EVENT_KEYS)}"
            raise UsageError(f"event key {str(key)[:40]!r}: not one this function reads ({hint})")
    argv = ["--env-file", os.devnull]
    as_of, only, dry_run = event.get("as_of"), event.get("only"), event.get("dry_run", False)
    if as_of is not None:
        if not isinstance(as_of, str):
            raise UsageError(f'event as_of is {JSON_KINDS.get(type(as_of), "of another kind")}; write a date as text, '
                             '"2026-11-22"')
        try:
            _date_arg(as_of)
        except argparse.ArgumentTypeError as exc:
            raise UsageError(f"event as_of: {exc}") from None
        argv += ["--as-of", as_of]
    if only is not None:
        if isinstance(only, list) and all(isinstance(w, str) for w in only):
            only = ",".join(only)
        if not isinstance(only, str) or not only.replace(",", "").strip():
            raise UsageError('event only: give report ids, ["ceo", "cfo"] or "ceo,cfo" (leave it out for every '
                             "report)")
        argv += ["--only", only]
    if not isinstance(dry_run, bool):
        raise UsageError(f"event dry_run is {JSON_KINDS.get(type(dry_run), 'of another kind')}, not true or false; "
                         "write true or false")
    return argv + (["--dry-run"] if dry_run else [])


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    """AWS Lambda's entry point: the weekly run as the plain command does it.

    A run that ends with any exit status but 0 raises RunFailed, so the invocation is
    marked failed (and the alarm on errors fires); one with nothing left to send returns.
    """
    try:
        argv = event_argv(event)
    except UsageError as exc:
        raise RunFailed(exc.status, [str(exc)]) from None
    errors = _ErrorLines()
    done: list[Outcome] = []
    log.addHandler(errors)
    try:
        status = main(argv, done)
    finally:
        log.removeHandler(errors)
    if status != ExitStatus.OK:
        raise RunFailed(status, errors.lines)
    outcome = done[0]
    return {"status": int(status), "period": outcome.period, "dry_run": "--dry-run" in argv,
            "sent": outcome.sent, "skipped": outcome.skipped}


def _drop_output(stream: Any) -> None:
    """Send what is left for a stream to /dev/null: Python flushes it at exit, and would complain."""
    with contextlib.suppress(OSError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())


def output_closed() -> int:
    """Stop quietly when what reads standard output has gone: as a shell's `yes | head` does."""
    _drop_output(sys.stdout)
    return 128 + 13  # killed by SIGPIPE, as a shell reports it; nothing was sent by a command that prints


def output_failed(exc: OSError) -> ConfigError:
    """The one line for standard output that cannot be written (`>/dev/full`); what is left of it is dropped."""
    # told apart from a file of the archive's, which an OSError without a file name also is
    _drop_output(sys.stdout)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return ConfigError("cannot write standard output: the disk is full; free some space (or send the output "
                           "elsewhere), then rerun")
    return ConfigError(f"cannot write standard output ({exc.strerror or type(exc).__name__}); check where it goes, "
                       "then rerun")


def show(text: str) -> None:
    """Write text to standard output, a failure there named as such (a closed pipe stays a BrokenPipeError)."""
    try:
        sys.stdout.write(text)
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise output_failed(exc) from None


def _reopen_closed_std() -> None:
    """Open standard output or error on /dev/null when closed (`2>&-`), so no file the run opens takes its number."""
    for fd, name in ((1, "stdout"), (2, "stderr")):
        if getattr(sys, name) is None:
            null = os.open(os.devnull, os.O_WRONLY)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
            setattr(sys, name, open(fd, "w", encoding="utf-8", closefd=False))  # noqa: SIM115 -- lives with the process


if __name__ == "__main__":
    _reopen_closed_std()
    for stream in (sys.stdout, sys.stderr):  # a report's dashes must not crash an ASCII terminal
        stream.reconfigure(errors="backslashreplace")  # type: ignore[attr-defined]
    # What the imports and this file made lives until the process ends: Python's cycle
    # collector need not walk it over and over while the run works (a tenth of a small run).
    gc.freeze()
    status = main()
    try:
        sys.stdout.flush()  # output held in the buffer goes now, while a closed pipe can be told
    except BrokenPipeError:
        status = output_closed()
    except OSError as exc:  # a full disk, found when what the buffer held goes
        status = ExitStatus.CONFIG
        with contextlib.suppress(OSError):
            sys.stderr.write(f"send_exec_reports: {output_failed(exc)}\n")
    try:
        sys.stderr.flush()
    except OSError:  # stderr on a full disk or a closed pipe: its lines are lost, but not the exit code
        _drop_output(sys.stderr)
    sys.exit(status)
