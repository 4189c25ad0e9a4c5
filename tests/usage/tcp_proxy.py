"""A loopback TCP proxy whose link can be cut and restored, to take a database "down"
for one client without touching the shared server; or black-holed, to make it hang:
connections stay open and accepted, and nothing comes back."""

from __future__ import annotations

import socket
import threading
import time


class TcpProxy:
    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._cut = threading.Event()
        self._hole = threading.Event()
        self.connections = 0  # links accepted (while neither cut nor black-holed)
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._closed = False
        self.accepted = 0  # connections clients opened, refused ones included

    def start(self) -> TcpProxy:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def cut(self) -> None:
        """Drop every open link and refuse new ones until restore()."""
        self._cut.set()
        self._drop_all()

    def restore(self) -> None:
        """Forward again. Links held by a black hole are dropped (their peers gave up)."""
        if self._hole.is_set():
            self._hole.clear()
            self._drop_all()
        self._cut.clear()

    def black_hole(self) -> None:
        """Accept links and read what comes, but forward nothing either way."""
        self._hole.set()

    def _drop_all(self) -> None:
        with self._lock:
            for sock in self._sockets:
                _close(sock)
            self._sockets.clear()

    def stop(self) -> None:
        self._closed = True
        self.cut()
        _close(self._listener)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.accepted += 1
            if self._cut.is_set():
                _close(client)
                continue
            if self._hole.is_set():
                with self._lock:
                    self._sockets.add(client)  # held open, never answered
                continue
            self.connections += 1
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _close(client)
                continue
            with self._lock:
                self._sockets.update((client, server))
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                while self._hole.is_set():
                    time.sleep(0.01)  # swallowed: the peer waits for an answer that never comes
                    if self._cut.is_set() or source.fileno() < 0:
                        return
                target.sendall(data)
        except OSError:
            pass
        finally:
            _close(source)
            _close(target)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
