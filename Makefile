# SPDX-License-Identifier: GPL-2.0
#
# User entry points for cnvme.  The kernel build itself reads ./Kbuild.
#
#   make            build drivers/block/cnvme/cnvme.ko
#   make lint       W=1 -Werror, sparse, checkpatch, kernel-doc, Kconfig
#   make run        boot a guest, load cnvme, show it working
#   make check      every suite on every device profile
#   make clean      remove every build product

# The running kernel's build tree when it exists, else Debian's 6.12 headers.
KDIR ?= $(firstword $(wildcard /lib/modules/$(shell uname -r)/build) \
		    $(lastword $(sort $(wildcard /lib/modules/6.12.*-amd64/build))))

DRIVER ?= cnvme
export KDIR DRIVER

.PHONY: all modules lint run check clean help

all: modules

modules:
	@test -n "$(KDIR)" || { echo "no kernel build tree: run scripts/host-setup.sh or set KDIR=" >&2; exit 1; }
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

# scripts/lint.sh [DIR]: LINT_STEPS= picks steps, logs in build/lint/logs/.
lint:
	@test -n "$(KDIR)" || { echo "no kernel build tree: run scripts/host-setup.sh or set KDIR=" >&2; exit 1; }
	$(CURDIR)/scripts/lint.sh

clean:
	@if [ -n "$(KDIR)" ]; then $(MAKE) -C $(KDIR) M=$(CURDIR) clean; fi
	rm -rf build/obj out
	find . -path ./build -prune -o \( -name '*.o' -o -name '*.ko' -o -name '*.mod' \
		-o -name '*.mod.c' -o -name '.*.cmd' -o -name '*.order' -o -name '*.symvers' \) \
		-print0 | xargs -0 rm -f

help:
	@sed -n 's/^#   //p' Makefile
