"""Settings: repos.env and the environment, how each is read, checked and kept secret.

Real files under tmp_path, the command line in-process (`send_exec_reports.main([...])`),
and a copy of the tool run as a child process where what matters is the script's own folder.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import send_exec_reports as ser

from .conftest import (
    EXAMPLES,
    FRONT,
    ROOT,
    dry_run_of,
    host_settings,
    install_copy,
    portfolio_with,
    run_script,
    write_portfolio,
)

# ---------------------------------------------------------------------------
# Where settings come from: the file, the environment, /dev/null


@pytest.mark.parametrize("name", [*ser.SETTING_NAMES, *ser.AWS_NAMES, f"{ser.PER_REPORT_TO}CEO", "AWS_DEFAULT_REGION"])
def test_no_setting_of_the_host_reaches_a_test(name: str) -> None:
    """Every name the tool reads, from its own lists, is cleared by conftest: a host's REPORTS_DIR failed 51 tests."""
    assert name in host_settings({name: "x"})
    assert [n for n in os.environ if ser.known_setting(n)] == []


def test_relative_paths_resolve_against_the_env_file_not_the_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Relative paths in repos.env resolve against the settings file's folder, not the working directory."""
    config = tmp_path / "config"
    write_portfolio(config)
    (config / "repos.env").write_text("HANDOFF_DIR=handoffs\nSES_FROM_ADDRESS=from@example.com\n")
    elsewhere = tmp_path / "home"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code = ser.main(["--dry-run", "--only", "ceo", "--env-file", str(config / "repos.env")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "From: from@example.com" in out
    assert "Data sources: 1 handoff read;" in out


def test_repos_env_next_to_the_script_is_found_and_the_environment_wins(tmp_path: Path) -> None:
    """Without --env-file the repos.env next to the script is read, and the environment wins over it."""
    script = install_copy(tmp_path / "app", examples=False)
    write_portfolio(script.parent)
    (script.parent / "repos.env").write_text("HANDOFF_DIR=handoffs\nEXEC_REPORT_TO=file@example.com\n")
    result = run_script(script, "--dry-run", "--only", "ceo", env={"EXEC_REPORT_TO": "env@example.com"},
                        cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "To: env@example.com" in result.stdout
    assert result.stderr == ""  # no "used the examples" note: the settings were found


def test_no_handoff_dir_without_dry_run_is_a_configuration_error(tmp_path: Path) -> None:
    """--check with no HANDOFF_DIR (and no dry run) is a configuration error naming the setting."""
    script = install_copy(tmp_path / "app", examples=False)
    result = run_script(script, "--check")
    assert result.returncode == 78
    assert result.stderr.startswith("send_exec_reports: check failed: HANDOFF_DIR is not set")


def test_missing_env_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A --env-file that does not exist is named."""
    assert ser.main(["--dry-run", "--env-file", str(tmp_path / "nope.env")]) == 78
    assert f"--env-file {tmp_path / 'nope.env'}: no such file" in capsys.readouterr().err


def test_a_folder_given_as_env_file_is_not_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A folder given as --env-file is named as a folder."""
    assert ser.main(["--dry-run", "--env-file", str(tmp_path)]) == 78
    assert capsys.readouterr().err == (
        f"send_exec_reports: --env-file {tmp_path}: a folder, not a file; give the path of your repos.env\n"
    )


def test_env_file_dev_null_means_no_settings_file(installed: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """--env-file /dev/null means no settings file: the one next to the script is not read."""
    write_portfolio(tmp_path)
    (installed.parent / "repos.env").write_text("HANDOFF_DIR=/nonexistent\n")  # ignored: /dev/null was asked for
    result = run_script(installed, "--dry-run", "--only", "ceo", "--env-file", "/dev/null", "--as-of", "2026-11-22",
                        env={"HANDOFF_DIR": str(tmp_path / "handoffs")})
    assert result.returncode == 0, result.stderr
    assert "Data sources: 1 handoff read;" in result.stdout
    assert ser.main(["--check", "--env-file", "/dev/null"]) == 78
    assert capsys.readouterr().err == ("send_exec_reports: check failed: HANDOFF_DIR is not set (no settings file, and not in "
                           "the environment): set it to the folder of handoff documents, or their s3://bucket/prefix\n")


def test_an_empty_variable_in_the_environment_counts_as_unset(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """An exported but empty setting counts as unset: it does not hide the file's value."""
    write_portfolio(tmp_path)
    (tmp_path / "repos.env").write_text("HANDOFF_DIR=handoffs\nEXEC_REPORT_TO=file@example.com\n")
    monkeypatch.setenv("EXEC_REPORT_TO", "")
    monkeypatch.setenv("HANDOFF_DIR", "  ")
    code = ser.main(["--env-file", str(tmp_path / "repos.env"), "--dry-run", "--only", "ceo", "--as-of", "2026-11-22"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "To: file@example.com" in out


def test_reports_dir_setting_relative_to_the_env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """REPORTS_DIR is relative to the settings file; a missing folder is named with what to do."""
    config = tmp_path / "config"
    write_portfolio(config)
    own = config / "my-reports"
    own.mkdir()
    shutil.copy(ROOT / "reports" / "ceo.md", own / "ceo.md")
    shutil.copy(ROOT / "reports" / "cfo.md", own / "cfo.md")
    env = config / "repos.env"
    env.write_text("HANDOFF_DIR=handoffs\nREPORTS_DIR=my-reports\n")
    monkeypatch.chdir(tmp_path)
    assert ser.main(["--list", "--env-file", str(env)]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == ["id", "ceo", "cfo"]
    # the unit reports stay behind in the script's reports/: a portfolio without those businesses passes
    code = ser.main(["--dry-run", "--check", "--env-file", str(env), "--as-of", "2026-11-22"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.startswith("check passed: 2 reports for 2026-W47 from 1 handoff;")
    env.write_text("HANDOFF_DIR=handoffs\nREPORTS_DIR=nowhere\n")
    assert ser.main(["--list", "--env-file", str(env)]) == 78
    assert capsys.readouterr().err == (f"send_exec_reports: REPORTS_DIR=nowhere: no such folder ({config / 'nowhere'}); "
                                       "fix the path or remove the setting to use reports/ next to the script\n")


@pytest.mark.parametrize(("name", "known", "meant"), [
    ("HANDOF_DIR", ["AWS_REGION", "EMAIL_FORMAT", "HANDOFF_DIR"], "HANDOFF_DIR"),  # the nearest, last in the list
    ("HANDOFFF_DIR", ["HANDOFF_DIRS", "HANDOFF_DIR"], "HANDOFF_DIR"),  # one letter off beats two, listed first
    ("email_format", ["EMAIL_FORMATS", "EMAIL_FORMAT"], "EMAIL_FORMAT"),  # case alone beats a letter
    ("EMAIL_FORMAT", ["EMAIL_FORMATS", "EMAIL_FORMAT"], None),  # a known name is no misspelling
    ("ARCHIVE_DIR", ["HANDOFF_DIR", "REPORTS_DIR"], None),  # nothing near
    ("HANDOF_DIR", [], None),
])
def test_a_near_miss_is_the_nearest_known_name_wherever_it_stands(name: str, known: list[str],
                                                                   meant: str | None) -> None:
    """near_miss judges only the first of closest_names: that must be the nearest, whatever the list's order."""
    assert ser.near_miss(name, known) == meant


@pytest.mark.parametrize(("line", "said"), [
    ("HANDOF_DIR=handoffs", "not a name this tool reads (did you mean HANDOFF_DIR?)"),
    ("EXEC_REPORTS_BCC=admin@example.com", "not a name this tool reads (did you mean EXEC_REPORT_BCC?)"),
    ("email_format=text+html", "not a name this tool reads (did you mean EMAIL_FORMAT?)"),
    ("SES_CONFIGURATION_SET exec-reports", "not a NAME=value line; write it as NAME=value"),
    ("AKIAPASTEDTOKEN0001", "not a NAME=value line; write it as NAME=value"),
])
def test_a_settings_line_the_tool_would_ignore_stops_the_run_naming_its_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, said: str) -> None:
    """A settings line the tool would ignore (a misspelt name, no '=') stops the run naming its line, never its text."""
    write_portfolio(tmp_path)
    env = tmp_path / "repos.env"
    env.write_text(f"# mine\r\nHANDOFF_DIR=handoffs\r\n\r\n{line}\r\n", encoding="utf-8")  # Windows line ends
    assert ser.main(["--env-file", str(env), "--check", "--dry-run", "--as-of", "2026-11-22"]) == 78
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert lines == [f"send_exec_reports: check failed: {env}:4: {said}" + lines[0].split(said, 1)[1]], lines
    assert line.split("=")[0].split()[0] not in captured.err  # the line's own text is never shown: it may be a secret
    assert captured.out == ""


def test_a_settings_file_shared_with_other_tools_is_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Names like none of this tool's settings belong to other tools: left alone, never shown."""
    write_portfolio(tmp_path)
    env = tmp_path / "repos.env"
    env.write_text("HANDOFF_DIR=handoffs\nGITHUB_TOKEN=ghp_notours0123456789\nREPOS=a b c\nDATABASE_URL=x\n"
                   # AWS's own names other AWS tools read, however like ours: not taken for misspellings
                   "AWS_DEFAULT_REGION=us-east-1\nAWS_ENDPOINT_URL_SES=http://127.0.0.1:9\nAWS_SECURITY_TOKEN=x\n",
                   encoding="utf-8")
    assert ser.main(["--env-file", str(env), "--check", "--dry-run", "--only", "ceo", "--as-of", "2026-11-22"]) == 0
    captured = capsys.readouterr()
    assert "check passed" in captured.out and "GITHUB" not in captured.out + captured.err


def test_a_settings_file_of_export_lines_quotes_and_windows_line_ends_is_read(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """export, quotes, a comment and Windows line ends are read as a shell would read them."""
    write_portfolio(tmp_path)
    env = tmp_path / "repos.env"
    env.write_text('export HANDOFF_DIR="handoffs"\r\nexport EXEC_REPORT_TO=\'a@example.com, b@example.com,\'\r\n'
                   "# EXEC_REPORT_BCC=\r\n\r\nEMAIL_FORMAT=text  # the default\r\n", encoding="utf-8")
    assert ser.main(["--env-file", str(env), "--dry-run", "--only", "ceo", "--as-of", "2026-11-22"]) == 0
    captured = capsys.readouterr()
    assert "\nTo: a@example.com, b@example.com\n" in captured.out
    assert captured.err == ""


def test_a_handoff_dir_that_is_not_there_says_what_to_do_and_against_what_it_was_resolved(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A HANDOFF_DIR that is not there says what to do and what it was resolved against."""
    env = tmp_path / "conf" / "repos.env"
    env.parent.mkdir()
    env.write_text("HANDOFF_DIR=handofs\n", encoding="utf-8")
    assert ser.main(["--env-file", str(env), "--dry-run"]) == 78
    assert capsys.readouterr().err == (
        f"send_exec_reports: HANDOFF_DIR=handofs: no such folder ({env.parent / 'handofs'}); fix the path "
        f"(a relative one is relative to {env.parent})\n")


def test_an_archive_dir_that_cannot_be_made_says_what_to_do(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """An ARCHIVE_DIR that cannot be created says what to do."""
    write_portfolio(tmp_path)
    (tmp_path / "file").write_text("", encoding="utf-8")
    env = tmp_path / "repos.env"
    env.write_text("HANDOFF_DIR=handoffs\nSES_FROM_ADDRESS=r@example.com\nEXEC_REPORT_TO=o@example.com\n"
                   "EXEC_REPORT_BCC=a@example.com\nARCHIVE_DIR=file/archive\n", encoding="utf-8")
    assert ser.main(["--env-file", str(env), "--only", "ceo"]) == 78
    assert capsys.readouterr().err == (
        "send_exec_reports: ARCHIVE_DIR=file/archive: cannot create it (Not a directory); fix the path, "
        "or create the folder and let this user write in it\n")


def test_every_form_python_dotenv_reads_passes_the_line_check_and_lines_are_counted_after_a_long_value(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A UTF-8 BOM, a quoted value over several lines, `NAME=` empty, spaces around '=', a comment
    after a value and no newline at the end are all NAME=value lines; a misspelt name after a
    multi-line value is named at its own line, not at the binding's count."""
    write_portfolio(tmp_path)
    env = tmp_path / "repos.env"
    env.write_text('\ufeffHANDOFF_DIR = handoffs  # the folder\nEXEC_REPORT_BCC=\n'
                   'OTHER_TOOL_KEY="first line\nsecond line\nthird line"\nEMAIL_FORMAT=text', encoding="utf-8")
    assert ser.main(["--env-file", str(env), "--dry-run", "--only", "ceo", "--as-of", "2026-11-22"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and "CEO" in captured.out
    env.write_text(env.read_text(encoding="utf-8") + "\nEXEC_REPORT_BC=a@example.com\n", encoding="utf-8")
    assert ser.main(["--env-file", str(env), "--dry-run", "--only", "ceo", "--as-of", "2026-11-22"]) == 78
    err = capsys.readouterr().err
    assert f"{env}:7: not a name this tool reads (did you mean EXEC_REPORT_BCC?)" in err, err
    assert "second line" not in err and "a@example.com" not in err


# ---------------------------------------------------------------------------
# A hostile or careless settings file


def settings_refused(env: Path, capsys: pytest.CaptureFixture[str], *planted: str) -> str:
    """Run --check on a settings file: it must stop (78) with one line and show none of the planted text."""
    assert ser.main(["--env-file", str(env), "--check", "--dry-run", "--as-of", "2026-11-22"]) == 78
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.splitlines()) == 1, captured.err
    for secret in planted:
        assert secret not in captured.err
    return captured.err


def test_a_settings_file_that_is_a_loop_of_links_is_named_not_a_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Found by an attack: a settings file that is a loop of symbolic links raised a traceback."""
    (tmp_path / "a.env").symlink_to(tmp_path / "b.env")
    (tmp_path / "b.env").symlink_to(tmp_path / "a.env")
    said = settings_refused(tmp_path / "a.env", capsys)
    assert f"--env-file {tmp_path / 'a.env'}: a loop of symbolic links" in said and "give the path" in said


def test_a_settings_file_far_too_big_for_one_is_refused_before_it_is_parsed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Found by an attack: A log or a dump given as --env-file would take minutes and gigabytes to parse: refused at once."""
    env = tmp_path / "repos.env"
    head = b"HANDOFF_DIR=handoffs\nSECRET_THING=planted-secret-0123\n"
    env.write_bytes(head + b"#" * (ser.SETTINGS_MAX_BYTES - len(head)) + b"\n")  # one byte over
    said = settings_refused(env, capsys, "planted-secret-0123")
    assert f"{env}: over {ser.SETTINGS_MAX_BYTES >> 10} kB, too big for a settings file" in said


def test_a_settings_file_of_exactly_the_most_bytes_is_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The other side of the size limit: a settings file of exactly the most bytes is read, and its setting used."""
    env = tmp_path / "repos.env"
    head = b"HANDOFF_DIR=nowhere\n"
    env.write_bytes(head + b"#" * (ser.SETTINGS_MAX_BYTES - len(head) - 1) + b"\n")
    assert "HANDOFF_DIR=nowhere: no such folder" in settings_refused(env, capsys)  # read: its setting is used


@pytest.mark.parametrize("name", ["HANDOFF_DIR", "ARCHIVE_DIR", "REPORTS_DIR", "DYNAMODB_EXPORT_DIR", "OTHER_TOOL"])
def test_a_nul_byte_in_the_settings_file_is_named_by_line_not_a_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    """Found by an attack: a NUL byte in the settings file raised a traceback; it is named by its line, its text never shown."""
    env = tmp_path / "repos.env"
    env.write_bytes(b"# settings\nEXEC_REPORT_TO=o@example.com\n" + name.encode() + b"=plant\x00ed-0123\n")
    said = settings_refused(env, capsys, "plant", "ed-0123")
    assert f"{env}:3: a NUL byte, so not a text file; save it as UTF-8 text" in said


def test_a_report_s_own_readers_from_the_environment_win_over_the_file_whatever_its_case(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by an attack: EXEC_REPORT_TO_cfo in the file must not beat EXEC_REPORT_TO_CFO in the environment: the environment wins."""
    env = tmp_path / "repos.env"
    env.write_text(f"HANDOFF_DIR={EXAMPLES / 'handoffs'}\n"
                   f"DYNAMODB_EXPORT_DIR={EXAMPLES / 'dynamodb'}\n"
                   "EXEC_REPORT_TO=all@example.com\nEXEC_REPORT_TO_cfo=file@example.com\n", encoding="utf-8")
    monkeypatch.setenv("EXEC_REPORT_TO_CFO", "env@example.com")
    assert ser.main(["--env-file", str(env), "--dry-run", "--only", "cfo", "--as-of", "2026-11-22"]) == 0
    out = capsys.readouterr().out
    assert "\nTo: env@example.com\n" in out and "file@example.com" not in out


@pytest.mark.parametrize("first, again", [
    ("EXEC_REPORT_BCC=old@example.com", "EXEC_REPORT_BCC=new@example.com"),
    ("EXEC_REPORT_TO_CFO=a@example.com", "export EXEC_REPORT_TO_cfo=b@example.com"),
])
def test_a_setting_written_twice_in_the_file_is_refused_naming_both_lines(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], first: str, again: str) -> None:
    """Found by an attack: Which of two lines wins is not for the reader to guess: the one they edited may be the one ignored."""
    env = tmp_path / "repos.env"
    env.write_text(f"HANDOFF_DIR=handoffs\n{first}\n\nOTHER=1\n{again}\n", encoding="utf-8")
    said = settings_refused(env, capsys, "example.com")
    name = first.split("=")[0]
    assert f"{env}:5: {name} is set again (first on line 2); keep one of the two lines" in said


def test_two_report_ids_that_name_the_same_setting_are_refused(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """Two report ids that fold to the same EXEC_REPORT_TO_<ID> setting (q-a, q_a) are refused, naming both."""
    env = portfolio_with(tmp_path, FRONT)
    reports = tmp_path / "reports"
    reports.mkdir()
    for name in ("q-a", "q_a"):
        (reports / f"{name}.md").write_text("---\ntitle: X\npersona: CEO\nsubject: S\n---\nx\n", encoding="utf-8")
    with env.open("a") as fh:
        fh.write("REPORTS_DIR=reports\n")
    code, out, err = dry_run_of(env, capsys)
    assert (code, out) == (78, "")
    assert "report id 'q_a' cannot be told apart from 'q-a'" in err and "EXEC_REPORT_TO_Q_A" in err


# ---------------------------------------------------------------------------
# Secrets: no message shows a secret setting's value, nor an endpoint's path or query


PATH_SECRET, QUERY_SECRET, FILE_SECRET = "PathSecret9a8b7c", "QuerySecret6d5e4f", "FileSecret3g2h1i"


def settings_file(tmp_path: Path, endpoint: str, *extra: str, broken: bool = False) -> Path:
    """A repos.env with secrets and `endpoint`; `broken`: the secret key's '=' forgotten (a line the parser rejects)."""
    env = tmp_path / "repos.env"
    env.write_text("\n".join([
        f"HANDOFF_DIR={EXAMPLES / 'handoffs'}",
        "SES_FROM_ADDRESS=reports@example.com",
        "EXEC_REPORT_TO=owner@example.com",
        "EXEC_REPORT_BCC=admin@example.com",
        "ARCHIVE_DIR=archive",
        "AWS_ACCESS_KEY_ID=AKIAEXAMPLEKEYID0001",
        f"AWS_SECRET_ACCESS_KEY{' ' if broken else '='}{FILE_SECRET}",
        f"AWS_SESSION_TOKEN={FILE_SECRET}x",
        f"AWS_ENDPOINT_URL={endpoint}",
        *extra,
    ]) + "\n")
    return env


def assert_no_secret(*texts: str) -> None:
    """None of the planted secrets shows in any text."""
    for text in texts:
        for secret in (PATH_SECRET, QUERY_SECRET, FILE_SECRET):
            assert secret not in text, text


def test_a_bad_settings_line_is_named_by_number_not_by_its_text(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                caplog: pytest.LogCaptureFixture) -> None:
    """Found by planting a bug: a settings line the parser rejects (a secret key's '=' forgotten) is named by its number, never by its text."""
    env = settings_file(tmp_path, "http://127.0.0.1:9", f"DYNAMODB_EXPORT_DIR={EXAMPLES / 'dynamodb'}", broken=True)
    assert ser.main(["--env-file", str(env), "--dry-run", "--only", "ceo", "--as-of", "2026-11-22"]) == 78
    captured = capsys.readouterr()
    assert f"{env}:7: not a NAME=value line; write it as NAME=value" in captured.err  # stopped: a setting is lost
    assert_no_secret(captured.out, captured.err, caplog.text)


def test_sessions_share_botocore_s_models_and_keep_their_own_credentials_profile_and_region(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The models are read once a process (0.1 s a client before: bench/clients.py); what each run's settings give stays its own."""
    config = tmp_path / "aws-config"
    config.write_text("[profile other]\nregion = eu-west-1\n", encoding="utf-8")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))

    def session(**values: str) -> object:
        return ser.aws_session(ser.Settings(env_file=None, values=values, handoff_dir=tmp_path, export_dir=None,
                                            archive_dir=None, region=values.pop("region", "us-east-1")))

    first = session(AWS_ACCESS_KEY_ID="AKIAFIRST", AWS_SECRET_ACCESS_KEY="one")
    second = session(AWS_ACCESS_KEY_ID="AKIASECOND", AWS_SECRET_ACCESS_KEY="two", region="eu-central-1")
    third = session(AWS_PROFILE="other", AWS_ACCESS_KEY_ID="AKIATHIRD", AWS_SECRET_ACCESS_KEY="three")
    assert [s.get_credentials().access_key for s in (first, second, third)] == ["AKIAFIRST", "AKIASECOND", "AKIATHIRD"]
    assert [s.region_name for s in (first, second, third)] == ["us-east-1", "eu-central-1", "us-east-1"]
    assert [s.profile_name for s in (first, second, third)] == ["default", "default", "other"]
    models = {id(s._session.get_component("data_loader")) for s in (first, second, third)}
    assert len(models) == 1  # one reader of the models for the process
    paths = first._session.get_component("data_loader").search_paths
    assert len(paths) == len(set(paths))  # a session more does not add its folder again


def test_a_token_in_the_endpoint_is_not_printed_when_a_table_cannot_be_read_live(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Found by planting a bug: a token in AWS_ENDPOINT_URL's path or query was printed when a table could not be read live."""
    env = settings_file(tmp_path, f"http://127.0.0.1:9/{PATH_SECRET}/?token={QUERY_SECRET}")
    assert ser.main(["--env-file", str(env), "--dry-run", "--as-of", "2026-11-22"]) == 65
    captured = capsys.readouterr()
    assert "cannot be read live: could not connect to http://127.0.0.1:9;" in captured.err
    assert_no_secret(captured.out, captured.err)


def test_a_token_in_the_endpoint_is_not_printed_when_the_estate_cannot_be_read(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Found by planting a bug: a token in AWS_ENDPOINT_URL's path or query was printed when the AWS estate could not be read."""
    env = settings_file(tmp_path, f"http://127.0.0.1:9/{PATH_SECRET}/?token={QUERY_SECRET}",
                        f"DYNAMODB_EXPORT_DIR={EXAMPLES / 'dynamodb'}", "AWS_INVENTORY=1")
    assert ser.main(["--env-file", str(env), "--as-of", "2026-11-22"]) != 0
    captured = capsys.readouterr()
    assert "AWS_INVENTORY: Lambda cannot be read (could not connect to http://127.0.0.1:9)" in captured.err
    assert_no_secret(captured.out, captured.err)
    assert not (tmp_path / "archive" / "2026-W47").exists()  # nothing sent, nothing archived


@pytest.mark.parametrize(("text", "shown"), [
    # the origin is shown, and what follows it when that is no part of the URL
    ("see https://dash.example.com:8443 next", "see https://dash.example.com:8443 next"),
    ("could not connect to http://127.0.0.1:9; check", "could not connect to http://127.0.0.1:9; check"),
    ("at http://h. Then", "at http://h. Then"),
    ("(http://h), then", "(http://h), then"),
    ("write it like https://host:port", "write it like https://host:port"),  # a port named in words
    ("http://h:port/Secret1234 next", "http://h next"),
    # from the first character past the origin, nothing of the URL: path, query, fragment, user info
    ("http://h/Secret1234 next", "http://h next"),
    ("http://h?token=Secret1234 next", "http://h next"),
    ("http://h#Secret1234 next", "http://h next"),
    ("https://user:Secret1234@dash.example.com:8443/p?t=x#f next", "https://dash.example.com:8443 next"),
    ("http://Secret1234@h next", "http://h next"),
    ("http://h:/Secret1234 next", "http://h next"),  # an empty port: a valid URL
    ("http://h:x/Secret1234 next", "http://h next"),  # not a port
    ("http://h:8443x/Secret1234 next", "http://h:8443 next"),
    ("http://h%2FSecret1234 next", "http://h next"),  # a percent-escape after the host
    ("http://h\\Secret1234 next", "http://h next"),  # a backslash, read as '/' by browsers
    ("'http://h/Secret1234' and", "'http://h' and"),
    ('"http://h/Secret1234" and', '"http://h" and'),
    ("<http://h/Secret1234> and", "<http://h> and"),
    ("http://[::1]:8080/Secret1234 next", "http://[::1]:8080 next"),
    ("s3://bucket/prefix?x=Secret1234#y next", "s3://bucket/prefix next"),  # an archive's place, never its query
])
def test_redaction_shows_a_url_s_origin_and_not_one_character_past_it(text: str, shown: str) -> None:
    """Found by planting a bug: redaction tested well inside a URL only; here both sides of where the origin ends."""
    assert ser.redact(text) == shown


@pytest.mark.parametrize(("name", "value", "hidden"), [
    ("DASHBOARD_TOKEN", "Abcdefgh", True),  # exactly MIN_SECRET_LENGTH characters
    ("DASHBOARD_TOKEN", "Abcdefg", False),  # one fewer: masked at its source only ("test" everywhere hides too much)
    ("AWS_SECRET_ACCESS_KEY", "  Abcdefgh  ", True),  # counted without the blanks around it
    ("AWS_SECRET_ACCESS_KEY", "  Abcdefg  ", False),
    ("EXEC_REPORT_BCC", "Abcdefghijkl", False),  # not a secret's name
])
def test_a_secret_setting_is_hidden_everywhere_from_its_shortest_length(
        monkeypatch: pytest.MonkeyPatch, name: str, value: str, hidden: bool) -> None:
    """Found by planting a bug: the secret-length boundary on both sides, for a value met on its own in any message."""
    monkeypatch.setattr(ser, "_secrets", set())  # this test's secrets only
    ser.read_settings(os.devnull, {name: value})
    said = ser.redact(f"AWS said: {value.strip()} was refused")
    assert said == ("AWS said: (hidden) was refused" if hidden else f"AWS said: {value.strip()} was refused")


@pytest.mark.parametrize(("piece", "hidden"), [("Abcdefgh", True), ("Abcdefg", False)])
def test_an_endpoint_s_path_is_hidden_on_its_own_from_its_shortest_length(
        monkeypatch: pytest.MonkeyPatch, piece: str, hidden: bool) -> None:
    """An endpoint's path met without its URL (an AWS error quoting the request's path) is hidden from 8 characters."""
    monkeypatch.setattr(ser, "_secrets", set())
    ser.read_settings(os.devnull, {"AWS_ENDPOINT_URL": f"http://127.0.0.1:9/{piece}?q=Query1234"})
    assert ser.redact(f"no route for {piece}") == ("no route for (hidden)" if hidden else f"no route for {piece}")
    assert ser.redact("query q=Query1234 refused") == "query (hidden) refused"
