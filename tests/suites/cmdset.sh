#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# lab-timeout: 320
#
# cmdset: the NVM commands beyond read and write -- discard (Dataset
# Management, several ranges per request), Write Zeroes, flush and FUA
# exactly when the controller has a volatile write cache -- seen from the
# block layer and by reading the data back; flush and FUA are counted at
# the device (QEMU's trace of the commands it took, the FUA bit read back
# from the submission queue: with a write cache an fsync puts a flush
# after its writes, every O_DSYNC write the block layer marked REQ_FUA
# reaches the device with FUA set; without one, neither a flush nor FUA
# arrives; tests/suites/device.inc sync_at_device); ext4 with online discard and
# fstrim; xfs mkfs/mount/repair.  Discard (BLKDISCARD) and the three ways
# to zero (BLKZEROOUT, fallocate --punch-hole, fallocate --zero-range) at
# one-LBA precision: a range starting and ending at odd LBAs reads back
# zeroes, the blocks just before and after keep their data, and QEMU's
# trace shows that the device received exactly that range (slba, nlb), as
# Dataset Management or Write Zeroes (on default and lba4k, the 512 B and
# 4 KiB formats); never-written blocks read zeroes (tests/suites/device.inc;
# both drivers).  Then the two ways of describing data:
# the same fio verify jobs with sgl_threshold=0 (PRPs only) and
# sgl_threshold=1 (SGLs only), and, on the cmb profile, with the I/O
# submission queues in the controller memory buffer and without
# (use_cmb_sqes=0), across a controller reset too.  Which path the driver
# took is read from cnvme's debugfs (io_maps, cmb) and from the
# controller's own CMBMSC register; the stock driver has no such
# counters, so those points are recorded only for cnvme.

# The helpers below run through check "$@", which shellcheck cannot see.
# shellcheck disable=SC2317
set -euo pipefail
# shellcheck source=tests/guest/lib.sh
. "$LAB/guest/lib.sh"
# shellcheck source=tests/suites/device.inc
. "$LAB/suites/device.inc"

MNT=/mnt

# fill DISK OFFSET_MiB LEN_MiB: random data, so zeroes afterwards prove
# that something really cleared it.
fill() {
	dd if=/dev/urandom of="/dev/$1" bs=1M seek="$2" count="$3" oflag=direct \
		status=none || fail "dd to /dev/$1 failed"
}

# is_zero DISK OFFSET_MiB LEN_MiB
is_zero() {
	local sum zero
	sum=$(dd if="/dev/$1" bs=1M skip="$2" count="$3" iflag=direct status=none |
		sha256sum | cut -d' ' -f1)
	zero=$(head -c $(($3 << 20)) /dev/zero | sha256sum | cut -d' ' -f1)
	[[ $sum == "$zero" ]] || fail "$3 MiB at $2 MiB of $1 is not all zeroes"
}

not_zero() {
	if is_zero "$@" >/dev/null 2>&1; then
		fail "$3 MiB at $2 MiB of $1 reads as zeroes"
	fi
	return 0
}

limits() {
	local q=/sys/block/$1/queue f
	for f in max_discard_segments discard_max_hw_bytes discard_granularity \
		write_zeroes_max_bytes write_cache fua max_hw_sectors_kb; do
		echo "$f: $(cat "$q/$f" 2>/dev/null || echo missing)"
	done
	(($(<"$q/discard_max_hw_bytes") > 0)) || fail "discard not advertised" || return 1
	(($(<"$q/max_discard_segments") > 1)) || fail "only one discard range per request" || return 1
	(($(<"$q/write_zeroes_max_bytes") > 0)) || fail "write zeroes not advertised"
}

discard_merges() { awk '{ print $13 }' "/sys/block/$1/stat"; }

# Separate ranges: each must read as zeroes afterwards, the gaps must keep
# their data.
discard_ranges() {
	fill "$1" 0 12 || return 1
	blkdiscard -o $((1 << 20)) -l $((2 << 20)) "/dev/$1" || fail "blkdiscard failed" || return 1
	blkdiscard -o $((5 << 20)) -l $((1 << 20)) "/dev/$1" || fail "blkdiscard failed" || return 1
	blkdiscard -o $((8 << 20)) -l $((3 << 20)) "/dev/$1" || fail "blkdiscard failed" || return 1
	is_zero "$1" 1 2 && is_zero "$1" 5 1 && is_zero "$1" 8 3 || return 1
	not_zero "$1" 0 1 && not_zero "$1" 3 2 && not_zero "$1" 6 2 && not_zero "$1" 11 1
}

# lba_kept DISK BYTE: the one logical block at BYTE still holds data (the
# random fill), checked at LBA precision: a command one block too long
# clears just that block, which a MiB-sized check would not notice.
# (A byte count, not "tr -d '\0' | head -c 1" in a command substitution,
# which drops a newline: one block in 255 whose first non-zero byte is
# 0x0a read as zeroes.)
lba_kept() {
	local lbs n
	lbs=$(<"/sys/block/$1/queue/logical_block_size")
	n=$(dd if="/dev/$1" bs="$lbs" skip=$(($2 / lbs)) count=1 iflag=direct status=none |
		tr -d '\0' | wc -c)
	((n > 0)) || fail "the block at byte $2 of $1 (LBA $(($2 / lbs))) reads as zeroes"
}

write_zeroes() {
	local lbs
	lbs=$(<"/sys/block/$1/queue/logical_block_size")
	fill "$1" 16 8 || return 1
	blkdiscard -z -o $((17 << 20)) -l $((6 << 20)) "/dev/$1" ||
		fail "blkdiscard -z failed" || return 1
	is_zero "$1" 17 6 && not_zero "$1" 16 1 && not_zero "$1" 23 1 || return 1
	# The blocks right before and right after the range.
	lba_kept "$1" $(((17 << 20) - lbs)) && lba_kept "$1" $((23 << 20))
}

# Interleaved files: deleting every other one frees non-adjacent extents.
interleave() { # DIR
	local i
	for ((i = 0; i < 32; i++)); do
		head -c 256K /dev/urandom >"$1/drop$i"
		head -c 256K /dev/urandom >"$1/keep$i"
		sync
	done
	sha256sum "$1"/keep* >/tmp/keep.sha
}

# "start length" in 512-byte sectors of every extent of the drop files.
drop_extents() { # DIR
	local f
	for f in "$1"/drop*; do
		xfs_bmap "$f" | awk -F'[:.]+' 'NF >= 5 && $4 != " hole" {
			gsub(/ /, "", $4); gsub(/ /, "", $5); print $4, $5 - $4 + 1 }'
	done
	[[ -n $(xfs_bmap "$1/drop0") ]] || fail "xfs_bmap gave nothing"
}

# Every range of every merged request was deallocated, not just the first.
dropped_read_zeroes() { # DISK, extents on stdin
	local start len n=0 bad=0
	while read -r start len; do
		n=$((n + 1))
		# Byte offsets: a 4 KiB-format disk refuses 512-byte direct reads,
		# and the extents are whole filesystem blocks.
		dd if="/dev/$1" of=/tmp/extent bs=64k skip=$((start * 512)) count=$((len * 512)) \
			iflag=direct,skip_bytes,count_bytes status=none ||
			fail "reading sectors $start+$len failed" || return 1
		(($(stat -c %s /tmp/extent) == len * 512)) ||
			fail "short read of sectors $start+$len" || return 1
		cmp -s -n $((len * 512)) /tmp/extent /dev/zero || bad=$((bad + 1))
	done
	echo "$n extents of deleted files, $bad not zeroed"
	((n > 1)) || fail "found no extents to check" || return 1
	((bad == 0)) || fail "$bad discarded extent(s) still hold data"
}

kept_intact() { # FSTYPE DISK
	mount -t "$1" -o ro "/dev/$2" "$MNT" || fail "remount failed" || return 1
	sha256sum -c --quiet /tmp/keep.sha || { umount "$MNT"; fail "kept files changed"; return 1; }
	umount "$MNT" || fail "umount failed"
}

ext4_discard() {
	mkfs.ext4 -q -F -E nodiscard "/dev/$1" 256M || fail "mkfs.ext4 failed" || return 1
	mount -t ext4 -o discard "/dev/$1" "$MNT" || fail "mount -o discard failed" || return 1
	interleave "$MNT"
	rm "$MNT"/drop*
	sync
	fstrim -v "$MNT" || { umount "$MNT"; fail "fstrim failed"; return 1; }
	umount "$MNT" || fail "umount failed" || return 1
	kept_intact ext4 "$1" || return 1
	e2fsck -fn "/dev/$1"
}

# XFS discards the extents freed by a log checkpoint inside one plug, so
# the block layer merges the non-adjacent discards into requests of
# several ranges (counted as discard merges); the driver must send each as
# one Dataset Management command carrying every range.
xfs_discard() {
	local before after
	mkfs.xfs -q -f -K "/dev/$1" || fail "mkfs.xfs failed" || return 1
	mount -t xfs -o discard "/dev/$1" "$MNT" || fail "mount xfs failed" || return 1
	interleave "$MNT"
	drop_extents "$MNT" >/tmp/drop.extents || { umount "$MNT"; return 1; }
	before=$(discard_merges "$1")
	rm "$MNT"/drop*
	sync
	umount "$MNT" || fail "umount failed" || return 1
	after=$(discard_merges "$1")
	echo "discard merges while deleting: $before -> $after"
	((after > before)) || fail "no multi-range discard request was formed" || return 1
	dropped_read_zeroes "$1" </tmp/drop.extents || return 1
	kept_intact xfs "$1" || return 1
	xfs_repair -n "/dev/$1" || fail "xfs_repair -n found problems"
}

# The controller's debugfs directory (cnvme only).
dbg_dir() {
	local pci
	pci=$(first_nvme_pci) || return 1
	echo "/sys/kernel/debug/cnvme/${pci##*/}"
}

# dbg_field FILE KEY: the value after KEY in a debugfs file of cnvme.
dbg_field() {
	local f
	f=$(dbg_dir)/$1
	[[ -r $f ]] || fail "no $f" || return 1
	awk -v k="$2" '$1 == k { print $2; found = 1 } END { exit !found }' "$f" ||
		fail "no '$2' in $f"
}

# reload PARAM=VALUE...: the driver again with other parameters; the
# profile's disks must come back.
reload() {
	drv_unload || return 1
	drv_load "$@" || return 1
	wait_disks 30 || return 1
	P=${DISK[0]:-}
	echo "loaded with: $*; disk $P"
}

# The verify jobs every data path must pass: mixed sizes at 512-byte
# buffer offsets (first segment not page aligned), large multi-segment
# requests, and two queues at once.
map_verify() { # DISK LBS
	fio_verify "$1" --rw=randwrite --bsrange="$2-256k" --mem_align=512 		--iodepth=16 --offset=0 --size=32m || return 1
	fio_verify "$1" --rw=write --bs=1m --mem_align=512 --iodepth=4 		--offset=64m --size=32m || return 1
	fio_verify "$1" --rw=randwrite --bs=16k --iodepth=16 --numjobs=2 		--cpus_allowed=0-1 --cpus_allowed_policy=split 		--offset=128m --offset_increment=16m --size=8m
}

# Counters of io_maps before and after map_verify: every block I/O
# command of the run went out the way WANT (sgl or prp) says, and none
# the other way, since the driver loaded.
map_path() { # WANT DISK LBS
	local want=$1 other sgls b0 b1 o1
	other=$([[ $want == sgl ]] && echo prp || echo sgl)
	sgls=$(dbg_field io_maps sgls_supported) || return 1
	[[ $want == prp || $sgls != 0 ]] || fail "controller reports no SGL support (SGLS $sgls)" || return 1
	b0=$(dbg_field io_maps "block_$want") || return 1
	map_verify "$2" "$3" || return 1
	b1=$(dbg_field io_maps "block_$want") || return 1
	o1=$(dbg_field io_maps "block_$other") || return 1
	echo "block I/O commands: $want $b0 -> $b1, $other $o1 (SGLS $sgls)"
	((b1 - b0 >= 100)) || fail "only $((b1 - b0)) $want commands during the verify jobs" || return 1
	((o1 == 0)) || fail "$o1 block I/O command(s) used ${other^^}s"
}

# The same verify jobs without the counters (the stock driver).
map_verify_only() { map_verify "$@"; }

# BAR of the first controller holding ADDR (hex), from sysfs.
addr_in_bar() { # ADDR
	local pci a=$(($1)) start end i=0
	pci=$(first_nvme_pci) || return 1
	while read -r start end _; do
		if ((start != 0 && a >= start && a <= end)); then
			echo "BAR$i"
			return 0
		fi
		i=$((i + 1))
	done <"$pci/resource"
	fail "address $1 is in no BAR of ${pci##*/}"
}

# SQs in the CMB: every I/O SQ listed as "cmb" at an address inside a BAR
# of the controller other than the register BAR, and the controller's
# CMBMSC has the memory space enabled (CRE, CMSE) at the CMB's base.
sqs_in_cmb() {
	local dir bus msc bar n=0 sq where addr
	dir=$(dbg_dir) || return 1
	cat "$dir/cmb"
	bus=$(dbg_field cmb cmb_bus) || return 1
	msc=$(dbg_field cmb cmbmsc) || return 1
	((bus != 0)) || fail "no CMB mapped for SQs" || return 1
	((((msc & 3) == 3) && ((msc & ~0xfff) == bus))) ||
		fail "CMBMSC $msc does not enable the CMB at $bus" || return 1
	while read -r sq where addr; do
		[[ $where == cmb ]] || fail "$sq is in $where memory" || return 1
		bar=$(addr_in_bar "$addr") || return 1
		[[ $bar != BAR0 ]] || fail "$sq at $addr is in the register BAR" || return 1
		n=$((n + 1))
	done < <(grep '^sq' "$dir/cmb")
	((n > 0)) || fail "no I/O SQ listed" || return 1
	echo "$n I/O SQs in the CMB"
	dmesg_since | grep -q 'submission queues in the controller memory buffer' ||
		fail "no kernel log line about SQs in the CMB"
}

# use_cmb_sqes=0: every SQ in host memory, the CMB memory space off.
sqs_in_host() {
	local dir msc n=0 sq where
	dir=$(dbg_dir) || return 1
	cat "$dir/cmb"
	msc=$(dbg_field cmb cmbmsc) || return 1
	(((msc & 2) == 0)) || fail "CMBMSC $msc has the CMB memory space enabled" || return 1
	while read -r sq where _; do
		[[ $where == host ]] || fail "$sq is in $where memory" || return 1
		n=$((n + 1))
	done < <(grep '^sq' "$dir/cmb")
	((n > 0)) || fail "no I/O SQ listed"
}

ktap_begin

# The one-LBA edges belong to the two block sizes, 512 B (default) and
# 4 KiB (lba4k); the other profiles change how data moves, not where a
# range ends, and the edges cost most of a minute each boot.
EDGES=0
[[ $PROFILE != default && $PROFILE != lba4k ]] || EDGES=1

# The device's trace of queue creation, for reading Write Zeroes and FUA
# writes back from the submission queues.
check trace_sq_creation sq_trace_begin
check load_driver drv_load
check_disks probe
P=${DISK[0]:-}
CACHE=$(expect_field 0 4)

check discard_limits limits "$P"
LBS=$(expect_field 0 3)
# Before anything else writes: the region at 600 MiB was never written.
check never_written_reads_zeroes never_written "$P" "$LBS" $(((600 << 20) / LBS))
check dlfeat_deallocated_reads_zeroes dlfeat_reads_zeroes "$P"
EDGE_MIB=40
for op in discard zeroout punch zerorange; do
	((EDGES)) || break
	check "${op}_exact_lba_range" edge_case "$P" "$LBS" "$op" $(((EDGE_MIB << 20) / LBS))
	EDGE_MIB=$((EDGE_MIB + 1))
done
check discard_ranges_read_zeroes discard_ranges "$P"
check write_zeroes_read_zeroes write_zeroes "$P"
check flush_fua_match_write_cache sync_at_device "$P" "$CACHE"
check ext4_online_discard_fstrim ext4_discard "$P"
check xfs_multirange_discard xfs_discard "$P"

# cnvme_only NAME COMMAND...: a point that reads cnvme's debugfs.
cnvme_only() {
	if [[ $DRIVER == cnvme ]]; then
		check "$@"
	else
		echo "# $1: not checked, the stock driver has no such counters"
	fi
}

# The default load: on the cmb profile its SQs must be in the CMB.
if [[ $PROFILE == cmb ]]; then
	cnvme_only cmb_sqs_in_cmb sqs_in_cmb
fi

check reload_sgl_threshold_0 reload sgl_threshold=0
if [[ $DRIVER == cnvme ]]; then
	check prp_only_verify map_path prp "$P" "$LBS"
else
	check prp_only_verify map_verify_only "$P" "$LBS"
fi
check reload_sgl_threshold_1 reload sgl_threshold=1
if [[ $DRIVER == cnvme ]]; then
	check sgl_only_verify map_path sgl "$P" "$LBS"
else
	check sgl_only_verify map_verify_only "$P" "$LBS"
fi

if [[ $PROFILE == cmb ]]; then
	# SGLs and CMB SQs together, then across a controller reset.
	cnvme_only cmb_sqs_with_sgls sqs_in_cmb
	# The reset is logged (cnvme); nothing else may be.
	if [[ $DRIVER == cnvme ]]; then expect_log ': resetting controller$' 1; fi
	check cmb_reset ctrl_reset
	check cmb_verify_after_reset map_verify "$P" "$LBS"
	cnvme_only cmb_sqs_after_reset sqs_in_cmb
	check reload_no_cmb_sqes reload use_cmb_sqes=0
	cnvme_only cmb_sqs_in_host sqs_in_host
	check no_cmb_verify map_verify "$P" "$LBS"
fi

check unload_driver drv_unload
check kernel_log_clean dmesg_clean
ktap_end
