#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make deb: build the cnvme-dkms package from this tree (tracked and
# untracked-but-not-ignored files as they are on disk) in
# build/deb/cnvme-<version>/ and run lintian on it.  Prints the path of
# the .deb on stdout; the build's and lintian's output go to
# build/deb/build.log and build/deb/lintian.log.
#
#   DEB_LINTIAN=0   skip lintian (the host test runs it itself)
#
# Installs its build dependencies (debhelper, dh-dkms, lintian) when
# missing, without recommends.

set -euo pipefail

# shellcheck source=scripts/common.sh
. "$(dirname "$0")/common.sh"

OUT=$LAB_BUILD/deb
v=$("$LAB_ROOT/scripts/dkms.sh" version)
cl=$(dpkg-parsechangelog -l "$LAB_ROOT/debian/changelog" -S Version)
[[ $cl == "$v" ]] ||
	die "debian/changelog says $cl, drivers/block/cnvme/cnvme.h says $v: make them agree"

if [[ $(id -u) -eq 0 ]]; then
	lab_install debhelper dh-dkms dkms lintian
else
	for p in debhelper dh-dkms lintian; do
		lab_installed "$p" || die "$p missing: run as root or apt-get install --no-install-recommends $p"
	done
fi

src=$OUT/cnvme-$v
rm -rf "$OUT"
mkdir -p "$src"
# The tree as it is on disk, without build products or other checkouts' state.
if git -C "$LAB_ROOT" rev-parse --git-dir >/dev/null 2>&1; then
	files=()
	while IFS= read -r -d '' f; do
		# A tracked file deleted in the work tree is not part of it.
		[[ -e $LAB_ROOT/$f ]] && files+=("$f")
	done < <(git -C "$LAB_ROOT" ls-files -z --cached --others --exclude-standard)
	tar -C "$LAB_ROOT" -cf - -- "${files[@]}" | tar -C "$src" -xf -
else
	tar -C "$LAB_ROOT" --exclude=./build --exclude=./out -cf - . | tar -C "$src" -xf -
fi

log "dpkg-buildpackage (log: ${OUT#"$LAB_ROOT"/}/build.log)"
if ! (cd "$src" && dpkg-buildpackage -b -us -uc) >"$OUT/build.log" 2>&1; then
	tail -n 20 "$OUT/build.log" >&2
	die "dpkg-buildpackage failed; whole log: $OUT/build.log"
fi
deb=$OUT/cnvme-dkms_${v}_all.deb
[[ -f $deb ]] || die "no ${deb##*/} after the build"
if [[ ${DEB_LINTIAN:-1} != 0 ]]; then
	lintian --allow-root --info --display-info --pedantic "$OUT"/cnvme_"$v"_*.changes >"$OUT/lintian.log" 2>&1 || true
	if [[ -s $OUT/lintian.log ]]; then
		log "lintian:"
		sed 's/^/  /' "$OUT/lintian.log" >&2
	else
		log "lintian: no tags"
	fi
fi
echo "$deb"
