#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# lab-timeout: 220
#
# basic: the driver finds every disk the profile defines with the right
# nsid, size, LBA size and cache mode; moves data correctly (fio
# write+verify with mixed sizes and buffer offsets, requests beyond MDTS,
# two queues at once); carries ext4; leaves nothing behind on unload and
# finds the same data after a reload; and the kernel log stays clean.
# On nowc (write cache off) the user switches the controller's volatile
# write cache on and off again with Set Features: the disk must follow
# (write back, and fsync then sends a flush and O_DSYNC writes carry FUA,
# both counted at the device; write through again, cnvme only, as stock
# reports write back throughout, and then neither reaches the device),
# also across a controller reset.  On mdts0 (no transfer limit) the driver is loaded again with
# sgl_threshold=0, max_sectors_kb is raised to 4096, and QEMU's trace
# shows 4 MiB writes and reads reaching the device as single commands
# mapped by PRPs (1024 entries, the list chained across pages;
# tests/suites/device.inc, both drivers).  Flushes and FUA are counted at
# the device: QEMU's trace of the commands it took (a flush is opcode 0x0),
# and the FUA bit of each O_DSYNC write read back from the submission queue
# the device fetched it from (tests/suites/device.inc, sync_at_device);
# the block layer's count (block_rq_issue) is a cross-check.  QEMU 7.2's
# "info blockstats" does not count NVMe flushes (flush_operations stays 0).

# The helpers below run through check "$@", which shellcheck cannot see.
# shellcheck disable=SC2317
set -euo pipefail
# shellcheck source=tests/guest/lib.sh
. "$LAB/guest/lib.sh"
# shellcheck source=tests/suites/device.inc
. "$LAB/suites/device.inc"

MNT=/mnt

ext4_mkfs() {
	[[ -b /dev/$1 ]] || fail "no block device '/dev/$1'" || return 1
	# 256 MiB leaves the end of the disk for the raw region.
	mkfs.ext4 -q -F "/dev/$1" 256M || fail "mkfs.ext4 failed"
}

ext4_write() {
	mount -t ext4 "/dev/$1" "$MNT" || fail "mount failed" || return 1
	head -c 8M /dev/urandom >"$MNT/data"
	sha256sum <"$MNT/data" | cut -d' ' -f1 >/tmp/ext4.sha
	umount "$MNT" || fail "umount failed" || return 1
	echo "wrote 8 MiB file, sha256 $(</tmp/ext4.sha)"
}

# Mount afresh (umount dropped the cached pages) and compare.
ext4_verify() {
	local sum
	[[ -s /tmp/ext4.sha ]] || fail "nothing was written" || return 1
	mount -t ext4 -o ro "/dev/$1" "$MNT" || fail "mount failed" || return 1
	sum=$(sha256sum <"$MNT/data" | cut -d' ' -f1) || sum=unreadable
	umount "$MNT" || fail "umount failed" || return 1
	echo "read back sha256 $sum"
	[[ $sum == "$(</tmp/ext4.sha)" ]] || fail "file content differs"
}

# DMA really goes through the IOMMU: translated domain, not identity.
write_cache_is() { # DISK "write back"|"write through"
	local wc
	wc=$(<"/sys/block/$1/queue/write_cache")
	echo "$1: $wc"
	[[ $wc == "$2" ]] || fail "$1 reports '$wc', expected '$2'"
}

# fsync and O_DSYNC writes on DISK reach the device with a flush and FUA
# exactly when SHOULD is 1 (tests/suites/device.inc, sync_at_device).
fsync_flushes() { # DISK SHOULD
	if (($2)); then sync_at_device "$1" wb; else sync_at_device "$1" wt; fi
}

vwc_set() { # CTRL VALUE
	nvme set-feature "/dev/$1" -f 6 -v "$2" || fail "Set Features (Volatile Write Cache) = $2 failed" || return 1
	nvme get-feature "/dev/$1" -f 6 || true
}

# Set Features (Volatile Write Cache) by the user: the disk follows at once.
vwc_switch() { # CTRL DISK
	if [[ $DRIVER == cnvme ]]; then
		write_cache_is "$2" "write through" || return 1
		fsync_flushes "$2" 0 || return 1
	fi
	vwc_set "$1" 1 || return 1
	write_cache_is "$2" "write back" || return 1
	fsync_flushes "$2" 1 || return 1
	# The controller keeps the setting across a reset; so must the disk.
	ctrl_reset || return 1
	write_cache_is "$2" "write back" || return 1
	fsync_flushes "$2" 1 || return 1
	vwc_set "$1" 0 || return 1
	if [[ $DRIVER == cnvme ]]; then
		write_cache_is "$2" "write through" || return 1
		fsync_flushes "$2" 0
	fi
}

# The profile's setting (off) comes back whatever happened: the reload
# below expects it.
vwc_follows_set_feature() { # DISK
	local ctrl rc=0
	ctrl=$(basename "$(compgen -G "$(first_nvme_pci)/nvme/nvme*" | head -n 1)")
	[[ -c /dev/$ctrl ]] || fail "no controller node for $1" || return 1
	vwc_switch "$ctrl" "$1" || rc=1
	nvme set-feature "/dev/$ctrl" -f 6 -v 0 >/dev/null || true
	return "$rc"
}

iommu_active() {
	local d type
	for d in $(nvme_pci_devices); do
		type=$(cat "$d/iommu_group/type" 2>/dev/null) || type=none
		echo "${d##*/}: iommu domain $type"
		[[ $type == DMA || $type == DMA-FQ ]] || fail "${d##*/} is not translated" || return 1
	done
}

# pci=nomsi: every controller has no MSI or MSI-X vector and takes its
# interrupts on its INTx line, through the IO-APIC, and that line has
# fired (the fio runs before this check completed through it).
intx_used() {
	local d irq line
	for d in $(nvme_pci_devices); do
		! compgen -G "$d/msi_irqs/*" >/dev/null ||
			fail "${d##*/} has MSI vectors: $(cd "$d/msi_irqs" && echo *)" || return 1
		irq=$(<"$d/irq")
		line=$(grep -E "^ *$irq:" /proc/interrupts) ||
			fail "${d##*/}: IRQ $irq is not in /proc/interrupts" || return 1
		echo "${d##*/}: $line"
		[[ $line == *IO-APIC* ]] || fail "${d##*/}: IRQ $irq is not an IO-APIC line" || return 1
		awk '{ n = 0; for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) n += $i; exit !(n > 0) }' <<<"$line" ||
			fail "${d##*/}: no interrupt on IRQ $irq" || return 1
	done
}

# intx_count: interrupts so far on the pin of every NVMe function, and
# disk_ios DISK: the requests it completed (reads, writes, discards,
# flushes).
intx_count() {
	local d n=0 irq
	for d in $(nvme_pci_devices); do
		irq=$(<"$d/irq")
		n=$((n + $(awk -v irq="$irq:" '$1 == irq {
			for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) n += $i; print n + 0 }' /proc/interrupts)))
	done
	echo "$n"
}
disk_ios() { awk '{ print $1 + $5 + $12 + $15 }' "/sys/block/$1/stat"; }

# A level-triggered pin drops only when the controller learns that a CQ
# is empty; a driver that leaves it up over an empty queue takes
# interrupts that find nothing, thousands a second, until the kernel
# disables the line ("nobody cared").  Each completion may raise the pin
# once; 16 more allow for admin commands.
intx_no_storm() { # DISK IRQS_BEFORE IOS_BEFORE
	local irqs ios
	irqs=$(($(intx_count) - $2))
	ios=$(($(disk_ios "$1") - $3))
	echo "$irqs interrupts for $ios completed requests"
	((ios > 0)) || fail "no request completed" || return 1
	((irqs <= ios + 16)) || fail "$irqs interrupts for $ios requests: interrupts that found no completion"
}

ktap_begin

# The device's trace of queue creation, for reading FUA writes back from
# the submission queues (nowc's runtime switch of the write cache).
if [[ $PROFILE == nowc ]]; then
	check trace_sq_creation sq_trace_begin
fi
check load_driver drv_load
check_disks probe
P=${DISK[0]:-}
LBS=$(expect_field 0 3)
BYTES=$(expect_field 0 2)

if [[ -n ${EXPECT_IOMMU:-} ]]; then
	check iommu_translates iommu_active
fi

if [[ ${EXPECT_IRQ:-} == intx ]]; then
	IRQS0=$(intx_count)
	IOS0=$(disk_ios "$P")
fi
# Mixed sizes from one LBA to 256 KiB, buffers at 512-byte offsets within
# pages (PRP1 offset handling).
check fio_mixed_sizes fio_verify "$P" --rw=randwrite --bsrange="$LBS-256k" \
	--mem_align=512 --iodepth=16 --offset=0 --size=32m
# 4 MiB requests exceed any MDTS the profiles set: the driver must split.
check fio_4m_requests fio_verify "$P" --rw=write --bs=4m --mem_align=512 \
	--iodepth=4 --offset=64m --size=32m
# One job pinned to each vCPU, so two submission queues work at once.
check fio_two_queues fio_verify "$P" --rw=randwrite --bs=4k --iodepth=16 \
	--numjobs=2 --cpus_allowed=0-1 --cpus_allowed_policy=split \
	--offset=128m --offset_increment=16m --size=8m
for ((i = 1; i < ${#EXPECTED[@]}; i++)); do
	check "fio_disk$i" fio_verify "${DISK[i]:-}" --rw=randwrite \
		--bsrange="$(expect_field "$i" 3)-64k" --mem_align=512 --iodepth=8 --size=8m
done

if [[ $PROFILE == nowc ]]; then
	# Its controller reset is logged (cnvme); nothing else may be.
	if [[ $DRIVER == cnvme ]]; then expect_log ': resetting controller$' 1; fi
	check vwc_follows_set_feature vwc_follows_set_feature "$P"
fi

if [[ ${EXPECT_IRQ:-} == intx ]]; then
	check interrupts_on_intx intx_used
	check intx_no_interrupt_storm intx_no_storm "$P" "$IRQS0" "$IOS0"
fi

check ext4_mkfs ext4_mkfs "$P"
check ext4_write_file ext4_write "$P"
check ext4_remount_same_data ext4_verify "$P"
check ext4_fsck_clean e2fsck -fn "/dev/$P"
# The last 4 MiB of the disk: also exercises the final LBAs.
RAW_AT=$((BYTES - (4 << 20)))
check raw_write_disk_end raw_write "$P" "$RAW_AT" 4 /tmp/raw.sha

check unload_driver drv_unload
check unload_removes_nodes no_nodes_left

check reload_driver drv_load
check_disks reload
P=${DISK[0]:-}
check reload_ext4_same_data ext4_verify "$P"
check reload_ext4_fsck_clean e2fsck -fn "/dev/$P"
check reload_raw_same_data raw_verify "$P" "$RAW_AT" 4 /tmp/raw.sha

if [[ $PROFILE == mdts0 ]]; then
	prp_reload() {
		drv_unload || return 1
		drv_load sgl_threshold=0 || return 1
		wait_disks 30 || return 1
		P=${DISK[0]:-}
	}
	check reload_sgl_threshold_0 prp_reload
	check one_4m_command_prp_list prp_chain "$P" "$LBS"
fi

check kernel_log_clean dmesg_clean
ktap_end
