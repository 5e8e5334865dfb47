"""Options from a config file and the environment: ``load(path=None, environ=None) -> dict``.

The file (TOML, or YAML when PyYAML is installed) holds a ``sessions`` block with
platformOS's names and every sessionware option under its own name::

    [sessions]                 # sessions:            (YAML)
    enabled = true             #   enabled: true
    timeout_minutes = 30       #   timeout_minutes: 30
    secure_cookies = true      #   secure_cookies: true
    same_site = "Lax"          #   same_site: 'Lax'
    cookie_name = "session"    #   cookie_name: session

Other top-level keys are the app's own and are left alone. The environment
overrides the file: ``SESSIONWARE_`` + the key in upper case
(``SESSIONWARE_TIMEOUT_MINUTES``, ``SESSIONWARE_COOKIE_NAME``, ...); other
``SESSIONWARE_*`` variables are ignored, as they may belong to other tools (one
whose name is one or two letters from one sessionware reads is logged once, as a
likely typo).
``environment = "production"`` (platformOS's production setting) turns
``require_https`` on unless the file or the environment sets it.
The secret key comes from ``SESSIONWARE_SECRET_KEY`` only (several keys, newest
first, separated by commas): a file that holds one is refused, since config
files ship with the app.

Contract: :func:`load` returns keyword options for any shell
(``SessionMiddleware``, ``WSGISessionMiddleware``, Flask's ``Sessionware``),
already validated together. An unknown key, a value of the wrong type or an
impossible combination raises :class:`ConfigurationError` naming the file or
variable, the key and what is allowed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import re
import reprlib
import secrets
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .core import CODE_ONLY, SessionConfig, use_instead
from .digits import whole_number
from .disabled import unused_secret
from .errors import ConfigurationError, missing_extra

logger = logging.getLogger("sessionware")

ENV_PREFIX = "SESSIONWARE_"
BLOCK = "sessions"
# The file to read when load() gets no path (Flask reads its own SESSIONWARE_CONFIG key).
PATH_VARIABLE = ENV_PREFIX + "CONFIG"
SECRET_VARIABLE = ENV_PREFIX + "SECRET_KEY"
STORE_VARIABLE = ENV_PREFIX + "STORE"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_NONE = {"none", "null", "never"}
ENVIRONMENTS = ("production", "staging", "development")
MAX_COUNT_DIGITS = 18  # a whole number in text: far above any limit, far below int()'s


class _Refused(ValueError):
    """A value that a key does not allow; the message says what is allowed."""


# -- one parser per kind of value: (value, came_from_the_environment) -> option value ----------


def _bool(value: Any, text: bool) -> bool:
    if text and isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    if isinstance(value, bool):
        return value
    raise _Refused("true or false" + (" (or 1/0, yes/no, on/off)" if text else ""))


def _number(value: Any, text: bool) -> float:
    if text and isinstance(value, str) and value.isascii():  # float() reads "١٢٣" too
        with contextlib.suppress(ValueError):
            value = float(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return value
    raise _Refused("a positive number")


def _no_limit(value: Any) -> bool:
    """``None``, or text saying none (``"none"``, ``"null"``, ``"never"``)."""
    return value is None or (isinstance(value, str) and value.strip().lower() in _NONE)


def _seconds(value: Any, text: bool) -> float | None:
    if _no_limit(value):
        return None
    try:
        return _number(value, text)
    except _Refused:
        raise _Refused('a positive number of seconds, or "none" for no limit') from None


def _minutes(value: Any, text: bool) -> dt.timedelta | None:
    if _no_limit(value):
        return None
    try:
        return dt.timedelta(minutes=_number(value, text))
    except _Refused:
        raise _Refused('a positive number of minutes, or "none" for no limit') from None
    except OverflowError:
        raise _Refused("a positive number of minutes, up to 100 years") from None


def _count(value: Any, text: bool) -> int:
    if text and isinstance(value, str):  # only ASCII digits (see sessionware.digits)
        value = whole_number(value.strip(), MAX_COUNT_DIGITS)
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    in_text = f", in ASCII digits (at most {MAX_COUNT_DIGITS})" if text else ""
    raise _Refused("a positive whole number" + in_text)


def _text(value: Any, text: bool) -> str:
    if isinstance(value, str) and value:
        return value
    raise _Refused("a non-empty string")


def _optional_text(value: Any, text: bool) -> str | None:
    if value is None or (text and value == ""):
        return None
    try:
        return _text(value, text)
    except _Refused:
        raise _Refused("a non-empty string" + (", or empty for none" if text else "")) from None


def _same_site(value: Any, text: bool) -> str:
    if isinstance(value, str) and value.strip().lower() in ("lax", "strict", "none"):
        return value.strip().lower()
    raise _Refused("'Lax', 'Strict' or 'None'")


def _addresses(value: Any, text: bool) -> list[str]:
    if text and isinstance(value, str):  # (an empty entry, a,,b, is refused: a lost address)
        value = [part.strip() for part in value.split(",")] if value.strip() else []
    if isinstance(value, list) and all(isinstance(v, str) and v for v in value):
        return value
    raise _Refused(
        "a list of proxy addresses or networks"
        + (", separated by commas" if text else ' (like ["10.0.0.7", "10.1.0.0/16"])')
    )


def _environment(value: Any, text: bool) -> str:
    if isinstance(value, str) and value.strip().lower() in ENVIRONMENTS:
        return value.strip().lower()
    raise _Refused(" or ".join(repr(name) for name in ENVIRONMENTS))


@dataclass(frozen=True)
class Key:
    """One key of the ``sessions`` block: the sessionware option it sets, and its parser."""

    option: str
    parse: Callable[[Any, bool], Any]


KEYS: dict[str, Key] = {
    # platformOS's names
    "enabled": Key("enabled", _bool),
    "timeout_minutes": Key("idle_timeout", _minutes),
    "secure_cookies": Key("secure", _bool),
    # sessionware's own (same_site is both)
    "same_site": Key("same_site", _same_site),
    "cookie_name": Key("cookie_name", _text),
    "idle_timeout": Key("idle_timeout", _seconds),
    "absolute_timeout": Key("absolute_timeout", _seconds),
    "max_age": Key("max_age", _seconds),
    "secure": Key("secure", _bool),
    "http_only": Key("http_only", _bool),
    "domain": Key("domain", _optional_text),
    "path": Key("path", _text),
    "max_payload_bytes": Key("max_payload_bytes", _count),
    "autoload": Key("autoload", _bool),
    "app_id": Key("app_id", _text),
    "user_key": Key("user_key", _optional_text),
    "email_key": Key("email_key", _optional_text),
    "require_https": Key("require_https", _bool),
    "trusted_proxies": Key("trusted_proxies", _addresses),
    "record_device": Key("record_device", _bool),
    "partitioned": Key("partitioned", _bool),
    "refresh_each_request": Key("refresh_each_request", _bool),
    "bearer": Key("bearer", _bool),
    "rotate_on_login": Key("rotate_on_login", _bool),
    "permanent_lifetime": Key("permanent_lifetime", _seconds),
    "session_type": Key("session_type", _optional_text),
    # not a shell option: "production" turns require_https on unless it is set
    "environment": Key("environment", _environment),
}


def load(
    path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The keyword options set by the file at ``path`` and by ``environ``.

    ``environ`` defaults to ``os.environ``; ``path`` to the file named by
    ``SESSIONWARE_CONFIG`` there, else no file. The environment overrides the
    file. Raises ConfigurationError for a missing or unreadable file, an unknown
    key, a wrong type, a secret key in the file, or options that cannot go
    together (naming where each came from).
    """
    environ = os.environ if environ is None else environ
    if path is None and environ.get(PATH_VARIABLE):
        path = environ[PATH_VARIABLE]
    options: dict[str, Any] = {}
    origins: dict[str, str] = {}
    stray = None
    if path is not None:
        layer, stray = _from_file(Path(path))
        _merge(options, origins, layer)
    _merge(options, origins, _from_environment(environ))
    if stray is not None and "environment" not in options and "require_https" not in options:
        _warn_production_outside(stray)  # nothing sessions read says what the site meant
    if options.pop("environment", None) == "production":
        options.setdefault("require_https", True)
        origins.setdefault("require_https", origins["environment"])
        if options.get("secure") is False:  # a development setting left in production
            logger.warning(
                "sessionware: %s says environment = 'production' but %s sends the session "
                "cookie without Secure: over https it should be Secure (remove that setting)",
                origins["environment"],
                origins.get("secure", "secure"),
            )
    _check_together(options, origins)
    return options


def environment_options(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The keyword options the ``SESSIONWARE_*`` variables of ``environ`` (default
    ``os.environ``) set on their own, without the file: Flask's layering puts them above
    Flask's own session settings. ``environment`` and the secret key are left out
    (:func:`load` applies the one and passes on the other)."""
    layer = _from_environment(os.environ if environ is None else environ)
    return {
        option: value
        for option, (value, _) in layer.items()
        if option not in ("environment", "secret_key")
    }


def environment_store_url(environ: Mapping[str, str] | None = None) -> str:
    """``SESSIONWARE_STORE``'s URL, ``""`` when it is unset or blank."""
    return (os.environ if environ is None else environ).get(STORE_VARIABLE, "").strip()


def environment_store(environ: Mapping[str, str] | None = None) -> Any:
    """The store ``SESSIONWARE_STORE`` names (a URL, as the command's ``--store``
    takes), opened; ``None`` when the variable is unset or empty. Raises
    ConfigurationError for a URL that cannot be used."""
    url = environment_store_url(environ)
    if not url:
        return None
    from .stores.urls import open_store

    return open_store(url)


def shell_options(
    path: str | os.PathLike[str] | None, overrides: Mapping[str, Any]
) -> dict[str, Any]:
    """What a shell's ``from_config`` builds with: :func:`load`, then ``overrides``;
    the store, unless given, is ``SESSIONWARE_STORE``'s.

    Raises ConfigurationError when no secret key is set anywhere.
    """
    options = {**load(path), **overrides}
    if options.get("store") is None and (store := environment_store()) is not None:
        options["store"] = store
    secret = unused_secret(options)
    if secret is not None and "secret_key" not in options:
        options["secret_key"] = secret
    if "secret_key" not in options:
        raise ConfigurationError(
            f"no secret key: set the environment variable {SECRET_VARIABLE} (never put it in "
            "the config file), or pass secret_key=...; generate one with: "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return options


# -- sources ------------------------------------------------------------------------------

Layer = dict[str, tuple[Any, str]]  # option -> (value, where it was set)


def _from_file(path: Path) -> tuple[Layer, Path | None]:
    """The file's options, and its path when it says ``environment = "production"``
    outside the block (see :func:`_warn_production_outside`)."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ConfigurationError(
            f"cannot read the sessionware config file {os.path.abspath(path)}: "
            f"{error.strerror or error}"
        ) from error
    document = _parse(path, raw)
    if not isinstance(document, Mapping) or BLOCK not in document:
        keys = document if isinstance(document, Mapping) else ()
        near = next((k for k in keys if str(k).strip().lower() == BLOCK), None)
        said = f" (found {near!r}: the name is lower case)" if near is not None else ""
        raise ConfigurationError(
            f"{path}: no '{BLOCK}' block{said}; write the options under "
            + ("[sessions]" if path.suffix == ".toml" else "sessions:")
        )
    block = document[BLOCK]
    if not isinstance(block, Mapping):
        raise ConfigurationError(f"{path}: '{BLOCK}' must be a table of options, not {block!r}")
    if "secret_key" in block:
        raise ConfigurationError(
            f"{path}: {BLOCK}.secret_key must not be in a config file, which ships with the app; "
            f"remove it and set the environment variable {SECRET_VARIABLE} instead"
        )
    top = document.get("environment")
    stray = isinstance(top, str) and top.strip().lower() == "production"
    layer: Layer = {}
    for key, value in block.items():
        where = f"{path}: {BLOCK}.{key}"
        spec = KEYS.get(key) if isinstance(key, str) else None
        if spec is None:
            hint = use_instead(str(key)) or _near_key(str(key))
            if key == "store":  # a file holds no store: it names no server, no password
                what, hint = (
                    "cannot be set in a config file",
                    f" (set the environment variable {STORE_VARIABLE} to a store URL, "
                    "or pass store= in code)",
                )
            elif key in CODE_ONLY:
                what = "cannot be set in a config file"
            else:
                what = "is not a sessionware option"
            raise ConfigurationError(
                f"{where} {what}{hint}; the '{BLOCK}' block takes: " + ", ".join(sorted(KEYS))
            )
        _set(layer, spec, _parsed(spec, value, False, where), where)
    return layer, path if stray else None


def _warn_production_outside(path: Path) -> None:
    """A top-level ``environment = "production"`` is the app's own key, which
    sessionware leaves alone; written there for the whole site (as platformOS users
    may), it would leave ``require_https`` off without a word when nothing else
    sets it: say so."""
    logger.warning(
        "sessionware: %s: environment = 'production' at the top level is the app's own "
        "key, which sessions do not read (nothing else turned require_https on); write "
        "environment = \"production\" (or require_https = true) in the '%s' block",
        path,
        BLOCK,
    )


def _strict_yaml_loader(yaml: Any) -> Any:
    """PyYAML's safe loader refusing a key given twice in one mapping (it keeps the
    last without a word, where TOML refuses the file)."""

    class Strict(yaml.SafeLoader):  # type: ignore[misc]
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # (<<: *base, which keys override)
                    continue
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        "while reading a mapping",
                        node.start_mark,
                        f"found the key {key!r} twice",
                        key_node.start_mark,
                    )
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return Strict


def _parse(path: Path, raw: bytes) -> Any:
    suffix = path.suffix.lower()
    if suffix == ".toml":
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - Python 3.10
            import tomli as tomllib
        try:  # (utf-8-sig: a byte-order mark, as some Windows editors write, is no error)
            return tomllib.loads(raw.decode("utf-8-sig"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise ConfigurationError(f"{path} is not valid TOML: {error}") from error
        except ValueError as error:  # a number of more digits than Python reads
            raise ConfigurationError(f"{path}: {reprlib.repr(str(error))}") from error
    if suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError as error:
            raise missing_extra(f"reading {path} (YAML)", "yaml") from error
        try:
            return yaml.load(raw, Loader=_strict_yaml_loader(yaml))
        except yaml.YAMLError as error:
            raise ConfigurationError(f"{path} is not valid YAML: {error}") from error
        except ValueError as error:  # a number of more digits than Python reads
            raise ConfigurationError(f"{path}: {reprlib.repr(str(error))}") from error
    raise ConfigurationError(
        f"{path}: sessionware reads .toml, .yaml and .yml config files, "
        f"not {suffix or 'no suffix'!r}"
    )


# every SESSIONWARE_* variable sessionware reads (the command reads STORE and PREFIX)
ENV_NAMES = frozenset(
    {ENV_PREFIX + key.upper() for key in KEYS}
    | {PATH_VARIABLE, SECRET_VARIABLE, ENV_PREFIX + "STORE", ENV_PREFIX + "PREFIX"}
)
_warned_names: set[str] = set()


TYPO_EDITS = 2  # a variable this many letters (added, dropped, changed) from one read


def _near_key(key: str) -> str:
    """``" (did you mean timeout_minutes?)"`` for a file key at most :data:`TYPO_EDITS`
    letters from one the block takes, else nothing: as an environment variable's typo
    is told."""
    edits, known = min((_edits(key, name), name) for name in KEYS)
    return f" (did you mean {known}?)" if edits <= TYPO_EDITS else ""


def _warn_near_misses(environ: Mapping[str, str]) -> None:
    """Log once per process each ``SESSIONWARE_*`` variable that sessionware does not
    read but whose name is at most :data:`TYPO_EDITS` letters from one it does (a
    typo would otherwise leave the option at its default without a word), or names
    an option given in code only, or another library's (``SESSIONWARE_METRICS``). Other
    names (``SESSIONWARE_TEST_PREFIX``, ``SESSIONWARE_SECRET_KEY_OLD``) are left
    alone, as they may belong to other tools."""
    for name in environ:
        if name in _warned_names:
            continue
        if name.upper() in ENV_NAMES and name not in ENV_NAMES:  # environment names have case
            _warned_names.add(name)
            logger.warning(
                "sessionware: environment variable %s is not read (names are case-sensitive); "
                "did you mean %s?",
                name,
                name.upper(),
            )
            continue
        if not name.startswith(ENV_PREFIX) or name in ENV_NAMES:
            continue
        if instead := use_instead(name[len(ENV_PREFIX) :].lower()):  # metrics, hooks, ...
            _warned_names.add(name)
            logger.warning(
                "sessionware: environment variable %s is not one sessionware reads, and is "
                "ignored%s",
                name,
                instead,
            )
            continue
        near = sorted((_edits(name, known), known) for known in ENV_NAMES)[0]
        if near[0] <= TYPO_EDITS:
            _warned_names.add(name)
            logger.warning(
                "sessionware: environment variable %s is not one sessionware reads, and is "
                "ignored; did you mean %s?",
                name,
                near[1],
            )


def _edits(a: str, b: str) -> int:
    """How many letters to add, drop or change to turn ``a`` into ``b`` (Levenshtein),
    counted only as far as :data:`TYPO_EDITS` + 1."""
    if abs(len(a) - len(b)) > TYPO_EDITS:
        return TYPO_EDITS + 1
    row = list(range(len(b) + 1))
    for i, letter in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, other in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (letter != other))
    return min(row[-1], TYPO_EDITS + 1)


def _from_environment(environ: Mapping[str, str]) -> Layer:
    _warn_near_misses(environ)
    layer: Layer = {}
    for key, spec in KEYS.items():
        name = ENV_PREFIX + key.upper()
        if name in environ:
            where = f"environment variable {name}"
            _set(layer, spec, _parsed(spec, environ[name], True, where), where)
    secret = environ.get(SECRET_VARIABLE)
    if secret is not None:
        keys = [k.strip() for k in secret.split(",")]
        if not any(keys):
            raise ConfigurationError(
                f"environment variable {SECRET_VARIABLE} is empty; set it to a secret key "
                "(several, newest first, separated by commas), or unset it"
            )
        if not all(keys):  # a key lost in the paste (a,,b) would go without a word
            raise ConfigurationError(
                f"environment variable {SECRET_VARIABLE} has an empty key (two commas in a "
                "row, or one at an end); list the keys newest first, one comma between each"
            )
        layer["secret_key"] = (
            keys[0] if len(keys) == 1 else keys,
            f"environment variable {SECRET_VARIABLE}",
        )
    return layer


def _parsed(spec: Key, value: Any, text: bool, where: str) -> Any:
    try:
        return spec.parse(value, text)
    except _Refused as allowed:
        shown = reprlib.repr(value)  # a 5000-digit value is not worth 5000 characters
        raise ConfigurationError(
            f"{where} must be {allowed}, not {shown} ({type(value).__name__})"
        ) from None


def _set(layer: Layer, spec: Key, value: Any, where: str) -> None:
    if spec.option in layer:  # timeout_minutes and idle_timeout, say, in one source
        raise ConfigurationError(
            f"{where} and {layer[spec.option][1]} both set {spec.option}; keep one of them"
        )
    layer[spec.option] = (value, where)


def _merge(options: dict[str, Any], origins: dict[str, str], layer: Layer) -> None:
    for option, (value, where) in layer.items():
        options[option] = value
        origins[option] = where


def _check_together(options: Mapping[str, Any], origins: Mapping[str, str]) -> None:
    """Build the options once (with a stand-in key if none is set) to refuse what cannot work."""
    stand_in = secrets.token_urlsafe(32)  # as strong as a key should be: no weak-key warning
    trial = {**options, "secret_key": options.get("secret_key") or stand_in}
    try:
        SessionConfig.build(**trial)
    except ConfigurationError as error:
        text = str(error)  # names the options it is about, or quotes their values
        named = [
            where
            for option, where in origins.items()
            if re.search(rf"\b{option}\b", text)
            or (isinstance(options[option], str) and repr(options[option]) in text)
        ]
        blame = "; set by " + ", ".join(named) if named else ""
        raise ConfigurationError(f"sessionware config: {error}{blame}") from error
