#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# lab-timeout: 200
#
# demo (make run): load the driver, show what it found, put ext4 on the
# first disk, write and read back a file, run fio for 10 seconds, unload.
# What make run's closing report needs goes to results/report/ (nvme
# list, the round trip's line, fio's JSON); lab.sh copies it to out/.

# The helpers below run through check "$@", which shellcheck cannot see.
# shellcheck disable=SC2317
set -euo pipefail
# shellcheck source=tests/guest/lib.sh
. "$LAB/guest/lib.sh"

show() {
	echo "--- $*"
	"$@" || true
}

file_roundtrip() {
	local dev=/dev/$1 want got
	[[ -b $dev ]] || fail "no block device $dev" || return 1
	mkfs.ext4 -q -F "$dev" || fail "mkfs.ext4 $dev failed" || return 1
	mount "$dev" /mnt || fail "mount failed" || return 1
	head -c 16M /dev/urandom >/mnt/demo.bin
	want=$(sha256sum </mnt/demo.bin | cut -d' ' -f1)
	umount /mnt && mount "$dev" /mnt || fail "remount failed" || return 1
	got=$(sha256sum </mnt/demo.bin | cut -d' ' -f1)
	df -h /mnt
	umount /mnt
	echo "wrote $want"
	echo "read  $got"
	[[ $want == "$got" ]] || fail "the file changed on disk"
	echo "ext4 on /dev/$1: 16 MiB file written, remounted, read back, sha256 equal" \
		>"$REPORT/roundtrip.txt"
}

fio_10s() {
	[[ -b /dev/$1 ]] || fail "no block device /dev/$1" || return 1
	fio --name=demo --filename="/dev/$1" --direct=1 --ioengine=io_uring \
		--rw=randrw --bs=4k --iodepth=16 --numjobs=2 --group_reporting \
		--size=256m --time_based --runtime=10 --eta=never \
		--output-format=normal,json --output="$REPORT/fio.out" || return 1
	# fio writes the JSON object ("{" to "}" at the start of lines) and
	# the normal text: the text for this log, the JSON for the host.
	awk -v json="$REPORT/fio.json" '/^\{/ { in_json = 1 }
		in_json { print > json; if (/^\}/) in_json = 0; next } { print }' \
		"$REPORT/fio.out"
	rm -f "$REPORT/fio.out"
}

REPORT=$RESULTS/report
mkdir -p "$REPORT"
ktap_begin
check load_driver drv_load
check_disks demo
show nvme list
nvme list >"$REPORT/nvme-list.txt" 2>&1 || true
show lsblk -o NAME,SIZE,LOG-SEC,PHY-SEC,MODEL,SERIAL
check ext4_file_roundtrip file_roundtrip "${DISK[0]:-}"
check fio_10_seconds fio_10s "${DISK[0]:-}"
echo "# found: $(disk_list | awk '{ printf "%s (nsid %s, %d MiB, %s B blocks) ", $1, $2, $3 / 1048576, $4 }')"
check unload_driver drv_unload
check unload_removes_nodes no_nodes_left
check kernel_log_clean dmesg_clean
ktap_end
