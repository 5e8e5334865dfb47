"""Store URLs (``redis://``, ``sqlite:///path``, ``postgresql://``, ...) → a store,
through one table of schemes: the ``sessionware`` command's ``--store`` and
Flask's ``app.config["SESSIONWARE_STORE"]`` both read them here.

Each scheme names the module and class that serve it and how to build one.
Modules are imported only when their scheme is used, so a missing store or
extra is an error that names it, not an ImportError at start-up.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import Any
from urllib.parse import unquote

from ..errors import ConfigurationError, MissingExtra


@dataclass(frozen=True, slots=True)
class Scheme:
    """A URL scheme's store: ``module.class_name.method(url, **options)``.

    ``check_exists`` refuses a URL naming a store that is not
    there (for ``open_store(existing=True)``), where opening would create one;
    ``existing`` are the options that open an existing store without creating
    anything in it (``create_tables=False``).
    """

    module: str  # relative to the sessionware package
    class_name: str
    extra: str
    method: str = "from_url"
    has_prefix: bool = True
    check_exists: Callable[[str], None] | None = None
    existing: tuple[tuple[str, Any], ...] = ()


def _sqlite_file(url: str) -> None:
    """Refuse a SQLite URL whose file does not exist: opening it would create an empty
    store, and a mistyped path (or one relative to another directory) would then
    look like a store with no sessions. A ``file:`` URI is checked by its path; what
    SQLiteStore itself refuses (``:memory:``) is left to it."""
    path = url.partition(":///")[2]
    if path.startswith("file:"):
        path = path[len("file:") :].partition("?")[0]
    if path and path != ":memory:" and not os.path.isfile(path):
        raise ConfigurationError(
            f"no SQLite store at {os.path.abspath(path)} (a sqlite:/// path is relative to "
            "the current directory; sqlite:////abs/path is absolute)"
        )


_NO_DDL = (("create_tables", False),)  # a tool reading a store never changes its schema

SCHEMES: dict[str, Scheme] = {
    "redis": Scheme(".stores.redis", "RedisStore", "redis"),
    "rediss": Scheme(".stores.redis", "RedisStore", "redis"),
    "unix": Scheme(".stores.redis", "RedisStore", "redis"),  # a Redis socket: unix:///path?db=0
    "redis+cluster": Scheme(".stores.redis", "RedisStore", "redis"),  # from_url reads it
    "redis+sentinel": Scheme(".stores.redis", "RedisStore", "redis", method="from_sentinel_url"),
    "sqlite": Scheme(
        ".stores.sqlite", "SQLiteStore", "sqlite", check_exists=_sqlite_file, existing=_NO_DDL
    ),
    "postgresql": Scheme(".stores.postgres", "PostgresStore", "postgres", existing=_NO_DDL),
    "postgres": Scheme(".stores.postgres", "PostgresStore", "postgres", existing=_NO_DDL),
}


# a query parameter whose name holds one of these carries a credential
_CREDENTIAL_PARAM = re.compile(r"([?&;][^=&#;]*(?:pass|secret|token|key)[^=&#;]*=)[^&#;]*", re.I)
# libpq's key=value form ("host=db user=app password='a b'"), which PostgresStore takes too
_CONNINFO_PARAM = re.compile(
    r"((?:^|\s)[^=\s]*(?:pass|secret|token|key)[^=\s]*\s*=\s*)('(?:[^'\\]|\\.)*'?|(?:\\.|\S)*)",
    re.I,
)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")  # a URL, not libpq's key=value form


def masked(url: str) -> str:
    """``url`` with every credential replaced by ``***``, fit for messages: the
    password of its user part, and the value of any query parameter named for a
    password, secret, token or key (``?password=``, libpq's ``sslpassword=``,
    ``sentinel_password=``), also in libpq's ``key=value`` form
    (``host=db password=...``).

    The user part ends at the URL's last ``@`` (:func:`_userinfo`), so that a
    password holding a raw ``/``, ``?``, ``#`` or ``@`` (a base64 one holds
    ``/``) hides nothing; an ``@`` in the path or the query makes it hide the
    host too, never show a password."""
    url = _CREDENTIAL_PARAM.sub(r"\1***", url)  # first: such a value may hold an "@"
    if not _SCHEME.match(url):  # libpq's key=value form
        url = _CONNINFO_PARAM.sub(r"\1***", url)
    scheme, userinfo, hosts = _userinfo(url)
    if ":" not in userinfo:
        return url
    return f"{scheme}://{userinfo.split(':', 1)[0]}:***@{hosts}"


def scrubbed(text: str, url: str) -> str:
    """``text`` (an error's message about ``url``) with the credentials :func:`masked`
    hides in ``url`` replaced by ``***``, wherever the message repeats them: the
    password, and the pieces of it between a ``/``, ``?``, ``#`` or ``@`` (where a
    client library that misreads it as host, port or path cuts it, then shows a
    piece) of :data:`MIN_PIECE` characters or more. One shorter than
    :data:`WHOLE_BELOW` is replaced only where it stands alone, not inside a longer
    run of letters and digits: a password ``e`` must not turn every ``e`` of the
    message into ``***``."""
    password = _userinfo(_CREDENTIAL_PARAM.sub(r"\1***", url))[1].partition(":")[2]
    pieces = [p for p in re.split(r"[/?#@]", password) if len(p) >= MIN_PIECE]
    secrets = [password, *pieces, *_credential_values(url)]
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        if len(secret) >= WHOLE_BELOW:
            text = text.replace(secret, "***")
        else:
            text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])", "***", text)
    return text


MIN_PIECE = 3  # shorter pieces of a password are not scrubbed: they would garble messages
WHOLE_BELOW = 8  # shorter secrets are scrubbed where they stand alone (see scrubbed)


def _userinfo(url: str) -> tuple[str, str, str]:
    """``url``'s scheme, user part (``user:password``, ``""`` for none) and what
    follows it. The user part ends at the last ``@``: hosts hold none, and a raw
    ``@``, ``/``, ``?`` or ``#`` in a password would otherwise end it early."""
    scheme, separator, rest = url.partition("://")
    userinfo, at, hosts = rest.rpartition("@")
    if not separator or not at:
        return scheme, "", rest
    return scheme, userinfo, hosts


def _credential_values(url: str) -> list[str]:
    query = [match[0][len(match[1]) :] for match in _CREDENTIAL_PARAM.finditer(url)]
    is_url = _SCHEME.match(url) is not None
    conninfo = [] if is_url else [match[2] for match in _CONNINFO_PARAM.finditer(url)]
    return query + [v for value in conninfo for v in (value, value.strip("'")) if len(v) > 2]


def open_store(url: str, prefix: str | None = None, *, existing: bool = False) -> Any:
    """The store ``url`` names, with key ``prefix`` where the store has one (or the URL's
    own ``?prefix=...``, which is not passed on to the client).

    ConfigurationError for an unknown scheme or a prefix the store cannot
    take, and, with ``existing`` (a tool reading a store an app wrote), for a
    SQLite file that is not there; MissingExtra when the store or its dependency
    is not installed. With ``existing``, a SQL store creates no tables: its
    ``has_tables()`` tells whether the prefix names any.
    """
    scheme = SCHEMES.get(url.split("://", 1)[0].lower() if "://" in url else "")
    if scheme is None:
        known = ", ".join(name + "://" for name in SCHEMES)
        raise ConfigurationError(f"unknown store URL {masked(url)!r}: use one of {known}")
    options: dict[str, Any] = {}
    url, prefix = url_prefix(url, prefix)
    if prefix is not None:
        if not scheme.has_prefix:
            raise ConfigurationError(f"{scheme.class_name} keys have no prefix: drop --prefix")
        options["prefix"] = prefix
    if existing and scheme.check_exists is not None:
        scheme.check_exists(url)
    if existing:
        options.update(scheme.existing)
    cls = _store_class(scheme, url)
    build = getattr(cls, scheme.method, None)
    if build is None:
        raise MissingExtra(
            f"{scheme.class_name}.{scheme.method} is not part of this sessionware, so "
            f"{url.split('://')[0]}:// URLs cannot be used yet"
        )
    return build(url, **options)


def url_prefix(url: str, given: str | None) -> tuple[str, str | None]:
    """``url`` without its ``?prefix=``, and the key prefix to use: ``given``, else the
    URL's, else ``None`` (the store's default). ConfigurationError when both name one
    and they differ: a prefix is where every key goes, so a silent choice could put an
    app's sessions beside another's."""
    url, in_url = without_prefix(url)
    if in_url is not None and given is not None and in_url != given:
        raise ConfigurationError(
            f"two key prefixes: {in_url!r} in the store URL and {given!r}; keep one"
        )
    return url, in_url if given is None else given


def take_url_prefix(url: str, options: dict[str, Any]) -> str:
    """``url`` without its ``?prefix=``, moved into ``options["prefix"]`` (see
    :func:`url_prefix`; ``options`` keeps no ``prefix`` when neither names one)."""
    url, prefix = url_prefix(url, options.pop("prefix", None))
    if prefix is not None:
        options["prefix"] = prefix
    return url


def without_prefix(url: str) -> tuple[str, str | None]:
    """``url`` without a ``prefix`` query parameter, and that parameter's value."""
    # the raw parts, never decoded and encoded again: libpq reads no "+" as a space, and
    # sqlite:/// must keep its slashes (urlsplit/urlunsplit would change both)
    url, hash_mark, fragment = url.partition("#")  # a fragment is no part of the query
    base, _, query = url.partition("?")
    parts = query.split("&") if query else []
    found = [unquote(part[len("prefix=") :]) for part in parts if part.startswith("prefix=")]
    if not found:
        return url + hash_mark + fragment, None
    if len(found) > 1:
        raise ConfigurationError("the store URL gives prefix= more than once; keep one")
    if not found[0]:
        raise ConfigurationError("the store URL's prefix= is empty; name a prefix or drop it")
    rest = "&".join(part for part in parts if not part.startswith("prefix="))
    return base + ("?" + rest if rest else "") + hash_mark + fragment, found[0]


def _store_class(scheme: Scheme, url: str) -> Any:
    try:
        module = import_module(scheme.module, "sessionware")
    except MissingExtra:
        raise
    except ModuleNotFoundError as error:
        own = "sessionware" + scheme.module
        if error.name == own:
            raise MissingExtra(
                f"{scheme.class_name} ({own}) is not part of this sessionware, so "
                f"{url.split('://')[0]}:// URLs cannot be used yet"
            ) from error
        raise MissingExtra(
            f"{scheme.class_name} needs the '{scheme.extra}' extra: "
            f"pip install 'sessionware[{scheme.extra}]'"
        ) from error
    return getattr(module, scheme.class_name)
