# SPDX-License-Identifier: GPL-2.0
"""NVMe ioctls from Python, for the lab's guest-side checks.

The structures and numbers of <uapi/linux/nvme_ioctl.h>, raw memory
from mmap(2) (so that a test can hand the kernel any address it likes:
valid, misaligned, unmapped, read-only, kernel, non-canonical) and an
ioctl(2) wrapper that takes a plain address as its argument.  Only the
standard library: the guest image has python3 and nothing else.
"""

import ctypes
import errno
import os
import struct

_libc = ctypes.CDLL(None, use_errno=True)
_libc.ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]
_libc.ioctl.restype = ctypes.c_int
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                       ctypes.c_int, ctypes.c_int, ctypes.c_long]
_libc.mmap.restype = ctypes.c_void_p
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]

PAGE = os.sysconf("SC_PAGE_SIZE")
PROT_NONE, PROT_READ, PROT_WRITE = 0, 1, 2
MAP_PRIVATE, MAP_ANONYMOUS = 0x02, 0x20

_IOC_WRITE, _IOC_READ = 1, 2


def _ioc(direction, typ, nr, size):
    return (direction << 30) | (size << 16) | (ord(typ) << 8) | nr


# struct nvme_passthru_cmd (72 bytes), nvme_passthru_cmd64 (80), and
# nvme_user_io (44 bytes of fields, padded to 48).
PASSTHRU = struct.Struct("<BBHIIIQQII6III")
PASSTHRU64 = struct.Struct("<BBHIIIQQII6IIIQ")
USER_IO = struct.Struct("<BBHHHQQQIIHH4x")
assert (PASSTHRU.size, PASSTHRU64.size, USER_IO.size) == (72, 80, 48)

NVME_IOCTL_ID = _ioc(0, "N", 0x40, 0)
NVME_IOCTL_ADMIN_CMD = _ioc(_IOC_READ | _IOC_WRITE, "N", 0x41, 72)
NVME_IOCTL_SUBMIT_IO = _ioc(_IOC_WRITE, "N", 0x42, 48)
NVME_IOCTL_IO_CMD = _ioc(_IOC_READ | _IOC_WRITE, "N", 0x43, 72)
NVME_IOCTL_RESET = _ioc(0, "N", 0x44, 0)
NVME_IOCTL_SUBSYS_RESET = _ioc(0, "N", 0x45, 0)
NVME_IOCTL_RESCAN = _ioc(0, "N", 0x46, 0)
NVME_IOCTL_ADMIN64_CMD = _ioc(_IOC_READ | _IOC_WRITE, "N", 0x47, 80)
NVME_IOCTL_IO64_CMD = _ioc(_IOC_READ | _IOC_WRITE, "N", 0x48, 80)
NVME_IOCTL_IO64_CMD_VEC = _ioc(_IOC_READ | _IOC_WRITE, "N", 0x49, 80)
IOC_OPAL_GET_STATUS = _ioc(_IOC_READ, "p", 236, 8)

NVME_IOCTLS = {
    "ID": NVME_IOCTL_ID, "ADMIN_CMD": NVME_IOCTL_ADMIN_CMD,
    "SUBMIT_IO": NVME_IOCTL_SUBMIT_IO, "IO_CMD": NVME_IOCTL_IO_CMD,
    "RESET": NVME_IOCTL_RESET, "SUBSYS_RESET": NVME_IOCTL_SUBSYS_RESET,
    "RESCAN": NVME_IOCTL_RESCAN, "ADMIN64_CMD": NVME_IOCTL_ADMIN64_CMD,
    "IO64_CMD": NVME_IOCTL_IO64_CMD, "IO64_CMD_VEC": NVME_IOCTL_IO64_CMD_VEC,
}


class Mem:
    """An anonymous private mapping whose address can be handed out."""

    def __init__(self, size, prot=PROT_READ | PROT_WRITE):
        self.size = (size + PAGE - 1) // PAGE * PAGE
        addr = _libc.mmap(None, self.size, prot, MAP_PRIVATE | MAP_ANONYMOUS,
                          -1, 0)
        if addr in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), "mmap failed")
        self.addr = addr

    def protect(self, offset, length, prot):
        if _libc.mprotect(self.addr + offset, length, prot):
            raise OSError(ctypes.get_errno(), "mprotect failed")

    def unmap(self, offset, length):
        _libc.munmap(self.addr + offset, length)

    def write(self, offset, data):
        ctypes.memmove(self.addr + offset, data, len(data))

    def read(self, offset, length):
        return ctypes.string_at(self.addr + offset, length)


def ioctl(fd, request, arg):
    """ioctl(2) with an address (or small integer) argument.

    Returns the non-negative result, or -errno.
    """
    ret = _libc.ioctl(fd, request & 0xffffffff, arg)
    if ret < 0:
        return -ctypes.get_errno()
    return ret


def pack_passthru(is64=False, opcode=0, flags=0, nsid=0, cdw2=0, cdw3=0,
                  metadata=0, addr=0, metadata_len=0, data_len=0,
                  cdw=(0, 0, 0, 0, 0, 0), timeout_ms=0):
    if is64:
        return PASSTHRU64.pack(opcode, flags, 0, nsid, cdw2, cdw3, metadata,
                               addr, metadata_len, data_len, *cdw,
                               timeout_ms, 0, 0)
    return PASSTHRU.pack(opcode, flags, 0, nsid, cdw2, cdw3, metadata, addr,
                         metadata_len, data_len, *cdw, timeout_ms, 0)


def pack_user_io(opcode, nblocks=0, slba=0, addr=0, metadata=0, flags=0,
                 control=0):
    return USER_IO.pack(opcode, flags, control, nblocks, 0, metadata, addr,
                        slba, 0, 0, 0, 0)


class Device:
    """An open NVMe node with a scratch area for commands and data."""

    def __init__(self, path, mode=os.O_RDONLY, data_size=1 << 20):
        self.path = path
        self.fd = os.open(path, mode)
        self.cmd = Mem(PAGE)
        self.data = Mem(data_size)

    def close(self):
        os.close(self.fd)

    def passthru(self, request, is64=False, **fields):
        """Run a passthrough ioctl; returns (ret, result)."""
        raw = pack_passthru(is64=is64, **fields)
        self.cmd.write(0, raw)
        ret = ioctl(self.fd, request, self.cmd.addr)
        out = self.cmd.read(0, len(raw))
        result = (PASSTHRU64 if is64 else PASSTHRU).unpack(out)[-1]
        return ret, result

    def admin(self, opcode, data_len=0, **fields):
        fields.setdefault("addr", self.data.addr if data_len else 0)
        return self.passthru(NVME_IOCTL_ADMIN_CMD, opcode=opcode,
                             data_len=data_len, **fields)[0]

    def io(self, opcode, nsid, data_len=0, **fields):
        fields.setdefault("addr", self.data.addr if data_len else 0)
        return self.passthru(NVME_IOCTL_IO_CMD, opcode=opcode, nsid=nsid,
                             data_len=data_len, **fields)[0]

    def submit_io(self, opcode, nblocks=0, slba=0, **fields):
        fields.setdefault("addr", self.data.addr)
        self.cmd.write(0, pack_user_io(opcode, nblocks, slba, **fields))
        return ioctl(self.fd, NVME_IOCTL_SUBMIT_IO, self.cmd.addr)


def outcome(ret):
    """A return value as the permission table writes it."""
    if ret == -errno.EOPNOTSUPP:
        return "EOPNOTSUPP"
    if ret < 0:
        return errno.errorcode.get(-ret, str(ret))
    if ret == 0:
        return "ok"
    return "status"


# io_uring passthrough (NVME_URING_CMD_*), with the raw system calls: the
# guest has no liburing.  struct nvme_uring_cmd is 72 bytes at offset 48
# of a 128-byte SQE; the CQE is 32 bytes, its first extra dword pair the
# command's result.
NVME_URING_CMD = struct.Struct("<BBHIIIQQII6III")
assert NVME_URING_CMD.size == 72
NVME_URING_CMD_IO = _ioc(_IOC_READ | _IOC_WRITE, "N", 0x80, 72)
NVME_URING_CMD_ADMIN = _ioc(_IOC_READ | _IOC_WRITE, "N", 0x82, 72)

_SYS_IO_URING_SETUP, _SYS_IO_URING_ENTER = 425, 426   # x86_64
_IORING_SETUP_SQE128, _IORING_SETUP_CQE32 = 1 << 10, 1 << 11
_IORING_OFF_SQES = 0x10000000
_IORING_OP_URING_CMD = 46
_IORING_ENTER_GETEVENTS = 1
_IORING_FEAT_SINGLE_MMAP = 1
_PARAMS = struct.Struct("<10I" + "8IQ" + "8IQ")
_libc.syscall.restype = ctypes.c_long


class Ring:
    """An io_uring with 128-byte SQEs and 32-byte CQEs."""

    def __init__(self, entries=32):
        import mmap
        params = ctypes.create_string_buffer(_PARAMS.size)
        _PARAMS.pack_into(params, 0, 0, 0,
                          _IORING_SETUP_SQE128 | _IORING_SETUP_CQE32,
                          *([0] * 25))
        fd = _libc.syscall(_SYS_IO_URING_SETUP, ctypes.c_uint(entries),
                           params)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "io_uring_setup failed")
        self.fd = fd
        p = _PARAMS.unpack(params.raw)
        self.sq_entries, self.cq_entries, features = p[0], p[1], p[5]
        if not features & _IORING_FEAT_SINGLE_MMAP:
            raise OSError(errno.ENOTSUP, "io_uring without SINGLE_MMAP")
        sq = dict(zip(("head", "tail", "mask", "entries", "flags",
                       "dropped", "array"), p[10:17]))
        cq = dict(zip(("head", "tail", "mask", "entries", "overflow",
                       "cqes"), p[19:25]))
        size = max(sq["array"] + self.sq_entries * 4,
                   cq["cqes"] + self.cq_entries * 32)
        rw = mmap.PROT_READ | mmap.PROT_WRITE
        self.ring = mmap.mmap(fd, size, mmap.MAP_SHARED, rw, offset=0)
        self.sqes = mmap.mmap(fd, self.sq_entries * 128, mmap.MAP_SHARED, rw,
                              offset=_IORING_OFF_SQES)
        self.sq, self.cq = sq, cq
        self.sq_mask = self._u32(sq["mask"])
        self.cq_mask = self._u32(cq["mask"])
        self.pending = 0

    def _u32(self, off):
        return struct.unpack_from("<I", self.ring, off)[0]

    def _set_u32(self, off, val):
        struct.pack_into("<I", self.ring, off, val & 0xffffffff)

    def queue(self, fd, cmd_op, user_data, opcode, nsid=0, addr=0,
              data_len=0, cdw=(0, 0, 0, 0, 0, 0), timeout_ms=0):
        """Put one NVMe passthrough command on the SQ (not submitted)."""
        tail = self._u32(self.sq["tail"])
        idx = tail & self.sq_mask
        base = idx * 128
        self.sqes[base:base + 128] = bytes(128)
        struct.pack_into("<BBHiI", self.sqes, base, _IORING_OP_URING_CMD, 0,
                         0, fd, cmd_op)
        struct.pack_into("<Q", self.sqes, base + 32, user_data)
        NVME_URING_CMD.pack_into(self.sqes, base + 48, opcode, 0, 0, nsid,
                                 0, 0, 0, addr, 0, data_len, *cdw,
                                 timeout_ms, 0)
        self._set_u32(self.sq["array"] + idx * 4, idx)
        self._set_u32(self.sq["tail"], tail + 1)
        self.pending += 1

    def submit(self):
        n = self.pending
        ret = _libc.syscall(_SYS_IO_URING_ENTER, ctypes.c_uint(self.fd),
                            ctypes.c_uint(n), ctypes.c_uint(0),
                            ctypes.c_uint(0), None, ctypes.c_size_t(0))
        if ret < 0:
            raise OSError(ctypes.get_errno(), "io_uring_enter failed")
        self.pending -= ret
        return ret

    def wait(self, timeout_s):
        """Wait up to timeout_s for a CQE; False if none came."""
        import time
        deadline = time.monotonic() + timeout_s
        while True:
            # Entering the kernel runs the task work that posts CQEs.
            ret = _libc.syscall(_SYS_IO_URING_ENTER, ctypes.c_uint(self.fd),
                                ctypes.c_uint(0), ctypes.c_uint(0),
                                ctypes.c_uint(_IORING_ENTER_GETEVENTS),
                                None, ctypes.c_size_t(0))
            if ret < 0 and ctypes.get_errno() != errno.EINTR:
                raise OSError(ctypes.get_errno(), "io_uring_enter failed")
            if self._u32(self.cq["head"]) != self._u32(self.cq["tail"]):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)

    def reap(self):
        """Completions so far: (user_data, res, result dwords 0-1) each."""
        out = []
        head = self._u32(self.cq["head"])
        while head != self._u32(self.cq["tail"]):
            off = self.cq["cqes"] + (head & self.cq_mask) * 32
            user_data, res, _, big0, _ = struct.unpack_from("<QiIQQ",
                                                            self.ring, off)
            out.append((user_data, res, big0))
            head += 1
            self._set_u32(self.cq["head"], head)
        return out

    def close(self):
        self.sqes.close()
        self.ring.close()
        os.close(self.fd)
