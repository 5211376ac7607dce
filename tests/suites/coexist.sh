#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# lab-timeout: 170
#
# coexist: cnvme and the stock driver in one system, one controller each
# (profile twoctrl; cnvme only, since it is about cnvme's names).
#   1. stock first: nvme drives both controllers; one is handed to cnvme
#      (unbind, driver_override, insmod).  cnvme sees nvme-core, says so
#      once and uses its private names (class cnvme, /dev/cnvme<N>,
#      cnvme<N>n<nsid>, /dev/cng<N>n<nsid>, cnvme-subsys<M>); both
#      controllers move data, neither driver logs an error; the
#      controller goes back to stock with unbind/bind.
#   2. cnvme first with private_names=1: modprobe nvme then loads and
#      drives the other controller; a controller moves from cnvme to
#      stock at runtime.
#   3. cnvme first with the stock names (the cli suite's case): modprobe
#      nvme fails with EEXIST and cnvme keeps working.  The kernel logs
#      the duplicate class name with a stack dump, so this case runs last
#      and has its own log check.

# The helpers below run through check "$@", which shellcheck cannot see.
# shellcheck disable=SC2317
set -euo pipefail
# shellcheck source=tests/guest/lib.sh
. "$LAB/guest/lib.sh"

PCI=/sys/bus/pci
mapfile -t BDFS < <(nvme_pci_devices | sed 's|.*/||')
A=${BDFS[0]:-}
B=${BDFS[1]:-}

bound_to() { # BDF: the driver's name, or "none"
	local d
	d=$(readlink "$PCI/devices/$1/driver" 2>/dev/null) || { echo none; return; }
	echo "${d##*/}"
}

wait_bound() { # BDF DRIVER
	poll 30 test "$(bound_to "$1")" = "$2" ||
		fail "$1 is bound to $(bound_to "$1"), not $2"
}

# The controller node of BDF in class CLASS (nvme or cnvme): nvme0...
ctrl_of() { # BDF CLASS
	local c
	c=$(compgen -G "$PCI/devices/$1/$2/$2[0-9]*" | head -n 1) || true
	[[ -n $c ]] || return 1
	echo "${c##*/}"
}

# The disk of nsid 1 under a controller: nvme0n1, cnvme0n1...
disk_of() { # BDF CLASS
	local c d
	c=$(ctrl_of "$1" "$2") || return 1
	for d in "$PCI/devices/$1/$2/$c/$c"n*; do
		[[ -e $d/nsid && $(<"$d/nsid") == 1 ]] && { echo "${d##*/}"; return 0; }
	done
	return 1
}

wait_disk() { # BDF CLASS
	poll 30 disk_of "$1" "$2" >/dev/null || fail "no disk for $1 in class $2" || return 1
	udevadm settle --timeout=60 || true
	echo "$1: $(ctrl_of "$1" "$2"), disk $(disk_of "$1" "$2")"
}

unbind() { # BDF
	local drv
	drv=$(bound_to "$1")
	[[ $drv != none ]] || return 0
	echo "$1" >"$PCI/drivers/$drv/unbind" || fail "unbind $1 from $drv failed"
}

override() { # BDF DRIVER|""
	echo "$2" >"$PCI/devices/$1/driver_override" ||
		fail "driver_override of $1 failed"
}

bind() { # BDF DRIVER
	echo "$1" >"$PCI/drivers/$2/bind" || fail "bind $1 to $2 failed" || return 1
	wait_bound "$1" "$2"
}

verify_io() { # BDF CLASS
	local disk
	disk=$(disk_of "$1" "$2") || fail "no disk for $1 ($2)" || return 1
	fio_verify "$disk" --rw=randwrite --bsrange=512-64k --iodepth=8 --size=8m
}

# Kernel messages at error level or worse from either driver since the
# mark, and anything the lab calls bad.
no_errors() {
	local errs
	errs=$(dmesg_since | grep -E '^<[0-3]>' | grep -Ei 'nvme' || true)
	[[ -z $errs ]] || { echo "$errs"; fail "error messages from the drivers"; return 1; }
	dmesg_clean
}

private_names_note() { # PATTERN: exactly one cnvme line saying why
	local n
	n=$(dmesg_since | grep -c "cnvme: $1" || true)
	dmesg_since | grep "cnvme: $1" || true
	((n == 1)) || fail "expected one cnvme line '$1', found $n"
}

private_layout() { # BDF
	local c d
	c=$(ctrl_of "$1" cnvme) || fail "no cnvme controller under $1" || return 1
	d=$(disk_of "$1" cnvme) || fail "no disk under $c" || return 1
	[[ -c /dev/$c ]] || fail "no /dev/$c" || return 1
	[[ -b /dev/$d ]] || fail "no /dev/$d" || return 1
	[[ -c /dev/cng${c#cnvme}n1 ]] || fail "no /dev/cng${c#cnvme}n1" || return 1
	echo /sys/class/cnvme*/*
	[[ -L /sys/class/cnvme-subsystem/cnvme-subsys${c#cnvme}/$c ]] ||
		fail "no cnvme-subsys${c#cnvme} linking $c" || return 1
	# Identify through cnvme's own node: the serial of that controller.
	nvme id-ctrl "/dev/$c" | grep "^sn " | tee /tmp/sn
	grep -q "lab-twoctrl-" /tmp/sn || fail "nvme id-ctrl /dev/$c failed"
}

stock_unaffected() { # BDF
	local c
	c=$(ctrl_of "$1" nvme) || fail "no stock controller under $1" || return 1
	[[ -c /dev/$c ]] || fail "no /dev/$c" || return 1
	nvme list | tee /tmp/list
	grep -q "/dev/$(disk_of "$1" nvme) " /tmp/list || fail "nvme list lost the stock disk"
}

# Case 1 setup: stock drives both, then B goes to cnvme.
stock_first() {
	modprobe nvme || fail "modprobe nvme failed" || return 1
	wait_bound "$A" nvme && wait_bound "$B" nvme || return 1
	wait_disk "$A" nvme && wait_disk "$B" nvme || return 1
	unbind "$B" && override "$B" cnvme || return 1
	insmod "$LAB/cnvme.ko" || fail "insmod cnvme.ko failed" || return 1
	wait_bound "$B" cnvme && wait_bound "$A" nvme && wait_disk "$B" cnvme
}

back_to_stock() { # BDF
	unbind "$1" && override "$1" "" && bind "$1" nvme && wait_disk "$1" nvme
}

# Both drivers out, nvme-core included, so the next case starts afresh.
unload_both() {
	if [[ -e /sys/module/cnvme ]]; then
		rmmod cnvme || fail "rmmod cnvme failed" || return 1
	fi
	modprobe -r nvme || fail "modprobe -r nvme failed" || return 1
	[[ ! -e /sys/module/nvme_core ]] || fail "nvme_core still loaded" || return 1
	override "$A" "" && override "$B" ""
}

# Case 2: cnvme with private_names=1 takes A; stock then loads for B.
private_first() {
	override "$B" nvme || return 1
	insmod "$LAB/cnvme.ko" private_names=1 || fail "insmod private_names=1 failed" || return 1
	wait_bound "$A" cnvme && wait_disk "$A" cnvme || return 1
	[[ $(bound_to "$B") == none ]] || fail "$B got bound to $(bound_to "$B")" || return 1
	modprobe nvme || fail "modprobe nvme failed next to cnvme private_names=1" || return 1
	wait_bound "$B" nvme && wait_disk "$B" nvme
}

cnvme_to_stock() { # BDF
	unbind "$1" && override "$1" nvme && bind "$1" nvme && wait_disk "$1" nvme
}

# Case 3: cnvme holds the stock names; nvme-core cannot register them.
stock_refused() {
	local rc=0 dep
	insmod "$LAB/cnvme.ko" || fail "insmod cnvme.ko failed" || return 1
	wait_bound "$A" cnvme && wait_bound "$B" cnvme && wait_disk "$A" nvme || return 1
	# nvme-core's init fails with EEXIST, which modprobe takes for "already
	# loaded" and does not report; insmod shows the errno.  modprobe nvme
	# then fails on the symbols nvme-core would have provided.
	for dep in $(modinfo -F depends nvme_core | tr ',' ' '); do
		modprobe "$dep" || fail "modprobe $dep failed" || return 1
	done
	insmod "$(modinfo -n nvme_core)" 2>/tmp/modprobe.err || rc=$?
	cat /tmp/modprobe.err
	((rc != 0)) || fail "nvme-core loaded while cnvme holds the nvme names" || return 1
	grep -q "File exists" /tmp/modprobe.err || fail "not EEXIST" || return 1
	if modprobe nvme 2>/tmp/modprobe.err; then
		fail "modprobe nvme succeeded"
		return 1
	fi
	cat /tmp/modprobe.err
	[[ ! -e /sys/module/nvme && ! -e /sys/module/nvme_core ]] || fail "nvme got loaded"
}

only_duplicate_name() {
	local bad
	dmesg_since | grep -E "duplicate filename '/class/nvme" || fail "no duplicate class name message" || return 1
	dmesg_clean
}

ktap_begin
check two_controllers test -n "$B"

# 1. stock first
check stock_first_then_cnvme stock_first
check cnvme_says_private_once private_names_note "nvme-core holds the nvme names"
check cnvme_private_layout private_layout "$B"
check stock_keeps_its_controller stock_unaffected "$A"
check io_stock_controller verify_io "$A" nvme
check io_cnvme_controller verify_io "$B" cnvme
check back_to_stock back_to_stock "$B"
check io_after_switch_back verify_io "$B" nvme
check unload_case1 unload_both
check no_errors_case1 no_errors

# 2. private_names=1 first, then stock
dmesg_mark
check private_names_then_stock private_first
check cnvme_says_private_names private_names_note "private_names=1"
check cnvme_private_layout2 private_layout "$A"
check io_cnvme_private verify_io "$A" cnvme
check io_stock_next_to_it verify_io "$B" nvme
check move_to_stock cnvme_to_stock "$A"
check io_moved_controller verify_io "$A" nvme
check unload_case2 unload_both
check no_errors_case2 no_errors

# 3. cnvme holds the names
dmesg_mark
# sysfs reports the duplicate class name with a stack dump, once for the
# insmod of nvme-core and once for modprobe nvme's attempt to load it.
expect_log "duplicate filename '/class/nvme'" 2
expect_log 'Call Trace' 2
check stock_refused_eexist stock_refused
check cnvme_unaffected verify_io "$A" nvme
check unload_case3 unload_both
check log_only_duplicate_name only_duplicate_name
ktap_end
