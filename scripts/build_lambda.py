#!/usr/bin/env python3
"""Build what the Lambda function runs from: the script, its report templates and requirements.txt.

    python scripts/build_lambda.py            # build/lambda/: template.yaml's CodeUri (sam build adds the libraries)
    python scripts/build_lambda.py --zip      # also build/send_exec_reports-lambda.zip: that folder with the
                                              # libraries for arm64 and Python 3.12, ready for aws lambda
    python scripts/build_lambda.py --zip --host DIR   # the same libraries for this machine, in DIR (bench/)

Nothing else goes in: no tests, no examples, no repos.env, no bench.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "build" / "lambda"
ZIP = ROOT / "build" / "send_exec_reports-lambda.zip"
# What template.yaml names: Python 3.12 on arm64 (Graviton). Wheels only: nothing is compiled here.
PLATFORM = ["--platform", "manylinux2014_aarch64", "--implementation", "cp", "--python-version", "3.12",
            "--only-binary=:all:"]
ZIP_TIME = (2026, 1, 1, 0, 0, 0)  # every entry's date: the same inputs make the same zip


def build_folder(folder: Path = FOLDER) -> Path:
    """The function's code alone: send_exec_reports.py, reports/*.md, requirements.txt."""
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "reports").mkdir(parents=True)
    for name in ("send_exec_reports.py", "requirements.txt"):
        shutil.copy2(ROOT / name, folder / name)
    for template in sorted((ROOT / "reports").glob("*.md")):
        shutil.copy2(template, folder / "reports" / template.name)
    return folder


def install(requirements: Path, target: Path, platform: list[str]) -> None:
    """pip install the requirements into target (for the platform given; [] for this machine)."""
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "--no-compile", "--target", str(target), *platform, "-r", str(requirements)], check=True)


def build_zip(folder: Path, out: Path = ZIP) -> Path:
    """The folder with the libraries for Lambda's arm64 Python 3.12, zipped (no __pycache__, fixed dates)."""
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp) / "package"
        shutil.copytree(folder, staging)
        install(folder / "requirements.txt", staging, PLATFORM)
        out.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
            for path in sorted(p for p in staging.rglob("*") if p.is_file()):
                if "__pycache__" in path.parts:
                    continue
                info = zipfile.ZipInfo(str(path.relative_to(staging)), ZIP_TIME)
                info.external_attr = (0o755 if path.stat().st_mode & 0o111 else 0o644) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, path.read_bytes())
    return out


def main(argv: list[str] | None = None) -> int:
    """Build the folder, and the zip when asked."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--zip", action="store_true", help="also build the zip with the libraries (arm64, Python 3.12)")
    p.add_argument("--host", metavar="DIR", help="also install the folder with this machine's libraries into DIR")
    args = p.parse_args(argv)
    folder = build_folder()
    print(f"{folder.relative_to(ROOT)}/: the script, {len(list((folder / 'reports').glob('*.md')))} report "
          "templates, requirements.txt")
    if args.zip:
        out = build_zip(folder)
        print(f"{out.relative_to(ROOT)}: {out.stat().st_size / 1e6:.1f} MB")
    if args.host:
        host = Path(args.host)
        shutil.copytree(folder, host, dirs_exist_ok=True)
        install(folder / "requirements.txt", host, [])
        print(f"{host}: the folder with this machine's libraries")
    return 0


if __name__ == "__main__":
    sys.exit(main())
