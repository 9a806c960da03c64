"""The control socket: request/reply between ``mmctl`` and the supervisor.

pyzmq REQ/REP over an ``ipc://`` path inside the run directory. The directory is created
owner-only (0700) and the socket file is chmod 0600, so only the user running the group
can talk to it. Requests and replies are JSON objects:

  request  {"cmd": "status" | "kill" | "reset-kill" | "promote" | "demote" | "shutdown",
            "args": {...}}
  reply    {"ok": true, "data": {...}}   or   {"ok": false, "error": "what went wrong"}

This module moves bytes only; what a command means is the supervisor's business.
"""

from __future__ import annotations

import os
import stat
from typing import Any

import msgspec
import zmq


class ControlRequest(msgspec.Struct, frozen=True):
    cmd: str
    args: dict[str, Any] = msgspec.field(default_factory=dict)


class ControlReply(msgspec.Struct, frozen=True, omit_defaults=True):
    ok: bool
    data: dict[str, Any] = msgspec.field(default_factory=dict)
    error: str = ""


class ControlUnavailable(RuntimeError):
    """No supervisor answered on the control socket."""


def ensure_private_dir(path: str) -> None:
    """Create ``path`` (and parents) owner-only; one that exists open to others is made 0700;
    one that belongs to another user is refused."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    st = os.stat(path)
    if st.st_uid != os.getuid():
        raise PermissionError(f"run directory {path} belongs to uid {st.st_uid}, not us")
    if stat.S_IMODE(st.st_mode) & 0o077:
        os.chmod(path, 0o700)


class ControlServer:
    """The supervisor's end. Poll it from the watchdog loop; answer every request."""

    def __init__(self, path: str) -> None:
        ensure_private_dir(os.path.dirname(path) or ".")
        if os.path.exists(path):
            os.unlink(path)
        self.path = path
        self._ctx = zmq.Context.instance()
        self._sock = self._ctx.socket(zmq.REP)
        self._sock.setsockopt(zmq.LINGER, 0)
        old = os.umask(0o177)
        try:
            self._sock.bind(f"ipc://{path}")
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        self._dec = msgspec.json.Decoder(ControlRequest)
        self._enc = msgspec.json.Encoder()

    def poll(self, timeout_ms: int) -> ControlRequest | None:
        """Wait up to timeout_ms for a request. A malformed one is answered with an error."""
        if not self._sock.poll(timeout_ms, zmq.POLLIN):
            return None
        raw = self._sock.recv()
        try:
            return self._dec.decode(raw)
        except msgspec.DecodeError as exc:
            self.reply(ControlReply(ok=False, error=f"bad request: {exc}"))
            return None

    def reply(self, reply: ControlReply) -> None:
        self._sock.send(self._enc.encode(reply))

    def close(self) -> None:
        self._sock.close(0)
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


class ControlClient:
    """``mmctl``'s end: one request, one reply, with a timeout."""

    def __init__(self, path: str, timeout_ms: int = 3000) -> None:
        self.path = path
        self.timeout_ms = timeout_ms

    def call(self, cmd: str, **args: Any) -> ControlReply:
        if not os.path.exists(self.path):
            raise ControlUnavailable(f"no control socket at {self.path}")
        ctx = zmq.Context.instance()
        sock = ctx.socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        try:
            sock.connect(f"ipc://{self.path}")
            sock.send(msgspec.json.encode(ControlRequest(cmd=cmd, args=args)))
            if not sock.poll(self.timeout_ms, zmq.POLLIN):
                raise ControlUnavailable(
                    f"the supervisor did not answer within {self.timeout_ms} ms on {self.path}"
                )
            return msgspec.json.decode(sock.recv(), type=ControlReply)
        finally:
            sock.close(0)
