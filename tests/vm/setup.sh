#!/bin/bash
# Install what damontui's VM test tier needs, and fetch + cache the guest kernels.
#
#   tests/vm/setup.sh [--no-install] [--refresh-kernel] [--print-mirror] [NAME...]
#
# 1. Debian packages (only if missing; needs root + apt-get):
#      qemu-system-x86   qemu-system-x86_64, /usr/lib/qemu/virtiofsd (bookworm),
#                        /usr/share/qemu/qboot.rom
#      busybox-static    the guest's init
#      zstd              to unpack the kernel for the fast (PVH) boot
#    (On trixie and later virtiofsd is its own package; it is installed too when
#    qemu does not ship it.)
# 2. Every kernel described in tests/vm/kernels/*.conf (or only the NAMEs given):
#    SOURCE=debian kernels are downloaded with a PRIVATE apt configuration (own
#    sources.list, lists and archive dirs under the cache, one per suite), so the
#    machine's apt setup is never changed, and unpacked into the cache:
#      ${DAMONTUI_VM_CACHE:-${XDG_CACHE_HOME:-~/.cache}/damontui-vm}/
#        apt-<suite>/    private apt state (sources.list, lists/, archives/)
#        kernel/<kver>/  unpacked packages
#    SOURCE=command kernels run their FETCH command (from the repository root,
#    with DAMONTUI_VM_CACHE set) which must leave IMAGE in the cache.
#    The package mirror is the one this machine's apt already uses (from
#    /etc/apt/sources.list and sources.list.d/, one-line or deb822 form), or
#    $DAMONTUI_VM_MIRROR.  No host name is written anywhere.
#    Once a kernel's IMAGE is cached, later runs do not touch the network at all
#    (CI downloads each kernel once per machine).  --refresh-kernel fetches the
#    newest again.
#
# Exit status: 0 when the tools and at least one kernel are present afterwards,
# 1 otherwise (the reason is printed; missing kernels are skipped by the tier,
# which says why).
set -uo pipefail

CACHE=${DAMONTUI_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/damontui-vm}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
INSTALL=1
REFRESH=0
PRINT_MIRROR=0
ONLY=()
APT_ETC=${DAMONTUI_VM_APT_ETC:-/etc/apt}   # where the machine's apt sources are
for a in "$@"; do
    case "$a" in
        --no-install) INSTALL=0 ;;
        --refresh-kernel) REFRESH=1 ;;
        --print-mirror) PRINT_MIRROR=1 ;;
        -h|--help) sed -n '2,32p' "$0"; exit 0 ;;
        -*) echo "setup.sh: unknown option $a" >&2; exit 2 ;;
        *) ONLY+=("$a") ;;
    esac
done

say() { echo "vm-setup: $*"; }

# The Debian mirror this machine's apt already uses: "deb [opts] URI suite ..."
# lines and deb822 "URIs: URI ..." fields; the first URI ending in /debian.
apt_mirror() {
    if [ -n "${DAMONTUI_VM_MIRROR:-}" ]; then echo "$DAMONTUI_VM_MIRROR"; return; fi
    local files=()
    [ -r "$APT_ETC/sources.list" ] && files+=("$APT_ETC/sources.list")
    for f in "$APT_ETC"/sources.list.d/*.list "$APT_ETC"/sources.list.d/*.sources; do
        [ -r "$f" ] && files+=("$f")
    done
    [ ${#files[@]} -gt 0 ] || return 0
    sed -nE -e 's/^[[:space:]]*deb[[:space:]]+(\[[^]]*\][[:space:]]+)?//p' \
            -e 's/^[[:space:]]*URIs:[[:space:]]*//p' "${files[@]}" \
        | tr ' \t' '\n\n' | grep -E '^[a-z+]+://[^ ]+/debian/?$' | sed 's:/$::' | head -1
}
MIRROR=""
if [ "$PRINT_MIRROR" = 1 ]; then  # what setup would download from, then stop
    m=$(apt_mirror)
    [ -n "$m" ] && { echo "$m"; exit 0; }
    echo "setup.sh: no Debian mirror in $APT_ETC/sources.list* (set DAMONTUI_VM_MIRROR)" >&2
    exit 1
fi

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

# ------------------------------------------------------------------ kernels
apt_opts() {  # the private apt configuration for one suite
    local A=$1
    APT_OPTS=(-o "Dir::Etc::sourcelist=$A/sources.list" -o "Dir::Etc::sourceparts=-"
              -o "Dir::State::Lists=$A/lists" -o "Dir::Cache=$A" -o "Dir::Cache::archives=$A/archives"
              -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=" -o "APT::Get::List-Cleanup=0"
              -o "APT::Sandbox::User=root" -o "Debug::NoLocking=1")
}

# read one descriptor into D_* variables (a subshell sources it: it is plain KEY=VALUE)
load_desc() {
    local f=$1
    unset D_NAME D_SOURCE D_SUITE D_KVER_GLOB D_PACKAGES D_IMAGE D_FETCH
    eval "$(
        NAME= SOURCE= SUITE= KVER_GLOB= PACKAGES= IMAGE= FETCH=
        # shellcheck disable=SC1090
        . "$f"
        for k in NAME SOURCE SUITE KVER_GLOB PACKAGES IMAGE FETCH; do
            printf 'D_%s=%q\n' "$k" "${!k}"
        done
    )"
}

cached_image() {  # newest file matching the descriptor's IMAGE glob, if any
    local g=${D_IMAGE//@KVER@/$D_KVER_GLOB}
    case "$g" in /*) ;; *) g="$CACHE/$g" ;; esac
    # shellcheck disable=SC2086
    ls -1d $g 2>/dev/null | sort -V | tail -1
}

fetch_debian() {
    local A="$CACHE/apt-$D_SUITE" first kver pkgs p deb tmp
    [ -n "$MIRROR" ] || MIRROR=$(apt_mirror)
    if [ -z "$MIRROR" ]; then
        echo "no Debian mirror in /etc/apt/sources.list* (set DAMONTUI_VM_MIRROR)" >&2; return 1
    fi
    mkdir -p "$A/lists/partial" "$A/archives/partial" "$CACHE/kernel"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR $D_SUITE main" > "$A/sources.list"
    apt_opts "$A"
    say "$D_NAME: fetching the $D_SUITE package lists (private apt dir $A)"
    apt-get "${APT_OPTS[@]}" -q update >"$A/update.log" 2>&1 || { tail -5 "$A/update.log" >&2; return 1; }
    # the newest kernel release that the first package exists for
    first=${D_PACKAGES%% *}
    local re="^${first//@KVER@/($D_KVER_GLOB)}\$"
    re=${re//./\\.}; re=${re//\*/.*}; re=${re//+/\\+}
    kver=$(apt-cache "${APT_OPTS[@]}" pkgnames "${first%%@KVER@*}" 2>/dev/null \
           | sed -nE "s/$re/\1/p" | sort -V | tail -1)
    [ -n "$kver" ] || { echo "no package matching ${first//@KVER@/$D_KVER_GLOB} in $D_SUITE" >&2; return 1; }
    pkgs=()
    for p in $D_PACKAGES; do pkgs+=("${p//@KVER@/$kver}"); done
    say "$D_NAME: downloading ${pkgs[*]}"
    (cd "$A/archives" && apt-get "${APT_OPTS[@]}" -q download "${pkgs[@]}" >"$A/download.log" 2>&1) \
        || { tail -5 "$A/download.log" >&2; return 1; }
    tmp="$CACHE/kernel/$kver.tmp$$"
    rm -rf "$tmp"
    for p in "${pkgs[@]}"; do
        deb=$(ls -1t "$A/archives/${p}_"*.deb | head -1)
        dpkg-deb -x "$deb" "$tmp" || return 1
    done
    rm -rf "$CACHE/kernel/$kver"; mv "$tmp" "$CACHE/kernel/$kver"
    for p in "${pkgs[@]}"; do rm -f "$A/archives/${p}_"*.deb; done  # the unpacked tree is the cache
    say "$D_NAME: kernel $kver unpacked into $CACHE/kernel/$kver"
}

fetch_command() {
    [ -n "$D_FETCH" ] || { echo "$D_NAME: SOURCE=command but no FETCH" >&2; return 1; }
    say "$D_NAME: running $D_FETCH"
    (cd "$REPO" && DAMONTUI_VM_CACHE="$CACHE" bash -c "$D_FETCH")
}

nkernels=0
for desc in "$HERE"/kernels/*.conf; do
    [ -r "$desc" ] || continue
    load_desc "$desc"
    if [ ${#ONLY[@]} -gt 0 ] && [[ " ${ONLY[*]} " != *" $D_NAME "* ]]; then continue; fi
    img=$(cached_image)
    if [ -n "$img" ] && [ "$REFRESH" = 0 ]; then
        say "$D_NAME: cached $img"; nkernels=$((nkernels + 1)); continue
    fi
    case "$D_SOURCE" in
        debian)
            if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
                problems+=("$D_NAME: no cached kernel and no apt-get/dpkg-deb to fetch one")
            elif [ ! -r /usr/share/keyrings/debian-archive-keyring.gpg ]; then
                problems+=("$D_NAME: no /usr/share/keyrings/debian-archive-keyring.gpg to verify a download")
            elif ! fetch_debian; then
                problems+=("$D_NAME: could not download the $D_SUITE kernel (network?)")
            fi ;;
        command) fetch_command || problems+=("$D_NAME: $D_FETCH failed") ;;
        *) problems+=("$desc: unknown SOURCE=$D_SOURCE (debian|command)") ;;
    esac
    img=$(cached_image)
    if [ -n "$img" ]; then say "$D_NAME: kernel $img"; nkernels=$((nkernels + 1))
    else problems+=("$D_NAME: no image matching $D_IMAGE after fetching"); fi
done
[ "$nkernels" -gt 0 ] || [ -n "${DAMONTUI_VM_KERNEL:-}" ] || problems+=("no kernel available for the VM tier")

if [ ${#problems[@]} -gt 0 ]; then
    for p in "${problems[@]}"; do say "NOT READY: $p"; done
    exit 1
fi
say "ready (cache: $CACHE)"
exit 0
