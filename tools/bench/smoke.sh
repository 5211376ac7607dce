#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# lab-timeout: 600
#
# Smoke check of the benchmark, guest side: every configuration of make
# bench runs end to end (1 s each) on the driver under test, and a driver
# with poll queues completes fio --hipri without a single interrupt on its
# I/O queues while the poll queue does the work.  No performance verdict.
#
# Runs as a lab suite: $LAB is the share, DRIVER is stock or cnvme, the
# driver's module is $LAB/cnvme.ko (cnvme) and tools/bench/guest-lib.sh is
# at $LAB/bench/guest-lib.sh (or $BENCH_LIB).  Any disk works (null-co or
# a raw file); the check writes to the first disk (rw4k-qd32).  Writes
# KTAP to stdout, $LAB/results/points and $LAB/results/result.ktap.

# The helpers below run through check "$@", which shellcheck cannot see.
# shellcheck disable=SC2317
set -uo pipefail

LAB=${LAB:-/lab}
DRIVER=${DRIVER:-cnvme}
# shellcheck source=tools/bench/guest-lib.sh
. "${BENCH_LIB:-$LAB/bench/guest-lib.sh}"
RUNTIME=1
RAMP=0
NCTRL=1
RES=$LAB/results
mkdir -p "$RES"
POINTS=$RES/points
: >"$POINTS"
NTEST=0
NFAIL=0
TMP=$(mktemp -d)

point() { # ok|"not ok" NAME [DIRECTIVE]
	NTEST=$((NTEST + 1))
	local line="$1 $NTEST $2${3:+ # $3}"
	[[ $1 == ok ]] || NFAIL=$((NFAIL + 1))
	echo "$line" >>"$POINTS"
	echo "$line"
}

# check NAME COMMAND...: a test point from COMMAND's exit status; its
# output becomes KTAP diagnostics, its last line the failure reason.
# COMMAND runs in this shell (drv_load sets DISKS and POLLQ).
check() {
	local name=$1 out=$TMP/check.out rc=0
	shift
	"$@" >"$out" 2>&1 </dev/null || rc=$?
	sed 's/^/# /' "$out"
	if ((rc == 0)); then
		point ok "$name"
	else
		point "not ok" "$name" "$(grep -v '^[[:space:]]*$' "$out" | tail -n 1 | tr -d '#' | cut -c1-160)"
	fi
}

# run_cfg CONFIG: the configuration runs and completes I/O.
run_cfg() {
	local out=$TMP/$1.json irqs ios sums
	local iops
	irqs=$(run_timed "$1" "$out") || return 1
	# The bench reads the same JSON: it must parse and hold numbers.
	sums=$(fio_sums "$out") || { echo "$1: cannot parse fio's JSON output"; return 1; }
	read -r iops ios <<<"$sums"
	[[ $iops =~ ^[0-9]+$ && $ios =~ ^[0-9]+$ && $irqs =~ ^[0-9]+$ ]] ||
		{ echo "$1: unparsable results '$sums' / '$irqs'"; return 1; }
	echo "$1: $iops IOPS, $ios I/Os, $irqs I/O-queue interrupts"
	((ios > 0)) || { echo "$1: no I/O completed"; return 1; }
	echo "$irqs" >"$TMP/$1.irqs"
}

# The interrupt counter must see the IRQ-driven run, or a zero in the
# polled run proves nothing.
irqs_counted() {
	local n
	n=$(cat "$TMP/rr4k-qd1.irqs" 2>/dev/null) || { echo "rr4k-qd1 did not run"; return 1; }
	echo "rr4k-qd1 (IRQ mode): $n I/O-queue interrupts"
	((n > 0)) || { echo "no interrupts counted in IRQ mode: the counter is broken"; return 1; }
}

# With fio --hipri every completion is reaped by polling: the poll queue
# has no interrupt vector, and the interrupt-driven queues stay silent.
poll_no_irqs() {
	local cfg=$1 hctx n
	hctx=$(poll_hctxs "${DISKS[0]}")
	[[ -n $hctx ]] || { echo "${DISKS[0]}: no hardware context of type poll"; return 1; }
	echo "poll hctx: $hctx"
	run_cfg "$cfg" || return 1
	n=$(<"$TMP/$cfg.irqs")
	((n == 0)) || { echo "$cfg: $n interrupts on the I/O queues during fio --hipri"; return 1; }
}

echo "KTAP version 1"
echo "# bench smoke, driver $DRIVER, kernel $(uname -r)"
for m in nvme cnvme null_blk; do
	[[ -e /sys/module/$m ]] && rmmod "$m" 2>/dev/null
done
modprobe -r nvme 2>/dev/null

check "load_$DRIVER" drv_load "$DRIVER" 1
if ((${#DISKS[@]})); then
	for cfg in "${BENCH_CONFIGS[@]}"; do
		case $cfg in
		*-poll) continue ;;
		*-2ctrl)
			# Not a point at all where it cannot run: a skipped
			# point would count as failed (scripts/lab.sh).
			if ((${#DISKS[@]} < 2)); then
				echo "# $cfg: one controller only, not run"
				continue
			fi
			;;
		esac
		check "fio_$cfg" run_cfg "$cfg"
	done
	check irq_counter_works irqs_counted
	if ((POLLQ)); then
		check "poll_queue_no_irqs_qd1" poll_no_irqs rr4k-qd1-poll
		check "poll_queue_no_irqs_qd128" poll_no_irqs rr4k-qd128-poll
	else
		echo "# $DRIVER has no poll_queues parameter: no poll queues, polled configurations not run"
	fi
fi
check "unload_$DRIVER" drv_unload "$DRIVER"

# The ceiling of the benchmark must load and run as well.
check load_null_blk drv_load null_blk 1
check fio_null_blk_rr4k-qd1 run_cfg rr4k-qd1
check unload_null_blk drv_unload null_blk

rm -rf "$TMP"
{
	echo "KTAP version 1"
	echo "1..$NTEST"
	cat "$POINTS"
} >"$RES/result.ktap.tmp"
mv "$RES/result.ktap.tmp" "$RES/result.ktap"
echo "1..$NTEST"
echo "# bench smoke: $((NTEST - NFAIL)) passed, $NFAIL failed"
# For scripts/bench.sh SMOKE=1, which waits for this line.
echo "bench: done"
sync
exit $((NFAIL ? 1 : 0))
