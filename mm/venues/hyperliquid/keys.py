"""The API (agent) wallet key that signs Hyperliquid L1 actions, loaded without ever showing it.

This module owns loading the signing key and signing with it. The key comes from an
environment variable (its *name* is configuration, e.g. ``MM_HL_AGENT_KEY``) or from a key
file that only its owner may read; a file readable or writable by group or others
(``mode & 0o077``) is refused, and so is a file owned by another user. The file holds the
key as hex (``0x`` optional), surrounding whitespace ignored.

Where the secret may never appear (issue 10): logs, audit records, postmortems, metrics,
error messages. So:

- :class:`AgentKey` shows only its address and where it came from (``repr``/``str``); it
  cannot be pickled (``multiprocessing`` would copy the secret into another process's
  pipe); each process loads its own.
- The secret lives in a :class:`_Secret` holder whose ``repr`` is redacted, as a
  ``coincurve`` key object (whose ``repr`` shows no bytes either). No local variable of a
  signing frame holds the raw bytes, so even a traceback printed with its locals does not
  show them.
- Load errors say what is wrong and how to fix it, never the value, and are raised
  ``from None`` so no chained exception carries the text that was read.

Signing is Hyperliquid's L1 scheme (:mod:`mm.venues.hyperliquid.signing` computes the
digest); the ECDSA step is done here with ``coincurve`` on the held key and gives the same
``{"r", "s", "v"}`` as :func:`signing.sign_l1_action` (the tests check it), about five
times faster than building an ``eth_keys`` key per request.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any, Final, NoReturn

import coincurve
from eth_hash.auto import keccak
from eth_utils import to_checksum_address

from mm.venues.hyperliquid import signing

DEFAULT_KEY_ENV: Final = "MM_HL_AGENT_KEY"
_HEX_KEY: Final = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")
_SECP256K1_N: Final = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class KeyLoadError(ValueError):
    """The signing key could not be loaded. The message never contains the key."""


class _Secret:
    """Holds the private key; its repr is redacted and it refuses to be pickled."""

    __slots__ = ("_key",)

    def __init__(self, key: coincurve.PrivateKey) -> None:
        self._key = key

    def sign_recoverable(self, digest: bytes) -> bytes:
        out: bytes = self._key.sign_recoverable(digest, hasher=None)
        return out

    def uncompressed_public_key(self) -> bytes:
        out: bytes = self._key.public_key.format(compressed=False)
        return out

    def __repr__(self) -> str:
        return "<secret redacted>"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("a signing key cannot be pickled; load it in each process")


def _parse_hex_key(text: str, origin: str) -> _Secret:
    """A secret from hex text. Errors name ``origin`` and never the text."""
    s = text.strip()
    if not _HEX_KEY.match(s):
        raise KeyLoadError(
            f"{origin} does not hold a private key: expected 64 hex digits (optionally 0x-prefixed)"
        ) from None
    raw = bytes.fromhex(s[2:] if s.startswith("0x") else s)
    n = int.from_bytes(raw, "big")
    if not 0 < n < _SECP256K1_N:
        raise KeyLoadError(f"{origin} does not hold a valid secp256k1 private key (out of range)") from None
    try:
        key = coincurve.PrivateKey(raw)
    except Exception:  # never chain: the exception could carry the bytes
        raise KeyLoadError(f"{origin} does not hold a valid secp256k1 private key") from None
    return _Secret(key)


def _address_of(secret: _Secret) -> str:
    pub = secret.uncompressed_public_key()
    out: str = to_checksum_address(keccak(pub[1:])[-20:])
    return out


class AgentKey:
    """A Hyperliquid signing key (an API wallet's, or the account's own) and its address.

    Build with :meth:`from_env`, :meth:`from_file` or :meth:`load` (file if given, else the
    environment variable). ``address`` is the signer's checksummed address: the venue
    maps it to the account it trades for (an approved agent) or it is the account itself.
    """

    __slots__ = ("_secret", "address", "origin")

    def __init__(self, secret: _Secret, origin: str) -> None:
        self._secret = secret
        self.address: str = _address_of(secret)
        self.origin: str = origin

    # ------------------------------------------------------------------ loading

    @classmethod
    def from_env(cls, name: str = DEFAULT_KEY_ENV, environ: dict[str, str] | None = None) -> AgentKey:
        """The key in environment variable ``name`` (hex)."""
        env = os.environ if environ is None else environ
        value = env.get(name)
        if value is None or not value.strip():
            raise KeyLoadError(
                f"environment variable {name} is not set: export the API wallet's private key there "
                f"or set key_file to an owner-only (chmod 600) key file"
            )
        return cls(_parse_hex_key(value, f"environment variable {name}"), f"env:{name}")

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> AgentKey:
        """The key in an owner-only file (mode 0600 or stricter, owned by this user)."""
        p = Path(path)
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(p, flags)
        except FileNotFoundError:
            raise KeyLoadError(f"key file {p} does not exist") from None
        except OSError as exc:
            raise KeyLoadError(f"key file {p} cannot be opened ({exc.strerror}); it must be a regular file, "
                               f"not a symlink, readable by its owner") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise KeyLoadError(f"key file {p} is not a regular file")
            if st.st_uid != os.getuid():
                raise KeyLoadError(
                    f"key file {p} is owned by uid {st.st_uid}, not by this user (uid {os.getuid()}): "
                    f"refusing to start; chown it to this user and chmod 600 {p}"
                )
            mode = stat.S_IMODE(st.st_mode)
            if mode & 0o077:
                raise KeyLoadError(
                    f"key file {p} has mode {mode:04o}: group or others may access it; refusing to start. "
                    f"Fix: chmod 600 {p}"
                )
            chunks = []
            while True:
                b = os.read(fd, 4096)
                if not b:
                    break
                chunks.append(b)
                if sum(len(c) for c in chunks) > 65536:
                    raise KeyLoadError(f"key file {p} is too large to be a key file")
        finally:
            os.close(fd)
        try:
            text = b"".join(chunks).decode("ascii")
        except UnicodeDecodeError:
            raise KeyLoadError(f"key file {p} is not ASCII hex") from None
        return cls(_parse_hex_key(text, f"key file {p}"), f"file:{p}")

    @classmethod
    def load(cls, key_env: str = DEFAULT_KEY_ENV, key_file: str = "", environ: dict[str, str] | None = None) -> AgentKey:
        """From ``key_file`` when it is set, else from the environment variable ``key_env``."""
        if key_file:
            return cls.from_file(key_file)
        return cls.from_env(key_env, environ)

    @classmethod
    def from_hex(cls, hex_key: str, origin: str = "literal") -> AgentKey:
        """From a hex string held by the caller (tests, key generation)."""
        return cls(_parse_hex_key(hex_key, origin), origin)

    # ------------------------------------------------------------------ signing

    def sign_digest(self, digest: bytes) -> dict[str, Any]:
        """``{"r": "0x..", "s": "0x..", "v": 27|28}`` over a 32-byte digest (SDK formatting)."""
        sig = self._secret.sign_recoverable(digest)
        return {"r": hex(int.from_bytes(sig[:32], "big")), "s": hex(int.from_bytes(sig[32:64], "big")),
                "v": 27 + sig[64]}

    def sign_l1(self, action: Any, nonce: int, vault_address: str | None = None, expires_after: int | None = None,
                is_mainnet: bool = False) -> dict[str, Any]:
        """Sign an L1 action (the ``signature`` of an ``/exchange`` body)."""
        digest = signing.l1_digest(action, nonce, vault_address, expires_after, signing.source_for(is_mainnet))
        return self.sign_digest(digest)

    # ------------------------------------------------------------------ never show the secret

    def __repr__(self) -> str:
        return f"AgentKey(address={self.address}, origin={self.origin})"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("AgentKey cannot be pickled; load it in each process (from_env / from_file)")

    def __copy__(self) -> AgentKey:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> AgentKey:
        return self


def write_key_file(path: str | os.PathLike[str], hex_key: str) -> Path:
    """Write a key file the way :meth:`AgentKey.from_file` accepts it: created 0600, never widened."""
    p = Path(path)
    _parse_hex_key(hex_key, "the key to write")  # validate without echoing it
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (hex_key.strip() + "\n").encode("ascii"))
    finally:
        os.close(fd)
    return p
