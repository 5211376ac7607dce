#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# lab-timeout: 420
#
# probe: controllers the basic suite does not cover.
#   nons  no namespace: the driver binds, no disk appears, unload is clean.
#   meta  nsid 1 plain, nsid 2 with metadata: nsid 1 works; cnvme gives
#         nsid 2 no disk and says so in exactly one warning line (stock
#         supports metadata formats, so only nsid 1 is checked there).
#   oneq  one I/O queue, one vector: two jobs on two CPUs share it.

# The helpers below run through check "$@", which shellcheck cannot see.
# shellcheck disable=SC2317
set -euo pipefail
# shellcheck source=tests/guest/lib.sh
. "$LAB/guest/lib.sh"

no_disk() {
	local d
	d=$(disk_list)
	[[ -z $d ]] || fail "unexpected disk(s): $(echo "$d" | tr '\n' ';')"
}

# No disk at all for the metadata namespace.
no_disk_for_nsid() {
	local d
	d=$(disk_list | awk -v n="$1" '$2 == n')
	[[ -z $d ]] || fail "nsid $1 got a disk: $d"
}

# Exactly one KERN_WARNING line from cnvme that names the namespace.
one_warning_for_nsid() {
	local lines n
	lines=$(dmesg_since | grep '^<4>' | grep -i 'cnvme' |
		grep -Ei "(nsid|namespace)[ :=#]*$1([^0-9]|$)" || true)
	n=0
	[[ -z $lines ]] || n=$(echo "$lines" | wc -l)
	[[ -z $lines ]] || echo "$lines"
	((n == 1)) || fail "expected 1 cnvme warning naming nsid $1, found $n"
}

hw_queues() {
	local n
	[[ -d /sys/block/$1/mq ]] || fail "no /sys/block/$1/mq" || return 1
	n=$(find "/sys/block/$1/mq" -mindepth 1 -maxdepth 1 -type d | wc -l)
	echo "$1 has $n hardware queue(s)"
	((n == $2)) || fail "expected $2 hardware queue(s), found $n"
}

ktap_begin
check load_driver drv_load

case $PROFILE in
nons)
	check no_disk no_disk
	;;
meta)
	check nsid1_disk wait_disks 30
	check fio_nsid1 fio_verify "${DISK[0]:-}" --rw=randwrite --bsrange=512-128k \
		--mem_align=512 --iodepth=8 --size=16m
	if [[ $DRIVER == cnvme ]]; then
		check "nsid${META_NSID}_no_disk" no_disk_for_nsid "$META_NSID"
		check "nsid${META_NSID}_one_warning" one_warning_for_nsid "$META_NSID"
	fi
	;;
oneq)
	check_disks probe
	check one_hw_queue hw_queues "${DISK[0]:-none}" "${EXPECT_HWQ:-1}"
	check fio_two_jobs_one_queue fio_verify "${DISK[0]:-}" --rw=randwrite --bs=4k \
		--iodepth=16 --numjobs=2 --cpus_allowed=0-1 --cpus_allowed_policy=split \
		--offset_increment=16m --size=8m
	;;
*)
	check known_profile fail "probe has no checks for profile $PROFILE"
	;;
esac

check unload_driver drv_unload
check unload_removes_nodes no_nodes_left
check kernel_log_clean dmesg_clean
ktap_end
