"""Linux kernel DAMON through sysfs: the kernel backend.

Public API (the "Kernel DAMON backend" section of the top-level README explains it):

* :class:`KernelBackend` - the Backend (own kdamond, ``observe``, ``attach``,
  ``take_over``)
* :func:`detect_features` / :class:`Features` - what the kernel has, by reading
* :func:`list_kdamonds` / :class:`KdamondInfo` - inventory with ownership
* :class:`OwnershipStore` - runtime records of kdamonds damontui owns
* :class:`RealSysfs` / :func:`sysfs.write_file` - the one read/write path
"""

from .backend import KernelBackend
from .common import default_paddr_range, read_system_ram
from .features import Features, detect_features, kernel_release, parse_kernel_version
from .inventory import ContextInfo, KdamondInfo, SchemeInfo, kdamond_states, list_kdamonds
from .observer import KernelObserver
from .ownership import Ownership, OwnershipRecord, OwnershipStore, default_runtime_dir
from .slots import reason_kernel_unusable
from .sysfs import DEFAULT_ROOT, RealSysfs, Sysfs, SysfsError, SysfsReadError, SysfsWriteError

__all__ = [
    "DEFAULT_ROOT",
    "ContextInfo",
    "Features",
    "KdamondInfo",
    "KernelBackend",
    "KernelObserver",
    "Ownership",
    "OwnershipRecord",
    "OwnershipStore",
    "RealSysfs",
    "SchemeInfo",
    "Sysfs",
    "SysfsError",
    "SysfsReadError",
    "SysfsWriteError",
    "default_paddr_range",
    "default_runtime_dir",
    "detect_features",
    "kdamond_states",
    "kernel_release",
    "list_kdamonds",
    "parse_kernel_version",
    "read_system_ram",
    "reason_kernel_unusable",
]
