"""``make bench``'s closing table: every target read from the run's own figures, missing ones said."""

from __future__ import annotations

from typing import Any

from bench.run import print_targets, targets_table


def _figs(spin_p50: float, zmq_p50: float) -> dict[str, Any]:
    lat = {"ring/spin/64": {"p50": spin_p50, "p99": 4.0}, "ring/spin_then_block/64": {"p50": 1.2, "p99": 6.0},
           "ring/block/64": {"p50": 24.0}, "pyzmq/-/64": {"p50": zmq_p50}, "mp.Queue/-/64": {"p50": 30.0}}
    thr = {"ring/spin/64": {"batch_mps": 5.0}, "pyzmq/-/64": {"single_mps": 1.0}, "mp.Queue/-/64": {"single_mps": 0.2}}
    return {
        "bench_ring": {"latency_us": lat, "throughput_mps": thr, "sem_wakeup_us": {"p50": 20.0},
                       "consumer_cpu_10k": {"block": {"cpu_pct": 12.0}}},
        "bench_hftbacktest": {"coins": {"BTC": {"speed": {"mm_kernel_book_queue_events_per_s": 3e6,
                                                          "hbt_book_queue_events_per_s": 2e6}}}},
        "bench_execution": {"state_machine": {"all": {"p99_us": 120.0}, "on_cpu": {"p99_us": 90.0}}},
        "bench_models": {"a p99 us": 4.0, "b p99 us": 11.0, "snapshot build us": 15.0},
    }


def _row(rows: list[dict[str, Any]], figure: str) -> dict[str, Any]:
    return next(r for r in rows if r["figure"] == figure)


def test_targets_are_judged_from_the_figures_of_the_same_run() -> None:
    rows = targets_table(_figs(spin_p50=0.9, zmq_p50=36.0))
    assert _row(rows, "ring hop p50 us, 64 B, spin")["met"] is True
    assert _row(rows, "pyzmq p50 / ring p50, spin")["ratio"] is None
    assert _row(rows, "pyzmq p50 / ring p50, spin")["value"] == 40.0
    assert _row(rows, "pyzmq p50 / ring p50, spin")["met"] is True
    assert _row(rows, "ring hop p99 us, 64 B, spin_then_block")["met"] is False
    assert _row(rows, "ring batched M msgs/s, 64 B")["met"] is True  # 5 M/s, 5x pyzmq
    assert _row(rows, "ring block p50 us, 64 B")["ratio"] == 1.2
    assert _row(rows, "book + queue fill model events/s, BTC (compiled kernel)")["ratio"] == 1.5
    assert _row(rows, "decision latency p99 us (state machine, wall)")["met"] is False
    assert _row(rows, "decision latency p99 us (state machine, on-CPU)")["met"] is True
    assert _row(rows, "slowest model inference p99 us")["value"] == 11.0

    slower = targets_table(_figs(spin_p50=1.2, zmq_p50=36.0))
    assert _row(slower, "ring hop p50 us, 64 B, spin")["met"] is False
    assert _row(slower, "pyzmq p50 / ring p50, spin")["met"] is False


def test_a_module_that_did_not_run_reads_as_not_available(capsys: Any) -> None:
    rows = targets_table({"bench_ring": {"error": "Traceback ..."}})
    spin = _row(rows, "ring hop p50 us, 64 B, spin")
    assert spin["value"] is None and spin["met"] is None
    assert all(r["met"] is None for r in rows)
    print_targets(rows)
    out = capsys.readouterr().out
    assert "n/a" in out and "NO" not in out
