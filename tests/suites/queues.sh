#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# lab-timeout: 200
#
# queues: the queue maps of poll_queues and write_queues.  With one poll
# queue and one write queue the disk has default (write), read and poll
# hardware contexts; polled I/O (io_uring --hipri) verifies and is served
# by the poll context without a single interrupt, and so does io_uring
# passthrough on the generic node; non-polled writes go to
# the default map and reads to the read map.
#
# Then the default load (tests/suites/device.inc; both drivers): one
# hardware queue per CPU, each CPU mapped once; QEMU's trace shows one
# Doorbell Buffer Config during the load and the device reading the I/O
# queues' shadow doorbells; every tag of every queue in use (one fio job
# per CPU at iodepth nr_tags, the drive throttled until the block layer
# shows every tag busy and the device holds nr_tags commands of each
# queue), with the data verified; and io_queue_depth=2: one tag per queue,
# the device never holds two commands of a queue, and fio at iodepth 32
# verifies while requests wait for the tag.  cnvme only: the same full
# depth with interrupt mitigation at its most eager (irq_poll_threshold=1),
# then I/O at depth 1, which needs the vectors enabled again.

# The helpers below run through check "$@", which shellcheck cannot see.
# shellcheck disable=SC2317
set -euo pipefail
# shellcheck source=tests/guest/lib.sh
. "$LAB/guest/lib.sh"
# shellcheck source=tests/suites/device.inc
. "$LAB/suites/device.inc"

DBG=/sys/kernel/debug/block

# Hardware contexts of DISK whose type is TYPE (default, read, poll).
hctx_of_type() { # DISK TYPE
	local h
	for h in "$DBG/$1"/hctx*; do
		[[ $(<"$h/type") == "$2" ]] && echo "$h"
	done
	return 0
}

maps_present() {
	local t n
	for t in default read poll; do
		n=$(hctx_of_type "$1" "$t" | wc -l)
		echo "$t: $n hardware context(s)"
		((n > 0)) || fail "no $t hardware context" || return 1
	done
	[[ $(<"/sys/block/$1/queue/io_poll") == 1 ]] || fail "queue/io_poll is not 1"
}

# Interrupts per vector of the NVMe functions: "NAME COUNT" lines.
irq_counts() {
	awk '$NF ~ /^c?nvme[0-9]+q[0-9]+$/ {
		s = 0; for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i
		print $NF, s }' /proc/interrupts
}

# Interrupts of the I/O queues with ids FIRST..LAST of controller 0.
irqs_of() { # FIRST LAST
	irq_counts | awk -v a="$1" -v b="$2" '{ q = $1; sub(/.*q/, "", q)
		if (q + 0 >= a && q + 0 <= b) s += $2 } END { print s + 0 }'
}

all_irqs() { irq_counts | awk '{ s += $2 } END { print s + 0 }'; }

# IRQ_POLL softirqs run so far, all CPUs: the kernel's count, not cnvme's.
irq_poll_softirqs() {
	awk '$1 == "IRQ_POLL:" { for (i = 2; i <= NF; i++) s += $i } END { print s + 0 }' \
		/proc/softirqs
}

# Interrupt mitigation at its most eager (irq_poll_threshold=1: every
# interrupt hands its queue to irq_poll; irq_poll_budget=4: a burst takes
# several rounds): every tag of every queue in use, data verified, and the
# kernel ran IRQ_POLL softirqs meanwhile.  A vector left disabled after an
# episode shows as a hang here or as a timeout (a failed log scan) in the
# queue-depth-1 I/O that follows.
mitigated_full_depth() { # DISK
	local before after
	before=$(irq_poll_softirqs)
	full_depth "$1" || return 1
	after=$(irq_poll_softirqs)
	echo "IRQ_POLL softirqs during the run: $((after - before))"
	((after > before)) || fail "no IRQ_POLL softirq ran: no interrupt handed its queue over"
}

# Polled I/O must complete without any interrupt at all.
polled_io() { # DISK
	local irq0 irq1
	irq0=$(all_irqs)
	fio_verify "$1" --hipri --rw=randwrite --bs=4k --iodepth=16 \
		--iodepth_batch_submit=8 --size=16m --offset=0 || return 1
	irq1=$(all_irqs)
	echo "interrupts during polled write+verify: $irq0 -> $irq1"
	((irq1 == irq0)) || { irq_counts; fail "$((irq1 - irq0)) interrupt(s) during polled I/O"; }
}

# The same through the generic node with io_uring passthrough (fio's
# io_uring_cmd, an IOPOLL ring): without uring_cmd_iopoll the ring's
# commands fail with EOPNOTSUPP; with it they go to the poll queue and
# complete without an interrupt.  fio identifies the namespace first, by
# ioctl on the admin queue: only the I/O queues' vectors count.
polled_passthrough() { # DISK
	local ng=/dev/ng${1#nvme} irq0 irq1 out=/tmp/fio-ng.txt
	[[ -c $ng ]] || fail "no generic node $ng" || return 1
	irq0=$(irqs_of 1 65535)
	fio --name=ng-polled --filename="$ng" --ioengine=io_uring_cmd --cmd_type=nvme \
		--hipri --rw=randwrite --bs=4k --iodepth=16 --iodepth_batch_submit=8 \
		--offset=32m --size=8m --verify=crc32c --verify_fatal=1 --do_verify=1 \
		--eta=never --group_reporting >"$out" 2>&1 ||
		{ tail -n 20 "$out"; fail "fio --hipri on $ng failed"; return 1; }
	irq1=$(irqs_of 1 65535)
	grep -E 'err=|READ:|WRITE:' "$out"
	grep -q 'READ:' "$out" || fail "fio did not verify" || return 1
	echo "I/O queue interrupts during polled passthrough write+verify: $irq0 -> $irq1"
	((irq1 == irq0)) || { irq_counts; fail "$((irq1 - irq0)) I/O queue interrupt(s) during polled passthrough"; }
}

# Queue ids follow the maps: default (writes) first, then the read map.
# Completions of writes must interrupt on the default queues' vectors,
# completions of reads on the read queues' vectors.
read_write_maps() { # DISK
	local nd nr w0 w1 r0 r1
	nd=$(hctx_of_type "$1" default | wc -l)
	nr=$(hctx_of_type "$1" read | wc -l)
	w0=$(irqs_of 1 "$nd")
	r0=$(irqs_of $((nd + 1)) $((nd + nr)))
	dd if=/dev/urandom of="/dev/$1" bs=64k count=256 seek=512 oflag=direct status=none ||
		fail "write failed" || return 1
	w1=$(irqs_of 1 "$nd")
	r1=$(irqs_of $((nd + 1)) $((nd + nr)))
	echo "writes: default-map interrupts $w0 -> $w1, read-map $r0 -> $r1"
	((w1 - w0 >= 200)) || fail "write completions did not come from the default map" || return 1
	((r1 == r0)) || fail "write completions came from the read map" || return 1
	dd if="/dev/$1" of=/dev/null bs=64k count=256 skip=512 iflag=direct status=none ||
		fail "read failed" || return 1
	w0=$(irqs_of 1 "$nd")
	r0=$(irqs_of $((nd + 1)) $((nd + nr)))
	echo "reads: default-map interrupts $w1 -> $w0, read-map $r1 -> $r0"
	((r0 - r1 >= 200)) || fail "read completions did not come from the read map" || return 1
	((w0 == w1)) || fail "read completions came from the default map"
}

# Closing a disk after writing makes udevd read it (through the read map,
# with interrupts) unless the disk is not watched.
mkdir -p /run/udev/rules.d
echo 'SUBSYSTEM=="block", KERNEL=="nvme*|cnvme*", OPTIONS+="nowatch"' \
	>/run/udev/rules.d/99-lab-nowatch.rules
udevadm control --reload

ktap_begin

check load_with_poll_and_write_queues drv_load poll_queues=1 write_queues=1
check_disks probe
P=${DISK[0]:-}
check three_maps maps_present "$P"
check polled_io_no_interrupts polled_io "$P"
check polled_passthrough_no_interrupts polled_passthrough "$P"
check reads_and_writes_use_their_maps read_write_maps "$P"
check unload_driver drv_unload
check unload_removes_nodes no_nodes_left

# The default load, traced by the device from its first command.
reload() {
	drv_unload || return 1
	drv_load "$@" || return 1
	wait_disks 30 || return 1
	P=${DISK[0]:-}
	echo "loaded with: ${*:-defaults}; disk $P"
}
check trace_doorbell_buffer dbbuf_trace_begin
check load_default drv_load
check_disks default
P=${DISK[0]:-}
check one_queue_per_cpu queue_per_cpu "$P"
check shadow_doorbells_used dbbuf_used "$P"
check every_tag_in_use_verify full_depth "$P"
check reload_io_queue_depth_2 reload io_queue_depth=2
check depth_2_verify tiny_queues "$P"
if [[ $DRIVER == cnvme ]]; then
	check reload_irq_poll_threshold_1 reload irq_poll_threshold=1 irq_poll_budget=4
	check irq_poll_every_tag_in_use_verify mitigated_full_depth "$P"
	check irq_poll_qd1_after_depth fio_verify "$P" --rw=randwrite --bs=4k \
		--iodepth=1 --offset=128m --size=2m
fi
check unload_driver_again drv_unload
check kernel_log_clean dmesg_clean
ktap_end
