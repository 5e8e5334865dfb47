"""A TCP proxy to the real Redis that loses one reply: the command reaches Redis and
runs, then the client's connection is cut before the reply gets back, as a restart,
a failover or a network cut does. The client sees a dropped connection and, by its
rule for those, sends the command again."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Callable, Iterator


class LostReplyProxy:
    """Forwards loopback connections to ``target``; after :meth:`arm` (a byte string
    the command carries), the next reply to a command holding it is never delivered:
    both sockets of that connection are reset instead. ``cuts`` counts them."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.marker: bytes | None = None
        self.cuts = 0
        # run once Redis has run the command and before the client sees the cut: what
        # another request does in between
        self.meanwhile: Callable[[], object] | None = None
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._closed = False
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self, marker: bytes) -> None:
        self.marker = marker

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            self._sockets += [client, server]
            watching = threading.Event()
            threading.Thread(target=self._up, args=(client, server, watching), daemon=True).start()
            threading.Thread(
                target=self._down, args=(server, client, watching), daemon=True
            ).start()

    def _up(self, client: socket.socket, server: socket.socket, watching: threading.Event) -> None:
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                if self.marker is not None and self.marker in data:
                    self.marker = None
                    watching.set()
                server.sendall(data)

    def _down(
        self, server: socket.socket, client: socket.socket, watching: threading.Event
    ) -> None:
        with contextlib.suppress(OSError):
            while data := server.recv(65536):
                if watching.is_set():  # Redis ran it: its reply is lost with the connection
                    self.cuts += 1
                    if self.meanwhile is not None:
                        self.meanwhile()
                    for sock in (client, server):  # (shutdown wakes the other thread)
                        sock.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                        )
                        sock.shutdown(socket.SHUT_RDWR)
                        sock.close()
                    return
                client.sendall(data)


@contextlib.contextmanager
def lost_reply_proxy(port: int = 6379) -> Iterator[LostReplyProxy]:
    proxy = LostReplyProxy(("127.0.0.1", port))
    try:
        yield proxy
    finally:
        proxy.close()
