"""Microstructure models (seed 000 §2.4): each is ``predict(state) -> number`` plus its file format."""
