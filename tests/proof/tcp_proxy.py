"""A TCP relay that can be cut and restored: "Redis down" without touching the shared Redis.

``cut()`` closes the listener and every relayed connection, so the server sees both a refused
connect and a dead pooled connection, as when Redis itself goes away; ``restore()`` listens on
the same port again.
"""

from __future__ import annotations

import contextlib
import socket
import threading

_CHUNK = 65536


class TcpProxy:
    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = 0  # chosen by the first restore()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._stop = threading.Event()
        self._acceptor: threading.Thread | None = None

    @property
    def is_up(self) -> bool:
        return self._listener is not None

    def restore(self) -> None:
        """Listen (again) on 127.0.0.1:``port``."""
        if self.is_up:
            return
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        listener.settimeout(0.05)  # so the acceptor notices cut() promptly
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._stop.clear()
        self._acceptor = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._acceptor.start()

    def cut(self) -> None:
        """Stop listening and close every relayed connection, both ends."""
        if self._listener is None:
            return
        self._stop.set()
        if self._acceptor is not None:
            self._acceptor.join(timeout=5)
        self._listener.close()
        self._listener = None
        with self._lock:
            doomed, self._sockets = self._sockets, set()
        for sock in doomed:
            _close(sock)

    def _accept(self, listener: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _close(client)
                continue
            server.settimeout(None)
            with self._lock:
                self._sockets.update((client, server))
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):  # cut() or the peer closed: tear the pair down
            while chunk := source.recv(_CHUNK):
                target.sendall(chunk)
        for sock in (source, target):
            with self._lock:
                self._sockets.discard(sock)
            _close(sock)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)  # wakes a pump blocked in recv()
    sock.close()
