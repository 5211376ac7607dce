#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Install what the lab needs on the host and unpack the Debian kernel that
# the guests boot into build/kernel/$KVER.  Idempotent: a second run only
# checks and prints what it found.

set -euo pipefail

# shellcheck source=scripts/common.sh
. "$(dirname "$0")/common.sh"

PACKAGES=(
	qemu-system-x86 qemu-utils linux-headers-6.12-amd64 linux-source-6.12
	sparse fio nvme-cli e2fsprogs xfsprogs debootstrap busybox-static kmod
	cpio xz-utils socat python3 gawk bc flex bison libelf-dev libssl-dev
	dwarves
)

export DEBIAN_FRONTEND=noninteractive

[[ $(id -u) -eq 0 ]] || die "run as root (apt-get, debootstrap)"

lab_install "${PACKAGES[@]}"

KVER=$(lab_kver) || die "cannot derive the kernel version from linux-headers-6.12-amd64"
KDIR=$(lab_kernel_dir "$KVER")
[[ -d /usr/src/linux-headers-$KVER ]] || die "headers for $KVER missing"

if [[ -f $KDIR/.ready ]]; then
	log "guest kernel $KVER: ready in ${KDIR#"$LAB_ROOT"/}"
	exit 0
fi

# Fetch the image package without installing it: the lab must not depend
# on what happens to be in the host's /boot.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cnvme-kernel.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fetch() { (cd "$tmp" && apt-get download -qq "linux-image-$KVER") 2>/dev/null; }
if ! fetch; then
	lab_apt_update
	fetch || die "apt-get download linux-image-$KVER failed"
fi
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
