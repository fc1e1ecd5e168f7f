"""The user-space DAMON engine (for kernels without DAMON vaddr/paddr).

Importing the package imports nothing else: `backend.EngineBackend` is opened by
backends/select.py, and submodules (sources, ...) are imported by name.
"""
