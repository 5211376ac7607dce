#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# lab-timeout: 900
# lab-extras: nvme-cli-tests
#
# nvmecli: nvme-cli's own test suite (tests/ of the Debian source package
# of the nvme-cli in the guest, upstream v2.3), run as upstream documents
# it: nose2 from the source root, tests/config.json naming /dev/nvme0 and
# /dev/nvme0n1.  The ten tests that pass against the stock driver on QEMU
# 7.2 are test points; NVMECLI_ALL=1 also runs the other nine and reports
# their results as diagnostics (Documentation/testing.md says why they
# fail on both drivers).  Made for the default profile.

# The helpers below run through check "$@", which shellcheck cannot see.
# shellcheck disable=SC2317
set -euo pipefail
# shellcheck source=tests/guest/lib.sh
. "$LAB/guest/lib.sh"

NVMECLI=$LAB/extras/nvme-cli-tests
RUN=/tmp/nvmecli
PASSING=(compare dsm error_log flush fw_log id_ctrl id_ns read_write verify writezeros)
OTHERS=(attach_detach_ns copy create_max_ns format get_features get_lba_status
	lba_status_log smart_log writeuncor)

setup() {
	[[ -d $NVMECLI/tests ]] ||
		fail "no nvme-cli tests in the share (scripts/lab-extras.sh nvme-cli-tests)" || return 1
	rm -rf "$RUN"
	mkdir -p "$RUN"
	cp -a "$NVMECLI/tests" "$RUN/"
	printf '{ "controller": "/dev/nvme0", "ns1": "/dev/nvme0n1", "log_dir": "nvmetests/" }\n' \
		>"$RUN/tests/config.json"
	echo "nvme-cli tests from $(cat "$NVMECLI/version"), $(nvme version)"
}

nose2() { # TEST
	local rc=0
	(cd "$RUN" && PYTHONPATH=$NVMECLI/pylib timeout 600 python3 \
		"$NVMECLI/bin/nose2-3" --verbose --start-dir tests "nvme_$1_test") \
		>"$RUN/$1.log" 2>&1 || rc=$?
	tail -n 8 "$RUN/$1.log"
	return "$rc"
}

ktap_begin
check load_driver drv_load
check_disks probe
check setup setup
for t in "${PASSING[@]}"; do
	check "nvmecli_$t" nose2 "$t"
done
if [[ -n ${NVMECLI_ALL:-} ]]; then
	for t in "${OTHERS[@]}"; do
		if nose2 "$t" >/dev/null 2>&1; then r=passed; else r=failed; fi
		echo "# other: nvme_${t}_test $r: $(grep -E '^(FAIL|ERROR|AssertionError|OK|Ran)' "$RUN/$t.log" | tr '\n' ' ' | cut -c1-200)"
	done
fi
check unload_driver drv_unload
check kernel_log_clean dmesg_clean
ktap_end
