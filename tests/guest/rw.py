# SPDX-License-Identifier: GPL-2.0
"""One O_DIRECT read or write, reporting the errno the block layer returned.

    python3 rw.py read  DEV OFFSET LEN [BYTE]   read; with BYTE, check that
                                                every byte read equals it
    python3 rw.py write DEV OFFSET LEN BYTE     write LEN bytes of BYTE

Prints "ok" or "errno N NAME" and exits 0 for ok, 1 for an errno and 2
for data that differs.  The buffer comes from mmap, so it is page aligned
as O_DIRECT wants.  Used by the chaos suite to see exactly the error a
status the controller returned turns into.
"""

import errno
import mmap
import os
import sys


def main():
    op, dev, off, length = sys.argv[1], sys.argv[2], int(sys.argv[3], 0), int(sys.argv[4], 0)
    byte = int(sys.argv[5], 0) if len(sys.argv) > 5 else None
    buf = mmap.mmap(-1, length)
    flags = os.O_DIRECT | (os.O_RDONLY if op == "read" else os.O_WRONLY)
    fd = os.open(dev, flags)
    try:
        if op == "write":
            buf.write(bytes([byte]) * length)
            n = os.pwritev(fd, [buf], off)
        else:
            n = os.preadv(fd, [buf], off)
    except OSError as e:
        print(f"errno {e.errno} {errno.errorcode.get(e.errno, '?')}")
        return 1
    finally:
        os.close(fd)
    if n != length:
        print(f"short transfer: {n} of {length} bytes")
        return 1
    if op == "read" and byte is not None:
        data = bytes(buf[:length])
        bad = [i for i in range(length) if data[i] != byte]
        if bad:
            print(f"data differs at {len(bad)} byte(s), first at offset {bad[0]}:"
                  f" {data[bad[0]]:#x}, expected {byte:#x}")
            return 2
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
