#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make run: from a fresh Debian host to cnvme (or DRIVER=stock) working in
# a guest, one progress line per step, then a short report: what the
# driver found (nvme list), the ext4 round trip, fio's IOPS and latency
# percentiles, where the logs are.
#
#   DRIVER=cnvme|stock   driver to show (default cnvme)
#   KERNEL=debug         on the lab's debug kernel (scripts/debug-kernel.sh,
#                        built in the first step when not cached)
#   V=1                  also stream every tool's output and the guest
#                        console to the terminal
#
# Each step's output goes to out/run/<step>.log (apt's own lines to
# build/logs/apt.log), printed in part and named when the step fails.

set -euo pipefail

# shellcheck source=scripts/common.sh
. "$(dirname "$0")/common.sh"

DRIVER=${DRIVER:-cnvme}
V=${V:-}
export DRIVER
LOGS=$LAB_OUT/run
RESULT=$LAB_OUT/$DRIVER/demo@default
[[ ${KERNEL:-debian} == debug ]] && RESULT=$LAB_OUT/$DRIVER-debug/demo@default
STEPS=4
n=0

[[ $(id -u) -eq 0 ]] || die "run as root (apt-get, debootstrap, QEMU's share)"
rm -rf "$LOGS"
mkdir -p "$LOGS"
rel() { printf '%s\n' "${1#"$LAB_ROOT"/}"; }

# step NAME TITLE COMMAND...: one line "[i/N] TITLE ... STATUS SECONDS";
# STATUS is the last line the command wrote to fd 3 (or "done").
step() {
	local name=$1 title=$2 log=$LOGS/$1.log t0=$SECONDS rc=0 note
	shift 2
	n=$((n + 1))
	printf '[%d/%d] %s ... ' "$n" "$STEPS" "$title"
	: >"$LOGS/$name.note"
	if [[ -n $V ]]; then
		echo
		"$@" 3>"$LOGS/$name.note" 2>&1 | tee "$log" || rc=${PIPESTATUS[0]}
	else
		"$@" 3>"$LOGS/$name.note" >"$log" 2>&1 || rc=$?
	fi
	note=$(tail -n 1 "$LOGS/$name.note")
	rm -f "$LOGS/$name.note"
	if ((rc != 0)); then
		echo "failed after $((SECONDS - t0)) s"
		[[ -n $V ]] || tail -n 25 "$log" | sed 's/^/  | /'
		echo "make run: step $n ($title) failed; whole log: $(rel "$log")"
		exit 1
	fi
	printf '%s %d s\n' "${note:-done}" "$((SECONDS - t0))"
}

# The steps run in an "||" context, where set -e does not apply: each
# returns on its own failures.
host_setup() {
	"$LAB_ROOT/scripts/host-setup.sh" || return 1
	if [[ ${KERNEL:-debian} == debug ]]; then
		"$LAB_ROOT/scripts/debug-kernel.sh" || return 1
		echo "debug kernel $(lab_kver) ready (build/debug-kernel/build.log)" >&3
	elif grep -q 'installing:' "$LOGS/host.log"; then
		echo "packages installed ($(rel "$LAB_APT_LOG")), kernel $(lab_kver) unpacked" >&3
	elif grep -q 'unpacked into' "$LOGS/host.log"; then
		echo "packages present, kernel $(lab_kver) unpacked" >&3
	else
		echo "packages present, kernel $(lab_kver) ready" >&3
	fi
}

guest_image() {
	"$LAB_ROOT/scripts/guest-image.sh" || return 1
	if grep -q 'guest image: built' "$LOGS/guest.log"; then echo built >&3; else echo cached >&3; fi
}

module() {
	# The top-level Makefile exports KDIR, empty on a host that had no
	# headers when make started: let the sub-make look again.
	[[ -n ${KDIR:-} ]] || unset KDIR
	make -C "$LAB_ROOT" modules || return 1
	if grep -q 'CC \[M\]' "$LOGS/module.log"; then echo built >&3; else echo "up to date" >&3; fi
}

boot() {
	local status secs t0=$SECONDS
	V=$V "$LAB_ROOT/scripts/lab.sh" demo default || true
	status=$(sed -n 's/^status=\([a-z]*\).*/\1/p' "$RESULT/summary" 2>/dev/null)
	secs=$(sed -n 's/.* seconds=\([0-9]*\).*/\1/p' "$RESULT/summary" 2>/dev/null)
	# lab.sh's own time starts when the lab lock is ours.
	if [[ -n $secs ]] && ((SECONDS - t0 - secs > 10)); then
		echo "${status:-error} (boot $secs s, after waiting for other lab boots)" >&3
	else
		echo "${status:-error}" >&3
	fi
	[[ $status == ok ]]
}

step host "host packages and guest kernel" host_setup
step guest "guest image" guest_image
if [[ $DRIVER == cnvme ]]; then
	step module "cnvme.ko" module
else
	n=$((n + 1))
	printf '[%d/%d] cnvme.ko ... not needed (DRIVER=%s)\n' "$n" "$STEPS" "$DRIVER"
fi
step boot "guest boot, demo suite, driver $DRIVER" boot

# --- the report ---------------------------------------------------------------
echo
echo "$DRIVER in a QEMU guest (TCG, 2 vCPUs), kernel $(lab_kver):"
echo "controller and namespaces (nvme list):"
sed 's/^/  /' "$RESULT/report/nvme-list.txt" 2>/dev/null || echo "  (no nvme list output)"
ktap_point() { grep -E "^(not )?ok [0-9]+ $1( |$)" "$RESULT/result.ktap" 2>/dev/null | cut -d' ' -f1-2 | sed 's/ [0-9]*$//'; }
rt=$(ktap_point ext4_file_roundtrip)
printf 'filesystem: %s: %s\n' "${rt:-not run}" "$(cat "$RESULT/report/roundtrip.txt" 2>/dev/null || echo '-')"
if [[ -s $RESULT/report/fio.json ]]; then
	echo "fio: 4 KiB random read/write, 2 jobs x QD16, io_uring, 10 s:"
	python3 - "$RESULT/report/fio.json" <<'PY' || echo "  (fio's JSON did not parse)"
import json, sys
job = json.load(open(sys.argv[1]))["jobs"][0]
for rw in ("read", "write"):
    d = job[rw]
    pct = d["clat_ns"].get("percentile", {})
    lat = ", ".join("p%s %.0f us" % (p.rstrip("0").rstrip("."), pct[p] / 1000)
                    for p in ("50.000000", "99.000000", "99.900000") if p in pct)
    print("  %-5s %7.0f IOPS, %6.1f MiB/s, latency %s" % (rw, d["iops"], d["bw"] / 1024, lat))
PY
else
	echo "fio: no result"
fi
passed=$(grep -c '^ok ' "$RESULT/result.ktap" 2>/dev/null || true)
failed=$(grep -c '^not ok ' "$RESULT/result.ktap" 2>/dev/null || true)
echo "checks: ${passed:-0} passed, ${failed:-0} failed ($(rel "$RESULT")/result.ktap)"
echo "logs: $(rel "$LOGS")/ (steps), $(rel "$RESULT")/console.log (guest console)"
