"""Model-based test of the ring: any sequence of pushes, polls, batches, reader
(re)registrations and writer restarts gives each reader exactly the messages a list
model says it should get, in order, with exact overrun counts. Single pushes and polls go
at random through the compiled builtins (``push``/``poll``, positional or keyword tag)
or the Python reference paths (``push_py``/``poll_py``), which must agree."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from ipc.ring import MessageTooLarge, Ring, RingOverrun, RingReader, RingWriter
from tests.ipc import leftovers, name_prefix

PREFIX = name_prefix()
_seq = itertools.count()

SLOT_COUNT = 8
SLOT_SIZE = 64
CAP = SLOT_SIZE - 16
READER_NAMES = ("a", "b", "c")

payloads = st.binary(max_size=CAP)
tags = st.integers(min_value=0, max_value=2**32 - 1)
reader_names = st.sampled_from(READER_NAMES)


class RingModel(RuleBasedStateMachine):
    """The model: ``log[s - 1]`` is message ``s``; each reader is a cursor into it."""

    def __init__(self) -> None:
        super().__init__()
        self.ring = Ring.create(f"{PREFIX}.m{next(_seq)}", slot_count=SLOT_COUNT, slot_size=SLOT_SIZE, max_readers=4)
        self.others: list[Ring] = []
        self.writer: RingWriter = self.ring.writer()
        self.log: list[tuple[int, bytes]] = []
        self.readers: dict[str, RingReader] = {}
        self.cursor: dict[str, int] = {}
        self.lost: dict[str, int] = {}

    def teardown(self) -> None:
        for r in self.others:
            r.close()
        self.ring.close()
        self.ring.unlink()

    # ---------------------------------------------------------------- the model

    @property
    def published(self) -> int:
        return len(self.log)

    def oldest(self) -> int:
        return max(1, self.published - SLOT_COUNT + 1)

    def expect_overrun(self, name: str) -> int:
        """Lost count a poll at this reader's cursor must report (0: none)."""
        return max(0, self.oldest() - self.cursor[name])

    # ---------------------------------------------------------------- writer rules

    @rule(payload=payloads, tag=tags, how=st.sampled_from(["builtin", "keyword", "python"]))
    def push(self, payload: bytes, tag: int, how: str) -> None:
        w = self.writer
        if how == "builtin":
            seq = w.push(payload, tag)
        elif how == "keyword":
            seq = w.push(payload, tag=tag)
        else:
            seq = w.push_py(payload, tag)
        assert seq == self.published + 1
        self.log.append((tag, payload))

    @rule(batch=st.lists(payloads, max_size=2 * SLOT_COUNT + 3), tag=tags)
    def push_batch(self, batch: list[bytes], tag: int) -> None:
        assert self.writer.push_batch(batch, tag) == self.published + len(batch)
        self.log += [(tag, p) for p in batch]

    @rule(size=st.integers(min_value=CAP + 1, max_value=4 * CAP), ok=st.lists(payloads, max_size=3))
    def push_too_large(self, size: int, ok: list[bytes]) -> None:
        with pytest.raises(MessageTooLarge):
            self.writer.push(b"z" * size)
        with pytest.raises(MessageTooLarge):
            self.writer.push_batch([*ok, b"z" * size])
        assert self.writer.published == self.published

    @rule()
    def restart_writer(self) -> None:
        self.writer.close()
        again = Ring.attach(self.ring.name)
        self.others.append(again)
        self.writer = again.writer()
        assert self.writer.published == self.published

    # ---------------------------------------------------------------- reader rules

    @rule(name=reader_names, start=st.sampled_from(["latest", "oldest", "resume"]))
    def register(self, name: str, start: str) -> None:
        known = name in self.readers
        self.readers[name] = self.ring.reader(name, start=start)
        if start == "resume" and known:
            pass  # keeps the model cursor
        elif start == "latest":
            self.cursor[name] = self.published + 1
        else:
            self.cursor[name] = self.oldest()
        self.lost[name] = 0

    @precondition(lambda self: bool(self.readers))
    @rule(data=st.data())
    def close_reader(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(self.readers)))
        self.readers.pop(name).close()
        del self.cursor[name], self.lost[name]

    @precondition(lambda self: bool(self.readers))
    @rule(data=st.data(), how=st.sampled_from(["builtin", "python", "tagged"]))
    def poll(self, data: st.DataObject, how: str) -> None:
        name = data.draw(st.sampled_from(sorted(self.readers)))
        rd = self.readers[name]
        tagged = how == "tagged"
        poll = rd.poll_tagged if tagged else rd.poll if how == "builtin" else rd.poll_py
        lost = self.expect_overrun(name)
        if lost:
            with pytest.raises(RingOverrun) as err:
                poll()
            assert err.value.lost == lost
            self.cursor[name] += lost
            self.lost[name] += lost
            return
        c = self.cursor[name]
        got = poll()
        if c > self.published:
            assert got is None
            return
        tag, payload = self.log[c - 1]
        assert got == ((tag, payload) if tagged else payload)
        self.cursor[name] = c + 1

    @precondition(lambda self: bool(self.readers))
    @rule(data=st.data(), max_n=st.integers(min_value=-1, max_value=2 * SLOT_COUNT + 2))
    def poll_batch(self, data: st.DataObject, max_n: int) -> None:
        name = data.draw(st.sampled_from(sorted(self.readers)))
        rd = self.readers[name]
        lost = self.expect_overrun(name)
        if lost and max_n > 0:
            with pytest.raises(RingOverrun) as err:
                rd.poll_batch(max_n)
            assert err.value.lost == lost
            self.cursor[name] += lost
            self.lost[name] += lost
            return
        c = self.cursor[name]
        take = max(0, min(max_n, SLOT_COUNT, self.published + 1 - c))
        assert rd.poll_batch(max_n) == [p for _, p in self.log[c - 1 : c - 1 + take]]
        self.cursor[name] = c + take

    # ---------------------------------------------------------------- invariants

    @invariant()
    def readers_agree_with_the_model(self) -> None:
        stats = self.ring.stats()
        assert stats["published"] == self.published
        table = {r["name"]: r for r in stats["readers"]}
        assert sorted(table) == sorted(self.readers)
        for name, rd in self.readers.items():
            c = self.cursor[name]
            assert rd.cursor == c
            assert table[name]["cursor"] == c
            assert table[name]["lag"] == max(0, self.published + 1 - c)
            assert rd.overruns == self.lost[name] == table[name]["overruns"]
            assert rd.available() == (c <= self.published)


RingModel.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_ring_matches_a_list_model = RingModel.TestCase


@pytest.fixture(scope="module", autouse=True)
def _nothing_left_behind() -> Iterator[None]:
    yield
    assert leftovers(PREFIX) == []
