"""The session-type registry, kept in the store so that every worker shares it.

``TypeRegistry`` (sync) and ``AsyncTypeRegistry`` are what ``manager.types`` is;
``BoundType`` is what a middleware bound to a type reads on each request.

Storage: each type is one JSON document (``SessionType.to_document``) under its
tag, kind :data:`KIND`, through the store's registry capability
(``RegistryStore`` in ``stores/base.py``). Sessions of a type are stored with
``Meta.app`` set to the type's tag, which is how "live sessions of this type"
is counted (``ManagedStore.query(Query(app=tag, status="active"))``).

Concurrency: ``create`` is atomic (a second create of the same tag is refused);
``update`` reads, merges and writes, so of two updates racing on one type the
last wins whole.

Audit: ``create``, ``update`` and ``delete`` given ``actor=`` write one audit record
(action ``type``, no session id) once the change is made, saying what
changed (:func:`change_note`); without ``actor`` they write none, as before.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, cast

from ..errors import (
    ConfigurationError,
    CorruptRecord,
    InvalidSessionType,
    SessionTypeInUse,
    StoreUnavailable,
    UnknownSessionType,
)
from ..stores.base import (
    ACTIVE,
    AsyncManagedStore,
    AsyncRegistryStore,
    AuditRecord,
    ManagedStore,
    Query,
    RegistryStore,
)
from .model import SessionType, coerce
from .schema import refuse_foreign_names

logger = logging.getLogger("sessionware")

KIND = "session-type"
NOTED = 60  # characters of a name, description or selector an audit note repeats
CACHE_SECONDS = 5.0
"""How long a middleware uses a type before reading it from the store again: a
change made anywhere reaches every worker within this many seconds."""


def live_query(tag: str) -> Query:
    """The listing query whose total is the number of live sessions of ``tag``."""
    return Query(app=tag, status=ACTIVE, limit=1)


def decoded(tag: str, document: bytes) -> SessionType:
    """The type stored under ``tag`` as ``document``; CorruptRecord for junk."""
    try:
        return SessionType.from_document(document)
    except (ValueError, TypeError, RecursionError) as error:  # includes InvalidSessionType
        raise CorruptRecord(
            f"the stored session type {tag!r} cannot be read: {error}; delete it with "
            f"force=True (sessionware types delete {tag} --force) and create it again"
        ) from error


def readable_or_forced(tag: str, document: bytes, force: bool) -> SessionType | None:
    """The type a delete removes; ``None`` for an unreadable one that ``force`` removes
    all the same (CorruptRecord without it), so that junk can always be cleared."""
    try:
        return decoded(tag, document)
    except CorruptRecord:
        if not force:
            raise
        return None


def decoded_all(documents: Mapping[str, bytes]) -> list[SessionType]:
    """Every readable type, by tag; an unreadable one is logged and left out."""
    types = []
    for tag in sorted(documents):
        try:
            types.append(decoded(tag, documents[tag]))
        except CorruptRecord as error:
            logger.warning("sessionware: %s", error)
    return types


def merged(current: SessionType, changes: Mapping[str, Any]) -> SessionType:
    """``current`` with ``changes``; ``new_tag`` renames it."""
    changes = dict(changes)
    if "new_tag" in changes:
        changes["tag"] = changes.pop("new_tag")
    return current.with_changes(**changes)


def change_note(before: SessionType | None, after: SessionType) -> str:
    """What an audit record says of a type created (``before`` is ``None``) or changed
    (a deletion's: :func:`deleted_note`)."""
    if before is None:
        return f"created {after.tag} ({after.lifetime})"
    changes = []
    for name in ("tag", "name", "description", "selector", "lifetime"):
        old, new = getattr(before, name), getattr(after, name)
        if old != new:
            changes.append(f"{name} {_noted(old)} -> {_noted(new)}")
    if before.schema != after.schema:
        changes.append("schema changed")
    return f"updated {before.tag}: " + ("; ".join(changes) or "nothing changed")


def deleted_note(tag: str, before: SessionType | None, live: int = 0) -> str:
    """The audit note of a delete; ``before`` is ``None`` for an unreadable document;
    ``live``: the sessions a forced delete left."""
    left = f"; {live} live session{'' if live == 1 else 's'} left to expire" if live else ""
    name = tag if before is None else before.tag
    return f"deleted {name}{' (its stored document unreadable)' if before is None else ''}{left}"


def _noted(value: object) -> str:
    text = "-" if value is None or value == "" else str(value)
    return repr(text if len(text) <= NOTED else text[: NOTED - 1] + "…")


def _record(actor: str, note: str) -> AuditRecord:
    """The audit record of a type's change by ``actor`` (checked by :func:`_who`)."""
    from ..management import TYPE  # (management imports this module lazily)

    return AuditRecord(time.time(), actor, TYPE, None, note)


def _who(actor: str | None, store: object, protocol: type) -> str | None:
    """``actor``, checked before anything changes: ConfigurationError when blank, or
    when ``store`` keeps no audit log (``protocol``) to write the change to."""
    if actor is None:
        return None
    if not isinstance(store, protocol):
        raise _no_audit(store)
    from ..management import checked_actor

    return checked_actor(actor)


def _no_audit(store: object) -> ConfigurationError:
    return ConfigurationError(
        f"store {type(store).__qualname__} keeps no audit log (ManagedStore's add_audit), "
        "so the change cannot be logged: leave actor= out, or use a store that keeps one"
    )


def _checked(store: object, protocol: type, what: str) -> Any:
    if not isinstance(store, protocol):
        raise ConfigurationError(
            f"store {type(store).__qualname__} has no session-type registry ({what}): "
            "see RegistryStore in sessionware/stores/base.py"
        )
    return store


class TypeRegistry:
    """Session types in ``store`` (a ``RegistryStore``; counting live sessions also
    needs a ``ManagedStore``). Every method may raise StoreUnavailable."""

    def __init__(self, store: RegistryStore) -> None:
        self.store: RegistryStore = _checked(
            store, RegistryStore, "registry_put, registry_get, ..."
        )

    def create(
        self,
        session_type: SessionType | Mapping[str, Any] | None = None,
        /,
        *,
        actor: str | None = None,
        **fields: Any,
    ) -> SessionType:
        """Register a type given as a SessionType, a dict, or keywords; returns it.

        InvalidSessionType (naming the field) for a bad definition or a taken tag.
        ``actor``: who creates it, for the audit log (see the module docstring).
        """
        actor = _who(actor, self.store, ManagedStore)
        new = coerce(session_type, fields)
        refuse_foreign_names(new.schema)
        if not self.store.registry_put(KIND, new.tag, new.to_document(), if_absent=True):
            raise _taken(new.tag, "create")
        self._audit(actor, change_note(None, new))
        return new

    def update(self, tag: str, *, actor: str | None = None, **changes: Any) -> SessionType:
        """Change some fields of the type ``tag``, keeping the others; returns the new type.

        ``new_tag=`` renames it (refused while sessions of the type live).
        UnknownSessionType for an unknown tag; InvalidSessionType for a bad change.
        ``actor``: who changes it, for the audit log (see the module docstring).
        """
        actor = _who(actor, self.store, ManagedStore)
        while True:  # until no other change lands between the read and the write
            document = self._document(tag)
            old = decoded(tag, document)
            new = merged(old, changes)
            if "schema" in changes:
                refuse_foreign_names(new.schema)
            if new.tag != tag:
                self._refuse_if_live(tag, "rename")
                if not self.store.registry_put(KIND, new.tag, new.to_document(), if_absent=True):
                    raise _taken(new.tag, "rename")
                self.store.registry_delete(KIND, tag)
            elif not self.store.registry_put(
                KIND, tag, new.to_document(), **_replacing(self.store.registry_put, document)
            ):
                continue  # changed meanwhile: merged again; deleted: UnknownSessionType
            self._audit(actor, change_note(old, new))
            return new

    def fetch(self, tag: str) -> SessionType:
        """The type ``tag``; UnknownSessionType (a LookupError) if there is none."""
        return decoded(tag, self._document(tag))

    def _document(self, tag: str) -> bytes:
        """What the store holds for ``tag``; UnknownSessionType, naming the known tags."""
        document = self.store.registry_get(KIND, _given_tag(tag))
        if document is None:
            raise UnknownSessionType(tag, tuple(sorted(self.store.registry_list(KIND))))
        return document

    def fetch_all(self) -> list[SessionType]:
        """Every registered type, by tag."""
        return decoded_all(self.store.registry_list(KIND))

    def delete(self, tag: str, *, force: bool = False, actor: str | None = None) -> None:
        """Remove the type ``tag``. Refused (SessionTypeInUse) while sessions of it
        live, unless ``force``: they then live on until they expire. ``actor``: who
        deletes it, for the audit log (see the module docstring)."""
        actor = _who(actor, self.store, ManagedStore)
        old = readable_or_forced(tag, self._document(tag), force)
        live = self.live_sessions(tag) if force and actor is not None else 0
        if not force:
            self._refuse_if_live(tag, "delete")
        self.store.registry_delete(KIND, tag)
        self._audit(actor, deleted_note(tag, old, live))

    def live_sessions(self, tag: str) -> int:
        """How many live sessions of type ``tag`` the store holds."""
        managed: ManagedStore = _checked(self.store, ManagedStore, "query")
        return managed.query(live_query(tag), now=time.time())[1]

    def _refuse_if_live(self, tag: str, action: str) -> None:
        if live := self.live_sessions(tag):
            raise SessionTypeInUse(tag, live, action)

    def _audit(self, actor: str | None, note: str) -> None:
        if actor is not None:
            cast(ManagedStore, self.store).add_audit(_record(actor, note))


class AsyncTypeRegistry:
    """:class:`TypeRegistry`'s methods, awaitable, over an ``AsyncRegistryStore``."""

    def __init__(self, store: AsyncRegistryStore) -> None:
        what = "aregistry_put, aregistry_get, ..."
        self.store: AsyncRegistryStore = _checked(store, AsyncRegistryStore, what)

    async def create(
        self,
        session_type: SessionType | Mapping[str, Any] | None = None,
        /,
        *,
        actor: str | None = None,
        **fields: Any,
    ) -> SessionType:
        """See :meth:`TypeRegistry.create`."""
        actor = _who(actor, self.store, AsyncManagedStore)
        new = coerce(session_type, fields)
        refuse_foreign_names(new.schema)
        if not await self.store.aregistry_put(KIND, new.tag, new.to_document(), if_absent=True):
            raise _taken(new.tag, "create")
        await self._audit(actor, change_note(None, new))
        return new

    async def update(self, tag: str, *, actor: str | None = None, **changes: Any) -> SessionType:
        """See :meth:`TypeRegistry.update`."""
        actor = _who(actor, self.store, AsyncManagedStore)
        while True:  # until no other change lands between the read and the write
            document = await self._document(tag)
            old = decoded(tag, document)
            new = merged(old, changes)
            if "schema" in changes:
                refuse_foreign_names(new.schema)
            if new.tag != tag:
                await self._refuse_if_live(tag, "rename")
                put = self.store.aregistry_put(KIND, new.tag, new.to_document(), if_absent=True)
                if not await put:
                    raise _taken(new.tag, "rename")
                await self.store.aregistry_delete(KIND, tag)
            elif not await self.store.aregistry_put(
                KIND, tag, new.to_document(), **_replacing(self.store.aregistry_put, document)
            ):
                continue  # changed meanwhile: merged again; deleted: UnknownSessionType
            await self._audit(actor, change_note(old, new))
            return new

    async def fetch(self, tag: str) -> SessionType:
        """See :meth:`TypeRegistry.fetch`."""
        return decoded(tag, await self._document(tag))

    async def _document(self, tag: str) -> bytes:
        """See :meth:`TypeRegistry._document`."""
        document = await self.store.aregistry_get(KIND, _given_tag(tag))
        if document is None:
            known = await self.store.aregistry_list(KIND)
            raise UnknownSessionType(tag, tuple(sorted(known)))
        return document

    async def fetch_all(self) -> list[SessionType]:
        """See :meth:`TypeRegistry.fetch_all`."""
        return decoded_all(await self.store.aregistry_list(KIND))

    async def delete(self, tag: str, *, force: bool = False, actor: str | None = None) -> None:
        """See :meth:`TypeRegistry.delete`."""
        actor = _who(actor, self.store, AsyncManagedStore)
        old = readable_or_forced(tag, await self._document(tag), force)
        live = await self.live_sessions(tag) if force and actor is not None else 0
        if not force:
            await self._refuse_if_live(tag, "delete")
        await self.store.aregistry_delete(KIND, tag)
        await self._audit(actor, deleted_note(tag, old, live))

    async def live_sessions(self, tag: str) -> int:
        """See :meth:`TypeRegistry.live_sessions`."""
        managed: AsyncManagedStore = _checked(self.store, AsyncManagedStore, "aquery")
        return (await managed.aquery(live_query(tag), now=time.time()))[1]

    async def _refuse_if_live(self, tag: str, action: str) -> None:
        if live := await self.live_sessions(tag):
            raise SessionTypeInUse(tag, live, action)

    async def _audit(self, actor: str | None, note: str) -> None:
        if actor is not None:
            await cast(AsyncManagedStore, self.store).aadd_audit(_record(actor, note))


class BoundType:
    """The type a middleware is bound to, read from the store at most once per
    :data:`CACHE_SECONDS`.

    When a read fails (the store is down) or finds the type gone, the last
    known version stays in use and a warning is logged; with none known yet,
    the error (UnknownSessionType, StoreUnavailable) is raised to the request.
    """

    def __init__(self, tag: str, store: object, *, cache_seconds: float | None = None) -> None:
        if not isinstance(tag, str) or not tag:
            raise ConfigurationError(f"session_type must be a type's tag (a str), not {tag!r}")
        self.tag = tag
        self.store = store
        self.cache_seconds = CACHE_SECONDS if cache_seconds is None else cache_seconds
        self._type: SessionType | None = None
        self._read_at = float("-inf")

    def current(self) -> SessionType:
        """The type now (sync store)."""
        if self._fresh():
            assert self._type is not None
            return self._type
        registry = TypeRegistry(self.store)  # type: ignore[arg-type]
        return self._settle(lambda: registry.fetch(self.tag))

    async def acurrent(self) -> SessionType:
        """The type now (async store)."""
        if self._fresh():
            assert self._type is not None
            return self._type
        registry = AsyncTypeRegistry(self.store)  # type: ignore[arg-type]
        try:
            found: SessionType | Exception = await registry.fetch(self.tag)
        except (UnknownSessionType, StoreUnavailable, CorruptRecord) as error:
            found = error
        return self._settle(lambda: _given(found))

    def _fresh(self) -> bool:
        return self._type is not None and time.monotonic() - self._read_at < self.cache_seconds

    def _settle(self, read: Any) -> SessionType:
        try:
            found: SessionType = read()
        except (UnknownSessionType, StoreUnavailable, CorruptRecord) as error:
            if self._type is None:
                raise
            logger.warning("sessionware: keeping session type %r as last read: %s", self.tag, error)
            self._read_at = time.monotonic()
            return self._type
        self._type, self._read_at = found, time.monotonic()
        return found


def _given(found: SessionType | Exception) -> SessionType:
    if isinstance(found, Exception):
        raise found
    return found


def _given_tag(tag: object) -> str:
    """``tag``, if it is a str (InvalidSessionType otherwise: a store's client would
    fail on it with an error of its own)."""
    if not isinstance(tag, str):
        raise InvalidSessionType(
            f"a session type's tag is a str, not {type(tag).__qualname__}", field="tag"
        )
    return tag


def _replacing(put: Callable[..., Any], document: bytes) -> dict[str, Any]:
    """``registry_put``'s compare-and-set argument, where the store's takes it; a store
    written before it was added gets none, and an update overwrites as it did then."""
    try:
        parameters = inspect.signature(put).parameters.values()
    except (TypeError, ValueError):  # (a callable that shows no signature)
        return {}
    if any(p.name == "replacing" or p.kind is p.VAR_KEYWORD for p in parameters):
        return {"replacing": document}
    return {}


def _taken(tag: str, action: str) -> InvalidSessionType:
    """The error for a tag that another type holds, saying what to do instead."""
    if action == "create":
        hint = (
            f"change it with update({tag!r}, ...); when every worker creates its types at "
            "start-up, one wins and the others get this error, which they may ignore"
        )
    else:
        hint = "give the type another new_tag, or delete that type first"
    return InvalidSessionType(f"a session type with tag {tag!r} exists: {hint}", field="tag")
