"""Signing and recovering Hyperliquid L1 actions, and the per-signer nonce source.

This module owns the L1 signature scheme (HYPERLIQUID_WIRE.md §5): the action hash, the
phantom agent, the EIP-712 digest, signing with a private key and recovering the signer's
address from a signature. The exchange client signs with it; the paper venue recovers
with it. It also owns :class:`NonceSource`, the one strictly increasing nonce stream a
signer must draw from (ARCHITECTURE "Lessons from the field": nonce collisions).

The scheme, step by step:

1. ``msgpack(action)`` with the map keys in insertion order (the order is part of the hash,
   so a venue hashes the action exactly as it arrived).
2. The nonce as 8 bytes big-endian.
3. ``0x00`` when there is no vault address, else ``0x01`` and the 20 address bytes.
4. When ``expiresAfter`` is set: ``0x00`` and ``expiresAfter`` as 8 bytes big-endian.
5. ``connectionId = keccak256(all of the above)``.
6. The phantom agent ``{source, connectionId}`` is signed as EIP-712 type
   ``Agent(string source,bytes32 connectionId)`` in the domain
   ``Exchange / 1 / chainId 1337 / verifyingContract 0x0``. ``source`` is ``"a"`` on
   mainnet and ``"b"`` elsewhere; the official SDK uses ``"b"`` for every URL but mainnet's.

The digest is computed here directly from the EIP-712 definition (it is a constant domain
separator and one struct hash), which is much faster than building typed data per request;
the tests check it against ``eth_account``'s typed-data encoder and the published vector.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Final, Protocol

import msgpack
from eth_hash.auto import keccak
from eth_keys.datatypes import PrivateKey, Signature
from eth_keys.exceptions import BadSignature, ValidationError

SOURCE_MAINNET: Final = "a"
SOURCE_TESTNET: Final = "b"

_EIP712_DOMAIN_TYPEHASH: Final = keccak(
    b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
_AGENT_TYPEHASH: Final = keccak(b"Agent(string source,bytes32 connectionId)")
DOMAIN_SEPARATOR: Final = keccak(
    _EIP712_DOMAIN_TYPEHASH
    + keccak(b"Exchange")
    + keccak(b"1")
    + (1337).to_bytes(32, "big")
    + bytes(32)  # verifyingContract = the zero address, left-padded to 32 bytes
)


class SignatureError(ValueError):
    """A signature that cannot be parsed or from which no public key can be recovered."""


def action_msgpack(action: Any) -> bytes:
    """The msgpack bytes of an action, map keys in insertion order."""
    out: bytes = msgpack.packb(action)
    return out


def _address_bytes(address: str) -> bytes:
    h = address[2:] if address.startswith(("0x", "0X")) else address
    raw = bytes.fromhex(h)
    if len(raw) != 20:
        raise ValueError(f"not a 20-byte address: {address!r}")
    return raw


def action_hash(action: Any, vault_address: str | None, nonce: int, expires_after: int | None) -> bytes:
    """The 32-byte connection id of an L1 action (steps 1 to 5 above)."""
    data = bytearray(action_msgpack(action))
    data += nonce.to_bytes(8, "big")
    if vault_address is None:
        data += b"\x00"
    else:
        data += b"\x01"
        data += _address_bytes(vault_address)
    if expires_after is not None:
        data += b"\x00"
        data += expires_after.to_bytes(8, "big")
    out: bytes = keccak(bytes(data))
    return out


def phantom_agent(connection_id: bytes, source: str) -> dict[str, Any]:
    """The phantom agent message that is actually signed."""
    return {"source": source, "connectionId": connection_id}


def source_for(is_mainnet: bool) -> str:
    """``"a"`` for mainnet, ``"b"`` for everything else (testnet and local venues)."""
    return SOURCE_MAINNET if is_mainnet else SOURCE_TESTNET


def agent_digest(connection_id: bytes, source: str) -> bytes:
    """The EIP-712 digest ``keccak(0x1901 || domainSeparator || hashStruct(Agent))``."""
    if len(connection_id) != 32:
        raise ValueError("connection id must be 32 bytes")
    struct_hash = keccak(_AGENT_TYPEHASH + keccak(source.encode()) + connection_id)
    out: bytes = keccak(b"\x19\x01" + DOMAIN_SEPARATOR + struct_hash)
    return out


def l1_digest(
    action: Any, nonce: int, vault_address: str | None = None, expires_after: int | None = None, source: str = "b"
) -> bytes:
    """The digest a signer signs for this action."""
    return agent_digest(action_hash(action, vault_address, nonce, expires_after), source)


def _private_key(key: bytes | str) -> PrivateKey:
    if isinstance(key, str):
        key = bytes.fromhex(key[2:] if key.startswith("0x") else key)
    return PrivateKey(key)


def sign_digest(private_key: bytes | str, digest: bytes) -> dict[str, Any]:
    """Sign a 32-byte digest: ``{"r": "0x<hex>", "s": "0x<hex>", "v": 27|28}``.

    ``r`` and ``s`` are printed without zero padding, exactly as the official SDK prints them.
    """
    sig = _private_key(private_key).sign_msg_hash(digest)
    return {"r": hex(sig.r), "s": hex(sig.s), "v": 27 + sig.v}


def sign_l1_action(
    private_key: bytes | str,
    action: Any,
    nonce: int,
    vault_address: str | None = None,
    expires_after: int | None = None,
    is_mainnet: bool = False,
) -> dict[str, Any]:
    """Sign an L1 action as Hyperliquid expects (the ``signature`` field of /exchange)."""
    return sign_digest(private_key, l1_digest(action, nonce, vault_address, expires_after, source_for(is_mainnet)))


def address_of(private_key: bytes | str) -> str:
    """The checksummed address of a private key."""
    out: str = _private_key(private_key).public_key.to_checksum_address()
    return out


def _sig_int(x: Any) -> int:
    if isinstance(x, int) and not isinstance(x, bool):
        return x
    if isinstance(x, str):
        try:
            return int(x, 16)
        except ValueError as exc:
            raise SignatureError(f"bad signature component {x!r}") from exc
    raise SignatureError(f"bad signature component {x!r}")


def recover_digest(digest: bytes, signature: dict[str, Any]) -> str:
    """The checksummed address that signed ``digest``; SignatureError if none can be recovered.

    ``r`` and ``s`` are hex strings of any length (the SDK sends them without zero padding);
    ``v`` is 27/28 (0/1 accepted).
    """
    try:
        r = _sig_int(signature["r"])
        s = _sig_int(signature["s"])
        v = int(signature["v"])
    except (KeyError, TypeError, ValueError) as exc:
        raise SignatureError(f"malformed signature: {exc}") from exc
    if v >= 27:
        v -= 27
    try:
        sig = Signature(vrs=(v, r, s))
        out: str = sig.recover_public_key_from_msg_hash(digest).to_checksum_address()
    except (BadSignature, ValidationError, ValueError) as exc:
        raise SignatureError(f"cannot recover signer: {exc}") from exc
    return out


def recover_l1_signer(
    action: Any,
    signature: dict[str, Any],
    nonce: int,
    vault_address: str | None = None,
    expires_after: int | None = None,
    source: str = SOURCE_TESTNET,
) -> str:
    """The address (user or agent) that signed this L1 action with the given source letter.

    Recovering with the wrong letter does not fail: it yields a different, valid-looking address.
    """
    return recover_digest(l1_digest(action, nonce, vault_address, expires_after, source), signature)


# --------------------------------------------------------------------------- nonces


class NonceAllocator(Protocol):
    """Given a candidate (the clock in ms), atomically return a nonce larger than every one before."""

    def __call__(self, candidate_ms: int) -> int: ...


def local_allocator(start: int = 0) -> NonceAllocator:
    """An in-process allocator: ``max(candidate, last + 1)``. Not thread-safe on its own."""
    last = [start]

    def allocate(candidate_ms: int) -> int:
        n = candidate_ms if candidate_ms > last[0] else last[0] + 1
        last[0] = n
        return n

    return allocate


class _SharedValue(Protocol):
    value: int

    def get_lock(self) -> Any: ...


def shared_allocator(shared: _SharedValue) -> NonceAllocator:
    """An allocator over a ``multiprocessing.Value('Q')`` (with its lock), shareable by processes.

    Create the value in the parent (``multiprocessing.Value("Q", 0)``) and pass it to each
    process that signs for the same key: they then draw from one strictly increasing stream.
    """

    def allocate(candidate_ms: int) -> int:
        with shared.get_lock():
            last = int(shared.value)
            n = candidate_ms if candidate_ms > last else last + 1
            shared.value = n
            return n

    return allocate


class NonceSource:
    """The one strictly increasing nonce stream of a signer.

    ``next()`` returns ``max(clock_ms(), previous + 1)``: the clock in ms while requests are
    sparse (Hyperliquid wants nonces near block time), never a repeat when two arrive in the
    same millisecond. Thread-safe. To share one stream across processes (execution and
    risk signing with the same key), inject ``allocator=shared_allocator(value)``.
    """

    __slots__ = ("_allocate", "_clock_ms", "_lock")

    def __init__(self, clock_ms: Callable[[], int], allocator: NonceAllocator | None = None) -> None:
        self._clock_ms = clock_ms
        self._allocate = allocator if allocator is not None else local_allocator()
        self._lock = threading.Lock()

    def next(self) -> int:
        """The next nonce."""
        with self._lock:
            return self._allocate(self._clock_ms())
