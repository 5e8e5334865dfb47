"""The README's store signatures name every keyword the code takes, and no other."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import pytest

from sessionware import PostgresStore, RedisStore, SQLiteStore

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()

# (how the README's signature starts, the callable whose keywords it lists)
SIGNATURES: list[tuple[str, Any]] = [
    ("`SQLiteStore(path,", SQLiteStore.__init__),
    ('`PostgresStore.from_url("postgresql://user@', PostgresStore.__init__),  # its **options
    ("`RedisStore.from_url(url,", RedisStore.from_url),
]


def documented(start: str) -> set[str]:
    """The keyword names in the README's signature that begins with ``start``."""
    at = README.index(start)
    text = README[at : README.index(")`", at)].replace("\n", " ")
    return set(re.findall(r"[(,]\s*(\w+)=", text))


@pytest.mark.parametrize(("start", "function"), SIGNATURES, ids=["sqlite", "postgres", "redis"])
def test_each_store_signature_in_the_readme_matches_the_code(start: str, function: Any) -> None:
    parameters = inspect.signature(function).parameters.values()
    keywords = {p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert documented(start) == keywords
