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
# Prints one progress line per boot; the last line is always
# "N passed, N failed", counting KTAP test points over all boots plus one
# failure for each boot that crashed, hung or gave no complete result.
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
recap=()
i=0
for run in "${runs[@]}"; do
	read -r suite profile <<<"$run"
	i=$((i + 1))
	summary=$ROOT/out/$DRIVER/$suite@$profile/summary
	printf '[%d/%d] %s @ %s ... ' "$i" "$total" "$suite" "$profile"
	out=$("$ROOT/scripts/lab.sh" "$suite" "$profile" 2>&1) || true
	status=error p=0 f=1 secs=0
	if [[ -f $summary ]]; then
		# status=... passed=... failed=... seconds=...
		read -r status p f secs < <(sed 's/[a-z]*=//g' "$summary")
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	printf '%s %d s\n' "$status" "$secs"
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
echo "$passed passed, $failed failed"
((bad_boots == 0 && failed == 0))
