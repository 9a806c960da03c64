"""A loopback TCP proxy the chaos suite puts between a client and the sim venue, to break the link.

:class:`FaultProxy` listens on 127.0.0.1 (a free port) and forwards every connection to
``target_port``, on an asyncio loop in its own thread. Its mode can be changed at any time:

- ``"pass"``: bytes flow both ways;
- ``"blackhole"``: connections stay open but every byte is dropped, both ways (a silent
  feed: no close, no error, nothing arrives);
- ``"reset"``: every open connection is aborted (TCP RST), and every new one is aborted as
  soon as it is accepted (a reconnect storm: the client connects, is cut, retries).

It counts accepted connections and resets, so a scenario can say how many reconnects it
caused.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from typing import Literal

Mode = Literal["pass", "blackhole", "reset"]


def _rst(writer: asyncio.StreamWriter) -> None:
    """Abort with a TCP reset (SO_LINGER 0), not a clean FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class FaultProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.mode: Mode = "pass"
        self.accepted = 0
        self.resets = 0
        self._conns: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fault-proxy", daemon=True)
        self.port = 0

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fault proxy did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def set_mode(self, mode: Mode) -> None:
        done = threading.Event()

        def apply() -> None:
            self.mode = mode
            if mode == "reset":
                for a, b in list(self._conns):
                    _rst(a)
                    _rst(b)
                    self.resets += 1
                self._conns.clear()
            done.set()

        self._loop.call_soon_threadsafe(apply)
        done.wait(5)

    # ------------------------------------------------------------------ the loop

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = int(server.sockets[0].getsockname()[1])
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()
            for a, b in list(self._conns):
                a.transport.abort()
                b.transport.abort()
            self._loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self.mode == "reset":
            self.resets += 1
            _rst(writer)
            return
        try:
            up_r, up_w = await asyncio.open_connection(*self.target)
        except OSError:
            _rst(writer)
            return
        pair = (writer, up_w)
        self._conns.add(pair)
        try:
            await asyncio.gather(self._pump(reader, up_w), self._pump(up_r, writer), return_exceptions=True)
        finally:
            self._conns.discard(pair)
            for w in pair:
                w.transport.abort()

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        while True:
            data = await src.read(65536)
            if not data:
                dst.transport.abort()
                return
            if self.mode == "pass":
                dst.write(data)
                await dst.drain()
