"""A TCP proxy that can play a server restart: every open connection is cut and new ones are closed at once
until the server is "back". Put in front of PostgreSQL or Redis for worker processes only, it interrupts them
the way a restart of the real server would, while the test's own connection keeps working."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator


class TcpProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._down = False
        self._closed = False
        self.cut_connections = 0
        self.refused_connections = 0
        threading.Thread(target=self._accept, daemon=True, name="tcp-proxy").start()

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    def outage_begins(self) -> None:
        """Cut every open connection; refuse new ones until `outage_ends`."""
        with self._lock:
            self._down = True
            sockets, self._open = self._open, set()
            self.cut_connections += len(sockets) // 2
        for sock in sockets:
            _close(sock)

    def outage_ends(self) -> None:
        with self._lock:
            self._down = False

    def close(self) -> None:
        self._closed = True
        self.outage_begins()
        _close(self._listener)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _address = self._listener.accept()
            except OSError:
                return
            with self._lock:
                down = self._down
                if down:
                    self.refused_connections += 1
            if down:
                _close(client)
                continue
            try:
                upstream = socket.create_connection(self._upstream, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _close(client)
                continue
            with self._lock:
                cut_meanwhile = self._down  # an outage began while this one was connecting
                if not cut_meanwhile:
                    self._open.update((client, upstream))
            if cut_meanwhile:
                _close(client)
                _close(upstream)
                continue
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open.discard(source)
                self._open.discard(target)
            _close(source)
            _close(target)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


@contextlib.contextmanager
def tcp_proxy(host: str, port: int) -> Iterator[TcpProxy]:
    proxy = TcpProxy(host, port)
    try:
        yield proxy
    finally:
        proxy.close()
