#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Run every (suite, profile) of tests/matrix that applies to $DRIVER, one
# guest boot each, one after the other (TCG on two cores: parallel boots
# only slow each other down).
#
#   DRIVER=cnvme|stock   driver under test (default cnvme)
#   SUITES="a b"         only these suites (spaces or commas)
#   PROFILES="x y"       only these profiles
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

# in_list WORD LIST: LIST empty means everything.
in_list() {
	[[ -z $2 ]] && return 0
	[[ " ${2//,/ } " == *" $1 "* ]]
}

runs=()
while read -r suite profile drivers; do
	[[ -z $suite || $suite == \#* ]] && continue
	in_list "$DRIVER" "$drivers" || continue
	in_list "$suite" "${SUITES:-}" || continue
	in_list "$profile" "${PROFILES:-}" || continue
	runs+=("$suite $profile")
done <"$ROOT/tests/matrix"

total=${#runs[@]}
if ((total == 0)); then
	echo "check: nothing in tests/matrix matches DRIVER=$DRIVER SUITES='${SUITES:-}' PROFILES='${PROFILES:-}'" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

echo "check: $total boot(s), driver $DRIVER"
passed=0
failed=0
bad_boots=0
nudges=0
flakes=0
flaky_boots=()
recap=()
i=0
for run in "${runs[@]}"; do
	read -r suite profile <<<"$run"
	i=$((i + 1))
	summary=$ROOT/out/$DRIVER/$suite@$profile/summary
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

if ((bad_boots > 0)); then
	echo "check: $bad_boots of $total boot(s) failed; logs under out/$DRIVER/"
	printf '%s\n' "${recap[@]}"
fi
echo "check: $nudges nudges in $total boots, $flakes emulator flake(s)${flaky_boots[*]:+ (${flaky_boots[*]})}"
echo "$passed passed, $failed failed"
((bad_boots == 0 && failed == 0))
