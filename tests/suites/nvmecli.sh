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
# their results as diagnostics (Documentation/testing.rst says why they
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

# nose2 NAME TEST...: one nose2 run (starting nose2 costs half a minute
# under TCG), the verdicts in RUN/NAME.xml (JUnit), the output in
# RUN/NAME.log.
nose2() {
	local name=$1 t mods=()
	shift
	for t in "$@"; do
		mods+=("nvme_${t}_test")
	done
	(cd "$RUN" && PYTHONPATH=$NVMECLI/pylib timeout 1200 python3 \
		"$NVMECLI/bin/nose2-3" --verbose --plugin nose2.plugins.junitxml \
		--junit-xml --start-dir tests "${mods[@]}") >"$RUN/$name.log" 2>&1 || true
	mv "$RUN/nose2-junit.xml" "$RUN/$name.xml" 2>/dev/null ||
		fail "nose2 wrote no results; its output ends with: $(tail -n 3 "$RUN/$name.log")"
}

# verdict NAME TEST: passed or failed, with the failure message.
verdict() {
	python3 - "$RUN/$1.xml" "nvme_$2_test" <<-'PY'
	import sys
	import xml.etree.ElementTree as ET
	cases = [c for c in ET.parse(sys.argv[1]).iter("testcase")
	         if c.get("classname", "").startswith(sys.argv[2] + ".")]
	if not cases:
	    sys.exit("%s did not run" % sys.argv[2])
	bad = [e for c in cases for e in c if e.tag in ("failure", "error")]
	for e in bad:
	    print((e.get("message") or e.text or e.tag).strip().splitlines()[-1])
	print("%s: %d test(s), %s" % (sys.argv[2], len(cases),
	                               "failed" if bad else "passed"))
	sys.exit(1 if bad else 0)
	PY
}

ktap_begin
check load_driver drv_load
check_disks probe
check setup setup
check run_nose2 nose2 passing "${PASSING[@]}"
for t in "${PASSING[@]}"; do
	check "nvmecli_$t" verdict passing "$t"
done
if [[ -n ${NVMECLI_ALL:-} ]]; then
	if nose2 others "${OTHERS[@]}"; then
		for t in "${OTHERS[@]}"; do
			echo "# other: $(verdict others "$t" | tr '\n' ' ')"
		done
		echo "# output of the other tests:"
		sed 's/^/#   /' "$RUN/others.log"
	fi
fi
check unload_driver drv_unload
check kernel_log_clean dmesg_clean
ktap_end
