"""MySessions: the signed-in user's own sessions ("my devices"), self-service.

Mount it behind ``SessionMiddleware`` (it reads ``request.session`` to know
which session is "this device"). ``user(request)`` (sync or async) names the
signed-in user, as the middleware's ``user_key`` records them, or ``None``
(403). A user sees only their own active sessions and can end any of the
others, or all of them at once ("Sign out everywhere else"). Whatever id a
request sends, a session is ended only after the manager confirms it is this
user's and still active; anything else answers the same 404 as an unknown id,
so the page tells nobody whether another user's session exists.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from .. import devices
from ..digits import whole_number
from ..encryption import Keyring, indexed_user
from ..errors import ConfigurationError, RevocationIncomplete
from ..export import SessionInfo
from ..identity import user_text
from ..management import USER_TYPES, UserId, user_keys
from ..stores.base import ACTIVE
from .csrf import FIELD, CsrfTokens, refusal
from .csrf import trusted_origins as trusted_origins_of
from .http import Request, Response, plain, redirect
from .manager import Manager
from .pages import Pages, checked_callable, maybe_await

MAX_ENDED_DIGITS = 5  # "?ended=" carries how many sessions were ended: a small count
UserOf = Callable[[Request], "str | int | Awaitable[str | int | None] | None"]


class MySessions(Pages):
    """The end user's sessions page over ``store`` (the middleware's store).

    ``secret_key`` signs CSRF tokens (see :class:`~sessionware.admin.AdminConsole`).
    Revocations are logged in the operators' audit log, and on the ended
    sessions' records, under ``user:<id>``; with an ``encryption`` ring that has
    ``hash_user_ids``, under ``user:`` and the id's hash (what the user index and
    the console show), so that neither names the user in the clear.
    ``app_id`` limits the page to the sessions of that app (the middleware's
    ``app_id``, or the tag of the session type it is bound to); ``None``, the
    default, shows and ends the user's sessions of every app on the store, which
    suits apps that share one user directory (one sign-in), and only those: apps
    whose user ids name different people pass it.
    """

    def __init__(
        self,
        store: Any,
        *,
        user: UserOf,
        secret_key: str | bytes | None = None,
        title: str = "Your sessions",
        encryption: Keyring | None = None,
        app_id: str | None = None,
        trusted_origins: Sequence[str] = (),
    ) -> None:
        super().__init__(store, encryption=encryption)
        self.user = checked_callable(user, "user", "the signed-in user's id or None")
        if app_id is not None and (not isinstance(app_id, str) or not app_id):
            raise ConfigurationError(
                f"app_id must be an app's id (a non-empty str: the middleware's app_id, or "
                f"the tag of the session type it is bound to), not {app_id!r}; leave it "
                "out to cover the user's sessions in every app"
            )
        self.app_id = app_id
        self.tokens = CsrfTokens(secret_key, "MySessions")
        self.trusted_origins = trusted_origins_of(trusted_origins)
        self.title = title

    async def respond(self, request: Request, manager: Manager) -> Response:
        user = await maybe_await(self.user(request))
        if user is None or user == "" or user is False:  # (`a and b` gives False)
            return self._page(
                request,
                "message.html",
                403,
                heading="Sign in first",
                message="Sign in to see the devices you are signed in on.",
            )
        # looked up as given (a number is also found as str() wrote it before numbers had
        # one form), named in tokens and the audit log in the one form the indexes keep
        given: UserId = user if isinstance(user, USER_TYPES) else str(user)
        user = user_text(given)
        current = getattr(request.session, "id", None) or ""
        identity = ("mine", user, current)
        why = None
        if request.method == "POST":
            why = refusal(self.tokens, request, self.trusted_origins, *identity)
        if why is not None:
            return self._back(request, 403, "This form was not accepted", why)
        actor = f"user:{indexed_user(self.encryption, user)}"
        route = (request.method, request.path)
        if route == ("GET", "/"):
            sessions = await self._sessions(manager, given)
            sessions.sort(key=lambda info: info.id != current)  # this device first
            # this device as this request shows it: its record says so only once this
            # response is saved (a session opened in a new browser named the old one)
            agent = request.headers.get("user-agent")
            here = devices.current(agent, None).label if agent else None
            return self._page(
                request,
                "mine.html",
                sessions=sessions,
                current=current,
                csrf=self.tokens.issue(*identity),
                notice=self._ended_notice(request.query, identity),
                device_name=lambda info: here if here and info.id == current else device_name(info),
            )
        if route == ("POST", "/end"):
            session_id = request.form.get("id", "")
            info = await manager.get(session_id) if session_id else None
            # A record names its user as the middleware recorded them: with
            # hash_user_ids, a keyed hash under one of the ring's keys, not the id.
            yours = user_keys(self.encryption, given)
            if session_id == current and current:
                return self._back(
                    request,
                    409,
                    "This is the device you are using",
                    "To end the session on this device, sign out of the site.",
                )
            if (
                info is None
                or info.user not in yours
                or info.status != ACTIVE
                or (self.app_id is not None and info.app != self.app_id)
            ):
                return self._back(
                    request,
                    404,
                    "No such device",
                    "That device is not among the ones you are signed in on: it may have "
                    "been signed out already, from another tab or device.",
                )
            ended = int(await manager.revoke(session_id, actor=actor))
            return self._after_ending(request, ended, identity)
        if route == ("POST", "/end-others"):
            try:
                ended = await manager.revoke_user(
                    given, actor=actor, keep=current or None, app=self.app_id
                )
            except RevocationIncomplete:  # sign-ins as fast as it signs them out
                return self._back(
                    request,
                    409,
                    "Not every device was signed out",
                    "New sign-ins kept appearing while the others were signed out. "
                    "Change your password, then try again.",
                )
            return self._after_ending(request, ended, identity)
        return plain(405 if request.path in ("/", "/end", "/end-others") else 404)

    def _after_ending(self, request: Request, ended: int, identity: tuple[str, ...]) -> Response:
        """The redirect back to the list, saying how many sessions ended: the count
        carries a proof (a token bound to this user and device), so that a link made
        elsewhere cannot show a notice of sessions ended that were not."""
        proof = self.tokens.issue("ended", str(ended), *identity)
        return redirect(f"{request.root}/?ended={ended}&proof={proof}")

    def _ended_notice(self, query: Mapping[str, str], identity: tuple[str, ...]) -> str | None:
        ended = query.get("ended", "")
        if not self.tokens.valid(query.get("proof"), "ended", ended, *identity):
            return None
        return ended_notice(ended)

    def _back(self, request: Request, status: int, heading: str, message: str) -> Response:
        """An error page that says what happened and leads back to the list."""
        back = f"{request.root}/"
        return self._page(
            request, "message.html", status, heading=heading, message=message, back=back
        )

    async def _sessions(self, manager: Manager, user: UserId) -> list[SessionInfo]:
        """The user's active sessions this page covers (``app_id``'s, or every app's)."""
        sessions = await manager.user_sessions(user)
        if self.app_id is None:
            return sessions
        return [info for info in sessions if info.app == self.app_id]

    def _page(self, request: Request, name: str, status: int = 200, **context: Any) -> Response:
        return self.templates.page(
            name,
            status,
            layout="base.html",
            title=self.title,
            root=request.root,
            operator=None,
            csrf_field=FIELD,
            section="",
            now=dt.datetime.now(dt.timezone.utc),
            **{
                "csrf": "",
                "device_name": device_name,
                "device_place": device_place,
                **context,
            },
        )


def ended_notice(ended: str) -> str | None:
    """The notice after ending sessions, built from the count the redirect carried.

    Only the count comes from the URL, so a link cannot put its own words on the
    page; anything but a small count shows no notice.
    """
    count = whole_number(ended, MAX_ENDED_DIGITS)
    if count is None:
        return None
    return f"Ended {count} session{'' if count == 1 else 's'}."


def device_name(info: SessionInfo) -> str:
    """What the user calls the device: "Firefox on Linux", or "Unknown device"."""
    return "Unknown device" if info.device is None else info.device.last.label


def device_place(info: SessionInfo) -> str:
    """Where the device was last seen from (an IP address), or ``""``."""
    return "" if info.device is None or not info.device.last.ip else info.device.last.ip
