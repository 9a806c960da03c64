"""mmctl: the operator's command line for a running mm process group.

  mmctl status [--json]            processes, channels, kill switch
  mmctl kill [--reason TEXT]       trip the kill switch (directly in shared memory, and via
                                   the supervisor), every process sees it
  mmctl reset-kill                 clear the kill switch (explicit operator command)
  mmctl promote [--force] [--reason TEXT]
  mmctl demote [--to LEVEL] [--reason TEXT]
  mmctl shutdown                   stop the group cleanly
  mmctl record [--out DIR] [--duration S] [--ex]
                                   record the group's market stream to .mmrec files
  mmctl audit [--since 10m] [--mode MAKER] [--symbol BTC] [--fill-id N] ...
                                   query the decision audit (works without a running group)
  mmctl replay --data {real,generated,PATH} [--policies ...] [--fee-tiers ...] [--out DIR]
                                   deterministic single-process replay; JSON + HTML report
  mmctl train --data {real,generated} [--out DIR] ...
                                   fit the models offline and print out-of-sample figures
                                   (no running group needed; `mmctl train --help`)
  mmctl import [real|real:DAY|PATH] [--out DIR]
                                   the shared real recording (or raw frames) into .mmrec files

Global flags: --config FILE (its run.run_dir locates the group), --run-dir DIR, --json.
Exit codes: 0 ok; 1 the command was refused or failed; 2 usage or configuration error;
3 no process group is running.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
from typing import Any

from ipc.control import ControlClient, ControlReply, ControlUnavailable
from mm.config import ConfigError, default_run_dir, load_config

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_NO_GROUP = 0, 1, 2, 3
GROUP_FILE = "group.json"
CONTROL_SOCKET = "control.sock"


class NoGroup(RuntimeError):
    pass


def _run_dir(args: argparse.Namespace) -> str:
    if args.run_dir:
        return str(args.run_dir)
    cfg_dir = ""
    if args.config:
        cfg_dir = load_config(args.config).run.run_dir
    elif os.path.exists("configs/paper.toml") and not os.environ.get("MM_RUN_DIR"):
        cfg_dir = load_config("configs/paper.toml").run.run_dir
    return default_run_dir(cfg_dir)


def _group(run_dir: str) -> dict[str, Any]:
    path = os.path.join(run_dir, GROUP_FILE)
    try:
        with open(path) as fh:
            info: dict[str, Any] = json.load(fh)
    except FileNotFoundError:
        raise NoGroup(
            f"no mm process group is running (nothing at {path}).\n"
            "Start one with `make up` (paper mode), or point mmctl at it with --run-dir / --config."
        ) from None
    except ValueError as exc:
        raise NoGroup(f"{path} is unreadable ({exc}); is a group starting or stopping?") from None
    pid = int(info.get("pid", 0))
    if pid <= 0 or not os.path.exists(f"/proc/{pid}"):
        raise NoGroup(
            f"the process group in {run_dir} is not running (supervisor pid {pid} is gone).\n"
            "Start one with `make up`; stale shared memory is cleaned at the next start."
        )
    return info


def _call(run_dir: str, cmd: str, timeout_ms: int = 3000, **kw: Any) -> ControlReply:
    _group(run_dir)
    client = ControlClient(os.path.join(run_dir, CONTROL_SOCKET), timeout_ms=timeout_ms)
    try:
        return client.call(cmd, **kw)
    except ControlUnavailable as exc:
        raise NoGroup(f"{exc}.\nIs the group running? Start one with `make up`.") from None


def _fmt_status(d: dict[str, Any]) -> str:
    lines = [
        f"run {d['run_id']}  mode {d['mode']}  supervisor pid {d['pid']}  uptime {d['uptime_s']} s  "
        f"wait {d['wait']}",
        "",
        f"{'process':<10} {'pid':>7} {'core':>4} {'alive':>5} {'state':<9} {'hb age ms':>9} "
        f"{'loops/s':>8} {'restarts':>8} {'in':>9} {'out':>9} {'overruns':>8} {'lat us':>8}",
    ]
    for p in d["processes"]:
        age = "-" if p["heartbeat_age_ms"] is None else f"{p['heartbeat_age_ms']:.0f}"
        core = "-" if p["core"] < 0 else str(p["core"])
        lines.append(
            f"{p['name']:<10} {p['pid']:>7} {core:>4} {'yes' if p['alive'] else 'NO':>5} {p['state']:<9} "
            f"{age:>9} {p['loop_rate_hz']:>8.0f} {p['restarts']:>8} {p['msgs_in']:>9} {p['msgs_out']:>9} "
            f"{p['overruns']:>8} {p['latency_last_us']:>8.0f}"
        )
    lines += ["", f"{'channel':<8} {'writer':<10} {'messages':>10}  readers (lag / overruns)"]
    for c in d["channels"]:
        readers = ", ".join(f"{r['name']} ({r['lag']}/{r['overruns']})" for r in c["readers"]) or "-"
        lines.append(f"{c['channel']:<8} {c['writer']:<10} {c['published']:>10}  {readers}")
    risk = d.get("risk") or {}
    lines.append("")
    if risk.get("exposure_level"):
        lines.append(
            f"risk: exposure {risk['exposure_level']} (size x{risk['size_multiplier']:g}), "
            f"safety {risk['safety_level']} (spread x{risk['spread_multiplier']:g})"
            + (", reduce-only" if risk.get("reduce_only") else "")
            + f"  [{risk.get('control_reason', '')}]"
        )
    else:
        lines.append("risk: no ControlState received yet")
    detail = d.get("risk_detail") or {}
    conf = detail.get("confidence")
    if conf:
        lines.append(
            f"confidence: overall {conf['overall']:.2f} (model {conf['model']:.2f}, execution "
            f"{conf['execution']:.2f}, safety {conf['safety']:.2f}) -> implies {conf['implied_level']}"
        )
        expo = detail.get("exposure", {})
        if expo.get("evidence_why"):
            lines.append(f"promotion evidence: {'holds' if expo.get('evidence_ok') else 'not met'}: "
                         f"{expo['evidence_why']}")
        pnl = detail.get("pnl", {})
        if pnl:
            lines.append(f"pnl: {pnl.get('total_pnl_usd', 0):.2f} USD, drawdown {pnl.get('drawdown_pct', 0):.2f}% "
                         f"(max {pnl.get('max_drawdown_pct', 0):.2f}%), exchange {detail.get('exchange_health', '?')}")
        if expo.get("fills_at_level") is not None:
            lines.append(f"evidence at level: {expo.get('fills_at_level', 0)} fills ({pnl.get('shadow_fills', 0)} "
                         f"simulated at Shadow), {expo.get('marked_out_at_level', 0)} marked out, "
                         f"{expo.get('positive_edge_at_level', 0)} with positive edge")
    ks = d["killswitch"]
    if ks["tripped"]:
        lines.append(
            f"kill switch: TRIPPED by {ks['who']} ({ks['reason_code']}): {ks['reason']}  "
            f"[epoch {ks['epoch']}, trips {ks['trips']}]"
        )
    else:
        lines.append(f"kill switch: armed (not tripped)  [epoch {ks['epoch']}, trips {ks['trips']}]")
    return "\n".join(lines)


def cmd_status(args: argparse.Namespace, run_dir: str) -> int:
    reply = _call(run_dir, "status")
    if not reply.ok:
        print(f"status failed: {reply.error}", file=sys.stderr)
        return EXIT_REFUSED
    data = dict(reply.data)
    monitor_text = ""
    try:
        from mm.dashboard import fetch_state, monitor_url, render_text

        url = monitor_url(run_dir)
        if url:
            state = fetch_state(url)
            data["monitor"] = state
            monitor_text = render_text(state)
    except (OSError, ValueError) as exc:
        monitor_text = f"(monitor not reachable: {exc})"
    if args.json:
        print(json.dumps(data, indent=1))
    else:
        print(_fmt_status(data))
        if monitor_text:
            print("\n" + monitor_text)
    return EXIT_OK


def cmd_kill(args: argparse.Namespace, run_dir: str) -> int:
    info = _group(run_dir)
    who = f"mmctl:{getpass.getuser()}"
    reason = args.reason or "operator kill"
    # Trip directly in shared memory first: this works even if the supervisor is wedged.
    direct = None
    try:
        from ipc.killswitch import KillReason, KillSwitch

        ks = KillSwitch.attach(info["killswitch"])
        direct = ks.trip(int(KillReason.OPERATOR), who, reason, os.getpid(), time.monotonic_ns(), time.time_ns())
        state = ks.state()
        ks.close()
    except (FileNotFoundError, KeyError, ValueError) as exc:
        print(f"warning: could not reach the kill switch segment directly: {exc}", file=sys.stderr)
        state = None
    try:
        reply = _call(run_dir, "kill", reason=reason, who=who)
        if reply.ok:
            state = reply.data.get("killswitch", state)
    except NoGroup as exc:
        if direct is None:
            raise
        print(f"warning: supervisor not reachable ({exc}); the switch was tripped directly", file=sys.stderr)
    out = {"tripped_now": bool(direct), "killswitch": state}
    if args.json:
        print(json.dumps(out, indent=1))
    else:
        what = "tripped" if direct else "was already tripped"
        print(f"kill switch {what}: {reason}")
    return EXIT_OK if state is not None else EXIT_REFUSED


def cmd_simple(args: argparse.Namespace, run_dir: str) -> int:
    kw: dict[str, Any] = {"who": f"mmctl:{getpass.getuser()}"}
    if args.cmd in ("promote", "demote"):
        kw["reason"] = args.reason or ""
        kw["force"] = bool(getattr(args, "force", False))
        kw["to"] = getattr(args, "to", None) or ""
    reply = _call(run_dir, args.cmd, timeout_ms=5000, **kw)
    if args.json:
        print(json.dumps({"ok": reply.ok, "data": reply.data, "error": reply.error}, indent=1))
    elif reply.ok:
        print(f"{args.cmd}: ok " + json.dumps(reply.data))
    else:
        print(f"{args.cmd}: refused: {reply.error}", file=sys.stderr)
    return EXIT_OK if reply.ok else EXIT_REFUSED


def cmd_record(args: argparse.Namespace, run_dir: str) -> int:
    from mm.cli.record import format_result, record

    info = _group(run_dir)
    out = args.out or os.path.join("var", "recordings", time.strftime("%Y%m%d-%H%M%S"))
    if not args.json:
        what = "md + ex rings" if args.ex else "md ring"
        until = f"for {args.duration:g} s" if args.duration > 0 else "until Ctrl-C"
        print(f"recording run {info['run_id']} ({what}) to {out} {until}", file=sys.stderr)
    res = record(info, out, args.duration, args.ex)
    print(format_result(res, args.json))
    return EXIT_OK if sum(res["messages"].values()) > 0 else EXIT_REFUSED


# Verbs that own their flags and mostly need no running group: verb -> (module with
# ``main(argv) -> int``, one line of help). Imported only when the verb is used.
OFFLINE_VERBS: dict[str, tuple[str, str]] = {
    "train": ("mm.cli.train", "fit the models offline"),
    "audit": ("mm.cli.audit", "query the decision audit files"),
    "replay": ("mm.cli.replay", "replay recorded or generated data through the live objects, report"),
    "sweep": ("mm.cli.sweep", "search execution parameters (Optuna) over replay jobs, locally or on Dask/Ray"),
    "runs": ("mm.cli.runs", "list recorded runs (inputs journal, manifest) and their files"),
    "variants": ("mm.cli.variants", "parameter variants in shadow: live comparison, --activate NAME"),
    "import": ("mm.cli.importdata", "import the shared real recording (or raw frames) into .mmrec files"),
}


def build_parser() -> argparse.ArgumentParser:
    # The global flags are accepted before or after the verb. The verbs' copies default to
    # SUPPRESS so that a flag given before the verb is not reset by the subparser.
    def flags(parser: argparse.ArgumentParser, default: object) -> None:
        parser.add_argument("--config", default=default, help="config file (its run.run_dir locates the group)")
        parser.add_argument("--run-dir", default=default, help="run directory of the group (overrides --config)")
        parser.add_argument("--json", action="store_true", default=default, help="machine-readable output")

    common = argparse.ArgumentParser(add_help=False)
    flags(common, argparse.SUPPRESS)
    ap = argparse.ArgumentParser(
        prog="mmctl",
        description="Control a running mm process group.",
        epilog="offline verbs (no running group needed; each has --help): " + ", ".join(OFFLINE_VERBS)
        + ".  Exit codes: 0 ok, 1 refused or failed, 2 usage or config error, 3 no process group running "
        "(start one with `make up`).",
    )
    flags(ap, None)
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="VERB")
    sub.add_parser("status", parents=[common], help="processes, channels and kill switch")
    p = sub.add_parser("kill", parents=[common], help="trip the kill switch")
    p.add_argument("--reason", default="", help="why (recorded with the trip)")
    sub.add_parser("reset-kill", parents=[common], help="clear the kill switch (operator only)")
    p = sub.add_parser("promote", parents=[common], help="ask risk to promote the exposure level")
    p.add_argument("--reason", default="")
    p.add_argument("--force", action="store_true", help="promote beyond what the evidence supports")
    p = sub.add_parser("demote", parents=[common], help="ask risk to demote the exposure level")
    p.add_argument("--to", default="", help="target level (default: one level down)")
    p.add_argument("--reason", default="")
    sub.add_parser("shutdown", parents=[common], help="stop the group cleanly")
    p = sub.add_parser("record", parents=[common], help="record the group's market stream to .mmrec files")
    p.add_argument("--out", default="", help="output directory (default var/recordings/<time>)")
    p.add_argument("--duration", type=float, default=0.0, help="seconds to record (0: until Ctrl-C)")
    p.add_argument("--ex", action="store_true", help="also record the ex ring (order events, fills)")
    for verb, (_, text) in OFFLINE_VERBS.items():
        sub.add_parser(verb, help=f"{text} (see `mmctl {verb} --help`)", add_help=False)
    return ap




def _offline_split(argv: list[str]) -> tuple[str, list[str]] | None:
    """(verb, its argv) when the command is an offline verb; global flags given before the
    verb (``mmctl --json train ...``) are handed to it after the verb."""
    i, before = 0, []
    while i < len(argv) and argv[i].startswith("-") and argv[i] not in ("-h", "--help"):
        flag = argv[i].split("=", 1)[0]
        takes_value = flag in ("--config", "--run-dir") and "=" not in argv[i]
        if flag != "--run-dir":  # a running group's directory: offline verbs do not take it
            before += argv[i:i + 1 + int(takes_value)]
        i += 1 + int(takes_value)
    if i < len(argv) and argv[i] in OFFLINE_VERBS:
        return argv[i], argv[i + 1:] + before
    return None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Offline verbs own their flags: hand them the rest as is.
    offline = _offline_split(argv)
    if offline is not None:
        import importlib

        mod = importlib.import_module(OFFLINE_VERBS[offline[0]][0])
        rc: int = mod.main(offline[1])
        return rc
    args = build_parser().parse_args(argv)
    args.json = bool(args.json)
    try:
        run_dir = _run_dir(args)
        if args.cmd == "status":
            return cmd_status(args, run_dir)
        if args.cmd == "kill":
            return cmd_kill(args, run_dir)
        if args.cmd == "record":
            return cmd_record(args, run_dir)
        return cmd_simple(args, run_dir)
    except ConfigError as exc:
        print(f"mmctl: config error: {exc}\nFix that key (docs/config.md lists every key, its type and range), "
              "or name another file with --config.", file=sys.stderr)
        return EXIT_USAGE
    except NoGroup as exc:
        print(f"mmctl: {exc}", file=sys.stderr)
        return EXIT_NO_GROUP
    except BrokenPipeError:  # output piped into `head` and closed: not an error
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
