"""Every fast path against the plain path it stands for, on generated awkward input.

The handoff reader resolves tags through its own loader and builds common scalars
straight from their text; rendering makes a report's uncut text only when it is read.
Each must give exactly what the plain path gives: a speed-up that changes a figure or
a line is a defect.
"""

from __future__ import annotations

import bisect
import datetime as dt
import html
import math
import random
import textwrap
import unicodedata
from pathlib import Path
from typing import Any

import pytest
import yaml

import send_exec_reports as ser

AS_OF = dt.date(2026, 11, 22)
PLAIN_LOADER = ser.YamlLoader  # PyYAML's own resolver and constructor (libyaml's parser)

# Scalars in the forms YAML reads in more than one way, written plain, quoted and tagged.
AWKWARD = [
    "", "~", "null", "Null", "NULL", "nULL", "true", "True", "TRUE", "tRUE", "false", "yes", "No", "on", "OFF",
    "y", "n", "0", "-0", "+0", "00", "007", "08", "0x1F", "0b101", "0o17", "1_000", "+5", "-5", "1:30",
    "999999999999999", "1000000000000000", "-999999999999999.999999", "123456789012345678901234567890",
    "0.1", "-0.0", "1.", ".5", "1e3", "1.5e-3", "6.02E+23", ".inf", "-.Inf", ".NaN", "1.2.3", "1,000",
    "2026-11-02", "2026-13-45", "2026-02-29", "2024-02-29", "2026-1-2", "2026-11-02T10:30:00",
    "2026-11-02 10:30:00.5 +02:00", "0000-01-01", "9999-12-31", "2026-11", "20261102",
    "=", "<<", "-", ".", "$8,200", "8200 USD", "café", "日本語", "🙂 ok", "ümlaut", "R&D", "a: b",
    "tab\there", "quote ' and \"", "back\\slash", "x" * 40,
]
DQ = '"'
TAGS = ["", "!!str ", "!!int ", "!!float ", "!!bool ", "!!null ", "!!timestamp "]


def quoted(text: str, style: str) -> str:
    """A scalar written plain, single- or double-quoted (with escapes)."""
    if style == "'":
        return "'" + text.replace("'", "''") + "'"
    if style == '"':
        out = text.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t")
        return '"' + "".join(f"\\u{ord(c):04x}" if ord(c) > 0x7F and ord(c) < 0x10000 else c for c in out) + '"'
    return text


def scalar_docs(rng: random.Random, count: int) -> list[str]:
    """Small YAML documents of nested lists and mappings holding awkward scalars."""
    docs = []
    for _ in range(count):
        lines = []
        for k in range(rng.randint(1, 12)):
            value = rng.choice(AWKWARD)
            style = rng.choice(["", "", "'", '"'])
            tag = rng.choice(TAGS) if rng.random() < 0.2 else ""
            if not style and (value.strip() != value or "\t" in value):
                style = '"'  # not writable plain
            item = tag + quoted(value, style)
            key_style = rng.choice(["", DQ])
            shape = rng.randrange(5)
            if shape == 0:
                lines.append(f"k{k}: {item}")
            elif shape == 1:
                lines.append(f"k{k}: [{item}, {rng.choice(AWKWARD[:40]) or '~'}, []]")
            elif shape == 2:
                lines.append(f"k{k}:\n  - {item}\n  - {{a: {item}, b: {{}}}}")
            elif shape == 3:
                lines.append(f"{quoted(value, key_style)}: {item}")
            else:
                lines.append(f"k{k}: {{x: {{y: [{item}]}}}}")
        docs.append("\n".join(lines) + "\n")
    return docs


def construct(validator: ser._Validator, node: yaml.Node, fast: bool) -> tuple[str, Any]:
    """What scalar() (fast) or plain_scalar() gives for a node, or the error it raises."""
    try:
        value = validator.scalar(node) if fast else validator.plain_scalar(node)
    except Exception as exc:  # the plain path may raise: the fast one must raise the same
        return ("raises", type(exc).__name__)
    return (type(value).__name__, "nan" if isinstance(value, float) and math.isnan(value) else value)


def nodes(node: yaml.Node) -> list[yaml.Node]:
    """A node and every node under it."""
    out = [node]
    if isinstance(node, yaml.SequenceNode):
        for item in node.value:
            out += nodes(item)
    elif isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            out += nodes(k) + nodes(v)
    return out


@pytest.mark.parametrize("seed", range(4))
def test_resolved_tags_are_pyyamls(seed: int) -> None:
    rng = random.Random(seed)
    alphabet = "0123456789+-._:eExXbBoO~<=!&*yYnNtTfFaluesr ,éü日🙂\t"
    values = list(AWKWARD) + ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(3000)]
    fast, plain = ser._HandoffLoader(""), PLAIN_LOADER("")
    try:
        for value in values * 2:  # the second time, from the memo
            for kind in (yaml.ScalarNode, yaml.SequenceNode, yaml.MappingNode):
                for implicit in ((True, False), (False, True), (False, False), (True, True)):
                    assert fast.resolve(kind, value, implicit) == plain.resolve(kind, value, implicit), (value, kind)
    finally:
        fast.dispose()
        plain.dispose()


@pytest.mark.parametrize("seed", range(4))
def test_scalars_built_from_the_tag_are_the_constructors(seed: int) -> None:
    compared = 0
    for doc in scalar_docs(random.Random(seed), 150):
        try:
            root = yaml.compose(doc, Loader=PLAIN_LOADER)
        except yaml.YAMLError:
            continue  # a generated document YAML refuses: nothing to construct
        # the fast loader composes the same tags
        fast_root = yaml.compose(doc, Loader=ser._HandoffLoader)
        assert [n.tag for n in nodes(fast_root)] == [n.tag for n in nodes(root)], doc
        loader = PLAIN_LOADER("")
        try:
            validator = ser._Validator(loader, 1, None)
            for node in nodes(root):
                assert construct(validator, node, True) == construct(validator, node, False), (doc, node)
                compared += 1
        finally:
            loader.dispose()
    assert compared > 1000


def test_the_awkward_scalars_take_the_fast_path_where_it_exists() -> None:
    """The differential tests above compare something: these forms are built from their tag."""
    loader = PLAIN_LOADER("")
    try:
        validator = ser._Validator(loader, 1, None)
        for text, expected in (("~", None), ("Yes", True), ("off", False), ("-0", 0), ("+5", 5),
                               ("-0.0", -0.0), ("2024-02-29", dt.date(2024, 2, 29)), ("2026-13-45", "2026-13-45")):
            node = yaml.compose(text, Loader=ser._HandoffLoader)
            assert validator.scalar(node) == expected
            assert validator.plain_scalar(node) == expected
    finally:
        loader.dispose()


class PlainValidator(ser._Validator):
    """The validator with PyYAML's construction of every scalar: the plain path."""

    def scalar(self, node: yaml.Node) -> Any:
        """Every value through the constructor."""
        return self.plain_scalar(node)


def plain_parse(text: str) -> tuple[Any, list[tuple[int, str]], dict[str, int]]:
    """What parse_handoff's validation gives through PyYAML's own loader and constructor."""
    loader = PLAIN_LOADER(text)
    try:
        validator = PlainValidator(loader, 2, {"ceo": "CEO", "cto": "CTO"})
        data = validator.fields(loader.get_single_node(), "", ser.SCHEMA)
    finally:
        loader.dispose()
    return data, sorted(validator.errors, key=lambda e: e[0]), validator.lines


def fast_parse(path: Path, text: str) -> tuple[Any, list[tuple[int, str]], dict[str, int]]:
    """The real reader on the same front matter: its data, or its errors as (line, message)."""
    path.write_text("---\n" + text + "---\nNotes.\n", encoding="utf-8")
    try:
        handoff = ser.parse_handoff(path, path.name, {"ceo": "CEO", "cto": "CTO"})
    except ser.InputErrors as exc:
        errors = []
        for message in exc.errors:
            _file, line, rest = message.split(":", 2)
            errors.append((int(line), rest.strip()))
        return None, errors, {}
    assert handoff is not None
    return handoff.data, [], handoff.lines


def handoff_text(rng: random.Random, i: int) -> str:
    """Generated front matter: the schema's fields holding right and wrong values of every kind."""
    def v(*good: str) -> str:
        return rng.choice(good) if rng.random() < 0.97 else quoted(rng.choice(AWKWARD), rng.choice(["", "'", '"']))

    def plain(*good: str) -> str:
        value = v(*good)
        return value if value.strip() == value and "\t" not in value else quoted(value, '"')

    quoted_co = '"Quoted \\"Co\\""'
    lines = [f"entity: {plain('Acme', 'Café Ünïcode', '日本 Holdings', quoted_co)}",
             f"project: {plain(f'P{i}', DQ + DQ, '~', '010')}",
             f"status: {plain('active', 'at-risk', 'done')}",
             f"updated: {plain('2026-11-20', '2024-02-29', '2026-11-20T08:00:00')}",
             f"cash: {plain('1000', '-0', '0.5', '999999999999999', '12.345678')}",
             "financials:"]
    for m in rng.sample(["2026-08", "2026-09", "2026-10", "2026-11"], rng.randint(0, 3)):
        lines.append(f"  {m}: {{revenue: {plain('100', '0', '1.10')}, expenses: {plain('600', '-5', '7.25')}}}")
    lines.append(f"kpis: [{{name: {plain('Leads', 'Taux', '客户')}, value: {plain('3', '0.02', 'null')}, "
                 f"target: {plain('40', '0.5')}, better: {plain('lower', 'higher')}, unit: {plain('%', '$', 'leads')}}}]")
    lines.append("stack:")
    lines.append(f"  - {{name: {plain('web', 'ÿ')}, monthly_cost: {plain('20', '1.50')}, "
                 f"in_use: {plain('true', 'false', 'yes', 'off')}, last_deploy: {plain('2026-11-01', '~')}}}")
    lines.append("actions:" if rng.random() < 0.9 else "actions: []")
    for k in range(rng.randint(0, 3)):
        lines.append(f"  - {{title: {plain(f'Do {k}', 'Ünï')}, due: {plain('2026-12-01', '2026-02-30')}, "
                     f"priority: {plain('1', '5', '2.0')}, persona: {plain('CEO', 'cto')}, done: {plain('false', 'no')}}}")
    lines.append(f"dynamodb: {{events: {plain('bench-events-0', 'ab')}, checklist: "
                 f"{{table: {plain('bench-check-1')}, done: {plain('completed', 'fertig')}}}}}")
    lines.append(f"extra_{i % 3}: {plain('anything', '2026-11-02', '1')}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("seed", range(3))
def test_handoffs_read_as_the_plain_path_reads_them(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    read = refused = 0
    for i in range(200):
        text = handoff_text(rng, i)
        try:
            plain = plain_parse(text)
        except yaml.YAMLError:
            continue  # a generated document YAML refuses; the reader names the line (tested elsewhere)
        data, errors, lines = fast_parse(tmp_path / f"doc{i}.md", text)
        if plain[1]:
            assert data is None and errors == plain[1], text
            refused += 1
        else:
            expected = plain[0]
            if not expected["project"]:
                expected["project"] = f"doc{i}"
            assert (data, lines) == (expected, plain[2]), text
            assert repr(data) == repr(expected)  # the same types: Decimal stays Decimal, date stays date
            read += 1
    assert read > 5 and refused > 5


# --- rendering: the uncut text made only when read -------------------------------------


def eager_render(report: ser.ReportTemplate, metrics: dict[str, Any], env: Any) -> tuple[str, str, str]:
    """The plain path: the uncut text made first, then cut lists halved while too long."""
    needs = ser.needs_you(metrics, report.persona, report.entity)
    history = metrics.get("history") or {**ser.history_figures(metrics["period"], {}, {}), "now": {}}
    context = {**metrics, "history": history, "report": report, "title": report.title, "persona": report.persona,
               "needs_you": needs, "mine": ser.routed(metrics, report.persona, report.entity),
               "more": lambda rows: ser.more_line(rows, where=f"in the attached {report.id}-full.txt")}
    if report.entity:
        context["e"] = metrics["entities"][report.entity]
    header = (f"# {ser.md_escape(report.title)}\n\nPeriod: {ser.md_escape(ser.period_line(metrics))}\n\n"
              f"{ser.needs_you_markdown(needs, report)}")
    footer = f"\n\n---\n\n{ser.md_escape(ser.sources_line(metrics, report))}\n"

    def text(scale: float | None) -> tuple[str, str]:
        cut, quiet = ser._cutter(scale), ser.QuietSections(history, report.entity)
        changes = ser.what_changed_markdown(history, report, cut, context["more"])
        body = env.get_template(report.id).render({**context, "cut": cut, "section": quiet.section,
                                                   "inventory": quiet.inventory})
        md = header + changes + body + quiet.line() + footer
        return md, ser.text_from_markdown(md)

    sent_md, full = text(None)
    sent, scale = full, 1.0
    while sent.count("\n") > ser.MAX_LINES and scale >= ser.MIN_SCALE:
        (sent_md, sent), scale = text(scale), scale / 2
    return sent, full, sent_md


# What eager_render makes of each report of bench_metrics_300 (report id -> (text, full text, markdown)): the
# same for both cases of the test below, so a process that runs both renders it once.
EAGER_300: dict[str, tuple[str, str, str]] = {}


@pytest.mark.parametrize("whole", [True, False], ids=["whole", "dry-run"])
def test_reports_render_as_the_eager_path_renders_them(bench_metrics_300: dict[str, Any], whole: bool) -> None:
    metrics = bench_metrics_300
    reports = ser.load_reports()
    env = ser.jinja_env(reports)
    lazy = 0
    for report in reports:
        r = ser.render_report(report, metrics, env, whole=whole)
        lazy += r.uncut_markdown is not None
        if report.id not in EAGER_300:
            EAGER_300[report.id] = eager_render(report, metrics, env)
        assert (r.text, r.full_text, r.markdown) == EAGER_300[report.id], report.id
        assert r.uncut_markdown is None  # made once, when read
    assert lazy >= 3  # the big reports did not make their uncut text up front


def test_a_dry_run_renders_a_long_uncut_report_only_until_it_is_known_long(
    bench_metrics_300: dict[str, Any], tmp_path: Path
) -> None:
    # A template that counts its rows as Jinja renders them: the uncut table has 1,000 rows.
    rendered: list[int] = []
    body = ("| n | x |\n|---|--:|\n{% for i in cut(range(1000), 100) %}| {{ seen(i) }} | x |\n{% endfor %}")
    (tmp_path / "long.md").write_text(f"---\nid: long\ntitle: Long\npersona: CEO\nsubject: Long\n---\n{body}\n")
    (report,) = ser.load_reports(tmp_path)
    env = ser.jinja_env([report])
    env.globals["seen"] = lambda i: rendered.append(i) or i
    whole = ser.render_report(report, bench_metrics_300, env)
    assert len(rendered) == 1000 + 100  # uncut, then cut to 100 rows
    rendered.clear()
    lazy = ser.render_report(report, bench_metrics_300, env, whole=False)
    assert lazy.uncut_markdown is not None
    assert 250 + 100 < len(rendered) < 600 + 100  # stopped soon after the rows passed the bound; then the cut render
    assert (lazy.text, lazy.markdown, lazy.subject) == (whole.text, whole.markdown, whole.subject)
    assert lazy.full_text == whole.full_text and lazy.full_text.count("\n") > ser.MAX_LINES


def pieces_of(text: str, rng: random.Random, given: list[int]) -> Any:
    """The text in random pieces, as Jinja yields them: empty, one character, across lines.

    `given` gets the length of each piece handed out, so a test can tell how much was read.
    """
    i = 0
    while i < len(text):
        n = rng.choice([0, 1, 2, 5, 17, 80])
        given.append(len(text[i:i + n]))
        yield text[i:i + n]
        i += n


@pytest.mark.parametrize("seed", range(3))
def test_markdown_unless_long_answers_as_the_whole_text_does(seed: int) -> None:
    rng = random.Random(seed)
    stopped = 0
    for _ in range(300):
        md = random_markdown_with_lists(rng)
        for bound in (0, 1, 2, 3, 5, 8, 13, 40):
            given: list[int] = []
            got = ser.markdown_unless_long(pieces_of(md, rng, given), bound)
            assert got == (None if ser.text_lines_pass(md, bound) else md), (bound, md)
            stopped += got is None and sum(given) < len(md)
    assert stopped > 50  # a long text was left partly unread, not only told long at its end


def random_table(rng: random.Random) -> str:
    """A Markdown table with blank, unicode-blank, long, wide and escaped cells."""
    cells = ["", " ", "\u00a0", "\u3000", "x", "1,234", "a | b", "\\*", "日本語のテキスト" * 3, "word " * 30,
             "\u0301", "&nbsp;", "\u2003y", "-", "="]
    ncols = rng.randint(1, 5)
    rows = [[rng.choice(cells) for _ in range(ncols)] for _ in range(rng.randint(1, 12))]
    out = ["| " + " | ".join(c.replace("|", "\\|") for c in rows[0]) + " |",
           "|" + "|".join(rng.choice(["---", "--:", ":--"]) for _ in range(ncols)) + "|"]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows[1:]]
    return "\n".join(out)


# Markdown a template could make around its lists: items after text, headings, code, rules,
# raw HTML and comments that hold lines, reference definitions, setext underlines, empty items.
BLOCKS = [
    "# Title", "## Section", "Some text.", "", "    code", textwrap.fill("long " * 40), "- item", "- a\n- b\n- c",
    "- a\n  lazy\n- b", "text\n- a\n- b", "- a\n\n- b", "- a\n    - nested\n- b", "- ", "-  ", "- \u00a0",
    "- &nbsp;", "- [x]: http://example.com", "- - -", "---", "- a\n===", "- a\n---", "> - quoted\n- lazy",
    "<div>\n- a\n- b\n</div>", "<!--\n- a\n\n- b\n-->", "- a <b>bold\n- b</b>", "<pre>\n\n- a\n- b",
    "1. one\n- b", "* star\n- dash", "- `code\n- b`", "\\- escaped", " - indented", "-no space", "- *a*\n- _b_",
    "Title\n=====", "- 日本語 " + "word " * 30, "\t- tab", "- ![image](x.png)", "- [](x)", "- &zwnj;", "- \u0301a",
    "- a\n- ", "- a\n-  \n- b", "- 1. one", "- a\r- b", "- a\n\n    code\n\n- b", "- a\n> quote\n- b",
    "- 1. \n- 1. \n- 1. ", "- 1. \n- a\n- 2026. \n- b", "- \u0663. \n- 1.\t", "- 1. [x]: http://x\n- 1. [x]: y",
    "- 1) a", "- 1.\n- 1.5", "- a\n  1. \n- b", "- a\n\n  [x]: y\n- b", "- a\u2028b\n- c\u2029",
    "<div>\nfoo", "<!--", "-->", "<div>", "</div>", "Text <span>", "</span>",  # tables after them: raw HTML
]


def random_markdown_with_lists(rng: random.Random) -> str:
    """Blocks and tables joined by blank lines, or by one line break (no blank line before a list)."""
    parts = [rng.choice(BLOCKS) for _ in range(rng.randint(0, 8))]
    parts += [random_table(rng) for _ in range(rng.randint(0, 3))]
    rng.shuffle(parts)
    return "".join(p + rng.choice(["\n\n", "\n\n", "\n", "\n\n\n"]) for p in parts)


@pytest.mark.parametrize("seed", range(4))
def test_the_line_bound_never_overstates_the_text(seed: int) -> None:
    """On 1,600 generated Markdown texts the bound never passes the lines the text really has.

    The bound is asked at the text's own line count (it must not pass), and the lines it
    counted are found by bisection (it passes every bound below them and none from them
    on: it counts once and compares), checked on both sides of the boundary.
    """
    rng = random.Random(seed)
    counted = 0
    for _ in range(400):
        md = random_markdown_with_lists(rng)
        lines = ser.text_from_markdown(md).count("\n")
        assert not ser.text_lines_pass(md, lines), (lines, md)
        # the lines the bound counts: the smallest bound it does not pass
        least = bisect.bisect_left(range(lines + 1), True, key=lambda bound: not ser.text_lines_pass(md, bound))
        assert least <= lines and not ser.text_lines_pass(md, least), (least, lines, md)
        assert least == 0 or ser.text_lines_pass(md, least - 1), (least, lines, md)
        counted += least
    assert counted > 2000  # rows and items were counted, not only the empty case


def test_the_line_bound_counts_rows_and_list_items() -> None:
    table = "| a | b |\n|---|--:|\n" + "".join(f"| row {i} | {i} |\n" for i in range(300))
    assert ser.text_lines_pass(table, 250)
    assert not ser.text_lines_pass(table, 301)  # 301 rows with the header: the bound is only a bound
    items = "".join(f"- item {i}\n" for i in range(300))
    assert ser.text_lines_pass("# T\n\n" + items, 250)
    assert not ser.text_lines_pass("# T\nText.\n" + items, 0)  # no blank line: one paragraph
    assert not ser.text_lines_pass("<div>\n\n" + items, 0)  # raw HTML may hold what follows it
    assert ser.text_lines_pass("# T\n\n" + items + "\n<div>\n\n" + items, 299)  # but not what comes before


@pytest.mark.parametrize("html", ["<div>\nAbove.\n", "<!-- left out for now\n", "<div>\n"])
def test_table_rows_in_raw_html_are_not_counted(html: str) -> None:
    """Raw HTML can hold what follows it: inside <!-- a table shows nothing at all."""
    table = "| a | b |\n|---|---|\n" + "".join(f"| row {i} | {i} |\n" for i in range(6))
    md = html + table + "\n" + table + ("-->" if "<!--" in html else "</div>")
    assert not ser.text_lines_pass(md, 0)  # no row from the first '<' on is counted
    if "<!--" in html:
        assert ser.text_from_markdown(md).count("\n") < 6
    assert ser.text_lines_pass(table + "\n" + md, 5)  # the rows before it still count (not its header: a
    assert not ser.text_lines_pass(table + "\n" + md, 6)  # table too wide for the line is a list, one item a row)


@pytest.mark.parametrize("item", ["- 1. ", "- 2026.\t", "- \u0663. ", "- 1. [x]: http://example.com"])
def test_an_item_opening_a_numbered_list_is_not_counted(item: str) -> None:
    """`- 1. ` holds a numbered list whose item shows nothing: html2text writes the next item on its line."""
    md = "Text.\n\n" + "\n".join([item] * 6)
    lines = ser.text_from_markdown(md).count("\n")
    assert lines < 6  # the six items share one line
    assert not ser.text_lines_pass(md, lines)


def md_text(rng: random.Random) -> str:
    """Text as handoffs write it, and as they should not: specials, spaces, controls, bidi, digits."""
    alphabet = ["a", "Z", " ", " ", "  ", "é", "日", "🙂", "-", "+", "=", "1", "٣", ".", "\\", "`", "*", "_", "{",
                "}", "[", "]", ">", "#", "!", "&", "<", "|", "(", ")", "\t", "\n", "\u00a0", "\u2003", "\x1b",
                "\x85", "\x9f", "\u202e", "\u2066", "\u200f", "$", ",", "%", "'", '"']
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))


@pytest.mark.parametrize("seed", range(3))
def test_md_escape_of_plain_text_is_the_full_escape(seed: int) -> None:
    rng = random.Random(seed)
    fast = 0
    for text in [md_text(rng) for _ in range(20_000)] + ["Project 00001", "1.5", "1.a", " a", "a ", "1. a"]:
        assert ser.md_escape(text) == ser._md_escape_text(text), repr(text)
        fast += ser._MD_TOUCHED.search(text) is None and ser._MD_LINE_START.match(text) is None
    assert fast > 500  # the fast path was taken, and agreed


@pytest.mark.parametrize(("value", "message"), [
    ("actions: 2026-13-45", "5: actions expected a list, got text '2026-13-45'"),
    ("updated: !!timestamp \"x\"", "4: updated expected a date like 2026-11-18, got text 'x'"),
    ("stack: [{name: web, in_use: !!bool maybe}]", "5: stack[0].in_use expected true or false, got text 'maybe'"),
    ("cash: !!float ''", "5: cash expected a number, got text ''"),
])
def test_a_value_the_constructor_cannot_build_is_named_as_written(tmp_path: Path, value: str, message: str) -> None:
    """Both paths: PyYAML's constructor failing on a node (once, or twice on the same node) is no traceback."""
    head = "entity: A\nstatus: active\n" + ("" if value.startswith("updated") else "updated: 2026-11-20\n")
    path = tmp_path / "a.md"
    path.write_text(f"---\n{head}{value}\n---\n", encoding="utf-8")
    with pytest.raises(ser.InputErrors) as caught:
        ser.parse_handoff(path, "a.md")
    assert len(caught.value.errors) == 1
    assert caught.value.errors[0].startswith(f"{path}:{message}")


def test_the_cycle_collector_resumes_after_reading_even_on_an_error(tmp_path: Path) -> None:
    import gc

    (tmp_path / "a.md").write_text("---\nentity: A\nstatus: bogus\nupdated: 2026-11-20\n---\n", encoding="utf-8")
    assert gc.isenabled()
    with pytest.raises(ser.InputErrors):
        ser.read_handoffs(tmp_path)
    assert gc.isenabled()
    (tmp_path / "a.md").write_text("---\nentity: A\nstatus: active\nupdated: 2026-11-20\n---\n", encoding="utf-8")
    assert ser.read_handoffs(tmp_path).handoffs[0].entity == "A"
    assert gc.isenabled()


# Pieces of the lines html2text gives text_from_markdown to wrap: wide and combining
# characters, spaces that are not ASCII, tabs, list marks and indents.
WRAP_PIECES = [
    "a", "word", "longerwordthanmost", "-", "1.", "*", "+", "- ", "  - ", "10. ", " ", "  ", "\t", " \t ",
    "日本語", "界", "e\u0301", "\u0301", "\u00a0", "\u2003", "\u3000", "\u200b", "\u00ad", "🙂", "café",
    "x-y", "a/b", "$1,200", "(P1)", "\\", "|", "\x85", "\u2028", "\r", "\x0b", "\x0c", "\x1f",
]


def wrap_lines(rng: random.Random, count: int, width: int) -> list[str]:
    """Lines around `width` characters long, and the edge cases of a line that fits."""
    lines = ["", " ", "   ", "\t", "\u00a0", "\u2003", "x" * width, "x" * (width + 1), " " * width + "x",
             "- " + "y" * (width - 2), "- " + "y" * (width - 1), "  - " + "z " * (width // 2)]
    for _ in range(count):
        target = rng.choice([width - 1, width, width + 1, rng.randint(0, 2 * width)])
        parts: list[str] = []
        while sum(map(len, parts)) < target:
            parts.append(rng.choice(WRAP_PIECES))
            if rng.random() < 0.5:
                parts.append(" ")
        line = "".join(parts)
        lines.append(line)
        lines.append(line.rstrip())  # text_from_markdown's own lines end in no whitespace
        lines.append(line[:width])
    return lines


@pytest.mark.parametrize("seed", range(3))
def test_a_wrapped_line_is_textwraps(seed: int) -> None:
    rng = random.Random(seed)
    fast = wide = 0
    for width in (1, 2, 8, 20, ser.WRAP_WIDTH):
        for line in wrap_lines(rng, 400, width):
            item = ser._LIST_ITEM_RE.match(line)
            indent = " " * (len(item.group(0)) if item else len(line) - len(line.lstrip()))
            if ser._cols(line) == len(line):  # columns are characters: exactly what textwrap makes
                plain = textwrap.wrap(line, width, subsequent_indent=indent, break_on_hyphens=False,
                                      break_long_words=False) or [""]
                assert ser._wrap_line(line, width) == plain, (line, width)
            else:
                wide += 1
                assert ser._wrap_line(line, width) == textwrap_in_columns(line, width, indent), (line, width)
            fast += ser._cols(line) <= width and line.isprintable() and not line.endswith(" ")
    assert fast > 500  # the fast path was taken, not only the plain one
    assert wide > 500  # and lines of wide characters and accents, wrapped by their columns


def textwrap_in_columns(line: str, width: int, indent: str) -> list[str]:
    """The plain path for text whose columns are not its characters: textwrap itself, measuring every
    chunk with the terminal's columns (its module's `len` is the only measure it takes)."""
    textwrap.len = ser._cols  # type: ignore[attr-defined]
    try:
        return textwrap.wrap(line, width, subsequent_indent=indent, break_on_hyphens=False,
                             break_long_words=False) or [""]
    finally:
        del textwrap.len  # type: ignore[attr-defined]


def plain_name_key(name: str) -> str:
    """name_key's plain path, for every name: NFKC, format characters dropped, spaces collapsed, casefolded."""
    shown = "".join(ch for ch in unicodedata.normalize("NFKC", name) if unicodedata.category(ch) != "Cf")
    return " ".join(shown.split()).casefold()


NAME_PIECES = ["a", "JADA", "Portfolio", " ", "  ", "\t", "\n", "\x0b", "\x0c", "\x1c", "\x1f", "\x85", "\x00",
               "\x7f", "~", "-", "'", "ß", "ẞ", "İ", "ﬁ", "Ｊ", "é", "e\u0301", "\u200b", "\u00ad", "\u200e",
               "\ufeff", "\u00a0", "\u3000", "日本", "🙂", "K", "\u212a", "Σ", "ς", "µ"]


@pytest.mark.parametrize("seed", range(3))
def test_a_name_is_compared_as_the_plain_path_compares_it(seed: int) -> None:
    """name_key's ASCII shortcut (7% of a run) against the plain path, on names ASCII and not."""
    rng = random.Random(seed)
    names = [*NAME_PIECES, ""] + ["".join(rng.choice(NAME_PIECES) for _ in range(rng.randint(1, 8)))
                                  for _ in range(3000)]
    names += ["".join(chr(rng.randint(0, 127)) for _ in range(rng.randint(0, 12))) for _ in range(3000)]
    ascii_names = 0
    for name in names:
        assert ser.name_key(name) == plain_name_key(name), repr(name)
        ascii_names += name.isascii()
    assert ascii_names > 3000 and len(names) - ascii_names > 1000  # both paths taken


def plain_cells(row: str) -> list[str]:
    """A table row's cells as the plain path reads them: split on unescaped pipes, unescape every cell."""
    row = row.strip()
    row = row[1:] if row.startswith("|") else row
    row = row[:-1] if row.endswith("|") and not row.endswith("\\|") else row
    return [html.unescape(ser._MD_UNESCAPE_RE.sub(r"\1", c.strip())) for c in ser._CELL_SPLIT_RE.split(row)]


CELL_PIECES = ["a", "Jada", "$1,200", "12%", " ", "  ", "\t", "|", "\\|", "\\", "\\\\", "\\-", "\\*", "\\_",
               "&amp;", "&nbsp;", "&#124;", "&lt;b&gt;", "&", "&bogus;", "日本", "e\u0301", "\u00a0", "\u2003",
               ":--", "---:", "🙂", "*x*", "`c`", "R&D"]


@pytest.mark.parametrize("seed", range(3))
def test_table_cells_are_the_plain_paths(seed: int) -> None:
    rng = random.Random(seed)
    rows = ["", "|", "||", "| |", "|a|", "a|b", "| a \\|", "\\|", "| &nbsp; |", "  | x |  "]
    for _ in range(3000):
        row = "".join(rng.choice(CELL_PIECES) for _ in range(rng.randint(0, 12)))
        rows.append(rng.choice(["| ", "|", "", " |"]) + row + rng.choice([" |", "|", "", "\\|", " "]))
    fast = 0
    for row in rows:
        assert ser._cells(row) == plain_cells(row), row
        fast += "\\" not in row
    assert fast > 300  # the fast path was taken, not only the plain one
