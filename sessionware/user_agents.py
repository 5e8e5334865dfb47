"""User-Agent text packed for a session's device record.

A browser's ``User-Agent`` runs to 100-140 characters, nearly all of them the
same few phrases (``Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36
(KHTML, like Gecko) ...``). Kept as it came, it was over half of a Redis
session's metadata record, and so of what each load reads back. :func:`pack`
deflates it against a fixed dictionary of those phrases and writes the result
in Base85, whose alphabet needs no escape in JSON: a current Chrome, Safari,
Edge or Firefox string takes 14-26 characters (Samsung Internet's, CriOS's:
40-56). :func:`unpack` gives back the very same text, or raises ValueError.

The dictionary is part of the stored format: a record packed with it must read
back for as long as it lives, so it never changes (a test pins it by a digest).
A better one would come as a new version letter (:data:`VERSION` is the first
character of every packed text), read beside this one.
"""

from __future__ import annotations

import base64
import functools
import zlib

VERSION = "1"
# Deflate looks back for matches, so the commonest phrases come last (nearest).
WORDS = (  # no version numbers that age: "Chrome/" and ".0.0.0 " match any release
    b"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html) curl/8."
    b" python-requests/2. python-httpx/0. okhttp/4. Dalvik/2.1.0 (Linux; U; Android"
    b" SamsungBrowser/ OPR/ YaBrowser/ Vivaldi/ (iPad; CPU OS like Mac OS X) CriOS/ FxiOS/"
    b" EdgiOS/ (X11; Ubuntu; Linux x86_64; rv: (X11; CrOS x86_64 (X11; Linux x86_64)"
    b" (Macintosh; Intel Mac OS X 10.15; rv: Gecko/20100101 Firefox/ (Windows NT 10.0;"
    b" Win64; x64; rv: (Linux; Android 10; K) Mobile Safari/537.36 Edg/"
    b" (iPhone; CPU iPhone OS like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko)"
    b" Version/ Mobile/15E148 Safari/604.1 (Macintosh; Intel Mac OS X 10_15_7)"
    b" AppleWebKit/605.1.15 (KHTML, like Gecko) Version/ Safari/605.1.15"
    b" Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
    b" Chrome/.0.0.0 Safari/537.36"
)
_BYTES_PER_CHARACTER = 4  # UTF-8's most


@functools.lru_cache(maxsize=1024)  # a handful of browsers make most requests
def pack(agent: str) -> str | None:
    """``agent`` packed; ``None`` when packing would not make it shorter (short or
    unusual strings are kept as they are)."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, WORDS)
    raw = deflate.compress(agent.encode("utf-8", "surrogatepass")) + deflate.flush()
    packed = VERSION + base64.b85encode(raw).decode("ascii")
    return packed if len(packed) < len(agent) else None


def unpack(packed: object, limit: int) -> str:
    """The text :func:`pack` packed into ``packed``. ValueError if it is not a packed
    text of this version, or would unpack to more than ``limit`` characters (a
    planted record cannot make it inflate without bound)."""
    if not isinstance(packed, str) or packed[:1] != VERSION:
        raise ValueError("not a packed user agent")
    try:
        raw = base64.b85decode(packed[1:])
        inflate = zlib.decompressobj(-15, WORDS)
        text = inflate.decompress(raw, limit * _BYTES_PER_CHARACTER + 1)
    except zlib.error as error:
        raise ValueError(f"a packed user agent that does not inflate: {error}") from None
    if not inflate.eof or inflate.unused_data or inflate.unconsumed_tail:
        raise ValueError("a packed user agent that is cut short, too long or followed by more")
    agent = text.decode("utf-8", "surrogatepass")
    if len(agent) > limit:
        raise ValueError("a packed user agent longer than any kept")
    return agent
