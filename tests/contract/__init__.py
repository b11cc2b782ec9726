"""Scenarios every platform shares, written once and run on each through a ChatDriver."""
