#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Boot one lab guest and run one suite in it:
#
#   scripts/lab.sh SUITE PROFILE
#
# Environment:
#   DRIVER=cnvme|stock  driver under test (default cnvme)
#   KERNEL=debug        boot the debug kernel (scripts/debug-kernel.sh,
#                       built first when not cached) with a cnvme.ko
#                       built for it (default: debian's kernel); results
#                       under out/$DRIVER-debug/, per-boot limit x3
#   V=1                 stream the guest console to the terminal
#   TIMEOUT=SECONDS     per-boot limit (default: the suite's "lab-timeout:"
#                       line, else 900)
#   KEEP=1              keep the run directory under build/run/
#   NUDGE_SECS=N        poke QEMU when the console is silent this long
#                       (default 20; 0: never; see nudge below)
#   LAB_LOCK=FILE       boots that share FILE (default /tmp/cnvme-lab.lock)
#                       run one at a time, whichever checkout started them;
#                       LAB_LOCK=none lets them overlap
#   LAB_ENV="N=v ..."   extra variables for the suite in the guest;
#                       CNVME_ARGS=p=v,p=v adds module parameters to
#                       every load of cnvme.ko, e.g. irq_poll_threshold=4
#   CNVME_KO=FILE       the cnvme module to test (default: this tree's
#                       drivers/block/cnvme/cnvme.ko), e.g. one DKMS
#                       installed: /lib/modules/$KVER/updates/dkms/cnvme.ko.xz
#                       (.xz, .zst and .gz are decompressed for the guest)
#   LAB_RESULTS=NAME    results under out/NAME/ instead of out/$DRIVER/
#                       (out/$DRIVER-debug/ with KERNEL=debug)
#   LAB_POINTS_REQUIRED=1  fail also when tests/points has no count for
#                       this suite, profile and driver (CI sets it)
#
# After every boot the whole console is scanned for kernel lines that are
# never fine (BAD_LOG of tests/guest/lib.sh: WARNING, BUG, Oops, KFENCE,
# lockdep, Call Trace, ...) and for a driver's recovery (RECOVERY_LOG:
# timeouts, aborts, resets, I/O errors), also outside the suite's log
# windows (bench, the power-off after faults@default); the
# guest boots with panic_on_warn=1.  Only lines the suite declared
# (expect_log) and its dmesg_clean accepted, listed by the guest in
# results/log-allowed, pass.  One before the driver was loaded (the
# guest's "lab: loading DRIVER" line) is the emulator's: the boot is
# retried once and reported as a flake.  One after it fails the boot.
#
# A suite may name host-prepared material it needs with a line
# "# lab-extras: NAME..." (see scripts/lab-extras.sh); it appears in the
# guest under $LAB/extras/NAME.
#
# The console goes to out/$DRIVER/SUITE@PROFILE/console.log; the guest's
# KTAP results come back over the 9p share.  Exit status 0 only when the
# guest completed the suite and every test point passed.  The last line of
# out/.../summary is machine-readable for tests/check.sh.
#
# The host knows how many points each suite reports on each profile for
# each driver (tests/points): a different number fails the boot, and a
# point marked "# SKIP" counts as failed.  A suite may also declare what
# QEMU's trace must show after its last word (trace_expect in
# tests/guest/lib.sh), which the host checks once QEMU has exited.
#
# Host actions: some faults can only be caused from outside the guest (a
# controller unplugged with device_del, a new one added with device_add).
# The QEMU monitor is a unix socket on the host, so the guest asks and the
# host acts: a suite writes one monitor command into host/N.req on the
# share (tests/guest/lib.sh: host_monitor), a watcher here sends it to the
# monitor with socat and answers with the monitor's reply in host/N.ack.
# Every request and reply is logged to out/.../host-actions.log.

set -euo pipefail

# shellcheck source=scripts/common.sh
. "$(dirname "$0")/common.sh"

usage() { echo "usage: [DRIVER=cnvme|stock] [V=1] $0 SUITE PROFILE" >&2; exit 2; }
[[ $# -eq 2 ]] || usage
SUITE=$1
PROFILE=$2
DRIVER=${DRIVER:-cnvme}
V=${V:-}
SUITE_FILE=$LAB_ROOT/tests/suites/$SUITE.sh

# shellcheck source=tests/profiles.sh
. "$LAB_ROOT/tests/profiles.sh"
[[ -f $SUITE_FILE ]] || die "no suite '$SUITE' (tests/suites/$SUITE.sh)"
declare -F "profile_$PROFILE" >/dev/null || die "no profile '$PROFILE' (${PROFILES[*]})"
[[ $DRIVER == cnvme || $DRIVER == stock ]] || die "DRIVER must be cnvme or stock"
[[ $(id -u) -eq 0 ]] || die "run as root"

results=$DRIVER
[[ ${KERNEL:-debian} == debug ]] && results=$DRIVER-debug
OUT=$LAB_OUT/${LAB_RESULTS:-$results}/$SUITE@$PROFILE
rm -rf "$OUT"
mkdir -p "$OUT"
LOG=$OUT/console.log
SUMMARY=$OUT/summary
start=$SECONDS
# A retry after an emulator flake (see the top): the flaky boot's console.
flakes=0
if [[ -n ${LAB_FLAKE_LOG:-} ]]; then
	flakes=1
	mv "$LAB_FLAKE_LOG" "$OUT/console.flake.log" 2>/dev/null || true
fi
nudges=0

plural() { # N WORD
	if (($1 == 1)); then echo "$1 $2"; else echo "$1 ${2}s"; fi
}

# finish STATUS PASSED FAILED: report and exit.  STATUS is ok, fail,
# crash, hang or error.  A nudge or a flake never makes a boot ok; they
# are reported so that a run that needed them is seen.
finish() {
	local secs=$((SECONDS - start)) extra
	printf 'status=%s passed=%d failed=%d seconds=%d nudges=%d flakes=%d\n' \
		"$1" "$2" "$3" "$secs" "$nudges" "$flakes" >"$SUMMARY"
	extra=", $(plural "$nudges" nudge)"
	((flakes == 0)) || extra+=", $(plural "$flakes" flake) (emulator, retried)"
	printf 'lab: %s @ %s [%s]: %s, %d passed, %d failed, %d s%s (%s)\n' \
		"$SUITE" "$PROFILE" "$DRIVER" "$1" "$2" "$3" "$secs" "$extra" "${LOG#"$LAB_ROOT"/}"
	[[ $1 == ok ]]
	exit
}

# Set-up problems (no module, no image) are failures of this boot too, so
# check.sh counts them, but they must say what to do.
setup_error() {
	log "error: $*"
	: >"$LOG"
	finish error 0 1
}

if [[ ${KERNEL:-debian} == debug ]]; then
	# A no-op when cached; else the kernel is built first (not under the
	# lab lock: other checkouts' boots go on meanwhile).
	KVER=$("$LAB_ROOT/scripts/debug-kernel.sh") || setup_error "the debug kernel build failed"
else
	KVER=$(lab_kver) || setup_error "no linux-headers-6.12-amd64: run scripts/host-setup.sh"
fi
KDIR=$(lab_kernel_dir "$KVER")
[[ -f $KDIR/.ready ]] || setup_error "no guest kernel: run scripts/host-setup.sh"
GUEST=$(lab_guest_dir "$KVER")
if [[ ! -f $GUEST/.ready || ! -f $GUEST/root.img || ! -f $GUEST/initramfs.cpio.gz ]]; then
	GUEST=$("$LAB_ROOT/scripts/guest-image.sh") || setup_error "guest image build failed"
fi

MODULE=${CNVME_KO:-$LAB_ROOT/drivers/block/cnvme/cnvme.ko}
if [[ $DRIVER == cnvme ]]; then
	if [[ -z ${CNVME_KO:-} && ${KERNEL:-debian} == debug ]]; then
		# Built in a copy of the sources, so this tree's cnvme.ko (for
		# Debian's kernel) stays as it is.
		MODULE=$("$LAB_ROOT/scripts/debug-kernel.sh" module) ||
			setup_error "building cnvme.ko for the debug kernel failed"
	elif [[ -n ${CNVME_KO:-} ]]; then
		[[ -f $MODULE ]] || setup_error "CNVME_KO=$MODULE: no such file"
		log "module: $MODULE"
	else
		[[ -f $MODULE ]] || setup_error "${MODULE#"$LAB_ROOT"/} not built: run make"
	fi
	vermagic=$(modinfo -F vermagic "$MODULE" 2>/dev/null) || vermagic=
	[[ ${vermagic%% *} == "$KVER" ]] ||
		setup_error "cnvme.ko was built for '${vermagic%% *}', the guest runs $KVER: make clean all KDIR=$(lab_headers_dir "$KVER")"
fi

# Timeout: environment, else the suite's own line, else 900 s.
timeout=${TIMEOUT:-$(sed -n 's/^# lab-timeout: *\([0-9][0-9]*\).*/\1/p' "$SUITE_FILE" | head -n 1)}
timeout=${timeout:-900}
# KASAN, lockdep and kmemleak make a boot take 2-4 times as long (measured:
# Documentation/testing.rst, "The debug kernel").
[[ ${KERNEL:-debian} == debug && -z ${TIMEOUT:-} ]] && timeout=$((timeout * 3))

# Two TCG guests on two cores slow each other down until timeouts and
# the guest's clocksource watchdog misfire, so boots from every checkout
# on this host take turns.  The wait does not count against the timeout.
# A retry after a flake still holds the lock on fd 9: its turn goes on.
if [[ ${LAB_LOCK:-} != none && -z ${LAB_FLAKE_LOG:-} ]]; then
	exec 9>>"${LAB_LOCK:-/tmp/cnvme-lab.lock}"
	if ! flock -n 9; then
		log "waiting for another lab boot (lock ${LAB_LOCK:-/tmp/cnvme-lab.lock})"
		flock 9
	fi
	start=$SECONDS
fi

mkdir -p "$LAB_BUILD/run"
RUN_DIR=$(mktemp -d "$LAB_BUILD/run/$SUITE-$PROFILE-$DRIVER.XXXXXX")
QPID=
WPID=
# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
	[[ -n $QPID ]] && kill "$QPID" 2>/dev/null
	[[ -n $WPID ]] && kill "$WPID" 2>/dev/null
	[[ -n ${KEEP:-} ]] || rm -rf "$RUN_DIR"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# The per-boot share: suites, guest library, module, profile, results.
SHARE=$RUN_DIR/share
mkdir -p "$SHARE/guest" "$SHARE/suites" "$SHARE/results" "$SHARE/host"
cp "$LAB_ROOT/tests/guest/lib.sh" "$SHARE/guest/"
for f in "$LAB_ROOT/tests/guest/"*.py; do
	[[ -f $f ]] && cp "$f" "$SHARE/guest/"
done
cp "$LAB_ROOT/tests/suites/"*.sh "$LAB_ROOT/tests/suites/"*.inc "$SHARE/suites/"
# The bench suite runs the benchmark's own smoke check and guest library.
mkdir -p "$SHARE/bench"
cp "$LAB_ROOT/tools/bench/smoke.sh" "$LAB_ROOT/tools/bench/guest-lib.sh" "$SHARE/bench/"
if [[ $DRIVER == cnvme ]]; then
	# The guest's insmod takes the module as it is: unpack a compressed one
	# (DKMS compresses like the kernel's own modules).
	case $MODULE in
	*.xz) xz -dc "$MODULE" >"$SHARE/cnvme.ko" ;;
	*.zst) zstd -qdc "$MODULE" >"$SHARE/cnvme.ko" ;;
	*.gz) gzip -dc "$MODULE" >"$SHARE/cnvme.ko" ;;
	*) cp "$MODULE" "$SHARE/cnvme.ko" ;;
	esac
fi
# Material the image lacks, named on the suite's "# lab-extras:" line.  A
# missing one is not fatal here: the suite's own checks fail and say so.
for extra in $(sed -n 's/^# lab-extras: *//p' "$SUITE_FILE" | head -n 1); do
	if dir=$("$LAB_ROOT/scripts/lab-extras.sh" "$extra"); then
		mkdir -p "$SHARE/extras"
		cp -a "$dir" "$SHARE/extras/$extra"
	else
		log "warning: extra '$extra' unavailable"
	fi
done

# A unix socket path must fit in sun_path (108 bytes).
MONITOR=$RUN_DIR/monitor.sock
((${#MONITOR} < 100)) || MONITOR=$(mktemp -u /tmp/cnvme-lab-mon.XXXXXX)

QEMU_ARGS=()
KARGS=()
EXPECT=()
GUEST_ENV=()
"profile_$PROFILE"

# The guest gets a minute less than the host so that a hung suite still
# dumps its blocked tasks and records its exit before QEMU is killed.
guest_timeout=$((timeout > 120 ? timeout - 60 : timeout / 2))
{
	printf '%s=%q\n' SUITE "$SUITE" PROFILE "$PROFILE" DRIVER "$DRIVER" \
		KVER "$KVER" GUEST_TIMEOUT "$guest_timeout" \
		EXPECT_DISKS "${EXPECT[*]}" LAB_MONITOR "$MONITOR"
	read -r -a lab_env <<<"${LAB_ENV:-}"
	for kv in "${GUEST_ENV[@]}" "${lab_env[@]}"; do
		printf '%s=%q\n' "${kv%%=*}" "${kv#*=}"
	done
} >"$SHARE/profile.env"
cp "$SHARE/profile.env" "$OUT/profile.env"

# panic=-1 with -no-reboot: a panic (and, with oops=panic, any oops) makes
# QEMU exit at once instead of running into the timeout.
#
# The block_rq_issue event (cmdset counts flushes and FUA writes with it)
# is enabled at boot, before the second CPU runs: enabling or disabling it
# later patches kernel text under a running vCPU, and TCG once let the
# other vCPU hit the patch's int3 after it was done (an "Oops: int3" in
# __schedule, seen in cmdset@cmb).  Its filter and tracing_on, which the
# suite changes, patch nothing.
#
# panic_on_warn=1: a WARN ends the boot at once, with its report on the
# console.  ignore_loglevel: every kernel line reaches the console (the
# whole-boot scan reads it) whatever a suite sets with dmesg -n.
cmdline=(root=/dev/vda console=ttyS0 kfence.sample_interval=100 slub_debug=FZPU
	panic=-1 oops=panic panic_on_warn=1 ignore_loglevel trace_event=block:block_rq_issue "${KARGS[@]}")

qemu=(qemu-system-x86_64
	-machine q35 -accel 'tcg,thread=multi' -cpu max -smp 2 -m 2048
	-nodefaults -no-user-config -display none -nic none -no-reboot
	-kernel "$KDIR/vmlinuz" -initrd "$GUEST/initramfs.cpio.gz"
	-append "${cmdline[*]}"
	-chardev "file,id=con,path=$LOG" -serial chardev:con
	-monitor "unix:$MONITOR,server=on,wait=off"
	# snapshot=on keeps the cached image pristine; writes go to $TMPDIR.
	-drive "file=$GUEST/root.img,if=none,id=root,format=raw,snapshot=on"
	-device "virtio-blk-pci,drive=root"
	-virtfs "local,path=$SHARE,mount_tag=lab,security_model=none,id=lab"
	-D "$SHARE/qemu-trace.log"
	"${QEMU_ARGS[@]}")
printf '%q ' "${qemu[@]}" >"$OUT/qemu.cmd"
echo >>"$OUT/qemu.cmd"

# monitor_cmd COMMAND: send one command to the QEMU monitor and print its
# reply, without the banner and the prompt lines (which carry the echo).
monitor_cmd() {
	{ printf '%s\n' "$1"; sleep 1; } |
		socat -t 2 - "UNIX-CONNECT:$MONITOR" 2>&1 | tr -d '\r' |
		grep -v -e '^QEMU .* monitor - type' -e '^(qemu)' || true
}

# The host side of host/N.req -> host/N.ack (see the top of this file).  One
# line per request; anything else is refused.  Runs until QEMU exits.
host_watcher() {
	local req n lines cmd reply
	while kill -0 "$QPID" 2>/dev/null; do
		for req in "$SHARE"/host/*.req; do
			[[ -f $req ]] || continue
			n=${req##*/}
			n=${n%.req}
			lines=$(wc -l <"$req" 2>/dev/null) || continue
			cmd=$(head -n 1 "$req")
			if [[ $lines -ne 1 || -z $cmd ]]; then
				reply="refused: a request is exactly one monitor command line"
			else
				reply=$(monitor_cmd "$cmd")
			fi
			printf '[%s] %s: %s\n' "$((SECONDS - start))s" "$n" "$cmd" >>"$OUT/host-actions.log"
			printf '%s\n' "$reply" | sed 's/^/    /' >>"$OUT/host-actions.log"
			printf '%s\n' "$reply" >"$SHARE/host/$n.ack.tmp"
			mv "$SHARE/host/$n.ack.tmp" "$SHARE/host/$n.ack" || true
			rm -f "$req"
		done
		sleep 0.2
	done
}

: >"$LOG"
TMPDIR=$RUN_DIR "${qemu[@]}" </dev/null >"$OUT/qemu.err" 2>&1 &
QPID=$!
host_watcher &
WPID=$!
tailpid=
if [[ -n $V ]]; then
	tail -n +1 -f --pid="$QPID" "$LOG" &
	tailpid=$!
fi

# Where the vCPUs are when the guest is stuck: their RIPs from the monitor,
# resolved with the text symbols the guest saved at start-up and after
# loading the driver (Debian ships no real System.map).  Best effort: a
# hang report must never hang.
hang_report() {
	local regs rip sym
	regs=$(echo 'info registers -a' | timeout 10 socat -t 5 - "UNIX-CONNECT:$MONITOR" 2>/dev/null) ||
		return 0
	printf '%s\n' "$regs" | tr -d '\r' >"$OUT/registers.txt"
	cat "$SHARE"/results/kallsyms* 2>/dev/null | LC_ALL=C sort -u >"$RUN_DIR/symbols" || true
	grep -o 'RIP=[0-9a-f]*' "$OUT/registers.txt" | cut -d= -f2 | while read -r rip; do
		# Fixed-width lower-case hex compares correctly as text.
		sym=$(LC_ALL=C awk -v want="$rip" '$1 > want { exit }
			{ addr = $1; name = $3 " " $4 }
			END { if (addr != "") print addr, name }' "$RUN_DIR/symbols")
		if [[ -n $sym && ${#rip} -eq 16 ]]; then
			read -r addr name <<<"$sym"
			printf 'vCPU at %s+0x%x\n' "$name" $((16#${rip:8} - 16#${addr:8}))
		else
			echo "vCPU at $rip"
		fi
	done
}

# Under TCG on a loaded host, QEMU 7.2 now and then stops firing the
# guest's timers while both vCPUs sit in HLT: the guest stays frozen (no
# console output, "rcu_preempt kthread timer wakeup didn't happen" once
# it wakes) until any event reaches QEMU's main loop -- a monitor command
# is enough.  Seen only at quiet moments (udev settle, rmmod), with either
# driver loaded.  So a console silent for NUDGE_SECS gets one harmless
# monitor command; it cannot complete an I/O or raise an interrupt the
# guest still waits for, so a real hang still runs into the timeout.
# host-actions.log lists every nudge.
NUDGE_SECS=${NUDGE_SECS:-20}
nudge() {
	nudges=$((nudges + 1))
	printf '[%s] nudge: console silent for %s s\n' "$((SECONDS - start))" "$NUDGE_SECS" \
		>>"$OUT/host-actions.log"
	echo 'info status' | timeout 10 socat -t 1 - "UNIX-CONNECT:$MONITOR" >/dev/null 2>&1 || true
}

# The per-boot limit.  Polling (not timeout(1)) so that the hang report
# can ask the still-running QEMU where the guest is stuck.
deadline=$((SECONDS + timeout))
last_size=-1
quiet_since=$SECONDS
while kill -0 "$QPID" 2>/dev/null && ((SECONDS < deadline)); do
	sleep 0.5
	size=$(stat -c %s "$LOG" 2>/dev/null) || size=0
	if ((size != last_size)); then
		last_size=$size
		quiet_since=$SECONDS
	elif ((NUDGE_SECS > 0 && SECONDS - quiet_since >= NUDGE_SECS)); then
		nudge
		quiet_since=$SECONDS
	fi
done
((nudges == 0)) || log "$nudges nudge(s) of a silent guest (out/.../host-actions.log)"
rc=0
if kill -0 "$QPID" 2>/dev/null; then
	hang_report >"$OUT/hang.txt" 2>&1 || true
	kill "$QPID" 2>/dev/null || true
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		kill -0 "$QPID" 2>/dev/null || break
		sleep 1
	done
	kill -9 "$QPID" 2>/dev/null || true
	wait "$QPID" 2>/dev/null || true
	rc=124
else
	wait "$QPID" || rc=$?
fi
QPID=
wait "$WPID" 2>/dev/null || true
WPID=
[[ -n $tailpid ]] && wait "$tailpid"

# Copy the results out before the run directory goes.
for f in result.ktap points exit log-allowed trace-expect; do
	[[ -f $SHARE/results/$f ]] && cp "$SHARE/results/$f" "$OUT/$f"
done
# A suite's report for its caller (the demo suite's for make run).
rm -rf "$OUT/report"
if [[ -d $SHARE/results/report && ! -L $SHARE/results/report ]]; then
	cp -r "$SHARE/results/report" "$OUT/report"
fi
# What the device saw, when a suite turned QEMU's trace events on.  QEMU
# wrote the file; a guest could have replaced it with a link.
rm -f "$OUT/qemu-trace.log"
if [[ -s $SHARE/qemu-trace.log && ! -L $SHARE/qemu-trace.log ]]; then
	cp "$SHARE/qemu-trace.log" "$OUT/"
fi

count() { grep -c "$1" "$2" 2>/dev/null || true; }
ktap_src=$OUT/result.ktap
[[ -f $ktap_src ]] || ktap_src=$OUT/points

# A suite's check on the host after the boot, named on its line "#
# lab-host-check: PROGRAM" (in tests/host/): it gets the run directory
# (the profile's drive images and logs, still there) and $OUT, prints
# "# " diagnostics and "ok NAME" / "not ok NAME # REASON" lines, which
# are numbered after the guest's points and counted with them.  It runs
# only when the guest completed its suite.
host_check=$(sed -n 's/^# lab-host-check: *//p' "$SUITE_FILE" | head -n 1)
if [[ -n $host_check && -f $OUT/result.ktap ]]; then
	log "host check: tests/host/$host_check"
	"$LAB_ROOT/tests/host/$host_check" "$RUN_DIR" "$OUT" >"$OUT/host-check.log" 2>&1 || true
	grep -qE '^(ok|not ok) ' "$OUT/host-check.log" ||
		echo "not ok host_check # tests/host/$host_check gave no result" >>"$OUT/host-check.log"
	awk -v n="$(sed -n 's/^1\.\.\([0-9][0-9]*\)$/\1/p' "$OUT/result.ktap")" '
		NR == FNR { if (/^ok /) sub(/^ok /, "ok " ++n " ")
			else if (/^not ok /) sub(/^not ok /, "not ok " ++n " ")
			host[++h] = $0; next }
		/^1\.\.[0-9]+$/ { print "1.." n; next }
		{ print }
		END { for (i = 1; i <= h; i++) print host[i] }' \
		"$OUT/host-check.log" "$OUT/result.ktap" >"$OUT/result.ktap.tmp"
	mv "$OUT/result.ktap.tmp" "$OUT/result.ktap"
	sed 's/^/  | /' "$OUT/host-check.log" >&2
fi

status=ok
why=
if [[ -f $OUT/result.ktap ]]; then
	plan=$(sed -n 's/^1\.\.\([0-9][0-9]*\)$/\1/p' "$OUT/result.ktap")
	passed=$(count '^ok ' "$OUT/result.ktap")
	failed=$(count '^not ok ' "$OUT/result.ktap")
	if [[ -z $plan || $((passed + failed)) -ne $plan ]]; then
		why="result.ktap is inconsistent (plan ${plan:-none}, $((passed + failed)) results)"
		status=crash
		failed=$((failed + 1))
	fi
else
	# The suite never finished: count what it did report, plus one.
	passed=$(count '^ok ' "$OUT/points")
	failed=$(($(count '^not ok ' "$OUT/points") + 1))
	status=crash
	why="the suite did not complete"
	case $(cat "$OUT/exit" 2>/dev/null) in
	124 | 137) status=hang why="the suite ran out of time in the guest" ;;
	esac
fi
if ((rc == 124)); then
	status=hang
	why="no power-off within $timeout s: QEMU killed"
	[[ -s $OUT/hang.txt ]] && why+=" ($(sort -u "$OUT/hang.txt" | tr '\n' ' '))"
elif grep -q 'Kernel panic - not syncing' "$LOG"; then
	status=crash
	why="kernel panic"
elif ((rc != 0)); then
	status=crash
	why="QEMU exited with status $rc: $(tail -n 3 "$OUT/qemu.err" | tr '\n' ' ')"
fi
[[ $status == ok && $failed -gt 0 ]] && status=fail

# A skipped check proved nothing: it counts as failed, not passed.
skipped=$(count '^ok .*# *SKIP' "$ktap_src")
if ((skipped > 0)); then
	passed=$((passed - skipped))
	failed=$((failed + skipped))
	[[ $status == ok ]] && status=fail
	why="${why:+$why; }$skipped point(s) skipped"
	log "$SUITE @ $PROFILE: $skipped point(s) skipped, counted as failed:"
	grep '^ok .*# *SKIP' "$ktap_src" | sed 's/^/  | /' >&2
fi

# The host's own count of the points this suite must report here
# (tests/points): a suite that quietly checks less (a branch not taken, a
# check dropped with its feature) fails instead of passing on fewer points.
points_file=$LAB_ROOT/tests/points
points_want=$(awk -v s="$SUITE" -v p="$PROFILE" -v d="$DRIVER" \
	'$1 == s && $2 == p && $3 == d { print $4 }' "$points_file" 2>/dev/null | tail -n 1)
# CI requires an entry (LAB_POINTS_REQUIRED=1); elsewhere a suite not on
# record yet only says what it counted.
if [[ -f $OUT/result.ktap && -z $points_want && ${LAB_POINTS_REQUIRED:-0} != 1 ]]; then
	log "$SUITE @ $PROFILE: $((passed + failed)) points; no count on record in tests/points"
elif [[ -f $OUT/result.ktap && $((passed + failed)) -ne ${points_want:--1} ]]; then
	if [[ -z $points_want ]]; then
		points_why="no expected point count in tests/points for '$SUITE $PROFILE $DRIVER'"
	else
		points_why="$((passed + failed)) points reported, tests/points expects $points_want"
	fi
	failed=$((failed + 1))
	[[ $status == ok ]] && status=fail
	why="${why:+$why; }$points_why"
	log "$SUITE @ $PROFILE: $points_why"
fi

# What the device must have seen after the guest's last word: events the
# suite declared with trace_expect (tests/guest/lib.sh), counted in QEMU's
# own trace from the line where the guest declared them, so also across
# the power-off that ends the boot (the shutdown callback's CC.SHN).
if [[ -f $OUT/trace-expect ]]; then
	while read -r at event min; do
		[[ $at =~ ^[0-9]+$ && $min =~ ^[0-9]+$ && $event =~ ^[a-z0-9_]+$ ]] || {
			trace_why="malformed trace-expect line: $at $event $min"
			min=1 seen=0
		}
		if [[ -z ${trace_why:-} ]]; then
			# No file: QEMU traced nothing at all.
			seen=0
			[[ -f $OUT/qemu-trace.log ]] &&
				seen=$(tail -n +$((at + 1)) "$OUT/qemu-trace.log" |
					awk -v e="$event" '$1 == e { n++ } END { print n + 0 }')
			log "$SUITE @ $PROFILE: QEMU trace: $seen $event after line $at (at least $min expected)"
			((seen >= min)) || trace_why="QEMU saw $seen $event after the guest's mark, expected at least $min"
		fi
		if [[ -n ${trace_why:-} ]]; then
			failed=$((failed + 1))
			[[ $status == ok ]] && status=fail
			why="${why:+$why; }$trace_why"
			log "$SUITE @ $PROFILE: $trace_why"
			trace_why=
		fi
	done <"$OUT/trace-expect"
fi

# The whole-boot scan (see the top).  Kernel lines are "[time] text"
# wherever they sit on a console line (the suite's output shares the
# console, and its echoes of kernel lines are the same line again).
# The guest library's patterns, one definition for both sides.
eval "$(grep -E '^(BAD_LOG|RECOVERY_LOG)\+?=' "$LAB_ROOT/tests/guest/lib.sh")"
[[ -n ${BAD_LOG:-} && -n ${RECOVERY_LOG:-} ]] || die "no BAD_LOG/RECOVERY_LOG in tests/guest/lib.sh"
bad_log="$BAD_LOG|$RECOVERY_LOG|Kernel panic"
klines() { grep -aoE '\[ *[0-9]+\.[0-9]{6}\] .*' "$1" | tr -d '\r' | LC_ALL=C sort -u; }
klines "$LOG" | grep -E "$bad_log" >"$RUN_DIR/log-bad" || true
if [[ -f $OUT/log-allowed ]]; then
	tr -d '\r' <"$OUT/log-allowed" | LC_ALL=C sort -u >"$RUN_DIR/log-allowed"
else
	: >"$RUN_DIR/log-allowed"
fi
# In time order.
LC_ALL=C comm -23 "$RUN_DIR/log-bad" "$RUN_DIR/log-allowed" |
	awk -F '[][]' '{ print $2 + 0 "\t" $0 }' | sort -g -s | cut -f 2- >"$OUT/log-unexpected" || true
# The first time stamp.  awk reads to the end: a reader that stops early
# (head) lets SIGPIPE fail the pipeline under pipefail.
ktime() { sed -n 's/^\[ *\([0-9]*\.[0-9]*\)\].*/\1/p' | awk 'NR == 1'; }
if [[ -s $OUT/log-unexpected ]]; then
	first_bad=$(ktime <"$OUT/log-unexpected")
	# The first kernel line of the driver phase: drv_load's marker (or,
	# for suites that load modules by hand, the kernel's own lines).
	drv_at=$(grep -aoE '\[ *[0-9]+\.[0-9]{6}\] .*' "$LOG" | tr -d '\r' |
		grep -E 'lab: loading |loading out-of-tree module|nvme nvme[0-9]|cnvme' | ktime) ||
		drv_at=	# no such line: the crash came before the driver (set -e)
	nbad=$(wc -l <"$OUT/log-unexpected")
	if [[ -z $drv_at ]] || awk -v a="$first_bad" -v b="$drv_at" 'BEGIN { exit !(a < b) }'; then
		if [[ -z ${LAB_FLAKE_LOG:-} ]]; then
			log "emulator flake: a crash at ${first_bad} s, before the driver was loaded${drv_at:+ (at $drv_at s)}; booting again"
			head -n 20 "$OUT/log-unexpected" | sed 's/^/  | /' >&2
			flake_log=$(mktemp "$LAB_BUILD/run/flake.XXXXXX")
			cp "$LOG" "$flake_log"
			cleanup
			trap - EXIT
			LAB_FLAKE_LOG=$flake_log exec "$LAB_ROOT/scripts/lab.sh" "$SUITE" "$PROFILE"
		fi
		flakes=2
		scan_status=crash
		scan_why="a crash before the driver was loaded, twice"
	else
		scan_status=fail
		scan_why="$nbad kernel line(s) the suite did not declare (log-unexpected)"
	fi
	if [[ $status == ok ]]; then
		status=$scan_status
		failed=$((failed + 1))
	fi
	why="${why:+$why; }$scan_why"
	log "$SUITE @ $PROFILE: whole-boot log scan: $nbad unexpected line(s):"
	head -n 20 "$OUT/log-unexpected" | sed 's/^/  | /' >&2
	# A "Call Trace:" says nothing without the lines that name what it
	# traces (the header line may match no pattern: "irq 11: nobody
	# cared", say): the kernel lines around the first unexpected one.
	first_line=$(awk 'NR == 1' "$OUT/log-unexpected")
	grep -aoE '\[ *[0-9]+\.[0-9]{6}\] .*' "$LOG" | tr -d '\r' | awk -v l="$first_line" '
		{ buf[NR % 16] = $0 }
		!at && $0 == l { at = NR; for (i = NR - 15; i <= NR; i++) if (i > 0) print buf[i % 16]; next }
		at && NR <= at + 24 { print }' | sed 's/^/  : /' >&2
fi

if [[ $status == ok ]]; then
	finish ok "$passed" "$failed"
fi
ktap=$OUT/result.ktap
[[ -f $ktap ]] || ktap=$OUT/points
grep '^not ok ' "$ktap" 2>/dev/null | sed 's/^/  /' >&2 || true
if [[ $status == fail ]]; then
	# What each failed check printed just before its verdict.
	log "$SUITE @ $PROFILE: the output before each failure:"
	sed 's/\r$//' "$LOG" | awk '
		/^not ok / { for (i = n - 12; i < n; i++) if (i >= 0) print "  | " buf[i % 12]; print "  | " $0; next }
		{ buf[n % 12] = $0; n++ }' >&2
else
	log "$SUITE @ $PROFILE: $why; last console lines:"
	tail -n 40 "$LOG" | sed 's/\r$//; s/^/  | /' >&2
fi
finish "$status" "$passed" "$failed"
