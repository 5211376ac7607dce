#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Run every (suite, profile) of tests/matrix that applies to $DRIVER, one
# guest boot each, one after the other (TCG on two cores: parallel boots
# only slow each other down).
#
#   DRIVER=cnvme|stock   driver under test (default cnvme)
#   KERNEL=debug         on the debug kernel (scripts/lab.sh; results in
#                        out/$DRIVER-debug/)
#   SUITES="a b"         only these suites (spaces or commas)
#   PROFILES="x y"       only these profiles
#   RUNS="s@p s@p"       only these (suite, profile) pairs, each of which
#                        must be a line of tests/matrix for $DRIVER
#   HOST_TESTS=0         leave out the host tests (tests/host/*.sh: the
#                        DKMS package, with one boot of its module; make
#                        bench's report on a fixture, no boot); they
#                        run first, for DRIVER=cnvme, when SUITES is empty
#                        or names "host"; a run without them says why
#
# Prints one progress line per boot (status, time, the nudges a silent
# guest needed, emulator flakes retried); the last line is always
# "N passed, N failed", counting KTAP test points over all boots plus one
# failure for each boot that crashed, hung or gave no complete result.
# The line before it sums up nudges and flakes.
# Exits non-zero on any failure.

set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DRIVER=${DRIVER:-cnvme}
export DRIVER
# Where scripts/lab.sh puts its results.
RESULTS=$DRIVER
[[ ${KERNEL:-debian} == debug ]] && RESULTS=$DRIVER-debug

# in_list WORD LIST: LIST empty means everything.  LIST splits on commas
# and any white space: a list continued over lines in a Makefile or a
# script carries tabs and newlines.
in_list() {
	local word

	[[ -z $2 ]] && return 0
	for word in ${2//,/ }; do
		[[ $word == "$1" ]] && return 0
	done
	return 1
}

runs=()
while read -r suite profile drivers kernels; do
	[[ -z $suite || $suite == \#* ]] && continue
	in_list "$DRIVER" "$drivers" || continue
	[[ $kernels == \#* ]] && kernels=
	in_list "${KERNEL:-debian}" "${kernels:-debian,debug}" || continue
	in_list "$suite" "${SUITES:-}" || continue
	in_list "$profile" "${PROFILES:-}" || continue
	in_list "$suite@$profile" "${RUNS:-}" || continue
	runs+=("$suite $profile")
done <"$ROOT/tests/matrix"

# A pair in RUNS that the matrix does not run for this driver is a typo or
# a stale list: say so rather than run less than asked.
for want in ${RUNS:+${RUNS//,/ }}; do
	found=0
	for run in "${runs[@]}"; do
		[[ ${run/ /@} == "$want" ]] && found=1
	done
	((found)) && continue
	echo "check: RUNS names $want, which tests/matrix does not run for DRIVER=$DRIVER KERNEL=${KERNEL:-debian}" >&2
	echo "0 passed, 1 failed"
	exit 1
done

# The host tests: selected like a suite named "host", counted like one.
host_tests=()
if [[ ${HOST_TESTS:-1} == 0 ]]; then
	host_why="HOST_TESTS=0"
elif [[ $DRIVER != cnvme ]]; then
	host_why="they test cnvme's packaging, DRIVER=$DRIVER"
elif [[ ${KERNEL:-debian} == debug ]]; then
	host_why="they test the package on Debian's kernel, KERNEL=debug"
elif ! in_list host "${SUITES:-}"; then
	host_why="SUITES='${SUITES:-}' does not name host"
else
	host_tests=("$ROOT"/tests/host/*.sh)
fi

total=${#runs[@]}
if ((total == 0 && ${#host_tests[@]} > 0)); then
	: # only the host tests
elif ((total == 0)); then
	echo "check: nothing in tests/matrix matches DRIVER=$DRIVER KERNEL=${KERNEL:-debian} SUITES='${SUITES:-}' PROFILES='${PROFILES:-}'" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

echo "check: ${host_tests:+host tests (one boot), then }$total boot(s), driver $DRIVER"
passed=0
failed=0
bad_boots=0
nudges=0
flakes=0
flaky_boots=()
recap=()
declare -A suite_secs=()
suite_order=()

# Host tests print KTAP-like lines and end with "N passed, N failed";
# their tool output is in log files they name.
bad_host=0
((${#host_tests[@]} > 0)) || echo "check: host tests left out: $host_why"
for t in "${host_tests[@]}"; do
	name=${t##*/}
	name=${name%.sh}
	printf 'host: %s ... ' "$name"
	t0=$SECONDS
	rc=0
	out=$("$t" 2>&1) || rc=$?
	p=0 f=1
	last=$(printf '%s\n' "$out" | tail -n 1)
	if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
		p=${BASH_REMATCH[1]} f=${BASH_REMATCH[2]}
		((rc == 0 || f > 0)) || f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	if ((rc == 0 && f == 0)); then
		printf 'ok %d s, %d passed\n' "$((SECONDS - t0))" "$p"
	else
		bad_host=$((bad_host + 1))
		printf 'fail %d s, %d passed, %d failed\n' "$((SECONDS - t0))" "$p" "$f"
		printf '%s\n' "$out" | grep -E '^(not ok|# )' | sed 's/^/    /'
		recap+=("host $name: fail" "$(printf '%s\n' "$out" | grep '^not ok' | sed 's/^/    /')")
	fi
done

i=0
for run in "${runs[@]}"; do
	read -r suite profile <<<"$run"
	i=$((i + 1))
	summary=$ROOT/out/$RESULTS/$suite@$profile/summary
	printf '[%d/%d] %s @ %s ... ' "$i" "$total" "$suite" "$profile"
	out=$("$ROOT/scripts/lab.sh" "$suite" "$profile" 2>&1) || true
	status=error p=0 f=1 secs=0 n=0 fl=0
	if [[ -f $summary ]]; then
		# status=... passed=... failed=... seconds=... nudges=... flakes=...
		read -r status p f secs n fl < <(sed 's/[a-z]*=//g' "$summary")
		n=${n:-0} fl=${fl:-0}
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	nudges=$((nudges + n))
	flakes=$((flakes + fl))
	[[ -n ${suite_secs[$suite]:-} ]] || suite_order+=("$suite")
	suite_secs[$suite]=$((${suite_secs[$suite]:-0} + secs))
	((fl == 0)) || flaky_boots+=("$suite@$profile")
	note=
	((fl == 0)) || note=", $fl flake(s)"
	printf '%s %d s, %d nudge(s)%s\n' "$status" "$secs" "$n" "$note"
	if [[ $status != ok ]]; then
		bad_boots=$((bad_boots + 1))
		# lab.sh already said which checks failed and, for a crash or
		# hang, showed the end of the console.
		printf '%s\n' "$out" | sed 's/^/    /'
		# CI keeps only the end of the output: say it again there.
		recap+=("$suite @ $profile: $status" "$(printf '%s\n' "$out" | tail -n 30 | sed 's/^/    /')")
	fi
done

if ((bad_boots + bad_host > 0)); then
	((bad_host == 0)) || echo "check: $bad_host host test(s) failed; logs under build/host/"
	((bad_boots == 0)) || echo "check: $bad_boots of $total boot(s) failed; logs under out/$RESULTS/"
	printf '%s\n' "${recap[@]}"
fi
if ((total > 0)); then
	line=
	for s in "${suite_order[@]}"; do
		line+=" $s ${suite_secs[$s]} s,"
	done
	echo "check: time per suite:${line%,}"
fi
echo "check: $nudges nudges in $total boots, $flakes emulator flake(s)${flaky_boots[*]:+ (${flaky_boots[*]})}"
echo "$passed passed, $failed failed"
((bad_boots == 0 && bad_host == 0 && failed == 0))
