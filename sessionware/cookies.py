"""The session cookie: tokens, public ids, signing, parsing and Set-Cookie.

The cookie carries ``token.timestamp.signature`` (itsdangerous, HMAC-SHA256):

* ``token`` is 256 random bits from :mod:`secrets`, known only to the browser;
* the store knows the session by :func:`public_id` (a SHA-256 of the token), so
  a store dump or an admin listing cannot be replayed as a cookie;
* the timestamp says when the cookie was last sent, so that a persistent
  cookie (``max_age``) is re-sent only when its expiry has to slide.

Everything here is pure (no I/O, no framework) but one warning, logged once per
process for a signing key short or plain enough to guess (:func:`warn_if_weak`).
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import logging
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any, NamedTuple
from urllib.parse import quote

from itsdangerous import BadData, TimestampSigner
from itsdangerous.encoding import base64_decode, base64_encode, bytes_to_int

from .bounded import Bounded
from .errors import ConfigurationError

TOKEN_BYTES = 32  # 256 bits
TOKEN_LENGTH = 43  # characters of its URL-safe base64
MAX_COOKIE_VALUE = 160  # a real value is ~95 characters; longer ones are not verified
MAX_CANDIDATES = 4  # at most this many same-named cookies are verified per request
VERIFIED_CACHE = 4096  # cookie values remembered per signer once verified
_SALT = b"sessionware.cookie"
# A "remember me" session's cookie is signed under its own salt, so that the middleware
# knows before loading which idle timeout the store should slide the record by.
_PERMANENT_SALT = b"sessionware.cookie.permanent"
# A session token (SessionManager.generate, bearer=True) is signed under a salt of its
# own: a token sent as a cookie, or a cookie sent as a token, is not ours to verify.
_TOKEN_SALT = b"sessionware.token"
_EPOCH = formatdate(0, usegmt=True)  # Expires for a cookie being removed
STRONG_KEY_BYTES = 32  # a signing key shorter than this is warned about (see warn_if_weak)
_FEWEST_DISTINCT = 5  # ... and so is one made of fewer distinct bytes ("aaaa...", "0101...")
_warned_weak: set[bytes] = set()  # digests of the keys warned about, never the keys

logger = logging.getLogger("sessionware")


def _signing_key(position: int) -> str:
    if position == 0:
        return "secret_key"
    return (
        f"the older signing key number {position} (after the newest: a key list, "
        "or Flask's SECRET_KEY_FALLBACKS)"
    )


def warn_if_weak(
    keys: Sequence[bytes],
    which: Callable[[int], str] = _signing_key,
    harm: str = "whoever guesses it can sign session cookies and tokens",
) -> None:
    """Log a warning, once per process and key, for each signing key shorter than
    :data:`STRONG_KEY_BYTES` or made of fewer than five distinct bytes: whoever
    guesses it signs cookies and tokens the middleware accepts. Starlette, Flask and
    the peers take any key in silence; the quick starts' ``"change me"`` is such a
    key. The log says which rule the key breaks, never the key, its length or its
    bytes."""
    for position, key in enumerate(keys):
        short = len(key) < STRONG_KEY_BYTES
        if not short and len(set(key)) >= _FEWEST_DISTINCT:
            continue
        digest = hashlib.sha256(key).digest()
        if digest in _warned_weak:
            continue
        _warned_weak.add(digest)
        rule = "is shorter than 32 bytes" if short else "repeats fewer than 5 distinct bytes"
        logger.warning(
            "sessionware: %s %s: it can be guessed, and %s. Use 32 random bytes or more, "
            "kept out of the code (an environment variable): "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))'",
            which(position),
            rule,
            harm,
        )


def new_token() -> str:
    """A fresh, unguessable session token (256 bits, URL-safe base64)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


@functools.lru_cache(maxsize=4096)  # a returning visitor's id is a lookup, not a SHA-256
def public_id(token: str) -> str:
    """The store's id for ``token``: 128 bits of its SHA-256, as hex. Not secret."""
    return hashlib.sha256(token.encode()).hexdigest()[:32]


class _Signer(TimestampSigner):
    """itsdangerous' signer with the derived keys computed once, not per call."""

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        derived: dict[str | bytes | None, bytes] = self.__dict__.setdefault("_derived", {})
        if secret_key not in derived:
            derived[secret_key] = super().derive_key(secret_key)
        return derived[secret_key]


def _revealed(key: Any) -> Any:
    """The value of a secret held the way settings libraries hold one: pydantic's
    ``SecretStr``/``SecretBytes`` (``get_secret_value()``) and Starlette's ``Secret``
    (``str()``), which Starlette's own SessionMiddleware takes. Anything else as is."""
    reveal = getattr(key, "get_secret_value", None)
    if callable(reveal):
        return reveal()
    kind = type(key)
    if kind.__name__ == "Secret" and kind.__module__.startswith("starlette."):
        return str(key)
    return key


def signing_keys(secret_keys: Any) -> list[bytes]:
    """``secret_key`` as the middleware takes it (a key or a list of keys, newest first;
    str, bytes, or a secret that :func:`_revealed` opens) as bytes, newest first.
    Raises ConfigurationError for no key, an empty one or one of another type."""
    secret_keys = _revealed(secret_keys)
    if isinstance(secret_keys, (Mapping, AbstractSet)):  # no order, or keys that are names
        kind = "a dict" if isinstance(secret_keys, Mapping) else "a set"
        raise ConfigurationError(
            f"secret_key is {kind}: give a str or bytes key, or a list of them newest first "
            "(the first signs, every one verifies); a set has no order, and a dict's keys "
            "would be taken for the secrets"
        )
    try:  # (a number, or the `...` of an example copied as it is, is no list of keys)
        given = [secret_keys] if isinstance(secret_keys, (str, bytes)) else list(secret_keys or ())
    except TypeError:
        given = []
    keys = [k.encode() if isinstance(k, str) else k for k in map(_revealed, given)]
    if not keys or any(not isinstance(k, bytes) or not k for k in keys):
        raise ConfigurationError(
            "secret_key must be a non-empty str or bytes, or a list of them (newest first); "
            "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return keys


class CookieSigner:
    """Signs tokens with the newest secret and verifies with any of them.

    ``secret_keys`` lists the newest first (note that itsdangerous itself takes
    the newest *last*; this class hides that). Verification is constant-time.
    """

    _salts: tuple[bytes, ...] = (_SALT, _PERMANENT_SALT)  # plain, then "remember me"

    def __init__(self, secret_keys: str | bytes | Sequence[str | bytes]) -> None:
        keys = signing_keys(secret_keys)
        warn_if_weak(keys)
        oldest_first = list(reversed(keys))
        signers = [
            _Signer(oldest_first, salt=salt, digest_method=hashlib.sha256, key_derivation="hmac")
            for salt in self._salts
        ]
        self._signer, self._permanent_signer = signers[0], signers[-1]
        self._keys = [  # (derived key, permanent), each salt's keys newest first
            (signer.derive_key(key), index == 1)
            for index, signer in enumerate(signers)
            for key in keys
        ]
        self._newest = {self._keys[index * len(keys)][0] for index in range(len(signers))}
        # Cookie values that verified, with what they said: a repeat visit costs a dict
        # lookup, not an HMAC. Per signer, so it never outlives a key change; it holds
        # only what verification returned (signed_at included), so it extends nothing.
        self._verified: Bounded[str, Verified] = Bounded(VERIFIED_CACHE)

    def __repr__(self) -> str:
        return "CookieSigner(secret_keys=<hidden>)"

    def sign(self, token: str, *, permanent: bool = False) -> str:
        """The cookie value for ``token``, stamped with the current time; ``permanent``
        marks a "remember me" session's cookie (see :attr:`Verified.permanent`)."""
        signer = self._permanent_signer if permanent else self._signer
        return signer.sign(token).decode()

    def verify(self, value: str) -> Verified | None:
        """The token, its signing time and whether the newest key signed it; ``None``
        unless ``value`` is shaped like our cookies and carries a valid signature.

        Keys are tried newest first, each compared in constant time (HMAC); the
        timestamp is read here without the datetime round trip of ``unsign``. The
        last :data:`VERIFIED_CACHE` values that verified are remembered (a bounded
        cache: the same answer, without the HMAC).
        """
        known = self._verified.get(value)
        if known is not None:
            return known
        verified = self._verify(value)
        if verified is not None:
            self._verified.remember(value, verified)
        return verified

    def _verify(self, value: str) -> Verified | None:
        if not plausible(value):  # only tokens this module issued; no HMAC spent on others
            return None
        payload, _, signature = value.rpartition(".")
        try:
            sig = base64_decode(signature)
            if base64_encode(sig) != signature.encode():  # one canonical form: no twins
                return None
            signed = payload.encode()
            for key, permanent in self._keys:
                if self._signer.algorithm.verify_signature(key, signed, sig):
                    stamp = payload[TOKEN_LENGTH + 1 :]
                    return Verified(
                        payload[:TOKEN_LENGTH],
                        float(bytes_to_int(base64_decode(stamp))),
                        key in self._newest,
                        permanent,
                    )
        except (BadData, ValueError, TypeError):  # BadData: bad base64 in the signature
            return None
        return None


class TokenSigner(CookieSigner):
    """Signs and verifies session tokens (``Authorization: Bearer``) as
    :class:`CookieSigner` does cookies, under a salt of their own: neither verifies
    what the other signed, so a token never opens a session as a cookie (past the
    checks of the type it was issued for), nor a browser's cookie as a token.
    Tokens have no "remember me" form."""

    _salts = (_TOKEN_SALT,)

    def __repr__(self) -> str:
        return "TokenSigner(secret_keys=<hidden>)"


class Verified(NamedTuple):
    """A cookie that verified: its token, when it was signed, and whether with the
    newest key (if not, the core re-signs it so that the old key can be retired)."""

    token: str
    signed_at: float
    current_key: bool
    permanent: bool = False  # signed as a "remember me" session's cookie


def plausible(value: str) -> bool:
    """Whether ``value`` has our cookies' shape: ``<43-char token>.<stamp>.<signature>``."""
    return (
        len(value) <= MAX_COOKIE_VALUE and value.count(".") == 2 and value.find(".") == TOKEN_LENGTH
    )


def cookie_values(headers: Iterable[str], name: str, *, joined: bool = False) -> list[str]:
    """The values of every cookie called ``name`` in ``Cookie`` header values, in order.

    Parsed as the RFC 6265bis grammar reads a ``Cookie`` header: pairs split on
    ``;``, only spaces and tabs around them (a name behind any other control byte
    is not ``name``), and a value quoted whole (``"..."``) loses its quotes.
    Another cookie's value never yields ours: a value whose opening quote is not
    closed before the ``;`` (``other="x;session=...";``) runs, as a quoted-string
    would, to the next ``"``, and nothing inside it is a cookie.

    ``joined``: the header is a WSGI ``HTTP_COOKIE``, where servers join repeated
    ``Cookie`` headers with ``,``. Our cookie then ends at a comma, and one that
    opens a later header (``a=1, session=...``) is also found, after every other
    one (its comma might be inside another cookie's value, so it never outranks
    them) and never for a ``__Host-`` or ``__Secure-`` name, whose guarantee a
    cookie set by a sibling domain must not break.

    Linear in the header size, and never more than :data:`MAX_CANDIDATES` values,
    so a huge or hostile header costs bounded work.
    """
    prefix = name + "="
    if type(headers) is list and len(headers) < 2:
        if not headers:  # no Cookie header at all (a first visit, an API client)
            return []
        only = headers[0]  # one header holding just our cookie, unquoted: nothing to parse
        if only.startswith(prefix) and ";" not in only and '"' not in only and "," not in only:
            value = only[len(prefix) :].strip(_OWS)
            return [value] if _usable(value) else []  # one value: within _budget's count
    found: list[str] = []
    later: list[str] = []  # joined: our cookie opening a later header
    # (browsers match the prefixes in any case: so must this)
    opening = joined and not name[:9].lower().startswith(("__host-", "__secure-"))
    for header in headers:
        if prefix not in header:
            continue
        for pair_name, value in _pairs(header):
            if pair_name == name:
                found.append(value.partition(",")[0].rstrip(_OWS) if joined else value)
            elif (  # "flag, session=...": a bare name ended one
                opening and "," in pair_name and pair_name.rpartition(",")[2].lstrip(_OWS) == name
            ):
                later.append(value.partition(",")[0].rstrip(_OWS))
            # ("session=old, session=new": ours, its header's last, then ours opening the next)
            if opening and prefix in value:
                for piece in value.split(",")[1:]:
                    piece = piece.lstrip(_OWS)
                    if piece.startswith(prefix):
                        later.append(piece[len(prefix) :].rstrip(_OWS))
    return _budget(found + later)


_OWS = " \t"  # the only whitespace a Cookie header has between pairs


def cookie_jar(header: str, *, joined: bool = False) -> dict[str, str]:
    """Every cookie of a ``Cookie`` header, name to value, the first of a name kept,
    its pairs read as :func:`cookie_values` reads them: a pair it cannot read (a bare
    name, a space in a value) is that pair alone, never the whole header, and another
    cookie's quoted value yields none. ``joined``: a WSGI ``HTTP_COOKIE``, whose
    servers join repeated headers with ``,``: a value ends at a comma, and a cookie
    that opens a later header (``a=1, b=2``) is kept after every other one (its comma
    might be inside another cookie's value, so it never outranks them), and never
    for a ``__Host-`` or ``__Secure-`` name."""
    jar: dict[str, str] = {}
    later: list[tuple[str, str]] = []  # joined: cookies opening a later header
    for name, value in _pairs(header, bare=False):
        if joined and "," in name:  # "flag, b=2": a bare name ended a header
            name = name.rpartition(",")[2].strip(_OWS)
            later.append((name, value.partition(",")[0].rstrip(_OWS)))
            name = ""
        if joined and "," in value:
            value, _, rest = value.partition(",")
            value = value.rstrip(_OWS)
            for piece in rest.split(","):
                piece_name, equals, piece_value = piece.partition("=")
                if equals:
                    later.append((piece_name.strip(_OWS), piece_value.strip(_OWS)))
        if name and name not in jar:
            jar[name] = value
    for name, value in later:
        if name and name not in jar and not name[:9].lower().startswith(("__host-", "__secure-")):
            jar[name] = value
    return jar


def _pairs(header: str, bare: bool = True) -> Iterable[tuple[str, str]]:
    """``(name, value)`` for each cookie-pair of one header; see :func:`cookie_values`.
    ``bare=False`` leaves out a pair with no ``=`` (a cookie with no name, its text the
    value, as RFC 6265bis reads it), which then names no cookie."""
    if '"' not in header:  # no quoted value (the usual): a plain split, no generator
        return [
            (n.strip(_OWS), v.strip(_OWS))
            for n, equals, v in (p.partition("=") for p in header.split(";"))
            if equals or bare
        ]
    return _quoted_pairs(header, bare)


def _quoted_pairs(header: str, bare: bool = True) -> Iterator[tuple[str, str]]:
    """:func:`_pairs` for a header with a quote in it, which may hide or hold pairs.

    A value that is one quoted string (``"..."``, with ``\\"`` escapes as Python's
    ``http.cookies`` writes them) loses its quotes. A value that opens a quote and
    does not close it hides the pairs after it up to the first one that closes it
    (a quote in a pair that is not a quoted value of its own), so that another
    cookie's value can never yield ours. A quote that nothing closes hides nothing:
    a page's ``document.cookie = 'pref="dark'`` must not hide the session cookie
    behind it."""
    parts = header.split(";")
    i, end = 0, len(parts)
    while i < end:
        pair_name, equals, value = parts[i].partition("=")
        value = value.strip(_OWS)
        i += 1
        if not value.startswith('"'):
            if equals or bare:
                yield pair_name.strip(_OWS), value
        elif _quoted_whole(value):
            yield pair_name.strip(_OWS), value[1:-1]
        else:  # not one quoted value: no cookie of ours, and maybe a quote that runs on
            for j in range(i, end):
                if '"' in parts[j] and not _quoted_whole(parts[j].partition("=")[2].strip(_OWS)):
                    i = j + 1  # the pairs up to the one that closes it are inside it
                    break


def _quoted_whole(value: str) -> bool:
    """Whether ``value`` is one quoted string, escaped quotes inside allowed (and its
    closing quote not escaped itself)."""
    if len(value) < 2 or value[0] != '"' or value[-1] != '"':
        return False
    inner = value[1:-1].replace("\\\\", "")  # escaped backslashes first
    return not inner.endswith("\\") and '"' not in inner.replace('\\"', "")


def _usable(value: str) -> bool:
    """Whether a cookie value has a length worth verifying."""
    return 0 < len(value) <= MAX_COOKIE_VALUE


def _budget(values: list[str]) -> list[str]:
    """Values of a usable length, up to :data:`MAX_CANDIDATES` of our shape: only
    those cost an HMAC, and a misshapen one is refused before any."""
    kept: list[str] = []
    shaped = 0
    for value in values:
        if _usable(value):
            kept.append(value)
            shaped += plausible(value)
            if shaped == MAX_CANDIDATES:
                break
    return kept


_PRINTABLE = frozenset(map(chr, range(0x20, 0x7F)))
_TOKEN = _PRINTABLE - set(' ()<>@,;:\\"/[]?={}')
_PATH = _PRINTABLE - set(";,")
_DOMAIN = _PATH - {" "}


def _quoted(path: object) -> str:
    """What to write instead of ``path``: its percent-encoded form, as a hint."""
    if not isinstance(path, str):
        return "like '/'"
    return "like " + repr(quote(path, safe="/-._~!$&'()*+=:@%"))


def _is_ip_address(domain: str) -> bool:
    """Whether ``domain`` is an IP address (an IPv6 one bracketed or not)."""
    try:
        ipaddress.ip_address(domain.strip("[]"))
    except ValueError:
        return False
    return True


def _punycoded(domain: object) -> str:
    """`` (like 'xn--...')`` for an international ``domain``, else ``""``."""
    if not isinstance(domain, str) or domain.isascii():
        return ""
    try:
        return f" (like {domain.encode('idna').decode()!r})"
    except UnicodeError:  # not a name IDNA can write (a space, an empty label, ...)
        return ""


MAX_COOKIE_SECONDS = 400 * 86400
"""The longest a browser keeps a cookie, whatever its Max-Age says (RFC 6265bis; Chrome
and Firefox cap it so). A longer session (a "remember me" of two years, a type of
ten) keeps its cookie alive by re-sending it: see ``core._cookie_span``."""


@dataclass(frozen=True, slots=True)
class CookieSettings:
    """The session cookie's attributes, validated at construction.

    ``max_age`` (seconds) makes the cookie persistent; ``None`` (the default)
    makes it a browser-session cookie.
    """

    name: str = "session"
    path: str = "/"
    domain: str | None = None
    secure: bool = True
    http_only: bool = True
    same_site: str | None = "lax"  # None: no SameSite attribute (the browser's default)
    max_age: int | None = None
    partitioned: bool = False  # CHIPS: the cookie is kept per top-level site
    # The attributes every Set-Cookie carries, and the removal header, built once
    _attributes: str = field(default="", init=False, repr=False, compare=False)
    _expire: str = field(default="", init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._validate()
        object.__setattr__(self, "_attributes", self._build_attributes())
        object.__setattr__(self, "_expire", f"{self.name}=; Max-Age=0; Expires={_EPOCH}")

    def _validate(self) -> None:
        # Checked here, not when the first response is sent: a header is latin-1 (so
        # "会话" failed every response with a 500) and a control byte in it is an
        # injection. RFC 6265 allows a token as the name, and in attributes no CTL
        # or ';' (',' too is refused: old parsers split Set-Cookie on it).
        if not isinstance(self.name, str) or not self.name or set(self.name) - _TOKEN:
            raise ConfigurationError(
                f"cookie_name {self.name!r} is not a valid cookie name: use ASCII letters, "
                "digits and !#$%&'*+-.^_`|~ only (an RFC 6265 token), like 'session'"
            )
        if not isinstance(self.path, str) or set(self.path) - _PATH:
            raise ConfigurationError(
                f"path {self.path!r} cannot go in a Set-Cookie header: use printable ASCII "
                f"without ';' or ',', percent-encoding the rest ({_quoted(self.path)})"
            )
        if not self.path.startswith("/"):
            raise ConfigurationError(
                f"path {self.path!r} must start with '/' (like '/' or '/app'): a browser "
                "ignores any other Path and keeps the cookie to the requested page's folder"
            )
        if isinstance(self.domain, str) and ":" in self.domain and _is_ip_address(self.domain):
            raise ConfigurationError(
                f"domain {self.domain!r} is an IPv6 address, which a cookie's Domain cannot "
                "name: leave domain unset (the cookie then goes to that host alone)"
            )
        if isinstance(self.domain, str) and set(self.domain) & set(":/"):
            raise ConfigurationError(
                f"domain {self.domain!r} must be a host name alone (like 'example.com'), "
                "without a scheme, port or path: browsers drop a cookie whose Domain has them"
            )
        if self.domain is not None and (
            not isinstance(self.domain, str) or set(self.domain) - _DOMAIN
        ):
            raise ConfigurationError(
                f"domain {self.domain!r} cannot go in a Set-Cookie header: use printable ASCII "
                f"without spaces, ';' or ','; give an international domain punycoded"
                f"{_punycoded(self.domain)}"
            )
        if self.same_site is not None and (
            not isinstance(self.same_site, str)
            or self.same_site.lower() not in ("lax", "strict", "none")
        ):
            raise ConfigurationError(
                f"same_site must be 'lax', 'strict', 'none' or None (no attribute), "
                f"not {self.same_site!r}"
            )
        if self.same_site is not None and self.same_site.lower() == "none" and not self.secure:
            raise ConfigurationError(
                "same_site='none' needs secure=True: browsers reject SameSite=None cookies "
                "without Secure"
            )
        prefix = self.name[:9].lower()  # browsers match the prefixes in any case
        if prefix.startswith("__host-") and (
            self.domain is not None or self.path != "/" or not self.secure
        ):
            raise ConfigurationError(
                f"a cookie named {self.name!r} (__Host- prefix) needs secure=True, path='/' "
                "and no domain; drop the prefix or those options"
            )
        if prefix == "__secure-" and not self.secure:
            raise ConfigurationError(f"a cookie named {self.name!r} needs secure=True")
        if self.max_age is not None and self.max_age <= 0:
            raise ConfigurationError(f"max_age must be positive seconds, not {self.max_age!r}")
        if self.partitioned and not self.secure:
            raise ConfigurationError(
                "partitioned=True needs secure=True: browsers ignore a Partitioned cookie "
                "without Secure"
            )

    def set_cookie(
        self, value: str, at_most: int | None = None, lifetime: int | None = None
    ) -> str:
        """The ``Set-Cookie`` header value that stores ``value`` in the browser.

        ``lifetime`` (seconds) makes this one cookie persistent for that long
        ("remember me"), whatever ``max_age`` says. ``at_most`` (seconds) caps a
        persistent cookie's Max-Age: what remains of the session's absolute
        lifetime. A browser-session cookie stays one. No Max-Age passes
        :data:`MAX_COOKIE_SECONDS` (400 days), the most browsers keep a cookie.
        """
        seconds = self.max_age if lifetime is None else lifetime
        if seconds is not None and at_most is not None:
            seconds = min(seconds, at_most)
        if seconds is not None:  # browsers keep no cookie longer (RFC 6265bis)
            seconds = min(seconds, MAX_COOKIE_SECONDS)
        max_age = "" if seconds is None else f"; Max-Age={seconds}"
        return f"{self.name}={value}{max_age}{self._attributes}"

    def expire_cookie(self) -> str:
        """The ``Set-Cookie`` header value that removes the cookie, same attributes."""
        return self._expire + self._attributes

    def _build_attributes(self) -> str:
        parts = [f"; Path={self.path}"]
        if self.domain:
            parts.append(f"; Domain={self.domain}")
        if self.secure:
            parts.append("; Secure")
        if self.http_only:
            parts.append("; HttpOnly")
        if self.same_site is not None:
            parts.append(f"; SameSite={self.same_site.capitalize()}")
        if self.partitioned:
            parts.append("; Partitioned")
        return "".join(parts)
