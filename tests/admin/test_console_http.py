"""The console without a browser: Flask/WSGI, the Redis store, and hostile input."""

from __future__ import annotations

import asyncio
import contextlib
import html
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, session
from starlette.testclient import TestClient
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from sessionware import ConfigurationError, MemoryStore, SessionManager
from sessionware.admin import AdminConsole, MySessions, Operator
from sessionware.admin.listing import FILTER_CHARS
from sessionware.flask import Sessionware

from ..conftest import REDIS_URL
from .site import CONSOLE, MINE, SECRET, build


def token_of(html: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert match, "the page carries no CSRF token"
    return match.group(1)


def test_the_wsgi_console_serves_flask_apps_over_the_sync_manager() -> None:
    store = MemoryStore()
    app = Flask(__name__)
    Sessionware(app, secret_key="flask-console-secret", store=store, user_key="user", secure=False)

    @app.post("/login/<name>")
    def login(name: str) -> str:
        session["user"] = name
        session["secret_note"] = "only-after-reveal"
        return "ok"

    def authorize(request: Any) -> Operator | None:
        return Operator("flo", "admin") if request.headers.get("x-operator") == "flo" else None

    console = AdminConsole(store, authorize=authorize)
    app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {"/admin": console.wsgi()})  # type: ignore[method-assign]
    client = app.test_client()
    client.post("/login/wendy")
    refused = client.get("/admin/")
    assert refused.status_code == 403
    refused_html = refused.get_data(as_text=True)  # styled: its links are under the mount
    assert 'href="/admin/static/' in refused_html and '"/static/' not in refused_html
    page = client.get("/admin/", headers={"x-operator": "flo"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "wendy" not in html  # no email key: user not shown
    (session_id,) = [i.id for i in SessionManager(store).list().items]
    assert session_id[:12] in html and 'href="/admin/session?id=' in html
    detail = client.get(f"/admin/session?id={session_id}", headers={"x-operator": "flo"})
    assert "only-after-reveal" not in detail.get_data(as_text=True)
    revealed = client.post(
        "/admin/reveal",
        data={"id": session_id, "csrf_token": token_of(html)},
        headers={"x-operator": "flo", "Origin": "http://localhost"},
    )
    assert revealed.status_code == 200
    assert "only-after-reveal" in revealed.get_data(as_text=True)
    assert revealed.headers["Cache-Control"] == "no-store"
    forged = client.post(
        "/admin/revoke",
        data={"id": session_id, "confirm": "yes"},
        headers={"x-operator": "flo"},
    )
    assert forged.status_code == 403
    css = client.get("/admin/static/console.css", headers={"x-operator": "flo"})
    assert css.status_code == 200 and css.content_type.startswith("text/css")


def test_an_async_authorize_that_suspends_is_a_clear_error_under_wsgi() -> None:
    import asyncio

    async def authorize(request: Any) -> Operator:
        await asyncio.sleep(0)
        return Operator("x", "admin")

    app = AdminConsole(MemoryStore(), authorize=authorize).wsgi()
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "wsgi.input": None}
    with pytest.raises(ConfigurationError, match="sync"):
        app(environ, lambda *args: None)


@pytest.mark.redis
def test_the_console_lists_reveals_and_revokes_on_redis(redis_prefix: str) -> None:
    from sessionware.stores.redis import RedisStore

    store = RedisStore.from_url(REDIS_URL, prefix=redis_prefix)
    app, _ = build(store)
    with TestClient(app, base_url="http://testserver") as client:
        shopper = client.post("/login", data={"user": "rita"})
        assert shopper.status_code == 200
        session_id = client.get("/whoami").json()["id"]
        client.cookies.set("operator", "admin:ada")
        page = client.get(f"{CONSOLE}/?q=rita")
        assert "rita@example.com" in page.text and "View (6)" in page.text
        form = {"id": session_id, "csrf_token": token_of(page.text), "confirm": "yes"}
        assert "4.50" in client.post(f"{CONSOLE}/reveal", data=form).text
        assert "Session revoked." in client.post(f"{CONSOLE}/revoke", data=form).text
        assert client.get("/whoami").json() == {"id": None, "keys": []}
        audit = client.get(f"{CONSOLE}/audit").text
        assert audit.count("<tr>") == 3  # header, reveal, revoke


def test_a_reveal_shows_the_session_it_revealed_whatever_the_url_names() -> None:
    """POST /reveal?id=A with the form's id=B revealed B (and audited B) under A's
    details: the page now shows B, the session acted on."""
    store = MemoryStore()
    app, _ = build(store)
    with TestClient(app, base_url="http://testserver") as client:
        ids = []
        for user in ("rita", "sam"):
            client.cookies.clear()
            client.post("/login", data={"user": user})
            ids.append(client.get("/whoami").json()["id"])
        client.cookies.clear()
        client.cookies.set("operator", "admin:ada")
        page = client.get(f"{CONSOLE}/?q=sam")
        form = {"id": ids[1], "csrf_token": token_of(page.text)}
        shown = client.post(f"{CONSOLE}/reveal?id={ids[0]}", data=form).text
        assert "sam@example.com" in shown and "rita@example.com" not in shown


@pytest.mark.parametrize(
    "path",
    [
        "/?page=abc&size=7&sort=bogus&order=sideways&status=gone",
        "/?page=999999",
        "/session?id=../../etc",
        "/session",
        "/audit?action=drop&actor=%00",
        "/static/../console.py",
        "/static/nope.css",
    ],
)
def test_hostile_urls_get_pages_or_clean_errors(path: str) -> None:
    app, _ = build(MemoryStore())
    with TestClient(app, base_url="http://testserver") as client:
        client.cookies.set("operator", "viewer:vic")
        response = client.get(CONSOLE + path)
    assert response.status_code in (200, 404)
    assert response.headers["cache-control"] == "no-store"


def test_the_method_and_body_are_checked() -> None:
    app, _ = build(MemoryStore())
    with TestClient(app, base_url="http://testserver") as client:
        client.cookies.set("operator", "admin:ada")
        assert client.get(f"{CONSOLE}/reveal").status_code == 405
        assert client.get(f"{CONSOLE}/nowhere").status_code == 404
        big = client.post(
            f"{CONSOLE}/revoke",
            content=b"x=" + b"a" * 100_000,
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert big.status_code == 413
        json_body = client.post(f"{CONSOLE}/revoke", json={"id": "x"})
        assert json_body.status_code == 403  # no form, no token


@pytest.mark.parametrize(
    ("token", "origin"),
    [
        ("123.\u00e9", None),  # not ASCII: compare_digest refuses such a str
        ("\u00b2.abc", None),  # "²".isdigit() is True, int("²") fails
        ("\u0661\u0662\u0663.abc", None),  # Arabic-Indic digits
        ("9" * 5000 + ".abc", None),  # past int()'s digit limit
        ("", "http://["),  # urlsplit: Invalid IPv6 URL
    ],
)
@pytest.mark.parametrize("route", [f"{CONSOLE}/revoke", f"{MINE}/end", f"{MINE}/end-others"])
def test_a_hostile_csrf_token_or_origin_is_refused_not_a_500(
    route: str, token: str, origin: str | None
) -> None:
    app, _ = build(MemoryStore())
    with TestClient(app, base_url="http://testserver") as client:
        session_id = signed_in(client, "rita")
        client.cookies.set("operator", "admin:ada")
        headers = {} if origin is None else {"origin": origin}
        form = {"id": session_id, "confirm": "yes", "csrf_token": token}
        answer = client.post(route, data=form, headers=headers)
    assert answer.status_code == 403 and "CSRF check failed" in answer.text


PUBLIC = "https://sessions.example.com"  # what the browser shows; the proxy sends another Host


def proxied_site(trusted: list[str]) -> Any:
    """The shop, console and "my sessions" as behind a proxy that rewrites ``Host``."""
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from sessionware.admin import MySessions

    from .site import operator_from_cookie, routes, signed_in_user, with_sessions

    store = MemoryStore()
    console = AdminConsole(store, authorize=operator_from_cookie, trusted_origins=trusted)
    mine = MySessions(store, user=signed_in_user, trusted_origins=trusted)
    app = Starlette(routes=[*routes(), Mount(CONSOLE, app=console), Mount(MINE, app=mine)])
    return with_sessions(app, store, "shop", "session")


@pytest.mark.parametrize("trusted", [[], [PUBLIC + "/"]], ids=["untrusted", "trusted"])
def test_behind_a_proxy_that_rewrites_host_trusted_origins_lets_forms_through(
    trusted: list[str],
) -> None:
    with TestClient(proxied_site(trusted), base_url="http://app.internal:8000") as client:
        session_id = signed_in(client, "rita")
        client.cookies.set("operator", "admin:ada")
        console_token = token_of(client.get(f"{CONSOLE}/").text)
        own = {"csrf_token": token_of(client.get(f"{MINE}/").text)}
        origin = {"origin": PUBLIC.upper()}  # (an origin's case does not matter)
        stale = client.post(
            f"{MINE}/end-others", data={"csrf_token": console_token}, headers=origin
        )
        mine = client.post(f"{MINE}/end-others", data=own, headers=origin, follow_redirects=False)
        form = {"csrf_token": console_token, "id": session_id, "confirm": "yes"}
        revoke = client.post(f"{CONSOLE}/revoke", data=form, headers={"origin": PUBLIC})
    assert stale.status_code == 403 and "text/html" in stale.headers["content-type"]
    assert f'href="{MINE}/"' in stale.text  # a way back, whatever the reason
    if trusted:
        assert "has expired" in stale.text  # the console's token is not rita's own
        assert mine.status_code == 303, mine.text
        assert revoke.status_code == 200, revoke.text
        return
    assert "trusted_origins" in stale.text
    assert mine.status_code == 403 and revoke.status_code == 403
    said = html.unescape(revoke.text)  # (a page of the console's, with a way back)
    assert f"sent from the page at '{PUBLIC}'" in said  # says what to do
    assert "'app.internal:8000'" in said and "trusted_origins" in said
    assert "Back to the sessions" in said


@pytest.mark.parametrize(
    "bad",
    [["sessions.example.com"], ["https://x.test/admin"], ["*"], [1], "https://a.test"],
    ids=["bare-host", "path", "pattern", "not-str", "not-a-list"],
)
def test_trusted_origins_are_checked(bad: Any) -> None:
    with pytest.raises(ConfigurationError, match="trusted_origins"):
        AdminConsole(MemoryStore(), authorize=lambda request: None, trusted_origins=bad)


def test_the_audit_page_says_when_it_shows_only_the_newest_entries() -> None:
    from sessionware.stores.base import AuditRecord

    store = MemoryStore()
    app, _ = build(store)
    with TestClient(app, base_url="http://testserver") as client:
        session_id = signed_in(client, "rita")
        client.cookies.set("operator", "admin:ada")
        for total in (199, 200):  # entries in the log: all shown, then the page's fill
            while len(store.audit(limit=1000)) < total:
                store.add_audit(AuditRecord(time.time(), "ada", "ttl", session_id, "again"))
            page = client.get(f"{CONSOLE}/audit").text
            assert page.count("<tr>") == total + 1  # and the header's
            assert ("The newest 200 entries" in page) == (total == 200)
        SessionManager(store).revoke(session_id, actor="ada")
        ended = client.get(f"{CONSOLE}/session", params={"id": session_id}).text
        assert "View session content" not in ended  # nothing left to reveal
        assert "the session is not active" in ended


def test_the_audit_page_marks_which_entries_are_end_users_own() -> None:
    """An entry's actor alone cannot say it: "u\\u0455er:rita" (a Cyrillic s) reads as
    "user:rita". The page marks each entry as the log keeps it."""
    from sessionware.stores.base import AuditRecord

    store = MemoryStore()
    app, _ = build(store)
    with TestClient(app, base_url="http://testserver") as client:
        session_id = signed_in(client, "rita")
        client.cookies.set("operator", "admin:ada")
        store.add_audit(AuditRecord(time.time(), "user:rita", "revoke", session_id))
        store.add_audit(AuditRecord(time.time(), "u\u0455er:rita", "revoke", session_id))
        page = client.get(f"{CONSOLE}/audit").text
    rows = re.findall(r'<td data-label="Who">(.*?)</td>', page, re.S)
    assert len(rows) == 2
    assert "u\u0455er:rita" in rows[0] and ">operator</span>" in rows[0]  # (newest first)
    assert "user:rita" in rows[1] and ">end user</span>" in rows[1]


def test_analytics_of_an_empty_store_names_no_peak_time_and_counts_in_the_singular() -> None:
    store = MemoryStore()
    app, _ = build(store)
    with TestClient(app, base_url="http://testserver") as client:
        client.cookies.set("operator", "admin:ada")
        empty = client.get(f"{CONSOLE}/analytics").text
        assert "peak, last 24 h</span>" in empty  # no time for a peak of 0
        assert "0 apps." in empty
        signed_in(client, "rita")
        client.cookies.set("operator", "admin:ada")
        one = client.get(f"{CONSOLE}/analytics").text
        assert "1 app." in one and "peak, last 24 h (at " in one


def test_configuration_is_checked() -> None:
    with pytest.raises(ConfigurationError, match="authorize"):
        AdminConsole(MemoryStore(), authorize=None)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="ManagedStore"):
        AdminConsole(object(), authorize=lambda request: None)
    with pytest.raises(ConfigurationError, match="16 bytes"):
        AdminConsole(MemoryStore(), authorize=lambda request: None, secret_key="short")
    with pytest.raises(ConfigurationError, match="role"):
        Operator("ann", "superuser")
    with pytest.raises(ConfigurationError, match="name"):
        Operator(" ", "admin")
    # end users' entries in the log, however the name dresses the prefix up
    looks_alike = (
        *(" user:bob", "User:bob", "user\uff1abob", "\u200buser:bob", "SessionWare :ops"),
        *("u\u034fser:bob", "user\u2236bob", "\u3164user:bob"),  # a mark, a ratio, a filler
    )
    for reserved in ("user:admin-7", "sessionware:ops", *looks_alike):
        with pytest.raises(ConfigurationError, match="end users' own actions"):
            Operator(reserved, "admin")
    assert Operator("username:bob", "admin").name == "username:bob"  # (not the prefix)
    console = AdminConsole(MemoryStore(), authorize=lambda request: "ann")  # type: ignore[arg-type,return-value]
    with TestClient(console) as client, pytest.raises(ConfigurationError, match="Operator"):
        client.get("/")


def wsgi_shop(store: Any) -> Any:
    """A WSGI shop: any path signs "wes" in; "my sessions" under ``/me``."""
    from sessionware import WSGISessionMiddleware
    from sessionware.admin import MySessions

    def shop(environ: Any, start_response: Any) -> list[bytes]:
        environ["sessionware.session"]["user_id"] = "wes"
        start_response("200 OK", [("content-type", "text/plain")])
        return [b"signed in"]

    options: dict[str, Any] = {
        "secret_key": "wsgi-mine-secret",
        "store": store,
        "user_key": "user_id",
        "secure": False,
    }
    mine = MySessions(store, user=lambda request: request.session.get("user_id"))
    return DispatcherMiddleware(
        WSGISessionMiddleware(shop, **options),
        {"/me": WSGISessionMiddleware(mine.wsgi(), **options)},
    )


def test_my_sessions_over_wsgi_behind_the_wsgi_middleware() -> None:
    from werkzeug.test import Client

    store = MemoryStore()
    app = wsgi_shop(store)
    laptop, phone = Client(app), Client(app)
    laptop.get("/login")
    phone.get("/login")
    page = laptop.get("/me/").get_data(as_text=True)
    assert page.count('<li class="device') == 2 and "This device" in page
    ended = laptop.post("/me/end-others", data={"csrf_token": token_of(page)})
    assert ended.status_code == 303 and ended.headers["location"].startswith("/me/?ended=1&proof=")
    assert len(SessionManager(store).user_sessions("wes")) == 1
    assert "signed in" in laptop.get("/login").get_data(as_text=True)


def test_sign_out_everywhere_else_says_when_sign_ins_keep_coming() -> None:
    """Sessions of the user appearing as fast as they are revoked (a thief signing in
    again and again): the page says not every device was signed out, not a 500."""
    from werkzeug.test import Client

    store = MemoryStore()
    app = wsgi_shop(store)
    laptop = Client(app)
    laptop.get("/login")
    Client(app).get("/login")
    revoke = store.revoke

    def revoke_as_one_more_signs_in(*args: Any, **kwargs: Any) -> bool:
        Client(app).get("/login")
        return revoke(*args, **kwargs)

    store.revoke = revoke_as_one_more_signs_in  # type: ignore[method-assign]
    page = laptop.get("/me/").get_data(as_text=True)
    ended = laptop.post("/me/end-others", data={"csrf_token": token_of(page)})
    assert ended.status_code == 409
    assert "Not every device was signed out" in ended.get_data(as_text=True)


@pytest.mark.parametrize("app_id", ["shop", None])
def test_my_sessions_limited_to_one_app_shows_and_ends_only_that_apps(
    app_id: str | None,
) -> None:
    """Two apps on one store, each with its user "wes" (a shop and a forum whose user
    ids may name different people): with ``app_id``, the shop's page neither shows
    nor ends the forum's session; without, it covers every app, as documented."""
    from werkzeug.test import Client

    from sessionware import WSGISessionMiddleware
    from sessionware.admin import MySessions

    store = MemoryStore()

    def sign_in(environ: Any, start_response: Any) -> list[bytes]:
        environ["sessionware.session"]["user_id"] = "wes"
        start_response("200 OK", [("content-type", "text/plain")])
        return [
            environ["sessionware.session"].id.encode() if environ["PATH_INFO"] == "/id" else b"in"
        ]

    def options(app: str) -> dict[str, Any]:
        return {
            "secret_key": "two-apps-secret",
            "store": store,
            "user_key": "user_id",
            "secure": False,
            "app_id": app,
            "cookie_name": app,
        }

    mine = MySessions(store, user=lambda request: request.session.get("user_id"), app_id=app_id)
    shop = DispatcherMiddleware(
        WSGISessionMiddleware(sign_in, **options("shop")),
        {"/me": WSGISessionMiddleware(mine.wsgi(), **options("shop"))},
    )
    forum = WSGISessionMiddleware(sign_in, **options("forum"))
    laptop, forum_user = Client(shop), Client(forum)
    laptop.get("/login")
    forum_user.get("/login")
    forum_id = forum_user.get("/id").get_data(as_text=True)
    page = laptop.get("/me/").get_data(as_text=True)
    assert page.count('<li class="device') == (1 if app_id else 2)
    ended = laptop.post("/me/end", data={"csrf_token": token_of(page), "id": forum_id})
    assert ended.status_code == (404 if app_id else 303)
    page = laptop.get("/me/").get_data(as_text=True)
    ended = laptop.post("/me/end-others", data={"csrf_token": token_of(page)})
    assert ended.headers["location"].startswith(
        "/me/?ended=0&proof="
    )  # the forum's: kept, or ended above
    alive = [info.app for info in SessionManager(store).user_sessions("wes")]
    assert sorted(alive) == (["forum", "shop"] if app_id else ["shop"])
    with pytest.raises(ConfigurationError, match="app_id"):
        MySessions(store, user=lambda request: None, app_id="")


def test_a_store_that_does_not_answer_is_a_clear_503(caplog: pytest.LogCaptureFixture) -> None:
    """The page says so, without the store's address (it may reach an end user on
    "my sessions"); the log has what failed."""
    import socket

    from sessionware.stores.redis import RedisStore

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once the probe closes
    store = RedisStore.from_url(f"redis://127.0.0.1:{port}/0", prefix="nobody:")
    app, _ = build(store)
    with TestClient(app, base_url="http://testserver") as client:
        client.cookies.set("operator", "viewer:vic")
        response = client.get(f"{CONSOLE}/")
    assert response.status_code == 503
    assert "did not answer" in response.text and response.headers["cache-control"] == "no-store"
    assert "127.0.0.1" not in response.text and str(port) not in response.text
    assert f"127.0.0.1:{port}" in caplog.text


# -- regressions: hostile query values, TTL bounds, revoked rows, HEAD --------------


def signed_in(client: Any, user: str) -> str:
    """Sign ``user`` in on the shop; the public id of the session."""
    assert client.post("/login", data={"user": user}).status_code == 200
    session_id: str = client.get("/whoami").json()["id"]
    return session_id


def console_store(kind: str, request: pytest.FixtureRequest) -> Any:
    if kind == "memory":
        return MemoryStore()
    from sessionware.stores.redis import RedisStore

    return RedisStore.from_url(REDIS_URL, prefix=request.getfixturevalue("redis_prefix"))


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_a_page_number_past_the_end_shows_the_last_page(
    kind: str, request: pytest.FixtureRequest
) -> None:
    app, _ = build(console_store(kind, request))
    with TestClient(app, base_url="http://testserver") as client:
        for user in ("rita", "sam", "tom"):
            client.cookies.clear()  # a session each: /login regenerates the current one
            signed_in(client, user)
        client.cookies.set("operator", "admin:ada")
        for page in ("9223372036854775807", "99999999999999999999", "3"):
            listed = client.get(f"{CONSOLE}/?page={page}&size=10")
            assert listed.status_code == 200
            assert "3 sessions · page 1 of 1" in listed.text
            assert listed.text.count("<tr data-id=") == 3
        form = {"csrf_token": token_of(listed.text), "page": "99999999999999999999"}
        export = client.post(f"{CONSOLE}/export", data={**form, "include_metadata": "1"})
        assert export.status_code == 200 and export.json()["totalItems"] == 3


@contextlib.contextmanager
def rita_and_operator(store: Any, operator: str = "admin:ada") -> Iterator[tuple[Any, str]]:
    """A client of the console site on ``store``: rita signed in (her session id), and
    the console's ``operator`` cookie set."""
    app, _ = build(store)
    with TestClient(app, base_url="http://testserver") as client:
        session_id = signed_in(client, "rita")
        client.cookies.set("operator", operator)
        yield client, session_id


def test_the_console_writes_out_characters_that_would_turn_text_around() -> None:
    """A user id holding U+202E (which reverses what follows) is shown as \\u202e, as
    the command line shows it: what the operator reads is what is stored."""
    store = MemoryStore()
    with rita_and_operator(store) as (client, _):
        spoof_id = signed_in(client, "mallory\u202egnp.exe")
        client.cookies.set("operator", "admin:ada")
        page = client.get(f"{CONSOLE}/session", params={"id": spoof_id}).text
    assert "\u202e" not in page
    assert "mallory\\u202egnp.exe" in page
    with rita_and_operator(store) as (client, _):
        tagged = signed_in(client, "eve\U000e0041")  # a tag character: invisible too
        client.cookies.set("operator", "admin:ada")
        assert "eve\\U000e0041" in client.get(f"{CONSOLE}/session", params={"id": tagged}).text
        # what a form sends back stays as typed: the search box keeps the real character
        listing = client.get(f"{CONSOLE}/", params={"q": "mallory\u202egnp"}).text
    assert 'value="mallory\u202egnp"' in listing


def test_joiners_of_ordinary_text_are_shown_as_they_are() -> None:
    from sessionware.admin.render import _visible

    assert _visible("\U0001f468\u200d\U0001f469") == "\U0001f468\u200d\U0001f469"  # emoji
    assert _visible("a\u200cb") == "a\u200cb"  # ZWNJ, as Persian writes it


def test_the_console_refuses_a_ttl_under_a_minute() -> None:
    store = MemoryStore()
    with rita_and_operator(store) as (client, session_id):
        token = token_of(client.get(f"{CONSOLE}/").text)
        for minutes in ("0.001", "0.99", "0", "-5", "nan", "inf", "527041", "1e3", "5.5", "١٢"):
            form = {"id": session_id, "csrf_token": token, "ttl_minutes": minutes}
            form["unlimited"] = "0"  # not the checkbox's value: no unlimited TTL
            answer = client.post(f"{CONSOLE}/ttl", data=form)
            assert answer.status_code == 422, minutes  # refused: not a 200 that did nothing
            assert "Give a TTL from 1 minute to a year, in whole minutes" in answer.text, minutes
        info = SessionManager(store).get(session_id)
        assert info is not None and info.expires_at is not None
        assert info.expires_at.timestamp() > time.time() + 86400  # the idle timeout: unchanged
        assert SessionManager(store).audit_log(action="ttl") == []
        form = {"id": session_id, "csrf_token": token, "ttl_minutes": "1"}
        done = client.post(f"{CONSOLE}/ttl", data=form, follow_redirects=False)
        assert done.status_code == 303  # so that a reload or Back sends nothing again
        assert done.headers["location"].startswith(
            f"{CONSOLE}/session?id={session_id}&done=ttl&proof="
        )
        for _ in range(2):  # the page it leads to, reloaded: no second change
            assert "Payload TTL updated." in client.get(done.headers["location"]).text
        partial = {"x-console-partial": "1"}  # in the dialog: the details, at once
        answer = client.post(f"{CONSOLE}/ttl", data=form, headers=partial)
        assert answer.status_code == 200 and "expires in 1 min." in answer.text
    entries = SessionManager(store).audit_log(action="ttl")
    assert [entry.reason for entry in entries] == ["expires in 60 s (1 minute)"] * 2


def test_my_sessions_show_only_a_count_of_sessions_they_ended() -> None:
    """The notice after ending sessions comes from the redirect, with a proof bound to
    the user and device: a link made elsewhere shows none, whatever count it names."""
    app, _ = build(MemoryStore())
    with TestClient(app, base_url="http://testserver") as laptop:
        laptop.post("/login", data={"user": "rita"})
        with TestClient(app, base_url="http://testserver") as phone:
            phone.post("/login", data={"user": "rita"})
        page = laptop.get(f"{MINE}/").text
        ended = laptop.post(
            f"{MINE}/end-others", data={"csrf_token": token_of(page)}, follow_redirects=False
        )
        where = ended.headers["location"]
        assert "ended=1&proof=" in where
        shown = laptop.get(where).text
        assert '<p class="notice" role="status">Ended 1 session.</p>' in shown
        forged = where.replace("ended=1", "ended=9999")
        for link in (forged, f"{MINE}/?ended=3", f"{MINE}/?ended=1&proof=1.abc"):
            assert 'class="notice"' not in laptop.get(link).text, link
        for hostile in ("all your sessions - call 555-0100", "-1", "1e3", "12345678", " 2"):
            page = laptop.get(f"{MINE}/", params={"ended": hostile}).text
            assert 'class="notice"' not in page and "555-0100" not in page, hostile


def test_ending_this_very_device_by_its_id_says_to_sign_out_instead() -> None:
    app, _ = build(MemoryStore())
    with TestClient(app, base_url="http://testserver") as client:
        client.post("/login", data={"user": "rita"})
        current = client.get("/whoami").json()["id"]
        page = client.get(f"{MINE}/").text
        refused = client.post(f"{MINE}/end", data={"id": current, "csrf_token": token_of(page)})
        assert refused.status_code == 409 and "This is the device you are using" in refused.text
        assert client.get("/whoami").json()["id"] == current  # still signed in


def test_a_revoke_asks_on_a_page_of_its_own_and_says_what_it_did_only_when_it_did() -> None:
    """The question is a GET (Back after the revoke returns to it, sending nothing
    again); the notice after it needs the proof its redirect carried."""
    store = MemoryStore()
    app, _ = build(store)
    with TestClient(app, base_url="http://testserver") as client:
        with TestClient(app, base_url="http://testserver") as sam:  # (a session to forge on)
            sam.post("/login", data={"user": "sam"})
            other = sam.get("/whoami").json()["id"]
        client.post("/login", data={"user": "rita"})
        session_id = client.get("/whoami").json()["id"]
        client.cookies.set("operator", "viewer:vic")
        assert client.get(f"{CONSOLE}/revoke", params={"id": session_id}).status_code == 403
        client.cookies.set("operator", "admin:ada")
        asked = client.get(f"{CONSOLE}/revoke", params={"id": session_id})
        assert asked.status_code == 200 and "Yes, revoke" in asked.text
        assert SessionManager(store).get(session_id).status == "active"  # type: ignore[union-attr]
        form = {"id": session_id, "csrf_token": token_of(asked.text), "confirm": "yes"}
        done = client.post(f"{CONSOLE}/revoke", data=form, follow_redirects=False)
        assert done.status_code == 303 and "done=revoked&proof=" in done.headers["location"]
        assert "Session revoked." in client.get(done.headers["location"]).text
        forged = f"{CONSOLE}/session?id={other}&done=revoked"
        assert "Session revoked." not in client.get(forged).text
        moved = done.headers["location"].replace(session_id, other)  # its proof, elsewhere
        assert "Session revoked." not in client.get(moved).text


def test_this_device_is_named_as_the_request_shows_it() -> None:
    """A session signed in on an iPhone, then opened in Chrome on Linux (a cookie
    carried over): its record says iPhone until this response is saved, and the page
    named "This device" after it."""
    iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Safari/604.1"
    chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"
    app, _ = build(MemoryStore())
    with TestClient(app, base_url="http://testserver") as client:
        client.post("/login", data={"user": "rita"}, headers={"user-agent": iphone})
        page = client.get(f"{MINE}/", headers={"user-agent": chrome}).text
        this = page.split('class="device current"')[1].split("</h2>")[0]
        assert "Chrome on Linux" in this and "This device" in this, this


def test_an_id_copied_from_the_table_finds_its_session() -> None:
    """The table shows the first 12 characters of an id and "…"; pasted into the
    search box as copied, it found nothing."""
    app, _ = build(MemoryStore())
    with TestClient(app, base_url="http://testserver") as client:
        client.post("/login", data={"user": "rita"})
        session_id = client.get("/whoami").json()["id"]
        client.cookies.set("operator", "admin:ada")
        page = client.get(f"{CONSOLE}/", params={"q": f" {session_id[:12]}… "}).text
        assert f'data-id="{session_id}"' in page and "1 session" in page


def test_the_filter_boxes_stop_where_the_server_cuts_a_filter() -> None:
    """A search longer than the server keeps was cut without a word; the page's boxes
    now stop typing there, so what is searched is what the box shows."""
    app, _ = build(MemoryStore())
    with TestClient(app, base_url="http://testserver") as client:
        client.cookies.set("operator", "admin:ada")
        page = client.get(f"{CONSOLE}/").text
    for box in ('id="f-q"', 'id="f-app"'):
        tag = page[page.index(box) : page.index(">", page.index(box))]
        assert f'maxlength="{FILTER_CHARS}"' in tag, box


def test_a_revoked_row_shows_no_expiry_and_no_payload() -> None:
    store = MemoryStore()
    with rita_and_operator(store) as (client, session_id):
        listed = client.get(f"{CONSOLE}/").text
        assert "View (6)" in listed
        SessionManager(store).revoke(session_id, actor="ada")
        row = client.get(f"{CONSOLE}/").text.split(f'<tr data-id="{session_id}">')[1]
        row = row.split("</tr>")[0]
        assert "View (0)" in row and '<td data-label="Expires">-</td>' in row
        detail = client.get(f"{CONSOLE}/session", params={"id": session_id}).text
    assert "<dt>Expires</dt><dd>-</dd>" in detail
    assert "<dt>Attributes</dt><dd>0</dd>" in detail
    assert "<dd>0 now," in detail
    assert "<dt>Revoked by</dt><dd>ada</dd>" in detail
    info = SessionManager(store).get(session_id)  # the API keeps the record as it is
    assert info is not None and info.attribute_count == 6 and info.expires_at is not None


def test_head_is_answered_like_get_without_a_body() -> None:
    with rita_and_operator(MemoryStore(), "viewer:vic") as (client, session_id):
        for path in (
            f"{CONSOLE}/",
            f"{CONSOLE}/session?id={session_id}",
            f"{CONSOLE}/audit",
            f"{MINE}/",
        ):
            got, head = client.get(path), client.head(path)
            assert (head.status_code, got.status_code) == (200, 200), path
            assert (
                head.content == b"" and head.headers["content-type"] == got.headers["content-type"]
            )
            assert int(head.headers["content-length"]) > 0
            assert head.headers["cache-control"] == "no-store"
        assert client.head(f"{CONSOLE}/reveal").status_code == 405
        assert client.head(f"{MINE}/end").status_code == 405


def test_head_over_wsgi_sends_no_body() -> None:
    from werkzeug.test import Client

    console = AdminConsole(MemoryStore(), authorize=lambda request: Operator("vic"))
    client = Client(console.wsgi())
    got, head = client.get("/"), client.head("/")
    assert (head.status_code, got.status_code) == (200, 200)
    assert head.get_data() == b"" and got.get_data()
    assert head.headers["content-length"] == got.headers["content-length"]


@pytest.mark.parametrize("number", [7.0, "decimal"])
def test_my_sessions_finds_a_user_whose_id_is_a_number(number: Any) -> None:
    """The middleware records 7.0 as the user "7" (and Decimal("7.00") too): the page,
    given the same number, lists and ends that user's devices."""
    from decimal import Decimal

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Mount, Route

    from sessionware import SessionMiddleware
    from sessionware.admin import MySessions

    value = Decimal("7.00") if number == "decimal" else number
    store = MemoryStore()

    async def login(request: Request) -> PlainTextResponse:
        request.session.regenerate()
        request.session["user_id"] = value
        return PlainTextResponse("signed in")

    mine = MySessions(store, user=lambda request: request.session.get("user_id"))
    app = Starlette(routes=[Route("/login", login), Mount("/me", app=mine)])
    app.add_middleware(
        SessionMiddleware, secret_key="numeric-user-ids-0123456789abcdef", store=store,
        user_key="user_id", secure=False,
    )  # fmt: skip
    laptop, phone = (TestClient(app, base_url="http://testserver") for _ in range(2))
    for client in (laptop, phone):
        client.get("/login")
    assert [i.user for i in SessionManager(store).list().items] == ["7", "7"]
    page = laptop.get("/me/").text
    assert page.count("End session") == 1  # the phone; this device has none
    ended = laptop.post("/me/end-others", data={"csrf_token": token_of(page)})
    assert ended.status_code == 200 and "Ended 1 session." in ended.text
    assert len(SessionManager(store).user_sessions(7)) == 1
    for client in (laptop, phone):
        client.close()


def hashed_ids_app(store: Any, ring: Any) -> Any:
    """A Starlette app whose users sign in at ``/login?user=...`` (a new session),
    with "my sessions" at ``/me``, its user ids hashed by ``ring``."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Mount, Route

    from sessionware import SessionMiddleware
    from sessionware.admin import MySessions

    async def login(request: Request) -> PlainTextResponse:
        request.session.regenerate()
        request.session["user_id"] = request.query_params["user"]
        return PlainTextResponse("signed in")

    async def whoami(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.session.id)

    mine = MySessions(store, user=lambda request: request.session.get("user_id"), encryption=ring)
    app = Starlette(
        routes=[Route("/login", login), Route("/whoami", whoami), Mount("/me", app=mine)]
    )
    app.add_middleware(
        SessionMiddleware,
        secret_key="hashed-user-ids-secret-0123456789abcdef",
        store=store,
        user_key="user_id",
        encryption=ring,
        secure=False,
    )
    return app


def test_my_sessions_ends_an_own_session_when_user_ids_are_hashed() -> None:
    from sessionware import Keyring

    store = MemoryStore()
    ring = Keyring(["hashed-user-ids-key-0123456789abcdef"], hash_user_ids=True)
    app = hashed_ids_app(store, ring)
    clients = [TestClient(app, base_url="http://testserver") for _ in range(3)]
    laptop, phone, other = clients
    for client, user in ((phone, "mia"), (other, "max"), (laptop, "mia")):
        client.get("/login", params={"user": user})
    phone_id, other_id = phone.get("/whoami").text, other.get("/whoami").text
    assert all(i.user.startswith("uh:") for i in SessionManager(store).list().items)
    page = laptop.get("/me/").text
    assert phone_id in page and other_id not in page
    form = {"csrf_token": token_of(page)}
    for session_id in (other_id, "0" * 32):  # not hers: the same 404 as no session
        refused = laptop.post("/me/end", data={**form, "id": session_id})
        assert refused.status_code == 404 and "not among the ones you are signed in" in refused.text
    ended = laptop.post("/me/end", data={**form, "id": phone_id}, follow_redirects=False)
    assert ended.status_code == 303 and ended.headers["location"].startswith("/me/?ended=1&proof=")
    assert [i.id for i in SessionManager(store, encryption=ring).user_sessions("max")] == [other_id]
    assert len(SessionManager(store, encryption=ring).user_sessions("mia")) == 1
    for client in clients:
        client.close()


@pytest.mark.redis
def test_a_user_whose_id_is_another_users_hash_gets_only_their_own_sessions(
    redis_prefix: str,
) -> None:
    """With hash_user_ids, the plain-id fallback (sessions recorded before hashing)
    also looked up an id such as ``uh:<alice's hash>`` as itself: the index entry of
    Alice's sessions. A user who signed up with that id saw and ended her sessions."""
    from sessionware import Keyring
    from sessionware.stores.redis import RedisStore

    store = RedisStore.from_url(REDIS_URL, prefix=redis_prefix)
    ring = Keyring(["hashed-user-ids-key-0123456789abcdef"], hash_user_ids=True)
    app = hashed_ids_app(store, ring)
    alice_tag = ring.user_tag("alice")  # what the console, exports and a dump show
    laptop, phone, mallory = [TestClient(app, base_url="http://testserver") for _ in range(3)]
    for client, user in ((laptop, "alice"), (phone, "alice"), (mallory, alice_tag)):
        client.get("/login", params={"user": user})
    laptop_id, phone_id = laptop.get("/whoami").text, phone.get("/whoami").text
    mallory_id = mallory.get("/whoami").text
    manager = SessionManager(store, encryption=ring)
    page = mallory.get("/me/").text
    assert laptop_id not in page and phone_id not in page and mallory_id in page
    form = {"csrf_token": token_of(page)}
    refused = mallory.post("/me/end", data={**form, "id": phone_id})
    assert refused.status_code == 404 and "not among the ones you are signed in" in refused.text
    ended = mallory.post("/me/end-others", data=form, follow_redirects=False)
    assert ended.headers["location"].startswith("/me/?ended=0&proof=")
    assert sorted(i.id for i in manager.user_sessions("alice")) == sorted([laptop_id, phone_id])
    # the manager takes user ids: the tag is Mallory's id, hashed like any other
    assert [i.id for i in manager.user_sessions(alice_tag)] == [mallory_id]
    assert manager.revoke_user(alice_tag, actor="support:kim") == 1
    assert len(manager.user_sessions("alice")) == 2
    for client in (laptop, phone, mallory):
        client.close()


@pytest.mark.redis
def test_my_sessions_names_the_user_by_their_hash_when_user_ids_are_hashed(
    redis_prefix: str,
) -> None:
    """Ending a session on "my sessions" recorded ``user:<plain id>`` in the audit log
    and on the revoked record: a store dump mapped the hashes back to the ids."""
    import redis

    from sessionware import Keyring
    from sessionware.stores.redis import RedisStore

    store = RedisStore.from_url(REDIS_URL, prefix=redis_prefix)
    ring = Keyring(["hashed-user-ids-key-0123456789abcdef"], hash_user_ids=True)
    laptop, phone, tablet = [
        TestClient(hashed_ids_app(store, ring), base_url="http://testserver") for _ in range(3)
    ]
    for client in (laptop, phone, tablet):
        client.get("/login", params={"user": "alice-7f3c"})
    phone_id = phone.get("/whoami").text
    form = {"csrf_token": token_of(laptop.get("/me/").text)}
    assert laptop.post("/me/end", data={**form, "id": phone_id}).status_code == 200
    assert laptop.post("/me/end-others", data=form).status_code == 200
    actor = f"user:{ring.user_tag('alice-7f3c')}"
    manager = SessionManager(store, encryption=ring)
    assert [e.actor for e in manager.audit_log()] == [actor, actor]
    assert manager.get(phone_id).revoked_by == actor  # type: ignore[union-attr]
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(match=redis_prefix + "*"):
        assert b"alice-7f3c" not in (client.dump(key) or b""), key
    for each in (laptop, phone, tablet):
        each.close()


README = Path(__file__).resolve().parents[2] / "README.md"


def readme_block(marker: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    return next(block for block in blocks if marker in block)


def test_the_readme_flask_recipe_gives_the_mounted_pages_the_flask_session() -> None:
    """As written, the README's DispatcherMiddleware recipe gave the console and My
    Sessions no session: a 500 (AttributeError: 'NoneType' has no 'get')."""
    store = MemoryStore()
    names: dict[str, Any] = {
        "__name__": "readme_flask_recipe",
        "store": store,
        "ADMINS": {"ada"},
        "SUPPORT": set(),
        "CSRF_KEY": "readme-flask-csrf-key-0123456789abcdef",
        "SECRET_KEY": "readme-flask-secret-key-0123456789abcdef",
    }
    exec(readme_block("def staff(request)"), names)  # staff(), as the README defines it
    exec(readme_block("sessions.wrap(console.wsgi())"), names)
    app: Flask = names["app"]
    app.config["SESSION_COOKIE_SECURE"] = False  # the test client speaks http

    @app.post("/login/<name>")
    def login(name: str) -> str:
        session["user_id"] = name
        return "ok"

    laptop, phone = app.test_client(), app.test_client()
    phone.post("/login/ada")
    laptop.post("/login/ada")
    listed = laptop.get("/admin/sessions/")
    assert listed.status_code == 200 and listed.get_data(as_text=True).count("<tr data-id=") == 2
    mine = laptop.get("/account/sessions/").get_data(as_text=True)
    assert mine.count('<li class="device') == 2 and "This device" in mine
    ended = laptop.post("/account/sessions/end-others", data={"csrf_token": token_of(mine)})
    assert ended.status_code == 303 and ended.headers["location"].startswith(
        "/account/sessions/?ended=1&proof="
    )
    assert len(SessionManager(store).user_sessions("ada")) == 1
    assert laptop.get("/account/sessions/").status_code == 200  # still signed in


def test_pages_mounted_outside_the_session_middleware_say_how_to_mount_them() -> None:
    from sessionware.admin import MySessions

    store = MemoryStore()
    app = Flask(__name__)
    sessions = Sessionware(app, secret_key="outside-secret-0123456789abcdef", store=store)
    console = AdminConsole(
        store, authorize=lambda r: Operator("ada") if r.session.get("x") else None
    )
    mine = MySessions(store, user=lambda r: r.session.get("user_id"))
    app.wsgi_app = DispatcherMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, {"/admin": console.wsgi(), "/me": mine.wsgi()}
    )
    client = app.test_client()
    for path in ("/admin/", "/me/"):
        with pytest.raises(ConfigurationError, match=r"sessions\.wrap\(console\.wsgi\(\)\)"):
            client.get(path)
    with TestClient(console) as asgi, pytest.raises(ConfigurationError, match="SessionMiddleware"):
        asgi.get("/")
    with pytest.raises(ConfigurationError, match="init_app"):
        Sessionware(store=store).wrap(console.wsgi())
    assert sessions.wrap(console.wsgi())  # set up on one app: fine


def test_the_readme_pages_accept_a_form_served_by_another_worker() -> None:
    """Two workers, each building the README's pages: the README's MySessions had no
    secret_key, so each worker drew its own and half the posts failed the CSRF check."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from sessionware import SessionMiddleware

    store = MemoryStore()

    async def login(request: Request) -> PlainTextResponse:
        request.session["user_id"] = request.query_params["user"]
        return PlainTextResponse("signed in")

    def worker() -> Starlette:
        names: dict[str, Any] = {
            "store": store,
            "ADMINS": {"ada"},
            "SUPPORT": set(),
            "CSRF_KEY": "readme-workers-csrf-key-0123456789abcdef",
        }
        exec(readme_block("def staff(request)"), names)
        app = Starlette(routes=[Route("/login", login), *names["routes"]])
        app.add_middleware(
            SessionMiddleware,
            secret_key="readme-workers-secret-0123456789abcdef",
            store=store,
            user_key="user_id",
            secure=False,
        )
        return app

    first, second = worker(), worker()
    with (
        TestClient(first, base_url="http://testserver") as phone,
        TestClient(first, base_url="http://testserver") as laptop,
        TestClient(second, base_url="http://testserver") as laptop_on_second,
    ):
        phone.get("/login", params={"user": "ada"})
        laptop.get("/login", params={"user": "ada"})
        laptop_on_second.cookies = laptop.cookies
        for path, form in (
            ("/account/sessions/", {}),
            ("/admin/sessions/", {"id": SessionManager(store).list().items[0].id}),
        ):
            page = laptop.get(path).text
            action = "end-others" if "account" in path else "revoke"
            form = {**form, "csrf_token": token_of(page), "confirm": "yes"}
            answer = laptop_on_second.post(f"{path}{action}", data=form, follow_redirects=False)
            assert answer.status_code in (200, 303), (path, answer.text)
            assert "CSRF" not in answer.text


def test_pages_without_a_secret_key_warn_once_that_workers_will_disagree(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sessionware.admin import MySessions, csrf

    monkeypatch.setattr(csrf, "_warned_random", set())
    with caplog.at_level("WARNING", logger="sessionware"):
        for _ in range(2):
            MySessions(MemoryStore(), user=lambda request: None)
            AdminConsole(MemoryStore(), authorize=lambda request: None)
        AdminConsole(MemoryStore(), authorize=lambda r: None, secret_key="k" * 16 + "0123")
    warned = [r.getMessage() for r in caplog.records if "CSRF" in r.getMessage()]
    assert len(warned) == 2
    assert warned[0].startswith("sessionware: MySessions got no secret_key")
    assert warned[1].startswith("sessionware: AdminConsole got no secret_key")
    assert all("the same value in every worker" in message for message in warned)


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_an_admin_revokes_every_session_of_a_sessions_user(
    kind: str, request: pytest.FixtureRequest
) -> None:
    """From one session's page: a GET question (admins only), then one POST that ends
    every live session of its user, each audit-logged, and says how many."""
    store = console_store(kind, request)
    app, _ = build(store)
    clients = [TestClient(app, base_url="http://testserver") for _ in range(3)]
    ids = [signed_in(c, user) for c, user in zip(clients, ("rita", "rita", "sam"), strict=True)]
    operator = clients[0]  # rita's laptop
    operator.cookies.set("operator", "viewer:vic")
    question = f"{CONSOLE}/revoke-user"
    assert operator.get(question, params={"id": ids[1]}).status_code == 403
    assert "Revoke all of this user" not in operator.get(f"{CONSOLE}/session?id={ids[1]}").text
    operator.cookies.set("operator", "admin:ada")
    page = operator.get(f"{CONSOLE}/session?id={ids[1]}").text
    assert "Revoke all of this user's sessions" in page
    asked = operator.get(question, params={"id": ids[1]})
    assert asked.status_code == 200 and "Yes, revoke them all" in asked.text
    assert "<code>rita</code>" in asked.text
    manager = SessionManager(store)
    assert [manager.get(i).status for i in ids] == ["active"] * 3  # type: ignore[union-attr]

    form = {"id": ids[1], "csrf_token": token_of(asked.text), "confirm": "yes", "reason": "stolen"}
    done = operator.post(question, data=form, follow_redirects=False)
    assert done.status_code == 303
    assert "done=user-revoked-2&proof=" in done.headers["location"]
    assert (
        "Revoked 2 sessions: every active one of this user."
        in operator.get(done.headers["location"]).text
    )
    assert [manager.get(i).status for i in ids] == ["revoked", "revoked", "active"]  # type: ignore[union-attr]
    entries = [(e.session_id, e.reason) for e in manager.audit_log(actor="ada")]
    assert sorted(entries) == sorted((i, "every live session of its user: stolen") for i in ids[:2])
    forged = f"{CONSOLE}/session?id={ids[2]}&done=user-revoked-9"
    assert "Revoked 9" not in operator.get(forged).text  # no proof, no notice

    # in the dialog: the notice at once; again: nothing left to revoke
    partial = operator.post(question, data=form, headers={"x-console-partial": "1"})
    assert partial.status_code == 200 and partial.headers["x-console-changed"] == "1"
    assert "Nothing revoked: the user has no active session." in partial.text
    for client in clients:
        client.close()


@pytest.mark.parametrize("asynchronous", [False, True])
def test_revoke_user_of_finds_the_user_as_the_store_recorded_it(asynchronous: bool) -> None:
    """With hashed user ids the console holds only a session's hash: the sessions
    indexed under that hash end; a plain id recorded before hashing was turned on
    finds the user's hashed sessions too; another user's stay."""
    from sessionware import AsyncSessionManager, Keyring

    store = MemoryStore()
    ring = Keyring(["hashed-user-ids-key-0123456789abcdef"], hash_user_ids=True)
    plain_ring = Keyring(["hashed-user-ids-key-0123456789abcdef"])
    before = TestClient(hashed_ids_app(store, plain_ring), base_url="http://testserver")
    before.get("/login", params={"user": "mia"})
    plain_id = before.get("/whoami").text
    hashed = TestClient(hashed_ids_app(store, ring), base_url="http://testserver")
    ids = {}
    for user in ("mia", "mia", "max"):
        hashed.cookies.clear()
        hashed.get("/login", params={"user": user})
        ids.setdefault(user, []).append(hashed.get("/whoami").text)
    manager = SessionManager(store, encryption=ring)
    assert manager.get(plain_id).user == "mia"  # type: ignore[union-attr]
    assert manager.get(ids["mia"][0]).user.startswith("uh:")  # type: ignore[union-attr]

    def revoke_user_of(session_id: str) -> int:
        if not asynchronous:
            return manager.revoke_user_of(session_id, actor="ops", reason="ticket 9")
        async_manager = AsyncSessionManager(store, encryption=ring)
        return asyncio.run(async_manager.revoke_user_of(session_id, actor="ops", reason="ticket 9"))

    def status() -> list[str]:
        return [manager.get(i).status for i in (plain_id, *ids["mia"], *ids["max"])]  # type: ignore[union-attr]

    assert revoke_user_of("0" * 32) == 0 and revoke_user_of("") == 0  # no such session
    assert revoke_user_of(ids["mia"][1]) == 2  # under the hash: not the plain-id one
    assert status() == ["active", "revoked", "revoked", "active"]
    assert revoke_user_of(plain_id) == 1  # the plain id: every form of it
    assert status() == ["revoked", "revoked", "revoked", "active"]
    assert revoke_user_of(ids["mia"][0]) == 0  # a tombstone still names its user: none left
    reasons = {e.reason for e in manager.audit_log(actor="ops")}
    assert reasons == {"every live session of its user: ticket 9"}
    for client in (before, hashed):
        client.close()


def test_a_websocket_to_the_pages_is_refused_not_left_to_the_servers_500(serve: Any) -> None:
    """The pages serve no websocket: the handshake is refused (403), as an unknown
    route's is, where returning without a word would make the server answer 500."""
    import websockets.exceptions
    from websockets.sync.client import connect

    app, _ = build(MemoryStore())
    server = serve(app)
    for path in (CONSOLE + "/", MINE + "/"):
        url = server.url.replace("http://", "ws://") + path
        cookie = {"cookie": "operator=admin:ada"}
        with (
            pytest.raises(websockets.exceptions.InvalidStatus) as refused,
            connect(url, additional_headers=cookie),
        ):
            pass
        assert refused.value.response.status_code == 403, path


def test_my_sessions_takes_a_false_user_as_nobody_signed_in() -> None:
    """``user=lambda r: r.session.get("signed_in") and r.session["user"]`` gives False
    for a visitor: the sign-in page, as for None, not a 500."""
    from werkzeug.test import Client

    from sessionware import WSGISessionMiddleware

    store = MemoryStore()
    mine = MySessions(store, user=lambda request: request.session.get("signed_in", False))
    app = WSGISessionMiddleware(mine.wsgi(), secret_key="k" * 32, store=store, secure=False)
    page = Client(app).get("/")
    assert page.status_code == 403 and "Sign in" in page.get_data(as_text=True)


def test_a_form_cut_short_is_refused_not_acted_on() -> None:
    """A body shorter than its Content-Length (WSGI), or one whose client went away
    before its end (ASGI), is a 400: nothing is done from part of a form."""
    import io

    from werkzeug.test import Client, EnvironBuilder

    # WSGI: "my sessions", signing out the other device
    store = MemoryStore()
    shop = wsgi_shop(store)
    laptop, phone = Client(shop), Client(shop)
    laptop.get("/login")
    phone.get("/login")
    token = token_of(laptop.get("/me/").get_data(as_text=True))
    form = f"csrf_token={token}".encode()
    cookie = "; ".join(f"{c.key}={c.value}" for c in laptop._cookies.values())
    headers = {"content-type": "application/x-www-form-urlencoded", "cookie": cookie}
    environ = EnvironBuilder(path="/me/end-others", method="POST", headers=headers).get_environ()
    environ["CONTENT_LENGTH"] = str(len(form) + 10)  # more than will ever come
    environ["wsgi.input"] = io.BytesIO(form)
    statuses: list[str] = []
    b"".join(shop(environ, lambda status, headers, *exc: statuses.append(status)))
    assert statuses == ["400 Bad Request"]
    assert len(SessionManager(store).user_sessions("wes")) == 2

    # ASGI: the console, revoking a session
    store = MemoryStore()
    app, _ = build(store)
    with TestClient(app, base_url="http://testserver") as client:
        client.post("/login", data={"user": "uma"})
        client.cookies.set("operator", "admin:ada")
        token = token_of(client.get(f"{CONSOLE}/").text)
        cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    (session_id,) = [i.id for i in SessionManager(store).list().items]
    form = f"csrf_token={token}&confirm=yes&id={session_id}".encode()
    sent: list[dict[str, Any]] = []
    chunks = [
        {"type": "http.request", "body": form, "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> dict[str, Any]:
        return chunks.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "http_version": "1.1",
        "scheme": "http",
        "server": ("testserver", 80),
        "method": "POST",
        "path": f"{CONSOLE}/revoke",
        "raw_path": f"{CONSOLE}/revoke".encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"cookie", cookie.encode()),
        ],
    }
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 400
    assert SessionManager(store).get(session_id).status == "active"  # type: ignore[union-attr]


_COOKIE_HEADERS = [
    (["operator=admin:ada"], True),
    (["operator=admin:ada; flag"], True),  # a bare name (document.cookie = "flag")
    (["theme=dark mode; operator=admin:ada"], True),  # a space in another cookie's value
    (["operator=viewer:x; operator=admin:ada"], False),  # the first of a name wins
    (["operator=admin:ada; operator=viewer:x"], True),
    (["theme=dark", "operator=admin:ada"], True),  # two headers (HTTP/2 sends one per cookie)
]


@pytest.mark.parametrize(("cookies", "admitted"), _COOKIE_HEADERS)
def test_an_odd_cookie_beside_the_operators_costs_no_one_the_console(
    cookies: list[str], admitted: bool
) -> None:
    """Request.cookies read the header with http.cookies, which gives up on the whole
    header at the first pair it cannot read: one unrelated cookie on the domain locked
    every operator out (403), and of two cookies of one name the last won."""
    console = AdminConsole(MemoryStore(), authorize=lambda r: operator_of(r), secret_key=SECRET)

    def operator_of(request: Any) -> Operator | None:
        return Operator("ada", "admin") if request.cookies.get("operator") == "admin:ada" else None

    with TestClient(console, base_url="https://testserver") as client:
        answer = client.get("/", headers=[("cookie", value) for value in cookies])
        assert answer.status_code == (200 if admitted else 403)
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "443",
        "wsgi.url_scheme": "https",
        "wsgi.input": None,
        "HTTP_HOST": "testserver",
        "HTTP_COOKIE": ", ".join(cookies),  # as WSGI servers join repeated headers
    }
    statuses: list[str] = []
    b"".join(console.wsgi()(environ, lambda status, headers, *rest: statuses.append(status)))
    assert statuses[0].startswith("200" if admitted else "403")


@pytest.mark.parametrize("size", [100, 70_000])
def test_a_chunked_form_under_wsgi_is_read_or_refused_as_a_sized_one(size: int) -> None:
    """gunicorn hands a chunked body with no CONTENT_LENGTH (wsgi.input_terminated):
    the console read no form at all (a 403 for a missing CSRF token), and a chunked
    body over the limit met no 413."""
    import io

    from sessionware.admin.http import TOO_LARGE, wsgi_request

    body = b"csrf_token=t&id=" + b"x" * (size - 16)
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/revoke",
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "wsgi.input": io.BytesIO(body),
        "wsgi.input_terminated": True,
    }
    form = wsgi_request(environ).form
    if size < 64 * 1024:
        assert form == {"csrf_token": "t", "id": "x" * (size - 16)}
    else:
        assert form == {"": TOO_LARGE}


def test_each_console_page_has_a_title_of_its_own() -> None:
    """Every page was titled "Sessions": tabs, history and screen readers could not
    tell the audit log from a session's page."""
    store = MemoryStore()
    app, _ = build(store)
    with TestClient(app, base_url="http://testserver") as client:
        client.post("/login", data={"user": "rita"})
        session_id = client.get("/whoami").json()["id"]
        client.cookies.set("operator", "admin:ada")
        titles = {
            path: re.search(r"<title>(.*?)</title>", client.get(CONSOLE + path).text)[1]  # type: ignore[index]
            for path in ("/", "/audit", "/analytics", f"/session?id={session_id}", "/session?id=x")
        }
    assert len(set(titles.values())) == len(titles), titles
    assert titles["/audit"].startswith("Audit log") and titles["/analytics"].startswith("Analytics")
    assert titles[f"/session?id={session_id}"].startswith("Session ")


def test_a_long_app_name_in_a_chart_is_cut_with_an_ellipsis_and_given_whole_in_its_title() -> None:
    """The per-app chart cut "mobile-api-with-a-rather-long-name" to 22 characters with
    no sign of the cut and no way to read the rest."""
    from sessionware.admin.charts import hbar_chart

    long = "mobile-api-with-a-rather-long-application-name"
    accented = "a" * 20 + "e\u0301-app"  # (an accent after its letter)
    joined = "ab" * 9 + "\U0001f469\u200d\U0001f4bb-app"  # (one emoji of three code points)
    svg = hbar_chart(
        "Sessions per app", {long: 3, "shop": 2, accented: 1, joined: 1, "渡辺" * 8: 1}
    )
    assert "mobile-api-with-a-rat…" in svg and f"<title>{long}: 3</title>" in svg
    assert ">shop</text>" in svg  # a short name stays as it is
    assert ">" + "a" * 20 + "…</text>" in svg  # not "e…" (another letter) nor a lone accent
    assert ">" + "ab" * 9 + "…</text>" in svg  # not half an emoji
    assert ">" + "渡辺" * 5 + "…</text>" in svg  # wide characters take two columns each
    assert 'clip-path="url(#labels-sessions-per-app)"' in svg  # never past their column
