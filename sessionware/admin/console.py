"""AdminConsole: the operators' sessions console, a thin view over the management API.

Access is the host app's decision: ``authorize(request)`` (sync or async)
returns the acting :class:`Operator`, or ``None`` for a 403. A ``viewer`` lists
sessions and reads their metadata, the audit log and the analytics; an
``admin`` also reveals payloads, changes TTLs, revokes and exports. Every POST
needs a CSRF token bound to the operator (see ``csrf.py``) and a same-origin
request. Payloads reach the page only after **View session content**, which
the manager audit-logs before reading.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

from ..analytics import DEFAULT_MAX_PAYLOAD_BYTES
from ..digits import whole_number
from ..encryption import Keyring
from ..errors import ConfigurationError, CorruptRecord
from ..export import as_now
from ..management import AUDIT_ACTIONS, STATUSES, operator_name
from . import charts
from .csrf import FIELD, CsrfTokens, refusal
from .csrf import trusted_origins as trusted_origins_of
from .http import Request, Response, json_download, plain, redirect
from .listing import COLUMNS, PAGE_SIZES, Listing
from .manager import Manager
from .pages import Pages, checked_callable, maybe_await
from .render import payload_json, type_name

VIEWER, ADMIN = "viewer", "admin"
ROLES = (VIEWER, ADMIN)
MAX_REASON = 500


@dataclass(frozen=True, slots=True)
class Operator:
    """Who acts in the console: ``name`` goes into the audit log; ``role`` is
    ``"viewer"`` (read metadata) or ``"admin"`` (also reveal, revoke, TTL, export)."""

    name: str
    role: str = VIEWER

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigurationError(f"Operator name must be a non-empty str, not {self.name!r}")
        operator_name(self.name, "Operator name")
        if self.role not in ROLES:
            raise ConfigurationError(f"Operator role must be one of {ROLES}, not {self.role!r}")

    @property
    def is_admin(self) -> bool:
        """True for the ``admin`` role."""
        return self.role == ADMIN


Authorize = Callable[[Request], "Operator | Awaitable[Operator | None] | None"]


@dataclass
class _Call:
    """One request in the console: who, what, with which manager."""

    request: Request
    operator: Operator
    manager: Manager
    csrf: str
    now: dt.datetime


class AdminConsole(Pages):
    """The sessions console over ``store`` (the object the middleware uses).

    An ASGI app (``Mount("/admin/sessions", app=console)``); :meth:`wsgi` gives
    the same pages for WSGI. ``authorize`` is required (there is no open
    default). ``secret_key`` signs CSRF tokens: give every worker the same one
    (without it, a random key per process, and a warning logged: with several
    workers, forms then fail the check). ``max_payload_bytes`` is the
    middleware's limit, drawn in the payload-size chart.
    """

    def __init__(
        self,
        store: Any,
        *,
        authorize: Authorize,
        secret_key: str | bytes | None = None,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        title: str = "Sessions",
        encryption: Keyring | None = None,
        trusted_origins: Sequence[str] = (),
    ) -> None:
        super().__init__(store, encryption=encryption)
        self.authorize = checked_callable(authorize, "authorize", "an Operator or None")
        self.tokens = CsrfTokens(secret_key, "AdminConsole")
        self.trusted_origins = trusted_origins_of(trusted_origins)
        self.max_payload_bytes = max_payload_bytes
        self.title = title
        self.routes: dict[tuple[str, str], Callable[[_Call], Awaitable[Response]]] = {
            ("GET", "/"): self.sessions,
            ("GET", "/session"): self.detail,
            ("POST", "/reveal"): self.reveal,
            ("POST", "/ttl"): self.ttl,
            ("GET", "/revoke"): self.confirm_revoke,
            ("POST", "/revoke"): self.revoke,
            ("GET", "/revoke-user"): self.confirm_revoke_user,
            ("POST", "/revoke-user"): self.revoke_user,
            ("POST", "/export"): self.export,
            ("GET", "/audit"): self.audit,
            ("GET", "/analytics"): self.analytics,
        }

    async def respond(self, request: Request, manager: Manager) -> Response:
        operator = await maybe_await(self.authorize(request))
        if operator is None:
            return self._page(
                None,
                "message.html",
                403,
                root=request.root,  # the page's stylesheet and script are under the mount
                heading="Not allowed",
                message="You are not allowed to use the session console.",
            )
        if not isinstance(operator, Operator):
            raise ConfigurationError(
                f"authorize returned {operator!r}: return an Operator(name=..., role=...) or None"
            )
        view = self.routes.get((request.method, request.path))
        if view is None:
            known = any(path == request.path for _, path in self.routes)
            return plain(405 if known else 404)
        if request.method == "POST":
            why = refusal(self.tokens, request, self.trusted_origins, "console", operator.name)
            if why is not None:
                return self._refused(request, why)
        if (request.method == "POST" or request.path in _ADMIN_PAGES) and not operator.is_admin:
            return self._refused(request, f"The {operator.role} role cannot do this; ask an admin.")
        csrf = self.tokens.issue("console", operator.name)
        now = dt.datetime.now(dt.timezone.utc)
        return await view(_Call(request, operator, manager, csrf, now))

    # -- pages ---------------------------------------------------------------------

    async def sessions(self, call: _Call) -> Response:
        listing = Listing.from_query(call.request.query)
        page = await call.manager.list(**listing.filters())
        if (within := listing.within(page.total_pages)) != listing:  # past the end: the last
            listing, page = within, await call.manager.list(**within.filters())
        page = replace(page, items=[as_now(info) for info in page.items])
        apps = sorted({item.app for item in page.items} | ({listing.app} - {""}))
        return self._page(
            call,
            "sessions.html",
            listing=listing,
            page=page,
            columns=COLUMNS,
            statuses=STATUSES,
            sizes=PAGE_SIZES,
            apps=apps,
        )

    async def detail(
        self, call: _Call, notice: str | None = None, status: int = 200, **extra: Any
    ) -> Response:
        # a POST's form names the session it acted on: that one is shown, whatever the URL
        session_id = call.request.form.get("id") or call.request.query.get("id", "")
        info = await call.manager.get(session_id) if session_id else None
        if notice is None and info is not None:  # after an action on the full page
            notice = self._done_notice(call, session_id)
        if info is None:
            return self._page(
                call,
                "message.html",
                404,
                heading="No such session",
                message="This session is gone (logged out, or past retention).",
            )
        return self._page(call, "detail.html", status, info=as_now(info), notice=notice, **extra)

    async def reveal(self, call: _Call) -> Response:
        session_id = call.request.form.get("id", "")
        reason = call.request.form.get("reason", "").strip()[:MAX_REASON] or None
        try:
            payload = await call.manager.reveal(session_id, actor=call.operator.name, reason=reason)
        except CorruptRecord as error:  # a key the ring no longer holds, damage
            return await self.detail(call, f"The content cannot be read: {error}.")
        types = {key: type_name(value) for key, value in sorted(payload.items())}
        return await self.detail(call, payload=payload_json(payload), types=types)

    async def ttl(self, call: _Call) -> Response:
        form = call.request.form
        minutes: int | None = None
        if form.get("unlimited") != "1":  # the checkbox's value; anything else is a TTL
            given = form.get("ttl_minutes", "").strip()  # whole minutes, as the box steps
            minutes = whole_number(given, 6) or 0
            if not 1 <= minutes <= 60 * 24 * 366:
                notice = "Give a TTL from 1 minute to a year, in whole minutes, or unlimited."
                return await self.detail(call, notice, 422)  # nothing changed
        ttl = None if minutes is None else minutes * 60
        changed = await call.manager.set_ttl(form.get("id", ""), ttl, actor=call.operator.name)
        if not changed:
            return await self._done(call, "ttl-unchanged")
        what = "unlimited" if minutes is None else f"expires in {minutes:g} min"
        return await self._done(call, "ttl", f"Payload TTL updated: {what}.")

    async def confirm_revoke(self, call: _Call) -> Response:
        """The question before a revoke, as a page of its own (GET: Back returns to it
        without sending anything again); admins only (see :data:`_ADMIN_PAGES`)."""
        return await self.detail(call, confirm_revoke=True)

    async def revoke(self, call: _Call) -> Response:
        if call.request.form.get("confirm") != "yes":
            return await self.detail(call, confirm_revoke=True)
        revoked = await call.manager.revoke(
            call.request.form.get("id", ""), actor=call.operator.name
        )
        return await self._done(call, "revoked" if revoked else "not-revoked")

    async def confirm_revoke_user(self, call: _Call) -> Response:
        """The question before ending every session of a session's user (admins only)."""
        return await self.detail(call, confirm_revoke_user=True)

    async def revoke_user(self, call: _Call) -> Response:
        """End every live session of the user the session names, as the store records
        that user (with ``hash_user_ids``, the hash the console shows)."""
        form = call.request.form
        if form.get("confirm") != "yes":
            return await self.detail(call, confirm_revoke_user=True)
        reason = form.get("reason", "").strip()[:MAX_REASON] or None
        count = await call.manager.revoke_user_of(
            form.get("id", ""), actor=call.operator.name, reason=reason
        )
        return await self._done(call, f"{_USER_REVOKED}{count}")

    async def _done(self, call: _Call, done: str, notice: str | None = None) -> Response:
        """The answer to an action that may have changed a session: in the dialog, the
        session's details saying what it did; on the full page, a redirect to them
        (so that a reload or Back does not send the action again)."""
        if call.request.headers.get("x-console-partial") == "1":
            return _changed(await self.detail(call, notice or _done_sentence(done)))
        session_id = call.request.form.get("id", "")
        proof = self.tokens.issue("done", done, session_id, call.operator.name)
        where = f"{call.request.root}/session?id={quote(session_id, safe='')}"
        return redirect(f"{where}&done={done}&proof={proof}")

    def _done_notice(self, call: _Call, session_id: str) -> str | None:
        """What an action did, from the word its redirect carried (``?done=``), shown
        only with the proof it carried too: a token bound to the session and this
        operator, so that a link made elsewhere cannot say a session was revoked."""
        query = call.request.query
        done = query.get("done", "")
        proof = query.get("proof")
        sentence = _done_sentence(done)
        if sentence is None or not self.tokens.valid(
            proof, "done", done, session_id, call.operator.name
        ):
            return None
        return sentence

    async def export(self, call: _Call) -> Response:
        listing = Listing.from_query(call.request.form)
        with_meta = call.request.form.get("include_metadata") == "1"
        reason = call.request.form.get("reason", "").strip()[:MAX_REASON] or None
        document = await call.manager.export(
            include_metadata=with_meta,
            as_listed=True,
            actor=call.operator.name,
            reason=reason,
            **listing.filters(),
        )
        stamp = call.now.strftime("%Y%m%dT%H%M%SZ")
        kind = "metadata" if with_meta else "data"
        return json_download(document, f"sessions-{kind}-p{listing.page}-{stamp}.json")

    async def audit(self, call: _Call) -> Response:
        query = call.request.query
        actor = query.get("actor", "").strip() or None
        action = query.get("action") if query.get("action") in AUDIT_ACTIONS else None
        entries = await call.manager.audit_log(limit=AUDIT_SHOWN, actor=actor, action=action)
        return self._page(
            call,
            "audit.html",
            entries=entries,
            actor=actor or "",
            action=action or "",
            actions=AUDIT_ACTIONS,
            shown=AUDIT_SHOWN,
        )

    async def analytics(self, call: _Call) -> Response:
        stats = await call.manager.analytics(max_payload_bytes=self.max_payload_bytes)
        return self._page(call, "analytics.html", stats=stats, charts=charts.all_charts(stats))

    # -- helpers -------------------------------------------------------------------

    def _refused(self, request: Request, why: str) -> Response:
        """A refusal as a page of the console's (the dialog shows its sentence), with a
        way back, rather than a bare line of text."""
        return self._page(
            None,
            "message.html",
            403,
            root=request.root,
            heading="Not done",
            message=why,
            back=f"{request.root}/",
            back_label="Back to the sessions",
        )

    def _page(
        self,
        call: _Call | None,
        name: str,
        status: int = 200,
        *,
        root: str | None = None,
        **context: Any,
    ) -> Response:
        """Render ``name``; ``call`` is ``None`` before an operator is known (then
        ``root``, the console's mount path, places its links)."""
        partial = call is not None and call.request.headers.get("x-console-partial") == "1"
        return self.templates.page(
            name,
            status,
            layout="bare.html" if partial else "base.html",
            title=self.title,
            root=(root or "") if call is None else call.request.root,
            operator=None if call is None else call.operator,
            csrf="" if call is None else call.csrf,
            csrf_field=FIELD,
            now=dt.datetime.now(dt.timezone.utc),
            **{"confirm_revoke": False, "confirm_revoke_user": False, "section": "", **context},
        )


_ADMIN_PAGES = frozenset(
    {"/revoke", "/revoke-user"}
)  # GET pages only an admin may open (as every POST)
AUDIT_SHOWN = 200  # the newest audit entries the page shows (the command lists any number)

# what an action did, by the word its redirect carries (?done=): fixed sentences only
_DONE = {
    "ttl": "Payload TTL updated.",
    "ttl-unchanged": "Not changed: the session is not active.",
    "revoked": "Session revoked.",
    "not-revoked": "Nothing revoked: the session was not active.",
}


_USER_REVOKED = "user-revoked-"  # + how many: the word a revoke-user redirect carries


def _done_sentence(done: str) -> str | None:
    """The notice for the word ``done``; ``None`` for a word no action sends."""
    count = done[len(_USER_REVOKED) :] if done.startswith(_USER_REVOKED) else ""
    if re.fullmatch("[0-9]{1,9}", count):
        if count == "0":
            return "Nothing revoked: the user has no active session."
        return (
            f"Revoked {count} session{'' if count == '1' else 's'}: every active one of this user."
        )
    return _DONE.get(done)


def _changed(response: Response) -> Response:
    """Mark a response whose action changed a session (the open table is then stale)."""
    response.headers.append(("x-console-changed", "1"))
    return response
