"""The core behaviours, run on every framework x every store (see conftest.py).

Each test drives a real app over its test client and asserts on the body and
on parsed Set-Cookie headers.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from sessionware.cookies import CookieSigner, new_token, public_id

from ..helpers import CountingStore, EndsBeforeSaving, only_cookie, set_cookies, token_of
from ..pacing import excuse, paced
from .apps import SECRET


def _cookie(response: Any) -> dict[str, Any]:
    cookies = set_cookies(response)
    assert len(cookies) == 1, response.headers
    return cookies[0]


# -- cookies ------------------------------------------------------------------------


def test_no_cookie_untouched_session_costs_nothing(make_client: Any, store: Any) -> None:
    counting = CountingStore(store)
    with make_client(store=counting) as client:
        response = client.get("/untouched")
    assert response.status_code == 200
    assert set_cookies(response) == []
    assert "vary" not in response.headers
    assert counting.calls == []


def test_first_write_sets_a_secure_browser_session_cookie(make_client: Any) -> None:
    with make_client() as client:
        response = client.get("/put", params={"key": "a", "value": "1"})
    cookie = _cookie(response)
    assert cookie["secure"] and cookie["httponly"]
    assert cookie["samesite"].lower() == "lax"
    assert cookie["path"] == "/"
    assert "max-age" not in cookie and "expires" not in cookie  # a browser-session cookie
    assert len(token_of(cookie["value"])) == 43  # 32 random bytes, URL-safe base64
    assert "cookie" in response.headers["vary"].lower()


def test_reading_an_empty_session_stores_nothing_and_sets_no_cookie(
    make_client: Any, store: Any
) -> None:
    with make_client() as client:
        response = client.get("/get", params={"key": "a"})
    assert response.json() == {"value": None, "id": None}
    assert set_cookies(response) == []
    assert "cookie" in response.headers["vary"].lower()


def test_unchanged_session_writes_nothing_and_sends_no_cookie(make_client: Any) -> None:
    with make_client() as client:
        client.get("/put", params={"key": "a", "value": "1"})
        response = client.get("/get", params={"key": "a"})
        assert response.json()["value"] == "1"
        assert set_cookies(response) == []
        response = client.get("/untouched")
        assert set_cookies(response) == []
        assert "vary" not in response.headers


def test_session_id_is_the_hash_of_the_token_never_the_token(make_client: Any) -> None:
    with make_client() as client:
        token = token_of(_cookie(client.get("/put", params={"key": "a", "value": "1"}))["value"])
        session_id = client.get("/get", params={"key": "a"}).json()["id"]
    assert session_id == public_id(token)
    assert token not in session_id


def test_max_age_makes_a_persistent_cookie_that_slides(make_client: Any) -> None:
    with make_client(max_age=100) as client:
        cookie = _cookie(client.get("/put", params={"key": "a", "value": "1"}))
        assert cookie["max-age"] == "100"
        assert set_cookies(client.get("/get", params={"key": "a"})) == []  # fresh: not re-sent
        time.sleep(2.2)  # 1 % of max_age (1 s) + 1 s of timestamp rounding: the expiry slides
        again = _cookie(client.get("/get", params={"key": "a"}))
    assert again["max-age"] == "100"
    assert token_of(again["value"]) == token_of(cookie["value"])


# -- strict ids ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "garbage",
        "",
        "x" * 5000,
        "a.b.c",
        CookieSigner("another-key").sign(new_token()),
        CookieSigner(SECRET).sign(new_token()),  # well signed, but never issued
    ],
    ids=["garbage", "empty", "oversized", "malformed", "unknown-key", "never-issued"],
)
def test_bad_cookies_mean_a_fresh_session_and_are_never_adopted(
    make_client: Any, value: str
) -> None:
    with make_client() as client:
        only_cookie(client, value)
        response = client.get("/keys")
        assert response.status_code == 200
        assert response.json() == {"keys": [], "id": None}
        assert set_cookies(response) == []  # left alone until the handler writes (issue 10)
        response = client.get("/put", params={"key": "a", "value": "1"})
        assert response.status_code == 200
        issued = [c for c in set_cookies(response) if c["value"]]
        assert len(issued) == 1
        assert token_of(issued[0]["value"]) != token_of(value)


def test_an_unusable_cookie_gets_no_set_cookie_until_the_handler_writes(
    make_client: Any,
) -> None:
    """Deleting it helps nobody, and a bad key deploy rolled back would log everyone out."""
    with make_client() as client:
        for value in (CookieSigner(SECRET).sign(new_token()), CookieSigner("old").sign("x")):
            only_cookie(client, value)
            assert set_cookies(client.get("/keys")) == []
            assert set_cookies(client.get("/get", params={"key": "a"})) == []
            issued = set_cookies(client.get("/put", params={"key": "a", "value": "1"}))
            assert len(issued) == 1 and issued[0]["value"] and "max-age" not in issued[0]


def test_first_verifying_cookie_of_several_wins(make_client: Any) -> None:
    with make_client() as client:
        value = _cookie(client.get("/put", params={"key": "a", "value": "1"}))["value"]
        client.cookies.clear()
        response = client.get(
            "/get", params={"key": "a"}, headers={"cookie": f"session=forged; session={value}"}
        )
    assert response.json()["value"] == "1"


def test_key_rotation_keeps_sessions_and_signs_with_the_newest(
    make_client: Any, store: Any
) -> None:
    with make_client(secret_key="old-key") as client:
        value = _cookie(client.get("/put", params={"key": "a", "value": "1"}))["value"]
    with make_client(secret_key=["new-key", "old-key"]) as client:
        only_cookie(client, value)
        response = client.get("/get", params={"key": "a"})
        assert response.json()["value"] == "1"
        resigned = _cookie(response)["value"]  # an old key's cookie is re-signed on use
        only_cookie(client, resigned)
        assert client.get("/get", params={"key": "a"}).headers.get("set-cookie") is None
    assert CookieSigner("new-key").verify(resigned) is not None
    with make_client(secret_key="new-key") as client:  # the old key retired: still logged in
        only_cookie(client, resigned)
        assert client.get("/get", params={"key": "a"}).json()["value"] == "1"
    with make_client(secret_key=["new-key", "old-key"]) as client:
        only_cookie(client, resigned)
        rotated = _cookie(client.get("/login", params={"user": "u"}))["value"]
    assert CookieSigner("new-key").verify(rotated) is not None
    assert CookieSigner("old-key").verify(rotated) is None


# -- values -------------------------------------------------------------------------


def test_values_keep_their_exact_types(make_client: Any) -> None:
    with make_client() as client:
        client.get("/typed_store")
        checks = client.get("/typed_check").json()
    assert checks and all(checks.values()), checks


@pytest.mark.parametrize("what", ["value", "key"])
def test_unstorable_values_and_keys_raise_type_error_and_change_nothing(
    make_client: Any, what: str
) -> None:
    with make_client() as client:
        client.get("/put", params={"key": "a", "value": "1"})
        response = client.get("/unstorable", params={"what": what})
        assert response.status_code == 400
        assert response.json()["unchanged"] is True
        assert ("object" if what == "value" else "str") in response.json()["error"]
        assert client.get("/keys").json()["keys"] == ["a"]


def test_nested_mutation_is_saved_without_a_modified_flag(make_client: Any) -> None:
    with make_client() as client:
        client.get("/cart_add", params={"sku": "apple"})
        client.get("/cart_add", params={"sku": "apple"})
        client.get("/cart_add", params={"sku": "pear"})
        client.get("/cart_append", params={"sku": "x"})
        assert client.get("/cart_append", params={"sku": "y"}).json()["lines"] == ["x", "y"]
        cart = client.get("/get", params={"key": "cart"}).json()["value"]
    assert cart == {"items": {"apple": 2, "pear": 1}}


def test_only_changed_keys_are_written(make_client: Any, store: Any) -> None:
    counting = CountingStore(store)
    with make_client(store=counting) as client:
        client.get("/put", params={"key": "a", "value": "1"})
        client.get("/put", params={"key": "b", "value": "2"})
        counting.calls.clear()
        client.get("/incr", params={"key": "n"})
        client.get("/get", params={"key": "a"})
    saves = [args for name, args, _ in counting.calls if name in ("save", "asave")]
    assert len(saves) == 1
    changes = saves[0][1]
    assert set(changes.set) == {"n"} and list(changes.removed) == []


# -- size cap -----------------------------------------------------------------------


def test_assignment_over_the_cap_raises_and_keeps_the_previous_state(make_client: Any) -> None:
    with make_client(max_payload_bytes=1000) as client:
        client.get("/put", params={"key": "a", "value": "1"})
        response = client.get("/big", params={"size": "2000"})
        assert response.status_code == 413
        assert response.json()["has_key"] is False
        assert client.get("/keys").json()["keys"] == ["a"]


def test_nested_growth_over_the_cap_is_a_500_and_saves_nothing(
    make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with make_client(max_payload_bytes=1000) as client:
        client.get("/grow", params={"size": "100"})
        response = client.get("/grow", params={"size": "2000"})
        assert response.status_code == 500
        assert set_cookies(response) == []
        assert client.get("/get", params={"key": "blob"}).json()["value"] == ["x" * 100]
    assert "max_payload_bytes" in caplog.text


# -- timeouts -----------------------------------------------------------------------


def test_idle_timeout_ends_an_unused_session_server_side(make_client: Any) -> None:
    with make_client(idle_timeout=1) as client:
        value = _cookie(client.get("/put", params={"key": "a", "value": "1"}))["value"]
        time.sleep(1.3)
        only_cookie(client, value)  # the browser still holds the cookie
        assert client.get("/get", params={"key": "a"}).json() == {"value": None, "id": None}


def test_reads_count_as_activity(make_client: Any) -> None:
    def scenario() -> None:
        with make_client(idle_timeout=1.5) as client:
            slid = time.time()  # a request slides the expiry to at least this + 1.5 s
            client.get("/put", params={"key": "a", "value": "1"})
            for _ in range(3):  # 2.4 s in all: past the first expiry
                time.sleep(0.8)
                started = time.time()
                value = client.get("/get", params={"key": "a"}).json()["value"]
                if value != "1":
                    excuse(slid, 1.5, "from a request to the end of the next", seen=value)
                assert value == "1"
                slid = started

    paced(scenario)


def test_absolute_timeout_ends_even_an_active_session(make_client: Any) -> None:
    def scenario() -> None:
        with make_client(absolute_timeout=1.5) as client:
            created = time.time()
            client.get("/put", params={"key": "a", "value": "1"})
            time.sleep(0.8)
            assert client.get("/login", params={"user": "u"}).status_code == 200  # rotation
            value = client.get("/get", params={"key": "a"}).json()["value"]
            if value != "1":
                excuse(created, 1.5, "from the creation to the read after the rotation", value)
            assert value == "1"
            time.sleep(0.9)  # 1.7 s since creation: regenerate kept the creation time
            assert client.get("/get", params={"key": "a"}).json()["value"] is None

    paced(scenario)


# -- logout, login, flash -------------------------------------------------------------


@pytest.mark.parametrize("how", ["revoke", "logout"])
def test_a_change_whose_session_ended_meanwhile_answers_409(
    make_client: Any, store: Any, how: str
) -> None:
    """Another request ends the session between this one's load and its save: the
    change is not written (nor the session brought back), and the answer says so
    rather than a 200 that dropped it. A revoked session's cookie is expired; after
    a logout the logout's response has expired it already."""
    ending = EndsBeforeSaving(store, how)
    with make_client(store=ending) as client:
        client.get("/put", params={"key": "a", "value": "1"})
        ending.armed = True
        read = client.get("/get", params={"key": "a"})  # nothing to save: no conflict
        assert (read.status_code, read.json()["value"]) == (200, "1")
        lost = client.get("/incr")
        assert lost.status_code == 409, lost.text
        assert "send the request again" in lost.text
        assert "no-store" in lost.headers["cache-control"]
        expired = [c["max-age"] for c in set_cookies(lost)]
        assert expired == (["0"] if how == "revoke" else [])
        ending.armed = False
        assert client.get("/keys").json() == {"keys": [], "id": None}  # not brought back
        if how == "logout":  # what the logout's response did to the browser's cookie
            client.cookies.clear()
        again = client.get("/incr")
        assert (again.status_code, again.json()) == (200, {"value": 1})
        assert len(set_cookies(again)) == 1  # a new session


def test_logout_deletes_the_record_and_expires_the_cookie_alike(make_client: Any) -> None:
    with make_client(path="/", same_site="strict") as client:
        value = _cookie(client.get("/put", params={"key": "a", "value": "1"}))["value"]
        gone = _cookie(client.get("/logout"))
        assert gone["value"] == "" and gone["max-age"] == "0"
        assert gone["secure"] and gone["httponly"] and gone["path"] == "/"
        assert gone["samesite"].lower() == "strict"
        only_cookie(client, value)  # replaying the old cookie finds nothing
        assert client.get("/keys").json() == {"keys": [], "id": None}


def test_writes_after_logout_start_a_new_session(make_client: Any) -> None:
    with make_client() as client:
        old = _cookie(client.get("/put", params={"key": "a", "value": "1"}))["value"]
        new = _cookie(client.get("/logout", params={"flash": "You have been logged out"}))
        assert new["value"] and token_of(new["value"]) != token_of(old)
        assert client.get("/flashes").json()["flashes"] == [["info", "You have been logged out"]]
        assert client.get("/keys").json()["keys"] == []
        only_cookie(client, old)
        assert client.get("/keys").json() == {"keys": [], "id": None}


def test_regenerate_keeps_data_under_a_new_token_and_kills_the_old(make_client: Any) -> None:
    with make_client() as client:
        old = _cookie(client.get("/put", params={"key": "cart", "value": "3 items"}))["value"]
        old_id = client.get("/keys").json()["id"]
        login = client.get("/login", params={"user": "alice"})
        new = _cookie(login)["value"]
        assert token_of(new) != token_of(old)
        after = client.get("/keys").json()
        assert after["keys"] == ["cart", "user_id"] and after["id"] != old_id
        assert login.json()["id"] == old_id  # session.id names the stored record till saved
        only_cookie(client, old)
        assert client.get("/keys").json() == {"keys": [], "id": None}


def test_flash_messages_pop_in_order_and_by_category(make_client: Any) -> None:
    with make_client() as client:
        client.get("/flash", params={"msg": "one"})
        client.get("/flash", params={"msg": "bad", "category": "error"})
        client.get("/flash", params={"msg": "two"})
        errors = client.get("/flashes", params={"category": "error"}).json()["flashes"]
        assert errors == [["error", "bad"]]
        rest = client.get("/flashes").json()["flashes"]
        assert rest == [["info", "one"], ["info", "two"]]
        assert client.get("/flashes").json()["flashes"] == []


# -- failures -----------------------------------------------------------------------


@pytest.mark.parametrize("route", ["boom", "fail"])
def test_a_failed_request_saves_nothing(make_client: Any, route: str) -> None:
    with make_client() as client:
        response = client.get(f"/{route}")
        assert response.status_code == 500
        assert set_cookies(response) == []
        client.get("/put", params={"key": "a", "value": "1"})
        assert client.get(f"/{route}").status_code == 500
        assert client.get("/keys").json()["keys"] == ["a"]


@pytest.mark.parametrize("failing", ["load", "save", "create"])
def test_a_store_failure_is_a_503_never_a_silent_200(
    make_client: Any, store: Any, failing: str
) -> None:
    broken = CountingStore(store, fail={failing})
    with make_client(store=broken) as client:
        if failing != "create":
            broken.fail = set()
            client.get("/put", params={"key": "a", "value": "1"})
            broken.fail = {failing}
        response = client.get("/incr")
    assert response.status_code == 503
    assert set_cookies(response) == []
    assert "session store" in response.text


# -- headers for caches, lifetimes and partitioning (issues 9 and 10) ---------------------


def test_a_response_that_sets_the_cookie_is_never_stored_by_a_shared_cache(
    make_client: Any,
) -> None:
    with make_client() as client:
        written = client.get("/put", params={"key": "a", "value": "1"})
        assert _cookie(written)["value"]
        assert "no-store" in written.headers["cache-control"]
        assert "cookie" in written.headers["vary"].lower()
        read = client.get("/get", params={"key": "a"})
        assert set_cookies(read) == []
        assert "cookie" in read.headers["vary"].lower()  # it read the session
        assert "cache-control" not in read.headers  # sets nothing: the app decides
        logout = client.get("/logout")
        assert _cookie(logout)["max-age"] == "0" and "no-store" in logout.headers["cache-control"]


def test_a_persistent_cookie_never_outlives_the_absolute_deadline(make_client: Any) -> None:
    with make_client(max_age=3600, absolute_timeout=100) as client:
        cookie = _cookie(client.get("/put", params={"key": "a", "value": "1"}))
    assert 95 <= int(cookie["max-age"]) <= 100


def test_partitioned_adds_the_chips_attribute(make_client: Any) -> None:
    with make_client(partitioned=True) as client:
        response = client.get("/put", params={"key": "a", "value": "1"})
    (header,) = [h for h in response.headers.get_list("set-cookie") if h.startswith("session=")]
    assert "; Partitioned" in header and "; Secure" in header


# -- "remember me" per session (issue 10) ---------------------------------------------------


def test_remember_me_makes_one_sessions_cookie_persistent_and_can_be_undone(
    make_client: Any,
) -> None:
    with make_client(permanent_lifetime=7200, absolute_timeout=3600) as client:
        plain = _cookie(client.get("/put", params={"key": "a", "value": "1"}))
        assert "max-age" not in plain  # a browser-session cookie by default
        remembered = _cookie(client.get("/remember", params={"days": "0"}))
        assert 3590 <= int(remembered["max-age"]) <= 3600  # capped by absolute_timeout
        assert client.get("/get", params={"key": "a"}).json()["value"] == "1"
        forgotten = _cookie(client.get("/forget"))
        assert forgotten["value"] and "max-age" not in forgotten
    with make_client() as client:
        client.get("/put", params={"key": "a", "value": "1"})
        ten_days = _cookie(client.get("/remember", params={"days": "10"}))
        assert ten_days["max-age"] == str(10 * 86400)


def test_remember_me_keeps_the_stored_session_past_the_idle_timeout(make_client: Any) -> None:
    def scenario() -> None:
        with make_client(idle_timeout=1, permanent_lifetime=60) as client:
            started = time.time()  # until "remember me", a 1 s gap ends the session
            client.get("/put", params={"key": "a", "value": "1"})
            before = client.get("/get", params={"key": "a"}).json()["id"]
            client.get("/remember", params={"days": "0"})
            remembered = client.get("/get", params={"key": "a"}).json()["id"]
            settled = time.time()
            assert remembered != before  # choosing "remember me" rotates the id, as a login does
            for _ in range(2):  # each load slides the record by permanent_lifetime, not 1 s
                time.sleep(1.3)
                value = client.get("/get", params={"key": "a"}).json()["value"]
                if value != "1":
                    excuse(started, 1.0, "from the first request to remember me", value, settled)
                assert value == "1"
            client.get("/forget")  # undone: back to the idle timeout at once
            time.sleep(1.3)
            assert client.get("/get", params={"key": "a"}).json() == {"value": None, "id": None}

    paced(scenario)
