#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# lab-timeout: 900
#
# aen (profile nsmgmt: one NVM subsystem, controllers nvme0 and nvme1,
# nsid 1 attached, nsid 2 detached): namespaces come and go at runtime
# through Asynchronous Event Notices alone.  While fio writes and verifies
# on nsid 1, nsid 2 is attached to nvme1 and detached again, twice, by
# Namespace Attachment commands sent through nvme0: nothing ever asks
# nvme1 to rescan, so its disk can only come and go because nvme1's
# Namespace Attribute Changed notice was handled, and the second cycle
# only works if the driver read the Changed Namespace List (which lets the
# controller report the next change) and sent a new request.  fio verifies
# on the new disk; nvme ns-rescan with nothing changed touches no disk; a
# controller reset re-arms the requests; the I/O on nsid 1 never fails.
# For cnvme also: each notice shows in the kernel log of nvme1, no disk
# appears on nvme0, and a SMART/health critical warning raised through the
# QEMU monitor is logged once per event, again after it was cleared and
# raised a second time.  The stock driver shows a namespace shared by two
# controllers as one multipath disk and does not enable SMART/health
# notices, so those checks are cnvme's only; the rest runs on both.

# The helpers below run through check "$@", which shellcheck cannot see.
# shellcheck disable=SC2317
set -euo pipefail
# shellcheck source=tests/guest/lib.sh
. "$LAB/guest/lib.sh"

BG_DIR=/tmp/aen-bg
WAIT=30		# seconds a namespace change may take to show

cntlid() { cat "/sys/class/nvme/$1/cntlid"; }
pci_of() { basename "$(readlink -f "/sys/class/nvme/$1/device")"; }

# disk_of CTRL NSID: the disk that serves NSID through CTRL.  cnvme gives
# each controller its own, CTRLnNSID; the stock driver one multipath disk
# per namespace of the subsystem, named in scan order.
disk_of() {
	if [[ $DRIVER == cnvme ]]; then
		[[ -e /sys/class/nvme/$1/$1n$2 ]] && echo "$1n$2"
		return 0
	fi
	disk_list | awk -v n="$2" '$2 == n { print $1; exit }'
}
has_disk() { [[ -n $(disk_of "$@") ]]; }
no_disk() { ! has_disk "$@"; }

two_controllers() {
	local c
	for c in nvme0 nvme1; do
		[[ -e /sys/class/nvme/$c ]] || fail "no controller $c" || return 1
		echo "$c: cntlid $(cntlid "$c"), $(pci_of "$c"), state $(cat "/sys/class/nvme/$c/state")"
	done
	[[ $(cntlid nvme0) != "$(cntlid nvme1)" ]] || fail "both controllers have cntlid $(cntlid nvme0)"
}

nsid1_ready() {
	NS1=$(disk_of nvme0 1)
	[[ -n $NS1 ]] || fail "no disk of nsid 1 through nvme0" || return 1
	no_disk nvme1 2 || fail "nsid 2 has a disk before it was attached" || return 1
	echo "nsid 1: $NS1"
}

# Write and verify 16 MiB over and over until told to stop; the last
# line of $BG_DIR/status says how it went.
bg_io_loop() {
	local n=0
	while [[ ! -e $BG_DIR/stop ]]; do
		if ! fio_verify "$1" --rw=randwrite --bs=4k --iodepth=8 --size=16m \
			>>"$BG_DIR/log" 2>&1; then
			echo "failed in round $((n + 1))" >>"$BG_DIR/status"
			return 1
		fi
		n=$((n + 1))
		echo "ok $n" >>"$BG_DIR/status"
	done
}

bg_io_start() {
	rm -rf "$BG_DIR"
	mkdir -p "$BG_DIR"
	[[ -b /dev/$NS1 ]] || fail "no /dev/$NS1" || return 1
	IOS_BEFORE=$(disk_ios "$NS1")
	bg_io_loop "$NS1" &
	BG_PID=$!
	poll "$WAIT" disk_busy_since "$NS1" "$IOS_BEFORE" ||
		fail "fio does not get going on $NS1"
}

disk_busy_since() { (($(disk_ios "$1") > $2)); }

bg_io_stop() {
	local rc=0 last
	[[ -n ${BG_PID:-} ]] || fail "fio never started" || return 1
	touch "$BG_DIR/stop"
	wait "$BG_PID" || rc=$?
	last=$(tail -n 1 "$BG_DIR/status" 2>/dev/null || echo "no status")
	echo "background fio on $NS1: $last, $(($(disk_ios "$NS1") - IOS_BEFORE)) I/Os"
	if ((rc != 0)) || [[ $last != ok* ]]; then
		tail -n 30 "$BG_DIR/log"
		fail "fio on $NS1 failed while namespaces changed: $last"
	fi
}

# The background fio is still running (it has not failed meanwhile).
bg_io_alive() {
	kill -0 "$BG_PID" 2>/dev/null || fail "background fio ended early: $(tail -n 1 "$BG_DIR/status")"
}

attach_ns2() {
	local t=$SECONDS
	nvme attach-ns /dev/nvme0 -n 2 -c "$(cntlid nvme1)" || fail "attach-ns failed" || return 1
	poll "$WAIT" has_disk nvme1 2 ||
		fail "no disk for nsid 2 within $WAIT s of attaching it to nvme1 (no rescan was asked for)" ||
		return 1
	echo "$(disk_of nvme1 2) appeared after $((SECONDS - t)) s"
	bg_io_alive
}

detach_ns2() {
	local t=$SECONDS
	nvme detach-ns /dev/nvme0 -n 2 -c "$(cntlid nvme1)" || fail "detach-ns failed" || return 1
	poll "$WAIT" no_disk nvme1 2 ||
		fail "the disk of nsid 2 is still there $WAIT s after the detachment" || return 1
	echo "the disk of nsid 2 went away after $((SECONDS - t)) s"
	bg_io_alive
}

io_ns2() {
	local d
	d=$(disk_of nvme1 2)
	fio_verify "$d" --rw=randwrite --bsrange=512-128k --mem_align=512 --iodepth=8 --size=16m
}

# cnvme: the disk of nsid 2 belongs to nvme1 only.
only_on_nvme1() {
	[[ -e /sys/class/nvme/nvme1/nvme1n2 ]] || fail "nsid 2 is not nvme1n2" || return 1
	[[ ! -e /sys/class/nvme/nvme0/nvme0n2 ]] || fail "nvme0 got a disk for nsid 2 as well"
}

# cnvme: nvme1 logged each of its notices, naming the namespace.
notices_logged() { # COUNT
	local n
	n=$(dmesg_since | grep -c "$(pci_of nvme1): namespace attributes changed: nsid 2$" || true)
	dmesg_since | grep 'namespace attributes changed' || true
	((n == $1)) || fail "expected $1 namespace notices from nvme1, found $n"
}

# name major:minor of every NVMe disk, for before/after comparisons.
disk_ids() {
	local d
	for d in /sys/block/nvme*; do
		[[ -e $d/dev ]] && echo "${d##*/} $(<"$d/dev") $(<"$d/size")"
	done
	return 0
}

rescan_changes_nothing() {
	local before after
	before=$(disk_ids)
	nvme ns-rescan /dev/nvme0 || fail "ns-rescan /dev/nvme0 failed" || return 1
	nvme ns-rescan /dev/nvme1 || fail "ns-rescan /dev/nvme1 failed" || return 1
	udevadm settle --timeout=60 || true
	after=$(disk_ids)
	echo "disks before: $before"
	echo "disks after:  $after"
	[[ $before == "$after" ]] || fail "ns-rescan with nothing changed changed the disks" || return 1
	bg_io_alive
}

reset_nvme1() {
	echo 1 >/sys/class/nvme/nvme1/reset_controller || fail "reset of nvme1 failed" || return 1
	poll "$WAIT" grep -qx live /sys/class/nvme/nvme1/state ||
		fail "nvme1 is $(cat /sys/class/nvme/nvme1/state) after the reset"
}

# cnvme: a SMART/health critical warning raised on controller c0 (QEMU's
# smart_critical_warning property) gives one warning line per event.
smart_lines() {
	dmesg_since | grep -c 'SMART/health event .*critical warning 0x1 (available spare below threshold)' || true
}

smart_at_least() { (($(smart_lines) >= $1)); }

smart_event() { # EXPECTED-LINES
	host_monitor "qom-set /machine/peripheral/c0 smart_critical_warning 1" || return 1
	poll "$WAIT" smart_at_least "$1" ||
		fail "no SMART/health warning within $WAIT s" || return 1
	dmesg_since | grep 'SMART/health' || true
	(($(smart_lines) == $1)) || fail "expected $1 SMART/health warning line(s), found $(smart_lines)"
}

smart_clear() {
	host_monitor "qom-set /machine/peripheral/c0 smart_critical_warning 0"
}

ktap_begin
check load_driver drv_load
check two_controllers two_controllers
check nsid1_disk nsid1_ready
check fio_running_nsid1 bg_io_start

for cycle in 1 2; do
	check "attach_shows_disk_$cycle" attach_ns2
	check "io_attached_ns_$cycle" io_ns2
	if [[ $DRIVER == cnvme ]]; then
		check "attached_to_nvme1_only_$cycle" only_on_nvme1
	fi
	check "detach_removes_disk_$cycle" detach_ns2
done
if [[ $DRIVER == cnvme ]]; then
	check notices_logged notices_logged 4
fi

check ns_rescan_unchanged rescan_changes_nothing
# The reset is logged (cnvme); nothing else may be.
if [[ $DRIVER == cnvme ]]; then expect_log ': resetting controller$' 1; fi
check reset_nvme1 reset_nvme1
check attach_after_reset attach_ns2
check detach_after_reset detach_ns2
check fio_nsid1_verified bg_io_stop

if [[ $DRIVER == cnvme ]]; then
	check smart_warning_logged smart_event 1
	check smart_warning_cleared smart_clear
	check smart_warning_rearmed smart_event 2
fi

check unload_driver drv_unload
check unload_removes_nodes no_nodes_left
check kernel_log_clean dmesg_clean
ktap_end
