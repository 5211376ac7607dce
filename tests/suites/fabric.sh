#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# lab-timeout: 300
#
# fabric (default; cnvme and stock): the driver's disk served over NVMe
# over Fabrics, target and host in one guest over loopback TCP.
#   1. The backend: cnvme with private_names=1 (its disk is cnvme<C>n1, so
#      nvme-core can load next to it) or the stock driver (nvme<C>n1).
#   2. The kernel's target: nvmet + nvmet-tcp, configured through configfs,
#      export the backend disk as namespace 1 of subsystem $NQN on
#      127.0.0.1:4420, to one host NQN only.
#   3. The kernel's host: nvme-tcp; `nvme discover` lists the subsystem,
#      `nvme connect` makes a disk of it, found through sysfs by its
#      subsystem NQN (never by name).  Data written through either disk
#      reads back through the other; fio write+verify passes.
#   4. Two resets of the backend controller (nvme reset on its character
#      device, then its sysfs reset_controller) while fio writes and
#      verifies through the fabric: fio ends with status 0, the fabric
#      controller stays live, and the kernel log holds the backend's reset
#      lines (cnvme: one "resetting controller" each; stock: one, for the
#      ioctl) and
#      no other recovery and no nvme/nvmet warning or error.  Then an ext4
#      round trip through the fabric (mkfs, files, umount, mount, sha256).
#   5. nvme disconnect removes the fabric controller and disk, the configfs
#      tree is removed, nvme_tcp, nvmet_tcp, nvmet and nvme_fabrics (and,
#      behind cnvme, nvme_core) unload; the backend disk holds the ext4
#      and its files; the backend driver unloads and leaves no disk.
# The whole-boot log scan of scripts/lab.sh then proves that nothing else
# appeared anywhere in the kernel log.

# The helpers below run through check "$@", which shellcheck cannot see.
# shellcheck disable=SC2317
set -euo pipefail
# shellcheck source=tests/guest/lib.sh
. "$LAB/guest/lib.sh"

# The backend disk is found here by its NQN, not by lib.sh's nvme<C>n<N>
# matching (cnvme's private names are cnvme<C>n<N>).
EXPECTED=()

NQN=nqn.2026-11.org.cnvme.lab:fabric
MODEL=cnvme-lab-fabric
HOSTNQN=nqn.2014-08.org.nvmexpress:uuid:6c616200-0000-4000-8000-000000000012
HOSTID=6c616200-0000-4000-8000-000000000012
ADDR=127.0.0.1
SVC=4420
NVMET=/sys/kernel/config/nvmet
SUBSYS=$NVMET/subsystems/$NQN
PORT=$NVMET/ports/1

if [[ $DRIVER == cnvme ]]; then CLASS=cnvme; else CLASS=nvme; fi
PCI=$(first_nvme_pci)
BCTRL=	# the backend controller: cnvme0 or nvme0
BDISK=	# its disk of nsid 1: cnvme0n1 or nvme0n1
FDISK=	# the fabric disk

# disk_by_nqn NQN: the block devices (with a node in /dev) whose parent,
# a controller or a multipath subsystem, has that subsystem NQN.
disk_by_nqn() {
	local d name
	for d in /sys/block/*; do
		name=${d##*/}
		[[ -r $d/device/subsysnqn && -b /dev/$name ]] || continue
		# A multipath head's hidden per-path disks have no node.
		[[ $(<"$d/device/subsysnqn") == "$1" ]] && echo "$name"
	done
	return 0
}

# The fabric controller: nvme-core's controller of $NQN over tcp.
fabric_ctrl() {
	local c
	for c in /sys/class/nvme/nvme*; do
		[[ -r $c/subsysnqn && -r $c/transport ]] || continue
		[[ $(<"$c/subsysnqn") == "$NQN" && $(<"$c/transport") == tcp ]] &&
			{ echo "${c##*/}"; return 0; }
	done
	return 1
}

backend_load() {
	if [[ $DRIVER == cnvme ]]; then
		drv_load private_names=1 || return 1
	else
		drv_load || return 1
	fi
	local c nqn
	c=$(compgen -G "$PCI/$CLASS/${CLASS}[0-9]*" | head -n 1) ||
		fail "no $CLASS controller under $PCI" || return 1
	BCTRL=${c##*/}
	[[ -c /dev/$BCTRL ]] || fail "no character device /dev/$BCTRL" || return 1
	nqn=$(<"$c/subsysnqn")
	poll 30 test -n "$(disk_by_nqn "$nqn")" || fail "no disk of $nqn" || return 1
	udevadm settle --timeout=60 || true
	BDISK=$(disk_by_nqn "$nqn")
	[[ $BDISK == "$BCTRL"n1 && $(<"/sys/block/$BDISK/nsid") == 1 ]] ||
		fail "the disk of $nqn is '$BDISK', not ${BCTRL}n1" || return 1
	echo "backend: controller /dev/$BCTRL ($nqn), disk /dev/$BDISK"
}

# The NVMe-oF target and host; the host pulls in nvme-fabrics and
# nvme-core, which must come up next to the backend.
fabric_modules() {
	modprobe -a nvmet nvmet_tcp nvme_tcp || fail "modprobe nvmet nvmet_tcp nvme_tcp failed" ||
		return 1
	local m
	for m in configfs nvmet nvmet_tcp nvme_tcp nvme_fabrics nvme_core; do
		[[ -e /sys/module/$m ]] || fail "module $m not loaded" || return 1
	done
	[[ -d $NVMET ]] || fail "no $NVMET" || return 1
	[[ -e /sys/module/$(drv_module) && -c /dev/$BCTRL ]] ||
		fail "the backend went away when nvme-core loaded"
	echo "loaded: $(lsmod | awk 'NR > 1 && /nvme|nvmet|cnvme/ { printf "%s ", $1 }')"
}

# The guest boots without a network: bring lo up, which also gives it
# 127.0.0.1 (SIOCGIFFLAGS/SIOCSIFFLAGS; the image has no ip(8)).
loopback_up() {
	python3 - <<'EOF' || fail "cannot bring lo up" || return 1
import fcntl, socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
flags = struct.unpack("16sH", fcntl.ioctl(s, 0x8913, struct.pack("16sH22x", b"lo", 0))[:18])[1]
fcntl.ioctl(s, 0x8914, struct.pack("16sH22x", b"lo", flags | 1))
EOF
	python3 -c "import socket; s = socket.socket(); s.bind(('$ADDR', 0))" ||
		fail "$ADDR is not usable"
}

export_disk() {
	mkdir "$SUBSYS" || fail "mkdir $SUBSYS failed" || return 1
	echo 0 >"$SUBSYS/attr_allow_any_host"
	echo "$MODEL" >"$SUBSYS/attr_model"
	mkdir "$NVMET/hosts/$HOSTNQN"
	ln -s "$NVMET/hosts/$HOSTNQN" "$SUBSYS/allowed_hosts/$HOSTNQN"
	mkdir "$SUBSYS/namespaces/1"
	echo "/dev/$BDISK" >"$SUBSYS/namespaces/1/device_path"
	echo 1 >"$SUBSYS/namespaces/1/enable" ||
		fail "enabling namespace 1 on /dev/$BDISK failed" || return 1
	mkdir "$PORT"
	echo tcp >"$PORT/addr_trtype"
	echo ipv4 >"$PORT/addr_adrfam"
	echo "$ADDR" >"$PORT/addr_traddr"
	echo "$SVC" >"$PORT/addr_trsvcid"
	ln -s "$SUBSYS" "$PORT/subsystems/$NQN" ||
		fail "linking the subsystem to port 1 failed" || return 1
	echo "exported /dev/$BDISK as $NQN nsid 1 on tcp $ADDR:$SVC to $HOSTNQN"
	dmesg_since | grep -E 'nvmet' || true
	dmesg_since | grep -qE "nvmet_tcp: enabling port 1 \($ADDR:$SVC\)" ||
		fail "nvmet_tcp did not log enabling port 1"
}

discover() {
	local out
	out=$(nvme discover -t tcp -a "$ADDR" -s "$SVC" --hostnqn="$HOSTNQN" --hostid="$HOSTID" 2>&1) ||
		{ echo "$out"; fail "nvme discover failed"; return 1; }
	echo "$out"
	# One entry with our subsystem at our address (fields in any order).
	awk -v nqn="$NQN" -v addr="$ADDR" -v svc="$SVC" '
		function judge() { if (e["subnqn:"] == nqn && e["traddr:"] == addr &&
			e["trsvcid:"] == svc && e["trtype:"] == "tcp") found = 1; delete e }
		/^=+Discovery Log Entry/ { judge() } { e[$1] = $2 }
		END { judge(); exit !found }' <<<"$out" ||
		fail "the discovery log has no entry for $NQN at tcp $ADDR:$SVC"
}

fabric_disk_found() {
	FDISK=$(disk_by_nqn "$NQN")
	[[ -n $FDISK && $FDISK != *" "* ]]
}

connect() {
	local c model
	nvme connect -t tcp -a "$ADDR" -s "$SVC" -n "$NQN" --hostnqn="$HOSTNQN" --hostid="$HOSTID" ||
		fail "nvme connect failed" || return 1
	poll 30 fabric_disk_found || fail "no disk of $NQN within 30 s: $(disk_by_nqn "$NQN")" ||
		return 1
	udevadm settle --timeout=60 || true
	c=$(fabric_ctrl) || fail "no tcp controller of $NQN in /sys/class/nvme" || return 1
	model=$(<"/sys/class/nvme/$c/model")
	model=${model%"${model##*[! ]}"}
	echo "fabric: controller $c ($(<"/sys/class/nvme/$c/transport")" \
		"$(<"/sys/class/nvme/$c/address")), model '$model', disk /dev/$FDISK" \
		"($(readlink -f "/sys/block/$FDISK/device"))"
	[[ $FDISK != "$BDISK" ]] || fail "the fabric disk is the backend disk" || return 1
	[[ $model == "$MODEL" ]] || fail "model '$model', not $MODEL" || return 1
	[[ $(<"/sys/class/nvme/$c/state") == live ]] || fail "fabric controller not live" || return 1
	[[ $(<"/sys/block/$FDISK/size") == "$(<"/sys/block/$BDISK/size")" ]] ||
		fail "sizes differ: $FDISK $(<"/sys/block/$FDISK/size"), $BDISK $(<"/sys/block/$BDISK/size") sectors" ||
		return 1
	[[ $(<"/sys/block/$FDISK/queue/logical_block_size") == \
		"$(<"/sys/block/$BDISK/queue/logical_block_size")" ]] ||
		fail "logical block sizes differ"
}

# What goes in through the fabric is on the backend disk, and back.
same_data() {
	local sum=/tmp/fabric-sum
	raw_write "$FDISK" $((300 << 20)) 4 "$sum" && raw_verify "$BDISK" $((300 << 20)) 4 "$sum" &&
		raw_write "$BDISK" $((400 << 20)) 4 "$sum" && raw_verify "$FDISK" $((400 << 20)) 4 "$sum"
}

ext4_roundtrip() {
	local dev=/dev/$FDISK i
	[[ -b $dev ]] || fail "no block device $dev" || return 1
	mkfs.ext4 -q -F "$dev" || fail "mkfs.ext4 $dev failed" || return 1
	mount "$dev" /mnt || fail "mount $dev failed" || return 1
	for i in 1 2 3 4; do
		head -c $((i * 2))M /dev/urandom >"/mnt/file$i"
	done
	mkdir /mnt/dir && cp /mnt/file2 /mnt/dir/copy
	(cd /mnt && find . -type f ! -path './lost+found/*' | sort | xargs sha256sum) >/tmp/fabric-sums
	umount /mnt || fail "umount failed" || return 1
	mount "$dev" /mnt || fail "second mount failed" || return 1
	(cd /mnt && sha256sum -c /tmp/fabric-sums) || { umount /mnt; fail "files differ after remount"; return 1; }
	umount /mnt || fail "second umount failed" || return 1
	e2fsck -fn "$dev" || fail "e2fsck found errors on $dev"
}

# The backend's reset, as a user asks for it: `nvme reset` on the
# character device, else the class device's reset_controller.
reset_backend() { # nvme|sysfs
	case $1 in
	nvme) nvme reset "/dev/$BCTRL" || fail "nvme reset /dev/$BCTRL failed" ;;
	sysfs) echo 1 >"/sys/class/$CLASS/$BCTRL/reset_controller" ||
		fail "reset_controller of $BCTRL failed" ;;
	esac || return 1
	poll 30 grep -qx live "/sys/class/$CLASS/$BCTRL/state" ||
		fail "$BCTRL is $(<"/sys/class/$CLASS/$BCTRL/state") 30 s after the reset"
}

ios_beyond() { (($(disk_ios "$1") > $2)); } # DISK COUNT

# fio write+verify through the fabric with two backend resets in the
# write phase.  Each reset must find fio running and the backend disk's
# I/O count moving before it (only nvmet uses the backend; nvme-core's
# multipath head disk keeps no I/O statistics), so it lands in fabric I/O.
reset_under_io() {
	local pid rc=0 out=/tmp/fabric-fio.out how n0
	fio_verify "$FDISK" --rw=randwrite --bsrange=4k-128k --iodepth=16 --size=64m \
		>"$out" 2>&1 &
	pid=$!
	for how in nvme sysfs; do
		n0=$(disk_ios "$BDISK")
		if ! poll 30 ios_beyond "$BDISK" $((n0 + 50)); then
			echo "no fabric I/O before the $how reset"
			rc=1
			break
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "fio ended before the $how reset"
			rc=1
			break
		fi
		reset_backend "$how" || { rc=1; break; }
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "fio ended before the $how reset completed"
			rc=1
			break
		fi
		echo "$how reset of $BCTRL done during fabric I/O ($(disk_ios "$BDISK") backend I/Os so far)"
	done
	wait "$pid" || { rc=1; echo "fio through the fabric failed:"; }
	cat "$out"
	((rc == 0)) || fail "reset under fabric I/O failed" || return 1
	[[ $(<"/sys/class/nvme/$(fabric_ctrl)/state") == live ]] || fail "fabric controller not live"
}

# Warnings and errors of the NVMe host, the target and the block layer in
# the window: none but the backend's reset lines (the recovery patterns of
# lib.sh are checked by dmesg_clean as well, with the reset lines counted).
fabric_log_quiet() {
	local errs
	errs=$(dmesg_since | grep -E '^<[0-4]>' | grep -Ei 'nvme|nvmet|blk|I/O' |
		grep -vE 'cnvme: (loading out-of-tree module|module verification failed)' |
		grep -vE "$RESET_LOG" || true)
	[[ -z $errs ]] || { echo "$errs"; fail "warnings or errors from the NVMe host, target or block layer"; }
}

disconnect() {
	local out
	out=$(nvme disconnect -n "$NQN" 2>&1) || { echo "$out"; fail "nvme disconnect failed"; return 1; }
	echo "$out"
	grep -q "disconnected 1 controller" <<<"$out" || fail "nvme disconnect did not disconnect 1 controller" ||
		return 1
	poll 30 test -z "$(disk_by_nqn "$NQN")" || fail "fabric disk still there: $(disk_by_nqn "$NQN")" ||
		return 1
	! fabric_ctrl >/dev/null || fail "fabric controller $(fabric_ctrl) still there"
}

unexport() {
	rm "$PORT/subsystems/$NQN" && rmdir "$PORT" &&
		rm "$SUBSYS/allowed_hosts/$HOSTNQN" &&
		echo 0 >"$SUBSYS/namespaces/1/enable" && rmdir "$SUBSYS/namespaces/1" &&
		rmdir "$SUBSYS" && rmdir "$NVMET/hosts/$HOSTNQN" ||
		fail "removing the configfs tree failed" || return 1
	local left
	left=$(find "$NVMET/subsystems" "$NVMET/ports" "$NVMET/hosts" -mindepth 1 -maxdepth 1)
	[[ -z $left ]] || fail "left in configfs: $left"
}

fabric_unload() {
	local m
	modprobe -r nvme_tcp nvmet_tcp nvmet nvme_fabrics ||
		fail "modprobe -r nvme_tcp nvmet_tcp nvmet nvme_fabrics failed" || return 1
	for m in nvme_tcp nvmet_tcp nvmet nvme_fabrics; do
		[[ ! -e /sys/module/$m ]] || fail "module $m still loaded" || return 1
	done
	# With cnvme as the backend nvme-core has no user left.
	if [[ $DRIVER == cnvme ]]; then
		modprobe -r nvme_core || fail "modprobe -r nvme_core failed" || return 1
		[[ ! -e /sys/module/nvme_core ]] || fail "nvme_core still loaded"
	fi
}

# The ext4 written through the fabric is on the backend disk, intact,
# after the fabric is gone.
backend_intact() {
	[[ $(<"/sys/class/$CLASS/$BCTRL/state") == live && -b /dev/$BDISK ]] ||
		fail "backend $BCTRL/$BDISK not live after the fabric left" || return 1
	e2fsck -fn "/dev/$BDISK" || fail "e2fsck of the fabric's ext4 on /dev/$BDISK failed" ||
		return 1
	mount -o ro "/dev/$BDISK" /mnt || fail "mount /dev/$BDISK failed" || return 1
	(cd /mnt && sha256sum -c /tmp/fabric-sums) || { umount /mnt; fail "files differ on /dev/$BDISK"; return 1; }
	umount /mnt || fail "umount /dev/$BDISK failed"
}

nothing_left() {
	udevadm settle --timeout=60 || true
	local left
	left=$({ compgen -G '/dev/*nvme*' || true; compgen -G '/sys/block/*nvme*' || true; } |
		tr '\n' ' ')
	[[ -z $left ]] || fail "left behind: $left"
}

ktap_begin
check backend_load backend_load
check fabric_modules_load_next_to_backend fabric_modules
check loopback_up loopback_up
check configfs_export export_disk
check nvme_discover_lists_subsystem discover
check nvme_connect_tcp connect
check fabric_and_backend_same_data same_data
check fabric_fio_write_verify fio_verify "$FDISK" --rw=randwrite --bsrange=512-256k \
	--mem_align=512 --iodepth=16 --size=32m
# The backend's own account of the resets, and nothing else: cnvme logs
# each reset, stock only the one asked for through the ioctl.
if [[ $DRIVER == cnvme ]]; then
	RESET_LOG="cnvme ${PCI##*/}: resetting controller\$"
	expect_log "$RESET_LOG" 2
else
	RESET_LOG="nvme $BCTRL: resetting controller\$"
	expect_log "$RESET_LOG" 1
fi
check backend_reset_under_fabric_io reset_under_io
check fabric_ext4_roundtrip ext4_roundtrip
check fabric_log_quiet fabric_log_quiet
check nvme_disconnect disconnect
check configfs_unexport unexport
check fabric_modules_unload fabric_unload
check backend_intact backend_intact
check backend_unload drv_unload
check nothing_left nothing_left
check kernel_log_clean dmesg_clean
ktap_end
