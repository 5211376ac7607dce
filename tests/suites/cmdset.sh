#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# lab-timeout: 600
#
# cmdset: the NVM commands beyond read and write -- discard (Dataset
# Management, several ranges per request), Write Zeroes, flush and FUA
# exactly when the controller has a volatile write cache -- seen from the
# block layer and by reading the data back; ext4 with online discard and
# fstrim; xfs mkfs/mount/repair.

# The helpers below run through check "$@", which shellcheck cannot see.
# shellcheck disable=SC2317
set -euo pipefail
# shellcheck source=tests/guest/lib.sh
. "$LAB/guest/lib.sh"

MNT=/mnt
TRACE=/sys/kernel/tracing

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

write_zeroes() {
	fill "$1" 16 8 || return 1
	blkdiscard -z -o $((17 << 20)) -l $((6 << 20)) "/dev/$1" ||
		fail "blkdiscard -z failed" || return 1
	is_zero "$1" 17 6 && not_zero "$1" 16 1 && not_zero "$1" 23 1
}

# Count the requests of a kind the block layer issues to the driver while
# COMMAND runs.  KIND is an awk regex on the rwbs field.
trace_count() { # DISK KIND COMMAND...
	local disk=$1 kind=$2 devt n
	shift 2
	devt=$(<"/sys/block/$disk/dev")
	mountpoint -q "$TRACE" || mount -t tracefs nodev "$TRACE"
	echo 0 >"$TRACE/tracing_on"
	: >"$TRACE/trace"
	echo "dev == $(((${devt%:*} << 20) | ${devt#*:}))" \
		>"$TRACE/events/block/block_rq_issue/filter"
	echo 1 >"$TRACE/events/block/block_rq_issue/enable"
	echo 1 >"$TRACE/tracing_on"
	"$@" >/dev/null 2>&1 || true
	echo 0 >"$TRACE/tracing_on"
	echo 0 >"$TRACE/events/block/block_rq_issue/enable"
	n=$(awk -v k="$kind" '/block_rq_issue/ { for (i = 1; i <= NF; i++)
		if ($i ~ /^[0-9]+,[0-9]+$/) { if ($(i + 1) ~ k) c++; break } }
		END { print c + 0 }' "$TRACE/trace")
	echo "$n"
}

# With a volatile write cache, fsync must send a flush and an O_DSYNC
# direct write must carry FUA; without one, neither may reach the driver.
flush_and_fua() { # DISK CACHE
	local flushes fuas
	flushes=$(trace_count "$1" '^F' dd if=/dev/urandom of="/dev/$1" bs=4k \
		count=4 seek=8192 conv=fsync status=none)
	fuas=$(trace_count "$1" '^WF' dd if=/dev/urandom of="/dev/$1" bs=4k \
		count=4 seek=8200 oflag=direct,dsync status=none)
	echo "write cache $2: $flushes flush request(s), $fuas FUA write(s)"
	if [[ $2 == wb ]]; then
		((flushes > 0)) || fail "fsync sent no flush" || return 1
		((fuas > 0)) || fail "O_DSYNC direct write carried no FUA"
	else
		((flushes == 0)) || fail "flush reached a device without a write cache" || return 1
		((fuas == 0)) || fail "FUA reached a device without a write cache"
	fi
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
		if [[ -n $(dd if="/dev/$1" bs=512 skip="$start" count="$len" iflag=direct \
			status=none | tr -d '\0' | head -c 1) ]]; then
			bad=$((bad + 1))
		fi
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

ktap_begin

check load_driver drv_load
check_disks probe
P=${DISK[0]:-}
CACHE=$(expect_field 0 4)

check discard_limits limits "$P"
check discard_ranges_read_zeroes discard_ranges "$P"
check write_zeroes_read_zeroes write_zeroes "$P"
check flush_fua_match_write_cache flush_and_fua "$P" "$CACHE"
check ext4_online_discard_fstrim ext4_discard "$P"
check xfs_multirange_discard xfs_discard "$P"
check unload_driver drv_unload
check kernel_log_clean dmesg_clean
ktap_end
