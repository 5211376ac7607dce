#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Crash consistency from a QEMU blklogwrites log (the crash suite).

    logreplay.py RUN_DIR OUT_DIR

RUN_DIR holds the boot's drive d0.img (final state) and its log d0.log
(profile logw).  The log is in dm-log-writes' format: a superblock in
sector 0 (magic, version, nr_entries, sectorsize; QEMU writes it at each
flush only), then one entry a sector (sector, nr_sectors, flags, data_len)
followed by its data.  Flags: 1 flush, 2 FUA, 4 discard, 8 mark.  QEMU's
blklogwrites appends an entry when the drive's write or flush completes;
a Write Zeroes is logged as a write followed by zeroes; it never sets
the FUA or mark flag.

The log is replayed onto a zeroed copy of the initial image (the profile
starts from zeroes).  The guest's marks (tests/suites/crash.sh) are 4 KiB
writes at MARK_AT: "CNVMEMARK seq mkfs ext4 BYTES", "CNVMEMARK seq fsync
PATH SIZE SHA256", "CNVMEMARK seq end".  Checks, one KTAP point each
(numbered by scripts/lab.sh after the guest's points):

  replay_equals_final_image   the whole log replayed equals d0.img
  flush_after_every_mark      a flush entry follows each mark before the
                              next mark (the guest fsyncs the disk after
                              each; the last mark, "tail", is not fsync'd,
                              so QEMU's own flush of its drives when the
                              guest powers off never counts)
  ext4_clean_at_every_flush   at every flush after the mkfs mark: e2fsck
                              -E journal_only -y, then e2fsck -fn exits 0
  fsynced_files_when_fsync_returned
                              each fsync'd file has its size and sha256 in
                              the state the device held when the mark was
                              written (the log before the mark entry)
  fsynced_files_at_every_later_flush
                              and at every flush after its mark
"""

import hashlib
import os
import shutil
import struct
import subprocess
import sys
import tempfile

MAGIC = 0x6A736677736872
F_FLUSH, F_FUA, F_DISCARD, F_MARK = 1, 2, 4, 8
MARK_AT = 768 << 20
MARK_SIZE = 4096
SECTOR = 512  # the profile's log-sector-size


def parse(log):
    """Return (superblock nr_entries or None, [(sector, nr, flags, data_off)])."""
    entries = []
    with open(log, "rb") as f:
        magic, version, nr, secsize = struct.unpack("<QQQI", f.read(28))
        sup_nr = None
        if magic == MAGIC:
            if version != 1 or secsize != SECTOR:
                raise SystemExit(f"log version {version}, sector size {secsize}: unsupported")
            sup_nr = nr
        elif magic != 0:
            raise SystemExit(f"bad log magic {magic:#x}")
        size = os.fstat(f.fileno()).st_size
        off = SECTOR
        while off + 32 <= size:
            f.seek(off)
            sector, nr_sectors, flags, _ = struct.unpack("<QQQQ", f.read(32))
            if sector == 0 and nr_sectors == 0 and flags == 0:
                break  # the sparse, never written end of the log
            if flags & ~0xF:
                raise SystemExit(f"entry {len(entries)} at log byte {off}: bad flags {flags:#x}")
            entries.append((sector, nr_sectors, flags, off + SECTOR))
            off += SECTOR
            if not flags & F_DISCARD:
                off += nr_sectors * SECTOR
    return sup_nr, entries


def marks_of(log, entries):
    """{entry index: mark text} for the writes into the mark area."""
    out = {}
    with open(log, "rb") as f:
        for i, (sector, nr, flags, data) in enumerate(entries):
            start, end = sector * SECTOR, (sector + nr) * SECTOR
            if flags & (F_FLUSH | F_DISCARD) or end <= MARK_AT:
                continue
            f.seek(data)
            buf = f.read(end - start)
            for at in range(0, len(buf), MARK_SIZE):
                blk = buf[at:at + MARK_SIZE]
                if blk.startswith(b"CNVMEMARK "):
                    out[i] = blk.split(b"\n", 1)[0].decode()
    return out


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return p.returncode, p.stdout


class Checker:
    def __init__(self, tmp, image_bytes):
        self.tmp = tmp
        self.work = os.path.join(tmp, "work.img")
        self.scratch = os.path.join(tmp, "scratch.img")
        with open(self.work, "wb") as f:
            f.truncate(image_bytes)

    def apply(self, logf, wf, entry):
        sector, nr, flags, data = entry
        if flags & (F_FLUSH | F_DISCARD):
            return  # the drive ignores discards (QEMU's default discard=ignore)
        logf.seek(data)
        wf.seek(sector * SECTOR)
        left = nr * SECTOR
        while left:
            buf = logf.read(min(left, 1 << 20))
            if not buf:
                raise SystemExit("log ends inside an entry's data")
            wf.write(buf)
            left -= len(buf)

    def snapshot(self, wf):
        """The current state with ext4's journal replayed, in scratch."""
        wf.flush()
        run(["cp", "--sparse=always", self.work, self.scratch])
        rc, out = run(["e2fsck", "-E", "journal_only", "-y", self.scratch])
        return rc, out

    def fsck(self):
        return run(["e2fsck", "-fn", self.scratch])

    def file_ok(self, path, size, sha):
        dest = os.path.join(self.tmp, "file")
        if os.path.exists(dest):
            os.unlink(dest)
        run(["debugfs", "-c", "-R", f"dump {path} {dest}", self.scratch])
        if not os.path.exists(dest):
            return f"{path} missing"
        with open(dest, "rb") as f:
            data = f.read()
        if len(data) != size:
            return f"{path} has {len(data)} bytes, {size} were fsync'd"
        if hashlib.sha256(data).hexdigest() != sha:
            return f"{path} content differs from what was fsync'd"
        return None


def main():
    run_dir, out_dir = sys.argv[1], sys.argv[2]
    log = os.path.join(run_dir, "d0.log")
    final = os.path.join(run_dir, "d0.img")
    points = []  # (ok, name, reason)
    diag = []

    sup_nr, entries = parse(log)
    flushes = [i for i, e in enumerate(entries) if e[2] & F_FLUSH]
    marks = marks_of(log, entries)
    diag.append(f"log: {len(entries)} entries ({len(flushes)} flushes, "
                f"{sum(1 for e in entries if e[2] & F_DISCARD)} discards, "
                f"{sum(1 for e in entries if e[2] & F_FUA)} FUA), superblock "
                f"{'absent: no flush ever completed' if sup_nr is None else f'{sup_nr} entries'}")
    for i, text in sorted(marks.items()):
        diag.append(f"  entry {i}: {text}")

    mkfs_at = None
    fsynced = []  # (entry index, path, size, sha)
    for i, text in sorted(marks.items()):
        w = text.split()
        if w[2] == "mkfs" and mkfs_at is None:
            mkfs_at = i
        elif w[2] == "fsync":
            fsynced.append((i, w[3], int(w[4]), w[5]))

    # Each mark but the last needs a flush before the next mark.
    order = sorted(marks)
    nxt = {m: (order[k + 1] if k + 1 < len(order) else None) for k, m in enumerate(order)}
    own_flush = {m: next((f for f in flushes if f > m and (nxt[m] is None or f < nxt[m])), None)
                 for m in order}
    no_flush = [m for m in order[:-1] if own_flush[m] is None]
    for m in no_flush:
        later = next((f for f in flushes if f > m), None)
        diag.append(f"no flush between mark entry {m} and the next mark"
                    f" (first flush after it: {'none' if later is None else f'entry {later}'}): {marks[m]}")
    tail = len(order) >= 2 and marks[order[-1]].endswith(" tail")
    points.append((tail and not no_flush, "flush_after_every_mark",
                   f"{len(no_flush)} of {max(len(order) - 1, 0)} marks have no flush before the next mark"
                   + ("" if tail else "; the marks do not end with a tail mark")))

    tmp = tempfile.mkdtemp(prefix="logreplay.", dir=run_dir)
    try:
        ck = Checker(tmp, os.path.getsize(final))
        fsck_bad, when_bad, later_bad = [], [], []
        n_fsck = n_when = n_later = 0
        with open(log, "rb") as logf, open(ck.work, "r+b") as wf:
            for i, e in enumerate(entries):
                check_when = [x for x in fsynced if x[0] == i]
                check_flush = e[2] & F_FLUSH and mkfs_at is not None and i > mkfs_at
                if check_when or check_flush:
                    rc, out = ck.snapshot(wf)
                    if rc not in (0, 1):
                        fsck_bad.append(f"entry {i}: journal replay failed ({rc}): {out.strip()[-200:]}")
                for _, path, size, sha in check_when:
                    n_when += 1
                    why = ck.file_ok(path, size, sha)
                    if why:
                        when_bad.append(f"before mark entry {i}: {why}")
                if check_flush:
                    n_fsck += 1
                    rc, out = ck.fsck()
                    if rc != 0:
                        fsck_bad.append(f"flush entry {i}: e2fsck -fn exit {rc}: "
                                        + " | ".join(out.strip().splitlines()[-4:]))
                    for at, path, size, sha in fsynced:
                        if at < i:
                            n_later += 1
                            why = ck.file_ok(path, size, sha)
                            if why:
                                later_bad.append(f"flush entry {i}: {why}")
                ck.apply(logf, wf, e)
        same = run(["cmp", "-s", ck.work, final])[0] == 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    points.insert(0, (same, "replay_equals_final_image",
                      "the replayed log differs from the drive's final image"))
    diag.append(f"e2fsck at {n_fsck} flush points after the mkfs mark (entry {mkfs_at})")
    diag += fsck_bad[:20]
    if mkfs_at is None:
        points.append((False, "ext4_clean_at_every_flush", "no mkfs mark in the log"))
    else:
        points.append((not fsck_bad and n_fsck > 0, "ext4_clean_at_every_flush",
                       f"{len(fsck_bad)} of {n_fsck} flush points inconsistent" if n_fsck
                       else "no flush reached the device after the mkfs mark"))
    diag.append(f"{len(fsynced)} fsync'd files: {n_when} checks when fsync returned, "
                f"{n_later} at later flushes")
    diag += when_bad[:20] + later_bad[:20]
    points.append((bool(fsynced) and not when_bad, "fsynced_files_when_fsync_returned",
                   f"{len(when_bad)} of {len(fsynced)} fsync'd files not on the device when fsync returned"
                   if fsynced else "no fsync mark in the log"))
    unchecked = [x for x in fsynced if own_flush.get(x[0]) is None]
    points.append((bool(fsynced) and not later_bad and not unchecked,
                   "fsynced_files_at_every_later_flush",
                   f"{len(later_bad)} bad of {n_later} checks; {len(unchecked)} fsync'd files "
                   "with no flush before the next step"))

    for d in diag:
        print(f"# {d}")
    for ok, name, why in points:
        print(f"ok {name}" if ok else f"not ok {name} # {why}")
    with open(os.path.join(out_dir, "logreplay.txt"), "w") as f:
        f.write("\n".join(diag) + "\n")
    return 0 if all(p[0] for p in points) else 1


if __name__ == "__main__":
    sys.exit(main())
