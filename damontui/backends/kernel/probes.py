"""Data-attribute probes (7.2): monitoring_attrs/probes/ written from the model, read
back, and each tried region's probes/P/hits read into the snapshot.

7.2's layout (mm/damon/sysfs.c, sysfs-schemes.c, Documentation/.../usage.rst):

    monitoring_attrs/probes/nr_probes            at most DAMON_MAX_PROBES (4)
      P/filters/nr_filters
        F/{type,matching,allow,path}             type: anon | memcg (path: memcg's)
    schemes/S/tried_regions/R/probes/P/hits      probe-positive samples of region R
                                                 in the last aggregation interval

A probe has no weight and no preparation step there, and only the paddr operations
apply probes (vaddr/fvaddr regions keep 0 hits).  What the model can say beyond
that is refused before any write, naming the field.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ...model import MonitoringAttrs, Probe, ProbeFilter, ProbeFilterType
from ..base import BackendError
from .sysfs import Sysfs, SysfsReadError, join, numbered, parse_yn, yn

PROBES_DIR = "monitoring_attrs/probes"
MAX_PROBES = 4  # DAMON_MAX_PROBES: nr_probes refuses more with EINVAL
PROBE_FILTER_TYPES = ("anon", "memcg")  # 7.2's damon_sysfs_filter_type_names
PROBE_OPS = ("paddr",)  # operations sets with apply_probes in 7.2
FIELD = "monitoring_attrs.probes"


def _val(x: object) -> str:
    return x.value if hasattr(x, "value") else str(x)


def check_probes(probes: Sequence[Probe], ops: str, has_probes: bool, needs: str) -> list[str]:
    """Refuse (BackendError naming the field) what this kernel can't take; return
    notes on what it takes but won't count.  `needs`: the message for a kernel
    without monitoring_attrs/probes (from the writer's _needs)."""
    if not probes:
        return []
    if not has_probes:
        raise BackendError(needs)
    if len(probes) > MAX_PROBES:
        raise BackendError(
            f"{FIELD}: {len(probes)} probes; the kernel takes at most {MAX_PROBES} "
            "(DAMON_MAX_PROBES)"
        )
    for i, probe in enumerate(probes):
        field = f"{FIELD}[{i}]"
        if probe.weight:
            raise BackendError(
                f"{field}.weight: {probe.weight}, but DAMON sysfs (up to 7.2) has no file "
                "for a probe weight; remove it (0)"
            )
        if probe.preps:
            raise BackendError(
                f"{field}.preps: {', '.join(_val(p) for p in probe.preps)}, but DAMON sysfs "
                "(up to 7.2) has no file for probe preparations; remove them"
            )
        for fi, flt in enumerate(probe.filters):
            ftype = _val(flt.type)
            if ftype not in PROBE_FILTER_TYPES:
                raise BackendError(
                    f"{field}.filters[{fi}].type: '{ftype}' is not a probe filter type of "
                    f"this kernel (allowed: {', '.join(PROBE_FILTER_TYPES)})"
                )
            if ftype == "memcg" and not flt.path:
                raise BackendError(f"{field}.filters[{fi}].path: empty; memcg needs a path")
    if ops not in PROBE_OPS:
        return [
            f"{FIELD}: written, but only {', '.join(PROBE_OPS)} applies probes on this "
            f"kernel: {ops} regions keep 0 probe hits"
        ]
    return []


def probe_memcg_paths(probes: Sequence[Probe]) -> list[str]:
    """'probe 0 filter 1: /foo' for every memcg path the probes name."""
    return [
        f"probe {pi} filter {fi}: {f.path}"
        for pi, p in enumerate(probes)
        for fi, f in enumerate(p.filters)
        if _val(f.type) == "memcg"
    ]


def stage_probes(
    write: Callable[[str, object], None], sysfs: Sysfs, ctx: str, attrs: MonitoringAttrs
) -> None:
    """Write attrs.probes under ctx's monitoring_attrs/probes/ (nr_probes first: it
    re-creates every probe dir).  A kernel without the directory gets no write
    (check_probes refused probes there); with it, no probes writes nr_probes 0 so a
    reused directory keeps none of a previous run's."""
    pdir = join(ctx, PROBES_DIR)
    if not sysfs.isdir(pdir):
        return
    write(join(pdir, "nr_probes"), len(attrs.probes))
    for i, probe in enumerate(attrs.probes):
        fdir = join(pdir, i, "filters")
        write(join(fdir, "nr_filters"), len(probe.filters))
        for fi, flt in enumerate(probe.filters):
            d = join(fdir, fi)
            ftype = _val(flt.type)
            write(join(d, "type"), ftype)
            write(join(d, "matching"), yn(flt.matching))
            write(join(d, "allow"), yn(flt.allow))
            if ftype == "memcg":
                write(join(d, "path"), flt.path)


def _numbered_dirs(sysfs: Sysfs, path: str) -> list[int]:
    try:
        return numbered(sysfs.listdir(path))
    except SysfsReadError:
        return []


def _filter_type(text: str) -> ProbeFilterType | str:
    try:
        return ProbeFilterType(text)
    except ValueError:
        return text  # a kernel newer than the model: keep its word


def read_probes(sysfs: Sysfs, ctx: str) -> tuple[Probe, ...]:
    """The probes staged under ctx (() on kernels without the directory)."""
    pdir = join(ctx, PROBES_DIR)
    out = []
    for i in _numbered_dirs(sysfs, pdir):
        fdir = join(pdir, i, "filters")
        filters = []
        for fi in _numbered_dirs(sysfs, fdir):
            names = ("type", "matching", "allow", "path")
            ftype, matching, allow, path = sysfs.read_dir_files(join(fdir, fi), names)
            filters.append(
                ProbeFilter(
                    type=_filter_type(ftype.strip()),  # type: ignore[arg-type]
                    matching=parse_yn(matching),
                    allow=parse_yn(allow),
                    path=path.strip() if ftype.strip() == "memcg" else "",
                )
            )
        out.append(Probe(filters=tuple(filters)))
    return tuple(out)


def hits_file_names(sysfs: Sysfs, region_dir: str) -> tuple[str, ...]:
    """'probes/P/hits' for every probe directory of one tried region (() if none)."""
    return tuple(f"probes/{p}/hits" for p in _numbered_dirs(sysfs, join(region_dir, "probes")))
