# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Guest-side library of the lab suites: KTAP output, loading and unloading
# the driver under test, finding the disks the profile promises, fio and
# kernel-log checks.  Sourced by tests/suites/*.sh inside the guest, where
# lab-init has exported the profile (SUITE, PROFILE, DRIVER,
# EXPECT_DISKS, ...) and mounted the share on /lab.
#
# Test points:  check NAME COMMAND...  runs COMMAND, prints its output as
# KTAP diagnostics and records "ok N NAME" or "not ok N NAME # REASON",
# REASON being the command's last line of output.  check never fails the
# caller.  Commands run by check
# must return non-zero themselves on failure ("set -e" does not apply
# inside them).

set -euo pipefail

LAB=${LAB:-/lab}
RESULTS=$LAB/results
POINTS=$RESULTS/points
NTEST=0
NFAIL=0
MARK=
declare -a DISK=()	# DISK[i]: the disk matched to EXPECT_DISKS entry i
read -r -a EXPECTED <<<"${EXPECT_DISKS:-}"

# --- KTAP -----------------------------------------------------------------

ktap_begin() {
	: >"$POINTS"
	echo "KTAP version 1"
	echo "# suite $SUITE, profile $PROFILE, driver $DRIVER, kernel $(uname -r)"
	kmemleak_begin
	dmesg_mark
}

record() { # "ok"|"not ok" NAME [REASON]
	NTEST=$((NTEST + 1))
	local line="$1 $NTEST $2"
	[[ $1 == ok ]] || NFAIL=$((NFAIL + 1))
	[[ -n ${3:-} ]] && line+=" # $3"
	echo "$line" >>"$POINTS"
	echo "$line"
}

check() { # NAME COMMAND...
	local name=$1 out rc=0 reason
	shift
	out=$(mktemp)
	"$@" >"$out" 2>&1 </dev/null || rc=$?
	sed 's/^/# /' "$out"
	if ((rc == 0)); then
		record ok "$name"
	else
		# A silent failure has no last line: grep must not end the suite.
		reason=$({ grep -v '^[[:space:]]*$' "$out" || true; } | tail -n 1 | tr -d '#' | cut -c1-160)
		record "not ok" "$name" "${reason:-exit status $rc}"
	fi
	rm -f "$out"
	return 0
}

# kmemleak (the debug kernel only: Documentation/testing.rst, "The debug
# kernel"): what the kernel leaked before the suite began is not the
# suite's, so ktap_begin has it reported and forgets it; ktap_end scans
# again and copies each report line to the kernel log, where the host's
# whole-boot scan fails the boot on it (BAD_LOG: "unreferenced object") and
# shows it.  A kernel without kmemleak has no such file: nothing happens.
#
# kmemleak reports an object only when it is older than 5 s at the start
# of a scan (MSECS_MIN_AGE) and unreferenced in a scan that found its
# contents unchanged since the one before: a single scan never reports an
# object it sees for the first time.  So each end takes two scans, 5 s
# apart, the second one looking at everything allocated up to the first.
KMEMLEAK=/sys/kernel/debug/kmemleak
KMEMLEAK_MIN_AGE=5
kmemleak_scan_twice() {
	echo scan >"$KMEMLEAK" || return 1
	sleep "$KMEMLEAK_MIN_AGE"
	echo scan >"$KMEMLEAK"
}
kmemleak_begin() {
	[[ -w $KMEMLEAK ]] || return 0
	kmemleak_scan_twice && echo clear >"$KMEMLEAK" ||
		echo "<3>lab: kmemleak: scan failed: kmemleak disabled?" >/dev/kmsg
}
kmemleak_end() {
	local report n
	[[ -w $KMEMLEAK ]] || return 0
	if ! kmemleak_scan_twice; then
		echo "<3>lab: kmemleak: scan failed: kmemleak disabled?" >/dev/kmsg
		return 0
	fi
	report=$(cat "$KMEMLEAK")
	if [[ -z $report ]]; then
		echo "# kmemleak: no unreferenced object since the suite began"
		return 0
	fi
	n=$(grep -c '^unreferenced object' <<<"$report" || true)
	echo "# kmemleak: $n unreferenced object(s) since the suite began"
	report=$(kmemleak_unknown <<<"$report")
	grep '^# kmemleak' <<<"$report" || true
	report=$(grep -v '^# kmemleak' <<<"$report" || true)
	[[ -n $report ]] || return 0
	# /dev/kmsg drops all but ten lines in five seconds by default.
	echo on >/proc/sys/kernel/printk_devkmsg 2>/dev/null || true
	head -n 400 <<<"$report" | while IFS= read -r line; do
		echo "<3>lab: kmemleak: $line" >/dev/kmsg
	done
}

# Leaks of the kernel itself, not of any driver, each "NAME:ERE:ERE": an
# object whose backtrace matches both expressions is counted under NAME
# and not reported.  bio_map_user_iov: 6.12's block/blk-map.c lets
# iov_iter_extract_pages() allocate the page array for a user buffer of
# more than 8 pages and does not free it when pinning the pages fails
# (a passthrough command with a bad address); the stock driver leaks it
# the same way (Documentation/testing.rst, "The debug kernel").
KMEMLEAK_KNOWN=(
	'bio_map_user_iov:^ +want_pages_array[+]:^ +bio_map_user_iov[+]'
)

# kmemleak's report on stdin; prints the objects no KMEMLEAK_KNOWN entry
# matches, then a "# kmemleak:" line per known leak seen.
kmemleak_unknown() {
	awk -v known="$(printf '%s\n' "${KMEMLEAK_KNOWN[@]}")" '
	function flush(   i, f) {
		if (obj == "")
			return
		for (i = 1; i <= nk; i++) {
			split(k[i], f, ":")
			if (obj ~ ("\n" substr(f[2], 2)) && obj ~ ("\n" substr(f[3], 2))) {
				seen[f[1]]++
				obj = ""
				return
			}
		}
		printf "%s", obj
		obj = ""
	}
	BEGIN { nk = split(known, k, "\n"); if (k[nk] == "") nk-- }
	/^unreferenced object/ { flush() }
	{ obj = obj $0 "\n" }
	END {
		flush()
		for (name in seen)
			printf "# kmemleak: %d known object(s) of the kernel: %s\n", seen[name], name
	}'
}

# Writes the complete result file (lab.sh treats its absence as a crash)
# and exits with the suite's verdict.
ktap_end() {
	local tmp=$RESULTS/result.ktap.tmp
	kmemleak_end
	{
		echo "KTAP version 1"
		echo "1..$NTEST"
		cat "$POINTS"
	} >"$tmp"
	mv "$tmp" "$RESULTS/result.ktap"
	echo "1..$NTEST"
	echo "# $SUITE: $((NTEST - NFAIL)) passed, $NFAIL failed"
	sync
	exit $((NFAIL ? 1 : 0))
}

fail() { echo "$*"; return 1; }

# poll SECONDS COMMAND...: true once COMMAND succeeds, false at the
# deadline.  For state the kernel reaches asynchronously.
poll() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		((SECONDS < deadline)) || return 1
		sleep 0.1
	done
}

# --- the driver -------------------------------------------------------------

drv_module() { if [[ $DRIVER == stock ]]; then echo nvme; else echo cnvme; fi; }

# NVMe PCI functions (class 0x010802), as sysfs paths.
nvme_pci_devices() {
	local d
	for d in /sys/bus/pci/devices/*; do
		[[ $(<"$d/class") == 0x010802 ]] && echo "$d"
	done
	return 0
}

# Every NVMe function the profile has is bound to the driver under test.
all_bound() {
	local d n=0 drv
	for d in $(nvme_pci_devices); do
		n=$((n + 1))
		drv=$(readlink "$d/driver" 2>/dev/null) || return 1
		[[ ${drv##*/} == "$(drv_module)" ]] || return 1
	done
	((n == ${EXPECT_CTRLS:-1}))
}

show_binding() {
	local d drv
	for d in $(nvme_pci_devices); do
		drv=$(readlink "$d/driver" 2>/dev/null) || drv=none
		echo "${d##*/}: driver ${drv##*/}"
	done
}

# stock_load [PARAM=VALUE...]: the stock driver with cnvme's parameter
# names.  The timeouts and max_retries belong to nvme_core there, so
# nvme_core is reloaded when any of them is given.
stock_load() {
	local p core=() nvme=()
	for p in "$@"; do
		case ${p%%=*} in
		io_timeout | admin_timeout | max_retries | shutdown_timeout) core+=("$p") ;;
		*) nvme+=("$p") ;;
		esac
	done
	if ((${#core[@]})); then
		modprobe -r nvme_core 2>/dev/null || true
		modprobe nvme_core "${core[@]}" || fail "modprobe nvme_core ${core[*]} failed" || return 1
	fi
	modprobe nvme "${nvme[@]}" || fail "modprobe nvme ${nvme[*]} failed"
}

# drv_load [PARAM=VALUE...]: load the driver under test and wait until it
# has bound every controller of the profile.
# shellcheck disable=SC2120 # the parameters are optional
drv_load() {
	# scripts/lab.sh takes a crash before the first of these lines for
	# the emulator's, after it for the driver's.
	echo "<5>lab: loading $DRIVER" >/dev/kmsg
	# CNVME_ARGS (LAB_ENV="CNVME_ARGS=p=v,p=v"): parameters for every
	# load, before the suite's own, which win.
	local extra=()
	IFS=, read -r -a extra <<<"${CNVME_ARGS:-}"
	case $DRIVER in
	cnvme) insmod "$LAB/cnvme.ko" "${extra[@]}" "$@" ||
		fail "insmod cnvme.ko ${extra[*]} $* failed" ;;
	stock) stock_load "$@" ;;
	*) fail "unknown DRIVER=$DRIVER" ;;
	esac || return 1
	udevadm settle --timeout=60 || true
	# The driver's symbols, for the host's report if the guest hangs.
	grep -E "^[0-9a-f]+ [tT] .*\[($(drv_module)|nvme_core)\]" /proc/kallsyms \
		>"$RESULTS/kallsyms-driver" || true
	# Both drivers probe asynchronously: the binding comes first, then
	# the controller goes live, then its scan adds the disks.
	if ! poll 30 all_bound; then
		show_binding
		fail "expected ${EXPECT_CTRLS:-1} NVMe controller(s) bound to $(drv_module)"
		return 1
	fi
	poll 30 all_probed || true
	# Not a failure here: the suites check the disks themselves.
	if ((${#EXPECTED[@]})); then
		poll 30 match_disks || true
		udevadm settle --timeout=60 || true
	fi
}

# Every bound controller has left probe: its state reads live or dead.
all_probed() {
	local d f st
	for d in $(nvme_pci_devices); do
		f=$(ctrl_attr state "$d" 2>/dev/null) || return 1
		st=$(<"$f") || return 1
		[[ $st == live || $st == dead ]] || return 1
	done
}

# udev probes a disk that was written and closed; while its probe holds
# the disk open, rmmod says "in use".  Wait for udev, then give a last
# opener a bounded time to let go: a reference the driver leaked still
# fails here.
drv_unload() {
	udevadm settle --timeout=60 || true
	poll 30 rmmod "$(drv_module)" 2>/dev/null ||
		rmmod "$(drv_module)" || fail "rmmod $(drv_module) failed" || return 1
	[[ ! -e /sys/module/$(drv_module) ]] || fail "module still present after rmmod"
}

nvme_nodes() {
	compgen -G '/dev/nvme*n*' || true
	compgen -G '/sys/block/nvme*' || true
}

# After unload: no block node in /dev and no disk in sysfs.
no_nodes_left() {
	udevadm settle --timeout=60 || true
	local left
	left=$(nvme_nodes)
	[[ -z $left ]] || fail "left behind: $(echo "$left" | tr '\n' ' ')"
}

# The sysfs directory of the first NVMe PCI function.
first_nvme_pci() { nvme_pci_devices | head -n 1; }

# ctrl_attr NAME [PCI-DIR]: path of a controller attribute.  The nvme class
# device when there is one (stock: reset_controller, state), else the
# attribute cnvme puts on the PCI function itself.
ctrl_attr() {
	local pci=${2:-$(first_nvme_pci)} f
	for f in "$pci"/nvme/nvme*/"$1" "$pci/$1"; do
		[[ -e $f ]] && { echo "$f"; return 0; }
	done
	fail "no controller attribute '$1' under $pci" >&2
}

ctrl_state() { local f; f=$(ctrl_attr state) && cat "$f"; }

# qid_of_cpu0 DISK: the I/O queue of DISK that serves CPU 0 (blk-mq hardware
# context n is qid n+1 when there are no poll queues); status 1 if none.
qid_of_cpu0() {
	local d
	for d in /sys/block/"$1"/mq/*; do
		if tr -s ', ' '\n' <"$d/cpu_list" | grep -qx 0; then
			echo $((${d##*/} + 1))
			return 0
		fi
	done
	return 1
}

# ctrl_reset: one synchronous controller reset through sysfs.
ctrl_reset() {
	local f
	f=$(ctrl_attr reset_controller) || return 1
	echo 1 >"$f" || fail "writing 1 to $f failed"
}

# --- the host ---------------------------------------------------------------

# host_monitor COMMAND: have the host send one command to the QEMU monitor
# (scripts/lab.sh "Host actions"); prints the monitor's reply.  The reply
# says nothing about success: QEMU reports errors as text, so callers check
# the effect in the guest.
HOST_SEQ=0
host_monitor() {
	local dir=$LAB/host n
	HOST_SEQ=$((HOST_SEQ + 1))
	n=$$-$HOST_SEQ
	printf '%s\n' "$*" >"$dir/$n.req.tmp"
	mv "$dir/$n.req.tmp" "$dir/$n.req"
	poll 30 test -e "$dir/$n.ack" ||
		fail "the host did not answer monitor request '$*' within 30 s" || return 1
	echo "monitor: $*"
	sed 's/^/  | /' "$dir/$n.ack"
	rm -f "$dir/$n.ack"
}

# QEMU throttles the drive behind the namespace (the profile's -drive d0)
# to IOPS requests a second (0: no limit), so that the device holds the
# commands it fetched instead of finishing them at once.
throttle() { # IOPS
	local out
	out=$(host_monitor "block_set_io_throttle d0 0 0 0 $1 0 0") || return 1
	! grep -qiE 'error|not found|could not|invalid' <<<"${out#*$'\n'}" ||
		fail "block_set_io_throttle d0 failed: $out"
}

# --- QEMU's trace events: what reached the device --------------------------

# QEMU writes the trace events a suite turns on (qemu_trace) into
# qemu-trace.log on the share, one "event args" line each: the device's
# own account of the commands, doorbells and register writes it saw,
# which beats anything the driver says about itself.  Turn events on only
# around the case that needs them: per-command events are many.
QEMU_TRACE=$LAB/qemu-trace.log

qemu_trace() { # on|off EVENT...
	local st=$1 e out
	shift
	for e; do
		# The monitor says nothing when it worked.
		out=$(host_monitor "trace-event $e $st") &&
			! grep -qE '^  \| .*(Unknown|[Ee]rror)' <<<"$out" ||
			fail "cannot turn QEMU trace event $e $st: $out" || return 1
	done
}

# qemu_trace_mark starts a window of the trace, qemu_trace_since prints it.
# Mark after turning a case's events on: they come on one by one, seconds
# apart, and the window must not hold half of a command's events.
qemu_trace_mark() { QEMU_TRACE_AT=$({ wc -l <"$QEMU_TRACE"; } 2>/dev/null || echo 0); }
qemu_trace_since() { tail -n +$((QEMU_TRACE_AT + 1)) "$QEMU_TRACE"; }

# trace_expect EVENT MIN: QEMU's trace must show at least MIN EVENT lines
# from here on, counted by the host after QEMU has exited (scripts/lab.sh),
# so that what happens after the suite's last point counts too: the
# shutdown callback at the power-off.  Turn EVENT on first.
trace_expect() { # EVENT MIN
	local at
	at=$({ wc -l <"$QEMU_TRACE"; } 2>/dev/null || echo 0)
	echo "$at $1 $2" >>"$RESULTS/trace-expect"
	echo "the host will count $1 in QEMU's trace from line $at: at least $2"
}

# --- the share across a system suspend ---------------------------------------

# virtio-9p cannot suspend (its driver has no freeze/restore): after even a
# pm_test suspend the share is dead.  share_detach unmounts it and unbinds
# its virtio device, so the PM core leaves the device alone; share_attach
# binds and mounts it again as tests/guest/init does.  Nothing may use
# $LAB in between, and the suite must not run from it (suite_from_copy).
SHARE_DRV=/sys/bus/virtio/drivers/9pnet_virtio
share_detach() {
	local d
	d=$(compgen -G "$SHARE_DRV/virtio*" | head -n 1) || true
	[[ -n $d ]] || fail "no virtio device bound to 9pnet_virtio" || return 1
	SHARE_DEV=${d##*/}
	sync
	umount "$LAB" || fail "cannot unmount $LAB" || return 1
	echo "$SHARE_DEV" >"$SHARE_DRV/unbind" || fail "cannot unbind $SHARE_DEV"
}

share_attach() {
	echo "$SHARE_DEV" >"$SHARE_DRV/bind" || fail "cannot bind $SHARE_DEV" || return 1
	mount -t 9p -o trans=virtio,version=9p2000.L,msize=131072,cache=none lab "$LAB" ||
		fail "cannot mount the share again"
}

# suite_from_copy "$@": run the suite from a copy in /tmp, so that bash
# keeps no file open on the share (it reads a script as it goes).
suite_from_copy() {
	[[ ${LAB_SUITE_COPY:-} == 1 ]] && return 0
	mkdir -p /tmp/lab-suite
	cp "$0" /tmp/lab-suite/
	LAB_SUITE_COPY=1 exec bash "/tmp/lab-suite/${0##*/}" "$@"
}

# --- tasks ------------------------------------------------------------------

no_d_state_tasks() {
	local d
	d=$(ps -eo stat,pid,comm | awk '$1 ~ /^D/' || true)
	[[ -z $d ]] || fail "tasks in D state: $d"
}

# The disk has completed or is doing I/O.
disk_busy() { (($(awk '{ print $1 + $5 }' "/sys/block/$1/stat") > 0)); }

# Reads and writes the disk has completed so far.
disk_ios() { awk '{ print $1 + $5 }' "/sys/block/$1/stat" 2>/dev/null || echo 0; }

# --- disks ----------------------------------------------------------------

# One line per NVMe disk: NAME NSID BYTES LBS CACHE.
disk_list() {
	local d name nsid size lbs wc
	for d in /sys/block/nvme*; do
		[[ -e $d ]] || continue
		name=${d##*/}
		[[ $name =~ ^nvme[0-9]+n[0-9]+$ ]] || continue
		nsid=$(cat "$d/nsid" 2>/dev/null) || nsid=no-nsid-attr
		size=$(($(<"$d/size") * 512))
		lbs=$(<"$d/queue/logical_block_size")
		case $(<"$d/queue/write_cache") in
		"write back") wc=wb ;;
		"write through") wc=wt ;;
		*) wc=unknown ;;
		esac
		echo "$name $nsid $size $lbs $wc"
	done
}

# Match the disks present against EXPECT_DISKS (nsid:bytes:lbs:cache);
# fills DISK[] and MISSING/EXTRA.  Identical expectations are
# interchangeable, so a greedy match is exact.
match_disks() {
	local -a have
	local i line name rest used=" "
	mapfile -t have < <(disk_list)
	DISK=()
	MISSING=()
	for i in "${!EXPECTED[@]}"; do
		for line in "${have[@]}"; do
			name=${line%% *}
			rest=${line#* }
			[[ $used == *" $name "* ]] && continue
			if [[ ${rest// /:} == "${EXPECTED[$i]}" ]]; then
				DISK[i]=$name
				used+="$name "
				break
			fi
		done
		[[ -n ${DISK[i]:-} ]] || MISSING+=("${EXPECTED[$i]}")
	done
	EXTRA=()
	for line in "${have[@]}"; do
		[[ $used == *" ${line%% *} "* ]] || EXTRA+=("$line")
	done
	((${#MISSING[@]} == 0))
}

# wait_disks SECONDS: the expected disks appear (they normally exist as
# soon as the module has loaded).
wait_disks() {
	poll "$1" match_disks || true
	udevadm settle --timeout=60 || true
	match_disks || true
	echo "disks present (name nsid bytes lbs cache):"
	disk_list | sed 's/^/  /'
	((${#MISSING[@]} == 0)) || fail "missing: ${MISSING[*]}"
}

# Test points: one per expected disk, plus one for unexpected disks.
check_disks() { # PREFIX
	local i
	check "$1_disks_appear" wait_disks 30
	for i in "${!EXPECTED[@]}"; do
		check "$1_disk$i" disk_matches "$i"
	done
	check "$1_no_extra_disks" no_extra_disks
}

disk_matches() {
	local want=${EXPECTED[$1]} nsid
	if [[ -n ${DISK[$1]:-} ]]; then
		echo "nsid:bytes:lbs:cache $want is ${DISK[$1]}"
		return 0
	fi
	nsid=${want%%:*}
	echo "have: $(disk_list | awk -v n="$nsid" '$2 == n { printf "%s ", $0 }')"
	fail "no disk with nsid:bytes:lbs:cache $want"
}

no_extra_disks() {
	((${#EXTRA[@]} == 0)) || fail "unexpected: ${EXTRA[*]}"
}

# Field N (1 nsid, 2 bytes, 3 lbs, 4 cache) of expected disk I.
expect_field() { echo "${EXPECTED[$1]}" | cut -d: -f"$2"; }

# --- I/O ------------------------------------------------------------------

# How long a fio run may take: FIO_START_SECS for start-up and the verify
# pass's set-up, plus every byte written and read again at FIO_MIN_MIBS.
# basic@default moves 16-20 MiB/s (64 MiB written and verified in 3-4 s):
# the bound leaves a loaded host an 8-10x margin, yet a request stalled
# until a timeout or a nudge (20 s or more) overruns it.  A time-based run
# gets its runtime plus the start-up allowance.
FIO_START_SECS=${FIO_START_SECS:-15}
FIO_MIN_MIBS=${FIO_MIN_MIBS:-2}

# fio_bound DISK FIO-ARGS...: the bound in seconds for fio_verify's run.
fio_bound() {
	local dev=$1 a size='' jobs=1 runtime='' timed=0 bytes
	shift
	for a in "$@"; do
		case $a in
		--size=*) size=${a#--size=} ;;
		--numjobs=*) jobs=${a#--numjobs=} ;;
		--runtime=*) runtime=${a#--runtime=} ;;
		--time_based) timed=1 ;;
		esac
	done
	if ((timed)); then
		echo $((FIO_START_SECS + ${runtime:-0}))
		return 0
	fi
	case $size in
	"") bytes=$(blockdev --getsize64 "/dev/$dev") ;;
	*[kK]) bytes=$((${size%?} << 10)) ;;
	*[mM]) bytes=$((${size%?} << 20)) ;;
	*[gG]) bytes=$((${size%?} << 30)) ;;
	*) bytes=$size ;;
	esac
	# Written once and read back once by each job.
	echo $((FIO_START_SECS + (2 * jobs * bytes + (1 << 20) - 1) / ((1 << 20) * FIO_MIN_MIBS)))
}

# fio_verify DISK FIO-ARGS...: write, then read back and verify every block
# (crc32c, abort on the first mismatch), within fio_bound's time.
fio_verify() {
	local dev=$1 out rc=0 t0 secs bound
	shift
	[[ -n $dev && -b /dev/$dev ]] || fail "no block device '/dev/$dev'" || return 1
	bound=$(fio_bound "$dev" "$@")
	out=$(mktemp)
	t0=$(date +%s%N)
	fio --name=verify --filename="/dev/$dev" --allow_file_create=0 --direct=1 --ioengine=io_uring \
		--verify=crc32c --verify_fatal=1 --do_verify=1 --eta=never \
		--group_reporting "$@" >"$out" 2>&1 || rc=$?
	secs=$((($(date +%s%N) - t0 + 999999999) / 1000000000))
	if ((rc != 0)); then
		tail -n 30 "$out"
		rm -f "$out"
		fail "fio exited with status $rc"
		return 1
	fi
	grep -E 'err=|READ:|WRITE:' "$out" || true
	rm -f "$out"
	echo "fio took $secs s (bound $bound s)"
	((secs <= bound)) || fail "fio took $secs s, bound $bound s"
}

# Random bytes of LEN MiB written with O_DIRECT at byte OFFSET; the sha256
# goes to FILE.
raw_write() { # DISK OFFSET LEN_MiB FILE
	local src
	[[ -b /dev/$1 ]] || fail "no block device '/dev/$1'" || return 1
	src=$(mktemp)
	head -c $(($3 << 20)) /dev/urandom >"$src"
	sha256sum <"$src" | cut -d' ' -f1 >"$4"
	dd if="$src" of="/dev/$1" bs=1M seek="$2" oflag=direct,seek_bytes conv=fsync status=none ||
		{ rm -f "$src"; fail "dd to /dev/$1 failed"; return 1; }
	rm -f "$src"
	echo "wrote $3 MiB at byte $2 of $1: $(<"$4")"
}

raw_verify() { # DISK OFFSET LEN_MiB FILE
	local sum
	[[ -b /dev/$1 ]] || fail "no block device '/dev/$1'" || return 1
	sum=$(dd if="/dev/$1" bs=1M skip="$2" count="$3" iflag=direct,skip_bytes status=none |
		sha256sum | cut -d' ' -f1) || fail "reading /dev/$1 failed" || return 1
	echo "read $3 MiB at byte $2 of $1: $sum"
	[[ $sum == "$(<"$4")" ]] || fail "data at byte $2 of $1 differs from what was written"
}

# --- block tracepoint ---------------------------------------------------------

TRACE=/sys/kernel/tracing

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
	# Enabled at boot by lab.sh (see there): then this write changes
	# nothing, and the event is never disabled.
	echo 1 >"$TRACE/events/block/block_rq_issue/enable"
	echo 1 >"$TRACE/tracing_on"
	"$@" >/dev/null 2>&1 || true
	echo 0 >"$TRACE/tracing_on"
	n=$(awk -v k="$kind" '/block_rq_issue/ { for (i = 1; i <= NF; i++)
		if ($i ~ /^[0-9]+,[0-9]+$/) { if ($(i + 1) ~ k) c++; break } }
		END { print c + 0 }' "$TRACE/trace")
	echo "$n"
}

# --- kernel log -------------------------------------------------------------

# dmesg_mark starts a window of the kernel log: dmesg_since and dmesg_clean
# look at what follows it, and the expectations (expect_log) start empty.
dmesg_mark() {
	MARK="lab-mark-$SUITE-$$-$RANDOM"
	echo "<5>$MARK" >/dev/kmsg
	EXPECT_PAT=()
	EXPECT_CNT=()
}

# The kernel log since the mark, raw: "<prio>[time] text".
dmesg_since() { dmesg -r | sed -n "/$MARK/,\$p" | sed 1d; }

# Never fine unless declared: a crash, a warning, a lockdep splat, a stack.
# scripts/lab.sh scans the whole console for the same lines (HOST_BAD_LOG).
BAD_LOG='\<(WARNING|BUG|Oops|KFENCE)\>|hung task|blocked for more than|Call Trace|possible (circular|recursive) locking|inconsistent lock state|suspicious RCU usage'
# The debug kernel's checkers (KASAN and sleeping in atomic context say
# "BUG:"; lockdep, DMA-API and debug objects warn, "WARNING:", and these
# name the checker in the report's own line); none occurs on Debian's.
# Not kmemleak's own "N new suspected memory leaks": its count includes
# the kernel's known leaks (KMEMLEAK_KNOWN); kmemleak_end puts every other
# object in the log as "lab: kmemleak: unreferenced object ...".
BAD_LOG+='|DMA-API: .*(device driver|disabl|out of memory)|ODEBUG:|unreferenced object|lab: kmemleak:|Kernel memory leak detector disabled|lockdep is turned off|turning off the locking correctness validator'

# A driver or the block layer recovering from something: a timeout, an
# abort, a reset, a lost interrupt, a retry, an I/O error.  A test that
# provokes one declares it (expect_log); anywhere else it is a failure,
# even when the recovery worked.
#   cnvme: drivers/block/cnvme/*.c
RECOVERY_LOG='timed out|aborting|Abort of|resetting controller|controller is dead|interrupt lost|found complete on timeout|failed with status|fatal status|reset failed|keeps resetting|device is gone|unknown or stale command|PCI channel|error recovery did not finish|dead controller|slot reset|failed during probe'
#   stock nvme / nvme-core
RECOVERY_LOG+='|I/O tag [0-9]+|timeout, (aborting|reset controller|disable controller|completion polled)|Abort status|controller is down|Removing after probe failure|I/O Cmd\(|critical medium error|Disabling device after reset failure|Device not ready|IO queues lost|reset controller|persistent internal error|\(sct 0x[0-9a-f]+ / sc 0x'
#   the block layer (blk_print_req_error: "<status> error, dev ..."), buffers;
#   NVMe disks only: the power-off's sysrq makes the root disk (vda) fail
#   the reads of a PID 1 that is still running
RECOVERY_LOG+='|error, dev c?nvme|Buffer I/O error on dev c?nvme|lost async page write'

# expect_log PATTERN COUNT: the window since the last dmesg_mark may hold
# lines matching PATTERN (an ERE), and must hold COUNT of them: a number,
# a range MIN-MAX, or "+" for one or more.  dmesg_clean checks the count
# and lets those lines pass; any other line of BAD_LOG or RECOVERY_LOG
# fails it.
expect_log() {
	[[ $# == 2 && $2 =~ ^([0-9]+|[0-9]+-[0-9]+|\+)$ ]] ||
		{ echo "expect_log PATTERN COUNT|MIN-MAX|+: bad arguments: $*" >&2; return 1; }
	EXPECT_PAT+=("$1")
	EXPECT_CNT+=("$2")
}

count_in() { # N COUNT|MIN-MAX|+
	case $2 in
	+) (($1 >= 1)) ;;
	*-*) (($1 >= ${2%-*} && $1 <= ${2#*-})) ;;
	*) (($1 == $2)) ;;
	esac
}

# Lines this check accepted that the host's whole-boot scan would refuse
# go to results/log-allowed ("[time] text", as on the console), so that
# scripts/lab.sh accepts exactly those lines and no others.
allow_on_host() {
	grep -E "$BAD_LOG|$RECOVERY_LOG" | sed 's/^<[0-9]*>//' >>"$RESULTS/log-allowed" || true
}

dmesg_clean() {
	local log rest lines i n want bad=0
	log=$(dmesg_since)
	rest=$(grep -E "$BAD_LOG|$RECOVERY_LOG" <<<"$log" || true)
	for i in "${!EXPECT_PAT[@]}"; do
		want=${EXPECT_CNT[i]}
		lines=$(grep -E -- "${EXPECT_PAT[i]}" <<<"$log" || true)
		n=$(grep -c . <<<"$lines" || true)
		if count_in "$n" "$want"; then
			echo "expected: $n line(s) matching '${EXPECT_PAT[i]}' (want $want)"
			[[ -z $lines ]] || allow_on_host <<<"$lines"
		else
			echo "$lines" | head -n 20
			echo "expected $want line(s) matching '${EXPECT_PAT[i]}', found $n"
			bad=$((bad + 1))
		fi
		rest=$(grep -v -E -- "${EXPECT_PAT[i]}" <<<"$rest" || true)
	done
	if [[ -n $rest ]]; then
		echo "$rest" | head -n 20
		fail "kernel log has $(grep -c . <<<"$rest") unexpected line(s) since the window began" ||
			return 1
	fi
	((bad == 0)) || fail "$bad expect_log count(s) not met since the window began"
}
