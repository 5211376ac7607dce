#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# lab-timeout: 250
#
# cli: the driver as nvme-cli, libnvme, udev and unprivileged users see it.
#   - sysfs: class nvme with nvme0 and its attributes, nvme-subsystem with
#     nvme-subsys0, the gendisk under the controller with nsid and wwid,
#     the generic node ng0n1, udev's /dev/disk/by-id links;
#   - nvme-cli: list, list-subsys, id-ctrl, id-ns, smart-log, error-log,
#     fw-log, get-feature, set-feature, flush, dsm, write-zeroes, read,
#     write, compare, reset, ns-rescan, admin-passthru, io-passthru, each
#     checked against what the QEMU controller of the profile reports;
#   - a user command's timeout, and a signal while one waits;
#   - permissions: the answers of every NVMe ioctl to an unprivileged user
#     (read-only and read-write descriptors) and to root, as the stock
#     driver gives them;
#   - 10,000 hostile ioctls (unprivileged read-only, unprivileged
#     read-write, root), after which the data of the read-only phase is
#     untouched, the kernel log clean and I/O still verifies;
#   - fio --ioengine=io_uring_cmd on /dev/ng0n1 with verify, and killed
#     with commands in flight.
#   - the user-interface defects of issue 13 (tests/guest/nvme_ui.py):
#     NVME_IOCTL_IO_CMD on a partition (13), the io_uring big CQE of a
#     command a reset cancels (15), unprivileged timeout_ms=1 (12), the
#     transfer length of unprivileged commands with PRPs (11, after a
#     reload with passthru_sgl=0), and NVME_IOCTL_RESET in a loop while
#     the PCI function is unbound (14).
# nvme-cli's own test suite runs in a boot of its own (suite nvmecli),
# which keeps each boot within a few minutes.
# Made for the default profile (one controller, one 1 GiB namespace of
# 512-byte blocks).  Every check applies to both drivers but those named
# cnvme_*, which are not run on stock: they test where cnvme goes beyond
# the stock driver (its parameters and names; defects 11, 12, 13 and 15,
# which stock 6.12 has) and would fail there.
# LAB_ENV="CLI_ONLY=REGEX" runs only the points whose names match (and
# the loading, probing and unloading around them), for iterating.

# The helpers below run through check "$@", which shellcheck cannot see.
# shellcheck disable=SC2317
set -euo pipefail
# shellcheck source=tests/guest/lib.sh
. "$LAB/guest/lib.sh"

CTRL=/dev/nvme0
NS=/dev/nvme0n1
NG=/dev/ng0n1
SYS=/sys/class/nvme/nvme0
W=/tmp/cli
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all
	--bounding-set=-all)
FUZZ=$LAB/guest/nvme_fuzz.py
PERM=$LAB/guest/nvme_perm.py
UI=$LAB/guest/nvme_ui.py
# What QEMU 7.2 reports for the profile's controller and namespace.
SERIAL=lab-$PROFILE-0
MODEL="QEMU NVMe Ctrl"
SUBNQN=nqn.2019-08.org.qemu:$SERIAL
mkdir -p "$W"

# json FILE EXPR: a Python expression on the parsed JSON document "j".
json() { python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

# expect WHAT GOT WANT
expect() {
	if [[ $2 == "$3" ]]; then
		echo "$1: $2"
	else
		fail "$1: got '$2', want '$3'"
	fi
}

attr() { cat "$SYS/$1"; }

sysfs_ctrl() {
	local bdf f
	bdf=$(nvme_pci_devices | head -n 1)
	bdf=${bdf##*/}
	for f in transport address model serial firmware_rev state subsysnqn \
		cntlid numa_node queue_count sqsize; do
		[[ -r $SYS/$f ]] || fail "no $SYS/$f" || return 1
		echo "$f=[$(attr "$f")]"
	done
	[[ -c $CTRL ]] || fail "no character device $CTRL" || return 1
	expect "dev" "$(attr dev)" "$(stat -c '%t:%T' "$CTRL" | python3 -c 'import sys; a, b = sys.stdin.read().split(":"); print("%d:%d" % (int(a, 16), int(b, 16)))')" &&
	expect transport "$(attr transport)" pcie &&
	expect address "$(attr address)" "$bdf" &&
	expect state "$(attr state)" live &&
	expect subsysnqn "$(attr subsysnqn)" "$SUBNQN" &&
	expect "serial (padded to 20)" "$(attr serial)" "$(printf '%-20s' "$SERIAL")" &&
	expect "model (padded to 40)" "$(attr model)" "$(printf '%-40s' "$MODEL")" &&
	expect "queue_count" "$(attr queue_count)" \
		$(($(find /sys/block/nvme0n1/mq -mindepth 1 -maxdepth 1 | wc -l) + 1)) &&
	expect "writable" "$(stat -c %a "$SYS/reset_controller") $(stat -c %a "$SYS/rescan_controller")" "200 200"
}

sysfs_subsys() {
	local d=/sys/class/nvme-subsystem/nvme-subsys0
	[[ -d $d ]] || fail "no $d" || return 1
	ls -l "$d"
	expect subsysnqn "$(cat "$d/subsysnqn")" "$SUBNQN" &&
	expect "link nvme0" "$(readlink -f "$d/nvme0")" "$(readlink -f "$SYS")"
}

sysfs_ns() {
	local want_wwid
	# nvme.<vid>-<serial hex>-<model hex>-<nsid>: QEMU reports no UUID,
	# NGUID or EUI-64 for this namespace.
	want_wwid=$(printf 'nvme.1b36-%s-%s-00000001' \
		"$(printf '%s' "$SERIAL" | od -An -tx1 | tr -d ' \n')" \
		"$(printf '%s' "$MODEL" | od -An -tx1 | tr -d ' \n')")
	expect "disk parent" "$(readlink -f /sys/block/nvme0n1/..)" "$(readlink -f "$SYS")" &&
	expect nsid "$(cat /sys/block/nvme0n1/nsid)" 1 &&
	expect wwid "$(cat /sys/block/nvme0n1/wwid)" "$want_wwid" &&
	expect "generic node" "$(readlink -f /sys/class/nvme-generic/ng0n1/device)" "$(readlink -f "$SYS")" ||
		return 1
	[[ -c $NG ]] || fail "no character device $NG"
}

by_id() {
	local l
	udevadm settle --timeout=60 || true
	find /dev/disk/by-id -name 'nvme*' -printf '%f -> %l\n'
	for l in "nvme-${MODEL// /_}_$SERIAL" "nvme-${MODEL// /_}_${SERIAL}_1" \
		"nvme-$(cat /sys/block/nvme0n1/wwid)"; do
		expect "/dev/disk/by-id/$l" "$(readlink -f "/dev/disk/by-id/$l")" "$NS" || return 1
	done
}

list() {
	nvme list -o json >"$W/list.json" || fail "nvme list failed" || return 1
	nvme list
	local d='j["Devices"][0]'
	expect devices "$(json "$W/list.json" 'len(j["Devices"])')" 1 &&
	expect DevicePath "$(json "$W/list.json" "${d}[\"DevicePath\"]")" "$NS" &&
	expect SerialNumber "$(json "$W/list.json" "${d}[\"SerialNumber\"]")" "$SERIAL" &&
	expect ModelNumber "$(json "$W/list.json" "${d}[\"ModelNumber\"]")" "$MODEL" &&
	expect Firmware "$(json "$W/list.json" "${d}[\"Firmware\"]")" "$(attr firmware_rev | sed 's/ *$//')" &&
	expect PhysicalSize "$(json "$W/list.json" "${d}[\"PhysicalSize\"]")" $((1 << 30)) &&
	expect SectorSize "$(json "$W/list.json" "${d}[\"SectorSize\"]")" 512 || return 1
	nvme list | grep -q "^$NS  *$NG  *$SERIAL " || fail "nvme list does not show $NS with $NG and $SERIAL"
}

list_subsys() {
	nvme list-subsys | tee "$W/subsys.txt"
	grep -qx "nvme-subsys0 - NQN=$SUBNQN" "$W/subsys.txt" ||
		fail "no nvme-subsys0 with NQN $SUBNQN" || return 1
	grep -q "+- nvme0 pcie $(attr address) live" "$W/subsys.txt" ||
		fail "no live pcie path nvme0 at $(attr address)"
}

id_ctrl() {
	nvme id-ctrl "$CTRL" -o json >"$W/idctrl.json" || fail "id-ctrl failed" || return 1
	expect vid "$(json "$W/idctrl.json" 'hex(j["vid"])')" 0x1b36 &&
	expect ssvid "$(json "$W/idctrl.json" 'hex(j["ssvid"])')" 0x1af4 &&
	expect sn "$(json "$W/idctrl.json" 'j["sn"]')" "$(attr serial)" &&
	expect mn "$(json "$W/idctrl.json" 'j["mn"]')" "$(attr model)" &&
	expect fr "$(json "$W/idctrl.json" 'j["fr"]')" "$(attr firmware_rev)" &&
	expect subnqn "$(json "$W/idctrl.json" 'j["subnqn"]')" "$SUBNQN" &&
	expect cntlid "$(json "$W/idctrl.json" 'j["cntlid"]')" "$(attr cntlid)" &&
	expect "ver" "$(json "$W/idctrl.json" 'hex(j["ver"])')" 0x10400 &&
	expect "mdts" "$(json "$W/idctrl.json" 'j["mdts"]')" 7 &&
	expect "nn" "$(json "$W/idctrl.json" 'j["nn"]')" 256
}

id_ns() {
	nvme id-ns "$NS" -o json >"$W/idns.json" || fail "id-ns failed" || return 1
	expect nsze "$(json "$W/idns.json" 'j["nsze"]')" $((1 << 21)) &&
	expect ncap "$(json "$W/idns.json" 'j["ncap"]')" $((1 << 21)) &&
	expect "flbas" "$(json "$W/idns.json" 'j["flbas"]')" 0 &&
	expect "lbaf 0" "$(json "$W/idns.json" '(j["lbafs"][0]["ds"], j["lbafs"][0]["ms"])')" "(9, 0)" &&
	expect "nuse in sysfs" "$(cat /sys/block/nvme0n1/nuse)" "$(json "$W/idns.json" 'j["nuse"]')"
}

smart_writes() { nvme smart-log "$CTRL" -o json | python3 -c 'import json, sys; print(json.load(sys.stdin)["host_write_commands"])'; }

smart_log() {
	local before after
	nvme smart-log "$CTRL" || fail "smart-log failed" || return 1
	before=$(smart_writes)
	dd if=/dev/urandom of="$NS" bs=4k count=4 seek=1024 oflag=direct status=none
	after=$(smart_writes)
	echo "host_write_commands: $before -> $after"
	((after > before)) || fail "host_write_commands did not grow with writes"
}

error_log() {
	nvme error-log "$CTRL" -o json >"$W/err.json" || fail "error-log failed" || return 1
	head -n 20 "$W/err.json"
	json "$W/err.json" 'len(j["errors"])' >/dev/null || fail "no error entries in the output"
}

fw_log() {
	nvme fw-log "$CTRL" | tee "$W/fw.txt"
	grep -q '^afi *: 0x1$' "$W/fw.txt" || fail "active slot is not 1" || return 1
	grep -q '^frs1 .*(1\.0' "$W/fw.txt" || fail "slot 1 does not hold firmware 1.0"
}

vwc() { nvme get-feature "$CTRL" -f 6 | sed -n 's/.*Current value:\(0x\)\{0,1\}0*\([0-9a-f]*\)$/\2/p'; }

features() {
	nvme set-feature "$CTRL" -f 6 -v 0 || fail "set-feature VWC=0 failed" || return 1
	expect "VWC after set 0" "$(vwc)" "" || return 1
	nvme set-feature "$CTRL" -f 6 -v 1 || fail "set-feature VWC=1 failed" || return 1
	expect "VWC after set 1" "$(vwc)" 1 || return 1
	# Number of Queues belongs to the driver, even for root.
	if nvme set-feature "$CTRL" -f 7 -v 0 >"$W/nq.txt" 2>&1; then
		fail "set-feature Number of Queues succeeded"
		return 1
	fi
	expect "set-feature Number of Queues" "$(cat "$W/nq.txt")" "set-feature: Permission denied"
}

flush() {
	expect flush "$(nvme flush "$NS" -n 1 2>&1)" "NVMe Flush: success"
}

# pattern LBA BLOCKS FILE: random blocks written with nvme write.
pattern() {
	head -c $(($2 * 512)) /dev/urandom >"$3"
	nvme write "$NS" -s "$1" -c $(($2 - 1)) -z $(($2 * 512)) -d "$3" >/dev/null ||
		fail "nvme write failed"
}

# readback LBA BLOCKS FILE: nvme read, then compare with FILE.
readback() {
	# nvme read does not truncate its output file.
	rm -f "$W/rb"
	nvme read "$NS" -s "$1" -c $(($2 - 1)) -z $(($2 * 512)) -d "$W/rb" >/dev/null ||
		fail "nvme read failed" || return 1
	cmp "$W/rb" "$3" || fail "blocks $1+$2 differ from $3"
}

read_write_compare() {
	pattern 4096 16 "$W/rw" || return 1
	readback 4096 16 "$W/rw" || return 1
	nvme compare "$NS" -s 4096 -c 15 -z 8192 -d "$W/rw" || fail "compare of equal data failed" || return 1
	head -c 8192 /dev/urandom >"$W/other"
	if nvme compare "$NS" -s 4096 -c 15 -z 8192 -d "$W/other" >"$W/cmp.txt" 2>&1; then
		fail "compare of different data succeeded"
		return 1
	fi
	cat "$W/cmp.txt"
	grep -qi compare "$W/cmp.txt" || fail "no compare failure status"
}

zeroes() { head -c $(($1 * 512)) /dev/zero >"$W/zero$1"; echo "$W/zero$1"; }

dsm() {
	pattern 8192 64 "$W/dsm" || return 1
	nvme dsm "$NS" -n 1 --ad --slbs=8200 --blocks=32 || fail "dsm failed" || return 1
	# DLFEAT: deallocated blocks read as zeroes; the rest is untouched.
	readback 8200 32 "$(zeroes 32)" && readback 8192 8 <(head -c 4096 "$W/dsm")
}

write_zeroes() {
	pattern 12288 32 "$W/wz" || return 1
	nvme write-zeroes "$NS" -s 12290 -c 15 || fail "write-zeroes failed" || return 1
	readback 12290 16 "$(zeroes 16)" && readback 12288 2 <(head -c 1024 "$W/wz")
}

reset() {
	pattern 16384 8 "$W/reset" || return 1
	nvme reset "$CTRL" || fail "nvme reset failed" || return 1
	poll 30 grep -qx live "$SYS/state" || fail "not live after nvme reset" || return 1
	readback 16384 8 "$W/reset" || return 1
	echo 1 >"$SYS/reset_controller" || fail "reset_controller failed" || return 1
	poll 30 grep -qx live "$SYS/state" || fail "not live after reset_controller" || return 1
	readback 16384 8 "$W/reset" && fio_verify nvme0n1 --rw=randwrite --bs=4k \
		--iodepth=16 --size=8m --offset=64m
}

rescan() {
	local devt
	devt=$(cat /sys/block/nvme0n1/dev)
	nvme ns-rescan "$CTRL" || fail "ns-rescan failed" || return 1
	echo 1 >"$SYS/rescan_controller" || fail "rescan_controller failed" || return 1
	udevadm settle --timeout=60 || true
	expect "nvme0n1 after rescans" "$(cat /sys/block/nvme0n1/dev)" "$devt"
}

admin_passthru() {
	nvme id-ctrl "$CTRL" -b >"$W/idctrl.bin" || fail "id-ctrl -b failed" || return 1
	nvme admin-passthru "$CTRL" --opcode=0x06 --cdw10=1 --data-len=4096 -r -b \
		>"$W/pt.bin" || fail "admin-passthru failed" || return 1
	cmp "$W/pt.bin" "$W/idctrl.bin" || fail "admin-passthru Identify differs from id-ctrl"
}

io_passthru() {
	head -c 4096 /dev/urandom >"$W/io"
	nvme io-passthru "$NS" --opcode=0x01 --namespace-id=1 --cdw10=20480 \
		--cdw12=7 --data-len=4096 -w -i "$W/io" || fail "io-passthru write failed" || return 1
	nvme io-passthru "$NG" --opcode=0x02 --namespace-id=1 --cdw10=20480 \
		--cdw12=7 --data-len=4096 -r -b >"$W/io.out" || fail "io-passthru read failed" || return 1
	cmp "$W/io.out" "$W/io" && readback 20480 8 "$W/io"
}

# Asynchronous Event Request never completes on its own: with a 2 s
# timeout the driver must reset the controller, which ends the command
# with EINTR.
user_timeout() {
	local t=$SECONDS rc=0
	nvme admin-passthru "$CTRL" --opcode=0x0c --timeout=2000 >"$W/aer.txt" 2>&1 || rc=$?
	cat "$W/aer.txt"
	echo "returned $rc after $((SECONDS - t)) s"
	((rc != 0)) || fail "the AER completed" || return 1
	grep -q "Interrupted system call" "$W/aer.txt" || fail "no EINTR" || return 1
	((SECONDS - t < 30)) || fail "took $((SECONDS - t)) s" || return 1
	poll 30 grep -qx live "$SYS/state" || fail "not live after the timeout"
}

# SIGKILL while a command waits: the task ends once the command does, and
# nothing is left behind (the admin queue still works).
signal_wait() {
	local pid t=$SECONDS
	nvme admin-passthru "$CTRL" --opcode=0x0c --timeout=3000 >/dev/null 2>&1 &
	pid=$!
	sleep 1
	kill -9 "$pid"
	wait "$pid" || true
	echo "killed task gone after $((SECONDS - t)) s"
	poll 30 grep -qx live "$SYS/state" || fail "not live" || return 1
	nvme id-ctrl "$CTRL" >/dev/null || fail "admin queue broken after the signal"
}

open_nodes() { chmod 0666 "$CTRL" "$NS" "$NG"; }

unprivileged_cli() {
	local out
	open_nodes
	"${NOBODY[@]}" nvme id-ctrl "$CTRL" >/dev/null || fail "id-ctrl as nobody failed" || return 1
	"${NOBODY[@]}" nvme id-ns "$NS" >/dev/null || fail "id-ns as nobody failed" || return 1
	# nvme ns-rescan prints no reason; perm_* checks its EACCES.
	if "${NOBODY[@]}" nvme ns-rescan "$CTRL"; then
		fail "nvme ns-rescan as nobody succeeded"
		return 1
	fi
	for args in "get-feature $CTRL -f 6" "smart-log $CTRL" "error-log $CTRL" \
		"fw-log $CTRL" "flush $NS" "reset $CTRL" \
		"write $NS -s 0 -c 0 -z 512 -d /dev/zero"; do
		# shellcheck disable=SC2086 # word splitting wanted
		if out=$("${NOBODY[@]}" nvme $args 2>&1); then
			fail "nvme $args as nobody succeeded"
			return 1
		fi
		echo "nvme $args: $out"
		[[ $out == *"Permission denied"* ]] || fail "nvme $args: not EACCES" || return 1
	done
}

perm_table() { # MODE
	open_nodes
	if [[ $1 == root ]]; then
		python3 "$PERM" root "$CTRL" "$NS" "$NG"
	else
		"${NOBODY[@]}" python3 "$PERM" "$1" "$CTRL" "$NS" "$NG"
	fi
}

fuzz() { # MODE COUNT SEED
	local extra=()
	# cnvme only: I/O commands without a buffer that ask for more than a
	# page (cnvme sends an empty SGL; stock sends PRPs of zero).
	[[ $DRIVER == cnvme ]] && extra=(--zero-buffer-io)
	open_nodes
	if [[ $1 == root ]]; then
		python3 "$FUZZ" --mode root --count "$2" --seed "$3" "${extra[@]}" \
			"$CTRL" "$NS" "$NG"
	else
		"${NOBODY[@]}" python3 "$FUZZ" --mode "$1" --count "$2" --seed "$3" \
			"${extra[@]}" "$CTRL" "$NS" "$NG"
	fi
}

# The read-only phase must leave the device as it was: data, features,
# no reset.
fuzz_ro_untouched() {
	local resets
	raw_write nvme0n1 $((900 << 20)) 4 "$W/untouched.sha" || return 1
	nvme set-feature "$CTRL" -f 6 -v 1 >/dev/null
	resets=$(dmesg | grep -ci reset || true)
	fuzz ro 4000 7 || return 1
	raw_verify nvme0n1 $((900 << 20)) 4 "$W/untouched.sha" &&
	expect "VWC" "$(vwc)" 1 &&
	expect "reset messages" "$(dmesg | grep -ci reset || true)" "$resets" &&
	expect state "$(attr state)" live
}

uring_cmd_verify() {
	[[ -c $NG ]] || fail "no $NG" || return 1
	fio --name=uring-cmd --filename="$NG" --ioengine=io_uring_cmd --cmd_type=nvme \
		--rw=randwrite --bsrange=512-128k --iodepth=16 --offset=256m --size=16m \
		--verify=crc32c --verify_fatal=1 --do_verify=1 --eta=never \
		--group_reporting >"$W/fio.txt" 2>&1 || { tail -n 20 "$W/fio.txt"; fail "fio failed"; return 1; }
	grep -E 'err=|READ:|WRITE:' "$W/fio.txt"
	grep -q 'READ:' "$W/fio.txt" || fail "fio did not verify"
}

module_unused() { [[ $(cat "/sys/module/$(drv_module)/refcnt") == 0 ]]; }

# fio killed with I/O in flight: every command still completes, and once
# io_uring has torn the ring down (asynchronously, after the task is
# gone) nothing holds the driver any more.
uring_cmd_kill() {
	local pid
	# --thread: one process, so that SIGKILL ends the job itself, not only
	# fio's parent process.
	fio --name=busy --filename="$NG" --ioengine=io_uring_cmd --cmd_type=nvme \
		--rw=randrw --bs=4k --iodepth=32 --time_based --runtime=60 --offset=512m \
		--size=64m --thread --eta=never >/dev/null 2>&1 &
	pid=$!
	sleep 3
	kill -9 "$pid"
	wait "$pid" || true
	nvme io-passthru "$NG" --opcode=0x02 --namespace-id=1 --cdw10=0 --cdw12=0 \
		--data-len=512 -r -b >/dev/null || fail "passthrough broken after the kill" || return 1
	poll 30 module_unused ||
		fail "$(drv_module) still in use 30 s after the kill: refcnt $(cat "/sys/module/$(drv_module)/refcnt")"
}

unload_gone() {
	drv_unload || return 1
	udevadm settle --timeout=60 || true
	for n in "$CTRL" "$NS" "$NG"; do
		[[ ! -e $n ]] || fail "$n left behind" || return 1
	done
	[[ $DRIVER == stock ]] || [[ ! -e /sys/class/nvme ]] || fail "class nvme left behind"
}

cnvme_no_private_names() {
	expect "private_names" "$(cat /sys/module/cnvme/parameters/private_names)" N || return 1
	local c
	for c in nvme nvme-subsystem nvme-generic; do
		[[ -d /sys/class/$c ]] || fail "no class $c" || return 1
	done
	[[ ! -e /sys/class/cnvme ]] || fail "class cnvme registered too"
}

# log_mark: a line in the kernel log that log_since finds again.
log_mark() {
	LOG_MARK="cli-mark-$$-$RANDOM"
	echo "<5>$LOG_MARK" >/dev/kmsg
}
log_since() { dmesg | sed -n "/$LOG_MARK/,\$p" | sed 1d; }

# Defect 13: NVME_IOCTL_IO_CMD on a partition is contained like IO64 and
# SUBMIT_IO (stock lets it through, hence cnvme only).  A 1 MiB partition
# at LBA 2048, added to the kernel's table only (addpart: the guest has
# no partitioning tool); LBA 0 is outside it.
partition_contained() {
	local part=${NS}p1 rc=0
	addpart "$NS" 1 2048 2048 || fail "addpart failed" || return 1
	udevadm settle --timeout=60 || true
	if poll 10 test -b "$part"; then
		chmod 0666 "$part"
		"${NOBODY[@]}" python3 "$UI" partition "$part" || rc=1
	else
		echo "no $part after sfdisk"
		rc=1
	fi
	delpart "$NS" 1 || rc=1
	udevadm settle --timeout=60 || true
	poll 10 test ! -e "$part" || { echo "$part still there"; rc=1; }
	return "$rc"
}

# Defect 15: a command a reset cancels returns result 0 in the io_uring
# big CQE, not the result of an earlier command (stock 6.12 returns the
# stale one, hence cnvme only).  Expected driver
# messages: one "resetting controller" per reset (3).
uring_result() {
	python3 "$UI" uring-result "$CTRL" || return 1
	poll 30 grep -qx live "$SYS/state" || fail "not live after the resets"
}

# Defect 12: unprivileged commands with timeout_ms=1 (64 reads of 512 KiB
# and 2 Identify in flight for 4 s) all succeed; no driver line about a
# timeout, an Abort or a reset.
short_timeout() {
	local bad
	open_nodes
	log_mark
	"${NOBODY[@]}" python3 "$UI" short-timeout "$CTRL" "$NG" 4 || return 1
	bad=$(log_since | grep -Ei 'timed out|timeout|abort|reset' || true)
	[[ -z $bad ]] || fail "kernel log: $bad"
}

# Defect 11, with passthru_sgl=0 (PRPs for passthrough on the I/O queues
# too): an unprivileged command that would move more than its buffer is
# refused with EINVAL and the bytes past the buffer stay untouched.
# Expected driver messages: "... moves N bytes but the buffer holds M:
# refused" and "... opcode 0x19 with an unknown data length refused ...".
reload_prps() {
	drv_unload || return 1
	drv_load passthru_sgl=0 || return 1
	wait_disks 30 || return 1
	expect passthru_sgl "$(cat /sys/module/cnvme/parameters/passthru_sgl)" 0
}

xfer_fits() {
	open_nodes
	log_mark
	"${NOBODY[@]}" python3 "$UI" xfer "$CTRL" "$NG" || return 1
	log_since | grep -E 'cnvme|nvme' || true
	log_since | grep -q 'moves 4096 bytes but the buffer holds 512: refused' ||
		fail "no 'refused' line in the kernel log"
}

reset_count() { [[ -s $1 ]] && (($(<"$1") >= $2)); }
gone() { ! kill -0 "$1" 2>/dev/null; }

# Defect 14: NVME_IOCTL_RESET in a loop (one process, /dev/nvme0 held
# open) while the PCI function is unbound.  Unbind ends within 60 s, the
# loop's process ends, no task in D state, no oops; the function binds
# again.  Expected driver messages (cnvme): "resetting controller", and
# when remove lands on a running reset "controller reset failed: -19" and
# "controller is dead (was deleting)".
reset_vs_unbind() {
	local pci bdf drv stop=$W/reset.stop count=$W/reset.count pid upid t rc=0
	pci=$(first_nvme_pci)
	bdf=${pci##*/}
	drv=/sys/bus/pci/drivers/$(drv_module)
	rm -f "$stop" "$count"
	log_mark
	python3 "$UI" reset-loop "$CTRL" "$stop" "$count" 300 >"$W/reset-loop.txt" 2>&1 &
	pid=$!
	poll 120 reset_count "$count" 2 || { touch "$stop"; fail "the reset loop did not get going"; return 1; }
	t=$SECONDS
	# In the background: a hung unbind must not hang the suite.
	(echo "$bdf" >"$drv/unbind") &
	upid=$!
	poll 60 gone "$upid" || rc=1
	echo "unbind: $((SECONDS - t)) s"
	touch "$stop"
	((rc == 0)) || { fail "unbind still running after 60 s"; return 1; }
	wait "$upid" || { fail "unbind failed"; return 1; }
	poll 60 gone "$pid" || { fail "the reset loop still runs 60 s after the unbind"; return 1; }
	wait "$pid" || { cat "$W/reset-loop.txt"; fail "the reset loop failed"; return 1; }
	cat "$W/reset-loop.txt"
	no_d_state_tasks || return 1
	log_since | grep -E 'nvme|resetting|dead' || true
	! log_since | grep -E "$BAD_LOG" || fail "bad kernel log lines" || return 1
	echo "$bdf" >"$drv/bind" || fail "bind failed" || return 1
	poll 60 all_bound || fail "not bound again" || return 1
	poll 30 test -c "$CTRL" || fail "no $CTRL after the bind" || return 1
	wait_disks 30
}

# cli_check NAME COMMAND...: check, unless CLI_ONLY leaves NAME out.
cli_check() {
	[[ -z ${CLI_ONLY:-} || $1 =~ $CLI_ONLY ]] || return 0
	check "$@"
}

ktap_begin
t0=$SECONDS
check load_driver drv_load
check probe_disks wait_disks 30
[[ $DRIVER == cnvme ]] && check cnvme_stock_names cnvme_no_private_names
cli_check sysfs_controller sysfs_ctrl
cli_check sysfs_subsystem sysfs_subsys
cli_check sysfs_namespace sysfs_ns
cli_check udev_by_id by_id
cli_check nvme_list list
cli_check nvme_list_subsys list_subsys
cli_check nvme_id_ctrl id_ctrl
cli_check nvme_id_ns id_ns
cli_check nvme_smart_log smart_log
cli_check nvme_error_log error_log
cli_check nvme_fw_log fw_log
cli_check nvme_get_set_feature features
cli_check nvme_flush flush
cli_check nvme_read_write_compare read_write_compare
cli_check nvme_dsm dsm
cli_check nvme_write_zeroes write_zeroes
cli_check nvme_admin_passthru admin_passthru
cli_check nvme_io_passthru io_passthru
cli_check nvme_reset reset
cli_check nvme_ns_rescan rescan
cli_check user_timeout_resets user_timeout
cli_check signal_while_waiting signal_wait
cli_check unprivileged_nvme_cli unprivileged_cli
cli_check perm_user_ro perm_table user-ro
cli_check perm_user_rw perm_table user-rw
cli_check perm_root perm_table root
echo "# $((SECONDS - t0)) s so far"
cli_check fuzz_user_ro_untouched fuzz_ro_untouched
cli_check fuzz_user_rw fuzz rw 2000 11
cli_check fuzz_root fuzz root 4000 13
cli_check after_fuzz_live grep -qx live "$SYS/state"
cli_check after_fuzz_io_verifies fio_verify nvme0n1 --rw=randwrite --bsrange=512-256k \
	--mem_align=512 --iodepth=16 --offset=0 --size=32m
echo "# $((SECONDS - t0)) s so far"
cli_check uring_cmd_fio_verify uring_cmd_verify
cli_check uring_cmd_kill_in_flight uring_cmd_kill
if [[ $DRIVER == cnvme ]]; then
	cli_check cnvme_partition_io_cmd_contained partition_contained
	cli_check cnvme_unprivileged_timeout_raised short_timeout
	cli_check cnvme_uring_cancelled_result_zero uring_result
fi
if [[ $DRIVER == cnvme ]] && [[ -z ${CLI_ONLY:-} || cnvme_unprivileged_xfer =~ $CLI_ONLY ]]; then
	check cnvme_reload_prp_passthru reload_prps
	check cnvme_unprivileged_xfer_fits_buffer xfer_fits
fi
cli_check reset_ioctl_vs_unbind reset_vs_unbind
check unload_removes_nodes unload_gone
# What the cases above provoke on purpose: the resets of nvme_reset, of
# uring_result and of the reset/unbind race, and the timeouts of the two
# Asynchronous Event Requests with a user timeout (each resets), plus
# whatever the unbind that cuts a reset short logs.  Nothing else.
if [[ $DRIVER == cnvme ]]; then
	expect_log 'opcode 0xc timed out, resetting controller' 2-4
	expect_log ': resetting controller$' +
	expect_log 'controller is dead|reset failed|removing the disks' 0-5
	expect_log 'error, dev nvme' 0-64
else
	expect_log 'I/O tag|timeout, (reset|disable|aborting)|resetting controller|Abort status|controller is down|Removing after|Disabling device|error, dev nvme' 0-1000
fi
check kernel_log_clean dmesg_clean
ktap_end
