"""A "remember me" duration stays within 100 years: refused at remember(), capped if stored.

Past that, a cookie's date, a SQL expiry or Redis's PEXPIRE overflowed: the session
answered 200 and was gone at the next request, or (2**62 seconds and more) Redis
answered 503 after writing a record with no expiry at all.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest

from sessionware import ConfigurationError, Session, SessionManager, SessionwareError
from sessionware.cookies import MAX_COOKIE_SECONDS
from sessionware.stores.base import MAX_DURATION_SECONDS

from .helpers import set_cookies
from .shells import SHELLS, shell_client, store

__all__ = ["store"]  # (the fixture, imported for pytest: memory, Redis, SQLite)

HUNDRED_YEARS = dt.timedelta(days=36_525)


@pytest.mark.parametrize(
    "duration",
    [
        dt.timedelta(days=8000 * 365),
        dt.timedelta.max,
        2**62,
        10**30,
        float("inf"),
        float("nan"),
        0.5,
        -1,
        "30",
        True,
    ],
    ids=repr,
)
def test_a_duration_past_100_years_or_not_a_duration_is_refused(duration: Any) -> None:
    session = Session()
    session["user"] = "ada"
    with pytest.raises(ConfigurationError, match="from 1 second to 100 years") as caught:
        session.remember(duration)
    assert isinstance(caught.value, SessionwareError) and isinstance(caught.value, ValueError)
    assert dict(session) == {"user": "ada"}  # nothing changed
    session.remember(HUNDRED_YEARS)  # the longest allowed
    assert session["_permanent"] == int(HUNDRED_YEARS.total_seconds())


def _login(permanent: Any) -> Any:
    def handler(session: Any, path: str, params: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        if path == "/login":
            session["user"] = "ada"
            session["_permanent"] = permanent  # set as is: an old record, or by hand
            return 200, "ok", {}
        return 200, session.get("user"), {}

    return handler


@pytest.mark.parametrize("kind", SHELLS)
@pytest.mark.parametrize("permanent", [10**30, 2**62, 8000 * 365 * 86400])
def test_a_stored_duration_past_100_years_is_kept_as_100_years(
    kind: str, store: Any, permanent: int
) -> None:
    with shell_client(kind, _login(permanent), store) as client:
        login = client.post("/login")
        assert login.status_code == 200
        (cookie,) = set_cookies(login)
        assert 0 < int(cookie["max-age"]) <= MAX_DURATION_SECONDS
        assert client.get("/me").json() == "ada"  # the session is there
    (listed,) = SessionManager(store).list().items
    assert listed.expires_at is not None
    assert listed.expires_at.timestamp() <= time.time() + MAX_DURATION_SECONDS


def test_a_cookie_never_claims_more_than_the_400_days_browsers_keep_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Browsers cap a cookie at 400 days (RFC 6265bis): a "remember me" of two years
    sent Max-Age=63072000 and was re-sent after 1% of it (7.3 days); a user back after
    400 days had lost the cookie of a session the server still kept. The Max-Age is
    capped, and the re-send counts in the capped span (every 4 days)."""
    import types

    from sessionware import MemoryStore

    two_years = dt.timedelta(days=730)

    def handler(session: Any, path: str, params: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        if path == "/login":
            session["user"] = "ada"
            session.remember(two_years)
        return 200, session.get("user"), {}

    with shell_client("starlette", handler, MemoryStore()) as client:
        (login,) = set_cookies(client.get("/login"))
        assert login["max-age"] == str(MAX_COOKIE_SECONDS) == "34560000"
        assert set_cookies(client.get("/me")) == []  # fresh: not re-sent
        real = time.time
        later = types.SimpleNamespace(time=lambda: real() + 5 * 86400)  # 5 days on
        monkeypatch.setattr("sessionware.core.time", later)
        (again,) = set_cookies(client.get("/me"))
        assert again["max-age"] == str(MAX_COOKIE_SECONDS)


def test_a_blind_write_re_sends_a_long_cookie_by_the_same_rule() -> None:
    """The blind-write path decides alone whether the cookie is due (then it loads
    instead): it counts in the same capped span as a loaded session's save."""
    from sessionware.core import SessionConfig

    config = SessionConfig.build(secret_key="k" * 40, max_age=2 * 365 * 86400)
    assert config._cookie_due(time.time() - 5 * 86400)  # 1% of 400 days: 4 days
    assert not config._cookie_due(time.time() - 3 * 86400)
