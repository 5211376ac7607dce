#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Who may send what: the answers of the NVMe ioctls, by user and open mode.

    nvme_perm.py MODE CTRL NODE...

MODE is user-ro or user-rw (run this as an unprivileged user with access
to the nodes, which are opened read-only or read-write) or root (opened
read-only: CAP_SYS_ADMIN does not care).  CTRL is the controller node
(/dev/nvme0), each NODE a namespace node (block or generic) of nsid 1.

Every operation's answer (ok, an errno name, "status" for an NVMe error
status, or the value NVME_IOCTL_ID returns) is printed next to the answer
the stock driver gives, which is what the table below holds: the rules of
stock 6.12's nvme_cmd_allowed() applied to the QEMU 7.2 controller, whose
Commands Supported and Effects log marks Read, Compare and Verify as
supported, and Write, Flush, Write Zeroes, Dataset Management and Copy as
supported and changing logical blocks.  Exit status 1 on any difference.
Writes go to LBA 1,000,000 and up.
"""

import os
import sys

from nvmeio import (Device, IOC_OPAL_GET_STATUS, NVME_IOCTL_ADMIN64_CMD,
                    NVME_IOCTL_IO64_CMD, NVME_IOCTL_RESCAN, NVME_IOCTL_RESET,
                    NVME_IOCTL_SUBSYS_RESET, NVME_IOCTL_ID, ioctl, outcome)

SLBA = 1000000
MODES = ("user-ro", "user-rw", "root")


def E(ro, rw=None, root=None):
    """Expected answers: for user-ro, user-rw (default: as ro), root."""
    rw = ro if rw is None else rw
    root = rw if root is None else root
    return dict(zip(MODES, (ro, rw, root)))


ALL_OK = E("ok")
ADMIN_ONLY = E("EACCES", "EACCES", "ok")
NEEDS_WRITE = E("EACCES", "ok", "ok")

# (name, expected, function(dev)) on the controller node.
CTRL_OPS = [
    ("identify-ctrl", ALL_OK,
     lambda d: d.admin(0x06, 4096, cdw=(1, 0, 0, 0, 0, 0))),
    ("identify-ns", ALL_OK,
     lambda d: d.admin(0x06, 4096, nsid=1, cdw=(0, 0, 0, 0, 0, 0))),
    # Allowed, so it reaches the controller, which does not know CNS 08h.
    ("identify-ns-cs-indep", E("status"),
     lambda d: d.admin(0x06, 4096, nsid=1, cdw=(8, 0, 0, 0, 0, 0))),
    ("identify-active-ns-list", ADMIN_ONLY,
     lambda d: d.admin(0x06, 4096, cdw=(2, 0, 0, 0, 0, 0))),
    ("get-feature-vwc", ADMIN_ONLY,
     lambda d: d.admin(0x0a, cdw=(6, 0, 0, 0, 0, 0))),
    ("set-feature-vwc", ADMIN_ONLY,
     lambda d: d.admin(0x09, cdw=(6, 1, 0, 0, 0, 0))),
    ("set-feature-num-queues", E("EACCES"),
     lambda d: d.admin(0x09, cdw=(7, 0, 0, 0, 0, 0))),
    ("get-log-smart", ADMIN_ONLY,
     lambda d: d.admin(0x02, 512, nsid=0xffffffff,
                       cdw=(2 | 127 << 16, 0, 0, 0, 0, 0))),
    ("admin-vendor-0xc0", E("EACCES", "EACCES", "status"),
     lambda d: d.admin(0xc0)),
    ("admin64-identify-ctrl", ALL_OK,
     lambda d: d.passthru(NVME_IOCTL_ADMIN64_CMD, is64=True, opcode=0x06,
                          addr=d.data.addr, data_len=4096,
                          cdw=(1, 0, 0, 0, 0, 0))[0]),
    ("io-cmd-read", ALL_OK,
     lambda d: d.io(0x02, 1, 512, cdw=(SLBA, 0, 0, 0, 0, 0))),
    ("io-cmd-write", NEEDS_WRITE,
     lambda d: d.io(0x01, 1, 512, cdw=(SLBA, 0, 0, 0, 0, 0))),
    ("rescan", ADMIN_ONLY, lambda d: ioctl(d.fd, NVME_IOCTL_RESCAN, 0)),
    ("subsys-reset", E("EACCES", "EACCES", "ENOTTY"),
     lambda d: ioctl(d.fd, NVME_IOCTL_SUBSYS_RESET, 0)),
    ("reset", ADMIN_ONLY, lambda d: ioctl(d.fd, NVME_IOCTL_RESET, 0)),
    ("unknown-ioctl", E("ENOTTY"),
     lambda d: ioctl(d.fd, 0x4e4f, d.cmd.addr)),
    ("opal-get-status", E("ENOTTY"),
     lambda d: ioctl(d.fd, IOC_OPAL_GET_STATUS, d.cmd.addr)),
]

# On a namespace node, block device or generic node alike.
NS_OPS = [
    ("id", E("nsid=1"), lambda d: ioctl(d.fd, NVME_IOCTL_ID, 0)),
    ("submit-io-read", ALL_OK, lambda d: d.submit_io(0x02, 0, SLBA)),
    ("submit-io-write", NEEDS_WRITE, lambda d: d.submit_io(0x01, 0, SLBA)),
    ("submit-io-compare", NEEDS_WRITE, lambda d: d.submit_io(0x05, 0, SLBA)),
    ("submit-io-flush", E("EINVAL"), lambda d: d.submit_io(0x00)),
    ("io-read", ALL_OK,
     lambda d: d.io(0x02, 1, 512, cdw=(SLBA, 0, 0, 0, 0, 0))),
    ("io-write", NEEDS_WRITE,
     lambda d: d.io(0x01, 1, 512, cdw=(SLBA + 1, 0, 0, 0, 0, 0))),
    ("io-flush", NEEDS_WRITE, lambda d: d.io(0x00, 1)),
    ("io-write-zeroes", NEEDS_WRITE,
     lambda d: d.io(0x08, 1, cdw=(SLBA + 2, 0, 0, 0, 0, 0))),
    ("io-dsm", NEEDS_WRITE, lambda d: d.io(0x09, 1, 16, cdw=(0, 4, 0, 0, 0, 0))),
    ("io-compare", NEEDS_WRITE,
     lambda d: d.io(0x05, 1, 512, cdw=(SLBA, 0, 0, 0, 0, 0))),
    ("io-verify", ALL_OK,
     lambda d: d.io(0x0c, 1, cdw=(SLBA, 0, 0, 0, 0, 0))),
    ("io-unsupported-0x7e", E("EACCES", "EACCES", "status"),
     lambda d: d.io(0x7e, 1)),
    ("io-vendor-0x81", E("EACCES", "EACCES", "status"),
     lambda d: d.io(0x81, 1)),
    ("io-wrong-nsid", E("EINVAL"), lambda d: d.io(0x02, 2, 512)),
    ("io-flags", E("EINVAL"), lambda d: d.io(0x02, 1, 512, flags=1)),
    ("io-metadata", E("EINVAL"),
     lambda d: d.io(0x02, 1, 512, metadata=d.data.addr + 4096,
                    metadata_len=8)),
    ("io64-read", ALL_OK,
     lambda d: d.passthru(NVME_IOCTL_IO64_CMD, is64=True, opcode=0x02, nsid=1,
                          addr=d.data.addr, data_len=512,
                          cdw=(SLBA, 0, 0, 0, 0, 0))[0]),
    ("admin-identify-ctrl", ALL_OK,
     lambda d: d.admin(0x06, 4096, cdw=(1, 0, 0, 0, 0, 0))),
    ("admin-get-log-smart", ADMIN_ONLY,
     lambda d: d.admin(0x02, 512, nsid=0xffffffff,
                       cdw=(2 | 127 << 16, 0, 0, 0, 0, 0))),
    ("opal-get-status", E("EACCES", "EACCES", "EOPNOTSUPP"),
     lambda d: ioctl(d.fd, IOC_OPAL_GET_STATUS, d.cmd.addr)),
    ("unknown-ioctl", E("ENOTTY"),
     lambda d: ioctl(d.fd, 0x4e4f, d.cmd.addr)),
]


def run(mode, path, ops):
    bad = 0
    flags = os.O_RDWR if mode == "user-rw" else os.O_RDONLY
    dev = Device(path, flags)
    for name, expected, fn in ops:
        ret = fn(dev)
        got = "nsid=%d" % ret if name == "id" and ret > 0 else outcome(ret)
        want = expected[mode]
        mark = "" if got == want else "   <-- stock: " + want
        bad += got != want
        print("%-14s %-24s %-10s%s" % (path, name, got, mark))
    dev.close()
    return bad


def main():
    if len(sys.argv) < 4 or sys.argv[1] not in MODES:
        sys.exit(__doc__)
    mode, ctrl, nodes = sys.argv[1], sys.argv[2], sys.argv[3:]
    if (os.geteuid() == 0) != (mode == "root"):
        sys.exit("mode %s does not match euid %d" % (mode, os.geteuid()))
    bad = run(mode, ctrl, CTRL_OPS)
    for node in nodes:
        bad += run(mode, node, NS_OPS)
    print("%s: %d answer(s) differ from the stock driver's" % (mode, bad))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
