#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""User-interface defects of issue 13 (11, 12, 13, 14, 15), one check each.

    nvme_ui.py xfer CTRL NG            (unprivileged, nodes opened r/w)
    nvme_ui.py short-timeout CTRL NG SECONDS   (unprivileged)
    nvme_ui.py hidden-timeout NG       (unprivileged; chaos suite)
    nvme_ui.py partition PART          (unprivileged)
    nvme_ui.py uring-result CTRL       (root)
    nvme_ui.py reset-loop CTRL STOP COUNT SECONDS  (root)

Each prints what it did and exits 1 on the first wrong answer.  Writes go
to LBA 1,500,000 and up.
"""

import errno
import os
import struct
import sys
import time

from nvmeio import (Device, Mem, NVME_IOCTL_IO64_CMD, NVME_IOCTL_RESET,
                    NVME_URING_CMD_ADMIN, NVME_URING_CMD_IO, PAGE, Ring,
                    ioctl, outcome)

SLBA = 1500000
PATTERN = 0xa5


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def expect(what, got, want):
    print("%-58s %s" % (what, got))
    if got != want:
        fail("%s: got %s, want %s" % (what, got, want))


def untouched(dev, start, end, what):
    """The bytes [start, end) of the data area still hold the pattern."""
    data = dev.data.read(start, end - start)
    bad = [i for i, b in enumerate(data) if b != PATTERN]
    if bad:
        fail("%s: the controller wrote %d byte(s) past the buffer, first at "
             "offset %d" % (what, len(bad), start + bad[0]))
    print("%-58s untouched" % ("%s: bytes %d-%d" % (what, start, end - 1)))


def xfer(ctrl, ng):
    """Defect 11: without CAP_SYS_ADMIN, a command may not move more than
    its buffer holds.  Run with passthru_sgl=0, so the I/O queues use PRPs
    like the admin queue always does."""
    c = Device(ctrl, os.O_RDONLY)
    n = Device(ng, os.O_RDWR)
    for dev in (c, n):
        dev.data.write(0, bytes([PATTERN]) * (4 * PAGE))

    # Identify moves 4 KiB whatever data_len says.
    ret = c.admin(0x06, 512, cdw=(1, 0, 0, 0, 0, 0))
    untouched(c, 512, PAGE, "Identify")
    expect("Identify, 4096 bytes into a 512-byte buffer", outcome(ret),
           "EINVAL")
    ret = c.admin(0x06, 0, addr=0, cdw=(1, 0, 0, 0, 0, 0))
    expect("Identify without a buffer (PRP 0)", outcome(ret), "EINVAL")
    ret = c.admin(0x06, 4096, addr=0, cdw=(1, 0, 0, 0, 0, 0))
    expect("Identify, addr 0 with data_len 4096", outcome(ret), "EINVAL")
    ret = c.admin(0x06, 4096, cdw=(1, 0, 0, 0, 0, 0))
    expect("Identify, 4096-byte buffer", outcome(ret), "ok")

    # Read: (NLB + 1) blocks of 512 bytes.
    n.data.write(0, bytes([PATTERN]) * (4 * PAGE))
    ret = n.io(0x02, 1, 512, cdw=(SLBA, 0, 7, 0, 0, 0))
    untouched(n, 512, 2 * PAGE, "Read")
    expect("Read of 8 blocks into a 512-byte buffer", outcome(ret),
           "EINVAL")
    ret = n.passthru(NVME_IOCTL_IO64_CMD, is64=True, opcode=0x02, nsid=1,
                     addr=n.data.addr, data_len=4096,
                     cdw=(SLBA, 0, 15, 0, 0, 0))[0]
    untouched(n, 4096, 3 * PAGE, "IO64 Read")
    expect("IO64 Read of 16 blocks into a 4096-byte buffer", outcome(ret),
           "EINVAL")
    ret = n.submit_io(0x02, 0, SLBA, addr=0)
    expect("SUBMIT_IO Read without a buffer (PRP 0)", outcome(ret),
           "EINVAL")
    ret = n.io(0x02, 1, 0, addr=0, cdw=(SLBA, 0, 0, 0, 0, 0))
    expect("IO_CMD Read without a buffer (PRP 0)", outcome(ret), "EINVAL")
    # Data Set Management: (NR + 1) ranges of 16 bytes.
    ret = n.io(0x09, 1, 16, cdw=(3, 4, 0, 0, 0, 0))
    expect("DSM of 4 ranges from a 16-byte buffer", outcome(ret), "EINVAL")
    # Copy (19h) is supported by QEMU, but cnvme does not know its
    # descriptor formats: refused rather than guessed.
    ret = n.io(0x19, 1, 4096, cdw=(SLBA, 0, 0, 0, 0, 0))
    expect("Copy (data length unknown to the driver)", outcome(ret),
           "EINVAL")

    # What fits goes through the PRP path and moves the right data.
    payload = os.urandom(4096)
    n.data.write(0, payload)
    ret = n.io(0x01, 1, 4096, cdw=(SLBA, 0, 7, 0, 0, 0))
    expect("Write of 8 blocks from a 4096-byte buffer", outcome(ret), "ok")
    n.data.write(0, bytes([PATTERN]) * (2 * PAGE))
    ret = n.io(0x02, 1, 4096, addr=n.data.addr, cdw=(SLBA, 0, 7, 0, 0, 0))
    expect("Read of 8 blocks into a 4096-byte buffer", outcome(ret), "ok")
    expect("data read back", n.data.read(0, 4096) == payload, True)
    untouched(n, 4096, 2 * PAGE, "Read that fits")
    ret = n.io(0x02, 1, 8192, cdw=(SLBA, 0, 7, 0, 0, 0))
    expect("Read of 8 blocks into an 8192-byte buffer", outcome(ret), "ok")
    # Context attributes 0, 8 blocks, starting at SLBA + 64.
    n.data.write(0, struct.pack("<IIQ", 0, 8, SLBA + 64))
    ret = n.io(0x09, 1, 16, cdw=(0, 4, 0, 0, 0, 0))
    expect("DSM of 1 range from a 16-byte buffer", outcome(ret), "ok")
    ret = n.io(0x00, 1)
    expect("Flush (no data)", outcome(ret), "ok")
    c.close()
    n.close()


def short_timeout(ctrl, ng, seconds):
    """Defect 12: without CAP_SYS_ADMIN, timeout_ms=1 is raised to the
    driver's timeout.  64 reads of 512 KiB (MDTS), which queue up in the
    emulated controller for several milliseconds each, and 2 Identify
    commands stay in flight for SECONDS, each with timeout_ms=1 (one
    jiffy): blk-mq's timer (about once a second) finds some of them past
    their deadline unless the driver raised it."""
    nio = 64
    size = 512 << 10
    cfd = os.open(ctrl, os.O_RDONLY)
    nfd = os.open(ng, os.O_RDONLY)
    buf = Mem((nio + 2) * size)
    ring = Ring(128)
    inflight = {}
    done = 0
    bad = []

    def queue(tag):
        addr = buf.addr + tag * size
        if tag < nio:
            ring.queue(nfd, NVME_URING_CMD_IO, tag, 0x02, nsid=1, addr=addr,
                       data_len=size,
                       cdw=(SLBA + tag * 1024, 0, 1023, 0, 0, 0),
                       timeout_ms=1)
        else:
            ring.queue(cfd, NVME_URING_CMD_ADMIN, tag, 0x06, addr=addr,
                       data_len=4096, cdw=(1, 0, 0, 0, 0, 0), timeout_ms=1)
        inflight[tag] = True

    for tag in range(nio + 2):
        queue(tag)
    ring.submit()
    end = time.monotonic() + seconds
    while inflight:
        if not ring.wait(60):
            fail("%d command(s) did not complete within 60 s" % len(inflight))
        for tag, res, _ in ring.reap():
            del inflight[tag]
            done += 1
            if res != 0:
                bad.append((tag, res))
            if time.monotonic() < end:
                queue(tag)
        ring.submit()
    print("%d commands with timeout_ms=1 in %d s" % (done, seconds))
    if bad:
        fail("%d command(s) failed, first: tag %d res %d (%s)" %
             (len(bad), bad[0][0], bad[0][1], outcome(bad[0][1])))
    ring.close()


def hidden_timeout(ng):
    """Defect 12 with the chaos suite's fault injection: one Read through
    io_uring with timeout_ms=1 whose completion the driver drops, so that
    only its timeout can end it.  Prints how long it took and how it
    ended; the suite compares the kernel log's timestamps of its own mark
    and of the timeout's first line."""
    nfd = os.open(ng, os.O_RDONLY)
    buf = Mem(4096)
    ring = Ring(4)
    ring.queue(nfd, NVME_URING_CMD_IO, 1, 0x02, nsid=1, addr=buf.addr,
               data_len=4096, cdw=(SLBA, 0, 7, 0, 0, 0), timeout_ms=1)
    print("submitted at %.3f" % time.clock_gettime(time.CLOCK_MONOTONIC))
    ring.submit()
    if not ring.wait(120):
        fail("the Read did not end within 120 s")
    for _, res, _ in ring.reap():
        print("ended at %.3f: %s" % (time.clock_gettime(time.CLOCK_MONOTONIC),
                                     outcome(res)))
    ring.close()
    os.close(nfd)


def partition(part):
    """Defect 13: no passthrough ioctl on a partition without
    CAP_SYS_ADMIN: NVME_IOCTL_IO_CMD as IO64 and SUBMIT_IO."""
    d = Device(part, os.O_RDONLY)
    # LBA 0 is outside the partition.
    ret = d.io(0x02, 1, 512, cdw=(0, 0, 0, 0, 0, 0))
    expect("IO_CMD Read of LBA 0 on the partition", outcome(ret), "EACCES")
    ret = d.passthru(NVME_IOCTL_IO64_CMD, is64=True, opcode=0x02, nsid=1,
                     addr=d.data.addr, data_len=512,
                     cdw=(0, 0, 0, 0, 0, 0))[0]
    expect("IO64_CMD Read of LBA 0 on the partition", outcome(ret),
           "EACCES")
    ret = d.submit_io(0x02, 0, 0)
    expect("SUBMIT_IO Read of LBA 0 on the partition", outcome(ret),
           "EACCES")
    d.close()


def uring_result(ctrl):
    """Defect 15: the io_uring big CQE carries the command's own result.
    Get Features (Number of Queues) leaves a non-zero result on the admin
    requests it used; an Asynchronous Event Request then cancelled by a
    controller reset never gets a completion entry from the device, so
    its result must be zero, not the Get Features value."""
    os.sched_setaffinity(0, {0})
    fd = os.open(ctrl, os.O_RDONLY)
    ring = Ring(32)
    # Several at once use several requests; the AER gets one of them.
    for tag in range(8):
        ring.queue(fd, NVME_URING_CMD_ADMIN, tag, 0x0a,
                   cdw=(7, 0, 0, 0, 0, 0))
    ring.submit()
    got = []
    while len(got) < 8:
        if not ring.wait(30):
            fail("Get Features did not complete")
        got += ring.reap()
    for tag, res, result in got:
        if res != 0 or result == 0:
            fail("Get Features %d: res %d result %#x, want 0 and non-zero"
                 % (tag, res, result))
    print("Get Features Number of Queues x8: result %#x" % got[0][2])
    for rounds in range(1, 4):
        ring.queue(fd, NVME_URING_CMD_ADMIN, 100 + rounds, 0x0c)
        ring.submit()
        ret = ioctl(fd, NVME_IOCTL_RESET, 0)
        expect("NVME_IOCTL_RESET with an AER outstanding", outcome(ret), "ok")
        if not ring.wait(30):
            fail("the AER did not end within 30 s of the reset")
        (tag, res, result), = ring.reap()
        print("AER %d: res %d (%s), result %#x" %
              (tag, res, outcome(res), result))
        if res != -errno.EINTR:
            fail("the AER ended with %s, not EINTR" % outcome(res))
        if result != 0:
            fail("the cancelled AER carries result %#x: another command's"
                 % result)
        # The next round's AER should take a request Get Features used.
        ring.queue(fd, NVME_URING_CMD_ADMIN, 200 + rounds, 0x0a,
                   cdw=(7, 0, 0, 0, 0, 0))
        ring.submit()
        if not ring.wait(30):
            fail("Get Features did not complete")
        ring.reap()
    ring.close()


def reset_loop(ctrl, stop, count, seconds):
    """Defect 14: NVME_IOCTL_RESET in a loop until STOP exists; the number
    of resets done goes to COUNT.  Ends on its own after SECONDS."""
    fd = os.open(ctrl, os.O_RDONLY)
    answers = {}
    n = 0
    end = time.monotonic() + seconds
    while not os.path.exists(stop) and time.monotonic() < end:
        ret = ioctl(fd, NVME_IOCTL_RESET, 0)
        answers[outcome(ret)] = answers.get(outcome(ret), 0) + 1
        n += 1
        with open(count + ".tmp", "w") as f:
            f.write("%d\n" % answers.get("ok", 0))
        os.rename(count + ".tmp", count)
    os.close(fd)
    print("%d NVME_IOCTL_RESET: %s" % (n, ", ".join(
        "%s %d" % kv for kv in sorted(answers.items()))))


def main():
    cmds = {"xfer": (xfer, 2), "short-timeout": (short_timeout, 3),
            "hidden-timeout": (hidden_timeout, 1),
            "partition": (partition, 1), "uring-result": (uring_result, 1),
            "reset-loop": (reset_loop, 4)}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds or \
            len(sys.argv) != 2 + cmds[sys.argv[1]][1]:
        sys.exit(__doc__)
    fn, _ = cmds[sys.argv[1]]
    args = sys.argv[2:]
    if fn is short_timeout:
        args[2] = int(args[2])
    if fn is reset_loop:
        args[3] = int(args[3])
    fn(*args)


if __name__ == "__main__":
    main()
