"""Reading fitted model files at process start (edge I/O; decoding is the models' own)."""

from __future__ import annotations

import logging
import os

from mm.config import Config

log = logging.getLogger("mm")


def model_bytes(cfg: Config, coin: str, name: str) -> bytes | None:
    """The bytes of ``<models.dir>/<coin>/<name>.json``, or None (logged) when absent."""
    path = os.path.join(cfg.models.dir, coin, f"{name}.json")
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        log.info("model %s for %s: no file at %s; using the documented prior/baseline", name, coin, path)
        return None
    except OSError as exc:
        log.error("model %s for %s: cannot read %s (%s); using the prior/baseline", name, coin, path, exc)
        return None
    log.info("model %s for %s: loaded %s (%d bytes)", name, coin, path, len(data))
    return data
