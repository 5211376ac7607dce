# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Device profiles: one function per profile, sourced by scripts/lab.sh.
# A profile adds to
#   QEMU_ARGS   devices and backing drives (raw files in $RUN_DIR)
#   KARGS       extra kernel command line arguments
#   EXPECT      the disks the guest must find, "nsid:bytes:lbs:cache",
#               first namespace first; cache is wb (volatile write cache
#               reported) or wt
#   GUEST_ENV   other facts for the suites, NAME=value
# Every controller gets a distinct serial.  PROFILES lists them in the
# order of the README table.

# shellcheck disable=SC2034 # the arrays are read by lab.sh
PROFILES=(default lba4k mdts1 mdts0 oneq multins twoctrl cmb nowc iommu swiotlb intx hotplug nons meta zoned
	slow mediaerr rootport ids nsmgmt logw)

MiB=$((1 << 20))
GiB=$((1 << 30))

# raw_disk ID BYTES: a fresh sparse raw file; discard=unmap makes
# discarded blocks read back as zeroes.
raw_disk() {
	truncate -s "$2" "$RUN_DIR/$1.img"
	QEMU_ARGS+=(-drive "file=$RUN_DIR/$1.img,if=none,id=$1,format=raw,discard=unmap")
}

expect() { EXPECT+=("$1:$2:$3:${4:-wb}"); }

# ctrl1 [NVME_PROPS [LBS [CACHE]]]: one controller, one 1 GiB namespace.
ctrl1() {
	raw_disk d0 "$GiB"
	QEMU_ARGS+=(-device "nvme,serial=lab-$PROFILE-0,drive=d0${1:+,$1}")
	expect 1 "$GiB" "${2:-512}" "${3:-wb}"
	GUEST_ENV+=(EXPECT_CTRLS=1)
}

profile_default() { ctrl1; }

profile_lba4k() { ctrl1 logical_block_size=4096,physical_block_size=4096 4096; }

# 2^1 pages: every request over 8 KiB must be split.
profile_mdts1() { ctrl1 mdts=1; }

# No transfer limit: large requests need long PRP lists.
profile_mdts0() { ctrl1 mdts=0; }

# One I/O queue pair and one MSI-X vector shared with the admin queue.
profile_oneq() {
	ctrl1 max_ioqpairs=1,msix_qsize=1
	GUEST_ENV+=(EXPECT_HWQ=1)
}

profile_multins() {
	raw_disk d1 "$GiB"
	raw_disk d2 $((512 * MiB))
	raw_disk d3 $((256 * MiB))
	QEMU_ARGS+=(-device "nvme,id=c0,serial=lab-multins-0"
		-device "nvme-ns,bus=c0,drive=d1,nsid=1"
		-device "nvme-ns,bus=c0,drive=d2,nsid=2,logical_block_size=4096,physical_block_size=4096"
		-device "nvme-ns,bus=c0,drive=d3,nsid=3")
	expect 1 "$GiB" 512
	expect 2 $((512 * MiB)) 4096
	expect 3 $((256 * MiB)) 512
	GUEST_ENV+=(EXPECT_CTRLS=1)
}

profile_twoctrl() {
	raw_disk d0 "$GiB"
	raw_disk d1 $((512 * MiB))
	QEMU_ARGS+=(-device "nvme,serial=lab-twoctrl-0,drive=d0"
		-device "nvme,serial=lab-twoctrl-1,drive=d1")
	expect 1 "$GiB" 512
	expect 1 $((512 * MiB)) 512
	GUEST_ENV+=(EXPECT_CTRLS=2)
}

# Controller memory buffer; a driver may ignore it but must not break.
profile_cmb() { ctrl1 cmb_size_mb=64; }

# Backend write cache off: every write is stable when it completes and
# Get Features (Volatile Write Cache) reads "disabled", although QEMU 7.2
# still sets VWC in Identify Controller.  The stock driver looks only at
# VWC and reports "write back"; cnvme also reads the feature and reports
# "write through", so no flush or FUA reaches the device.
profile_nowc() {
	local cache=wt
	[[ $DRIVER == stock ]] && cache=wb
	ctrl1 write-cache=off 512 "$cache"
}

# DMA through an emulated VT-d in strict mode: a DMA to an address the
# driver did not map faults.  Interrupt remapping needs a split irqchip,
# which TCG does not have, so it stays off.
profile_iommu() {
	QEMU_ARGS+=(-device "intel-iommu,intremap=off")
	ctrl1
	KARGS+=(intel_iommu=on iommu.strict=1)
	GUEST_ENV+=(EXPECT_IOMMU=1)
}

# Every DMA bounced through swiotlb, as in SEV/TDX guests.  A bounce slot
# keeps the offset within the controller page only when the driver asks
# for it (dma_set_min_align_mask), and a mapping may not exceed the
# largest slot run (dma_max_mapping_size, 256 KiB).
profile_swiotlb() {
	ctrl1
	KARGS+=(swiotlb=force)
}

# No MSI or MSI-X in the guest: the driver falls back to the legacy INTx
# pin (QEMU's NVMe controller always offers MSI-X, so the guest kernel
# refuses it).
profile_intx() {
	ctrl1
	KARGS+=(pci=nomsi)
	GUEST_ENV+=(EXPECT_IRQ=intx)
}

# Controller behind a hot-pluggable root port.  The guest unplugs it with
# "device_del nvme0" and plugs a new one in with "device_add
# $HOTPLUG_DEVICE" through the host (lib.sh host_monitor); errors injected
# at the port ($HOTPLUG_PORT, which has AER) run PCI error recovery.  The disk is a
# -blockdev node, not a -drive: QEMU deletes a -drive together with the
# device it was attached to, a node stays for the next controller, with
# the data the first one acknowledged.
profile_hotplug() {
	QEMU_ARGS+=(-device "pcie-root-port,id=rp0,slot=1,chassis=1")
	truncate -s "$GiB" "$RUN_DIR/d0.img"
	QEMU_ARGS+=(-blockdev "driver=raw,node-name=d0,discard=unmap,file.driver=file,file.filename=$RUN_DIR/d0.img"
		-device "nvme,id=nvme0,serial=lab-hotplug-0,drive=d0,bus=rp0")
	expect 1 "$GiB" 512
	GUEST_ENV+=(EXPECT_CTRLS=1 HOTPLUG_ID=nvme0 HOTPLUG_PORT=rp0
		"HOTPLUG_DEVICE=nvme,id=nvme1,serial=lab-hotplug-1,drive=d0,bus=rp0")
}

# A controller with no namespace at all.
profile_nons() {
	QEMU_ARGS+=(-device "nvme,serial=lab-nons-0")
	GUEST_ENV+=(EXPECT_CTRLS=1)
}

# nsid 1 plain, nsid 2 with 8 bytes of separate metadata per block
# (ms=8, mset=0, no protection information).
profile_meta() {
	raw_disk d1 "$GiB"
	raw_disk d2 $((256 * MiB))
	QEMU_ARGS+=(-device "nvme,id=c0,serial=lab-meta-0"
		-device "nvme-ns,bus=c0,drive=d1,nsid=1"
		-device "nvme-ns,bus=c0,drive=d2,nsid=2,ms=8,mset=0,pi=0")
	expect 1 "$GiB" 512
	GUEST_ENV+=(EXPECT_CTRLS=1 META_NSID=2)
}

# nsid 1 plain, nsid 2 zoned (Zoned Namespace command set, CSI 2; QEMU's
# default 128 MiB zones).  The stock driver makes it a host-managed zoned
# disk; cnvme has no zoned support yet and must not expose it as a plain
# disk.
profile_zoned() {
	raw_disk d1 "$GiB"
	raw_disk d2 $((256 * MiB))
	QEMU_ARGS+=(-device "nvme,id=c0,serial=lab-zoned-0"
		-device "nvme-ns,bus=c0,drive=d1,nsid=1"
		-device "nvme-ns,bus=c0,drive=d2,nsid=2,zoned=on")
	expect 1 "$GiB" 512
	GUEST_ENV+=(EXPECT_CTRLS=1 ZONED_NSID=2)
}

# A slow device: a throttle group lets SLOW_IOPS reads and writes a second
# through, so queued commands outlive a short io_timeout.
profile_slow() {
	local iops=4
	truncate -s "$GiB" "$RUN_DIR/d0.img"
	QEMU_ARGS+=(-object "throttle-group,id=tg0,x-iops-total=$iops"
		-blockdev "driver=file,node-name=f0,filename=$RUN_DIR/d0.img"
		-blockdev "driver=throttle,node-name=t0,throttle-group=tg0,file=f0"
		-device "nvme,serial=lab-slow-0,drive=t0")
	expect 1 "$GiB" 512
	GUEST_ENV+=(EXPECT_CTRLS=1 "SLOW_IOPS=$iops")
}

# Media errors: QEMU's blkdebug fails every read and write that touches one
# of BAD_SECTORS (512-byte units) with EIO; the controller reports
# Unrecovered Read Error or Write Fault for it.
profile_mediaerr() {
	local bad=(2048 100000) s
	truncate -s "$GiB" "$RUN_DIR/d0.img"
	for s in "${bad[@]}"; do
		printf '[inject-error]\nevent = "none"\nerrno = "5"\nsector = "%s"\nonce = "off"\n\n' "$s"
	done >"$RUN_DIR/blkdebug.conf"
	QEMU_ARGS+=(-drive "driver=blkdebug,config=$RUN_DIR/blkdebug.conf,image.driver=file,image.filename=$RUN_DIR/d0.img,if=none,id=d0"
		-device "nvme,serial=lab-mediaerr-0,drive=d0")
	expect 1 "$GiB" 512
	GUEST_ENV+=(EXPECT_CTRLS=1 "BAD_SECTORS=${bad[*]}")
}

# One namespace that reports a UUID and an EUI-64 (QEMU 7.2 has no NGUID
# property).  The stock driver ignores both on QEMU controllers (quirk
# NVME_QUIRK_BOGUS_NID), cnvme shows them.
NS_UUID=6e7d2a1c-0b3f-4c59-8e21-5a4f9d3c7b10
profile_ids() {
	raw_disk d1 "$GiB"
	QEMU_ARGS+=(-device "nvme,id=c0,serial=lab-ids-0"
		-device "nvme-ns,bus=c0,drive=d1,nsid=1,uuid=$NS_UUID,eui64=0x0102030405060708")
	expect 1 "$GiB" 512
	GUEST_ENV+=(EXPECT_CTRLS=1 "NS_UUID=$NS_UUID" "NS_EUI64=01 02 03 04 05 06 07 08")
}

# An NVM subsystem with two controllers and two namespaces: nsid 1 is
# attached to both, nsid 2 starts detached.  Without multipath (cnvme),
# each controller shows its own disk of nsid 1.  QEMU wants one serial for
# the controllers of a subsystem.
profile_nsmgmt() {
	raw_disk d1 $((256 * MiB))
	raw_disk d2 $((256 * MiB))
	QEMU_ARGS+=(-device "nvme-subsys,id=subsys0,nqn=lab-nsmgmt"
		-device "nvme,serial=lab-nsmgmt,subsys=subsys0,id=c0"
		-device "nvme,serial=lab-nsmgmt,subsys=subsys0,id=c1"
		-device "nvme-ns,bus=c0,drive=d1,nsid=1"
		-device "nvme-ns,bus=c0,drive=d2,nsid=2,detached=on")
	expect 1 $((256 * MiB)) 512
	expect 1 $((256 * MiB)) 512
	GUEST_ENV+=(EXPECT_CTRLS=2 SUBNQN=nqn.2019-08.org.qemu:lab-nsmgmt)
}
# The hotplug controller again, for the PCI error recovery and power
# management cases, which need a boot of their own.
profile_rootport() { profile_hotplug; }

# The namespace on QEMU's blklogwrites driver: every write, Write Zeroes,
# discard and flush the controller passes to its drive is appended to
# $RUN_DIR/d0.log in the order they complete (dm-log-writes' format), the
# data to $RUN_DIR/d0.img, which starts as zeroes.  The host replays the
# log after the boot (the crash suite's tests/host/logreplay.py).  The log
# file is sparse and large enough for a suite's writes; its unused end
# reads as zeroes, which ends the replay.
profile_logw() {
	truncate -s "$GiB" "$RUN_DIR/d0.img"
	truncate -s $((4 * GiB)) "$RUN_DIR/d0.log"
	QEMU_ARGS+=(-blockdev "driver=file,node-name=f0,filename=$RUN_DIR/d0.img"
		-blockdev "driver=file,node-name=l0,filename=$RUN_DIR/d0.log"
		-blockdev "driver=blklogwrites,node-name=d0,file=f0,log=l0,log-sector-size=512"
		-device "nvme,serial=lab-logw-0,drive=d0")
	expect 1 "$GiB" 512
	GUEST_ENV+=(EXPECT_CTRLS=1)
}
