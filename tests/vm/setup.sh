#!/bin/bash
# Install what damontui's VM test tier needs, and fetch + cache the guest kernel.
#
#   tests/vm/setup.sh [--no-install] [--refresh-kernel]
#
# 1. Debian packages (only if missing; needs root + apt-get):
#      qemu-system-x86   qemu-system-x86_64, /usr/lib/qemu/virtiofsd (bookworm),
#                        /usr/share/qemu/qboot.rom
#      busybox-static    the guest's init
#      zstd              to unpack the kernel for the fast (PVH) boot
#    (On trixie and later virtiofsd is its own package; it is installed too when
#    qemu does not ship it.)
# 2. A DAMON-enabled kernel: Debian trixie's linux-image-6.12.*-cloud-amd64-unsigned
#    (DAMON, DAMON_VADDR/PADDR/SYSFS, MEM_SOFT_DIRTY and VIRTIO_FS built in).
#    It is downloaded with a PRIVATE apt configuration (own sources.list, lists and
#    archive dirs under the cache), so the machine's apt setup is never changed,
#    and unpacked into the cache:
#      ${DAMONTUI_VM_CACHE:-${XDG_CACHE_HOME:-~/.cache}/damontui-vm}/
#        apt/            private apt state (sources.list, lists/, archives/)
#        kernel/<ver>/   unpacked package (boot/vmlinuz-<ver>)
#    Once a kernel is cached, later runs do not touch the network at all (CI
#    downloads it once per machine).  --refresh-kernel fetches the newest again.
#
# Exit status: 0 when everything the tier needs is present afterwards, 1 otherwise
# (the reason is printed; the tier then SKIPS rather than fails).
set -uo pipefail

CACHE=${DAMONTUI_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/damontui-vm}
KERNEL_PKG_GLOB='linux-image-6.12.*+deb13-cloud-amd64-unsigned'
SUITE=${DAMONTUI_VM_SUITE:-trixie}
MIRROR=${DAMONTUI_VM_MIRROR:-http://deb.debian.org/debian}
INSTALL=1
REFRESH=0
for a in "$@"; do
    case "$a" in
        --no-install) INSTALL=0 ;;
        --refresh-kernel) REFRESH=1 ;;
        -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
        *) echo "setup.sh: unknown option $a" >&2; exit 2 ;;
    esac
done

say() { echo "vm-setup: $*"; }
problems=()

# ------------------------------------------------------------------ packages
missing=()
command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
command -v busybox >/dev/null || missing+=(busybox-static)
# zstd: to unpack the vmlinux from the zstd-compressed bzImage for the fast PVH
# boot (without it the guest boots the bzImage through SeaBIOS, ~1.5 s slower)
command -v zstd >/dev/null || missing+=(zstd)
have_virtiofsd() {
    local c
    for c in /usr/libexec/virtiofsd /usr/lib/qemu/virtiofsd "$(command -v virtiofsd 2>/dev/null)"; do
        [ -n "$c" ] && [ -x "$c" ] && return 0
    done
    return 1
}
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$INSTALL" = 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        say "installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        if ! { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; }; then
            problems+=("apt-get install ${missing[*]} failed")
        fi
    else
        problems+=("missing packages: ${missing[*]} (need root + apt-get to install them)")
    fi
fi
if ! have_virtiofsd && [ "$INSTALL" = 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    # trixie+: virtiofsd is packaged separately (bookworm ships it in qemu-system-common)
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends virtiofsd >/dev/null 2>&1 || true
fi
have_virtiofsd || problems+=("virtiofsd not found (bookworm: qemu-system-common; trixie+: package virtiofsd)")
[ -r /usr/share/qemu/qboot.rom ] || say "note: no qboot.rom, the guest boots via SeaBIOS (slower)"

# ------------------------------------------------------------------ kernel
newest_cached_kernel() {
    ls -1 "$CACHE"/kernel/*/boot/vmlinuz-*-cloud-amd64 2>/dev/null | sort -V | tail -1
}
fetch_kernel() {
    local A="$CACHE/apt" opts pkg ver deb
    mkdir -p "$A/lists/partial" "$A/archives/partial" "$CACHE/kernel"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR $SUITE main" > "$A/sources.list"
    # Everything apt reads or writes is redirected into $A; the system's
    # sources, lists and archive cache are left alone.
    opts=(-o "Dir::Etc::sourcelist=$A/sources.list" -o "Dir::Etc::sourceparts=-"
          -o "Dir::State::Lists=$A/lists" -o "Dir::Cache=$A" -o "Dir::Cache::archives=$A/archives"
          -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=" -o "APT::Get::List-Cleanup=0"
          -o "Debug::NoLocking=1")
    say "fetching the $SUITE package lists (private apt dir $A)"
    apt-get "${opts[@]}" -q update >"$A/update.log" 2>&1 || { tail -5 "$A/update.log" >&2; return 1; }
    # newest matching kernel package
    pkg=$(apt-cache "${opts[@]}" pkgnames linux-image-6.12 2>/dev/null \
          | grep -E "^${KERNEL_PKG_GLOB//\*/.*}\$" | sort -V | tail -1)
    [ -n "$pkg" ] || { echo "no package matching $KERNEL_PKG_GLOB in $SUITE" >&2; return 1; }
    ver=${pkg#linux-image-}; ver=${ver%-unsigned}
    if [ -r "$CACHE/kernel/$ver/boot/vmlinuz-$ver" ]; then say "kernel $ver already cached"; return 0; fi
    say "downloading $pkg"
    (cd "$A/archives" && apt-get "${opts[@]}" -q download "$pkg" >"$A/download.log" 2>&1) \
        || { tail -5 "$A/download.log" >&2; return 1; }
    deb=$(ls -1t "$A/archives/${pkg}_"*.deb | head -1)
    rm -rf "$CACHE/kernel/$ver.tmp"
    dpkg-deb -x "$deb" "$CACHE/kernel/$ver.tmp" || return 1
    [ -r "$CACHE/kernel/$ver.tmp/boot/vmlinuz-$ver" ] || { echo "no boot/vmlinuz-$ver in $deb" >&2; return 1; }
    rm -rf "$CACHE/kernel/$ver"; mv "$CACHE/kernel/$ver.tmp" "$CACHE/kernel/$ver"
    rm -f "$deb"   # the unpacked tree is the cache; keep the disk use down
    say "kernel $ver unpacked into $CACHE/kernel/$ver"
}
if [ -n "${DAMONTUI_VM_KERNEL:-}" ]; then
    [ -r "$DAMONTUI_VM_KERNEL" ] || problems+=("DAMONTUI_VM_KERNEL=$DAMONTUI_VM_KERNEL is not readable")
elif [ "$REFRESH" = 1 ] || [ -z "$(newest_cached_kernel)" ]; then
    if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
        problems+=("no cached kernel and no apt-get/dpkg-deb to fetch one")
    elif [ ! -r /usr/share/keyrings/debian-archive-keyring.gpg ]; then
        problems+=("no cached kernel and no /usr/share/keyrings/debian-archive-keyring.gpg to verify a download")
    elif ! fetch_kernel; then
        problems+=("could not download the $SUITE DAMON kernel (network?)")
    fi
fi
k=${DAMONTUI_VM_KERNEL:-$(newest_cached_kernel)}
[ -n "$k" ] && say "kernel: $k"

if [ ${#problems[@]} -gt 0 ]; then
    for p in "${problems[@]}"; do say "NOT READY: $p"; done
    exit 1
fi
say "ready (cache: $CACHE)"
exit 0
