"""``mmctl sweep``: search execution parameters (Optuna) over many replay jobs.

    mmctl sweep --data real|generated|PATH [--coins BTC] [--policy state_machine] [--trials 50] [--jobs 2]
                [--space FILE|default] [--objective net_bps|net_usd|sharpe|markout5_bps|adverse5]
                [--out DIR] [--dask ADDRESS | --ray ADDRESS] [--split 0.4] [--holdout 0.3] [--fit warmup|none]

Evaluation protocol (by time, never shuffled): the span is cut in three. The first
``--split`` warms the engines up (and, with ``--fit warmup``, fits the models, as ``mmctl
replay`` does); each trial trades and is scored on the middle part, up to the last
``--holdout`` of the span. The best trial's parameters are then run once more with
everything before the holdout as warm-up and scored on the holdout, which no trial saw:
both figures are printed, so a parameter set that only fits the tuning window shows.

Each trial is one replay job (:func:`mm.replay.suite.run_one` with the trial's
``execution.*`` overrides applied by :func:`mm.replay.suite.apply_overrides`). Jobs go to an
executor with one interface, ``submit(fn, job) -> concurrent.futures.Future``: local
processes (``ProcessPoolExecutor``, ``--jobs`` of them) by default, a Dask cluster with
``--dask ADDRESS`` (``distributed.Client``) or a Ray cluster with ``--ray ADDRESS``
(``ray.init``). The same job function runs everywhere; a worker loads the data named in the
job itself (once per worker process, cached), so the data must be readable on the workers.

Output: the results table (trial, objective, key metrics, parameters) printed, best first,
and written to ``DIR/sweep.csv`` and ``DIR/sweep.json``; the best parameters as ``--set``
lines for ``mmctl replay``. One progress line per finished trial when stderr is a terminal.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import csv
import json
import sys
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import msgspec

from mm.cli.progress import Progress, add_quiet_flag
from mm.config import ConfigError, load_config
from mm.execution.config import ExecutionConfig
from mm.replay.engine import CoinSpec, ReplayConfig, fee_rates_of
from mm.replay.metrics import compute
from mm.replay.suite import apply_overrides, run_one
from mm.research.objective import OBJECTIVES, SUMMARY_KEYS, best_first, objective_value, summarize
from mm.research.space import Space, default_space, parse_space, suggest, to_sets


class DataSpec(msgspec.Struct, frozen=True):
    """Everything a worker needs to rebuild a trial's inputs (hashable: the cache key)."""

    data: str
    coins: tuple[str, ...]
    seed: int
    duration_s: float
    split: float
    holdout: float
    fit: str
    fee_tier: str
    risk: str
    md_latency: str
    order_latency: str
    cancel_latency: str
    response_latency: str


class Job(msgspec.Struct, frozen=True):
    """One replay: ``phase`` ``tune`` (score on the middle part) or ``holdout`` (on the last part)."""

    trial: int
    spec: DataSpec
    policy: str
    sets: tuple[str, ...]
    phase: str = "tune"
    base_json: bytes = b""  # the --config file's [execution] section (msgspec JSON), empty: built-in defaults


_CACHE: dict[tuple[DataSpec, str], tuple[list[object], list[CoinSpec], Any, int, Any]] = {}


def _inputs(spec: DataSpec, phase: str) -> tuple[list[object], list[CoinSpec], Any, int, Any]:
    """(events, coins, labels, trade_from_ns, models) of a phase, loaded once per process."""
    key = (spec, phase)
    hit = _CACHE.get(key)
    if hit is not None:
        return hit
    from mm.cli.replay import load

    events, coins, labels, _ = load(spec.data, list(spec.coins), spec.seed, spec.duration_s)
    if not events:
        raise ValueError(f"{spec.data}: no events")
    t0, t1 = events[0].ts_ns, events[-1].ts_ns  # type: ignore[attr-defined]
    split_ns = t0 + int((t1 - t0) * spec.split)
    hold_ns = t0 + int((t1 - t0) * (1.0 - spec.holdout))
    if phase == "tune":
        evs = [e for e in events if e.ts_ns < hold_ns]  # type: ignore[attr-defined]
        trade_from = split_ns
    else:
        evs, trade_from = events, hold_ns
    models = None
    if spec.fit == "warmup":
        from mm.replay.fit import fit_replay_models

        models = fit_replay_models(evs, [c.name for c in coins], trade_from, labels, trained_on=f"{spec.data}, sweep {phase}")
    out = (evs, coins, labels, trade_from, models)
    _CACHE[key] = out
    return out


def run_job(job: Job) -> dict[str, Any]:
    """One trial's replay: its key figures (runs in a worker)."""
    t = time.perf_counter()
    evs, coins, labels, trade_from, models = _inputs(job.spec, job.phase)
    base = msgspec.json.decode(job.base_json, type=ExecutionConfig) if job.base_json else ExecutionConfig()
    ecfg = apply_overrides(msgspec.structs.replace(base, policy=job.policy), list(job.sets))  # type: ignore[arg-type]
    s = job.spec
    rcfg = ReplayConfig(seed=s.seed, fee_tier=s.fee_tier, risk=s.risk, md_latency=s.md_latency,
                        order_latency=s.order_latency, cancel_latency=s.cancel_latency,
                        response_latency=s.response_latency)
    _, res = run_one(evs, coins, rcfg, ecfg, trade_from, models)
    metrics = compute(res, labels, len(coins), maker_bps=fee_rates_of(s.fee_tier).maker * 1e4)
    return {"trial": job.trial, "phase": job.phase, "summary": summarize(metrics), "events": res.n_events,
            "window_s": (res.end_ns - res.trade_from_ns) / 1e9, "wall_s": time.perf_counter() - t}


# ---------------------------------------------------------------------- executors


class Executor(Protocol):
    """Where jobs run: ``submit(fn, job)`` returns a ``concurrent.futures.Future``."""

    name: str

    def submit(self, fn: Callable[[Job], dict[str, Any]], job: Job) -> cf.Future[dict[str, Any]]: ...

    def close(self) -> None: ...


class LocalExecutor:
    """Local processes."""

    def __init__(self, jobs: int) -> None:
        self.name = f"local processes x{jobs}"
        self._pool = cf.ProcessPoolExecutor(max_workers=jobs)

    def submit(self, fn: Callable[[Job], dict[str, Any]], job: Job) -> cf.Future[dict[str, Any]]:
        return self._pool.submit(fn, job)

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)


class DaskExecutor:
    """A Dask cluster (``distributed.Client(address)``); its futures bridged to concurrent ones."""

    def __init__(self, address: str) -> None:
        from distributed import Client

        self._client = Client(address)
        self.name = f"dask {address}"

    def submit(self, fn: Callable[[Job], dict[str, Any]], job: Job) -> cf.Future[dict[str, Any]]:
        out: cf.Future[dict[str, Any]] = cf.Future()
        fut = self._client.submit(fn, job, pure=False)

        def done(f: Any) -> None:
            try:
                out.set_result(f.result())
            except BaseException as exc:  # a worker's failure is the trial's
                out.set_exception(exc)

        fut.add_done_callback(done)
        return out

    def close(self) -> None:
        self._client.close()


class RayExecutor:
    """A Ray cluster (``ray.init(address)``)."""

    def __init__(self, address: str) -> None:
        import ray

        ray.init(address=address)
        self._ray = ray
        self._remote: dict[Any, Any] = {}
        self.name = f"ray {address}"

    def submit(self, fn: Callable[[Job], dict[str, Any]], job: Job) -> cf.Future[dict[str, Any]]:
        rf = self._remote.get(fn)
        if rf is None:
            rf = self._remote[fn] = self._ray.remote(fn)
        fut: cf.Future[dict[str, Any]] = rf.remote(job).future()
        return fut

    def close(self) -> None:
        self._ray.shutdown()


def make_executor(jobs: int, dask: str | None, ray: str | None) -> Executor:
    if dask:
        return DaskExecutor(dask)
    if ray:
        return RayExecutor(ray)
    return LocalExecutor(jobs)


# ---------------------------------------------------------------------- the search


def load_space(arg: str, policy: str) -> Space:
    if arg == "default":
        return default_space(policy)
    p = Path(arg)
    text = p.read_text()
    doc = tomllib.loads(text) if p.suffix == ".toml" else json.loads(text)
    return parse_space(doc, ExecutionConfig(policy=policy))  # type: ignore[arg-type]


def sweep(spec: DataSpec, policy: str, space: Space, objective: str, trials: int, jobs: int, ex: Executor,
          seed: int = 0, min_fills: int = 5, progress: Callable[[str], None] | None = None,
          base_json: bytes = b"") -> dict[str, Any]:
    """Run ``trials`` trials (``jobs`` at a time) and the best one on the holdout; the results document."""
    import optuna
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction=OBJECTIVES[objective], sampler=optuna.samplers.TPESampler(seed=seed))
    rows: list[dict[str, Any]] = []
    pending: dict[cf.Future[dict[str, Any]], tuple[Any, dict[str, Any]]] = {}
    asked = 0
    t_start = time.perf_counter()
    while asked < trials or pending:
        while asked < trials and len(pending) < max(jobs, 1):
            trial = study.ask()
            params = suggest(space, trial)
            job = Job(trial.number, spec, policy, tuple(to_sets(params)), base_json=base_json)
            pending[ex.submit(run_job, job)] = (trial, params)
            asked += 1
        done, _ = cf.wait(list(pending), return_when=cf.FIRST_COMPLETED)
        for fut in done:
            trial, params = pending.pop(fut)
            row: dict[str, Any] = {"trial": trial.number, "params": params, "objective": None, "note": ""}
            try:
                r = fut.result()
            except Exception as exc:
                study.tell(trial, state=TrialState.FAIL)
                row["note"] = f"error: {type(exc).__name__}: {exc}"
                row.update(dict.fromkeys(SUMMARY_KEYS))
            else:
                row.update(r["summary"])
                row["wall_s"] = r["wall_s"]
                value, why = objective_value(objective, r["summary"], min_fills)
                if value is None:
                    study.tell(trial, state=TrialState.FAIL)
                    row["note"] = why
                else:
                    study.tell(trial, value)
                    row["objective"] = value
            rows.append(row)
            if progress is not None:
                obj = "-" if row["objective"] is None else f"{row['objective']:.3f}"
                progress(f"trial {row['trial']:3d} ({len(rows)}/{trials}): {objective} {obj}  fills "
                         f"{row.get('fills') or 0:.0f}  {row['note']}")
    ranked = best_first(rows, objective)
    doc: dict[str, Any] = {
        "setup": {**msgspec.to_builtins(spec), "policy": policy, "objective": objective,
                  "direction": OBJECTIVES[objective], "trials": trials, "jobs": jobs, "executor": ex.name,
                  "min_fills": min_fills, "sampler": f"optuna TPE seed {seed}",
                  "space": [msgspec.to_builtins(p) for p in space],
                  "protocol": (f"warm-up{'/fit' if spec.fit == 'warmup' else ''} on the first {spec.split:.0%}, "
                               f"trials scored up to the last {spec.holdout:.0%}, best re-run on that holdout")},
        "rows": sorted(rows, key=lambda r: r["trial"]),
        "best": None, "holdout": None, "wall_s": 0.0,
    }
    if ranked:
        best = ranked[0]
        sets = to_sets(best["params"])
        doc["best"] = {"trial": best["trial"], "objective": best["objective"], "params": best["params"], "sets": sets,
                       "summary": {k: best.get(k) for k in SUMMARY_KEYS}}
        try:
            h = ex.submit(run_job, Job(best["trial"], spec, policy, tuple(sets), phase="holdout", base_json=base_json)).result()
            hv, why = objective_value(objective, h["summary"], min_fills)
            doc["holdout"] = {"objective": hv, "note": why, "summary": h["summary"], "window_s": h["window_s"]}
        except Exception as exc:
            doc["holdout"] = {"objective": None, "note": f"error: {type(exc).__name__}: {exc}", "summary": {}}
    doc["wall_s"] = time.perf_counter() - t_start
    return doc


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def table(doc: dict[str, Any]) -> str:
    """The results table, best first (trials without a value last)."""
    rows = doc["rows"]
    obj = doc["setup"]["objective"]
    ranked = best_first(rows, obj)
    rest = [r for r in rows if r["objective"] is None]
    pkeys = [p["key"] for p in doc["setup"]["space"]]
    short = [k.removeprefix("execution.") for k in pkeys]
    head = ["trial", obj, "fills", "turnover_usd", "net_usd", "net_bps", "adverse5", "markout5_bps", *short, "note"]
    lines = ["  ".join(head)]
    for r in ranked + rest:
        cells = [str(r["trial"]), _fmt(r["objective"])] + [_fmt(r.get(k)) for k in
                                                             ("fills", "turnover_usd", "net_usd", "net_bps", "adverse5",
                                                              "markout5_bps")]
        cells += [_fmt(r["params"].get(k)) for k in pkeys] + [r.get("note", "")]
        lines.append("  ".join(cells))
    return "\n".join(lines)


def write(doc: dict[str, Any], out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    pj, pc = out / "sweep.json", out / "sweep.csv"
    pj.write_text(json.dumps(doc, indent=1, default=str))
    pkeys = [p["key"] for p in doc["setup"]["space"]]
    with pc.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["trial", "objective", *SUMMARY_KEYS, *pkeys, "note"])
        for r in doc["rows"]:
            w.writerow([r["trial"], r["objective"], *(r.get(k) for k in SUMMARY_KEYS),
                        *(r["params"].get(k) for k in pkeys), r.get("note", "")])
    return pj, pc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="mmctl sweep", description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--data", default="generated", help="real | real:YYYY-MM-DD | generated | PATH to a recorder directory")
    ap.add_argument("--coins", default="BTC")
    ap.add_argument("--policy", default="state_machine", choices=["state_machine", "glft", "touch"])
    ap.add_argument("--trials", type=int, default=50)
    ap.add_argument("--jobs", type=int, default=2, help="concurrent trials (local processes by default)")
    ap.add_argument("--space", default="default", help="JSON/TOML file of key -> range, or 'default'")
    ap.add_argument("--objective", default="net_bps", choices=list(OBJECTIVES))
    ap.add_argument("--min-fills", type=int, default=5, help="a trial with fewer fills has no objective value")
    ap.add_argument("--out", default="var/sweep")
    grp = ap.add_mutually_exclusive_group()
    grp.add_argument("--dask", metavar="ADDRESS", help="run the jobs on this Dask scheduler")
    grp.add_argument("--ray", metavar="ADDRESS", help="run the jobs on this Ray cluster")
    ap.add_argument("--split", type=float, default=0.4, help="fraction of the span for warm-up (and fitting)")
    ap.add_argument("--holdout", type=float, default=0.3, help="last fraction of the span kept for the best trial")
    ap.add_argument("--fit", choices=["warmup", "none"], default="warmup")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--duration-s", type=float, default=900.0, help="generated data: length")
    ap.add_argument("--fee-tier", default="base")
    ap.add_argument("--risk", choices=["authority", "off"], default="authority")
    ap.add_argument("--md-latency", default=ReplayConfig().md_latency)
    ap.add_argument("--order-latency", default=ReplayConfig().order_latency)
    ap.add_argument("--cancel-latency", default=ReplayConfig().cancel_latency)
    ap.add_argument("--response-latency", default=ReplayConfig().response_latency)
    ap.add_argument("--config", default=None, help="start from this config's [execution] section (default: built-in)")
    ap.add_argument("--json", action="store_true", help="print sweep.json on stdout (the text goes to stderr)")
    add_quiet_flag(ap)
    a = ap.parse_args(argv)
    try:
        base_json = msgspec.json.encode(load_config(a.config).execution) if a.config else b""
    except (OSError, ConfigError) as exc:
        print(f"mmctl sweep: config error: {exc}", file=sys.stderr)
        return 2
    if not (0.0 <= a.split < 1.0 and 0.0 < a.holdout < 1.0 and a.split + a.holdout < 1.0):
        ap.error("need 0 <= --split, 0 < --holdout and --split + --holdout < 1")
    if a.trials < 1 or a.jobs < 1:
        ap.error("--trials and --jobs must be >= 1")
    try:
        fee_rates_of(a.fee_tier)
        space = load_space(a.space, a.policy)
    except (OSError, ValueError, tomllib.TOMLDecodeError) as exc:
        print(f"mmctl sweep: {exc}", file=sys.stderr)
        return 2
    spec = DataSpec(a.data, tuple(c.strip().upper() for c in a.coins.split(",") if c.strip()), a.seed, a.duration_s,
                    a.split, a.holdout, a.fit, a.fee_tier, a.risk, a.md_latency, a.order_latency, a.cancel_latency,
                    a.response_latency)
    try:
        _inputs(spec, "tune")  # fail early and clearly on bad data (workers load their own copy)
    except (OSError, ValueError) as exc:
        print(f"mmctl sweep: {exc}", file=sys.stderr)
        return 2
    try:
        ex = make_executor(a.jobs, a.dask, a.ray)
    except ImportError as exc:
        print(f"mmctl sweep: {exc} (pip install distributed / ray)", file=sys.stderr)
        return 2
    prog = Progress("sweep", total=a.trials, quiet=a.quiet)
    try:
        doc = sweep(spec, a.policy, space, a.objective, a.trials, a.jobs, ex, seed=a.seed, min_fills=a.min_fills,
                    progress=lambda line: prog.advance(1, note=line), base_json=base_json)
    finally:
        prog.close()
        ex.close()
    out = sys.stderr if a.json else sys.stdout
    print(f"sweep of {a.data} ({','.join(spec.coins)}), policy {a.policy}, {a.trials} trials on {doc['setup']['executor']}, "
          f"objective {a.objective} ({OBJECTIVES[a.objective]}); {doc['setup']['protocol']}; {doc['wall_s']:.1f} s", file=out)
    print(table(doc), file=out)
    pj, pc = write(doc, Path(a.out))
    if a.json:
        print(json.dumps(doc, indent=1, default=str))
    best = doc["best"]
    if best is None:
        print(f"no trial reached an objective value (min fills {a.min_fills}); wrote {pj} and {pc}", file=out)
        return 1
    h = doc["holdout"] or {}
    print(f"best trial {best['trial']}: {a.objective} {best['objective']:.4g} on the tuning window; on the holdout: "
          f"{_fmt(h.get('objective'))} {h.get('note', '')} (fills {_fmt((h.get('summary') or {}).get('fills'))})", file=out)
    print("best parameters, for mmctl replay:", file=out)
    for s in best["sets"]:
        print(f"  --set {s}", file=out)
    print(f"wrote {pj} and {pc}", file=out)
    return 0

if __name__ == "__main__":
    raise SystemExit(main())
