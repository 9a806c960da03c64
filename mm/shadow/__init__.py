"""Shadow trading (seed 002, engineer 1): sim-to-real gap, fill calibration, P(fill) validation."""
