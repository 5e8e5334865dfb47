"""cookies: tokens, ids, signing with rotation, bounded parsing, Set-Cookie."""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Any

import pytest

from sessionware import ConfigurationError, MemoryStore
from sessionware.cookies import (
    MAX_CANDIDATES,
    CookieSettings,
    CookieSigner,
    cookie_values,
    new_token,
    public_id,
)
from sessionware.core import SessionConfig

from .helpers import parse_set_cookie
from .shells import SHELLS, shell_client


def visit(session: Any, path: str, params: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
    session["visits"] = session.get("visits", 0) + 1
    return 200, {"visits": session["visits"]}, {}


def test_tokens_are_256_bit_and_unique() -> None:
    tokens = {new_token() for _ in range(1000)}
    assert len(tokens) == 1000
    assert all(len(t) == 43 for t in tokens)  # 32 bytes in URL-safe base64


def test_public_id_is_a_hash_not_the_token() -> None:
    token = new_token()
    assert public_id(token) == hashlib.sha256(token.encode()).hexdigest()[:32]
    assert token not in public_id(token)


def test_sign_and_verify() -> None:
    signer = CookieSigner("k")
    token = new_token()
    verified = signer.verify(signer.sign(token))
    assert verified is not None and verified[0] == token


def test_tampering_is_rejected() -> None:
    signer = CookieSigner("k")
    value = signer.sign(new_token())
    middle = len(value) - 10  # inside the signature: every bit of it counts
    assert (
        signer.verify(value[:middle] + ("A" if value[middle] != "A" else "B") + value[middle + 1 :])
        is None
    )
    # The last character holds 2 bits base64 ignores: 'A' and 'B' there decode alike.
    # Only the canonical form is accepted, so a cookie has no twin that also verifies.
    token = "A" * 43
    while not (value := signer.sign(token)).endswith("A"):
        token = new_token()
    assert signer.verify(value) is not None
    assert signer.verify(value[:-1] + "B") is None
    assert signer.verify(new_token() + value[43:]) is None  # another token, same signature


def test_rotation_signs_with_the_first_key_and_verifies_all() -> None:
    old, new = CookieSigner("old"), CookieSigner(["new", "old"])
    assert new.verify(old.sign(new_token())) is not None
    assert CookieSigner("new").verify(new.sign(new_token())) is not None
    assert old.verify(new.sign(new_token())) is None


def test_a_remembered_sessions_cookie_says_so_under_every_key() -> None:
    old, new = CookieSigner("old"), CookieSigner(["new", "old"])
    token = new_token()
    plain, remembered = new.verify(new.sign(token)), new.verify(new.sign(token, permanent=True))
    assert plain is not None and remembered is not None
    assert (plain.permanent, remembered.permanent) == (False, True)
    assert remembered.token == token and remembered.current_key
    by_old_key = new.verify(old.sign(token, permanent=True))
    assert by_old_key is not None and by_old_key.permanent and not by_old_key.current_key
    assert CookieSigner("other").verify(new.sign(token, permanent=True)) is None


@pytest.mark.parametrize("bad", ["", [], [""], [1], None, 5, ...])
def test_bad_secret_keys_are_configuration_errors(bad: object) -> None:
    with pytest.raises(ValueError, match="secret_key"):
        CookieSigner(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("keys", "kind"),
    [
        ({"k": "x" * 43}, "a dict"),
        ({"x" * 43, "y" * 43}, "a set"),
        (frozenset({"x" * 43}), "a set"),
    ],
)
def test_a_dict_or_a_set_of_keys_is_refused_saying_why(keys: object, kind: str) -> None:
    """A dict's keys would be taken for the secrets (b"k": one byte), and a set has
    no order to say which key is the newest, the one that signs."""
    with pytest.raises(ConfigurationError, match=f"secret_key is {kind}"):
        SessionConfig.build(secret_key=keys)  # type: ignore[arg-type]


@pytest.mark.parametrize("flag", ["secure", "http_only", "autoload", "enabled", "require_https"])
@pytest.mark.parametrize("value", ["false", "0", 0, None])
def test_a_flag_that_is_not_a_bool_is_refused(flag: str, value: object) -> None:
    """ "false" from a file or the environment is truthy: taken as True, it would
    silently do the opposite of what was written."""
    with pytest.raises(ConfigurationError, match=f"{flag} must be True or False"):
        SessionConfig.build(secret_key="k" * 40, **{flag: value})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "said"),
    [
        ({"refresh_each_request": "yes"}, "refresh_each_request must be True, False or None"),
        ({"max_age": 10**12}, "; None means a browser-session cookie"),
        ({"idle_timeout": 10**12}, "; None means no expiry"),
        # None would leave a remembered session's cookie no lifetime at all (it was 1 s)
        ({"permanent_lifetime": None}, "permanent_lifetime must be a duration"),
        ({"permanent_lifetime": 10**12}, "up to 100 years, got 1000000000000"),  # (no None)
    ],
)
def test_duration_and_flag_options_say_what_none_means(options: dict[str, Any], said: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        SessionConfig.build(secret_key="k" * 40, **options)
    assert said in str(refused.value)
    if options.get("permanent_lifetime"):  # it takes no None: none offered
        assert "None means" not in str(refused.value)


def test_secret_never_shows_in_repr() -> None:
    assert "hunter2" not in repr(CookieSigner("hunter2"))
    assert "hunter2" not in repr(SessionConfig.build(secret_key="hunter2"))


def test_cookie_values_finds_every_named_cookie_in_order() -> None:
    headers = ["a=1; session=x; sessionx=y", "session=z"]
    assert cookie_values(headers, "session") == ["x", "z"]


def test_hostile_headers_cost_bounded_verification(monkeypatch: pytest.MonkeyPatch) -> None:
    config = SessionConfig.build(secret_key="k")
    hmacs: list[bytes] = []
    algorithm = config.signer._signer.algorithm
    real = algorithm.verify_signature
    monkeypatch.setattr(
        algorithm, "verify_signature", lambda k, v, s: hmacs.append(v) or real(k, v, s)
    )
    shaped = CookieSigner("other").sign(new_token())  # our shape, another key
    dotted = "A" * 43 + ".x.y.z"  # a token's length, but a dot too many: not our shape
    header = "; ".join(["session=" + "A" * 100, "session=" + dotted, "session=" + shaped] * 9999)
    assert config.session_for([header]).id is None
    # junk costs no HMAC; shaped values are capped, each tried as a plain and a remembered cookie
    assert len(hmacs) == 2 * MAX_CANDIDATES
    assert cookie_values(["session=" + "A" * 100_000], "session") == []


def test_junk_cookies_do_not_hide_a_valid_one() -> None:
    config = SessionConfig.build(secret_key="k")
    valid = config.signer.sign(new_token())
    header = "; ".join(["session=junk"] * 10 + ["session=" + valid])
    assert config.session_for([header])._token == valid.split(".")[0]


def test_set_cookie_defaults_are_secure_and_a_browser_session() -> None:
    parsed = parse_set_cookie(CookieSettings().set_cookie("v"))
    assert parsed["secure"] and parsed["httponly"]
    assert parsed["samesite"] == "Lax" and parsed["path"] == "/"
    assert "max-age" not in parsed and "expires" not in parsed


def test_expiring_cookie_keeps_the_attributes() -> None:
    settings = CookieSettings(domain="example.com", path="/app", same_site="strict", max_age=60)
    parsed = parse_set_cookie(settings.expire_cookie())
    assert parsed["value"] == "" and parsed["max-age"] == "0"
    assert parsed["domain"] == "example.com" and parsed["path"] == "/app"
    assert parsed["samesite"] == "Strict" and parsed["secure"] and parsed["httponly"]


@pytest.mark.parametrize(
    "options",
    [
        {"same_site": "none", "secure": False},
        {"same_site": "sideways"},
        {"name": "__Host-s", "domain": "example.com"},
        {"name": "__Host-s", "path": "/app"},
        {"name": "__Host-s", "secure": False},
        {"name": "__Secure-s", "secure": False},
        {"name": "bad name"},
        {"max_age": 0},
    ],
)
def test_invalid_cookie_settings_fail_at_construction(options: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        CookieSettings(**options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "options",
    [
        {"idle_timeout": 0},
        {"idle_timeout": "1 day"},
        {"absolute_timeout": -1},
        {"max_payload_bytes": 0},
        {"user_key": "$Session{"},
        {"user_key": "a..b"},
    ],
)
def test_invalid_middleware_options_fail_at_construction(options: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        SessionConfig.build(secret_key="k", **options)  # type: ignore[arg-type]


def test_timeouts_take_timedeltas_or_seconds() -> None:
    import datetime as dt

    config = SessionConfig.build(secret_key="k", idle_timeout=dt.timedelta(minutes=2), max_age=1.5)
    assert config.idle_seconds == 120.0 and config.cookie.max_age == 2
    assert SessionConfig.build(secret_key="k").idle_seconds == 30 * 24 * 3600


@pytest.mark.parametrize(
    "options",
    [{"path": "/; Domain=evil.example"}, {"domain": "a.example\r\nX: y"}, {"same_site": 7}],
)
def test_attributes_that_would_break_the_header_are_configuration_errors(
    options: dict[str, object],
) -> None:
    with pytest.raises(ValueError):
        CookieSettings(**options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"cookie_name": "\u4f1a\u8bdd"}, "RFC 6265 token"),
        ({"cookie_name": "se\x01ss"}, "RFC 6265 token"),
        ({"cookie_name": "a(b)"}, "RFC 6265 token"),
        ({"domain": "\u4f8b\u5b50.com"}, "punycoded (like 'xn--fsqu00a.com')"),
        ({"domain": "a b.example"}, "without spaces"),
        ({"path": "/\u8def\u5f84"}, "percent-encoding the rest (like '/%E8%B7%AF%E5%BE%84')"),
        ({"path": "/a\x7fb"}, "printable ASCII"),
        ({"path": ""}, "must start with '/'"),
        ({"path": "shop"}, "must start with '/'"),
        ({"domain": "example.com:8000"}, "without a scheme, port or path"),
        ({"domain": "https://example.com"}, "without a scheme, port or path"),
        ({"domain": "[::1]"}, "is an IPv6 address"),
        ({"cookie_name": "__host-s", "domain": "example.com"}, "(__Host- prefix)"),
        ({"cookie_name": "__SECURE-s", "secure": False}, "needs secure=True"),
    ],
    ids=[
        "cjk-name",
        "control-name",
        "separator-name",
        "idn-domain",
        "space-domain",
        "cjk-path",
        "del-path",
        "empty-path",
        "relative-path",
        "port-domain",
        "url-domain",
        "ipv6-domain",
        "lowercase-host-prefix",
        "uppercase-secure-prefix",
    ],
)
@pytest.mark.parametrize("kind", SHELLS)
def test_a_cookie_name_domain_or_path_no_header_can_carry_is_refused_at_build(
    kind: str, options: dict[str, Any], says: str
) -> None:
    """These passed validation, then every response that set the cookie was a 500
    (latin-1 cannot encode them), carried a control byte into Set-Cookie, or set a
    cookie browsers drop or keep to the wrong pages (a port in Domain, a Path that
    does not start with '/', a prefix in another case, which browsers still match)."""
    with (
        pytest.raises(ConfigurationError, match=re.escape(says)),
        shell_client(kind, visit, MemoryStore(), **options) as client,
    ):
        client.get("/")


def test_what_rfc_6265_allows_still_sets_the_cookie() -> None:
    options = {"cookie_name": "sess.id-1", "path": "/a b", "domain": "testserver"}
    with shell_client("starlette", visit, MemoryStore(), **options) as client:
        header = client.get("/a b/x").headers["set-cookie"]
    assert header.startswith("sess.id-1=") and "; Path=/a b; Domain=testserver;" in header


@pytest.mark.parametrize(
    "tail", [".abc.A", ".abc.!!!!", "..", ".!!." + "x" * 43, ".abc.A===", "." + "A" * 6 + ".A"]
)
def test_a_well_shaped_value_with_broken_base64_is_refused_not_raised(tail: str) -> None:
    value = new_token() + tail
    assert CookieSigner("k").verify(value) is None
    assert SessionConfig.build(secret_key="k").session_for([f"session={value}"]).id is None


def test_same_site_none_omits_the_attribute() -> None:
    header = CookieSettings(name="s", same_site=None).set_cookie("v")
    assert "samesite" not in header.lower()


def test_a_verified_cookie_is_remembered_but_not_beyond_its_signer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sessionware.cookies import VERIFIED_CACHE

    signer = CookieSigner(["new", "old"])
    hmacs: list[bytes] = []
    algorithm = signer._signer.algorithm
    real = algorithm.verify_signature
    monkeypatch.setattr(
        algorithm, "verify_signature", lambda k, v, s: hmacs.append(v) or real(k, v, s)
    )
    value = signer.sign(new_token(), permanent=True)
    first = signer.verify(value)
    spent = len(hmacs)
    assert first is not None and spent >= 1
    assert signer.verify(value) == first and len(hmacs) == spent  # no HMAC the second time
    forged = value[:-2] + ("AA" if not value.endswith("AA") else "BB")
    assert signer.verify(forged) is None and signer.verify(forged) is None
    assert len(hmacs) > spent + 1  # a failure is never remembered: each try pays
    assert CookieSigner("other").verify(value) is None  # a key change starts afresh
    for _ in range(VERIFIED_CACHE + 10):
        signer.verify(signer.sign(new_token()))
    assert len(signer._verified) <= VERIFIED_CACHE  # bounded


def test_settings_secrets_are_taken_as_their_value() -> None:
    """Starlette's Secret (which its own SessionMiddleware takes) and pydantic's SecretStr
    and SecretBytes sign exactly as the key they hold."""
    from pydantic import SecretBytes, SecretStr
    from starlette.datastructures import Secret

    key = secrets.token_urlsafe(32)
    value = CookieSigner(key).sign(new_token())
    for held in (Secret(key), SecretStr(key), SecretBytes(key.encode()), [Secret(key)]):
        assert CookieSigner(held).verify(value) is not None, held  # type: ignore[arg-type]
    assert CookieSigner(SecretStr(secrets.token_urlsafe(32))).verify(value) is None
