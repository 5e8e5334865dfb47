"""``{% session key = value %}``, ``{{ session.key }}`` and ``{{ context.session.key }}``
under Starlette's Jinja2Templates and Flask, over real requests."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import flask
import httpx
import jinja2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.templating import Jinja2Templates
from starlette.testclient import TestClient

from sessionware import SessionMiddleware
from sessionware.flask import Sessionware
from sessionware.jinja import SessionExtension, SessionTagError, stream

from .helpers import set_cookies

TEMPLATES = {
    "set.html": (
        "{% session cart_id = 42 %}{% session wizard_step = step %}"
        "{% session tags = ['a', 'b'] %}{% session price = 9.5 %}{% session seen = true %}"
        "{% session note = none %}set"
    ),
    "get.html": (
        "{{ context.session.cart_id }}|{{ session.cart_id }}|{{ session.wizard_step }}"
        "|{{ session.tags }}|{{ context.session.missing }}|"
    ),
    "bad.html": "line one\n{% session widget = widget %}",
    "undefined.html": "{% session gift = nothing_by_that_name %}",
    "stream.html": "{% session early = 'saved' %}<p>first</p>{% session late = 'lost' %}<p>end</p>",
}
EXPECTED_TYPES = {
    "cart_id": ["int", 42],
    "wizard_step": ["int", 2],
    "tags": ["list", ["a", "b"]],
    "price": ["float", 9.5],
    "seen": ["bool", True],
    "note": ["NoneType", None],
}


def typed(session: Any) -> dict[str, list[Any]]:
    return {key: [type(value).__name__, value] for key, value in session.items()}


# -- Starlette -----------------------------------------------------------------------


def starlette_app(**options: Any) -> Starlette:
    environment = jinja2.Environment(loader=jinja2.DictLoader(TEMPLATES), autoescape=True)
    environment.add_extension(SessionExtension)
    templates = Jinja2Templates(env=environment)

    async def page(request: Request) -> Response:
        name = request.path_params["name"]
        extra = {"step": int(request.query_params.get("step", 0)), "widget": object()}
        return templates.TemplateResponse(request, f"{name}.html", extra)

    async def types(request: Request) -> JSONResponse:
        return JSONResponse(typed(request.session))

    async def streamed(request: Request) -> StreamingResponse:
        template = templates.get_template("stream.html")
        if "lazy" in request.query_params:  # Jinja's own generator: renders after the headers
            return StreamingResponse(template.generate(request=request))
        return StreamingResponse(stream(template, request=request))

    app = Starlette(
        routes=[
            Route("/types", types),
            Route("/stream", streamed),
            Route("/page/{name}", page),
        ]
    )
    return SessionMiddleware(app, secret_key="k", **options)  # type: ignore[return-value]


def test_starlette_an_unstorable_value_is_a_template_error_naming_the_key() -> None:
    with (
        TestClient(starlette_app(), base_url="https://testserver") as client,
        pytest.raises(SessionTagError) as caught,
    ):
        client.get("/page/bad")
    error = caught.value
    assert isinstance(error, jinja2.TemplateRuntimeError) and error.key == "widget"
    assert str(error).startswith("template 'bad.html', line 2: {% session widget = ... %}: ")
    assert "'widget'" in str(error) and "object" in str(error)
    with pytest.raises(SessionTagError, match="the value is undefined"):
        client.get("/page/undefined")


def test_starlette_a_failed_template_saves_nothing() -> None:
    app = starlette_app()
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as client:
        client.get("/page/set?step=1")
        response = client.get("/page/bad")
        assert response.status_code == 500 and set_cookies(response) == []
        assert "widget" not in client.get("/types").json()


def test_the_tag_meets_disabled_sessions_with_their_own_error() -> None:
    app = starlette_app(enabled=False)
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as client:
        assert client.get("/page/get").text == "|||||"
        assert client.get("/page/set?step=1").status_code == 500


# -- Flask ---------------------------------------------------------------------------


def flask_app() -> flask.Flask:
    app = flask.Flask("jinja")
    app.jinja_loader = jinja2.DictLoader(TEMPLATES)
    app.jinja_env.add_extension(SessionExtension)
    Sessionware(app, secret_key="k")

    @app.get("/page/<name>")
    def page(name: str) -> tuple[str, int]:
        try:
            step = int(flask.request.args.get("step", 0))
            return flask.render_template(f"{name}.html", step=step, widget=object()), 200
        except SessionTagError as error:
            return str(error), 400

    @app.get("/types")
    def types() -> dict[str, Any]:
        return typed(flask.session)

    @app.get("/stream")
    def streamed() -> flask.Response:
        if "lazy" in flask.request.args:
            return flask.Response(flask.stream_template("stream.html"))
        chunks = stream(app.jinja_env.get_template("stream.html"))
        return flask.Response(flask.stream_with_context(chunks))

    return app


def test_flask_an_unstorable_value_is_a_template_error_and_nothing_is_saved() -> None:
    transport = httpx.WSGITransport(app=flask_app())
    with httpx.Client(transport=transport, base_url="https://testserver") as client:
        client.get("/page/set?step=1")
        response = client.get("/page/bad")
        assert response.status_code == 400
        assert response.text.startswith("template 'bad.html', line 2: {% session widget = ...")
        assert "widget" not in client.get("/types").json()


# -- both ----------------------------------------------------------------------------


@pytest.fixture(params=["starlette", "flask"])
def web(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A client of the same templates under Starlette or Flask."""
    if request.param == "starlette":
        with TestClient(starlette_app(), base_url="https://testserver") as client:
            yield client
        return
    transport = httpx.WSGITransport(app=flask_app())
    with httpx.Client(transport=transport, base_url="https://testserver") as client:
        yield client


def test_the_tag_writes_with_types_kept_and_both_spellings_read(web: Any) -> None:
    response = web.get("/page/set?step=2")
    assert response.text == "set" and len(set_cookies(response)) == 1
    assert web.get("/types").json() == EXPECTED_TYPES
    assert web.get("/page/get").text == "42|42|2|[&#39;a&#39;, &#39;b&#39;]||"


def test_stream_saves_writes_made_before_the_first_output(
    web: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "sessionware"):
        response = web.get("/stream")
    assert response.text == "<p>first</p><p>end</p>" and len(set_cookies(response)) == 1
    assert web.get("/types").json() == {"early": ["str", "saved"]}
    assert "'late' changed after the response started" in caplog.text


def test_a_lazily_streamed_template_renders_after_the_session_was_saved(
    web: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Jinja's generate() (Starlette) and flask.stream_template render as the body goes
    out, after the headers: their writes cannot be saved, and are logged."""
    with caplog.at_level(logging.WARNING, "sessionware"):
        response = web.get("/stream?lazy=1")
    assert response.text == "<p>first</p><p>end</p>" and set_cookies(response) == []
    assert "'early' changed after the response started" in caplog.text


def test_a_template_without_a_session_says_what_to_install() -> None:
    environment = jinja2.Environment(extensions=[SessionExtension])
    with pytest.raises(SessionTagError, match="found no session: install sessionware"):
        environment.from_string("{% session a = 1 %}").render()
    assert environment.from_string("[{{ session }}]").render() == "[]"


def test_a_macro_imported_without_the_context_is_told_how_to_import_it() -> None:
    """Jinja's import passes a macro no variables: its tag finds no request, and the
    error says to import the macro ``with context`` (which then works)."""
    loader = jinja2.DictLoader(
        {
            "lib.html": "{% macro put(v) %}{% session lib = v %}{% endmacro %}",
            "bare.html": '{% import "lib.html" as lib %}{{ lib.put(3) }}',
            "ctx.html": '{% import "lib.html" as lib with context %}{{ lib.put(3) }}'
            "{{ session.lib }}",
        }
    )
    templates = Jinja2Templates(
        env=jinja2.Environment(loader=loader, extensions=[SessionExtension])
    )

    async def page(request: Request) -> Response:
        return templates.TemplateResponse(request, request.query_params["t"], {})

    app = Starlette(routes=[Route("/", page)])
    app.add_middleware(SessionMiddleware, secret_key="k" * 40)
    with TestClient(app, base_url="https://testserver") as client:
        with pytest.raises(SessionTagError, match=r"import 'macros\.html' as m with context"):
            client.get("/", params={"t": "bare.html"})
        assert client.get("/", params={"t": "ctx.html"}).text == "3"


def test_flask_the_tag_outside_a_request_says_it_found_no_session() -> None:
    """An email or a command rendered in an app context alone: Flask's session proxy
    raised "Working outside of request context" where the tag's own advice belongs."""
    app = flask.Flask(__name__)
    app.config["SECRET_KEY"] = "k" * 40
    Sessionware(app)
    app.jinja_env.add_extension(SessionExtension)
    with app.app_context(), pytest.raises(SessionTagError, match="found no session"):
        flask.render_template_string("{% session a = 1 %}")


def test_flask_secret_key_fallbacks_given_as_one_string_is_refused() -> None:
    """A str was spread into one-character signing keys, each of which verified cookies."""
    from sessionware import ConfigurationError

    app = flask.Flask(__name__)
    app.config.update(SECRET_KEY="k" * 40, SECRET_KEY_FALLBACKS="old-flask-secret-" + "x" * 30)
    with pytest.raises(ConfigurationError, match="SECRET_KEY_FALLBACKS'] is one string"):
        Sessionware(app)  # (at start-up, not at the first request)
