#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Host set-up for the benchmark (make bench), idempotent:
#   - the packages the bench needs on the host (chart, static helper);
#   - Debian's source entry for the archive, so that the QEMU source
#     package can be fetched;
#   - include/qemu/qemu-plugin.h of the QEMU that is installed, extracted
#     from that source package into build/tools/qemu-plugin/<version>/
#     (the only file of it the instruction-count plugin needs).
# Prints the directory holding qemu-plugin.h on stdout.
#
# The lab itself (QEMU, guest kernel, guest image) is scripts/host-setup.sh
# and scripts/guest-image.sh; scripts/bench.sh runs those first.

set -euo pipefail

# shellcheck source=scripts/common.sh
. "$(dirname "$0")/common.sh"

PACKAGES=(qemu-system-x86 gcc libc6-dev make gnuplot-nox dpkg-dev xz-utils)

export DEBIAN_FRONTEND=noninteractive
[[ $(id -u) -eq 0 ]] || die "run as root (apt-get)"

lab_install "${PACKAGES[@]}"

# The plugin must be built against the header of the QEMU that loads it:
# key the cache on the installed package version.
QVER=$(dpkg-query -W -f='${Version}' qemu-system-x86)
HDIR=$LAB_BUILD/tools/qemu-plugin/${QVER//[:+~]/_}
if [[ -f $HDIR/qemu-plugin.h ]]; then
	echo "$HDIR"
	exit 0
fi

lab_ensure_deb_src || true

# The source package's version is the binary's without a binNMU suffix.
SVER=$(dpkg-query -W -f='${source:Version}' qemu-system-x86)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cnvme-qemu-src.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fetch() { (cd "$tmp" && apt-get source -qq --download-only "qemu=$SVER") >&2; }
if ! fetch; then
	lab_apt_update
	fetch || die "apt-get source --download-only qemu=$SVER failed"
fi
orig=$(compgen -G "$tmp/qemu_*.orig.tar.*" | head -n 1) || die "no orig tarball fetched"
log "extracting qemu-plugin.h from ${orig##*/}"
tar -xf "$orig" -C "$tmp" --wildcards --no-anchored 'include/qemu/qemu-plugin.h'
hdr=$(find "$tmp" -path '*/include/qemu/qemu-plugin.h' | head -n 1)
[[ -n $hdr ]] || die "qemu-plugin.h not in ${orig##*/}"
# Debian may patch the header: apply its patches to that one file.
deb=$(compgen -G "$tmp/qemu_*.debian.tar.*" | head -n 1) || deb=
if [[ -n $deb ]]; then
	mkdir -p "$tmp/deb"
	tar -xf "$deb" -C "$tmp/deb"
	srcroot=${hdr%/include/qemu/qemu-plugin.h}
	if [[ -f $tmp/deb/debian/patches/series ]]; then
		while read -r p _; do
			[[ -z $p || $p == \#* ]] && continue
			grep -q '^+++ .*include/qemu/qemu-plugin.h' "$tmp/deb/debian/patches/$p" ||
				continue
			log "applying Debian patch $p to qemu-plugin.h"
			filterdiff -i '*include/qemu/qemu-plugin.h' "$tmp/deb/debian/patches/$p" |
				patch -d "$srcroot" -p1 >&2
		done <"$tmp/deb/debian/patches/series"
	fi
fi
mkdir -p "$HDIR"
cp "$hdr" "$HDIR/qemu-plugin.h"
echo "$SVER" >"$HDIR/source-version"
log "qemu-plugin.h of qemu $SVER in ${HDIR#"$LAB_ROOT"/}"
echo "$HDIR"
