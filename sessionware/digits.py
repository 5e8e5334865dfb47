"""Whole numbers written as text by someone else: a URL, a form, the environment.

``str.isdigit()`` is True for "²" (which ``int()`` refuses) and for other
scripts' digits such as "١٢٣" (which it reads as 123), and ``int()`` also takes
signs, spaces and underscores; only the ASCII digits 0-9 count here.
"""

from __future__ import annotations


def whole_number(text: str, max_digits: int = 18) -> int | None:
    """``text`` as a whole number if it is 1 to ``max_digits`` ASCII digits, else None
    (the default bound is far above any limit and far below ``int()``'s)."""
    if len(text) > max_digits or not (text.isascii() and text.isdigit()):
        return None
    return int(text)
