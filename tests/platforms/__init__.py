"""Tests of what only one platform has; the scenarios every platform shares are in tests/contract/."""
