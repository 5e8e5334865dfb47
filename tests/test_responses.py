"""The header rules every shell shares (sessionware.responses), as pure functions."""

from __future__ import annotations

import pytest

from sessionware import ConfigurationError
from sessionware.cookies import CookieSettings
from sessionware.responses import merge_headers, no_store


@pytest.mark.parametrize(
    ("app", "sent"),
    [
        ("", "no-store"),
        ("public, max-age=600", "max-age=600, no-store"),
        ("Public", "no-store"),
        ("private, no-store", "private, no-store"),
        ("no-cache", "no-cache, no-store"),
    ],
)
def test_no_store_never_weakens_what_the_app_set(app: str, sent: str) -> None:
    assert no_store(app) == sent


def test_merge_folds_vary_and_cache_control_and_appends_the_rest() -> None:
    headers = [("Content-Type", "text/html"), ("Vary", "Accept"), ("Cache-Control", "public")]
    extra = [("vary", "Cookie"), ("set-cookie", "s=1"), ("cache-control", "no-store")]
    assert merge_headers(headers, extra) == [
        ("Content-Type", "text/html"),
        ("Vary", "Accept, Cookie"),
        ("Cache-Control", "no-store"),
        ("set-cookie", "s=1"),
    ]
    assert merge_headers([], extra) == extra
    # the name folded in is the one merged (a bearer session's Authorization), once
    vary = [("Vary", "Accept-Encoding")]
    assert merge_headers(vary, [("vary", "Authorization")]) == [
        ("Vary", "Accept-Encoding, Authorization")
    ]
    assert merge_headers([("Vary", "cookie")], [("vary", "Cookie")]) == [("Vary", "cookie")]
    assert merge_headers([("Vary", "*")], [("vary", "Origin")]) == [("Vary", "*")]


def test_max_age_is_capped_by_what_remains_and_partitioned_needs_secure() -> None:
    settings = CookieSettings(name="s", max_age=3600, partitioned=True)
    assert "Max-Age=60;" in settings.set_cookie("v", 60)
    assert "Max-Age=3600;" in settings.set_cookie("v", 7200)
    assert settings.set_cookie("v").endswith("; Partitioned")
    assert "Max-Age" not in CookieSettings(name="s").set_cookie("v", 60)  # stays a session one
    with pytest.raises(ConfigurationError, match="Partitioned"):
        CookieSettings(name="s", secure=False, partitioned=True)
