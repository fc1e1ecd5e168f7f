"""Kernel integration tests: run inside the VM tier only (see conftest.py)."""
