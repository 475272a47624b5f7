"""Shared fixtures: a clean environment, installed copies of the tool, moto's server."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SETTING_VARS = (
    "AWS_REGION", "SES_FROM_ADDRESS", "EXEC_REPORT_TO", "EXEC_REPORT_BCC", "HANDOFF_DIR",
    "DYNAMODB_EXPORT_DIR", "ARCHIVE_DIR", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION", "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting or AWS credential of the host leaks into a test."""
    for name in SETTING_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


def install_copy(dest: Path, *, examples: bool = True) -> Path:
    """Copy the script, its templates and (optionally) the sample portfolio to dest."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "send_exec_reports.py", dest)
    shutil.copytree(ROOT / "reports", dest / "reports")
    if examples:
        shutil.copytree(EXAMPLES / "handoffs", dest / "examples" / "handoffs")
        shutil.copytree(EXAMPLES / "dynamodb", dest / "examples" / "dynamodb")
    return dest / "send_exec_reports.py"


@pytest.fixture
def installed(tmp_path: Path) -> Path:
    """The tool copied to its own folder with the sample portfolio and no repos.env."""
    return install_copy(tmp_path / "app")


def run_script(script: Path, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
               timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the script as cron would: a child process with exactly the environment given."""
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    return subprocess.run(
        [sys.executable, str(script), *args],
        env={**base, **(env or {})},
        cwd=cwd or script.parent,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto in server mode on a loopback port, for boto3 over real HTTP."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def moto(moto_endpoint: str) -> str:
    """moto's server, reset to empty for this test."""
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST"), timeout=10)
    return moto_endpoint
