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

# lab_install PACKAGE...: apt-get install those not installed yet (apt's
# chatter on stderr: some callers print a result on stdout).  The package
# lists are updated once per script, and again after
# lab_ensure_deb_src added an entry.
LAB_APT_UPDATED=
lab_installed() {
	[[ $(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null) == installed ]]
}
# apt's and dpkg's own lines go to build/logs/apt.log, shown on failure.
LAB_APT_LOG=$LAB_BUILD/logs/apt.log
lab_apt() { # APT-GET-ARGS...
	mkdir -p "${LAB_APT_LOG%/*}"
	echo "+ apt-get $*" >>"$LAB_APT_LOG"
	if ! DEBIAN_FRONTEND=noninteractive apt-get "$@" >>"$LAB_APT_LOG" 2>&1 </dev/null; then
		tail -n 20 "$LAB_APT_LOG" >&2
		die "apt-get $1 failed; whole log: $LAB_APT_LOG"
	fi
}
lab_apt_update() {
	[[ -n $LAB_APT_UPDATED ]] && return 0
	log "apt-get update"
	lab_apt update -q
	LAB_APT_UPDATED=1
}
lab_install() {
	local p missing=()

	for p in "$@"; do
		lab_installed "$p" || missing+=("$p")
	done
	if ((${#missing[@]} == 0)); then
		log "host packages: all $# present"
		return 0
	fi
	lab_apt_update
	log "installing: ${missing[*]} (log: ${LAB_APT_LOG#"$LAB_ROOT"/})"
	lab_apt install -y -q --no-install-recommends "${missing[@]}"
}

# The kernel version the lab boots.  KERNEL=debug: the debug kernel
# scripts/debug-kernel.sh builds (lab_debug_kver).  Otherwise Debian's:
# whatever linux-headers-6.12-amd64 depends on, installed (then its
# headers are the host's) or else in the archive (host-setup.sh unpacks
# those headers into build/headers/), so an archive update moves the lab
# with it.
lab_kver() {
	local dep

	case ${KERNEL:-debian} in
	debian) ;;
	debug) lab_debug_kver; return ;;
	*) log "error: KERNEL=$KERNEL: debian (the default) or debug"; return 1 ;;
	esac
	dep=$(dpkg-query -W -f='${db:Status-Status} ${Depends}' linux-headers-6.12-amd64 2>/dev/null) ||
		dep=
	if [[ $dep == installed\ * ]]; then
		dep=${dep#installed }
	else
		dep=$(apt-cache depends linux-headers-6.12-amd64 2>/dev/null |
			sed -n 's/^ *Depends: //p' | head -n 1)
	fi
	dep=${dep%%[ ,]*}
	[[ $dep == linux-headers-* ]] || return 1
	printf '%s\n' "${dep#linux-headers-}"
}

# The debug kernel's build tree (Debian's linux-source-6.12 unpacked), its
# config fragment, and its version: the source's upstream version, then a
# hash of the fragment and of the source package's version, so that a
# change of either names a new kernel (a new guest image, a rebuilt
# cnvme.ko) and "cnvme-debug" tells it from Debian's in every log.
LAB_DEBUG_SRC=$LAB_BUILD/debug-kernel/linux-source-6.12
LAB_DEBUG_CONFIG=$LAB_ROOT/scripts/debug-kernel.config
lab_debug_kver() {
	local ver key

	ver=$(dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null) || {
		log "error: no linux-source-6.12: run scripts/host-setup.sh"
		return 1
	}
	key=$({ printf 'linux-source-6.12 %s\n' "$ver"; cat "$LAB_DEBUG_CONFIG"; } |
		sha256sum | cut -c1-8)
	printf '%s-cnvme-debug-%s\n' "${ver%%-*}" "$key"
}

# Where host-setup.sh unpacks the Debian kernel image for $1, or
# debug-kernel.sh installs the debug kernel.
lab_kernel_dir() { printf '%s/kernel/%s\n' "$LAB_BUILD" "$1"; }

# The kernel build tree for $1: the installed headers' when there are
# some, else those host-setup.sh unpacked into build/headers/$1/.
lab_headers_dir() {
	if [[ $1 == *-cnvme-debug-* ]]; then
		printf '%s\n' "$LAB_DEBUG_SRC"
	elif [[ -f /usr/src/linux-headers-$1/Makefile ]]; then
		printf '/usr/src/linux-headers-%s\n' "$1"
	else
		printf '%s/headers/%s/root/usr/src/linux-headers-%s\n' "$LAB_BUILD" "$1" "$1"
	fi
}

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
# next lab_apt_update then runs again), 1 when one was there.
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
	LAB_APT_UPDATED=
	return 0
}
