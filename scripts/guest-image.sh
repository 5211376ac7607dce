#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the cached guest: a Debian root filesystem image (root.img, booted
# as /dev/vda on virtio-blk) and a tiny busybox initramfs that mounts it.
# Both live in build/guest/<hash>/, where the hash covers this script, the
# guest-side files baked in and the kernel version; an unchanged recipe is a
# fast no-op.  Prints the image directory on stdout.
#
# Per-boot content (suites, cnvme.ko, profile, results) is never baked in:
# scripts/lab.sh shares it with the guest over virtio-9p.

set -euo pipefail

# shellcheck source=scripts/common.sh
. "$(dirname "$0")/common.sh"

SUITE=bookworm
MIRROR=http://deb.debian.org/debian
INCLUDE=kmod,udev,procps,e2fsprogs,xfsprogs,fio,nvme-cli,python3,bash,util-linux,pciutils,coreutils
IMAGE_SIZE=3G
# Modules the initramfs needs to mount root; dependencies are resolved.
INITRAMFS_MODULES=(virtio_blk crc32c_generic ext4)

[[ $(id -u) -eq 0 ]] || die "run as root (debootstrap, mknod)"
KVER=$(lab_kver) || die "no linux-headers-6.12-amd64: run scripts/host-setup.sh"
KDIR=$(lab_kernel_dir "$KVER")
[[ -f $KDIR/.ready ]] || die "no guest kernel in ${KDIR#"$LAB_ROOT"/}: run scripts/host-setup.sh"
for tool in debootstrap mkfs.ext4 cpio busybox xz; do
	command -v "$tool" >/dev/null || die "$tool missing: run scripts/host-setup.sh"
done

GUEST=$(lab_guest_dir "$KVER")
cached() {
	[[ -f $GUEST/.ready && -f $GUEST/root.img && -f $GUEST/initramfs.cpio.gz ]] || return 1
	log "guest image: cached in ${GUEST#"$LAB_ROOT"/}"
	echo "$GUEST"
}
cached && exit 0

# Several engineers' boots may ask for the same image at once: build it
# once, under a lock, and let the others find it cached.
mkdir -p "$LAB_BUILD/guest"
exec 9>"$LAB_BUILD/guest/.lock"
flock 9
cached && exit 0
start=$SECONDS

# The debootstrap tree is the slow part (~2 min, network) and depends only
# on the package selection, so it has its own cache key: editing the init
# script then costs seconds, not a new download.
base_key=$(printf '%s\n' "$SUITE" "$MIRROR" "$INCLUDE" | sha256sum | cut -c1-16)
BASE=$LAB_BUILD/guest/base-$base_key
if [[ ! -f $BASE/.ready ]]; then
	rm -rf "$BASE"
	mkdir -p "$BASE"
	log "debootstrap $SUITE (minbase) into ${BASE#"$LAB_ROOT"/}"
	debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$BASE/root" "$MIRROR" \
		>"$BASE/debootstrap.log" 2>&1 ||
		{ tail -n 20 "$BASE/debootstrap.log" >&2; die "debootstrap failed"; }
	# Package caches only bloat the image.
	rm -rf "$BASE/root/var/cache/apt/archives/"*.deb "$BASE/root/var/lib/apt/lists/"*
	touch "$BASE/.ready"
	log "debootstrap done in $((SECONDS - start)) s"
fi

work=$GUEST.tmp
rm -rf "$work"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT

log "assembling root filesystem for $KVER"
root=$work/root
cp -a "$BASE/root" "$root"
# bookworm's /lib is a symlink into usr; resolve it inside the tree.
mods=$root/usr/lib/modules
[[ -L $root/lib ]] || mods=$root/lib/modules
mkdir -p "$mods"
cp -a "$KDIR/lib/modules/$KVER" "$mods/"
depmod -b "$root" "$KVER"
# udev must never bind the stock driver behind the test's back; an explicit
# "modprobe nvme" still works.
mkdir -p "$root/etc/modprobe.d"
# The rest only costs boot time: udev's coldplug would load them for the
# q35 chipset and the CPU, and no suite uses them.
{
	echo '# cnvme lab: the suites load nvme or cnvme explicitly'
	echo 'blacklist nvme'
	for m in ahci iTCO_wdt kvm kvm_amd kvm_intel pcspkr i2c_i801 lpc_ich \
		powernow_k8 psmouse; do
		echo "blacklist $m"
	done
} >"$root/etc/modprobe.d/cnvme-lab.conf"
install -m 0755 "$LAB_ROOT/tests/guest/init" "$root/sbin/lab-init"
mkdir -p "$root/lab" "$root/mnt"
echo lab >"$root/etc/hostname"
: >"$root/etc/fstab"

log "building initramfs"
ird=$work/initramfs
mkdir -p "$ird/bin" "$ird/dev" "$ird/proc" "$ird/sys" "$ird/newroot" "$ird/lib/modules"
install -m 0755 "$(command -v busybox)" "$ird/bin/busybox"
install -m 0755 "$LAB_ROOT/tests/guest/initramfs-init" "$ird/init"
# The kernel opens /dev/console before running /init.
mknod -m 0600 "$ird/dev/console" c 5 1
: >"$ird/lib/modules/load-order"
declare -A seen=()
for m in "${INITRAMFS_MODULES[@]}"; do
	while read -r verb path _; do
		[[ $verb == insmod ]] || continue
		name=${path##*/}
		name=${name%.xz}
		[[ -n ${seen[$name]:-} ]] && continue
		seen[$name]=1
		xz -dc "$path" >"$ird/lib/modules/$name"
		echo "$name" >>"$ird/lib/modules/load-order"
	done < <(modprobe -d "$KDIR" -S "$KVER" --show-depends "$m")
done
# Fixed timestamps, owners and order: the same inputs give the same bytes.
find "$ird" -exec touch -h -d @0 {} +
(cd "$ird" && find . -mindepth 1 | LC_ALL=C sort |
	cpio -o -H newc -R 0:0 --reproducible --quiet) | gzip -9 -n >"$work/initramfs.cpio.gz"

log "mkfs.ext4 -d root.img $IMAGE_SIZE"
truncate -s "$IMAGE_SIZE" "$work/root.img"
mkfs.ext4 -q -F -L lab-root -d "$root" "$work/root.img" >&2
rm -rf "$root" "$ird"

{
	echo "kver $KVER"
	echo "base $base_key"
	lab_guest_recipe_files | sed "s|^$LAB_ROOT/||"
} >"$work/recipe"
touch "$work/.ready"
mv "$work" "$GUEST"
# Images of other recipes are ~1 GB each; keep the newest few, which other
# work trees' boots may still be using.
find "$LAB_BUILD/guest" -mindepth 1 -maxdepth 1 -type d ! -name 'base-*' ! -name '*.tmp' \
	-printf '%T@ %p\n' | sort -rn | tail -n +4 | cut -d' ' -f2- | xargs -r rm -rf
trap - EXIT
log "guest image: built ${GUEST#"$LAB_ROOT"/} in $((SECONDS - start)) s"
echo "$GUEST"
