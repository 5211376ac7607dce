#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# lab-timeout: 270
#
# faults: what the driver does when things go wrong.  Each profile brings
# its own faults:
#   default   20 controller resets during a verified write; PCI function
#             reset and PCI remove/rescan during I/O; module parameters out
#             of range and garbage written to reset_controller are refused;
#             the power-off at the end runs the shutdown callback, and
#             QEMU's trace shows the controller told CC.SHN; cnvme
#             only, with its fault injection (fault_injection=1):
#             fail_disable during a reset under verified I/O (bus
#             mastering is off, read back from config space, before any
#             command is completed; back on once the controller is live
#             again; the data verifies), and fail_alloc of every
#             request buffer beyond the per-queue reserve during verified
#             I/O (the I/O still completes, from the reserve)
#   slow      commands outlive a 2 s io_timeout (QEMU throttle group): the
#             driver aborts and resets, the data is right or the I/O fails
#             cleanly, nothing hangs; a suspend (pm_test devices) while
#             the device holds commands: by QEMU's own trace, the
#             controller sees CC.SHN only once every command it fetched
#             has completed or was dropped with its deleted SQ, and the
#             I/O succeeds across it
#   mediaerr  blkdebug fails chosen sectors: the error reaches exactly those
#             blocks, the log names the LBA, the controller stays live
#   rootport  PCI error recovery (AER errors injected at the root port),
#             suspend/resume and hibernation freeze/thaw (pm_test), all
#             during verified writes
#   hotplug   the controller is unplugged during I/O (device_del): fio
#             ends within 30 s, nothing is left in D state, rmmod works;
#             a new controller plugged in (device_add) works and holds
#             the data the first one acknowledged; then (cnvme) a
#             controller that cannot be reset (memory and bus mastering
#             off) is declared dead: I/O fails fast, its disk goes away,
#             the controller stays bound in state dead, a rebind brings
#             it back
# Every case ends with a check for D-state tasks and of the kernel log
# since the case began: the recovery lines each case provokes are declared
# with expect_log, any other one fails it.

# The helpers below run through check "$@", which shellcheck cannot see.
# shellcheck disable=SC2317
set -euo pipefail
# shellcheck source=tests/guest/lib.sh
. "$LAB/guest/lib.sh"
# The suspend case (rootport) takes the share away for a while.
suite_from_copy "$@"

RESETS=${FAULTS_RESETS:-20}
# A task blocked this long is reported, and dmesg_clean catches the report.
# On the slow device a read may wait that long legitimately.
HUNG_SECS=30
[[ $PROFILE != slow ]] || HUNG_SECS=90

case_begin() { CASE=$1; dmesg_mark; }

case_end() {
	check "${CASE}_no_task_in_d_state" no_d_state_tasks
	check "${CASE}_kernel_log_clean" dmesg_clean
}

# fio_bg LOG DISK FIO-ARGS...: fio on DISK in the background, its pid in
# FIO_PID.  fio may not create a file should the device node be gone.
fio_bg() {
	local log=$1 disk=$2
	shift 2
	FIO_DISK=$disk
	FIO_BASE=$(disk_ios "$disk")
	fio --name=bg --filename="/dev/$disk" --allow_file_create=0 --direct=1 \
		--ioengine=io_uring --eta=never --group_reporting \
		"$@" >"$log" 2>&1 &
	FIO_PID=$!
}

# fio_verify_bg LOG DISK OFFSET SIZE: a verified random write in the
# background.
fio_verify_bg() {
	fio_bg "$1" "$2" --rw=randwrite --bs=4k --iodepth=16 \
		--offset="$3" --size="$4" --verify=crc32c --verify_fatal=1 --do_verify=1
}

# The background fio has I/O going: the disk completed 64 more requests.
fio_io_done() { (($(disk_ios "$FIO_DISK") >= FIO_BASE + 64)); }

fio_started() {
	poll 60 fio_io_done && return 0
	kill "$FIO_PID" 2>/dev/null || true
	tail -n 5 "$1" 2>/dev/null || true
	fail "fio never got going on /dev/$FIO_DISK"
}

# Where a fio that does not end is waiting, for the log.
fio_stuck() {
	local t
	echo "fio $FIO_PID still running; its threads:"
	for t in /proc/"$FIO_PID"/task/*; do
		echo "  ${t##*/} $(cat "$t/comm" 2>/dev/null) $(cut -d' ' -f3 "$t/stat" 2>/dev/null)"
		sed 's/^/    /' "$t/stack" 2>/dev/null | head -n 12
	done
	ps -eLo stat,pid,tid,comm,wchan:32 | awk '$1 ~ /^D/' || true
}

# fio_wait SECONDS: wait for FIO_PID; its exit status, or 124 after
# killing it at the deadline.
fio_wait() {
	local i rc=0
	for ((i = 0; i < $1 * 10; i++)); do
		kill -0 "$FIO_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$FIO_PID" 2>/dev/null; then
		fio_stuck
		kill -9 "$FIO_PID" 2>/dev/null || true
		wait "$FIO_PID" 2>/dev/null || true
		return 124
	fi
	wait "$FIO_PID" || rc=$?
	return "$rc"
}

fio_summary() { grep -E 'err=|error|verify|READ:|WRITE:' "$1" | head -n 12 || true; }

state_is_quiet() { [[ $(ctrl_state 2>/dev/null) == "$1" ]]; }

state_is() {
	local s
	s=$(ctrl_state) || return 1
	echo "controller state: $s"
	[[ $s == "$1" ]] || fail "controller state is '$s', not '$1'"
}

# Lines of the kernel log since the case began that match an ERE.
log_count() { dmesg_since | grep -cE "$1" || true; }

# Controller resets the driver logged since the case began.
RESET_LOG='resetting controller|reset controller|controller reset'
no_reset_logged() {
	local n
	n=$(log_count "$RESET_LOG")
	((n == 0)) || fail "$n controller reset line(s) in the kernel log"
}

# --- default: resets, PCI reset, remove/rescan, suspend, bad input ----------

# Garbage is refused with EINVAL and changes nothing: no reset starts.
reset_garbage_refused() {
	local f v err
	f=$(ctrl_attr reset_controller) || return 1
	for v in 0 2 11 abc 1x -1 " " 0x1 "1 1"; do
		if printf '%s' "$v" >"$f" 2>/tmp/garbage.err; then
			fail "writing '$v' to $f was accepted"
			return 1
		fi
		err=$(</tmp/garbage.err)
		[[ $err == *"Invalid argument"* ]] ||
			fail "writing '$v' failed, but not with EINVAL: $err" || return 1
	done
	echo "9 kinds of garbage refused with EINVAL"
	state_is live && no_reset_logged
}

# RESETS synchronous resets while verified writes run.  Should one fio job
# end before the resets do, the next starts on the next 32 MiB, so I/O
# overlaps every reset; every job must verify all it wrote.
resets_during_io() { # DISK
	local i rc job=0 t0 ms
	fio_verify_bg /tmp/reset0.log "$1" 0 32m
	fio_started /tmp/reset0.log || return 1
	t0=$(date +%s%N)
	for ((i = 1; i <= RESETS; i++)); do
		if ! kill -0 "$FIO_PID" 2>/dev/null; then
			rc=0
			wait "$FIO_PID" || rc=$?
			fio_summary "/tmp/reset$job.log"
			((rc == 0)) || fail "fio job $job failed (status $rc) across resets" || return 1
			job=$((job + 1))
			fio_verify_bg "/tmp/reset$job.log" "$1" $((job * 32))m 32m
		fi
		ctrl_reset || { kill "$FIO_PID"; return 1; }
		sleep 0.2
	done
	ms=$((($(date +%s%N) - t0) / 1000000))
	echo "$RESETS resets in $ms ms, during $((job + 1)) fio job(s)"
	rc=0
	fio_wait 120 || rc=$?
	fio_summary "/tmp/reset$job.log"
	((rc == 0)) || fail "fio job $job failed (status $rc) across resets" || return 1
	state_is live
}

# Resets through the PCI core (FLR or whatever reset_method offers) while a
# verified write runs: reset_prepare/reset_done must bring the queues back
# with nothing lost.
pci_reset_during_io() { # DISK
	local pci i rc=0
	pci=$(first_nvme_pci)
	[[ -w $pci/reset ]] || fail "$pci/reset is missing" || return 1
	echo "reset_method: $(cat "$pci/reset_method" 2>/dev/null || echo unknown)"
	fio_verify_bg /tmp/pcireset.log "$1" 256m 24m
	fio_started /tmp/pcireset.log || return 1
	for ((i = 1; i <= 3; i++)); do
		echo 1 >"$pci/reset" || { kill "$FIO_PID"; fail "PCI reset $i failed"; return 1; }
		sleep 0.5
	done
	fio_wait 120 || rc=$?
	fio_summary /tmp/pcireset.log
	((rc == 0)) || fail "fio failed (status $rc) across 3 PCI function resets" || return 1
	state_is live
}

# Remove the PCI function under I/O, then rescan: fio ends (with errors),
# the function comes back, binds, and the data written before is there.
remove_rescan_during_io() { # DISK
	local pci bdf rc=0
	pci=$(first_nvme_pci)
	bdf=${pci##*/}
	raw_write "$1" $((1 << 20)) 1 /tmp/rr.sha || return 1
	fio_bg /tmp/rr.log "$1" --rw=randwrite --bs=4k --iodepth=32 \
		--offset=64m --size=64m --time_based --runtime=120
	fio_started /tmp/rr.log || return 1
	echo 1 >"$pci/remove" || { kill "$FIO_PID"; fail "remove failed"; return 1; }
	fio_wait 30 || rc=$?
	((rc != 124)) || fail "fio still running 30 s after the remove" || return 1
	echo "fio ended with status $rc after the remove"
	fio_summary /tmp/rr.log
	[[ ! -e /sys/bus/pci/devices/$bdf ]] || fail "$bdf still present after remove" || return 1
	no_d_state_tasks || return 1
	echo 1 >/sys/bus/pci/rescan
	udevadm settle --timeout=60 || true
	poll 30 all_bound || fail "$bdf did not come back bound after rescan" || return 1
	poll 30 match_disks || fail "disks did not come back after rescan" || return 1
	raw_verify "${DISK[0]}" $((1 << 20)) 1 /tmp/rr.sha
}

# A system sleep with pm_test: the PM core runs the device callbacks down
# to LEVEL ("platform": also the noirq phase; "devices" for hibernation,
# whose image is never written), waits, and resumes, without needing a
# wake-up source.  STATE "suspend" picks mem, else freeze (s2idle); "disk"
# is hibernation (freeze/thaw).  A verified write runs across it.  The
# share cannot suspend, so it is away meanwhile.
pm_cycle_during_io() { # DISK STATE LEVEL
	local state=$2 rc=0 off=$(((${#2} + 1) << 20))
	[[ -w /sys/power/pm_test ]] || fail "no /sys/power/pm_test" || return 1
	if [[ $state == suspend ]]; then
		if grep -qw mem /sys/power/state; then state=mem; else state=freeze; fi
	fi
	grep -qw "$state" /sys/power/state ||
		fail "/sys/power/state offers only: $(</sys/power/state)" || return 1
	raw_write "$1" "$off" 1 /tmp/pm.sha || return 1
	fio_verify_bg /tmp/pm.log "$1" 384m 16m
	fio_started /tmp/pm.log || return 1
	share_detach || { kill "$FIO_PID"; return 1; }
	echo "$3" >/sys/power/pm_test
	echo "$state (pm_test $3)"
	echo "$state" >/sys/power/state || rc=$?
	echo none >/sys/power/pm_test
	share_attach || rc=1
	((rc == 0)) || { kill "$FIO_PID"; fail "$state with pm_test $3 failed"; return 1; }
	dmesg_since | grep -E 'PM: (suspend|hibernation)|debug: Waiting|resetting' || true
	fio_wait 120 || rc=$?
	fio_summary /tmp/pm.log
	((rc == 0)) || fail "fio failed (status $rc) across $state" || return 1
	raw_verify "$1" "$off" 1 /tmp/pm.sha && state_is live
}

# insmod with each parameter out of range or not a number must fail, with
# a kernel message that names the parameter.
bad_params() {
	local p name m msg bad=0
	for p in io_queue_depth=1 io_queue_depth=4096 io_queue_depth=x \
		io_timeout=0 io_timeout=3601 io_timeout=abc \
		admin_timeout=0 admin_timeout=3601 admin_timeout=1e3 \
		shutdown_timeout=0 shutdown_timeout=61 shutdown_timeout=-1 \
		max_retries=101 max_retries=five \
		irq_poll_threshold=4097 irq_poll_threshold=x \
		irq_poll_budget=0 irq_poll_budget=1025; do
		name=${p%%=*}
		m="lab-param-$RANDOM$RANDOM"
		echo "<5>$m" >/dev/kmsg
		if insmod "$LAB/cnvme.ko" "$p" 2>/dev/null; then
			rmmod cnvme || true
			echo "insmod cnvme.ko $p succeeded"
			bad=$((bad + 1))
			continue
		fi
		[[ ! -e /sys/module/cnvme ]] || { echo "module loaded after failed insmod $p"; bad=$((bad + 1)); }
		msg=$(dmesg | sed -n "/$m/,\$p" | grep -F "parameter \`$name'" || true)
		if [[ -z $msg ]]; then
			echo "insmod cnvme.ko $p: no kernel message names $name"
			bad=$((bad + 1))
		else
			echo "$p: ${msg#*] }"
		fi
	done
	((bad == 0)) || fail "$bad bad parameter value(s) not refused properly"
}

# --- slow: commands outlive io_timeout ---------------------------------------

# The device's own account of commands (QEMU's trace events): fetched from
# an SQ, completed into a CQ (I/O queue n pairs SQ n with CQ n, for both
# drivers), dropped with a deleted SQ, and CC.SHN written.  Turned on
# in this order, so that no command is seen fetched whose completion came
# before its event was on.
NVME_CMD_EVENTS=(pci_nvme_enqueue_req_completion pci_nvme_del_sq
	pci_nvme_mmio_shutdown_set pci_nvme_io_cmd)

# Reads the trace window; prints one line per CC.SHN with the number of
# I/O commands outstanding in the device then, and a last line "now N".
device_outstanding() {
	qemu_trace_since | awk '
		function field(name,   i) {
			for (i = 1; i < NF; i++) if ($i == name) return $(i + 1)
			return ""
		}
		$1 == "pci_nvme_io_cmd" { out[field("sqid") ":" field("cid")] = 1 }
		$1 == "pci_nvme_enqueue_req_completion" {
			delete out[field("cqid") ":" field("cid")]
		}
		$1 == "pci_nvme_del_sq" {
			q = $NF; sub(/.*=/, "", q)
			for (k in out) if (index(k, q ":") == 1) delete out[k]
		}
		$1 == "pci_nvme_mmio_shutdown_set" {
			n = 0; for (k in out) n++
			print "CC.SHN " n
		}
		END { n = 0; for (k in out) n++; print "now " n }'
}

device_holds() { # MIN
	local n
	n=$(device_outstanding | tail -n 1)
	((${n#now } >= $1))
}

# A system suspend while the throttled device holds several commands: the
# driver must let them finish (or delete their queues) before it sets
# CC.SHN, or the controller shuts down with work in flight.  fio writes for
# longer than the suspend takes, so its commands are in the device when
# the tasks freeze.
suspend_with_commands_out() { # DISK
	local rc=0 state=freeze shn held
	! grep -qw mem /sys/power/state || state=mem
	raw_write "$1" $((6 << 20)) 1 /tmp/shn.sha || return 1
	# udev reads the disk after the writer closed it: not in the count.
	udevadm settle --timeout=120 || fail "udev still busy with the disk" || return 1
	qemu_trace on "${NVME_CMD_EVENTS[@]}" || return 1
	qemu_trace_mark
	fio_bg /tmp/shn.log "$1" --rw=randwrite --bs=4k --iodepth=8 \
		--offset=32m --size=1m --time_based --runtime=40
	# At four commands a second the device soon holds several.
	if ! poll 30 device_holds 4; then
		device_outstanding
		fail "the device never held 4 commands at once"
		suspend_trace_off
		return 1
	fi
	# The trace is on the share, which goes away for the suspend.
	held=$(device_outstanding | tail -n 1)
	share_detach || { suspend_trace_off; return 1; }
	echo devices >/sys/power/pm_test
	echo "$state (pm_test devices), the device holding ${held#now } command(s)"
	echo "$state" >/sys/power/state || rc=$?
	echo none >/sys/power/pm_test
	share_attach || return 1
	((rc == 0)) || { suspend_trace_off; fail "$state failed"; return 1; }
	fio_wait 60 || rc=$?
	suspend_trace_off
	fio_summary /tmp/shn.log
	((rc == 0)) || fail "fio failed (status $rc) across $state" || return 1
	shn=$(device_outstanding | grep '^CC.SHN ' || true)
	echo "${shn:-no CC.SHN}"
	[[ -n $shn ]] || fail "the device saw no CC.SHN during $state" || return 1
	! grep -qv '^CC.SHN 0$' <<<"$shn" ||
		fail "CC.SHN set while the device held commands" || return 1
	raw_verify "$1" $((6 << 20)) 1 /tmp/shn.sha
}

# Per-command tracing must not outlive the case: it slows what follows.
suspend_trace_off() {
	kill "$FIO_PID" 2>/dev/null || true
	wait "$FIO_PID" 2>/dev/null || true
	qemu_trace off "${NVME_CMD_EVENTS[@]}"
}

# Writes queue up behind SLOW_IOPS, so most outlive the 2 s timeout.  The
# job must end in time; right data or clean I/O errors are both fine, wrong
# data is not.
timeout_io() { # DISK
	local rc=0 t0=$SECONDS
	fio_verify_bg /tmp/slow.log "$1" 0 256k
	fio_wait 150 || rc=$?
	((rc != 124)) || fail "fio did not finish within 150 s" || return 1
	fio_summary /tmp/slow.log
	echo "fio ended with status $rc after $((SECONDS - t0)) s"
	if grep -qiE 'verify failed|bad magic|bad header|crc32c' /tmp/slow.log; then
		fail "fio read back wrong data"
		return 1
	fi
	((rc == 0)) || echo "the I/O failed cleanly (errors, no wrong data)"
}

timeout_handled() {
	local n
	n=$(log_count 'time(d )?out')
	dmesg_since | grep -iE 'time(d )?out|abort|reset' | head -n 12 || true
	((n > 0)) || fail "no timeout was logged: the fault was not produced"
}

# --- mediaerr: errors exactly on the bad blocks -------------------------------

# read_errors DISK START_MiB LEN_MiB: "OFFSET ERRNO" for every 4 KiB block
# that cannot be read with O_DIRECT.
read_errors() {
	python3 - "/dev/$1" "$2" "$3" <<'EOF'
import errno, mmap, os, sys
dev, start, length = sys.argv[1], int(sys.argv[2]) << 20, int(sys.argv[3]) << 20
fd = os.open(dev, os.O_RDONLY | os.O_DIRECT)
buf = mmap.mmap(-1, 4096)
for off in range(start, start + length, 4096):
    try:
        os.preadv(fd, [buf], off)
    except OSError as e:
        print(off, errno.errorcode.get(e.errno, e.errno))
EOF
}

# The 4 KiB blocks holding BAD_SECTORS, as byte offsets.
bad_blocks() {
	local s
	for s in $BAD_SECTORS; do echo $(((s * 512) & ~4095)); done | sort -n
}

errors_exactly_on_bad_blocks() { # DISK
	local got want
	read_errors "$1" 0 64 >/tmp/errors || fail "scan failed" || return 1
	cat /tmp/errors
	got=$(cut -d' ' -f1 /tmp/errors | sort -n | tr '\n' ' ')
	want=$(bad_blocks | tr '\n' ' ')
	[[ $got == "$want" ]] || fail "read errors at [$got], expected exactly [$want]"
}

fio_error_on_bad_block() { # DISK
	local off rc
	for off in $(bad_blocks); do
		rc=0
		fio --name=bad --filename="/dev/$1" --direct=1 --ioengine=io_uring \
			--rw=read --bs=4k --offset="$off" --size=4k --eta=never \
			>/tmp/bad.log 2>&1 || rc=$?
		grep -E 'err=|error' /tmp/bad.log | head -n 3 || true
		((rc != 0)) || fail "fio read the bad block at $off without an error" || return 1
	done
}

write_error_on_bad_block() { # DISK
	local off
	for off in $(bad_blocks); do
		if dd if=/dev/zero of="/dev/$1" bs=4k count=1 seek="$off" oflag=direct,seek_bytes \
			status=none 2>/tmp/dd.err; then
			fail "writing the bad block at $off succeeded"
			return 1
		fi
		echo "write at $off: $(cat /tmp/dd.err)"
	done
}

# Verified writes everywhere else in the first 64 MiB.
io_ok_elsewhere() { # DISK
	local prev=0 off
	for off in $(bad_blocks) $((64 << 20)); do
		if ((off > prev)); then
			fio_verify "$1" --rw=write --bs=4k --iodepth=16 --offset="$prev" \
				--size=$((off - prev)) >/dev/null || fail "fio failed on [$prev, $off)" || return 1
			echo "verified [$prev, $off)"
		fi
		prev=$((off + 4096))
	done
}

log_names_lbas() {
	local s lines
	for s in $BAD_SECTORS; do
		lines=$(dmesg_since | grep -E "^<[0-3]>" | grep -E "LBA $s([^0-9]|$)" || true)
		[[ -n $lines ]] || fail "no error line in the kernel log names LBA $s" || return 1
		echo "$lines" | head -n 2
	done
}

# --- hotplug: the controller goes away under I/O --------------------------------

# A function that keeps getting its memory decoding and bus mastering
# turned off: the controller can neither be reached nor reach memory, and
# a reset cannot bring it back for long, even one that enables the
# function again (as both drivers' do; in cnvme a command of the reset
# times out, or the health check gives up on a controller that never
# stays healthy for 30 s).  The reset fails, the controller is declared
# dead, I/O fails fast, the disk goes away and the controller
# stays, in state dead, until unbound; nothing hangs.
dead_controller() { # DISK
	local pci rc=0 t0 f hold
	pci=$(first_nvme_pci)
	DEAD_BDF=${pci##*/}
	raw_write "$1" $((5 << 20)) 1 /tmp/dead.sha || return 1
	f=$(ctrl_attr reset_controller) || return 1
	fio_bg /tmp/dead.log "$1" --rw=randwrite --bs=4k --iodepth=32 \
		--offset=64m --size=64m --time_based --runtime=120
	fio_started /tmp/dead.log || return 1
	DEAD_CMD=$(setpci -s "$DEAD_BDF" COMMAND)
	setpci -s "$DEAD_BDF" COMMAND=0
	touch /tmp/dead.hold
	# Every 50 ms: faster than a reset can bring it back, without
	# keeping a vCPU (and QEMU's config space emulation) busy.
	while [[ -e /tmp/dead.hold ]]; do setpci -s "$DEAD_BDF" COMMAND=0; sleep 0.05; done &
	hold=$!
	echo "COMMAND was $DEAD_CMD; turned off until the driver lets go"
	t0=$SECONDS
	if [[ $DRIVER == cnvme ]]; then
		# cnvme's resets restore the command register, which the loop
		# clears again at once: a command of the reset times out, or
		# the health check gives up after 30 s.
		echo 1 >"$f" 2>/tmp/dead.err || true
		if ! poll 60 state_is_quiet dead; then
			rm -f /tmp/dead.hold
			kill "$FIO_PID"
			fail "not dead 60 s after the reset began: $(ctrl_state)"
			return 1
		fi
	elif echo 1 >"$f" 2>/tmp/dead.err; then
		rm -f /tmp/dead.hold
		kill "$FIO_PID"
		fail "a reset succeeded with the function disabled"
		return 1
	fi
	echo "dead (or the reset failed) after $((SECONDS - t0)) s: $(cat /tmp/dead.err)"
	fio_wait 30 || rc=$?
	if ((rc == 124)); then
		rm -f /tmp/dead.hold
		fail "fio still running 30 s after the controller died"
		return 1
	fi
	echo "fio ended with status $rc, $((SECONDS - t0)) s after the reset began"
	fio_summary /tmp/dead.log
	poll 30 test ! -e "/sys/block/$1" || rc=-1
	rm -f /tmp/dead.hold
	wait "$hold" || true
	((rc != -1)) || fail "$1 still present 30 s later" || return 1
	echo "$1 gone $((SECONDS - t0)) s after the reset began"
	dmesg_since | grep -iE 'dead|reset|unbind|remov' | head -n 8 || true
	# The controller itself stays, visible as dead, until unbound.
	[[ -e $pci/driver ]] || fail "$DEAD_BDF was unbound: the dead controller should stay" || return 1
	[[ $(ctrl_state) == dead ]] || fail "state is '$(ctrl_state)', not dead"
}

# Enable the function again and bind it: it works and holds the data.
rebind_after_death() {
	local drv
	drv=/sys/bus/pci/drivers/$(drv_module)
	setpci -s "$DEAD_BDF" COMMAND="$DEAD_CMD"
	if [[ -e /sys/bus/pci/devices/$DEAD_BDF/driver ]]; then
		echo "$DEAD_BDF" >"$drv/unbind" || fail "unbind $DEAD_BDF failed" || return 1
	fi
	echo "$DEAD_BDF" >"$drv/bind" ||
		fail "bind $DEAD_BDF failed" || return 1
	udevadm settle --timeout=60 || true
	poll 30 match_disks || fail "no disk after the bind" || return 1
	raw_verify "${DISK[0]}" $((5 << 20)) 1 /tmp/dead.sha
}

surprise_removal() { # DISK
	local rc=0 t0 bdf
	bdf=$(first_nvme_pci)
	bdf=${bdf##*/}
	raw_write "$1" $((3 << 20)) 1 /tmp/hp.sha || return 1
	fio_bg /tmp/hp.log "$1" --rw=randwrite --bs=4k --iodepth=32 \
		--offset=64m --size=64m --time_based --runtime=120
	fio_started /tmp/hp.log || return 1
	t0=$SECONDS
	host_monitor "device_del $HOTPLUG_ID" || { kill "$FIO_PID"; return 1; }
	fio_wait 30 || rc=$?
	((rc != 124)) || fail "fio still running 30 s after device_del" || return 1
	echo "fio ended with status $rc, $((SECONDS - t0)) s after device_del"
	fio_summary /tmp/hp.log
	((rc != 0)) || echo "(fio saw no error)"
	poll 30 test ! -e "/sys/bus/pci/devices/$bdf" || fail "$bdf still present 30 s after device_del"
}

# An uncorrectable error reported by the root port above the controller,
# while a verified write runs; it must not see an error.
#   non-fatal (Poisoned TLP, 0x1000): error_detected(normal) and resume.
#   fatal (Malformed TLP, 0x40000): error_detected(frozen), a secondary bus
#   reset, slot_reset and resume -- except that in QEMU 7.2 the link does
#   not report active after the bus reset, so recovery fails and the PCI
#   core never calls the driver again: cnvme's own watchdog must bring the
#   controller back.
aer_during_io() { # DISK ERROR_STATUS
	local rc=0
	fio_verify_bg /tmp/aer.log "$1" 256m 16m
	fio_started /tmp/aer.log || return 1
	host_monitor "pcie_aer_inject_error $HOTPLUG_PORT $2" ||
		{ kill "$FIO_PID"; return 1; }
	poll 30 aer_recovered || { kill "$FIO_PID"; fail "no AER recovery logged"; return 1; }
	fio_wait 120 || rc=$?
	dmesg_since | grep -E 'AER|PCI|frozen|recover|reset' | head -n 16 || true
	fio_summary /tmp/aer.log
	((rc == 0)) || fail "fio failed (status $rc) across AER recovery" || return 1
	state_is live
}

aer_recovered() { dmesg_since | grep -qE 'AER: device recovery (successful|failed)'; }

load_without_devices() {
	case $DRIVER in
	cnvme) insmod "$LAB/cnvme.ko" || fail "insmod cnvme.ko failed" ;;
	stock) modprobe nvme || fail "modprobe nvme failed" ;;
	esac
}

# QEMU finishes the unplug of the old controller only when the guest has
# powered its slot off (pciehp, after its 5 s button delay): until then it
# refuses the new one ("Permission conflict on node"), so ask again.
device_add_accepted() {
	local out
	out=$(host_monitor "device_add $HOTPLUG_DEVICE") || return 1
	echo "$out"
	! grep -q 'Error' <<<"$out"
}

device_add_probes() {
	if ! poll 30 device_add_accepted; then
		host_monitor "info pci" || true
		host_monitor "info block" || true
		ls /sys/bus/pci/devices
		fail "QEMU kept refusing device_add"
		return 1
	fi
	poll 30 all_bound || { show_binding; fail "the new controller was not bound"; return 1; }
	poll 30 match_disks || fail "no disk on the new controller"
}

# --- default, cnvme's own fault injection -------------------------------------

inject_dir() {
	local d
	d=/sys/kernel/debug/cnvme/$(basename "$(first_nvme_pci)")/inject
	[[ -d $d ]] || fail "no $d (fault_injection=1 not in effect?)" >&2 || return 1
	echo "$d"
}

# inject_fired RULE: how many times RULE fired, from inject/hits.
inject_fired() {
	local d
	d=$(inject_dir) || return 1
	awk -v r="$1" '$1 == r { print $3 }' "$d/hits"
}

# Bus Master Enable, bit 2 of the PCI command register, from config space.
bme_on() {
	local bdf cmd
	bdf=$(basename "$(first_nvme_pci)")
	cmd=$(setpci -s "$bdf" COMMAND) || fail "setpci -s $bdf COMMAND failed" || return 1
	echo "$bdf PCI command 0x$cmd"
	(((0x$cmd & 4) != 0))
}

# A reset whose disable never sees CSTS.RDY clear: the controller goes on
# running.  Expected log lines: one "resetting controller", one "disable:
# ... injected" from the injection, and one "controller did not stop ...
# bus mastering off (PCI command X)" with X read back from config space
# after the driver cleared Bus Master Enable and before it reaped or
# cancelled any command (it logs it between the two).  Then the rebuild
# enables the controller again with bus mastering on, the requeued I/O
# goes out, fio verifies, and the controller is live.
fail_disable_during_io() { # DISK
	local d rc=0 line cmd n
	d=$(inject_dir) || return 1
	fio_verify_bg /tmp/fdis.log "$1" 0 32m
	fio_started /tmp/fdis.log || return 1
	echo 1 >"$d/fail_disable" || fail "cannot arm fail_disable" || return 1
	ctrl_reset || { fio_wait 60 || true; return 1; }
	state_is live || { fio_wait 60 || true; return 1; }
	fio_wait 120 || rc=$?
	fio_summary /tmp/fdis.log
	((rc == 0)) || fail "verified fio failed across the reset (status $rc)" || return 1
	[[ $(inject_fired fail_disable) == 1 ]] ||
		fail "fail_disable fired $(inject_fired fail_disable) times, not once" || return 1
	line=$(dmesg_since | grep 'bus mastering off' || true)
	echo "${line:-no bus mastering line}"
	n=0
	[[ -z $line ]] || n=$(echo "$line" | wc -l)
	((n == 1)) || fail "expected 1 'bus mastering off' line, found $n" || return 1
	cmd=$(echo "$line" | sed -n 's/.*PCI command \(0x[0-9a-f]*\).*/\1/p')
	[[ -n $cmd ]] || fail "no PCI command value in the line" || return 1
	(((cmd & 4) == 0)) ||
		fail "Bus Master Enable still set ($cmd) when the commands were completed" || return 1
	n=$(log_count 'resetting controller')
	((n == 1)) || fail "$n 'resetting controller' lines, expected 1" || return 1
	bme_on || fail "bus mastering still off with the controller live again"
}

# Every allocation beyond the queue's reserve fails while 128 requests of
# 128 KiB at 512-byte offsets are in flight on one queue of 32 reserve
# entries; the module runs with sgl_threshold=0, so each needs a PRP list
# page (and a scatterlist when its buffer is in several segments).  QEMU
# throttles the drive until the hits file shows that an allocation beyond
# the reserve was attempted (a fast host otherwise finishes each batch
# before the next one arrives, and the reserve never runs out); then the
# throttle goes, and the I/O must complete and verify, within a bound,
# from the reserve alone.  Expected log lines: "inject: allocation at
# site iod failed" (rate limited).
iod_fired() {
	local n
	n=$(inject_fired fail_alloc:iod)
	((${n:-0} > 0))
}
iod_alloc_fails_io_completes() { # DISK
	local d rc=0 fired ran_out=1
	d=$(inject_dir) || return 1
	echo "iod 1000000" >"$d/fail_alloc" || fail "cannot arm fail_alloc iod" || return 1
	throttle 2 || return 1
	fio_bg /tmp/fiod.log "$1" --rw=randwrite --bs=128k --mem_align=512 \
		--iodepth=128 --iodepth_batch_submit=32 --offset=256m --size=64m \
		--verify=crc32c --verify_fatal=1 --do_verify=1 --cpus_allowed=0
	poll 60 iod_fired || ran_out=0
	throttle 0 || true
	fio_wait 180 || rc=$?
	fired=$(inject_fired fail_alloc:iod)
	echo "iod 0" >"$d/fail_alloc" || true
	fio_summary /tmp/fiod.log
	echo "fail_alloc:iod fired ${fired:-?} times"
	((ran_out)) || fail "no allocation beyond the reserve within 60 s of 128 throttled requests" || return 1
	((rc == 0)) || fail "verified fio failed or hung with iod allocations failing (status $rc)"
}

# The power-off after the last point must shut the controller down
# (CC.SHN), as the spec asks before power is removed; only QEMU, and only
# the host after QEMU has exited, can tell (trace_expect).
shn_at_power_off() {
	qemu_trace on pci_nvme_mmio_shutdown_set || return 1
	trace_expect pci_nvme_mmio_shutdown_set 1
}

# --- the suite ----------------------------------------------------------------

ktap_begin
echo "$HUNG_SECS" >/proc/sys/kernel/hung_task_timeout_secs

case $PROFILE in
default)
	case_begin load
	check load_driver drv_load
	check_disks probe
	P=${DISK[0]:-}
	case_end

	if [[ $DRIVER == cnvme ]]; then
		case_begin reset_garbage
		check reset_garbage_refused reset_garbage_refused
		case_end
	fi

	case_begin resets
	# cnvme says so once per reset; the stock driver resets silently.
	if [[ $DRIVER == cnvme ]]; then expect_log 'resetting controller' "$RESETS"; fi
	check "resets_${RESETS}_during_verified_io" resets_during_io "$P"
	case_end

	case_begin pci_reset
	# cnvme rebuilds the controller after each of the 3 function resets.
	if [[ $DRIVER == cnvme ]]; then expect_log 'resetting controller' 3; fi
	check pci_function_reset_during_io pci_reset_during_io "$P"
	case_end

	case_begin remove_rescan
	# The requests in flight when the function goes fail.
	expect_log 'error, dev nvme' 0-64
	check pci_remove_rescan_during_io remove_rescan_during_io "$P"
	P=${DISK[0]:-}
	check io_after_rescan fio_verify "$P" --rw=randwrite --bs=4k --iodepth=16 \
		--offset=512m --size=8m
	case_end

	case_begin unload
	check unload_driver drv_unload
	check unload_removes_nodes no_nodes_left
	case_end

	if [[ $DRIVER == cnvme ]]; then
		case_begin params
		check bad_params_refused bad_params
		case_end

		case_begin fail_disable
		# The user's reset, whose disable is made to fail.
		expect_log ': resetting controller$' 1
		expect_log 'disable: timed out \(CSTS.RDY never cleared, injected\)' 1
		check load_fault_injection drv_load fault_injection=1 sgl_threshold=0
		check_disks inject
		P=${DISK[0]:-}
		check fail_disable_bus_mastering_off fail_disable_during_io "$P"
		case_end

		case_begin fail_alloc_iod
		check iod_alloc_fails_io_completes iod_alloc_fails_io_completes "$P"
		check unload_fault_injection drv_unload
		case_end
	fi

	# Left loaded: the power-off that ends the boot runs the driver's
	# shutdown; a hang there fails the boot, and the host reads in
	# QEMU's trace that the controller was told CC.SHN.
	check load_for_shutdown drv_load
	check shutdown_shn_expected shn_at_power_off
	;;
slow)
	case_begin timeout
	# Every command that outlives the timeout is reported, then aborted
	# or reset away; the I/O may fail cleanly.
	expect_log 'timed out|QID [0-9]+ timeout' +
	expect_log 'Abort of command|Abort status' 0-100
	expect_log 'resetting controller|reset controller' 0-20
	expect_log 'error, dev nvme' 0-100
	check load_driver_io_timeout_2 drv_load io_timeout=2
	check_disks probe
	P=${DISK[0]:-}
	check io_outlives_timeout timeout_io "$P"
	check timeout_was_handled timeout_handled
	check state_live_after_timeouts state_is live
	check io_after_timeouts fio_verify "$P" --rw=randwrite --bs=4k --iodepth=2 \
		--offset=1m --size=16k
	# udev probes the disk again after each writer closes it; at a few
	# I/Os a second that takes a while, and it holds the disk open.
	check udev_done_with_disk udevadm settle --timeout=120
	check unload_driver drv_unload
	case_end

	case_begin suspend_drains
	# cnvme brings the controller back through a reset after resume.
	if [[ $DRIVER == cnvme ]]; then expect_log ': resetting controller$' 1; fi
	# Back to a 30 s timeout: stock's nvme_core keeps the 2 s of the
	# case before, and four commands a second would outlive it.
	check load_driver_io_timeout_30 drv_load io_timeout=30
	check_disks suspend
	P=${DISK[0]:-}
	check suspend_shn_after_commands suspend_with_commands_out "$P"
	check udev_done_after_suspend udevadm settle --timeout=120
	check unload_driver_after_suspend drv_unload
	case_end
	;;
mediaerr)
	case_begin media
	# Each read or write of a bad block fails and says so: the driver's
	# line naming the LBA, the block layer's medium error.
	expect_log 'failed with status|\(sct 0x2 / sc 0x8[01]\)' +
	expect_log 'critical medium error, dev nvme' +
	# udev's buffered reads of the bad block at sector 2048 (block 256).
	expect_log 'Buffer I/O error on dev nvme0n1, logical block 256,' 0-100
	check load_driver drv_load
	check_disks probe
	P=${DISK[0]:-}
	check read_errors_exactly_on_bad_blocks errors_exactly_on_bad_blocks "$P"
	check fio_error_on_bad_blocks fio_error_on_bad_block "$P"
	check write_error_on_bad_blocks write_error_on_bad_block "$P"
	check verified_io_elsewhere io_ok_elsewhere "$P"
	check log_names_the_lbas log_names_lbas
	check state_still_live state_is live
	check no_reset no_reset_logged
	check unload_driver drv_unload
	case_end
	;;
hotplug)
	# The unplug comes first, on a controller nothing has disturbed: after
	# the dead case QEMU 7.2 takes the unplugged controller off the bus
	# but keeps its drive attached ("info block": d0 attached to nvme0,
	# "info pci": nothing on bus 1), so device_add of the new one is
	# refused for good (seen 2026-11-30 in every run; without the dead
	# case before it, cnvme's and stock's replug work).
	case_begin unplug
	check load_driver drv_load
	check_disks probe
	P=${DISK[0]:-}
	# The device vanishes under fio: whatever was in flight fails, in
	# whatever words each driver has for it.
	expect_log 'device is gone|is dead|dead controller|timed out|error, dev nvme|Buffer I/O error|failed with status|controller is down|Removing after|I/O tag|reset failed|resetting controller' 0-100000
	check device_del_during_io surprise_removal "$P"
	check unload_after_unplug drv_unload
	check unload_removes_nodes no_nodes_left
	case_end

	case_begin replug
	check load_without_devices load_without_devices
	check device_add_probes device_add_probes
	P=${DISK[0]:-}
	check replug_keeps_acknowledged_data raw_verify "$P" $((3 << 20)) 1 /tmp/hp.sha
	check io_on_new_controller fio_verify "$P" --rw=randwrite --bs=4k --iodepth=16 \
		--offset=128m --size=8m
	case_end

	# The stock driver keeps a dead controller's disk and binding, and its
	# reset may block for admin_timeout: this contract is cnvme's own.
	if [[ $DRIVER == cnvme ]]; then
		case_begin dead
		# Each reset brings bus mastering back, the loop takes it away
		# again, until the health check gives up or a command of the
		# reset times out (which fails it at once): how many rounds that
		# takes, and which of the two ends it, varies; the end does not.
		expect_log 'health check' 0-500
		expect_log ': resetting controller$' 1-500
		expect_log 'trying again|during the reset' 0-500
		expect_log 'did not stop' 0-500
		expect_log 'reset failed' 0-500
		expect_log 'timed out' 0-500
		expect_log 'controller is dead' 1
		expect_log 'removing the disks of the dead controller' 1
		expect_log 'error, dev nvme|failed with status' 0-100000
		# udev's look at the disk after fio closes it (its inotify
		# watch) may come after the death: its reads fail too.
		expect_log 'Buffer I/O error on dev nvme' 0-1000
		check failed_reset_kills_controller dead_controller "$P"
		check rebind_after_death rebind_after_death
		case_end
	fi
	case_begin unload
	check unload_driver drv_unload
	case_end
	;;
rootport)
	case_begin aer_nonfatal
	check load_driver drv_load
	check_disks probe
	P=${DISK[0]:-}
	check aer_nonfatal_error_during_io aer_during_io "$P" 0x1000
	case_end

	# The stock driver waits for a slot_reset that never comes: it hangs.
	if [[ $DRIVER == cnvme ]]; then
		case_begin aer_fatal
		# The link stays down after the bus reset (QEMU 7.2), so the
		# PCI core gives up and cnvme's watchdog resets the controller.
		expect_log 'PCI channel frozen, resetting controller' 1
		expect_log 'subordinate device reset failed' 0-1
		expect_log 'PCI error recovery did not finish' 0-1
		expect_log ': resetting controller$' 0-1
		check aer_fatal_error_during_io aer_during_io "$P" 0x40000
		case_end
	fi

	case_begin suspend
	# cnvme brings the controller back through a reset after resume.
	if [[ $DRIVER == cnvme ]]; then expect_log ': resetting controller$' 1; fi
	check suspend_resume_during_io pm_cycle_during_io "$P" suspend platform
	case_end

	case_begin hibernate
	if [[ $DRIVER == cnvme ]]; then expect_log ': resetting controller$' 1-2; fi
	check hibernate_freeze_thaw_during_io pm_cycle_during_io "$P" disk devices
	check unload_driver drv_unload
	case_end
	;;
*)
	check known_profile fail "faults has no cases for profile $PROFILE"
	;;
esac
ktap_end
