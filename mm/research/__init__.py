"""Research loop: parameter search over replay jobs (``mmctl sweep``); pure parts only."""
