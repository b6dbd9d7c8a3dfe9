"""Clean text before it reaches a terminal, a CSV file or an HTML page.

Student-controlled text (file names, display names from an LMS, crash messages) can carry
terminal control sequences: ANSI colour and cursor codes, OSC 52 (which writes the reader's
clipboard), OSC 8 hyperlinks, or bare C0/C1 control characters that rewrite what an
instructor sees. :func:`clean_text` removes all of them; every line the grader prints or
exports goes through it.

A spreadsheet opening a CSV file runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` as
a formula (OWASP, "CSV Injection"). :func:`csv_cell` neutralises such a cell with a leading
``'``, as OWASP advises, with two decided exceptions: a cell that *is* a plain decimal number
(``-1.5``, ``+3``, ``42``) stays as it is, because scores are numbers and an LMS must read
them as numbers, and a lone ``-`` (Moodle's worksheet writes it for "never") stays too; neither
can hold a formula.
"""

from __future__ import annotations

import re

#: Escape sequences: CSI (``ESC [`` ... final byte), OSC (``ESC ]`` ... BEL or ST), the other
#: string commands (DCS, SOS, PM, APC: ``ESC P``, ``ESC X``, ``ESC ^``, ``ESC _`` ... ST), and
#: two-byte escapes. Their 8-bit C1 forms (U+009B CSI, U+009D OSC, ...) are matched too.
_ESCAPES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"  # CSI ... final byte
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # strings
    r"|\x1b[ -/]*[0-~]?"  # two-byte (and lone) escapes
)
#: C0 controls except tab and newline, DEL, C1 controls, and the Unicode bidirectional
#: overrides and isolates that reorder what a reader sees ("Trojan Source").
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_LINE_BREAKS = re.compile(r"[\t\n]")
#: Cells a spreadsheet would treat as a formula (OWASP's list: = + - @ tab CR).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def clean_text(text: object, limit: int | None = None, *, newlines: bool = True) -> str:
    """``text`` without terminal control sequences or control characters, at most ``limit`` long.

    Tabs and newlines are kept when ``newlines`` is true, else each becomes a space (for one-line
    output). A text cut at ``limit`` characters ends with "…" (the result is never longer than
    ``limit``).

    >>> clean_text("ok\\x1b[31m red\\x1b]52;c;ZXZpbA==\\x07!")
    'ok red!'
    >>> clean_text("a\\nb", newlines=False)
    'a b'
    >>> clean_text("abcdef", 4)
    'abc…'
    """
    s = text if isinstance(text, str) else str(text)
    s = _CONTROLS.sub("", _ESCAPES.sub("", s))
    if not newlines:
        s = _LINE_BREAKS.sub(" ", s)
    if limit is not None and len(s) > limit:
        s = s[: max(limit - 1, 0)] + "…" if limit > 0 else ""
    return s


def is_plain_number(text: str) -> bool:
    """Whether ``text`` is a plain decimal number such as ``-1.5``, ``3`` or ``2e-3``."""
    return bool(_PLAIN_NUMBER.fullmatch(text))


def _inert(cell: str) -> bool:
    """A plain number, or a lone ``-`` (Moodle's "never"): neither can be a formula."""
    return cell == "-" or is_plain_number(cell)


def csv_cell(value: object, limit: int | None = None) -> str:
    """One CSV cell: cleaned of control characters and safe to open in a spreadsheet.

    Numbers (``int``/``float``) are written with ``:g``; a string that is a plain decimal
    number stays a number; any other string starting with ``=``, ``+``, ``-``, ``@``, a tab or a
    carriage return gets a leading ``'`` (OWASP's advice), so it is shown as text.

    >>> csv_cell(-1.5), csv_cell("-1.5"), csv_cell("=HYPERLINK(1)"), csv_cell("-2+3")
    ('-1.5', '-1.5', "'=HYPERLINK(1)", "'-2+3")
    """
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return f"{value:g}"
    if value is None:
        return ""
    raw = value if isinstance(value, str) else str(value)
    if raw.startswith(_FORMULA_START) and not _inert(raw):
        # The check runs on the raw text: a leading tab or CR counts before it is cleaned away.
        return "'" + clean_text(raw, limit)
    s = clean_text(raw, limit)
    if s.startswith(_FORMULA_START) and not _inert(s):
        return "'" + s
    return s
