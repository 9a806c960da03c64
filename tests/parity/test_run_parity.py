"""Acceptance of issue 13: a recorded paper run replays decision for decision.

One real paper group (supervisor + worker OS processes, the sim venue over loopback), the
trading settings (touch policy at full exposure, so orders rest and fill) and two
``[[variants]]`` in shadow, run for ``MM_PARITY_RUN_S`` seconds (default 60). Meanwhile
``mmctl variants`` shows the comparison, and the operator switches the active parameters to
one variant (``mmctl variants --activate``), recorded with its evidence. After a clean
stop:

1. ``mmctl runs`` lists the run and its files;
2. ``mmctl replay --run`` replays the feature journal to exactly the snapshots execution
   and alpha consumed (0 divergent), the alpha journal to exactly the signals execution
   consumed (0 divergent), the risk journal to exactly the ControlStates execution consumed
   and the model weights alpha applied (0 divergent), reproduces every CycleDecisionRecord
   (0 divergent) and the PnL
   attribution exactly, and the report compares the variants with confidence intervals;
3. the replay with one parameter changed reports its first divergent decision, side by side.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from tests.integration.conftest import REPO, Group

RUN_S = float(os.environ.get("MM_PARITY_RUN_S", "60"))

VARIANTS = """
[[variants]]
name = "glft_wide"
set = { policy = "glft", "glft.gamma_per_bps" = 0.3 }

[[variants]]
name = "touch_big"
set = { quote_notional_usd = 400.0 }
"""


def mmctl(_run_dir: str, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    """``mmctl VERB ...`` (offline verbs: they find the run through --state-dir)."""
    return subprocess.run([sys.executable, "-m", "mm.cli.mmctl", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)


def _json(r):
    assert r.returncode == 0, f"rc {r.returncode}\n{r.stdout}\n{r.stderr}"
    return json.loads(r.stdout)


@pytest.mark.integration
def test_paper_run_replays_exactly_with_variants(tmp_path) -> None:
    g = Group.trading(tmp_path, VARIANTS)
    g.start()
    try:
        state = ["--state-dir", str(g.state_dir)]
        t0 = time.monotonic()
        deadline = t0 + 60.0
        shown = None
        while time.monotonic() < deadline:
            r = mmctl(g.run_dir, "variants", *state, "--json")
            if r.returncode == 0:
                shown = json.loads(r.stdout)
                if shown["variants"] and sum(v["fills"] for v in shown["variants"]) > 0:
                    break
            time.sleep(1.0)
        assert shown is not None, r.stderr
        assert [v["name"] for v in shown["variants"]] == ["active", "glft_wide", "touch_big"]
        text = mmctl(g.run_dir, "variants", *state)
        assert text.returncode == 0 and "glft_wide" in text.stdout and "95% CI" in text.stdout, text.stdout
        time.sleep(max(RUN_S * 0.6 - (time.monotonic() - t0), 0.0))
        act = _json(mmctl(g.run_dir, "variants", *state, "--activate", "touch_big", "--reason", "parity test",
                          "--json", timeout=40.0))
        assert act["ok"] and act["to"] == "touch_big" and len(act["evidence"]) == 3
        time.sleep(max(RUN_S - (time.monotonic() - t0), 0.0))
    finally:
        assert g.stop() == 0, g.log()
    print(f"paper run of {time.monotonic() - t0:.0f} s")

    runs = _json(mmctl(g.run_dir, "runs", *state, "--json"))
    assert [r["run_id"] for r in runs] == [g.run_id]
    assert any(f.startswith("execution-") and f.endswith(".mmrec") for f in runs[0]["files"])
    assert {"execution.json", "feature.json", "alpha.json", "risk.json", "variants.json",
            "activations.jsonl"} <= set(runs[0]["files"])
    assert all(any(f.startswith(f"{p}-") and f.endswith(".mmrec") for f in runs[0]["files"])
               for p in ("feature", "alpha", "risk"))

    t1 = time.monotonic()
    r = mmctl(g.run_dir, "replay", "--run", g.run_id, *state, "--json", timeout=600.0)
    rep = _json(r)
    print(f"replay: {rep['inputs']} inputs, {rep['records_run']} decisions in {time.monotonic() - t1:.1f} s; "
          f"fills {rep['pnl_run']['n_fills']}; pnl {rep['pnl_run']['total_usd']:.4f} USD")
    assert rep["lost_inputs"] == 0
    # up the chain: the feature journal replays to exactly the snapshots execution and alpha
    # consumed, the alpha journal to exactly the signals execution consumed
    stages = {st["stage"]: st for st in rep["stages"]}
    print("stages: " + "; ".join(
        f"{n} {st['inputs']} in, {st['outputs']} out, " + ", ".join(
            f"vs {c['consumer']} {c['consumed']} ({c['skipped_head']}+{c['unconsumed_tail']} unconsumed)"
            for c in st.get("checks", [])) for n, st in stages.items()))
    assert rep["stages_missing"] == [] and list(stages) == ["feature", "alpha", "risk", "execution"]
    assert rep["divergent_snapshots"] == 0 and rep["divergent_signals"] == 0, rep["stages"]
    # risk: its journal replays to exactly the ControlStates execution consumed (10 per second)
    # and the model weights alpha applied from them
    assert rep["divergent_control_states"] == 0, stages["risk"]
    assert [c["consumer"] for c in stages["risk"]["checks"]] == ["execution", "alpha"]
    for name in ("feature", "alpha", "risk"):
        st = stages[name]
        assert st["lost_inputs"] == 0 and st["divergent"] == 0 and st["outputs"] > 100
        for c in st["checks"]:
            assert c["first_divergence"] is None and c["consumed"] > 100
            assert c["consumed"] + c["skipped_head"] + c["unconsumed_tail"] == st["outputs"]
    assert rep["records_run"] > 100 and rep["records_replay"] == rep["records_run"]
    assert rep["divergent"] == 0 and rep["first_divergence"] is None
    assert rep["pnl_identical"] and rep["pnl_run"] == rep["pnl_replay"]
    assert rep["pnl_run"]["n_fills"] > 0, "the run should have traded (touch policy at full exposure)"
    names = [v["name"] for v in rep["variants"]]
    assert names == ["active", "glft_wide", "touch_big"]
    assert next(v for v in rep["variants"] if v["active"])["name"] == "touch_big"  # the activation replayed
    assert all("vs_active_ci95" in v and "markout_bps_ci95" in v for v in rep["variants"])

    text = mmctl(g.run_dir, "replay", "--run", g.run_id, *state, timeout=600.0)
    assert text.returncode == 0 and "divergent decisions: 0" in text.stdout and "variants" in text.stdout, text.stdout
    assert "divergent snapshots: 0; divergent signals: 0; divergent control states: 0" in text.stdout, text.stdout
    print(text.stdout)

    changed = mmctl(g.run_dir, "replay", "--run", g.run_id, *state, "--set", "quote_notional_usd=300.0", "--diff",
                    timeout=600.0)
    assert changed.returncode == 1, changed.stdout + changed.stderr
    assert "first divergent decision: record #" in changed.stdout
    # the first field the change touches: the quote size (before any order differs)
    assert "quote_qty" in changed.stdout.split("PnL attribution")[0], changed.stdout
    print(changed.stdout[:3000])
