#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Install what the lab needs on the host and unpack the Debian kernel that
# the guests boot into build/kernel/$KVER.  Idempotent: a second run only
# checks and prints what it found.
#
# It installs no kernel on the host.  Debian's linux-headers-$KVER depends
# on linux-image-$KVER (a real dependency, not a recommendation), so the
# headers cnvme is built against are unpacked too, into
# build/headers/$KVER/, unless the host has them installed already (then
# those are used: DKMS needs them).  HOST_HEADERS=unpack unpacks them
# even then.

set -euo pipefail

# shellcheck source=scripts/common.sh
. "$(dirname "$0")/common.sh"
# Debian's kernel whatever the caller boots: KERNEL=debug's is built from
# the linux-source-6.12 installed here by scripts/debug-kernel.sh.
KERNEL=debian

PACKAGES=(
	qemu-system-x86 qemu-utils linux-source-6.12
	sparse fio nvme-cli e2fsprogs xfsprogs debootstrap busybox-static kmod
	cpio xz-utils socat python3 gawk bc flex bison libelf-dev libssl-dev
	dwarves gcc-12 make python3-docutils
)

export DEBIAN_FRONTEND=noninteractive

[[ $(id -u) -eq 0 ]] || die "run as root (apt-get, debootstrap)"

lab_install "${PACKAGES[@]}"

KVER=$(lab_kver) || {
	lab_apt_update
	KVER=$(lab_kver)
} || die "cannot derive the kernel version from linux-headers-6.12-amd64"
KDIR=$(lab_kernel_dir "$KVER")
HDIR=$LAB_BUILD/headers/$KVER

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cnvme-kernel.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# fetch PACKAGE...: download the .debs into $tmp without installing them.
fetch() {
	(cd "$tmp" && apt-get download -qq "$@") >/dev/null 2>&1 && return 0
	lab_apt_update
	(cd "$tmp" && apt-get download -qq "$@") >/dev/null 2>&1 ||
		die "apt-get download $* failed"
}

if [[ -f /usr/src/linux-headers-$KVER/Makefile && ${HOST_HEADERS:-} != unpack ]]; then
	log "headers $KVER: installed on the host"
elif [[ -f $HDIR/.ready ]]; then
	log "headers $KVER: ready in ${HDIR#"$LAB_ROOT"/}"
else
	# The headers, their -common part and kbuild, as linux-headers-$KVER
	# names them.
	mapfile -t hpkgs < <(apt-cache depends "linux-headers-$KVER" 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-headers-.*-common\|linux-kbuild-.*\)$/\1/p')
	((${#hpkgs[@]} == 2)) || die "cannot find the -common and kbuild packages of linux-headers-$KVER"
	fetch "linux-headers-$KVER" "${hpkgs[@]}"
	rm -rf "$HDIR"
	mkdir -p "$HDIR/root"
	for deb in "$tmp"/linux-headers-*.deb "$tmp"/linux-kbuild-*.deb; do
		dpkg-deb -x "$deb" "$HDIR/root"
	done
	rm -f "$tmp"/*.deb
	# The only absolute path: the flavour's Makefile includes the common one.
	mk=$HDIR/root/usr/src/linux-headers-$KVER/Makefile
	sed -i "s|^include /usr/src/|include $HDIR/root/usr/src/|" "$mk"
	grep -q "^include $HDIR/" "$mk" || die "unexpected $mk"
	touch "$HDIR/.ready"
	log "headers $KVER: unpacked into ${HDIR#"$LAB_ROOT"/}"
fi

if [[ -f $KDIR/.ready ]]; then
	log "guest kernel $KVER: ready in ${KDIR#"$LAB_ROOT"/}"
	exit 0
fi

# Fetch the image package without installing it: the lab must not depend
# on what happens to be in the host's /boot, nor change it.
fetch "linux-image-$KVER"
deb=$(echo "$tmp"/linux-image-*.deb)
log "unpacking ${deb##*/}"
dpkg -x "$deb" "$tmp/root"

rm -rf "$KDIR"
mkdir -p "$KDIR/lib/modules"
cp "$tmp/root/boot/vmlinuz-$KVER" "$KDIR/vmlinuz"
cp "$tmp/root/boot/config-$KVER" "$KDIR/config"
# Newer packages ship modules under usr/lib (merged /usr); accept both.
for m in "$tmp/root/lib/modules/$KVER" "$tmp/root/usr/lib/modules/$KVER"; do
	[[ -d $m ]] && mv "$m" "$KDIR/lib/modules/$KVER" && break
done
[[ -d $KDIR/lib/modules/$KVER/kernel ]] || die "no modules in ${deb##*/}"
# The package ships no modules.dep: generate it for the guest and initramfs.
depmod -b "$KDIR" "$KVER"
printf '%s\n' "${deb##*/}" >"$KDIR/.ready"
log "guest kernel $KVER: unpacked into ${KDIR#"$LAB_ROOT"/}"
