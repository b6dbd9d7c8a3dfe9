"""Control sequences never reach a terminal or a file; CSV cells cannot become formulas."""

from __future__ import annotations

import pytest

from grader.sanitize import clean_text, csv_cell


@pytest.mark.parametrize(
    "raw, clean",
    [
        ("red \x1b[31mtext\x1b[0m", "red text"),
        ("clip\x1b]52;c;ZXZpbA==\x07board", "clipboard"),  # OSC 52, BEL-terminated
        ("clip\x1b]52;c;ZXZpbA==\x1b\\board", "clipboard"),  # OSC 52, ST-terminated
        ("\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\", "link"),  # OSC 8 hyperlink
        ("8-bit \x9b2Jcsi and \x9d0;title\x9c osc", "8-bit csi and  osc"),
        ("title\x1bPq#0;2;0;0;0\x1b\\ dcs", "title dcs"),
        ("nul\x00 bell\x07 bs\x08 del\x7f", "nul bell bs del"),
        ("abc\u202edcba\u2066x\u2069", "abcdcbax"),  # bidi overrides ("Trojan Source")
        ("cursor\x1b[2;5Hmove\x1b7\x1b8", "cursormove"),
        ("lone escape at the end\x1b", "lone escape at the end"),
        ("tab\tand\nnewline kept", "tab\tand\nnewline kept"),
        ("Zoë Ñandú 中文 ✓", "Zoë Ñandú 中文 ✓"),
    ],
)
def test_clean_text_removes_every_control_sequence(raw, clean):
    out = clean_text(raw)
    assert out == clean, repr(out)
    assert not any(ord(c) < 32 and c not in "\t\n" or 0x7F <= ord(c) <= 0x9F for c in out)


def test_one_line_and_limit():
    assert clean_text("a\nb\tc", newlines=False) == "a b c"
    assert clean_text("x" * 50, 10) == "x" * 9 + "…" and len(clean_text("x" * 50, 10)) == 10
    assert clean_text("short", 10) == "short" and clean_text("abc", 0) == ""
    assert clean_text(ValueError("boom\x1b[2J")) == "boom"


@pytest.mark.parametrize(
    "value, cell",
    [
        ("=1+1", "'=1+1"),
        ("+SUM(A1)", "'+SUM(A1)"),
        ("-2+3", "'-2+3"),
        ("@cmd", "'@cmd"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'=1"),
        ("\x1b[31m=1", "'=1"),  # a formula hidden behind an escape is still caught
        ("-1.5", "-1.5"),
        ("+3", "+3"),
        ("2e-3", "2e-3"),
        ("-", "-"),
        (-1.5, "-1.5"),
        (27.0, "27"),
        (None, ""),
        ("Lovelace, Ada", "Lovelace, Ada"),
    ],
)
def test_csv_cells(value, cell):
    assert csv_cell(value) == cell
