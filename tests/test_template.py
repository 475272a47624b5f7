"""template.yaml (AWS SAM): cfn-lint clean, the schedule as the README says, least-privilege inline policies."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import send_exec_reports as ser

from .conftest import ROOT
from .test_delivery import SENDER
from .test_lambda import (  # noqa: F401 (fixtures of a run in moto)
    BUCKET,
    EXPORTS,
    HANDOFFS,
    SECRET,
    client,
    function_env,
    inputs_bucket,
    put_secret,
    sample_in_s3,
)

TEMPLATE = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short forms (!Ref, !Sub, !If, ...) read as their long form."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _tag)


def load(path: Path = TEMPLATE) -> dict[str, Any]:
    """The template as data."""
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)


def branches(value: Any) -> list[Any]:
    """Every value a piece of the template can take: both sides of each Fn::If, AWS::NoValue left out."""
    if isinstance(value, dict) and "Fn::If" in value:
        return [v for side in value["Fn::If"][1:] for v in branches(side)]
    if value == {"Ref": "AWS::NoValue"}:
        return []
    if isinstance(value, list):
        return [item for v in value for item in branches(v)]
    return [value]


def resource_text(resource: Any) -> str:
    """A policy Resource as the text it names: the Sub's pattern, the Ref's or GetAtt's name."""
    if isinstance(resource, str):
        return resource
    if "Fn::Sub" in resource:
        return resource["Fn::Sub"] if isinstance(resource["Fn::Sub"], str) else resource["Fn::Sub"][0]
    if "Ref" in resource:
        return f"${{{resource['Ref']}}}"
    if "Fn::GetAtt" in resource:
        return f"${{{resource['Fn::GetAtt'][0]}.{resource['Fn::GetAtt'][1]}}}"
    raise AssertionError(f"a Resource the check cannot read: {resource}")


def statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    """Every statement of every IAM policy in the template (each Fn::If branch included)."""
    found = []
    for res in template["Resources"].values():
        for policy in branches(res.get("Properties", {}).get("Policies", [])):
            if isinstance(policy, dict) and "PolicyDocument" in policy:
                found += branches(policy["PolicyDocument"]["Statement"])
    return found


LOCK = "${ArchiveBucket}/${ArchivePrefix}/" + ser.LOCK_NAME
# each family of actions -> the parameters (or the template's own resources) its Resource may name
NAMED_BY = {
    "ses:SendEmail": ("SenderIdentity", "ConfigurationSet"), "ses:SendRawEmail": ("SenderIdentity", "ConfigurationSet"),
    "secretsmanager:GetSecretValue": ("SettingsSecretName",),
    "s3:GetObject": ("ArchiveBucket", "HandoffBucket", "ExportBucket"), "s3:PutObject": ("ArchiveBucket",),
    "s3:ListBucket": ("ArchiveBucket", "HandoffBucket", "ExportBucket"), "s3:DeleteObject": ("ArchiveBucket",),
    "dynamodb:Scan": ("LiveTableArns",), "sqs:ReceiveMessage": ("EventsQueueName",),
    "sqs:DeleteMessage": ("EventsQueueName",), "sqs:SendMessage": ("DeadLetterQueue.Arn",),
    "logs:CreateLogStream": ("LogGroup.Arn",), "logs:PutLogEvents": ("LogGroup.Arn",),
}
STAR_ALLOWED = {"ses:GetSendQuota", "ses:GetIdentityVerificationAttributes", "cloudwatch:PutMetricData"}  # no resource


def policy_problems(template: dict[str, Any]) -> list[str]:
    """What in the template's policies grants more than its parameters name (empty: least privilege)."""
    problems = []
    for name, res in template["Resources"].items():
        props = res.get("Properties", {})
        if res["Type"] == "AWS::Serverless::Function" and ("Policies" in props or "Role" not in props):
            problems.append(f"{name}: SAM's policies (templates or its default role), not the inline role")
        if "ManagedPolicyArns" in props:
            problems.append(f"{name}: a managed policy")
    for st in statements(template):
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        resources = [resource_text(r) for r in branches(st["Resource"])]
        if st["Effect"] != "Allow" or "NotAction" in st or "NotResource" in st:
            problems.append(f"{actions}: not a plain Allow")
        for action in actions:
            if "*" in action:
                problems.append(f"{action}: a wildcard action")
            elif action in STAR_ALLOWED:
                if action == "cloudwatch:PutMetricData" and st.get("Condition", {}).get("StringEquals", {}).get(
                        "cloudwatch:namespace") != {"Ref": "MetricsNamespace"}:
                    problems.append(f"{action}: not held to the namespace")
            elif action not in NAMED_BY:
                problems.append(f"{action}: an action the tool does not need")
            if "Delete" in action and action != "sqs:DeleteMessage" and not (
                    action == "s3:DeleteObject" and all(r.endswith(LOCK) for r in resources)):
                problems.append(f"{action}: a delete beyond the run lock and the events queue")
            for r in resources:
                if action not in STAR_ALLOWED and ("*" in r.replace(f"/{'*'}", "", 1) if r.endswith("/*") else
                                                   "*" in r.replace("-??????", "")):
                    problems.append(f"{action} on {r}: a wildcard resource")
                if action in NAMED_BY and not any(f"${{{p}}}" in r for p in NAMED_BY[action]):
                    problems.append(f"{action} on {r}: names none of {NAMED_BY[action]}")
                if action.startswith("s3:") and action != "s3:ListBucket" and not re.search(
                        r"\$\{\w+Bucket\}/\$\{\w+Prefix\}/", r):
                    problems.append(f"{action} on {r}: a whole bucket, not a prefix")
            if action == "s3:ListBucket" and "s3:prefix" not in st.get("Condition", {}).get("StringLike", {}):
                problems.append(f"{action}: lists the whole bucket (no s3:prefix condition)")
    return problems


def test_cfn_lint_passes() -> None:
    """A template that does not deploy is found here, offline, not on the user's first `sam deploy`."""
    lint = Path(sys.executable).with_name("cfn-lint")
    command = [str(lint)] if lint.exists() else [shutil.which("cfn-lint") or "cfn-lint"]
    result = subprocess.run([*command, str(TEMPLATE)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_policy_names_only_the_resources_its_parameters_name() -> None:
    """Least privilege: send from the sender only, read the named secret, prefixes and tables, write the archive."""
    template = load()
    assert policy_problems(template) == []
    actions = {a for st in statements(template) for a in (st["Action"] if isinstance(st["Action"], list)
                                                          else [st["Action"]])}
    assert {"ses:SendEmail", "ses:SendRawEmail", "ses:GetSendQuota", "ses:GetIdentityVerificationAttributes",
            "secretsmanager:GetSecretValue",
            "s3:GetObject", "s3:PutObject", "s3:ListBucket", "s3:DeleteObject", "cloudwatch:PutMetricData",
            "sqs:ReceiveMessage", "sqs:DeleteMessage", "dynamodb:Scan"} <= actions


def test_each_action_names_a_resource_exactly_when_iam_takes_one() -> None:
    """A resource on an action IAM grants only on "*" never matches: the call is denied in AWS, never here."""
    import importlib.util

    # cfn-lint's copy of AWS's Service Authorization Reference: each action's resource types (the file is
    # found without importing cfn-lint, which loads a thousand modules into the test process: 0.4 s of CPU)
    package = Path(importlib.util.find_spec("cfnlint").origin).parent  # type: ignore[union-attr, arg-type]
    reference = json.loads((package / "data" / "AdditionalSpecs" / "Policies.json").read_text())
    wrong = []
    for st in statements(load()):
        resources = [resource_text(r) for r in branches(st["Resource"])]
        for action in st["Action"] if isinstance(st["Action"], list) else [st["Action"]]:
            service, name = action.split(":")
            takes = reference[service]["Actions"][name.lower()].get("Resources")
            if not takes and resources != ["*"]:
                wrong.append(f"{action}: IAM takes only '*', not {resources}")
            if takes and "*" in resources and action != "cloudwatch:PutMetricData":  # held to its namespace
                wrong.append(f"{action}: '*' where IAM takes {takes}")
    assert wrong == []


def _first(template: dict[str, Any], action: str) -> dict[str, Any]:
    return next(st for st in statements(template) if action in str(st["Action"]))


@pytest.mark.parametrize("plant", [
    "broad-s3", "star-secret", "delete-archive", "managed", "sam-template", "star-ses", "unnamed-bucket",
    "whole-bucket-list",
])
def test_the_policy_check_finds_each_kind_of_overreach(plant: str) -> None:
    """The check above must be able to fail: each planted overreach is found."""
    template = copy.deepcopy(load())
    role = template["Resources"]["FunctionRole"]["Properties"]
    if plant == "broad-s3":
        _first(template, "s3:PutObject")["Action"] = ["s3:*"]
    elif plant == "star-secret":
        _first(template, "secretsmanager")["Resource"] = "*"
    elif plant == "delete-archive":
        _first(template, "s3:PutObject")["Action"] = ["s3:PutObject", "s3:DeleteObject"]
    elif plant == "managed":
        role["ManagedPolicyArns"] = ["arn:aws:iam::aws:policy/AmazonSESFullAccess"]
    elif plant == "sam-template":
        template["Resources"]["ReportsFunction"]["Properties"]["Policies"] = [{"SESCrudPolicy": {"IdentityName": "x"}}]
    elif plant == "star-ses":
        _first(template, "ses:SendEmail")["Resource"] = {"Fn::Sub": "arn:${AWS::Partition}:ses:*:*:identity/*"}
    elif plant == "unnamed-bucket":
        _first(template, "s3:PutObject")["Resource"] = {"Fn::Sub": "arn:${AWS::Partition}:s3:::my-bucket/x/y"}
    elif plant == "whole-bucket-list":
        del _first(template, "s3:ListBucket")["Condition"]
    assert policy_problems(template) != []


def test_the_function_runs_weekly_in_local_time_once_with_no_blind_retry() -> None:
    """Monday 07:00 in the user's time zone; one run at a time; a failed run is not retried behind the ledger's back."""
    template = load()
    fn = template["Resources"]["ReportsFunction"]["Properties"]
    assert fn["Handler"] == "send_exec_reports.lambda_handler" and callable(ser.lambda_handler)
    assert fn["Runtime"] in ("python3.12", "python3.11") and fn["Architectures"] == ["arm64"]
    assert ser.runtime_deprecated(fn["Runtime"], ser.dt.date(2027, 12, 31)) is None  # not a runtime AWS retires soon
    assert fn["CodeUri"].rstrip("/") == "build/lambda"
    assert fn["ReservedConcurrentExecutions"] == 1
    assert fn["EventInvokeConfig"]["MaximumRetryAttempts"] == 0
    assert fn["DeadLetterQueue"]["Type"] == "SQS"
    schedule = fn["Events"]["Weekly"]
    assert schedule["Type"] == "ScheduleV2"
    assert schedule["Properties"]["ScheduleExpression"] == "cron(0 7 ? * MON *)"
    assert schedule["Properties"]["ScheduleExpressionTimezone"] == {"Ref": "ScheduleTimezone"}
    assert schedule["Properties"]["RetryPolicy"]["MaximumRetryAttempts"] == 0
    assert ser.event_argv(yaml.safe_load(schedule["Properties"]["Input"])) == ["--env-file", "/dev/null"]
    types = {r["Type"] for r in template["Resources"].values()}
    assert {"AWS::Logs::LogGroup", "AWS::CloudWatch::Alarm", "AWS::CloudWatch::Dashboard", "AWS::SQS::Queue"} <= types
    assert "RetentionInDays" in template["Resources"]["LogGroup"]["Properties"]
    # every variable the function is given is a setting; the archive it is told is the one its policy names
    env = fn["Environment"]["Variables"]
    assert set(env) <= set(ser.SETTING_NAMES)
    assert env["ARCHIVE_DIR"] == {"Fn::Sub": "s3://${ArchiveBucket}/${ArchivePrefix}"}
    assert env["CLOUDWATCH_NAMESPACE"] == {"Ref": "MetricsNamespace"}
    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"][0]
    widgets = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))["widgets"]  # JSON once substituted
    shown = json.dumps(widgets)
    for metric, _ in ser.CLOUDWATCH_NAMES.values():
        assert f'\\"{metric}\\"' in shown or f'"{metric}"' in shown, metric


# The role against a real run: every call the function makes with the stack's environment, its
# inputs in S3 and its archive in S3, checked against the policies as IAM would evaluate them.

ACCOUNT = "123456789012"  # moto's account
DEPLOYED = {"AWS::Partition": "aws", "AWS::Region": "us-west-2", "AWS::AccountId": ACCOUNT, "AWS::URLSuffix":
            "amazonaws.com", "AWS::StackName": "exec", "AWS::NoValue": None}


def deployed(template: dict[str, Any], params: dict[str, Any]) -> Any:
    """The template with its parameters, conditions and intrinsic functions resolved (Fn::GetAtt left as a name)."""
    values = {**{k: v.get("Default") for k, v in template["Parameters"].items()}, **DEPLOYED, **params}
    conditions: dict[str, bool] = {}

    def sub(text: str) -> str:
        return re.sub(r"\$\{([\w:.]+)\}", lambda m: str(values.get(m[1], m[1])), text)  # a resource: its name

    def value(v: Any) -> Any:
        if isinstance(v, list):
            return [x for x in (value(i) for i in v) if x is not None]
        if not isinstance(v, dict):
            return v
        if "Ref" in v:
            return values.get(v["Ref"], v["Ref"])
        if "Fn::Sub" in v:
            return sub(v["Fn::Sub"]) if isinstance(v["Fn::Sub"], str) else v["Fn::Sub"][0]
        if "Fn::If" in v:
            name, yes, no = v["Fn::If"]
            return value(yes if conditions[name] else no)
        if "Fn::Not" in v:
            return not value(v["Fn::Not"][0])
        if "Fn::Equals" in v:
            left, right = value(v["Fn::Equals"])
            return left == right
        if "Fn::Join" in v:
            joiner, parts = v["Fn::Join"]
            parts = value(parts)
            return joiner.join(parts if isinstance(parts, list) else [parts])
        if "Fn::GetAtt" in v:
            return ".".join(v["Fn::GetAtt"])
        return {k: value(x) for k, x in v.items()}

    for name, condition in template["Conditions"].items():
        conditions[name] = value(condition)
    return value(template["Resources"])


def allowed(role: dict[str, Any], action: str, resource: str, context: dict[str, str]) -> bool:
    """Whether one of the role's Allow statements grants the call (IAM's matching: * and ?, StringLike, StringEquals)."""
    import fnmatch

    def like(text: str, pattern: str) -> bool:
        return fnmatch.fnmatchcase(text, pattern.replace("[", "[[]"))

    for policy in role["Properties"]["Policies"]:
        for st in policy["PolicyDocument"]["Statement"]:
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
            if action.lower() not in (a.lower() for a in actions) or not any(like(resource, r) for r in resources):
                continue
            tests = {"StringLike": like, "StringEquals": str.__eq__}
            if all(key in context and any(tests[op](context[key], p) for p in (ps if isinstance(ps, list) else [ps]))
                   for op, keys in st.get("Condition", {}).items() for key, ps in keys.items()):
                return True
    return False


def calls(requests: list[tuple[str, str, str, str, dict[str, Any]]], secret_arn: str
          ) -> list[tuple[str, str, dict[str, str]]]:
    """What each request asked of IAM: (action, resource, condition context)."""
    import urllib.parse

    asked = []
    for method, path, service, action, fields in requests:
        if service == "s3":
            parts = urllib.parse.urlsplit(path)
            bucket, _, key = urllib.parse.unquote(parts.path).lstrip("/").partition("/")
            query = urllib.parse.parse_qs(parts.query)
            if not key:
                asked.append(("s3:ListBucket", f"arn:aws:s3:::{bucket}", {"s3:prefix": query.get("prefix", [""])[0]}))
            else:
                verb = {"GET": "GetObject", "HEAD": "GetObject", "PUT": "PutObject", "DELETE": "DeleteObject"}[method]
                asked.append((f"s3:{verb}", f"arn:aws:s3:::{bucket}/{key}", {}))
        elif service == "secretsmanager":
            asked.append((f"secretsmanager:{action}", secret_arn, {}))
        elif service == "ses" and action in ("SendEmail", "SendRawEmail"):
            source = fields.get("Source", "")
            for identity in (source, source.rsplit("@", 1)[-1]):  # the address's identity, or its domain's
                asked.append((f"ses:{action}", f"arn:aws:ses:us-west-2:{ACCOUNT}:identity/{identity}", {}))
        elif service in ("ses", "email"):
            asked.append((f"ses:{action}", "*", {}))
        elif service == "monitoring":
            asked.append((f"cloudwatch:{action}", "*", {"cloudwatch:namespace": fields.get("Namespace", "")}))
        else:
            raise AssertionError(f"a call the check does not know: {service} {method} {path}")
    return asked


@pytest.mark.usefixtures("sample_in_s3")
def test_the_role_allows_every_call_of_a_run_from_s3_and_no_other_prefix(
        request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The policies as IAM reads them, against a real run: its S3 reads of handoffs and exports, its archive, SES."""
    proxy = request.getfixturevalue("function_env")  # the SES proxy in front of moto
    moto = proxy.upstream
    params = {"SettingsSecretName": SECRET, "SenderIdentity": SENDER, "ArchiveBucket": BUCKET,
              "ArchivePrefix": "exec/archive", "HandoffBucket": HANDOFFS.split("/")[2],
              "HandoffPrefix": HANDOFFS.split("/", 3)[3], "ExportBucket": EXPORTS.split("/")[2],
              "ExportPrefix": EXPORTS.split("/", 3)[3], "MetricsNamespace": "ExecReports"}
    stack = deployed(load(), params)
    for name, value in stack["ReportsFunction"]["Properties"]["Environment"]["Variables"].items():
        monkeypatch.setenv(name, value)  # what the stack sets (empty: unset)
    put_secret(moto, {"SES_FROM_ADDRESS": SENDER, "EXEC_REPORT_TO": "owner@example.com",
                      "EXEC_REPORT_BCC": "admin@example.com"})
    assert ser.lambda_handler({"as_of": "2026-11-22", "only": ["ceo"]}, None)["sent"] == ["ceo"]
    secret_arn = client(moto, "secretsmanager").describe_secret(SecretId=SECRET)["ARN"]
    asked = calls(proxy.requests, secret_arn)

    def made(action: str, start: str) -> bool:
        return any(a == action and r.startswith(start) for a, r, _ in asked)

    inputs = f"arn:aws:s3:::{params['HandoffBucket']}"
    archive = f"arn:aws:s3:::{BUCKET}/exec/archive/"
    assert made("s3:ListBucket", inputs) and made("s3:GetObject", f"{inputs}/{params['HandoffPrefix']}/")
    assert made("s3:GetObject", f"{inputs}/{params['ExportPrefix']}/") and made("s3:GetObject", archive)
    assert made("s3:PutObject", archive) and made("s3:DeleteObject", archive)
    assert made("secretsmanager:GetSecretValue", secret_arn) and made("cloudwatch:PutMetricData", "*")
    assert made("ses:GetSendQuota", "*") and made("ses:GetIdentityVerificationAttributes", "*")
    role = stack["FunctionRole"]
    sends = [c for c in asked if c[0] == "ses:SendEmail"]
    assert any(allowed(role, *c) for c in sends)  # from the address's identity (its domain's is not granted)
    assert [c for c in asked if c[0] != "ses:SendEmail" and not allowed(role, *c)] == []
    # the check can fail: a stack told other prefixes denies exactly the reads of the inputs
    elsewhere = deployed(load(), {**params, "HandoffPrefix": "exec/other", "ExportPrefix": "exec/elsewhere"})
    reads = [c for c in asked if c[1].startswith(inputs)]
    other = elsewhere["FunctionRole"]
    assert reads and [c for c in asked if c[0] != "ses:SendEmail" and not allowed(other, *c)] == reads
