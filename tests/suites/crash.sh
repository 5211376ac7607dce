#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# lab-timeout: 240
# lab-host-check: logreplay.py
#
# crash: crash consistency, judged on the host from what reached the
# device.  Profile logw puts the namespace on QEMU's blklogwrites driver,
# which logs every write and flush the controller passes to its drive, in
# the order they complete.  In the guest: ext4 is made on the first 256
# MiB, then files are written in four directories, two of every three
# fsync'd (dd conv=fsync), the others left to writeback, some of those
# deleted again, a file appended to without fsync throughout; umount.
# After each step that must be durable the guest writes a mark, one 4 KiB
# block at 768 MiB + 4 KiB * seq with O_DIRECT followed by an fsync of the
# disk: "CNVMEMARK seq mkfs ext4 BYTES", "CNVMEMARK seq fsync PATH SIZE
# SHA256" (after the file's fsync returned), "CNVMEMARK seq end", and a
# last one without fsync, "CNVMEMARK seq tail".  The
# guest checks the files and e2fsck -fn at the end.
#
# On the host, tests/host/logreplay.py (run by scripts/lab.sh, its points
# counted with the guest's) replays the log onto a zeroed copy of the
# initial image: the full replay must equal the drive's final image; at
# every flush after the mkfs mark the filesystem, its journal replayed
# (e2fsck -E journal_only), passes e2fsck -fn; every fsync'd file has its
# content (debugfs, sha256) in the state the device held when its fsync
# returned (the log up to its mark) and at every flush after its mark;
# a flush reaches the device after each mark and before the next one
# (the guest's fsync of the disk; without it, the only flush would be
# QEMU's own when the guest powers off, after the tail mark).  QEMU's
# blklogwrites records no FUA flag (it logs every write with flags 0),
# so a FUA write is durable in this model only at the next flush; the FUA
# bit itself is checked by cmdset and basic@nowc (tests/suites/device.inc).
#
# Kernel log: nothing is expected beyond ext4's mount lines.

# The helpers below run through check "$@", which shellcheck cannot see.
# shellcheck disable=SC2317
set -euo pipefail
# shellcheck source=tests/guest/lib.sh
. "$LAB/guest/lib.sh"

MNT=/mnt
FS_BYTES=$((256 << 20))
MARK_AT=$((768 << 20))
MARK_SEQ=0
NFILES=24

# mark TEXT...: the next mark block, written with O_DIRECT, then an fsync
# of the disk (a flush, when the disk has a write cache).  MARK_SYNC=0:
# no fsync.
mark() {
	local seq=$MARK_SEQ conv=fsync
	MARK_SEQ=$((seq + 1))
	[[ ${MARK_SYNC:-1} == 1 ]] || conv=notrunc
	printf 'CNVMEMARK %d %s\n' "$seq" "$*" >/tmp/mark
	truncate -s 4096 /tmp/mark
	dd if=/tmp/mark of="/dev/$P" bs=4096 seek=$((MARK_AT / 4096 + seq)) oflag=direct conv="$conv" \
		status=none || fail "writing mark $seq failed" || return 1
	echo "mark $seq: $*"
}

make_fs() {
	[[ -b /dev/$P ]] || fail "no block device '/dev/$P'" || return 1
	# No discard: the drive ignores discards (QEMU's default), and the
	# replay must reproduce its final image.
	mkfs.ext4 -q -F -E nodiscard "/dev/$P" $((FS_BYTES >> 10)) || fail "mkfs.ext4 failed" || return 1
	mark mkfs ext4 "$FS_BYTES"
}

# The workload: NFILES files of 4 KiB to 256 KiB; i % 3 != 2 fsync'd and
# marked, the rest left dirty; every sixth file an unsynced one is
# deleted; "journal" grows by a block per file and is never fsync'd.
workload() {
	local i f size sum d
	mount -t ext4 "/dev/$P" "$MNT" || fail "mount failed" || return 1
	mkdir -p "$MNT"/d0 "$MNT"/d1 "$MNT"/d2 "$MNT"/d3
	: >/tmp/fsynced
	for ((i = 0; i < NFILES; i++)); do
		d=d$((i % 4))
		f=$d/f$i
		size=$(((RANDOM % 64 + 1) * 4096))
		head -c "$size" /dev/urandom >/tmp/src
		head -c 4096 /dev/urandom >>"$MNT/journal"
		if ((i % 3 != 2)); then
			dd if=/tmp/src of="$MNT/$f" bs=64k conv=fsync status=none ||
				fail "writing $f failed" || return 1
			sum=$(sha256sum </tmp/src | cut -d' ' -f1)
			mark fsync "/$f" "$size" "$sum" || return 1
			echo "/$f $size $sum" >>/tmp/fsynced
		else
			cp /tmp/src "$MNT/$f" || fail "writing $f failed" || return 1
			if ((i % 6 == 5)); then rm -f "$MNT/d$(((i - 3) % 4))/f$((i - 3))"; fi
		fi
	done
	echo "$(grep -c . /tmp/fsynced) of $NFILES files fsync'd"
	umount "$MNT" || fail "umount failed" || return 1
	mark end || return 1
	# Unflushed: QEMU flushes its drives when the guest powers off, and
	# that flush must not count as the end mark's.
	MARK_SYNC=0 mark tail
}

# The fsync'd files read back from the device after a fresh mount.
files_intact() {
	local path size sum got bad=0
	mount -t ext4 -o ro "/dev/$P" "$MNT" || fail "mount failed" || return 1
	while read -r path size sum; do
		got=$(sha256sum <"$MNT$path" 2>/dev/null | cut -d' ' -f1) || got=unreadable
		[[ $got == "$sum" ]] || { echo "$path: sha256 $got, expected $sum"; bad=$((bad + 1)); }
	done </tmp/fsynced
	umount "$MNT" || fail "umount failed" || return 1
	((bad == 0)) || fail "$bad fsync'd file(s) differ"
	echo "$(grep -c . /tmp/fsynced) fsync'd files intact"
}

ktap_begin
check load_driver drv_load
check_disks probe
P=${DISK[0]:-}
check mkfs_ext4_marked make_fs
check workload_fsync_and_marks workload
check fsynced_files_read_back files_intact
check ext4_fsck_clean e2fsck -fn "/dev/$P"
check unload_driver drv_unload
check kernel_log_clean dmesg_clean
ktap_end
