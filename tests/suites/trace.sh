#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# lab-timeout: 480
# lab-extras: trace-tools
#
# trace: the driver's tracepoints, read through tracefs in an instance of
# its own (/sys/kernel/tracing/instances/lab-trace).  cnvme's events are
# cnvme:* (include/trace/events/cnvme.h); on the stock driver the same
# checks read nvme:nvme_setup_cmd and nvme:nvme_complete_rq, whose output
# cnvme's imitates.  Both drivers:
#   - with the events disabled (as after load), a run of O_DIRECT reads
#     and writes records nothing;
#   - N = 5 reads and M = 3 writes of 4 KiB, one at a time with O_DIRECT
#     at LBAs the suite chooses, on a namespace nothing else touches (the
#     device stays open until the window closes, so udev's probe after a
#     close falls outside it): exactly N + M command setups on the I/O
#     queues, N Reads and M Writes, the namespace's nsid, the expected
#     slba/len of each; exactly N + M completions, each of a command set
#     up in the window (same qid and command id), status 0, no retry;
#     nothing on the admin queue;
#   - fsync of the disk: exactly one Flush with that nsid, completed;
#   - a controller reset (sysfs reset_controller): on the admin queue
#     one Create I/O Completion Queue and one Create I/O Submission
#     Queue for each hardware queue of the disk (ids 1..Q), completed
#     with status 0.
#   - perf (perf stat -a) and bpftrace (a count by opcode) see exactly
#     the N Reads of a dd with O_DIRECT, read-only (no udev probe after).
# cnvme only (stock has no such events):
#   - the SQ doorbell events of the I/O run add up to N + M commands and
#     each continues from the previous tail of its queue;
#   - the reset: one cnvme_reset, one cnvme_reset_done with ret=0, and the
#     state changes live -> resetting -> connecting -> live, in order;
#   - a read whose completion is hidden (fault injection, hide_cqe; the
#     driver is loaded with fault_injection=1 io_timeout=5): in order, a
#     cnvme_timeout of that read (aborted=0), the cnvme_abort of it and
#     the Abort command on the admin queue, a second cnvme_timeout
#     (aborted=1), the state live -> resetting, cnvme_reset, the read
#     ended by the teardown (0x371), the states resetting -> connecting ->
#     live; then the read set up again at the same LBA and completed with
#     status 0, and one cnvme_reset_done ret=0 before, between or after
#     those two (the rebuild restarts the queues before it returns).
# Every event is enabled once, while the driver is idle: enabling patches
# the driver's text (static keys), which TCG handles badly under a vCPU
# running it (see scripts/lab.sh on trace_event=).
#
# Expected kernel log: cnvme logs ": resetting controller" once for each
# reset, and the hidden completion's lines (as chaos's hide_io); stock logs
# no recovery line for the sysfs reset.

# The helpers below run through check "$@", which shellcheck cannot see.
# shellcheck disable=SC2317
set -euo pipefail
# shellcheck source=tests/guest/lib.sh
. "$LAB/guest/lib.sh"

NREAD=5
NWRITE=3
INST=$TRACE/instances/lab-trace
WIN=$RESULTS/trace-window.txt
EVS=$RESULTS/trace-events.txt
if [[ $DRIVER == stock ]]; then
	SYS=nvme
	EVENTS=(nvme_setup_cmd nvme_complete_rq)
else
	SYS=cnvme
	EVENTS=(cnvme_setup_cmd cnvme_complete_rq cnvme_sq_doorbell cnvme_timeout
		cnvme_abort cnvme_reset cnvme_reset_done cnvme_ctrl_state)
fi

tracefs_instance() {
	mountpoint -q "$TRACE" || mount -t tracefs nodev "$TRACE" || return 1
	[[ -d $INST ]] || mkdir "$INST" || return 1
	echo 0 >"$INST/tracing_on"
	echo 4096 >"$INST/buffer_size_kb"
	: >"$INST/trace"
}

events_present() {
	local e
	for e in "${EVENTS[@]}"; do
		[[ -f $INST/events/$SYS/$e/format ]] || fail "no event $SYS:$e" || return 1
		grep -H '^format\|field:' "$INST/events/$SYS/$e/format" | head -n 20
	done
}

events_disabled() {
	local e
	for e in "${EVENTS[@]}"; do
		[[ $(<"$INST/events/$SYS/$e/enable") == 0 ]] ||
			fail "$SYS:$e is enabled" || return 1
	done
}

# Enable the driver's events in the instance (the driver is idle).
events_enable() {
	udevadm settle --timeout=60 || true
	echo 1 >"$INST/events/$SYS/enable" || return 1
	local e
	for e in "${EVENTS[@]}"; do
		[[ $(<"$INST/events/$SYS/$e/enable") == 1 ]] ||
			fail "$SYS:$e did not enable" || return 1
	done
}

# dio_window DISK [flush]: the instance records only while the device is
# open: NWRITE writes of 4 KiB from half the disk, then NREAD reads from a
# quarter, one at a time (or one fsync).
dio_window() {
	local disk=$1 what=${2:-rw}
	udevadm settle --timeout=60 || true
	: >"$INST/trace"
	python3 - "/dev/$disk" "$INST/tracing_on" "$what" "$NREAD" "$NWRITE" <<'EOF' || return 1
import mmap, os, sys
dev, on, what, nread, nwrite = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
fd = os.open(dev, os.O_RDWR | os.O_DIRECT)
size = os.lseek(fd, 0, os.SEEK_END)
buf = mmap.mmap(-1, 4096)
buf.write(b"lab-trace" * 455)
with open(on, "w") as f:
    f.write("1")
if what == "flush":
    os.fsync(fd)
else:
    for i in range(nwrite):
        assert os.pwrite(fd, buf, size // 2 + i * 4096) == 4096
    for i in range(nread):
        assert os.preadv(fd, [buf], size // 4 + i * 4096) == 4096
with open(on, "w") as f:
    f.write("0")
os.close(fd)
EOF
	cp "$INST/trace" "$WIN"
	grep -c "$SYS" "$WIN" || true
}

# The window's events as "KIND key=value..." lines, whichever driver,
# into $EVS.
events_of_window() {
	python3 - "$WIN" >"$EVS" <<'EOF'
import re, sys
for line in open(sys.argv[1]):
    m = re.search(r" (c?nvme_[a-z_]+): (.*)$", line)
    if not m:
        continue
    ev, rest = m.groups()
    f = dict(re.findall(r"(\w+)=([^,() ]+)", rest))
    c = re.search(r"cmd=\((\w+)", rest)
    if c:
        f["op"] = c.group(1)
    s = re.search(r"(\w+) -> (\w+)", rest)
    if s:
        f["from"], f["to"] = s.groups()
    print(ev.replace("cnvme_", "").replace("nvme_", ""),
          " ".join(f"{k}={v}" for k, v in f.items()))
EOF
}

no_events() {
	dio_window "$1" || return 1
	dio_window "$1" flush || return 1
	if grep -q "$SYS" "$WIN"; then
		head -n 5 "$WIN"
		fail "events were recorded while disabled"
	fi
	echo "no $SYS event in the windows"
}

# What the I/O run must show: compare the decoded window with the LBAs.
rw_events() {
	local disk=$1 nsid lb bytes
	nsid=$(<"/sys/block/$disk/nsid")
	lb=$(<"/sys/block/$disk/queue/logical_block_size")
	bytes=$(($(<"/sys/block/$disk/size") * 512))
	dio_window "$disk" || return 1
	events_of_window || return 1
	python3 - "$EVS" "$nsid" "$lb" "$bytes" "$NREAD" "$NWRITE" "$DRIVER" <<'EOF'
import sys
nsid, lb, size, nread, nwrite, drv = sys.argv[2], *map(int, sys.argv[3:7]), sys.argv[7]
want = sorted([("nvme_cmd_read", (size // 4 + i * 4096) // lb, 4096 // lb - 1) for i in range(nread)] +
              [("nvme_cmd_write", (size // 2 + i * 4096) // lb, 4096 // lb - 1) for i in range(nwrite)])
setups, done, bad, tails = {}, 0, [], {}
got, rings = [], 0
for line in open(sys.argv[1]):
    ev, *kv = line.split()
    f = dict(x.split("=", 1) for x in kv)
    qid = int(f.get("qid", -1))
    if ev == "setup_cmd":
        if qid == 0:
            bad.append("admin command in the window: " + line.strip())
            continue
        if f.get("nsid") != nsid:
            bad.append(f"nsid {f.get('nsid')} instead of {nsid}: " + line.strip())
        got.append((f.get("op"), int(f.get("slba", -1)), int(f.get("len", -1))))
        key = (qid, f["cmdid"])
        if key in setups:
            bad.append("command id set up twice before completing: " + line.strip())
        setups[key] = 1
    elif ev == "complete_rq":
        key = (qid, f.get("cmdid"))
        if qid == 0:
            bad.append("admin completion in the window: " + line.strip())
        elif setups.pop(key, None) is None:
            bad.append("completion of no command set up in the window: " + line.strip())
        elif int(f["status"], 0) != 0 or int(f["retries"]) != 0:
            bad.append("status or retries not 0: " + line.strip())
        else:
            done += 1
    elif ev == "sq_doorbell" and qid > 0:
        rings += int(f["count"])
        old, new = int(f["old_tail"]), int(f["tail"])
        if qid in tails and tails[qid] != old:
            bad.append(f"qid {qid}: doorbell from {old}, last tail was {tails[qid]}")
        tails[qid] = new
got.sort()
print(f"setups {len(got)}, completed {done}, doorbell commands {rings}")
if got != want:
    print("want:", want)
    print("got: ", got)
    bad.append(f"setups differ from the {nread} reads and {nwrite} writes")
if setups:
    bad.append(f"{len(setups)} command(s) not completed in the window")
if done != nread + nwrite:
    bad.append(f"{done} completions, want {nread + nwrite}")
if drv == "cnvme" and rings != nread + nwrite:
    bad.append(f"doorbells rang for {rings} commands, want {nread + nwrite}")
for b in bad[:10]:
    print(b)
sys.exit(1 if bad else 0)
EOF
}

flush_event() {
	local disk=$1 nsid
	nsid=$(<"/sys/block/$disk/nsid")
	[[ $(<"/sys/block/$disk/queue/write_cache") == "write back" ]] ||
		fail "$disk is not write back: no flush would be sent" || return 1
	dio_window "$disk" flush || return 1
	events_of_window || return 1
	python3 - "$EVS" "$nsid" <<'EOF'
import sys
nsid = sys.argv[2]
io, cids, done = [], set(), 0
for line in open(sys.argv[1]):
    ev, *kv = line.split()
    f = dict(x.split("=", 1) for x in kv)
    if ev == "setup_cmd" and f.get("qid") != "0":
        io.append((f.get("op"), f.get("nsid")))
        cids.add((f["qid"], f["cmdid"]))
    elif ev == "complete_rq" and (f.get("qid"), f.get("cmdid")) in cids and int(f["status"], 0) == 0:
        done += 1
print("I/O queue setups:", io, "completed:", done)
if io != [("nvme_cmd_flush", nsid)] or done != 1:
    sys.exit("want exactly one Flush of nsid " + nsid + ", completed with status 0")
EOF
}

ctrl_live() { [[ $(ctrl_state) == live ]]; }

# The reset's window: from before the write to reset_controller until the
# controller is live again (the write returns when the reset is done).
reset_window() {
	: >"$INST/trace"
	echo 1 >"$INST/tracing_on"
	ctrl_reset || { echo 0 >"$INST/tracing_on"; return 1; }
	poll 30 ctrl_live || true
	echo 0 >"$INST/tracing_on"
	cp "$INST/trace" "$WIN"
	[[ $(ctrl_state) == live ]] || fail "controller $(ctrl_state) after the reset"
}

reset_events() {
	local disk=$1 nq
	nq=$(find "/sys/block/$disk/mq" -mindepth 1 -maxdepth 1 -type d | wc -l)
	reset_window || return 1
	events_of_window || return 1
	python3 - "$EVS" "$nq" "$DRIVER" <<'EOF'
import sys
nq, drv = int(sys.argv[2]), sys.argv[3]
cids, ok, states, resets, dones, bad = {}, {}, [], 0, [], []
for line in open(sys.argv[1]):
    ev, *kv = line.split()
    f = dict(x.split("=", 1) for x in kv)
    if ev == "setup_cmd" and f.get("qid") == "0":
        op = f.get("op")
        qid = f.get("cqid") if op == "nvme_admin_create_cq" else f.get("sqid")
        if op in ("nvme_admin_create_cq", "nvme_admin_create_sq"):
            cids[("0", f["cmdid"])] = (op, int(qid))
    elif ev == "complete_rq" and ("0", f.get("cmdid")) in cids and f.get("qid") == "0":
        c = cids.pop(("0", f["cmdid"]))
        ok.setdefault(c[0], []).append(c[1])
        if int(f["status"], 0) != 0:
            bad.append(f"{c[0]} {c[1]} failed: status {f['status']}")
    elif ev == "ctrl_state":
        states.append(f["from"] + "->" + f["to"])
    elif ev == "reset":
        resets += 1
    elif ev == "reset_done":
        dones.append(int(f["ret"]))
want = list(range(1, nq + 1))
for op in ("nvme_admin_create_cq", "nvme_admin_create_sq"):
    got = sorted(ok.get(op, []))
    print(op, "completed for queues", got)
    if got != want:
        bad.append(f"{op}: queues {got}, want {want}")
if drv == "cnvme":
    print("states:", states, "resets:", resets, "reset_done:", dones)
    if states != ["live->resetting", "resetting->connecting", "connecting->live"]:
        bad.append(f"state changes {states}")
    if resets != 1 or dones != [0]:
        bad.append(f"{resets} cnvme_reset, cnvme_reset_done {dones}: want 1 and [0]")
for b in bad:
    print(b)
sys.exit(1 if bad else 0)
EOF
}

# One read of 4 KiB at an eighth of the disk from CPU 0, whose completion
# the device posts and the driver's injection hides: the timeout handler
# must abort it, reset on its second timeout, and the read is sent again.
timeout_events() {
	local disk=$1 qid inj lb skip
	qid=$(qid_of_cpu0 "$disk") || fail "no hardware queue of $disk serves CPU 0" || return 1
	inj=/sys/kernel/debug/cnvme/$(basename "$(first_nvme_pci)")/inject
	lb=$(<"/sys/block/$disk/queue/logical_block_size")
	skip=$(($(<"/sys/block/$disk/size") / 8 / 8))
	udevadm settle --timeout=60 || true
	: >"$INST/trace"
	echo "$qid 0x02 1" >"$inj/hide_cqe" || fail "cannot arm hide_cqe" || return 1
	echo 1 >"$INST/tracing_on"
	taskset -c 0 dd if="/dev/$disk" of=/dev/null bs=4096 count=1 iflag=direct \
		skip="$skip" status=none || fail "the read failed"
	poll 30 ctrl_live || true
	echo 0 >"$INST/tracing_on"
	echo "$qid 0x02 0" >"$inj/hide_cqe"
	cp "$INST/trace" "$WIN"
	grep '^hide_cqe' "$inj/hits"
	[[ $(awk '$1 == "hide_cqe" { print $3 }' "$inj/hits") == 1 ]] ||
		fail "hide_cqe did not fire once" || return 1
	events_of_window || return 1
	python3 - "$EVS" "$qid" "$((skip * 4096 / lb))" <<'EOF' || return 1
import sys
qid, slba = sys.argv[2], sys.argv[3]
seq, read_cids, bad = [], set(), []
for line in open(sys.argv[1]):
    ev, *kv = line.split()
    f = dict(x.split("=", 1) for x in kv)
    if ev == "setup_cmd" and f.get("qid") == qid and f.get("slba") == slba:
        read_cids.add(f["cmdid"])
        seq.append(("setup", f["cmdid"]))
    elif ev == "setup_cmd" and f.get("qid") == "0" and f.get("op") == "nvme_admin_abort_cmd":
        seq.append(("admin_abort",))
    elif ev == "complete_rq" and f.get("qid") == qid and f.get("cmdid") in read_cids:
        seq.append(("complete", f["cmdid"], int(f["status"], 0)))
    elif ev == "timeout":
        if f.get("qid") != qid or f.get("op") != "nvme_cmd_read":
            bad.append("timeout of another command: " + line.strip())
        elif f.get("state") == "live":
            seq.append(("timeout", f["cmdid"], f["aborted"]))
        elif f.get("state") != "resetting":
            bad.append("timeout in state " + f.get("state", "?") + ": " + line.strip())
    elif ev == "abort":
        seq.append(("abort", f.get("qid"), f.get("cmdid"), f.get("op")))
    elif ev == "reset":
        seq.append(("reset",))
    elif ev == "reset_done":
        seq.append(("reset_done", f["ret"]))
    elif ev == "ctrl_state":
        seq.append(("state", f["from"] + "->" + f["to"]))
for s in seq:
    print(*s)
# The reset's teardown ends the read with Command Aborted by Host (0x371),
# which sends it back to blk-mq; the rebuild makes the controller live and
# restarts the queues, so the read may be set up again before or after
# cnvme_reset_done.
c = seq[0][1] if seq and seq[0][0] == "setup" else None
want = [("setup", c), ("timeout", c, "0"), ("abort", qid, c, "nvme_cmd_read"),
        ("admin_abort",), ("timeout", c, "1"), ("state", "live->resetting"), ("reset",),
        ("complete", c, 0x371), ("state", "resetting->connecting"),
        ("state", "connecting->live")]
if seq[:len(want)] != want:
    bad.append(f"want the sequence {want}")
rest = seq[len(want):]
if rest.count(("reset_done", "0")) != 1:
    bad.append("want one cnvme_reset_done with ret=0 once the controller is live")
rest = [e for e in rest if e != ("reset_done", "0")]
if len(rest) != 2 or rest[0][0] != "setup" or rest[1] != ("complete", rest[0][1], 0):
    bad.append("after the reset: want the read set up again and completed with status 0, and nothing else")
for b in bad:
    print(b)
sys.exit(1 if bad else 0)
EOF
	[[ $(ctrl_state) == live ]] || fail "controller $(ctrl_state) after the recovery"
}

# perf and bpftrace from the extras (scripts/lab-extras.sh trace-tools).
TT=$LAB/extras/trace-tools/root
tt() { # PROGRAM ARGS...
	local p=$1
	shift
	LD_LIBRARY_PATH=$TT/usr/lib/x86_64-linux-gnu:$TT/lib/x86_64-linux-gnu \
		"$TT/usr/bin/$p" "$@"
}

# N reads of 4 KiB with O_DIRECT from a quarter of the disk, read-only.
dd_reads() { # DISK
	dd if="/dev/$1" of=/dev/null bs=4096 count="$NREAD" iflag=direct \
		skip=$(($(<"/sys/block/$1/size") / 8 / 4)) status=none
}

perf_counts() {
	local disk=$1 out n
	udevadm settle --timeout=60 || true
	out=$(tt perf stat -x, -a -e "$SYS:${EVENTS[0]}" -e "$SYS:${EVENTS[1]}" \
		-- bash -c "$(declare -f dd_reads); NREAD=$NREAD dd_reads $disk" 2>&1) ||
		{ echo "$out"; fail "perf stat failed"; return 1; }
	echo "$out"
	for e in "${EVENTS[0]}" "${EVENTS[1]}"; do
		n=$(awk -F, -v e="$SYS:$e" '$3 == e { print $1 }' <<<"$out")
		[[ $n == "$NREAD" ]] || fail "perf counted '$n' $SYS:$e, want $NREAD" || return 1
	done
}

# bpftrace needs BTF or the kernel's headers.  Debian's kernel has BTF;
# the debug kernel has neither, but CONFIG_IKHEADERS puts the headers in
# /sys/kernel/kheaders.tar.xz, and the guest has no xz for bpftrace's own
# unpacking: python's lzma unpacks them, once per boot.
kheaders() {
	local kh
	kh=/tmp/kheaders-$(uname -r)
	[[ ! -e /sys/kernel/btf/vmlinux && -e /sys/kernel/kheaders.tar.xz ]] || return 0
	if [[ ! -d $kh ]]; then
		python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' \
			/sys/kernel/kheaders.tar.xz "$kh.tmp" && mv "$kh.tmp" "$kh" ||
			fail "cannot unpack /sys/kernel/kheaders.tar.xz" || return 1
	fi
	echo "$kh"
}

bpftrace_counts() {
	local disk=$1 out kh
	udevadm settle --timeout=60 || true
	kh=$(kheaders) || return 1
	# In the command substitution's subshell: the exports end with it.
	out=$([[ -z $kh ]] || export BPFTRACE_KERNEL_SOURCE=$kh BPFTRACE_KERNEL_BUILD=$kh
		BPFTRACE_NO_CPP_DEMANGLE=1 tt bpftrace -e \
		"tracepoint:$SYS:${EVENTS[0]} /args->qid > 0/ { @[args->opcode] = count(); }" \
		-c "/bin/dd if=/dev/$disk of=/dev/null bs=4096 count=$NREAD iflag=direct skip=$(($(<"/sys/block/$disk/size") / 8 / 4)) status=none" 2>&1) ||
		{ echo "$out"; fail "bpftrace failed"; return 1; }
	echo "$out"
	grep -q "^@\[2\]: $NREAD\$" <<<"$out" || fail "bpftrace did not count $NREAD Reads (opcode 2)" || return 1
	[[ $(grep -c '^@\[' <<<"$out") == 1 ]] || fail "bpftrace counted other opcodes"
}

ktap_begin

if [[ $DRIVER == cnvme ]]; then
	check load_driver drv_load fault_injection=1 io_timeout=5
else
	check load_driver drv_load
fi
check_disks trace
P=${DISK[0]:-}
check tracefs_instance tracefs_instance
check events_present events_present
check events_disabled_after_load events_disabled
check disabled_records_nothing no_events "$P"
check enable_events events_enable
check read_write_setup_and_complete rw_events "$P"
check flush_event flush_event "$P"
check perf_stat_counts perf_counts "$P"
check bpftrace_counts bpftrace_counts "$P"
if [[ $DRIVER == cnvme ]]; then
	expect_log ': resetting controller$' 2
	expect_log "inject: qid [0-9]+: completion of command id .* opcode 0x2 hidden" 1
	expect_log "timed out, aborting" 1
	expect_log "Abort of command id .*: not aborted" 1
	expect_log "timed out again after an Abort, resetting controller" 1
fi
check reset_admin_commands reset_events "$P"
[[ $DRIVER != cnvme ]] || check timeout_abort_reset_events timeout_events "$P"
check unload_driver drv_unload
check unload_removes_nodes no_nodes_left
check kernel_log_clean dmesg_clean
ktap_end
