"""A loopback TCP proxy that cuts the first download response short (a real interrupted transfer)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress


class CuttingProxy:
    def __init__(self, upstream_port: int, cut_after_body_bytes: int) -> None:
        self.upstream_port = upstream_port
        self.cut_after = cut_after_body_bytes
        self.request_heads: list[str] = []
        self._cut_done = False
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._stopped = False
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _handle(self, client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        try:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = client.recv(65536)
                if not chunk:
                    return
                head += chunk
            text = head.decode("latin-1")
            with self._lock:
                self.request_heads.append(text)
                cut = text.startswith("GET /api/download/") and not self._cut_done
                if cut:
                    self._cut_done = True
            upstream.sendall(head)
            if cut:
                self._relay_cut(upstream, client)
            else:
                threading.Thread(target=_pipe, args=(client, upstream), daemon=True).start()
                _pipe(upstream, client)
        finally:
            for s in (client, upstream):
                with suppress(OSError):
                    s.close()

    def _relay_cut(self, upstream: socket.socket, client: socket.socket) -> None:
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = upstream.recv(65536)
            if not chunk:
                return
            received += chunk
        header_end = received.index(b"\r\n\r\n") + 4
        limit = header_end + self.cut_after
        sent = 0
        while True:
            piece = received[sent:limit]
            client.sendall(piece)
            sent += len(piece)
            if sent >= limit:
                break
            received = received[:sent] + upstream.recv(65536)
            if len(received) == sent:
                break
        client.shutdown(socket.SHUT_RDWR)

    def range_requests(self) -> list[str]:
        return [
            line.split(":", 1)[1].strip()
            for head in self.request_heads
            for line in head.split("\r\n")
            if line.lower().startswith("range:")
        ]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting: closing a socket does not wake a thread blocked in `accept` on
        Linux, shutting it down does; then wait for that thread."""
        self._stopped = True
        with suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join(timeout=5)


def _pipe(source: socket.socket, target: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            target.sendall(chunk)
    except OSError:
        pass
    finally:
        with suppress(OSError):
            target.shutdown(socket.SHUT_WR)


@contextmanager
def cutting_proxy(upstream_port: int, cut_after_body_bytes: int) -> Iterator[CuttingProxy]:
    proxy = CuttingProxy(upstream_port, cut_after_body_bytes)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
