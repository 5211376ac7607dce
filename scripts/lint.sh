#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# cnvme quality gate ("make lint").  Runs every step, prints PASS/FAIL for
# each and a summary, and exits non-zero if any step failed.
#
#   build       W=1e (W=1 extra warnings, warnings are errors) on a fresh
#               copy of the tree, so nothing is hidden by up-to-date objects;
#               modpost warnings fail the step too
#   sparse      C=2 CF=-Wsparse-error on another fresh copy
#   checkpatch  checkpatch.pl --strict --no-tree --show-types -f on every
#               tracked *.c / *.h; any ERROR, WARNING or CHECK fails
#   kernel-doc  kernel-doc -none -Wall on the tracked *.c / *.h of drivers/
#               and include/ (W=1 does not look at headers); any output fails
#   kconfig     scripts/kconfig/conf --allmodconfig on the top-level Kconfig;
#               any error or warning fails
#   shell       shellcheck on tracked *.sh plus shell scripts (by #! line) in
#               scripts/, tests/ and .ci/ (step name: shellcheck)
#   docs        every Documentation/*.rst parsed by docutils, warnings are
#               errors; toctree entries must exist and index.rst must list
#               every page (scripts/doccheck.py rst; needs python3-docutils)
#   params      Documentation/parameters.rst against "modinfo -p" of the
#               cnvme.ko the build step made (or a plain build of a fresh
#               copy when the build step is not run): names and defaults
#               (scripts/doccheck.py params)
#
# Usage: scripts/lint.sh [DIR]
#   DIR (or $LINT_DIR) is the tree to check, default: this repository.
#   $LINT_STEPS   steps to run, default "build sparse checkpatch kernel-doc
#                 kconfig shellcheck docs params"
#   $KDIR         kernel build tree (the top-level Makefile exports it)
#   $LINT_JOBS    make -j for the two builds, default nproc
#   $LINT_UNTRACKED=1  also check untracked (not ignored) files; by default
#                 checkpatch, kernel-doc and shellcheck see tracked files
#                 only, while the builds always see the whole work tree
#
# Full logs of the last run: build/lint/logs/<step>.log of this repository.
# Checkpatch and its data files are extracted once from Debian's
# linux-source-6.12 into build/tools/checkpatch/ (re-extracted when that
# package's version changes).  Missing Debian packages (sparse, shellcheck,
# linux-source-6.12) are installed with apt-get; python3-docutils is not:
# the docs step fails and says so (scripts/host-setup.sh installs it).

set -euo pipefail

SELF_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SELF_DIR/.." && pwd)

ROOT=${1:-${LINT_DIR:-$REPO}}
if [[ ! -d $ROOT ]]; then
	echo "lint: $ROOT: no such directory" >&2
	exit 2
fi
ROOT=$(cd "$ROOT" && pwd)

STEPS=${LINT_STEPS:-build sparse checkpatch kernel-doc kconfig shellcheck docs params}
JOBS=${LINT_JOBS:-$(nproc)}

if [[ -z ${KDIR:-} ]]; then
	KDIR=/lib/modules/$(uname -r)/build
	if [[ ! -d $KDIR ]]; then
		KDIR=$(find /lib/modules -maxdepth 2 -path '/lib/modules/6.12.*-amd64/build' \
			2>/dev/null | sort -V | tail -n 1)
	fi
fi
if [[ -z $KDIR || ! -f $KDIR/Makefile ]]; then
	echo "lint: no kernel build tree (KDIR='$KDIR'): run scripts/host-setup.sh or set KDIR=" >&2
	exit 2
fi

LINUX_SRC_PKG=linux-source-6.12
LINUX_SRC_TAR=/usr/src/$LINUX_SRC_PKG.tar.xz
TOOLS=$REPO/build/tools/checkpatch
CHECKPATCH=$TOOLS/scripts/checkpatch.pl
DOCCHECK=$REPO/scripts/doccheck.py
# Debian's python3 with Debian's docutils, not whatever python3 is first in
# $PATH: that is the package host-setup.sh installs.
PYTHON=/usr/bin/python3
LOGS=$REPO/build/lint/logs

# "make lint" passes its own flags and command-line variables (W=, C=, -j
# jobserver...) down through MAKEFLAGS; the kbuild calls below must see only
# the options given here.
unset MAKEFLAGS MFLAGS MAKEOVERRIDES MAKELEVEL GNUMAKEFLAGS

mkdir -p "$REPO/build/lint" "$LOGS"
WORK=$(mktemp -d "$REPO/build/lint/run.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# ---------------------------------------------------------------- helpers

bold=""
reset=""
if [[ -t 1 ]]; then
	bold=$'\e[1m'
	reset=$'\e[0m'
fi

want() {
	[[ " $STEPS " == *" $1 "* ]]
}

header() {
	printf '\n%s==> [%s] %s%s\n' "$bold" "$1" "$2" "$reset"
}

# Print a log indented, without kbuild's progress lines, with the scratch
# copy's path turned back into paths relative to the checked tree.
show() {
	local log=$1 copy=${2:-}
	local -a filt=(-e '/^make\(\[[0-9]*\]\)\?: \(Entering\|Leaving\) directory/d'
		       -e '/^make\(\[[0-9]*\]\)\?: \*\*\* \(\[.*\] Error [0-9]*$\|Deleting file\)/d'
		       -e '/^  [A-Z][A-Z0-9]* *\(\[M\]\)\? /d')
	if [[ -n $copy ]]; then
		filt+=(-e "s#$copy/##g")
	fi
	sed "${filt[@]}" "$log" | sed 's/^/    /'
}

# Tracked files of the checked tree matching the given git pathspecs (only
# those that exist in the work tree).  Outside a git work tree: find.
list_files() {
	local f
	if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git -C "$ROOT" ls-files -z ${LINT_UNTRACKED:+-o --exclude-standard -c} -- "$@" |
		while IFS= read -r -d '' f; do
			[[ -f $ROOT/$f ]] && printf '%s\n' "$f"
		done
	else
		local -a names=()
		for f in "$@"; do
			names+=(-o -path "./${f#:(glob)}")
		done
		(cd "$ROOT" && find . \( -path ./build -o -path ./.git \) -prune \
			-o -type f \( -false "${names[@]}" \) -print | sed 's#^\./##' | sort)
	fi
}

# Copy the tree's sources (tracked and untracked, not ignored: what a build
# of the work tree would see, without its object files) to $1.
copy_tree() {
	local dst=$1 f
	mkdir -p "$dst"
	if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git -C "$ROOT" ls-files -z -co --exclude-standard |
		while IFS= read -r -d '' f; do
			[[ -f $ROOT/$f || -L $ROOT/$f ]] && printf '%s\0' "$f"
		done | tar -C "$ROOT" --null -T - -cf - | tar -C "$dst" -xf -
	else
		tar -C "$ROOT" --exclude=./build --exclude=./.git -cf - . | tar -C "$dst" -xf -
		make -s -C "$KDIR" M="$dst" clean >/dev/null
	fi
}

as_root() {
	if [[ $EUID -eq 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo -n "$@"
	else
		echo "lint: need root to run: $*" >&2
		return 1
	fi
}

installed() {
	[[ $(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null) == installed ]]
}

ensure_packages() {
	local -a missing=()
	local p
	for p in "$@"; do
		installed "$p" || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	echo "lint: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	if ! as_root apt-get install -y -q --no-install-recommends "${missing[@]}"; then
		as_root apt-get update -q &&
		as_root apt-get install -y -q --no-install-recommends "${missing[@]}"
	fi
}

# checkpatch.pl finds spelling.txt and const_structs.checkpatch next to
# itself (dirname of its real path), and checkpatch.rst in
# ../Documentation/dev-tools/: keep the source tree's layout under $TOOLS.
ensure_checkpatch() {
	local version stamp tmp m
	local -a members=(scripts/checkpatch.pl scripts/spelling.txt
			  scripts/const_structs.checkpatch
			  Documentation/dev-tools/checkpatch.rst .clang-format)
	version=$(dpkg-query -W -f='${Version}' "$LINUX_SRC_PKG")
	stamp=$TOOLS/.version
	if [[ -f $stamp && $(<"$stamp") == "$version" ]]; then
		for m in "${members[@]}"; do
			[[ -f $TOOLS/$m ]] || break
		done
		[[ -f $TOOLS/$m ]] && return 0
	fi
	echo "    extracting checkpatch.pl from $LINUX_SRC_TAR ($version)"
	tmp=$(mktemp -d "$REPO/build/tools.XXXXXX")
	tar -C "$tmp" -xJf "$LINUX_SRC_TAR" --strip-components=1 --wildcards \
		"${members[@]/#/$LINUX_SRC_PKG/}"
	for m in "${members[@]}"; do
		if [[ ! -f $tmp/$m ]]; then
			echo "lint: $m not found in $LINUX_SRC_TAR" >&2
			rm -rf "$tmp"
			return 1
		fi
	done
	printf '%s\n' "$version" >"$tmp/.version"
	mkdir -p "$(dirname "$TOOLS")"
	rm -rf "$TOOLS"
	mv "$tmp" "$TOOLS"
}

# ------------------------------------------------------------------ steps

# Kbuild output that means a finding even when make succeeded: compiler
# and sparse diagnostics, modpost WARNING/ERROR lines.
KBUILD_FINDING='(warning|error):|^(WARNING|ERROR): '

step_build() {
	local copy=$WORK/w1 log=$LOGS/build.log rc=0
	copy_tree "$copy"
	make -C "$KDIR" M="$copy" W=1e -j"$JOBS" modules >"$log" 2>&1 || rc=$?
	if ((rc)) || grep -Eq "$KBUILD_FINDING" "$log"; then
		show "$log" "$copy"
		return 1
	fi
}

step_sparse() {
	local copy=$WORK/sparse log=$LOGS/sparse.log rc=0
	# CF, not CHECKFLAGS: a CHECKFLAGS= on the command line replaces the
	# kernel's whole CHECKFLAGS (-D__x86_64__ -m64 --arch -Wbitwise ...).
	copy_tree "$copy"
	make -C "$KDIR" M="$copy" C=2 CF=-Wsparse-error -j"$JOBS" modules >"$log" 2>&1 || rc=$?
	if ! grep -q '^  CHECK ' "$log"; then
		show "$log" "$copy"
		echo "    sparse checked no file"
		return 1
	fi
	# -Wsparse-error turns every sparse warning into an error and a non-zero
	# exit; compiler warnings in this build are the build step's business.
	if ((rc)) || grep -q 'error:' "$log"; then
		show "$log" "$copy"
		return 1
	fi
}

step_checkpatch() {
	local log=$LOGS/checkpatch.log rc=0
	local -a files
	mapfile -t files < <(list_files '*.c' '*.h')
	if ((${#files[@]} == 0)); then
		echo "    no tracked *.c / *.h files" | tee "$log"
		return 0
	fi
	ensure_checkpatch
	(cd "$ROOT" && perl "$CHECKPATCH" --strict --no-tree --show-types \
		--quiet --no-summary -f "${files[@]}") >"$log" 2>&1 || rc=$?
	# Without its data files checkpatch only warns on stderr and passes.
	if grep -Eq "^No (typos|structs) .* will be found|Can't read the documentation" "$log"; then
		show "$log"
		echo "    checkpatch is missing its data files under $TOOLS"
		return 1
	fi
	if ((rc)) || grep -Eq '^(ERROR|WARNING|CHECK):' "$log"; then
		show "$log"
		printf '    %s errors, %s warnings, %s checks in %s files\n' \
			"$(grep -Ec '^ERROR:' "$log" || true)" \
			"$(grep -Ec '^WARNING:' "$log" || true)" \
			"$(grep -Ec '^CHECK:' "$log" || true)" "${#files[@]}"
		return 1
	fi
	echo "    ${#files[@]} file(s) clean"
}

step_kernel_doc() {
	local log=$LOGS/kernel-doc.log rc=0
	local -a files
	mapfile -t files < <(list_files 'drivers/*.[ch]' 'include/*.[ch]')
	if ((${#files[@]} == 0)); then
		echo "    no tracked *.c / *.h files under drivers/ or include/" | tee "$log"
		return 0
	fi
	(cd "$ROOT" && "$KDIR/scripts/kernel-doc" -none -Wall "${files[@]}") \
		>"$log" 2>&1 || rc=$?
	if ((rc)) || [[ -s $log ]]; then
		show "$log"
		return 1
	fi
	echo "    ${#files[@]} file(s) clean"
}

step_kconfig() {
	local log=$LOGS/kconfig.log dir=$WORK/kconfig rc=0
	if [[ ! -f $ROOT/Kconfig ]]; then
		echo "    no top-level Kconfig in $ROOT" | tee "$log"
		return 1
	fi
	# conf also writes include/config/ and include/generated/ into its
	# working directory: run it in a scratch directory, not in the tree.
	mkdir -p "$dir"
	(cd "$dir" && srctree=$ROOT KCONFIG_CONFIG=$dir/.config \
		"$KDIR/scripts/kconfig/conf" --allmodconfig Kconfig) >"$log" 2>&1 || rc=$?
	if ((rc)) || grep -Evq '^#$|^# (configuration written to|No change to) ' "$log"; then
		show "$log"
		return 1
	fi
	echo "    $(grep -c '^CONFIG_' "$dir/.config") symbols configured"
}

step_shellcheck() {
	local log=$LOGS/shellcheck.log rc=0 f first
	local -a files=()
	while IFS= read -r f; do
		case $f in
		*.sh | *.bash)
			files+=("$f")
			;;
		scripts/* | tests/* | .ci/*)
			IFS= read -r first <"$ROOT/$f" || true
			if [[ $first =~ ^#!.*/(env[[:space:]]+)?(ba|da|k)?sh([[:space:]]|$) ]]; then
				files+=("$f")
			fi
			;;
		esac
	done < <(list_files '*.sh' '*.bash' 'scripts/*' 'tests/*' '.ci/*' | sort -u)
	if ((${#files[@]} == 0)); then
		echo "    no shell scripts" | tee "$log"
		return 0
	fi
	(cd "$ROOT" && shellcheck -x -P SCRIPTDIR -f gcc "${files[@]}") >"$log" 2>&1 || rc=$?
	if ((rc)) || [[ -s $log ]]; then
		show "$log"
		return 1
	fi
	echo "    ${#files[@]} script(s) clean"
}

step_docs() {
	local log=$LOGS/docs.log rc=0
	if [[ ! -d $ROOT/Documentation ]]; then
		echo "    no Documentation/ in $ROOT" | tee "$log"
		return 1
	fi
	if ! installed python3-docutils || ! "$PYTHON" -c 'import docutils' 2>/dev/null; then
		echo "    python3-docutils is not installed: run scripts/host-setup.sh, or" | tee "$log"
		echo "    apt-get install --no-install-recommends python3-docutils" | tee -a "$log"
		return 1
	fi
	(cd "$ROOT" && "$PYTHON" "$DOCCHECK" rst Documentation) >"$log" 2>&1 || rc=$?
	show "$log"
	return "$rc"
}

# The module the build step made, or (without that step) a plain build of
# a fresh copy: modinfo needs a .ko.
step_params() {
	local log=$LOGS/params.log ko=$WORK/w1/drivers/block/cnvme/cnvme.ko rc=0
	if [[ ! -f $ko ]]; then
		local copy=$WORK/params
		copy_tree "$copy"
		ko=$copy/drivers/block/cnvme/cnvme.ko
		if ! make -C "$KDIR" M="$copy" -j"$JOBS" modules >"$log" 2>&1 || [[ ! -f $ko ]]; then
			show "$log" "$copy"
			echo "    no cnvme.ko to compare with"
			return 1
		fi
	fi
	(cd "$ROOT" && "$PYTHON" "$DOCCHECK" params Documentation/parameters.rst "$ko") \
		>"$log" 2>&1 || rc=$?
	show "$log"
	return "$rc"
}

# ------------------------------------------------------------------- main

for s in $STEPS; do
	case $s in
	build | sparse | checkpatch | kernel-doc | kconfig | shellcheck | docs | params) ;;
	*)
		echo "lint: unknown step '$s'" >&2
		exit 2
		;;
	esac
done

pkgs=()
want sparse && pkgs+=(sparse)
want checkpatch && pkgs+=("$LINUX_SRC_PKG")
want shellcheck && pkgs+=(shellcheck)
((${#pkgs[@]} == 0)) || ensure_packages "${pkgs[@]}"

echo "lint: tree $ROOT"
echo "lint: KDIR $KDIR"

declare -a summary=()
failed=0
n=0
total=0
for s in $STEPS; do
	want "$s" && total=$((total + 1))
done

run_step() {
	local name=$1 fn=$2 title=$3 start rc=0 secs verdict
	want "$name" || return 0
	n=$((n + 1))
	header "$n/$total" "$name: $title"
	start=$SECONDS
	"$fn" || rc=$?
	secs=$((SECONDS - start))
	if ((rc)); then
		verdict=FAIL
		failed=$((failed + 1))
	else
		verdict=PASS
	fi
	printf '    %s %s (%ss)\n' "$verdict" "$name" "$secs"
	summary+=("$(printf '%-4s  %-11s %4ss' "$verdict" "$name" "$secs")")
}

start_all=$SECONDS
run_step build step_build "make M=... W=1e modules (fresh copy, warnings are errors)"
run_step sparse step_sparse "make M=... C=2 CF=-Wsparse-error modules (fresh copy)"
run_step checkpatch step_checkpatch "checkpatch.pl --strict --no-tree --show-types -f"
run_step kernel-doc step_kernel_doc "kernel-doc -none -Wall"
run_step kconfig step_kconfig "conf --allmodconfig Kconfig"
run_step shellcheck step_shellcheck "shellcheck -x"
run_step docs step_docs "docutils on Documentation/*.rst (warnings are errors)"
run_step params step_params "Documentation/parameters.rst against modinfo -p cnvme.ko"

printf '\n%s==> lint summary (%s)%s\n' "$bold" "$ROOT" "$reset"
printf '    %s\n' "${summary[@]}"
if ((failed)); then
	printf '    %d of %d steps FAILED in %ss (logs: %s)\n' "$failed" "$n" \
		"$((SECONDS - start_all))" "$LOGS"
	exit 1
fi
printf '    all %d steps passed in %ss\n' "$n" "$((SECONDS - start_all))"
