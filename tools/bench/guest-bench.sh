#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Guest side of make bench: run by the lab guest's init as the boot's
# suite (scripts/bench.sh puts it in the share as suites/bench.sh).
#
#   BENCH_MODE=wall    ROUNDS alternating rounds of every configuration
#                      for each of BENCH_DRIVERS, timed (IOPS)
#   BENCH_MODE=insns   INSNS_CONFIGS (4k randread QD1 and QD32, IRQ mode,
#                      by default), NUMBER_IOS ("N1 N2") I/Os each,
#                      bracketed by the marker that the insncount plugin
#                      reports; REPS repetitions
#
# Results go to $LAB/results/: runs.tsv (one line per fio run), fio/*.json,
# marks.tsv (insns mode: one line per marker, in execution order),
# kallsyms-DRIVER.txt (insns mode: text symbols while DRIVER was loaded),
# kallsyms-DRIVER-repREP.txt (insns mode: the module's text symbols in
# repetition REP).
# Progress lines ("bench: ...") go to the console.

set -uo pipefail

LAB=${LAB:-/lab}
# shellcheck source=tools/bench/guest-lib.sh
. "$LAB/bench/guest-lib.sh"

RES=$LAB/results
MARK=$LAB/bench/mark
MODE=${BENCH_MODE:-wall}
ROUNDS=${ROUNDS:-5}
REPS=${REPS:-3}
read -r -a DRIVERS <<<"${BENCH_DRIVERS:-stock cnvme null_blk}"
read -r -a CONFIGS <<<"${BENCH_CONFIGS_WANTED:-${BENCH_CONFIGS[*]}}"
read -r -a NUMBER_IOS <<<"${NUMBER_IOS:-2000 12000}"
read -r -a INSNS_CONFIGS <<<"${INSNS_CONFIGS:-rr4k-qd1 rr4k-qd32 rr4k-qd128}"
mkdir -p "$RES/fio"
# fio writes the output of exec_prerun/exec_postrun into the cwd.
cd /tmp || exit 1
: >"$RES/runs.tsv"

# Nothing else may disturb the measurement: quiet console, no udev events
# from the disks beyond the first probe.
dmesg -n 1 2>/dev/null

fail_boot() {
	say "error: $*"
	echo "error $*" >>"$RES/runs.tsv"
	exit 1
}

# The order of the drivers in round R: NVMe drivers alternate which goes
# first, so that a drift in the host's speed does not favour one of them.
round_order() {
	local r=$1 d out=()
	for d in "${DRIVERS[@]}"; do
		out+=("$d")
	done
	if ((r % 2 == 0)) && ((${#out[@]} >= 2)); then
		local t=${out[0]}
		out[0]=${out[1]}
		out[1]=$t
	fi
	echo "${out[@]}"
}

wall_mode() {
	local r drv cfg out irqs iops line ios why
	say "wall-clock: $ROUNDS rounds of ${CONFIGS[*]} for ${DRIVERS[*]}" \
		"(${RUNTIME}s + ${RAMP}s ramp each, fio on CPU 0, $(nproc) vCPUs)"
	for drv in "${DRIVERS[@]}"; do
		if drv_has_param "$drv" poll_queues; then
			say "$drv: has poll_queues: loaded with poll_queues=1"
		else
			say "$drv: NO poll_queues parameter: polled configs skipped for $drv"
		fi
	done
	for ((r = 1; r <= ROUNDS; r++)); do
		for drv in $(round_order "$r"); do
			drv_load "$drv" 1 || fail_boot "round $r: cannot load $drv"
			line="round $r/$ROUNDS $drv:"
			for cfg in "${CONFIGS[@]}"; do
				if [[ $cfg == *-poll ]] && ((!POLLQ)); then
					printf '%s\t%s\t%s\tskip\tno-poll-queues\n' "$r" "$drv" "$cfg" \
						>>"$RES/runs.tsv"
					line+=" $cfg=skip"
					continue
				fi
				if ! cfg_fio "$cfg" >/dev/null; then
					why=needs-2-disks
					[[ $cfg == *-ng* ]] && why=no-generic-node
					printf '%s\t%s\t%s\tskip\t%s\n' "$r" "$drv" "$cfg" "$why" \
						>>"$RES/runs.tsv"
					continue
				fi
				out=$RES/fio/w-$r-$drv-$cfg.json
				if irqs=$(run_timed "$cfg" "$out"); then
					read -r iops ios < <(fio_sums "$out")
					printf '%s\t%s\t%s\tok\t%s\t%s\t%s\n' "$r" "$drv" "$cfg" \
						"fio/${out##*/}" "$irqs" "$ios" >>"$RES/runs.tsv"
					line+=" $cfg=$iops"
				else
					printf '%s\t%s\t%s\tfail\tfio-error\n' "$r" "$drv" "$cfg" \
						>>"$RES/runs.tsv"
					line+=" $cfg=FAIL"
				fi
			done
			say "$line"
			drv_unload "$drv" || fail_boot "round $r: cannot unload $drv"
		done
	done
}

# counted DRIVER CONFIG N REP PROFILE: one fio run of N I/Os whose job
# executes the marker right before its first I/O and right after its last
# (exec_prerun/exec_postrun): fio's start-up (option parsing, its clock
# calibration spin, which depends on the host's speed) stays outside.
# marks.tsv gets one line per marker.
counted() {
	local drv=$1 cfg=$2 n=$3 rep=$4 prof=$5 out mark=$MARK rc=0
	local -a args
	out=$RES/fio/i-$rep-$drv-$cfg-$n.json
	mapfile -t args < <(cfg_fio "$cfg")
	((prof)) && mark+=" -p"
	# Every job runs the pre- and post-run command: two-job
	# configurations execute two markers at each end.
	local jobs=1 j
	[[ $cfg == *-2cpu || $cfg == *-2ctrl ]] && jobs=2
	for ((j = 0; j < jobs; j++)); do
		printf '%s\t%s\t%s\t%s\tbegin\t%s\n' "$rep" "$drv" "$cfg" "$n" "$prof" >>"$RES/marks.tsv"
	done
	for ((j = 0; j < jobs; j++)); do
		printf '%s\t%s\t%s\t%s\tend\t%s\n' "$rep" "$drv" "$cfg" "$n" "$prof" >>"$RES/marks.tsv"
	done
	fio --number_ios="$n" --eta=never --output-format=json --output="$out" \
		--exec_prerun="$mark" --exec_postrun="$mark" "${args[@]}" >/dev/null 2>&1 || rc=$?
	((rc == 0)) || { say "fio failed ($drv $cfg $n): status $rc"; return 1; }
	printf '%s\t%s\t%s\tok\t%s\t0\t%s\n' "$rep" "$drv" "$cfg" "fio/${out##*/}" \
		"$(fio_sums "$out" | cut -d' ' -f2)" >>"$RES/runs.tsv"
}

warm_up() {
	local -a args
	mapfile -t args < <(cfg_fio "$1")
	fio --number_ios=500 --eta=never --output-format=json --output=/dev/null \
		"${args[@]}" >/dev/null 2>&1
}

insns_mode() {
	local rep drv cfg n prof want_poll=0
	: >"$RES/marks.tsv"
	# Polled configurations need a poll queue; every driver gets the same
	# parameters, so all of them get one then.
	for cfg in "${INSNS_CONFIGS[@]}"; do
		[[ $cfg == *-poll ]] && want_poll=1
	done
	say "instruction count: ${REPS} reps of ${INSNS_CONFIGS[*]} for ${DRIVERS[*]}," \
		"number_ios ${NUMBER_IOS[*]}, $(nproc) vCPU, poll queue $want_poll"
	[[ -x $MARK ]] || fail_boot "no marker helper $MARK"
	for ((rep = 1; rep <= REPS; rep++)); do
		for drv in $(round_order "$rep"); do
			drv_load "$drv" "$want_poll" || fail_boot "rep $rep: cannot load $drv"
			# Let the first-probe work (udev, partition scan) finish.
			sleep 2
			for cfg in "${INSNS_CONFIGS[@]}"; do
				if [[ $cfg == *-poll ]] && ((!POLLQ)); then
					say "rep $rep $drv: no poll queue, $cfg not run"
					continue
				fi
				prof=0
				((rep == 1)) && [[ ${PROFILE:-1} == 1 ]] && prof=1
				# A polled run spins until the device answers, a
				# number of rounds set by the host's speed: every
				# polled run dumps the profile, whose execution
				# counts give the rounds of the run (report.py).
				[[ $cfg == *-poll ]] && prof=1
				# Uncounted warm-up: page cache, slab caches and the
				# driver's first-use allocations are then the same
				# for both counted runs.
				warm_up "$cfg" || fail_boot "rep $rep: $drv $cfg warm-up failed"
				for n in "${NUMBER_IOS[@]}"; do
					counted "$drv" "$cfg" "$n" "$rep" "$prof" ||
						fail_boot "rep $rep: $drv $cfg failed"
				done
			done
			if ((rep == 1)); then
				# Text symbols only, with this driver's module loaded.
				awk '$2 ~ /^[tT]$/' /proc/kallsyms >"$RES/kallsyms-$drv.txt"
			fi
			# The module may load at another address every time:
			# its text symbols of this repetition.
			awk 'NF > 3 && $2 ~ /^[tT]$/' /proc/kallsyms >"$RES/kallsyms-$drv-rep$rep.txt"
			say "rep $rep/$REPS $drv: done"
			drv_unload "$drv" || fail_boot "rep $rep: cannot unload $drv"
		done
	done
}

say "start: mode $MODE, kernel $(uname -r), cnvme $(modinfo -F vermagic "$CNVME_KO" 2>/dev/null | cut -d' ' -f1)"
case $MODE in
wall) wall_mode ;;
insns) insns_mode ;;
*) fail_boot "unknown BENCH_MODE=$MODE" ;;
esac
say "done"
sync
exit 0
