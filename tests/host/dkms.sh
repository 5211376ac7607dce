#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Host test of the DKMS package and "make dkms-install" (no guest needed
# but for one boot): run as root by "make check" before the guest suites
# (tests/check.sh; HOST_TESTS=0 skips it, saying so).
#
#   headers_6_12_installed  there are kernels to build for (see
#                  headers_present below)
#   build          make deb builds build/deb/cnvme-dkms_<version>_all.deb
#   lintian        lintian --pedantic -I on the build's .changes: no tag
#   install        apt-get installs the .deb (dkms comes as a dependency)
#   dkms_status    "dkms status" says cnvme/<version> installed for every
#                  kernel with installed 6.12 headers (their version, not
#                  uname -r: the host may run another kernel)
#   modinfo_path   modinfo -k KVER finds cnvme in
#                  /lib/modules/KVER/updates/dkms/
#   vermagic       the installed module's vermagic, srcversion and version
#   srcversion     equal those of a plain "make KDIR=/lib/modules/KVER/build"
#   version        of a copy of this tree (srcversion: a digest of the
#                  sources; version: the package's)
#   remove_clean   apt-get remove leaves no /usr/src/cnvme-*, no
#                  /var/lib/dkms/cnvme, no cnvme.ko* under
#                  /lib/modules/*/updates/dkms and no dkms entry
#   reinstall      the package again, then:
#   guest_basic    the installed module (decompressed) passes the basic
#                  suite on the default profile: one boot of scripts/lab.sh
#                  with CNVME_KO=; results in out/dkms/basic@default/.
#                  DKMS_BOOT=0 leaves it out (a failed point, never a pass)
#   purge_clean    apt-get purge from the installed state: clean as above,
#                  and dpkg's database no longer knows the package
#   make_install   make dkms-install: dkms status installed for every kernel,
#                  the same srcversion as the package's
#   make_remove    make dkms-remove: clean as above
#
# KTAP-like lines on stdout, tool output in build/host/dkms/*.log (named
# when a step fails); the last line is "N passed, N failed".  A host with
# cnvme DKMS state already (the package, make dkms-install) is left alone:
# the test fails at once and says how to remove it.

# The checks run through check "$@", which shellcheck cannot see.
# shellcheck disable=SC2317
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LOGS=$ROOT/build/host/dkms
NAME=cnvme
NTEST=0
NFAIL=0
rm -rf "$LOGS"
mkdir -p "$LOGS"

record() { # "ok"|"not ok" NAME [REASON]
	NTEST=$((NTEST + 1))
	local line="$1 $NTEST $2"
	[[ $1 == ok ]] || NFAIL=$((NFAIL + 1))
	[[ -n ${3:-} ]] && line+=" # $3"
	echo "$line"
}

# check NAME COMMAND...: as the guest library's check, with the output in
# build/host/dkms/NAME.log, shown as diagnostics only when it fails.
check() {
	local name=$1 log=$LOGS/$1.log rc=0 reason
	shift
	"$@" >"$log" 2>&1 </dev/null || rc=$?
	if ((rc == 0)); then
		record ok "$name"
		return 0
	fi
	tail -n 15 "$log" | sed 's/^/# /'
	reason=$({ grep -v '^[[:space:]]*$' "$log" || true; } | tail -n 1 | tr -d '#' | cut -c1-160)
	record "not ok" "$name" "${reason:-exit status $rc} (log: ${log#"$ROOT"/})"
	return 1
}

finish() {
	echo "1..$NTEST"
	echo "# dkms: $((NTEST - NFAIL)) passed, $NFAIL failed; logs in ${LOGS#"$ROOT"/}/"
	echo "$((NTEST - NFAIL)) passed, $NFAIL failed"
	exit $((NFAIL ? 1 : 0))
}

fail() { echo "$*"; return 1; }

apt_quiet() { DEBIAN_FRONTEND=noninteractive apt-get -y -q "$@"; }

# --- what is on the host ----------------------------------------------------

# Anything of cnvme that DKMS or the package left: one line each.
leftovers() {
	local f
	for f in "/usr/src/$NAME-"* "/var/lib/dkms/$NAME" /lib/modules/*/updates/dkms/"$NAME".ko*; do
		[[ -e $f || -L $f ]] && echo "left: $f"
	done
	dkms status -m "$NAME" 2>/dev/null | sed 's/^/dkms status: /'
	return 0
}

nothing_left() {
	local left
	left=$(leftovers)
	[[ -z $left ]] || fail "$left" || return 1
	echo "no cnvme file under /usr/src, /var/lib/dkms, /lib/modules/*/updates/dkms; no dkms entry"
}

pkg_status() { dpkg-query -W -f='${db:Status-Status}' "$NAME-dkms" 2>/dev/null || true; }

# --- the checks -------------------------------------------------------------

host_clean_at_start() {
	local s
	s=$(pkg_status)
	[[ -z $s || $s == not-installed ]] ||
		fail "$NAME-dkms is $s on this host: apt-get purge $NAME-dkms before the test" || return 1
	[[ -z $(leftovers) ]] ||
		fail "$(leftovers) -- make dkms-remove before the test" || return 1
	echo "no cnvme DKMS state on the host"
}

# DKMS builds for installed kernels only.  Host set-up does not install
# any (it unpacks the guest's kernel and headers into build/); without
# 6.12 headers this test installs linux-headers-6.12-amd64, which pulls in
# its linux-image (Debian's dependency), and says so.
headers_present() {
	if [[ -z $KVERS ]]; then
		echo "no 6.12 headers installed: installing linux-headers-6.12-amd64 (and, as it depends, its linux-image)"
		apt_quiet install --no-install-recommends linux-headers-6.12-amd64 || return 1
		KVERS=$("$ROOT/scripts/dkms.sh" kernels | tr '\n' ' ')
		KVERS=${KVERS% }
	fi
	[[ -n $KVERS ]] || fail "no /lib/modules/6.12.*/build: install linux-headers-6.12-amd64" || return 1
	echo "kernels with 6.12 headers: $KVERS (running: $(uname -r))"
}

build_deb() {
	DEB=$(DEB_LINTIAN=0 "$ROOT/scripts/deb.sh") || return 1
	[[ -f $DEB ]] || fail "make deb printed '$DEB', no such file" || return 1
	echo "built $DEB"
}

lintian_clean() {
	local tags
	tags=$(lintian --allow-root --pedantic --display-info "$ROOT"/build/deb/cnvme_*.changes 2>&1) ||
		true
	[[ -z $tags ]] || fail "$tags" || return 1
	echo "lintian: no tag"
}

installed_for_all() { # VERSION
	local k st
	for k in $KVERS; do
		st=$(dkms status -m "$NAME" -v "$1" -k "$k")
		echo "$st"
		[[ $st == *": installed"* ]] || fail "dkms status -k $k: '$st', want installed" || return 1
	done
}

module_path() { # KVER
	modinfo -k "$1" -n "$NAME" 2>/dev/null
}

modinfo_paths() {
	local k p
	for k in $KVERS; do
		p=$(module_path "$k") || fail "modinfo -k $k $NAME finds no module" || return 1
		echo "$k: $p"
		[[ $p == /lib/modules/$k/updates/dkms/$NAME.ko* ]] ||
			fail "$k: $p is not under /lib/modules/$k/updates/dkms/" || return 1
	done
}

# A plain make of a copy of this tree, once per kernel: the reference.
make_reference() {
	local k
	for k in $KVERS; do
		rm -rf "$LOGS/tree-$k"
		mkdir -p "$LOGS/tree-$k"
		tar -C "$ROOT" --exclude=./build --exclude=./out --exclude=./.git -cf - . |
			tar -C "$LOGS/tree-$k" -xf - || return 1
		make -C "$LOGS/tree-$k" clean >/dev/null || return 1
		make -C "$LOGS/tree-$k" KDIR="/lib/modules/$k/build" || return 1
		[[ -f $LOGS/tree-$k/drivers/block/cnvme/cnvme.ko ]] || fail "make built no cnvme.ko" || return 1
	done
}

same_field() { # FIELD
	local k a b
	for k in $KVERS; do
		a=$(modinfo -F "$1" "$(module_path "$k")")
		b=$(modinfo -F "$1" "$LOGS/tree-$k/drivers/block/cnvme/cnvme.ko")
		echo "$k: dkms '$a', make '$b'"
		[[ -n $a && $a == "$b" ]] || fail "$k: $1 differs: dkms '$a', make '$b'" || return 1
	done
}

guest_basic() {
	local k p
	# The guest boots the kernel of linux-headers-6.12-amd64.
	k=$(. "$ROOT/scripts/common.sh" && lab_kver) || fail "no linux-headers-6.12-amd64" || return 1
	p=$(module_path "$k") || fail "no DKMS module for the guest's kernel $k" || return 1
	CNVME_KO=$p LAB_RESULTS=dkms DRIVER=cnvme "$ROOT/scripts/lab.sh" basic default
}

purged() {
	local s
	s=$(pkg_status)
	[[ -z $s || $s == not-installed ]] || fail "dpkg still knows $NAME-dkms: $s" || return 1
	nothing_left
}

same_srcversion_as_package() {
	local k v
	for k in $KVERS; do
		v=$(modinfo -F srcversion "$(module_path "$k")")
		echo "$k: make dkms-install '$v', package '${PKG_SRCVERSION[$k]}'"
		[[ -n $v && $v == "${PKG_SRCVERSION[$k]}" ]] || fail "$k: srcversion differs" || return 1
	done
}

# --- the run ----------------------------------------------------------------

echo "KTAP version 1"
echo "# host: dkms and the cnvme-dkms package, kernel $(uname -r)"
if [[ $(id -u) -ne 0 ]]; then
	record "not ok" root "run as root (dpkg, dkms)"
	finish
fi
KVERS=$("$ROOT/scripts/dkms.sh" kernels | tr '\n' ' ')
KVERS=${KVERS% }
VERSION=$("$ROOT/scripts/dkms.sh" version)
DEB=
check host_clean_at_start host_clean_at_start || finish
# Not through check: it sets KVERS for the rest.
if headers_present >"$LOGS/headers.log" 2>&1; then
	record ok headers_6_12_installed
else
	record "not ok" headers_6_12_installed "$(tail -n 1 "$LOGS/headers.log") (log: build/host/dkms/headers.log)"
	finish
fi
sed -n 's/^no 6.12 headers installed: /# /p' "$LOGS/headers.log"
check build build_deb || finish
check lintian lintian_clean
check install apt_quiet install --no-install-recommends "$DEB" || { leftovers; finish; }
check dkms_status installed_for_all "$VERSION"
check modinfo_path modinfo_paths
if check make_reference make_reference; then
	check vermagic same_field vermagic
	check srcversion same_field srcversion
	check version same_field version
fi
declare -A PKG_SRCVERSION=()
for k in $KVERS; do
	PKG_SRCVERSION[$k]=$(modinfo -F srcversion "$(module_path "$k")" 2>/dev/null)
done
check remove apt_quiet remove "$NAME-dkms"
check remove_clean nothing_left
# Again, for the guest and for a purge from the installed state (a
# package without conffiles is gone after remove: nothing to purge then).
if check reinstall apt_quiet install --no-install-recommends "$DEB"; then
	if [[ ${DKMS_BOOT:-1} == 0 ]]; then
		record "not ok" guest_basic "DKMS_BOOT=0: not booted"
	else
		check guest_basic guest_basic
		tail -n 1 "$LOGS/guest_basic.log" | sed 's/^/# /'
	fi
	check purge apt_quiet purge "$NAME-dkms"
fi
check purge_clean purged
if check make_install make -C "$ROOT" dkms-install; then
	check make_install_status installed_for_all "$VERSION"
	check make_install_srcversion same_srcversion_as_package
fi
check make_remove make -C "$ROOT" dkms-remove
check make_remove_clean nothing_left
finish
