"""The paper group's sim venue as a process of its own, outside the group (``[paper] external_venue``).

    python -m chaos.outside_venue --config C [--port-file F]

Same venue as procs.venue (the config's [venue] and [paper] driver, the paper account with
execution's and risk's API wallets approved), but not a child of the supervisor: it
outlives a killed group, so what the group left at the venue can be read afterwards. It
makes the paper keys first (procs.paper_keys.provision, as the supervisor would; the group
finds them there). SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from pathlib import Path
from types import SimpleNamespace

import uvloop

from mm.config import load_config
from mm.venues.sim.server import serve
from procs.paper_keys import paper_users, provision
from procs.venue import VenueWorker

log = logging.getLogger("mm")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="chaos.outside_venue", description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--config", required=True)
    ap.add_argument("--port-file", default="")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s outside-venue[%(process)d] %(message)s")
    cfg = load_config(a.config)
    provision(cfg)
    driver = VenueWorker.make_driver(SimpleNamespace(cfg=cfg))  # type: ignore[arg-type]  # it reads only .cfg
    venue_cfg = paper_users(cfg, cfg.venue)

    async def run() -> None:
        server = await serve(venue_cfg, driver)
        if a.port_file:
            Path(a.port_file).write_text(f"{server.port}\n")
        log.info("sim venue outside the group on %s", server.url)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await server.stop()

    uvloop.run(run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
