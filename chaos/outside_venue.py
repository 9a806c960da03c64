"""The paper group's sim venue as a process of its own, outside the group (``[paper] external_venue``).

    python -m chaos.outside_venue --config C [--port-file F]

Same venue as procs.venue (the config's [venue] and [paper] driver, the paper account with
execution's and risk's API wallets approved), but not a child of the supervisor: it
outlives a killed group, so what the group left at the venue can be read afterwards. It
makes the paper keys first (procs.paper_keys.provision, as the supervisor would; the group
finds them there). It runs in :class:`mm.venues.sim.server.ThreadedVenue`, the sim venue's own
thread and loop; SIGTERM (or SIGINT) stops it.
"""

from __future__ import annotations

import argparse
import logging
import signal
from pathlib import Path
from types import SimpleNamespace

from mm.config import load_config
from mm.venues.sim.server import ThreadedVenue
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

    stop_on = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_on)  # before the venue's thread starts: it inherits the mask
    with ThreadedVenue(venue_cfg, driver) as venue:
        if a.port_file:
            Path(a.port_file).write_text(f"{venue.port}\n")
        log.info("sim venue outside the group on %s", venue.url)
        signal.sigwait(stop_on)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
