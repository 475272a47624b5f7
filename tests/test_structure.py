"""The one file reads in the order of the work: sections in flow order, nothing reaches forward."""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

SOURCE = Path(__file__).resolve().parent.parent / "send_exec_reports.py"
MAX_FUNCTION_LINES = 80
# Functions still over MAX_FUNCTION_LINES while they wait to be split: empty this when they are.
LONG_FUNCTIONS_ALLOWED: frozenset[str] = frozenset()  # none: a function past the limit is split

# The sections, in the order the data flows; each banner is '# ---...' then '# <Title>...'.
SECTIONS = (
    "Errors",
    "Settings",
    "Formatting",
    "Reading handoffs",
    "Reading DynamoDB",
    "Reading the AWS estate",
    "Figures",
    "History",
    "Rendering",
    "The archive",
    "The archive in S3",
    "Delivery",
    "After the send",
    "Command line",
)


def _sections(lines: list[str]) -> list[tuple[int, str]]:
    """(first line number, title) of each banner section."""
    found = []
    for i, line in enumerate(lines[:-1]):
        if line.startswith("# ----") and lines[i + 1].startswith("# ") and not lines[i + 1].startswith("# ----"):
            found.append((i + 2, lines[i + 1][2:]))
    return found


def _section_of(sections: list[tuple[int, str]], lineno: int) -> int:
    """The index of the section a line stands in (-1: above the first banner)."""
    index = -1
    for i, (start, _) in enumerate(sections):
        if start <= lineno:
            index = i
    return index


def _top_level_names(tree: ast.Module) -> dict[str, int]:
    """Each name the module defines at its top level, with the line of its first definition."""
    names: dict[str, int] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.setdefault(node.name, node.lineno)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    names.setdefault(target.id, node.lineno)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.setdefault(node.target.id, node.lineno)
    return names


def _local_names(node: ast.AST) -> set[str]:
    """Names a definition binds itself (parameters, assignments, loop and import targets)."""
    bound: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.arg):
            bound.add(sub.arg)
        elif isinstance(sub, ast.Name) and isinstance(sub.ctx, (ast.Store, ast.Del)):
            bound.add(sub.id)
        elif isinstance(sub, (ast.Import, ast.ImportFrom)):
            bound.update((alias.asname or alias.name).split(".")[0] for alias in sub.names)
        elif isinstance(sub, ast.ExceptHandler) and sub.name:
            bound.add(sub.name)
    return bound


@functools.cache
def _parsed() -> tuple[list[str], ast.Module]:
    """The source's lines and its syntax tree (parsed once a process, 0.3 s of CPU: no test changes them)."""
    text = SOURCE.read_text(encoding="utf-8")
    return text.splitlines(), ast.parse(text)


def test_sections_follow_the_flow_of_the_work() -> None:
    """A newcomer meets the sections in the order the data flows, each once."""
    lines, _ = _parsed()
    titles = [title for _, title in _sections(lines)]
    order = []
    for title in titles:
        matches = [s for s in SECTIONS if title.startswith(s)]
        assert matches, f"section {title!r} is not one of the known sections; add it to SECTIONS where it belongs"
        order.append(SECTIONS.index(max(matches, key=len)))
    assert order == sorted(order), f"sections out of flow order: {titles}"


def test_no_section_reaches_forward() -> None:
    """Everything a line depends on stands above its section: a reader can stop anywhere."""
    lines, tree = _parsed()
    sections = _sections(lines)
    defined = _top_level_names(tree)
    forward = set()
    for node in tree.body:
        here = _section_of(sections, node.lineno)
        local = _local_names(node) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else set()
        for sub in ast.walk(node):
            if (isinstance(sub, ast.Name) and sub.id in defined and sub.id not in local
                    and _section_of(sections, defined[sub.id]) > here):
                forward.add(f"line {sub.lineno}: {sub.id} (defined in {sections[_section_of(sections, defined[sub.id])][1][:40]!r})")
    assert not forward, "references to a later section:\n" + "\n".join(sorted(forward))


def test_no_function_is_too_long_to_read_at_once() -> None:
    """One family of work per function: none is over MAX_FUNCTION_LINES lines (but those allowed for now)."""
    _, tree = _parsed()
    over = {
        node.name: f"{node.name} (line {node.lineno}): {node.end_lineno - node.lineno + 1} lines"
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    }
    long = [line for name, line in over.items() if name not in LONG_FUNCTIONS_ALLOWED]
    assert not long, "functions over the limit:\n" + "\n".join(long)
    split = sorted(LONG_FUNCTIONS_ALLOWED - over.keys())
    assert not split, f"now short: remove {', '.join(split)} from LONG_FUNCTIONS_ALLOWED"


def test_every_error_class_is_in_the_errors_section() -> None:
    """The errors a run can end with are read in one place."""
    lines, tree = _parsed()
    sections = _sections(lines)
    errors = [i for i, (_, title) in enumerate(sections) if title.startswith("Errors")]
    assert len(errors) == 1
    defined = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}

    def is_error(node: ast.ClassDef, seen: frozenset[str] = frozenset()) -> bool:
        for base in node.bases:
            name = base.id if isinstance(base, ast.Name) else getattr(base, "attr", "")
            if name in ("Exception", "BaseException", "KeyboardInterrupt") or name.endswith("Error"):
                return True
            if name in defined and name not in seen and is_error(defined[name], seen | {name}):
                return True
        return False

    outside = [
        f"{node.name} (line {node.lineno})"
        for node in defined.values()
        if is_error(node) and _section_of(sections, node.lineno) != errors[0]
    ]
    assert not outside, "error classes outside the Errors section: " + ", ".join(outside)


def test_aws_error_codes_are_read_in_one_place() -> None:
    """An AWS error's code is read by one helper, not written out at every call."""
    text = SOURCE.read_text(encoding="utf-8")
    assert len(re.findall(r'\.response\.get\("Error"', text)) <= 1
