"""L1 signing against the published test vector, the SDK and eth_account; the nonce source."""

from __future__ import annotations

import multiprocessing
import threading

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from hyperliquid.utils import signing as sdk

from mm.venues.hyperliquid import signing
from mm.venues.hyperliquid.signing import NonceSource, SignatureError

KEY = "0x" + "01" * 32
ADDRESS = "0x1a642f0E3c3aF545E7AcBD38b07251B3990914F1"
ACTION = {
    "type": "order",
    "orders": [{"a": 0, "b": True, "p": "60000", "s": "0.001", "r": False, "t": {"limit": {"tif": "Gtc"}}}],
    "grouping": "na",
}
NONCE = 1700000000000
MSGPACK_HEX = (
    "83a474797065a56f72646572a66f72646572739186a16100a162c3a170a53630303030a173a5302e303031a172c2a17481"
    "a56c696d697481a3746966a3477463a867726f7570696e67a26e61"
)
HASH = "857860bbd0b0e5ca98da4330db422146c80cee722ae322e41dbe830b6f76ee76"
SIG_B = {
    "r": "0x6579ee22e0f40e67a8103f7d5d07f9f41d1b65d9b14ea803e47ca6c50c164c14",
    "s": "0x7efb7efb39d206f5d992d2b755d4c442fad573b88edcf9fac0b5122a7fce9f67",
    "v": 28,
}
SIG_A = {
    "r": "0x53f2061c80c963c27fa440ab61d3176dfe01342d56713f4ed5a27d8a161e9a64",
    "s": "0x4c861cb63cfadb99d83be0dfe49875e3bd3e9b23b9e2f95db0e1b9c7fb8cdc3",
    "v": 27,
}


def test_vector_msgpack_and_hash() -> None:
    assert signing.action_msgpack(ACTION).hex() == MSGPACK_HEX
    assert signing.action_hash(ACTION, None, NONCE, None).hex() == HASH


def test_vector_expires_after_and_cancel_hashes() -> None:
    h = signing.action_hash(ACTION, None, NONCE, 1700000060000)
    assert h.hex() == "1dec17839e558e2cdf4401d9697a49d955e8b5b194738caa0577fcccbb6c928f"
    cancel = {"type": "cancel", "cancels": [{"a": 0, "o": 77738308}]}
    h = signing.action_hash(cancel, None, NONCE, None)
    assert h.hex() == "99f95e9c3ec4a58b28dd8ea91529b4d305494e7601c1b6e6fe631fac3168c298"


def test_vault_flag_changes_the_hash_as_the_sdk_does() -> None:
    vault = "0x" + "ab" * 20
    assert signing.action_hash(ACTION, vault, NONCE, None) == sdk.action_hash(ACTION, vault, NONCE, None)
    assert signing.action_hash(ACTION, vault, NONCE, None) != signing.action_hash(ACTION, None, NONCE, None)


def test_vector_signatures_both_sources() -> None:
    assert signing.sign_l1_action(KEY, ACTION, NONCE, is_mainnet=False) == SIG_B
    assert signing.sign_l1_action(KEY, ACTION, NONCE, is_mainnet=True) == SIG_A
    assert signing.address_of(KEY) == ADDRESS


def test_recover_with_the_right_and_the_wrong_letter() -> None:
    assert signing.recover_l1_signer(ACTION, SIG_B, NONCE, source="b") == ADDRESS
    assert signing.recover_l1_signer(ACTION, SIG_A, NONCE, source="a") == ADDRESS
    wrong = signing.recover_l1_signer(ACTION, SIG_B, NONCE, source="a")
    assert wrong == "0x9A8C7B4Bb84CFbC4C94c31f0743708101D042E15"


def test_digest_matches_eth_account_typed_data() -> None:
    conn = signing.action_hash(ACTION, None, NONCE, None)
    for source in ("a", "b"):
        typed = encode_typed_data(full_message=sdk.l1_payload(sdk.construct_phantom_agent(conn, source == "a")))
        # eth_account signs the same digest: recover our digest from its signature
        signed = Account.from_key(KEY).sign_message(typed)
        sig = {"r": hex(signed.r), "s": hex(signed.s), "v": signed.v}
        assert signing.recover_digest(signing.agent_digest(conn, source), sig) == ADDRESS


def test_sdk_signatures_recover_unpadded_hex() -> None:
    wallet = Account.from_key("0x" + "07" * 32)
    for nonce in range(NONCE, NONCE + 40):  # some r/s have leading zero nibbles the SDK does not pad
        sig = sdk.sign_l1_action(wallet, ACTION, None, nonce, None, False)
        assert signing.recover_l1_signer(ACTION, sig, nonce) == wallet.address


def test_malformed_signatures_raise() -> None:
    with pytest.raises(SignatureError):
        signing.recover_l1_signer(ACTION, {"r": "0xzz", "s": "0x1", "v": 27}, NONCE)
    with pytest.raises(SignatureError):
        signing.recover_l1_signer(ACTION, {"r": "0x1"}, NONCE)
    with pytest.raises(SignatureError):
        signing.recover_l1_signer(ACTION, {"r": "0x0", "s": "0x0", "v": 27}, NONCE)


def test_nonce_source_is_strictly_increasing_under_a_frozen_clock() -> None:
    src = NonceSource(lambda: 1000)
    got = [src.next() for _ in range(5)]
    assert got == [1000, 1001, 1002, 1003, 1004]


def test_nonce_source_follows_the_clock_when_it_moves_ahead() -> None:
    now = [1000]
    src = NonceSource(lambda: now[0])
    assert src.next() == 1000
    now[0] = 5000
    assert src.next() == 5000
    now[0] = 10  # clock stepping backwards never repeats
    assert src.next() == 5001


def test_nonce_source_is_thread_safe() -> None:
    src = NonceSource(lambda: 1)
    out: list[list[int]] = [[] for _ in range(6)]

    def draw(i: int) -> None:
        for _ in range(500):
            out[i].append(src.next())

    threads = [threading.Thread(target=draw, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    flat = [n for seq in out for n in seq]
    assert len(set(flat)) == len(flat) == 3000
    for seq in out:
        assert seq == sorted(seq)


def _draw_shared(value: object, n: int, queue: object) -> None:
    src = NonceSource(lambda: 7, signing.shared_allocator(value))  # type: ignore[arg-type]
    queue.put([src.next() for _ in range(n)])  # type: ignore[attr-defined]


def test_nonce_source_shared_across_processes() -> None:
    ctx = multiprocessing.get_context("fork")
    value = ctx.Value("Q", 0)
    queue = ctx.Queue()
    procs = [ctx.Process(target=_draw_shared, args=(value, 300, queue)) for _ in range(3)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=30) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    flat = [n for seq in results for n in seq]
    assert len(set(flat)) == len(flat) == 900
    for seq in results:
        assert seq == sorted(seq)
