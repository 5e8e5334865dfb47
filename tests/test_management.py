"""The management API over a real Starlette app, on every store.

Sessions are made by real requests through ``SessionMiddleware``; the manager
works on the same store object. One client (one event loop) per test, because
async Redis clients are bound to the loop that made them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import math
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from sessionware import (
    AsyncSessionManager,
    ConfigurationError,
    MemoryStore,
    SessionManager,
    SessionMiddleware,
)
from sessionware.management import SessionInfo
from sessionware.stores.base import SORT_FIELDS

from .conftest import REDIS_URL
from .helpers import only_cookie, set_cookies
from .pacing import paced, window
from .stores.sql import SQL_STORES

SECRET = "management-test-secret"
BASE_URL = "https://testserver"
OPTIONS: dict[str, Any] = {
    "app_id": "shop",
    "user_key": "user_id",
    "email_key": "$Session{profile}{email}",
}

TYPED: dict[str, Any] = {
    "when": dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.timezone.utc),
    "naive": dt.datetime(2024, 5, 6, 7, 8, 9),
    "offset": dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
    "day": dt.date(2024, 2, 29),
    "at": dt.time(23, 59, 1),
    "wait": dt.timedelta(days=1, seconds=30, microseconds=500000),
    "blob": b"\x00\xffhi",
    "price": Decimal("10.50"),
    "ref": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "tags": {"b", "a"},
    "frozen": frozenset({3, 1}),
    "pair": (1, (2, "x")),
    "nested": {"list": [dt.date(2024, 1, 1), b"a"]},
    "plain": [None, True, 7, 1.5, "é"],
    "big": 2**80,
}
TYPED_JSON: dict[str, Any] = {
    "when": "2024-05-06T07:08:09.123456+00:00",
    "naive": "2024-05-06T07:08:09",
    "offset": "2024-05-06T07:08:09-05:00",
    "day": "2024-02-29",
    "at": "23:59:01",
    "wait": 86430.5,
    "blob": "AP9oaQ==",
    "price": "10.50",
    "ref": "12345678-1234-5678-1234-567812345678",
    "tags": ["a", "b"],
    "frozen": [1, 3],
    "pair": [1, [2, "x"]],
    "nested": {"list": ["2024-01-01", "YQ=="]},
    "plain": [None, True, 7, 1.5, "é"],
    "big": 2**80,
}

# -- stores, app, client ------------------------------------------------------------


@pytest.fixture(params=["memory", "redis", *SQL_STORES])
def new_store(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """``new_store(retention_seconds=...)`` → a fresh store of each kind."""
    if request.param == "memory":
        return MemoryStore
    if request.param in SQL_STORES:
        return lambda **options: SQL_STORES[request.param](request, **options)
    from sessionware.stores.redis import RedisStore

    prefix, made = request.getfixturevalue("redis_prefix"), itertools.count()

    def fresh(**options: Any) -> Any:  # a prefix of its own: nothing left by a store before
        return RedisStore.from_url(REDIS_URL, prefix=f"{prefix}{next(made)}:", **options)

    return fresh


@pytest.fixture
def store(new_store: Callable[..., Any]) -> Any:
    return new_store()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Gate:
    """Holds ``/slow`` between loading the session and answering."""

    def __init__(self) -> None:
        self.loaded = threading.Event()
        self.release = threading.Event()


def routes(gate: Gate) -> list[Route]:
    async def login(request: Request) -> JSONResponse:
        params = request.query_params
        request.session["user_id"] = params["user"]
        request.session["profile"] = {"email": params["email"]}
        return JSONResponse({"id": request.session.id})

    async def whoami(request: Request) -> JSONResponse:
        return JSONResponse({"id": request.session.id, "keys": sorted(request.session)})

    async def sign_in(request: Request) -> JSONResponse:
        """A login in an existing session: a new id first (no session fixation)."""
        request.session.regenerate()
        request.session["user_id"] = request.query_params["user"]
        return JSONResponse({})

    async def put(request: Request) -> JSONResponse:
        request.session[request.query_params["key"]] = request.query_params["value"]
        return JSONResponse({})

    async def drop(request: Request) -> JSONResponse:
        del request.session[request.query_params["key"]]
        return JSONResponse({})

    async def typed(request: Request) -> JSONResponse:
        request.session["typed"] = TYPED
        return JSONResponse({})

    async def flash(request: Request) -> JSONResponse:
        request.session.flash("saved")
        return JSONResponse({})

    async def slow(request: Request) -> JSONResponse:
        """Load the session, wait while the test acts, then change it."""
        session = request.session
        visits = session.get("visits", 0)
        gate.loaded.set()
        await anyio.to_thread.run_sync(gate.release.wait)
        action = request.query_params["action"]
        if action == "write":
            session["visits"] = visits + 1
        elif action == "regenerate":
            session.regenerate()
        else:
            session.clear()
        return JSONResponse({})

    return [
        Route("/login", login, methods=["POST"]),
        Route("/whoami", whoami),
        Route("/sign-in", sign_in, methods=["POST"]),
        Route("/put", put, methods=["POST"]),
        Route("/drop", drop, methods=["POST"]),
        Route("/typed", typed, methods=["POST"]),
        Route("/flash", flash, methods=["POST"]),
        Route("/slow", slow, methods=["POST"]),
    ]


def make_app(store: Any, **options: Any) -> Starlette:
    """The shop app (``app_id="shop"``), with a ``/blog`` app (``app_id="blog"``) mounted
    on the same store under its own cookie."""
    gate = Gate()
    blog = SessionMiddleware(
        Starlette(routes=routes(gate)),
        secret_key=SECRET,
        store=store,
        cookie_name="blog_session",
        **{**OPTIONS, **options, "app_id": "blog"},
    )
    app = Starlette(routes=[*routes(gate), Mount("/blog", blog)])
    app.add_middleware(SessionMiddleware, secret_key=SECRET, store=store, **{**OPTIONS, **options})
    app.state.gate = gate
    return app


@contextlib.contextmanager
def client_for(store: Any, **options: Any) -> Iterator[TestClient]:
    with TestClient(make_app(store, **options), base_url=BASE_URL) as client:
        yield client


def login(client: Any, user: str, email: str | None = None, prefix: str = "") -> str:
    """Start a new session as ``user`` (the client keeps its cookie); its public id."""
    only_cookie(client, None)
    email = email or f"{user}@example.com"
    response = client.post(f"{prefix}/login", params={"user": user, "email": email})
    assert response.status_code == 200
    session_id: str = client.get(f"{prefix}/whoami").json()["id"]
    assert session_id
    return session_id


def while_slow_waits(client: Any, action: str, meanwhile: Callable[[], Any]) -> Any:
    """``POST /slow?action=...`` from another thread; once it has loaded the session,
    ``meanwhile()`` (asserted truthy) runs; then /slow finishes. Its response."""
    gate: Gate = client.app.state.gate
    responses: list[httpx.Response] = []
    request = threading.Thread(
        target=lambda: responses.append(client.post("/slow", params={"action": action}))
    )
    request.start()
    assert gate.loaded.wait(10)
    assert meanwhile()
    gate.release.set()
    request.join(10)
    (response,) = responses
    return response


def cookie(client: Any, name: str = "session") -> str:
    value: str = client.cookies[name]
    return value


def ids(items: list[SessionInfo]) -> list[str]:
    return [info.id for info in items]


def close_to(moment: dt.datetime | None, timestamp: float, within: float = 5) -> bool:
    return moment is not None and abs(moment.timestamp() - timestamp) < within


# -- what a session shows -----------------------------------------------------------


def test_a_session_shows_its_user_email_app_and_the_handlers_id(store: Any) -> None:
    manager = SessionManager(store)
    with client_for(store) as client:
        before = time.time()
        session_id = login(client, "alice", "Alice@Example.com")
        client.post("/flash")  # an internal key: not an attribute
        info = manager.get(session_id)
    assert info is not None
    assert (info.id, info.user, info.email, info.app) == (
        session_id,
        "alice",
        "Alice@Example.com",
        "shop",
    )
    assert info.status == "active"
    assert (info.ended_at, info.revoked_by) == (None, None)
    assert info.attribute_count == 2  # user_id, profile; not _flashes
    assert 0 < info.current_size_bytes <= info.max_size_bytes
    for moment in (info.created_at, info.updated_at, info.last_activity_at):
        assert moment.tzinfo is not None and moment.utcoffset() == dt.timedelta(0)
        assert close_to(moment, before)
    assert close_to(info.expires_at, before + 30 * 86400)  # the default idle timeout
    assert ids(manager.list().items) == [session_id]
    assert manager.get("no-such-session") is None


def test_max_size_is_the_largest_the_payload_has_been(store: Any) -> None:
    manager = SessionManager(store)
    with client_for(store) as client:
        session_id = login(client, "alice")
        client.post("/put", params={"key": "note", "value": "x" * 500})
        grown = manager.get(session_id)
        client.post("/drop", params={"key": "note"})
        shrunk = manager.get(session_id)
    assert grown is not None and shrunk is not None
    assert grown.current_size_bytes > 500 and grown.attribute_count == 3
    assert shrunk.current_size_bytes < 100 and shrunk.attribute_count == 2
    assert shrunk.max_size_bytes == grown.current_size_bytes


def test_the_user_path_can_be_dotted() -> None:
    store = MemoryStore()
    with client_for(store, user_key="profile.email", email_key=None) as client:
        session_id = login(client, "alice", "a@example.com")
    info = SessionManager(store).get(session_id)
    assert info is not None and (info.user, info.email) == ("a@example.com", None)


# -- reveal and the audit log -------------------------------------------------------


def test_reveal_returns_the_typed_payload_and_is_audited(store: Any) -> None:
    manager = SessionManager(store)
    with client_for(store) as client:
        session_id = login(client, "alice")
        client.post("/typed")
        before = time.time()
        payload = manager.reveal(session_id, actor="ops@corp", reason="ticket 42")
        info = manager.get(session_id)
    assert payload == {
        "user_id": "alice",
        "profile": {"email": "alice@example.com"},
        "typed": TYPED,
    }
    assert info is not None and info.last_activity_at.timestamp() < before  # no activity
    (entry,) = manager.audit_log()
    assert (entry.actor, entry.action, entry.session_id, entry.reason) == (
        "ops@corp",
        "reveal",
        session_id,
        "ticket 42",
    )
    assert entry.at.utcoffset() == dt.timedelta(0) and close_to(entry.at, before)


def test_reveal_of_a_session_that_is_not_live_is_empty_and_still_audited(store: Any) -> None:
    manager = SessionManager(store)
    with client_for(store) as client:
        session_id = login(client, "alice")
    assert manager.revoke(session_id, actor="ops")
    assert manager.reveal(session_id, actor="ops") == {}
    assert manager.reveal("no-such-session", actor="ops", reason="typo?") == {}
    actions = [(e.action, e.session_id) for e in manager.audit_log()]
    assert actions == [
        ("reveal", "no-such-session"),
        ("reveal", session_id),
        ("revoke", session_id),
    ]


def test_reading_under_what_cannot_be_an_id_reads_nothing_and_is_not_audited(
    store: Any,
) -> None:
    """A form's junk (empty, or 3,000 characters) names no record: the audit log keeps
    accesses, not arbitrary request text."""
    manager = SessionManager(store)
    for junk in ("", "x" * 129, "x" * 3000):
        assert manager.reveal(junk, actor="ops", reason="junk") == {}
    assert manager.audit_log() == []
    with pytest.raises(ConfigurationError):  # the actor is still checked
        manager.reveal("", actor="")


def test_the_audit_log_is_newest_first_and_limited(store: Any) -> None:
    manager = SessionManager(store)
    for i in range(5):
        manager.reveal(f"s{i}", actor="ops")
    assert [e.session_id for e in manager.audit_log(limit=3)] == ["s4", "s3", "s2"]
    assert len(manager.audit_log()) == 5


def test_the_memory_store_keeps_a_bounded_audit_log() -> None:
    manager = SessionManager(MemoryStore(audit_limit=3))
    for i in range(10):
        manager.reveal(f"s{i}", actor="ops")
    assert [e.session_id for e in manager.audit_log(limit=100)] == ["s9", "s8", "s7"]


def test_a_filter_finds_operators_entries_behind_a_full_log_of_end_users() -> None:
    """Ten thousand "my sessions" entries, newer than an operator's reveal: the store
    keeps both (bounded apart), and a filtered query still finds the reveal."""
    from sessionware.stores.base import AuditRecord

    store = MemoryStore()
    manager = SessionManager(store)
    manager.reveal("s1", actor="support:kim")
    for i in range(10_000):
        store.add_audit(AuditRecord(time.time(), f"user:u{i}", "revoke", f"x{i}"))
    assert [e.actor for e in manager.audit_log(action="reveal")] == ["support:kim"]
    assert [e.session_id for e in manager.audit_log(actor="support:kim")] == ["s1"]


# -- listing ------------------------------------------------------------------------


def make_population(client: TestClient, manager: SessionManager) -> dict[str, str]:
    """Sessions of several users, apps and statuses; name → id."""
    made = {
        "alice1": login(client, "alice", "alice@example.com"),
        "alice2": login(client, "alice", "alice@example.com"),
        "bob": login(client, "bob", "bob@example.org"),
        "carol": login(client, "carol", "carol@example.net"),
        "blog": login(client, "dave", "dave@example.com", prefix="/blog"),
    }
    only_cookie(client, None)
    client.post("/put", params={"key": "cart", "value": "3 items"})  # anonymous
    made["anonymous"] = client.get("/whoami").json()["id"]
    manager.set_ttl(made["carol"], None)  # durable: no expiry
    manager.revoke(made["bob"], actor="ops")
    return made


def test_list_filters_by_status_app_user_and_search(store: Any) -> None:
    manager = SessionManager(store)
    with client_for(store) as client:
        made = make_population(client, manager)

    def listed(**filters: Any) -> set[str]:
        page = manager.list(**filters)
        assert page.total_items == len(page.items)
        return set(ids(page.items))

    everyone = set(made.values())
    assert listed() == everyone
    assert listed(status="revoked") == {made["bob"]}
    assert listed(status="active") == everyone - {made["bob"]}
    assert listed(status="expired") == set()
    assert listed(app="blog") == {made["blog"]}
    assert listed(user="alice") == {made["alice1"], made["alice2"]}
    assert listed(user="ALICE") == set()  # exact
    assert listed(search="ALIC") == {made["alice1"], made["alice2"]}  # user, any case
    assert listed(search="example.org") == {made["bob"]}  # email
    assert listed(search="BLOG") == {made["blog"]}  # app
    assert listed(search="revoked") == {made["bob"]}  # status
    assert listed(search=made["carol"][4:20].upper()) == {made["carol"]}  # id
    assert listed(search="alice", status="active", app="shop") == {
        made["alice1"],
        made["alice2"],
    }
    assert listed(search="nobody") == set()


SORT_ATTRS = {
    "id": "id",
    "user": "user",
    "email": "email",
    "app": "app",
    "created": "created_at",
    "expires": "expires_at",
    "status": "status",
    "last_activity": "last_activity_at",
}


@pytest.mark.parametrize("descending", [False, True])
def test_every_sort_is_stable_and_pages_cover_the_listing(store: Any, descending: bool) -> None:
    manager = SessionManager(store)
    with client_for(store) as client:
        made = make_population(client, manager)
    infos = manager.list(page_size=1000).items
    assert len(infos) == len(made)
    for sort in SORT_FIELDS:
        attr = SORT_ATTRS[sort]
        # A missing value ranks above every value; ties go by id, in the same direction.
        expected = sorted(
            infos,
            key=lambda i: (getattr(i, attr) is None, getattr(i, attr) or "", i.id),
            reverse=descending,
        )
        full = manager.list(sort=sort, descending=descending)
        assert ids(full.items) == ids(expected), sort
        pages = [
            manager.list(sort=sort, descending=descending, page=p, page_size=4) for p in (0, 1)
        ]
        assert [p.total_pages for p in pages] == [2, 2]
        assert [len(p.items) for p in pages] == [4, len(made) - 4]
        assert ids(pages[0].items) + ids(pages[1].items) == ids(expected), sort
    beyond = manager.list(page=5, page_size=4)
    assert (beyond.items, beyond.page, beyond.page_size, beyond.total_items) == (
        [],
        5,
        4,
        len(made),
    )


def test_missing_values_come_last_ascending_and_first_descending(store: Any) -> None:
    manager = SessionManager(store)
    with client_for(store) as client:
        made = make_population(client, manager)
    assert manager.list(sort="user", descending=False).items[-1].id == made["anonymous"]
    assert manager.list(sort="user", descending=True).items[0].id == made["anonymous"]
    assert manager.list(sort="expires", descending=False).items[-1].id == made["carol"]
    assert manager.list(sort="expires", descending=True).items[0].id == made["carol"]


def test_list_arguments_are_validated() -> None:
    manager = SessionManager(MemoryStore())
    for bad in (
        {"page_size": 0},
        {"page_size": 1001},
        {"page_size": True},
        {"page": -1},
        {"page": 1.5},
        {"sort": "colour"},
        {"status": "gone"},
        {"search": 123},
    ):
        with pytest.raises(ConfigurationError):
            manager.list(**bad)
    assert manager.list(page_size=1000).total_pages == 0
    with pytest.raises(ConfigurationError, match="limit"):
        manager.audit_log(limit=0)
    with pytest.raises(ConfigurationError, match="actor"):
        manager.reveal("s", actor=" ")
    with pytest.raises(ConfigurationError, match="ManagedStore"):
        SessionManager(object())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="AsyncManagedStore"):
        AsyncSessionManager(object())  # type: ignore[arg-type]


# -- revoking -----------------------------------------------------------------------


def test_revoke_destroys_the_payload_and_the_cookie_then_gets_a_fresh_session(
    store: Any,
) -> None:
    manager = SessionManager(store)
    with client_for(store) as client:
        session_id = login(client, "alice")
        before = time.time()
        assert manager.revoke(session_id, actor="ops")
        assert not manager.revoke(session_id, actor="ops")  # not live any more
        assert client.get("/whoami").json() == {"id": None, "keys": []}
        client.post("/put", params={"key": "k", "value": "v"})
        fresh = client.get("/whoami").json()["id"]
    info = manager.get(session_id)
    assert info is not None
    assert (info.status, info.revoked_by) == ("revoked", "ops")
    assert close_to(info.ended_at, before)
    assert manager.reveal(session_id, actor="ops") == {}
    assert fresh not in (None, session_id)
    assert manager.user_sessions("alice") == []
    revokes = [e for e in manager.audit_log() if e.action == "revoke"]
    assert [(e.actor, e.session_id) for e in revokes] == [("ops", session_id)]


@pytest.mark.parametrize(
    ("action", "status"), [("write", 409), ("regenerate", 409), ("logout", 200)]
)
def test_a_revoke_racing_an_in_flight_request_is_not_undone(
    store: Any, action: str, status: int
) -> None:
    """The request's change is lost, and it says so (409), rather than a 200 that
    dropped it; a logout lost nothing: the session is gone, as it asked."""
    manager = SessionManager(store)
    with client_for(store) as client:
        session_id = login(client, "alice")
        old_cookie = cookie(client)
        response = while_slow_waits(client, action, lambda: manager.revoke(session_id, actor="ops"))
        assert response.status_code == status
        if status == 409:
            assert "send the request again" in response.text
            assert response.headers["cache-control"] == "no-store"
        assert [c["max-age"] for c in set_cookies(response)] == ["0"]  # removed, not renewed
        only_cookie(client, old_cookie)
        assert client.get("/whoami").json() == {"id": None, "keys": []}
    info = manager.get(session_id)
    assert info is not None and (info.status, info.revoked_by) == ("revoked", "ops")
    assert manager.reveal(session_id, actor="ops") == {}
    assert manager.list(status="active").total_items == 0


@pytest.mark.parametrize(("action", "status"), [("write", 409), ("regenerate", 409)])
def test_a_login_racing_an_in_flight_request_keeps_the_user_signed_in(
    store: Any, action: str, status: int
) -> None:
    """A request that loaded the session before a login gave it a new id finds it gone
    when it saves (a page's other requests, or the login form sent twice). Its
    response must leave the cookie alone: the login's response has set the new one,
    and expiring it (or starting a session of its own, which could bring back a
    session revoked since) would sign the user out. Its answer says it did not
    happen (409, to send again)."""
    manager = SessionManager(store)
    with client_for(store) as client:
        guest = login(client, "guest")  # a session before signing in (a CSRF token, a cart)
        new_cookie: list[str] = []

        def sign_in() -> bool:
            ok = client.post("/sign-in", params={"user": "alice"}).status_code == 200
            new_cookie.append(cookie(client))  # as the login's response set it
            return ok

        response = while_slow_waits(client, action, sign_in)
        assert response.status_code == status
        assert set_cookies(response) == []  # neither expired nor renewed nor replaced
        assert [cookie(client)] == new_cookie
        signed_in = client.get("/whoami").json()
        assert signed_in["id"] != guest and signed_in["keys"] == ["profile", "user_id"]
        if action == "write":  # sent again, with the cookie the login set: saved
            retried = while_slow_waits(client, action, lambda: True)
            assert retried.status_code == 200
            assert client.get("/whoami").json()["keys"] == ["profile", "user_id", "visits"]
    info = manager.get(signed_in["id"])
    assert info is not None and (info.status, info.user) == ("active", "alice")
    assert manager.get(guest) is None  # the old id was not brought back


def test_a_password_change_keeps_the_session_it_regenerates(store: Any) -> None:
    """The README's pattern: regenerate() at the change, then revoke every other
    session of the user, keeping ``session.id``. It must name the record that
    exists then (the new one exists only once the response saves it)."""
    manager = AsyncSessionManager(store)

    async def change_password(request: Request) -> JSONResponse:
        session = request.session
        session.regenerate()
        user = session["user_id"]
        kept = await manager.revoke_user(user, actor=f"user:{user}", keep=session.id)
        return JSONResponse({"revoked": kept})

    app = Starlette(routes=[Route("/password", change_password, methods=["POST"]), *routes(Gate())])
    app.add_middleware(SessionMiddleware, secret_key="k" * 32, store=store, user_key="user_id")
    with TestClient(app, base_url=BASE_URL) as phone, TestClient(app, base_url=BASE_URL) as laptop:
        phone.post("/login", params={"user": "alice", "email": "a@example.com"})
        laptop.post("/login", params={"user": "alice", "email": "a@example.com"})
        before = laptop.get("/whoami").json()["id"]
        changed = laptop.post("/password")
        assert (changed.status_code, changed.json()) == (200, {"revoked": 1})
        after = laptop.get("/whoami").json()
        assert after["id"] not in (None, before) and "user_id" in after["keys"]
        assert phone.get("/whoami").json()["id"] is None  # the other device: signed out
    assert [info.id for info in SessionManager(store).user_sessions("alice")] == [after["id"]]


def test_revoke_user_logs_out_everywhere_but_the_kept_session(store: Any) -> None:
    manager = SessionManager(store)
    with client_for(store) as client:
        phone, laptop, tablet = (login(client, "alice") for _ in range(3))
        bob = login(client, "bob")
        assert manager.revoke_user("alice", actor="alice", keep=tablet) == 2
        assert manager.revoke_user("alice", actor="alice", keep=tablet) == 0
        only_cookie(client, None)
    assert ids(manager.user_sessions("alice")) == [tablet]
    assert ids(manager.user_sessions("bob")) == [bob]
    for gone in (phone, laptop):
        info = manager.get(gone)
        assert info is not None and (info.status, info.revoked_by) == ("revoked", "alice")
    assert manager.revoke_user("alice", actor="ops") == 1
    assert manager.revoke_user("nobody", actor="ops") == 0
    with pytest.raises(ConfigurationError):
        manager.revoke_user("alice", actor="")


def test_user_sessions_are_the_active_ones_most_recently_used_first(store: Any) -> None:
    manager = SessionManager(store)
    with client_for(store) as client:
        first = login(client, "alice")
        first_cookie = cookie(client)
        second = login(client, "alice")
        third = login(client, "alice")
        login(client, "bob")
        time.sleep(0.01)
        only_cookie(client, first_cookie)
        client.get("/whoami")  # activity
        manager.revoke(third, actor="ops")
        listed = manager.user_sessions("alice")
    assert ids(listed) == [first, second]
    assert listed[0].last_activity_at > listed[1].last_activity_at
    assert manager.user_sessions("nobody") == []


# -- TTL and expiry -----------------------------------------------------------------


def test_set_ttl_fixes_an_expiry_that_activity_does_not_move(store: Any) -> None:
    manager = SessionManager(store)
    with client_for(store) as client:
        session_id = login(client, "alice")
        start = time.time()
        assert manager.set_ttl(session_id, 3600)
        fixed = manager.get(session_id)
        client.post("/put", params={"key": "k", "value": "v"})  # activity and a write
        assert manager.get(session_id).expires_at == fixed.expires_at  # type: ignore[union-attr]
        assert manager.set_ttl(session_id, dt.timedelta(hours=2))
        assert close_to(manager.get(session_id).expires_at, start + 7200)  # type: ignore[union-attr]
        assert manager.set_ttl(session_id, None)
        client.get("/whoami")
        durable = manager.get(session_id)
        assert client.get("/whoami").json()["id"] == session_id
    assert fixed is not None and close_to(fixed.expires_at, start + 3600)
    assert durable is not None and durable.expires_at is None and durable.status == "active"
    for bad in (0, -5, "60", True, math.inf, math.nan, dt.timedelta(days=999_999_999)):
        with pytest.raises(ConfigurationError):
            manager.set_ttl(session_id, bad)  # type: ignore[arg-type]
    assert manager.list().items[0].expires_at is None  # unchanged, and still listable
    manager.revoke(session_id, actor="ops")
    assert not manager.set_ttl(session_id, 60)
    assert not manager.set_ttl("no-such-session", 60)


def test_expiry_leaves_a_tombstone_that_disappears_after_retention(
    new_store: Callable[..., Any],
) -> None:
    def scenario() -> tuple[Any, Any]:
        store = new_store(retention_seconds=1)  # a fresh one per attempt
        manager = SessionManager(store)
        try:
            with client_for(store, idle_timeout=1) as client:
                started = time.time()  # alice's session ends by + 1 s, its tombstone by + 2 s
                idle = login(client, "alice")
                idle_cookie = cookie(client)
                kept = login(client, "bob")
                manager.set_ttl(kept, None)
                time.sleep(1.3)
                with window(started, 2.0, "from alice's login to the checks of her tombstone"):
                    expired = manager.get(idle)
                    assert expired is not None
                    assert ids(manager.list(status="expired").items) == [idle]
                assert manager.revoke(kept, actor="ops")
                revoked = manager.get(kept)
                assert manager.reveal(idle, actor="ops") == {}
                assert manager.user_sessions("alice") == []
                only_cookie(client, idle_cookie)
                assert client.get("/whoami").json() == {"id": None, "keys": []}
                time.sleep(1.3)
                assert manager.get(idle) is None and manager.get(kept) is None
                assert manager.list().total_items == 0
            return expired, revoked
        finally:
            getattr(store, "close", lambda: None)()

    expired, revoked = paced(scenario)
    assert expired is not None and expired.status == "expired"
    assert expired.expires_at is not None
    assert close_to(expired.ended_at, expired.expires_at.timestamp(), within=0.5)
    assert revoked is not None and revoked.status == "revoked"


# -- export -------------------------------------------------------------------------


def test_export_data_only_has_active_sessions_as_json(store: Any) -> None:
    manager = SessionManager(store)
    with client_for(store) as client:
        made = make_population(client, manager)
        only_cookie(client, None)
        login(client, "erin", "erin@example.com")
        client.post("/typed")
        document = manager.export(actor="support", reason="ticket 7", sort="user")
    assert json.loads(json.dumps(document)) == document
    assert set(document) == {"items", "page", "pageSize", "totalItems", "totalPages"}
    assert (document["page"], document["pageSize"]) == (0, 100)
    assert (document["totalItems"], document["totalPages"]) == (len(made), 1)  # +erin -bob
    for item in document["items"]:
        assert set(item) == {"appId", "userEmail", "payload"}
    erin = [item for item in document["items"] if item["userEmail"] == "erin@example.com"]
    assert erin == [
        {
            "appId": "shop",
            "userEmail": "erin@example.com",
            "payload": {
                "user_id": "erin",
                "profile": {"email": "erin@example.com"},
                "typed": TYPED_JSON,
            },
        }
    ]
    assert "bob@example.org" not in json.dumps(document)  # revoked: not exported
    (export,) = [e for e in manager.audit_log() if e.action == "export"]  # one per export
    assert (export.actor, export.session_id) == ("support", None)
    assert export.reason == f"{len(made)} sessions (page 1, 100 per page): ticket 7"
    manager.export(include_metadata=True, actor="kim", status="revoked", user="bob", page_size=5)
    assert manager.audit_log(actor="kim")[0].reason == (
        "1 session (page 1, 5 per page, status=revoked, user=bob)"  # what it took, by what
    )


def test_export_with_metadata_covers_tombstones_and_pages(store: Any) -> None:
    manager = SessionManager(store)
    with client_for(store) as client:
        made = make_population(client, manager)
    document = manager.export(
        include_metadata=True, sort="id", descending=False, page=1, page_size=2
    )
    assert json.loads(json.dumps(document)) == document
    assert {k: document[k] for k in ("page", "pageSize", "totalItems", "totalPages")} == {
        "page": 1,
        "pageSize": 2,
        "totalItems": len(made),
        "totalPages": 3,
    }
    assert [item["id"] for item in document["items"]] == sorted(made.values())[2:4]
    everything = manager.export(include_metadata=True, page_size=100)["items"]
    by_id = {item["id"]: item for item in everything}
    bob, carol = by_id[made["bob"]], by_id[made["carol"]]
    assert set(bob) == {
        "id",
        "userIdentifier",
        "userEmail",
        "revokedBy",
        "appId",
        "createdAt",
        "expiresAt",
        "status",
        "currentDataSizeBytes",
        "maxDataSizeBytes",
        "lastActivityAt",
        "updatedAt",
        "endedAt",
        "attributeCount",
        "device",
        "payload",
    }
    assert (bob["status"], bob["revokedBy"], bob["payload"]) == ("revoked", "ops", {})
    # as it is now: ended (when it was revoked), nothing held, no expiry ahead
    ended = manager.get(made["bob"]).ended_at  # type: ignore[union-attr]
    assert ended is not None and dt.datetime.fromisoformat(bob["endedAt"]) == ended
    assert (bob["attributeCount"], bob["currentDataSizeBytes"], bob["expiresAt"]) == (0, 0, None)
    assert bob["maxDataSizeBytes"] > 0  # (history)
    assert (bob["userIdentifier"], bob["userEmail"], bob["appId"]) == (
        "bob",
        "bob@example.org",
        "shop",
    )
    assert carol["expiresAt"] is None and carol["endedAt"] is None  # durable, live
    assert carol["payload"] == {"user_id": "carol", "profile": {"email": "carol@example.net"}}
    assert carol["attributeCount"] == 2
    assert 0 < carol["currentDataSizeBytes"] <= carol["maxDataSizeBytes"]
    info = manager.get(made["carol"])
    assert info is not None
    for key, moment in (
        ("createdAt", info.created_at),
        ("updatedAt", info.updated_at),
        ("lastActivityAt", info.last_activity_at),
    ):
        parsed = dt.datetime.fromisoformat(carol[key])
        assert parsed.utcoffset() == dt.timedelta(0) and parsed == moment
    assert dt.datetime.fromisoformat(by_id[made["alice1"]]["expiresAt"]).utcoffset() == (
        dt.timedelta(0)
    )


def test_export_arguments_are_validated() -> None:
    manager = SessionManager(MemoryStore())
    with pytest.raises(ConfigurationError, match="include_metadata"):
        manager.export(status="revoked")
    with pytest.raises(ConfigurationError, match="colour"):
        manager.export(colour="red")
    with pytest.raises(ConfigurationError):
        manager.export(include_metadata=True, page_size=5000)
    assert manager.export(status="active")["items"] == []


# -- the async manager --------------------------------------------------------------


async def alogins(client: httpx.AsyncClient, users: tuple[str, ...]) -> list[str]:
    """Each user signed in afresh through ``client`` (one new session each); their ids."""
    made: list[str] = []
    for user in users:
        only_cookie(client, None)
        await client.post("/login", params={"user": user, "email": f"{user}@example.com"})
        made.append((await client.get("/whoami")).json()["id"])
    return made


@pytest.mark.anyio
async def test_the_async_manager_does_the_same(store: Any) -> None:
    """Requests and manager calls share this test's event loop (no TestClient thread)."""
    manager = AsyncSessionManager(store)
    transport = httpx.ASGITransport(app=make_app(store))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        phone, laptop, bob = await alogins(client, ("alice", "alice", "bob"))
        await client.get("/whoami")  # bob's session, most recent activity

        page = await manager.list(sort="last_activity", descending=True, page_size=2)
        assert (ids(page.items), page.total_items, page.total_pages) == ([bob, laptop], 3, 2)
        info = await manager.get(phone)
        assert info is not None and (info.user, info.email, info.app) == (
            "alice",
            "alice@example.com",
            "shop",
        )
        assert await manager.reveal(phone, actor="ops") == {
            "user_id": "alice",
            "profile": {"email": "alice@example.com"},
        }
        assert ids(await manager.user_sessions("alice")) == [laptop, phone]
        assert await manager.set_ttl(laptop, None)
        laptop_info = await manager.get(laptop)
        assert laptop_info is not None and laptop_info.expires_at is None
        assert await manager.revoke(bob, actor="ops")
        assert (await client.get("/whoami")).json() == {"id": None, "keys": []}
        assert await manager.revoke_user("alice", actor="alice", keep=laptop) == 1
        assert ids(await manager.user_sessions("alice")) == [laptop]
        document = await manager.export(actor="support")
        assert document["totalItems"] == 1
        assert document["items"][0]["payload"]["user_id"] == "alice"
        actions = [(e.action, e.session_id) for e in await manager.audit_log(limit=4)]
        assert actions == [
            ("export", None),
            ("revoke", phone),
            ("revoke", bob),
            ("reveal", phone),
        ]
        with_meta = await manager.export(
            include_metadata=True, status="revoked", sort="id", descending=False
        )
        assert [i["id"] for i in with_meta["items"]] == sorted([bob, phone])
        with pytest.raises(ConfigurationError):
            await manager.list(page_size=0)


def test_int_user_ids_find_what_the_middleware_recorded() -> None:
    # session["user_id"] = 42 is recorded as "42"; revoke_user(42) must find it
    import time as _time

    from sessionware import MemoryStore, SessionManager
    from sessionware.stores.base import Meta

    store = MemoryStore()
    now = _time.time()
    for sid in ("a", "b"):
        store.create(sid, {}, Meta(now, now, now, now + 60, user="42"))
    manager = SessionManager(store)
    assert [info.id for info in manager.user_sessions(42)] != []
    assert manager.list(user=42).total_items == 2
    assert manager.revoke_user(42, actor="ops", keep="a") == 1
    assert manager.user_sessions(4.2) == []  # a number, as a type's selector may name one
    for wrong in (True, b"42", None, [42]):
        with pytest.raises(ValueError, match="a str, a number or a UUID"):
            manager.user_sessions(wrong)  # type: ignore[arg-type]


# -- what the console needs: one-entry exports of a listed page, TTL audit, filters ---


def test_an_export_as_listed_covers_exactly_the_listed_page(store: Any) -> None:
    manager = SessionManager(store)
    with client_for(store) as client:
        made = make_population(client, manager)
    filters: dict[str, Any] = {"sort": "user", "descending": False, "page": 0, "page_size": 3}
    listed = manager.list(**filters).items
    assert made["bob"] in ids(listed)  # revoked, yet on the page
    data_only = manager.export(actor="ops", as_listed=True, **filters)
    active = [i for i in listed if i.status == "active"]
    assert [item["userEmail"] for item in data_only["items"]] == [i.email for i in active]
    assert len(active) < len(listed)
    full = manager.export(include_metadata=True, actor="ops", as_listed=True, **filters)
    assert [item["id"] for item in full["items"]] == ids(listed)
    exports = manager.audit_log(action="export")
    assert [e.reason for e in exports] == [  # newest first; data-only counts what it wrote
        "3 sessions (page 1, 3 per page)",
        f"{len(active)} session{'' if len(active) == 1 else 's'} (page 1, 3 per page)",
    ]


def test_set_ttl_with_an_actor_is_audited_and_the_log_filters(store: Any) -> None:
    manager = SessionManager(store)
    with client_for(store) as client:
        made = make_population(client, manager)
    assert manager.set_ttl(made["alice1"], 90, actor="dana")
    assert manager.set_ttl(made["alice2"], None, actor="erik")
    assert not manager.set_ttl(made["bob"], 90, actor="dana")  # revoked: not logged
    manager.reveal(made["carol"], actor="dana")
    ttl = manager.audit_log(action="ttl")
    assert [(e.actor, e.session_id, e.reason) for e in ttl] == [
        ("erik", made["alice2"], "unlimited"),
        ("dana", made["alice1"], "expires in 90 s"),  # (not "about 2 minutes")
    ]
    assert [e.action for e in manager.audit_log(actor="dana")] == ["reveal", "ttl"]
    assert manager.audit_log(actor="dana", action="revoke") == []
    assert [e.action for e in manager.audit_log(actor="dana", limit=1)] == ["reveal"]
    with pytest.raises(ConfigurationError):
        manager.set_ttl(made["carol"], 5, actor=" ")


def test_analytics_count_apps_statuses_sizes_and_concurrency(store: Any) -> None:
    manager = SessionManager(store)
    with client_for(store) as client:
        made = make_population(client, manager)
    stats = manager.analytics(hours=3, max_payload_bytes=1000)
    assert stats.total == len(made)
    assert stats.by_app == {"shop": len(made) - 1, "blog": 1}
    assert stats.by_status == {"active": len(made) - 1, "revoked": 1}
    assert sum(stats.size_bins) == len(made) - 1  # active sessions only
    assert 0 < stats.largest_bytes <= 1000
    assert len(stats.hours) == len(stats.new) == len(stats.active) == 3
    assert sum(stats.new) == len(made)
    assert stats.concurrent_now == len(made) - 1 == stats.active[-1]
    assert len(made) - 1 <= stats.concurrent_peak <= len(made)  # minute samples may miss bob
    with pytest.raises(ConfigurationError):
        manager.analytics(hours=0)


def test_analytics_series_follow_created_and_ended_times() -> None:
    from sessionware.analytics import Tally
    from sessionware.stores.base import Meta

    now = 1_700_000_000.0
    hour_start = now - now % 3600

    def meta(created: float, ended: float | None = None, **more: Any) -> Meta:
        status = "active" if ended is None else "revoked"
        return Meta(created, created, created, None, status=status, ended_at=ended, **more)

    rows = [
        ("a", meta(hour_start - 7000, ended=hour_start - 3000)),  # two hours ago, gone
        ("b", meta(hour_start - 7000, size_bytes=950)),
        ("c", meta(hour_start - 3500, size_bytes=10)),
        ("d", meta(now - 1, app="blog")),
    ]
    tally = Tally(now, 3, max_payload_bytes=1000)
    tally.add(rows)
    assert tally.next_query() is None  # a short page ends the scan
    stats = tally.result()
    assert stats.new == [2, 1, 1]
    assert stats.active == [2, 2, 3]
    assert (stats.concurrent_now, stats.concurrent_peak) == (3, 3)
    assert stats.size_bins == [2, 0, 0, 0, 0, 0, 0, 0, 0, 1]  # c and d small, b near the cap


def test_analytics_counts_each_session_once_while_sessions_are_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The scan pages the listing by last activity: sessions used after its first page
    move to the front, over the offset still to read. Each is counted once, none
    twice."""
    from sessionware.stores.base import Meta

    store = MemoryStore()
    start = time.time() - 3600
    for i in range(2500):
        at = start + i  # the newest first in the listing: s2499 ... s0
        store.create(f"s{i:04d}", {"k": b"\x01"}, Meta(at, at, at, at + 86400))
    for i in range(1500, 1520):  # on the second page, where the shift reads twice
        SessionManager(store).revoke(f"s{i:04d}", actor="ops")
    pages = 0
    query = store.query

    def used_meanwhile(q: Any, *, now: float) -> Any:
        nonlocal pages
        pages += 1
        if pages == 2:  # after the first page: 200 sessions still to read are used
            for i in range(100, 300):
                store.load(f"s{i:04d}", now=time.time(), idle_seconds=None)
        return query(q, now=now)

    monkeypatch.setattr(store, "query", used_meanwhile)
    stats = SessionManager(store).analytics()
    assert stats.total == 2500
    assert stats.by_status == {"active": 2480, "revoked": 20}
    assert stats.concurrent_now == 2480


# -- regressions: page bounds, export counts, TTL wording ----------------------------


def test_a_page_past_any_store_is_refused_before_the_store_sees_it(store: Any) -> None:
    from sessionware.management import MAX_PAGE

    manager = SessionManager(store)
    with client_for(store) as client:
        login(client, "alice")
    far = manager.list(page=MAX_PAGE, page_size=1000)  # the last page allowed: empty
    assert (far.items, far.page, far.total_items) == ([], MAX_PAGE, 1)
    for page in (MAX_PAGE + 1, 2**53, 2**63 - 1, 10**20):
        with pytest.raises(
            ConfigurationError, match=f"page is 0-based: an int from 0 to {MAX_PAGE}"
        ):
            manager.list(page=page)
        with pytest.raises(ConfigurationError, match="page"):
            manager.export(include_metadata=True, page=page)
    assert manager.audit_log() == []  # a refused export is not logged


@pytest.mark.anyio
async def test_the_async_manager_refuses_a_page_past_any_store(store: Any) -> None:
    manager = AsyncSessionManager(store)
    for page in (2**53, 2**63 - 1):
        with pytest.raises(ConfigurationError, match="page"):
            await manager.list(page=page)
        with pytest.raises(ConfigurationError, match="page"):
            await manager.export(as_listed=True, page=page)


def test_a_data_only_export_counts_only_the_sessions_it_wrote(store: Any) -> None:
    manager = SessionManager(store)
    with client_for(store) as client:
        made = make_population(client, manager)  # 6 sessions, bob's revoked
    document = manager.export(actor="ops", as_listed=True, reason="audit")
    assert len(document["items"]) == len(made) - 1
    (entry,) = manager.audit_log(action="export")
    assert entry.reason == f"{len(made) - 1} sessions (page 1, 100 per page): audit"


@pytest.mark.anyio
async def test_the_async_data_only_export_counts_only_the_sessions_it_wrote(store: Any) -> None:
    manager = AsyncSessionManager(store)
    transport = httpx.ASGITransport(app=make_app(store))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        made = await alogins(client, ("alice", "bob", "carol"))
    assert await manager.revoke(made[1], actor="ops")
    document = await manager.export(actor="ops", as_listed=True)
    assert len(document["items"]) == 2
    (entry,) = await manager.audit_log(action="export")
    assert entry.reason == "2 sessions (page 1, 100 per page)"


def test_a_ttl_change_is_logged_in_plain_seconds_never_an_exponent(store: Any) -> None:
    manager = SessionManager(store)
    with client_for(store) as client:
        session_id = login(client, "alice")
    assert manager.set_ttl(session_id, dt.timedelta(days=180), actor="dana")
    assert manager.set_ttl(session_id, 1.25, actor="dana")
    reasons = [e.reason for e in manager.audit_log(action="ttl")]
    assert reasons == ["expires in 1.25 s", "expires in 15552000 s (180 days)"]


@pytest.mark.parametrize(
    ("ttl", "said"),
    [
        (5400, "expires in 5400 s (90 minutes)"),  # not "about 2 hours"
        (129600, "expires in 129600 s (36 hours)"),  # not "about 2 days"
        (7200, "expires in 7200 s (2 hours)"),
        (36000 * 86400, "expires in 3110400000 s (about 99 years)"),
        (45, "expires in 45 s"),
    ],
)
def test_a_ttl_in_the_audit_log_reads_right(ttl: int, said: str) -> None:
    """The readable part of a TTL's audit entry is never more than 5% off."""
    from sessionware.management import ttl_record

    assert ttl_record("ops", "s1", ttl, 0.0).reason == said


def test_a_bool_flag_named_by_user_key_files_no_user(caplog: pytest.LogCaptureFixture) -> None:
    """``user_key="logged_in"`` on a flag: True would file every signed-in session under
    one user "True", whose "log out everywhere" ends them all; a bool names no user."""
    from sessionware import identity

    from .shells import shell_client

    identity._FLAGS_SAID.discard(("logged_in",))  # (said once per process)

    def handler(session: Any, path: str, params: dict[str, str]) -> Any:
        session["logged_in"] = True
        session["name"] = params["name"]
        return 200, {"id": session.id}, {}

    store = MemoryStore()
    manager = SessionManager(store)
    ids = []
    for name in ("ann", "bob"):
        with shell_client("starlette", handler, store, user_key="logged_in") as client:
            client.get("/", params={"name": name})
            ids.append(client.get("/", params={"name": name}).json()["id"])
    assert [manager.get(i).user for i in ids] == [None, None]  # type: ignore[union-attr]
    assert manager.list(user="True").total_items == 0
    said = [r.message for r in caplog.records if "a flag, which names no user" in r.message]
    assert len(said) == 1 and "session.regenerate() at sign-in" in said[0]  # once


@pytest.mark.anyio
async def test_an_id_or_app_that_is_no_str_is_the_same_configuration_error_on_every_store(
    store: Any,
) -> None:
    """MemoryStore answered None or [] to a number where SQLite, PostgreSQL and Redis
    raised TypeError (and revoke(None) False on some, TypeError on Redis)."""
    sync, both = SessionManager(store), AsyncSessionManager(store)
    calls: list[Callable[[Any], Any]] = [
        lambda m: m.get(5),
        lambda m: m.reveal(5, actor="ann"),
        lambda m: m.revoke(None, actor="ann"),
        lambda m: m.revoke_user_of(5, actor="ann"),
        lambda m: m.set_ttl(5, 60, actor="ann"),
        lambda m: m.list(app=5),
    ]
    for call in calls:
        with pytest.raises(ConfigurationError, match="str"):
            call(sync)
        with pytest.raises(ConfigurationError, match="str"):
            await call(both)


def test_revoke_user_refuses_a_keep_or_app_that_is_no_str(store: Any) -> None:
    """keep=b"..." (or a UUID) matched no id, so the very session to keep was revoked;
    app=123 matched no app, so nothing was, with no error either way."""
    manager = SessionManager(store)
    for bad in ({"keep": b"s0"}, {"keep": uuid.uuid4()}, {"app": 123}, {"app": b"shop"}):
        with pytest.raises(ConfigurationError, match="str"):
            manager.revoke_user("bob", actor="ann", **bad)
    with pytest.raises(ConfigurationError, match="name an app"):  # "" ended every app's
        manager.revoke_user("bob", actor="ann", app="")
