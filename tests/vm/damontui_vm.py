#!/usr/bin/env python3
"""damontui's VM harness: run one command as root in a throw-away QEMU guest
that boots a DAMON-enabled kernel and sees the host's root filesystem read-only.

Why a VM: the host kernel may lack DAMON_VADDR, and its kdamonds belong to the
machine - nothing of ours may write the host's /sys/kernel/mm/damon.  In the
guest, /sys is the guest's own, so kernel tests may write anything there.

Used by tests/test_vm_tier.py (``run_in_vm``) and as a small CLI::

    python3 tests/vm/damontui_vm.py [--rw DIR] [--timeout S] [--verbose] -- CMD ARGS...

How a run goes:

* kernel: ``$DAMONTUI_VM_KERNEL`` or the newest kernel tests/vm/setup.sh cached
  under ``~/.cache/damontui-vm/kernel/``.  Under TCG the uncompressed vmlinux
  (it has a PVH entry note) is booted with the tiny qboot firmware; that skips
  SeaBIOS and the decompressor (~1.5 s saved).  It is extracted once and cached.
* initramfs: busybox + a small /init, built once per (kernel, init text) and
  cached; a per-run cpio fragment appended to it carries the command script and
  the list of read-write shares (the kernel merges concatenated archives).
* filesystem: virtiofsd serves a read-only, non-recursive bind mount of the
  host's / made inside a private mount namespace (so the guest never sees the
  host's /proc, /sys or /dev and cannot write the host root).  The guest puts a
  tmpfs overlay on top (everything looks writable, writes vanish) and mounts
  its own /proc, /sys, /dev.  ``rw_dirs`` are shared read-write at the same
  path: that is how results come back.
* transport: the command's stdout/stderr go to virtio-serial ports backed by
  plain files on the host (streamed while the guest runs); a third port gets
  ``started`` and then the exit status.
* robustness: a guest that dies before the command starts (rare TCG boot
  oopses) is rebooted up to ``retries`` times; a run exceeding ``timeout`` is
  killed.  A guest that dies mid-command is reported with the console tail.

Only processes this module starts are ever signalled, by their own pids.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import lzma
import os
import re
import shlex
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

INIT_VERSION = 1  # bump when the guest scripts change (the text is hashed anyway)


def cache_dir() -> Path:
    """Where setup.sh put the kernel and where boot images are cached."""
    env = os.environ.get("DAMONTUI_VM_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "damontui-vm"


class VMUnavailable(Exception):
    """This machine cannot run the VM tier; str(exc) says why (the tier skips)."""


# ----------------------------------------------------------------------------- tools


@dataclass(frozen=True)
class Tools:
    qemu: str
    busybox: str
    virtiofsd: str
    virtiofsd_rust: bool
    qboot: str | None


def find_tools() -> Tools:
    missing = []
    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        missing.append("qemu-system-x86_64 (apt-get install qemu-system-x86)")
    busybox = shutil.which("busybox")
    if busybox:
        # the guest has no libc of its own before switch_root: busybox must be static
        out = (
            subprocess.run(["file", "-L", busybox], capture_output=True, text=True).stdout
            if shutil.which("file")
            else ""
        )
        if "dynamically linked" in out:
            busybox = None
    if not busybox:
        missing.append("a static busybox (apt-get install busybox-static)")
    virtiofsd = None
    for cand in (
        os.environ.get("DAMONTUI_VM_VIRTIOFSD"),
        "/usr/libexec/virtiofsd",
        "/usr/lib/qemu/virtiofsd",
        shutil.which("virtiofsd"),
    ):
        if cand and os.access(cand, os.X_OK):
            virtiofsd = cand
            break
    if not virtiofsd:
        missing.append("virtiofsd (bookworm: in qemu-system-common; trixie+: package virtiofsd)")
    if missing:
        raise VMUnavailable("missing " + "; ".join(missing) + " - run tests/vm/setup.sh")
    assert qemu and busybox and virtiofsd
    helptext = subprocess.run([virtiofsd, "--help"], capture_output=True, text=True)
    rust = "--shared-dir" in helptext.stdout + helptext.stderr
    qboot = "/usr/share/qemu/qboot.rom"
    return Tools(qemu, busybox, virtiofsd, rust, qboot if os.path.exists(qboot) else None)


HERE = Path(__file__).resolve().parent
KERNELS_DIR = HERE / "kernels"


@dataclass(frozen=True)
class KernelSpec:
    """One kernel the tier boots, from a descriptor tests/vm/kernels/NN-NAME.conf
    (plain KEY=VALUE lines; see tests/vm/README.md)."""

    name: str
    description: str
    source: str
    image_glob: str  # relative to the cache unless absolute; @KVER@ already expanded
    conf: Path
    fields: dict[str, str]

    def image(self, cache: Path | None = None) -> Path | None:
        """The newest cached image matching the descriptor, or None."""
        g = self.image_glob
        base = Path("/") if g.startswith("/") else (cache or cache_dir())
        hits = sorted(base.glob(g.lstrip("/")), key=lambda p: _natural(str(p)))
        return hits[-1] if hits else None


def _natural(s: str) -> list:
    return [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", s)]


def parse_descriptor(path: Path) -> KernelSpec:
    fields: dict[str, str] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"([A-Z_][A-Z0-9_]*)=(.*)", line)
        if not m:
            raise ValueError(f"{path}:{n}: expected KEY=VALUE, got {line!r}")
        words = shlex.split(m.group(2), comments=True)
        fields[m.group(1)] = " ".join(words)
    for key in ("NAME", "SOURCE", "IMAGE"):
        if not fields.get(key):
            raise ValueError(f"{path}: {key}= is required")
    image = fields["IMAGE"].replace("@KVER@", fields.get("KVER_GLOB", "*"))
    return KernelSpec(
        fields["NAME"],
        fields.get("DESCRIPTION", fields["NAME"]),
        fields["SOURCE"],
        image,
        path,
        fields,
    )


def kernel_specs(directory: Path | None = None) -> list[KernelSpec]:
    """Every kernel descriptor, in file-name order.  DAMONTUI_VM_KERNELS (names,
    comma-separated) narrows the list."""
    specs = [parse_descriptor(p) for p in sorted((directory or KERNELS_DIR).glob("*.conf"))]
    want = [w for w in os.environ.get("DAMONTUI_VM_KERNELS", "").split(",") if w]
    if want:
        unknown = set(want) - {s.name for s in specs}
        if unknown:
            raise ValueError(
                f"DAMONTUI_VM_KERNELS: unknown kernel(s) {sorted(unknown)}; "
                f"known: {[s.name for s in specs]}"
            )
        specs = [s for s in specs if s.name in want]
    return specs


def find_kernel(cache: Path | None = None, name: str | None = None) -> Path:
    """$DAMONTUI_VM_KERNEL, else the named descriptor's cached image, else the
    first descriptor with a cached image."""
    env = os.environ.get("DAMONTUI_VM_KERNEL")
    if env and not name:
        if not os.access(env, os.R_OK):
            raise VMUnavailable(f"DAMONTUI_VM_KERNEL={env} is not readable")
        return Path(env).resolve()
    cache = cache or cache_dir()
    specs = kernel_specs()
    if name:
        specs = [s for s in specs if s.name == name]
        if not specs:
            raise VMUnavailable(f"no kernel descriptor named {name} in {KERNELS_DIR}")
    for spec in specs:
        img = spec.image(cache)
        if img:
            return img
    raise VMUnavailable(
        f"no kernel cached under {cache}/kernel for "
        f"{', '.join(s.name for s in specs)} - run tests/vm/setup.sh"
    )


def kvm_usable() -> bool:
    """KVM only if /dev/kvm is usable AND the CPU advertises vmx/svm.

    On some cloud VMs /dev/kvm exists but nested virtualisation is not exposed;
    qemu then aborts with -cpu host, so those machines get TCG."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False
    try:
        with open("/proc/cpuinfo") as f:
            return re.search(r"\b(vmx|svm)\b", f.read()) is not None
    except OSError:
        return False


# ----------------------------------------------------------------------------- boot image


def kernel_release(kernel: Path) -> str:
    """The release string from a bzImage header (or a vmlinux banner)."""
    with open(kernel, "rb") as f:
        head = f.read(0x1000)
        if head[0x202:0x206] == b"HdrS":
            off = struct.unpack_from("<H", head, 0x20E)[0] + 0x200
            f.seek(off)
            return f.read(128).split(b"\0")[0].split(b" ")[0].decode(errors="replace")
    m = re.search(rb"Linux version (\S+)", kernel.read_bytes())
    return m.group(1).decode() if m else "unknown"


def _elf_has_pvh_note(data: bytes) -> bool:
    """True if an ELF64 image carries XEN_ELFNOTE_PHYS32_ENTRY (type 18, name "Xen"):
    qemu can then boot it directly (PVH) without the real-mode setup code."""
    if data[:4] != b"\x7fELF" or data[4] != 2:
        return False
    e_phoff = struct.unpack_from("<Q", data, 0x20)[0]
    e_phentsize, e_phnum = struct.unpack_from("<HH", data, 0x36)
    for i in range(e_phnum):
        p_type, _flags, p_offset, _va, _pa, p_filesz = struct.unpack_from(
            "<IIQQQQ", data, e_phoff + i * e_phentsize
        )
        if p_type != 4:  # PT_NOTE
            continue
        pos, end = p_offset, p_offset + p_filesz
        while pos + 12 <= end:
            namesz, descsz, ntype = struct.unpack_from("<III", data, pos)
            name = data[pos + 12 : pos + 12 + namesz].rstrip(b"\0")
            if name == b"Xen" and ntype == 18:
                return True
            pos += 12 + ((namesz + 3) & ~3) + ((descsz + 3) & ~3)
    return False


def _decompress_vmlinux(bz: bytes) -> bytes | None:
    """Find the compressed payload in a bzImage and inflate it (gzip/xz stdlib,
    zstd via the zstd CLI).  Returns the ELF vmlinux or None."""
    for magic, kind in (
        (b"\x28\xb5\x2f\xfd", "zstd"),
        (b"\x1f\x8b\x08", "gzip"),
        (b"\xfd7zXZ\x00", "xz"),
    ):
        start = 0
        for _ in range(5):
            off = bz.find(magic, start)
            if off < 0:
                break
            start = off + 1
            out = b""
            try:
                if kind == "gzip":
                    out = gzip.GzipFile(fileobj=io.BytesIO(bz[off:])).read()
                elif kind == "xz":
                    out = lzma.LZMADecompressor().decompress(bz[off:])
                elif shutil.which("zstd"):
                    # trailing bytes after the frame make zstd exit non-zero; the
                    # output is complete regardless, so check the ELF magic instead
                    out = subprocess.run(
                        ["zstd", "-dcq"], input=bz[off:], capture_output=True
                    ).stdout
            except (OSError, EOFError, lzma.LZMAError, gzip.BadGzipFile):
                out = b""
            if out[:4] == b"\x7fELF":
                return out
    return None


def boot_image(kernel: Path, tools: Tools, cache: Path, accel: str) -> tuple[Path, list[str]]:
    """(image to pass to -kernel, machine arguments)."""
    if os.environ.get("DAMONTUI_VM_FASTBOOT", "1") != "1" or not tools.qboot or accel == "kvm":
        return kernel, ["-machine", "q35"]
    st = kernel.stat()
    vmlinux = cache / "boot" / f"vmlinux-{kernel.name}-{st.st_size}-{int(st.st_mtime)}"
    if not vmlinux.exists():
        data = kernel.read_bytes()
        elf = data if data[:4] == b"\x7fELF" else _decompress_vmlinux(data)
        if not elf or not _elf_has_pvh_note(elf):
            return kernel, ["-machine", "q35"]
        vmlinux.parent.mkdir(parents=True, exist_ok=True)
        tmp = vmlinux.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(elf)
        tmp.rename(vmlinux)
    return vmlinux, ["-machine", "pc", "-bios", tools.qboot]


# ----------------------------------------------------------------------------- initramfs


def cpio_newc(entries: Iterable[tuple[str, int, bytes]]) -> bytes:
    """A newc cpio archive of (path, mode, data) entries (dirs: data b"")."""
    out = io.BytesIO()
    ino = 1000

    def put(name: str, mode: int, data: bytes) -> None:
        nonlocal ino
        ino += 1
        nb = name.encode() + b"\0"
        hdr = "070701" + "".join(
            f"{v:08X}" for v in (ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nb), 0)
        )
        out.write(hdr.encode() + nb)
        out.write(b"\0" * (-(110 + len(nb)) % 4))
        out.write(data)
        out.write(b"\0" * (-len(data) % 4))

    for name, mode, data in entries:
        put(name, mode, data)
    put("TRAILER!!!", 0, b"")
    return gzip.compress(out.getvalue(), compresslevel=1)


# /init: PID 1 in the initramfs.  Mounts the host root (read-only virtiofs) with
# a tmpfs overlay, moves the guest's own /proc /sys /dev into it, mounts the
# read-write shares, then switch_root's into stage2.
GUEST_INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
ST=""
fail() {
    echo "damontui-vm init: $*" > /dev/ttyS0
    [ -n "$ST" ] && echo "init-error: $*" > "$ST"
    poweroff -f
}
for m in /lib/mods/*.ko; do [ -e "$m" ] && insmod "$m" 2>/dev/null; done
for p in /sys/class/virtio-ports/*; do
    [ -e "$p/name" ] || continue
    case "$(cat "$p/name")" in
        damontui.stdout) ln -sf "/dev/${p##*/}" /dev/vm-stdout ;;
        damontui.stderr) ln -sf "/dev/${p##*/}" /dev/vm-stderr ;;
        damontui.status) ln -sf "/dev/${p##*/}" /dev/vm-status; ST=/dev/vm-status ;;
    esac
done
[ -n "$ST" ] || fail "virtio-serial ports not found"
mkdir -p /lower /rw /newroot
mount -t virtiofs -o ro hostroot /lower || fail "cannot mount the host root (virtiofs)"
mount -t tmpfs -o mode=0755 tmpfs /rw
mkdir -p /rw/upper /rw/work
if ! mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot; then
    echo "damontui-vm init: no overlayfs, root stays read-only" > /dev/ttyS0
    mount --bind /lower /newroot
    mount -t tmpfs tmpfs /newroot/tmp
fi
mount --move /proc /newroot/proc
mount --move /sys /newroot/sys
mount --move /dev /newroot/dev
mount -t tmpfs -o mode=0755 tmpfs /newroot/run
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts -o mode=0620,ptmxmode=0666 devpts /newroot/dev/pts
mount -t tmpfs -o mode=1777 tmpfs /newroot/dev/shm
mount -t cgroup2 cgroup2 /newroot/sys/fs/cgroup 2>/dev/null
mount -t tracefs tracefs /newroot/sys/kernel/tracing 2>/dev/null
# read-write shares: lines "tag<TAB>path"
while IFS='	' read -r tag path; do
    [ -n "$tag" ] || continue
    mkdir -p "/newroot$path" 2>/dev/null
    mount -t virtiofs "$tag" "/newroot$path" || fail "cannot mount the rw share $path"
done < /vm/mounts
mkdir -p /newroot/run/damontui-vm
cp /bin/busybox /vm/cmd.sh /vm/stage2 /newroot/run/damontui-vm/
exec switch_root /newroot /run/damontui-vm/busybox sh /run/damontui-vm/stage2
"""

# stage2: PID 1 after switch_root.  Runs the command in its own session with
# stdin from /dev/null, reports the exit status, flushes and powers off.
GUEST_STAGE2 = r"""BB=/run/damontui-vm/busybox
$BB hostname damontui-vm
$BB ip link set lo up 2>/dev/null
SH=/bin/bash; [ -x $SH ] || SH=/bin/sh
echo started > /dev/vm-status
$BB setsid $SH /run/damontui-vm/cmd.sh </dev/null >/dev/vm-stdout 2>/dev/vm-stderr
rc=$?
$BB sync
echo "$rc" > /dev/vm-status
$BB poweroff -f
"""


def _module_files(kernel: Path, release: str) -> list[tuple[str, bytes]]:
    """Modules the guest needs that the kernel may not have built in (the Debian
    cloud kernel has virtio/virtiofs built in but overlay as a module)."""
    root = kernel.parent.parent
    moddir = None
    # the image sits in <root>/boot (Debian <= 7.1) or in the modules dir itself
    # (<root>/usr/lib/modules/<release>/vmlinuz, Debian's split packages from 7.2)
    for d in (
        kernel.parent,
        root / "usr/lib/modules" / release,
        root / "lib/modules" / release,
        Path("/lib/modules") / release,
    ):
        if d.name != release:
            continue
        if d.is_dir():
            moddir = d
            break
    out: list[tuple[str, bytes]] = []
    if moddir is None:
        return out
    for n, name in enumerate(("fuse", "virtiofs", "overlay")):
        hits = sorted((moddir / "kernel").rglob(f"{name}.ko*"))
        if not hits:
            continue
        raw = hits[0].read_bytes()
        if hits[0].suffix == ".xz":
            raw = lzma.decompress(raw)
        elif hits[0].suffix == ".gz":
            raw = gzip.decompress(raw)
        elif hits[0].suffix == ".zst":
            raw = subprocess.run(["zstd", "-dcq"], input=raw, capture_output=True).stdout
        out.append((f"lib/mods/{n}-{name}.ko", raw))
    return out


def base_initramfs(kernel: Path, tools: Tools, cache: Path) -> Path:
    release = kernel_release(kernel)
    busybox = Path(tools.busybox).read_bytes()
    key = hashlib.sha256(
        f"{INIT_VERSION}\0{release}\0{kernel.stat().st_mtime}\0".encode()
        + GUEST_INIT.encode()
        + GUEST_STAGE2.encode()
        + hashlib.sha256(busybox).digest()
    ).hexdigest()[:16]
    path = cache / "boot" / f"initramfs-{release}-{key}.cpio.gz"
    if path.exists():
        return path
    entries: list[tuple[str, int, bytes]] = [
        (d, stat.S_IFDIR | 0o755, b"")
        for d in ("bin", "dev", "proc", "sys", "lib", "lib/mods", "vm", "tmp")
    ]
    entries += [
        ("bin/busybox", stat.S_IFREG | 0o755, busybox),
        ("init", stat.S_IFREG | 0o755, GUEST_INIT.encode()),
        ("vm/stage2", stat.S_IFREG | 0o644, GUEST_STAGE2.encode()),
    ]
    entries += [(name, stat.S_IFREG | 0o644, raw) for name, raw in _module_files(kernel, release)]
    path.parent.mkdir(parents=True, exist_ok=True)
    for old in path.parent.glob(f"initramfs-{release}-*.cpio.gz"):
        if time.time() - old.stat().st_mtime > 3600:  # older init text, not in use now
            old.unlink(missing_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(cpio_newc(entries))
    tmp.rename(path)
    return path


# ----------------------------------------------------------------------------- running


@dataclass
class VMResult:
    returncode: int | None  # the command's exit status; None if none came back
    stdout: str
    stderr: str
    started: bool  # the guest got as far as starting the command
    timed_out: bool
    attempts: int
    wall_s: float
    accel: str
    console_tail: str = ""
    problem: str = ""  # harness-level explanation when returncode is None

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def _guest_script(cmd: Sequence[str], env: dict[str, str], cwd: str) -> str:
    lines = ["# generated by tests/vm/damontui_vm.py"]
    lines += [
        f"export {k}={shlex.quote(v)}"
        for k, v in env.items()
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k)
    ]
    q = shlex.quote(cwd)
    lines.append(
        f"cd {q} 2>/dev/null || {{ echo 'damontui-vm: cwd {q} not visible' >&2; exit 125; }}"
    )
    lines.append("exec " + " ".join(shlex.quote(c) for c in cmd))
    return "\n".join(lines) + "\n"


def _submounts() -> list[str]:
    """Data filesystems mounted below / that the guest should see too (a
    non-recursive bind of / would hide them), e.g. a separate /home or tmpfs /tmp."""
    out = subprocess.run(
        ["findmnt", "-rn", "-o", "TARGET,FSTYPE"], capture_output=True, text=True
    ).stdout
    subs = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 2 or parts[0] == "/":
            continue
        target, fstype = parts[0], parts[1]
        if re.match(r"^/(proc|sys|dev|run)(/|$)", target):
            continue
        if fstype in ("ext2", "ext3", "ext4", "xfs", "btrfs", "f2fs", "zfs", "vfat", "overlay") or (
            fstype == "tmpfs" and target in ("/tmp", "/var/tmp")
        ):
            subs.append(target.encode().decode("unicode_escape"))
    return subs


def hidden_from_guest(path: str) -> str | None:
    """None if the guest sees `path` (it lives on / or on a shared submount),
    else the mount point that hides it (e.g. a network or FUSE filesystem)."""
    out = subprocess.run(
        ["findmnt", "-n", "-o", "TARGET", "-T", os.path.realpath(path)],
        capture_output=True,
        text=True,
    ).stdout.strip()
    if not out or out == "/" or out in _submounts():
        return None
    return out


# Runs virtiofsd on a read-only bind of / inside a private mount namespace.
_RO_WRAPPER = r"""set -e; mnt=$1; shift
mount --bind / "$mnt"; mount -o remount,bind,ro "$mnt"
while [ "$1" != -- ]; do
    if [ -d "$mnt$1" ]; then mount --bind "$1" "$mnt$1" && mount -o remount,bind,ro "$mnt$1"; fi
    shift
done
shift; exec "$@"
"""


class _Tail(threading.Thread):
    """Follows a file qemu writes (a virtio-serial port's backend) and hands new
    text to a callback while the guest runs; keeps everything it saw."""

    def __init__(self, path: Path, sink: Callable[[str], None] | None):
        super().__init__(daemon=True)
        self.path, self.sink = path, sink
        self.buf: list[str] = []
        self._done = threading.Event()

    def _drain(self, f) -> None:
        chunk = f.read()
        if chunk:
            text = chunk.decode(errors="replace")
            self.buf.append(text)
            if self.sink:
                self.sink(text)

    def run(self) -> None:
        with open(self.path, "rb") as f:
            while not self._done.is_set():
                self._drain(f)
                self._done.wait(0.2)
            self._drain(f)

    def finish(self) -> str:
        self._done.set()
        self.join()
        return "".join(self.buf)


@dataclass
class VM:
    mem: str = field(default_factory=lambda: os.environ.get("DAMONTUI_VM_MEM", "1G"))
    smp: int = field(default_factory=lambda: int(os.environ.get("DAMONTUI_VM_SMP", "2")))
    accel: str = field(default_factory=lambda: os.environ.get("DAMONTUI_VM_ACCEL", "auto"))
    retries: int = 2
    cache: Path = field(default_factory=cache_dir)
    verbose: bool = False
    kernel_name: str | None = None  # a descriptor NAME (tests/vm/kernels); None: the default

    def __post_init__(self) -> None:
        self.tools = find_tools()
        if os.geteuid() != 0:
            raise VMUnavailable("the VM tier must run as root (virtiofsd needs it)")
        self.kernel = find_kernel(self.cache, self.kernel_name)
        if self.accel == "auto":
            self.accel = "kvm" if kvm_usable() else "tcg"
        self.release = kernel_release(self.kernel)
        self.image, self.machine = boot_image(self.kernel, self.tools, self.cache, self.accel)
        self.initrd = base_initramfs(self.kernel, self.tools, self.cache)

    def describe(self) -> str:
        boot = "PVH vmlinux + qboot" if "-bios" in self.machine else "bzImage"
        return f"kernel {self.release} ({boot}), {self.accel}, {self.smp} vCPU, {self.mem}"

    # -- helpers
    def _virtiofsd(self, run: Path, tag: str, src: str, readonly: bool) -> subprocess.Popen:
        sock = run / f"{tag}.sock"
        cache = "always" if readonly else "auto"
        if self.tools.virtiofsd_rust:
            args = [
                self.tools.virtiofsd,
                f"--socket-path={sock}",
                "--shared-dir=@SRC@",
                f"--cache={cache}",
                "--sandbox=namespace",
            ]
            args += ["--readonly"] if readonly else []
        else:
            args = [
                self.tools.virtiofsd,
                f"--socket-path={sock}",
                "-o",
                "source=@SRC@",
                "-o",
                f"cache={cache}",
                "-o",
                "no_posix_lock",
                "-o",
                "no_xattr",
            ]
        log = open(run / f"virtiofsd-{tag}.log", "wb")  # noqa: SIM115 - owned by the child
        if readonly:
            mnt = run / f"{tag}.mnt"
            mnt.mkdir(exist_ok=True)
            args = [a.replace("@SRC@", str(mnt)) for a in args]
            argv = [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "--",
                "/bin/sh",
                "-c",
                _RO_WRAPPER,
                "sh",
                str(mnt),
                *_submounts(),
                "--",
                *args,
            ]
        else:
            argv = [a.replace("@SRC@", src) for a in args]
        p = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 10
        while not sock.exists():
            if p.poll() is not None or time.monotonic() > deadline:
                text = (run / f"virtiofsd-{tag}.log").read_text(errors="replace")
                _kill(p)
                raise RuntimeError(f"virtiofsd for {tag} did not start: {text.strip()}")
            time.sleep(0.05)
        return p

    def run(
        self,
        cmd: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        rw_dirs: Sequence[str] = (),
        timeout: float = 1800,
        on_stdout: Callable[[str], None] | None = None,
        on_stderr: Callable[[str], None] | None = None,
        keep: bool = False,
    ) -> VMResult:
        """Run cmd in a fresh guest; env REPLACES the guest environment (the host
        environment when None)."""
        t0 = time.monotonic()
        env = dict(os.environ if env is None else env)
        cwd = cwd or os.getcwd()
        rw = [os.path.realpath(d) for d in rw_dirs]
        for d in rw:
            if not os.path.isdir(d):
                raise ValueError(f"rw dir {d} does not exist")
        runs = self.cache / "run"
        runs.mkdir(parents=True, exist_ok=True)
        for old in runs.iterdir():  # run dirs kept for diagnosis, after two days
            if time.time() - old.stat().st_mtime > 2 * 86400:
                shutil.rmtree(old, ignore_errors=True)
        run = Path(tempfile.mkdtemp(dir=runs))
        procs: list[subprocess.Popen] = []
        try:
            frag = cpio_newc(
                [
                    ("vm", stat.S_IFDIR | 0o755, b""),
                    ("vm/cmd.sh", stat.S_IFREG | 0o644, _guest_script(cmd, env, cwd).encode()),
                    (
                        "vm/mounts",
                        stat.S_IFREG | 0o644,
                        "".join(f"rw{i}\t{d}\n" for i, d in enumerate(rw, 1)).encode(),
                    ),
                ]
            )
            (run / "initrd").write_bytes(self.initrd.read_bytes() + frag)
            tags = [("hostroot", "/", True)] + [(f"rw{i}", d, False) for i, d in enumerate(rw, 1)]
            accel = (
                ["-accel", "kvm", "-cpu", "host"]
                if self.accel == "kvm"
                else [
                    "-accel",
                    "tcg,thread="
                    + os.environ.get("DAMONTUI_VM_TCG_THREAD", "multi")
                    + ",tb-size=256",
                    "-cpu",
                    os.environ.get("DAMONTUI_VM_CPU", "max"),
                ]
            )
            append = (
                "console=ttyS0 panic=-1 quiet loglevel=4 mitigations=off "
                "i8042.noaux i8042.nokbd i8042.nopnp rdinit=/init "
                + os.environ.get("DAMONTUI_VM_APPEND", "")
            )
            qemu = [
                self.tools.qemu,
                *self.machine,
                *accel,
                "-smp",
                str(self.smp),
                "-m",
                self.mem,
                # vhost-user-fs needs guest RAM that virtiofsd can map
                "-object",
                f"memory-backend-memfd,id=mem,size={self.mem},share=on",
                "-numa",
                "node,memdev=mem",
                "-nodefaults",
                "-no-user-config",
                "-display",
                "none",
                "-monitor",
                "none",
                "-no-reboot",
                "-serial",
                f"file:{run}/console.log",
                "-kernel",
                str(self.image),
                "-initrd",
                str(run / "initrd"),
                "-append",
                append,
            ]
            for tag, _src, _ro in tags:
                qemu += [
                    "-chardev",
                    f"socket,id=fs_{tag},path={run}/{tag}.sock",
                    "-device",
                    f"vhost-user-fs-pci,chardev=fs_{tag},tag={tag}",
                ]
            qemu += ["-device", "virtio-serial-pci,id=vser"]
            for port in ("stdout", "stderr", "status"):
                qemu += [
                    "-chardev",
                    f"file,id=c_{port},path={run}/{port}",
                    "-device",
                    f"virtserialport,bus=vser.0,chardev=c_{port},name=damontui.{port}",
                ]

            attempt = 0
            out_text = err_text = ""
            while True:
                attempt += 1
                for name in ("stdout", "stderr", "status", "console.log"):
                    (run / name).write_bytes(b"")
                procs = [self._virtiofsd(run, tag, src, ro) for tag, src, ro in tags]
                tails = [_Tail(run / "stdout", on_stdout), _Tail(run / "stderr", on_stderr)]
                for t in tails:
                    t.start()
                q = subprocess.Popen(
                    qemu,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=open(run / "qemu.err", "wb"),
                    start_new_session=True,
                )
                procs.append(q)
                remaining = timeout - (time.monotonic() - t0)
                timed_out = False
                try:
                    q.wait(timeout=max(remaining, 1))
                except subprocess.TimeoutExpired:
                    timed_out = True
                for p in procs:
                    _kill(p)
                out_text, err_text = tails[0].finish(), tails[1].finish()
                status = (run / "status").read_bytes().decode(errors="replace").replace("\r", "")
                lines = [s for s in status.split("\n") if s and s != "started"]
                started = "started" in status.split("\n")
                console = (run / "console.log").read_text(errors="replace")
                if self.verbose:
                    sys.stderr.write(
                        f"----- guest console (attempt {attempt}) -----\n{console}"
                        "----- end guest console -----\n"
                    )
                res = VMResult(
                    None,
                    out_text,
                    err_text,
                    started,
                    timed_out,
                    attempt,
                    time.monotonic() - t0,
                    self.accel,
                    "\n".join(console.splitlines()[-30:]),
                )
                if lines and lines[0].isdigit():
                    res.returncode = int(lines[0])
                    return res
                if timed_out:
                    res.problem = f"timeout after {timeout:.0f}s (guest killed)"
                    return res
                oops = re.search(r"(Oops: [^\[\n]*|Kernel panic[^\[\n]*|BUG: [^\[\n]*)", console)
                why = oops.group(1) if oops else "no oops in the console"
                if not started and not lines and attempt <= self.retries:
                    shutil.copy(run / "console.log", run / f"console.attempt{attempt}.log")
                    sys.stderr.write(
                        f"damontui-vm: guest died before the command started "
                        f"(qemu exit {q.returncode}, {why}); retrying "
                        f"({attempt}/{self.retries})\n"
                    )
                    continue
                qerr = (run / "qemu.err").read_text(errors="replace").strip()
                res.problem = (
                    (
                        "guest died while the command was running"
                        if started
                        else "guest did not start the command"
                    )
                    + f" (qemu exit {q.returncode}; {lines[0] if lines else why})"
                    + (f"\nqemu: {qerr}" if qerr else "")
                )
                keep = True
                return res
        finally:
            for p in procs:
                _kill(p)
            if keep:
                sys.stderr.write(f"damontui-vm: run directory kept: {run}\n")
            else:
                shutil.rmtree(run, ignore_errors=True)


def _kill(p: subprocess.Popen) -> None:
    """Stop a process this module started (its own session: our pid is its pgid)."""
    if p.poll() is not None:
        return
    try:
        os.killpg(p.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()


def guest_path(python: str | None = None) -> str:
    """A PATH for the guest with the real interpreter first: pyenv shims are
    bash scripts forking ~20 processes, ~7 s per call under TCG."""
    py = os.path.realpath(python or sys.executable)
    dirs = [
        os.path.dirname(python or sys.executable),
        os.path.dirname(py),
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    ]
    seen: list[str] = []
    for d in dirs:
        if d not in seen:
            seen.append(d)
    return ":".join(seen)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--rw",
        action="append",
        default=[],
        metavar="DIR",
        help="share host DIR read-write at the same path",
    )
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--mem")
    ap.add_argument("--smp", type=int)
    ap.add_argument("--verbose", action="store_true", help="print the guest console afterwards")
    ap.add_argument("--keep", action="store_true", help="keep the run directory")
    ap.add_argument(
        "--kernel",
        metavar="NAME",
        help="a kernel descriptor name from tests/vm/kernels (default: the first cached)",
    )
    ap.add_argument("cmd", nargs="+")
    a = ap.parse_args(argv)
    try:
        vm = VM(
            verbose=a.verbose,
            kernel_name=a.kernel,
            **({"mem": a.mem} if a.mem else {}),
            **({"smp": a.smp} if a.smp else {}),
        )
    except VMUnavailable as e:
        print(f"damontui-vm: cannot run a VM here: {e}", file=sys.stderr)
        return 125
    env = dict(os.environ)
    env["PATH"] = guest_path() + ":" + env.get("PATH", "")
    res = vm.run(
        a.cmd,
        env=env,
        rw_dirs=a.rw,
        timeout=a.timeout,
        keep=a.keep,
        on_stdout=lambda s: (sys.stdout.write(s), sys.stdout.flush()),
        on_stderr=lambda s: (sys.stderr.write(s), sys.stderr.flush()),
    )
    print(
        f"damontui-vm: {vm.describe()}; {res.wall_s:.1f}s wall, {res.attempts} boot(s)",
        file=sys.stderr,
    )
    if res.returncode is None:
        print(
            f"damontui-vm: {res.problem}\n--- guest console tail:\n{res.console_tail}",
            file=sys.stderr,
        )
        return 124 if res.timed_out else 125
    return res.returncode


if __name__ == "__main__":
    sys.exit(main())
