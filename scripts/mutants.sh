#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Mutation testing of the lab: break the driver on purpose and check that
# the suite meant to notice does.
#
#   scripts/mutants.sh            every tests/mutants/*.patch
#   MUTANTS="a b" scripts/mutants.sh   only these (names without .patch)
#
# Each patch starts with a header of '#' lines:
#   # suite: SUITE@PROFILE   the one boot that must catch it (required)
#   # why: ...               the real bug it stands for
#   # kernel: debug          optional: the suite runs on the debug kernel
#                            only (tests/matrix); the mutant's cnvme.ko is
#                            built for it, and the boot runs KERNEL=debug
#   # known: TAG: ...        optional: a mutant the lab cannot catch yet
#                            (TAG, e.g. "race"), and why; it is run and
#                            reported as "survived (known: TAG)", but its
#                            survival does not fail the run
#
# For each mutant: the checkout (tracked and untracked files, as they are
# in the working tree, without build/ and out/) is copied to a temporary
# directory, with build/{kernel,guest,extras,tools} linked to this
# checkout's; the patch must apply exactly (git apply, no fuzz: a patch
# that no longer applies is an error, so mutants never rot silently);
# cnvme.ko is built there; scripts/lab.sh boots the mutant's suite with
# that module.  Result:
#   killed     the boot failed: a test point failed, the whole-boot log
#              scan found an undeclared line, the guest crashed or hung
#   survived   the suite was fully green with the broken driver
#   error      the patch did not apply, the module did not build, the lab
#              could not boot (set-up error, an emulator flake twice):
#              not a kill
# Prints a table (mutant, suite, result with the first failed test point
# or what ended the boot, seconds of the boot, seconds in all with the
# build and the wait for the lab lock) and keeps each mutant's
# build log, lab output and out/ directory in out/mutants/NAME/.  Exits
# non-zero if any mutant without "known:" survived, or any mutant ended
# in error.
#
# Environment: KEEP=1 keeps the temporary copies (/tmp/cnvme-mutant.*);
# LAB_LOCK, NUDGE_SECS and V pass through to scripts/lab.sh.

set -euo pipefail

# shellcheck source=scripts/common.sh
. "$(dirname "$0")/common.sh"

MUT_DIR=$LAB_ROOT/tests/mutants
OUT=$LAB_OUT/mutants

[[ $(id -u) -eq 0 ]] || die "run as root (scripts/lab.sh boots guests)"
command -v git >/dev/null || die "git is needed (copy of the tree, git apply)"

# header FIELD PATCH: the value of "# FIELD: value" and its "#   " lines.
header() {
	awk -v f="$2" '
		!/^#/ { exit }
		$0 ~ "^# " f ":" { sub("^# " f ": *", ""); v = $0; on = 1; next }
		on && /^#   / { sub(/^# +/, ""); v = v " " $0; next }
		{ on = 0 }
		END { print v }' "$1"
}

names=()
if [[ -n ${MUTANTS:-} ]]; then
	for n in ${MUTANTS//,/ }; do
		n=${n%.patch}
		[[ -f $MUT_DIR/$n.patch ]] || die "no mutant '$n' ($MUT_DIR/$n.patch)"
		names+=("$n")
	done
else
	for p in "$MUT_DIR"/*.patch; do
		[[ -f $p ]] || continue
		n=${p##*/}
		names+=("${n%.patch}")
	done
fi
((${#names[@]} > 0)) || die "no mutants in $MUT_DIR"

# Everything a mutant's copy needs: the checkout as it is now.
tree_files() {
	git -C "$LAB_ROOT" ls-files -z --cached --others --exclude-standard |
		while IFS= read -r -d '' f; do
			[[ -e $LAB_ROOT/$f ]] && printf '%s\0' "$f"
		done
}

TMP=
# shellcheck disable=SC2317 # invoked by the traps
cleanup() {
	[[ -n $TMP && -z ${KEEP:-} ]] && rm -rf "$TMP"
	TMP=
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

mkdir -p "$OUT"
rows=()
bad=0
killed=0
total_start=$SECONDS
i=0
for name in "${names[@]}"; do
	i=$((i + 1))
	patch=$MUT_DIR/$name.patch
	suite_at=$(header "$patch" suite)
	known=$(header "$patch" known)
	kernel=$(header "$patch" kernel)
	kernel=${kernel:-debian}
	mout=$OUT/$name
	rm -rf "$mout"
	mkdir -p "$mout"
	start=$SECONDS
	result=
	boot=-
	suite=${suite_at%@*}
	profile=${suite_at#*@}
	if [[ -z $suite_at || $suite_at != *@* || -z $suite || -z $profile ]]; then
		result="error: no '# suite: SUITE@PROFILE' line"
	elif [[ $kernel != debian && $kernel != debug ]]; then
		result="error: '# kernel: $kernel': debian or debug"
	fi
	printf '[%d/%d] %s (%s) ... ' "$i" "${#names[@]}" "$name" "${suite_at:-?}"

	if [[ -z $result ]]; then
		TMP=$(mktemp -d /tmp/cnvme-mutant.XXXXXX)
		tree_files | (cd "$LAB_ROOT" && tar --null -T - -cf -) | tar -C "$TMP" -xf -
		mkdir -p "$TMP/build"
		for d in kernel guest extras tools; do
			[[ -e $LAB_BUILD/$d ]] && ln -sfn "$(readlink -f "$LAB_BUILD/$d")" "$TMP/build/$d"
		done
		# git apply outside a repository: exact context, no fuzz.
		if ! (cd "$TMP" && git apply --check "$patch" && git apply "$patch") \
			>"$mout/apply.log" 2>&1; then
			result="error: patch does not apply"
		fi
	fi
	if [[ -z $result ]]; then
		if [[ $kernel == debug ]]; then
			# The debug kernel's tree (scripts/debug-kernel.sh
			# kernel builds it when missing or stale).
			KERNEL=debug "$LAB_ROOT/scripts/debug-kernel.sh" kernel >"$mout/build.log" 2>&1 &&
				make -C "$LAB_DEBUG_SRC" M="$TMP" modules >>"$mout/build.log" 2>&1
		else
			# The headers of the kernel the guest boots, wherever
			# host-setup.sh found or unpacked them (build/headers/
			# is not linked into the copy).
			make -C "$TMP" modules KDIR="$(lab_headers_dir "$(KERNEL=debian lab_kver)")" \
				>"$mout/build.log" 2>&1
		fi || result="error: build failed"
		[[ -n $result || -f $TMP/drivers/block/cnvme/cnvme.ko ]] || result="error: build failed"
	fi
	if [[ -z $result ]]; then
		results=cnvme
		[[ $kernel == debug ]] && results=cnvme-debug
		(cd "$TMP" && DRIVER=cnvme KERNEL=$kernel CNVME_KO="$TMP/drivers/block/cnvme/cnvme.ko" \
			scripts/lab.sh "$suite" "$profile") >"$mout/lab.log" 2>&1 || true
		cp -a "$TMP/out/$results/$suite_at" "$mout/out" 2>/dev/null || true
		status=error p=0 f=0 secs=0 n=0 fl=0
		if [[ -f $mout/out/summary ]]; then
			# status=... passed=... failed=... seconds=... nudges=... flakes=...
			read -r status p f secs n fl < <(sed 's/[a-z]*=//g' "$mout/out/summary")
			fl=${fl:-0}
		fi
		if [[ $status == error ]]; then
			result="error: lab.sh gave no result ($(grep -m1 'error:' "$mout/lab.log" || echo "no summary"))"
		elif ((fl >= 2)); then
			result="error: emulator crashed before the driver loaded, twice"
		elif [[ $status == ok && $f -eq 0 ]]; then
			result="survived"
		else
			# The first failed point, else what ended the boot.
			first=$(cat "$mout/out/result.ktap" 2>/dev/null ||
				cat "$mout/out/points" 2>/dev/null || true)
			first=$(awk '/^not ok / { print $4; exit }' <<<"$first")
			[[ -n $first ]] || first=$status
			[[ $status == ok || $status == fail || $first == "$status" ]] ||
				first="$status, $first"
			result="killed ($first; $f failed)"
		fi
		boot=$secs
	fi
	cleanup

	secs=$((SECONDS - start))
	case $result in
	survived)
		if [[ -n $known ]]; then
			result="survived (known: ${known%%:*})"
		else
			bad=$((bad + 1))
		fi
		;;
	killed*) killed=$((killed + 1)) ;;
	*) bad=$((bad + 1)) ;;
	esac
	echo "$result, boot $boot s, $secs s"
	[[ $result == error* ]] && sed 's/^/    /' "$mout/apply.log" "$mout/build.log" 2>/dev/null | tail -n 15
	rows+=("$name|$suite_at|$result|$boot|$secs")
done

echo
{
	echo "mutant|suite|result|boot s|total s"
	printf '%s\n' "${rows[@]}"
} | column -t -s '|' | tee "$OUT/table"
echo "$killed of ${#names[@]} killed, $bad survived or in error, $((SECONDS - total_start)) s" |
	tee -a "$OUT/table"
((bad == 0))
