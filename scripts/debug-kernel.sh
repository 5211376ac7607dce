#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The lab's debug kernel (KERNEL=debug; Documentation/testing.rst, "The
# debug kernel"): Debian's linux-source-6.12 -- the upstream version the
# lab's Debian kernel is built from -- configured with
# "make x86_64_defconfig" plus scripts/debug-kernel.config (KASAN,
# lockdep, DMA-API debugging, kmemleak, debug objects, fault injection and
# what the lab's guests need), built once and installed like host-setup.sh
# installs Debian's kernel: vmlinuz, config and lib/modules/$KVER
# (depmod'ed) in build/kernel/$KVER/, which guest-image.sh and lab.sh use
# unchanged once KERNEL=debug makes lab_kver name it.
#
#   scripts/debug-kernel.sh           build it unless cached; print KVER
#   scripts/debug-kernel.sh module    also build cnvme.ko against it, in a
#                                     copy of the sources under
#                                     build/debug-kernel/cnvme/ (this
#                                     tree's own build products stay as
#                                     they are); print the module's path
#
# KVER is 6.12.N-cnvme-debug-HASH, HASH covering the fragment and the
# source package's version (lab_debug_kver in common.sh): either changing
# makes a new kernel.  The source tree in build/debug-kernel/ stays: it is
# the KDIR cnvme is built against, and make rebuilds only what a changed
# configuration touches.  The build runs under "nice -n 19", with
# JOBS=N parallel jobs (default: the number of CPUs); its log is
# build/debug-kernel/build.log.

set -euo pipefail

# shellcheck source=scripts/common.sh
. "$(dirname "$0")/common.sh"

MODE=${1:-kernel}
[[ $MODE == kernel || $MODE == module ]] || die "usage: $0 [module]"

KVER=$(lab_debug_kver) || exit 1
KDIR=$(lab_kernel_dir "$KVER")
SRC=$LAB_DEBUG_SRC
TOP=$LAB_BUILD/debug-kernel
TARBALL=/usr/src/linux-source-6.12.tar.xz
JOBS=${JOBS:-$(nproc)}
mkdir -p "$TOP"

# One build at a time per checkout; a second caller finds it done.
exec 8>"$TOP/.lock"
flock 8

# kmake TARGET...: make in the source tree, niced, output to the log.
kmake() {
	echo "+ make $*" >>"$TOP/build.log"
	nice -n 19 make -C "$SRC" -j"$JOBS" "$@" >>"$TOP/build.log" 2>&1 || {
		tail -n 30 "$TOP/build.log" >&2
		die "make $* failed; whole log: ${TOP#"$LAB_ROOT"/}/build.log"
	}
}

# The fragment's settings that the final .config does not have: kconfig
# drops a value whose dependencies are missing without a word.
config_mismatches() {
	local line opt want
	while read -r line; do
		if [[ $line =~ ^(CONFIG_[A-Z0-9_]+)=(.*)$ ]]; then
			opt=${BASH_REMATCH[1]} want=$line
		elif [[ $line =~ ^#\ (CONFIG_[A-Z0-9_]+)\ is\ not\ set$ ]]; then
			opt=${BASH_REMATCH[1]} want=
		else
			continue
		fi
		if [[ -z $want ]]; then
			! grep -q "^$opt=" "$SRC/.config" || grep "^$opt=" "$SRC/.config"
		else
			grep -qxF "$want" "$SRC/.config" || echo "$want (have: $(grep "^$opt=" "$SRC/.config" || echo unset))"
		fi
	done <"$LAB_DEBUG_CONFIG"
}

build_kernel() {
	local ver start

	ver=$(dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null) ||
		die "no linux-source-6.12: run scripts/host-setup.sh"
	[[ -f $TARBALL ]] || die "no $TARBALL: run scripts/host-setup.sh"
	start=$SECONDS
	if [[ $(cat "$TOP/source" 2>/dev/null) != "$ver" ]]; then
		log "unpacking $TARBALL ($ver)"
		rm -rf "$SRC" "$TOP/source"
		tar -xJf "$TARBALL" -C "$TOP"
		printf '%s\n' "$ver" >"$TOP/source"
	fi
	[[ $(make -s -C "$SRC" kernelversion) == "${ver%%-*}" ]] ||
		die "$TARBALL is $(make -s -C "$SRC" kernelversion), its package says $ver"

	: >"$TOP/build.log"
	log "configuring $KVER (log: ${TOP#"$LAB_ROOT"/}/build.log)"
	kmake x86_64_defconfig
	(cd "$SRC" && ./scripts/kconfig/merge_config.sh -m .config "$LAB_DEBUG_CONFIG") \
		>>"$TOP/build.log" 2>&1 || die "merge_config.sh failed"
	"$SRC/scripts/config" --file "$SRC/.config" --set-str LOCALVERSION "${KVER#"${ver%%-*}"}"
	kmake olddefconfig
	local bad
	bad=$(config_mismatches)
	[[ -z $bad ]] || die "scripts/debug-kernel.config: not in the final .config:"$'\n'"$bad"

	log "building $KVER: make -j$JOBS bzImage modules, niced (some 45 minutes when cold)"
	kmake bzImage modules
	# The release is known once the build has read the configuration.
	[[ $(make -s -C "$SRC" kernelrelease) == "$KVER" ]] ||
		die "the tree says $(make -s -C "$SRC" kernelrelease), expected $KVER"
	log "built in $((SECONDS - start)) s"

	local tmp=$KDIR.tmp
	rm -rf "$tmp"
	mkdir -p "$tmp"
	cp "$SRC/arch/x86/boot/bzImage" "$tmp/vmlinuz"
	cp "$SRC/.config" "$tmp/config"
	kmake modules_install INSTALL_MOD_PATH="$tmp" INSTALL_MOD_STRIP=1
	# The links back to this tree mean nothing in a guest.
	rm -f "$tmp/lib/modules/$KVER/build" "$tmp/lib/modules/$KVER/source"
	depmod -b "$tmp" "$KVER"
	printf 'debug kernel %s, built from %s in %s s\n' "$KVER" "$ver" "$((SECONDS - start))" \
		>"$tmp/.ready"
	rm -rf "$KDIR"
	mv "$tmp" "$KDIR"
	log "debug kernel $KVER: installed into ${KDIR#"$LAB_ROOT"/}"
}

# The tree must match the installed kernel too: a cached kernel whose tree
# was reconfigured for another fragment since gets it back.  Booting the
# kernel needs no tree (stock's boots, a checkout given build/kernel/
# only); building cnvme.ko does.
tree=$(make -s -C "$SRC" kernelrelease 2>/dev/null) || tree=
if [[ ! -f $KDIR/.ready ]] ||
	{ [[ -n $tree || $MODE == module ]] && [[ $tree != "$KVER" ]]; }; then
	build_kernel
fi

if [[ $MODE == kernel ]]; then
	echo "$KVER"
	exit 0
fi

# cnvme.ko for this kernel, built in a copy of the module's sources:
# Kbuild writes its products next to the sources, and this tree's own
# build (Debian's kernel, make lint) must not see them.  tar keeps the
# modification times, so make rebuilds only what changed.
OBJ=$TOP/cnvme
mkdir -p "$OBJ"
(cd "$LAB_ROOT" && find Kbuild Kconfig drivers include -type f \
	\( -name '*.[ch]' -o -name Kbuild -o -name Kconfig -o -name Makefile \) -print0 |
	tar --null -cf - -T -) | tar -xf - -C "$OBJ"
log "building cnvme.ko for $KVER in ${OBJ#"$LAB_ROOT"/}"
nice -n 19 make -C "$SRC" M="$OBJ" -j"$JOBS" modules >"$TOP/module.log" 2>&1 || {
	tail -n 30 "$TOP/module.log" >&2
	die "building cnvme.ko failed; whole log: ${TOP#"$LAB_ROOT"/}/module.log"
}
echo "$OBJ/drivers/block/cnvme/cnvme.ko"
