"""No silent failure on first contact (issue 10): warnings and clear errors over real apps."""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import Any

import flask
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from sessionware import (
    ConfigurationError,
    MemoryStore,
    SessionMiddleware,
    SessionNotLoaded,
    UnknownOption,
    WSGISessionMiddleware,
    cookies,
    responses,
)
from sessionware.flask import Sessionware

SECRET = "first-contact-secret-key-0123456789"


def starlette_app(**options: object) -> Starlette:
    async def put(request: Request) -> Response:
        request.session["n"] = request.session.get("n", 0) + 1
        return JSONResponse({"n": request.session["n"]})

    async def lazy(request: Request) -> Response:
        try:
            request.session.get("n")
        except SessionNotLoaded as error:
            return PlainTextResponse(f"{type(error).__name__}: {error}")
        return PlainTextResponse("no error")

    app = Starlette(routes=[Route("/put", put), Route("/lazy", lazy)])
    app.add_middleware(SessionMiddleware, secret_key=SECRET, **options)  # type: ignore[arg-type]
    return app


def test_memory_store_warns_once_at_start_up(caplog: pytest.LogCaptureFixture) -> None:
    store = MemoryStore()
    with caplog.at_level(logging.WARNING, logger="sessionware"):
        SessionMiddleware(starlette_app(), secret_key=SECRET, store=store)
        SessionMiddleware(starlette_app(), secret_key=SECRET, store=store)  # same store: quiet
        WSGISessionMiddleware(lambda e, s: [], secret_key=SECRET)  # the default store warns
    warnings = [r.getMessage() for r in caplog.records if "inside this one process" in r.message]
    assert len(warnings) == 2
    assert "RedisStore" in warnings[0] and "--workers" in warnings[0]


def test_sessions_turned_off_keep_the_memory_store_warning_quiet(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = flask.Flask("off")
    app.config.update(SECRET_KEY=SECRET, SESSIONWARE_ENABLED=False)
    with caplog.at_level(logging.WARNING, logger="sessionware"):
        SessionMiddleware(starlette_app(), secret_key=SECRET, enabled=False)
        WSGISessionMiddleware(lambda e, s: [], secret_key=SECRET, enabled=False)
        Sessionware(app)
    assert [r.getMessage() for r in caplog.records if "inside this one process" in r.message] == []


@pytest.mark.parametrize("shell", ["asgi", "wsgi"])
def test_the_store_class_instead_of_an_instance_is_a_clear_error(shell: str) -> None:
    with pytest.raises(ConfigurationError, match=r"store=MemoryStore is the class.*MemoryStore\("):
        if shell == "asgi":
            SessionMiddleware(starlette_app(), secret_key=SECRET, store=MemoryStore)  # type: ignore[arg-type]
        else:
            WSGISessionMiddleware(lambda e, s: [], secret_key=SECRET, store=MemoryStore)  # type: ignore[arg-type]


def test_autoload_false_raises_the_same_error_with_or_without_a_cookie() -> None:
    store = MemoryStore()
    writer = TestClient(starlette_app(store=store, secure=False))
    writer.get("/put")
    lazy = TestClient(starlette_app(store=store, secure=False, autoload=False))
    without = lazy.get("/lazy").text
    lazy.cookies.set("session", writer.cookies["session"])
    with_cookie = lazy.get("/lazy").text
    assert without.startswith("SessionNotLoaded: ") and "load()" in without
    assert with_cookie == without


def test_a_secure_cookie_over_plain_http_warns_once_per_host(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = starlette_app(store=MemoryStore())
    responses._warned_hosts.clear()
    with caplog.at_level(logging.WARNING, logger="sessionware"):
        for host in ("shop.example", "shop.example", "localhost", "127.0.0.1:8000"):
            TestClient(app, base_url=f"http://{host}").get("/put")
        TestClient(app, base_url="https://secure.example").get("/put")
    warned = [r.getMessage() for r in caplog.records if "plain-http" in r.message]
    assert len(warned) == 1
    assert "'shop.example'" in warned[0] and "--proxy-headers" in warned[0]
    assert "TestClient" not in warned[0]
    caplog.clear()  # a test client's own host: the warning names its fix
    with caplog.at_level(logging.WARNING, logger="sessionware"):
        TestClient(app).get("/put")  # Starlette's default: http://testserver
    (warned_test,) = [r.getMessage() for r in caplog.records if "plain-http" in r.message]
    assert 'TestClient(app, base_url="https://testserver")' in warned_test


def test_no_dropped_cookie_warning_for_hosts_that_require_https_counts_as_local(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Browsers keep Secure cookies for *.localhost and loopback pages: require_https lets
    such a write through, and the warning must not then say every browser drops it."""
    app = starlette_app(store=MemoryStore(), require_https=True)
    responses._warned_hosts.clear()
    with caplog.at_level(logging.WARNING, logger="sessionware"):
        for host in ("app.localhost", "app.localhost:8000", "127.0.0.2:8000", "[::1]:8000"):
            with TestClient(app, base_url=f"http://{host}", client=("127.0.0.1", 40000)) as c:
                assert c.get("/put").status_code == 200, host
    assert not [r.getMessage() for r in caplog.records if "plain-http" in r.message]


def test_the_insecure_warning_also_comes_from_flask(caplog: pytest.LogCaptureFixture) -> None:
    app = flask.Flask(__name__)
    Sessionware(app, secret_key=SECRET)

    @app.get("/put")
    def put() -> str:
        flask.session["n"] = 1
        return "ok"

    responses._warned_hosts.clear()
    with caplog.at_level(logging.WARNING, logger="sessionware"):
        app.test_client().get("/put", base_url="http://flask.example")
    assert any("'flask.example'" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("shell", ["asgi", "flask"])
def test_a_script_getting_a_secure_cookie_over_local_http_is_told_once(
    shell: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Browsers keep a Secure cookie from http://localhost; httpx and requests never send
    one back over http, so a script against a local server starts a new session each
    time, in silence (three first-contact trials met this)."""
    if shell == "asgi":
        app = starlette_app(store=MemoryStore())

        def put(host: str, agent: str) -> None:
            TestClient(app, base_url=f"http://{host}").get("/put", headers={"user-agent": agent})
    else:
        flask_app = flask.Flask(__name__)
        Sessionware(flask_app, secret_key=SECRET)
        flask_app.add_url_rule("/put", "put", lambda: flask.session.update(n=1) or "ok")

        def put(host: str, agent: str) -> None:
            flask_app.test_client().get(
                "/put", base_url=f"http://{host}", headers={"user-agent": agent}
            )

    responses._warned_client[0] = False
    firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
    with caplog.at_level(logging.WARNING, logger="sessionware"):
        put("localhost:8000", firefox)  # a browser: it keeps the cookie, nothing to say
        put("127.0.0.1:8000", "Werkzeug/3.1.9")  # Flask's test client keeps it too
        put("127.0.0.1:8000", "curl/7.88.1")  # and curl's cookie jar
        assert "most likely will not" not in caplog.text
        put("127.0.0.1:8000", "python-httpx/0.28.1")
        put("127.0.0.1:8000", "python-requests/2.32.3")
    warned = [r.getMessage() for r in caplog.records if "most likely will not" in r.message]
    assert len(warned) == 1 and "'python-httpx/0.28.1'" in warned[0]
    assert "secure=False" in warned[0]


def test_a_request_with_no_user_agent_at_all_is_not_warned_about(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Flask's session_transaction() makes such a request: a test tool, not a script."""
    responses._warned_client[0] = False
    with caplog.at_level(logging.WARNING, logger="sessionware"):
        responses.warn_if_cookie_will_be_dropped(True, "http", "127.0.0.1:5000", None)
    assert "most likely will not" not in caplog.text and not responses._warned_client[0]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_store_outage_logs_one_line_per_request_and_one_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from sessionware import RedisStore

    store = RedisStore.from_url(f"redis://127.0.0.1:{_closed_port()}", prefix="swtest:none:")
    client = TestClient(starlette_app(store=store, secure=False))
    responses._last_traceback[0] = float("-inf")
    with caplog.at_level(logging.ERROR, logger="sessionware"):
        statuses = [client.get("/put").status_code for _ in range(3)]
    assert statuses == [503, 503, 503]
    failures = [r for r in caplog.records if "store failed" in r.message]
    assert len(failures) == 3
    assert [r.exc_info is not None for r in failures] == [True, False, False]
    assert all("saving" in r.getMessage() or "loading" in r.getMessage() for r in failures)


@pytest.fixture
def unwarned() -> None:
    """A process that has warned about no key yet (the warning is once per key)."""
    cookies._warned_weak.clear()


@pytest.mark.parametrize("shell", ["asgi", "wsgi", "flask"])
def test_a_guessable_secret_key_is_warned_about_once(
    shell: str, caplog: pytest.LogCaptureFixture, unwarned: None
) -> None:
    weak = "change me"
    with caplog.at_level(logging.WARNING, logger="sessionware"):
        for _ in range(2):
            if shell == "asgi":
                SessionMiddleware(starlette_app(), secret_key=weak, store=MemoryStore())
            elif shell == "wsgi":
                WSGISessionMiddleware(lambda e, s: [], secret_key=weak, store=MemoryStore())
            else:
                app = flask.Flask(__name__)
                app.secret_key = weak
                Sessionware(app, store=MemoryStore())
    warned = [r.getMessage() for r in caplog.records if "guess" in r.message]
    assert len(warned) == 1, warned
    assert "secret_key is shorter than 32 bytes" in warned[0]
    assert "token_urlsafe(32)" in warned[0]
    assert weak not in caplog.text and "9" not in warned[0]  # nor the key, nor its length


def test_a_strong_secret_key_and_a_plain_long_one(
    caplog: pytest.LogCaptureFixture, unwarned: None
) -> None:
    import secrets

    strong, plain = secrets.token_urlsafe(32), "ab" * 20  # 43 random bytes; 40 of 2 values
    with caplog.at_level(logging.WARNING, logger="sessionware"):
        SessionMiddleware(starlette_app(), secret_key=strong, store=MemoryStore())
        assert "guess" not in caplog.text
        SessionMiddleware(starlette_app(), secret_key=[strong, plain], store=MemoryStore())
    (warned,) = [r.getMessage() for r in caplog.records if "guess" in r.message]
    assert "older signing key number 1" in warned and "fewer than 5 distinct bytes" in warned


def test_flask_fallback_keys_and_a_config_file_without_a_key(
    caplog: pytest.LogCaptureFixture, unwarned: None, tmp_path: Path
) -> None:
    import secrets

    app = flask.Flask(__name__)
    app.secret_key = secrets.token_urlsafe(32)
    app.config["SECRET_KEY_FALLBACKS"] = ["old-key"]
    with caplog.at_level(logging.WARNING, logger="sessionware"):
        Sessionware(app, store=MemoryStore())
    (warned,) = [r.getMessage() for r in caplog.records if "guess" in r.message]
    assert "SECRET_KEY_FALLBACKS" in warned
    caplog.clear()
    config = tmp_path / "sessionware.toml"
    config.write_text("[sessions]\nidle_timeout = 600\n")
    with caplog.at_level(logging.WARNING, logger="sessionware"):  # the file names no key
        SessionMiddleware.from_config(
            starlette_app(), config, secret_key=secrets.token_urlsafe(32), store=MemoryStore()
        )
    assert "guess" not in caplog.text  # the check of the file's options used no weak key


def test_a_shorter_max_age_is_the_idle_timeout_unless_one_is_given() -> None:
    from sessionware.core import SessionConfig

    def idle(**options: object) -> float | None:
        return SessionConfig.build(secret_key=SECRET, **options).idle_seconds  # type: ignore[arg-type]

    assert idle() == 30 * 86400
    assert idle(max_age=3600) == 3600  # Starlette's max_age also ended the session
    assert idle(max_age=90 * 86400) == 30 * 86400  # never lengthened
    assert idle(max_age=3600, idle_timeout=7200) == 7200  # given: kept as given
    assert idle(max_age=3600, idle_timeout=None) is None


def test_a_replayed_cookie_past_max_age_finds_no_session() -> None:
    import time

    store = MemoryStore()
    with TestClient(starlette_app(store=store, max_age=1), base_url="https://testserver") as c:
        assert c.get("/put").json() == {"n": 1}
        cookie = c.cookies["session"]
        time.sleep(1.5)  # the browser would have dropped it; a replay must not work either
        c.cookies.clear()
        c.cookies.set("session", cookie)
        assert c.get("/put").json() == {"n": 1}  # a fresh session, not n == 2


def test_a_revoked_sessions_cookie_is_no_sign_of_a_second_worker(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The store keeps the revoked session's tombstone: the cookie that names it is an
    ordinary ended session here, not one another worker made. The warning about
    workers stays for the case it explains."""
    from sessionware import SessionManager

    store = MemoryStore()
    with (
        caplog.at_level(logging.WARNING, logger="sessionware"),
        TestClient(starlette_app(store=store), base_url="https://testserver") as c,
    ):
        c.get("/put")
        (info,) = SessionManager(store).list().items
        assert SessionManager(store).revoke(info.id, actor="ops")
        assert c.get("/put").json() == {"n": 1}  # a fresh session
    assert not [r for r in caplog.records if "does not hold" in r.getMessage()]


@pytest.mark.parametrize("shell", ["asgi", "wsgi"])
def test_a_signed_cookie_the_in_process_store_lacks_is_explained_once(
    shell: str, caplog: pytest.LogCaptureFixture
) -> None:
    """What a second worker on MemoryStore looks like: another process's valid cookie."""
    elsewhere, here = MemoryStore(), MemoryStore()
    if shell == "asgi":
        made, served = (starlette_app(store=s) for s in (elsewhere, here))
    else:

        def counter(environ: dict[str, object], start_response: object) -> list[bytes]:
            session = environ["sessionware.session"]
            session["n"] = session.get("n", 0) + 1  # type: ignore[attr-defined]
            start_response("200 OK", [("Content-Type", "text/plain")])  # type: ignore[operator]
            return [str(session["n"]).encode()]  # type: ignore[index]

        made, served = (
            WSGISessionMiddleware(counter, secret_key=SECRET, store=s) for s in (elsewhere, here)
        )

    def client(app: object) -> Any:
        if shell == "asgi":
            return TestClient(app, base_url="https://testserver")  # type: ignore[arg-type]
        transport = httpx.WSGITransport(app=app)  # type: ignore[arg-type]
        return httpx.Client(transport=transport, base_url="https://testserver")

    with client(made) as first:
        first.get("/put")
        cookie = first.cookies["session"]
    with caplog.at_level(logging.WARNING, logger="sessionware"), client(served) as second:
        for _ in range(2):
            second.cookies.clear()
            second.cookies.set("session", cookie)
            assert second.get("/put").status_code == 200  # a fresh session, no error
    (warned,) = [r.getMessage() for r in caplog.records if "does not hold" in r.message]
    assert "another worker" in warned and "RedisStore" in warned


def test_starlettes_option_names_are_refused_with_ours() -> None:
    """Only the import changed, in a Starlette app moving to sessionware."""
    with pytest.raises(
        UnknownOption, match=r"https_only \(use secure\); session_cookie \(use cook"
    ):
        SessionMiddleware(starlette_app(), secret_key=SECRET, session_cookie="s", https_only=False)
    # starsessions' lifetime (rolling=False) is a fixed end: absolute_timeout, not idle_timeout
    with pytest.raises(TypeError, match=r"lifetime \(use absolute_timeout"):  # still a TypeError
        SessionMiddleware(starlette_app(), secret_key=SECRET, lifetime=3600)
    app = Starlette(routes=[])
    app.add_middleware(SessionMiddleware, secret_key=SECRET, session_cookie="s")  # type: ignore[call-arg]
    with pytest.raises(UnknownOption, match="cookie_name"), TestClient(app):
        pass  # Starlette builds its middleware at start-up: the error comes then


def test_the_option_check_leaves_subclasses_and_copies_alone() -> None:
    import copy

    class Extended(SessionMiddleware):
        def __init__(self, app: object, *, extra: int = 0, **options: object) -> None:
            super().__init__(app, **options)  # type: ignore[arg-type]
            self.extra = extra

    made = Extended(starlette_app(), secret_key=SECRET, store=MemoryStore(), extra=2)
    assert made.extra == 2  # its own option is its own business
    plain = SessionMiddleware(starlette_app(), secret_key=SECRET, store=MemoryStore())
    assert copy.copy(plain).config is plain.config


def test_flask_lifetime_and_a_shorter_max_age() -> None:
    import datetime as dt

    app = flask.Flask(__name__)
    app.secret_key = SECRET
    app.config["PERMANENT_SESSION_LIFETIME"] = dt.timedelta(days=7)
    app.config["SESSIONWARE_MAX_AGE"] = 3600
    Sessionware(app, store=MemoryStore())
    assert app.session_interface.config.idle_seconds == 3600  # type: ignore[attr-defined]


def _logout_by_cookie_apps() -> dict[str, Any]:
    """The logout of cookie sessions, carried over: the app expires the cookie itself."""

    async def login(request: Request) -> Response:
        request.session["user"] = "ada"
        return PlainTextResponse("in")

    async def logout(request: Request) -> Response:
        response = PlainTextResponse("out")
        response.delete_cookie("session")
        return response

    asgi = Starlette(routes=[Route("/login", login), Route("/logout", logout)])
    asgi.add_middleware(SessionMiddleware, secret_key=SECRET, store=MemoryStore())

    def wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        headers = [("Content-Type", "text/plain")]
        if environ["PATH_INFO"] == "/login":
            environ["sessionware.session"]["user"] = "ada"
        else:
            headers.append(("Set-Cookie", "session=; Max-Age=0; Path=/"))
        start_response("200 OK", headers)
        return [b"ok"]

    wsgi = WSGISessionMiddleware(wsgi_app, secret_key=SECRET, store=MemoryStore())

    app = flask.Flask(__name__)
    app.secret_key = SECRET
    Sessionware(app, store=MemoryStore())

    @app.route("/login")
    def flask_login() -> str:
        flask.session["user"] = "ada"
        return "in"

    @app.route("/logout")
    def flask_logout() -> Any:
        response = flask.make_response("out")
        response.delete_cookie("session")
        return response

    return {"asgi": asgi, "wsgi": wsgi, "flask": app}


@pytest.mark.parametrize("shell", ["asgi", "wsgi", "flask"])
def test_an_app_that_sets_the_session_cookie_itself_is_warned_once(
    shell: str, caplog: pytest.LogCaptureFixture
) -> None:
    """``response.delete_cookie("session")`` ends a cookie session; here the stored
    session outlives it, and a copy of the cookie still opens it: say so."""
    app = _logout_by_cookie_apps()[shell]
    responses._warned_app_cookie.clear()

    async def run() -> None:
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="https://t.test") as c:
            await c.get("/login")
            assert "sets the session cookie" not in caplog.text  # (our own cookie: no)
            for _ in range(2):
                await c.get("/logout")

    if shell == "asgi":
        import anyio

        anyio.run(run)
    else:
        transport = httpx.WSGITransport(app=app)
        with httpx.Client(transport=transport, base_url="https://t.test") as c:
            c.get("/login")
            assert "sets the session cookie" not in caplog.text
            for _ in range(2):
                c.get("/logout")
    assert caplog.text.count("the app's response sets the session cookie 'session'") == 1
    assert "call session.clear()" in caplog.text


def test_the_secret_key_may_come_by_position_as_starlettes_middleware_takes_it() -> None:
    """``app.add_middleware(SessionMiddleware, "secret")``, Starlette's signature: a bare
    TypeError before; every other option stays a keyword (a positional store is not
    silently taken for something else)."""

    async def put(request: Request) -> Response:
        request.session["n"] = request.session.get("n", 0) + 1
        return JSONResponse({"n": request.session["n"]})

    app = Starlette(routes=[Route("/put", put)])
    app.add_middleware(SessionMiddleware, SECRET, store=MemoryStore())
    with TestClient(app, base_url="https://testserver") as c:
        assert c.get("/put").json() == {"n": 1}
        assert c.get("/put").json() == {"n": 2}

    def hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        return [b"ok"]

    assert WSGISessionMiddleware(hello, SECRET, store=MemoryStore()).config is not None
    with pytest.raises(TypeError):
        SessionMiddleware(app, SECRET, MemoryStore())  # type: ignore[misc]
