#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# lab-timeout: 280
#
# lifecycle: the driver can be removed and brought back in every way a
# user does it -- rmmod refused while a filesystem is mounted and allowed
# after umount, unbind/bind through sysfs while idle and while I/O runs,
# and 20 load/unload cycles with verified I/O in between -- without losing
# data, leaving nodes behind, hanging a task, or a kernel warning.

# The helpers below run through check "$@", which shellcheck cannot see.
# shellcheck disable=SC2317
set -euo pipefail
# shellcheck source=tests/guest/lib.sh
. "$LAB/guest/lib.sh"

MNT=/mnt
CYCLES=${LIFECYCLE_CYCLES:-20}

pci_driver_dir() { echo "/sys/bus/pci/drivers/$(drv_module)"; }

first_bdf() {
	local d
	d=$(nvme_pci_devices | head -n 1)
	echo "${d##*/}"
}

rmmod_refused_while_mounted() {
	mount -t ext4 "/dev/$1" "$MNT" || fail "mount failed" || return 1
	if rmmod "$(drv_module)" 2>/dev/null; then
		fail "rmmod succeeded with /dev/$1 mounted"
		return 1
	fi
	echo "rmmod refused while mounted, as it must be"
	[[ -e /sys/module/$(drv_module) ]] || fail "module vanished" || return 1
	# The filesystem must still work after the refused rmmod.
	head -c 1M /dev/urandom >"$MNT/after-rmmod"
	sync
	umount "$MNT" || fail "umount failed"
}

unbind() { # BDF
	echo "$1" >"$(pci_driver_dir)/unbind" || fail "unbind $1 failed" || return 1
	poll 30 no_disks_of "$1" || fail "disks of $1 still present after unbind"
}

bind() { # BDF
	echo "$1" >"$(pci_driver_dir)/bind" || fail "bind $1 failed" || return 1
	udevadm settle --timeout=60 || true
	poll 30 match_disks || fail "disks did not come back after bind"
}

# True when no block device of the PCI function is left in sysfs.
no_disks_of() {
	! compgen -G "/sys/bus/pci/devices/$1/nvme*" >/dev/null &&
		! compgen -G "/sys/bus/pci/devices/$1/block/*" >/dev/null
}

unbind_bind_idle() {
	local bdf
	bdf=$(first_bdf)
	unbind "$bdf" || return 1
	echo "unbound $bdf: $(disk_list | wc -l) NVMe disk(s) left"
	bind "$bdf"
}

# fio writes in the background; the device is unbound under it.  fio must
# end (with errors) instead of hanging, and a rebind must work.  The unbind
# comes only once fio has completed 64 writes and the disk holds requests
# (its inflight counter), so it really happens under I/O; fio cannot finish
# its 120 s run within the 30 s allowed, so it must end with an error.
io_running() { # DISK BASE
	(($(disk_ios "$1") >= $2 + 64)) &&
		(($(awk '{ print $1 + $2 }' "/sys/block/$1/inflight") > 0))
}

unbind_during_io() {
	local bdf pid rc=0 i base
	bdf=$(first_bdf)
	base=$(disk_ios "$1")
	fio --name=busy --filename="/dev/$1" --direct=1 --ioengine=io_uring \
		--rw=randwrite --bs=4k --iodepth=32 --time_based --runtime=120 \
		--eta=never >/tmp/busy.log 2>&1 &
	pid=$!
	poll 30 io_running "$1" "$base" ||
		{ kill "$pid"; fail "fio never had I/O in flight"; return 1; }
	echo "unbinding with $(awk '{ print $1 + $2 }' "/sys/block/$1/inflight") request(s) in flight"
	unbind "$bdf" || { kill "$pid"; return 1; }
	for ((i = 0; i < 300; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -9 "$pid"
		fail "fio still running 30 s after unbind"
		return 1
	fi
	wait "$pid" || rc=$?
	echo "fio ended with status $rc after unbind"
	tail -n 3 /tmp/busy.log
	((rc != 0 && rc < 128)) ||
		fail "fio's status $rc: it must fail by itself (1), not succeed or die of a signal" ||
		return 1
	grep -qiE 'error|No such device' /tmp/busy.log ||
		fail "fio reported no error for the I/O the unbind cut short" || return 1
	bind "$bdf"
}

# One load/unload cycle with a verified write in between.
cycle() { # N
	drv_load || return 1
	poll 30 match_disks || fail "cycle $1: disks missing" || return 1
	local disk=${DISK[0]} off=$(((($1 % 8) + 1) << 20))
	raw_write "$disk" "$off" 1 "/tmp/cycle$1.sha" >/dev/null || return 1
	raw_verify "$disk" "$off" 1 "/tmp/cycle$1.sha" >/dev/null || return 1
	drv_unload || return 1
	no_nodes_left
}

load_cycles() {
	local n
	for ((n = 1; n <= CYCLES; n++)); do
		cycle "$n" || fail "cycle $n of $CYCLES failed" || return 1
	done
	echo "$CYCLES load/unload cycles with verified I/O"
}

# After all the cycles every region written still reads back.
cycles_data_intact() {
	local n
	drv_load || return 1
	poll 30 match_disks || fail "disks missing" || return 1
	# Later cycles overwrite the same eight offsets: check the last eight.
	for ((n = CYCLES > 8 ? CYCLES - 7 : 1; n <= CYCLES; n++)); do
		raw_verify "${DISK[0]}" $((((n % 8) + 1) << 20)) 1 "/tmp/cycle$n.sha" ||
			return 1
	done
}

ktap_begin

check load_driver drv_load
check_disks probe
P=${DISK[0]:-}

check mkfs_ext4 mkfs.ext4 -q -F "/dev/$P" 64M
check rmmod_refused_while_mounted rmmod_refused_while_mounted "$P"
check fsck_after_refused_rmmod e2fsck -fn "/dev/$P"
check rmmod_after_umount drv_unload
check rmmod_removes_nodes no_nodes_left

check reload_driver drv_load
check unbind_bind_idle unbind_bind_idle
check unbind_during_io unbind_during_io "$P"
check no_task_in_d_state no_d_state_tasks
check io_after_rebind fio_verify "${DISK[0]:-}" --rw=randwrite --bs=4k \
	--iodepth=16 --size=8m --offset=256m
check unload_after_rebind drv_unload

check load_unload_cycles load_cycles
check cycles_data_intact cycles_data_intact
check final_unload drv_unload
check kernel_log_clean dmesg_clean
ktap_end
