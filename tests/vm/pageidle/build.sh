#!/bin/bash
# Build (once per machine) the page-idle guest kernel from Debian's linux-source-7.2.
#
#   tests/vm/pageidle/build.sh [--no-install] [--print]
#
# Prints the path of the built (or cached) uncompressed vmlinux as its LAST line of
# stdout; progress goes to stderr.  Steps:
#   1. Cache lookup: ${DAMONTUI_VM_CACHE:-~/.cache/damontui-vm}/pageidle/kernel/
#      <source version>-<fragment hash>/vmlinux.  A cached kernel for this fragment
#      (any source version) means no download and no rebuild.
#   2. Build tools from Debian (flex bison libelf-dev bc; gcc and make are assumed),
#      installed with apt-get when missing and we are root.
#   3. linux-source-7.2 from sid, fetched with a PRIVATE apt configuration (own
#      sources.list, lists and archives under the cache; the mirror is the one the
#      machine's apt already uses), so the machine's apt setup is never changed.
#   4. make tinyconfig; merge_config.sh -m config.fragment; make olddefconfig; every
#      option of the fragment is checked in the resulting .config (the build fails
#      naming the option kconfig dropped); make -j$(nproc) bzImage under nice.
# --print: only print the cached vmlinux (exit 1 when there is none).
# Exit status 0 on success, 1 with the reason on stderr otherwise.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
FRAG="$HERE/config.fragment"
CACHE=${DAMONTUI_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/damontui-vm}/pageidle
SRC_PKG=linux-source-7.2
SUITE=sid
INSTALL=1
PRINT=0
for a in "$@"; do
    case "$a" in
        --no-install) INSTALL=0 ;;
        --print) PRINT=1 ;;
        -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
        *) echo "build.sh: unknown option $a" >&2; exit 2 ;;
    esac
done
say() { echo "pageidle-kernel: $*" >&2; }
die() { say "FAILED: $*"; exit 1; }

# The key: the fragment's content and this script's build recipe version.
RECIPE=1
HASH=$( { cat "$FRAG"; echo "recipe $RECIPE"; } | sha256sum | cut -c1-16)
cached() { ls -1d "$CACHE"/kernel/*-"$HASH"/vmlinux 2>/dev/null | sort -V | tail -1; }
if [ -n "$(cached)" ]; then
    say "cached kernel for fragment $HASH"
    cached
    exit 0
fi
[ "$PRINT" = 1 ] && { say "no cached kernel for fragment $HASH"; exit 1; }

# ------------------------------------------------------------------ build tools
missing=()
command -v flex >/dev/null || missing+=(flex)
command -v bison >/dev/null || missing+=(bison)
command -v bc >/dev/null || missing+=(bc)
[ -r /usr/include/libelf.h ] || [ -r /usr/include/gelf.h ] || missing+=(libelf-dev)
command -v xz >/dev/null || missing+=(xz-utils)
command -v gcc >/dev/null || missing+=(gcc)
command -v make >/dev/null || missing+=(make)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$INSTALL" = 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        say "installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; } \
            || die "apt-get install ${missing[*]} failed"
    else
        die "missing build tools: ${missing[*]} (need root + apt-get to install them)"
    fi
fi

# ------------------------------------------------------------------ source package
A="$CACHE/apt"
mkdir -p "$A/lists/partial" "$A/archives/partial" "$CACHE/kernel" "$CACHE/src"
# the mirror this machine's apt already uses (no host name in the repository)
MIRROR=${DAMONTUI_VM_MIRROR:-$(grep -rhoE '^(URIs:|deb) *(\[[^]]*\] *)?[a-z]+://[^ ]+/debian( |$)' \
    /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null | grep -oE '[a-z]+://[^ ]+/debian' | head -1)}
[ -n "$MIRROR" ] || die "no Debian mirror in /etc/apt (set DAMONTUI_VM_MIRROR)"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
[ -r "$KEYRING" ] || die "no $KEYRING to verify the download"
echo "deb [signed-by=$KEYRING] $MIRROR $SUITE main" > "$A/sources.list"
opts=(-o "Dir::Etc::sourcelist=$A/sources.list" -o "Dir::Etc::sourceparts=-"
      -o "Dir::State::Lists=$A/lists" -o "Dir::Cache=$A" -o "Dir::Cache::archives=$A/archives"
      -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=" -o "APT::Get::List-Cleanup=0"
      -o "Debug::NoLocking=1")
deb=$(ls -1 "$A/archives/${SRC_PKG}_"*.deb 2>/dev/null | sort -V | tail -1)
if [ -z "$deb" ]; then
    say "fetching the $SUITE package lists (private apt dir $A)"
    apt-get "${opts[@]}" -q update >"$A/update.log" 2>&1 || { tail -5 "$A/update.log" >&2; die "apt-get update"; }
    say "downloading $SRC_PKG"
    (cd "$A/archives" && apt-get "${opts[@]}" -q download "$SRC_PKG" >"$A/download.log" 2>&1) \
        || { tail -5 "$A/download.log" >&2; die "apt-get download $SRC_PKG"; }
    deb=$(ls -1 "$A/archives/${SRC_PKG}_"*.deb 2>/dev/null | sort -V | tail -1)
    [ -n "$deb" ] || die "no $SRC_PKG .deb after download"
fi
VER=$(dpkg-deb -f "$deb" Version) || die "cannot read $deb"
SRC="$CACHE/src/$VER"
if [ ! -r "$SRC/Makefile" ]; then
    say "unpacking $SRC_PKG $VER"
    rm -rf "$SRC.tmp" && mkdir -p "$SRC.tmp"
    dpkg-deb --fsys-tarfile "$deb" | tar -xO "./usr/src/$SRC_PKG.tar.xz" | tar -xJ -C "$SRC.tmp" \
        || die "unpacking $deb"
    top=$(ls -1 "$SRC.tmp" | head -1)
    mv "$SRC.tmp/$top" "$SRC" && rmdir "$SRC.tmp" || die "moving the tree into $SRC"
fi

# ------------------------------------------------------------------ configure + build
cd "$SRC" || die "cd $SRC"
say "configuring (tinyconfig + $FRAG)"
make -s tinyconfig >/dev/null 2>"$CACHE/config.log" || die "make tinyconfig (see $CACHE/config.log)"
scripts/kconfig/merge_config.sh -m .config "$FRAG" >>"$CACHE/config.log" 2>&1 || die "merge_config.sh"
make -s olddefconfig >>"$CACHE/config.log" 2>&1 || die "make olddefconfig"
dropped=()
while IFS= read -r line; do
    case "$line" in
        CONFIG_*=*) grep -qxF -- "$line" .config || dropped+=("$line") ;;
        "# CONFIG_"*" is not set")
            opt=${line#\# }; opt=${opt%% *}
            grep -q "^$opt=" .config && dropped+=("$line") ;;
    esac
done < "$FRAG"
if [ ${#dropped[@]} -gt 0 ]; then
    for d in "${dropped[@]}"; do
        opt=$(echo "$d" | grep -oE 'CONFIG_[A-Z0-9_]+')
        say "option not in the result: $d (got: $(grep -E "^$opt=|^# $opt is not set" .config || echo absent))"
    done
    die "kconfig dropped ${#dropped[@]} option(s) of $FRAG"
fi
say "building bzImage (make -j$(nproc), nice; about 6 min on 2 cores)"
t0=$(date +%s)
nice -n 10 make -s -j"$(nproc)" bzImage >"$CACHE/build.log" 2>&1 || { tail -20 "$CACHE/build.log" >&2; die "make bzImage"; }
REL=$(cat include/config/kernel.release)
OUT="$CACHE/kernel/$VER-$HASH"
rm -rf "$OUT.tmp" && mkdir -p "$OUT.tmp"
cp vmlinux "$OUT.tmp/vmlinux" && cp arch/x86/boot/bzImage "$OUT.tmp/bzImage" && cp .config "$OUT.tmp/config" \
    && echo "$REL" > "$OUT.tmp/release" || die "copying the build into $OUT"
strip --strip-debug "$OUT.tmp/vmlinux" 2>/dev/null || true
rm -rf "$OUT" && mv "$OUT.tmp" "$OUT"
say "built $REL in $(( $(date +%s) - t0 )) s -> $OUT"
echo "$OUT/vmlinux"
