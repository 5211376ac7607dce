#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# lab-timeout: 200
#
# probe: controllers the basic suite does not cover.
#   nons  no namespace: the driver binds, no disk appears, unload is clean.
#         cnvme again with fault_injection=1: a completion the device posts
#         on an I/O queue no request has used (inject/stray) is ignored
#         with one line, and the controller stays live (only cnvme can
#         make the device send it).
#   meta  nsid 1 plain, nsid 2 with metadata: nsid 1 works; cnvme gives
#         nsid 2 no disk and says so in exactly one warning line (stock
#         supports metadata formats, so only nsid 1 is checked there).
#   zoned nsid 1 plain, nsid 2 zoned: nsid 1 works; cnvme gives nsid 2 no
#         disk and says so in exactly one warning line; stock makes it a
#         host-managed zoned disk (which shows the namespace is zoned).
#   oneq  one I/O queue, one vector: two jobs on two CPUs share it.
#   ids   (cnvme) a namespace reporting a UUID and an EUI-64: uuid, eui
#         and wwid in sysfs, the udev link nvme-uuid.<UUID>.
#   nsmgmt (cnvme) two controllers of one subsystem: one nvme-subsys links
#         both; attaching a namespace with nvme-cli through one controller
#         rescans that one (the command's effects say so), the other sees
#         it through its Namespace Attribute Changed event, keeps it across
#         nvme ns-rescan and loses it after rescan_controller.

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

# The stock driver's disk for a zoned namespace is host managed.
zoned_disk_for_nsid() {
	local d
	d=$(disk_list | awk -v n="$1" '$2 == n { print $1 }')
	[[ -n $d ]] || fail "nsid $1 has no disk" || return 1
	echo "$d: zoned $(<"/sys/block/$d/queue/zoned")"
	[[ $(<"/sys/block/$d/queue/zoned") == host-managed ]] || fail "$d is not host-managed zoned"
}

hw_queues() {
	local n
	[[ -d /sys/block/$1/mq ]] || fail "no /sys/block/$1/mq" || return 1
	n=$(find "/sys/block/$1/mq" -mindepth 1 -maxdepth 1 -type d | wc -l)
	echo "$1 has $n hardware queue(s)"
	((n == $2)) || fail "expected $2 hardware queue(s), found $n"
}

ns_ids() { # DISK
	local d=/sys/block/$1 f
	for f in wwid uuid nguid eui; do
		echo "$f: $(cat "$d/$f" 2>/dev/null || echo '(none)')"
	done
	[[ $(<"$d/uuid") == "$NS_UUID" ]] || fail "uuid is not $NS_UUID" || return 1
	[[ $(<"$d/eui") == "$NS_EUI64" ]] || fail "eui is not $NS_EUI64" || return 1
	[[ $(<"$d/wwid") == "uuid.$NS_UUID" ]] || fail "wwid is not uuid.$NS_UUID" || return 1
	[[ ! -e $d/nguid ]] || fail "nguid shown though not reported" || return 1
	nvme ns-descs "/dev/$1" | tee /tmp/descs
	grep -qi "uuid *: *$NS_UUID" /tmp/descs || fail "the controller reports another UUID"
}

by_id_uuid() { # DISK
	udevadm settle --timeout=60 || true
	[[ $(readlink -f "/dev/disk/by-id/nvme-uuid.$NS_UUID") == "/dev/$1" ]] ||
		fail "no /dev/disk/by-id/nvme-uuid.$NS_UUID -> $1"
}

# The disk of nsid 2 under controller CTRL, if any.
ns2_of() { compgen -G "/sys/class/nvme/$1/$1n2" >/dev/null; }
cntlid() { cat "/sys/class/nvme/$1/cntlid"; }

# Exactly one subsystem, linking both controllers.  Its number is that of
# the controller that registered it first, which asynchronous probing
# (both drivers) does not fix: 0 or 1.
one_subsystem() {
	local -a subs
	local d
	mapfile -t subs < <(compgen -G '/sys/class/nvme-subsystem/nvme-subsys*')
	((${#subs[@]} == 1)) || fail "${#subs[@]} subsystems: ${subs[*]}" || return 1
	d=${subs[0]}
	ls -l "$d/"
	[[ -L $d/nvme0 && -L $d/nvme1 ]] || fail "${d##*/} does not link both controllers" || return 1
	[[ $(<"$d/subsysnqn") == "$SUBNQN" ]] || fail "subsysnqn is $(<"$d/subsysnqn"), not $SUBNQN" || return 1
	nvme list-subsys | tee /tmp/subsys
	[[ $(grep -c ' +- nvme[01] pcie .* live' /tmp/subsys) == 2 ]] || fail "list-subsys does not show two live paths"
}

attach_self() {
	nvme attach-ns /dev/nvme0 -n 2 -c "$(cntlid nvme0)" || fail "attach-ns failed" || return 1
	poll 30 ns2_of nvme0 || fail "nvme0n2 did not appear" || return 1
	if ns2_of nvme1; then
		fail "nvme1n2 appeared without a rescan"
		return 1
	fi
	nvme list
}

# The other controller learns of it from its Namespace Attribute Changed
# event alone (aen.sh tests that in depth); a rescan then changes nothing.
attach_other() {
	nvme attach-ns /dev/nvme0 -n 2 -c "$(cntlid nvme1)" || fail "attach-ns failed" || return 1
	poll 30 ns2_of nvme1 || fail "nvme1n2 did not appear within 30 s of the attachment" || return 1
	nvme ns-rescan /dev/nvme1 || fail "ns-rescan failed" || return 1
	ns2_of nvme1 || fail "nvme1n2 went away on ns-rescan"
}

detach_other() {
	nvme detach-ns /dev/nvme0 -n 2 -c "$(cntlid nvme1)" || fail "detach-ns failed" || return 1
	echo 1 >/sys/class/nvme/nvme1/rescan_controller
	poll 30 eval '! ns2_of nvme1' || fail "nvme1n2 still there after rescan_controller" || return 1
	ns2_of nvme0 || fail "nvme0n2 went away too"
}

# A stray completion on I/O queue 1 before any namespace exists: the
# queue has no tags yet, so the driver must not look the command id up.
stray_before_namespaces() {
	local inj h
	inj=/sys/kernel/debug/cnvme/$(basename "$(first_nvme_pci)")/inject
	[[ -d $inj ]] || fail "no $inj" || return 1
	echo "1 1" >"$inj/stray" || fail "cannot arm stray" || return 1
	# The health check sends it within its period (250 ms).
	poll 10 eval "dmesg_since | grep -q 'qid 1: completion for unknown or stale command id 0xffff ignored'" ||
		fail "no stray completion noticed within 10 s" || return 1
	h=$(awk '$1 == "stray" { print $2, $3 }' "$inj/hits")
	[[ $h == "0 1" ]] || fail "stray left/fired '$h', expected '0 1'" || return 1
	h=$(ctrl_state) || return 1
	[[ $h == live ]] || fail "controller state '$h' after the stray completion, not 'live'"
}

detach_self() {
	nvme detach-ns /dev/nvme0 -n 2 -c "$(cntlid nvme0)" || fail "detach-ns failed" || return 1
	poll 30 eval '! ns2_of nvme0' || fail "nvme0n2 still there"
}

ktap_begin
check load_driver drv_load

case $PROFILE in
nons)
	check no_disk no_disk
	if [[ $DRIVER == cnvme ]]; then
		check kernel_log_clean_plain dmesg_clean
		check unload_plain drv_unload
		dmesg_mark
		expect_log 'inject: qid 1: sent a command with id 0xffff' 1
		expect_log 'qid 1: completion for unknown or stale command id 0xffff ignored' 1
		check load_fault_injection drv_load fault_injection=1
		check stray_completion_ignored stray_before_namespaces
	fi
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
zoned)
	check nsid1_disk wait_disks 30
	check fio_nsid1 fio_verify "${DISK[0]:-}" --rw=randwrite --bsrange=512-128k \
		--mem_align=512 --iodepth=8 --size=16m
	if [[ $DRIVER == cnvme ]]; then
		check "nsid${ZONED_NSID}_no_disk" no_disk_for_nsid "$ZONED_NSID"
		check "nsid${ZONED_NSID}_one_warning" one_warning_for_nsid "$ZONED_NSID"
	else
		check "nsid${ZONED_NSID}_zoned_disk" poll 30 zoned_disk_for_nsid "$ZONED_NSID"
	fi
	;;
oneq)
	check_disks probe
	check one_hw_queue hw_queues "${DISK[0]:-none}" "${EXPECT_HWQ:-1}"
	check fio_two_jobs_one_queue fio_verify "${DISK[0]:-}" --rw=randwrite --bs=4k \
		--iodepth=16 --numjobs=2 --cpus_allowed=0-1 --cpus_allowed_policy=split \
		--offset_increment=16m --size=8m
	;;
ids)
	check_disks probe
	check ns_identifiers ns_ids "${DISK[0]:-none}"
	check udev_by_uuid by_id_uuid "${DISK[0]:-none}"
	;;
nsmgmt)
	check_disks probe
	check one_subsystem_two_ctrls one_subsystem
	check attach_rescans_own_ctrl attach_self
	check event_adds_other attach_other
	check io_new_namespace fio_verify nvme1n2 --rw=randwrite --bs=4k --iodepth=8 --size=8m
	check rescan_removes detach_other
	check detach_rescans_own_ctrl detach_self
	;;
*)
	check known_profile fail "probe has no checks for profile $PROFILE"
	;;
esac

check unload_driver drv_unload
check unload_removes_nodes no_nodes_left
check kernel_log_clean dmesg_clean
ktap_end
