"""Text as a person should read it: what reorders or hides it written out.

One rule for every place that shows stored text to an operator (the command's
tables and JSON, the console's pages): C0, DEL and C1 controls, and past ASCII
the characters of the categories that hide or reorder text: format characters
(the bidi overrides: U+202E turns what follows around; zero-width and tag
characters), line and paragraph separators, and lone surrogates (an argument's
bytes that were not UTF-8). What a person reads is then what is stored, and a
terminal receives no escape sequence nor reordering.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection

# C0, DEL and C1 (ESC, CSI, BEL, CR...); past ASCII, a character is checked by category
_CANDIDATES = re.compile(r"[\x00-\x1f\x7f-\x9f]|[^\x00-\x7f]")
HIDDEN_CATEGORIES = frozenset({"Cs", "Cf", "Zl", "Zp"})


def hides(char: str) -> bool:
    """Whether ``char`` (past ASCII) is one the rule writes out, by its category."""
    return unicodedata.category(char) in HIDDEN_CATEGORIES


def visible(text: str, keep: Collection[str] = ()) -> str:
    """``text`` with each such character written out: ``\\xNN`` up to U+00FF (and for
    the byte an undecodable argument held), ``\\uNNNN``, then ``\\UNNNNNNNN``; the
    characters in ``keep`` (a page's newlines, say) stay as they are."""
    return _CANDIDATES.sub(lambda match: _written_out(match[0], keep), text)


def _written_out(char: str, keep: Collection[str]) -> str:
    code = ord(char)
    if char in keep or (code > 0x9F and not hides(char)):
        return char
    if 0xDC80 <= code <= 0xDCFF:  # the byte an argument held that was not UTF-8
        code -= 0xDC00
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
