# SPDX-License-Identifier: GPL-2.0
#
# User entry points for cnvme.  The kernel build itself reads ./Kbuild.
#
#   make            build drivers/block/cnvme/cnvme.ko
#   make lint       W=1 -Werror, sparse, checkpatch, kernel-doc, Kconfig,
#                   shellcheck, docutils on Documentation/, parameters vs modinfo
#   make run        boot a guest, load cnvme, show it working
#   make check      the host tests (tests/host/), then every suite on every
#                   device profile (DRIVER=stock, SUITES=, PROFILES=,
#                   RUNS="suite@profile ..." narrow it down; HOST_TESTS=0
#                   skips the host tests)
#   make check KERNEL=debug, make run KERNEL=debug
#                   the same on the debug kernel: KASAN, lockdep, DMA-API
#                   debugging, kmemleak (built once: 45 min cold here;
#                   Documentation/testing.rst "The debug kernel")
#   make debug-kernel  build that kernel (scripts/debug-kernel.sh)
#   make deb        build/deb/cnvme-dkms_<version>_all.deb (DKMS package)
#   make dkms-install  install the module with DKMS for every 6.12 kernel
#                   whose headers are installed (no package)
#   make dkms-remove   undo make dkms-install
#   make bench      stock nvme vs cnvme vs null_blk: IOPS and instructions
#                   per I/O (Documentation/benchmarks.rst; ~25 min)
#   make mutants    break the driver on purpose (tests/mutants/*.patch) and
#                   check each suite notices (MUTANTS= picks some;
#                   Documentation/testing.rst)
#   make clean      remove every build product
#   make distclean  also remove build/ (cached guest kernel and image)

# The running kernel's build tree when it exists, else Debian's installed
# 6.12 headers, else those scripts/host-setup.sh unpacked into build/headers/.
KDIR ?= $(firstword $(wildcard /lib/modules/$(shell uname -r)/build) \
		    $(lastword $(sort $(wildcard /lib/modules/6.12.*-amd64/build))) \
		    $(lastword $(sort $(wildcard $(CURDIR)/build/headers/6.12.*/root/usr/src/linux-headers-6.12.*-amd64))))

DRIVER ?= cnvme
# debug: the lab's debug kernel instead of Debian's, and cnvme.ko built
# for it in build/debug-kernel/cnvme/ (scripts/debug-kernel.sh).
KERNEL ?=
export KDIR DRIVER KERNEL

.PHONY: all modules lint run check bench mutants clean distclean help host-setup guest-image \
	lab-deps deb dkms-install dkms-remove debug-kernel

all: modules

ifeq ($(KERNEL),debug)
modules:
	scripts/debug-kernel.sh module
else
modules:
	@test -n "$(KDIR)" || { echo "no kernel build tree: run scripts/host-setup.sh or set KDIR=" >&2; exit 1; }
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules
endif

# scripts/lint.sh [DIR]: LINT_STEPS= picks steps, logs in build/lint/logs/.
lint:
	@test -n "$(KDIR)" || { echo "no kernel build tree: run scripts/host-setup.sh or set KDIR=" >&2; exit 1; }
	$(CURDIR)/scripts/lint.sh

# The lab (README.md "The lab"): scripts/lab.sh SUITE PROFILE boots one
# guest; these targets prepare the host, the guest and the module first.
host-setup:
	scripts/host-setup.sh

debug-kernel: host-setup
	scripts/debug-kernel.sh >/dev/null

guest-image: host-setup $(if $(filter debug,$(KERNEL)),debug-kernel)
	scripts/guest-image.sh >/dev/null

# The module is only needed when it is the driver under test.  KDIR may have
# been empty when this make started on a fresh host (host-setup installs
# the headers), so let the sub-make look for it again.
lab-deps: guest-image
	@if [ "$(DRIVER)" = cnvme ]; then $(if $(KDIR),,env -u KDIR) $(MAKE) modules; fi

# One progress line per step and a short report (scripts/run.sh); V=1
# shows every tool's output and the guest console.
run:
	@scripts/run.sh

check: lab-deps
	tests/check.sh

# DKMS and the Debian package (README.md "Installing").
deb:
	scripts/deb.sh

dkms-install:
	scripts/dkms.sh install

dkms-remove:
	scripts/dkms.sh remove

# scripts/bench.sh prepares everything it needs itself (host packages, guest,
# cnvme.ko, the TCG plugin); ROUNDS=, RUNTIME=, REPS=, BENCH_BOOTS= adjust
# it.  Results in out/bench/.
bench:
	scripts/bench.sh

# scripts/mutants.sh builds each mutant in a copy of the tree and boots
# its suite; results in out/mutants/.
mutants: guest-image
	scripts/mutants.sh

clean:
	@if [ -n "$(KDIR)" ]; then $(MAKE) -C $(KDIR) M=$(CURDIR) clean; fi
	rm -rf build/obj build/run build/deb build/host out
	find . -path ./build -prune -o \( -name '*.o' -o -name '*.ko' -o -name '*.mod' \
		-o -name '*.mod.c' -o -name '.*.cmd' -o -name '*.order' -o -name '*.symvers' \) \
		-print0 | xargs -0 rm -f

distclean: clean
	rm -rf build

help:
	@sed -n 's/^#   //p' Makefile
