#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Hostile ioctls on NVMe nodes.

    nvme_fuzz.py [--seed N] [--count N] [--mode ro|rw|root]
                 [--zero-buffer-io] CTRL NODE...

Sends COUNT ioctls, spread over the controller node CTRL and the namespace
nodes, with random command numbers (the NVMe ones, mangled ones and
arbitrary ones), opcodes, command dwords, NSIDs, flags, lengths, LBAs and
pointers: NULL, kernel, non-canonical, unmapped, read-only, misaligned, and
buffers that run into a guard page.  The kernel must answer each with a
value or an errno and survive; the caller checks the kernel log and the
data afterwards.

--mode ro and rw are for an unprivileged user (nodes opened read-only or
read-write); everything is random, the permission checks are what is
tested.  --mode root skips what root may legitimately do to a controller
but what no test wants: resets (tested separately), queue management,
Abort, Asynchronous Event Requests (they wait for their timeout),
Namespace Management and Attachment, Doorbell Buffer Config, Format,
Sanitize, Set Features, and vendor/fabrics admin opcodes.  On the I/O
queues everything goes, writes included.

Root's admin commands keep their transfers within one page: the admin
queue takes PRPs only, and with PRPs no driver can stop a controller
that moves more data than the buffer holds.  For the same reason I/O
commands without a buffer are sent only with small block counts, unless
--zero-buffer-io: cnvme sends those as an empty SGL, which the controller
refuses; the stock driver sends PRP entries of zero.

Prints a summary of the answers; exit status 0 unless Python itself failed.
"""

import argparse
import collections
import os
import random
import struct

from nvmeio import (Device, Mem, NVME_IOCTLS, PAGE, PROT_READ, ioctl,
                    outcome, pack_passthru, pack_user_io)

DATA = 1 << 20
ADMIN_DENY = {0x00, 0x01, 0x04, 0x05, 0x08, 0x09, 0x0c, 0x0d, 0x10, 0x11,
              0x15, 0x18, 0x1c, 0x7c, 0x7f, 0x80, 0x81, 0x84}
ROOT_SKIP = {"RESET", "SUBSYS_RESET"}
LENGTHS = [0, 1, 3, 4, 511, 512, 513, 4095, 4096, 4097, 8192, 65536,
           131072, 524288, 524289, 1 << 20, 16 << 20, 0xffffffff]


class Fuzzer:
    def __init__(self, args):
        self.rnd = random.Random(args.seed)
        self.mode = args.mode
        self.zero_io = args.zero_buffer_io
        flags = os.O_RDWR if args.mode != "ro" else os.O_RDONLY
        self.ctrl = Device(args.ctrl, flags, DATA)
        self.nodes = [Device(n, flags, DATA) for n in args.nodes]
        # Pointers: a data area with a guard page behind it, a read-only
        # page, and a hole.
        self.mem = Mem(DATA + 3 * PAGE)
        self.mem.protect(DATA, PAGE, 0)
        self.mem.protect(DATA + PAGE, PAGE, PROT_READ)
        self.mem.unmap(DATA + 2 * PAGE, PAGE)
        # The data area stays zero (but for iovec arrays): a controller
        # that takes a PRP-described buffer for a PRP list then finds
        # entries of zero, never addresses from this test.
        self.stats = collections.Counter()

    def pointer(self):
        r = self.rnd.random()
        base = self.mem.addr
        if r < 0.45:
            return base + self.rnd.randrange(0, DATA, PAGE)
        if r < 0.6:
            return base + self.rnd.randrange(1, DATA)
        choices = [0, 1, 0x1000, base + DATA - self.rnd.randrange(1, 8192),
                   base + DATA + PAGE, base + DATA + 2 * PAGE,
                   0xffffffff81000000, 0xffff888000000000,
                   0x8000000000000000, 0x00007ffffffff000]
        return self.rnd.choice(choices)

    def length(self):
        if self.rnd.random() < 0.2:
            return self.rnd.getrandbits(32)
        return self.rnd.choice(LENGTHS)

    def dword(self):
        r = self.rnd.random()
        if r < 0.3:
            return 0
        if r < 0.6:
            return self.rnd.randrange(0, 256)
        return self.rnd.getrandbits(32)

    def request(self):
        """An ioctl number and its name, or None for an arbitrary one."""
        names = list(NVME_IOCTLS)
        if self.mode == "root":
            names = [n for n in names if n not in ROOT_SKIP]
        r = self.rnd.random()
        if r < 0.8:
            name = self.rnd.choice(names)
            return NVME_IOCTLS[name], name
        if r < 0.9:
            # Right type, wrong number, size or direction.
            req = (self.rnd.getrandbits(2) << 30 | self.rnd.getrandbits(14) << 16
                   | ord("N") << 8 | self.rnd.randrange(0x38, 0x58))
        else:
            req = self.rnd.getrandbits(32)
            # Leave the block layer's and the VFS's own ioctls alone
            # (BLK*, loop, FIFREEZE and friends, FS_IOC_*, FICLONE).
            if (req >> 8) & 0xff in (0x12, 0x4c, 0x58, 0x66, 0x94):
                req &= ~0xff00
        for name, val in NVME_IOCTLS.items():
            if val == req:
                if name in ROOT_SKIP and self.mode == "root":
                    return None
                return req, name
        return req, "other"

    def opcode(self, admin):
        op = self.rnd.randrange(256)
        if self.mode == "root" and admin:
            while op in ADMIN_DENY or op >= 0xc0:
                op = self.rnd.randrange(256)
        return op

    def passthru_struct(self, dev, name):
        admin = name.startswith("ADMIN") or dev is self.ctrl
        is64 = "64" in name
        op = self.opcode(admin)
        cdw = [self.dword() for _ in range(6)]
        addr = self.pointer() if self.rnd.random() < 0.85 else 0
        data_len = self.length()
        if name == "IO64_CMD_VEC":
            data_len = self.rnd.choice([0, 1, 2, 3, 16, 1024, 1025,
                                        self.rnd.getrandbits(32)])
            addr = self.mem.addr + self.rnd.randrange(0, 64) * 16
            self.random_iovecs(max(0, min(data_len, 64)))
        if self.mode == "root" and admin:
            data_len = min(data_len, PAGE)
        if not self.zero_io and not admin and (not addr or not data_len):
            # No buffer: keep the transfer within one page.
            cdw[2] &= 0x7
        nsid = 1 if self.rnd.random() < 0.8 else self.rnd.choice(
            [0, 2, 0xffffffff, self.rnd.getrandbits(32)])
        flags = 0 if self.rnd.random() < 0.9 else self.rnd.randrange(1, 256)
        meta, meta_len = 0, 0
        if self.rnd.random() < 0.1:
            meta, meta_len = self.pointer(), self.length()
        timeout = self.rnd.choice([0, 0, 0, 5000, 30000])
        return pack_passthru(is64=is64, opcode=op, flags=flags, nsid=nsid,
                             cdw2=self.dword(), cdw3=self.dword(),
                             metadata=meta, addr=addr, metadata_len=meta_len,
                             data_len=data_len, cdw=tuple(cdw),
                             timeout_ms=timeout)

    def random_iovecs(self, n):
        vec = b""
        for _ in range(n):
            vec += struct.pack("<QQ", self.pointer(), self.length())
        # The iovec array sits at the start of the data area.
        self.mem.write(0, vec)

    def user_io_struct(self):
        op = self.rnd.choice([0x01, 0x02, 0x05, self.rnd.randrange(256)])
        nblocks = self.rnd.choice([0, 1, 7, 255, 1023, 2047, 4095,
                                   self.rnd.getrandbits(16)])
        slba = self.rnd.choice([0, 1000000, 2097151, 2097152,
                                self.rnd.getrandbits(64)])
        control = 0 if self.rnd.random() < 0.8 else self.rnd.getrandbits(16)
        flags = 0 if self.rnd.random() < 0.9 else self.rnd.randrange(1, 256)
        meta = 0 if self.rnd.random() < 0.8 else self.pointer()
        return pack_user_io(op, nblocks, slba, addr=self.pointer(),
                            metadata=meta, flags=flags, control=control)

    def one(self):
        dev = self.rnd.choice([self.ctrl] + self.nodes)
        picked = self.request()
        if picked is None:
            self.stats["skipped"] += 1
            return
        req, name = picked
        if name == "SUBMIT_IO":
            raw = self.user_io_struct()
        elif "CMD" in name:
            raw = self.passthru_struct(dev, name)
        else:
            raw = bytes(self.rnd.getrandbits(8) for _ in range(80))
        # The structure itself: mostly valid, sometimes at a bad address.
        r = self.rnd.random()
        if r < 0.85:
            dev.cmd.write(0, raw)
            arg = dev.cmd.addr
        elif r < 0.9:
            # Across the guard page: the copy must fail cleanly.
            arg = self.mem.addr + DATA - 8
            self.mem.write(DATA - 8, raw[:8])
        else:
            arg = self.rnd.choice([0, 1, 0xffffffff81000000,
                                   self.mem.addr + DATA + 2 * PAGE,
                                   0x8000000000000000])
        ret = ioctl(dev.fd, req, arg)
        self.stats["%s %s" % (name, outcome(ret))] += 1

    def run(self, count):
        for _ in range(count):
            self.one()
        total = sum(self.stats.values())
        print("%d ioctls (mode %s):" % (total, self.mode))
        for key, n in sorted(self.stats.items()):
            print("  %-28s %6d" % (key, n))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--mode", choices=("ro", "rw", "root"), default="ro")
    p.add_argument("--zero-buffer-io", action="store_true")
    p.add_argument("ctrl")
    p.add_argument("nodes", nargs="+")
    args = p.parse_args()
    if (os.geteuid() == 0) != (args.mode == "root"):
        p.error("--mode %s does not match euid %d" % (args.mode, os.geteuid()))
    Fuzzer(args).run(args.count)


if __name__ == "__main__":
    main()
