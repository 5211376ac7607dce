#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# lab-timeout: 900
#
# kfault: the kernel's own fault injection, on both drivers, for a
# comparison chaos cannot make.  Debian's kernel has no
# CONFIG_FAULT_INJECTION; the debug kernel (scripts/debug-kernel.config)
# has, and tests/matrix runs this suite only there (KERNEL=debug).
#
#   fake_timeout  the block layer's fail_io_timeout drops one read's
#                 completion (the disk's io-timeout-fail attribute; both
#                 drivers ask blk_should_fake_timeout() before completing
#                 a request): the timeout handler aborts, the Abort finds
#                 nothing, the second timeout resets the controller, the
#                 read is sent again and returns the data written.
#   media_dnr     one read completes with Unrecovered Read Error and DNR:
#                 stock through nvme_core's fault_inject directory of the
#                 namespace (the status of a read the device completed is
#                 rewritten), cnvme through its inject/status rule (the
#                 read completes with it unsent).  User space sees ENODATA
#                 from both, without a retry.
#
# Each case asserts that the fault fired exactly once (the kernel's own
# fault_attr "times" count, or cnvme's hits), the data or errno user space
# sees, the kernel log lines the fault explains and no other recovery line,
# and nothing left in D state.  Short timeouts (3 s) keep the waits short.

# The helpers below run through check "$@", which shellcheck cannot see.
# shellcheck disable=SC2317
set -euo pipefail
# shellcheck source=tests/guest/lib.sh
. "$LAB/guest/lib.sh"

IO_TIMEOUT=3
PARAMS=("io_timeout=$IO_TIMEOUT" admin_timeout=5 max_retries=2)
[[ $DRIVER == cnvme ]] && PARAMS+=(fault_injection=1)
FIT=/sys/kernel/debug/fail_io_timeout
OFF=$((80 << 20))
DISK0=
CTRL=
INJ=

rw() { taskset -c 0 python3 "$LAB/guest/rw.py" "$@"; }

# rw_expect RESULT OP OFFSET LEN [BYTE]: rw.py's verdict is RESULT ("ok",
# or "errno N" with the errno number).
rw_expect() {
	local want=$1 out
	shift
	out=$(rw "$1" "/dev/$DISK0" "${@:2}") || true
	echo "rw.py $*: $out"
	[[ $out == "$want"* ]] || fail "got '$out', expected '$want'"
}

case_begin() {
	CASE=$1
	CASE_START=$SECONDS
	dmesg_mark
}

case_end() {
	check "${CASE}_no_task_in_d_state" no_d_state_tasks
	check "${CASE}_kernel_log_as_expected" dmesg_clean
}

within() {
	local took=$((SECONDS - CASE_START))
	echo "case took $took s (bound $1 s)"
	((took <= $1)) || fail "recovery took $took s, more than $1 s"
}

state_live() {
	local s f
	f=$(ctrl_attr state) || fail "no state attribute" || return 1
	s=$(<"$f")
	echo "state: $s"
	[[ $s == live ]] || fail "controller state is $s, not live"
}

find_disk() {
	local pci
	pci=$(first_nvme_pci)
	CTRL=$(basename "$(compgen -G "$pci/nvme/*" | head -n 1)")
	DISK0=${CTRL}n1
	INJ=/sys/kernel/debug/cnvme/${pci##*/}/inject
	echo "controller $CTRL, disk $DISK0"
	[[ -b /dev/$DISK0 ]] || fail "no /dev/$DISK0"
}

# attr_arm DIR: a fault_attr directory that fails the next opportunity,
# once, quietly (verbose 0: no stack dump in the log).  "times" is 0 while
# the others are set and becomes 1 last: nvme_core's attribute is consulted
# on every completion, and must not fire on a half-set rule.
attr_arm() {
	local kv
	for kv in times=0 verbose=0 space=0 interval=1 probability=100 times=1; do
		echo "${kv#*=}" >"$1/${kv%=*}" || fail "cannot set $1/${kv%=*}" || return 1
	done
}

attr_disarm() { echo 0 >"$1/probability"; echo 0 >"$1/times"; }

# attr_fired_once DIR: "times" went from 1 to 0.
attr_fired_once() {
	local t
	t=$(<"$1/times")
	echo "$1/times: $t"
	[[ $t == 0 ]] || fail "the fault did not fire (times still $t)"
}

kernel_has_injection() {
	[[ -d $FIT ]] || fail "no $FIT: not a kernel with CONFIG_FAIL_IO_TIMEOUT (run with KERNEL=debug)"
}

# --- a completion the block layer drops -------------------------------------------

# The write comes before the case (fake_timeout_setup): its close sends
# udev reading the disk, and those reads must not take the one failure
# meant for the case's own read.  That the read itself was the one dropped
# shows in its time: two io_timeouts (the first, then the Abort's), less
# one second for the granularity of $SECONDS; a read that nothing held
# takes about 2 s here (python's start on the debug kernel).
fake_timeout_setup() {
	rw_expect ok write "$OFF" 4096 0x5a || return 1
	udevadm settle --timeout=30 || true
}

fake_timeout() {
	local rc=0 t0 took
	attr_arm "$FIT" || return 1
	echo 1 >"/sys/block/$DISK0/io-timeout-fail" || fail "cannot set io-timeout-fail" || return 1
	t0=$SECONDS
	rw_expect ok read "$OFF" 4096 0x5a || rc=1
	took=$((SECONDS - t0))
	echo 0 >"/sys/block/$DISK0/io-timeout-fail"
	attr_fired_once "$FIT" || rc=1
	attr_disarm "$FIT"
	echo "the read took $took s"
	((took >= 2 * IO_TIMEOUT - 1)) ||
		fail "the read took $took s, less than two io_timeouts ($IO_TIMEOUT s each): not the read whose completion was dropped" ||
		rc=1
	((rc == 0)) && within $((2 * IO_TIMEOUT + 60)) && state_live
}

# --- a media error with DNR --------------------------------------------------------

cnvme_fired() {
	local h
	h=$(awk '$1 == "status" { print $3 }' "$INJ/hits")
	echo "inject status fired $h time(s)"
	[[ $h == "$1" ]] || fail "the status rule fired $h times, expected $1"
}

media_dnr() {
	local dir=/sys/kernel/debug/$DISK0/fault_inject qid rc=0
	rw_expect ok write "$OFF" 4096 0xa5 || return 1
	udevadm settle --timeout=30 || true
	if [[ $DRIVER == stock ]]; then
		[[ -d $dir ]] || fail "no $dir (nvme_core without fault injection?)" || return 1
		echo 0x281 >"$dir/status" || fail "cannot set $dir/status" || return 1
		echo Y >"$dir/dont_retry" || fail "cannot set $dir/dont_retry" || return 1
		attr_arm "$dir" || return 1
		rw_expect "errno 61 " read "$OFF" 4096 0xa5 || rc=1
		attr_fired_once "$dir" || rc=1
		attr_disarm "$dir"
	else
		qid=$(qid_of_cpu0 "$DISK0") || fail "no hardware context serves CPU 0" || return 1
		echo "$qid 0x02 0x4281 1" >"$INJ/status" || fail "cannot arm inject/status" || return 1
		rw_expect "errno 61 " read "$OFF" 4096 0xa5 || rc=1
		cnvme_fired 1 || rc=1
	fi
	((rc == 0)) || return 1
	# Nothing stays armed: the next read returns the data.
	rw_expect ok read "$OFF" 4096 0xa5
}

# --- the run -------------------------------------------------------------------------

ktap_begin
check kernel_has_fault_injection kernel_has_injection
check "load_$DRIVER" drv_load "${PARAMS[@]}"
check find_disk find_disk

check fake_timeout_setup fake_timeout_setup
case_begin fake_timeout
if [[ $DRIVER == stock ]]; then
	expect_log "I/O tag [0-9]+ .* timeout, aborting" 1
	expect_log "Abort status" 1
	expect_log "I/O tag [0-9]+ .* timeout, reset controller" 1
	# Stock's own report on this kernel, not the lab's or cnvme's: the
	# timeout handler starts a queue freeze (nvme_dev_disable ->
	# nvme_start_freeze) that the reset work ends, and 6.12 models a
	# freeze as a lock held until the unfreeze, so the workqueue sees its
	# work item return with "locks" held (Documentation/testing.rst,
	# the debug lane).  cnvme's reset quiesces instead of freezing.
	expect_log "BUG: workqueue leaked atomic, lock or RCU: kworker" 1
	expect_log "Call Trace:" 1
else
	expect_log "timed out, aborting" 1
	expect_log "Abort of command id .*: not aborted" 1
	expect_log "timed out again after an Abort, resetting controller" 1
	expect_log ": resetting controller$" 1
fi
check fake_timeout_abort_then_reset fake_timeout
case_end

case_begin media_dnr
if [[ $DRIVER == stock ]]; then
	# The text of the status needs CONFIG_NVME_VERBOSE_ERRORS.
	expect_log "\(sct 0x2 / sc 0x81\) DNR" 1
else
	expect_log "failed with status 0x4281 .* after 0 retries" 1
fi
expect_log "critical medium error, dev" 1
check media_dnr_enodata_not_retried media_dnr
case_end

check "unload_$DRIVER" drv_unload
ktap_end
