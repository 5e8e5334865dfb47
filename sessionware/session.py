"""The session a handler sees: a typed, change-tracking ``MutableMapping[str, Any]``.

Contract:

* Assigning a value validates it at once: an unstorable value or key raises
  :class:`UnstorableValue` (a TypeError), a payload that would grow past the
  cap raises :class:`SessionTooLarge` (a ValueError); either way the session is
  left as it was. A record stored over the cap (the cap was lowered since)
  loads and may shrink, but no change may grow it; one over
  ``codec.MAX_RECORD_BYTES`` is ignored, with a warning, as corrupt.
* Nested mutation is saved without any ``modified`` flag: at the end of the
  request every value that was read or written is encoded again and compared
  with what was loaded; only keys whose bytes changed are written.
* ``clear()`` ends the session (logout); anything written afterwards goes into a
  new session with a new id. ``regenerate()`` keeps the data under a new id.
* With ``autoload=False`` the session must be loaded with ``await
  session.load()`` before use; using it earlier raises :class:`SessionNotLoaded`,
  except setting keys, below.
* Blind writes: where the middleware offers them (``SessionConfig.with_store``),
  setting a key of a session not loaded yet does not load it. The value is
  checked at once (unstorable, or over the cap by itself) and kept aside; if the
  request never reads the session, the middleware saves those keys in one store
  call. Any read loads the record first and then applies the kept keys, so a
  total over the cap may be reported there (or, if never read, by the save).

The middleware, not the session, talks to the store: see ``sessionware.core``.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import logging
import uuid
from collections.abc import (
    Awaitable,
    Callable,
    ItemsView,
    Iterator,
    KeysView,
    Mapping,
    MutableMapping,
    ValuesView,
)
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from . import codec
from .bounded import Bounded
from .cookies import new_token, public_id
from .devices import Device
from .encryption import Keyring, is_sealed
from .errors import (
    ConfigurationError,
    CorruptRecord,
    SessionNotLoaded,
    SessionTooLarge,
    SessionwareError,
    UnstorableValue,
)
from .stores.base import MAX_DURATION_SECONDS, Meta, StoredSession

if TYPE_CHECKING:
    from .session_types.model import SessionType

logger = logging.getLogger("sessionware")
# (session id, type, its problems) already logged: a record under an older schema is
# reported once per process, not on every request that loads it
_REPORTED: Bounded[tuple[str | None, str, str], None] = Bounded(4096)
_NAMED_KEYS = 10  # a message naming keys (a refused update, late changes) names this many

_S = TypeVar("_S", bound="Session")
_PENDING = object()  # sits in the dict's own storage while a record waits to be loaded
WEBSOCKET = "websocket"  # Session._sealed for a websocket's session: never saved
# Session._sealed once the request's exception left the middleware (ASGI): an exception
# handler run outside it (Starlette's for Exception or 500) may still change it, unsaved
ABANDONED = "abandoned"
_NONE_SEEN: frozenset[str] = frozenset()  # Session._before_seal of a session nothing read
_NO_DEFAULT = object()  # pop() without a default

FLASH_KEY = "_flashes"  # Flask's key and format: a list of (category, message) tuples

# Values of these types cannot change in place, so reading them cannot modify the session.
_IMMUTABLE = frozenset(
    {str, int, float, bool, bytes, type(None), Decimal, uuid.UUID, dt.datetime, dt.date}
    | {dt.time, dt.timedelta, frozenset}
    | ({codec.MARKUP} if codec.MARKUP is not None else set())
)


class Session(dict[str, Any]):
    """A session's data, loaded lazily and saved by the middleware.

    It is a ``dict`` wherever a dict was (``json.dumps``, ``JSONResponse``,
    ``dict(session)``, ``==``, ``copy()``, ``|``, ``|=``, LIFO ``popitem()`` within
    one request: the next request reads keys in the store's order), and
    every method goes through the loading, validation and change tracking below;
    the dict's own storage holds exactly the loaded data. Removing the last key
    ends the session, as ``clear()`` does.

    ``id`` is the session's public id (what the store and the management API
    show; never the cookie's secret token), ``None`` until it is first saved.
    """

    __slots__ = (
        "_accessed",
        "_app",
        "_async_loader",
        "_at_seal",
        "_before_seal",
        "_blind",
        "_blind_ok",
        "_blind_skip",
        "_cleared",
        "_cookie_sent",
        "_device",
        "_fresh",
        "_id",
        "_keyring",
        "_loaded_size",
        "_max_bytes",
        "_meta",
        "_next_token",
        "_pending_load",
        "_problems",
        "_raw",
        "_regenerate",
        "_remembered_cookie",
        "_replaced",
        "_resign",
        "_sealed",
        "_signed_at",
        "_size",
        "_sizes",
        "_stale",
        "_sync_loader",
        "_token",
        "_touched",
        "_type",
        "_unloaded",
        "_unusable",
    )

    def __init__(self, *, max_payload_bytes: int = 65536) -> None:
        # (no dict.__init__: with no arguments it does nothing, and this runs per request)
        self._token: str | None = None  # the verified cookie token, if any
        self._signed_at: float | None = None  # when that cookie was signed
        self._resign = False  # that cookie was signed with an older key
        self._cookie_sent = False  # a cookie of our name came in, valid or not
        self._remembered_cookie = False  # that cookie was signed for a "remember me" session
        self._id: str | None = None  # public id of the stored record behind the token
        self._meta: Meta | None = None
        self._raw: dict[str, bytes] = {}  # encodings as loaded, to detect changes
        self._replaced: set[str] = set()  # loaded keys deleted or given another object since
        self._sizes: dict[str, int] = {}
        self._size = 0
        self._loaded_size = 0  # a record loaded over the cap may shrink, never grow
        self._touched: set[str] = set()
        # immutable values as assigned, with their encoding: a save need not encode them
        # again while the key still holds that very object (see _encode_touched)
        self._fresh: dict[str, tuple[Any, bytes]] = {}
        self._max_bytes = max_payload_bytes
        self._pending_load = False  # a record may exist but is not loaded yet
        self._sync_loader: Callable[[], StoredSession | None] | None = None
        self._async_loader: Callable[[], Awaitable[StoredSession | None]] | None = None
        self._accessed = False
        self._cleared = False
        self._regenerate = False
        self._next_token: str | None = None  # the token regenerate() drew for the save
        self._sealed: bool | str = False  # True: the response started; WEBSOCKET: never saved
        self._at_seal: dict[str, bytes | None] | None = None  # see _seal
        self._before_seal = _NONE_SEEN  # see _seal
        self._device: Device | None = None  # the request's device, when recorded
        self._unloaded = False  # autoload=False: load() must come before any use
        self._keyring: Keyring | None = None  # encryption at rest, when configured
        self._stale: set[str] = set()  # loaded values to seal again (plaintext or an old key)
        self._type: SessionType | None = None  # the bound session type: checks every assignment
        self._problems: list[str] = []  # what the loaded record breaks of that type's schema
        self._blind: dict[str, tuple[Any, bytes]] = {}  # keys set before any load: value, bytes
        self._blind_ok = False  # may keys be set without loading? (the middleware decides)
        self._blind_skip: frozenset[str] = frozenset()  # keys that load first all the same
        self._unusable: str | None = None  # the id a load found no usable record under
        self._app: str | None = None  # whose records open here (None: any: a token's)

    # -- identity and lifecycle ------------------------------------------------

    @property
    def id(self) -> str | None:
        """The public id of the stored session, ``None`` while it is new (loads it first).

        It names the record that exists: after :meth:`regenerate` too, until the
        response has saved the new one, so that it is what SessionManager calls take
        (``revoke_user(user, keep=session.id)`` after a password change)."""
        self._ensure_loaded()
        return self._id

    def _pending_id(self) -> str | None:
        """The id the session gets when the response saves it: after :meth:`regenerate`
        (or a "remember me" change) the new one, drawn then; else :attr:`id`. It
        names no record until that save, nor ever if the save does not happen."""
        self._ensure_loaded()
        if self._next_token is not None and not self._sealed:
            return public_id(self._next_token)
        return self._id

    @property
    def is_new(self) -> bool:
        """True when no stored session backs this one (yet)."""
        self._ensure_loaded()
        return self._id is None

    @property
    def accessed(self) -> bool:
        """True once the handler has read or written the session."""
        return self._accessed

    async def load(self) -> None:
        """Load the session from the store (``autoload=False``); a no-op once loaded.

        Raises :class:`~sessionware.errors.StoreUnavailable` when the store fails.
        """
        self._unloaded = False
        if self._pending and self._async_loader is not None:
            stored = await self._async_loader()
            if self._pending:  # (a load() awaited beside this one may have filled it, and
                self._fill(stored)  # the request changed it since: that stands)
        elif self._pending:
            self._ensure_loaded()

    def regenerate(self) -> None:
        """Give the session a new id at the end of the request, keeping its data.

        Call it when privileges change, at login above all: an id planted
        before login (session fixation) is then worthless. :attr:`id` keeps naming
        the stored record until the response saves the new one.
        """
        self._ensure_loaded()
        if self._sealed:
            logger.warning(
                "sessionware: regenerate() after the response started (or in a websocket "
                "handler): nothing is saved any more, so the session keeps its id"
            )
        self._renew_id()

    def _renew_id(self) -> None:
        """Give the session a new id when it is saved, drawn now (see
        :meth:`_pending_id`); nothing once the response started (never saved)."""
        if self._sealed:
            return
        self._regenerate = True
        if self._next_token is None:
            self._next_token = new_token()

    def clear(self) -> None:
        """Empty the session and end it: the stored record is deleted (logout).

        Anything written afterwards in the same request starts a new session
        with a new id. Once the response started (or in a websocket handler)
        nothing is saved any more: the stored session stays, and a warning says so.
        """
        if self._sealed and self._id is not None:  # (no stored session: nothing to say)
            logger.warning(
                "sessionware: clear() %s, so the stored session %s%s is not deleted and "
                "its user stays signed in; log out before the response starts, or end it "
                "with SessionManager.revoke(session.id)",
                "in a websocket handler, which is never saved"
                if self._sealed == WEBSOCKET
                else "after the request's exception left the session middleware (in a "
                "handler for Exception or 500, which runs outside it)"
                if self._sealed == ABANDONED
                else "after the response started (a streaming body or a background task)",
                self._id,
                " (not loaded: if it is still stored)" if self._pending else "",
            )
        self._end()

    def _end(self) -> None:
        """:meth:`clear` without its warning (a deletion of the last key warned already)."""
        self._accessed = True
        self._pending = False  # the old record is deleted whatever it held
        self._cleared = True
        self._regenerate = False  # nothing is left to carry: this is a logout
        self._next_token = None
        self._stale.clear()
        self._problems = []
        self._blind.clear()
        dict.clear(self)
        self._sizes.clear()
        self._size = self._loaded_size = 0
        self._touched.clear()
        self._fresh.clear()

    # -- session types ---------------------------------------------------------------

    @property
    def session_type(self) -> SessionType | None:
        """The type this session is bound to (``session_type=`` on the middleware), or ``None``."""
        return self._type

    @property
    def schema_problems(self) -> list[str]:
        """How the stored record breaks its type's current schema (written under an
        older one), one message per field; ``[]`` when it conforms. Loads first."""
        self._ensure_loaded()
        return list(self._problems)

    # -- "remember me" ------------------------------------------------------------

    @property
    def permanent(self) -> bool:
        """Whether this session's cookie outlives the browser (Flask's meaning).

        ``True`` makes the cookie persistent for the middleware's
        ``permanent_lifetime`` (Flask: ``PERMANENT_SESSION_LIFETIME``); ``False``
        makes it a browser-session cookie again. Stored as Flask stores it.
        """
        return bool(self.get("_permanent", False))

    @permanent.setter
    def permanent(self, value: bool) -> None:
        if value:
            self._remember_as(True)
        elif "_permanent" in self:
            self._renew_stored_id()  # see _remember_as (first: a bearer session refuses it)
            del self["_permanent"]

    def remember(self, duration: dt.timedelta | int | None = None) -> None:
        """Keep this session's cookie after the browser closes: for ``duration``
        (a timedelta or whole seconds), or the middleware's ``permanent_lifetime``.

        A login form's "remember me" box calls this; ``permanent = False`` undoes it.
        The cookie never outlives ``absolute_timeout``.

        The stored record then stays while the session is used at least once per
        ``max(idle_timeout, permanent_lifetime)`` (or ``duration``, until the next
        request). Starting to remember gives the session a new id, as a login does.

        Raises ConfigurationError (a ValueError) for anything but a duration from 1
        second to 100 years; nothing changes then.
        """
        if duration is None:
            self._remember_as(True)
            return
        total = duration.total_seconds() if isinstance(duration, dt.timedelta) else duration
        if (
            isinstance(total, bool)
            or not isinstance(total, (int, float))
            or not 1 <= total <= MAX_DURATION_SECONDS  # (also NaN)
        ):
            raise ConfigurationError(
                f"remember() takes a duration from 1 second to 100 years (a timedelta or "
                f"whole seconds), not {duration!r}; remember() alone keeps the session for "
                "the middleware's permanent_lifetime"
            )
        self._remember_as(int(total))

    def _remember_as(self, choice: bool | int) -> None:
        """Record a "remember me" choice. A changed choice (either way) rotates the id at
        save, so that the store gives the record the idle expiry that goes with it."""
        previous = self.get("_permanent")
        self["_permanent"] = choice  # first: a refused value changes nothing else
        if previous != choice or type(previous) is not type(choice):
            self._renew_stored_id()

    def _renew_stored_id(self) -> None:
        """A changed "remember me" choice: a stored record gets a new id at save, which
        the store creates with the idle expiry the choice goes with. A session with no
        live record (loaded first) is created with it anyway, and so is not renewed:
        nor is it a login, which would let a request whose cookie a concurrent login
        took start a session over it (``before_request`` setting ``permanent`` on every
        request: see ``core.gone_before``)."""
        self._ensure_loaded()
        if self._id is not None:
            self._renew_id()

    # -- flash messages --------------------------------------------------------

    def flash(self, message: Any, category: str = "info") -> None:
        """Queue ``message`` for a later request (stored like Flask's ``flash``)."""
        flashes = self._queued_flashes()
        flashes.append((category, message))
        self[FLASH_KEY] = flashes

    def pop_flashes(self, category: str | None = None) -> list[tuple[str, Any]]:
        """Return and remove queued ``(category, message)`` pairs, oldest first.

        With ``category``, only that category's messages are returned and removed.
        """
        flashes = self._queued_flashes()
        wanted = [f for f in flashes if category is None or f[0] == category]
        kept = [f for f in flashes if f not in wanted] if category is not None else []
        if kept:
            self[FLASH_KEY] = kept
        elif FLASH_KEY in self:
            del self[FLASH_KEY]
        return wanted

    def _queued_flashes(self) -> list[tuple[str, Any]]:
        """The queued ``(category, message)`` pairs. Anything else under the flash key
        (a value set there by hand: ``session["_flashes"] = 1``) is no message: it is
        left out, and goes at the next flash or pop, rather than fail every page."""
        raw = self.get(FLASH_KEY, ())
        if not isinstance(raw, (list, tuple)):
            return []
        return [(f[0], f[1]) for f in raw if isinstance(f, (list, tuple)) and len(f) == 2]

    # -- the mapping (every dict method, through loading and change tracking) ----

    def __getitem__(self, key: str) -> Any:
        value = self.get(key, _NO_DEFAULT)
        if value is _NO_DEFAULT:
            raise KeyError(key)
        return value

    def __setitem__(self, key: str, value: Any) -> None:
        self._writable(key)
        self._assign(key, value, None)

    def _writable(self, key: str) -> None:
        """Raise when this session takes no write of ``key`` at all, whatever the value:
        a subclass's refusal (a bearer session without a valid token, sessions turned
        off). Every write asks it first (``update`` of every key before it sets any).
        Nothing here: a session takes any key's write."""

    def _assign(self, key: str, value: Any, checked: bytes | None) -> None:
        """``session[key] = value``; ``checked``: the value's encoding when ``update`` has
        checked it already (its key, the type's schema, and the size cap together with
        the other pairs), so that none of that is done again."""
        if self._blind_ok and (self._pending_load or self._unloaded):
            if not self._pending_load:
                self._unloaded = False  # no record to load: the session is simply new
            elif codec.check_key(key) not in self._blind_skip:
                try:
                    self._set_blind(key, value, checked)
                except SessionwareError:
                    self._undo_if_held(key, value, None)  # (the stored value, unread, stays)
                    raise
                return
        self._ensure_loaded()
        self._warn_if_sealed(key)
        if checked is None:
            try:
                encoded, size, total = self._measured(key, value)
            except SessionwareError:
                self._undo_if_held(key, value, None)
                raise
        else:
            encoded, size = checked, len(key.encode()) + len(checked)
            total = self._size - self._sizes.get(key, 0) + size
        if key in self._raw and dict.get(self, key, _NO_DEFAULT) is not value:
            self._replaced.add(key)  # (its stored value is no longer what it holds)
        dict.__setitem__(self, key, value)
        self._sizes[key] = size
        self._size = total
        self._touched.add(key)
        if type(value) in _IMMUTABLE:
            self._fresh[key] = (value, encoded)

    def _measured(self, key: str, value: Any) -> tuple[bytes, int, int]:
        """An assignment's checks: ``value``'s encoding, its size with its key, and the
        session's size with it; what a refused assignment raises."""
        if self._type is not None:  # before anything changes: a refusal leaves it as is
            self._type.validate_item(codec.check_key(key), value)
        encoded = codec.encode(codec.check_key(key), value)
        size = len(key.encode()) + len(encoded)
        total = self._size - self._sizes.get(key, 0) + size
        if total > self._max_bytes and self._touched - {key}:
            self._remeasure({key})  # values changed in place may have shrunk since measured
            total = self._size - self._sizes.get(key, 0) + size
        if total > self._max_bytes and total > self._size:  # over the cap: may only shrink
            raise SessionTooLarge(
                f"storing {key!r} would make the session {total} bytes, over "
                f"max_payload_bytes={self._max_bytes}; keep large data elsewhere (a "
                f"database row, a cache) and store its id, or raise max_payload_bytes",
                key=key,
                size=total,
                limit=self._max_bytes,
            )
        return encoded, size, total

    def _undo_in_place(self, key: str) -> None:
        """An assignment was refused of the very object ``key`` holds: changed in place
        into what cannot be stored (``cart = s["cart"]; cart.append(x); s["cart"] =
        cart``). Left so, it would fail the request's save too, after a handler that
        caught the error; so the key goes back to its value as loaded, or, when this
        request set it (or replaced the loaded value, or ended the session), goes.
        Logged, as a change is lost."""
        raw = None if self._cleared or key in self._replaced else self._raw.get(key)
        self._size -= self._sizes.pop(key, 0)
        self._touched.discard(key)
        self._fresh.pop(key, None)
        if raw is not None:
            dict.__setitem__(self, key, codec.decode(raw))
            self._sizes[key] = size = len(key.encode()) + len(raw)
            self._size += size
        else:
            dict.__delitem__(self, key)
        _warn_undone(
            key, "back to its stored value" if raw is not None else "removed (this request set it)"
        )

    def __delitem__(self, key: str) -> None:
        self._ensure_loaded()
        self._warn_if_sealed(key)
        dict.__delitem__(self, key)
        self._replaced.add(key)
        self._size -= self._sizes.pop(key, 0)
        self._touched.discard(key)
        self._fresh.pop(key, None)
        if not dict.__len__(self) and self._id is not None:
            self._end()  # the last key is gone: the session ends, as with every peer

    def __iter__(self) -> Iterator[str]:
        self._ensure_loaded()
        return dict.__iter__(self)

    def __reversed__(self) -> Iterator[str]:
        self._ensure_loaded()
        return dict.__reversed__(self)

    def __len__(self) -> int:
        self._ensure_loaded()
        return dict.__len__(self)

    def __contains__(self, key: object) -> bool:
        self._ensure_loaded()
        return dict.__contains__(self, key)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mapping):
            return NotImplemented
        self._ensure_loaded()
        return dict(dict.items(self)) == dict(other.items())

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = None  # mutable, as dict

    def __repr__(self) -> str:
        """The dict's repr; a session not loaded yet says so rather than loading."""
        if self._pending:
            return f"<{type(self).__name__} id={self._id!r} (not loaded)>"
        return dict.__repr__(self)

    def keys(self) -> KeysView[str]:  # type: ignore[override]
        return KeysView(self)

    def values(self) -> ValuesView[Any]:  # type: ignore[override]
        return ValuesView(self)

    def items(self) -> ItemsView[str, Any]:  # type: ignore[override]
        return ItemsView(self)

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key``, else ``default``, as ``dict.get`` (no KeyError raised and
        caught on a miss: a read of an absent key is common). Every read goes through
        here (``session[key]`` too): it loads the session, and a mutable value read is
        re-encoded at the save, since it may be changed in place."""
        self._ensure_loaded()
        value = dict.get(self, key, _NO_DEFAULT)
        if value is _NO_DEFAULT:
            return default
        if type(value) not in _IMMUTABLE:
            self._touched.add(key)
        return value

    setdefault = MutableMapping.setdefault

    def update(self, other: Any = (), /, **kwargs: Any) -> None:
        """``dict.update``, all or nothing: every pair is checked before any is set (its
        key, the session type's schema, that it can be stored, and the size cap for all
        of them together, whatever their order), so that a refused one leaves the
        session as it was, as a refused ``session[key] = value`` does, a value changed
        in place included (see ``__setitem__``). Raises what that assignment raises."""
        if isinstance(other, Mapping):
            pairs = [(key, other[key]) for key in other]
        elif hasattr(other, "keys"):
            pairs = [(key, other[key]) for key in other.keys()]  # noqa: SIM118 - not a Mapping
        else:
            pairs = [(key, value) for key, value in other]
        pairs += kwargs.items()
        if len(pairs) < 2:
            for key, value in pairs:
                self[key] = value
            return
        for key, _ in pairs:  # (refused whole, before anything is checked or set)
            self._writable(key)
        for (key, value), encoded in zip(pairs, self._check_all(pairs), strict=True):
            self._assign(key, value, encoded)

    def _check_all(self, pairs: list[tuple[Any, Any]]) -> list[bytes]:
        """``update``'s checks, before it sets anything: each pair's encoding, in order.
        The size cap is checked against
        the loaded session, or, with nothing loaded (a blind write), against what these
        values alone take, which the stored session cannot be smaller than. A refused
        value that a key holds, changed in place, goes back as ``__setitem__`` has it."""
        keys = [codec.check_key(key) for key, _ in pairs]
        if self._pending_load and (not self._blind_ok or not self._blind_skip.isdisjoint(keys)):
            self._ensure_loaded()  # (as the assignments would: then the cap is checked exactly)
        sizes: dict[str, int] = {}  # (a key given twice: its last value counts)
        encodings = []
        for key, value in pairs:
            try:
                if self._type is not None:
                    self._type.validate_item(key, value)
                encodings.append(codec.encode(key, value))
            except SessionwareError:
                self._undo_if_held(key, value, None)
                raise
            sizes[key] = len(key.encode()) + len(encodings[-1])
        if self._pending_load:
            total = sum(sizes.values())
        else:
            total = self._size + sum(size - self._sizes.get(k, 0) for k, size in sizes.items())
            if total > self._max_bytes and self._touched - sizes.keys():
                self._remeasure(set(sizes))  # values changed in place may have shrunk
                total = self._size + sum(s - self._sizes.get(k, 0) for k, s in sizes.items())
        if total > self._max_bytes and (self._pending_load or total > self._size):
            for key, value in pairs:
                self._undo_if_held(key, value, sizes[key])
            named = ", ".join(map(repr, itertools.islice(sizes, _NAMED_KEYS)))
            if len(sizes) > _NAMED_KEYS:  # (a message is logged: it stays short)
                more = len(sizes) - _NAMED_KEYS
                named += f" and {more} more key{'s' if more > 1 else ''}"
            raise SessionTooLarge(
                f"storing {named} would make the session "
                f"{'at least ' if self._pending_load else ''}{total} bytes, over "
                f"max_payload_bytes={self._max_bytes}; keep large data elsewhere (a database "
                f"row, a cache) and store its id, or raise max_payload_bytes",
                key=next(iter(sizes)),
                size=total,
                limit=self._max_bytes,
            )
        return encodings

    def _undo_if_held(self, key: str, value: Any, size: int | None) -> None:
        """A refused ``value`` that ``key`` already holds, changed in place: back to what
        is stored, as a refused assignment of it does (``__setitem__``). ``size``: its
        size now, when what refused it was the size of the update as a whole; then only
        a value whose size moved since it was measured counts as changed (one that did
        not, or an int or a str, which nothing changes in place, keeps its change)."""
        if type(value) in _IMMUTABLE or not isinstance(key, str):
            return
        if self._pending_load:
            held = self._blind.get(key)
            if held is None or held[0] is not value:
                return
            if size is None or len(key.encode()) + len(held[1]) != size:
                del self._blind[key]
                _warn_undone(key, "left as stored (this request does not write it)")
        elif dict.get(self, key, _NO_DEFAULT) is value and (
            size is None or self._sizes.get(key) != size
        ):
            self._undo_in_place(key)

    def pop(self, key: str, default: Any = _NO_DEFAULT) -> Any:
        """Remove ``key`` and return its value; ``default`` when it is absent (``KeyError``
        without one), as ``dict.pop``. Removing the last key ends the session, as
        ``del`` does."""
        try:
            value = self[key]
        except KeyError:
            if default is _NO_DEFAULT:
                raise
            return default
        del self[key]
        return value

    def popitem(self) -> tuple[str, Any]:
        """Remove and return the last inserted ``(key, value)``, as ``dict`` does."""
        self._ensure_loaded()
        if not dict.__len__(self):
            raise KeyError("popitem(): the session is empty")
        key = next(dict.__reversed__(self))
        value = self[key]
        del self[key]
        return key, value

    def copy(self) -> dict[str, Any]:
        """A plain ``dict`` with the session's data (a shallow copy, not a session)."""
        return dict(self.items())

    # copy.copy, copy.deepcopy and pickle give plain dicts too: a second Session would
    # share this one's change tracking (a write to the copy broke this one's save), and
    # only the request's own session is ever saved
    def __copy__(self) -> dict[str, Any]:
        return self.copy()

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        return copy.deepcopy(self.copy(), memo)

    def __reduce__(self) -> tuple[type[dict[str, Any]], tuple[dict[str, Any]]]:
        return dict, (self.copy(),)

    def __or__(self, other: Any) -> dict[str, Any]:  # type: ignore[override]
        if not isinstance(other, Mapping):
            return NotImplemented
        return {**self.copy(), **other}

    def __ror__(self, other: Any) -> dict[str, Any]:  # type: ignore[override]
        if not isinstance(other, Mapping):
            return NotImplemented
        return {**other, **self.copy()}

    def __ior__(self: _S, other: Any) -> _S:  # type: ignore[override]
        self.update(other)
        return self

    # -- for the middleware (sessionware.core) ----------------------------------

    @property
    def _pending(self) -> bool:
        """A record may exist but is not loaded yet (a marker then sits in the storage, so
        that C code reading a dict's size, such as ``json.dumps``, asks us instead)."""
        return self._pending_load

    @_pending.setter
    def _pending(self, value: bool) -> None:
        self._pending_load = value
        storage: dict[object, Any] = self  # type: ignore[assignment]
        if value:
            dict.__setitem__(storage, _PENDING, None)
        else:
            dict.pop(storage, _PENDING, None)

    @property
    def _data(self) -> dict[str, Any]:
        """The loaded data as a plain dict (a copy, without loading or change tracking)."""
        return {} if self._pending else dict(dict.items(self))

    def _warn_if_sealed(self, key: str) -> None:
        if self._sealed == WEBSOCKET:
            logger.warning(
                "sessionware: session key %r changed in a websocket handler, which has no "
                "response to carry a cookie and is never saved, so this is lost; change the "
                "session in an HTTP request (the websocket reads it)",
                key,
            )
        elif self._sealed == ABANDONED:
            logger.warning(
                "sessionware: session key %r changed after the request's exception left "
                "the session middleware (in a handler for Exception or 500, which runs "
                "outside it), so nothing saves it: handle that exception in the route, "
                "or in a handler for its own class",
                key,
            )
        elif self._sealed:
            logger.warning(
                "sessionware: session key %r changed after the response started (a streaming "
                "body, a background task, or the code after yield in a FastAPI dependency); "
                "the session was saved already, so this is lost: change it before returning",
                key,
            )
            if self._at_seal:
                self._at_seal.pop(key, None)  # said here: not again when the app is done
            self._before_seal = self._before_seal | {key}  # (nor as a value read late)

    def _seal(self) -> None:
        """The response starts (its headers carry the save): nothing changed from here
        on can be saved. The save's own encoding of the values read so far
        (:meth:`_encode_touched`) is kept, and which values were read, so that
        :meth:`_warn_if_changed_late` can tell one changed in place afterwards (or
        read first afterwards, and changed in place)."""
        self._sealed = True
        self._at_seal = None
        self._before_seal = frozenset(self._touched) if self._touched else _NONE_SEEN

    def _warn_if_changed_late(self) -> None:
        """Call when the app is done with the request: warn about values changed in
        place after the response started (``session["cart"].append(x)`` in a streaming
        body or a background task), or in a websocket handler, which nothing saves.
        An assignment, a deletion or ``clear()`` warned as it was made."""
        if self._sealed == WEBSOCKET:
            late = [key for key in self._touched if key in self._raw and not self._as_loaded(key)]
        elif self._sealed is True:
            late = [
                key
                for key, before in (self._at_seal or {}).items()
                if (encoding := self._encoding(key)) is not None and encoding != before
            ]
            seen = self._before_seal  # read first after the response started: as loaded?
            late += [
                key
                for key in self._touched
                if key not in seen and key in self._raw and not self._as_loaded(key)
            ]
        else:
            return
        if late:
            late.sort()
            more = f" and {len(late) - _NAMED_KEYS} more" if len(late) > _NAMED_KEYS else ""
            logger.warning(
                "sessionware: session keys %s%s were changed in place %s, so the change is "
                "lost; change the session before the response starts",
                late[:_NAMED_KEYS],
                more,
                "in a websocket handler, which is never saved"
                if self._sealed == WEBSOCKET
                else "after the response started (a streaming body, a background task, code "
                "after `yield` in a dependency): it was saved already",
            )

    def _encoding(self, key: str) -> bytes | None:
        """What ``key``'s value encodes to now, set blind (not loaded) or not (``None``:
        absent, or not storable)."""
        try:
            if dict.__contains__(self, key):
                return codec.encode(key, dict.__getitem__(self, key))
            blind = self._blind.get(key)
            return None if blind is None else codec.encode(key, blind[0])
        except UnstorableValue:
            return None

    def _ensure_loaded(self) -> None:
        self._accessed = True
        if not self._pending and not self._unloaded:
            return
        if self._sync_loader is None:
            raise SessionNotLoaded(
                "the session is not loaded yet (autoload=False): "
                "call `await request.session.load()` before using it"
            )
        self._fill(self._sync_loader())

    def _set_blind(self, key: str, value: Any, checked: bytes | None) -> None:
        """Keep ``value`` aside for a blind write, checked as an assignment is (unless
        ``checked``: its encoding, which ``update`` has checked)."""
        self._accessed = True
        self._warn_if_sealed(key)
        if checked is not None:
            self._blind[key] = (value, checked)
            return
        encoded = codec.encode(key, value)
        size = len(key.encode()) + len(encoded)
        if size > self._max_bytes:
            raise SessionTooLarge(
                f"storing {key!r} would make the session at least {size} bytes, over "
                f"max_payload_bytes={self._max_bytes}; keep large data elsewhere (a database "
                f"row, a cache) and store its id, or raise max_payload_bytes",
                key=key,
                size=size,
                limit=self._max_bytes,
            )
        self._blind[key] = (value, encoded)

    def _blind_encoded(self) -> dict[str, bytes]:
        """The keys set blind, encoded: a mutable value again (it may have changed in
        place since), an immutable one as it was encoded at the assignment. Asked by
        the save once the response started, it keeps the mutable ones' encodings, as
        :meth:`_encode_touched` does, for :meth:`_warn_if_changed_late`."""
        encoded = {
            key: raw if type(value) in _IMMUTABLE else codec.encode(key, value)
            for key, (value, raw) in self._blind.items()
        }
        if self._sealed is True:
            at_seal = self._at_seal if self._at_seal is not None else {}
            for key, (value, _) in self._blind.items():
                if type(value) not in _IMMUTABLE:
                    at_seal[key] = encoded[key]
            self._at_seal = at_seal
        return encoded

    def _fill(self, stored: StoredSession | None) -> None:
        """Take the store's record (``None``: the cookie named no live session), then
        apply the keys set before it was loaded."""
        self._take(stored)
        if self._blind:
            blind, self._blind = self._blind, {}
            sealed, self._sealed = self._sealed, False  # a blind write's fallback, at save
            try:  # all or none, as an update: the cap is checked for them together now
                self.update([(key, value) for key, (value, _) in blind.items()])
            finally:
                self._sealed = sealed
                self._before_seal = self._before_seal | blind.keys()  # (saved now)

    def _take(self, stored: StoredSession | None) -> None:
        self._pending = False
        self._unusable = self._id  # until the record proves usable (see core.plan)
        dict.clear(self)
        if stored is not None and self._app is not None and stored.meta.app != self._app:
            stored = None  # another app's (or type's) record: its cookie opens nothing here
        if stored is None:
            self._id = None
            return
        plain = stored.data
        if self._keyring is not None:
            sealed = sum(len(key.encode()) + len(raw) for key, raw in plain.items())
            if sealed > codec.MAX_RECORD_BYTES:
                self._refuse_oversized(sealed)
                return
            try:
                plain = self._opened(plain)
            except CorruptRecord as error:  # the message says why, never the content
                logger.warning("sessionware: session %s %s; ignoring it", self._id, error)
                self._id = None
                return
        # one pass: sizes (of the payload, not of its sealing) and values
        decode = codec.decode
        sizes: dict[str, int] = {}
        data: dict[str, Any] = {}
        size = 0
        try:
            for key, raw in plain.items():
                sizes[key] = length = len(key.encode()) + len(raw)
                size += length
                if size > codec.MAX_RECORD_BYTES:
                    self._refuse_oversized(size)
                    return
                data[key] = decode(raw)
        except CorruptRecord:  # never show its content; the session starts afresh
            why = "holds an undecodable value"
            if self._keyring is None and any(map(is_sealed, plain.values())):
                why = (
                    "is encrypted, but this middleware has no keys: pass "
                    "encryption=Keyring([...]) with the keys it was sealed with"
                )
            logger.warning("sessionware: session %s %s; ignoring it", self._id, why)
            self._id = None
            return
        self._unusable = None
        self._meta = stored.meta
        self._raw = plain
        dict.update(self, data)
        self._sizes, self._size, self._loaded_size = sizes, size, size
        if self._type is not None and (problems := self._type.problems(data)):
            self._problems = problems  # reported, never raised: the handler decides
            said = (self._id, self._type.tag, "; ".join(problems))
            if said not in _REPORTED:
                _REPORTED.remember(said, None)
                logger.warning(
                    "sessionware: session %s was written under an older schema of type %r: %s "
                    "(said once per process; session.schema_problems has it on every load)",
                    *said,
                )

    def _refuse_oversized(self, size: int) -> None:
        """Ignore (with a warning) a record over the bytes any record may have; a lowered
        ``max_payload_bytes`` is no reason to drop one."""
        logger.warning(
            "sessionware: session %s is %d bytes, over the %d bytes any record may have; "
            "ignoring it",
            self._id,
            size,
            codec.MAX_RECORD_BYTES,
        )
        self._id = None

    def _opened(self, stored: dict[str, bytes]) -> dict[str, bytes]:
        """The stored values' plaintext encodings; notes which to seal again.

        Raises CorruptRecord (its message says why, never the content) for a value
        that does not open. Only with a keyring: without one, a sealed value fails to
        decode, and ``_take`` says it is encrypted.
        """
        assert self._keyring is not None and self._id is not None
        plain: dict[str, bytes] = {}
        for key, raw in stored.items():
            try:
                plain[key], fresh = self._keyring.open(self._id, key, raw, self._token)
            except CorruptRecord:
                if not is_sealed(raw):  # open() refuses a plain value only for this reason
                    raise CorruptRecord(
                        f"holds a plain (unencrypted) value for {key!r}, refused because the "
                        "Keyring has allow_plaintext=False (if it predates encryption, pass "
                        "allow_plaintext=True until every session has been saved again)"
                    ) from None
                raise CorruptRecord(f"holds a value for {key!r} that does not decrypt") from None
            if not fresh:
                self._stale.add(key)
        return plain

    def _remeasure(self, skip: set[str]) -> None:
        """Bring the sizes of values read (and maybe changed in place) up to date."""
        for key in self._touched - skip:
            try:
                size = len(key.encode()) + len(codec.encode(key, dict.__getitem__(self, key)))
            except UnstorableValue:
                continue  # reported at save time, against the key that holds it
            self._size += size - self._sizes.get(key, 0)
            self._sizes[key] = size

    def _encode_touched(self) -> dict[str, bytes]:
        """Encode every value that may have changed; check the size cap on the result.

        Raises :class:`SessionTooLarge` when nested mutation grew the payload past
        the cap (a record loaded over the cap may stay as large, not grow), and
        :class:`UnstorableValue` when it put an unstorable value in.
        """
        encoded = {}
        fresh = self._fresh
        for key in self._touched:
            value = dict.__getitem__(self, key)
            kept = fresh.get(key)
            # an immutable value that is still the object assigned keeps its encoding
            encoded[key] = (
                kept[1] if kept is not None and kept[0] is value else codec.encode(key, value)
            )
        sizes = self._sizes
        for key, raw in encoded.items():
            size = len(key.encode()) + len(raw)
            self._size += size - sizes.get(key, 0)
            sizes[key] = size
        if self._sealed is True and self._at_seal is None:  # what the save sees (_seal):
            self._at_seal = {  # of the values only an assignment changes, nothing
                key: raw
                for key, raw in encoded.items()
                if type(dict.__getitem__(self, key)) not in _IMMUTABLE
            }
        if self._size > max(self._max_bytes, self._loaded_size):
            raise SessionTooLarge(
                f"the session grew to {self._size} bytes through in-place changes, over "
                f"max_payload_bytes={self._max_bytes}; it was not saved",
                key=None,
                size=self._size,
                limit=self._max_bytes,
            )
        return encoded

    def _as_loaded(self, key: str) -> bool:
        """Whether ``key`` holds what the record held when loaded (read, not changed)."""
        raw = self._raw.get(key)
        return raw is not None and self._encoding(key) == raw

    def _changes(self) -> tuple[dict[str, bytes], list[str]]:
        """``(changed, removed)`` against the loaded record."""
        if not self._touched and not self._stale and dict.__len__(self) == len(self._raw):
            return {}, []  # nothing set or read that could change, and no key removed
        changed = {k: v for k, v in self._encode_touched().items() if self._raw.get(k) != v}
        for key in self._stale:  # sealed with an older key, or not at all: seal it anew
            if key not in changed and dict.__contains__(self, key):
                changed[key] = self._raw[key]
        removed = [key for key in self._raw if not dict.__contains__(self, key)]
        return changed, removed

    def _encoded(self) -> dict[str, bytes]:
        """The whole payload, encoded (for a new or rotated record)."""
        touched = self._encode_touched()
        return {key: touched.get(key) or self._raw[key] for key in dict.__iter__(self)}


def _warn_undone(key: str, now: str) -> None:
    """Say that a refused assignment of a value changed in place left ``key`` ``now``."""
    logger.warning(
        "sessionware: the value of %r was changed in place into one that was refused; "
        "the key is %s, so that the session can still be saved",
        key,
        now,
    )
