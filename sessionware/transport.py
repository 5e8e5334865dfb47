"""``require_https``: is this request's session safe to write, and what the shells do if not.

Sessions ride on a ``Secure`` cookie, which browsers drop when it comes over
plain http (except from ``localhost``). With ``require_https=True`` a request
that would write the session (create, change, rotate or delete it) over plain
http is answered 403 and nothing is saved, so the mistake shows at once
instead of as users whose carts silently empty.

A request counts as https when:

* its own scheme is ``https`` (the server terminated TLS); or
* it came from a trusted proxy (``trusted_proxies``: addresses or networks) and
  that proxy's ``X-Forwarded-Proto`` (its last value: the one the nearest proxy
  set) is ``https``. From any other peer the header is ignored, since a client
  can send it; or
* it is a local request: the client (behind trusted proxies, the address they
  forwarded in ``X-Forwarded-For``) is a loopback address *and* the ``Host`` is
  ``localhost``, ``*.localhost`` or a loopback address, as browsers keep Secure
  cookies for such pages.

Everything here is pure: the shells pass in what their protocol gives.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .errors import ConfigurationError, InsecureTransport

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_proxies(values: Sequence[str]) -> tuple[Network, ...]:
    """``trusted_proxies`` as networks; ConfigurationError for anything else."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ConfigurationError(
            f"trusted_proxies must be a list of addresses or networks, not {values!r}"
        )
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(str(value).strip(), strict=False))
        except ValueError:
            raise ConfigurationError(
                f"trusted_proxies entry {value!r} is not an IP address or network "
                "(like '10.0.0.7' or '10.0.0.0/8')"
            ) from None
    return tuple(networks)


def is_secure(
    scheme: str,
    peer: str | None,
    host: str | None,
    forwarded_proto: str | None,
    forwarded_for: str | None,
    proxies: Sequence[Network],
) -> bool:
    """Whether a session may be written on this request (see the module docstring)."""
    client = peer
    if _within(peer, proxies):
        if forwarded_proto:
            scheme = forwarded_proto.split(",")[-1].strip()
        hops = [hop.strip() for hop in (forwarded_for or "").split(",") if hop.strip()]
        while hops and _within(hops[-1], proxies):
            client = hops.pop()
        if hops:
            client = hops[-1]
    if scheme.lower() in ("https", "wss"):
        return True
    return _loopback_address(client) and local_host(host)


def asgi_is_secure(scope: Mapping[str, Any], proxies: Sequence[Network]) -> bool:
    """:func:`is_secure` for an ASGI ``scope``."""
    headers: dict[bytes, str] = {}
    for name, value in scope.get("headers", ()):
        if name == b"host":
            headers[name] = value.decode("latin-1")
        elif name in (b"x-forwarded-proto", b"x-forwarded-for"):  # repeated lines are one
            # list, in order (RFC 9110, 5.3), as WSGI servers join them
            text = value.decode("latin-1")
            headers[name] = f"{headers[name]}, {text}" if name in headers else text
    client = scope.get("client")
    return is_secure(
        scope.get("scheme", "http"),
        client[0] if client else None,
        headers.get(b"host"),
        headers.get(b"x-forwarded-proto"),
        headers.get(b"x-forwarded-for"),
        proxies,
    )


def wsgi_is_secure(environ: Mapping[str, Any], proxies: Sequence[Network]) -> bool:
    """:func:`is_secure` for a WSGI ``environ``."""
    return is_secure(
        environ.get("wsgi.url_scheme", "http"),
        environ.get("REMOTE_ADDR"),
        environ.get("HTTP_HOST") or environ.get("SERVER_NAME"),
        environ.get("HTTP_X_FORWARDED_PROTO"),
        environ.get("HTTP_X_FORWARDED_FOR"),
        proxies,
    )


def refuse_plain_http(method: str, secure: bool, *, bearer: bool = False) -> None:
    """Raise InsecureTransport when the plan's store call ``method`` would write over
    http; ``bearer``: the session is a token's (no cookie is involved)."""
    if method and not secure:
        why = (
            "its bearer token and the session's writes travel in clear there"
            if bearer
            else "browsers drop the session's Secure cookie"
        )
        raise InsecureTransport(
            f"this request came over plain http, where {why}, so the session was not saved "
            "(require_https); serve the site over https, or list your TLS-terminating "
            "proxy in trusted_proxies so that its X-Forwarded-Proto is believed"
        )


def _within(address: str | None, proxies: Sequence[Network]) -> bool:
    ip = _ip(address)
    return ip is not None and any(ip in network for network in proxies)


def _loopback_address(address: str | None) -> bool:
    ip = _ip(address)
    return ip is not None and ip.is_loopback


def local_host(host: str | None) -> bool:
    """Whether ``host`` (a ``Host`` header, port allowed) names this machine as browsers
    see it: ``localhost``, ``*.localhost`` or a loopback address, whose pages keep
    Secure cookies over plain http."""
    if not host:
        return False
    name = host.strip().lower()
    if name.startswith("["):  # [::1]:8000
        name = name[1 : name.find("]")] if "]" in name else name
    elif name.count(":") == 1:
        name = name.split(":")[0]
    return name == "localhost" or name.endswith(".localhost") or _loopback_address(name)


def _ip(address: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address((address or "").strip())
    except ValueError:
        return None
