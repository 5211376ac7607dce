#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# cnvme and DKMS, without the Debian package:
#
#   scripts/dkms.sh version      print the release (drivers/block/cnvme/cnvme.h)
#   scripts/dkms.sh kernels      the kernel releases DKMS builds for: every
#                                /lib/modules/6.12.*/build, i.e. every
#                                installed 6.12 linux-headers package
#   scripts/dkms.sh src DIR      install the module's sources (Kbuild,
#                                drivers/block/cnvme/ and the tracepoint
#                                header include/trace/events/cnvme.h)
#                                into DIR, as DKMS
#                                wants them under /usr/src/cnvme-<version>;
#                                debian/rules uses it too
#   scripts/dkms.sh install      make dkms-install: the sources into
#                                /usr/src/cnvme-<version>, dkms add, then
#                                dkms install for every kernel above
#   scripts/dkms.sh remove       make dkms-remove: dkms remove --all and
#                                the sources; nothing of cnvme is left
#
# install and remove refuse to touch a tree that the cnvme-dkms package
# owns (make deb): remove the package with apt-get instead.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NAME=cnvme

log() { printf 'dkms.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

version() {
	local v
	v=$(sed -n 's/^#define CNVME_VERSION[[:space:]]*"\([^"]*\)".*/\1/p' \
		"$ROOT/drivers/block/cnvme/cnvme.h")
	[[ -n $v ]] || die "no CNVME_VERSION in drivers/block/cnvme/cnvme.h"
	printf '%s\n' "$v"
}

kernels() {
	local build kver
	for build in /lib/modules/6.12.*/build; do
		[[ -d $build ]] || continue
		kver=${build#/lib/modules/}
		printf '%s\n' "${kver%/build}"
	done
}

# src DIR: the files kbuild needs for M=DIR, nothing generated.
src() {
	local dir=$1 f files=()
	for f in "$ROOT"/drivers/block/cnvme/{Makefile,Kconfig,*.c,*.h}; do
		[[ $f == *.mod.c ]] || files+=("$f")
	done
	install -d "$dir/drivers/block/cnvme" "$dir/include/trace/events"
	install -m 0644 "$ROOT/Kbuild" "$dir/"
	install -m 0644 "${files[@]}" "$dir/drivers/block/cnvme/"
	install -m 0644 "$ROOT/include/trace/events/cnvme.h" "$dir/include/trace/events/"
}

# The package's files are on disk in every state but these.
packaged() {
	local s
	s=$(dpkg-query -W -f='${db:Status-Status}' "$NAME-dkms" 2>/dev/null) || s=
	[[ -n $s && $s != not-installed && $s != config-files ]]
}

need_root() {
	[[ $(id -u) -eq 0 ]] || die "run as root"
	command -v dkms >/dev/null || die "dkms is not installed (apt-get install --no-install-recommends dkms)"
	if packaged; then
		die "the $NAME-dkms package is installed: apt-get remove $NAME-dkms first"
	fi
}

install_all() {
	local v kver n=0
	v=$(version)
	need_root
	remove_all
	src "/usr/src/$NAME-$v"
	sed "s/#MODULE_VERSION#/$v/" "$ROOT/dkms.conf" >"/usr/src/$NAME-$v/dkms.conf"
	dkms add -m "$NAME" -v "$v"
	while read -r kver; do
		dkms install -m "$NAME" -v "$v" -k "$kver"
		n=$((n + 1))
	done < <(kernels)
	((n > 0)) || log "warning: no linux-headers-6.12 package installed: nothing built (dkms builds when one is installed)"
	dkms status -m "$NAME"
}

remove_all() {
	local v
	need_root
	for v in $(dkms status -m "$NAME" 2>/dev/null | sed -n "s|^$NAME/\([^,:]*\).*|\1|p" | sort -u); do
		dkms remove -m "$NAME" -v "$v" --all
	done
	rm -rf "/usr/src/$NAME-"* "/var/lib/dkms/$NAME"
}

case ${1:-} in
version) version ;;
kernels) kernels ;;
src)
	[[ $# -eq 2 ]] || die "usage: $0 src DIR"
	src "$2"
	;;
install) install_all ;;
remove) remove_all ;;
*)
	echo "usage: $0 version|kernels|src DIR|install|remove" >&2
	exit 2
	;;
esac
