"""The admin docs cover what the code has, and nothing it does not have.

Read from the sources, not from a list kept by hand:
- every setting of the coi_* settings table (src/lib-coi/coi-settings.c),
  with its default;
- every named event (set_name("coi_...")) and the fields it is sent with;
- every log line format (e_error(), i_warning(), e_debug(), ...), every
  storage error a client gets (mail_storage_set_error()), every LMTP reply,
  and the reasons the settings, block entry and policy validators give.

The docs must mention each of them, and every coi_* name the docs mention
must exist in the code. No Dovecot is started here.
"""
import glob
import os
import re

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
DOCS = os.path.join(REPO, "docs")
GUIDE = os.path.join(DOCS, "admin-guide.md")
EVENTS = os.path.join(DOCS, "events.md")
CONF = os.path.join(REPO, "conf.d", "90-coi.conf")


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


# Libraries no plugin links yet: their messages reach no admin until one
# does (src/webpush: the webpush plugin of issue 12).
UNLINKED = ("webpush",)


def sources():
    """The plugins' C sources, without the unit tests."""
    return sorted(p for p in glob.glob(os.path.join(REPO, "src", "*", "*.c"))
                  if not os.path.basename(p).startswith("test-") and
                  os.path.basename(os.path.dirname(p)) not in UNLINKED)


# -- a small C reader: comments out, string literals and calls in ---------

def strip_comments(code):
    out, i, n = [], 0, len(code)
    while i < n:
        if code.startswith("/*", i):
            j = code.index("*/", i + 2)
            out.append(" " * (j + 2 - i))
            i = j + 2
        elif code[i] in "\"'":
            j = i + 1
            while code[j] != code[i]:
                j += 2 if code[j] == "\\" else 1
            out.append(code[i:j + 1])
            i = j + 1
        else:
            out.append(code[i])
            i += 1
    return "".join(out)


def defines():
    """#define NAME <string literals and macro names> from our headers."""
    out = {}
    for path in glob.glob(os.path.join(REPO, "src", "*", "*.h")):
        code = strip_comments(read(path)).replace("\\\n", " ")
        for m in re.finditer(r"^#define\s+(\w+)\s+(.+)$", code, re.M):
            out[m.group(1)] = m.group(2).strip()
    return out


DEFINES = defines()
_TOKEN = re.compile(r'\s*(?:"((?:[^"\\]|\\.)*)"|([A-Za-z_]\w*))')
UNKNOWN = "\0"


def string_value(expr):
    """The value of a C expression made of adjacent string literals and
    macros, with macros we cannot resolve as UNKNOWN; None if expr is
    anything else."""
    parts, pos, expr = [], 0, expr.strip()
    literal = False
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m or m.end() == pos:
            return None
        if m.group(1) is not None:
            literal = True
            parts.append(m.group(1).encode().decode("unicode_escape")
                         .encode("latin-1").decode())
        elif m.group(2) in DEFINES:
            value = string_value(DEFINES[m.group(2)])
            literal = literal or value is not None
            parts.append(UNKNOWN if value is None else value)
        else:
            parts.append(UNKNOWN)
        pos = m.end()
        while pos < len(expr) and expr[pos].isspace():
            pos += 1
    return "".join(parts) if literal else None


def split_top(code, i, seps, ends):
    """code from i up to the first of ends outside strings and brackets,
    split at the seps there."""
    parts, depth, cur = [], 0, []
    while True:
        c = code[i]
        if c == '"':
            j = i + 1
            while code[j] != '"':
                j += 2 if code[j] == "\\" else 1
            cur.append(code[i:j + 1])
            i = j + 1
            continue
        if depth == 0 and c in ends:
            parts.append("".join(cur).strip())
            return parts
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0 and c in seps:
            parts.append("".join(cur).strip())
            cur = []
            i += 1
            continue
        cur.append(c)
        i += 1


def split_args(code, start):
    """The arguments of the call whose '(' is at code[start]."""
    return split_top(code, start + 1, ",", ")")


def assignment_values(code, start):
    """The right-hand side starting at code[start], up to its ';', split
    at the '?' and ':' of a conditional."""
    return split_top(code, start, "?:", ";")


def format_of(arg):
    """The format string an argument carries: a literal, or the first
    argument of t_strdup_printf() / p_strdup_printf() and friends."""
    value = string_value(arg)
    if value is not None:
        return value
    m = re.match(r"(t_strdup_printf|p_strdup_printf|t_strconcat)\s*\(", arg)
    if m:
        inner = split_args(arg, m.end() - 1)
        if m.group(1) == "p_strdup_printf":
            inner = inner[1:]
        return format_of(inner[0]) if inner else None
    return None


def calls(names):
    """(file, line, function, [args]) for every call of the functions."""
    pattern = re.compile(r"\b(" + "|".join(names) + r")\s*\(")
    for path in sources():
        code = strip_comments(read(path))
        for m in pattern.finditer(code):
            line = code.count("\n", 0, m.start()) + 1
            yield (os.path.relpath(path, REPO), line, m.group(1),
                   split_args(code, m.end() - 1))


# -- what the code has ----------------------------------------------------

def code_settings():
    """{name: default} from the coi_*setting_defs[] tables in
    coi-settings.c (the user's, and the policy's that lmtp's RCPT stage
    shares)."""
    code = strip_comments(read(os.path.join(REPO, "src/lib-coi/"
                                                  "coi-settings.c")))
    tables = [code[m.end():code.index("};", m.end())] for m in
              re.finditer(r"coi_\w*setting_defs\[\] = \{", code)]
    out = {}
    for row in re.finditer(r"\{\s*([^,{}]+),\s*([^,{}]+),",
                           "\n".join(tables)):
        name, default = (string_value(row.group(1)),
                         string_value(row.group(2)))
        assert name and UNKNOWN not in name, row.group(0)
        assert default is not None and UNKNOWN not in default, row.group(0)
        out[name] = default
    assert out, "no settings found in coi-settings.c"
    return out


def code_events():
    """{event: {fields}} from every set_name("coi_...") chain."""
    out = {}
    for path in sources():
        code = strip_comments(read(path))
        for m in re.finditer(r'set_name\("(coi_\w+)"\)', code):
            end = re.compile(r"->\s*event\(\)").search(code, m.end())
            chain = code[m.end():end.start()]
            fields = set(re.findall(r'add_(?:str|int)\("(\w+)"', chain))
            out.setdefault(m.group(1), set()).update(fields)
    assert out, "no events found in src/"
    return out


LOG_FUNCS = ["e_error", "e_warning", "e_info", "e_debug", "i_error",
             "i_warning", "i_info", "i_fatal", "i_fatal_status",
             "mailbox_set_critical", "mail_set_critical",
             "mail_storage_set_error", "smtp_server_recipient_reply"]


def code_messages():
    """[(where, text)]: every log line, client error and LMTP reply text the
    code can produce, as a format string."""
    out = []
    for path, line, func, args in calls(LOG_FUNCS):
        where = f"{path}:{line} {func}"
        if func == "smtp_server_recipient_reply":
            # (rcpt, code, "x.y.z", "text", ...)
            out.append((where, f"{args[1]} {string_value(args[2])} "
                               f"{string_value(args[3])}"))
            continue
        for arg in args:
            fmt = format_of(arg)
            if fmt is not None:
                out.append((where, fmt))
                break
    # what ends up in a log line or reply through a variable
    for path in sources():
        code = strip_comments(read(path))
        rel = os.path.relpath(path, REPO)
        for m in re.finditer(r"(?:\*error_r|\btempfail_error|\b"
                             r"blocked_error)\s*=\s*", code):
            line = code.count("\n", 0, m.start()) + 1
            # a conditional picks one of two values
            for alt in assignment_values(code, m.end()):
                fmt = format_of(alt)
                if fmt is not None:
                    out.append((f"{rel}:{line} {m.group(0).strip()}", fmt))
    return out


def format_regex(fmt):
    """A format string as a regex over the docs: conversions and unknown
    macros match any text within one code span."""
    any_text = r"[^`\n]+?"
    out, i = [], 0
    for m in re.finditer(r"%(?:%|[-0-9.]*(?:ll|l|z)?[sdumc])|" + UNKNOWN,
                         fmt):
        out.append(re.escape(fmt[i:m.start()]))
        tok = m.group(0)
        out.append("%" if tok == "%%" else any_text)
        i = m.end()
    out.append(re.escape(fmt[i:]))
    return "".join(out)


def worth_checking(fmt):
    """Formats with some fixed text: a bare "%s" says nothing."""
    return len(re.sub(r"%[-0-9.]*(?:ll|l|z)?[sdumc%]|" + UNKNOWN, "",
                      fmt).strip(" :.-()'\"<>")) >= 3


# -- what the docs say ----------------------------------------------------

def doc_files():
    return sorted(glob.glob(os.path.join(DOCS, "*.md")))


def all_docs_text():
    return "\n".join(read(p) for p in doc_files())


def fenced_block_after(text, marker):
    """The fenced code block that follows the HTML comment marker."""
    i = text.index(f"<!-- {marker}")
    m = re.compile(r"^```[^\n]*\n(.*?)^```", re.M | re.S).search(text, i)
    return m.group(1)


def metric_blocks(text):
    """{metric name: block body} of the metrics example."""
    block = fenced_block_after(text, "metrics-example")
    return dict(re.findall(r"^metric (\S+) \{\n(.*?)^\}", block,
                           re.M | re.S))


def table_rows(text):
    """{first cell without backticks: the whole row} of Markdown tables."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"\|\s*`([^`]+)`[^|]*\|", line)
        if m:
            out.setdefault(m.group(1), line)
    return out


SETTINGS = code_settings()
EVENTS_FIELDS = code_events()
MESSAGES = code_messages()


def test_the_code_has_what_the_docs_are_checked_for():
    """The extraction itself works: a broken reader would pass vacuously."""
    assert {"coi_mailbox_root", "coi_block_policy_action"} <= set(SETTINGS)
    assert SETTINGS["coi_thread_index_max_age"] == "90d"
    assert EVENTS_FIELDS["coi_chat_detected"] == {"reason", "filter",
                                                  "mailbox"}
    texts = [fmt for _, fmt in MESSAGES]
    assert "Failed to read the COI configuration: %s" in texts
    assert "550 5.7.1 Delivery not authorized, sender blocked" in texts
    assert "Not one of reject, discard, folder" in texts
    assert len(MESSAGES) > 60


# -- settings -------------------------------------------------------------

def doc_default(cell):
    """`value` -> value; "empty ..." -> ""."""
    cell = cell.strip()
    m = re.fullmatch(r"`([^`]*)`", cell)
    if m:
        return m.group(1)
    if cell.startswith("empty"):
        return ""
    return None


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_setting_documented_with_its_default(name):
    guide = read(GUIDE)
    row = table_rows(guide).get(name)
    assert row is not None, f"{name} is missing from the settings table"
    cells = [c.strip() for c in row.strip().strip("|").split("|")]
    assert doc_default(cells[1]) == SETTINGS[name], (
        f"{name}: the guide says default {cells[1]!r}, the code "
        f"{SETTINGS[name]!r}")
    assert re.search(rf"^### `{name}`$", guide, re.M), \
        f"{name} has no section of its own in {GUIDE}"
    assert re.search(rf"Default(?::)? (?:`{re.escape(SETTINGS[name])}`|"
                     rf"empty)", guide[guide.index(f"### `{name}`"):]
                     .split("\n### ")[0]), \
        f"the section of {name} does not state its default"


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_setting_in_sample_config_with_its_default(name):
    conf = read(CONF)
    m = re.search(rf"^\s*#?\s*{name} = (.*)$", conf, re.M)
    assert m, f"{name} is not in {CONF}"
    if SETTINGS[name] != "":
        assert m.group(1).split("#")[0].strip() == SETTINGS[name]


def test_settings_read_outside_the_table_are_in_it():
    """lmtp reads some settings itself (RCPT stage): same names."""
    for path in sources():
        for name in re.findall(r'"(coi_[a-z_]+)"', read(path)):
            if name in EVENTS_FIELDS:
                continue
            assert name in SETTINGS, f"{path}: {name} is not a setting"


# -- events ---------------------------------------------------------------

@pytest.mark.parametrize("event", sorted(EVENTS_FIELDS))
def test_event_documented_with_its_fields(event):
    row = table_rows(read(EVENTS)).get(event)
    assert row is not None, f"{event} is missing from the events table"
    for field in sorted(EVENTS_FIELDS[event]):
        assert f"`{field}`" in row, f"{event}: field {field} undocumented"


@pytest.mark.parametrize("event", sorted(EVENTS_FIELDS))
def test_event_has_an_example_metric(event):
    metrics = metric_blocks(read(EVENTS))
    assert any(re.search(rf"filter = event={event}\b", body)
               for body in metrics.values()), \
        f"no example metric counts {event}"


def test_metric_examples_group_by_fields_events_have():
    """A group_by on a field the event does not have counts nothing."""
    for name, body in metric_blocks(read(EVENTS)).items():
        m = re.search(r"filter = event=(\w+)", body)
        if m is None or m.group(1) not in EVENTS_FIELDS:
            continue
        fields = EVENTS_FIELDS[m.group(1)]
        for key in ("group_by", "fields"):
            g = re.search(rf"^\s*{key} = (.*)$", body, re.M)
            for field in (g.group(1).split() if g else []):
                assert field in fields, f"metric {name}: {key} {field}"


# -- no names the code does not have --------------------------------------

def test_docs_name_no_settings_or_events_the_code_lacks():
    known = set(SETTINGS) | set(EVENTS_FIELDS)
    events_text = read(EVENTS)
    grouped = {name for name, body in metric_blocks(events_text).items()
               if "group_by" in body}
    dump = fenced_block_after(events_text, "stats-dump-example")
    for line in dump.splitlines()[1:]:
        name = line.split()[0]
        assert name in metric_blocks(events_text) or any(
            name.startswith(g + "_") for g in grouped), \
            f"stats dump example: {name} is no metric of the example"
    problems = []
    for path in doc_files() + [os.path.join(REPO, "README.md"), CONF]:
        text = read(path)
        if path == EVENTS:
            text = text.replace(dump, "")
        tables = set(re.findall(r"CREATE TABLE (coi_\w+)", text))
        for name in re.findall(r"(?<![\w-])coi_[a-z0-9_]+", text):
            if name not in known and name not in tables:
                problems.append(f"{os.path.relpath(path, REPO)}: {name}")
    assert not problems, ("names in the docs that the code does not "
                          f"have: {sorted(set(problems))}")


# -- log lines, client errors, replies -----------------------------------

# Messages that cannot reach an admin, and why.
UNREACHABLE = {
    # coi_user_attach() is for doveadm, which cannot load the COI mail
    # plugins (they refuse to load outside imap, lmtp and lda)
    "COI context already attached",
}
CHECKED = [(w, f) for w, f in MESSAGES
           if worth_checking(f) and f not in UNREACHABLE]


@pytest.mark.parametrize("where,fmt", CHECKED,
                         ids=[w for w, _ in CHECKED])
def test_message_documented(where, fmt):
    """Each log line (and client error) is quoted in the docs, with the
    variable parts written out or as '...'."""
    assert re.search(format_regex(fmt), all_docs_text()), (
        f"{where}: the docs do not show {fmt!r}")


# -- docs/sql-dict.md: the blocks the harness configures its SQL dicts from ---

def test_sql_doc_blocks_are_the_harness_config(tmp_path):
    """Every backend section of docs/sql-dict.md has its marked blocks
    (harness.doc_blocks(), which DovecotServer(backend="sqlite",
    "postgresql" or "postgresql-attributes") pastes), with the design's
    maps and tables: COI's dict on SQL with the attributes on file, and
    the optional attribute dict on SQL; a missing marker fails loudly."""
    import harness
    blocks = harness.doc_blocks()
    coi_parts = ("dovecot.conf", "dovecot-dict-coi.conf.ext", "schema.sql")
    attr_parts = ("dovecot.conf", "dovecot-dict-attr.conf.ext", "schema.sql")
    assert set(blocks) == (
        {f"{b}/{p}" for b in ("sqlite", "postgresql", "mysql")
         for p in coi_parts} |
        {f"{b}-attributes/{p}" for b in ("postgresql", "mysql")
         for p in attr_parts})
    coi_maps = {f"priv/coi/{kind}/${var}": f"coi_{kind}"
                for kind, var in (("config", "name"), ("blocked", "entry"),
                                  ("contact", "hash"), ("thread", "slot"),
                                  ("peer", "hash"))}
    attr_maps = {"priv/$guid/$key": "mail_attribute_priv",
                 "shared/$guid/$key": "mail_attribute_shared"}
    sections = [("sqlite", "coi", coi_maps), ("postgresql", "coi", coi_maps),
                ("mysql", "coi", coi_maps),
                ("postgresql-attributes", "attr", attr_maps),
                ("mysql-attributes", "attr", attr_maps)]
    for section, ext, maps in sections:
        conf = blocks[f"{section}/dovecot.conf"]
        if ext == "coi":
            assert "mail_attribute_dict = file:%h/dovecot-attributes" in conf
            assert "coi_state_dict = proxy::coi" in conf
        else:
            assert "mail_attribute_dict = proxy::attr" in conf
            assert "coi_state_dict" not in conf
        text = blocks[f"{section}/dovecot-dict-{ext}.conf.ext"]
        assert dict(re.findall(r"pattern = (\S+)\n  table = (\w+)",
                               text)) == maps
        tables = re.findall(r"CREATE TABLE (\w+)",
                            blocks[f"{section}/schema.sql"])
        assert sorted(tables) == sorted(maps.values())
        # what the harness makes of it: the placeholders replaced
        d = tmp_path / section
        d.mkdir()
        out = harness.doc_config(section, str(d), "CONNECT")
        assert "/etc/dovecot" not in out and str(d) in out
        written = (d / f"dovecot-dict-{ext}.conf.ext").read_text()
        assert written.startswith("connect = CONNECT\n")
    with pytest.raises(RuntimeError, match="no block 'sqlite/missing'"):
        harness.doc_block("sqlite/missing")
