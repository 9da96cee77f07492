"""Exports of finished runs into the formats people run, each checked against the trained model (parity)."""
