# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Helpers shared by the lab scripts.  Sourced, never run.

LAB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LAB_BUILD=$LAB_ROOT/build
# shellcheck disable=SC2034 # used by the scripts that source this
LAB_OUT=$LAB_ROOT/out

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# The kernel version the lab boots: whatever linux-headers-6.12-amd64
# currently depends on, so an archive update moves the lab with it.
lab_kver() {
	local dep
	dep=$(dpkg-query -W -f='${Depends}' linux-headers-6.12-amd64 2>/dev/null) ||
		return 1
	dep=${dep%%[ ,]*}
	[[ $dep == linux-headers-* ]] || return 1
	printf '%s\n' "${dep#linux-headers-}"
}

# Where host-setup.sh unpacks the Debian kernel image for $1.
lab_kernel_dir() { printf '%s/kernel/%s\n' "$LAB_BUILD" "$1"; }

# Files whose content defines the guest image, besides KVER.
lab_guest_recipe_files() {
	printf '%s\n' "$LAB_ROOT/scripts/guest-image.sh" \
		"$LAB_ROOT/tests/guest/init" \
		"$LAB_ROOT/tests/guest/initramfs-init"
}

# The cache key of the guest image for kernel $1.
lab_guest_hash() {
	local f
	{
		printf 'kver %s\n' "$1"
		while read -r f; do
			printf '%s %s\n' "${f#"$LAB_ROOT"/}" "$(sha256sum <"$f")"
		done < <(lab_guest_recipe_files)
	} | sha256sum | cut -c1-16
}

lab_guest_dir() { printf '%s/guest/%s\n' "$LAB_BUILD" "$(lab_guest_hash "$1")"; }

# lab_ensure_deb_src: "apt-get source" needs a deb-src entry, which a
# fresh Debian install lacks.  Add a deb-src twin of the main archive's
# entry unless some source entry exists.  Returns 0 when it added one (the
# package lists then need an "apt-get update"), 1 when one was there.
lab_ensure_deb_src() {
	local list=/etc/apt/sources.list.d/cnvme-deb-src.sources
	local src=/etc/apt/sources.list.d/debian.sources

	grep -rqsE '^[[:space:]]*(Types:.*\<deb-src\>|deb-src[[:space:]])' \
		/etc/apt/sources.list /etc/apt/sources.list.d/ && return 1
	[[ -f $src ]] || die "no $src to derive a deb-src entry from"
	# The first stanza that names the main archive (not -security).
	awk 'BEGIN { RS = ""; ORS = "\n" }
	     /URIs:[^\n]*\/debian([[:space:]]|$)/ && !done {
		sub(/Types:[^\n]*/, "Types: deb-src"); print; done = 1 }' \
		"$src" >"$list.tmp"
	grep -q '^Types: deb-src' "$list.tmp" || die "no main archive entry in $src"
	mv "$list.tmp" "$list"
	log "added $list"
	return 0
}
