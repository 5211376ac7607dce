# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Guest-side helpers of the benchmark, sourced by tools/bench/guest-bench.sh
# (make bench) and tools/bench/smoke.sh (the bench smoke check).  They
# load and unload one driver at a time, find its disks, run fio with the
# benchmark's configurations and count the driver's interrupts.
#
# Drivers: stock (Debian's nvme), cnvme (cnvme.ko from $CNVME_KO),
# null_blk (the kernel's null block device, the ceiling), and, only when
# BENCH_DRIVERS names them: cnvme-threaded (the same cnvme.ko with
# use_threaded_interrupts=1, to compare the interrupt modes), cnvme-irqpoll
# (the same cnvme.ko with irq_poll_threshold=4, interrupt mitigation), cnvme-inject
# (the same cnvme.ko with fault_injection=1 and no rule armed) and
# cnvme-base (another commit's cnvme.ko, from $CNVME_BASE_KO).
#
# Inputs (environment): CNVME_KO, CNVME_BASE_KO, NCTRL (NVMe controllers the VM has,
# default 1), RUNTIME and RAMP (seconds per timed fio run), SCHED (I/O
# scheduler of the disks: none, or default for the kernel's choice).

CNVME_KO=${CNVME_KO:-${LAB:-/lab}/cnvme.ko}
CNVME_BASE_KO=${CNVME_BASE_KO:-${LAB:-/lab}/cnvme-base.ko}
NCTRL=${NCTRL:-1}
RUNTIME=${RUNTIME:-3}
RAMP=${RAMP:-1}

# Every timed configuration, in the order they run and are reported.
# "-poll" ones use io_uring --hipri and need a poll queue; "-ng" ones are
# io_uring passthrough (fio's io_uring_cmd) on the disk's generic node,
# which null_blk does not have.
# shellcheck disable=SC2034 # used by the scripts that source this
BENCH_CONFIGS=(rr4k-qd1 rr4k-qd128 rr4k-qd1-poll rr4k-qd128-poll
	rr4k-qd1-ng rr4k-qd128-ng rr4k-qd1-ng-poll rr4k-qd128-ng-poll
	sr128k-qd16 rw4k-qd32 rr4k-qd32 rr4k-qd32-2ctrl rr4k-qd32-2cpu)

say() { echo "bench: $*"; }

# The module file or name modinfo and modprobe know the driver by.
drv_modref() {
	case $1 in
	stock) echo nvme ;;
	cnvme | cnvme-threaded | cnvme-irqpoll | cnvme-inject) echo "$CNVME_KO" ;;
	cnvme-base) echo "$CNVME_BASE_KO" ;;
	null_blk) echo null_blk ;;
	*) return 1 ;;
	esac
}

drv_module() {
	case $1 in
	stock) echo nvme ;;
	cnvme | cnvme-threaded | cnvme-irqpoll | cnvme-inject | cnvme-base) echo cnvme ;;
	null_blk) echo null_blk ;;
	*) return 1 ;;
	esac
}

# drv_has_param DRIVER PARAM: the module declares PARAM.
drv_has_param() {
	modinfo -p "$(drv_modref "$1")" 2>/dev/null | grep -q "^$2:"
}

# Disks of the loaded driver, one per controller (null_blk: per device),
# in a stable order.
drv_disks() {
	local d
	case $1 in
	null_blk)
		for d in /sys/block/nullb*; do
			[[ -e $d ]] && echo "${d##*/}"
		done
		;;
	*)
		for d in /sys/block/nvme*n1; do
			[[ -e $d ]] && echo "${d##*/}"
		done
		;;
	esac | sort -V
	return 0
}

# drv_load DRIVER POLL: load DRIVER; with POLL=1 ask for one poll queue
# when the module has the poll_queues parameter.  Sets DISKS (array) and
# POLLQ (1 when a poll queue was asked for).  Nothing of another driver may
# be loaded: both NVMe drivers bind the same PCI functions.
# shellcheck disable=SC2034 # DISKS and POLLQ are for the caller
drv_load() {
	local drv=$1 poll=$2 args=() i
	POLLQ=0
	DISKS=()
	if [[ $poll == 1 ]] && drv_has_param "$drv" poll_queues; then
		args+=(poll_queues=1)
		POLLQ=1
	fi
	case $drv in
	stock) modprobe nvme "${args[@]}" ;;
	cnvme) insmod "$CNVME_KO" "${args[@]}" ;;
	cnvme-threaded) insmod "$CNVME_KO" use_threaded_interrupts=1 "${args[@]}" ;;
	cnvme-irqpoll) insmod "$CNVME_KO" irq_poll_threshold=4 "${args[@]}" ;;
	cnvme-inject) insmod "$CNVME_KO" fault_injection=1 "${args[@]}" ;;
	cnvme-base) insmod "$CNVME_BASE_KO" "${args[@]}" ;;
	# irqmode=1: completions in softirq context, the setting of the NOTES'
	# baseline; a queue as deep as the NVMe drivers' (1023 tags).
	null_blk) modprobe null_blk queue_mode=2 irqmode=1 gb=4 bs=512 \
		hw_queue_depth=1023 nr_devices="$NCTRL" "${args[@]}" ;;
	esac || { echo "loading $drv failed"; return 1; }
	for ((i = 0; i < 300; i++)); do
		mapfile -t DISKS < <(drv_disks "$drv")
		((${#DISKS[@]} >= NCTRL)) && break
		sleep 0.1
	done
	udevadm settle --timeout=30 2>/dev/null || true
	if ((${#DISKS[@]} < NCTRL)); then
		echo "$drv: ${#DISKS[@]} disk(s) after 30 s, expected $NCTRL"
		return 1
	fi
	# No I/O scheduler for anyone: with a single hardware queue (one vCPU)
	# the kernel would pick mq-deadline and measure that instead.
	# SCHED=default keeps the kernel's choice.
	[[ ${SCHED:-none} == default ]] && return 0
	for i in "${DISKS[@]}"; do
		echo "${SCHED:-none}" >"/sys/block/$i/queue/scheduler" 2>/dev/null ||
			{ echo "$i: cannot select the ${SCHED:-none} scheduler"; return 1; }
	done
}

drv_unload() {
	local mod
	mod=$(drv_module "$1")
	udevadm settle --timeout=30 2>/dev/null || true
	if [[ $1 == stock ]]; then
		# nvme-core too: nothing of the stock stack stays behind.
		modprobe -r nvme
	else
		rmmod "$mod"
	fi || { echo "unloading $1 failed"; return 1; }
	[[ ! -e /sys/module/$mod ]] || { echo "$mod still loaded"; return 1; }
}

# Interrupts taken so far by the NVMe I/O queues (nvmeNqM or cnvmeNqM with
# M > 0; the admin queue is left out).  null_blk has none.
io_irqs() {
	awk '$NF ~ /^c?nvme[0-9]+q[1-9][0-9]*$/ {
		for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++)
			s += $i
	} END { print s + 0 }' /proc/interrupts
}

# The disks' hardware contexts of type "poll" (blk-mq debugfs).
poll_hctxs() {
	local f
	for f in /sys/kernel/debug/block/"$1"/hctx*/type; do
		[[ -r $f && $(<"$f") == poll ]] && echo "${f%/type}"
	done
	return 0
}

# cfg_fio CONFIG: the fio arguments of CONFIG on DISKS, one per line, for
# a timed run.  Returns 2 when the configuration cannot run here.
cfg_fio() {
	local cfg=$1 rw bs qd
	case $cfg in
	rr4k-qd*) rw=randread bs=4k ;;
	sr128k-qd*) rw=read bs=128k ;;
	rw4k-qd*) rw=randwrite bs=4k ;;
	*) return 2 ;;
	esac
	qd=${cfg#*-qd}
	qd=${qd%%-*}
	if [[ $cfg == *-ng* ]]; then
		[[ ${DISKS[0]} == nvme* && -c /dev/ng${DISKS[0]#nvme} ]] || return 2
		printf '%s\n' --ioengine=io_uring_cmd --cmd_type=nvme --rw="$rw" --bs="$bs" \
			--iodepth="$qd" --norandommap --randrepeat=0 --disk_util=0
		[[ $cfg == *-poll ]] && echo --hipri
		printf '%s\n' --cpus_allowed=0 --name=j --filename="/dev/ng${DISKS[0]#nvme}"
		return 0
	fi
	printf '%s\n' --direct=1 --ioengine=io_uring --rw="$rw" --bs="$bs" \
		--iodepth="$qd" --norandommap --randrepeat=0 --disk_util=0
	[[ $cfg == *-poll ]] && echo --hipri
	case $cfg in
	*-2ctrl)
		((${#DISKS[@]} >= 2)) || return 2
		printf '%s\n' --cpus_allowed=0 --name=c0 --filename="/dev/${DISKS[0]}" \
			--name=c1 --filename="/dev/${DISKS[1]}"
		;;
	*-2cpu)
		printf '%s\n' --cpus_allowed=0,1 --cpus_allowed_policy=split --numjobs=2 \
			--name=j --filename="/dev/${DISKS[0]}"
		;;
	*)
		printf '%s\n' --cpus_allowed=0 --name=j --filename="/dev/${DISKS[0]}"
		;;
	esac
}

# run_timed CONFIG OUT.json: one timed run; prints the interrupts the
# NVMe I/O queues took during it.
run_timed() {
	local cfg=$1 out=$2 i0 i1 rc=0
	local -a args
	mapfile -t args < <(cfg_fio "$cfg")
	i0=$(io_irqs)
	fio --time_based --runtime="$RUNTIME" --ramp_time="$RAMP" --eta=never \
		--output-format=json --output="$out.tmp" "${args[@]}" >/dev/null 2>&1 ||
		rc=$?
	i1=$(io_irqs)
	if ((rc)); then
		echo "fio $cfg failed with status $rc: $(tail -n 3 "$out.tmp" 2>/dev/null | tr '\n' ' ')" >&2
		rm -f "$out.tmp"
		return 1
	fi
	mv "$out.tmp" "$out"
	echo $((i1 - i0))
}

# fio_sums FIO.json: "IOPS I/Os" (reads plus writes), summed over the
# jobs; each job is reported on its own, so an unfair split shows in the
# JSON.  One python3 start per run: under TCG each costs about a second.
fio_sums() {
	python3 -c 'import json, sys
jobs = json.load(open(sys.argv[1]))["jobs"]
print("%.0f %d" % (sum(j["read"]["iops"] + j["write"]["iops"] for j in jobs),
                   sum(j["read"]["total_ios"] + j["write"]["total_ios"] for j in jobs)))' "$1"
}
