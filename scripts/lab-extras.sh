#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Test material a suite needs in the guest but the guest image does not
# hold, prepared once on the host into build/extras/NAME/ and shared with
# the guest by scripts/lab.sh (a suite asks with a "# lab-extras: NAME"
# line).  Keeping it out of the image means no image rebuild for it.
#
#   scripts/lab-extras.sh NAME
#
# Prints the directory on stdout.  Names:
#   nvme-cli-tests  nvme-cli's own test suite (tests/ of the Debian source
#                   package, the nvme-cli the guest runs) and nose2 with
#                   the pure-Python packages it needs, unpacked from the
#                   Debian archive: pylib/ goes on PYTHONPATH, bin/nose2-3
#                   runs it.
#   trace-tools     perf (linux-perf) and bpftrace with the libraries the
#                   guest image lacks, unpacked from the Debian archive
#                   into root/: the trace suite runs them with
#                   LD_LIBRARY_PATH=root/usr/lib/x86_64-linux-gnu.

set -euo pipefail

# shellcheck source=scripts/common.sh
. "$(dirname "$0")/common.sh"

[[ $# -eq 1 ]] || die "usage: $0 NAME"
NAME=$1
DIR=$LAB_BUILD/extras/$NAME

if [[ -f $DIR/.ready ]]; then
	echo "$DIR"
	exit 0
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cnvme-extras.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# fetch CMD...: apt-get once more after an update when the lists are stale.
fetch() {
	(cd "$tmp" && "$@") >"$tmp/apt.log" 2>&1 && return 0
	apt-get update -qq >/dev/null 2>&1 || true
	(cd "$tmp" && "$@") >"$tmp/apt.log" 2>&1 ||
		{ tail -n 5 "$tmp/apt.log" >&2; return 1; }
}

case $NAME in
nvme-cli-tests)
	# The same version as the guest's nvme-cli: the host and the guest
	# use the same Debian release.
	# A fresh install has no deb-src entry; fetch() updates the lists
	# when the first try fails.
	lab_ensure_deb_src || true
	fetch apt-get source --download-only nvme-cli ||
		die "apt-get source nvme-cli failed (it needs a deb-src entry in the apt sources)"
	fetch apt-get download python3-nose2 python3-six python3-pkg-resources ||
		die "apt-get download of nose2 and its dependencies failed"
	orig=$(echo "$tmp"/nvme-cli_*.orig.tar.*)
	[[ -f $orig ]] || die "no nvme-cli orig tarball in the source package"
	mkdir -p "$tmp/src" "$tmp/py" "$DIR.tmp"
	tar -xf "$orig" -C "$tmp/src"
	src=$(echo "$tmp"/src/nvme-cli-*)
	[[ -d $src/tests ]] || die "the nvme-cli source has no tests/"
	for deb in "$tmp"/*.deb; do
		dpkg -x "$deb" "$tmp/py"
	done
	rm -rf "$DIR.tmp"
	mkdir -p "$DIR.tmp/bin"
	cp -a "$src/tests" "$DIR.tmp/tests"
	cp -a "$tmp/py/usr/lib/python3/dist-packages" "$DIR.tmp/pylib"
	install -m 0755 "$tmp/py/usr/bin/nose2-3" "$DIR.tmp/bin/nose2-3"
	basename "$orig" >"$DIR.tmp/version"
	;;
trace-tools)
	fetch apt-get download linux-perf bpftrace libbpfcc libbpf1 libclang1-14 \
		libllvm14 libz3-4 libbabeltrace1 libopencsd1 libperl5.36 \
		libpython3.11 libslang2 libunwind8 libnuma1 libdw1 libelf1 libcap2 \
		libglib2.0-0 ||
		die "apt-get download of perf, bpftrace and their libraries failed"
	rm -rf "$DIR.tmp"
	mkdir -p "$DIR.tmp/root"
	for deb in "$tmp"/*.deb; do
		dpkg -x "$deb" "$DIR.tmp/root"
	done
	[[ -x $DIR.tmp/root/usr/bin/perf && -x $DIR.tmp/root/usr/bin/bpftrace ]] ||
		die "no perf or bpftrace in the unpacked packages"
	;;
*)
	die "unknown extra '$NAME'"
	;;
esac

touch "$DIR.tmp/.ready"
rm -rf "$DIR"
mv "$DIR.tmp" "$DIR"
log "extras: $NAME ready in ${DIR#"$LAB_ROOT"/}"
echo "$DIR"
