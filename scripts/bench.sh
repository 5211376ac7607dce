#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make bench: stock nvme vs cnvme vs null_blk under QEMU/TCG.
#
# Two boots of the lab guest (scripts/guest-image.sh), one after the other:
#
#   wall   -smp 2, two NVMe controllers on null-co backends.  ROUNDS
#          rounds; in each, stock, cnvme and null_blk are loaded in turn
#          (the other NVMe driver unloaded first), every configuration runs
#          RUNTIME s with fio on vCPU 0.  Reports IOPS: median, min-max and
#          the cnvme/stock ratio.  Noisy (±20 %): read the ratios.
#   insns  -smp 1 -accel tcg,thread=single -icount with the insncount TCG
#          plugin (tools/insncount): guest instructions per I/O at 4k
#          randread QD1 and QD32, IRQ mode, from two fio runs of NUMBER_IOS
#          I/Os each, so that fio's start-up cancels.  Repeatable to ~2 %.
#
# Results: out/bench/{results.json,report.txt,bench.png,profile.txt} and the
# raw material of each boot in out/bench/{wall,insns}/.
#
# Environment:
#   ROUNDS=5 RUNTIME=3 RAMP=1    wall-clock rounds (issue 14 asks nine for
#                                its polled targets) and seconds per fio run
#   REPS=3 NUMBER_IOS="2000 12000"  instruction-count repetitions and sizes
#   BENCH_BOOTS="wall insns"     which boots to run (report only: "")
#   BENCH_DRIVERS="stock cnvme null_blk"  (also cnvme-threaded: cnvme with
#                                use_threaded_interrupts=1; cnvme-irqpoll:
#                                cnvme with irq_poll_threshold=4; cnvme-inject:
#                                cnvme with fault_injection=1, no rule
#                                armed; cnvme-base: cnvme.ko of
#                                CNVME_BASE_REV; each reported against cnvme)
#   BENCH_CONFIGS="..."          subset of the wall-clock configurations
#   PROFILE=1                    per-function profile in the insns boot
#   BENCH_RERUNS=2               at most this many more insns boots to run
#                                the repetitions report.py rejected again
#                                (only the drivers and configs concerned)
#   ICOUNT=shift=0               -icount of the insns boot (ICOUNT= for none:
#                                then QD1 depends on the host's load)
#   SCHED=none                   I/O scheduler of every disk (default: the
#                                kernel's choice, mq-deadline on one queue)
#   KARGS=                       extra guest kernel command line
#   INSNS_CONFIGS="rr4k-qd1 rr4k-qd32 rr4k-qd128"  the insns boot's configurations
#                                (polled ones, e.g. rr4k-qd1-poll, load
#                                every driver with poll_queues=1)
#   INSNS_SMP=1                  its vCPUs (still one host thread: exact);
#                                e.g. INSNS_SMP=2 INSNS_CONFIGS=rr4k-qd32-2cpu
#   CNVME_REV=HEAD               bench cnvme.ko of that commit, not the
#                                work tree's
#   CNVME_BASE_REV=REV           the commit whose cnvme.ko is the driver
#                                cnvme-base (old against new in one boot)
#   BENCH_OUT=out/bench          where the results go
#   V=1                          stream the guest consoles
#   SMOKE=1                      run tools/bench/smoke.sh instead (one
#                                short boot per driver), exit status = verdict

set -euo pipefail

# shellcheck source=scripts/common.sh
. "$(dirname "$0")/common.sh"

ROUNDS=${ROUNDS:-5}
RUNTIME=${RUNTIME:-3}
RAMP=${RAMP:-1}
REPS=${REPS:-3}
NUMBER_IOS=${NUMBER_IOS:-2000 12000}
BENCH_BOOTS=${BENCH_BOOTS-wall insns}
BENCH_DRIVERS=${BENCH_DRIVERS:-stock cnvme null_blk}
BENCH_CONFIGS=${BENCH_CONFIGS:-}
PROFILE=${PROFILE:-1}
BENCH_RERUNS=${BENCH_RERUNS:-2}
CNVME_REV=${CNVME_REV:-}
CNVME_BASE_REV=${CNVME_BASE_REV:-}
ICOUNT=${ICOUNT-shift=0}
KARGS=${KARGS:-}
INSNS_CONFIGS=${INSNS_CONFIGS:-rr4k-qd1 rr4k-qd32 rr4k-qd128}
INSNS_SMP=${INSNS_SMP:-1}
SCHED=${SCHED:-none}
V=${V:-}
SMOKE=${SMOKE:-}
OUT=${BENCH_OUT:-$LAB_OUT/bench}
TOOLS=$LAB_BUILD/tools/bench
NULL_SIZE=$((4 << 30))

[[ $(id -u) -eq 0 ]] || die "run as root"
start=$SECONDS

# --- what the bench needs --------------------------------------------------

"$LAB_ROOT/scripts/host-setup.sh"
HDIR=$("$LAB_ROOT/scripts/bench-setup.sh")
KVER=$(lab_kver) || die "no linux-headers-6.12-amd64"
KDIR_GUEST=$(lab_kernel_dir "$KVER")

# The plugin and the marker helper: rebuilt when their source changes.
mkdir -p "$TOOLS"
build_tool() { # OUTPUT SOURCE CFLAGS...
	local out=$1 src=$2
	shift 2
	if [[ ! -f $out || $src -nt $out || $HDIR/qemu-plugin.h -nt $out ]]; then
		log "cc ${src#"$LAB_ROOT"/}"
		gcc -O2 -Wall -Wextra -Werror "$@" -o "$out" "$src"
	fi
}
build_tool "$TOOLS/libinsncount.so" "$LAB_ROOT/tools/insncount/insncount.c" \
	-shared -fPIC -I"$HDIR"
build_tool "$TOOLS/mark" "$LAB_ROOT/tools/bench/mark.c" -static

# The module, for the kernel the guest boots.  KDIR may be empty or stale
# in the environment of a make started before host-setup installed the
# headers: let the sub-make find it again.
# build_cnvme REV: build cnvme.ko of commit REV (the work tree's when REV
# is empty), from "git archive REV" in build/bench-src/REV (the worktree's
# own build directory: build/tools is shared between worktrees).  Sets
# BUILT (the module) and BUILT_DESC.
build_cnvme() {
	local rev src=$LAB_ROOT vermagic
	if [[ -n $1 ]]; then
		rev=$(git -C "$LAB_ROOT" rev-parse --short "$1^{commit}") ||
			die "$1 is not a commit"
		src=$LAB_BUILD/bench-src/$rev
		rm -rf "$src"
		mkdir -p "$src"
		git -C "$LAB_ROOT" archive "$rev" |
			tar -x -C "$src"
		BUILT_DESC="commit $rev"
	else
		BUILT_DESC="work tree $(git -C "$LAB_ROOT" describe --always --dirty 2>/dev/null || echo '?')"
	fi
	BUILT=$src/drivers/block/cnvme/cnvme.ko
	log "building cnvme.ko: $BUILT_DESC"
	env -u KDIR make -s -C "$src" modules KDIR="$(lab_headers_dir "$KVER")" >&2
	vermagic=$(modinfo -F vermagic "$BUILT")
	[[ ${vermagic%% *} == "$KVER" ]] ||
		die "cnvme.ko is for '${vermagic%% *}', the guest runs $KVER"
}
# CNVME_REV=REV benchmarks the driver of a commit instead of the work tree.
MODULE=$LAB_ROOT/drivers/block/cnvme/cnvme.ko
CNVME_DESC=none
if [[ " $BENCH_DRIVERS " =~ \ cnvme(-threaded|-irqpoll|-inject)?\  ]]; then
	build_cnvme "$CNVME_REV"
	MODULE=$BUILT
	CNVME_DESC=$BUILT_DESC
fi
# CNVME_BASE_REV=REV: the driver cnvme-base, another commit's cnvme.ko.
BASE_MODULE=
CNVME_BASE_DESC=none
if [[ " $BENCH_DRIVERS " == *" cnvme-base "* ]]; then
	[[ -n $CNVME_BASE_REV ]] || die "BENCH_DRIVERS names cnvme-base: set CNVME_BASE_REV"
	build_cnvme "$CNVME_BASE_REV"
	BASE_MODULE=$BUILT
	CNVME_BASE_DESC=$BUILT_DESC
fi

GUEST=$("$LAB_ROOT/scripts/guest-image.sh")

# --- one boot ----------------------------------------------------------------

# boot NAME SMP ACCEL TIMEOUT SUITE_FILE [QEMU_ARGS...]: boot the lab guest
# with SUITE_FILE as its suite and the BENCH_* environment; the share's
# results/ ends up in $OUT/NAME/.
boot() {
	local name=$1 smp=$2 accel=$3 timeout=$4 suite=$5
	shift 5
	local dir=$OUT/$name run share log rc=0 qpid tailpid=
	rm -rf "$dir"
	mkdir -p "$dir" "$LAB_BUILD/run"
	run=$(mktemp -d "$LAB_BUILD/run/bench-$name.XXXXXX")
	share=$run/share
	mkdir -p "$share/suites" "$share/bench" "$share/results"
	install -m 0755 "$suite" "$share/suites/bench.sh"
	install -m 0644 "$LAB_ROOT/tools/bench/guest-lib.sh" "$share/bench/"
	install -m 0755 "$TOOLS/mark" "$share/bench/mark"
	[[ -f $MODULE ]] && cp "$MODULE" "$share/cnvme.ko"
	[[ -n $BASE_MODULE ]] && cp "$BASE_MODULE" "$share/cnvme-base.ko"
	{
		printf '%s=%q\n' SUITE bench PROFILE "bench-$name" DRIVER bench \
			KVER "$KVER" GUEST_TIMEOUT "${GUEST_TIMEOUT:-$((timeout - 60))}" \
			ROUNDS "$ROUNDS" RUNTIME "$RUNTIME" RAMP "$RAMP" REPS "$REPS" \
			NUMBER_IOS "$NUMBER_IOS" BENCH_DRIVERS "$BENCH_DRIVERS" \
			BENCH_CONFIGS_WANTED "$BENCH_CONFIGS" PROFILE "$PROFILE" \
			CNVME_KO /lab/cnvme.ko CNVME_DESC "$CNVME_DESC" \
			CNVME_BASE_KO /lab/cnvme-base.ko CNVME_BASE_DESC "$CNVME_BASE_DESC" SCHED "$SCHED" \
			KARGS "$KARGS" ICOUNT "$ICOUNT"
		for kv in "${BOOT_ENV[@]}"; do
			printf '%s=%q\n' "${kv%%=*}" "${kv#*=}"
		done
	} >"$share/profile.env"
	cp "$share/profile.env" "$dir/profile.env"
	log=$dir/console.log
	# No debugging options on the kernel command line: this measures speed.
	# shellcheck disable=SC2054 # the commas belong to QEMU options
	local qemu=(qemu-system-x86_64
		-machine q35 -accel "$accel" -cpu max -smp "$smp" -m 2048
		-nodefaults -no-user-config -display none -nic none -no-reboot
		-kernel "$KDIR_GUEST/vmlinuz" -initrd "$GUEST/initramfs.cpio.gz"
		-append "root=/dev/vda console=ttyS0 panic=-1 oops=panic quiet $KARGS"
		-chardev "file,id=con,path=$log" -serial chardev:con
		-drive "file=$GUEST/root.img,if=none,id=root,format=raw,snapshot=on"
		-device virtio-blk-pci,drive=root
		-virtfs "local,path=$share,mount_tag=lab,security_model=none,id=lab"
		"$@")
	printf '%q ' "${qemu[@]}" >"$dir/qemu.cmd"
	echo >>"$dir/qemu.cmd"
	: >"$log"
	# One lab guest at a time on this host (scripts/lab.sh, LAB_LOCK).
	if [[ ${LAB_LOCK:-} != none ]]; then
		exec 9>>"${LAB_LOCK:-/tmp/cnvme-lab.lock}"
		flock -n 9 || { log "waiting for another lab boot"; flock 9; }
	fi
	log "boot '$name': -smp $smp -accel $accel (limit $timeout s, console ${log#"$LAB_ROOT"/})"
	TMPDIR=$run timeout -k 10 "$timeout" "${qemu[@]}" </dev/null >"$dir/qemu.err" 2>&1 &
	qpid=$!
	# Progress: the guest's "bench:" lines (everything with V=1).
	if [[ -n $V ]]; then
		tail -n +1 -f --pid="$qpid" "$log" &
	else
		tail -n +1 -f --pid="$qpid" "$log" | sed -nu 's/\r$//; s/^bench: /  /p' &
	fi
	tailpid=$!
	wait "$qpid" || rc=$?
	wait "$tailpid" 2>/dev/null || true
	[[ ${LAB_LOCK:-} == none ]] || exec 9>&-
	cp -r "$share/results/." "$dir/"
	rm -rf "$run"
	if ((rc == 124 || rc == 137)); then
		log "error: boot '$name' did not finish within $timeout s (${log#"$LAB_ROOT"/})"
		return 1
	elif ((rc != 0)); then
		log "error: boot '$name': QEMU exited with $rc: $(tail -n 3 "$dir/qemu.err" | tr '\n' ' ')"
		return 1
	fi
	if ! grep -q '^bench: done' "$log"; then
		tail -n 30 "$log" | sed 's/^/  | /' >&2
		log "error: boot '$name' did not complete (${log#"$LAB_ROOT"/})"
		return 1
	fi
	log "boot '$name' done after $((SECONDS - start)) s"
}

# Two controllers, each a 4 GiB null-co namespace: no storage behind
# them, so the driver and the emulation are all that is measured.
nvme_null() { # COUNT
	local i
	for ((i = 0; i < $1; i++)); do
		NVME_ARGS+=(-blockdev "driver=null-co,node-name=null$i,size=$NULL_SIZE,read-zeroes=on"
			-device "nvme,serial=bench-$i,drive=null$i")
	done
}

if [[ -n $SMOKE ]]; then
	# Guest-side smoke check, the way make check would run it: one boot
	# per NVMe driver, DRIVER=stock|cnvme, KTAP in out/bench/smoke-*/.
	verdict=0
	for drv in stock cnvme; do
		NVME_ARGS=()
		nvme_null 1
		# Later lines of profile.env win: DRIVER is the one under test.
		BOOT_ENV=("DRIVER=$drv")
		boot "smoke-$drv" 2 tcg,thread=multi 600 "$LAB_ROOT/tools/bench/smoke.sh" \
			"${NVME_ARGS[@]}" || verdict=1
		grep -E '^(not )?ok|^# ' "$OUT/smoke-$drv/result.ktap" 2>/dev/null || verdict=1
		grep -q '^not ok' "$OUT/smoke-$drv/result.ktap" 2>/dev/null && verdict=1
	done
	exit "$verdict"
fi

# insns_boot NAME DRIVERS CONFIGS REPS PROFILE: one instruction-count boot
# (results in $OUT/NAME/).
insns_boot() {
	local name=$1 BENCH_DRIVERS=$2 INSNS_CONFIGS=$3 REPS=$4 PROFILE=$5 plugin
	local -a icount=()
	NVME_ARGS=()
	nvme_null 1
	BOOT_ENV=(BENCH_MODE=insns NCTRL=1 INSNS_CONFIGS="$INSNS_CONFIGS" INSNS_SMP="$INSNS_SMP")
	GUEST_TIMEOUT=
	plugin=$TOOLS/libinsncount.so
	[[ $PROFILE == 1 ]] && plugin+=,profile=on
	if [[ -n $ICOUNT ]]; then
		icount=(-icount "$ICOUNT")
		# Guest time is instruction time now, not the host's: the
		# guest's own limit would mean nothing; the host's holds.
		GUEST_TIMEOUT=1000000
	fi
	boot "$name" "$INSNS_SMP" tcg,thread=single 2400 "$LAB_ROOT/tools/bench/guest-bench.sh" \
		"${NVME_ARGS[@]}" "${icount[@]}" \
		-plugin "$plugin" -d plugin -D "$OUT/$name/plugin.log" \
		-trace pci_nvme_mmio_doorbell_sq -trace pci_nvme_mmio_doorbell_cq \
		-trace pci_nvme_irq_msix -trace pci_nvme_dbbuf_config
}

failed=()
for b in $BENCH_BOOTS; do
	NVME_ARGS=()
	BOOT_ENV=()
	GUEST_TIMEOUT=
	case $b in
	wall)
		nvme_null 2
		BOOT_ENV=(BENCH_MODE=wall NCTRL=2)
		# About 4 minutes a round with every configuration.
		limit=$((600 + ROUNDS * 400))
		((limit >= 2400)) || limit=2400
		boot wall 2 tcg,thread=multi "$limit" "$LAB_ROOT/tools/bench/guest-bench.sh" \
			"${NVME_ARGS[@]}" || failed+=(wall)
		;;
	insns)
		# Re-run boots of an earlier bench in the same place are not
		# this one's.
		rm -rf "$OUT"/insns-rerun*
		insns_boot insns "$BENCH_DRIVERS" "$INSNS_CONFIGS" "$REPS" "$PROFILE" ||
			{ failed+=(insns) && continue; }
		# Repetitions report.py rejects (impossible or wild counts, see
		# Documentation/benchmarks.md) run again, in at most BENCH_RERUNS
		# more boots of only the drivers and configurations concerned;
		# report.py merges insns-rerunN/ and says what it rejected.
		for ((i = 1; i <= BENCH_RERUNS; i++)); do
			want=$(python3 "$LAB_ROOT/tools/bench/report.py" --rerun "$OUT" "$REPS") ||
				{ log "error: report.py --rerun failed" && failed+=(insns-rerun) && break; }
			[[ -n $want ]] || break
			log "rejected repetitions to run again (driver config count): ${want//$'\n'/, }"
			insns_boot "insns-rerun$i" "$(awk '!s[$1]++ { printf "%s ", $1 }' <<<"$want")" \
				"$(awk '!s[$2]++ { printf "%s ", $2 }' <<<"$want")" \
				"$(awk '$3 > m { m = $3 } END { print m }' <<<"$want")" 0 ||
				{ failed+=("insns-rerun$i") && break; }
		done
		;;
	*) die "unknown boot '$b' in BENCH_BOOTS" ;;
	esac
done

python3 "$LAB_ROOT/tools/bench/report.py" "$OUT"
log "total $((SECONDS - start)) s; results in ${OUT#"$LAB_ROOT"/}/"
((${#failed[@]} == 0)) || die "boot(s) failed: ${failed[*]} (the report covers what completed)"
