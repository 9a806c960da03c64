"""Continuous model validation (seed 002, engineer 3): scorecards, verdicts, retirement."""
