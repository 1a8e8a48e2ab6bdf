"""Scoring beyond one process, on the engines people already run (Ray Data)."""
