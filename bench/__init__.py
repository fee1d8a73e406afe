"""Benchmarks of the filemonitor service (``make bench``, ``make bench-quick``); not tests."""
