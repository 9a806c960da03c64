"""Torn-read hunt: a writer process at full speed laps two reader processes in a tiny ring.

Every payload checks itself (its sequence number repeated, then a checksum, with a length
that depends on the sequence number), so a reader that returned a torn, stale or
misplaced message would see it. Each reader must get strictly consecutive sequence
numbers except where it was told of an overrun, and received + lost == published.
Run twice: through the compiled builtins (``push``/``poll``) and through the Python
reference paths (``push_py``/``poll_py``).
"""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ipc.ring import Ring, RingOverrun
from tests.ipc import leftovers, name_prefix

pytestmark = pytest.mark.integration

PREFIX = name_prefix()
SLOT_COUNT = 16
SLOT_SIZE = 128
CAP = SLOT_SIZE - 16
WRITE_SECONDS = 1.5
_MIX = 0x9E3779B97F4A7C15
_M64 = (1 << 64) - 1


def payload_words(seq: int) -> int:
    """2 to CAP/8 words, varying with seq, so the length field is checked too."""
    return 2 + seq % (CAP // 8 - 1)


def make_payload(seq: int) -> bytes:
    """Little-endian u64 words: seq repeated, then a checksum of seq and the length."""
    words = payload_words(seq)
    check = ((seq * _MIX) ^ words) & _M64
    return seq.to_bytes(8, "little") * (words - 1) + check.to_bytes(8, "little")


def check_payload(data: bytes) -> int:
    """The payload's sequence number, or -1 when it is not internally consistent."""
    n = len(data)
    if n < 16 or n % 8:
        return -1
    words = n // 8
    seq = int.from_bytes(data[:8], "little")
    check = int.from_bytes(data[-8:], "little")
    if data[:8] * (words - 1) != data[:-8] or check != ((seq * _MIX) ^ words) & _M64:
        return -1
    if payload_words(seq) != words:
        return -1
    return seq


def writer_main(name: str, path: str, go: Any, published: Any, done: Any) -> None:
    ring = Ring.attach(name)
    w = ring.writer()
    push = w.push if path == "builtin" else w.push_py
    go.wait()
    seq = 0
    deadline = time.monotonic() + WRITE_SECONDS
    while time.monotonic() < deadline:
        for _ in range(64):
            seq += 1
            push(make_payload(seq))
        batch = [make_payload(seq + i) for i in range(1, 17)]
        seq = w.push_batch(batch)
    published.value = w.published
    done.set()
    ring.close()


def reader_main(
    name: str, path: str, reader_name: str, batched: bool, ready: Any, go: Any, published: Any, done: Any, results: Any
) -> None:
    ring = Ring.attach(name)
    rd = ring.reader(reader_name, start="oldest")
    poll = rd.poll if path == "builtin" else rd.poll_py
    ready.set()
    go.wait()
    expect = 1
    received = lost = bad = events = 0
    bad_examples: list[str] = []
    while True:
        try:
            msgs = rd.poll_batch(32) if batched else [m] if (m := poll()) is not None else []
        except RingOverrun as e:
            events += 1
            lost += e.lost
            expect += e.lost
            continue
        for m in msgs:
            seq = check_payload(m)
            if seq != expect:
                bad += 1
                if len(bad_examples) < 5:
                    bad_examples.append(f"expected seq {expect}, got {seq} from {m[:16]!r}... ({len(m)} bytes)")
            received += 1
            expect += 1
        if not msgs and done.is_set() and rd.cursor > published.value:
            break
    results.put(
        {
            "reader": reader_name,
            "received": received,
            "lost": lost,
            "events": events,
            "overruns": rd.overruns,
            "bad": bad,
            "bad_examples": bad_examples,
            "cursor": rd.cursor,
        }
    )
    ring.close()


@pytest.fixture(scope="module", autouse=True)
def _nothing_left_behind() -> Iterator[None]:
    yield
    assert leftovers(PREFIX) == []


def test_payload_self_check() -> None:
    for seq in range(1, 200):
        assert check_payload(make_payload(seq)) == seq
    good = make_payload(23)
    assert check_payload(good[:-1]) == -1
    assert check_payload(make_payload(22)[:8] + good[8:]) == -1
    assert check_payload(good[:8] + make_payload(37)[8:16] + good[16:]) == -1


@pytest.mark.parametrize("path", ["builtin", "python"])
def test_no_torn_or_stale_message_under_a_full_speed_writer(path: str) -> None:
    ctx = mp.get_context("spawn")
    name = f"{PREFIX}.stress{path}"
    ring = Ring.create(name, slot_count=SLOT_COUNT, slot_size=SLOT_SIZE)
    try:
        go, done = ctx.Event(), ctx.Event()
        published = ctx.Value("q", 0)
        results = ctx.Queue()
        readers = []
        for reader_name, batched in (("single", False), ("batched", True)):
            ready = ctx.Event()
            p = ctx.Process(
                target=reader_main,
                args=(name, path, reader_name, batched, ready, go, published, done, results),
                daemon=True,
            )
            p.start()
            readers.append((p, ready))
        writer = ctx.Process(target=writer_main, args=(name, path, go, published, done), daemon=True)
        writer.start()
        for _, ready in readers:
            assert ready.wait(60), "reader process did not start"
        go.set()
        got = [results.get(timeout=90) for _ in readers]
        writer.join(30)
        for p, _ in readers:
            p.join(30)
        assert writer.exitcode == 0
        assert all(p.exitcode == 0 for p, _ in readers)
        total = published.value
        print(f"published {total}: " + "; ".join(f"{r['reader']} received {r['received']} lost {r['lost']} events {r['events']}" for r in got))
        assert total > SLOT_COUNT * 100
        for r in got:
            assert r["bad"] == 0, r["bad_examples"]
            assert r["received"] + r["lost"] == total, r
            assert r["overruns"] == r["lost"]
            assert r["received"] > 0
            assert r["cursor"] == total + 1
        # the tiny ring and the shared cores make lapping certain: the resync path ran
        assert sum(r["lost"] for r in got) > 0
    finally:
        ring.close()
        ring.unlink()
